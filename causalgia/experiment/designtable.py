"""The design table of a design: one row per unit, built column by column and, for big designs,
in blocks of bounded size.

The table (``Design.to_frame()``, ``design.csv``) lists the control rows first, then each arm's
rows, with the columns experiment, label, the arms' parameters, background_id, arm
(``"control"``/``"do"``) and unit_seed. It used to be built as one small DataFrame per arm,
concatenated; each of those looked up the parameter names of *every* arm, so the time grew with
the square of the number of arms (4,096 arms: 12 s). Here every column is built once, by
repeating one value per arm, so the time is linear in the rows and the arms. The column dtypes
are those the per-arm concatenation gives (an int parameter that some arms lack becomes an
object column holding ints and None), found by concatenating one small frame per distinct
combination of value types, so the table, and the CSV written from it, stay identical.

:func:`table_blocks` yields the table in consecutive blocks of at most ``block_rows`` rows, with
the dtypes of the whole table in every block, so a writer can stream ``design.csv`` (or
``design.parquet``) without holding the table: blocks written one after the other give the
bytes of the whole table written at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from .._rng import keyed, keyed_many, label_code, purpose_base, purpose_bases

_INT64 = (-(2**63), 2**63)
_CONTROL = "control"  # designs.CONTROL (designs imports this module)


@dataclass(frozen=True)
class TablePart:
    """The rows of the control or of one arm in a design table.

    ``ids`` are the background ids of the rows; their unit seeds are ``keyed(base, ids)`` when
    ``base`` (a purpose base, see :func:`causalgia._rng.purpose_base`) is given, else
    ``keys(ids)``. Parts whose ids are the same array get their seeds in one vectorised call.

    Examples
    --------
    >>> part = TablePart("main", "a", {"position": 3}, "do", np.arange(4), base=7)
    >>> part.unit_seeds(part.ids[:2]).shape
    (2,)
    """

    experiment: Any
    label: Any
    params: Mapping[str, Any]
    arm: str
    ids: np.ndarray
    base: int | None = None
    keys: Callable[[np.ndarray], np.ndarray] | None = None

    def unit_seeds(self, ids: np.ndarray) -> np.ndarray:
        """The unit seeds (stream keys, uint64) of some of this part's ids."""
        if self.base is not None:
            return keyed(self.base, ids)
        assert self.keys is not None  # a part has a base or a key function
        return np.asarray(self.keys(ids), dtype=np.uint64)


def table_parts(
    arms: Sequence[Any],
    seed: int,
    n: int,
    assign: np.ndarray | None,
    plain: Sequence[bool],
) -> list[TablePart]:
    """The control and every arm of a design as :class:`TablePart` objects.

    Parameters
    ----------
    arms : sequence of Arm
        The design's arms (``experiment``, ``label``, ``params``, ``purpose_codes``, ``keys``).
    seed : int
        The design's root seed.
    n : int
        Number of backgrounds (ids ``0..n-1``).
    assign : ndarray of int, optional
        A randomized design's arm index per background (-1 = control); None when paired.
    plain : sequence of bool
        Per arm, whether its keys are the plain ``("arm", experiment, label)`` stream keys
        (vectorised here) or its own ``keys(seed, ids)``.

    Returns
    -------
    list of TablePart
        The control first, then the arms in order.

    Examples
    --------
    >>> from causalgia.experiment.designs import Arm
    >>> from causalgia.experiment.interventions import Substitute
    >>> parts = table_parts([Arm("a", Substitute("GATA", 3))], 1, 4, None, [True])
    >>> [(p.label, p.arm, len(p.ids)) for p in parts]
    [('control', 'control', 4), ('a', 'do', 4)]
    """
    ids = np.arange(n, dtype=np.int64)
    bases: list[int | None] = [None] * len(arms)
    rows = np.flatnonzero(np.asarray(plain, dtype=bool))
    if rows.size:
        codes = np.array([arms[r].purpose_codes for r in rows], dtype=np.uint64)
        for r, base in zip(rows, purpose_bases(seed, codes), strict=True):
            bases[r] = int(base)
    if assign is not None:
        order = np.argsort(assign, kind="stable")
        starts = np.searchsorted(assign[order], np.arange(len(arms)))
        groups = np.split(ids[order], starts)  # the control (-1), then arm 0, 1, ...
    else:
        groups = [ids] * (len(arms) + 1)
    bg_base = purpose_base(seed, [label_code("background")])
    parts = [TablePart(_CONTROL, _CONTROL, {}, _CONTROL, groups[0], base=bg_base)]
    for index, arm in enumerate(arms):
        keys = None if bases[index] is not None else partial(arm.keys, seed)
        parts.append(
            TablePart(arm.experiment, arm.label, arm.params, "do", groups[index + 1],
                      base=bases[index], keys=keys)
        )  # fmt: skip
    return parts


