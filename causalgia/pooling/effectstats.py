"""Sufficient statistics, model structure and convergence thresholds of the hierarchical
effect models: the numpy/pandas half of :mod:`causalgia.pooling.hierarchical` and
:mod:`causalgia.pooling.countmodel` (no PyMC or ArviZ here).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from .._options import check_option
from ..errors import EstimationError, OptionError

SeKind = Literal["auto", "iid", "cluster"]
DiagnosticsMode = Literal["warn", "raise", "ignore"]
SE_KINDS: tuple[str, ...] = ("auto", "iid", "cluster")
DIAGNOSTICS: tuple[str, ...] = ("warn", "raise", "ignore")
EFFECTS: tuple[str, ...] = ("normal", "student_t")
LIKELIHOODS: tuple[str, ...] = ("summary", "full")
PARAMETERIZATIONS: tuple[str, ...] = ("auto", "noncentred", "marginal")
CURVE_PRIORS: tuple[str, ...] = ("rw", "gp")
_ACE_COLUMNS = frozenset(
    {"method", "ace", "se", "ci_low", "ci_high", "n", "n_control", "p_value", "q_value",
     "true_ace", "mc_se", "status"}
)  # fmt: skip
_UNIT_COLUMNS = frozenset(
    {"experiment", "label", "background_id", "y_control", "y_do", "ice", "y", "unit_seed", "arm"}
)


@dataclass(frozen=True)
class Thresholds:
    """Convergence thresholds: a fit fails when any is crossed (Vehtari et al. 2021).

    Examples
    --------
    >>> THRESHOLDS.r_hat, THRESHOLDS.ess_bulk, THRESHOLDS.divergences
    (1.01, 400.0, 0)
    """

    r_hat: float = 1.01
    ess_bulk: float = 400.0
    ess_tail: float = 400.0
    divergences: int = 0


THRESHOLDS = Thresholds()


class ConvergenceWarning(UserWarning):
    """A hierarchical fit crossed a convergence threshold (``diagnostics="warn"``)."""


# -- sufficient statistics ---------------------------------------------------------------------


def _as_table(data: Any) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    table = getattr(data, "table", None)
    if not isinstance(table, pd.DataFrame):
        raise OptionError(
            "data must be an ICE table, an ACE table (ace, se), AceEstimates or a "
            f"SimulationResult, got {type(data).__name__}"
        )
    if getattr(data, "kind", "paired") == "randomized":
        raise OptionError(
            "a randomized outcome table has no per-background ICE; pool its ACE table "
            "(estimate_ace(result, method='welch')) instead"
        )
    return table


def _require(table: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise EstimationError(f"{what} lacks column(s) {missing}; it has {list(table.columns)}")


def _cell_name(keys: Sequence[str], row: Sequence[Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in zip(keys, row, strict=True))


def _cluster_se(sub: pd.DataFrame, cell_ids: np.ndarray, n: np.ndarray, mean: np.ndarray) -> Any:
    """CR1 cluster-robust SE of each cell mean, clustered by background_id (statsmodels' OLS
    ``cov_type="cluster"`` on an intercept: ``sqrt(G/(G-1) * sum_g (sum_i r_i)^2) / n``)."""
    resid = sub["ice"].to_numpy(dtype=float) - mean[cell_ids]
    frame = pd.DataFrame({"cell": cell_ids, "bg": sub["background_id"].to_numpy(), "r": resid})
    sums = frame.groupby(["cell", "bg"], sort=False)["r"].sum()
    cells = sums.index.get_level_values("cell").to_numpy()
    g = np.bincount(cells, minlength=len(n)).astype(float)
    ss = np.bincount(cells, weights=sums.to_numpy() ** 2, minlength=len(n))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt(g / (g - 1.0) * ss) / n, g


def effect_statistics(
    data: Any,
    *,
    by: Sequence[str] = ("experiment", "label"),
    within: Sequence[str] = (),
    se: SeKind = "auto",
) -> pd.DataFrame:
    """Per-cell sufficient statistics of an ICE table (or the rows of an ACE table).

    A *condition* is one value of ``by``; a *cell* is one value of ``by + within`` (e.g. one
    condition under one model replicate). For a paired ICE table the cell mean and its SE are
    exact sufficient statistics of the normal likelihood with a per-cell variance.

    Parameters
    ----------
    data : DataFrame, AceEstimates or SimulationResult
        A paired ICE table (``ice`` and ``background_id`` per unit) or an ACE table (``ace``
        and ``se`` per row: each row is then one cell).
    by : sequence of str
        Columns defining a condition.
    within : sequence of str
        Columns splitting a condition into cells (model replicate, background population).
    se : {"auto", "iid", "cluster"}
        ``iid``: sd/sqrt(n). ``cluster``: cluster-robust SE by ``background_id`` (for cells in
        which one background contributes several rows). ``auto`` clusters exactly when some
        background appears twice in a cell.

    Returns
    -------
    DataFrame
        ``by, within, <design parameters>, n, ace, se, se_kind`` in order of first appearance;
        design parameters carry the first value of the cell.

    Raises
    ------
    EstimationError
        A missing column, a cell with fewer than 2 units (or clusters), a non-finite ICE, or a
        zero SE (e.g. a placebo, whose ICE is exactly 0): the message names the cell.

    Examples
    --------
    >>> t = pd.DataFrame({"experiment": "e", "label": ["a"] * 3 + ["b"] * 3,
    ...                   "background_id": [0, 1, 2] * 2, "ice": [1.0, 2.0, 3.0, 0.0, 1.0, 2.0]})
    >>> effect_statistics(t)[["label", "n", "ace", "se"]].round(3)
      label  n  ace     se
    0     a  3  2.0  0.577
    1     b  3  1.0  0.577
    """
    check_option("se", se, SE_KINDS)
    table = _as_table(data)
    keys = [*by, *within]
    if not keys:
        raise OptionError("by and within cannot both be empty")
    if "ice" not in table.columns:
        return _ace_rows(table, keys)
    _require(table, [*keys, "ice", "background_id"], "the ICE table")
    ice = pd.to_numeric(table["ice"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    if not np.isfinite(ice).all():
        row = table.iloc[int(np.argmax(~np.isfinite(ice)))]
        raise EstimationError(
            f"non-finite ice in cell {_cell_name(keys, row[keys].tolist())}, background_id "
            f"{row['background_id']}"
        )
    grouped = table.groupby(keys, sort=False, dropna=False)
    cell_ids = grouped.ngroup().to_numpy()
    params = [c for c in table.columns if c not in _UNIT_COLUMNS and c not in keys]
    out = grouped[[*keys, *params]].first().reset_index(drop=True)
    stats = grouped["ice"].agg(["count", "mean", "std"])
    n, mean = stats["count"].to_numpy(), stats["mean"].to_numpy(dtype=float)
    iid_se = stats["std"].to_numpy(dtype=float) / np.sqrt(n)
    dup = table.assign(_cell=cell_ids).duplicated(["_cell", "background_id"])
    use_cluster = se == "cluster" or (se == "auto" and bool(dup.any()))
    units = n.astype(float)
    if use_cluster:
        cl_se, units = _cluster_se(table, cell_ids, n, mean)
    out["n"] = n
    out["ace"] = mean
    out["se"] = cl_se if use_cluster else iid_se
    out["se_kind"] = "cluster" if use_cluster else "iid"
    _check_cells(out, keys, units)
    return out


def _ace_rows(table: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    _require(table, [*keys, "ace", "se"], "an ACE table (no 'ice' column)")
    dup = table.duplicated(keys)
    if dup.any():
        row = table.loc[dup].iloc[0]
        raise EstimationError(
            f"the ACE table has more than one row for cell {_cell_name(keys, row[keys].tolist())}"
        )
    params = [c for c in table.columns if c not in _UNIT_COLUMNS | _ACE_COLUMNS and c not in keys]
    out = table[[*keys, *params]].reset_index(drop=True)
    out["n"] = table["n"].to_numpy() if "n" in table.columns else np.nan
    out["ace"] = pd.to_numeric(table["ace"], errors="coerce").to_numpy(dtype=float)
    out["se"] = pd.to_numeric(table["se"], errors="coerce").to_numpy(dtype=float)
    out["se_kind"] = "given"
    _check_cells(out, keys, np.full(len(out), np.inf))
    return out


def _check_cells(out: pd.DataFrame, keys: list[str], units: np.ndarray) -> None:
    problems = (
        ("fewer than 2 units (or background clusters)", units < 2),
        ("a non-finite ace or se", ~np.isfinite(out["ace"]) | ~np.isfinite(out["se"])),
        (
            "se = 0 (constant ICEs, e.g. a placebo); leave it out of the pooled family",
            out["se"].to_numpy() <= 0,
        ),
    )
    for what, bad in problems:
        if np.any(bad):
            i = int(np.argmax(bad))
            raise EstimationError(
                f"cell {_cell_name(keys, out.loc[i, keys].tolist())} has {what}; "
                "it cannot enter a hierarchical model"
            )


# -- structure -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Structure:
    cells: pd.DataFrame
    conditions: pd.DataFrame
    cell_condition: np.ndarray
    groups: tuple[tuple[str, list[str], np.ndarray], ...]
    within: tuple[tuple[str, list[str], np.ndarray], ...]
    curve: tuple[str, np.ndarray, np.ndarray] | None
    rows: tuple[np.ndarray, np.ndarray] | None  # (cell index, ice) for likelihood="full"
    settings: dict[str, Any]

    def periodic_basis(self) -> np.ndarray:
        """``(n_values, 2)``: cos and sin of 2πx/P at the curve values, each centred to mean 0
        (the level stays in mu; centring does not change amplitude or phase)."""
        _name, values, _index = self.curve  # type: ignore[misc]
        w = 2.0 * np.pi * values / self.settings["periodic"]
        basis = np.column_stack([np.cos(w), np.sin(w)])
        return basis - basis.mean(axis=0)


def _labels(frame: pd.DataFrame, columns: Sequence[str], what: str) -> list[str]:
    labels = [" / ".join(str(v) for v in row) for row in frame[list(columns)].itertuples(False)]
    if len(set(labels)) != len(labels):
        dup = pd.Series(labels)[pd.Series(labels).duplicated()].iloc[0]
        raise OptionError(f"two {what} print as {dup!r}; make their {list(columns)} distinct")
    return labels


def _factor(frame: pd.DataFrame, columns: Sequence[str]) -> tuple[list[str], np.ndarray]:
    keys = [" / ".join(str(v) for v in row) for row in frame[list(columns)].itertuples(False)]
    codes, levels = pd.factorize(pd.Series(keys), sort=False)
    return [str(v) for v in levels], codes.astype(np.int64)


def _as_columns(name: str | Sequence[str]) -> tuple[str, ...]:
    return (name,) if isinstance(name, str) else tuple(name)


def _curve(conditions: pd.DataFrame, column: str) -> tuple[str, np.ndarray, np.ndarray]:
    if column not in conditions.columns:
        raise OptionError(f"curve={column!r} is not a column of the table")
    x = pd.to_numeric(conditions[column], errors="coerce").to_numpy(dtype=float)
    if not np.isfinite(x).all():
        i = int(np.argmax(~np.isfinite(x)))
        raise OptionError(
            f"curve={column!r}: condition {conditions['condition'].iloc[i]!r} has no numeric "
            f"{column}; pool only conditions on the curve"
        )
    values, index = np.unique(x, return_inverse=True)
    if len(values) < 3:
        raise OptionError(f"curve={column!r} needs at least 3 distinct values, got {len(values)}")
    return column, values, index.astype(np.int64)


GP_C = 2.0  # HSGP boundary factor: L = c · half-range of the curve values


def lengthscale_bounds(values: np.ndarray) -> tuple[float, float]:
    """Central 95% range of the GP lengthscale prior for sorted curve values ``x``.

    Lower: ``min(2 · median gap, range / 4)`` (below it neighbouring conditions are hardly
    smoothed); upper: half the range (a lengthscale that long already makes the curve a gentle
    arc over the data; the amplitude prior handles flat curves).

    Examples
    --------
    >>> lengthscale_bounds(np.arange(50.0))
    (2.0, 24.5)
    """
    span = float(values[-1] - values[0])
    return min(2.0 * float(np.median(np.diff(values))), span / 4.0), span / 2.0


def hsgp_size(values: np.ndarray, lengthscale_low: float) -> tuple[int, float]:
    """Basis size ``m`` and boundary factor ``c`` of the Hilbert-space GP approximation.

    ``c = 2`` and Ruitort-Mayol et al.'s (2022) rule for a Matern 5/2 kernel,
    ``m = ceil(2.65 · c · S / ℓ_low)`` (S: half-range of the values; the same constants as
    ``pymc.gp.hsgp_approx.approx_hsgp_hyperparams``), capped at twice the number of values.
    PyMC's recommendation sizes ``c`` for the largest lengthscale of the prior (``c = 4.1``,
    ``m`` = 100 instead of 65 for 50 positions); on the 50-position benchmark both fit equally
    well (docs/hierarchical.md), so the smaller basis is used.

    Examples
    --------
    >>> hsgp_size(np.arange(50.0), 2.0)
    (65, 2.0)
    """
    half = float(values[-1] - values[0]) / 2.0
    m = int(np.ceil(2.65 * GP_C * half / lengthscale_low))
    return max(min(m, 2 * len(values)), 4), GP_C


def periodic_interval(cos: np.ndarray, sin: np.ndarray, prob: float) -> tuple[float, float] | None:
    """Interval of the amplitude ``sqrt(a² + b²)`` over the joint credible region of (a, b).

    The region is the ellipse of the draws' posterior covariance that holds a fraction
    ``prob`` of the draws (Mahalanobis distance to the posterior mean). The interval is the
    range of the amplitude inside it, so its lower end is exactly 0 when the region contains
    the origin (no credible periodicity) and its coverage is at least ``prob``. The marginal
    HDI of an amplitude never reaches 0 (its posterior, like a Rayleigh density, vanishes at
    0), so it cannot say "no periodicity". ``None`` when the draws are degenerate.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> periodic_interval(rng.normal(0, 1, 4000), rng.normal(0, 1, 4000), 0.95)[0]
    0.0
    >>> low, high = periodic_interval(rng.normal(3, .1, 4000), rng.normal(4, .1, 4000), .95)
    >>> bool(4.6 < low < 5 < high < 5.4)
    True
    """
    x = np.column_stack([np.ravel(cos), np.ravel(sin)])
    mean, cov = x.mean(axis=0), np.cov(x, rowvar=False)
    try:
        chol = np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        return None
    inv = np.linalg.inv(cov)
    d2 = np.einsum("ij,jk,ik->i", x - mean, inv, x - mean)
    q = float(np.quantile(d2, prob))
    phi = np.linspace(0.0, 2.0 * np.pi, 3601)
    edge = mean[:, None] + np.sqrt(q) * chol @ np.vstack([np.cos(phi), np.sin(phi)])
    radius = np.hypot(*edge)
    inside = float(mean @ inv @ mean) <= q
    return (0.0 if inside else float(radius.min())), float(radius.max())


def _curve_parameterization(conditions: pd.DataFrame, curve: tuple) -> str:
    """Centred random-walk steps when the data pin the curve down (step SD, estimated by the
    method of moments from adjacent raw means, exceeds the typical SE); non-centred otherwise."""
    _name, values, index = curve
    frame = pd.DataFrame({"k": index, "ace": conditions["ace"], "v": conditions["se"] ** 2})
    per = frame.groupby("k").agg(ace=("ace", "mean"), v=("v", "mean"), c=("ace", "size"))
    var = (per["v"] / per["c"]).to_numpy()
    step2 = np.mean(np.diff(per["ace"].to_numpy()) ** 2) - np.mean(var[1:] + var[:-1])
    return "centred" if step2 > np.median(var) else "noncentred"


def _structure(
    data: Any,
    *,
    by: Sequence[str],
    within: Sequence[str],
    groups: Sequence[str | Sequence[str]],
    curve: str | None,
    effects: str,
    nu: float,
    prior_scale: float | None,
    tau: float | None,
    likelihood: str,
    parameterization: str,
    se: SeKind,
    curve_prior: str = "rw",
    periodic: float | None = None,
) -> _Structure:
    check_option("effects", effects, EFFECTS)
    check_option("curve_prior", curve_prior, CURVE_PRIORS)
    check_option("likelihood", likelihood, LIKELIHOODS)
    check_option("parameterization", parameterization, PARAMETERIZATIONS)
    by, within = list(by), list(within)
    if "output" in _as_table(data).columns and "output" not in [*by, *within]:
        by.append("output")  # several model outputs: one condition per arm × output
    cells = effect_statistics(data, by=by, within=within, se=se)
    cond_names, cell_condition = _factor(cells, by)
    first = ~pd.Series(cell_condition).duplicated().to_numpy()
    conditions = cells.loc[first, [c for c in cells.columns if c not in within]].copy()
    conditions = conditions.drop(columns=["n", "ace", "se", "se_kind"]).reset_index(drop=True)
    conditions.insert(0, "condition", _labels(conditions, by, "conditions"))
    agg = pd.DataFrame({"j": cell_condition, "ace": cells["ace"], "se": cells["se"]})
    agg["n"] = cells["n"]
    per = agg.groupby("j", sort=True)
    k = per.size().to_numpy()
    conditions["n_cells"] = k
    conditions["n"] = per["n"].sum(min_count=1).to_numpy()
    conditions["ace"] = per["ace"].mean().to_numpy()
    between = per["ace"].std().to_numpy() / np.sqrt(k)
    conditions["se"] = np.where(k == 1, per["se"].first().to_numpy(), between)
    group_specs = []
    for g in groups:
        cols = _as_columns(g)
        _require(conditions, cols, "the table (groups)")
        levels, index = _factor(conditions, cols)
        group_specs.append((":".join(cols), levels, index))
    within_specs = []
    for w in within:
        levels, index = _factor(cells, [*by, w])
        within_specs.append((w, levels, index))
    curve_spec = None if curve is None else _curve(conditions, curve)
    names = [s[0] for s in group_specs] + within + ([curve] if curve else [])
    if len(set(names)) != len(names) or "condition" in names:
        raise OptionError(f"groups, within and curve must name distinct levels, got {names}")
    if curve_spec is None and (curve_prior != "rw" or periodic is not None):
        what = f"curve_prior={curve_prior!r}" if periodic is None else f"periodic={periodic!r}"
        raise OptionError(f"{what} needs curve= (the numeric column of the ordered conditions)")
    gp_bounds, gp_size = None, (None, None)
    if curve_spec is not None:
        gaps = np.diff(curve_spec[1])
        numeric = isinstance(periodic, int | float | np.number) and not isinstance(periodic, bool)
        if periodic is not None and not (
            numeric and np.isfinite(periodic) and periodic > 2 * gaps.min()
        ):
            raise OptionError(
                f"periodic={periodic!r} must be a period (in units of {curve!r}) longer than "
                f"twice the smallest gap between curve values ({gaps.min():g}): shorter "
                "periods alias"
            )
        if curve_prior == "gp":
            gp_bounds = lengthscale_bounds(curve_spec[1])
            gp_size = hsgp_size(curve_spec[1], gp_bounds[0])
    curve_parameterization, tau_given = None, tau is not None
    if curve_spec is not None:
        curve_parameterization = (
            _curve_parameterization(conditions, curve_spec) if curve_prior == "rw" else "noncentred"
        )
        if tau is None and len(curve_spec[1]) == len(conditions):
            tau = 0.0  # one condition per curve value: the curve is the condition effect
    marginal_ok = effects == "normal" and not within and likelihood == "summary" and tau is None
    if parameterization == "marginal" and not marginal_ok and (tau_given or tau is None):
        raise OptionError(
            "parameterization='marginal' needs effects='normal', likelihood='summary', no "
            "within levels and a free tau"
        )
    if parameterization in ("auto", "marginal"):
        parameterization = "marginal" if marginal_ok else "noncentred"
    rows = None
    if likelihood == "full":
        table = _as_table(data)
        if "ice" not in table.columns:
            raise OptionError("likelihood='full' needs the ICE table, not an ACE table")
        rows = (
            table.groupby([*by, *within], sort=False, dropna=False).ngroup().to_numpy(),
            table["ice"].to_numpy(dtype=float),
        )
    ace = cells["ace"].to_numpy()
    if prior_scale is None:
        rms = float(np.sqrt(np.mean(ace**2)))
        prior_scale = 2.5 * max(rms, float(np.median(cells["se"])))
    if not (np.isfinite(prior_scale) and prior_scale > 0):
        raise OptionError(f"prior_scale must be a positive number, got {prior_scale!r}")
    if tau is not None and not (np.isfinite(tau) and tau >= 0):
        raise OptionError(f"tau must be None or a non-negative number, got {tau!r}")
    if effects == "student_t" and not (np.isfinite(nu) and nu > 0):
        raise OptionError(f"nu must be a positive number, got {nu!r}")
    settings = {
        "by": by,
        "within": within,
        "groups": [s[0] for s in group_specs],
        "curve": curve,
        "effects": effects,
        "nu": float(nu),
        "prior_scale": float(prior_scale),
        "tau": None if tau is None else float(tau),
        "likelihood": likelihood,
        "parameterization": parameterization,
        "curve_parameterization": curve_parameterization,
        "curve_prior": curve_prior,
        "periodic": None if periodic is None else float(periodic),
        "gp_lengthscale_bounds": None if gp_bounds is None else list(gp_bounds),
        "gp_basis": gp_size[0],
        "gp_c": gp_size[1],
        "curve_scale": (
            None
            if gp_bounds is None
            else min(
                float(prior_scale),
                2.5 * max(float(np.std(conditions["ace"])), float(np.median(cells["se"]))),
            )
        ),
    }
    return _Structure(
        cells, conditions, cell_condition, tuple(group_specs), tuple(within_specs),
        curve_spec, rows, settings,
    )  # fmt: skip


# -- diagnostics ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Diagnostics:
    """Convergence diagnostics of a fit over every sampled and derived quantity.

    Examples
    --------
    >>> d = Diagnostics(1.02, 350.0, 500.0, 0, "tau")
    >>> d.passed, d.failures()[0]
    (False, 'max R-hat 1.02 > 1.01 (tau)')
    """

    max_r_hat: float
    min_ess_bulk: float
    min_ess_tail: float
    divergences: int
    worst: str
    thresholds: Thresholds = THRESHOLDS

    def failures(self) -> list[str]:
        """One message per crossed threshold (empty when the fit passes).

        Returns
        -------
        list of str
            E.g. ``"max R-hat 1.02 > 1.01 (tau)"``, in the order R-hat, bulk ESS, tail ESS,
            divergences.
        """
        t, out = self.thresholds, []
        if not self.max_r_hat <= t.r_hat:
            out.append(f"max R-hat {self.max_r_hat:.4g} > {t.r_hat} ({self.worst})")
        if not self.min_ess_bulk >= t.ess_bulk:
            out.append(f"min bulk ESS {self.min_ess_bulk:.0f} < {t.ess_bulk:.0f}")
        if not self.min_ess_tail >= t.ess_tail:
            out.append(f"min tail ESS {self.min_ess_tail:.0f} < {t.ess_tail:.0f}")
        if self.divergences > t.divergences:
            out.append(f"{self.divergences} divergent transitions > {t.divergences}")
        return out

    @property
    def passed(self) -> bool:
        """True when no threshold is crossed."""
        return not self.failures()


def check_diagnostics(diagnostics: Diagnostics, mode: DiagnosticsMode = "warn") -> None:
    """Warn (:class:`ConvergenceWarning`), raise (EstimationError) or ignore failed diagnostics.

    Examples
    --------
    >>> check_diagnostics(Diagnostics(1.0, 1000.0, 1000.0, 0, "mu"), "raise")
    """
    check_option("diagnostics", mode, DIAGNOSTICS)
    failures = diagnostics.failures()
    if not failures or mode == "ignore":
        return
    text = "hierarchical fit did not converge: " + "; ".join(failures)
    text += " (more tune/draws, or a higher target_accept)"
    if mode == "raise":
        raise EstimationError(text)
    warnings.warn(text, ConvergenceWarning, stacklevel=3)


# -- netCDF round trip of the condition table -----------------------------------------------------


def _encode_frame(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    out, kinds = pd.DataFrame(index=pd.RangeIndex(len(frame), name="row")), {}
    for col in frame.columns:
        s = frame[col]
        if pd.api.types.is_bool_dtype(s):
            out[col], kinds[col] = s.astype(np.int8).to_numpy(), "bool"
        elif pd.api.types.is_numeric_dtype(s):
            out[col], kinds[col] = s.to_numpy(), "num"
        else:
            values = np.array(["" if pd.isna(v) else str(v) for v in s], dtype=object)
            out[col], kinds[col] = values, "str"
    return out, kinds


def _decode_frame(frame: pd.DataFrame, kinds: dict[str, str]) -> pd.DataFrame:
    out = pd.DataFrame(index=range(len(frame)))
    for col, kind in kinds.items():
        s = frame[col]
        if kind == "bool":
            out[col] = s.astype(bool).to_numpy()
        elif kind == "num":
            out[col] = s.to_numpy()
        else:
            out[col] = pd.Series([None if v == "" else str(v) for v in s])
    return out


# -- count model: sufficient statistics per (family, copy number) -------------------------------


@dataclass(frozen=True)
class _CountStructure:
    cells: pd.DataFrame  # one row per arm: <by>, [label], count, n, ace, se, se_kind, family
    families: pd.DataFrame  # one row per family: family, <by>, counts
    family: np.ndarray  # family index of each cell
    k: np.ndarray  # integer copy number of each cell
    settings: dict[str, Any]


def count_statistics(
    data: Any,
    *,
    experiment: str | Sequence[str] | None = "count",
    count: str = "count",
    by: Sequence[str] = ("experiment", "motif"),
    se: SeKind = "auto",
    prior_scale: float | None = None,
) -> _CountStructure:
    """Per-arm sufficient statistics of a copy-number sweep, grouped into count curves.

    A *family* is one value of ``by`` (one count curve, e.g. one motif); each arm (``label``)
    is one observation ``(k, ace, se)`` of its family's curve (:func:`effect_statistics`).

    Raises
    ------
    EstimationError
        A missing column; a count that is not a positive integer (naming the row); a family
        with fewer than two distinct counts (naming the family and its counts).

    Examples
    --------
    >>> t = pd.DataFrame({"experiment": "count", "motif": "GATA", "label": ["x1", "x2"],
    ...                   "count": [1, 2], "ace": [1.0, 1.8], "se": [0.1, 0.1]})
    >>> count_statistics(t).cells[["label", "count", "ace", "family"]]
      label  count  ace  family
    0    x1      1  1.0       0
    1    x2      2  1.8       0
    """
    table = _as_table(data)
    if experiment is not None:
        _require(table, ["experiment"], "the table")
        wanted = [experiment] if isinstance(experiment, str) else list(experiment)
        absent = [e for e in wanted if not (table["experiment"] == e).any()]
        if absent:
            raise EstimationError(
                f"no rows with experiment {absent}; experiments are "
                f"{sorted(map(str, table['experiment'].unique()))}"
            )
        table = table[table["experiment"].isin(wanted)]
    by = list(by)
    _require(table, [*by, count], "the count table")
    k = pd.to_numeric(table[count], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = ~(np.isfinite(k) & (k >= 1) & (k == np.round(k)))
    if bad.any():
        i = int(np.argmax(bad))
        row = table.iloc[i]
        named = [f"{c}={row[c]!r}" for c in ("label", "background_id") if c in table.columns]
        raise EstimationError(
            f"column {count!r} must hold positive integer copy numbers; row "
            f"{', '.join(named) if named else i} has {count}={row[count]!r}"
        )
    keys = [*by, count] + (["label"] if "label" in table.columns and "label" not in by else [])
    cells = effect_statistics(table, by=keys, se=se)
    names, family = _factor(cells, by)
    cells["family"] = family
    ks = cells[count].to_numpy(dtype=float).astype(np.int64)
    rows = []
    for g, name in enumerate(names):
        counts = sorted(set(ks[family == g].tolist()))
        if len(counts) < 2:
            raise EstimationError(
                f"count curve {name!r} ({', '.join(by)}) has counts {counts}; separating "
                "additive from saturating needs at least two distinct copy numbers"
            )
        first = int(np.argmax(family == g))
        rows.append(
            {"family": name, **cells.loc[first, by].to_dict(), "counts": ",".join(map(str, counts))}
        )
    families = pd.DataFrame(rows)
    ace = cells["ace"].to_numpy()
    if prior_scale is None:
        per_copy = ace / ks
        prior_scale = 2.5 * max(float(np.sqrt(np.mean(per_copy**2))), float(np.median(cells["se"])))
    if not (np.isfinite(prior_scale) and prior_scale > 0):
        raise OptionError(f"prior_scale must be a positive number, got {prior_scale!r}")
    settings = {
        "experiment": experiment,
        "count": count,
        "by": by,
        "se": se,
        "prior_scale": float(prior_scale),
    }
    return _CountStructure(cells, families, family, ks, settings)
