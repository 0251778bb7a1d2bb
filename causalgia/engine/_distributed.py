"""Chunks of a design evaluated on a Dask cluster (``simulate(..., client=...)``).

The model is either scattered once to every worker or, when it was built from an import path
(:func:`causalgia.engine.from_import_path`), rebuilt once per worker process and checked against
the driver's fingerprint probe: its declaration exactly, its probe outputs within floating-point
noise (:meth:`~causalgia.engine.models.ModelProbe.agrees`), since a float32 model may round
differently under another thread count. Chunks are submitted with a bounded number in flight
and yielded as they complete; because every draw is keyed by its unit, the order does not change
the table.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from itertools import islice
from typing import TYPE_CHECKING, Any

from ..errors import SimulationError
from ..experiment.designs import Design
from .chunks import ChunkResult, ForwardTimer, compute_chunk
from .models import Model, ModelProbe

if TYPE_CHECKING:  # pragma: no cover
    from distributed import Client

_WORKER_MODELS: dict[tuple[Any, str], Model] = {}
_WORKER_LOCK = threading.Lock()


def _worker_model(shipped: Model, expected: ModelProbe, length: int) -> Model:
    """The model on a worker: built once per worker process from its import path."""
    if shipped.source is None:
        return shipped  # scattered once to every worker: already a model
    key = (shipped.source, expected.digest)
    with _WORKER_LOCK:
        model = _WORKER_MODELS.get(key)
        if model is None:
            built = shipped.source.load()
            fn = built.fn if isinstance(built, Model) else built
            model = replace(shipped, fn=fn)
            got = model.probe(length)
            if not expected.agrees(got):
                raise SimulationError(
                    f"the model built from {shipped.source.target!r} on this worker has "
                    f"fingerprint {got.digest}, but the driver's has {expected.digest}: the "
                    f"workers do not see the same code or weights ({expected.mismatch(got)})"
                )
            _WORKER_MODELS[key] = model
    return model


def _remote_chunk(
    shipped: Model,
    design: Design,
    number: int,
    first: int,
    stop: int,
    size: int,
    retries: int,
    expected: ModelProbe,
    timeout: float | None,
) -> ChunkResult:
    model = _worker_model(shipped, expected, design.background.length)
    if timeout is None:
        return compute_chunk(model, design, number, first, stop, size=size, retries=retries)
    timer = ForwardTimer(timeout)
    try:
        return compute_chunk(
            model, design, number, first, stop, size=size, retries=retries, timer=timer
        )
    finally:
        timer.close()


def dask_chunks(
    client: Client,
    model: Model,
    design: Design,
    numbers: list[int],
    bounds: Callable[[int], tuple[int, int]],
    size: int,
    retries: int,
    probe: ModelProbe,
    timeout: float | None = None,
) -> Iterator[ChunkResult]:
    """Chunks evaluated on the cluster, yielded as they complete (a bounded number in flight).

    ``probe`` is the driver's fingerprint probe, which a model rebuilt on a worker must agree
    with; ``timeout`` bounds every forward pass on the workers.
    """
    from distributed import as_completed

    if model.source is not None:
        shipped: Any = replace(model, fn=None)  # workers import and build it themselves
    else:
        shipped = client.scatter(model, broadcast=True, hash=False)
    shared = client.scatter(design, broadcast=True, hash=False)
    window = 2 * max(1, sum(client.nthreads().values()))
    token = f"{probe.digest}-{uuid.uuid4().hex[:12]}"  # unique per call: no stale task reuse
    todo = iter(numbers)

    def submit(number: int) -> Any:
        first, stop = bounds(number)
        return client.submit(
            _remote_chunk,
            shipped,
            shared,
            number,
            first,
            stop,
            size,
            retries,
            probe,
            timeout,
            key=f"causalgia-chunk-{token}-{number}",
            pure=False,
        )

    running = as_completed([submit(n) for n in islice(todo, window)])
    try:
        for future in running:
            chunk = future.result()
            future.release()
            yield chunk
            number = next(todo, None)
            if number is not None:
                running.add(submit(number))
    finally:
        leftover = list(running.futures)
        if leftover:
            client.cancel(leftover)
