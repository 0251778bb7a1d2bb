"""The typed study spec: every error the spec alone determines is raised by parse_spec (so
before any forward pass), naming the key path; defaults live in the section dataclasses; the
spec hash of a run directory written before the typed spec is unchanged."""

from __future__ import annotations

import copy
import json
import re
import shutil
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from causalgia.cli import main
from causalgia.engine.simulator import DEFAULT_CHUNK
from causalgia.engine.store import RunStore
from causalgia.errors import ConfigError
from causalgia.studies import load_spec, parse_spec, resume_study, run_study
from causalgia.studies.sections import (
    BackgroundSection,
    ControlsSection,
    PoolingSection,
    StudySection,
    spec_tables_markdown,
)

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
BASE = {
    "model": {"builtin": "rbp_oracle"},
    "background": {"kind": "iid", "length": 41},
    "experiment": [{"type": "identity"}],
}


def _raw(**tables):
    raw = copy.deepcopy(BASE)
    raw.update(copy.deepcopy(tables))
    return raw


def _fails(raw, message):
    with pytest.raises(ConfigError, match=message):
        parse_spec(raw)


# -- one test per kind of error ---------------------------------------------------------------


def test_wrong_type_names_the_key_and_the_list_index():
    _fails(_raw(study={"n": "many"}), r"^study\.n = 'many' must be int$")
    _fails(_raw(study={"truth": 1}), r"^study\.truth = 1 must be bool$")
    _fails(_raw(study={"n": True}), r"^study\.n = True must be int$")
    _fails(_raw(pooling={"experiments": ["identity"], "draws": 1.5}), r"^pooling\.draws = 1\.5")
    bad = {"type": "positions", "motif": "GATA", "positions": [1, "2"]}
    _fails(_raw(experiment=[bad]), r"experiment\[0\]\.positions\[1\] = '2' is str")
    _fails(_raw(model={"builtin": "rbp_oracle", "output": "0"}), r"model\.output = '0'")
    _fails(_raw(background=[]), r"\[background\] must be a table")


@pytest.mark.parametrize(
    ("tables", "message"),
    [
        ({"study": {"ci": 95}}, r"^study\.ci = 95 must lie in \(0, 1\)$"),
        ({"study": {"ci": 1.0}}, r"^study\.ci = 1\.0 must lie in \(0, 1\)$"),
        ({"background": {"kind": "iid", "length": 41, "gc": 1.2}}, r"background\.gc = 1\.2"),
        ({"controls": {"alpha": 0.0}}, r"^controls\.alpha = 0\.0 must lie in \(0, 1\)$"),
        ({"pooling": {"experiments": ["identity"], "hdi_prob": 95.0}}, r"pooling\.hdi_prob"),
        ({"study": {"ci": float("nan")}}, r"study\.ci = nan must be a finite number"),
    ],
)
def test_value_outside_its_interval(tables, message):
    _fails(_raw(**tables), message)


@pytest.mark.parametrize(
    ("tables", "key"),
    [
        ({"study": {"n": 0}}, r"study\.n = 0"),
        ({"study": {"n": -5}}, r"study\.n = -5"),
        ({"study": {"truth_n": 0}}, r"study\.truth_n = 0"),
        ({"study": {"seed": -1}}, r"study\.seed = -1"),
        ({"study": {"batch_size": 0}}, r"study\.batch_size = 0"),
        ({"pooling": {"experiments": ["identity"], "draws": 0}}, r"pooling\.draws = 0"),
        ({"pooling": {"experiments": ["identity"], "chains": -2}}, r"pooling\.chains = -2"),
        ({"background": {"kind": "iid", "length": 0}}, r"background\.length = 0"),
        ({"model": {"builtin": "rbp_oracle", "batch_size": 0}}, r"model\.batch_size = 0"),
    ],
)
def test_zero_or_negative_counts(tables, key):
    _fails(_raw(**tables), rf"^{key} is out of range: it must be >= \d+$")


