"""causalgia.stats.estimators: exact agreement with scipy/statsmodels, and input checks."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.multitest import multipletests

from causalgia._rng import generator, root_seed, unit_keys
from causalgia.errors import CausalgiaError, OptionError
from causalgia.stats.estimators import (
    AceEstimates,
    EstimationError,
    adjust_pvalues,
    estimate_ace,
    paired_t,
    welch,
)

TOL = 1e-12
EFFECTS = {("e1", "a"): 0.5, ("e1", "b"): -0.2, ("e1", "placebo"): 0.0, ("e2", "c"): 1.0}


def paired_table(n: int = 25, seed: int = 0) -> pd.DataFrame:
    """One row per (arm, background); y_do and y_control positively correlated."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=n)
    frames = []
    for i, ((experiment, label), effect) in enumerate(EFFECTS.items()):
        noise = 0.0 if label == "placebo" else rng.normal(scale=0.3, size=n)
        y_do = base + effect + noise
        frames.append(
            pd.DataFrame(
                {
                    "experiment": experiment,
                    "label": label,
                    "background_id": np.arange(n),
                    "y_control": base,
                    "y_do": y_do,
                    "ice": y_do - base,
                    "position": float(10 * i) if label != "placebo" else np.nan,
                    "motif": None if label == "placebo" else f"M{i}",
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def randomized_table(seed: int = 1) -> pd.DataFrame:
    """One row per background; control plus two arms of unequal size and variance."""
    rng = np.random.default_rng(seed)
    arms = [
        ("control", "control", 30, 0.0, 1.0),
        ("e1", "a", 20, 0.7, 2.0),
        ("e1", "b", 15, 0.0, 0.5),
    ]
    frames, start = [], 0
    for experiment, label, n, effect, sd in arms:
        frames.append(
            pd.DataFrame(
                {
                    "background_id": np.arange(start, start + n),
                    "experiment": experiment,
                    "label": label,
                    "y": rng.normal(effect, sd, size=n),
                    "count": np.nan if label == "control" else float(start),
                }
            )
        )
        start += n
    return pd.concat(frames, ignore_index=True)


def rows(est: AceEstimates) -> dict[tuple[str, str], pd.Series]:
    return {(r["experiment"], r["label"]): r for _, r in est.to_frame().iterrows()}


def group(table: pd.DataFrame, experiment: str, label: str) -> pd.DataFrame:
    return table[(table["experiment"] == experiment) & (table["label"] == label)]


def test_paired_t_matches_ttest_1samp_and_ttest_rel() -> None:
    table = paired_table()
    est = rows(estimate_ace(table, ci=0.9))
    for key in [("e1", "a"), ("e1", "b"), ("e2", "c")]:
        sub, r = group(table, *key), est[key]
        ref = stats.ttest_1samp(sub["ice"], 0.0)
        rel = stats.ttest_rel(sub["y_do"], sub["y_control"])
        assert r["ace"] == pytest.approx(sub["ice"].mean(), abs=TOL)
        assert r["ace"] / r["se"] == pytest.approx(ref.statistic, abs=1e-10)
        assert r["se"] == pytest.approx(stats.sem(sub["ice"]), abs=TOL)
        for res in (ref, rel):
            low, high = res.confidence_interval(0.9)
            assert r["p_value"] == pytest.approx(res.pvalue, abs=TOL)
            assert r["ci_low"] == pytest.approx(low, abs=TOL)
            assert r["ci_high"] == pytest.approx(high, abs=TOL)
        assert r["n"] == len(sub)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=2, max_size=40))
def test_paired_t_property(values: list[float]) -> None:
    ice = np.array(values)
    r = paired_t(ice, 0.95)
    if np.all(ice == ice[0]):
        assert r["se"] == 0.0 and r["ci_low"] == r["ci_high"] == r["ace"]
        return
    ref = stats.ttest_1samp(ice, 0.0)
    assert r["p_value"] == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-12)
    assert r["ci_low"] <= r["ace"] <= r["ci_high"]


def test_welch_matches_ttest_ind_on_randomized_table() -> None:
    table = randomized_table()
    est = estimate_ace(table, method="welch", ci=0.95)
    y0 = group(table, "control", "control")["y"].to_numpy()
    assert list(est.table["label"]) == ["a", "b"]
    for key, r in rows(est).items():
        y1 = group(table, *key)["y"].to_numpy()
        ref = stats.ttest_ind(y1, y0, equal_var=False)
        low, high = ref.confidence_interval(0.95)
        se = np.sqrt(y1.var(ddof=1) / y1.size + y0.var(ddof=1) / y0.size)
        assert r["ace"] == pytest.approx(y1.mean() - y0.mean(), abs=TOL)
        assert r["se"] == pytest.approx(se, abs=TOL)
        assert r["ace"] / r["se"] == pytest.approx(ref.statistic, abs=1e-10)
        assert r["p_value"] == pytest.approx(ref.pvalue, abs=TOL)
        assert (r["ci_low"], r["ci_high"]) == pytest.approx((low, high), abs=TOL)
        assert (r["n"], r["n_control"]) == (y1.size, y0.size)


