"""Motifs as position probability matrices: construction, scoring, sampling, scrambles, readers.

A :class:`Motif` holds a ``(W, 4)`` matrix of probabilities over A, C, G, T (U for RNA), in the
code order of :mod:`causalgia.sequences.alphabet`. Instances are drawn per unit from keyed streams,
so a unit's instance depends only on its key. Readers cover MEME minimal and JASPAR text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np

from .._options import check_int, check_option
from .._rng import RngLike, generator, root_seed, uniforms, unit_keys
from ..errors import MotifError, OptionError
from .alphabet import DNA, Alphabet, get_alphabet
from .io import open_text

MotifFormat = Literal["auto", "meme", "jaspar"]
_TOL = 1e-6
_IUPAC = {
    "R": "AG", "Y": "CT", "S": "CG", "W": "AT", "K": "GT", "M": "AC",
    "B": "CGT", "D": "AGT", "H": "ACT", "V": "ACG", "N": "ACGT",
}  # fmt: skip
_SET_TO_IUPAC = {frozenset("ACGT".index(b) for b in v): k for k, v in _IUPAC.items()}
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
# numbers separated by mandatory whitespace: one way to split a row, so no catastrophic
# backtracking on a malformed row (the old `(?:number\s*)+` took minutes on "1e25 1,0 x 0")
_JASPAR_ROW = re.compile(rf"^\s*([ACGTU])?\s*\[?\s*({_NUMBER}(?:\s+{_NUMBER})*)\s*\]?\s*$")


def _matrix(values: object, what: str, name: str) -> np.ndarray:
    try:
        arr = np.array(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise MotifError(f"motif {name!r}: {what} is not numeric ({exc})") from None
    if arr.ndim != 2 or arr.shape[1] != 4 or arr.shape[0] < 1:
        raise MotifError(
            f"motif {name!r}: {what} must have shape (W, 4) with W >= 1, got {arr.shape}"
        )
    bad = ~np.isfinite(arr).all(axis=1) | (arr < 0).any(axis=1)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise MotifError(f"motif {name!r}: {what} row {row} is not finite and >= 0: {arr[row]}")
    return arr


def _check_sums(mat: np.ndarray, name: str) -> np.ndarray:
    sums = mat.sum(axis=1)
    bad = np.abs(sums - 1.0) > _TOL
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise MotifError(f"motif {name!r}: row {row} sums to {sums[row]:.9g}, not 1")
    return mat


def _pseudocount(value: float, name: str) -> float:
    try:
        pc = float(value)
    except (TypeError, ValueError):
        pc = float("nan")
    if not (np.isfinite(pc) and pc >= 0):
        raise MotifError(f"motif {name!r}: pseudocount must be a number >= 0, got {value!r}")
    return pc


def _frozen(arr: np.ndarray) -> np.ndarray:
    out = np.array(arr, dtype=np.float64, copy=True)
    out.setflags(write=False)
    return out


@dataclass(frozen=True, eq=False)
class Motif:
    """A position probability matrix ``probs`` of shape ``(W, 4)``; rows sum to 1.

    ``counts`` keeps the site counts of count-based motifs (JASPAR, :meth:`from_counts`);
    ``background`` (length 4, e.g. from a MEME file) is the default for :meth:`pwm` and
    :meth:`information_content`, which otherwise use a uniform background.

    Examples
    --------
    >>> m = Motif.from_string("TGAsTCA")
    >>> m.width, m.consensus(), m.iupac()
    (7, 'TGACTCA', 'TGASTCA')
    """

    name: str
    probs: np.ndarray
    alphabet: Alphabet = DNA
    counts: np.ndarray | None = None
    alt_name: str = ""
    background: np.ndarray | None = None

    def __post_init__(self) -> None:
        name = str(self.name)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "alphabet", get_alphabet(self.alphabet))
        probs = _check_sums(_matrix(self.probs, "probs", name), name)
        object.__setattr__(self, "probs", _frozen(probs))
        if self.counts is not None:
            counts = _matrix(self.counts, "counts", name)
            if counts.shape != probs.shape:
                raise MotifError(f"motif {name!r}: counts shape {counts.shape} != {probs.shape}")
            object.__setattr__(self, "counts", _frozen(counts))
        if self.background is not None:
            object.__setattr__(
                self, "background", _frozen(_background(self.background, f"motif {name!r}"))
            )

    def __repr__(self) -> str:
        return (
            f"Motif(name={self.name!r}, width={self.width}, alphabet={self.alphabet.name!r}, "
            f"consensus={self.consensus()!r})"
        )

    # ----------------------------------------------------------------- constructors
    @classmethod
    def from_string(
        cls, text: str, alphabet: str | Alphabet = "dna", *, name: str | None = None
    ) -> Motif:
        """A motif from a sequence; IUPAC letters become uniform rows over their bases.

        Parameters
        ----------
        text : str
            Letters of the alphabet or IUPAC codes, any case.
        alphabet : {"dna", "rna"} or Alphabet, default "dna"
            The motif's alphabet.
        name : str, optional
            Motif name; default ``text``.

        Returns
        -------
        Motif

        Raises
        ------
        MotifError
            When ``text`` is empty or holds a letter that is neither in the alphabet nor IUPAC.

        Examples
        --------
        >>> Motif.from_string("AR").probs.tolist()
        [[1.0, 0.0, 0.0, 0.0], [0.5, 0.0, 0.5, 0.0]]
        """
        alph = get_alphabet(alphabet)
        label = text if name is None else name
        if not text:
            raise MotifError(f"motif {label!r}: empty motif string")
        probs = np.zeros((len(text), 4))
        for pos, letter in enumerate(text.upper()):
            if letter in alph.letters:
                probs[pos, alph.letters.index(letter)] = 1.0
            elif letter in _IUPAC:
                probs[pos, ["ACGT".index(b) for b in _IUPAC[letter]]] = 1.0 / len(_IUPAC[letter])
            else:
                raise MotifError(
                    f"motif {label!r}: invalid letter {text[pos]!r} at position {pos} for "
                    f"the {alph.name} alphabet ({alph.letters} or IUPAC codes)"
                )
        return cls(label, probs, alph)

    @classmethod
    def from_counts(
        cls,
        counts: np.ndarray,
        *,
        pseudocount: float = 0.0,
        name: str = "motif",
        alphabet: str | Alphabet = "dna",
        alt_name: str = "",
    ) -> Motif:
        """A motif from site counts ``(W, 4)``: ``(counts + pseudocount)`` normalised per row.

        Parameters
        ----------
        counts : array_like
            Finite, non-negative counts ``(W, 4)``; kept as ``counts`` (without pseudocount).
        pseudocount : float, default 0.0
            Added to every cell (>= 0).
        name : str, default "motif"
            Motif name.
        alphabet : {"dna", "rna"} or Alphabet, default "dna"
            The motif's alphabet.
        alt_name : str, default ""
            Alternative name (e.g. the factor of a JASPAR matrix).

        Returns
        -------
        Motif

        Raises
        ------
        MotifError
            On a bad shape, a negative or non-finite count or pseudocount, or an all-zero row.

        Examples
        --------
        >>> Motif.from_counts([[3, 1, 0, 0]], pseudocount=1).probs.tolist()
        [[0.5, 0.25, 0.125, 0.125]]
        """
        arr = _matrix(counts, "counts", name)
        padded = arr + _pseudocount(pseudocount, name)
        sums = padded.sum(axis=1)
        if (sums <= 0).any():
            row = int(np.flatnonzero(sums <= 0)[0])
            raise MotifError(f"motif {name!r}: counts row {row} is all zero (use a pseudocount)")
        return cls(name, padded / sums[:, None], get_alphabet(alphabet), arr, alt_name)

    @classmethod
    def from_probs(
        cls,
        probs: np.ndarray,
        *,
        name: str = "motif",
        alphabet: str | Alphabet = "dna",
        alt_name: str = "",
    ) -> Motif:
        """A motif from probabilities ``(W, 4)`` whose rows sum to 1 within 1e-6 (then made exact).

        Parameters
        ----------
        probs : array_like
            Probabilities ``(W, 4)`` in code order.
        name : str, default "motif"
            Motif name.
        alphabet : {"dna", "rna"} or Alphabet, default "dna"
            The motif's alphabet.
        alt_name : str, default ""
            Alternative name.

        Returns
        -------
        Motif

        Raises
        ------
        MotifError
            On a bad shape, a negative or non-finite value, or a row not summing to 1.

        Examples
        --------
        >>> Motif.from_probs([[0.7, 0.1, 0.1, 0.1]]).consensus()
        'A'
        """
        arr = _check_sums(_matrix(probs, "probs", name), name)
        return cls(
            name, arr / arr.sum(axis=1, keepdims=True), get_alphabet(alphabet), alt_name=alt_name
        )

    @classmethod
    def from_pwm(
        cls,
        log_odds: np.ndarray,
        *,
        background: np.ndarray | None = None,
        base: float = 2.0,
        name: str = "motif",
        alphabet: str | Alphabet = "dna",
    ) -> Motif:
        """Invert log-odds scores: ``p = bg * base**score``, renormalised per row.

        Parameters
        ----------
        log_odds : array_like
            Scores ``(W, 4)``, no NaN (``-inf`` gives probability 0).
        background : array_like, optional
            Four positive frequencies summing to 1; default uniform. Not stored on the motif.
        base : float, default 2.0
            Logarithm base of the scores (positive, not 1).
        name : str, default "motif"
            Motif name.
        alphabet : {"dna", "rna"} or Alphabet, default "dna"
            The motif's alphabet.

        Returns
        -------
        Motif

        Raises
        ------
        MotifError
            On a bad shape or NaN, a bad ``base`` or ``background``, or a row that cannot be
            inverted.

        Examples
        --------
        >>> m = Motif.from_string("ACGT")
        >>> bool(np.allclose(Motif.from_pwm(m.pwm(pseudocount=0.1)).probs, m.pwm_probs(0.1)))
        True
        """
        scores = np.array(log_odds, dtype=np.float64)
        if scores.ndim != 2 or scores.shape[1] != 4 or np.isnan(scores).any():
            raise MotifError(f"motif {name!r}: log-odds must be (W, 4) without NaN")
        if not (np.isfinite(base) and base > 0 and base != 1):
            raise MotifError(f"motif {name!r}: base must be positive and != 1, got {base!r}")
        bg = _background(np.full(4, 0.25) if background is None else background, f"motif {name!r}")
        with np.errstate(over="ignore"):
            weights = bg * np.power(base, scores)
        bad = ~np.isfinite(weights).all(axis=1) | (weights.sum(axis=1) <= 0)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise MotifError(f"motif {name!r}: log-odds row {row} cannot be inverted")
        return cls(name, weights / weights.sum(axis=1, keepdims=True), get_alphabet(alphabet))

    # ----------------------------------------------------------------- summaries
    @property
    def width(self) -> int:
        """Motif width W."""
        return int(self.probs.shape[0])

    @property
    def is_deterministic(self) -> bool:
        """Whether every row is one-hot (the motif is a single sequence).

        Examples
        --------
        >>> Motif.from_string("GATA").is_deterministic, Motif.from_string("GATN").is_deterministic
        (True, False)
        """
        return bool((self.probs.max(axis=1) >= 1.0 - 1e-12).all())

    def consensus(self) -> str:
        """The most probable letter per position; ties go to the lowest code (A < C < G < T).

        Returns
        -------
        str
            ``width`` letters of the motif's alphabet.

        Examples
        --------
        >>> Motif.from_string("GAYA").consensus()
        'GACA'
        """
        return "".join(self.alphabet.letters[i] for i in np.argmax(self.probs, axis=1))

    def iupac(self) -> str:
        """IUPAC consensus: the base with p > 0.5, else the code for all bases with p >= 0.25.

        Returns
        -------
        str
            ``width`` letters of the alphabet or IUPAC codes.

        Examples
        --------
        >>> Motif.from_probs([[0.6, 0.2, 0.1, 0.1], [0.4, 0.3, 0.2, 0.1]]).iupac()
        'AM'
        """
        letters = []
        for row in self.probs:
            if row.max() > 0.5:
                letters.append(self.alphabet.letters[int(np.argmax(row))])
                continue
            members = frozenset(int(i) for i in np.flatnonzero(row >= 0.25 - 1e-9))
            single = len(members) == 1
            letters.append(
                self.alphabet.letters[min(members)] if single else _SET_TO_IUPAC[members]
            )
        return "".join(letters)

    def pwm_probs(self, pseudocount: float = 0.0) -> np.ndarray:
        """Probabilities after adding ``pseudocount`` to every cell of the matrix the motif was
        made from (``counts`` when kept, else ``probs``), renormalised per row.

        Parameters
        ----------
        pseudocount : float, default 0.0
            Added to every cell (>= 0).

        Returns
        -------
        ndarray
            Probabilities ``(W, 4)``.

        Raises
        ------
        MotifError
            When ``pseudocount`` is negative or not a number.

        Examples
        --------
        >>> Motif.from_counts([[2, 0, 0, 0]]).pwm_probs(1.0).tolist()
        [[0.5, 0.16666666666666666, 0.16666666666666666, 0.16666666666666666]]
        """
        base = self.probs if self.counts is None else self.counts
        padded = base + _pseudocount(pseudocount, self.name)
        return padded / padded.sum(axis=1, keepdims=True)

    def pwm(self, background: np.ndarray | None = None, pseudocount: float = 0.0) -> np.ndarray:
        """Log2-odds ``log2(p / bg)`` of shape ``(W, 4)``; zero probabilities give ``-inf``.

        Parameters
        ----------
        background : array_like, optional
            Four positive frequencies summing to 1; default the motif's ``background``, else
            uniform.
        pseudocount : float, default 0.0
            Passed to :meth:`pwm_probs` to give ``p``.

        Returns
        -------
        ndarray
            Scores ``(W, 4)`` in bits.

        Raises
        ------
        MotifError
            On a bad ``background`` or ``pseudocount``.

        Examples
        --------
        >>> Motif.from_string("A").pwm().tolist()
        [[2.0, -inf, -inf, -inf]]
        """
        bg = self._background_or(background)
        with np.errstate(divide="ignore"):
            return np.log2(self.pwm_probs(pseudocount) / bg)

    def information_content(self, background: np.ndarray | None = None) -> np.ndarray:
        """Relative entropy (bits) of each position against the background.

        Parameters
        ----------
        background : array_like, optional
            Four positive frequencies summing to 1; default the motif's ``background``, else
            uniform.

        Returns
        -------
        ndarray
            Bits per position, shape ``(W,)``.

        Raises
        ------
        MotifError
            On a bad ``background``.

        Examples
        --------
        >>> Motif.from_string("AN").information_content().tolist()
        [2.0, 0.0]
        """
        bg = self._background_or(background)
        p = self.probs
        terms = np.where(p > 0, p * np.log2(np.where(p > 0, p, 1.0) / bg), 0.0)
        return terms.sum(axis=1)

    def _background_or(self, background: np.ndarray | None) -> np.ndarray:
        if background is not None:
            return _background(background, f"motif {self.name!r}")
        return self.background if self.background is not None else np.full(4, 0.25)

    # ----------------------------------------------------------------- transforms
    def reverse_complement(self) -> Motif:
        """The motif on the other strand (rows reversed, A<->T and C<->G); an involution.

        Returns
        -------
        Motif
            Same name; ``counts`` and ``background`` are complemented too.

        Examples
        --------
        >>> Motif.from_string("AACG").reverse_complement().consensus()
        'CGTT'
        """
        counts = None if self.counts is None else self.counts[::-1, ::-1]
        bg = None if self.background is None else self.background[::-1]
        return replace(self, probs=self.probs[::-1, ::-1], counts=counts, background=bg)

    def sample_keyed(self, keys: np.ndarray) -> np.ndarray:
        """Draw one instance per key: uint8 codes ``(len(keys), W)``; row i depends on keys[i].

        Parameters
        ----------
        keys : ndarray of uint64
            One stream key per instance, 1-D.

        Returns
        -------
        ndarray of uint8
            Codes ``(len(keys), W)``.

        Raises
        ------
        OptionError
            When ``keys`` is not 1-D.

        Examples
        --------
        >>> from causalgia._rng import unit_keys
        >>> Motif.from_string("ACGT").sample_keyed(unit_keys(0, [5, 9], "x")).tolist()
        [[0, 1, 2, 3], [0, 1, 2, 3]]
        """
        keys = np.asarray(keys, dtype=np.uint64)
        if keys.ndim != 1:
            raise OptionError(f"keys must be a 1-D array of stream keys, got shape {keys.shape}")
        u = uniforms(keys, self.width)  # (n, W)
        cdf = np.cumsum(self.probs, axis=1)
        cdf[:, -1] = 1.0
        codes = (u[:, :, None] >= cdf[None, :, :]).sum(axis=2)
        return np.minimum(codes, 3).astype(np.uint8)

    def sample(self, n: int, rng: RngLike = None) -> np.ndarray:
        """Draw ``n`` instances as uint8 codes ``(n, W)``; unit i uses key i under purpose "motif".

        Parameters
        ----------
        n : int
            Number of instances (>= 0).
        rng : int, Generator or None, default None
            Root seed; None draws fresh entropy.

        Returns
        -------
        ndarray of uint8
            Codes ``(n, W)``.

        Raises
        ------
        OptionError
            On a bad ``n`` or ``rng``.

        Examples
        --------
        >>> Motif.from_string("ACNT").sample(3, rng=0).shape
        (3, 4)
        """
        n = check_int("n", n, minimum=0)
        return self.sample_keyed(unit_keys(root_seed(rng), np.arange(n), "motif"))

    def scramble(self, rng: RngLike = None) -> Motif:
        """A composition-preserving scramble: the positions (rows) in a random order.

        When some order changes the consensus, orders are redrawn (at most 100 times) until the
        consensus differs from both the original's and its reverse complement's; failing that,
        the first order differing from one of them (else the first drawn) is returned. A motif of
        width 1 or with one consensus letter gets the first order drawn.

        Parameters
        ----------
        rng : int, Generator or None, default None
            Root seed; None draws fresh entropy.

        Returns
        -------
        Motif
            Named ``"<name>_scrambled"``, with ``counts`` permuted alike.

        Examples
        --------
        >>> m = Motif.from_string("ACGTTGCA")
        >>> s = m.scramble(rng=1)
        >>> s.name, sorted(s.consensus()) == sorted(m.consensus()), s.consensus() != m.consensus()
        ('ACGTTGCA_scrambled', True, True)
        """
        gen = generator(unit_keys(root_seed(rng), [0], "motif", "scramble")[0])
        cons, rc_cons = self.consensus(), self.reverse_complement().consensus()
        tries = 100 if self.width > 1 and len(set(cons)) > 1 else 1
        best, best_score = np.arange(self.width), -1
        for _ in range(tries):
            order = gen.permutation(self.width)
            new = "".join(cons[i] for i in order)
            score = int(new != cons) + int(new != rc_cons)
            if score > best_score:
                best, best_score = order, score
            if score == 2:
                break
        counts = None if self.counts is None else self.counts[best]
        name = f"{self.name}_scrambled"
        return replace(self, name=name, probs=self.probs[best], counts=counts)


def _background(values: object, where: str) -> np.ndarray:
    bg = np.array(values, dtype=np.float64).reshape(-1)
    if bg.shape != (4,) or not np.isfinite(bg).all() or (bg <= 0).any():
        raise MotifError(f"{where}: background must be 4 positive numbers, got {values!r}")
    if abs(bg.sum() - 1.0) > 1e-3:
        raise MotifError(f"{where}: background sums to {bg.sum():.6g}, not 1")
    return bg / bg.sum()


def as_motif(motif: str | Motif, alphabet: str | Alphabet | None = None) -> Motif:
    """Return ``motif`` as a :class:`Motif`; strings go through :meth:`Motif.from_string`.

    ``alphabet`` defaults to DNA for strings; given with a Motif, the two must agree.

    Parameters
    ----------
    motif : str or Motif
        A motif, or a sequence with IUPAC codes.
    alphabet : {"dna", "rna"} or Alphabet, optional
        Alphabet of a string, or the one a Motif must have.

    Returns
    -------
    Motif

    Raises
    ------
    MotifError
        On an alphabet mismatch, a bad string, or another type.

    Examples
    --------
    >>> as_motif("GATA").consensus()
    'GATA'
    """
    if isinstance(motif, Motif):
        if alphabet is not None and get_alphabet(alphabet) != motif.alphabet:
            raise MotifError(
                f"motif {motif.name!r} has alphabet {motif.alphabet.name!r}, "
                f"expected {get_alphabet(alphabet).name!r}"
            )
        return motif
    if isinstance(motif, str):
        return Motif.from_string(motif, "dna" if alphabet is None else alphabet)
    raise MotifError(f"expected a motif string or Motif, got {type(motif).__name__}")


# --------------------------------------------------------------------- readers
def read_motifs(
    path: str | Path, *, format: MotifFormat = "auto", alphabet: str | Alphabet | None = None
) -> list[Motif]:
    """Read motifs from a MEME minimal or JASPAR file (plain or gzip).

    ``"auto"`` picks MEME when a line starts with ``MEME version`` and JASPAR when the file
    starts with a ``>`` header followed by a count row (``A [ 1 2 3 ]`` or ``A 1 2 3``). JASPAR
    motifs keep their counts; the id is the name and the rest of the header is ``alt_name``.
    MEME motifs keep the file's background. Errors name the file, line and motif.

    Parameters
    ----------
    path : str or Path
        The motif file; gzip is detected from its content.
    format : {"auto", "meme", "jaspar"}, default "auto"
        File format.
    alphabet : {"dna", "rna"}, Alphabet or None, default None
        Alphabet of the motifs; a MEME alphabet declaration (``ALPHABET= ACGU``, or an
        ``ALPHABET "RNA" RNA-LIKE`` block) must match it. None: the alphabet the file declares,
        DNA when it declares none (JASPAR files never do).

    Returns
    -------
    list of Motif
        In file order.

    Raises
    ------
    MotifError
        When the format cannot be told, the file is malformed, or it holds no motif.
    OptionError
        On an unknown ``format`` or ``alphabet``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "m.jaspar"
    >>> _ = p.write_text(">MA1 Foo\\nA [ 9 0 ]\\nC [ 1 0 ]\\nG [ 0 10 ]\\nT [ 0 0 ]\\n")
    >>> [(m.name, m.alt_name, m.consensus()) for m in read_motifs(p)]
    [('MA1', 'Foo', 'AG')]
    """
    check_option("format", format, ("auto", "meme", "jaspar"))
    alph = None if alphabet is None else get_alphabet(alphabet)
    with open_text(path) as fh:
        lines = [line.rstrip("\r\n") for line in fh]
    if not any(line.strip() for line in lines):
        raise MotifError(f"{path}: the file is empty (no MEME or JASPAR motifs)")
    fmt = _detect_format(lines, str(path)) if format == "auto" else format
    if fmt == "meme":
        motifs = _read_meme(lines, str(path), alph)
    else:
        motifs = _read_jaspar(lines, str(path), DNA if alph is None else alph)
    if not motifs:
        raise MotifError(f"{path}: no motifs found (format {fmt!r})")
    return motifs


def _detect_format(lines: list[str], path: str) -> str:
    if any(line.startswith("MEME version") for line in lines):
        return "meme"
    content = [line.strip() for line in lines if line.strip()]
    if len(content) >= 2 and content[0].startswith(">") and _JASPAR_ROW.match(content[1]):
        return "jaspar"
    raise MotifError(f"{path}: cannot tell the motif format; pass format='meme' or 'jaspar'")


def _read_meme(lines: list[str], path: str, wanted: Alphabet | None) -> list[Motif]:
    motifs: list[Motif] = []
    background: np.ndarray | None = None
    alph = DNA if wanted is None else wanted  # until the file declares its alphabet
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if line.startswith("ALPHABET"):
            where = f"{path}: line {i + 1}"
            declared, i = _meme_alphabet(lines, i, path)
            alph = _check_declared(declared, wanted, where)
            continue
        if line.startswith("Background letter frequencies"):
            background, i = _meme_background(lines, i + 1, path, alph)
            continue
        if line.startswith("MOTIF"):
            motif, i = _meme_motif(lines, i, path, alph, background)
            motifs.append(motif)
            continue
        i += 1
    return motifs


def _meme_alphabet(lines: list[str], i: int, path: str) -> tuple[str, int]:
    """The alphabet a MEME file declares at line ``i`` ("dna" or "rna") and the next line.

    Either the short form ``ALPHABET= ACGT`` / ``ALPHABET= ACGU``, or a MEME 5 block from
    ``ALPHABET "RNA" RNA-LIKE`` to ``END ALPHABET`` whose core symbols are A, C, G and T or U.
    """
    line, where = lines[i].strip(), f"{path}: line {i + 1}"
    if line.startswith("ALPHABET="):
        letters = line.split("=", 1)[1].strip().upper()
        if letters not in ("ACGT", "ACGU"):
            raise MotifError(
                f"{where}: only 'ALPHABET= ACGT' (DNA) or 'ALPHABET= ACGU' (RNA) is supported, "
                f"got {letters!r}"
            )
        return ("dna" if letters == "ACGT" else "rna"), i + 1
    core: set[str] = set()
    j = i + 1
    while j < len(lines) and not lines[j].strip().upper().startswith("END ALPHABET"):
        text = lines[j].split("#", 1)[0].strip()
        for symbol in text.split("~"):  # "A "Adenine" CC0000 ~ T "Thymine" 008000"
            token = symbol.split()[0] if symbol.split() else ""
            if len(token) == 1 and "=" not in symbol:
                core.add(token.upper())
        j += 1
    if j == len(lines):
        raise MotifError(f"{where}: ALPHABET block without 'END ALPHABET'")
    if core not in ({"A", "C", "G", "T"}, {"A", "C", "G", "U"}):
        raise MotifError(
            f"{where}: alphabet with core symbols {''.join(sorted(core)) or 'none'} is not "
            "supported; only DNA (A, C, G, T) or RNA (A, C, G, U)"
        )
    return ("dna" if "T" in core else "rna"), j + 1


def _check_declared(declared: str, wanted: Alphabet | None, where: str) -> Alphabet:
    if wanted is not None and declared != wanted.name:
        raise MotifError(
            f"{where}: file declares the {declared} alphabet, but alphabet={wanted.name!r} "
            f"was asked for (pass alphabet={declared!r}, or None to follow the file)"
        )
    return get_alphabet(declared)


def _meme_background(lines: list[str], i: int, path: str, alph: Alphabet) -> tuple[np.ndarray, int]:
    tokens: list[str] = []
    start = i
    while i < len(lines) and lines[i].strip():
        tokens.extend(lines[i].split())
        i += 1
    freqs = dict(zip(tokens[::2], tokens[1::2], strict=False))
    try:
        values = [float(freqs[letter]) for letter in alph.letters]
    except (KeyError, ValueError):
        raise MotifError(
            f"{path}: line {start + 1}: background must give {', '.join(alph.letters)}"
        ) from None
    return _background(values, f"{path}: line {start + 1}"), i


def _numeric_row(line: str) -> list[float] | None:
    try:
        return [float(x) for x in line.split()] or None
    except ValueError:
        return None


def _meme_motif(
    lines: list[str], i: int, path: str, alph: Alphabet, background: np.ndarray | None
) -> tuple[Motif, int]:
    fields = lines[i].split()
    if len(fields) < 2:
        raise MotifError(f"{path}: line {i + 1}: MOTIF line without a name")
    name, alt = fields[1], " ".join(fields[2:])
    j = i + 1
    while j < len(lines) and not lines[j].strip().startswith("letter-probability matrix"):
        if lines[j].startswith("MOTIF"):
            break
        j += 1
    if j == len(lines) or lines[j].startswith("MOTIF"):
        raise MotifError(f"{path}: line {i + 1}: motif {name!r} has no letter-probability matrix")
    where = f"{path}: line {j + 1}: motif {name!r}"
    keys = dict(re.findall(r"(\w+)=\s*(\S+)", lines[j]))
    if keys.get("alength", "4") != "4":
        raise MotifError(f"{where}: alength= {keys['alength']}, expected 4")
    rows: list[list[float]] = []
    k = j + 1
    while k < len(lines) and (row := _numeric_row(lines[k])) is not None:
        if len(row) != 4:
            raise MotifError(f"{path}: line {k + 1}: motif {name!r}: {len(row)} values, expected 4")
        rows.append(row)
        k += 1
    if "w" in keys and keys["w"] != str(len(rows)):
        raise MotifError(f"{where}: w= {keys['w']} but {len(rows)} matrix rows follow")
    if not rows:
        raise MotifError(f"{where}: empty letter-probability matrix")
    probs = _matrix(rows, "letter-probability matrix", name)
    sums = probs.sum(axis=1)
    if (bad := np.flatnonzero(np.abs(sums - 1.0) > 1e-3)).size:
        raise MotifError(
            f"{path}: line {j + 2 + bad[0]}: motif {name!r}: row sums to {sums[bad[0]]}"
        )
    probs = probs / sums[:, None]
    return Motif(name, probs, alph, alt_name=alt, background=background), k


def _read_jaspar(lines: list[str], path: str, alph: Alphabet) -> list[Motif]:
    motifs: list[Motif] = []
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        i += 1
        if not line:
            continue
        fields = line[1:].split(maxsplit=1)
        if not line.startswith(">") or not fields:
            raise MotifError(f"{path}: line {i}: expected a '>ID name' header, got {line[:30]!r}")
        name, alt = fields[0], fields[1].strip() if len(fields) > 1 else ""
        counts, i = _jaspar_rows(lines, i, path, name)
        motifs.append(Motif.from_counts(counts, name=name, alphabet=alph, alt_name=alt))
    return motifs


def _jaspar_rows(lines: list[str], i: int, path: str, name: str) -> tuple[np.ndarray, int]:
    rows: dict[int, list[float]] = {}
    while len(rows) < 4 and i < len(lines):
        text = lines[i].strip()
        i += 1
        if not text:
            continue
        match = _JASPAR_ROW.match(text)
        if match is None:
            raise MotifError(f"{path}: line {i}: motif {name!r}: not a count row: {text[:30]!r}")
        label = match.group(1)
        column = len(rows) if label is None else "ACGT".index("T" if label == "U" else label)
        if column in rows:
            raise MotifError(f"{path}: line {i}: motif {name!r}: repeated row {label!r}")
        rows[column] = [float(x) for x in match.group(2).split()]
        if len(rows[column]) != len(next(iter(rows.values()))):
            raise MotifError(f"{path}: line {i}: motif {name!r}: row length differs")
    if len(rows) < 4:
        raise MotifError(
            f"{path}: motif {name!r}: expected 4 count rows (A C G T), got {len(rows)}"
        )
    return np.array([rows[c] for c in range(4)]).T, i


def coerce_motif(motif: str | Motif) -> Motif:
    """A Motif as given, or one parsed from a string over A/C/G/T/U plus IUPAC letters.

    The alphabet is RNA when the string holds a U, else DNA (T and U share code 3).

    Parameters
    ----------
    motif : str or Motif
        A Motif (returned unchanged) or a sequence, any case.

    Returns
    -------
    Motif

    Raises
    ------
    MotifError
        On an invalid letter.

    Examples
    --------
    >>> coerce_motif("UGCAUG").alphabet.name
    'rna'
    """
    if isinstance(motif, Motif):
        return motif
    text = str(motif).upper()
    return as_motif(text, "rna" if "U" in text else "dna")
