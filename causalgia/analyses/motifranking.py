"""Ranking the motifs of a screen from its tables: the mean ACE over positions, and pooling.

A motif screen (:func:`~causalgia.analyses.motif_screen`, or ``type = "motif_screen"`` in a
study spec) has one arm per motif × position. :func:`rank_motifs` is a function of its ACE and
unit tables only, so it ranks a screen read back from a run directory as well.

The summary of a motif over the K positions p_1..p_K of the screen is the mean ACE over
positions,

    θ_m = (1/K) Σ_k ACE(m at p_k) = E_{x~P_B}[ (1/K) Σ_k ICE_{m, p_k}(x) ],

the effect of the motif at a position drawn uniformly from the screen's positions. In a paired
design it is estimated from the per-background mean ICE over positions, ``ICE_m(x) =
(1/K) Σ_k ICE_{m,p_k}(x)``, with the arm estimator (paired t by default) applied to those
means: one background stays one independent unit, so the standard error accounts for the
correlation of a background's ICEs across positions (it is neither the naive
sqrt(Σ se²)/K, which assumes independent positions, nor the SE of K ACEs). In a completely
randomized design each unit saw one position, and the summary is
mean_k ȳ_{m,k} − ȳ_control with a Welch-type interval (the positions' means are independent;
the control mean is shared and counted once).

Pooled estimates: :func:`causalgia.pooling.fit_hierarchical` on the screen's ICE table with
``groups=["motif"]`` (motif as the group, the motif × position arms as its conditions; add
``curve="position"`` for a positional curve shared by all motifs) partially pools the arms;
:func:`pooled_motif_effects` turns its draws into the posterior of each motif's θ_m.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats as sps

from .._options import check_option, check_probability
from .._rng import RngLike
from ..engine.simulator import SimulationResult
from ..errors import OptionError
from ..stats.estimators import (
    METHODS,
    AceEstimates,
    Adjustment,
    Method,
    adjust_pvalues,
    estimate_ace,
)

Order = Literal["decreasing", "increasing", "magnitude"]
ORDERS: tuple[str, ...] = ("decreasing", "increasing", "magnitude")
GROUP_COLUMNS: tuple[str, ...] = ("experiment", "output")
"""Columns that separate screens in one table: ``output`` (one screen per model output) is used
when present, so a multi-output run ranks each output's motifs on their own."""
_SUMMARY = ["method", "mean_ace", "se", "ci_low", "ci_high", "n"]


def _frame(data: Any, what: str) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    table = getattr(data, "table", None)
    if isinstance(table, pd.DataFrame):
        return table
    raise OptionError(f"{what} must be a DataFrame or have a .table, got {type(data).__name__}")


def _screens(ace: pd.DataFrame, experiment: str | None) -> pd.DataFrame:
    """The rows of ``ace`` that belong to motif × position screens."""
    missing = [c for c in ("experiment", "label", "motif", "position", "ace") if c not in ace]
    if missing:
        raise OptionError(
            f"a motif screen's ACE table needs the columns {missing}; it has {list(ace.columns)}"
        )
    rows = ace[ace["motif"].notna() & ace["position"].notna()]
    if experiment is not None:
        rows = rows[rows["experiment"] == experiment]
    if rows.empty:
        which = "" if experiment is None else f" of experiment {experiment!r}"
        raise OptionError(f"the ACE table has no rows{which} with a motif and a position")
    return rows


def _check_grid(sub: pd.DataFrame, where: str) -> list[Any]:
    """One effect per motif × position, and every motif at every position; the positions."""
    dup = sub.duplicated(["motif", "position"], keep=False)
    if dup.any():
        first = sub[dup].iloc[0]
        labels = sub.loc[dup & (sub["motif"] == first["motif"])
                         & (sub["position"] == first["position"]), "label"].tolist()  # fmt: skip
        raise OptionError(
            f"{where} has {len(labels)} effects of motif {first['motif']!r} at position "
            f"{first['position']} (labels {labels}); ranking needs one effect per motif × "
            "position: filter the table (e.g. by strand) first"
        )
    positions = sorted(sub["position"].unique().tolist())
    for motif, rows in sub.groupby("motif", sort=False):
        lacking = sorted(set(positions) - set(rows["position"].tolist()))
        if lacking:
            raise OptionError(
                f"{where}: motif {motif!r} has no effect at position(s) {lacking}; the summary "
                "over positions needs every motif at every position of the screen"
            )
    return positions


