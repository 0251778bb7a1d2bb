"""The oracle models: closed forms against Monte Carlo, and the mechanisms they claim."""

from __future__ import annotations

import numpy as np
import pytest

from causalgia.errors import OptionError
from causalgia.experiment.backgrounds import iid, profile_from_probs
from causalgia.experiment.designs import Arm, sweep_counts, sweep_positions, sweep_spacing
from causalgia.experiment.interventions import Ablate, Compose, Insert, Mutate, Substitute
from causalgia.sequences.alphabet import encode, one_hot
from causalgia.sequences.motifs import Motif
from causalgia.testing import AdditiveOracle, FlakyModel, NaNModel, RBPOracle, reference_ace

PWM = Motif.from_counts([[5, 2, 2, 1], [0, 1, 9, 0], [8, 0, 1, 1]], name="pwm")


def test_additive_closed_form_matches_monte_carlo():
    rng = np.random.default_rng(4)
    oracle = AdditiveOracle(rng.normal(size=(25, 4)))
    backgrounds = [iid(25, gc=0.3), profile_from_probs(rng.dirichlet(np.ones(4), size=25))]
    arms = [
        Arm("exact", Substitute("GATA", 2)),
        Arm("rc", Substitute("GATA", 9, "-")),
        Arm("pwm", Substitute(PWM, 14)),
        Arm("mut", Mutate(20, "C")),
        Arm("random", Ablate(3, 12, fill="random")),
        Arm("both", Compose((Substitute(PWM, 0), Mutate(24, 0)))),
    ]
    for background in backgrounds:
        mc = reference_ace(oracle, background, arms, n=40_000, rng=9).set_index("label")
        for arm in arms:
            exact = oracle.true_ace(arm.intervention, background)
            assert abs(mc.loc[arm.label, "true_ace"] - exact) <= 4 * mc.loc[arm.label, "mc_se"]


def test_shuffle_ablation_is_null_under_iid_and_closed_form_refuses_the_rest():
    oracle = AdditiveOracle(np.random.default_rng(1).normal(size=(20, 4)))
    assert oracle.true_ace(Ablate(2, 10), iid(20)) == 0.0
    mc = reference_ace(oracle, iid(20), [Arm("s", Ablate(2, 10))], n=20_000)
    assert abs(mc.true_ace.iloc[0]) <= 4 * mc.mc_se.iloc[0]
    with pytest.raises(OptionError, match="no closed-form ACE"):
        oracle.true_ace(Insert("GATA", 3), iid(20))


def test_rbp_oracle_mechanisms_hold_in_its_true_effects():
    background = iid(41, alphabet="rna")
    arms = (
        sweep_positions("UGCAUG", [0, 17])
        + sweep_counts("UGCAUG", [1, 2, 3], positions=[6, 18, 30])
        + sweep_spacing("UGCAUG", [0, 10], start=4)
        + [Arm("gc", Substitute("GCGCGC", 35), "gc"), Arm("at", Substitute("AUAUAU", 35), "gc")]
    )
    truth = reference_ace(RBPOracle(), background, arms, n=20_000).set_index("label")
    ace = truth.true_ace
    assert ace["UGCAUG@0+"] < ace["UGCAUG@17+"] - 0.3  # edge effect
    assert ace["UGCAUGx2"] < 2 * ace["UGCAUGx1"] - 0.2  # saturation
    assert ace["UGCAUGx3"] - ace["UGCAUGx2"] < ace["UGCAUGx2"] - ace["UGCAUGx1"]
    assert ace["UGCAUG+UGCAUG+gap0"] < ace["UGCAUG+UGCAUG+gap10"] - 0.1  # close spacing
    assert ace["gc"] > 0.1 > -0.1 > ace["at"]  # 3' GC bias


def test_rbp_oracle_is_row_wise_and_layout_declared():
    oracle = RBPOracle()
    x = one_hot(encode(["UGCAUG" + "A" * 35, "A" * 41, "C" * 41], "rna"))
    together = oracle(x)
    apart = np.concatenate([oracle(x[i : i + 1]) for i in range(3)])
    np.testing.assert_array_equal(together, apart)
    assert (oracle.layout, oracle.alphabet) == ("NCL", "rna")


def test_fault_models():
    base = AdditiveOracle(np.ones((6, 4)))
    x = one_hot(encode(["AAACGT", "CAAAGT"]))
    assert np.isnan(NaNModel(base, prefix="AAA")(x)).tolist() == [True, False]
    flaky = FlakyModel(base, fail_on_call=1, times=2)
    flaky(x)
    for call in (1, 2):
        with pytest.raises(RuntimeError, match=f"call {call}"):
            flaky(x)
    np.testing.assert_array_equal(flaky(x), base(x))
    assert flaky.calls == 4