def test_welch_function_agrees_with_scipy() -> None:
    rng = np.random.default_rng(3)
    y1, y0 = rng.normal(1, 2, 12), rng.normal(0, 1, 9)
    r, ref = welch(y1, y0, 0.8), stats.ttest_ind(y1, y0, equal_var=False)
    assert r["p_value"] == pytest.approx(ref.pvalue, abs=TOL)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx(tuple(ref.confidence_interval(0.8)))


@pytest.mark.parametrize(
    ("method", "scipy_method"), [("bootstrap_percentile", "percentile"), ("bootstrap_bca", "BCa")]
)
def test_bootstrap_equals_direct_scipy_call(method: str, scipy_method: str) -> None:
    table = paired_table()
    est = rows(estimate_ace(table, method=method, rng=42, n_resamples=999))
    for key in [("e1", "a"), ("e2", "c")]:
        ice = group(table, *key)["ice"].to_numpy()
        gen = generator(unit_keys(root_seed(42), [0], "bootstrap", *key)[0])
        ref = stats.bootstrap(
            (ice,), np.mean, n_resamples=999, confidence_level=0.95, method=scipy_method, rng=gen
        )
        r = est[key]
        assert r["ci_low"] == ref.confidence_interval.low
        assert r["ci_high"] == ref.confidence_interval.high
        assert r["se"] == ref.standard_error
        assert r["p_value"] == pytest.approx(stats.ttest_1samp(ice, 0.0).pvalue, abs=TOL)


def test_bootstrap_randomized_is_two_sample_difference() -> None:
    table = randomized_table()
    r = rows(estimate_ace(table, method="bootstrap_bca", rng=5, n_resamples=499))[("e1", "a")]
    y1, y0 = group(table, "e1", "a")["y"].to_numpy(), group(table, "control", "control")["y"]
    gen = generator(unit_keys(5, [0], "bootstrap", "e1", "a")[0])
    ref = stats.bootstrap(
        (y1, y0.to_numpy()),
        lambda a, b, axis=-1: a.mean(axis) - b.mean(axis),
        n_resamples=499,
        method="BCa",
        rng=gen,
    )
    assert (r["ci_low"], r["ci_high"]) == pytest.approx(tuple(ref.confidence_interval), abs=TOL)


def test_bootstrap_does_not_depend_on_row_or_group_order() -> None:
    table = paired_table()
    shuffled = table.sample(frac=1.0, random_state=7).reset_index(drop=True)
    a = estimate_ace(table, method="bootstrap_bca", rng=11, n_resamples=499).to_frame()
    b = estimate_ace(shuffled, method="bootstrap_bca", rng=11, n_resamples=499).to_frame()
    assert list(b["label"]) != list(a["label"])  # groups really were reordered
    b = b.set_index(["experiment", "label"]).loc[a.set_index(["experiment", "label"]).index]
    pd.testing.assert_frame_equal(b.reset_index(), a)


def test_same_seed_is_bit_identical() -> None:
    table = paired_table()
    a = estimate_ace(table, method="bootstrap_percentile", rng=3, n_resamples=199).to_frame()
    b = estimate_ace(table, method="bootstrap_percentile", rng=3, n_resamples=199).to_frame()
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize("adjust", ["fdr_bh", "fdr_by", "bonferroni", "holm"])
def test_q_values_are_multipletests_within_experiment(adjust: str) -> None:
    out = estimate_ace(paired_table(), multiple_testing=adjust).to_frame()
    for _, sub in out.groupby("experiment"):
        expected = multipletests(sub["p_value"].to_numpy(), method=adjust)[1]
        np.testing.assert_allclose(sub["q_value"], expected, rtol=0, atol=TOL)


def test_q_values_none_copies_p() -> None:
    out = estimate_ace(paired_table(), multiple_testing="none").to_frame()
    np.testing.assert_array_equal(out["q_value"], out["p_value"])
    p = np.array([0.1, 0.2])
    q = adjust_pvalues(p, "none")
    assert q is not p and np.array_equal(q, p)


def test_placebo_is_degenerate_without_warnings() -> None:
    table = paired_table()
    for method in ["paired_t", "bootstrap_bca", "bootstrap_percentile"]:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            r = rows(estimate_ace(table, method=method, rng=0, n_resamples=99))[("e1", "placebo")]
        assert (r["ace"], r["se"], r["ci_low"], r["ci_high"], r["p_value"]) == (0, 0, 0, 0, 1.0)


def test_constant_nonzero_effect_has_p_zero() -> None:
    ice = np.full(5, 0.25)
    assert paired_t(ice) == {
        "ace": 0.25,
        "se": 0.0,
        "ci_low": 0.25,
        "ci_high": 0.25,
        "p_value": 0.0,
        "n": 5,
    }


