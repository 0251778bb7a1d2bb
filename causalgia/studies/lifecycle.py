"""The life of a run directory: claimed, its old outputs cleared, written under a run id, done.

``causalgia run``, ``resume`` and ``report`` share these rules so that a run directory never
mixes two runs and never shows stale results as current:

1. **Locked for the whole run.** :class:`~causalgia.engine.store.RunStore` takes an exclusive
   lock on ``DIR/ledger.lock`` and ``run_study`` holds it from the first check to the last
   file written (simulation, estimation, controls, pooling, reports). A second process is
   refused with a :class:`~causalgia.errors.StoreError` naming the directory and the holder.
2. **Claimed.** ``run`` into a directory that holds a run (finished or interrupted, or only its
   outputs) is refused unless ``overwrite`` (:func:`claim_directory`).
3. **Old outputs cleared first.** Before anything is written, the ledger records a new run id in
   state ``writing`` and the earlier outputs are deleted, manifest first
   (:func:`begin_outputs`). Every output is then written atomically, the manifest (with the
   run id) among the last; the ledger finally records that run id as ``complete``
   (:func:`finish_outputs`).
4. **Checked before a report.** ``causalgia report`` renders only when the ledger's complete
   run id is the manifest's, and the tables match their checksums (:func:`report_run`).
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .._files import remove_temporaries
from ..engine.ledgerfile import STORE_FILE, RunLock
from ..engine.salvage import set_aside
from ..engine.store import RunStore
from ..errors import LedgerError, StoreError
from ..reporting import RunDirectory, render_report
from ..reporting.report import FIGURE_FILES
from ..reporting.rundir import MANIFEST_NAME

OUTPUTS_KEY = "outputs"
REPORT_FILES = (MANIFEST_NAME, "report.md", "report.html")


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _manifest(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError):
        return {}
    return found if isinstance(found, dict) else {}


def occupant(ledger: RunStore) -> str | None:
    """What a fresh run would replace in the ledger's directory, in words (None: nothing).

    Examples
    --------
    >>> import tempfile
    >>> with RunStore(tempfile.mkdtemp()) as ledger:
    ...     print(occupant(ledger))
    None
    """
    spec, identity = ledger.get("spec"), ledger.get("identity")
    outputs = ledger.get(OUTPUTS_KEY) or {}
    chunks, planned = ledger.totals()["chunks"], ledger.get("n_chunks", "?")
    if spec is not None and outputs.get("state") == "complete":
        return f"a finished run (run id {outputs['run_id']}, spec hash {spec['spec_hash']})"
    if spec is not None:
        return (
            f"an interrupted run of spec hash {spec['spec_hash']} ({chunks} of {planned} "
            f"chunk(s) done; `causalgia resume {ledger.path}` finishes it)"
        )
    if identity is not None or chunks:
        return f"the ledger of a simulate(..., store=...) run ({chunks} chunk(s))"
    if _manifest(ledger.path) is not None:
        return f"the outputs of an earlier run ({MANIFEST_NAME})"
    return None


def clear_outputs(run_dir: str | Path) -> None:
    """Delete a run directory's outputs, the manifest first (the ledger is kept).

    Removes ``manifest.json``, every file it lists, ``report.md``, ``report.html``, the
    figures causalgia draws and temporaries left by a killed writer; other files are left.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "report.md").write_text("old")
    >>> clear_outputs(d); list(d.iterdir())
    []
    """
    run_dir = Path(run_dir)
    listed = list((_manifest(run_dir) or {}).get("files") or {})
    root = run_dir.resolve()
    try:
        for name in [*REPORT_FILES, *listed]:
            path = run_dir / name
            if path.is_file() and path.resolve().is_relative_to(root):
                path.unlink()
        for pattern in FIGURE_FILES:
            for path in run_dir.glob(pattern):
                path.unlink()
        for folder in (run_dir, run_dir / "figures", run_dir / "controls"):
            remove_temporaries(folder)
    except OSError as err:
        raise StoreError(
            f"run directory {run_dir}: cannot remove the earlier outputs: {err}"
        ) from None


def open_for_run(run_dir: str | Path, *, overwrite: bool) -> RunStore:
    """The run directory's ledger, opened (and locked) for a run.

    With ``overwrite``, a damaged ledger (:class:`~causalgia.errors.LedgerError`) is moved
    aside as ``ledger.damaged-<time>.sqlite`` and a fresh one is started; without, the error
    stands.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / STORE_FILE).write_text("not a database")
    >>> with open_for_run(d, overwrite=True) as ledger:
    ...     ledger.totals()["chunks"]
    0
    """
    try:
        return RunStore(run_dir)
    except LedgerError:
        if not overwrite:
            raise
    aside = set_aside(run_dir)
    ledger = RunStore(run_dir)
    ledger.event("reset", f"the damaged ledger was moved aside as {aside.name}")
    return ledger


def claim_directory(ledger: RunStore, *, overwrite: bool) -> None:
    """Make the ledger's directory ready for a fresh run, or refuse.

    A directory that holds a run (finished, interrupted, or only its outputs) is refused with
    a :class:`~causalgia.errors.StoreError` unless ``overwrite``; then the ledger is reset and
    the old outputs are deleted.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / MANIFEST_NAME).write_text("{}")
    >>> with RunStore(d) as ledger:
    ...     claim_directory(ledger, overwrite=True)
    >>> (d / MANIFEST_NAME).exists()
    False
    """
    what = occupant(ledger)
    if what is None:
        return
    if not overwrite:
        raise StoreError(
            f"run directory {ledger.path} holds {what}; pass --overwrite (run_study(..., "
            "overwrite=True)) to replace it, or choose another directory"
        )
    ledger.reset()
    clear_outputs(ledger.path)


def begin_outputs(ledger: RunStore) -> str:
    """Start writing a run's outputs: a new run id in state ``writing``, old outputs deleted.

    Returns the run id (uuid4 hex), which the manifest records.

    Examples
    --------
    >>> import tempfile
    >>> with RunStore(tempfile.mkdtemp()) as ledger:
    ...     run_id = begin_outputs(ledger)
    ...     finish_outputs(ledger, run_id)
    ...     ledger.get(OUTPUTS_KEY)["state"], len(run_id)
    ('complete', 32)
    """
    run_id = uuid.uuid4().hex
    state = {"run_id": run_id, "state": "writing", "pid": os.getpid(), "started": _now()}
    ledger.record(OUTPUTS_KEY, state, "writing", f"run {run_id}: earlier outputs removed")
    clear_outputs(ledger.path)
    return run_id


def finish_outputs(ledger: RunStore, run_id: str) -> None:
    """Record that every output of run ``run_id`` is written (the directory's commit point).

    Examples
    --------
    See :func:`begin_outputs`.
    """
    state = {**(ledger.get(OUTPUTS_KEY) or {}), "run_id": run_id, "state": "complete"}
    state["finished"] = _now()
    ledger.record(OUTPUTS_KEY, state, "finished", f"run {run_id}: every output written")


def recorded_spec_hash(run_dir: str | Path) -> str | None:
    """The spec hash recorded in a run directory's ledger (None without a ledger or a spec).

    Examples
    --------
    >>> import tempfile
    >>> recorded_spec_hash(tempfile.mkdtemp()) is None
    True
    """
    if not (Path(run_dir) / STORE_FILE).is_file():
        return None
    with RunStore(run_dir, readonly=True) as ledger:
        spec = ledger.get("spec")
    return None if spec is None else str(spec["spec_hash"])


def _check_outputs(run_dir: Path, outputs: dict[str, Any] | None) -> None:
    manifest = _manifest(run_dir)
    if outputs is not None and outputs.get("state") != "complete":
        raise StoreError(
            f"run directory {run_dir}: run {outputs.get('run_id')} (pid {outputs.get('pid')}) "
            "started writing its outputs and did not finish (killed, or it failed), so the "
            f"files here are not one run's results; `causalgia resume {run_dir}` finishes it"
        )
    if manifest is None or outputs is None:
        return  # read_run names a missing manifest; a ledger of 0.1.0 or of simulate() has no id
    ours = outputs.get("run_id")
    if manifest.get("run_id") != ours:
        raise StoreError(
            f"run directory {run_dir}: {MANIFEST_NAME} is of run {manifest.get('run_id')}, but "
            f"the ledger's last finished run is {ours}: the files do not belong to the run the "
            f"ledger records; `causalgia resume {run_dir}` writes them again"
        )


def report_run(run_dir: str | Path, *, figures: bool = True, force: bool = False) -> RunDirectory:
    """``causalgia report DIR``: check the run directory, then re-render its reports.

    Holds the directory's lock while rendering. With a ledger, the manifest's run id must be
    the ledger's last complete run id; the tables must match their manifest checksums unless
    ``force`` (see :func:`~causalgia.reporting.render_report`).

    Parameters
    ----------
    run_dir : str or Path
        The run directory.
    figures : bool, default True
        Draw the report's figures (needs matplotlib).
    force : bool, default False
        Render even when tables fail their manifest checksums, flagging them in the reports.

    Returns
    -------
    RunDirectory
        ``run_dir`` and the files rendered.

    Examples
    --------
    >>> report_run("runs/demo", figures=False).path.name  # doctest: +SKIP
    'demo'
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise StoreError(f"run directory {run_dir} does not exist")
    if not (run_dir / STORE_FILE).is_file():  # written by write_report alone
        return render_report(run_dir, figures=figures, force=force)
    with RunLock(run_dir):
        with RunStore(run_dir, readonly=True) as ledger:
            outputs = ledger.get(OUTPUTS_KEY)
        _check_outputs(run_dir, outputs)
        return render_report(run_dir, figures=figures, force=force)
