"""Write and read a run directory: tables, manifest.json, figures and a readable report.md.

Layout of a run directory (stable names)::

    ace.csv            one row per effect
    ice.parquet        one row per (arm, background); ice.csv when pyarrow is not installed
    design.csv         the design table, when given
    truth.csv          known effects (experiment, label, true_ace), when given
    manifest.json      provenance + sha256 of every table (``files``) + ``ice_format``
    controls.csv       control verdicts, with each check's table in controls/<name>.csv
    pooled.csv         pooled (hierarchical) estimates, when a model was fit
    motifs.meme        matrices of the motifs used, when given (logos drawn from them)
    figures/*.png      effect curves and a forest plot (needs matplotlib)
    report.md          the study, the estimand, one table per experiment, figures, notes
    report.html        the same as one self-contained page: sortable effects table, figures,
                       controls, motif logos, ICE maps and provenance (htmlreport.py)

``report.md``, ``report.html`` and the figures are always rendered from the files on disk, so
``render_report(path)`` (``causalgia report DIR``) reproduces what :func:`write_report` wrote.
matplotlib is imported only while figures are drawn.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import OptionError
from .htmlreport import HTML_NAME, write_html
from .logos import MOTIF_FILE, write_motifs
from .plot import _with_truth, plot_effect_curve, plot_forest
from .rundir import (
    _STUDY_FIELDS,
    CURVE_COLUMNS,
    DEFAULT_COVERS,
    HUE_COLUMNS,  # noqa: F401  (re-exported: report.py was their home)
    RESERVED_COLUMNS,
    LoadedRun,
    RunDirectory,
    _curve_spec,
    _fmt,
    _sha256,
    _with_coverage,
    read_run,
)

if TYPE_CHECKING:
    from ..sequences import Motif


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"manifest value {value!r} of type {type(value).__name__} is not JSON-safe")


def _write_ice(ice: pd.DataFrame, out: Path) -> str:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        ice.to_csv(out / "ice.csv", index=False)
        return "csv"
    ice.to_parquet(out / "ice.parquet", index=False, engine="pyarrow")
    return "parquet"


def write_report(
    out_dir: str | Path,
    *,
    ace: pd.DataFrame,
    ice: pd.DataFrame,
    manifest: Mapping[str, Any],
    title: str = "causalgia study",
    truth: pd.DataFrame | None = None,
    design: pd.DataFrame | None = None,
    notes: Iterable[str] = (),
    figures: bool = True,
    controls: pd.DataFrame | None = None,
    pooled: pd.DataFrame | None = None,
    control_tables: Mapping[str, pd.DataFrame] | None = None,
    motifs: Iterable[Motif] = (),
) -> RunDirectory:
    """Write a run directory: tables, ``manifest.json``, figures, ``report.md`` and ``report.html``.

    Parameters
    ----------
    out_dir : str or Path
        Directory to write (created with its parents; existing files are overwritten).
    ace, ice : DataFrame
        The ACE table (one row per effect) and the ICE table (one row per arm and background).
    manifest : mapping
        JSON-safe provenance (versions, seeds, spec hash, model fingerprint, background, n, ...).
        The optional key ``interval_covers`` says which uncertainty the intervals cover.
    title : str
        Title of ``report.md``.
    truth : DataFrame, optional
        Known effects ``experiment, label, true_ace`` (oracle models); adds coverage columns.
    design : DataFrame, optional
        The design table, written as ``design.csv``.
    notes : iterable of str
        Bullet points at the end of the report.
    figures : bool
        Draw figures (needs matplotlib).
    controls : DataFrame, optional
        ``ControlReport.to_frame()`` (check_name, passed, text), written as ``controls.csv``.
    pooled : DataFrame, optional
        ``HierarchicalFit.to_frame()``, written as ``pooled.csv``, with a pooled-curve figure.
    control_tables : mapping of check name to DataFrame, optional
        Each check's full table (``CheckResult.table``), written as ``controls/<name>.csv``.
    motifs : iterable of Motif
        Matrices of the motifs the effects name (by ``Motif.name``), written as ``motifs.meme``;
        report.html draws their logos from these instead of from the names.

    Returns
    -------
    RunDirectory

    Examples
    --------
    >>> import tempfile
    >>> ace = pd.DataFrame({"experiment": "ctl", "label": ["pos"], "ace": [1.0],
    ...                     "ci_low": [0.8], "ci_high": [1.2], "n": [100]})
    >>> ice = pd.DataFrame({"experiment": "ctl", "label": "pos", "ice": [1.0, 1.1]})
    >>> run = write_report(tempfile.mkdtemp(), ace=ace, ice=ice, manifest={"seed": 1},
    ...                    figures=False)
    >>> (run.path / "report.md").is_file(), "ace.csv" in run.files
    (True, True)
    """
    _check_ace(ace)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ace.to_csv(out / "ace.csv", index=False)
    written = ["ace.csv", f"ice.{_write_ice(ice, out)}"]
    tables = (("design.csv", design), ("truth.csv", truth), ("controls.csv", controls),
              ("pooled.csv", pooled))  # fmt: skip
    tables += tuple((f"controls/{k}.csv", t) for k, t in (control_tables or {}).items())
    for name, table in tables:
        if table is not None:
            (out / name).parent.mkdir(exist_ok=True)
            table.to_csv(out / name, index=False)
            written.append(name)
    motifs = list(motifs)
    if motifs:
        written.append(write_motifs(motifs, out / MOTIF_FILE).name)
    full = dict(manifest)
    full["files"] = {name: _sha256(out / name) for name in written}
    full["ice_format"] = written[1].split(".")[1]
    full["report"] = {"title": title, "notes": [str(n) for n in notes]}
    text = json.dumps(full, indent=2, default=_json_default, ensure_ascii=False)
    (out / "manifest.json").write_text(text + "\n", encoding="utf-8")
    files = {name: out / name for name in [*written, "manifest.json"]}
    return RunDirectory(out, {**files, **render_report(out, figures=figures).files})


def render_report(path: str | Path, *, figures: bool = True) -> RunDirectory:
    """(Re-)write ``report.md``, ``report.html`` and ``figures/*.png`` from a run directory.

    report.html embeds the figures and also draws motif logos and ICE maps in memory (they are
    not written as files, and report.md does not list them).

    Examples
    --------
    >>> sorted(render_report("runs/demo", figures=False).files)  # doctest: +SKIP
    ['report.html', 'report.md']
    """
    root = Path(path)
    run = read_run(root)
    _check_ace(run.ace)
    drawn: dict[str, Path] = {}
    omitted: str | None = "figures=False was requested"
    if figures and _have_matplotlib():
        drawn, omitted = _draw_figures(run.ace, run.truth, root / "figures"), None
        if run.pooled is not None:
            drawn.update(_draw_pooled(run.pooled, run.ace, run.truth, root / "figures"))
    elif figures:
        omitted = "install causalgia[plot] (matplotlib) to draw them"
    text = _markdown(run, list(drawn), omitted)
    (root / "report.md").write_text(text, encoding="utf-8")
    page = write_html(root, run, figures=drawn, omitted=omitted)
    return RunDirectory(root, {**drawn, "report.md": root / "report.md", HTML_NAME: page})


def _check_ace(ace: pd.DataFrame) -> None:
    missing = [c for c in ("experiment", "label", "ace", "ci_low", "ci_high") if c not in ace]
    if missing:
        raise OptionError(f"ace lacks column(s) {missing}; it has {list(ace.columns)}")
    unnamed = ace[["experiment", "label"]].isna().any(axis=1).to_numpy()
    if unnamed.any():
        raise OptionError(f"ace row {int(np.flatnonzero(unnamed)[0])} has no experiment or label")


# -- figures -----------------------------------------------------------------------------------


def _have_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _safe_name(name: str, taken: set[str]) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)).strip("._") or "experiment"
    unique, k = stem, 2
    while unique in taken:
        unique, k = f"{stem}-{k}", k + 1
    taken.add(unique)
    return unique


def _draw_figures(ace: pd.DataFrame, truth: pd.DataFrame | None, folder: Path) -> dict[str, Path]:
    # Figure objects without pyplot: no backend switch for the caller, nothing left open
    from matplotlib.figure import Figure

    folder.mkdir(parents=True, exist_ok=True)
    drawn: dict[str, Path] = {}
    taken: set[str] = set()
    rest = []
    for experiment, sub in ace.groupby("experiment", sort=False):
        spec = _curve_spec(sub)
        if spec is None:
            rest.append(sub)
            continue
        fig = Figure(figsize=(6.4, 4.0), layout="constrained")
        plot_effect_curve(
            sub, x=spec[0], experiment=experiment, hue=spec[1], truth=truth, ax=fig.add_subplot()
        )
        name = f"figures/curve_{_safe_name(experiment, taken)}.png"
        fig.savefig(folder.parent / name, dpi=120)
        drawn[name] = folder.parent / name
    if rest:
        table = pd.concat(rest)
        fig = Figure(figsize=(6.4, max(2.4, 0.3 * len(table) + 1.2)), layout="constrained")
        plot_forest(table, truth=truth, ax=fig.add_subplot(), title="Other effects")
        fig.savefig(folder / "forest.png", dpi=120)
        drawn["figures/forest.png"] = folder / "forest.png"
    return drawn


# -- markdown ----------------------------------------------------------------------------------


def _study_lines(manifest: Mapping[str, Any]) -> list[str]:
    lines = ["## Study", ""]
    for name, keys in _STUDY_FIELDS:
        found = next((manifest[k] for k in keys if k in manifest), None)
        lines.append(f"- {name}: {'not recorded' if found is None else _fmt(found)}")
    lines += ["- Full provenance and table checksums: `manifest.json`", ""]
    return lines


def _estimand_lines(manifest: Mapping[str, Any], level: float) -> list[str]:
    covers = manifest.get("interval_covers", DEFAULT_COVERS)
    return [
        "## Estimand",
        "",
        "`ICE(x) = f(do(x)) − f(x)` for one background x; `ACE = E_{x~P_B}[f(do(x)) − f(x)]`.",
        "",
        f"The {level:.0%} intervals cover: {_fmt(covers)}.",
        "",
    ]


def _effect_table(sub: pd.DataFrame, level: float) -> list[str]:
    params = [
        c for c in sub.columns if c not in RESERVED_COLUMNS | {"covered"} and sub[c].notna().any()
    ]
    if "method" in sub.columns and sub["method"].nunique() > 1:
        params.append("method")
    extra = [c for c in ("true_ace", "covered") if c in sub.columns]
    head = ["label", *params, "ace", f"{level:.0%} CI", "n", "p", "q", *extra]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, r in sub.iterrows():
        ci = f"[{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]"
        stats = [r.get(c) for c in ("n", "p_value", "q_value")]
        cells = [_fmt(v) for v in (r["label"], *(r[c] for c in params), r["ace"])]
        cells += [ci, *(_fmt(v) for v in (*stats, *(r[c] for c in extra)))]
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def _effects_lines(ace: pd.DataFrame, truth: pd.DataFrame | None, level: float) -> list[str]:
    table = _with_coverage(ace, truth)
    lines = ["## Effects", ""]
    if "covered" in table.columns:
        known = table["covered"].notna()
        k, m = int((table["covered"] == "yes").sum()), int(known.sum())
        lines += [f"**{k} of {m} known effects inside their {level:.0%} interval.**", ""]
    for experiment, sub in table.groupby("experiment", sort=False):
        lines += [f"### {_fmt(experiment)}", ""]
        if "method" in sub.columns and sub["method"].nunique() == 1:
            lines += [f"Estimator: `{sub['method'].iloc[0]}`", ""]
        lines += [*_effect_table(sub, level), ""]
    return lines


def _markdown(run: LoadedRun, figures: list[str], omitted: str | None) -> str:
    info = run.manifest.get("report", {})
    level = float(run.manifest.get("ci_level", 0.95))
    lines = [f"# {info.get('title', 'causalgia study')}", ""]
    lines += _study_lines(run.manifest) + _estimand_lines(run.manifest, level)
    lines += _effects_lines(run.ace, run.truth, level)
    lines += _controls_lines(run.controls) + _pooled_lines(run.pooled, run.truth, run.manifest)
    lines += ["## Figures", ""]
    if omitted is not None:
        lines += [f"Figures omitted: {omitted}.", ""]
    for name in figures:
        lines += [f"![{Path(name).stem}]({name})", ""]
    if info.get("notes"):
        lines += ["## Notes", "", *(f"- {note}" for note in info["notes"]), ""]
    return "\n".join(lines)


# -- controls and pooled (hierarchical) estimates ------------------------------------------------


def _controls_lines(controls: pd.DataFrame | None) -> list[str]:
    if controls is None or controls.empty:
        return []
    mark = {"True": "PASS", "False": "FAIL"}
    lines = ["## Controls", "", "| check | result | explanation |", "|---|---|---|"]
    for r in controls.itertuples(index=False):
        verdict = mark.get(str(r.passed), "info")
        lines.append(f"| {_fmt(r.check_name)} | {verdict} | {_fmt(r.text)} |")
    return [*lines, ""]


def _pooled_lines(
    pooled: pd.DataFrame | None, truth: pd.DataFrame | None, manifest: Mapping[str, Any]
) -> list[str]:
    if pooled is None or pooled.empty:
        return []
    info = manifest.get("pooling", {})
    level = float(info.get("hdi_prob", 0.95))
    lines = ["## Pooled estimates (hierarchical model)", ""]
    if info:
        lines += [f"{_fmt(info.get('description', ''))}", ""]
    table = _with_truth(pooled, truth)
    params = [c for c in CURVE_COLUMNS if c in table.columns and table[c].notna().any()]
    extra = ["true_ace"] if "true_ace" in table.columns else []
    meaningful = f"P(\\|θ\\| > {_fmt(info.get('min_effect', 0.0))})"
    head = ["label", *params, "raw ACE ± SE", "pooled mean", f"{level:.0%} HDI", "P(θ > 0)",
            meaningful, "R-hat", "bulk ESS", *extra]  # fmt: skip
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, r in table.iterrows():
        cells = [_fmt(r["label"]), *(_fmt(r[c]) for c in params)]
        cells += [f"{_fmt(r['ace'])} ± {_fmt(r['se'])}", _fmt(r["post_mean"])]
        cells += [f"[{_fmt(r['hdi_low'])}, {_fmt(r['hdi_high'])}]"]
        cells += [_fmt(r[c]) for c in ("p_positive", "p_meaningful", "r_hat", "ess_bulk", *extra)]
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def _draw_pooled(
    pooled: pd.DataFrame, ace: pd.DataFrame, truth: pd.DataFrame | None, folder: Path
) -> dict[str, Path]:
    """One figure per pooled experiment with a curve: pooled mean and HDI band, raw estimates."""
    from matplotlib.figure import Figure

    drawn: dict[str, Path] = {}
    taken: set[str] = set()
    band = pooled.assign(ace=pooled["post_mean"], ci_low=pooled["hdi_low"],
                         ci_high=pooled["hdi_high"])  # fmt: skip
    for experiment, sub in band.groupby("experiment", sort=False):
        spec = _curve_spec(sub)
        if spec is None or spec[1] is not None:
            continue
        x = spec[0]
        fig = Figure(figsize=(6.4, 4.0), layout="constrained")
        ax = fig.add_subplot()
        plot_effect_curve(sub, x=x, experiment=experiment, truth=truth, ax=ax,
                          title=f"{experiment}: pooled (posterior mean, HDI band)")  # fmt: skip
        ax.lines[0].set_label("pooled posterior mean, HDI")
        raw = ace[ace["experiment"] == experiment].sort_values(x)
        err = [raw["ace"] - raw["ci_low"], raw["ci_high"] - raw["ace"]]
        ax.errorbar(raw[x], raw["ace"], yerr=err, fmt="s", ms=3, color="0.35", lw=0.8,
                    capsize=2, label="raw ACE, 95% CI")  # fmt: skip
        ax.legend(frameon=False, fontsize="small")
        name = f"figures/pooled_{_safe_name(experiment, taken)}.png"
        fig.savefig(folder.parent / name, dpi=120)
        drawn[name] = folder.parent / name
    return drawn
