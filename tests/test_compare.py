"""Wet-lab comparison: reading measurements, joining, concordance, lab effects of an exported
library (round trip with causalgia.lab.export and the CLI), and the PyMC calibration (slow)."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from causalgia import backgrounds as bgs
from causalgia.engine.declaration import as_model
from causalgia.engine.simulator import simulate
from causalgia.errors import EstimationError, OptionError
from causalgia.experiment.designs import design, sweep_positions
from causalgia.lab.compare import (
    MeasurementError,
    Measurements,
    calibrate,
    compare_groups,
    concordance,
    deming_fit,
    ice_contrast,
    join,
    lab_effects,
    read_measurements,
)
from causalgia.lab.export import export_library, library_table
from causalgia.sequences.io import read_fasta
from causalgia.stats.estimators import estimate_ace
from causalgia.testing import AdditiveOracle


def test_read_measurements_formats_and_errors(tmp_path):
    csv = tmp_path / "m.csv"
    csv.write_text("construct_id,value,rep,arm\nc1,1.0,0,do\nc1,3.0,1,do\nc2,-1,0,control\n")
    m = read_measurements(csv, replicate="rep", design=["arm"])
    per = m.per_construct()
    assert per["value"].tolist() == [2.0, -1.0] and per["n_replicates"].tolist() == [2, 1]
    assert per["arm"].tolist() == ["do", "control"] and "2 constructs" in m.summary()
    gz = tmp_path / "probes.txt.gz"
    with gzip.open(gz, "wt") as fh:
        fh.write("0.5\tacgt\n1.5\tTTGG\n")
    probes = read_measurements(gz, key="sequence", columns=["value", "sequence"])
    assert probes.table["sequence"].tolist() == ["ACGU", "UUGG"]
    bad = tmp_path / "bad.tsv"
    bad.write_text("construct_id\tvalue\nc1\t1.0\nc2\tn/a\n")
    with pytest.raises(MeasurementError, match=r"bad.tsv: line 3: value = 'n/a'"):
        read_measurements(bad)
    with pytest.raises(MeasurementError, match="missing column"):
        read_measurements(csv, value="intensity")
    empty = tmp_path / "empty_id.csv"
    empty.write_text("construct_id,value\n,1.0\n")
    with pytest.raises(MeasurementError, match="line 2: empty construct_id"):
        read_measurements(empty)
    with pytest.raises(OptionError, match="extension"):
        read_measurements(tmp_path / "m.xlsx")


def test_join_reports_unmatched_and_rejects_duplicates():
    m = Measurements(
        pd.DataFrame({"construct_id": ["a", "a", "b"], "value": [1.0, 2.0, 5.0], "replicate": 0}),
        "construct_id",
        "-",
    )
    j = join(m, pd.DataFrame({"construct_id": ["a", "z"], "predicted": [0.1, 0.2]}))
    assert j.table[["construct_id", "measured", "predicted"]].values.tolist() == [["a", 1.5, 0.1]]
    assert j.unmatched_measured == ("b",) and j.unmatched_predicted == ("z",)
    assert "1 measured only" in j.summary()
    with pytest.raises(OptionError, match="more than once"):
        join(m, pd.DataFrame({"construct_id": ["a", "a"], "predicted": [0.1, 0.2]}))


def test_concordance_recovers_a_known_relation_with_intervals():
    gen = np.random.default_rng(0)
    truth = gen.normal(size=400)
    x = truth + gen.normal(scale=0.3, size=400)  # in-silico, with error
    y = 1.0 + 2.0 * truth + gen.normal(scale=0.6, size=400)  # lab, error var 4x larger
    c = concordance(x, y, error_ratio=4.0, n_resamples=400, rng=1)
    t = c.to_frame().set_index("statistic")
    assert t.loc["eiv_slope", "ci_low"] < 2.0 < t.loc["eiv_slope", "ci_high"]
    ols = np.polyfit(x, y, 1)[0]
    assert ols < t.loc["eiv_slope", "ci_low"]  # OLS is attenuated, Deming is not
    for name in ("pearson_r", "spearman_rho"):
        assert 0.8 < t.loc[name, "ci_low"] < t.loc[name, "estimate"] < t.loc[name, "ci_high"]
    assert t.loc["sign_agreement", "estimate"] > 0.8
    assert abs(t.loc["bland_altman_bias", "estimate"]) < 1e-9  # calibrated scale
    assert t.loc["loa_low", "estimate"] < 0 < t.loc["loa_high", "estimate"]
    again = concordance(x, y, error_ratio=4.0, n_resamples=400, rng=1).to_frame()
    pd.testing.assert_frame_equal(c.to_frame(), again)
    assert "pearson_r" in c.summary()
    with pytest.raises(EstimationError, match="non-finite"):
        concordance(np.array([1.0, np.nan, 2.0]), np.ones(3))


def test_deming_limits():
    gen = np.random.default_rng(2)
    x = gen.normal(size=200)
    y = 3 * x + gen.normal(size=200)
    slope_xy = deming_fit(x, y, 1.0)[0]
    slope_yx = deming_fit(y, x, 1.0)[0]
    assert slope_xy == pytest.approx(1 / slope_yx)  # orthogonal regression is symmetric
    sma = deming_fit(x, y)[0]
    assert sma == pytest.approx(np.std(y) / np.std(x))


def test_export_round_trip_gives_the_in_silico_ace(tmp_path):
    oracle = AdditiveOracle.from_motif("GATA", length=20)
    d = design(bgs.iid(20), sweep_positions("GATA", [2, 9]), n=30, rng=4)
    lib = export_library(d, tmp_path)
    fasta = read_fasta(lib.fasta)
    assert list(fasta.ids) == lib.table["construct_id"].tolist()
    csv = pd.read_csv(lib.csv)
    assert {
        "construct_id",
        "experiment",
        "label",
        "arm",
        "background_id",
        "position",
        "unit_seed",
        "design_seed",
        "sequence",
    } <= set(csv.columns)
    # "measure" the library with the model itself, in two replicates, and read it back
    y = as_model(oracle).predict(fasta.codes())
    meas = pd.DataFrame(
        {
            "construct_id": list(fasta.ids) * 2,
            "value": np.r_[y, y],
            "replicate": np.repeat([0, 1], len(y)),
        }
    )
    meas.to_csv(tmp_path / "measured.csv", index=False)
    lab = lab_effects(read_measurements(tmp_path / "measured.csv", replicate="replicate"), lib.csv)
    silico = estimate_ace(simulate(oracle, d, progress=False)).to_frame()
    np.testing.assert_allclose(lab.to_frame()["ace"], silico["ace"], atol=1e-12)
    # a missing measurement is an error unless dropped explicitly
    part = Measurements(meas.iloc[1 : len(y)].reset_index(drop=True), "construct_id", "-")
    with pytest.raises(EstimationError, match="no measurement"):
        lab_effects(part, lib.table)
    dropped = lab_effects(part, lib.table, missing="drop")
    assert dropped.unmeasured == ("c000000", "c000030", "c000060")  # control + its two pairs
    assert dropped.to_frame()["n"].tolist() == [29, 29]


def test_randomized_library_gives_welch_effects():
    d = design(bgs.iid(16), sweep_positions("GATA", [4]), n=60, rng=2, kind="randomized")
    lib = library_table(d)
    assert lib["background_id"].is_unique
    value = np.where(lib["arm"] == "do", 1.0, 0.0) + 0.01 * (lib["background_id"] % 3)
    m = Measurements(
        pd.DataFrame({"construct_id": lib["construct_id"], "value": value, "replicate": 0}),
        "construct_id",
        "-",
    )
    out = lab_effects(m, lib).to_frame()
    assert out["method"].iloc[0] == "welch" and out["ace"].iloc[0] == pytest.approx(1.0, abs=0.05)


def test_cli_export_writes_a_library(tmp_path):
    from causalgia.cli import main

    spec = tmp_path / "spec.toml"
    spec.write_text(
        '[study]\nn = 5\nseed = 3\n[model]\nbuiltin = "rbp_oracle"\n'
        '[background]\nkind = "iid"\nlength = 41\n'
        '[[experiment]]\ntype = "positions"\nmotif = "UGCAUG"\npositions = [5, 20]\n'
    )
    assert main(["export", str(spec), "--out", str(tmp_path / "lib")]) == 0
    table = pd.read_csv(tmp_path / "lib" / "library.csv")
    assert len(table) == 15 and set(table["arm"]) == {"control", "do"}
    assert (table["design_seed"] == 3).all()


def test_contrasts_and_groups():
    t = pd.DataFrame(
        {
            "experiment": "e",
            "label": ["x2"] * 4 + ["x1"] * 4,
            "background_id": list(range(4)) * 2,
            "ice": [2.0, 2.2, 1.8, 2.0, 1.0, 1.0, 1.0, 1.0],
        }
    )
    r = ice_contrast(t, {"x2": 1, "x1": -2}).iloc[0]
    assert r["contrast"] == "x2 - 2*x1" and r["estimate"] == pytest.approx(0.0)
    with pytest.raises(OptionError, match="not in the ICE table"):
        ice_contrast(t, {"x3": 1})
    g = compare_groups(
        np.r_[np.ones(5) + np.arange(5), np.arange(5)], ["a"] * 5 + ["b"] * 5, a="a", b="b"
    ).iloc[0]
    assert g["difference"] == pytest.approx(1.0) and g["ci_low"] < 1.0 < g["ci_high"]


@pytest.mark.slow
def test_pymc_calibration_recovers_slope_and_offset():
    gen = np.random.default_rng(5)
    x = gen.normal(size=60)
    y = 0.5 + 1.5 * x + gen.normal(scale=0.3, size=60)
    cal = calibrate(x, y, lab_se=np.full(60, 0.1), draws=400, tune=400, chains=2, rng=0)
    t = cal.to_frame().set_index("parameter")
    assert t.loc["slope", "hdi_low"] < 1.5 < t.loc["slope", "hdi_high"]
    assert t.loc["offset", "hdi_low"] < 0.5 < t.loc["offset", "hdi_high"]
    assert t.loc["extra_sd", "mean"] > 0.1 and (t["r_hat"] < 1.05).all()
