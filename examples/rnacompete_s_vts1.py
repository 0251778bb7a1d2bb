"""RNAcompete-S Vts1: lab 5-mer enrichment from selection reads vs DeepBind 5-mer ACEs, with a
composition control; and the RNAcompete 2009 probe comparison redone with the same control.

Lab side (``causalgia.lab.selection_enrichment``): 5,000 Vts1-bound and 5,000 pool reads (40 nt,
DNA letters; ../shared/data/rnacompete_s_vts1). Every 5-mer's log2 enrichment is the log ratio of
the fraction of bound and of pool reads holding it (each read counted once), with a Katz 95%
interval. A split-half check (reads split at random into two halves of both sets) measures how
reproducible the lab ranking is, overall and within composition strata.

In silico (``causalgia.simulate`` + ``estimate_ace``): every 5-mer is one arm,
``Substitute(kmer, 17)``, of a paired design on the pool's own reads as backgrounds
(``backgrounds.real``, the first n reads, no replacement). Models: DeepBind Vts1p D00162.002
(RNCMPT00111) and D00162.001 (RNCMPT00082), and RBFOX1 D00210.001 as the wrong-protein control.

Concordance (``causalgia.lab.controlled_concordance``): raw Spearman over the 1,024 5-mers, the
stratified Spearman within composition strata (GC count of the 5-mer; base composition, i.e.
5-mers that are anagrams of each other), the partial Spearman adjusted for the composition, the
top-10 overlap with its hypergeometric p, the within-strata permutation null and RBFOX1 beside
every number.

RNAcompete 2009 (../shared/data/rnacompete2009_vts1, 81,930 probes): DeepBind scores vs probe
intensities with the same control (strata: probe GC-fraction deciles; covariates: length and the
A, C, G fractions).

Usage: python examples/rnacompete_s_vts1.py [--n 512] [--seed 0]
                                            [--out docs/experiments/rnacompete_s_vts1]
Needs ../shared/data beside the repository; exits with a message when it is absent.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import causalgia as cg
from causalgia import backgrounds as bgs
from causalgia.engine.deepbind import read_deepbind
from causalgia.experiment.designs import Arm
from causalgia.experiment.interventions import Substitute
from causalgia.lab import (
    ControlledConcordance,
    Enrichment,
    composition,
    controlled_concordance,
    kmer_names,
    read_codes,
    read_measurements,
    selection_enrichment,
)

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
BOUND, POOL = "Vts1_quite_small.fa.gz", "Pool_quite_small.fa.gz"
PROBES = "VTS1_data_full_AB.txt.gz"
VTS1 = ("D00162.002", "D00162.001")
WRONG = "D00210.001"
LABELS = {
    "D00162.002": "Vts1p D00162.002",
    "D00162.001": "Vts1p D00162.001",
    "D00210.001": "RBFOX1 D00210.001",
}
K, POSITION = 5, 17


def require(data: Path = DATA) -> None:
    """Exit with a clear message when the shared data is not beside the repository."""
    need = [
        data / "rnacompete_s_vts1" / BOUND,
        data / "rnacompete_s_vts1" / POOL,
        *(data / "deepbind" / "params" / f"{m}.txt" for m in (*VTS1, WRONG)),
    ]
    missing = [str(p) for p in need if not p.is_file()]
    if missing:
        sys.exit(
            f"this example needs the shared data folder ({data}); missing: {missing[0]}"
            + (f" and {len(missing) - 1} more" if len(missing) > 1 else "")
        )


def lab_enrichment(
    data: Path = DATA, *, k: int = K, interval: str = "count", rng: int = 0
) -> Enrichment:
    """Log2 enrichment of every k-mer in the Vts1-bound over the pool reads (once per read)."""
    reads = data / "rnacompete_s_vts1"
    return selection_enrichment(reads / BOUND, reads / POOL, k=k, interval=interval, rng=rng)


def strata_definitions(kmers: list[str]) -> dict[str, tuple[np.ndarray, pd.DataFrame | None]]:
    """Composition strata of the k-mers and the covariates of the partial Spearman.

    ``GC count``: number of G/C (covariate: the stratum indicators). ``base composition``: the
    multiset of letters (k-mers that are anagrams of each other; covariates: counts of A, C, G).
    """
    comp = composition(kmers)
    anagram = np.array(["".join(sorted(k)) for k in kmers])
    return {
        "GC count": (comp["gc_count"].to_numpy(), None),
        "base composition": (anagram, comp[["a", "c", "g"]]),
    }


def split_half(data: Path = DATA, *, k: int = K, seed: int = 0) -> pd.DataFrame:
    """Spearman of the lab enrichments of two random halves of the reads (both sets split):
    overall and within each composition stratum definition (size-weighted)."""
    from causalgia.lab import stratified_spearman

    reads = data / "rnacompete_s_vts1"
    gen = np.random.default_rng(seed)
    halves = []
    codes = {name: read_codes(reads / name) for name in (BOUND, POOL)}
    masks = {name: gen.permutation(len(c)) < len(c) // 2 for name, c in codes.items()}
    for half in (True, False):
        e = selection_enrichment(
            codes[BOUND][masks[BOUND] == half], codes[POOL][masks[POOL] == half], k=k
        )
        halves.append(e.to_frame()["log2_enrichment"].to_numpy())
    kmers = list(kmer_names(k))
    rows = [
        {
            "strata": "none",
            "spearman": float(pd.Series(halves[0]).corr(pd.Series(halves[1]), method="spearman")),
        }
    ]
    for name, (strata, _) in strata_definitions(kmers).items():
        rows.append({"strata": name, "spearman": stratified_spearman(*halves, strata)[0]})
    out = pd.DataFrame(rows)
    out["spearman_brown"] = 2 * out["spearman"] / (1 + out["spearman"])  # full-data reliability
    return out


def kmer_screen(
    model_id: str,
    data: Path = DATA,
    *,
    k: int = K,
    position: int = POSITION,
    n: int = 512,
    seed: int = 0,
) -> pd.DataFrame:
    """ACE of every k-mer written at ``position`` of the first n pool reads (paired design)."""
    pool = read_codes(data / "rnacompete_s_vts1" / POOL)
    background = bgs.real(pool, replace=False, alphabet="rna")
    arms = [Arm(kmer, Substitute(kmer, position), "kmer") for kmer in kmer_names(k)]
    model = cg.as_model(read_deepbind(data / "deepbind" / "params" / f"{model_id}.txt"))
    result = cg.simulate(model, cg.design(background, arms, n=n, rng=seed), progress=False)
    return cg.estimate_ace(result, multiple_testing="fdr_bh").to_frame()


def kmer_table(enrichment: Enrichment, screens: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per k-mer: the lab enrichment and every model's ACE and SE."""
    table = enrichment.to_frame()
    for mid, ace in screens.items():
        joined = enrichment.join(ace)  # on ace["label"] == kmer
        table[f"ace_{mid}"] = joined["ace"].to_numpy()
        table[f"ace_se_{mid}"] = joined["se_ace"].to_numpy()  # "se" is the lab SE
    comp = composition(list(table["kmer"]))
    table.insert(1, "gc_count", comp["gc_count"].to_numpy())
    return table


