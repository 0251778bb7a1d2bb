"""Resume with corrected options, relocated run directories, and the code a resume imports
(issue 11, items 4, 6 and 11).

A resume may correct options that change no forward pass (``--ci``, ``--method``, ``--title``,
a corrected ``--spec``): it reuses every chunk of the ledger and gives the table of a fresh run
with the corrected options. A correction of the design is refused before any model call. A run
directory moved or copied elsewhere resumes, or names the input file it cannot find. A resume
says which code it imports and refuses a spec that names other code unless ``--trust``.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

from causalgia.cli import main
from causalgia.engine.store import RunStore
from causalgia.errors import ConfigError
from causalgia.studies.runner import resume_study

SPEC = """
[study]
name = "corrections"
seed = 5
n = 90
chunk_size = 30
batch_size = 1000
ci = {ci}
method = "{method}"

[model]
callable = "{module}:model"
layout = "NCL"

[background]
kind = "iid"
length = 30

[[experiment]]
name = "position"
type = "positions"
motif = "GATA"
positions = [0, 12]
"""

COUNTER = """
from pathlib import Path


def model(x):
    with open(Path(__file__).with_name("rows.txt"), "a") as fh:
        fh.write(f"{len(x)}\\n")
    return x[:, 2, :].sum(axis=1) * 0.1 + x[:, 0, 5:9].sum(axis=1)
"""


def _module(folder: Path, suffix: str = "") -> str:
    """A model module of this test's own (no module of another test in sys.modules)."""
    return "counter_" + re.sub(r"\W", "_", folder.name) + suffix


def _spec(folder: Path, name: str, *, ci: float = 0.9, method: str = "paired_t",
          module: str = "") -> Path:  # fmt: skip
    path = folder / name
    path.write_text(SPEC.format(ci=ci, method=method, module=module or _module(folder)))
    return path


def _rows(folder: Path) -> list[int]:
    path = folder / "rows.txt"
    return [int(r) for r in path.read_text().split()] if path.is_file() else []


def _chunks(run: Path) -> list[tuple[int, str, str]]:
    with closing(sqlite3.connect(run / "ledger.sqlite")) as con, con:
        return con.execute("SELECT number, sha256, finished FROM chunks ORDER BY number").fetchall()


@pytest.fixture
def kit(tmp_path: Path) -> Path:
    (tmp_path / f"{_module(tmp_path)}.py").write_text(COUNTER)
    run = tmp_path / "run"
    assert main(["run", str(_spec(tmp_path, "spec.toml")), "--out", str(run), "--no-figures"]) == 0
    return tmp_path


@pytest.mark.parametrize(
    ("flags", "fresh"),
    [
        (["--ci", "0.95"], {"ci": 0.95}),
        (["--method", "bootstrap_percentile"], {"method": "bootstrap_percentile"}),
    ],
)
def test_a_corrected_option_reuses_every_forward_pass(kit, flags, fresh) -> None:
    run, clean = kit / "run", kit / "clean"
    chunks = _chunks(run)
    scored = len(_rows(kit))
    assert main(["resume", str(run), "--no-figures", *flags]) == 0
    assert _rows(kit)[scored:] == [16]  # the model's fingerprint probes, no chunk
    assert _chunks(run) == chunks  # every chunk kept as it was
    spec = _spec(kit, "fresh.toml", **fresh)
    assert main(["run", str(spec), "--out", str(clean), "--no-figures"]) == 0
    assert (run / "ace.csv").read_bytes() == (clean / "ace.csv").read_bytes()
    manifest = json.loads((run / "manifest.json").read_text())
    key, value = next(iter(fresh.items()))
    assert manifest["corrections"] == {f"study.{key}": [{"ci": 0.9}.get(key, "paired_t"), value]}
    assert manifest["n_forward"] == json.loads((clean / "manifest.json").read_text())["n_forward"]
    with RunStore(run, readonly=True) as ledger:  # later resumes use the corrected spec
        assert ledger.get("spec")["raw"]["study"][key] == value
        assert list(ledger.events().kind)[-3:] == ["complete", "spec", "finished"]


def test_the_report_uses_the_corrected_level_and_title(kit) -> None:
    run = kit / "run"
    assert "| 90% CI |" in (run / "report.md").read_text()
    assert main(["resume", str(run), "--no-figures", "--ci", "0.8", "--title", "Fixed"]) == 0
    text = (run / "report.md").read_text()
    assert text.startswith("# Fixed\n") and "| 80% CI |" in text and "| 90% CI |" not in text


