"""Partially pooled (hierarchical) effect-size models with PyMC, with surfaced diagnostics.

GIA produces families of related effects (a motif at 50 positions, 16 spacings, 16,384 k-mers,
several model replicates). :func:`fit_hierarchical` pools them in one vectorised model and
returns posterior means, highest-density intervals and tail probabilities per condition.

Model (``likelihood="summary"``, the default). For cell c of condition j(c) with observed mean
ICE ``ace_c`` and standard error ``se_c`` (the exact per-cell sufficient statistics of the ICE
table; cluster-robust when units share backgrounds)::

    ace_c   ~ Normal(m_c, se_c)
    m_c     = theta_j(c) + sum_w sd_w * z_w[j(c), w_c]           (``within`` levels, e.g. replicate)
    theta_j = mu + sum_g sd_g * z_g[g_j] + curve[x_j] + tau * z_j   (non-centred)
    z_j     ~ Normal(0, 1)   or  StudentT(nu, 0, 1)   (``effects``)
    curve   = centred Gaussian random walk over the sorted values of ``curve`` (steps scaled by
              sqrt(gap / median gap)), step SD ``curve_sd``
    mu ~ Normal(0, s);  tau, sd_g, sd_w, curve_sd ~ HalfNormal(s)   (s = ``prior_scale``)

``likelihood="full"`` uses every ICE row with a per-cell residual SD instead (for checking).
``parameterization="marginal"`` integrates ``tau * z_j`` out analytically (normal effects, one
cell per condition), samples the few remaining parameters with NUTS and then draws each theta_j
exactly from its conditional normal: the same posterior, fast enough for a 7-mer screen.

PyMC and ArviZ are imported here only, and only when a model is built, sampled or loaded:
``import causalgia`` stays light.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from ._options import check_int, check_option, check_probability
from ._rng import generator, root_seed, unit_keys
from .errors import EstimationError, OptionError

if TYPE_CHECKING:
    import arviz as az
    import pymc as pm

Effects = Literal["normal", "student_t"]
Likelihood = Literal["summary", "full"]
Parameterization = Literal["auto", "noncentred", "marginal"]
Sampler = Literal["pymc", "nutpie"]
DiagnosticsMode = Literal["warn", "raise", "ignore"]
SeKind = Literal["auto", "iid", "cluster"]

EFFECTS: tuple[str, ...] = ("normal", "student_t")
LIKELIHOODS: tuple[str, ...] = ("summary", "full")
PARAMETERIZATIONS: tuple[str, ...] = ("auto", "noncentred", "marginal")
SAMPLERS: tuple[str, ...] = ("pymc", "nutpie")
DIAGNOSTICS: tuple[str, ...] = ("warn", "raise", "ignore")
SE_KINDS: tuple[str, ...] = ("auto", "iid", "cluster")
HDI_PROB = 0.95
DENSE_LIMIT = 500  # marginal + curve/groups integrates them out up to this many conditions
_ACE_COLUMNS = frozenset(
    "method ace se ci_low ci_high n n_control p_value q_value true_ace mc_se".split()
)
_UNIT_COLUMNS = frozenset(
    "experiment label background_id y_control y_do ice y unit_seed arm".split()
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
) -> _Structure:
    check_option("effects", effects, EFFECTS)
    check_option("likelihood", likelihood, LIKELIHOODS)
    check_option("parameterization", parameterization, PARAMETERIZATIONS)
    by, within = list(by), list(within)
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
    marginal_ok = effects == "normal" and not within and likelihood == "summary" and tau is None
    if parameterization == "marginal" and not marginal_ok:
        raise OptionError(
            "parameterization='marginal' needs effects='normal', likelihood='summary', no "
            "within levels and a free tau"
        )
    if parameterization == "auto":
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
    }
    return _Structure(
        cells, conditions, cell_condition, tuple(group_specs), tuple(within_specs),
        curve_spec, rows, settings,
    )  # fmt: skip


# -- the PyMC model ------------------------------------------------------------------------------


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence ArviZ's refactor FutureWarning and PyMC's INFO chatter."""
    logger = logging.getLogger("pymc")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning, module="arviz")
            warnings.filterwarnings("ignore", message=".*group is not defined in the Inference")
            warnings.filterwarnings("ignore", message=".*could not link to a BLAS")
            yield
    finally:
        logger.setLevel(level)


def _pymc() -> Any:
    with _quiet():
        import arviz  # noqa: F401
        import pymc

    return pymc


def _az() -> Any:
    with _quiet():
        import arviz

    return arviz


