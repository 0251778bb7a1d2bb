"""TOML specs: every unknown key and bad value is an error naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from causalgia.errors import ConfigError
from causalgia.studies.spec import DEMO_SPEC, load_spec, parse_spec

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
BASE = {
    "model": {"builtin": "rbp_oracle"},
    "background": {"kind": "iid", "length": 41},
    "experiment": [{"type": "identity"}],
}


def _with(section: str, **values):
    raw = {k: (dict(v) if isinstance(v, dict) else list(v)) for k, v in BASE.items()}
    if section == "experiment":
        raw["experiment"] = [values]
    else:
        raw.setdefault(section, {}).update(values)
    return raw


def test_demo_and_example_specs_load():
    assert load_spec(DEMO_SPEC).study.truth is True
    for path in EXAMPLES.glob("*.toml"):
        spec = load_spec(path)
        assert spec.experiments and len(spec.spec_hash) == 16


def test_spec_hash_tracks_content():
    a, b = parse_spec(BASE), parse_spec(_with("study", n=10))
    assert a.spec_hash == parse_spec(BASE).spec_hash != b.spec_hash


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (_with("study", sed=1), r"unknown key study\.sed"),
        (_with("study", n="many"), r"study\.n = 'many' must be int"),
        (_with("study", truth=1), r"study\.truth = 1 must be bool"),
        (
            {**BASE, "model": {"callable": "mymodel", "layout": "NCL"}},
            r"model\.callable.*'package\.module:function'",
        ),
        ({**BASE, "models": {}}, r"unknown table\(s\) \['models'\]"),
        (
            _with("experiment", type="positions", motif="GATA"),
            r"experiment\[0\] of type 'positions' needs the key experiment\[0\]\.positions",
        ),
        (
            _with("experiment", type="positions", motif="GATA", positions=[1, "2"]),
            r"experiment\[0\]\.positions must be a list of integers",
        ),
        (_with("experiment", type="teleport"), r"experiment\[0\]\.type = 'teleport'"),
        (
            _with("experiment", type="identity", colour="red"),
            r"unknown key experiment\[0\]\.colour",
        ),
        ({k: v for k, v in BASE.items() if k != "experiment"}, r"at least one \[\[experiment\]\]"),
    ],
)
def test_bad_specs_name_the_key(raw, message):
    with pytest.raises(ConfigError, match=message):
        parse_spec(raw)


def test_callable_needs_layout_and_exactly_one_model_source():
    with pytest.raises(ConfigError, match="model.layout is required"):
        parse_spec({**BASE, "model": {"callable": "m:f"}})
    with pytest.raises(ConfigError, match="exactly one of model.builtin or model.callable"):
        parse_spec({**BASE, "model": {"callable": "m:f", "builtin": "rbp_oracle", "layout": "NCL"}})


def test_bad_toml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[study\nn = 3")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_spec(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_spec(tmp_path / "absent.toml")