def _paired_summary(
    sub: pd.DataFrame,
    units: pd.DataFrame,
    positions: list[Any],
    group: str,
    *,
    method: str,
    ci: float,
    rng: RngLike,
    n_resamples: int,
    multiple_testing: str,
) -> pd.DataFrame:
    """Per motif: the arm estimator on the per-background mean ICE over positions."""
    need = ["label", "background_id", "y_control", "y_do", "ice"]
    lacking = [c for c in need if c not in units.columns]
    if lacking:
        raise OptionError(f"the paired ICE table lacks the columns {lacking}")
    motif_of = dict(zip(sub["label"], sub["motif"], strict=True))
    rows = units.loc[units["label"].isin(motif_of), need].copy()
    rows = rows[np.isfinite(rows["ice"].to_numpy(dtype=float))]  # units dropped as non-finite
    rows["motif"] = rows["label"].map(motif_of)
    per = rows.groupby(["motif", "background_id"], sort=False)
    means = per.agg(k=("ice", "size"), ice=("ice", "mean"), y_do=("y_do", "mean"),
                    y_control=("y_control", "first")).reset_index()  # fmt: skip
    means = means[means["k"] == len(positions)]  # backgrounds seen at every position
    counts = means.groupby("motif", sort=False).size()
    enough = counts[counts >= 2].index
    table = means[means["motif"].isin(enough)].assign(experiment=group, label=lambda t: t["motif"])
    cols = ["motif", *_SUMMARY, "p_value", "q_value"]
    if table.empty:
        return pd.DataFrame(columns=cols)
    est = estimate_ace(
        table[["experiment", "label", "background_id", "y_control", "y_do", "ice"]],
        method=method, ci=ci, rng=rng, n_resamples=n_resamples,
        multiple_testing=multiple_testing,
    ).table  # fmt: skip
    return est.rename(columns={"label": "motif", "ace": "mean_ace"})[cols]


def _randomized_summary(
    sub: pd.DataFrame, units: pd.DataFrame, positions: list[Any], ci: float, multiple_testing: str
) -> pd.DataFrame:
    """Per motif: mean over positions of the arm means minus the control mean (Welch-type)."""
    if "y" not in units.columns:
        raise OptionError("the randomized outcome table lacks the column 'y'")
    y = units["y"].to_numpy(dtype=float)
    control = units.loc[(units["label"] == "control").to_numpy() & np.isfinite(y), "y"]
    y0 = control.to_numpy(dtype=float)
    k = len(positions)
    out = []
    for motif, rows in sub.groupby("motif", sort=False):
        arms = [
            units.loc[units["label"] == label, "y"].to_numpy(dtype=float) for label in rows["label"]
        ]
        arms = [a[np.isfinite(a)] for a in arms]
        record: dict[str, Any] = {"motif": motif, "method": "welch", "n": sum(a.size for a in arms),
                                  "n_control": y0.size}  # fmt: skip
        if min(a.size for a in arms) < 2 or y0.size < 2:
            out.append({**record, "mean_ace": np.nan, "se": np.nan, "ci_low": np.nan,
                        "ci_high": np.nan, "p_value": np.nan})  # fmt: skip
            continue
        parts = [np.var(a, ddof=1) / (k * k * a.size) for a in arms]
        v0 = np.var(y0, ddof=1) / y0.size
        ace = float(np.mean([a.mean() for a in arms]) - y0.mean())
        se = float(np.sqrt(sum(parts) + v0))
        if se == 0.0:
            est = {"mean_ace": ace, "se": 0.0, "ci_low": ace, "ci_high": ace,
                   "p_value": float(ace == 0.0)}  # fmt: skip
        else:
            dof = se**4 / (sum(v * v / (a.size - 1) for v, a in zip(parts, arms, strict=True))
                           + v0 * v0 / (y0.size - 1))  # fmt: skip
            q = float(sps.t.ppf(0.5 + ci / 2.0, dof))
            est = {"mean_ace": ace, "se": se, "ci_low": ace - q * se, "ci_high": ace + q * se,
                   "p_value": float(2.0 * sps.t.sf(abs(ace) / se, dof))}  # fmt: skip
        out.append({**record, **est})
    frame = pd.DataFrame(out)
    p = frame["p_value"].to_numpy(dtype=float)
    q = np.full(p.size, np.nan)
    live = np.isfinite(p)
    q[live] = adjust_pvalues(p[live], multiple_testing)  # type: ignore[arg-type]
    frame["q_value"] = q
    return frame


