"""The checks behind :func:`~causalgia.studies.spec.parse_spec`: one table, one value, one
experiment.

:func:`check_table` checks a TOML table against a section dataclass's field metadata (unknown
keys with a "did you mean", types, allowed values, ranges, list elements by index);
:func:`check_background` and :func:`check_experiment` add what depends on the background kind or
the experiment type, down to whether each motif fits in a background whose length the spec
gives. Every error is a :class:`~causalgia.errors.ConfigError` naming the key path.
"""

from __future__ import annotations

import difflib
import math
import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import Field
from typing import Any

from ..errors import ConfigError, MotifError
from ..sequences.motifs import coerce_motif
from .sections import (
    EXPERIMENT_TYPES,
    REQUIRED,
    BackgroundSection,
    ExperimentSpec,
    MotifFile,
    spec_fields,
)

MOTIF_LETTERS = frozenset("ACGTURYSWKMBDHVN")
"""A, C, G, T, U and the IUPAC codes (:meth:`causalgia.sequences.motifs.Motif.from_string`)."""
_NOUNS = {int: "integers", str: "strings", float: "numbers", dict: "tables", list: "lists"}
_NONEMPTY = {
    "positions": ("positions",),
    "counts": ("counts",),
    "spacing": ("spacings", "orientations"),
    "motif_screen": ("positions", "names"),
}


def choices_text(allowed: Sequence[Any]) -> str:
    """``"choose 'a' or 'b'"``, or ``"choose one of 'a', 'b', 'c'"``.

    Examples
    --------
    >>> choices_text(("raise", "drop"))
    "choose 'raise' or 'drop'"
    """
    quoted = [repr(a) for a in allowed]
    if len(quoted) == 2:
        return f"choose {quoted[0]} or {quoted[1]}"
    return f"choose one of {', '.join(quoted)}"


def unknown_key(where: str, key: Any, allowed: Iterable[str]) -> ConfigError:
    """An unknown-key error with a ``difflib`` suggestion (or the allowed keys).

    Examples
    --------
    >>> str(unknown_key("experiment[2]", "positons", ["positions", "position", "motif"]))
    "unknown key experiment[2].positons; did you mean 'positions'?"
    """
    allowed = list(allowed)
    close = difflib.get_close_matches(str(key), allowed, n=1)
    if close:
        return ConfigError(f"unknown key {where}.{key}; did you mean {close[0]!r}?")
    return ConfigError(f"unknown key {where}.{key}; allowed keys: {sorted(allowed)}")


def _type_ok(value: Any, types: tuple[type, ...]) -> bool:
    if isinstance(value, bool):
        return bool in types
    return isinstance(value, types)


def _type_names(types: tuple[type, ...]) -> str:
    return " or ".join(t.__name__ for t in types)


def check_scalar(meta: Mapping[str, Any], value: Any, path: str) -> None:
    """Allowed values and ranges of one value (a list element is checked on its own).

    Examples
    --------
    >>> from causalgia.studies.sections import StudySection, spec_fields
    >>> check_scalar(spec_fields(StudySection)["ci"].metadata, 95, "study.ci")
    Traceback (most recent call last):
    ...
    causalgia.errors.ConfigError: study.ci = 95 must lie in (0, 1)
    """
    why = f" ({meta['why']})" if meta["why"] else ""
    if meta["choices"] and isinstance(value, str):
        folded = getattr(value, meta["fold"])() if meta["fold"] else value
        if folded not in meta["choices"]:
            raise ConfigError(f"{path} = {value!r}; {choices_text(meta['choices'])}")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{path} = {value!r} must be a finite number")
    if meta["interval"]:
        inside = 0 < value < 1 if meta["interval"] == "(0, 1)" else 0 <= value <= 1
        if not inside:
            raise ConfigError(f"{path} = {value!r} must lie in {meta['interval']}{why}")
    bounds = (
        (meta["minimum"], ">=", operator.ge),
        (meta["maximum"], "<=", operator.le),
        (meta["above"], ">", operator.gt),
    )
    for bound, sign, holds in bounds:
        if bound is not None and not holds(value, bound):
            if why:
                raise ConfigError(f"{path} = {value!r} must be {sign} {bound}{why}")
            raise ConfigError(f"{path} = {value!r} is out of range: it must be {sign} {bound}")