def _per_arm_frame(part: TablePart, names: Sequence[str], rows: int) -> pd.DataFrame:
    """The frame the per-arm construction built for ``rows`` of ``part`` (its dtypes)."""
    ids = part.ids[:rows]
    frame = pd.DataFrame({"experiment": part.experiment, "label": part.label}, index=range(rows))
    for name in names:
        frame[name] = part.params.get(name)
    frame["background_id"] = ids
    frame["arm"] = part.arm
    frame["unit_seed"] = np.zeros(rows, dtype=np.uint64)
    return frame


def _kind(value: Any) -> tuple[type, bool]:
    big = isinstance(value, int) and not _INT64[0] <= value < _INT64[1]
    return type(value), big


def _is_object(dtype: Any) -> bool:
    return isinstance(dtype, np.dtype) and dtype.kind == "O"


def _signatures(
    parts: Sequence[TablePart], names: Sequence[str]
) -> tuple[list[tuple[Any, ...]], dict[tuple[Any, ...], pd.DataFrame]]:
    """Each part's combination of value types (and of empty or not), and for each distinct
    combination the frame (of at most one row) the per-arm construction built for it."""
    keys: list[tuple[Any, ...]] = []
    frames: dict[tuple[Any, ...], pd.DataFrame] = {}
    for part in parts:
        values = (part.experiment, part.label, part.arm, *(part.params.get(n) for n in names))
        signature = (len(part.ids) > 0, *(_kind(v) for v in values))
        if signature not in frames:
            frames[signature] = _per_arm_frame(part, names, min(len(part.ids), 1))
        keys.append(signature)
    return keys, frames


def table_dtypes(parts: Sequence[TablePart], names: Sequence[str]) -> pd.Series:
    """The dtype of every column of the whole table, as the per-arm concatenation gives them.

    Concatenating one empty-or-one-row frame per distinct combination of value types gives
    the dtypes of concatenating all the arms' frames.

    Parameters
    ----------
    parts : sequence of TablePart
        The control and the arms, in table order.
    names : sequence of str
        The parameter columns, in order.

    Returns
    -------
    Series
        dtype by column name.

    Examples
    --------
    >>> ids = np.arange(3)
    >>> parts = [TablePart("control", "control", {}, "control", ids, base=1),
    ...          TablePart("main", "a", {"position": 3}, "do", ids, base=2)]
    >>> str(table_dtypes(parts, ["position"])["position"])
    'object'
    """
    frames = _signatures(parts, names)[1]
    return pd.concat(list(frames.values()), ignore_index=True).dtypes


def _typed_dtype(values: list[Any], dtype: Any) -> Any:
    """A parquet-friendly dtype for an object column: nullable int, float, bool or string."""
    if not _is_object(dtype):
        return dtype
    present = [v for v in values if v is not None and not (isinstance(v, float) and np.isnan(v))]
    if present and all(isinstance(v, bool | np.bool_) for v in present):
        return pd.BooleanDtype()
    if all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in present):
        return pd.Int64Dtype()
    if all(isinstance(v, int | float | np.integer | np.floating) for v in present):
        return pd.Float64Dtype()
    return pd.StringDtype()


def _as_object(value: Any, dtype: Any) -> Any:
    """``value`` as an object column holds it after a column of ``dtype`` was cast to object."""
    if isinstance(dtype, np.dtype) and not _is_object(dtype):
        return np.asarray(value, dtype=dtype).item()
    return value


def _per_part(values: list[Any], dtype: Any, own: list[Any]) -> Any:
    """One value per part in the column's final dtype (``own``: each part's own dtype)."""
    if _is_object(dtype):
        small = np.empty(len(values), dtype=object)
        small[:] = [_as_object(v, d) for v, d in zip(values, own, strict=True)]
        return small
    if isinstance(dtype, np.dtype):
        return np.asarray(values, dtype=dtype)
    if isinstance(dtype, pd.StringDtype) and dtype.na_value is pd.NA:  # typed (parquet) only
        values = [None if v is None else str(v) for v in values]
    small = np.empty(len(values), dtype=object)
    small[:] = values
    return pd.array(small, dtype=dtype)


