"""The experiment: background populations P_B, do-interventions and randomized designs.

Imports only :mod:`causalgia.sequences`.
"""

from __future__ import annotations

from . import backgrounds
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
from .genome import genomic
from .hairpin import Hairpin, fold, motif_context
from .interventions import Ablate, Compose, Identity, Insert, Intervention, Mutate, Substitute
from .screens import select_motifs, sweep_motifs

# users write backgrounds.genomic(...); genome.py imports backgrounds, so backgrounds.py cannot
# import it back without an import cycle: the package puts it in that namespace instead
backgrounds.genomic = genomic  # type: ignore[attr-defined]

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
    "genomic",
    "iid",
    "kshuffle",
    "markov",
    "motif_context",
    "orientation_spacing_grid",
    "profile",
    "real",
    "select_motifs",
    "sweep_counts",
    "sweep_motifs",
    "sweep_positions",
    "sweep_spacing",
]
