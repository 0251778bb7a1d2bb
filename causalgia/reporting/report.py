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
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._files import atomic_path, ensure_dir, write_text
from ..errors import OptionError, StoreError
from .htmlreport import HTML_NAME, write_html
from .icemaps import sample_backgrounds
from .logos import MOTIF_FILE, write_motifs
from .outputmaps import output_map_experiments, plot_output_map
from .plot import _with_truth, plot_effect_curve, plot_forest
from .rundir import (
    _STUDY_FIELDS,
    CURVE_COLUMNS,
    DEFAULT_COVERS,
    HUE_COLUMNS,  # noqa: F401  (re-exported: report.py was their home)
    MANIFEST_NAME,
    MAX_LINES,
    RESERVED_COLUMNS,
    LoadedRun,
    RunDirectory,
    _curve_spec,
    _fmt,
    _sha256,
    _with_coverage,
    ci_level,
    read_run,
    verify_files,
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


@dataclass(frozen=True)
class IceBlocks:
    """An ICE table too large for memory, as consecutive blocks of rows.

    :func:`write_report` writes the blocks one at a time to ``ice.parquet`` (``ice.csv``
    without pyarrow); the ICE maps of report.html see the rows of :data:`MAX_BACKGROUNDS`
    evenly spaced backgrounds, which is what they draw of a whole table.

    Parameters
    ----------
    blocks : callable
        Returns an iterable of the table's blocks, in order (called once).
    like : DataFrame
        A few rows typed as the whole table (the parquet schema comes from it).

    Examples
    --------
    >>> t = pd.DataFrame({"experiment": "e", "label": "a", "background_id": [0, 1], "ice": 1.0})
    >>> IceBlocks(lambda: [t.iloc[:1], t.iloc[1:]], t).like.shape
    (2, 4)
    """

    blocks: Callable[[], Iterable[pd.DataFrame]]
    like: pd.DataFrame


def _write_ice(ice: pd.DataFrame | IceBlocks, out: Path) -> tuple[str, pd.DataFrame]:
    """Write ice.parquet (or ice.csv); return the format and the rows the reports need."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        fmt = "csv"
    else:
        fmt = "parquet"
    if isinstance(ice, pd.DataFrame):
        if fmt == "csv":
            _write_csv(ice, out / "ice.csv")
        else:
            with atomic_path(out / "ice.parquet") as tmp:
                ice.to_parquet(tmp, index=False, engine="pyarrow")
        return fmt, ice
    sample: list[pd.DataFrame] = []
    picked: list[np.ndarray] = []

    def keep_sample(blocks: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for block in blocks:
            if not picked and not block.empty:
                picked.append(sample_backgrounds(block["background_id"].to_numpy()))
            if picked:
                sample.append(block[block["background_id"].isin(picked[0])])
            yield block

    path = out / f"ice.{fmt}"
    with atomic_path(path) as tmp:
        if fmt == "csv":
            write_csv_blocks(keep_sample(ice.blocks()), tmp)
        else:
            _write_parquet_blocks(keep_sample(ice.blocks()), tmp, like=ice.like)
    return fmt, pd.concat(sample, ignore_index=True) if sample else ice.like.iloc[:0]


def _write_csv(table: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)


def write_design_table(
    design: pd.DataFrame | Iterable[pd.DataFrame], out_dir: str | Path, fmt: str = "csv"
) -> str:
    """Write the design table as ``design.csv`` or ``design.parquet``, one block at a time.

    Blocks written one after the other give the bytes of the whole table written at once (a
    CSV header before the first block only); a parquet file gets one row group per block, so
    every block must convert to the schema of the first (``Design.iter_frames(typed=True)``).
    The file is written atomically; returns its name.

    Parameters
    ----------
    design : DataFrame or iterable of DataFrame
        The table, or consecutive blocks of it.
    out_dir : str or Path
        The run directory.
    fmt : {"csv", "parquet"}
        File format (parquet needs pyarrow).

    Returns
    -------
    str
        ``"design.csv"`` or ``"design.parquet"``.

    Raises
    ------
    OptionError
        On another ``fmt``, or parquet without pyarrow.
    StoreError
        The file cannot be written (a full disk, permissions), naming it.

    Examples
    --------
    >>> import tempfile
    >>> blocks = [pd.DataFrame({"label": ["a"], "position": [3]})] * 2
    >>> folder = Path(tempfile.mkdtemp())
    >>> write_design_table(iter(blocks), folder)
    'design.csv'
    >>> (folder / "design.csv").read_text().splitlines()
    ['label,position', 'a,3', 'a,3']
    """
    if fmt not in ("csv", "parquet"):
        raise OptionError(f"design table format {fmt!r} is not one of 'csv', 'parquet'")
    blocks = [design] if isinstance(design, pd.DataFrame) else design
    name = f"design.{fmt}"
    with atomic_path(Path(out_dir) / name) as tmp:
        if fmt == "parquet":
            _write_parquet_blocks(blocks, tmp)
        else:
            write_csv_blocks(blocks, tmp)
    return name


def write_csv_blocks(blocks: Iterable[pd.DataFrame], path: Path) -> None:
    """Write consecutive blocks of one table to a CSV file, the header once.

    Parameters
    ----------
    blocks : iterable of DataFrame
        The table's blocks, in order.
    path : Path
        The file to write.
    """
    with open(path, "w", encoding="utf-8", newline="") as fh:
        for number, block in enumerate(blocks):
            block.to_csv(fh, index=False, header=number == 0)


def _write_parquet_blocks(
    blocks: Iterable[pd.DataFrame], path: Path, like: pd.DataFrame | None = None
) -> None:
    """One row group per block; the schema is ``like``'s, else the first block's."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise OptionError("a parquet table needs pyarrow") from None
    writer = None
    schema = None if like is None else pa.Schema.from_pandas(like, preserve_index=False)
    try:
        for block in blocks:
            table = pa.Table.from_pandas(block, schema=schema, preserve_index=False)
            if writer is None:
                schema = table.schema if schema is None else schema
                writer = pq.ParquetWriter(path, schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()


def _output_curves(
    sub: pd.DataFrame,
    experiment: str,
    truth: pd.DataFrame | None,
    folder: Path,
    taken: set[str],
    rest: list[pd.DataFrame],
) -> dict[str, Path]:
    """One curve per model output of an experiment whose curve has a line per other column
    (orientation, strand); the experiment goes to the forest plot when they are not curves."""
    from matplotlib.figure import Figure

    parts = [(str(o), g, _curve_spec(g)) for o, g in sub.groupby("output", sort=False)]
    if any(spec is None for _, _, spec in parts) or len(parts) > MAX_LINES:
        rest.append(sub)
        return {}
    drawn = {}
    for output, group, spec in parts:
        assert spec is not None
        fig = Figure(figsize=(6.4, 4.0), layout="constrained")
        plot_effect_curve(group, x=spec[0], experiment=experiment, hue=spec[1], truth=truth,
                          ax=fig.add_subplot(), title=f"{experiment} ({output})")  # fmt: skip
        name = f"figures/curve_{_safe_name(f'{experiment}_{output}', taken)}.png"
        drawn[name] = _save_figure(fig, folder.parent / name)
    return drawn


def _save_figure(fig: Any, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120)
    return path


def write_report(
    out_dir: str | Path,
    *,
    ace: pd.DataFrame,
    ice: pd.DataFrame | IceBlocks,
    manifest: Mapping[str, Any],
    title: str = "causalgia study",
    truth: pd.DataFrame | None = None,
    design: pd.DataFrame | Iterable[pd.DataFrame] | None = None,
    design_format: str = "csv",
    notes: Iterable[str] = (),
    figures: bool = True,
    controls: pd.DataFrame | None = None,
    pooled: pd.DataFrame | None = None,
    control_tables: Mapping[str, pd.DataFrame] | None = None,
    motifs: Iterable[Motif] = (),
    attachments: Mapping[str, Callable[[Path], object]] | None = None,
) -> RunDirectory:
    """Write a run directory: tables, ``manifest.json``, figures, ``report.md`` and ``report.html``.

    Every file is written atomically (a temporary name, then ``os.replace``), and an existing
    ``manifest.json`` is deleted before the first table is written, so a directory whose
    writing was interrupted has no manifest and cannot pass for a finished run. The manifest
    records a ``run_id`` (the one given in ``manifest``, else a new uuid4 hex) and the sha256
    of every table.

    Parameters
    ----------
    out_dir : str or Path
        Directory to write (created with its parents; existing files are overwritten).
    ace : DataFrame
        The ACE table (one row per effect).
    ice : DataFrame or IceBlocks
        The ICE table (one row per arm and background), or its blocks when it is too large
        for memory (:class:`IceBlocks`).
    manifest : mapping
        JSON-safe provenance (versions, seeds, spec hash, model fingerprint, background, n, ...).
        The optional key ``interval_covers`` says which uncertainty the intervals cover.
    title : str
        Title of ``report.md``.
    truth : DataFrame, optional
        Known effects ``experiment, label, true_ace`` (oracle models); adds coverage columns.
    design : DataFrame or iterable of DataFrame, optional
        The design table, or its blocks (``Design.iter_frames()``), which are streamed to the
        file one at a time (:func:`write_design_table`).
    design_format : {"csv", "parquet"}
        ``design.csv`` or ``design.parquet``.
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
    attachments : mapping of file name to writer, optional
        More files of the run (``{"posterior.nc": fit.save}``): each writer is called with a
        temporary path in the run directory, which then replaces the final name; the file is
        listed, with its sha256, in the manifest.

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
    out = ensure_dir(out_dir)
    try:
        (out / MANIFEST_NAME).unlink(missing_ok=True)  # the old outputs are stale from here on
    except OSError as err:
        raise StoreError(f"cannot remove {out / MANIFEST_NAME}: {err.strerror or err}") from None
    _write_csv(ace, out / "ace.csv")
    ice_format, ice = _write_ice(ice, out)
    written = ["ace.csv", f"ice.{ice_format}"]
    if design is not None:
        written.append(write_design_table(design, out, design_format))
    tables = (("truth.csv", truth), ("controls.csv", controls), ("pooled.csv", pooled))
    tables += tuple((f"controls/{k}.csv", t) for k, t in (control_tables or {}).items())
    for name, table in tables:
        if table is not None:
            ensure_dir((out / name).parent)
            _write_csv(table, out / name)
            written.append(name)
    motifs = list(motifs)
    if motifs:
        written.append(write_motifs(motifs, out / MOTIF_FILE).name)
    for name, writer in (attachments or {}).items():
        with atomic_path(out / name) as tmp:
            writer(tmp)
        written.append(name)
    full = dict(manifest)
    full["run_id"] = str(full.get("run_id") or uuid.uuid4().hex)
    full["files"] = {name: _sha256(out / name) for name in written}
    full["ice_format"] = written[1].split(".")[1]
    full["report"] = {"title": title, "notes": [str(n) for n in notes]}
    text = json.dumps(full, indent=2, default=_json_default, ensure_ascii=False)
    write_text(out / MANIFEST_NAME, text + "\n")
    files = {name: out / name for name in [*written, MANIFEST_NAME]}
    # the tables were just written and hashed: render without verifying them again
    run = replace(read_run(out, design=False, ice=False), ice=ice)
    return RunDirectory(out, {**files, **_render(out, run, figures).files})


def render_report(
    path: str | Path,
    *,
    figures: bool = True,
    force: bool = False,
    ice: pd.DataFrame | None = None,
) -> RunDirectory:
    """(Re-)write ``report.md``, ``report.html`` and ``figures/*.png`` from a run directory.

    report.html embeds the figures and also draws motif logos and ICE maps in memory (they are
    not written as files, and report.md does not list them). The tables are first checked
    against the sha256 that ``manifest.json`` recorded for each: an edited or missing table
    raises :class:`~causalgia.errors.StoreError` naming it, unless ``force=True``, which
    renders anyway and says at the top of both reports which files fail their checksum.
    ``ice`` is the ICE table as just written (:func:`write_report` passes it), so that a large
    table is not held twice; by default it is read from the directory.

    Parameters
    ----------
    path : str or Path
        The run directory.
    figures : bool, default True
        Draw ``figures/*.png`` (skipped, with a note in the reports, without matplotlib).
    force : bool, default False
        Render even when tables fail their recorded sha256, flagging them at the top.
    ice : DataFrame, optional
        The ICE table, when the caller already holds it (default: read from ``path``).

    Returns
    -------
    RunDirectory
        ``path`` and the files written: the reports and the figures drawn.

    Raises
    ------
    StoreError
        When a table fails its recorded sha256 and ``force`` is False.

    Examples
    --------
    >>> sorted(render_report("runs/demo", figures=False).files)  # doctest: +SKIP
    ['report.html', 'report.md']
    """
    root = Path(path)
    run = read_run(root, design=False, ice=False)  # the reports never show the design
    run = replace(run, ice=ice if ice is not None else read_ice_sample(root, run.manifest))
    forced = verify_files(root, run.manifest)
    if forced and not force:
        raise StoreError(
            f"run directory {root}: {forced[0]}"
            + (f" (and {len(forced) - 1} more)" if len(forced) > 1 else "")
            + f"; its sha256 no longer matches {MANIFEST_NAME}, so the report would not show "
            f"what the run computed; `causalgia report --force {root}` renders it anyway, "
            "flagged at the top"
        )
    return _render(root, run, figures, forced)


def _render(
    root: Path, run: LoadedRun, figures: bool, forced: Sequence[str] = ()
) -> RunDirectory:
    """Draw the figures and write report.md and report.html of a run read back (verified)."""
    _check_ace(run.ace)
    drawn: dict[str, Path] = {}
    omitted: str | None = "figures=False was requested"
    if figures and _have_matplotlib():
        drawn, omitted = _draw_figures(run.ace, run.truth, root / "figures"), None
        if run.pooled is not None:
            drawn.update(_draw_pooled(run.pooled, run.ace, run.truth, root / "figures"))
    elif figures:
        omitted = "install causalgia[plot] (matplotlib) to draw them"
    text = _markdown(run, list(drawn), omitted, forced)
    write_text(root / "report.md", text)
    page = write_html(root, run, figures=drawn, omitted=omitted, forced=forced)
    return RunDirectory(root, {**drawn, "report.md": root / "report.md", HTML_NAME: page})


def read_ice_sample(path: str | Path, manifest: Mapping[str, Any]) -> pd.DataFrame:
    """The rows of ``ice.parquet`` (or ``ice.csv``) that the reports draw: every unit of
    :data:`~causalgia.reporting.icemaps.MAX_BACKGROUNDS` evenly spaced backgrounds.

    With pyarrow only the ``background_id`` column is read whole; the rows of the chosen
    backgrounds are then read with a filter, so re-rendering a run of millions of unit rows
    does not load its ICE table. ``ice.csv`` (written without pyarrow) is read whole.

    Parameters
    ----------
    path : str or Path
        The run directory.
    manifest : mapping
        Its manifest (``ice_format`` says which file holds the table).

    Returns
    -------
    DataFrame
        The sampled rows, in file order.
    """
    root = Path(path)
    parquet = root / "ice.parquet"
    if manifest.get("ice_format", "parquet") == "parquet" and parquet.is_file():
        import pyarrow.parquet as pq

        if "background_id" in pq.read_schema(parquet).names:
            ids = pd.read_parquet(parquet, columns=["background_id"])["background_id"]
            keep = sample_backgrounds(ids.to_numpy()).tolist()
            return pd.read_parquet(parquet, filters=[("background_id", "in", keep)])
    return read_run(root, design=False).ice


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


FIGURE_FILES = (  # every figure _draw_figures writes (a fresh run deletes the old ones)
    "figures/curve_*.png", "figures/forest.png", "figures/pooled_*.png", "figures/outputs_*.png"
)
FOREST_ROWS = 80  #: an experiment with more effects is left out of forest.png (too tall to read)


def _draw_figures(ace: pd.DataFrame, truth: pd.DataFrame | None, folder: Path) -> dict[str, Path]:
    # Figure objects without pyplot: no backend switch for the caller, nothing left open
    from matplotlib.figure import Figure

    ensure_dir(folder)
    drawn: dict[str, Path] = {}
    taken: set[str] = set()
    rest = []
    for experiment, sub in ace.groupby("experiment", sort=False):
        spec = _curve_spec(sub)
        if spec is None and "output" in sub.columns and sub["output"].nunique() > 1:
            drawn.update(_output_curves(sub, str(experiment), truth, folder, taken, rest))
            continue
        if spec is not None and spec[1] == "output" and sub["output"].nunique() > MAX_LINES:
            continue  # too many lines to read: the output map shows them
        if spec is None:
            rest.append(sub)
            continue
        fig = Figure(figsize=(6.4, 4.0), layout="constrained")
        plot_effect_curve(
            sub, x=spec[0], experiment=experiment, hue=spec[1], truth=truth, ax=fig.add_subplot()
        )
        name = f"figures/curve_{_safe_name(experiment, taken)}.png"
        drawn[name] = _save_figure(fig, folder.parent / name)
    mapped: set[str] = set()
    for experiment in output_map_experiments(ace):  # several model outputs: arm × output
        ax = plot_output_map(ace, experiment=experiment)
        name = f"figures/outputs_{_safe_name(experiment, mapped)}.png"
        drawn[name] = _save_figure(ax.figure, folder.parent / name)
    rest = [sub for sub in rest if len(sub) <= FOREST_ROWS]  # a screen's map shows the rest
    if rest:
        table = pd.concat(rest)
        fig = Figure(figsize=(6.4, max(2.4, 0.3 * len(table) + 1.2)), layout="constrained")
        plot_forest(table, truth=truth, ax=fig.add_subplot(), title="Other effects")
        drawn["figures/forest.png"] = _save_figure(fig, folder / "forest.png")
    return drawn


# -- markdown ----------------------------------------------------------------------------------


def _study_lines(manifest: Mapping[str, Any]) -> list[str]:
    lines = ["## Study", ""]
    for name, keys in _STUDY_FIELDS:
        found = next((manifest[k] for k in keys if k in manifest), None)
        lines.append(f"- {name}: {'not recorded' if found is None else _fmt(found)}")
    if manifest.get("truth"):
        lines.append(f"- Known effects (true_ace): {_fmt(manifest['truth'])}")
    if "run_id" in manifest:
        lines.append(f"- Run id: {_fmt(manifest['run_id'])}")
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
    if "status" in sub.columns and (sub["status"].astype(str) != "ok").any():
        extra.append("status")  # units dropped for non-finite outputs
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


def _forced_lines(forced: Sequence[str]) -> list[str]:
    if not forced:
        return []
    return [
        "> **WARNING: rendered with `--force` from tables that fail the checksums in "
        f"manifest.json: {_fmt('; '.join(forced))}.** These tables are not what the run wrote, "
        "so the numbers below may not be its results.",
        "",
    ]


def _markdown(
    run: LoadedRun, figures: list[str], omitted: str | None, forced: Sequence[str] = ()
) -> str:
    info = run.manifest.get("report", {})
    level = ci_level(run.manifest)
    lines = [f"# {info.get('title', 'causalgia study')}", "", *_forced_lines(forced)]
    lines += _study_lines(run.manifest) + _estimand_lines(run.manifest, level)
    lines += _effects_lines(run.ace, run.truth, level)
    lines += _dropped_lines(run.manifest)
    lines += _controls_lines(run.controls) + _pooled_lines(run.pooled, run.truth, run.manifest)
    lines += ["## Figures", ""]
    if omitted is not None:
        lines += [f"Figures omitted: {omitted}.", ""]
    for name in figures:
        lines += [f"![{Path(name).stem}]({name})", ""]
    if info.get("notes"):
        lines += ["## Notes", "", *(f"- {note}" for note in info["notes"]), ""]
    return "\n".join(lines)


def _dropped_lines(manifest: Mapping[str, Any]) -> list[str]:
    """Units dropped for non-finite model outputs, arm by arm (``on_nonfinite = "drop"``)."""
    arms = manifest.get("nonfinite_by_arm")
    if not arms:
        return []
    lines = [
        "## Dropped units (non-finite model outputs)",
        "",
        "These units were left out of the estimates (`on_nonfinite = \"drop\"`); a NaN or "
        "infinite control f(x) drops its background from every arm. The ledger lists every unit.",
        "",
        "| experiment | label | dropped | of | background ids (first 20) |",
        "|---|---|---|---|---|",
    ]
    for arm in arms:
        ids = ", ".join(str(i) for i in arm.get("background_ids", []))
        cells = [_fmt(arm.get(k)) for k in ("experiment", "label", "dropped", "of")]
        lines.append("| " + " | ".join([*cells, ids]) + " |")
    return [*lines, ""]


# -- controls and pooled (hierarchical) estimates ------------------------------------------------


def _controls_lines(controls: pd.DataFrame | None) -> list[str]:
    if controls is None or controls.empty:
        return []
    mark = {"True": "PASS", "False": "FAIL"}
    lines = ["## Controls", "", "| check | result | explanation |", "|---|---|---|"]
    outputs = "output" in controls.columns  # several model outputs: a verdict per output
    for r in controls.itertuples(index=False):
        verdict = mark.get(str(r.passed), "info")
        check = _fmt(r.check_name)
        if outputs and not pd.isna(r.output):
            check += f" [{_fmt(r.output)}]"
        lines.append(f"| {check} | {verdict} | {_fmt(r.text)} |")
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
    if "output" in table.columns:  # several model outputs: a condition per arm × output
        params.insert(0, "output")
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
        several = spec is not None and spec[1] == "output"  # a line per model output
        if spec is None or (spec[1] is not None and not several):
            continue
        if several and sub["output"].nunique() > MAX_LINES:
            continue
        x = spec[0]
        fig = Figure(figsize=(6.4, 4.0), layout="constrained")
        ax = fig.add_subplot()
        plot_effect_curve(sub, x=x, experiment=experiment, truth=truth, ax=ax, hue=spec[1],
                          title=f"{experiment}: pooled (posterior mean, HDI band)")  # fmt: skip
        if not several:
            ax.lines[0].set_label("pooled posterior mean, HDI")
        raw = ace[ace["experiment"] == experiment].sort_values(x)
        err = [raw["ace"] - raw["ci_low"], raw["ci_high"] - raw["ace"]]
        ax.errorbar(raw[x], raw["ace"], yerr=err, fmt="s", ms=3, color="0.35", lw=0.8,
                    capsize=2, label="raw ACE, 95% CI")  # fmt: skip
        ax.legend(frameon=False, fontsize="small")
        name = f"figures/pooled_{_safe_name(experiment, taken)}.png"
        drawn[name] = _save_figure(fig, folder.parent / name)
    return drawn
