"""Tests for causalgia.design: paired/randomized layouts, keyed seeds, sweeps, validation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from causalgia import Arm, design, sweep_counts, sweep_positions, sweep_spacing
from causalgia._rng import unit_keys
from causalgia.errors import InterventionError, OptionError
from causalgia.experiment.backgrounds import iid
from causalgia.experiment.interventions import Compose, Mutate, Substitute
from causalgia.sequences.alphabet import decode, encode

BASE_COLUMNS = ["experiment", "label", "background_id", "arm", "unit_seed"]
_COMP = {"A": "T", "C": "G", "G": "C", "T": "A"}


def _rc(s: str) -> str:
    return "".join(_COMP[c] for c in reversed(s))


def _poly_a(length: int) -> np.ndarray:
    return encode(["A" * length])


# ---------------------------------------------------------------- paired to_frame
def test_paired_frame_shape_and_columns() -> None:
    arms = sweep_positions("GATA", [0, 10, 20]) + [Arm("mut", Mutate(3, "G"), "snv", {"site": 3})]
    n = 7
    d = design(iid(30), arms, n=n, rng=4)
    f = d.to_frame()
    assert len(f) == n * (len(arms) + 1) == d.n_forward
    assert list(f.columns) == [
        "experiment", "label", "motif", "position", "strand", "site",
        "background_id", "arm", "unit_seed",
    ]  # fmt: skip
    assert f["label"].tolist() == ["control"] * n + [a.label for a in arms for _ in range(n)]
    for label, group in f.groupby("label", sort=False):
        assert group["background_id"].tolist() == list(range(n)), label
    assert set(f.loc[f["label"] == "control", "arm"]) == {"control"}
    assert set(f.loc[f["label"] != "control", "arm"]) == {"do"}
    pos = f.loc[f["label"] == "GATA@10+"]
    assert set(pos["position"]) == {10} and set(pos["strand"]) == {"+"}
    assert set(pos["motif"]) == {"GATA"} and set(pos["experiment"]) == {"position"}
    assert f.loc[f["label"] == "control", "position"].isna().all()
    assert set(f.loc[f["label"] == "mut", "site"]) == {3}
    assert f["unit_seed"].dtype == np.uint64
    assert f["unit_seed"].is_unique


def test_paired_unit_seeds_are_the_keyed_streams() -> None:
    arms = sweep_positions("GATA", [0, 5])
    d = design(iid(12), arms, n=6, rng=99)
    f = d.to_frame()
    ids = np.arange(6)
    control = f.loc[f["label"] == "control", "unit_seed"].to_numpy()
    # the control seed is the stream the background itself is drawn from
    assert np.array_equal(control, unit_keys(d.seed, ids, "background"))
    for arm in arms:
        got = f.loc[f["label"] == arm.label, "unit_seed"].to_numpy()
        assert np.array_equal(got, arm.keys(d.seed, ids))


def test_unit_seeds_keyed_by_background_id_not_by_n() -> None:
    arms = sweep_positions("GATA", [0, 5])
    small = design(iid(12), arms, n=5, rng=3).to_frame()
    big = design(iid(12), arms, n=40, rng=3).to_frame()
    merged = small.merge(big, on=["label", "background_id"], suffixes=("_s", "_b"))
    assert len(merged) == len(small)
    assert (merged["unit_seed_s"] == merged["unit_seed_b"]).all()


def test_same_seed_same_frame_and_with_seed_changes_seeds() -> None:
    arms = sweep_positions("GATA", [0, 5])
    d = design(iid(12), arms, n=10, rng=1)
    pd.testing.assert_frame_equal(d.to_frame(), design(iid(12), arms, n=10, rng=1).to_frame())
    other = d.with_seed(2)
    assert other.seed == 2 and d.seed == 1
    a, b = d.to_frame(), other.to_frame()
    pd.testing.assert_frame_equal(a.drop(columns="unit_seed"), b.drop(columns="unit_seed"))
    assert not np.any(a["unit_seed"].to_numpy() == b["unit_seed"].to_numpy())
    pd.testing.assert_frame_equal(d.with_seed(1).to_frame(), a)
    gen_seed = d.with_seed(np.random.default_rng(5)).seed
    assert gen_seed == int(np.random.default_rng(5).integers(0, 2**63, dtype=np.int64))


# ---------------------------------------------------------------- randomized
def test_randomized_assignment_uniform_and_keyed() -> None:
    arms = sweep_positions("GATA", [0, 5, 10])
    n = 6000
    d = design(iid(20), arms, n=n, kind="randomized", rng=7)
    assign = d.assignment()
    assert assign.shape == (n,) and set(assign.tolist()) <= {-1, 0, 1, 2}
    counts = np.bincount(assign + 1, minlength=len(arms) + 1)
    assert stats.chisquare(counts).pvalue >= 0.001
    # keyed: a subset of ids in any order gets the same assignment as in the full computation
    subset = np.array([5999, 3, 1234, 0, 77, 4500])
    assert np.array_equal(d.assignment(subset), assign[subset])
    smaller = design(iid(20), arms, n=50, kind="randomized", rng=7)
    assert np.array_equal(smaller.assignment(), assign[:50])
    # a different seed gives a different assignment
    assert not np.array_equal(d.with_seed(8).assignment(), assign)


def test_randomized_frame_one_row_per_background() -> None:
    arms = sweep_positions("GATA", [0, 5])
    d = design(iid(20), arms, n=300, kind="randomized", rng=11)
    f = d.to_frame()
    assert len(f) == 300 == d.n_forward
    assert sorted(f["background_id"].tolist()) == list(range(300))
    assign = d.assignment()
    names = ["control"] + [a.label for a in arms]
    by_id = f.set_index("background_id")["label"]
    assert all(by_id[i] == names[assign[i] + 1] for i in range(300))
    assert (f.loc[f["label"] == "control", "arm"] == "control").all()
    assert (f.loc[f["label"] != "control", "arm"] == "do").all()


def test_assignment_only_for_randomized() -> None:
    d = design(iid(20), sweep_positions("GATA", [0]), n=3, rng=0)
    with pytest.raises(OptionError, match="kind='randomized'"):
        d.assignment()


# ---------------------------------------------------------------- validation
def test_duplicate_labels_raise() -> None:
    arms = [Arm("site", Substitute("GATA", 0)), Arm("site", Substitute("GATA", 5))]
    with pytest.raises(OptionError, match="arm label 'site' appears twice in experiment 'main'"):
        design(iid(20), arms, n=4, rng=0)
    # the same label in two experiments is fine
    ok = [Arm("site", Substitute("GATA", 0), "e1"), Arm("site", Substitute("GATA", 5), "e2")]
    assert len(design(iid(20), ok, n=4, rng=0).to_frame()) == 12


def test_empty_arms_raise() -> None:
    with pytest.raises(OptionError, match="at least one arm"):
        design(iid(20), [], n=4, rng=0)


def test_motif_that_does_not_fit_names_the_arm() -> None:
    arms = sweep_positions("GATA", [0, 17])
    with pytest.raises(
        InterventionError, match=r"arm 'GATA@17\+' \(position\): .*position 17 .*length 20"
    ):
        design(iid(20), arms, n=4, rng=0)
    long = [Arm("too-long", Substitute("GATAGATAGATA", 0))]
    with pytest.raises(InterventionError, match=r"arm 'too-long' \(main\): .*width 12"):
        design(iid(10), long, n=4, rng=0)


def test_overlapping_compose_arm_names_the_arm() -> None:
    arm = Arm("clash", Compose((Substitute("GATA", 0), Substitute("CC", 2))))
    with pytest.raises(InterventionError, match=r"arm 'clash' .*overlap"):
        design(iid(20), [arm], n=4, rng=0)


@pytest.mark.parametrize(
    ("n", "pattern"),
    [(1, "n must be >= 2, got 1"), (0, "got 0"), (2.5, "n must be an integer"), (True, "got True")],
)
def test_bad_n_raises(n, pattern: str) -> None:
    with pytest.raises(OptionError, match=pattern):
        design(iid(20), sweep_positions("GATA", [0]), n=n, rng=0)


def test_bad_kind_raises() -> None:
    with pytest.raises(OptionError, match=r"kind='crossover' is not allowed.*paired.*randomized"):
        design(iid(20), sweep_positions("GATA", [0]), n=4, kind="crossover", rng=0)


def test_arm_validation() -> None:
    with pytest.raises(OptionError, match="'control' is empty or reserved"):
        Arm("control", Substitute("GATA", 0))
    with pytest.raises(OptionError, match="'' is empty or reserved"):
        Arm("", Substitute("GATA", 0))
    with pytest.raises(OptionError, match="arm 'x': intervention must be an Intervention"):
        Arm("x", "GATA")
    with pytest.raises(OptionError, match="arms must be Arm objects, got Substitute"):
        design(iid(20), [Substitute("GATA", 0)], n=4, rng=0)


# ---------------------------------------------------------------- sweeps read back
def test_sweep_positions_read_back() -> None:
    for strand in ("+", "-"):
        arms = sweep_positions("GGTC", [0, 7, 16], strand=strand)
        assert [a.params["position"] for a in arms] == [0, 7, 16]
        inst = "GGTC" if strand == "+" else _rc("GGTC")
        for arm, p in zip(arms, [0, 7, 16], strict=True):
            got = decode(arm.intervention.apply(_poly_a(20)))[0]
            assert got == "A" * p + inst + "A" * (16 - p), (strand, p)
            assert arm.label == f"GGTC@{p}{strand}" and arm.experiment == "position"


def test_sweep_counts_read_back() -> None:
    positions = [2, 10, 20]
    arms = sweep_counts("GCTG", [1, 2, 3], positions=positions)
    assert [a.label for a in arms] == ["GCTGx1", "GCTGx2", "GCTGx3"]
    for arm in arms:
        k = arm.params["count"]
        seq = decode(arm.intervention.apply(_poly_a(30)))[0]
        expected = ["A"] * 30
        for p in positions[:k]:
            expected[p : p + 4] = list("GCTG")
        assert seq == "".join(expected), k
        assert seq.count("GCTG") == k


def test_sweep_counts_errors() -> None:
    with pytest.raises(OptionError, match="count 3 needs at least 3 positions, got 2"):
        sweep_counts("GATA", [3], positions=[0, 10])
    with pytest.raises(OptionError, match="count must be >= 1, got 0"):
        sweep_counts("GATA", [0], positions=[0, 10])


def test_sweep_spacing_read_back_both_orientations() -> None:
    first, second, start, length = "GGC", "TGCC", 4, 30
    arms = sweep_spacing(first, [0, 3, 7], start=start, motif_b=second, orientations=("+", "-"))
    assert len(arms) == 6
    for arm in arms:
        gap, orient = arm.params["spacing"], arm.params["orientation"]
        assert arm.label == f"GGC+TGCC{orient}gap{gap}"
        inst = second if orient == "+" else _rc(second)
        seq = decode(arm.intervention.apply(_poly_a(length)))[0]
        expected = "A" * start + first + "A" * gap + inst
        assert seq == expected + "A" * (length - len(expected)), (gap, orient)
        # edge-to-edge gap: first motif ends at start+3, second begins gap nt later
        b0 = start + len(first) + gap
        assert seq[start : start + len(first)] == first
        assert seq[start + len(first) : b0] == "A" * gap
        assert seq[b0 : b0 + len(second)] == inst


def test_sweep_spacing_homotypic_default() -> None:
    arms = sweep_spacing("GATC", [2], start=1, orientations=("-",))
    seq = decode(arms[0].intervention.apply(_poly_a(14)))[0]
    assert seq == "A" + "GATC" + "AA" + _rc("GATC") + "AAA"
    assert arms[0].params == {"motif": "GATC", "motif_b": "GATC", "spacing": 2, "orientation": "-"}


def test_sweep_spacing_errors() -> None:
    with pytest.raises(OptionError, match="orientation='x'"):
        sweep_spacing("GATA", [1], start=0, orientations=("x",))
    with pytest.raises(OptionError, match="spacing must be >= 0, got -1"):
        sweep_spacing("GATA", [-1], start=0)


def test_sweep_arms_that_overrun_are_caught_by_design() -> None:
    arms = sweep_spacing("GATA", [0, 10], start=2)
    with pytest.raises(InterventionError, match=r"arm 'GATA\+GATA\+gap10' \(spacing\)"):
        design(iid(16), arms, n=3, rng=0)
