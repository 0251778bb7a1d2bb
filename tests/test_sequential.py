"""Sequential stopping: the confidence sequence, its time-uniform coverage, the id-range
simulation it is built on, and the stopping rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from causalgia.analyses.sequential import simulate_range, simulate_until
from causalgia.engine.declaration import as_model
from causalgia.engine.simulator import simulate
from causalgia.errors import OptionError
from causalgia.experiment.backgrounds import iid
from causalgia.experiment.designs import Arm, design, sweep_positions
from causalgia.experiment.interventions import Identity, Mutate, Substitute
from causalgia.stats.stopping import (
    confidence_sequence,
    cs_radius,
    fixed_n_for_width,
    mixture_rho2,
    stein_n,
)
from causalgia.testing import AdditiveOracle

ORACLE = AdditiveOracle(np.random.default_rng(0).normal(size=(30, 4)))
ARMS = [Arm("pwm", Substitute("GATA", 12)), Arm("m3", Mutate(3, "G")), Arm("m20", Mutate(20, "A"))]


def test_radius_is_the_normal_mixture_boundary():
    alpha, t_star = 0.05, 200.0
    rho2 = mixture_rho2(alpha, t_star)
    assert rho2 == pytest.approx((-2 * np.log(alpha) + np.log(-2 * np.log(alpha) + 1)) / t_star)
    t = np.array([10.0, 200.0, 5000.0])
    expected = np.sqrt(2 * (t * rho2 + 1) / (t**2 * rho2) * np.log(np.sqrt(t * rho2 + 1) / alpha))
    assert cs_radius(2.0, t, alpha=alpha, rho2=rho2) == pytest.approx(2.0 * expected, rel=1e-12)
    z = stats.norm.ppf(0.975)
    ratio = cs_radius(1.0, t_star, alpha=alpha, rho2=rho2) * np.sqrt(t_star) / z
    assert 1.4 < ratio < 1.6  # the price of anytime validity near t*


def test_confidence_sequence_columns_and_running_values():
    x = np.random.default_rng(1).normal(0.5, 1.0, 300)
    cs = confidence_sequence(x, t_star=100, start=5)
    assert list(cs.columns) == ["t", "mean", "sd", "radius", "lower", "upper", "p_value"]
    assert cs["t"].iloc[0] == 5 and len(cs) == 296
    row = cs.iloc[-1]
    assert row["mean"] == pytest.approx(x.mean()) and row["sd"] == pytest.approx(x.std(ddof=1))
    assert np.all(np.diff(cs["p_value"]) <= 0)  # anytime p-values only decrease
    assert row["p_value"] < 1e-6


def test_time_uniform_coverage_on_gaussian_streams():
    rng = np.random.default_rng(2)
    paths, horizon = 2000, 400
    x = rng.normal(0.0, 1.0, (paths, horizon))
    t = np.arange(1, horizon + 1)
    mean = np.cumsum(x, axis=1) / t
    sd = np.sqrt((np.cumsum(x**2, axis=1) - t * mean**2) / np.maximum(t - 1, 1))
    rho2 = mixture_rho2(0.05, 100)
    radius = cs_radius(sd, t, alpha=0.05, rho2=rho2)
    ever_missed = (np.abs(mean[:, 19:]) > radius[:, 19:]).any(axis=1)  # every look from t = 20
    assert ever_missed.mean() < 0.05 + 3 * np.sqrt(0.05 * 0.95 / paths)
    fixed = np.abs(mean[:, 19:]) > stats.t.ppf(0.975, t[19:] - 1) * sd[:, 19:] / np.sqrt(t[19:])
    assert fixed.any(axis=1).mean() > 0.3  # peeking at a fixed-n t interval breaks coverage


def test_simulate_range_equals_the_slice_of_a_fixed_design():
    full = simulate(as_model(ORACLE), design(iid(30), ARMS, n=70, rng=5), progress=False).table
    part, used = simulate_range(ORACLE, iid(30), ARMS, start=40, stop=70, rng=5)
    ref = full[full["background_id"] >= 40].reset_index(drop=True)
    pd.testing.assert_frame_equal(part.reset_index(drop=True), ref)
    assert 30 <= used <= 30 * 4


@pytest.mark.parametrize("rule", ["two_stage", "mixture"])
def test_simulate_until_stops_each_arm_and_matches_the_fixed_design_rows(rule):
    kw = {"half_width": 0.6, "batch": 20, "rng": 7, "max_n": 2000, "rule": rule}
    res = simulate_until(ORACLE, iid(30), ARMS, **kw)
    est = res.estimates.table.set_index("label")
    assert (est["stopped"] == "target").all()
    assert (est["half_width"] <= 0.6).all()
    assert est.loc["pwm", "n"] > est.loc["m3", "n"]  # the noisy arm needs more backgrounds
    n_total = int(res.rounds["n_backgrounds"].iloc[-1])
    full = simulate(as_model(ORACLE), design(iid(30), ARMS, n=n_total, rng=7), progress=False).table
    for label, n in est["n"].items():
        mine = res.table[res.table["label"] == label].sort_values("background_id")
        ref = full[(full["label"] == label) & (full["background_id"] < n)]
        assert np.array_equal(mine["ice"].to_numpy(), ref["ice"].to_numpy())
    assert res.n_forward == int(res.rounds["n_forward"].iloc[-1])
    assert res.saved == res.n_forward_fixed - res.n_forward
    assert "forward passes" in res.summary() and "saved" in res.summary()
    again = simulate_until(ORACLE, iid(30), ARMS, **kw)
    assert again.estimates.table.equals(res.estimates.table)
    assert (
        est["method"] == {"two_stage": "two_stage", "mixture": "confidence_sequence"}[rule]
    ).all()


@pytest.mark.parametrize("rule", ["two_stage", "mixture"])
def test_budgets_and_options(rule):
    res = simulate_until(
        ORACLE, iid(30), ARMS, half_width=0.01, batch=10, max_n=50, rng=1, rule=rule
    )
    assert (res.estimates.table["stopped"] == "budget").all()
    assert int(res.rounds["n_backgrounds"].iloc[-1]) == 50
    capped = simulate_until(
        ORACLE, iid(30), ARMS, half_width=0.01, batch=10, max_forward=100, rng=1, rule=rule
    )
    assert capped.n_forward <= 100
    with pytest.raises(OptionError, match="first round"):
        simulate_until(ORACLE, iid(30), ARMS, half_width=0.1, batch=10, max_forward=20)
    with pytest.raises(OptionError, match="no target"):
        simulate_until(ORACLE, iid(30), ARMS, half_width={"pwm": 0.1})
    per_arm = simulate_until(
        ORACLE, iid(30), ARMS, half_width={"pwm": 2.0, "m3": 0.5, "m20": 0.5}, batch=10, rng=3
    )
    assert per_arm.estimates.table.set_index("label").loc["pwm", "target"] == 2.0
    placebo = simulate_until(
        ORACLE, iid(30), [Arm("p", Identity())], half_width=0.1, rng=1, rule=rule
    )
    row = placebo.estimates.table.iloc[0]
    assert row["ace"] == 0.0 and row["ci_low"] == row["ci_high"] == 0.0
    assert placebo.n_forward == 50  # only the controls of the first round
    with pytest.raises(OptionError, match="rule must be one of"):
        simulate_until(ORACLE, iid(30), ARMS, half_width=0.1, rule="peek")


def test_fixed_n_for_width_is_the_smallest_such_n():
    for sd, h in ((1.0, 0.2), (3.0, 0.5), (0.5, 0.9)):
        n = fixed_n_for_width(sd, h)
        assert stats.t.ppf(0.975, n - 1) * sd / np.sqrt(n) <= h
        if n > 2:
            assert stats.t.ppf(0.975, n - 2) * sd / np.sqrt(n - 1) > h


def test_coverage_smoke_on_a_sweep():
    arms = sweep_positions("GATA", [4, 20])
    truth = np.array([ORACLE.true_ace(a.intervention, iid(30)) for a in arms])
    hits = []
    for r in range(15):
        t = simulate_until(ORACLE, iid(30), arms, half_width=0.8, batch=20, rng=100 + r)
        e = t.estimates.table
        hits += list((e["ci_low"] <= truth) & (truth <= e["ci_high"]))
    assert np.mean(hits) >= 0.9


def test_two_stage_interval_is_steins_rule_recomputed_from_the_table():
    n0, h = 40, 0.5
    res = simulate_until(ORACLE, iid(30), ARMS, half_width=h, first=n0, batch=15, rng=11)
    est = res.estimates.table.set_index("label")
    q = stats.t.ppf(0.975, n0 - 1)
    for label, row in est.iterrows():
        x = res.table[res.table["label"] == label].sort_values("background_id")["ice"].to_numpy()
        s0 = x[:n0].std(ddof=1)
        planned = max(n0, int(np.ceil((q * s0 / h) ** 2)))
        assert planned <= x.size <= planned + 1  # a round holds at least two backgrounds
        assert row["n"] == x.size and row["stopped"] == "target"
        assert row["ace"] == pytest.approx(x.mean(), rel=1e-12)
        assert row["half_width"] == pytest.approx(q * s0 / np.sqrt(x.size), rel=1e-12)
        assert row["half_width"] <= h
        assert row["ci_low"] == pytest.approx(x.mean() - row["half_width"], rel=1e-12)
        tstat = x.mean() / (s0 / np.sqrt(x.size))
        assert row["p_value"] == pytest.approx(2 * stats.t.sf(abs(tstat), n0 - 1), rel=1e-10)
    assert stein_n(float(x[:n0].std(ddof=1)), h, n0) == planned


def test_two_stage_budget_keeps_the_pilot_sd_and_is_wider():
    res = simulate_until(ORACLE, iid(30), ARMS, half_width=0.05, first=30, max_n=60, rng=2)
    est = res.estimates.table
    assert (est["stopped"] == "budget").all() and (est["n"] == 60).all()
    assert (est["half_width"] > 0.05).all()


def test_two_stage_pivot_is_t_with_pilot_df_and_coverage_is_nominal():
    """Stein's pivot (mean − ACE)·√n / s0 is t with n0 − 1 df for normal ICEs, whatever n the
    pilot chose. One near-normal arm (a sum of four discrete weights), R = 1,000 runs: the KS
    test against t_19 and the coverage of the 95% intervals (band ±3 MCSE)."""
    arm = [Arm("pwm", Substitute("GATA", 12))]
    truth = ORACLE.true_ace(arm[0].intervention, iid(30))
    pivots, hits = [], []
    for r in range(1000):
        res = simulate_until(ORACLE, iid(30), arm, half_width=0.35, first=20, batch=200, rng=r)
        row = res.estimates.table.iloc[0]
        pivots.append((row["ace"] - truth) / row["se"])
        hits.append(row["ci_low"] <= truth <= row["ci_high"])
    assert stats.kstest(pivots, stats.t(19).cdf).pvalue >= 0.001
    assert abs(np.mean(hits) - 0.95) <= 3 * np.sqrt(0.05 * 0.95 / 1000)