def composition_lean(table: pd.DataFrame) -> pd.DataFrame:
    """Within GC-count strata, Spearman of the lab enrichment and of each ACE with the G - C
    and the U - A count of the 5-mer (size-weighted over strata): which way each one leans."""
    from causalgia.lab import stratified_spearman

    comp = composition(list(table["kmer"]))
    leans = {"G - C": comp["g"] - comp["c"], "U - A": comp["u"] - comp["a"]}
    rows = []
    for name in ("log2_enrichment", *(f"ace_{m}" for m in (*VTS1, WRONG))):
        row = {"values": name}
        for lean, v in leans.items():
            row[lean] = stratified_spearman(table[name], v.to_numpy(), table["gc_count"])[0]
        rows.append(row)
    return pd.DataFrame(rows)


def kmer_concordance(
    table: pd.DataFrame,
    *,
    models: tuple[str, ...] = VTS1,
    seed: int = 0,
    n_resamples: int = 999,
    n_permutations: int = 999,
) -> dict[tuple[str, str], ControlledConcordance]:
    """Controlled concordance of each Vts1 model with the lab, RBFOX1 as the wrong model."""
    y = table["log2_enrichment"].to_numpy()
    wrong = {LABELS[WRONG]: table[f"ace_{WRONG}"].to_numpy()}
    out = {}
    for strata_name, (strata, cov) in strata_definitions(list(table["kmer"])).items():
        for mid in models:
            out[(mid, strata_name)] = controlled_concordance(
                table[f"ace_{mid}"].to_numpy(),
                y,
                strata=strata,
                covariates=cov,
                baselines=wrong,
                name=LABELS[mid],
                strata_name=strata_name,
                n_resamples=n_resamples,
                n_permutations=n_permutations,
                rng=seed,
            )
    return out


