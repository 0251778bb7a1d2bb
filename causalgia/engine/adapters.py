"""Adapters for trained networks: PyTorch modules, ONNX and Keras 3 models become causalgia Models.

Each adapter returns a :class:`~causalgia.engine.Model` whose layout and output functional are
declared by the caller (``layout=`` is required; ``output=`` selects the task, transform and
reduction), never guessed. torch and onnxruntime are imported inside the functions only, so
``import causalgia`` stays light; install them with ``pip install 'causalgia[torch]'`` (CPU wheel,
``torch==2.13.0``) or ``'causalgia[onnx]'``.

- :func:`torch_model`: runs the module in eval mode under ``torch.no_grad()`` on the declared
  device and dtype, in batches, and restores every submodule's training flag afterwards.
- :func:`onnx_model`: runs an ONNX file or an ``onnxruntime.InferenceSession``; a model with a
  fixed batch dimension is fed in padded batches of exactly that size.
- :func:`keras_model`: runs a Keras 3 model in inference mode (``training=False``) on the
  backend Keras was imported with (``KERAS_BACKEND=torch`` needs only PyTorch:
  ``pip install 'causalgia[keras,torch]'``); a list or dict of outputs is passed on to the
  declared output functional.

A wrong layout (channels not on the declared axis) raises
:class:`~causalgia.errors.LayoutError` naming the declared layout and the array shape.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._options import check_int, check_option
from ..errors import InvalidSequenceError, LayoutError, ModelOutputError, OptionError
from ..sequences.alphabet import LAYOUTS, Alphabet, Layout
from .models import Model, Output, wrap_callable

TORCH_DTYPES: tuple[str, ...] = ("float32", "float64", "float16", "bfloat16")


def _check_layout_of(x: np.ndarray, layout: str, who: str) -> None:
    axis = 1 if layout == "NCL" else 2
    if x.ndim != 3 or x.shape[axis] != 4:
        raise LayoutError(
            f"{who}: declared layout {layout!r} needs one-hot arrays with 4 channels on axis "
            f"{axis}; got shape {x.shape}"
        )


def import_torch() -> Any:
    """Import PyTorch, or explain how to install it.

    Returns
    -------
    module
        The ``torch`` module.

    Raises
    ------
    OptionError
        When PyTorch is not installed (``pip install 'causalgia[torch]'``).
    """
    try:
        import torch
    except ImportError:
        raise OptionError(
            "the torch adapter needs PyTorch: pip install 'causalgia[torch]' (torch==2.13.0)"
        ) from None
    return torch


def _tensor_numpy(torch: Any, value: Any) -> Any:
    """A tensor as float64 numpy (other values as they are)."""
    return value.detach().to("cpu", torch.float64).numpy() if hasattr(value, "detach") else value


@dataclass(frozen=True, eq=False)
class TorchCallable:
    """A torch module as a numpy callable (built by :func:`torch_model`).

    Each call: convert to a tensor of ``dtype`` on ``device``; put the module in eval mode; run it
    under ``torch.no_grad()``; restore every submodule's ``training`` flag; return float64 numpy.
    ``head`` picks one element when the module returns a tuple or list; without it a tuple,
    list or dict of outputs is returned as a tuple or dict of float64 arrays, from which the
    model's :class:`~causalgia.engine.Output` picks (``Output(head=...)``).
    """

    module: Any
    layout: Layout
    device: str
    dtype: str
    head: int | None = None
    name: str = "torch"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Outputs of the module for a one-hot batch, as float64 numpy."""
        torch = import_torch()
        arr = np.ascontiguousarray(x)
        _check_layout_of(arr, self.layout, f"torch model {self.name!r}")
        tensor = torch.from_numpy(arr).to(device=self.device, dtype=getattr(torch, self.dtype))
        flags = [(m, m.training) for m in self.module.modules()]
        try:
            self.module.eval()
            with torch.no_grad():
                out = self.module(tensor)
        except RuntimeError as err:
            text = str(err).lower()
            where = f"torch model {self.name!r} failed on an input of shape {tuple(arr.shape)}"
            if "channel" in text or "shape" in text or "size" in text:
                raise LayoutError(
                    f"{where} in the declared layout {self.layout!r} (is the layout right?): {err}"
                ) from err
            raise ModelOutputError(
                f"{where} (dtype {self.dtype}, device {self.device}): {err}"
            ) from err
        finally:
            for module, flag in flags:
                module.training = flag
        if self.head is None and isinstance(out, tuple | list | Mapping):  # Output(head=) picks
            if isinstance(out, Mapping):
                return {key: _tensor_numpy(torch, value) for key, value in out.items()}
            return tuple(_tensor_numpy(torch, value) for value in out)
        if isinstance(out, tuple | list):
            out = out[self.head]
        elif self.head is not None:
            raise ModelOutputError(f"head={self.head} given but the module returned one tensor")
        if not hasattr(out, "detach"):
            raise ModelOutputError(
                f"torch model {self.name!r} returned {type(out).__name__}, not a tensor"
            )
        return out.detach().to("cpu", torch.float64).numpy()


