"""Reporting: the run directory, report.md, report.html, figures (the only home of matplotlib)."""

from __future__ import annotations

from .report import IceBlocks, RunDirectory, read_run, render_report, write_report

__all__ = ["IceBlocks", "RunDirectory", "read_run", "render_report", "write_report"]
