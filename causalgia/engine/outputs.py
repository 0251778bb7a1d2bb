"""The output functional f: how raw model outputs of one batch become one number per sequence.

An :class:`Output` picks one output of a model that returns several (``head``: BPNet's profile
logits and log counts), a task by index or by name, reduces a profile over a window (sums,
means and maxima, or the BPNet functionals of :mod:`causalgia.engine.profiles`: the share of
the predicted profile and the expected counts in a window) and transforms the result. Its
``repr`` is the declaration that model fingerprints hash (:class:`~causalgia.engine.ModelProbe`).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from .._options import check_int, check_option
from ..errors import ModelOutputError, OptionError
from .profiles import check_window, expected_counts, js_distance, profile_probability

Transform = Literal["identity", "log", "logit", "sigmoid", "exp"]
Reduce = Literal["none", "sum", "mean", "max", "probability", "expected_counts"]
_REDUCES: tuple[str, ...] = ("none", "sum", "mean", "max", "probability", "expected_counts")
_PROFILE_REDUCES = ("probability", "expected_counts")
_OUTPUT_FIELDS = ("index", "transform", "reduce", "window")  # the declaration of old releases
OUTPUT_KEYS: tuple[str, ...] = (
    *_OUTPUT_FIELDS,
    "head",
    "counts_head",
    "task",
    "task_names",
)
"""The fields of :class:`Output`, in order (the keys a mapping or a spec table may give)."""
_TRANSFORMS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "identity": lambda v: v,
    "log": np.log,
    "logit": lambda v: np.log(v) - np.log1p(-v),
    "sigmoid": lambda v: 1.0 / (1.0 + np.exp(-v)),
    "exp": np.exp,
}


@dataclass(frozen=True, repr=False)
class Output:
    """The declared output functional f: pick a head, select a task, reduce, transform.

    Applied in this order to the raw outputs of one batch of N sequences:

    1. ``head`` picks one output of a model that returns several: an int indexes a tuple or
       list, a str keys a dict (a model returning several outputs without a declared head is
       an error naming them). BPNet/ChromBPNet return ``(profile_logits, log_counts)``:
       ``head=0`` is the profile ``(N, strands, positions)``, ``head=1`` the log counts
       ``(N, 1)``.
    2. ``index`` picks a task on axis 1 of outputs ``(N, T, ...)``; or ``task`` picks it by
       name from ``task_names`` (declared here or as a ``task_names`` attribute of the model;
       an unknown name is an error listing the close ones).
    3. ``reduce`` maps a profile to one number over ``window``, the half-open
       ``[start, stop)`` on the profile axis (the last axis; all positions when None; a window
       past the profile's end is a :class:`~causalgia.errors.ModelOutputError`, never
       clipped):

       - ``"sum"``, ``"mean"``, ``"max"`` of a profile ``(N, P)``. **The sum of profile logits
         is rarely what is meant**: logits are unnormalised (any constant can be added to all
         of them), so for BPNet-like profiles use ``"probability"`` or ``"expected_counts"``.
       - ``"probability"``: the share of the predicted profile in ``window``, the softmax of
         the logits jointly over strands and positions summed over the strands and the window
         (:func:`~causalgia.engine.profiles.profile_probability`); needs a window.
       - ``"expected_counts"``: the predicted counts in ``window``, that share times
         ``exp(log counts)`` (:func:`~causalgia.engine.profiles.expected_counts`); ``head``
         picks the profile logits and ``counts_head`` the natural-log counts. With
         ``transform="log"`` the ICE is the predicted log fold change of the window's counts.

       The profile reductions read the profile ``(N, strands, positions)`` or
       ``(N, positions)`` as it is (no ``index`` or ``task``).
    4. ``transform`` (identity, log, logit, sigmoid, exp) is applied to the result.

    The count head of a BPNet is ``Output(head=1)`` (natural-log counts, as they are). The
    ``repr`` lists the fields of earlier releases always and the others only when declared, so
    the fingerprints of models declared before these fields existed are unchanged.

    Examples
    --------
    >>> Output(index=1, transform="log").apply(np.array([[1.0, np.e]]))
    array([1.])
    >>> logits = np.log([[[1.0, 3.0], [2.0, 2.0]]])  # 1 sequence, 2 strands, 2 positions
    >>> f = Output(head=0, counts_head=1, reduce="expected_counts", window=(1, 2))
    >>> f.apply((logits, np.log([[80.0]]))).round(6).tolist()  # 80 * (3/8 + 2/8)
    [50.0]
    >>> Output(index=2)
    Output(index=2, transform='identity', reduce='none', window=None)
    """

    index: int | None = None
    transform: Transform = "identity"
    reduce: Reduce = "none"
    window: tuple[int, int] | None = None
    head: int | str | None = None
    counts_head: int | str | None = None
    task: str | None = None
    task_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.index is not None:
            check_int("output index", self.index, minimum=0)
        check_option("output transform", self.transform, tuple(_TRANSFORMS))
        check_option("output reduce", self.reduce, _REDUCES)
        for key in ("head", "counts_head"):
            value = getattr(self, key)
            if value is not None and not isinstance(value, str):
                object.__setattr__(self, key, check_int(f"output {key}", value, minimum=0))
        if self.window is not None:
            if self.reduce == "none":
                raise OptionError(
                    "output window needs a reduce ('sum', 'mean', 'max', 'probability' or "
                    "'expected_counts')"
                )
            window = tuple(self.window)
            if len(window) != 2:
                raise OptionError(f"output window {window!r} must be (start, stop)")
            start, stop = (check_int("output window", w) for w in window)
            if start < 0 or stop <= start:
                raise OptionError(
                    f"output window [{start}, {stop}) must be (start, stop) with "
                    "0 <= start < stop (half-open, on the profile axis)"
                )
            object.__setattr__(self, "window", (start, stop))
        self._check_profile_reduce()
        self._check_task()

    def _check_profile_reduce(self) -> None:
        if self.reduce == "probability" and self.window is None:
            raise OptionError(
                "output reduce='probability' needs a window: over the whole profile the share "
                "is 1 for every sequence"
            )
        if self.reduce == "expected_counts":
            if self.head is None or self.counts_head is None or self.head == self.counts_head:
                raise OptionError(
                    "output reduce='expected_counts' needs head= (the profile logits) and "
                    "counts_head= (the log counts), two outputs of the model, e.g. "
                    "Output(head=0, counts_head=1, reduce='expected_counts') for BPNet"
                )
        elif self.counts_head is not None:
            raise OptionError("output counts_head is only used by reduce='expected_counts'")
        if self.reduce in _PROFILE_REDUCES and (self.index is not None or self.task is not None):
            raise OptionError(
                f"output reduce={self.reduce!r} reads the whole profile (N, strands, positions):"
                " axis 1 holds strands, not tasks, so index and task are not used; pick a "
                "task's outputs with head="
            )

    def _check_task(self) -> None:
        if self.task_names is not None:
            names = tuple(self.task_names)
            if not names or not all(isinstance(n, str) for n in names):
                raise OptionError(f"output task_names must be a list of str, got {names!r}")
            if len(set(names)) != len(names):
                twice = sorted({n for n in names if names.count(n) > 1})
                raise OptionError(f"output task_names repeat {twice}")
            object.__setattr__(self, "task_names", names)
        if self.task is None:
            return
        if not isinstance(self.task, str) or not self.task:
            raise OptionError(f"output task must be a task name (str), got {self.task!r}")
        if self.index is not None:
            raise OptionError("declare output index or task, not both")
        if self.task_names is not None and self.task not in self.task_names:
            raise OptionError(_unknown_task(self.task, self.task_names))

    def __repr__(self) -> str:
        """The declaration: the four first fields always, the later ones when declared."""
        shown = [
            f"{key}={getattr(self, key)!r}"
            for key in OUTPUT_KEYS
            if key in _OUTPUT_FIELDS or getattr(self, key) is not None
        ]
        return f"Output({', '.join(shown)})"

    def apply(self, raw: Any) -> np.ndarray:
        """Map raw model outputs of one batch to f, shape ``(N,)``.

        Parameters
        ----------
        raw : array_like, tuple, list or dict
            The model's outputs for a batch of N sequences: one array ``(N, ...)``, or several
            (a tuple or list of arrays, or a dict of them) from which ``head`` picks.

        Returns
        -------
        ndarray
            f for each sequence, float64, shape ``(N,)``.
        """
        picked, counts = self._select(raw, "the model")
        arrays = np.asarray(picked, dtype=np.float64), None
        if counts is not None:
            arrays = arrays[0], np.asarray(counts, dtype=np.float64)
        return self._functional(*arrays)

    def _select(self, raw: Any, who: str) -> tuple[Any, Any]:
        """The output ``head`` picks (the whole output without a head) and the count head."""
        if not _several(raw, self.head):
            if self.head is not None:
                raise ModelOutputError(
                    f"output head={self.head!r} is declared but {who} returned one array of "
                    f"shape {np.shape(raw)}, not a tuple, list or dict of outputs (declare the "
                    "head once: torch_model(head=) has already picked one)"
                )
            return raw, None
        if self.head is None:
            raise ModelOutputError(
                f"{who} returned {_describe(raw)}; declare output=Output(head=...) to pick one "
                "(an index of a tuple or list, a key of a dict)"
            )
        picked = _element(raw, self.head, "head", who)
        if self.counts_head is None:
            return picked, None
        return picked, _element(raw, self.counts_head, "counts_head", who)

    def _functional(self, out: np.ndarray, counts: np.ndarray | None = None) -> np.ndarray:
        """f from the picked output (and the log counts for ``expected_counts``)."""
        shape = out.shape
        if self.index is not None or self.task is not None:
            out = out[:, self._column(out)]
        if self.reduce in ("sum", "mean", "max"):
            if out.ndim != 2:
                raise ModelOutputError(
                    f"reduce={self.reduce!r} needs a profile of shape (N, P), got {out.shape}"
                )
            start, stop = check_window(self.window, out.shape[1])
            out = getattr(np, self.reduce)(out[:, start:stop], axis=1)
        elif self.reduce == "probability":
            probs = profile_probability(out, strands="sum")
            start, stop = check_window(self.window, probs.shape[1])
            out = probs[:, start:stop].sum(axis=1)
        elif self.reduce == "expected_counts":
            out = expected_counts(out, counts, self.window)
        if out.ndim == 2 and out.shape[1] == 1:
            out = out[:, 0]
        if out.ndim != 1:
            raise ModelOutputError(
                f"model output has shape {shape}; declare output=Output(index=..., "
                "reduce=...) so that f is one number per sequence"
            )
        with np.errstate(all="ignore"):
            return _TRANSFORMS[self.transform](out)

    def _column(self, out: np.ndarray) -> int:
        """The task column on axis 1: ``index``, or ``task`` looked up in ``task_names``."""
        if self.task is None:
            assert self.index is not None
            if out.ndim < 2 or self.index >= out.shape[1]:
                got = out.shape
                raise ModelOutputError(
                    f"output index {self.index} requested but the model returned shape {got}"
                )
            return self.index
        if self.task_names is None:
            raise ModelOutputError(
                f"output task={self.task!r} needs the task names: declare "
                "Output(task_names=[...]) or give the model a task_names attribute"
            )
        if out.ndim < 2 or out.shape[1] != len(self.task_names):
            raise ModelOutputError(
                f"output task_names has {len(self.task_names)} names but the model returned "
                f"shape {out.shape}: axis 1 must hold one task per name"
            )
        return self.task_names.index(self.task)


def _unknown_task(task: str, names: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(task, names, n=5, cutoff=0.6)
    if not close:  # case or punctuation differs: compare folded names
        folded = {n.casefold(): n for n in names}
        close = [folded[n] for n in difflib.get_close_matches(task.casefold(), folded, n=5)]
    hint = f"close names: {close}" if close else f"the first names are {list(names[:8])}"
    return f"output task {task!r} is not one of the {len(names)} task names; {hint}"


def _several(raw: Any, head: int | str | None) -> bool:
    """Whether ``raw`` holds several outputs (a tuple or dict; a list of arrays, or with a head).

    A list of numbers, or of per-sequence rows, is one output (an array), as before heads.
    """
    if isinstance(raw, tuple | Mapping):
        return True
    if isinstance(raw, list):
        return head is not None or any(len(getattr(item, "shape", ())) >= 1 for item in raw)
    return False


def _describe(raw: tuple[Any, ...] | list[Any] | Mapping[Any, Any]) -> str:
    """``a tuple of 2 outputs with shapes (5, 2, 1000), (5, 1)`` (dicts by key)."""
    kind = type(raw).__name__
    if isinstance(raw, Mapping):
        parts = [f"{key!r} {np.shape(value)}" for key, value in raw.items()]
        return f"a {kind} of {len(raw)} outputs: " + ", ".join(parts)
    shapes = ", ".join(str(np.shape(value)) for value in raw)
    return f"a {kind} of {len(raw)} outputs with shapes {shapes}"


def _element(raw: Any, head: int | str, key: str, who: str) -> Any:
    """The output ``head`` names in a tuple, list or dict, or an error that lists them."""
    if isinstance(raw, Mapping):
        if head not in raw:
            keys = list(raw)
            close = difflib.get_close_matches(str(head), [str(k) for k in keys], n=3)
            hint = f" (close: {close})" if close else ""
            raise ModelOutputError(
                f"output {key}={head!r} is not a key of the dict {who} returned; its keys are "
                f"{keys}{hint}"
            )
        return raw[head]
    if isinstance(head, str):
        raise ModelOutputError(
            f"output {key}={head!r} names a dict key, but {who} returned {_describe(raw)}: "
            f"declare an index 0..{len(raw) - 1}"
        )
    if head >= len(raw):
        raise ModelOutputError(
            f"output {key}={head} is past the end: {who} returned {_describe(raw)}"
        )
    return raw[head]


def as_output(output: int | Mapping[str, Any] | Output | None) -> Output:
    """Normalise an output declaration: None, a task index, a mapping, or an Output.

    Parameters
    ----------
    output : int, mapping, Output or None
        A task index, a mapping of :class:`Output` fields (:data:`OUTPUT_KEYS`), an Output, or
        None for the identity.

    Returns
    -------
    Output

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
        unknown = set(output) - set(OUTPUT_KEYS)
        if unknown:
            raise OptionError(
                f"unknown output keys {sorted(unknown)}; allowed: {', '.join(OUTPUT_KEYS)}"
            )
        values = dict(output)
        if values.get("task_names") is not None:
            values["task_names"] = tuple(values["task_names"])
        return Output(**values)
    return Output(index=check_int("output", output, minimum=0))