def _eta(pm: Any, s: _Structure, scale: float) -> Any:
    """Everything in theta_j except the condition's own deviation: mu + groups + curve."""
    eta = pm.Normal("mu", 0.0, scale)
    for name, _levels, index in s.groups:
        sd = pm.HalfNormal(f"sd_{name}", scale)
        z = pm.Normal(f"z_{name}", 0.0, 1.0, dims=name)
        eta = eta + sd * z[index]
    if s.curve is not None:
        name, values, index = s.curve
        gaps = np.diff(values)
        step_scale = np.sqrt(gaps / np.median(gaps))
        sd = pm.HalfNormal("curve_sd", scale)
        steps = pm.Normal("curve_steps", 0.0, 1.0, dims=f"{name}_step")
        import pytensor.tensor as pt

        walk = pt.concatenate([pt.zeros(1), pt.cumsum(sd * step_scale * steps)])
        curve = pm.Deterministic("curve", walk - walk.mean(), dims=name)
        eta = eta + curve[index]
    return eta


def _model(s: _Structure) -> pm.Model:
    pm = _pymc()
    st = s.settings
    scale = st["prior_scale"]
    coords: dict[str, Any] = {
        "condition": s.conditions["condition"].tolist(),
        "cell": _labels(s.cells, [*st["by"], *st["within"]], "cells"),
    }
    coords.update({name: levels for name, levels, _ in s.groups})
    coords.update({f"condition:{name}": levels for name, levels, _ in s.within})
    if s.curve is not None:
        name, values, _ = s.curve
        coords[name] = values.tolist()
        coords[f"{name}_step"] = values[1:].tolist()
    with pm.Model(coords=coords) as model:
        ace = pm.Data("ace_obs", s.cells["ace"].to_numpy(dtype=float), dims="cell")
        se = pm.Data("se_obs", s.cells["se"].to_numpy(dtype=float), dims="cell")
        if _dense(s):
            _dense_likelihood(pm, s, scale, ace, se)
            return model
        eta = _eta(pm, s, scale)
        tau = pm.HalfNormal("tau", scale) if st["tau"] is None else st["tau"]
        if st["parameterization"] == "marginal":
            eta_c = eta[s.cell_condition] if np.ndim(eta) else eta
            sigma = pm.math.sqrt(tau**2 + se**2)
            pm.Normal("likelihood", eta_c, sigma, observed=ace, dims="cell")
            return model
        if st["effects"] == "student_t":
            z = pm.StudentT("z", nu=st["nu"], mu=0.0, sigma=1.0, dims="condition")
        else:
            z = pm.Normal("z", 0.0, 1.0, dims="condition")
        theta = pm.Deterministic("theta", eta + tau * z, dims="condition")
        m = theta[s.cell_condition]
        for name, _levels, index in s.within:
            sd = pm.HalfNormal(f"sd_{name}", scale)
            zw = pm.Normal(f"z_{name}", 0.0, 1.0, dims=f"condition:{name}")
            m = m + sd * zw[index]
        if s.rows is None:
            pm.Normal("likelihood", m, se, observed=ace, dims="cell")
        else:
            cell, ice = s.rows
            resid = pm.HalfNormal("sigma", 2.5 * float(np.std(ice)) + 1e-12, dims="cell")
            pm.Normal("likelihood", m[cell], resid[cell], observed=ice)
    return model


def _dense(s: _Structure) -> bool:
    """Marginal parameterization with a curve or groups: integrate every Gaussian effect."""
    st = s.settings
    has_structure = bool(s.groups) or s.curve is not None
    return st["parameterization"] == "marginal" and has_structure and len(s.cells) <= DENSE_LIMIT


def _curve_matrix(s: _Structure) -> np.ndarray:
    """W (K x K-1): the centred random walk at the K curve values is W @ (curve_sd * steps)."""
    assert s.curve is not None
    values = s.curve[1]
    gaps = np.diff(values)
    w = np.tril(np.ones((len(values), len(values) - 1)), -1) * np.sqrt(gaps / np.median(gaps))
    return w - w.mean(axis=0)


def _effects_matrix(s: _Structure) -> tuple[np.ndarray, list[tuple[str, slice]]]:
    """B (J x U) mapping latent effects (group levels, curve steps, condition deviations) to
    conditions, with the name and column slice of each block."""
    blocks, names, start = [], [], 0
    for name, levels, index in s.groups:
        blocks.append(np.eye(len(levels))[index])
        names.append((f"sd_{name}", slice(start, start + len(levels))))
        start += len(levels)
    if s.curve is not None:
        w = _curve_matrix(s)
        blocks.append(w[s.curve[2]])
        names.append(("curve_sd", slice(start, start + w.shape[1])))
        start += w.shape[1]
    blocks.append(np.eye(len(s.conditions)))
    names.append(("tau", slice(start, start + len(s.conditions))))
    return np.hstack(blocks), names


