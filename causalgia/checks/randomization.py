"""Randomized-weights copies of a trained network (the model-parameter randomization test).

Adebayo et al., "Sanity checks for saliency maps" (NeurIPS 2018): an explanation that does not
change when the trained weights are replaced by random ones explains the architecture, not what
the network learned. For GIA the same holds for effects: an ACE that a copy with randomized
weights shows too comes from the architecture, the input encoding or the intervention itself
(e.g. a GC shift), not from training. This module makes such copies and
runs a design on them (:func:`randomized_weights_ace`);
:func:`causalgia.checks.controls.check_randomized_weights` compares the effects.

Models with weights causalgia can see: torch modules (:func:`~causalgia.engine.torch_model`),
ONNX graphs (:func:`~causalgia.engine.onnx_model`) and DeepBind models
(:func:`~causalgia.engine.deepbind.read_deepbind`). A plain Python callable raises
:class:`~causalgia.errors.OptionError`. torch, onnx and numba are only imported when a model of
that kind is randomized.

Modes (:data:`MODES`):

- ``"permute"``: shuffle the entries of every weight tensor. Each tensor keeps its exact set of
  values (scale, sparsity, sign balance); only their arrangement is lost.
- ``"redraw"``: draw every entry iid from a normal with the tensor's own mean and SD (a scalar
  or constant tensor stays as it is).
- ``"reinit"`` (torch only): each module's own ``reset_parameters()`` (the initialisation the
  architecture starts training from). Parameters of modules without one are redrawn.

Weight tensors: torch, every floating-point parameter (buffers such as BatchNorm running
statistics are kept, except that ``reset_parameters`` resets them where it does); ONNX, the
float initializers feeding a weight-bearing node (:data:`ONNX_WEIGHT_OPS`; BatchNormalization's
running mean and variance excluded); DeepBind, all six parameter arrays.

Each tensor's randomization is a function of ``(seed, mode, layer, tensor name)`` only, so the
same seed randomizes a layer the same way whichever other layers are randomized with it (this
is what makes :func:`cascading_randomization` a cascade). A copy gets a new name (mode, layers,
seed), hence its own :meth:`~causalgia.engine.Model.fingerprint`: run stores and forward caches
never mix it with the trained model.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from .._options import check_int, check_option
from .._rng import RngLike, generator, root_seed, unit_keys
from ..engine.adapters import OnnxCallable, TorchCallable, import_torch
from ..engine.models import Model
from ..errors import CausalgiaError, OptionError

if TYPE_CHECKING:  # pragma: no cover
    from ..experiment.designs import Design
    from ..stats.estimators import Method

Mode = Literal["permute", "redraw", "reinit"]
MODES: tuple[str, ...] = ("permute", "redraw", "reinit")
Framework = Literal["torch", "onnx", "deepbind"]

# ONNX ops whose float initializer inputs are learned weights; excluded input positions per op
ONNX_WEIGHT_OPS: dict[str, tuple[int, ...]] = {
    "Conv": (),
    "ConvTranspose": (),
    "Gemm": (),
    "MatMul": (),
    "Einsum": (),
    "Add": (),
    "Sub": (),
    "Mul": (),
    "PRelu": (),
    "BatchNormalization": (3, 4),  # running mean and variance are statistics, not weights
    "LayerNormalization": (),
    "InstanceNormalization": (),
    "GroupNormalization": (),
    "LSTM": (),
    "GRU": (),
    "RNN": (),
}
_DEEPBIND_LAYERS = {
    "convolution": ("detectors", "thresholds"),
    "dense1": ("weights1", "biases1"),
    "dense2": ("weights2", "biases2"),
}


def _deepbind_class() -> type | None:
    module = sys.modules.get(
        "causalgia.engine.deepbind"
    )  # a DeepBind model exists only if imported
    return None if module is None else module.DeepBindModel


def _framework_model(model: Any) -> tuple[Model, Framework]:
    """The Model and its framework; a plain callable (or anything else) raises."""
    deepbind = _deepbind_class()
    if deepbind is not None and isinstance(model, deepbind):
        from ..engine.declaration import as_model

        model = as_model(model)
    if not isinstance(model, Model):
        if "torch" in sys.modules and isinstance(model, sys.modules["torch"].nn.Module):
            raise OptionError(
                f"wrap the {type(model).__name__} with torch_model(module, layout=...) first: "
                "causalgia never guesses the one-hot layout"
            )
        raise OptionError(
            "randomized weights need a torch, ONNX or DeepBind model (a Model built by "
            "torch_model, onnx_model or as_model(read_deepbind(...))); got "
            f"{type(model).__name__}"
        )
    fn = model.fn
    if isinstance(fn, TorchCallable):
        return model, "torch"
    if isinstance(fn, OnnxCallable):
        return model, "onnx"
    if deepbind is not None and isinstance(fn, deepbind):
        return model, "deepbind"
    raise OptionError(
        f"randomized weights need a torch, ONNX or DeepBind model; model {model.name!r} wraps "
        f"a plain Python callable ({type(fn).__name__}) whose weights causalgia cannot see. "
        "Wrap the network with torch_model / onnx_model, or read DeepBind parameters with "
        "read_deepbind"
    )


def framework_of(model: Any) -> Framework:
    """``"torch"``, ``"onnx"`` or ``"deepbind"``; anything else raises OptionError.

    Parameters
    ----------
    model : Model or DeepBindModel
        A Model built by ``torch_model``, ``onnx_model`` or ``as_model`` of a DeepBind model,
        or a DeepBind model itself.

    Returns
    -------
    {"torch", "onnx", "deepbind"}

    Raises
    ------
    OptionError
        For a plain callable, an unwrapped ``torch.nn.Module`` or any other object.

    Examples
    --------
    >>> from causalgia.engine.deepbind import DeepBindModel
    >>> framework_of(DeepBindModel.random(num_detectors=2, detector_len=4))
    'deepbind'
    >>> from causalgia.engine import as_model
    >>> try:
    ...     framework_of(as_model(lambda x: x.sum(axis=(1, 2)), layout="NCL"))
    ... except OptionError as err:
    ...     print(str(err)[:55])
    randomized weights need a torch, ONNX or DeepBind model
    """
    return _framework_model(model)[1]


# -- per framework: layers and their tensors ------------------------------------------------------


def _torch_layers(module: Any) -> dict[str, tuple[Any, list[tuple[str, Any]]]]:
    """Modules holding floating parameters directly, in registration order."""
    out = {}
    for name, sub in module.named_modules():
        params = [(k, p) for k, p in sub.named_parameters(recurse=False) if p.is_floating_point()]
        if params:
            out[name or "(root)"] = (sub, params)
    return out


def _onnx_proto(fn: OnnxCallable) -> Any:
    try:
        import onnx
    except ImportError:
        raise OptionError(
            "randomizing an ONNX model needs the onnx package: pip install 'causalgia[onnx]'"
        ) from None
    source = fn.graph_source()
    if isinstance(source, bytes):
        return onnx.load_model_from_string(source)
    return onnx.load(source)


def _onnx_layers(graph: Any) -> dict[str, list[str]]:
    """Weight initializers grouped by the first node that consumes them (graph order)."""
    from onnx import TensorProto

    floats = {TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16}
    inits = {i.name for i in graph.initializer if i.data_type in floats}
    seen: set[str] = set()
    out: dict[str, list[str]] = {}
    for index, node in enumerate(graph.node):
        if node.op_type not in ONNX_WEIGHT_OPS:
            continue
        skip = ONNX_WEIGHT_OPS[node.op_type]
        names = [
            name
            for pos, name in enumerate(node.input)
            if name in inits and name not in seen and pos not in skip
        ]
        if names:
            out[node.name or f"{node.op_type}_{index}"] = names
            seen.update(names)
    return out


def _layers(model: Model, kind: Framework) -> dict[str, list[str]]:
    """Layer name -> tensor names, from the input to the output."""
    fn = model.fn
    if kind == "torch":
        return {k: [n for n, _ in v[1]] for k, v in _torch_layers(fn.module).items()}
    if kind == "onnx":
        return _onnx_layers(_onnx_proto(fn).graph)
    return {k: list(v) for k, v in _DEEPBIND_LAYERS.items() if getattr(fn, v[0]).size}


def weight_layers(model: Any) -> list[str]:
    """Names of a model's weight layers, from the input to the output.

    torch: modules holding parameters (registration order, ``"(root)"`` for the module itself);
    ONNX: the first node consuming each weight initializer (graph order); DeepBind:
    ``"convolution"``, ``"dense1"`` and, with a hidden layer, ``"dense2"``.

    Examples
    --------
    >>> from causalgia.engine.deepbind import DeepBindModel
    >>> weight_layers(DeepBindModel.random(num_detectors=2, detector_len=4, num_hidden=3))
    ['convolution', 'dense1', 'dense2']
    """
    m, kind = _framework_model(model)
    return list(_layers(m, kind))


# -- randomizing ----------------------------------------------------------------------------------


def _tensor_key(seed: int, mode: str, layer: str, tensor: str) -> int:
    return int(unit_keys(seed, [0], "weights", mode, layer, tensor)[0])


def _randomize_array(values: np.ndarray, mode: str, key: int) -> np.ndarray:
    """A permuted or redrawn float64 copy of ``values`` (same shape)."""
    flat = np.asarray(values, dtype=np.float64).ravel()
    gen = generator(key)
    if mode == "permute":
        out = flat[gen.permutation(flat.size)]
    else:  # redraw; a zero SD gives the constant back exactly
        out = gen.normal(flat.mean(), flat.std(), flat.size) if flat.size else flat
    return out.reshape(np.shape(values))


def _torch_copy(fn: TorchCallable, mode: str, chosen: Sequence[str], seed: int, label: str) -> Any:
    torch = import_torch()
    module = copy.deepcopy(fn.module)
    layers = _torch_layers(module)
    with torch.no_grad():
        for layer in chosen:
            sub, params = layers[layer]
            if mode == "reinit" and callable(getattr(sub, "reset_parameters", None)):
                with torch.random.fork_rng(devices=[]):  # the caller's torch RNG is untouched
                    torch.manual_seed(_tensor_key(seed, mode, layer, "") >> 1)
                    sub.reset_parameters()
                continue
            how = "redraw" if mode == "reinit" else mode
            for name, p in params:
                values = p.detach().to("cpu", torch.float64).numpy()
                new = _randomize_array(values, how, _tensor_key(seed, mode, layer, name))
                p.copy_(torch.from_numpy(new).to(device=p.device, dtype=p.dtype))
    return replace(fn, module=module, name=label)


def _onnx_copy(fn: OnnxCallable, mode: str, chosen: Sequence[str], seed: int, label: str) -> Any:
    import onnxruntime as ort
    from onnx import numpy_helper

    proto = _onnx_proto(fn)
    layers = _onnx_layers(proto.graph)
    inits = {i.name: i for i in proto.graph.initializer}
    for layer in chosen:
        for name in layers[layer]:
            values = numpy_helper.to_array(inits[name])
            new = _randomize_array(values, mode, _tensor_key(seed, mode, layer, name))
            inits[name].CopyFrom(numpy_helper.from_array(new.astype(values.dtype), name))
    data = proto.SerializeToString()
    session = ort.InferenceSession(data, providers=fn.session.get_providers())
    return replace(fn, session=session, name=label, source=data)


def _deepbind_copy(fn: Any, mode: str, chosen: Sequence[str], seed: int, label: str) -> Any:
    arrays = {}
    for layer in chosen:
        for name in _DEEPBIND_LAYERS[layer]:
            values = getattr(fn, name)
            arrays[name] = _randomize_array(values, mode, _tensor_key(seed, mode, layer, name))
    return replace(fn, name=label, **arrays)


_COPIERS = {"torch": _torch_copy, "onnx": _onnx_copy, "deepbind": _deepbind_copy}


def randomize_weights(
    model: Any,
    *,
    mode: Mode = "permute",
    layers: Sequence[str] | None = None,
    rng: RngLike = None,
) -> Model:
    """A copy of a trained model with randomized weights (the trained model is not changed).

    Parameters
    ----------
    model : Model or DeepBindModel
        A torch, ONNX or DeepBind model (a :class:`~causalgia.engine.Model` built by
        :func:`~causalgia.engine.torch_model`, :func:`~causalgia.engine.onnx_model` or
        ``as_model(read_deepbind(...))``, or a ``DeepBindModel``).
    mode : {"permute", "redraw", "reinit"}
        How each weight tensor is randomized (see the module docstring); ``"reinit"`` needs
        a torch model.
    layers : sequence of str, optional
        Layers to randomize (names from :func:`weight_layers`); default all of them.
    rng : int, Generator or None
        Seed of the randomization; the same seed gives the same copy.

    Returns
    -------
    Model
        The same declaration (layout, alphabet, output functional, batch size, N value) around
        the randomized network, named ``"<name> [<mode> weights: <layers>; seed <seed>]"``,
        without an import source (Dask workers receive the copy itself, never the trained
        model).

    Raises
    ------
    OptionError
        A plain Python callable (no weights to randomize), an unknown mode or layer name, or
        ``"reinit"`` for an ONNX or DeepBind model.

    Examples
    --------
    >>> from causalgia.sequences.alphabet import encode
    >>> from causalgia.engine.deepbind import DeepBindModel
    >>> trained = DeepBindModel.random(num_detectors=4, detector_len=6, rng=0)
    >>> twin = randomize_weights(trained, mode="permute", rng=1)
    >>> twin.name
    'random0 [permute weights: all layers; seed 1]'
    >>> codes = encode(["ACGTACGTACGTAC"])
    >>> bool(twin.predict(codes)[0] != trained.score_codes(codes)[0])
    True
    """
    m, kind = _framework_model(model)
    check_option("mode", mode, MODES)
    if mode == "reinit" and kind != "torch":
        raise OptionError(
            f"mode='reinit' needs a torch model (reset_parameters); model {m.name!r} is a "
            f"{kind} model: use mode='permute' or 'redraw'"
        )
    available = list(_layers(m, kind))
    if not available:
        raise OptionError(f"model {m.name!r} has no weight tensors to randomize")
    if layers is None:
        chosen, scope = available, "all layers"
    else:
        if isinstance(layers, str):
            raise OptionError(f"layers must be a list of layer names, got the string {layers!r}")
        unknown = [name for name in layers if name not in available]
        if unknown or not layers:
            raise OptionError(
                f"model {m.name!r}: layers {list(layers)} are not all weight layers; it has "
                f"{available}"
            )
        chosen = [name for name in available if name in set(layers)]
        scope = "all layers" if chosen == available else "layers " + ", ".join(chosen)
    seed = root_seed(rng)
    label = f"{m.name} [{mode} weights: {scope}; seed {seed}]"
    fn = _COPIERS[kind](m.fn, mode, chosen, seed, label)
    return replace(m, fn=fn, name=label, source=None)


def cascading_randomization(
    model: Any, *, mode: Mode = "permute", rng: RngLike = None
) -> list[tuple[str, Model]]:
    """Adebayo et al.'s cascading randomization: copies with the top 1, 2, ... layers randomized.

    Entry k randomizes the k layers nearest the output (top layer first); every layer is
    randomized the same way in all the copies that include it (same seed). Effects that vanish
    only once the lowest layers are randomized live in those layers.

    Returns
    -------
    list of (str, Model)
        (the layer added at this step, the copy), from the top layer down to the input layer.

    Examples
    --------
    >>> from causalgia.engine.deepbind import DeepBindModel
    >>> m = DeepBindModel.random(num_detectors=4, detector_len=6, num_hidden=3, rng=0)
    >>> [layer for layer, _ in cascading_randomization(m, rng=2)]
    ['dense2', 'dense1', 'convolution']
    """
    m, _ = _framework_model(model)
    seed = root_seed(rng)
    top_first = weight_layers(m)[::-1]
    return [
        (layer, randomize_weights(m, mode=mode, layers=top_first[: k + 1], rng=seed))
        for k, layer in enumerate(top_first)
    ]


# -- the copies' effects ----------------------------------------------------------------------


def randomized_weights_ace(
    model: Any,
    design: Design,
    *,
    copies: int = 3,
    mode: Mode = "permute",
    experiments: Sequence[str] = (),
    method: Method = "paired_t",
    ci: float = 0.95,
    batch_size: int | None = None,
    on_nonfinite: Literal["raise", "drop"] = "raise",
    rng: RngLike = None,
) -> pd.DataFrame:
    """ACEs of ``copies`` randomized-weights copies of a model on the trained model's design.

    Every copy runs the same design (same backgrounds, same motif instances and positions: the
    draws are keyed by the design's seed and the unit, never by the model), so its ACEs are
    paired with the trained model's. Copy ``j`` has weights seed
    ``unit_keys(root_seed(rng), [j], "randomized_weights") >> 1`` (column ``copy_seed``).

    Parameters
    ----------
    model : Model or DeepBindModel
        A torch, ONNX or DeepBind model (see :func:`randomize_weights`);
        a plain Python callable raises :class:`~causalgia.errors.OptionError`.
    design : Design
        The design the trained model ran (:func:`~causalgia.experiment.designs.design`).
    copies : int
        Number of randomized copies m.
    mode : {"permute", "redraw", "reinit"}
        How the weights are randomized (``"reinit"``: torch only).
    experiments : sequence of str
        Run only these experiments' arms (a paired design's sub-design gives the same units);
        default all.
    method, ci
        Estimator and interval level, as for the trained model
        (:func:`~causalgia.stats.estimators.estimate_ace`).
    batch_size, on_nonfinite
        Passed to :func:`~causalgia.engine.simulate`.
    rng : int, Generator or None
        Root seed of the copies' weights.

    Returns
    -------
    DataFrame
        The copies' ACE tables stacked: ``copy, copy_seed, mode`` then the ACE columns.

    Examples
    --------
    >>> from causalgia.experiment.backgrounds import iid
    >>> from causalgia.engine.deepbind import DeepBindModel
    >>> from causalgia.experiment.designs import design, sweep_positions
    >>> net = DeepBindModel.random(num_detectors=4, detector_len=6, rng=0)
    >>> d = design(iid(30, alphabet="rna"), sweep_positions("UGCAUG", [10]), n=50, rng=1)
    >>> table = randomized_weights_ace(net, d, copies=2, rng=3)
    >>> table[["copy", "mode", "label"]].values.tolist()
    [[0, 'permute', 'UGCAUG@10+'], [1, 'permute', 'UGCAUG@10+']]
    """
    from ..engine.simulator import simulate
    from ..stats.estimators import estimate_ace

    copies = check_int("copies", copies, minimum=1)
    framework_of(model)  # a plain callable fails here, before any work
    if experiments:
        missing = sorted(set(experiments) - {a.experiment for a in design.arms})
        if missing:
            raise OptionError(f"randomized weights: experiment(s) {missing} are not in the design")
        if design.kind == "paired":  # arms' draws are keyed by arm and unit: same units
            arms = tuple(a for a in design.arms if a.experiment in set(experiments))
            design = replace(design, arms=arms)
    seed = root_seed(rng)
    frames = []
    for j in range(copies):
        copy_seed = int(unit_keys(seed, [j], "randomized_weights")[0]) >> 1
        twin = randomize_weights(model, mode=mode, rng=copy_seed)
        try:
            result = simulate(
                twin, design, batch_size=batch_size, progress=False, on_nonfinite=on_nonfinite
            )
        except CausalgiaError as err:
            err.add_note(f"while running randomized-weights copy {j} ({twin.name})")
            raise
        est = estimate_ace(result, method=method, ci=ci, rng=seed).to_frame()
        est.insert(0, "copy", j)
        est.insert(1, "copy_seed", copy_seed)
        est.insert(2, "mode", mode)
        frames.append(est)
    return pd.concat(frames, ignore_index=True)
