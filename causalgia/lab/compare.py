"""Compare in-silico effects and scores with wet-lab measurements.

- :func:`read_measurements` reads a CSV/TSV table (construct id or sequence, value, optional
  replicate and design columns), validating every row.
- :func:`join` matches measurements with predictions and reports what did not match.
- :func:`concordance` gives Pearson and Spearman correlations with bootstrap intervals, sign
  agreement with an exact binomial interval, an errors-in-variables (Deming) slope with a bootstrap
  interval, and Bland-Altman bias and limits of agreement.
- :func:`lab_effects` estimates lab effects of an exported library (:mod:`causalgia.lab.export`) for
  the same contrasts with the same estimators as the in-silico ACEs.
- :func:`probe_contexts` folds probes (ViennaRNA) and classifies where a motif sits;
  :func:`compare_groups` contrasts two groups of measurements (Welch interval + Mann-Whitney).
- :func:`~causalgia.pooling.labcalibration.calibrate` (PyMC, imported inside the function) maps
  in-silico effects to lab effects: offset, slope and extra variance with credible intervals.

Statistics are delegated to :mod:`scipy.stats` and :mod:`causalgia.stats.estimators`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from .._options import check_int, check_option, check_probability
from .._rng import RngLike, generator, root_seed, unit_keys
from ..errors import CausalgiaError, EstimationError, OptionError
from ..pooling.labcalibration import Calibration as Calibration  # re-exported
from ..pooling.labcalibration import calibrate as calibrate  # re-exported
from ..sequences.io import open_text
from ..stats.estimators import AceEstimates, Method, estimate_ace, paired_t, welch

Key = Literal["construct_id", "sequence"]
Missing = Literal["error", "drop"]
BlandAltmanScale = Literal["calibrated", "standardized", "raw"]
_SEPARATORS = {".csv": ",", ".tsv": "\t", ".txt": "\t"}


class MeasurementError(CausalgiaError, ValueError):
    """A measurement table is malformed; the message names the file, line and column."""


@dataclass(frozen=True)
class Measurements:
    """Measured values, one row per (construct, replicate).

    ``table`` columns: the key (``construct_id`` or ``sequence``), ``value``, ``replicate`` (0
    when the file has none), then any design columns. ``source`` is the file read.

    Examples
    --------
    >>> m = Measurements(pd.DataFrame({"construct_id": ["a", "a"], "value": [1.0, 3.0],
    ...                                "replicate": [0, 1]}), "construct_id", "x.csv")
    >>> m.per_construct()[["construct_id", "value", "n_replicates"]].values.tolist()
    [['a', 2.0, 2]]
    """

    table: pd.DataFrame
    key: Key
    source: str

    def __len__(self) -> int:
        return len(self.table)

    def to_frame(self) -> pd.DataFrame:
        """A copy of the measurement table."""
        return self.table.copy()

    def per_construct(self) -> pd.DataFrame:
        """Replicates averaged: key, value (mean), value_sd, n_replicates, design columns."""
        extra = [c for c in self.table.columns if c not in (self.key, "value", "replicate")]
        grouped = self.table.groupby(self.key, sort=False)
        out = grouped["value"].agg(value="mean", value_sd="std", n_replicates="size")
        for col in extra:
            out[col] = grouped[col].first()
        return out.reset_index()

    def summary(self) -> str:
        """Rows, constructs and replicates."""
        n = self.table[self.key].nunique()
        return f"Measurements from {self.source}: {len(self)} rows, {n} constructs (key {self.key})"


def _separator(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    suffix = suffixes[-1] if suffixes else ""
    if suffix not in _SEPARATORS:
        raise OptionError(
            f"{path}: unknown table extension {suffix!r}; use .csv, .tsv or .txt (optionally .gz)"
        )
    return _SEPARATORS[suffix]


def read_measurements(
    path: str | Path,
    *,
    key: Key = "construct_id",
    value: str = "value",
    replicate: str | None = None,
    design: Sequence[str] = (),
    columns: Sequence[str] | None = None,
    rna: bool = True,
) -> Measurements:
    """Read a measurement table (CSV ``.csv`` or tab-separated ``.tsv``/``.txt``, optionally gzip).

    Parameters
    ----------
    path : str or Path
        The table; gzip is recognised by its content.
    key : {"construct_id", "sequence"}
        The column identifying constructs. Sequences are upper-cased and, when ``rna``, T is
        written as U (so DNA-alphabet probe files match RNA designs).
    value : str
        Column holding the measured value (must be numeric and finite in every row).
    replicate : str or None
        Optional replicate column.
    design : sequence of str
        Extra columns to keep (e.g. arm, background_id).
    columns : sequence of str or None
        Column names of a file without a header line (e.g. ``["value", "sequence"]``).
    rna : bool
        Write sequences in the RNA alphabet.

    Raises
    ------
    MeasurementError
        A missing column, an empty key, or a non-numeric / non-finite value; the message names
        the file, the line number and the offending text.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "probes.txt"
    >>> _ = p.write_text("1.5\\tACGT\\n-0.2\\tGGTT\\n")
    >>> m = read_measurements(p, key="sequence", columns=["value", "sequence"])
    >>> m.table["sequence"].tolist()
    ['ACGU', 'GGUU']
    """
    check_option("key", key, ("construct_id", "sequence"))
    path = Path(path)
    sep = _separator(path)
    header_lines = 0 if columns is not None else 1
    try:
        with open_text(path) as fh:
            table = pd.read_csv(
                fh,
                sep=sep,
                header=None if columns is not None else "infer",
                names=list(columns) if columns is not None else None,
                dtype=str,
                keep_default_na=False,
            )
    except (pd.errors.EmptyDataError, pd.errors.ParserError) as exc:
        raise MeasurementError(f"{path}: cannot read table: {exc}") from exc
    wanted = [key, value, *([replicate] if replicate else []), *design]
    missing = [c for c in wanted if c not in table.columns]
    if missing:
        raise MeasurementError(
            f"{path}: missing column(s) {missing}; the table has {list(table.columns)}"
        )
    values = pd.to_numeric(table[value], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.argmax(bad))
        raise MeasurementError(
            f"{path}: line {row + 1 + header_lines}: {value} = {table[value].iloc[row]!r} is not "
            "a finite number"
        )
    keys = table[key].astype(str).str.strip()
    empty = (keys == "").to_numpy()
    if empty.any():
        row = int(np.argmax(empty))
        raise MeasurementError(f"{path}: line {row + 1 + header_lines}: empty {key}")
    if key == "sequence":
        keys = keys.str.upper()
        if rna:
            keys = keys.str.replace("T", "U")
    out = pd.DataFrame({key: keys.to_numpy(), "value": values})
    out["replicate"] = table[replicate].to_numpy() if replicate else 0
    for col in design:
        out[col] = table[col].to_numpy()
    return Measurements(out, key, str(path))


@dataclass(frozen=True)
class Joined:
    """Measurements matched with predictions by key.

    ``table`` columns: key, ``measured`` (replicate mean), ``measured_sd``, ``n_replicates``,
    ``predicted``. ``unmatched_measured`` / ``unmatched_predicted`` list the keys found on only
    one side.
    """

    table: pd.DataFrame
    key: str
    unmatched_measured: tuple[str, ...]
    unmatched_predicted: tuple[str, ...]

    def to_frame(self) -> pd.DataFrame:
        """A copy of the matched table."""
        return self.table.copy()

    def summary(self) -> str:
        """Matched and unmatched counts, with the first unmatched keys."""
        lines = [f"Joined on {self.key}: {len(self.table)} matched"]
        for side, keys in (
            ("measured", self.unmatched_measured),
            ("predicted", self.unmatched_predicted),
        ):
            if keys:
                lines.append(f"  {len(keys)} {side} only, e.g. {list(keys[:3])}")
        return "\n".join(lines)


def join(
    measured: Measurements,
    predicted: pd.DataFrame,
    *,
    predicted_value: str = "predicted",
) -> Joined:
    """Match per-construct measurement means with predictions on the measurements' key.

    ``predicted`` must have the key column (``construct_id`` or ``sequence``) and
    ``predicted_value``; duplicated keys in it raise. Unmatched keys are reported, not dropped
    silently.

    Examples
    --------
    >>> m = Measurements(pd.DataFrame({"construct_id": ["a", "b"], "value": [1.0, 2.0],
    ...                                "replicate": 0}), "construct_id", "-")
    >>> j = join(m, pd.DataFrame({"construct_id": ["a", "c"], "predicted": [0.5, 0.1]}))
    >>> len(j.table), j.unmatched_measured, j.unmatched_predicted
    (1, ('b',), ('c',))
    """
    key = measured.key
    for col in (key, predicted_value):
        if col not in predicted.columns:
            raise OptionError(
                f"predictions lack column {col!r}; they have {list(predicted.columns)}"
            )
    pred = predicted[[key, predicted_value]].rename(columns={predicted_value: "predicted"})
    dup = pred[key].duplicated()
    if dup.any():
        raise OptionError(f"predictions hold {key} {pred[key][dup].iloc[0]!r} more than once")
    meas = measured.per_construct().rename(columns={"value": "measured", "value_sd": "measured_sd"})
    merged = meas.merge(pred, on=key, how="outer", indicator=True)
    both = merged[merged["_merge"] == "both"].drop(columns="_merge").reset_index(drop=True)
    left = tuple(merged.loc[merged["_merge"] == "left_only", key].astype(str))
    right = tuple(merged.loc[merged["_merge"] == "right_only", key].astype(str))
    return Joined(both, key, left, right)


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
        """A copy of the statistics table."""
        return self.table.copy()

    def __getitem__(self, statistic: str) -> float:
        row = self.table[self.table["statistic"] == statistic]
        if row.empty:
            raise KeyError(statistic)
        return float(row["estimate"].iloc[0])

    def summary(self) -> str:
        """One line per statistic."""
        lines = [
            f"Concordance ({self.ci:.0%} intervals; Bland-Altman on {self.bland_altman_scale})"
        ]
        for r in self.table.itertuples(index=False):
            p = "" if np.isnan(r.p_value) else f"  p={r.p_value:.3g}"
            lines.append(
                f"  {r.statistic:>18}: {r.estimate:+.4f} [{r.ci_low:+.4f}, {r.ci_high:+.4f}]{p}"
            )
        return "\n".join(lines)


def deming_fit(
    x: np.ndarray, y: np.ndarray, error_ratio: float | None = None
) -> tuple[float, float]:
    """Deming (errors-in-variables) regression of y on x: (slope, intercept).

    ``error_ratio`` is var(error in y) / var(error in x); None uses var(y)/var(x), which gives
    the standardised major axis slope ``sign(r)·sd(y)/sd(x)``.

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


