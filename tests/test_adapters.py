"""One adapter contract for every way a network enters causalgia: a numpy callable (DeepBind),
a torch module, an ONNX graph and a Keras 3 model, all carrying the same weights.

Contract: float64 outputs of shape (N,), the declared layout and output functional, results that
do not depend on the batch size, determinism, and a LayoutError when the declared layout is wrong.
torch, onnxruntime and keras are optional: their tests skip when the package is missing (CI
installs them with ``pip install -e ".[test,torch,onnx]"``; keras is in the test extra and runs
on the torch backend, ``KERAS_BACKEND=torch``).
"""

from __future__ import annotations

import copy
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from causalgia.engine.declaration import as_model
from causalgia.engine.deepbind import DeepBindModel, read_deepbind
from causalgia.engine.models import Model, Output
from causalgia.errors import LayoutError, ModelOutputError, OptionError

os.environ.setdefault("KERAS_BACKEND", "torch")  # before keras is first imported

CODES = np.random.default_rng(0).integers(0, 4, size=(53, 41), dtype=np.uint8)
CODES[3, 10:14] = 4  # N letters


def weights(shared) -> DeepBindModel:
    """The real RBFOX1 model when ../shared/data is present, else a random model of its shape."""
    path = shared / "deepbind" / "params" / "D00210.001.txt"
    if path.is_file():
        return read_deepbind(path)
    m = DeepBindModel.random(num_hidden=32, rng=0)
    # to_torch stores float32 parameters: use weights it represents exactly
    arrays = ("detectors", "thresholds", "weights1", "biases1", "weights2", "biases2")
    return replace(m, **{a: getattr(m, a).astype(np.float32).astype(np.float64) for a in arrays})


@pytest.fixture
def deepbind_weights() -> DeepBindModel:
    return weights(Path(__file__).resolve().parents[1].parent / "shared" / "data")


def check_contract(
    build, reference: np.ndarray | None = None, atol: float = 1e-5, layout: str = "NCL"
) -> Model:
    """The shared adapter contract. ``build(layout=..., batch_size=...)`` returns a Model;
    ``layout`` is the one the network reads (the other one must raise a LayoutError)."""
    wrong = "NLC" if layout == "NCL" else "NCL"
    model = build(layout=layout, batch_size=16)
    assert isinstance(model, Model)
    assert model.layout == layout
    assert isinstance(model.output, Output)
    y = model.predict(CODES)
    assert y.dtype == np.float64 and y.shape == (len(CODES),) and np.isfinite(y).all()
    np.testing.assert_array_equal(model.predict(CODES), y)  # deterministic
    for size in (1, 7, 1000):  # float32 kernels may differ by a few ULP across batch sizes
        np.testing.assert_allclose(model.predict(CODES, batch_size=size), y, atol=1e-6, rtol=1e-6)
    if reference is not None:
        np.testing.assert_allclose(y, reference, atol=atol, rtol=0)
    with pytest.raises(LayoutError, match="layout"):
        build(layout=wrong, batch_size=16).predict(CODES)
    return model


def test_contract_numpy_callable(deepbind_weights):
    def build(layout, batch_size):
        return as_model(deepbind_weights, layout=layout, batch_size=batch_size)

    check_contract(build, deepbind_weights.score_codes(CODES), atol=1e-12)


def test_contract_torch(deepbind_weights):
    torch = pytest.importorskip("torch")
    from causalgia.engine.adapters import torch_model
    from causalgia.engine.deepbind import to_torch

    net = to_torch(deepbind_weights)

    def build(layout, batch_size):
        return torch_model(net, layout=layout, batch_size=batch_size)

    model = check_contract(build, deepbind_weights.score_codes(CODES))
    assert model.fn.device == "cpu" and model.fn.dtype == "float32"
    # a float64 module: dtype follows its parameters, and the scores agree to float64 precision
    m64 = torch_model(copy.deepcopy(net).double(), layout="NCL")
    assert m64.fn.dtype == "float64"
    np.testing.assert_allclose(m64.predict(CODES), deepbind_weights.score_codes(CODES), atol=1e-9)
    with pytest.raises(ModelOutputError, match="dtype float64"):
        torch_model(net, layout="NCL", dtype="float64").predict(CODES)
    assert torch.is_grad_enabled()


def test_torch_state_is_restored_and_heads_declared():
    torch = pytest.importorskip("torch")
    from causalgia.engine.adapters import torch_model

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv1d(4, 3, 5),
        torch.nn.Dropout(0.5),
        torch.nn.ReLU(),
        torch.nn.AdaptiveMaxPool1d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(3, 2),
    )
    net.train()
    net[1].eval()  # mixed flags must come back exactly as they were
    before = {k: v.clone() for k, v in net.state_dict().items()}
    model = torch_model(net, layout="NCL", output={"index": 1, "transform": "sigmoid"})
    y = model.predict(CODES)
    assert net.training and not net[1].training and net[0].training
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert all(p.grad is None for p in net.parameters())
    # dropout is off inside predict (eval mode): repeated calls agree
    np.testing.assert_array_equal(model.predict(CODES), y)
    assert ((y > 0) & (y < 1)).all()

    class TwoHeads(torch.nn.Module):
        def forward(self, x):
            return x.sum(dim=(1, 2)), x[:, 0].sum(dim=1)

    with pytest.raises(ModelOutputError, match="head="):
        torch_model(TwoHeads(), layout="NCL").predict(CODES)
    heads = torch_model(TwoHeads(), layout="NCL", head=1).predict(CODES)
    np.testing.assert_array_equal(heads, (CODES == 0).sum(axis=1))
    with pytest.raises(OptionError, match="torch.nn.Module"):
        torch_model(lambda x: x, layout="NCL")


