"""Notebook display of result objects: a short ``repr`` and a small styled HTML table.

The result classes of :mod:`causalgia.stats`, :mod:`causalgia.checks` and :mod:`causalgia.lab`
build their ``__repr__`` with :func:`repr_lines` (a few lines of at most 100 characters, never a
table dump) and their ``_repr_html_`` with :func:`html_block` around :func:`html_table`. The
tables are rendered by the pandas Styler (which needs jinja2) and, when jinja2 is not installed,
by :meth:`pandas.DataFrame.to_html` with the same number formats. The HTML is self-contained: an
inline ``<style>`` block, no scripts, nothing fetched. :mod:`causalgia.pooling` imports no other
stage and keeps its own small copy (``causalgia.pooling.display``).
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

WIDTH = 100
MAX_ROWS = 60
SIGNIFICANT = frozenset({"p_value", "q_value", "p_permutation", "p_lack_of_fit"})
VERDICT_COLOURS: Mapping[str, str] = {
    "PASS": "background-color: #d9f2d9; color: #1e5c1e; font-weight: bold",
    "FAIL": "background-color: #f8d7d7; color: #8a1c1c; font-weight: bold",
    "INFO": "background-color: #e8eef7; color: #2c4a73",
}
_BAR_COLOURS = ("#d65f5f66", "#5fba7d66")


def repr_lines(*lines: str, width: int = WIDTH) -> str:
    """Join summary lines for a ``__repr__``, each cut to ``width`` characters.

    Parameters
    ----------
    *lines : str
        The lines, in order; empty strings are left out.
    width : int, default 100
        Longest line; a longer one ends in ``"..."``.

    Returns
    -------
    str
        The lines joined by newlines.

    Examples
    --------
    >>> repr_lines("Result: 3 effects", "", "x" * 120).splitlines()[1][-5:]
    'xx...'
    """
    kept = [line if len(line) <= width else line[: width - 3] + "..." for line in lines if line]
    return "\n".join(kept)


def _column_format(name: str, dtype: Any, precision: int) -> str | None:
    if not pd.api.types.is_float_dtype(dtype):
        return None
    if name in SIGNIFICANT:
        return "{:.3g}"
    if name.startswith("ess"):
        return "{:.0f}"
    return f"{{:.{precision}f}}"


def _formatters(frame: pd.DataFrame, precision: int) -> dict[str, str]:
    out = {}
    for name, dtype in frame.dtypes.items():
        fmt = _column_format(str(name), dtype, precision)
        if fmt is not None:
            out[name] = fmt
    return out


def _style(frame: pd.DataFrame) -> Any:
    """``frame.style``; raises ImportError when jinja2 is missing."""
    return frame.style


def _styled(
    frame: pd.DataFrame, formats: dict[str, str], bar: str | None, verdict: str | None
) -> str:
    styler = _style(frame)
    styler = styler.format(formats, na_rep="", escape="html").hide(axis="index")
    styler = styler.set_table_attributes('class="causalgia-table"')
    if bar is not None and bar in frame.columns:
        values = pd.to_numeric(frame[bar], errors="coerce").to_numpy(dtype=float)
        finite = values[np.isfinite(values)]
        if np.any(finite != 0):  # Styler.bar needs a non-zero value to scale by
            styler = styler.bar(subset=[bar], align="zero", color=list(_BAR_COLOURS))
    if verdict is not None and verdict in frame.columns:
        styler = styler.map(lambda v: VERDICT_COLOURS.get(str(v), ""), subset=[verdict])
    styler = styler.set_table_styles(
        [
            {"selector": "", "props": "border-collapse: collapse; font-size: 0.9em;"},
            {"selector": "th", "props": "text-align: left; padding: 2px 8px;"},
            {
                "selector": "td",
                "props": "padding: 2px 8px; font-variant-numeric: tabular-nums; "
                "min-width: 3em; max-width: 40em;",
            },
        ]
    )
    return styler.to_html()


def _plain(frame: pd.DataFrame, formats: dict[str, str]) -> str:
    formatters = {
        name: (lambda v, f=fmt: "" if pd.isna(v) else f.format(v)) for name, fmt in formats.items()
    }
    return frame.to_html(
        index=False, classes="causalgia-table", na_rep="", border=0, formatters=formatters
    )


def html_table(
    frame: pd.DataFrame,
    *,
    caption: str | None = None,
    precision: int = 4,
    bar: str | None = None,
    verdict: str | None = None,
    max_rows: int = MAX_ROWS,
) -> str:
    """Render a table as HTML with numbers at a fixed precision and no index.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table; its index is not shown.
    caption : str, optional
        A line shown above the table.
    precision : int, default 4
        Decimals of float columns; p- and q-values get 3 significant digits and ESS columns
        none.
    bar : str, optional
        A numeric column drawn with a bar aligned at zero (red below, green above).
    verdict : str, optional
        A column of ``PASS`` / ``FAIL`` / ``INFO`` cells, coloured green / red / blue.
    max_rows : int, default 60
        Rows shown; a longer table shows its first ``max_rows`` rows and says so.

    Returns
    -------
    str
        An HTML fragment: the pandas Styler's table when jinja2 is installed, else
        :meth:`pandas.DataFrame.to_html` (same formats, no colours).

    Examples
    --------
    >>> "<table" in html_table(pd.DataFrame({"ace": [0.5, -1.25]}), bar="ace")
    True
    """
    shown = frame.head(max_rows).reset_index(drop=True)
    formats = _formatters(shown, precision)
    try:
        table = _styled(shown, formats, bar, verdict)
    except ImportError:  # pandas' Styler needs jinja2
        table = _plain(shown, formats)
    parts = []
    if caption:
        parts.append(f'<p style="margin: 0.5em 0 0.2em 0">{html.escape(caption)}</p>')
    parts.append(table)
    if len(frame) > max_rows:
        parts.append(
            f'<p style="margin: 0.2em 0"><em>first {max_rows} of {len(frame)} rows; '
            "<code>.to_frame()</code> has all of them</em></p>"
        )
    return "\n".join(parts)


def html_block(summary: str, *tables: str) -> str:
    """Wrap a summary and rendered tables in one ``<div>`` for ``_repr_html_``.

    Parameters
    ----------
    summary : str
        The object's short summary (its ``repr``); each line becomes a line of the heading.
    *tables : str
        HTML fragments from :func:`html_table`, in order.

    Returns
    -------
    str
        ``<div class="causalgia-result">``: the heading in bold, then the tables.

    Examples
    --------
    >>> html_block("Result: <2 effects>", "<table></table>").count("&lt;2 effects&gt;")
    1
    """
    lines = [html.escape(line) for line in summary.splitlines()]
    head = f'<p style="margin: 0 0 0.4em 0"><strong>{lines[0] if lines else ""}</strong>'
    rest = "".join(f"<br>{line.strip()}" for line in lines[1:])
    body = "\n".join(tables)
    return f'<div class="causalgia-result">\n{head}{rest}</p>\n{body}\n</div>'
