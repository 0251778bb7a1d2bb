"""The ledger as a file: its schema, the directory lock, and opening it safely.

:class:`~causalgia.engine.store.RunStore` keeps a run's ledger in ``DIR/ledger.sqlite``. This
module holds what touches the file itself: the SQL schema, the exclusive lock on
``DIR/ledger.lock`` (:class:`RunLock`, held by whoever writes the run directory: a run, a resume,
a salvage or a report), and :func:`connect_ledger`, which opens the file and checks that it is
a ledger this version can read. Every SQLite failure is turned into a
:class:`~causalgia.errors.StoreError` by :func:`ledger_error`, naming the run directory, what is
wrong (damaged, missing a table, another schema version, not writable, a full disk) and what to
do; a user never sees a raw ``sqlite3`` traceback.
"""

from __future__ import annotations

import io
import json
import os
import sqlite3
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import LedgerError, StoreError

STORE_FILE = "ledger.sqlite"
LOCK_FILE = "ledger.lock"
SCHEMA_VERSION = 1
TABLES = ("meta", "chunks", "nonfinite", "events")

SCHEMA_SQL = """
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


def encode_values(values: np.ndarray) -> bytes:
    """A chunk's outputs as ``.npy`` bytes (what the ledger stores and hashes).

    Examples
    --------
    >>> decode_values(encode_values(np.arange(3.0))).tolist()
    [0.0, 1.0, 2.0]
    """
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(values), allow_pickle=False)
    return buf.getvalue()


def decode_values(blob: bytes) -> np.ndarray:
    """The array of :func:`encode_values` bytes (never unpickles).

    Examples
    --------
    >>> decode_values(encode_values(np.eye(2))).shape
    (2, 2)
    """
    return np.load(io.BytesIO(blob), allow_pickle=False)


def chunk_layout(meta: Mapping[str, Any]) -> tuple[str | None, int | None, int | None]:
    """``(kind, arms, outputs)`` of a run's chunks from its ledger meta (None: not recorded).

    Examples
    --------
    >>> chunk_layout({"identity": {"kind": "paired"}, "arms": [["e", "a"]]})
    ('paired', 1, None)
    """
    arms, names = meta.get("arms"), meta.get("model_outputs")
    return (
        (meta.get("identity") or {}).get("kind"),
        None if arms is None else len(arms),
        None if names is None else len(names),
    )


def shape_problem(
    shape: tuple[int, ...],
    first: int,
    stop: int,
    kind: str | None,
    n_arms: int | None,
    n_outputs: int | None = None,
) -> str | None:
    """Why chunk outputs of ``shape`` do not fit backgrounds ``first..stop - 1`` of a design.

    A paired design stores 1 + (number of arms) rows, a randomized one 2; a model with
    ``n_outputs`` declared outputs adds a last axis of that length. None when it fits.

    Examples
    --------
    >>> shape_problem((3, 10), 0, 10, "paired", 2) is None
    True
    >>> shape_problem((2, 10), 0, 10, "paired", 2)
    'outputs of shape (2, 10), but the design needs (3, 10)'
    """
    rows = 2 if kind == "randomized" else (None if n_arms is None else 1 + n_arms)
    want = (rows, stop - first) if n_outputs is None else (rows, stop - first, n_outputs)
    fits = len(shape) == len(want) and all(
        w is None or s == w for s, w in zip(shape, want, strict=True)
    )
    if not fits:
        return f"outputs of shape {shape}, but the design needs {want}"
    return None


def salvage_hint(run_dir: str | Path) -> str:
    """What to do about a damaged ledger (appended to the error).

    Examples
    --------
    >>> salvage_hint("runs/a")[:35]
    '`causalgia resume --salvage runs/a`'
    """
    return (
        f"`causalgia resume --salvage {run_dir}` copies the chunks that still verify into a "
        "fresh ledger and resumes from there"
    )


def ledger_error(run_dir: str | Path, err: BaseException) -> StoreError:
    """A :class:`StoreError` for a SQLite (or JSON) failure on ``DIR/ledger.sqlite``
    (a :class:`~causalgia.errors.LedgerError` when the file is damaged).

    Examples
    --------
    >>> str(ledger_error("runs/a", sqlite3.DatabaseError("file is not a database")))[:58]
    'run directory runs/a: ledger.sqlite is damaged or not a ca'
    """
    text = str(err)
    where = f"run directory {run_dir}: {STORE_FILE}"
    if "locked" in text or "busy" in text:
        return StoreError(f"{where} is locked by another process ({text}); try again later")
    if "readonly" in text or "read-only" in text or "unable to open" in text:
        try:
            _probe_writable(Path(run_dir))
        except StoreError as unwritable:
            return unwritable
        return StoreError(
            f"{where} cannot be opened for writing ({text}): the run directory must be "
            "writable (SQLite also creates ledger.sqlite-wal and -shm beside it); copy it "
            "somewhere writable"
        )
    if "full" in text:
        return StoreError(f"{where}: the disk is full ({text}); free space and resume")
    if "no such table" in text:
        table = text.rsplit(":", 1)[-1].strip()
        return LedgerError(
            f"{where} is damaged: it lacks the table {table!r}; {salvage_hint(run_dir)}"
        )
    return LedgerError(
        f"{where} is damaged or not a causalgia ledger ({type(err).__name__}: {text}); "
        f"{salvage_hint(run_dir)}"
    )


class RunLock:
    """An exclusive ``flock`` on ``DIR/ledger.lock``, which records the holder's pid.

    The OS releases it when the process dies, so a killed run never leaves a stale lock. A
    second process (or a second lock in one process) is refused with a
    :class:`~causalgia.errors.StoreError` naming the directory and the holder's pid. Taking the
    lock also checks that files can be created in the directory.

    Examples
    --------
    >>> d = tempfile.mkdtemp()
    >>> with RunLock(d):
    ...     try:
    ...         RunLock(d)
    ...     except StoreError as err:
    ...         print("in use" in str(err))
    True
    """

    def __init__(self, run_dir: str | Path) -> None:
        import fcntl

        self.path = Path(run_dir)
        try:
            fd = os.open(self.path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise StoreError(
                f"run directory {self.path} is not writable: cannot open {LOCK_FILE} "
                f"({err.strerror or err})"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _holder_pid(fd)
            os.close(fd)
            raise StoreError(
                f"run directory {self.path} is in use by another process (pid {holder}), which "
                f"holds {LOCK_FILE}; wait for it to finish, stop it, or use another directory"
            ) from None
        self._fd: int | None = fd
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            _probe_writable(self.path)
        except (OSError, StoreError):
            self.release()
            raise

    def release(self) -> None:
        """Release the lock (closing the descriptor releases the flock)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _holder_pid(fd: int, wait: float = 1.0) -> str:
    """The pid the lock holder wrote, waiting up to ``wait`` s: it writes just after locking."""
    deadline = time.monotonic() + wait
    while True:
        holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
        if holder or time.monotonic() > deadline:
            return holder or "unknown"
        time.sleep(0.01)


