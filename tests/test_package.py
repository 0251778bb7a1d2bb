"""Packaging: light import, the public names, and every example runs."""

from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path

import pytest

import causalgia

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_import_is_light():
    code = (
        "import sys, causalgia; heavy = [m for m in ('pymc', 'pytensor', 'arviz', "
        "'matplotlib', 'torch') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "[]"


def test_public_names_resolve():
    for name in causalgia.__all__:
        assert getattr(causalgia, name) is not None, name
    assert callable(causalgia.design) and callable(causalgia.simulate)
    assert callable(causalgia.experiment.backgrounds.kshuffle)
    with pytest.raises(AttributeError):
        causalgia.no_such_verb  # noqa: B018


def test_python_api_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["python_api.py", str(tmp_path / "api")])
    runpy.run_path(str(EXAMPLES / "python_api.py"), run_name="__main__")
    assert (tmp_path / "api" / "report.md").is_file()
    assert "placebo" in capsys.readouterr().out


def test_module_entry_point_help():
    proc = subprocess.run(
        [sys.executable, "-m", "causalgia", "--help"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0 and "demo" in proc.stdout and "run" in proc.stdout


def test_ci_runs_exactly_the_readme_test_command():
    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text().splitlines()
    command = next(line for line in readme if line.startswith('python -m pip install -e ".[test'))
    assert command in (root / ".ci" / "run").read_text().splitlines()
    assert readme.index(command) < 20  # it is one of the two opening commands