def torch_model(
    module: Any,
    *,
    layout: Layout,
    alphabet: str | Alphabet = "dna",
    output: int | Mapping[str, Any] | Output | None = None,
    batch_size: int | None = None,
    name: str | None = None,
    device: str | None = None,
    dtype: str | None = None,
    head: int | None = None,
    n_value: float = 0.0,
) -> Model:
    """Wrap a ``torch.nn.Module`` as a causalgia :class:`~causalgia.engine.Model`.

    Parameters
    ----------
    module : torch.nn.Module
        The network; it is not moved or copied (put it on its device first).
    layout : {"NCL", "NLC"}
        The one-hot layout the module expects (``"NCL"`` for ``Conv1d``); required.
    alphabet, output, batch_size, name, n_value
        As in :func:`~causalgia.engine.as_model`; ``output`` is the declared output functional.
    device : str or None
        Device of the input tensors; None uses the device of the module's first parameter
        (``"cpu"`` for a module without parameters).
    dtype : {"float32", "float64", "float16", "bfloat16"} or None
        dtype of the input tensors; None uses the dtype of the first floating parameter
        (float32 without one). It must match the module's parameters (convert the module with
        ``module.double()`` etc. yourself: the adapter never changes it).
    head : int or None
        Index of the output to use when the module returns a tuple or list. Without it, a
        module's tuple, list or dict of outputs goes on to ``output``, whose ``head`` picks
        (``Output(head=0, counts_head=1, reduce="expected_counts")`` needs both of a BPNet's).

    Returns
    -------
    Model
        The module behind the declared layout, alphabet and output functional.

    Examples
    --------
    >>> import torch  # doctest: +SKIP
    >>> net = torch.nn.Sequential(torch.nn.Conv1d(4, 1, 3), torch.nn.AdaptiveMaxPool1d(1),
    ...                           torch.nn.Flatten())  # doctest: +SKIP
    >>> m = torch_model(net, layout="NCL", output=0)  # doctest: +SKIP
    >>> m.predict(np.zeros((2, 10), dtype=np.uint8)).shape  # doctest: +SKIP
    (2,)
    """
    torch = import_torch()
    if not isinstance(module, torch.nn.Module):
        raise OptionError(f"torch_model needs a torch.nn.Module, got {type(module).__name__}")
    check_option("layout", layout, LAYOUTS)
    params = list(module.parameters())
    if device is None:
        device = str(params[0].device) if params else "cpu"
    if dtype is None:
        floats = [p.dtype for p in params if p.is_floating_point()]
        dtype = str(floats[0]).removeprefix("torch.") if floats else "float32"
    check_option("dtype", dtype, TORCH_DTYPES)
    if head is not None:
        check_int("head", head, minimum=0)
    label = name or type(module).__name__
    fn = TorchCallable(module, layout, str(device), dtype, head, label)
    return wrap_callable(
        fn,
        layout=layout,
        alphabet=alphabet,
        output=output,
        batch_size=batch_size,
        name=label,
        n_value=n_value,
    )


