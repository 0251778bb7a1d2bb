"""The experiment: background populations P_B, do-interventions and randomized designs.

Imports only :mod:`causalgia.sequences`.
"""

from __future__ import annotations

from .backgrounds import Background, iid, kshuffle, markov, profile, real
from .designs import (
    CONTROL,
    Arm,
    Design,
    FixedGroup,
    arm_keys,
    design,
    factorial,
    gc_strata,
    orientation_spacing_grid,
    sweep_counts,
    sweep_positions,
    sweep_spacing,
)
from .hairpin import Hairpin, fold, motif_context
from .interventions import Ablate, Compose, Identity, Insert, Intervention, Mutate, Substitute

__all__ = [
    "Ablate",
    "Arm",
    "Background",
    "CONTROL",
    "Compose",
    "Design",
    "FixedGroup",
    "Hairpin",
    "Identity",
    "Insert",
    "Intervention",
    "Mutate",
    "Substitute",
    "arm_keys",
    "design",
    "factorial",
    "fold",
    "gc_strata",
    "iid",
    "kshuffle",
    "markov",
    "motif_context",
    "orientation_spacing_grid",
    "profile",
    "real",
    "sweep_counts",
    "sweep_positions",
    "sweep_spacing",
]
