"""The simulator: shared controls, keyed determinism, oracle recovery, faults."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from causalgia.engine.declaration import as_model
from causalgia.engine.simulator import simulate
from causalgia.errors import ModelOutputError, SimulationError
from causalgia.experiment.backgrounds import iid, kshuffle
from causalgia.experiment.designs import Arm, design, sweep_counts, sweep_positions, sweep_spacing
from causalgia.experiment.interventions import Compose, Identity, Mutate, Substitute
from causalgia.sequences.motifs import Motif
from causalgia.stats.estimators import estimate_ace
from causalgia.testing import AdditiveOracle, FlakyModel, NaNModel, RBPOracle, reference_ace


class CountingModel:
    """Wraps an oracle and counts the sequences it is asked to score."""

    def __init__(self, base):
        self.base, self.rows, self.layout, self.alphabet = base, 0, base.layout, base.alphabet

    def __call__(self, x):
        self.rows += len(x)
        return self.base(x)


@pytest.fixture
def oracle():
    return AdditiveOracle.from_motif("GATAAG", length=40)


def _arms():
    pwm = Motif.from_counts([[8, 1, 1, 0], [0, 0, 10, 0], [9, 1, 0, 0], [0, 1, 0, 9]], name="pwm")
    return (
        sweep_positions("GATAAG", [0, 10, 30])
        + sweep_positions(pwm, [17], experiment="pwm")
        + [
            Arm("rc", Substitute("GATAAG", 20, "-"), "strand"),
            Arm("mut", Mutate(5, "T"), "mutation"),
            Arm("two", Compose((Substitute("GATA", 2), Substitute("GATA", 25))), "pair"),
            Arm("placebo", Identity(), "placebo"),
        ]
    )


def test_paired_table_schema_and_shared_controls(oracle):
    d = design(iid(40), _arms(), n=60, rng=3)
    counting = CountingModel(oracle)
    res = simulate(as_model(counting), d)
    t = res.table
    assert len(t) == 60 * len(d.arms)
    assert {"experiment", "label", "background_id", "y_control", "y_do", "ice"} <= set(t)
    assert {"position", "strand", "motif"} <= set(t)
    # each background's control is shared by every arm
    assert (t.groupby("background_id")["y_control"].nunique() == 1).all()
    # every sequence scored once: fingerprint probes are 16 rows
    assert counting.rows - 16 == res.n_forward
    # the placebo costs nothing, so at most (P + 1)·n passes and exactly n fewer than that
    assert res.n_forward <= 60 * len(d.arms)
    np.testing.assert_array_equal(t.loc[t.label == "placebo", "ice"].to_numpy(), 0.0)


def test_position_sweep_costs_p_plus_one_times_n(oracle):
    d = design(iid(40), sweep_positions("GGGGGGGG", range(0, 30, 3)), n=50, rng=1)
    res = simulate(as_model(oracle), d)
    assert res.n_forward == (10 + 1) * 50  # not 2·10·50: one shared control per background


@pytest.mark.parametrize("batch_size,chunk", [(1, 5), (7, 33), (1000, 100_000)])
def test_bit_identical_for_any_batch_and_chunk_size(oracle, batch_size, chunk):
    d = design(
        kshuffle(["ACGTTGCAACGTAGCATTGACCATGACGTAGGCATGCAAT"] * 3, k=2), _arms(), n=40, rng=11
    )
    ref = simulate(as_model(oracle, batch_size=256), d).table
    got = simulate(as_model(oracle, batch_size=batch_size), d, chunk_size=chunk).table
    pd.testing.assert_frame_equal(ref, got, check_exact=True)


def test_units_do_not_depend_on_n(oracle):
    small = simulate(as_model(oracle), design(iid(40), _arms(), n=20, rng=5)).table
    large = simulate(as_model(oracle), design(iid(40), _arms(), n=70, rng=5)).table
    pd.testing.assert_frame_equal(small, large[large.background_id < 20].reset_index(drop=True))


def test_seed_controls_results(oracle):
    d = design(iid(40), _arms(), n=30, rng=1)
    a = simulate(as_model(oracle), d).table
    b = simulate(as_model(oracle), d).table
    c = simulate(as_model(oracle), d, rng=2).table
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert not np.array_equal(a.ice, c.ice)


def test_paired_ace_equals_scipy_one_sample_t(oracle):
    res = simulate(as_model(oracle), design(iid(40), _arms(), n=80, rng=9))
    ace = estimate_ace(res).to_frame().set_index("label")
    for label, group in res.table.groupby("label"):
        if label == "placebo":
            continue
        t = stats.ttest_1samp(group.ice, 0.0)
        ci = t.confidence_interval(0.95)
        assert ace.loc[label, "ace"] == pytest.approx(group.ice.mean(), abs=1e-12)
        assert ace.loc[label, "p_value"] == pytest.approx(t.pvalue, abs=1e-12)
        assert ace.loc[label, "ci_low"] == pytest.approx(ci.low, abs=1e-12)
        assert ace.loc[label, "ci_high"] == pytest.approx(ci.high, abs=1e-12)


def test_additive_oracle_ace_recovered_within_4_se(oracle):
    background = iid(40, gc=0.4)
    arms = _arms()
    res = simulate(as_model(oracle), design(background, arms, n=1500, rng=21))
    ace = estimate_ace(res).to_frame().set_index("label")
    for arm in arms:
        truth = oracle.true_ace(arm.intervention, background)
        est = ace.loc[arm.label]
        assert abs(est.ace - truth) <= 4 * est.se + 1e-12, arm.label


def test_rbp_oracle_ace_recovered_within_4_se():
    background = iid(41, alphabet="rna")
    arms = (
        sweep_positions("UGCAUG", [0, 17])
        + sweep_counts("UGCAUG", [2], positions=[6, 20])
        + sweep_spacing("UGCAUG", [0, 10], start=4)
    )
    res = simulate(as_model(RBPOracle()), design(background, arms, n=800, rng=2))
    ace = estimate_ace(res).to_frame().set_index("label")
    truth = reference_ace(RBPOracle(), background, arms, n=20_000).set_index("label")
    for label in truth.index:
        se = np.hypot(ace.loc[label, "se"], truth.loc[label, "mc_se"])
        assert abs(ace.loc[label, "ace"] - truth.loc[label, "true_ace"]) <= 4 * se, label


def test_randomized_design_one_row_per_background_and_welch_recovers(oracle):
    background = iid(40)
    arms = sweep_positions("GATAAG", [10, 30])
    res = simulate(as_model(oracle), design(background, arms, n=3000, kind="randomized", rng=4))
    t = res.table
    assert len(t) == 3000 and t.background_id.is_unique and res.n_forward == 3000
    assert set(t.label) == {"control", *[a.label for a in arms]}
    ace = estimate_ace(res, method="welch").to_frame().set_index("label")
    for arm in arms:
        truth = oracle.true_ace(arm.intervention, background)
        assert abs(ace.loc[arm.label, "ace"] - truth) <= 4 * ace.loc[arm.label, "se"]


def test_nan_outputs_name_arm_and_background(oracle):
    d = design(iid(40), sweep_positions("GATAAG", [10]), n=200, rng=1)
    with pytest.raises(ModelOutputError, match=r"non-finite model output.*background \d+"):
        simulate(as_model(NaNModel(oracle, prefix="AA")), d)


def test_model_that_raises_names_the_chunk(oracle):
    d = design(iid(40), sweep_positions("GATAAG", [10]), n=100, rng=1)
    flaky = FlakyModel(oracle, fail_on_call=2)
    with pytest.raises(SimulationError, match=r"chunk 2 \(backgrounds 20\.\.29\).*injected"):
        simulate(as_model(flaky, batch_size=1000), d, chunk_size=20)
