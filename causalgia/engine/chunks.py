"""Evaluating one chunk of a design: generate its backgrounds, apply the arms, score the model.

A chunk is the unit of work of :func:`~causalgia.engine.simulate`, of the run store and of the
Dask runner: its outputs depend only on (design seed, background ids), never on the batch size,
the chunk size or the worker.

With a timeout, every forward pass runs in a :class:`ForwardTimer`'s worker thread and the
caller waits at most that long for it. A Python thread cannot be killed: a call that overruns is
abandoned, not stopped, and may go on in the background (a daemon thread, so it never keeps the
process alive) while the run stops with a :class:`~causalgia.errors.SimulationError`. Without a
timeout no thread is involved.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ModelCallError, ModelOutputError, OptionError, SimulationError
from ..experiment.designs import Design, FixedGroup, arm_keys
from ..sequences.alphabet import one_hot
from .models import Model
from .outputs import pair_profiles
from .store import ChunkRecord, ForwardCache
from .store import sequence_digests as _digests

PROBE_SIZES = (32, 64, 128, 256, 512, 1024)


_PROBE_WARMUP = 8


@dataclass(frozen=True)
class ChunkResult:
    """What evaluating one chunk gives: the ledger record plus retry messages and the probe.

    ``edited`` counts the units of the chunk whose sequence an arm changed (paired designs) or
    that were treated (randomized designs), ``moved`` those whose model output differs from
    their control's (paired) or from the chunk's first output (randomized): ``moved == 0 <
    edited`` means no intervention changed the output (a degenerate study).
    """

    record: ChunkRecord
    log: tuple[str, ...] = ()
    probe: tuple[int, dict[int, float]] | None = None
    edited: int = 0
    moved: int = 0


class ForwardTimer:
    """Calls a function in a worker thread and waits at most ``timeout`` seconds for it.

    The worker is one daemon thread, started on the first call and reused, so a call costs a
    queue hand-off rather than a new thread. A call that overruns raises
    :class:`~causalgia.errors.SimulationError` naming ``where`` and the timeout; the worker is
    abandoned (it cannot be killed and may finish the call in the background) and the next
    call starts a fresh one. An exception raised by the function, ``KeyboardInterrupt``
    included, is raised again in the caller.

    Examples
    --------
    >>> timer = ForwardTimer(5.0)
    >>> timer.call(sum, [1, 2, 3], where="batch 0")
    6
    >>> timer.close()
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = check_timeout(timeout)
        self._jobs: queue.SimpleQueue[Any] | None = None

    def call(self, fn: Callable[..., Any], *args: Any, where: str) -> Any:
        """``fn(*args)`` in the worker thread; at most ``timeout`` seconds."""
        if self._jobs is None:
            self._jobs = queue.SimpleQueue()
            worker = threading.Thread(
                target=_work, args=(self._jobs,), name="causalgia-forward", daemon=True
            )
            worker.start()
        future: Future[Any] = Future()
        self._jobs.put((fn, args, future))
        try:
            return future.result(timeout=self.timeout)
        except FutureTimeout:
            self._jobs = None  # abandon the stuck worker; it exits if the call ever returns
            raise SimulationError(
                f"{where}: the model did not return within the timeout of {self.timeout:g} s; "
                "the run stops (the call cannot be killed and may go on in the background "
                "until the process exits)"
            ) from None

    def close(self) -> None:
        """Let the worker thread exit."""
        if self._jobs is not None:
            self._jobs.put(None)
            self._jobs = None


def check_timeout(timeout: Any) -> float:
    """``timeout`` as a float number of seconds > 0, else an OptionError naming it.

    Examples
    --------
    >>> check_timeout(2)
    2.0
    """
    ok = isinstance(timeout, int | float | np.integer | np.floating)
    if isinstance(timeout, bool) or not ok or not np.isfinite(timeout) or timeout <= 0:
        raise OptionError(f"timeout must be a number of seconds > 0 (or None), got {timeout!r}")
    return float(timeout)


