"""causalgia.experiment.backgrounds: keyed generation, exact k-let preservation, uniformity."""

from __future__ import annotations

import itertools
import json
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from causalgia import backgrounds as B
from causalgia._rng import uniforms, unit_keys
from causalgia.errors import InvalidSequenceError, OptionError
from causalgia.sequences.alphabet import decode, encode

SOURCES = [
    "ACGTTGCAACGTAGCAAGCT",
    "TTGACCATGCAGGCATTACG",
    "GGGCCCAATTTACGATCGAT",
    "ACACACGTGTGTCACAGTAC",
]


def _all_backgrounds() -> dict[str, B.Background]:
    return {
        "iid": B.iid(20, gc=0.6),
        "profile": B.profile(SOURCES, pseudocount=0.5),
        "profile_from_probs": B.profile_from_probs(np.full((20, 4), 0.25)),
        "kshuffle1": B.kshuffle(SOURCES, k=1),
        "kshuffle2": B.kshuffle(SOURCES, k=2),
        "kshuffle3": B.kshuffle(SOURCES, k=3),
        "markov0": B.markov(SOURCES, order=0),
        "markov1": B.markov(SOURCES, order=1, length=30),
        "markov2": B.markov(SOURCES, order=2),
        "real": B.real(SOURCES),
        "real_noreplace": B.real(SOURCES * 25, replace=False),
    }


def _klets(seq: np.ndarray, k: int) -> Counter:
    return Counter(tuple(seq[i : i + k]) for i in range(len(seq) - k + 1))


def _enumerate_shuffles(seq: str, k: int) -> list[str]:
    """Every distinct sequence with the k-let counts and first (k-1)-mer of ``seq`` (brute DFS)."""
    if k == 1:
        return sorted({"".join(p) for p in itertools.permutations(seq)})
    counts = Counter(seq[i : i + k] for i in range(len(seq) - k + 1))
    found: list[str] = []

    def dfs(prefix: str) -> None:
        if len(prefix) == len(seq):
            found.append(prefix)
            return
        ctx = prefix[len(prefix) - (k - 1) :]
        for letter in "ACGT":
            if counts[ctx + letter] > 0:
                counts[ctx + letter] -= 1
                dfs(prefix + letter)
                counts[ctx + letter] += 1

    dfs(seq[: k - 1])
    return found


# ----------------------------------------------------------------------------- keyed generation


@pytest.mark.parametrize("kind", list(_all_backgrounds()))
def test_generate_is_row_keyed(kind: str) -> None:
    bg = _all_backgrounds()[kind]
    ids = np.arange(100)
    full = bg.generate(ids, seed=11)
    assert full.shape == (100, bg.length) and full.dtype == np.uint8
    np.testing.assert_array_equal(bg.generate(ids[::-1], 11)[::-1], full)
    parts = [bg.generate(ids[a:b], 11) for a, b in [(0, 37), (37, 38), (38, 100)]]
    np.testing.assert_array_equal(np.concatenate(parts), full)
    perm = np.random.default_rng(0).permutation(100)
    np.testing.assert_array_equal(bg.generate(perm, 11), full[perm])
    np.testing.assert_array_equal(bg.sample(100, rng=11), full)
    assert not np.array_equal(bg.generate(ids, 12), full) or kind == "real_noreplace"
    json.dumps(bg.describe())


def test_generate_empty_and_bad_ids() -> None:
    bg = B.iid(5)
    assert bg.generate(np.array([], dtype=np.int64), 0).shape == (0, 5)
    with pytest.raises(OptionError, match="ids"):
        bg.generate(np.array([-1]), 0)
    with pytest.raises(OptionError, match="ids"):
        bg.generate(np.array([[0, 1]]), 0)
    with pytest.raises(OptionError, match="seed"):
        bg.generate(np.arange(2), -3)


def test_kernel_uses_the_rng_counter_scheme() -> None:
    keys = unit_keys(5, np.arange(50), "x")
    expected = (uniforms(keys, 3) * 7).astype(np.int64)
    got = [[B._below(key, np.uint64(c), 7) for c in (1, 2, 3)] for key in keys]
    np.testing.assert_array_equal(np.array(got), expected)


# ----------------------------------------------------------------------------- exactness


@settings(max_examples=50, deadline=None, derandomize=True)
@given(
    seq=st.lists(st.integers(0, 3), min_size=1, max_size=300),
    k=st.sampled_from([1, 2, 3]),
    seed=st.integers(0, 2**32),
)
def test_shuffle_preserves_klets_and_ends(seq: list[int], k: int, seed: int) -> None:
    x = np.array([seq, seq[::-1]], dtype=np.uint8)
    before = x.copy()
    y = B.shuffle(x, k=k, rng=seed)
    np.testing.assert_array_equal(x, before)  # never mutates its input
    for row_in, row_out in zip(x, y, strict=True):
        assert _klets(row_out, k) == _klets(row_in, k)
        if k > 1:
            np.testing.assert_array_equal(row_out[: k - 1], row_in[: k - 1])
            np.testing.assert_array_equal(row_out[-(k - 1) :], row_in[-(k - 1) :])