def _score(values: pd.Series, order: str) -> pd.Series:
    """Larger is better: the sort key of an order."""
    v = pd.to_numeric(values, errors="coerce")
    return {"decreasing": v, "increasing": -v, "magnitude": v.abs()}[order]


def rank_motifs(
    ace: pd.DataFrame | AceEstimates,
    ice: pd.DataFrame | SimulationResult,
    *,
    method: Method | None = None,
    ci: float | None = None,
    order: Order = "decreasing",
    experiment: str | None = None,
    multiple_testing: Adjustment = "fdr_bh",
    rng: RngLike = None,
    n_resamples: int = 9999,
) -> pd.DataFrame:
    """Rank the motifs of a screen by their mean ACE over positions, with honest intervals.

    A function of the tables only. Every experiment of ``ace`` whose rows carry a ``motif`` and
    a ``position`` is a screen (or only ``experiment``); each needs one effect per motif ×
    position and every motif at every position. The summary θ_m (module docstring) is the
    mean ACE over the screen's positions, estimated from the per-background mean ICE (paired)
    or the arm and control means (randomized), so its interval respects the pairing.

    Multi-output runs: when the tables carry an ``output`` column (one row per effect and
    model output), each (experiment, output) is ranked on its own, with its own q-values; the
    ICE rows are matched on it too. Nothing else changes.

    Parameters
    ----------
    ace : DataFrame or AceEstimates
        The screen's ACE table (``experiment, label, motif, position, ace``, and ``q_value``
        for the per-position q-values).
    ice : DataFrame or SimulationResult
        The unit table it was estimated from: paired (``background_id, y_control, y_do, ice``)
        or randomized (``y``, control rows labelled ``"control"``).
    method : str, optional
        Estimator of the summary for a paired table (one of
        :func:`~causalgia.stats.estimate_ace`'s methods); default: the ACE table's own
        ``method``, else ``"paired_t"``. A randomized table always gets the Welch-type interval.
    ci : float, optional
        Confidence level; default the ``AceEstimates``' own level, else 0.95.
    order : {"decreasing", "increasing", "magnitude"}, default "decreasing"
        Rank 1 is the largest mean ACE, the smallest, or the largest absolute value. It also
        picks each motif's ``best_position``.
    experiment : str, optional
        Rank only this experiment.
    multiple_testing : {"fdr_bh", "fdr_by", "bonferroni", "holm", "none"}, default "fdr_bh"
        Adjustment of the summaries' p-values over the motifs of each screen.
    rng : int, Generator or None
        Root seed of bootstrap or permutation summaries (keyed by experiment and motif).
    n_resamples : int, default 9999
        Resamples of those methods.

    Returns
    -------
    DataFrame
        One row per motif and screen, best first: ``rank, experiment, [output], motif,
        [alt_name], method, mean_ace, se, ci_low, ci_high, n, [n_control], p_value, q_value``
        (the summary; q over the screen's motifs), ``n_positions, best_position, best_ace,
        best_q`` (the position with the best ACE, its ACE and per-arm q-value) and
        ``ace_at_<position>`` for every position, in increasing order. A motif with fewer than
        2 backgrounds seen at every position has NaN summaries and ranks last.

    Raises
    ------
    OptionError
        On a missing column, two effects of one motif at one position, a motif missing a
        position, or a bad option.

    Examples
    --------
    >>> t = pd.DataFrame({"experiment": "s", "label": ["A@0", "A@5", "B@0", "B@5"] * 3,
    ...                   "motif": ["A", "A", "B", "B"] * 3, "position": [0, 5] * 6,
    ...                   "background_id": np.repeat([0, 1, 2], 4), "y_control": 0.0,
    ...                   "y_do": [1.0, 3.0, 0.1, 0.0, 2.0, 2.0, -0.1, 0.1, 1.5, 2.5, 0.0, 0.2]})
    >>> t["ice"] = t["y_do"] - t["y_control"]
    >>> ranked = rank_motifs(estimate_ace(t), t)
    >>> ranked[["rank", "motif", "mean_ace", "n", "best_position"]]
       rank motif  mean_ace  n  best_position
    0     1     A      2.00  3              5
    1     2     B      0.05  3              5
    """
    check_option("order", order, ORDERS)
    if method is not None:
        check_option("method", method, METHODS)
    level = getattr(ace, "ci", None) if ci is None else ci
    level = check_probability("ci", 0.95 if level is None else level)
    table = _screens(_frame(ace, "ace"), experiment)
    units = _frame(ice, "ice")
    kind = getattr(ice, "kind", None) or ("paired" if "ice" in units.columns else "randomized")
    keys = [c for c in GROUP_COLUMNS if c in table.columns]
    out = []
    for group, sub in table.groupby(keys, sort=False, dropna=False):
        group = group if isinstance(group, tuple) else (group,)
        where = ", ".join(f"{k} {v!r}" for k, v in zip(keys, group, strict=True))
        positions = _check_grid(sub, where)
        mine = units[units["experiment"].isin([group[0], "control"])]
        if "output" in keys and "output" in mine.columns:
            same = mine["output"] == group[keys.index("output")]
            mine = mine[same | ((mine["label"] == "control") & mine["output"].isna())]
        if kind == "paired":
            own = method or (str(sub["method"].iloc[0]) if "method" in sub else "paired_t")
            summary = _paired_summary(
                sub, mine, positions, str(group[0]), method=own, ci=level, rng=rng,
                n_resamples=n_resamples, multiple_testing=multiple_testing,
            )  # fmt: skip
        else:
            summary = _randomized_summary(sub, mine, positions, level, multiple_testing)
        out.append(_ranked(sub, summary, positions, dict(zip(keys, group, strict=True)), order))
    return pd.concat(out, ignore_index=True)


