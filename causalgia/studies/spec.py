"""TOML study specifications, read with :mod:`tomllib` and validated with precise messages.

A spec has four kinds of table: ``[study]``, ``[model]``, ``[background]`` and one or more
``[[experiment]]``. Unknown keys and bad values are :class:`~causalgia.errors.ConfigError`\\ s
naming the key (``experiment[2].positions``). docs/formats.md lists every key.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError

_SECTIONS: dict[str, dict[str, tuple[type, ...]]] = {
    "study": {
        "name": (str,),
        "seed": (int,),
        "n": (int,),
        "design": (str,),
        "method": (str,),
        "ci": (float, int),
        "truth": (bool,),
        "truth_n": (int,),
        "batch_size": (int,),
        "chunk_size": (int,),
        "retries": (int,),
        "on_nonfinite": (str,),
        "cache": (str,),
        "dask": (str,),
    },
    "model": {
        "builtin": (str,),
        "callable": (str,),
        "factory": (str,),
        "deepbind": (str,),
        "layout": (str,),
        "alphabet": (str,),
        "output": (int, dict),
        "batch_size": (int,),
        "n_value": (float, int),
        "motif": (str,),
        "length": (int,),
    },
    "background": {
        "kind": (str,),
        "length": (int,),
        "gc": (float, int),
        "composition": (list,),
        "fasta": (str,),
        "k": (int,),
        "order": (int,),
        "replace": (bool,),
        "pseudocount": (float, int),
    },
}
_EXPERIMENT: dict[str, tuple[type, ...]] = {
    "name": (str,),
    "type": (str,),
    "motif": (str, dict),
    "motif_b": (str, dict),
    "positions": (list,),
    "position": (int,),
    "strand": (str,),
    "counts": (list,),
    "spacings": (list,),
    "start": (int,),
    "orientations": (list,),
    "label": (str,),
    "base": (str,),
    "stop": (int,),
    "fill": (str,),
    "k": (int,),
    "instance": (str,),
    "n_kmers": (int,),
    "n_scrambles": (int,),
    "min_distance": (int,),
}
# [controls]: experiments (by name) holding each kind of control; see controls.evaluate_controls
_CONTROLS: dict[str, tuple[type, ...]] = {
    "positive": (list,),
    "negative": (list,),
    "placebo": (list,),
    "gc": (list,),
    "null": (list,),
    "calibrate": (list,),
    "alpha": (float,),
    "power": (float,),
    "min_effect": (float, int),
    "sensitivity_backgrounds": (list,),
    "sensitivity_experiments": (list,),
    "randomized_weights": (int,),  # copies of a framework model with randomized weights
    "randomized_weights_mode": (str,),
    "randomized_weights_experiments": (list,),
    "randomized_weights_max_retained": (float, int),
}
# [pooling]: a hierarchical model of some experiments' ICEs; see hierarchical.fit_hierarchical
_POOLING: dict[str, tuple[type, ...]] = {
    "experiments": (list,),
    "curve": (str,),
    "curve_prior": (str,),
    "periodic": (float, int),
    "groups": (list,),
    "effects": (str,),
    "draws": (int,),
    "tune": (int,),
    "chains": (int,),
    "target_accept": (float,),
    "hdi_prob": (float,),
    "min_effect": (float, int),
    "diagnostics": (str,),
}
EXPERIMENT_TYPES = (
    "positions",
    "counts",
    "spacing",
    "substitute",
    "scrambled",
    "mutate",
    "ablate",
    "identity",
    "random_kmers",
)
_REQUIRED = {
    "positions": ("motif", "positions"),
    "counts": ("motif", "counts", "positions"),
    "spacing": ("motif", "spacings", "start"),
    "substitute": ("motif", "position"),
    "scrambled": ("motif", "position"),
    "mutate": ("position", "base"),
    "ablate": ("start", "stop"),
    "identity": (),
    "random_kmers": ("motif", "position"),
}


@dataclass(frozen=True)
class StudySpec:
    """A validated study specification.

    ``base_dir`` is the folder of the spec file: relative paths (FASTA, motif files) are
    resolved against it. ``spec_hash`` is the sha256 of the parsed spec in canonical JSON.
    """

    study: Mapping[str, Any]
    model: Mapping[str, Any]
    background: Mapping[str, Any]
    experiments: tuple[Mapping[str, Any], ...]
    base_dir: Path
    spec_hash: str
    controls: Mapping[str, Any] = field(default_factory=dict)
    pooling: Mapping[str, Any] = field(default_factory=dict)

    def resolve(self, path: str) -> Path:
        """A path from the spec, relative to the spec file's folder."""
        p = Path(path)
        return p if p.is_absolute() else self.base_dir / p


