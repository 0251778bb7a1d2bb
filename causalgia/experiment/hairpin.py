"""RNA structural context: a motif in a hairpin loop, in a stem, or unstructured.

:class:`Hairpin` writes a stem-loop ``left stem | loop | right stem`` at ``start`` (the right
stem is the reverse complement of the left one, Watson-Crick pairs) and puts the motif in the
loop, in the left stem (so that it is base-paired), or — for the ``"unstructured"`` arm — at the
loop position with no stems at all. ``"hairpin_only"`` writes the stems and no motif (the control
that separates the hairpin's own effect from the motif's).

Whether the designed structure actually forms is checked by folding (ViennaRNA, the optional
``rna`` extra): :func:`fold_check` reports the fraction of designed sequences whose
minimum-free-energy structure has the intended context. Folding helpers (:func:`fold`,
:func:`pair_table`, :func:`motif_context`) are shared with :mod:`causalgia.lab.compare`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from .._options import check_int, check_option, check_probability
from .._rng import mix64, uniforms
from ..errors import InterventionError, OptionError
from ..sequences.alphabet import decode
from ..sequences.motifs import Motif, coerce_motif
from .interventions import Intervention, Substitute, _check_window, _codes

Context = Literal["loop", "stem", "unstructured", "hairpin_only"]
CONTEXTS: tuple[str, ...] = ("loop", "stem", "unstructured", "hairpin_only")
StructureContext = Literal["hairpin_loop", "paired", "mixed", "unpaired"]
_STEM_SALT = np.uint64(0x9E3779B97F4A7C15)
_CODES = {"A": 0, "C": 1, "G": 2, "T": 3, "U": 3}


@dataclass(frozen=True)
class Hairpin(Intervention):
    """Embed a motif in a designed stem-loop (or, for the control arms, without one).

    Layout from ``start``: left stem ``[start, start+S)``, loop ``[start+S, start+S+Lp)``, right
    stem ``[start+S+Lp, start+2S+Lp)`` with ``S = stem_length`` and ``Lp = loop_length``.

    Parameters
    ----------
    motif : str or Motif
        The motif (A/C/G/U/T or IUPAC, or a PWM Motif; instances are drawn per unit).
    start : int
        First position of the left stem.
    context : {"loop", "stem", "unstructured", "hairpin_only"}
        ``"loop"``: stems + motif in the loop at ``offset`` (default centred). ``"stem"``: stems
        with the motif inside the left stem (centred), so the right stem holds its complement.
        ``"unstructured"``: only the motif, at the position it has in the ``"loop"`` arm.
        ``"hairpin_only"``: only the stems.
    stem_length, loop_length : int
        S and Lp. Loop positions other than the motif keep the background letters.
    stem : str or None
        A fixed left stem (length S); None draws it per unit with GC fraction ``gc``.
    gc : float
        GC probability of a random stem letter.
    offset : int or None
        Motif offset inside the loop (``"loop"``/``"unstructured"``), default centred.

    Examples
    --------
    >>> from causalgia.sequences.alphabet import encode, decode
    >>> hp = Hairpin("GCUGG", 2, "loop", stem_length=4, loop_length=7, stem="GGAC")
    >>> decode(hp.apply(encode(["A" * 20])), "rna")
    ['AAGGACAGCUGGAGUCCAAA']
    >>> decode(Hairpin("GCUGG", 2, "unstructured", stem_length=4, loop_length=7)
    ...        .apply(encode(["A" * 20])), "rna")
    ['AAAAAAAGCUGGAAAAAAAA']
    """

    motif: str | Motif
    start: int
    context: Context = "loop"
    stem_length: int = 8
    loop_length: int = 9
    stem: str | None = None
    gc: float = 0.75
    offset: int | None = None
    _pwm: Motif = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_int("start", self.start, minimum=0)
        check_option("context", self.context, CONTEXTS)
        check_int("stem_length", self.stem_length, minimum=2)
        check_int("loop_length", self.loop_length, minimum=3)
        check_probability("gc", self.gc, open_interval=False)
        pwm = coerce_motif(self.motif)
        object.__setattr__(self, "_pwm", pwm)
        if self.stem is not None:
            bad = [c for c in self.stem.upper() if c not in _CODES]
            if len(self.stem) != self.stem_length or bad:
                raise InterventionError(
                    f"stem {self.stem!r} must be {self.stem_length} letters of ACGU/T"
                )
        if self.context in ("loop", "unstructured") and pwm.width > self.loop_length:
            raise InterventionError(
                f"motif {pwm.name!r} (width {pwm.width}) does not fit a loop of "
                f"{self.loop_length} nt"
            )
        if self.context == "stem" and pwm.width > self.stem_length:
            raise InterventionError(
                f"motif {pwm.name!r} (width {pwm.width}) does not fit a stem of "
                f"{self.stem_length} nt"
            )
        if self.offset is not None:
            check_int("offset", self.offset, minimum=0)
            if self.offset + pwm.width > self.loop_length:
                raise InterventionError(
                    f"offset {self.offset} puts motif {pwm.name!r} outside the loop "
                    f"(loop length {self.loop_length})"
                )

    @property
    def width(self) -> int:
        """Length of the whole stem-loop, 2S + Lp."""
        return 2 * self.stem_length + self.loop_length

    @property
    def motif_start(self) -> int:
        """Absolute position of the motif (the left-stem copy for ``"stem"``)."""
        w = self._pwm.width
        if self.context == "stem":
            return self.start + (self.stem_length - w) // 2
        off = (self.loop_length - w) // 2 if self.offset is None else self.offset
        return self.start + self.stem_length + off

    @property
    def label(self) -> str:
        """E.g. ``"GCUGG:loop@10"``."""
        return f"{self._pwm.name}:{self.context}@{self.start}"

    def spans(self, length: int) -> list[tuple[int, int]]:
        """Edited windows: the stems and/or the motif window.

        Parameters
        ----------
        length : int
            Sequence length L.

        Returns
        -------
        list of tuple of int
            ``[left stem, motif, right stem]`` for ``"loop"``, the two stems for ``"stem"`` and
            ``"hairpin_only"``, the motif window for ``"unstructured"``.

        Raises
        ------
        InterventionError
            When the stem-loop does not fit in ``length``.

        Examples
        --------
        >>> Hairpin("GCUGG", 2, "loop", stem_length=4, loop_length=7).spans(20)
        [(2, 6), (7, 12), (13, 17)]
        """
        _check_window(self.start, self.width, length, f"hairpin {self.label!r}")
        s, lp, w = self.stem_length, self.loop_length, self._pwm.width
        left, right = (self.start, self.start + s), (self.start + s + lp, self.start + self.width)
        motif = (self.motif_start, self.motif_start + w)
        if self.context == "unstructured":
            return [motif]
        if self.context in ("stem", "hairpin_only"):
            return [left, right]
        return [left, motif, right]

    def stems(self, keys: np.ndarray) -> np.ndarray:
        """The left stem written for each key, ``(len(keys), S)`` (motif not yet inserted).

        Parameters
        ----------
        keys : ndarray of uint64
            One stream key per unit (unused when ``stem`` is fixed).

        Returns
        -------
        ndarray of uint8
            Codes ``(len(keys), stem_length)``.

        Examples
        --------
        >>> hp = Hairpin("GCUGG", 2, stem_length=4, loop_length=7, stem="GGAC")
        >>> hp.stems(np.zeros(2, dtype=np.uint64)).tolist()
        [[2, 2, 0, 1], [2, 2, 0, 1]]
        """
        keys = np.asarray(keys, dtype=np.uint64)
        if self.stem is not None:
            row = np.array([_CODES[c] for c in self.stem.upper()], dtype=np.uint8)
            return np.broadcast_to(row, (len(keys), self.stem_length)).copy()
        with np.errstate(over="ignore"):
            u = uniforms(mix64(keys ^ _STEM_SALT), 2 * self.stem_length)
        strong = u[:, : self.stem_length] < self.gc
        pick = u[:, self.stem_length :] < 0.5
        # strong: C (1) or G (2); weak: A (0) or U (3)
        return np.where(strong, np.where(pick, 1, 2), np.where(pick, 0, 3)).astype(np.uint8)

    def apply_keyed(self, codes: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """Write the stem-loop (and/or the motif) in every row.

        Parameters
        ----------
        codes : ndarray of uint8
            Codes ``(N, L)``; not modified.
        keys : ndarray of uint64
            One stream key per row (motif instance and random stem).

        Returns
        -------
        ndarray of uint8
            Edited codes ``(N, L)``.

        Raises
        ------
        InterventionError
            When ``codes`` is not uint8 ``(N, L)`` or the stem-loop does not fit.

        Examples
        --------
        >>> from causalgia.sequences.alphabet import encode, decode
        >>> hp = Hairpin("GCUGG", 2, "loop", stem_length=4, loop_length=7, stem="GGAC")
        >>> decode(hp.apply_keyed(encode(["A" * 20]), np.zeros(1, dtype=np.uint64)), "rna")
        ['AAGGACAGCUGGAGUCCAAA']
        """
        arr = _codes(codes)
        self.spans(arr.shape[1])
        out = arr.copy()
        keys = np.asarray(keys, dtype=np.uint64)
        s, a = self.stem_length, self.start
        m0, w = self.motif_start, self._pwm.width
        motif = (
            None if self.context == "hairpin_only" else Substitute(self._pwm, m0).instances(keys)
        )
        if self.context == "unstructured":
            out[:, m0 : m0 + w] = motif
            return out
        left = self.stems(keys)
        if self.context == "stem":
            left[:, m0 - a : m0 - a + w] = motif
        out[:, a : a + s] = left
        out[:, a + self.width - s : a + self.width] = 3 - left[:, ::-1]
        if self.context == "loop":
            out[:, m0 : m0 + w] = motif
        return out


def _rna():
    try:
        import RNA
    except ImportError:
        raise OptionError(
            "folding needs ViennaRNA: pip install 'causalgia[rna]' (the 'viennarna' package)"
        ) from None
    return RNA


def has_viennarna() -> bool:
    """True when the ViennaRNA Python bindings (``import RNA``) are installed."""
    try:
        _rna()
    except OptionError:
        return False
    return True


def fold(sequences: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Minimum-free-energy structures (dot-bracket) and energies (kcal/mol) with ViennaRNA.

    T is read as U.

    Parameters
    ----------
    sequences : sequence of str
        RNA or DNA sequences, any case.

    Returns
    -------
    structures : list of str
        Dot-bracket MFE structure per sequence.
    energies : ndarray of float
        MFE per sequence, kcal/mol.

    Raises
    ------
    OptionError
        When ViennaRNA (``import RNA``) is not installed.

    Examples
    --------
    >>> fold(["GGGGAAACCCC"])[0]  # doctest: +SKIP
    ['((((...))))']
    """
    rna = _rna()
    structures, energies = [], np.empty(len(sequences))
    for i, seq in enumerate(sequences):
        st, mfe = rna.fold(seq.upper().replace("T", "U"))
        structures.append(st)
        energies[i] = mfe
    return structures, energies


