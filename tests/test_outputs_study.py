"""A study of a multi-task model end to end (issue 12, items 3-4): ``[model] outputs`` in the
spec, ``run_study`` in memory, an ``output`` column in ace.csv, controls and pooled fits per
output, and a report with an arm × output heatmap; one-output studies are unchanged."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pandas as pd
import pytest

from causalgia.checks.controls import evaluate_controls
from causalgia.errors import ConfigError
from causalgia.sequences.alphabet import encode
from causalgia.studies.runner import run_study
from causalgia.studies.spec import load_spec, parse_spec

LENGTH = 30
TASKS = ["HepG2", "K562", "GM12878"]
STRENGTH = [1.0, 0.5, -0.3]  # GATA at 3 and 12: per task, per base of the motif

MODEL = f'''
import numpy as np

L = {LENGTH}
TASKS = {TASKS!r}
W = np.random.default_rng(5).normal(0.0, 0.05, size=(3, 4, L))
for t, s in enumerate({STRENGTH!r}):
    for site in (3, 12):
        for j, b in enumerate([2, 0, 3, 0]):  # G A T A
            W[t, b, site + j] += s


def model(x):
    """(N, 4, L) one-hot -> (N, 3): one linear score per task."""
    return np.einsum("ncl,tcl->nt", np.asarray(x, dtype=np.float64), W)


model.task_names = TASKS
'''

SPEC = """
[study]
n = 200
seed = 1

[model]
callable = "multitask:model"
layout = "NCL"
{model}

[background]
kind = "iid"
length = {length}

[[experiment]]
name = "gata"
type = "positions"
motif = "GATA"
positions = [3, 12, 20, 25]

[[experiment]]
name = "placebo"
type = "identity"

[[experiment]]
name = "scr"
type = "scrambled"
motif = "GATA"
position = 3