def _probe_writable(folder: Path) -> None:
    try:
        fd, name = tempfile.mkstemp(dir=folder, prefix=".causalgia-probe-")
    except OSError as err:
        raise StoreError(
            f"run directory {folder} is not writable: cannot create a file in it "
            f"({err.strerror or err})"
        ) from None
    os.close(fd)
    os.unlink(name)


def read_meta(db: sqlite3.Connection, key: str) -> object:
    """A JSON value of the ``meta`` table (None when absent); raises sqlite3 / JSON errors.

    Examples
    --------
    >>> db = sqlite3.connect(":memory:")
    >>> _ = db.executescript(SCHEMA_SQL)
    >>> read_meta(db, "identity") is None
    True
    """
    row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else json.loads(row[0])


def check_ledger(db: sqlite3.Connection, run_dir: Path, *, deep: bool) -> None:
    """Raise :class:`StoreError` unless ``db`` is a sound ledger of this schema version.

    Checks that every table is there and the recorded schema version; ``deep`` also runs
    SQLite's ``quick_check`` (every page read once).

    Examples
    --------
    >>> db = sqlite3.connect(":memory:")
    >>> _ = db.execute("CREATE TABLE meta (key TEXT, value TEXT)")
    >>> check_ledger(db, Path("runs/a"), deep=False)
    Traceback (most recent call last):
    ...
    causalgia.errors.LedgerError: run directory runs/a: ledger.sqlite is damaged: it lacks ...
    """
    names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    missing = [t for t in TABLES if t not in names]
    if not names:
        raise LedgerError(
            f"run directory {run_dir}: {STORE_FILE} holds no tables: its write-ahead log "
            f"({STORE_FILE}-wal, which holds every commit since the last checkpoint) was "
            "probably deleted or not copied with it; copy the run directory again with that "
            "file, or start a new run"
        )
    if len(missing) == len(TABLES):
        raise LedgerError(
            f"run directory {run_dir}: {STORE_FILE} is a SQLite file but not a causalgia "
            f"ledger (it has no table of {list(TABLES)}); use another run directory"
        )
    if missing:
        raise LedgerError(
            f"run directory {run_dir}: {STORE_FILE} is damaged: it lacks the table(s) "
            f"{missing}; {salvage_hint(run_dir)}"
        )
    identity = read_meta(db, "identity")
    version = identity.get("schema") if isinstance(identity, dict) else None
    if identity is not None and version != SCHEMA_VERSION:
        raise LedgerError(
            f"run directory {run_dir}: {STORE_FILE} has schema version {version!r}, but this "
            f"causalgia reads version {SCHEMA_VERSION}; resume it with the causalgia version "
            "that wrote it, or start a new run"
        )
    if deep:
        status = [r[0] for r in db.execute("PRAGMA quick_check")]
        if status != ["ok"]:
            raise LedgerError(
                f"run directory {run_dir}: {STORE_FILE} is damaged (SQLite quick_check: "
                f"{'; '.join(map(str, status[:3]))}); {salvage_hint(run_dir)}"
            )


