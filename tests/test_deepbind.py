"""DeepBind: the parser, and the numba forward pass against the official scores and a direct
transcription of the forward pass."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from causalgia.engine.declaration import as_model
from causalgia.engine.deepbind import (
    DeepBindFormatError,
    DeepBindModel,
    read_db,
    read_deepbind,
    reference_scores,
)
from causalgia.engine.models import Output
from causalgia.errors import LayoutError, OptionError
from causalgia.sequences.alphabet import encode, one_hot

HEADER = (
    "# deepbind 0.1\nreverse_complement = 0\nnum_detectors = 1\ndetector_len = 2\n"
    "has_avg_pooling = 0\nnum_hidden = 0\n"
)
BODY = "detectors = 1,0,0,0,0,0,0,1\nthresholds = 0\nweights1 = 1\nbiases1 = 0\n"
TAIL = "weights2 = \nbiases2 = \n"


@pytest.mark.parametrize(
    ("padding", "column"),
    [("n", "score_deepbind_v0.11"), ("context", "score_context_padding_variant")],
)
def test_official_reference_scores(shared_data, padding, column):
    folder = shared_data / "deepbind"
    ref = pd.read_csv(folder / "reference_outputs.tsv", sep="\t")
    assert len(ref) == 16
    for model_id, group in ref.groupby("model_id"):
        model = read_deepbind(folder / "params" / f"{model_id}.txt", padding=padding)
        got = model.score(group["sequence"].tolist())
        np.testing.assert_allclose(got, group[column].to_numpy(), atol=1e-5, rtol=0)


def test_every_shared_model_parses_with_metadata(shared_data):
    folder = shared_data / "deepbind"
    db = read_db(folder / "db.tsv")
    # PROVENANCE.md says 927 models; the file holds 2,622 unique model ids (829 proteins/series)
    assert len(db) > 900 and db["ID"].is_unique
    shapes = {}
    for path in sorted((folder / "params").glob("*.txt")):
        m = read_deepbind(path)
        shapes[m.name] = (m.detector_len, m.num_hidden, m.reverse_complement, m.alphabet.name)
    assert shapes["D00210.001"] == (16, 32, False, "rna")
    assert shapes["D00162.002"] == (16, 0, False, "rna")
    assert shapes["D00328.003"] == (20, 32, True, "dna")
    assert read_deepbind(folder / "params" / "D00210.001.txt").protein == "RBFOX1"
    # a declared alphabet wins over db.tsv
    assert (
        read_deepbind(folder / "params" / "D00210.001.txt", alphabet="dna").alphabet.name == "dna"
    )


@pytest.mark.parametrize("padding", ["n", "context"])
@pytest.mark.parametrize(
    ("hidden", "avg", "rc"),
    [(0, True, False), (5, True, False), (0, False, True), (4, False, True)],
)
def test_kernel_matches_direct_transcription(padding, hidden, avg, rc):
    model = DeepBindModel.random(
        num_detectors=3,
        detector_len=5,
        num_hidden=hidden,
        has_avg_pooling=avg,
        reverse_complement=rc,
        rng=hidden + 10 * avg + 100 * rc,
    ).with_padding(padding)
    gen = np.random.default_rng(1)
    seqs = [
        "".join(gen.choice(list("ACGTN"), size=n, p=[0.24] * 4 + [0.04]))
        for n in (1, 4, 7, 8, 13, 30)
    ]
    np.testing.assert_allclose(model.score(seqs), reference_scores(model, seqs), atol=1e-10)


def test_as_model_declares_layout_and_output_and_reads_n_either_way():
    model = DeepBindModel.random(num_detectors=4, detector_len=6, num_hidden=3, rng=2)
    wrapped = as_model(model)
    assert wrapped.layout == "NCL" and wrapped.output == Output() and wrapped.name == "random2"
    codes = encode(["ACGTNACGTACGTTTGCA", "GGGGGGGGGGGGGGNNNN"], n_policy="allow")
    direct = model.score_codes(codes)
    np.testing.assert_allclose(wrapped.predict(codes), direct, atol=1e-12)
    np.testing.assert_allclose(as_model(model, n_value=0.25).predict(codes), direct, atol=1e-12)
    nlc = model.with_layout("NLC")
    np.testing.assert_allclose(as_model(nlc).predict(codes), direct, atol=1e-12)
    with pytest.raises(LayoutError, match="layout 'NCL'"):
        model(one_hot(codes, "NLC"))


def test_score_keeps_order_over_mixed_lengths_and_accepts_u():
    model = DeepBindModel.random(num_detectors=2, detector_len=4, rng=3)
    seqs = ["ACGUACGUAC", "AC", "ACGTACGTAC", "UUUUUUUUUUUUUUUU"]
    got = model.score(seqs)
    assert got[0] == got[2]
    np.testing.assert_allclose(got, reference_scores(model, seqs), atol=1e-10)


def test_batching_is_invariant():
    model = DeepBindModel.random(rng=4, num_hidden=8)
    codes = np.random.default_rng(0).integers(0, 4, size=(257, 41), dtype=np.uint8)
    full = model.score_codes(codes)
    parts = np.concatenate([model.score_codes(codes[i : i + 10]) for i in range(0, 257, 10)])
    np.testing.assert_array_equal(full, parts)
    np.testing.assert_array_equal(as_model(model, batch_size=7).predict(codes), full)


def test_parser_reads_crlf_and_rejects_bad_files(tmp_path):
    ok = tmp_path / "D1.txt"
    ok.write_bytes((HEADER + BODY + TAIL).replace("\n", "\r\n").encode())
    assert read_deepbind(ok).score(["AT"]).tolist() == [2.0]
    cases = {
        "missing": (HEADER + BODY, "missing key"),
        "count": (HEADER + BODY.replace("thresholds = 0", "thresholds = 0,1") + TAIL, "line 8"),
        "nan": (HEADER + BODY.replace("weights1 = 1", "weights1 = x") + TAIL, "line 9"),
        "unknown": (HEADER + "colour = red\n" + BODY + TAIL, "unknown key 'colour'"),
        "int": (HEADER.replace("num_hidden = 0", "num_hidden = two") + BODY + TAIL, "integer"),
    }
    for name, (text, message) in cases.items():
        path = tmp_path / f"{name}.txt"
        path.write_text(text)
        with pytest.raises(DeepBindFormatError, match=message) as err:
            read_deepbind(path)
        assert str(path) in str(err.value)
    with pytest.raises(OptionError, match="padding"):
        read_deepbind(ok, padding="zeros")


def test_study_spec_runs_a_deepbind_model(shared_data, tmp_path):
    from causalgia.errors import ConfigError
    from causalgia.studies.runner import build_model, run_study
    from causalgia.studies.spec import parse_spec

    params = shared_data / "deepbind" / "params" / "D00210.001.txt"
    raw = {
        "study": {"n": 30, "seed": 1},
        "model": {"deepbind": str(params)},
        "background": {"kind": "iid", "length": 41},
        "experiment": [{"type": "positions", "motif": "UGCAUG", "positions": [17]}],
    }
    out = run_study(parse_spec(raw), tmp_path / "run", figures=False)
    assert out.ace["ci_low"].iloc[0] > 0 and out.manifest["layout"] == "NCL"
    raw["model"] = {"deepbind": "missing.txt"}
    with pytest.raises(ConfigError, match="model.deepbind"):
        build_model(parse_spec(raw, tmp_path))