def _dense_likelihood(pm: Any, s: _Structure, scale: float, ace: Any, se: Any) -> None:
    """ace ~ MVN(mu, sum_b sd_b^2 B_b B_b' + diag(tau^2 + se^2)): groups, curve and condition
    deviations integrated out exactly; NUTS sees only mu and the SDs."""
    import pytensor.tensor as pt

    mu = pm.Normal("mu", 0.0, scale)
    b, blocks = _effects_matrix(s)
    cov = pt.diag(se**2)
    for name, cols in blocks:
        sd = pm.HalfNormal(name, scale)
        cov = cov + sd**2 * (b[:, cols] @ b[:, cols].T)
    pm.MvNormal("likelihood", mu=mu * pt.ones(len(s.cells)), cov=cov, observed=ace, dims="cell")


def _dense_draws(idata: Any, s: _Structure, seed: int, y: np.ndarray | None) -> None:
    """Exact draws of the integrated effects given each draw of (mu, SDs), by pathwise
    conditioning (Matheron's rule): u = u0 + D B' S^-1 (y - mu - B u0 - e0), S = B D B' + E."""
    import xarray as xr

    post = idata.posterior
    b, blocks = _effects_matrix(s)
    y = s.cells["ace"].to_numpy() if y is None else y
    se2 = s.cells["se"].to_numpy() ** 2
    shape = post["mu"].shape
    mu = post["mu"].to_numpy().reshape(-1)
    var = np.zeros((mu.size, b.shape[1]))
    for name, cols in blocks:
        var[:, cols] = post[name].to_numpy().reshape(-1, 1) ** 2
    gen = generator(unit_keys(seed, [0], "hierarchical", "theta")[0])
    u = np.empty_like(var)
    for lo in range(0, mu.size, 256):
        d = var[lo : lo + 256]
        u0 = np.sqrt(d) * gen.standard_normal(d.shape)
        e0 = np.sqrt(se2) * gen.standard_normal((len(d), len(se2)))
        cov = np.einsum("ju,nu,ku->njk", b, d, b) + np.diag(se2)
        resid = y - mu[lo : lo + 256, None] - u0 @ b.T - e0
        u[lo : lo + 256] = u0 + d * (np.linalg.solve(cov, resid[..., None])[..., 0] @ b)
    theta = mu[:, None] + u @ b.T
    dims = ("chain", "draw")
    coords = {"chain": post["chain"], "draw": post["draw"]}
    post["theta"] = xr.DataArray(
        theta.reshape(*shape, -1), dims=(*dims, "condition"),
        coords={**coords, "condition": s.conditions["condition"].tolist()},
    )  # fmt: skip
    if s.curve is not None:
        name, values, _ = s.curve
        cols = dict(blocks)["curve_sd"]
        curve = u[:, cols] @ _curve_matrix(s).T
        post["curve"] = xr.DataArray(
            curve.reshape(*shape, -1), dims=(*dims, name), coords={**coords, name: values}
        )


def build_effect_model(
    data: Any,
    *,
    by: Sequence[str] = ("experiment", "label"),
    within: Sequence[str] = (),
    groups: Sequence[str | Sequence[str]] = (),
    curve: str | None = None,
    effects: Effects = "normal",
    nu: float = 4.0,
    prior_scale: float | None = None,
    tau: float | None = None,
    likelihood: Likelihood = "summary",
    parameterization: Parameterization = "auto",
    se: SeKind = "auto",
) -> pm.Model:
    """Build (never sample) the hierarchical effect model of an ICE or ACE table.

    Parameters
    ----------
    data : DataFrame, AceEstimates or SimulationResult
        A paired ICE table or an ACE table with ``ace`` and ``se`` (see
        :func:`effect_statistics`).
    by : sequence of str
        Columns defining a condition (one pooled effect theta_j each).
    within : sequence of str
        Cell levels below a condition, each with its own SD: e.g. ``("replicate",)`` separates
        model-to-model variation from Monte-Carlo error.
    groups : sequence of str or tuple of str
        Crossed condition-level groupings, each with its own SD (``"motif"``, ``"task"``); a
        tuple nests columns (``("experiment", "motif")`` = motif within experiment).
    curve : str, optional
        A numeric column of ordered conditions (``"position"``, ``"spacing"``) with a smooth
        random-walk curve prior.
    effects : {"normal", "student_t"}
        Distribution of the condition deviations z_j (Student-t with ``nu`` degrees of freedom
        for families with a few outlying conditions).
    nu : float
        Degrees of freedom of the Student-t deviations.
    prior_scale : float, optional
        Scale ``s`` of every prior; default ``2.5 * max(RMS(ace), median(se))``.
    tau : float, optional
        Fix the between-condition SD instead of learning it (conjugate checks, sensitivity).
    likelihood : {"summary", "full"}
        Per-cell mean and SE (default), or every ICE row with a per-cell residual SD.
    parameterization : {"auto", "noncentred", "marginal"}
        See the module docstring. ``auto`` integrates the condition deviations out whenever
        that is exact (normal effects, summary likelihood, no ``within``, free ``tau``): the
        posterior is the same and NUTS meets no tau-funnel; otherwise ``noncentred``.
    se : {"auto", "iid", "cluster"}
        How the per-cell SE is computed from an ICE table.

    Returns
    -------
    pymc.Model
        Data containers ``ace_obs`` and ``se_obs`` (dim ``cell``) can be replaced with
        ``pm.set_data`` to refit the same compiled structure.

    Examples
    --------
    >>> t = pd.DataFrame({"experiment": "e", "label": ["a", "b", "c"], "ace": [0.1, 0.3, 0.2],
    ...                   "se": [0.1, 0.1, 0.1]})
    >>> model = build_effect_model(t)  # doctest: +SKIP
    >>> sorted(model.named_vars)  # doctest: +SKIP
    ['ace_obs', 'likelihood', 'mu', 'se_obs', 'tau', 'theta', 'z']
    """
    s = _structure(
        data, by=by, within=within, groups=groups, curve=curve, effects=effects, nu=nu,
        prior_scale=prior_scale, tau=tau, likelihood=likelihood,
        parameterization=parameterization, se=se,
    )  # fmt: skip
    return _model(s)


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
        """One message per crossed threshold (empty when the fit passes)."""
        t, out = self.thresholds, []
        if not self.max_r_hat <= t.r_hat:
            out.append(f"max R-hat {self.max_r_hat:.3g} > {t.r_hat} ({self.worst})")
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
    text += " (more tune/draws, a higher target_accept, or parameterization='noncentred')"
    if mode == "raise":
        raise EstimationError(text)
    warnings.warn(text, ConvergenceWarning, stacklevel=3)


