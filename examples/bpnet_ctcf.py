"""CTCF on a real two-head BPNet (bpnet-lite, ENCODE CTCF ChIP-seq): count head, expected counts
in a window, profile shape, spacing, null motifs and the strand shift.

Model: ../shared/data/bpnet_ctcf/example_final_weights.npz loaded into
``bpnetlite.bpnet.BPNet(n_filters=64, n_layers=8, n_outputs=2, n_control_tracks=0,
trimming=557)`` (:func:`load_bpnet` checks that every array is used and every shape matches).
Input: one-hot (N, 4, 2114); outputs: profile logits (N, 2 strands, 1000) and natural-log total
counts (N, 1). The 1,000-bp output covers input positions 557..1556, so the input centre 1057 is
output position 500.

Backgrounds: iid uniform 2,114-nt DNA (``backgrounds.iid``). Paired designs (each background as
it is and under every arm); every motif is its consensus, centred on position 1057.

Main design: one ``simulate`` run of a model with 8 named output functionals
(``as_model(..., outputs=...)``), all computed from each forward pass:
- ``log_counts``: the count head, ``Output(head=1)``;
- ``lfc_<w>bp``: the log of the expected reads in a window of w = 10..1000 bp centred on the
  site, ``Output(head=0, counts_head=1, reduce="expected_counts", window=..., transform="log")``
  (its ICE is the log fold change of the window's predicted reads);
- ``shape``: ``ShapeChange(head=0, window=(0, 1000))``, per background the Jensen-Shannon distance
  between the do and control profiles (strand-summed joint softmax).
Its arms: CTCF (JASPAR MA0139.2 consensus) at the centre on either strand (``orientation``), the
other three JASPAR CTCF matrices (``ctcf_matrices``), 8 unrelated JASPAR matrices and 4
literature consensus sites (``unrelated``; BH q-values within output and experiment).

Spacing design: two CTCF sites (the second 0..200 nt after the first, either strand) vs one, on
the count head.

Strand shift: computed here, outside ``simulate`` (a mean profile curve is not a per-unit
functional): the mean control-subtracted per-strand probability profile and the offset of its
peak from the motif centre. The script also recomputes the ``shape`` ICE from the raw profiles
with :func:`~causalgia.engine.profiles.js_distance` as a check.

The model callable memoises its raw outputs by sequence (:class:`RawOutputs`), so the spacing
design's controls and single sites, and the strand-shift step, reuse the main run's passes.

Usage: python examples/bpnet_ctcf.py [--n 256] [--n-spacing 128] [--seed 0]
                                     [--out docs/experiments/bpnet_ctcf]
Needs ../shared/data beside the repository and bpnet-lite
(``pip install --no-deps bpnet-lite==1.1.0 tangermeme==1.6.0``); exits with a message otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import causalgia as cg
from causalgia import backgrounds as bgs
from causalgia.engine import Output, ShapeChange
from causalgia.engine.models import Model
from causalgia.engine.profiles import js_distance, profile_probability
from causalgia.experiment.designs import Arm, Design, design, sweep_positions, sweep_spacing
from causalgia.experiment.interventions import Substitute
from causalgia.lab.compare import ice_contrast
from causalgia.sequences.alphabet import one_hot
from causalgia.sequences.motifs import Motif, read_motifs
from causalgia.stats import paired_t

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
WEIGHTS = DATA / "bpnet_ctcf" / "example_final_weights.npz"
JASPAR = DATA / "jaspar2024_subset" / "motifs.jaspar"
LENGTH, PROFILE, TRIMMING = 2114, 1000, 557
CENTRE = LENGTH // 2  # input position 1057 = output position CENTRE - TRIMMING = 500
MIDDLE = CENTRE - TRIMMING
BATCH = 64
CTCF = "MA0139.2"
OTHER_CTCF = ("MA0531.2", "MA1929.2", "MA1930.2")
NULL_JASPAR = (
    "MA0035.5",  # GATA1
    "MA0037.5",  # Gata3
    "MA0039.5",  # KLF4
    "MA0142.1",  # Pou5f1::Sox2
    "MA0143.5",  # SOX2
    "MA1115.2",  # POU5F1
    "MA2339.1",  # Nanog
    "MA2388.1",  # GATA1
)
NULL_CONSENSUS = {  # literature consensus sites (not in the JASPAR subset)
    "AP-1": "TGACTCA",
    "ETS": "CCGGAAGT",
    "SP1": "GGGGCGGGG",
    "E-box": "CACGTG",
}
WINDOWS = (10, 50, 100, 250, 500, 1000)  # widths of the windows centred on output position 500
SPACINGS = (0, 2, 5, 10, 20, 50, 100, 200)
SHOWN = 300  # the strand-shift figure shows +-300 bp around the motif centre
COUNTS = Output(head=1)
NULL_JASPAR_LABEL = "GATA1 MA0035.5"  # the unrelated site the profile change is contrasted with


def require(data: Path = DATA) -> None:
    """Exit with a clear message when the shared data or bpnet-lite is missing."""
    for path in (data / "bpnet_ctcf" / WEIGHTS.name, data / "jaspar2024_subset" / JASPAR.name):
        if not path.is_file():
            sys.exit(f"this example needs the shared data folder ({data}); missing: {path}")
    try:
        import bpnetlite.bpnet  # noqa: F401
    except ImportError as err:
        sys.exit(
            f"this example needs bpnet-lite ({err}): pip install --no-deps "
            '"bpnet-lite==1.1.0" "tangermeme==1.6.0"'
        )


def state_names(n_layers: int) -> dict[str, str]:
    """bpnet-lite's state-dict names with their npz keys (``rconvs.0.weight``: rconv0_weight)."""
    names = {}
    for layer in ("iconv", "fconv", "linear"):
        for kind in ("weight", "bias"):
            names[f"{layer}.{kind}"] = f"{layer}_{kind}"
    for i in range(n_layers):
        for kind in ("weight", "bias"):
            names[f"rconvs.{i}.{kind}"] = f"rconv{i}_{kind}"
    return names


