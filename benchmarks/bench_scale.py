"""Benchmark: scale and reliability features of ``causalgia.simulate`` (issue 6).

Three sections, each printed as markdown (docs/scale.md holds one run):

``overhead``
    End-to-end ``simulate`` against a bare loop of the same forward passes at the batch size the
    automatic probe chooses. Model: the numpy toy CNN of bench_simulate.py (78,849 parameters);
    workload: AP-1 (TGACTCA) at position 96 of 1,000 iid(200) backgrounds = 2,000 forward
    passes. Contestants: ``simulate`` with the probe (``auto``), ``simulate`` at the chosen
    size, the same with a run store (SQLite ledger, one fsync'd commit per chunk), and the bare
    loop on pre-built one-hot input at the chosen size. Interleaved rounds, paired ratios.
``dask``
    2 Dask workers (LocalCluster, 2 processes x 1 thread) against the serial run (1 thread), on
    (a) the toy CNN at batch 128 (about 10 ms per batch on one thread) and (b) a model that
    sleeps 5 ms per batch (a stand-in for a GPU call that leaves the CPU free). The model is
    built once per worker from its import path. Tables are checked bit-identical.
``memory``
    Peak memory of ``simulate(..., store=DIR, collect=False)`` for 100,000 and 1,000,000
    iid(200) backgrounds with one arm and a cheap linear model, each in a fresh subprocess:
    tracemalloc peak (every Python and numpy allocation) and the process's max RSS. The same
    with ``collect=True`` (the unit table held in memory) for contrast.
``cli``
    Peak RSS of ``causalgia run`` (a fresh process each) on the additive oracle, iid(50)
    backgrounds, one motif at 11 positions (12 forward passes per background), for 100,000,
    300,000 and 1,000,000 backgrounds: the in-memory unit table below 1,000,000 unit rows, arm
    blocks read from the ledger above (``causalgia.studies.units``), with the ratio of each peak
    to the smallest run's.

Usage: ``python benchmarks/bench_scale.py [--quick] [--sections overhead,dask,memory,cli]
[--rounds N] [--memory-n 100000,1000000] [--cli-n 100000,300000,1000000]``. BLAS threads are
set to 1 (before numpy loads) so that serial and Dask runs use the same per-process resources.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _timing import paired_ratio, ratio_quartiles, time_interleaved  # noqa: E402
from bench_simulate import ToyCNN, ZeroModel, bare_loop, chunk_parts  # noqa: E402

import causalgia  # noqa: E402
from causalgia.engine.declaration import as_model, from_import_path  # noqa: E402
from causalgia.engine.simulator import simulate  # noqa: E402
from causalgia.experiment.backgrounds import iid  # noqa: E402

LENGTH = 200
MOTIF = "TGACTCA"


class SleepModel:
    """Costs 5 ms per batch of wall time without using the CPU (like waiting for a GPU)."""

    layout = "NCL"
    name = "sleep5ms"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        time.sleep(0.005)
        return x[:, 2, :].sum(axis=1) - x[:, 1, :].sum(axis=1)


class LinearModel:
    """A cheap model for the memory runs: GC count minus a position weight."""

    layout = "NCL"
    name = "linear"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return x[:, 1:3, :].sum(axis=(1, 2)) * 0.01 + x[:, 0, 96:103].sum(axis=1)


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.1f}"


# --------------------------------------------------------------------------------------------
def section_overhead(rounds: int, warmup: int) -> None:
    cnn = ToyCNN(seed=0)
    d = causalgia.design(iid(LENGTH), causalgia.sweep_positions(MOTIF, [96]), n=1000, rng=0)
    probe = simulate(as_model(cnn, layout="NCL"), d, progress=False)
    b = probe.batch_size
    x = causalgia.one_hot(np.concatenate([c for _, c in chunk_parts(d)]), "NCL")
    fixed = as_model(cnn, layout="NCL", batch_size=b)
    stores = [tempfile.mkdtemp(prefix="bench-store-")]

    def with_store() -> None:
        folder = tempfile.mkdtemp(prefix="bench-store-")
        stores.append(folder)
        simulate(fixed, d, progress=False, store=folder)

    zero = as_model(ZeroModel(), layout="NCL", batch_size=b)

    def null_store() -> None:
        simulate(zero, d, progress=False, store=tempfile.mkdtemp(prefix="bench-store-"))

    calls = {
        "simulate_auto": lambda: simulate(as_model(cnn, layout="NCL"), d, progress=False),
        f"nullmodel_bs{b}": lambda: simulate(zero, d, progress=False),
        f"nullmodel_store_bs{b}": null_store,
        f"simulate_bs{b}": lambda: simulate(fixed, d, progress=False),
        f"simulate_store_bs{b}": with_store,
        f"bare_bs{b}": lambda: bare_loop(cnn, x, b),
    }
    times = time_interleaved(calls, rounds=rounds, warmup=warmup, seed=3)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"\n### simulate vs a bare loop at the probe's batch size ({len(x):,} forward passes)\n")
    print(
        f"The probe chose batch size **{b}** (per-row times of 32…1024 measured on the first "
        f"chunk). Median of {rounds} interleaved rounds; ratios are same-round medians. The "
        "`nullmodel` rows run simulate with a model that returns zeros: all of simulate's own "
        "work (generation, interventions, one-hot, checks, table; with `_store` also the "
        "ledger), as a share of the bare forward time. That figure is robust to load noise.\n"
    )
    print("| call | ms / call | forward seq/s | / bare (paired) | IQR | overhead |")
    print("|---|---|---|---|---|---|")
    bare = times[f"bare_bs{b}"]
    for name, t in times.items():
        if name.startswith("nullmodel"):
            share = paired_ratio(t, bare)
            cells = f"{share:.4f} | — | {100 * share:.1f} % of bare"
            print(f"| {name} | {_ms(med[name])} | — | {cells} |")
            continue
        if name.startswith("bare"):
            print(f"| {name} | {_ms(med[name])} | {len(x) / med[name]:,.0f} | 1 | — | — |")
            continue
        r = paired_ratio(t, bare)
        lo, hi = ratio_quartiles(t, bare)
        print(
            f"| {name} | {_ms(med[name])} | {len(x) / med[name]:,.0f} | {r:.4f} | "
            f"{lo:.3f}–{hi:.3f} | {100 * (r - 1):+.1f} % |"
        )


def _cnn_ms_per_batch(repeats: int = 30) -> float:
    """ms per ToyCNN batch of 128 in this process (used to see how many cores are really free)."""
    cnn = ToyCNN(seed=0)
    x = np.zeros((128, 4, LENGTH), dtype=np.float32)
    x[:, 0, :] = 1
    cnn(x)
    t0 = time.perf_counter()
    for _ in range(repeats):
        cnn(x)
    return (time.perf_counter() - t0) / repeats * 1e3


# --------------------------------------------------------------------------------------------
def section_dask(n: int, rounds: int) -> None:
    from distributed import Client, LocalCluster

    d = causalgia.design(iid(LENGTH), causalgia.sweep_positions(MOTIF, [96]), n=n, rng=0)
    print(f"\n### 2 Dask workers vs serial ({n:,} backgrounds, {2 * n:,} forward passes)\n")
    print(f"Median of {rounds} interleaved rounds; speed-up = median of same-round ratios.\n")
    print("| model | batch | ms / batch (serial) | serial s | 2 workers s | speed-up | identical |")
    print("|---|---|---|---|---|---|---|")
    cases = [
        ("toy CNN (1 BLAS thread)", "bench_simulate:ToyCNN", ToyCNN(seed=0), 128),
        ("sleep 5 ms / batch", "bench_scale:SleepModel", SleepModel(), 128),
    ]
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        alone = _cnn_ms_per_batch()
        both = client.run(_cnn_ms_per_batch)  # both workers at the same time
        capacity = (
            f"\nParallel capacity check: one toy-CNN batch of 128 takes {alone:.1f} ms in the "
            f"driver alone and {', '.join(f'{v:.1f}' for v in both.values())} ms in the two "
            "workers running at the same time; a ratio near 2 means the 2 cores are not both "
            "free (other jobs, or hyperthreads of one core), so a CPU-bound model cannot speed up."
        )
        for label, target, local, b in cases:
            model = from_import_path(target, path=str(HERE), layout="NCL", batch_size=b)
            serial_model = as_model(local, layout="NCL", batch_size=b, name=model.name)
            # warm both (imports, first-call costs, worker-side model builds)
            small = causalgia.design(d.background, d.arms, n=2 * b, rng=0)
            simulate(serial_model, small, progress=False)
            simulate(model, small, client=client, progress=False, chunk_size=2 * b)
            t_serial, t_dask = [], []
            for _ in range(rounds):  # interleaved: drift on a shared VM hits both alike
                t0 = time.perf_counter()
                serial = simulate(serial_model, d, progress=False)
                t_serial.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                spread = simulate(model, d, client=client, progress=False)
                t_dask.append(time.perf_counter() - t0)
            speedup = paired_ratio(t_serial, t_dask)
            t_serial, t_dask = statistics.median(t_serial), statistics.median(t_dask)
            same = serial.table.equals(spread.table) and serial.n_forward == spread.n_forward
            per_batch = t_serial / -(-serial.n_forward // b)
            print(
                f"| {label} | {b} | {per_batch * 1e3:.1f} | {t_serial:.2f} | {t_dask:.2f} | "
                f"{speedup:.2f}x | {'yes' if same else 'NO'} |"
            )
    print(capacity)


# --------------------------------------------------------------------------------------------
MEMORY_CHILD = """
import json, os, resource, sys, tempfile, time, tracemalloc
sys.path.insert(0, sys.argv[3])
import causalgia
from causalgia.experiment.backgrounds import iid
from causalgia.engine.declaration import as_model
from causalgia.engine.simulator import simulate
from bench_scale import LinearModel

