"""Figures for ACE and ICE tables: effect curves, forest plots, ICE distributions.

matplotlib is optional (``pip install causalgia[plot]``) and is imported inside each function, so
importing this module stays light. Every function takes ``ax=`` (a new figure is made when it is
None) and returns the Axes; no global style is changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..errors import OptionError

if TYPE_CHECKING:
    from matplotlib.axes import Axes

ACE_AXIS_LABEL = "ACE (f(do(x)) − f(x))"
_TRUTH_COLUMNS = ("experiment", "label", "true_ace")


def _new_axes(ax: Axes | None, figsize: tuple[float, float] = (6.4, 4.0)) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=figsize)[1]


def _require(table: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise OptionError(f"{what} lacks column(s) {missing}; it has {list(table.columns)}")


def _with_truth(data: pd.DataFrame, truth: pd.DataFrame | None) -> pd.DataFrame:
    """Left-join ``true_ace`` onto ``data`` by experiment and label (NaN where unknown)."""
    if truth is None:
        return data
    _require(truth, _TRUTH_COLUMNS, "truth")
    _require(data, ("experiment", "label"), "ace")
    keys = truth[["experiment", "label"]]
    if keys.duplicated().any():
        dup = keys[keys.duplicated()].iloc[0].tolist()
        raise OptionError(f"truth has more than one row for (experiment, label) = {dup}")
    return data.drop(columns="true_ace", errors="ignore").merge(
        truth[list(_TRUTH_COLUMNS)], on=["experiment", "label"], how="left", validate="m:1"
    )


def _one_experiment(ace: pd.DataFrame, experiment: str | None, x: str) -> pd.DataFrame:
    if experiment is None:
        found = ace["experiment"].unique() if "experiment" in ace.columns else []
        if len(found) > 1:
            raise OptionError(
                f"the ACE table holds {len(found)} experiments; pass experiment= (one of "
                f"{list(found)}) to plot x={x!r}"
            )
        return ace
    _require(ace, ("experiment",), "ace")
    return ace[ace["experiment"] == experiment]


def _curve_data(ace: pd.DataFrame, x: str, experiment: str | None) -> pd.DataFrame:
    where = f"experiment={experiment!r}, x={x!r}"
    if x not in ace.columns:
        raise OptionError(
            f"x={x!r} is not a column of the ACE table ({where}); columns: {list(ace.columns)}"
        )
    _require(ace, ("ace", "ci_low", "ci_high"), "ace")
    data = _one_experiment(ace, experiment, x)
    data = data[data[x].notna()]
    if data.empty:
        raise OptionError(f"no effects with a value of x to plot ({where})")
    if not pd.api.types.is_numeric_dtype(data[x]):
        raise OptionError(f"x={x!r} must be a numeric column ({where}), got dtype {data[x].dtype}")
    return data


def _groups(data: pd.DataFrame, hue: str | None, x: str) -> list[tuple[str | None, pd.DataFrame]]:
    if hue is None:
        groups = [(None, data)]
    else:
        if hue not in data.columns:
            raise OptionError(f"hue={hue!r} is not a column of the ACE table")
        groups = [(f"{hue} {key}", g) for key, g in data.groupby(hue, sort=True, dropna=False)]
    for name, group in groups:
        dup = group[x][group[x].duplicated()]
        if not dup.empty:
            raise OptionError(
                f"several effects share {x}={dup.iloc[0]!r} in one line ({name or 'all rows'}); "
                "pass hue= for the column that separates them, or filter the table"
            )
    return [(name, g.sort_values(x)) for name, g in groups]


def plot_effect_curve(
    ace: pd.DataFrame,
    *,
    x: str,
    experiment: str | None = None,
    hue: str | None = None,
    truth: pd.DataFrame | None = None,
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """Plot the ACE against a numeric design parameter with its interval as a shaded band.

    Parameters
    ----------
    ace : DataFrame
        ACE table (``experiment, label, <parameters>, ace, ci_low, ci_high, ...``).
    x : str
        Numeric parameter column on the horizontal axis (``position``, ``count``, ``spacing``).
    experiment : str, optional
        Experiment to plot; required when the table holds several.
    hue : str, optional
        Column drawn as separate lines (e.g. ``orientation``).
    truth : DataFrame, optional
        ``experiment, label, true_ace``; drawn as open markers on a dotted line.
    ax : Axes, optional
        Axes to draw on; a new figure is created when None.
    title : str, optional
        Axes title (default: the experiment name).

    Returns
    -------
    Axes

    Examples
    --------
    >>> import pandas as pd
    >>> ace = pd.DataFrame({"experiment": "pos", "label": ["p0", "p5"], "position": [0, 5],
    ...                     "ace": [0.1, 0.4], "ci_low": [0.0, 0.3], "ci_high": [0.2, 0.5]})
    >>> ax = plot_effect_curve(ace, x="position")
    >>> ax.get_xlabel()
    'position'
    """
    from matplotlib.ticker import MaxNLocator

    data = _with_truth(_curve_data(ace, x, experiment), truth)
    ax = _new_axes(ax)
    truth_labelled = False
    for name, group in _groups(data, hue, x):
        xs = group[x].to_numpy(dtype=float)
        (line,) = ax.plot(
            xs, group["ace"].to_numpy(dtype=float), marker="o", ms=4, label=name or "ACE"
        )
        color = line.get_color()
        lo, hi = group["ci_low"].to_numpy(dtype=float), group["ci_high"].to_numpy(dtype=float)
        ax.fill_between(xs, lo, hi, color=color, alpha=0.2, linewidth=0)
        if "true_ace" in group.columns and group["true_ace"].notna().any():
            ax.plot(
                xs,
                group["true_ace"].to_numpy(dtype=float),
                ls=":",
                marker="o",
                ms=6,
                mfc="none",
                color=color,
                label=None if truth_labelled else "true ACE",
            )
            truth_labelled = True
    ax.axhline(0.0, color="0.4", lw=0.8, ls="--", zorder=0)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(x)
    ax.set_ylabel(ACE_AXIS_LABEL)
    ax.set_title(title if title is not None else (experiment or ""))
    if hue is not None or truth_labelled:
        ax.legend(frameon=False, fontsize="small")
    return ax


def _row_names(data: pd.DataFrame) -> list[str]:
    labels = data["label"].astype(str)
    if "experiment" in data.columns and data["experiment"].nunique() > 1:
        labels = data["experiment"].astype(str) + ": " + labels
    if "output" in data.columns and data["output"].nunique() > 1:  # several model outputs
        labels = labels + " [" + data["output"].astype(str) + "]"
    return labels.tolist()


def plot_forest(
    ace: pd.DataFrame,
    *,
    truth: pd.DataFrame | None = None,
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """Forest plot: one row per effect, the ACE as a point with its interval as a line.

    Rows keep the table's order from top to bottom; labels are prefixed by the experiment when
    the table holds several experiments.

    Examples
    --------
    >>> import pandas as pd
    >>> ace = pd.DataFrame({"experiment": "ctl", "label": ["pos", "neg"], "ace": [1.0, 0.0],
    ...                     "ci_low": [0.8, -0.1], "ci_high": [1.2, 0.1]})
    >>> ax = plot_forest(ace)
    >>> [t.get_text() for t in ax.get_yticklabels()]
    ['pos', 'neg']
    """
    _require(ace, ("label", "ace", "ci_low", "ci_high"), "ace")
    if ace.empty:
        raise OptionError("the ACE table is empty; there is nothing to plot")
    data = _with_truth(ace.reset_index(drop=True), truth)
    n = len(data)
    ax = _new_axes(ax, figsize=(6.4, max(2.4, 0.3 * n + 1.2)))
    y = np.arange(n)[::-1].astype(float)
    ax.hlines(
        y,
        data["ci_low"].to_numpy(dtype=float),
        data["ci_high"].to_numpy(dtype=float),
        color="C0",
        lw=1.6,
    )
    ax.plot(data["ace"].to_numpy(dtype=float), y, "o", color="C0", ms=5, label="ACE, interval")
    if "true_ace" in data.columns and data["true_ace"].notna().any():
        ax.plot(
            data["true_ace"].to_numpy(dtype=float),
            y,
            "D",
            mfc="none",
            color="C3",
            ms=6,
            ls="none",
            label="true ACE",
        )
        ax.legend(frameon=False, fontsize="small")
    ax.axvline(0.0, color="0.4", lw=0.8, ls="--", zorder=0)
    ax.set_yticks(y, _row_names(data))
    ax.set_ylim(-0.7, n - 0.3)
    ax.set_xlabel(ACE_AXIS_LABEL)
    ax.set_title(title or "")
    return ax


def plot_ice_distribution(
    ice: pd.DataFrame,
    *,
    labels: list[str] | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Box plots of the per-background ICE for each label (the mean, i.e. the ACE, as a triangle).

    A randomized design has no ICE column; then the outcome ``y`` is shown per arm.

    Examples
    --------
    >>> import pandas as pd
    >>> ice = pd.DataFrame({"experiment": "e", "label": ["a"] * 3 + ["b"] * 3,
    ...                     "ice": [0.1, 0.2, 0.3, -0.1, 0.0, 0.4]})
    >>> ax = plot_ice_distribution(ice)
    >>> [t.get_text() for t in ax.get_xticklabels()]
    ['a', 'b']
    """
    value = "ice" if "ice" in ice.columns else "y"
    _require(ice, ("label", value), "ice")
    wanted = list(dict.fromkeys(ice["label"])) if labels is None else list(labels)
    unknown = sorted(set(wanted) - set(ice["label"]))
    if unknown or not wanted:
        raise OptionError(f"labels {unknown or wanted} are not in the ICE table's label column")
    data = ice[ice["label"].isin(wanted)]
    keys = ["experiment", "label"] if "experiment" in data.columns else ["label"]
    groups = list(data.groupby(keys, sort=False))
    groups.sort(key=lambda kg: wanted.index(kg[1]["label"].iloc[0]))
    names = _row_names(pd.concat([g.head(1) for _, g in groups]))
    ax = _new_axes(ax, figsize=(max(4.0, 0.5 * len(groups) + 2.0), 4.0))
    positions = np.arange(1, len(groups) + 1)
    ax.boxplot(
        [g[value].to_numpy(dtype=float) for _, g in groups],
        positions=positions,
        widths=0.6,
        showmeans=True,
    )
    ax.axhline(0.0, color="0.4", lw=0.8, ls="--", zorder=0)
    long = max(len(s) for s in names) > 6
    ax.set_xticks(positions, names, rotation=45 if long else 0, ha="right" if long else "center")
    ax.set_ylabel("ICE = f(do(x)) − f(x)" if value == "ice" else "f(x)")
    return ax


def plot_predicted_vs_measured(
    predicted: np.ndarray,
    measured: np.ndarray,
    *,
    labels: Sequence[str] | None = None,
    fit: tuple[float, float] | None = None,
    xlabel: str = "in silico",
    ylabel: str = "measured",
    ax: Axes | None = None,
) -> Axes:
    """Scatter of predicted vs measured values, with an optional fitted line (matplotlib).

    Examples
    --------
    >>> ax = plot_predicted_vs_measured(np.arange(3.0), np.arange(3.0))  # doctest: +SKIP
    """
    ax = _new_axes(ax, (4.8, 4.2))
    x, y = np.asarray(predicted, float), np.asarray(measured, float)
    ax.scatter(x, y, s=8 if x.size > 200 else 20, alpha=0.4 if x.size > 200 else 0.8)
    if labels is not None:
        for xi, yi, lab in zip(x, y, labels, strict=True):
            ax.annotate(str(lab), (xi, yi), fontsize=7, xytext=(3, 3), textcoords="offset points")
    if fit is not None:
        grid = np.linspace(x.min(), x.max(), 2)
        ax.plot(grid, fit[1] + fit[0] * grid, color="k", lw=1, label="Deming fit")
        ax.legend(frameon=False)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return ax
