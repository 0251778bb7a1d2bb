"""Motif-database screens (issue 12, item 5): every motif of a MEME/JASPAR file at a set of
positions in one paired design, ranked by the mean ACE over positions, pooled by motif, drawn as
a heatmap in report.html, and declared in a spec as ``type = "motif_screen"``.

The oracle is an :class:`~causalgia.testing.AdditiveOracle` whose weights read one planted motif
at the screen's positions only (``scale · (onehot(consensus) − 1/4)``), so every true ACE is
exact in closed form (``true_ace``): the planted motif has the largest effect, a motif whose rows
give the planted letter probability 1/4 has a true ACE of exactly 0 at every position (while
its ICEs vary), and a "partial" motif lies in between.
"""

from __future__ import annotations

import base64
import re
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from causalgia.analyses import MotifScreen, motif_screen, pooled_motif_effects, rank_motifs
from causalgia.errors import ConfigError, InterventionError, MotifError, OptionError
from causalgia.experiment import Substitute, select_motifs, sweep_motifs
from causalgia.experiment.backgrounds import iid
from causalgia.reporting.report import read_run
from causalgia.reporting.screenmaps import screen_map_specs, screen_matrix, screen_ranking
from causalgia.sequences import Motif
from causalgia.studies import load_spec, parse_spec, run_study
from causalgia.studies.build import build_arms, design_from_spec
from causalgia.testing import AdditiveOracle

PLANTED = "TGACGT"
LENGTH = 50
POSITIONS = [5, 20, 35]
SCALES = [1.0, 0.6, 0.3]  # the planted motif's weight at each screen position
N_NULLS = 6
JASPAR = Path(__file__).resolve().parents[1].parent / "shared/data/jaspar2024_subset/motifs.jaspar"


def _rows(consensus: str, planted_p: float, seed: int) -> list[list[float]]:
    """PWM rows giving each planted letter probability ``planted_p``, the rest at random."""
    rng = np.random.default_rng(seed)
    rows = []
    for letter in consensus:
        c = "ACGT".index(letter)
        rest = rng.dirichlet(np.ones(3)) * (1 - planted_p)
        rest = np.round(rest, 4)
        rest[-1] = round(1 - planted_p - rest[:-1].sum(), 4)
        row = np.insert(rest, c, planted_p)
        rows.append([float(v) for v in row])
    return rows


def _meme_text() -> str:
    motifs = [("PLANT", "planted", _rows(PLANTED, 0.85, 0)),
              ("PARTIAL", "half", _rows(PLANTED, 0.55, 1))]  # fmt: skip
    motifs += [(f"NULL{i}", "", _rows(PLANTED, 0.25, 10 + i)) for i in range(N_NULLS)]
    out = ["MEME version 4", "", "ALPHABET= ACGT", "", "strands: +", "",
           "Background letter frequencies", "A 0.25 C 0.25 G 0.25 T 0.25", ""]  # fmt: skip
    for name, alt, rows in motifs:
        out.append(f"MOTIF {name} {alt}".rstrip())
        out.append(f"letter-probability matrix: alength= 4 w= {len(rows)} nsites= 20 E= 0")
        out += [" ".join(f"{v:.4f}" for v in row) for row in rows]
        out.append("")
    return "\n".join(out)


