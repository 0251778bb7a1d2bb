"""From a parsed spec to the objects of the pipeline: model, background population, arms, design.

:func:`build_model`, :func:`build_background` and :func:`build_arms` are what ``causalgia run``,
``resume`` and ``export`` share, so the three lay out exactly the same design for one spec.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from .._rng import root_seed
from ..engine.declaration import as_model, from_import_path
from ..engine.models import Model, ModelSource
from ..errors import (
    CausalgiaError,
    ConfigError,
    InterventionError,
    InvalidSequenceError,
    MotifError,
    OptionError,
)
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
from ..experiment.screens import select_motifs, sweep_motifs
from ..sequences.alphabet import get_alphabet
from ..sequences.io import read_fasta
from ..sequences.motifs import Motif, coerce_motif, read_motifs
from ..testing import AdditiveOracle, RBPOracle
from .sections import (
    DESIGN_CSV_ROWS,
    BackgroundSection,
    ExperimentSpec,
    ModelSection,
    MotifFile,
)
from .spec import StudySpec, load_spec


def _builtin(model: ModelSection) -> object:
    if model.builtin == "additive_oracle":
        assert model.motif is not None and model.length is not None  # parse_spec checked
        return AdditiveOracle.from_motif(model.motif, model.length)
    return RBPOracle()


def _import_callable(target: str, base_dir: Path) -> object:
    module_name, _, attr = target.partition(":")
    where = f"model.callable = {target!r}"
    sys.path.insert(0, str(base_dir.resolve()))
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigError(
            f"{where}: cannot import module {module_name!r} (searched {base_dir.resolve()} and "
            f"the installed packages): {err}"
        ) from None
    except (Exception, SystemExit) as err:  # the module's own code failed while importing
        raise ConfigError(
            f"{where}: importing module {module_name!r} raised {type(err).__name__}: {err}"
        ) from None
    finally:
        sys.path.pop(0)
    if not hasattr(module, attr):
        raise ConfigError(f"{where}: module {module_name!r} has no attribute {attr!r}")
    return getattr(module, attr)


@contextmanager
def _located(where: str) -> Iterator[None]:
    """Prefix a causalgia error raised inside with the spec key (and file) it came from."""
    try:
        yield
    except CausalgiaError as err:
        if isinstance(err, ConfigError) and str(err).startswith(where):
            raise
        located = type(err)(f"{where}: {err}")
        raise located.with_traceback(None) from None


def input_file(spec: StudySpec, key: str, value: str) -> Path:
    """The file a spec key names, resolved against the spec's folder, checked to be readable.

    Raises
    ------
    ConfigError
        Naming the key, its value and the resolved path, when the file is missing, a
        directory, or cannot be read.

    Examples
    --------
    >>> from causalgia.studies.spec import DEMO_SPEC, load_spec
    >>> input_file(load_spec(DEMO_SPEC), "background.fasta", "missing.fa")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    causalgia.errors.ConfigError: background.fasta = 'missing.fa': no such file .../missing.fa
    """
    path = spec.resolve(value)
    where, shown = f"{key} = {value!r}", path.absolute()
    if path.is_dir():
        raise ConfigError(f"{where}: {shown} is a directory, not a file")
    if not path.exists():
        raise ConfigError(f"{where}: no such file {shown}")
    if not os.access(path, os.R_OK):
        raise ConfigError(f"{where}: {shown} cannot be read (permission denied)")
    return path


def build_model(spec: StudySpec) -> Model:
    """The model declared in ``[model]``: a builtin oracle, an imported callable or factory, or
    a DeepBind parameter file (``model.deepbind = "path/D00210.001.txt"``).

    Parameters
    ----------
    spec : StudySpec
        The parsed study.

    Returns
    -------
    Model

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
        "also_accepts": m.also_accepts,
        **_declared_outputs(m),
    }
    if m.factory is not None:  # built once per Dask worker from its import path
        try:
            return from_import_path(
                m.factory, kind="factory", path=str(spec.base_dir.resolve()), **declared
            )
        except OptionError as err:
            raise ConfigError(f"model.factory: {err}") from None
        except CausalgiaError:
            raise
        except (Exception, SystemExit) as err:  # the factory's own code failed
            raise ConfigError(
                f"model.factory = {m.factory!r}: building the model raised "
                f"{type(err).__name__}: {err}"
            ) from None
    if m.deepbind is not None:  # a DeepBind parameter file; it declares its own alphabet
        from ..engine.deepbind import read_deepbind

        path = input_file(spec, "model.deepbind", m.deepbind)
        with _located(f"model.deepbind = {m.deepbind!r}"):
            fn = read_deepbind(path, alphabet=m.alphabet, layout=m.layout)
    elif m.builtin is not None:
        fn = _builtin(m)
    else:
        assert m.callable is not None  # parse_spec: exactly one source
        fn = _import_callable(m.callable, spec.base_dir)
    try:
        model = as_model(fn, **declared)
    except OptionError as err:
        raise ConfigError(f"model.{m.source} = {getattr(m, m.source)!r}: {err}") from None
    if m.callable is not None:
        source = ModelSource(m.callable, "callable", str(spec.base_dir.resolve()))
        model = replace(model, source=source)
    return model