@pytest.mark.parametrize("k", [4, 5, 8])
def test_higher_k_preserves_klets(k: int) -> None:
    x = np.random.default_rng(k).integers(0, 2, size=(20, 200)).astype(np.uint8)  # repeats
    y = B.shuffle(x, k=k, rng=0)
    for a, b in zip(x, y, strict=True):
        assert _klets(a, k) == _klets(b, k)
    assert (x != y).any()


def test_shuffle_shapes_and_short_rows() -> None:
    one = encode("ACGTACGGTA")
    assert B.shuffle(one, k=2, rng=1).shape == (10,)
    short = encode(["ACG"])
    np.testing.assert_array_equal(B.shuffle(short, k=5, rng=1), short)
    keys = unit_keys(1, [0, 1], "x")
    with pytest.raises(OptionError, match="keys"):
        B.shuffle_keyed(encode(["ACGT"]), keys, 2)


# ----------------------------------------------------------------------------- uniformity


@pytest.mark.parametrize(
    ("seq", "k", "n_expected"),
    [
        ("AACGTG", 1, 180),
        ("AACGTTGCAT", 2, 16),
        ("TTGTCTTTAT", 2, 120),
        ("ACGTTGCAACGTAGCA", 2, 864),
        ("AACAGCATACGCAAT", 3, 12),
        ("CGGACAACCCACGCCGAA", 3, 240),
        ("AACCAACCAACCCAAACAAAAC", 4, 144),
    ],
)
def test_kshuffle_is_uniform_over_all_shuffles(seq: str, k: int, n_expected: int) -> None:
    support = _enumerate_shuffles(seq, k)
    assert len(support) == n_expected
    per_cell = 25
    draws = B.kshuffle([seq], k=k).sample(per_cell * len(support), rng=2024)
    counts = Counter(decode(draws))
    assert set(counts) == set(support)  # every shuffle reached, nothing else produced
    observed = np.array([counts[s] for s in support])
    assert stats.chisquare(observed).pvalue >= 0.001


# ----------------------------------------------------------------------------- fitted kinds


def test_iid_composition_and_gc() -> None:
    bg = B.iid(200, gc=0.7)
    np.testing.assert_allclose(bg.composition, [0.15, 0.35, 0.35, 0.15])
    x = bg.sample(1000, rng=3)
    n = x.size
    freq = np.bincount(x.ravel(), minlength=4) / n
    sd = np.sqrt(bg.composition * (1 - bg.composition) / n)
    assert (np.abs(freq - bg.composition) < 5 * sd).all()
    assert abs(np.isin(x, [1, 2]).mean() - 0.7) < 5 * np.sqrt(0.21 / n)
    np.testing.assert_allclose(B.iid(3).composition, 0.25)
    skew = B.iid(50, composition=[0.5, 0.0, 0.0, 0.5]).sample(200, rng=1)
    assert set(np.unique(skew)) == {0, 3}
    with pytest.raises(OptionError, match="gc or composition"):
        B.iid(10, gc=0.5, composition=[0.25] * 4)
    with pytest.raises(OptionError, match="gc"):
        B.iid(10, gc=1.5)
    with pytest.raises(OptionError, match="composition"):
        B.iid(10, composition=[0.5, 0.5, 0.5, 0.5])
    with pytest.raises(OptionError, match="length"):
        B.iid(0)


def test_profile_fits_column_frequencies() -> None:
    src = np.random.default_rng(0).integers(0, 4, size=(500, 12)).astype(np.uint8)
    bg = B.profile(src)
    freq = np.stack([(src == c).mean(axis=0) for c in range(4)], axis=1)
    np.testing.assert_allclose(bg.probs, freq)
    x = bg.sample(20000, rng=5)
    got = np.stack([(x == c).mean(axis=0) for c in range(4)], axis=1)
    assert np.abs(got - bg.probs).max() < 5 * np.sqrt(0.25 / 20000)
    smoothed = B.profile(["AC", "AG"], pseudocount=1.0).probs
    np.testing.assert_allclose(smoothed[0], [3 / 6, 1 / 6, 1 / 6, 1 / 6])
    assert B.profile(SOURCES).describe()["n_sources"] == 4
    with pytest.raises(OptionError, match="row 1"):
        B.profile_from_probs(np.array([[0.25] * 4, [0.5] * 4]))


