"""Motif-screen heatmaps: the ACE of every motif (rows, ranked) at every position (columns).

A motif screen (``type = "motif_screen"``, :func:`causalgia.analyses.motif_screen`) has one
effect per motif × position. Its map shows the whole screen at once, as Basset's motif
insertion figure did: one row per motif, ordered by the mean ACE over positions (largest
first), one column per position, the ACE as colour (white at 0, red above, blue below), and a
dot on every cell whose q-value (BH within the experiment) is below 0.05.

Only the ACE table is read, so the map is drawn for any experiment whose rows name at least two
motifs at at least two numeric positions, one effect per motif × position (a position sweep of
one motif, or a screen with both strands in one experiment, is not one). The intervals of the
summary over positions need the ICE table: :func:`causalgia.analyses.rank_motifs`.

matplotlib is imported only while drawing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import OptionError
from .icemaps import _label, _scale

if TYPE_CHECKING:
    from matplotlib.axes import Axes

MAX_MOTIFS = 60
"""Rows of a map at most: the motifs with the largest absolute mean ACE, in ranked order."""
SIGNIFICANT = 0.05


@dataclass(frozen=True)
class ScreenMapSpec:
    """One motif screen worth a map: its experiment (and model output), motifs and positions.

    Examples
    --------
    >>> ScreenMapSpec("screen", None, 12, 5).title
    'screen'
    """

    experiment: str
    output: str | None
    n_motifs: int
    n_positions: int

    @property
    def title(self) -> str:
        """The experiment, and the output in a multi-output run."""
        return self.experiment if self.output is None else f"{self.experiment} ({self.output})"


def _rows(ace: pd.DataFrame, experiment: str, output: str | None) -> pd.DataFrame:
    keep = (ace["experiment"] == experiment) & ace["motif"].notna() & ace["position"].notna()
    if output is not None and "output" in ace.columns:
        keep &= ace["output"] == output
    return ace[keep]


def screen_map_specs(ace: pd.DataFrame) -> list[ScreenMapSpec]:
    """The motif screens of an ACE table: >= 2 motifs at >= 2 numeric positions, one effect each.

    An ``output`` column (one row per effect and model output) gives one screen per output.

    Parameters
    ----------
    ace : DataFrame
        An ACE table (``experiment, motif, position, ace``).

    Returns
    -------
    list of ScreenMapSpec
        In order of first appearance.

    Examples
    --------
    >>> ace = pd.DataFrame({"experiment": ["s"] * 4 + ["p"] * 2, "motif": list("AABBCC"),
    ...                     "position": [0, 5, 0, 5, 0, 5], "ace": 1.0})
    >>> [(s.experiment, s.n_motifs, s.n_positions) for s in screen_map_specs(ace)]
    [('s', 2, 2)]
    """
    if not {"experiment", "motif", "position", "ace"} <= set(ace.columns):
        return []
    if not pd.api.types.is_numeric_dtype(ace["position"]):
        return []
    keys = ["experiment", *(["output"] if "output" in ace.columns else [])]
    specs = []
    for group, sub in ace.groupby(keys, sort=False, dropna=False):
        group = group if isinstance(group, tuple) else (group,)
        output = None if len(group) == 1 or pd.isna(group[1]) else str(group[1])
        sub = _rows(sub, str(group[0]), output)
        motifs, positions = sub["motif"].nunique(), sub["position"].nunique()
        if motifs >= 2 and positions >= 2 and not sub.duplicated(["motif", "position"]).any():
            specs.append(ScreenMapSpec(str(group[0]), output, int(motifs), int(positions)))
    return specs


def screen_matrix(
    ace: pd.DataFrame,
    *,
    experiment: str,
    output: str | None = None,
    column: str = "ace",
    max_motifs: int = MAX_MOTIFS,
) -> pd.DataFrame:
    """One column of a screen as motif (rows, by mean ACE, largest first) × position.

    Parameters
    ----------
    ace : DataFrame
        The ACE table.
    experiment : str
        The screen's experiment.
    output : str, optional
        Its model output, in a multi-output table.
    column : str, default "ace"
        The value of the cells (e.g. ``q_value``); the rows are ordered by the ACE in any case.
    max_motifs : int, default 60
        Rows at most: the motifs with the largest absolute mean ACE over positions.

    Returns
    -------
    DataFrame
        Index: motif names (``"name alt_name"`` when the table has ``alt_name``); columns:
        positions in increasing order.

    Examples
    --------
    >>> ace = pd.DataFrame({"experiment": "s", "motif": list("AABB"), "position": [0, 5] * 2,
    ...                     "ace": [0.1, 0.3, 1.0, 2.0]})
    >>> screen_matrix(ace, experiment="s").values.tolist()
    [[1.0, 2.0], [0.1, 0.3]]
    """
    if max_motifs < 1:
        raise OptionError(f"max_motifs must be >= 1, got {max_motifs!r}")
    sub = _rows(ace, experiment, output)
    if sub.empty:
        raise OptionError(f"the ACE table has no motif × position rows of {experiment!r}")
    grid = sub.pivot_table(index="motif", columns="position", values="ace", aggfunc="first")
    mean = grid.mean(axis=1)
    kept = mean.abs().sort_values(ascending=False, kind="stable").index[:max_motifs]
    order = mean.loc[kept].sort_values(ascending=False, kind="stable").index
    table = grid if column == "ace" else sub.pivot_table(
        index="motif", columns="position", values=column, aggfunc="first", dropna=False
    )  # fmt: skip
    table = table.loc[order].sort_index(axis=1)
    if "alt_name" in sub.columns:
        alt = dict(zip(sub["motif"], sub["alt_name"], strict=False))
        table.index = [_row_name(m, alt.get(m)) for m in table.index]
    return table


def _row_name(motif: Any, alt: Any) -> str:
    text = "" if alt is None or pd.isna(alt) else str(alt).strip()
    return f"{motif} {text}" if text and text != str(motif) else str(motif)


def plot_screen_map(
    ace: pd.DataFrame,
    *,
    experiment: str,
    output: str | None = None,
    max_motifs: int = MAX_MOTIFS,
    ax: Axes | None = None,
) -> Axes:
    """Heatmap of a motif screen: motifs (rows, ranked by mean ACE) × positions (columns).

    Parameters
    ----------
    ace : DataFrame
        The ACE table (``experiment, motif, position, ace``; ``q_value`` for the dots).
    experiment : str
        The screen's experiment.
    output : str, optional
        Its model output, in a multi-output table.
    max_motifs : int, default 60
        Rows at most (the motifs with the largest absolute mean ACE); the title says how many
        of the screen's motifs are shown.
    ax : Axes, optional
        Axes to draw on; a new figure (without pyplot), as tall as the rows need, when None.

    Returns
    -------
    Axes

    Examples
    --------
    >>> ace = pd.DataFrame({"experiment": "s", "motif": list("AABB"), "position": [0, 5] * 2,
    ...                     "ace": [0.1, 0.3, 1.0, 2.0], "q_value": [0.5, 0.2, 0.01, 0.001]})
    >>> plot_screen_map(ace, experiment="s").get_xlabel()  # doctest: +SKIP
    'position'
    """
    table = screen_matrix(ace, experiment=experiment, output=output, max_motifs=max_motifs)
    total = int(_rows(ace, experiment, output)["motif"].nunique())
    if ax is None:
        from matplotlib.figure import Figure

        ax = Figure(figsize=(6.4, _height(len(table))), layout="constrained").add_subplot()
    values = table.to_numpy(dtype=float)
    cmap, low, high = _scale(values)
    image = ax.imshow(values, aspect="auto", cmap=cmap, vmin=low, vmax=high,
                      interpolation="nearest")  # fmt: skip
    if "q_value" in ace.columns:
        q = screen_matrix(ace, experiment=experiment, output=output, column="q_value",
                          max_motifs=max_motifs).to_numpy(dtype=float)  # fmt: skip
        rows, cols = np.nonzero(q < SIGNIFICANT)
        ax.scatter(cols, rows, s=16, c="black", marker="o", edgecolors="white", linewidths=0.6)
    columns = [_label(v) for v in table.columns]
    step = max(1, len(columns) // 16)
    ax.set_xticks(range(0, len(columns), step), columns[::step])
    size = "small" if len(table) <= 25 else "x-small" if len(table) <= 45 else "xx-small"
    ax.set_yticks(range(len(table)), [str(i) for i in table.index], fontsize=size)
    ax.set_xlabel("position")
    shown = f"{len(table)} motifs" if len(table) == total else f"{len(table)} of {total} motifs"
    ax.set_ylabel(f"motif ({shown}, by mean ACE)")
    title = experiment if output is None else f"{experiment} ({output})"
    ax.set_title(f"{title}: ACE of each motif × position (• q < {SIGNIFICANT:g})",
                 fontsize="medium")  # fmt: skip
    shrink = min(0.9, 6.0 / _height(len(table)))  # a tall map keeps a short colour bar
    ax.figure.colorbar(image, ax=ax, label="ACE", shrink=shrink)
    return ax


def _height(rows: int) -> float:
    """Inches of a map with ``rows`` motifs (about a quarter inch per row)."""
    return min(16.0, max(2.8, 1.4 + 0.24 * rows))


def screen_ranking(
    ace: pd.DataFrame, *, experiment: str, output: str | None = None
) -> pd.DataFrame:
    """The screen's motifs by mean ACE over positions, from the ACE table alone (no intervals).

    Parameters
    ----------
    ace : DataFrame
        The ACE table.
    experiment : str
        The screen's experiment.
    output : str, optional
        Its model output, in a multi-output table.

    Returns
    -------
    DataFrame
        ``rank, motif, [alt_name], mean_ace, best_position, best_ace, significant_positions``
        (positions with q < 0.05), largest mean ACE first.

    Examples
    --------
    >>> ace = pd.DataFrame({"experiment": "s", "motif": list("AABB"), "position": [0, 5] * 2,
    ...                     "ace": [0.1, 0.3, 1.0, 2.0], "q_value": [0.5, 0.2, 0.01, 0.001]})
    >>> screen_ranking(ace, experiment="s")[["motif", "mean_ace", "significant_positions"]]
      motif  mean_ace  significant_positions
    0     B       1.5                      2
    1     A       0.2                      0
    """
    sub = _rows(ace, experiment, output)
    grid = sub.pivot_table(index="motif", columns="position", values="ace", aggfunc="first")
    out = pd.DataFrame({"motif": grid.index, "mean_ace": grid.mean(axis=1).to_numpy()})
    if "alt_name" in sub.columns:
        out.insert(1, "alt_name", out["motif"].map(dict(zip(sub["motif"], sub["alt_name"],
                                                            strict=False))))  # fmt: skip
    best = grid.idxmax(axis=1)
    out["best_position"] = best.to_numpy()
    out["best_ace"] = grid.max(axis=1).to_numpy()
    if "q_value" in sub.columns:
        hits = sub[sub["q_value"] < SIGNIFICANT].groupby("motif").size()
        out["significant_positions"] = out["motif"].map(hits).fillna(0).astype(int)
    out = out.sort_values(["mean_ace", "motif"], ascending=[False, True], kind="stable")
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out.reset_index(drop=True)