@dataclass(frozen=True)
class LabEffects:
    """Lab effects of an exported library, estimated like the in-silico ACEs.

    ``ace`` is the :class:`~causalgia.stats.estimators.AceEstimates` of the lab table; ``table`` the
    paired (``y_control, y_do, ice``) or randomized (``y``) lab table; ``unmeasured`` the
    construct ids left out (no measurement, or — paired libraries — no measured control for its
    background; only with ``missing="drop"``); ``unknown`` the measured ids not in the library.
    """

    ace: AceEstimates
    table: pd.DataFrame
    unmeasured: tuple[str, ...]
    unknown: tuple[str, ...] = field(default=())

    def to_frame(self) -> pd.DataFrame:
        """The effect table."""
        return self.ace.to_frame()

    def summary(self) -> str:
        """The effects plus what could not be matched."""
        lines = [self.ace.summary()]
        if self.unmeasured:
            lines.append(f"  {len(self.unmeasured)} library constructs had no measurement")
        if self.unknown:
            lines.append(f"  {len(self.unknown)} measured ids are not in the library")
        return "\n".join(lines)


def lab_effects(
    measured: Measurements,
    library: pd.DataFrame | str | Path,
    *,
    method: Method | None = None,
    ci: float = 0.95,
    missing: Missing = "error",
    rng: RngLike = None,
) -> LabEffects:
    """Estimate lab effects of an exported library for the same contrasts as in silico.

    ``library`` is the table written by :func:`causalgia.lab.export.export_library` (or its CSV).
    Replicates are averaged per construct. A paired library (every background measured as control
    and under each arm) gives a paired ICE table estimated with ``method`` (default
    ``"paired_t"``); a randomized library gives an outcome table (default ``"welch"``).

    Examples
    --------
    >>> lib = pd.DataFrame({"construct_id": ["c0", "c1", "c2", "c3", "c4", "c5"],
    ...     "experiment": ["control"] * 3 + ["e"] * 3, "label": ["control"] * 3 + ["a"] * 3,
    ...     "background_id": [0, 1, 2] * 2, "arm": ["control"] * 3 + ["do"] * 3})
    >>> m = Measurements(pd.DataFrame({"construct_id": lib["construct_id"],
    ...     "value": [0.0, 1.0, 2.0, 1.0, 3.0, 3.0], "replicate": 0}), "construct_id", "-")
    >>> float(lab_effects(m, lib).to_frame()["ace"].iloc[0])
    1.3333333333333333
    """
    check_option("missing", missing, ("error", "drop"))
    if measured.key != "construct_id":
        raise OptionError("lab_effects needs measurements keyed by construct_id")
    lib = pd.read_csv(library) if isinstance(library, str | Path) else library.copy()
    need = ["construct_id", "experiment", "label", "background_id", "arm"]
    absent = [c for c in need if c not in lib.columns]
    if absent:
        raise OptionError(f"the library table lacks column(s) {absent}")
    lib["construct_id"] = lib["construct_id"].astype(str)
    per = measured.per_construct()[["construct_id", "value"]]
    merged = lib.merge(per, on="construct_id", how="left")
    no_value = merged["value"].isna().to_numpy()
    unmeasured = tuple(merged.loc[no_value, "construct_id"])
    unknown = tuple(sorted(set(per["construct_id"]) - set(lib["construct_id"])))
    if unmeasured and missing == "error":
        raise EstimationError(
            f"{len(unmeasured)} library construct(s) have no measurement, e.g. "
            f"{list(unmeasured[:3])}; pass missing='drop' to estimate from the rest"
        )
    params = [c for c in lib.columns if c not in (*need, "unit_seed", "design_seed", "sequence")]
    paired = _is_paired(lib[lib["arm"] == "control"], lib[lib["arm"] == "do"])
    merged = merged[~no_value]
    controls = merged[merged["arm"] == "control"]
    does = merged[merged["arm"] == "do"]
    if paired:
        has_control = does["background_id"].isin(controls["background_id"]).to_numpy()
        unmeasured += tuple(does.loc[~has_control, "construct_id"])  # control missing
        does = does[has_control]
        y0 = controls.set_index("background_id")["value"]
        table = does[["experiment", "label", *params, "background_id"]].copy()
        table["y_control"] = y0.loc[does["background_id"]].to_numpy()
        table["y_do"] = does["value"].to_numpy()
        table["ice"] = table["y_do"] - table["y_control"]
        method = method or "paired_t"
    else:
        table = merged[["experiment", "label", *params, "background_id"]].copy()
        table["y"] = merged["value"].to_numpy()
        method = method or "welch"
    table = table.reset_index(drop=True)
    ace = estimate_ace(table, method=method, ci=ci, rng=rng)
    return LabEffects(ace, table, unmeasured, unknown)


