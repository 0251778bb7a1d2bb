"""Tests for causalgia.sequences.io: FASTA reading/writing and measurement tables."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from causalgia.errors import CausalgiaError, InvalidSequenceError, OptionError
from causalgia.sequences.io import FastaRecords, read_fasta, read_table, write_fasta

FASTA = (
    ">seq1 promoter > enhancer chr1:1-12\n"
    "ACGTAC\n"
    "gtacgt\n"
    "\n"
    ">seq2\n"
    "TTTT\n"
    "GGGG\n"
    "AACC\n"
    ">seq3  spaced   description\n"
    "CCCCCCCCCCCC\n"
)
EXPECTED_IDS = ("seq1", "seq2", "seq3")
EXPECTED_SEQS = ("ACGTACGTACGT", "TTTTGGGGAACC", "CCCCCCCCCCCC")


def _write(path: Path, text: str, *, gz: bool = False, crlf: bool = False) -> Path:
    data = text.replace("\n", "\r\n") if crlf else text
    raw = gzip.compress(data.encode()) if gz else data.encode()
    path.write_bytes(raw)
    return path


@pytest.fixture(
    params=[(False, False), (True, False), (False, True), (True, True)],
    ids=["plain", "gz", "crlf", "gz-crlf"],
)
def fasta_path(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    gz, crlf = request.param
    # The name never says .gz: gzip must be detected from the magic bytes.
    return _write(tmp_path / "seqs.fa", FASTA, gz=gz, crlf=crlf)


def test_read_fasta_variants(fasta_path: Path) -> None:
    recs = read_fasta(fasta_path, fixed_length=True)
    assert recs.ids == EXPECTED_IDS
    assert recs.sequences == EXPECTED_SEQS
    assert recs.descriptions == ("promoter > enhancer chr1:1-12", "", "spaced   description")
    assert len(recs) == 3
    assert recs.codes().shape == (3, 12)
    assert recs.codes().dtype == np.uint8


def test_read_fasta_matches_biopython(fasta_path: Path) -> None:
    seqio = pytest.importorskip("Bio.SeqIO")
    opener = gzip.open if fasta_path.read_bytes()[:2] == b"\x1f\x8b" else open
    with opener(fasta_path, "rt") as handle:
        bio = list(seqio.parse(handle, "fasta"))
    recs = read_fasta(fasta_path)
    assert recs.ids == tuple(r.id for r in bio)
    assert recs.sequences == tuple(str(r.seq).upper() for r in bio)


def test_to_frame(tmp_path: Path) -> None:
    frame = read_fasta(_write(tmp_path / "x.fa", FASTA)).to_frame()
    assert list(frame.columns) == ["id", "description", "sequence", "length"]
    assert frame["length"].tolist() == [12, 12, 12]


def test_rna_and_n_policy(tmp_path: Path) -> None:
    path = _write(tmp_path / "r.fa", ">r1\nACGUN\n")
    recs = read_fasta(path, alphabet="rna", n_policy="allow")
    assert recs.codes().tolist() == [[0, 1, 2, 3, 4]]
    with pytest.raises(InvalidSequenceError, match=r"'r1'.*'N' at position 4"):
        read_fasta(path, alphabet="rna")
    with pytest.raises(InvalidSequenceError, match=r"'r1'.*'U' at position 3"):
        read_fasta(path, n_policy="allow")


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("", "no FASTA records"),
        ("\n\n", "no FASTA records"),
        ("ACGT\n>a\nACGT\n", "line 1: text before the first '>'"),
        ("\n\nnote\n>a\nACGT\n", "line 3: text before the first '>'"),
        (">a\nACGT\n>b\n\n>c\nAC\n", "record 'b' has an empty sequence"),
        (">a\nACGT\n>b\nAC\n>a x\nGG\n", "duplicate record id 'a'"),
        (">a\nACGT\n>b\nACXT\n", r"sequence 'b': invalid letter 'X' at position 2"),
        (">a\nACGT\n>b\nAC\nGTAZ\n", r"sequence 'b': invalid letter 'Z' at position 5"),
        (">a\nACGT\n>\nAC\n", "line 3: header without an id"),
    ],
)
def test_read_fasta_errors(tmp_path: Path, text: str, pattern: str) -> None:
    path = _write(tmp_path / "bad.fa", text)
    with pytest.raises(InvalidSequenceError, match=pattern):
        read_fasta(path)


def test_fixed_length_ragged(tmp_path: Path) -> None:
    path = _write(tmp_path / "r.fa", ">a\nACGT\n>b\nACGT\n>c\nACG\n>d\nA\n")
    recs = read_fasta(path)  # ragged is fine unless asked
    assert recs.sequences[2] == "ACG"
    pattern = r"record 'c' has length 3, but record 'a' has length 4"
    with pytest.raises(InvalidSequenceError, match=pattern):
        read_fasta(path, fixed_length=True)
    with pytest.raises(InvalidSequenceError, match=pattern):
        recs.codes()


@pytest.mark.parametrize("name", ["out.fa", "out.fa.gz"])
def test_write_read_round_trip(tmp_path: Path, name: str) -> None:
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), size=n)) for n in (1, 79, 80, 81, 250)]
    ids = [f"s{i}" for i in range(len(seqs))]
    path = write_fasta(tmp_path / name, ids, seqs, width=80)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")
    recs = read_fasta(path)
    assert recs.ids == tuple(ids)
    assert recs.sequences == tuple(seqs)
    lines = _read_lines(path)
    assert max(len(line) for line in lines) == 80


def _read_lines(path: Path) -> list[str]:
    raw = path.read_bytes()
    text = gzip.decompress(raw).decode() if raw[:2] == b"\x1f\x8b" else raw.decode()
    return text.splitlines()


def test_write_fasta_is_reproducible_and_checks_input(tmp_path: Path) -> None:
    a = write_fasta(tmp_path / "a.fa.gz", ["x"], ["ACGT"]).read_bytes()
    b = write_fasta(tmp_path / "a.fa.gz", ["x"], ["ACGT"]).read_bytes()
    assert a == b
    with pytest.raises(InvalidSequenceError, match="2 ids for 1 sequences"):
        write_fasta(tmp_path / "b.fa", ["x", "y"], ["ACGT"])
    with pytest.raises(InvalidSequenceError, match="'x y'"):
        write_fasta(tmp_path / "b.fa", ["x y"], ["ACGT"])
    with pytest.raises(InvalidSequenceError, match="record 'x' has an empty sequence"):
        write_fasta(tmp_path / "b.fa", ["x"], [""])
    with pytest.raises(OptionError, match="width"):
        write_fasta(tmp_path / "b.fa", ["x"], ["ACGT"], width=0)


def test_fasta_records_is_frozen() -> None:
    from causalgia.sequences.alphabet import DNA

    recs = FastaRecords(("a",), ("",), ("AC",), DNA)
    with pytest.raises(AttributeError):
        recs.ids = ("b",)  # type: ignore[misc]


@pytest.mark.parametrize(("name", "sep"), [("m.csv", ","), ("m.tsv", "\t"), ("m.txt", "\t")])
def test_read_table(tmp_path: Path, name: str, sep: str) -> None:
    frame = pd.DataFrame({"id": ["a", "b"], "value": [1.5, -2.0]})
    frame.to_csv(tmp_path / name, sep=sep, index=False)
    pd.testing.assert_frame_equal(read_table(tmp_path / name), frame)
    gz = tmp_path / f"{name}.gz"
    gz.write_bytes(gzip.compress((tmp_path / name).read_bytes()))
    pd.testing.assert_frame_equal(read_table(gz), frame)


def test_read_table_errors(tmp_path: Path) -> None:
    path = tmp_path / "m.xlsx"
    path.write_text("x")
    with pytest.raises(OptionError, match=r"m\.xlsx.*unknown table extension '\.xlsx'"):
        read_table(path)
    empty = tmp_path / "e.csv"
    empty.write_text("")
    with pytest.raises(CausalgiaError, match=r"e\.csv: cannot read table"):
        read_table(empty)
