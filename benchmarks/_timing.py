"""Shared timing helpers for the benchmarks: interleaved rounds and paired (same-round) ratios.

On a shared 2-core VM absolute times drift by up to 2x between runs and by about 25 % within a
run (see performance-anchors.md). Running every contestant once per round, in a new random
order each round, spreads that drift evenly over the contestants, and a ratio taken inside one
round cancels most of it.
"""

from __future__ import annotations

import gc
import random
import statistics
import time
from collections.abc import Callable, Sequence


def time_interleaved(
    callables: dict[str, Callable[[], object]],
    rounds: int,
    warmup: int = 1,
    *,
    seed: int | None = 0,
) -> dict[str, list[float]]:
    """Wall seconds per call: ``{name: [round 0, round 1, ...]}``.

    Each of ``warmup`` untimed rounds and ``rounds`` timed rounds calls every callable once, in a
    fresh random order. Entry ``i`` of every list comes from round ``i``, so lists can be paired
    with :func:`paired_ratio`. A garbage collection runs between calls, outside the timing.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    names = list(callables)
    order_rng = random.Random(seed)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(warmup + rounds):
        order = names[:]
        order_rng.shuffle(order)
        for name in order:
            gc.collect()
            t0 = time.perf_counter()
            callables[name]()
            elapsed = time.perf_counter() - t0
            if r >= warmup:
                times[name].append(elapsed)
    return times


def paired_ratio(times_a: Sequence[float], times_b: Sequence[float]) -> float:
    """Median over rounds of ``times_a[i] / times_b[i]`` (both lists from the same rounds)."""
    if len(times_a) != len(times_b) or not times_a:
        raise ValueError("paired_ratio needs two non-empty lists from the same rounds")
    return statistics.median(a / b for a, b in zip(times_a, times_b, strict=True))


def ratio_quartiles(times_a: Sequence[float], times_b: Sequence[float]) -> tuple[float, float]:
    """25th and 75th percentile of the per-round ratios (their spread shows the noise)."""
    ratios = sorted(a / b for a, b in zip(times_a, times_b, strict=True))
    if len(ratios) < 2:
        return ratios[0], ratios[0]
    q = statistics.quantiles(ratios, n=4, method="inclusive")
    return q[0], q[2]
