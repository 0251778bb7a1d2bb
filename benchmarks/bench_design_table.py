"""Benchmark: building (and writing) the design table, as a share of the simulation's time.

Workload (as in bench_many_arms.py): every k-mer is one arm, ``Substitute(kmer, 10)`` on
n = 20 iid 30-nt backgrounds, scored by a cheap additive oracle at batch size 512, so the
per-arm work, not the model, dominates. Arm counts 1,024 / 4,096 / 16,384 (5-, 6-, 7-mers).

In every round and for every arm count, one fresh design is simulated and then its design
table is built, in the order ``causalgia run`` does it, and timed in the same round:

- ``simulate``: ``causalgia.simulate`` of the design;
- ``table``: ``Design.to_frame()`` (built column by column, linear in the arms);
- ``write csv``: ``write_design_table(design.iter_frames(), ...)``: the streamed design.csv
  of a run directory, blocks of 500,000 rows;
- ``per-arm reference`` (up to ``--reference-max`` arms): the per-arm construction that
  ``to_frame`` used before (one DataFrame per arm, each looking up every arm's parameter
  names: quadratic in the arms), checked to give the identical table.

Ratios are medians over rounds of same-round ratios (time / simulate time); see
benchmarks/_timing.py for why.

Usage: ``python benchmarks/bench_design_table.py [--rounds 3] [--reference-max 4096]``
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import causalgia as cg
from causalgia._rng import unit_keys
from causalgia.experiment.backgrounds import iid
from causalgia.experiment.designs import CONTROL, Arm, Design, design
from causalgia.experiment.interventions import Substitute
from causalgia.reporting.report import write_design_table
from causalgia.testing import AdditiveOracle

LENGTH, POSITION, N = 30, 10, 20
ARM_COUNTS = (1024, 4096, 16384)


def reference_frame(d: Design) -> pd.DataFrame:
    """The per-arm construction ``Design.to_frame`` used before this benchmark's fix."""

    def rows(experiment: str, label: str, params: Mapping[str, Any], ids, keys) -> pd.DataFrame:
        frame = pd.DataFrame({"experiment": experiment, "label": label}, index=range(len(ids)))
        for name in d.param_names:  # a property over every arm, once per arm: O(arms²)
            frame[name] = params.get(name)
        frame["background_id"] = ids
        frame["arm"] = "control" if label == CONTROL else "do"
        frame["unit_seed"] = keys
        return frame

    ids = d.background_ids
    out = [rows(CONTROL, CONTROL, {}, ids, unit_keys(d.seed, ids, "background"))]
    for arm in d.arms:
        out.append(rows(arm.experiment, arm.label, arm.params, ids, arm.keys(d.seed, ids)))
    return pd.concat(out, ignore_index=True)


def _design(k: int) -> Design:
    """A fresh design (fresh Arm objects: nothing cached from an earlier round)."""
    width = {1024: 5, 4096: 6, 16384: 7}[k]
    kmers = ["".join(p) for p in itertools.product("ACGT", repeat=width)][:k]
    arms = [Arm(m, Substitute(m, POSITION), "kmers", {"kmer": m, "position": POSITION})
            for m in kmers]  # fmt: skip
    return design(iid(LENGTH), arms, n=N, rng=1)


def _round(k: int, model: Any, folder: Path, reference: bool) -> dict[str, float]:
    d = _design(k)
    times = {}
    t0 = time.perf_counter()
    cg.simulate(model, d)
    times["simulate"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    d.to_frame()
    times["table"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    write_design_table(d.iter_frames(), folder)
    times["write csv"] = time.perf_counter() - t0
    if reference:
        t0 = time.perf_counter()
        reference_frame(d)
        times["per-arm reference"] = time.perf_counter() - t0
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reference-max", type=int, default=4096)
    args = parser.parse_args()
    print(f"command: python benchmarks/bench_design_table.py {' '.join(sys.argv[1:])}".rstrip())
    print(
        f"machine: {platform.platform()}; cpu_count={os.cpu_count()}; load average at start "
        f"{os.getloadavg()[0]:.2f}; python {platform.python_version()}; numpy {np.__version__}; "
        f"pandas {pd.__version__}"
    )
    model = cg.as_model(AdditiveOracle.from_motif("GATA", LENGTH), batch_size=512)
    small = _design(1024)
    pd.testing.assert_frame_equal(small.to_frame(), reference_frame(small), check_exact=True)
    print("check: the per-arm reference gives the identical table (1,024 arms)\n")
    print(f"n = {N} backgrounds, {args.rounds} rounds; medians of same-round ratios\n")
    print("| arms | rows | simulate s | table s | table / simulate | write csv s "
          "| write / simulate | per-arm reference s | reference / simulate |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for k in ARM_COUNTS:
            reference = k <= args.reference_max
            rounds = [_round(k, model, Path(tmp), reference) for _ in range(args.rounds)]
            med = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}

            def ratio(key: str, rounds: list[dict[str, float]] = rounds) -> str:
                return f"{statistics.median(r[key] / r['simulate'] for r in rounds):.3f}"

            ref = (
                f"{med['per-arm reference']:.2f} | {ratio('per-arm reference')}"
                if reference else "— | —"
            )  # fmt: skip
            print(
                f"| {k:,} | {N * (k + 1):,} | {med['simulate']:.3f} | {med['table']:.3f} | "
                f"{ratio('table')} | {med['write csv']:.3f} | {ratio('write csv')} | {ref} |",
                flush=True,
            )
    print(f"\nload average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