def load_bpnet(path: Path = WEIGHTS) -> Any:
    """The npz weights in a ``bpnetlite.bpnet.BPNet`` in eval mode, every array used once.

    The architecture is read from the arrays (filters, outputs) and the ``n_layers`` and
    ``trimming`` entries; a state-dict name without an array, an array without a name or a
    shape that differs raises a ``ValueError`` naming it.
    """
    import torch
    from bpnetlite.bpnet import BPNet

    with np.load(path) as npz:
        arrays = {key: npz[key] for key in npz.files}
    n_layers, trimming = int(arrays.pop("n_layers")), int(arrays.pop("trimming"))
    net = BPNet(
        n_filters=arrays["iconv_weight"].shape[0],
        n_layers=n_layers,
        n_outputs=arrays["fconv_weight"].shape[0],
        n_control_tracks=0,
        trimming=trimming,
        verbose=False,
    )
    names = state_names(n_layers)
    state = net.state_dict()
    if set(state) != set(names):
        raise ValueError(f"bpnet-lite's state dict {sorted(state)} != the expected {sorted(names)}")
    unused = sorted(set(arrays) - set(names.values()))
    if unused:
        raise ValueError(f"{path.name}: arrays {unused} have no place in the BPNet")
    for name, key in names.items():
        if key not in arrays:
            raise ValueError(f"{path.name}: no array {key!r} for {name}")
        if tuple(state[name].shape) != arrays[key].shape:
            want = tuple(state[name].shape)
            raise ValueError(f"{path.name}: {key} has shape {arrays[key].shape}, {name} {want}")
    net.load_state_dict({name: torch.from_numpy(arrays[key]) for name, key in names.items()})
    return net.eval()


class RawOutputs:
    """A model callable that memoises raw outputs (profile logits, log counts) by sequence.

    Runs of different output functionals on the same designs, and the profile analysis below,
    then share forward passes; ``passes`` counts the sequences actually run through ``fn``.
    """

    def __init__(self, fn: Callable[[np.ndarray], Any]) -> None:
        self.fn = fn
        self.memo: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}
        self.passes = 0

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.ascontiguousarray(x, dtype=np.float32)
        keys = [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in x]
        todo = [i for i, key in enumerate(keys) if key not in self.memo]
        for start in range(0, len(todo), BATCH):
            rows = todo[start : start + BATCH]
            profile, counts = self.fn(x[rows])
            self.passes += len(rows)
            for j, i in enumerate(rows):
                self.memo[keys[i]] = (profile[j], counts[j])
        return (
            np.stack([self.memo[k][0] for k in keys]),
            np.stack([self.memo[k][1] for k in keys]),
        )


