"""Atomic file writes: every file of a run directory appears whole under its final name, or not.

A writer writes to a temporary file in the same directory (a hidden name that no reader takes for
an output: ``.ace.csv.tmp-<pid>-<token>.csv``), flushes it to disk and moves it over the final
name with :func:`os.replace`, which is atomic on POSIX file systems. A process killed at any
moment (``kill -9`` included) leaves the old file, the new file, or a stray temporary that
:func:`remove_temporaries` deletes; never a half-written file under the final name.

The temporary keeps the final suffix, so writers that infer a format from it (matplotlib's
``savefig``) still work. A failure to write (no permission, a full disk) raises
:class:`~causalgia.errors.StoreError` naming the file.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import StoreError

TMP_MARK = ".tmp-"


def temporary_name(path: str | Path) -> Path:
    """A hidden temporary name beside ``path`` that keeps its suffix.

    Examples
    --------
    >>> name = temporary_name("run/ace.csv").name
    >>> name.startswith(".ace.csv.tmp-"), name.endswith(".csv")
    (True, True)
    """
    path = Path(path)
    token = f"{os.getpid()}-{secrets.token_hex(4)}"
    return path.with_name(f".{path.name}{TMP_MARK}{token}{path.suffix}")


def is_temporary(name: str) -> bool:
    """Whether a file name is one of :func:`temporary_name`'s.

    Examples
    --------
    >>> is_temporary(temporary_name("report.md").name), is_temporary("report.md")
    (True, False)
    """
    return name.startswith(".") and TMP_MARK in name


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path`` in one step.

    If the block raises, the temporary is deleted and ``path`` is left as it was.

    Raises
    ------
    StoreError
        The file cannot be written (permissions, a full disk, a missing folder).

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "table.csv"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("a,b\\n1,2\\n")
    >>> target.read_text()
    'a,b\\n1,2\\n'
    """
    path = Path(path)
    tmp = temporary_name(path)
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
    except OSError as err:
        raise StoreError(f"cannot write {path}: {err.strerror or err}") from None
    finally:
        if tmp.exists():
            tmp.unlink()


def ensure_dir(path: str | Path) -> Path:
    """Create a folder with its parents (a StoreError naming it when that fails).

    Examples
    --------
    >>> import tempfile
    >>> ensure_dir(Path(tempfile.mkdtemp()) / "a" / "b").is_dir()
    True
    """
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise StoreError(f"cannot create the folder {path}: {err.strerror or err}") from None
    return path


def write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 text to ``path`` atomically; returns the path.

    Examples
    --------
    >>> import tempfile
    >>> write_text(Path(tempfile.mkdtemp()) / "a.md", "# hi\\n").read_text()
    '# hi\\n'
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write bytes to ``path`` atomically; returns the path.

    Examples
    --------
    >>> import tempfile
    >>> write_bytes(Path(tempfile.mkdtemp()) / "a.bin", b"xy").read_bytes()
    b'xy'
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def remove_temporaries(folder: str | Path) -> list[Path]:
    """Delete the temporaries a killed writer left in ``folder`` (not in its subfolders).

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = temporary_name(d / "x.csv").write_text("half")
    >>> [p.suffix for p in remove_temporaries(d)], list(d.iterdir())
    (['.csv'], [])
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [p for p in folder.glob(".*") if p.is_file() and is_temporary(p.name)]
    for p in found:
        p.unlink(missing_ok=True)
    return found
