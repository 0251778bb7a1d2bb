"""causalgia: causal, statistically honest global importance analysis of genomic networks.

The public verbs are imported lazily, so ``import causalgia`` stays light: it imports neither
pymc nor matplotlib nor torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "encode": "alphabet",
    "decode": "alphabet",
    "one_hot": "alphabet",
    "reverse_complement": "alphabet",
    "DNA": "alphabet",
    "RNA": "alphabet",
    "read_fasta": "io",
    "read_motifs": "motifs",
    "Motif": "motifs",
    "backgrounds": "backgrounds",
    "Substitute": "interventions",
    "Insert": "interventions",
    "Ablate": "interventions",
    "Mutate": "interventions",
    "Identity": "interventions",
    "Compose": "interventions",
    "Arm": "designs",
    "design": "designs",
    "sweep_positions": "designs",
    "sweep_spacing": "designs",
    "sweep_counts": "designs",
    "as_model": "models",
    "Output": "models",
    "simulate": "simulator",
    "estimate_ace": "estimators",
    "estimate_adjusted": "adjustment",
    "estimate_ratio": "adjustment",
    "estimate_stratified": "adjustment",
    "contrast": "contrasts",
    "interaction": "contrasts",
    "additivity": "contrasts",
    "spacing_curve": "contrasts",
    "positional_curve": "contrasts",
    "fit_factorial": "contrasts",
    "factorial": "designs",
    "orientation_spacing_grid": "designs",
    "gc_strata": "designs",
    "simulate_until": "sequential",
    "plan_sample_size": "planning",
    "ice_map": "icemap",
    "global_ice_map": "icemap",
    "validate": "validation",
    "fit_hierarchical": "hierarchical",
    "fit_count_model": "countmodel",
    "evaluate_controls": "controls",
    "write_report": "report",
    "run_study": "study",
    "read_deepbind": "deepbind",
    "torch_model": "adapters",
    "onnx_model": "adapters",
    "Hairpin": "hairpin",
    "export_library": "export",
    "read_measurements": "compare",
    "concordance": "compare",
    "lab_effects": "compare",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'causalgia' has no attribute {name!r}")
    module = importlib.import_module(f".{_EXPORTS[name]}", __name__)
    return module if name == "backgrounds" else getattr(module, name)


def __dir__() -> list[str]:
    return __all__
