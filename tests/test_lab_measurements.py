"""Measurements from anywhere (issue 13): a path or a DataFrame, any key/value/replicate column,
sequence normalisation, short missing-column messages, and integer design parameters that stay
integers in the unit, ACE and lab tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import causalgia as cg
from causalgia import backgrounds as bgs
from causalgia.errors import OptionError
from causalgia.experiment.designs import design, sweep_positions, sweep_spacing
from causalgia.lab import (
    MeasurementError,
    join,
    lab_effects,
    library_table,
    missing_column_message,
    normalize_sequences,
    read_measurements,
)
from causalgia.testing import AdditiveOracle


def test_a_dataframe_keyed_by_any_column_with_sequence_normalisation():
    df = pd.DataFrame(
        {
            "utr": [" acgt", "GG TT ", "acgu"],
            "log2fc": [1.0, -2.0, 3.0],
            "rep": [1, 1, 2],
            "batch": ["x", "y", "x"],
        }
    )
    m = read_measurements(
        df, key="utr", value="log2fc", replicate="rep", design=["batch"], key_type="sequence"
    )
    assert m.key == "sequence" and m.source == "<DataFrame>"
    assert m.table["sequence"].tolist() == ["ACGU", "GGUU", "ACGU"]
    per = m.per_construct()
    assert per.set_index("sequence").loc["ACGU", "value"] == 2.0
    assert per.set_index("sequence").loc["ACGU", "n_replicates"] == 2
    dna = read_measurements(df, key="utr", value="log2fc", key_type="sequence", letters="dna")
    assert dna.table["sequence"].tolist() == ["ACGT", "GGTT", "ACGT"]
    kept = read_measurements(df, key="utr", value="log2fc", key_type="sequence", letters="keep")
    assert kept.table["sequence"].tolist() == ["ACGT", "GGTT", "ACGU"]
    ids = read_measurements(df, key="utr", value="log2fc")  # an id column is left as it is
    assert ids.key == "construct_id" and ids.table["construct_id"].tolist()[1] == "GG TT"
    assert normalize_sequences(["a c\tg u\n"], letters="dna").tolist() == ["ACGT"]


def test_the_same_table_from_a_file_and_from_a_frame(tmp_path):
    df = pd.DataFrame({"construct_id": ["c1", "c2"], "value": [0.5, 1.5]})
    df.to_csv(tmp_path / "m.csv", index=False)
    a = read_measurements(tmp_path / "m.csv").to_frame()
    b = read_measurements(df).to_frame()
    pd.testing.assert_frame_equal(a, b)


def test_missing_columns_are_named_with_candidates_not_dumped():
    wide = pd.DataFrame({f"col{i}": [1.0] for i in range(60)})
    wide["UTR_sequence"] = ["ACGT"]
    wide["intensity_rep1"] = [1.0]
    with pytest.raises(MeasurementError) as err:
        read_measurements(wide, key="utr_sequence", value="intensity_rep1", key_type="sequence")
    message = str(err.value)
    assert message.startswith("<DataFrame>: missing column 'utr_sequence'; did you mean")
    assert "'UTR_sequence'" in message
    assert "col59" not in message and len(message) < 200
    with pytest.raises(MeasurementError) as err:
        read_measurements(wide, key="UTR_sequence", value="zscore", key_type="sequence")
    assert "none of the table's 62 columns" in str(err.value) and "col1" not in str(err.value)
    small = missing_column_message("vale", ["id", "value"])
    assert small == "missing column 'vale'; did you mean 'value'?"
    assert "columns are ['a', 'b']" in missing_column_message("zzz", ["a", "b"])


def test_bad_rows_name_the_row_and_the_text():
    df = pd.DataFrame({"sequence": ["ACGT", "ACXT"], "value": [1.0, 2.0]})
    with pytest.raises(MeasurementError, match=r"<DataFrame>: row 1: sequence 'ACXT' .* 'X'"):
        read_measurements(df, key="sequence")
    df = pd.DataFrame({"id": ["a", "b"], "value": [1.0, np.inf]})
    with pytest.raises(MeasurementError, match=r"row 1: value = inf is not a finite number"):
        read_measurements(df, key="id")
    with pytest.raises(OptionError, match="key_type"):
        read_measurements(df, key="id", key_type="motif")
    with pytest.raises(OptionError, match="columns="):
        read_measurements(df, key="id", columns=["id", "value"])


def test_join_on_a_screen_label_column():
    table = pd.DataFrame({"sequence": ["gcugg", "AAAAA"], "value": [2.0, 0.0]})
    m = read_measurements(table, key="sequence")
    ace = pd.DataFrame({"label": ["GCUGG", "UUUUU"], "ace": [0.8, 0.0]})
    j = join(m, ace, on="label", predicted_value="ace")
    assert j.table[["sequence", "measured", "predicted"]].values.tolist() == [["GCUGG", 2.0, 0.8]]
    with pytest.raises(OptionError, match="did you mean 'ace'"):
        join(m, ace, on="label", predicted_value="aces")


def _mixed_design(kind: str = "paired"):
    arms = sweep_positions("GATA", [2, 9]) + sweep_spacing("GATA", [0, 3], start=2)
    return design(bgs.iid(30), arms, n=40, rng=1, kind=kind)


@pytest.mark.parametrize("kind", ["paired", "randomized"])
def test_integer_parameters_stay_integers_in_every_table(kind, tmp_path):
    d = _mixed_design(kind)
    result = cg.simulate(AdditiveOracle.from_motif("GATA", length=30), d, progress=False)
    assert str(result.table["position"].dtype) == "Int64"
    ace = cg.estimate_ace(result, method="paired_t" if kind == "paired" else "welch").to_frame()
    for col in ("position", "spacing"):
        assert str(ace[col].dtype) == "Int64", col
    ace.to_csv(tmp_path / "ace.csv", index=False)
    text = pd.read_csv(tmp_path / "ace.csv", dtype=str, keep_default_na=False)
    assert set(text.loc[text["experiment"] == "position", "position"]) == {"2", "9"}
    assert set(text.loc[text["experiment"] == "spacing", "position"]) == {""}
    # a unit table read back from CSV (floats beside missing values) gives integers again
    result.table.to_csv(tmp_path / "ice.csv", index=False)
    back = pd.read_csv(tmp_path / "ice.csv")
    assert back["position"].dtype == float
    again = cg.estimate_ace(back, method="paired_t" if kind == "paired" else "welch").to_frame()
    assert str(again["position"].dtype) == "Int64"
    pd.testing.assert_series_equal(again["ace"], ace["ace"])


def test_a_parameter_every_arm_has_is_a_plain_integer_column():
    d = design(bgs.iid(30), sweep_positions("GATA", [2, 9]), n=10, rng=1)
    result = cg.simulate(AdditiveOracle.from_motif("GATA", length=30), d, progress=False)
    assert result.table["position"].dtype == np.int64
    ace = cg.estimate_ace(result).to_frame()
    assert ace["position"].dtype == np.int64 and ace["position"].tolist() == [2, 9]


@pytest.mark.parametrize("from_csv", [False, True])
def test_lab_effects_keep_integer_parameters(from_csv, tmp_path):
    d = _mixed_design("paired")
    lib = library_table(d)
    if from_csv:
        lib.to_csv(tmp_path / "library.csv", index=False)
        lib = pd.read_csv(tmp_path / "library.csv")
    oracle = AdditiveOracle.from_motif("GATA", length=30)
    y = cg.as_model(oracle).predict(cg.encode(list(lib["sequence"])))
    meas = pd.DataFrame({"construct_id": lib["construct_id"], "value": y})
    lab = lab_effects(read_measurements(meas), lib).to_frame()
    assert str(lab["position"].dtype) == "Int64"
    assert lab.loc[lab["experiment"] == "position", "position"].tolist() == [2, 9]
