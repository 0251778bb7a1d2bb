"""The status of every effect when units were dropped for non-finite model outputs.

Under ``simulate(..., on_nonfinite="drop")`` a unit whose model output is NaN or infinite is
left out of the unit table, and an arm may lose some or all of its units. Nothing of that may
pass silently: :func:`~causalgia.stats.estimate_ace` then gives every effect a ``status`` and
keeps an arm without enough units as a row of its own. This module does that bookkeeping from
the per-arm unit counts that the simulation reports (``SimulationResult.units``: experiment,
label, design parameters, ``n_units``, ``n_dropped``; a randomized design adds a ``control``
row), duck typed: the statistics never import the engine.

Statuses:

- ``"ok"``: every unit of the arm (and, in a randomized design, every control unit) was kept;
- ``"partial: k of n units dropped"`` (in a randomized design also ``"; k of n control units
  dropped"``): the estimate uses the units left, and ``n`` counts them; when fewer than 2 are
  left the estimate is NaN and the status ends ``"; too few left to estimate"``;
- ``"empty: every unit non-finite"``: no unit left; the row has ``n = 0`` and NaN estimates.

The estimates of the other rows are exactly those of a table without the dropped units: the
status only adds a column and rows, so the numbers of a run without drops never change.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..errors import EstimationError

STATUS_OK = "ok"
STATUS_EMPTY = "empty: every unit non-finite"
_ESTIMATES = ("ace", "se", "ci_low", "ci_high", "p_value", "q_value")
_KEY = ["experiment", "label"]


def check_units(units: Any) -> pd.DataFrame:
    """``units`` as a DataFrame with the columns the status needs, else an EstimationError.

    Examples
    --------
    >>> u = pd.DataFrame({"experiment": ["e"], "label": ["a"], "n_units": [4], "n_dropped": [1]})
    >>> len(check_units(u))
    1
    """
    if not isinstance(units, pd.DataFrame):
        raise EstimationError(f"units must be a DataFrame, got {type(units).__name__}")
    missing = [c for c in (*_KEY, "n_units", "n_dropped") if c not in units.columns]
    if missing:
        raise EstimationError(f"units table is missing column(s) {missing}")
    return units


def too_few(table: pd.DataFrame, kind: str) -> pd.DataFrame:
    """``table`` without the arms that have fewer than 2 units left (they become status rows).

    The control units of a randomized table are kept whatever their number (the estimator
    says when they are too few).

    Examples
    --------
    >>> t = pd.DataFrame({"experiment": "e", "label": ["a", "a", "b"], "ice": [1.0, 2.0, 3.0]})
    >>> too_few(t, "paired")["label"].tolist()
    ['a', 'a']
    """
    if table.empty:
        return table
    size = table.groupby(_KEY, sort=False, dropna=False)[_KEY[0]].transform("size")
    keep = size.to_numpy() >= 2
    if kind == "randomized":
        keep |= (table["label"] == "control").to_numpy(dtype=bool, na_value=False)
    return table if keep.all() else table[keep].reset_index(drop=True)


def _dropped_text(k: int, n: int, what: str = "units") -> str:
    return f"{k} of {n} {what} dropped"


def with_status(
    ace: pd.DataFrame, units: pd.DataFrame, kind: str, method: str, params: list[str]
) -> pd.DataFrame:
    """The ACE table with a ``status`` column and a row for every arm it lacks.

    Parameters
    ----------
    ace : DataFrame
        The ACE table of the units that were kept (:func:`~causalgia.stats.estimate_ace`).
    units : DataFrame
        One row per arm: experiment, label, design parameters, ``n_units`` and ``n_dropped``
        (a randomized design adds the ``control`` row).
    kind : {"paired", "randomized"}
        The design.
    method : str
        The estimator, written in the rows of arms without an estimate.
    params : list of str
        The design-parameter columns of ``ace``.

    Returns
    -------
    DataFrame
        Rows in the order of ``units`` (rows of ``ace`` that ``units`` lacks last), the rows of
        ``ace`` unchanged, and ``status`` as the last column.

    Examples
    --------
    >>> ace = pd.DataFrame({"experiment": "e", "label": ["a"], "method": "paired_t",
    ...                     "ace": [1.0], "se": [0.1], "ci_low": [0.8], "ci_high": [1.2],
    ...                     "n": [8], "p_value": [0.01], "q_value": [0.01]})
    >>> units = pd.DataFrame({"experiment": "e", "label": ["a", "b"], "n_units": [10, 10],
    ...                       "n_dropped": [2, 10]})
    >>> with_status(ace, units, "paired", "paired_t", [])[["label", "n", "status"]].values.tolist()
    [['a', 8, 'partial: 2 of 10 units dropped'], ['b', 0, 'empty: every unit non-finite']]
    """
    units = check_units(units)
    counts: dict[tuple[Any, Any], list[int]] = {}
    for row in units.itertuples(index=False):
        total = counts.setdefault((row.experiment, row.label), [0, 0])
        total[0] += int(row.n_units)
        total[1] += int(row.n_dropped)
    control_note = ""
    if kind == "randomized":
        n_c, k_c = counts.pop(("control", "control"), [0, 0])
        control_note = _dropped_text(k_c, n_c, "control units") if k_c else ""
    out = ace.copy()
    keys = list(zip(out["experiment"], out["label"], strict=True))
    statuses = []
    for key in keys:
        n_units, n_dropped = counts.get(key, [0, 0])
        parts = [_dropped_text(n_dropped, n_units)] if n_dropped else []
        parts += [control_note] if control_note else []
        statuses.append("partial: " + "; ".join(parts) if parts else STATUS_OK)
    out["status"] = pd.Series(statuses, index=out.index, dtype=object)
    present = set(keys)
    extra = []
    first = units.drop_duplicates(_KEY).set_index(_KEY, drop=False)
    for key, (n_units, n_dropped) in counts.items():
        if key in present:
            continue
        left = n_units - n_dropped
        row: dict[str, Any] = {c: first.loc[key, c] for c in [*_KEY, *params] if c in first}
        row |= {"method": method, "n": left, **dict.fromkeys(_ESTIMATES, np.nan)}
        if kind == "randomized":
            row["n_control"] = int(units.loc[units["label"] == "control", "n_units"].sum()) - int(
                units.loc[units["label"] == "control", "n_dropped"].sum()
            )
        if left == 0:
            row["status"] = STATUS_EMPTY
        else:
            parts = [_dropped_text(n_dropped, n_units), *([control_note] if control_note else [])]
            row["status"] = "partial: " + "; ".join(parts) + "; too few left to estimate"
        extra.append(row)
    if not extra:
        return out
    added = pd.DataFrame(extra, columns=list(out.columns))
    whole = pd.concat([out, added], ignore_index=True)
    rank = {key: i for i, key in enumerate(counts)}
    pairs = zip(whole["experiment"], whole["label"], strict=True)
    order = [rank.get(key, len(rank)) for key in pairs]
    whole = whole.iloc[np.argsort(order, kind="stable")].reset_index(drop=True)
    for column in ("n", "n_control"):
        if column in whole.columns:
            whole[column] = whole[column].astype(np.int64)
    for column in params:  # integer parameters stay integers beside the added rows
        if pd.api.types.is_integer_dtype(out[column].dtype):
            values = pd.array(whole[column].to_numpy(dtype=float, na_value=np.nan)).astype("Int64")
            whole[column] = values if values.isna().any() else values.astype(np.int64)
    return whole
