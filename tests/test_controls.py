"""Controls (issue 4): control arms, each check on an oracle with known mechanisms, the
empirical null and background sensitivity. Fixed seeds; assertions follow from the oracle."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from causalgia.checks.controls import (
    CheckResult,
    ControlReport,
    check_gc,
    check_negative,
    check_placebo,
    empirical_null,
    evaluate_controls,
    gc_control_arm,
    null_kmer_arms,
    placebo_arm,
    random_kmers,
    scrambled_motifs,
)
from causalgia.checks.sensitivity import background_sensitivity, kmer_spectrum
from causalgia.engine.declaration import as_model
from causalgia.engine.simulator import simulate
from causalgia.errors import EstimationError, OptionError
from causalgia.experiment.backgrounds import iid
from causalgia.experiment.designs import design, sweep_positions
from causalgia.stats.estimators import estimate_ace
from causalgia.testing import RBPOracle, reference_ace

MOTIF = "UGCAUG"
BG = iid(41, gc=0.5, alphabet="rna")


@pytest.fixture(scope="module")
def study():
    """RBP oracle (motif UGCAUG, planted 3' GC bias in the last 12 nt), 300 backgrounds."""
    arms = [
        *sweep_positions(MOTIF, [18], experiment="positive"),
        gc_control_arm(MOTIF, 35),  # inside the GC window: a real GC response
        gc_control_arm(MOTIF, 5, experiment="gc_5p"),  # outside it: none
        placebo_arm(),
        *null_kmer_arms(MOTIF, 18, n_kmers=20, n_scrambles=3, rng=1),
    ]
    result = simulate(as_model(RBPOracle()), design(BG, arms, n=300, rng=1), progress=False)
    truth = reference_ace(RBPOracle(), BG, arms[:1], n=20_000)
    return estimate_ace(result).to_frame(), result.table, truth


# -- control arms -------------------------------------------------------------------------


def _gc(s: str) -> int:
    return sum(c in "GC" for c in s)


def test_random_kmers_match_length_and_gc_and_avoid_the_motif():
    kmers = random_kmers(MOTIF, 30, rng=4)
    assert len(set(kmers)) == 30 and all(len(k) == 6 and _gc(k) == _gc(MOTIF) for k in kmers)
    assert all(set(k) <= set("ACGU") for k in kmers)
    cons, rc = MOTIF.replace("U", "T"), "CATGCA"
    for k in kmers:
        dna = k.replace("U", "T")
        assert sum(a != b for a, b in zip(dna, cons, strict=True)) >= 2
        assert sum(a != b for a, b in zip(dna, rc, strict=True)) >= 2
    assert random_kmers(MOTIF, 30, rng=4) == kmers != random_kmers(MOTIF, 30, rng=5)
    assert set(random_kmers("GATA", 3, rng=0)[0]) <= set("ACGT")
    with pytest.raises(OptionError, match="found only"):
        random_kmers("GG", 5, min_distance=2)


def test_scrambles_preserve_composition_and_differ_from_the_motif():
    scrambles = scrambled_motifs(MOTIF, 5, rng=2)
    assert len({s.consensus() for s in scrambles}) == 5
    for s in scrambles:
        assert sorted(s.consensus()) == sorted(MOTIF)
        assert s.consensus() not in (MOTIF, "CAUGCA")


def test_control_arms():
    arms = null_kmer_arms(MOTIF, 18, n_kmers=4, n_scrambles=2, rng=3)
    assert [a.params["kind"] for a in arms] == ["kmer"] * 4 + ["scramble"] * 2
    assert {a.experiment for a in arms} == {"null_kmers"}
    assert all(a.params["position"] == 18 for a in arms)
    gc = gc_control_arm(MOTIF, 35)
    assert gc.params["motif"] == "GCGCGC" and gc.experiment == "gc_control"
    assert placebo_arm().label == "identity"


# -- checks on the oracle -------------------------------------------------------------------


def test_positive_control_detected_and_covers_truth(study):
    ace, ice, truth = study
    report = evaluate_controls(ace, positive=["positive"], truth=truth)
    res = report["positive"]
    assert res.passed and bool(res.table["covered"].iloc[0]) and res.table["ace"].iloc[0] > 0.9
    assert "1 of 1 positive controls detected" in res.text


def test_placebo_is_exactly_zero(study):
    _, ice, _ = study
    res = check_placebo(ice, ["placebo"])
    assert res.passed and res.table["max_abs_ice"].iloc[0] == 0.0
    broken = ice.copy()
    broken.loc[broken["experiment"] == "placebo", "ice"] = np.r_[1e-9, np.zeros(299)]
    bad = check_placebo(broken, ["placebo"])
    assert bad.passed is False and "1 placebo units have ICE != 0" in bad.text


def test_gc_control_finds_the_planted_3prime_gc_bias_and_nothing_5prime(study):
    ace, _, _ = study
    at_3p = check_gc(ace, ["gc_control"], positive=["positive"])
    assert at_3p.passed is False and at_3p.table["ace"].iloc[0] > 0.1
    assert "responds to GC content" in at_3p.text
    assert check_gc(ace, ["gc_5p"]).passed is True


def test_negative_controls_margin(study):
    ace, _, _ = study
    # random k-mers really destroy/create weak partial sites in this oracle: tiny, detectable
    strict = check_negative(ace, ["null_kmers"])
    assert strict.passed is False
    assert (strict.table["ace"].abs() < 0.15).all()
    assert check_negative(ace, ["null_kmers"], min_effect=0.2).passed is True
    assert list(strict.table.columns[-2:]) == ["p_margin", "q_family"]


def test_empirical_null_on_the_oracle(study):
    ace, _, _ = study
    res = empirical_null(ace, ["null_kmers"], targets=["positive", "gc_control", "gc_5p"])
    table = res.table.set_index("experiment")
    assert table.loc["positive", "q_calibrated"] < 1e-10  # the motif is far beyond the null
    assert table.loc["gc_5p", "p_calibrated"] > 0.05
    meta = res.metadata
    assert 0 < meta["mde"] < 0.5 and meta["n_null"] == 23
    assert f"MDE {meta['mde']:.3g}" in res.text


def test_empirical_null_recovers_known_numbers():
    k = 40
    rng = np.random.default_rng(0)
    null = pd.DataFrame({"experiment": "null", "label": [f"k{i}" for i in range(k)],
                         "ace": 0.3 + 0.05 * rng.standard_normal(k), "se": 0.01})  # fmt: skip
    targets = pd.DataFrame({"experiment": "t", "label": ["like_null", "real"],
                            "ace": [0.31, 0.8], "se": 0.01})  # fmt: skip
    res = empirical_null(pd.concat([null, targets]), ["null"], targets=["t"], alpha=0.05)
    assert res.passed is False  # shifted and spread: naive p-values are not calibrated
    assert abs(res.metadata["null_mean"] - 0.3) < 0.03
    assert abs(np.sqrt(res.metadata["null_tau2"]) - 0.05) < 0.02
    p = res.table.set_index("label")["p_calibrated"]
    assert p["like_null"] > 0.5 and p["real"] < 1e-10
    sd = np.sqrt(res.metadata["null_tau2"] + 0.01**2 + res.metadata["null_mean_se"] ** 2)
    assert res.metadata["mde"] == pytest.approx((1.959964 + 0.841621) * sd, rel=1e-5)
    centred = null.assign(ace=0.01 * rng.standard_normal(k))
    assert empirical_null(centred, ["null"]).passed is True
    with pytest.raises(EstimationError, match="at least 3"):
        empirical_null(null.iloc[:2], ["null"])


def _null_type_one_error(n_rep: int, seed: int) -> tuple[float, float]:
    """A model with a spurious global shift: every k-mer moves f by ~0.1 (+ spread 0.03)."""
    rng = np.random.default_rng(seed)
    naive = calibrated = 0
    for _ in range(n_rep):
        se = rng.uniform(0.01, 0.03, 41)
        obs = 0.1 + 0.03 * rng.standard_normal(41) + se * rng.standard_normal(41)
        t = pd.DataFrame({"experiment": ["null"] * 40 + ["target"], "ace": obs, "se": se,
                          "label": [f"k{i}" for i in range(41)]})  # fmt: skip
        p = empirical_null(t, ["null"], targets=["target"]).table["p_calibrated"].iloc[0]
        naive += abs(obs[-1] / se[-1]) > 1.96
        calibrated += p < 0.05
    return naive / n_rep, calibrated / n_rep


def test_empirical_null_restores_type_one_error_smoke():
    naive, calibrated = _null_type_one_error(100, seed=1)
    assert naive > 0.9 and calibrated < 0.15


@pytest.mark.slow
def test_empirical_null_restores_type_one_error():
    naive, calibrated = _null_type_one_error(1000, seed=2)
    assert naive > 0.9 and 0.029 <= calibrated <= 0.074


# -- background sensitivity ----------------------------------------------------------------


def test_kmer_spectrum():
    from causalgia.sequences.alphabet import encode

    spec = kmer_spectrum(encode(["ACGT", "ANGT"], n_policy="allow"), k=2)
    assert spec.sum() == pytest.approx(1.0) and spec.size == 16
    assert spec[1] == pytest.approx(0.25)  # AC: 1 of the 4 windows without N


def test_background_sensitivity_flags_the_gc_dependent_effect():
    backgrounds = {
        "gc 0.5": BG,
        "gc 0.3": iid(41, gc=0.3, alphabet="rna"),
        "gc 0.7": iid(41, gc=0.7, alphabet="rna"),
    }
    res = background_sensitivity(
        RBPOracle(), sweep_positions(MOTIF, [18, 35]), backgrounds, n=300, rng=2
    )
    assert res.passed is False  # the motif at 35 replaces 3' GC: its ACE depends on GC
    spread = res.table.groupby("label")[["ace_range", "heterogeneity_p"]].first()
    assert spread.loc["UGCAUG@35+", "heterogeneity_p"] < 1e-10
    assert spread.loc["UGCAUG@18+", "ace_range"] < 0.3 * spread.loc["UGCAUG@35+", "ace_range"]
    far = res.table.groupby("background")[["js_divergence", "ks_p_value"]].first()
    assert far.loc["gc 0.5", "js_divergence"] == 0.0  # the reference itself
    assert far.loc["gc 0.3", "js_divergence"] > 0.02 and far.loc["gc 0.3", "ks_p_value"] < 1e-6
    with pytest.raises(OptionError, match="at least 2"):
        background_sensitivity(RBPOracle(), sweep_positions(MOTIF, [18]), {"a": BG})


# -- the report -----------------------------------------------------------------------------


def test_evaluate_controls_schema(study):
    ace, ice, truth = study
    report = evaluate_controls(
        ace, ice=ice, truth=truth, positive=["positive"], negative=["null_kmers"],
        placebo=["placebo"], gc=["gc_control"], null=["null_kmers"], calibrate=["positive"],
        min_effect=0.2,
    )  # fmt: skip
    assert isinstance(report, ControlReport) and len(report) == 5
    frame = report.to_frame()
    assert list(frame.columns) == ["check_name", "passed", "text"]
    assert frame["check_name"].tolist() == [
        "positive",
        "negative",
        "placebo",
        "gc",
        "empirical_null",
    ]
    assert frame["passed"].tolist() == [True, True, True, False, False]
    assert report.passed is False
    for r in report:
        assert isinstance(r, CheckResult) and isinstance(r.table, pd.DataFrame) and r.text
    assert "FAIL  gc:" in report.summary() and "PASS  placebo:" in report.summary()
    with pytest.raises(OptionError, match="pass ice="):
        evaluate_controls(ace, placebo=["placebo"])
    with pytest.raises(OptionError, match=r"\['nope'\] are not in the ACE table"):
        evaluate_controls(ace, negative=["nope"])
    with pytest.raises(KeyError, match="no control named"):
        report["spacing"]


# -- specs: `causalgia run` runs the controls named in [controls] ----------------------------


def test_spec_controls_run_and_report(tmp_path):
    from causalgia.errors import ConfigError
    from causalgia.studies.runner import run_study
    from causalgia.studies.spec import parse_spec

    raw = {
        "study": {"n": 100, "seed": 3},
        "model": {"builtin": "rbp_oracle"},
        "background": {"kind": "iid", "length": 41},
        "experiment": [
            {"name": "motif", "type": "positions", "motif": MOTIF, "positions": [18, 35]},
            {"name": "null", "type": "random_kmers", "motif": MOTIF, "position": 18,
             "n_kmers": 6, "n_scrambles": 2},
            {"name": "placebo", "type": "identity"},
        ],
        "controls": {"positive": ["motif"], "negative": ["null"], "placebo": ["placebo"],
                     "null": ["null"], "calibrate": ["motif"], "min_effect": 0.2,
                     "sensitivity_backgrounds": [{"kind": "iid", "length": 41, "gc": 0.7}],
                     "sensitivity_experiments": ["motif"]},
    }  # fmt: skip
    out = run_study(parse_spec(raw), tmp_path / "run", figures=False)
    names = [r.check_name for r in out.controls]
    assert names == ["positive", "negative", "placebo", "empirical_null", "background_sensitivity"]
    assert len(out.ace[out.ace["experiment"] == "null"]) == 8
    table = pd.read_csv(tmp_path / "run" / "controls.csv")
    assert table["check_name"].tolist() == names
    for result in out.controls:  # every check's full table is kept, and hashed in the manifest
        path = tmp_path / "run" / "controls" / f"{result.check_name}.csv"
        assert len(pd.read_csv(path)) == len(result.table)
        assert f"controls/{result.check_name}.csv" in out.run.files
    report = (tmp_path / "run" / "report.md").read_text()
    assert "## Controls" in report and "| placebo | PASS |" in report
    assert "controls:" in out.summary()
    no_hash_change = parse_spec({k: v for k, v in raw.items() if k != "controls"})
    assert no_hash_change.controls is None and "controls" not in no_hash_change.raw
    bad = {**raw, "controls": {"negative": ["nope"]}}
    with pytest.raises(ConfigError, match=r"controls.negative names \['nope'\]"):
        parse_spec(bad)
