"""The seed's experiments on real DeepBind models and real RNAcompete data (../shared/data).

Each test runs the example script's own functions (examples/*.py) at a small n, so the examples
and the docs pages in docs/experiments/ are what is tested.
"""

from __future__ import annotations

import runpy
from pathlib import Path

import numpy as np
import pytest

import causalgia as cg
from causalgia import backgrounds as bgs
from causalgia.engine.deepbind import read_deepbind
from causalgia.experiment.designs import Arm, design
from causalgia.experiment.interventions import Substitute

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def example(name: str) -> dict:
    return runpy.run_path(str(EXAMPLES / name), run_name="example")


def test_rbfox1_counts_controls_and_additivity(shared_data):
    ex = example("rbfox1_deepbind.py")
    tables = ex["run"](n=300, seed=0, params=shared_data / "deepbind/params/D00210.001.txt")
    ace = tables["ace"].set_index(["experiment", "label"])
    one = ace.loc[("count", "UGCAUGx1")]
    assert one["ace"] > 0 and one["ci_low"] > 0
    mutated = ace.loc[("control", "mutated UGAAAG@17")]
    assert one["ace"] > mutated["ci_high"]
    contrasts = tables["contrasts"].set_index("contrast")
    assert contrasts.loc["consensus - mutated", "ci_low"] > 0
    # DeepBind's max-pooled windows make copies sub-additive (the seed's ResidualBind was ~additive)
    assert contrasts.loc["ACE(2) - 2·ACE(1)", "ci_high"] < 0
    assert ace.loc[("count", "UGCAUGx2"), "ace"] > one["ace"]  # but still increasing
    scrambled = ace.xs("control", level="experiment").filter(like="scrambled", axis=0)
    assert abs(float(scrambled["ace"].iloc[0])) < 0.5
    pos = ace.xs("position", level="experiment")
    assert len(pos) == 36 and (pos["ci_low"] > 0).all()
    assert set(ace.xs("spacing", level="experiment")["spacing"]) == set(range(21))
    assert abs(contrasts.loc["GC x motif interaction", "estimate"]) < 0.5


def test_vts1_hairpin_loop_beats_stem_and_unstructured(shared_data):
    ex = example("vts1_hairpin.py")
    tables = ex["in_silico"](n=300, seed=0, data=shared_data, fold_n=0)
    c = tables["contrasts"].set_index(["model", "contrast"])
    for mid in ("D00162.002", "D00162.001"):
        assert c.loc[(mid, "loop - unstructured"), "ci_low"] > 0
        assert c.loc[(mid, "loop - stem"), "ci_low"] > 0


def test_vts1_probes_order_like_the_model(shared_data):
    pytest.importorskip("RNA", reason="folding the probes needs ViennaRNA (pip install viennarna)")
    ex = example("vts1_hairpin.py")
    wet = ex["wet_lab"](data=shared_data, n_resamples=19)
    groups = wet["probe_groups"].set_index("quantity")
    measured = groups.loc["measured intensity"]
    assert measured["n_a"] > 150 and measured["ci_low"] > 0  # loop probes bind more, in the lab
    for mid in ("D00162.002", "D00162.001"):
        assert groups.loc[f"model score {mid}", "difference"] > 0  # ... and in the model
    conc = wet["concordance"].set_index(["model", "statistic"])
    assert conc.loc[("D00162.002", "spearman_rho"), "ci_low"] > 0.2
    assert conc.loc[("D00162.002", "pearson_r"), "estimate"] > 0.4


def test_kmer_screen_top10_matches_the_wet_lab(shared_data):
    ex = example("kmer_screen.py")
    model = cg.as_model(
        read_deepbind(shared_data / "deepbind/params/D00162.002.txt"), batch_size=8192
    )
    screen = ex["kmer_screen"](model, bgs.iid(41, alphabet="rna"), n=16, seed=0)
    assert len(screen) == 4**7 and screen["kmer"].is_unique
    assert (screen["q_value"] >= screen["p_value"]).all()
    cmp = ex["compare_top"](screen, ex["wet_lab_top"](shared_data))
    assert cmp["n_overlap"] >= 6, cmp


def test_kmer_screen_of_all_4mers_equals_a_design_of_a_few(shared_data):
    ex = example("kmer_screen.py")
    model = cg.as_model(read_deepbind(shared_data / "deepbind/params/D00162.001.txt"))
    background = bgs.iid(41, alphabet="rna")
    screen = ex["kmer_screen"](model, background, k=4, n=12, seed=5).set_index("kmer")
    picks = ["GGAC", "ACGU", "UUUU", "GCUG"]
    arms = [Arm(k, Substitute(k, 17), "kmer") for k in picks]
    res = cg.simulate(model, design(background, arms, n=12, rng=5), progress=False)
    ace = cg.estimate_ace(res, multiple_testing="none").to_frame().set_index("label")
    np.testing.assert_allclose(ace.loc[picks, "ace"], screen.loc[picks, "ace"], atol=1e-12)
    np.testing.assert_allclose(ace.loc[picks, "ci_low"], screen.loc[picks, "ci_low"], atol=1e-9)