@pytest.mark.parametrize(
    ("tables", "key", "allowed"),
    [
        ({"study": {"design": "crossover"}}, "study.design", ("paired", "randomized")),
        ({"study": {"method": "ols"}}, "study.method", ("paired_t", "welch", "permutation")),
        ({"study": {"on_nonfinite": "ignore"}}, "study.on_nonfinite", ("raise", "drop")),
        ({"model": {"builtin": "oracle"}}, "model.builtin", ("rbp_oracle", "additive_oracle")),
        ({"model": {"callable": "m:f", "layout": "NHWC"}}, "model.layout", ("NCL", "NLC")),
        ({"model": {"builtin": "rbp_oracle", "alphabet": "protein"}}, "model.alphabet", ("dna",)),
        ({"background": {"kind": "uniform"}}, "background.kind", ("iid", "markov", "real")),
        (
            {"experiment": [{"type": "positions", "motif": "GATA", "positions": [0],
                             "strand": "x"}]},
            "experiment[0].strand",
            ("+", "-"),
        ),
        (
            {"experiment": [{"type": "ablate", "start": 0, "stop": 4, "fill": "zeros"}]},
            "experiment[0].fill",
            ("shuffle", "random"),
        ),
        (
            {"experiment": [{"type": "substitute", "motif": "GATA", "position": 0,
                             "instance": "best"}]},
            "experiment[0].instance",
            ("sample", "consensus"),
        ),
        (
            {"experiment": [{"type": "mutate", "position": 0, "base": "X"}]},
            "experiment[0].base",
            ("A", "C", "G", "T", "U"),
        ),
        (
            {"experiment": [{"type": "spacing", "motif": "GATA", "start": 0, "spacings": [1],
                             "orientations": ["+", "?"]}]},
            "experiment[0].orientations[1]",
            ("+", "-"),
        ),
        (
            {"pooling": {"experiments": ["identity"], "curve": "length"}},
            "pooling.curve",
            ("position", "spacing"),
        ),
        ({"pooling": {"experiments": ["identity"], "effects": "cauchy"}}, "pooling.effects",
         ("normal", "student_t")),
        ({"pooling": {"experiments": ["identity"], "diagnostics": "loud"}}, "pooling.diagnostics",
         ("warn", "raise", "ignore")),
        ({"experiment": [{"type": "teleport"}]}, "experiment[0].type", ("positions", "identity")),
    ],
)  # fmt: skip
def test_value_outside_its_allowed_set_lists_the_set(tables, key, allowed):
    with pytest.raises(ConfigError) as err:
        parse_spec(_raw(**tables))
    message = str(err.value)
    assert message.startswith(f"{key} = ") and "choose" in message
    assert all(repr(value) in message for value in allowed)


def test_list_elements_are_named_by_index():
    exp = {"type": "positions", "motif": "GATA", "positions": [0, 4, 8, -1]}
    _fails(_raw(experiment=[{"type": "identity"}] * 2 + [exp]),
           r"^experiment\[2\]\.positions\[3\] = -1 is out of range: it must be >= 0$")  # fmt: skip
    exp = {"type": "counts", "motif": "GATA", "counts": [1, 0], "positions": [0, 9]}
    _fails(_raw(experiment=[exp]), r"^experiment\[0\]\.counts\[1\] = 0 is out of range")
    exp = {"type": "positions", "motif": "GATA", "positions": [0, 9, 0]}
    _fails(_raw(experiment=[exp]), r"^experiment\[0\]\.positions\[2\] = 0 repeats .*\[0\]$")
    bg = {"kind": "iid", "length": 41, "composition": [0.5, 0.5, "x", 0]}
    _fails(_raw(background=bg), r"background\.composition\[2\] = 'x' is str")