def test_parameter_columns_and_column_order() -> None:
    out = estimate_ace(paired_table()).to_frame()
    assert list(out.columns) == [
        "experiment",
        "label",
        "position",
        "motif",
        "method",
        "ace",
        "se",
        "ci_low",
        "ci_high",
        "n",
        "p_value",
        "q_value",
    ]
    assert list(zip(out["experiment"], out["label"], strict=True)) == list(EFFECTS)
    assert list(out["motif"].iloc[[0, 1, 3]]) == ["M0", "M1", "M3"]
    assert out["position"].iloc[3] == 30.0
    assert pd.isna(out["position"].iloc[2]) and pd.isna(out["motif"].iloc[2])
    assert set(out["method"]) == {"paired_t"}
    rand = estimate_ace(randomized_table(), method="welch").to_frame()
    assert list(rand.columns) == [
        "experiment",
        "label",
        "count",
        "method",
        "ace",
        "se",
        "ci_low",
        "ci_high",
        "n",
        "n_control",
        "p_value",
        "q_value",
    ]
    assert list(rand["count"]) == [30.0, 50.0]


def test_input_not_mutated() -> None:
    table = paired_table()
    before = table.copy()
    estimate_ace(table, method="bootstrap_percentile", rng=0, n_resamples=99)
    pd.testing.assert_frame_equal(table, before)


def test_nan_ice_raises_with_background_id() -> None:
    table = paired_table()
    idx = table.index[(table["label"] == "b") & (table["background_id"] == 13)][0]
    table.loc[idx, "ice"] = np.nan
    with pytest.raises(EstimationError, match=r"'e1'.*'b'.*background_id 13"):
        estimate_ace(table)
    table.loc[idx, "ice"] = np.inf
    with pytest.raises(CausalgiaError, match="13"):
        estimate_ace(table)


def test_nan_y_raises_in_randomized_table() -> None:
    table = randomized_table()
    table.loc[40, "y"] = np.nan
    with pytest.raises(EstimationError, match=f"background_id {table.loc[40, 'background_id']}"):
        estimate_ace(table, method="welch")


def test_single_background_group_raises_naming_label() -> None:
    table = paired_table()
    lonely = table.iloc[[0]].assign(label="lonely")
    with pytest.raises(EstimationError, match="'lonely'"):
        estimate_ace(pd.concat([table, lonely], ignore_index=True))


def test_functions_reject_fewer_than_two_units() -> None:
    with pytest.raises(EstimationError, match="2 ICEs"):
        paired_t(np.array([1.0]))
    with pytest.raises(EstimationError, match="n_control"):
        welch(np.array([1.0, 2.0]), np.array([0.0]))


def test_unknown_options_raise() -> None:
    table = paired_table()
    with pytest.raises(OptionError, match=r"method='ols'.*'paired_t'.*'bootstrap_bca'"):
        estimate_ace(table, method="ols")  # type: ignore[arg-type]
    with pytest.raises(OptionError, match="multiple_testing"):
        estimate_ace(table, multiple_testing="fdr")  # type: ignore[arg-type]
    for bad in (0.0, 1.0, 1.5, "x"):
        with pytest.raises(OptionError, match="ci"):
            estimate_ace(table, ci=bad)  # type: ignore[arg-type]
    with pytest.raises(OptionError, match="n_resamples"):
        estimate_ace(table, method="bootstrap_bca", n_resamples=0)


def test_paired_t_on_randomized_table_explains() -> None:
    with pytest.raises(OptionError, match="one outcome per background.*welch"):
        estimate_ace(randomized_table())


def test_table_kind_detection_and_result_objects() -> None:
    @dataclass(frozen=True)
    class FakeResult:
        table: pd.DataFrame
        kind: str

    table = paired_table()
    a = estimate_ace(FakeResult(table, "paired")).to_frame()
    pd.testing.assert_frame_equal(a, estimate_ace(table).to_frame())
    with pytest.raises(OptionError, match="kind"):
        estimate_ace(FakeResult(table, "crossover"))  # type: ignore[arg-type]
    with pytest.raises(EstimationError, match="'ice'.*'y'"):
        estimate_ace(table.drop(columns=["ice"]))
    with pytest.raises(EstimationError, match="y_do"):
        estimate_ace(table.drop(columns=["y_do"]), method="welch")


def test_welch_on_paired_table_ignores_pairing_and_is_wider() -> None:
    table = paired_table()
    t = rows(estimate_ace(table))
    w = rows(estimate_ace(table, method="welch"))
    for key in [("e1", "a"), ("e1", "b"), ("e2", "c")]:
        sub = group(table, *key)
        ref = stats.ttest_ind(sub["y_do"], sub["y_control"], equal_var=False)
        assert w[key]["p_value"] == pytest.approx(ref.pvalue, abs=TOL)
        assert w[key]["ace"] == pytest.approx(t[key]["ace"], abs=1e-12)
        assert w[key]["ci_high"] - w[key]["ci_low"] > 2 * (t[key]["ci_high"] - t[key]["ci_low"])
    assert "n_control" not in estimate_ace(table, method="welch").table.columns


def test_summary_and_len() -> None:
    est = estimate_ace(paired_table())
    text = est.summary()
    assert len(est) == 4 and len(text.splitlines()) == 5
    assert "e1 / placebo: ace=0 [0, 0]" in text and "method=paired_t" in text
    assert est.to_frame() is not est.table