def _diagnostics(idata: Any, var_names: list[str], thresholds: Thresholds) -> Diagnostics:
    az = _az()
    post = idata.posterior[var_names]
    with _quiet(), np.errstate(invalid="ignore", divide="ignore"):
        rhat = az.rhat(post)
        bulk = az.ess(post, method="bulk")
        tail = az.ess(post, method="tail")
    worst, max_r = "", -np.inf
    for name in var_names:
        values = np.asarray(rhat[name]).ravel()
        if values.size and np.nanmax(values) > max_r:
            max_r, worst = float(np.nanmax(values)), name
    min_bulk = min(float(np.nanmin(np.asarray(bulk[n]))) for n in var_names)
    min_tail = min(float(np.nanmin(np.asarray(tail[n]))) for n in var_names)
    stats = getattr(idata, "sample_stats", None)
    div = int(stats["diverging"].sum()) if stats is not None and "diverging" in stats else 0
    return Diagnostics(max_r, min_bulk, min_tail, div, worst, thresholds)


# -- the fit -------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class HierarchicalFit:
    """A sampled hierarchical effect model: posterior summaries, diagnostics and the draws.

    Attributes
    ----------
    idata : arviz.InferenceData
        Posterior draws (``theta`` per ``condition``, ``mu``, ``tau``, group SDs, ``curve``),
        sample statistics and the observed data.
    conditions : DataFrame
        One row per condition: ``condition`` (its printed name), the ``by`` columns, design
        parameters, ``n_cells``, ``n``, and the no-pooling estimate ``ace`` with its ``se``.
    table : DataFrame
        ``conditions`` plus ``post_mean, post_sd, hdi_low, hdi_high, p_positive,
        p_meaningful, r_hat, ess_bulk, ess_tail`` (see :meth:`to_frame`).
    hyper : DataFrame
        The same summaries for the scalar parameters (mu, tau, SDs) and the curve.
    diagnostics : Diagnostics
        Worst R-hat, smallest bulk/tail ESS and divergences over all summarised quantities.
    settings : mapping
        Model options, sampler, seed, ``hdi_prob`` and ``min_effect``.

    Examples
    --------
    >>> fit = fit_hierarchical(table)  # doctest: +SKIP
    >>> fit.to_frame()[["condition", "post_mean", "hdi_low", "hdi_high"]]  # doctest: +SKIP
    """

    idata: Any
    conditions: pd.DataFrame
    table: pd.DataFrame
    hyper: pd.DataFrame
    diagnostics: Diagnostics
    settings: Mapping[str, Any] = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """Per-condition table (a copy).

        Columns: ``condition, <by>, <design parameters>, n_cells, n, ace, se`` (no-pooling
        estimate), ``post_mean, post_sd, hdi_low, hdi_high`` (HDI at ``settings["hdi_prob"]``),
        ``p_positive`` = P(theta > 0), ``p_meaningful`` = P(|theta| > min_effect), ``r_hat,
        ess_bulk, ess_tail``.
        """
        return self.table.copy()

    def summary(self) -> str:
        """Readable summary: settings, diagnostics, hyperparameters and one line per condition."""
        st, d = self.settings, self.diagnostics
        level = f"{st['hdi_prob']:.0%} HDI"
        lines = [
            f"HierarchicalFit: {len(self.table)} conditions, effects={st['effects']}, "
            f"parameterization={st['parameterization']}, sampler={st['sampler']}, "
            f"{st['chains']} chains x {st['draws']} draws (tune {st['tune']})",
            f"  diagnostics: max R-hat {d.max_r_hat:.3f}, min bulk ESS {d.min_ess_bulk:.0f}, "
            f"min tail ESS {d.min_ess_tail:.0f}, divergences {d.divergences} -> "
            + ("ok" if d.passed else "FAILED: " + "; ".join(d.failures())),
        ]
        for row in self.hyper.itertuples(index=False):
            lines.append(
                f"  {row.parameter}: {row.post_mean:.4g} ± {row.post_sd:.3g} "
                f"[{row.hdi_low:.4g}, {row.hdi_high:.4g}]"
            )
        lines.append(f"  conditions (posterior mean ± sd, {level}, P>0, P(|.|>{st['min_effect']})):")
        for row in self.table.itertuples(index=False):
            lines.append(
                f"  {row.condition}: {row.post_mean:+.4g} ± {row.post_sd:.3g} "
                f"[{row.hdi_low:+.4g}, {row.hdi_high:+.4g}]  P>0 {row.p_positive:.3f}  "
                f"P(|.|>{st['min_effect']}) {row.p_meaningful:.3f}"
            )
        return "\n".join(lines)

    def save(self, path: str | Path) -> Path:
        """Write the draws, the condition table and the settings to one netCDF file.

        Examples
        --------
        >>> fit.save("posterior.nc")  # doctest: +SKIP
        """
        import xarray as xr

        path = Path(path)
        frame, kinds = _encode_frame(self.conditions)
        groups = {"causalgia_conditions": xr.Dataset.from_dataframe(frame)}
        with _quiet():
            idata = self.idata.copy()
            idata.add_groups(groups)
            idata.posterior.attrs["causalgia"] = json.dumps(
                {**self.settings, "column_kinds": kinds}, default=str
            )
            idata.to_netcdf(str(path))
        return path

    @classmethod
    def load(cls, path: str | Path) -> HierarchicalFit:
        """Read a fit written by :meth:`save` (summaries are recomputed from the draws).

        Examples
        --------
        >>> HierarchicalFit.load("posterior.nc").to_frame()  # doctest: +SKIP
        """
        az = _az()
        with _quiet():
            idata = az.from_netcdf(str(path))
        settings = json.loads(idata.posterior.attrs["causalgia"])
        kinds = settings.pop("column_kinds")
        frame = idata["causalgia_conditions"].to_dataframe().reset_index(drop=True)
        conditions = _decode_frame(frame, kinds)
        with _quiet():
            del idata["causalgia_conditions"]
        thresholds = Thresholds(**settings["thresholds"])
        return _summarise(idata, conditions, settings, thresholds)


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


