"""Concordance that composition cannot fool (issue 13): exactness of the pieces against scipy and
statsmodels, and simulations where the truth is planted.

Simulation model: items fall in six composition strata; predicted and measured values share a
stratum effect (composition) and, within strata, a bivariate normal pair with correlation r. The
within-stratum Spearman correlation is then (6/π)·asin(r/2) (Pearson 1907), which the
stratified and partial Spearman must recover; with r = 0 all the raw concordance is
composition and they must report about 0.
"""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats

from causalgia.errors import EstimationError, OptionError
from causalgia.lab import (
    composition,
    controlled_concordance,
    gc_count,
    partial_spearman,
    stratified_spearman,
    top_k_overlap,
)
from causalgia.lab.composition import _Prepared, group_ranks


def _items(r: float, n: int = 1200, seed: int = 0, composition_sd: float = 1.5):
    gen = np.random.default_rng(seed)
    strata = gen.integers(0, 6, n)
    effect = composition_sd * strata
    e = gen.multivariate_normal([0.0, 0.0], [[1.0, r], [r, 1.0]], size=n)
    return effect + e[:, 0], effect + e[:, 1], strata


def _spearman_truth(r: float) -> float:
    return 6 / np.pi * np.arcsin(r / 2)


def test_composition_helpers():
    assert gc_count(["GCUGG", "AUAUA", "gcaT"]).tolist() == [4, 0, 2]
    c = composition(["GCTGG", "AUAU"])
    assert c.loc[0, ["length", "gc_count", "g", "u"]].tolist() == [5, 4, 3, 1]
    assert c.loc[1, "gc_fraction"] == 0.0


def test_group_ranks_match_scipy_within_each_group():
    gen = np.random.default_rng(1)
    v = np.round(gen.normal(size=500), 1)  # many ties
    g = gen.integers(0, 7, 500)
    ref = np.empty(500)
    for s in range(7):
        ref[g == s] = stats.rankdata(v[g == s])
    np.testing.assert_array_equal(group_ranks(v, g), ref)
    np.testing.assert_array_equal(group_ranks(v), stats.rankdata(v))


def test_stratified_spearman_is_the_size_weighted_mean_of_scipy_per_stratum():
    x, y, strata = _items(0.4, n=300, seed=2)
    rho, table = stratified_spearman(x, y, strata)
    per = [stats.spearmanr(x[strata == s], y[strata == s]).statistic for s in range(6)]
    sizes = [np.sum(strata == s) for s in range(6)]
    assert rho == pytest.approx(np.average(per, weights=sizes), abs=1e-12)
    assert table["n"].tolist() == sizes and table["used"].all()
    prep = _Prepared.build(strata, np.zeros((300, 0)), top_k=10, min_stratum=3)
    assert prep.statistics(x, y)[1] == pytest.approx(rho, abs=1e-12)  # the fast path
    # a stratum that is too small or constant is left out and marked
    strata2 = strata.copy()
    strata2[:2] = 9
    x2 = x.copy()
    x2[strata2 == 0] = 1.0
    rho2, table2 = stratified_spearman(x2, y, strata2)
    assert table2.set_index("stratum").loc[[0, 9], "used"].tolist() == [False, False]
    assert np.isfinite(rho2)


def test_partial_spearman_matches_statsmodels_residuals():
    gen = np.random.default_rng(3)
    c = gen.normal(size=(400, 2))
    x = c @ [1.0, -0.5] + gen.normal(size=400)
    y = c @ [0.5, 1.0] + 0.3 * x + gen.normal(size=400)
    r, p = partial_spearman(x, y, c)
    ranks = np.column_stack([stats.rankdata(col) for col in c.T])
    design = sm.add_constant(ranks)
    ex = sm.OLS(stats.rankdata(x), design).fit().resid
    ey = sm.OLS(stats.rankdata(y), design).fit().resid
    ref = stats.pearsonr(ex, ey).statistic
    assert r == pytest.approx(ref, abs=1e-10)
    df = 400 - 2 - 2
    assert p == pytest.approx(2 * stats.t.sf(abs(ref) * np.sqrt(df / (1 - ref**2)), df), rel=1e-8)


def test_top_k_overlap_and_its_hypergeometric_p():
    x = np.arange(100.0)
    y = x.copy()
    y[[99, 98]] = [0.5, 0.25]  # two of the model's top 10 are not in the lab's
    m, expected, p = top_k_overlap(x, y, k=10)
    assert (m, expected) == (8, 1.0)
    assert p == pytest.approx(stats.hypergeom.sf(7, 100, 10, 10))
    with pytest.raises(OptionError, match="exceeds"):
        top_k_overlap(x, y, k=101)


