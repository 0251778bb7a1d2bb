"""Tests of causalgia.reporting.report: writing, reading and re-rendering a run directory."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from causalgia.errors import CausalgiaError, OptionError
from causalgia.reporting.report import RunDirectory, read_run, render_report, write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _tables() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """A small ACE/ICE/truth set: a position sweep by orientation, a count sweep, controls."""
    rng = np.random.default_rng(7)
    rows = [("pos", f"p{p}{o}", p, np.nan, o, "GATA") for o in "+-" for p in (0, 10, 20)]
    rows += [("counts", f"{c}x", np.nan, c, None, "CTCF") for c in (1, 2, 3)]
    rows += [
        ("controls", "shuffled", np.nan, np.nan, None, "shuf"),
        ("controls", "NA", np.nan, np.nan, None, None),
    ]
    ace = pd.DataFrame(
        rows, columns=["experiment", "label", "position", "count", "orientation", "motif"]
    )
    ace["method"] = "paired"
    ace["ace"] = rng.normal(size=len(ace)) / 3
    ace["se"] = 0.05 + rng.uniform(size=len(ace)) / 10
    ace["ci_low"] = ace["ace"] - 1.96 * ace["se"]
    ace["ci_high"] = ace["ace"] + 1.96 * ace["se"]
    ace["n"] = np.int64(50)
    ace["p_value"] = rng.uniform(size=len(ace)) / 7
    ace["q_value"] = np.minimum(1.0, ace["p_value"] * 2)
    truth = ace[["experiment", "label"]].assign(
        true_ace=ace["ace"] + 0.1 * rng.normal(size=len(ace))
    )
    truth.loc[0, "true_ace"] = ace.loc[0, "ci_high"] + 1.0  # one known miss
    ice = (
        ace[["experiment", "label", "position", "count", "orientation"]]
        .loc[np.repeat(ace.index, 4)]
        .reset_index(drop=True)
    )
    ice["background_id"] = np.tile(np.arange(4), len(ace))
    ice["y_control"] = rng.normal(size=len(ice))
    ice["y_do"] = ice["y_control"] + rng.normal(size=len(ice))
    ice["ice"] = ice["y_do"] - ice["y_control"]
    return ace, ice, truth


MANIFEST = {
    "model": "oracle",
    "seed": 3,
    "n_backgrounds": 4,
    "spec_hash": "abc123",
    "versions": {"causalgia": "0.1.0"},
}


def _write(tmp_path: Path, **options: object) -> tuple[RunDirectory, pd.DataFrame]:
    ace, ice, truth = _tables()
    design = pd.DataFrame({"arm": ["a", "b"], "position": [0, 10]})
    run = write_report(
        tmp_path / "run" / "nested",
        ace=ace,
        ice=ice,
        manifest=MANIFEST,
        truth=truth,
        design=design,
        notes=["first note"],
        **options,
    )
    return run, ace


def test_write_report_writes_every_file(tmp_path: Path) -> None:
    run, _ = _write(tmp_path)
    names = {"ace.csv", "ice.parquet", "design.csv", "truth.csv", "manifest.json", "report.md"}
    assert names <= set(run.files)
    assert all(path.is_file() for path in run.files.values())
    assert {p.name for p in (run.path / "figures").iterdir()} == {
        "curve_pos.png",
        "curve_counts.png",
        "forest.png",
    }


def test_tables_round_trip_exactly(tmp_path: Path) -> None:
    run, ace = _write(tmp_path)
    loaded = read_run(run.path)
    pd.testing.assert_frame_equal(loaded.ace, ace, check_exact=True)
    pd.testing.assert_frame_equal(loaded.ice, _tables()[1], check_exact=True)
    pd.testing.assert_frame_equal(loaded.truth, _tables()[2], check_exact=True)
    assert loaded.design is not None and loaded.design["position"].tolist() == [0, 10]


def test_manifest_records_sha256_of_each_table(tmp_path: Path) -> None:
    run, _ = _write(tmp_path)
    manifest = json.loads((run.path / "manifest.json").read_text())
    assert {k: manifest[k] for k in MANIFEST} == MANIFEST
    assert manifest["ice_format"] == "parquet"
    assert set(manifest["files"]) == {"ace.csv", "ice.parquet", "design.csv", "truth.csv"}
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((run.path / name).read_bytes()).hexdigest() == digest


def test_manifest_accepts_numpy_scalars(tmp_path: Path) -> None:
    ace, ice, _ = _tables()
    run = write_report(tmp_path, ace=ace, ice=ice, manifest={"seed": np.int64(5)}, figures=False)
    assert json.loads((run.path / "manifest.json").read_text())["seed"] == 5


def test_report_md_content(tmp_path: Path) -> None:
    run, ace = _write(tmp_path)
    text = (run.path / "report.md").read_text()
    for experiment in ace["experiment"].unique():
        assert f"### {experiment}" in text
    truth = _tables()[2]
    inside = (ace["ci_low"] <= truth["true_ace"]) & (truth["true_ace"] <= ace["ci_high"])
    assert f"{int(inside.sum())} of {len(ace)} known effects inside their 95% interval" in text
    assert "`ACE = E_{x~P_B}[f(do(x)) − f(x)]`" in text
    assert "Monte-Carlo sampling of backgrounds (deterministic model)" in text
    assert "- Spec hash: abc123" in text and "- Model: oracle" in text
    assert "![curve_pos](figures/curve_pos.png)" in text
    assert text.rstrip().endswith("- first note")
    counts = text.split("### counts")[1].split("###")[0]
    assert "| label | count | motif | ace |" in counts  # position/orientation are null here


def test_interval_covers_comes_from_manifest(tmp_path: Path) -> None:
    ace, ice, _ = _tables()
    manifest = {"interval_covers": "replicate trainings"}
    run = write_report(tmp_path, ace=ace, ice=ice, manifest=manifest, figures=False)
    assert "intervals cover: replicate trainings." in (run.path / "report.md").read_text()


def test_figures_are_png_and_leave_pyplot_untouched(tmp_path: Path) -> None:
    plt = pytest.importorskip("matplotlib.pyplot")
    before, backend = plt.get_fignums(), plt.get_backend()
    run, _ = _write(tmp_path)
    pngs = [p for name, p in run.files.items() if name.startswith("figures/")]
    assert len(pngs) == 3
    for png in pngs:
        assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 1000
    assert plt.get_fignums() == before and plt.get_backend() == backend


_NO_PYARROW = """
import sys
sys.modules["pyarrow"] = None  # before pandas: as in an environment without pyarrow
import pandas as pd
from causalgia.reporting.report import write_report
src, out = sys.argv[1], sys.argv[2]
read = dict(keep_default_na=False, na_values=[""])
ace, ice = pd.read_csv(f"{src}/ace.csv", **read), pd.read_csv(f"{src}/ice.csv", **read)
write_report(out, ace=ace, ice=ice, manifest={}, figures=False)
"""


def test_ice_csv_fallback_without_pyarrow(tmp_path: Path) -> None:
    # pandas 3 itself reads strings through pyarrow once it has imported it, so pyarrow is
    # hidden in a fresh interpreter before pandas is imported
    ace, ice, _ = _tables()
    ace.to_csv(tmp_path / "ace.csv", index=False)
    ice.to_csv(tmp_path / "ice.csv", index=False)
    out = tmp_path / "run"
    subprocess.run([sys.executable, "-c", _NO_PYARROW, str(tmp_path), str(out)], check=True)
    assert (out / "ice.csv").is_file() and not (out / "ice.parquet").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["ice_format"] == "csv" and "ice.csv" in manifest["files"]
    pd.testing.assert_frame_equal(read_run(out).ice, ice, check_exact=True)
    pd.testing.assert_frame_equal(read_run(out).ace, ace, check_exact=True)


def test_ice_format_follows_pyarrow_import(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from causalgia.reporting import report

    monkeypatch.setitem(sys.modules, "pyarrow", None)
    table = pd.DataFrame({"ice": [0.5, 1.5]})
    fmt, kept = report._write_ice(table, tmp_path)
    assert fmt == "csv" and kept is table
    assert (tmp_path / "ice.csv").read_text() == "ice\n0.5\n1.5\n"


def test_ice_blocks_write_the_whole_table_and_keep_a_background_sample(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from causalgia.reporting import IceBlocks, report

    table = pd.DataFrame({"experiment": "e", "label": ["a"] * 100 + ["b"] * 100,
                          "background_id": list(range(100)) * 2, "ice": range(200)})  # fmt: skip
    blocks = IceBlocks(lambda: [table.iloc[:100], table.iloc[100:]], table.iloc[:1])
    fmt, sample = report._write_ice(blocks, tmp_path)
    assert fmt == "parquet"
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "ice.parquet"), table)
    assert sample["background_id"].nunique() == 40 and set(sample["label"]) == {"a", "b"}
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    assert report._write_ice(blocks, tmp_path)[0] == "csv"
    monkeypatch.undo()  # pandas reads CSV strings through pyarrow once it has imported it
    lines = (tmp_path / "ice.csv").read_text().splitlines()
    assert lines[0] == "experiment,label,background_id,ice" and len(lines) == 201
    assert lines[101] == "e,b,0,100"


def test_figures_false_writes_no_png(tmp_path: Path) -> None:
    run, _ = _write(tmp_path, figures=False)
    assert not list(run.path.rglob("*.png"))
    assert "Figures omitted: figures=False" in (run.path / "report.md").read_text()


def test_missing_matplotlib_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    run, _ = _write(tmp_path)
    assert not list(run.path.rglob("*.png"))
    assert "install causalgia[plot]" in (run.path / "report.md").read_text()


def test_render_report_reproduces_report_md(tmp_path: Path) -> None:
    run, _ = _write(tmp_path)
    original = (run.path / "report.md").read_text()
    (run.path / "report.md").unlink()
    rerun = render_report(run.path)
    assert (run.path / "report.md").read_text() == original
    assert {n for n in rerun.files if n.startswith("figures/")} == {
        n for n in run.files if n.startswith("figures/")
    }


def test_rewrite_without_truth_ignores_stale_truth_csv(tmp_path: Path) -> None:
    run, ace = _write(tmp_path)
    write_report(run.path, ace=ace, ice=_tables()[1], manifest={}, figures=False)
    assert (run.path / "truth.csv").is_file() and read_run(run.path).truth is None
    assert "known effects" not in (run.path / "report.md").read_text()


def test_read_run_rejects_a_plain_directory(tmp_path: Path) -> None:
    with pytest.raises(CausalgiaError, match="ace.csv is missing"):
        read_run(tmp_path)


def test_write_report_rejects_ace_without_interval(tmp_path: Path) -> None:
    ace, ice, _ = _tables()
    with pytest.raises(OptionError, match="ci_high"):
        write_report(tmp_path, ace=ace.drop(columns="ci_high"), ice=ice, manifest={})


def test_import_report_does_not_import_matplotlib() -> None:
    code = "import causalgia.reporting.report, sys; assert 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
