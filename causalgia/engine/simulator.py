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

Guards before and during a run: a model declared for another input length, or for another
alphabet than the backgrounds' (unless it declares ``also_accepts=`` theirs), is refused before
any forward pass; the first chunk in which some arm edited a sequence is checked for a
degenerate study (no edit changed the output: a wrong layout, alphabet or output functional);
a resumed run accepts a model whose fingerprint probes differ only by floating-point noise
(:meth:`~causalgia.engine.models.ModelProbe.agrees`); ``timeout=`` bounds every forward pass.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from .._options import check_int, check_option
from .._rng import RngLike
from ..errors import (
    CausalgiaError,
    DegenerateStudyError,
    InvalidSequenceError,
    ModelOutputError,
    OptionError,
    StoreError,
)
from ..experiment.designs import Design, arm_keys
from .chunks import ChunkResult, ForwardTimer, backgrounds_per_chunk, compute_chunk
from .declaration import as_model
from .models import Model, ModelProbe
from .progress import Progress
from .store import IDENTITY_KEYS, SCHEMA_VERSION, ForwardCache, RunStore, open_cache
from .tables import (
    arm_units,
    assemble_table,
    describe_units,
    drop_nonfinite,
    dropped_summary,
    nonfinite_frame,
)

if TYPE_CHECKING:  # pragma: no cover
    from distributed import Client

DEFAULT_CHUNK = 2048
OnNonfinite = Literal["raise", "drop"]
OnDegenerate = Literal["raise", "warn"]


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
    ``units`` (under ``on_nonfinite="drop"`` only) has one row per arm: experiment, label, its
    parameters, ``n_units`` (units the design gave it) and ``n_dropped`` (units dropped, a
    dropped control included); :func:`~causalgia.stats.estimate_ace` reads it to keep an arm
    whose units were all dropped as a row and to give every row a ``status``. ``outputs``
    names the model's declared outputs (``as_model(..., outputs=...)``), None for one output
    functional; the table then has an ``output`` column after ``label``, its rows output by
    output.
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
    units: pd.DataFrame | None = None
    outputs: tuple[str, ...] | None = None

    def to_frame(self) -> pd.DataFrame:
        """A copy of the unit table.

        Returns
        -------
        pandas.DataFrame
            A copy of ``table``.
        """
        return self.table.copy()

    def dropped_summary(self, limit: int = 20) -> list[dict[str, object]]:
        """Per arm that lost units to non-finite outputs: experiment, label, ``dropped``,
        ``of`` and the first ``limit`` ``background_ids`` (empty unless
        ``on_nonfinite="drop"`` dropped some); see :func:`~causalgia.engine.tables.dropped_summary`.

        Parameters
        ----------
        limit : int, default 20
            Most background ids listed per arm.

        Returns
        -------
        list of dict
            One JSON-safe dict per arm that lost units; empty when none did.

        Examples
        --------
        >>> from causalgia.experiment.backgrounds import iid
        >>> from causalgia.experiment.designs import design, sweep_positions
        >>> from causalgia.testing import AdditiveOracle, NaNModel
        >>> d = design(iid(30), sweep_positions("GATA", [0, 9]), n=40, rng=1)
        >>> m = as_model(NaNModel(AdditiveOracle.from_motif("GATA", length=30), prefix="GATA"))
        >>> res = simulate(m, d, on_nonfinite="drop")
        >>> [(a["label"], a["dropped"]) for a in res.dropped_summary()]
        [('GATA@0+', 40)]
        """
        if self.units is None or self.nonfinite is None:
            return []
        return dropped_summary(self.nonfinite, self.units, limit=limit)