def _check_table(table: Any, allowed: Mapping[str, tuple[type, ...]], where: str) -> dict:
    if not isinstance(table, dict):
        raise ConfigError(f"[{where}] must be a table")
    for key, value in table.items():
        if key not in allowed:
            raise ConfigError(f"unknown key {where}.{key}; allowed keys: {sorted(allowed)}")
        types = allowed[key]
        if isinstance(value, bool) and bool not in types:
            raise ConfigError(f"{where}.{key} = {value!r} has the wrong type")
        if not isinstance(value, types):
            names = " or ".join(t.__name__ for t in types)
            raise ConfigError(f"{where}.{key} = {value!r} must be {names}")
    return dict(table)


def _check_experiment(exp: Any, index: int) -> dict:
    where = f"experiment[{index}]"
    table = _check_table(exp, _EXPERIMENT, where)
    kind = table.get("type")
    if kind not in EXPERIMENT_TYPES:
        raise ConfigError(f"{where}.type = {kind!r}; choose one of {EXPERIMENT_TYPES}")
    for key in _REQUIRED[kind]:
        if key not in table:
            raise ConfigError(f"{where} of type {kind!r} needs the key {where}.{key}")
    for key in ("positions", "counts", "spacings"):
        values = table.get(key, [])
        if any(isinstance(v, bool) or not isinstance(v, int) for v in values):
            raise ConfigError(f"{where}.{key} must be a list of integers, got {values!r}")
    table.setdefault("name", kind)
    return table


def parse_spec(raw: Mapping[str, Any], base_dir: str | Path = ".") -> StudySpec:
    """Validate a parsed TOML mapping and return a :class:`StudySpec`.

    Examples
    --------
    >>> spec = parse_spec({"model": {"builtin": "rbp_oracle"},
    ...                    "background": {"kind": "iid", "length": 41},
    ...                    "experiment": [{"type": "identity"}]})
    >>> spec.experiments[0]["name"]
    'identity'
    """
    unknown = set(raw) - {*_SECTIONS, "experiment", "controls", "pooling"}
    if unknown:
        raise ConfigError(
            f"unknown table(s) {sorted(unknown)}; allowed: study, model, background, experiment, "
            "controls, pooling"
        )
    sections = {
        name: _check_table(raw.get(name, {}), keys, name) for name, keys in _SECTIONS.items()
    }
    model = sections["model"]
    if sum(key in model for key in ("builtin", "callable", "factory", "deepbind")) != 1:
        raise ConfigError(
            "[model] needs exactly one of model.builtin or model.callable or model.factory "
            "or model.deepbind"
        )
    for key in ("callable", "factory"):
        if key in model and ":" not in model[key]:
            raise ConfigError(
                f"model.{key} = {model[key]!r} must look like 'package.module:function'"
            )
    policy = sections["study"].get("on_nonfinite", "raise")
    if policy not in ("raise", "drop"):
        raise ConfigError(f"study.on_nonfinite = {policy!r}; choose 'raise' or 'drop'")
    for key in ("retries", "chunk_size", "batch_size"):
        value = sections["study"].get(key)
        if value is not None and value < (0 if key == "retries" else 1):
            raise ConfigError(f"study.{key} = {value} is out of range")
    if "callable" in model and "layout" not in model:
        raise ConfigError("model.layout is required for a callable model ('NCL' or 'NLC')")
    if "kind" not in sections["background"]:
        raise ConfigError("[background] needs background.kind")
    experiments = raw.get("experiment")
    if not isinstance(experiments, list) or not experiments:
        raise ConfigError("the spec needs at least one [[experiment]] table")
    checked = tuple(_check_experiment(e, i) for i, e in enumerate(experiments))
    extra = _check_extras(raw, {e["name"] for e in checked})
    _check_randomized_weights(extra.get("controls", {}), model)
    canonical = json.dumps({**sections, "experiment": list(checked), **extra}, sort_keys=True)
    return StudySpec(
        sections["study"],
        model,
        sections["background"],
        checked,
        Path(base_dir),
        hashlib.sha256(canonical.encode()).hexdigest()[:16],
        extra.get("controls", {}),
        extra.get("pooling", {}),
    )


