"""Run a design on a model: the network as a simulator of potential outcomes.

Backgrounds are generated chunk by chunk from keyed streams, every arm's intervention is applied
with its own keyed stream, and the model is run in batches. In a paired design each background's
control prediction f(x) is computed once and shared by every arm, so P arms over n backgrounds
cost at most (P + 1)·n forward passes; an arm that leaves a sequence unchanged (the placebo, a
mutation to the base already there) reuses f(x) and costs nothing, so its ICE is exactly 0.
Arms whose edit draws nothing (an exact motif string, a mutation: ``fixed_edits``) are compared
and written for a whole chunk at once, so a screen of thousands of k-mer arms pays no per-arm
Python cost; the table is the same as applying the arms one by one.

A chunk (a fixed range of background ids) is the unit of work, of storage and of distribution:
it is generated, scored and, with ``store=``, committed to the run's ledger before the next one
starts, so memory does not grow with the number of backgrounds and an interrupted run resumes
where it stopped. With ``client=`` the chunks run on a Dask cluster; because every draw is keyed
by the unit, the table is bit-identical to the serial one whatever the number of workers.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .._options import check_int, check_option
from .._rng import RngLike
from ..errors import CausalgiaError, ModelOutputError, OptionError, SimulationError
from ..experiment.designs import CONTROL, Design, FixedGroup, arm_keys
from ..sequences.alphabet import one_hot
from .models import Model, as_model
from .store import SCHEMA_VERSION, ChunkRecord, ForwardCache, RunStore, open_cache
from .store import sequence_digests as _digests

if TYPE_CHECKING:  # pragma: no cover
    from distributed import Client

DEFAULT_CHUNK = 2048
PROBE_SIZES = (32, 64, 128, 256, 512, 1024)
_PROBE_WARMUP = 8
OnNonfinite = Literal["raise", "drop"]


@dataclass(frozen=True)
class SimulationResult:
    """Outcomes of a design on a model.

    ``table`` is the paired ICE table (one row per arm × background: experiment, label,
    parameters, background_id, y_control, y_do, ice) or, for a randomized design, the outcome
    table (one row per background: experiment, label, parameters, background_id, y). With
    ``collect=False`` it has the same columns and no rows: the rows are in ``store``.

    ``n_forward`` counts sequences the model scored for this run (over all sessions of a resumed
    run), ``n_cached`` those served by a forward cache. ``nonfinite`` lists units dropped under
    ``on_nonfinite="drop"`` (experiment, label, background_id, value; label ``"control"`` means
    the shared control, so every arm of that background was dropped). ``batch_size`` is the
    batch size used (chosen by a probe unless declared) and ``store`` the run directory.
    """

    table: pd.DataFrame
    kind: Literal["paired", "randomized"]
    design: Design
    seed: int
    model_fingerprint: str
    n_forward: int
    n_cached: int = 0
    batch_size: int | None = None
    nonfinite: pd.DataFrame | None = None
    store: Path | None = None

    def to_frame(self) -> pd.DataFrame:
        """A copy of the unit table."""
        return self.table.copy()


@dataclass(frozen=True)
class _Chunk:
    """What evaluating one chunk gives: the ledger record plus retry messages and the probe."""

    record: ChunkRecord
    log: tuple[str, ...] = ()
    probe: tuple[int, dict[int, float]] | None = None


def _chunks(n: int, size: int) -> list[np.ndarray]:
    return [np.arange(a, min(a + size, n), dtype=np.int64) for a in range(0, n, size)]


def _per_chunk(design: Design, chunk_size: int) -> int:
    """Backgrounds per chunk, so that a chunk holds about ``chunk_size`` sequences."""
    return max(1, chunk_size // (len(design.arms) + 1)) if design.kind == "paired" else chunk_size


def design_fingerprint(design: Design) -> str:
    """sha256 (16 hex) of a design: background description, arms, n, kind, seed, and the codes
    of the first backgrounds under every arm, so any change to a motif or an intervention shows.

    Examples
    --------
    >>> from causalgia.experiment.backgrounds import iid
    >>> from causalgia.experiment.designs import design, sweep_positions
    >>> d = design(iid(20), sweep_positions("GATA", [3]), n=10, rng=1)
    >>> design_fingerprint(d) == design_fingerprint(d.with_seed(2))
    False
    """
    h = hashlib.sha256()
    described = {
        "background": design.background.describe(),
        "n": design.n,
        "kind": design.kind,
        "seed": design.seed,
        "arms": [[a.experiment, a.label, sorted(a.params.items())] for a in design.arms],
    }
    h.update(json.dumps(described, sort_keys=True, default=repr).encode())
    ids = np.arange(min(design.n, 8), dtype=np.int64)
    bg = design.background.generate(ids, design.seed)
    h.update(bg.tobytes())
    keys = arm_keys(design.arms, design.seed, ids)
    for arm, arm_key in zip(design.arms, keys, strict=True):
        h.update(arm.intervention.apply_keyed(bg, arm_key).tobytes())
    if design.kind == "randomized":
        h.update(design.assignment(ids).tobytes())
    return h.hexdigest()[:16]


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
    (:meth:`~causalgia.experiment.interventions.Intervention.fixed_edits`) are compared and written for the
    whole chunk at once, group by group; the others are applied one by one with their keyed
    streams (:func:`~causalgia.experiment.designs.arm_keys`). The result equals applying every arm as
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


def _compute_chunk(
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
) -> _Chunk:
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
    return _Chunk(record, tuple(log), probe)


# ------------------------------------------------------------------------------------------
# tables
# ------------------------------------------------------------------------------------------
def _param_frame(design: Design, arm_index: np.ndarray) -> pd.DataFrame:
    """Experiment, label and parameter columns for rows given by arm index (-1 = control)."""
    rows = [{"experiment": CONTROL, "label": CONTROL}] + [
        {"experiment": arm.experiment, "label": arm.label, **arm.params} for arm in design.arms
    ]
    lookup = pd.DataFrame(rows, columns=["experiment", "label", *design.param_names])
    return lookup.iloc[np.asarray(arm_index) + 1].reset_index(drop=True)


def _paired_table(
    design: Design,
    y_control: np.ndarray,
    y_do: list[np.ndarray],
    ids: np.ndarray | None = None,
) -> pd.DataFrame:
    ids = design.background_ids if ids is None else ids
    n_arms = len(design.arms)
    table = _param_frame(design, np.repeat(np.arange(n_arms), len(ids)))
    table["background_id"] = np.tile(ids, n_arms)
    table["y_control"] = np.tile(y_control, n_arms)
    table["y_do"] = np.concatenate(y_do) if y_do else np.empty(0)
    table["ice"] = table["y_do"].to_numpy() - table["y_control"].to_numpy()
    return table


def _randomized_table(
    design: Design, ids: np.ndarray, assign: np.ndarray, y: np.ndarray
) -> pd.DataFrame:
    table = _param_frame(design, assign)
    table["background_id"] = ids
    table["y"] = y
    return table


def _drop_nonfinite(table: pd.DataFrame) -> pd.DataFrame:
    cols = ["y_control", "y_do"] if "y_do" in table else ["y"]
    keep = np.all(np.isfinite(table[cols].to_numpy()), axis=1)
    return table if keep.all() else table[keep].reset_index(drop=True)


def chunk_table(design: Design, ids: np.ndarray, values: np.ndarray) -> pd.DataFrame:
    """The unit table of stored chunk ``values`` (see :class:`~causalgia.engine.store.ChunkRecord`)
    for backgrounds ``ids``, without non-finite units.

    Examples
    --------
    >>> from causalgia.experiment.backgrounds import iid
    >>> from causalgia.experiment.designs import design, sweep_positions
    >>> d = design(iid(20), sweep_positions("GATA", [3]), n=2, rng=1)
    >>> chunk_table(d, np.arange(2), np.array([[1.0, 2.0], [1.5, 2.0]]))["ice"].tolist()
    [0.5, 0.0]
    """
    ids = np.asarray(ids, dtype=np.int64)
    if design.kind == "paired":
        table = _paired_table(design, values[0], list(values[1:]), ids)
    else:
        table = _randomized_table(design, ids, values[0].astype(np.int64), values[1])
    return _drop_nonfinite(table)


def _assemble(design: Design, parts: list[np.ndarray], ids: np.ndarray) -> pd.DataFrame:
    if design.kind == "paired":
        stacked = np.concatenate(parts, axis=1) if parts else np.empty((len(design.arms) + 1, 0))
        return _paired_table(design, stacked[0], list(stacked[1:]), ids)
    stacked = np.concatenate(parts, axis=1) if parts else np.empty((2, 0))
    return _randomized_table(design, ids, stacked[0].astype(np.int64), stacked[1])


def _units(design: Design, bad: list[tuple[int, int, float]]) -> str:
    names = [CONTROL if a < 0 else design.arms[a].label for a, _, _ in bad[:5]]
    return "; ".join(f"{n} background {b}" for n, (_, b, _) in zip(names, bad, strict=False))


def _nonfinite_frame(design: Design, bad: list[tuple[int, int, float]]) -> pd.DataFrame:
    bad = sorted(bad, key=lambda unit: (unit[0], unit[1]))  # control first, then arm by arm
    rows = [
        (CONTROL, CONTROL) if a < 0 else (design.arms[a].experiment, design.arms[a].label)
        for a, _, _ in bad
    ]
    return pd.DataFrame(
        {
            "experiment": pd.Series([r[0] for r in rows], dtype=object),
            "label": pd.Series([r[1] for r in rows], dtype=object),
            "background_id": np.array([b for _, b, _ in bad], dtype=np.int64),
            "value": np.array([v for _, _, v in bad], dtype=np.float64),
        }
    )


# ------------------------------------------------------------------------------------------
# simulate
# ------------------------------------------------------------------------------------------
def _open_store(store: str | Path | RunStore | None) -> tuple[RunStore | None, bool]:
    if store is None or isinstance(store, RunStore):
        return store, False
    return RunStore(store), True


def simulate(
    model: Model,
    design: Design,
    *,
    rng: RngLike = None,
    batch_size: int | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    progress: bool | None = None,
    store: str | Path | RunStore | None = None,
    cache: str | Path | ForwardCache | None = None,
    client: Client | None = None,
    retries: int = 0,
    on_nonfinite: OnNonfinite = "raise",
    collect: bool = True,
) -> SimulationResult:
    """Evaluate ``design`` on ``model`` and return the per-unit outcome table.

    Parameters
    ----------
    model : Model
        The model (see :func:`~causalgia.engine.models.as_model`).
    design : Design
        The design (see :func:`~causalgia.experiment.designs.design`).
    rng : int, Generator or None
        Re-seeds the design when given (otherwise the design's recorded seed is used).
    batch_size : int, optional
        Sequences per forward pass. Default: the model's declared batch size, or, when none was
        declared, the fastest of 32…1024 found by timing slices of the first chunk (a probe that
        scores real rows, so it costs no extra forward pass). A resumed run reuses the recorded
        size. Results are identical for any batch and chunk size for models whose outputs do not
        depend on the batch (float64 numpy; float32 kernels may differ in the last bits).
    chunk_size : int
        About this many sequences are generated and scored at a time (default 2,048): the unit
        of memory, of storage and of Dask tasks. A resumed run keeps its recorded chunking.
    progress : bool, optional
        Show a tqdm bar (default: only on a terminal).
    store : str, Path or RunStore, optional
        A run directory: every completed chunk is committed to its ledger (``ledger.sqlite``).
        If the ledger already holds chunks of this same run (same design, seed and model
        fingerprint), only the missing chunks are evaluated; another run there is an error.
    cache : str, Path or ForwardCache, optional
        A forward cache shared across runs: sequences already scored by a model with the same
        fingerprint are not scored again (serial runs only).
    client : dask.distributed.Client, optional
        Evaluate chunks on this Dask cluster. A model made by
        :func:`~causalgia.engine.models.from_import_path` is built once per worker from its import
        path; any other model is sent to each worker once. The table is bit-identical to the
        serial run's.
    retries : int
        Times a batch whose forward pass raises is tried again before the run fails (each retry
        is logged in the ledger).
    on_nonfinite : {"raise", "drop"}
        A NaN/inf output raises :class:`~causalgia.errors.ModelOutputError` naming the units
        (default), or ``"drop"`` drops those units from the table and records them in
        ``result.nonfinite`` and the ledger.
    collect : bool
        False keeps the unit table out of memory (peak memory then does not grow with n): the
        result's table has no rows and the rows are read from the store with
        :meth:`~causalgia.engine.store.RunStore.iter_frames` or ``write_parquet``. Needs ``store``.

    Returns
    -------
    SimulationResult

    Raises
    ------
    SimulationError
        The model raised (after ``retries``); the message names the chunk, batch and run
        directory, whose completed chunks are kept.
    ModelOutputError
        Wrong output shape or type, or non-finite outputs under ``on_nonfinite="raise"``.
    StoreError
        ``store`` holds another run, is in use by another process, or is damaged.

    Examples
    --------
    >>> from causalgia.experiment.backgrounds import iid
    >>> from causalgia.experiment.designs import design, sweep_positions
    >>> from causalgia.testing import AdditiveOracle
    >>> oracle = AdditiveOracle.from_motif("GATA", length=30)
    >>> d = design(iid(30), sweep_positions("GATA", [5, 20]), n=50, rng=1)
    >>> res = simulate(as_model(oracle), d)
    >>> res.table.shape[0], res.n_forward <= 150
    (100, True)

    A run directory makes the run resumable: calling again after a crash evaluates only the
    chunks that are missing.

    >>> import tempfile
    >>> run_dir = tempfile.mkdtemp()
    >>> first = simulate(as_model(oracle), d, store=run_dir, chunk_size=30)
    >>> again = simulate(as_model(oracle), d, store=run_dir)
    >>> again.table.equals(first.table), again.n_forward == first.n_forward
    (True, True)
    """
    model = as_model(model)
    if rng is not None:
        design = design.with_seed(rng)
    check_int("chunk_size", chunk_size, minimum=1)
    check_int("retries", retries, minimum=0)
    check_option("on_nonfinite", on_nonfinite, ("raise", "drop"))
    if batch_size is not None:
        batch_size = check_int("batch_size", batch_size, minimum=1)
    if not collect and store is None:
        raise OptionError("collect=False keeps the table only in a store: pass store=RUN_DIR")
    if client is not None and cache is not None:
        raise OptionError("cache= works with serial runs only; drop client= or cache=")
    run, owned = _open_store(store)
    forward_cache = open_cache(cache)
    try:
        return _simulate(
            model,
            design,
            batch_size,
            chunk_size,
            progress,
            run,
            forward_cache,
            client,
            retries,
            on_nonfinite,
            collect,
        )
    finally:
        if owned and run is not None:
            run.close()
        if forward_cache is not None and not isinstance(cache, ForwardCache):
            forward_cache.close()


def _simulate(
    model: Model,
    design: Design,
    batch_size: int | None,
    chunk_size: int,
    progress: bool | None,
    run: RunStore | None,
    cache: ForwardCache | None,
    client: Client | None,
    retries: int,
    on_nonfinite: str,
    collect: bool,
) -> SimulationResult:
    length = design.background.length
    early = run is not None or cache is not None or client is not None
    fingerprint = model.fingerprint(length) if early else None
    per = _per_chunk(design, chunk_size)
    done: dict[int, tuple[int, int]] = {}
    # None = choose by a probe on the first chunk scored
    size = (
        batch_size if batch_size is not None else (None if model.auto_batch else model.batch_size)
    )
    if run is not None:
        identity = {
            "schema": SCHEMA_VERSION,
            "kind": design.kind,
            "n": design.n,
            "seed": design.seed,
            "design_fingerprint": design_fingerprint(design),
            "model_fingerprint": fingerprint,
        }
        info = {
            "per_chunk": per,
            "n_chunks": -(-design.n // per),
            "model": {"name": model.name, "layout": model.layout, "output": repr(model.output)},
            "background": design.background.describe(),
            "arms": [[a.experiment, a.label] for a in design.arms],
            "status": "running",
        }
        run.begin(identity, info)
        per = int(run.get("per_chunk", per))
        done = run.completed()
        recorded = run.get("batch_size")
        if size is None and recorded is not None:
            size = int(recorded)
        if on_nonfinite == "raise":
            old_bad = run.nonfinite()
            if len(old_bad):
                first = old_bad.iloc[0]
                raise ModelOutputError(
                    f"run directory {run.path}: {len(old_bad)} unit(s) were dropped for "
                    f"non-finite outputs in an earlier session (first: {first.label} background "
                    f"{first.background_id}); resume with on_nonfinite='drop' or start afresh"
                )
    n_chunks = -(-design.n // per)

    def bounds(number: int) -> tuple[int, int]:
        return number * per, min(design.n, (number + 1) * per)

    todo = [number for number in range(n_chunks) if number not in done]
    labels = [(a.experiment, a.label) for a in design.arms]
    parts: dict[int, np.ndarray] = {}
    bad: dict[int, list[tuple[int, int, float]]] = {}
    totals = {"n_forward": 0, "n_cached": 0}
    show = sys.stderr.isatty() if progress is None else progress
    done_bg = sum(stop - first for first, stop in done.values())

    def accept(chunk: _Chunk) -> None:
        nonlocal size
        rec = chunk.record
        if chunk.probe is not None:
            size = chunk.probe[0]
            if run is not None:
                timings = {k: round(v * 1e6, 3) for k, v in chunk.probe[1].items()}
                run.record_probe(size, f"batch size {size}; microseconds per row {timings}")
        if run is not None:
            for message in chunk.log:
                run.event("retry", message, rec.number)
        if rec.nonfinite and on_nonfinite == "raise":
            where = f"chunk {rec.number} (backgrounds {rec.first_id}..{rec.stop_id - 1})"
            raise ModelOutputError(
                f"{where}: non-finite model output for {len(rec.nonfinite)} unit(s): "
                f"{_units(design, list(rec.nonfinite))}"
            )
        if run is not None:
            run.put_chunk(rec, labels)
        if collect:
            parts[rec.number] = rec.values
        if rec.nonfinite:
            bad[rec.number] = list(rec.nonfinite)
        totals["n_forward"] += rec.n_forward
        totals["n_cached"] += rec.n_cached
        bar.update(rec.stop_id - rec.first_id)

    with tqdm(total=design.n, initial=done_bg, unit="bg", disable=not show, desc="simulate") as bar:
        try:
            remote = list(todo)
            if client is None or (size is None and todo):
                local = todo if client is None else todo[:1]
                remote = [] if client is None else todo[1:]
                for number in local:
                    first, stop = bounds(number)
                    accept(
                        _compute_chunk(
                            model,
                            design,
                            number,
                            first,
                            stop,
                            size=size,
                            retries=retries,
                            cache=cache,
                            fingerprint=fingerprint,
                        )
                    )
            if remote:
                from ._distributed import dask_chunks

                assert client is not None and fingerprint is not None
                step = size if size is not None else model.batch_size
                for chunk in dask_chunks(
                    client, model, design, remote, bounds, step, retries, fingerprint
                ):
                    accept(chunk)
        except BaseException as err:
            if run is not None:
                _record_failure(run, err)
                if isinstance(err, CausalgiaError):
                    kept = run.totals()["chunks"]
                    raise type(err)(
                        f"{err} [run directory {run.path}: {kept} of {n_chunks} chunk(s) are "
                        "complete and kept; fix the cause and call simulate again with the same "
                        "store (or `causalgia resume DIR`) to evaluate only the missing chunks]"
                    ) from err
            raise
    if fingerprint is None:
        fingerprint = model.fingerprint(length)
    nonfinite_units: list[tuple[int, int, float]] = []
    if run is not None:
        stored = run.totals()
        n_forward, n_cached = stored["n_forward"], stored["n_cached"]
        for number in sorted(done):
            if collect:
                parts[number] = run.chunk_values(number)
        frame = run.nonfinite()
        values = frame["value"].astype(np.float64)  # SQLite keeps NaN as NULL
        nonfinite_units = list(zip(frame.arm, frame.background_id, values, strict=True))
        run.mark("complete", "complete", f"{n_chunks} chunk(s), {n_forward} forward passes")
    else:
        n_forward, n_cached = totals["n_forward"], totals["n_cached"]
        for number in sorted(bad):
            nonfinite_units += bad[number]
    ids = design.background_ids if collect else np.empty(0, dtype=np.int64)
    table = _assemble(design, [parts[k] for k in sorted(parts)], ids)
    if nonfinite_units:
        table = _drop_nonfinite(table)
    return SimulationResult(
        table,
        design.kind,
        design,
        design.seed,
        fingerprint,
        n_forward,
        n_cached=n_cached,
        batch_size=size if size is not None else model.batch_size,
        nonfinite=_nonfinite_frame(
            design, [(int(a), int(b), float(v)) for a, b, v in nonfinite_units]
        ),
        store=None if run is None else run.path,
    )


def _record_failure(run: RunStore, err: BaseException) -> None:
    with contextlib.suppress(Exception):  # the original error matters more
        run.mark("failed", "failure", f"{type(err).__name__}: {err}")