def window_output(width: int | None) -> Output:
    """log expected counts in ``width`` bp centred on output position 500 (None: all 1,000)."""
    window = None if width is None else (MIDDLE - width // 2, MIDDLE + (width + 1) // 2)
    return Output(head=0, counts_head=1, reduce="expected_counts", window=window, transform="log")


def main_outputs() -> dict[str, Output | ShapeChange]:
    """The named output functionals of the main run (see the module docstring)."""
    outputs: dict[str, Output | ShapeChange] = {"log_counts": COUNTS}
    outputs.update({f"lfc_{w}bp": window_output(w) for w in WINDOWS})
    outputs["shape"] = ShapeChange(head=0, window=(0, PROFILE))
    return outputs


def as_bpnet_model(
    raw: Callable[[np.ndarray], Any],
    *,
    output: Output | None = None,
    outputs: dict[str, Output | ShapeChange] | None = None,
) -> Model:
    """The BPNet behind declared output functional(s) (NCL one-hot, 2,114 nt)."""
    return cg.as_model(
        raw,
        layout="NCL",
        output=output,
        outputs=outputs,
        name="bpnet_ctcf",
        length=LENGTH,
        batch_size=BATCH,
    )


def centred(width: int) -> int:
    """Start position that centres a motif of ``width`` on input position 1057."""
    return CENTRE - width // 2


def read_jaspar(data: Path = DATA) -> dict[str, Motif]:
    """The JASPAR 2024 subset by matrix id."""
    return {m.name: m for m in read_motifs(data / "jaspar2024_subset" / JASPAR.name)}


def consensus(motif: Motif, name: str) -> Motif:
    """The consensus of ``motif`` as a one-instance motif named ``name``."""
    return Motif.from_string(motif.consensus(), name=name)


def main_arms(jaspar: dict[str, Motif]) -> list[Arm]:
    """CTCF on either strand, the other CTCF matrices, and the null panel, all centred."""
    ctcf = consensus(jaspar[CTCF], "CTCF")
    pos = centred(ctcf.width)
    arms = [
        *sweep_positions(ctcf, [pos], strand="+", experiment="orientation"),
        *sweep_positions(ctcf, [pos], strand="-", experiment="orientation"),
    ]
    for mid in OTHER_CTCF:
        m = jaspar[mid]
        arms.append(
            Arm(
                f"CTCF {mid}",
                Substitute(m.consensus(), centred(m.width)),
                "ctcf_matrices",
                {"motif": mid, "factor": m.alt_name, "consensus": m.consensus()},
            )
        )
    nulls = [
        (mid, jaspar[mid].alt_name, jaspar[mid].consensus(), "JASPAR 2024") for mid in NULL_JASPAR
    ]
    nulls += [(name, name, site, "consensus") for name, site in NULL_CONSENSUS.items()]
    for mid, factor, site, source in nulls:
        label = f"{factor} {mid}" if source == "JASPAR 2024" else factor
        arms.append(
            Arm(
                label,
                Substitute(site, centred(len(site))),
                "unrelated",
                {"motif": mid, "factor": factor, "consensus": site, "source": source},
            )
        )
    return arms


def spacing_arms(jaspar: dict[str, Motif], spacings: Sequence[int] = SPACINGS) -> list[Arm]:
    """One CTCF site at the centre (``single``) and two sites, the second ``spacing`` nt after
    the end of the first, on either strand (``sweep_spacing``)."""
    ctcf = consensus(jaspar[CTCF], "CTCF")
    pos = centred(ctcf.width)
    single = sweep_positions(ctcf, [pos], strand="+", experiment="single")
    return single + sweep_spacing(ctcf, spacings, start=pos, orientations=("+", "-"))


def raw_outputs(raw: Callable[[np.ndarray], Any], d: Design, label: str | None) -> tuple:
    """Raw outputs of the design's backgrounds (``label=None``) or of one arm's do sequences:
    the very sequences ``simulate`` scores (the same keyed draws)."""
    ids = d.background_ids
    codes = d.background.generate(ids, d.seed)
    if label is not None:
        arm = next(a for a in d.arms if a.label == label)
        codes = arm.intervention.apply_keyed(codes, arm.keys(d.seed, ids))
    profile, counts = raw(one_hot(codes, "NCL"))
    return np.asarray(profile, dtype=np.float64), np.asarray(counts, dtype=np.float64)


def strand_deltas(raw: Callable[[np.ndarray], Any], d: Design, label: str) -> np.ndarray:
    """do - control per-strand profile probabilities of one arm, (backgrounds, strands, positions)
    (a softmax over positions within each strand)."""
    control = profile_probability(raw_outputs(raw, d, None)[0], strands="each")
    return profile_probability(raw_outputs(raw, d, label)[0], strands="each") - control


def shape_check(
    raw: Callable[[np.ndarray], Any], d: Design, label: str, ice: pd.DataFrame
) -> float:
    """Largest difference between simulate's ``shape`` ICEs of one arm and js_distance of the
    raw profiles recomputed here (strand-summed joint softmax, as ShapeChange)."""
    control = profile_probability(raw_outputs(raw, d, None)[0])
    js = js_distance(profile_probability(raw_outputs(raw, d, label)[0]), control)
    rows = ice[(ice["output"] == "shape") & (ice["label"] == label)]
    return float(np.abs(rows.sort_values("background_id")["ice"].to_numpy() - js).max())


def peak_offsets(delta: np.ndarray, *, seed: int, resamples: int = 1000) -> pd.DataFrame:
    """The offset of the peak of the mean control-subtracted profile from the motif centre, per
    strand, with a 95% percentile bootstrap interval over backgrounds."""
    lo, hi = MIDDLE - SHOWN, MIDDLE + SHOWN + 1
    part = delta[:, :, lo:hi]
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(part), size=(resamples, len(part)))
    rows = []
    for strand, name in enumerate(("+", "-")):
        values = part[:, strand, :]
        best = int(np.argmax(values.mean(axis=0))) - SHOWN
        boot = np.array([np.argmax(values[p].mean(axis=0)) - SHOWN for p in picks])
        low, high = np.percentile(boot, [2.5, 97.5])
        rows.append(
            {
                "strand": name,
                "peak_offset": best,
                "ci_low": int(low),
                "ci_high": int(high),
                "peak_delta": float(values.mean(axis=0).max()),
            }
        )
    return pd.DataFrame(rows)


