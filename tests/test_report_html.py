"""Tests of report.html (causalgia.reporting.htmlreport), motif logos and ICE maps, without a
browser: the page's content, escaping, self-containment and determinism.

tests/test_report_browser.py opens the page in headless Chromium.
"""

from __future__ import annotations

import base64
import re
import sys
from html import unescape
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from causalgia.errors import StoreError
from causalgia.reporting.icemaps import (
    ice_map_specs,
    ice_matrix,
    mutation_map_experiments,
    plot_ice_map,
    plot_mutation_map,
)
from causalgia.reporting.logos import logo_heights, motifs_used, write_motifs
from causalgia.reporting.report import read_run, render_report, write_report
from causalgia.sequences import Motif, read_motifs

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
EVIL = '<script>alert("x")</script>&'


def _tables(n_backgrounds: int = 30) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """A position sweep (6 positions), a count sweep, a control with a hostile label."""
    rng = np.random.default_rng(11)
    rows = [("pos", f"GATA@{p}", p, np.nan, "GATA") for p in (0, 4, 8, 12, 16, 20)]
    rows += [("counts", f"GATAx{c}", np.nan, c, "GATA") for c in (1, 2, 3)]
    rows += [("controls", EVIL, np.nan, np.nan, "WGATAR"), ("controls", "other", np.nan, np.nan,
             "not-a-seq")]  # fmt: skip
    ace = pd.DataFrame(rows, columns=["experiment", "label", "position", "count", "motif"])
    ace["method"] = "paired_t"
    ace["ace"] = rng.normal(size=len(ace))
    ace["se"] = 0.05
    ace["ci_low"], ace["ci_high"] = ace["ace"] - 0.1, ace["ace"] + 0.1
    ace["n"] = n_backgrounds
    ace["p_value"] = rng.uniform(size=len(ace))
    ace["q_value"] = ace["p_value"]
    truth = ace[["experiment", "label"]].assign(true_ace=ace["ace"] + 0.01)
    truth.loc[1, "true_ace"] = 99.0  # one known miss
    keys = ["experiment", "label", "position", "count"]
    ice = ace[keys].loc[np.repeat(ace.index, n_backgrounds)].reset_index(drop=True)
    ice["background_id"] = np.tile(np.arange(n_backgrounds), len(ace))
    ice["y_control"] = 0.0
    ice["ice"] = rng.normal(size=len(ice))
    ice["y_do"] = ice["ice"]
    return ace, ice, truth


MANIFEST = {
    "model": "oracle <b>",
    "seed": 7,
    "spec_hash": "feedc0de",
    "model_fingerprint": "0123abcd",
    "n_backgrounds": 30,
    "versions": {"causalgia": "0.1.0", "numpy": "2"},
    "background": {"kind": "iid", "length": 30, "alphabet": "dna"},
}
CONTROLS = pd.DataFrame(
    {"check_name": ["positive", "negative"], "passed": [True, False], "text": ["ok", EVIL]}
)


def _write(path: Path, **options: object):
    ace, ice, truth = _tables()
    return write_report(
        path, ace=ace, ice=ice, truth=truth, manifest=MANIFEST, title=f"study {EVIL}",
        controls=CONTROLS, control_tables={"negative": ace.head(2)}, notes=[EVIL], **options,
    )  # fmt: skip


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    pytest.importorskip("logomaker")
    run = _write(tmp_path_factory.mktemp("html") / "run")
    return run.path, (run.path / "report.html").read_text(encoding="utf-8")


def _images(html: str) -> dict[str, bytes]:
    found = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="([^"]*)"', html)
    return {unescape(alt): base64.b64decode(data) for data, alt in found}


def _effects_rows(html: str) -> list[str]:
    pattern = r'<table class="sortable" id="effects-table">.*?<tbody>(.*?)</tbody>'
    body = re.search(pattern, html, re.S)
    assert body is not None
    return re.findall(r"<tr[^>]*>.*?</tr>", body.group(1), re.S)


