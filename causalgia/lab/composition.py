"""Concordance that composition cannot fool: within-strata and covariate-adjusted rank correlation.

Two rankings of k-mers (or probes) can agree only because both follow composition: a model that
likes GC-rich sequence and a lab whose selection favours GC-rich reads agree whatever the
protein. On RNAcompete-S Vts1 the wrong-protein RBFOX1 model reaches the same Spearman with the
lab 5-mer enrichment as the Vts1 models do. The statistics here remove that part:

- **stratified Spearman**: Spearman within each composition stratum (e.g. GC count of the
  k-mer), averaged with weights proportional to stratum size (strata smaller than
  ``min_stratum`` or with a constant variable are left out, and listed);
- **partial Spearman**: both variables (and the covariates) rank-transformed, the ranks of
  each regressed on the covariates (with an intercept; default: one indicator per stratum), and
  the residuals correlated; p-value from the t distribution with n - 2 - p degrees of freedom;
- **top-k overlap** of the two top-k lists with a hypergeometric p-value
  (``scipy.stats.hypergeom``).

:func:`causalgia.lab.controlled.controlled_concordance` puts them together with intervals,
baselines (permutation within strata, wrong models) and a verdict.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from .._options import check_int
from ..errors import OptionError

STATISTICS: tuple[str, ...] = (
    "spearman",
    "stratified_spearman",
    "partial_spearman",
    "top_k_overlap",
)


def gc_count(kmers: Sequence[str]) -> np.ndarray:
    """Number of G and C letters of every k-mer (the usual composition stratum).

    Parameters
    ----------
    kmers : sequence of str
        The k-mers (any case).

    Returns
    -------
    numpy.ndarray
        int64, one G+C count per k-mer.

    Examples
    --------
    >>> gc_count(["GCUGG", "AUAUA", "gcAT"]).tolist()
    [4, 0, 2]
    """
    return np.array([sum(c in "GCgc" for c in str(s)) for s in kmers], dtype=np.int64)


def composition(kmers: Sequence[str]) -> pd.DataFrame:
    """Composition covariates of sequences: length, GC count and fraction, count of each base.

    Columns: ``length``, ``gc_count``, ``gc_fraction``, ``a``, ``c``, ``g``, ``u`` (T and U are
    one base). Use a column as ``strata=`` and any of them as ``covariates=``.

    Parameters
    ----------
    kmers : sequence of str
        The sequences (any case; T and U both count as ``u``).

    Returns
    -------
    pandas.DataFrame
        One row per sequence; ``gc_fraction`` is NaN for an empty sequence.

    Examples
    --------
    >>> composition(["GCUGG", "AUAT"])[["length", "gc_count", "u"]].values.tolist()
    [[5, 4, 1], [4, 0, 2]]
    """
    seqs = [str(s).upper().replace("T", "U") for s in kmers]
    out = pd.DataFrame({"length": [len(s) for s in seqs]})
    for base in "ACGU":
        out[base.lower()] = [s.count(base) for s in seqs]
    out.insert(1, "gc_count", out["c"] + out["g"])
    out.insert(2, "gc_fraction", out["gc_count"] / out["length"].where(out["length"] > 0))
    return out


def _ranks(v: np.ndarray) -> np.ndarray:
    return group_ranks(v)


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    den = np.sqrt((a @ a) * (b @ b))
    return float(a @ b / den) if den > 0 else float("nan")


def stratified_spearman(
    x: np.ndarray, y: np.ndarray, strata: np.ndarray, *, min_stratum: int = 3
) -> tuple[float, pd.DataFrame]:
    """Size-weighted mean of the within-stratum Spearman correlations.

    Returns the combined value and a table (``stratum``, ``n``, ``spearman``, ``used``). A
    stratum is used when it has at least ``min_stratum`` items and neither variable is constant
    in it; the weights are the sizes of the used strata.

    Parameters
    ----------
    x, y : numpy.ndarray
        The paired values (e.g. predicted and measured), one per item.
    strata : numpy.ndarray
        The stratum of each item (e.g. its GC count).
    min_stratum : int, default 3
        Smallest stratum that contributes.

    Returns
    -------
    rho : float
        The size-weighted mean within-stratum Spearman correlation (NaN when no stratum is
        used).
    table : pandas.DataFrame
        One row per stratum, sorted by stratum: ``stratum, n, spearman, used``.

    Examples
    --------
    >>> x = np.array([1.0, 2, 3, 10, 11, 12]); y = np.array([3.0, 2, 1, 10, 11, 12])
    >>> rho, table = stratified_spearman(x, y, np.array([0, 0, 0, 1, 1, 1]))
    >>> rho, round(float(stats.spearmanr(x, y).statistic), 2)
    (0.0, 0.77)
    """
    x, y, strata = np.asarray(x, float), np.asarray(y, float), np.asarray(strata)
    rows = []
    for s in pd.unique(strata):
        idx = np.flatnonzero(strata == s)
        rho = np.nan
        if idx.size >= min_stratum and np.ptp(x[idx]) > 0 and np.ptp(y[idx]) > 0:
            rho = _pearson(_ranks(x[idx]), _ranks(y[idx]))
        rows.append({"stratum": s, "n": idx.size, "spearman": rho, "used": bool(np.isfinite(rho))})
    table = pd.DataFrame(rows).sort_values("stratum", kind="stable").reset_index(drop=True)
    used = table[table["used"]]
    if used.empty:
        return float("nan"), table
    return float(np.average(used["spearman"], weights=used["n"])), table


def _design(covariates: np.ndarray) -> np.ndarray:
    """Orthonormal basis of [1, ranked covariates] (QR), dropping exactly collinear columns."""
    cols = [np.ones(covariates.shape[0])]
    cols += [_ranks(c) for c in covariates.T]
    q, r = np.linalg.qr(np.column_stack(cols))
    keep = np.abs(np.diag(r)) > 1e-9 * max(1.0, float(np.abs(r).max()))
    return q[:, keep]


def partial_spearman(x: np.ndarray, y: np.ndarray, covariates: np.ndarray) -> tuple[float, float]:
    """Spearman correlation of x and y adjusted for covariates, and its two-sided p-value.

    All variables are rank-transformed; the ranks of x and y are regressed (least squares,
    with an intercept) on the ranks of the covariates and the residuals are correlated. The
    p-value uses t = r·sqrt(df / (1 - r²)) with df = n - 2 - (number of covariates).

    Parameters
    ----------
    x, y : numpy.ndarray
        The paired values, one per item.
    covariates : numpy.ndarray
        The covariates, one row per item (a 1-D array is one covariate); exactly collinear
        columns are dropped.

    Returns
    -------
    r : float
        The partial Spearman correlation.
    p_value : float
        Its two-sided p-value (NaN when df < 1 or r is not finite).

    Examples
    --------
    >>> gen = np.random.default_rng(0)
    >>> c = gen.normal(size=500); x = c + gen.normal(size=500); y = c + gen.normal(size=500)
    >>> r, p = partial_spearman(x, y, c[:, None])
    >>> abs(r) < 0.1, stats.spearmanr(x, y).statistic > 0.4
    (True, np.True_)
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    cov = np.asarray(covariates, float).reshape(x.size, -1)
    q = _design(cov)
    r = _partial_from_basis(_ranks(x), _ranks(y), q)
    df = x.size - 2 - (q.shape[1] - 1)
    if df < 1 or not np.isfinite(r):
        return r, float("nan")
    t = r * np.sqrt(df / max(1e-300, 1.0 - r * r))
    return r, float(2 * stats.t.sf(abs(t), df))