def test_markov_recovers_transition_matrix() -> None:
    true = np.array([[0.7, 0.1, 0.1, 0.1], [0.2, 0.2, 0.5, 0.1], [0.1, 0.6, 0.2, 0.1], [0.25] * 4])
    rng = np.random.default_rng(1)
    chain = np.empty(100_000, dtype=np.uint8)
    chain[0] = 0
    u = rng.random(chain.size)
    cum = np.cumsum(true, axis=1)
    for j in range(1, chain.size):
        chain[j] = min(np.searchsorted(cum[chain[j - 1]], u[j], side="right"), 3)
    bg = B.markov(chain.reshape(10, -1), order=1, length=50_000, pseudocount=0.0)
    np.testing.assert_allclose(bg.transition, true, atol=0.02)
    x = bg.sample(2, rng=0)
    trans = np.zeros((4, 4))
    np.add.at(trans, (x[:, :-1].ravel(), x[:, 1:].ravel()), 1)
    np.testing.assert_allclose(trans / trans.sum(axis=1, keepdims=True), true, atol=0.03)
    assert B.markov(SOURCES, order=3).transition.shape == (64, 4)
    with pytest.raises(OptionError, match="order"):
        B.markov(["ACG"], order=3)


def test_markov_and_profile_skip_n() -> None:
    bg = B.markov(["ACGTNACGTA", "ACGTACGTNA"], order=1)
    assert np.isfinite(bg.transition).all()
    assert B.profile(["AN", "AC"]).probs[1].tolist() == [0.0, 1.0, 0.0, 0.0]


def test_real_with_and_without_replacement() -> None:
    codes = encode(SOURCES)
    bg = B.real(SOURCES, replace=False)
    np.testing.assert_array_equal(bg.sample(4), codes)
    with pytest.raises(OptionError, match="4 sequences"):
        bg.generate(np.array([0, 4]), 0)
    drawn = B.real(SOURCES).sample(200, rng=1)
    rows = {bytes(r) for r in codes}
    assert {bytes(r) for r in drawn} == rows
    assert B.real(["ACNT"]).sample(1)[0, 2] == 4


def test_kshuffle_uses_source_i_mod_m() -> None:
    bg = B.kshuffle(SOURCES, k=2)
    x = bg.generate(np.arange(8), 0)
    src = encode(SOURCES)
    for i, row in enumerate(x):
        assert _klets(row, 2) == _klets(src[i % 4], 2)
    assert bg.describe()["sources_sha256"] == B.real(SOURCES).describe()["sources_sha256"]


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize("make", [B.kshuffle, B.profile, B.markov, B.real])
def test_ragged_and_empty_sources(make) -> None:
    with pytest.raises(InvalidSequenceError, match="sequence 2 has length 3"):
        make(["ACGT", "ACGT", "ACG"])
    with pytest.raises(InvalidSequenceError, match="sequence 1 has length 2"):
        make([np.array([0, 1, 2]), np.array([0, 1])])
    with pytest.raises(InvalidSequenceError, match="at least one"):
        make([])
    with pytest.raises(InvalidSequenceError, match="'1'.*'X'"):
        make(["ACGT", "ACXT"])


def test_kshuffle_rejects_n_and_bad_k() -> None:
    with pytest.raises(InvalidSequenceError, match="sequence 1 has N.*position 2"):
        B.kshuffle(["ACGT", "ACNT"])
    with pytest.raises(InvalidSequenceError, match="sequence 0 has N"):
        B.shuffle(encode("ACNT", n_policy="allow"), k=2, rng=0)
    for bad in (0, B.MAX_K + 1, "2", 2.0):
        with pytest.raises(OptionError, match="k"):
            B.kshuffle(SOURCES, k=bad)
    with pytest.raises(InvalidSequenceError, match="numpy array"):
        B.shuffle("ACGT", rng=0)


def test_fused_site_draws_equal_the_numpy_formula():
    from causalgia._rng import uniforms, unit_keys
    from causalgia.experiment.backgrounds import _draw_sites, _thresholds

    probs = np.random.default_rng(0).dirichlet(np.ones(4), size=37)
    probs[5] = [0.0, 0.5, 0.5, 0.0]  # zero-probability letters are never drawn
    keys = unit_keys(3, np.arange(500), "background")
    thr = _thresholds(probs)
    expected = (uniforms(keys, 37)[:, :, None] >= thr[None]).sum(axis=-1).astype(np.uint8)
    np.testing.assert_array_equal(_draw_sites(keys, thr, 37), expected)
    assert set(np.unique(expected[:, 5])) <= {1, 2}


def test_one_hot_matches_the_identity_table_lookup():
    from causalgia.sequences.alphabet import one_hot

    codes = np.random.default_rng(1).integers(0, 5, size=(20, 33)).astype(np.uint8)
    for n_value in (0.0, 0.25):
        table = np.vstack([np.eye(4), np.full((1, 4), n_value)]).astype(np.float32)
        nlc = table[codes]
        np.testing.assert_array_equal(one_hot(codes, "NLC", n_value=n_value), nlc)
        np.testing.assert_array_equal(
            one_hot(codes, "NCL", n_value=n_value), nlc.transpose(0, 2, 1)
        )
