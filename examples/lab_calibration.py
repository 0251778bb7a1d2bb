"""The calibration model on real wet-lab data: lab = offset + slope · in-silico + noise.

``causalgia.pooling.calibrate`` (PyMC, errors in variables) is fitted per experiment and model:

- RNAcompete-S Vts1 (5-mers): lab log2 enrichment (with its Katz SE) vs in-silico ACE (with its
  paired-t SE) of DeepBind Vts1p D00162.002, D00162.001 and RBFOX1 D00210.001 (wrong protein);
  the table is the kmers.csv written by examples/rnacompete_s_vts1.py (recomputed when absent).
- RNAcompete 2013 top-10 7-mers of VTS1 (RNCMPT00111): wet-lab Z-score vs the ACE of those 7-mers
  at position 17 of 500 iid 41-nt backgrounds (D00162.002).
- RNAcompete 2009 Vts1 probes: measured intensity vs DeepBind score (81,930 probes; no SE on
  either side, so all scatter is ``extra_sd``).

Writes calibration.csv (posterior summaries), numbers.json and calibration.png (predicted vs
measured, one panel per fit, with the posterior mean line and its 95% credible band).

Usage: python examples/lab_calibration.py [--seed 0] [--out docs/experiments/lab_calibration]
"""

from __future__ import annotations

import argparse
import json
import runpy
import sys
from pathlib import Path

import numpy as np
import pandas as pd

import causalgia as cg
from causalgia import backgrounds as bgs
from causalgia.engine.deepbind import read_deepbind
from causalgia.experiment.designs import Arm
from causalgia.experiment.interventions import Substitute
from causalgia.lab import read_measurements
from causalgia.pooling import Calibration, calibrate

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
KMERS = ROOT / "docs" / "experiments" / "rnacompete_s_vts1" / "kmers.csv"
MODELS = ("D00162.002", "D00162.001", "D00210.001")
LABELS = {
    "D00162.002": "Vts1p D00162.002",
    "D00162.001": "Vts1p D00162.001",
    "D00210.001": "RBFOX1 D00210.001 (wrong protein)",
}


def _example(name: str) -> dict:
    return runpy.run_path(str(ROOT / "examples" / name), run_name="example")


def rnacompete_s_table(kmers: Path = KMERS, data: Path = DATA, seed: int = 0) -> pd.DataFrame:
    """Per-5-mer lab enrichment and ACEs: the committed kmers.csv, or recomputed."""
    if kmers.is_file():
        return pd.read_csv(kmers)
    ex = _example("rnacompete_s_vts1.py")
    ex["require"](data)
    screens = {mid: ex["kmer_screen"](mid, data, seed=seed) for mid in MODELS}
    return ex["kmer_table"](ex["lab_enrichment"](data), screens)


def top7mer_table(data: Path = DATA, n: int = 500, seed: int = 0) -> pd.DataFrame:
    """The wet-lab top-10 7-mers of RNCMPT00111 with their Z-scores and in-silico ACEs."""
    wet = _example("kmer_screen.py")["wet_lab_top"](data)
    arms = [Arm(k, Substitute(k, 17), "kmer") for k in wet["kmer"]]
    model = cg.as_model(read_deepbind(data / "deepbind" / "params" / "D00162.002.txt"))
    design = cg.design(bgs.iid(41, alphabet="rna"), arms, n=n, rng=seed)
    ace = cg.estimate_ace(cg.simulate(model, design, progress=False)).to_frame()
    return wet.merge(ace[["label", "ace", "se"]].rename(columns={"label": "kmer"}), on="kmer")


def probe_table(data: Path = DATA) -> pd.DataFrame:
    """RNAcompete 2009 probe intensities with the DeepBind Vts1p D00162.002 score."""
    probes = read_measurements(
        data / "rnacompete2009_vts1" / "VTS1_data_full_AB.txt.gz",
        key="sequence",
        columns=["value", "sequence"],
    ).table
    model = read_deepbind(data / "deepbind" / "params" / "D00162.002.txt")
    return probes.assign(score=model.score(list(probes["sequence"])))