def excess_over_additive(ice: pd.DataFrame, single: str) -> pd.DataFrame:
    """Per spacing arm: ICE(pair) - log(2 exp(ICE(single)) - 1), paired per background.

    If each site added the reads one site adds (c1 - c0, counts c = exp(f)) independently,
    two sites would give 2 c1 - c0 reads, a log fold change of log(2 exp(ICE1) - 1); the excess
    is > 0 when the pair does better than that (it assumes the second site alone would act as
    the first does, both within 220 bp of the centre of the count head's 1,074-bp window).
    """
    wide = ice.pivot(index="background_id", columns="label", values="ice")
    additive = np.log(2 * np.exp(wide[single]) - 1)
    rows = []
    for label in wide.columns.drop(single):
        rows.append({"label": label, **paired_t((wide[label] - additive).to_numpy())})
    out = pd.DataFrame(rows).rename(columns={"ace": "excess"})
    params = ice.drop_duplicates("label").set_index("label")[["spacing", "orientation"]]
    return out.join(params, on="label").sort_values(["orientation", "spacing"], ignore_index=True)


def run(
    n: int = 256,
    n_spacing: int = 128,
    seed: int = 0,
    out: Path | None = None,
    figures: bool = True,
    data: Path = DATA,
) -> dict[str, Any]:
    """All experiments; writes tables, numbers.json and figures to ``out`` when given."""
    start = time.perf_counter()
    from causalgia.engine.adapters import torch_model

    jaspar = read_jaspar(data)
    raw = RawOutputs(torch_model(load_bpnet(data / "bpnet_ctcf" / WEIGHTS.name), layout="NCL").fn)
    background = bgs.iid(LENGTH)
    main = design(background, main_arms(jaspar), n=n, rng=seed)
    result = cg.simulate(as_bpnet_model(raw, outputs=main_outputs()), main, progress=False)
    ice = result.table
    ace = cg.estimate_ace(result).to_frame()

    spacing = design(background, spacing_arms(jaspar), n=n_spacing, rng=seed)
    spacing_result = cg.simulate(as_bpnet_model(raw, output=COUNTS), spacing, progress=False)
    spacing_ace = cg.estimate_ace(spacing_result).to_frame()
    single = float(spacing_ace.loc[spacing_ace["experiment"] == "single", "ace"].iloc[0])
    excess = excess_over_additive(spacing_result.table, spacing.arms[0].label)

    plus, minus = (a.label for a in main.arms[:2])
    shape = ice[ice["output"] == "shape"]
    contrast = ice_contrast(shape, {plus: 1, NULL_JASPAR_LABEL: -1}, name=f"{plus} - GATA1")
    deltas = {label: strand_deltas(raw, main, label) for label in (plus, minus)}
    peaks = pd.concat(
        [peak_offsets(deltas[lab], seed=seed).assign(label=lab) for lab in (plus, minus)],
        ignore_index=True,
    )
    check = max(shape_check(raw, main, label, ice) for label in (plus, NULL_JASPAR_LABEL))
    seconds = time.perf_counter() - start
    numbers = _numbers(ace, spacing_ace, excess, contrast, peaks, single)
    numbers.update(
        shape_check_max_abs_diff=check,
        n=n,
        n_spacing=n_spacing,
        seed=seed,
        forward_passes=raw.passes,
        passes_requested=main.n_forward + spacing.n_forward,
        runtime_s=round(seconds, 1),
    )
    tables = {
        "ace": ace,
        "spacing": spacing_ace,
        "excess": excess,
        "shape_contrast": contrast,
        "peaks": peaks,
        "numbers": numbers,
        "ice": ice,
    }
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        ace.to_csv(out / "ace.csv", index=False)
        spacing_ace.to_csv(out / "spacing.csv", index=False)
        excess.to_csv(out / "spacing_excess.csv", index=False)
        peaks.to_csv(out / "peaks.csv", index=False)
        (out / "numbers.json").write_text(json.dumps(numbers, indent=2) + "\n")
        if figures:
            _figures(tables, deltas, (plus, minus), out)
    return tables


