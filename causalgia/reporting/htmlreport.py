"""report.html: one self-contained page per run directory, rendered from the files on disk.

The page holds the study and its estimand, a sortable and filterable table of every effect,
the effect curves and forest plot, pooled curves with their credible bands, the controls'
verdicts and tables, a logo of every motif used, ICE maps, the notes and the provenance
(manifest fields, versions, seed, spec hash, model fingerprint, the checksum of every table
checked against the file on disk). Figures are PNG data URIs, CSS and JavaScript are inline,
and a Content-Security-Policy forbids every request, so the page never touches the network.

Every string that comes from the run directory is escaped. Without matplotlib the page still
holds every table and says how to get the figures.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

import pandas as pd

from .._files import write_text
from .htmlparts import (
    _CSP,
    _CSS,
    _JS,
    Column,
    _col,
    _e,
    _img,
    _interval,
    _png,
    _section,
    _table,
    _text,
)
from .icemaps import ice_map_specs, mutation_map_experiments, plot_ice_map, plot_mutation_map
from .logos import MotifsUsed, motifs_used, plot_motif_logo
from .plot import _with_truth
from .rundir import (
    _STUDY_FIELDS,
    CURVE_COLUMNS,
    DEFAULT_COVERS,
    RESERVED_COLUMNS,
    LoadedRun,
    _read_csv,
    _sha256,
    _with_coverage,
    ci_level,
)
from .screenmaps import MAX_MOTIFS as MAX_SCREEN_ROWS
from .screenmaps import plot_screen_map, screen_map_specs, screen_ranking

HTML_NAME = "report.html"
MAX_LOGOS = 60
_HOW_TO_PLOT = "pip install 'causalgia[plot]'"


def _cards(run: LoadedRun, table: pd.DataFrame, level: float) -> str:
    cards = [(len(table), "effects"), (table["experiment"].nunique(), "experiments")]
    if "covered" in table.columns:
        known = table["covered"].notna()
        inside = int((table["covered"] == "yes").sum())
        cards.append((f"{inside} / {int(known.sum())}", f"known effects inside {level:.0%} CI"))
    if run.controls is not None and not run.controls.empty:
        passed = run.controls["passed"].astype(str)
        cards.append((f"{(passed == 'True').sum()} / {len(passed)}", "controls passed"))
    if run.pooled is not None and not run.pooled.empty:
        cards.append((len(run.pooled), "pooled conditions"))
    if "n_backgrounds" in run.manifest:
        cards.append((run.manifest["n_backgrounds"], "backgrounds"))
    items = "".join(f'<div class="card"><b>{_e(v)}</b><span>{_e(k)}</span></div>' for v, k in cards)
    return f'<div class="cards">{items}</div>'


def _study(manifest: Mapping[str, Any], level: float) -> list[str]:
    rows = []
    for name, keys in _STUDY_FIELDS:
        found = next((manifest[k] for k in keys if k in manifest), None)
        rows.append(
            f"<dt>{escape(name)}</dt><dd>{'not recorded' if found is None else _e(found)}</dd>"
        )
    if manifest.get("truth"):
        rows.append(f"<dt>Known effects (true_ace)</dt><dd>{_e(manifest['truth'])}</dd>")
    covers = manifest.get("interval_covers", DEFAULT_COVERS)
    study = _section("study", "Study", [f'<dl class="fields">{"".join(rows)}</dl>'])
    estimand = _section(
        "estimand",
        "Estimand",
        [
            '<div class="estimand"><p><code>ICE(x) = f(do(x)) − f(x)</code> for one background '
            "x; <code>ACE = E<sub>x~P_B</sub>[f(do(x)) − f(x)]</code>.</p>"
            f"<p>The {level:.0%} intervals cover: {_e(covers)}.</p></div>"
        ],
    )
    return [study, estimand]


def _effects(table: pd.DataFrame, level: float) -> str:
    params = [
        c
        for c in table.columns
        if c not in RESERVED_COLUMNS | {"covered"} and table[c].notna().any()
    ]
    if "method" in table.columns and table["method"].nunique() > 1:
        params.append("method")
    columns: list[Column] = [("experiment", _col("experiment")), ("label", _col("label"))]
    if "output" in params:  # several model outputs: the output right after the label
        params.remove("output")
        columns.append(("output", _col("output")))
    columns += [("ACE", _col("ace")), (f"{level:.0%} CI", _interval("ci_low", "ci_high"))]
    stats = (("SE", "se"), ("n", "n"), ("p", "p_value"), ("q", "q_value"),
             ("true ACE", "true_ace"), ("covered", "covered"), ("status", "status"))  # fmt: skip
    columns += [(h, _col(c)) for h, c in stats if c in table.columns]
    columns += [(c, _col(c)) for c in params]
    body = []
    if "method" in table.columns and table["method"].nunique() == 1:
        body.append(f"<p>Estimator: <code>{_e(table['method'].iloc[0])}</code></p>")
    if "covered" in table.columns:
        k, m = int((table["covered"] == "yes").sum()), int(table["covered"].notna().sum())
        body.append(f"<p><b>{k} of {m} known effects inside their {level:.0%} interval</b> "
                    "(rows outside are shaded).</p>")  # fmt: skip
    body.append(
        '<div class="toolbar"><input type="search" id="effects-filter" data-filter="effects-table" '
        'data-count="effects-count" placeholder="Filter effects: type words, e.g. position @12" '
        f'aria-label="filter effects"><span id="effects-count" class="muted">{len(table)} of '
        f"{len(table)} effects shown</span></div>"
    )
    miss = (lambda r: "miss" if r.get("covered") == "no" else "") if "covered" in table else None
    body.append(_table(table, columns, table_id="effects-table", row_class=miss))
    body.append('<p class="muted">Click a column header to sort; click again to reverse.</p>')
    return _section("effects", "Effects", body)


def _figures(figures: Mapping[str, Path], omitted: str | None) -> str:
    if omitted is not None:
        return _section("figures", "Effect curves and forest plot", [_omitted(omitted)])
    items = []
    for name, path in figures.items():
        stem = Path(name).stem
        if stem.startswith("curve_") or stem == "forest":
            caption = "all other effects" if stem == "forest" else f"effect curve: {stem[6:]}"
            items.append(_img(path.read_bytes(), stem, escape(caption)))
        elif stem.startswith("outputs_"):  # several model outputs: arm × output heatmap
            caption = (
                f"ACE of each arm (rows) × model output (columns) of {stem[8:]}: white 0, red "
                "above, blue below; a dot marks q < 0.05 (BH within output and experiment)"
            )
            items.append(_img(path.read_bytes(), f"output heatmap {stem[8:]}", escape(caption)))
    body = [f'<div class="figs">{"".join(items)}</div>' if items else "<p>No figures.</p>"]
    return _section("figures", "Effect curves and forest plot", body)


def _omitted(omitted: str) -> str:
    return (
        f'<p class="note">Figures omitted: {escape(omitted)}. Every number is in the tables; '
        f"for figures and motif logos run <code>{escape(_HOW_TO_PLOT)}</code>, then "
        "<code>causalgia report DIR</code>.</p>"
    )


def _pooled(run: LoadedRun, figures: Mapping[str, Path]) -> str | None:
    pooled = run.pooled
    if pooled is None or pooled.empty:
        return None
    info = run.manifest.get("pooling", {})
    level = float(info.get("hdi_prob", 0.95))
    table = _with_truth(pooled, run.truth)
    params = [c for c in CURVE_COLUMNS if c in table.columns and table[c].notna().any()]
    threshold = _text(info.get("min_effect", 0.0))
    columns: list[Column] = [("experiment", _col("experiment")), ("label", _col("label"))]
    if "output" in table.columns:  # several model outputs: a condition per arm × output
        columns.append(("output", _col("output")))
    columns += [(c, _col(c)) for c in params]
    columns += [("raw ACE", _col("ace")), ("SE", _col("se")), ("pooled mean", _col("post_mean"))]
    columns += [(f"{level:.0%} HDI", _interval("hdi_low", "hdi_high"))]
    columns += [("P(θ > 0)", _col("p_positive")), (f"P(|θ| > {threshold})", _col("p_meaningful"))]
    columns += [("R-hat", _col("r_hat")), ("bulk ESS", _col("ess_bulk"))]
    if "true_ace" in table.columns:
        columns.append(("true ACE", _col("true_ace")))
    body = [f"<p>{_e(info['description'])}</p>"] if info.get("description") else []
    items = [
        _img(
            path.read_bytes(),
            Path(name).stem,
            "pooled posterior mean with its HDI band; raw ACEs with their 95% CIs",
        )  # fmt: skip
        for name, path in figures.items()
        if Path(name).stem.startswith("pooled_")
    ]
    if items:
        body.append(f'<div class="figs">{"".join(items)}</div>')
    body.append(_table(table, columns))
    return _section("pooled", "Pooled estimates (hierarchical model)", body)


def _controls(run: LoadedRun, root: Path) -> str | None:
    controls = run.controls
    listed = sorted(n for n in run.manifest.get("files", {}) if n.startswith("controls/"))
    if (controls is None or controls.empty) and not listed:
        return None
    body = []
    if controls is not None and not controls.empty:
        rows = []
        outputs = "output" in controls.columns  # several model outputs: a verdict per output
        for r in controls.itertuples(index=False):
            verdict = {"True": "pass", "False": "fail"}.get(str(r.passed), "info")
            check = r.check_name if not outputs or pd.isna(r.output) else (
                f"{r.check_name} [{r.output}]"
            )  # fmt: skip
            rows.append(
                f'<tr><td class="mono">{_e(check)}</td><td><span class="badge {verdict}">'
                f'{verdict.upper()}</span></td><td class="wrap">{_e(r.text)}</td></tr>'
            )
        body.append(
            '<div class="scroll"><table><thead><tr><th>check</th><th>result</th>'
            f"<th>explanation</th></tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
        )
    for name in listed:
        if not (root / name).is_file():
            continue
        table = _read_csv(root / name)
        columns = [(str(c), _col(c)) for c in table.columns]
        body.append(
            f"<details><summary>Table of <code>{escape(Path(name).stem)}</code> "
            f"({len(table)} row{'' if len(table) == 1 else 's'}, <code>{escape(name)}</code>)"
            "</summary>"
            f"{_table(table, columns)}</details>"
        )
    return _section("controls", "Controls", body)


def _motifs(used: MotifsUsed | None, draw: bool, why_not: str | None) -> str | None:
    if used is None or (not used.motifs and not used.undrawable):
        return None
    body = [
        "<p>Every motif the effects name (the <code>motif</code> columns of ace.csv). A matrix "
        "from a motif file in the run directory is drawn in bits; a sequence (consensus or "
        "IUPAC string) as its letter probabilities.</p>"
    ]
    if draw and why_not is None:
        items = []
        for m in used.motifs[:MAX_LOGOS]:
            ax = plot_motif_logo(m)
            caption = (
                f'<span class="mono">{escape(m.name)}</span> · {escape(m.source)} · used by '
                f"{escape(', '.join(m.experiments))}"
            )
            items.append(_img(_png(ax.figure), f"logo of {m.name}", caption))
        body.append(f'<div class="logos">{"".join(items)}</div>')
        if len(used.motifs) > MAX_LOGOS:
            rest = ", ".join(m.name for m in used.motifs[MAX_LOGOS:])
            body.append(f"<p class='muted'>Not drawn (more than {MAX_LOGOS}): {escape(rest)}</p>")
    else:
        body.append(f'<p class="note">Logos omitted: {escape(why_not or "figures are off")}.</p>')
        body.append(_table(used.to_frame(), [(c, _col(c)) for c in used.to_frame().columns]))
    if used.undrawable:
        items = "".join(
            f"<li><code>{escape(n)}</code>: {escape(why)}</li>" for n, why in used.undrawable
        )
        body.append(f"<p>Not drawn:</p><ul>{items}</ul>")
    if used.problems:
        items = "".join(f"<li>{escape(p)}</li>" for p in used.problems)
        body.append(f"<p>Motif files:</p><ul>{items}</ul>")
    return _section("motifs", "Motifs", body)


def _ice_maps(run: LoadedRun, draw: bool) -> str | None:
    specs = ice_map_specs(run.ace, run.ice)
    mutations = mutation_map_experiments(run.ace)
    if not (specs or mutations) or not draw:
        return None
    items = []
    total = run.manifest.get("n_backgrounds")  # ice may hold a sample of the backgrounds
    for spec in specs:
        ax = plot_ice_map(run.ice, experiment=spec.experiment, x=spec.x, total=total,
                          output=spec.output)  # fmt: skip
        caption = (
            f"{escape(spec.experiment)}: ICE of each background (rows; a subsample of "
            f"{total or spec.n_backgrounds}) at each {escape(spec.x)} (columns); white 0, red "
            "above, blue below"
        )
        if spec.output is not None:  # several model outputs: the first one is mapped
            caption += (
                f"; model output <code>{escape(spec.output)}</code> (the first of the "
                "model's outputs; the others are in ice.parquet)"
            )
        items.append(_img(_png(ax.figure), f"ICE map {spec.experiment}", caption))
    for experiment in mutations:
        ax = plot_mutation_map(run.ace, experiment=experiment)
        caption = f"{escape(experiment)}: ACE of setting each position to each base"
        items.append(_img(_png(ax.figure), f"mutation map {experiment}", caption))
    return _section("icemaps", "ICE maps", [f'<div class="figs">{"".join(items)}</div>'])


def _screens(run: LoadedRun, omitted: str | None) -> str | None:
    """Motif screens (>= 2 motifs at >= 2 positions): a heatmap and the motifs by mean ACE."""
    specs = screen_map_specs(run.ace)
    if not specs:
        return None
    body = [
        "<p>One effect per motif × position. Rows are motifs ordered by their mean ACE over "
        "the positions (largest first), columns the positions. The intervals of each motif's "
        "mean over positions need the ICE table: <code>causalgia.analyses.rank_motifs(ace, "
        "ice)</code>.</p>"
    ]
    if omitted is not None:
        body.append(_omitted(omitted))
    for spec in specs:
        title = escape(spec.title)
        if omitted is None:
            ax = plot_screen_map(run.ace, experiment=spec.experiment, output=spec.output)
            caption = (
                f"{title}: ACE of {spec.n_motifs} motifs (rows, by mean ACE over positions; "
                f"at most {MAX_SCREEN_ROWS}, those with the largest |mean ACE|) at "
                f"{spec.n_positions} positions (columns); white 0, red above, blue below; a "
                "dot marks q &lt; 0.05 (BH within the experiment)"
            )
            alt = f"motif screen heatmap {spec.title}"
            body.append(f'<div class="figs">{_img(_png(ax.figure), alt, caption)}</div>')
        ranking = screen_ranking(run.ace, experiment=spec.experiment, output=spec.output)
        body.append(
            f"<details><summary>Motifs of <code>{title}</code> by mean ACE over positions "
            f"({spec.n_motifs} motifs × {spec.n_positions} positions)</summary>"
            f"{_table(ranking, [(str(c), _col(c)) for c in ranking.columns])}</details>"
        )
    return _section("screens", "Motif screens", body)


def _forced(forced: Sequence[str]) -> str:
    """The banner of a page rendered with --force from tables that fail their checksum."""
    if not forced:
        return ""
    items = "".join(f"<li>{escape(p)}</li>" for p in forced)
    return (
        '<div class="forced" role="alert" style="background:#fdecea;border:2px solid #c62828;'
        'border-radius:6px;padding:0.6rem 1rem;margin:1rem 0"><p><b>WARNING: rendered with '
        "<code>--force</code> from tables that fail the checksums in manifest.json.</b> "
        "These tables are not what the run wrote, so the numbers on this page may not be its "
        f"results.</p><ul>{items}</ul></div>"
    )


def _dropped(manifest: Mapping[str, Any]) -> str | None:
    arms = manifest.get("nonfinite_by_arm")
    if not arms:
        return None
    frame = pd.DataFrame(
        [[a.get("experiment"), a.get("label"), a.get("dropped"), a.get("of"),
          ", ".join(str(i) for i in a.get("background_ids", []))] for a in arms],
        columns=["experiment", "label", "dropped", "of", "background ids (first 20)"],
    )  # fmt: skip
    body = [
        "<p>Units left out of the estimates for a NaN or infinite model output "
        "(<code>on_nonfinite = \"drop\"</code>); a non-finite control f(x) drops its background "
        "from every arm. The ledger lists every unit.</p>",
        _table(frame, [(c, _col(c)) for c in frame.columns]),
    ]
    return _section("dropped", "Dropped units", body)


def _notes(manifest: Mapping[str, Any]) -> str | None:
    notes = manifest.get("report", {}).get("notes") or []
    if not notes:
        return None
    return _section("notes", "Notes", [f"<ul>{''.join(f'<li>{_e(n)}</li>' for n in notes)}</ul>"])


def _provenance(manifest: Mapping[str, Any], root: Path) -> str:
    skip = {"files", "report", "versions", "pooling"}
    fields = [(k, v) for k, v in manifest.items() if k not in skip]
    rows = "".join(f"<dt>{escape(str(k))}</dt><dd>{_e(v)}</dd>" for k, v in fields)
    body = [f'<dl class="fields">{rows}</dl>']
    versions = manifest.get("versions")
    if isinstance(versions, Mapping) and versions:
        items = "".join(f"<dt>{escape(str(k))}</dt><dd>{_e(v)}</dd>" for k, v in versions.items())
        body.append(f'<h3>Versions</h3><dl class="fields">{items}</dl>')
    pooling = manifest.get("pooling")
    if isinstance(pooling, Mapping) and pooling:
        items = "".join(
            f"<dt>{escape(str(k))}</dt><dd>{_e(v)}</dd>"
            for k, v in pooling.items()
            if k != "description"
        )
        body.append(f'<h3>Pooled fit</h3><dl class="fields">{items}</dl>')
    files = manifest.get("files") or {}
    if files:
        rows = []
        for name, digest in files.items():
            path = root / name
            status = "missing" if not path.is_file() else (
                "matches" if _sha256(path) == digest else "changed since written")  # fmt: skip
            rows.append((name, digest, status))
        frame = pd.DataFrame(rows, columns=["file", "sha256", "on disk"])
        body.append("<h3>File checksums (sha256, checked against the files now)</h3>")
        body.append(_table(frame, [(c, _col(c)) for c in frame.columns]))
    text = json.dumps(manifest, indent=2, ensure_ascii=False)
    body.append(f"<details><summary>manifest.json</summary><pre>{escape(text)}</pre></details>")
    return _section("provenance", "Provenance", body)


# -- the page ------------------------------------------------------------------------------------


def _logomaker_missing() -> str | None:
    try:
        import logomaker  # noqa: F401
    except ImportError:
        return f"logomaker is not installed ({_HOW_TO_PLOT})"
    return None


def _alphabet(manifest: Mapping[str, Any]) -> str | None:
    background = manifest.get("background")
    name = background.get("alphabet") if isinstance(background, Mapping) else None
    return name if name in ("dna", "rna") else None


def render_html(
    root: str | Path,
    run: LoadedRun,
    *,
    figures: Mapping[str, Path],
    omitted: str | None,
    forced: Sequence[str] = (),
) -> str:
    """The report page of a run directory as one self-contained HTML string.

    Parameters
    ----------
    root : str or Path
        The run directory (motif files, control tables and checksums are read from it).
    run : LoadedRun
        Its tables and manifest (:func:`~causalgia.reporting.read_run`).
    figures : mapping of str to Path
        The figures drawn for report.md (``figures/curve_*.png``, ``forest.png``,
        ``pooled_*.png``), embedded as data URIs.
    omitted : str, optional
        Why figures were not drawn (``None`` when they were); logos and ICE maps, which only
        the page shows, are drawn in memory when figures are.
    forced : sequence of str
        Tables that fail their manifest checksum (rendering was forced): a warning banner at
        the top of the page names them.

    Returns
    -------
    str

    Examples
    --------
    >>> from causalgia.reporting.rundir import read_run
    >>> page = render_html("runs/demo", read_run("runs/demo"), figures={},
    ...                    omitted="figures=False was requested")  # doctest: +SKIP
    >>> page.startswith("<!DOCTYPE html>")  # doctest: +SKIP
    True
    """
    root = Path(root)
    manifest = run.manifest
    info = manifest.get("report", {})
    title = str(info.get("title", "causalgia study"))
    level = ci_level(manifest)
    table = _with_coverage(run.ace, run.truth)
    draw = omitted is None
    listed = manifest.get("files")
    used = motifs_used(run.ace, root=root, alphabet=_alphabet(manifest), listed=listed)
    sections = [
        *_study(manifest, level),
        _effects(table, level),
        _dropped(manifest),
        _figures(figures, omitted),
        _pooled(run, figures),
        _screens(run, omitted),
        _controls(run, root),
        _motifs(used, draw, _logomaker_missing() if draw else omitted),
        _ice_maps(run, draw),
        _notes(manifest),
        _provenance(manifest, root),
    ]
    present = [s for s in sections if s]
    names = {"study": "Study", "estimand": "Estimand", "effects": "Effects",
             "dropped": "Dropped units", "figures": "Figures", "pooled": "Pooled",
             "screens": "Motif screens", "controls": "Controls",
             "motifs": "Motifs", "icemaps": "ICE maps", "notes": "Notes",
             "provenance": "Provenance"}  # fmt: skip
    anchors = [a for a in names if any(s.startswith(f'<section id="{a}"') for s in present)]
    nav = "".join(f'<a href="#{a}">{names[a]}</a>' for a in anchors)
    created = manifest.get("created")
    subtitle = "causalgia run report" + (f" · run created {_e(created)}" if created else "")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<link rel="icon" href="data:,"><title>{escape(title)}</title>'
        f"<style>{_CSS}</style></head><body>"
        f'<header class="top"><h1>{escape(title)}</h1><p>{subtitle}</p><nav>{nav}</nav></header>'
        f"<main>{_forced(forced)}{_cards(run, table, level)}{''.join(present)}"
        "<footer>Self-contained page written by causalgia from the files of this run directory "
        "(<code>causalgia report DIR</code> re-renders it). It loads nothing from the network."
        f"</footer></main><script>{_JS}</script></body></html>\n"
    )


def write_html(
    root: str | Path,
    run: LoadedRun,
    *,
    figures: Mapping[str, Path],
    omitted: str | None,
    forced: Sequence[str] = (),
) -> Path:
    """Write ``report.html`` into the run directory (see :func:`render_html`); returns its path.

    Examples
    --------
    >>> from causalgia.reporting.rundir import read_run
    >>> write_html("runs/demo", read_run("runs/demo"), figures={}, omitted="off")  # doctest: +SKIP
    PosixPath('runs/demo/report.html')
    """
    page = render_html(root, run, figures=figures, omitted=omitted, forced=forced)
    return write_text(Path(root) / HTML_NAME, page)
