"""Agreement of predictions with measurements: correlations, sign agreement, Deming, Bland-Altman.

:func:`concordance` gives Pearson and Spearman correlations with bootstrap intervals, sign
agreement with an exact binomial interval, an errors-in-variables (Deming) slope with a bootstrap
interval, and Bland-Altman bias and limits of agreement. It says nothing about *why* two rankings
agree: for k-mers and probes, composition (GC content) alone can make unrelated models agree with
the lab; :func:`causalgia.lab.composition.controlled_concordance` controls for it.

Statistics are delegated to :mod:`scipy.stats`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from .._options import check_int, check_option, check_probability
from .._rng import RngLike, generator, root_seed, unit_keys
from ..errors import EstimationError, OptionError
from ..stats.display import html_block, html_table, repr_lines
from .measurements import Joined

BlandAltmanScale = Literal["calibrated", "standardized", "raw"]


@dataclass(frozen=True)
class Concordance:
    """Agreement between predicted and measured values, each statistic with an interval.

    ``table`` columns: ``statistic, estimate, ci_low, ci_high, p_value, n, method``. Rows:
    ``pearson_r``, ``spearman_rho``, ``sign_agreement``, ``eiv_slope``, ``eiv_intercept``,
    ``bland_altman_bias``, ``loa_low``, ``loa_high`` (limits of agreement).
    """

    table: pd.DataFrame
    ci: float
    bland_altman_scale: str

    def to_frame(self) -> pd.DataFrame:
        """A copy of the statistics table.

        Returns
        -------
        pandas.DataFrame
            A copy of :attr:`table`, one row per statistic.
        """
        return self.table.copy()

    def __getitem__(self, statistic: str) -> float:
        row = self.table[self.table["statistic"] == statistic]
        if row.empty:
            raise KeyError(statistic)
        return float(row["estimate"].iloc[0])

    def summary(self) -> str:
        """One line per statistic.

        Returns
        -------
        str
            A header line (interval level, Bland-Altman scale), then each statistic with its
            interval and, where there is one, its p-value.
        """
        lines = [
            f"Concordance ({self.ci:.0%} intervals; Bland-Altman on {self.bland_altman_scale})"
        ]
        for r in self.table.itertuples(index=False):
            p = "" if np.isnan(r.p_value) else f"  p={r.p_value:.3g}"
            lines.append(
                f"  {r.statistic:>18}: {r.estimate:+.4f} [{r.ci_low:+.4f}, {r.ci_high:+.4f}]{p}"
            )
        return "\n".join(lines)

    def __repr__(self) -> str:
        t = self.table.set_index("statistic") if "statistic" in self.table else pd.DataFrame()
        n = f"n={int(t['n'].max())}, " if "n" in t and len(t) else ""
        head = (
            f"Concordance: {n}{100 * self.ci:g}% intervals, "
            f"Bland-Altman on {self.bland_altman_scale}"
        )

        def show(name: str, label: str, p: bool = False) -> str:
            if name not in t.index:
                return ""
            r = t.loc[name]
            text = f"{label} {r['estimate']:+.3f} [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]"
            return text + (f", p={r['p_value']:.3g}" if p and np.isfinite(r["p_value"]) else "")

        first = [show("spearman_rho", "Spearman rho", True), show("pearson_r", "Pearson r")]
        second = [show("sign_agreement", "sign agreement"), show("eiv_slope", "Deming slope")]
        lines = [head]
        for group in (first, second):
            if any(group):
                lines.append("  " + "; ".join(x for x in group if x))
        return repr_lines(*lines)

    def _repr_html_(self) -> str:
        return html_block(repr(self), html_table(self.table))


def deming_fit(
    x: np.ndarray, y: np.ndarray, error_ratio: float | None = None
) -> tuple[float, float]:
    """Deming (errors-in-variables) regression of y on x: (slope, intercept).

    ``error_ratio`` is var(error in y) / var(error in x); None uses var(y)/var(x), which gives
    the standardised major axis slope ``sign(r)·sd(y)/sd(x)``.

    Parameters
    ----------
    x : numpy.ndarray
        The regressor (e.g. predictions), one-dimensional.
    y : numpy.ndarray
        The response (e.g. measurements), same length as ``x``.
    error_ratio : float, optional
        var(error in y) / var(error in x); None (default) uses var(y) / var(x).

    Returns
    -------
    slope : float
        The Deming slope (0.0 when x and y are uncorrelated).
    intercept : float
        ``mean(y) - slope * mean(x)``.

    Examples
    --------
    >>> x = np.array([0.0, 1.0, 2.0, 3.0]); deming_fit(x, 2 * x + 1, 1.0)
    (2.0, 1.0)
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    sxx, syy = np.var(x, ddof=1), np.var(y, ddof=1)
    sxy = np.cov(x, y, ddof=1)[0, 1]
    lam = syy / sxx if error_ratio is None else float(error_ratio)
    if sxy == 0.0:
        return 0.0, float(np.mean(y))
    d = syy - lam * sxx
    slope = (d + np.sqrt(d * d + 4.0 * lam * sxy * sxy)) / (2.0 * sxy)
    return float(slope), float(np.mean(y) - slope * np.mean(x))