def _ranked(
    sub: pd.DataFrame,
    summary: pd.DataFrame,
    positions: list[Any],
    group: Mapping[str, Any],
    order: str,
) -> pd.DataFrame:
    """The ranked rows of one screen: summary, best position and ACE per position."""
    grid = sub.pivot(index="motif", columns="position", values="ace")[positions]
    motifs = list(dict.fromkeys(sub["motif"]))
    frame = pd.DataFrame({"motif": motifs})
    if "alt_name" in sub.columns:
        frame["alt_name"] = frame["motif"].map(
            dict(zip(sub["motif"], sub["alt_name"], strict=True))
        )
    frame = frame.merge(summary, on="motif", how="left")
    frame["method"] = frame["method"].fillna(summary["method"].iloc[0] if len(summary) else "")
    frame["n"] = frame["n"].fillna(0).astype(int)
    if "n_control" in frame.columns:
        frame["n_control"] = frame["n_control"].fillna(0).astype(int)
    scores = grid.apply(lambda col: _score(col, order)).loc[motifs]
    best = scores.idxmax(axis=1, skipna=True) if scores.notna().any().any() else None
    frame["n_positions"] = len(positions)
    frame["best_position"] = [None if best is None or pd.isna(best[m]) else best[m] for m in motifs]
    frame["best_ace"] = [grid.at[m, p] if p is not None else np.nan
                         for m, p in zip(motifs, frame["best_position"], strict=True)]  # fmt: skip
    q = sub.set_index(["motif", "position"])["q_value"] if "q_value" in sub else None
    frame["best_q"] = [np.nan if q is None or p is None else q.get((m, p), np.nan)
                       for m, p in zip(motifs, frame["best_position"], strict=True)]  # fmt: skip
    for p in positions:
        frame[f"ace_at_{_name(p)}"] = grid.loc[motifs, p].to_numpy(dtype=float)
    key = _score(frame["mean_ace"], order).fillna(-np.inf)
    frame = frame.assign(_key=-key, _p=frame["p_value"].fillna(np.inf))
    frame = frame.sort_values(["_key", "_p", "motif"], kind="stable").drop(columns=["_key", "_p"])
    frame.insert(0, "rank", np.arange(1, len(frame) + 1))
    for i, (name, value) in enumerate(group.items()):
        frame.insert(1 + i, name, value)
    if frame["best_position"].notna().all():
        frame["best_position"] = frame["best_position"].astype(type(positions[0]))
    first = ["rank", *group, "motif", *(["alt_name"] if "alt_name" in frame else []), *_SUMMARY]
    first += ["n_control"] if "n_control" in frame else []
    first += ["p_value", "q_value", "n_positions", "best_position", "best_ace", "best_q"]
    return frame[first + [c for c in frame.columns if c not in first]].reset_index(drop=True)


