"""Damaged ledgers (issue 11, item 6): every damage mode is a clear causalgia error, never a raw
sqlite3 traceback, and ``causalgia resume --salvage`` keeps the chunks that still verify.

Modes: truncated to 0 bytes and to half, random bytes over the 100-byte header, over a page of
the chunks table and inside one chunk's outputs, the write-ahead log lost after a kill, a
dropped table, another schema version, a file that is not a database, a read-only directory.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

from causalgia.cli import main
from causalgia.engine.salvage import salvage_ledger
from causalgia.engine.store import RunStore
from causalgia.errors import LedgerError, StoreError
from causalgia.studies.runner import resume_study, run_study
from causalgia.studies.spec import parse_spec

RAW = {
    "study": {"name": "damage", "n": 160, "seed": 4, "chunk_size": 60},
    "model": {"builtin": "additive_oracle", "motif": "GATAAG", "length": 40},
    "background": {"kind": "iid", "length": 40},
    "experiment": [{"name": "position", "type": "positions", "motif": "GATAAG",
                    "positions": [0, 20]}],
}  # fmt: skip


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("damage") / "base"
    run_study(parse_spec(RAW), run, figures=False, progress=False)
    with RunStore(run, readonly=True) as ledger:
        assert ledger.get("n_chunks") == 8 and ledger.check() == []
    return run


def _page(db: Path, table: str) -> int:
    with closing(sqlite3.connect(db)) as con, con:
        root = con.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,))
        return int(root.fetchone()[0])


def _overwrite(db: Path, offset: int, data: bytes) -> None:
    with open(db, "r+b") as fh:
        fh.seek(offset)
        fh.write(data)


def _blob_offset(db: Path, number: int) -> int:
    with closing(sqlite3.connect(db)) as con, con:
        blob = con.execute("SELECT data FROM chunks WHERE number = ?", (number,)).fetchone()[0]
    offset = db.read_bytes().find(blob[200:264])
    assert offset > 0
    return offset


def truncate_to_0(db: Path) -> None:
    db.write_bytes(b"")


def truncate_to_half(db: Path) -> None:
    os.truncate(db, db.stat().st_size // 2)


def random_header(db: Path) -> None:
    _overwrite(db, 0, np.random.default_rng(1).bytes(100))


def random_chunks_page(db: Path) -> None:
    _overwrite(db, (_page(db, "chunks") - 1) * 4096, np.random.default_rng(2).bytes(4096))


def random_chunk_outputs(db: Path) -> None:
    _overwrite(db, _blob_offset(db, 3), np.random.default_rng(3).bytes(32))


def dropped_table(db: Path) -> None:
    with closing(sqlite3.connect(db)) as con, con:
        con.execute("DROP TABLE chunks")


def other_schema(db: Path) -> None:
    with closing(sqlite3.connect(db)) as con, con:
        value = json.loads(
            con.execute("SELECT value FROM meta WHERE key = 'identity'").fetchone()[0]
        )
        value["schema"] = 99
        con.execute("UPDATE meta SET value = ? WHERE key = 'identity'", (json.dumps(value),))


def _wrong_shape(db: Path, number: int) -> None:
    buf = io.BytesIO()
    np.save(buf, np.zeros((2, 20)))  # a validly hashed chunk of 2 rows; the design needs 3
    blob = buf.getvalue()
    with closing(sqlite3.connect(db)) as con, con:
        con.execute("UPDATE chunks SET data = ?, sha256 = ? WHERE number = ?",
                    (blob, hashlib.sha256(blob).hexdigest(), number))  # fmt: skip


def wrong_shape(db: Path) -> None:
    _wrong_shape(db, 3)


def not_a_database(db: Path) -> None:
    db.write_text("sequence,score\n" * 500)


MODES: dict[str, tuple[Callable[[Path], None], str]] = {
    "truncated to 0": (truncate_to_0, r"is empty \(0 bytes: truncated\?\)"),
    "truncated to half": (truncate_to_half, r"is damaged .*malformed.*--salvage"),
    "random header": (random_header, r"is damaged .*not a database.*--salvage"),
    "random chunks page": (random_chunks_page, r"is damaged .*--salvage"),
    "random chunk outputs": (random_chunk_outputs, r"chunk 3 fails its sha256 check.*--salvage"),
    "wrong shape": (
        wrong_shape,
        r"chunk 3 holds outputs of shape \(2, 20\), but the design "
        r"needs \(3, 20\).*--salvage",
    ),
    "dropped table": (dropped_table, r"lacks the table\(s\) \['chunks'\].*--salvage"),
    "other schema": (other_schema, r"schema version 99, but this causalgia reads version 1"),
    "not a database": (not_a_database, r"is damaged or not a causalgia ledger.*not a database"),
}


def _damaged(base: Path, tmp_path: Path, mode: str) -> Path:
    run = tmp_path / "run"
    shutil.copytree(base, run)
    MODES[mode][0](run / "ledger.sqlite")
    return run


def _one_clear_line(err: str, pattern: str) -> None:
    import re

    assert "Traceback" not in err and err.count("\n") == 1, err
    assert err.startswith("causalgia: error: run directory "), err
    assert re.search(pattern, err), (pattern, err)


@pytest.mark.parametrize("mode", sorted(MODES))
def test_every_damage_mode_is_a_clear_error(base, tmp_path, capsys, mode) -> None:
    run = _damaged(base, tmp_path, mode)
    capsys.readouterr()
    assert main(["resume", str(run), "--no-figures", "--quiet"]) == 2
    _one_clear_line(capsys.readouterr().err, MODES[mode][1])
    with pytest.raises(StoreError, match=str(run)), RunStore(run) as ledger:  # Python API
        ledger.chunk_values(3)


SALVAGE = {  # mode: (chunks kept, chunks dropped) or the error salvage gives
    "random header": (8, 0),
    "random chunks page": (0, 8),
    "random chunk outputs": (7, 1),
    "dropped table": (0, 0),
    "truncated to half": "cannot salvage ledger.sqlite: SQLite cannot read its meta table",
    "not a database": "cannot salvage ledger.sqlite: SQLite cannot read its meta table",
    "truncated to 0": "no ledger.sqlite with any content to salvage",
}


@pytest.mark.parametrize("mode", sorted(SALVAGE))
def test_salvage_keeps_the_verified_chunks_and_resumes(base, tmp_path, capsys, mode) -> None:
    run = _damaged(base, tmp_path, mode)
    with closing(sqlite3.connect(base / "ledger.sqlite")) as con, con:
        before = dict(con.execute("SELECT number, finished FROM chunks").fetchall())
    capsys.readouterr()
    code = main(["resume", "--salvage", str(run), "--no-figures"])
    err = capsys.readouterr().err
    expected = SALVAGE[mode]
    if isinstance(expected, str):
        assert code == 2
        _one_clear_line(err, expected)
        return
    kept, dropped = expected
    assert code == 0, err
    assert f"kept {kept} chunk(s), dropped {dropped}" in err
    assert list(run.glob("ledger.damaged-*.sqlite"))  # the damaged ledger is kept aside
    assert (run / "ace.csv").read_bytes() == (base / "ace.csv").read_bytes()
    with RunStore(run, readonly=True) as ledger:
        assert ledger.check() == [] and ledger.totals()["chunks"] == 8
        assert "salvage" in set(ledger.events()["kind"])
    with closing(sqlite3.connect(run / "ledger.sqlite")) as con, con:
        after = dict(con.execute("SELECT number, finished FROM chunks").fetchall())
    unchanged = [n for n in before if after[n] == before[n]]
    assert len(unchanged) == kept  # kept chunks were not evaluated again
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["salvaged"] == {"kept": kept, "dropped": dropped}


def test_salvage_drops_a_chunk_whose_shape_does_not_fit_the_design(base, tmp_path) -> None:
    run = tmp_path / "run"
    shutil.copytree(base, run)
    _wrong_shape(run / "ledger.sqlite", 5)
    report = salvage_ledger(run)
    assert report.kept == (0, 1, 2, 3, 4, 6, 7)
    assert report.dropped == ((5, "outputs of shape (2, 20), but the design needs (3, 20)"),)
    resumed = resume_study(run, figures=False, progress=False)
    assert (run / "ace.csv").read_bytes() == (base / "ace.csv").read_bytes()
    assert (
        resumed.manifest["n_forward"]
        == json.loads((base / "manifest.json").read_text())["n_forward"]
    )


KILLED_SPEC = """
[study]
seed = 3
n = 120
chunk_size = 30
batch_size = 1000