def check_value(f: Field[Any], value: Any, path: str) -> Any:
    """Check one key's value; lists become tuples, list elements are named by index.

    Examples
    --------
    >>> from causalgia.studies.sections import ExperimentSpec, spec_fields
    >>> check_value(spec_fields(ExperimentSpec)["positions"], [0, 3], "experiment[0].positions")
    (0, 3)
    """
    meta = f.metadata
    if not _type_ok(value, meta["toml"]):
        raise ConfigError(f"{path} = {value!r} must be {_type_names(meta['toml'])}")
    if not isinstance(value, list) or meta["items"] == ():
        check_scalar(meta, value, path)
        return value
    items = meta["items"]
    for i, item in enumerate(value):
        if not _type_ok(item, items):
            noun = "numbers" if float in items else " or ".join(_NOUNS[t] for t in items)
            raise ConfigError(
                f"{path} must be a list of {noun}: {path}[{i}] = {item!r} is {type(item).__name__}"
            )
        if isinstance(item, list) and not all(isinstance(v, str) for v in item):
            raise ConfigError(f"{path}[{i}] = {item!r} must be a list of strings")
        check_scalar(meta, item, f"{path}[{i}]")
    return tuple(tuple(v) if isinstance(v, list) else v for v in value)


def check_table(cls: type, table: Any, where: str, title: str = "") -> dict[str, Any]:
    """The checked values of a TOML table for section class ``cls`` (only the keys given).

    Examples
    --------
    >>> from causalgia.studies.sections import StudySection
    >>> check_table(StudySection, {"n": 10, "ci": 0.9}, "study")
    {'n': 10, 'ci': 0.9}
    """
    if not isinstance(table, dict):
        raise ConfigError(f"{title or f'[{where}]'} must be a table")
    keys = spec_fields(cls)
    out = {}
    for key, value in table.items():
        if key not in keys:
            raise unknown_key(where, key, keys)
        out[key] = check_value(keys[key], value, f"{where}.{key}")
    return out


def check_motif_string(text: str, path: str) -> None:
    """IUPAC letters only, not empty, and not both T and U.

    Examples
    --------
    >>> check_motif_string("GAXA", "experiment[0].motif")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    causalgia.errors.ConfigError: experiment[0].motif = 'GAXA': letter 'X' at 2 is not an ...
    """
    if not text:
        raise ConfigError(f"{path} is an empty motif")
    for pos, letter in enumerate(text):
        if letter.upper() not in MOTIF_LETTERS:
            raise ConfigError(
                f"{path} = {text!r}: letter {letter!r} at {pos} is not an IUPAC DNA/RNA letter "
                "(A, C, G, T, U, R, Y, S, W, K, M, B, D, H, V, N)"
            )
    if {"T", "U"} <= set(text.upper()):
        raise ConfigError(f"{path} = {text!r} holds both T (DNA) and U (RNA)")
    try:
        coerce_motif(text)
    except MotifError as err:  # pragma: no cover - the letters were checked above
        raise ConfigError(f"{path} = {text!r}: {err}") from None


def check_motif(value: Any, path: str) -> str | MotifFile:
    """A motif string (checked letters) or a ``{ file, name }`` table."""
    if isinstance(value, str):
        check_motif_string(value, path)
        return value
    if set(value) != {"file", "name"}:
        raise ConfigError(f"{path} as a table needs exactly the keys file and name")
    for key in ("file", "name"):
        if not isinstance(value[key], str):
            raise ConfigError(f"{path}.{key} = {value[key]!r} must be str")
    return MotifFile(value["file"], value["name"])