@pytest.fixture(scope="module")
def meme(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("motifs") / "screen.meme"
    path.write_text(_meme_text())
    return path


def _planted_oracle(motif: Motif | str = PLANTED, positions=POSITIONS, scales=SCALES,
                    length: int = LENGTH, log_odds: bool = False) -> AdditiveOracle:  # fmt: skip
    """Weights that read the planted motif at the screen's positions only."""
    if isinstance(motif, str):
        rows = np.eye(4)[["ACGT".index(c) for c in motif]] - 0.25
    else:
        probs = motif.probs * 0.97 + 0.0075  # a pseudocount keeps the log-odds finite
        rows = np.log2(probs / 0.25) if log_odds else probs - 0.25
    weights = np.zeros((length, 4))
    for p, s in zip(positions, scales, strict=True):
        weights[p : p + len(rows)] += s * rows
    return AdditiveOracle(weights)


def _truth(oracle: AdditiveOracle, screen: MotifScreen, background) -> pd.Series:
    """The closed-form ACE of every arm of the screen, by label."""
    assert screen.result is not None
    return pd.Series({a.label: oracle.true_ace(a.intervention, background)
                      for a in screen.result.design.arms})  # fmt: skip


@pytest.fixture(scope="module")
def screened(meme: Path) -> tuple[MotifScreen, AdditiveOracle, object]:
    oracle, background = _planted_oracle(), iid(LENGTH)
    screen = motif_screen(oracle, background, meme, POSITIONS, n=150, rng=20260)
    return screen, oracle, background


# -- the planted motif, the nulls and the truth -------------------------------------------------


def test_planted_motif_ranks_first_and_its_intervals_cover_the_truth(screened) -> None:
    screen, oracle, background = screened
    ranked = screen.to_frame()
    assert ranked["motif"].tolist()[:2] == ["PLANT", "PARTIAL"]
    truth = _truth(oracle, screen, background)
    planted = screen.ace[screen.ace["motif"] == "PLANT"].set_index("label")
    expected = {f"PLANT@{p}+": 3.6 * s for p, s in zip(POSITIONS, SCALES, strict=True)}
    for label, value in expected.items():  # 6 rows x (0.85 - 0.25) x scale
        assert truth[label] == pytest.approx(value, abs=1e-12)
        assert planted.at[label, "ci_low"] <= value <= planted.at[label, "ci_high"], label
    top = ranked.iloc[0]
    mean_truth = np.mean(list(expected.values()))
    assert top["ci_low"] <= mean_truth <= top["ci_high"]
    assert top["q_value"] < 1e-10 and top["best_position"] == POSITIONS[0]
    # every arm: 24 intervals at 95%, P(more than 4 misses) = 0.007 for honest intervals
    ace = screen.ace.set_index("label")
    misses = ~((ace["ci_low"] <= truth[ace.index]) & (truth[ace.index] <= ace["ci_high"]))
    assert misses.sum() <= 4, ace[misses]


def test_null_motifs_are_not_discoveries(screened) -> None:
    screen, oracle, background = screened
    truth = _truth(oracle, screen, background)
    ace = screen.ace.set_index("label")
    nulls = truth[truth.abs() < 1e-12].index
    assert len(nulls) == N_NULLS * len(POSITIONS)  # true ACE exactly 0, ICEs not constant
    assert (screen.ice.set_index("label").loc[nulls].groupby(level=0)["ice"].std() > 0).all()
    # BH at 0.05 over 24 arms (18 true nulls): at most 1 false discovery (expected < 0.6)
    assert (ace.loc[nulls, "q_value"] < 0.05).sum() <= 1
    ranked = screen.ranked.set_index("motif")
    null_motifs = [f"NULL{i}" for i in range(N_NULLS)]
    assert (ranked.loc[null_motifs, "q_value"] < 0.05).sum() <= 1
    assert (ranked.loc[null_motifs, "rank"] > 2).all()


# -- the ranked table ---------------------------------------------------------------------------


def test_ranked_table_columns_and_order(screened) -> None:
    screen, _, _ = screened
    ranked = screen.to_frame()
    assert list(ranked.columns) == [
        "rank", "experiment", "motif", "alt_name", "method", "mean_ace", "se", "ci_low",
        "ci_high", "n", "p_value", "q_value", "n_positions", "best_position", "best_ace",
        "best_q", "ace_at_5", "ace_at_20", "ace_at_35",
    ]  # fmt: skip
    assert ranked["rank"].tolist() == list(range(1, 2 + N_NULLS + 1))
    assert ranked["mean_ace"].is_monotonic_decreasing
    assert set(ranked["experiment"]) == {"motif_screen"} and (ranked["n"] == 150).all()
    assert ranked.loc[ranked["motif"] == "PLANT", "alt_name"].item() == "planted"
    wide = screen.ace.pivot(index="motif", columns="position", values="ace")
    for p in POSITIONS:
        assert np.allclose(ranked[f"ace_at_{p}"], wide.loc[ranked["motif"], p], rtol=0, atol=0)
    best = wide.loc[ranked["motif"]].idxmax(axis=1).to_numpy()
    assert (ranked["best_position"].to_numpy() == best).all()
    q = screen.ace.set_index(["motif", "position"])["q_value"]
    pairs = zip(ranked["motif"], ranked["best_position"], strict=True)
    assert np.allclose(ranked["best_q"], [q[m, p] for m, p in pairs])
    assert screen.matrix().index.tolist() == ranked["motif"].tolist()
    assert screen.summary().startswith("MotifScreen: 8 motifs x 3 positions (paired_t, 95% CI)")
    up = rank_motifs(screen.ace, screen.ice, order="increasing")
    assert up["motif"].tolist() == ranked["motif"].tolist()[::-1]
    assert up["best_position"].tolist() == [
        int(screen.ace[screen.ace["motif"] == m].set_index("position")["ace"].idxmin())
        for m in up["motif"]
    ]
    size = rank_motifs(screen.ace, screen.ice, order="magnitude")
    assert size["mean_ace"].abs().is_monotonic_decreasing


def test_summary_over_positions_equals_an_independent_computation(screened) -> None:
    """mean_ace, se, CI, p (paired t of each background's mean ICE over positions) and BH q."""
    screen, _, _ = screened
    ice = screen.ice
    per_background = ice.groupby(["motif", "background_id"])["ice"].mean().unstack("background_id")
    ranked = screen.ranked.set_index("motif")
    p_values = {}
    for motif, row in per_background.iterrows():
        values = row.to_numpy(dtype=float)
        res = stats.ttest_1samp(values, 0.0)
        low, high = res.confidence_interval(0.95)
        got = ranked.loc[motif]
        assert got["mean_ace"] == pytest.approx(values.mean(), abs=1e-12)
        assert got["se"] == pytest.approx(stats.sem(values), abs=1e-12)
        assert (got["ci_low"], got["ci_high"]) == pytest.approx((low, high), abs=1e-10)
        assert got["p_value"] == pytest.approx(res.pvalue, rel=1e-9, abs=1e-300)
        p_values[motif] = res.pvalue
        # the mean over positions of the arms' ACEs is the same number
        arms = screen.ace.loc[screen.ace["motif"] == motif, "ace"]
        assert got["mean_ace"] == pytest.approx(arms.mean(), abs=1e-12)
    names = list(p_values)
    q = multipletests([p_values[m] for m in names], method="fdr_bh")[1]
    assert np.allclose(ranked.loc[names, "q_value"], q, rtol=1e-9, atol=0)
    # positions share backgrounds: the paired SE is not the naive sqrt(sum se^2) / K
    naive = np.sqrt(screen.ace.groupby("motif")["se"].apply(lambda s: (s**2).sum())) / 3
    assert not np.allclose(ranked.loc[names, "se"], naive.loc[names], rtol=1e-3)


def test_randomized_summary_is_the_mean_of_arm_means_minus_the_control_mean(meme: Path) -> None:
    oracle, background = _planted_oracle(), iid(LENGTH)
    screen = motif_screen(oracle, background, meme, POSITIONS, n=400, kind="randomized",
                          names=["PLANT", "NULL0"], rng=5)  # fmt: skip
    assert screen.method == "welch"
    ice = screen.ice
    y0 = ice.loc[ice["label"] == "control", "y"].to_numpy()
    row = screen.ranked.set_index("motif").loc["PLANT"]
    groups = [ice.loc[ice["label"] == f"PLANT@{p}+", "y"].to_numpy() for p in POSITIONS]
    mean = np.mean([g.mean() for g in groups]) - y0.mean()
    var = sum(g.var(ddof=1) / (9 * g.size) for g in groups) + y0.var(ddof=1) / y0.size
    assert row["mean_ace"] == pytest.approx(mean, abs=1e-12)
    assert row["se"] == pytest.approx(np.sqrt(var), abs=1e-12)
    assert row["n"] == sum(g.size for g in groups) and row["n_control"] == y0.size
    assert row["ci_low"] <= np.mean(np.multiply(SCALES, 3.6)) <= row["ci_high"]


def test_tables_with_an_output_column_are_ranked_output_by_output(screened) -> None:
    """Multi-output runs (an ``output`` column in every table) rank each output on its own."""
    screen, _, _ = screened
    flipped_ice = screen.ice.assign(ice=-screen.ice["ice"], y_do=2 * screen.ice["y_control"]
                                    - screen.ice["y_do"])  # fmt: skip
    flipped_ace = screen.ace.assign(ace=-screen.ace["ace"])
    ace = pd.concat([screen.ace.assign(output="a"), flipped_ace.assign(output="b")])
    ice = pd.concat([screen.ice.assign(output="a"), flipped_ice.assign(output="b")])
    both = rank_motifs(ace, ice)
    assert both.columns[:4].tolist() == ["rank", "experiment", "output", "motif"]
    a = both[both["output"] == "a"].drop(columns="output").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, screen.ranked)
    b = both[both["output"] == "b"]
    assert b["motif"].iloc[-1] == "PLANT"
    assert np.allclose(b.set_index("motif")["mean_ace"],
                       -screen.ranked.set_index("motif")["mean_ace"].loc[b["motif"]])  # fmt: skip