@pytest.mark.parametrize(
    ("background", "experiment", "message"),
    [
        ({}, {"type": "positions", "motif": "UGCAUG", "positions": [0, 35, 36]},
         r"^experiment\[0\]\.positions\[2\] = 36: UGCAUG@36\+ \(width 6\) does not fit in "
         r"backgrounds of length 41: valid starts are 0\.\.35$"),
        ({}, {"type": "substitute", "motif": "GATAAG", "position": 40},
         r"^experiment\[0\]\.position = 40: motif 'GATAAG' \(width 6\)"),
        ({}, {"type": "random_kmers", "motif": "GATAAG", "position": 38},
         r"^experiment\[0\]\.position = 38"),
        ({}, {"type": "mutate", "position": 41, "base": "G"},
         r"^experiment\[0\]\.position = 41: .* valid starts are 0\.\.40$"),
        ({}, {"type": "ablate", "start": 30, "stop": 42},
         r"^experiment\[0\]\.stop = 42 is past the end of backgrounds of length 41"),
        ({}, {"type": "counts", "motif": "GATA", "counts": [1, 2], "positions": [0, 38, 1]},
         r"^experiment\[0\]\.positions\[1\] = 38: copy 2 of GATA \(width 4\)"),
        ({}, {"type": "spacing", "motif": "GATA", "start": 10, "spacings": [0, 30, 5]},
         r"^experiment\[0\]\.spacings\[1\] = 30: .*largest spacing that fits is 23$"),
        ({}, {"type": "spacing", "motif": "GATA", "motif_b": "GATAAGGATAAG", "start": 10,
              "spacings": [16]}, r"^experiment\[0\]\.spacings\[0\] = 16: the second motif "
                                 r"\(width 12\)"),
        ({"background": {"kind": "markov", "fasta": "x.fa", "length": 20}},
         {"type": "substitute", "motif": "GATAAG", "position": 15},
         r"experiment\[0\]\.position = 15: .*length 20: valid starts are 0\.\.14$"),
    ],
)  # fmt: skip
def test_window_past_a_known_background_length(background, experiment, message):
    _fails(_raw(experiment=[experiment], **background), message)


def test_window_is_not_checked_when_the_length_comes_from_a_fasta_file():
    far = {"type": "substitute", "motif": "GATAAG", "position": 1000}
    for bg in ({"kind": "kshuffle", "fasta": "x.fa"}, {"kind": "markov", "fasta": "x.fa"}):
        assert parse_spec(_raw(background=bg, experiment=[far])).experiments[0].position == 1000


def test_motif_letters_must_be_iupac():
    exp = {"type": "positions", "motif": "GAXA", "positions": [0]}
    message = r"^experiment\[0\]\.motif = 'GAXA': letter 'X' at 2 is not an IUPAC DNA/RNA letter"
    _fails(_raw(experiment=[exp]), message)
    exp = {"type": "spacing", "motif": "GATA", "motif_b": "GA TA", "start": 0, "spacings": [1]}
    _fails(_raw(experiment=[exp]), r"^experiment\[0\]\.motif_b = 'GA TA': letter ' ' at 2")
    exp = {"type": "substitute", "motif": "GATU", "position": 0}
    _fails(_raw(experiment=[exp]), r"experiment\[0\]\.motif = 'GATU' holds both T \(DNA\) and U")
    model = {"builtin": "additive_oracle", "motif": "GAZA", "length": 41}
    _fails(_raw(model=model), r"^model\.motif = 'GAZA': letter 'Z' at 2")
    ok = {"type": "positions", "motif": "wgatar", "positions": [0]}
    assert parse_spec(_raw(experiment=[ok])).experiments[0].motif == "wgatar"


@pytest.mark.parametrize(
    ("tables", "message"),
    [
        ({"experiment": [{"type": "identity"}, {"type": "identity"},
                         {"type": "positions", "motif": "GATA", "positons": [0]}]},
         r"^unknown key experiment\[2\]\.positons; did you mean 'positions'\?$"),
        ({"study": {"sed": 1}}, r"^unknown key study\.sed; did you mean 'seed'\?$"),
        ({"background": {"kind": "iid", "lenght": 41}},
         r"^unknown key background\.lenght; did you mean 'length'\?$"),
        ({"pooling": {"experiments": ["identity"], "chain": 2}},
         r"^unknown key pooling\.chain; did you mean 'chains'\?$"),
        ({"model": {"builtin": "rbp_oracle", "output": {"tranform": "log"}}},
         r"^unknown key model\.output\.tranform; did you mean 'transform'\?$"),
        ({"study": {"zzz": 1}}, r"^unknown key study\.zzz; allowed keys: \['batch_size'"),
        ({"experiments": []}, r"unknown table\(s\) \['experiments'\].*did you mean 'experiment'"),
    ],
)  # fmt: skip
def test_unknown_key_suggests_the_closest(tables, message):
    _fails(_raw(**tables), message)


