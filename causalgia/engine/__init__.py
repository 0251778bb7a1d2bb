"""The engine: model adapters and output functionals, the simulator, the run store and Dask.

Runs a network on a :class:`~causalgia.experiment.Design` and returns a
:class:`SimulationResult`; it never estimates (that is :mod:`causalgia.stats`).
"""

from __future__ import annotations

from .adapters import (
    KerasCallable,
    OnnxCallable,
    TorchCallable,
    import_keras,
    import_torch,
    keras_model,
    onnx_model,
    torch_model,
)
from .declaration import as_model, from_import_path
from .deepbind import read_deepbind
from .forwardcache import ForwardCache
from .ledgerfile import RunLock
from .models import Model, ModelProbe, ModelSource, Output, wrap_callable
from .outputs import OutputSet, ShapeChange, as_outputs
from .profiles import expected_counts, js_distance, profile_probability
from .salvage import SalvageReport, salvage_ledger, set_aside
from .simulator import DEFAULT_CHUNK, SimulationResult, design_fingerprint, simulate
from .store import RunStore, versions

__all__ = [
    "DEFAULT_CHUNK",
    "ForwardCache",
    "KerasCallable",
    "Model",
    "ModelProbe",
    "ModelSource",
    "OnnxCallable",
    "Output",
    "OutputSet",
    "RunLock",
    "RunStore",
    "SalvageReport",
    "ShapeChange",
    "SimulationResult",
    "TorchCallable",
    "as_model",
    "as_outputs",
    "design_fingerprint",
    "expected_counts",
    "from_import_path",
    "import_keras",
    "import_torch",
    "js_distance",
    "keras_model",
    "onnx_model",
    "profile_probability",
    "read_deepbind",
    "salvage_ledger",
    "set_aside",
    "simulate",
    "torch_model",
    "versions",
    "wrap_callable",
]
