"""Checks: positive/negative/placebo/GC controls, background sensitivity, randomized weights."""

from __future__ import annotations

from .controls import evaluate_controls, null_kmer_arms
from .randomization import framework_of, randomized_weights_ace
from .sensitivity import background_sensitivity

__all__ = [
    "background_sensitivity",
    "evaluate_controls",
    "framework_of",
    "null_kmer_arms",
    "randomized_weights_ace",
]