n, collect = int(sys.argv[1]), sys.argv[2] == "1"
d = causalgia.design(iid(200), causalgia.sweep_positions("TGACTCA", [96]), n=n, rng=0)
model = as_model(LinearModel(), batch_size=256)
run_dir = tempfile.mkdtemp(prefix="bench-mem-")
tracemalloc.start()
t0 = time.perf_counter()
res = simulate(model, d, store=run_dir, collect=collect, progress=False)
seconds = time.perf_counter() - t0
_, peak = tracemalloc.get_traced_memory()
tracemalloc.stop()
rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
size = os.path.getsize(os.path.join(run_dir, "ledger.sqlite"))
print(json.dumps({"n": n, "collect": collect, "peak_mb": peak / 2**20, "rss_mb": rss_kb / 1024,
                  "seconds": seconds, "rows": len(res.table), "ledger_mb": size / 2**20}))
"""


def section_memory(sizes: list[int]) -> None:
    print(f"\n### Peak memory, iid({LENGTH}) backgrounds, 1 arm, run store (fresh process each)\n")
    print(
        "| backgrounds | collect | tracemalloc peak MB | max RSS MB | seconds | table rows in "
        "memory | ledger MB |"
    )
    print("|---|---|---|---|---|---|---|")
    for collect in (False, True):
        for n in sizes:
            out = subprocess.run(
                [sys.executable, "-c", MEMORY_CHILD, str(n), str(int(collect)), str(HERE)],
                capture_output=True,
                text=True,
                check=True,
            )
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"| {n:,} | {collect} | {r['peak_mb']:.1f} | {r['rss_mb']:.0f} | "
                f"{r['seconds']:.1f} | {r['rows']:,} | {r['ledger_mb']:.1f} |"
            )


CLI_SPEC = """
[study]
name = "memory"
seed = 1
n = {n}
design_table = "none"

