"""TOML study specifications, read with :mod:`tomllib` and parsed once into typed sections.

A spec has four kinds of table: ``[study]``, ``[model]``, ``[background]`` and one or more
``[[experiment]]``, plus optional ``[controls]`` and ``[pooling]``. :func:`parse_spec` turns it
into a frozen :class:`StudySpec` of the dataclasses in :mod:`causalgia.studies.sections`, whose
fields hold every default. Every error the spec alone determines (a wrong type, a value outside
its set or range, an unknown or ignored key, a motif past the background's end) is raised here,
before any model is built, as a :class:`~causalgia.errors.ConfigError` naming the key path
(``experiment[2].positions[3]``). docs/formats.md lists every key.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import importlib.util
import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..engine.models import Output
from ..engine.outputs import as_outputs
from ..errors import ConfigError, OptionError
from .sections import (
    CURVES,
    MODEL_SOURCES,
    BackgroundSection,
    ControlsSection,
    ExperimentSpec,
    ModelSection,
    PoolingSection,
    StudySection,
    spec_fields,
)
from .spec_checks import (
    check_background,
    check_experiment,
    check_motif_string,
    check_table,
    dask_workers,
    unknown_key,
)

TABLES = ("study", "model", "background", "experiment", "controls", "pooling")
_OUTPUT_KEYS = {
    "index": (int,),
    "transform": (str,),
    "reduce": (str,),
    "window": (list,),
    "head": (int, str),
    "counts_head": (int, str),
    "task": (str,),
    "task_names": (list,),
}
# the numeric design parameter each experiment type's rows carry (pooling.curve)
_CURVE_OF = {
    "positions": ("position",),
    "counts": ("count",),
    "spacing": ("spacing",),
    "substitute": ("position",),
    "scrambled": ("position",),
    "mutate": ("position",),
    "ablate": ("start",),
    "identity": (),
    "random_kmers": ("position",),
    "motif_screen": ("position",),
}


@dataclass(frozen=True)
class StudySpec:
    """A validated study specification, parsed once into typed sections.

    ``base_dir`` is the folder of the spec file: relative paths (FASTA, motif files, the
    cache) are resolved against it. ``raw`` holds the values the user gave (with each
    experiment's ``name`` filled in): it is what ``spec_hash``, the sha256 of its canonical
    JSON, covers and what a run directory's ledger records, so the defaults of the sections can
    change without changing the hash of a spec. ``controls`` and ``pooling`` are None when the
    spec has no such table.
    """

    study: StudySection
    model: ModelSection
    background: BackgroundSection
    experiments: tuple[ExperimentSpec, ...]
    base_dir: Path
    spec_hash: str
    controls: ControlsSection | None = None
    pooling: PoolingSection | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def resolve(self, path: str) -> Path:
        """A path from the spec, relative to the spec file's folder.

        Parameters
        ----------
        path : str
            A path as written in the spec.

        Returns
        -------
        Path
            ``path`` itself when absolute, else ``path`` under ``base_dir``.
        """
        p = Path(path)
        return p if p.is_absolute() else self.base_dir / p


def _study(values: dict[str, Any], model: ModelSection) -> StudySection:
    design = values.get("design", StudySection.design)
    methods = spec_fields(StudySection)["method"].metadata["by"]
    method = values.setdefault("method", methods[design])
    if design == "randomized" and method in ("paired_t", "cluster"):
        raise ConfigError(
            f"study.method = {method!r} needs both potential outcomes of every background; "
            "study.design = 'randomized' observes one per background: use 'welch' or a "
            "bootstrap method"
        )
    if values.get("truth") and model.builtin is None:
        raise ConfigError("study.truth = true needs a builtin oracle model (model.builtin)")
    if values.get("truth") and model.outputs is not None:
        raise ConfigError(
            "study.truth = true computes the true ACEs of one output functional (the oracles "
            "have one); model.outputs declares several: drop study.truth or model.outputs"
        )
    if "dask" in values:
        dask_workers(values["dask"])
    if values.get("design_table") == "parquet" and importlib.util.find_spec("pyarrow") is None:
        raise ConfigError(
            "study.design_table = 'parquet' needs pyarrow (python -m pip install pyarrow); "
            "use 'csv' or 'none'"
        )
    return StudySection(**values)


def _output(value: Any, where: str = "model.output") -> Output:
    """``model.output`` (or one entry ``where`` of ``model.outputs``): a task index or a table
    of :class:`Output` fields (``_OUTPUT_KEYS``)."""
    if isinstance(value, bool) or not isinstance(value, int | dict):
        raise ConfigError(f"{where} = {value!r} must be a task index or a table")
    if isinstance(value, int):
        if value < 0:
            raise ConfigError(f"{where} = {value} must be a task index >= 0")
        return Output(index=value)
    for key, item in value.items():
        if key not in _OUTPUT_KEYS:
            raise unknown_key(where, key, _OUTPUT_KEYS)
        types = _OUTPUT_KEYS[key]
        if isinstance(item, bool) or not isinstance(item, types):
            kinds = " or ".join(t.__name__ for t in types)
            raise ConfigError(f"{where}.{key} = {item!r} must be {kinds}")
    names = value.get("task_names")
    if names is not None and not all(isinstance(n, str) for n in names):
        raise ConfigError(f"{where}.task_names = {names!r} must be a list of str")
    window = value.get("window")
    if window is not None and not (
        len(window) == 2
        and all(isinstance(w, int) and not isinstance(w, bool) for w in window)
        and 0 <= window[0] < window[1]
    ):
        raise ConfigError(f"{where}.window = {window!r} must be [a, b] with 0 <= a < b")
    try:
        return Output(**{k: tuple(v) if k == "task_names" else v for k, v in value.items()})
    except OptionError as err:  # Output's own checks (transform, reduce, heads, task names)
        raise ConfigError(f"{where}: {err}") from None


def _outputs(
    value: Any, task_names: tuple[str, ...] | None
) -> tuple[tuple[str, Output], ...] | str:
    """``model.outputs``: ``"tasks"`` or a table of named functionals, each as ``model.output``."""
    if isinstance(value, str):
        if value != "tasks":
            raise ConfigError(
                f"model.outputs = {value!r}: give 'tasks' (every column of an (N, T) output) "
                "or a table of named outputs ({ name = { head = 1 }, ... })"
            )
        parsed: tuple[tuple[str, Output], ...] | str = value
    else:
        if not value:
            raise ConfigError("model.outputs is an empty table: name one or more outputs")
        parsed = tuple((name, _output(v, f"model.outputs.{name}")) for name, v in value.items())
    try:  # names unique and non-empty, tasks by name known (else the model's own, at build)
        if parsed != "tasks" or task_names is not None:
            as_outputs(dict(parsed) if isinstance(parsed, tuple) else parsed, task_names)
    except OptionError as err:
        raise ConfigError(f"model.outputs: {err}") from None
    return parsed


def _model(table: Any) -> ModelSection:
    values = check_table(ModelSection, table, "model")
    if sum(key in values for key in MODEL_SOURCES) != 1:
        raise ConfigError(
            "[model] needs exactly one of model.builtin or model.callable or model.factory "
            "or model.deepbind"
        )
    for key in ("callable", "factory"):
        if key in values and not all(values[key].partition(":")[::2]):
            raise ConfigError(
                f"model.{key} = {values[key]!r} must look like 'package.module:function'"
            )
    if "callable" in values and "layout" not in values:
        raise ConfigError("model.layout is required for a callable model ('NCL' or 'NLC')")
    oracle = values.get("builtin") == "additive_oracle"
    for key in ("motif", "length"):
        if key in values and not oracle:
            raise ConfigError(f"model.{key} is only used by model.builtin = 'additive_oracle'")
    if oracle and ("motif" not in values or "length" not in values):
        raise ConfigError("model.builtin = 'additive_oracle' needs model.motif and model.length")
    if oracle:
        check_motif_string(values["motif"], "model.motif")
        if len(values["motif"]) > values["length"]:
            raise ConfigError(
                f"model.motif = {values['motif']!r} is longer than model.length = "
                f"{values['length']}"
            )
    if "output" in values and "outputs" in values:
        raise ConfigError(
            "model.output and model.outputs are both given: declare one output functional "
            "(model.output) or several named ones (model.outputs), not both"
        )
    if "output" in values:
        values["output"] = _output(values["output"])
    if "outputs" in values:
        values["outputs"] = _outputs(values["outputs"], values.get("task_names"))
    elif "task_names" in values:
        raise ConfigError(
            "model.task_names names the tasks of model.outputs; for one output give "
            "model.output.task_names"
        )
    layouts = spec_fields(ModelSection)["layout"].metadata["by"]
    for source, layout in layouts.items():
        if source in values:
            values.setdefault("layout", layout)
    return ModelSection(**values)


def _names(values: Mapping[str, Any], section: str, names: set[str], cls: type) -> None:
    for key, f in spec_fields(cls).items():
        if not f.metadata["names"]:
            continue
        unknown = [v for v in values.get(key, ()) if v not in names]
        if unknown:
            raise ConfigError(
                f"{section}.{key} names {unknown}, which are not experiment names ({sorted(names)})"
            )


def _controls(table: Any, names: set[str], model: ModelSection) -> ControlsSection:
    values = check_table(ControlsSection, table, "controls")
    _names(values, "controls", names, ControlsSection)
    values["sensitivity_backgrounds"] = tuple(
        check_background(bg, f"controls.sensitivity_backgrounds[{i}]", nested=True)[0]
        for i, bg in enumerate(values.get("sensitivity_backgrounds", ()))
    )
    if "sensitivity_experiments" in values and not values["sensitivity_backgrounds"]:
        raise ConfigError("controls.sensitivity_experiments needs controls.sensitivity_backgrounds")
    controls = ControlsSection(**values)
    _check_randomized_weights(values, controls, model)
    several = [k for k in ("sensitivity_backgrounds", "randomized_weights") if values.get(k)]
    if model.outputs is not None and several:
        raise ConfigError(
            f"controls.{several[0]} is not supported yet for a model with several outputs "
            "(model.outputs); the placebo, positive, negative, gc, null and calibrate checks "
            "run per output"
        )
    return controls


def _check_randomized_weights(
    given: Mapping[str, Any], controls: ControlsSection, model: ModelSection
) -> None:
    """[controls] randomized_weights*: a model that has weights.

    Whether a ``model.callable`` / ``model.factory`` gives a torch, ONNX or DeepBind model is
    only known once it is built; ``causalgia run`` checks that before simulating.
    """
    keys = [k for k in given if k.startswith("randomized_weights_")]
    if controls.randomized_weights is None:
        if keys:
            raise ConfigError(
                f"controls.{keys[0]} needs controls.randomized_weights (the number of "
                "randomized-weights copies)"
            )
        return
    if model.builtin is not None:
        raise ConfigError(
            f"controls.randomized_weights needs a model with weights: model.builtin = "
            f"{model.builtin!r} is an oracle without any; use model.deepbind, or a "
            "model.factory / model.callable that gives a torch module or an ONNX session"
        )
    if controls.randomized_weights_mode == "reinit" and model.deepbind is not None:
        raise ConfigError(
            "controls.randomized_weights_mode = 'reinit' needs a torch model "
            "(reset_parameters); a model.deepbind model takes 'permute' or 'redraw'"
        )


def _pooling(table: Any, experiments: tuple[ExperimentSpec, ...]) -> PoolingSection:
    values = check_table(PoolingSection, table, "pooling")
    names = {e.name for e in experiments}
    _names(values, "pooling", names, PoolingSection)
    if not values.get("experiments"):
        raise ConfigError("[pooling] needs pooling.experiments (a list of experiment names)")
    pooling = PoolingSection(**values)
    if pooling.curve is None:
        for key in ("curve_prior", "periodic"):
            if key in values:
                raise ConfigError(
                    f"pooling.{key} needs pooling.curve (the design parameter of the curve: "
                    f"{', '.join(CURVES)})"
                )
        return pooling
    for e in experiments:
        if e.name in pooling.experiments and pooling.curve not in _CURVE_OF[e.type]:
            has = " or ".join(repr(c) for c in _CURVE_OF[e.type]) or "none"
            raise ConfigError(
                f"pooling.curve = {pooling.curve!r} is not a parameter of experiment {e.name!r} "
                f"(type {e.type!r} has {has})"
            )
    return pooling


def parse_spec(raw: Mapping[str, Any], base_dir: str | Path = ".") -> StudySpec:
    """Check a parsed TOML mapping and return a :class:`StudySpec` of typed sections.

    Parameters
    ----------
    raw : mapping
        The spec's tables (``study``, ``model``, ``background``, ``experiment``, ``controls``,
        ``pooling``), as :mod:`tomllib` parses them.
    base_dir : str or Path, default "."
        The folder that relative paths in the spec are resolved against.

    Returns
    -------
    StudySpec

    Raises
    ------
    ConfigError
        For every error the spec alone determines, naming the key path.

    Examples
    --------
    >>> spec = parse_spec({"model": {"builtin": "rbp_oracle"},
    ...                    "background": {"kind": "iid", "length": 41},
    ...                    "experiment": [{"type": "identity"}]})
    >>> spec.experiments[0].name, spec.study.n, spec.study.method
    ('identity', 200, 'paired_t')
    """
    if not isinstance(raw, Mapping):
        raise ConfigError(f"a spec must be a mapping of tables, got {type(raw).__name__}")
    unknown = [key for key in raw if key not in TABLES]
    if unknown:
        close = difflib.get_close_matches(str(unknown[0]), TABLES, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"unknown table(s) {sorted(map(str, unknown))}; allowed: study, model, background, "
            f"experiment, controls, pooling{hint}"
        )
    study_values = check_table(StudySection, raw.get("study", {}), "study")
    model = _model(raw.get("model", {}))
    study = _study(study_values, model)
    background, length = check_background(raw.get("background", {}), "background")
    if model.length is not None and length is not None and model.length != length:
        raise ConfigError(
            f"model.length = {model.length} but background.length = {length}: the additive "
            "oracle scores sequences of its own length"
        )
    tables = raw.get("experiment")
    if not isinstance(tables, list) or not tables:
        raise ConfigError("the spec needs at least one [[experiment]] table")
    experiments = tuple(check_experiment(e, i, length) for i, e in enumerate(tables))
    names = {e.name for e in experiments}
    controls = None if "controls" not in raw else _controls(raw["controls"], names, model)
    pooling = None if "pooling" not in raw else _pooling(raw["pooling"], experiments)
    hashed = {name: copy.deepcopy(dict(raw.get(name, {}))) for name in TABLES[:3]}
    pairs = zip(tables, experiments, strict=True)
    hashed["experiment"] = [{**copy.deepcopy(t), "name": e.name} for t, e in pairs]
    for name in ("controls", "pooling"):
        if name in raw:
            hashed[name] = copy.deepcopy(dict(raw[name]))
    canonical = json.dumps(hashed, sort_keys=True)
    return StudySpec(
        study,
        model,
        background,
        experiments,
        Path(base_dir),
        hashlib.sha256(canonical.encode()).hexdigest()[:16],
        controls,
        pooling,
        hashed,
    )


def load_spec(path: str | Path) -> StudySpec:
    """Read and validate a TOML study specification.

    Parameters
    ----------
    path : str or Path
        The TOML file (UTF-8); relative paths inside it are resolved against its folder.

    Returns
    -------
    StudySpec

    Raises
    ------
    ConfigError
        When the file is missing, unreadable, not TOML, or not a valid spec.

    Examples
    --------
    >>> from causalgia.studies.spec import DEMO_SPEC
    >>> load_spec(DEMO_SPEC).model.builtin
    'rbp_oracle'
    """
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"spec file {str(path)!r} is a directory, not a TOML file")
    if not path.is_file():
        raise ConfigError(f"spec file {str(path)!r} does not exist")
    try:
        data = path.read_bytes()
    except OSError as err:
        why = err.strerror or err
        raise ConfigError(f"spec file {str(path)!r} cannot be read: {why}") from None
    return parse_spec(_toml(data, path), path.parent)


def _toml(data: bytes, path: Path) -> Any:
    """Parse a spec's bytes: UTF-8 (TOML's only encoding; a BOM is accepted), then TOML."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        column = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        raise ConfigError(
            f"{path}: line {line}, column {column}: byte 0x{data[err.start]:02x} is not UTF-8; "
            "a TOML spec must be UTF-8 text (re-save it as UTF-8)"
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from None


DEMO_SPEC = Path(__file__).with_name("demo.toml")
