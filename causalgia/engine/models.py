"""Model adapters: any callable on one-hot sequences becomes a simulator with a declared
layout, alphabet and output functional f.

``f`` is never guessed: the layout (``"NCL"`` for PyTorch Conv1d, ``"NLC"`` for Keras) and the
output functional (which output index, which transform, which reduction over a profile) are
declared by the user, or by the model object itself through ``layout`` / ``output`` attributes.
A model with several outputs (BPNet's profile logits and log counts) returns a tuple, list or
dict, and the Output's ``head`` picks one (:mod:`.outputs`; profile functionals:
:mod:`.profiles`).

A model's fingerprint (:class:`ModelProbe`) hashes its declaration exactly and keeps its outputs
on 16 fixed probe sequences as numbers, so that two copies of one model whose outputs differ only
in floating-point noise (float32 kernels under another thread count) are recognised as the same
model (:meth:`ModelProbe.agrees`), while a changed weight, layout or output functional is not.
"""

from __future__ import annotations

import hashlib
import importlib
import sys
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from .._options import check_int, check_option
from .._rng import uniforms, unit_keys
from ..errors import CausalgiaError, ModelCallError, ModelOutputError, OptionError
from ..sequences.alphabet import LAYOUTS, Alphabet, Layout, get_alphabet, one_hot
from .outputs import Output, OutputSet, ShapeChange, as_output

