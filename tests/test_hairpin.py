"""Hairpin designs: exact layouts, keyed stems, spans, errors, and folding checks (ViennaRNA)."""

from __future__ import annotations

import numpy as np
import pytest

from causalgia import backgrounds as bgs
from causalgia.engine.simulator import simulate
from causalgia.errors import InterventionError, OptionError
from causalgia.experiment.designs import Arm, design
from causalgia.experiment.hairpin import CONTEXTS, Hairpin, fold_check, motif_context, pair_table
from causalgia.sequences.alphabet import decode, encode, reverse_complement
from causalgia.testing import AdditiveOracle

BLANK = encode(["A" * 24])


@pytest.mark.parametrize(
    ("hairpin", "expected"),
    [
        (
            Hairpin("GCUGG", 2, "loop", stem_length=4, loop_length=9, stem="GGAC"),
            "AAGGACAAGCUGGAAGUCCAAAAA",
        ),
        (
            Hairpin("GCUGG", 2, "stem", stem_length=5, loop_length=7, stem="AAAAA"),
            "AAGCUGGAAAAAAACCAGCAAAAA",
        ),
        (
            Hairpin("GCUGG", 2, "unstructured", stem_length=4, loop_length=9),
            "AAAAAAAAGCUGGAAAAAAAAAAA",
        ),
        (
            Hairpin("GCUGG", 2, "hairpin_only", stem_length=4, loop_length=9, stem="GGAC"),
            "AAGGACAAAAAAAAAGUCCAAAAA",
        ),
    ],
    ids=["loop", "stem", "unstructured", "hairpin_only"],
)
def test_layouts_are_exact(hairpin, expected):
    before = BLANK.copy()
    assert decode(hairpin.apply(BLANK), "rna")[0] == expected
    np.testing.assert_array_equal(BLANK, before)  # input untouched


def test_right_stem_pairs_with_left_and_draws_are_keyed():
    codes = bgs.iid(40).sample(50, rng=1)
    hp = Hairpin("GCUGG", 5, "loop")
    keys = np.arange(50, dtype=np.uint64) * np.uint64(7919)
    a, b = hp.apply_keyed(codes, keys), hp.apply_keyed(codes, keys)
    np.testing.assert_array_equal(a, b)
    s, lp = hp.stem_length, hp.loop_length
    left, right = a[:, 5 : 5 + s], a[:, 5 + s + lp : 5 + 2 * s + lp]
    np.testing.assert_array_equal(reverse_complement(left), right)
    assert len({row.tobytes() for row in left}) > 40  # stems vary by unit
    gc = np.isin(hp.stems(np.arange(4000, dtype=np.uint64)), [1, 2]).mean()
    assert abs(gc - hp.gc) < 0.03
    assert hp.spans(40) == [(5, 13), (15, 20), (22, 30)]
    assert Hairpin("GCUGG", 5, "unstructured").spans(40) == [(15, 20)]


def test_errors_name_the_problem():
    with pytest.raises(InterventionError, match="does not fit a loop"):
        Hairpin("GCUGGAAAAA", 0, "loop", loop_length=7)
    with pytest.raises(InterventionError, match="does not fit a stem"):
        Hairpin("GCUGGAAAAA", 0, "stem", stem_length=6)
    with pytest.raises(InterventionError, match="stem 'GGX'"):
        Hairpin("GCUGG", 0, "loop", stem_length=3, stem="GGX")
    with pytest.raises(InterventionError, match="valid starts"):
        Hairpin("GCUGG", 20, "loop").spans(30)
    with pytest.raises(OptionError, match="context"):
        Hairpin("GCUGG", 0, "bulge")


def test_structure_helpers():
    assert pair_table("((..)).").tolist() == [5, 4, -1, -1, 1, 0, -1]
    with pytest.raises(OptionError, match="unbalanced"):
        pair_table("(()")
    assert motif_context("((((.....))))", 4, 5) == "hairpin_loop"
    assert motif_context("((((.....))))", 0, 4) == "paired"
    assert motif_context("....((...))..", 0, 3) == "unpaired"
    assert motif_context("((.((...))..))", 10, 2) == "unpaired"  # interior loop
    assert motif_context("((((.....))))", 2, 4) == "mixed"


def test_hairpin_arms_run_in_a_paired_design():
    arms = [Arm(c, Hairpin("GCTGG", 6, c), "hairpin", {"context": c}) for c in CONTEXTS]
    oracle = AdditiveOracle.from_motif("GCTGG", length=41)
    res = simulate(oracle, design(bgs.iid(41), arms, n=20, rng=0), progress=False)
    assert set(res.table["label"]) == set(CONTEXTS)


def test_fold_check_reports_intended_fraction():
    pytest.importorskip("RNA")
    codes = bgs.iid(41, alphabet="rna").sample(40, rng=3)
    fixed = Hairpin("GCUGG", 10, "loop", stem_length=7, loop_length=7, stem="GGCGCCG")
    fc = fold_check(fixed.apply(codes, rng=0), fixed)
    frac = fc.fractions()
    assert frac["n"].iloc[0] == 40 and frac["fraction_intended"].iloc[0] >= 0.8
    assert set(fc.to_frame().columns) >= {"structure", "mfe", "motif_context", "intended"}
    stem = Hairpin("GCUGG", 10, "stem", stem_length=7, loop_length=7)
    assert (
        fold_check(stem.apply(codes, rng=0), stem).fractions()["fraction_intended"].iloc[0] >= 0.8
    )
    assert "loop" in fc.summary()
