"""Sample-size planning from a pilot run, against statsmodels.stats.power."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.power import TTestIndPower, TTestPower

from causalgia.engine.declaration import as_model
from causalgia.engine.simulator import simulate
from causalgia.errors import EstimationError, OptionError
from causalgia.experiment.backgrounds import iid
from causalgia.experiment.designs import Arm, design
from causalgia.experiment.interventions import Identity, Substitute
from causalgia.stats.planning import mde_for_n, n_for_mde, plan_sample_size, power_curve, sd_upper
from causalgia.testing import AdditiveOracle

ORACLE = AdditiveOracle(np.random.default_rng(0).normal(size=(30, 4)))
ARMS = [Arm("a", Substitute("GATA", 3)), Arm("b", Substitute("TTGCA", 15)), Arm("p", Identity())]


@pytest.fixture(scope="module")
def pilot():
    return simulate(as_model(ORACLE), design(iid(30), ARMS, n=40, rng=3), progress=False)


def test_plan_for_a_half_width(pilot):
    plan = plan_sample_size(pilot, half_width=0.25)
    rows = plan.table.set_index("label")
    for label in ("a", "b"):
        sd = pilot.table.loc[pilot.table["label"] == label, "ice"].std(ddof=1)
        n = rows.loc[label, "n_paired"]
        assert stats.t.ppf(0.975, n - 1) * sd / np.sqrt(n) <= 0.25
        assert stats.t.ppf(0.975, n - 2) * sd / np.sqrt(n - 1) > 0.25
    assert plan.n == rows["n_paired"].max()
    assert plan.n_forward == plan.n * 3  # the placebo changes nothing and costs nothing
    assert plan.n_forward_unpaired > plan.n_forward
    assert "completely randomized" in plan.summary()


def test_plan_for_a_minimal_detectable_effect_matches_statsmodels(pilot):
    plan = plan_sample_size(pilot, mde=0.5, power=0.9, alpha=0.01)
    row = plan.table.set_index("label").loc["a"]
    ref = TTestPower().solve_power(effect_size=0.5 / row["sd_ice"], alpha=0.01, power=0.9)
    assert row["n_paired"] == int(np.ceil(ref))
    pooled = np.sqrt((row["sd_y_do"] ** 2 + row["sd_y_control"] ** 2) / 2)
    ref_u = TTestIndPower().solve_power(effect_size=0.5 / pooled, alpha=0.01, power=0.9)
    assert row["n_per_group_unpaired"] == int(np.ceil(ref_u))


def test_assurance_uses_the_upper_confidence_bound_of_sd(pilot):
    base = plan_sample_size(pilot, half_width=0.25).table.set_index("label")
    safe = plan_sample_size(pilot, half_width=0.25, assurance=0.9).table.set_index("label")
    assert (safe["n_paired"] >= base["n_paired"]).all()
    assert sd_upper(1.0, 30, 0.9) == pytest.approx(np.sqrt(29 / stats.chi2.ppf(0.1, 29)))
    x = np.random.default_rng(1).normal(size=(20000, 30)).std(axis=1, ddof=1)
    assert np.mean(np.array([sd_upper(s, 30, 0.9) for s in x[:4000]]) >= 1.0) == pytest.approx(
        0.9, abs=0.015
    )


def test_power_helpers_agree_with_statsmodels():
    assert n_for_mde(2.0, 1.0) == int(np.ceil(TTestPower().solve_power(0.5, alpha=0.05, power=0.8)))
    curve = power_curve(2.0, 30, np.array([0.0, 1.0, -1.0]))
    ref = TTestPower().power(effect_size=0.5, nobs=30, alpha=0.05)
    assert curve["power"].iloc[1] == pytest.approx(ref) and curve["power"].iloc[2] == pytest.approx(
        ref
    )
    assert mde_for_n(2.0, 30) == pytest.approx(
        2.0 * TTestPower().solve_power(effect_size=None, nobs=30, alpha=0.05, power=0.8)
    )


def test_plan_input_checks(pilot):
    with pytest.raises(OptionError, match="exactly one"):
        plan_sample_size(pilot)
    with pytest.raises(OptionError, match="exactly one"):
        plan_sample_size(pilot, half_width=0.1, mde=0.2)
    tiny = pd.DataFrame(
        {
            "experiment": "e",
            "label": "a",
            "background_id": [0, 1],
            "y_control": 0.0,
            "y_do": [1.0, 2.0],
            "ice": [1.0, 2.0],
        }
    )
    with pytest.raises(EstimationError, match="label 'a'.*>= 3"):
        plan_sample_size(tiny, half_width=0.1)
