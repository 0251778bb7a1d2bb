"""Signs of life: tqdm on a terminal, log lines in batch jobs, silence with --quiet."""

from __future__ import annotations

import io

import causalgia.engine.progress as progress_module
from causalgia.cli import main
from causalgia.engine import as_model, simulate
from causalgia.engine.progress import LogBar, Progress, progress_mode
from causalgia.experiment.backgrounds import iid
from causalgia.experiment.designs import design, sweep_positions
from causalgia.testing import RBPOracle

SPEC = """
[study]
name = "tiny"
seed = 1
n = 40
truth = true
truth_n = 400

[model]
builtin = "rbp_oracle"

[background]
kind = "iid"
length = 41

[[experiment]]
name = "position"
type = "positions"
motif = "UGCAUG"
positions = [5, 20]
"""


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_mode_follows_the_stream_and_the_flag():
    assert progress_mode(None, io.StringIO()) == "log"
    assert progress_mode(None, _Terminal()) == "bar"
    assert progress_mode(False, _Terminal()) == "off"
    assert progress_mode(True, io.StringIO()) == "bar"


def test_log_lines_say_done_chunks_rate_and_eta():
    out = io.StringIO()
    bar = LogBar(100, "simulate", "bg", steps=4, interval=0.0, stream=out)
    bar.update(25, passes=300)
    bar.update(25, passes=300)
    bar.close()
    first, second, last = out.getvalue().splitlines()
    assert first.startswith("simulate: 25/100 bg (25%), chunk 1/4, ")
    assert "passes/s" in first and "ETA 0:00:" in first
    assert second.startswith("simulate: 50/100 bg (50%), chunk 2/4, ")
    assert last.startswith("simulate: 50/100 bg in 0:00:0")


def test_short_work_writes_no_log_line():
    out = io.StringIO()
    bar = LogBar(10, "simulate", "bg", stream=out)  # default interval: 10 s
    bar.update(10, passes=20)
    bar.close()
    assert out.getvalue() == ""


def test_simulate_logs_progress_when_stderr_is_not_a_terminal(monkeypatch, capsys):
    monkeypatch.setattr(progress_module, "LOG_INTERVAL", 0.0)
    d = design(iid(41, alphabet="rna"), sweep_positions("UGCAUG", [3, 20]), n=60, rng=1)
    simulate(as_model(RBPOracle()), d, chunk_size=60)  # 3 sequences per bg: 20 bg a chunk
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("simulate:")]
    assert len(lines) == 3 + 1  # one per chunk, then the total
    assert lines[0].startswith("simulate: 20/60 bg (33%), chunk 1/3, ")
    assert lines[-1].startswith("simulate: 60/60 bg in ")


def test_simulate_progress_false_is_silent(monkeypatch, capsys):
    monkeypatch.setattr(progress_module, "LOG_INTERVAL", 0.0)
    d = design(iid(41, alphabet="rna"), sweep_positions("UGCAUG", [3]), n=40, rng=1)
    simulate(as_model(RBPOracle()), d, chunk_size=20, progress=False)
    assert capsys.readouterr().err == ""


def test_phases_announce_and_time_themselves():
    out = io.StringIO()
    with Progress(None, out).phase("pooled fit"):
        pass
    assert out.getvalue().splitlines()[0] == "causalgia: pooled fit ..."
    assert out.getvalue().splitlines()[1].startswith("causalgia: pooled fit: done in ")
    silent = io.StringIO()
    with Progress(False, silent).phase("pooled fit"):
        pass
    assert silent.getvalue() == ""


def test_cli_phase_lines_and_quiet(tmp_path, capsys):
    spec = tmp_path / "tiny.toml"
    spec.write_text(SPEC)
    assert main(["run", str(spec), "--out", str(tmp_path / "a"), "--no-figures"]) == 0
    err = capsys.readouterr().err
    for phase in ("tiny: 40 backgrounds x 2 arms", "reference truth (400 backgrounds", "report"):
        assert f"causalgia: {phase}" in err, err
    assert main(["run", str(spec), "--out", str(tmp_path / "b"), "--no-figures", "-q"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert "known effects inside" in captured.out