def _is_paired(controls: pd.DataFrame, does: pd.DataFrame) -> bool:
    """A paired library has one control per background and a control for every do construct's
    background; a randomized library has each background once."""
    if not len(does) or controls["background_id"].duplicated().any():
        return False
    return bool(does["background_id"].isin(controls["background_id"]).all())


def ice_contrast(
    table: pd.DataFrame,
    weights: Mapping[str, float],
    *,
    experiment: str | None = None,
    ci: float = 0.95,
    name: str | None = None,
) -> pd.DataFrame:
    """A paired contrast of arms, sum_a w_a·ICE_a(x) per background, with a paired t interval.

    Every background carries all the named arms (a paired ICE table), so the contrast is
    estimated on one value per background (:func:`causalgia.stats.estimators.paired_t`). Use it for
    additivity (``{"x2": 1, "x1": -2}``: ACE(2) - 2·ACE(1)) or context (``{"loop": 1,
    "unstructured": -1}``) tests.

    Examples
    --------
    >>> t = pd.DataFrame({"experiment": "e", "label": ["a"] * 3 + ["b"] * 3,
    ...                   "background_id": [0, 1, 2] * 2, "ice": [2.0, 3.0, 4.0, 1.0, 1.0, 2.0]})
    >>> ice_contrast(t, {"a": 1, "b": -1})[["contrast", "estimate", "n"]].values.tolist()
    [['a - b', 1.6666666666666667, 3]]
    """
    for col in ("label", "background_id", "ice"):
        if col not in table.columns:
            raise OptionError(f"ice_contrast needs a paired ICE table with column {col!r}")
    sub = table if experiment is None else table[table["experiment"] == experiment]
    wide = sub[sub["label"].isin(list(weights))].pivot_table(
        index="background_id", columns="label", values="ice", aggfunc="first"
    )
    missing = [lab for lab in weights if lab not in wide.columns]
    if missing:
        raise OptionError(f"labels {missing} are not in the ICE table")
    if wide.isna().any().any():
        raise EstimationError("some backgrounds lack one of the contrasted arms (not paired)")
    values = sum(float(w) * wide[lab].to_numpy(dtype=float) for lab, w in weights.items())
    est = paired_t(np.asarray(values), ci)
    terms = [
        f"{'- ' if w < 0 else '+ '}{'' if abs(w) == 1 else f'{abs(w):g}*'}{lab}"
        for lab, w in weights.items()
    ]
    label = name or " ".join(terms).removeprefix("+ ")
    return pd.DataFrame(
        [
            {
                "contrast": label,
                "estimate": est["ace"],
                "se": est["se"],
                "ci_low": est["ci_low"],
                "ci_high": est["ci_high"],
                "n": est["n"],
                "p_value": est["p_value"],
            }
        ]
    )


