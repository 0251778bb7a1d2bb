"""The bad-input suite (issue 11, item 7 and the acceptance): every ordinary mistake a user can
make with ``causalgia run`` gives one clear error line naming the place, exit status 2, and no
traceback.

Each case writes a spec (and its files) into ``tmp_path`` and runs ``causalgia.cli.main``; the
error must be a :class:`~causalgia.errors.CausalgiaError` (the CLI returns 2 only for those),
printed as one ``causalgia: error:`` line, and carry the case's locator: the key path, the file
name, the record id, the line number or the position. Cases, by what is wrong:

- spec keys: generated from the typed spec's field metadata (:mod:`causalgia.studies.sections`):
  for every key of every table a value of the wrong TOML type, outside the allowed set, or
  outside the range; then keys that contradict each other and spec files that cannot be read;
- FASTA files, MEME and JASPAR files, model callables (wrong output, NaN, exceptions,
  ``sys.exit``, import paths), paths (missing, a directory, unreadable), a full disk;
- direct Python verbs for inputs the spec cannot express.
"""

from __future__ import annotations

import errno
import gzip
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import causalgia as cg
from causalgia.cli import main
from causalgia.errors import (
    CausalgiaError,
    InputFileError,
    InvalidSequenceError,
    ModelCallError,
    ModelOutputError,
    MotifError,
)
from causalgia.experiment.backgrounds import iid
from causalgia.experiment.designs import design, sweep_positions
from causalgia.studies.sections import (
    REQUIRED,
    BackgroundSection,
    ControlsSection,
    ExperimentSpec,
    ModelSection,
    PoolingSection,
    StudySection,
    spec_fields,
)

SEQ = "ACGUACGUACGUACGUACGUACGUACGUACGUACGUACGUA"  # 41 nt, like the RBP oracle's backgrounds
BASE: dict[str, Any] = {
    "study": {"n": 6, "seed": 1},
    "model": {"builtin": "rbp_oracle"},
    "background": {"kind": "iid", "length": 41},
    "experiment": [{"type": "positions", "motif": "UGCAUG", "positions": [0, 10]}],
}
MODELS = """
import sys
import numpy as np

def good(x):
    return x[:, 0, :].sum(axis=1)

def boom(x):
    raise ValueError("weights not loaded")

def exit0(x):
    sys.exit(0)

def exit3(x):
    sys.exit(3)

def fewer_rows(x):
    return good(x)[:-1]

def more_rows(x):
    return np.concatenate([good(x), [0.0]])

def scalar(x):
    return 0.0

def nan(x):
    return good(x) * np.nan

def inf_later(x):
    y = good(x)
    y[-1] = np.inf
    return y

def as_tuple(x):
    return good(x), good(x)

def as_dict(x):
    return {"y": good(x)}

def as_list_of_arrays(x):
    return [good(x), good(x), good(x)]

def as_none(x):
    return None

def as_strings(x):
    return np.array(["a"] * len(x))

def as_objects(x):
    return np.array([object()] * len(x))

def as_complex(x):
    return good(x) + 1j

def key_error(x):
    return {}["missing"]

def build():
    raise RuntimeError("no GPU")

not_callable = 42
"""
BROKEN_MODULE = "raise ImportError('needs tensorflow')\n"
MEME_RNA = """MEME version 5

ALPHABET= ACGU

strands: +

Background letter frequencies
A 0.25 C 0.25 G 0.25 U 0.25

MOTIF M1 RBFOX
letter-probability matrix: alength= 4 w= 4 nsites= 20 E= 0
0.0 0.0 0.0 1.0
0.0 0.0 1.0 0.0
0.0 1.0 0.0 0.0
1.0 0.0 0.0 0.0
"""
JASPAR = ">MA1 Foo\nA [ 9 0 1 ]\nC [ 1 0 8 ]\nG [ 0 10 1 ]\nT [ 0 0 0 ]\n"


# -- a tiny TOML writer (specs are written as users write them) ---------------------------------
def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {_value(x)}" for k, x in v.items()) + "}"
    return repr(v)


def toml(spec: dict[str, Any]) -> str:
    lines = []
    for table, body in spec.items():
        for item in body if isinstance(body, list) else [body]:
            lines.append(f"[[{table}]]" if isinstance(body, list) else f"[{table}]")
            lines += [f"{k} = {_value(v)}" for k, v in item.items()]
    return "\n".join(lines) + "\n"


def _spec(**tables: Any) -> dict[str, Any]:
    """BASE with whole tables replaced (None removes a table)."""
    spec = {k: (list(v) if isinstance(v, list) else dict(v)) for k, v in BASE.items()}
    for name, value in tables.items():
        if value is None:
            spec.pop(name, None)
        else:
            spec[name] = value
    return spec


