"""Does a network count motif copies additively, or saturate? A Bayesian count model.

For one count curve (one motif, say) with ACE(k) of k copies::

    ACE(k) = beta · (1 − r^k) / (1 − r) = beta · (1 + r + … + r^(k−1))

``beta`` is the effect of the first copy and each further copy adds r times the previous one:
``r = 1`` is exactly additive (``beta · k``), ``r < 1`` saturating, ``r > 1`` super-additive
(cooperative). The curve is fitted to the per-arm sufficient statistics (mean ICE and its SE,
:func:`causalgia.pooling.effectstats.count_statistics`) and, with several curves (motifs, tasks),
pooled across them (partial pooling of r; the first-copy effects beta are not pooled, since
different motifs need not have alike effects and the data pin each beta = ACE(1) down)::

    ace_c    ~ Normal(beta_g · S(r_g, k_c), sqrt(se_c² + tau²))     S(r, k) = Σ_{i<k} r^i
    beta_g   ~ Normal(0, s)                                          (s = prior_scale)
    log r_g  ~ Normal(logr_mu, logr_sd),  logr_mu ~ Normal(0, 1),  logr_sd ~ HalfNormal(0.5)
    tau      = 0 (default) or ~ HalfNormal(s)

With one curve, ``log r ~ Normal(0, 1)``: P(r < 1) = 0.5 a priori, 95% of the prior mass on
0.14 < r < 7.1.

Relation to :func:`causalgia.stats.contrasts.additivity`, whose least-squares fit is
``ACE(k) = amplitude · (1 − exp(−k / scale))``: the same curve when r < 1, with
``r = exp(−1 / scale)`` and ``beta = amplitude · (1 − r)`` (so ``amplitude = beta / (1 − r)``,
the plateau). The form here also covers r = 1 (additive) and r > 1 (super-additive), which the
exponential form can only approach as scale → ∞, so "is r < 1?" becomes a posterior
probability instead of a bootstrap of a scale that runs off to its bound.

The ACEs of different k in a paired design share backgrounds, so they are positively
correlated; the per-arm likelihood ignores that, which makes the interval of r conservative
(wider). The paired contrasts ``ACE(k) − k·ACE(1)`` of :func:`causalgia.stats.contrasts.additivity`
use the pairing.

Like :mod:`causalgia.pooling.hierarchical`, this module imports PyMC and ArviZ, and only when a
model is fitted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .._options import check_probability
from .._rng import root_seed
from ..errors import OptionError
from .display import _diagnostics_line, _html_block, _html_table, _repr_lines
from .effectstats import (
    THRESHOLDS,
    Diagnostics,
    DiagnosticsMode,
    SeKind,
    Thresholds,
    _CountStructure,
    check_diagnostics,
    count_statistics,
)
from .hierarchical import HDI_PROB, _convergence, _diagnostics, _hdi, sampling_options
from .samplers import (
    Sampler,
    _az,
    _pymc,
    _quiet,
    model_entry,
    resolve_cores,
    resolve_sampler,
    run_nuts,
)

__all__ = ["CountFit", "fit_count_model"]


def _pivot(c: _CountStructure) -> np.ndarray:
    """Per curve, the observed count nearest the precision-weighted mean count: there
    ACE(k*) = beta · S(r, k*) is nearly uncorrelated with r."""
    w = 1.0 / c.cells["se"].to_numpy() ** 2
    mean = np.bincount(c.family, w * c.k) / np.bincount(c.family, w)
    out = np.empty(len(mean), dtype=np.int64)
    for g, m in enumerate(mean):
        ks = c.k[c.family == g]
        out[g] = ks[np.argmin(np.abs(ks - m))]
    return out


def _count_model(c: _CountStructure, tau: float | None) -> Any:
    """The count model; beta is sampled through the curve's level at a pivot count k*
    (``level = beta · S(r, k*)``, with the Jacobian), which the data pin down nearly
    independently of r: the same posterior as sampling beta, without the beta–r ridge."""
    pm = _pymc()
    import pytensor.tensor as pt

    scale = c.settings["prior_scale"]
    coords = {"family": c.families["family"].tolist(), "cell": list(range(len(c.cells)))}
    powers = np.arange(int(c.k.max()), dtype=float)
    mask = (powers[None, :] < c.k[:, None]).astype(float)  # (cells, k_max): terms of S(r, k)
    pivot = _pivot(c)
    pivot_mask = (powers[None, :] < pivot[:, None]).astype(float)
    with pm.Model(coords=coords) as model:
        ace = pm.Data("ace_obs", c.cells["ace"].to_numpy(dtype=float), dims="cell")
        se = pm.Data("se_obs", c.cells["se"].to_numpy(dtype=float), dims="cell")
        if len(c.families) == 1:
            log_r = pm.Normal("log_r", 0.0, 1.0, dims="family")
        else:
            logr_mu = pm.Normal("logr_mu", 0.0, 1.0)
            logr_sd = pm.HalfNormal("logr_sd", 0.5)
            log_r = pm.Normal("log_r", logr_mu, logr_sd, dims="family")
        pm.Deterministic("r", pt.exp(log_r), dims="family")
        # S(r, k) = Σ_{i<k} r^i: exact and smooth through r = 1 (no 0/0 at additivity)
        s_pivot = (pt.exp(log_r[:, None] * powers[None, :]) * pivot_mask).sum(axis=1)
        level = pm.Flat("level", dims="family")
        beta = pm.Deterministic("beta", level / s_pivot, dims="family")
        prior = pm.logp(pm.Normal.dist(0.0, scale), beta) - pt.log(s_pivot)
        pm.Potential("beta_prior", prior.sum())
        geometric = (pt.exp(log_r[c.family][:, None] * powers[None, :]) * mask).sum(axis=1)
        fitted = pm.Deterministic("ace_fit", beta[c.family] * geometric, dims="cell")
        if tau != 0:
            sd = pm.HalfNormal("tau", scale) if tau is None else tau
            se = pm.math.sqrt(se**2 + sd**2)
        pm.Normal("likelihood", fitted, se, observed=ace, dims="cell")
    return model


@dataclass(frozen=True, eq=False)
class CountFit:
    """A fitted count model: per-curve beta and r, fitted ACE(k), diagnostics, draws.

    Attributes
    ----------
    table : DataFrame
        One row per count curve (see :meth:`to_frame`).
    curve : DataFrame
        One row per arm: ``<by>, [label], count, n, ace, se`` and the fitted ACE(k)
        ``fit_mean, fit_low, fit_high`` (HDI) next to the additive line ``additive`` =
        posterior mean of beta·k.
    hyper : DataFrame
        Pooling parameters (``logr_mu, logr_sd`` with several curves; ``tau`` when learnt).
    diagnostics : Diagnostics
        Worst R-hat, smallest bulk/tail ESS and divergences over beta, r and the hyper
        parameters.
    idata : arviz.InferenceData
        The draws (``beta``, ``r``, ``log_r`` per ``family``; ``ace_fit`` per ``cell``).
    settings : mapping
        Options, sampler and seed.

    Examples
    --------
    >>> fit = fit_count_model(ice_table, random_seed=1)  # doctest: +SKIP
    >>> print(fit.summary())  # doctest: +SKIP
    """

    table: pd.DataFrame
    curve: pd.DataFrame
    hyper: pd.DataFrame
    diagnostics: Diagnostics
    idata: Any
    settings: Mapping[str, Any] = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """One row per count curve (a copy).

        Columns: ``family, <by>, counts`` (the copy numbers observed), ``beta, beta_sd,
        beta_low, beta_high`` (effect of the first copy: posterior mean, SD, HDI), ``r, r_sd,
        r_low, r_high`` (the ratio of successive copies' effects), ``p_saturating`` =
        P(r < 1), ``chi2, df, p_lack_of_fit`` (χ² of the posterior-mean curve against the
        ACEs, df = arms − 2), ``r_hat, ess_bulk`` (worst over beta and r) and ``verdict``.

        Returns
        -------
        pandas.DataFrame
            A copy of :attr:`table`, one row per count curve.
        """
        return self.table.copy()

    def summary(self) -> str:
        """Settings, diagnostics and one verdict line per count curve.

        Returns
        -------
        str
            A line of settings, a line of diagnostics (``ok`` or the failures) and one
            verdict line per count curve.
        """
        st, d = self.settings, self.diagnostics
        lines = [
            f"CountFit: {len(self.table)} count curve(s), ACE(k) = beta·(1 − r^k)/(1 − r), "
            f"{st['hdi_prob']:.0%} HDI, sampler={st['sampler']}, {st['chains']} chains x "
            f"{st['draws']} draws",
            f"  diagnostics: max R-hat {d.max_r_hat:.3f}, min bulk ESS {d.min_ess_bulk:.0f}, "
            f"divergences {d.divergences} -> "
            + ("ok" if d.passed else "FAILED: " + "; ".join(d.failures())),
        ]
        lines += [f"  {row.family}: {row.verdict}" for row in self.table.itertuples(index=False)]
        return "\n".join(lines)

    def __repr__(self) -> str:
        st, t = self.settings, self.table
        level = f", {100 * st['hdi_prob']:g}% HDI" if "hdi_prob" in st else ""
        head = (
            f"CountFit: {len(t)} count curve(s), ACE(k) = beta·(1 − r^k)/(1 − r){level}, "
            f"sampler={st.get('sampler')}"
        )
        verdicts = t["verdict"].astype(str) if "verdict" in t else pd.Series(dtype=str)
        kinds = [("saturating", "saturating"), ("super-additive", "super-additive"),
                 ("consistent with additive", "additive")]  # fmt: skip
        counts = ", ".join(f"{int(verdicts.str.startswith(k).sum())} {name}" for k, name in kinds)
        one = ""
        if len(t) == 1 and {"r", "r_low", "r_high"} <= set(t.columns):
            row = t.iloc[0]
            one = (
                f"  {row.get('family')}: r = {row['r']:.3g} "
                f"[{row['r_low']:.3g}, {row['r_high']:.3g}]"
            )
            if "p_saturating" in t.columns:
                one += f", P(r < 1) = {row['p_saturating']:.3f}"
        return _repr_lines(
            head, _diagnostics_line(st, self.diagnostics), f"  verdicts: {counts}", one
        )

    def _repr_html_(self) -> str:
        shown, caption = self.table, "count curves"
        if "verdict" in shown.columns and len(shown) <= 5:  # long sentences: above the table
            shown = shown.drop(columns="verdict")
            caption += ": " + "; ".join(
                f"{r.family}: {r.verdict}" for r in self.table.itertuples(index=False)
            )
        tables = [
            _html_table(shown, caption=caption),
            _html_table(self.curve, caption="fitted ACE(k) per arm", bar="ace"),
        ]
        if len(self.hyper):
            tables.append(_html_table(self.hyper, caption="pooling parameters"))
        return _html_block(repr(self), *tables)


def _verdict(r: float, low: float, high: float, p: float, prob: float) -> str:
    interval = f"r = {r:.3g} [{low:.3g}, {high:.3g}] ({prob:.0%} HDI), P(r < 1) = {p:.3f}"
    if high < 1:
        return f"saturating: each extra copy adds r times the previous one's effect; {interval}"
    if low > 1:
        return f"super-additive: each extra copy adds more than the previous one; {interval}"
    return f"consistent with additive counting (the HDI of r contains 1); {interval}"


def _summaries(
    idata: Any, c: _CountStructure, settings: Mapping[str, Any], thresholds: Thresholds
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, Diagnostics]:
    from scipy import stats

    az, post, prob = _az(), idata.posterior, settings["hdi_prob"]
    hyper_names = [n for n in ("logr_mu", "logr_sd", "tau") if n in post.data_vars]
    conv = _convergence(az, post, ["beta", "r", *hyper_names])
    beta = post["beta"].stack(sample=("chain", "draw")).transpose("family", "sample").to_numpy()
    r = post["r"].stack(sample=("chain", "draw")).transpose("family", "sample").to_numpy()
    b_low, b_high = _hdi(az, post[["beta"]], prob)
    r_low, r_high = _hdi(az, post[["r"]], prob)
    fit = post["ace_fit"].stack(sample=("chain", "draw")).transpose("cell", "sample").to_numpy()
    f_low, f_high = _hdi(az, post[["ace_fit"]], prob)
    curve = c.cells.drop(columns=["se_kind", "family"]).copy()
    curve.insert(0, "family", c.families["family"].to_numpy()[c.family])
    curve["additive"] = beta.mean(axis=1)[c.family] * c.k
    curve["fit_mean"], curve["fit_low"], curve["fit_high"] = fit.mean(axis=1), f_low, f_high
    tau = float(post["tau"].mean()) if "tau" in post.data_vars else settings["tau"] or 0.0
    z2 = (curve["ace"] - curve["fit_mean"]) ** 2 / (curve["se"] ** 2 + tau**2)
    table = c.families.copy()
    table["beta"], table["beta_sd"] = beta.mean(axis=1), beta.std(axis=1, ddof=1)
    table["beta_low"], table["beta_high"] = b_low, b_high
    table["r"], table["r_sd"] = r.mean(axis=1), r.std(axis=1, ddof=1)
    table["r_low"], table["r_high"] = r_low, r_high
    table["p_saturating"] = (r < 1).mean(axis=1)
    table["chi2"] = np.bincount(c.family, weights=z2.to_numpy(), minlength=len(table))
    table["df"] = np.bincount(c.family, minlength=len(table)) - 2
    with np.errstate(invalid="ignore"):
        table["p_lack_of_fit"] = np.where(
            table["df"] > 0, stats.chi2.sf(table["chi2"], table["df"].clip(lower=1)), np.nan
        )
    table["r_hat"] = np.fmax(conv["beta"][0], conv["r"][0])
    table["ess_bulk"] = np.fmin(conv["beta"][1], conv["r"][1])
    table["verdict"] = [
        _verdict(row.r, row.r_low, row.r_high, row.p_saturating, prob)
        for row in table.itertuples(index=False)
    ]
    rows = []
    for name in hyper_names:
        v = post[name].to_numpy().ravel()
        low, high = _hdi(az, post[[name]], prob)
        rows.append(
            {
                "parameter": name,
                "post_mean": float(v.mean()),
                "post_sd": float(v.std(ddof=1)),
                "hdi_low": float(low),
                "hdi_high": float(high),
                "r_hat": float(conv[name][0][0]),
                "ess_bulk": float(conv[name][1][0]),
            }
        )
    hyper = pd.DataFrame(
        rows, columns=["parameter", "post_mean", "post_sd", "hdi_low", "hdi_high", "r_hat",
                       "ess_bulk"]
    )  # fmt: skip
    return table, curve, hyper, _diagnostics(idata, conv, thresholds)


def fit_count_model(
    data: Any,
    *,
    experiment: str | Sequence[str] | None = "count",
    count: str = "count",
    by: Sequence[str] = ("experiment", "motif"),
    prior_scale: float | None = None,
    tau: float | None = 0.0,
    se: SeKind = "auto",
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    cores: int = 1,
    target_accept: float = 0.95,
    random_seed: int | None = None,
    sampler: Sampler = "pymc",
    hdi_prob: float = HDI_PROB,
    diagnostics: DiagnosticsMode = "warn",
    thresholds: Thresholds = THRESHOLDS,
    progressbar: bool = False,
) -> CountFit:
    """Separate additive from saturating copy-number effects: ACE(k) = beta·(1 − r^k)/(1 − r).

    See the module docstring for the model, its priors and its relation to the saturation
    fit of :func:`causalgia.stats.contrasts.additivity`.

    Parameters
    ----------
    data : DataFrame, AceEstimates or SimulationResult
        A paired ICE table (one row per unit) or an ACE table (``ace``, ``se`` per arm) with a
        copy-number column, e.g. from a :func:`causalgia.experiment.designs.sweep_counts` design.
    experiment : str, sequence of str or None
        Use the rows of these experiments (default ``"count"``, the experiment name of
        ``sweep_counts``); ``None`` uses every row, which must then all have a count.
    count : str
        The copy-number column (positive integers).
    by : sequence of str
        Columns defining one count curve (default: one per experiment and motif). Several
        curves are pooled hierarchically (their log r share a normal prior).
    prior_scale : float, optional
        Scale ``s`` of the priors of beta and tau; default ``2.5 · max(RMS(ace/k),
        median(se))``.
    tau : float or None
        SD of the arms' deviations from the curve: 0 (default: the curve is exact, as it is
        for sites that do not interact and a saturating occupancy) or ``None`` to learn it
        (``HalfNormal(s)``; widens r when the curve does not fit).
    se : {"auto", "iid", "cluster"}
        How the per-arm SE is computed from an ICE table (:func:`effect_statistics`).
    draws, tune, chains, cores, target_accept, random_seed, sampler, progressbar
        As in :func:`causalgia.pooling.hierarchical.fit_hierarchical`.
    hdi_prob : float
        Probability of the highest-density intervals.
    diagnostics : {"warn", "raise", "ignore"}
        What a crossed convergence threshold does.
    thresholds : Thresholds
        Convergence thresholds (default R-hat 1.01, bulk/tail ESS 400, no divergences).

    Returns
    -------
    CountFit

    Raises
    ------
    EstimationError
        A missing column, a count that is not a positive integer, a curve with fewer than two
        distinct counts, or a bad cell (see :func:`effect_statistics`); the message names it.

    Examples
    --------
    >>> t = pd.DataFrame({"experiment": "count", "motif": "GATA", "label": ["x1", "x2", "x3"],
    ...                   "count": [1, 2, 3], "ace": [1.0, 1.5, 1.75], "se": 0.05})
    >>> fit = fit_count_model(t, chains=2, random_seed=1)  # doctest: +SKIP
    >>> fit.to_frame()[["family", "r", "r_low", "r_high", "p_saturating"]]  # doctest: +SKIP
    """
    draws, tune, chains, cores, hdi_prob = sampling_options(
        sampler, diagnostics, draws, tune, chains, cores, hdi_prob
    )
    target_accept = check_probability("target_accept", target_accept)
    if tau is not None and not (np.isfinite(tau) and tau >= 0):
        raise OptionError(f"tau must be None or a non-negative number, got {tau!r}")
    c = count_statistics(
        data, experiment=experiment, count=count, by=by, se=se, prior_scale=prior_scale
    )
    seed = root_seed(random_seed)
    sampler = resolve_sampler(sampler)
    model = _count_model(c, tau)
    idata = run_nuts(
        model_entry(None, lambda: model), None, draws=draws, tune=tune, chains=chains,
        cores=resolve_cores(cores, chains, sampler), target_accept=target_accept, seed=seed,
        sampler=sampler, progressbar=progressbar,
    )  # fmt: skip
    settings = {
        **c.settings,
        "tau": None if tau is None else float(tau),
        "sampler": sampler,
        "draws": draws,
        "tune": tune,
        "chains": chains,
        "target_accept": target_accept,
        "random_seed": seed,
        "hdi_prob": hdi_prob,
        "thresholds": asdict(thresholds),
    }
    with _quiet():
        table, curve, hyper, diag = _summaries(idata, c, settings, thresholds)
    check_diagnostics(diag, diagnostics)
    return CountFit(table, curve, hyper, diag, idata, settings)
