"""Property-based tests: malformed input gives a causalgia error, never a deep numpy/Key/Index
error and never a silent wrong answer (encode, read_fasta, read_motifs, parse_spec/load_spec)."""

from __future__ import annotations

import contextlib
import gzip
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from causalgia.errors import CausalgiaError
from causalgia.sequences.alphabet import decode, encode
from causalgia.sequences.io import read_fasta
from causalgia.sequences.motifs import read_motifs
from causalgia.studies.spec import load_spec, parse_spec

SETTINGS = settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
LETTERS = "ACGTUNacgtun"
NOISE = st.sampled_from(list("ACGTNacgtn>[]# \t\r\n:=-.0123456789eE+XZ\x00é\u2603"))
DNA = st.text(alphabet="ACGTacgt", min_size=1, max_size=50)


def _write(data: bytes, name: str) -> Path:
    folder = Path(tempfile.mkdtemp())
    path = folder / name
    path.write_bytes(data)
    return path


@SETTINGS
@given(
    st.one_of(
        st.text(max_size=30),
        st.lists(st.text(alphabet=LETTERS + "XZ-*é ", max_size=12), max_size=5),
    ),
    st.sampled_from(["dna", "rna"]),
    st.sampled_from(["error", "allow"]),
)
def test_encode_valid_or_causalgia_error(seqs, alphabet, n_policy):
    try:
        codes = encode(seqs, alphabet, n_policy=n_policy)
    except CausalgiaError:
        return
    assert codes.dtype == np.uint8
    letters = "ACGT" if alphabet == "dna" else "ACGU"
    items = [seqs] if isinstance(seqs, str) else seqs
    if items and codes.size:
        # no silent wrong answer: decoding gives back the (upper-cased) input
        back = decode(codes if codes.ndim == 2 else codes[None, :], alphabet)
        assert back == [s.upper() for s in items]
        assert set("".join(back)) <= set(letters + "N")


@SETTINGS
@given(st.lists(st.tuples(st.text(NOISE, max_size=8), DNA), min_size=1, max_size=4), st.data())
def test_read_fasta_mutated_files_give_causalgia_errors(records, data):
    text = "".join(f">{name}\n{seq}\n" for name, seq in records)
    raw = bytearray(text.encode())
    for _ in range(data.draw(st.integers(0, 4))):  # insert, delete or replace bytes
        pos = data.draw(st.integers(0, len(raw)))
        byte = data.draw(st.sampled_from(list(b">ACGTNX \n\r\t\x00\xff")))
        op = data.draw(st.sampled_from(["ins", "del", "sub"]))
        if op == "ins":
            raw.insert(pos, byte)
        elif pos < len(raw):
            if op == "del":
                del raw[pos]
            else:
                raw[pos] = byte
    zipped = data.draw(st.booleans())
    path = _write(gzip.compress(bytes(raw)) if zipped else bytes(raw), "x.fa")
    try:
        recs = read_fasta(path, n_policy=data.draw(st.sampled_from(["error", "allow"])))
    except CausalgiaError:
        return
    assert len(recs.ids) == len(set(recs.ids)) and all(recs.sequences)
    assert all(set(s) <= set("ACGTN") for s in recs.sequences)


@SETTINGS
@given(st.binary(max_size=200))
def test_read_fasta_arbitrary_bytes(blob):
    with contextlib.suppress(CausalgiaError):
        read_fasta(_write(blob, "b.fa"))


def _meme(rows: list[list[str]], width: str, nsites: str, alength: str) -> str:
    body = "\n".join(" ".join(r) for r in rows)
    return (
        "MEME version 4\n\nALPHABET= ACGT\n\nstrands: + -\n\n"
        "Background letter frequencies\nA 0.25 C 0.25 G 0.25 T 0.25\n\n"
        f"MOTIF m1 alt\nletter-probability matrix: alength= {alength} w= {width} "
        f"nsites= {nsites} E= 0\n{body}\n"
    )


def _jaspar(rows: list[list[str]], letters: str) -> str:
    return ">MA0001.1 Foo\n" + "\n".join(
        f"{letter} [ {' '.join(r)} ]" for letter, r in zip(letters, rows, strict=False)
    )


