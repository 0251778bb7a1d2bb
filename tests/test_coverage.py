"""Calibration of the paired 95% interval over many simulated experiments with a known truth.

Fast tier: R = 200 experiments (400 intervals), band 0.90-0.99 (the smoke test of the walking
skeleton).
Slow tier: R = 1,000, band 0.926-0.971 for coverage and 0.029-0.074 for the type-I error of a
negative control whose true ACE is exactly 0 but whose ICEs vary (a shuffle ablation under an iid
background) — the binomial 99.9% bands of DESIGN.md §6.
"""

from __future__ import annotations

import numpy as np
import pytest

from causalgia.engine.declaration import as_model
from causalgia.engine.simulator import simulate
from causalgia.experiment.backgrounds import iid
from causalgia.experiment.designs import Arm, design
from causalgia.experiment.interventions import Ablate, Substitute
from causalgia.sequences.motifs import Motif
from causalgia.stats.estimators import estimate_ace
from causalgia.testing import AdditiveOracle

LENGTH = 30
# A degenerate PWM gives each unit its own instance, so the ICE distribution is skewed and wide.
PWM = Motif.from_counts([[6, 2, 1, 1], [1, 1, 7, 1], [7, 1, 1, 1], [1, 1, 1, 7]], name="pwm")
# Position-specific random weights: ICEs differ between backgrounds for every intervention.
ORACLE = AdditiveOracle(np.random.default_rng(0).normal(size=(LENGTH, 4)))
BACKGROUND = iid(LENGTH, gc=0.4)
ARMS = [Arm("pwm@12", Substitute(PWM, 12)), Arm("site@3", Substitute("GATA", 3))]
NULL_ARM = Arm("shuffle", Ablate(8, 20, fill="shuffle"))


def _coverage(replicates: int, n: int) -> tuple[float, float]:
    model = as_model(ORACLE)
    truth = {a.label: ORACLE.true_ace(a.intervention, BACKGROUND) for a in ARMS}
    covered, total = 0, 0
    for r in range(replicates):
        res = simulate(model, design(BACKGROUND, ARMS, n=n, rng=1000 + r), progress=False)
        for row in estimate_ace(res).to_frame().itertuples():
            covered += row.ci_low <= truth[row.label] <= row.ci_high
            total += 1
    return covered / total, total


def _type_one_error(replicates: int, n: int) -> float:
    model = as_model(ORACLE)
    assert ORACLE.true_ace(NULL_ARM.intervention, BACKGROUND) == 0.0
    rejections = 0
    for r in range(replicates):
        res = simulate(
            model, design(BACKGROUND, [NULL_ARM, *ARMS], n=n, rng=5000 + r), progress=False
        )
        p = estimate_ace(res).to_frame().set_index("label").loc["shuffle", "p_value"]
        rejections += p < 0.05
    return rejections / replicates


def test_paired_interval_coverage_smoke():
    coverage, total = _coverage(replicates=200, n=30)  # 200 experiments, 2 arms: 400 intervals
    assert total == 400
    assert 0.90 <= coverage <= 0.99


@pytest.mark.slow
def test_paired_interval_coverage_gate():
    coverage, total = _coverage(replicates=500, n=30)  # 1,000 intervals
    assert total == 1000
    assert 0.926 <= coverage <= 0.971


@pytest.mark.slow
def test_negative_control_type_one_error_gate():
    assert 0.029 <= _type_one_error(replicates=1000, n=30) <= 0.074
