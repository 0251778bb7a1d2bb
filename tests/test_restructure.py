"""The stage layout (issue 10): shape of the tree, no private cross-stage imports, and results,
fingerprints and run directories unchanged by the move.

tests/fixtures/bit_identity.json and tests/fixtures/old_run/ were written by the code of the
commit before the restructure (d0845aa), with the spec recorded beside the numbers.
"""

from __future__ import annotations

import ast
import json
import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

import causalgia
from causalgia.studies import parse_spec, resume_study, run_study

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "causalgia"
FIXTURES = Path(__file__).with_name("fixtures")
BASE_DIRS = {"demo": PACKAGE / "studies", "additive_oracle": ROOT / "examples"}


def _stage(module: str) -> str:
    """The stage of a dotted module name: causalgia.engine.models -> engine; top level -> itself."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _imports(path: Path) -> list[tuple[str, str]]:
    """(imported module, name) for every ``from ... import name`` inside the package."""
    module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.level or "causalgia" in (node.module or "")):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module
            found += [(target, alias.name) for alias in node.names]
    return found


def test_top_level_has_at_most_20_entries():
    entries = [p.name for p in PACKAGE.iterdir() if p.name != "__pycache__"]
    assert len(entries) <= 20, sorted(entries)
    stages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert stages == {
        "sequences", "experiment", "engine", "stats", "analyses", "pooling", "checks", "lab",
        "reporting", "studies", "validation",
    }  # fmt: skip


def test_no_private_name_crosses_a_stage():
    crossing = []
    for path in PACKAGE.rglob("*.py"):
        here = _stage(".".join(path.relative_to(ROOT).with_suffix("").parts))
        for target, name in _imports(path):
            private = name.startswith("_") and not name.startswith("__")
            if private and _stage(target) != here:
                crossing.append(f"{path.relative_to(ROOT)} imports {target}.{name}")
    assert not crossing, crossing


def test_every_public_name_resolves_through_its_stage():
    for name in causalgia.__all__:
        if name != "__version__":
            assert getattr(causalgia, name) is not None
    from causalgia import experiment

    assert causalgia.backgrounds is experiment.backgrounds
    assert causalgia.design is experiment.design


def test_old_flat_module_paths_are_a_clean_break():
    """CHANGELOG.md lists the old paths; they are not importable any more."""
    with pytest.raises(ModuleNotFoundError):
        __import__("causalgia.simulator")
    changelog = (ROOT / "CHANGELOG.md").read_text()
    for old in ("causalgia.simulator", "causalgia.compare", "causalgia.config", "causalgia.study"):
        assert f"`{old}`" in changelog


@pytest.mark.parametrize("name", ["demo", "additive_oracle"])
def test_results_are_bit_identical_to_the_pre_restructure_code(name, tmp_path):
    before = json.loads((FIXTURES / "bit_identity.json").read_text())[name]
    spec = parse_spec(before["spec"], BASE_DIRS[name])
    assert spec.spec_hash == before["manifest"]["spec_hash"]
    ace = run_study(spec, tmp_path / name, figures=False, progress=False).ace
    assert (ace["experiment"] + "/" + ace["label"]).tolist() == before["labels"]
    for column in ("ace", "se", "p_value"):
        assert [float(v).hex() for v in ace[column]] == before[column], column
    manifest = json.loads((tmp_path / name / "manifest.json").read_text())
    assert manifest["model_fingerprint"] == before["manifest"]["model_fingerprint"]
    with sqlite3.connect(tmp_path / name / "ledger.sqlite") as ledger:
        identity = json.loads(ledger.execute("SELECT value FROM meta WHERE key = 'identity'")
                              .fetchone()[0])  # fmt: skip
    assert identity["design_fingerprint"] == before["manifest"]["design_fingerprint"]


def test_a_run_directory_written_before_the_move_resumes(tmp_path):
    """An interrupted old run (its last chunk removed from the old ledger) is finished by the
    new code: the fingerprints match (else resume refuses), and ace.csv is byte-identical to the
    old uninterrupted run's."""
    run = tmp_path / "old_run"
    run.mkdir()
    shutil.copy(FIXTURES / "old_run" / "ledger.sqlite", run / "ledger.sqlite")
    with sqlite3.connect(run / "ledger.sqlite") as ledger:
        kept = ledger.execute("SELECT number, sha256 FROM chunks WHERE number < 2").fetchall()
        ledger.execute("DELETE FROM chunks WHERE number = 2")
        ledger.execute("UPDATE meta SET value = ? WHERE key = 'status'", (json.dumps("running"),))
    resume_study(run, figures=False, progress=False)
    _assert_same_ace_csv(run / "ace.csv", FIXTURES / "old_run" / "ace.csv")
    with sqlite3.connect(run / "ledger.sqlite") as ledger:
        rows = ledger.execute("SELECT number, sha256 FROM chunks ORDER BY number").fetchall()
    assert rows[:2] == kept and len(rows) == 3  # old chunks kept, the missing one evaluated


def _assert_same_ace_csv(new: Path, old: Path) -> None:
    """Same rows, columns and numbers; parameter columns compared by value.

    The old code wrote integer design parameters as floats (``position`` 0.0 beside arms that
    lack it); they now stay integers (``0``, issue 13), so the files differ in that formatting
    only. Every estimate column must be bit-identical.
    """
    a = pd.read_csv(new, keep_default_na=False, na_values=[""])
    b = pd.read_csv(old, keep_default_na=False, na_values=[""])
    assert list(a.columns) == list(b.columns)
    estimates = ["ace", "se", "ci_low", "ci_high", "n", "p_value", "q_value"]
    for column in a.columns:
        if column in estimates:
            assert a[column].tolist() == b[column].tolist(), column
        else:
            assert a[column].astype(object).where(a[column].notna(), None).tolist() == (
                b[column].astype(object).where(b[column].notna(), None).tolist()
            ), column
    text = pd.read_csv(new, dtype=str, keep_default_na=False)
    assert text.loc[text["experiment"] == "position", "position"].str.fullmatch(r"\d+").all()
