"""Kill -9 and resume: a run killed mid-way (by SIGKILL, between or during ledger writes) and then
resumed gives the table of an uninterrupted run bit for bit, scoring every unit once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from causalgia.cli import main
from causalgia.engine.declaration import as_model
from causalgia.engine.simulator import simulate
from causalgia.engine.store import RunStore
from causalgia.experiment.backgrounds import iid
from causalgia.experiment.designs import design, sweep_positions
from causalgia.testing import AdditiveOracle

MODEL_MODULE = '''
import os, signal, time
import numpy as np
from causalgia.experiment.backgrounds import iid
from causalgia.experiment.designs import Arm, design, sweep_positions
from causalgia.experiment.interventions import Identity
from causalgia.testing import AdditiveOracle


def make_design():
    arms = sweep_positions("GATAAG", [0, 20]) + [Arm("placebo", Identity(), "placebo")]
    return design(iid(40), arms, n=120, rng=5)


class KillModel:
    """The additive oracle; appends "pid rows" per call to $COUNT_FILE after scoring, sleeps
    $SLEEP seconds per call and SIGKILLs its own process at call number $KILL_AT_CALL."""

    layout, alphabet, name = "NCL", "dna", "additive_oracle"

    def __init__(self):
        self.base = AdditiveOracle.from_motif("GATAAG", length=40)
        self.calls = 0

    def __call__(self, x):
        self.calls += 1
        if self.calls == int(os.environ.get("KILL_AT_CALL", "0")):
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(float(os.environ.get("SLEEP", "0")))
        y = self.base(x)
        with open(os.environ["COUNT_FILE"], "a") as fh:
            fh.write(f"{os.getpid()} {len(x)}\\n")
        return y
'''

RUNNER = """
import sys
import pandas as pd
sys.path.insert(0, sys.argv[1])
from killmodel import KillModel, make_design
from causalgia.engine.declaration import as_model
from causalgia.engine.simulator import simulate

res = simulate(as_model(KillModel(), batch_size=int(sys.argv[4])), make_design(),
               store=sys.argv[2], chunk_size=int(sys.argv[3]), progress=False)
pd.to_pickle((res.table, res.n_forward), sys.argv[5])
"""


@pytest.fixture
def kit(tmp_path, monkeypatch):
    (tmp_path / "killmodel.py").write_text(MODEL_MODULE)
    (tmp_path / "runner.py").write_text(RUNNER)
    monkeypatch.syspath_prepend(str(tmp_path))
    import killmodel

    reference = simulate(
        as_model(AdditiveOracle.from_motif("GATAAG", length=40)), killmodel.make_design()
    )
    return tmp_path, reference


def _start(kit_dir: Path, run_dir: Path, chunk: int, batch: int, env: dict[str, str]):
    out = kit_dir / f"table-{time.monotonic_ns()}.pkl"
    cmd = [
        sys.executable,
        str(kit_dir / "runner.py"),
        str(kit_dir),
        str(run_dir),
        str(chunk),
        str(batch),
        str(out),
    ]
    full_env = {**os.environ, "COUNT_FILE": str(kit_dir / "count.txt"), **env}
    return subprocess.Popen(cmd, env=full_env, stderr=subprocess.PIPE, text=True), out


def _counted(kit_dir: Path) -> tuple[int, int]:
    lines = (kit_dir / "count.txt").read_text().split()
    pids, rows = lines[0::2], lines[1::2]
    return len(set(pids)), sum(map(int, rows))


def test_kill_9_between_chunks_then_resume_scores_every_unit_once(kit, tmp_path):
    kit_dir, ref = kit
    run_dir = tmp_path / "run"
    # one call per chunk (batch >= chunk); call 1 is the 16-row fingerprint, calls 2..4 score
    # chunks 0..2, call 5 (chunk 3) SIGKILLs the process before scoring anything
    proc, _ = _start(kit_dir, run_dir, 60, 10_000, {"KILL_AT_CALL": "5"})
    proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL
    with RunStore(run_dir, readonly=True) as store:
        assert sorted(store.completed()) == [0, 1, 2] and store.check() == []
        assert store.get("status") == "running"  # it never got to say anything else
    proc, out = _start(kit_dir, run_dir, 60, 10_000, {})
    assert proc.wait(timeout=120) == 0, proc.stderr.read()
    table, n_forward = pd.read_pickle(out)
    pd.testing.assert_frame_equal(table, ref.table, check_exact=True)
    assert n_forward == ref.n_forward
    processes, rows = _counted(kit_dir)
    assert processes == 2 and rows == ref.n_forward + 2 * 16  # + one fingerprint per process


@pytest.mark.slow  # B11: four process starts per case (about 10 s each)
@pytest.mark.parametrize("sleep", ["0.01", "0"])
def test_kill_9_at_random_moments_leaves_a_consistent_store(kit, tmp_path, sleep):
    """SIGKILL from outside, three times, at moments that land anywhere (with SLEEP=0 the
    process spends most of its time writing the ledger: per-chunk fsync), then finish."""
    kit_dir, ref = kit
    run_dir = tmp_path / "run"
    per_chunk_rows = 3 * 3  # chunk_size 9 -> 3 backgrounds x (control + 2 arms)
    kills = 0
    for target in (5, 15, 25):
        proc, _ = _start(kit_dir, run_dir, 9, 10_000, {"SLEEP": sleep})
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with RunStore(run_dir, readonly=True) as store:
                    if store.totals()["chunks"] >= target:
                        break
            except Exception:  # the ledger may not exist yet
                pass
            time.sleep(0.005)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.communicate(timeout=60)
        with RunStore(run_dir, readonly=True) as store:
            assert store.check() == []
    assert kills >= 2
    proc, out = _start(kit_dir, run_dir, 9, 10_000, {})
    assert proc.wait(timeout=120) == 0, proc.stderr.read()
    table, n_forward = pd.read_pickle(out)
    pd.testing.assert_frame_equal(table, ref.table, check_exact=True)
    assert n_forward == ref.n_forward
    processes, rows = _counted(kit_dir)
    extra = rows - ref.n_forward - 16 * processes
    # committed chunks are never scored again; only a chunk in flight at a kill can be
    assert 0 <= extra <= kills * per_chunk_rows


SPEC = """
[study]
name = "killed"
seed = 3
n = 200
chunk_size = 60
batch_size = 1000