@dataclass
class Case:
    """One bad input: a spec (dict or raw bytes), files beside it, what to find in the error."""

    spec: dict[str, Any] | bytes
    locators: tuple[str, ...]
    files: dict[str, str | bytes] = field(default_factory=dict)
    args: tuple[str, ...] = ()
    patch: str | None = None
    simulates: bool = False  # False: the error must come before the simulation starts


def _run(tmp_path: Path, case: Case, capsys: pytest.CaptureFixture[str], monkeypatch) -> str:
    for name, data in case.files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data)
    spec_path = tmp_path / "spec.toml"
    if isinstance(case.spec, bytes):
        spec_path.write_bytes(case.spec)
    else:
        spec_path.write_text(toml(case.spec))
    if case.patch is not None:
        PATCHES[case.patch](monkeypatch, tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))  # user modules are imported fresh per case
    args = case.args or ("run", str(spec_path), "--out", str(tmp_path / "run"), "--no-figures")
    args = tuple(a.replace("{tmp}", str(tmp_path)) for a in args)
    for module in ("models", "broken"):
        monkeypatch.delitem(sys.modules, module, raising=False)
    import causalgia.studies.runner as runner

    started = []
    real_simulate = runner.simulate

    def spy(*a: Any, **k: Any) -> Any:
        started.append(True)
        return real_simulate(*a, **k)

    monkeypatch.setattr(runner, "simulate", spy)
    code = main(list(args))
    out = capsys.readouterr()
    assert case.simulates or not started, "the error came only after the simulation started"
    assert code == 2, f"exit status {code}; stdout {out.out[-300:]!r}; stderr {out.err[-2000:]!r}"
    assert "Traceback" not in out.err
    lines = out.err.strip().splitlines()
    assert lines and lines[-1].startswith("causalgia: error: "), out.err
    assert len([line for line in lines if line.startswith("causalgia: error")]) == 1
    message = lines[-1]
    for locator in case.locators:
        assert re.search(locator, message), f"{locator!r} not in {message!r}"
    return message


# -- spec keys: generated from the typed spec --------------------------------------------------
_MOTIF_ARGS = {
    "motif": "UGCAUG", "positions": [0, 10], "counts": [1, 2], "spacings": [0, 2],
    "start": 2, "position": 5, "base": "A", "stop": 10, "motifs": "motifs.meme",
}  # fmt: skip


def _experiment_of(kind: str) -> dict[str, Any]:
    out = {"type": kind, **{k: _MOTIF_ARGS[k] for k in REQUIRED[kind]}}
    if kind == "counts":
        out["positions"] = [0, 10]
    return out


def _background_of(kind: str) -> dict[str, Any]:
    return {"kind": "iid", "length": 41} if kind == "iid" else {"kind": kind, "fasta": "bg.fa"}


def _bad_values(meta: dict[str, Any]) -> list[tuple[str, Any]]:
    """(what, value) pairs that the key's metadata must refuse."""
    toml_types = meta["toml"]
    out = []
    for candidate in ("x", 7, [1], True, {"a": 1}):
        kind = type(candidate)
        ok = kind in toml_types and not (kind is bool and bool not in toml_types)
        ok = ok or (kind is int and float in toml_types)
        if not ok:
            out.append(("type", candidate))
            break
    one = list in toml_types and meta["items"]
    wrap = (lambda v: [v]) if one else (lambda v: v)
    if meta["choices"]:
        out.append(("choice", wrap("bogus")))
    if meta["minimum"] is not None:
        out.append(("minimum", wrap(type(meta["minimum"])(meta["minimum"]) - 1)))
    if meta["maximum"] is not None:
        out.append(("maximum", wrap(meta["maximum"] + 1)))
    if meta["above"] is not None:
        out.append(("above", wrap(meta["above"])))
    if meta["interval"]:
        out.append(("interval", wrap(1.5)))
    return out