def test_rank_motifs_refuses_tables_that_are_not_screens(screened) -> None:
    screen, _, _ = screened
    with pytest.raises(OptionError, match="lacks|needs the columns"):
        rank_motifs(screen.ace.drop(columns="motif"), screen.ice)
    twice = pd.concat([screen.ace, screen.ace.assign(label=screen.ace["label"] + "x")])
    with pytest.raises(OptionError, match="effects of motif 'PLANT' at position 5"):
        rank_motifs(twice, screen.ice)
    holes = screen.ace[~((screen.ace["motif"] == "NULL3") & (screen.ace["position"] == 20))]
    with pytest.raises(OptionError, match="motif 'NULL3' has no effect at position"):
        rank_motifs(holes, screen.ice)


# -- the Python API: motifs, arms, errors -------------------------------------------------------


def test_select_motifs_by_name_with_close_names_and_limits(meme: Path) -> None:
    chosen = select_motifs(meme, names=["NULL2", "PLANT"])
    assert [m.name for m in chosen] == ["NULL2", "PLANT"]
    assert [m.name for m in select_motifs(meme, max_motifs=3)] == ["PLANT", "PARTIAL", "NULL0"]
    with pytest.raises(MotifError, match=r"'PLANTED' is not in .*screen.meme; did you mean 'PL"):
        select_motifs(meme, names=["PLANTED"])
    with pytest.raises(MotifError, match="named twice"):
        select_motifs(meme, names=["PLANT", "PLANT"])
    with pytest.raises(MotifError, match="appears 2 times"):
        select_motifs([Motif.from_string("GATA"), Motif.from_string("GATA")])
    with pytest.raises(OptionError, match="max_motifs"):
        select_motifs(meme, max_motifs=0)


