"""Output heatmaps: the ACE of every arm (rows) for every model output (columns).

A model declared with several outputs (``as_model(..., outputs=...)``, ``[model] outputs``)
gives one effect per arm × output, and its ACE table has an ``output`` column. The map of an
experiment shows them at once: one row per arm (its label; at most :data:`MAX_ROWS`, those
with the largest absolute ACE over the outputs), one column per output in the order of the
table, the ACE as colour on a diverging scale centred at 0 (white 0, red above, blue below),
and a dot on every cell whose q-value (BH within the output and experiment) is below 0.05.
The rows keep the order of the ACE table, so a sweep reads from top to bottom.

Only the ACE table is read; matplotlib is imported only while drawing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..errors import OptionError

if TYPE_CHECKING:
    from matplotlib.axes import Axes

MAX_ROWS = 60
"""Rows of a map at most: the arms with the largest absolute ACE over the outputs."""
SIGNIFICANT = 0.05


def output_map_experiments(ace: pd.DataFrame) -> list[str]:
    """The experiments of an ACE table with effects of at least two model outputs.

    Parameters
    ----------
    ace : DataFrame
        An ACE table; only one with an ``output`` column has any.

    Returns
    -------
    list of str
        In order of first appearance.

    Examples
    --------
    >>> ace = pd.DataFrame({"experiment": ["e"] * 4, "label": ["a", "b"] * 2,
    ...                     "output": ["t1", "t1", "t2", "t2"], "ace": [1.0, 0.0, -1.0, 0.5]})
    >>> output_map_experiments(ace), output_map_experiments(ace.drop(columns="output"))
    (['e'], [])
    """
    if not {"experiment", "label", "output", "ace"} <= set(ace.columns):
        return []
    found = []
    for experiment, sub in ace.groupby("experiment", sort=False):
        if sub["output"].nunique() >= 2 and not sub.duplicated(["label", "output"]).any():
            found.append(str(experiment))
    return found


def output_matrix(
    ace: pd.DataFrame,
    *,
    experiment: str,
    column: str = "ace",
    max_rows: int = MAX_ROWS,
) -> pd.DataFrame:
    """One column of an experiment's ACE table as arm (rows) × output (columns).

    Parameters
    ----------
    ace : DataFrame
        The ACE table (``experiment, label, output, ace``).
    experiment : str
        The experiment.
    column : str, default "ace"
        The value of the cells (e.g. ``q_value``); the rows are chosen by the ACE in any case.
    max_rows : int, default 60
        Rows at most: the arms with the largest absolute ACE over the outputs, in table order.

    Returns
    -------
    DataFrame
        Index: arm labels in the order of the table; columns: outputs in the order of the
        table.

    Examples
    --------
    >>> ace = pd.DataFrame({"experiment": "e", "label": ["a", "b"] * 2,
    ...                     "output": ["t1", "t1", "t2", "t2"], "ace": [1.0, 0.0, -1.0, 0.5]})
    >>> output_matrix(ace, experiment="e").values.tolist()
    [[1.0, -1.0], [0.0, 0.5]]
    """
    if max_rows < 1:
        raise OptionError(f"max_rows must be >= 1, got {max_rows!r}")
    sub = ace[ace["experiment"] == experiment]
    if sub.empty or "output" not in sub.columns:
        raise OptionError(f"the ACE table has no rows of {experiment!r} with an output column")
    labels = list(dict.fromkeys(sub["label"]))
    outputs = list(dict.fromkeys(sub["output"]))
    size = sub.assign(abs_ace=sub["ace"].abs()).groupby("label", sort=False)["abs_ace"].max()
    kept = set(size.sort_values(ascending=False, kind="stable").index[:max_rows])
    grid = sub.pivot_table(index="label", columns="output", values=column, aggfunc="first",
                           dropna=False)  # fmt: skip
    return grid.loc[[lab for lab in labels if lab in kept], outputs]


def plot_output_map(
    ace: pd.DataFrame,
    *,
    experiment: str,
    max_rows: int = MAX_ROWS,
    ax: Axes | None = None,
) -> Axes:
    """Heatmap of an experiment's ACE for every arm (rows) and model output (columns).

    Parameters
    ----------
    ace : DataFrame
        The ACE table (``experiment, label, output, ace``; ``q_value`` for the dots).
    experiment : str
        The experiment.
    max_rows : int, default 60
        Rows at most (the arms with the largest absolute ACE); the axis says how many of the
        experiment's arms are shown.
    ax : Axes, optional
        Axes to draw on; a new figure (without pyplot), sized to the grid, when None.

    Returns
    -------
    Axes

    Examples
    --------
    >>> ace = pd.DataFrame({"experiment": "e", "label": ["a", "b"] * 2,
    ...                     "output": ["t1", "t1", "t2", "t2"], "ace": [1.0, 0.0, -1.0, 0.5]})
    >>> plot_output_map(ace, experiment="e").get_xlabel()  # doctest: +SKIP
    'model output'
    """
    table = output_matrix(ace, experiment=experiment, max_rows=max_rows)
    total = int(ace.loc[ace["experiment"] == experiment, "label"].nunique())
    if ax is None:
        from matplotlib.figure import Figure

        width = min(16.0, max(5.2, 3.2 + 0.32 * table.shape[1]))
        height = min(16.0, max(2.8, 1.6 + 0.26 * len(table)))
        ax = Figure(figsize=(width, height), layout="constrained").add_subplot()
    values = table.to_numpy(dtype=float)
    finite = values[np.isfinite(values)]
    limit = float(np.abs(finite).max()) if finite.size else 0.0
    limit = limit or 1.0  # diverging, centred at 0 (white), whatever the signs
    image = ax.imshow(values, aspect="auto", cmap="RdBu_r", vmin=-limit, vmax=limit,
                      interpolation="nearest")  # fmt: skip
    if "q_value" in ace.columns:
        q = output_matrix(ace, experiment=experiment, column="q_value", max_rows=max_rows)
        rows, cols = np.nonzero(q.to_numpy(dtype=float) < SIGNIFICANT)
        ax.scatter(cols, rows, s=16, c="black", marker="o", edgecolors="white", linewidths=0.6)
    step = max(1, table.shape[1] // 40)
    columns = [str(c) for c in table.columns]
    long = max(len(c) for c in columns) > 4
    ax.set_xticks(range(0, len(columns), step), columns[::step], rotation=45 if long else 0,
                  ha="right" if long else "center", fontsize="small")  # fmt: skip
    size = "small" if len(table) <= 25 else "x-small" if len(table) <= 45 else "xx-small"
    ax.set_yticks(range(len(table)), [str(i) for i in table.index], fontsize=size)
    ax.set_xlabel("model output")
    shown = f"{len(table)} arms" if len(table) == total else f"{len(table)} of {total} arms"
    ax.set_ylabel(f"arm ({shown})")
    ax.set_title(f"{experiment}: ACE of each arm × output (• q < {SIGNIFICANT:g})",
                 fontsize="medium")  # fmt: skip
    ax.figure.colorbar(image, ax=ax, label="ACE", shrink=0.9)
    return ax
