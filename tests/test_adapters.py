"""One adapter contract for every way a network enters causalgia: a numpy callable (DeepBind),
a torch module and an ONNX graph, all carrying the same weights.

Contract: float64 outputs of shape (N,), the declared layout and output functional, results that
do not depend on the batch size, determinism, and a LayoutError when the declared layout is wrong.
torch and onnxruntime are optional: their tests skip when the package is missing (CI installs
them with ``pip install -e ".[test,torch,onnx]"``).
"""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from causalgia.engine.declaration import as_model
from causalgia.engine.deepbind import DeepBindModel, read_deepbind
from causalgia.engine.models import Model, Output
from causalgia.errors import LayoutError, ModelOutputError, OptionError

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


def check_contract(build, reference: np.ndarray | None = None, atol: float = 1e-5) -> Model:
    """The shared adapter contract. ``build(layout=..., batch_size=...)`` returns a Model."""
    model = build(layout="NCL", batch_size=16)
    assert isinstance(model, Model)
    assert model.layout == "NCL"
    assert isinstance(model.output, Output)
    y = model.predict(CODES)
    assert y.dtype == np.float64 and y.shape == (len(CODES),) and np.isfinite(y).all()
    np.testing.assert_array_equal(model.predict(CODES), y)  # deterministic
    for size in (1, 7, 1000):  # float32 kernels may differ by a few ULP across batch sizes
        np.testing.assert_allclose(model.predict(CODES, batch_size=size), y, atol=1e-6, rtol=1e-6)
    if reference is not None:
        np.testing.assert_allclose(y, reference, atol=atol, rtol=0)
    with pytest.raises(LayoutError, match="layout"):
        build(layout="NLC", batch_size=16).predict(CODES)
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