def test_key_that_the_background_kind_ignores():
    _fails(_raw(background={"kind": "kshuffle", "fasta": "x.fa", "gc": 0.4}),
           r"^background\.gc is not used by background\.kind = 'kshuffle'; it is used by kind "
           r"'iid'$")  # fmt: skip
    _fails(_raw(background={"kind": "iid", "length": 41, "k": 3}),
           r"^background\.k is not used by background\.kind = 'iid'; it is used by kind "
           r"'kshuffle'$")  # fmt: skip
    _fails(_raw(background={"kind": "real", "fasta": "x.fa", "pseudocount": 1}),
           r"background\.pseudocount .* used by kind 'profile' or 'markov'$")  # fmt: skip
    bg = {"kind": "kshuffle", "fasta": "x.fa", "order": 2}
    _fails(_raw(controls={"sensitivity_backgrounds": [bg]}),
           r"^controls\.sensitivity_backgrounds\[0\]\.order is not used by")  # fmt: skip


def test_key_that_the_experiment_type_ignores():
    exp = {"type": "mutate", "position": 3, "base": "G", "counts": [1]}
    message = (
        r"^experiment\[0\]\.counts is not used by experiments of type 'mutate' \(it is used by "
        r"type 'counts'\); type 'mutate' takes type, name, position, label, base$"
    )
    _fails(_raw(experiment=[exp]), message)
    exp = {"type": "positions", "motif": "GATA", "positions": [0], "label": "x"}
    _fails(_raw(experiment=[exp]), r"^experiment\[0\]\.label is not used by .* 'positions'")
    exp = {"type": "ablate", "start": 0, "stop": 4, "fill": "random", "k": 2}
    _fails(_raw(experiment=[exp]), r"experiment\[0\]\.k is only used with .*fill = 'shuffle'")


@pytest.mark.parametrize(
    ("tables", "message"),
    [
        ({"study": {"truth": True}, "model": {"callable": "m:f", "layout": "NCL"}},
         r"study\.truth = true needs a builtin oracle model"),
        ({"study": {"design": "randomized", "method": "paired_t"}},
         r"study\.method = 'paired_t' needs both potential outcomes"),
        ({"model": {"builtin": "additive_oracle", "motif": "GATA"}},
         r"'additive_oracle' needs model\.motif and model\.length"),
        ({"model": {"builtin": "additive_oracle", "motif": "GATA", "length": 30}},
         r"model\.length = 30 but background\.length = 41"),
        ({"model": {"builtin": "rbp_oracle", "length": 41}},
         r"model\.length is only used by model\.builtin = 'additive_oracle'"),
        ({"study": {"dask": "local:0"}}, r"study\.dask = 'local:0'; use 'local:N'"),
        ({"background": {"kind": "iid", "length": 41, "gc": 0.5, "composition": [0.25] * 4}},
         r"give background\.gc or background\.composition, not both"),
        ({"background": {"kind": "profile"}},
         r"background\.kind = 'profile' needs background\.fasta"),
        ({"pooling": {"experiments": ["identity"], "curve_prior": "gp"}},
         r"pooling\.curve_prior needs pooling\.curve"),
        ({"pooling": {"experiments": ["identity"], "curve": "position"}},
         r"pooling\.curve = 'position' is not a parameter of experiment 'identity'"),
        ({"controls": {"sensitivity_experiments": ["identity"]}},
         r"controls\.sensitivity_experiments needs controls\.sensitivity_backgrounds"),
        ({"experiment": [{"type": "ablate", "start": 9, "stop": 9}]},
         r"experiment\[0\]\.stop = 9 must be > experiment\[0\]\.start = 9"),
        ({"experiment": [{"type": "counts", "motif": "GATA", "counts": [3], "positions": [0, 9]}]},
         r"experiment\[0\]\.counts\[0\] = 3 needs at least 3 positions"),
        ({"experiment": [{"type": "random_kmers", "motif": "GATA", "position": 0,
                          "min_distance": 5}]},
         r"experiment\[0\]\.min_distance = 5 exceeds the motif's width 4"),
        ({"experiment": [{"type": "positions", "motif": "GATA", "positions": []}]},
         r"experiment\[0\]\.positions is empty"),
    ],
)  # fmt: skip
def test_keys_that_contradict_each_other(tables, message):
    _fails(_raw(**tables), message)


