"""The forward cache: model outputs keyed by (model fingerprint, sequence digest) in SQLite.

``simulate(..., cache=...)`` looks every sequence up before scoring it: a re-run, or another
design over the same backgrounds, skips forward passes already made. A different model (weights,
layout, output functional, N value) has another fingerprint, so its lookups never see the old
model's outputs. Several runs may share one cache file; non-finite outputs are never cached.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import StoreError

CACHE_FILE = "forward_cache.sqlite"
_SQL_VARS = 500


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

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """SQLite failures (a damaged, truncated or unwritable file) as a StoreError."""
        try:
            yield
        except sqlite3.DatabaseError as err:
            raise StoreError(
                f"forward cache {self.path} failed ({err}); the cache only saves forward passes: "
                "delete the file or pass another cache= to start a fresh one"
            ) from None

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
        """``(hit mask, values)`` for ``digests`` under ``fingerprint`` (values NaN on a miss).

        Parameters
        ----------
        fingerprint : str
            The model fingerprint (:meth:`causalgia.engine.Model.fingerprint`).
        digests : ndarray
            Sequence digests (:func:`sequence_digests`), ``S16``.

        Returns
        -------
        hit : ndarray of bool
            True where the output is cached.
        values : ndarray of float64
            The cached outputs, NaN on a miss.
        """
        found: dict[bytes, float] = {}
        keys = [bytes(d) for d in digests]
        with self._guard():
            self._lookup(fingerprint, keys, found)
        values = np.array([found.get(k, np.nan) for k in keys], dtype=np.float64)
        hit = np.array([k in found for k in keys], dtype=bool)
        return hit, values

    def _lookup(self, fingerprint: str, keys: list[bytes], found: dict[bytes, float]) -> None:
        for start in range(0, len(keys), _SQL_VARS):
            part = keys[start : start + _SQL_VARS]
            marks = ",".join("?" * len(part))
            found.update(
                self._db.execute(
                    f"SELECT digest, y FROM forward WHERE fingerprint = ? AND digest IN ({marks})",
                    (fingerprint, *part),
                ).fetchall()
            )

    def insert(self, fingerprint: str, digests: np.ndarray, values: np.ndarray) -> None:
        """Record finite outputs (non-finite ones are skipped) in one transaction.

        Parameters
        ----------
        fingerprint : str
            The model fingerprint.
        digests : ndarray
            Sequence digests (:func:`sequence_digests`), one per value.
        values : ndarray
            The model outputs; an output already cached is left as it is.
        """
        values = np.asarray(values, dtype=np.float64)
        keep = np.isfinite(values)
        rows = [
            (fingerprint, bytes(d), float(v))
            for d, v in zip(np.asarray(digests)[keep], values[keep], strict=True)
        ]
        if not rows:
            return
        with self._guard():
            self._insert(rows)

    def _insert(self, rows: list[tuple[str, bytes, float]]) -> None:
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
        """Cached outputs, of one model or of all.

        Parameters
        ----------
        fingerprint : str, optional
            Count only this model's outputs (default: every model's).

        Returns
        -------
        int
            The number of cached outputs.
        """
        sql, args = "SELECT COUNT(*) FROM forward", ()
        if fingerprint is not None:
            sql, args = sql + " WHERE fingerprint = ?", (fingerprint,)
        with self._guard():
            return int(self._db.execute(sql, args).fetchone()[0])

    def prune(self, keep: str) -> int:
        """Delete the outputs of every model but fingerprint ``keep``; returns rows deleted.

        Parameters
        ----------
        keep : str
            Fingerprint of the model whose outputs are kept.

        Returns
        -------
        int
            The number of rows deleted.
        """
        with self._guard():
            cur = self._db.execute("DELETE FROM forward WHERE fingerprint != ?", (keep,))
        return int(cur.rowcount)


def open_cache(cache: str | Path | ForwardCache | None) -> ForwardCache | None:
    """``cache`` as a :class:`ForwardCache` (None stays None)."""
    if cache is None or isinstance(cache, ForwardCache):
        return cache
    return ForwardCache(cache)
