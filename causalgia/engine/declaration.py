"""Declaring a model: :func:`as_model` for plain callables, torch, ONNX and Keras models.

:func:`as_model` is the front door of the engine: it sends a ``keras.Model``, a
``torch.nn.Module`` or an ``onnxruntime.InferenceSession`` to its adapter
(:mod:`causalgia.engine.adapters`) and wraps any other callable directly
(:func:`causalgia.engine.models.wrap_callable`). ``also_accepts=`` declares that a model of one
alphabet takes backgrounds of the other (an RNA model fed DNA letters, T read as U).
:func:`from_import_path` builds a model that Dask workers can rebuild from its import path.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Literal

import numpy as np

from .._options import check_int
from ..errors import OptionError
from ..sequences.alphabet import Alphabet, Layout, get_alphabet
from .adapters import keras_model, onnx_model, torch_model
from .models import Model, ModelSource, Output, task_names_of, wrap_callable
from .outputs import OutputSet, as_outputs


def _framework_adapter(fn: object) -> Callable[..., Model] | None:
    """The adapter for a Keras model, a torch module or an onnxruntime session, else None.

    Only frameworks the caller has already imported are checked (``sys.modules``), so this never
    imports keras, torch or onnxruntime. Keras comes first: on the torch backend a
    ``keras.Model`` is also a ``torch.nn.Module``.
    """
    keras = sys.modules.get("keras")
    if keras is not None and isinstance(fn, getattr(keras, "Model", ())):
        return keras_model
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(fn, torch.nn.Module):
        return torch_model
    ort = sys.modules.get("onnxruntime")
    if ort is not None and isinstance(fn, ort.InferenceSession):
        return onnx_model
    return None


def as_model(
    fn: Callable[[np.ndarray], Any] | Model,
    *,
    layout: Layout | None = None,
    alphabet: str | Alphabet | None = None,
    output: int | Mapping[str, Any] | Output | None = None,
    batch_size: int | None = None,
    name: str | None = None,
    n_value: float = 0.0,
    length: int | None = None,
    also_accepts: str | Alphabet | None = None,
    outputs: Mapping[str, Any] | Sequence[Any] | str | OutputSet | None = None,
    task_names: Sequence[str] | None = None,
) -> Model:
    """Wrap a callable (float32 one-hot in, array out) as a causalgia :class:`Model`.

    ``layout`` must be declared, here or as a ``layout`` attribute of ``fn`` (the oracle models in
    :mod:`causalgia.testing` and :class:`causalgia.engine.deepbind.DeepBindModel` declare theirs);
    it is never inferred from the array shape. A ``torch.nn.Module`` or an
    ``onnxruntime.InferenceSession`` is wrapped by :func:`causalgia.engine.torch_model` /
    :func:`causalgia.engine.onnx_model` (eval mode, no_grad, state restored); a Keras 3
    ``keras.Model`` by :func:`causalgia.engine.keras_model` (inference mode; usually
    ``layout="NLC"``; a layout its input shape contradicts is refused).

    The alphabet is checked too: :func:`~causalgia.engine.simulate` refuses backgrounds of the
    other alphabet (an RNA model on DNA-letter backgrounds, or a DNA model on RNA ones) unless
    the model declares ``also_accepts=`` that alphabet. The one-hot input is the same either
    way (T and U share one code): the refusal guards against running a model on sequences it
    was not meant for without saying so.

    Parameters
    ----------
    fn : callable or Model
        The model: a callable from a float32 one-hot array to outputs, a torch module, an
        onnxruntime session, a Keras 3 model, or a Model (returned as is, or with a new batch
        size or length).
    layout : {"NCL", "NLC"}, optional
        The one-hot layout the model reads (default: ``fn.layout``; required otherwise).
    alphabet : str or Alphabet, optional
        ``"dna"`` or ``"rna"`` (default: ``fn.alphabet``, else DNA).
    output : int, mapping or Output, optional
        The output functional f (default: ``fn.output``, else the identity). A model that
        returns several outputs (a tuple, list or dict, e.g. BPNet's profile logits and log
        counts) needs ``Output(head=...)`` to pick one; see :class:`Output` for tasks by name
        and the profile functionals (``reduce="probability"`` or ``"expected_counts"``).
    batch_size : int, optional
        Sequences per forward pass (default: chosen by a probe in
        :func:`~causalgia.engine.simulate`).
    name : str, optional
        The model's name (default: ``fn.name`` or its qualified name).
    n_value : float
        Value of every channel at an N base in the one-hot input (0 or 0.25).
    length : int, optional
        The input length the model was built for (default: an integer ``fn.length``, as the
        oracles of :mod:`causalgia.testing` declare, else any length).
        :func:`~causalgia.engine.simulate` refuses a design whose backgrounds have another
        length before any forward pass. A Keras model with a fixed input length declares it.
    also_accepts : {"dna", "rna"} or Alphabet, optional
        The other alphabet, whose backgrounds the model also takes: ``alphabet="rna",
        also_accepts="dna"`` runs an RNA model on DNA-letter backgrounds (T read as U). It is
        recorded in the model's declaration, so it is part of its fingerprint (only when set).
        Default: only backgrounds of ``alphabet``.
    outputs : mapping, sequence, "tasks" or OutputSet, optional
        Several named output functionals instead of ``output``, all computed from each forward
        pass: ``{"counts": Output(head=1), "centre": Output(head=0, counts_head=1,
        reduce="expected_counts", window=(450, 550))}``, a list of Outputs (named by their
        task, else ``output_0``, ...), or ``"tasks"`` for every column of an ``(N, T)`` output.
        :func:`~causalgia.engine.simulate` then stores one value per output and its table has
        an ``output`` column (:class:`~causalgia.engine.outputs.OutputSet`).
    task_names : sequence of str, optional
        Names of the model's tasks (default: a ``task_names`` attribute of ``fn``), for
        ``outputs="tasks"`` and for outputs that pick a task by name.

    Returns
    -------
    Model

    Examples
    --------
    >>> m = as_model(lambda x: x.sum(axis=(1, 2)), layout="NLC", alphabet="rna", length=30)
    >>> m.layout, m.alphabet.name, m.length
    ('NLC', 'rna', 30)
    >>> as_model(lambda x: x.sum(axis=(1, 2)), layout="NLC", alphabet="rna",
    ...          also_accepts="dna").also_accepts.name
    'dna'
    """
    if isinstance(fn, Model):
        # a Model that declares no functional yet (an adapter's, e.g. onnx_model(...,
        # output_name="all")) may get its named outputs here; nothing else is redeclared
        open_outputs = fn.outputs is None and fn.output == Output()
        given = {
            "layout": layout,
            "alphabet": alphabet,
            "output": output,
            "name": name,
            "also_accepts": also_accepts,
            **({} if open_outputs else {"outputs": outputs, "task_names": task_names}),
        }
        clash = [key for key, value in given.items() if value is not None]
        if clash:
            raise OptionError(
                f"as_model got an existing Model and new {clash}; declare "
                "them once, when the Model is first built"
            )
        if length is not None:
            fn = _with_length(fn, length)
        if outputs is not None:
            fn = _with_outputs(fn, outputs, None, task_names)
        if batch_size is None:
            return fn
        size = check_int("batch_size", batch_size, minimum=1)
        return replace(fn, batch_size=size, auto_batch=False)
    adapter = _framework_adapter(fn)
    if adapter is not None:  # keras, torch or onnxruntime: causalgia.engine.adapters
        if layout is None:
            raise OptionError(
                f"declare layout='NCL' or 'NLC' for this {type(fn).__name__}; "
                "causalgia never guesses the one-hot layout"
            )
        model = adapter(
            fn,
            layout=layout,
            alphabet=alphabet if alphabet is not None else "dna",
            output=output,
            batch_size=batch_size,
            name=name,
            n_value=n_value,
        )
        model = model if length is None else _with_length(model, length)
    else:
        model = wrap_callable(
            fn,
            layout=layout,
            alphabet=alphabet,
            output=output,
            batch_size=batch_size,
            name=name,
            n_value=n_value,
            length=length,
        )
    model = model if also_accepts is None else _also_accepting(model, also_accepts)
    return model if outputs is None else _with_outputs(model, outputs, output, task_names)


def _with_outputs(
    model: Model,
    outputs: Mapping[str, Any] | Sequence[Any] | str | OutputSet,
    output: Any,
    task_names: Sequence[str] | None,
) -> Model:
    """``model`` with several named output functionals (``output`` must not be given too)."""
    if output is not None:
        raise OptionError("declare output= (one functional) or outputs= (several), not both")
    names = task_names if task_names is not None else task_names_of(model.fn)
    return replace(model, outputs=as_outputs(outputs, names))


def _also_accepting(model: Model, also_accepts: str | Alphabet) -> Model:
    """``model`` declared to take backgrounds of ``also_accepts`` too (its other alphabet)."""
    other = get_alphabet(also_accepts)
    if other == model.alphabet:
        raise OptionError(
            f"also_accepts={other.name!r} is the alphabet of model {model.name!r} already; it "
            "declares the other one (e.g. alphabet='rna', also_accepts='dna': an RNA model "
            "that takes DNA-letter backgrounds, T read as U)"
        )
    return replace(model, also_accepts=other)


def _with_length(model: Model, length: int) -> Model:
    """``model`` declared for inputs of ``length``; a different declared length is an error."""
    length = check_int("length", length, minimum=1)
    if model.length is not None and model.length != length:
        raise OptionError(
            f"model {model.name!r} was declared for length {model.length}, not {length}"
        )
    return replace(model, length=length)


def from_import_path(
    target: str,
    *,
    kind: Literal["factory", "callable"] = "factory",
    path: str | None = None,
    layout: Layout | None = None,
    alphabet: str | Alphabet | None = None,
    output: int | Mapping[str, Any] | Output | None = None,
    batch_size: int | None = None,
    name: str | None = None,
    n_value: float = 0.0,
    length: int | None = None,
    also_accepts: str | Alphabet | None = None,
    outputs: Mapping[str, Any] | Sequence[Any] | str | OutputSet | None = None,
    task_names: Sequence[str] | None = None,
) -> Model:
    """A :class:`Model` built from an import path, which Dask workers rebuild once each.

    The declaration (layout, alphabet, output, batch size, N value, length, also_accepts,
    outputs, task_names) is as in :func:`as_model`.
    A factory may also return a ready :class:`Model`, whose declaration is then kept.

    Parameters
    ----------
    target : str
        Import path ``"package.module:attr"`` of the model factory or callable.
    kind : {"factory", "callable"}, default "factory"
        ``"factory"``: the attribute is called once with no arguments and returns the model;
        ``"callable"``: the attribute is the model itself.
    path : str, optional
        A folder put on ``sys.path`` while importing ``target``.
    layout, alphabet, output, batch_size, name, n_value, length, also_accepts
        As in :func:`as_model`.
    outputs, task_names
        Several named output functionals, as in :func:`as_model`.

    Returns
    -------
    Model
        The declared model, with ``source`` set so that Dask workers rebuild it by import.

    Examples
    --------
    >>> m = from_import_path("causalgia.testing:RBPOracle")
    >>> m.layout, m.source.target
    ('NCL', 'causalgia.testing:RBPOracle')
    """
    source = ModelSource(target, kind, None if path is None else str(path))
    fn = source.load()
    # a ready Model keeps its declaration (as_model refuses a redeclaration and ignores n_value)
    model = as_model(
        fn,
        layout=layout,
        alphabet=alphabet,
        output=output,
        batch_size=batch_size,
        name=name,
        n_value=n_value,
        length=length,
        also_accepts=also_accepts,
        outputs=outputs,
        task_names=task_names,
    )
    return replace(model, source=source)
