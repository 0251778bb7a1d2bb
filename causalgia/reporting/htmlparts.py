"""Building blocks of report.html: escaping, sortable tables, embedded images, CSS and JS.

Every cell and caption that comes from a run directory passes through :func:`escape`; numbers
print as in report.md. Tables carry the raw value of each cell in ``data-v`` so the inline
script sorts numbers numerically. The page loads nothing: images are PNG data URIs and the
Content-Security-Policy (``CSP``) allows no request at all.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

import numpy as np
import pandas as pd

from .rundir import _fmt

_CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
    "script-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
)

_CSS = """
:root { --fg: #1d2330; --muted: #5b6475; --line: #d9dee7; --band: #f4f6fa; --accent: #2f5fb3;
  --pass: #1d7a3a; --fail: #b3261e; --info: #6b6f7a; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--fg); background: #fff; }
header.top { background: #1d2b4a; color: #fff; padding: 1.2rem 2rem 0.8rem; }
header.top h1 { margin: 0 0 0.2rem; font-size: 1.6rem; }
header.top p { margin: 0; color: #c9d3e8; }
nav { display: flex; flex-wrap: wrap; gap: 0.2rem 1rem; margin-top: 0.6rem; }
nav a { color: #fff; text-decoration: none; font-size: 0.9rem; opacity: 0.85; }
nav a:hover { opacity: 1; text-decoration: underline; }
main { max-width: 1320px; margin: 0 auto; padding: 0.5rem 2rem 3rem; }
section { margin-top: 2rem; }
h2 { font-size: 1.25rem; border-bottom: 2px solid var(--line); padding-bottom: 0.2rem; }
h3 { font-size: 1.05rem; margin-bottom: 0.3rem; }
code, .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace;
  font-size: 0.88em; }
.cards { display: flex; flex-wrap: wrap; gap: 0.8rem; margin-top: 1.2rem; }
.card { background: var(--band); border: 1px solid var(--line); border-radius: 8px;
  padding: 0.6rem 1rem; min-width: 9rem; }
.card b { display: block; font-size: 1.35rem; }
.card span { color: var(--muted); font-size: 0.85rem; }
dl.fields { display: grid; grid-template-columns: max-content 1fr; gap: 0.25rem 1.2rem; }
dl.fields dt { color: var(--muted); }
dl.fields dd { margin: 0; overflow-wrap: anywhere; }
.estimand { background: var(--band); border-left: 4px solid var(--accent);
  padding: 0.6rem 1rem; }
.scroll { overflow-x: auto; border: 1px solid var(--line); border-radius: 6px; }
table { border-collapse: collapse; width: 100%; font-size: 0.86rem; }
th, td { padding: 0.3rem 0.55rem; text-align: left; border-bottom: 1px solid var(--line);
  white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.wrap { white-space: normal; min-width: 22rem; }
thead th { background: var(--band); position: sticky; top: 0; }
table.sortable thead th { cursor: pointer; user-select: none; }
table.sortable thead th:hover { color: var(--accent); }
th[aria-sort=ascending]::after { content: " \\25B2"; font-size: 0.7em; }
th[aria-sort=descending]::after { content: " \\25BC"; font-size: 0.7em; }
tr.miss td { background: #fdecea; }
tbody tr:hover td { background: #eef3fc; }
.toolbar { display: flex; align-items: center; gap: 1rem; margin: 0.6rem 0; }
.toolbar input { font: inherit; padding: 0.35rem 0.6rem; width: 22rem; max-width: 100%;
  border: 1px solid var(--line); border-radius: 6px; }
.muted { color: var(--muted); }
.badge { display: inline-block; padding: 0 0.5rem; border-radius: 999px; color: #fff;
  font-size: 0.78rem; font-weight: 600; }
.badge.pass { background: var(--pass); } .badge.fail { background: var(--fail); }
.badge.info { background: var(--info); }
.figs { display: grid; grid-template-columns: repeat(auto-fill, minmax(480px, 1fr));
  gap: 1rem; }
.logos { display: grid; grid-template-columns: repeat(auto-fill, minmax(230px, 1fr));
  gap: 0.8rem; }
figure { margin: 0; border: 1px solid var(--line); border-radius: 6px; padding: 0.5rem;
  background: #fff; }
figure img { max-width: 100%; height: auto; display: block; margin: 0 auto; }
figcaption { font-size: 0.82rem; color: var(--muted); margin-top: 0.3rem; }
details { margin: 0.5rem 0; } summary { cursor: pointer; }
pre { background: var(--band); padding: 0.8rem; overflow-x: auto; font-size: 0.8rem; }
.note { background: #fff8e1; border: 1px solid #f1d58a; border-radius: 6px;
  padding: 0.5rem 0.9rem; }
footer { color: var(--muted); font-size: 0.8rem; margin-top: 3rem; }
"""

# Sorting (click or Enter on a header; numbers numerically, empty cells last) and filtering
# (every word typed must occur in the row). Plain DOM, no library.
_JS = """
(function () {
  "use strict";
  function key(cell) {
    if (!cell) { return ""; }
    return cell.hasAttribute("data-v") ? cell.getAttribute("data-v") : cell.textContent.trim();
  }
  function compare(a, b) {
    var x = Number(a), y = Number(b);
    if (!isNaN(x) && !isNaN(y)) { return x - y; }
    return a.localeCompare(b, undefined, {numeric: true, sensitivity: "base"});
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
    heads.forEach(function (th, col) {
      th.tabIndex = 0;
      function sort() {
        var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
        heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (r, s) {
          var a = key(r.cells[col]), b = key(s.cells[col]);
          if (a === "" || b === "") { return (a === "") - (b === ""); }
          return dir * compare(a, b);
        });
        rows.forEach(function (r) { body.appendChild(r); });
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sort(); }
      });
    });
  });
  document.querySelectorAll("input[data-filter]").forEach(function (box) {
    var table = document.getElementById(box.getAttribute("data-filter"));
    var count = document.getElementById(box.getAttribute("data-count"));
    box.addEventListener("input", function () {
      var words = box.value.toLowerCase().split(/\\s+/).filter(Boolean);
      var rows = table.tBodies[0].rows, shown = 0;
      Array.prototype.forEach.call(rows, function (r) {
        var text = r.textContent.toLowerCase();
        var keep = words.every(function (w) { return text.indexOf(w) >= 0; });
        r.hidden = !keep;
        shown += keep ? 1 : 0;
      });
      if (count) { count.textContent = shown + " of " + rows.length + " effects shown"; }
    });
  });
})();
"""


@dataclass(frozen=True)
class Interval:
    """An interval shown as ``[low, high]`` in one cell and sorted by its lower end.

    Examples
    --------
    >>> _text(Interval(0.25, 1.5)), _sort_key(Interval(0.25, 1.5))
    ('[0.25, 1.5]', '0.25')
    """

    low: Any
    high: Any


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float | np.floating) and bool(np.isnan(value)))


def _text(value: Any) -> str:
    """A value as plain text: numbers as in report.md, mappings as ``key value`` pairs.

    Examples
    --------
    >>> _text({"kind": "iid", "gc": 0.5}), _text(float("nan")), _text(300.0)
    ('kind iid, gc 0.5', '—', '300')
    """
    if isinstance(value, str):
        return value
    if isinstance(value, Interval):
        return f"[{_fmt(value.low)}, {_fmt(value.high)}]"
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {_text(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value)
    return _fmt(value)


def _e(value: Any) -> str:
    """:func:`_text`, HTML-escaped (quotes included)."""
    return escape(_text(value))


def _sort_key(value: Any) -> str:
    """The ``data-v`` of a cell: full-precision numbers, text as is, empty when missing."""
    if isinstance(value, Interval):
        value = value.low
    if _missing(value):
        return ""
    if _numeric(value):
        return repr(float(value))
    return str(value)


def _numeric(value: Any) -> bool:
    if isinstance(value, Interval):
        return True
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )


Column = tuple[str, Callable[[pd.Series], Any]]
_NUM = ' class="num"'


def _col(name: str) -> Callable[[pd.Series], Any]:
    """A column getter: the row's value of ``name`` (None when the frame lacks it)."""
    return lambda r: r.get(name)


def _interval(low: str, high: str) -> Callable[[pd.Series], Any]:
    """A column getter that joins two columns into one :class:`Interval` cell."""
    return lambda r: Interval(r.get(low), r.get(high))


def _table(
    frame: pd.DataFrame,
    columns: Sequence[Column],
    *,
    table_id: str | None = None,
    row_class: Callable[[pd.Series], str] | None = None,
    sortable: bool = True,
) -> str:
    """An HTML table with one row per frame row; every header and cell escaped.

    Examples
    --------
    >>> frame = pd.DataFrame({"a": ["<b>"], "x": [0.5]})
    >>> html = _table(frame, [("a", _col("a")), ("x", _col("x"))])
    >>> "&lt;b&gt;" in html and 'data-v="0.5"' in html
    True
    """
    numeric = [False] * len(columns)
    rows = []
    for _, record in frame.iterrows():
        cells = []
        for k, (_name, get) in enumerate(columns):
            value = get(record)
            attr = _NUM if _numeric(value) else ""
            numeric[k] = numeric[k] or bool(attr)
            cells.append(f'<td{attr} data-v="{escape(_sort_key(value))}">{_e(value)}</td>')
        klass = row_class(record) if row_class else ""
        attr = f' class="{escape(klass)}"' if klass else ""
        rows.append(f"<tr{attr}>{''.join(cells)}</tr>")
    heads = [f'<th scope="col"{_NUM if num else ""}>' for num in numeric]
    head = "".join(f"{h}{escape(name)}</th>" for h, (name, _) in zip(heads, columns, strict=True))
    ident = f' id="{escape(table_id)}"' if table_id else ""
    kind = ' class="sortable"' if sortable else ""
    return (
        f'<div class="scroll"><table{kind}{ident}><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _png(fig: Any) -> bytes:
    """A matplotlib Figure as PNG bytes (110 dpi)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()


def _img(data: bytes, alt: str, caption: str = "") -> str:
    """A ``<figure>`` with the PNG as a data URI; ``caption`` is HTML (escape it first)."""
    uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    cap = f"<figcaption>{caption}</figcaption>" if caption else ""
    return f'<figure><img src="{uri}" alt="{escape(alt)}">{cap}</figure>'


def _section(anchor: str, title: str, body: Iterable[str]) -> str:
    """A ``<section>`` with an anchor for the navigation bar."""
    return f'<section id="{anchor}"><h2>{escape(title)}</h2>{"".join(body)}</section>'