@dataclass(frozen=True)
class OutputSet:
    """Several named output functionals of one model, all computed from one forward pass.

    A model declared with ``as_model(..., outputs=...)`` returns one column per functional, and
    :func:`~causalgia.engine.simulate` stores them side by side, so T outputs cost the forward
    passes of one; the unit table gets an ``output`` column (docs/formats.md).

    Parameters
    ----------
    names : tuple of str
        One unique, non-empty name per functional.
    functionals : tuple of Output
        The functionals, in the order of ``names``.

    Examples
    --------
    >>> OutputSet(("a", "b"), (Output(index=0), Output(index=1))).names
    ('a', 'b')
    """

    names: tuple[str, ...]
    functionals: tuple[Output | ShapeChange, ...]

    def __post_init__(self) -> None:
        if len(self.names) != len(self.functionals) or not self.names:
            raise OptionError("outputs: give one or more names, one per output functional")
        bad = [n for n in self.names if not isinstance(n, str) or not n]
        if bad:
            raise OptionError(f"output names must be non-empty strings, got {bad[0]!r}")
        twice = sorted({n for n in self.names if self.names.count(n) > 1})
        if twice:
            raise OptionError(f"output names must be unique; {twice} appear more than once")

    def __len__(self) -> int:
        return len(self.names)

    @property
    def pairs(self) -> bool:
        """Whether some output compares each edited sequence with its control
        (:class:`ShapeChange`)."""
        return any(isinstance(f, ShapeChange) for f in self.functionals)

    def __repr__(self) -> str:
        pairs = zip(self.names, self.functionals, strict=True)
        return "OutputSet({" + ", ".join(f"{n!r}: {f!r}" for n, f in pairs) + "})"