def _check_extras(raw: Mapping[str, Any], names: set[str]) -> dict[str, dict]:
    """Validate the optional [controls] and [pooling] tables (only present ones are returned,
    so specs without them keep their hash)."""
    out = {}
    for section, keys in (("controls", _CONTROLS), ("pooling", _POOLING)):
        if section not in raw:
            continue
        table = _check_table(raw[section], keys, section)
        for key in ("positive", "negative", "placebo", "gc", "null", "calibrate",
                    "sensitivity_experiments", "randomized_weights_experiments",
                    "experiments"):  # fmt: skip
            unknown = [v for v in table.get(key, []) if v not in names]
            if unknown:
                raise ConfigError(
                    f"{section}.{key} names {unknown}, which are not experiment names "
                    f"({sorted(names)})"
                )
        for i, bg in enumerate(table.get("sensitivity_backgrounds", [])):
            _check_table(bg, _SECTIONS["background"], f"controls.sensitivity_backgrounds[{i}]")
            if "kind" not in bg:
                raise ConfigError(f"controls.sensitivity_backgrounds[{i}] needs kind")
        if section == "pooling" and not table.get("experiments"):
            raise ConfigError("[pooling] needs pooling.experiments (a list of experiment names)")
        out[section] = table
    return out


def _check_randomized_weights(controls: Mapping[str, Any], model: Mapping[str, Any]) -> None:
    """[controls] randomized_weights*: copies, mode and margin, and a model that has weights.

    Whether a ``model.callable`` / ``model.factory`` gives a torch, ONNX or DeepBind model is
    only known once it is built; ``causalgia run`` checks that before simulating.
    """
    keys = [k for k in controls if k.startswith("randomized_weights_")]
    if "randomized_weights" not in controls:
        if keys:
            raise ConfigError(
                f"controls.{keys[0]} needs controls.randomized_weights (the number of "
                "randomized-weights copies)"
            )
        return
    copies = controls["randomized_weights"]
    if copies < 1:
        raise ConfigError(
            f"controls.randomized_weights = {copies} must be >= 1 (the number of copies of "
            "the model with randomized weights)"
        )
    modes = ("permute", "redraw", "reinit")  # causalgia.checks.randomization.MODES
    mode = controls.get("randomized_weights_mode", "permute")
    if mode not in modes:
        raise ConfigError(f"controls.randomized_weights_mode = {mode!r}; choose one of {modes}")
    share = controls.get("randomized_weights_max_retained", 0.5)
    if not 0 <= share <= 1:
        raise ConfigError(
            f"controls.randomized_weights_max_retained = {share} must lie in [0, 1] (the largest "
            "fraction of an effect a randomized copy may keep)"
        )
    if "builtin" in model:
        raise ConfigError(
            f"controls.randomized_weights needs a model with weights: model.builtin = "
            f"{model['builtin']!r} is an oracle without any; use model.deepbind, or a "
            "model.factory / model.callable that gives a torch module or an ONNX session"
        )
    if mode == "reinit" and "deepbind" in model:
        raise ConfigError(
            "controls.randomized_weights_mode = 'reinit' needs a torch model "
            "(reset_parameters); a model.deepbind model takes 'permute' or 'redraw'"
        )


def load_spec(path: str | Path) -> StudySpec:
    """Read and validate a TOML study specification.

    Examples
    --------
    >>> from causalgia.studies.spec import DEMO_SPEC
    >>> load_spec(DEMO_SPEC).model["builtin"]
    'rbp_oracle'
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"spec file {str(path)!r} does not exist")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from None
    return parse_spec(raw, path.parent)


DEMO_SPEC = Path(__file__).with_name("demo.toml")
