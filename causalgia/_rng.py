"""Randomness: one recorded root seed per run, and keyed per-unit streams.

Every random draw in causalgia is a function of ``(root seed, purpose, unit id, counter)`` only,
computed with the SplitMix64 finaliser (Steele, Lea & Flood, OOPSLA 2014). A unit's draws
therefore never depend on batch size, batch order or worker count.

``rng`` arguments follow SPEC 7: an int is a seed, a :class:`numpy.random.Generator` is consumed
once to produce a seed, and ``None`` draws fresh OS entropy (the resolved seed is recorded).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from .errors import OptionError

RngLike = int | np.integer | np.random.Generator | None

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
M1 = np.uint64(0xBF58476D1CE4E5B9)
M2 = np.uint64(0x94D049BB133111EB)
_MASK63 = (1 << 63) - 1
_MASK64 = (1 << 64) - 1
_GOLDEN_INT = 0x9E3779B97F4A7C15


def root_seed(rng: RngLike) -> int:
    """Resolve ``rng`` to a non-negative 63-bit integer seed.

    Examples
    --------
    >>> root_seed(7)
    7
    """
    if rng is None:
        return int(np.random.SeedSequence().entropy) & _MASK63
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(0, 2**63, dtype=np.int64))
    if isinstance(rng, bool) or not isinstance(rng, int | np.integer):
        raise OptionError(f"rng must be an int, a numpy Generator or None, got {rng!r}")
    if not 0 <= rng <= _MASK63:
        raise OptionError(f"rng must be a seed in 0..2**63-1, got {rng}")
    return int(rng)


def mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser, elementwise on a uint64 array (wrapping arithmetic)."""
    z = np.asarray(x, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * M1
        z = (z ^ (z >> np.uint64(27))) * M2
    return z ^ (z >> np.uint64(31))


def label_code(label: int | str) -> int:
    """The 64-bit code of one purpose label: blake2b (8 bytes) of a string, or an int mod 2**64.

    Examples
    --------
    >>> label_code(5), label_code(-1) == 2**64 - 1
    (5, True)
    """
    if isinstance(label, str):
        digest = hashlib.blake2b(label.encode(), digest_size=8).digest()
        return int.from_bytes(digest, "little")
    return int(label) & _MASK64


def _mix64_int(z: int) -> int:
    """:func:`mix64` of one value as a Python int (the same wrapping arithmetic, mod 2**64)."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def purpose_base(seed: int, codes: Sequence[int]) -> int:
    """The stream base of ``seed`` under a purpose path given by its label codes.

    ``codes`` are :func:`label_code` values of the purpose labels; cache them when the same
    path is used many times (an arm, a bootstrap group). Computed in Python integers: it equals,
    bit for bit, the numpy uint64 arithmetic that :func:`unit_keys` has always used.

    Examples
    --------
    >>> base = purpose_base(1, [label_code("background")])
    >>> bool(keyed(base, [0, 1]).tolist() == unit_keys(1, [0, 1], "background").tolist())
    True
    """
    base = _mix64_int((int(seed) + _GOLDEN_INT) & _MASK64)
    for code in codes:
        base = _mix64_int(base ^ ((int(code) + _GOLDEN_INT) & _MASK64))
    return base


def purpose_bases(seed: int, codes: np.ndarray) -> np.ndarray:
    """:func:`purpose_base` of many purpose paths at once: ``codes`` is uint64 ``(m, depth)``.

    Examples
    --------
    >>> codes = np.array([[label_code("a")], [label_code("b")]], dtype=np.uint64)
    >>> bool(purpose_bases(3, codes)[1] == purpose_base(3, [label_code("b")]))
    True
    """
    codes = np.asarray(codes, dtype=np.uint64)
    if codes.ndim != 2:
        raise OptionError(f"purpose codes must have shape (m, depth), got {codes.shape}")
    start = np.uint64(_mix64_int((int(seed) + _GOLDEN_INT) & _MASK64))
    base = np.full(codes.shape[0], start, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for column in codes.T:
            base = mix64(base ^ (column + GOLDEN))
    return base


def _id_hash(ids: np.ndarray | list[int]) -> np.ndarray:
    """The per-id half of a key, ``mix64(id + φ) + φ``, shared by every purpose."""
    ids = np.asarray(ids, dtype=np.int64).astype(np.uint64)
    with np.errstate(over="ignore"):
        return mix64(ids + GOLDEN) + GOLDEN


def keyed(base: int | np.uint64, ids: np.ndarray | list[int]) -> np.ndarray:
    """Stream keys of units ``ids`` under one purpose base (see :func:`purpose_base`).

    Examples
    --------
    >>> keyed(purpose_base(0, []), [0, 1]).shape
    (2,)
    """
    return mix64(np.uint64(base) ^ _id_hash(ids))


def keyed_many(bases: np.ndarray, ids: np.ndarray | list[int]) -> np.ndarray:
    """Stream keys ``(len(bases), len(ids))``: row ``a`` equals ``keyed(bases[a], ids)``.

    Examples
    --------
    >>> bases = purpose_bases(0, np.zeros((3, 1), dtype=np.uint64))
    >>> keyed_many(bases, [4, 5]).shape
    (3, 2)
    """
    bases = np.asarray(bases, dtype=np.uint64)
    return mix64(bases[:, None] ^ _id_hash(ids)[None, :])


def unit_keys(seed: int, ids: np.ndarray | list[int], *purpose: int | str) -> np.ndarray:
    """Stream keys (uint64) for units ``ids`` under ``seed`` and a purpose path.

    The same ``(seed, purpose, id)`` always gives the same key; different purposes give
    independent keys, so e.g. a background draw and an intervention draw never share a stream.
    Key of id ``i``: ``mix64(base ^ (mix64(i + φ) + φ))`` with ``base`` the seed mixed with
    every purpose label in turn (:func:`purpose_base`); :func:`purpose_bases` and
    :func:`keyed_many` give the keys of many purpose paths in one vectorised call.

    Examples
    --------
    >>> k = unit_keys(1, [0, 1, 2], "background")
    >>> k.dtype, k.shape
    (dtype('uint64'), (3,))
    """
    return keyed(purpose_base(seed, [label_code(label) for label in purpose]), ids)


def raw_draws(keys: np.ndarray, size: int, offset: int = 0) -> np.ndarray:
    """Counter-based uint64 draws: row i is the stream of ``keys[i]``, ``size`` values long."""
    keys = np.asarray(keys, dtype=np.uint64)
    counter = np.arange(offset + 1, offset + size + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        return mix64(keys[:, None] + counter[None, :] * GOLDEN)


def uniforms(keys: np.ndarray, size: int, offset: int = 0) -> np.ndarray:
    """Uniform floats in [0, 1) of shape ``(len(keys), size)``; row i depends on keys[i] only.

    Examples
    --------
    >>> u = uniforms(unit_keys(0, [0, 1], "demo"), 4)
    >>> u.shape, bool(((u >= 0) & (u < 1)).all())
    ((2, 4), True)
    """
    bits = raw_draws(keys, size, offset) >> np.uint64(11)
    return bits.astype(np.float64) * (1.0 / 9007199254740992.0)


def generator(key: np.uint64 | int) -> np.random.Generator:
    """A full numpy Generator for one unit's stream, for the rare draw that needs one."""
    return np.random.default_rng(np.random.SeedSequence(int(key)))