def as_outputs(
    outputs: Mapping[str, Any] | Sequence[Any] | str | OutputSet,
    task_names: Sequence[str] | None = None,
) -> OutputSet:
    """Normalise a declaration of several outputs.

    Parameters
    ----------
    outputs : mapping, sequence, "tasks" or OutputSet
        ``{name: Output, ShapeChange, int or mapping}`` (a mapping with ``reduce =
        "shape_change"`` is a :class:`ShapeChange`); a sequence of those (named by their task,
        else ``"output_0"``, ``"output_1"``, ...); or ``"tasks"``: every column of an
        ``(N, T)`` output, named by ``task_names``.
    task_names : sequence of str, optional
        The model's task names (for ``"tasks"`` and for outputs that pick a task by name).

    Returns
    -------
    OutputSet

    Examples
    --------
    >>> as_outputs("tasks", ["HepG2", "K562"]).names
    ('HepG2', 'K562')
    >>> as_outputs({"counts": {"head": 1}}).functionals[0].head
    1
    """
    if isinstance(outputs, OutputSet):
        return outputs
    names_given = None if task_names is None else tuple(str(t) for t in task_names)
    if isinstance(outputs, str):
        if outputs != "tasks":
            raise OptionError(f"outputs={outputs!r}: give a mapping, a list, or 'tasks'")
        if not names_given:
            raise OptionError(
                "outputs='tasks' needs the task names: as_model(..., task_names=[...]) or a "
                "task_names attribute on the model"
            )
        return OutputSet(names_given, tuple(Output(index=i) for i in range(len(names_given))))
    if isinstance(outputs, Mapping):
        pairs = [(str(k), _functional(v)) for k, v in outputs.items()]
    else:
        items = [_functional(v) for v in outputs]
        pairs = [(getattr(f, "task", None) or f"output_{i}", f) for i, f in enumerate(items)]
    if names_given is not None:
        pairs = [
            (n, _with_names(f, names_given) if getattr(f, "task", None) and not f.task_names
             else f)
            for n, f in pairs
        ]  # fmt: skip
    return OutputSet(tuple(n for n, _ in pairs), tuple(f for _, f in pairs))


