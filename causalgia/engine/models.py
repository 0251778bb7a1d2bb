"""Model adapters: any callable on one-hot sequences becomes a simulator with a declared
layout, alphabet and output functional f.

``f`` is never guessed: the layout (``"NCL"`` for PyTorch Conv1d, ``"NLC"`` for Keras) and the
output functional (which output index, which transform, which reduction over a profile) are
declared by the user, or by the model object itself through ``layout`` / ``output`` attributes.
"""

from __future__ import annotations

import hashlib
import importlib
import sys
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from .._options import check_int, check_option
from .._rng import uniforms, unit_keys
from ..errors import ModelOutputError, OptionError
from ..sequences.alphabet import LAYOUTS, Alphabet, Layout, get_alphabet, one_hot

DEFAULT_BATCH_SIZE = 256
_FINGERPRINTS: weakref.WeakKeyDictionary[Model, dict[int, str]] = weakref.WeakKeyDictionary()
Transform = Literal["identity", "log", "logit", "sigmoid", "exp"]
Reduce = Literal["none", "sum", "mean", "max"]
_TRANSFORMS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "identity": lambda v: v,
    "log": np.log,
    "logit": lambda v: np.log(v) - np.log1p(-v),
    "sigmoid": lambda v: 1.0 / (1.0 + np.exp(-v)),
    "exp": np.exp,
}


@dataclass(frozen=True)
class Output:
    """The declared output functional f: select, reduce, transform.

    ``index`` picks a task from outputs of shape ``(N, T, ...)``; ``reduce`` sums/averages/maxes
    a remaining profile axis ``(N, P)`` over ``window`` (half-open, all when None); then
    ``transform`` is applied.

    Examples
    --------
    >>> Output(index=1, transform="log").apply(np.array([[1.0, np.e]]))
    array([1.])
    """

    index: int | None = None
    transform: Transform = "identity"
    reduce: Reduce = "none"
    window: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.index is not None:
            check_int("output index", self.index, minimum=0)
        check_option("output transform", self.transform, tuple(_TRANSFORMS))
        check_option("output reduce", self.reduce, ("none", "sum", "mean", "max"))
        if self.window is not None:
            if self.reduce == "none":
                raise OptionError("output window needs a reduce ('sum', 'mean' or 'max')")
            object.__setattr__(self, "window", tuple(int(w) for w in self.window))

    def apply(self, raw: np.ndarray) -> np.ndarray:
        """Map raw model outputs of one batch to f, shape ``(N,)``."""
        out = np.asarray(raw, dtype=np.float64)
        if self.index is not None:
            if out.ndim < 2 or self.index >= out.shape[1]:
                raise ModelOutputError(
                    f"output index {self.index} requested but the model returned shape {out.shape}"
                )
            out = out[:, self.index]
        if self.reduce != "none":
            if out.ndim != 2:
                raise ModelOutputError(
                    f"reduce={self.reduce!r} needs a profile of shape (N, P), got {out.shape}"
                )
            if self.window is not None:
                out = out[:, self.window[0] : self.window[1]]
            out = getattr(np, self.reduce)(out, axis=1)
        if out.ndim == 2 and out.shape[1] == 1:
            out = out[:, 0]
        if out.ndim != 1:
            raise ModelOutputError(
                f"model output has shape {np.shape(raw)}; declare output=Output(index=..., "
                "reduce=...) so that f is one number per sequence"
            )
        with np.errstate(all="ignore"):
            return _TRANSFORMS[self.transform](out)


def as_output(output: int | Mapping[str, Any] | Output | None) -> Output:
    """Normalise an output declaration: None, a task index, a mapping, or an Output.

    Examples
    --------
    >>> as_output({"index": 0, "transform": "logit"}).transform
    'logit'
    """
    if output is None:
        return Output()
    if isinstance(output, Output):
        return output
    if isinstance(output, Mapping):
        unknown = set(output) - {"index", "transform", "reduce", "window"}
        if unknown:
            raise OptionError(
                f"unknown output keys {sorted(unknown)}; allowed: index, transform, reduce, window"
            )
        return Output(**dict(output))
    return Output(index=check_int("output", output, minimum=0))


@dataclass(frozen=True)
class ModelSource:
    """Where a model comes from, so a Dask worker can build it itself instead of unpickling it.

    ``target`` is an import path ``"package.module:attr"``. With ``kind="factory"`` the attribute
    is called once with no arguments and returns the model callable (e.g. a function that loads
    weights and returns a ``torch.nn.Module``); with ``kind="callable"`` the attribute is the
    model callable itself. ``path`` is a folder put on ``sys.path`` while importing.

    Examples
    --------
    >>> src = ModelSource("causalgia.testing:RBPOracle")
    >>> type(src.load()).__name__
    'RBPOracle'
    """

    target: str
    kind: Literal["factory", "callable"] = "factory"
    path: str | None = None

    def __post_init__(self) -> None:
        check_option("model source kind", self.kind, ("factory", "callable"))
        module, _, attr = self.target.partition(":")
        if not module or not attr:
            raise OptionError(
                f"model import path {self.target!r} must look like 'package.module:attr'"
            )

    def load(self) -> Callable[[np.ndarray], Any]:
        """Import the target (and call it once when it is a factory)."""
        module_name, _, attr = self.target.partition(":")
        if self.path is not None:
            sys.path.insert(0, self.path)
        try:
            module = importlib.import_module(module_name)
        except ImportError as err:
            raise OptionError(
                f"model {self.target!r}: cannot import {module_name!r}: {err}"
            ) from None
        finally:
            if self.path is not None:
                sys.path.remove(self.path)
        if not hasattr(module, attr):
            raise OptionError(f"model {self.target!r}: module {module_name!r} has no {attr!r}")
        obj = getattr(module, attr)
        return obj() if self.kind == "factory" else obj