def _declared_outputs(m: ModelSection) -> dict[str, Any]:
    """``outputs=`` / ``task_names=`` of :func:`as_model` for ``[model] outputs`` (none when
    the spec declares one output functional, so one-output models are built as before)."""
    if m.outputs is None:
        return {}
    outputs = m.outputs if isinstance(m.outputs, str) else dict(m.outputs)
    return {"outputs": outputs, "task_names": m.task_names}


def build_background(
    spec: StudySpec, alphabet: str, section: BackgroundSection | None = None
) -> bgs.Background:
    """The background population declared in ``[background]`` (or ``section``, e.g. one of
    ``controls.sensitivity_backgrounds``).

    Parameters
    ----------
    spec : StudySpec
        The parsed study (FASTA paths are relative to its folder).
    alphabet : str
        ``"dna"`` or ``"rna"``, the model's alphabet.
    section : BackgroundSection, optional
        The background to build instead of ``spec.background``.

    Returns
    -------
    Background

    Raises
    ------
    ConfigError
        When the FASTA file is missing or unreadable, or its sequences' length differs from
        ``model.length``.

    Examples
    --------
    >>> from causalgia.studies.spec import DEMO_SPEC, load_spec
    >>> build_background(load_spec(DEMO_SPEC), "rna").length
    41
    """
    b = spec.background if section is None else section
    key = "background" if section is None else f"controls.sensitivity_backgrounds ({b.label()})"
    if b.kind == "iid":
        assert b.length is not None  # parse_spec: iid needs a length
        return bgs.iid(b.length, gc=b.gc, composition=b.composition, alphabet=alphabet)
    assert b.fasta is not None  # parse_spec: the other kinds need a FASTA file
    where = f"{key}.fasta = {b.fasta!r}"
    path = input_file(spec, f"{key}.fasta", b.fasta)
    with _located(where):
        records, alphabet = _read_background(path, alphabet, spec.model.also_accepts)
        seqs = list(records.sequences)
        if b.kind == "profile":
            background = bgs.profile(seqs, alphabet=alphabet, pseudocount=b.pseudocount)
        elif b.kind == "kshuffle":
            background = bgs.kshuffle(seqs, k=b.k, alphabet=alphabet)
        elif b.kind == "markov":
            background = bgs.markov(
                seqs, order=b.order, length=b.length, alphabet=alphabet, pseudocount=b.pseudocount
            )
        else:
            background = bgs.real(seqs, replace=b.replace, alphabet=alphabet)
    length = spec.model.length
    if length is not None and background.length != length:
        raise ConfigError(
            f"model.length = {length} but the sequences of {where} have length "
            f"{background.length}: the additive oracle scores sequences of its own length; "
            "set model.length to the background's length"
        )
    return background


def _read_background(path: Path, alphabet: str, also: str | None) -> tuple[Any, str]:
    """A background FASTA in the model's alphabet, else (declared ``model.also_accepts``) in
    the other one, and the alphabet it was read in."""
    try:
        return read_fasta(path, alphabet=alphabet, fixed_length=True), alphabet
    except InvalidSequenceError:
        if also is None or also == alphabet:
            raise
    return read_fasta(path, alphabet=also, fixed_length=True), also


def check_inputs(spec: StudySpec, alphabet: str) -> None:
    """Read the inputs a run would otherwise read only after its simulation (the FASTA files
    of ``controls.sensitivity_backgrounds``), so that a mistake in them stops the run before
    the first forward pass, naming the key.

    Examples
    --------
    >>> from causalgia.studies.spec import DEMO_SPEC, load_spec
    >>> check_inputs(load_spec(DEMO_SPEC), "rna")
    """
    if spec.controls is not None:
        for section in spec.controls.sensitivity_backgrounds:
            build_background(spec, alphabet, section)


def _spec_motif(value: str | MotifFile, spec: StudySpec, where: str) -> str | Motif:
    """A motif string as given, or the motif of a MEME/JASPAR file named in the spec.

    The file is read in the alphabet it declares (a MEME ``ALPHABET=`` line; DNA otherwise).
    T and U share one code, so a motif in the other alphabet than the model's is relabelled
    into the model's alphabet (``spec.model.alphabet`` when given) rather than refused.
    """
    if isinstance(value, str):
        return value
    path = input_file(spec, f"{where}.file", value.file)
    with _located(f"{where}.file = {value.file!r}"):
        motifs = read_motifs(path, alphabet=None)
    for motif in motifs:
        if value.name in (motif.name, getattr(motif, "alt_name", "")):
            wanted = spec.model.alphabet
            if wanted is not None and motif.alphabet.name != wanted:
                motif = replace(motif, alphabet=get_alphabet(wanted))
            return motif
    names = ", ".join(repr(m.name) for m in motifs[:8]) + (", ..." if len(motifs) > 8 else "")
    raise ConfigError(
        f"{where}.name = {value.name!r}: no motif of that name in {value.file} (it has {names})"
    )


