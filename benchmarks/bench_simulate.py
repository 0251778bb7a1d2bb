"""Benchmark: ``causalgia.simulate`` against a bare loop of the same model forward passes.

Acceptance (issue): simulate's wall time over a bare loop of the same forward passes; target:
simulate's overhead at most 3 % of the bare forward time at the best batch size.

Model: a numpy port of the toy CNN of performance-anchors.md §2 (78,849 parameters, random
weights from a fixed seed, float32, one-hot NCL in, shape (N,) out):
conv(4->64, k19)-ReLU-maxpool4-conv(64->64, k11)-ReLU-maxpool4-conv(64->64, k7)-ReLU-
global average-linear(64->1), "same" padding. Each convolution is one float32 matmul on an
im2col view (a strided window over the padded (N, L, C) array, so each row of the matrix is one
contiguous copy).

Workloads (paired design, iid(200) backgrounds, seed 0):
- ``ap1_center``: 1,000 backgrounds, TGACTCA substituted at 96 -> 2,000 forward passes;
- ``ap1_sweep10``: the same motif at 10 positions -> 11,000 forward passes.

Contestants, per batch size b in (64, 128, 256, 1000):
- ``simulate_bs{b}``: ``simulate(as_model(cnn, layout="NCL", batch_size=b), d, progress=False)``;
- ``bare_bs{b}``: ``cnn`` on the same one-hot sequences (pre-built once, outside the timing) in
  slices of b;
- ``predict_bs{b}``: ``Model.predict`` on the same codes, pre-built (one-hot conversion per
  batch, output checks; no background generation, interventions, chunking or table);
- ``nullmodel_bs{b}``: ``simulate`` with a model that returns zeros, i.e. all of simulate except
  the model itself (background generation, interventions, one-hot conversion, output checks,
  fingerprint probes, table; ``on_degenerate="warn"``, as a constant model is a degenerate study);
- ``timeout_bs{b}``: ``simulate(..., timeout=600)``: every forward pass in a worker thread with
  a bounded wait (the price of ``timeout=`` against ``simulate_bs{b}``);
- parts, timed alone: ``part_generate``, ``part_interventions``, ``part_one_hot_bs{b}``,
  ``part_table``, ``part_fingerprint`` (16 forward passes of the real model + hashing).

Every contestant runs once per round, in a new random order each round, after warm-up rounds;
tables give medians and medians of same-round ratios (benchmarks/_timing.py).

Usage: ``python benchmarks/bench_simulate.py [--quick] [--rounds N] [--threads T] [--profile]``
"""

from __future__ import annotations

import argparse
import os
import platform
import sys


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--quick", action="store_true", help="3 rounds, 1 warm-up, only the 2,000-pass workload"
    )
    p.add_argument("--rounds", type=int, default=None, help="timed rounds (default 11; quick 3)")
    p.add_argument("--warmup", type=int, default=None, help="untimed rounds (default 2; quick 1)")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="BLAS threads (sets OPENBLAS/OMP/MKL_NUM_THREADS before numpy loads; "
        "default: the library default)",
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="always print a cProfile of simulate (it is printed anyway when the "
        "overhead at the best batch size exceeds 3 %%)",
    )
    return p.parse_args(argv)


ARGS = _parse(sys.argv[1:]) if __name__ == "__main__" else None
if ARGS is not None and ARGS.threads is not None:  # must happen before numpy is imported
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = str(ARGS.threads)

import cProfile  # noqa: E402
import io  # noqa: E402
import pstats  # noqa: E402
import statistics  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402
from _timing import paired_ratio, ratio_quartiles, time_interleaved  # noqa: E402
from numpy.lib.stride_tricks import as_strided  # noqa: E402

import causalgia  # noqa: E402

# Public API only (module names have moved before); simulate's internals (chunking, the table
# builder) come from whatever module defines simulate.
simulate = causalgia.simulate
design = causalgia.design
sweep_positions = causalgia.sweep_positions
as_model = causalgia.as_model
one_hot = causalgia.one_hot
iid = causalgia.experiment.backgrounds.iid
sim_mod = sys.modules[simulate.__module__]
chunk_mod = sys.modules[sim_mod.compute_chunk.__module__]
table_mod = sys.modules[sim_mod.assemble_table.__module__]
Design = type(design(iid(20), sweep_positions("GATA", [0]), n=2, rng=0))