def connect_ledger(run_dir: Path, *, readonly: bool) -> sqlite3.Connection:
    """Open ``run_dir/ledger.sqlite``: read-only (no lock needed) or for writing.

    A new (missing or empty) ledger opened for writing gets the schema; an existing one is
    checked (:func:`check_ledger`; for writing also ``quick_check``). Every failure is a
    :class:`StoreError` from :func:`ledger_error`.

    Examples
    --------
    >>> d = Path(tempfile.mkdtemp())
    >>> connect_ledger(d, readonly=False).close()
    >>> (d / STORE_FILE).is_file()
    True
    """
    path = run_dir / STORE_FILE
    if readonly:
        if not path.is_file():
            raise StoreError(f"run directory {run_dir} has no ledger ({STORE_FILE})")
        if path.stat().st_size == 0:
            raise LedgerError(
                f"run directory {run_dir}: {STORE_FILE} is empty (0 bytes: truncated?); "
                "nothing can be resumed or salvaged from it; start a new run"
            )
    fresh = not path.is_file() or path.stat().st_size == 0
    db = None
    try:
        if readonly:
            uri = f"file:{path.resolve()}?mode=ro"
            db = sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None)
        else:
            db = sqlite3.connect(path, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # see causalgia.engine.store
        if not fresh and not readonly:
            fresh = db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0] == 0
        if fresh:
            db.executescript(f"BEGIN IMMEDIATE;{SCHEMA_SQL}COMMIT;")  # one transaction
        else:
            check_ledger(db, run_dir, deep=not readonly)
    except (sqlite3.Error, ValueError) as err:
        if db is not None:
            db.close()
        raise ledger_error(run_dir, err) from None
    except StoreError:
        if db is not None:
            db.close()
        raise
    return db