def _functional(value: Any) -> Output | ShapeChange:
    """One declared output: an Output, a ShapeChange, a task index or a mapping of fields
    (``reduce = "shape_change"`` with ``head`` and ``window`` declares a ShapeChange)."""
    if isinstance(value, ShapeChange):
        return value
    if isinstance(value, Mapping) and value.get("reduce") == "shape_change":
        unknown = set(value) - {"reduce", "head", "window"}
        if unknown:
            raise OptionError(f"a shape_change output takes head and window, not {sorted(unknown)}")
        return ShapeChange(head=value.get("head"), window=value.get("window"))
    return as_output(value)


def _with_names(output: Output, names: tuple[str, ...]) -> Output:
    return replace(output, task_names=names)


@dataclass(frozen=True)
class ShapeChange:
    """The change of a profile's shape: Jensen-Shannon distance between do and control.

    A per-background ICE, not a difference of two functionals: for background x and arm a,
    ``ICE = JS(p(do_a(x)), p(x))``, the base-2 Jensen-Shannon distance
    (:func:`~causalgia.engine.profiles.js_distance`) between the profile probabilities of the
    edited and the control sequence, both restricted to ``window`` and renormalised. The profile
    is :func:`~causalgia.engine.profiles.profile_probability` of the picked head's logits
    (``(N, strands, positions)`` or ``(N, positions)``): one softmax jointly over strands and
    positions, strands summed (``strands="sum"``). Each forward pass gives the window's profile
    of every sequence, and :func:`~causalgia.engine.simulate` pairs every edited sequence with its
    own background's control; in the unit table ``y_control`` is 0 and ``y_do`` the distance.

    Parameters
    ----------
    head : int or str, optional
        The profile-logits head of a tuple, list or dict output (None: the whole output).
    window : (int, int)
        Half-open positions of the profile compared; required (it fixes the profile's width).

    Examples
    --------
    >>> ShapeChange(head=0, window=(400, 600)).width
    200
    """

    head: int | str | None = None
    window: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.window is None:
            raise OptionError("ShapeChange needs window=(start, stop) on the profile")
        start, stop = (check_int("window start", w, minimum=0) for w in self.window)
        if stop <= start:
            raise OptionError(f"ShapeChange window {self.window}: stop must exceed start")
        object.__setattr__(self, "window", (start, stop))

    @property
    def width(self) -> int:
        """Positions compared (the window's length)."""
        start, stop = self.window  # type: ignore[misc]
        return stop - start

    def profile(self, raw: Any, who: str) -> np.ndarray:
        """The window's profile probabilities of each sequence of a batch, ``(N, width)``.

        Parameters
        ----------
        raw : array, tuple, list or dict
            What the model returned for a batch.
        who : str
            Names the model in errors.

        Returns
        -------
        ndarray
            Strand-summed profile probabilities in the window (not renormalised).
        """
        picked, _ = Output(head=self.head)._select(raw, who)
        probs = profile_probability(np.asarray(picked, dtype=np.float64), strands="sum")
        start, stop = check_window(self.window, probs.shape[1])
        return probs[:, start:stop]


