"""report.html in a real browser: headless Chromium (Debian's ``chromium``) driven by playwright.

A small demo-like study (the demo spec with fewer backgrounds and arms, controls, no pooling)
is run once; its page must load with no console error and no request leaving for the network,
every image must decode, the effects table must sort on a header click and filter as text is
typed. A full-page screenshot is saved under the pytest tmp dir and copied to
``$TMPDIR/report-screenshot.png`` for a person to look at.

Skips when playwright or /usr/bin/chromium is absent (a user's machine); CI installs both
(.ci/run installs chromium with apt-get, the test extra installs playwright).
"""

from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
NETWORK = re.compile(r"^(?!file:|data:|about:|blob:)[a-z][a-z0-9+.-]*:", re.I)

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install 'causalgia[test]')"
)
pytestmark = pytest.mark.skipif(
    not CHROMIUM.is_file(),
    reason=f"{CHROMIUM} is missing (Debian: apt-get install chromium; .ci/run installs it)",
)


def _study_spec() -> Any:
    """The demo spec, smaller: 150 backgrounds, 5 spacings, 6 null k-mers, no pooling."""
    from causalgia.studies import DEMO_SPEC, parse_spec

    raw = tomllib.loads(DEMO_SPEC.read_text(encoding="utf-8"))
    raw.pop("pooling")
    raw["study"].update(n=150, truth_n=2000)
    for experiment in raw["experiment"]:
        if experiment["name"] == "spacing":
            experiment["spacings"] = [0, 2, 4, 6, 8]
        if experiment["name"] == "null_kmers":
            experiment.update(n_kmers=4, n_scrambles=2)
    for key in ("null", "calibrate"):  # a random k-mer may have ICE 0 everywhere: no null
        raw["controls"].pop(key)
    return parse_spec(raw, DEMO_SPEC.parent)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("matplotlib")
    pytest.importorskip("logomaker")
    from causalgia.reporting import render_report
    from causalgia.reporting.logos import write_motifs
    from causalgia.sequences import Motif
    from causalgia.studies import run_study

    out = tmp_path_factory.mktemp("browser") / "run"
    run_study(_study_spec(), out, progress=False, figures=False)
    # a matrix for the study's motif, as a user would drop it in motifs/: drawn in bits
    soft = [[0.05, 0.05, 0.05, 0.85], [0.05, 0.05, 0.85, 0.05], [0.05, 0.85, 0.05, 0.05],
            [0.85, 0.05, 0.05, 0.05], [0.1, 0.1, 0.1, 0.7], [0.1, 0.1, 0.7, 0.1]]  # fmt: skip
    (out / "motifs").mkdir()
    write_motifs([Motif.from_probs(soft, name="UGCAUG", alphabet="rna")], out / "motifs" / "r.meme")
    render_report(out)
    return out


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def opened(run_dir: Path, browser: Any) -> Iterator[tuple[Any, dict[str, list[str]]]]:
    """The report open in a fresh page, with every console error, page error and request."""
    seen: dict[str, list[str]] = {"errors": [], "requests": [], "blocked": []}
    context = browser.new_context(viewport={"width": 1280, "height": 900})

    def block(route: Any) -> None:
        seen["blocked"].append(route.request.url)
        route.abort()

    context.route(NETWORK, block)
    page = context.new_page()
    page.on("console", lambda m: m.type == "error" and seen["errors"].append(m.text))
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    page.on("request", lambda r: seen["requests"].append(r.url))
    page.goto((run_dir / "report.html").as_uri(), wait_until="load")
    yield page, seen
    context.close()


def _column(page: Any, header: str) -> list[str]:
    """The data-v of one column of the effects table, for the visible rows, in page order."""
    return page.evaluate(
        """(header) => {
            const table = document.getElementById("effects-table");
            const col = Array.from(table.tHead.rows[0].cells).findIndex(
                (th) => th.textContent.trim() === header);
            if (col < 0) { throw new Error("no column " + header); }
            return Array.from(table.tBodies[0].rows).filter((r) => !r.hidden)
                .map((r) => r.cells[col].getAttribute("data-v"));
        }""",
        header,
    )


def test_page_loads_cleanly_offline_with_every_image(opened: Any, run_dir: Path) -> None:
    page, seen = opened
    page.wait_for_load_state("networkidle")
    assert seen["errors"] == []
    assert seen["blocked"] == [] and not [u for u in seen["requests"] if NETWORK.match(u)]
    assert seen["requests"][0] == (run_dir / "report.html").as_uri()
    images = page.evaluate(
        "Array.from(document.images).map((i) => [i.alt, i.complete, i.naturalWidth])"
    )
    assert all(complete and width > 0 for _, complete, width in images), images
    alts = {alt for alt, _, _ in images}
    expected = {"curve_position", "curve_count", "curve_spacing", "forest", "ICE map position",
                "logo of UGCAUG", "logo of GCGCGC"}  # fmt: skip
    assert expected <= alts, expected - alts
    assert page.locator("section#controls .badge").count() == len(
        pd.read_csv(run_dir / "controls.csv")
    )
    caption = page.locator("figure", has=page.locator('img[alt="logo of UGCAUG"]'))
    assert "motifs/r.meme" in caption.inner_text()


def test_effects_table_sorts_on_header_click(opened: Any) -> None:
    page, seen = opened
    before = [float(v) for v in _column(page, "ACE")]
    assert before != sorted(before)  # the table does not start sorted by ACE
    page.locator("#effects-table thead th", has_text=re.compile(r"^ACE$")).click()
    ascending = [float(v) for v in _column(page, "ACE")]
    assert ascending == sorted(before)
    page.locator("#effects-table thead th", has_text=re.compile(r"^ACE$")).click()
    assert [float(v) for v in _column(page, "ACE")] == sorted(before, reverse=True)
    page.locator("#effects-table thead th", has_text=re.compile(r"^label$")).click()
    labels = _column(page, "label")
    assert labels.index("UGCAUG@3+") < labels.index("UGCAUG@12+")  # natural order
    assert seen["errors"] == []


def test_effects_table_filters_as_text_is_typed(opened: Any, run_dir: Path) -> None:
    page, seen = opened
    ace = pd.read_csv(run_dir / "ace.csv", keep_default_na=False, na_values=[""])
    box = page.locator("#effects-filter")
    box.press_sequentially("UGCAUGx")
    counts = ace.loc[ace["experiment"] == "count", "label"].tolist()
    assert _column(page, "label") == counts
    shown = page.locator("#effects-count").inner_text()
    assert shown == f"{len(counts)} of {len(ace)} effects shown"
    box.fill("position @12")
    assert _column(page, "label") == ["UGCAUG@12+"]
    box.fill("")
    assert len(_column(page, "label")) == len(ace)
    assert seen["errors"] == []


def test_full_page_screenshot(opened: Any, tmp_path: Path) -> None:
    page, _ = opened
    path = tmp_path / "report.png"
    page.screenshot(path=str(path), full_page=True)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    height = int.from_bytes(data[20:24], "big")  # IHDR: the page is longer than one screen
    assert height > 3 * 900
    with contextlib.suppress(OSError):  # for a person to look at (the lead, a reviewer)
        shutil.copyfile(path, Path(tempfile.gettempdir()) / "report-screenshot.png")
