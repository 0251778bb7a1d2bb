"""Average causal effects (ACE) of do-interventions, with honest uncertainty.

ICE(x) = f(do(x)) - f(x) for one background x; ACE = E_{x~P_B}[f(do(x)) - f(x)]. The intervals
here cover the Monte-Carlo (superpopulation) uncertainty of which backgrounds, positions and motif
instances were sampled: each background is one independent unit.

All test statistics, intervals and resampling are delegated to :mod:`scipy.stats` and
:func:`statsmodels.stats.multitest.multipletests`; this module only groups tables and checks input.
The cluster-robust SE (for groups in which one background contributes several units) is the
closed form of statsmodels' ``OLS(...).fit(cov_type="cluster")`` for an intercept-only model
and agrees with it to 1e-10 (tests). Covariate adjustment, stratification and fold changes live
in :mod:`causalgia.stats.adjustment`; contrasts between effects in :mod:`causalgia.stats.contrasts`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

from .._options import check_int, check_option, check_probability
from .._rng import RngLike, generator, root_seed, unit_keys
from ..errors import EstimationError, OptionError
from .display import html_block, html_table, repr_lines
from .outputs import per_output, stack_outputs
from .status import too_few, with_status

Method = Literal[
    "paired_t", "welch", "bootstrap_percentile", "bootstrap_bca", "cluster", "permutation"
]
Adjustment = Literal["fdr_bh", "fdr_by", "bonferroni", "holm", "none"]
Kind = Literal["paired", "randomized"]

METHODS: tuple[str, ...] = (
    "paired_t",
    "welch",
    "bootstrap_percentile",
    "bootstrap_bca",
    "cluster",
    "permutation",
)
_KEYED = {
    "bootstrap_percentile": "bootstrap",
    "bootstrap_bca": "bootstrap",
    "permutation": "permutation",
}
ADJUSTMENTS: tuple[str, ...] = ("fdr_bh", "fdr_by", "bonferroni", "holm", "none")
KINDS: tuple[str, ...] = ("paired", "randomized")
RESERVED: frozenset[str] = frozenset(
    {"experiment", "label", "output", "background_id", "y_control", "y_do", "ice", "y",
     "unit_seed", "arm"}
)  # fmt: skip
_BOOT_METHOD = {"bootstrap_percentile": "percentile", "bootstrap_bca": "BCa"}
Estimate = dict[str, float | int]


class _HasTable(Protocol):
    table: pd.DataFrame
    kind: str


@dataclass(frozen=True)
class AceEstimates:
    """One estimated ACE per (experiment, label), as returned by :func:`estimate_ace`.

    Attributes
    ----------
    table : pandas.DataFrame
        Columns ``experiment, label, <design parameters>, method, ace, se, ci_low, ci_high, n,
        [n_control], p_value, q_value``; ``n_control`` only for randomized tables.
    method : str
        The estimator used.
    ci : float
        Confidence level of ``ci_low`` / ``ci_high``.

    Examples
    --------
    >>> t = pd.DataFrame({"experiment": "e", "label": "a", "background_id": [0, 1, 2],
    ...                   "y_control": 0.0, "y_do": [1.0, 2.0, 3.0], "ice": [1.0, 2.0, 3.0]})
    >>> est = estimate_ace(t)
    >>> len(est), float(est.to_frame()["ace"].iloc[0])
    (1, 2.0)
    """

    table: pd.DataFrame
    method: str
    ci: float

    def __len__(self) -> int:
        return len(self.table)

    def to_frame(self) -> pd.DataFrame:
        """Return a copy of the tidy effect table.

        Returns
        -------
        pandas.DataFrame
            A copy of :attr:`table`, one row per (experiment, label).
        """
        return self.table.copy()

    def summary(self) -> str:
        """Return one readable line per effect: ace [ci_low, ci_high], p and q.

        Returns
        -------
        str
            A header line (number of effects, method, CI level), then one line per effect.
        """
        head = f"AceEstimates: {len(self)} effects, method={self.method}, {self.ci:.0%} CI"
        lines = [head]
        for row in self.table.itertuples(index=False):
            where = f" [{row.output}]" if "output" in self.table.columns else ""
            lines.append(
                f"  {row.experiment} / {row.label}{where}: ace={row.ace:.4g} "
                f"[{row.ci_low:.4g}, {row.ci_high:.4g}]  p={row.p_value:.3g}  q={row.q_value:.3g}"
            )
        return "\n".join(lines)

    def __repr__(self) -> str:
        t = self.table
        head = f"AceEstimates: {len(self)} effects, {100 * self.ci:g}% CI, method={self.method}"
        if "q_value" in t.columns and len(t):
            head += f"; {int((t['q_value'] < 0.05).sum())} with q < 0.05"
        ace = pd.to_numeric(t["ace"], errors="coerce").abs() if "ace" in t.columns else None
        if ace is None or not ace.notna().any():
            return repr_lines(head)
        row = t.iloc[int(np.nanargmax(ace.to_numpy(dtype=float)))]
        where = f" [{row['output']}]" if "output" in t.columns else ""
        top = (
            f"  largest |ACE|: {row.get('experiment')} / {row.get('label')}{where} = "
            f"{row['ace']:+.4g}"
            f" [{row.get('ci_low', np.nan):+.4g}, {row.get('ci_high', np.nan):+.4g}]"
        )
        return repr_lines(head, top)

    def _repr_html_(self) -> str:
        return html_block(repr(self), html_table(self.table, bar="ace"))


def _degenerate(ace: float) -> Estimate:
    """Zero-variance result: a point interval, p = 1 for a null effect and 0 otherwise."""
    return {"ace": ace, "se": 0.0, "ci_low": ace, "ci_high": ace, "p_value": float(ace == 0.0)}


def paired_t(ice: np.ndarray, ci: float = 0.95) -> Estimate:
    """One-sample t test of the ICEs of one effect (equal to ``scipy.stats.ttest_1samp``).

    If every ICE is identical (e.g. a placebo giving exactly 0) the result is degenerate:
    ``se = 0``, ``ci = [ace, ace]`` and ``p_value = 1.0`` if ``ace == 0`` else ``0.0``.

    Parameters
    ----------
    ice : numpy.ndarray
        The ICEs of one effect, one per background (at least 2).
    ci : float, default 0.95
        Confidence level of the t interval.

    Returns
    -------
    dict
        ``ace, se, ci_low, ci_high, n, p_value``.

    Examples
    --------
    >>> r = paired_t(np.array([1.0, 2.0, 3.0]))
    >>> r["ace"], r["n"]
    (2.0, 3)
    """
    ice = np.asarray(ice, dtype=float)
    n = ice.size
    if n < 2:
        raise EstimationError(f"paired_t needs at least 2 ICEs, got {n}")
    if np.all(ice == ice[0]):
        return {**_degenerate(float(ice[0])), "n": n}
    res = stats.ttest_1samp(ice, 0.0)
    low, high = res.confidence_interval(ci)
    return {
        "ace": float(np.mean(ice)),
        "se": float(stats.sem(ice)),
        "ci_low": float(low),
        "ci_high": float(high),
        "n": n,
        "p_value": float(res.pvalue),
    }


def welch(y_treated: np.ndarray, y_control: np.ndarray, ci: float = 0.95) -> Estimate:
    """Welch (Neyman) two-sample t test, equal to ``scipy.stats.ttest_ind(equal_var=False)``.

    SE = sqrt(s1²/n1 + s0²/n0) with Welch–Satterthwaite degrees of freedom. If both samples are
    constant the result is degenerate (``se = 0``, point interval, p = 1 iff the difference is 0).

    Parameters
    ----------
    y_treated : numpy.ndarray
        Outcomes of the intervention arm (at least 2 units).
    y_control : numpy.ndarray
        Outcomes of the control arm (at least 2 units).
    ci : float, default 0.95
        Confidence level of the t interval.

    Returns
    -------
    dict
        ``ace, se, ci_low, ci_high, n, n_control, p_value``.

    Examples
    --------
    >>> r = welch(np.array([2.0, 3.0, 4.0]), np.array([0.0, 1.0, 2.0]))
    >>> r["ace"], r["n"], r["n_control"]
    (2.0, 3, 3)
    """
    y1, y0 = np.asarray(y_treated, dtype=float), np.asarray(y_control, dtype=float)
    sizes = {"n": y1.size, "n_control": y0.size}
    if min(sizes.values()) < 2:
        raise EstimationError(f"welch needs at least 2 units per sample, got {sizes}")
    se = float(np.sqrt(np.var(y1, ddof=1) / y1.size + np.var(y0, ddof=1) / y0.size))
    if se == 0.0:
        return {**_degenerate(float(np.mean(y1) - np.mean(y0))), **sizes}
    res = stats.ttest_ind(y1, y0, equal_var=False)
    low, high = res.confidence_interval(ci)
    return {
        "ace": float(np.mean(y1) - np.mean(y0)),
        "se": se,
        "ci_low": float(low),
        "ci_high": float(high),
        **sizes,
        "p_value": float(res.pvalue),
    }


def _fill_t(
    out: list[Estimate], live: np.ndarray, ace: Any, se: Any, res: Any, ci: float, sizes: Estimate
) -> list[Estimate]:
    """Write the t results of rows ``live`` (one scipy result for all of them) into ``out``."""
    low, high = res.confidence_interval(ci)
    cols = [np.asarray(c).tolist() for c in (ace, se, low, high, res.pvalue)]
    for j, i in enumerate(live.tolist()):
        a, e, lo, hi, p = (c[j] for c in cols)
        out[i] = {"ace": a, "se": e, "ci_low": lo, "ci_high": hi, **sizes, "p_value": p}
    return out


def _paired_t_rows(ice: np.ndarray, ci: float) -> list[Estimate]:
    """:func:`paired_t` of every row of an ``(effects, n)`` matrix with one scipy call.

    Row by row equal, bit for bit, to ``paired_t(ice[i], ci)`` (tests/test_many_arms.py).
    """
    n = ice.shape[1]
    constant = np.all(ice == ice[:, :1], axis=1)
    out: list[Estimate] = [{**_degenerate(float(row[0])), "n": n} for row in ice]
    live = np.flatnonzero(~constant)
    if not live.size:
        return out
    x = ice[live]
    res = stats.ttest_1samp(x, 0.0, axis=1)
    return _fill_t(out, live, np.mean(x, axis=1), stats.sem(x, axis=1), res, ci, {"n": n})


def _welch_rows(y1: np.ndarray, y0: np.ndarray, ci: float) -> list[Estimate]:
    """:func:`welch` of every row pair of ``(effects, n1)`` and ``(effects, n0)`` matrices."""
    sizes = {"n": y1.shape[1], "n_control": y0.shape[1]}
    se = np.sqrt(
        np.var(y1, axis=1, ddof=1) / y1.shape[1] + np.var(y0, axis=1, ddof=1) / y0.shape[1]
    )
    ace = np.mean(y1, axis=1) - np.mean(y0, axis=1)
    out: list[Estimate] = [{**_degenerate(float(a)), **sizes} for a in ace]
    live = np.flatnonzero(se != 0.0)
    if not live.size:
        return out
    res = stats.ttest_ind(y1[live], y0[live], axis=1, equal_var=False)
    return _fill_t(out, live, ace[live], se[live], res, ci, sizes)


def adjust_pvalues(p: np.ndarray, method: Adjustment = "fdr_bh") -> np.ndarray:
    """Multiple-testing adjustment with ``statsmodels.stats.multitest.multipletests``.

    ``method="none"`` returns a copy of ``p``.

    Parameters
    ----------
    p : numpy.ndarray
        Unadjusted p-values.
    method : {"fdr_bh", "fdr_by", "bonferroni", "holm", "none"}, default "fdr_bh"
        The adjustment: Benjamini-Hochberg or Benjamini-Yekutieli false discovery rate,
        Bonferroni or Holm family-wise error rate, or none.

    Returns
    -------
    numpy.ndarray
        Adjusted p-values (q-values for the FDR methods), in the order of ``p``.

    Examples
    --------
    >>> adjust_pvalues(np.array([0.01, 0.04]), "bonferroni")
    array([0.02, 0.08])
    """
    check_option("multiple_testing", method, ADJUSTMENTS)
    p = np.asarray(p, dtype=float)
    if method == "none" or p.size == 0:
        return p.copy()
    return multipletests(p, method=method)[1]


def _diff_of_means(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(a, axis=axis) - np.mean(b, axis=axis)


def _bootstrap(
    samples: tuple[np.ndarray, ...],
    ci: float,
    method: str,
    n_resamples: int,
    gen: np.random.Generator | None,
) -> tuple[float, float, float]:
    """Bootstrap (ci_low, ci_high, se) of a mean (one sample) or difference of means (two)."""
    statistic = np.mean if len(samples) == 1 else _diff_of_means
    res = stats.bootstrap(
        samples,
        statistic,
        n_resamples=n_resamples,
        confidence_level=ci,
        method=_BOOT_METHOD[method],
        rng=gen,
    )
    low, high = res.confidence_interval
    return float(low), float(high), float(res.standard_error)


def bootstrap_generator(
    seed: int, experiment: Any, label: Any, purpose: str = "bootstrap"
) -> np.random.Generator:
    """The Generator used to resample one effect: a function of (seed, purpose, experiment,
    label) only. ``purpose`` is ``"bootstrap"`` or ``"permutation"``.

    Examples
    --------
    >>> g1, g2 = bootstrap_generator(1, "e", "a"), bootstrap_generator(1, "e", "a")
    >>> bool(g1.random() == g2.random())
    True
    """
    key = unit_keys(seed, [0], purpose, str(experiment), str(label))[0]
    return generator(key)


def _resolve(data: pd.DataFrame | _HasTable) -> tuple[pd.DataFrame, str]:
    """Return (table, kind) from a DataFrame or a SimulationResult-like object."""
    if isinstance(data, pd.DataFrame):
        if "ice" in data.columns:
            return data, "paired"
        if "y" in data.columns:
            return data, "randomized"
        raise EstimationError(
            "cannot tell the design of the table: it has neither an 'ice' column (paired) "
            f"nor a 'y' column (randomized); columns are {list(data.columns)}"
        )
    if not hasattr(data, "table") or not hasattr(data, "kind"):
        raise OptionError(
            f"data must be a DataFrame or have .table and .kind, got {type(data).__name__}"
        )
    return data.table, check_option("kind", data.kind, KINDS)


def _require(table: pd.DataFrame, columns: list[str], kind: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise EstimationError(f"{kind} table is missing required column(s) {missing}")


def _outcome_columns(kind: str, method: str) -> list[str]:
    if kind == "randomized":
        return ["y"]
    return ["y_do", "y_control"] if method == "welch" else ["ice"]


def _check_finite(table: pd.DataFrame, columns: list[str]) -> None:
    """Raise naming the first row whose outcome is NaN, inf or non-numeric."""
    for col in columns:
        values = pd.to_numeric(table[col], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        bad = ~np.isfinite(values)
        if bad.any():
            row = table.iloc[int(np.argmax(bad))]
            raise EstimationError(
                f"non-finite {col} ({row[col]}) in experiment {row['experiment']!r}, label "
                f"{row['label']!r}, background_id {row['background_id']}; "
                "fix or remove it explicitly"
            )


def _check_n(n: int, experiment: Any, label: Any, what: str = "backgrounds") -> None:
    if n < 2:
        raise EstimationError(
            f"experiment {experiment!r}, label {label!r} has {n} {what}; at least 2 are needed "
            "to estimate an ACE with uncertainty"
        )


def _paired_effect(
    sub: pd.DataFrame, method: str, ci: float, gen: np.random.Generator | None, n_res: int
) -> Estimate:
    if method == "welch":
        r = welch(sub["y_do"].to_numpy(dtype=float), sub["y_control"].to_numpy(dtype=float), ci)
        r.pop("n_control")
        return r
    ice = sub["ice"].to_numpy(dtype=float)
    if method == "cluster":
        return cluster_robust(ice, sub["background_id"].to_numpy(), ci=ci)
    r = paired_t(ice, ci)
    if method in _BOOT_METHOD and r["se"] > 0.0:
        r["ci_low"], r["ci_high"], r["se"] = _bootstrap((ice,), ci, method, n_res, gen)
    if method == "permutation" and r["se"] > 0.0:
        r["p_value"] = permutation_test(ice, n_resamples=n_res, rng=gen)
    return r


def _randomized_effect(
    sub: pd.DataFrame,
    y0: np.ndarray,
    method: str,
    ci: float,
    gen: np.random.Generator | None,
    n_res: int,
) -> Estimate:
    y1 = sub["y"].to_numpy(dtype=float)
    r = welch(y1, y0, ci)
    if method in _BOOT_METHOD and r["se"] > 0.0:
        r["ci_low"], r["ci_high"], r["se"] = _bootstrap((y1, y0), ci, method, n_res, gen)
    if method == "permutation" and r["se"] > 0.0:
        r["p_value"] = permutation_test(y1, y0, n_resamples=n_res, rng=gen)
    return r


def _effects(
    table: pd.DataFrame, kind: str, method: str, ci: float, rng: RngLike, n_res: int
) -> Iterator[tuple[pd.Series, Estimate]]:
    """Yield (first row, estimate) per (experiment, label); units sorted by background_id."""
    seed = root_seed(rng) if method in _KEYED else 0
    y0 = np.empty(0)
    if kind == "randomized":
        is_control = (table["label"] == "control").to_numpy(dtype=bool, na_value=False)
        y0 = table.loc[is_control].sort_values("background_id", kind="stable")["y"].to_numpy(float)
        _check_n(y0.size, "control", "control", "control backgrounds")
        table = table.loc[~is_control]
    for (experiment, label), sub in table.groupby(
        ["experiment", "label"], sort=False, dropna=False
    ):
        _check_n(len(sub), experiment, label)
        first, sub = sub.iloc[0], sub.sort_values("background_id", kind="stable")
        purpose = _KEYED.get(method)
        gen = None if purpose is None else bootstrap_generator(seed, experiment, label, purpose)
        if kind == "paired":
            yield first, _paired_effect(sub, method, ci, gen, n_res)
        else:
            yield first, _randomized_effect(sub, y0, method, ci, gen, n_res)


@dataclass(frozen=True)
class _Grouped:
    """Rows of a table grouped by (experiment, label) in one pass.

    ``order`` lists row positions group by group (groups in order of first appearance, rows
    by background_id, ties in table order: the order of :func:`_effects`); group ``g`` is
    ``order[starts[g] : starts[g] + sizes[g]]`` and its first row in table order is
    ``first[g]``.
    """

    order: np.ndarray
    starts: np.ndarray
    sizes: np.ndarray
    first: np.ndarray

    def matrix(self, values: np.ndarray, groups: np.ndarray, n: int) -> np.ndarray:
        """``(len(groups), n)`` values of groups that all have ``n`` rows, in group order."""
        return values[self.order[self.starts[groups][:, None] + np.arange(n)[None, :]]]

    def part(self, values: np.ndarray, g: int) -> np.ndarray:
        """Values of group ``g`` in group order."""
        return values[self.order[self.starts[g] : self.starts[g] + self.sizes[g]]]


def _group_rows(table: pd.DataFrame) -> _Grouped | None:
    """Group ``table`` once; None when the per-group path must run (it raises or handles
    what this one does not: missing keys, non-integer background ids, a group below 2 rows)."""
    if table.empty or table[["experiment", "label"]].isna().to_numpy().any():
        return None
    ids = table["background_id"].to_numpy()
    if ids.dtype.kind not in "iu":
        return None
    codes = table.groupby(["experiment", "label"], sort=False, dropna=False).ngroup().to_numpy()
    sizes = np.bincount(codes)
    if sizes.min() < 2:
        return None
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    first = np.unique(codes, return_index=True)[1]
    return _Grouped(np.lexsort((ids, codes)), starts, sizes, first)


def _fast_effects(
    table: pd.DataFrame, kind: str, method: str, ci: float, rng: RngLike, n_res: int
) -> tuple[pd.DataFrame, list[Estimate]] | None:
    """The estimates of :func:`_effects`, computed for all groups at once where possible.

    The t tests of all groups of the same size go to scipy as one matrix; resampling methods
    and ``cluster`` still run group by group, on arrays rather than sub-frames. Returns (first
    row of every group, estimates), or None to fall back to :func:`_effects`.
    """
    y0 = np.empty(0)
    if kind == "randomized":
        is_control = (table["label"] == "control").to_numpy(dtype=bool, na_value=False)
        y0 = table.loc[is_control].sort_values("background_id", kind="stable")["y"].to_numpy(float)
        if y0.size < 2:
            return None
        table = table.loc[~is_control]
    grouped = _group_rows(table)
    if grouped is None:
        return None
    firsts = table.iloc[grouped.first]
    ests: list[Estimate] = [{} for _ in grouped.sizes]
    if kind == "paired" and method != "welch":
        outcome = table["ice"].to_numpy(dtype=float)
    else:
        outcome = table["y_do" if kind == "paired" else "y"].to_numpy(dtype=float)
    sizes = [] if method == "cluster" else np.unique(grouped.sizes).tolist()
    for n in sizes:  # one scipy call per distinct group size
        groups = np.flatnonzero(grouped.sizes == n)
        values = grouped.matrix(outcome, groups, n)
        if kind == "paired" and method == "welch":
            control = grouped.matrix(table["y_control"].to_numpy(dtype=float), groups, n)
            rows = _welch_rows(values, control, ci)
            for r in rows:
                r.pop("n_control")
        elif kind == "paired":
            rows = _paired_t_rows(values, ci)
        else:
            rows = []
            for a in range(0, len(groups), 256):  # bounded memory: y0 is repeated per row
                block = values[a : a + 256]
                rows += _welch_rows(block, np.repeat(y0[None, :], len(block), axis=0), ci)
        for g, r in zip(groups.tolist(), rows, strict=True):
            ests[g] = r
    purpose = _KEYED.get(method)
    if method == "cluster" or purpose is not None:
        seed = root_seed(rng) if purpose is not None else 0
        ids = table["background_id"].to_numpy()
        keys = zip(firsts["experiment"].tolist(), firsts["label"].tolist(), strict=True)
        for g, (experiment, label) in enumerate(keys):
            x = grouped.part(outcome, g)
            if method == "cluster":
                ests[g] = cluster_robust(x, grouped.part(ids, g), ci=ci)
                continue
            r = ests[g]
            if r["se"] == 0.0:
                continue
            gen = bootstrap_generator(seed, experiment, label, purpose)
            data = (x,) if kind == "paired" else (x, y0)
            if method in _BOOT_METHOD:
                r["ci_low"], r["ci_high"], r["se"] = _bootstrap(data, ci, method, n_res, gen)
            else:
                r["p_value"] = permutation_test(*data, n_resamples=n_res, rng=gen)
    return firsts, ests


def estimate_ace(
    data: pd.DataFrame | _HasTable,
    *,
    method: Method = "paired_t",
    ci: float = 0.95,
    rng: RngLike = None,
    n_resamples: int = 9999,
    multiple_testing: Adjustment = "fdr_bh",
) -> AceEstimates:
    """Estimate the ACE of every (experiment, label) group of a paired or randomized table.

    Parameters
    ----------
    data : DataFrame or SimulationResult
        A paired ICE table (``ice``, ``y_do``, ``y_control`` per background) or a completely
        randomized table (``y`` per background, controls labelled ``"control"``), or an object
        with ``.table`` and ``.kind``. A bare DataFrame is paired if it has ``ice``, else
        randomized if it has ``y``. A result of ``simulate(..., on_nonfinite="drop")`` also
        carries ``units`` (units and dropped units per arm): the table then gets a ``status``
        column and keeps every arm as a row, an arm left with fewer than 2 units with NaN
        estimates (:mod:`causalgia.stats.status`).
    method : {"paired_t", "welch", "bootstrap_percentile", "bootstrap_bca"}
        ``paired_t`` (paired tables only): one-sample t on the ICEs. ``welch``: Welch/Neyman
        two-sample t; on a paired table it treats ``y_do`` and ``y_control`` as independent
        samples and so *ignores the pairing* (the original GIA test, kept for comparison; usually
        much wider). Bootstrap methods: ``scipy.stats.bootstrap`` of the mean ICE (paired) or
        of the difference in means (randomized), SE = bootstrap standard error, and ``p_value``
        is the paired t (resp. Welch) p-value. ``cluster`` (paired tables only): the mean of
        all rows of the group with a cluster-robust SE clustered by ``background_id``
        (:func:`cluster_robust`), for groups in which one background contributes several
        units (positions, motif instances, draws); relabel rows to pool several arms into one
        effect. ``permutation``: paired t (resp. Welch) estimate and interval, ``p_value`` from
        an exact or Monte-Carlo sign-flip (resp. label-permutation) test
        (:func:`permutation_test`).
    ci : float
        Confidence level in (0, 1).
    rng : int, Generator or None
        Root seed of the bootstraps and permutations; each group's stream depends only on the
        seed and its (experiment, label), and units are sorted by ``background_id`` within
        each group, so results do not depend on row or group order.
    n_resamples : int
        Bootstrap resamples, or permutation resamples (the test is exact by full enumeration
        when the number of distinct sign flips or relabellings is at most this).
    multiple_testing : {"fdr_bh", "fdr_by", "bonferroni", "holm", "none"}
        Adjustment giving ``q_value``, applied within each experiment.

    Returns
    -------
    AceEstimates
        Groups in order of first appearance; design-parameter columns (every non-reserved
        column) carry the first value of the group. A table with an ``output`` column (a
        model with several declared outputs) is estimated output by output, q-values within
        each output and experiment, and keeps the column after ``label``. A group whose
        outcomes are constant gets ``se = 0``, a point interval and ``p_value = 1`` if
        ``ace == 0`` else ``0``.

    Raises
    ------
    EstimationError
        A group with fewer than 2 units, or a non-finite outcome (the message names the
        experiment, label and background_id).
    OptionError
        An unknown option, or ``paired_t`` on a randomized table.

    Examples
    --------
    >>> t = pd.DataFrame({"experiment": "e", "label": ["a"] * 3 + ["b"] * 3,
    ...                   "background_id": [0, 1, 2] * 2, "y_control": 0.0,
    ...                   "y_do": [1.0, 2.0, 3.0, 0.0, 0.0, 0.0]})
    >>> t["ice"] = t["y_do"] - t["y_control"]
    >>> estimate_ace(t).to_frame()[["label", "ace", "se", "p_value"]].round(3)
      label  ace     se  p_value
    0     a  2.0  0.577    0.074
    1     b  0.0  0.000    1.000
    """
    check_option("method", method, METHODS)
    check_option("multiple_testing", multiple_testing, ADJUSTMENTS)
    ci = check_probability("ci", ci)
    n_resamples = check_int("n_resamples", n_resamples, minimum=1)
    table, kind = _resolve(data)
    if "output" in table.columns:  # a model with several outputs: each its own study
        return _per_output(table, method, ci, rng, n_resamples, multiple_testing)
    if kind == "randomized" and method == "cluster":
        raise OptionError(
            "method='cluster' clusters the units of a paired table by background_id; a "
            "completely randomized table has one unit per background (use 'welch')"
        )
    if kind == "randomized" and method == "paired_t":
        raise OptionError(
            "method='paired_t' needs both potential outcomes of every background, but a "
            "completely randomized table observes one outcome per background; use "
            "method='welch' or a bootstrap method"
        )
    outcomes = _outcome_columns(kind, method)
    _require(table, ["experiment", "label", "background_id", *outcomes], kind)
    _check_finite(table, outcomes)
    units = None if isinstance(data, pd.DataFrame) else getattr(data, "units", None)
    if units is None:
        return _estimate(table, kind, method, ci, rng, n_resamples, multiple_testing)
    params = [c for c in table.columns if c not in RESERVED]
    kept = too_few(table, kind)
    if kept.empty:
        columns = ["experiment", "label", *params, "method", "ace", "se", "ci_low", "ci_high"]
        columns += ["n", *(["n_control"] if kind == "randomized" else []), "p_value", "q_value"]
        est = AceEstimates(pd.DataFrame(columns=columns), method, ci)
    else:
        est = _estimate(kept, kind, method, ci, rng, n_resamples, multiple_testing)
    return AceEstimates(with_status(est.table, units, kind, method, params), method, ci)


def _per_output(
    table: pd.DataFrame,
    method: Method,
    ci: float,
    rng: RngLike,
    n_resamples: int,
    multiple_testing: Adjustment,
) -> AceEstimates:
    """:func:`estimate_ace` of each output's rows, its ``output`` column after ``label`` (one
    root seed for every output: each equals its single-output study with that seed)."""
    seed = root_seed(rng) if method in _KEYED else rng
    parts = per_output(table, lambda sub: estimate_ace(
        sub, method=method, ci=ci, rng=seed, n_resamples=n_resamples,
        multiple_testing=multiple_testing,
    ).table)  # fmt: skip
    return AceEstimates(stack_outputs(parts, after="label"), method, ci)


def _estimate(
    table: pd.DataFrame,
    kind: str,
    method: str,
    ci: float,
    rng: RngLike,
    n_resamples: int,
    multiple_testing: str,
) -> AceEstimates:
    """:func:`estimate_ace` of a checked table: all groups at once, else group by group."""
    fast = _fast_effects(table, kind, method, ci, rng, n_resamples)
    if fast is not None:
        firsts, ests = fast
        params = [c for c in table.columns if c not in RESERVED]
        records = firsts[["experiment", "label", *params]].to_dict("records")
        rows = [{**rec, "method": method, **est} for rec, est in zip(records, ests, strict=True)]
        out = _ace_table(rows, params, kind, method, ci, multiple_testing)
        return _integer_params(out, table, params)
    pairs = _effects(table, kind, method, ci, rng, n_resamples)
    return _assemble(table, kind, pairs, method, ci, multiple_testing)


def _assemble(
    table: pd.DataFrame,
    kind: str,
    pairs: Iterable[tuple[pd.Series, Estimate]],
    method: str,
    ci: float,
    multiple_testing: str,
) -> AceEstimates:
    """Build the ACE table from (first row, estimate) pairs; q-values within each experiment."""
    params = [c for c in table.columns if c not in RESERVED]
    rows = [
        {
            "experiment": first["experiment"],
            "label": first["label"],
            **first[params].to_dict(),
            "method": method,
            **est,
        }
        for first, est in pairs
    ]
    out = _ace_table(rows, params, kind, method, ci, multiple_testing)
    return _integer_params(out, table, params)


def _integer_params(ace: AceEstimates, table: pd.DataFrame, params: list[str]) -> AceEstimates:
    """Integer design parameters stay integers in the ACE table.

    A parameter column is integer when the unit table holds it as an integer dtype, as Python
    integers beside missing values (object dtype), or as floats that are all whole numbers
    beside missing values (an integer column that pandas upcast because some arms lack the
    parameter, e.g. read back from a CSV). Those columns become ``int64`` when every row has
    the parameter and pandas' nullable ``Int64`` otherwise; the estimates are untouched.
    """
    out = ace.table
    for name in params:
        col = table[name]
        if pd.api.types.is_bool_dtype(col.dtype):
            continue
        if pd.api.types.is_integer_dtype(col.dtype):
            whole = True
        elif pd.api.types.is_float_dtype(col.dtype):
            values = col.to_numpy(dtype=float, na_value=np.nan)
            present = values[~np.isnan(values)]
            missing = present.size < values.size
            whole = missing and bool(np.all(np.isfinite(present) & (present == np.round(present))))
        elif col.dtype == object:
            present = [v for v in col if not pd.isna(v)]
            whole = bool(present) and all(
                isinstance(v, int | np.integer) and not isinstance(v, bool | np.bool_)
                for v in present
            )
        else:
            whole = False
        if whole:
            values = pd.array(out[name].to_numpy(dtype=float, na_value=np.nan)).astype("Int64")
            out[name] = values if values.isna().any() else values.astype(np.int64)
    return ace


def _ace_table(
    rows: list[dict[str, Any]],
    params: list[str],
    kind: str,
    method: str,
    ci: float,
    multiple_testing: str,
) -> AceEstimates:
    """The ACE table from one dict per effect; q-values within each experiment."""
    columns = ["experiment", "label", *params, "method", "ace", "se", "ci_low", "ci_high", "n"]
    columns += ["n_control"] if kind == "randomized" else []
    out = pd.DataFrame(rows, columns=[*columns, "p_value"])
    q = np.empty(len(out))
    for idx in out.groupby("experiment", sort=False, dropna=False).indices.values():
        q[idx] = adjust_pvalues(out["p_value"].to_numpy()[idx], multiple_testing)
    out["q_value"] = q
    return AceEstimates(table=out, method=method, ci=ci)


# --- cluster-robust and randomization estimators, shared table helpers -------------------


def _t_estimate(ace: float, se: float, df: float, ci: float) -> Estimate:
    """Estimate, t interval with ``df`` degrees of freedom and two-sided p-value."""
    if se == 0.0:
        return _degenerate(ace)
    q = float(stats.t.ppf(0.5 + ci / 2.0, df))
    p = float(2.0 * stats.t.sf(abs(ace) / se, df))
    return {"ace": ace, "se": se, "ci_low": ace - q * se, "ci_high": ace + q * se, "p_value": p}


def cluster_robust(values: np.ndarray, clusters: np.ndarray, *, ci: float = 0.95) -> Estimate:
    """Mean of units with a cluster-robust (CR1) SE and a t interval on G − 1 df.

    Equal to ``statsmodels`` ``OLS(values, 1).fit(cov_type="cluster",
    cov_kwds={"groups": clusters}, use_t=True)``: SE² = G/(G−1) · Σ_g (Σ_{i∈g} e_i)² / N²
    over G clusters and N units. Use it when one background contributes several units
    (positions, motif instances, draws): units of a background are correlated, and treating
    them as independent makes the interval too narrow. With one unit per cluster it equals
    :func:`paired_t`.

    Parameters
    ----------
    values : numpy.ndarray
        One value (e.g. an ICE) per unit, one-dimensional.
    clusters : numpy.ndarray
        The cluster label of each unit (e.g. its background id), same shape as ``values``;
        at least 2 distinct labels.
    ci : float, default 0.95
        Confidence level of the t interval.

    Returns
    -------
    dict
        ``ace, se, ci_low, ci_high, n, n_clusters, p_value``.

    Examples
    --------
    >>> r = cluster_robust(np.array([1.0, 1.2, 3.0, 3.4, 2.0]), np.array([0, 0, 1, 1, 2]))
    >>> r["n"], r["n_clusters"], round(r["ace"], 2)
    (5, 3, 2.12)
    """
    v = np.asarray(values, dtype=float)
    g = np.asarray(clusters)
    if v.ndim != 1 or g.shape != v.shape:
        raise EstimationError(
            f"cluster_robust needs one cluster label per unit: {v.shape} values, {g.shape} labels"
        )
    _, inverse = np.unique(g, return_inverse=True)
    n_clusters = int(inverse.max()) + 1 if v.size else 0
    if n_clusters < 2:
        raise EstimationError(f"cluster_robust needs at least 2 clusters, got {n_clusters}")
    ace = float(np.mean(v))
    sums = np.bincount(inverse, weights=v - ace, minlength=n_clusters)
    se = float(np.sqrt(n_clusters / (n_clusters - 1) * np.sum(sums**2)) / v.size)
    if np.all(v == v[0]):
        se = 0.0
    return {**_t_estimate(ace, se, n_clusters - 1, ci), "n": v.size, "n_clusters": n_clusters}


def _mean_statistic(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis)


def permutation_test(
    x: np.ndarray,
    y: np.ndarray | None = None,
    *,
    n_resamples: int = 9999,
    rng: RngLike = None,
    alternative: Literal["two-sided", "less", "greater"] = "two-sided",
) -> float:
    """Randomization p-value with ``scipy.stats.permutation_test``.

    One sample (paired ICEs): a sign-flip test of a zero mean, valid when every ICE is
    symmetric about 0 under the null (as for an intervention exchangeable with no
    intervention). Two samples (randomized arm ``x`` against control ``y``): a label
    permutation test of the difference in means. The test is exact, by full enumeration,
    whenever the number of distinct flips (2^n) or relabellings is at most ``n_resamples``.

    Parameters
    ----------
    x : numpy.ndarray
        The ICEs (one sample) or the outcomes of the intervention arm (two samples).
    y : numpy.ndarray, optional
        The outcomes of the control arm; None (default) for the one-sample sign-flip test.
    n_resamples : int, default 9999
        Random permutations when full enumeration would need more.
    rng : int, numpy.random.Generator or None
        Seed or generator of the random permutations (None: a fresh seed).
    alternative : {"two-sided", "less", "greater"}, default "two-sided"
        The alternative hypothesis about the mean (difference).

    Returns
    -------
    float
        The permutation p-value.

    Examples
    --------
    >>> round(permutation_test(np.array([0.5, 1.0, 1.5, 2.0, -0.1, 0.7, 0.9, 1.2])), 6)
    0.015625
    """
    check_option("alternative", alternative, ("two-sided", "less", "greater"))
    n_resamples = check_int("n_resamples", n_resamples, minimum=1)
    gen = rng if isinstance(rng, np.random.Generator) else generator(root_seed(rng))
    if y is None:
        data: tuple[np.ndarray, ...] = (np.asarray(x, dtype=float),)
        statistic, kind = _mean_statistic, "samples"
    else:
        data = (np.asarray(x, dtype=float), np.asarray(y, dtype=float))
        statistic, kind = _diff_of_means, "independent"
    res = stats.permutation_test(
        data,
        statistic,
        permutation_type=kind,
        vectorized=True,
        n_resamples=n_resamples,
        alternative=alternative,
        rng=gen,
    )
    return float(res.pvalue)


def _groups(
    data: pd.DataFrame | _HasTable, outcomes: Mapping[str, list[str]]
) -> tuple[pd.DataFrame, str, Iterator[tuple[pd.Series, pd.DataFrame, pd.DataFrame]]]:
    """(table, kind, iterator of (first row, group rows, control rows)) for table-level verbs."""
    table, kind = _resolve(data)
    needed = outcomes[kind]
    _require(table, ["experiment", "label", "background_id", *needed], kind)
    _check_finite(table, needed)
    control = table.iloc[:0]
    if kind == "randomized":
        is_control = (table["label"] == "control").to_numpy(dtype=bool, na_value=False)
        control = table.loc[is_control].sort_values("background_id", kind="stable")
        _check_n(len(control), "control", "control", "control backgrounds")
        table = table.loc[~is_control]

    def iterate() -> Iterator[tuple[pd.Series, pd.DataFrame, pd.DataFrame]]:
        for (experiment, label), sub in table.groupby(
            ["experiment", "label"], sort=False, dropna=False
        ):
            _check_n(len(sub), experiment, label)
            yield sub.iloc[0], sub.sort_values("background_id", kind="stable"), control

    return table, kind, iterate()


def _named(first: pd.Series, what: str, err: EstimationError) -> EstimationError:
    return EstimationError(
        f"experiment {first['experiment']!r}, label {first['label']!r}: {what}: {err}"
    )


def _lookup(
    sub: pd.DataFrame, frame: pd.DataFrame, names: list[str], first: pd.Series, what: str
) -> np.ndarray:
    """Values of ``frame[names]`` for the background ids of ``sub``; raises naming a miss."""
    lookup = frame.drop_duplicates("background_id").set_index("background_id")[names]
    ids = sub["background_id"].to_numpy()
    missing = ~pd.Index(ids).isin(lookup.index)
    if missing.any():
        raise EstimationError(
            f"experiment {first['experiment']!r}, label {first['label']!r}: no {what} for "
            f"background_id {ids[np.argmax(missing)]}"
        )
    return lookup.loc[ids].to_numpy()
