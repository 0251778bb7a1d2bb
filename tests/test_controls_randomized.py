"""Randomized-weights control (Adebayo et al. 2018): copies of torch, ONNX and DeepBind models
with randomized weights, the check's rule on known numbers, a planted motif CNN that passes, a
GC readout built into the architecture that fails, determinism, fingerprints, and the spec."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
import pytest

from causalgia.checks.controls import check_randomized_weights, evaluate_controls, gc_control_arm
from causalgia.checks.randomization import (
    cascading_randomization,
    framework_of,
    randomize_weights,
    randomized_weights_ace,
    weight_layers,
)
from causalgia.engine.declaration import as_model
from causalgia.engine.simulator import simulate
from causalgia.errors import ConfigError, OptionError
from causalgia.experiment.backgrounds import iid
from causalgia.experiment.designs import design, sweep_positions
from causalgia.stats.estimators import estimate_ace
from causalgia.testing import RBPOracle

MOTIF = "TGCATG"
CODES = np.random.default_rng(0).integers(0, 4, size=(40, 41), dtype=np.uint8)
CNN_SOURCE = '''
import numpy as np
import torch


def planted_cnn():
    """Conv1d(4, 8, 6) whose filter 0 is TGCATG (+1 on the motif base, -1 elsewhere); ReLU;
    global max pool; Linear(8, 1) reading filter 0 with weight 1, the rest small and random."""
    gen = torch.Generator().manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv1d(4, 8, 6), torch.nn.ReLU(), torch.nn.AdaptiveMaxPool1d(1),
        torch.nn.Flatten(), torch.nn.Linear(8, 1),
    )
    with torch.no_grad():
        net[0].weight.copy_(0.3 * torch.randn(8, 4, 6, generator=gen))
        site = np.eye(4, dtype=np.float32)[["ACGT".index(c) for c in "TGCATG"]].T
        net[0].weight[0] = 2 * torch.from_numpy(site) - 1
        net[0].bias.zero_()
        net[4].weight.copy_(0.3 * torch.randn(1, 8, generator=gen))
        net[4].weight[0, 0] = 1.0
        net[4].bias.fill_(0.1)
    return net
'''


def _planted():
    namespace: dict = {}
    exec(compile(CNN_SOURCE, "planted_cnn", "exec"), namespace)
    return namespace["planted_cnn"]()


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


@pytest.fixture(scope="module")
def cnn(torch):
    from causalgia.engine.adapters import torch_model

    return torch_model(_planted(), layout="NCL", output=0, name="planted_cnn")


@pytest.fixture(scope="module")
def study_design():
    arms = [*sweep_positions(MOTIF, [10, 25], experiment="motif"), gc_control_arm(MOTIF, 20)]
    return design(iid(41, gc=0.5), arms, n=150, rng=1)


def _gc_net(torch):
    class GCReadout(torch.nn.Module):
        """A GC-content readout wired into the architecture (no weights) plus a small conv."""

        def __init__(self) -> None:
            super().__init__()
            gen = torch.Generator().manual_seed(1)
            self.conv = torch.nn.Conv1d(4, 4, 5)
            self.fc = torch.nn.Linear(4, 1)
            with torch.no_grad():  # every weight from a fixed stream
                for p in self.parameters():
                    p.copy_(torch.randn(p.shape, generator=gen))

        def forward(self, x):
            gc = x[:, 1:3].sum(dim=(1, 2)) / x.shape[2]
            return 4.0 * gc + 0.1 * self.fc(torch.relu(self.conv(x)).amax(dim=2))[:, 0]

    return GCReadout()


# -- the rule on known numbers --------------------------------------------------------------


def _trained(ace, se=0.05, **cols):
    ace = np.asarray(ace, dtype=float)
    return pd.DataFrame({"experiment": "e", "label": [f"a{i}" for i in range(len(ace))],
                         "ace": ace, "se": se, "ci_low": ace - 1.96 * se,
                         "ci_high": ace + 1.96 * se, **cols})  # fmt: skip


def test_rule_on_known_numbers():
    trained = _trained([2.0, -1.0, 0.01])
    copies = [
        pd.DataFrame({"experiment": "e", "label": ["a0", "a1", "a2"], "ace": a, "se": 0.05})
        for a in ([0.1, 0.2, 0.0], [-0.3, -0.3, 0.02], [0.2, 0.1, -0.01])
    ]
    res = check_randomized_weights(trained, copies)
    assert res.passed is True and res.check_name == "randomized_weights"
    table = res.table.set_index("label")
    assert table["verdict"].tolist() == ["learned", "learned", "not detected"]
    # margin lower bound of the worst copy: f|a| - |a_j| - z_{0.95} sqrt(f^2 s^2 + s_j^2)
    z = 1.6448536269514722
    want = 0.5 * 1.0 - 0.3 - z * np.sqrt(0.5**2 * 0.05**2 + 0.05**2)
    assert table.loc["a1", "margin_lower"] == pytest.approx(want, abs=1e-12)
    assert table.loc["a0", "retained_max"] == pytest.approx(0.15)
    assert table.loc["a0", "randomized_min"] == -0.3 and table.loc["a0", "n_copies"] == 3
    per = res.metadata["per_copy"]
    assert len(per) == 9 and set(per["copy"]) == {0, 1, 2}
    # one stacked table with a copy column gives the same verdicts
    stacked = pd.concat([c.assign(copy=j) for j, c in enumerate(copies)])
    again = check_randomized_weights(trained, stacked)
    pd.testing.assert_frame_equal(again.table, res.table)

    # a copy keeping 60 % of a0 (either sign) fails; exactly f with no noise fails too
    keeps = [c.assign(ace=[-1.2, 0.0, 0.0]) if j == 1 else c for j, c in enumerate(copies)]
    bad = check_randomized_weights(trained, keeps)
    assert bad.passed is False and "survive weight randomization" in bad.text
    assert bad.table.set_index("label").loc["a0", "verdict"] == "survives randomization"
    exact = check_randomized_weights(
        _trained([2.0], se=0.0), [pd.DataFrame({"experiment": "e", "label": ["a0"],
                                                "ace": [1.0], "se": 0.0})]
    )  # fmt: skip
    assert exact.passed is False and exact.table["margin_lower"].iloc[0] == 0.0
    # stricter f flips a pass; looser f accepts the 60 % copy
    assert check_randomized_weights(trained, copies, max_retained=0.1).passed is False
    assert check_randomized_weights(trained, keeps, max_retained=0.9).passed is True
    # nothing detected: informational
    assert check_randomized_weights(_trained([0.01]), [copies[0].iloc[:1]]).passed is None


def test_rule_errors_name_the_arm():
    trained = _trained([2.0, 1.0])
    partial = [
        pd.DataFrame({"experiment": "e", "label": ["a0", "a1"], "ace": 0.0, "se": 0.05}),
        pd.DataFrame({"experiment": "e", "label": ["a0"], "ace": 0.0, "se": 0.05}),
    ]
    with pytest.raises(OptionError, match=r"arm 'a1' of experiment 'e' has ACEs from 1 of the 2"):
        check_randomized_weights(trained, partial)
    with pytest.raises(OptionError, match="max_retained"):
        check_randomized_weights(trained, partial[:1], max_retained=1.5)
    with pytest.raises(OptionError, match="'copy' column"):
        check_randomized_weights(trained, partial[0])
    with pytest.raises(OptionError, match=r"\['nope'\] are not in the ACE table"):
        check_randomized_weights(trained, partial[:1], experiments=["nope"])


# -- torch: planted motif CNN passes, a GC readout in the architecture fails ------------------


def test_planted_motif_cnn_passes(cnn, study_design):
    ace = estimate_ace(simulate(cnn, study_design, progress=False)).to_frame()
    rand = randomized_weights_ace(cnn, study_design, copies=3, rng=2)
    assert rand["copy"].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert rand["copy_seed"].nunique() == 3 and set(rand["mode"]) == {"permute"}
    report = evaluate_controls(ace, randomized=rand, randomized_experiments=["motif"])
    res = report["randomized_weights"]
    assert res.passed is True
    table = res.table.set_index("label")
    assert (table["verdict"] == "learned").all() and (table["ace"] > 3).all()
    assert (table["retained_max"] < 0.1).all()
    assert "2 of 2 detected effects are learned" in res.text
    # the copies ran the same backgrounds: their control predictions are the copies' own
    reinit = randomized_weights_ace(cnn, study_design, copies=2, mode="reinit", rng=2,
                                    experiments=["motif"])  # fmt: skip
    assert set(reinit["experiment"]) == {"motif"}
    assert check_randomized_weights(ace, reinit).passed is True


def test_gc_readout_in_the_architecture_fails(torch, study_design):
    from causalgia.engine.adapters import torch_model

    model = torch_model(_gc_net(torch), layout="NCL", name="gc_readout")
    ace = estimate_ace(simulate(model, study_design, progress=False)).to_frame()
    rand = randomized_weights_ace(model, study_design, copies=3, rng=4)
    res = check_randomized_weights(ace, rand)
    assert res.passed is False
    gc = res.table.set_index("experiment").loc["gc_control"]
    assert gc["verdict"] == "survives randomization" and gc["ace"] > 0.2
    assert 0.8 < gc["retained_max"] < 1.3  # the copies keep about the whole GC effect
    assert "'GCGCGC@20 (GC, no motif)'" in res.text and "not from training" in res.text


# -- copies: deterministic, new fingerprint, the trained model untouched ---------------------


def test_torch_copies_are_deterministic_and_fingerprinted(torch, cnn):
    trained = cnn.predict(CODES)
    before = {k: v.clone() for k, v in cnn.fn.module.state_dict().items()}
    state = torch.get_rng_state()
    for mode in ("permute", "redraw", "reinit"):
        a, b = (randomize_weights(cnn, mode=mode, rng=7) for _ in range(2))
        c = randomize_weights(cnn, mode=mode, rng=8)
        ya, yb, yc = a.predict(CODES), b.predict(CODES), c.predict(CODES)
        np.testing.assert_array_equal(ya, yb)
        assert not np.allclose(ya, yc) and not np.allclose(ya, trained)
        assert a.fingerprint(41) == b.fingerprint(41) != c.fingerprint(41)
        assert a.fingerprint(41) != cnn.fingerprint(41)
        assert a.name == f"planted_cnn [{mode} weights: all layers; seed 7]" and a.source is None
        assert (a.layout, a.output, a.alphabet) == (cnn.layout, cnn.output, cnn.alphabet)
    assert torch.equal(torch.get_rng_state(), state)  # reinit forks the torch RNG
    assert all(torch.equal(before[k], v) for k, v in cnn.fn.module.state_dict().items())
    np.testing.assert_array_equal(cnn.predict(CODES), trained)
    # permute keeps each tensor's values, only their arrangement changes
    twin = randomize_weights(cnn, rng=7).fn.module
    for (name, p), q in zip(cnn.fn.module.named_parameters(), twin.parameters(), strict=True):
        assert torch.equal(p.flatten().sort().values, q.flatten().sort().values), name
        assert len(torch.unique(p)) == 1 or not torch.equal(p, q), name


def test_layers_and_cascade(torch, cnn):
    assert weight_layers(cnn) == ["0", "4"] and framework_of(cnn) == "torch"
    steps = cascading_randomization(cnn, rng=5)
    assert [layer for layer, _ in steps] == ["4", "0"]
    (_, top), (_, both) = steps
    trained = cnn.fn.module
    assert torch.equal(top.fn.module[0].weight, trained[0].weight)  # lower layer kept
    assert not torch.equal(top.fn.module[4].weight, trained[4].weight)
    assert torch.equal(both.fn.module[4].weight, top.fn.module[4].weight)  # same draw
    assert not torch.equal(both.fn.module[0].weight, trained[0].weight)
    assert "layers 4; seed 5" in top.name and "all layers" in both.name
    with pytest.raises(OptionError, match=r"has \['0', '4'\]"):
        randomize_weights(cnn, layers=["fc"])
    with pytest.raises(OptionError, match="mode='shuffle' is not allowed"):
        randomize_weights(cnn, mode="shuffle")


def test_plain_callable_raises(torch, study_design):
    for plain in (as_model(lambda x: x.sum(axis=(1, 2)), layout="NCL"), as_model(RBPOracle())):
        with pytest.raises(OptionError, match="needs? a torch, ONNX or DeepBind model"):
            randomize_weights(plain)
        with pytest.raises(OptionError, match="plain Python callable"):
            randomized_weights_ace(plain, study_design, copies=1)
    with pytest.raises(OptionError, match="torch_model"):
        randomize_weights(_planted())


# -- ONNX and DeepBind -------------------------------------------------------------------------


def test_onnx_copies(torch, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    import warnings

    from causalgia.engine.adapters import onnx_model

    path = tmp_path / "cnn.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(_planted().eval(), torch.zeros(2, 4, 41), str(path), dynamo=False,
                          input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "n"}, "y": {0: "n"}})  # fmt: skip
    model = onnx_model(path, layout="NCL", output=0)
    layers = weight_layers(model)
    assert len(layers) == 2 and layers[0].startswith("/0/Conv")
    trained = model.predict(CODES)
    a, b = randomize_weights(model, rng=3), randomize_weights(model, rng=3)
    np.testing.assert_array_equal(a.predict(CODES), b.predict(CODES))
    assert not np.allclose(a.predict(CODES), trained)
    assert not np.allclose(randomize_weights(model, mode="redraw", rng=3).predict(CODES), trained)
    assert a.fingerprint(41) != model.fingerprint(41)
    np.testing.assert_array_equal(model.predict(CODES), trained)  # the file is untouched
    with pytest.raises(OptionError, match="'reinit' needs a torch model"):
        randomize_weights(model, mode="reinit")
    # a session passed in by the user: the graph is read from the session
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    from_session = randomize_weights(as_model(session, layout="NCL", output=0), rng=3)
    np.testing.assert_array_equal(from_session.predict(CODES), a.predict(CODES))


def test_deepbind_randomized_copy(shared_data):
    from causalgia.engine.deepbind import read_deepbind

    db = read_deepbind(shared_data / "deepbind" / "params" / "D00210.001.txt")  # RBFOX1
    assert weight_layers(db) == ["convolution", "dense1", "dense2"]
    seqs = ["GCAUUUGCAUGAACUUGCAUGAU", "AAAAAAAAUGCAUGAAAAAAAAA", "CCGGAUCCAGUACGAUCGAUCG"]
    trained = db.score(seqs)
    twin = randomize_weights(db, rng=1)
    got = twin.fn.score(seqs)
    assert np.all(np.abs(got - trained) > 1e-3)
    np.testing.assert_array_equal(twin.fn.score(seqs), randomize_weights(db, rng=1).fn.score(seqs))
    np.testing.assert_array_equal(db.score(seqs), trained)
    np.testing.assert_array_equal(np.sort(twin.fn.detectors.ravel()),
                                  np.sort(db.detectors.ravel()))  # fmt: skip
    assert twin.alphabet.name == "rna" and twin.fingerprint(41) != as_model(db).fingerprint(41)
    with pytest.raises(OptionError, match="'reinit' needs a torch model"):
        randomize_weights(db, mode="reinit")
    # the real RBFOX1 model's UGCAUG effect is learned
    d = design(iid(41, alphabet="rna"), sweep_positions("UGCAUG", [18]), n=150, rng=1)
    ace = estimate_ace(simulate(as_model(db), d, progress=False)).to_frame()
    res = check_randomized_weights(ace, randomized_weights_ace(db, d, copies=3, rng=2))
    assert res.passed is True and res.table["ace"].iloc[0] > 3
    assert res.table["retained_max"].iloc[0] < 0.1


# -- the spec: `causalgia run` runs the control on a framework model --------------------------


def _raw(**controls):
    return {
        "study": {"n": 100, "seed": 3},
        "model": {"factory": "cnn_factory:planted_cnn", "layout": "NCL", "output": 0},
        "background": {"kind": "iid", "length": 41},
        "experiment": [
            {"name": "motif", "type": "positions", "motif": MOTIF, "positions": [10]},
            {"name": "placebo", "type": "identity"},
        ],
        "controls": {"placebo": ["placebo"], **controls},
    }


def test_spec_runs_the_randomized_weights_control(torch, tmp_path):
    from causalgia.studies.runner import run_study
    from causalgia.studies.spec import parse_spec

    (tmp_path / "cnn_factory.py").write_text(textwrap.dedent(CNN_SOURCE))
    raw = _raw(randomized_weights=2, randomized_weights_experiments=["motif"])
    out = run_study(parse_spec(raw, tmp_path), tmp_path / "run", figures=False)
    assert [r.check_name for r in out.controls] == ["placebo", "randomized_weights"]
    res = out.controls["randomized_weights"]
    assert res.passed is True and res.table["n_copies"].tolist() == [2]
    assert "| randomized_weights | PASS |" in (tmp_path / "run" / "report.md").read_text()
    csv = pd.read_csv(tmp_path / "run" / "controls.csv")
    assert csv["check_name"].tolist() == ["placebo", "randomized_weights"]
    # the same spec again gives the same copies (seeds from the study seed)
    again = run_study(parse_spec(raw, tmp_path), tmp_path / "run2", figures=False)
    pd.testing.assert_frame_equal(again.controls["randomized_weights"].table, res.table)
    # a plain callable is refused when the model is built
    (tmp_path / "plain.py").write_text("def f(x):\n    return x[:, 1:3].sum(axis=(1, 2))\n")
    plain = {**raw, "model": {"callable": "plain:f", "layout": "NCL"}}
    with pytest.raises(ConfigError, match="controls.randomized_weights: .*plain Python callable"):
        run_study(parse_spec(plain, tmp_path), tmp_path / "run3", figures=False)


@pytest.mark.parametrize(
    ("model", "controls", "message"),
    [
        ({"builtin": "rbp_oracle"}, {"randomized_weights": 3}, "oracle without any"),
        (None, {"randomized_weights": 0}, r"randomized_weights = 0 must be >= 1"),
        (None, {"randomized_weights": 2, "randomized_weights_mode": "shuffle"},
         r"randomized_weights_mode = 'shuffle'; choose one of"),
        (None, {"randomized_weights_mode": "permute"}, "needs controls.randomized_weights"),
        (None, {"randomized_weights": 2, "randomized_weights_max_retained": 2.0}, r"\[0, 1\]"),
        (None, {"randomized_weights": 2, "randomized_weights_experiments": ["nope"]},
         r"randomized_weights_experiments names \['nope'\]"),
        ({"deepbind": "D.txt"}, {"randomized_weights": 2, "randomized_weights_mode": "reinit"},
         "'reinit' needs a torch model"),
        (None, {"randomized_weights": 2.5}, "must be int"),
    ],
)  # fmt: skip
def test_spec_validation(model, controls, message):
    from causalgia.studies.spec import parse_spec

    raw = _raw(**controls)
    if model is not None:
        raw["model"] = model
    with pytest.raises(ConfigError, match=message):
        parse_spec(raw)
    assert parse_spec(_raw()).raw["controls"] == {"placebo": ["placebo"]}  # hash of old specs kept