def _row(table: pd.DataFrame, experiment: str, label: str, output: str = "log_counts") -> dict:
    pick = table[
        (table["experiment"] == experiment)
        & (table["label"] == label)
        & (table["output"] == output)
    ]
    row = pick.iloc[0]
    return {k: round(float(row[k]), 4) for k in ("ace", "ci_low", "ci_high")}


def _numbers(ace, spacing, excess, contrast, peaks, single) -> dict[str, Any]:
    plus, minus = ace.loc[ace["experiment"] == "orientation", "label"].iloc[:2]
    out: dict[str, Any] = {
        "counts_plus": _row(ace, "orientation", plus),
        "counts_minus": _row(ace, "orientation", minus),
    }
    for width in WINDOWS:
        out[f"window{width}_plus"] = _row(ace, "orientation", plus, f"lfc_{width}bp")
    out["shape_plus"] = _row(ace, "orientation", plus, "shape")
    out["shape_minus"] = _row(ace, "orientation", minus, "shape")
    unrelated = ace[ace["experiment"] == "unrelated"]
    counts = unrelated[unrelated["output"] == "log_counts"]
    out["unrelated_counts_max_abs_ace"] = round(float(counts["ace"].abs().max()), 4)
    out["unrelated_counts_q_below_0.05"] = int((counts["q_value"] < 0.05).sum())
    lfc = unrelated[unrelated["output"] == "lfc_100bp"]
    out["unrelated_lfc100_max_abs_ace"] = round(float(lfc["ace"].abs().max()), 4)
    shape = unrelated[unrelated["output"] == "shape"]
    out["unrelated_shape_range"] = [
        round(float(shape["ace"].min()), 4),
        round(float(shape["ace"].max()), 4),
    ]
    row = contrast.iloc[0]
    out["shape_contrast"] = {k: round(float(row[k]), 4) for k in ("estimate", "ci_low", "ci_high")}
    sp = spacing[spacing["experiment"] == "spacing"]
    out["single"] = round(single, 4)
    out["pair_range"] = [round(float(sp["ace"].min()), 4), round(float(sp["ace"].max()), 4)]
    out["additive_in_reads"] = round(float(np.log(2 * np.exp(single) - 1)), 4)
    out["excess"] = {
        r.label: [round(float(r.excess), 4), round(float(r.ci_low), 4), round(float(r.ci_high), 4)]
        for r in excess.itertuples()
    }
    out["peaks"] = peaks.to_dict(orient="records")
    return out