def _spec_key_cases() -> list[Any]:
    cases = []
    fasta = {"bg.fa": f">a\n{SEQ}\n>b\n{SEQ}\n"}
    sections = [
        ("study", StudySection), ("model", ModelSection), ("background", BackgroundSection),
        ("experiment", ExperimentSpec), ("controls", ControlsSection),
        ("pooling", PoolingSection),
    ]  # fmt: skip
    for table, cls in sections:
        for key, f in spec_fields(cls).items():
            meta = dict(f.metadata)
            for what, value in _bad_values(meta):
                spec = _spec()
                path = f"{table}.{key}"
                if table == "experiment":
                    kinds = meta["kinds"] or ("positions",)
                    spec["experiment"] = [{**_experiment_of(kinds[0]), key: value}]
                    path = f"experiment[0].{key}"
                elif table == "background":
                    spec["background"] = {
                        **_background_of((meta["kinds"] or ("iid",))[0]),
                        key: value,
                    }
                elif table == "model":
                    base = {"builtin": "additive_oracle", "motif": "GAUA", "length": 41}
                    spec["model"] = {
                        **(base if meta["kinds"] else {"builtin": "rbp_oracle"}),
                        key: value,
                    }
                    if key in ("builtin", "callable", "factory", "deepbind"):
                        spec["model"] = {key: value}
                elif table in ("controls", "pooling"):
                    start = {"experiments": ["positions"]} if table == "pooling" else {}
                    spec[table] = {**start, key: value}
                else:
                    spec[table] = {**spec.get(table, {}), key: value}
                case = Case(spec, (re.escape(path),), files=fasta)
                cases.append(pytest.param(case, id=f"{path}:{what}"))
    return cases


# -- hand-written cases ----------------------------------------------------------------------
def _callable(name: str, **model: Any) -> dict[str, Any]:
    return _spec(model={"callable": f"models:{name}", "layout": "NCL", **model})


def _fasta_spec(kind: str = "real", file: str = "bg.fa") -> dict[str, Any]:
    return _spec(background={"kind": kind, "fasta": file})


def _motif_spec(file: str, name: str = "M1") -> dict[str, Any]:
    exp = {"type": "positions", "motif": {"file": file, "name": name}, "positions": [0, 10]}
    return _spec(experiment=[exp])


def _gz(text: str) -> bytes:
    return gzip.compress(text.encode())


def _no_space(monkeypatch, tmp_path):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", full)


def _no_space_bytes(monkeypatch, tmp_path):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full)


def _unreadable(monkeypatch, tmp_path):
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **k: "secret" not in str(p) and real(p, mode))


def _spec_unreadable(monkeypatch, tmp_path):
    real = Path.read_bytes

    def read_bytes(self):
        if self.name == "spec.toml":
            raise PermissionError(errno.EACCES, "Permission denied")
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)


PATCHES = {
    "no_space": _no_space,
    "no_space_bytes": _no_space_bytes,
    "unreadable": _unreadable,
    "spec_unreadable": _spec_unreadable,
}
GOOD_FA = f">a\n{SEQ}\n>b\n{SEQ}\n"
MODEL_FILES = {"models.py": MODELS}
ORACLE = {"builtin": "additive_oracle", "motif": "GAUA", "length": 30}
RUN = ("run", "{tmp}/spec.toml", "--out", "{tmp}/run", "--no-figures")

