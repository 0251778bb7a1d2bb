"""ICE maps: the per-background ICE of a sweep as a heatmap (background × position).

An ACE curve averages over backgrounds; the ICE map shows what it averages: one row per
background (an evenly spaced subsample of the background ids, sorted by their mean ICE), one
column per value of the swept parameter, the ICE as colour: white at 0, red above, blue below.
Rows that differ show that the effect depends on the background, a column that is uniform
shows that it does not.

A saturation-mutagenesis experiment (:func:`~causalgia.analyses.global_ice_map`: one arm per
position × base) gets the population version, a base × position map of the ACE.

matplotlib is imported only while drawing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..errors import OptionError
from .rundir import _curve_spec

if TYPE_CHECKING:
    from matplotlib.axes import Axes

ICE_AXIS_LABEL = "ICE = f(do(x)) − f(x)"
MIN_COLUMNS = 4
MAX_BACKGROUNDS = 40


@dataclass(frozen=True)
class IceMapSpec:
    """One ICE map worth drawing: the experiment, its swept column and the table's size.

    Examples
    --------
    >>> IceMapSpec("position", "position", 12, 300).x
    'position'
    """

    experiment: str
    x: str
    n_columns: int
    n_backgrounds: int
    output: str | None = None
    """The model output mapped (the first of several declared outputs), None for one."""


def ice_map_specs(
    ace: pd.DataFrame, ice: pd.DataFrame, *, min_columns: int = MIN_COLUMNS
) -> list[IceMapSpec]:
    """The experiments whose ICE table has a background × parameter structure worth a map.

    An experiment qualifies when its effects form one curve (a numeric ``position``,
    ``count`` or ``spacing`` with at least ``min_columns`` values and no second line such as
    orientation) and the ICE table has paired units (``ice`` and ``background_id`` columns).
    Tables of a model with several outputs (an ``output`` column) are mapped for their first
    output only (:attr:`IceMapSpec.output`): one map per experiment, whatever the outputs.

    Examples
    --------
    >>> ace = pd.DataFrame({"experiment": "p", "label": list("abcd"), "position": [0, 1, 2, 3]})
    >>> ice = ace.loc[ace.index.repeat(2)].assign(background_id=[0, 1] * 4, ice=0.5)
    >>> [(s.experiment, s.x, s.n_columns, s.n_backgrounds) for s in ice_map_specs(ace, ice)]
    [('p', 'position', 4, 2)]
    """
    if not {"ice", "background_id", "experiment"} <= set(ice.columns):
        return []
    first = None
    if "output" in ace.columns and len(ace):  # several model outputs: map the first
        first = str(ace["output"].iloc[0])
        ace = ace[ace["output"] == first]
        ice = ice[ice["output"] == first] if "output" in ice.columns else ice
    specs = []
    for experiment, sub in ace.groupby("experiment", sort=False):
        curve = _curve_spec(sub)
        if curve is None or curve[1] is not None or curve[0] not in ice.columns:
            continue
        n_columns = int(sub[curve[0]].nunique())
        units = ice.loc[ice["experiment"] == experiment, "background_id"]
        if n_columns >= min_columns and units.nunique() >= 2:
            specs.append(
                IceMapSpec(str(experiment), curve[0], n_columns, int(units.nunique()), first)
            )
    return specs


def sample_backgrounds(ids: np.ndarray, max_backgrounds: int = MAX_BACKGROUNDS) -> np.ndarray:
    """At most ``max_backgrounds`` of the background ids, evenly spaced over the sorted ids.

    Parameters
    ----------
    ids : ndarray
        Background ids (repeats allowed).
    max_backgrounds : int
        How many to keep at most.

    Returns
    -------
    ndarray
        Sorted unique ids, no randomness.

    Examples
    --------
    >>> sample_backgrounds(np.arange(10), 4).tolist()
    [0, 3, 6, 9]
    """
    ids = np.unique(ids)
    if len(ids) > max_backgrounds:
        ids = ids[np.unique(np.linspace(0, len(ids) - 1, max_backgrounds).round().astype(int))]
    return ids


def ice_matrix(
    ice: pd.DataFrame, *, experiment: str, x: str, max_backgrounds: int = MAX_BACKGROUNDS
) -> pd.DataFrame:
    """ICE per background (rows) × value of ``x`` (columns) for one experiment.

    At most ``max_backgrounds`` rows: evenly spaced over the sorted background ids (no
    randomness), then sorted by their mean ICE, largest first.

    Examples
    --------
    >>> ice = pd.DataFrame({"experiment": "p", "position": [0, 5, 0, 5],
    ...                     "background_id": [0, 0, 1, 1], "ice": [0.1, 0.3, 0.2, 0.8]})
    >>> ice_matrix(ice, experiment="p", x="position").values.tolist()
    [[0.2, 0.8], [0.1, 0.3]]
    """
    if max_backgrounds < 1:
        raise OptionError(f"max_backgrounds must be >= 1, got {max_backgrounds!r}")
    sub = ice[(ice["experiment"] == experiment) & ice[x].notna()]
    if sub.empty:
        raise OptionError(f"the ICE table has no rows of experiment {experiment!r} with {x!r}")
    ids = sample_backgrounds(sub["background_id"].to_numpy(), max_backgrounds)
    sub = sub[sub["background_id"].isin(ids)]
    table = sub.pivot_table(index="background_id", columns=x, values="ice", aggfunc="mean")
    order = table.mean(axis=1).sort_values(ascending=False, kind="stable").index
    return table.loc[order]


def plot_ice_map(
    ice: pd.DataFrame,
    *,
    experiment: str,
    x: str,
    max_backgrounds: int = MAX_BACKGROUNDS,
    ax: Axes | None = None,
    total: int | None = None,
    output: str | None = None,
) -> Axes:
    """Heatmap of the ICE of one sweep: backgrounds (rows) × swept values (columns).

    Parameters
    ----------
    ice : DataFrame
        Paired ICE table (``experiment, <parameters>, background_id, ice``).
    experiment : str
        The experiment to draw.
    x : str
        Its swept numeric column (``position``, ``spacing``, ``count``).
    max_backgrounds : int
        Rows shown at most (an evenly spaced subsample of the background ids).
    ax : Axes, optional
        Axes to draw on; a new figure (without pyplot) is made when None.
    total : int, optional
        Backgrounds of the study, when ``ice`` holds only a sample of them (default: the
        backgrounds in ``ice``); the axis label says how many of them are shown.
    output : str, optional
        The model output to map, for a table of several outputs (an ``output`` column).

    Returns
    -------
    Axes

    Examples
    --------
    >>> ice = pd.DataFrame({"experiment": "p", "position": [0, 5, 0, 5],
    ...                     "background_id": [0, 0, 1, 1], "ice": [0.1, 0.3, 0.2, 0.8]})
    >>> plot_ice_map(ice, experiment="p", x="position").get_xlabel()  # doctest: +SKIP
    'position'
    """
    if output is not None:
        ice = ice[ice["output"] == output]
    table = ice_matrix(ice, experiment=experiment, x=x, max_backgrounds=max_backgrounds)
    if total is None:
        total = int(ice.loc[ice["experiment"] == experiment, "background_id"].nunique())
    if ax is None:
        from matplotlib.figure import Figure

        ax = Figure(figsize=(6.4, 4.8), layout="constrained").add_subplot()
    values = table.to_numpy(dtype=float)
    cmap, low, high = _scale(values)
    image = ax.imshow(values, aspect="auto", cmap=cmap, vmin=low, vmax=high,
                      interpolation="nearest")  # fmt: skip
    columns = [_label(v) for v in table.columns]
    step = max(1, len(columns) // 16)
    ax.set_xticks(range(0, len(columns), step), columns[::step])
    if len(table) <= 25:
        ax.set_yticks(range(len(table)), [str(i) for i in table.index], fontsize="x-small")
    else:
        ax.set_yticks([])
    ax.set_xlabel(x)
    ax.set_ylabel(f"background ({len(table)} of {total}, by mean ICE)")
    shown = experiment if output is None else f"{experiment} ({output})"
    ax.set_title(f"{shown}: ICE per background × {x}", fontsize="medium")
    ax.figure.colorbar(image, ax=ax, label=ICE_AXIS_LABEL, shrink=0.9)
    return ax


def mutation_map_experiments(ace: pd.DataFrame) -> list[str]:
    """Experiments of an ACE table with one effect per position × base (mutagenesis maps).

    Examples
    --------
    >>> ace = pd.DataFrame({"experiment": "m", "position": [0, 0, 1, 1],
    ...                     "base": ["A", "C", "A", "C"], "ace": [0.0, 0.5, -0.2, 0.0]})
    >>> mutation_map_experiments(ace)
    ['m']
    """
    if not {"experiment", "position", "base", "ace"} <= set(ace.columns):
        return []
    found = []
    for experiment, sub in ace.groupby("experiment", sort=False):
        sub = sub[sub["position"].notna() & sub["base"].notna()]
        numeric = pd.api.types.is_numeric_dtype(sub["position"])
        if (
            numeric
            and sub["position"].nunique() >= 2
            and sub["base"].nunique() >= 2
            and not sub[["position", "base"]].duplicated().any()
        ):
            found.append(str(experiment))
    return found


def plot_mutation_map(ace: pd.DataFrame, *, experiment: str, ax: Axes | None = None) -> Axes:
    """Heatmap of the ACE of setting each position to each base: bases (rows) × positions.

    Parameters
    ----------
    ace : DataFrame
        ACE table with ``experiment, position, base, ace`` (e.g. ``global_ice_map(...)``).
    experiment : str
        The mutagenesis experiment.
    ax : Axes, optional
        Axes to draw on; a new figure (without pyplot) is made when None.

    Returns
    -------
    Axes

    Examples
    --------
    >>> ace = pd.DataFrame({"experiment": "m", "position": [0, 0, 1, 1],
    ...                     "base": ["A", "C", "A", "C"], "ace": [0.0, 0.5, -0.2, 0.0]})
    >>> plot_mutation_map(ace, experiment="m").get_xlabel()  # doctest: +SKIP
    'position'
    """
    if experiment not in mutation_map_experiments(ace):
        raise OptionError(
            f"experiment {experiment!r} has no effect per position × base to map; "
            f"mappable: {mutation_map_experiments(ace)}"
        )
    sub = ace[(ace["experiment"] == experiment) & ace["position"].notna()]
    table = sub.pivot(index="base", columns="position", values="ace")
    if ax is None:
        from matplotlib.figure import Figure

        ax = Figure(figsize=(6.4, 2.6), layout="constrained").add_subplot()
    values = table.to_numpy(dtype=float)
    cmap, low, high = _scale(values)
    image = ax.imshow(values, aspect="auto", cmap=cmap, vmin=low, vmax=high,
                      interpolation="nearest")  # fmt: skip
    columns = [_label(v) for v in table.columns]
    step = max(1, len(columns) // 16)
    ax.set_xticks(range(0, len(columns), step), columns[::step])
    ax.set_yticks(range(len(table)), [str(b) for b in table.index])
    ax.set_xlabel("position")
    ax.set_ylabel("base set")
    ax.set_title(f"{experiment}: ACE of each single-base mutation", fontsize="medium")
    ax.figure.colorbar(image, ax=ax, label="ACE", shrink=0.9)
    return ax


def _scale(values: np.ndarray) -> tuple[str, float, float]:
    """Colour map and limits with white at 0: red for ICE > 0, blue for ICE < 0.

    One-signed maps use a sequential scale from 0, so the whole colour range shows variation.
    """
    finite = values[np.isfinite(values)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    if low >= 0 and high > 0:
        return "Reds", 0.0, high
    if high <= 0 and low < 0:
        return "Blues_r", low, 0.0
    limit = max(abs(low), abs(high)) or 1.0
    return "RdBu_r", -limit, limit


def _label(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
