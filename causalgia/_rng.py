"""Randomness: one recorded root seed per run, and keyed per-unit streams.

Every random draw in causalgia is a function of ``(root seed, purpose, unit id, counter)`` only,
computed with the SplitMix64 finaliser (Steele, Lea & Flood, OOPSLA 2014). A unit's draws
therefore never depend on batch size, batch order or worker count.

``rng`` arguments follow SPEC 7: an int is a seed, a :class:`numpy.random.Generator` is consumed
once to produce a seed, and ``None`` draws fresh OS entropy (the resolved seed is recorded).
"""

from __future__ import annotations

import hashlib

import numpy as np

from .errors import OptionError

RngLike = int | np.integer | np.random.Generator | None

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_MASK63 = (1 << 63) - 1


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
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def _label_code(label: int | str) -> np.uint64:
    if isinstance(label, str):
        digest = hashlib.blake2b(label.encode(), digest_size=8).digest()
        return np.uint64(int.from_bytes(digest, "little"))
    return np.uint64(int(label) & 0xFFFFFFFFFFFFFFFF)


def unit_keys(seed: int, ids: np.ndarray | list[int], *purpose: int | str) -> np.ndarray:
    """Stream keys (uint64) for units ``ids`` under ``seed`` and a purpose path.

    The same ``(seed, purpose, id)`` always gives the same key; different purposes give
    independent keys, so e.g. a background draw and an intervention draw never share a stream.

    Examples
    --------
    >>> k = unit_keys(1, [0, 1, 2], "background")
    >>> k.dtype, k.shape
    (dtype('uint64'), (3,))
    """
    with np.errstate(over="ignore"):
        base = mix64(np.array([seed], dtype=np.uint64) + _GOLDEN)
        for label in purpose:
            base = mix64(base ^ _label_code(label) + _GOLDEN)
        ids = np.asarray(ids, dtype=np.int64).astype(np.uint64)
        return mix64(base ^ mix64(ids + _GOLDEN) + _GOLDEN)


def raw_draws(keys: np.ndarray, size: int, offset: int = 0) -> np.ndarray:
    """Counter-based uint64 draws: row i is the stream of ``keys[i]``, ``size`` values long."""
    keys = np.asarray(keys, dtype=np.uint64)
    counter = np.arange(offset + 1, offset + size + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        return mix64(keys[:, None] + counter[None, :] * _GOLDEN)


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
