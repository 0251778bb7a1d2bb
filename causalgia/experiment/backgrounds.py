"""Background populations P_B over sequences of one fixed length.

A :class:`Background` turns integer unit ids into ``uint8`` code rows ``(len(ids), length)``.
Row ``i`` of ``generate(ids, seed)`` is a function of ``(seed, ids[i])`` only, so a population
does not depend on batch size, order or worker count.

Constructors: :func:`iid` (one composition at every site), :func:`profile` /
:func:`profile_from_probs` (position-specific, site-independent; the null of the original GIA
code, Koo et al. 2021), :func:`kshuffle` (uniform k-let-preserving shuffles of real sequences),
:func:`markov` (order-k Markov chain) and :func:`real` (the real sequences themselves).
``backgrounds.genomic`` (windows of a genome FASTA at BED regions, optionally GC-matched) is
defined in :mod:`causalgia.experiment.genome`, which imports this module, and is placed in this
namespace by the package ``causalgia.experiment``.

The k-let shuffle draws uniformly from all sequences with the same k-let counts and the same
first (k-1)-mer: a random Eulerian trail of the de Bruijn multigraph on (k-1)-mers, built from a
uniformly random arborescence of last-exit edges (Wilson's loop-erased random walk) and uniformly
ordered remaining out-edges (Altschul & Erickson 1985, Mol Biol Evol 2:526; Kandel et al. 1996,
Random Struct Algorithms 8:1; Jiang et al. 2008, BMC Bioinformatics 9:192, uShuffle).
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from numba import njit

from .._options import check_int, check_probability
from .._rng import GOLDEN, M1, M2, RngLike, root_seed, uniforms, unit_keys
from ..errors import InvalidSequenceError, OptionError
from ..sequences.alphabet import N_CODE, Alphabet, as_codes, encode, get_alphabet

__all__ = ["Background", "MAX_K", "iid", "kshuffle", "markov", "profile", "profile_from_probs"]
__all__ += ["real", "shuffle", "shuffle_keyed"]

MAX_K = 8  #: largest k for k-let shuffles (the de Bruijn graph has 4**(k-1) vertices)
MAX_ORDER = 8  #: largest Markov order
_INV53 = 1.0 / 9007199254740992.0
Sources = np.ndarray | str | Sequence[str] | Sequence[np.ndarray]


@njit(cache=True)
def _mix(z: np.uint64) -> np.uint64:  # SplitMix64 finaliser, identical to _rng.mix64
    z = (z ^ (z >> np.uint64(30))) * M1
    z = (z ^ (z >> np.uint64(27))) * M2
    return z ^ (z >> np.uint64(31))


@njit(cache=True)
def _below(key: np.uint64, ctr: np.uint64, n: int) -> int:
    """Draw ``ctr`` of stream ``key`` as an int in [0, n) (floor of a 53-bit uniform times n)."""
    z = _mix(key + ctr * GOLDEN)
    return int(np.float64(z >> np.uint64(11)) * _INV53 * n)


@njit(cache=True)
def _fisher_yates(buf: np.ndarray, lo: int, n: int, key: np.uint64, ctr: np.uint64) -> np.uint64:
    """Uniformly permute ``buf[lo:lo+n]`` in place with draws ``ctr+1, ...``; return the counter."""
    for a in range(n - 1, 0, -1):
        ctr += np.uint64(1)
        b = lo + _below(key, ctr, a + 1)
        buf[lo + a], buf[b] = buf[b], buf[lo + a]
    return ctr


@njit(cache=True)
def _permute_rows(codes: np.ndarray, keys: np.ndarray) -> np.ndarray:  # pragma: no cover
    out = codes.copy()
    for i in range(out.shape[0]):
        _fisher_yates(out[i], 0, out.shape[1], keys[i], np.uint64(0))
    return out


@njit(cache=True)
def _wilson(
    verts: np.ndarray,
    ne: int,
    cnt: np.ndarray,
    deg: np.ndarray,
    state: np.ndarray,
    nxt: np.ndarray,
    mask: int,
    key: np.uint64,
    ctr: np.uint64,
) -> np.uint64:
    """Uniform last-exit arborescence: loop-erased walks along out-edges, weight = multiplicity.

    ``state[u] == 1`` marks tree vertices (the root on entry); ``nxt[u]`` is u's tree letter.
    """
    for j in range(ne):
        u = verts[j]
        while state[u] == 0:
            ctr += np.uint64(1)
            r, c = _below(key, ctr, deg[u]), 0
            while r >= cnt[u, c]:
                r -= cnt[u, c]
                c += 1
            nxt[u] = c
            u = ((u << 2) | c) & mask
        u = verts[j]
        while state[u] == 0:
            state[u] = 1
            u = ((u << 2) | nxt[u]) & mask
    return ctr


@njit(cache=True)
def _klet_rows(codes: np.ndarray, keys: np.ndarray, k: int) -> np.ndarray:  # pragma: no cover
    """Uniform random Eulerian trail per row on the de Bruijn multigraph of (k-1)-mers."""
    n, length = codes.shape
    out = codes.copy()
    if length < k:
        return out
    km1, ne = k - 1, length - k + 1  # (k-1)-mer width, number of edges (k-lets)
    nv = 1 << (2 * km1)
    mask = nv - 1
    cnt, deg = np.zeros((nv, 4), np.int32), np.zeros(nv, np.int32)
    stamp = np.full(nv, -1, np.int64)  # row that last initialised a vertex
    state = np.zeros(nv, np.uint8)  # 0 new, 1 in tree, 2 edge list built
    nxt, pos = np.zeros(nv, np.uint8), np.zeros(nv, np.int32)  # last-exit letter, read pointer
    verts, slots = np.empty(ne + 1, np.int64), np.empty(ne, np.uint8)
    for i in range(n):
        row, key = codes[i], keys[i]
        v = 0
        for j in range(km1):
            v = (v << 2) | row[j]
        for j in range(ne + 1):
            verts[j] = v
            if stamp[v] != i:
                stamp[v] = i
                cnt[v, :] = 0
                deg[v] = state[v] = 0
            if j < ne:
                c = row[j + km1]
                cnt[v, c] += 1
                deg[v] += 1
                v = ((v << 2) | c) & mask
        root = v
        state[root] = 1
        ctr = _wilson(verts, ne, cnt, deg, state, nxt, mask, key, np.uint64(0))
        top = 0  # edge lists in first-visit order: shuffled free edges, then the last exit
        for j in range(ne):
            u = verts[j]
            if state[u] == 2:
                continue
            state[u], pos[u], p = 2, top, top
            for c in range(4):
                for _ in range(cnt[u, c] - (1 if (u != root and c == nxt[u]) else 0)):
                    slots[p] = c
                    p += 1
            ctr = _fisher_yates(slots, top, p - top, key, ctr)
            if u != root:
                slots[p] = nxt[u]
            top += deg[u]
        v = verts[0]
        for j in range(ne):
            c = slots[pos[v]]
            pos[v] += 1
            out[i, j + km1] = c
            v = ((v << 2) | c) & mask
    return out


def _check_k(k: Any) -> int:
    k = check_int("k", k, minimum=1)
    if k > MAX_K:
        raise OptionError(f"k must be <= {MAX_K}, got {k}")
    return k


def _reject_n(codes: np.ndarray, who: str) -> None:
    if codes.size and int(codes.max()) > 3:
        row, pos = (int(x) for x in np.argwhere(codes > 3)[0])
        raise InvalidSequenceError(
            f"{who}: sequence {row} has N (code {int(codes[row, pos])}) at position {pos}; "
            "k-let shuffling needs A/C/G/T only (trim, mask or drop such sequences first)"
        )


def shuffle_keyed(codes: np.ndarray, keys: np.ndarray, k: int = 2) -> np.ndarray:
    """Uniform k-let shuffle of each row of ``codes`` ``(N, L)`` with its own stream ``keys[i]``.

    Row i depends on ``(codes[i], keys[i], k)`` only and is drawn uniformly from all sequences
    with the same k-let counts and first (hence last) (k-1)-mer; k = 1 is a Fisher-Yates
    permutation. Rows shorter than k come back unchanged. An N (code 4) raises
    :class:`~causalgia.errors.InvalidSequenceError` naming the row. The input is not modified.

    Examples
    --------
    >>> from causalgia.sequences.alphabet import decode, encode
    >>> from causalgia._rng import unit_keys
    >>> y = shuffle_keyed(encode(["ACGTTGCAACGTAGCA"]), unit_keys(0, [0], "demo"), k=2)
    >>> decode(y)[0][0], decode(y)[0][-1]
    ('A', 'A')
    """
    k = _check_k(k)
    arr = np.asarray(codes)
    if arr.ndim != 2 or arr.dtype.kind not in "iu" or (arr.size and int(arr.min()) < 0):
        raise InvalidSequenceError(f"codes must be 2-D non-negative integers, got {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    _reject_n(arr, "shuffle")
    keys = np.ascontiguousarray(keys, dtype=np.uint64)
    if keys.shape != (arr.shape[0],):
        raise OptionError(f"keys must have shape ({arr.shape[0]},), got {keys.shape}")
    return _permute_rows(arr, keys) if k == 1 else _klet_rows(arr, keys, k)


def shuffle(codes: np.ndarray, *, k: int = 2, rng: RngLike = None) -> np.ndarray:
    """Uniform k-let-preserving shuffle of every row of ``codes`` (``(L,)`` or ``(N, L)``).

    Row i uses the stream ``unit_keys(root_seed(rng), i, "shuffle")``; see :func:`shuffle_keyed`.

    Examples
    --------
    >>> from causalgia.sequences.alphabet import decode, encode
    >>> sorted(decode(shuffle(encode("AACCGGTT"), k=1, rng=3))) == sorted("AACCGGTT")
    True
    """
    if not isinstance(codes, np.ndarray):
        raise InvalidSequenceError(f"codes must be a numpy array, got {type(codes).__name__}")
    arr = as_codes(codes)
    out = shuffle_keyed(arr, unit_keys(root_seed(rng), np.arange(arr.shape[0]), "shuffle"), k)
    return out[0] if codes.ndim == 1 else out


def _readonly(arr: np.ndarray) -> np.ndarray:
    out = np.array(arr, copy=True)
    out.flags.writeable = False
    return out


def _sha256(arr: np.ndarray) -> str:
    data = np.ascontiguousarray(arr)
    return hashlib.sha256(f"{data.dtype.str}{data.shape}".encode() + data.tobytes()).hexdigest()


def _as_sources(sequences: Sources, alphabet: Alphabet, who: str) -> np.ndarray:
    """Source sequences as a read-only ``(M, L)`` code array; errors name the sequence."""
    if isinstance(sequences, np.ndarray) and sequences.dtype.kind in "iu":
        codes = as_codes(sequences)
    else:
        rows = []
        for idx, item in enumerate([sequences] if isinstance(sequences, str) else sequences):
            if isinstance(item, str):
                rows.append(encode(item, alphabet, ids=[str(idx)], n_policy="allow"))
            elif (row := np.asarray(item)).ndim == 1 and row.dtype.kind in "iu":
                rows.append(row)
            else:
                raise InvalidSequenceError(
                    f"{who}: sequence {idx} must be a string or 1-D integer codes, "
                    f"got {type(item).__name__} {np.shape(item)}"
                )
            if len(rows[-1]) != len(rows[0]):
                raise InvalidSequenceError(
                    f"{who}: sequence {idx} has length {len(rows[-1])}, expected {len(rows[0])} "
                    "(the length of sequence 0); all source sequences must have one length"
                )
        codes = as_codes(np.stack(rows)) if rows else np.zeros((0, 0), np.uint8)
    if codes.shape[0] == 0:
        raise InvalidSequenceError(f"{who}: needs at least one source sequence, got none")
    if codes.shape[1] == 0:
        raise InvalidSequenceError(f"{who}: sequence 0 is empty")
    return _readonly(codes)


def _thresholds(probs: np.ndarray) -> np.ndarray:
    """Cumulative cut points ``(..., m-1)`` for categorical draws; never picks a zero letter."""
    tail = np.cumsum(probs[..., ::-1], axis=-1)[..., ::-1][..., 1:]  # mass after each cut
    return np.where(tail > 0, np.cumsum(probs, axis=-1)[..., :-1], np.inf)


@njit(cache=True)
def _draw_sites_kernel(keys: np.ndarray, thr: np.ndarray) -> np.ndarray:  # pragma: no cover
    out = np.empty((len(keys), thr.shape[0]), dtype=np.uint8)
    for i in range(len(keys)):
        for j in range(thr.shape[0]):
            z = _mix(keys[i] + np.uint64(j + 1) * GOLDEN)
            u = np.float64(z >> np.uint64(11)) * _INV53
            letter = 0
            for c in range(thr.shape[1]):
                letter += u >= thr[j, c]
            out[i, j] = letter
    return out


def _draw_sites(keys: np.ndarray, thr: np.ndarray, length: int) -> np.ndarray:
    """Site-independent letters: ``thr`` is ``(length, 3)``; one keyed uniform per site.

    Equal to counting ``uniforms(keys, length)[:, :, None] >= thr`` (a test checks it), fused
    into one numba pass so no (n, L) float array is materialised.
    """
    keys = np.ascontiguousarray(keys, dtype=np.uint64)
    return _draw_sites_kernel(keys, np.ascontiguousarray(thr, dtype=np.float64))


def _check_probs(name: str, probs: Any, shape: tuple[int, ...]) -> np.ndarray:
    p = np.asarray(probs, dtype=np.float64)
    if p.shape != shape:
        raise OptionError(f"{name} must have shape {shape}, got {p.shape}")
    if not np.isfinite(p).all() or (p < 0).any():
        raise OptionError(f"{name} must be finite and non-negative")
    sums = np.atleast_1d(p.sum(axis=-1))
    if (bad := np.flatnonzero(np.abs(sums - 1.0) > 1e-6)).size:
        where = f" (row {int(bad[0])})" if p.ndim > 1 else ""
        raise OptionError(f"{name} must sum to 1{where}, got {float(sums[bad[0]])}")
    return p / sums.reshape(p.shape[:-1] + (1,))


def _check_pseudocount(value: Any) -> float:
    try:
        pc = float(value)
    except (TypeError, ValueError):
        pc = np.nan
    if not np.isfinite(pc) or pc < 0:
        raise OptionError(f"pseudocount must be a finite number >= 0, got {value!r}")
    return pc


def _check_ids(ids: Any) -> np.ndarray:
    arr = np.asarray(ids)
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
        raise OptionError(f"ids must be a 1-D integer array, got {arr.dtype} {arr.shape}")
    if arr.size and int(arr.min()) < 0:
        raise OptionError(f"ids must be non-negative, got {int(arr.min())}")
    return arr.astype(np.int64)


@dataclass(frozen=True, eq=False)
class Background(ABC):
    """A population of sequences of one length, generated from keyed per-unit streams.

    Examples
    --------
    >>> bg = iid(10, gc=0.5)
    >>> bg.generate(np.array([3, 7]), seed=1).shape
    (2, 10)
    >>> bool((bg.sample(2, rng=1) == bg.generate(np.arange(2), 1)).all())
    True
    """

    alphabet: Alphabet
    length: int
    kind: ClassVar[str] = "background"

    def generate(self, ids: np.ndarray, seed: int) -> np.ndarray:
        """Codes ``(len(ids), length)``; row i depends on ``(seed, ids[i])`` only.

        Parameters
        ----------
        ids : ndarray of int
            Non-negative unit ids, 1-D.
        seed : int
            Root seed, in ``0 .. 2**64 - 1``.

        Returns
        -------
        ndarray of uint8
            Codes ``(len(ids), length)``.

        Raises
        ------
        OptionError
            On bad ``ids`` or ``seed``, or (``real(replace=False)``) an id beyond the sources.

        Examples
        --------
        >>> iid(4).generate(np.arange(3), seed=0).dtype
        dtype('uint8')
        """
        ids = _check_ids(ids)
        seed = check_int("seed", seed, minimum=0)
        if seed >= 2**64:
            raise OptionError(f"seed must be < 2**64, got {seed}")
        return self._generate(ids, unit_keys(seed, ids, "background"))

    def sample(self, n: int, rng: RngLike = None) -> np.ndarray:
        """``n`` units with ids ``0..n-1``: ``generate(np.arange(n), root_seed(rng))``.

        Parameters
        ----------
        n : int
            Number of units (>= 0).
        rng : int, Generator or None, default None
            Root seed; None draws fresh entropy.

        Returns
        -------
        ndarray of uint8
            Codes ``(n, length)``.

        Raises
        ------
        OptionError
            On a bad ``n`` or ``rng``.

        Examples
        --------
        >>> iid(5).sample(3, rng=0).shape
        (3, 5)
        """
        return self.generate(np.arange(check_int("n", n, minimum=0)), root_seed(rng))

    def describe(self) -> dict[str, Any]:
        """JSON-safe summary for the run manifest: kind, length, parameters, source hash.

        Fitted backgrounds report the number of source sequences and a sha256 of their codes,
        never the sequences themselves.

        Returns
        -------
        dict
            ``kind``, ``length``, ``alphabet``, the kind's parameters and, when fitted,
            ``n_sources`` and ``sources_sha256``.

        Examples
        --------
        >>> kshuffle(["ACGT", "ACGA"], k=2).describe()["n_sources"]
        2
        """
        out: dict[str, Any] = {"kind": self.kind, "length": self.length}
        out["alphabet"] = self.alphabet.name
        source = getattr(self, "source", None)
        if source is not None:
            out.update(n_sources=int(source.shape[0]), sources_sha256=_sha256(source))
        return {**out, **self._params()}

    @abstractmethod
    def _generate(self, ids: np.ndarray, keys: np.ndarray) -> np.ndarray: ...

    @abstractmethod
    def _params(self) -> dict[str, Any]: ...


@dataclass(frozen=True, eq=False)
class IID(Background):
    """Every site drawn independently from one ``composition`` (A, C, G, T); see :func:`iid`.

    Examples
    --------
    >>> iid(8, gc=0.6).composition.tolist()
    [0.2, 0.3, 0.3, 0.2]
    """

    composition: np.ndarray
    kind: ClassVar[str] = "iid"

    def _generate(self, ids: np.ndarray, keys: np.ndarray) -> np.ndarray:
        thr = np.broadcast_to(_thresholds(self.composition), (self.length, 3))
        return _draw_sites(keys, thr, self.length)

    def _params(self) -> dict[str, Any]:
        return {"composition": self.composition.tolist()}


def iid(
    length: int,
    *,
    gc: float | None = None,
    composition: Sequence[float] | np.ndarray | None = None,
    alphabet: str | Alphabet = "dna",
) -> Background:
    """Site-independent background with one composition at every position.

    ``gc`` in [0, 1] gives ``((1-gc)/2, gc/2, gc/2, (1-gc)/2)``; ``composition`` gives the four
    probabilities directly; the default is uniform. Giving both is an error.

    Parameters
    ----------
    length : int
        Sequence length (>= 1).
    gc : float, optional
        GC fraction in [0, 1].
    composition : sequence of float, optional
        Probabilities of A, C, G, T, non-negative and summing to 1.
    alphabet : {"dna", "rna"} or Alphabet, default "dna"
        Alphabet of the generated sequences.

    Returns
    -------
    Background

    Raises
    ------
    OptionError
        On a bad ``length``, ``gc`` or ``composition``, or both of the last two.

    Examples
    --------
    >>> iid(100, gc=0.7).sample(2, rng=0).shape
    (2, 100)
    """
    length = check_int("length", length, minimum=1)
    if gc is not None and composition is not None:
        raise OptionError("give either gc or composition, not both")
    if gc is not None:
        g = check_probability("gc", gc, open_interval=False)
        comp = np.array([(1 - g) / 2, g / 2, g / 2, (1 - g) / 2])
    elif composition is not None:
        comp = _check_probs("composition", composition, (4,))
    else:
        comp = np.full(4, 0.25)
    return IID(get_alphabet(alphabet), length, _readonly(comp))


@dataclass(frozen=True, eq=False)
class Profile(Background):
    """Position j drawn independently from ``probs[j]``; see :func:`profile`.

    Examples
    --------
    >>> profile(["AC", "AG"]).probs.tolist()
    [[1.0, 0.0, 0.0, 0.0], [0.0, 0.5, 0.5, 0.0]]
    """

    probs: np.ndarray
    pseudocount: float | None = None
    source: np.ndarray | None = field(default=None, repr=False)
    kind: ClassVar[str] = "profile"

    def _generate(self, ids: np.ndarray, keys: np.ndarray) -> np.ndarray:
        return _draw_sites(keys, _thresholds(self.probs), self.length)

    def _params(self) -> dict[str, Any]:
        return {"pseudocount": self.pseudocount, "probs_sha256": _sha256(self.probs)}


def profile(
    sequences: Sources, *, alphabet: str | Alphabet = "dna", pseudocount: float = 0.0
) -> Background:
    """Fit a position-specific, site-independent profile to equal-length sequences.

    ``probs[j] = (counts[j] + pseudocount) / (n[j] + 4 * pseudocount)``, where N letters are not
    counted. This is the null model of the original GIA code (Koo et al. 2021).

    Parameters
    ----------
    sequences : ndarray, str, or sequence of str or of 1-D codes
        Source sequences of one length: codes ``(M, L)`` or text (N allowed, as code 4).
    alphabet : {"dna", "rna"} or Alphabet, default "dna"
        Alphabet of text sources and of the generated sequences.
    pseudocount : float, default 0.0
        Added to every letter count (finite, >= 0).

    Returns
    -------
    Background
        Its ``probs`` has shape ``(L, 4)``.

    Raises
    ------
    InvalidSequenceError
        On no, empty, ragged or invalid sources, or a position that is N in every source
        while ``pseudocount`` is 0.
    OptionError
        On a bad ``pseudocount``.

    Examples
    --------
    >>> bg = profile(["ACGT", "ACGA", "TCGA"])
    >>> bg.probs[0].round(3).tolist(), bg.length
    ([0.667, 0.0, 0.0, 0.333], 4)
    """
    alph = get_alphabet(alphabet)
    pc = _check_pseudocount(pseudocount)
    codes = _as_sources(sequences, alph, "profile")
    counts = np.stack([(codes == c).sum(axis=0) for c in range(4)], axis=1) + pc
    totals = counts.sum(axis=1)
    if (empty := np.flatnonzero(totals == 0)).size:
        raise InvalidSequenceError(
            f"profile: position {int(empty[0])} is N in every source sequence; use pseudocount > 0"
        )
    return Profile(alph, codes.shape[1], _readonly(counts / totals[:, None]), pc, codes)


def profile_from_probs(probs: np.ndarray, *, alphabet: str | Alphabet = "dna") -> Background:
    """A profile background from a probability matrix ``(L, 4)`` whose rows sum to 1.

    Examples
    --------
    >>> profile_from_probs(np.full((5, 4), 0.25)).length
    5
    """
    arr = np.asarray(probs, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 4 or arr.shape[0] < 1:
        raise OptionError(f"probs must have shape (L, 4) with L >= 1, got {arr.shape}")
    p = _check_probs("probs", arr, arr.shape)
    return Profile(get_alphabet(alphabet), p.shape[0], _readonly(p))


@dataclass(frozen=True, eq=False)
class KShuffle(Background):
    """Unit id i is a uniform k-let shuffle of source ``i % M``; see :func:`kshuffle`.

    Examples
    --------
    >>> kshuffle(["ACGTAC", "TTGACA"], k=2).generate(np.arange(3), 0).shape
    (3, 6)
    """

    k: int
    source: np.ndarray = field(repr=False)
    kind: ClassVar[str] = "kshuffle"

    def _generate(self, ids: np.ndarray, keys: np.ndarray) -> np.ndarray:
        return shuffle_keyed(self.source[ids % self.source.shape[0]], keys, self.k)

    def _params(self) -> dict[str, Any]:
        return {"k": self.k}


def kshuffle(sequences: Sources, *, k: int = 2, alphabet: str | Alphabet = "dna") -> Background:
    """Uniform k-let-preserving shuffles of real sequences (Altschul-Erickson; uShuffle).

    Unit id i is drawn uniformly from all sequences with the k-let counts and first (k-1)-mer of
    source ``i % M``. Sources must share one length and hold no N: an N raises
    :class:`~causalgia.errors.InvalidSequenceError` naming the sequence and position.

    Parameters
    ----------
    sequences : ndarray, str, or sequence of str or of 1-D codes
        Source sequences of one length, without N: codes ``(M, L)`` or text.
    k : int, default 2
        Size of the preserved k-lets, 1 to 8 (1 permutes the letters).
    alphabet : {"dna", "rna"} or Alphabet, default "dna"
        Alphabet of text sources and of the generated sequences.

    Returns
    -------
    Background

    Raises
    ------
    InvalidSequenceError
        On no, empty, ragged or invalid sources, or an N.
    OptionError
        On a bad ``k``.

    Examples
    --------
    >>> x = kshuffle(["ACGTTGCAACGTAGCA"], k=2).sample(2, rng=0)
    >>> x.shape, bool((x[:, 0] == 0).all())
    ((2, 16), True)
    """
    k = _check_k(k)
    alph = get_alphabet(alphabet)
    codes = _as_sources(sequences, alph, "kshuffle")
    _reject_n(codes, "kshuffle")
    return KShuffle(alph, codes.shape[1], k, codes)


@dataclass(frozen=True, eq=False)
class Markov(Background):
    """Order-k Markov chain: ``initial`` over k-mers, ``transition`` ``(4**k, 4)``.

    Examples
    --------
    >>> markov(["ACGTACGTAC"], order=1).transition.shape
    (4, 4)
    """

    order: int
    initial: np.ndarray
    transition: np.ndarray
    pseudocount: float = 1.0
    source: np.ndarray | None = field(default=None, repr=False)
    kind: ClassVar[str] = "markov"

    def _generate(self, ids: np.ndarray, keys: np.ndarray) -> np.ndarray:
        k, length, n_states = self.order, self.length, self.transition.shape[0]
        out = np.empty((len(ids), length), dtype=np.uint8)
        thr = _thresholds(self.transition)
        u = uniforms(keys, length)  # u[:, 0] draws the initial k-mer, u[:, j >= k] letter j
        state = np.zeros(len(ids), dtype=np.int64)
        if k:
            state = np.searchsorted(_thresholds(self.initial), u[:, 0], side="right")
            for j in range(min(k, length)):
                out[:, j] = (state >> (2 * (k - 1 - j))) & 3
        for j in range(k, length):
            out[:, j] = c = (u[:, j, None] >= thr[state]).sum(axis=1)
            state = (state * 4 + c) % n_states
        return out

    def _params(self) -> dict[str, Any]:
        params = np.concatenate([self.initial, self.transition.ravel()])
        return {"order": self.order, "pseudocount": self.pseudocount, "sha256": _sha256(params)}


def _markov_counts(codes: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
    """Initial k-mer counts and transition counts ``(4**k, 4)``; windows with N are skipped."""
    n_states = 4**order
    powers = 4 ** np.arange(order - 1, -1, -1, dtype=np.int64)
    win = np.lib.stride_tricks.sliding_window_view(codes.astype(np.int64), order + 1, axis=1)
    ok = (win < N_CODE).all(axis=-1)
    flat = ((win[..., :order] @ powers) * 4 + win[..., order])[ok]
    trans = np.bincount(flat, minlength=4 * n_states).reshape(n_states, 4).astype(np.float64)
    first = codes[:, :order].astype(np.int64)
    first = first[(first < N_CODE).all(axis=1)]
    return np.bincount(first @ powers, minlength=n_states).astype(np.float64), trans


def markov(
    sequences: Sources,
    *,
    order: int = 1,
    length: int | None = None,
    alphabet: str | Alphabet = "dna",
    pseudocount: float = 1.0,
) -> Background:
    """Fit an order-k Markov chain to sequences; generate sequences of ``length``.

    The initial k-mer distribution comes from the first k letters of each source, transitions
    from all positions; ``pseudocount`` is added to every initial and transition count, and
    windows containing N are skipped. With ``pseudocount=0`` a k-mer never followed by a letter
    falls back to the overall letter composition. ``length`` defaults to the source length.

    Parameters
    ----------
    sequences : ndarray, str, or sequence of str or of 1-D codes
        Source sequences of one length: codes ``(M, L)`` or text (N allowed, as code 4).
    order : int, default 1
        Markov order k, 0 to 8; must be below the source length.
    length : int, optional
        Length of the generated sequences (>= 1).
    alphabet : {"dna", "rna"} or Alphabet, default "dna"
        Alphabet of text sources and of the generated sequences.
    pseudocount : float, default 1.0
        Added to every initial and transition count (finite, >= 0).

    Returns
    -------
    Background
        With ``initial`` (``4**k``) and ``transition`` (``(4**k, 4)``) probabilities.

    Raises
    ------
    InvalidSequenceError
        On no, empty, ragged or invalid sources, or too many N to fit the chain.
    OptionError
        On a bad ``order``, ``length`` or ``pseudocount``.

    Examples
    --------
    >>> from causalgia.sequences.alphabet import decode
    >>> bg = markov(["ACACACACAC"], order=1, length=6, pseudocount=0.0)
    >>> decode(bg.sample(1, rng=0))[0] in ("ACACAC", "CACACA")
    True
    """
    order = check_int("order", order, minimum=0)
    if order > MAX_ORDER:
        raise OptionError(f"order must be <= {MAX_ORDER}, got {order}")
    alph = get_alphabet(alphabet)
    pc = _check_pseudocount(pseudocount)
    codes = _as_sources(sequences, alph, "markov")
    if codes.shape[1] <= order:
        raise OptionError(f"order={order} needs source sequences longer than {codes.shape[1]}")
    out_len = codes.shape[1] if length is None else check_int("length", length, minimum=1)
    init, trans = _markov_counts(codes, order)
    if trans.sum() == 0 or init.sum() + pc == 0:
        raise InvalidSequenceError(f"markov: too many N in the sources to fit order {order}")
    init, trans = init + pc, trans + pc
    totals = trans.sum(axis=1, keepdims=True)
    comp = trans.sum(axis=0) / trans.sum()
    trans = np.where(totals > 0, trans / np.maximum(totals, 1e-300), comp)
    return Markov(alph, out_len, order, _readonly(init / init.sum()), _readonly(trans), pc, codes)


@dataclass(frozen=True, eq=False)
class Real(Background):
    """The real sequences: unit i is a keyed draw (``replace=True``) or sequence i.

    Examples
    --------
    >>> real(["ACGT", "TTTT"], replace=False).generate(np.array([1]), 0).tolist()
    [[3, 3, 3, 3]]
    """

    replace: bool
    source: np.ndarray = field(repr=False)
    kind: ClassVar[str] = "real"

    def _generate(self, ids: np.ndarray, keys: np.ndarray) -> np.ndarray:
        m = self.source.shape[0]
        if self.replace:
            idx = np.minimum((uniforms(keys, 1)[:, 0] * m).astype(np.int64), m - 1)
        elif ids.size and int(ids.max()) >= m:
            raise OptionError(
                f"ids: unit id {int(ids.max())} is out of range; real(replace=False) has "
                f"{m} sequences (ids 0..{m - 1})"
            )
        else:
            idx = ids
        return self.source[idx].copy()

    def _params(self) -> dict[str, Any]:
        return {"replace": self.replace}


def real(
    sequences: Sources, *, replace: bool = True, alphabet: str | Alphabet = "dna"
) -> Background:
    """The real sequences as a background (N letters are kept, as code 4).

    With ``replace=True`` unit i is sequence ``floor(u_i * M)`` for its keyed uniform ``u_i``;
    with ``replace=False`` unit i is sequence i, and ids >= M raise an OptionError.

    Parameters
    ----------
    sequences : ndarray, str, or sequence of str or of 1-D codes
        Source sequences of one length: codes ``(M, L)`` or text (N allowed, as code 4).
    replace : bool, default True
        Draw a source per unit (True) or take source i for unit i (False).
    alphabet : {"dna", "rna"} or Alphabet, default "dna"
        Alphabet of text sources and of the generated sequences.

    Returns
    -------
    Background

    Raises
    ------
    InvalidSequenceError
        On no, empty, ragged or invalid sources.
    OptionError
        When ``replace`` is not a bool.

    Examples
    --------
    >>> from causalgia.sequences.alphabet import decode
    >>> decode(real(["ACGT", "GGCC"], replace=False).sample(2))
    ['ACGT', 'GGCC']
    """
    if not isinstance(replace, bool | np.bool_):
        raise OptionError(f"replace must be True or False, got {replace!r}")
    alph = get_alphabet(alphabet)
    codes = _as_sources(sequences, alph, "real")
    return Real(alph, codes.shape[1], bool(replace), codes)