def _partial_from_basis(rx: np.ndarray, ry: np.ndarray, q: np.ndarray) -> float:
    ex = rx - q @ (q.T @ rx)
    ey = ry - q @ (q.T @ ry)
    den = np.sqrt((ex @ ex) * (ey @ ey))
    return float(ex @ ey / den) if den > 0 else float("nan")


def _top(v: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest values (ties broken by position: a stable descending sort)."""
    return np.argsort(-v, kind="stable")[:k]


def top_k_overlap(
    predicted: np.ndarray, measured: np.ndarray, k: int = 10
) -> tuple[int, float, float]:
    """Size of the overlap of the two top-k lists, its expectation k²/N, and the hypergeometric
    p-value P(overlap >= observed) when the model's top k were drawn at random.

    Parameters
    ----------
    predicted, measured : numpy.ndarray
        The paired values, one per item; larger is "top" (ties broken by position).
    k : int, default 10
        Length of each top list (at most the number of items).

    Returns
    -------
    overlap : int
        Items in both top-k lists.
    expected : float
        The overlap expected by chance, k²/N.
    p_value : float
        Hypergeometric P(overlap >= observed).

    Examples
    --------
    >>> top_k_overlap(np.arange(100.0), np.arange(100.0), k=5)[:2]
    (5, 0.25)
    """
    x, y = np.asarray(predicted, float), np.asarray(measured, float)
    k = check_int("k", k, minimum=1)
    if k > x.size:
        raise OptionError(f"top_k={k} exceeds the {x.size} items")
    m = int(np.intersect1d(_top(x, k), _top(y, k)).size)
    return m, k * k / x.size, float(stats.hypergeom.sf(m - 1, x.size, k, k))


def group_ranks(values: np.ndarray, groups: np.ndarray | None = None) -> np.ndarray:
    """Average ranks (ties share the mean rank, as ``scipy.stats.rankdata``) within each group.

    One sort by value and one stable sort by group, for all groups at once; ``groups=None``
    ranks over all values.

    Parameters
    ----------
    values : numpy.ndarray
        The values to rank.
    groups : numpy.ndarray, optional
        The group of each value; None (default) ranks all values together.

    Returns
    -------
    numpy.ndarray
        float, the rank (1-based, ties averaged) of each value within its group.

    Examples
    --------
    >>> group_ranks(np.array([3.0, 1.0, 1.0, 5.0, 2.0]), np.array([0, 0, 0, 1, 1])).tolist()
    [3.0, 1.5, 1.5, 2.0, 1.0]
    """
    v = np.asarray(values, dtype=float)
    n = v.size
    g = np.zeros(n, dtype=np.int64) if groups is None else np.asarray(groups)
    order = np.argsort(v, kind="stable")
    if groups is not None:
        order = order[np.argsort(g[order], kind="stable")]
    vs, gs = v[order], g[order]
    new_group = np.r_[True, gs[1:] != gs[:-1]] if n else np.zeros(0, bool)
    new_block = new_group | (np.r_[True, vs[1:] != vs[:-1]] if n else new_group)
    block = np.cumsum(new_block) - 1
    pos = np.arange(n)
    start = pos[new_group][np.cumsum(new_group) - 1]
    ordinal = (pos - start + 1).astype(float)
    avg = np.bincount(block, ordinal) / np.bincount(block)
    out = np.empty(n)
    out[order] = avg[block]
    return out


@dataclass(frozen=True)
class _Ranked:
    """Ranks of one variable: over all items, within strata, and its top-k indicator."""

    overall: np.ndarray
    within: np.ndarray
    top: np.ndarray

    def permuted(self, index: np.ndarray) -> _Ranked:
        """The ranks of ``values[index]`` when ``index`` permutes items within strata."""
        return _Ranked(self.overall[index], self.within[index], self.top[index])


@dataclass(frozen=True)
class _Prepared:
    """The item set of a concordance: stratum codes, covariate basis, top-k and strata rules.

    All four statistics come from ranks (:meth:`rank`), so a permutation within strata only
    reindexes them and the within-stratum correlations are group sums (``numpy.bincount``).
    """

    codes: np.ndarray
    n_groups: int
    basis: np.ndarray
    top_k: int
    min_stratum: int

    @classmethod
    def build(
        cls, strata: np.ndarray, covariates: np.ndarray, top_k: int, min_stratum: int
    ) -> _Prepared:
        levels, codes = np.unique(np.asarray(strata), return_inverse=True)
        return cls(codes.ravel(), levels.size, _design(covariates), top_k, min_stratum)

    def rank(self, v: np.ndarray) -> _Ranked:
        top = np.zeros(v.size, dtype=bool)
        top[_top(v, self.top_k)] = True
        return _Ranked(group_ranks(v), group_ranks(v, self.codes), top)

    def from_ranks(self, a: _Ranked, b: _Ranked) -> np.ndarray:
        """[spearman, stratified, partial, top-k overlap] from the ranks of x (a) and y (b)."""
        strat = _grouped_correlation(
            a.within, b.within, self.codes, self.n_groups, self.min_stratum
        )
        return np.array(
            [
                _pearson(a.overall, b.overall),
                strat,
                _partial_from_basis(a.overall, b.overall, self.basis),
                float(np.count_nonzero(a.top & b.top)),
            ]
        )

    def statistics(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """[spearman, stratified, partial, top-k overlap] of predicted x and measured y."""
        return self.from_ranks(self.rank(x), self.rank(y))


def _grouped_correlation(
    a: np.ndarray, b: np.ndarray, codes: np.ndarray, n_groups: int, min_size: int
) -> float:
    """Size-weighted mean over groups of the Pearson correlation of a and b within each group
    (groups smaller than ``min_size`` or with a constant variable left out)."""
    n = np.bincount(codes, minlength=n_groups).astype(float)
    sa, sb = np.bincount(codes, a, n_groups), np.bincount(codes, b, n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        va = np.bincount(codes, a * a, n_groups) - sa * sa / n
        vb = np.bincount(codes, b * b, n_groups) - sb * sb / n
        cov = np.bincount(codes, a * b, n_groups) - sa * sb / n
        tol = 1e-9 * np.maximum(n, 1.0) ** 3
        used = (n >= min_size) & (va > tol) & (vb > tol)
        rho = cov[used] / np.sqrt(va[used] * vb[used])
    if not used.any():
        return float("nan")
    return float(np.sum(n[used] * rho) / np.sum(n[used]))
