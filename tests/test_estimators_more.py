"""Cluster-robust, permutation, regression-adjusted, stratified and ratio estimators against
their scipy / statsmodels references (1e-10), and their input checks."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy import stats
from statsmodels.stats._delta_method import NonlinearDeltaCov
from statsmodels.stats.multitest import multipletests

from causalgia.engine.declaration import as_model
from causalgia.engine.simulator import simulate
from causalgia.errors import EstimationError, OptionError
from causalgia.experiment.backgrounds import iid
from causalgia.experiment.designs import (
    Arm,
    background_gc,
    design,
    expected_gc,
    gc_strata,
    stratified,
)
from causalgia.experiment.interventions import Substitute
from causalgia.stats.adjustment import (
    estimate_adjusted,
    estimate_ratio,
    estimate_stratified,
    ratio_effect,
    regression_adjusted,
    stratified_mean,
)
from causalgia.stats.estimators import cluster_robust, estimate_ace, paired_t, permutation_test
from causalgia.testing import AdditiveOracle

TOL = 1e-10


def multi_unit_table(n: int = 12, per: int = 4, seed: int = 0) -> pd.DataFrame:
    """Several units (positions) per background with a shared background effect."""
    rng = np.random.default_rng(seed)
    bg = rng.normal(size=n)
    rows = []
    for label, shift in (("a", 0.5), ("b", 0.0)):
        for b in range(n):
            for k in range(per):
                ice = shift + bg[b] + rng.normal(scale=0.5)
                rows.append(
                    {"experiment": "e", "label": label, "background_id": b, "unit": k, "ice": ice}
                )
    t = pd.DataFrame(rows)
    t["y_control"] = 0.0
    t["y_do"] = t["ice"]
    return t


def test_cluster_robust_matches_statsmodels_cluster_ols():
    t = multi_unit_table()
    est = estimate_ace(t, method="cluster").table.set_index("label")
    for label in ("a", "b"):
        sub = t[t["label"] == label]
        fit = sm.OLS(sub["ice"].to_numpy(), np.ones((len(sub), 1))).fit(
            cov_type="cluster", cov_kwds={"groups": sub["background_id"].to_numpy()}, use_t=True
        )
        low, high = fit.conf_int(0.05)[0]
        r = est.loc[label]
        assert r["ace"] == pytest.approx(fit.params[0], abs=TOL)
        assert r["se"] == pytest.approx(fit.bse[0], abs=TOL)
        assert r["ci_low"] == pytest.approx(low, abs=TOL)
        assert r["ci_high"] == pytest.approx(high, abs=TOL)
        assert r["p_value"] == pytest.approx(fit.pvalues[0], abs=TOL)
        assert r["n"] == len(sub)


def test_cluster_robust_with_one_unit_per_cluster_is_the_paired_t():
    x = np.random.default_rng(3).normal(1.0, 2.0, size=17)
    a, b = cluster_robust(x, np.arange(17)), paired_t(x)
    for key in ("ace", "se", "ci_low", "ci_high", "p_value"):
        assert a[key] == pytest.approx(b[key], abs=TOL)


def test_cluster_robust_input_checks():
    with pytest.raises(EstimationError, match="2 clusters"):
        cluster_robust(np.ones(4), np.zeros(4))
    with pytest.raises(EstimationError, match="one cluster label per unit"):
        cluster_robust(np.ones(4), np.zeros(3))
    flat = cluster_robust(np.full(6, 2.0), np.repeat([0, 1, 2], 2))
    assert flat["se"] == 0.0 and flat["ci_low"] == flat["ci_high"] == 2.0
    rand = pd.DataFrame(
        {
            "experiment": "e",
            "label": ["control"] * 3 + ["a"] * 3,
            "background_id": range(6),
            "y": np.arange(6.0),
        }
    )
    with pytest.raises(OptionError, match="cluster"):
        estimate_ace(rand, method="cluster")


def test_sign_flip_test_is_exact_full_enumeration_and_scipy():
    x = np.random.default_rng(1).normal(0.4, 1.0, size=8)
    flips = np.array(list(itertools.product([-1.0, 1.0], repeat=8)))
    null = (flips * x).mean(axis=1)
    obs = x.mean()
    by_hand = min(1.0, 2 * min(np.mean(null >= obs), np.mean(null <= obs)))
    ref = stats.permutation_test(
        (x,), np.mean, permutation_type="samples", n_resamples=np.inf, vectorized=False
    )
    p = permutation_test(x, n_resamples=9999, rng=0)
    assert p == pytest.approx(by_hand, abs=1e-12)
    assert p == pytest.approx(ref.pvalue, abs=1e-12)
    t = pd.DataFrame({"experiment": "e", "label": "a", "background_id": range(8), "ice": x})
    row = estimate_ace(t, method="permutation").table.iloc[0]
    assert row["p_value"] == pytest.approx(by_hand, abs=1e-12)
    assert row["ace"] == pytest.approx(paired_t(x)["ace"], abs=TOL)


def test_two_sample_permutation_test_is_exact():
    rng = np.random.default_rng(2)
    y1, y0 = rng.normal(1.0, 1.0, 5), rng.normal(0.0, 1.0, 4)
    pooled = np.r_[y1, y0]
    diffs = []
    for idx in itertools.combinations(range(9), 5):
        mask = np.zeros(9, dtype=bool)
        mask[list(idx)] = True
        diffs.append(pooled[mask].mean() - pooled[~mask].mean())
    diffs = np.array(diffs)
    obs = y1.mean() - y0.mean()
    by_hand = min(1.0, 2 * min(np.mean(diffs >= obs - 1e-12), np.mean(diffs <= obs + 1e-12)))
    assert permutation_test(y1, y0, rng=0) == pytest.approx(by_hand, abs=1e-12)
    table = pd.DataFrame(
        {
            "experiment": ["control"] * 4 + ["e"] * 5,
            "label": ["control"] * 4 + ["a"] * 5,
            "background_id": range(9),
            "y": np.r_[y0, y1],
        }
    )
    est = estimate_ace(table, method="permutation").table.iloc[0]
    assert est["p_value"] == pytest.approx(by_hand, abs=1e-12)


def test_permutation_monte_carlo_is_keyed_by_seed():
    x = np.random.default_rng(5).normal(0.2, 1.0, size=40)
    t = pd.DataFrame({"experiment": "e", "label": "a", "background_id": range(40), "ice": x})
    a = estimate_ace(t, method="permutation", rng=3, n_resamples=499).table["p_value"][0]
    b = estimate_ace(t.iloc[::-1], method="permutation", rng=3, n_resamples=499).table
    assert a == b["p_value"][0]


def test_regression_adjustment_paired_matches_statsmodels_formula():
    rng = np.random.default_rng(7)
    gc = rng.uniform(0.3, 0.7, 50)
    ice = 1.0 + 4.0 * (gc - 0.5) + rng.normal(0, 0.2, 50)
    t = pd.DataFrame({"experiment": "e", "label": "a", "background_id": range(50), "ice": ice})
    cov = pd.DataFrame({"background_id": range(50), "gc": gc})
    row = estimate_adjusted(t, cov, population_means={"gc": 0.5}).table.iloc[0]
    ref = smf.ols("ice ~ I(gc - 0.5)", data=t.assign(gc=gc)).fit(cov_type="HC3", use_t=True)
    low, high = ref.conf_int(0.05).iloc[0]
    assert row["ace"] == pytest.approx(ref.params.iloc[0], abs=TOL)
    assert row["se"] == pytest.approx(ref.bse.iloc[0], abs=TOL)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high), abs=TOL)
    assert row["p_value"] == pytest.approx(ref.pvalues.iloc[0], abs=TOL)
    assert row["se"] < paired_t(ice)["se"]  # the covariate explains most of the ICE spread


def test_regression_adjustment_randomized_is_lins_estimator():
    rng = np.random.default_rng(8)
    n0, n1 = 30, 25
    z = rng.normal(size=n0 + n1)
    y = np.r_[z[:n0] * 2 + rng.normal(size=n0), 1 + z[n0:] * 3 + rng.normal(size=n1)]
    table = pd.DataFrame(
        {
            "experiment": ["control"] * n0 + ["e"] * n1,
            "label": ["control"] * n0 + ["a"] * n1,
            "background_id": range(n0 + n1),
            "y": y,
        }
    )
    cov = pd.DataFrame({"background_id": range(n0 + n1), "z": z})
    row = estimate_adjusted(table, cov, cov_type="HC2").table.iloc[0]
    frame = pd.DataFrame({"y": y, "t": np.r_[np.zeros(n0), np.ones(n1)], "zc": z - z.mean()})
    ref = smf.ols("y ~ t * zc", data=frame).fit(cov_type="HC2", use_t=True)
    assert row["ace"] == pytest.approx(ref.params["t"], abs=TOL)
    assert row["se"] == pytest.approx(ref.bse["t"], abs=TOL)
    assert (row["n"], row["n_control"]) == (n1, n0)
    assert row["method"] == "regression_hc2"


def test_regression_adjustment_errors_name_the_problem():
    t = pd.DataFrame(
        {"experiment": "e", "label": "a", "background_id": range(6), "ice": np.arange(6.0)}
    )
    cov = pd.DataFrame({"background_id": range(5), "gc": np.linspace(0.3, 0.6, 5)})
    with pytest.raises(EstimationError, match="population_means"):
        estimate_adjusted(t, cov)
    with pytest.raises(EstimationError, match="label 'a'.*background_id 5"):
        estimate_adjusted(t, cov, population_means={"gc": 0.5})
    with pytest.raises(EstimationError, match="lacks covariate"):
        estimate_adjusted(t, cov, population_means={"at": 0.5})
    with pytest.raises(OptionError, match="cov_type"):
        regression_adjusted(np.ones(5), np.ones(5), centers=np.zeros(1), cov_type="HC9")


def test_background_gc_and_expected_gc_feed_the_adjustment():
    bg = iid(60, gc=0.45)
    oracle = AdditiveOracle(np.random.default_rng(1).normal(size=(60, 4)))
    d = design(bg, [Arm("a", Substitute("GATA", 10))], n=80, rng=2)
    res = simulate(as_model(oracle), d, progress=False)
    cov = background_gc(d)
    assert cov.shape == (80, 2) and cov["gc"].between(0, 1).all()
    assert expected_gc(bg) == pytest.approx(0.45)
    est = estimate_adjusted(res, cov, population_means={"gc": expected_gc(bg)})
    assert est.table["n"].iloc[0] == 80
    with pytest.raises(OptionError, match="closed form"):
        from causalgia.experiment.backgrounds import kshuffle

        expected_gc(kshuffle(["ACGTACGT"]))


def test_stratified_mean_matches_hc2_dummy_regression():
    rng = np.random.default_rng(9)
    strata = np.repeat(["lo", "mid", "hi"], [8, 12, 10])
    y = rng.normal(size=30) + (strata == "hi") * 2
    w = {"lo": 0.2, "mid": 0.5, "hi": 0.3}
    r = stratified_mean(y, strata, weights=w)
    frame = pd.DataFrame({"y": y, "s": strata})
    fit = smf.ols("y ~ C(s) - 1", data=frame).fit(cov_type="HC2")
    vec = np.array([w[name.split("[")[1].rstrip("]")] for name in fit.params.index])
    assert r["ace"] == pytest.approx(vec @ fit.params.to_numpy(), abs=TOL)
    assert r["se"] == pytest.approx(np.sqrt(vec @ fit.cov_params().to_numpy() @ vec), abs=TOL)
    with pytest.raises(EstimationError, match="sum to 1"):
        stratified_mean(y, strata, weights={"lo": 0.5, "mid": 0.5, "hi": 0.5})
    with pytest.raises(EstimationError, match="at least 2"):
        stratified_mean(np.ones(3), np.array(["a", "a", "b"]))


def test_gc_strata_allocate_proportionally_and_estimate_stratified():
    bg = gc_strata(40, gc_levels=(0.3, 0.7), weights=(0.25, 0.75))
    ids = np.arange(4000)
    share = np.mean(bg.strata(ids) == "gc0.3")
    assert share == pytest.approx(0.25, abs=0.005)
    codes = bg.generate(ids[:400], 3)
    gc = ((codes == 1) | (codes == 2)).mean(axis=1)
    low = bg.strata(ids[:400]) == "gc0.3"
    assert gc[low].mean() == pytest.approx(0.3, abs=0.02)
    assert gc[~low].mean() == pytest.approx(0.7, abs=0.02)
    assert np.array_equal(bg.generate(ids[10:20], 3), codes[10:20])  # keyed by id
    assert expected_gc(bg) == pytest.approx(0.6)
    oracle = AdditiveOracle(np.random.default_rng(2).normal(size=(40, 4)))
    d = design(bg, [Arm("a", Substitute("GATA", 5))], n=200, rng=4)
    res = simulate(as_model(oracle), d, progress=False)
    strata_table = background_gc(d)
    est = estimate_stratified(res, strata_table, weights={"gc0.3": 0.25, "gc0.7": 0.75})
    truth = 0.25 * oracle.true_ace(Substitute("GATA", 5), iid(40, gc=0.3)) + 0.75 * (
        oracle.true_ace(Substitute("GATA", 5), iid(40, gc=0.7))
    )
    row = est.table.iloc[0]
    assert row["ci_low"] - 3 * row["se"] <= truth <= row["ci_high"] + 3 * row["se"]
    with pytest.raises(OptionError, match="weights"):
        stratified({"a": iid(5), "b": iid(5)}, weights={"a": 1.0})
    with pytest.raises(OptionError, match="length"):
        stratified({"a": iid(5), "b": iid(6)})


def test_ratio_delta_method_matches_statsmodels_nonlinear_delta():
    rng = np.random.default_rng(11)
    y0 = rng.gamma(5.0, 1.0, 40)
    y1 = y0 * 1.5 + rng.normal(0, 0.5, 40)
    r = ratio_effect(y1, y0, scale="log")
    means = np.array([y1.mean(), y0.mean()])
    cov = np.cov(np.vstack([y1, y0]), ddof=1) / 40
    ref = NonlinearDeltaCov(lambda p: np.log(p[0] / p[1]), means, cov)
    assert r["ace"] == pytest.approx(np.log(means[0] / means[1]), abs=TOL)
    assert r["se"] == pytest.approx(float(np.sqrt(ref.cov())), abs=TOL)
    unpaired = ratio_effect(y1, y0[:30], paired=False, scale="log2")
    cov_u = np.diag([y1.var(ddof=1) / 40, y0[:30].var(ddof=1) / 30])
    ref_u = NonlinearDeltaCov(
        lambda p: np.log2(p[0] / p[1]), np.array([y1.mean(), y0[:30].mean()]), cov_u
    )
    assert unpaired["se"] == pytest.approx(float(np.sqrt(ref_u.cov())), abs=TOL)
    ratio = ratio_effect(y1, y0, scale="ratio")
    assert ratio["ci_low"] == pytest.approx(np.exp(r["ci_low"]), abs=TOL)


def test_ratio_bootstrap_is_scipy_bootstrap_on_the_same_stream():
    rng = np.random.default_rng(12)
    y0 = rng.gamma(4.0, 1.0, 25)
    y1 = y0 * 2 + rng.normal(0, 0.3, 25)
    r = ratio_effect(
        y1, y0, interval="bootstrap_bca", n_resamples=999, rng=np.random.default_rng(1)
    )
    ref = stats.bootstrap(
        (y1, y0),
        lambda a, b, axis=-1: np.log(a.mean(axis) / b.mean(axis)),
        paired=True,
        n_resamples=999,
        method="BCa",
        rng=np.random.default_rng(1),
    )
    assert (r["ci_low"], r["ci_high"]) == pytest.approx(tuple(ref.confidence_interval), abs=TOL)


def test_estimate_ratio_tables_and_errors():
    t = pd.DataFrame(
        {
            "experiment": "e",
            "label": ["a"] * 4 + ["b"] * 4,
            "background_id": list(range(4)) * 2,
            "y_control": [1.0, 2.0, 3.0, 4.0] * 2,
            "y_do": [2.0, 4.0, 6.5, 8.0, -1.0, -2.0, -3.0, -4.0],
        }
    )
    t["ice"] = t["y_do"] - t["y_control"]
    with pytest.raises(EstimationError, match="experiment 'e', label 'b'.*positive means"):
        estimate_ratio(t)
    ok = estimate_ratio(t[t["label"] == "a"], scale="ratio").table.iloc[0]
    assert ok["ace"] == pytest.approx(20.5 / 10.0)
    assert ok["method"] == "ratio_ratio_delta"


def test_by_q_values_are_grouped_by_experiment():
    rng = np.random.default_rng(4)
    frames = []
    for e in ("e1", "e2"):
        for k in range(5):
            frames.append(
                pd.DataFrame(
                    {
                        "experiment": e,
                        "label": f"l{k}",
                        "background_id": range(12),
                        "ice": rng.normal(0.3 * k, 1.0, 12),
                    }
                )
            )
    est = estimate_ace(pd.concat(frames), multiple_testing="fdr_by").table
    for e, sub in est.groupby("experiment"):
        ref = multipletests(sub["p_value"], method="fdr_by")[1]
        assert np.array_equal(sub["q_value"].to_numpy(), ref), e
