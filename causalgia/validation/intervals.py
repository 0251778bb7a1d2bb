"""Frequentist interval studies: coverage, type-I error and p-value uniformity, power, FDR, and
paired vs unpaired designs.

Each study draws its ICEs from the oracle regimes of :mod:`causalgia.validation.regimes` with
its own seed and returns JSON-safe rows; :func:`causalgia.validation.run_validation` collects
them and :mod:`causalgia.validation.report` renders them.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import stats

from ..engine.declaration import as_model
from ..engine.simulator import simulate
from ..experiment.backgrounds import iid
from ..experiment.designs import Arm, design
from ..experiment.interventions import Ablate, Compose, Intervention, Substitute
from ..stats.estimators import cluster_robust, paired_t, permutation_test
from ..testing import AdditiveOracle, PlantedRBPOracle
from .regimes import Z95, Regime, _coverage_stats, ice_blocks, regimes

# --- coverage -------------------------------------------------------------------------------


def _bca(x: np.ndarray, n_boot: int, gen: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """BCa 95% intervals of the mean of every row of ``x`` (scipy.stats.bootstrap).

    Rows are processed in chunks so that the bootstrap and jackknife arrays stay small.
    """
    n = x.shape[1]
    rows = max(1, 20_000_000 // (n * n))
    low, high = np.empty(len(x)), np.empty(len(x))
    for a in range(0, len(x), rows):
        part = x[a : a + rows]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = stats.bootstrap(
                (part,),
                np.mean,
                axis=-1,
                vectorized=True,
                n_resamples=n_boot,
                method="BCa",
                rng=gen,
                batch=max(1, 20_000_000 // part.size),
            )
        low[a : a + rows] = res.confidence_interval.low
        high[a : a + rows] = res.confidence_interval.high
    return low, high


def coverage_study(
    regime: Regime, n: int, reps: int, *, seed: int, n_boot: int, sd_true: np.ndarray
) -> list[dict[str, Any]]:
    """Coverage and relative width of paired t, BCa, cluster-robust and naive pooled intervals.

    ``sd_true``: true SD of every arm's ICE and, last, of the per-background mean over arms.

    Parameters
    ----------
    regime : Regime
        Oracle, background and arms.
    n, reps : int
        Backgrounds per experiment and replicate experiments.
    seed : int
        Seed of the ICEs (:func:`~causalgia.validation.regimes.ice_blocks`) and of the
        bootstrap resamples.
    n_boot : int
        Bootstrap resamples of each BCa interval.
    sd_true : ndarray
        True ICE SDs, ``len(regime.arms) + 1`` values; they scale the oracle widths.

    Returns
    -------
    list of dict
        One row per estimator (``paired_t``, ``bootstrap_bca``, ``cluster_robust``,
        ``pooled_iid_wrong``): coverage statistics, ``width_ratio``, ``failed``, ``regime``,
        ``n`` and ``reps``.

    Examples
    --------
    >>> from causalgia.validation.regimes import reference_sd
    >>> r = regimes()["homogeneous"]
    >>> rows = coverage_study(r, 10, 5, seed=1, n_boot=99, sd_true=reference_sd(r, 500, 1))
    >>> [row["estimator"] for row in rows]
    ['paired_t', 'bootstrap_bca', 'cluster_robust', 'pooled_iid_wrong']
    """
    ice = ice_blocks(regime, n, reps, seed)
    truth = regime.truth()
    p = len(regime.arms)
    rows: list[dict[str, Any]] = []
    lo, hi = np.empty((reps, p)), np.empty((reps, p))
    for r in range(reps):
        for j in range(p):
            est = paired_t(ice[r, :, j])
            lo[r, j], hi[r, j] = est["ci_low"], est["ci_high"]
    oracle = 2 * Z95 * sd_true[:p] / np.sqrt(n)
    rows.append(_row("paired_t", lo, hi, truth, oracle))
    gen = np.random.default_rng(seed)
    flat = ice.transpose(0, 2, 1).reshape(reps * p, n)
    blo, bhi = _bca(flat, n_boot, gen)
    rows.append(_row("bootstrap_bca", blo.reshape(reps, p), bhi.reshape(reps, p), truth, oracle))
    pooled = float(truth.mean())
    clusters = np.repeat(np.arange(n), p)
    c_lo, c_hi, n_lo, n_hi = (np.empty((reps, 1)) for _ in range(4))
    for r in range(reps):
        units = ice[r].reshape(-1)
        est = cluster_robust(units, clusters)
        c_lo[r, 0], c_hi[r, 0] = est["ci_low"], est["ci_high"]
        naive = paired_t(units)
        n_lo[r, 0], n_hi[r, 0] = naive["ci_low"], naive["ci_high"]
    pooled_oracle = np.array([2 * Z95 * sd_true[p] / np.sqrt(n)])
    rows.append(_row("cluster_robust", c_lo, c_hi, np.array([pooled]), pooled_oracle))
    rows.append(_row("pooled_iid_wrong", n_lo, n_hi, np.array([pooled]), pooled_oracle))
    for row in rows:
        row.update(regime=regime.name, n=n, reps=reps)
    return rows


def _row(
    estimator: str, lo: np.ndarray, hi: np.ndarray, truth: np.ndarray, oracle: np.ndarray
) -> dict[str, Any]:
    ok = np.isfinite(lo) & np.isfinite(hi)
    hit = ok & (lo <= truth) & (truth <= hi)
    width = np.where(ok, hi - lo, np.nan)
    return {
        "estimator": estimator,
        **_coverage_stats(hit.astype(float)),
        "width_ratio": float(np.nanmean(width / oracle)),
        "failed": int((~ok).sum()),
    }


# --- type-I error, power, FDR ---------------------------------------------------------------

NULL_ORACLE = AdditiveOracle(np.random.default_rng(0).normal(size=(30, 4)))
CONTROLS: dict[str, tuple[str, Intervention]] = {
    "negative control": ("shuffle ablation of [8, 20): ACE 0 under iid", Ablate(8, 20)),
    "placebo": (
        "window [8, 20) resampled from P_B (uniform letters): ACE 0 exactly",
        Ablate(8, 20, fill="random"),
    ),
}


DKW_ALPHA = 0.05
ECDF_GRID = 201


def dkw_epsilon(n: int, alpha: float = DKW_ALPHA) -> float:
    """Half-width of the simultaneous ``1 − alpha`` band of an empirical CDF of ``n`` points.

    The Dvoretzky–Kiefer–Wolfowitz inequality with Massart's (1990) tight constant,
    ``P(sup_u |F_n(u) − F(u)| > ε) ≤ 2·exp(−2nε²)``, gives ``ε = sqrt(ln(2/α) / (2n))``.

    Parameters
    ----------
    n : int
        Number of points of the ECDF.
    alpha : float
        One minus the simultaneous coverage of the band.

    Returns
    -------
    float
        ε.

    Examples
    --------
    >>> round(dkw_epsilon(4000), 4)
    0.0215
    """
    return float(np.sqrt(np.log(2.0 / alpha) / (2.0 * n)))


def pvalue_uniformity(p: np.ndarray, *, alpha: float = DKW_ALPHA) -> dict[str, Any]:
    """KS test and DKW band check of p-values against U(0, 1).

    ``max_abs_ecdf_dev`` is ``sup_u |ECDF(u) − u|`` (the one-sample KS statistic, left limits
    included); the ECDF stays inside the band when it is at most ``dkw_eps``.
    ``ecdf_minus_u`` is ``ECDF(u) − u`` on ``ECDF_GRID`` equally spaced u in [0, 1] (for the
    figure).

    Parameters
    ----------
    p : numpy.ndarray
        P-values, one per replicate experiment.
    alpha : float
        One minus the simultaneous coverage of the DKW band.

    Returns
    -------
    dict
        ``ks_statistic, ks_p, max_abs_ecdf_dev, dkw_eps, inside_band, ecdf_minus_u``.

    Examples
    --------
    >>> u = pvalue_uniformity(np.linspace(0.0005, 0.9995, 1000))
    >>> bool(u["inside_band"]), round(u["max_abs_ecdf_dev"], 4)
    (True, 0.0005)
    """
    p = np.sort(np.asarray(p, dtype=float))
    ks = stats.kstest(p, "uniform")
    eps = dkw_epsilon(len(p), alpha)
    grid = np.linspace(0.0, 1.0, ECDF_GRID)
    dev = np.searchsorted(p, grid, side="right") / len(p) - grid
    return {
        "ks_statistic": float(ks.statistic),
        "ks_p": float(ks.pvalue),
        "max_abs_ecdf_dev": float(ks.statistic),
        "dkw_eps": eps,
        "inside_band": bool(ks.statistic <= eps),
        "ecdf_minus_u": np.round(dev, 5).tolist(),
    }


def type_one_study(
    control: str, n: int, reps: int, *, seed: int, n_perm: int
) -> list[dict[str, Any]]:
    """Rejection rate at α = 0.05 and uniformity of paired-t and sign-flip p-values.

    Uniformity: the KS test and the simultaneous 95% DKW band of the p-values' ECDF
    (:func:`pvalue_uniformity`).

    Parameters
    ----------
    control : str
        A key of :data:`CONTROLS`.
    n, reps : int
        Backgrounds per experiment and replicate experiments.
    seed : int
        Seed of the ICEs and of the sign-flip resamples.
    n_perm : int
        Sign-flip resamples (exact enumeration when ``2**n`` is at most this).

    Returns
    -------
    list of dict
        One row per test (``paired_t``, ``sign_flip``).

    Examples
    --------
    >>> rows = type_one_study("placebo", 10, 20, seed=1, n_perm=99)  # doctest: +SKIP
    """
    _, intervention = CONTROLS[control]
    assert abs(NULL_ORACLE.true_ace(intervention, iid(30))) < 1e-12
    regime = Regime(control, "", NULL_ORACLE, iid(30), (Arm("null", intervention, "null"),))
    ice = ice_blocks(regime, n, reps, seed)[:, :, 0]
    gen = np.random.default_rng(seed)
    p_t = np.array([paired_t(x)["p_value"] for x in ice])
    p_perm = np.array([permutation_test(x, n_resamples=n_perm, rng=gen) for x in ice])
    rows = []
    for test, p in (("paired_t", p_t), ("sign_flip", p_perm)):
        rows.append(
            {
                "control": control,
                "test": test,
                "n": n,
                "reps": reps,
                "rejection_rate": float(np.mean(p < 0.05)),
                "mcse": float(np.sqrt(0.05 * 0.95 / reps)),
                **pvalue_uniformity(p),
            }
        )
    return rows


def _shift_model(noise: int, c: float, length: int, seed: int = 7) -> AdditiveOracle:
    """Weights: random on ``[0, noise)``, ``c·(onehot(GATA) − 1/4)`` at the last 4 sites."""
    w = np.zeros((length, 4))
    w[:noise] = np.random.default_rng(seed).normal(size=(noise, 4))
    w[-4:] = c * (np.eye(4)[[2, 0, 3, 0]] - 0.25)
    return AdditiveOracle(w)


def _shift_effect_size(model: AdditiveOracle, noise: tuple[int, int], c: float) -> float:
    """ACE / SD(ICE) of Compose(random ablation of ``noise``, GATA at the end), closed form."""
    a, b = noise
    var_noise = 2.0 * float(np.sum(model.weights[a:b].var(axis=1)))
    return 3.0 * c / np.sqrt(var_noise + 0.75 * c**2)


def power_study(
    n: int, reps: int, *, seed: int, effects_se: tuple[float, ...]
) -> list[dict[str, Any]]:
    """Empirical power of the paired t test against ``statsmodels`` analytic power.

    Parameters
    ----------
    n, reps : int
        Backgrounds per experiment and replicate experiments.
    seed : int
        Seed of the ICEs; effect k uses ``seed + k``.
    effects_se : tuple of float
        True effects in standard errors of the mean ICE (``d·sqrt(n)``); 0 is the null.

    Returns
    -------
    list of dict
        One row per effect: ``effect_se, effect_size, true_ace, n, reps, analytic_power,
        empirical_power, mcse, z``.

    Examples
    --------
    >>> rows = power_study(10, 5, seed=1, effects_se=(0.0, 2.0))
    >>> [row["effect_se"] for row in rows], round(rows[0]["true_ace"], 9)
    ([0.0, 2.0], 0.0)
    """
    from statsmodels.stats.power import TTestPower

    length, noise = 30, 12
    rows = []
    for k, delta in enumerate(effects_se):
        d_target = delta / np.sqrt(n)
        base = _shift_model(noise, 1.0, length)
        c = 0.0
        if delta > 0:
            c = _solve(_gap(base, (0, noise), d_target), 1e-6, 50.0)
        model = _shift_model(noise, c, length)
        arm = Arm(
            "shift",
            Compose((Ablate(0, noise, fill="random"), Substitute("GATA", length - 4))),
            "power",
        )
        truth = model.true_ace(arm.intervention, iid(length))
        regime = Regime("power", "", model, iid(length), (arm,))
        ice = ice_blocks(regime, n, reps, seed + k)[:, :, 0]
        p = np.array([paired_t(x)["p_value"] for x in ice])
        d = _shift_effect_size(model, (0, noise), c) if c > 0 else 0.0
        analytic = float(TTestPower().power(effect_size=d, nobs=n, alpha=0.05))
        emp = float(np.mean(p < 0.05))
        mcse = float(np.sqrt(max(analytic * (1 - analytic), 1e-12) / reps))
        rows.append(
            {
                "effect_se": delta,
                "effect_size": d,
                "true_ace": truth,
                "n": n,
                "reps": reps,
                "analytic_power": analytic,
                "empirical_power": emp,
                "mcse": mcse,
                "z": (emp - analytic) / mcse,
            }
        )
    return rows


def _gap(base: AdditiveOracle, noise: tuple[int, int], d: float) -> Callable[[float], float]:
    return lambda c: _shift_effect_size(base, noise, c) - d


def _solve(f: Callable[[float], float], lo: float, hi: float) -> float:
    from scipy.optimize import brentq

    return float(brentq(f, lo, hi))


def fdr_study(
    reps: int, *, seed: int, n: int = 30, m: int = 50, nonnull: int = 10, d: float = 0.6
) -> list[dict[str, Any]]:
    """Realised FDR of BH (and BY) over panels of ``m`` effects, ``nonnull`` of them real.

    Parameters
    ----------
    reps : int
        Replicate panels.
    seed : int
        Seed of the ICEs.
    n : int, default 30
        Backgrounds per panel.
    m : int, default 50
        Effects per panel.
    nonnull : int, default 10
        Effects that are real (the others have ACE 0).
    d : float, default 0.6
        Standardized effect size (ACE / SD of ICE) of the real effects.

    Returns
    -------
    list of dict
        One row per method (``fdr_bh``, ``fdr_by``) and level q (0.05, 0.10, 0.20): the
        settings, realised ``fdr``, its ``mcse`` and ``power``.

    Examples
    --------
    >>> rows = fdr_study(2, seed=1, n=10, m=5, nonnull=1)
    >>> [(row["method"], row["q"]) for row in rows][:2]
    [('fdr_bh', 0.05), ('fdr_bh', 0.1)]
    """
    from statsmodels.stats.multitest import multipletests

    length, noise = 60, 40
    base = _shift_model(noise, 1.0, length)
    windows = [(a, a + 8) for a in np.linspace(0, noise - 8, m).astype(int)]
    c = _solve(_gap(base, windows[0], d), 1e-6, 50.0)
    model = _shift_model(noise, c, length)
    arms = []
    for k, (a, b) in enumerate(windows):
        if k < nonnull:
            do: Intervention = Compose(
                (Ablate(a, b, fill="random"), Substitute("GATA", length - 4))
            )
        else:
            do = Ablate(a, b, fill="random")
        arms.append(Arm(f"arm{k}", do, "fdr"))
    regime = Regime("fdr", "", model, iid(length), tuple(arms))
    truth = regime.truth()
    null = np.isclose(truth, 0.0)
    ice = ice_blocks(regime, n, reps, seed)
    p = stats.ttest_1samp(ice, 0.0, axis=1).pvalue  # (reps, m): the paired t of each arm
    rows = []
    for method in ("fdr_bh", "fdr_by"):
        for q in (0.05, 0.10, 0.20):
            rej = np.array([multipletests(row, alpha=q, method=method)[0] for row in p])
            fdp = (rej & null).sum(axis=1) / np.maximum(rej.sum(axis=1), 1)
            rows.append(
                {
                    "method": method,
                    "q": q,
                    "reps": reps,
                    "m": m,
                    "nonnull": nonnull,
                    "effect_size": d,
                    "n": n,
                    "fdr": float(fdp.mean()),
                    "mcse": float(fdp.std(ddof=1) / np.sqrt(reps)),
                    "power": float((rej & ~null).sum(axis=1).mean() / nonnull),
                }
            )
    return rows


# --- paired vs unpaired ---------------------------------------------------------------------


def paired_unpaired_study(reps: int, *, seed: int, n: int = 100) -> list[dict[str, Any]]:
    """Forward passes of paired vs completely randomized designs for equal interval width.

    Analytic ratio (var y + var y_do)/var(ICE) from a large paired run, and the empirical
    ratio of squared mean interval widths over ``reps`` replicate experiments of each design
    at equal cost (2n forward passes: n paired backgrounds, or 2n randomized ones).

    Parameters
    ----------
    reps : int
        Replicate experiments of each design.
    seed : int
        Root seed of the designs.
    n : int, default 100
        Paired backgrounds per experiment (the randomized design has ``2n``).

    Returns
    -------
    list of dict
        One row per oracle (the three regimes and the RBP oracle): ``oracle, corr,
        analytic_ratio, empirical_ratio, reps, n``.

    Examples
    --------
    >>> [row["oracle"] for row in paired_unpaired_study(1, seed=1, n=10)]
    ['homogeneous', 'heterogeneous', 'heavy_tailed', 'rbp_oracle']
    """
    rbp = PlantedRBPOracle()
    cases = [(name, r.model, r.background, r.arms[0]) for name, r in regimes().items()] + [
        ("rbp_oracle", rbp, iid(41, alphabet="rna"), Arm("site", Substitute("UGCAUG", 17)))
    ]
    rows = []
    for k, (name, model, background, arm) in enumerate(cases):
        big = simulate(
            as_model(model), design(background, [arm], n=20_000, rng=seed + k), progress=False
        ).table
        v0, v1, vi = (float(big[c].var(ddof=1)) for c in ("y_control", "y_do", "ice"))
        widths_p, widths_u = [], []
        for r in range(reps):
            rs = seed + 1000 * (k + 1) + r
            paired = simulate(
                as_model(model), design(background, [arm], n=n, rng=rs), progress=False
            ).table
            widths_p.append(np.diff([*_ci(paired["ice"].to_numpy())]))
            rand = simulate(
                as_model(model),
                design(background, [arm], n=2 * n, kind="randomized", rng=rs),
                progress=False,
            ).table
            y1 = rand.loc[rand["label"] != "control", "y"].to_numpy()
            y0 = rand.loc[rand["label"] == "control", "y"].to_numpy()
            res = stats.ttest_ind(y1, y0, equal_var=False).confidence_interval(0.95)
            widths_u.append(res.high - res.low)
        rows.append(
            {
                "oracle": name,
                "corr": float(big[["y_control", "y_do"]].corr().iloc[0, 1]),
                "analytic_ratio": (v0 + v1) / vi,
                "empirical_ratio": float((np.mean(widths_u) / np.mean(widths_p)) ** 2),
                "reps": reps,
                "n": n,
            }
        )
    return rows


def _ci(x: np.ndarray) -> tuple[float, float]:
    est = paired_t(x)
    return est["ci_low"], est["ci_high"]
