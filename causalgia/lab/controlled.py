"""Concordance that composition cannot fool: one call, baselines beside every statistic, a verdict.

:func:`controlled_concordance` computes, for the model and every "wrong model" passed in, the raw
Spearman, the stratified (within composition strata, size-weighted) and partial
(covariate-adjusted) Spearman and the top-k overlap (:mod:`causalgia.lab.composition`). Beside
every statistic stand two baselines: the same statistic with the measured values permuted
*within strata* (what composition alone gives: the null of the stratified statistics is 0, that
of the raw Spearman is not), and the wrong models' values. Intervals are percentile bootstraps
over items (``scipy.stats.bootstrap``); the differences model - wrong model are taken on the
same resamples. The verdict line says whether the concordance survives the composition control
and whether it is specific (above every wrong model within strata).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .._options import check_int, check_probability
from .._rng import RngLike, generator, root_seed, unit_keys
from ..errors import EstimationError, OptionError
from ..stats.display import html_block, html_table, repr_lines
from .composition import (
    STATISTICS,
    _Prepared,
    partial_spearman,
    stratified_spearman,
    top_k_overlap,
)


@dataclass(frozen=True)
class ControlledConcordance:
    """Raw, within-strata and partial Spearman, top-k overlap, baselines and a verdict.

    ``table`` columns: ``model`` (the model, each wrong model, and ``"<model> - <wrong>"`` rows
    for the paired differences), ``statistic`` (see :data:`STATISTICS`), ``estimate``,
    ``ci_low``, ``ci_high`` (bootstrap percentile), ``p_value`` (Spearman: scipy; partial:
    t test; top-k: hypergeometric), ``null_mean``, ``null_low``, ``null_high`` (the statistic
    with the measured values permuted within strata: composition alone), ``p_permutation``
    (one-sided, P(null >= estimate)), ``n``. ``strata``: per-stratum Spearman of every model.
    ``verdict`` is one line; ``survives`` says whether the model's concordance survives the
    composition control, ``specific`` whether its stratified Spearman exceeds every wrong
    model's (the paired bootstrap interval of the difference above 0; None without baselines).
    """

    table: pd.DataFrame
    strata: pd.DataFrame
    verdict: str
    survives: bool
    specific: bool | None
    model: str
    top_k: int
    ci: float

    def to_frame(self) -> pd.DataFrame:
        """A copy of the statistics table.

        Returns
        -------
        pandas.DataFrame
            A copy of :attr:`table`, one row per (model, statistic).
        """
        return self.table.copy()

    def __getitem__(self, key: tuple[str, str]) -> float:
        model, statistic = key
        row = self.table[(self.table["model"] == model) & (self.table["statistic"] == statistic)]
        if row.empty:
            raise KeyError(key)
        return float(row["estimate"].iloc[0])

    def summary(self) -> str:
        """One line per model and statistic, then the verdict.

        Returns
        -------
        str
            A header line, one line per row of :attr:`table` (estimate, interval and the
            within-strata permutation null) and the verdict.
        """
        lines = [
            f"Concordance controlled for composition ({self.ci:.0%} bootstrap intervals; "
            "null: measured values permuted within strata)"
        ]
        for r in self.table.itertuples(index=False):
            est = (
                f"{r.estimate:.0f}/{self.top_k}"
                if r.statistic == "top_k_overlap"
                else (f"{r.estimate:+.3f}")
            )
            ci = "" if np.isnan(r.ci_low) else f" [{r.ci_low:+.3f}, {r.ci_high:+.3f}]"
            null = (
                ""
                if np.isnan(r.null_mean)
                else (
                    f"  null {r.null_mean:+.3f} [{r.null_low:+.3f}, {r.null_high:+.3f}]"
                    f" p_perm={r.p_permutation:.3g}"
                )
            )
            lines.append(f"  {r.model:>24} {r.statistic:>19}: {est}{ci}{null}")
        lines.append(self.verdict)
        return "\n".join(lines)

    def __repr__(self) -> str:
        t = self.table
        mine = t[t["model"] == self.model].set_index("statistic") if "model" in t else t
        models = [m for m in dict.fromkeys(t.get("model", [])) if " - " not in str(m)]
        n = f"n={int(mine['n'].max())}, " if "n" in mine and len(mine) else ""
        wrong = f"{len(models) - 1} wrong model(s), " if models else ""
        head = (
            f"ControlledConcordance: model {self.model!r}, {n}{wrong}"
            f"{100 * self.ci:g}% bootstrap intervals"
        )
        shown = []
        for stat, label in (("spearman", "Spearman"), ("stratified_spearman", "within strata"),
                            ("partial_spearman", "partial")):  # fmt: skip
            if stat in mine.index:
                r = mine.loc[stat]
                shown.append(
                    f"{label} {r['estimate']:+.2f} [{r['ci_low']:+.2f}, {r['ci_high']:+.2f}]"
                )
        specific = {True: "yes", False: "no", None: "no wrong models"}[self.specific]
        top = ""
        if "top_k_overlap" in mine.index:
            m = mine.loc["top_k_overlap", "estimate"]
            top = f"; top-{self.top_k} overlap {m:.0f}/{self.top_k}"
        verdict = (
            f"  survives the composition control: {'yes' if self.survives else 'no'}; "
            f"specific: {specific}{top}"
        )
        return repr_lines(head, "  " + "; ".join(shown) if shown else "", verdict)

    def _repr_html_(self) -> str:
        parts = [html_table(self.table, caption=self.verdict)]
        if isinstance(self.strata, pd.DataFrame) and len(self.strata):
            parts.append(html_table(self.strata, caption="Spearman within each stratum"))
        return html_block(repr(self), *parts)


def _vector(name: str, values: Any, n: int | None = None) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    if v.ndim != 1:
        raise OptionError(f"{name} must be one-dimensional, got shape {v.shape}")
    if n is not None and v.size != n:
        raise OptionError(f"{name} has {v.size} values; predicted has {n}")
    bad = ~np.isfinite(v)
    if bad.any():
        raise EstimationError(f"{name}: item {int(np.argmax(bad))} is not finite ({v[bad][0]})")
    return v


def _covariates(covariates: Any, strata: np.ndarray, n: int) -> tuple[np.ndarray, list[str]]:
    """Covariate matrix and names; None gives one indicator per stratum (the first left out)."""
    if covariates is None:
        levels = pd.unique(strata)
        cols = [(strata == s).astype(float) for s in levels[1:]]
        return np.column_stack(cols) if cols else np.zeros((n, 0)), ["stratum"]
    if isinstance(covariates, pd.DataFrame):
        names = [str(c) for c in covariates.columns]
        cov = covariates.to_numpy(dtype=float)
    else:
        cov = np.asarray(covariates, dtype=float)
        cov = cov.reshape(n, -1) if cov.ndim == 1 else cov
        names = [f"covariate {i}" for i in range(cov.shape[1])]
    if cov.shape[0] != n:
        raise OptionError(f"covariates have {cov.shape[0]} rows; predicted has {n} values")
    if not np.isfinite(cov).all():
        raise EstimationError(
            f"covariates: item {int(np.argmax(~np.isfinite(cov).all(1)))} is not finite"
        )
    return cov, names


def controlled_concordance(
    predicted: Any,
    measured: Any,
    *,
    strata: Any,
    covariates: Any = None,
    baselines: Mapping[str, Any] | None = None,
    name: str = "model",
    strata_name: str = "composition",
    top_k: int = 10,
    ci: float = 0.95,
    n_resamples: int = 999,
    n_permutations: int = 999,
    min_stratum: int = 3,
    alpha: float = 0.05,
    rng: RngLike = None,
) -> ControlledConcordance:
    """Concordance of predictions with measurements that composition cannot fool.

    Parameters
    ----------
    predicted, measured : 1-D arrays of one length
        In-silico effects (e.g. k-mer ACEs) and lab effects (e.g. log2 enrichments) of the
        same items, in the same order.
    strata : 1-D array
        Composition stratum of every item (e.g. :func:`gc_count` of the k-mers, or binned GC
        fraction of probes).
    covariates : DataFrame, array or None
        Covariates of the partial Spearman (rank-transformed; an intercept is added). None:
        one indicator per stratum.
    baselines : mapping of name to 1-D array, optional
        "Wrong model" predictions of the same items (e.g. a model of another protein); every
        statistic is computed for them too, and the differences to the model on the same
        bootstrap resamples.
    name, strata_name : str
        Labels of the model and of the strata in the table and the verdict.
    top_k : int
        Length of the top lists compared.
    ci : float
        Interval level (bootstrap percentile over items; the permutation null's central range).
    n_resamples, n_permutations : int
        Bootstrap resamples; permutations of the measured values within strata.
    min_stratum : int
        Strata with fewer items are left out of the stratified Spearman.
    alpha : float
        Level of the verdict's tests.
    rng : int, Generator or None
        Seed of the bootstrap and the permutations.

    Returns
    -------
    ControlledConcordance
        ``survives`` is True when the stratified Spearman's interval lies above 0, its
        within-strata permutation p-value is below ``alpha`` and the partial Spearman's
        interval lies above 0.

    Examples
    --------
    >>> gen = np.random.default_rng(1)
    >>> gc = gen.integers(0, 6, 600)
    >>> x = gc + gen.normal(size=600); y = gc + gen.normal(size=600)  # composition only
    >>> c = controlled_concordance(x, y, strata=gc, n_resamples=99, n_permutations=99, rng=0)
    >>> round(c["model", "spearman"], 2), abs(c["model", "stratified_spearman"]) < 0.1, c.survives
    (0.76, True, False)
    """
    x = _vector("predicted", predicted)
    n = x.size
    y = _vector("measured", measured, n)
    strata = np.asarray(strata)
    if strata.shape != (n,):
        raise OptionError(f"strata must hold one value per item ({n}), got shape {strata.shape}")
    baselines = dict(baselines or {})
    if name in baselines:
        raise OptionError(f"a baseline is named like the model ({name!r})")
    models = {name: x, **{str(b): _vector(f"baseline {b!r}", v, n) for b, v in baselines.items()}}
    top_k = check_int("top_k", top_k, minimum=1)
    if top_k > n:
        raise OptionError(f"top_k={top_k} exceeds the {n} items")
    ci = check_probability("ci", ci)
    alpha = check_probability("alpha", alpha)
    n_resamples = check_int("n_resamples", n_resamples, minimum=1)
    n_permutations = check_int("n_permutations", n_permutations, minimum=1)
    min_stratum = check_int("min_stratum", min_stratum, minimum=2)
    if n < 4:
        raise EstimationError(f"controlled_concordance needs at least 4 items, got {n}")
    cov, cov_names = _covariates(covariates, strata, n)
    prep = _Prepared.build(strata, cov, top_k, min_stratum)
    seed = root_seed(rng)
    estimates = np.array([prep.statistics(v, y) for v in models.values()])  # (models, 4)
    null = _permutation_null(prep, models, y, n_permutations, seed)  # (perms, models, 4)
    boot = _bootstrap(models, y, strata, cov, top_k, min_stratum, ci, n_resamples, seed)
    strata_table = pd.concat(
        [
            stratified_spearman(v, y, strata, min_stratum=min_stratum)[1].assign(model=m)
            for m, v in models.items()
        ],
        ignore_index=True,
    )[["model", "stratum", "n", "spearman", "used"]]
    table = _table(models, x, y, cov, estimates, null, boot, ci, n, top_k)
    survives, specific, verdict = _verdict(
        table, name, list(baselines), strata_name, cov_names, top_k, alpha
    )
    return ControlledConcordance(table, strata_table, verdict, survives, specific, name, top_k, ci)


def _permutation_null(
    prep: _Prepared, models: dict[str, np.ndarray], y: np.ndarray, n_perm: int, seed: int
) -> np.ndarray:
    """Statistics with the measured values permuted within strata (one permutation for all
    models per draw): ``(permutations, models, statistics)``."""
    gen = generator(unit_keys(seed, [0], "controlled_concordance", "permutation")[0])
    ranked = [prep.rank(v) for v in models.values()]
    ry = prep.rank(y)
    groups = [np.flatnonzero(prep.codes == g) for g in range(prep.n_groups)]
    out = np.empty((n_perm, len(models), len(STATISTICS)))
    index = np.arange(y.size)
    for b in range(n_perm):
        for idx in groups:
            index[idx] = idx[gen.permutation(idx.size)]
        rp = ry.permuted(index)
        for j, rx in enumerate(ranked):
            out[b, j] = prep.from_ranks(rx, rp)
    return out


def _bootstrap(
    models: dict[str, np.ndarray],
    y: np.ndarray,
    strata: np.ndarray,
    cov: np.ndarray,
    top_k: int,
    min_stratum: int,
    ci: float,
    n_resamples: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile intervals of the three correlations of every model and of the differences
    model - baseline, from one set of item resamples: arrays (low, high) of shape
    (models + baselines, 3)."""
    values = list(models.values())

    def statistic(idx: np.ndarray) -> np.ndarray:
        idx = idx.astype(np.int64)
        prep = _Prepared.build(strata[idx], cov[idx], top_k, min_stratum)
        ry = prep.rank(y[idx])
        est = np.array([prep.from_ranks(prep.rank(v[idx]), ry)[:3] for v in values])
        return np.concatenate([est, est[0] - est[1:]]).ravel()

    gen = generator(unit_keys(seed, [0], "controlled_concordance", "bootstrap")[0])
    with np.errstate(invalid="ignore"):
        res = stats.bootstrap(
            (np.arange(y.size),),
            statistic,
            vectorized=False,
            n_resamples=n_resamples,
            confidence_level=ci,
            method="percentile",
            rng=gen,
        )
    shape = (2 * len(values) - 1, 3)
    return (
        np.asarray(res.confidence_interval.low).reshape(shape),
        np.asarray(res.confidence_interval.high).reshape(shape),
    )


def _table(
    models: dict[str, np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    cov: np.ndarray,
    estimates: np.ndarray,
    null: np.ndarray,
    boot: tuple[np.ndarray, np.ndarray],
    ci: float,
    n: int,
    top_k: int,
) -> pd.DataFrame:
    low, high = boot
    q = [(1 - ci) / 2, (1 + ci) / 2]
    rows = []
    for j, (m, v) in enumerate(models.items()):
        p_values = [
            float(stats.spearmanr(v, y).pvalue),
            np.nan,
            partial_spearman(v, y, cov)[1] if cov.shape[1] else np.nan,
            top_k_overlap(v, y, top_k)[2],
        ]
        for s, stat in enumerate(STATISTICS):
            nl = null[:, j, s]
            rows.append(
                {
                    "model": m,
                    "statistic": stat,
                    "estimate": float(estimates[j, s]),
                    "ci_low": float(low[j, s]) if s < 3 else np.nan,
                    "ci_high": float(high[j, s]) if s < 3 else np.nan,
                    "p_value": float(p_values[s]),
                    "null_mean": float(np.nanmean(nl)),
                    "null_low": float(np.nanquantile(nl, q[0])),
                    "null_high": float(np.nanquantile(nl, q[1])),
                    "p_permutation": float(
                        (1 + np.sum(nl >= estimates[j, s] - 1e-12)) / (1 + nl.size)
                    ),
                    "n": n,
                }
            )
    first = list(models)[0]
    for j, m in enumerate(list(models)[1:], start=1):
        for s, stat in enumerate(STATISTICS[:3]):
            rows.append(
                {
                    "model": f"{first} - {m}",
                    "statistic": stat,
                    "estimate": float(estimates[0, s] - estimates[j, s]),
                    "ci_low": float(low[len(models) - 1 + j, s]),
                    "ci_high": float(high[len(models) - 1 + j, s]),
                    "p_value": np.nan,
                    "null_mean": np.nan,
                    "null_low": np.nan,
                    "null_high": np.nan,
                    "p_permutation": np.nan,
                    "n": n,
                }
            )
    return pd.DataFrame(rows)


def _verdict(
    table: pd.DataFrame,
    name: str,
    baselines: list[str],
    strata_name: str,
    cov_names: list[str],
    top_k: int,
    alpha: float,
) -> tuple[bool, bool | None, str]:
    t = table.set_index(["model", "statistic"])
    raw, strat, part = (t.loc[(name, s)] for s in STATISTICS[:3])
    top = t.loc[(name, "top_k_overlap")]

    def show(r: pd.Series) -> str:
        return f"{r['estimate']:+.2f} [{r['ci_low']:+.2f}, {r['ci_high']:+.2f}]"

    survives = bool(
        strat["ci_low"] > 0 and strat["p_permutation"] < alpha and not part["ci_low"] <= 0
    )
    adjusted = "stratum" if cov_names == ["stratum"] else ", ".join(cov_names)
    if not raw["ci_low"] > 0 and not survives:
        head = f"{name}: no concordance to control (Spearman {show(raw)})"
    else:
        head = (
            f"{name}: Spearman {show(raw)} {'survives' if survives else 'does NOT survive'} "
            f"the {strata_name} control: within {strata_name} strata {show(strat)} "
            f"(within-strata permutation p = {strat['p_permutation']:.2g}), partial (adjusted "
            f"for {adjusted}) {show(part)}; {strata_name} alone gives Spearman "
            f"{raw['null_mean']:+.2f} [{raw['null_low']:+.2f}, {raw['null_high']:+.2f}]"
        )
    parts = [head]
    specific: bool | None = None
    for b in baselines:
        diff = t.loc[(f"{name} - {b}", "stratified_spearman")]
        above = bool(diff["ci_low"] > 0)
        specific = above if specific is None else specific and above
        parts.append(
            f"wrong model {b}: Spearman {t.loc[(b, 'spearman'), 'estimate']:+.2f}, within "
            f"strata {t.loc[(b, 'stratified_spearman'), 'estimate']:+.2f} (difference "
            f"{show(diff)}{', specific' if above else ', not specific'})"
        )
    overlap = (
        f"top-{top_k} overlap {top['estimate']:.0f}/{top_k} (hypergeometric p = "
        f"{top['p_value']:.2g}, within-strata permutation p = {top['p_permutation']:.2g})"
    )
    for b in baselines:
        overlap += f", {b} {t.loc[(b, 'top_k_overlap'), 'estimate']:.0f}/{top_k}"
    parts.append(overlap)
    return survives, specific, "; ".join(parts)
