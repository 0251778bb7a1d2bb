"""A model's alphabet against its backgrounds': another alphabet only when declared.

T and U share one code, so an RNA model runs on DNA-letter backgrounds with the same numbers;
the risk is silent misuse. ``as_model(..., also_accepts="dna")`` (spec: ``[model] also_accepts``)
declares it, and the declaration is part of the model's fingerprint only when it is set.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from causalgia.engine.declaration import as_model, from_import_path
from causalgia.engine.simulator import simulate
from causalgia.engine.store import RunStore
from causalgia.errors import InvalidSequenceError, OptionError, StoreError
from causalgia.experiment.backgrounds import real
from causalgia.experiment.designs import design, sweep_positions
from causalgia.sequences.alphabet import decode
from causalgia.stats.estimators import estimate_ace
from causalgia.studies.build import build_background, build_model
from causalgia.studies.runner import run_study
from causalgia.studies.spec import parse_spec
from causalgia.testing import RBPOracle

L = 41
CODES = np.random.default_rng(5).integers(0, 4, size=(60, L), dtype=np.uint8)
DNA_SEQS = decode(CODES, "dna")
RNA_SEQS = decode(CODES, "rna")


class Counting:
    """RBPOracle that counts its forward passes."""

    layout, alphabet, name = "NCL", "rna", "counting_rbp"

    def __init__(self) -> None:
        self.oracle, self.calls = RBPOracle(), 0

    def __call__(self, x):
        self.calls += 1
        return self.oracle(x)


def _design(seqs, alphabet: str, seed: int = 3):
    return design(real(seqs, alphabet=alphabet), sweep_positions("UGCAUG", [5, 20]), n=50, rng=seed)


def test_rna_model_on_dna_backgrounds_is_refused_before_any_forward_pass():
    fn = Counting()
    with pytest.raises(InvalidSequenceError) as err:
        simulate(as_model(fn), _design(DNA_SEQS, "dna"), progress=False)
    text = str(err.value)
    assert "'counting_rbp' reads RNA (alphabet='rna')" in text
    assert "backgrounds are DNA (alphabet 'dna')" in text
    assert "also_accepts='dna'" in text and '[model] also_accepts = "dna"' in text
    assert "T read as U" in text
    assert fn.calls == 0


def test_dna_model_on_rna_backgrounds_is_refused_too():
    dna_model = as_model(lambda x: x[:, 0].sum(axis=1), layout="NCL", name="a_count")
    with pytest.raises(InvalidSequenceError, match=r"reads DNA .*also_accepts='rna'.*U read as T"):
        simulate(dna_model, _design(RNA_SEQS, "rna"), progress=False)
    declared = as_model(lambda x: x[:, 0].sum(axis=1), layout="NCL", also_accepts="rna")
    table = simulate(declared, _design(RNA_SEQS, "rna"), progress=False).table
    assert len(table) == 100


def test_declared_rna_model_on_dna_letters_gives_the_ace_of_the_rna_letters():
    declared = as_model(RBPOracle(), also_accepts="dna")
    from_dna = simulate(declared, _design(DNA_SEQS, "dna"), progress=False)
    from_rna = simulate(as_model(RBPOracle()), _design(RNA_SEQS, "rna"), progress=False)
    columns = ["experiment", "label", "background_id", "y_control", "y_do", "ice"]
    assert from_dna.table[columns].equals(from_rna.table[columns])
    a, b = (estimate_ace(r, rng=1).to_frame() for r in (from_dna, from_rna))
    np.testing.assert_array_equal(a["ace"], b["ace"])
    np.testing.assert_array_equal(a["ci_low"], b["ci_low"])
    assert np.abs(a["ace"]).max() > 0.1  # the planted motif has an effect


def test_declaration_is_recorded_and_is_part_of_the_fingerprint(tmp_path):
    plain, declared = as_model(RBPOracle()), as_model(RBPOracle(), also_accepts="DNA")
    assert plain.also_accepts is None and declared.also_accepts.name == "dna"
    assert declared.probe(L).declaration != plain.probe(L).declaration
    assert declared.fingerprint(L) != plain.fingerprint(L)
    np.testing.assert_array_equal(declared.probe(L).outputs, plain.probe(L).outputs)
    # kept by as_model of a ready Model, by from_import_path, and refused as a redeclaration
    assert as_model(declared, batch_size=8).also_accepts.name == "dna"
    path_model = from_import_path("causalgia.testing:RBPOracle", also_accepts="dna")
    assert path_model.fingerprint(L) == declared.fingerprint(L)
    with pytest.raises(OptionError, match="also_accepts"):
        as_model(plain, also_accepts="dna")
    with pytest.raises(OptionError, match="alphabet of model 'rbp_oracle' already"):
        as_model(RBPOracle(), also_accepts="rna")
    with pytest.raises(OptionError, match="alphabet"):
        as_model(RBPOracle(), also_accepts="protein")
    # a run directory records it, in the model's ledger entry and in its fingerprint probe
    d = _design(RNA_SEQS, "rna")
    simulate(declared, d, store=tmp_path / "run", progress=False)
    with RunStore(tmp_path / "run", readonly=True) as run:
        assert run.get("model")["also_accepts"] == "dna"
        assert run.get("model_probe")["declaration"] == declared.probe(L).declaration
        assert run.get("identity")["model_fingerprint"] == declared.fingerprint(L)
    # so resuming it without the declaration is another model
    with pytest.raises(StoreError, match="declaration differs"):
        simulate(plain, d, store=tmp_path / "run", progress=False)
    simulate(as_model(RBPOracle()), d, store=tmp_path / "plain", progress=False)
    with RunStore(tmp_path / "plain", readonly=True) as run:
        assert "also_accepts" not in run.get("model")


def test_fingerprint_of_an_undeclared_model_is_unchanged():
    # values of the release before also_accepts existed (git HEAD when it was added)
    assert as_model(RBPOracle()).fingerprint(41) == "9f0da7812a947a65"
    fn = lambda x: x[:, :, 0].sum(axis=1)  # noqa: E731
    model = as_model(
        fn, layout="NLC", alphabet="rna", name="a_count", output={"transform": "log"}, n_value=0.25
    )
    assert model.fingerprint(20) == "46839bae22f7e322"
    # and the declaration hash is still the sha256 of the same five fields
    declared = repr((model.name, model.layout, "rna", model.output, 0.25))
    assert model.probe(20).declaration == hashlib.sha256(declared.encode()).hexdigest()[:16]


def _spec(tmp_path, also_accepts: str | None):
    fasta = tmp_path / "bg.fa"
    fasta.write_text("".join(f">s{i}\n{s}\n" for i, s in enumerate(DNA_SEQS)))
    model = {"builtin": "rbp_oracle"}
    if also_accepts is not None:
        model["also_accepts"] = also_accepts
    raw = {
        "study": {"name": "dna letters", "n": 30, "seed": 4},
        "model": model,
        "background": {"kind": "real", "fasta": "bg.fa"},
        "experiment": [{"name": "position", "type": "positions", "motif": "UGCAUG",
                        "positions": [5, 20]}],
    }  # fmt: skip
    return parse_spec(raw, tmp_path)


def test_spec_key_declares_it_and_reads_the_fasta_in_dna_letters(tmp_path):
    with pytest.raises(InvalidSequenceError, match="'T'"):
        build_background(_spec(tmp_path, None), "rna")
    spec = _spec(tmp_path, "dna")
    assert spec.model.also_accepts == "dna"
    model = build_model(spec)
    assert model.alphabet.name == "rna" and model.also_accepts.name == "dna"
    background = build_background(spec, model.alphabet.name)
    assert background.alphabet.name == "dna"
    out = run_study(spec, tmp_path / "run", figures=False, progress=False)
    assert out.manifest["model_fingerprint"] == model.fingerprint(L)
    assert out.manifest["model_fingerprint"] != as_model(RBPOracle()).fingerprint(L)
    assert out.manifest["background"]["alphabet"] == "dna"
