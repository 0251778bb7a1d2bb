"""Notebook display of the pooled fits: a short ``repr`` and a small styled HTML table.

The pooling stage imports no other stage, so this is its own small copy of
:mod:`causalgia.stats.display` (same formats and layout, no verdict colours): the fits build
their ``__repr__`` with :func:`_repr_lines` and their ``_repr_html_`` with :func:`_html_block`
around :func:`_html_table`. The pandas Styler needs jinja2; without it the tables come from
:meth:`pandas.DataFrame.to_html`.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import pandas as pd

_WIDTH = 100
_MAX_ROWS = 60
_SIGNIFICANT = frozenset({"p_value", "q_value", "p_lack_of_fit"})
_BAR_COLOURS = ("#d65f5f66", "#5fba7d66")


def _repr_lines(*lines: str, width: int = _WIDTH) -> str:
    """Non-empty lines joined by newlines, each cut to ``width`` characters."""
    kept = [line if len(line) <= width else line[: width - 3] + "..." for line in lines if line]
    return "\n".join(kept)


def _formatters(frame: pd.DataFrame, precision: int) -> dict[str, str]:
    out = {}
    for name, dtype in frame.dtypes.items():
        if not pd.api.types.is_float_dtype(dtype):
            continue
        if str(name) in _SIGNIFICANT:
            out[name] = "{:.3g}"
        elif str(name).startswith("ess"):
            out[name] = "{:.0f}"
        else:
            out[name] = f"{{:.{precision}f}}"
    return out


def _style(frame: pd.DataFrame) -> Any:
    """``frame.style``; raises ImportError when jinja2 is missing."""
    return frame.style


def _styled(frame: pd.DataFrame, formats: dict[str, str], bar: str | None) -> str:
    styler = _style(frame).format(formats, na_rep="", escape="html").hide(axis="index")
    styler = styler.set_table_attributes('class="causalgia-table"')
    if bar is not None and bar in frame.columns:
        values = pd.to_numeric(frame[bar], errors="coerce").to_numpy(dtype=float)
        if np.any(values[np.isfinite(values)] != 0):  # Styler.bar needs a non-zero value
            styler = styler.bar(subset=[bar], align="zero", color=list(_BAR_COLOURS))
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


def _html_table(
    frame: pd.DataFrame,
    *,
    caption: str | None = None,
    precision: int = 4,
    bar: str | None = None,
    max_rows: int = _MAX_ROWS,
) -> str:
    """An HTML table without index (floats at ``precision`` decimals) and an optional caption."""
    shown = frame.head(max_rows).reset_index(drop=True)
    formats = _formatters(shown, precision)
    try:
        table = _styled(shown, formats, bar)
    except ImportError:  # pandas' Styler needs jinja2
        formatters = {
            name: (lambda v, f=fmt: "" if pd.isna(v) else f.format(v))
            for name, fmt in formats.items()
        }
        table = shown.to_html(
            index=False, classes="causalgia-table", na_rep="", border=0, formatters=formatters
        )
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


def _html_block(summary: str, *tables: str) -> str:
    """``<div>``: the summary's lines as a bold heading, then the tables."""
    lines = [html.escape(line) for line in summary.splitlines()]
    head = f'<p style="margin: 0 0 0.4em 0"><strong>{lines[0] if lines else ""}</strong>'
    rest = "".join(f"<br>{line.strip()}" for line in lines[1:])
    body = "\n".join(tables)
    return f'<div class="causalgia-result">\n{head}{rest}</p>\n{body}\n</div>'


def _diagnostics_line(settings: Any, diagnostics: Any) -> str:
    """``  2 chains x 1000 draws: max R-hat 1.003, min bulk ESS 850, 0 divergences -> ok``."""
    d = diagnostics
    run = ""
    if "chains" in settings and "draws" in settings:
        run = f"{settings['chains']} chains x {settings['draws']} draws: "
    verdict = "ok" if d.passed else "FAILED"
    return (
        f"  {run}max R-hat {d.max_r_hat:.3f}, min bulk ESS {d.min_ess_bulk:.0f}, "
        f"{d.divergences} divergences -> {verdict}"
    )
