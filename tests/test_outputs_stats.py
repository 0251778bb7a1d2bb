"""Every stats verb works per output (issue 12, item 3): contrasts, planning and sequential
stopping on the table of a model with several declared outputs give, for each output, exactly
the result of the single-output study of that output, with an ``output`` column after the key
columns; simulate_until stops only when every (arm, output) interval is narrow enough and pays
the forward passes of one output."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from causalgia.analyses import simulate_until
from causalgia.engine import as_model, simulate
from causalgia.errors import EstimationError, OptionError
from causalgia.experiment.backgrounds import iid
from causalgia.experiment.designs import Arm, design, sweep_positions
from causalgia.experiment.interventions import Identity, Substitute
from causalgia.stats import contrasts as C
from causalgia.stats import estimate_ace, plan_sample_size
from causalgia.stats.outputs import per_output, split_outputs, stack_outputs
from causalgia.testing import PlantedRBPOracle
from causalgia.validation import contrast_arms

TASKS = ["planted", "null"]
PLANTED = PlantedRBPOracle(helical=0.15)
NULL = PlantedRBPOracle.without_mechanisms()


def rbp_tasks(x: np.ndarray) -> np.ndarray:
    """Two tasks of one forward pass: the planted RBP oracle and the one without mechanisms."""
    return np.column_stack([PLANTED(x), 0.5 * NULL(x)])


def _rbp(**declared):
    return as_model(rbp_tasks, layout="NCL", alphabet="rna", name="rbp_tasks", **declared)


@pytest.fixture(scope="module")
def rbp():
    arms = contrast_arms() + sweep_positions("UGCAUG", [10, 40, 75])
    d = design(iid(100, alphabet="rna"), arms, n=40, rng=11)
    multi = simulate(_rbp(outputs="tasks", task_names=TASKS), d, progress=False)
    single = {t: simulate(_rbp(output=i), d, progress=False) for i, t in enumerate(TASKS)}
    return multi, single


def _mine(frame: pd.DataFrame, task: str) -> pd.DataFrame:
    return frame[frame["output"] == task].drop(columns="output").reset_index(drop=True)


def _same_per_output(multi: pd.DataFrame, single: dict, key: str) -> None:
    """``multi`` has an output column right after ``key``, outputs in the order of ``single``,
    and each output's rows equal its single-output frame bit for bit."""
    cols = list(multi.columns)
    assert cols[cols.index(key) + 1] == "output"
    assert multi["output"].drop_duplicates().tolist() == list(single)
    for task in single:
        pd.testing.assert_frame_equal(_mine(multi, task), single[task], check_exact=True)


VERBS = {
    "contrast": lambda r: C.contrast(r, {"A+B": 1.0, "A": -1.0}, experiment="pair"),
    "interaction": lambda r: C.interaction(r, "A", "B", "A+B", experiment="pair"),
    "spacing_penalty": lambda r: C.spacing_penalty(r, close=2),
    "periodicity": lambda r: C.periodicity(r, min_spacing=6),
    "heterogeneity": lambda r: C.heterogeneity(r, experiment="position", by="position"),
    "fit_factorial": lambda r: C.fit_factorial(r, ["A", "B"], experiment="pair"),
}


@pytest.mark.parametrize("verb", list(VERBS))
def test_each_contrast_equals_its_single_output_study(rbp, verb):
    multi, single = rbp
    res = VERBS[verb](multi)
    alone = {t: VERBS[verb](single[t]).table for t in TASKS}
    _same_per_output(res.table, alone, "contrast")
    assert res.ci == 0.95 and len(res) == sum(len(a) for a in alone.values())
    assert "over 2 outputs" in repr(res) and "[planted]" in res.summary()
    assert "<td" in res._repr_html_() and "output" in res._repr_html_()


def test_q_values_are_adjusted_within_each_output(rbp):
    multi, single = rbp
    res = C.spacing_curve(multi, close=2, min_spacing=6).tests.table
    for task in TASKS:
        mine = res[res["output"] == task]
        assert mine["q_value"].tolist() == (
            C.spacing_curve(single[task], close=2, min_spacing=6).tests.table["q_value"].tolist()
        )
    # the planted mechanisms are found in the planted output only
    assert (res.loc[res["output"] == "planted", "p_value"] < 1e-6).all()
    inter = C.interaction(multi, "A", "B", "A+B", experiment="pair").table.set_index("output")
    assert inter.loc["planted", "p_value"] < 1e-6 and inter.loc["null", "estimate"] == 0.0


def test_additivity_per_output_shares_one_bootstrap_seed(rbp):
    multi, single = rbp
    res = C.additivity(multi, n_resamples=30, rng=5)
    alone = {t: C.additivity(single[t], n_resamples=30, rng=5) for t in TASKS}
    _same_per_output(res.curve, {t: a.curve for t, a in alone.items()}, "label")
    _same_per_output(res.fit, {t: a.fit for t, a in alone.items()}, "parameter")
    _same_per_output(
        res.contrasts.table, {t: a.contrasts.table for t, a in alone.items()}, "contrast"
    )
    pd.testing.assert_frame_equal(res.to_frame(), res.contrasts.table, check_exact=True)
    text = repr(res)
    assert "3 counts over 2 outputs" in text and "[null]" in text
    assert res.summary().count("saturation fit: [") == 2
    assert res._repr_html_().count("<table") == 3


