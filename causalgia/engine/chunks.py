"""Evaluating one chunk of a design: generate its backgrounds, apply the arms, score the model.

A chunk is the unit of work of :func:`~causalgia.engine.simulate`, of the run store and of the
Dask runner: its outputs depend only on (design seed, background ids), never on the batch size,
the chunk size or the worker.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ModelOutputError, SimulationError
from ..experiment.designs import Design, FixedGroup, arm_keys
from ..sequences.alphabet import one_hot
from .models import Model
from .store import ChunkRecord, ForwardCache
from .store import sequence_digests as _digests

PROBE_SIZES = (32, 64, 128, 256, 512, 1024)


_PROBE_WARMUP = 8


@dataclass(frozen=True)
class ChunkResult:
    """What evaluating one chunk gives: the ledger record plus retry messages and the probe."""

    record: ChunkRecord
    log: tuple[str, ...] = ()
    probe: tuple[int, dict[int, float]] | None = None


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
def _forward(model: Model, codes: np.ndarray, retries: int, where: str, log: list[str]) -> Any:
    """f of one batch, retrying a model that raises up to ``retries`` times."""
    for attempt in range(retries + 1):
        try:
            return model.forward(one_hot(codes, model.layout, n_value=model.n_value))
        except ModelOutputError as err:  # wrong shape/dtype: deterministic, never retried
            raise ModelOutputError(f"{where}: {err}") from None
        except Exception as err:
            what = f"{where}: the model raised {type(err).__name__}: {err}"
            if attempt == retries:
                tries = (
                    f" (after {retries} retr{'y' if retries == 1 else 'ies'})" if retries else ""
                )
                raise SimulationError(what + tries) from err
            log.append(f"{what}; retry {attempt + 1} of {retries}")
    raise AssertionError("unreachable")  # pragma: no cover


def _evaluate(
    model: Model, codes: np.ndarray, size: int, retries: int, where: str, log: list[str]
) -> np.ndarray:
    out = np.empty(len(codes), dtype=np.float64)
    for number, start in enumerate(range(0, len(codes), size)):
        here = f"{where} batch {number} (rows {start}..{min(start + size, len(codes)) - 1})"
        out[start : start + size] = _forward(model, codes[start : start + size], retries, here, log)
    return out


def _probe(
    model: Model, codes: np.ndarray, retries: int, where: str, log: list[str]
) -> tuple[np.ndarray, tuple[int, dict[int, float]] | None]:
    """Score ``codes`` while timing two consecutive slices of each candidate batch size.

    The rows scored by the probe are real rows of the chunk, so the probe costs no extra forward
    pass. Sizes are tried in increasing order and the probe stops once a size is more than 10 %
    slower per row than the best so far (time per row is U-shaped in the batch size on CPUs),
    so few rows are scored at a poor size. Returns the outputs and ``(chosen size, seconds per
    row by size)``, or None when the chunk is too small to compare at least two sizes.
    """
    if len(codes) < _PROBE_WARMUP + 2 * (PROBE_SIZES[0] + PROBE_SIZES[1]):
        return _evaluate(model, codes, model.batch_size, retries, where, log), None
    out = np.empty(len(codes), dtype=np.float64)
    out[:_PROBE_WARMUP] = _forward(model, codes[:_PROBE_WARMUP], retries, f"{where} probe", log)
    per_row: dict[int, float] = {}
    pos = _PROBE_WARMUP
    for size in PROBE_SIZES:
        if pos + 2 * size > len(codes):
            break
        best_of_two = np.inf  # the faster of two slices: robust to a pause by another process
        for _ in range(2):
            t0 = time.perf_counter()
            out[pos : pos + size] = _forward(model, codes[pos : pos + size], retries, where, log)
            best_of_two = min(best_of_two, time.perf_counter() - t0)
            pos += size
        per_row[size] = best_of_two / size
        if per_row[size] > 1.10 * min(per_row.values()):
            break
    best = min(per_row.values())
    chosen = max(s for s, t in per_row.items() if t <= best * 1.02)  # near-ties: larger batch
    out[pos:] = _evaluate(model, codes[pos:], chosen, retries, where, log)
    return out, (chosen, per_row)


def _score(
    model: Model,
    stacked: np.ndarray,
    size: int | None,
    retries: int,
    where: str,
    cache: ForwardCache | None,
    fingerprint: str | None,
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
        part, probe = _probe(model, codes, retries, where, log)
    else:
        part, probe = _evaluate(model, codes, size, retries, where, log), None
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
) -> ChunkResult:
    """Generate, intervene on and score backgrounds ``first..stop-1`` (chunk ``number``)."""
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
    y, n_cached, log, probe = _score(model, stacked, size, retries, where, cache, fingerprint)
    if design.kind == "paired":
        values = np.empty((len(design.arms) + 1, len(ids)), dtype=np.float64)
        values[:] = y[: len(ids)]  # every arm starts from the shared control f(x)
        values[1:][changed] = y[len(ids) :]
    else:
        values = np.vstack([assign.astype(np.float64), y])
    bad = np.flatnonzero(~np.isfinite(y))
    nonfinite = tuple((int(owner[r]), int(unit[r]), float(y[r])) for r in bad)
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
    return ChunkResult(record, tuple(log), probe)
