"""Vts1p: GCUGG in a hairpin loop vs in a stem vs unstructured, in silico and in the wet lab.

In silico (DeepBind Vts1p D00162.002 = RNCMPT00111 and D00162.001 = RNCMPT00082): 41-nt iid RNA
backgrounds; a paired design with four arms built by causalgia.experiment.hairpin.Hairpin at
position 8 (stem 6 nt, loop 7 nt, random GC-rich stems drawn per background):
  loop          stems + GCUGG centred in the loop
  stem          stems with GCUGG inside the left stem (paired with its complement)
  unstructured  GCUGG alone at the loop position (no stems)
  hairpin_only  the stems alone (no motif)
Paired contrasts (loop - unstructured, loop - stem) come from the ICE table. When ViennaRNA is
installed, 300 designed sequences per arm are folded and the fraction with the intended MFE
structure is reported.

Wet lab (RNAcompete 2009 Vts1 probes, an experiment independent of the models' training data):
the probes with exactly one GCUGG are folded with ViennaRNA and grouped by where the motif sits
(hairpin loop / mostly paired); measured intensities and model scores are compared between the
groups, and model scores are correlated with all probe intensities (causalgia.lab.compare).

Usage: python examples/vts1_hairpin.py [--n 2000] [--seed 0] [--out docs/experiments/vts1]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

import causalgia as cg
from causalgia import backgrounds as bgs
from causalgia.engine.deepbind import read_deepbind
from causalgia.experiment.designs import Arm, design
from causalgia.experiment.hairpin import CONTEXTS, Hairpin, fold_check, has_viennarna
from causalgia.lab.compare import (
    compare_groups,
    concordance,
    ice_contrast,
    probe_contexts,
    read_measurements,
)

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
MODELS = ("D00162.002", "D00162.001")
MOTIF, START, STEM, LOOP, LENGTH = "GCUGG", 8, 6, 7, 41
PROBES = DATA / "rnacompete2009_vts1" / "VTS1_data_full_AB.txt.gz"


def hairpin_arms() -> list[Arm]:
    """The four structural-context arms."""
    return [
        Arm(
            ctx,
            Hairpin(MOTIF, START, ctx, stem_length=STEM, loop_length=LOOP),
            "hairpin",
            {"context": ctx},
        )
        for ctx in CONTEXTS
    ]


def in_silico(
    n: int = 2000, seed: int = 0, data: Path = DATA, fold_n: int = 300
) -> dict[str, pd.DataFrame]:
    """ACE per context and model, paired contrasts, and the folding check."""
    d = design(bgs.iid(LENGTH, alphabet="rna"), hairpin_arms(), n=n, rng=seed)
    aces, contrasts = [], []
    for mid in MODELS:
        model = cg.as_model(read_deepbind(data / "deepbind" / "params" / f"{mid}.txt"))
        result = cg.simulate(model, d, progress=False)
        ace = cg.estimate_ace(result).to_frame()
        ace.insert(0, "model", mid)
        aces.append(ace)
        for other in ("unstructured", "stem", "hairpin_only"):
            c = ice_contrast(result.table, {"loop": 1, other: -1})
            c.insert(0, "model", mid)
            contrasts.append(c)
    tables = {"ace": pd.concat(aces, ignore_index=True)}
    tables["contrasts"] = pd.concat(contrasts, ignore_index=True)
    if has_viennarna() and fold_n:
        ids = np.arange(min(fold_n, n))
        bg = d.background.generate(ids, d.seed)
        checks = []
        for arm in d.arms:
            fc = fold_check(
                arm.intervention.apply_keyed(bg, arm.keys(d.seed, ids)),
                arm.intervention,
                label=arm.label,
                background_ids=ids,
            )
            checks.append(fc.fractions())
        tables["fold_check"] = pd.concat(checks, ignore_index=True)
    return tables


def wet_lab(data: Path = DATA, n_resamples: int = 999, seed: int = 0) -> dict[str, pd.DataFrame]:
    """Probe intensities by motif context, and model-score concordance with all probes."""
    meas = read_measurements(
        data / "rnacompete2009_vts1" / PROBES.name, key="sequence", columns=["value", "sequence"]
    )
    probes = meas.table
    ctx = probe_contexts(list(probes["sequence"]), MOTIF)
    ctx["intensity"] = probes["value"].to_numpy()[ctx["index"]]
    groups, conc = [], []
    for mid in MODELS:
        model = read_deepbind(data / "deepbind" / "params" / f"{mid}.txt")
        ctx[f"score_{mid}"] = model.score(list(ctx["sequence"]))
        g = compare_groups(
            ctx[f"score_{mid}"].to_numpy(), list(ctx["context"]), a="hairpin_loop", b="paired"
        )
        g.insert(0, "quantity", f"model score {mid}")
        groups.append(g)
        scores = model.score(list(probes["sequence"]))
        c = concordance(scores, probes["value"].to_numpy(), n_resamples=n_resamples, rng=seed)
        t = c.to_frame()
        t.insert(0, "model", mid)
        conc.append(t)
    g = compare_groups(
        ctx["intensity"].to_numpy(), list(ctx["context"]), a="hairpin_loop", b="paired"
    )
    g.insert(0, "quantity", "measured intensity")
    groups.insert(0, g)
    counts = ctx["context"].value_counts().rename_axis("context").reset_index(name="n_probes")
    return {
        "probe_groups": pd.concat(groups, ignore_index=True),
        "probe_contexts": counts,
        "probes": ctx,
        "concordance": pd.concat(conc, ignore_index=True),
    }


def _figures(tables: dict[str, pd.DataFrame], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ace = tables["ace"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    width = 0.38
    for i, mid in enumerate(MODELS):
        sub = ace[ace["model"] == mid].set_index("label").loc[list(CONTEXTS)]
        x = np.arange(len(CONTEXTS)) + (i - 0.5) * width
        err = [sub["ace"] - sub["ci_low"], sub["ci_high"] - sub["ace"]]
        axes[0].bar(x, sub["ace"], width, yerr=err, capsize=3, label=mid)
    axes[0].set_xticks(np.arange(len(CONTEXTS)), CONTEXTS)
    axes[0].set_ylabel("ACE (DeepBind score)")
    axes[0].set_title("in silico: GCUGG context (95% CI)")
    axes[0].legend(frameon=False)
    if "probes" in tables:
        probes = tables["probes"]
        keep = ["hairpin_loop", "paired", "mixed", "unpaired"]
        data = [probes.loc[probes["context"] == k, "intensity"] for k in keep]
        axes[1].boxplot(data, showfliers=False)
        axes[1].set_xticks(
            range(1, len(keep) + 1), [f"{k}\n(n={len(v)})" for k, v in zip(keep, data, strict=True)]
        )
        axes[1].set_ylabel("measured intensity (RNAcompete 2009)")
        axes[1].set_title("wet lab: probes with one GCUGG, by MFE context")
    fig.tight_layout()
    fig.savefig(out / "contexts.png", dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--no-wet-lab", action="store_true")
    args = parser.parse_args()
    tables = in_silico(args.n, args.seed)
    if not args.no_wet_lab:
        if has_viennarna():
            tables.update(wet_lab(seed=args.seed))
        else:
            print("ViennaRNA is not installed (pip install 'causalgia[rna]'): skipping the probes")
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        for name, table in tables.items():
            if name != "probes":
                print(f"\n== {name}")
                print(table.round(4).to_string(index=False))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        for name, table in tables.items():
            if name != "probes":
                table.to_csv(args.out / f"{name}.csv", index=False)
        _figures(tables, args.out)


if __name__ == "__main__":
    main()