@pytest.mark.parametrize("verb", ["positional", "spacing"])
def test_curves_per_output(rbp, verb):
    multi, single = rbp
    run = (
        (lambda r: C.positional_curve(r))
        if verb == "positional"
        else (lambda r: C.spacing_curve(r, close=2, min_spacing=6))
    )
    res = run(multi)
    alone = {t: run(single[t]) for t in TASKS}
    _same_per_output(res.curve, {t: a.curve for t, a in alone.items()}, "label")
    _same_per_output(res.tests.table, {t: a.tests.table for t, a in alone.items()}, "contrast")
    points = len(alone["null"].curve)
    assert f"{points} points over 2 outputs" in repr(res) and res.x == alone["null"].x
    assert res.summary().startswith(f"CurveResult over {res.x}: {points} points over 2 outputs")


def test_ice_matrix_picks_one_output_and_never_averages_outputs(rbp):
    multi, single = rbp
    labels = ["A", "B", "A+B"]
    for task in TASKS:
        ids, m = C.ice_matrix(multi, labels, experiment="pair", output=task)
        ids1, m1 = C.ice_matrix(single[task], labels, experiment="pair")
        assert np.array_equal(ids, ids1) and np.array_equal(m, m1)
    with pytest.raises(EstimationError, match=r"2 outputs \['planted', 'null'\].*output="):
        C.ice_matrix(multi, labels, experiment="pair")
    with pytest.raises(EstimationError, match="output 'other' not found"):
        C.ice_matrix(multi, labels, experiment="pair", output="other")
    with pytest.raises(OptionError, match="no output column"):
        C.ice_matrix(single["null"], labels, experiment="pair", output="null")


def test_contrast_errors_name_the_problem_for_every_output(rbp):
    multi, _ = rbp
    with pytest.raises(EstimationError, match="label\\(s\\) \\['nope'\\] not found"):
        C.contrast(multi, {"nope": 1.0}, experiment="pair")
    with pytest.raises(OptionError, match="at least one weighted label"):
        C.contrast(multi, {}, experiment="pair")


def test_estimate_ace_bootstrap_per_output_equals_single_output_with_the_same_seed(rbp):
    multi, single = rbp
    pair = multi.table[multi.table["experiment"] == "pair"]
    est = estimate_ace(pair, method="bootstrap_percentile", n_resamples=60, rng=9).table
    for task in TASKS:
        one = single[task].table
        alone = estimate_ace(
            one[one["experiment"] == "pair"].reset_index(drop=True),
            method="bootstrap_percentile", n_resamples=60, rng=9,
        ).table  # fmt: skip
        pd.testing.assert_frame_equal(_mine(est, task), alone, check_exact=True)


def test_output_helpers():
    t = pd.DataFrame({"label": ["a", "b", "a"], "output": ["y", "x", "x"], "ice": [1.0, 2.0, 3.0]})
    parts = split_outputs(t)
    assert [name for name, _ in parts] == ["y", "x"]  # order of first appearance
    assert parts[1][1].index.tolist() == [0, 1] and "output" not in parts[1][1]
    sums = per_output(t, lambda part: part[["label", "ice"]].groupby("label").sum().reset_index())
    stacked = stack_outputs(sums, after="label")
    assert stacked.columns.tolist() == ["label", "output", "ice"]
    assert stacked["ice"].tolist() == [1.0, 3.0, 2.0]
    with pytest.raises(EstimationError, match="no 'output' column"):
        split_outputs(t.drop(columns="output"))
    with pytest.raises(EstimationError, match="no rows"):
        split_outputs(t.iloc[:0])
    with pytest.raises(EstimationError, match="already has an output column"):
        stack_outputs([("x", t)], after="label")


# planning -----------------------------------------------------------------------------------

WEIGHTS = np.random.default_rng(7).normal(size=(2, 4, 30))
WEIGHTS[0] *= 0.2  # a quiet task
WEIGHTS[1] *= 3.0  # a noisy one: its ICEs vary 15 times as much


def linear_tasks(x: np.ndarray) -> np.ndarray:
    """Two linear tasks of one forward pass, f_t(x) = Σ W_t · x, on (N, 4, 30) one-hot."""
    return np.einsum("ncl,tcl->nt", np.asarray(x, dtype=np.float64), WEIGHTS)


LINEAR = ["quiet", "noisy"]


def _linear(**declared):
    return as_model(linear_tasks, layout="NCL", name="linear_tasks", **declared)


PLAN_ARMS = [
    Arm("a", Substitute("GATA", 3)),
    Arm("b", Substitute("TTGCA", 15)),
    Arm("p", Identity()),
]


