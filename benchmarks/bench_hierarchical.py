"""Wall time of ``fit_hierarchical``: the default sampler against PyMC's NUTS, cold and warm.

Three 50-condition models are fitted to the table of performance-anchors.md §3 (50 positions x
500 paired ICEs, ICE = theta_j + N(0, 2.5^2), theta_j = 0.1 + 0.4 exp(-((j - 24.5) / 5)^2)),
reduced to its sufficient statistics (the default likelihood):

- ``rw``: a random-walk curve over position (``curve="position"``);
- ``gp``: a Gaussian-process curve with a periodic component (``curve_prior="gp"``,
  ``periodic=10.5``);
- ``exchangeable``: no curve (the marginal parameterization).

Each is fitted with the defaults (4 chains x 1,000 draws after 1,000 tuning steps) by
``sampler="auto"`` (nutpie when installed, its chains in one thread per CPU) and by
``sampler="pymc"`` (PyMC's NUTS, chains one after another: the previous default).

- **cold**: a fresh Python process (a subprocess) from its start until the first fit has
  returned: interpreter start, imports (numpy, pandas, causalgia, PyMC, ArviZ, nutpie), the
  table, the sufficient statistics, building and compiling the model, sampling and every
  summary (HDIs, R-hat and bulk/tail ESS of every parameter). PyTensor's on-disk compile cache
  is used as a user's machine has it after a first run; ``--empty-cache`` adds one round with a
  fresh, empty cache directory (the very first fit on a machine).
- **warm**: a second fit in the same process, of the second table (other data, same
  structure): the compiled model is reused.

The contestants run round-robin, in a new random order each round, and the ratios are medians
of ratios taken within a round (benchmarks/_timing.py, performance-anchors.md). PyMC's GP fit
takes minutes, so it runs in the first ``--pymc-gp-rounds`` rounds only. Quality columns come
from the cold fit: the diagnostics gate (R-hat <= 1.01, ESS >= 400, no divergences) and the
largest difference of a posterior mean from the other sampler's, in posterior SDs.

Run:
    python benchmarks/bench_hierarchical.py [--rounds 3] [--pymc-gp-rounds 1] [--empty-cache]
    python benchmarks/bench_hierarchical.py --sufficient-vs-full  # vs 25,000 rows; 7-mers
    python benchmarks/bench_hierarchical.py --pooling-reps 40 --chains 2   # RMSE pooled vs raw
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import paired_ratio  # noqa: E402

MODELS: dict[str, tuple[str, dict]] = {
    "rw": ("50 conditions, random-walk curve", {"curve": "position"}),
    "gp": (
        "50 conditions, GP + periodic curve",
        {"curve": "position", "curve_prior": "gp", "periodic": 10.5},
    ),
    "exchangeable": ("50 conditions, exchangeable", {}),
}
SAMPLERS = ("auto", "pymc")


def anchor_ice(seed: int = 1, n: int = 500, j: int = 50) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    theta = 0.1 + 0.4 * np.exp(-(((np.arange(j) - 24.5) / 5.0) ** 2))
    ice = theta[:, None] + rng.normal(0.0, 2.5, (j, n))
    table = pd.DataFrame(
        {
            "experiment": "position",
            "label": np.repeat([f"site@{i}" for i in range(j)], n),
            "position": np.repeat(np.arange(j), n),
            "background_id": np.tile(np.arange(n), j),
            "ice": ice.ravel(),
        }
    )
    return table, theta


def kmer_ace(seed: int = 2, k: int = 7) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    j = 4**k
    theta = rng.normal(0.05, 0.1, j)
    se = np.full(j, 0.05)
    labels = ["".join("ACGT"[(i >> (2 * p)) & 3] for p in range(k)) for i in range(j)]
    table = pd.DataFrame(
        {"experiment": "kmer", "label": labels, "ace": theta + se * rng.standard_normal(j),
         "se": se, "n": 100}
    )  # fmt: skip
    return table, theta


# -- one contestant in a fresh process -----------------------------------------------------------


def child(model: str, sampler: str) -> None:
    """Fit twice and report; the parent timestamps the ``COLD`` line."""
    first, _truth = anchor_ice(seed=1)
    second, _ = anchor_ice(seed=2)
    from causalgia.pooling.hierarchical import fit_hierarchical

    options = MODELS[model][1]
    fit = fit_hierarchical(first, random_seed=1, sampler=sampler, diagnostics="ignore", **options)
    print("COLD", flush=True)
    t = time.perf_counter()
    fit_hierarchical(second, random_seed=2, sampler=sampler, diagnostics="ignore", **options)
    warm = time.perf_counter() - t
    frame, d = fit.to_frame(), fit.diagnostics
    out = {
        "warm": warm, "sampler": fit.settings["sampler"], "passed": d.passed,
        "max_r_hat": d.max_r_hat, "min_ess_bulk": d.min_ess_bulk, "min_ess_tail": d.min_ess_tail,
        "divergences": d.divergences, "post_mean": frame["post_mean"].tolist(),
        "post_sd": frame["post_sd"].tolist(),
    }  # fmt: skip
    print("RESULT " + json.dumps(out), flush=True)


def run_child(model: str, sampler: str, env: dict[str, str] | None = None) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", model, sampler],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    assert proc.stdout is not None
    cold, result = None, None
    for line in proc.stdout:
        if line.startswith("COLD"):
            cold = time.perf_counter() - t0
        elif line.startswith("RESULT "):
            result = json.loads(line[len("RESULT ") :])
    if proc.wait() != 0 or cold is None or result is None:
        raise RuntimeError(f"child {model}/{sampler} failed (exit {proc.returncode})")
    return {**result, "cold": cold, "load": os.getloadavg()[0]}


def speed(args: argparse.Namespace) -> None:
    rng = random.Random(0)
    runs: dict[tuple[str, str], list[dict]] = {}
    loads = [os.getloadavg()[0]]
    for r in range(args.rounds):
        contestants = [(m, s) for m in MODELS for s in SAMPLERS]
        if r >= args.pymc_gp_rounds:
            contestants.remove(("gp", "pymc"))
        rng.shuffle(contestants)
        for model, sampler in contestants:
            res = run_child(model, sampler)
            runs.setdefault((model, sampler), []).append({**res, "round": r})
            print(f"round {r}: {model:12s} {sampler:5s} cold {res['cold']:7.2f} s  warm "
                  f"{res['warm']:7.2f} s  load {res['load']:.2f}", flush=True)  # fmt: skip
        loads.append(os.getloadavg()[0])
    empty: dict[tuple[str, str], dict] = {}
    if args.empty_cache:
        for model in ("rw", "exchangeable"):
            for sampler in SAMPLERS:
                with tempfile.TemporaryDirectory() as tmp:
                    env = {"PYTENSOR_FLAGS": f"base_compiledir={tmp}"}
                    empty[(model, sampler)] = run_child(model, sampler, env)
                print(f"empty cache: {model} {sampler} cold {empty[(model, sampler)]['cold']:.1f}"
                      " s", flush=True)  # fmt: skip
    report(runs, empty, loads, args)


def report(runs: dict, empty: dict, loads: list[float], args: argparse.Namespace) -> None:
    import causalgia

    versions = {"python": platform.python_version(), "causalgia": causalgia.__version__}
    for name in ("pymc", "pytensor", "nutpie", "arviz", "numba"):
        try:
            versions[name] = __import__(name).__version__
        except ImportError:
            versions[name] = "absent"
    print(f"\n{', '.join(f'{k} {v}' for k, v in versions.items())}; {os.cpu_count()} CPUs")
    gp_rounds = min(args.pymc_gp_rounds, args.rounds)
    print(f"{args.rounds} rounds (PyMC GP + periodic: {gp_rounds}); load average (1 min) "
          f"{min(loads):.2f}-{max(loads):.2f} between rounds")  # fmt: skip
    print("\n| model | sampler | cold s | warm s | cold: PyMC / default | warm: PyMC / default "
          "| max R-hat | min bulk ESS | divergences | max \\|d mean\\| [SD] |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for model, (title, _options) in MODELS.items():
        if (model, "auto") not in runs or (model, "pymc") not in runs:
            continue
        default, pymc = runs[(model, "auto")], runs[(model, "pymc")]
        paired = [(p, next(d for d in default if d["round"] == p["round"])) for p in pymc]
        ratio_cold = paired_ratio([p["cold"] for p, _ in paired], [d["cold"] for _, d in paired])
        ratio_warm = paired_ratio([p["warm"] for p, _ in paired], [d["warm"] for _, d in paired])
        a, b = default[0], pymc[0]
        shift = np.max(np.abs(np.subtract(a["post_mean"], b["post_mean"])) / np.array(b["post_sd"]))
        for rows, ratios in ((default, (f"{ratio_cold:.1f}x", f"{ratio_warm:.1f}x")), (pymc, "")):
            r0 = rows[0]
            print(
                f"| {title} | {r0['sampler']} ({len(rows)} round{'s' * (len(rows) > 1)}) | "
                f"{np.median([x['cold'] for x in rows]):.1f} | "
                f"{np.median([x['warm'] for x in rows]):.1f} | {ratios[0] if ratios else ''} | "
                f"{ratios[1] if ratios else ''} | {r0['max_r_hat']:.3f} | "
                f"{r0['min_ess_bulk']:.0f} | {r0['divergences']} | {shift:.2f} |"
            )
    for (model, _sampler), res in empty.items():
        print(f"| {MODELS[model][0]}, empty compile cache | {res['sampler']} | {res['cold']:.1f} "
              f"| {res['warm']:.1f} | | | {res['max_r_hat']:.3f} | {res['min_ess_bulk']:.0f} | "
              f"{res['divergences']} | |")  # fmt: skip


# -- the earlier tables --------------------------------------------------------------------------


def sufficient_vs_full(args: argparse.Namespace) -> None:
    """Summaries against all rows and the 7-mer screen, with the default sampler."""
    from causalgia.pooling.hierarchical import fit_hierarchical

    sampling = dict(draws=args.draws, tune=args.tune, chains=args.chains, diagnostics="ignore")
    ice, theta50 = anchor_ice()
    kmers, theta_k = kmer_ace()
    contestants = [
        ("50 conditions, sufficient statistics, marginal (default)", ice, theta50, {}),
        ("50 conditions, sufficient statistics, non-centred", ice, theta50,
         dict(parameterization="noncentred")),
        ("50 conditions, full data (25,000 rows), non-centred", ice, theta50,
         dict(likelihood="full")),
        ("16,384 conditions (7-mers), sufficient statistics, marginal", kmers, theta_k, {}),
    ]  # fmt: skip
    rows, reference = [], None
    for name, data, truth, options in contestants:
        times, fit = [], None
        for attempt in range(1 if "16,384" in name else 2):
            t = time.perf_counter()
            fit = fit_hierarchical(data, random_seed=1 + attempt, **sampling, **options)
            times.append(time.perf_counter() - t)
        assert fit is not None
        frame, d = fit.to_frame(), fit.diagnostics
        if reference is None:
            reference = frame
        shift = np.nan
        if len(frame) == 50:
            shift = float(np.max(np.abs(frame["post_mean"] - reference["post_mean"])
                                 / reference["post_sd"]))  # fmt: skip
        rows.append(
            {"fit": name, "first s": times[0], "warm s": times[1] if len(times) > 1 else np.nan,
             "tau": fit.hyper.set_index("parameter").loc["tau", "post_mean"],
             "max |d mean| [ref SD]": shift,
             "RMSE pooled": float(np.sqrt(np.mean((frame["post_mean"] - truth) ** 2))),
             "RMSE raw": float(np.sqrt(np.mean((frame["ace"] - truth) ** 2))),
             "max R-hat": d.max_r_hat, "min bulk ESS": d.min_ess_bulk,
             "divergences": d.divergences, "sampler": fit.settings["sampler"]}
        )  # fmt: skip
    table = pd.DataFrame(rows)
    print(f"{args.chains} chains x {args.draws} draws (tune {args.tune}), default sampler\n")
    print("| " + " | ".join(table.columns) + " |")
    print("|" + "---|" * len(table.columns))
    for row in table.itertuples(index=False):
        cells = [v if isinstance(v, str) else f"{v:.3g}" for v in row]
        print("| " + " | ".join(cells) + " |")


def pooling_study(reps: int, args: argparse.Namespace) -> None:
    """RMSE of per-position effects against the truth: pooled posterior means vs raw means."""
    from causalgia.pooling.hierarchical import fit_hierarchical

    rows = []
    for r in range(reps):
        ice, theta = anchor_ice(seed=1000 + r)
        for name, options in (("exchangeable", {}), ("random-walk curve", {"curve": "position"})):
            fit = fit_hierarchical(ice, random_seed=r, draws=args.draws, tune=args.tune,
                                   chains=args.chains, diagnostics="ignore",
                                   sampler=args.sampler, **options)  # fmt: skip
            f = fit.to_frame()
            inside = (f["hdi_low"] <= theta) & (theta <= f["hdi_high"])
            rows.append({"model": name, "rep": r, "raw": np.sqrt(np.mean((f["ace"] - theta) ** 2)),
                         "pooled": np.sqrt(np.mean((f["post_mean"] - theta) ** 2)),
                         "coverage": inside.mean(), "ok": fit.diagnostics.passed})  # fmt: skip
    t = pd.DataFrame(rows)
    print(f"{reps} fresh 50-position tables (performance-anchors.md §3), 95% HDI, "
          f"sampler={args.sampler}")  # fmt: skip
    print("| model | RMSE raw | RMSE pooled | pooled < raw | 95% HDI coverage | converged |")
    print("|---|---|---|---|---|---|")
    for name, g in t.groupby("model", sort=False):
        print(f"| {name} | {g['raw'].mean():.4f} | {g['pooled'].mean():.4f} | "
              f"{(g['pooled'] < g['raw']).mean():.0%} | {g['coverage'].mean():.3f} | "
              f"{g['ok'].mean():.0%} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pymc-gp-rounds", type=int, default=1)
    parser.add_argument("--empty-cache", action="store_true",
                        help="add cold fits with an empty PyTensor compile cache")  # fmt: skip
    parser.add_argument("--sufficient-vs-full", action="store_true")
    parser.add_argument("--pooling-reps", type=int, default=0)
    parser.add_argument("--sampler", default="auto", help="for --pooling-reps")
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--child", nargs=2, metavar=("MODEL", "SAMPLER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
    elif args.pooling_reps:
        pooling_study(args.pooling_reps, args)
    elif args.sufficient_vs_full:
        sufficient_vs_full(args)
    else:
        speed(args)


if __name__ == "__main__":
    main()
