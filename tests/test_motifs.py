"""causalgia.sequences.motifs: Motif construction, summaries, sampling, scrambles, readers."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from causalgia._rng import unit_keys
from causalgia.errors import MotifError, OptionError
from causalgia.sequences.alphabet import RNA, decode
from causalgia.sequences.motifs import Motif, as_motif, read_motifs

JASPAR_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "jaspar2024_subset"

MEME = """MEME version 5

ALPHABET= ACGT

strands: + -

Background letter frequencies
A 0.3 C 0.2 G 0.2 T 0.3

MOTIF M1 GATA-like
letter-probability matrix: alength= 4 w= 4 nsites= 20 E= 0
 0.05 0.05 0.85 0.05
 0.90 0.00 0.05 0.05
 0.00 0.00 0.00 1.00
 0.70 0.10 0.10 0.10

MOTIF M2
letter-probability matrix: alength= 4 w= 3 nsites= 20 E= 1e-3
 0.25 0.25 0.25 0.25
 0.50 0.50 0.00 0.00
 0.00 0.10 0.10 0.80
URL http://example.org/M2
"""


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# ------------------------------------------------------------------ construction
def test_from_string_exact_and_iupac() -> None:
    m = Motif.from_string("ACgT")
    np.testing.assert_array_equal(m.probs, np.eye(4))
    assert m.name == "ACgT" and m.is_deterministic
    iupac = Motif.from_string("RYSWKMBDHVN", name="all")
    expected = {
        "R": "AG", "Y": "CT", "S": "CG", "W": "AT", "K": "GT", "M": "AC",
        "B": "CGT", "D": "AGT", "H": "ACT", "V": "ACG", "N": "ACGT",
    }  # fmt: skip
    for row, bases in zip(iupac.probs, expected.values(), strict=True):
        want = np.array([1.0 / len(bases) if b in bases else 0.0 for b in "ACGT"])
        np.testing.assert_allclose(row, want)
    assert iupac.iupac() == "RYSWKMBDHVN"
    assert not iupac.is_deterministic
    assert Motif.from_string("ACGU", "rna").consensus() == "ACGU"


@pytest.mark.parametrize(
    ("text", "alphabet", "pattern"),
    [
        ("ACGU", "dna", r"invalid letter 'U' at position 3"),
        ("ACGT", "rna", r"invalid letter 'T' at position 3"),
        ("AC-T", "dna", r"invalid letter '-' at position 2"),
        ("", "dna", "empty motif string"),
    ],
)
def test_from_string_errors(text: str, alphabet: str, pattern: str) -> None:
    with pytest.raises(MotifError, match=pattern):
        Motif.from_string(text, alphabet)


def test_from_counts_pseudocount_and_zero_row() -> None:
    m = Motif.from_counts([[8, 0, 2, 0], [1, 1, 1, 1]], pseudocount=0.5, name="c")
    np.testing.assert_allclose(m.probs[0], np.array([8.5, 0.5, 2.5, 0.5]) / 12)
    np.testing.assert_array_equal(m.counts, [[8, 0, 2, 0], [1, 1, 1, 1]])
    with pytest.raises(MotifError, match=r"motif 'z': counts row 1 is all zero"):
        Motif.from_counts([[1, 0, 0, 0], [0, 0, 0, 0]], name="z")
    with pytest.raises(MotifError, match=r"motif 'n': counts row 0 is not finite and >= 0"):
        Motif.from_counts([[-1, 2, 0, 0]], name="n")


@pytest.mark.parametrize(
    ("probs", "pattern"),
    [
        ([[0.5, 0.5, 0.0, 0.0], [0.5, 0.4, 0.0, 0.0]], r"motif 'bad': row 1 sums to 0.9"),
        ([[0.5, 0.5, 0.0]], r"shape \(W, 4\)"),
        (np.zeros((0, 4)), r"W >= 1"),
        ([[np.nan, 1, 0, 0]], r"row 0 is not finite"),
        ([[1.5, -0.5, 0, 0]], r"row 0 is not finite and >= 0"),
    ],
)
def test_probs_validation(probs: object, pattern: str) -> None:
    with pytest.raises(MotifError, match=pattern):
        Motif.from_probs(np.asarray(probs, dtype=float), name="bad")


def test_probs_are_read_only_copies() -> None:
    source = np.full((2, 4), 0.25)
    m = Motif.from_probs(source)
    source[0] = [1, 0, 0, 0]
    assert m.probs[0, 0] == 0.25
    with pytest.raises(ValueError, match="read-only"):
        m.probs[0, 0] = 1.0


def test_pwm_round_trip_and_information_content() -> None:
    m = Motif.from_counts([[10, 2, 3, 5], [0, 0, 20, 0]], name="pc")
    bg = np.array([0.3, 0.2, 0.2, 0.3])
    scores = m.pwm(background=bg, pseudocount=1.0)
    assert np.isfinite(scores).all()
    back = Motif.from_pwm(scores, background=bg)
    np.testing.assert_allclose(back.probs, m.pwm_probs(1.0), atol=1e-12)
    back_e = Motif.from_pwm(np.log(m.probs[:1] / 0.25), base=np.e)
    np.testing.assert_allclose(back_e.probs, m.probs[:1], atol=1e-12)
    np.testing.assert_allclose(m.information_content(), [2 - stats.entropy(m.probs[0], base=2), 2])
    with pytest.raises(MotifError, match="row 0 cannot be inverted"):
        Motif.from_pwm(np.full((1, 4), -np.inf))


def test_consensus_ties_and_iupac_rule() -> None:
    m = Motif.from_probs(
        [[0.3, 0.3, 0.2, 0.2], [0.1, 0.1, 0.1, 0.7], [0.25] * 4, [0.4, 0.0, 0.3, 0.3]]
    )
    assert m.consensus() == "ATAA"  # ties go to the lowest code
    assert m.iupac() == "MTND"


# ------------------------------------------------------------------ transforms
def test_reverse_complement_involution() -> None:
    rng = np.random.default_rng(3)
    m = Motif.from_counts(rng.integers(0, 50, size=(9, 4)) + 1, name="r")
    rc = m.reverse_complement()
    np.testing.assert_array_equal(rc.probs, m.probs[::-1, ::-1])
    np.testing.assert_array_equal(rc.reverse_complement().probs, m.probs)
    np.testing.assert_array_equal(rc.reverse_complement().counts, m.counts)
    assert Motif.from_string("GATTACA").reverse_complement().consensus() == "TGTAATC"


def test_sample_keyed_rows_depend_only_on_their_key() -> None:
    m = Motif.from_counts(np.arange(1, 41).reshape(10, 4), name="k")
    keys = unit_keys(11, np.arange(500), "motif-test")
    full = m.sample_keyed(keys)
    assert full.shape == (500, 10) and full.dtype == np.uint8
    subset = np.array([499, 3, 250, 7, 3, 100])
    np.testing.assert_array_equal(m.sample_keyed(keys[subset]), full[subset])
    assert m.sample_keyed(keys[:0]).shape == (0, 10)


def test_sample_is_seeded() -> None:
    m = Motif.from_string("NNNNNN")
    np.testing.assert_array_equal(m.sample(50, rng=4), m.sample(50, rng=4))
    assert not np.array_equal(m.sample(50, rng=4), m.sample(50, rng=5))
    np.testing.assert_array_equal(m.sample(10, rng=4), m.sample(50, rng=4)[:10])
    with pytest.raises(OptionError, match="n must be >= 0"):
        m.sample(-1)


def test_sample_frequencies_converge() -> None:
    probs = np.array(
        [[0.1, 0.2, 0.3, 0.4], [0.7, 0.0, 0.3, 0.0], [0.25] * 4, [0.05, 0.9, 0.0, 0.05]]
    )
    m = Motif.from_probs(probs)
    n = 20000
    codes = m.sample(n, rng=2024)
    for pos, row in enumerate(probs):
        observed = np.bincount(codes[:, pos], minlength=4)
        assert observed[row == 0].sum() == 0
        support = row > 0
        result = stats.chisquare(observed[support], n * row[support])
        assert result.pvalue >= 0.001, (pos, observed)


def test_deterministic_motif_samples_its_consensus() -> None:
    m = Motif.from_string("GATTACA")
    codes = m.sample(64, rng=0)
    assert set(decode(codes)) == {"GATTACA"}
    rna = Motif.from_string("GAUUACA", RNA)
    assert set(decode(rna.sample(8, rng=1), RNA)) == {"GAUUACA"}


def test_scramble_preserves_columns_and_changes_consensus() -> None:
    rng = np.random.default_rng(8)
    m = Motif.from_counts(rng.integers(0, 30, size=(12, 4)) + 1, name="s")
    s = m.scramble(rng=5)
    assert s.name == "s_scrambled"
    rows = sorted(map(tuple, m.probs))
    assert sorted(map(tuple, s.probs)) == rows
    assert sorted(map(tuple, s.counts)) == sorted(map(tuple, m.counts))
    assert s.consensus() != m.consensus()
    assert s.consensus() != m.reverse_complement().consensus()
    np.testing.assert_array_equal(m.scramble(rng=5).probs, s.probs)
    palindrome = Motif.from_string("ACGT")  # its own reverse complement
    scrambled = palindrome.scramble(rng=0)
    assert scrambled.consensus() not in ("ACGT",)
    assert Motif.from_string("AAAA").scramble(rng=0).consensus() == "AAAA"


def test_as_motif() -> None:
    m = Motif.from_string("GATA")
    assert as_motif(m) is m
    assert as_motif("GAUA", "rna").alphabet == RNA
    with pytest.raises(MotifError, match="motif 'GATA' has alphabet 'dna', expected 'rna'"):
        as_motif(m, "rna")


# ------------------------------------------------------------------ readers
def test_read_jaspar_real_data_matches_biopython() -> None:
    path = JASPAR_DIR / "motifs.jaspar"
    if not path.exists():
        pytest.skip(f"JASPAR subset not found at {JASPAR_DIR} (../shared/data is absent)")
    bio_motifs = pytest.importorskip("Bio.motifs")
    motifs = read_motifs(path)
    with open(path) as handle:
        bio = list(bio_motifs.parse(handle, "jaspar"))
    assert len(motifs) == len(bio) == 12
    for ours, ref in zip(motifs, bio, strict=True):
        assert (ours.name, ours.alt_name) == (ref.matrix_id, ref.name)
        counts = np.array([ref.counts[letter] for letter in "ACGT"], dtype=float).T
        np.testing.assert_allclose(ours.counts, counts, rtol=0, atol=1e-12)
        np.testing.assert_allclose(ours.probs, counts / counts.sum(1, keepdims=True), atol=1e-12)
    by_name = {m.name: m for m in motifs}
    assert by_name["MA0039.5"].consensus() == "CCCCACCC"  # KLF4 GC box


def test_read_jaspar_without_brackets_and_gzip(tmp_path: Path) -> None:
    text = ">MA9 Foo bar\nA  5 0 1\nC  0 5 1\nG  0 0 1\nT  0 0 2\n\n>MA10\n1 0\n0 1\n0 0\n0 0\n"
    path = tmp_path / "m.txt"
    path.write_bytes(gzip.compress(text.encode()))
    motifs = read_motifs(path)
    assert [(m.name, m.alt_name, m.consensus()) for m in motifs] == [
        ("MA9", "Foo bar", "ACT"),
        ("MA10", "", "AC"),
    ]


def test_read_meme_matches_biopython(tmp_path: Path) -> None:
    path = _write(tmp_path / "m.meme", MEME)
    motifs = read_motifs(path)
    assert [(m.name, m.alt_name, m.width) for m in motifs] == [
        ("M1", "GATA-like", 4),
        ("M2", "", 3),
    ]
    np.testing.assert_allclose(motifs[0].background, [0.3, 0.2, 0.2, 0.3])
    assert motifs[0].counts is None
    bio_motifs = pytest.importorskip("Bio.motifs")
    with open(path) as handle:
        bio = list(bio_motifs.parse(handle, "minimal"))
    for ours, ref in zip(motifs, bio, strict=True):
        assert ours.name == ref.name
        probs = np.array([ref.pwm[letter] for letter in "ACGT"]).T
        np.testing.assert_allclose(ours.probs, probs, atol=1e-12)


def test_read_meme_rna_alphabet(tmp_path: Path) -> None:
    text = MEME.replace("ACGT", "ACGU").replace("T 0.3", "U 0.3")
    path = _write(tmp_path / "rna.meme", text)
    assert read_motifs(path, alphabet="rna")[0].consensus() == "GAUA"
    assert read_motifs(path)[0].alphabet == RNA  # by default, the alphabet the file declares
    with pytest.raises(MotifError, match=r"line 3: file declares the rna alphabet"):
        read_motifs(path, alphabet="dna")


@pytest.mark.parametrize(
    ("old", "new", "pattern"),
    [
        ("alength= 4 w= 4", "alength= 4 w= 5", r"line 11: motif 'M1': w= 5 but 4 matrix rows"),
        ("alength= 4 w= 3", "alength= 20 w= 3", r"line 18: motif 'M2': alength= 20"),
        (" 0.70 0.10 0.10 0.10", " 0.70 0.10 0.10", r"line 15: motif 'M1': 3 values, expected 4"),
        (" 0.70 0.10 0.10 0.10", " 0.70 0.10 0.10 0.50", r"line 15: motif 'M1': row sums"),
        ("letter-probability matrix: alength= 4 w= 3", "", r"line 17: motif 'M2' has no letter"),
        ("ALPHABET= ACGT", "ALPHABET= ACDEFGHIK", r"line 3: only 'ALPHABET= ACGT'"),
        ("A 0.3 C 0.2 G 0.2 T 0.3", "A 0.3 C 0.2 G 0.2", r"line 8: background must give"),
    ],
)
def test_read_meme_errors(tmp_path: Path, old: str, new: str, pattern: str) -> None:
    assert old in MEME
    path = _write(tmp_path / "bad.meme", MEME.replace(old, new, 1))
    with pytest.raises(MotifError, match=pattern):
        read_motifs(path)


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        (">MA1 x\nA [ 1 2 ]\nC [ 1 2 ]\nG [ 1 ]\nT [ 1 2 ]\n", r"line 4: motif 'MA1': row length"),
        (">MA1 x\nA [ 1 2 ]\nC [ 1 2 ]\nG [ 1 2 ]\n", r"motif 'MA1': expected 4 count rows"),
        (">MA1 x\nA [ 1 2 ]\nA [ 1 2 ]\nG [ 1 2 ]\nT [ 1 2 ]\n", r"line 3: .*repeated row 'A'"),
        (">MA1 x\nA [ 1 2 ]\nC [ 1 2 ]\nG [ 1 x ]\nT [ 1 2 ]\n", r"line 4: .*not a count row"),
        (">MA1 x\nA [ 1 0 ]\nC [ 1 0 ]\nG [ 1 0 ]\nT [ 1 0 ]\n", r"'MA1': counts row 1 is all"),
        ("hello\n", "cannot tell the motif format"),
    ],
)
def test_read_jaspar_errors(tmp_path: Path, text: str, pattern: str) -> None:
    with pytest.raises(MotifError, match=pattern):
        read_motifs(_write(tmp_path / "bad.jaspar", text))


def test_read_motifs_format_option_and_empty(tmp_path: Path) -> None:
    with pytest.raises(OptionError, match="format='transfac'"):
        read_motifs(_write(tmp_path / "m.meme", MEME), format="transfac")  # type: ignore[arg-type]
    with pytest.raises(MotifError, match="no motifs found"):
        read_motifs(_write(tmp_path / "e.meme", "MEME version 5\n\nALPHABET= ACGT\n"))
    assert len(read_motifs(tmp_path / "m.meme", format="meme")) == 2


def test_bad_options_are_named() -> None:
    with pytest.raises(MotifError, match=r"motif 'p': pseudocount must be a number >= 0"):
        Motif.from_counts([[1, 1, 1, 1]], pseudocount=-1, name="p")
    with pytest.raises(MotifError, match=r"motif 'ACGT': pseudocount"):
        Motif.from_string("ACGT").pwm(pseudocount=float("nan"))
    with pytest.raises(MotifError, match=r"motif 'ACGT': background must be 4 positive"):
        Motif.from_string("ACGT").pwm(background=[0.5, 0.5, 0.0, 0.0])
    with pytest.raises(OptionError, match="keys must be a 1-D array"):
        Motif.from_string("ACGT").sample_keyed(np.zeros((2, 2), dtype=np.uint64))
    with pytest.raises(MotifError, match="base must be positive"):
        Motif.from_pwm(np.zeros((1, 4)), base=1.0)