def test_each_arm_draws_its_own_instance_per_unit(meme: Path) -> None:
    motifs = select_motifs(meme, names=["PLANT"])
    arms = sweep_motifs(motifs, [0, 10])
    assert [a.label for a in arms] == ["PLANT@0+", "PLANT@10+"]
    assert isinstance(arms[0].intervention, Substitute)
    ids = np.arange(50)
    first, second = (a.intervention.instances(a.keys(7, ids)) for a in arms)
    assert len({r.tobytes() for r in first}) > 10  # instances differ between units
    assert (first != second).any(axis=1).mean() > 0.5  # and between the arms of one unit
    consensus = sweep_motifs(motifs, [0], instance="consensus")[0].intervention
    assert (consensus.instances(np.arange(3, dtype=np.uint64)) == [3, 2, 0, 1, 2, 3]).all()


def test_a_motif_that_does_not_fit_names_motif_width_and_position(meme: Path) -> None:
    motifs = select_motifs(meme)
    with pytest.raises(InterventionError, match=r"motif 'PLANT' \(width 6\) at position 46 .* "
                       r"length 50: valid starts are 0..44; 7 more"):  # fmt: skip
        sweep_motifs(motifs, [0, 46], length=50)
    with pytest.raises(InterventionError, match="at position 46"):
        motif_screen(_planted_oracle(), iid(LENGTH), meme, [0, 46], n=10, rng=1)
    with pytest.raises(OptionError, match="position 3 is given twice"):
        sweep_motifs(motifs, [3, 3])