def test_report_html_is_written_and_listed(page: tuple[Path, str]) -> None:
    root, html = page
    run = render_report(root)
    assert run.files["report.html"] == root / "report.html"
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")


def test_rendering_is_deterministic(page: tuple[Path, str]) -> None:
    root, html = page
    render_report(root)
    assert (root / "report.html").read_text(encoding="utf-8") == html


def test_page_is_self_contained(page: tuple[Path, str]) -> None:
    _, html = page
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    sources = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert sources and all(s.startswith(("data:", "#")) for s in sources), sources
    assert not re.search(r"https?://|//cdn|@import|url\(", html.split("<body>")[1])
    assert all(png.startswith(PNG_MAGIC) for png in _images(html).values())


def test_data_strings_are_escaped(page: tuple[Path, str]) -> None:
    _, html = page
    assert html.count("<script>") == 1  # only the page's own script
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;" in html
    assert "oracle &lt;b&gt;" in html and "<title>study &lt;script&gt;" in html


def test_effects_table_has_every_effect_and_marks_the_miss(page: tuple[Path, str]) -> None:
    root, html = page
    rows = _effects_rows(html)
    assert len(rows) == len(read_run(root).ace) == 11
    missed = [r for r in rows if 'class="miss"' in r]
    assert len(missed) == 1 and "GATA@4" in missed[0]
    assert "10 of 11 known effects inside their 95% interval" in html
    assert 'data-v="' + repr(float(read_run(root).ace["ace"].iloc[0])) + '"' in rows[0]


def test_figures_logos_and_ice_maps_are_embedded(page: tuple[Path, str]) -> None:
    _, html = page
    alts = set(_images(html))
    assert {"curve_pos", "curve_counts", "forest"} <= alts
    assert {"logo of GATA", "logo of WGATAR"} <= alts
    assert "ICE map pos" in alts and "ICE map counts" not in alts  # 3 counts: not a map
    assert "<code>not-a-seq</code>: not a sequence" in html


def test_controls_provenance_and_notes(page: tuple[Path, str]) -> None:
    root, html = page
    assert html.count('class="badge pass"') == 1 and html.count('class="badge fail"') == 1
    assert "controls/negative.csv" in html
    manifest = read_run(root).manifest
    for name, digest in manifest["files"].items():
        assert f">{digest}</td>" in html, name
    assert html.count(">matches</td>") == len(manifest["files"])
    for value in ("feedc0de", "0123abcd", ">7<", "numpy"):
        assert value in html
    assert f"<li>{EVIL.replace('<', '&lt;').replace('>', '&gt;')}" not in html  # quotes too
    assert "<li>&lt;script&gt;alert(&quot;x&quot;)" in html


def test_a_changed_file_is_refused_or_forced_and_flagged(tmp_path: Path) -> None:
    run = _write(tmp_path / "run", figures=False)
    with open(run.path / "ace.csv", "a", encoding="utf-8") as fh:
        fh.write("\n")
    with pytest.raises(StoreError, match=r"ace\.csv changed since the run wrote it.*--force"):
        render_report(run.path, figures=False)
    render_report(run.path, figures=False, force=True)
    html = (run.path / "report.html").read_text(encoding="utf-8")
    n_files = len(read_run(run.path).manifest["files"])
    assert html.count(">changed since written</td>") == 1
    assert html.count(">matches</td>") == n_files - 1
    assert 'class="forced" role="alert"' in html and "<li>ace.csv changed since" in html
    markdown = (run.path / "report.md").read_text(encoding="utf-8")
    assert markdown.splitlines()[2].startswith("> **WARNING: rendered with `--force`")


def test_figures_false_has_no_images_but_every_table(tmp_path: Path) -> None:
    run = _write(tmp_path / "run", figures=False)
    html = (run.path / "report.html").read_text(encoding="utf-8")
    assert "<img" not in html and "figures=False was requested" in html
    assert len(_effects_rows(html)) == 11 and "Logos omitted" in html


