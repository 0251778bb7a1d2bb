"""The run store: a SQLite ledger of one run and of every completed chunk, and a forward cache.

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

:class:`ForwardCache` is a second SQLite file keyed by ``(model fingerprint, sha of the sequence
bytes)``: a re-run, or another design over the same backgrounds, skips forward passes already
made. A different model (weights, layout, output functional, N value) has another fingerprint,
so its lookups never see the old model's outputs.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import StoreError
from .tables import chunk_table

if TYPE_CHECKING:  # pragma: no cover
    from ..experiment.designs import Design

STORE_FILE = "ledger.sqlite"
LOCK_FILE = "ledger.lock"
CACHE_FILE = "forward_cache.sqlite"
SCHEMA_VERSION = 1
IDENTITY_KEYS = ("schema", "kind", "n", "seed", "design_fingerprint", "model_fingerprint")
_SQL_VARS = 500

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chunks (
    number INTEGER PRIMARY KEY,
    first_id INTEGER NOT NULL,
    stop_id INTEGER NOT NULL,
    n_forward INTEGER NOT NULL,
    n_cached INTEGER NOT NULL,
    n_nonfinite INTEGER NOT NULL,
    data BLOB NOT NULL,
    sha256 TEXT NOT NULL,
    seconds REAL NOT NULL,
    finished TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS nonfinite (
    chunk INTEGER NOT NULL,
    arm INTEGER NOT NULL,
    experiment TEXT NOT NULL,
    label TEXT NOT NULL,
    background_id INTEGER NOT NULL,
    value REAL
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,
    pid INTEGER NOT NULL,
    kind TEXT NOT NULL,
    chunk INTEGER,
    message TEXT NOT NULL
);
"""


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _encode(values: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(values), allow_pickle=False)
    return buf.getvalue()


def _decode(blob: bytes) -> np.ndarray:
    return np.load(io.BytesIO(blob), allow_pickle=False)