def test_a_planted_within_strata_correlation_is_recovered():
    r = 0.5
    x, y, strata = _items(r, seed=4)
    c = controlled_concordance(x, y, strata=strata, n_resamples=400, n_permutations=400, rng=0)
    truth = _spearman_truth(r)
    for stat in ("stratified_spearman", "partial_spearman"):
        row = c.table.set_index(["model", "statistic"]).loc[("model", stat)]
        assert row["ci_low"] < truth < row["ci_high"], (stat, row)
        assert abs(row["estimate"] - truth) < 0.06
        assert row["p_permutation"] < 0.01 and abs(row["null_mean"]) < 0.02
    assert c.survives and c.specific is None
    assert "survives the composition control" in c.verdict
    assert c["model", "spearman"] > 0.8  # raw Spearman mixes in the composition


def test_all_composition_gives_about_zero_and_does_not_survive():
    x, y, strata = _items(0.0, seed=6)
    c = controlled_concordance(x, y, strata=strata, n_resamples=400, n_permutations=400, rng=0)
    t = c.table.set_index(["model", "statistic"])
    assert t.loc[("model", "spearman"), "estimate"] > 0.7
    for stat in ("stratified_spearman", "partial_spearman"):  # SE about 1/sqrt(n) = 0.029
        assert abs(t.loc[("model", stat), "estimate"]) < 3.5 / np.sqrt(1200)
        assert t.loc[("model", stat), "ci_low"] < 0 < t.loc[("model", stat), "ci_high"]
    raw = t.loc[("model", "spearman")]
    assert raw["null_low"] <= raw["estimate"] <= raw["null_high"]  # composition alone gives it
    assert not c.survives and "does NOT survive" in c.verdict


def test_stratified_spearman_averages_about_zero_over_replicates():
    """No bias: the mean estimate over 40 composition-only data sets is within 0.02 of 0, and
    over 40 planted ones within 0.02 of (6/π)·asin(r/2)."""
    for r in (0.0, 0.3):
        est = [stratified_spearman(*_items(r, n=600, seed=100 + i))[0] for i in range(40)]
        assert abs(np.mean(est) - _spearman_truth(r)) < 0.02, (r, np.mean(est))


def test_wrong_model_baselines_and_specificity():
    x, y, strata = _items(0.5, seed=6)
    gen = np.random.default_rng(7)
    wrong = 1.5 * strata + gen.normal(size=strata.size)  # the composition, nothing else
    c = controlled_concordance(
        x,
        y,
        strata=strata,
        baselines={"wrong": wrong},
        name="right",
        n_resamples=300,
        n_permutations=300,
        rng=1,
    )
    t = c.table.set_index(["model", "statistic"])
    assert t.loc[("right - wrong", "stratified_spearman"), "ci_low"] > 0
    assert c.specific is True and "specific" in c.verdict and "wrong model wrong" in c.verdict
    assert abs(t.loc[("wrong", "stratified_spearman"), "estimate"]) < 0.08
    flipped = controlled_concordance(
        wrong,
        y,
        strata=strata,
        baselines={"right": x},
        name="wrong",
        n_resamples=200,
        n_permutations=200,
        rng=1,
    )
    assert flipped.specific is False and not flipped.survives
    assert set(c.strata["model"]) == {"right", "wrong"}
    again = controlled_concordance(
        x,
        y,
        strata=strata,
        baselines={"wrong": wrong},
        name="right",
        n_resamples=300,
        n_permutations=300,
        rng=1,
    )
    assert again.table.equals(c.table)
    assert "top-10 overlap" in c.summary()


def test_covariates_instead_of_strata_indicators():
    gen = np.random.default_rng(8)
    gc = gen.uniform(0.2, 0.8, 2000)
    x = 3 * gc + gen.normal(size=2000)
    y = 3 * gc + gen.normal(size=2000)
    bins = np.digitize(gc, np.quantile(gc, np.linspace(0, 1, 11)[1:-1]))
    c = controlled_concordance(
        x, y, strata=bins, covariates=gc, n_resamples=200, n_permutations=200, rng=0
    )
    t = c.table.set_index(["model", "statistic"])
    assert abs(t.loc[("model", "partial_spearman"), "estimate"]) < 0.05
    assert "adjusted for covariate 0" in c.verdict


def test_bad_input_is_named():
    x, y, strata = _items(0.1, n=50)
    with pytest.raises(EstimationError, match="measured: item 3 is not finite"):
        controlled_concordance(x, np.r_[y[:3], np.nan, y[4:]], strata=strata)
    with pytest.raises(OptionError, match="measured has 49 values"):
        controlled_concordance(x, y[:-1], strata=strata)
    with pytest.raises(OptionError, match="strata must hold one value per item"):
        controlled_concordance(x, y, strata=strata[:-1])
    with pytest.raises(OptionError, match="named like the model"):
        controlled_concordance(x, y, strata=strata, baselines={"model": x})
    with pytest.raises(OptionError, match="top_k=60 exceeds"):
        controlled_concordance(x, y, strata=strata, top_k=60)
