"""Do-interventions on sequences: small immutable objects applied to a batch of codes.

Each intervention maps codes ``(N, L)`` to new codes of the same shape and never mutates its
input. Random interventions (a PWM-sampled motif instance, a shuffled or random fill) draw from a
stream keyed by the unit, so the same background under the same key always gets the same edit.

Composition order: :class:`Compose` applies its parts left to right, and refuses parts whose
edited windows overlap, so the order cannot change the result.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Literal

import numpy as np

from .._options import check_int, check_option
from .._rng import RngLike, mix64, root_seed, uniforms, unit_keys
from ..errors import InterventionError
from ..sequences.alphabet import N_CODE
from ..sequences.motifs import Motif, coerce_motif

if TYPE_CHECKING:
    from .backgrounds import Background

Strand = Literal["+", "-"]
Fill = Literal["shuffle", "random", "background"]
_LETTER_CODES = {"A": 0, "C": 1, "G": 2, "T": 3, "U": 3}
Edit = tuple[int, np.ndarray]


def _check_window(start: int, width: int, length: int, what: str) -> None:
    if start < 0 or start + width > length:
        raise InterventionError(
            f"{what} (width {width}) at position {start} does not fit in sequences of length "
            f"{length}: valid starts are 0..{length - width}"
        )


def _codes(codes: np.ndarray) -> np.ndarray:
    arr = np.asarray(codes)
    if arr.ndim != 2 or arr.dtype != np.uint8:
        raise InterventionError(
            f"interventions take uint8 codes of shape (N, L); got {arr.dtype} {arr.shape}"
        )
    return arr


class Intervention(ABC):
    """A do-operator on sequences. Subclasses are frozen dataclasses."""

    @abstractmethod
    def spans(self, length: int) -> list[tuple[int, int]]:
        """Half-open windows edited in sequences of ``length``; raises if they do not fit.

        Parameters
        ----------
        length : int
            Sequence length L.

        Returns
        -------
        list of tuple of int
            ``(start, stop)`` windows.

        Raises
        ------
        InterventionError
            When a window does not fit in ``length``.

        Examples
        --------
        >>> Substitute("GATA", 3).spans(10)
        [(3, 7)]
        """

    @abstractmethod
    def apply_keyed(self, codes: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """Apply to codes ``(N, L)`` with one uint64 stream key per row; returns a new array.

        Parameters
        ----------
        codes : ndarray of uint8
            Codes ``(N, L)``; not modified.
        keys : ndarray of uint64
            One stream key per row; a row's random draws depend only on its key.

        Returns
        -------
        ndarray of uint8
            Edited codes ``(N, L)``.

        Raises
        ------
        InterventionError
            When ``codes`` is not uint8 ``(N, L)`` or a window does not fit.

        Examples
        --------
        >>> from causalgia.sequences.alphabet import encode, decode
        >>> decode(Mutate(0, "T").apply_keyed(encode(["AAA"]), np.zeros(1, dtype=np.uint64)))
        ['TAA']
        """

    @property
    @abstractmethod
    def label(self) -> str:
        """A short human-readable name."""

    def fixed_edits(self, length: int) -> tuple[Edit, ...] | None:
        """The edit as window writes ``(start, codes)`` when it draws nothing at random.

        Returns None (the default) for an intervention whose result depends on the stream key
        or on the sequence beyond overwriting fixed windows (a sampled motif instance, a
        shuffle, an insertion). When not None, ``apply_keyed(codes, keys)`` equals ``codes``
        with every ``codes[:, start:start + len(w)] = w`` written, for any ``keys``, so a
        simulator may apply many such arms at once without stream keys.

        Parameters
        ----------
        length : int
            Sequence length L.

        Returns
        -------
        tuple of (int, ndarray of uint8), or None
            The window writes, or None.

        Raises
        ------
        InterventionError
            Like :meth:`spans`, when the windows do not fit ``length``.

        Examples
        --------
        >>> Substitute("GATA", 3).fixed_edits(10)
        ((3, array([2, 0, 3, 0], dtype=uint8)),)
        >>> Substitute("GAYA", 3).fixed_edits(10) is None
        True
        """
        return None

    def apply(self, codes: np.ndarray, rng: RngLike = None) -> np.ndarray:
        """Apply to a batch of codes ``(N, L)``; row i's random draws are keyed by its index.

        Parameters
        ----------
        codes : ndarray of uint8
            Codes ``(N, L)``; not modified.
        rng : int, Generator or None, default None
            Root seed of the row streams; None draws fresh entropy.

        Returns
        -------
        ndarray of uint8
            Edited codes ``(N, L)``.

        Raises
        ------
        InterventionError
            When ``codes`` is not uint8 ``(N, L)`` or a window does not fit.

        Examples
        --------
        >>> from causalgia.sequences.alphabet import encode, decode
        >>> decode(Substitute("GATA", 2).apply(encode(["CCCCCCCC"])))
        ['CCGATACC']
        """
        arr = _codes(codes)
        keys = unit_keys(root_seed(rng), np.arange(arr.shape[0]), "apply", self.label)
        return self.apply_keyed(arr, keys)


@dataclass(frozen=True)
class Identity(Intervention):
    """The placebo: changes nothing, so its ICE is exactly 0 for every background.

    Examples
    --------
    >>> Identity().label
    'identity'
    """

    def spans(self, length: int) -> list[tuple[int, int]]:
        """No window is edited.

        Parameters
        ----------
        length : int
            Sequence length L (unused).

        Returns
        -------
        list
            Empty.

        Examples
        --------
        >>> Identity().spans(10)
        []
        """
        return []

    def apply_keyed(self, codes: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """Return an unchanged copy.

        Parameters
        ----------
        codes : ndarray of uint8
            Codes ``(N, L)``.
        keys : ndarray of uint64
            One stream key per row (unused).

        Returns
        -------
        ndarray of uint8
            A copy of ``codes``.

        Raises
        ------
        InterventionError
            When ``codes`` is not uint8 ``(N, L)``.

        Examples
        --------
        >>> from causalgia.sequences.alphabet import encode
        >>> Identity().apply_keyed(encode(["ACGT"]), np.zeros(1, dtype=np.uint64)).tolist()
        [[0, 1, 2, 3]]
        """
        return _codes(codes).copy()

    def fixed_edits(self, length: int) -> tuple[Edit, ...] | None:
        """No window is written.

        Parameters
        ----------
        length : int
            Sequence length L (unused).

        Returns
        -------
        tuple or None
            Empty (None in a subclass that overrides :meth:`apply_keyed`).

        Examples
        --------
        >>> Identity().fixed_edits(10)
        ()
        """
        return () if type(self).apply_keyed is Identity.apply_keyed else None

    @property
    def label(self) -> str:
        """``"identity"``."""
        return "identity"


@dataclass(frozen=True)
class Substitute(Intervention):
    """Overwrite the window at ``position`` with a motif instance (length is unchanged).

    ``motif`` is a string (A/C/G/T/U or IUPAC; T and U are the same code) or a
    :class:`~causalgia.sequences.Motif`. ``instance="sample"`` draws an instance from the motif's
    probabilities per unit (an exact string always gives itself); ``"consensus"`` embeds the
    consensus. On the ``"-"`` strand the reverse complement of the instance is written.

    Examples
    --------
    >>> from causalgia.sequences.alphabet import encode, decode
    >>> decode(Substitute("AACG", 1, strand="-").apply(encode(["TTTTTT"])))
    ['TCGTTT']
    """

    motif: str | Motif
    position: int
    strand: Strand = "+"
    instance: Literal["sample", "consensus"] = "sample"
    _pwm: Motif = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_int("position", self.position)
        check_option("strand", self.strand, ("+", "-"))
        check_option("instance", self.instance, ("sample", "consensus"))
        object.__setattr__(self, "_pwm", coerce_motif(self.motif))

    @property
    def width(self) -> int:
        """Motif width."""
        return self._pwm.width

    @property
    def label(self) -> str:
        """E.g. ``"TGCATG@10+"``."""
        return f"{self._pwm.name}@{self.position}{self.strand}"

    def spans(self, length: int) -> list[tuple[int, int]]:
        """The motif window.

        Parameters
        ----------
        length : int
            Sequence length L.

        Returns
        -------
        list of tuple of int
            ``[(position, position + width)]``.

        Raises
        ------
        InterventionError
            When the motif does not fit in ``length``.

        Examples
        --------
        >>> Substitute("GATA", 3).spans(10)
        [(3, 7)]
        """
        _check_window(self.position, self.width, length, f"motif {self._pwm.name!r}")
        return [(self.position, self.position + self.width)]

    @cached_property
    def _fixed_row(self) -> np.ndarray | None:
        """The written codes, strand applied, when no instance is drawn (else None)."""
        if not (self.instance == "consensus" or self._pwm.is_deterministic):
            return None
        row = np.array([_LETTER_CODES[c] for c in self._pwm.consensus()], dtype=np.uint8)
        if self.strand == "-":
            row = (3 - row[::-1]).astype(np.uint8)
        row.setflags(write=False)
        return row

    def instances(self, keys: np.ndarray) -> np.ndarray:
        """The motif codes written for each key, ``(len(keys), width)``, strand applied.

        Parameters
        ----------
        keys : ndarray of uint64
            One stream key per instance.

        Returns
        -------
        ndarray of uint8
            Codes ``(len(keys), width)``; a read-only broadcast when nothing is drawn.

        Examples
        --------
        >>> Substitute("GATA", 0, strand="-").instances(np.zeros(2, dtype=np.uint64)).tolist()
        [[3, 0, 3, 1], [3, 0, 3, 1]]
        """
        row = self._fixed_row
        if row is not None:
            return np.broadcast_to(row, (len(keys), self.width))
        inst = self._pwm.sample_keyed(np.asarray(keys, dtype=np.uint64))
        if self.strand == "-":
            inst = (3 - inst[:, ::-1]).astype(np.uint8)
        return inst

    def apply_keyed(self, codes: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """Write one instance per row.

        Parameters
        ----------
        codes : ndarray of uint8
            Codes ``(N, L)``; not modified.
        keys : ndarray of uint64
            One stream key per row.

        Returns
        -------
        ndarray of uint8
            Edited codes ``(N, L)``.

        Raises
        ------
        InterventionError
            When ``codes`` is not uint8 ``(N, L)`` or the motif does not fit.

        Examples
        --------
        >>> from causalgia.sequences.alphabet import encode, decode
        >>> decode(Substitute("GG", 1).apply_keyed(encode(["AAAA"]), np.zeros(1, dtype=np.uint64)))
        ['AGGA']
        """
        arr = _codes(codes)
        ((start, stop),) = self.spans(arr.shape[1])
        out = arr.copy()
        out[:, start:stop] = self.instances(keys)
        return out

    def fixed_edits(self, length: int) -> tuple[Edit, ...] | None:
        """The consensus or exact-string window; None when an instance is drawn per unit.

        Parameters
        ----------
        length : int
            Sequence length L.

        Returns
        -------
        tuple of (int, ndarray of uint8), or None
            ``((position, codes),)``, strand applied, or None.

        Raises
        ------
        InterventionError
            When the motif does not fit in ``length``.

        Examples
        --------
        >>> Substitute("AC", 0, strand="-").fixed_edits(4)
        ((0, array([2, 3], dtype=uint8)),)
        """
        if type(self).apply_keyed is not Substitute.apply_keyed or self._fixed_row is None:
            return None
        self.spans(length)
        return ((self.position, self._fixed_row),)


@dataclass(frozen=True)
class Insert(Intervention):
    """Insert a motif at ``position``, shifting the rest right and trimming the 3' end.

    The length is kept, so everything from ``position`` to the end counts as edited.

    Examples
    --------
    >>> from causalgia.sequences.alphabet import encode, decode
    >>> decode(Insert("GG", 1).apply(encode(["ACTT"])))
    ['AGGC']
    """

    motif: str | Motif
    position: int
    strand: Strand = "+"
    instance: Literal["sample", "consensus"] = "sample"
    _sub: Substitute = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "_sub", Substitute(self.motif, self.position, self.strand, self.instance)
        )

    @property
    def label(self) -> str:
        """E.g. ``"ins:GG@1+"``."""
        return "ins:" + self._sub.label

    def spans(self, length: int) -> list[tuple[int, int]]:
        """From the insertion point to the end of the sequence.

        Parameters
        ----------
        length : int
            Sequence length L.

        Returns
        -------
        list of tuple of int
            ``[(position, length)]``.

        Raises
        ------
        InterventionError
            When the motif does not fit in ``length`` at ``position``.

        Examples
        --------
        >>> Insert("GG", 1).spans(4)
        [(1, 4)]
        """
        self._sub.spans(length)
        return [(self.position, length)]

    def apply_keyed(self, codes: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """Insert one instance per row.

        Parameters
        ----------
        codes : ndarray of uint8
            Codes ``(N, L)``; not modified.
        keys : ndarray of uint64
            One stream key per row.

        Returns
        -------
        ndarray of uint8
            Edited codes ``(N, L)``, trimmed at the 3' end.

        Raises
        ------
        InterventionError
            When ``codes`` is not uint8 ``(N, L)`` or the motif does not fit.

        Examples
        --------
        >>> from causalgia.sequences.alphabet import encode, decode
        >>> decode(Insert("GG", 1).apply_keyed(encode(["ACTT"]), np.zeros(1, dtype=np.uint64)))
        ['AGGC']
        """
        arr = _codes(codes)
        self.spans(arr.shape[1])
        p, w = self.position, self._sub.width
        out = arr.copy()
        out[:, p + w :] = arr[:, p : arr.shape[1] - w]
        out[:, p : p + w] = self._sub.instances(keys)
        return out


@dataclass(frozen=True)
class Ablate(Intervention):
    """Occlude the window ``[start, stop)`` by a fill drawn per unit.

    ``fill="shuffle"`` permutes the window's own letters preserving its ``k``-let counts
    (uniformly over such shuffles), ``"random"`` draws letters uniformly, and ``"background"``
    copies the window from a fresh draw of ``background``.

    Examples
    --------
    >>> from causalgia.sequences.alphabet import encode
    >>> out = Ablate(2, 6, fill="shuffle").apply(encode(["AAACGTAA"]), rng=0)
    >>> sorted(out[0, 2:6].tolist())
    [0, 1, 2, 3]
    """

    start: int
    stop: int
    fill: Fill = "shuffle"
    k: int = 1
    background: Background | None = None

    def __post_init__(self) -> None:
        check_int("start", self.start, minimum=0)
        check_int("stop", self.stop, minimum=self.start + 1)
        check_option("fill", self.fill, ("shuffle", "random", "background"))
        check_int("k", self.k, minimum=1)
        if (self.fill == "background") != (self.background is not None):
            raise InterventionError("Ablate needs background= exactly when fill='background'")

    @property
    def label(self) -> str:
        """E.g. ``"ablate:10-20:shuffle"``."""
        return f"ablate:{self.start}-{self.stop}:{self.fill}"

    def spans(self, length: int) -> list[tuple[int, int]]:
        """The occluded window.

        Parameters
        ----------
        length : int
            Sequence length L.

        Returns
        -------
        list of tuple of int
            ``[(start, stop)]``.

        Raises
        ------
        InterventionError
            When ``stop`` exceeds ``length``.

        Examples
        --------
        >>> Ablate(2, 6).spans(8)
        [(2, 6)]
        """
        _check_window(self.start, self.stop - self.start, length, "ablated window")
        return [(self.start, self.stop)]

    def _shuffled(self, window: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """k = 1: a keyed uniform permutation (N allowed); k > 1: a uniform k-let shuffle."""
        if self.k == 1:
            order = np.argsort(uniforms(keys, window.shape[1]), axis=1, kind="stable")
            return np.take_along_axis(window, order, axis=1)
        has_n = np.argwhere(window == N_CODE)
        if has_n.size:
            row, pos = (int(v) for v in has_n[0])
            raise InterventionError(
                f"row {row}: the ablated window contains N at position {self.start + pos}; "
                f"a {self.k}-let shuffle needs A/C/G/T (use k=1 or fill='random')"
            )
        from .backgrounds import shuffle_keyed

        return shuffle_keyed(window, keys, self.k)

    def apply_keyed(self, codes: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """Fill the window in every row.

        Parameters
        ----------
        codes : ndarray of uint8
            Codes ``(N, L)``; not modified.
        keys : ndarray of uint64
            One stream key per row.

        Returns
        -------
        ndarray of uint8
            Codes ``(N, L)`` with the window refilled.

        Raises
        ------
        InterventionError
            When ``codes`` is not uint8 ``(N, L)``, the window does not fit, a ``k > 1``
            shuffle meets an N, or the fill background has another length.

        Examples
        --------
        >>> from causalgia.sequences.alphabet import encode
        >>> keys = np.arange(2, dtype=np.uint64)
        >>> out = Ablate(0, 4, fill="random").apply_keyed(encode(["AAAAAA"] * 2), keys)
        >>> out[:, 4:].tolist()
        [[0, 0], [0, 0]]
        """
        arr = _codes(codes)
        self.spans(arr.shape[1])
        a, b = self.start, self.stop
        out = arr.copy()
        if self.fill == "shuffle":
            out[:, a:b] = self._shuffled(np.ascontiguousarray(arr[:, a:b]), keys)
        elif self.fill == "random":
            out[:, a:b] = np.floor(uniforms(keys, b - a) * 4).astype(np.uint8)
        else:
            assert self.background is not None
            if self.background.length != arr.shape[1]:
                raise InterventionError(
                    f"fill background has length {self.background.length}, sequences have "
                    f"{arr.shape[1]}"
                )
            ids = (np.asarray(keys, dtype=np.uint64) >> np.uint64(1)).astype(np.int64)
            out[:, a:b] = self.background.generate(ids, 0)[:, a:b]
        return out


@dataclass(frozen=True)
class Mutate(Intervention):
    """Set the base at ``position`` to ``base`` (a letter A/C/G/T/U or a code 0-3).

    Examples
    --------
    >>> from causalgia.sequences.alphabet import encode, decode
    >>> decode(Mutate(1, "G").apply(encode(["AAA"])))
    ['AGA']
    """

    position: int
    base: str | int

    def __post_init__(self) -> None:
        check_int("position", self.position, minimum=0)
        if isinstance(self.base, str):
            check_option("base", self.base.upper(), tuple(_LETTER_CODES))
        else:
            check_option("base", self.base, (0, 1, 2, 3))

    @property
    def code(self) -> int:
        """The base as a code 0-3."""
        return _LETTER_CODES[self.base.upper()] if isinstance(self.base, str) else int(self.base)

    @property
    def label(self) -> str:
        """E.g. ``"mut:12G"``."""
        return f"mut:{self.position}{self.base}"

    def spans(self, length: int) -> list[tuple[int, int]]:
        """The mutated position.

        Parameters
        ----------
        length : int
            Sequence length L.

        Returns
        -------
        list of tuple of int
            ``[(position, position + 1)]``.

        Raises
        ------
        InterventionError
            When ``position`` is not below ``length``.

        Examples
        --------
        >>> Mutate(1, "G").spans(3)
        [(1, 2)]
        """
        _check_window(self.position, 1, length, "mutation")
        return [(self.position, self.position + 1)]

    def apply_keyed(self, codes: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """Set the base in every row.

        Parameters
        ----------
        codes : ndarray of uint8
            Codes ``(N, L)``; not modified.
        keys : ndarray of uint64
            One stream key per row (unused).

        Returns
        -------
        ndarray of uint8
            Edited codes ``(N, L)``.

        Raises
        ------
        InterventionError
            When ``codes`` is not uint8 ``(N, L)`` or ``position`` does not fit.

        Examples
        --------
        >>> from causalgia.sequences.alphabet import encode, decode
        >>> decode(Mutate(0, 3).apply_keyed(encode(["AAA"]), np.zeros(1, dtype=np.uint64)))
        ['TAA']
        """
        arr = _codes(codes)
        self.spans(arr.shape[1])
        out = arr.copy()
        out[:, self.position] = self.code
        return out

    def fixed_edits(self, length: int) -> tuple[Edit, ...] | None:
        """The one-base window.

        Parameters
        ----------
        length : int
            Sequence length L.

        Returns
        -------
        tuple of (int, ndarray of uint8), or None
            ``((position, [code]),)`` (None in a subclass that overrides :meth:`apply_keyed`).

        Raises
        ------
        InterventionError
            When ``position`` is not below ``length``.

        Examples
        --------
        >>> Mutate(1, "G").fixed_edits(3)
        ((1, array([2], dtype=uint8)),)
        """
        if type(self).apply_keyed is not Mutate.apply_keyed:
            return None
        self.spans(length)
        return ((self.position, np.array([self.code], dtype=np.uint8)),)


@dataclass(frozen=True)
class Compose(Intervention):
    """Apply several interventions left to right; their edited windows must not overlap.

    Examples
    --------
    >>> from causalgia.sequences.alphabet import encode, decode
    >>> both = Compose((Substitute("GG", 0), Substitute("CC", 4)))
    >>> decode(both.apply(encode(["AAAAAA"])))
    ['GGAACC']
    """

    parts: tuple[Intervention, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "parts", tuple(self.parts))
        if not self.parts:
            raise InterventionError("Compose needs at least one intervention")

    @property
    def label(self) -> str:
        """The parts' labels joined by ``"+"``."""
        return "+".join(p.label for p in self.parts)

    def spans(self, length: int) -> list[tuple[int, int]]:
        """All parts' windows; raises naming both parts when two windows overlap.

        Parameters
        ----------
        length : int
            Sequence length L.

        Returns
        -------
        list of tuple of int
            The parts' windows, in part order.

        Raises
        ------
        InterventionError
            When two windows overlap or one does not fit.

        Examples
        --------
        >>> Compose((Mutate(0, "G"), Substitute("CC", 2))).spans(6)
        [(0, 1), (2, 4)]
        """
        owned: list[tuple[int, int, str]] = []
        for part in self.parts:
            for a, b in part.spans(length):
                for c, d, other in owned:
                    if a < d and c < b:
                        raise InterventionError(
                            f"composed interventions overlap: {other} edits [{c}, {d}) and "
                            f"{part.label} edits [{a}, {b})"
                        )
                owned.append((a, b, part.label))
        return [(a, b) for a, b, _ in owned]

    def apply_keyed(self, codes: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """Apply each part with its own derived key stream.

        Parameters
        ----------
        codes : ndarray of uint8
            Codes ``(N, L)``; not modified.
        keys : ndarray of uint64
            One stream key per row; part i gets keys derived from these and i.

        Returns
        -------
        ndarray of uint8
            Edited codes ``(N, L)``.

        Raises
        ------
        InterventionError
            When ``codes`` is not uint8 ``(N, L)``, or windows overlap or do not fit.

        Examples
        --------
        >>> from causalgia.sequences.alphabet import encode, decode
        >>> both = Compose((Mutate(0, "G"), Substitute("CC", 2)))
        >>> decode(both.apply_keyed(encode(["AAAAAA"]), np.zeros(1, dtype=np.uint64)))
        ['GACCAA']
        """
        out = _codes(codes)
        self.spans(out.shape[1])
        keys = np.asarray(keys, dtype=np.uint64)
        for index, part in enumerate(self.parts):
            with np.errstate(over="ignore"):
                part_keys = mix64(keys + np.uint64(index + 1) * np.uint64(0x632BE59BD9B4E019))
            out = part.apply_keyed(out, part_keys)
        return out

    def fixed_edits(self, length: int) -> tuple[Edit, ...] | None:
        """All parts' windows, when every part is fixed (the derived keys are then unused).

        Parameters
        ----------
        length : int
            Sequence length L.

        Returns
        -------
        tuple of (int, ndarray of uint8), or None
            The parts' window writes in part order, or None when some part is not fixed.

        Raises
        ------
        InterventionError
            When windows overlap or do not fit.

        Examples
        --------
        >>> Compose((Mutate(0, "G"), Substitute("CC", 2))).fixed_edits(6)
        ((0, array([2], dtype=uint8)), (2, array([1, 1], dtype=uint8)))
        """
        if type(self).apply_keyed is not Compose.apply_keyed:
            return None
        self.spans(length)
        edits: list[Edit] = []
        for part in self.parts:
            fixed = part.fixed_edits(length)
            if fixed is None:
                return None
            edits.extend(fixed)
        return tuple(edits)