def design_fingerprint(design: Design) -> str:
    """sha256 (16 hex) of a design: background description, arms, n, kind, seed, and the codes
    of the first backgrounds under every arm, so any change to a motif or an intervention shows.

    Parameters
    ----------
    design : Design
        The design to fingerprint.

    Returns
    -------
    str
        16 hex digits.

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
    timeout: float | None = None,
    on_degenerate: OnDegenerate = "raise",
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
        A tqdm bar (True), nothing (False), or by default a bar on a terminal and a log line
        every 10 s otherwise (backgrounds and chunks done, passes/s, ETA; see
        :mod:`causalgia.engine.progress`).
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
        ``result.nonfinite``, ``result.units`` and the ledger. Non-finite outputs on the
        fingerprint probes never raise: they are part of the fingerprint.
    collect : bool
        False keeps the unit table out of memory (peak memory then does not grow with n): the
        result's table has no rows and the rows are read from the store with
        :meth:`~causalgia.engine.store.RunStore.iter_frames` or ``write_parquet``. Needs ``store``.
    timeout : float, optional
        Seconds a single forward pass (one batch, or the 16 fingerprint probes) may take. A pass
        that overruns stops the run with a :class:`~causalgia.errors.SimulationError` naming
        the chunk, the batch and the timeout; completed chunks stay in ``store``. Each pass then
        runs in a worker thread, which cannot be killed: the overrunning call is abandoned and
        may go on in the background until the process exits. Default None: no limit, and no
        thread.
    on_degenerate : {"raise", "warn"}
        What happens when, in the first chunk where some arm edited a sequence, no edit changed
        the model's output at all (paired designs; in randomized designs: every output of the
        chunk is the same), which is what a wrong one-hot layout, alphabet or output functional
        gives: raise :class:`~causalgia.errors.DegenerateStudyError` before the rest of the
        run (default) or warn and go on. Placebo and Identity arms edit nothing and are never
        evidence either way.

    Returns
    -------
    SimulationResult

    Raises
    ------
    SimulationError
        The model raised (after ``retries``) or overran ``timeout``; the message names the
        chunk, batch and run directory, whose completed chunks are kept.
    DegenerateStudyError
        No intervention changed the output (see ``on_degenerate``).
    InvalidSequenceError
        The model was declared for another input length than the design's backgrounds, or
        for another alphabet (an RNA model on DNA backgrounds, or a DNA model on RNA ones)
        without ``also_accepts=`` that alphabet (:func:`~causalgia.engine.as_model`).
    ModelOutputError
        Wrong output shape or type, or non-finite outputs under ``on_nonfinite="raise"``.
    StoreError
        ``store`` holds another run (another design, or a model whose fingerprint probes differ
        by more than floating-point noise: the message gives the measured difference), is in
        use by another process, or is damaged.

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
    check_option("on_degenerate", on_degenerate, ("raise", "warn"))
    timer = None if timeout is None else ForwardTimer(timeout)
    length = design.background.length
    if model.length is not None and model.length != length:
        raise InvalidSequenceError(
            f"model {model.name!r} was declared for input length {model.length}, but the "
            f"design's backgrounds have length {length}; declare the model's length or use "
            f"backgrounds of length {model.length}"
        )
    _check_alphabet(model, design)
    if batch_size is not None:
        batch_size = check_int("batch_size", batch_size, minimum=1)
    if not collect and store is None:
        raise OptionError("collect=False keeps the table only in a store: pass store=RUN_DIR")
    if client is not None and cache is not None:
        raise OptionError("cache= works with serial runs only; drop client= or cache=")
    _check_outputs(model, design, cache, on_nonfinite)
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
            timer,
            on_degenerate,
        )
    finally:
        if timer is not None:
            timer.close()
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
    timer: ForwardTimer | None,
    on_degenerate: str,
) -> SimulationResult:
    length = design.background.length
    early = run is not None or cache is not None or client is not None
    probe = _model_probe(model, length, timer) if early else None
    fingerprint = None if probe is None else probe.digest
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
        assert probe is not None
        fingerprint = identity["model_fingerprint"] = _ledger_fingerprint(run, probe, identity)
        info = {
            "per_chunk": per,
            "n_chunks": -(-design.n // per),
            "model": {
                "name": model.name,
                "layout": model.layout,
                "output": repr(model.output),
                **({} if model.also_accepts is None else {"also_accepts": model.also_accepts.name}),
            },
            "background": design.background.describe(),
            "arms": [[a.experiment, a.label] for a in design.arms],
            "status": "running",
            "model_probe": probe.record(),
            **({} if model.outputs is None else {"model_outputs": list(model.outputs.names)}),
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
    done_bg = sum(stop - first for first, stop in done.values())
    checking = True  # until a chunk in which some arm edited a sequence

    def accept(chunk: ChunkResult) -> None:
        nonlocal size, checking
        rec = chunk.record
        if checking and chunk.edited:
            checking = False
            if not chunk.moved:
                _degenerate(model, design, chunk, on_degenerate)
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
        bar.update(rec.stop_id - rec.first_id, passes=rec.n_forward)

    with Progress(progress).bar(
        design.n, "simulate", "bg", initial=done_bg, steps=n_chunks
    ) as bar:
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
                            timer=timer,
                        )
                    )
            if remote:
                from ._distributed import dask_chunks

                assert client is not None and probe is not None
                step = size if size is not None else model.batch_size
                timeout = None if timer is None else timer.timeout
                for chunk in dask_chunks(
                    client, model, design, remote, bounds, step, retries, probe, timeout
                ):
                    accept(chunk)
        except BaseException as err:
            if run is not None:
                _record_failure(run, err)
                if isinstance(err, KeyboardInterrupt):
                    with contextlib.suppress(Exception):
                        kept = run.totals()["chunks"]
                        err.add_note(
                            f"causalgia: run directory {run.path}: {kept} of {n_chunks} "
                            f"chunk(s) are complete and kept; `causalgia resume {run.path}` (or "
                            "simulate with the same store) evaluates only the missing ones"
                        )
                elif isinstance(err, CausalgiaError) and not isinstance(err, DegenerateStudyError):
                    kept = run.totals()["chunks"]
                    raise type(err)(
                        f"{err} [run directory {run.path}: {kept} of {n_chunks} chunk(s) are "
                        "complete and kept; fix the cause and call simulate again with the same "
                        "store (or `causalgia resume DIR`) to evaluate only the missing chunks]"
                    ) from err
            raise
    if fingerprint is None:
        fingerprint = _model_probe(model, length, timer).digest
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
    names = None if model.outputs is None else model.outputs.names
    table = assemble_table(design, [parts[k] for k in sorted(parts)], ids, names)
    if nonfinite_units:
        table = drop_nonfinite(table)
    dropped = [(int(a), int(b), float(v)) for a, b, v in nonfinite_units]
    return SimulationResult(
        table,
        design.kind,
        design,
        design.seed,
        fingerprint,
        n_forward,
        n_cached=n_cached,
        batch_size=size if size is not None else model.batch_size,
        nonfinite=nonfinite_frame(design, dropped),
        store=None if run is None else run.path,
        units=arm_units(design, dropped) if on_nonfinite == "drop" else None,
        outputs=names,
    )


def _record_failure(run: RunStore, err: BaseException) -> None:
    with contextlib.suppress(Exception):  # the original error matters more
        run.mark("failed", "failure", f"{type(err).__name__}: {err}")


def _model_probe(model: Model, length: int, timer: ForwardTimer | None) -> ModelProbe:
    """The model's fingerprint probe, within the timeout when one is set."""
    if timer is None:
        return model.probe(length)
    return timer.call(model.probe, length, where=f"the 16 fingerprint probes of {model.name!r}")


