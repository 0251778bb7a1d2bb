"""The seed's RBFOX1 experiments on the real DeepBind RBFOX1 model (D00210.001, RNCMPT00168).

Backgrounds: 41-nt iid uniform RNA (the RNAcompete probe length). Paired design: every background
is scored as it is and under every arm, so each effect is a mean of per-background ICEs with a
paired t interval (causalgia.estimate_ace) and contrasts between arms are paired too.

Experiments
- count:     1, 2, 3 copies of UGCAUG at 4, 17, 30, and the additivity test ACE(k) - k·ACE(1);
- spacing:   two copies, the second 0..20 nt after the first (first at 5);
- position:  one copy at every position 0..35;
- control:   the consensus at 17 vs a mutated motif (UGAAAG) and a scrambled motif at 17;
- gc_bias:   the 3' GC control of the GIA paper: GCGCGC at the 3' end (35) alone, with the motif
             at 17, and the motif alone; the interaction (both - motif - GC) is reported.

Usage: python examples/rbfox1_deepbind.py [--n 2000] [--seed 0] [--out docs/experiments/rbfox1]
Needs ../shared/data/deepbind beside the repository (or --params PATH).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

import causalgia as cg
from causalgia import backgrounds as bgs
from causalgia.engine.deepbind import read_deepbind
from causalgia.experiment.designs import Arm, design, sweep_counts, sweep_positions, sweep_spacing
from causalgia.experiment.interventions import Compose, Substitute
from causalgia.lab.compare import ice_contrast
from causalgia.sequences.motifs import as_motif

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PARAMS = DATA / "deepbind" / "params" / "D00210.001.txt"
MOTIF, MUTATED, GC = "UGCAUG", "UGAAAG", "GCGCGC"
LENGTH = 41


def build_arms(seed: int) -> list[Arm]:
    """Every arm of the RBFOX1 study."""
    arms = sweep_counts(MOTIF, [1, 2, 3], positions=[4, 17, 30], experiment="count")
    arms += sweep_spacing(MOTIF, list(range(0, 21)), start=5, experiment="spacing")
    arms += sweep_positions(MOTIF, list(range(0, LENGTH - 6 + 1)), experiment="position")
    scrambled = as_motif(MOTIF, "rna").scramble(rng=seed)
    arms += [
        Arm(f"{MOTIF}@17", Substitute(MOTIF, 17), "control", {"motif": MOTIF}),
        Arm(f"mutated {MUTATED}@17", Substitute(MUTATED, 17), "control", {"motif": MUTATED}),
        Arm(
            f"scrambled {scrambled.consensus()}@17",
            Substitute(scrambled, 17),
            "control",
            {"motif": scrambled.consensus()},
        ),
        Arm(f"{MOTIF}@17", Substitute(MOTIF, 17), "gc_bias"),
        Arm(f"{GC}@35", Substitute(GC, 35), "gc_bias"),
        Arm(
            f"{MOTIF}@17+{GC}@35",
            Compose((Substitute(MOTIF, 17), Substitute(GC, 35))),
            "gc_bias",
        ),
    ]
    return arms


def run(
    n: int = 2000,
    seed: int = 0,
    params: Path = PARAMS,
    out: Path | None = None,
    figures: bool = True,
) -> dict[str, pd.DataFrame]:
    """Simulate, estimate and (optionally) write tables and figures; returns the tables."""
    model = cg.as_model(read_deepbind(params))
    d = design(bgs.iid(LENGTH, alphabet="rna"), build_arms(seed), n=n, rng=seed)
    result = cg.simulate(model, d, progress=False)
    ice = result.table
    ace = cg.estimate_ace(result).to_frame()
    count = ice[ice["experiment"] == "count"]
    contrasts = pd.concat(
        [
            ice_contrast(
                count, {f"{MOTIF}x{k}": 1, f"{MOTIF}x1": -k}, name=f"ACE({k}) - {k}·ACE(1)"
            )
            for k in (2, 3)
        ]
        + [
            ice_contrast(
                ice,
                {f"{MOTIF}@17": 1, f"mutated {MUTATED}@17": -1},
                experiment="control",
                name="consensus - mutated",
            ),
            ice_contrast(
                ice,
                {f"{MOTIF}@17+{GC}@35": 1, f"{MOTIF}@17": -1, f"{GC}@35": -1},
                experiment="gc_bias",
                name="GC x motif interaction",
            ),
        ],
        ignore_index=True,
    )
    tables = {"ace": ace, "contrasts": contrasts}
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        ace.to_csv(out / "ace.csv", index=False)
        contrasts.to_csv(out / "contrasts.csv", index=False)
        if figures:
            _figures(ace, out)
    return tables


def _figures(ace: pd.DataFrame, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from causalgia.reporting.plot import plot_effect_curve, plot_forest

    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    cnt = ace[ace["experiment"] == "count"]
    one = float(cnt.loc[cnt["count"] == 1, "ace"].iloc[0])
    plot_effect_curve(cnt, x="count", ax=axes[0])
    axes[0].plot([1, 2, 3], [one, 2 * one, 3 * one], "k--", lw=1, label="additive k·ACE(1)")
    axes[0].legend(frameon=False)
    axes[0].set_title("copies of UGCAUG")
    plot_effect_curve(ace, x="spacing", experiment="spacing", ax=axes[1])
    axes[1].set_title("two copies: gap (nt)")
    plot_effect_curve(ace, x="position", experiment="position", ax=axes[2])
    axes[2].set_title("one copy: position")
    fig.tight_layout()
    fig.savefig(out / "curves.png", dpi=110)
    plt.close(fig)
    ctrl = ace[ace["experiment"].isin(["control", "gc_bias"])]
    ax = plot_forest(ctrl)
    ax.figure.tight_layout()
    ax.figure.savefig(out / "controls.png", dpi=110)
    plt.close(ax.figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="backgrounds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--params", type=Path, default=PARAMS)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    tables = run(args.n, args.seed, args.params, args.out)
    cols = ["experiment", "label", "ace", "ci_low", "ci_high", "p_value"]
    ace = tables["ace"]
    keep = ace["experiment"].isin(["count", "control", "gc_bias"])
    with pd.option_context("display.width", 140, "display.max_columns", 20):
        print(ace.loc[keep, cols].round(4).to_string(index=False))
        print()
        print(tables["contrasts"].round(4).to_string(index=False))


if __name__ == "__main__":
    main()