def _figures(result: dict[str, Any], deltas: dict[str, np.ndarray], labels, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from causalgia.reporting.plot import plot_effect_curve, plot_forest

    # strand shift: mean control-subtracted per-strand probability, +-SHOWN bp
    x = np.arange(-SHOWN, SHOWN + 1)
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), sharey=True)
    peaks = result["peaks"]
    for ax, label in zip(axes, labels, strict=True):
        part = deltas[label][:, :, MIDDLE - SHOWN : MIDDLE + SHOWN + 1]
        mean = part.mean(axis=0)
        half = 1.96 * part.std(axis=0, ddof=1) / np.sqrt(len(part))
        for strand, (name, color) in enumerate((("+ strand", "C0"), ("- strand", "C3"))):
            ax.plot(x, mean[strand], color=color, lw=1.2, label=name)
            ax.fill_between(x, mean[strand] - half[strand], mean[strand] + half[strand],
                            color=color, alpha=0.25, lw=0)  # fmt: skip
            row = peaks[(peaks["label"] == label) & (peaks["strand"] == name[0])].iloc[0]
            ax.axvline(row["peak_offset"], color=color, ls=":", lw=1)
        ax.axvline(0, color="0.4", lw=0.8, ls="--")
        ax.axhline(0, color="0.4", lw=0.8)
        ax.set_title(f"motif {label}")
        ax.set_xlabel("position relative to the motif centre (bp)")
        ax.legend(frameon=False, fontsize="small")
    axes[0].set_ylabel("do - control probability per bp")
    fig.tight_layout()
    fig.savefig(out / "strand_shift.png", dpi=110)
    plt.close(fig)

    # window width and spacing
    ace = result["ace"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
    rows = ace[(ace["experiment"] == "orientation") & ace["output"].str.startswith("lfc_")].copy()
    rows["window_bp"] = rows["output"].str.extract(r"(\d+)bp")[0].astype(int)
    rows["strand"] = rows["label"].str[-1]
    plot_effect_curve(rows, x="window_bp", hue="strand", ax=axes[0],
                      title="log fold change of expected counts in a centred window")  # fmt: skip
    counts = ace[(ace["experiment"] == "orientation") & (ace["output"] == "log_counts")]
    axes[0].axhline(counts["ace"].mean(), color="k", ls=":", lw=1, label="count head")
    axes[0].set_xscale("log")
    axes[0].set_xlabel("window width (bp)")
    axes[0].legend(frameon=False, fontsize="small")
    sp = result["spacing"]
    plot_effect_curve(sp, x="spacing", experiment="spacing", hue="orientation", ax=axes[1],
                      title="two CTCF sites: gap (nt) and strand of the second")  # fmt: skip
    one = float(sp.loc[sp["experiment"] == "single", "ace"].iloc[0])
    axes[1].axhline(one, color="0.3", ls="-.", lw=1, label="one site")
    axes[1].axhline(np.log(2 * np.exp(one) - 1), color="k", ls="--", lw=1,
                    label="additive in reads")  # fmt: skip
    axes[1].set_xscale("symlog", linthresh=2)
    axes[1].set_xlim(0, 220)
    axes[1].set_xticks(list(SPACINGS), [str(g) for g in SPACINGS])
    axes[1].set_xlabel("gap between the two sites (nt)")
    axes[1].legend(frameon=False, fontsize="small", loc="lower right")
    fig.tight_layout()
    fig.savefig(out / "windows_spacing.png", dpi=110)
    plt.close(fig)

    counts = ace[ace["output"] == "log_counts"]
    ctcf = counts[counts["experiment"].isin(["orientation", "ctcf_matrices"])]
    nulls = counts[counts["experiment"] == "unrelated"]
    fig, axes = plt.subplots(
        1, 2, figsize=(12, 0.3 * len(nulls) + 1.6), gridspec_kw={"width_ratios": [1, 1.2]}
    )
    plot_forest(ctcf, ax=axes[0], title="CTCF matrices (consensus), count head")
    plot_forest(nulls, ax=axes[1], title="unrelated motifs, count head (shaded: |ACE| < 0.02)")
    axes[1].axvspan(-0.02, 0.02, color="0.9", zorder=-1)
    axes[1].set_xlim(-0.03, 0.03)
    fig.tight_layout()
    fig.savefig(out / "forest.png", dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=256, help="backgrounds of the main design")
    parser.add_argument("--n-spacing", type=int, default=128, help="backgrounds, spacing design")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    require()
    result = run(args.n, args.n_spacing, args.seed, args.out)
    cols = ["output", "experiment", "label", "ace", "ci_low", "ci_high", "q_value"]
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(result["ace"][cols].round(4).to_string(index=False))
        print()
        print(
            result["spacing"][["label", "ace", "ci_low", "ci_high"]].round(4).to_string(index=False)
        )
        print()
        print(result["excess"].round(4).to_string(index=False))
        print()
        print(result["shape_contrast"].round(4).to_string(index=False))
        print()
        print(result["peaks"].to_string(index=False))
    print(
        json.dumps(
            {k: result["numbers"][k] for k in ("forward_passes", "passes_requested", "runtime_s")}
        )
    )


if __name__ == "__main__":
    main()
