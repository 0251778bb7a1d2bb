"""From a parsed spec to the objects of the pipeline: model, background population, arms, design.

:func:`build_model`, :func:`build_background` and :func:`build_arms` are what ``causalgia run``,
``resume`` and ``export`` share, so the three lay out exactly the same design for one spec.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from .._rng import root_seed
from ..engine.declaration import as_model, from_import_path
from ..engine.models import Model, ModelSource
from ..errors import ConfigError, OptionError
from ..experiment import backgrounds as bgs
from ..experiment.designs import (
    Arm,
    Design,
    design,
    sweep_counts,
    sweep_positions,
    sweep_spacing,
)
from ..experiment.interventions import Ablate, Identity, Mutate, Substitute
from ..sequences.io import read_fasta
from ..sequences.motifs import Motif, coerce_motif, read_motifs
from ..testing import AdditiveOracle, RBPOracle
from .spec import StudySpec, load_spec


def _builtin(model: Mapping[str, Any]) -> object:
    name = model["builtin"]
    if name == "rbp_oracle":
        return RBPOracle()
    if name == "additive_oracle":
        if "motif" not in model or "length" not in model:
            raise ConfigError(
                "model.builtin = 'additive_oracle' needs model.motif and model.length"
            )
        return AdditiveOracle.from_motif(model["motif"], model["length"])
    raise ConfigError(f"model.builtin = {name!r}; choose 'rbp_oracle' or 'additive_oracle'")


def _import_callable(target: str, base_dir: Path) -> object:
    module_name, _, attr = target.partition(":")
    sys.path.insert(0, str(base_dir.resolve()))
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigError(f"model.callable: cannot import module {module_name!r}: {err}") from None
    finally:
        sys.path.pop(0)
    if not hasattr(module, attr):
        raise ConfigError(f"model.callable: module {module_name!r} has no attribute {attr!r}")
    return getattr(module, attr)


def build_model(spec: StudySpec) -> Model:
    """The model declared in ``[model]``: a builtin oracle, an imported callable or factory, or
    a DeepBind parameter file (``model.deepbind = "path/D00210.001.txt"``)."""
    m = spec.model
    declared = {
        "layout": m.get("layout"),
        "alphabet": m.get("alphabet"),
        "output": m.get("output"),
        "batch_size": m.get("batch_size"),  # None: simulate picks it by a probe
        "n_value": float(m.get("n_value", 0.0)),
    }
    if "factory" in m:  # built once per Dask worker from its import path
        try:
            return from_import_path(
                m["factory"], kind="factory", path=str(spec.base_dir.resolve()), **declared
            )
        except OptionError as err:
            raise ConfigError(f"model.factory: {err}") from None
    if "deepbind" in m:  # a DeepBind parameter file; it declares its own layout and alphabet
        from ..engine.deepbind import read_deepbind

        path = spec.resolve(m["deepbind"])
        if not path.is_file():
            raise ConfigError(f"model.deepbind = {m['deepbind']!r}: no such file {str(path)!r}")
        fn = read_deepbind(path, alphabet=m.get("alphabet"), layout=m.get("layout", "NCL"))
    elif "builtin" in m:
        fn = _builtin(m)
    else:
        fn = _import_callable(m["callable"], spec.base_dir)
    model = as_model(fn, **declared)
    if "callable" in m:
        source = ModelSource(m["callable"], "callable", str(spec.base_dir.resolve()))
        model = replace(model, source=source)
    return model


def build_background(spec: StudySpec, alphabet: str) -> bgs.Background:
    """The background population declared in ``[background]``."""
    b = dict(spec.background)
    kind = b.pop("kind")
    if kind == "iid":
        if "length" not in b:
            raise ConfigError("background.kind = 'iid' needs background.length")
        return bgs.iid(
            b["length"], gc=b.get("gc"), composition=b.get("composition"), alphabet=alphabet
        )
    if "fasta" not in b:
        raise ConfigError(f"background.kind = {kind!r} needs background.fasta")
    records = read_fasta(spec.resolve(b["fasta"]), alphabet=alphabet)
    seqs = list(records.sequences)
    if kind == "profile":
        return bgs.profile(seqs, alphabet=alphabet, pseudocount=b.get("pseudocount", 0.0))
    if kind == "kshuffle":
        return bgs.kshuffle(seqs, k=b.get("k", 2), alphabet=alphabet)
    if kind == "markov":
        return bgs.markov(
            seqs,
            order=b.get("order", 1),
            length=b.get("length"),
            alphabet=alphabet,
            pseudocount=b.get("pseudocount", 1.0),
        )
    if kind == "real":
        return bgs.real(seqs, replace=b.get("replace", True), alphabet=alphabet)
    raise ConfigError(f"background.kind = {kind!r}; choose iid, profile, kshuffle, markov or real")


def _spec_motif(value: str | Mapping[str, Any], spec: StudySpec, where: str) -> str | Motif:
    if isinstance(value, str):
        return value
    if set(value) != {"file", "name"}:
        raise ConfigError(f"{where}.motif as a table needs exactly the keys file and name")
    motifs = read_motifs(spec.resolve(value["file"]))
    for motif in motifs:
        if value["name"] in (motif.name, getattr(motif, "alt_name", "")):
            return motif
    raise ConfigError(f"{where}.motif: no motif named {value['name']!r} in {value['file']}")


def _arms_of(exp: Mapping[str, Any], spec: StudySpec, seed: int, where: str) -> list[Arm]:
    kind, name = exp["type"], exp["name"]
    motif = _spec_motif(exp["motif"], spec, where) if "motif" in exp else None
    strand = exp.get("strand", "+")
    if kind == "positions":
        return sweep_positions(motif, exp["positions"], strand=strand, experiment=name)
    if kind == "counts":
        return sweep_counts(motif, exp["counts"], positions=exp["positions"], experiment=name)
    if kind == "spacing":
        b = _spec_motif(exp["motif_b"], spec, where) if "motif_b" in exp else None
        return sweep_spacing(
            motif,
            exp["spacings"],
            start=exp["start"],
            motif_b=b,
            orientations=exp.get("orientations", ["+"]),
            experiment=name,
        )
    if kind in ("substitute", "scrambled"):
        label = None
        if kind == "scrambled":
            original = coerce_motif(motif)
            motif = original.scramble(rng=seed)
            label = f"{motif.consensus()}@{exp['position']} (scrambled {original.consensus()})"
        sub = Substitute(motif, exp["position"], strand, exp.get("instance", "sample"))
        params = {"motif": coerce_motif(motif).consensus(), "position": exp["position"]}
        return [Arm(exp.get("label", label or sub.label), sub, name, params)]
    if kind == "mutate":
        mut = Mutate(exp["position"], exp["base"])
        return [Arm(exp.get("label", mut.label), mut, name, {"position": exp["position"]})]
    if kind == "ablate":
        abl = Ablate(exp["start"], exp["stop"], exp.get("fill", "shuffle"), exp.get("k", 1))
        return [Arm(exp.get("label", abl.label), abl, name, {"start": exp["start"]})]
    if kind == "random_kmers":
        from ..checks.controls import null_kmer_arms

        return null_kmer_arms(
            motif, exp["position"], n_kmers=exp.get("n_kmers", 20),
            n_scrambles=exp.get("n_scrambles", 0), min_distance=exp.get("min_distance", 2),
            experiment=name, rng=seed,
        )  # fmt: skip
    return [Arm(exp.get("label", "identity"), Identity(), name)]


def build_arms(spec: StudySpec, seed: int) -> list[Arm]:
    """Every arm of every ``[[experiment]]``, in spec order."""
    arms: list[Arm] = []
    for index, exp in enumerate(spec.experiments):
        arms += _arms_of(exp, spec, seed, f"experiment[{index}]")
    return arms


def design_from_spec(spec_path: str | Path) -> Design:
    """The design a TOML study spec lays out (same seed, background and arms as ``run``).

    Examples
    --------
    >>> from causalgia.studies.spec import DEMO_SPEC
    >>> design_from_spec(DEMO_SPEC).kind
    'paired'
    """
    spec = load_spec(spec_path)
    st = spec.study
    seed = root_seed(st.get("seed"))
    alphabet = spec.model.get("alphabet") or build_model(spec).alphabet.name
    background = build_background(spec, alphabet)
    kind = st.get("design", "paired")
    return design(background, build_arms(spec, seed), n=st.get("n", 200), kind=kind, rng=seed)