def concordance(
    predicted: np.ndarray | Joined,
    measured: np.ndarray | None = None,
    *,
    ci: float = 0.95,
    n_resamples: int = 999,
    error_ratio: float | None = None,
    bland_altman: BlandAltmanScale = "calibrated",
    rng: RngLike = None,
) -> Concordance:
    """Concordance of predictions with measurements, with intervals.

    Parameters
    ----------
    predicted, measured : arrays, or a :class:`Joined` as the first argument
        Paired values (in-silico effects or scores, and lab effects or intensities).
    ci : float
        Interval level.
    n_resamples : int
        Paired bootstrap resamples (``scipy.stats.bootstrap``, percentile) for the Pearson and
        Spearman correlations and the Deming slope/intercept.
    error_ratio : float or None
        var(measurement error) / var(prediction error) for the Deming fit (see :func:`deming_fit`).
    bland_altman : {"calibrated", "standardized", "raw"}
        Scale of the Bland-Altman differences ``measured - predicted``: predictions mapped to the
        measurement scale by the Deming fit (default; the two are rarely on one scale), both
        z-scored, or raw values. Limits of agreement are bias ± 1.96 sd, with approximate
        intervals (Bland & Altman 1986: se(bias)² = s²/n, se(limit)² ≈ 3 s²/n).
    rng : int, Generator or None
        Seed of the bootstraps.

    Returns
    -------
    Concordance
        One row per statistic (``pearson_r``, ``spearman_rho``, ``sign_agreement`` when some
        pair has two non-zero values, ``eiv_slope``, ``eiv_intercept``, ``bland_altman_bias``,
        ``loa_low``, ``loa_high``) with its interval, p-value, n and method.

    Examples
    --------
    >>> x = np.linspace(-1, 1, 50); y = 2 * x + np.sin(7 * x) * 0.1
    >>> c = concordance(x, y, n_resamples=200, rng=0)
    >>> round(c["pearson_r"], 3), c["sign_agreement"]
    (0.998, 1.0)
    """
    if isinstance(predicted, Joined):
        if measured is not None:
            raise OptionError("pass either a Joined table or two arrays, not both")
        x = predicted.table["predicted"].to_numpy(dtype=float)
        y = predicted.table["measured"].to_numpy(dtype=float)
    else:
        if measured is None:
            raise OptionError("concordance needs measured values")
        x, y = np.asarray(predicted, dtype=float), np.asarray(measured, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise OptionError(f"predicted {x.shape} and measured {y.shape} must be 1-D of one length")
    if x.size < 3:
        raise EstimationError(f"concordance needs at least 3 pairs, got {x.size}")
    bad = ~(np.isfinite(x) & np.isfinite(y))
    if bad.any():
        raise EstimationError(f"pair {int(np.argmax(bad))} holds a non-finite value")
    ci = check_probability("ci", ci)
    n_resamples = check_int("n_resamples", n_resamples, minimum=1)
    check_option("bland_altman", bland_altman, ("calibrated", "standardized", "raw"))
    seed = root_seed(rng)
    n = x.size
    rows: list[dict[str, Any]] = []

    def boot(name: str, fn: Any) -> tuple[float, float]:
        gen = generator(unit_keys(seed, [0], "concordance", name)[0])
        res = stats.bootstrap(
            (x, y),
            fn,
            paired=True,
            vectorized=False,
            n_resamples=n_resamples,
            confidence_level=ci,
            method="percentile",
            rng=gen,
        )
        return float(res.confidence_interval.low), float(res.confidence_interval.high)

    pr = stats.pearsonr(x, y)
    lo, hi = boot("pearson", lambda a, b: stats.pearsonr(a, b).statistic)
    rows.append(_row("pearson_r", pr.statistic, lo, hi, pr.pvalue, n, "bootstrap percentile"))
    sr = stats.spearmanr(x, y)
    lo, hi = boot("spearman", lambda a, b: stats.spearmanr(a, b).statistic)
    rows.append(_row("spearman_rho", sr.statistic, lo, hi, sr.pvalue, n, "bootstrap percentile"))
    nonzero = (x != 0) & (y != 0)
    k, m = int((np.sign(x[nonzero]) == np.sign(y[nonzero])).sum()), int(nonzero.sum())
    if m:
        bt = stats.binomtest(k, m, 0.5)
        pci = bt.proportion_ci(ci, method="exact")
        rows.append(
            _row("sign_agreement", k / m, pci.low, pci.high, bt.pvalue, m, "exact binomial")
        )
    slope, intercept = deming_fit(x, y, error_ratio)
    lo, hi = boot("deming_slope", lambda a, b: deming_fit(a, b, error_ratio)[0])
    rows.append(_row("eiv_slope", slope, lo, hi, np.nan, n, "Deming, bootstrap percentile"))
    lo, hi = boot("deming_intercept", lambda a, b: deming_fit(a, b, error_ratio)[1])
    rows.append(_row("eiv_intercept", intercept, lo, hi, np.nan, n, "Deming, bootstrap percentile"))
    if bland_altman == "calibrated":
        diff = y - (intercept + slope * x)
    elif bland_altman == "standardized":
        diff = stats.zscore(y) - stats.zscore(x)
    else:
        diff = y - x
    bias, sd = float(np.mean(diff)), float(np.std(diff, ddof=1))
    tq = stats.t.ppf(0.5 + ci / 2, n - 1)
    se_b, se_l = sd / np.sqrt(n), np.sqrt(3.0 * sd * sd / n)
    rows.append(_row("bland_altman_bias", bias, bias - tq * se_b, bias + tq * se_b, np.nan, n, "t"))
    for name, sign in (("loa_low", -1.0), ("loa_high", 1.0)):
        loa = bias + sign * 1.96 * sd
        rows.append(_row(name, loa, loa - tq * se_l, loa + tq * se_l, np.nan, n, "Bland-Altman"))
    return Concordance(pd.DataFrame(rows), ci, bland_altman)


def _row(name: str, est: float, lo: float, hi: float, p: float, n: int, method: str) -> dict:
    return {
        "statistic": name,
        "estimate": float(est),
        "ci_low": float(lo),
        "ci_high": float(hi),
        "p_value": float(p),
        "n": int(n),
        "method": method,
    }