@dataclass(frozen=True, eq=False)
class Model:
    """A sequence-to-function model as a simulator: codes in, f(x) out (float64, shape (N,)).

    Build it with :func:`causalgia.engine.as_model` (or :func:`~causalgia.engine.from_import_path`).
    ``auto_batch`` is True when no batch size was declared: :func:`~causalgia.engine.simulate` then
    picks one by a short probe. ``source`` (set by :func:`from_import_path`) lets Dask workers build
    the model once each instead of receiving it pickled.
    """

    fn: Callable[[np.ndarray], Any]
    layout: Layout
    alphabet: Alphabet
    output: Output
    batch_size: int
    name: str
    n_value: float = 0.0
    auto_batch: bool = False
    source: ModelSource | None = None

    def forward(self, batch: np.ndarray) -> np.ndarray:
        """One forward pass on a one-hot batch, validated and reduced to f, shape ``(N,)``."""
        raw = self.fn(batch)
        if hasattr(raw, "detach"):
            raw = raw.detach().cpu().numpy()
        try:
            arr = np.asarray(raw)
        except Exception as err:  # pragma: no cover - exotic return types
            raise ModelOutputError(f"model {self.name!r} returned {type(raw).__name__}") from err
        if arr.dtype.kind not in "fiub" or arr.ndim == 0 or arr.shape[0] != len(batch):
            raise ModelOutputError(
                f"model {self.name!r} returned {arr.dtype} of shape {arr.shape} for a batch of "
                f"{len(batch)} sequences; expected a numeric array with {len(batch)} rows"
            )
        return self.output.apply(arr)

    def predict(self, codes: np.ndarray, *, batch_size: int | None = None) -> np.ndarray:
        """f for every row of codes ``(N, L)``, in batches; non-finite values raise.

        The error is a :class:`~causalgia.errors.ModelOutputError` whose ``rows`` attribute holds
        the offending row indices (the simulator maps them to background ids and arms).

        Examples
        --------
        >>> from causalgia.sequences.alphabet import encode
        >>> m = wrap_callable(lambda x: x[:, 0, :].sum(axis=1), layout="NCL")
        >>> m.predict(encode(["AACG", "CCCC"])).tolist()
        [2.0, 0.0]
        """
        size = (
            self.batch_size
            if batch_size is None
            else check_int("batch_size", batch_size, minimum=1)
        )
        codes = np.asarray(codes)
        out = np.empty(len(codes), dtype=np.float64)
        for start in range(0, len(codes), size):
            batch = one_hot(codes[start : start + size], self.layout, n_value=self.n_value)
            out[start : start + size] = self.forward(batch)
        bad = np.flatnonzero(~np.isfinite(out))
        if bad.size:
            err = ModelOutputError(
                f"model {self.name!r} returned non-finite f for {bad.size} row(s), first rows "
                f"{bad[:5].tolist()} (values {out[bad[:5]].tolist()})"
            )
            err.rows = bad
            raise err
        return out

    def fingerprint(self, length: int) -> str:
        """sha256 of the declaration and the outputs on 16 fixed probe sequences of ``length``.

        A changed weight, layout, output functional or N value changes the fingerprint. It is
        computed once per model object and length.
        """
        cached = _FINGERPRINTS.setdefault(self, {})
        if length not in cached:
            cached[length] = self._fingerprint(length)
        return cached[length]

    def _fingerprint(self, length: int) -> str:
        probe = np.floor(uniforms(unit_keys(0, np.arange(16), "fingerprint"), length) * 4)
        values = self.predict(probe.astype(np.uint8))
        h = hashlib.sha256()
        h.update(
            repr((self.name, self.layout, self.alphabet.name, self.output, self.n_value)).encode()
        )
        h.update(np.ascontiguousarray(values).tobytes())
        return h.hexdigest()[:16]


def wrap_callable(
    fn: Callable[[np.ndarray], Any],
    *,
    layout: Layout | None = None,
    alphabet: str | Alphabet | None = None,
    output: int | Mapping[str, Any] | Output | None = None,
    batch_size: int | None = None,
    name: str | None = None,
    n_value: float = 0.0,
) -> Model:
    """A :class:`Model` of a plain callable (float32 one-hot in, array out).

    The declaration is taken from the arguments, else from the callable's own ``layout``,
    ``alphabet``, ``output`` and ``name`` attributes; the layout is never guessed. Use
    :func:`causalgia.engine.as_model`, which also takes torch modules and ONNX sessions.

    Examples
    --------
    >>> wrap_callable(lambda x: x.sum(axis=(1, 2)), layout="NCL").layout
    'NCL'
    """
    if not callable(fn):
        raise OptionError(f"model must be callable, got {type(fn).__name__}")
    layout = layout if layout is not None else getattr(fn, "layout", None)
    if layout is None:
        raise OptionError(
            "declare layout='NCL' (PyTorch Conv1d) or 'NLC' (Keras); "
            "causalgia never guesses the one-hot layout"
        )
    check_option("layout", layout, LAYOUTS)
    alph = get_alphabet(alphabet if alphabet is not None else getattr(fn, "alphabet", "dna"))
    out = as_output(output if output is not None else getattr(fn, "output", None))
    label = name or getattr(fn, "name", None) or getattr(fn, "__qualname__", type(fn).__name__)
    size = DEFAULT_BATCH_SIZE if batch_size is None else batch_size
    return Model(
        fn,
        layout,
        alph,
        out,
        check_int("batch_size", size, minimum=1),
        str(label),
        float(n_value),
        auto_batch=batch_size is None,
    )
