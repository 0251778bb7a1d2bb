"""Benchmark: simulate + estimate_ace on designs with thousands of arms (k-mer screens).

Workload: every k-mer (4,096 6-mers; ``--big``: 16,384 7-mers) is one arm, ``Substitute(kmer,
10)`` on n = 20 iid 30-nt backgrounds, scored by a cheap additive oracle (so the per-arm
overhead, not the model, dominates; as ``/tmp/prof16k.py`` profiled it).

Contestants (interleaved rounds, medians of same-round ratios; see benchmarks/_timing.py):

- ``simulate``: ``causalgia.simulate`` as shipped (fixed-edit arms grouped and written for a
  whole chunk at once; keys, where needed, for all arms in one vectorised call);
- ``reference simulate``: the per-arm path written for this benchmark: the same chunks, and
  per chunk and arm the original key formula (blake2b of the labels, numpy mix64 passes on
  tiny arrays) and the original ``Substitute.apply_keyed`` (consensus codes rebuilt per call);
- ``estimate_ace``: ``causalgia.estimate_ace`` (paired t; all groups of one size in one scipy
  call);
- ``reference estimate_ace``: the per-arm path written for this benchmark: a pandas groupby,
  ``paired_t`` (one ``scipy.stats.ttest_1samp``) per arm, one row dict per arm.

Before timing, both reference outputs are checked to be bit-identical to causalgia's.

Usage: ``python benchmarks/bench_many_arms.py [--big] [--rounds N] [--n 20]``
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import os
import platform
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from _timing import paired_ratio, ratio_quartiles, time_interleaved  # noqa: E402

import causalgia as cg  # noqa: E402
from causalgia._rng import mix64  # noqa: E402
from causalgia.engine.chunks import _evaluate, backgrounds_per_chunk  # noqa: E402
from causalgia.engine.models import Model  # noqa: E402
from causalgia.engine.simulator import DEFAULT_CHUNK  # noqa: E402
from causalgia.engine.tables import assemble_table  # noqa: E402
from causalgia.experiment.backgrounds import iid  # noqa: E402
from causalgia.experiment.designs import Arm, Design  # noqa: E402
from causalgia.experiment.interventions import Substitute  # noqa: E402
from causalgia.stats.estimators import RESERVED, adjust_pvalues, paired_t  # noqa: E402
from causalgia.testing import AdditiveOracle  # noqa: E402

LENGTH, POSITION = 30, 10
_G = np.uint64(0x9E3779B97F4A7C15)
_LETTERS = {"A": 0, "C": 1, "G": 2, "T": 3, "U": 3}


# --- the per-arm reference path, written for this benchmark ---------------------------------
def _old_unit_keys(seed: int, ids: np.ndarray, *purpose: int | str) -> np.ndarray:
    """The original per-call key formula (numpy uint64 arithmetic on 1-element arrays)."""

    def code(label: int | str) -> np.uint64:
        if isinstance(label, str):
            digest = hashlib.blake2b(label.encode(), digest_size=8).digest()
            return np.uint64(int.from_bytes(digest, "little"))
        return np.uint64(int(label) & 0xFFFFFFFFFFFFFFFF)

    with np.errstate(over="ignore"):
        base = mix64(np.array([seed], dtype=np.uint64) + _G)
        for label in purpose:
            base = mix64(base ^ code(label) + _G)
        ids = np.asarray(ids, dtype=np.int64).astype(np.uint64)
        return mix64(base ^ mix64(ids + _G) + _G)


def _old_apply(sub: Substitute, codes: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """The original ``Substitute.apply_keyed`` of an exact string (codes rebuilt per call)."""
    ((start, stop),) = sub.spans(codes.shape[1])
    out = codes.copy()
    motif = sub._pwm
    if sub.instance == "consensus" or motif.is_deterministic:
        row = np.array([_LETTERS[c] for c in motif.consensus()], dtype=np.uint8)
        inst = np.broadcast_to(row, (len(keys), sub.width))
    else:
        inst = motif.sample_keyed(np.asarray(keys, dtype=np.uint64))
    if sub.strand == "-":
        inst = (3 - inst[:, ::-1]).astype(np.uint8)
    out[:, start:stop] = inst
    return out


def reference_simulate(model: Model, design: Design) -> pd.DataFrame:
    """The paired ICE table, chunk by chunk and arm by arm, as simulate computed it before."""
    per = backgrounds_per_chunk(design, DEFAULT_CHUNK)
    parts = []
    for first in range(0, design.n, per):
        ids = np.arange(first, min(first + per, design.n), dtype=np.int64)
        bg = design.background.generate(ids, design.seed)
        seqs, changed = [bg], []
        for arm in design.arms:
            keys = _old_unit_keys(design.seed, ids, "arm", arm.experiment, arm.label)
            do = _old_apply(arm.intervention, bg, keys)
            diff = np.any(do != bg, axis=1)
            changed.append(diff)
            seqs.append(do[diff])
        y = _evaluate(model, np.concatenate(seqs), model.batch_size, 0, "reference", [])
        values = np.empty((len(design.arms) + 1, len(ids)))
        values[0] = y_control = y[: len(ids)]
        offset = len(ids)
        for index, diff in enumerate(changed):
            arm_y = y_control.copy()
            k = int(diff.sum())
            arm_y[diff] = y[offset : offset + k]
            offset += k
            values[index + 1] = arm_y
        parts.append(values)
    return assemble_table(design, parts, design.background_ids)


def reference_estimate(table: pd.DataFrame) -> pd.DataFrame:
    """The ACE table, one pandas group and one ``paired_t`` (scipy call) per arm."""
    params = [c for c in table.columns if c not in RESERVED]
    rows = []
    for _, sub in table.groupby(["experiment", "label"], sort=False, dropna=False):
        first, sub = sub.iloc[0], sub.sort_values("background_id", kind="stable")
        est = paired_t(sub["ice"].to_numpy(dtype=float))
        rows.append(
            {
                "experiment": first["experiment"],
                "label": first["label"],
                **first[params].to_dict(),
                "method": "paired_t",
                **est,
            }
        )
    columns = ["experiment", "label", *params, "method", "ace", "se", "ci_low", "ci_high", "n"]
    out = pd.DataFrame(rows, columns=[*columns, "p_value"])
    q = np.empty(len(out))
    for idx in out.groupby("experiment", sort=False, dropna=False).indices.values():
        q[idx] = adjust_pvalues(out["p_value"].to_numpy()[idx], "fdr_bh")
    out["q_value"] = q
    return out


# --- the benchmark ---------------------------------------------------------------------------
def _workload(k: int, n: int) -> tuple[Model, Design]:
    kmers = ["".join(p) for p in itertools.product("ACGT", repeat=k)]
    arms = [Arm(m, Substitute(m, POSITION), "screen") for m in kmers]
    weights = np.random.default_rng(0).normal(size=(LENGTH, 4))
    model = cg.as_model(AdditiveOracle(weights), batch_size=1024)
    return model, cg.design(iid(LENGTH), arms, n=n, rng=1)


def _fmt(seconds: float) -> str:
    return f"{seconds:.3f}" if seconds < 10 else f"{seconds:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big", action="store_true", help="16,384 7-mers instead of 4,096 6-mers")
    parser.add_argument("--n", type=int, default=20, help="backgrounds (default 20)")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds (default 5; big 3)")
    args = parser.parse_args()
    k = 7 if args.big else 6
    rounds = args.rounds or (3 if args.big else 5)
    model, design = _workload(k, args.n)
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}, "
        f"{os.cpu_count()} CPUs; {len(design.arms):,} arms ({k}-mers at {POSITION}) x "
        f"n = {design.n} backgrounds of {LENGTH} nt; {rounds} rounds + 1 warm-up"
    )
    result = cg.simulate(model, design, progress=False)
    pd.testing.assert_frame_equal(result.table, reference_simulate(model, design), check_exact=True)
    ace = cg.estimate_ace(result).table
    pd.testing.assert_frame_equal(ace, reference_estimate(result.table), check_exact=True)
    print("check: both reference outputs are bit-identical to causalgia's")
    table = result.table
    times = time_interleaved(
        {
            "simulate": lambda: cg.simulate(model, design, progress=False),
            "reference simulate": lambda: reference_simulate(model, design),
            "estimate_ace": lambda: cg.estimate_ace(result),
            "reference estimate_ace": lambda: reference_estimate(table),
        },
        rounds,
    )
    print("\n| step | causalgia s | per-arm reference s | reference / causalgia (IQR) |")
    print("|---|---|---|---|")
    for step, name in (("simulate", "simulate"), ("estimate_ace", "estimate_ace")):
        new, ref = times[name], times[f"reference {name}"]
        low, high = ratio_quartiles(ref, new)
        print(
            f"| {step} | {_fmt(statistics.median(new))} | {_fmt(statistics.median(ref))} | "
            f"{paired_ratio(ref, new):.1f}x ({low:.1f}-{high:.1f}) |"
        )


if __name__ == "__main__":
    main()