BATCH_SIZES = (64, 128, 256, 1000)
LENGTH = 200
N_BACKGROUNDS = 1000
MOTIF = "TGACTCA"
TARGET = 0.03


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------
class ToyCNN:
    """numpy float32 port of the §2 toy CNN; ``__call__`` maps (N, 4, L) one-hot to (N,)."""

    layout = "NCL"
    name = "toy_cnn_numpy"

    def __init__(self, seed: int = 0, channels: int = 64) -> None:
        rng = np.random.default_rng(seed)

        def conv_weights(c_in: int, k: int) -> tuple[np.ndarray, np.ndarray, int]:
            w = rng.standard_normal((channels, c_in, k)) * np.sqrt(2.0 / (c_in * k))
            b = rng.standard_normal(channels) * 0.05
            # (O, C, K) -> (K*C, O): row k*C + c matches window element (position k, channel c)
            mat = np.ascontiguousarray(w.transpose(2, 1, 0).reshape(k * c_in, channels))
            return mat.astype(np.float32), b.astype(np.float32), k

        self.conv1 = conv_weights(4, 19)
        self.conv2 = conv_weights(channels, 11)
        self.conv3 = conv_weights(channels, 7)
        self.w_out = (rng.standard_normal(channels) / np.sqrt(channels)).astype(np.float32)
        self.b_out = np.float32(0.1)

    @property
    def n_params(self) -> int:
        convs = (self.conv1, self.conv2, self.conv3)
        return sum(m.size + b.size for m, b, _ in convs) + self.w_out.size + 1

    @staticmethod
    def _conv(x: np.ndarray, mat: np.ndarray, k: int) -> np.ndarray:
        """'Same' convolution of (N, L, C) float32: one matmul on an im2col matrix."""
        n, length, c = x.shape
        left = k // 2
        padded = np.zeros((n, length + k - 1, c), dtype=np.float32)
        padded[:, left : left + length] = x
        s0, s1, s2 = padded.strides
        # window l = padded[l : l + k] flattened: k*c contiguous floats starting at row l
        cols = as_strided(padded, (n, length, k * c), (s0, s1, s2), writeable=False)
        return (cols.reshape(n * length, k * c) @ mat).reshape(n, length, -1)

    @staticmethod
    def _pool_bias_relu(h: np.ndarray, bias: np.ndarray, size: int = 4) -> np.ndarray:
        """maxpool(relu(h + b)) computed as relu(maxpool(h) + b) (same values, less work)."""
        n, length, c = h.shape
        out = h[:, : (length // size) * size].reshape(n, length // size, size, c).max(axis=2)
        out += bias
        return np.maximum(out, 0, out=out)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        h = np.ascontiguousarray(np.asarray(x, dtype=np.float32).transpose(0, 2, 1))  # NLC
        (m1, b1, k1), (m2, b2, k2), (m3, b3, k3) = self.conv1, self.conv2, self.conv3
        h = self._pool_bias_relu(self._conv(h, m1, k1), b1)
        h = self._pool_bias_relu(self._conv(h, m2, k2), b2)
        h = self._conv(h, m3, k3)
        h += b3
        np.maximum(h, 0, out=h)
        return h.mean(axis=1) @ self.w_out + self.b_out


class ZeroModel:
    """A model that costs nothing: isolates everything simulate does around the forward pass."""

    layout = "NCL"
    name = "zero"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.zeros(len(x), dtype=np.float32)


# --------------------------------------------------------------------------------------------
# Workloads: the exact sequences simulate feeds to the model, and its non-model parts alone
# --------------------------------------------------------------------------------------------
def per_chunk(d: Design) -> int:
    return max(1, sim_mod.DEFAULT_CHUNK // (len(d.arms) + 1))


def chunk_parts(d: Design) -> list[tuple[np.ndarray, np.ndarray]]:
    """(ids, stacked codes) per chunk, built exactly as simulate's paired path builds them."""
    out = []
    for ids in chunk_mod.chunk_ranges(d.n, per_chunk(d)):
        bg = d.background.generate(ids, d.seed)
        seqs = [bg]
        for arm in d.arms:
            do = arm.intervention.apply_keyed(bg, arm.keys(d.seed, ids))
            seqs.append(do[np.any(do != bg, axis=1)])
        out.append((ids, np.concatenate(seqs)))
    return out


def make_workloads(quick: bool) -> dict[str, Design]:
    bg = iid(LENGTH)
    works = {"ap1_center": design(bg, sweep_positions(MOTIF, [96]), n=N_BACKGROUNDS, rng=0)}
    if not quick:
        positions = list(range(6, LENGTH - len(MOTIF), 20))[:10]  # 6, 26, ..., 186
        works["ap1_sweep10"] = design(bg, sweep_positions(MOTIF, positions), n=N_BACKGROUNDS, rng=0)
    return works


def bare_loop(cnn: Callable[[np.ndarray], np.ndarray], x: np.ndarray, b: int) -> np.ndarray:
    out = np.empty(len(x), dtype=np.float64)
    for start in range(0, len(x), b):
        out[start : start + b] = cnn(x[start : start + b])
    return out


def build_contestants(d: Design, cnn: ToyCNN) -> tuple[dict[str, Callable[[], object]], dict]:
    parts = chunk_parts(d)
    codes = np.concatenate([c for _, c in parts])
    x = one_hot(codes, "NCL")  # the bare loop's input, built once
    models = {b: as_model(cnn, layout="NCL", batch_size=b) for b in BATCH_SIZES}
    zeros = {b: as_model(ZeroModel(), layout="NCL", batch_size=b) for b in BATCH_SIZES}
    ids_per_chunk = [ids for ids, _ in parts]
    bgs = [d.background.generate(ids, d.seed) for ids in ids_per_chunk]
    res = simulate(models[256], d, progress=False)
    y_control = res.table["y_control"].to_numpy()[: d.n]
    y_do = [res.table.loc[res.table["label"] == a.label, "y_do"].to_numpy() for a in d.arms]

    def run_interventions() -> None:
        for ids, bg in zip(ids_per_chunk, bgs, strict=True):
            seqs = [bg]
            for arm in d.arms:
                do = arm.intervention.apply_keyed(bg, arm.keys(d.seed, ids))
                diff = np.any(do != bg, axis=1)
                seqs.append(do[diff])
            np.concatenate(seqs)

    def run_one_hot(b: int) -> None:
        for _, c in parts:
            for start in range(0, len(c), b):
                one_hot(c[start : start + b], "NCL")

    def null(m: object) -> object:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a constant model is degenerate
            return simulate(m, d, progress=False, on_degenerate="warn")

    calls: dict[str, Callable[[], object]] = {}
    for b in BATCH_SIZES:
        calls[f"simulate_bs{b}"] = lambda m=models[b]: simulate(m, d, progress=False)
        calls[f"timeout_bs{b}"] = lambda m=models[b]: simulate(m, d, progress=False, timeout=600)
        calls[f"bare_bs{b}"] = lambda b=b: bare_loop(cnn, x, b)
        calls[f"predict_bs{b}"] = lambda m=models[b]: m.predict(codes)
        calls[f"nullmodel_bs{b}"] = lambda m=zeros[b]: null(m)
        calls[f"part_one_hot_bs{b}"] = lambda b=b: run_one_hot(b)
    calls["part_generate"] = lambda: [d.background.generate(ids, d.seed) for ids in ids_per_chunk]
    calls["part_interventions"] = run_interventions
    calls["part_table"] = lambda: table_mod._paired_table(d, y_control, y_do)
    calls["part_fingerprint"] = lambda: models[256].fingerprint(LENGTH)

    # sanity: simulate runs the model on exactly these sequences
    y_bare = bare_loop(cnn, x, 256)
    n_bg = len(y_control)
    check = {
        "n_forward_simulate": res.n_forward,
        "n_forward_bare": len(x),
        "max_abs_diff_control": float(np.abs(_reorder_control(parts, y_bare) - y_control).max()),
        "y_scale": float(np.abs(y_bare).max()),
        "n_backgrounds": n_bg,
    }
    return calls, check


def _reorder_control(parts: list[tuple[np.ndarray, np.ndarray]], y: np.ndarray) -> np.ndarray:
    """The control rows (first len(ids) rows of every chunk) of the bare outputs, in id order."""
    out, offset = [], 0
    for ids, c in parts:
        out.append(y[offset : offset + len(ids)])
        offset += len(c)
    return np.concatenate(out)


# --------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------
def machine_lines() -> list[str]:
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if "model name" in line)
    except (OSError, StopIteration):
        pass
    blas = "library default"
    try:
        from threadpoolctl import threadpool_info

        blas = ", ".join(
            f"{i['internal_api']} {i.get('version')} x{i['num_threads']}" for i in threadpool_info()
        )
    except Exception:  # threadpoolctl is optional
        if ARGS is not None and ARGS.threads is not None:
            blas = f"{ARGS.threads} threads (env)"
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",)
    return [
        f"command: `python {' '.join(sys.argv)}`",
        f"machine: {platform.platform()}; {cpu}; cpu_count={os.cpu_count()}; "
        f"load average at start {load[0]:.2f}",
        f"python {platform.python_version()}; numpy {np.__version__}; BLAS: {blas}",
    ]


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.1f}"


def report(
    name: str, d: Design, times: dict[str, list[float]], check: dict, rounds: int
) -> tuple[int, float]:
    med = {k: statistics.median(v) for k, v in times.items()}
    n_fwd = check["n_forward_bare"]
    print(
        f"\n### Workload `{name}`: {len(d.arms)} arm(s) x {d.n:,} backgrounds, L={LENGTH}, "
        f"{n_fwd:,} forward passes (median of {rounds} interleaved rounds)\n"
    )
    print(
        f"sanity: simulate n_forward={check['n_forward_simulate']:,} (bare {n_fwd:,}); "
        f"max |y_control(simulate) - y(bare)| = {check['max_abs_diff_control']:.2e} "
        f"(outputs up to {check['y_scale']:.2f}); per chunk {per_chunk(d)} backgrounds\n"
    )
    print("| call | ms / call | forward seq/s | time / bare at same bs |")
    print("|---|---|---|---|")
    for k in times:
        seqps = f"{n_fwd / med[k]:,.0f}" if k.startswith(("simulate", "bare", "predict")) else "—"
        bs = k.rsplit("_bs", 1)[1] if "_bs" in k else None
        rel = (
            f"{paired_ratio(times[k], times[f'bare_bs{bs}']):.4f}"
            if bs is not None and not k.startswith("bare")
            else "—"
        )
        if k.startswith("part_") and bs is None:
            b_best = min(BATCH_SIZES, key=lambda b: med[f"bare_bs{b}"])
            rel = f"{paired_ratio(times[k], times[f'bare_bs{b_best}']):.4f} (vs bs{b_best})"
        print(f"| {k} | {fmt_ms(med[k])} | {seqps} | {rel} |")

    print(
        "\n| batch size | simulate ms | bare ms | simulate / bare (paired median) | "
        "IQR of ratio | overhead | predict / bare | null-model simulate / bare |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for b in BATCH_SIZES:
        s, br, nm = times[f"simulate_bs{b}"], times[f"bare_bs{b}"], times[f"nullmodel_bs{b}"]
        r = paired_ratio(s, br)
        lo, hi = ratio_quartiles(s, br)
        print(
            f"| {b} | {fmt_ms(med[f'simulate_bs{b}'])} | {fmt_ms(med[f'bare_bs{b}'])} | "
            f"{r:.4f} | {lo:.3f}–{hi:.3f} | {100 * (r - 1):+.1f} % | "
            f"{paired_ratio(times[f'predict_bs{b}'], br):.4f} | {paired_ratio(nm, br):.4f} |"
        )
    best_s = min(BATCH_SIZES, key=lambda b: med[f"simulate_bs{b}"])
    best_b = min(BATCH_SIZES, key=lambda b: med[f"bare_bs{b}"])
    r_best = paired_ratio(times[f"simulate_bs{best_s}"], times[f"bare_bs{best_b}"])
    lo, hi = ratio_quartiles(times[f"simulate_bs{best_s}"], times[f"bare_bs{best_b}"])
    verdict = "meets" if r_best - 1 <= TARGET else "MISSES"
    print(
        f"| best: simulate bs{best_s} / bare bs{best_b} | {fmt_ms(med[f'simulate_bs{best_s}'])} "
        f"| {fmt_ms(med[f'bare_bs{best_b}'])} | {r_best:.4f} | {lo:.3f}–{hi:.3f} | "
        f"{100 * (r_best - 1):+.1f} % ({verdict} the 3 % target) | "
        f"{paired_ratio(times[f'predict_bs{best_b}'], times[f'bare_bs{best_b}']):.4f} | "
        f"{paired_ratio(times[f'nullmodel_bs{best_b}'], times[f'bare_bs{best_b}']):.4f} |"
    )
    print("\n| batch size | simulate(timeout=600) / simulate (paired median) | IQR |")
    print("|---|---|---|")
    for b in BATCH_SIZES:
        t, s = times[f"timeout_bs{b}"], times[f"simulate_bs{b}"]
        lo, hi = ratio_quartiles(t, s)
        print(f"| {b} | {paired_ratio(t, s):.4f} | {lo:.3f}–{hi:.3f} |")
    return best_b, r_best - 1


def profile_simulate(d: Design, cnn: ToyCNN, b: int, repeats: int = 20, top: int = 16) -> None:
    """cProfile of simulate. With the real model: how much is the model. With the zero model:
    where everything else (the overhead) goes, function by function."""
    real = as_model(cnn, layout="NCL", batch_size=b)
    simulate(real, d, progress=False)
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(5):
        simulate(real, d, progress=False)
    prof.disable()
    st = pstats.Stats(prof)
    total = st.total_tt / 5
    model_ct = (
        sum(
            v[3]
            for k, v in st.stats.items()
            if k[2] == "__call__" and k[0].endswith("bench_simulate.py")
        )
        / 5
    )
    print(f"\n#### cProfile of simulate, `{d.n}` backgrounds x {len(d.arms)} arm(s), bs={b}\n")
    print(
        f"real model, mean of 5 calls: {total * 1e3:.1f} ms per call under the profiler, of "
        f"which ToyCNN.__call__ {model_ct * 1e3:.1f} ms; outside the model "
        f"{(total - model_ct) * 1e3:.1f} ms ({100 * (total - model_ct) / model_ct:.1f} % of "
        "the model time)\n"
    )

    zero = as_model(ZeroModel(), layout="NCL", batch_size=b)
    warnings.simplefilter("ignore", RuntimeWarning)  # a constant model is a degenerate study
    simulate(zero, d, progress=False, on_degenerate="warn")
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(repeats):
        simulate(zero, d, progress=False, on_degenerate="warn")
    prof.disable()
    st = pstats.Stats(prof)
    print(
        f"zero-cost model (everything but the model), mean of {repeats} calls: "
        f"{st.total_tt / repeats * 1e3:.2f} ms per call under the profiler.\n"
    )
    print("| own ms / call | cumulative ms / call | calls / call | function |")
    print("|---|---|---|---|")
    rows = sorted(
        (
            (tt, ct, nc, f"{os.path.basename(fn)}:{line}({func})")
            for (fn, line, func), (_cc, nc, tt, ct, _c) in st.stats.items()
        ),
        reverse=True,
    )
    for tt, ct, nc, label in rows[:top]:
        print(
            f"| {tt / repeats * 1e3:.3f} | {ct / repeats * 1e3:.3f} | {nc / repeats:g} | "
            f"`{label}` |"
        )
    mods = "|".join(
        os.path.basename(m.__file__)
        for m in (
            sim_mod,
            sys.modules[as_model.__module__],
            sys.modules[iid.__module__],
            sys.modules[one_hot.__module__],
            sys.modules[design.__module__],
        )
    )
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(
        rf"{mods}|interventions.py|_rng.py|frame.py|tqdm"
    )
    print(
        f"\n<details><summary>cumulative, causalgia functions (zero model, {repeats} calls)"
        "</summary>\n\n```"
    )
    print("\n".join(line for line in buf.getvalue().splitlines()[6:50] if line.strip()))
    print("```\n</details>")


def main() -> None:
    args = ARGS if ARGS is not None else _parse([])
    rounds = args.rounds if args.rounds is not None else (3 if args.quick else 11)
    warmup = args.warmup if args.warmup is not None else (1 if args.quick else 2)
    print("## causalgia.simulate vs a bare forward loop\n")
    for line in machine_lines():
        print(f"- {line}")
    cnn = ToyCNN(seed=0)
    print(
        f"- model: numpy toy CNN, {cnn.n_params:,} parameters, float32, 'same' padding; "
        f"batch sizes {BATCH_SIZES}; {rounds} rounds after {warmup} warm-up round(s)"
    )
    worst: list[tuple[str, Design, int, float]] = []
    for name, d in make_workloads(args.quick).items():
        calls, check = build_contestants(d, cnn)
        times = time_interleaved(calls, rounds=rounds, warmup=warmup, seed=1)
        best_b, overhead = report(name, d, times, check, rounds)
        worst.append((name, d, best_b, overhead))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\nload average at end {load:.2f}")
    for name, d, best_b, overhead in worst:
        if args.profile or overhead > TARGET:
            print(
                f"\n`{name}`: overhead {100 * overhead:+.1f} % at the best batch size"
                + (" exceeds the 3 % target; profiling." if overhead > TARGET else "")
            )
            profile_simulate(d, cnn, best_b)


if __name__ == "__main__":
    main()