def pair_table(structure: str) -> np.ndarray:
    """Partner index of every position of a dot-bracket structure (-1 = unpaired).

    Examples
    --------
    >>> pair_table("((..))").tolist()
    [5, 4, -1, -1, 1, 0]
    """
    partner = np.full(len(structure), -1, dtype=np.int64)
    stack: list[int] = []
    for i, ch in enumerate(structure):
        if ch == "(":
            stack.append(i)
        elif ch == ")":
            if not stack:
                raise OptionError(f"unbalanced ')' at position {i} of {structure!r}")
            j = stack.pop()
            partner[i], partner[j] = j, i
    if stack:
        raise OptionError(f"unbalanced '(' at position {stack[-1]} of {structure!r}")
    return partner


def motif_context(structure: str, start: int, width: int) -> StructureContext:
    """Where ``[start, start+width)`` sits in a structure.

    ``"hairpin_loop"``: every position unpaired and inside a hairpin loop (the innermost
    enclosing pair (i, j) has no pair between i and j). ``"paired"``: more than half of the
    positions paired. ``"unpaired"``: every position unpaired but not in a hairpin loop
    (exterior, bulge, interior or multi-loop). ``"mixed"``: anything else.

    Parameters
    ----------
    structure : str
        Dot-bracket structure.
    start : int
        First position of the window (0-based).
    width : int
        Window width.

    Returns
    -------
    {"hairpin_loop", "paired", "mixed", "unpaired"}

    Raises
    ------
    OptionError
        When the brackets of ``structure`` are unbalanced.

    Examples
    --------
    >>> motif_context("((((.....))))", 5, 3), motif_context("((((.....))))", 0, 4)
    ('hairpin_loop', 'paired')
    """
    partner = pair_table(structure)
    window = partner[start : start + width]
    paired = int((window >= 0).sum())
    if paired * 2 > width:
        return "paired"
    if paired:
        return "mixed"
    # innermost enclosing pair: scan left for an opening bracket whose partner is right of us
    i = start - 1
    while i >= 0 and not (partner[i] > i and partner[i] >= start + width):
        i -= 1
    if i < 0:
        return "unpaired"
    j = partner[i]
    inner = partner[i + 1 : j]
    return "hairpin_loop" if bool(np.all(inner < 0)) else "unpaired"


