"""Every public function and method has a numpydoc docstring that documents its interface.

For each stage's ``__all__``: the functions, and the public methods (no leading ``_``) of the
classes, run through :func:`numpydoc.validate.validate` under the name where they are defined.
Failing codes: GL08 (no docstring), PR01 (a parameter not documented), PR02 (a documented
parameter that does not exist) and RT01 (no Returns section, only for a callable that returns
something: numpydoc's own check of the source, and a return annotation other than ``None``; a
Yields section counts for a function that returns an iterator). Properties, and the dunder
methods that dataclasses generate, are not checked; ``self``/``cls`` and ``*args``/``**kwargs``
are matched as numpydoc matches them.
"""

from __future__ import annotations

import functools
import importlib
import inspect

import numpydoc.docscrape as docscrape
import numpydoc.validate as numpydoc_validate
import pytest

STAGES = [
    "sequences",
    "experiment",
    "engine",
    "stats",
    "analyses",
    "pooling",
    "checks",
    "lab",
    "reporting",
    "studies",
    "validation",
]
CODES = ("GL08", "PR01", "PR02", "RT01")


def _qualified(func) -> str:
    return f"{func.__module__}.{func.__qualname__}"


def _methods(cls) -> list:
    """The package's public methods of `cls` (own and inherited), unwrapped to plain functions."""
    found = []
    for name in dir(cls):
        if name.startswith("_"):
            continue
        attr = inspect.getattr_static(cls, name)
        if isinstance(attr, staticmethod | classmethod):
            attr = attr.__func__
        if isinstance(attr, property | functools.cached_property):
            continue
        if inspect.isfunction(attr) and attr.__module__.startswith("causalgia."):
            found.append(attr)
    return found


def _targets(stage: str) -> list:
    module = importlib.import_module(f"causalgia.{stage}")
    funcs = []
    for name in getattr(module, "__all__", []):
        obj = getattr(module, name)
        if inspect.isfunction(obj):
            funcs.append(obj)
        elif inspect.isclass(obj) and obj.__module__.startswith("causalgia."):
            funcs.extend(_methods(obj))
    unique = {_qualified(f): f for f in funcs}
    return sorted(unique.items())


def _lacks_returns(name: str, func, errors: list[tuple[str, str]]) -> bool:
    """RT01: no Returns (nor Yields) section, for a callable that returns something."""
    annotation = inspect.signature(func).return_annotation
    if annotation is None or annotation == "None":
        return False
    doc = docscrape.FunctionDoc(func)
    if doc["Returns"] or doc["Yields"]:  # Yields: a function that returns an iterator
        return False
    if inspect.isfunction(numpydoc_validate.Validator._load_obj(name)):
        return any(code == "RT01" for code, _ in errors)  # numpydoc's check of the source
    # a classmethod loads as a bound method, on which numpydoc does not check RT01
    return annotation is not inspect.Signature.empty


def _problems(name: str, func) -> list[str]:
    result = numpydoc_validate.validate(name)
    errors = [(code, msg) for code, msg in result["errors"] if code in CODES and code != "RT01"]
    if result["docstring"] and _lacks_returns(name, func, result["errors"]):
        errors.append(("RT01", numpydoc_validate.ERROR_MSGS["RT01"]))
    return [f"{name}: {code} {msg}" for code, msg in errors]


@pytest.mark.parametrize("stage", STAGES)
def test_public_callables_document_parameters_and_returns(stage):
    targets = _targets(stage)
    assert targets, f"causalgia.{stage} exports no functions or methods"
    problems = [p for name, func in targets for p in _problems(name, func)]
    assert not problems, (
        f"{len(problems)} docstring problem(s) in causalgia.{stage}:\n" + "\n".join(problems)
    )