# -- defaults live in one place ---------------------------------------------------------------


def test_defaults_live_in_the_section_dataclasses():
    spec = parse_spec(BASE)
    assert spec.study == StudySection(method="paired_t")
    study = spec.study
    got = (study.name, study.seed, study.n, study.design, study.ci, study.truth, study.truth_n)
    assert got == ("study", None, 200, "paired", 0.95, False, 50_000)
    assert (study.retries, study.on_nonfinite) == (0, "raise")
    assert study.chunk_size == DEFAULT_CHUNK and study.batch_size is None
    randomized = parse_spec(_raw(study={"design": "randomized"})).study
    assert randomized.method == "welch"
    assert spec.controls is None and spec.pooling is None
    assert PoolingSection() == PoolingSection(
        draws=1000, tune=1000, chains=2, hdi_prob=0.95, curve_prior="rw", effects="normal",
        diagnostics="warn", min_effect=0.0, target_accept=None,
    )  # fmt: skip
    assert ControlsSection() == ControlsSection(
        alpha=0.05, power=0.8, min_effect=0.0, randomized_weights_mode="permute",
        randomized_weights_max_retained=0.5,
    )  # fmt: skip
    kinds = {
        kind: parse_spec(_raw(background={"kind": kind, "fasta": "x.fa"})).background
        for kind in ("profile", "markov", "kshuffle", "real")
    }
    assert kinds["profile"].pseudocount == 0.0 and kinds["markov"].pseudocount == 1.0
    assert kinds["kshuffle"].k == 2 and kinds["markov"].order == 1 and kinds["real"].replace
    assert BackgroundSection("iid").pseudocount is None
    deepbind = parse_spec(_raw(model={"deepbind": "D.txt"})).model
    assert deepbind.layout == "NCL" and parse_spec(BASE).model.layout is None
    exp = parse_spec(_raw(experiment=[{"type": "ablate", "start": 0, "stop": 4}])).experiments[0]
    assert (exp.name, exp.fill, exp.k, exp.label) == ("ablate", "shuffle", 1, None)


def test_consumers_read_typed_attributes_not_mapping_defaults():
    for name in ("studies/build.py", "studies/runner.py", "cli.py"):
        source = (ROOT / "causalgia" / name).read_text()
        gets = re.findall(r"(\w+(?:\.\w+)*)\.get\(", source)
        assert set(gets) <= {"ledger"}, (name, gets)


def test_docs_formats_tables_are_generated_from_the_dataclasses():
    text = (ROOT / "docs" / "formats.md").read_text()
    block = re.search(r"<!-- BEGIN spec tables.*?-->\n(.*)<!-- END spec tables -->", text, re.S)
    assert block is not None
    assert block.group(1) == spec_tables_markdown(), (
        "regenerate docs/formats.md's spec tables with "
        "causalgia.studies.sections.spec_tables_markdown()"
    )


# -- the hash of a spec does not change -------------------------------------------------------


@pytest.mark.parametrize(("name", "base"), [("demo", "causalgia/studies"),
                                            ("additive_oracle", "examples")])  # fmt: skip
def test_spec_hash_matches_the_one_captured_before_the_typed_spec(name, base):
    captured = json.loads((FIXTURES / "bit_identity.json").read_text())[name]
    spec = parse_spec(captured["spec"], ROOT / base)
    assert spec.spec_hash == captured["manifest"]["spec_hash"]
    assert parse_spec(spec.raw, spec.base_dir).spec_hash == spec.spec_hash


