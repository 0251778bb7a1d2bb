"""What ``causalgia resume DIR`` resumes: the recorded spec, corrected, found, and its code named.

A run directory's ledger records the spec of the run (as the user wrote it), its hash, its seed
and the spec's folder (absolute, and relative to the run directory). :func:`plan_resume` turns
that record, plus what the user gives on the command line, into the spec to resume:

- **Corrections.** Options that do not change a forward pass may be corrected on resume
  (``--ci``, ``--method``, ``--title`` or a corrected spec file): the ledger's chunks are reused
  and only the estimation, controls, pooling and reports are redone. A correction that changes
  the design or the model (seed, n, background, experiments, layout, output, ...) is refused:
  its forward passes would be other ones, so it is a new run.
- **Relocation.** Relative paths of the spec (FASTA, motif files, DeepBind parameters) are
  resolved against the spec's folder as recorded *relative to the run directory* first (a
  project moved or copied as a whole), then as recorded absolutely (a run directory copied
  alone); the first folder that has every file wins, and when none has them the error names
  the missing file and both places.
- **Code.** ``model.callable`` and ``model.factory`` name Python code that resuming imports
  and runs. :func:`code_notice` says which; a spec given alongside that names other code than
  the ledger is refused unless ``trust`` (the model fingerprint must still match).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .sections import MotifFile
from .spec import StudySpec, load_spec, parse_spec

CORRECTABLE = frozenset(
    {f"study.{k}" for k in ("name", "method", "ci", "truth", "truth_n", "retries",
                            "batch_size", "chunk_size", "cache", "dask", "on_nonfinite",
                            "timeout")}
    | {"model.batch_size"}
)  # fmt: skip
"""Spec keys a resume may change: none of them changes a forward pass of the run."""
CORRECTABLE_TABLES = ("controls", "pooling")
CODE_KEYS = ("model.callable", "model.factory")


@dataclass(frozen=True)
class ResumePlan:
    """The spec a resume runs, what was corrected, and the code it imports.

    ``changes`` are ``(key, recorded value, new value)``; ``code`` one line per code import.

    Examples
    --------
    >>> ResumePlan(None, (("study.ci", 0.9, 0.95),), ()).corrections()
    {'study.ci': [0.9, 0.95]}
    """

    spec: StudySpec
    changes: tuple[tuple[str, Any, Any], ...]
    code: tuple[str, ...]

    def corrections(self) -> dict[str, list[Any]]:
        """``{key: [recorded, new]}`` for the manifest.

        Returns
        -------
        dict of str to list
            The recorded and the new value of every corrected spec key (None = absent).
        """
        return {key: [old, new] for key, old, new in self.changes}


def _flatten(raw: Mapping[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for table, values in raw.items():
        if isinstance(values, list):
            flat.update({f"{table}[{i}]": v for i, v in enumerate(values)})
        elif isinstance(values, Mapping):
            flat.update({f"{table}.{k}": v for k, v in values.items()})
    return flat


def spec_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """``(key, old, new)`` for every spec key whose value differs (None = absent).

    Examples
    --------
    >>> spec_changes({"study": {"ci": 0.9}}, {"study": {"ci": 0.95, "n": 10}})
    [('study.ci', 0.9, 0.95), ('study.n', None, 10)]
    """
    a, b = _flatten(old), _flatten(new)
    keys = list(a) + [k for k in b if k not in a]
    return [(k, a.get(k), b.get(k)) for k in keys if a.get(k) != b.get(k)]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_changes(changes: list[tuple[str, Any, Any]], run_dir: Path, trust: bool) -> None:
    for key, old, new in changes:
        if key in CORRECTABLE or key.split(".")[0] in CORRECTABLE_TABLES or key in CODE_KEYS:
            continue
        raise ConfigError(
            f"resume cannot change {key} ({_short(old)} -> {_short(new)}): it changes the "
            f"design or the model, so the forward passes in {run_dir} do not apply; start a new "
            f"run (causalgia run SPEC.toml --out NEW_DIR). A resume may correct "
            f"{', '.join(sorted(CORRECTABLE))}, [controls] and [pooling]"
        )
    for key, old, new in changes:
        if key in CODE_KEYS and not trust:
            raise ConfigError(
                f"the ledger of {run_dir} records {key} = {old!r}, but the spec given names "
                f"{new!r}: resuming would import and run other code than the run used; pass "
                f"--trust (trust=True) to import {new!r} (its model fingerprint must still "
                "match the ledger's)"
            )


def spec_inputs(spec: StudySpec) -> list[tuple[str, str]]:
    """``(key, path)`` of every input file a spec names (paths as written, maybe relative).

    Examples
    --------
    >>> spec = parse_spec({"model": {"builtin": "rbp_oracle"},
    ...                    "background": {"kind": "real", "fasta": "bg.fa"},
    ...                    "experiment": [{"type": "identity"}]})
    >>> spec_inputs(spec)
    [('background.fasta', 'bg.fa')]
    """
    found = []
    if spec.background.fasta is not None:
        found.append(("background.fasta", spec.background.fasta))
    if spec.model.deepbind is not None:
        found.append(("model.deepbind", spec.model.deepbind))
    for i, e in enumerate(spec.experiments):
        if isinstance(e.motif, MotifFile):
            found.append((f"experiment[{i}].motif.file", e.motif.file))
    for i, b in enumerate(spec.controls.sensitivity_backgrounds if spec.controls else ()):
        if b.fasta is not None:
            found.append((f"controls.sensitivity_backgrounds[{i}].fasta", b.fasta))
    return found


def _module_files(spec: StudySpec) -> list[str]:
    target = spec.model.callable or spec.model.factory
    if target is None:
        return []
    module = target.partition(":")[0].replace(".", "/")
    return [f"{module}.py", f"{module}/__init__.py"]


def resolve_base(run_dir: Path, recorded: Mapping[str, Any], spec: StudySpec) -> Path:
    """The spec's folder for a resume of ``run_dir`` (see the module docstring).

    Raises
    ------
    ConfigError
        No candidate folder has every input file; names the first missing one.

    Examples
    --------
    >>> spec = parse_spec({"model": {"builtin": "rbp_oracle"},
    ...                    "background": {"kind": "iid", "length": 20},
    ...                    "experiment": [{"type": "identity"}]})
    >>> resolve_base(Path("runs/a"), {"base_dir": "/lab/specs"}, spec)
    PosixPath('/lab/specs')
    """
    candidates = []
    if "base_dir_relative" in recorded:
        candidates.append((run_dir / recorded["base_dir_relative"]).resolve())
    candidates.append(Path(recorded["base_dir"]))
    candidates = list(dict.fromkeys(candidates))
    inputs = [(k, p) for k, p in spec_inputs(spec) if not Path(p).is_absolute()]
    modules = _module_files(spec)
    with_module = [c for c in candidates if any((c / m).is_file() for m in modules)]
    for base in with_module + [c for c in candidates if c not in with_module]:
        if all((base / p).is_file() for _, p in inputs):
            return base
    key, path = next((k, p) for k, p in inputs if not (candidates[0] / p).is_file())
    places = [str(c / path) for c in candidates]
    where = f"neither at {' nor at '.join(places)}" if len(places) > 1 else f"not at {places[0]}"
    raise ConfigError(
        f"{key} = {path!r}: the file is {where} (the spec's folder as recorded relative "
        f"to the run directory {run_dir}, and as recorded absolutely); put it back, or resume "
        "with --spec SPEC.toml from a folder that has it"
    )


def code_notice(spec: StudySpec) -> list[str]:
    """One line per piece of code that building the spec's model imports and runs.

    Examples
    --------
    >>> spec = parse_spec({"model": {"callable": "mylab.nets:cnn", "layout": "NCL"},
    ...                    "background": {"kind": "iid", "length": 20},
    ...                    "experiment": [{"type": "identity"}]}, "/lab")
    >>> print(code_notice(spec)[0])  # doctest: +ELLIPSIS
    model.callable = 'mylab.nets:cnn': resuming imports and runs this code (module mylab.nets, ...
    """
    lines = []
    for key, target in (("callable", spec.model.callable), ("factory", spec.model.factory)):
        if target is None:
            continue
        base = spec.base_dir.resolve()
        local = [m for m in _module_files(spec) if (base / m).is_file()]
        where = str(base / local[0]) if local else "the Python path"
        lines.append(
            f"model.{key} = {target!r}: resuming imports and runs this code (module "
            f"{target.partition(':')[0]}, from {where}; {base} is first on sys.path). Resume "
            "only run directories whose code you trust."
        )
    return lines


def spec_record(spec: StudySpec, run_dir: Path, seed: int) -> dict[str, Any]:
    """What the ledger records of a spec: raw, hash, seed, folder (absolute and relative).

    Examples
    --------
    >>> spec = parse_spec({"model": {"builtin": "rbp_oracle"},
    ...                    "background": {"kind": "iid", "length": 20},
    ...                    "experiment": [{"type": "identity"}]}, "/lab/specs")
    >>> spec_record(spec, Path("/lab/runs/a"), 1)["base_dir_relative"]
    '../../specs'
    """
    base = spec.base_dir.resolve()
    return {
        "raw": spec.raw,
        "base_dir": str(base),
        "base_dir_relative": os.path.relpath(base, run_dir.resolve()),
        "spec_hash": spec.spec_hash,
        "seed": seed,
    }


def plan_resume(
    run_dir: Path,
    recorded: Mapping[str, Any],
    *,
    spec: StudySpec | str | Path | None = None,
    ci: float | None = None,
    method: str | None = None,
    title: str | None = None,
    trust: bool = False,
) -> ResumePlan:
    """The spec to resume ``run_dir`` with: recorded, corrected, checked and located.

    ``spec`` (a corrected spec, or its path) replaces the recorded one; ``ci``, ``method`` and
    ``title`` then override ``[study]`` keys. Every error is raised before a model is built.

    Parameters
    ----------
    run_dir : Path
        The run directory being resumed.
    recorded : mapping
        The spec record of its ledger: ``raw`` (the recorded spec) and ``base_dir`` (the
        spec's folder when the run started).
    spec : StudySpec, str or Path, optional
        A corrected spec, or its file, instead of the recorded one.
    ci : float, optional
        Corrected ``study.ci``.
    method : str, optional
        Corrected ``study.method``.
    title : str, optional
        Corrected ``study.name`` (the report's title).
    trust : bool, default False
        Accept a spec whose ``model.callable`` / ``model.factory`` differs from the ledger's.

    Returns
    -------
    ResumePlan
        The spec to run, the corrections made and the code it imports.

    Raises
    ------
    ConfigError
        A correction that is not valid, changes the design or the model, or names other code
        than the ledger without ``trust``; an input file that cannot be found.

    Examples
    --------
    >>> raw = {"study": {"seed": 1}, "model": {"builtin": "rbp_oracle"},
    ...        "background": {"kind": "iid", "length": 20},
    ...        "experiment": [{"type": "identity"}]}
    >>> recorded = {"raw": parse_spec(raw).raw, "base_dir": "/lab"}
    >>> plan_resume(Path("runs/a"), recorded, ci=0.9).corrections()
    {'study.ci': [None, 0.9]}
    >>> plan_resume(Path("runs/a"), recorded, spec=parse_spec({**raw, "study": {"seed": 2}}))
    Traceback (most recent call last):
    ...
    causalgia.errors.ConfigError: resume cannot change study.seed (1 -> 2): it changes the ...
    """
    if spec is None:
        raw, base = copy.deepcopy(dict(recorded["raw"])), None
    else:
        given = spec if isinstance(spec, StudySpec) else load_spec(spec)
        raw, base = copy.deepcopy(dict(given.raw)), given.base_dir
    study = dict(raw.get("study", {}))
    for key, value in (("ci", ci), ("method", method), ("name", title)):
        if value is not None:
            study[key] = value
    raw["study"] = study
    parsed = parse_spec(raw, base if base is not None else recorded["base_dir"])
    changes = spec_changes(recorded["raw"], parsed.raw)
    _check_changes(changes, run_dir, trust)
    if base is None:
        parsed = replace(parsed, base_dir=resolve_base(run_dir, recorded, parsed))
    return ResumePlan(parsed, tuple(changes), tuple(code_notice(parsed)))
