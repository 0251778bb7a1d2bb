"""Benchmark: causalgia's uniform k-let shuffle against plain baselines (not a test).

Times ``causalgia.experiment.backgrounds.shuffle_keyed`` on 10,000 random sequences at L = 200 and L
= 1000 against

- a DeepLIFT-style dinucleotide shuffle written here in plain numpy/Python (one Euler walk per
  sequence, each letter's successors shuffled except the last one, which stays fixed: the
  non-uniform fixed-last-edge recipe), and
- numpy ``Generator.permuted`` (a k = 1 baseline).

All methods run round-robin in a new random order each round, after an untimed warm-up; the table
reports median times and the median of same-round ratios (see performance-anchors.md). The uShuffle
C figures measured on this machine kind (189k seq/s at L=200, 28.6k at L=1000, with one-hot I/O)
are quoted from performance-anchors.md for reference, not re-measured.

Usage: ``python benchmarks/bench_kshuffle.py [--quick]``
"""

from __future__ import annotations

import argparse
import random
import time
from collections import Counter
from collections.abc import Callable

import numpy as np
from scipy import stats

from causalgia._rng import unit_keys
from causalgia.experiment.backgrounds import shuffle_keyed
from causalgia.sequences.alphabet import decode, encode

USHUFFLE_REF = {200: 189_320, 1000: 28_586}  # seq/s with one-hot I/O, performance-anchors.md §1
USHUFFLE_BYTES = {200: 267_265, 1000: 46_322}  # seq/s, uShuffle core on bytes only (same table)
SUPPORT_SEQ = "ACGTTGCAACGTAGCA"  # 864 distinct dinucleotide shuffles