def _take(small: Any, index: np.ndarray) -> Any:
    if isinstance(small, np.ndarray) and _is_object(small.dtype):
        return pd.Series(small[index], dtype=object, copy=False)  # no inference of str
    if isinstance(small, np.ndarray):
        return small[index]
    return small.take(index)


def _plan(parts: Sequence[TablePart], block_rows: int) -> Iterator[list[tuple[int, int, int]]]:
    """Blocks of consecutive ``(part, start, stop)`` pieces, at most ``block_rows`` rows each."""
    block: list[tuple[int, int, int]] = []
    rows = 0
    for number, part in enumerate(parts):
        start, size = 0, len(part.ids)
        while start < size:
            stop = min(size, start + block_rows - rows)
            block.append((number, start, stop))
            rows += stop - start
            start = stop
            if rows == block_rows:
                yield block
                block, rows = [], 0
    if block:
        yield block


def _seeds(parts: Sequence[TablePart], pieces: list[tuple[int, int, int]]) -> np.ndarray:
    """Unit seeds of a block; runs of parts that share ids and a base are keyed at once."""
    out: list[np.ndarray] = []
    i = 0
    while i < len(pieces):
        number, start, stop = pieces[i]
        part = parts[number]
        j = i + 1
        if part.base is not None:
            while j < len(pieces):
                other, o_start, o_stop = pieces[j]
                same = parts[other].ids is part.ids and (o_start, o_stop) == (start, stop)
                if not same or parts[other].base is None:
                    break
                j += 1
        if j - i > 1:
            bases = np.array([parts[p[0]].base for p in pieces[i:j]], dtype=np.uint64)
            out.append(keyed_many(bases, part.ids[start:stop]).ravel())
        else:
            out.append(part.unit_seeds(part.ids[start:stop]))
        i = j
    return np.concatenate(out) if out else np.empty(0, dtype=np.uint64)


def table_blocks(
    parts: Sequence[TablePart],
    names: Sequence[str],
    *,
    block_rows: int | None = None,
    typed: bool = False,
) -> Iterator[pd.DataFrame]:
    """The design table in consecutive blocks, each with the dtypes of the whole table.

    Parameters
    ----------
    parts : sequence of TablePart
        The control and the arms, in table order.
    names : sequence of str
        The parameter columns, in order.
    block_rows : int, optional
        At most this many rows per block (an arm's rows may be split); None: one block.
    typed : bool
        Give object columns a nullable dtype (Int64, Float64, boolean or string) chosen over
        the whole table, so every block converts to one Arrow schema (for parquet). False
        keeps the dtypes of ``Design.to_frame()``.

    Yields
    ------
    DataFrame
        Blocks with a RangeIndex starting at 0; concatenated, they are the whole table.

    Examples
    --------
    >>> ids = np.arange(3)
    >>> parts = [TablePart("control", "control", {}, "control", ids, base=1),
    ...          TablePart("main", "a", {"position": 3}, "do", ids, base=2)]
    >>> [len(b) for b in table_blocks(parts, ["position"], block_rows=4)]
    [4, 2]
    """
    columns = ["experiment", "label", *names, "background_id", "arm", "unit_seed"]
    keys, frames = _signatures(parts, names)
    dtypes = pd.concat(list(frames.values()), ignore_index=True).dtypes
    own = {key: frame.dtypes.to_dict() for key, frame in frames.items()}
    small = {}
    for name in ["experiment", "label", *names, "arm"]:
        if name in ("experiment", "label", "arm"):
            values = [getattr(p, name) for p in parts]
        else:
            values = [p.params.get(name) for p in parts]
        dtype = _typed_dtype(values, dtypes[name]) if typed else dtypes[name]
        small[name] = _per_part(values, dtype, [own[k][name] for k in keys])
    size = block_rows if block_rows is not None else max(1, sum(len(p.ids) for p in parts))
    for pieces in _plan(parts, size):
        counts = np.array([stop - start for _, start, stop in pieces], dtype=np.int64)
        index = np.repeat(np.array([p[0] for p in pieces], dtype=np.int64), counts)
        data = {name: _take(values, index) for name, values in small.items()}
        ids = [parts[n].ids[a:b] for n, a, b in pieces]
        data["background_id"] = np.concatenate(ids).astype(dtypes["background_id"], copy=False)
        data["unit_seed"] = _seeds(parts, pieces)
        yield pd.DataFrame(data, columns=columns)