DEFAULT_BATCH_SIZE = 256
PROBE_COUNT = 16
PROBE_RTOL = 1e-5
"""Tolerance of :meth:`ModelProbe.agrees`: the largest difference between two copies' probe
outputs, relative to the largest probe output in magnitude, that still counts as one model."""
_PROBES: weakref.WeakKeyDictionary[Model, dict[int, ModelProbe]] = weakref.WeakKeyDictionary()


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
        """Import the target (and call it once when it is a factory).

        Returns
        -------
        callable
            The model callable (what the factory returned, or the attribute itself).
        """
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
class ModelProbe:
    """The fingerprint of a model at one sequence length, and what it was computed from.

    ``digest`` is the fingerprint string recorded in ledgers, manifests and forward caches: 16
    hex digits of the sha256 of the declaration (name, layout, alphabet, output functional, N
    value) and of the bytes of ``outputs``, the model's f on 16 fixed probe sequences (keyed
    draws, purpose ``"fingerprint"``). A model with finite, bit-identical outputs has the digest
    it had in every earlier release. ``declaration`` is the sha256 (16 hex) of the declaration
    alone. Non-finite outputs are kept as values (every NaN hashed as the same NaN), so a model
    that returns NaN on a probe still has a fingerprint.

    Examples
    --------
    >>> a = ModelProbe("d1", "x", np.array([1.0, 2.0]))
    >>> b = ModelProbe("d2", "x", np.array([1.0, 2.0 + 1e-9]))
    >>> a.agrees(b), a.agrees(ModelProbe("d3", "x", np.array([1.0, 2.1])))
    (True, False)
    """

    digest: str
    declaration: str
    outputs: np.ndarray

    def record(self) -> dict[str, Any]:
        """A JSON-safe record (outputs as ``float.hex`` strings: exact, NaN and inf included).

        Returns
        -------
        dict
            ``declaration``, ``outputs`` and ``rtol`` (:data:`PROBE_RTOL`).

        Examples
        --------
        >>> ModelProbe("d", "x", np.array([0.5, np.nan])).record()["outputs"]
        ['0x1.0000000000000p-1', 'nan']
        """
        return {
            "declaration": self.declaration,
            "outputs": [float(v).hex() for v in np.asarray(self.outputs, dtype=np.float64)],
            "rtol": PROBE_RTOL,
        }

    @classmethod
    def from_record(cls, digest: str, record: Mapping[str, Any]) -> ModelProbe:
        """The probe of a recorded fingerprint (see :meth:`record`).

        Parameters
        ----------
        digest : str
            The recorded fingerprint string.
        record : mapping
            What :meth:`record` returned for it.

        Returns
        -------
        ModelProbe

        Examples
        --------
        >>> p = ModelProbe("d", "x", np.array([0.5, np.inf]))
        >>> ModelProbe.from_record("d", p.record()).outputs.tolist()
        [0.5, inf]
        """
        values = np.array([float.fromhex(v) for v in record["outputs"]], dtype=np.float64)
        return cls(str(digest), str(record["declaration"]), values)

    def difference(self, other: ModelProbe) -> float:
        """Largest difference of the probe outputs relative to the largest output in magnitude.

        0 for identical outputs; ``inf`` when the outputs cannot be compared (another number of
        probes, NaN or inf at other places, or other non-finite values).

        Parameters
        ----------
        other : ModelProbe
            The probe to compare with.

        Returns
        -------
        float
            The relative difference, 0 or more (``inf`` when not comparable).

        Examples
        --------
        >>> a = ModelProbe("d", "x", np.array([-4.0, 1.0, np.nan]))
        >>> a.difference(ModelProbe("e", "x", np.array([-4.0, 1.002, np.nan])))
        0.0005000000000000004
        """
        a = np.asarray(self.outputs, dtype=np.float64)
        b = np.asarray(other.outputs, dtype=np.float64)
        if a.shape != b.shape:
            return float("inf")
        finite = np.isfinite(a)
        if not np.array_equal(finite, np.isfinite(b)):
            return float("inf")
        if not np.array_equal(a[~finite], b[~finite], equal_nan=True):
            return float("inf")
        if not finite.any():
            return 0.0
        largest = float(np.max(np.abs(a[finite] - b[finite])))
        if largest == 0.0:
            return 0.0
        scale = max(float(np.max(np.abs(a[finite]))), float(np.max(np.abs(b[finite]))))
        return largest / scale

    def agrees(self, other: ModelProbe, rtol: float = PROBE_RTOL) -> bool:
        """True for the same model: equal digests, or equal declarations and probe outputs that
        differ by at most ``rtol`` of the largest output in magnitude (floating-point noise).

        Parameters
        ----------
        other : ModelProbe
            The probe to compare with.
        rtol : float, default PROBE_RTOL
            Tolerance of :meth:`difference` (``1e-5``).

        Returns
        -------
        bool
            Whether both probes are of the same model.

        Examples
        --------
        >>> a = ModelProbe("d", "x", np.array([1.0, 2.0]))
        >>> a.agrees(ModelProbe("e", "y", np.array([1.0, 2.0])))  # another declaration
        False
        """
        if self.digest == other.digest:
            return True
        return self.declaration == other.declaration and self.difference(other) <= rtol

    def mismatch(self, other: ModelProbe, rtol: float = PROBE_RTOL) -> str:
        """Why ``other`` is not this model, with what was measured (for error messages).

        Parameters
        ----------
        other : ModelProbe
            The probe that does not agree with this one.
        rtol : float, default PROBE_RTOL
            The tolerance to quote (``1e-5``).

        Returns
        -------
        str
            One sentence: a different declaration, or how far the probe outputs differ.

        Examples
        --------
        >>> a = ModelProbe("d", "x", np.array([1.0, 2.0]))
        >>> a.mismatch(ModelProbe("e", "x", np.array([1.0, 2.5])))
        'probe outputs differ by up to 0.2 of their largest magnitude (tolerance 1e-05)'
        """
        if self.declaration != other.declaration:
            return "the declaration differs (name, layout, alphabet, output functional or N value)"
        measured = self.difference(other)
        if not np.isfinite(measured):
            return "probe outputs differ in where they are NaN or infinite"
        return (
            f"probe outputs differ by up to {measured:.3g} of their largest magnitude "
            f"(tolerance {rtol:g})"
        )


def _probe_outputs(values: np.ndarray) -> np.ndarray:
    """Probe outputs with every NaN the same NaN (bytes of finite values unchanged)."""
    values = np.array(values, dtype=np.float64)
    values[np.isnan(values)] = np.nan
    values.setflags(write=False)
    return values