def probe_contexts(
    sequences: Sequence[str],
    motif: str,
    *,
    exactly_one: bool = True,
) -> pd.DataFrame:
    """Fold probes with ViennaRNA and classify where ``motif`` sits in each MFE structure.

    Only probes holding the motif (exactly once when ``exactly_one``) are folded. Returns
    ``index`` (position in ``sequences``), ``sequence``, ``motif_start``, ``structure``, ``mfe``
    and ``context`` (see :func:`causalgia.experiment.hairpin.motif_context`).

    Examples
    --------
    >>> probe_contexts(["GGGCGCUGGAAGCGCCC", "AAAA"], "GCUGG")["context"].tolist()  # doctest: +SKIP
    ['hairpin_loop']
    """
    from ..experiment.hairpin import fold, motif_context

    mot = motif.upper().replace("T", "U")
    keep, starts = [], []
    for i, s in enumerate(sequences):
        s = s.upper().replace("T", "U")
        first = s.find(mot)
        if first < 0:
            continue
        if exactly_one and s.find(mot, first + 1) >= 0:
            continue
        keep.append(i)
        starts.append(first)
    seqs = [sequences[i].upper().replace("T", "U") for i in keep]
    structures, mfe = fold(seqs)
    contexts = [motif_context(st, a, len(mot)) for st, a in zip(structures, starts, strict=True)]
    return pd.DataFrame(
        {
            "index": keep,
            "sequence": seqs,
            "motif_start": starts,
            "structure": structures,
            "mfe": mfe,
            "context": contexts,
        }
    )


