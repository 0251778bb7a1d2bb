"""The calibration report: plumbing with tiny R (fast tier) and the R = 1,000 gates (slow tier,
bands of DESIGN.md §6: coverage 0.926–0.971, type-I error 0.029–0.074).

The tiny configuration runs the partial-pooling section with exactly the settings (and seed) of
``causalgia validate --quick``, so its claims are checked on the quick run's numbers."""

from __future__ import annotations

import json
import sys
import types
from dataclasses import replace

import numpy as np
import pytest

from causalgia.cli import main
from causalgia.engine.declaration import as_model
from causalgia.engine.simulator import simulate
from causalgia.experiment.designs import design
from causalgia.stats.estimators import estimate_ace
from causalgia.validation import runner as V

QUICK = V.ValidationConfig.quick()
TINY = V.ValidationConfig(
    reps=6,
    ns=(10, 30),
    n_boot=99,
    n_perm=99,
    power_reps=6,
    fdr_reps=3,
    seq_reps=2,
    contrast_reps=1,
    pair_reps=2,
    reference_n=2000,
    mode="test",
    sbc=False,
    pooling_reps=QUICK.pooling_reps,
    pooling_draws=QUICK.pooling_draws,
    pooling_tune=QUICK.pooling_tune,
    pooling_chains=QUICK.pooling_chains,
)
NO_POOLING = replace(TINY, pooling_reps=0)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("validation") / "validation.md"
    return V.validate(config=TINY, out=out)


def test_report_has_every_section_and_the_raw_hash(report):
    text = report.markdown.read_text()
    for heading in (
        "## Headline",
        "## 1. Coverage",
        "## 2. Interval width",
        "## 3. Type-I error",
        "## 4. Power",
        "## 5. False discovery rate",
        "## 6. Forward passes",
        "## 7. Sequential stopping",
        "## 8. Contrast tests",
        "## 9. Hierarchical model",
        "## 10. Partial pooling",
    ):
        assert heading in text, heading
    raw = json.loads(report.raw_path.read_text())
    assert V.results_hash(raw) == report.sha256 and report.sha256 in text
    for n in (10, 30):
        assert f"n = {n}" in text
    estimators = {row["estimator"] for row in raw["coverage"]}
    assert estimators == {"paired_t", "bootstrap_bca", "cluster_robust", "pooled_iid_wrong"}
    assert {row["regime"] for row in raw["coverage"]} == set(V.regimes())
    assert len(raw["sequential"]) == 8 and len(raw["contrasts"]) == 8
    assert "wrote" in report.summary()


def test_report_re_renders_identically_from_the_raw_results(report, tmp_path):
    again = V.validate(from_raw=report.raw_path, out=tmp_path / "validation.md")
    assert again.sha256 == report.sha256
    assert again.markdown.read_text() == report.markdown.read_text()
    out = tmp_path / "cli" / "validation.md"
    assert main(["validate", "--from-raw", str(report.raw_path), "--out", str(out)]) == 0
    assert out.read_text() == report.markdown.read_text()


def test_an_interrupted_run_resumes_from_its_checkpoint(tmp_path):
    path = tmp_path / "partial.json"
    whole = V.run_validation(NO_POOLING, checkpoint=path)
    saved = json.loads(path.read_text())
    for key in ("sequential", "contrasts", "sbc"):
        del saved[key]
    path.write_text(json.dumps(saved))
    seen: list[str] = []
    resumed = V.run_validation(NO_POOLING, checkpoint=path, log=seen.append)
    assert seen[0].startswith("resuming") and "coverage" in seen[0]
    assert not any(msg.startswith("coverage") for msg in seen)
    assert _stable(resumed) == _stable(whole)


def _stable(raw: dict) -> dict:
    canonical = json.loads(json.dumps(raw, sort_keys=True))
    return {k: v for k, v in canonical.items() if k not in ("runtime_s", "versions")}