[model]
callable = "clikill:model"
layout = "NCL"

[background]
kind = "iid"
length = 40

[[experiment]]
name = "position"
type = "positions"
motif = "GATAAG"
positions = [0, 20]
"""

CLI_MODEL = """
import os, signal
from pathlib import Path
CALLS = [0]


def model(x):
    CALLS[0] += 1
    marker = Path(__file__).with_name("killed")
    if CALLS[0] == 4 and not marker.exists():
        marker.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return x[:, 2, :].sum(axis=1) * 0.1 + x[:, 0, 10:16].sum(axis=1)
"""


def test_cli_run_kill_resume_report(tmp_path):
    (tmp_path / "clikill.py").write_text(CLI_MODEL)
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC)
    killed = tmp_path / "killed_run"
    proc = subprocess.run(
        [sys.executable, "-m", "causalgia", "run", str(spec), "--out", str(killed), "--no-figures"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == -signal.SIGKILL
    with RunStore(killed, readonly=True) as store:
        assert 0 < store.totals()["chunks"] < store.get("n_chunks")
    assert main(["resume", str(killed), "--no-figures"]) == 0
    clean = tmp_path / "clean_run"
    assert main(["run", str(spec), "--out", str(clean), "--no-figures"]) == 0
    assert (killed / "ace.csv").read_text() == (clean / "ace.csv").read_text()
    pd.testing.assert_frame_equal(
        pd.read_parquet(killed / "ice.parquet"),
        pd.read_parquet(clean / "ice.parquet"),
        check_exact=True,
    )
    manifest = json.loads((killed / "manifest.json").read_text())
    assert manifest["n_forward"] == json.loads((clean / "manifest.json").read_text())["n_forward"]
    assert main(["report", str(killed), "--no-figures"]) == 0
    with RunStore(killed, readonly=True) as store:
        assert list(store.events().kind)[-4:] == ["writing", "resume", "complete", "finished"]


def test_resume_refuses_a_directory_without_a_ledger(tmp_path, capsys):
    assert main(["resume", str(tmp_path / "nowhere")]) == 2
    assert "has no ledger" in capsys.readouterr().err


def test_python_run_is_not_resumable_from_the_cli(tmp_path, capsys):
    d = design(iid(20), sweep_positions("GATA", [2]), n=10, rng=1)
    simulate(as_model(AdditiveOracle.from_motif("GATA", length=20)), d, store=tmp_path)
    assert main(["resume", str(tmp_path)]) == 2
    assert "simulate(..., store=RUN_DIR)" in capsys.readouterr().err
