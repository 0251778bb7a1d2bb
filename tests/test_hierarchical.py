"""Hierarchical effect models (issue 4): schema, closed forms, diagnostics, pooling, SBC.

PyMC compiles each distinct model once per process (slow on 2 cores), so the fast tier uses a
few module-scoped fits; calibration at scale (SBC R = 200, repeated pooling) is marked slow.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from statsmodels.stats.meta_analysis import combine_effects

from causalgia.errors import EstimationError, OptionError
from causalgia.pooling.hierarchical import (
    THRESHOLDS,
    ConvergenceWarning,
    Diagnostics,
    HierarchicalFit,
    build_effect_model,
    check_diagnostics,
    effect_statistics,
    fit_hierarchical,
)

pm = pytest.importorskip("pymc")
az = pytest.importorskip("arviz")

J, N_UNITS = 50, 500


def bump(j: np.ndarray) -> np.ndarray:
    """The performance-anchor truth: theta_j = 0.1 + 0.4 exp(-((j - 24.5) / 5)^2)."""
    return 0.1 + 0.4 * np.exp(-(((j - 24.5) / 5.0) ** 2))


def anchor_table(seed: int = 1, n: int = N_UNITS) -> pd.DataFrame:
    """50 positions x n paired ICEs, ICE_ij = theta_j + N(0, 2.5^2) (docs/hierarchical.md)."""
    rng = np.random.default_rng(seed)
    ice = bump(np.arange(J))[:, None] + rng.normal(0.0, 2.5, (J, n))
    return pd.DataFrame(
        {
            "experiment": "position",
            "label": np.repeat([f"site@{j}" for j in range(J)], n),
            "position": np.repeat(np.arange(J), n),
            "background_id": np.tile(np.arange(n), J),
            "ice": ice.ravel(),
        }
    )


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return anchor_table()


@pytest.fixture(scope="module")
def fit50(table) -> HierarchicalFit:
    return fit_hierarchical(
        table, parameterization="noncentred", draws=1000, tune=1000, chains=2,
        random_seed=11, min_effect=0.1, diagnostics="raise",
    )  # fmt: skip


# -- sufficient statistics -------------------------------------------------------------------


def test_effect_statistics_are_cell_means_and_ses(table):
    stats = effect_statistics(table)
    grouped = table.groupby("label", sort=False)["ice"]
    assert list(stats["label"]) == list(grouped.mean().index)
    np.testing.assert_allclose(stats["ace"], grouped.mean().to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(stats["se"], grouped.sem().to_numpy(), rtol=1e-12)
    assert (stats["n"] == N_UNITS).all() and (stats["se_kind"] == "iid").all()
    assert stats["position"].tolist() == list(range(J))


def test_cluster_robust_se_matches_statsmodels():
    rng = np.random.default_rng(3)
    bg = np.repeat(np.arange(40), 3)  # three rows (e.g. strands/replicates) per background
    y = rng.normal(0.2, 1.0, 40)[bg] + rng.normal(0.0, 0.5, bg.size)
    t = pd.DataFrame({"experiment": "e", "label": "a", "background_id": bg, "ice": y})
    stats = effect_statistics(t)
    ols = sm.OLS(y, np.ones((y.size, 1))).fit(cov_type="cluster", cov_kwds={"groups": bg})
    assert stats["se_kind"].iloc[0] == "cluster"
    np.testing.assert_allclose(stats["se"].iloc[0], ols.bse[0], rtol=1e-10)
    np.testing.assert_allclose(stats["ace"].iloc[0], ols.params[0], rtol=1e-12)


def test_effect_statistics_reject_bad_cells():
    placebo = pd.DataFrame(
        {"experiment": "placebo", "label": "identity", "background_id": [0, 1, 2], "ice": 0.0}
    )
    with pytest.raises(EstimationError, match="label='identity'.*se = 0"):
        effect_statistics(placebo)
    one = placebo.iloc[:1].assign(ice=1.0)
    with pytest.raises(EstimationError, match="fewer than 2 units"):
        effect_statistics(one)
    nan = placebo.assign(ice=[0.1, np.nan, 0.3])
    with pytest.raises(EstimationError, match="non-finite ice.*background_id 1"):
        effect_statistics(nan)
    with pytest.raises(OptionError, match="se='robust'"):
        effect_statistics(placebo, se="robust")


# -- build without sampling -----------------------------------------------------------------


def test_build_does_not_sample_and_names_dims(table, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("build_effect_model must not sample")

    monkeypatch.setattr(pm, "sample", forbidden)
    t = table.assign(motif=np.where(table["position"] % 2 == 0, "A", "B"))
    t = pd.concat([t.assign(replicate=r) for r in (0, 1)], ignore_index=True)
    model = build_effect_model(
        t, within=["replicate"], groups=["motif"], curve="position", effects="student_t"
    )
    assert isinstance(model, pm.Model)
    assert {"mu", "sd_motif", "curve_sd", "curve", "theta", "sd_replicate"} <= set(model.named_vars)
    assert "tau" not in model.named_vars  # one condition per position: the curve is the effect
    assert len(model.coords["condition"]) == J and len(model.coords["cell"]) == 2 * J
    assert model.coords["motif"] == ("A", "B") and len(model.coords["position"]) == J
    assert model.named_vars_to_dims["theta"] == ("condition",)
    marginal = build_effect_model(table)
    assert "theta" not in marginal.named_vars and "z" not in marginal.named_vars
    two = pd.concat([table.assign(strand=s) for s in "+-"], ignore_index=True)
    shared = build_effect_model(two, by=["label", "strand"], curve="position")
    assert "tau" in shared.named_vars and len(shared.coords["condition"]) == 2 * J
    full = build_effect_model(table, likelihood="full")
    assert "sigma" in full.named_vars and "theta" in full.named_vars


def test_bad_options_name_the_argument(table):
    with pytest.raises(OptionError, match="effects='cauchy'"):
        build_effect_model(table, effects="cauchy")
    with pytest.raises(OptionError, match="curve='spacing'"):
        build_effect_model(table, curve="spacing")
    with pytest.raises(OptionError, match="marginal"):
        build_effect_model(table, effects="student_t", parameterization="marginal")
    with pytest.raises(OptionError, match="sampler='stan'"):
        fit_hierarchical(table, sampler="stan")


def test_curve_parameterization_follows_the_information_in_the_data():
    from causalgia.pooling.effectstats import _curve, _curve_parameterization

    x = np.arange(12)
    cond = pd.DataFrame({"condition": x.astype(str), "position": x,
                         "ace": np.sin(x / 2.0), "se": 0.003})  # fmt: skip
    spec = _curve(cond, "position")
    assert _curve_parameterization(cond, spec) == "centred"  # precise: the data pin the curve
    assert _curve_parameterization(cond.assign(se=0.5), spec) == "noncentred"  # noisy


# -- plumbing with pymc.testing.mock_sample -------------------------------------------------


@pytest.fixture
def mock_pymc_sample():
    from pymc.testing import mock_sample_setup_and_teardown

    yield from mock_sample_setup_and_teardown()


def test_plumbing_schema_with_mock_sample(table, mock_pymc_sample, tmp_path):
    t = table.assign(motif=np.where(table["position"] < 25, "A", "B"))
    fit = fit_hierarchical(
        t, groups=["motif"], curve="position", parameterization="noncentred", draws=20,
        chains=2, random_seed=1, diagnostics="ignore", sampler="pymc",  # mocks pm.sample
    )  # fmt: skip
    frame = fit.to_frame()
    expected = ["condition", "experiment", "label", "position", "motif", "n_cells", "n", "ace",
                "se", "post_mean", "post_sd", "hdi_low", "hdi_high", "p_positive",
                "p_meaningful", "r_hat", "ess_bulk", "ess_tail"]  # fmt: skip
    assert list(frame.columns) == expected and len(frame) == J
    assert fit.idata.posterior["theta"].dims == ("chain", "draw", "condition")
    assert set(fit.hyper["parameter"]) >= {"mu", "sd_motif", "curve_sd", "curve[0.0]"}
    path = fit.save(tmp_path / "posterior.nc")
    back = HierarchicalFit.load(path)
    pd.testing.assert_frame_equal(back.to_frame(), frame)
    assert back.settings["curve"] == "position" and back.settings["groups"] == ["motif"]


# -- real sampling: schema, netCDF, pooling, meta-analysis ------------------------------------


def test_fit_schema_summary_and_netcdf_round_trip(fit50, tmp_path):
    frame = fit50.to_frame()
    assert len(frame) == J and frame["condition"].iloc[0] == "position / site@0"
    assert (frame["hdi_low"] < frame["post_mean"]).all()
    assert (frame["post_mean"] < frame["hdi_high"]).all()
    assert frame["p_positive"].between(0, 1).all() and frame["p_meaningful"].between(0, 1).all()
    d = fit50.diagnostics
    assert d.passed and d.divergences == 0 and d.max_r_hat <= THRESHOLDS.r_hat
    text = fit50.summary()
    assert "95% HDI" in text and "divergences 0" in text and "P(|.|>0.1)" in text
    back = HierarchicalFit.load(fit50.save(tmp_path / "fit.nc"))
    pd.testing.assert_frame_equal(back.to_frame(), frame)
    pd.testing.assert_frame_equal(back.hyper, fit50.hyper)
    assert back.diagnostics == d and back.settings == fit50.settings


def test_pooled_mean_agrees_with_random_effects_meta_analysis(fit50):
    frame = fit50.to_frame()
    hyper = fit50.hyper.set_index("parameter")
    for method in ("pm", "dl"):
        res = combine_effects(frame["ace"].to_numpy(), frame["se"].to_numpy() ** 2,
                              method_re=method)  # fmt: skip
        # the posterior mean of mu and the RE estimate differ by far less than the posterior SD
        assert (
            abs(hyper.loc["mu", "post_mean"] - res.mean_effect_re)
            < 0.3 * hyper.loc["mu", "post_sd"]
        )
        assert abs(hyper.loc["mu", "post_sd"] / res.sd_eff_w_re - 1) < 0.15
        assert abs(hyper.loc["tau", "post_mean"] - np.sqrt(res.tau2)) < hyper.loc["tau", "post_sd"]


def test_partial_pooling_lowers_rmse_against_no_pooling(fit50):
    frame, truth = fit50.to_frame(), bump(np.arange(J))
    rmse_raw = np.sqrt(np.mean((frame["ace"] - truth) ** 2))
    rmse_pooled = np.sqrt(np.mean((frame["post_mean"] - truth) ** 2))
    assert rmse_pooled < 0.85 * rmse_raw  # anchor: 0.111 -> 0.081 (docs/hierarchical.md)
    inside = (frame["hdi_low"] <= truth) & (truth <= frame["hdi_high"])
    assert inside.mean() >= 0.86  # 50 correlated 95% intervals


def test_marginal_parameterization_gives_the_same_posterior(fit50, table):
    fit = fit_hierarchical(table, draws=1000, tune=1000, chains=2, random_seed=5)
    assert fit.settings["parameterization"] == "marginal" and fit.diagnostics.passed
    a, b = fit50.to_frame(), fit.to_frame()
    mcse = np.sqrt(a["post_sd"] ** 2 / a["ess_bulk"] + b["post_sd"] ** 2 / b["ess_bulk"])
    assert (np.abs(a["post_mean"] - b["post_mean"]) < 5 * mcse).all()
    np.testing.assert_allclose(b["post_sd"], a["post_sd"], rtol=0.15)
    quick = fit_hierarchical(table, draws=1000, tune=1000, chains=2, random_seed=5,
                             condition_diagnostics=False)  # fmt: skip
    assert quick.to_frame()["r_hat"].isna().all() and quick.diagnostics.worst in ("mu", "tau")
    pd.testing.assert_series_equal(quick.to_frame()["post_mean"], b["post_mean"])


# -- closed form: normal-normal with known tau ----------------------------------------------


def closed_form(y: np.ndarray, se: np.ndarray, tau: float, s: float) -> tuple:
    """Exact posterior of theta | y: mu ~ N(0, s^2), theta_j = mu + tau z_j, y ~ N(theta, se)."""
    prior = s**2 * np.ones((y.size, y.size)) + tau**2 * np.eye(y.size)
    gain = prior @ np.linalg.inv(prior + np.diag(se**2))
    return gain @ y, np.sqrt(np.diag(prior - gain @ prior))


def small_table() -> pd.DataFrame:
    return pd.DataFrame(
        {"experiment": "e", "label": list("abcdefgh"),
         "ace": [0.9, -0.2, 0.4, 0.1, 1.3, 0.6, -0.5, 0.3],
         "se": [0.3, 0.5, 0.2, 0.4, 0.6, 0.25, 0.35, 0.45]}
    )  # fmt: skip


def test_closed_form_normal_normal_posterior():
    t = small_table()
    fit = fit_hierarchical(t, tau=0.4, prior_scale=1.0, draws=1500, tune=1000, chains=2,
                           random_seed=3)  # fmt: skip
    mean, sd = closed_form(t["ace"].to_numpy(), t["se"].to_numpy(), 0.4, 1.0)
    theta = fit.idata.posterior[["theta"]]
    mcse_mean = az.mcse(theta, method="mean")["theta"].to_numpy()
    frame = fit.to_frame()
    # az.mcse(method="sd") trips over numba here: the same delta method, by hand
    sq = (theta - theta.mean(("chain", "draw"))) ** 2
    ess_sq = az.ess(sq, method="mean")["theta"].to_numpy()
    mcse_var = sq["theta"].std(("chain", "draw")).to_numpy() / np.sqrt(ess_sq)
    mcse_sd = mcse_var / (2 * frame["post_sd"].to_numpy())
    assert (np.abs(frame["post_mean"] - mean) < 4 * mcse_mean).all()
    assert (np.abs(frame["post_sd"] - sd) < 4 * mcse_sd).all()


# -- diagnostics gate -------------------------------------------------------------------------


def test_diagnostics_thresholds_and_modes():
    ok = Diagnostics(1.001, 1200.0, 900.0, 0, "theta")
    check_diagnostics(ok, "raise")
    bad = Diagnostics(1.05, 120.0, 80.0, 3, "tau")
    assert bad.failures() == [
        "max R-hat 1.05 > 1.01 (tau)", "min bulk ESS 120 < 400", "min tail ESS 80 < 400",
        "3 divergent transitions > 0",
    ]  # fmt: skip
    with pytest.warns(ConvergenceWarning, match="R-hat 1.05"):
        check_diagnostics(bad, "warn")
    with pytest.raises(EstimationError, match="did not converge.*3 divergent"):
        check_diagnostics(bad, "raise")
    check_diagnostics(bad, "ignore")
    with pytest.raises(OptionError, match="diagnostics='loud'"):
        check_diagnostics(bad, "loud")


def test_short_run_fails_the_gate_warn_or_raise():
    t = small_table()
    kw = dict(tau=0.4, prior_scale=1.0, draws=40, tune=40, chains=2, random_seed=3)
    with pytest.warns(ConvergenceWarning, match="bulk ESS"):
        fit = fit_hierarchical(t, diagnostics="warn", **kw)
    assert not fit.diagnostics.passed and "FAILED" in fit.summary()
    with pytest.raises(EstimationError, match="bulk ESS"):
        fit_hierarchical(t, diagnostics="raise", **kw)


# -- SBC ------------------------------------------------------------------------------------


def test_sbc_smoke():
    from causalgia.pooling.sbc import simulation_based_calibration

    res = simulation_based_calibration(n_replicates=4, n_conditions=4, draws=100, tune=100)
    ranks = res.to_frame()
    assert len(ranks) == 4 * 5 and ranks["rank"].between(0, 99).all()
    assert list(res.uniformity()["parameter"]) == ["mu", "tau", "theta[0]", "theta[1]", "theta[2]"]
    assert set(res.coverage()["level"]) == {0.5, 0.9} and len(res.diagnostics) == 4
    assert "SBC: 4 replicates" in res.summary()


@pytest.mark.slow
@pytest.mark.parametrize("parameterization", ["marginal", "noncentred"])
def test_sbc_calibration(parameterization):
    from causalgia.pooling.sbc import simulation_based_calibration

    res = simulation_based_calibration(n_replicates=200, parameterization=parameterization)
    assert (res.uniformity()["p_value"] >= 0.001).all(), res.summary()
    cov90 = res.coverage().query("level == 0.9")["coverage"]
    assert cov90.between(0.825, 0.960).all(), res.summary()


@pytest.mark.slow
def test_full_data_model_matches_sufficient_statistics(table, fit50):
    full = fit_hierarchical(table, likelihood="full", draws=1000, tune=1000, chains=2,
                            random_seed=2)  # fmt: skip
    a, b = fit50.to_frame(), full.to_frame()
    assert (np.abs(a["post_mean"] - b["post_mean"]) < 0.25 * a["post_sd"]).all()
    np.testing.assert_allclose(b["post_sd"], a["post_sd"], rtol=0.15)


@pytest.mark.slow
def test_partial_pooling_wins_in_repeated_simulations():
    wins = 0
    for r in range(100):
        fit = fit_hierarchical(anchor_table(seed=100 + r), draws=500, tune=500, chains=2,
                               random_seed=r, diagnostics="ignore")  # fmt: skip
        frame, truth = fit.to_frame(), bump(np.arange(J))
        wins += np.mean((frame["post_mean"] - truth) ** 2) < np.mean((frame["ace"] - truth) ** 2)
    assert wins >= 95


def test_spec_pooling_writes_posterior_and_pooled_curve(tmp_path):
    from causalgia.studies.runner import run_study
    from causalgia.studies.spec import parse_spec

    raw = {
        "study": {"n": 60, "seed": 5},
        "model": {"builtin": "rbp_oracle"},
        "background": {"kind": "iid", "length": 41},
        "experiment": [{"name": "position", "type": "positions", "motif": "UGCAUG",
                        "positions": [0, 6, 12, 18, 24, 30, 35]}],
        "pooling": {"experiments": ["position"], "curve": "position", "draws": 1000,
                    "tune": 1000, "chains": 4, "min_effect": 0.2, "diagnostics": "raise"},
    }  # fmt: skip
    out = run_study(parse_spec(raw), tmp_path / "run", figures=True)
    run = tmp_path / "run"
    assert (run / "posterior.nc").is_file() and (run / "figures" / "pooled_position.png").is_file()
    back = HierarchicalFit.load(run / "posterior.nc")
    pd.testing.assert_frame_equal(back.to_frame(), out.pooled.to_frame())
    pooled = pd.read_csv(run / "pooled.csv")
    assert len(pooled) == 7 and {"post_mean", "hdi_low", "hdi_high"} <= set(pooled.columns)
    report = (run / "report.md").read_text()
    assert "## Pooled estimates (hierarchical model)" in report
    assert "figures/pooled_position.png" in report and "P(\\|θ\\| > 0.2)" in report
