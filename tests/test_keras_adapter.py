"""Keras 3 models through causalgia.engine.keras_model (and as_model), on the torch backend.

Networks are built here with known weights; what they compute is computed again in numpy. Keras
is optional: these tests skip when it is missing (CI has it from the test extra).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")  # before keras is first imported
import keras  # noqa: E402  (in the test extra)

from causalgia.engine.adapters import KerasCallable, keras_model  # noqa: E402
from causalgia.engine.declaration import as_model  # noqa: E402
from causalgia.engine.models import Output  # noqa: E402
from causalgia.engine.simulator import simulate  # noqa: E402
from causalgia.errors import (  # noqa: E402
    InvalidSequenceError,
    LayoutError,
    ModelOutputError,
    OptionError,
)
from causalgia.experiment.backgrounds import iid  # noqa: E402
from causalgia.experiment.designs import design, sweep_positions  # noqa: E402
from causalgia.sequences.alphabet import encode  # noqa: E402
from causalgia.stats.estimators import estimate_ace  # noqa: E402

L = 30
CODES = np.random.default_rng(3).integers(0, 4, size=(37, L), dtype=np.uint8)


def _conv_net(kernel: np.ndarray, bias: np.ndarray, dense: np.ndarray, dense_bias: float):
    """Conv1D (valid, ReLU) -> global max pool -> dropout -> batch norm -> Dense(1), NLC."""
    inp = keras.Input((L, 4))
    h = keras.layers.Conv1D(kernel.shape[2], kernel.shape[0], activation="relu")(inp)
    h = keras.layers.GlobalMaxPooling1D()(h)
    h = keras.layers.Dropout(0.5)(h)
    h = keras.layers.BatchNormalization(epsilon=1e-3)(h)
    out = keras.layers.Dense(1)(h)
    net = keras.Model(inp, out)
    filters = kernel.shape[2]
    moving_mean, moving_var = np.full(filters, 0.5), np.full(filters, 4.0)
    gamma, beta = np.full(filters, 2.0), np.full(filters, -1.0)
    net.set_weights(
        [kernel, bias, gamma, beta, moving_mean, moving_var, dense, np.array([dense_bias])]
    )
    return net, (moving_mean, moving_var, gamma, beta)


def _numpy_conv_net(codes, kernel, bias, dense, dense_bias, norm):
    """The same network in numpy, in inference mode (no dropout; moving BN statistics)."""
    x = np.eye(4)[codes]  # (N, L, 4)
    width = kernel.shape[0]
    windows = np.stack([x[:, i : i + width] for i in range(L - width + 1)], axis=1)
    conv = np.maximum(np.einsum("npkc,kcf->npf", windows, kernel) + bias, 0)
    pooled = conv.max(axis=1)
    mean, var, gamma, beta = norm
    normed = (pooled - mean) / np.sqrt(var + 1e-3) * gamma + beta
    return normed @ dense[:, 0] + dense_bias


def test_conv1d_model_in_inference_mode_matches_numpy():
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(5, 4, 3)).astype(np.float32)
    bias = rng.normal(size=3).astype(np.float32)
    dense = rng.normal(size=(3, 1)).astype(np.float32)
    net, norm = _conv_net(kernel, bias, dense, 0.25)
    model = keras_model(net, layout="NLC", output=0, batch_size=8)
    assert isinstance(model.fn, KerasCallable) and model.layout == "NLC" and model.length == L
    y = model.predict(CODES)
    assert y.dtype == np.float64 and y.shape == (len(CODES),)
    expected = _numpy_conv_net(CODES, kernel, bias, dense, 0.25, norm)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    # inference mode: dropout off, so repeated calls agree exactly and with any batch size
    np.testing.assert_array_equal(model.predict(CODES), y)
    np.testing.assert_allclose(model.predict(CODES, batch_size=1), y, rtol=1e-6, atol=1e-6)


def test_as_model_sends_a_keras_model_to_the_keras_adapter():
    net, _ = _conv_net(np.ones((3, 4, 1), np.float32), np.zeros(1), np.ones((1, 1)), 0.0)
    import torch

    if keras.backend.backend() == "torch":
        assert isinstance(net, torch.nn.Module)  # Keras first, or torch_model would take it
    with pytest.raises(OptionError, match="never guesses"):
        as_model(net)
    model = as_model(net, layout="NLC", output=0, alphabet="rna", name="toy")
    assert isinstance(model.fn, KerasCallable)
    assert (model.name, model.alphabet.name) == ("toy", "rna")
    with pytest.raises(OptionError, match="keras.Model"):
        keras_model(lambda x: x, layout="NLC")


def _planted(motif: str, length: int = L, bump: float = 0.0):
    """f(x) = 1 when ``motif`` occurs in x (on the + strand), else 0: a Conv1D whose filter is
    the one-hot of the motif, bias 1 - len(motif), ReLU, global max pooling (``bump`` is added
    to one weight)."""
    inp = keras.Input((length, 4))
    h = keras.layers.Conv1D(1, len(motif), activation="relu")(inp)
    net = keras.Model(inp, keras.layers.GlobalMaxPooling1D()(h))
    kernel = np.eye(4, dtype=np.float32)[encode(motif)][:, :, None]  # (width, 4, 1)
    kernel[0, 2, 0] += bump
    net.set_weights([kernel, np.array([1.0 - len(motif)], np.float32)])
    return net


def _no_word_probability(length: int, width: int) -> float:
    """P(a uniform random sequence of ``length`` lacks a given word of ``width`` that cannot
    overlap itself, like GATA): a(n) = 4 a(n-1) - a(n-width), counted in exact integers."""
    counts = [4**n for n in range(width)] + [4**width - 1]
    for n in range(width + 1, length + 1):
        counts.append(4 * counts[n - 1] - counts[n - width])
    return counts[length] / 4**length


def test_planted_motif_ace_is_the_share_of_backgrounds_without_the_motif():
    model = as_model(_planted("GATA"), layout="NLC")
    d = design(iid(L), sweep_positions("GATA", [10]), n=4000, rng=11)
    result = simulate(model, d, progress=False)
    table = result.table
    # unit by unit, computed again in numpy from the design's own backgrounds
    bg = d.background.generate(table["background_id"].to_numpy(), d.seed)
    x = np.eye(4)[bg]
    word = np.eye(4)[encode("GATA")]
    windows = np.stack([x[:, i : i + 4] for i in range(L - 3)], axis=1)
    has = (windows == word).all(axis=(2, 3)).any(axis=1)
    np.testing.assert_array_equal(table["y_control"].to_numpy(), has.astype(float))
    assert (table["y_do"] == 1.0).all()
    ace = estimate_ace(result).to_frame().iloc[0]
    assert ace["ace"] == pytest.approx(1.0 - has.mean(), abs=1e-12)
    truth = _no_word_probability(L, 4)  # about 0.90 for 30-mers
    assert ace["ci_low"] <= truth <= ace["ci_high"]


def test_fingerprint_follows_the_weights_not_the_session_numbering():
    first, second = _planted("GATA"), _planted("GATA")
    assert first.name != second.name  # Keras numbers its models: "functional", "functional_1"
    a, b = (keras_model(net, layout="NLC") for net in (first, second))
    assert a.name == b.name == "Functional"
    assert a.fingerprint(L) == b.fingerprint(L)
    changed = keras_model(_planted("GATA", bump=0.5), layout="NLC")  # one changed weight
    assert changed.fingerprint(L) != a.fingerprint(L)


def test_declared_layout_is_checked_against_the_input_shape():
    net = _planted("GATA")
    with pytest.raises(LayoutError) as err:
        keras_model(net, layout="NCL")
    text = str(err.value)
    assert "(None, 30, 4)" in text and "'NCL'" in text and "layout='NLC'" in text
    # a channels-first model: its declared layout is NCL, and NLC is refused
    inp = keras.Input((4, L))
    conv = keras.layers.Conv1D(1, 4, activation="relu", data_format="channels_first")(inp)
    first = keras.Model(inp, keras.layers.GlobalMaxPooling1D(data_format="channels_first")(conv))
    kernel = np.eye(4, dtype=np.float32)[encode("GATA")][:, :, None]
    first.set_weights([kernel, np.array([-3.0], np.float32)])
    with pytest.raises(LayoutError, match=r"\(None, 4, 30\).*'NLC'.*layout='NCL'"):
        keras_model(first, layout="NLC")
    seqs = encode(["A" * 5 + "GATA" + "C" * 21, "C" * L])
    np.testing.assert_array_equal(keras_model(first, layout="NCL").predict(seqs), [1.0, 0.0])
    inp = keras.Input((L * 4,))
    flat = keras.Model(inp, keras.layers.Dense(1)(inp))
    with pytest.raises(LayoutError, match=r"\(None, 120\) of rank 2"):
        keras_model(flat, layout="NLC")


def test_input_length_unbuilt_and_multi_input_models():
    model = keras_model(_planted("GATA"), layout="NLC")
    assert model.length == L
    short = design(iid(L - 5), sweep_positions("GATA", [3]), n=10, rng=1)
    with pytest.raises(InvalidSequenceError, match="length 30"):
        simulate(model, short, progress=False)
    with pytest.raises(InvalidSequenceError, match="length 30"):
        model.predict(CODES[:, :20])
    unbuilt = keras.Sequential([keras.layers.Conv1D(2, 3), keras.layers.GlobalMaxPooling1D()])
    with pytest.raises(OptionError, match="not built"):
        keras_model(unbuilt, layout="NLC")
    a, b = keras.Input((L, 4)), keras.Input((L, 4))
    two = keras.Model([a, b], keras.layers.Add()([a, b]))
    with pytest.raises(OptionError, match="takes 2 inputs"):
        keras_model(two, layout="NLC")
    # a variable-length model reads any length and declares none
    inp = keras.Input((None, 4))
    free = keras.Model(inp, keras.layers.GlobalMaxPooling1D()(keras.layers.Conv1D(1, 3)(inp)))
    m = keras_model(free, layout="NLC")
    assert m.length is None and m.predict(CODES[:, :12], batch_size=5).shape == (len(CODES),)


def _two_outputs(as_dict: bool):
    """Outputs: the count of A per sequence (N, 1), and the per-position G indicator (N, L)."""
    inp = keras.Input((L, 4))
    mean = keras.layers.GlobalAveragePooling1D()(inp)
    count_a = keras.layers.Dense(1, use_bias=False, name="a")(mean)  # L x the mean of channel A
    g_track = keras.layers.Flatten()(keras.layers.Dense(1, use_bias=False, name="g")(inp))
    outputs = {"count_a": count_a, "g_track": g_track} if as_dict else [count_a, g_track]
    net = keras.Model(inp, outputs)
    net.get_layer("a").set_weights([np.array([[L], [0], [0], [0]], np.float32)])
    net.get_layer("g").set_weights([np.array([[0], [0], [1], [0]], np.float32)])
    return net


def test_list_and_dict_outputs_are_picked_by_the_declared_head():
    if "head" not in getattr(Output, "__dataclass_fields__", {}):
        pytest.fail("Output has no head field yet: multi-output Keras models need Output(head=)")
    count_a = (CODES == 0).sum(axis=1).astype(float)
    g_window = (CODES[:, 5:15] == 2).sum(axis=1).astype(float)
    listed = _two_outputs(as_dict=False)
    with pytest.raises(ModelOutputError, match="head"):
        keras_model(listed, layout="NLC").predict(CODES)  # several outputs, none declared
    got = keras_model(listed, layout="NLC", output=Output(head=0)).predict(CODES)
    np.testing.assert_allclose(got, count_a, atol=1e-4)
    window = Output(head=1, reduce="sum", window=(5, 15))
    got = keras_model(listed, layout="NLC", output=window).predict(CODES)
    np.testing.assert_allclose(got, g_window, atol=1e-5)
    named = _two_outputs(as_dict=True)
    got = as_model(named, layout="NLC", output={"head": "count_a"}).predict(CODES)
    np.testing.assert_allclose(got, count_a, atol=1e-4)
    with pytest.raises(ModelOutputError, match="count_a"):
        as_model(named, layout="NLC", output={"head": "counts"}).predict(CODES)