def test_a_run_directory_written_before_the_typed_spec_still_resumes(tmp_path):
    run = tmp_path / "old_run"
    shutil.copytree(FIXTURES / "old_run", run)
    with RunStore(run, readonly=True) as ledger:
        recorded = ledger.get("spec")
    assert parse_spec(recorded["raw"]).spec_hash == recorded["spec_hash"]
    resume_study(run, figures=False, progress=False)
    new, old = (pd.read_csv(d / "ace.csv") for d in (run, FIXTURES / "old_run"))
    pd.testing.assert_frame_equal(new, old, check_dtype=False, check_exact=True)


# -- spec errors are raised before any forward pass -------------------------------------------

SPY = """
from pathlib import Path


def model(x):
    Path(__file__).with_name("called").touch()
    return x[:, 2, :].sum(axis=1)  # G count (a constant would be a degenerate study)
"""
SPEC = """
[study]
n = 20
seed = 1

[model]
callable = "{module}:model"
layout = "NCL"

[background]
kind = "iid"
length = 30

[[experiment]]
type = "positions"
motif = "GATA"
positions = [0, 10]
"""
BAD = {
    "ci": ("seed = 1", "seed = 1\nci = 95", r"study\.ci = 95 must lie in \(0, 1\)"),
    "past the end": ("[0, 10]", "[0, 27]", r"experiment\[0\]\.positions\[1\] = 27"),
    "unknown key": ("positions = [", "positons = [", r"unknown key experiment\[0\]\.positons"),
}


def _spy_spec(tmp_path: Path, bad: str | None) -> tuple[Path, Path]:
    module = "spy_" + re.sub(r"\W", "_", tmp_path.name)  # one module per test: no import cache
    (tmp_path / f"{module}.py").write_text(SPY)
    text = SPEC.format(module=module)
    if bad is not None:
        old, new, _ = BAD[bad]
        text = text.replace(old, new)
    spec = tmp_path / "spec.toml"
    spec.write_text(textwrap.dedent(text))
    return spec, tmp_path / "called"


def test_the_spy_model_records_its_calls(tmp_path):
    spec, called = _spy_spec(tmp_path, None)
    assert main(["run", str(spec), "--out", str(tmp_path / "run"), "--no-figures"]) == 0
    assert called.is_file()


@pytest.mark.parametrize("bad", sorted(BAD))
def test_spec_errors_come_before_any_forward_pass(tmp_path, capsys, bad):
    spec, called = _spy_spec(tmp_path, bad)
    message = BAD[bad][2]
    assert main(["run", str(spec), "--out", str(tmp_path / "run"), "--no-figures"]) == 2
    assert main(["export", str(spec), "--out", str(tmp_path / "library")]) == 2
    for line in capsys.readouterr().err.splitlines():
        assert line.startswith("causalgia: error:") and re.search(message, line)
    with pytest.raises(ConfigError, match=message):
        run_study(load_spec(spec), tmp_path / "run2", figures=False)
    assert not called.exists()
    assert not (tmp_path / "run").exists() and not (tmp_path / "library").exists()


def test_resume_of_a_run_whose_recorded_spec_is_bad_stops_before_the_model(tmp_path, capsys):
    spec, called = _spy_spec(tmp_path, None)
    run = tmp_path / "run"
    assert main(["run", str(spec), "--out", str(run), "--no-figures"]) == 0
    called.unlink()
    with RunStore(run) as ledger:  # a ledger whose recorded spec no longer parses
        recorded = ledger.get("spec")
        recorded["raw"]["study"]["ci"] = 95
        ledger.set("spec", recorded)
    capsys.readouterr()
    assert main(["resume", str(run), "--no-figures"]) == 2
    assert re.search(r"study\.ci = 95 must lie in \(0, 1\)", capsys.readouterr().err)
    with pytest.raises(ConfigError, match=r"study\.ci = 95"):
        resume_study(run, figures=False)
    assert not called.exists()
