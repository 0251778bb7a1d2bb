"""Salvage a damaged ledger: copy the chunks that still verify into a fresh one.

A ledger can be damaged by a disk error, a copy cut short, or a hand edit: truncated, bytes
overwritten in its header or in its pages, its write-ahead log lost, a table dropped.
:func:`salvage_ledger` (``causalgia resume --salvage DIR``) reads what it can, row by row:

1. the damaged files are copied aside first (``ledger.damaged-<time>.sqlite`` and its ``-wal``);
2. the ``meta`` table (the run's identity, spec and chunk plan) is read; when SQLite refuses the
   file because its 100-byte header is damaged, a copy with a rebuilt header is read instead;
3. every chunk row is kept only if it reads, its outputs match their sha256, its range is the
   one the chunk plan gives its number, its outputs have the shape of the design (one row per
   arm plus the control in a paired design, two in a randomized one) and its non-finite units
   are all there;
4. a fresh ledger with the meta, the kept chunks and the readable events replaces the damaged
   one (written under a temporary name, then moved in place).

Resuming then evaluates only the dropped and missing chunks; the identity check of a resume
(design and model fingerprints) still guards against a ledger whose meta is wrong.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .._files import temporary_name
from ..errors import StoreError
from .ledgerfile import (
    SCHEMA_SQL,
    STORE_FILE,
    RunLock,
    chunk_layout,
    decode_values,
    shape_problem,
)

_CHUNK_SQL = (
    "SELECT first_id, stop_id, n_forward, n_cached, n_nonfinite, CAST(data AS BLOB), sha256, "
    "seconds, finished FROM chunks WHERE number = ?"
)
_NONFINITE_SQL = (
    "SELECT chunk, arm, experiment, label, background_id, value FROM nonfinite WHERE chunk = ?"
)
_PAGE_SIZES = (4096, 1024, 2048, 8192, 16384, 32768, 65536, 512)


@dataclass(frozen=True)
class SalvageReport:
    """What :func:`salvage_ledger` kept and dropped.

    ``kept`` are the chunk numbers copied into the fresh ledger; ``dropped`` pairs each
    dropped chunk number with the reason; ``damaged`` is where the damaged ledger was copied;
    ``header_rebuilt`` says whether SQLite could only read it with a rebuilt header.

    Examples
    --------
    >>> r = SalvageReport(Path("run"), (0, 1), ((2, "sha256 mismatch"),), 3, Path("x"))
    >>> r.summary().splitlines()[0]
    'salvaged run: kept 2 chunk(s), dropped 1, missing 0 (of 3 planned)'
    """

    run_dir: Path
    kept: tuple[int, ...]
    dropped: tuple[tuple[int, str], ...]
    n_chunks: int
    damaged: Path
    header_rebuilt: bool = False
    unreadable: str | None = None

    def summary(self) -> str:
        """Counts, then one line per dropped chunk.

        Returns
        -------
        str
            A multi-line summary of the salvage.
        """
        missing = self.n_chunks - len(self.kept) - len(self.dropped)
        lines = [
            f"salvaged {self.run_dir}: kept {len(self.kept)} chunk(s), dropped "
            f"{len(self.dropped)}, missing {max(missing, 0)} (of {self.n_chunks} planned)"
        ]
        if self.unreadable:
            lines.append(f"  the chunks table could not be read: {self.unreadable}")
        if self.header_rebuilt:
            lines.append("  SQLite could read the ledger only with a rebuilt file header")
        lines += [f"  dropped chunk {n}: {why}" for n, why in self.dropped]
        lines.append(f"  the damaged ledger is kept as {self.damaged.name}")
        return "\n".join(lines)


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def _copy_aside(db_path: Path) -> Path:
    target = db_path.with_name(f"ledger.damaged-{_stamp()}.sqlite")
    for suffix in ("", "-wal"):
        src = db_path.with_name(db_path.name + suffix)
        if src.is_file():
            shutil.copy2(src, target.with_name(target.name + suffix))
    return target


def set_aside(run_dir: str | Path) -> Path:
    """Move a run directory's ledger (and its ``-wal``) aside as ``ledger.damaged-<time>.sqlite``.

    Takes the directory's lock. What ``causalgia run --overwrite`` does with a damaged ledger
    before it starts a fresh one; returns the new name.

    Parameters
    ----------
    run_dir : str or Path
        The run directory.

    Returns
    -------
    Path
        Where the ledger now is (``ledger.damaged-<time>.sqlite`` in ``run_dir``).

    Raises
    ------
    StoreError
        When the ledger cannot be moved.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / STORE_FILE).write_text("not a database")
    >>> set_aside(d).name.startswith("ledger.damaged-"), (d / STORE_FILE).exists()
    (True, False)
    """
    db_path = Path(run_dir) / STORE_FILE
    target = db_path.with_name(f"ledger.damaged-{_stamp()}.sqlite")
    with RunLock(run_dir):
        try:
            for suffix in ("", "-wal", "-shm"):
                src = db_path.with_name(db_path.name + suffix)
                if src.is_file():
                    if suffix == "-shm":
                        src.unlink()
                    else:
                        src.replace(target.with_name(target.name + suffix))
        except OSError as err:
            raise StoreError(f"cannot move {db_path} aside: {err.strerror or err}") from None
    return target


def _standard_header(size: int, page_size: int, wal: bool) -> bytes:
    """A SQLite file header for a file of ``size`` bytes (free list emptied)."""
    mode = 2 if wal else 1
    header = bytearray(100)
    header[0:16] = b"SQLite format 3\x00"
    header[16:18] = (page_size if page_size < 65536 else 1).to_bytes(2, "big")
    header[18], header[19], header[20] = mode, mode, 0
    header[21], header[22], header[23] = 64, 32, 32
    header[24:28] = (1).to_bytes(4, "big")  # file change counter
    header[28:32] = (size // page_size).to_bytes(4, "big")  # pages
    header[40:44] = (1).to_bytes(4, "big")  # schema cookie
    header[44:48] = (4).to_bytes(4, "big")  # schema format
    header[56:60] = (1).to_bytes(4, "big")  # UTF-8
    header[92:96] = (1).to_bytes(4, "big")  # version-valid-for = change counter
    major, minor, patch = sqlite3.sqlite_version_info
    header[96:100] = (major * 1_000_000 + minor * 1_000 + patch).to_bytes(4, "big")
    return bytes(header)


def _read_meta(db: sqlite3.Connection) -> dict[str, Any]:
    meta = {}
    for key, value in db.execute("SELECT key, value FROM meta").fetchall():
        try:
            meta[key] = json.loads(value)
        except ValueError:
            continue
    return meta


def _open_readable(db_path: Path, scratch: Path) -> tuple[sqlite3.Connection, dict, bool]:
    """A connection to (a copy of) the damaged ledger whose meta reads, and that meta."""
    copy = scratch / "ledger.sqlite"
    for suffix in ("", "-wal"):
        src = db_path.with_name(db_path.name + suffix)
        if src.is_file():
            shutil.copy2(src, copy.with_name(copy.name + suffix))
    errors = []
    db = sqlite3.connect(copy)
    try:
        return db, _read_meta(db), False
    except sqlite3.Error as err:
        errors.append(str(err))
        db.close()
    data = bytearray(copy.read_bytes())
    wal = copy.with_name(copy.name + "-wal").is_file()
    for page_size in _PAGE_SIZES:
        if len(data) < page_size or len(data) % page_size:
            continue
        data[:100] = _standard_header(len(data), page_size, wal)
        copy.write_bytes(bytes(data))
        db = sqlite3.connect(copy)
        try:
            return db, _read_meta(db), True
        except sqlite3.Error:
            db.close()
    raise StoreError(
        f"run directory {db_path.parent}: cannot salvage {STORE_FILE}: SQLite cannot read its "
        f"meta table ({errors[0]}), even with a rebuilt file header, so the run's identity and "
        "spec are lost and no chunk can be verified; start a new run (causalgia run SPEC.toml "
        f"--out {db_path.parent} --overwrite)"
    )


def _verify(row: tuple[Any, ...], number: int, meta: dict[str, Any]) -> str | None:
    """Why chunk ``number`` cannot be kept, or None."""
    first, stop, _, _, n_nonfinite, blob, digest, _, _ = row
    if hashlib.sha256(blob).hexdigest() != digest:
        return "its outputs fail their sha256"
    per, n = meta["per_chunk"], meta["identity"]["n"]
    want = (number * per, min(n, (number + 1) * per))
    if (first, stop) != want:
        return f"backgrounds {first}..{stop} are not the plan's {want[0]}..{want[1]}"
    try:
        shape = decode_values(blob).shape
    except ValueError as err:
        return f"its outputs do not decode ({err})"
    return shape_problem(shape, first, stop, *chunk_layout(meta))


def _chunks(db: sqlite3.Connection, meta: dict[str, Any]) -> tuple[list, list, str | None]:
    """(kept rows with their non-finite units, dropped (number, why), unreadable reason)."""
    try:
        numbers = sorted(int(r[0]) for r in db.execute("SELECT number FROM chunks"))
    except sqlite3.Error as err:
        if "no such table" in str(err):
            return [], [], str(err)
        numbers = list(range(int(meta["n_chunks"])))
    kept, dropped = [], []
    for number in numbers:
        try:
            row = db.execute(_CHUNK_SQL, (number,)).fetchone()
            bad = (
                []
                if row is None or not row[4]
                else db.execute(_NONFINITE_SQL, (number,)).fetchall()
            )
        except sqlite3.Error as err:
            dropped.append((number, f"unreadable ({err})"))
            continue
        if row is None:
            continue
        why = _verify(row, number, meta) if number < int(meta["n_chunks"]) else "not in the plan"
        if why is None and len(bad) != row[4]:
            why = f"{row[4]} non-finite unit(s) recorded, {len(bad)} readable"
        if why is None:
            kept.append((number, row, bad))
        else:
            dropped.append((number, why))
    return kept, dropped, None


def _events(db: sqlite3.Connection) -> list[tuple[Any, ...]]:
    try:
        return db.execute(
            "SELECT time, pid, kind, chunk, message FROM events ORDER BY id"
        ).fetchall()
    except sqlite3.Error:
        return []


def _write_fresh(path: Path, meta: dict[str, Any], kept: list, events: list) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.executescript(f"BEGIN IMMEDIATE;{SCHEMA_SQL}")
        rows = [(k, json.dumps(v)) for k, v in {**meta, "status": "running"}.items()]
        db.executemany("INSERT INTO meta VALUES (?, ?)", rows)
        for number, row, bad in kept:
            db.execute("INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", (number, *row))
            db.executemany("INSERT INTO nonfinite VALUES (?, ?, ?, ?, ?, ?)", bad)
        db.executemany(
            "INSERT INTO events (time, pid, kind, chunk, message) VALUES (?, ?, ?, ?, ?)", events
        )
        db.execute("COMMIT")
    finally:
        db.close()


def salvage_ledger(run_dir: str | Path) -> SalvageReport:
    """Replace a damaged ``DIR/ledger.sqlite`` by a fresh ledger of its verified chunks.

    Takes the run directory's lock. The damaged files are kept beside it as
    ``ledger.damaged-<time>.sqlite``. Resume the run afterwards (``simulate`` with the same
    ``store=``, or ``causalgia resume DIR``) to evaluate the chunks that were dropped.

    Parameters
    ----------
    run_dir : str or Path
        The run directory whose ``ledger.sqlite`` is damaged.

    Returns
    -------
    SalvageReport
        The chunks kept and dropped, and where the damaged ledger was kept.

    Raises
    ------
    StoreError
        No ledger, the directory is in use, or the meta table (identity, spec, chunk plan)
        cannot be read at all.

    Examples
    --------
    >>> salvage_ledger("runs/big").summary()  # doctest: +SKIP
    'salvaged runs/big: kept 41 chunk(s), dropped 1, missing 8 (of 50 planned) ...'
    """
    run_dir = Path(run_dir)
    db_path = run_dir / STORE_FILE
    if not db_path.is_file() or db_path.stat().st_size == 0:
        raise StoreError(f"run directory {run_dir}: no {STORE_FILE} with any content to salvage")
    with RunLock(run_dir), tempfile.TemporaryDirectory(prefix="causalgia-salvage-") as tmp:
        damaged = _copy_aside(db_path)
        db, meta, rebuilt = _open_readable(db_path, Path(tmp))
        try:
            missing = [k for k in ("identity", "per_chunk", "n_chunks") if k not in meta]
            if missing:
                raise StoreError(
                    f"run directory {run_dir}: cannot salvage {STORE_FILE}: its meta table "
                    f"lacks {missing}, so no chunk can be verified; start a new run"
                )
            kept, dropped, unreadable = _chunks(db, meta)
            events = _events(db)
        finally:
            db.close()
        report = SalvageReport(
            run_dir, tuple(n for n, _, _ in kept), tuple(dropped), int(meta["n_chunks"]),
            damaged, rebuilt, unreadable,
        )  # fmt: skip
        events.append(
            (datetime.now(UTC).isoformat(), os.getpid(), "salvage", None, report.summary())
        )
        fresh = temporary_name(db_path)
        try:
            _write_fresh(fresh, meta, kept, events)
            for suffix in ("-wal", "-shm"):
                db_path.with_name(db_path.name + suffix).unlink(missing_ok=True)
            fresh.replace(db_path)
        finally:
            fresh.unlink(missing_ok=True)
    return report