def test_without_matplotlib_the_page_says_how_to_get_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "logomaker", None)
    run = _write(tmp_path / "run")
    html = (run.path / "report.html").read_text(encoding="utf-8")
    assert "<img" not in html and "pip install &#x27;causalgia[plot]&#x27;" in html
    assert len(_effects_rows(html)) == 11 and "File checksums" in html


def test_without_logomaker_the_other_figures_stay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("matplotlib")
    monkeypatch.setitem(sys.modules, "logomaker", None)
    run = _write(tmp_path / "run")
    html = (run.path / "report.html").read_text(encoding="utf-8")
    alts = set(_images(html))
    assert "forest" in alts and not any(a.startswith("logo of") for a in alts)
    assert "logomaker is not installed" in html


# -- motifs --------------------------------------------------------------------------------------


def test_motifs_are_collected_from_every_motif_column_in_order() -> None:
    ace = pd.DataFrame({"experiment": ["a", "b", "b"], "motif": ["TTT", "GATA", None],
                        "motif_b": ["GATA", "CCC", "GATA"]})  # fmt: skip
    used = motifs_used(ace)
    assert [m.name for m in used.motifs] == ["TTT", "GATA", "CCC"]
    assert used.motifs[1].experiments == ("a", "b")


def test_iupac_string_gives_letter_probabilities() -> None:
    (used,) = motifs_used(pd.DataFrame({"experiment": ["e"], "motif": ["RN"]})).motifs
    heights = logo_heights(used.motif, bits=used.from_matrix)
    assert heights.columns.tolist() == list("ACGT")
    assert heights.to_numpy().tolist() == [[0.5, 0.0, 0.5, 0.0], [0.25] * 4]


def test_rna_names_use_the_rna_alphabet() -> None:
    (used,) = motifs_used(pd.DataFrame({"experiment": ["e"], "motif": ["UGCAUG"]})).motifs
    assert used.motif.alphabet.letters == "ACGU" and used.motif.consensus() == "UGCAUG"


def test_a_matrix_in_the_run_directory_is_preferred(tmp_path: Path) -> None:
    pytest.importorskip("logomaker")
    soft = Motif.from_probs([[0.7, 0.1, 0.1, 0.1], [0.1, 0.1, 0.7, 0.1]] * 2, name="GATA")
    ace, ice, _ = _tables()
    run = write_report(tmp_path / "run", ace=ace, ice=ice, manifest={}, motifs=[soft])
    assert "motifs.meme" in read_run(run.path).manifest["files"]
    used = motifs_used(ace, root=run.path)
    gata = next(m for m in used.motifs if m.name == "GATA")
    assert gata.source == "motifs.meme" and gata.from_matrix
    np.testing.assert_allclose(gata.motif.probs, soft.probs, atol=1e-15)
    heights = logo_heights(gata.motif, bits=True).to_numpy()
    ic = 2 + (0.7 * np.log2(0.7) + 3 * 0.1 * np.log2(0.1))
    np.testing.assert_allclose(heights.sum(axis=1), [ic] * 4)
    html = (run.path / "report.html").read_text(encoding="utf-8")
    assert re.search(r"GATA</span> · motifs\.meme · used by pos, counts", html)
    # written again without motifs: the stale motifs.meme is not used any more
    write_report(run.path, ace=ace, ice=ice, manifest={}, figures=False)
    listed = read_run(run.path).manifest["files"]
    used = motifs_used(ace, root=run.path, listed=listed)
    assert next(m for m in used.motifs if m.name == "GATA").source == "sequence"