# -- pooled estimates ---------------------------------------------------------------------------


def test_pooled_motif_effects_average_the_draws_of_each_motif(screened) -> None:
    from causalgia.pooling import fit_hierarchical

    screen, _, _ = screened
    ice = screen.ice[screen.ice["motif"].isin(["PLANT", "PARTIAL", "NULL0", "NULL1"])]
    fit = fit_hierarchical(ice.drop(columns="alt_name"), groups=["motif"], draws=150, tune=150,
                           chains=2, random_seed=3, diagnostics="ignore")  # fmt: skip
    pooled = pooled_motif_effects(fit)
    assert list(pooled.columns) == ["experiment", "motif", "n_positions", "post_mean", "post_sd",
                                    "hdi_low", "hdi_high", "p_positive"]  # fmt: skip
    assert pooled["motif"].iloc[0] == "PLANT" and (pooled["n_positions"] == 3).all()
    # the posterior mean of an average is the average of the posterior means
    per = fit.table.groupby("motif")["post_mean"].mean()
    assert np.allclose(pooled.set_index("motif")["post_mean"], per.loc[pooled["motif"]],
                       rtol=0, atol=1e-10)  # fmt: skip
    assert (pooled["hdi_low"] <= pooled["post_mean"]).all()
    assert (pooled["post_mean"] <= pooled["hdi_high"]).all()
    with pytest.raises(OptionError, match="lack"):
        pooled_motif_effects(type("Fit", (), {"conditions": pd.DataFrame({"x": [1]})})())


# -- the spec type, end to end ------------------------------------------------------------------


def _spec(meme: Path, **experiment) -> dict:
    exp = {"type": "motif_screen", "name": "screen", "motifs": str(meme), "positions": [2, 20]}
    return {
        "study": {"n": 30, "seed": 4, "truth": True},
        "model": {"builtin": "additive_oracle", "motif": PLANTED, "length": 40},
        "background": {"kind": "iid", "length": 40},
        "experiment": [{**exp, **experiment}],
    }


def test_spec_type_end_to_end_writes_the_heatmap(tmp_path: Path, meme: Path) -> None:
    spec_file = tmp_path / "screen.toml"
    spec_file.write_text(textwrap.dedent(f"""\
        [study]
        name = "screen"
        n = 40
        seed = 9
        truth = true

        [model]
        builtin = "additive_oracle"
        motif = "{PLANTED}"
        length = 40

        [background]
        kind = "iid"
        length = 40

        [[experiment]]
        name = "screen"
        type = "motif_screen"
        motifs = "{meme.name}"
        positions = [0, 12, 24, 34]
        names = ["PLANT", "PARTIAL", "NULL0", "NULL1"]

        [[experiment]]
        name = "position"
        type = "positions"
        motif = "{PLANTED}"
        positions = [0, 17]

        [pooling]
        experiments = ["screen"]
        groups = ["motif"]
        chains = 2
        draws = 100
        tune = 100
        diagnostics = "ignore"
        """))  # fmt: skip
    (tmp_path / meme.name).write_text(meme.read_text())
    out = run_study(load_spec(spec_file), tmp_path / "run", progress=False)
    ace = out.ace[out.ace["experiment"] == "screen"]
    assert len(ace) == 16 and set(ace["motif"]) == {"PLANT", "PARTIAL", "NULL0", "NULL1"}
    inside = (ace["ci_low"] <= ace["true_ace"]) & (ace["true_ace"] <= ace["ci_high"])
    assert inside.sum() >= 13  # 16 intervals at 95%: P(more than 3 misses) < 0.01
    html = (tmp_path / "run" / "report.html").read_text()
    found = re.search(r'<img src="data:image/png;base64,([^"]+)" alt="motif screen heatmap '
                      r'screen">', html)  # fmt: skip
    assert found is not None
    assert base64.b64decode(found.group(1)).startswith(b"\x89PNG\r\n\x1a\n")
    assert html.count('alt="motif screen heatmap') == 1  # the one-motif sweep gets none
    assert '<a href="#screens">Motif screens</a>' in html
    # the screened matrices are written beside the tables and drawn as logos
    from causalgia.sequences import read_motifs

    written = {m.name for m in read_motifs(tmp_path / "run" / "motifs.meme")}
    assert {"PLANT", "PARTIAL", "NULL0", "NULL1"} <= written
    assert "not a sequence, and no motif file" not in html
    # the ranking read back from the run directory is the one of the run's own tables
    run = read_run(tmp_path / "run")
    back = rank_motifs(run.ace, run.ice, experiment="screen")
    fresh = rank_motifs(out.ace.drop(columns="true_ace"), out.result, experiment="screen")
    assert back["motif"].tolist() == fresh["motif"].tolist()
    assert np.allclose(back["mean_ace"], fresh["mean_ace"]) and np.allclose(back["se"], fresh["se"])
    pooled = pooled_motif_effects(out.pooled)
    assert set(pooled["motif"]) == {"PLANT", "PARTIAL", "NULL0", "NULL1"}


