"""Motif screens: every motif of a database at every position of a set, in one paired design.

This is the in-silico experiment of Basset (Kelley et al. 2016, *Genome Research*): embed each
known motif into the backgrounds and measure the model's response. Here the screen is one
design with one arm per motif × position, so every arm shares the same backgrounds (paired,
common random numbers) and the usual estimators apply to it unchanged.

- :func:`select_motifs` reads a MEME or JASPAR file (or takes motifs) and picks the motifs to
  screen by name, with a "did you mean" for names that are not there;
- :func:`sweep_motifs` lays out the arms: the motif substituted at each position, a PWM-sampled
  instance per unit (each arm draws its own instance for each background, from its own keyed
  stream) or the consensus.

The analysis (design, simulate, estimate, rank) is :func:`causalgia.analyses.motif_screen`.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from .._options import check_int, check_option
from ..errors import InterventionError, MotifError, OptionError
from ..sequences.alphabet import Alphabet
from ..sequences.motifs import Motif, coerce_motif, read_motifs
from .designs import Arm
from .interventions import Strand, Substitute

Instance = Literal["sample", "consensus"]
SCREEN_EXPERIMENT = "motif_screen"


def _source(motifs: object) -> str:
    return str(motifs) if isinstance(motifs, str | Path) else "the motifs given"


def _close(name: str, motifs: Sequence[Motif]) -> str:
    """``"; did you mean 'MA0139.2' (CTCF)?"``, or the first names the source has."""
    keys = {m.name: m for m in motifs} | {m.alt_name: m for m in motifs if m.alt_name}
    close = difflib.get_close_matches(name, list(keys), n=3, cutoff=0.5)
    close += [k for k in keys if name.lower() in k.lower() and k not in close][:3]
    if close:
        shown = [f"{k!r}" + (f" ({keys[k].alt_name})" if keys[k].name == k and keys[k].alt_name
                             else "") for k in close[:3]]  # fmt: skip
        return f"; did you mean {' or '.join(shown)}?"
    first = ", ".join(repr(m.name) for m in motifs[:8]) + (", ..." if len(motifs) > 8 else "")
    return f"; it has {len(motifs)} motif(s): {first}"


def select_motifs(
    motifs: str | Path | Sequence[Motif | str],
    *,
    names: Sequence[str] | None = None,
    max_motifs: int | None = None,
    alphabet: str | Alphabet | None = None,
    source: str | None = None,
) -> list[Motif]:
    """The motifs of a screen: read from a MEME/JASPAR file (or given), chosen by name.

    Parameters
    ----------
    motifs : str, Path or sequence of Motif or str
        A MEME or JASPAR file (plain or gzip; a ``str`` is always read as a path), or the
        motifs themselves (a string is an exact or IUPAC motif named by itself).
    names : sequence of str, optional
        The motifs to keep, in this order, each matched against a motif's name or alt name
        (a JASPAR ID such as ``"MA0139.2"`` or its name ``"CTCF"``). Default: every motif, in
        file order. A name that matches several motifs (an alt name shared by two versions)
        selects all of them.
    max_motifs : int, optional
        Keep at most this many (the first ones, after ``names``).
    alphabet : {"dna", "rna"}, Alphabet or None, default None
        Alphabet of the file's motifs (:func:`~causalgia.sequences.read_motifs`); None: the one
        the file declares, DNA when it declares none.
    source : str, optional
        How error messages name the motifs; default the file's path (or "the motifs given").

    Returns
    -------
    list of Motif
        The selected motifs, with unique names.

    Raises
    ------
    InputFileError
        When the file is missing or cannot be read.
    MotifError
        When the file is malformed, a name is not in it (the message suggests close names),
        a name is given twice, or two selected motifs share a name.
    OptionError
        On a bad ``max_motifs`` or an empty selection.

    Examples
    --------
    >>> [m.name for m in select_motifs(["GATA", "TGASTCA", "CACGTG"], max_motifs=2)]
    ['GATA', 'TGASTCA']
    >>> select_motifs(["GATA", "CACGTG"], names=["GATTA"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    causalgia.errors.MotifError: motif 'GATTA' is not in the motifs given; did you mean 'GATA'?
    """
    source = _source(motifs) if source is None else source
    if isinstance(motifs, str | Path):
        pool = read_motifs(motifs, alphabet=alphabet)
    else:
        pool = [coerce_motif(m) for m in motifs]
    if not pool:
        raise OptionError(f"{source}: a motif screen needs at least one motif")
    chosen = pool
    if names is not None:
        names = list(names)
        if not names:
            raise OptionError(f"names is empty: name at least one motif of {source}")
        seen: set[str] = set()
        chosen = []
        for name in names:
            if not isinstance(name, str):
                raise OptionError(f"names must be strings, got {name!r}")
            if name in seen:
                raise MotifError(f"motif {name!r} is named twice in names")
            seen.add(name)
            found = [m for m in pool if name in (m.name, m.alt_name)]
            if not found:
                raise MotifError(f"motif {name!r} is not in {source}{_close(name, pool)}")
            chosen += [m for m in found if all(m is not c for c in chosen)]
    if max_motifs is not None:
        chosen = chosen[: check_int("max_motifs", max_motifs, minimum=1)]
    counts: dict[str, int] = {}
    for m in chosen:
        counts[m.name] = counts.get(m.name, 0) + 1
    repeated = [name for name, k in counts.items() if k > 1]
    if repeated:
        raise MotifError(
            f"{source}: motif name {repeated[0]!r} appears {counts[repeated[0]]} times; a screen "
            "labels its arms by motif name, so names must be unique (select one with names=)"
        )
    return chosen


def sweep_motifs(
    motifs: Sequence[Motif | str],
    positions: Sequence[int],
    *,
    strand: Strand = "+",
    instance: Instance = "sample",
    experiment: str = SCREEN_EXPERIMENT,
    length: int | None = None,
) -> list[Arm]:
    """One arm per motif × position: each motif substituted at each position.

    With ``instance="sample"`` every unit gets its own instance drawn from the motif's PWM:
    each arm draws from its own keyed stream (``("arm", experiment, label)``), so the instance a
    background gets differs between arms and does not depend on batch size or order. An exact
    string motif always writes itself. ``"consensus"`` writes the consensus in every unit.

    Parameters
    ----------
    motifs : sequence of Motif or str
        The motifs (e.g. from :func:`select_motifs`), with unique names.
    positions : sequence of int
        0-based start positions, without repeats.
    strand : {"+", "-"}, default "+"
        Strand of every instance.
    instance : {"sample", "consensus"}, default "sample"
        A PWM-sampled instance per unit, or the consensus.
    experiment : str, default "motif_screen"
        Experiment name of the arms.
    length : int, optional
        Length of the backgrounds: when given, every motif must fit at every position (the
        error names the motif, its width and the position); :func:`~causalgia.experiment.design`
        checks it again in any case.

    Returns
    -------
    list of Arm
        Motif-major (every position of the first motif, then the next motif), labelled
        ``"<motif>@<position><strand>"``, with params ``motif, position, strand`` (and
        ``alt_name`` when a motif has one, e.g. the factor name of a JASPAR matrix).

    Raises
    ------
    OptionError
        On no motifs or positions, a repeated position or motif name, or a bad option.
    InterventionError
        When ``length`` is given and a motif does not fit at a position.

    Examples
    --------
    >>> arms = sweep_motifs(["GATA", "CACGTG"], [0, 10])
    >>> [a.label for a in arms]
    ['GATA@0+', 'GATA@10+', 'CACGTG@0+', 'CACGTG@10+']
    >>> arms[3].params
    {'motif': 'CACGTG', 'position': 10, 'strand': '+'}
    """
    check_option("strand", strand, ("+", "-"))
    check_option("instance", instance, ("sample", "consensus"))
    pool = [coerce_motif(m) for m in motifs]
    if not pool:
        raise OptionError("a motif screen needs at least one motif")
    where = [check_int("position", p, minimum=0) for p in positions]
    if not where:
        raise OptionError("a motif screen needs at least one position")
    for label, values in (("position", where), ("motif name", [m.name for m in pool])):
        repeated = sorted({v for v in values if values.count(v) > 1}, key=str)
        if repeated:
            raise OptionError(f"{label} {repeated[0]!r} is given twice in the motif screen")
    if length is not None:
        _check_fits(pool, where, check_int("length", length, minimum=1))
    alt = any(m.alt_name for m in pool)
    arms = []
    for m in pool:
        for p in where:
            params = {"motif": m.name, "position": int(p), "strand": strand}
            if alt:
                params["alt_name"] = m.alt_name
            arms.append(Arm(f"{m.name}@{p}{strand}", Substitute(m, int(p), strand, instance),
                            experiment, params))  # fmt: skip
    return arms


def _check_fits(motifs: Sequence[Motif], positions: Sequence[int], length: int) -> None:
    """Every motif must fit at every position of backgrounds of ``length``."""
    bad = [(m, p) for m in motifs for p in positions if p + m.width > length]
    if not bad:
        return
    m, p = bad[0]
    more = f"; {len(bad) - 1} more motif × position pair(s) do not fit" if len(bad) > 1 else ""
    fits = f"valid starts are 0..{length - m.width}" if m.width <= length else "it fits nowhere"
    raise InterventionError(
        f"motif {m.name!r} (width {m.width}) at position {p} does not fit in sequences of "
        f"length {length}: {fits}{more}"
    )