def check_background(
    table: Any, where: str, *, nested: bool = False
) -> tuple[BackgroundSection, int | None]:
    """A background table: its section, and the sequence length when the spec gives it.

    Examples
    --------
    >>> check_background({"kind": "iid", "length": 41}, "background")[1]
    41
    """
    title = where if nested else f"[{where}]"
    values = check_table(BackgroundSection, table, where, title)
    if "kind" not in values:
        raise ConfigError(f"{title} needs {where}.kind")
    kind = values["kind"]
    keys = spec_fields(BackgroundSection)
    for key in values:
        kinds = keys[key].metadata["kinds"]
        if kinds and kind not in kinds:
            raise ConfigError(
                f"{where}.{key} is not used by {where}.kind = {kind!r}; it is used by kind "
                f"{' or '.join(repr(k) for k in kinds)}"
            )
    if kind == "iid" and "length" not in values:
        raise ConfigError(f"{where}.kind = 'iid' needs {where}.length")
    if kind != "iid" and "fasta" not in values:
        raise ConfigError(f"{where}.kind = {kind!r} needs {where}.fasta")
    if "gc" in values and "composition" in values:
        raise ConfigError(f"give {where}.gc or {where}.composition, not both")
    composition = values.get("composition")
    if composition is not None and (len(composition) != 4 or abs(sum(composition) - 1) > 1e-6):
        raise ConfigError(
            f"{where}.composition = {list(composition)} must be 4 probabilities (A, C, G, "
            "T/U) that sum to 1"
        )
    given = tuple((k, list(v) if isinstance(v, tuple) else v) for k, v in values.items())
    by = keys["pseudocount"].metadata["by"]
    if kind in by and "pseudocount" not in values:
        values["pseudocount"] = by[kind]
    section = BackgroundSection(**values, given=given)
    known = values.get("length") if kind in ("iid", "markov") else None
    return section, known


def _check_keys(table: dict[str, Any], kind: str, where: str) -> None:
    keys = spec_fields(ExperimentSpec)
    takes = [k for k, f in keys.items() if k == "type" or kind in f.metadata["kinds"]]
    for key in table:
        if key in takes:
            continue
        if key not in keys:
            raise unknown_key(where, key, takes)
        users = keys[key].metadata["kinds"]
        raise ConfigError(
            f"{where}.{key} is not used by experiments of type {kind!r} (it is used by type "
            f"{' or '.join(repr(t) for t in users)}); type {kind!r} takes {', '.join(takes)}"
        )


def check_experiment(exp: Any, index: int, length: int | None) -> ExperimentSpec:
    """One ``[[experiment]]`` table; with the background ``length``, every window must fit.

    Examples
    --------
    >>> check_experiment({"type": "positions", "motif": "GATA", "positions": [0, 5]}, 0, 41).name
    'positions'
    """
    where = f"experiment[{index}]"
    if not isinstance(exp, dict):
        raise ConfigError(f"{where} must be a table")
    kind = exp.get("type")
    if "type" not in exp:
        raise ConfigError(f"{where} needs {where}.type; {choices_text(EXPERIMENT_TYPES)}")
    if kind not in EXPERIMENT_TYPES:
        raise ConfigError(f"{where}.type = {kind!r}; {choices_text(EXPERIMENT_TYPES)}")
    _check_keys(exp, kind, where)
    values = check_table(ExperimentSpec, exp, where)
    for key in REQUIRED[kind]:
        if key not in values:
            raise ConfigError(f"{where} of type {kind!r} needs the key {where}.{key}")
    for key in ("motif", "motif_b"):
        if key in values:
            values[key] = check_motif(values[key], f"{where}.{key}")
    for key in _NONEMPTY.get(kind, ()):
        if key in values and not values[key]:
            raise ConfigError(f"{where}.{key} is empty; an experiment needs at least one arm")
    values.setdefault("name", kind)
    spec = ExperimentSpec(**values)
    _check_layout(spec, where, length)
    return spec


def _width(motif: str | MotifFile | None) -> int | None:
    return len(motif) if isinstance(motif, str) else None


def _repeats(values: Sequence[Any], path: str) -> None:
    seen: dict[Any, int] = {}
    for i, v in enumerate(values):
        if v in seen:
            raise ConfigError(f"{path}[{i}] = {v!r} repeats {path}[{seen[v]}]")
        seen[v] = i


def _fits(start: int, width: int | None, length: int | None, path: str, what: str) -> None:
    """A window of ``width`` at ``start`` must end inside a background of known length."""
    if width is None or length is None or start + width <= length:
        return
    raise ConfigError(
        f"{path} = {start}: {what} (width {width}) does not fit in backgrounds of length "
        f"{length}: valid starts are 0..{length - width}"
    )


