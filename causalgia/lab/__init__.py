"""The wet lab: measurements, lab effects, concordance, calibration, library export."""

from __future__ import annotations

from .compare import concordance, lab_effects, read_measurements
from .export import export_library, library_table

__all__ = ["concordance", "export_library", "lab_effects", "library_table", "read_measurements"]
