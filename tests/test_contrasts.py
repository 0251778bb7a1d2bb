"""Contrasts (interaction, additivity, spacing penalty, periodicity, positional curves,
factorial regressions) and the factorial / orientation designs they analyse."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats.multivariate import test_mvmean as hotelling

from causalgia.engine.declaration import as_model
from causalgia.engine.simulator import simulate
from causalgia.errors import EstimationError, InterventionError, OptionError
from causalgia.experiment.backgrounds import iid
from causalgia.experiment.designs import (
    design,
    factorial,
    orientation_spacing_grid,
    sweep_counts,
    sweep_positions,
    sweep_spacing,
)
from causalgia.experiment.interventions import Substitute
from causalgia.stats import contrasts as C
from causalgia.testing import AdditiveOracle, PlantedRBPOracle
from causalgia.validation import contrast_arms

TOL = 1e-10


def wide_table(m: np.ndarray, labels: list[str], experiment: str = "e", **params) -> pd.DataFrame:
    frames = []
    for j, label in enumerate(labels):
        frame = pd.DataFrame(
            {
                "experiment": experiment,
                "label": label,
                "background_id": np.arange(len(m)),
                "ice": m[:, j],
            }
        )
        for name, values in params.items():
            frame[name] = values[j]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def test_contrast_is_a_one_sample_t_on_the_per_background_combination():
    m = np.random.default_rng(0).normal(size=(25, 3)) + [1.0, 2.0, 2.5]
    t = wide_table(m, ["A", "B", "A+B"])
    row = C.interaction(t, "A", "B", "A+B").table.iloc[0]
    c = m[:, 2] - m[:, 0] - m[:, 1]
    ref = stats.ttest_1samp(c, 0.0)
    low, high = ref.confidence_interval(0.95)
    assert row["estimate"] == pytest.approx(c.mean(), abs=TOL)
    assert row["p_value"] == pytest.approx(ref.pvalue, abs=TOL)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high), abs=TOL)
    assert row["statistic"] == pytest.approx(ref.statistic, abs=1e-9)
    assert "A+B − A − B" in C.interaction(t, "A", "B", "A+B").summary()


def test_rounding_noise_is_not_an_interaction():
    base = np.random.default_rng(1).normal(size=(10, 2)) * 1e3
    m = np.column_stack([base, base.sum(axis=1)])  # perfectly additive, up to rounding
    row = C.interaction(wide_table(m, ["A", "B", "AB"]), "A", "B", "AB").table.iloc[0]
    assert row["estimate"] == 0.0 and row["p_value"] == 1.0


def test_ice_matrix_names_missing_labels_and_backgrounds():
    m = np.ones((4, 2))
    t = wide_table(m, ["a", "b"])
    with pytest.raises(EstimationError, match=r"label\(s\) \['c'\] not found"):
        C.ice_matrix(t, ["a", "c"])
    with pytest.raises(EstimationError, match="label 'b' has no ICE for background_id 3"):
        C.ice_matrix(t.drop(index=7), ["a", "b"])
    with pytest.raises(OptionError, match="paired"):
        C.contrast(
            pd.DataFrame(
                {"experiment": "e", "label": "a", "background_id": [0, 1], "y": [1.0, 2.0]}
            ),
            {"a": 1.0},
        )
    ids, multi = C.ice_matrix(pd.concat([t, t.assign(ice=3.0)]), ["a"])
    assert multi[:, 0].tolist() == [2.0] * 4  # several units of one background are averaged


def test_additivity_contrasts_and_saturation_fit():
    rng = np.random.default_rng(2)
    n = 40
    one = 1.0 + rng.normal(0, 0.1, n)
    m = np.column_stack([one, 1.6 + rng.normal(0, 0.1, n), 1.9 + rng.normal(0, 0.1, n)])
    t = wide_table(m, ["x1", "x2", "x3"], experiment="count", count=[1, 2, 3])
    res = C.additivity(t, n_resamples=200, rng=0)
    rows = res.contrasts.table.set_index("count")
    c2 = m[:, 1] - 2 * m[:, 0]
    assert rows.loc[2, "estimate"] == pytest.approx(c2.mean(), abs=TOL)
    assert rows.loc[2, "p_value"] == pytest.approx(stats.ttest_1samp(c2, 0).pvalue, abs=TOL)
    assert rows.loc[3, "ratio"] == pytest.approx(m[:, 2].mean() / (3 * m[:, 0].mean()))
    fit = res.fit.set_index("parameter")
    assert fit.loc["amplitude", "ci_low"] < fit.loc["amplitude", "estimate"]
    assert fit.loc["amplitude", "estimate"] < fit.loc["amplitude", "ci_high"]
    assert res.curve["count"].tolist() == [1, 2, 3]
    again = C.additivity(t, n_resamples=200, rng=0)
    assert again.fit.equals(res.fit)
    with pytest.raises(EstimationError, match="count 1"):
        C.additivity(t[t["count"] != 1], n_resamples=5)


def test_spacing_penalty_is_one_sided_by_default():
    rng = np.random.default_rng(3)
    s = np.arange(8)
    m = 1.0 + rng.normal(0, 0.1, (30, 8)) + np.where(s <= 1, 0.3, 0.0)  # a bonus, not a penalty
    t = wide_table(m, [f"g{k}" for k in s], experiment="spacing", spacing=list(s))
    one = C.spacing_penalty(t, close=1).table.iloc[0]
    two = C.spacing_penalty(t, close=1, alternative="two-sided").table.iloc[0]
    assert one["estimate"] > 0 and one["p_value"] > 0.99 and two["p_value"] < 1e-6
    values = m[:, :2].mean(axis=1) - m[:, 2:].mean(axis=1)
    ref = stats.ttest_1samp(values, 0.0, alternative="less")
    assert one["p_value"] == pytest.approx(ref.pvalue, abs=TOL)


def test_periodicity_is_hotelling_on_projected_coefficients():
    rng = np.random.default_rng(4)
    s = np.arange(0, 31)
    m = 1 + 0.01 * s + 0.2 * np.cos(2 * np.pi * s / 10.5) + rng.normal(0, 0.3, (40, 31))
    t = wide_table(m, [f"g{k}" for k in s], experiment="spacing", spacing=list(s))
    row = C.periodicity(t, period=10.5).table.iloc[0]
    x = np.column_stack(
        [
            np.ones(31),
            (s - s.mean()) / np.ptp(s),
            np.cos(2 * np.pi * s / 10.5),
            np.sin(2 * np.pi * s / 10.5),
        ]
    )
    coef = np.linalg.lstsq(x, m.T, rcond=None)[0].T[:, 2:]
    ref = hotelling(coef, np.zeros(2))
    assert row["p_value"] == pytest.approx(ref.pvalue, abs=TOL)
    assert row["statistic"] == pytest.approx(ref.t2, abs=1e-8)
    assert row["estimate"] == pytest.approx(np.hypot(*coef.mean(axis=0)), abs=TOL)
    assert row["ci_low"] < 0.2 < row["ci_high"] and row["p_value"] < 1e-6
    flat = wide_table(
        m - 0.2 * np.cos(2 * np.pi * s / 10.5),
        [f"g{k}" for k in s],
        experiment="spacing",
        spacing=list(s),
    )
    assert C.periodicity(flat).table["p_value"][0] > 0.01
    with pytest.raises(EstimationError, match="cannot separate"):
        C.periodicity(t, min_spacing=28)


def test_positional_curve_and_heterogeneity():
    rng = np.random.default_rng(5)
    m = rng.normal(0, 0.2, (30, 4)) + [1.0, 1.0, 1.0, 1.5]
    t = wide_table(m, ["p0", "p5", "p10", "p15"], experiment="position", position=[0, 5, 10, 15])
    res = C.positional_curve(t)
    assert res.curve["position"].tolist() == [0, 5, 10, 15]
    ref = hotelling(m[:, 1:] - m[:, :1], np.zeros(3))
    assert res.tests.table["p_value"][0] == pytest.approx(ref.pvalue, abs=TOL)
    assert "CurveResult over position" in res.summary()


def test_fit_factorial_matches_statsmodels_and_the_2x2_interaction():
    rng = np.random.default_rng(6)
    n = 30
    a, b = rng.normal(1.0, 0.3, n), rng.normal(2.0, 0.3, n)
    ab = a + b - 0.5 + rng.normal(0, 0.2, n)
    t = wide_table(
        np.column_stack([a, b, ab]),
        ["A", "B", "A+B"],
        experiment="factorial",
        A=[1, 0, 1],
        B=[0, 1, 1],
    )
    res = C.fit_factorial(t, ["A", "B"]).table.set_index("contrast")
    x = t[["A", "B"]].to_numpy(float)
    x = np.column_stack([x, x[:, 0] * x[:, 1]])
    ref = sm.OLS(t["ice"].to_numpy(), x).fit(
        cov_type="cluster", cov_kwds={"groups": t["background_id"].to_numpy()}, use_t=True
    )
    assert res["estimate"].to_numpy() == pytest.approx(ref.params, abs=TOL)
    assert res["se"].to_numpy() == pytest.approx(ref.bse, abs=TOL)
    inter = C.interaction(t, "A", "B", "A+B", experiment="factorial").table.iloc[0]
    assert res.loc["A:B", "estimate"] == pytest.approx(inter["estimate"], abs=TOL)


def test_factorial_designs_full_fractional_and_aliasing():
    parts = {f: Substitute("GG", 3 * i) for i, f in enumerate("ABCDE")}
    full = factorial(parts)
    half = factorial(parts, generators={"E": "ABCD"})
    assert len(full) == 31 and len(half) == 15
    for arm in half:  # the principal fraction holds the empty run: E = −ABCD in ±1 coding
        levels = [2 * arm.params[f] - 1 for f in "ABCDE"]
        assert levels[4] == -np.prod(levels[:4])
    assert all(sum(a.params.values()) in (2, 4) for a in half)
    oracle = AdditiveOracle(np.random.default_rng(0).normal(size=(20, 4)))
    res = simulate(as_model(oracle), design(iid(20), half, n=30, rng=1), progress=False)
    fit = C.fit_factorial(res, list("ABCDE")).table  # resolution V: all 15 terms estimable
    assert len(fit) == 15
    inter = fit[fit["contrast"].str.contains(":")]
    assert np.allclose(inter["estimate"], 0.0, atol=1e-9)  # additive model: no interactions
    third = factorial({f: parts[f] for f in "ABC"}, generators={"C": "AB"})
    res3 = simulate(as_model(oracle), design(iid(20), third, n=10, rng=1), progress=False)
    with pytest.raises(EstimationError, match="aliased"):
        C.fit_factorial(res3, list("ABC"))
    with pytest.raises(OptionError, match="not base factors"):
        factorial(parts, generators={"E": "AXE"})
    with pytest.raises(InterventionError, match="overlap"):
        design(iid(20), factorial({"A": Substitute("GATA", 0), "B": Substitute("GATA", 2)}), n=2)


def test_orientation_spacing_grid():
    arms = orientation_spacing_grid("GATA", [0, 3], start=2, motif_b="TTGC")
    assert len(arms) == 8
    combos = {(a.params["orientation_a"], a.params["orientation_b"]) for a in arms}
    assert combos == {("+", "+"), ("+", "-"), ("-", "+"), ("-", "-")}
    out = arms[-1].intervention.apply(np.zeros((1, 20), dtype=np.uint8))
    from causalgia.sequences.alphabet import decode

    assert decode(out)[0][2:6] == "TATC" and decode(out)[0][9:13] == "GCAA"


@pytest.fixture(scope="module")
def rbp_runs():
    runs = {}
    for name, oracle in (
        ("planted", PlantedRBPOracle(helical=0.15)),
        ("null", PlantedRBPOracle.without_mechanisms()),
    ):
        d = design(iid(100, alphabet="rna"), contrast_arms(), n=60, rng=11)
        runs[name] = simulate(as_model(oracle), d, progress=False)
    return runs


def test_contrast_tests_detect_what_the_oracle_plants(rbp_runs):
    res = rbp_runs["planted"]
    assert C.interaction(res, "A", "B", "A+B", experiment="pair").table["p_value"][0] < 1e-6
    add = C.additivity(res, n_resamples=50, rng=1)
    assert (add.contrasts.table["p_value"] < 1e-6).all()
    assert (add.contrasts.table["estimate"] < 0).all()
    curve = C.spacing_curve(res, close=2, min_spacing=6).tests.table
    assert (curve["p_value"] < 1e-6).all()
    assert curve["estimate"][0] < 0  # a penalty


def test_contrast_tests_do_not_fire_without_the_mechanisms(rbp_runs):
    res = rbp_runs["null"]
    inter = C.interaction(res, "A", "B", "A+B", experiment="pair").table.iloc[0]
    assert inter["estimate"] == 0.0 and inter["p_value"] == 1.0
    add = C.additivity(res, n_resamples=50, rng=1)
    assert (add.contrasts.table["p_value"] > 0.05).all()
    assert add.fit.set_index("parameter").loc["scale", "estimate"] > 100  # a straight line
    assert C.spacing_penalty(res, close=2).table["p_value"][0] > 0.05
    assert C.periodicity(res, min_spacing=6).table["p_value"][0] > 0.05


def test_sweep_helpers_feed_the_contrasts():
    oracle = AdditiveOracle.from_motif("GATA", 60)
    arms = sweep_counts("GATA", [1, 2], positions=[5, 30]) + sweep_positions("GATA", [5, 30])
    arms += sweep_spacing("GATA", list(range(0, 20)), start=5)
    res = simulate(as_model(oracle), design(iid(60), arms, n=20, rng=2), progress=False)
    assert len(C.additivity(res, n_resamples=5).contrasts) == 1
    assert len(C.positional_curve(res).curve) == 2
    assert len(C.spacing_curve(res).tests) == 2