def _ledger_fingerprint(run: RunStore, probe: ModelProbe, identity: dict[str, object]) -> str:
    """The model fingerprint to check against the ledger: the recorded one when this model agrees
    with the recorded probe outputs within floating-point noise, else this model's own.

    A ledger of another run (another design, n, seed, ...) is left to
    :meth:`~causalgia.engine.store.RunStore.begin`, which names the first difference. A model
    that differs by more than the tolerance is refused here, with what was measured; so is any
    other model on a ledger written before probe outputs were recorded (exact comparison).
    """
    old = run.get("identity")
    if old is None or old.get("model_fingerprint") == probe.digest:
        return probe.digest
    if any(old.get(key) != identity[key] for key in IDENTITY_KEYS if key != "model_fingerprint"):
        return probe.digest
    record = run.get("model_probe")
    if record is None:
        why = (
            "its fingerprint differs, and this ledger was written before causalgia recorded "
            "probe outputs, so only an exact match is accepted"
        )
    else:
        recorded = ModelProbe.from_record(old["model_fingerprint"], record)
        if recorded.agrees(probe):
            return recorded.digest
        why = recorded.mismatch(probe)
    raise StoreError(
        f"run directory {run.path} holds a run with model_fingerprint = "
        f"{old['model_fingerprint']!r}, but this run has {probe.digest!r}: the model changed "
        f"(weights, layout, output or N value: {why}), so its completed chunks cannot be "
        f"reused; use a new run directory (or delete {run.db_path})"
    )