def _decode_frame(frame: pd.DataFrame, kinds: Mapping[str, str]) -> pd.DataFrame:
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


def _hdi(az: Any, draws: Any, prob: float) -> tuple[np.ndarray, np.ndarray]:
    with _quiet():
        hdi = az.hdi(draws, hdi_prob=prob)
    name = next(iter(hdi.data_vars))
    arr = np.asarray(hdi[name])
    return arr[..., 0], arr[..., 1]


def _summarise(
    idata: Any, conditions: pd.DataFrame, settings: Mapping[str, Any], thresholds: Thresholds
) -> HierarchicalFit:
    az = _az()
    post = idata.posterior
    prob, min_effect = settings["hdi_prob"], settings["min_effect"]
    theta = post["theta"].stack(sample=("chain", "draw")).transpose("condition", "sample")
    values = theta.to_numpy()
    table = conditions.copy()
    table["post_mean"] = values.mean(axis=1)
    table["post_sd"] = values.std(axis=1, ddof=1)
    table["hdi_low"], table["hdi_high"] = _hdi(az, post[["theta"]], prob)
    table["p_positive"] = (values > 0).mean(axis=1)
    table["p_meaningful"] = (np.abs(values) > min_effect).mean(axis=1)
    with _quiet(), np.errstate(invalid="ignore", divide="ignore"):
        table["r_hat"] = np.asarray(az.rhat(post[["theta"]])["theta"])
        table["ess_bulk"] = np.asarray(az.ess(post[["theta"]], method="bulk")["theta"])
        table["ess_tail"] = np.asarray(az.ess(post[["theta"]], method="tail")["theta"])
    hyper_names = [
        n
        for n in post.data_vars
        if n not in ("theta",) and not n.startswith("z") and n != "curve_steps"
        and not (n == "sigma" and settings["likelihood"] == "full")
    ]  # fmt: skip
    hyper = _hyper_table(az, post, hyper_names, prob)
    checked = ["theta", *[n for n in post.data_vars if n not in ("theta", "curve")]]
    diagnostics = _diagnostics(idata, checked, thresholds)
    return HierarchicalFit(idata, conditions, table, hyper, diagnostics, dict(settings))