def test_type_one_rows_carry_the_dkw_band_and_the_report_links_its_figure(report):
    raw, text = report.raw, report.markdown.read_text()
    for row in raw["type_one"]:
        eps = np.sqrt(np.log(2 / 0.05) / (2 * row["reps"]))
        assert row["dkw_eps"] == pytest.approx(eps, rel=1e-12)
        assert row["max_abs_ecdf_dev"] == row["ks_statistic"]
        assert row["inside_band"] == (row["max_abs_ecdf_dev"] <= eps)
        grid = np.asarray(row["ecdf_minus_u"])  # the supremum bounds the curve on its grid
        assert len(grid) == 201 and np.abs(grid).max() <= row["max_abs_ecdf_dev"] + 1e-5
    assert "DKW" in text and "Massart" in text and "inside band" in text
    figure = report.markdown.parent / "validation" / "pvalue_ecdf.png"
    assert figure.is_file() and "](validation/pvalue_ecdf.png)" in text
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_dkw_band_holds_for_uniform_p_values_and_rejects_skewed_ones():
    gen = np.random.default_rng(3)
    inside = [V.pvalue_uniformity(gen.uniform(size=200))["inside_band"] for _ in range(1000)]
    assert np.mean(inside) >= 0.95 - 3 * np.sqrt(0.05 * 0.95 / 1000)  # simultaneous 95%
    skewed = V.pvalue_uniformity(gen.uniform(size=4000) ** 1.3)  # anti-conservative p-values
    assert not skewed["inside_band"] and skewed["max_abs_ecdf_dev"] > skewed["dkw_eps"]
    assert V.dkw_epsilon(4000) == pytest.approx(np.sqrt(np.log(40) / 8000))


def test_partial_pooling_beats_no_pooling_in_the_quick_run(report):
    pool = report.raw["pooling"]
    assert pool["available"] and pool["settings"]["reps"] == QUICK.pooling_reps
    assert pool["settings"]["draws"] == QUICK.pooling_draws
    rmse = {row["estimate"]: row for row in pool["summary"]}
    assert set(rmse) == {"raw", "exchangeable", "curve"}
    for pooled in ("exchangeable", "curve"):
        assert rmse[pooled]["rmse"] < rmse["raw"]["rmse"], rmse
        assert rmse[pooled]["reduction"] > 0 and rmse[pooled]["beats_raw"] > 0.5
    truth = np.asarray(pool["example"]["truth"])
    assert np.allclose(truth, V.bump(np.asarray(pool["example"]["position"])))
    text = report.markdown.read_text()
    section = text[text.index("## 10. Partial pooling") :]
    assert "RMSE ± MCSE" in section and "random-walk curve over position" in section
    assert f"{rmse['raw']['rmse']:.4f} ± {rmse['raw']['rmse_mcse']:.4f}" in section
    assert "](validation/pooling.png)" in section
    assert (report.markdown.parent / "validation" / "pooling.png").is_file()


def test_report_without_matplotlib_says_so(report, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    again = V.validate(from_raw=report.raw_path, out=tmp_path / "validation.md")
    text = again.markdown.read_text()
    assert again.figures == {} and "![" not in text
    assert text.count("matplotlib is not installed") == 2
    assert not (tmp_path / "validation").exists()


def test_hash_changes_with_the_results():
    raw = {"coverage": [{"coverage": 0.95}]}
    assert V.results_hash(raw) != V.results_hash({"coverage": [{"coverage": 0.951}]})


def test_ice_blocks_are_independent_slices_of_one_simulated_design():
    regime = V.regimes()["heterogeneous"]
    blocks = V.ice_blocks(regime, 10, 3, seed=42)
    res = simulate(
        as_model(regime.model), design(regime.background, regime.arms, n=30, rng=42), progress=False
    )
    for j, arm in enumerate(regime.arms):
        sub = res.table[res.table["label"] == arm.label].sort_values("background_id")
        assert np.array_equal(blocks[:, :, j].reshape(-1), sub["ice"].to_numpy())
    first = res.table[res.table["background_id"] < 10]
    est = estimate_ace(first).table.set_index("label")
    rows = V.coverage_study(regime, 10, 1, seed=42, n_boot=99, sd_true=np.ones(4))
    truth = regime.truth()
    paired = next(r for r in rows if r["estimator"] == "paired_t")
    hits = [
        (est.loc[a.label, "ci_low"] <= t <= est.loc[a.label, "ci_high"])
        for a, t in zip(regime.arms, truth, strict=True)
    ]
    assert paired["coverage"] == pytest.approx(np.mean(hits))


def test_sbc_section_is_included_when_pooling_provides_it(monkeypatch):
    fake = types.ModuleType("causalgia.pooling.sbc")
    fake.sbc_section = lambda quick: ("SBC ranks look uniform (fake).", {"quick": quick})
    monkeypatch.setitem(sys.modules, "causalgia.pooling.sbc", fake)
    sbc = V._sbc(V.ValidationConfig.quick(), lambda msg: None)
    assert sbc["available"] and sbc["raw"] == {"quick": True}
    raw = {"config": {"reps": 1, "mode": "test"}, "sbc": sbc}
    assert "SBC ranks look uniform (fake)." in V.render_markdown(raw, "0" * 64)


# --- slow tier: the R = 1,000 gates -----------------------------------------------------------

COVERAGE_BAND = (0.926, 0.971)
TYPE_ONE_BAND = (0.029, 0.074)


def _in(band: tuple[float, float], value: float) -> bool:
    return band[0] <= value <= band[1]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["homogeneous", "heterogeneous"])
