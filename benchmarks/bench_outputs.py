"""Benchmark: a study with T outputs costs the forward passes of one (issue 12).

A torch CNN whose forward pass dominates (64 filters of width 19, two dilated residual blocks,
a linear head with T outputs, input 500 nt) runs one design (16 arms, 2,000 iid backgrounds) as
one study with T = 1, 10 and 164 declared outputs (``as_model(..., outputs="tasks")``). The
contestants run interleaved in rounds; the ratio of each to T = 1 is taken within a round.
Then the unit table of T = 164 outputs x 16 arms x 10,000 backgrounds is built once and its
memory measured (``DataFrame.memory_usage(deep=True)``).

Usage: ``python benchmarks/bench_outputs.py [--rounds N] [--n N] [--table-n N]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import paired_ratio, ratio_quartiles, time_interleaved  # noqa: E402

import causalgia  # noqa: E402
from causalgia.engine import as_model, simulate  # noqa: E402
from causalgia.experiment.backgrounds import iid  # noqa: E402
from causalgia.experiment.designs import design, sweep_positions  # noqa: E402

LENGTH = 500
ARMS = 16
TASKS = 164


def network(n_outputs: int):
    """A small BPNet-like trunk with a linear head of ``n_outputs`` tasks (float32, eval)."""
    import torch

    torch.manual_seed(0)

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = torch.nn.Conv1d(4, 64, 19, padding=9)
            self.blocks = torch.nn.ModuleList(
                torch.nn.Conv1d(64, 64, 3, padding=d, dilation=d) for d in (2, 4)
            )
            self.head = torch.nn.Linear(64, n_outputs)

        def forward(self, x):
            h = torch.relu(self.stem(x))
            for block in self.blocks:
                h = h + torch.relu(block(h))
            return self.head(h.mean(dim=2))

    return Net().eval()


def model(n_outputs: int):
    names = [f"task{t}" for t in range(n_outputs)]
    net = network(TASKS)  # one trunk and head; T selects how many of its outputs are declared
    if n_outputs == 1:
        return as_model(net, layout="NCL", output=0, batch_size=256)
    return as_model(net, layout="NCL", outputs="tasks" if n_outputs == TASKS else
                    {name: t for t, name in enumerate(names)}, task_names=[
                        f"task{t}" for t in range(TASKS)], batch_size=256)  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--n", type=int, default=2000, help="backgrounds of the timed study")
    p.add_argument("--table-n", type=int, default=10000, help="backgrounds of the memory study")
    args = p.parse_args()
    import torch

    torch.set_num_threads(2)
    positions = list(np.linspace(0, LENGTH - 8, ARMS).astype(int))
    study = design(iid(LENGTH), sweep_positions("TGACTCA", positions), n=args.n, rng=1)
    models = {t: model(t) for t in (1, 10, TASKS)}
    print("## causalgia benchmark: several outputs from one forward pass\n")
    print(f"- command: `python {' '.join(sys.argv)}`")
    print(f"- machine: {platform.platform()}; cpu_count={os.cpu_count()}; python "
          f"{platform.python_version()}; torch {torch.__version__}; causalgia "
          f"{causalgia.__version__}; torch threads 2")  # fmt: skip
    passes = {}

    def run(t: int):
        def go() -> None:
            passes[t] = simulate(models[t], study, progress=False).n_forward

        return go

    times = time_interleaved({f"T={t}": run(t) for t in models}, rounds=args.rounds)
    print(f"\n### {ARMS} arms x {args.n:,} backgrounds, {args.rounds} interleaved rounds\n")
    print("| outputs T | forward passes | median s | ratio to T = 1 (median [IQR]) |")
    print("|---|---|---|---|")
    for t in models:
        name = f"T={t}"
        ratio = paired_ratio(times[name], times["T=1"])
        q1, q3 = ratio_quartiles(times[name], times["T=1"])
        print(f"| {t} | {passes[t]:,} | {np.median(times[name]):.2f} | "
              f"{ratio:.3f} [{q1:.3f}, {q3:.3f}] |")  # fmt: skip
    big = design(iid(LENGTH), sweep_positions("TGACTCA", positions), n=args.table_n, rng=2)
    start = time.perf_counter()
    table = simulate(models[TASKS], big, progress=False).table
    seconds = time.perf_counter() - start
    usage = table.memory_usage(deep=True)
    print(f"\n### The unit table at T = {TASKS} outputs x {ARMS} arms x {args.table_n:,} "
          f"backgrounds ({seconds:.1f} s to simulate and build)\n")  # fmt: skip
    print(f"- rows: {len(table):,}; memory: {usage.sum() / 2**20:,.0f} MiB "
          f"({usage.sum() / len(table):.0f} bytes per row)")  # fmt: skip
    print("- bytes per row by column: " + ", ".join(
        f"{name} {usage[name] / len(table):.1f}" for name in table.columns))  # fmt: skip


if __name__ == "__main__":
    main()
