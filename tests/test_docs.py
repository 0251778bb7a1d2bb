"""The docs site: tutorials whose code runs, and an API index that lists every public verb.

The site itself is built with warnings as errors by `mkdocs build --strict` in .ci/run.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import causalgia

DOCS = Path(__file__).resolve().parents[1] / "docs"
TUTORIALS = sorted((DOCS / "tutorials").glob("*.md"))


def _code_blocks(page: Path) -> str:
    return "\n".join(re.findall(r"```python\n(.*?)```", page.read_text(), re.S))


@pytest.mark.parametrize("page", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_code_runs_in_order(page, tmp_path, monkeypatch):
    code = _code_blocks(page)
    assert code.count("\n") > 10, f"{page.name} has no real code"
    monkeypatch.chdir(tmp_path)
    exec(compile(code, str(page), "exec"), {"__name__": "__tutorial__"})


def test_api_index_lists_every_public_name_with_its_stage_page():
    index = (DOCS / "api" / "index.md").read_text()
    for name in causalgia.__all__:
        if name == "__version__":
            continue
        stage = causalgia._EXPORTS[name].split(".")[0]
        assert f"| `{name}` | [`causalgia.{stage}`]({stage}.md) |" in index, name
        assert (DOCS / "api" / f"{stage}.md").is_file()


def test_every_docs_page_is_in_the_site_navigation():
    nav = (DOCS.parent / "mkdocs.yml").read_text()
    pages = [p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")]
    orphans = [p for p in pages if f": {p}" not in nav]
    assert not orphans, f"add these pages to mkdocs.yml nav: {orphans}"
