"""causalgia: causal, statistically honest global importance analysis of genomic networks.

The public verbs are imported lazily, so ``import causalgia`` stays light: it imports neither
pymc nor matplotlib nor torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "encode": "sequences.alphabet",
    "decode": "sequences.alphabet",
    "one_hot": "sequences.alphabet",
    "reverse_complement": "sequences.alphabet",
    "DNA": "sequences.alphabet",
    "RNA": "sequences.alphabet",
    "read_fasta": "sequences.io",
    "read_motifs": "sequences.motifs",
    "Motif": "sequences.motifs",
    "backgrounds": "experiment.backgrounds",
    "Substitute": "experiment.interventions",
    "Insert": "experiment.interventions",
    "Ablate": "experiment.interventions",
    "Mutate": "experiment.interventions",
    "Identity": "experiment.interventions",
    "Compose": "experiment.interventions",
    "Arm": "experiment.designs",
    "design": "experiment.designs",
    "sweep_positions": "experiment.designs",
    "sweep_spacing": "experiment.designs",
    "sweep_counts": "experiment.designs",
    "as_model": "engine.declaration",
    "Output": "engine.models",
    "simulate": "engine.simulator",
    "estimate_ace": "stats.estimators",
    "estimate_adjusted": "stats.adjustment",
    "estimate_ratio": "stats.adjustment",
    "estimate_stratified": "stats.adjustment",
    "contrast": "stats.contrasts",
    "interaction": "stats.contrasts",
    "additivity": "stats.contrasts",
    "spacing_curve": "stats.contrasts",
    "positional_curve": "stats.contrasts",
    "fit_factorial": "stats.contrasts",
    "factorial": "experiment.designs",
    "orientation_spacing_grid": "experiment.designs",
    "gc_strata": "experiment.designs",
    "simulate_until": "analyses.sequential",
    "plan_sample_size": "stats.planning",
    "ice_map": "analyses.icemap",
    "global_ice_map": "analyses.icemap",
    "validate": "validation",
    "fit_hierarchical": "pooling.hierarchical",
    "fit_count_model": "pooling.countmodel",
    "evaluate_controls": "checks.controls",
    "write_report": "reporting.report",
    "run_study": "studies.runner",
    "read_deepbind": "engine.deepbind",
    "torch_model": "engine.adapters",
    "onnx_model": "engine.adapters",
    "keras_model": "engine.adapters",
    "Hairpin": "experiment.hairpin",
    "export_library": "lab.export",
    "read_measurements": "lab.compare",
    "concordance": "lab.compare",
    "lab_effects": "lab.compare",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'causalgia' has no attribute {name!r}")
    module = importlib.import_module(f".{_EXPORTS[name]}", __name__)
    return module if name == "backgrounds" else getattr(module, name)


def __dir__() -> list[str]:
    return __all__
