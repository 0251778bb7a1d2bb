"""Chunks of a design evaluated on a Dask cluster (``simulate(..., client=...)``).

The model is either scattered once to every worker or, when it was built from an import path
(:func:`causalgia.engine.from_import_path`), rebuilt once per worker process and checked against
the driver's fingerprint. Chunks are submitted with a bounded number in flight and yielded as
they complete; because every draw is keyed by its unit, the order does not change the table.
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
from .chunks import ChunkResult, compute_chunk
from .models import Model

if TYPE_CHECKING:  # pragma: no cover
    from distributed import Client

_WORKER_MODELS: dict[tuple[Any, str], Model] = {}
_WORKER_LOCK = threading.Lock()


def _worker_model(shipped: Model, fingerprint: str, length: int) -> Model:
    """The model on a worker: built once per worker process from its import path."""
    if shipped.source is None:
        return shipped  # scattered once to every worker: already a model
    key = (shipped.source, fingerprint)
    with _WORKER_LOCK:
        model = _WORKER_MODELS.get(key)
        if model is None:
            built = shipped.source.load()
            fn = built.fn if isinstance(built, Model) else built
            model = replace(shipped, fn=fn)
            got = model.fingerprint(length)
            if got != fingerprint:
                raise SimulationError(
                    f"the model built from {shipped.source.target!r} on this worker has "
                    f"fingerprint {got}, but the driver's has {fingerprint}: the workers do not "
                    "see the same code or weights"
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
    fingerprint: str,
) -> ChunkResult:
    model = _worker_model(shipped, fingerprint, design.background.length)
    return compute_chunk(model, design, number, first, stop, size=size, retries=retries)


def dask_chunks(
    client: Client,
    model: Model,
    design: Design,
    numbers: list[int],
    bounds: Callable[[int], tuple[int, int]],
    size: int,
    retries: int,
    fingerprint: str,
) -> Iterator[ChunkResult]:
    """Chunks evaluated on the cluster, yielded as they complete (a bounded number in flight)."""
    from distributed import as_completed

    if model.source is not None:
        shipped: Any = replace(model, fn=None)  # workers import and build it themselves
    else:
        shipped = client.scatter(model, broadcast=True, hash=False)
    shared = client.scatter(design, broadcast=True, hash=False)
    window = 2 * max(1, sum(client.nthreads().values()))
    token = f"{fingerprint}-{uuid.uuid4().hex[:12]}"  # unique per call: no stale task reuse
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
            fingerprint,
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