_ONNX_TYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
}


@dataclass(frozen=True, eq=False)
class OnnxCallable:
    """An onnxruntime session as a numpy callable (built by :func:`onnx_model`)."""

    session: Any
    layout: Layout
    input_name: str
    output_name: str | tuple[str, ...]
    dtype: Any
    fixed_batch: int | None = None
    name: str = "onnx"
    source: str | bytes | None = None  # the .onnx file or serialized graph the session runs

    def graph_source(self) -> str | bytes:
        """The ONNX file path or serialized model the session was built from.

        Needed to build modified copies of the graph (e.g.
        :func:`causalgia.checks.randomization.randomize_weights`). For a session passed in by the
        user it is read from the session itself, where onnxruntime keeps it.

        Returns
        -------
        str or bytes
            The path of the ``.onnx`` file, or the serialized model.
        """
        for value in (
            self.source,
            getattr(self.session, "_model_path", None),
            getattr(self.session, "_model_bytes", None),
        ):
            if value is not None:
                return value
        raise OptionError(
            f"ONNX model {self.name!r}: the session does not say which graph it runs; "
            "build the model from the .onnx file (onnx_model(path, ...))"
        )

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Outputs for a one-hot batch (padded to the fixed batch size when there is one)."""
        arr = np.ascontiguousarray(x, dtype=self.dtype)
        _check_layout_of(arr, self.layout, f"ONNX model {self.name!r}")
        if self.fixed_batch is None:
            return self._result(self._run(arr))
        b, parts = self.fixed_batch, []
        for start in range(0, len(arr), b):
            chunk = arr[start : start + b]
            k = len(chunk)
            if k < b:
                chunk = np.concatenate([chunk, np.zeros((b - k, *chunk.shape[1:]), chunk.dtype)])
            parts.append([out[:k] for out in self._run(chunk)])
        return self._result([np.concatenate(outs) for outs in zip(*parts, strict=True)])

    def _result(self, outs: list[np.ndarray]) -> np.ndarray | dict[str, np.ndarray]:
        """One output as an array; several (``output_name="all"``) as a dict by name."""
        if isinstance(self.output_name, str):
            return outs[0]
        return dict(zip(self.output_name, outs, strict=True))

    def _run(self, arr: np.ndarray) -> list[np.ndarray]:
        names = [self.output_name] if isinstance(self.output_name, str) else self.output_name
        try:
            outs = self.session.run(list(names), {self.input_name: arr})
        except Exception as err:  # onnxruntime raises its own exception types
            raise LayoutError(
                f"ONNX model {self.name!r} failed on an input of shape {arr.shape} in the "
                f"declared layout {self.layout!r}: {err}"
            ) from err
        return [np.asarray(out, dtype=np.float64) for out in outs]


def onnx_model(
    model: str | Path | Any,
    *,
    layout: Layout,
    alphabet: str | Alphabet = "dna",
    output: int | Mapping[str, Any] | Output | None = None,
    batch_size: int | None = None,
    name: str | None = None,
    input_name: str | None = None,
    output_name: str | None = None,
    providers: tuple[str, ...] = ("CPUExecutionProvider",),
    n_value: float = 0.0,
) -> Model:
    """Wrap an ONNX model (a file or an ``onnxruntime.InferenceSession``) as a causalgia Model.

    Parameters
    ----------
    model : str, Path or onnxruntime.InferenceSession
        The ``.onnx`` file (opened with ``providers``) or an open session.
    layout : {"NCL", "NLC"}
        The one-hot layout the graph expects; required. When the graph's input shape is static
        on the channel axis, a mismatch raises :class:`~causalgia.errors.LayoutError` here.
    input_name, output_name : str or None
        Needed when the graph has more than one input or output (never guessed).
        ``output_name="all"`` returns every graph output as a dict by name, from which
        ``Output(head="name")`` picks (a BPNet with profile and count outputs).
    providers : tuple of str, default ("CPUExecutionProvider",)
        onnxruntime execution providers used to open a ``.onnx`` file (ignored for a session).
    alphabet, output, batch_size, name, n_value
        As in :func:`~causalgia.engine.as_model`.

    Returns
    -------
    Model
        The graph behind the declared layout, alphabet and output functional.

    Examples
    --------
    >>> m = onnx_model("model.onnx", layout="NCL", output=0)  # doctest: +SKIP
    """
    try:
        import onnxruntime as ort
    except ImportError:
        raise OptionError(
            "the ONNX adapter needs onnxruntime: pip install 'causalgia[onnx]'"
        ) from None
    check_option("layout", layout, LAYOUTS)
    if isinstance(model, str | Path):
        path = Path(model)
        if not path.is_file():
            raise OptionError(f"ONNX model file {str(path)!r} does not exist")
        session = ort.InferenceSession(str(path), providers=list(providers))
        label = name or path.stem
        source: str | None = str(path)
    else:
        session = model
        label = name or "onnx"
        source = None
    inputs, outputs = session.get_inputs(), session.get_outputs()
    inp = _pick(inputs, input_name, "input", label)
    if output_name == "all":
        out_names: str | tuple[str, ...] = tuple(o.name for o in outputs)
    else:
        out_names = _pick(outputs, output_name, "output", label).name
    if inp.type not in _ONNX_TYPES:
        raise OptionError(f"ONNX model {label!r}: input type {inp.type} is not a float tensor")
    shape = list(inp.shape)
    if len(shape) != 3:
        raise LayoutError(f"ONNX model {label!r}: input {inp.name!r} has rank {len(shape)}, not 3")
    channels = shape[1] if layout == "NCL" else shape[2]
    if isinstance(channels, int) and channels != 4:
        raise LayoutError(
            f"ONNX model {label!r}: input {inp.name!r} has shape {shape}; the declared layout "
            f"{layout!r} needs 4 channels on axis {1 if layout == 'NCL' else 2}"
        )
    fixed = shape[0] if isinstance(shape[0], int) and shape[0] > 0 else None
    fn = OnnxCallable(
        session, layout, inp.name, out_names, _ONNX_TYPES[inp.type], fixed, label, source
    )
    return wrap_callable(
        fn,
        layout=layout,
        alphabet=alphabet,
        output=output,
        batch_size=batch_size,
        name=label,
        n_value=n_value,
    )


def _pick(items: list[Any], wanted: str | None, what: str, label: str) -> Any:
    names = [i.name for i in items]
    if wanted is None:
        if len(items) != 1:
            raise OptionError(
                f"ONNX model {label!r} has {what}s {names}; declare {what}_name= to pick one"
                + (' (or output_name="all" for all of them)' if what == "output" else "")
            )
        return items[0]
    if wanted not in names:
        raise OptionError(f"ONNX model {label!r} has no {what} {wanted!r}; it has {names}")
    return items[names.index(wanted)]


def import_keras() -> Any:
    """Import Keras 3, or explain how to install it and choose a backend.

    Keras runs on a backend chosen by the ``KERAS_BACKEND`` environment variable before the
    first ``import keras`` (``"torch"`` needs only PyTorch: ``pip install
    'causalgia[keras,torch]'``; ``"tensorflow"`` and ``"jax"`` work too).

    Returns
    -------
    module
        The ``keras`` module.

    Raises
    ------
    OptionError
        When Keras 3 or its backend is not installed.
    """
    try:
        import keras
    except ImportError as err:
        raise OptionError(
            f"the Keras adapter needs Keras 3 and a backend ({err}): pip install "
            "'causalgia[keras,torch]' and set KERAS_BACKEND=torch before importing keras"
        ) from None
    if int(str(keras.__version__).split(".")[0]) < 3:
        raise OptionError(f"the Keras adapter needs Keras 3, found keras {keras.__version__}")
    return keras


@dataclass(frozen=True, eq=False)
class KerasCallable:
    """A Keras 3 model as a numpy callable (built by :func:`keras_model`).

    Each call converts the one-hot batch to ``dtype`` and calls ``model(x, training=False)``:
    one forward pass in inference mode (dropout off, batch normalisation on its moving
    statistics), under ``torch.no_grad()`` on the torch backend, with no progress bar. This is
    what ``model.predict_on_batch`` runs, without its conversion of the outputs, which warns
    on every call on the torch backend under numpy 2. One output comes back as a float64
    array; the outputs of a multi-output model as a tuple (list outputs) or a dict (named
    outputs) of float64 arrays, for the declared output functional to pick from.
    ``input_shape`` is the model's input shape when Keras knows it (None entries unknown).
    """

    model: Any
    layout: Layout
    dtype: str = "float32"
    input_shape: tuple[int | None, ...] | None = None
    name: str = "keras"

    def __call__(self, x: np.ndarray) -> Any:
        """Outputs of the model for a one-hot batch, as float64 numpy (a tuple or dict of
        them for a multi-output model)."""
        arr = np.ascontiguousarray(x, dtype=self.dtype)
        who = f"Keras model {self.name!r}"
        _check_layout_of(arr, self.layout, who)
        length = None if self.input_shape is None else self.input_shape[_length_axis(self.layout)]
        if length is not None and arr.shape[_length_axis(self.layout)] != length:
            raise InvalidSequenceError(
                f"{who} reads sequences of length {length} (input shape "
                f"{_shape_text(self.input_shape)}), but was given shape {arr.shape} in the "
                f"declared layout {self.layout!r}"
            )
        keras = import_keras()
        on_torch = keras.backend.backend() == "torch"
        try:
            with import_torch().no_grad() if on_torch else contextlib.nullcontext():
                out = self.model(keras.ops.convert_to_tensor(arr), training=False)
        except (ValueError, RuntimeError) as err:
            text = str(err).lower()
            if not any(word in text for word in ("shape", "channel", "size", "incompatible")):
                raise
            raise LayoutError(
                f"{who} failed on an input of shape {arr.shape} in the declared layout "
                f"{self.layout!r} (is the layout right?): {err}"
            ) from err
        if isinstance(out, Mapping):
            return {key: _float64(value) for key, value in out.items()}
        if isinstance(out, tuple | list):
            return tuple(_float64(value) for value in out)
        return _float64(out)


def _float64(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor (any dtype, any device)
        return value.detach().cpu().double().numpy()
    return np.asarray(import_keras().ops.convert_to_numpy(value), dtype=np.float64)


def _length_axis(layout: str) -> int:
    return 2 if layout == "NCL" else 1


def _shape_text(shape: tuple[int | None, ...]) -> str:
    return "(" + ", ".join("None" if s is None else str(s) for s in shape) + ")"


def _keras_input(model: Any, label: str) -> tuple[tuple[int | None, ...] | None, str]:
    """The model's input shape (None when Keras does not know it) and input dtype."""
    try:
        inputs = list(model.inputs)
    except (AttributeError, ValueError, TypeError):  # a subclassed model: no symbolic inputs
        return None, "float32"
    if len(inputs) != 1:
        raise OptionError(
            f"Keras model {label!r} takes {len(inputs)} inputs; causalgia feeds one one-hot "
            "array (wrap the model so that it takes one input)"
        )
    shape = tuple(None if s is None else int(s) for s in inputs[0].shape)
    dtype = str(getattr(inputs[0], "dtype", "float32"))
    if dtype not in ("float16", "bfloat16", "float32", "float64"):
        raise OptionError(f"Keras model {label!r}: input dtype {dtype} is not a float type")
    return shape, "float32" if dtype == "bfloat16" else dtype


