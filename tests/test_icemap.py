"""Local (one sequence) and global (population) saturation-mutagenesis ICE maps."""

from __future__ import annotations

import numpy as np
import pytest

from causalgia.analyses.icemap import global_ice_map, ice_map
from causalgia.engine.declaration import as_model
from causalgia.errors import InvalidSequenceError, OptionError
from causalgia.experiment.backgrounds import iid
from causalgia.experiment.interventions import Mutate
from causalgia.sequences.alphabet import encode
from causalgia.stats.estimators import estimate_ace
from causalgia.testing import AdditiveOracle, RBPOracle

ORACLE = AdditiveOracle(np.random.default_rng(0).normal(size=(12, 4)))


def test_local_map_is_every_single_base_ice():
    seq = "ACGTTGCAACGT"
    m = ice_map(ORACLE, seq)
    assert m.table.shape == (48, 6) and m.matrix().shape == (12, 4)
    codes = encode(seq)
    y0 = ORACLE.predict_codes(codes[None, :])[0]
    for row in m.table.sample(10, random_state=1).itertuples():
        mutant = Mutate(row.position, row.base).apply(codes[None, :])
        assert row.ice == pytest.approx(ORACLE.predict_codes(mutant)[0] - y0, abs=1e-12)
    ref = m.table[m.table["ref"] == m.table["base"]]
    assert (ref["ice"] == 0.0).all() and len(ref) == 12
    w = ORACLE.weights  # additive model: the ICE is the weight difference
    assert m.matrix()[5] == pytest.approx(w[5] - w[5, codes[5]])
    assert "ICE" in m.summary()


def test_local_map_on_rna_and_bad_input():
    m = ice_map(RBPOracle(), "A" * 17 + "UGCAUG" + "A" * 18, positions=[17, 18])
    assert set(m.table["base"]) == {"A", "C", "G", "U"}
    assert (m.table.loc[m.table["ref"] != m.table["base"], "ice"] < 0).all()  # breaks the site
    with pytest.raises(InvalidSequenceError, match="position 2"):
        ice_map(ORACLE, "ACNT" + "A" * 8)
    with pytest.raises(OptionError, match="outside"):
        ice_map(ORACLE, "A" * 12, positions=[12])


def test_global_map_is_estimate_ace_over_mutation_arms_and_covers_the_truth():
    g = global_ice_map(ORACLE, iid(12), n=200, positions=[2, 7], rng=4)
    t = g.estimates.table
    assert t["label"].tolist() == ["2A", "2C", "2G", "2T", "7A", "7C", "7G", "7T"]
    again = estimate_ace(g.result).table
    assert np.array_equal(t["ace"].to_numpy(), again["ace"].to_numpy())
    truth = np.array([ORACLE.true_ace(Mutate(p, b), iid(12)) for p in (2, 7) for b in "ACGT"])
    inside = (t["ci_low"] <= truth) & (truth <= t["ci_high"])
    assert inside.mean() >= 0.75
    assert g.matrix().shape == (2, 4) and g.matrix("q_value").max() <= 1
    assert "GlobalIceMap" in g.summary()
    assert g.result.n_forward < 200 * 9  # mutations to the base already present cost nothing


def test_global_map_default_positions_cover_the_sequence():
    g = global_ice_map(as_model(ORACLE), iid(12), n=10, rng=1)
    assert len(g.estimates) == 48
