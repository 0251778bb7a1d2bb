"""The run directory as data: its stable names, reading it back, and what both reports share.

:mod:`~causalgia.reporting.report` writes a run directory and renders ``report.md``;
:mod:`~causalgia.reporting.htmlreport` renders ``report.html``. Both read the files on disk
through :func:`read_run` and use the helpers here (which effects form a curve, coverage of a
known truth, how a value is printed), so the two reports always say the same thing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import CausalgiaError
from .plot import _with_truth

_RESERVED = (
    "experiment label method ace se ci_low ci_high n n_control p_value q_value true_ace status"
)
RESERVED_COLUMNS = frozenset(_RESERVED.split())
CURVE_COLUMNS = ("position", "count", "spacing")
HUE_COLUMNS = ("orientation", "strand", "output")
MAX_LINES = 10
"""Most lines of one effect curve (model outputs); an experiment of more outputs is read
from its output map (reporting/outputmaps.py)."""
DEFAULT_COVERS = "Monte-Carlo sampling of backgrounds (deterministic model)"
MANIFEST_NAME = "manifest.json"
_STRING_COLUMNS = {"experiment": "str", "label": "str"}
_STUDY_FIELDS = (
    ("Model", ("model",)),
    ("Output functional f", ("output",)),
    ("Background", ("background",)),
    ("Backgrounds (n)", ("n_backgrounds", "n")),
    ("Design", ("design_kind", "design")),
    ("Seed", ("seed",)),
    ("Spec hash", ("spec_hash",)),
    ("Model fingerprint", ("model_fingerprint",)),
    ("Versions", ("versions",)),
)


@dataclass(frozen=True)
class RunDirectory:
    """A written run directory: its path and every file written, by relative name.

    Examples
    --------
    >>> RunDirectory(Path("run"), {}).path.name
    'run'
    """

    path: Path
    files: dict[str, Path]


@dataclass(frozen=True)
class LoadedRun:
    """The tables and manifest of a run directory, as read back by :func:`read_run`.

    Examples
    --------
    >>> LoadedRun(pd.DataFrame(), pd.DataFrame(), {}).design is None
    True
    """

    ace: pd.DataFrame
    ice: pd.DataFrame
    manifest: dict[str, Any]
    design: pd.DataFrame | None = None
    truth: pd.DataFrame | None = None
    controls: pd.DataFrame | None = None
    pooled: pd.DataFrame | None = None


def _sha256(path: Path) -> str:
    with open(path, "rb") as fh:  # in blocks: a table may be larger than memory allows
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _read_csv(path: Path) -> pd.DataFrame:
    # only empty cells are missing, so labels such as "NA" or "None" survive the round trip
    return pd.read_csv(path, keep_default_na=False, na_values=[""], dtype=_STRING_COLUMNS)


def verify_files(root: str | Path, manifest: Mapping[str, Any]) -> list[str]:
    """The tables of a run directory that fail the sha256 its manifest recorded for them.

    One line per problem (``"ace.csv changed since the run wrote it"``, ``"... is missing"``);
    an empty list when every listed file is as written.

    Examples
    --------
    >>> verify_files("runs/demo", {"files": {}})
    []
    """
    root = Path(root)
    problems = []
    for name, digest in (manifest.get("files") or {}).items():
        path = root / name
        if not path.is_file():
            problems.append(f"{name} is missing")
        elif _sha256(path) != digest:
            problems.append(f"{name} changed since the run wrote it")
    return problems


def ci_level(manifest: Mapping[str, Any]) -> float:
    """The interval level of a run: ``ci_level`` or ``ci`` in its manifest (default 0.95).

    Examples
    --------
    >>> ci_level({"ci": 0.9}), ci_level({})
    (0.9, 0.95)
    """
    for key in ("ci_level", "ci"):
        if isinstance(manifest.get(key), int | float):
            return float(manifest[key])
    return 0.95


def read_run(path: str | Path, *, design: bool = True, ice: bool = True) -> LoadedRun:
    """Read the tables and manifest of a run directory.

    ``design=False`` leaves out the design table (``design.csv`` or ``design.parquet``, one
    row per unit), which the reports do not need and which can be large; ``ice=False`` leaves
    out the ICE table (an empty frame stands for it).

    Parameters
    ----------
    path : str or Path
        The run directory (it must hold ``ace.csv`` and ``manifest.json``).
    design : bool, default True
        Read the design table too.
    ice : bool, default True
        Read the ICE table too.

    Returns
    -------
    LoadedRun
        The ACE and ICE tables, the manifest, and the optional tables the manifest lists
        (design, truth, controls, pooled; None when absent).

    Raises
    ------
    CausalgiaError
        When ``path`` is not a run directory or its manifest cannot be read.

    Examples
    --------
    >>> run = read_run("runs/demo")  # doctest: +SKIP
    >>> run.ace.columns[:2].tolist()  # doctest: +SKIP
    ['experiment', 'label']
    """
    root = Path(path)
    for name in ("ace.csv", MANIFEST_NAME):
        if not (root / name).is_file():
            raise CausalgiaError(f"{root} is not a causalgia run directory: {name} is missing")
    try:
        manifest = json.loads((root / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (ValueError, OSError) as err:
        raise CausalgiaError(f"{root / MANIFEST_NAME} cannot be read: {err}") from None
    if not isinstance(manifest, dict):
        raise CausalgiaError(f"{root / MANIFEST_NAME} is not a JSON object")
    if (root / "ice.parquet").is_file() and manifest.get("ice_format", "parquet") == "parquet":
        units = pd.read_parquet(root / "ice.parquet") if ice else pd.DataFrame()
    elif (root / "ice.csv").is_file():
        units = _read_csv(root / "ice.csv") if ice else pd.DataFrame()
    else:
        raise CausalgiaError(f"{root} has neither ice.parquet nor ice.csv")
    listed = manifest.get("files", {"design.csv": "", "truth.csv": ""})  # stale files are skipped
    names = ("design.csv", "truth.csv", "controls.csv", "pooled.csv")[0 if design else 1 :]
    optional = {n[:-4]: _read_csv(root / n) for n in names if n in listed}
    if design and "design.parquet" in listed:
        optional["design"] = pd.read_parquet(root / "design.parquet")
    return LoadedRun(_read_csv(root / "ace.csv"), units, manifest, **optional)


# -- which effects form a curve ----------------------------------------------------------------


def _varying(sub: pd.DataFrame, column: str) -> bool:
    return column in sub.columns and sub[column].nunique(dropna=True) >= 2


def _curve_spec(sub: pd.DataFrame) -> tuple[str, str | None] | None:
    """The (x, hue) of an effect curve for one experiment, or None when it belongs in the forest."""
    numeric = [
        c for c in CURVE_COLUMNS if _varying(sub, c) and pd.api.types.is_numeric_dtype(sub[c])
    ]
    if not numeric:
        return None
    x = numeric[0]
    hue = next((c for c in HUE_COLUMNS if _varying(sub, c)), None)
    keys = [x] if hue is None else [x, hue]
    return None if sub[keys].duplicated().any() else (x, hue)


# -- values and coverage -------------------------------------------------------------------------


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float | np.floating) and np.isnan(value)):
        return "—"
    if isinstance(value, int | np.integer | bool | np.bool_):
        return str(value)
    if isinstance(value, float | np.floating):
        return (
            str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else f"{value:.4g}"
        )
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {_fmt(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_fmt(v) for v in value)
    return str(value).replace("|", "\\|").replace("\n", " ")


def _with_coverage(ace: pd.DataFrame, truth: pd.DataFrame | None) -> pd.DataFrame:
    if truth is None:
        return ace
    table = _with_truth(ace, truth)
    inside = (table["ci_low"] <= table["true_ace"]) & (table["true_ace"] <= table["ci_high"])
    known = table["true_ace"].notna() & table["ci_low"].notna() & table["ci_high"].notna()
    table["covered"] = np.where(known, np.where(inside, "yes", "no"), None)
    return table
