"""The headline of the validation report: one sentence per study, from the raw results.

Kept apart from the section renderers of :mod:`causalgia.validation.report`, which import it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd


def _dkw(row: Mapping[str, Any]) -> tuple[float, float, bool]:
    """(max |ECDF − p|, DKW ε, inside band) of a type-I row; raw results from before the band
    was recorded have the KS statistic, which is the same supremum."""
    dev = float(row.get("max_abs_ecdf_dev", row["ks_statistic"]))
    eps = row.get("dkw_eps")
    eps = float(np.sqrt(np.log(2 / 0.05) / (2 * row["reps"]))) if eps is None else float(eps)
    return dev, eps, bool(row.get("inside_band", dev <= eps))


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
            f"{tt['rejection_rate'].min():.3f}–{tt['rejection_rate'].max():.3f}; the null "
            f"p-values' ECDF stays inside its simultaneous 95% DKW band in "
            f"{sum(_dkw(r)[2] for r in raw['type_one'])} of {len(t1)} (control, n, test) cells."
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
        if "rule" not in seq:
            seq["rule"] = "mixture"
        names = {
            "two_stage": "Two-stage (Stein) sequential stopping covers",
            "mixture": "The anytime-valid confidence sequence covers",
        }
        for rule, rows in seq.groupby("rule", sort=False):
            panel = rows[rows["regime"] == "mixed_panel"]
            text = (
                f"{names.get(rule, rule + ' covers')} {rows['coverage'].min():.3f}–"
                f"{rows['coverage'].max():.3f} at the stopping round"
            )
            if not panel.empty:
                text += f"; on a mixed panel it {_saving(panel['saved_fraction'].iloc[0])}"
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
    pool = raw.get("pooling", {})
    if pool.get("available"):
        s = {r["estimate"]: r for r in pool["summary"]}
        lines.append(
            f"RMSE of {pool['settings']['conditions']} noisy per-position effects (R = "
            f"{pool['settings']['reps']} studies): {s['raw']['rmse']:.3f} raw, "
            f"{s['exchangeable']['rmse']:.3f} with exchangeable partial pooling, "
            f"{s['curve']['rmse']:.3f} with a curve prior over position."
        )
    return lines


def _saving(fraction: float) -> str:
    """'saves 40% of …', 'uses 7% more … than', or 'uses as many … as' the fixed design."""
    pct = 100.0 * fraction
    what = "the forward passes of the fixed design of equal width"
    if pct >= 0.5:
        return f"saves {pct:.0f}% of {what}"
    if pct <= -0.5:
        return f"uses {-pct:.0f}% more forward passes than the fixed design of equal width"
    return "uses as many forward passes as the fixed design of equal width"
