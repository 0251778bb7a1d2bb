"""The command line: demo, run (builtin and user callable), report, and error exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from causalgia.cli import main

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
ACE_COLUMNS = ["experiment", "label", "ace", "se", "ci_low", "ci_high", "n", "p_value", "q_value"]


def _check_run_directory(run: Path) -> pd.DataFrame:
    for name in ("ace.csv", "manifest.json", "report.md", "design.csv"):
        assert (run / name).is_file(), name
    assert (run / "ice.parquet").is_file() or (run / "ice.csv").is_file()
    manifest = json.loads((run / "manifest.json").read_text())
    for key in ("versions", "seed", "spec_hash", "model_fingerprint", "background"):
        assert manifest[key], key
    ace = pd.read_csv(run / "ace.csv")
    assert set(ACE_COLUMNS) <= set(ace.columns)
    return ace


def test_demo_end_to_end(tmp_path):
    out = tmp_path / "demo"
    proc = subprocess.run(
        [sys.executable, "-m", "causalgia", "demo", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "known effects inside their 95% interval" in proc.stdout
    ace = _check_run_directory(out)
    assert {"position", "count", "spacing", "gc_control", "negative_control", "placebo"} <= set(
        ace.experiment
    )
    assert len(ace[ace.experiment == "spacing"]) == 16
    truth = pd.read_csv(out / "truth.csv")
    merged = ace.merge(truth, on=["experiment", "label"])
    inside = ((merged.ci_low <= merged.true_ace) & (merged.true_ace <= merged.ci_high)).mean()
    assert inside >= 0.8  # 34 correlated intervals; the calibration tests gate coverage
    figures = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert {"curve_position.png", "curve_count.png", "curve_spacing.png"} <= set(figures)
    report = (out / "report.md").read_text()
    assert "figures/curve_spacing.png" in report and "ICE(x) = f(do(x)) − f(x)" in report


def test_run_user_callable_spec_and_rerender(tmp_path, capsys):
    out = tmp_path / "custom"
    assert (
        main(["run", str(EXAMPLES / "custom_model.toml"), "--out", str(out), "--no-figures"]) == 0
    )
    ace = _check_run_directory(out)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["layout"] == "NLC" and "logit" in manifest["output"]
    assert ace.loc[ace.experiment == "position", "ace"].gt(0).all()
    before = (out / "report.md").read_text()
    assert main(["report", str(out), "--no-figures"]) == 0
    assert (out / "report.md").read_text() == before
    assert "re-rendered" in capsys.readouterr().out


def test_bad_spec_exits_2_with_one_line(tmp_path, capsys):
    spec = tmp_path / "bad.toml"
    spec.write_text(
        '[model]\nbuiltin = "rbp_oracle"\n[background]\nkind = "iid"\nlength = 41\n'
        '[[experiment]]\ntype = "positions"\nmotif = "UGCAUG"\npositions = [40]\n'
    )
    assert main(["run", str(spec), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("causalgia: error:") and "UGCAUG@40+" in err and "0..35" in err


def test_summary_quotes_the_studys_interval_level(tmp_path):
    from causalgia.studies import parse_spec, run_study

    spec = parse_spec({"study": {"n": 30, "seed": 1, "ci": 0.8, "truth": True, "truth_n": 200},
                       "model": {"builtin": "rbp_oracle"},
                       "background": {"kind": "iid", "length": 41},
                       "experiment": [{"type": "positions", "motif": "UGCAUG",
                                       "positions": [5, 20]}]})  # fmt: skip
    text = run_study(spec, tmp_path / "r", figures=False, progress=False).summary()
    assert "80% CI [" in text and "95%" not in text
    assert "inside their 80% interval (an honest 80% interval misses about 1 in 5)" in text
