"""Tests for causalgia._rng: root seeds (SPEC 7), keyed unit streams, counter-based uniforms."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from causalgia._rng import generator, mix64, raw_draws, root_seed, uniforms, unit_keys
from causalgia.errors import OptionError

FAST = settings(max_examples=50, deadline=None, derandomize=True)
seeds = st.integers(0, 2**63 - 1)
id_lists = st.lists(st.integers(0, 2**40), min_size=1, max_size=30)
labels = st.one_of(st.text(min_size=0, max_size=8), st.integers(0, 1000))


# ---------------------------------------------------------------- root_seed
@pytest.mark.parametrize("value", [0, 7, 2**31, 2**63 - 1])
def test_root_seed_int_passes_through(value: int) -> None:
    out = root_seed(value)
    assert out == value and type(out) is int
    assert root_seed(np.int64(value)) == value
    assert type(root_seed(np.int64(value))) is int


def test_root_seed_generator_is_consumed_deterministically() -> None:
    expected = np.random.default_rng(3).integers(0, 2**63, dtype=np.int64)
    gen_a, gen_b = np.random.default_rng(3), np.random.default_rng(3)
    first = root_seed(gen_a)
    assert first == int(expected)
    assert first == root_seed(gen_b)
    # the generator state advanced: the next call gives the next draw
    second = root_seed(gen_a)
    assert second != first
    assert second == root_seed(gen_b)
    assert 0 <= first < 2**63


def test_root_seed_none_draws_fresh_entropy() -> None:
    draws = {root_seed(None) for _ in range(5)}
    assert len(draws) == 5
    assert all(0 <= d < 2**63 for d in draws)


@pytest.mark.parametrize(
    ("bad", "pattern"),
    [
        (-1, r"seed in 0\.\.2\*\*63-1, got -1"),
        (np.int64(-5), r"seed in 0\.\.2\*\*63-1, got -5"),
        (2**63 + 5, r"seed in 0\.\.2\*\*63-1, got 9223372036854775813"),
        (True, "got True"),
        (False, "got False"),
        (1.5, "got 1.5"),
        (2.0, "got 2.0"),
        ("3", "got '3'"),
    ],
)
def test_root_seed_rejects(bad, pattern: str) -> None:
    with pytest.raises(OptionError, match=rf"rng must .*{pattern}"):
        root_seed(bad)


# ---------------------------------------------------------------- unit_keys
@FAST
@given(seeds, id_lists, st.lists(labels, max_size=3), st.randoms(use_true_random=False))
def test_unit_key_depends_only_on_seed_purpose_id(seed, ids, purpose, rnd) -> None:
    full = unit_keys(seed, ids, *purpose)
    assert full.dtype == np.uint64 and full.shape == (len(ids),)
    # one at a time
    single = np.array([unit_keys(seed, [i], *purpose)[0] for i in ids], dtype=np.uint64)
    assert np.array_equal(full, single)
    # a shuffled, padded batch
    other = list(ids) + [2**41 + 1, 2**41 + 2]
    rnd.shuffle(other)
    keyed = dict(zip(other, unit_keys(seed, other, *purpose), strict=True))
    assert np.array_equal(full, np.array([keyed[i] for i in ids], dtype=np.uint64))


@FAST
@given(seeds, st.lists(st.integers(0, 2**40), min_size=1, max_size=30, unique=True))
def test_unit_keys_differ_by_purpose_and_seed(seed, ids) -> None:
    a = unit_keys(seed, ids, "background")
    assert not np.any(a == unit_keys(seed, ids, "arm"))
    assert not np.any(a == unit_keys(seed, ids))
    assert not np.any(a == unit_keys(seed ^ 1, ids, "background"))
    assert not np.any(unit_keys(seed, ids, "a", "b") == unit_keys(seed, ids, "b", "a"))
    assert not np.any(unit_keys(seed, ids, 1) == unit_keys(seed, ids, "1"))
    # distinct ids get distinct keys
    assert len(set(a.tolist())) == len(ids)


def test_unit_keys_accept_arrays_and_lists() -> None:
    ids = [0, 5, 9]
    assert np.array_equal(unit_keys(4, ids, "x"), unit_keys(4, np.array(ids), "x"))


# ---------------------------------------------------------------- uniforms
def test_uniforms_range_mean_variance() -> None:
    keys = unit_keys(11, np.arange(400), "uniform-test")
    u = uniforms(keys, 500)
    assert u.shape == (400, 500) and u.dtype == np.float64
    assert u.min() >= 0.0 and u.max() < 1.0
    n = u.size
    # CLT tolerances, 5 SD: sd(mean) = sqrt(1/12/n);
    # sd(var) ~ sqrt((mu4 - sigma^4)/n) = sqrt(1/180/n)
    assert abs(u.mean() - 0.5) < 5 * np.sqrt(1 / 12 / n)
    assert abs(u.var() - 1 / 12) < 5 * np.sqrt(1 / 180 / n)
    # no lag-1 correlation along a stream nor between consecutive ids (sd = 1/sqrt(m))
    along = np.corrcoef(u[:, :-1].ravel(), u[:, 1:].ravel())[0, 1]
    across = np.corrcoef(u[:-1].ravel(), u[1:].ravel())[0, 1]
    assert abs(along) < 5 / np.sqrt(u[:, 1:].size)
    assert abs(across) < 5 / np.sqrt(u[1:].size)


def test_uniforms_are_53_bit_grid_points() -> None:
    u = uniforms(unit_keys(0, np.arange(20), "grid"), 50)
    scaled = u * 2.0**53
    assert np.array_equal(scaled, np.floor(scaled))
    expected = (raw_draws(unit_keys(0, np.arange(20), "grid"), 50) >> np.uint64(11)).astype(
        np.float64
    ) / 2.0**53
    assert np.array_equal(u, expected)


@FAST
@given(seeds, st.integers(1, 20), st.integers(0, 30))
def test_uniforms_rows_and_offsets_are_independent_of_batch(seed, size, offset) -> None:
    keys = unit_keys(seed, np.arange(6), "u")
    full = uniforms(keys, size + offset)
    assert np.array_equal(uniforms(keys, size, offset), full[:, offset:])
    for i in range(6):
        assert np.array_equal(uniforms(keys[i : i + 1], size + offset)[0], full[i])


def test_mix64_matches_reference_splitmix64() -> None:
    """Compare against a pure-Python SplitMix64 finaliser (arbitrary-precision ints, masked)."""
    mask = 2**64 - 1

    def ref(z: int) -> int:
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        return z ^ (z >> 31)

    xs = [0, 1, 2**63, 2**64 - 1, 0x9E3779B97F4A7C15, 123456789]
    got = mix64(np.array(xs, dtype=np.uint64))
    assert got.tolist() == [ref(x) for x in xs]


def test_generator_per_key_is_reproducible() -> None:
    key = unit_keys(1, [3], "gen")[0]
    a = generator(key).random(5)
    assert np.array_equal(a, generator(key).random(5))
    assert not np.array_equal(a, generator(unit_keys(1, [4], "gen")[0]).random(5))
