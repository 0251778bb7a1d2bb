"""Tables of a model with several named outputs: every verb works output by output.

A model declared with ``as_model(..., outputs=...)`` gives a unit table with an ``output``
column after ``label``, its rows output by output (:class:`~causalgia.engine.SimulationResult`).
Each output is its own study: a stats verb given such a table applies itself to the rows of
each output (without the column, so the rows equal those of the single-output study of that
output) and stacks the results with an ``output`` column after their key columns. Multiple
testing is then within each output, exactly as in the single-output study.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import pandas as pd

from ..errors import EstimationError

__all__ = ["OUTPUT", "has_outputs", "per_output", "split_outputs", "stack_outputs"]

OUTPUT = "output"
R = TypeVar("R")


def has_outputs(table: pd.DataFrame) -> bool:
    """Whether ``table`` is the table of a model with several declared outputs.

    Parameters
    ----------
    table : DataFrame
        A unit or result table.

    Returns
    -------
    bool
        True when it has an ``output`` column.

    Examples
    --------
    >>> has_outputs(pd.DataFrame({"label": ["a"], "output": ["HepG2"]}))
    True
    """
    return OUTPUT in table.columns


def split_outputs(table: pd.DataFrame) -> list[tuple[Any, pd.DataFrame]]:
    """The rows of each output, in order of first appearance, without the ``output`` column.

    Each part has a fresh ``RangeIndex``, so it equals the unit table of the single-output
    study of that output row for row.

    Parameters
    ----------
    table : DataFrame
        A table with an ``output`` column.

    Returns
    -------
    list of (name, DataFrame)
        One pair per output.

    Raises
    ------
    EstimationError
        When the table has no ``output`` column or no rows.

    Examples
    --------
    >>> t = pd.DataFrame({"label": ["a", "a"], "output": ["x", "y"], "ice": [1.0, 2.0]})
    >>> [(name, part["ice"].tolist()) for name, part in split_outputs(t)]
    [('x', [1.0]), ('y', [2.0])]
    """
    if not has_outputs(table):
        raise EstimationError(f"the table has no {OUTPUT!r} column; columns are {list(table)}")
    if table.empty:
        raise EstimationError(f"the table has an {OUTPUT!r} column but no rows")
    return [
        (name, part.drop(columns=OUTPUT).reset_index(drop=True))
        for name, part in table.groupby(OUTPUT, sort=False, dropna=False)
    ]


def per_output(table: pd.DataFrame, fn: Callable[[pd.DataFrame], R]) -> list[tuple[Any, R]]:
    """``fn`` applied to the rows of each output (see :func:`split_outputs`).

    Parameters
    ----------
    table : DataFrame
        A table with an ``output`` column.
    fn : callable
        Maps the table of one output (no ``output`` column) to a result.

    Returns
    -------
    list of (name, result)
        One pair per output, in order of first appearance.

    Raises
    ------
    EstimationError
        When the table has no ``output`` column or no rows.

    Examples
    --------
    >>> t = pd.DataFrame({"label": "a", "output": ["x", "x", "y"], "ice": [1.0, 3.0, 5.0]})
    >>> per_output(t, lambda part: float(part["ice"].mean()))
    [('x', 2.0), ('y', 5.0)]
    """
    return [(name, fn(part)) for name, part in split_outputs(table)]


def stack_outputs(
    parts: Sequence[tuple[Any, pd.DataFrame]], *, after: str | Sequence[str]
) -> pd.DataFrame:
    """Stack per-output result tables, each with an ``output`` column after its key columns.

    Parameters
    ----------
    parts : sequence of (name, DataFrame)
        The result table of each output, in order (e.g. from :func:`per_output`).
    after : str or sequence of str
        The key column(s) the ``output`` column follows: it goes right after the last of them
        that the table has (first when it has none).

    Returns
    -------
    DataFrame
        The tables one below the other, a fresh ``RangeIndex``.

    Raises
    ------
    EstimationError
        When ``parts`` is empty or a table already has an ``output`` column.

    Examples
    --------
    >>> a = pd.DataFrame({"contrast": ["c"], "estimate": [1.0]})
    >>> stack_outputs([("x", a), ("y", a)], after="contrast").columns.tolist()
    ['contrast', 'output', 'estimate']
    """
    if not parts:
        raise EstimationError("no per-output tables to stack")
    keys = [after] if isinstance(after, str) else list(after)
    frames = []
    for name, frame in parts:
        if OUTPUT in frame.columns:
            raise EstimationError(f"the table of output {name!r} already has an output column")
        present = [frame.columns.get_loc(k) for k in keys if k in frame.columns]
        frame = frame.copy()
        frame.insert(max(present) + 1 if present else 0, OUTPUT, name)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)
