"""Tests of causalgia.reporting.plot: effect curves, forest plots and ICE distributions."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

from causalgia.errors import OptionError
from causalgia.reporting.plot import plot_effect_curve, plot_forest, plot_ice_distribution

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    yield
    plt.close("all")


def _ace() -> pd.DataFrame:
    pos = np.tile([0, 10, 20], 2)
    ace = np.linspace(0.0, 1.0, 6)
    sweep = pd.DataFrame(
        {
            "experiment": "pos",
            "label": [f"p{p}{s}" for p, s in zip(pos, "+++---", strict=True)],
            "position": pos,
            "orientation": list("+++---"),
            "ace": ace,
            "ci_low": ace - 0.1,
            "ci_high": ace + 0.1,
        }
    )
    controls = pd.DataFrame(
        {
            "experiment": "ctl",
            "label": ["pos", "neg"],
            "ace": [1.0, 0.0],
            "ci_low": [0.8, -0.2],
            "ci_high": [1.2, 0.2],
        }
    )
    return pd.concat([sweep, controls], ignore_index=True)


def _truth() -> pd.DataFrame:
    ace = _ace()
    return pd.DataFrame({"experiment": ace["experiment"], "label": ace["label"], "true_ace": 0.5})


def test_effect_curve_returns_axes_with_band_per_hue() -> None:
    ax = plot_effect_curve(_ace(), x="position", experiment="pos", hue="orientation")
    assert isinstance(ax, Axes)
    assert len(ax.collections) == 2  # one interval band per orientation
    assert ax.get_xlabel() == "position"
    assert "f(do(x))" in ax.get_ylabel()
    assert ax.get_title() == "pos"


def test_effect_curve_draws_truth_and_uses_given_ax() -> None:
    fig, given = plt.subplots()
    ax = plot_effect_curve(
        _ace(), x="position", experiment="pos", hue="orientation", truth=_truth(), ax=given
    )
    assert ax is given
    dotted = [line for line in ax.get_lines() if line.get_linestyle() == ":"]
    assert len(dotted) == 2
    assert "true ACE" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_effect_curve_rejects_bad_x_naming_experiment_and_x() -> None:
    with pytest.raises(OptionError, match="'spacing'.*'pos'|'pos'.*'spacing'"):
        plot_effect_curve(_ace(), x="spacing", experiment="pos")


def test_effect_curve_rejects_empty_subset() -> None:
    with pytest.raises(OptionError, match="experiment='nope'.*x='position'"):
        plot_effect_curve(_ace(), x="position", experiment="nope")


def test_effect_curve_needs_experiment_when_table_has_several() -> None:
    with pytest.raises(OptionError, match="experiment="):
        plot_effect_curve(_ace(), x="position")


def test_effect_curve_rejects_duplicate_x_without_hue() -> None:
    with pytest.raises(OptionError, match="hue="):
        plot_effect_curve(_ace(), x="position", experiment="pos")


def test_truth_with_duplicate_keys_is_rejected() -> None:
    truth = pd.concat([_truth(), _truth()])
    with pytest.raises(OptionError, match="more than one row"):
        plot_forest(_ace(), truth=truth)


def test_forest_labels_rows_top_to_bottom() -> None:
    ace = _ace()
    ax = plot_forest(ace[ace["experiment"] == "ctl"], truth=_truth())
    assert isinstance(ax, Axes)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["pos", "neg"]
    assert ax.get_legend() is not None


def test_forest_prefixes_experiment_and_accepts_ax() -> None:
    fig, given = plt.subplots()
    ax = plot_forest(_ace(), ax=given, title="all")
    assert ax is given and ax.get_title() == "all"
    names = [t.get_text() for t in ax.get_yticklabels()]
    assert names[0] == "pos: p0+" and names[-1] == "ctl: neg"


def test_forest_rejects_empty_table() -> None:
    with pytest.raises(OptionError, match="empty"):
        plot_forest(_ace().iloc[:0])


def _ice() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {"experiment": "e", "label": np.repeat(["a", "b", "c"], 10), "ice": rng.normal(size=30)}
    )


def test_ice_distribution_orders_and_filters_labels() -> None:
    ax = plot_ice_distribution(_ice(), labels=["c", "a"])
    assert isinstance(ax, Axes)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["c", "a"]
    assert ax.get_ylabel().startswith("ICE")


def test_ice_distribution_uses_y_for_randomized_designs_and_given_ax() -> None:
    ice = _ice().rename(columns={"ice": "y"})
    fig, given = plt.subplots()
    assert plot_ice_distribution(ice, ax=given) is given
    assert given.get_ylabel() == "f(x)"


def test_ice_distribution_rejects_unknown_label() -> None:
    with pytest.raises(OptionError, match="'z'"):
        plot_ice_distribution(_ice(), labels=["a", "z"])


def test_import_plot_does_not_import_matplotlib() -> None:
    code = "import causalgia.reporting.plot, sys; assert 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
