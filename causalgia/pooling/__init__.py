"""Pooling: PyMC/ArviZ effect models, the count model, SBC, the lab calibration model.

The only stage that imports pymc or arviz (always inside functions).
"""

from __future__ import annotations

from .countmodel import fit_count_model
from .hierarchical import HierarchicalFit, fit_hierarchical
from .labcalibration import Calibration, calibrate
from .sbc import SbcResult, sbc_section, simulation_based_calibration

__all__ = [
    "Calibration",
    "HierarchicalFit",
    "SbcResult",
    "calibrate",
    "fit_count_model",
    "fit_hierarchical",
    "sbc_section",
    "simulation_based_calibration",
]
