"""Covariate adjustment, stratification and fold changes: ACE estimators beyond the mean ICE.

- :func:`regression_adjusted` / :func:`estimate_adjusted`: OLS with heteroskedasticity-robust
  SEs (statsmodels), a control-variate estimator for paired ICEs and Lin's (2013) interacted
  estimator for completely randomized designs;
- :func:`stratified_mean` / :func:`estimate_stratified`: backgrounds sampled by stratum (e.g. GC);
- :func:`ratio_effect` / :func:`estimate_ratio`: E f(do(x)) / E f(x) for outputs that are counts
  or probabilities, with delta-method or bootstrap intervals.

All return the same dictionaries / :class:`~causalgia.stats.estimators.AceEstimates` as
:mod:`causalgia.stats.estimators`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from .._options import check_int, check_option, check_probability
from .._rng import RngLike, generator, root_seed
from ..errors import EstimationError, OptionError
from .estimators import (
    _BOOT_METHOD,
    ADJUSTMENTS,
    AceEstimates,
    Adjustment,
    Estimate,
    _assemble,
    _degenerate,
    _groups,
    _HasTable,
    _lookup,
    _named,
    _require,
    _t_estimate,
    bootstrap_generator,
)

CovType = Literal["HC0", "HC1", "HC2", "HC3"]
RatioScale = Literal["ratio", "log", "log2"]
RatioInterval = Literal["delta", "bootstrap_percentile", "bootstrap_bca"]
COV_TYPES: tuple[str, ...] = ("HC0", "HC1", "HC2", "HC3")
RATIO_SCALES: tuple[str, ...] = ("ratio", "log", "log2")
RATIO_INTERVALS: tuple[str, ...] = ("delta", "bootstrap_percentile", "bootstrap_bca")


def regression_adjusted(
    y: np.ndarray,
    covariates: np.ndarray,
    *,
    treatment: np.ndarray | None = None,
    centers: np.ndarray | None = None,
    cov_type: CovType = "HC3",
    ci: float = 0.95,
) -> Estimate:
    """Covariate-adjusted ACE by OLS with heteroskedasticity-robust SEs (statsmodels).

    Paired ICEs (``treatment=None``): the intercept of ``ice ~ 1 + (Z − centers)``, a
    control-variate estimator that needs the *population* means of the covariates as
    ``centers`` (e.g. the GC content of P_B); centred at the sample mean it would equal the
    plain mean with too small an SE, so ``centers`` is required. Randomized outcomes: Lin's
    (2013) estimator, the coefficient of ``T`` in ``y ~ 1 + T + Zc + T·Zc`` with
    ``Zc = Z − centers`` (default: the sample mean).

    Returns
    -------
    dict
        ``ace, se, ci_low, ci_high, n, p_value`` (t on the residual df).

    Examples
    --------
    >>> gc = np.array([0.3, 0.5, 0.4, 0.6, 0.5, 0.7])
    >>> ice = 1.0 + 2.0 * (gc - 0.5) + np.array([0.1, -0.1, 0.0, 0.05, -0.05, 0.0])
    >>> round(regression_adjusted(ice, gc, centers=np.array([0.5]))["ace"], 3)
    1.0
    """
    from statsmodels.regression.linear_model import OLS

    check_option("cov_type", cov_type, COV_TYPES)
    yv = np.asarray(y, dtype=float)
    z = np.asarray(covariates, dtype=float).reshape(yv.size, -1)
    if treatment is None:
        if centers is None:
            raise EstimationError(
                "regression adjustment of paired ICEs needs the population means of the "
                "covariates (centers=); centred at the sample mean it equals the plain mean "
                "with an SE that is too small"
            )
        design_matrix, coef = np.column_stack([np.ones(yv.size), z - np.asarray(centers)]), 0
    else:
        t = np.asarray(treatment, dtype=float).reshape(-1, 1)
        zc = z - (z.mean(axis=0) if centers is None else np.asarray(centers))
        design_matrix, coef = np.column_stack([np.ones(yv.size), t, zc, t * zc]), 1
    if np.linalg.matrix_rank(design_matrix) < design_matrix.shape[1]:
        raise EstimationError(
            "regression adjustment: the covariates are constant or collinear "
            f"({design_matrix.shape[1]} columns, rank {np.linalg.matrix_rank(design_matrix)})"
        )
    if yv.size <= design_matrix.shape[1]:
        raise EstimationError(
            f"regression adjustment needs more than {design_matrix.shape[1]} units, got {yv.size}"
        )
    fit = OLS(yv, design_matrix).fit(cov_type=cov_type, use_t=True)
    ace, se = float(fit.params[coef]), float(fit.bse[coef])
    if not np.isfinite(se) or np.allclose(fit.resid, 0.0, atol=1e-14):
        return {**_degenerate(ace), "n": yv.size}
    low, high = fit.conf_int(1.0 - ci)[coef]
    est = {"ace": ace, "se": se, "ci_low": float(low), "ci_high": float(high)}
    return {**est, "n": yv.size, "p_value": float(fit.pvalues[coef])}


def stratified_mean(
    values: np.ndarray,
    strata: np.ndarray,
    *,
    weights: Mapping[Any, float] | None = None,
    ci: float = 0.95,
) -> Estimate:
    """Stratified mean Σ_k w_k ȳ_k with SE² = Σ_k w_k² s_k²/n_k and Satterthwaite df.

    ``weights`` are the population shares of the strata (they must sum to 1); the default,
    the sample shares, gives the post-stratified mean. The SE equals that of the weighted
    contrast of an OLS on stratum indicators with ``cov_type="HC2"``.

    Examples
    --------
    >>> r = stratified_mean(np.array([1.0, 2.0, 5.0, 7.0]), np.array(["lo", "lo", "hi", "hi"]),
    ...                     weights={"lo": 0.75, "hi": 0.25})
    >>> r["ace"]
    2.625
    """
    v = np.asarray(values, dtype=float)
    s = np.asarray(strata)
    if s.shape != v.shape:
        raise EstimationError(f"stratified_mean: {v.shape} values but {s.shape} stratum labels")
    levels, inverse = np.unique(s, return_inverse=True)
    counts = np.bincount(inverse, minlength=levels.size)
    if counts.min() < 2:
        bad = levels[int(np.argmin(counts))].item()
        raise EstimationError(f"stratum {bad!r} has {counts.min()} unit(s); at least 2 needed")
    if weights is None:
        w = counts / v.size
    else:
        missing = [lv for lv in levels.tolist() if lv not in weights]
        if missing:
            raise EstimationError(f"no weight for stratum/strata {missing}")
        w = np.array([float(weights[lv]) for lv in levels.tolist()])
        if abs(w.sum() - 1.0) > 1e-9 or (w < 0).any():
            raise EstimationError(f"stratum weights must be >= 0 and sum to 1, got {w.sum()}")
    means = np.bincount(inverse, weights=v) / counts
    var = np.bincount(inverse, weights=(v - means[inverse]) ** 2) / (counts - 1)
    parts = w**2 * var / counts
    se = float(np.sqrt(parts.sum()))
    df = float(parts.sum() ** 2 / np.sum(parts**2 / (counts - 1))) if se > 0 else 1.0
    return {**_t_estimate(float(w @ means), se, df, ci), "n": v.size}


def ratio_effect(
    y_do: np.ndarray,
    y_control: np.ndarray,
    *,
    paired: bool = True,
    scale: RatioScale = "log",
    interval: RatioInterval = "delta",
    ci: float = 0.95,
    n_resamples: int = 9999,
    rng: RngLike = None,
) -> Estimate:
    """Ratio of mean outputs E f(do(x)) / E f(x), on the ratio, log or log2 scale.

    For outputs that are counts or probabilities, where a fold change reads better than a
    difference. ``interval="delta"``: a normal interval for the log ratio with the
    delta-method variance (v₁/m₁² + v₀/m₀² − 2c/(m₁m₀))/n for paired outcomes (c their
    covariance; c = 0 and separate n for independent samples), mapped to the requested scale.
    Bootstrap intervals use ``scipy.stats.bootstrap`` (``paired=True`` for paired outcomes) of
    the log ratio. ``se`` is on the reported scale (delta method for ``"ratio"``) and
    ``p_value`` tests ratio = 1 with the delta-method z statistic. Both means must be > 0.

    Examples
    --------
    >>> r = ratio_effect(np.array([2.0, 4.1, 6.2, 7.9]), np.array([1.0, 2.0, 3.1, 4.0]),
    ...                  scale="ratio")
    >>> round(r["ace"], 3)
    2.0
    """
    check_option("scale", scale, RATIO_SCALES)
    check_option("interval", interval, RATIO_INTERVALS)
    ci = check_probability("ci", ci)
    a, b = np.asarray(y_do, dtype=float), np.asarray(y_control, dtype=float)
    if min(a.size, b.size) < 2 or (paired and a.size != b.size):
        raise EstimationError(
            f"ratio_effect needs >= 2 outcomes per arm (and equal sizes when paired), "
            f"got {a.size} and {b.size}"
        )
    m1, m0 = float(a.mean()), float(b.mean())
    if m1 <= 0.0 or m0 <= 0.0:
        raise EstimationError(
            f"a ratio of means needs positive means, got {m1:.4g} (do) and {m0:.4g} (control)"
        )
    theta = float(np.log(m1 / m0))
    var = a.var(ddof=1) / (a.size * m1**2) + b.var(ddof=1) / (b.size * m0**2)
    if paired:
        var -= 2.0 * float(np.cov(a, b, ddof=1)[0, 1]) / (a.size * m1 * m0)
    se = float(np.sqrt(max(var, 0.0)))
    p = float(2.0 * stats.norm.sf(abs(theta) / se)) if se > 0 else float(theta == 0.0)
    z = float(stats.norm.ppf(0.5 + ci / 2.0))
    low, high = theta - z * se, theta + z * se
    if interval != "delta" and se > 0:
        gen = rng if isinstance(rng, np.random.Generator) else generator(root_seed(rng))
        res = stats.bootstrap(
            (a, b),
            _log_ratio,
            paired=paired,
            n_resamples=check_int("n_resamples", n_resamples, minimum=1),
            confidence_level=ci,
            method=_BOOT_METHOD[interval],
            rng=gen,
        )
        low, high = (float(v) for v in res.confidence_interval)
    sizes = {"n": a.size} if paired else {"n": a.size, "n_control": b.size}
    if scale == "ratio":
        r = float(np.exp(theta))
        est = {"ace": r, "se": r * se, "ci_low": float(np.exp(low)), "ci_high": float(np.exp(high))}
    else:
        f = 1.0 if scale == "log" else 1.0 / np.log(2.0)
        est = {"ace": theta * f, "se": se * f, "ci_low": low * f, "ci_high": high * f}
    return {**est, **sizes, "p_value": p}


def _log_ratio(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.log(np.mean(a, axis=axis) / np.mean(b, axis=axis))


def estimate_adjusted(
    data: pd.DataFrame | _HasTable,
    covariates: pd.DataFrame,
    *,
    population_means: Mapping[str, float] | None = None,
    cov_type: CovType = "HC3",
    ci: float = 0.95,
    multiple_testing: Adjustment = "fdr_bh",
) -> AceEstimates:
    """Regression-adjusted ACE of every (experiment, label) with robust SEs.

    ``covariates`` has ``background_id`` and one column per covariate of the background
    (e.g. from :func:`causalgia.experiment.designs.background_gc`). Paired tables need
    ``population_means`` (see :func:`regression_adjusted`); randomized tables use Lin's
    interacted estimator per arm against the shared controls.

    Parameters
    ----------
    data : DataFrame or SimulationResult
        A paired (``ice``) or randomized (``y``) effect table with ``experiment, label,
        background_id``.
    covariates : DataFrame
        ``background_id`` and one numeric column per covariate.
    population_means : mapping of str to float, optional
        Population mean of every covariate; required for paired tables, and used instead of
        the sample means to centre randomized ones.
    cov_type : {"HC0", "HC1", "HC2", "HC3"}, default "HC3"
        Robust covariance of the OLS fit.
    ci : float, default 0.95
        Confidence level.
    multiple_testing : {"fdr_bh", "fdr_by", "bonferroni", "holm", "none"}, default "fdr_bh"
        Adjustment of ``q_value`` within each experiment.

    Returns
    -------
    AceEstimates
        Method ``"regression_<cov_type>"`` (lower case).

    Raises
    ------
    EstimationError
        On missing columns, covariates or population means (or none for a paired table),
        non-finite outcomes, or a fit that cannot be made (collinear covariates, too few units).
    OptionError
        On a bad ``cov_type``, ``ci`` or ``multiple_testing``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> gc = rng.uniform(0.3, 0.7, 40)
    >>> t = pd.DataFrame({"experiment": "e", "label": "a", "background_id": range(40),
    ...                   "ice": 1 + 3 * (gc - 0.5) + rng.normal(0, 0.1, 40)})
    >>> cov = pd.DataFrame({"background_id": range(40), "gc": gc})
    >>> est = estimate_adjusted(t, cov, population_means={"gc": 0.5})
    >>> est.method, bool(abs(est.table["ace"].iloc[0] - 1) < 0.1)
    ('regression_hc3', True)
    """
    check_option("cov_type", cov_type, COV_TYPES)
    check_option("multiple_testing", multiple_testing, ADJUSTMENTS)
    ci = check_probability("ci", ci)
    if "background_id" not in covariates.columns:
        raise EstimationError("covariates need a 'background_id' column")
    names = [c for c in covariates.columns if c != "background_id"]
    if not names:
        raise EstimationError("covariates have no covariate column besides background_id")
    centers = None
    if population_means is not None:
        missing = [c for c in names if c not in population_means]
        if missing:
            raise EstimationError(f"population_means lacks covariate(s) {missing}")
        centers = np.array([float(population_means[c]) for c in names])
    table, kind, groups = _groups(data, {"paired": ["ice"], "randomized": ["y"]})
    if kind == "paired" and centers is None:
        raise EstimationError(
            "regression adjustment of paired ICEs needs population_means= (the population "
            "means of the covariates, e.g. expected_gc(background)); centred at the sample mean "
            "it equals the plain mean with an SE that is too small"
        )
    pairs = []
    for first, sub, control in groups:
        if kind == "paired":
            z = _lookup(sub, covariates, names, first, "covariates").astype(float)
            y, treat = sub["ice"].to_numpy(dtype=float), None
        else:
            both = pd.concat([control, sub])
            z = _lookup(both, covariates, names, first, "covariates").astype(float)
            y = both["y"].to_numpy(dtype=float)
            treat = np.r_[np.zeros(len(control)), np.ones(len(sub))]
        try:
            est = regression_adjusted(
                y, z, treatment=treat, centers=centers, cov_type=cov_type, ci=ci
            )
        except EstimationError as err:
            raise _named(first, "regression adjustment", err) from None
        if kind == "randomized":
            est.update(n=len(sub), n_control=len(control))
        pairs.append((first, est))
    return _assemble(table, kind, pairs, f"regression_{cov_type.lower()}", ci, multiple_testing)


def estimate_stratified(
    data: pd.DataFrame | _HasTable,
    strata: pd.DataFrame,
    *,
    weights: Mapping[Any, float] | None = None,
    ci: float = 0.95,
    multiple_testing: Adjustment = "fdr_bh",
) -> AceEstimates:
    """Stratified ACE of every (experiment, label) of a paired table (:func:`stratified_mean`).

    ``strata`` has ``background_id`` and ``stratum`` (e.g. from
    :meth:`causalgia.experiment.designs.StratifiedBackground.strata`); ``weights`` are the
    population shares of the strata.

    Parameters
    ----------
    data : DataFrame or SimulationResult
        A paired effect table (``experiment, label, background_id, ice``).
    strata : DataFrame
        ``background_id`` and ``stratum`` of every background.
    weights : mapping, optional
        Population share of each stratum (>= 0, summing to 1); default the sample shares.
    ci : float, default 0.95
        Confidence level.
    multiple_testing : {"fdr_bh", "fdr_by", "bonferroni", "holm", "none"}, default "fdr_bh"
        Adjustment of ``q_value`` within each experiment.

    Returns
    -------
    AceEstimates
        Method ``"stratified"``.

    Raises
    ------
    EstimationError
        On missing columns or strata, a stratum with fewer than 2 backgrounds, or bad weights.
    OptionError
        On a randomized table, or a bad ``ci`` or ``multiple_testing``.

    Examples
    --------
    >>> t = pd.DataFrame({"experiment": "e", "label": "a", "background_id": range(6),
    ...                   "ice": [1.0, 1.2, 0.8, 3.0, 3.3, 2.9]})
    >>> s = pd.DataFrame({"background_id": range(6), "stratum": ["lo"] * 3 + ["hi"] * 3})
    >>> est = estimate_stratified(t, s, weights={"lo": 0.5, "hi": 0.5})
    >>> round(float(est.table["ace"].iloc[0]), 4)
    2.0333
    """
    check_option("multiple_testing", multiple_testing, ADJUSTMENTS)
    ci = check_probability("ci", ci)
    _require(strata, ["background_id", "stratum"], "strata")
    table, kind, groups = _groups(data, {"paired": ["ice"], "randomized": ["ice"]})
    if kind != "paired":
        raise OptionError("estimate_stratified needs a paired table (an 'ice' column)")
    pairs = []
    for first, sub, _ in groups:
        s = _lookup(sub, strata, ["stratum"], first, "stratum")[:, 0]
        try:
            est = stratified_mean(sub["ice"].to_numpy(dtype=float), s, weights=weights, ci=ci)
        except EstimationError as err:
            raise _named(first, "stratified estimate", err) from None
        pairs.append((first, est))
    return _assemble(table, kind, pairs, "stratified", ci, multiple_testing)


def estimate_ratio(
    data: pd.DataFrame | _HasTable,
    *,
    scale: RatioScale = "log",
    interval: RatioInterval = "delta",
    ci: float = 0.95,
    rng: RngLike = None,
    n_resamples: int = 9999,
    multiple_testing: Adjustment = "fdr_bh",
) -> AceEstimates:
    """Fold change E f(do(x)) / E f(x) of every (experiment, label) (:func:`ratio_effect`).

    Paired tables use ``y_do`` and ``y_control`` of the same backgrounds; randomized tables
    compare each arm's ``y`` with the controls'. The ``ace`` column holds the ratio (or log
    ratio); ``p_value`` tests ratio = 1. Bootstrap streams are keyed by (rng, experiment,
    label) as in :func:`estimate_ace`.

    Parameters
    ----------
    data : DataFrame or SimulationResult
        A paired (``y_do, y_control``) or randomized (``y``) effect table with ``experiment,
        label, background_id``.
    scale : {"ratio", "log", "log2"}, default "log"
        Scale of ``ace``, ``se`` and the interval.
    interval : {"delta", "bootstrap_percentile", "bootstrap_bca"}, default "delta"
        Interval method.
    ci : float, default 0.95
        Confidence level.
    rng : int, Generator or None, default None
        Root seed of the bootstrap streams (unused for ``"delta"``).
    n_resamples : int, default 9999
        Bootstrap resamples.
    multiple_testing : {"fdr_bh", "fdr_by", "bonferroni", "holm", "none"}, default "fdr_bh"
        Adjustment of ``q_value`` within each experiment.

    Returns
    -------
    AceEstimates
        Method ``"ratio_<scale>_<interval>"``.

    Raises
    ------
    EstimationError
        On missing columns, non-finite outcomes, fewer than 2 outcomes, or a mean <= 0.
    OptionError
        On a bad ``scale``, ``interval``, ``ci``, ``n_resamples``, ``rng`` or
        ``multiple_testing``.

    Examples
    --------
    >>> t = pd.DataFrame({"experiment": "e", "label": "a", "background_id": range(4),
    ...                   "y_control": [1.0, 2.0, 3.1, 4.0], "y_do": [2.0, 4.1, 6.2, 7.9]})
    >>> t["ice"] = t["y_do"] - t["y_control"]
    >>> round(float(estimate_ratio(t, scale="log2").table["ace"].iloc[0]), 3)
    1.0
    """
    check_option("multiple_testing", multiple_testing, ADJUSTMENTS)
    seed = root_seed(rng) if interval != "delta" else 0
    outcomes = {"paired": ["y_do", "y_control"], "randomized": ["y"]}
    table, kind, groups = _groups(data, outcomes)
    pairs = []
    for first, sub, control in groups:
        gen = None
        if interval != "delta":
            gen = bootstrap_generator(seed, first["experiment"], first["label"])
        if kind == "paired":
            a, b = sub["y_do"].to_numpy(dtype=float), sub["y_control"].to_numpy(dtype=float)
        else:
            a, b = sub["y"].to_numpy(dtype=float), control["y"].to_numpy(dtype=float)
        try:
            est = ratio_effect(
                a,
                b,
                paired=kind == "paired",
                scale=scale,
                interval=interval,
                ci=ci,
                n_resamples=n_resamples,
                rng=gen,
            )
        except EstimationError as err:
            raise _named(first, "ratio", err) from None
        pairs.append((first, est))
    return _assemble(table, kind, pairs, f"ratio_{scale}_{interval}", ci, multiple_testing)
