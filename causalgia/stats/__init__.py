"""Statistics on effect tables: ICE/ACE estimators, adjustment, contrasts, planning, stopping rules.

Works on tables and arrays only; it never runs a model (that is :mod:`causalgia.engine`).
:mod:`causalgia.stats.display` renders result tables for notebooks (also for checks and lab).
"""

from __future__ import annotations

from .adjustment import estimate_adjusted, estimate_ratio, estimate_stratified
from .contrasts import (
    additivity,
    contrast,
    fit_factorial,
    interaction,
    positional_curve,
    spacing_curve,
)
from .display import html_block, html_table, repr_lines
from .estimators import (
    AceEstimates,
    Adjustment,
    Method,
    adjust_pvalues,
    cluster_robust,
    estimate_ace,
    paired_t,
    permutation_test,
    welch,
)
from .planning import plan_sample_size
from .stopping import (
    MixtureRule,
    TwoStageRule,
    confidence_sequence,
    cs_radius,
    fixed_n_for_width,
    mixture_rho2,
    stein_n,
    t_star_of,
)

__all__ = [
    "AceEstimates",
    "Adjustment",
    "Method",
    "MixtureRule",
    "TwoStageRule",
    "additivity",
    "adjust_pvalues",
    "cluster_robust",
    "confidence_sequence",
    "contrast",
    "cs_radius",
    "estimate_ace",
    "estimate_adjusted",
    "estimate_ratio",
    "estimate_stratified",
    "fit_factorial",
    "fixed_n_for_width",
    "html_block",
    "html_table",
    "interaction",
    "mixture_rho2",
    "paired_t",
    "permutation_test",
    "plan_sample_size",
    "positional_curve",
    "repr_lines",
    "spacing_curve",
    "stein_n",
    "t_star_of",
    "welch",
]