@pytest.mark.parametrize("target", [{"half_width": 0.4}, {"mde": 0.5, "power": 0.9}])
def test_plan_per_output_and_n_is_the_largest(target):
    d = design(iid(30), PLAN_ARMS, n=30, rng=3)
    multi = simulate(_linear(outputs="tasks", task_names=LINEAR), d, progress=False)
    alone = {
        t: plan_sample_size(simulate(_linear(output=i), d, progress=False), **target)
        for i, t in enumerate(LINEAR)
    }
    plan = plan_sample_size(multi, **target)
    _same_per_output(plan.table, {t: p.table for t, p in alone.items()}, "label")
    assert plan.outputs == tuple(LINEAR)
    assert plan.n == max(p.n for p in alone.values()) == alone["noisy"].n > alone["quiet"].n
    # one forward pass serves both outputs: control + the two arms that edit (not Identity)
    assert plan.n_forward == plan.n * 3 == alone["noisy"].n_forward
    assert plan.n_forward_unpaired == max(p.n_forward_unpaired for p in alone.values())
    text = plan.summary()
    assert "largest over 2 outputs" in text and f"noisy n={plan.n:,}" in text
    assert sum("[quiet]: sd(ICE)" in line for line in text.splitlines()) == len(PLAN_ARMS)


# sequential stopping ------------------------------------------------------------------------


@pytest.mark.parametrize("rule", ["two_stage", "mixture"])
def test_simulate_until_stops_when_every_output_is_narrow_enough(rule):
    arms = sweep_positions("GATA", [3, 15])
    run = {"half_width": 0.5, "rule": rule, "batch": 50, "rng": 4, "max_n": 5_000}
    multi = simulate_until(_linear(outputs="tasks", task_names=LINEAR), iid(30), arms, **run)
    alone = {
        t: simulate_until(_linear(output=i), iid(30), arms, **run) for i, t in enumerate(LINEAR)
    }
    est = multi.estimates.table
    assert list(est.columns[:3]) == ["experiment", "label", "output"]
    assert est["output"].tolist() == ["quiet", "quiet", "noisy", "noisy"]
    assert (est["stopped"] == "target").all() and (est["half_width"] <= 0.5).all()
    # the quiet output is precise after the first round, the noisy one needs many more
    # backgrounds: the run goes on until the noisy output's intervals are narrow enough too
    assert (alone["quiet"].estimates.table["n"] == 50).all()
    assert (est.loc[est["output"] == "noisy", "n"] > 200).all()
    assert multi.rounds["n_backgrounds"].iloc[-1] == alone["noisy"].rounds["n_backgrounds"].iloc[-1]
    # each (arm, output) stream is the stream of its single-output run, bit for bit
    _same_per_output(est, {t: a.estimates.table for t, a in alone.items()}, "label")
    pd.testing.assert_frame_equal(multi.rounds, alone["noisy"].rounds, check_exact=True)
    # T outputs cost the forward passes of one
    assert multi.n_forward == alone["noisy"].n_forward > alone["quiet"].n_forward
    assert multi.n_fixed == alone["noisy"].n_fixed
    assert multi.n_forward_fixed == alone["noisy"].n_forward_fixed
    # the ICE table: output by output; every evaluated unit of every output
    table = multi.table
    assert table["output"].drop_duplicates().tolist() == LINEAR
    pd.testing.assert_frame_equal(_mine(table, "noisy"), alone["noisy"].table, check_exact=True)
    quiet = _mine(table, "quiet")
    assert len(quiet) == len(alone["noisy"].table)
    first = quiet[quiet["background_id"] < 50].reset_index(drop=True)
    pd.testing.assert_frame_equal(first, alone["quiet"].table, check_exact=True)
    # q-values within output and experiment
    for task in LINEAR:
        assert (
            _mine(est, task)["q_value"].tolist() == alone[task].estimates.table["q_value"].tolist()
        )


def test_simulate_until_budget_cuts_the_noisy_output_only():
    arms = sweep_positions("GATA", [3, 15])
    model = _linear(outputs="tasks", task_names=LINEAR)
    res = simulate_until(model, iid(30), arms, half_width=0.5, batch=50, max_n=100, rng=4)
    est = res.estimates.table.set_index("output")
    assert (est.loc["quiet", "stopped"] == "target").all()
    assert (est.loc["noisy", "stopped"] == "budget").all()
    assert (est.loc["noisy", "half_width"] > 0.5).all()
    assert (est.loc["noisy", "n"] == 100).all() and (est.loc["quiet", "n"] == 50).all()
    assert res.rounds["active_arms"].tolist() == [2, 0]  # after each round
    # the budget of forward passes counts each sequence once, whatever the number of outputs
    with pytest.raises(OptionError, match="does not cover the first round"):
        simulate_until(model, iid(30), arms, half_width=0.5, batch=50, max_forward=149, rng=4)
    ok = simulate_until(model, iid(30), arms, half_width=0.5, batch=50, max_forward=150, rng=4)
    assert ok.n_forward <= 150 and len(ok.rounds) == 1