def _hyper_table(az: Any, post: Any, names: list[str], prob: float) -> pd.DataFrame:
    rows = []
    for name in names:
        da = post[name]
        extra = [d for d in da.dims if d not in ("chain", "draw")]
        flat = da.stack(sample=("chain", "draw"))
        with _quiet(), np.errstate(invalid="ignore", divide="ignore"):
            rhat = np.atleast_1d(np.asarray(az.rhat(post[[name]])[name]))
            bulk = np.atleast_1d(np.asarray(az.ess(post[[name]], method="bulk")[name]))
        low, high = _hdi(az, post[[name]], prob)
        low, high = np.atleast_1d(low), np.atleast_1d(high)
        values = np.atleast_2d(flat.transpose(*extra, "sample").to_numpy())
        labels = [name] if not extra else [f"{name}[{v}]" for v in da[extra[0]].to_numpy()]
        for i, label in enumerate(labels):
            rows.append(
                {
                    "parameter": label,
                    "post_mean": float(values[i].mean()),
                    "post_sd": float(values[i].std(ddof=1)),
                    "hdi_low": float(low[i]),
                    "hdi_high": float(high[i]),
                    "r_hat": float(rhat[i]),
                    "ess_bulk": float(bulk[i]),
                }
            )
    return pd.DataFrame(rows)


def _marginal_theta(idata: Any, s: _Structure, seed: int, y: np.ndarray | None = None) -> None:
    """Draw theta_j | (mu, tau, groups, curve, data) exactly, and add it to the posterior."""
    import xarray as xr

    if _dense(s):
        _dense_draws(idata, s, seed, y)
        return
    post = idata.posterior
    eta = post["mu"].to_numpy()[..., None] * np.ones(len(s.conditions))
    for name, _levels, index in s.groups:
        eta = eta + post[f"sd_{name}"].to_numpy()[..., None] * post[f"z_{name}"].to_numpy()[
            ..., index
        ]
    if s.curve is not None:
        eta = eta + post["curve"].to_numpy()[..., s.curve[2]]
    tau2 = post["tau"].to_numpy()[..., None] ** 2
    y = s.cells["ace"].to_numpy() if y is None else y
    se2 = s.cells["se"].to_numpy() ** 2
    shrink = tau2 / (tau2 + se2)
    gen = generator(unit_keys(seed, [0], "hierarchical", "theta")[0])
    noise = gen.standard_normal(eta.shape)
    theta = eta + shrink * (y - eta) + np.sqrt(shrink * se2) * noise
    coords = {
        "chain": post["chain"],
        "draw": post["draw"],
        "condition": s.conditions["condition"].tolist(),
    }
    post["theta"] = xr.DataArray(theta, dims=("chain", "draw", "condition"), coords=coords)


