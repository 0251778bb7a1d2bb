"""Benchmark: DeepBind forward pass throughput (sequences per second) on 41-nt RNA.

Acceptance (issue 5): at least 20,000 sequences per second for 41-nt RNA on 2 cores.

Models: D00210.001 (RBFOX1: 16 detectors x 16, avg pooling, hidden 32) and D00162.002 (Vts1p,
no hidden layer) from ../shared/data/deepbind, or a random DeepBind-shaped model when that folder
is absent. Input: 100,000 (``--quick``: 20,000) iid uniform 41-nt sequences, seed 0.

Contestants (interleaved rounds, medians; see benchmarks/_timing.py):
- ``codes``: ``DeepBindModel.score_codes`` on uint8 codes (the numba kernel alone);
- ``as_model``: ``as_model(model).predict`` on the same codes (one-hot conversion per batch of
  4,096, the layout check and output validation of the Model boundary included).

Usage: ``python benchmarks/bench_deepbind.py [--quick] [--rounds N] [--threads T]``
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numba  # noqa: E402
import numpy as np  # noqa: E402
from _timing import time_interleaved  # noqa: E402

from causalgia.engine.declaration import as_model  # noqa: E402
from causalgia.engine.deepbind import DeepBindModel, read_deepbind  # noqa: E402

PARAMS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "deepbind" / "params"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 sequences, 3 rounds")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None, help="numba threads (default all)")
    args = parser.parse_args()
    if args.threads:
        numba.set_num_threads(args.threads)
    n = 20_000 if args.quick else 100_000
    rounds = args.rounds or (3 if args.quick else 7)
    codes = np.random.default_rng(0).integers(0, 4, size=(n, 41), dtype=np.uint8)
    if PARAMS.is_dir():
        models = {mid: read_deepbind(PARAMS / f"{mid}.txt") for mid in ("D00210.001", "D00162.002")}
    else:
        print(f"{PARAMS} absent: using a random DeepBind-shaped model (hidden 32)")
        models = {"random": DeepBindModel.random(num_hidden=32)}
    print(
        f"python {platform.python_version()}, numba {numba.__version__}, "
        f"{numba.get_num_threads()} numba threads, {os.cpu_count()} CPUs; "
        f"{n:,} sequences of 41 nt, {rounds} rounds"
    )
    for mid, model in models.items():
        wrapped = as_model(model, batch_size=4096)
        model.score_codes(codes[:100])  # compile
        times = time_interleaved(
            {
                "codes": lambda m=model: m.score_codes(codes),
                "as_model": lambda w=wrapped: w.predict(codes),
            },
            rounds,
        )
        for name, values in times.items():
            med = statistics.median(values)
            print(f"{mid:>11} {name:>9}: {n / med:>10,.0f} seq/s  (median {med:.3f} s)")


if __name__ == "__main__":
    main()