def _check_outputs(model: Model, design: Design, cache: object, on_nonfinite: str) -> None:
    """Refuse what several declared outputs do not support yet, before any forward pass."""
    if model.outputs is None:
        return
    unsupported = [
        (design.kind != "paired", "a completely randomized design (use a paired one)"),
        (cache is not None, "a forward cache (it keeps one value per sequence)"),
        (on_nonfinite == "drop", 'on_nonfinite="drop" (units are dropped per output later)'),
    ]
    for refused, what in unsupported:
        if refused:
            raise OptionError(
                f"model {model.name!r} declares {len(model.outputs)} outputs, which do not "
                f"support {what} yet"
            )


def _check_alphabet(model: Model, design: Design) -> None:
    """Refuse backgrounds of another alphabet than the model's, unless it declares it."""
    theirs = design.background.alphabet
    if theirs == model.alphabet or theirs == model.also_accepts:
        return
    mine = model.alphabet.name
    read = "T read as U" if theirs.name == "dna" else "U read as T"
    raise InvalidSequenceError(
        f"model {model.name!r} reads {mine.upper()} (alphabet={mine!r}), but the design's "
        f"backgrounds are {theirs.name.upper()} (alphabet {theirs.name!r}). T and U share one "
        "code, so the model would run, but on sequences it was not declared for. If it is "
        f"meant to, declare as_model(..., alphabet={mine!r}, also_accepts={theirs.name!r}) "
        f'(spec: [model] also_accepts = "{theirs.name}"; {read}); otherwise build the '
        f"backgrounds with alphabet={mine!r}"
    )


def _degenerate(model: Model, design: Design, chunk: ChunkResult, on_degenerate: str) -> None:
    """Raise (or warn) that no intervention of ``chunk`` changed the model's output."""
    rec = chunk.record
    where = f"chunk {rec.number} (backgrounds {rec.first_id}..{rec.stop_id - 1})"
    if design.kind == "paired":
        seen = (
            f"none of the {chunk.edited} edited sequences changed the model's output (every "
            "ICE is exactly 0)"
        )
    else:
        seen = f"all {rec.stop_id - rec.first_id} outputs are the same number"
    alphabet = design.background.alphabet.name
    message = (
        f"degenerate study: in {where}, {seen}, so every ACE would read as 'no effect'. "
        f"Likely causes: the one-hot layout (declared {model.layout!r}; PyTorch Conv1d reads "
        f"'NCL', Keras 'NLC'), the alphabet (declared {model.alphabet.name!r}, backgrounds "
        f"{alphabet!r}) or the output functional ({model.output!r}) of model {model.name!r}. "
        "Check the declaration (as_model or the spec's [model] table); if the model truly "
        "ignores these edits, simulate(..., on_degenerate='warn') runs anyway"
    )
    if on_degenerate == "raise":
        raise DegenerateStudyError(message)
    warnings.warn(message, RuntimeWarning, stacklevel=4)