def deeplift_style_shuffle(seq: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One Euler walk: each letter's successor list shuffled except its last entry (fixed)."""
    succ = []
    for letter in range(4):
        nxt = np.flatnonzero(seq[:-1] == letter) + 1
        if len(nxt) > 1:
            nxt[:-1] = rng.permutation(nxt[:-1])
        succ.append(nxt)
    out = np.empty_like(seq)
    out[0] = seq[0]
    used = [0, 0, 0, 0]
    for j in range(1, len(seq)):
        prev = out[j - 1]
        out[j] = seq[succ[prev][used[prev]]]
        used[prev] += 1
    return out


def deeplift_style_batch(codes: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([deeplift_style_shuffle(row, rng) for row in codes])


def dinuc_counts(codes: np.ndarray) -> np.ndarray:
    pairs = codes[:, :-1].astype(np.int64) * 4 + codes[:, 1:]
    offsets = np.arange(codes.shape[0])[:, None] * 16
    return np.bincount((pairs + offsets).ravel(), minlength=16 * codes.shape[0]).reshape(-1, 16)


def time_interleaved(
    methods: dict[str, Callable[[], np.ndarray]], rounds: int, seed: int
) -> dict[str, list[float]]:
    """Round-robin timing, new random order each round, after one untimed warm-up call each."""
    for fn in methods.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in methods}
    order = list(methods)
    shuffler = random.Random(seed)
    for _ in range(rounds):
        shuffler.shuffle(order)
        for name in order:
            start = time.perf_counter()
            methods[name]()
            times[name].append(time.perf_counter() - start)
    return times


def bench_length(length: int, n: int, rounds: int) -> tuple[dict[str, float], dict[str, float]]:
    codes = np.random.default_rng(length).integers(0, 4, size=(n, length)).astype(np.uint8)
    keys = unit_keys(1, np.arange(n), "bench")
    gen = np.random.default_rng(2)
    methods: dict[str, Callable[[], np.ndarray]] = {
        "causalgia shuffle_keyed k=2 (uniform)": lambda: shuffle_keyed(codes, keys, 2),
        "causalgia shuffle_keyed k=3 (uniform)": lambda: shuffle_keyed(codes, keys, 3),
        "causalgia shuffle_keyed k=1": lambda: shuffle_keyed(codes, keys, 1),
        "baseline DeepLIFT-style k=2 (Python loop)": lambda: deeplift_style_batch(codes, 3),
        "baseline numpy Generator.permuted k=1": lambda: gen.permuted(codes, axis=1),
    }
    out = shuffle_keyed(codes, keys, 2)
    assert (dinuc_counts(out) == dinuc_counts(codes)).all(), "dinucleotide counts changed"
    assert (out[:, [0, -1]] == codes[:, [0, -1]]).all(), "end letters changed"
    times = time_interleaved(methods, rounds, seed=length)
    base = np.array(times["baseline DeepLIFT-style k=2 (Python loop)"])
    median = {name: float(np.median(t)) for name, t in times.items()}
    ratio = {name: float(np.median(base / np.array(t))) for name, t in times.items()}
    return median, ratio


def support_check(draws: int) -> tuple[int, int, int, float]:
    codes = np.repeat(encode([SUPPORT_SEQ]), draws, axis=0)
    ours = Counter(decode(shuffle_keyed(codes, unit_keys(7, np.arange(draws), "support"), 2)))
    theirs = Counter(decode(deeplift_style_batch(codes, 7)))
    n_support = count_shuffles(SUPPORT_SEQ)
    observed = np.array(list(ours.values()) + [0] * (n_support - len(ours)))
    return n_support, len(ours), len(theirs), float(stats.chisquare(observed).pvalue)


def count_shuffles(seq: str) -> int:
    """Exact number of distinct sequences with the same dinucleotides and first letter (DFS)."""
    counts = Counter(seq[i : i + 2] for i in range(len(seq) - 1))

    def dfs(last: str, left: int) -> int:
        if left == 0:
            return 1
        total = 0
        for letter in "ACGT":
            if counts[last + letter] > 0:
                counts[last + letter] -= 1
                total += dfs(letter, left - 1)
                counts[last + letter] += 1
        return total

    return dfs(seq[0], len(seq) - 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 sequences, 5 rounds")
    args = parser.parse_args()
    n, rounds = (1_000, 5) if args.quick else (10_000, 7)
    results = {length: bench_length(length, n, rounds) for length in (200, 1000)}
    print(f"## k-let shuffle, N = {n:,} random sequences, median of {rounds} interleaved rounds\n")
    print(
        "| method | L=200 ms | L=200 seq/s | L=200 speed-up vs DeepLIFT-style "
        "| L=1000 ms | L=1000 seq/s | L=1000 speed-up vs DeepLIFT-style "
        "| uShuffle C ref seq/s (quoted, L=200 / L=1000) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name in results[200][0]:
        cells = []
        for length in (200, 1000):
            median, ratio = results[length]
            cells += [f"{median[name] * 1e3:,.1f}", f"{n / median[name]:,.0f}"]
            cells.append(f"{ratio[name]:.1f}x")
        ref = "189,320 / 28,586" if "k=2" in name and "causalgia" in name else ""
        print(f"| {name} | " + " | ".join(cells) + f" | {ref} |")
    print()
    for length in (200, 1000):
        ours = n / results[length][0]["causalgia shuffle_keyed k=2 (uniform)"]
        print(
            f"causalgia k=2 (uint8 codes) at L={length}: {ours / USHUFFLE_REF[length]:.2f}x the "
            f"quoted uShuffle with one-hot I/O, {ours / USHUFFLE_BYTES[length]:.2f}x its "
            "bytes-only core (quoted, other run)"
        )
    draws = 20_000
    n_support, ours, theirs, p = support_check(draws)
    print(f"\n## Support check: {SUPPORT_SEQ}, {draws:,} draws, {n_support} distinct shuffles\n")
    print("| method | distinct shuffles reached | chi-square p (uniform over all) |")
    print("|---|---|---|")
    print(f"| causalgia kshuffle k=2 | {ours} / {n_support} | {p:.3f} |")
    print(f"| DeepLIFT-style recipe (fixed last edge) | {theirs} / {n_support} | n/a |")


if __name__ == "__main__":
    main()
