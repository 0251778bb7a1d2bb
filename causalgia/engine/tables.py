"""Unit tables from stored chunk values: the paired ICE table and the randomized outcome table.

A chunk is stored as an array of model outputs (see :class:`~causalgia.engine.store.ChunkRecord`);
these functions turn such arrays into the tidy tables of docs/formats.md.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..experiment.designs import CONTROL, Design


def _param_frame(design: Design, arm_index: np.ndarray) -> pd.DataFrame:
    """Experiment, label and parameter columns for rows given by arm index (-1 = control).

    A parameter whose declared values are all integers is an integer column: ``int64`` when
    every row has it, pandas' nullable ``Int64`` when some rows (other arms, controls) lack it.
    """
    rows = [{"experiment": CONTROL, "label": CONTROL}] + [
        {"experiment": arm.experiment, "label": arm.label, **arm.params} for arm in design.arms
    ]
    lookup = pd.DataFrame(rows, columns=["experiment", "label", *design.param_names])
    integer = [
        name
        for name in design.param_names
        if _integer_valued([arm.params[name] for arm in design.arms if name in arm.params])
    ]
    for name in integer:
        lookup[name] = lookup[name].astype("Int64")  # stays integer beside missing values
    table = lookup.iloc[np.asarray(arm_index) + 1].reset_index(drop=True)
    for name in integer:
        if not table[name].isna().any():
            table[name] = table[name].astype(np.int64)  # complete: a plain integer column
    return table


def _integer_valued(values: list[object]) -> bool:
    """True when every declared value of a parameter is an integer (bool is not)."""
    return bool(values) and all(
        isinstance(v, int | np.integer) and not isinstance(v, bool | np.bool_) for v in values
    )


def _paired_table(
    design: Design,
    y_control: np.ndarray,
    y_do: list[np.ndarray],
    ids: np.ndarray | None = None,
    arms: np.ndarray | None = None,
) -> pd.DataFrame:
    """Rows of arms ``arms`` (default: every arm), arm-major, with ``y_do`` one array per arm."""
    ids = design.background_ids if ids is None else ids
    arms = np.arange(len(design.arms)) if arms is None else np.asarray(arms, dtype=np.int64)
    table = _param_frame(design, np.repeat(arms, len(ids)))
    table["background_id"] = np.tile(ids, len(arms))
    table["y_control"] = np.tile(y_control, len(arms))
    table["y_do"] = np.concatenate(y_do) if len(y_do) else np.empty(0)
    table["ice"] = table["y_do"].to_numpy() - table["y_control"].to_numpy()
    return table


def arm_table(
    design: Design, arms: np.ndarray, y_control: np.ndarray, y_do: np.ndarray, ids: np.ndarray
) -> pd.DataFrame:
    """The paired ICE table's rows of some arms, exactly as in the whole table, in arm order.

    ``arms`` are arm indices in increasing order, ``y_do`` their outputs ``(len(arms),
    len(ids))``; non-finite units are left out, as :func:`drop_nonfinite` leaves them out of the
    whole table. Concatenating the tables of consecutive arm blocks gives the whole table.

    Parameters
    ----------
    design : Design
        A paired design.
    arms : ndarray of int
        Indices of the arms wanted.
    y_control : ndarray
        f(x) of backgrounds ``ids``.
    y_do : ndarray
        f(do(x)) of each wanted arm, one row per arm.
    ids : ndarray of int
        The background ids.

    Returns
    -------
    DataFrame
        Columns as in :func:`chunk_table`, rows arm-major.

    Examples
    --------
    >>> from causalgia.experiment.backgrounds import iid
    >>> from causalgia.experiment.designs import design, sweep_positions
    >>> d = design(iid(20), sweep_positions("GATA", [3, 9]), n=2, rng=1)
    >>> arm_table(d, np.array([1]), np.array([1.0, 2.0]), np.array([[1.5, 2.0]]),
    ...           np.arange(2))[["label", "ice"]].values.tolist()
    [['GATA@9+', 0.5], ['GATA@9+', 0.0]]
    """
    return drop_nonfinite(_paired_table(design, y_control, list(y_do), ids, arms))


def _randomized_table(
    design: Design, ids: np.ndarray, assign: np.ndarray, y: np.ndarray
) -> pd.DataFrame:
    table = _param_frame(design, assign)
    table["background_id"] = ids
    table["y"] = y
    return table


def drop_nonfinite(table: pd.DataFrame) -> pd.DataFrame:
    cols = ["y_control", "y_do"] if "y_do" in table else ["y"]
    keep = np.all(np.isfinite(table[cols].to_numpy()), axis=1)
    return table if keep.all() else table[keep].reset_index(drop=True)


def chunk_table(
    design: Design, ids: np.ndarray, values: np.ndarray, outputs: tuple[str, ...] | None = None
) -> pd.DataFrame:
    """The unit table of stored chunk ``values`` (see :class:`~causalgia.engine.store.ChunkRecord`)
    for backgrounds ``ids``, without non-finite units (``outputs``: the names of a model's
    declared outputs, the last axis of ``values``).

    Examples
    --------
    >>> from causalgia.experiment.backgrounds import iid
    >>> from causalgia.experiment.designs import design, sweep_positions
    >>> d = design(iid(20), sweep_positions("GATA", [3]), n=2, rng=1)
    >>> chunk_table(d, np.arange(2), np.array([[1.0, 2.0], [1.5, 2.0]]))["ice"].tolist()
    [0.5, 0.0]
    """
    ids = np.asarray(ids, dtype=np.int64)
    if outputs is not None:
        table = _per_output(design, values, ids, outputs)
    elif design.kind == "paired":
        table = _paired_table(design, values[0], list(values[1:]), ids)
    else:
        table = _randomized_table(design, ids, values[0].astype(np.int64), values[1])
    return drop_nonfinite(table)


def _per_output(
    design: Design, values: np.ndarray, ids: np.ndarray, outputs: tuple[str, ...]
) -> pd.DataFrame:
    """The paired table of ``values`` ``(arms + 1, n, T)``: one block of rows per output, an
    ``output`` column after ``label``."""
    blocks = []
    for t, name in enumerate(outputs):
        block = _paired_table(design, values[0, :, t], list(values[1:, :, t]), ids)
        block.insert(2, "output", name)
        blocks.append(block)
    return pd.concat(blocks, ignore_index=True)


def assemble_table(
    design: Design,
    parts: list[np.ndarray],
    ids: np.ndarray,
    outputs: tuple[str, ...] | None = None,
) -> pd.DataFrame:
    """The unit table of a run from its chunks' values, in chunk order.

    Parameters
    ----------
    design : Design
        The design the run evaluates.
    parts : list of ndarray
        The chunks' stored values, in order.
    ids : ndarray of int
        The background ids of all chunks.
    outputs : tuple of str, optional
        Names of the model's declared outputs (values then have a last axis of that length).

    Returns
    -------
    DataFrame
        The paired ICE table or the randomized outcome table.
    """
    if design.kind == "paired":
        width = () if outputs is None else (len(outputs),)
        empty = np.empty((len(design.arms) + 1, 0, *width))
        stacked = np.concatenate(parts, axis=1) if parts else empty
        if outputs is not None:
            return _per_output(design, stacked, ids, outputs)
        return _paired_table(design, stacked[0], list(stacked[1:]), ids)
    stacked = np.concatenate(parts, axis=1) if parts else np.empty((2, 0))
    return _randomized_table(design, ids, stacked[0].astype(np.int64), stacked[1])


def describe_units(design: Design, bad: list[tuple[int, int, float]]) -> str:
    names = [CONTROL if a < 0 else design.arms[a].label for a, _, _ in bad[:5]]
    return "; ".join(f"{n} background {b}" for n, (_, b, _) in zip(names, bad, strict=False))


def nonfinite_frame(design: Design, bad: list[tuple[int, int, float]]) -> pd.DataFrame:
    bad = sorted(bad, key=lambda unit: (unit[0], unit[1]))  # control first, then arm by arm
    rows = [
        (CONTROL, CONTROL) if a < 0 else (design.arms[a].experiment, design.arms[a].label)
        for a, _, _ in bad
    ]
    return pd.DataFrame(
        {
            "experiment": pd.Series([r[0] for r in rows], dtype=object),
            "label": pd.Series([r[1] for r in rows], dtype=object),
            "background_id": np.array([b for _, b, _ in bad], dtype=np.int64),
            "value": np.array([v for _, _, v in bad], dtype=np.float64),
        }
    )


def arm_units(design: Design, bad: list[tuple[int, int, float]]) -> pd.DataFrame:
    """Units per arm and how many of them were dropped for non-finite outputs.

    One row per arm of ``design``, in design order: experiment, label, the arm's parameters,
    ``n_units`` (units the design gives the arm: every background in a paired design, the
    backgrounds assigned to it in a randomized one) and ``n_dropped`` (its units dropped: in a
    paired design a non-finite control f(x) drops that background from every arm). In a
    randomized design a last row ``control`` counts the control units.

    Examples
    --------
    >>> from causalgia.experiment.backgrounds import iid
    >>> from causalgia.experiment.designs import design, sweep_positions
    >>> d = design(iid(20), sweep_positions("GATA", [3, 9]), n=5, rng=1)
    >>> arm_units(d, [(-1, 0, np.nan), (0, 2, np.nan), (0, 0, np.nan)])[
    ...     ["label", "n_units", "n_dropped"]].values.tolist()
    [['GATA@3+', 5, 2], ['GATA@9+', 5, 1]]
    """
    n_arms = len(design.arms)
    if design.kind == "paired":
        frame = _param_frame(design, np.arange(n_arms))
        control = {b for a, b, _ in bad if a < 0}
        per_arm: list[set[int]] = [set(control) for _ in range(n_arms)]
        for a, b, _ in bad:
            if a >= 0:
                per_arm[a].add(b)
        frame["n_units"] = np.full(n_arms, design.n, dtype=np.int64)
        frame["n_dropped"] = np.array([len(units) for units in per_arm], dtype=np.int64)
        return frame
    frame = _param_frame(design, np.arange(-1, n_arms))
    counts = np.zeros(n_arms + 1, dtype=np.int64)
    for first in range(0, design.n, 1 << 20):  # bounded memory at millions of backgrounds
        ids = np.arange(first, min(design.n, first + (1 << 20)), dtype=np.int64)
        counts += np.bincount(design.assignment(ids) + 1, minlength=n_arms + 1)
    dropped = np.bincount([a + 1 for a, _, _ in bad], minlength=n_arms + 1).astype(np.int64)
    frame["n_units"], frame["n_dropped"] = counts, dropped
    order = [*range(1, n_arms + 1), 0]  # arms first, the control last
    return frame.iloc[order].reset_index(drop=True)


def dropped_summary(
    nonfinite: pd.DataFrame, units: pd.DataFrame, *, limit: int = 20
) -> list[dict[str, object]]:
    """The dropped units of every arm that lost some, JSON-safe (for the manifest and reports).

    One dict per arm with ``n_dropped > 0`` in ``units`` (:func:`arm_units`): experiment,
    label, ``dropped``, ``of`` (the arm's units) and ``background_ids`` (the first ``limit``
    dropped backgrounds, a dropped shared control included).

    Examples
    --------
    >>> bad = pd.DataFrame({"experiment": ["control", "e"], "label": ["control", "a"],
    ...                     "background_id": [3, 1], "value": [np.nan, np.inf]})
    >>> units = pd.DataFrame({"experiment": ["e", "e"], "label": ["a", "b"],
    ...                       "n_units": [5, 5], "n_dropped": [2, 1]})
    >>> [(d["label"], d["background_ids"]) for d in dropped_summary(bad, units)]
    [('a', [1, 3]), ('b', [3])]
    """
    is_control = (nonfinite["label"] == CONTROL).to_numpy(dtype=bool) & (
        nonfinite["experiment"] == CONTROL
    ).to_numpy(dtype=bool)
    control = set(nonfinite.loc[is_control, "background_id"].astype(int))
    paired = not ((units["experiment"] == CONTROL) & (units["label"] == CONTROL)).any()
    out: list[dict[str, object]] = []
    for row in units.itertuples(index=False):
        if int(row.n_dropped) == 0:
            continue
        mine = (nonfinite["experiment"] == row.experiment) & (nonfinite["label"] == row.label)
        ids = set(nonfinite.loc[mine.to_numpy(dtype=bool), "background_id"].astype(int))
        if paired:
            ids |= control
        out.append(
            {
                "experiment": str(row.experiment),
                "label": str(row.label),
                "dropped": int(row.n_dropped),
                "of": int(row.n_units),
                "background_ids": sorted(ids)[:limit],
            }
        )
    return out