@dataclass(frozen=True, eq=False)
class Model:
    """A sequence-to-function model as a simulator: codes in, f(x) out (float64, shape (N,)).

    Build it with :func:`causalgia.engine.as_model` (or :func:`~causalgia.engine.from_import_path`).
    ``auto_batch`` is True when no batch size was declared: :func:`~causalgia.engine.simulate` then
    picks one by a short probe. ``source`` (set by :func:`from_import_path`) lets Dask workers build
    the model once each instead of receiving it pickled. ``length`` is the input length the model
    was declared for (None: any length); :func:`~causalgia.engine.simulate` refuses a design of
    another length. ``outputs`` (``as_model(..., outputs=...)``) declares several named output
    functionals computed from each forward pass; f is then ``(N, T)`` and ``output`` unused.

    Examples
    --------
    >>> m = wrap_callable(lambda x: x[:, 0, :].sum(axis=1), layout="NCL", length=4)
    >>> m.layout, m.length
    ('NCL', 4)
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
    length: int | None = None
    also_accepts: Alphabet | None = None
    outputs: OutputSet | None = None
    """A second alphabet whose backgrounds the model was declared to take (T read as U, or U
    as T: one code); None refuses backgrounds of any other alphabet than ``alphabet``."""

    def forward(self, batch: np.ndarray) -> np.ndarray:
        """One forward pass on a one-hot batch, validated and reduced to f, shape ``(N,)``
        (``(N, T)`` for a model declared with T ``outputs``).

        Parameters
        ----------
        batch : ndarray
            One-hot batch of N sequences in the model's layout.

        Returns
        -------
        ndarray
            f for each sequence, float64, shape ``(N,)`` (non-finite values kept).
        """
        raw = _as_numpy(call_model(self, batch))
        if raw is None or isinstance(raw, str):  # no outputs
            raise ModelOutputError(
                f"model {self.name!r} returned a {type(raw).__name__} for a batch of "
                f"{len(batch)} sequences; a model callable returns a numeric array with "
                f"{len(batch)} rows (or several, a tuple or dict, picked by Output(head=...))"
            )
        if self.outputs is None:
            return self._functional(self.output, raw, batch)
        who = f"model {self.name!r}"
        return np.column_stack([
            f.profile(raw, who) if isinstance(f, ShapeChange) else self._functional(f, raw, batch)
            for f in self.outputs.functionals
        ])  # fmt: skip

    @property
    def output_shape(self) -> tuple[int, ...]:
        """Shape of f for one sequence: ``()``, or ``(T,)`` for T declared outputs."""
        return () if self.outputs is None else (len(self.outputs),)

    @property
    def feature_shape(self) -> tuple[int, ...]:
        """Shape of one sequence's forward result: :attr:`output_shape`, except that a
        :class:`~causalgia.engine.outputs.ShapeChange` output takes its window's profile."""
        if self.outputs is None:
            return ()
        widths = [getattr(f, "width", 1) for f in self.outputs.functionals]
        return (sum(widths),)

    def _functional(self, output: Output, raw: Any, batch: np.ndarray) -> np.ndarray:
        """One output functional of a batch's raw outputs, checked, shape ``(N,)``."""
        picked, counts = output._select(raw, f"model {self.name!r}")
        head = output.head
        arr = self._rows(picked, batch, "" if head is None else f" as head {head!r}")
        if counts is None:
            return output._functional(arr.astype(np.float64, copy=False))
        counts = self._rows(counts, batch, f" as counts_head {output.counts_head!r}")
        return output._functional(
            arr.astype(np.float64, copy=False), counts.astype(np.float64, copy=False)
        )

    def _rows(self, raw: Any, batch: np.ndarray, where: str) -> np.ndarray:
        """``raw`` as a numeric array with one row per sequence of the batch, or an error."""
        try:
            arr = np.asarray(raw)
        except Exception as err:  # pragma: no cover - exotic return types
            raise ModelOutputError(f"model {self.name!r} returned {type(raw).__name__}") from err
        if arr.dtype.kind not in "fiub" or arr.ndim == 0 or arr.shape[0] != len(batch):
            raise ModelOutputError(
                f"model {self.name!r} returned {arr.dtype} of shape {arr.shape}{where} for a "
                f"batch of {len(batch)} sequences; expected a numeric array with {len(batch)} rows"
            )
        return arr

    def predict(self, codes: np.ndarray, *, batch_size: int | None = None) -> np.ndarray:
        """f for every row of codes ``(N, L)``, in batches; non-finite values raise.

        The error is a :class:`~causalgia.errors.ModelOutputError` whose ``rows`` attribute holds
        the offending row indices (the simulator maps them to background ids and arms).

        Parameters
        ----------
        codes : ndarray
            Integer-coded sequences, uint8 ``(N, L)``.
        batch_size : int, optional
            Sequences per forward pass (default: the model's ``batch_size``).

        Returns
        -------
        ndarray
            f for each row, float64, shape ``(N,)`` (``(N, T)`` with T declared outputs).

        Examples
        --------
        >>> from causalgia.sequences.alphabet import encode
        >>> m = wrap_callable(lambda x: x[:, 0, :].sum(axis=1), layout="NCL")
        >>> m.predict(encode(["AACG", "CCCC"])).tolist()
        [2.0, 0.0]
        """
        out = self._scores(codes, batch_size)
        bad = np.flatnonzero(~np.isfinite(out.reshape(len(out), -1)).all(axis=1))
        if bad.size:
            err = ModelOutputError(
                f"model {self.name!r} returned non-finite f for {bad.size} row(s), first rows "
                f"{bad[:5].tolist()} (values {out[bad[:5]].tolist()})"
            )
            err.rows = bad
            raise err
        return out

    def _scores(self, codes: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """f for every row of codes, in batches, non-finite values kept."""
        size = (
            self.batch_size
            if batch_size is None
            else check_int("batch_size", batch_size, minimum=1)
        )
        codes = np.asarray(codes)
        out = np.empty((len(codes), *self.feature_shape), dtype=np.float64)
        for start in range(0, len(codes), size):
            batch = one_hot(codes[start : start + size], self.layout, n_value=self.n_value)
            out[start : start + size] = self.forward(batch)
        return out

    def fingerprint(self, length: int) -> str:
        """The fingerprint string at ``length``: :attr:`ModelProbe.digest` of :meth:`probe`.

        A changed weight, layout, output functional or N value changes the fingerprint. It is
        computed once per model object and length.

        Parameters
        ----------
        length : int
            Length of the probe sequences.

        Returns
        -------
        str
            16 hex digits.

        Examples
        --------
        >>> m = wrap_callable(lambda x: x[:, 0, :].sum(axis=1), layout="NCL")
        >>> len(m.fingerprint(8)), m.fingerprint(8) == m.probe(8).digest
        (16, True)
        """
        return self.probe(length).digest

    def probe(self, length: int) -> ModelProbe:
        """The model's :class:`ModelProbe` at ``length`` (computed once per object and length).

        Non-finite outputs on the probes are kept as values, never raised.

        Parameters
        ----------
        length : int
            Length of the probe sequences.

        Returns
        -------
        ModelProbe

        Examples
        --------
        >>> m = wrap_callable(lambda x: x[:, 0, :].sum(axis=1), layout="NCL")
        >>> m.probe(8).outputs.shape
        (16,)
        """
        cached = _PROBES.setdefault(self, {})
        if length not in cached:
            cached[length] = self._probe(length)
        return cached[length]

    def _probe(self, length: int) -> ModelProbe:
        keys = unit_keys(0, np.arange(PROBE_COUNT), "fingerprint")
        probe = np.floor(uniforms(keys, length) * 4).astype(np.uint8)
        values = _probe_outputs(self._scores(probe).reshape(-1))  # outputs side by side
        fields: tuple[Any, ...] = (
            self.name, self.layout, self.alphabet.name, self.output, self.n_value
        )  # fmt: skip
        if self.also_accepts is not None:  # only when declared: other fingerprints unchanged
            fields += (("also_accepts", self.also_accepts.name),)
        if self.outputs is not None:
            fields += (("outputs", repr(self.outputs)),)
        declared = repr(fields)
        h = hashlib.sha256(declared.encode())
        declaration = h.hexdigest()[:16]
        h.update(np.ascontiguousarray(values).tobytes())
        return ModelProbe(h.hexdigest()[:16], declaration, values)


def _as_numpy(raw: Any) -> Any:
    """Tensors (anything with ``detach``) as numpy, also inside a tuple, list or dict."""
    if hasattr(raw, "detach"):
        return raw.detach().cpu().numpy()
    if isinstance(raw, Mapping):
        return {key: _as_numpy(value) for key, value in raw.items()}
    if isinstance(raw, list):
        return [_as_numpy(value) for value in raw]
    if isinstance(raw, tuple):  # a named tuple too
        return tuple(_as_numpy(value) for value in raw)
    return raw


def describe_input(batch: Any, layout: str, alphabet: Alphabet) -> str:
    """What a model was given, in words: dtype, shape and what the axes of the layout mean.

    Examples
    --------
    >>> from causalgia.sequences.alphabet import DNA
    >>> describe_input(np.zeros((2, 4, 10), np.float32), "NCL", DNA)[-44:]
    "layout 'NCL' (sequences, A/C/G/T, positions)"
    """
    channels = "/".join(alphabet.letters)
    ncl = layout == "NCL"
    axes = f"sequences, {channels}, positions" if ncl else f"sequences, positions, {channels}"
    shape = tuple(getattr(batch, "shape", ()))
    dtype = getattr(batch, "dtype", type(batch).__name__)
    return f"a {dtype} one-hot batch of shape {shape}, layout {layout!r} ({axes})"


def call_model(model: Model, batch: Any) -> Any:
    """``model.fn(batch)``, with what the model's own code raises made a causalgia error.

    An exception of the model (not a causalgia error) becomes a
    :class:`~causalgia.errors.ModelCallError` naming the model, the exception and the input
    (:func:`describe_input`), chained to the original. ``sys.exit`` in the model's code becomes
    one too: it must not end a run quietly, with exit status 0. ``KeyboardInterrupt`` passes.

    Examples
    --------
    >>> m = wrap_callable(lambda x: 1 / 0, layout="NCL", name="broken")
    >>> call_model(m, np.zeros((1, 4, 3), np.float32))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    causalgia.errors.ModelCallError: model 'broken' raised ZeroDivisionError: division by zero ...
    """
    try:
        return model.fn(batch)
    except CausalgiaError:
        raise
    except SystemExit as err:
        raise ModelCallError(
            f"model {model.name!r} called sys.exit({err.code!r}) when given "
            f"{describe_input(batch, model.layout, model.alphabet)}; a model must return its "
            "outputs or raise an exception, never exit the process"
        ) from None
    except Exception as err:
        raise ModelCallError(
            f"model {model.name!r} raised {type(err).__name__}: {err} (given "
            f"{describe_input(batch, model.layout, model.alphabet)})"
        ) from err


def task_names_of(fn: Any) -> tuple[str, ...] | None:
    """The ``task_names`` attribute of a model (or of the network an adapter wraps), or None.

    Parameters
    ----------
    fn : object
        A model callable, or an adapter (its ``module`` or ``model`` is looked at too).

    Returns
    -------
    tuple of str or None
        The names, when declared.
    """
    for obj in (fn, getattr(fn, "module", None), getattr(fn, "model", None)):
        names = getattr(obj, "task_names", None)
        if names is not None and not isinstance(names, str):
            return tuple(names)
    return None


def _task_names(fn: Any, task: str) -> tuple[str, ...]:
    """:func:`task_names_of` ``fn``, or an error naming the task that needs them."""
    names = task_names_of(fn)
    if names is not None:
        return names
    raise OptionError(
        f"output task={task!r} needs the task names: declare Output(task_names=[...]) or give "
        "the model a task_names attribute"
    )


def wrap_callable(
    fn: Callable[[np.ndarray], Any],
    *,
    layout: Layout | None = None,
    alphabet: str | Alphabet | None = None,
    output: int | Mapping[str, Any] | Output | None = None,
    batch_size: int | None = None,
    name: str | None = None,
    n_value: float = 0.0,
    length: int | None = None,
) -> Model:
    """A :class:`Model` of a plain callable (float32 one-hot in, array out).

    The declaration is taken from the arguments, else from the callable's own ``layout``,
    ``alphabet``, ``output``, ``name`` and ``length`` attributes; the layout is never guessed.
    An output that picks a task by name takes the names from a ``task_names`` attribute when
    it declares none.
    Use :func:`causalgia.engine.as_model`, which also takes torch modules and ONNX sessions.

    Parameters
    ----------
    fn : callable
        From a float32 one-hot array to outputs.
    layout, alphabet, output, batch_size, name, n_value, length
        As in :func:`~causalgia.engine.as_model` (a declared batch size turns off the automatic
        choice; without one the batch size is 256 until the simulator probes).

    Returns
    -------
    Model

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
    if out.task is not None and out.task_names is None:
        out = replace(out, task_names=_task_names(fn, out.task))
    label = name or getattr(fn, "name", None) or getattr(fn, "__qualname__", type(fn).__name__)
    size = DEFAULT_BATCH_SIZE if batch_size is None else batch_size
    declared = length if length is not None else getattr(fn, "length", None)
    integer = isinstance(declared, int | np.integer) and not isinstance(declared, bool)
    if length is None and not integer:
        declared = None  # an attribute of another meaning declares nothing
    return Model(
        fn,
        layout,
        alph,
        out,
        check_int("batch_size", size, minimum=1),
        str(label),
        float(n_value),
        auto_batch=batch_size is None,
        length=None if declared is None else check_int("length", declared, minimum=1),
    )