def test_spec_errors_are_named_before_any_model_is_built(meme: Path) -> None:
    ok = parse_spec(_spec(meme)).experiments[0]
    assert (ok.motifs, ok.positions, ok.instance, ok.names) == (str(meme), (2, 20), "sample", ())
    bad = {
        r"needs the key experiment\[0\].motifs": {"motifs": None},
        r"experiment\[0\].positions is empty": {"positions": []},
        r"experiment\[0\].positions\[1\] = 2 repeats": {"positions": [2, 2]},
        r"experiment\[0\].names is empty": {"names": []},
        r"experiment\[0\].max_motifs = 0 is out of range": {"max_motifs": 0},
        "choose 'sample' or 'consensus'": {"instance": "sampled"},
        "motif is not used by experiments of type 'motif_screen'": {"motif": "GATA"},
        r"names\[1\] = 'PLANT' repeats": {"names": ["PLANT", "PLANT"]},
    }
    for message, change in bad.items():
        raw = _spec(meme, **{k: v for k, v in change.items() if v is not None})
        if change.get("motifs", 1) is None:
            del raw["experiment"][0]["motifs"]
        with pytest.raises(ConfigError, match=message):
            parse_spec(raw)


def test_motif_file_errors_are_named_when_the_run_is_built(tmp_path: Path, meme: Path) -> None:
    def arms(**experiment):
        return build_arms(parse_spec(_spec(meme, **experiment), tmp_path), seed=1)

    assert [a.label for a in arms(names=["NULL1"])] == ["NULL1@2+", "NULL1@20+"]
    with pytest.raises(ConfigError, match=r"experiment\[0\].motifs = 'missing.meme': no such "
                       r"file .*missing.meme"):  # fmt: skip
        arms(motifs="missing.meme")
    broken = tmp_path / "broken.meme"
    broken.write_text(_meme_text().replace("0.8500", "0.9900", 1))
    with pytest.raises(MotifError, match=r"experiment\[0\].motifs = 'broken.meme': .*line \d+: "
                       "motif 'PLANT': row sums to"):  # fmt: skip
        arms(motifs="broken.meme")
    with pytest.raises(ConfigError, match=r"experiment\[0\].names: motif 'PLNT' is not in "
                       r".*screen.meme; did you mean 'PLANT'"):  # fmt: skip
        arms(names=["PLNT"])
    with pytest.raises(ConfigError, match=r"experiment\[0\].positions: motif 'PLANT' \(width 6\) "
                       "at position 36 does not fit in sequences of length 40"):  # fmt: skip
        arms(positions=[2, 36])
    # a FASTA background's length is known once it is read: design() names the arm
    fasta = tmp_path / "bg.fa"
    fasta.write_text("".join(f">s{i}\n{'ACGT' * 10}\n" for i in range(5)))
    raw = _spec(meme, positions=[2, 36])
    raw["background"] = {"kind": "real", "fasta": str(fasta)}
    raw["study"]["truth"] = False
    spec = parse_spec(raw, tmp_path)
    from causalgia.experiment.designs import design
    from causalgia.studies.build import build_background

    with pytest.raises(InterventionError, match=r"arm 'PLANT@36\+' \(screen\): motif 'PLANT' "
                       r"\(width 6\) at position 36"):  # fmt: skip
        design(build_background(spec, "dna"), build_arms(spec, 1), n=5, rng=1)