HAND: dict[str, Case] = {
    # spec keys that contradict each other, or a spec that cannot be read
    "unknown table": Case({**_spec(), "studdy": {"n": 3}}, ("studdy", "did you mean 'study'")),
    "unknown key": Case(_spec(study={"nn": 3}), (r"study\.nn",)),
    "typo in experiment key": Case(
        _spec(experiment=[{"type": "positions", "motif": "UGCAUG", "positons": [1]}]),
        (r"experiment\[0\]\.positons", "positions"),
    ),
    "no experiment": Case(_spec(experiment=None), ("experiment",)),
    "empty spec": Case(b"", (r"\[model\]",)),
    "two model sources": Case(
        _spec(model={"builtin": "rbp_oracle", "callable": "m:f", "layout": "NCL"}), ("model",)
    ),
    "callable without layout": Case(_spec(model={"callable": "models:good"}), (r"model\.layout",)),
    "callable without colon": Case(
        _spec(model={"callable": "models.good", "layout": "NCL"}), (r"model\.callable",)
    ),
    "oracle without length": Case(
        _spec(model={"builtin": "additive_oracle", "motif": "GAUA"}), (r"model\.length",)
    ),
    "oracle length vs iid length": Case(_spec(model=ORACLE), (r"model\.length = 30", "41")),
    "oracle motif too long": Case(
        _spec(model={**ORACLE, "motif": "GAUA" * 10}), (r"model\.motif",)
    ),
    "motif past the end": Case(
        _spec(experiment=[{"type": "positions", "motif": "UGCAUG", "positions": [40]}]),
        (r"UGCAUG@40", "0..35"),
    ),
    "motif with bad letter": Case(
        _spec(experiment=[{"type": "positions", "motif": "UGXAUG", "positions": [0]}]),
        (r"experiment\[0\]\.motif", "'X' at 2"),
    ),
    "motif with T and U": Case(
        _spec(experiment=[{"type": "positions", "motif": "UGTAUG", "positions": [0]}]),
        (r"experiment\[0\]\.motif",),
    ),
    "duplicate experiment names": Case(
        _spec(experiment=[_experiment_of("identity"), _experiment_of("identity")]),
        ("identity",),
    ),
    "randomized with paired_t": Case(
        _spec(study={"design": "randomized", "method": "paired_t"}), (r"study\.method",)
    ),
    "truth without oracle": Case(
        {**_callable("good"), "study": {"truth": True}}, (r"study\.truth",), files=MODEL_FILES
    ),
    "controls name unknown experiment": Case(
        _spec(controls={"positive": ["nope"]}), (r"controls\.positive", "nope")
    ),
    "pooling curve of another parameter": Case(
        _spec(pooling={"experiments": ["positions"], "curve": "count"}), (r"pooling\.curve",)
    ),
    "pooling without experiments": Case(_spec(pooling={"draws": 10}), (r"pooling\.experiments",)),
    "randomized weights of an oracle": Case(
        _spec(controls={"randomized_weights": 2}), (r"controls\.randomized_weights",)
    ),
    "output window reversed": Case(
        _callable("good", output={"index": 0, "window": [5, 2]}), (r"model\.output\.window",)
    ),
    "output unknown key": Case(_callable("good", output={"idx": 0}), (r"model\.output", "idx")),
    "spec not UTF-8": Case(
        '[study]\nname = "caf\xe9"\n'.encode("latin-1"), ("spec.toml", "line 2")
    ),
    "spec binary": Case(b"\x89PNG\r\n\x1a\n\x00\x00", ("spec.toml",)),
    "spec not TOML": Case(b"[study\nn = 3\n", ("spec.toml", "TOML")),
    "spec missing": Case(_spec(), ("nothing.toml",), args=("run", "{tmp}/nothing.toml")),
    "spec is a directory": Case(_spec(), ("directory",), args=("run", "{tmp}")),
    "spec unreadable": Case(_spec(), ("spec.toml", "Permission denied"), patch="spec_unreadable"),
    # FASTA files
    "fasta missing": Case(_fasta_spec(file="nope.fa"), (r"background\.fasta", r"nope\.fa")),
    "fasta is a directory": Case(
        _fasta_spec(file="sub"), (r"background\.fasta", "directory"), files={"sub/x": "x"}
    ),
    "fasta unreadable": Case(
        _fasta_spec(file="secret.fa"),
        (r"background\.fasta", "secret.fa", "cannot be read"),
        files={"secret.fa": GOOD_FA},
        patch="unreadable",
    ),
    "fasta empty": Case(_fasta_spec(), (r"bg\.fa", "empty"), files={"bg.fa": ""}),
    "fasta blank lines only": Case(_fasta_spec(), (r"bg\.fa",), files={"bg.fa": "\n\n"}),
    "fasta no header": Case(_fasta_spec(), (r"bg\.fa", "line 1"), files={"bg.fa": SEQ + "\n"}),
    "fasta header without id": Case(
        _fasta_spec(), (r"bg\.fa", "line 3"), files={"bg.fa": f">a\n{SEQ}\n>\n{SEQ}\n"}
    ),
    "fasta ragged (real)": Case(
        _fasta_spec(),
        (r"bg\.fa", "record 'b'", "length 40"),
        files={"bg.fa": f">a\n{SEQ}\n>b\n{SEQ[:40]}\n"},
    ),
    "fasta ragged (kshuffle)": Case(
        _fasta_spec("kshuffle"),
        (r"bg\.fa", "record 'b'"),
        files={"bg.fa": f">a\n{SEQ}\n>b\n{SEQ[:30]}\n"},
    ),
    "fasta ragged (profile)": Case(
        _fasta_spec("profile"),
        (r"bg\.fa", "record 'c'"),
        files={"bg.fa": f">a\n{SEQ}\n>b\n{SEQ}\n>c\n{SEQ}A\n"},
    ),
    "fasta invalid letter": Case(
        _fasta_spec(),
        (r"bg\.fa", "line 4", "'b'", "'X'", "position 5"),
        files={"bg.fa": f">a\n{SEQ}\n>b\n{SEQ[:5]}X{SEQ[6:]}\n"},
    ),
    "fasta invalid letter in a wrapped line": Case(
        _fasta_spec(),
        (r"bg\.fa", "line 3", "'a'", "position 25"),
        files={
            "bg.fa": f">a\n{SEQ[:20]}\n{SEQ[20:25]}*{SEQ[26:]}\n>b\n{SEQ}\n".replace("\n\n", "\n")
        },
    ),
    "fasta N not allowed": Case(
        _fasta_spec(),
        (r"bg\.fa", "'b'", "'N'", "position 3"),
        files={"bg.fa": f">a\n{SEQ}\n>b\n{SEQ[:3]}n{SEQ[4:]}\n"},
    ),
    "fasta DNA letters in an RNA study": Case(
        _fasta_spec(),
        (r"bg\.fa", "'T'", "dna alphabet"),
        files={"bg.fa": f">a\n{SEQ.replace('U', 'T')}\n"},
    ),
    "fasta duplicate ids": Case(
        _fasta_spec(),
        (r"bg\.fa", "duplicate", "'a'", "line 3"),
        files={"bg.fa": f">a\n{SEQ}\n>a\n{SEQ}\n"},
    ),
    "fasta empty record": Case(
        _fasta_spec(), (r"bg\.fa", "'b'", "empty"), files={"bg.fa": f">a\n{SEQ}\n>b\n>c\n{SEQ}\n"}
    ),
    "fasta gzip truncated": Case(
        _fasta_spec(file="bg.fa.gz"),
        (r"bg\.fa\.gz", "gzip"),
        files={"bg.fa.gz": _gz(GOOD_FA * 50)[:60]},
    ),
    "fasta gzip of garbage": Case(
        _fasta_spec(file="bg.fa.gz"),
        (r"bg\.fa\.gz",),
        files={"bg.fa.gz": b"\x1f\x8b" + bytes(range(256)) * 4},
    ),
    "fasta binary garbage": Case(
        _fasta_spec(),
        (r"bg\.fa", "binary"),
        files={"bg.fa": np.random.default_rng(0).bytes(4096)},
    ),
    "fasta with a NUL byte": Case(
        _fasta_spec(), (r"bg\.fa", "NUL"), files={"bg.fa": f">a\n{SEQ}\n".encode() + b"\x00AC\n"}
    ),
    "sensitivity background fasta missing": Case(
        _spec(controls={"sensitivity_backgrounds": [{"kind": "real", "fasta": "gone.fa"}]}),
        (r"sensitivity_backgrounds", r"gone\.fa"),
    ),
    # MEME and JASPAR files
    "motif file missing": Case(
        _motif_spec("nope.meme"), (r"experiment\[0\]\.motif\.file", r"nope\.meme")
    ),
    "motif file is a directory": Case(
        _motif_spec("sub"), (r"experiment\[0\]\.motif\.file", "directory"), files={"sub/x": ""}
    ),
    "motif file empty": Case(_motif_spec("m.meme"), (r"m\.meme", "empty"), files={"m.meme": ""}),
    "motif file binary": Case(
        _motif_spec("m.meme"), (r"m\.meme", "binary"), files={"m.meme": b"\x00\x01\x02" * 20}
    ),
    "motif file gzip truncated": Case(
        _motif_spec("m.meme.gz"),
        (r"m\.meme\.gz", "gzip"),
        files={"m.meme.gz": _gz(MEME_RNA * 20)[:50]},
    ),
    "motif format unknown": Case(
        _motif_spec("m.txt"), (r"m\.txt", "format"), files={"m.txt": "hello\nworld\n"}
    ),
    "motif name absent": Case(
        _motif_spec("m.meme", "M9"),
        (r"experiment\[0\]\.motif\.name", "'M9'", "'M1'"),
        files={"m.meme": MEME_RNA},
    ),
    "meme truncated matrix": Case(
        _motif_spec("m.meme"),
        (r"m\.meme", "line 11", "'M1'", "w= 4 but 2"),
        files={"m.meme": "\n".join(MEME_RNA.splitlines()[:13]) + "\n"},
    ),
    "meme row not summing to 1": Case(
        _motif_spec("m.meme"),
        (r"m\.meme", "line 13", "'M1'", "sums to"),
        files={"m.meme": MEME_RNA.replace("0.0 0.0 1.0 0.0", "0.0 0.0 0.7 0.0")},
    ),
    "meme wrong width": Case(
        _motif_spec("m.meme"),
        (r"m\.meme", "line 11", "w= 5"),
        files={"m.meme": MEME_RNA.replace("w= 4", "w= 5")},
    ),
    "meme row of 3 values": Case(
        _motif_spec("m.meme"),
        (r"m\.meme", "line 14", "3 values"),
        files={"m.meme": MEME_RNA.replace("0.0 1.0 0.0 0.0", "0.0 1.0 0.0")},
    ),
    "meme alength 5": Case(
        _motif_spec("m.meme"),
        (r"m\.meme", "alength= 5"),
        files={"m.meme": MEME_RNA.replace("alength= 4", "alength= 5")},
    ),
    "meme unknown alphabet": Case(
        _motif_spec("m.meme"),
        (r"m\.meme", "line 3", "ACDEF"),
        files={"m.meme": MEME_RNA.replace("ACGU", "ACDEF", 1)},
    ),
    "meme alphabet block of proteins": Case(
        _motif_spec("m.meme"),
        (r"m\.meme", "line 3", "core symbols"),
        files={
            "m.meme": MEME_RNA.replace(
                "ALPHABET= ACGU",
                'ALPHABET "Protein" PROTEIN-LIKE\nA "Ala"\nC "Cys"\nD "Asp"\nEND ALPHABET',
            )
        },
    ),
    "meme alphabet block never ended": Case(
        _motif_spec("m.meme"),
        (r"m\.meme", "line 3", "END ALPHABET"),
        files={"m.meme": MEME_RNA.replace("ALPHABET= ACGU", 'ALPHABET "RNA" RNA-LIKE\nA "x"')},
    ),
    "meme background missing a letter": Case(
        _motif_spec("m.meme"),
        (r"m\.meme", "line 8", "background"),
        files={"m.meme": MEME_RNA.replace(" U 0.25", "")},
    ),
    "meme motif without name": Case(
        _motif_spec("m.meme"),
        (r"m\.meme", "line 10", "without a name"),
        files={"m.meme": MEME_RNA.replace("MOTIF M1 RBFOX", "MOTIF")},
    ),
    "meme motif without matrix": Case(
        _motif_spec("m.meme"),
        (r"m\.meme", "'M1'", "letter-probability"),
        files={"m.meme": MEME_RNA.split("letter-probability")[0]},
    ),
    "meme negative probability": Case(
        _motif_spec("m.meme"),
        (r"m\.meme", "'M1'"),
        files={"m.meme": MEME_RNA.replace("0.0 0.0 0.0 1.0", "-0.5 0.5 0.0 1.0")},
    ),
    "jaspar missing row": Case(
        _motif_spec("m.jaspar", "MA1"),
        (r"m\.jaspar", "'MA1'", "4 count rows"),
        files={"m.jaspar": JASPAR.rsplit("T", 1)[0]},
    ),
    "jaspar ragged rows": Case(
        _motif_spec("m.jaspar", "MA1"),
        (r"m\.jaspar", "line 3", "row length"),
        files={"m.jaspar": JASPAR.replace("C [ 1 0 8 ]", "C [ 1 0 ]")},
    ),
    "jaspar not a number": Case(
        _motif_spec("m.jaspar", "MA1"),
        (r"m\.jaspar", "line 4", "count row"),
        files={"m.jaspar": JASPAR.replace("G [ 0 10 1 ]", "G [ 0 ten 1 ]")},
    ),
    "jaspar all-zero column": Case(
        _motif_spec("m.jaspar", "MA1"),
        (r"m\.jaspar", "'MA1'", "all zero"),
        files={"m.jaspar": ">MA1 Foo\nA [ 9 0 ]\nC [ 1 0 ]\nG [ 0 0 ]\nT [ 0 0 ]\n"},
    ),
    "jaspar repeated row": Case(
        _motif_spec("m.jaspar", "MA1"),
        (r"m\.jaspar", "repeated row"),
        files={"m.jaspar": JASPAR.replace("C [", "A [")},
    ),
    "motif longer than the background": Case(
        _motif_spec("m.jaspar", "MA1"),
        (r"MA1", "fit|0\\.\\.|length"),
        files={
            "m.jaspar": ">MA1 x\n" + "\n".join(f"{b} [ {' '.join(['1'] * 45)} ]" for b in "ACGT")
        },
    ),
    # model callables
    "model module missing": Case(
        _spec(model={"callable": "nomodule:f", "layout": "NCL"}), (r"model\.callable", "nomodule")
    ),
    "model attribute missing": Case(
        _callable("nothere"), (r"model\.callable", "nothere"), files=MODEL_FILES
    ),
    "model module fails to import": Case(
        _spec(model={"callable": "broken:f", "layout": "NCL"}),
        (r"model\.callable", "tensorflow"),
        files={"broken.py": BROKEN_MODULE},
    ),
    "model module raises while importing": Case(
        _spec(model={"callable": "broken:f", "layout": "NCL"}),
        (r"model\.callable", "ZeroDivision"),
        files={"broken.py": "1 / 0\n"},
    ),
    "model module calls sys.exit on import": Case(
        _spec(model={"callable": "broken:f", "layout": "NCL"}),
        (r"model\.callable", "SystemExit"),
        files={"broken.py": "import sys\nsys.exit(0)\n"},
    ),
    "model not callable": Case(
        _callable("not_callable"), (r"model\.callable", "callable"), files=MODEL_FILES
    ),
    "factory raises": Case(
        _spec(model={"factory": "models:build", "layout": "NCL"}),
        (r"model\.factory", "no GPU"),
        files=MODEL_FILES,
    ),
    "factory module missing": Case(
        _spec(model={"factory": "gone:build", "layout": "NCL"}), (r"model\.factory", "gone")
    ),
    "deepbind file missing": Case(
        _spec(model={"deepbind": "D0.txt"}), (r"model\.deepbind", r"D0\.txt")
    ),
    "deepbind file not a parameter file": Case(
        _spec(model={"deepbind": "D0.txt"}),
        (r"model\.deepbind", r"D0\.txt", "line 1"),
        files={"D0.txt": "hello world\n"},
    ),
    "deepbind file empty": Case(
        _spec(model={"deepbind": "D0.txt"}),
        (r"model\.deepbind", r"D0\.txt", "missing key"),
        files={"D0.txt": ""},
    ),
    "model raises on its first call": Case(
        _callable("boom"),
        ("'boom'", "ValueError", "weights not loaded", r"\(\d+, 4, 41\)", "NCL"),
        files=MODEL_FILES,
        simulates=True,
    ),
    "model raises KeyError": Case(
        _callable("key_error"), ("'key_error'", "KeyError"), files=MODEL_FILES, simulates=True
    ),
    "model calls sys.exit(0)": Case(
        _callable("exit0"), ("'exit0'", r"sys\.exit\(0\)", "NCL"), files=MODEL_FILES, simulates=True
    ),
    "model calls sys.exit(3)": Case(
        _callable("exit3"), ("'exit3'", r"sys\.exit\(3\)"), files=MODEL_FILES, simulates=True
    ),
    "model returns fewer rows": Case(
        _callable("fewer_rows"), ("'fewer_rows'", "rows"), files=MODEL_FILES, simulates=True
    ),
    "model returns more rows": Case(
        _callable("more_rows"), ("'more_rows'", "rows"), files=MODEL_FILES, simulates=True
    ),
    "model returns a scalar": Case(
        _callable("scalar"), ("'scalar'", "shape"), files=MODEL_FILES, simulates=True
    ),
    "model returns NaN": Case(
        _callable("nan"), ("non-finite", "background"), files=MODEL_FILES, simulates=True
    ),
    "model returns inf": Case(
        _callable("inf_later"), ("non-finite|inf",), files=MODEL_FILES, simulates=True
    ),
    "model returns a tuple": Case(
        _callable("as_tuple"), ("'as_tuple'", "tuple"), files=MODEL_FILES, simulates=True
    ),
    "model returns a dict": Case(
        _callable("as_dict"), ("'as_dict'", "dict"), files=MODEL_FILES, simulates=True
    ),
    "model returns a list of arrays": Case(
        _callable("as_list_of_arrays"),
        ("'as_list_of_arrays'", "shape"),
        files=MODEL_FILES,
        simulates=True,
    ),
    "model returns None": Case(
        _callable("as_none"), ("'as_none'", "NoneType"), files=MODEL_FILES, simulates=True
    ),
    "model returns strings": Case(
        _callable("as_strings"), ("'as_strings'", "<U1|str"), files=MODEL_FILES, simulates=True
    ),
    "model returns objects": Case(
        _callable("as_objects"), ("'as_objects'", "object"), files=MODEL_FILES, simulates=True
    ),
    "model returns complex": Case(
        _callable("as_complex"), ("'as_complex'", "complex"), files=MODEL_FILES, simulates=True
    ),
    "model output index out of range": Case(
        _callable("good", output=3), ("'good'|output", "3|index"), files=MODEL_FILES, simulates=True
    ),
    # paths of the command line and a full disk
    "out is a file": Case(
        _spec(),
        ("afile",),
        files={"afile": "x"},
        args=("run", "{tmp}/spec.toml", "--out", "{tmp}/afile", "--no-figures"),
    ),
    "resume of a plain folder": Case(
        _spec(), ("empty",), args=("resume", "{tmp}/empty"), files={"empty/x": ""}
    ),
    "resume of a missing folder": Case(_spec(), ("nowhere",), args=("resume", "{tmp}/nowhere")),
    "report of a plain folder": Case(
        _spec(), ("empty",), args=("report", "{tmp}/empty"), files={"empty/x": ""}
    ),
    "export of a missing fasta": Case(
        _fasta_spec(file="gone.fa"),
        (r"background\.fasta", r"gone\.fa"),
        args=("export", "{tmp}/spec.toml", "--out", "{tmp}/lib"),
    ),
    "cache is not a cache": Case(
        _spec(study={"n": 6, "seed": 1, "cache": "cache.sqlite"}),
        (r"cache\.sqlite",),
        files={"cache.sqlite": "not a database\n" * 200},
        simulates=True,
    ),
    "disk full while exporting": Case(
        _spec(),
        (r"library\.fa", "No space left"),
        patch="no_space_bytes",
        args=("export", "{tmp}/spec.toml", "--out", "{tmp}/lib"),
    ),
    "disk full while writing": Case(
        _spec(), ("ace.csv", "No space left"), patch="no_space", simulates=True
    ),
}