def pair_profiles(
    outputs: Sequence[Output | ShapeChange], features: np.ndarray, n: int, unit_of: np.ndarray
) -> np.ndarray:
    """Per-sequence values of a chunk from its forward features: ShapeChange outputs paired.

    ``features`` holds, for the ``n`` controls and then the edited sequences, each output's
    columns side by side (one for an Output, ``width`` for a ShapeChange); ``unit_of[k]`` is the
    control row of edited sequence k. A ShapeChange column becomes 0 for the controls and the
    distance to the own control for the edited sequences.

    Parameters
    ----------
    outputs : sequence of Output or ShapeChange
        The functionals, in column order.
    features : ndarray
        ``(S, W)`` forward features of the chunk's sequences.
    n : int
        Number of controls (the first rows).
    unit_of : ndarray of int
        Control row of each edited sequence.

    Returns
    -------
    ndarray
        ``(S, T)`` values, one column per output.

    Examples
    --------
    >>> feats = np.array([[1.0, 0.5, 0.5], [2.0, 1.0, 0.0]])  # a control, then its edit
    >>> pair_profiles([Output(), ShapeChange(window=(0, 2))], feats, 1, np.array([0]))
    array([[1.        , 0.        ],
           [2.        , 0.55792305]])
    """
    columns, start = [], 0
    for out in outputs:
        if isinstance(out, ShapeChange):
            block = features[:, start : start + out.width]
            column = np.zeros(len(features))
            column[n:] = js_distance(block[n:], block[:n][unit_of])
            start += out.width
        else:
            column = features[:, start]
            start += 1
        columns.append(column)
    return np.column_stack(columns)
