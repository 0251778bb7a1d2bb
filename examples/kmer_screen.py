"""A 7-mer screen on DeepBind Vts1p, compared with the wet-lab top 7-mers of RNAcompete.

Every one of the 4^7 = 16,384 7-mers is one arm (``Substitute(kmer, 17)``) of a paired design on
the same n 41-nt iid RNA backgrounds, run with ``causalgia.simulate`` and estimated with
``causalgia.estimate_ace``: each 7-mer's ACE gets a paired t interval and p-value, and q-values
control the false discovery rate over all 16,384 tests (Benjamini-Hochberg within the one
experiment). simulate applies the 16,384 fixed substitutions to a chunk at once and estimate_ace
runs the 16,384 t tests as one scipy call, so the screen costs little more than its forward
passes (benchmarks/bench_many_arms.py, docs/performance.md).

The top 10 by ACE are compared with the wet-lab top 10 7-mers (set A+B, Z-scores) of the VTS1
RNAcompete experiment RNCMPT00111 (../shared/data/rnacompete2013_top7mers/summary.tsv), with a
hypergeometric p-value for the overlap, and the in-silico ACEs of those 10 7-mers are compared
with their wet-lab Z-scores (causalgia.lab.compare.concordance). Models: D00162.002 (trained on
RNCMPT00111), D00162.001 (Vts1p, RNCMPT00082) and, as a negative control, RBFOX1 D00210.001.

Usage: python examples/kmer_screen.py [--n 64] [--seed 0] [--out docs/experiments/kmer_screen]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

import causalgia as cg
from causalgia import backgrounds as bgs
from causalgia.engine.deepbind import read_deepbind
from causalgia.engine.models import Model
from causalgia.experiment.designs import Arm
from causalgia.experiment.interventions import Substitute
from causalgia.lab.compare import concordance
from causalgia.sequences.alphabet import decode

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
MODELS = ("D00162.002", "D00162.001", "D00210.001")
WET_LAB_ID = "RNCMPT00111"
POSITION, LENGTH = 17, 41


def all_kmers(k: int) -> np.ndarray:
    """Codes of all 4^k k-mers in lexicographic (ACGU) order, shape (4^k, k)."""
    grid = np.indices((4,) * k).reshape(k, -1).T
    return grid.astype(np.uint8)


def kmer_arms(k: int = 7, position: int = POSITION) -> list[Arm]:
    """One arm per k-mer (RNA letters, lexicographic ACGU order): the k-mer at ``position``."""
    return [Arm(kmer, Substitute(kmer, position), "kmer") for kmer in decode(all_kmers(k), "rna")]


def kmer_screen(
    model: Model,
    background: bgs.Background,
    *,
    k: int = 7,
    position: int = POSITION,
    n: int = 64,
    seed: int = 0,
    ci: float = 0.95,
) -> pd.DataFrame:
    """ACE of every k-mer substituted at ``position``, with paired t intervals and BH q-values.

    Columns: kmer, ace, se, ci_low, ci_high, n, p_value, q_value (sorted by ACE, descending).
    """
    screen = cg.design(background, kmer_arms(k, position), n=n, rng=seed)
    result = cg.simulate(model, screen, progress=False)
    ace = cg.estimate_ace(result, ci=ci, multiple_testing="fdr_bh").to_frame()
    table = ace.rename(columns={"label": "kmer"})[
        ["kmer", "ace", "se", "ci_low", "ci_high", "n", "p_value", "q_value"]
    ]
    return table.sort_values("ace", ascending=False, kind="stable").reset_index(drop=True)


def wet_lab_top(data: Path = DATA, rnacompete_id: str = WET_LAB_ID) -> pd.DataFrame:
    """The wet-lab top-10 7-mers (set A+B) and Z-scores of one RNAcompete experiment."""
    summary = pd.read_csv(data / "rnacompete2013_top7mers" / "summary.tsv", sep="\t")
    row = summary[summary["rnacompete_id"] == rnacompete_id].iloc[0]
    return pd.DataFrame(
        {
            "rank": range(1, 11),
            "kmer": [row[f"kmer_ab_{i}"] for i in range(1, 11)],
            "zscore": [float(row[f"zscore_ab_{i}"]) for i in range(1, 11)],
        }
    )


def compare_top(screen: pd.DataFrame, wet: pd.DataFrame, top: int = 10) -> dict[str, object]:
    """Overlap of the model's top ``top`` with the wet-lab top list, hypergeometric p-value."""
    model_top = screen["kmer"].head(top).tolist()
    overlap = sorted(set(model_top) & set(wet["kmer"]), key=model_top.index)
    total = len(screen)
    p = stats.hypergeom.sf(len(overlap) - 1, total, len(wet), top)
    return {"model_top": model_top, "overlap": overlap, "n_overlap": len(overlap), "p_value": p}