def _work(jobs: queue.SimpleQueue[Any]) -> None:
    """The worker loop of a :class:`ForwardTimer`: run jobs until told to stop or abandoned."""
    while True:
        job = jobs.get()
        if job is None:
            return
        fn, args, future = job
        if not future.set_running_or_notify_cancel():
            continue
        try:
            future.set_result(fn(*args))
        except BaseException as err:  # KeyboardInterrupt too: the caller re-raises it
            future.set_exception(err)


def chunk_ranges(n: int, size: int) -> list[np.ndarray]:
    return [np.arange(a, min(a + size, n), dtype=np.int64) for a in range(0, n, size)]


def backgrounds_per_chunk(design: Design, chunk_size: int) -> int:
    """Backgrounds per chunk, so that a chunk holds about ``chunk_size`` sequences."""
    return max(1, chunk_size // (len(design.arms) + 1)) if design.kind == "paired" else chunk_size


# ------------------------------------------------------------------------------------------
# applying the arms of a paired design
# ------------------------------------------------------------------------------------------
def _fixed_changed(group: FixedGroup, bg: np.ndarray) -> np.ndarray:
    """(arms of the group, backgrounds): whether the group's writes change the background."""
    diff = np.zeros((len(group.arms), len(bg)), dtype=bool)
    rows = np.arange(len(group.arms))
    for window in range(len(group.widths)):
        now = bg[:, group.columns(window, rows)]  # (backgrounds, arms, width)
        written = group.letters(window, rows)
        diff |= np.any(now != written[None, :, :], axis=2).T
    return diff


def _paired_sequences(
    design: Design, bg: np.ndarray, ids: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The sequences to score for one chunk of a paired design, and which units changed.

    Returns ``stacked`` (the backgrounds, then every changed (arm, background) sequence in
    arm-major order) and ``changed`` of shape (arms, backgrounds); an unchanged sequence reuses
    the control prediction. Arms with fixed edits
    (:meth:`~causalgia.experiment.interventions.Intervention.fixed_edits`) are compared and written
    for the whole chunk at once, group by group; the others are applied one by one with their keyed
    streams (:func:`~causalgia.experiment.arm_keys`). The result equals applying every arm as
    ``arm.intervention.apply_keyed(bg, arm.keys(design.seed, ids))``.
    """
    plan = design.arm_plan()
    changed = np.zeros((len(design.arms), len(ids)), dtype=bool)
    for group in plan.groups:
        changed[group.arms] = _fixed_changed(group, bg)
    keyed_do: dict[int, np.ndarray] = {}
    if plan.keyed.size:
        arms = [design.arms[i] for i in plan.keyed]
        keys = arm_keys(arms, design.seed, ids)
        for row, (index, arm) in enumerate(zip(plan.keyed.tolist(), arms, strict=True)):
            do = arm.intervention.apply_keyed(bg, keys[row])
            diff = np.any(do != bg, axis=1)
            changed[index] = diff
            keyed_do[index] = do[diff]
    arm_of, unit_of = np.nonzero(changed)
    stacked = np.concatenate([bg, bg[unit_of]])
    extra = stacked[len(ids) :]
    group_of = plan.group_of[arm_of]
    for number, group in enumerate(plan.groups):
        mine = np.flatnonzero(group_of == number)
        rows = plan.row_of[arm_of[mine]]
        for window in range(len(group.widths)):
            extra[mine[:, None], group.columns(window, rows)] = group.letters(window, rows)
    if keyed_do:
        ends = np.cumsum(changed.sum(axis=1))
        for index, do in keyed_do.items():
            extra[ends[index] - len(do) : ends[index]] = do
    return stacked, changed


# ------------------------------------------------------------------------------------------
# scoring one chunk
# ------------------------------------------------------------------------------------------
def _forward(
    model: Model,
    codes: np.ndarray,
    retries: int,
    where: str,
    log: list[str],
    timer: ForwardTimer | None = None,
) -> Any:
    """f of one batch, retrying a model that raises up to ``retries`` times.

    With ``timer`` the forward pass runs in its worker thread (a timeout is never retried:
    the overrunning call may still be running).
    """
    for attempt in range(retries + 1):
        try:
            batch = one_hot(codes, model.layout, n_value=model.n_value)
            if timer is None:
                return model.forward(batch)
            return timer.call(model.forward, batch, where=where)
        except SimulationError:  # a timeout
            raise
        except ModelOutputError as err:  # wrong shape/dtype: deterministic, never retried
            raise ModelOutputError(f"{where}: {err}") from None
        except Exception as err:
            what = f"{where}: the model raised {type(err).__name__}: {err}"
            if isinstance(err, ModelCallError):  # it names the model, the exception and input
                what = f"{where}: {err}"
            if attempt == retries:
                tries = (
                    f" (after {retries} retr{'y' if retries == 1 else 'ies'})" if retries else ""
                )
                raise SimulationError(what + tries) from err
            log.append(f"{what}; retry {attempt + 1} of {retries}")
    raise AssertionError("unreachable")  # pragma: no cover


def _evaluate(
    model: Model,
    codes: np.ndarray,
    size: int,
    retries: int,
    where: str,
    log: list[str],
    timer: ForwardTimer | None = None,
) -> np.ndarray:
    out = np.empty((len(codes), *model.feature_shape), dtype=np.float64)
    for number, start in enumerate(range(0, len(codes), size)):
        here = f"{where} batch {number} (rows {start}..{min(start + size, len(codes)) - 1})"
        batch = codes[start : start + size]
        out[start : start + size] = _forward(model, batch, retries, here, log, timer)
    return out


def _probe(
    model: Model,
    codes: np.ndarray,
    retries: int,
    where: str,
    log: list[str],
    timer: ForwardTimer | None = None,
) -> tuple[np.ndarray, tuple[int, dict[int, float]] | None]:
    """Score ``codes`` while timing two consecutive slices of each candidate batch size.

    The rows scored by the probe are real rows of the chunk, so the probe costs no extra forward
    pass. Sizes are tried in increasing order and the probe stops once a size is more than 10 %
    slower per row than the best so far (time per row is U-shaped in the batch size on CPUs),
    so few rows are scored at a poor size. Returns the outputs and ``(chosen size, seconds per
    row by size)``, or None when the chunk is too small to compare at least two sizes.
    """
    if len(codes) < _PROBE_WARMUP + 2 * (PROBE_SIZES[0] + PROBE_SIZES[1]):
        return _evaluate(model, codes, model.batch_size, retries, where, log, timer), None
    out = np.empty((len(codes), *model.feature_shape), dtype=np.float64)
    warm = codes[:_PROBE_WARMUP]
    out[:_PROBE_WARMUP] = _forward(model, warm, retries, f"{where} probe", log, timer)
    per_row: dict[int, float] = {}
    pos = _PROBE_WARMUP
    for size in PROBE_SIZES:
        if pos + 2 * size > len(codes):
            break
        best_of_two = np.inf  # the faster of two slices: robust to a pause by another process
        for _ in range(2):
            here, rows = f"{where} probe (rows {pos}..{pos + size - 1})", codes[pos : pos + size]
            t0 = time.perf_counter()
            out[pos : pos + size] = _forward(model, rows, retries, here, log, timer)
            best_of_two = min(best_of_two, time.perf_counter() - t0)
            pos += size
        per_row[size] = best_of_two / size
        if per_row[size] > 1.10 * min(per_row.values()):
            break
    best = min(per_row.values())
    chosen = max(s for s, t in per_row.items() if t <= best * 1.02)  # near-ties: larger batch
    out[pos:] = _evaluate(model, codes[pos:], chosen, retries, where, log, timer)
    return out, (chosen, per_row)


def _score(
    model: Model,
    stacked: np.ndarray,
    size: int | None,
    retries: int,
    where: str,
    cache: ForwardCache | None,
    fingerprint: str | None,
    timer: ForwardTimer | None = None,
) -> tuple[np.ndarray, int, list[str], tuple[int, dict[int, float]] | None]:
    """Outputs for every stacked sequence, from the cache or the model; size None = probe."""
    log: list[str] = []
    if cache is not None and fingerprint is not None:
        digests = _digests(stacked)
        hit, y = cache.lookup(fingerprint, digests)
        todo = np.flatnonzero(~hit)
        codes = stacked[todo]
    else:
        digests, hit, y, todo, codes = None, None, None, None, stacked
    if size is None:
        part, probe = _probe(model, codes, retries, where, log, timer)
    else:
        part, probe = _evaluate(model, codes, size, retries, where, log, timer), None
    if todo is None:
        return part, 0, log, probe
    y[todo] = part
    cache.insert(fingerprint, digests[todo], part)  # type: ignore[union-attr,index]
    return y, int(hit.sum()), log, probe  # type: ignore[union-attr]


def compute_chunk(
    model: Model,
    design: Design,
    number: int,
    first: int,
    stop: int,
    *,
    size: int | None,
    retries: int,
    cache: ForwardCache | None = None,
    fingerprint: str | None = None,
    timer: ForwardTimer | None = None,
) -> ChunkResult:
    """Generate, intervene on and score backgrounds ``first..stop-1`` (chunk ``number``).

    ``size`` None picks the batch size by a probe; ``timer`` bounds every forward pass.
    """
    t0 = time.perf_counter()
    ids = np.arange(first, stop, dtype=np.int64)
    where = f"chunk {number} (backgrounds {first}..{stop - 1})"
    bg = design.background.generate(ids, design.seed)
    if design.kind == "paired":
        stacked, changed = _paired_sequences(design, bg, ids)
        arm_of, unit_of = np.nonzero(changed)  # arm-major: the order of the stacked rows
        owner = np.concatenate([np.full(len(ids), -1), arm_of])
        unit = np.concatenate([ids, ids[unit_of]])
    else:
        assign = design.assignment(ids)
        stacked = bg.copy()
        for index in np.unique(assign[assign >= 0]):
            arm, mine = design.arms[index], assign == index
            stacked[mine] = arm.intervention.apply_keyed(bg[mine], arm.keys(design.seed, ids[mine]))
        owner, unit = assign, ids
    y, n_cached, log, probe = _score(
        model, stacked, size, retries, where, cache, fingerprint, timer
    )
    if model.outputs is not None and model.outputs.pairs:  # each edit against its control
        y = pair_profiles(model.outputs.functionals, y, len(ids), unit_of)
    rows = y.reshape(len(y), -1)  # one row per sequence, one column per output
    if design.kind == "paired":
        values = np.empty((len(design.arms) + 1, len(ids), *model.output_shape))
        values[:] = y[: len(ids)]  # every arm starts from the shared control f(x)
        values[1:][changed] = y[len(ids) :]
        edited = len(unit_of)
        moved = int(np.any(rows[len(ids) :] != rows[: len(ids)][unit_of], axis=1).sum())
    else:
        values = np.vstack([assign.astype(np.float64), y])
        edited = int(np.count_nonzero(assign >= 0))
        moved = int(np.count_nonzero(y != y[0])) if len(y) else 0
    finite = np.isfinite(rows)
    bad = np.flatnonzero(~finite.all(axis=1))  # a unit is non-finite if any output is
    nonfinite = tuple(
        (int(owner[r]), int(unit[r]), float(rows[r][~finite[r]][0])) for r in bad
    )
    record = ChunkRecord(
        number,
        first,
        stop,
        values,
        n_forward=len(stacked) - n_cached,
        n_cached=n_cached,
        nonfinite=nonfinite,
        seconds=time.perf_counter() - t0,
    )
    return ChunkResult(record, tuple(log), probe, edited, moved)