NUMBER = st.one_of(
    st.sampled_from(["0", "1", "0.25", "0.5", "-1", "nan", "inf", "1e400", "x", "", "1,0"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)


@SETTINGS
@given(
    st.lists(st.lists(NUMBER, min_size=0, max_size=5), min_size=0, max_size=5),
    st.sampled_from(["meme", "jaspar"]),
    st.text(alphabet="0123456789-x", max_size=3),
    st.text(alphabet="ACGTUX", max_size=5),
    st.data(),
)
def test_read_motifs_malformed_matrices(rows, kind, width, letters, data):
    if kind == "meme":
        text = _meme(rows, width, data.draw(st.sampled_from(["20", "", "x", "-3"])), "4")
    else:
        text = _jaspar(rows, letters or "ACGT")
    try:
        motifs = read_motifs(
            _write(text.encode(), "m.txt"), format=data.draw(st.sampled_from(["auto", kind]))
        )
    except CausalgiaError:
        return
    for motif in motifs:
        probs = motif.pwm_probs()
        assert np.all(np.isfinite(probs)) and np.allclose(probs.sum(axis=1), 1.0)


@SETTINGS
@given(st.binary(max_size=300))
def test_read_motifs_arbitrary_bytes(blob):
    with contextlib.suppress(CausalgiaError):
        read_motifs(_write(blob, "m.meme"))


VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-5, 300),
        st.floats(allow_nan=True),
        st.text(max_size=6),
        st.sampled_from(["GATA", "UGCAUG", "iid", "positions", "rbp_oracle", "NCL", "a:b"]),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
KEYS = st.sampled_from(
    [
        "n",
        "seed",
        "design",
        "kind",
        "length",
        "builtin",
        "callable",
        "factory",
        "layout",
        "type",
        "motif",
        "positions",
        "position",
        "counts",
        "spacings",
        "start",
        "output",
        "gc",
        "on_nonfinite",
        "retries",
        "chunk_size",
        "bogus",
    ]
)
TABLE = st.dictionaries(KEYS, VALUES, max_size=5)


@SETTINGS
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "study": st.one_of(TABLE, VALUES),
            "model": st.one_of(TABLE, VALUES),
            "background": st.one_of(TABLE, VALUES),
            "experiment": st.one_of(st.lists(st.one_of(TABLE, VALUES), max_size=3), VALUES),
            "extra": VALUES,
        },
    )
)
def test_parse_spec_random_mappings(raw):
    try:
        spec = parse_spec(raw)
    except CausalgiaError:
        return
    assert spec.experiments and len(spec.spec_hash) == 16


@SETTINGS
@given(st.text(max_size=300))
def test_load_spec_random_toml_text(text):
    path = _write(text.encode("utf-8", errors="replace"), "spec.toml")
    with contextlib.suppress(CausalgiaError):
        load_spec(path)


@SETTINGS
@given(st.data())
def test_valid_spec_with_one_mutated_value_gives_config_error_or_runs(data):
    """Mutating one key of a working spec gives a ConfigError or a spec that still builds."""
    from causalgia.studies.runner import build_arms, build_background, build_model

    raw = {
        "study": {"n": 20, "seed": 1},
        "model": {"builtin": "additive_oracle", "motif": "GATA", "length": 30},
        "background": {"kind": "iid", "length": 30},
        "experiment": [{"type": "positions", "motif": "GATA", "positions": [0, 10]}],
    }
    section = data.draw(st.sampled_from(["study", "model", "background", "experiment"]))
    table = raw[section][0] if section == "experiment" else raw[section]
    key = data.draw(st.sampled_from(sorted(table)))
    table[key] = data.draw(VALUES)
    try:
        spec = parse_spec(raw)
        model = build_model(spec)
        build_background(spec, model.alphabet.name)
        build_arms(spec, 1)
    except CausalgiaError:
        pass


def test_regressions_found_by_these_properties(tmp_path):
    from causalgia.errors import InputFileError, MotifError

    # a malformed JASPAR row made the row regex backtrack for minutes (now: one way to split)
    bad_row = ">MA0001.1 Foo\nA [ 2.341591656359022e+25 1,0 x 0 -5.780920614556227e+16 ]\n"
    (tmp_path / "m.jaspar").write_text(bad_row)
    with pytest.raises(MotifError, match="not a count row"):
        read_motifs(tmp_path / "m.jaspar", format="jaspar")
    # a truncated gzip stream raised EOFError from inside the gzip module
    (tmp_path / "t.fa.gz").write_bytes(gzip.compress(b">a\nACGT\n")[:12])
    with pytest.raises(InputFileError, match="not a readable gzip file"):
        read_fasta(tmp_path / "t.fa.gz")
