"""The design table (issue 11, item 9): built column-wise in time linear in the arms, identical
to the per-arm construction it replaced (frame, dtypes and CSV bytes), streamed in blocks, and
written by ``causalgia run`` as csv, parquet or not at all (``[study] design_table``)."""

from __future__ import annotations

import functools
import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from causalgia._rng import unit_keys
from causalgia.cli import main
from causalgia.errors import ConfigError
from causalgia.experiment.backgrounds import iid
from causalgia.experiment.designs import (
    CONTROL,
    Arm,
    Design,
    design,
    factorial,
    sweep_counts,
    sweep_positions,
    sweep_spacing,
)
from causalgia.experiment.interventions import Identity, Mutate, Substitute
from causalgia.studies.build import design_from_spec
from causalgia.studies.spec import DEMO_SPEC, parse_spec


def _reference_frame(d: Design) -> pd.DataFrame:
    """The per-arm construction ``Design.to_frame`` used before (quadratic in the arms)."""

    def rows(experiment: str, label: str, params: Mapping[str, Any], ids, keys) -> pd.DataFrame:
        frame = pd.DataFrame({"experiment": experiment, "label": label}, index=range(len(ids)))
        for name in d.param_names:
            frame[name] = params.get(name)
        frame["background_id"] = ids
        frame["arm"] = "control" if label == CONTROL else "do"
        frame["unit_seed"] = keys
        return frame

    ids = d.background_ids
    bg_keys = unit_keys(d.seed, ids, "background")
    out = [rows(CONTROL, CONTROL, {}, ids, bg_keys)]
    assign = d.assignment() if d.kind == "randomized" else None
    for index, arm in enumerate(d.arms):
        mine = ids if assign is None else ids[assign == index]
        out.append(rows(arm.experiment, arm.label, arm.params, mine, arm.keys(d.seed, mine)))
    if assign is not None:
        out[0] = rows(CONTROL, CONTROL, {}, ids[assign == -1], bg_keys[assign == -1])
    return pd.concat(out, ignore_index=True)


class _OwnKeys(Arm):
    """An arm subclass with its own keys (the table must ask it)."""

    def keys(self, seed: int, ids: np.ndarray) -> np.ndarray:
        return unit_keys(seed, ids, "own", self.label)


@functools.cache
def _designs() -> dict[str, Design]:
    bg = iid(40)
    mixed = (
        sweep_positions("GATA", [0, 7])
        + sweep_counts("TGCATG", [1, 2], positions=[3, 20], experiment="count")
        + sweep_spacing("GATA", [0, 3], start=2, orientations=("+", "-"), experiment="sp")
        + [Arm("m", Mutate(5, "A"), "mut", {"position": 5, "weight": 0.5, "flag": True})]
        + [Arm("big", Mutate(6, "C"), "mut", {"position": np.int64(6), "note": None})]
        + [Arm("placebo", Identity(), "placebo")]
        + [_OwnKeys("own", Substitute("GAYA", 9), "own", {"position": 9})]
    )
    many = [Arm(f"k{i}", Substitute("ACGT"[i % 4] * 4, i % 30), "kmers", {"position": i % 30})
            for i in range(300)]  # fmt: skip
    return {
        "mixed paired": design(bg, mixed, n=13, rng=3),
        "mixed randomized": design(bg, mixed, n=25, kind="randomized", rng=4),
        "randomized, empty arms": design(bg, many[:60], n=9, kind="randomized", rng=5),
        "many arms": design(bg, many, n=7, rng=6),
        "factorial": design(
            bg, factorial({"a": Substitute("GATA", 2), "b": Substitute("TTT", 20)}), n=5, rng=7
        ),
        "demo": design_from_spec(DEMO_SPEC),
    }


@pytest.mark.parametrize("name", list(_designs()))
def test_table_is_identical_to_the_per_arm_construction(name):
    d = _designs()[name]
    old, new = _reference_frame(d), d.to_frame()
    pd.testing.assert_frame_equal(new, old, check_exact=True)
    assert list(new.dtypes) == list(old.dtypes)
    assert new.to_csv(index=False) == old.to_csv(index=False)


