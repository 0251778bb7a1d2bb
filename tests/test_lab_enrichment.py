"""Selection-read k-mer enrichment (issue 13): hand counts, scipy agreement, letters, joins,
errors, and interval coverage by simulation from a known k-mer model.

Coverage: reads are drawn from a position-independent letter model; bound reads also carry a
planted 4-mer with probability 0.3 at a uniform position. The true per-read presence probability
of every k-mer is computed exactly (a KMP automaton over the per-position letter distributions),
so the true log2 enrichment of all 256 4-mers is known. With R replicates the Monte-Carlo SD of
a 95% coverage is sqrt(0.95·0.05/R): 0.0069 at R = 1,000 (gate 0.93–0.97, slow tier) and
0.0154 at R = 200 (gate 0.90–0.995, about 3 SD, default tier).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats.contingency import relative_risk

from causalgia.errors import EstimationError, InvalidSequenceError, OptionError
from causalgia.lab import kmer_names, read_codes, selection_enrichment

BOUND = ["ACGTAC", "CGTACG", "AAAAAA"]
INPUT = ["ACGAAA", "TTTTTT"]


def _row(e, kmer, position=None):
    t = e.to_frame()
    sel = t["kmer"] == kmer
    if position is not None:
        sel &= t["position"] == position
    return t[sel].iloc[0]


def test_hand_counts_any_position_once_per_read():
    e = selection_enrichment(BOUND, INPUT, k=3, pseudocount=0)
    assert len(e.to_frame()) == 64 and e.n_bound == 3 and e.n_input == 2
    expect = {"ACG": (2, 1), "CGT": (2, 0), "TAC": (2, 0), "AAA": (1, 1), "TTT": (0, 1)}
    for kmer, (b, i) in expect.items():
        r = _row(e, kmer.replace("T", "U"))
        assert (r["bound_count"], r["input_count"]) == (b, i), kmer
        assert (r["bound_total"], r["input_total"]) == (3, 2)
    acg = _row(e, "ACG")
    assert acg["bound_freq"] == pytest.approx(2 / 3) and acg["input_freq"] == 0.5
    assert acg["log2_enrichment"] == pytest.approx(np.log2(4 / 3), abs=1e-15)
    se = np.sqrt(1 / 2 - 1 / 3 + 1 / 1 - 1 / 2) / np.log(2)  # Katz, on the log2 scale
    assert acg["se"] == pytest.approx(se, rel=1e-12)
    assert acg["z"] == pytest.approx(acg["log2_enrichment"] / se, rel=1e-12)
    assert np.isinf(_row(e, "CGU")["log2_enrichment"])  # absent from the input, no pseudocount


def test_hand_counts_all_occurrences_and_positions():
    occ = selection_enrichment(BOUND, INPUT, k=3, counting="occurrence", pseudocount=0)
    aaa = _row(occ, "AAA")
    assert (aaa["bound_count"], aaa["bound_total"]) == (4, 12)
    assert (aaa["input_count"], aaa["input_total"]) == (1, 8)
    assert _row(occ, "UUU")["input_count"] == 4
    pos = selection_enrichment(BOUND, INPUT, k=3, positional=True, pseudocount=0)
    t = pos.to_frame()
    assert len(t) == 64 * 4 and list(t.columns[:2]) == ["kmer", "position"]
    assert _row(pos, "ACG", 0)[["bound_count", "input_count"]].tolist() == [1, 1]
    assert _row(pos, "ACG", 3)[["bound_count", "input_count"]].tolist() == [1, 0]
    assert (t.groupby("position")["bound_count"].sum() == 3).all()  # one k-mer per read each
    assert t["position"].dtype == np.int64


def test_count_interval_is_scipys_relative_risk_without_pseudocount():
    gen = np.random.default_rng(3)
    bound = ["".join(gen.choice(list("ACGT"), 12)) for _ in range(300)]
    pool = ["".join(gen.choice(list("ACGT"), 12)) for _ in range(400)]
    e = selection_enrichment(bound, pool, k=2, pseudocount=0, ci=0.9).to_frame()
    for r in e.itertuples():
        rr = relative_risk(r.bound_count, r.bound_total, r.input_count, r.input_total)
        ci = rr.confidence_interval(0.9)
        assert r.log2_enrichment == pytest.approx(np.log2(rr.relative_risk), abs=1e-10)
        assert r.ci_low == pytest.approx(np.log2(ci.low), abs=1e-10)
        assert r.ci_high == pytest.approx(np.log2(ci.high), abs=1e-10)


def test_dna_rna_and_mixed_letters_give_one_table():
    dna = selection_enrichment(BOUND, INPUT, k=3).to_frame()
    rna = selection_enrichment(
        [s.replace("T", "U").lower() for s in BOUND], [" ACGAAA\n", "UUUTTT"], k=3
    ).to_frame()
    pd.testing.assert_frame_equal(dna, rna)
    as_dna = selection_enrichment(BOUND, INPUT, k=3, letters="dna").to_frame()
    assert "CGT" in set(as_dna["kmer"]) and "CGU" not in set(as_dna["kmer"])
    assert kmer_names(2, "dna")[-1] == "TT" and kmer_names(1).tolist() == list("ACGU")


def test_reads_with_n_and_ragged_lengths():
    codes = read_codes(["ACGN", "AC"])
    assert codes.tolist() == [[0, 1, 2, 4], [0, 1, 4, 4]]
    e = selection_enrichment(["ACGN", "AC"], ["ACGT"], k=3, counting="occurrence")
    acg = _row(e, "ACG")
    assert (acg["bound_count"], acg["bound_total"]) == (1, 1)  # windows with N are not counted
    with pytest.raises(InvalidSequenceError, match=r"bound: read '1' has the invalid letter 'X'"):
        selection_enrichment(["ACGT", "AXGT"], ["ACGT"], k=2)
    with pytest.raises(OptionError, match="one read length"):
        selection_enrichment(["ACGT"], ["ACGTA"], k=2, positional=True)


def test_fasta_files_in_either_alphabet(tmp_path):
    (tmp_path / "b.fa").write_text(">r1\nACGUAC\n>r2\nCGUACG\n>r3\nAAAAAA\n")
    (tmp_path / "i.fa").write_text(">r1\nACGAAA\n>r2\nTTTTTT\n")
    a = selection_enrichment(tmp_path / "b.fa", tmp_path / "i.fa", k=3).to_frame()
    b = selection_enrichment(BOUND, INPUT, k=3).to_frame()
    pd.testing.assert_frame_equal(a, b)


def test_options_are_checked():
    for kwargs, match in [
        ({"k": 0}, "k must be >= 1"),
        ({"k": 13}, "k must be <= 12"),
        ({"counting": "all"}, "counting='all' is not allowed"),
        ({"interval": "wald"}, "interval='wald'"),
        ({"pseudocount": -1}, "pseudocount"),
        ({"ci": 1.5}, "ci must lie in"),
        ({"k": 7}, "longer than the reads"),
    ]:
        with pytest.raises(OptionError, match=match):
            selection_enrichment(BOUND, INPUT, **kwargs)


def test_bootstrap_is_seeded_and_close_to_the_count_interval():
    gen = np.random.default_rng(0)
    bound, pool = _simulate_reads(gen, 800, 800)
    count = selection_enrichment(bound, pool, k=4).to_frame()
    boot = selection_enrichment(bound, pool, k=4, interval="bootstrap", n_resamples=400, rng=5)
    again = selection_enrichment(bound, pool, k=4, interval="bootstrap", n_resamples=400, rng=5)
    pd.testing.assert_frame_equal(boot.to_frame(), again.to_frame())
    t = boot.to_frame()
    pd.testing.assert_series_equal(t["log2_enrichment"], count["log2_enrichment"])
    common = count["bound_count"] > 50
    ratio = (t["se"] / count["se"])[common]
    assert 0.85 < ratio.median() < 1.15  # read counting: the Katz SE is the bootstrap SE
    assert (t["ci_low"] <= t["log2_enrichment"]).all() and (
        t["log2_enrichment"] <= t["ci_high"]
    ).all()
    pos = selection_enrichment(
        bound, pool, k=4, positional=True, interval="bootstrap", n_resamples=50, rng=1
    )
    assert pos.to_frame()[["ci_low", "ci_high", "se"]].notna().all().all()
    assert "bootstrap 95% intervals" in boot.summary() and "GCUG" in boot.summary()


def test_join_to_an_in_silico_screen():
    e = selection_enrichment(BOUND, INPUT, k=3)
    ace = pd.DataFrame({"experiment": "kmer", "label": ["ACG", "UUU"], "ace": [1.0, -0.2]})
    j = e.join(ace)
    assert j["kmer"].tolist() == ["ACG", "UUU"] and {"ace", "log2_enrichment"} <= set(j.columns)
    with pytest.raises(EstimationError, match="'ACGT' is not a 3-mer"):
        e.join(pd.DataFrame({"label": ["ACGT"], "ace": [1.0]}))
    with pytest.raises(OptionError, match="did you mean 'label'"):
        e.join(ace, on="labels")
    pos = selection_enrichment(BOUND, INPUT, k=3, positional=True)
    screen = pd.DataFrame(
        {"label": ["ACG", "ACG"], "position": pd.array([0, 3], dtype="Int64"), "ace": [1.0, 2.0]}
    )
    jp = pos.join(screen)
    assert jp["bound_count"].tolist() == [1, 1] and jp["input_count"].tolist() == [1, 0]


# --- coverage from a known k-mer model -----------------------------------------------------

L, K, PLANT, PI = 24, 4, "GCTG", 0.3
BG_BOUND = np.array([0.2, 0.3, 0.3, 0.2])  # a GC-richer bound background: composition differs
BG_INPUT = np.array([0.25, 0.25, 0.25, 0.25])


def _simulate_reads(gen: np.random.Generator, nb: int, ni: int) -> tuple[np.ndarray, np.ndarray]:
    bound = gen.choice(4, size=(nb, L), p=BG_BOUND).astype(np.uint8)
    plant = np.array(["ACGT".index(c) for c in PLANT], dtype=np.uint8)
    rows = np.flatnonzero(gen.random(nb) < PI)
    starts = gen.integers(0, L - K + 1, rows.size)
    for r, s in zip(rows, starts, strict=True):
        bound[r, s : s + K] = plant
    return bound, gen.choice(4, size=(ni, L), p=BG_INPUT).astype(np.uint8)


def _automaton(u: np.ndarray) -> np.ndarray:
    """KMP transitions ``delta[state, letter]`` (state = length of the matched prefix)."""
    k = u.size
    fail = np.zeros(k + 1, dtype=int)
    for i in range(1, k):
        j = fail[i]
        while j and u[i] != u[j]:
            j = fail[j]
        fail[i + 1] = j + 1 if u[i] == u[j] else 0
    delta = np.zeros((k, 4), dtype=int)
    for state in range(k):
        for c in range(4):
            j = state
            while j and u[j] != c:
                j = fail[j]
            delta[state, c] = j + 1 if u[j] == c else 0
    return delta


def _presence(u: np.ndarray, probs: np.ndarray) -> float:
    """P(a read with independent letters ``probs[position]`` holds ``u`` somewhere)."""
    delta = _automaton(u)
    k = u.size
    dist = np.zeros(k + 1)
    dist[0] = 1.0
    for p in probs:
        new = np.zeros(k + 1)
        new[k] = dist[k]
        for state in range(k):
            np.add.at(new, delta[state], dist[state] * p)
        dist = new
    return float(dist[k])


def _true_log2_enrichment() -> np.ndarray:
    plant = np.array(["ACGT".index(c) for c in PLANT])
    planted = []
    for s in range(L - K + 1):
        probs = np.tile(BG_BOUND, (L, 1))
        probs[s : s + K] = np.eye(4)[plant]
        planted.append(probs)
    truth = []
    for kmer in kmer_names(K, "dna"):
        u = np.array(["ACGT".index(c) for c in kmer])
        pb = (1 - PI) * _presence(u, np.tile(BG_BOUND, (L, 1)))
        pb += PI * np.mean([_presence(u, probs) for probs in planted])
        truth.append(np.log2(pb / _presence(u, np.tile(BG_INPUT, (L, 1)))))
    return np.array(truth)


def test_the_true_enrichment_is_right():
    """The exact presence probabilities agree with a large simulation (a check of the oracle)."""
    truth = _true_log2_enrichment()
    bound, pool = _simulate_reads(np.random.default_rng(11), 200_000, 200_000)
    big = selection_enrichment(bound, pool, k=K, pseudocount=0).to_frame()
    assert np.abs(big["log2_enrichment"] - truth).max() < 0.06
    assert np.abs(big["log2_enrichment"] - truth).mean() < 0.015
    assert kmer_names(K, "dna")[np.argmax(truth)] == PLANT


def _coverage(replicates: int, interval: str, seed: int, **kwargs) -> tuple[float, float]:
    truth = _true_log2_enrichment()
    planted = int(np.flatnonzero(kmer_names(K, "dna") == PLANT)[0])
    hits = np.zeros(truth.size)
    for r in range(replicates):
        bound, pool = _simulate_reads(np.random.default_rng([seed, r]), 1500, 1500)
        t = selection_enrichment(bound, pool, k=K, interval=interval, rng=r, **kwargs).to_frame()
        hits += (t["ci_low"].to_numpy() <= truth) & (truth <= t["ci_high"].to_numpy())
    cover = hits / replicates
    return float(cover[planted]), float(cover.mean())


def test_count_interval_coverage_r200():
    planted, mean = _coverage(200, "count", seed=1)
    assert 0.90 <= planted <= 0.995, planted
    assert 0.93 <= mean <= 0.97, mean  # 256 k-mers pooled: much smaller Monte-Carlo error


@pytest.mark.slow
def test_count_interval_coverage_r1000():
    planted, mean = _coverage(1000, "count", seed=2)
    assert 0.93 <= planted <= 0.97, planted
    assert 0.93 <= mean <= 0.97, mean


@pytest.mark.slow
def test_bootstrap_interval_coverage_r1000():
    planted, mean = _coverage(1000, "bootstrap", seed=3, n_resamples=999)
    assert 0.93 <= planted <= 0.97, planted
    assert 0.93 <= mean <= 0.97, mean
