"""Models that mislead or misbehave (issue 11, items 2, 3, 5 and 8).

- A wrong one-hot layout makes every ICE exactly 0: a degenerate study is an error naming the
  layout, the alphabet and the output functional, raised on the first chunk; a model declared
  for another input length is refused before any forward pass.
- Fingerprints compare probe outputs within a relative tolerance: a float32 model whose outputs
  moved by one unit in the last place (another BLAS thread count) resumes a run; a changed weight
  is still refused, with the measured difference.
- Non-finite outputs under ``on_nonfinite = "drop"``: an arm whose units are all dropped stays a
  row (n = 0, NaN estimates, a status), partial drops say so, the report lists the dropped units,
  and NaN on a fingerprint probe does not stop the run.
- A model that never returns stops at a per-batch timeout naming the chunk and batch; Ctrl-C
  leaves a resumable ledger.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
import warnings
from contextlib import closing

import numpy as np
import pandas as pd
import pytest

from causalgia.cli import main
from causalgia.engine import RunStore, as_model, simulate
from causalgia.errors import (
    DegenerateStudyError,
    InvalidSequenceError,
    OptionError,
    SimulationError,
    StoreError,
)
from causalgia.experiment.backgrounds import iid
from causalgia.experiment.designs import Arm, design, sweep_positions
from causalgia.experiment.interventions import Identity
from causalgia.reporting.report import render_report
from causalgia.stats.estimators import estimate_ace
from causalgia.testing import AdditiveOracle, FlakyModel, NaNModel, UlpModel


@pytest.fixture
def oracle():
    return AdditiveOracle.from_motif("GATAAG", length=40)


@pytest.fixture
def study():
    return design(iid(40), sweep_positions("GATAAG", [0, 11, 30]), n=300, rng=4)


class Recorder:
    """A Keras-style model (it reads NLC: the number of G's) that counts its calls and notes the
    thread each call runs in."""

    layout = "NLC"
    name = "g_counter"

    def __init__(self) -> None:
        self.calls = 0
        self.threads: set[str] = set()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.calls += 1
        self.threads.add(threading.current_thread().name)
        return x[:, :, 2].sum(axis=1)


# -- item 2: degenerate studies and declared lengths -------------------------------------------


def test_a_wrong_layout_is_a_degenerate_study_error_on_the_first_chunk(study, tmp_path):
    keras = Recorder()
    wrong = as_model(keras, layout="NCL", batch_size=64)  # it reads NLC: f is constant
    with pytest.raises(DegenerateStudyError) as info:
        simulate(wrong, study, store=tmp_path, chunk_size=200)
    message = str(info.value)
    for cause in ("layout (declared 'NCL'", "alphabet (declared 'dna'", "output functional"):
        assert cause in message
    assert "chunk 0 (backgrounds 0..49)" in message and "on_degenerate='warn'" in message
    assert keras.calls == 1 + 4  # the fingerprint probes and chunk 0's batches, nothing more
    with RunStore(tmp_path, readonly=True) as store:
        assert store.completed() == {} and store.get("status") == "failed"
    right = simulate(as_model(Recorder(), batch_size=64), study)  # declared as it reads: NLC
    assert (right.table["ice"] != 0).any()


def test_on_degenerate_warn_runs_the_whole_study(study):
    wrong = as_model(Recorder(), layout="NCL")
    with pytest.warns(RuntimeWarning, match="degenerate study"):
        result = simulate(wrong, study, on_degenerate="warn")
    ace = estimate_ace(result).to_frame()
    assert (ace["ace"] == 0).all() and (ace["p_value"] == 1).all()
    with pytest.raises(OptionError, match="on_degenerate"):
        simulate(wrong, study, on_degenerate="ignore")


def test_placebos_and_unchanged_sequences_are_no_evidence(oracle):
    """Identity arms edit nothing: a design of placebos alone is not degenerate, and a placebo
    beside a real arm does not hide a model that ignores the real arm's edits."""
    placebo = design(iid(40), [Arm("placebo", Identity())], n=50, rng=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        simulate(as_model(oracle), placebo)
    constant = as_model(lambda x: np.zeros(len(x)), layout="NCL", name="zero")
    arms = [Arm("placebo", Identity()), *sweep_positions("GATA", [3])]
    mixed = design(iid(40), arms, n=50, rng=2)
    with pytest.raises(DegenerateStudyError, match=r"none of the (49|50) edited sequences"):
        simulate(constant, mixed)


def test_a_degenerate_spec_run_fails_with_a_clear_error(tmp_path, capsys):
    (tmp_path / "kerasish.py").write_text(
        "def model(x):\n    return x[:, :, 2].sum(axis=1)  # reads NLC\n"
    )
    spec = tmp_path / "spec.toml"
    spec.write_text(
        '[study]\nn = 40\nseed = 1\n[model]\ncallable = "kerasish:model"\nlayout = "NCL"\n'
        '[background]\nkind = "iid"\nlength = 30\n'
        '[[experiment]]\ntype = "positions"\nmotif = "GGGG"\npositions = [3, 15]\n'
    )
    assert main(["run", str(spec), "--out", str(tmp_path / "run"), "--no-figures"]) == 2
    err = capsys.readouterr().err
    assert "degenerate study" in err and "layout (declared 'NCL'" in err
    assert "Traceback" not in err


def test_a_declared_length_is_checked_before_any_forward_pass(study):
    short = AdditiveOracle.from_motif("GATA", length=30)
    assert as_model(short).length == 30  # the oracles declare their length
    counted = Recorder()
    model = as_model(counted, length=30)
    assert model.length == 30 and as_model(model, length=30) is not model
    with pytest.raises(InvalidSequenceError, match="declared for input length 30.*length 40"):
        simulate(model, study)
    assert counted.calls == 0
    with pytest.raises(OptionError, match="declared for length 30, not 40"):
        as_model(model, length=40)
    with pytest.raises(OptionError, match="length must be >= 1"):
        as_model(Recorder(), length=0)
    assert as_model(Recorder()).length is None  # undeclared: any length
    assert as_model(Recorder(), length=40).fingerprint(40) == as_model(Recorder()).fingerprint(40)


# -- item 3: fingerprints within floating-point noise ------------------------------------------


def test_resume_accepts_one_float32_ulp_and_refuses_a_changed_weight(oracle, study, tmp_path):
    one = as_model(UlpModel(oracle, ulps=0), batch_size=50)
    other = as_model(UlpModel(oracle, ulps=1), batch_size=50)  # another thread count, say
    a, b = one.probe(40), other.probe(40)
    assert a.digest != b.digest and 0 < a.difference(b) < 1e-6 and a.agrees(b)
    flaky = FlakyModel(UlpModel(oracle, ulps=0), fail_on_call=6)
    interrupted = as_model(flaky, batch_size=50, name=one.name)
    with pytest.raises(SimulationError, match="injected failure"):
        simulate(interrupted, study, store=tmp_path, chunk_size=200)
    resumed = simulate(other, study, store=tmp_path)
    assert resumed.model_fingerprint == a.digest  # the run keeps its recorded fingerprint
    reference = simulate(one, study).table
    np.testing.assert_allclose(resumed.table["ice"], reference["ice"], rtol=1e-6, atol=1e-6)
    changed = as_model(UlpModel(AdditiveOracle(oracle.weights * 1.001), ulps=0), batch_size=50)
    with pytest.raises(StoreError, match=r"model changed .*differ by up to 0\.000999 .*1e-05"):
        simulate(changed, study, store=tmp_path)
    relabelled = as_model(UlpModel(oracle, ulps=0), batch_size=50, name="another_name")
    with pytest.raises(StoreError, match="the declaration differs"):
        simulate(relabelled, study, store=tmp_path)


def test_a_bit_identical_model_keeps_its_fingerprint_and_old_ledgers_compare_exactly(
    oracle, study, tmp_path
):
    model = as_model(UlpModel(oracle, ulps=0), batch_size=50)
    first = simulate(model, study, store=tmp_path, chunk_size=200)
    assert simulate(as_model(UlpModel(oracle, ulps=0)), study, store=tmp_path).table.equals(
        first.table
    )
    with closing(sqlite3.connect(tmp_path / "ledger.sqlite")) as db, db:
        record = json.loads(db.execute("SELECT value FROM meta WHERE key = 'model_probe'")
                            .fetchone()[0])  # fmt: skip
        assert record["rtol"] == 1e-5 and len(record["outputs"]) == 16
        db.execute("DELETE FROM meta WHERE key = 'model_probe'")  # as a ledger of 0.1.0
    with pytest.raises(StoreError, match="before causalgia recorded probe outputs"):
        simulate(as_model(UlpModel(oracle, ulps=1)), study, store=tmp_path)
    again = simulate(as_model(UlpModel(oracle, ulps=0)), study, store=tmp_path)
    assert again.model_fingerprint == first.model_fingerprint


# -- item 5: non-finite outputs under on_nonfinite = "drop" ------------------------------------


def test_an_arm_whose_units_are_all_nonfinite_stays_a_row_with_a_status(oracle, study):
    arms = [*study.arms, Arm("placebo", Identity())]
    d = design(iid(40), arms, n=300, rng=4)
    result = simulate(as_model(NaNModel(oracle, prefix="GATAAG")), d, on_nonfinite="drop")
    ace = estimate_ace(result).to_frame()
    assert ace["label"].tolist() == [a.label for a in arms]  # design order, nothing vanished
    empty = ace.iloc[0]
    assert empty["n"] == 0 and empty["status"] == "empty: every unit non-finite"
    estimates = ["ace", "se", "ci_low", "ci_high", "p_value", "q_value"]
    assert np.isnan(empty[estimates].astype(float)).all()
    assert (ace["status"].iloc[1:] == "ok").all()
    alone = estimate_ace(result.table).to_frame()  # a bare table: no units, no status
    assert "status" not in alone.columns
    for column in ("ace", "se", "ci_low", "ci_high", "p_value"):  # normal rows: same bits
        assert ace[column].iloc[1:].tolist() == alone[column].tolist()


def test_partial_drops_say_how_many_units_left(oracle, study):
    result = simulate(as_model(NaNModel(oracle, prefix="AC")), study, on_nonfinite="drop")
    ace = estimate_ace(result).to_frame()
    units = result.units.set_index("label")
    for row in ace.itertuples():
        dropped = int(units.loc[row.label, "n_dropped"])
        assert dropped > 0 and row.n == 300 - dropped
        assert row.status == f"partial: {dropped} of 300 units dropped"
    randomized = design(iid(40), study.arms, n=300, rng=4, kind="randomized")
    result = simulate(as_model(NaNModel(oracle, prefix="AC")), randomized, on_nonfinite="drop")
    status = estimate_ace(result, method="welch").to_frame()["status"]
    assert status.str.contains(r"control units dropped").all()


def test_raise_mode_tables_are_unchanged(oracle, study):
    result = simulate(as_model(oracle), study)
    assert result.units is None and result.dropped_summary() == []
    assert "status" not in estimate_ace(result).to_frame().columns


def test_nan_on_fingerprint_probes_does_not_stop_a_drop_mode_run(oracle, study, tmp_path):
    model = as_model(NaNModel(oracle, prefix="A"))  # a quarter of the probes start with A
    probe = model.probe(40)
    assert np.isnan(probe.outputs).any() and np.isfinite(probe.outputs).any()
    first = simulate(model, study, on_nonfinite="drop", store=tmp_path, chunk_size=200)
    again = simulate(as_model(NaNModel(oracle, prefix="A")), study, on_nonfinite="drop",
                     store=tmp_path)  # fmt: skip
    assert again.model_fingerprint == first.model_fingerprint == probe.digest
    pd.testing.assert_frame_equal(again.table, first.table, check_exact=True)


NAN_MODEL = """
from causalgia.testing import AdditiveOracle, NaNModel

model = NaNModel(AdditiveOracle.from_motif("GATA", length=30), prefix="GATA")
"""


def test_the_report_lists_dropped_units_per_arm(tmp_path):
    (tmp_path / "nanmodel.py").write_text(NAN_MODEL)
    spec = tmp_path / "spec.toml"
    spec.write_text(
        '[study]\nn = 60\nseed = 2\non_nonfinite = "drop"\n'
        '[model]\ncallable = "nanmodel:model"\nlayout = "NCL"\n'
        '[background]\nkind = "iid"\nlength = 30\n'
        '[[experiment]]\nname = "position"\ntype = "positions"\nmotif = "GATA"\n'
        "positions = [0, 12]\n"
    )
    run = tmp_path / "run"
    assert main(["run", str(spec), "--out", str(run), "--no-figures"]) == 0
    ace = pd.read_csv(run / "ace.csv")
    assert ace["label"].tolist() == ["GATA@0+", "GATA@12+"]
    assert ace["status"].iloc[0] == "empty: every unit non-finite" and ace["n"].iloc[0] == 0
    manifest = json.loads((run / "manifest.json").read_text())
    arms = {a["label"]: a for a in manifest["nonfinite_by_arm"]}
    assert arms["GATA@0+"]["dropped"] == arms["GATA@0+"]["of"] == 60
    report = (run / "report.md").read_text()
    assert "## Dropped units (non-finite model outputs)" in report
    assert "| position | GATA@0+ | 60 | 60 | 0, 1, 2," in report
    assert "empty: every unit non-finite" in report
    assert 'id="dropped"' in (run / "report.html").read_text()
    render_report(run, figures=False)  # `causalgia report` renders it again from the files
    assert (run / "report.md").read_text() == report


# -- item 8: timeouts and Ctrl-C ---------------------------------------------------------------


def test_a_hung_model_times_out_naming_chunk_batch_and_timeout_then_resumes(
    oracle, study, tmp_path
):
    hung = FlakyModel(oracle, fail_on_call=10, fault="hang")
    try:
        with pytest.raises(SimulationError) as info:
            simulate(as_model(hung, batch_size=50), study, store=tmp_path, chunk_size=200,
                     timeout=1.0)  # fmt: skip
    finally:
        hung.release.set()  # let the abandoned call finish in the background
    message = str(info.value)
    assert "chunk 2 (backgrounds 100..149) batch 1 (rows 50..99)" in message
    assert "did not return within the timeout of 1 s" in message and str(tmp_path) in message
    with RunStore(tmp_path, readonly=True) as store:
        assert sorted(store.completed()) == [0, 1] and store.get("status") == "failed"
    resumed = simulate(as_model(oracle, batch_size=50, name="flaky_model"), study, store=tmp_path)
    pd.testing.assert_frame_equal(resumed.table, simulate(as_model(oracle), study).table)


def test_the_fingerprint_probes_are_timed_too_and_no_thread_without_a_timeout(
    oracle, study, tmp_path
):
    hung = FlakyModel(oracle, fail_on_call=0, fault="hang")
    try:
        with pytest.raises(SimulationError, match="16 fingerprint probes .*timeout of 0.5 s"):
            simulate(as_model(hung), study, timeout=0.5, store=tmp_path)
    finally:
        hung.release.set()
    plain, timed = Recorder(), Recorder()
    simulate(as_model(plain, batch_size=100), study)
    simulate(as_model(timed, batch_size=100), study, timeout=30)
    assert plain.threads == {threading.main_thread().name}
    assert timed.threads == {"causalgia-forward"}
    for bad in (0, -1.0, float("nan"), "10", True):
        with pytest.raises(OptionError, match="timeout must be a number of seconds > 0"):
            simulate(as_model(plain), study, timeout=bad)


def test_ctrl_c_in_simulate_leaves_a_resumable_ledger(oracle, study, tmp_path):
    interrupted = FlakyModel(oracle, fail_on_call=5, fault="interrupt")
    with pytest.raises(KeyboardInterrupt) as info:
        simulate(as_model(interrupted, batch_size=100), study, store=tmp_path, chunk_size=200)
    assert "2 of 6 chunk(s) are complete and kept" in "".join(info.value.__notes__)
    with RunStore(tmp_path, readonly=True) as store:
        assert sorted(store.completed()) == [0, 1] and store.check() == []
    resumed = simulate(as_model(oracle, batch_size=100, name="flaky_model"), study, store=tmp_path)
    pd.testing.assert_frame_equal(resumed.table, simulate(as_model(oracle), study).table,
                                  check_exact=True)  # fmt: skip


TIMED_SPEC = """
[study]
name = "faults"
seed = 3
n = 200
chunk_size = 60
batch_size = 1000
{extra}

[model]
callable = "{module}:model"
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

FAULTY = """
import os, signal, threading
from pathlib import Path

CALLS = [0]
RELEASE = threading.Event()


def model(x):
    CALLS[0] += 1
    flag = Path(__file__).with_name("fault")
    if CALLS[0] == 4 and flag.exists():
        kind = flag.read_text()
        if kind == "hang":
            RELEASE.wait(60)
        elif kind == "sigint":
            os.kill(os.getpid(), signal.SIGINT)
    return x[:, 2, :].sum(axis=1) * 0.1 + x[:, 0, 10:16].sum(axis=1)
"""


def _project(tmp_path, module, extra=""):
    (tmp_path / f"{module}.py").write_text(FAULTY)
    spec = tmp_path / "spec.toml"
    spec.write_text(TIMED_SPEC.format(extra=extra, module=module))
    return spec


def _same_as_a_clean_run(spec, run):
    clean = run.with_name("clean")
    assert main(["run", str(spec), "--out", str(clean), "--no-figures"]) == 0
    assert (run / "ace.csv").read_text() == (clean / "ace.csv").read_text()
    pd.testing.assert_frame_equal(
        pd.read_parquet(run / "ice.parquet"), pd.read_parquet(clean / "ice.parquet"),
        check_exact=True,
    )  # fmt: skip


def test_spec_timeout_stops_the_run_and_resume_continues(tmp_path, capsys):
    module = f"hangs_{tmp_path.name.replace('-', '_')}"
    spec = _project(tmp_path, module, extra="timeout = 1.0")
    (tmp_path / "fault").write_text("hang")
    run = tmp_path / "run"
    try:
        assert main(["run", str(spec), "--out", str(run), "--no-figures"]) == 2
    finally:
        sys.modules[module].RELEASE.set()
    err = capsys.readouterr().err
    assert "chunk 2 (backgrounds 40..59) batch 0" in err and "timeout of 1 s" in err
    assert "Traceback" not in err
    with RunStore(run, readonly=True) as store:
        assert sorted(store.completed()) == [0, 1]
    (tmp_path / "fault").unlink()
    assert main(["resume", str(run), "--no-figures"]) == 0
    _same_as_a_clean_run(spec, run)


def test_ctrl_c_during_causalgia_run_exits_130_and_resumes_to_the_same_table(tmp_path):
    spec = _project(tmp_path, f"interrupts_{tmp_path.name.replace('-', '_')}")
    (tmp_path / "fault").write_text("sigint")
    run = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "causalgia", "run", str(spec), "--out", str(run), "--no-figures"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 130, proc.stderr
    assert "causalgia: interrupted: run directory" in proc.stderr and "Traceback" not in proc.stderr
    with RunStore(run, readonly=True) as store:
        assert sorted(store.completed()) == [0, 1] and store.check() == []
    (tmp_path / "fault").unlink()
    assert main(["resume", str(run), "--no-figures"]) == 0
    _same_as_a_clean_run(spec, run)
