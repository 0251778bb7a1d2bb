"""Render the raw results of :func:`causalgia.validation.run_validation` as Markdown.

Kept apart from the studies so that the report can be re-rendered from the raw JSON alone
(``causalgia validate --from-raw docs/validation.json``).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

LOW, HIGH = 0.94, 0.96
ESTIMATORS = {
    "paired_t": "paired t",
    "bootstrap_bca": "BCa bootstrap",
    "cluster_robust": "cluster-robust (pooled over 3 positions)",
    "pooled_iid_wrong": "pooled, units treated as independent (wrong)",
}


def _cell(value: float, mcse: float, flag: bool = True) -> str:
    miss = flag and (value + 2 * mcse < LOW or value - 2 * mcse > HIGH)
    return f"{value:.3f} ± {mcse:.3f}{' †' if miss else ''}"


def _table(frame: pd.DataFrame) -> str:
    head = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(map(str, row)) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def _coverage_tables(raw: dict[str, Any]) -> tuple[str, str]:
    cov = pd.DataFrame(raw["coverage"])
    ns = sorted(cov["n"].unique())
    cover_rows, width_rows = [], []
    for regime in cov["regime"].unique():
        for est, name in ESTIMATORS.items():
            sub = cov[(cov["regime"] == regime) & (cov["estimator"] == est)].set_index("n")
            if sub.empty:
                continue
            flag = est != "pooled_iid_wrong"
            cover_rows.append(
                [regime, name]
                + [_cell(sub.loc[n, "coverage"], sub.loc[n, "mcse"], flag) for n in ns]
            )
            width_rows.append([regime, name] + [f"{sub.loc[n, 'width_ratio']:.3f}" for n in ns])
    cols = ["regime", "estimator", *[f"n = {n}" for n in ns]]
    return _table(pd.DataFrame(cover_rows, columns=cols)), _table(
        pd.DataFrame(width_rows, columns=cols)
    )


def _headline(raw: dict[str, Any]) -> list[str]:
    cov = pd.DataFrame(raw.get("coverage", []), columns=["regime", "estimator", "n", "coverage"])
    lines = []
    t = cov[(cov["estimator"] == "paired_t") & (cov["n"] >= 30)]
    light = t[t["regime"] != "heavy_tailed"]
    if not light.empty:
        lines.append(
            f"Paired t 95% intervals cover the true ACE {light['coverage'].min():.3f}–"
            f"{light['coverage'].max():.3f} of the time (homogeneous and heterogeneous ICEs, "
            f"n ≥ 30, R = {raw['config']['reps']:,})."
        )
    heavy = cov[(cov["regime"] == "heavy_tailed") & (cov["estimator"] == "paired_t")]
    if not heavy.empty:
        parts = ", ".join(f"{r.coverage:.3f} at n = {r.n}" for r in heavy.itertuples())
        lines.append(f"Heavy-tailed ICEs: paired t coverage {parts}.")
    light_cov = cov[cov["regime"] != "heavy_tailed"]
    cl = light_cov[light_cov["estimator"] == "cluster_robust"]
    wrong = cov[(cov["estimator"] == "pooled_iid_wrong") & (cov["regime"] == "homogeneous")]
    if not cl.empty:
        text = (
            f"Cluster-robust intervals for an effect pooled over several positions per "
            f"background: {cl['coverage'].min():.3f}–{cl['coverage'].max():.3f} (light-tailed "
            "ICEs, every n)"
        )
        if not wrong.empty:
            text += (
                f"; treating the correlated positions as independent units gives "
                f"{wrong['coverage'].min():.3f}–{wrong['coverage'].max():.3f}"
            )
        lines.append(text + ".")
    t1 = pd.DataFrame(raw.get("type_one", []))
    if not t1.empty:
        tt = t1[t1["test"] == "paired_t"]
        lines.append(
            f"Type-I error at α = 0.05 of negative and placebo controls (paired t): "
            f"{tt['rejection_rate'].min():.3f}–{tt['rejection_rate'].max():.3f}."
        )
    fdr = pd.DataFrame(raw.get("fdr", []))
    if not fdr.empty:
        bh = fdr[(fdr["method"] == "fdr_bh") & (fdr["q"] == 0.05)].iloc[0]
        lines.append(f"BH at q = 0.05 realises FDR {bh['fdr']:.3f} ± {bh['mcse']:.3f}.")
    pu = pd.DataFrame(raw.get("paired_unpaired", []))
    if not pu.empty:
        lines.append(
            f"Unpaired (Welch) designs need {pu['analytic_ratio'].min():.1f}–"
            f"{pu['analytic_ratio'].max():.1f}× the forward passes of paired designs for the "
            "same interval width."
        )
    seq = pd.DataFrame(raw.get("sequential", []))
    if not seq.empty:
        panel = seq[seq["regime"] == "mixed_panel"]
        text = (
            f"Sequential confidence sequences cover {seq['coverage'].min():.3f}–"
            f"{seq['coverage'].max():.3f} at the stopping round"
        )
        if not panel.empty:
            text += (
                f"; on a mixed panel they save {100 * panel['saved_fraction'].iloc[0]:.0f}% of "
                "the forward passes of the fixed design of equal width"
            )
        lines.append(text + ".")
    con = pd.DataFrame(raw.get("contrasts", []))
    if not con.empty:
        planted = con[con["oracle"] == "planted"]["rejection_rate"]
        null = con[con["oracle"] == "null"]["rejection_rate"]
        lines.append(
            f"Contrast tests detect the planted interaction, saturation, close-spacing penalty "
            f"and helical periodicity in {planted.min():.2f}–{planted.max():.2f} of runs and "
            f"fire on the oracle without them in {null.min():.2f}–{null.max():.2f}."
        )
    return lines


def render_markdown(raw: dict[str, Any], digest: str, *, raw_name: str = "validation.json") -> str:
    """The validation report in Markdown, from the raw results and their SHA-256.

    Examples
    --------
    >>> text = render_markdown({"config": {"reps": 1, "mode": "test"}, "versions": {},
    ...                         "coverage": [], "type_one": [], "power": [], "fdr": [],
    ...                         "paired_unpaired": [], "sequential": [], "contrasts": [],
    ...                         "regimes": [], "sbc": {"available": False, "note": "n/a"}},
    ...                        "0" * 64)
    >>> text.splitlines()[0]
    '# causalgia validation report'
    """
    cfg = raw["config"]
    versions = ", ".join(f"{k} {v}" for k, v in raw.get("versions", {}).items())
    out = [
        "# causalgia validation report",
        "",
        "<!-- generated by `causalgia validate`; do not edit by hand -->",
        "",
        f"Generated by `causalgia validate{' --quick' if cfg.get('mode') == 'quick' else ''}`"
        f" (mode **{cfg.get('mode')}**, R = {cfg.get('reps'):,} replicate experiments per "
        f"coverage / type-I cell, seed {cfg.get('seed')}) in "
        f"{raw.get('runtime_s', 0):.0f} s. Versions: {versions}.",
        "",
        f"Raw results: [`{raw_name}`]({raw_name}), SHA-256 of their canonical JSON "
        f"(`json.dumps(raw, sort_keys=True, separators=(',', ':'))`): `{digest}`.",
        "",
        "Regenerate with `causalgia validate` (full, R = 4,000; about half an hour on 2 cores) or "
        "`causalgia validate --quick` (R = 200, a few minutes); re-render from the raw results "
        f"with `causalgia validate --from-raw docs/{raw_name}`.",
        "",
        "## Headline",
        "",
        *[f"- {line}" for line in _headline(raw)],
        "",
    ]
    if raw.get("regimes"):
        reg = pd.DataFrame(raw["regimes"])
        reg["true_ace"] = reg["true_ace"].map(lambda v: ", ".join(f"{x:.3f}" for x in v))
        reg["sd_ice"] = reg["sd_ice"].map(lambda v: ", ".join(f"{x:.3f}" for x in v))
        out += [
            "## ICE regimes",
            "",
            "Each replicate experiment draws n iid-uniform backgrounds and substitutes a "
            "PWM-sampled 4-mer at three positions (a paired design; three arms sharing every "
            "control). True ACEs are exact closed forms; SDs come from a large reference run "
            "(last value: SD of the per-background mean over the three positions).",
            "",
            _table(
                reg[["regime", "description", "true_ace", "sd_ice"]].rename(
                    columns={"true_ace": "true ACE", "sd_ice": "SD of ICE"}
                )
            ),
            "",
        ]
    if raw.get("coverage"):
        cover, width = _coverage_tables(raw)
        out += [
            "## 1. Coverage of nominal 95% intervals",
            "",
            "Cells: coverage ± Monte-Carlo SE (clustered by replicate; the three positions of "
            f"one experiment share backgrounds). Target {LOW}–{HIGH}; † marks a cell whose "
            "estimate ± 2 MCSE misses the target. Paired t and BCa intervals are per position; "
            "the cluster-robust interval is for the ACE pooled over the three positions "
            "(units = background × position, clustered by background, t on G − 1 df).",
            "",
            cover,
            "",
            "## 2. Interval width relative to the known-variance oracle width",
            "",
            "Mean width / (2 · 1.96 · σ / √n) with σ the true SD (for the pooled estimator: "
            "the SD of the per-background mean). Above 1 at small n is the price of "
            "estimating σ (t quantile and the SD estimate).",
            "",
            width,
            "",
        ]
    if raw.get("type_one"):
        t1 = pd.DataFrame(raw["type_one"])
        t1["rejection rate ± MCSE"] = [
            f"{r.rejection_rate:.3f} ± {r.mcse:.3f}" for r in t1.itertuples()
        ]
        t1["KS D"] = t1["ks_statistic"].map(lambda v: f"{v:.3f}")
        t1["KS p"] = t1["ks_p"].map(lambda v: f"{v:.3g}")
        out += [
            "## 3. Type-I error at α = 0.05 and p-value uniformity",
            "",
            "Negative control: a shuffle ablation of a 12-nt window under an iid background "
            "(true ACE exactly 0, ICEs vary). Placebo: the window resampled from P_B (uniform "
            "letters; true ACE exactly 0). The model is an additive oracle with random "
            "weights. `sign_flip` is the randomization test of `estimate_ace(method="
            "'permutation')` (exact at n = 10). KS: one-sample Kolmogorov–Smirnov test of "
            "the p-values against U(0, 1) (sign-flip p-values are discrete at small n, which "
            "KS penalises). The identity placebo gives ICE ≡ 0 and p = 1 by construction.",
            "",
            _table(t1[["control", "test", "n", "reps", "rejection rate ± MCSE", "KS D", "KS p"]]),
            "",
        ]
    if raw.get("power"):
        pw = pd.DataFrame(raw["power"])
        pw = pw.assign(
            **{
                "effect (SE units)": pw["effect_se"],
                "d = ACE/SD": pw["effect_size"].map(lambda v: f"{v:.3f}"),
                "analytic power": pw["analytic_power"].map(lambda v: f"{v:.3f}"),
                "empirical ± MCSE": [
                    f"{r.empirical_power:.3f} ± {r.mcse:.3f}" for r in pw.itertuples()
                ],
                "z": pw["z"].map(lambda v: f"{v:+.2f}"),
            }
        )
        out += [
            "## 4. Power against analytic t-test power",
            "",
            f"Paired t at α = 0.05 with n = {pw['n'].iloc[0]} backgrounds and R = "
            f"{pw['reps'].iloc[0]:,} experiments per effect; analytic power from "
            "`statsmodels.stats.power.TTestPower`. z = (empirical − analytic) / MCSE.",
            "",
            _table(
                pw[
                    [
                        "effect (SE units)",
                        "d = ACE/SD",
                        "analytic power",
                        "empirical ± MCSE",
                        "z",
                    ]
                ]
            ),
            "",
        ]
    if raw.get("fdr"):
        fd = pd.DataFrame(raw["fdr"])
        fd["realised FDR ± MCSE"] = [f"{r.fdr:.3f} ± {r.mcse:.3f}" for r in fd.itertuples()]
        fd["power"] = fd["power"].map(lambda v: f"{v:.3f}")
        first = fd.iloc[0]
        out += [
            "## 5. False discovery rate over mixed panels",
            "",
            f"Panels of {first['m']} interventions sharing n = {first['n']} backgrounds, "
            f"{first['nonnull']} with a real effect (d = {first['effect_size']}), the rest "
            f"with true ACE exactly 0; R = {first['reps']:,} panels; paired t p-values.",
            "",
            _table(fd[["method", "q", "realised FDR ± MCSE", "power"]]),
            "",
        ]
    if raw.get("paired_unpaired"):
        pu = pd.DataFrame(raw["paired_unpaired"])
        pu = pu.assign(
            **{
                "corr(y, y_do)": pu["corr"].map(lambda v: f"{v:.3f}"),
                "analytic ratio": pu["analytic_ratio"].map(lambda v: f"{v:.2f}"),
                "empirical ratio": pu["empirical_ratio"].map(lambda v: f"{v:.2f}"),
            }
        )
        out += [
            "## 6. Forward passes: paired vs unpaired designs for equal width",
            "",
            "Forward passes an unpaired (completely randomized, Welch) design needs per "
            "forward pass of the paired design for the same interval width: analytic "
            "(var y + var y_do) / var(ICE) from 20,000 paired backgrounds, and empirical "
            "(mean Welch width / mean paired-t width)² over replicate experiments of equal "
            "cost (n paired backgrounds vs 2n randomized ones). The seed's original GIA used "
            "the unpaired Welch test on arms that share backgrounds.",
            "",
            _table(pu[["oracle", "corr(y, y_do)", "analytic ratio", "empirical ratio", "reps"]]),
            "",
        ]
    if raw.get("sequential"):
        sq = pd.DataFrame(raw["sequential"])
        sq = sq.assign(
            **{
                "coverage ± MCSE": [_cell(r.coverage, r.mcse, flag=False) for r in sq.itertuples()],
                "mean n": sq["mean_n"].map(lambda v: f"{v:.0f}"),
                "n fixed": sq["n_fixed"],
                "passes (sequential)": sq["mean_forward"].map(lambda v: f"{v:,.0f}"),
                "passes (fixed, equal width)": sq["fixed_forward"].map(lambda v: f"{v:,.0f}"),
                "saved": sq["saved_fraction"].map(lambda v: f"{100 * v:+.0f}%"),
            }
        )
        out += [
            "## 7. Sequential stopping with confidence sequences",
            "",
            "`simulate_until` draws 20 backgrounds per round and stops each arm once its "
            "normal-mixture confidence sequence (Robbins 1970; Waudby-Smith et al. 2024) has "
            "half-width ≤ the target; coverage is of the final intervals at the "
            "data-dependent stopping round. The target is the half-width a fixed-n t interval "
            "reaches at n = 100 for the noisiest arm; the fixed design of equal width is the "
            "smallest common n at which every arm's t interval reaches the target, computed "
            "with the *true* SDs (the best a fixed design can do). Confidence sequences are "
            "conservative by construction (valid at every round simultaneously): coverage "
            "above 0.95 is expected, and a single arm needs ≈ 2.4× the backgrounds of a "
            "known-variance fixed design; the saving comes from stopping precise arms early "
            "(as in the mixed panel of one PWM insertion and twelve point mutations).",
            "",
            _table(
                sq[
                    [
                        "regime",
                        "reps",
                        "arms",
                        "coverage ± MCSE",
                        "mean n",
                        "n fixed",
                        "passes (sequential)",
                        "passes (fixed, equal width)",
                        "saved",
                    ]
                ]
            ),
            "",
        ]
    if raw.get("contrasts"):
        ct = pd.DataFrame(raw["contrasts"])
        wide = ct.pivot(index="test", columns="oracle", values="rejection_rate")
        wide = wide.reindex(["interaction", "additivity", "penalty", "periodicity"])
        frame = pd.DataFrame(
            {
                "test": [
                    "interaction ACE(A+B) − ACE(A) − ACE(B)",
                    "additivity ACE(2) − 2·ACE(1)",
                    "close-spacing penalty (one-sided)",
                    "periodicity at 10.5 nt (Hotelling T²)",
                ],
                "planted oracle": wide["planted"].map(lambda v: f"{v:.3f}").to_numpy(),
                "oracle without them": wide["null"].map(lambda v: f"{v:.3f}").to_numpy(),
            }
        )
        out += [
            "## 8. Contrast tests: detection and false alarms",
            "",
            f"Rejection rate at 0.05 over R = {ct['reps'].iloc[0]} studies of n = "
            f"{ct['n'].iloc[0]} RNA backgrounds (100 nt): a 2×2 factorial of UGCAUG at 15 "
            "and 70, 1–3 copies, and two copies at gaps 0–40. Planted: `PlantedRBPOracle"
            "(helical=0.15)` (saturation, close-spacing interference, helical periodicity). "
            "Without: `PlantedRBPOracle.without_mechanisms()` (linear occupancy; its "
            "interaction is exactly 0 for every background, so that test never fires).",
            "",
            _table(frame),
            "",
        ]
    sbc = raw.get("sbc", {})
    out += ["## 9. Hierarchical model (simulation-based calibration)", ""]
    if sbc.get("available"):
        out += [sbc.get("markdown", ""), ""]
    else:
        out += [f"Not included in this run: {sbc.get('note', 'not available')}.", ""]
    return "\n".join(out).rstrip() + "\n"