def test_coverage_gate_paired_t_bca_cluster(name):
    regime = V.regimes()[name]
    sd = V.reference_sd(regime, 50_000, 1)
    rows = {
        r["estimator"]: r
        for r in V.coverage_study(regime, 30, 1000, seed=2024, n_boot=1999, sd_true=sd)
    }
    assert _in(COVERAGE_BAND, rows["paired_t"]["coverage"])
    assert _in(COVERAGE_BAND, rows["cluster_robust"]["coverage"])
    bca = {
        r["estimator"]: r
        for r in V.coverage_study(regime, 100, 1000, seed=2025, n_boot=1999, sd_true=sd)
    }["bootstrap_bca"]
    assert _in(COVERAGE_BAND, bca["coverage"])


@pytest.mark.slow
@pytest.mark.parametrize("control", list(V.CONTROLS))
def test_type_one_error_gate(control):
    rows = V.type_one_study(control, 30, 1000, seed=77, n_perm=999)
    for row in rows:
        assert _in(TYPE_ONE_BAND, row["rejection_rate"]), row
        assert row["ks_p"] >= 0.001, row


@pytest.mark.slow
@pytest.mark.parametrize("name", ["homogeneous", "heterogeneous", "mixed_panel"])
def test_sequential_coverage_gate(name):
    """Two-stage rule at R = 1,000: final-interval coverage in the band, and on the mixed panel
    fewer forward passes than the fixed design of equal width. The anytime-valid mixture is
    conservative: at least the lower end of the band."""
    regime = V.mixed_panel() if name == "mixed_panel" else V.regimes()[name]
    sd = V.reference_sd(regime, 50_000, 1)
    row = V.sequential_study(regime, 1000, seed=5, sd_true=sd)
    assert _in(COVERAGE_BAND, row["coverage"]), row
    assert row["mean_width_over_target"] <= 1.0
    if name == "mixed_panel":
        assert row["saved_fraction"] > 0, row
    mixture = V.sequential_study(regime, 200, seed=6, sd_true=sd, rule="mixture")
    assert mixture["coverage"] >= COVERAGE_BAND[0], mixture


@pytest.mark.slow
def test_power_matches_analytic_t_power():
    for row in V.power_study(30, 1000, seed=9, effects_se=(1.0, 2.0, 3.0)):
        assert abs(row["z"]) <= 3, row


@pytest.mark.slow
def test_bh_controls_the_fdr():
    for row in V.fdr_study(500, seed=10):
        assert row["fdr"] <= row["q"] + 3 * row["mcse"], row


@pytest.mark.slow
def test_contrast_tests_rates():
    rows = V.contrast_study(40, seed=12)
    for row in rows:
        if row["oracle"] == "planted":
            assert row["rejection_rate"] >= 0.95, row
        else:
            assert row["rejection_rate"] <= 0.15, row