[model]
callable = "killer:model"
layout = "NCL"

[background]
kind = "iid"
length = 40

[[experiment]]
type = "positions"
motif = "GATAAG"
positions = [0, 20]
"""

KILLER = """
import os, signal
CALLS = [0]


def model(x):
    CALLS[0] += 1
    if CALLS[0] == 6:
        os.kill(os.getpid(), signal.SIGKILL)
    return x[:, 2, :].sum(axis=1) * 0.1 + x[:, 0, 10:16].sum(axis=1)
"""


def test_a_lost_write_ahead_log_is_a_clear_error(tmp_path, capsys) -> None:
    (tmp_path / "killer.py").write_text(KILLER)
    (tmp_path / "spec.toml").write_text(KILLED_SPEC)
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "causalgia", "run", str(tmp_path / "spec.toml"), "--out",
           str(run), "--no-figures"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == -signal.SIGKILL
    with RunStore(run, readonly=True) as ledger:
        assert ledger.totals()["chunks"] == 4  # committed, but only in ledger.sqlite-wal
    for suffix in ("-wal", "-shm"):
        (run / f"ledger.sqlite{suffix}").unlink()
    capsys.readouterr()
    assert main(["resume", str(run), "--no-figures", "--quiet"]) == 2
    _one_clear_line(capsys.readouterr().err, r"holds no tables: its write-ahead log")


@pytest.fixture
def read_only(tmp_path):
    """Make a folder read-only, also for root (chattr +i), and writable again afterwards."""
    made: list[Path] = []

    def make(folder: Path) -> None:
        if os.geteuid() == 0:
            done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, check=False)
            if done.returncode != 0:
                pytest.skip(f"cannot make a folder read-only as root: {done.stderr!r}")
        else:
            folder.chmod(0o555)
        made.append(folder)

    yield make
    for folder in made:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(folder)], check=False)
        folder.chmod(0o755)


def test_a_read_only_run_directory_is_a_clear_error(base, tmp_path, capsys, read_only) -> None:
    run = tmp_path / "run"
    shutil.copytree(base, run)
    (run / "ledger.lock").unlink()
    read_only(run)
    spec = tmp_path / "spec.toml"
    spec.write_text(
        "[model]\nbuiltin = 'rbp_oracle'\n[background]\nkind = 'iid'\nlength = 41\n"
        "[[experiment]]\ntype = 'identity'\n"
    )
    capsys.readouterr()
    for argv in (["resume", str(run)], ["report", str(run)], ["run", str(spec), "--out", str(run)]):
        assert main(argv) == 2, argv
        _one_clear_line(capsys.readouterr().err, rf"run directory {run} is not writable")


def test_run_overwrite_moves_a_damaged_ledger_aside(base, tmp_path) -> None:
    run = _damaged(base, tmp_path, "not a database")
    with pytest.raises(LedgerError, match="not a causalgia ledger"):
        run_study(parse_spec(RAW), run, figures=False, progress=False)
    run_study(parse_spec(RAW), run, figures=False, progress=False, overwrite=True)
    (aside,) = run.glob("ledger.damaged-*.sqlite")
    assert aside.read_text().startswith("sequence,score")
    assert (run / "ace.csv").read_bytes() == (base / "ace.csv").read_bytes()
    with RunStore(run, readonly=True) as ledger:
        assert ledger.check() == [] and aside.name in ledger.events().message.iloc[0]