def run(
    n: int = 64, seed: int = 0, data: Path = DATA, models: tuple[str, ...] = MODELS
) -> dict[str, object]:
    """Screen each model and compare its top 10 with the wet lab."""
    wet = wet_lab_top(data)
    background = bgs.iid(LENGTH, alphabet="rna")
    out: dict[str, object] = {"wet_lab": wet}
    rows = []
    for mid in models:
        path = data / "deepbind" / "params" / f"{mid}.txt"
        model = cg.as_model(read_deepbind(path), batch_size=8192)
        screen = kmer_screen(model, background, n=n, seed=seed)
        out[mid] = screen
        cmp = compare_top(screen, wet)
        rows.append(
            {
                "model": mid,
                "n_overlap_top10": cmp["n_overlap"],
                "hypergeom_p": cmp["p_value"],
                "n_q_below_0.05": int((screen["q_value"] < 0.05).sum()),
                "model_top10": " ".join(cmp["model_top"]),
            }
        )
    out["overlap"] = pd.DataFrame(rows)
    merged = wet.merge(out[models[0]], on="kmer", how="left")
    conc = concordance(merged["ace"].to_numpy(), merged["zscore"].to_numpy(), rng=seed)
    out["zscore_concordance"] = conc.to_frame()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    res = run(args.n, args.seed)
    wet = res["wet_lab"]
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print("wet-lab top 10 (RNCMPT00111, A+B):", " ".join(wet["kmer"]))
        print(res["overlap"].to_string(index=False))
        top = res["D00162.002"].head(10).copy()
        top["in_wet_lab_top10"] = top["kmer"].isin(wet["kmer"])
        print("\nD00162.002 top 10:")
        print(top.round(4).to_string(index=False))
        print("\nwet-lab top 10: in-silico ACE (D00162.002) vs wet-lab Z-score")
        print(res["zscore_concordance"].round(4).to_string(index=False))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        res["overlap"].to_csv(args.out / "overlap.csv", index=False)
        res["zscore_concordance"].to_csv(args.out / "zscore_concordance.csv", index=False)
        for mid in MODELS:
            res[mid].head(50).to_csv(args.out / f"top50_{mid}.csv", index=False)
        _figure(res, args.out)


def _figure(res: dict[str, object], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    screen, wet = res["D00162.002"], res["wet_lab"]
    merged = wet.merge(screen, on="kmer", how="left")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    top = screen.head(20).iloc[::-1]
    colors = ["C1" if k in set(wet["kmer"]) else "C0" for k in top["kmer"]]
    axes[0].barh(
        top["kmer"],
        top["ace"],
        xerr=[top["ace"] - top["ci_low"], top["ci_high"] - top["ace"]],
        color=colors,
        capsize=2,
    )
    axes[0].set_xlabel("ACE (DeepBind D00162.002)")
    axes[0].set_title("top 20 7-mers (orange: in wet-lab top 10)")
    axes[1].errorbar(
        merged["zscore"],
        merged["ace"],
        yerr=[merged["ace"] - merged["ci_low"], merged["ci_high"] - merged["ace"]],
        fmt="o",
        capsize=2,
    )
    for r in merged.itertuples():
        axes[1].annotate(
            r.kmer, (r.zscore, r.ace), fontsize=7, xytext=(3, 3), textcoords="offset points"
        )
    axes[1].set_xlabel("wet-lab 7-mer Z-score (RNCMPT00111, A+B)")
    axes[1].set_ylabel("in-silico ACE")
    axes[1].set_title("wet-lab top 10: measured vs in silico")
    fig.tight_layout()
    fig.savefig(out / "kmer_screen.png", dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
