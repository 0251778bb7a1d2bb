"""A study too large for memory is read from the ledger in arm blocks (issue 11 item 9): the
same ACE table, controls, pooled fit and ice.parquet as the in-memory path, bit for bit."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import causalgia.studies.units as units_module
from causalgia.reporting import render_report
from causalgia.reporting.report import read_ice_sample
from causalgia.studies import load_spec, run_study
from causalgia.studies.spec import DEMO_SPEC


@pytest.fixture(scope="module")
def both_runs(tmp_path_factory):
    spec = load_spec(DEMO_SPEC)
    root = tmp_path_factory.mktemp("streamed")
    whole = run_study(spec, root / "whole", figures=False, progress=False)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(units_module, "STREAM_ROWS", 1_000)  # 300 backgrounds: 3 arms per block
        streamed = run_study(spec, root / "streamed", figures=True, progress=False)
    return whole, streamed


def test_streamed_run_keeps_no_table_in_memory(both_runs):
    whole, streamed = both_runs
    assert len(whole.result.table) == 300 * 49
    assert streamed.result.table.empty


@pytest.mark.parametrize("name", ["ace.csv", "controls.csv", "pooled.csv", "truth.csv"])
def test_streamed_tables_are_byte_identical(both_runs, name):
    whole, streamed = both_runs
    assert (streamed.run.path / name).read_bytes() == (whole.run.path / name).read_bytes()


def test_streamed_ace_frame_has_the_same_values_and_types(both_runs):
    whole, streamed = both_runs
    pd.testing.assert_frame_equal(streamed.ace, whole.ace, check_exact=True)


def test_streamed_ice_parquet_holds_the_whole_table(both_runs):
    whole, streamed = both_runs
    a = pd.read_parquet(whole.run.path / "ice.parquet")
    b = pd.read_parquet(streamed.run.path / "ice.parquet")
    pd.testing.assert_frame_equal(b, a, check_exact=True)


def test_streamed_report_draws_ice_maps_from_a_subsample(both_runs):
    _, streamed = both_runs
    html = (streamed.run.path / "report.html").read_text()
    assert "ICE map position" in html and "a subsample of 300" in html
    manifest = json.loads((streamed.run.path / "manifest.json").read_text())
    assert manifest["n_backgrounds"] == 300


def test_rerendering_reads_only_the_sampled_backgrounds_and_draws_the_same_page(both_runs):
    _, streamed = both_runs
    root = streamed.run.path
    manifest = json.loads((root / "manifest.json").read_text())
    sample = read_ice_sample(root, manifest)
    assert sample["background_id"].nunique() == 40
    assert len(sample) == 40 * 49  # every arm of each sampled background
    before = (root / "report.html").read_bytes()
    render_report(root)
    assert (root / "report.html").read_bytes() == before
