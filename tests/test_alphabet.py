"""causalgia.sequences.alphabet: codes, one-hot layouts, reverse complement (A1-A5, B3)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

from causalgia.errors import InvalidSequenceError, LayoutError, OptionError
from causalgia.sequences.alphabet import (
    DNA,
    N_CODE,
    RNA,
    as_codes,
    decode,
    encode,
    from_one_hot,
    get_alphabet,
    one_hot,
    reverse_complement,
)

FAST = settings(max_examples=50, deadline=None, derandomize=True)
_COMP = {"A": "T", "C": "G", "G": "C", "T": "A", "N": "N"}

codes_2d = arrays(
    np.uint8,
    array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=40),
    elements=st.integers(0, N_CODE),
)


def _rc_string(seq: str) -> str:
    return "".join(_COMP[c] for c in reversed(seq))


# ---------------------------------------------------------------- A1 round trip
@FAST
@given(st.text(alphabet="ACGT", min_size=0, max_size=2000))
@example("")
@example("ACGT" * 500)
def test_dna_round_trip(seq: str) -> None:
    codes = encode(seq)
    assert codes.dtype == np.uint8
    assert codes.shape == (len(seq),)
    assert decode(codes) == seq


@FAST
@given(st.text(alphabet="ACGU", min_size=0, max_size=2000))
@example("")
@example("ACGU" * 500)
def test_rna_round_trip(seq: str) -> None:
    assert decode(encode(seq, "rna"), "rna") == seq


@FAST
@given(st.text(alphabet="ACGTN", min_size=0, max_size=300))
def test_round_trip_with_n_allowed(seq: str) -> None:
    codes = encode(seq, n_policy="allow")
    assert decode(codes) == seq
    assert np.array_equal(codes == N_CODE, np.array([c == "N" for c in seq], dtype=bool))


@FAST
@given(st.integers(1, 6), st.integers(1, 60), st.randoms(use_true_random=False))
def test_batch_round_trip(n: int, length: int, rnd) -> None:
    seqs = ["".join(rnd.choice("ACGT") for _ in range(length)) for _ in range(n)]
    codes = encode(seqs)
    assert codes.shape == (n, length)
    assert decode(codes) == seqs


def test_codes_follow_letter_order() -> None:
    assert encode("ACGTN", n_policy="allow").tolist() == [0, 1, 2, 3, 4]
    assert encode("ACGUN", "rna", n_policy="allow").tolist() == [0, 1, 2, 3, 4]
    assert DNA.letters == "ACGT" and RNA.letters == "ACGU"
    assert get_alphabet("RNA") is RNA


# ---------------------------------------------------------------- A2 reverse complement
@FAST
@given(codes_2d)
@example(np.array([[0, 1, 2, 3]], dtype=np.uint8))
@example(np.array([[0, 1, 2, 4], [3, 3, 0, 1]], dtype=np.uint8))
def test_reverse_complement_involution_codes(codes: np.ndarray) -> None:
    once = reverse_complement(codes)
    assert np.array_equal(reverse_complement(once), codes)
    # independent computation on strings
    assert decode(once) == [_rc_string(s) for s in decode(codes)]


@FAST
@given(codes_2d, st.sampled_from(["NCL", "NLC"]), st.sampled_from([0.0, 0.25]))
@example(np.array([[0, 1, 2, 3]], dtype=np.uint8), "NCL", 0.0)
@example(np.array([[0, 1, 2, 3]], dtype=np.uint8), "NLC", 0.0)
@example(np.array([[4, 1, 2, 3], [0, 0, 1, 4]], dtype=np.uint8), "NLC", 0.25)
@example(np.array([[4, 1, 2, 3], [0, 0, 1, 4]], dtype=np.uint8), "NCL", 0.25)
def test_reverse_complement_involution_one_hot(codes, layout, n_value) -> None:
    x = one_hot(codes, layout, n_value=n_value)
    rc = reverse_complement(x, layout=layout)
    assert np.array_equal(reverse_complement(rc, layout=layout), x)
    # RC of the one-hot equals the one-hot of the RC of the codes
    assert np.array_equal(rc, one_hot(reverse_complement(codes), layout, n_value=n_value))


def test_reverse_complement_example() -> None:
    assert decode(reverse_complement(encode("AACGN", n_policy="allow"))) == "NCGTT"


def test_reverse_complement_does_not_modify_input() -> None:
    codes = encode(["ACGTA", "CCGTN"], n_policy="allow")
    before = codes.copy()
    out = reverse_complement(codes)
    assert np.array_equal(codes, before)
    assert not np.shares_memory(out, codes)


def test_reverse_complement_float_without_layout_raises() -> None:
    x = one_hot(encode(["ACGT"]), "NCL")
    with pytest.raises(LayoutError, match="needs layout='NCL' or 'NLC'"):
        reverse_complement(x)


def test_reverse_complement_bad_layout_option() -> None:
    x = one_hot(encode(["ACGT"]), "NCL")
    with pytest.raises(OptionError, match="layout='CLN'"):
        reverse_complement(x, layout="CLN")


def test_reverse_complement_wrong_declared_layout_raises() -> None:
    # NLC data (N, L=10, 4) declared as NCL: the channel axis (1) has size 10, not 4
    x = one_hot(encode(["ACGTACGTAC", "AAAACCCCGG"]), "NLC")
    with pytest.raises(LayoutError, match="NCL"):
        reverse_complement(x, layout="NCL")


# ---------------------------------------------------------------- A3 invalid letters
@pytest.mark.parametrize(
    ("seq", "alphabet", "pos", "letter"),
    [
        ("ACGXA", "dna", 3, "X"),
        ("AC1GT", "dna", 2, "1"),
        ("ACGUA", "dna", 3, "U"),
        ("ACGTA", "rna", 3, "T"),
        ("ACRGT", "dna", 2, "R"),  # IUPAC code in sequence data
        ("ACG-T", "dna", 3, "-"),
        ("ACG T", "dna", 3, " "),
    ],
)
def test_invalid_letter_names_id_position_letter(seq, alphabet, pos, letter) -> None:
    with pytest.raises(InvalidSequenceError, match=rf"'rec7'.*{letter!r}.* position {pos}\b"):
        encode(["ACGAA"[: len(seq)], seq], alphabet, ids=["rec6", "rec7"])


def test_invalid_letter_default_ids_are_indices() -> None:
    with pytest.raises(
        InvalidSequenceError, match=r"sequence '1': invalid letter 'X' at position 0"
    ):
        encode(["AAA", "XAA"])


def test_invalid_letter_single_string() -> None:
    with pytest.raises(
        InvalidSequenceError, match=r"sequence 'chr1': invalid letter 'Z' at position 5"
    ):
        encode("ACGTAZ", ids=["chr1"])


@pytest.mark.parametrize("letter", ["N", "n"])
def test_n_with_error_policy_raises(letter: str) -> None:
    with pytest.raises(
        InvalidSequenceError, match=rf"'s1'.*{letter!r} at position 2.*n_policy='error'"
    ):
        encode(["ACGT", "AC" + letter + "T"], ids=["s0", "s1"], n_policy="error")


def test_first_bad_position_is_reported() -> None:
    with pytest.raises(InvalidSequenceError, match=r"'Q' at position 1\b"):
        encode("AQXZ")


def test_bad_n_policy_and_alphabet_name_the_argument() -> None:
    with pytest.raises(OptionError, match="n_policy='maybe'"):
        encode("ACGT", n_policy="maybe")
    with pytest.raises(OptionError, match="alphabet='protein'"):
        encode("ACGT", "protein")


# ---------------------------------------------------------------- A4 case
def test_lowercase_is_accepted_and_upper_cased() -> None:
    assert np.array_equal(encode("acgt"), encode("ACGT"))
    assert decode(encode("acgt")) == "ACGT"
    assert decode(encode("acgu", "rna"), "rna") == "ACGU"
    # soft-masked (mixed case) input, with N allowed
    mixed = encode(["ACgtNn"], n_policy="allow")
    assert decode(mixed) == ["ACGTNN"]


@FAST
@given(st.text(alphabet="ACGTacgt", min_size=1, max_size=200))
def test_case_insensitive_property(seq: str) -> None:
    assert decode(encode(seq)) == seq.upper()


# ---------------------------------------------------------------- A5 ragged / empty
def test_ragged_lengths_name_the_record() -> None:
    with pytest.raises(InvalidSequenceError, match=r"'r2' has length 3, expected 4.*'r0'"):
        encode(["ACGT", "ACGT", "ACG"], ids=["r0", "r1", "r2"])


def test_empty_sequence_in_batch_names_the_record() -> None:
    with pytest.raises(InvalidSequenceError, match=r"sequence 'second' is empty"):
        encode(["ACGT", ""], ids=["first", "second"])


def test_id_count_mismatch() -> None:
    with pytest.raises(InvalidSequenceError, match="got 1 ids for 2 sequences"):
        encode(["ACGT", "ACGT"], ids=["a"])


# ---------------------------------------------------------------- one-hot
@FAST
@given(codes_2d, st.sampled_from(["NCL", "NLC"]), st.sampled_from([0.0, 0.25]))
def test_one_hot_round_trip(codes, layout, n_value) -> None:
    x = one_hot(codes, layout, n_value=n_value)
    n, length = codes.shape
    assert x.shape == ((n, 4, length) if layout == "NCL" else (n, length, 4))
    assert x.dtype == np.float32
    assert np.array_equal(from_one_hot(x, layout), codes)


def test_one_hot_values_match_independent_construction() -> None:
    codes = encode(["ACGN", "TTAN"], n_policy="allow")
    x = one_hot(codes, "NLC", n_value=0.25)
    expected = np.zeros((2, 4, 4), dtype=np.float32)
    for i in range(2):
        for j in range(4):
            if codes[i, j] == N_CODE:
                expected[i, j, :] = 0.25
            else:
                expected[i, j, codes[i, j]] = 1.0
    assert np.array_equal(x, expected)
    assert np.array_equal(one_hot(codes, "NCL", n_value=0.25), expected.transpose(0, 2, 1))


def test_from_one_hot_all_zero_column_is_n() -> None:
    x = np.zeros((1, 4, 3), dtype=np.float32)
    x[0, 2, 0] = 1.0
    assert from_one_hot(x, "NCL").tolist() == [[2, N_CODE, N_CODE]]


# ---------------------------------------------------------------- B3 layout errors
def test_from_one_hot_nlc_declared_ncl_raises() -> None:
    x = one_hot(encode(["ACGTACG", "TTTTAAA"]), "NLC")  # (2, 7, 4)
    with pytest.raises(
        LayoutError, match=r"'NCL' needs 4 channels on axis 1, got shape \(2, 7, 4\)"
    ):
        from_one_hot(x, "NCL")


def test_from_one_hot_ncl_declared_nlc_raises() -> None:
    x = one_hot(encode(["ACGTACG", "TTTTAAA"]), "NCL")  # (2, 4, 7)
    with pytest.raises(
        LayoutError, match=r"'NLC' needs 4 channels on axis 2, got shape \(2, 4, 7\)"
    ):
        from_one_hot(x, "NLC")


def test_from_one_hot_needs_3d() -> None:
    with pytest.raises(LayoutError, match=r"3-D \(NCL\), got shape \(4, 7\)"):
        from_one_hot(np.zeros((4, 7)), "NCL")


def test_one_hot_bad_layout_names_argument() -> None:
    with pytest.raises(OptionError, match="layout='NHWC'"):
        one_hot(encode(["ACGT"]), "NHWC")


# ---------------------------------------------------------------- as_codes / decode
def test_as_codes_rejects_out_of_range_codes() -> None:
    arr = np.array([[0, 1, 2], [3, 7, 0]], dtype=np.uint8)
    with pytest.raises(InvalidSequenceError, match=r"sequence 1: code 7 at position 1"):
        as_codes(arr)


def test_as_codes_from_strings_and_1d() -> None:
    assert as_codes(["AC", "GT"]).tolist() == [[0, 1], [2, 3]]
    assert as_codes(np.array([0, 3], dtype=np.int64)).tolist() == [[0, 3]]
    assert as_codes("ACG").shape == (1, 3)


def test_decode_rejects_bad_codes() -> None:
    with pytest.raises(InvalidSequenceError, match=r"code 9 at index .*0.*2.* is not 0-4"):
        decode(np.array([[0, 1, 9]], dtype=np.uint8))


def test_decode_error_names_plain_index() -> None:
    with pytest.raises(InvalidSequenceError, match=r"code 9 at index \(0, 2\) is not 0-4"):
        decode(np.array([[0, 1, 9]], dtype=np.uint8))