def test_example_spec_parses_and_builds() -> None:
    spec_file = Path(__file__).resolve().parents[1] / "examples" / "motif_screen.toml"
    d = design_from_spec(spec_file)
    assert len(d.arms) == 10 * 5 and d.arms[0].label == "RBFOX@3+"
    assert d.arms[0].params["alt_name"] == "RBFOX1/2/3 UGCAUG"


# -- the heatmap's choice of experiments --------------------------------------------------------


def test_heatmap_only_for_two_motifs_at_two_numeric_positions(screened) -> None:
    screen, _, _ = screened
    sweep = pd.DataFrame({"experiment": "pos", "label": ["G@0", "G@5", "G@9"], "motif": "GATA",
                          "position": [0, 5, 9], "ace": [0.1, 0.2, 0.3]})  # fmt: skip
    strands = screen.ace.assign(strand="-", label=screen.ace["label"] + "-")
    table = pd.concat([screen.ace, sweep, strands.assign(experiment="both")])
    table = pd.concat([table, screen.ace.assign(experiment="both")])
    specs = screen_map_specs(table)
    assert [(s.experiment, s.n_motifs, s.n_positions) for s in specs] == [("motif_screen", 8, 3)]
    grid = screen_matrix(screen.ace, experiment="motif_screen")
    assert grid.index[0] == "PLANT planted" and list(grid.columns) == POSITIONS
    top = screen.ranked.loc[screen.ranked["mean_ace"].abs().nlargest(3).index]
    top = top.sort_values("mean_ace", ascending=False)
    shown = screen_matrix(screen.ace, experiment="motif_screen", max_motifs=3)
    assert [i.split()[0] for i in shown.index] == top["motif"].tolist()
    ranking = screen_ranking(screen.ace, experiment="motif_screen")
    assert ranking["motif"].tolist() == screen.ranked["motif"].tolist()
    assert np.allclose(ranking["mean_ace"], screen.ranked["mean_ace"])
    two = pd.concat([screen.ace.assign(output="a"), screen.ace.assign(output="b")])
    assert [s.title for s in screen_map_specs(two)] == ["motif_screen (a)", "motif_screen (b)"]


# -- the real JASPAR subset ---------------------------------------------------------------------


def test_jaspar_subset_screen_finds_the_planted_ctcf_matrix() -> None:
    if not JASPAR.is_file():
        pytest.skip(f"JASPAR subset not found at {JASPAR} (../shared/data is absent)")
    motifs = select_motifs(JASPAR)
    assert len(motifs) == 12
    assert [m.name for m in select_motifs(JASPAR, names=["CTCF"])] == [
        "MA0139.2", "MA0531.2", "MA1929.2", "MA1930.2"]  # fmt: skip
    with pytest.raises(MotifError, match="did you mean 'CTCF'"):
        select_motifs(JASPAR, names=["CTFC"])
    with pytest.raises(InterventionError, match=r"motif 'MA1929.2' \(width 31\) at position 0 "
                       "does not fit in sequences of length 30: it fits nowhere"):  # fmt: skip
        sweep_motifs(motifs, [0], length=30)
    planted = next(m for m in motifs if m.name == "MA0139.2")
    positions, length = [2, 34, 66], 100
    oracle = _planted_oracle(planted, positions, SCALES, length, log_odds=True)
    background = iid(length)
    screen = motif_screen(oracle, background, JASPAR, positions, n=200, rng=2024)
    ranked = screen.to_frame()
    assert ranked["motif"].iloc[0] == "MA0139.2" and ranked["alt_name"].iloc[0] == "CTCF"
    truth = _truth(oracle, screen, background)
    arms = screen.ace[screen.ace["motif"] == "MA0139.2"].set_index("label")
    for label, row in arms.iterrows():
        assert row["ci_low"] <= truth[label] <= row["ci_high"], label
    assert ranked["q_value"].iloc[0] < 1e-10
    assert list(screen.matrix().columns) == positions
