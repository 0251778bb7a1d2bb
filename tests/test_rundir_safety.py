"""Run directories that cannot be silently mixed or misread (issue 11, item 1).

Two concurrent ``causalgia run`` into one directory: one runs, the other is refused while the
first holds the lock, and the directory holds one consistent run. A run killed while it writes
its outputs leaves no half-written file under a final name, and ``report`` refuses the
directory until a resume has written it again. ``run`` refuses a directory that holds another
run unless ``--overwrite``; ``demo`` replaces only an earlier demo run.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pandas as pd
import pytest

from causalgia._files import is_temporary
from causalgia.cli import main
from causalgia.engine.store import RunStore
from causalgia.errors import StoreError
from causalgia.studies.runner import run_study
from causalgia.studies.spec import load_spec

SPEC = """
[study]
name = "safety"
seed = 3
n = 120
chunk_size = 30
batch_size = 1000

[model]
callable = "slowmodel:model"
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

MODEL = """
import os, time


def model(x):
    time.sleep(float(os.environ.get("SLOW", "0")))
    return x[:, 2, :].sum(axis=1) * 0.1 + x[:, 0, 10:16].sum(axis=1)
"""

# kills its own process half-way through writing the file whose name contains $KILL_WRITING,
# whichever way it is written (DataFrame.to_csv for tables, Path.write_text for the rest)
HARNESS = """
import os, signal, sys
from pathlib import Path
import pandas as pd

target = os.environ.get("KILL_WRITING", "")


def half_then_die(path, text):
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text[: len(text) // 2])
    os.kill(os.getpid(), signal.SIGKILL)


to_csv = pd.DataFrame.to_csv
write_text = Path.write_text


def patched_to_csv(self, path=None, *args, **kwargs):
    name = getattr(path, "name", path)  # a path, or an open file (tables written in blocks)
    if target and name is not None and target in Path(str(name)).name:
        text = to_csv(self, None, *args, **kwargs)
        if hasattr(path, "write"):
            path.write(text[: len(text) // 2])
            path.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        half_then_die(path, text)
    return to_csv(self, path, *args, **kwargs)


def patched_write_text(self, data, *args, **kwargs):
    if target and target in self.name:
        half_then_die(self, data)
    return write_text(self, data, *args, **kwargs)


pd.DataFrame.to_csv = patched_to_csv
Path.write_text = patched_write_text
from causalgia.cli import main

sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture
def kit(tmp_path: Path) -> Path:
    (tmp_path / "slowmodel.py").write_text(MODEL)
    (tmp_path / "spec.toml").write_text(SPEC)
    (tmp_path / "harness.py").write_text(HARNESS)
    return tmp_path


def _cli(kit: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    cmd = [sys.executable, str(kit / "harness.py"), *args]
    full = {**os.environ, **(env or {})}
    return subprocess.Popen(cmd, env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_consistent(run: Path) -> str:
    """One run's files: checksums match, one run id everywhere, no temporaries; its run id."""
    manifest = json.loads((run / "manifest.json").read_text())
    for name, digest in manifest["files"].items():
        assert _sha(run / name) == digest, name
    run_id = manifest["run_id"]
    with RunStore(run, readonly=True) as ledger:
        outputs = ledger.get("outputs")
        assert ledger.check() == [] and ledger.get("spec")["spec_hash"] == manifest["spec_hash"]
    assert outputs["state"] == "complete" and outputs["run_id"] == run_id
    assert f"- Run id: {run_id}" in (run / "report.md").read_text()
    assert run_id in (run / "report.html").read_text()
    assert not [p for p in run.rglob("*") if is_temporary(p.name)]
    return run_id


