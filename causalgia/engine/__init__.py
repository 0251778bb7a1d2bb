"""The engine: model adapters and output functionals, the simulator, the run store and Dask.

Runs a network on a :class:`~causalgia.experiment.Design` and returns a
:class:`SimulationResult`; it never estimates (that is :mod:`causalgia.stats`).
"""

from __future__ import annotations

from .adapters import OnnxCallable, TorchCallable, import_torch, onnx_model, torch_model
from .declaration import as_model, from_import_path
from .deepbind import read_deepbind
from .models import Model, ModelSource, Output, wrap_callable
from .simulator import DEFAULT_CHUNK, SimulationResult, design_fingerprint, simulate
from .store import ForwardCache, RunStore, versions

__all__ = [
    "DEFAULT_CHUNK",
    "ForwardCache",
    "Model",
    "ModelSource",
    "OnnxCallable",
    "Output",
    "RunStore",
    "SimulationResult",
    "TorchCallable",
    "as_model",
    "design_fingerprint",
    "from_import_path",
    "import_torch",
    "onnx_model",
    "read_deepbind",
    "simulate",
    "torch_model",
    "versions",
    "wrap_callable",
]