@pytest.mark.parametrize(
    ("name", "block_rows"),
    [("mixed paired", 5), ("mixed randomized", 7), ("many arms", 64), ("many arms", 2100),
     ("demo", 997), ("demo", 10**6)],
)  # fmt: skip
def test_blocks_concatenate_to_the_table_and_write_the_same_csv(name, block_rows):
    d = _designs()[name]
    whole = d.to_frame()
    blocks = list(d.iter_frames(block_rows))
    assert all(len(b) <= block_rows for b in blocks)
    assert all(list(b.dtypes) == list(whole.dtypes) for b in blocks)
    pd.testing.assert_frame_equal(pd.concat(blocks, ignore_index=True), whole, check_exact=True)
    streamed = io.StringIO()
    for i, block in enumerate(blocks):
        block.to_csv(streamed, index=False, header=i == 0)
    assert streamed.getvalue() == whole.to_csv(index=False)


def test_typed_blocks_share_one_arrow_schema():
    pa = pytest.importorskip("pyarrow")
    d = _designs()["mixed paired"]
    blocks = list(d.iter_frames(5, typed=True))
    schemas = {pa.Schema.from_pandas(b, preserve_index=False) for b in blocks}
    assert len(schemas) == 1
    table = pd.concat(blocks, ignore_index=True)
    assert str(table["position"].dtype) == "Int64" and str(table["weight"].dtype) == "Float64"
    exact = d.to_frame()
    assert table["position"].isna().tolist() == exact["position"].isna().tolist()
    assert table["position"].dropna().tolist() == exact["position"].dropna().tolist()


def test_table_time_is_linear_in_the_arms():
    """A count, not a clock: the per-arm frames were O(arms²) lookups of parameter names."""
    calls = {"n": 0}
    original = Design.param_names.fget

    def counting(self):
        calls["n"] += 1
        return original(self)

    d = _designs()["many arms"]
    Design.param_names = property(counting)  # type: ignore[method-assign,assignment]
    try:
        d.to_frame()
        list(d.iter_frames(100))
    finally:
        Design.param_names = property(original)  # type: ignore[method-assign,assignment]
    assert calls["n"] == 2  # once per table, not once per arm


def _spec(tmp_path: Path, extra: str = "", n: int = 30) -> Path:
    spec = tmp_path / "study.toml"
    spec.write_text(
        f'[study]\nn = {n}\nseed = 1\n{extra}\n[model]\nbuiltin = "rbp_oracle"\n'
        '[background]\nkind = "iid"\nlength = 41\n'
        '[[experiment]]\ntype = "positions"\nmotif = "UGCAUG"\npositions = [0, 10, 20]\n'
    )
    return spec


@pytest.mark.parametrize("setting", ["csv", "parquet", "none", "auto"])
def test_run_writes_the_design_table_as_asked(tmp_path, setting):
    if setting == "parquet":
        pytest.importorskip("pyarrow")
    out = tmp_path / "run"
    spec = _spec(tmp_path, f'design_table = "{setting}"')
    assert main(["run", str(spec), "--out", str(out), "--no-figures"]) == 0
    files = json.loads((out / "manifest.json").read_text())["files"]
    expected = design_from_spec(spec).to_frame()
    if setting in ("csv", "auto"):  # auto: csv for a table this small
        assert "design.csv" in files and not (out / "design.parquet").exists()
        assert (out / "design.csv").read_text() == expected.to_csv(index=False)
    elif setting == "parquet":
        assert "design.parquet" in files and not (out / "design.csv").exists()
        table = pd.read_parquet(out / "design.parquet")
        assert table["unit_seed"].tolist() == expected["unit_seed"].tolist()
        assert table["position"].isna().tolist() == expected["position"].isna().tolist()
        assert table["position"].dropna().tolist() == expected["position"].dropna().tolist()
        assert str(table["position"].dtype) == "Int64"
    else:
        assert not any(name.startswith("design.") for name in files)
        assert not list(out.glob("design.*"))


def test_design_table_setting_is_checked():
    with pytest.raises(ConfigError, match=r"study\.design_table"):
        parse_spec(
            {"study": {"design_table": "xlsx"}, "model": {"builtin": "rbp_oracle"},
             "background": {"kind": "iid", "length": 41}, "experiment": [{"type": "identity"}]}
        )  # fmt: skip