def test_motif_files_in_the_motifs_folder_are_read_by_name_or_alt_name(tmp_path: Path) -> None:
    (tmp_path / "motifs").mkdir()
    text = ">MA0001.1 GATA\nA [ 9 0 ]\nC [ 1 0 ]\nG [ 0 10 ]\nT [ 0 0 ]\n"
    (tmp_path / "motifs" / "m.jaspar").write_text(text)
    (tmp_path / "motifs" / "broken.txt").write_text("no motif here\n")
    used = motifs_used(pd.DataFrame({"experiment": ["e"], "motif": ["GATA"]}), root=tmp_path)
    assert used.motifs[0].source == "motifs/m.jaspar"
    assert used.motifs[0].motif.probs[0].tolist() == [0.9, 0.1, 0.0, 0.0]
    assert len(used.problems) == 1 and "motifs/broken.txt" in used.problems[0]


def test_write_motifs_round_trips_exactly(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.ones(4), size=9)
    motif = Motif.from_probs(probs, name="M1", alphabet="rna", alt_name="some factor")
    (back,) = read_motifs(write_motifs([motif], tmp_path / "m.meme"), alphabet="rna")
    assert (back.name, back.alt_name) == ("M1", "some factor")
    np.testing.assert_array_equal(back.probs, motif.probs)


def test_write_motifs_refuses_names_meme_cannot_hold(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="one word"):
        write_motifs([Motif.from_string("GATA", name="two words")], tmp_path / "m.meme")


# -- ICE maps ------------------------------------------------------------------------------------


def test_ice_map_specs_need_a_single_curve_with_enough_columns() -> None:
    ace, ice, _ = _tables()
    assert [(s.experiment, s.x, s.n_columns) for s in ice_map_specs(ace, ice)] == [
        ("pos", "position", 6)
    ]
    assert ice_map_specs(ace, ice.drop(columns="ice")) == []  # randomized design: no ICE
    two_lines = ace.assign(orientation=np.where(ace.index % 2 == 0, "+", "-"))
    assert ice_map_specs(two_lines, ice) == []


def test_ice_matrix_subsamples_evenly_and_sorts_by_mean() -> None:
    _, ice, _ = _tables(n_backgrounds=30)
    table = ice_matrix(ice, experiment="pos", x="position", max_backgrounds=7)
    assert table.shape == (7, 6)
    assert sorted(table.index) == [0, 5, 10, 14, 19, 24, 29]
    means = table.mean(axis=1).to_numpy()
    assert (np.diff(means) <= 0).all()
    sub = ice[(ice["experiment"] == "pos") & (ice["background_id"] == table.index[0])]
    assert table.iloc[0].tolist() == sub.sort_values("position")["ice"].tolist()


def test_ice_map_colour_scale_is_white_at_zero() -> None:
    pytest.importorskip("matplotlib")
    _, ice, _ = _tables()
    mixed = plot_ice_map(ice, experiment="pos", x="position", max_backgrounds=10).images[0]
    assert mixed.get_array().shape == (10, 6) and mixed.get_cmap().name == "RdBu_r"
    low, high = mixed.get_clim()
    assert low == -high and high == np.abs(mixed.get_array()).max()
    positive = ice.assign(ice=ice["ice"].abs() + 0.5)
    image = plot_ice_map(positive, experiment="pos", x="position").images[0]
    assert image.get_cmap().name == "Reds" and image.get_clim()[0] == 0.0


def test_a_global_ice_map_is_drawn_as_a_base_by_position_map(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from causalgia.analyses import global_ice_map
    from causalgia.experiment.backgrounds import iid
    from causalgia.testing import AdditiveOracle

    fit = global_ice_map(AdditiveOracle.from_motif("GATA", 8), iid(8), n=20, rng=1)
    ace = fit.to_frame()
    assert mutation_map_experiments(ace) == ["ice_map"]
    ax = plot_mutation_map(ace, experiment="ice_map")
    assert ax.images[0].get_array().shape == (4, 8)
    assert [t.get_text() for t in ax.get_yticklabels()] == list("ACGT")
    run = write_report(tmp_path / "run", ace=ace, ice=fit.result.table, manifest={})
    assert "mutation map ice_map" in _images((run.path / "report.html").read_text())
    assert mutation_map_experiments(_tables()[0]) == []