def _check_keras_layout(shape: tuple[int | None, ...], layout: str, label: str) -> None:
    """Refuse a declared layout that the model's known input shape contradicts."""
    if len(shape) != 3:
        raise LayoutError(
            f"Keras model {label!r} has input shape {_shape_text(shape)} of rank {len(shape)}; "
            "a one-hot batch has rank 3: (N, L, 4) for 'NLC' or (N, 4, L) for 'NCL'"
        )
    axis, other = (1, 2) if layout == "NCL" else (2, 1)
    if shape[axis] == 4 or (shape[axis] is None and shape[other] != 4):
        return
    want = "(None, 4, L)" if layout == "NCL" else "(None, L, 4)"
    hint = " (channels last: declare layout='NLC')" if layout == "NCL" else ""
    if shape[other] == 4 and layout == "NLC":
        hint = " (channels first: declare layout='NCL')"
    raise LayoutError(
        f"Keras model {label!r} has input shape {_shape_text(shape)}, but the declared layout "
        f"{layout!r} needs 4 channels on axis {axis}, an input shape {want}{hint}"
    )


def keras_model(
    model: Any,
    *,
    layout: Layout,
    alphabet: str | Alphabet = "dna",
    output: int | Mapping[str, Any] | Output | None = None,
    batch_size: int | None = None,
    name: str | None = None,
    n_value: float = 0.0,
) -> Model:
    """Wrap a Keras 3 ``keras.Model`` as a causalgia :class:`~causalgia.engine.Model`.

    The model runs in inference mode, ``model(x, training=False)`` (see
    :class:`KerasCallable`), on whatever backend Keras was imported with (``KERAS_BACKEND``:
    ``"torch"`` needs only PyTorch). Its fingerprint is that of every model (the declaration and
    the outputs on fixed probe sequences, :class:`~causalgia.engine.ModelProbe`), so a changed
    weight changes it.

    Parameters
    ----------
    model : keras.Model
        A built Keras 3 model (Functional, Sequential or subclassed) with one input.
    layout : {"NCL", "NLC"}
        The one-hot layout the model reads (``"NLC"``, channels last, for most Keras models);
        required, never guessed. When the model's input shape is known, a layout it
        contradicts raises :class:`~causalgia.errors.LayoutError` naming both.
    alphabet, batch_size, n_value
        As in :func:`~causalgia.engine.as_model`.
    output : int, mapping or Output, optional
        The declared output functional; for a model with several outputs (a list or dict of
        tensors) it also picks the output.
    name : str, optional
        The model's name (default: its class name, e.g. ``"Functional"``; Keras' own
        ``model.name`` is not used, because it is numbered by how many models the session built
        and would change the fingerprint between sessions).

    Returns
    -------
    Model
        The model behind the declared layout, alphabet and output functional; its ``length``
        is the input length of the model's input shape when that is fixed.

    Raises
    ------
    OptionError
        When ``model`` is not a built ``keras.Model``, has several inputs or a non-float input.
    LayoutError
        When the model's input shape contradicts ``layout``.

    Examples
    --------
    >>> import keras  # doctest: +SKIP
    >>> inp = keras.Input((30, 4))  # doctest: +SKIP
    >>> net = keras.Model(inp, keras.layers.Dense(1)(keras.layers.GlobalMaxPooling1D()(
    ...     keras.layers.Conv1D(8, 5)(inp))))  # doctest: +SKIP
    >>> m = keras_model(net, layout="NLC", output=0)  # doctest: +SKIP
    >>> m.predict(np.zeros((2, 30), dtype=np.uint8)).shape  # doctest: +SKIP
    (2,)
    """
    keras = import_keras()
    if not isinstance(model, keras.Model):
        raise OptionError(f"keras_model needs a keras.Model, got {type(model).__name__}")
    check_option("layout", layout, LAYOUTS)
    label = name or type(model).__name__
    if not model.built:
        raise OptionError(
            f"Keras model {label!r} is not built, so it has no weights yet; build it from a "
            "keras.Input or call model.build((None, L, 4)) (or load the trained model) first"
        )
    shape, dtype = _keras_input(model, label)
    if shape is not None:
        _check_keras_layout(shape, layout, label)
    length = None if shape is None else shape[_length_axis(layout)]
    fn = KerasCallable(model, layout, dtype, shape, label)
    return wrap_callable(
        fn,
        layout=layout,
        alphabet=alphabet,
        output=output,
        batch_size=batch_size,
        name=label,
        n_value=n_value,
        length=length,
    )
