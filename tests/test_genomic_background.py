"""backgrounds.genomic: windows of a genome FASTA (pyfaidx) at BED regions, optionally GC-matched.

The genome is written by the test: three chromosomes of 3 kb with GC 0.3, 0.5 and 0.7, one
soft-masked stretch, one N stretch and one IUPAC letter. Windows are checked against plain
Python slicing of the sequences written.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

import causalgia as cg
from causalgia.errors import InputFileError, InvalidSequenceError, OptionError
from causalgia.experiment import genomic
from causalgia.experiment.genome import GCMatchWarning, Genomic
from causalgia.sequences.alphabet import decode
from causalgia.testing import AdditiveOracle

CHROMS = {"chrA": 0.3, "chrB": 0.5, "chrC": 0.7}
SIZE = 3000
N_STRETCH = (1000, 1200)  # on chrC
IUPAC_AT = 2500  # an R on chrA
MASKED = (400, 700)  # lower case on chrB
COMPLEMENT = str.maketrans("ACGTN", "TGCAN")


def _rc(seq: str) -> str:
    return seq.upper().translate(COMPLEMENT)[::-1]


def _random_chrom(gen: np.random.Generator, gc: float) -> list[str]:
    p = [(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2]
    return list(gen.choice(list("ACGT"), size=SIZE, p=p))


@pytest.fixture(scope="module")
def genome(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    gen = np.random.default_rng(2024)
    seqs = {name: _random_chrom(gen, gc) for name, gc in CHROMS.items()}
    seqs["chrC"][N_STRETCH[0] : N_STRETCH[1]] = ["N"] * (N_STRETCH[1] - N_STRETCH[0])
    seqs["chrA"][IUPAC_AT] = "R"
    seqs["chrB"][MASKED[0] : MASKED[1]] = [c.lower() for c in seqs["chrB"][slice(*MASKED)]]
    text = {name: "".join(s) for name, s in seqs.items()}
    path = tmp_path_factory.mktemp("genome") / "toy.fa"
    with open(path, "w") as fh:
        for name, seq in text.items():
            fh.write(f">{name} toy chromosome, GC {CHROMS[name]}\n")
            fh.writelines(seq[i : i + 60] + "\n" for i in range(0, len(seq), 60))
    return path, text


def _bed(folder: Path, lines: list[str], name: str = "regions.bed") -> Path:
    path = folder / name
    path.write_text("".join(line + "\n" for line in lines))
    return path


def _tiles(folder: Path) -> Path:
    """Every chromosome whole: tiles of it are the candidate windows."""
    return _bed(folder, [f"{name}\t0\t{SIZE}" for name in CHROMS], "whole.bed")


# ------------------------------------------------------------------------------ the windows


def test_centred_windows_match_plain_slicing(genome, tmp_path):
    fasta, seqs = genome
    lines = [
        "# a comment",
        'track name="peaks"',
        "browser position chrA:1-100",
        "chrA\t100\t180\tpeak1\t0\t+",
        "chrA\t1500\t1501\tpeak2\t0\t-",  # a one-base region
        "chrB\t450\t650\tpeak3\t5\t.",  # soft-masked: read as upper case
        "chrC\t2000\t2100",  # three columns: forward strand
        "",
        "chrC\t2500\t2700\tpeak5\t0\t-",
        "chrB 10 90",  # space-separated
    ]
    length = 51
    bg = genomic(fasta, _bed(tmp_path, lines), length=length)
    expected, coords = [], []
    for line in lines:
        if not line or line.startswith(("#", "track", "browser")):
            continue
        fields = line.split()
        chrom, start, end = fields[0], int(fields[1]), int(fields[2])
        begin = (start + end) // 2 - length // 2
        window = seqs[chrom][begin : begin + length].upper()
        minus = len(fields) > 5 and fields[5] == "-"
        expected.append(_rc(window) if minus else window)
        coords.append((chrom, begin, begin + length, "-" if minus else "+"))
    assert decode(bg.source) == expected
    table = bg.windows
    assert (
        list(zip(table["chrom"], table["start"], table["end"], table["strand"], strict=True))
        == coords
    )
    assert table["bed_line"].tolist() == [4, 5, 6, 7, 9, 10]
    assert (table["status"] == "used").all() and bg.excluded == {"n": 0, "off_end": 0}
    assert set(decode(bg.sample(300, rng=1))) == set(expected)
    gc = [(w.count("G") + w.count("C")) / length for w in expected]
    np.testing.assert_allclose(table["gc"], gc)


def test_tiles_strand_options_and_short_regions(genome, tmp_path):
    fasta, seqs = genome
    bed = _bed(tmp_path, ["chrA\t10\t75\tx\t0\t-", "chrB\t100\t120", "chrB\t200\t230\ty\t0\t+"])
    bg = genomic(fasta, bed, length=20, placement="tile", stride=15)
    assert bg.windows["start"].tolist() == [10, 25, 40, 55, 100, 200]
    first = seqs["chrA"][10:30]
    assert decode(bg.source[0]) == _rc(first)
    fwd = genomic(fasta, bed, length=20, placement="tile", stride=15, strand="forward")
    assert decode(fwd.source[0]) == first.upper() and set(fwd.windows["strand"]) == {"+"}
    both = genomic(fasta, bed, length=20, placement="tile", stride=15, strand="both")
    assert both.windows["strand"].tolist() == ["+", "-"] * 6
    assert decode(both.source[0]) == first.upper() and decode(both.source[1]) == _rc(first)
    default = genomic(fasta, bed, length=20, placement="tile")  # stride = length
    assert default.windows["start"].tolist() == [10, 30, 50, 100, 200]
    short = genomic(fasta, bed, length=25, placement="tile")
    assert short.describe()["n_short_regions"] == 1  # chrB:100-120 holds no 25-nt tile
    assert short.windows["bed_line"].tolist() == [1, 1, 3]


def test_windows_with_n_or_ambiguous_letters_are_excluded_and_counted(genome, tmp_path):
    fasta, seqs = genome
    length = 100
    bed = _bed(tmp_path, [f"{name}\t0\t{SIZE}" for name in CHROMS])
    bg = genomic(fasta, bed, length=length, placement="tile", stride=50)
    starts = [(c, s) for c in CHROMS for s in range(0, SIZE - length + 1, 50)]
    ambiguous = [(c, s) for c, s in starts if set(seqs[c][s : s + length].upper()) - set("ACGT")]
    n_ambiguous = len(ambiguous)
    assert n_ambiguous == 5 + 2  # the N stretch on chrC, the R on chrA
    assert bg.excluded == {"n": n_ambiguous, "off_end": 0}
    described = bg.describe()
    assert described["n_excluded_n"] == n_ambiguous
    assert described["n_windows"] == len(starts)
    assert described["n_sources"] == len(starts) - n_ambiguous == len(bg.source)
    dropped = bg.windows[bg.windows["status"] == "n"]
    assert list(zip(dropped["chrom"], dropped["start"], strict=True)) == ambiguous
    assert (dropped["weight"] == 0).all()
    assert int(bg.sample(2000, rng=3).max()) < 4


def test_windows_off_the_chromosome_raise_or_are_excluded(genome, tmp_path):
    fasta, _ = genome
    bed = _bed(tmp_path, ["chrA\t100\t200", "chrB\t2980\t3000\tend\t0\t+", "chrC\t0\t10"])
    with pytest.raises(InputFileError, match=r"regions\.bed, line 2: .*runs off chrB"):
        genomic(fasta, bed, length=60)
    bg = genomic(fasta, bed, length=60, beyond_end="exclude")
    assert bg.excluded == {"n": 0, "off_end": 2}
    assert bg.windows["status"].tolist() == ["used", "off_end", "off_end"]
    assert bg.describe()["excluded_bed_lines"] == [2, 3]
    assert len(bg.source) == 1


# ----------------------------------------------------------------------------- the draws


def test_rows_depend_on_seed_and_id_only(genome, tmp_path):
    fasta, _ = genome
    bg = genomic(fasta, _tiles(tmp_path), length=40, placement="tile")
    ids = np.arange(500)
    full = bg.generate(ids, seed=11)
    np.testing.assert_array_equal(bg.generate(ids[::-1], 11)[::-1], full)
    parts = [bg.generate(ids[a:b], 11) for a, b in [(0, 37), (37, 38), (38, 500)]]
    np.testing.assert_array_equal(np.concatenate(parts), full)
    perm = np.random.default_rng(0).permutation(500)
    np.testing.assert_array_equal(bg.generate(perm, 11), full[perm])
    assert (bg.generate(ids, 12) != full).any(axis=1).mean() > 0.9
    located = bg.locate(ids[:50], 11)
    assert located["background_id"].tolist() == list(range(50))
    again = genomic(fasta, _tiles(tmp_path), length=40, placement="tile")
    np.testing.assert_array_equal(again.generate(ids, 11), full)


def test_locate_names_the_window_each_unit_came_from(genome, tmp_path):
    fasta, seqs = genome
    bg = genomic(fasta, _tiles(tmp_path), length=40, placement="tile", strand="both")
    ids = np.arange(200, 260)
    rows = decode(bg.generate(ids, 5))
    where = bg.locate(ids, 5)
    for row, (_, w) in zip(rows, where.iterrows(), strict=True):
        window = seqs[w["chrom"]][w["start"] : w["end"]].upper()
        assert row == (_rc(window) if w["strand"] == "-" else window)


def test_uniform_draw_is_uniform_over_candidates(genome, tmp_path):
    fasta, _ = genome
    lines = [f"{c}\t{s}\t{s + 30}" for c in CHROMS for s in range(100, 2900, 250)]
    bg = genomic(fasta, _bed(tmp_path, lines), length=30)
    m = len(bg.source)
    assert m == 3 * 12 - 1  # one window of chrC holds the N stretch
    n = 200 * m
    used = bg.windows.loc[bg.windows["status"] == "used", "bed_line"]  # one window per line
    drawn = bg.locate(np.arange(n), 7)["bed_line"]
    counts = drawn.value_counts().reindex(used, fill_value=0).to_numpy()
    assert counts.sum() == n
    assert stats.chisquare(counts).pvalue > 1e-4
    np.testing.assert_allclose(bg.windows.loc[used.index, "weight"], 1 / m)


def _hist(gc: np.ndarray, edges: np.ndarray) -> np.ndarray:
    b = np.clip(np.searchsorted(edges, gc, side="right") - 1, 0, len(edges) - 2)
    return np.bincount(b, minlength=len(edges) - 1) / len(gc)


def _gc(codes: np.ndarray) -> np.ndarray:
    return ((codes == 1) | (codes == 2)).mean(axis=1)


def test_gc_matching_reproduces_the_reference_histogram(genome, tmp_path):
    fasta, _ = genome
    length, n = 50, 4000
    reference = cg.backgrounds.iid(length, gc=0.62).sample(3000, rng=9)
    edges = np.linspace(0, 1, 11)
    bed = _tiles(tmp_path)
    bg = genomic(
        fasta, bed, length=length, placement="tile", stride=10, gc_match=reference, gc_bins=10
    )
    ref = _hist(_gc(reference), edges)
    summary = bg.describe()["gc_match"]
    np.testing.assert_allclose(summary["reference_hist"], ref)
    assert summary["unmatched_mass"] == 0 and summary["tv_after"] < 1e-12
    assert summary["n_reference"] == 3000 and summary["effective_windows"] > 50
    drawn = _hist(_gc(bg.sample(n, rng=4)), edges)
    # TV of a multinomial histogram: mean <= 1/2 sum sqrt(p(1-p)/n); McDiarmid for the tail
    bound = 0.5 * np.sqrt(ref * (1 - ref) / n).sum() + np.sqrt(np.log(1e6) / (2 * n))
    tv = 0.5 * np.abs(drawn - ref).sum()
    assert tv < bound, (tv, bound)
    plain = genomic(fasta, bed, length=length, placement="tile", stride=10)
    tv_plain = 0.5 * np.abs(_hist(_gc(plain.sample(n, rng=4)), edges) - ref).sum()
    assert tv_plain > 3 * bound  # without matching the mixture of chromosomes shows
    assert summary["tv_before"] > 3 * bound
    # the same draws, as a goodness-of-fit test against the matched histogram
    expected = np.asarray(summary["matched_hist"]) * n
    keep = expected >= 5
    observed = drawn[keep] * n
    assert (
        stats.chisquare(observed, expected[keep] * observed.sum() / expected[keep].sum()).pvalue
        > 1e-4
    )


def test_gc_matching_to_a_background_and_to_strings(genome, tmp_path):
    fasta, _ = genome
    bed = _tiles(tmp_path)
    ref_bg = cg.backgrounds.iid(30, gc=0.5)
    bg = genomic(fasta, bed, length=30, placement="tile", gc_match=ref_bg, gc_match_n=500)
    summary = bg.describe()["gc_match"]
    assert summary["n_reference"] == 500 and summary["background"]["kind"] == "iid"
    strings = genomic(fasta, bed, length=30, placement="tile", gc_match=["GGCCAT", "ATATATNNGCA"])
    ref = strings.describe()["gc_match"]["reference_hist"]
    assert ref[13] == 0.5 and ref[4] == 0.5  # 4/6 = 0.667 and 2/9 = 0.222 (N not counted)
    assert summary["gc_mean_reference"] == pytest.approx(0.5, abs=0.02)
    with pytest.raises(OptionError, match="gc_match_n is used only"):
        genomic(fasta, bed, length=30, placement="tile", gc_match=["ACGT"], gc_match_n=5)


def test_unmatchable_reference_bins_warn_or_raise(genome, tmp_path):
    fasta, _ = genome
    bed = _tiles(tmp_path)
    edges = [0.0, 0.5, 0.95, 1.0]  # no 50-nt window of the toy genome has GC >= 0.95
    few = ["G" * 50] + ["ACGT"] * 49  # 2% of the reference at GC 1.0
    with pytest.warns(GCMatchWarning, match=r"2\.0% .*\[0\.95, 1\] \(2\.0%\)"):
        bg = genomic(fasta, bed, length=50, placement="tile", gc_match=few, gc_bins=edges)
    assert bg.describe()["gc_match"]["unmatched_bins"] == ["[0.95, 1]"]
    assert bg.describe()["gc_match"]["tv_after"] == pytest.approx(0.02)
    many = ["G" * 50] * 10 + ["ACGT"] * 40
    with pytest.raises(OptionError, match=r"20\.0% of the reference .*\[0\.95, 1\]"):
        genomic(fasta, bed, length=50, placement="tile", gc_match=many, gc_bins=edges)
    with pytest.warns(GCMatchWarning):
        genomic(
            fasta, bed, length=50, placement="tile", gc_match=many, gc_bins=edges,
            max_unmatched=0.5,
        )  # fmt: skip


# ------------------------------------------------------------------------------ the errors


def test_unknown_chromosome_names_line_and_chromosome(genome, tmp_path):
    fasta, _ = genome
    bed = _bed(tmp_path, ["chrA\t1\t100", "A\t1\t100"])
    with pytest.raises(InputFileError, match=r"regions\.bed, line 2: chromosome 'A' .*'chrA'"):
        genomic(fasta, bed, length=10)
    bed = _bed(tmp_path, ["chr9\t1\t100"])
    with pytest.raises(InputFileError, match=r"line 1: chromosome 'chr9' is not in .*toy\.fa"):
        genomic(fasta, bed, length=10)


@pytest.mark.parametrize(
    ("lines", "pattern"),
    [
        (["# nothing", "track name=x"], r"regions\.bed: no regions"),
        (["chrA\t5"], r"line 1: a BED line needs chrom, start and end"),
        (["chrA\tfive\t10"], r"line 1: start and end must be integers"),
        (["chrA\t50\t10"], r"line 1: needs 0 <= start <= end"),
        (["chrA\t1\t10\tx\t0\t*"], r"line 1: strand \(column 6\)"),
        (["chrA\t1\t10", "chrB\t2900\t3001"], r"line 2: region chrB:2900-3001 ends past"),
    ],
)
def test_bad_bed_files_name_the_line(genome, tmp_path, lines, pattern):
    fasta, _ = genome
    with pytest.raises(InputFileError, match=pattern):
        genomic(fasta, _bed(tmp_path, lines), length=10)


def test_bad_options_and_missing_files(genome, tmp_path):
    fasta, _ = genome
    bed = _bed(tmp_path, ["chrA\t100\t200"])
    with pytest.raises(OptionError, match="length must be >= 1"):
        genomic(fasta, bed, length=0)
    with pytest.raises(OptionError, match="stride is used only"):
        genomic(fasta, bed, length=10, stride=5)
    with pytest.raises(OptionError, match="placement='middle' is not allowed"):
        genomic(fasta, bed, length=10, placement="middle")
    with pytest.raises(OptionError, match="gc_bins"):
        genomic(fasta, bed, length=10, gc_match=["ACGT"], gc_bins=[0.0, 0.7, 0.5, 1.0])
    with pytest.raises(InputFileError, match=r"nope\.fa: no such file"):
        genomic(tmp_path / "nope.fa", bed, length=10)
    with pytest.raises(InputFileError, match=r"nope\.bed: no such file"):
        genomic(fasta, tmp_path / "nope.bed", length=10)
    ragged = tmp_path / "ragged.fa"
    ragged.write_text(">chrA\nACGTACGT\nACG\nACGTACGT\n")
    with pytest.raises(InputFileError, match=r"ragged\.fa: cannot index the FASTA"):
        genomic(ragged, bed, length=10)
    bed_n = _bed(tmp_path, [f"chrC\t{N_STRETCH[0]}\t{N_STRETCH[1]}"], "n.bed")
    with pytest.raises(InvalidSequenceError, match=r"no usable window .* 1 hold N"):
        genomic(fasta, bed_n, length=50)


def test_missing_pyfaidx_says_how_to_install(genome, tmp_path, monkeypatch):
    fasta, _ = genome
    monkeypatch.setitem(sys.modules, "pyfaidx", None)
    with pytest.raises(OptionError, match=r"pip install 'causalgia\[genome\]'"):
        genomic(fasta, _bed(tmp_path, ["chrA\t100\t200"]), length=10)


# ------------------------------------------------------------------- manifest, pickling, API


def test_describe_is_json_safe_and_records_the_inputs(genome, tmp_path):
    fasta, _ = genome
    bed = _tiles(tmp_path)
    bg = genomic(fasta, bed, length=40, placement="tile")
    described = json.loads(json.dumps(bg.describe()))
    assert described["kind"] == "genomic" and described["length"] == 40
    assert described["fasta"] == "toy.fa" and described["bed"] == "whole.bed"
    assert described["fasta_bytes"] == fasta.stat().st_size
    fai = Path(str(fasta) + ".fai").read_bytes()
    assert described["fasta_index_sha256"] == hashlib.sha256(fai).hexdigest()
    assert described["bed_sha256"] == hashlib.sha256(bed.read_bytes()).hexdigest()
    assert described["n_regions"] == 3 and described["gc_match"] is None
    assert 0.45 < described["gc_mean"] < 0.55
    assert bg.fasta == str(fasta.absolute())
    other = genomic(fasta, bed, length=40, placement="tile", strand="both")
    assert other.describe()["sources_sha256"] != described["sources_sha256"]


def test_pickle_round_trip(genome, tmp_path):
    fasta, _ = genome
    bg = genomic(fasta, _tiles(tmp_path), length=40, placement="tile", gc_match=["GGGCCCAT"] * 3)
    back = pickle.loads(pickle.dumps(bg))
    assert isinstance(back, Genomic)
    np.testing.assert_array_equal(back.generate(np.arange(300), 3), bg.generate(np.arange(300), 3))
    assert back.describe() == bg.describe()


def test_rna_alphabet_and_the_backgrounds_namespace(genome, tmp_path):
    fasta, _ = genome
    assert cg.backgrounds.genomic is genomic
    bg = cg.backgrounds.genomic(
        fasta, _bed(tmp_path, ["chrA\t100\t200"]), length=30, alphabet="rna"
    )
    assert set(decode(bg.source, "rna")[0]) <= set("ACGU")
    assert bg.describe()["alphabet"] == "rna"


def test_a_tiny_study_on_genomic_backgrounds(genome, tmp_path):
    fasta, _ = genome
    length = 40
    bg = cg.backgrounds.genomic(fasta, _tiles(tmp_path), length=length, placement="tile")
    oracle = AdditiveOracle.from_motif("GATAAG", length=length)
    arms = cg.sweep_positions("GATAAG", [5, 20])
    study = cg.design(bg, arms, n=120, rng=2)
    result = cg.simulate(cg.as_model(oracle), study, progress=False)
    table = cg.estimate_ace(result, method="paired_t").to_frame()
    assert table["label"].tolist() == [a.label for a in arms]
    assert np.isfinite(table[["ace", "se", "ci_low", "ci_high"]].to_numpy()).all()
    codes = bg.generate(study.background_ids, study.seed)
    for arm, ace in zip(arms, table["ace"], strict=True):
        treated = arm.intervention.apply(codes, rng=0)
        truth = (oracle.predict_codes(treated) - oracle.predict_codes(codes)).mean()
        assert ace == pytest.approx(truth, abs=1e-10)
    assert result.table["background_id"].nunique() == 120