@dataclass(frozen=True)
class FoldCheck:
    """Folding check of designed sequences: per-sequence structure and the intended fraction.

    ``table`` columns: ``label, context, background_id, sequence, structure, mfe,
    motif_context, stem_pairs_formed, intended``.
    """

    table: pd.DataFrame

    def to_frame(self) -> pd.DataFrame:
        """A copy of the per-sequence table."""
        return self.table.copy()

    def fractions(self) -> pd.DataFrame:
        """Per arm (label, context): n and the fraction whose MFE structure is as intended."""
        return (
            self.table.groupby(["label", "context"], sort=False)["intended"]
            .agg(n="size", fraction_intended="mean")
            .reset_index()
        )

    def summary(self) -> str:
        """One line per arm."""
        lines = ["FoldCheck: fraction of designed sequences whose MFE structure is as intended"]
        for row in self.fractions().itertuples(index=False):
            lines.append(f"  {row.label}: {row.fraction_intended:.1%} of {row.n}")
        return "\n".join(lines)


def fold_check(
    codes: np.ndarray,
    hairpin: Hairpin,
    *,
    label: str | None = None,
    background_ids: Sequence[int] | None = None,
) -> FoldCheck:
    """Fold designed sequences and report whether each has the intended structure.

    Intended: ``"loop"`` — at least S-1 of the S designed stem pairs formed and the motif in a
    hairpin loop; ``"hairpin_only"`` — at least S-1 stem pairs formed; ``"stem"`` — the motif's
    positions paired to their designed partners (at least width-1 of them);
    ``"unstructured"`` — the motif not paired (context ``"unpaired"`` or ``"hairpin_loop"``).

    Examples
    --------
    >>> from causalgia.sequences.alphabet import encode
    >>> hp = Hairpin("GCUGG", 2, "loop", stem_length=6, loop_length=7, stem="GGCGCC")
    >>> fc = fold_check(hp.apply(encode(["A" * 26])), hp)  # doctest: +SKIP
    >>> float(fc.fractions()["fraction_intended"].iloc[0])  # doctest: +SKIP
    1.0
    """
    seqs = decode(_codes(codes), "rna")
    seqs = [seqs] if isinstance(seqs, str) else seqs
    structures, mfe = fold(seqs)
    s, a, w = hairpin.stem_length, hairpin.start, hairpin._pwm.width
    m0 = hairpin.motif_start
    rows = []
    ids = list(range(len(seqs))) if background_ids is None else list(background_ids)
    for bid, seq, st, e in zip(ids, seqs, structures, mfe, strict=True):
        partner = pair_table(st)
        right_end = a + hairpin.width - 1
        stem_pairs = int(sum(partner[a + i] == right_end - i for i in range(s)))
        where = motif_context(st, m0, w)
        if hairpin.context == "loop":
            ok = stem_pairs >= s - 1 and where == "hairpin_loop"
        elif hairpin.context == "hairpin_only":
            ok = stem_pairs >= s - 1
        elif hairpin.context == "stem":
            mates = sum(partner[m0 + i] == right_end - (m0 - a) - i for i in range(w))
            ok = mates >= w - 1
        else:
            ok = where in ("unpaired", "hairpin_loop")
        rows.append(
            {
                "label": label or hairpin.label,
                "context": hairpin.context,
                "background_id": bid,
                "sequence": seq,
                "structure": st,
                "mfe": float(e),
                "motif_context": where,
                "stem_pairs_formed": stem_pairs,
                "intended": bool(ok),
            }
        )
    return FoldCheck(pd.DataFrame(rows))