def test_a_design_correction_is_refused_before_any_model_call(kit, capsys) -> None:
    run = kit / "run"
    chunks, scored = _chunks(run), len(_rows(kit))
    corrected = _spec(kit, "bigger.toml", ci=0.95)
    corrected.write_text(corrected.read_text().replace("n = 90", "n = 120"))
    capsys.readouterr()
    assert main(["resume", str(run), "--spec", str(corrected)]) == 2
    err = capsys.readouterr().err
    assert "resume cannot change study.n (90 -> 120)" in err and "start a new run" in err
    assert len(_rows(kit)) == scored and _chunks(run) == chunks
    with pytest.raises(ConfigError, match=r"study\.ci = 95 must lie in \(0, 1\)"):
        resume_study(run, ci=95)


def test_a_resume_names_its_code_and_refuses_other_code_unless_trusted(kit, capsys) -> None:
    run = kit / "run"
    ours, theirs = _module(kit), _module(kit, "_other")
    shutil.copy(kit / f"{ours}.py", kit / f"{theirs}.py")
    capsys.readouterr()
    assert main(["resume", str(run), "--no-figures"]) == 0
    err = capsys.readouterr().err
    assert f"model.callable = '{ours}:model': resuming imports and runs this code" in err
    assert str(kit / f"{ours}.py") in err
    other = _spec(kit, "other.toml", module=theirs)
    assert main(["resume", str(run), "--spec", str(other), "--no-figures"]) == 2
    err = capsys.readouterr().err
    assert f"records model.callable = '{ours}:model'" in err and f"'{theirs}:model'" in err
    assert "--trust" in err and "Traceback" not in err
    before = (run / "ace.csv").read_bytes()
    assert main(["resume", str(run), "--spec", str(other), "--trust", "--no-figures"]) == 0
    assert f"module {theirs}" in capsys.readouterr().err
    assert (run / "ace.csv").read_bytes() == before


# -- relocatable run directories ----------------------------------------------------------------

RELOCATED = """
[study]
seed = 2
n = 60
chunk_size = 20

[model]
builtin = "additive_oracle"
motif = "GATAAG"
length = 40

[background]
kind = "profile"
fasta = "data/bg.fa"

[[experiment]]
type = "positions"
motif = "GATAAG"
positions = [0, 20]
"""


def _project(root: Path) -> Path:
    """A project: spec.toml, data/bg.fa (read through a relative path), an interrupted run."""
    (root / "data").mkdir(parents=True)
    codes = np.random.default_rng(0).integers(0, 4, size=(30, 40))
    fasta = "".join(f">s{i}\n{''.join('ACGT'[c] for c in row)}\n" for i, row in enumerate(codes))
    (root / "data" / "bg.fa").write_text(fasta)
    (root / "spec.toml").write_text(RELOCATED)
    run = root / "runs" / "r"
    assert main(["run", str(root / "spec.toml"), "--out", str(run), "--no-figures"]) == 0
    shutil.copy(run / "ace.csv", root / "reference_ace.csv")
    # interrupted: the last chunk is missing
    with closing(sqlite3.connect(run / "ledger.sqlite")) as con, con:
        con.execute("DELETE FROM chunks WHERE number = (SELECT MAX(number) FROM chunks)")
    return run


def test_a_copied_run_directory_resumes_and_a_moved_project_too(tmp_path, capsys) -> None:
    run = _project(tmp_path / "project")
    alone = tmp_path / "elsewhere" / "r"
    shutil.copytree(run, alone)  # the run directory alone; the project is still in place
    shutil.copytree(run, tmp_path / "spare" / "r")
    assert main(["resume", str(alone), "--no-figures"]) == 0
    assert (alone / "ace.csv").read_bytes() == (tmp_path / "project/reference_ace.csv").read_bytes()
    moved = tmp_path / "moved" / "project"
    shutil.copytree(tmp_path / "project", moved)  # the whole project, then the original is gone
    shutil.rmtree(tmp_path / "project")
    assert main(["resume", str(moved / "runs" / "r"), "--no-figures"]) == 0
    resumed = moved / "runs" / "r"
    assert (resumed / "ace.csv").read_bytes() == (moved / "reference_ace.csv").read_bytes()
    with RunStore(resumed, readonly=True) as ledger:
        assert ledger.get("spec")["base_dir"] == str(moved.resolve())
    lost = tmp_path / "lost" / "r"
    shutil.copytree(tmp_path / "spare" / "r", lost)  # alone, and its project is gone
    capsys.readouterr()
    assert main(["resume", str(lost), "--no-figures"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1
    beside, recorded = (tmp_path / "data" / "bg.fa"), (tmp_path / "project" / "data" / "bg.fa")
    assert (
        f"background.fasta = 'data/bg.fa': the file is neither at {beside} nor at {recorded}" in err
    )
    assert main(["resume", str(lost), "--spec", str(moved / "spec.toml"), "--no-figures"]) == 0