def _export_onnx(net, path, batch: int | None = None):
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    import warnings

    dynamic = None if batch else {"x": {0: "n"}, "score": {0: "n"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net.eval(),
            torch.zeros(batch or 2, 4, 41),
            str(path),
            dynamo=False,
            input_names=["x"],
            output_names=["score"],
            dynamic_axes=dynamic,
        )
    return path


def test_contract_onnx(deepbind_weights, tmp_path):
    pytest.importorskip("onnxruntime")
    from causalgia.engine.adapters import onnx_model
    from causalgia.engine.deepbind import to_torch

    path = _export_onnx(to_torch(deepbind_weights), tmp_path / "rbfox1.onnx")

    def build(layout, batch_size):
        return onnx_model(path, layout=layout, batch_size=batch_size)

    check_contract(build, deepbind_weights.score_codes(CODES))
    fixed = _export_onnx(to_torch(deepbind_weights), tmp_path / "fixed.onnx", batch=8)
    got = onnx_model(fixed, layout="NCL").predict(CODES)  # 53 rows in padded batches of 8
    np.testing.assert_allclose(got, deepbind_weights.score_codes(CODES), atol=1e-5)
    with pytest.raises(OptionError, match="does not exist"):
        onnx_model(tmp_path / "nope.onnx", layout="NCL")


def test_onnx_static_channels_are_checked_at_construction(tmp_path):
    pytest.importorskip("onnxruntime")
    from causalgia.engine.adapters import onnx_model
    from causalgia.engine.deepbind import to_torch

    path = _export_onnx(to_torch(DeepBindModel.random(rng=1)), tmp_path / "m.onnx")
    with pytest.raises(LayoutError, match="4 channels on axis 2"):
        onnx_model(path, layout="NLC")


def test_as_model_delegates_framework_objects(tmp_path):
    torch = pytest.importorskip("torch")
    net = torch.nn.Sequential(
        torch.nn.Conv1d(4, 1, 3), torch.nn.AdaptiveMaxPool1d(1), torch.nn.Flatten()
    )
    with pytest.raises(OptionError, match="never guesses"):
        as_model(net)
    model = as_model(net, layout="NCL", output=0, alphabet="rna")
    assert type(model.fn).__name__ == "TorchCallable" and model.alphabet.name == "rna"
    assert model.predict(CODES).shape == (len(CODES),)
    ort = pytest.importorskip("onnxruntime")
    from causalgia.engine.deepbind import to_torch

    path = _export_onnx(to_torch(DeepBindModel.random(rng=2)), tmp_path / "m.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = as_model(session, layout="NCL").predict(CODES)
    np.testing.assert_allclose(got, DeepBindModel.random(rng=2).score_codes(CODES), atol=1e-5)


@pytest.mark.parametrize("functional", ["counts", "expected_counts"])
def test_contract_bpnet_lite(functional):
    """A small random bpnet-lite BPNet (two outputs: profile logits, log counts) behind
    Output(head=...): the count head, or the expected counts in a window of the profile.
    bpnet-lite is installed without its heavy dependencies (README's test command)."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("bpnetlite", reason="bpnet-lite is not installed (pip install --no-deps)")
    from bpnetlite.bpnet import BPNet

    from causalgia.sequences.alphabet import one_hot

    torch.manual_seed(0)
    net = BPNet(n_filters=8, n_layers=2, n_outputs=2, n_control_tracks=0, trimming=5, verbose=False)
    if functional == "counts":
        output = Output(head=1)
    else:
        output = Output(head=0, counts_head=1, reduce="expected_counts", window=(10, 20))
    with torch.no_grad():  # the reference: the module itself, reduced with torch
        profile, counts = net.eval()(torch.from_numpy(one_hot(CODES, "NCL")).float())
    assert profile.shape == (len(CODES), 2, CODES.shape[1] - 10) and counts.shape[1] == 1
    if functional == "counts":
        reference = counts[:, 0]
    else:  # one softmax over both strands and all positions, as bpnet-lite trains it
        share = torch.log_softmax(profile.flatten(1), dim=1).view_as(profile)[:, :, 10:20]
        reference = torch.exp(counts[:, 0] + torch.logsumexp(share.flatten(1), dim=1))

    def build(layout, batch_size):
        return as_model(net, layout=layout, output=output, batch_size=batch_size)

    model = check_contract(build, reference.double().numpy())
    assert type(model.fn).__name__ == "TorchCallable"
    with pytest.raises(ModelOutputError, match=r"2 outputs.*Output\(head=\.\.\.\)"):
        as_model(net, layout="NCL").predict(CODES)


def test_contract_keras(deepbind_weights):
    keras = pytest.importorskip("keras")
    pytest.importorskip("torch")
    if keras.backend.backend() != "torch":
        pytest.skip(f"the DeepBind port wraps a torch module: needs KERAS_BACKEND=torch, not "
                    f"{keras.backend.backend()!r}")  # fmt: skip
    from causalgia.engine.adapters import keras_model
    from causalgia.engine.deepbind import to_torch

    # channels last, as Keras models are: (N, L, 4) in, permuted to the torch module's (N, 4, L)
    inp = keras.Input((CODES.shape[1], 4))
    nlc = keras.layers.Permute((2, 1))(inp)
    out = keras.layers.TorchModuleWrapper(to_torch(deepbind_weights), output_shape=(None,))(nlc)
    net = keras.Model(inp, out)

    def build(layout, batch_size):
        return keras_model(net, layout=layout, batch_size=batch_size)

    model = check_contract(build, deepbind_weights.score_codes(CODES), layout="NLC")
    assert type(model.fn).__name__ == "KerasCallable" and model.length == CODES.shape[1]
    assert as_model(net, layout="NLC").fn.model is net  # as_model sends it to keras_model
