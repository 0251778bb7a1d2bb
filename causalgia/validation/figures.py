"""Figures of the validation report, drawn from the raw results alone.

matplotlib is optional (``pip install causalgia[plot]``): it is imported inside
:func:`write_figures`, which raises ImportError when it is missing (the caller then writes the
report without figures and says so). Figures use ``matplotlib.figure.Figure`` without pyplot, so
no backend is switched and nothing is left open.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

PVALUE_ECDF = "pvalue_ecdf.png"
POOLING = "pooling.png"


def write_figures(raw: dict[str, Any], folder: str | Path) -> dict[str, Path]:
    """Draw every figure the raw results support into ``folder``.

    Parameters
    ----------
    raw : dict
        Raw results of :func:`causalgia.validation.run_validation`.
    folder : str or Path
        Folder for the PNG files (created when needed).

    Returns
    -------
    dict of str to Path
        File name (``pvalue_ecdf.png``, ``pooling.png``) to the path written.

    Raises
    ------
    ImportError
        When matplotlib is not installed.

    Examples
    --------
    >>> write_figures(raw, "docs/validation")  # doctest: +SKIP
    {'pvalue_ecdf.png': PosixPath('docs/validation/pvalue_ecdf.png'), ...}
    """
    from matplotlib.figure import Figure

    folder = Path(folder)
    drawn: dict[str, Path] = {}
    rows = [r for r in raw.get("type_one", []) if "ecdf_minus_u" in r]
    pooling = raw.get("pooling", {})
    if rows or pooling.get("available"):
        folder.mkdir(parents=True, exist_ok=True)
    if rows:
        tests = list(dict.fromkeys(r["test"] for r in rows))
        fig = Figure(figsize=(5.0 * len(tests), 4.4), layout="constrained")
        axes = fig.subplots(1, len(tests), sharey=True, squeeze=False)[0]
        for ax, test in zip(axes, tests, strict=True):
            _ecdf_panel(ax, [r for r in rows if r["test"] == test], test)
        fig.savefig(folder / PVALUE_ECDF, dpi=120)
        drawn[PVALUE_ECDF] = folder / PVALUE_ECDF
    if pooling.get("available"):
        fig = Figure(figsize=(10.0, 4.4), layout="constrained")
        left, right = fig.subplots(1, 2, width_ratios=(2.0, 1.0))
        _pooling_example(left, pooling)
        _pooling_rmse(right, pooling)
        fig.savefig(folder / POOLING, dpi=120)
        drawn[POOLING] = folder / POOLING
    return drawn


def _ecdf_panel(ax: Any, rows: list[dict[str, Any]], test: str) -> None:
    """ECDF(p) − p of every null regime with its simultaneous 95% DKW band."""
    from matplotlib import colormaps

    ns = sorted({r["n"] for r in rows})
    controls = list(dict.fromkeys(r["control"] for r in rows))
    colours = colormaps["viridis"](np.linspace(0.0, 0.85, len(ns)))
    styles = ("-", "--", ":", "-.")
    for eps in sorted({r["dkw_eps"] for r in rows}):
        ax.axhspan(-eps, eps, color="0.88", zorder=0)
        ax.axhline(eps, color="0.55", lw=0.8)
        ax.axhline(-eps, color="0.55", lw=0.8)
    for r in rows:
        dev = np.asarray(r["ecdf_minus_u"], dtype=float)
        u = np.linspace(0.0, 1.0, len(dev))
        ax.plot(
            u, dev, color=colours[ns.index(r["n"])],
            ls=styles[controls.index(r["control"]) % len(styles)], lw=1.1,
            label=f"{r['control']}, n = {r['n']}",
        )  # fmt: skip
    ax.axhline(0.0, color="black", lw=0.6)
    top = max(max(r["dkw_eps"] for r in rows) * 1.5, max(r["max_abs_ecdf_dev"] for r in rows) * 1.1)
    ax.set_ylim(-top, top)
    ax.set_xlim(0.0, 1.0)
    ax.set_xlabel("p")
    ax.set_title(f"{test.replace('_', ' ')}: ECDF(p) − p, 95% DKW band (grey)", fontsize="medium")
    if ax.get_subplotspec().is_first_col():
        ax.set_ylabel("ECDF(p) − p")
    ax.legend(frameon=False, fontsize="x-small", ncol=2, loc="upper center",
              bbox_to_anchor=(0.5, -0.14))  # fmt: skip


def _pooling_example(ax: Any, pooling: dict[str, Any]) -> None:
    """Replicate 0: truth, raw 95% CIs, exchangeable and curve 95% HDIs along position."""
    ex = pooling["example"]
    x = np.asarray(ex["position"], dtype=float)
    raw, exch, curve = (ex[k] for k in ("raw", "exchangeable", "curve"))
    err = [np.subtract(raw["mean"], raw["low"]), np.subtract(raw["high"], raw["mean"])]
    ax.errorbar(x - 0.18, raw["mean"], yerr=err, fmt="s", ms=2.5, lw=0.7, color="0.55",
                capsize=0, label="raw ACE, 95% t interval")  # fmt: skip
    err = [np.subtract(exch["mean"], exch["low"]), np.subtract(exch["high"], exch["mean"])]
    ax.errorbar(x + 0.18, exch["mean"], yerr=err, fmt="o", ms=2.5, lw=0.9, color="tab:blue",
                capsize=0, label="exchangeable pooling, 95% HDI")  # fmt: skip
    ax.fill_between(x, curve["low"], curve["high"], color="tab:orange", alpha=0.25, lw=0)
    ax.plot(x, curve["mean"], color="tab:orange", lw=1.4, label="curve prior, 95% HDI")
    ax.plot(x, ex["truth"], color="black", lw=1.6, label="true ACE")
    ax.set_xlabel("position")
    ax.set_ylabel("ACE")
    ax.set_title("one replicate study (replicate 0)", fontsize="medium")
    ax.legend(frameon=False, fontsize="x-small", ncol=4, loc="upper center",
              bbox_to_anchor=(0.5, -0.13))  # fmt: skip


def _pooling_rmse(ax: Any, pooling: dict[str, Any]) -> None:
    """RMSE per replicate (grey lines join one replicate) and the mean ± 2 MCSE."""
    names = [r["estimate"] for r in pooling["summary"]]
    reps = sorted({r["rep"] for r in pooling["replicates"]})
    table = {(r["rep"], r["estimate"]): r["rmse"] for r in pooling["replicates"]}
    for rep in reps:
        ax.plot(range(len(names)), [table[rep, k] for k in names], color="0.7", lw=0.7,
                marker="o", ms=2.5)  # fmt: skip
    for k, row in enumerate(pooling["summary"]):
        mcse = row["rmse_mcse"] if np.isfinite(row["rmse_mcse"]) else 0.0
        ax.errorbar(k + 0.15, row["rmse"], yerr=2 * mcse, fmt="D", color="black", ms=4,
                    capsize=3)  # fmt: skip
    ticks = {"raw": "raw\n(no pooling)", "exchangeable": "exchange-\nable", "curve": "curve\nprior"}
    ax.set_xticks(range(len(names)), [ticks.get(n, n) for n in names], fontsize="small")
    ax.set_xlim(-0.4, len(names) - 0.6)
    ax.set_ylim(bottom=0.0)
    ax.set_ylabel("RMSE over positions")
    ax.set_title(f"RMSE per replicate (R = {len(reps)})\nmean ± 2 MCSE (black)", fontsize="medium")
