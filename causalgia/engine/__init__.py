"""The engine: model adapters and output functionals, the simulator, the run store and Dask.

Runs a network on a :class:`~causalgia.experiment.Design` and returns a
:class:`SimulationResult`; it never estimates (that is :mod:`causalgia.stats`).
"""

from __future__ import annotations

from .adapters import OnnxCallable, TorchCallable, import_torch, onnx_model, torch_model
from .declaration import as_model, from_import_path
from .deepbind import read_deepbind
from .forwardcache import ForwardCache
from .ledgerfile import RunLock
from .models import Model, ModelProbe, ModelSource, Output, wrap_callable
from .salvage import SalvageReport, salvage_ledger, set_aside
from .simulator import DEFAULT_CHUNK, SimulationResult, design_fingerprint, simulate
from .store import RunStore, versions

__all__ = [
    "DEFAULT_CHUNK",
    "ForwardCache",
    "Model",
    "ModelProbe",
    "ModelSource",
    "OnnxCallable",
    "Output",
    "RunLock",
    "RunStore",
    "SalvageReport",
    "SimulationResult",
    "TorchCallable",
    "as_model",
    "design_fingerprint",
    "from_import_path",
    "import_torch",
    "onnx_model",
    "read_deepbind",
    "salvage_ledger",
    "set_aside",
    "simulate",
    "torch_model",
    "versions",
    "wrap_callable",
]