def fit_hierarchical(
    data: Any,
    *,
    by: Sequence[str] = ("experiment", "label"),
    within: Sequence[str] = (),
    groups: Sequence[str | Sequence[str]] = (),
    curve: str | None = None,
    effects: Effects = "normal",
    nu: float = 4.0,
    prior_scale: float | None = None,
    tau: float | None = None,
    likelihood: Likelihood = "summary",
    parameterization: Parameterization = "auto",
    se: SeKind = "auto",
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    cores: int = 1,
    target_accept: float = 0.9,
    random_seed: int | None = None,
    sampler: Sampler = "pymc",
    hdi_prob: float = HDI_PROB,
    min_effect: float = 0.0,
    diagnostics: DiagnosticsMode = "warn",
    thresholds: Thresholds = THRESHOLDS,
    progressbar: bool = False,
) -> HierarchicalFit:
    """Fit a partially pooled effect model with NUTS and summarise every condition.

    The model, its options and the sufficient statistics are those of
    :func:`build_effect_model` (same keyword arguments). ADVI is deliberately not offered:
    with PyMC's defaults it overestimated the between-condition SD 2.5-fold on a 50-position
    benchmark (docs/hierarchical.md).

    Parameters
    ----------
    data, by, within, groups, curve, effects, nu, prior_scale, tau, likelihood, parameterization, se
        See :func:`build_effect_model`.
    draws, tune, chains : int
        NUTS draws and tuning steps per chain, and the number of chains (R-hat needs >= 2).
    cores : int
        Chains sampled in parallel (1: sequentially, in this process).
    target_accept : float
        NUTS target acceptance; raise it (0.95, 0.99) when divergences are reported.
    random_seed : int, optional
        Seed of the sampler and of the exact theta draws of the marginal parameterization.
    sampler : {"pymc", "nutpie"}
        PyMC's NUTS, or nutpie's (compiled; needs ``pip install nutpie``).
    hdi_prob : float
        Probability of the highest-density intervals.
    min_effect : float
        The smallest effect that matters to you: ``p_meaningful`` = P(|theta| > min_effect).
    diagnostics : {"warn", "raise", "ignore"}
        What a crossed threshold does: :class:`ConvergenceWarning`, EstimationError, nothing.
        The numbers are always in ``fit.diagnostics`` and :meth:`HierarchicalFit.summary`.
    thresholds : Thresholds
        Defaults to :data:`THRESHOLDS` (R-hat 1.01, bulk and tail ESS 400, no divergences).
    progressbar : bool
        Show PyMC's progress bar.

    Returns
    -------
    HierarchicalFit

    Examples
    --------
    >>> t = pd.DataFrame({"experiment": "e", "label": list("abcdefgh"),
    ...                   "ace": [0.3, 0.1, 0.5, 0.2, 0.4, 0.0, 0.3, 0.2], "se": 0.1})
    >>> fit = fit_hierarchical(t, draws=500, tune=500, chains=2, random_seed=1)  # doctest: +SKIP
    >>> fit.to_frame()[["label", "ace", "post_mean", "hdi_low", "hdi_high"]]  # doctest: +SKIP
    """
    check_option("sampler", sampler, SAMPLERS)
    check_option("diagnostics", diagnostics, DIAGNOSTICS)
    draws = check_int("draws", draws, minimum=1)
    tune = check_int("tune", tune, minimum=0)
    chains = check_int("chains", chains, minimum=1)
    cores = check_int("cores", cores, minimum=1)
    hdi_prob = check_probability("hdi_prob", hdi_prob)
    target_accept = check_probability("target_accept", target_accept)
    if not (np.isfinite(min_effect) and min_effect >= 0):
        raise OptionError(f"min_effect must be a non-negative number, got {min_effect!r}")
    s = _structure(
        data, by=by, within=within, groups=groups, curve=curve, effects=effects, nu=nu,
        prior_scale=prior_scale, tau=tau, likelihood=likelihood,
        parameterization=parameterization, se=se,
    )  # fmt: skip
    seed = root_seed(random_seed)
    idata = _sample(_model(s), draws, tune, chains, cores, target_accept, seed, sampler, progressbar)
    if s.settings["parameterization"] == "marginal":
        _marginal_theta(idata, s, seed)
    settings = {
        **s.settings,
        "sampler": sampler,
        "draws": draws,
        "tune": tune,
        "chains": chains,
        "target_accept": target_accept,
        "random_seed": seed,
        "hdi_prob": hdi_prob,
        "min_effect": float(min_effect),
        "thresholds": asdict(thresholds),
    }
    fit = _summarise(idata, s.conditions, settings, thresholds)
    check_diagnostics(fit.diagnostics, diagnostics)
    return fit


def _sample(
    model: Any,
    draws: int,
    tune: int,
    chains: int,
    cores: int,
    target_accept: float,
    seed: int,
    sampler: str,
    progressbar: bool,
) -> Any:
    pm = _pymc()
    if sampler == "nutpie":
        try:
            import nutpie  # noqa: F401
        except ImportError:
            raise OptionError("sampler='nutpie' needs the nutpie package: pip install nutpie")
    with _quiet(), model:
        return pm.sample(
            draws=draws,
            tune=tune,
            chains=chains,
            cores=cores,
            target_accept=target_accept,
            random_seed=seed % 2**32,
            nuts_sampler=sampler,
            progressbar=progressbar,
            compute_convergence_checks=False,
        )


# -- simulation-based calibration ----------------------------------------------------------------

SBC_PARAMETERS: tuple[str, ...] = ("mu", "tau", "theta[0]", "theta[1]", "theta[2]")


