"""Structured priors of the hierarchical effect models: Gaussian-process curve, periodic
component, the count model (additive vs saturating copies) and the nutpie sampler.

Every fit here is small (2 chains x 400-1000 draws); fits of one structure share PyMC's
compiled code, so the file stays under a minute on 2 cores.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from causalgia.engine.declaration import as_model
from causalgia.engine.simulator import simulate
from causalgia.errors import EstimationError, OptionError
from causalgia.experiment.backgrounds import iid
from causalgia.experiment.designs import design, sweep_counts
from causalgia.pooling.countmodel import fit_count_model
from causalgia.pooling.effectstats import count_statistics, lengthscale_bounds, periodic_interval
from causalgia.pooling.hierarchical import HierarchicalFit, build_effect_model, fit_hierarchical
from causalgia.stats import contrasts as C
from causalgia.testing import AdditiveOracle, RBPOracle

pm = pytest.importorskip("pymc")

J = 50
SPACINGS = np.arange(41)
PERIOD, PHASE = 10.5, 1.0


def bump(j: np.ndarray) -> np.ndarray:
    """The performance-anchor positional curve (tests/test_hierarchical.py)."""
    return 0.1 + 0.4 * np.exp(-(((j - 24.5) / 5.0) ** 2))


def position_table(seed: int = 1, se: float = 0.11) -> pd.DataFrame:
    """One ACE per position: the planted bump plus N(0, se) (the anchor's per-position SE)."""
    rng = np.random.default_rng(seed)
    x = np.arange(J)
    return pd.DataFrame(
        {"experiment": "position", "label": [f"site@{j}" for j in x], "position": x,
         "ace": bump(x) + rng.normal(0.0, se, J), "se": se}
    )  # fmt: skip


def spacing_truth(amplitude: float) -> np.ndarray:
    """A decaying spacing trend plus a helical sinusoid of the given amplitude."""
    s = SPACINGS
    return 0.5 + 0.3 * np.exp(-s / 6.0) + amplitude * np.cos(2 * np.pi * s / PERIOD - PHASE)


def spacing_table(amplitude: float, seed: int, se: float = 0.06) -> pd.DataFrame:
    """Two orientations per spacing (so tau is free and the exact marginal path runs)."""
    rng = np.random.default_rng(seed)
    frames = [
        pd.DataFrame(
            {"experiment": "spacing", "label": [f"gap{s}{o}" for s in SPACINGS],
             "spacing": SPACINGS, "orientation": o,
             "ace": spacing_truth(amplitude) + rng.normal(0.0, se, SPACINGS.size), "se": se}
        )
        for o in "+-"
    ]  # fmt: skip
    return pd.concat(frames, ignore_index=True)


def fit_spacing(amplitude: float, seed: int) -> HierarchicalFit:
    return fit_hierarchical(
        spacing_table(amplitude, seed), curve="spacing", curve_prior="gp", periodic=PERIOD,
        draws=400, tune=400, chains=2, random_seed=seed, diagnostics="ignore",
    )  # fmt: skip


@pytest.fixture(scope="module")
def planted() -> HierarchicalFit:
    return fit_spacing(0.1, seed=3)


@pytest.fixture(scope="module")
def flat() -> HierarchicalFit:
    return fit_spacing(0.0, seed=1)


# -- Gaussian-process curve ------------------------------------------------------------------


def test_gp_model_structure_and_lengthscale_prior(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("build_effect_model must not sample")

    monkeypatch.setattr(pm, "sample", forbidden)
    model = build_effect_model(spacing_table(0.1, 0), curve="spacing", curve_prior="gp",
                               periodic=PERIOD)  # fmt: skip
    names = set(model.named_vars)
    assert {"curve_lengthscale", "curve_amplitude", "curve_coeffs", "curve", "periodic_cos",
            "periodic_sin", "periodic_amplitude", "periodic_phase", "tau"} <= names  # fmt: skip
    assert "curve_sd" not in names and "curve_steps" not in names
    low, high = lengthscale_bounds(SPACINGS.astype(float))
    assert (low, high) == (2.0, 20.0)
    draws = pm.draw(model["curve_lengthscale"], 20_000, random_seed=1)
    q = np.quantile(draws, [0.025, 0.975])
    np.testing.assert_allclose(q, [low, high], rtol=0.08)  # the prior's central 95%
    assert len(model.coords["spacing_basis"]) == 53  # ceil(2.65 * c=2 * S=20 / 2)
    # the curve is part of eta in every parameterization
    for kw in ({"effects": "student_t"}, {"parameterization": "noncentred"}):
        other = build_effect_model(spacing_table(0.0, 0), curve="spacing", curve_prior="gp", **kw)
        assert {"theta", "z", "curve", "curve_coeffs"} <= set(other.named_vars)


def test_structure_options_are_checked():
    t = position_table()
    with pytest.raises(OptionError, match="curve_prior='spline'"):
        build_effect_model(t, curve="position", curve_prior="spline")
    with pytest.raises(OptionError, match="curve_prior='gp' needs curve="):
        build_effect_model(t, curve_prior="gp")
    with pytest.raises(OptionError, match="periodic=10.5 needs curve="):
        build_effect_model(t, periodic=10.5)
    with pytest.raises(OptionError, match="periodic=1.5 .*alias"):
        build_effect_model(t, curve="position", periodic=1.5)
    with pytest.raises(OptionError, match="periodic=nan"):
        build_effect_model(t, curve="position", periodic=float("nan"))


def test_gp_curve_recovers_a_planted_smooth_curve():
    t = position_table(seed=1)
    fit = fit_hierarchical(t, curve="position", curve_prior="gp", draws=400, tune=400,
                           chains=2, random_seed=1, diagnostics="ignore")  # fmt: skip
    frame, truth = fit.to_frame(), bump(np.arange(J))
    rmse_raw = np.sqrt(np.mean((frame["ace"] - truth) ** 2))
    rmse_gp = np.sqrt(np.mean((frame["post_mean"] - truth) ** 2))
    assert rmse_gp < 0.7 * rmse_raw  # measured: ratio 0.26-0.49 over seeds 1-4
    inside = (frame["hdi_low"] <= truth) & (truth <= frame["hdi_high"])
    assert inside.mean() >= 0.8
    assert fit.settings["curve_prior"] == "gp" and fit.settings["tau"] == 0.0
    assert fit.settings["gp_basis"] == 65 and fit.diagnostics.max_r_hat < 1.05
    hyper = fit.hyper.set_index("parameter")
    assert {"curve_lengthscale", "curve_amplitude"} <= set(hyper.index)
    assert not any(p.startswith("curve_coeffs") for p in hyper.index)


# -- periodic component ------------------------------------------------------------------------


def test_periodic_interval_reaches_zero_only_when_the_origin_is_credible():
    rng = np.random.default_rng(0)
    low, high = periodic_interval(rng.normal(0.02, 0.05, 4000), rng.normal(0, 0.05, 4000), 0.95)
    assert low == 0.0 and 0.1 < high < 0.2
    a, b = rng.normal(0.3, 0.02, 4000), rng.normal(0.4, 0.02, 4000)
    low, high = periodic_interval(a, b, 0.95)
    r = np.sqrt(5.99)  # chi2(2) 95% radius in units of the SD
    assert low == pytest.approx(0.5 - r * 0.02, abs=0.006)
    assert high == pytest.approx(0.5 + r * 0.02, abs=0.006)
    assert periodic_interval(np.ones(10), np.ones(10), 0.95) is None


def test_planted_helical_periodicity_is_found(planted):
    assert planted.settings["parameterization"] == "marginal"  # exact theta draws + curve
    hyper = planted.hyper.set_index("parameter")
    amp = hyper.loc["periodic_amplitude"]
    assert amp["hdi_low"] > 0 and amp["hdi_low"] <= 0.1 <= amp["hdi_high"]
    phase = hyper.loc["periodic_phase"]
    assert phase["hdi_low"] <= PHASE <= phase["hdi_high"]
    frame = planted.to_frame()
    truth = spacing_truth(0.1)[frame["spacing"].to_numpy()]
    rmse_raw = np.sqrt(np.mean((frame["ace"] - truth) ** 2))
    assert np.sqrt(np.mean((frame["post_mean"] - truth) ** 2)) < 0.7 * rmse_raw


def test_no_periodicity_covers_zero(flat):
    amp = flat.hyper.set_index("parameter").loc["periodic_amplitude"]
    assert amp["hdi_low"] == 0.0 and amp["hdi_high"] < 0.1


def test_gp_periodic_fit_round_trips_through_netcdf(planted, tmp_path):
    back = HierarchicalFit.load(planted.save(tmp_path / "gp.nc"))
    pd.testing.assert_frame_equal(back.to_frame(), planted.to_frame())
    pd.testing.assert_frame_equal(back.hyper, planted.hyper)
    assert back.settings == planted.settings and back.settings["periodic"] == PERIOD
    assert "curve=spacing (gp, periodic 10.5)" in back.summary()
    assert "periodic_amplitude: " in back.summary()


# -- count model -------------------------------------------------------------------------------

POSITIONS = [12, 34, 56, 78]  # > 16 nt apart: the RBP oracle's sites do not interfere


def count_result(model, background, motif: str, seed: int):
    arms = sweep_counts(motif, [1, 2, 3, 4], positions=POSITIONS)
    return simulate(as_model(model), design(background, arms, n=200, rng=seed), progress=False)


@pytest.fixture(scope="module")
def rbp_counts():
    return count_result(RBPOracle(), iid(100, alphabet="rna"), "UGCAUG", seed=3)


def test_count_model_finds_planted_saturation(rbp_counts):
    fit = fit_count_model(rbp_counts, draws=500, tune=500, chains=2, random_seed=1,
                          diagnostics="ignore")  # fmt: skip
    row = fit.to_frame().iloc[0]
    assert row["p_saturating"] > 0.99 and row["r_high"] < 0.7
    assert row["verdict"].startswith("saturating")
    # aligned with contrasts.additivity's exponential fit: r = exp(-1/scale)
    scale = C.additivity(rbp_counts, n_resamples=20, rng=1).fit.set_index("parameter")
    r_ls = np.exp(-1.0 / scale.loc["scale", "estimate"])
    assert row["r_low"] <= r_ls <= row["r_high"]
    assert row["p_lack_of_fit"] > 0.01  # the geometric curve fits the oracle
    curve, more = fit.curve, fit.curve["count"] > 1
    assert (np.abs(curve["ace"] - curve["fit_mean"]) < 3 * curve["se"]).all()
    assert (curve.loc[more, "fit_high"] < curve.loc[more, "additive"]).all()  # below beta·k
    assert "count / UGCAUG: saturating" in fit.summary()


def test_count_model_keeps_exact_additivity():
    res = count_result(AdditiveOracle.from_motif("GATA", 100), iid(100), "GATA", seed=4)
    fit = fit_count_model(res, draws=500, tune=500, chains=2, random_seed=2,
                          diagnostics="ignore")  # fmt: skip
    row = fit.to_frame().iloc[0]
    assert row["r_low"] < 1.0 < row["r_high"]
    assert row["verdict"].startswith("consistent with additive")
    assert row["beta_low"] < 2.0 < row["beta_high"]  # exact ACE of one GATA: 2.0


def test_count_model_pools_several_curves():
    truth = {"A": (1.0, 0.5), "B": (0.8, 0.6), "C": (1.2, 1.0)}
    rows = []
    for motif, (beta, r) in truth.items():
        for k in (1, 2, 3, 4):
            mean = beta * sum(r**i for i in range(k))
            rows.append({"experiment": "count", "motif": motif, "label": f"{motif}x{k}",
                         "count": k, "ace": mean, "se": 0.03})  # fmt: skip
    fit = fit_count_model(pd.DataFrame(rows), tau=None, draws=500, tune=500, chains=2,
                          random_seed=3, diagnostics="ignore")  # fmt: skip
    table = fit.to_frame().set_index("motif")
    for motif, (beta, r) in truth.items():
        assert table.loc[motif, "r_low"] <= r <= table.loc[motif, "r_high"]
        assert table.loc[motif, "beta_low"] <= beta <= table.loc[motif, "beta_high"]
    assert table.loc["A", "p_saturating"] > 0.99 and table.loc["C", "r_low"] < 1
    assert {"logr_mu", "logr_sd", "tau"} == set(fit.hyper["parameter"])


def test_count_statistics_name_bad_rows():
    t = pd.DataFrame({"experiment": "count", "motif": "GATA", "label": ["x1", "x2", "x2b"],
                      "count": [1, 2, 2.5], "ace": [1.0, 1.8, 2.0], "se": 0.1})  # fmt: skip
    with pytest.raises(EstimationError, match="positive integer copy numbers; row label='x2b'"):
        count_statistics(t)
    with pytest.raises(EstimationError, match="count curve 'count / GATA'.*counts \\[1\\]"):
        count_statistics(t.iloc[:1])
    with pytest.raises(EstimationError, match=r"no rows with experiment \['counts'\]"):
        count_statistics(t, experiment="counts")
    with pytest.raises(EstimationError, match=r"lacks column\(s\) \['copies'\]"):
        count_statistics(t, count="copies")


# -- nutpie ------------------------------------------------------------------------------------


def test_nutpie_matches_pymc_and_the_closed_form():
    pytest.importorskip("nutpie", reason="nutpie is not installed (pip install nutpie)")
    t = pd.DataFrame(
        {"experiment": "e", "label": list("abcdefgh"),
         "ace": [0.9, -0.2, 0.4, 0.1, 1.3, 0.6, -0.5, 0.3],
         "se": [0.3, 0.5, 0.2, 0.4, 0.6, 0.25, 0.35, 0.45]}
    )  # fmt: skip
    tau, s = 0.4, 1.0
    prior = s**2 * np.ones((8, 8)) + tau**2 * np.eye(8)
    gain = prior @ np.linalg.inv(prior + np.diag(t["se"] ** 2))
    mean, sd = gain @ t["ace"].to_numpy(), np.sqrt(np.diag(prior - gain @ prior))
    kw = dict(tau=tau, prior_scale=s, draws=1000, tune=1000, chains=2, random_seed=3)
    fits = {name: fit_hierarchical(t, sampler=name, **kw) for name in ("nutpie", "pymc")}
    for name, fit in fits.items():
        frame = fit.to_frame()
        mcse = frame["post_sd"] / np.sqrt(frame["ess_bulk"])
        assert (np.abs(frame["post_mean"] - mean) < 4 * mcse).all(), name
        np.testing.assert_allclose(frame["post_sd"], sd, rtol=0.12, err_msg=name)
        assert fit.diagnostics.passed, name
    np_frame, pymc_frame = fits["nutpie"].to_frame(), fits["pymc"].to_frame()
    both = np.sqrt(np_frame["post_sd"] ** 2 / np_frame["ess_bulk"]
                   + pymc_frame["post_sd"] ** 2 / pymc_frame["ess_bulk"])  # fmt: skip
    assert (np.abs(np_frame["post_mean"] - pymc_frame["post_mean"]) < 5 * both).all()
    idata = fits["nutpie"].idata
    assert idata.posterior.sizes["draw"] == 1000 and "warmup_posterior" not in idata.groups()
    assert fits["nutpie"].settings["sampler"] == "nutpie"


def test_spec_pooling_passes_curve_prior_and_periodic(monkeypatch):
    import causalgia.pooling.hierarchical as H
    from causalgia.errors import ConfigError
    from causalgia.studies.runner import _pooling
    from causalgia.studies.spec import parse_spec

    raw = {
        "study": {"n": 10, "seed": 5},
        "model": {"builtin": "rbp_oracle"},
        "background": {"kind": "iid", "length": 41},
        "experiment": [{"name": "spacing", "type": "spacing", "motif": "UGCAUG",
                        "start": 2, "spacings": [0, 2, 4, 6, 8, 10, 12]}],
        "pooling": {"experiments": ["spacing"], "curve": "spacing", "curve_prior": "gp",
                    "periodic": 10.5},
    }  # fmt: skip
    spec = parse_spec(raw)
    seen = {}
    monkeypatch.setattr(H, "fit_hierarchical", lambda data, **kw: seen.update(kw) or "fit")
    ice = pd.DataFrame({"experiment": ["spacing"], "label": ["s0"], "ice": [0.0]})
    assert _pooling(spec, ice, seed=1) == "fit"
    assert seen["curve_prior"] == "gp" and seen["periodic"] == 10.5
    assert seen["target_accept"] is None  # the GP's own default (0.99) applies
    with pytest.raises(ConfigError, match="periodic"):
        parse_spec({**raw, "pooling": {**raw["pooling"], "periodic": "helical"}})
