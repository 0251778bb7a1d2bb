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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .._options import check_int, check_option
from .._rng import RngLike
from ..errors import CausalgiaError, ModelOutputError, OptionError
from ..experiment.designs import Design, arm_keys
from .chunks import ChunkResult, backgrounds_per_chunk, compute_chunk
from .declaration import as_model
from .models import Model
from .store import SCHEMA_VERSION, ForwardCache, RunStore, open_cache
from .tables import assemble_table, describe_units, drop_nonfinite, nonfinite_frame

if TYPE_CHECKING:  # pragma: no cover
    from distributed import Client

DEFAULT_CHUNK = 2048
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
        :func:`~causalgia.engine.from_import_path` is built once per worker from its import
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
    per = backgrounds_per_chunk(design, chunk_size)
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

    def accept(chunk: ChunkResult) -> None:
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
                f"{describe_units(design, list(rec.nonfinite))}"
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
                        compute_chunk(
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
    table = assemble_table(design, [parts[k] for k in sorted(parts)], ids)
    if nonfinite_units:
        table = drop_nonfinite(table)
    return SimulationResult(
        table,
        design.kind,
        design,
        design.seed,
        fingerprint,
        n_forward,
        n_cached=n_cached,
        batch_size=size if size is not None else model.batch_size,
        nonfinite=nonfinite_frame(
            design, [(int(a), int(b), float(v)) for a, b, v in nonfinite_units]
        ),
        store=None if run is None else run.path,
    )


def _record_failure(run: RunStore, err: BaseException) -> None:
    with contextlib.suppress(Exception):  # the original error matters more
        run.mark("failed", "failure", f"{type(err).__name__}: {err}")