def test_two_concurrent_runs_into_one_directory(kit: Path) -> None:
    run = kit / "run"
    args = ("run", str(kit / "spec.toml"), "--out", str(run), "--no-figures")
    procs = [_cli(kit, *args, env={"SLOW": "0.4"}) for _ in range(2)]
    results = [(p.pid, *p.communicate(timeout=300), p.returncode) for p in procs]
    codes = sorted(r[3] for r in results)
    assert codes == [0, 2], results
    (winner,) = [r for r in results if r[3] == 0]
    (loser,) = [r for r in results if r[3] == 2]
    assert "Traceback" not in loser[2]
    assert loser[2].startswith(f"causalgia: error: run directory {run} is in use by another ")
    assert f"(pid {winner[0]})" in loser[2]
    assert_consistent(run)
    with RunStore(run, readonly=True) as ledger:
        events = ledger.events()
    assert set(events["pid"]) == {winner[0]}  # the refused process wrote nothing
    assert main(["report", str(run), "--no-figures"]) == 0


def test_a_run_into_a_busy_finished_directory_is_refused_even_with_overwrite(kit: Path) -> None:
    run = kit / "run"
    args = ("run", str(kit / "spec.toml"), "--out", str(run), "--no-figures")
    assert main(list(args)) == 0
    first = assert_consistent(run)
    slow = _cli(kit, *args, "--overwrite", env={"SLOW": "0.4"})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # wait until it holds the lock and began writing
        with RunStore(run, readonly=True) as ledger:
            if (ledger.get("outputs") or {}).get("state") == "writing":
                break
        time.sleep(0.05)
    second = _cli(kit, *args, "--overwrite")
    out, err = second.communicate(timeout=120)
    assert second.returncode == 2 and f"(pid {slow.pid})" in err, err
    _, err = slow.communicate(timeout=300)
    assert slow.returncode == 0, err
    assert assert_consistent(run) != first


def _completed_run(kit: Path) -> Path:
    """An uninterrupted run, made the way the killed runs are (a fresh process)."""
    ref = kit / "reference"
    proc = _cli(kit, "run", str(kit / "spec.toml"), "--out", str(ref), "--no-figures")
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return ref


def _final_files(run: Path) -> list[Path]:
    return [p for p in run.rglob("*") if p.is_file() and not is_temporary(p.name)]


@pytest.mark.parametrize("target", ["design.csv", "manifest.json", "report.md", "report.html"])
def test_a_run_killed_while_writing_leaves_no_half_written_file(kit: Path, target: str) -> None:
    ref = _completed_run(kit)
    run = kit / "run"
    shutil.copytree(ref, run)  # an earlier, finished run is replaced by a run that is killed
    proc = _cli(kit, "run", str(kit / "spec.toml"), "--out", str(run), "--no-figures",
                "--overwrite", env={"KILL_WRITING": target})  # fmt: skip
    proc.communicate(timeout=300)
    assert proc.returncode == -signal.SIGKILL
    assert not (run / target).exists()  # the old one was removed, the new one never renamed
    assert any(is_temporary(p.name) and target in p.name for p in run.iterdir())
    for path in _final_files(run):  # whatever has a final name is whole (the new run's)
        name = path.relative_to(run).as_posix()
        if name.endswith((".csv", ".parquet")):
            assert path.read_bytes() == (ref / name).read_bytes(), name
        elif name == "manifest.json":
            assert (
                json.loads(path.read_text())["files"]
                == json.loads((ref / name).read_text())["files"]
            )
        elif name == "report.md":
            assert path.read_text().endswith((ref / name).read_text()[-200:])
    assert main(["report", str(run), "--no-figures"]) == 2  # not one run's files
    assert main(["resume", str(run), "--no-figures"]) == 0
    assert (run / "ace.csv").read_bytes() == (ref / "ace.csv").read_bytes()
    assert_consistent(run)