def sbc_fits(
    *,
    n_replicates: int,
    n_conditions: int,
    se: float,
    prior_scale: float,
    parameterization: Parameterization,
    draws: int,
    tune: int,
    chains: int,
    seed: int,
) -> Iterator[tuple[dict[str, float], dict[str, np.ndarray], Diagnostics]]:
    """Yield (truth, posterior draws, diagnostics) per SBC replicate of the production model.

    Truths are drawn from the model's own prior (mu ~ N(0, s), tau ~ HalfNormal(s),
    theta_j = mu + tau z_j, ace_j ~ N(theta_j, se)) with a stream keyed by (seed, replicate).
    One model is built and compiled; each replicate only replaces ``ace_obs`` with
    ``pm.set_data``. Used by :func:`causalgia.testing.simulation_based_calibration`.
    """
    pm = _pymc()
    labels = [f"c{j}" for j in range(n_conditions)]
    placeholder = pd.DataFrame({"experiment": "sbc", "label": labels, "ace": 0.0, "se": se})
    s = _structure(
        placeholder, by=("experiment", "label"), within=(), groups=(), curve=None,
        effects="normal", nu=4.0, prior_scale=prior_scale, tau=None, likelihood="summary",
        parameterization=parameterization, se="auto",
    )  # fmt: skip
    model = _model(s)
    for r in range(n_replicates):
        key = unit_keys(seed, [r], "sbc")[0]
        gen = generator(key)
        mu = gen.normal(0.0, prior_scale)
        tau = abs(gen.normal(0.0, prior_scale))
        theta = mu + tau * gen.standard_normal(n_conditions)
        y = theta + se * gen.standard_normal(n_conditions)
        pm.set_data({"ace_obs": y}, model=model)
        idata = _sample(model, draws, tune, chains, 1, 0.9, int(key) % 2**32, "pymc", False)
        if s.settings["parameterization"] == "marginal":
            _marginal_theta(idata, s, int(key), y)
        post = idata.posterior
        draws_ = {
            "mu": post["mu"].to_numpy().ravel(),
            "tau": post["tau"].to_numpy().ravel(),
            **{f"theta[{j}]": post["theta"].to_numpy()[..., j].ravel() for j in range(3)},
        }
        truth = {"mu": mu, "tau": tau, **{f"theta[{j}]": theta[j] for j in range(3)}}
        names = ["theta", *[n for n in post.data_vars if n != "theta"]]
        yield truth, draws_, _diagnostics(idata, names, THRESHOLDS)


def sbc_section(quick: bool) -> tuple[str, dict[str, Any]]:
    """The SBC section of docs/validation.md: markdown text and the raw numbers.

    ``quick=True`` runs R = 20 replicates (a smoke run, minutes); otherwise R = 200 with
    500 draws x 2 chains each. Rank uniformity is a χ² test over 10 bins of 100 rank values.

    Examples
    --------
    >>> text, numbers = sbc_section(quick=True)  # doctest: +SKIP
    >>> sorted(numbers)[:3]  # doctest: +SKIP
    ['coverage_50', 'coverage_90', 'divergences']
    """
    from .testing import simulation_based_calibration

    n = 20 if quick else 200
    res = simulation_based_calibration(n_replicates=n, rng=2026)
    unif, cov = res.uniformity(), res.coverage()
    diag = res.diagnostics
    numbers: dict[str, Any] = {
        "n_replicates": n,
        "chi2": dict(zip(unif["parameter"], unif["chi2"].round(3), strict=True)),
        "chi2_p": dict(zip(unif["parameter"], unif["p_value"].round(4), strict=True)),
        "min_chi2_p": float(unif["p_value"].min()),
        "coverage_50": float(cov.loc[cov["level"] == 0.5, "coverage"].mean()),
        "coverage_90": float(cov.loc[cov["level"] == 0.9, "coverage"].mean()),
        "worst_r_hat": float(diag["max_r_hat"].max()),
        "min_ess_bulk": float(diag["min_ess_bulk"].min()),
        "min_ess_tail": float(diag["min_ess_tail"].min()),
        "divergences": int(diag["divergences"].sum()),
    }
    st = res.settings
    lines = [
        "## Simulation-based calibration of the hierarchical effect model",
        "",
        f"R = {n} replicates drawn from the prior of the production model ({st['n_conditions']} "
        f"conditions, SE {st['se']}, prior scale {st['prior_scale']}, parameterization "
        f"{st['parameterization']}, {st['chains']} chains x {st['draws']} draws after "
        f"{st['tune']} tuning steps); ranks of the truth among {res.n_draws} thinned draws, "
        "χ² over 10 bins (Talts et al. 2018). Gate: every p ≥ 0.001 and 90% coverage in "
        "0.825–0.960.",
        "",
        "| parameter | χ² | p | 50% coverage | 90% coverage |",
        "|---|---|---|---|---|",
    ]
    for row in unif.itertuples(index=False):
        c = cov[cov["parameter"] == row.parameter].set_index("level")["coverage"]
        lines.append(
            f"| {row.parameter} | {row.chi2:.2f} | {row.p_value:.3g} | {c[0.5]:.3f} | "
            f"{c[0.9]:.3f} |"
        )
    lines += [
        "",
        f"Worst R-hat {numbers['worst_r_hat']:.3f}, smallest bulk ESS "
        f"{numbers['min_ess_bulk']:.0f}, smallest tail ESS {numbers['min_ess_tail']:.0f}, "
        f"{numbers['divergences']} divergent transitions over all replicates.",
        "",
    ]
    return "\n".join(lines), numbers
