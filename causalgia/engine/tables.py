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
) -> pd.DataFrame:
    ids = design.background_ids if ids is None else ids
    n_arms = len(design.arms)
    table = _param_frame(design, np.repeat(np.arange(n_arms), len(ids)))
    table["background_id"] = np.tile(ids, n_arms)
    table["y_control"] = np.tile(y_control, n_arms)
    table["y_do"] = np.concatenate(y_do) if y_do else np.empty(0)
    table["ice"] = table["y_do"].to_numpy() - table["y_control"].to_numpy()
    return table


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


def chunk_table(design: Design, ids: np.ndarray, values: np.ndarray) -> pd.DataFrame:
    """The unit table of stored chunk ``values`` (see :class:`~causalgia.engine.store.ChunkRecord`)
    for backgrounds ``ids``, without non-finite units.

    Examples
    --------
    >>> from causalgia.experiment.backgrounds import iid
    >>> from causalgia.experiment.designs import design, sweep_positions
    >>> d = design(iid(20), sweep_positions("GATA", [3]), n=2, rng=1)
    >>> chunk_table(d, np.arange(2), np.array([[1.0, 2.0], [1.5, 2.0]]))["ice"].tolist()
    [0.5, 0.0]
    """
    ids = np.asarray(ids, dtype=np.int64)
    if design.kind == "paired":
        table = _paired_table(design, values[0], list(values[1:]), ids)
    else:
        table = _randomized_table(design, ids, values[0].astype(np.int64), values[1])
    return drop_nonfinite(table)


def assemble_table(design: Design, parts: list[np.ndarray], ids: np.ndarray) -> pd.DataFrame:
    if design.kind == "paired":
        stacked = np.concatenate(parts, axis=1) if parts else np.empty((len(design.arms) + 1, 0))
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