[model]
builtin = "additive_oracle"
motif = "GATAAG"
length = 50

[background]
kind = "iid"
length = 50

[[experiment]]
name = "position"
type = "positions"
motif = "GATAAG"
positions = [0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40]
"""

CLI_CHILD = """
import resource, subprocess, sys, time
start = time.perf_counter()
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, time.perf_counter() - start)
"""


def section_cli(sizes: list[int]) -> None:
    from causalgia.studies.units import STREAM_ROWS

    print("\n### Peak RSS of `causalgia run`, 11 arms, additive oracle (fresh process each)\n")
    print("| backgrounds | unit rows | unit table | max RSS MB | RSS / first | seconds |")
    print("|---|---|---|---|---|---|")
    first = None
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            spec = Path(tmp) / f"n{n}.toml"
            spec.write_text(CLI_SPEC.format(n=n))
            command = [sys.executable, "-m", "causalgia", "run", str(spec), "--quiet",
                       "--no-figures", "--out", str(Path(tmp) / f"run{n}")]  # fmt: skip
            out = subprocess.run([sys.executable, "-c", CLI_CHILD, *command],
                                 capture_output=True, text=True, check=True)  # fmt: skip
            rss_kb, seconds = out.stdout.split()
            rss = int(rss_kb) / 1024
            first = rss if first is None else first
            rows = n * 11
            where = "ledger, arm blocks" if rows > STREAM_ROWS else "in memory"
            print(f"| {n:,} | {rows:,} | {where} | {rss:,.0f} | {rss / first:.2f} | "
                  f"{float(seconds):.1f} |")  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer rounds and smaller runs")
    p.add_argument("--sections", default="overhead,dask,memory")
    p.add_argument("--rounds", type=int, default=None, help="timed rounds (default 11; quick 3)")
    p.add_argument("--memory-n", default=None, help="comma-separated backgrounds counts")
    p.add_argument("--cli-n", default=None, help="backgrounds counts of the cli section")
    args = p.parse_args()
    rounds = args.rounds or (3 if args.quick else 11)
    sections = args.sections.split(",")
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if "model name" in line)
    except (OSError, StopIteration):
        pass
    print("## causalgia scale benchmarks\n")
    print(f"- command: `python {' '.join(sys.argv)}`")
    print(
        f"- machine: {platform.platform()}; {cpu}; cpu_count={os.cpu_count()}; load average "
        f"at start {os.getloadavg()[0]:.2f}; python {platform.python_version()}; numpy "
        f"{np.__version__}; pandas {pd.__version__}; BLAS threads 1"
    )
    if "overhead" in sections:
        section_overhead(rounds, 1 if args.quick else 2)
    if "dask" in sections:
        section_dask(4000 if args.quick else 20000, 1 if args.quick else 3)
    if "memory" in sections:
        default = "20000,200000" if args.quick else "100000,1000000"
        section_memory([int(v) for v in (args.memory_n or default).split(",")])
    if "cli" in sections:
        default = "20000,100000" if args.quick else "100000,300000,1000000"
        section_cli([int(v) for v in (args.cli_n or default).split(",")])
    print(f"\nload average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
