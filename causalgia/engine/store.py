"""The run store: a SQLite ledger of one run and of every completed chunk.

A run directory holds ``ledger.sqlite`` (WAL mode, ``synchronous=NORMAL``). Its ``meta`` table
records who the run is (spec, design fingerprint, seed, model fingerprint, package versions,
chosen batch size); its ``chunks`` table holds, for every completed chunk of backgrounds, the
model outputs of that chunk as one ``.npy`` blob with its sha256; ``nonfinite`` lists every
unit dropped for a non-finite output; ``events`` logs starts, resumes, retries and failures.

Why rows inside SQLite rather than shard files beside a ledger: a chunk's outputs and the
ledger line saying "chunk k is done" are written in *one* transaction, so there is no moment
at which one exists without the other. A process killed at any instant (``kill -9`` included)
leaves either the whole chunk or nothing; the write-ahead log is replayed on the next open. There
are no orphaned or half-written files to detect, no ``os.replace`` ordering to get right and no
second fsync per chunk; the outputs of a chunk are small (8 bytes per forward pass) next to the
work that produced them. Only the driving process writes; Dask workers return chunks to it.

Why ``synchronous=NORMAL``: in WAL mode a commit is then durable against the process dying
(``kill -9``, out of memory, a pre-empted job) because it is in the OS's page cache, and the
database stays consistent even after a power cut, which can only lose the last commits; those
chunks are simply evaluated again on resume. ``FULL`` would add an fsync per chunk (about
3.7 ms here, 3 % of a 2,048-sequence chunk of a 60 µs-per-sequence model) for no gain in what a
resume produces.

The file itself (schema, lock, safe opening, damage messages) is
:mod:`causalgia.engine.ledgerfile`; copying the verified chunks of a damaged ledger into a fresh
one is :mod:`causalgia.engine.salvage`. The forward cache lives in
:mod:`causalgia.engine.forwardcache` (its names are importable from here too).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._files import atomic_path
from ..errors import LedgerError, OptionError, StoreError
from .forwardcache import CACHE_FILE, ForwardCache, open_cache, sequence_digests
from .ledgerfile import (
    LOCK_FILE,
    SCHEMA_VERSION,
    STORE_FILE,
    RunLock,
    chunk_layout,
    connect_ledger,
    decode_values,
    encode_values,
    ledger_error,
    salvage_hint,
    shape_problem,
)
from .tables import arm_table, chunk_table

if TYPE_CHECKING:  # pragma: no cover
    from ..experiment.designs import Design

__all__ = [
    "CACHE_FILE",
    "IDENTITY_KEYS",
    "LOCK_FILE",
    "SCHEMA_VERSION",
    "STORE_FILE",
    "ChunkRecord",
    "ForwardCache",
    "RunLock",
    "RunStore",
    "open_cache",
    "sequence_digests",
    "versions",
]

ARM_BLOCK_ROWS = 1_000_000  #: rows of one :meth:`RunStore.arm_frames` block (about 100 MB)
IDENTITY_KEYS = ("schema", "kind", "n", "seed", "design_fingerprint", "model_fingerprint")
_EVENT_SQL = "INSERT INTO events (time, pid, kind, chunk, message) VALUES (?, ?, ?, ?, ?)"
_META_SQL = "INSERT OR REPLACE INTO meta VALUES (?, ?)"


def _now() -> str:
    return datetime.now(UTC).isoformat()


def versions() -> dict[str, str]:
    """Package versions of a run (ledger, manifest, validation raw results) and the platform.

    Returns
    -------
    dict of str to str
        Versions of causalgia, Python, numpy, scipy, pandas and statsmodels, and the platform.

    Examples
    --------
    >>> sorted(versions())
    ['causalgia', 'numpy', 'pandas', 'platform', 'python', 'scipy', 'statsmodels']
    """
    import scipy
    import statsmodels

    from .. import __version__

    return {
        "causalgia": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "pandas": pd.__version__,
        "statsmodels": statsmodels.__version__,
        "platform": platform.platform(),
    }


@dataclass(frozen=True)
class ChunkRecord:
    """One completed chunk of backgrounds ``first_id .. stop_id - 1`` as the ledger keeps it.

    ``values`` is float64 of shape ``(rows, stop_id - first_id)``: in a paired design row 0 is
    f(x) and row 1 + a is f(do_a(x)); in a randomized design row 0 is the assigned arm index
    (-1 = control) and row 1 is f. ``nonfinite`` holds ``(arm index, background id, value)``
    for every scored sequence whose output was NaN or infinite (arm -1 = the shared control).

    Examples
    --------
    >>> rec = ChunkRecord(0, 0, 2, np.zeros((2, 2)), n_forward=4)
    >>> rec.values.shape
    (2, 2)
    """

    number: int
    first_id: int
    stop_id: int
    values: np.ndarray
    n_forward: int
    n_cached: int = 0
    nonfinite: tuple[tuple[int, int, float], ...] = ()
    seconds: float = 0.0


class RunStore:
    """The ledger of one run in a run directory (``ledger.sqlite``, SQLite in WAL mode).

    Opening a store for writing takes an exclusive lock (``ledger.lock``, released by the OS if
    the process dies), so two processes never drive one run, and checks the ledger (tables,
    schema version, SQLite's ``quick_check``). ``readonly=True`` opens an existing ledger
    without the lock, e.g. to watch a run in progress. A damaged, foreign or unwritable ledger
    raises :class:`~causalgia.errors.StoreError` naming the run directory and what to do; no
    ``sqlite3`` error escapes.

    Parameters
    ----------
    run_dir : str or Path
        The run directory (created when missing, unless ``readonly``).
    readonly : bool
        Open an existing ledger for reading only.

    Examples
    --------
    >>> import tempfile
    >>> with RunStore(tempfile.mkdtemp()) as store:
    ...     store.begin({"schema": 1, "kind": "paired", "n": 4, "seed": 1,
    ...                  "design_fingerprint": "d", "model_fingerprint": "m"})
    ...     store.put_chunk(ChunkRecord(0, 0, 4, np.zeros((2, 4)), n_forward=8))
    ...     sorted(store.completed())
    True
    [0]
    """

    def __init__(self, run_dir: str | Path, *, readonly: bool = False) -> None:
        self.path = Path(run_dir)
        self.db_path = self.path / STORE_FILE
        self.readonly = readonly
        self._lock: RunLock | None = None
        self._db: sqlite3.Connection | None = None
        self._layout: tuple[str | None, int | None, int | None] | None = None  # _chunk_layout
        if not readonly:
            try:
                self.path.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise StoreError(
                    f"cannot create run directory {self.path}: {err.strerror or err}"
                ) from None
            self._lock = RunLock(self.path)
        try:
            self._db = connect_ledger(self.path, readonly=readonly)
        except BaseException:
            self.close()
            raise

    # -- resource handling ------------------------------------------------------------------
    def close(self) -> None:
        """Close the connection and release the lock."""
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RunStore({str(self.path)!r})"

    @contextmanager
    def _guard(self) -> Iterator[sqlite3.Connection]:
        """The connection; any SQLite or JSON failure becomes a StoreError naming the ledger."""
        if self._db is None:
            raise StoreError(f"run directory {self.path}: the ledger is closed")
        try:
            yield self._db
        except (sqlite3.Error, ValueError) as err:
            if isinstance(err, sqlite3.IntegrityError):
                raise
            raise ledger_error(self.path, err) from None

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._guard() as db:
            return db.execute(sql, params).fetchall()

    def _write(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        """Run ``statements`` in one IMMEDIATE transaction (all or nothing)."""
        if self.readonly:
            raise StoreError(f"run directory {self.path}: the ledger was opened read-only")
        with self._guard() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                for sql, params in statements:
                    db.execute(sql, params)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    # -- meta -------------------------------------------------------------------------------
    def get(self, key: str, default: Any = None) -> Any:
        """A JSON value from the ``meta`` table (``default`` when absent).

        Parameters
        ----------
        key : str
            The meta key.
        default : object, optional
            Returned when ``key`` is not recorded (default None).

        Returns
        -------
        object
            The decoded JSON value, or ``default``.
        """
        rows = self._rows("SELECT value FROM meta WHERE key = ?", (key,))
        with self._guard():
            return default if not rows else json.loads(rows[0][0])

    def set(self, key: str, value: Any) -> None:
        """Record a JSON-safe value in the ``meta`` table.

        Parameters
        ----------
        key : str
            The meta key (an existing value is replaced).
        value : object
            A JSON-safe value.
        """
        self._write([(_META_SQL, (key, json.dumps(value)))])

    def record(self, key: str, value: Any, kind: str, message: str) -> None:
        """Record a meta value and log an event about it, in one transaction.

        Parameters
        ----------
        key : str
            The meta key (an existing value is replaced).
        value : object
            A JSON-safe value.
        kind : str
            The event kind.
        message : str
            The event message.

        Examples
        --------
        >>> import tempfile
        >>> with RunStore(tempfile.mkdtemp()) as store:
        ...     store.record("note", {"a": 1}, "note", "a note")
        ...     store.get("note"), list(store.events().kind)
        ({'a': 1}, ['note'])
        """
        self._write([(_META_SQL, (key, json.dumps(value))), self._event_sql(kind, None, message)])

    def begin(self, identity: Mapping[str, Any], info: Mapping[str, Any] | None = None) -> bool:
        """Record the identity of a new run, or check that it matches the recorded one.

        Returns True for a new run, False when resuming. ``identity`` must hold every key of
        ``IDENTITY_KEYS``; a mismatch raises :class:`~causalgia.errors.StoreError` naming the
        run directory, the key and both values, because completed chunks of another design,
        seed or model cannot be reused. ``info`` (spec, versions, ...) is recorded on a new run.

        Parameters
        ----------
        identity : mapping
            The run's identity: every key of ``IDENTITY_KEYS``.
        info : mapping, optional
            More meta values recorded on a new run (ignored when resuming).

        Returns
        -------
        bool
            True for a new run, False when resuming a recorded one.
        """
        missing = [key for key in IDENTITY_KEYS if key not in identity]
        if missing:
            raise StoreError(f"run directory {self.path}: identity lacks {missing}")
        self._layout = None
        old = self.get("identity")
        if old is None:
            rows = [("identity", dict(identity)), ("versions", versions()), ("created", _now())]
            rows += list((info or {}).items())
            self._write(
                [(_META_SQL, (k, json.dumps(v))) for k, v in rows]
                + [self._event_sql("start", None, f"new run, identity {dict(identity)}")]
            )
            return True
        for key in IDENTITY_KEYS:
            if old.get(key) != identity[key]:
                what = {
                    "model_fingerprint": "the model changed (weights, layout, output or N value)",
                    "design_fingerprint": "the design changed (background, arms or their motifs)",
                }.get(key, f"the run's {key} changed")
                raise StoreError(
                    f"run directory {self.path} holds a run with {key} = {old.get(key)!r}, but "
                    f"this run has {identity[key]!r}: {what}, so its completed chunks cannot be "
                    f"reused; use a new run directory (or delete {self.db_path})"
                )
        done = len(self.completed())
        self.mark("running", "resume", f"resuming with {done} completed chunk(s)")
        return False

    def reset(self) -> None:
        """Forget a recorded run (meta, chunks, non-finite units) before a fresh one; the event
        log is kept and notes the reset."""
        if not self._rows("SELECT 1 FROM meta LIMIT 1") and not self._rows(
            "SELECT 1 FROM chunks LIMIT 1"
        ):
            return
        self._write(
            [
                ("DELETE FROM chunks", ()),
                ("DELETE FROM nonfinite", ()),
                ("DELETE FROM meta", ()),
                self._event_sql("reset", None, "ledger cleared for a fresh run"),
            ]
        )
        self._layout = None

    # -- chunks -----------------------------------------------------------------------------
    def put_chunk(self, record: ChunkRecord, labels: Sequence[tuple[str, str]] = ()) -> None:
        """Commit one completed chunk, with its non-finite units, in a single transaction.

        ``labels[a]`` is ``(experiment, label)`` of arm ``a``, written beside each non-finite
        unit for people reading the ledger.

        Parameters
        ----------
        record : ChunkRecord
            The completed chunk.
        labels : sequence of (str, str), optional
            ``(experiment, label)`` of each arm, by arm index (default: none).
        """
        blob = encode_values(np.asarray(record.values, dtype=np.float64))
        statements: list[tuple[str, Sequence[Any]]] = [
            (
                "INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.number,
                    record.first_id,
                    record.stop_id,
                    record.n_forward,
                    record.n_cached,
                    len(record.nonfinite),
                    blob,
                    hashlib.sha256(blob).hexdigest(),
                    float(record.seconds),
                    _now(),
                ),
            )
        ]
        for arm, background_id, value in record.nonfinite:
            if arm < 0:
                experiment, label = "control", "control"
            else:
                experiment, label = labels[arm] if arm < len(labels) else ("", f"arm {arm}")
            statements.append(
                (
                    "INSERT INTO nonfinite VALUES (?, ?, ?, ?, ?, ?)",
                    (record.number, arm, experiment, label, background_id, value),
                )
            )
        try:
            self._write(statements)
        except sqlite3.IntegrityError:
            raise StoreError(
                f"run directory {self.path}: chunk {record.number} is already in the ledger"
            ) from None

    def completed(self) -> dict[int, tuple[int, int]]:
        """Completed chunks: ``{number: (first_id, stop_id)}``.

        Returns
        -------
        dict of int to (int, int)
            The background id range of every completed chunk, by chunk number.
        """
        rows = self._rows("SELECT number, first_id, stop_id FROM chunks")
        return {int(n): (int(a), int(b)) for n, a, b in rows}

    def chunk_values(self, number: int) -> np.ndarray:
        """The stored outputs of chunk ``number``, checked against their sha256 and shape.

        Parameters
        ----------
        number : int
            The chunk number.

        Returns
        -------
        ndarray
            float64 ``(rows, backgrounds)``, as in :class:`ChunkRecord`.

        Raises
        ------
        StoreError
            When the chunk is not in the ledger.
        LedgerError
            When its outputs fail their sha256 or shape check.
        """
        rows = self._rows(
            "SELECT CAST(data AS BLOB), sha256, first_id, stop_id FROM chunks WHERE number = ?",
            (number,),
        )
        if not rows:
            raise StoreError(f"run directory {self.path}: chunk {number} is not in the ledger")
        blob, digest, first, stop = rows[0]
        if hashlib.sha256(blob).hexdigest() != digest:
            raise LedgerError(
                f"run directory {self.path}: chunk {number} fails its sha256 check (damaged "
                f"ledger); {salvage_hint(self.path)}"
            )
        with self._guard():
            values = decode_values(blob)
        problem = shape_problem(values.shape, first, stop, *self._chunk_layout())
        if problem is not None:
            raise LedgerError(
                f"run directory {self.path}: chunk {number} holds {problem} (damaged ledger); "
                f"{salvage_hint(self.path)}"
            )
        return values

    def totals(self) -> dict[str, int]:
        """Sums over completed chunks: chunks, n_forward, n_cached, n_nonfinite.

        Returns
        -------
        dict of str to int
            ``chunks``, ``n_forward``, ``n_cached`` and ``n_nonfinite``.
        """
        row = self._rows(
            "SELECT COUNT(*), COALESCE(SUM(n_forward), 0), COALESCE(SUM(n_cached), 0), "
            "COALESCE(SUM(n_nonfinite), 0) FROM chunks"
        )[0]
        names = ("chunks", "n_forward", "n_cached", "n_nonfinite")
        return dict(zip(names, map(int, row), strict=True))

    def nonfinite(self) -> pd.DataFrame:
        """Units with a non-finite output: chunk, arm, experiment, label, background_id, value.

        Returns
        -------
        pandas.DataFrame
            One row per unit, in chunk order (arm -1 is the shared control).
        """
        with self._guard() as db:
            return pd.read_sql_query(
                "SELECT chunk, arm, experiment, label, background_id, value FROM nonfinite "
                "ORDER BY chunk, rowid",
                db,
            )

    # -- events -----------------------------------------------------------------------------
    @staticmethod
    def _event_sql(kind: str, chunk: int | None, message: str) -> tuple[str, Sequence[Any]]:
        return (_EVENT_SQL, (_now(), os.getpid(), kind, chunk, message))

    def event(self, kind: str, message: str, chunk: int | None = None) -> None:
        """Log an event (start, resume, probe, retry, failure, complete, ...).

        Parameters
        ----------
        kind : str
            The event kind.
        message : str
            What happened.
        chunk : int, optional
            The chunk concerned (default: none).
        """
        self._write([self._event_sql(kind, chunk, message)])

    def mark(self, status: str, kind: str, message: str, chunk: int | None = None) -> None:
        """Set the run's status and log an event, in one transaction.

        Parameters
        ----------
        status : str
            The new status (e.g. ``"running"``), recorded as meta ``status``.
        kind : str
            The event kind.
        message : str
            What happened.
        chunk : int, optional
            The chunk concerned (default: none).
        """
        self._write(
            [(_META_SQL, ("status", json.dumps(status))), self._event_sql(kind, chunk, message)]
        )

    def record_probe(self, batch_size: int, message: str) -> None:
        """Record the batch size chosen by the probe (reused on resume) and its timings.

        Parameters
        ----------
        batch_size : int
            The chosen batch size, recorded as meta ``batch_size``.
        message : str
            The probe's timings, logged as a ``"probe"`` event.
        """
        self._write(
            [(_META_SQL, ("batch_size", json.dumps(batch_size))),
             self._event_sql("probe", None, message)]
        )  # fmt: skip

    def events(self) -> pd.DataFrame:
        """The event log: time, pid, kind, chunk, message.

        Returns
        -------
        pandas.DataFrame
            One row per event, oldest first.
        """
        with self._guard() as db:
            return pd.read_sql_query(
                "SELECT time, pid, kind, chunk, message FROM events ORDER BY id", db
            )

    def _chunk_layout(self) -> tuple[str | None, int | None, int | None]:
        """``(kind, arms, outputs)`` of this run's chunks, read once."""
        if self._layout is None:
            self._layout = chunk_layout(
                {key: self.get(key) for key in ("identity", "arms", "model_outputs")}
            )
        return self._layout

    # -- checks and tables ------------------------------------------------------------------
    def check(self) -> list[str]:
        """Consistency problems of the ledger (an empty list when it is sound).

        Checks SQLite's own integrity, every chunk's sha256 and shape, and that chunk ranges
        are those of the recorded chunk plan (no overlap, no gap inside a chunk).

        Returns
        -------
        list of str
            One sentence per problem found.
        """
        problems = []
        status = self._rows("PRAGMA integrity_check")[0][0]
        if status != "ok":
            problems.append(f"sqlite integrity_check: {status}")
        per = self.get("per_chunk")
        identity = self.get("identity") or {}
        n = identity.get("n")
        with self._guard() as db:
            rows = db.execute(
                "SELECT number, first_id, stop_id, CAST(data AS BLOB), sha256 FROM chunks "
                "ORDER BY number"
            )
            for number, first, stop, blob, digest in rows:
                if hashlib.sha256(blob).hexdigest() != digest:
                    problems.append(f"chunk {number}: sha256 mismatch")
                    continue
                if per is not None and n is not None:
                    want = (number * per, min(n, (number + 1) * per))
                    if (first, stop) != want:
                        problems.append(
                            f"chunk {number}: backgrounds {first}..{stop} != plan {want}"
                        )
                problem = shape_problem(
                    decode_values(blob).shape, first, stop, *self._chunk_layout()
                )
                if problem is not None:
                    problems.append(f"chunk {number}: {problem}")
        return problems

    def iter_frames(self, design: Design) -> Iterator[pd.DataFrame]:
        """The unit table chunk by chunk (memory bounded by one chunk), for ``design``.

        Within a chunk, rows are ordered as in :func:`~causalgia.engine.simulate`'s table
        (arm-major); dropped non-finite units are left out, as there.

        Parameters
        ----------
        design : Design
            The design the run evaluates (it gives the arms and their parameters).

        Yields
        ------
        pandas.DataFrame
            The unit table of one completed chunk, in chunk order.
        """
        names = self.outputs()
        for number, (first, stop) in sorted(self.completed().items()):
            yield chunk_table(design, np.arange(first, stop), self.chunk_values(number), names)

    def arm_frames(self, design: Design, rows: int = ARM_BLOCK_ROWS) -> Iterator[pd.DataFrame]:
        """The paired ICE table in blocks of whole arms, about ``rows`` rows each, in arm order.

        Concatenated, the blocks are the table :func:`~causalgia.engine.simulate` returns with
        ``collect=True`` (same rows, order and values), but memory is bounded by one block:
        the estimators, controls and reports of ``causalgia run`` read a large study this way.

        Parameters
        ----------
        design : Design
            The paired design the run evaluates.
        rows : int
            Rows per block at most (one arm at least).

        Yields
        ------
        pandas.DataFrame
            The rows of consecutive arms.
        """
        per = max(1, rows // max(design.n, 1))
        for first in range(0, len(design.arms), per):
            yield self.arm_frame(design, range(first, min(len(design.arms), first + per)))

    def arm_frame(self, design: Design, arms: Iterable[int]) -> pd.DataFrame:
        """The paired ICE table's rows of the given arms (every completed chunk), in arm order.

        Parameters
        ----------
        design : Design
            The paired design the run evaluates.
        arms : iterable of int
            Arm indices, in increasing order.

        Returns
        -------
        pandas.DataFrame
            Those arms' rows, as in the whole table.
        """
        if design.kind != "paired" or self.outputs() is not None:
            raise OptionError(
                "arm blocks are for paired designs of one output functional (a randomized "
                "table is n rows; a model with several outputs is read with iter_frames)"
            )
        wanted = np.asarray(list(arms), dtype=np.int64)
        rows = np.concatenate([[0], wanted + 1])  # the control, then the wanted arms
        values = [np.empty((len(rows), 0))]
        ids = [np.empty(0, dtype=np.int64)]
        for number, (first, stop) in sorted(self.completed().items()):
            values.append(self.chunk_values(number)[rows])
            ids.append(np.arange(first, stop, dtype=np.int64))
        stacked = np.concatenate(values, axis=1)
        return arm_table(design, wanted, stacked[0], stacked[1:], np.concatenate(ids))

    def outputs(self) -> tuple[str, ...] | None:
        """Names of the run's declared outputs (``as_model(..., outputs=...)``), or None.

        Returns
        -------
        tuple of str or None
            None for a model with one output functional.
        """
        names = self.get("model_outputs")
        return None if names is None else tuple(names)

    def completed_range(self, number: int) -> tuple[int, int]:
        """``(first_id, stop_id)`` of a completed chunk.

        Parameters
        ----------
        number : int
            The chunk number.

        Returns
        -------
        tuple of (int, int)
            Its first background id and one past its last.
        """
        rows = self._rows("SELECT first_id, stop_id FROM chunks WHERE number = ?", (number,))
        if not rows:
            raise StoreError(f"run directory {self.path}: chunk {number} is not in the ledger")
        return int(rows[0][0]), int(rows[0][1])

    def write_parquet(self, path: str | Path, design: Design) -> Path:
        """Stream the unit table to one parquet file, one row group per chunk (needs pyarrow).

        The file is written to a temporary name and moved into place with ``os.replace``, so a
        crash never leaves a truncated file under the final name.

        Parameters
        ----------
        path : str or Path
            The parquet file to write.
        design : Design
            The design the run evaluates.

        Returns
        -------
        Path
            ``path``.

        Raises
        ------
        StoreError
            When no chunk is completed.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = Path(path)
        with atomic_path(path) as tmp:
            writer = None
            try:
                for frame in self.iter_frames(design):
                    table = pa.Table.from_pandas(frame, preserve_index=False)
                    if writer is None:
                        writer = pq.ParquetWriter(tmp, table.schema)
                    writer.write_table(table.cast(writer.schema))
            finally:
                if writer is not None:
                    writer.close()
            if writer is None:
                raise StoreError(f"run directory {self.path}: no completed chunks to write")
        return path

    def summary(self) -> str:
        """A few lines on the run: identity, progress and events.

        Returns
        -------
        str
            Three lines: status, chunk and forward-pass counts, event counts by kind.

        Examples
        --------
        >>> import tempfile
        >>> with RunStore(tempfile.mkdtemp()) as store:
        ...     print(store.summary().splitlines()[1])
        0 of ? chunk(s) completed; 0 forward passes, 0 cached, 0 non-finite unit(s)
        """
        t = self.totals()
        events = self.events()
        counts = events["kind"].value_counts().to_dict() if len(events) else {}
        return "\n".join(
            [
                f"run directory {self.path}: status {self.get('status', 'new')}",
                f"{t['chunks']} of {self.get('n_chunks', '?')} chunk(s) completed; "
                f"{t['n_forward']} forward passes, {t['n_cached']} cached, "
                f"{t['n_nonfinite']} non-finite unit(s)",
                f"events: {counts}",
            ]
        )
