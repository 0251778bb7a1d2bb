"""DNA and RNA alphabets: uint8 codes, one-hot at the model boundary, reverse complement.

The one internal representation is a ``uint8`` array of codes of shape ``(N, L)``:
0, 1, 2, 3 for A, C, G, T/U and 4 for N. One-hot arrays exist only at the model boundary, in a
declared layout: ``"NCL"`` (PyTorch Conv1d) or ``"NLC"`` (Keras). Layouts are never guessed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from .._options import check_option
from ..errors import InvalidSequenceError, LayoutError

Layout = Literal["NCL", "NLC"]
NPolicy = Literal["error", "allow"]
N_CODE = 4
LAYOUTS: tuple[str, ...] = ("NCL", "NLC")


@dataclass(frozen=True)
class Alphabet:
    """A nucleotide alphabet: four letters in code order plus N (code 4).

    Examples
    --------
    >>> DNA.letters, RNA.letters
    ('ACGT', 'ACGU')
    """

    name: str
    letters: str

    @property
    def size(self) -> int:
        """Number of letters, excluding N."""
        return len(self.letters)

    def _lookup(self) -> np.ndarray:
        table = np.full(256, 255, dtype=np.uint8)
        for code, letter in enumerate(self.letters):
            table[ord(letter)] = code
            table[ord(letter.lower())] = code
        table[ord("N")] = table[ord("n")] = N_CODE
        return table


DNA = Alphabet("dna", "ACGT")
RNA = Alphabet("rna", "ACGU")
_ALPHABETS = {"dna": DNA, "rna": RNA}
_COMPLEMENT = np.array([3, 2, 1, 0, N_CODE], dtype=np.uint8)


def get_alphabet(alphabet: str | Alphabet) -> Alphabet:
    """Return the :class:`Alphabet` named ``"dna"`` or ``"rna"`` (or pass one through).

    Parameters
    ----------
    alphabet : {"dna", "rna"} or Alphabet
        The name (any case), or an Alphabet, returned unchanged.

    Returns
    -------
    Alphabet

    Raises
    ------
    OptionError
        If the name is neither ``"dna"`` nor ``"rna"``.

    Examples
    --------
    >>> get_alphabet("rna").letters
    'ACGU'
    """
    if isinstance(alphabet, Alphabet):
        return alphabet
    key = check_option("alphabet", str(alphabet).lower(), tuple(_ALPHABETS))
    return _ALPHABETS[key]


def _encode_one(seq: str, table: np.ndarray, seq_id: str, n_policy: str) -> np.ndarray:
    raw = np.frombuffer(seq.encode("latin-1", errors="replace"), dtype=np.uint8)
    codes = table[raw]
    bad = codes == 255
    if n_policy == "error":
        bad |= codes == N_CODE
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        err = InvalidSequenceError(
            f"sequence {seq_id!r}: invalid letter {seq[pos]!r} at position {pos}"
            + (" (N is not allowed with n_policy='error')" if codes[pos] == N_CODE else "")
        )
        err.position = pos  # where in the sequence (0-based), for callers that know its lines
        raise err
    return codes


def encode(
    sequences: str | Sequence[str],
    alphabet: str | Alphabet = "dna",
    *,
    ids: Sequence[str] | None = None,
    n_policy: NPolicy = "error",
) -> np.ndarray:
    """Encode strings as uint8 codes: one string gives ``(L,)``, a list gives ``(N, L)``.

    Lower case is accepted and upper-cased. ``n_policy="allow"`` maps N to code 4; by default an N
    is an error. Every error names the sequence id (or index), the position and the letter.

    Parameters
    ----------
    sequences : str or sequence of str
        One sequence, or several of one length.
    alphabet : {"dna", "rna"} or Alphabet, default "dna"
        Letters allowed besides N.
    ids : sequence of str, optional
        Names used in error messages (default: the index); one per sequence.
    n_policy : {"error", "allow"}, default "error"
        Whether N is allowed (as code 4).

    Returns
    -------
    ndarray of uint8
        Codes ``(L,)`` for a string, ``(N, L)`` for a list (``(0, 0)`` for an empty list).

    Raises
    ------
    InvalidSequenceError
        On an invalid letter (or N under ``n_policy="error"``), an empty or ragged sequence, or
        a number of ``ids`` that differs from the number of sequences.
    OptionError
        On an unknown ``alphabet`` or ``n_policy``.

    Examples
    --------
    >>> encode("ACGN", n_policy="allow")
    array([0, 1, 2, 4], dtype=uint8)
    >>> encode(["ACGU", "UUAA"], "rna").shape
    (2, 4)
    """
    alph = get_alphabet(alphabet)
    check_option("n_policy", n_policy, ("error", "allow"))
    table = alph._lookup()
    if isinstance(sequences, str):
        name = ids[0] if ids else "0"
        return _encode_one(sequences, table, str(name), n_policy)
    seqs = list(sequences)
    if ids is not None and len(ids) != len(seqs):
        raise InvalidSequenceError(f"got {len(ids)} ids for {len(seqs)} sequences")
    names = [str(i) for i in ids] if ids is not None else [str(i) for i in range(len(seqs))]
    if not seqs:
        return np.zeros((0, 0), dtype=np.uint8)
    length = len(seqs[0])
    for name, seq in zip(names, seqs, strict=True):
        if len(seq) == 0:
            raise InvalidSequenceError(f"sequence {name!r} is empty")
        if len(seq) != length:
            raise InvalidSequenceError(
                f"sequence {name!r} has length {len(seq)}, expected {length} "
                f"(the length of sequence {names[0]!r}); all sequences must have one length"
            )
    out = np.empty((len(seqs), length), dtype=np.uint8)
    for row, (name, seq) in enumerate(zip(names, seqs, strict=True)):
        out[row] = _encode_one(seq, table, name, n_policy)
    return out


def decode(codes: np.ndarray, alphabet: str | Alphabet = "dna") -> str | list[str]:
    """Decode uint8 codes back to strings: ``(L,)`` gives a string, ``(N, L)`` a list.

    Parameters
    ----------
    codes : ndarray of int
        Codes 0-4, shape ``(L,)`` or ``(N, L)``.
    alphabet : {"dna", "rna"} or Alphabet, default "dna"
        Letters for codes 0-3 (code 4 is N).

    Returns
    -------
    str or list of str

    Raises
    ------
    InvalidSequenceError
        If a code is outside 0-4.

    Examples
    --------
    >>> decode(encode(["ACGT", "TTGA"]))
    ['ACGT', 'TTGA']
    """
    alph = get_alphabet(alphabet)
    arr = np.asarray(codes)
    if arr.size and (arr.max() > N_CODE or arr.min() < 0):
        index = tuple(int(i) for i in np.argwhere((arr > N_CODE) | (arr < 0))[0])
        raise InvalidSequenceError(f"code {int(arr[index])} at index {index} is not 0-4")
    letters = np.frombuffer((alph.letters + "N").encode(), dtype=np.uint8)
    chars = letters[arr.astype(np.intp)]
    if chars.ndim == 1:
        return chars.tobytes().decode()
    return [row.tobytes().decode() for row in chars]


def one_hot(
    codes: np.ndarray,
    layout: Layout = "NCL",
    *,
    n_value: float = 0.0,
    dtype: type = np.float32,
) -> np.ndarray:
    """One-hot encode codes ``(N, L)`` into ``(N, 4, L)`` (``"NCL"``) or ``(N, L, 4)`` (``"NLC"``).

    N (code 4) becomes a column of ``n_value`` (0 or 0.25 are the usual conventions).

    Parameters
    ----------
    codes : ndarray of uint8
        Codes ``(N, L)``.
    layout : {"NCL", "NLC"}, default "NCL"
        Channels before (PyTorch Conv1d) or after (Keras) the positions.
    n_value : float, default 0.0
        Value of all four channels at an N.
    dtype : type, default numpy.float32
        Data type of the result.

    Returns
    -------
    ndarray
        ``(N, 4, L)`` for ``"NCL"``, ``(N, L, 4)`` for ``"NLC"``.

    Raises
    ------
    OptionError
        On an unknown ``layout``.

    Examples
    --------
    >>> one_hot(encode(["ACGT"]), "NLC")[0]
    array([[1., 0., 0., 0.],
           [0., 1., 0., 0.],
           [0., 0., 1., 0.],
           [0., 0., 0., 1.]], dtype=float32)
    """
    check_option("layout", layout, LAYOUTS)
    arr = np.asarray(codes)
    letters = np.arange(4, dtype=arr.dtype)
    if layout == "NCL":
        out = np.empty((arr.shape[0], 4, arr.shape[1]), dtype=dtype)
        np.equal(arr[:, None, :], letters[None, :, None], out=out)
        channels_last = out.transpose(0, 2, 1)
    else:
        out = np.empty((*arr.shape, 4), dtype=dtype)
        np.equal(arr[:, :, None], letters[None, None, :], out=out)
        channels_last = out
    if n_value != 0:
        channels_last[arr == N_CODE] = n_value
    return out


def from_one_hot(x: np.ndarray, layout: Layout) -> np.ndarray:
    """Codes ``(N, L)`` from a one-hot array in the declared layout; all-zero columns become N.

    A column whose largest value is at most 0.25 (all zero, or uniform) becomes N; otherwise the
    largest channel wins.

    Parameters
    ----------
    x : ndarray
        One-hot (or probability) array, 3-D.
    layout : {"NCL", "NLC"}
        Layout of ``x``; it is never guessed.

    Returns
    -------
    ndarray of uint8
        Codes ``(N, L)``.

    Raises
    ------
    LayoutError
        When ``x`` is not 3-D or its channel axis is not of size 4.
    OptionError
        On an unknown ``layout``.

    Examples
    --------
    >>> from_one_hot(one_hot(encode(["ACGT"]), "NCL"), "NCL")
    array([[0, 1, 2, 3]], dtype=uint8)
    """
    check_option("layout", layout, LAYOUTS)
    arr = np.asarray(x)
    if arr.ndim != 3:
        raise LayoutError(f"one-hot input must be 3-D ({layout}), got shape {arr.shape}")
    axis = 1 if layout == "NCL" else 2
    if arr.shape[axis] != 4:
        raise LayoutError(
            f"layout {layout!r} needs 4 channels on axis {axis}, got shape {arr.shape}"
        )
    codes = np.argmax(arr, axis=axis).astype(np.uint8)
    codes[arr.max(axis=axis) <= 0.25] = N_CODE
    return codes


def reverse_complement(x: np.ndarray, *, layout: Layout | None = None) -> np.ndarray:
    """Reverse complement codes ``(..., L)``, or a one-hot array in a declared layout.

    Codes need no layout. For one-hot input the layout must be given, because ``(N, 4, 4)`` is
    ambiguous. N stays N.

    Parameters
    ----------
    x : ndarray
        uint8 codes ``(..., L)``, or a one-hot array in ``layout``.
    layout : {"NCL", "NLC"} or None, default None
        None for codes; the layout of a one-hot ``x``.

    Returns
    -------
    ndarray
        A new array of the shape and dtype of ``x``.

    Raises
    ------
    LayoutError
        When ``layout`` is None but ``x`` is not uint8, or the channel axis is not of size 4.
    OptionError
        On an unknown ``layout``.

    Examples
    --------
    >>> decode(reverse_complement(encode("AACG")))
    'CGTT'
    """
    arr = np.asarray(x)
    if layout is None:
        if arr.dtype != np.uint8:
            raise LayoutError("reverse_complement of a non-uint8 array needs layout='NCL' or 'NLC'")
        return _COMPLEMENT[arr][..., ::-1].copy()
    check_option("layout", layout, LAYOUTS)
    axis = arr.ndim - 2 if layout == "NCL" else arr.ndim - 1
    if arr.ndim < 2 or arr.shape[axis] != 4:
        raise LayoutError(
            f"layout {layout!r} needs 4 channels on axis {axis}, got shape {arr.shape}"
        )
    if layout == "NCL":
        return arr[..., ::-1, ::-1].copy()
    return arr[..., ::-1, :][..., ::-1].copy()


def as_codes(
    sequences: np.ndarray | str | Sequence[str], alphabet: str | Alphabet = "dna"
) -> np.ndarray:
    """Return a 2-D uint8 code array from codes or strings, validating code values.

    Parameters
    ----------
    sequences : ndarray, str or sequence of str
        Integer codes ``(N, L)`` or ``(L,)`` (one sequence), or sequences as text.
    alphabet : {"dna", "rna"} or Alphabet, default "dna"
        Used to encode text; ignored for codes.

    Returns
    -------
    ndarray of uint8
        Codes ``(N, L)``; a uint8 input is returned without copying.

    Raises
    ------
    InvalidSequenceError
        When codes are not 1-D or 2-D integers in 0-4, or text fails :func:`encode`.

    Examples
    --------
    >>> as_codes(["AC", "GT"]).tolist()
    [[0, 1], [2, 3]]
    """
    if isinstance(sequences, str):
        return encode([sequences], alphabet)
    if isinstance(sequences, np.ndarray):
        arr = sequences
        if arr.ndim == 1:
            arr = arr[None, :]
        if arr.ndim != 2:
            raise InvalidSequenceError(f"codes must be 2-D (N, L), got shape {arr.shape}")
        if arr.dtype != np.uint8:
            if not np.issubdtype(arr.dtype, np.integer):
                raise InvalidSequenceError(f"codes must be integers, got dtype {arr.dtype}")
            arr = arr.astype(np.uint8)
        if arr.size and arr.max() > N_CODE:
            row, pos = np.argwhere(arr > N_CODE)[0]
            raise InvalidSequenceError(
                f"sequence {int(row)}: code {int(arr[row, pos])} at position {int(pos)} is not 0-4"
            )
        return arr
    return encode(list(sequences), alphabet)
