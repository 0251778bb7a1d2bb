"""causalgia.experiment.interventions: read-back, keyed sampling, fills, errors (A8-A11)."""

from __future__ import annotations

import hashlib
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from causalgia._rng import unit_keys
from causalgia.engine.declaration import as_model
from causalgia.errors import InterventionError, OptionError
from causalgia.experiment.backgrounds import iid
from causalgia.experiment.interventions import (
    Ablate,
    Compose,
    Identity,
    Insert,
    Mutate,
    Substitute,
)
from causalgia.sequences.alphabet import N_CODE, decode, encode, reverse_complement
from causalgia.sequences.motifs import Motif

FAST = settings(max_examples=50, deadline=None, derandomize=True)
_IUPAC = {
    "A": "A", "C": "C", "G": "G", "T": "T", "R": "AG", "Y": "CT", "S": "CG", "W": "AT",
    "K": "GT", "M": "AC", "B": "CGT", "D": "AGT", "H": "ACT", "V": "ACG", "N": "ACGT",
}  # fmt: skip


def _random_codes(seed: int, n: int, length: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 4, size=(n, length), dtype=np.uint8)


def _digest(arr: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()


@st.composite
def placements(draw, max_len: int = 60):
    length = draw(st.integers(1, max_len))
    width = draw(st.integers(1, min(length, 12)))
    motif = draw(st.text(alphabet="ACGT", min_size=width, max_size=width))
    position = draw(st.integers(0, length - width))
    strand = draw(st.sampled_from(["+", "-"]))
    seed = draw(st.integers(0, 2**32 - 1))
    n = draw(st.integers(1, 5))
    return _random_codes(seed, n, length), motif, position, strand


# ---------------------------------------------------------------- A8 read-back
@FAST
@given(placements())
def test_substitute_reads_back(case) -> None:
    codes, motif, pos, strand = case
    out = Substitute(motif, pos, strand).apply(codes, rng=0)
    w = len(motif)
    assert out.shape == codes.shape and out.dtype == np.uint8
    want = encode(motif) if strand == "+" else reverse_complement(encode(motif))
    assert (out[:, pos : pos + w] == want).all()
    # outside the window nothing changed
    assert np.array_equal(out[:, :pos], codes[:, :pos])
    assert np.array_equal(out[:, pos + w :], codes[:, pos + w :])


@FAST
@given(placements())
def test_insert_reads_back_shifts_and_trims(case) -> None:
    codes, motif, pos, strand = case
    out = Insert(motif, pos, strand).apply(codes, rng=0)
    length, w = codes.shape[1], len(motif)
    assert out.shape == codes.shape
    # independent string computation: insert then trim the 3' end
    text = "ACGT"
    inst = motif if strand == "+" else decode(reverse_complement(encode(motif)))
    for row_in, row_out in zip(codes, out, strict=True):
        s = "".join(text[c] for c in row_in)
        assert decode(row_out) == (s[:pos] + inst + s[pos:])[:length]
    assert np.array_equal(out[:, pos + w :], codes[:, pos : length - w])


def test_insert_example() -> None:
    assert decode(Insert("GG", 1).apply(encode(["ACTT"]))) == ["AGGC"]
    assert decode(Insert("AAC", 0, strand="-").apply(encode(["TTTTT"]))) == ["GTTTT"]


def test_rna_motif_and_t_u_share_code() -> None:
    out = Substitute("ACGU", 1).apply(encode(["AAAAAA"]))
    assert decode(out) == ["AACGTA"]
    assert decode(out, "rna") == ["AACGUA"]


# ---------------------------------------------------------------- IUPAC / PWM instances
@pytest.mark.parametrize("strand", ["+", "-"])
def test_iupac_instances_use_allowed_letters(strand: str) -> None:
    motif = "GAWRNYB"
    sub = Substitute(motif, 3, strand)
    keys = unit_keys(5, np.arange(600), "iupac")
    inst = sub.instances(keys)
    assert inst.shape == (600, len(motif))
    allowed = [set(_IUPAC[c]) for c in motif]
    if strand == "-":
        comp = {"A": "T", "C": "G", "G": "C", "T": "A"}
        allowed = [{comp[b] for b in s} for s in reversed(allowed)]
    for j, ok in enumerate(allowed):
        seen = {"ACGT"[c] for c in inst[:, j]}
        assert seen == ok, (j, seen, ok)  # only allowed letters, and every allowed letter occurs


def test_iupac_consensus_instance_is_fixed() -> None:
    sub = Substitute("GAYN", 0, instance="consensus")
    out = sub.apply(encode(["TTTTTT"] * 20), rng=1)
    assert set(decode(out)) == {"GACATT"}  # ties go to the lowest code


_PWM = Motif.from_probs(
    [
        [0.7, 0.1, 0.1, 0.1],
        [0.25, 0.25, 0.25, 0.25],
        [0.0, 0.5, 0.0, 0.5],
        [0.05, 0.05, 0.85, 0.05],
    ],
    name="pwm",
)


def test_pwm_instances_keyed_and_batch_independent() -> None:
    sub = Substitute(_PWM, 2)
    codes = _random_codes(0, 40, 10)
    keys = unit_keys(9, np.arange(100, 140), "pwm")
    a = sub.apply_keyed(codes, keys)
    assert np.array_equal(a, sub.apply_keyed(codes, keys))  # same keys, same instances
    subset = np.array([31, 2, 17, 5])
    assert np.array_equal(sub.apply_keyed(codes[subset], keys[subset]), a[subset])
    # the instance depends on the key only, not on the background row
    other = _random_codes(1, 40, 10)
    assert np.array_equal(sub.apply_keyed(other, keys)[:, 2:6], a[:, 2:6])
    # keys that differ give varied instances
    assert len({tuple(r) for r in a[:, 2:6]}) > 5


def test_pwm_instances_follow_the_probabilities() -> None:
    keys = unit_keys(3, np.arange(4000), "pwm-freq")
    inst = Substitute(_PWM, 0).instances(keys)
    for j in range(_PWM.width):
        counts = np.bincount(inst[:, j], minlength=4)
        p = _PWM.probs[j]
        assert counts[p == 0].sum() == 0
        nz = p > 0
        if nz.sum() > 1:
            res = stats.chisquare(counts[nz], p[nz] * len(keys))
            assert res.pvalue >= 0.001, (j, counts)


def test_pwm_minus_strand_is_reverse_complement_of_plus() -> None:
    keys = unit_keys(2, np.arange(50), "pwm-strand")
    plus = Substitute(_PWM, 0, "+").instances(keys)
    minus = Substitute(_PWM, 0, "-").instances(keys)
    assert np.array_equal(minus, reverse_complement(np.ascontiguousarray(plus)))


# ---------------------------------------------------------------- Ablate
def _klets(row: np.ndarray, k: int) -> Counter:
    return Counter(tuple(row[i : i + k]) for i in range(len(row) - k + 1))


@FAST
@given(st.integers(0, 2**32 - 1), st.integers(1, 2), st.integers(0, 10), st.integers(2, 20))
def test_ablate_shuffle_preserves_klets(seed, k, start, width) -> None:
    codes = _random_codes(seed, 6, 32)
    stop = start + width
    out = Ablate(start, stop, fill="shuffle", k=k).apply(codes, rng=seed)
    assert np.array_equal(out[:, :start], codes[:, :start])
    assert np.array_equal(out[:, stop:], codes[:, stop:])
    for before, after in zip(codes[:, start:stop], out[:, start:stop], strict=True):
        assert _klets(after, 1) == _klets(before, 1)
        if k == 2:
            assert _klets(after, 2) == _klets(before, 2)
            assert after[0] == before[0] and after[-1] == before[-1]


def test_ablate_shuffle_actually_shuffles() -> None:
    codes = encode(["AAAA" + "ACGTTGCAACGTAGCAAGCT" + "AAAA"] * 30)
    out = Ablate(4, 24, fill="shuffle", k=2).apply(codes, rng=1)
    assert len({tuple(r) for r in out}) > 10


def test_ablate_random_only_touches_window() -> None:
    codes = _random_codes(4, 200, 30)
    out = Ablate(10, 20, fill="random").apply(codes, rng=3)
    assert np.array_equal(out[:, :10], codes[:, :10])
    assert np.array_equal(out[:, 20:], codes[:, 20:])
    window = out[:, 10:20]
    assert window.max() <= 3
    counts = np.bincount(window.ravel(), minlength=4)
    assert stats.chisquare(counts).pvalue >= 0.001
    assert not np.array_equal(window, codes[:, 10:20])


def test_ablate_background_copies_window_from_background() -> None:
    # a background that is all G makes the copied window recognisable
    bg = iid(24, composition=[0.0, 0.0, 1.0, 0.0])
    codes = encode(["A" * 24] * 5)
    out = Ablate(6, 15, fill="background", background=bg).apply(codes, rng=2)
    assert decode(out) == ["A" * 6 + "G" * 9 + "A" * 9] * 5


def test_ablate_background_window_depends_on_key_not_on_row() -> None:
    bg = iid(24)
    abl = Ablate(6, 15, fill="background", background=bg)
    keys = unit_keys(7, np.arange(8), "abl")
    a, b = _random_codes(1, 8, 24), _random_codes(2, 8, 24)
    out_a, out_b = abl.apply_keyed(a, keys), abl.apply_keyed(b, keys)
    assert np.array_equal(out_a[:, 6:15], out_b[:, 6:15])
    assert np.array_equal(out_a[:, :6], a[:, :6]) and np.array_equal(out_a[:, 15:], a[:, 15:])
    # the window is a window of some background draw: every row's window differs per key
    assert len({tuple(r) for r in out_a[:, 6:15]}) == 8


def test_ablate_background_length_mismatch() -> None:
    abl = Ablate(0, 3, fill="background", background=iid(10))
    with pytest.raises(InterventionError, match="fill background has length 10, sequences have 20"):
        abl.apply(_random_codes(0, 2, 20))


def test_ablate_background_argument_consistency() -> None:
    with pytest.raises(InterventionError, match="background="):
        Ablate(0, 3, fill="background")
    with pytest.raises(InterventionError, match="background="):
        Ablate(0, 3, fill="random", background=iid(10))


def test_ablate_bad_arguments_name_them() -> None:
    with pytest.raises(OptionError, match="stop must be >= 6, got 5"):
        Ablate(5, 5)
    with pytest.raises(OptionError, match="fill='zeros'"):
        Ablate(0, 4, fill="zeros")
    with pytest.raises(OptionError, match="k must be >= 1, got 0"):
        Ablate(0, 4, k=0)


def test_ablate_kshuffle_window_with_n_raises() -> None:
    codes = encode(["AAACNGTAA"], n_policy="allow")
    with pytest.raises(InterventionError, match="contains N"):
        Ablate(2, 7, fill="shuffle", k=2).apply(codes, rng=0)


def test_ablate_k1_shuffle_window_with_n() -> None:
    codes = encode(["AAACNGTAA"], n_policy="allow")
    out = Ablate(2, 7, fill="shuffle", k=1).apply(codes, rng=0)
    assert sorted(out[0, 2:7].tolist()) == sorted(codes[0, 2:7].tolist())
    assert (out[0, 2:7] == N_CODE).sum() == 1


def test_ablate_kshuffle_window_with_n_names_sequence_position() -> None:
    codes = encode(["AAACNGTAA"], n_policy="allow")
    with pytest.raises(InterventionError, match="row 0.*N at position 4"):
        Ablate(2, 7, fill="shuffle", k=2).apply(codes, rng=0)


# ---------------------------------------------------------------- Mutate / Identity
@pytest.mark.parametrize(("base", "code"), [("G", 2), ("t", 3), ("U", 3), (1, 1), (0, 0)])
def test_mutate_sets_base(base, code) -> None:
    codes = _random_codes(3, 10, 12)
    out = Mutate(7, base).apply(codes)
    assert (out[:, 7] == code).all()
    mask = np.ones(12, dtype=bool)
    mask[7] = False
    assert np.array_equal(out[:, mask], codes[:, mask])


def test_mutate_bad_base_names_it() -> None:
    with pytest.raises(OptionError, match="base='X'"):
        Mutate(0, "X")
    with pytest.raises(OptionError, match="base=4"):
        Mutate(0, 4)


def test_identity_returns_equal_copy_and_zero_ice() -> None:
    codes = _random_codes(8, 25, 16)
    out = Identity().apply(codes, rng=4)
    assert np.array_equal(out, codes)
    assert out is not codes and not np.shares_memory(out, codes)
    weights = np.random.default_rng(0).normal(size=(4, 16))
    model = as_model(lambda x: np.einsum("ncl,cl->n", x, weights), layout="NCL")
    ice = model.predict(out) - model.predict(codes)
    assert np.array_equal(ice, np.zeros(25))  # exactly 0 for every background


# ---------------------------------------------------------------- A11 no mutation
_ALL = {
    "identity": Identity(),
    "substitute": Substitute("GATA", 3),
    "substitute_pwm_minus": Substitute(_PWM, 5, "-"),
    "insert": Insert("CCG", 4),
    "ablate_shuffle1": Ablate(2, 12, fill="shuffle", k=1),
    "ablate_shuffle2": Ablate(2, 12, fill="shuffle", k=2),
    "ablate_random": Ablate(2, 12, fill="random"),
    "ablate_background": Ablate(2, 12, fill="background", background=iid(20)),
    "mutate": Mutate(0, "T"),
    "compose": Compose((Substitute("GG", 0), Ablate(5, 10, fill="random"), Mutate(15, 1))),
}


@pytest.mark.parametrize("name", sorted(_ALL))
def test_interventions_never_mutate_input(name: str) -> None:
    codes = _random_codes(12, 15, 20)
    copy, digest = codes.copy(), _digest(codes)
    out = _ALL[name].apply(codes, rng=1)
    assert _digest(codes) == digest and np.array_equal(codes, copy)
    assert out.shape == codes.shape and out.dtype == np.uint8
    assert not np.shares_memory(out, codes)
    # a read-only input works too (any in-place write would raise)
    frozen = copy.copy()
    frozen.setflags(write=False)
    assert np.array_equal(_ALL[name].apply(frozen, rng=1), out)


@pytest.mark.parametrize("name", sorted(_ALL))
def test_apply_is_deterministic_under_same_rng(name: str) -> None:
    codes = _random_codes(13, 12, 20)
    iv = _ALL[name]
    assert np.array_equal(iv.apply(codes, rng=5), iv.apply(codes, rng=5))
    gen_a, gen_b = np.random.default_rng(9), np.random.default_rng(9)
    assert np.array_equal(iv.apply(codes, rng=gen_a), iv.apply(codes, rng=gen_b))


@pytest.mark.parametrize("name", ["ablate_random", "ablate_shuffle1", "substitute_pwm_minus"])
def test_apply_differs_under_other_rng(name: str) -> None:
    codes = _random_codes(13, 12, 20)
    iv = _ALL[name]
    assert not np.array_equal(iv.apply(codes, rng=5), iv.apply(codes, rng=6))


def test_apply_rejects_non_code_input() -> None:
    with pytest.raises(
        InterventionError, match=r"uint8 codes of shape \(N, L\); got int64 \(2, 5\)"
    ):
        Substitute("GA", 0).apply(np.zeros((2, 5), dtype=np.int64))
    with pytest.raises(InterventionError, match=r"got uint8 \(5,\)"):
        Substitute("GA", 0).apply(np.zeros(5, dtype=np.uint8))


# ---------------------------------------------------------------- A9 errors
@pytest.mark.parametrize(
    ("iv", "pattern"),
    [
        (
            Substitute("GATA", 7),
            r"motif 'GATA' \(width 4\) at position 7 .* length 10: valid starts are 0..6",
        ),
        (Substitute("GATA", -1), r"motif 'GATA' \(width 4\) at position -1 .* length 10"),
        (
            Substitute("GATAGATAGATA", 0),
            r"width 12\) at position 0 .* length 10: valid starts are 0..-2",
        ),
        (Insert("CC", 9), r"motif 'CC' \(width 2\) at position 9 .* length 10"),
        (Ablate(4, 11), r"ablated window \(width 7\) at position 4 .* length 10"),
        (Mutate(10, "A"), r"mutation \(width 1\) at position 10 .* length 10"),
    ],
)
def test_out_of_range_raises_naming_position(iv, pattern: str) -> None:
    codes = _random_codes(0, 3, 10)
    with pytest.raises(InterventionError, match=pattern):
        iv.apply(codes)
    with pytest.raises(InterventionError, match=pattern):
        iv.spans(10)


def test_compose_overlap_names_both_parts_and_windows() -> None:
    comp = Compose((Substitute("GATA", 2), Mutate(9, "C"), Substitute("CC", 5)))
    with pytest.raises(
        InterventionError, match=r"GATA@2\+ edits \[2, 6\) and CC@5\+ edits \[5, 7\)"
    ):
        comp.apply(_random_codes(0, 2, 12))


def test_compose_insert_then_substitute_overlaps() -> None:
    comp = Compose((Insert("GG", 3), Substitute("A", 10)))
    with pytest.raises(InterventionError, match=r"ins:GG@3\+ edits \[3, 12\) and A@10\+"):
        comp.apply(_random_codes(0, 2, 12))


def test_compose_empty_raises() -> None:
    with pytest.raises(InterventionError, match="at least one intervention"):
        Compose(())


def test_bad_strand_and_instance_name_the_argument() -> None:
    with pytest.raises(OptionError, match="strand='x'"):
        Substitute("GATA", 0, strand="x")
    with pytest.raises(OptionError, match="instance='best'"):
        Substitute("GATA", 0, instance="best")


# ---------------------------------------------------------------- Compose semantics
def test_compose_equals_one_by_one_when_disjoint() -> None:
    parts = (Substitute("GATA", 0), Mutate(6, "C"), Substitute("TTG", 10, "-"), Mutate(15, 0))
    codes = _random_codes(21, 10, 18)
    expected = codes
    for part in parts:
        expected = part.apply(expected)
    assert np.array_equal(Compose(parts).apply(codes, rng=3), expected)
    # disjoint deterministic parts commute
    assert np.array_equal(Compose(parts[::-1]).apply(codes, rng=3), expected)
    assert Compose(parts).label == "GATA@0++mut:6C+TTG@10-+mut:150"


def test_compose_insert_with_disjoint_prefix_edit() -> None:
    # the Insert at 4 shifts only its own span; the Substitute at 0 is unaffected either way
    codes = encode(["ACGTACGTAC"])
    out = Compose((Insert("GG", 4), Substitute("TT", 0))).apply(codes)
    assert decode(out) == ["TTGTGGACGT"]
    assert np.array_equal(Compose((Substitute("TT", 0), Insert("GG", 4))).apply(codes), out)


def test_compose_random_parts_fill_their_own_windows() -> None:
    codes = encode(["A" * 20] * 50)
    comp = Compose(
        (Ablate(0, 8, fill="random"), Substitute("CCG", 10), Ablate(14, 20, fill="random"))
    )
    out = comp.apply(codes, rng=2)
    assert decode(out[:, 10:13]) == ["CCG"] * 50
    assert (out[:, 8:10] == 0).all() and (out[:, 13:14] == 0).all()
    # the two random parts draw from different streams
    assert not np.array_equal(out[:, 0:6], out[:, 14:20])
