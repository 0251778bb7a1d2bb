"""Wall time of hierarchical fits: 50 conditions and 16,384 conditions (a 7-mer screen) fitted
to sufficient statistics, alongside full-data NUTS for the 50 conditions, in one process.

The 50-condition table is the one of performance-anchors.md §3: 50 positions x 500 paired ICEs,
ICE = theta_j + N(0, 2.5^2), theta_j = 0.1 + 0.4 exp(-((j - 24.5) / 5)^2). The 16,384-condition
table holds one mean and SE per 7-mer (theta ~ N(0.05, 0.1), SE 0.05). Every fit uses the same
sampler settings (PyMC NUTS, ``--chains`` chains x ``--draws`` draws after ``--tune`` tuning
steps, chains run one after another on one core). "first" includes building and compiling the
model; "warm" repeats the fit in the same process. Times cover build + sample + summaries.

Run: python benchmarks/bench_hierarchical.py [--chains 4] [--draws 1000] [--tune 1000]
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import pandas as pd


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--skip-kmers", action="store_true", help="skip the 16,384-k-mer fit")
    parser.add_argument(
        "--pooling-reps", type=int, default=0,
        help="also refit R fresh 50-position tables: RMSE of pooled vs raw estimates",
    )  # fmt: skip
    args = parser.parse_args()
    if args.pooling_reps:
        pooling_study(args.pooling_reps, args)
        return

    t0 = time.perf_counter()
    from causalgia.pooling.hierarchical import fit_hierarchical

    import_s = time.perf_counter() - t0
    sampling = dict(draws=args.draws, tune=args.tune, chains=args.chains, diagnostics="ignore")
    ice, theta50 = anchor_ice()
    kmers, theta_k = kmer_ace()
    contestants = [
        ("50 conditions, sufficient statistics, marginal (default)", ice, theta50,
         dict(parameterization="auto")),
        ("50 conditions, sufficient statistics, non-centred", ice, theta50,
         dict(parameterization="noncentred")),
        ("50 conditions, full data (25,000 rows), non-centred", ice, theta50,
         dict(likelihood="full")),
    ]  # fmt: skip
    if not args.skip_kmers:
        contestants.append(
            ("16,384 conditions (7-mers), sufficient statistics, marginal", kmers, theta_k, {})
        )
    rows, reference = [], None
    for name, data, truth, options in contestants:
        times, fit = [], None
        for attempt in range(1 if "16,384" in name else 2):
            t = time.perf_counter()
            fit = fit_hierarchical(data, random_seed=1 + attempt, **sampling, **options)
            times.append(time.perf_counter() - t)
        assert fit is not None
        frame, d = fit.to_frame(), fit.diagnostics
        if reference is None and len(frame) == 50:
            reference = frame
        shift = np.nan
        if reference is not None and len(frame) == 50:
            shift = float(np.max(np.abs(frame["post_mean"] - reference["post_mean"])
                                 / reference["post_sd"]))  # fmt: skip
        tau = fit.hyper.set_index("parameter").loc["tau", "post_mean"]
        rows.append(
            {
                "fit": name,
                "first s": times[0],
                "warm s": times[1] if len(times) > 1 else np.nan,
                "tau": tau,
                "max |d mean| [ref SD]": shift,
                "RMSE pooled": float(np.sqrt(np.mean((frame["post_mean"] - truth) ** 2))),
                "RMSE raw": float(np.sqrt(np.mean((frame["ace"] - truth) ** 2))),
                "max R-hat": d.max_r_hat,
                "min bulk ESS": d.min_ess_bulk,
                "divergences": d.divergences,
            }
        )
    table = pd.DataFrame(rows)
    print(
        f"python {platform.python_version()}; import of causalgia.pooling.hierarchical "
        f"{import_s:.1f} s "
        "(PyMC itself is imported lazily, inside the first fit of the first row)"
    )
    print(f"PyMC NUTS, {args.chains} chains x {args.draws} draws (tune {args.tune}), cores=1\n")
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
                                   chains=args.chains, diagnostics="ignore", **options)  # fmt: skip
            f = fit.to_frame()
            inside = (f["hdi_low"] <= theta) & (theta <= f["hdi_high"])
            rows.append({"model": name, "rep": r, "raw": np.sqrt(np.mean((f["ace"] - theta) ** 2)),
                         "pooled": np.sqrt(np.mean((f["post_mean"] - theta) ** 2)),
                         "coverage": inside.mean(), "ok": fit.diagnostics.passed})  # fmt: skip
    t = pd.DataFrame(rows)
    print(f"{reps} fresh 50-position tables (performance-anchors.md §3), 95% HDI")
    print("| model | RMSE raw | RMSE pooled | pooled < raw | 95% HDI coverage | converged |")
    print("|---|---|---|---|---|---|")
    for name, g in t.groupby("model", sort=False):
        print(f"| {name} | {g['raw'].mean():.4f} | {g['pooled'].mean():.4f} | "
              f"{(g['pooled'] < g['raw']).mean():.0%} | {g['coverage'].mean():.3f} | "
              f"{g['ok'].mean():.0%} |")  # fmt: skip


if __name__ == "__main__":
    main()