def versions() -> dict[str, str]:
    """Package versions of a run (ledger, manifest, validation raw results) and the platform.

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
    the process dies), so two processes never drive one run. ``readonly=True`` opens an
    existing ledger without the lock, e.g. to watch a run in progress.

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
        self._lock_fd: int | None = None
        if readonly:
            if not self.db_path.is_file():
                raise StoreError(f"run directory {self.path} has no ledger ({STORE_FILE})")
            uri = f"file:{self.db_path.resolve()}?mode=ro"
            self._db = sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None)
            return
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StoreError(f"cannot create run directory {self.path}: {err}") from None
        self._lock()
        try:
            self._db = sqlite3.connect(self.db_path, timeout=30, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # see the module docstring
            self._db.executescript(f"BEGIN IMMEDIATE;{_SCHEMA}COMMIT;")  # one transaction
        except sqlite3.DatabaseError as err:
            self._unlock()
            raise StoreError(
                f"run directory {self.path}: {STORE_FILE} is not usable: {err}"
            ) from None

    # -- resource handling ------------------------------------------------------------------
    def _lock(self) -> None:
        import fcntl

        fd = os.open(self.path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise StoreError(
                f"run directory {self.path} is in use by another process (pid {holder}); wait "
                "for it to finish or stop it before resuming"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._lock_fd = fd

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = None

    def close(self) -> None:
        """Close the connection and release the lock."""
        db = getattr(self, "_db", None)
        if db is not None:
            db.close()
            self._db = None  # type: ignore[assignment]
        self._unlock()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RunStore({str(self.path)!r})"

    def _write(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        """Run ``statements`` in one IMMEDIATE transaction (all or nothing)."""
        if self.readonly:
            raise StoreError(f"run directory {self.path}: the ledger was opened read-only")
        db = self._db
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
        """A JSON value from the ``meta`` table (``default`` when absent)."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def set(self, key: str, value: Any) -> None:
        """Record a JSON-safe value in the ``meta`` table."""
        self._write([("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))])

    def begin(self, identity: Mapping[str, Any], info: Mapping[str, Any] | None = None) -> bool:
        """Record the identity of a new run, or check that it matches the recorded one.

        Returns True for a new run, False when resuming. ``identity`` must hold every key of
        ``IDENTITY_KEYS``; a mismatch raises :class:`~causalgia.errors.StoreError` naming the
        run directory, the key and both values, because completed chunks of another design,
        seed or model cannot be reused. ``info`` (spec, versions, ...) is recorded on a new run.
        """
        missing = [key for key in IDENTITY_KEYS if key not in identity]
        if missing:
            raise StoreError(f"run directory {self.path}: identity lacks {missing}")
        old = self.get("identity")
        if old is None:
            rows = [("identity", dict(identity)), ("versions", versions()), ("created", _now())]
            rows += list((info or {}).items())
            self._write(
                [("INSERT OR REPLACE INTO meta VALUES (?, ?)", (k, json.dumps(v))) for k, v in rows]
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
        if self.get("identity") is None and self.get("spec") is None:
            return
        self._write(
            [
                ("DELETE FROM chunks", ()),
                ("DELETE FROM nonfinite", ()),
                ("DELETE FROM meta", ()),
                self._event_sql("reset", None, "ledger cleared for a fresh run"),
            ]
        )

    # -- chunks -----------------------------------------------------------------------------
    def put_chunk(self, record: ChunkRecord, labels: Sequence[tuple[str, str]] = ()) -> None:
        """Commit one completed chunk, with its non-finite units, in a single transaction.

        ``labels[a]`` is ``(experiment, label)`` of arm ``a``, written beside each non-finite
        unit for people reading the ledger.
        """
        blob = _encode(np.asarray(record.values, dtype=np.float64))
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
        """Completed chunks: ``{number: (first_id, stop_id)}``."""
        rows = self._db.execute("SELECT number, first_id, stop_id FROM chunks").fetchall()
        return {int(n): (int(a), int(b)) for n, a, b in rows}

    def chunk_values(self, number: int) -> np.ndarray:
        """The stored outputs of chunk ``number``, checked against their sha256."""
        row = self._db.execute(
            "SELECT CAST(data AS BLOB), sha256 FROM chunks WHERE number = ?", (number,)
        ).fetchone()
        if row is None:
            raise StoreError(f"run directory {self.path}: chunk {number} is not in the ledger")
        blob, digest = row
        if hashlib.sha256(blob).hexdigest() != digest:
            raise StoreError(
                f"run directory {self.path}: chunk {number} fails its sha256 check (damaged "
                "ledger); delete that row or start a new run directory"
            )
        return _decode(blob)

    def totals(self) -> dict[str, int]:
        """Sums over completed chunks: chunks, n_forward, n_cached, n_nonfinite."""
        row = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(n_forward), 0), COALESCE(SUM(n_cached), 0), "
            "COALESCE(SUM(n_nonfinite), 0) FROM chunks"
        ).fetchone()
        names = ("chunks", "n_forward", "n_cached", "n_nonfinite")
        return dict(zip(names, map(int, row), strict=True))

    def nonfinite(self) -> pd.DataFrame:
        """Units with a non-finite output: chunk, arm, experiment, label, background_id, value."""
        return pd.read_sql_query(
            "SELECT chunk, arm, experiment, label, background_id, value FROM nonfinite "
            "ORDER BY chunk, rowid",
            self._db,
        )

    # -- events -----------------------------------------------------------------------------
    @staticmethod
    def _event_sql(kind: str, chunk: int | None, message: str) -> tuple[str, Sequence[Any]]:
        return (
            "INSERT INTO events (time, pid, kind, chunk, message) VALUES (?, ?, ?, ?, ?)",
            (_now(), os.getpid(), kind, chunk, message),
        )

    def event(self, kind: str, message: str, chunk: int | None = None) -> None:
        """Log an event (start, resume, probe, retry, failure, complete, ...)."""
        self._write([self._event_sql(kind, chunk, message)])

    def mark(self, status: str, kind: str, message: str, chunk: int | None = None) -> None:
        """Set the run's status and log an event, in one transaction."""
        self._write(
            [
                ("INSERT OR REPLACE INTO meta VALUES (?, ?)", ("status", json.dumps(status))),
                self._event_sql(kind, chunk, message),
            ]
        )

    def record_probe(self, batch_size: int, message: str) -> None:
        """Record the batch size chosen by the probe (reused on resume) and its timings."""
        self._write(
            [
                (
                    "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                    ("batch_size", json.dumps(batch_size)),
                ),
                self._event_sql("probe", None, message),
            ]
        )

    def events(self) -> pd.DataFrame:
        """The event log: time, pid, kind, chunk, message."""
        return pd.read_sql_query(
            "SELECT time, pid, kind, chunk, message FROM events ORDER BY id", self._db
        )

    # -- checks and tables ------------------------------------------------------------------
    def check(self) -> list[str]:
        """Consistency problems of the ledger (an empty list when it is sound).

        Checks SQLite's own integrity, every chunk's sha256 and shape, and that chunk ranges
        are those of the recorded chunk plan (no overlap, no gap inside a chunk).
        """
        problems = []
        status = self._db.execute("PRAGMA integrity_check").fetchone()[0]
        if status != "ok":
            problems.append(f"sqlite integrity_check: {status}")
        per = self.get("per_chunk")
        identity = self.get("identity") or {}
        n = identity.get("n")
        rows = self._db.execute(
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
                    problems.append(f"chunk {number}: backgrounds {first}..{stop} != plan {want}")
            shape = _decode(blob).shape
            if len(shape) != 2 or shape[1] != stop - first:
                problems.append(f"chunk {number}: outputs of shape {shape} for {stop - first}")
        return problems

    def iter_frames(self, design: Design) -> Iterator[pd.DataFrame]:
        """The unit table chunk by chunk (memory bounded by one chunk), for ``design``.

        Within a chunk, rows are ordered as in :func:`~causalgia.engine.simulate`'s table
        (arm-major); dropped non-finite units are left out, as there.
        """
        for number in sorted(self.completed()):
            first, stop = self.completed_range(number)
            yield chunk_table(design, np.arange(first, stop), self.chunk_values(number))

    def completed_range(self, number: int) -> tuple[int, int]:
        """``(first_id, stop_id)`` of a completed chunk."""
        row = self._db.execute(
            "SELECT first_id, stop_id FROM chunks WHERE number = ?", (number,)
        ).fetchone()
        if row is None:
            raise StoreError(f"run directory {self.path}: chunk {number} is not in the ledger")
        return int(row[0]), int(row[1])

    def write_parquet(self, path: str | Path, design: Design) -> Path:
        """Stream the unit table to one parquet file, one row group per chunk (needs pyarrow).

        The file is written to a temporary name and moved into place with ``os.replace``, so a
        crash never leaves a truncated file under the final name.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = Path(path)
        tmp = path.with_name(path.name + f".tmp{os.getpid()}")
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
        os.replace(tmp, path)
        return path

    def summary(self) -> str:
        """A few lines on the run: identity, progress and events.

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


def sequence_digests(codes: np.ndarray) -> np.ndarray:
    """A 16-byte blake2b digest of every row of ``codes`` (uint8 ``(N, L)``), as ``S16``.

    Examples
    --------
    >>> d = sequence_digests(np.zeros((3, 5), dtype=np.uint8))
    >>> d.dtype, bool(d[0] == d[1])
    (dtype('S16'), True)
    """
    codes = np.ascontiguousarray(codes, dtype=np.uint8)
    blake = hashlib.blake2b
    return np.array([blake(row.tobytes(), digest_size=16).digest() for row in codes], dtype="S16")


class ForwardCache:
    """Model outputs keyed by ``(model fingerprint, sequence digest)`` in a SQLite file.

    Pass it (or a path) as ``simulate(..., cache=...)``: sequences already scored by a model
    with the same fingerprint are not scored again. Several runs may share one cache file;
    non-finite outputs are never cached.

    Parameters
    ----------
    path : str or Path
        A ``.sqlite`` file, or a directory (the file is then ``forward_cache.sqlite`` in it).

    Examples
    --------
    >>> import tempfile
    >>> cache = ForwardCache(tempfile.mkdtemp())
    >>> keys = sequence_digests(np.eye(4, dtype=np.uint8))
    >>> cache.insert("fp", keys[:2], np.array([1.0, 2.0]))
    >>> hit, y = cache.lookup("fp", keys)
    >>> hit.tolist(), y[:2].tolist(), bool(cache.lookup("other", keys)[0].any())
    ([True, True, False, False], [1.0, 2.0], False)
    """

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        if path.is_dir() or path.suffix == "":
            path.mkdir(parents=True, exist_ok=True)
            path = path / CACHE_FILE
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        try:
            self._db = sqlite3.connect(path, timeout=60, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS forward (fingerprint TEXT NOT NULL, digest BLOB NOT "
                "NULL, y REAL NOT NULL, PRIMARY KEY (fingerprint, digest)) WITHOUT ROWID"
            )
        except sqlite3.DatabaseError as err:
            raise StoreError(f"forward cache {path} is not usable: {err}") from None

    def __repr__(self) -> str:
        return f"ForwardCache({str(self.path)!r})"

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError("a ForwardCache is local to one process; pass its path instead")

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def __enter__(self) -> ForwardCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def lookup(self, fingerprint: str, digests: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(hit mask, values)`` for ``digests`` under ``fingerprint`` (values NaN on a miss)."""
        found: dict[bytes, float] = {}
        keys = [bytes(d) for d in digests]
        for start in range(0, len(keys), _SQL_VARS):
            part = keys[start : start + _SQL_VARS]
            marks = ",".join("?" * len(part))
            found.update(
                self._db.execute(
                    f"SELECT digest, y FROM forward WHERE fingerprint = ? AND digest IN ({marks})",
                    (fingerprint, *part),
                ).fetchall()
            )
        values = np.array([found.get(k, np.nan) for k in keys], dtype=np.float64)
        hit = np.array([k in found for k in keys], dtype=bool)
        return hit, values

    def insert(self, fingerprint: str, digests: np.ndarray, values: np.ndarray) -> None:
        """Record finite outputs (non-finite ones are skipped) in one transaction."""
        values = np.asarray(values, dtype=np.float64)
        keep = np.isfinite(values)
        rows = [
            (fingerprint, bytes(d), float(v))
            for d, v in zip(np.asarray(digests)[keep], values[keep], strict=True)
        ]
        if not rows:
            return
        for attempt in range(5):
            try:
                self._db.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError:  # pragma: no cover - contention
                time.sleep(0.1 * (attempt + 1))
        else:  # pragma: no cover
            raise StoreError(f"forward cache {self.path} stays locked by another process")
        try:
            self._db.executemany("INSERT OR IGNORE INTO forward VALUES (?, ?, ?)", rows)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def count(self, fingerprint: str | None = None) -> int:
        """Cached outputs, of one model or of all."""
        if fingerprint is None:
            return int(self._db.execute("SELECT COUNT(*) FROM forward").fetchone()[0])
        sql = "SELECT COUNT(*) FROM forward WHERE fingerprint = ?"
        return int(self._db.execute(sql, (fingerprint,)).fetchone()[0])

    def prune(self, keep: str) -> int:
        """Delete the outputs of every model but fingerprint ``keep``; returns rows deleted."""
        cur = self._db.execute("DELETE FROM forward WHERE fingerprint != ?", (keep,))
        return int(cur.rowcount)


def open_cache(cache: str | Path | ForwardCache | None) -> ForwardCache | None:
    """``cache`` as a :class:`ForwardCache` (None stays None)."""
    if cache is None or isinstance(cache, ForwardCache):
        return cache
    return ForwardCache(cache)