def _screen_arms(exp: ExperimentSpec, spec: StudySpec, where: str) -> list[Arm]:
    """The arms of a ``motif_screen``: the file's motifs (or ``names``) × ``positions``.

    Every error names the key: a missing or malformed file, an unknown name (with close
    names), and, when the spec gives the background's length, a motif that does not fit at a
    position (otherwise :func:`~causalgia.experiment.design` names the arm, before any forward
    pass).
    """
    assert exp.motifs is not None  # parse_spec: required
    path = input_file(spec, f"{where}.motifs", exp.motifs)
    with _located(f"{where}.motifs = {exp.motifs!r}"):
        pool = read_motifs(path, alphabet=None)
    try:
        motifs = select_motifs(
            pool, names=exp.names or None, max_motifs=exp.max_motifs, source=str(path)
        )
    except MotifError as err:
        key = f"{where}.names" if exp.names else f"{where}.motifs = {exp.motifs!r}"
        raise ConfigError(f"{key}: {err}") from None
    wanted = spec.model.alphabet
    if wanted is not None:
        motifs = [m if m.alphabet.name == wanted else replace(m, alphabet=get_alphabet(wanted))
                  for m in motifs]  # fmt: skip
    length = spec.background.length  # None unless the spec gives it (iid, markov)
    try:
        return sweep_motifs(motifs, exp.positions, strand=exp.strand, instance=exp.instance,
                            experiment=exp.name, length=length)  # fmt: skip
    except InterventionError as err:
        raise ConfigError(
            f"{where}.positions: {err} (motifs of {exp.motifs}; background.length = {length})"
        ) from None


def _arms_of(exp: ExperimentSpec, spec: StudySpec, seed: int, where: str) -> list[Arm]:
    kind, name = exp.type, exp.name
    if kind == "motif_screen":
        return _screen_arms(exp, spec, where)
    motif = None if exp.motif is None else _spec_motif(exp.motif, spec, f"{where}.motif")
    if kind == "positions":
        return sweep_positions(motif, exp.positions, strand=exp.strand, experiment=name)
    if kind == "counts":
        return sweep_counts(motif, exp.counts, positions=exp.positions, experiment=name)
    if kind == "spacing":
        b = None if exp.motif_b is None else _spec_motif(exp.motif_b, spec, f"{where}.motif_b")
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
    """Every arm of every ``[[experiment]]``, in spec order.

    Parameters
    ----------
    spec : StudySpec
        The parsed study.
    seed : int
        The study's root seed; it draws scrambled motifs and random k-mer arms.

    Returns
    -------
    list of Arm
        The arms, experiment by experiment.

    Examples
    --------
    >>> from causalgia.studies.spec import DEMO_SPEC, load_spec
    >>> arms = build_arms(load_spec(DEMO_SPEC), seed=0)
    >>> arms[0].experiment, arms[0].label
    ('position', 'UGCAUG@0+')
    """
    arms: list[Arm] = []
    for index, exp in enumerate(spec.experiments):
        arms += _arms_of(exp, spec, seed, f"experiment[{index}]")
    return arms


def design_from_spec(spec_path: str | Path) -> Design:
    """The design a TOML study spec lays out (same seed, background and arms as ``run``).

    Parameters
    ----------
    spec_path : str or Path
        The TOML study spec.

    Returns
    -------
    Design
        The study's design: background, arms, ``n``, kind and seed.

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


def design_output(d: Design, setting: str) -> dict[str, Any]:
    """The design-table keywords of ``write_report`` for ``[study] design_table``.

    ``"auto"`` writes ``design.csv`` up to :data:`~causalgia.studies.sections.DESIGN_CSV_ROWS`
    rows and ``design.parquet`` above (csv when pyarrow is missing); ``"none"`` writes no
    design table. The table is given as blocks (:meth:`Design.iter_frames`), so it is never
    held in memory whole.

    Examples
    --------
    >>> from causalgia.studies.spec import DEMO_SPEC
    >>> d = design_from_spec(DEMO_SPEC)
    >>> design_output(d, "auto")["design_format"], design_output(d, "none")
    ('csv', {'design': None})
    """
    if setting == "none":
        return {"design": None}
    rows = d.n_forward
    fmt = setting
    if setting == "auto":
        big = rows > DESIGN_CSV_ROWS and importlib.util.find_spec("pyarrow") is not None
        fmt = "parquet" if big else "csv"
    return {"design": d.iter_frames(typed=fmt == "parquet"), "design_format": fmt}