def fits(data: Path = DATA, seed: int = 0, kmers: Path = KMERS) -> list[dict]:
    """Every calibration: experiment, model, the x/y (and SE) arrays and the fit."""
    out = []
    t = rnacompete_s_table(kmers, data, seed)
    for mid in MODELS:
        x, y = t[f"ace_{mid}"].to_numpy(), t["log2_enrichment"].to_numpy()
        fit = calibrate(
            x, y, in_silico_se=t[f"ace_se_{mid}"].to_numpy(), lab_se=t["se"].to_numpy(), rng=seed
        )
        out.append(
            {
                "experiment": "RNAcompete-S 5-mers",
                "model": mid,
                "x": x,
                "y": y,
                "fit": fit,
                "xlabel": "in-silico ACE",
                "ylabel": "lab log2 enrichment",
            }
        )
    top = top7mer_table(data, seed=seed)
    x, y = top["ace"].to_numpy(), top["zscore"].to_numpy()
    fit = calibrate(x, y, in_silico_se=top["se"].to_numpy(), rng=seed)
    out.append(
        {
            "experiment": "RNAcompete 2013 top-10 7-mers",
            "model": "D00162.002",
            "x": x,
            "y": y,
            "fit": fit,
            "xlabel": "in-silico ACE",
            "ylabel": "wet-lab Z-score",
        }
    )
    probes = probe_table(data)
    x, y = probes["score"].to_numpy(), probes["value"].to_numpy()
    fit = calibrate(x, y, draws=500, tune=500, rng=seed)
    out.append(
        {
            "experiment": "RNAcompete 2009 probes",
            "model": "D00162.002",
            "x": x,
            "y": y,
            "fit": fit,
            "xlabel": "DeepBind score",
            "ylabel": "probe intensity",
        }
    )
    return out


def summary_table(results: list[dict]) -> pd.DataFrame:
    """One row per (experiment, model, parameter)."""
    frames = []
    for r in results:
        cal: Calibration = r["fit"]
        f = cal.to_frame()
        f.insert(0, "model", r["model"])
        f.insert(0, "experiment", r["experiment"])
        f["n"] = len(r["x"])
        f["lab_sd"] = float(np.std(r["y"]))  # the lab's own spread, for extra_sd
        frames.append(f)
    return pd.concat(frames, ignore_index=True)


def figure(results: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 3
    rows = -(-len(results) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.8 * rows), squeeze=False)
    for ax in axes.ravel()[len(results) :]:
        ax.set_visible(False)
    for ax, r in zip(axes.ravel(), results, strict=False):
        x, y, cal = r["x"], r["y"], r["fit"]
        if x.size > 5000:
            ax.hexbin(x, y, gridsize=60, bins="log", cmap="Greys", mincnt=1)
        else:
            ax.scatter(x, y, s=8 if x.size > 50 else 20, alpha=0.6)
        grid = np.linspace(np.min(x), np.max(x), 100)
        lines = cal.samples["offset"][:, None] + cal.samples["slope"][:, None] * grid[None, :]
        lo, hi = np.quantile(lines, [0.025, 0.975], axis=0)
        ax.fill_between(grid, lo, hi, color="C1", alpha=0.3, lw=0)
        ax.plot(grid, lines.mean(axis=0), color="C1")
        t = cal.to_frame().set_index("parameter")
        ax.set_title(f"{r['experiment']}\n{LABELS[r['model']]}", fontsize=8)
        ax.text(
            0.03,
            0.97,
            f"slope {t.loc['slope', 'mean']:.2f} "
            f"[{t.loc['slope', 'hdi_low']:.2f}, {t.loc['slope', 'hdi_high']:.2f}]\n"
            f"extra sd {t.loc['extra_sd', 'mean']:.2f}",
            transform=ax.transAxes,
            va="top",
            fontsize=7,
        )
        ax.set_xlabel(r["xlabel"], fontsize=8)
        ax.set_ylabel(r["ylabel"], fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "calibration.png", dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kmers", type=Path, default=KMERS)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if not (DATA / "deepbind").is_dir():
        sys.exit(f"this example needs the shared data folder {DATA}")
    results = fits(DATA, args.seed, args.kmers)
    table = summary_table(results)
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(table.round(4).to_string(index=False))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out / "calibration.csv", index=False)
        numbers: dict[str, object] = {
            f"{r.experiment} | {r.model} | {r.parameter}": [
                round(r.mean, 3),
                round(r.hdi_low, 3),
                round(r.hdi_high, 3),
                round(r.r_hat, 3),
            ]
            for r in table.itertuples(index=False)
        }
        for r in table.drop_duplicates(["experiment", "model"]).itertuples(index=False):
            numbers[f"{r.experiment} | {r.model} | lab_sd"] = round(r.lab_sd, 3)
        (args.out / "numbers.json").write_text(json.dumps(numbers, indent=1) + "\n")
        figure(results, args.out)


if __name__ == "__main__":
    main()