def _name(position: Any) -> str:
    value = float(position)
    return str(int(value)) if value.is_integer() else str(position)


def pooled_motif_effects(fit: Any, *, hdi_prob: float | None = None) -> pd.DataFrame:
    """The posterior of each motif's mean effect over positions from a hierarchical fit.

    Fit the screen's ICE table with ``fit_hierarchical(ice, groups=["motif"])`` (optionally
    ``curve="position"``): each motif × position arm is a condition θ_j, partially pooled
    within its motif. Here every draw of the θ_j of a motif's K conditions is averaged, which
    gives draws of the pooled θ_m = (1/K) Σ_k θ_{m,p_k}, the same estimand as the
    ``mean_ace`` of :func:`rank_motifs`.

    Parameters
    ----------
    fit : HierarchicalFit
        A fit of one or more screens (its ``conditions`` carry ``experiment``, ``motif`` and
        ``position``; ``output`` too in multi-output runs).
    hdi_prob : float, optional
        Probability of the highest-density intervals; default the fit's.

    Returns
    -------
    DataFrame
        One row per screen and motif, by decreasing posterior mean: ``experiment, [output],
        motif, n_positions, post_mean, post_sd, hdi_low, hdi_high, p_positive``.

    Raises
    ------
    OptionError
        When the fit's conditions lack ``motif`` or ``position``.

    Examples
    --------
    >>> from causalgia.pooling import fit_hierarchical  # doctest: +SKIP
    >>> fit = fit_hierarchical(screen.ice, groups=["motif"], random_seed=1)  # doctest: +SKIP
    >>> pooled_motif_effects(fit).head()  # doctest: +SKIP
    """
    conditions = fit.conditions
    lacking = [c for c in ("motif", "position") if c not in conditions.columns]
    if lacking:
        raise OptionError(
            f"the fit's conditions lack {lacking}: fit a motif screen's ICE table (its arms "
            "carry motif and position)"
        )
    prob = check_probability("hdi_prob", fit.settings.get("hdi_prob", 0.95)
                             if hdi_prob is None else hdi_prob)  # fmt: skip
    theta = fit.idata.posterior["theta"]
    names = [str(c) for c in theta["condition"].to_numpy()]
    draws = theta.transpose("condition", "chain", "draw").to_numpy().reshape(len(names), -1)
    column = {name: i for i, name in enumerate(names)}
    keys = [c for c in GROUP_COLUMNS if c in conditions.columns]
    rows = []
    for group, sub in conditions.groupby([*keys, "motif"], sort=False):
        values = draws[[column[str(c)] for c in sub["condition"]]].mean(axis=0)
        low, high = _hdi(values, prob)
        rows.append({**dict(zip([*keys, "motif"], group, strict=True)),
                     "n_positions": int(sub["position"].nunique()),
                     "post_mean": float(values.mean()), "post_sd": float(values.std(ddof=1)),
                     "hdi_low": low, "hdi_high": high,
                     "p_positive": float((values > 0).mean())})  # fmt: skip
    out = pd.DataFrame(rows)
    return out.sort_values([*keys, "post_mean"], ascending=[*[True] * len(keys), False],
                           kind="stable").reset_index(drop=True)  # fmt: skip


def _hdi(values: np.ndarray, prob: float) -> tuple[float, float]:
    """The shortest interval holding ``prob`` of the draws."""
    x = np.sort(values)
    inside = int(np.ceil(prob * x.size))
    if inside >= x.size:
        return float(x[0]), float(x[-1])
    widths = x[inside - 1 :] - x[: x.size - inside + 1]
    i = int(np.argmin(widths))
    return float(x[i]), float(x[i + inside - 1])