def compare_groups(
    values: np.ndarray,
    groups: Sequence[str],
    *,
    a: str,
    b: str,
    ci: float = 0.95,
) -> pd.DataFrame:
    """Difference in mean ``values`` between groups ``a`` and ``b`` (a - b), with a Welch
    interval (:func:`causalgia.stats.estimators.welch`) and a two-sided Mann-Whitney p-value.

    Examples
    --------
    >>> r = compare_groups(np.array([3.0, 4.0, 5.0, 0.0, 1.0, 2.0]), list("aaabbb"), a="a", b="b")
    >>> float(r["difference"].iloc[0]), int(r["n_a"].iloc[0])
    (3.0, 3)
    """
    v = np.asarray(values, dtype=float)
    g = np.asarray(groups)
    va, vb = v[g == a], v[g == b]
    if va.size < 2 or vb.size < 2:
        raise EstimationError(f"groups {a!r} ({va.size}) and {b!r} ({vb.size}) need 2+ values each")
    w = welch(va, vb, ci)
    mw = stats.mannwhitneyu(va, vb, alternative="two-sided")
    return pd.DataFrame(
        [
            {
                "a": a,
                "b": b,
                "n_a": va.size,
                "n_b": vb.size,
                "mean_a": float(va.mean()),
                "mean_b": float(vb.mean()),
                "difference": w["ace"],
                "ci_low": w["ci_low"],
                "ci_high": w["ci_high"],
                "p_welch": w["p_value"],
                "p_mannwhitney": float(mw.pvalue),
            }
        ]
    )