@pytest.mark.parametrize("case", _spec_key_cases())
def test_spec_key(tmp_path, capsys, monkeypatch, case):
    _run(tmp_path, case, capsys, monkeypatch)


@pytest.mark.parametrize("name", list(HAND))
def test_bad_input(tmp_path, capsys, monkeypatch, name):
    case = HAND[name]
    if "args" not in vars(case) or not case.args:
        case.args = RUN
    _run(tmp_path, case, capsys, monkeypatch)


# -- inputs the spec cannot express: the Python verbs --------------------------------------------
def _write(tmp_path: Path, name: str, data: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return path


PYTHON_CASES = {
    "read_fasta ragged with fixed_length": (
        lambda p: cg.read_fasta(
            _write(p, "r.fa", ">a\nACGT\n>b\nACG\n"), fixed_length=True
        ),
        InvalidSequenceError, ("r.fa", "'b'", "length 3"),
    ),
    "read_fasta N with n_policy=error": (
        lambda p: cg.read_fasta(_write(p, "n.fa", ">a\nACGN\n")),
        InvalidSequenceError, ("n.fa", "line 2", "'a'", "position 3"),
    ),
    "read_fasta of a directory": (
        lambda p: cg.read_fasta(p), InputFileError, ("directory",),
    ),
    "read_fasta of a missing file": (
        lambda p: cg.read_fasta(p / "gone.fa"), InputFileError, ("gone.fa",),
    ),
    "read_motifs asked for dna, file is rna": (
        lambda p: cg.read_motifs(_write(p, "m.meme", MEME_RNA), alphabet="dna"),
        MotifError, ("m.meme", "line 3", "rna"),
    ),
    "encode invalid letter": (
        lambda p: cg.encode(["ACGT", "ACZT"], ids=["s1", "s2"]),
        InvalidSequenceError, ("'s2'", "'Z'", "position 2"),
    ),
    "model raises in simulate": (
        lambda p: _simulate(lambda x: 1 / 0), ModelCallError, ("ZeroDivisionError", "NCL", "chunk"),
    ),
    "model exits in simulate": (
        lambda p: _simulate(lambda x: sys.exit(0)), ModelCallError, ("sys.exit",),
    ),
    "model wrong rows in simulate": (
        lambda p: _simulate(lambda x: np.zeros(len(x) + 2)), ModelOutputError, ("rows", "chunk"),
    ),
}  # fmt: skip


def _simulate(fn: Any) -> Any:
    d = design(iid(20), sweep_positions("GATA", [0, 5]), n=4, rng=1)
    return cg.simulate(cg.as_model(fn, layout="NCL", batch_size=8), d)


@pytest.mark.parametrize("name", list(PYTHON_CASES))
def test_python_verb(tmp_path, name):
    call, kind, locators = PYTHON_CASES[name]
    with pytest.raises(CausalgiaError) as info:
        call(tmp_path)
    assert isinstance(info.value, kind) or isinstance(info.value.__cause__, kind), info.value
    for locator in locators:
        assert locator in str(info.value), f"{locator!r} not in {info.value}"


# -- what the fixes must still accept ------------------------------------------------------------
@pytest.mark.parametrize(
    "meme",
    [MEME_RNA, MEME_RNA.replace("ALPHABET= ACGU", 'ALPHABET "RNA" RNA-LIKE\nA "Adenine" CC0000\n'
     'C "Cytosine" 0000CC\nG "Guanine" FFB300\nU "Uracil" 008000\nN "Any" = ACGU\nEND ALPHABET')],
    ids=["short", "block"],
)  # fmt: skip
def test_rna_meme_file_in_an_rna_study(tmp_path, capsys, meme):
    (tmp_path / "m.meme").write_text(meme)
    (tmp_path / "spec.toml").write_text(toml(_motif_spec("m.meme")))
    assert (
        main(["run", str(tmp_path / "spec.toml"), "--out", str(tmp_path / "o"), "--no-figures"])
        == 0
    )
    ace = pd.read_csv(tmp_path / "o" / "ace.csv")
    assert ace["label"].tolist() == ["M1@0+", "M1@10+"]


def test_soft_masked_fasta_is_read_as_upper_case(tmp_path, capsys):
    (tmp_path / "bg.fa").write_text(f">a\n{SEQ.lower()}\n>b\n{SEQ[:20]}{SEQ[20:].lower()}\n")
    (tmp_path / "spec.toml").write_text(toml(_fasta_spec()))
    assert (
        main(["run", str(tmp_path / "spec.toml"), "--out", str(tmp_path / "o"), "--no-figures"])
        == 0
    )


def test_the_suite_has_at_least_150_cases():
    assert len(_spec_key_cases()) + len(HAND) + len(PYTHON_CASES) >= 150