def test_report_refuses_a_killed_rerun_and_a_foreign_manifest(kit: Path, capsys) -> None:
    ref = _completed_run(kit)
    other = kit / "other"
    shutil.copytree(ref, other)
    with RunStore(other) as ledger:  # as if a re-run was killed after clearing the outputs
        ledger.set("outputs", {**ledger.get("outputs"), "state": "writing", "run_id": "abc"})
    capsys.readouterr()
    assert main(["report", str(other), "--no-figures"]) == 2
    err = capsys.readouterr().err
    assert "run abc" in err and "did not finish" in err and f"causalgia resume {other}" in err
    assert main(["resume", str(other), "--no-figures"]) == 0
    shutil.copy(other / "manifest.json", ref / "manifest.json")  # another run's manifest
    assert main(["report", str(ref), "--no-figures"]) == 2
    err = capsys.readouterr().err
    assert "manifest.json is of run" in err and "the ledger's last finished run is" in err


def test_report_verifies_checksums_and_force_flags(kit: Path, capsys) -> None:
    run = _completed_run(kit)
    ace = pd.read_csv(run / "ace.csv")
    ace.loc[0, "ace"] += 1.0  # an edited table
    ace.to_csv(run / "ace.csv", index=False)
    capsys.readouterr()
    assert main(["report", str(run), "--no-figures"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ace.csv changed since the run wrote it" in err
    assert "--force" in err and "Traceback" not in err
    assert main(["report", str(run), "--no-figures", "--force"]) == 0
    assert "WARNING: rendered with `--force`" in (run / "report.md").read_text()
    assert 'class="forced"' in (run / "report.html").read_text()


def test_run_refuses_a_directory_holding_a_run_unless_overwrite(kit: Path, capsys) -> None:
    run = kit / "run"
    spec = load_spec(kit / "spec.toml")
    first = run_study(spec, run, figures=False)
    with pytest.raises(StoreError, match=r"holds a finished run \(run id [0-9a-f]{32}"):
        run_study(spec, run, figures=False)
    again = run_study(spec, run, figures=False, overwrite=True)
    assert again.manifest["run_id"] != first.manifest["run_id"]
    assert again.ace.equals(first.ace)
    # interrupted: its last chunk is missing
    with closing(sqlite3.connect(run / "ledger.sqlite")) as db, db:
        db.execute("DELETE FROM chunks WHERE number = (SELECT MAX(number) FROM chunks)")
    with RunStore(run) as ledger:
        ledger.set("outputs", {**ledger.get("outputs"), "state": "writing"})
    capsys.readouterr()
    assert main(["run", str(kit / "spec.toml"), "--out", str(run)]) == 2
    err = capsys.readouterr().err
    assert "holds an interrupted run" in err and "11 of 12 chunk(s) done" in err
    assert f"causalgia resume {run}" in err and "--overwrite" in err


def test_demo_replaces_an_earlier_demo_run_but_nothing_else(kit, monkeypatch) -> None:
    import causalgia.studies.spec as spec_module

    small = kit / "demo.toml"  # the demo's behaviour on a smaller study
    oracle = 'builtin = "additive_oracle"\nmotif = "GATAAG"\nlength = 40'
    small.write_text(SPEC.replace('callable = "slowmodel:model"\nlayout = "NCL"', oracle))
    monkeypatch.setattr(spec_module, "DEMO_SPEC", small)
    out = kit / "demo"
    assert main(["demo", "--out", str(out), "--no-figures"]) == 0
    first = assert_consistent(out)
    assert main(["demo", "--out", str(out), "--no-figures"]) == 0
    assert assert_consistent(out) != first
    other = kit / "other"
    assert main(["run", str(kit / "spec.toml"), "--out", str(other), "--no-figures"]) == 0
    assert main(["demo", "--out", str(other), "--no-figures"]) == 2
    assert main(["demo", "--out", str(other), "--no-figures", "--overwrite"]) == 0


def test_docs_reliability_names_only_tests_that_exist() -> None:
    root = Path(__file__).resolve().parents[1]
    text = (root / "docs" / "reliability.md").read_text()
    named = set(re.findall(r"`(tests/test_\w+\.py)::(test_\w+)`", text))
    assert len(named) >= 15
    for path, name in named:
        assert re.search(rf"^def {name}\(", (root / path).read_text(), re.M), (path, name)