def _check_layout(e: ExperimentSpec, where: str, length: int | None) -> None:
    """Repeats, overlaps and windows past the background end (when its length is known)."""
    width = _width(e.motif)
    if e.type == "positions":
        _repeats(e.positions, f"{where}.positions")
        for i, p in enumerate(e.positions):
            label = f"{e.motif}@{p}{e.strand}" if width else "the motif"
            _fits(p, width, length, f"{where}.positions[{i}]", label)
    elif e.type == "counts":
        _repeats(e.counts, f"{where}.counts")
        for i, k in enumerate(e.counts):
            if k > len(e.positions):
                raise ConfigError(
                    f"{where}.counts[{i}] = {k} needs at least {k} positions; "
                    f"{where}.positions has {len(e.positions)}"
                )
        used = e.positions[: max(e.counts, default=0)]
        for i, p in enumerate(used):
            _fits(p, width, length, f"{where}.positions[{i}]", f"copy {i + 1} of {e.motif}")
        if width is not None:
            ends = sorted((p, i) for i, p in enumerate(used))
            for (a, i), (b, j) in zip(ends, ends[1:], strict=False):
                if b < a + width:
                    raise ConfigError(
                        f"{where}.positions[{j}] = {b} overlaps {where}.positions[{i}] = {a} "
                        f"(the motif is {width} wide)"
                    )
    elif e.type == "spacing":
        _repeats(e.spacings, f"{where}.spacings")
        _repeats(e.orientations, f"{where}.orientations")
        second = _width(e.motif_b if e.motif_b is not None else e.motif)
        known = width is not None and second is not None and e.start is not None
        if known and length is not None and e.spacings:
            j = max(range(len(e.spacings)), key=lambda i: e.spacings[i])
            end = e.start + width + e.spacings[j] + second
            if end > length:
                raise ConfigError(
                    f"{where}.spacings[{j}] = {e.spacings[j]}: the second motif (width {second}) "
                    f"would end at {end}, past backgrounds of length {length}; with start = "
                    f"{e.start} the largest spacing that fits is {length - end + e.spacings[j]}"
                )
    elif e.type in ("substitute", "scrambled", "random_kmers") and e.position is not None:
        if e.type == "random_kmers" and width is not None and e.min_distance > width:
            raise ConfigError(
                f"{where}.min_distance = {e.min_distance} exceeds the motif's width {width} "
                "(no k-mer differs from it in more positions)"
            )
        _fits(e.position, width, length, f"{where}.position", f"motif {e.motif!r}")
    elif e.type == "motif_screen":
        _repeats(e.positions, f"{where}.positions")
        _repeats(e.names, f"{where}.names")
        if not (e.motifs or "").strip():
            raise ConfigError(f"{where}.motifs is empty: give a MEME or JASPAR file")
    elif e.type == "mutate" and e.position is not None:
        _fits(e.position, 1, length, f"{where}.position", "the mutated base")
    elif e.type == "ablate" and e.start is not None and e.stop is not None:
        if e.stop <= e.start:
            raise ConfigError(f"{where}.stop = {e.stop} must be > {where}.start = {e.start}")
        if length is not None and e.stop > length:
            raise ConfigError(
                f"{where}.stop = {e.stop} is past the end of backgrounds of length {length} "
                f"(the window [start, stop) is half-open: stop <= {length})"
            )
        if e.k != 1 and e.fill != "shuffle":
            raise ConfigError(f"{where}.k is only used with {where}.fill = 'shuffle'")


def dask_workers(address: str) -> int | None:
    """Local worker processes of a ``study.dask`` value (None for a scheduler address).

    Examples
    --------
    >>> dask_workers("local:4"), dask_workers("tcp://10.0.0.1:8786")
    (4, None)
    """
    if address != "local" and not address.startswith("local:"):
        return None
    count = address.partition(":")[2] or "2"
    if not count.isdigit() or int(count) < 1:
        raise ConfigError(f"study.dask = {address!r}; use 'local:N' with N >= 1 workers")
    return int(count)