def probe_concordance(
    data: Path = DATA,
    *,
    seed: int = 0,
    n_resamples: int = 99,
    n_permutations: int = 99,
    subsample: int | None = None,
) -> tuple[dict[str, ControlledConcordance], pd.DataFrame]:
    """DeepBind scores vs RNAcompete 2009 probe intensities, controlled for probe composition."""
    meas = read_measurements(
        data / "rnacompete2009_vts1" / PROBES, key="sequence", columns=["value", "sequence"]
    ).table
    if subsample is not None:
        meas = meas.sample(subsample, random_state=seed).reset_index(drop=True)
    seqs = list(meas["sequence"])
    scores = {
        mid: read_deepbind(data / "deepbind" / "params" / f"{mid}.txt").score(seqs)
        for mid in (*VTS1, WRONG)
    }
    comp = composition(seqs)
    deciles = pd.qcut(comp["gc_fraction"], 10, labels=False, duplicates="drop").to_numpy()
    cov = comp[["a", "c", "g"]].div(comp["length"], axis=0).assign(length=comp["length"])
    top = max(1, len(seqs) // 100)  # the top 1% of probes
    out = {}
    for mid in VTS1:
        out[mid] = controlled_concordance(
            scores[mid],
            meas["value"].to_numpy(),
            strata=deciles,
            covariates=cov,
            baselines={LABELS[WRONG]: scores[WRONG]},
            name=LABELS[mid],
            strata_name="probe GC decile",
            top_k=top,
            n_resamples=n_resamples,
            n_permutations=n_permutations,
            rng=seed,
        )
    probes = meas.assign(gc_fraction=comp["gc_fraction"], gc_decile=deciles)
    for mid, s in scores.items():
        probes[f"score_{mid}"] = s
    return out, probes


def run(
    n: int = 512,
    seed: int = 0,
    data: Path = DATA,
    *,
    probes: bool = True,
    n_resamples: int = 999,
    n_permutations: int = 999,
) -> dict[str, Any]:
    """Everything on the page: tables, concordances and the numbers (``numbers``)."""
    require(data)
    enrichment = lab_enrichment(data)
    screens = {mid: kmer_screen(mid, data, n=n, seed=seed) for mid in (*VTS1, WRONG)}
    table = kmer_table(enrichment, screens)
    conc = kmer_concordance(
        table, seed=seed, n_resamples=n_resamples, n_permutations=n_permutations
    )
    res: dict[str, Any] = {
        "enrichment": enrichment,
        "kmers": table,
        "concordance": conc,
        "split_half": split_half(data, seed=seed),
        "composition_lean": composition_lean(table),
        "read_gc": {
            name: float(np.isin(read_codes(data / "rnacompete_s_vts1" / f), (1, 2)).mean())
            for name, f in (("bound", BOUND), ("pool", POOL))
        },
        "ugcaug": lab_enrichment(data, k=6).to_frame().set_index("kmer").loc["UGCAUG"],
        "gcugg_occurrence": selection_enrichment(
            data / "rnacompete_s_vts1" / BOUND,
            data / "rnacompete_s_vts1" / POOL,
            k=K,
            counting="occurrence",
            interval="bootstrap",
            rng=seed,
        )
        .to_frame()
        .set_index("kmer")
        .loc["GCUGG"],
    }
    if probes and (data / "rnacompete2009_vts1" / PROBES).is_file():
        res["probes"], res["probe_table"] = probe_concordance(data, seed=seed)
    res["numbers"] = numbers(res, n=n, seed=seed)
    return res


def _stat(c: ControlledConcordance, model: str, statistic: str) -> dict[str, float | None]:
    """One statistic as JSON values: estimates to 4 decimals, p-values to 3 digits, NaN null."""
    row = c.table.set_index(["model", "statistic"]).loc[(model, statistic)]
    keys = ["estimate", "ci_low", "ci_high", "null_mean", "null_low", "null_high"]
    out: dict[str, float | None] = {k: round(float(row[k]), 4) for k in keys}
    out.update({k: float(f"{row[k]:.3g}") for k in ("p_value", "p_permutation")})
    return {k: None if v is None or np.isnan(v) else v for k, v in out.items()}


def numbers(res: dict[str, Any], *, n: int, seed: int) -> dict[str, Any]:
    """The numbers the page states, as JSON-ready values."""
    e = res["enrichment"].to_frame().set_index("kmer")
    g = e.loc["GCUGG"]
    u = res["ugcaug"]
    out: dict[str, Any] = {
        "design": {"n_backgrounds": n, "seed": seed, "k": K, "position": POSITION},
        "GCUGG": {
            "bound": f"{int(g['bound_count'])}/{int(g['bound_total'])}",
            "pool": f"{int(g['input_count'])}/{int(g['input_total'])}",
            "log2_enrichment": round(float(g["log2_enrichment"]), 3),
            "ci": [round(float(g["ci_low"]), 3), round(float(g["ci_high"]), 3)],
        },
        "UGCAUG": {
            "bound_freq": round(float(u["bound_freq"]), 4),
            "pool_freq": round(float(u["input_freq"]), 4),
            "log2_enrichment": round(float(u["log2_enrichment"]), 3),
            "ci": [round(float(u["ci_low"]), 3), round(float(u["ci_high"]), 3)],
        },
        "GCUGG_occurrence_bootstrap": {
            "log2_enrichment": round(float(res["gcugg_occurrence"]["log2_enrichment"]), 3),
            "ci": [
                round(float(res["gcugg_occurrence"]["ci_low"]), 3),
                round(float(res["gcugg_occurrence"]["ci_high"]), 3),
            ],
        },
        "kmers_q_below_0.05": int((e["q_value"] < 0.05).sum()),
        "read_gc": {k: round(v, 3) for k, v in res["read_gc"].items()},
        "split_half": res["split_half"].round(3).to_dict("records"),
        "composition_lean": res["composition_lean"].round(3).to_dict("records"),
        "kmers": {},
        "probes": {},
    }
    for (mid, strata), c in res["concordance"].items():
        entry = {
            "verdict": c.verdict,
            "survives": c.survives,
            "specific": c.specific,
        }
        for who in (LABELS[mid], LABELS[WRONG], f"{LABELS[mid]} - {LABELS[WRONG]}"):
            for stat in ("spearman", "stratified_spearman", "partial_spearman", "top_k_overlap"):
                if " - " in who and stat == "top_k_overlap":
                    continue
                entry[f"{who} | {stat}"] = _stat(c, who, stat)
        out["kmers"][f"{mid} | {strata}"] = entry
    for mid, c in res.get("probes", {}).items():
        entry = {"verdict": c.verdict, "survives": c.survives, "specific": c.specific}
        entry["top_k"] = c.top_k
        for who in (LABELS[mid], LABELS[WRONG]):
            for stat in ("spearman", "stratified_spearman", "partial_spearman", "top_k_overlap"):
                entry[f"{who} | {stat}"] = _stat(c, who, stat)
        out["probes"][mid] = entry
    return out


def write(res: dict[str, Any], out: Path) -> None:
    """Tables, numbers.json and the figures."""
    out.mkdir(parents=True, exist_ok=True)
    res["kmers"].to_csv(out / "kmers.csv", index=False)
    tables = [c.to_frame().assign(strata=strata) for (mid, strata), c in res["concordance"].items()]
    pd.concat(tables, ignore_index=True).to_csv(out / "concordance.csv", index=False)
    strata = [
        c.strata.assign(strata=s) for (mid, s), c in res["concordance"].items() if s == "GC count"
    ]
    pd.concat(strata, ignore_index=True).drop_duplicates(["model", "stratum"]).to_csv(
        out / "gc_strata.csv", index=False
    )
    if "probes" in res:
        probe_tables = [c.to_frame() for c in res["probes"].values()]
        pd.concat(probe_tables, ignore_index=True).drop_duplicates(["model", "statistic"]).to_csv(
            out / "probe_concordance.csv", index=False
        )
    (out / "numbers.json").write_text(json.dumps(res["numbers"], indent=1) + "\n")
    _figures(res, out)


def _figures(res: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = res["kmers"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4), sharey=True)
    for ax, mid in zip(axes, (*VTS1, WRONG), strict=True):
        sc = ax.scatter(t[f"ace_{mid}"], t["log2_enrichment"], c=t["gc_count"], s=8, cmap="viridis")
        top = t.nlargest(10, f"ace_{mid}")
        for _, r in top.iterrows():
            ax.annotate(r["kmer"], (r[f"ace_{mid}"], r["log2_enrichment"]), fontsize=6)
        ax.set_xlabel(f"in-silico ACE ({LABELS[mid]})")
        ax.set_title(LABELS[mid] + (" (wrong protein)" if mid == WRONG else ""))
    axes[0].set_ylabel("lab log2 enrichment (bound / pool reads)")
    fig.colorbar(sc, ax=axes, label="GC count of the 5-mer", shrink=0.8)
    fig.savefig(out / "kmers.png", dpi=110, bbox_inches="tight")
    plt.close(fig)

    rows = []
    for (mid, strata), c in res["concordance"].items():
        for who in (LABELS[mid], LABELS[WRONG]):
            for stat, label in _labels(strata):
                r = c.table.set_index(["model", "statistic"]).loc[(who, stat)]
                rows.append({"model": who, "what": label, **r.to_dict()})
    frame = pd.DataFrame(rows).drop_duplicates(["model", "what"])
    whats = list(dict.fromkeys(frame["what"]))
    models = [LABELS[m] for m in (*VTS1, WRONG)]
    panels = 2 if "probes" in res else 1
    fig, axes = plt.subplots(1, panels, figsize=(7 * panels, 4.2), squeeze=False)
    _forest(axes[0, 0], frame, whats, models, "RNAcompete-S 5-mers: ACE vs log2 enrichment")
    if "probes" in res:
        rows = []
        for c in res["probes"].values():
            for who in c.table["model"].unique():
                if " - " in who:
                    continue
                for stat, label in _labels("probe GC decile"):
                    r = c.table.set_index(["model", "statistic"]).loc[(who, stat)]
                    rows.append({"model": who, "what": label, **r.to_dict()})
        pf = pd.DataFrame(rows).drop_duplicates(["model", "what"])
        _forest(
            axes[0, 1],
            pf,
            list(dict.fromkeys(pf["what"])),
            models,
            "RNAcompete 2009 probes: score vs intensity",
        )
    fig.tight_layout()
    fig.savefig(out / "concordance.png", dpi=110)
    plt.close(fig)


def _labels(strata: str) -> list[tuple[str, str]]:
    return [
        ("spearman", "raw"),
        ("stratified_spearman", f"within {strata}"),
        ("partial_spearman", f"partial ({strata})"),
    ]


def _forest(ax: object, frame: pd.DataFrame, whats: list, models: list, title: str) -> None:
    """Estimates with 95% bootstrap intervals; grey: the within-strata permutation null."""
    width = 0.8 / len(models)
    for i, model in enumerate(models):
        sub = frame[frame["model"] == model].set_index("what").reindex(whats)
        y = np.arange(len(whats)) + (i - (len(models) - 1) / 2) * width
        ax.errorbar(
            sub["estimate"],
            y,
            xerr=[sub["estimate"] - sub["ci_low"], sub["ci_high"] - sub["estimate"]],
            fmt="o",
            capsize=2,
            label=model,
        )
        for yy, lo, hi in zip(y, sub["null_low"], sub["null_high"], strict=True):
            ax.plot([lo, hi], [yy, yy], color="0.7", lw=5, alpha=0.6, zorder=0)
    ax.axvline(0, color="0.5", lw=0.8)
    ax.set_yticks(np.arange(len(whats)), whats)
    ax.set_xlabel("Spearman (grey: composition alone, labels permuted within strata)")
    ax.set_title(title, fontsize=10)
    ax.legend(frameon=False, fontsize=7)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--no-probes", action="store_true")
    args = parser.parse_args()
    res = run(args.n, args.seed, probes=not args.no_probes)
    print(res["enrichment"].summary())
    print(res["split_half"].round(3).to_string(index=False))
    print(res["composition_lean"].round(3).to_string(index=False))
    for (mid, strata), c in res["concordance"].items():
        print(f"\n== 5-mers, {mid}, strata: {strata}")
        print(c.summary())
    for mid, c in res.get("probes", {}).items():
        print(f"\n== RNAcompete 2009 probes, {mid}")
        print(c.summary())
    if args.out is not None:
        write(res, args.out)


if __name__ == "__main__":
    main()
