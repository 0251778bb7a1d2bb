"""Analyses that design, simulate and estimate in one call: sequential stopping, ICE maps,
motif-database screens.

The first stage that uses both :mod:`causalgia.engine` and :mod:`causalgia.stats`.
"""

from __future__ import annotations

from .icemap import GlobalIceMap, IceMap, global_ice_map, ice_map
from .motifranking import pooled_motif_effects, rank_motifs
from .motifscreen import MotifScreen, motif_screen
from .sequential import SequentialResult, simulate_range, simulate_until

__all__ = [
    "GlobalIceMap",
    "IceMap",
    "MotifScreen",
    "SequentialResult",
    "global_ice_map",
    "ice_map",
    "motif_screen",
    "pooled_motif_effects",
    "rank_motifs",
    "simulate_range",
    "simulate_until",
]
