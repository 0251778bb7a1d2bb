"""From a parsed spec to the objects of the pipeline: model, background population, arms, design.

:func:`build_model`, :func:`build_background` and :func:`build_arms` are what ``causalgia run``,
``resume`` and ``export`` share, so the three lay out exactly the same design for one spec.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import replace
from pathlib import Path

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
from .sections import BackgroundSection, ExperimentSpec, ModelSection, MotifFile
from .spec import StudySpec, load_spec


def _builtin(model: ModelSection) -> object:
    if model.builtin == "additive_oracle":
        assert model.motif is not None and model.length is not None  # parse_spec checked
        return AdditiveOracle.from_motif(model.motif, model.length)
    return RBPOracle()


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
    a DeepBind parameter file (``model.deepbind = "path/D00210.001.txt"``).

    Examples
    --------
    >>> from causalgia.studies.spec import DEMO_SPEC, load_spec
    >>> build_model(load_spec(DEMO_SPEC)).alphabet.name
    'rna'
    """
    m = spec.model
    declared = {
        "layout": m.layout,
        "alphabet": m.alphabet,
        "output": m.output,
        "batch_size": m.batch_size,  # None: simulate picks it by a probe
        "n_value": float(m.n_value),
    }
    if m.factory is not None:  # built once per Dask worker from its import path
        try:
            return from_import_path(
                m.factory, kind="factory", path=str(spec.base_dir.resolve()), **declared
            )
        except OptionError as err:
            raise ConfigError(f"model.factory: {err}") from None
    if m.deepbind is not None:  # a DeepBind parameter file; it declares its own alphabet
        from ..engine.deepbind import read_deepbind

        path = spec.resolve(m.deepbind)
        if not path.is_file():
            raise ConfigError(f"model.deepbind = {m.deepbind!r}: no such file {str(path)!r}")
        fn = read_deepbind(path, alphabet=m.alphabet, layout=m.layout)
    elif m.builtin is not None:
        fn = _builtin(m)
    else:
        assert m.callable is not None  # parse_spec: exactly one source
        fn = _import_callable(m.callable, spec.base_dir)
    model = as_model(fn, **declared)
    if m.callable is not None:
        source = ModelSource(m.callable, "callable", str(spec.base_dir.resolve()))
        model = replace(model, source=source)
    return model


def build_background(
    spec: StudySpec, alphabet: str, section: BackgroundSection | None = None
) -> bgs.Background:
    """The background population declared in ``[background]`` (or ``section``, e.g. one of
    ``controls.sensitivity_backgrounds``).

    Examples
    --------
    >>> from causalgia.studies.spec import DEMO_SPEC, load_spec
    >>> build_background(load_spec(DEMO_SPEC), "rna").length
    41
    """
    b = spec.background if section is None else section
    if b.kind == "iid":
        assert b.length is not None  # parse_spec: iid needs a length
        return bgs.iid(b.length, gc=b.gc, composition=b.composition, alphabet=alphabet)
    assert b.fasta is not None  # parse_spec: the other kinds need a FASTA file
    records = read_fasta(spec.resolve(b.fasta), alphabet=alphabet)
    seqs = list(records.sequences)
    if b.kind == "profile":
        return bgs.profile(seqs, alphabet=alphabet, pseudocount=b.pseudocount)
    if b.kind == "kshuffle":
        return bgs.kshuffle(seqs, k=b.k, alphabet=alphabet)
    if b.kind == "markov":
        return bgs.markov(
            seqs, order=b.order, length=b.length, alphabet=alphabet, pseudocount=b.pseudocount
        )
    return bgs.real(seqs, replace=b.replace, alphabet=alphabet)


def _spec_motif(value: str | MotifFile, spec: StudySpec, where: str) -> str | Motif:
    if isinstance(value, str):
        return value
    motifs = read_motifs(spec.resolve(value.file))
    for motif in motifs:
        if value.name in (motif.name, getattr(motif, "alt_name", "")):
            return motif
    raise ConfigError(f"{where}.motif: no motif named {value.name!r} in {value.file}")


def _arms_of(exp: ExperimentSpec, spec: StudySpec, seed: int, where: str) -> list[Arm]:
    kind, name = exp.type, exp.name
    motif = None if exp.motif is None else _spec_motif(exp.motif, spec, where)
    if kind == "positions":
        return sweep_positions(motif, exp.positions, strand=exp.strand, experiment=name)
    if kind == "counts":
        return sweep_counts(motif, exp.counts, positions=exp.positions, experiment=name)
    if kind == "spacing":
        b = None if exp.motif_b is None else _spec_motif(exp.motif_b, spec, where)
        return sweep_spacing(
            motif, exp.spacings, start=exp.start, motif_b=b, orientations=exp.orientations,
            experiment=name,
        )  # fmt: skip
    if kind in ("substitute", "scrambled"):
        label = None
        if kind == "scrambled":
            original = coerce_motif(motif)
            motif = original.scramble(rng=seed)
            label = f"{motif.consensus()}@{exp.position} (scrambled {original.consensus()})"
        sub = Substitute(motif, exp.position, exp.strand, exp.instance)
        params = {"motif": coerce_motif(motif).consensus(), "position": exp.position}
        return [Arm(exp.label or label or sub.label, sub, name, params)]
    if kind == "mutate":
        mut = Mutate(exp.position, exp.base)
        return [Arm(exp.label or mut.label, mut, name, {"position": exp.position})]
    if kind == "ablate":
        abl = Ablate(exp.start, exp.stop, exp.fill, exp.k)
        return [Arm(exp.label or abl.label, abl, name, {"start": exp.start})]
    if kind == "random_kmers":
        from ..checks.controls import null_kmer_arms

        return null_kmer_arms(
            motif, exp.position, n_kmers=exp.n_kmers, n_scrambles=exp.n_scrambles,
            min_distance=exp.min_distance, experiment=name, rng=seed,
        )  # fmt: skip
    return [Arm(exp.label or "identity", Identity(), name)]


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
    seed = root_seed(st.seed)
    alphabet = spec.model.alphabet or build_model(spec).alphabet.name
    background = build_background(spec, alphabet)
    return design(background, build_arms(spec, seed), n=st.n, kind=st.design, rng=seed)