[controls]
placebo = ["placebo"]
positive = ["gata"]
negative = ["scr"]
"""


def _weights() -> np.ndarray:
    namespace: dict = {}
    exec(MODEL, namespace)  # the helper module's weights, as the study imports them
    return namespace["W"]


def _true_ace(w: np.ndarray, motif: str, position: int) -> np.ndarray:
    """Exact ACE per task of writing ``motif`` at ``position`` into uniform iid backgrounds."""
    codes = encode([motif])[0]
    sites = position + np.arange(len(motif))
    return (w[:, codes, sites] - w[:, :, sites].mean(axis=1)).sum(axis=1)


def _write(tmp_path, model: str = 'outputs = "tasks"', extra: str = ""):
    (tmp_path / "multitask.py").write_text(MODEL)
    path = tmp_path / "study.toml"
    path.write_text(SPEC.format(model=model, length=LENGTH) + extra)
    return path


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    folder = tmp_path_factory.mktemp("outputs")
    return run_study(load_spec(_write(folder)), folder / "run", progress=False)


# -- spec ------------------------------------------------------------------------------------


def _spec(model: dict, **study) -> dict:
    return {
        "study": {"n": 20, "seed": 1, **study},
        "model": {"builtin": "rbp_oracle", **model},
        "background": {"kind": "iid", "length": 41},
        "experiment": [{"type": "identity"}],
    }


def test_spec_outputs_table_and_tasks():
    table = {"name": {"head": 1}, "other": {"head": 0, "counts_head": 1,
             "reduce": "expected_counts", "window": [450, 550]}}  # fmt: skip
    outputs = parse_spec(_spec({"outputs": table})).model.outputs
    assert [n for n, _ in outputs] == ["name", "other"]
    assert outputs[1][1].window == (450, 550) and outputs[1][1].counts_head == 1
    m = parse_spec(_spec({"outputs": "tasks", "task_names": ["a", "b"]})).model
    assert m.outputs == "tasks" and m.task_names == ("a", "b")


@pytest.mark.parametrize(
    ("model", "study", "words"),
    [
        ({"output": 0, "outputs": "tasks"}, {}, ["model.output", "model.outputs"]),
        ({"outputs": "task"}, {}, ["model.outputs", "'tasks'"]),
        ({"outputs": {}}, {}, ["model.outputs", "empty"]),
        ({"outputs": {"a": {"hed": 1}}}, {}, ["model.outputs.a.hed"]),
        ({"outputs": "tasks", "task_names": ["x", "x"]}, {}, ["unique"]),
        ({"task_names": ["a"]}, {}, ["model.task_names", "model.outputs"]),
        ({"outputs": {"a": 0}}, {"truth": True}, ["study.truth", "model.outputs"]),
    ],
)
def test_spec_outputs_errors_name_the_keys(model, study, words):
    with pytest.raises(ConfigError) as err:
        parse_spec(_spec(model, **study))
    assert all(w in str(err.value) for w in words), str(err.value)


def test_unsupported_controls_are_refused_for_several_outputs():
    spec = _spec({"outputs": {"a": 0}})
    spec["controls"] = {"randomized_weights": 2}
    with pytest.raises(ConfigError, match="randomized_weights"):
        parse_spec(spec)


# -- the study -------------------------------------------------------------------------------


def test_ace_csv_has_the_output_column_and_the_planted_effects(outcome):
    ace = pd.read_csv(outcome.run.path / "ace.csv")
    assert list(ace.columns[:3]) == ["experiment", "label", "output"]
    assert ace["output"].drop_duplicates().tolist() == TASKS
    assert len(ace) == 6 * len(TASKS)  # 4 positions + placebo + scramble, per task
    w = _weights()
    for position in (3, 12, 20):
        rows = ace[(ace["experiment"] == "gata") & (ace["position"] == position)]
        truth = _true_ace(w, "GATA", position)
        assert rows["output"].tolist() == TASKS
        z = (rows["ace"] - truth) / rows["se"]  # one set of backgrounds: errors correlate
        assert (z.abs() < 4).all(), (position, rows["ace"].tolist(), truth)


def test_manifest_records_the_outputs_and_the_study_streams_nothing(outcome):
    manifest = json.loads((outcome.run.path / "manifest.json").read_text())
    assert manifest["outputs"] == TASKS
    assert set(manifest["output_functionals"]) == set(TASKS)
    assert "index=1" in manifest["output_functionals"]["K562"]
    assert len(outcome.result.table) == len(TASKS) * 6 * 200  # the table is in memory
    assert outcome.result.outputs == tuple(TASKS)
    lines = outcome.summary().splitlines()
    assert any("GATA@3+ [K562]" in line for line in lines)


def test_each_output_equals_its_own_one_output_study(outcome, tmp_path):
    one = run_study(load_spec(_write(tmp_path, model="output = 1")), tmp_path / "run",
                    progress=False, figures=False)  # fmt: skip
    assert "output" not in one.ace.columns
    mine = outcome.ace[outcome.ace["output"] == "K562"].drop(columns="output")
    pd.testing.assert_frame_equal(mine.reset_index(drop=True), one.ace, check_exact=True)
    controls = one.controls.to_frame()
    assert list(controls.columns) == ["check_name", "passed", "text"]


def test_controls_run_per_output(outcome):
    frame = pd.read_csv(outcome.run.path / "controls.csv")
    assert list(frame.columns[:2]) == ["check_name", "output"]
    assert len(frame) == 3 * len(TASKS)
    assert frame.groupby("check_name")["output"].apply(list).to_dict()["placebo"] == TASKS
    placebo = pd.read_csv(outcome.run.path / "controls" / "placebo.csv")
    assert placebo["output"].tolist() == TASKS and (placebo["n_nonzero"] == 0).all()
    assert outcome.controls[("positive", "GM12878")].output == "GM12878"
    summary = outcome.controls.summary()
    assert "placebo [HepG2]" in summary and "positive [GM12878]" in summary


def test_a_failed_check_names_its_output():
    ace = pd.DataFrame({"experiment": "neg", "label": "s", "output": ["a", "b"],
                        "ace": [0.01, 0.5], "se": 0.02, "ci_low": [-0.03, 0.46],
                        "ci_high": [0.05, 0.54], "p_value": [0.6, 1e-9]})  # fmt: skip
    report = evaluate_controls(ace, negative=["neg"])
    assert [(r.output, r.passed) for r in report] == [("a", True), ("b", False)]
    assert "FAIL  negative [b]" in report.summary()


def test_report_shows_outputs_heatmap_and_per_output_tables(outcome):
    root = outcome.run.path
    assert (root / "figures" / "outputs_gata.png").is_file()
    html = (root / "report.html").read_text()
    assert 'alt="output heatmap gata"' in html
    assert "<th" in html and ">output<" in html  # the effects table's output column
    assert "placebo [K562]" in html  # a verdict per check × output
    assert "model output <code>HepG2</code> (the first" in html  # the ICE map's output
    md = (root / "report.md").read_text()
    assert "| label | output |" in md and "positive [GM12878]" in md
    assert "figures/outputs_gata.png" in md
    # a fresh run into this directory deletes every figure it may have drawn
    from fnmatch import fnmatch

    from causalgia.reporting.report import FIGURE_FILES

    for png in (root / "figures").glob("*.png"):
        assert any(fnmatch(f"figures/{png.name}", p) for p in FIGURE_FILES), png.name


# -- pooling ---------------------------------------------------------------------------------


def test_pooled_per_output_shrinks_and_covers_the_truth(tmp_path):
    pooling = textwrap.dedent("""
        [pooling]
        experiments = ["gata"]
        groups = ["output"]
        draws = 400
        tune = 400
        chains = 2
        diagnostics = "ignore"
    """)
    spec = load_spec(_write(tmp_path, extra=pooling))
    out = run_study(spec, tmp_path / "run", progress=False, figures=False)
    pooled = pd.read_csv(tmp_path / "run" / "pooled.csv")
    assert "output" in pooled.columns and len(pooled) == 4 * len(TASKS)
    assert pooled["condition"].iloc[0] == "gata / GATA@3+ / HepG2"
    w = _weights()
    truth = pd.Series([_true_ace(w, "GATA", int(r.position))[TASKS.index(r.output)]
                       for r in pooled.itertuples()])  # fmt: skip
    # the outputs share one set of backgrounds, so a Monte-Carlo miss of one arm repeats in
    # every output: at most one miss per output, and none beyond 4 posterior SDs
    covered = (pooled["hdi_low"] <= truth) & (truth <= pooled["hdi_high"])
    assert (covered.groupby(pooled["output"]).sum() >= 3).all(), pooled.assign(truth=truth)
    assert ((pooled["post_mean"] - truth).abs() < 4 * pooled["post_sd"]).all()
    # partial pooling: each posterior mean lies between its raw ACE and its output's mean
    centre = pooled.groupby("output")["ace"].transform("mean")
    assert ((pooled["post_mean"] - centre).abs() <= (pooled["ace"] - centre).abs() + 1e-3).all()
    assert "sd_output" in set(out.pooled.hyper["parameter"])
    html = (tmp_path / "run" / "report.html").read_text()
    assert "GATA@3+" in html and "Pooled" in html
