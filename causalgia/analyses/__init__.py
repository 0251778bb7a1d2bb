"""Analyses that design, simulate and estimate in one call: sequential stopping, ICE maps.

The first stage that uses both :mod:`causalgia.engine` and :mod:`causalgia.stats`.
"""

from __future__ import annotations

from .icemap import GlobalIceMap, IceMap, global_ice_map, ice_map
from .sequential import SequentialResult, simulate_range, simulate_until

__all__ = [
    "GlobalIceMap",
    "IceMap",
    "SequentialResult",
    "global_ice_map",
    "ice_map",
    "simulate_range",
    "simulate_until",
]
