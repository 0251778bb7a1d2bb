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

_RESERVED = "experiment label method ace se ci_low ci_high n n_control p_value q_value true_ace"
RESERVED_COLUMNS = frozenset(_RESERVED.split())
CURVE_COLUMNS = ("position", "count", "spacing")
HUE_COLUMNS = ("orientation", "strand")
DEFAULT_COVERS = "Monte-Carlo sampling of backgrounds (deterministic model)"
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
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read_csv(path: Path) -> pd.DataFrame:
    # only empty cells are missing, so labels such as "NA" or "None" survive the round trip
    return pd.read_csv(path, keep_default_na=False, na_values=[""], dtype=_STRING_COLUMNS)


def read_run(path: str | Path) -> LoadedRun:
    """Read the tables and manifest of a run directory.

    Examples
    --------
    >>> run = read_run("runs/demo")  # doctest: +SKIP
    >>> run.ace.columns[:2].tolist()  # doctest: +SKIP
    ['experiment', 'label']
    """
    root = Path(path)
    for name in ("ace.csv", "manifest.json"):
        if not (root / name).is_file():
            raise CausalgiaError(f"{root} is not a causalgia run directory: {name} is missing")
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    if (root / "ice.parquet").is_file() and manifest.get("ice_format", "parquet") == "parquet":
        ice = pd.read_parquet(root / "ice.parquet")
    elif (root / "ice.csv").is_file():
        ice = _read_csv(root / "ice.csv")
    else:
        raise CausalgiaError(f"{root} has neither ice.parquet nor ice.csv")
    listed = manifest.get("files", {"design.csv": "", "truth.csv": ""})  # stale files are skipped
    names = ("design.csv", "truth.csv", "controls.csv", "pooled.csv")
    optional = {n[:-4]: _read_csv(root / n) for n in names if n in listed}
    return LoadedRun(_read_csv(root / "ace.csv"), ice, manifest, **optional)


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
