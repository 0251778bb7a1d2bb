"""Tests for causalgia.engine.models: declared layout and output functional, validation (B2-B8)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from causalgia.engine.declaration import as_model
from causalgia.engine.models import Model, Output, as_output
from causalgia.errors import ModelOutputError, OptionError
from causalgia.sequences.alphabet import N_CODE, one_hot

L = 12


def _codes(seed: int, n: int, length: int = L, with_n: bool = False) -> np.ndarray:
    hi = 5 if with_n else 4
    return np.random.default_rng(seed).integers(0, hi, size=(n, length), dtype=np.uint8)


def _weights(seed: int = 0, length: int = L) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(4, length))


def _linear(weights: np.ndarray, layout: str, bias: float = 0.3):
    """The same linear model written once for each layout."""
    if layout == "NCL":
        return lambda x: np.einsum("ncl,cl->n", x, weights) + bias
    return lambda x: np.einsum("nlc,cl->n", x, weights) + bias


def _linear_reference(codes: np.ndarray, weights: np.ndarray, n_value: float, bias=0.3):
    """Independent computation: sum of the weight of each letter; N contributes n_value * sum."""
    length = codes.shape[1]
    padded = np.vstack([weights, n_value * weights.sum(axis=0, keepdims=True)])
    return padded[codes, np.arange(length)].sum(axis=1) + bias


# ---------------------------------------------------------------- as_model / layouts
def test_as_model_requires_a_layout() -> None:
    with pytest.raises(OptionError, match="declare layout='NCL'.*'NLC'.*never guesses"):
        as_model(lambda x: x.sum(axis=(1, 2)))


def test_as_model_bad_layout_and_non_callable() -> None:
    with pytest.raises(OptionError, match="layout='NWC' is not allowed"):
        as_model(lambda x: x.sum(axis=(1, 2)), layout="NWC")
    with pytest.raises(OptionError, match="model must be callable, got int"):
        as_model(3, layout="NCL")
    with pytest.raises(OptionError, match="batch_size must be >= 1, got 0"):
        as_model(lambda x: x.sum(axis=(1, 2)), layout="NCL", batch_size=0)


class _DeclaredModel:
    layout = "NLC"
    alphabet = "rna"
    output = {"index": 1, "transform": "exp"}
    name = "declared"

    def __init__(self) -> None:
        self.seen: list[tuple[tuple[int, ...], np.dtype]] = []

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.seen.append((x.shape, x.dtype))
        return np.stack([x[:, :, 0].sum(axis=1), x[:, :, 3].sum(axis=1)], axis=1)


def test_callable_may_declare_layout_alphabet_output() -> None:
    fn = _DeclaredModel()
    m = as_model(fn)
    assert (m.layout, m.alphabet.name, m.name) == ("NLC", "rna", "declared")
    assert m.output == Output(index=1, transform="exp")
    codes = _codes(1, 5)
    got = m.predict(codes)
    assert fn.seen == [((5, L, 4), np.dtype(np.float32))]
    np.testing.assert_allclose(got, np.exp((codes == 3).sum(axis=1)), rtol=1e-12)


def test_explicit_layout_overrides_declared_attribute() -> None:
    fn = _DeclaredModel()
    m = as_model(fn, layout="NCL", output=Output(index=0))
    assert m.layout == "NCL"
    m.predict(_codes(1, 3))
    assert fn.seen[-1][0] == (3, 4, L)


def test_model_receives_declared_layout_and_n_value() -> None:
    seen = {}

    def fn(x: np.ndarray) -> np.ndarray:
        seen["x"] = x.copy()
        return x.sum(axis=(1, 2))

    codes = _codes(2, 4, with_n=True)
    for layout in ("NCL", "NLC"):
        for n_value in (0.0, 0.25):
            got = as_model(fn, layout=layout, n_value=n_value).predict(codes)
            assert np.array_equal(seen["x"], one_hot(codes, layout, n_value=n_value))
            n_count = (codes == N_CODE).sum(axis=1)
            expected = (L - n_count) + 4 * n_value * n_count
            np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("n_value", [0.0, 0.25])
def test_ncl_and_nlc_adapters_of_same_weights_agree(n_value: float) -> None:
    w = _weights(3)
    codes = _codes(4, 50, with_n=True)
    ncl = as_model(_linear(w, "NCL"), layout="NCL", n_value=n_value)
    nlc = as_model(_linear(w, "NLC"), layout="NLC", n_value=n_value)
    a, b = ncl.predict(codes), nlc.predict(codes)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
    np.testing.assert_allclose(a, _linear_reference(codes, w, n_value), rtol=0, atol=1e-5)
    assert a.dtype == np.float64 and a.shape == (50,)


def test_predict_batch_size_invariance() -> None:
    w = _weights(5)

    def rowwise(x: np.ndarray) -> np.ndarray:
        return np.tanh(np.einsum("ncl,cl->n", x, w)) * 3.0 + x[:, 2, :].max(axis=1)

    m = as_model(rowwise, layout="NCL", batch_size=5)
    codes = _codes(6, 83, with_n=True)
    ref = m.predict(codes)
    for size in (1, 7, 64, 1000):
        assert np.array_equal(m.predict(codes, batch_size=size), ref), size
    assert np.array_equal(as_model(rowwise, layout="NCL", batch_size=1000).predict(codes), ref)


def test_predict_bad_batch_size_names_argument() -> None:
    m = as_model(lambda x: x.sum(axis=(1, 2)), layout="NCL")
    with pytest.raises(OptionError, match="batch_size must be >= 1, got 0"):
        m.predict(_codes(0, 3), batch_size=0)


def test_as_model_passes_a_model_through() -> None:
    m = as_model(lambda x: x.sum(axis=(1, 2)), layout="NCL")
    assert as_model(m) is m


def test_as_model_on_model_does_not_ignore_new_declaration() -> None:
    m = as_model(_linear(_weights(), "NCL"), layout="NCL")
    try:
        again = as_model(m, layout="NLC")
    except OptionError as err:
        assert "layout" in str(err)
    else:
        assert again.layout == "NLC"


# ---------------------------------------------------------------- Output functional
def test_output_index_selects_task() -> None:
    raw = np.random.default_rng(0).normal(size=(6, 3))
    assert np.array_equal(Output(index=2).apply(raw), raw[:, 2])
    assert np.array_equal(Output().apply(raw[:, :1]), raw[:, 0])  # (N, 1) squeezes
    assert np.array_equal(Output().apply(raw[:, 0]), raw[:, 0])


@pytest.mark.parametrize(
    ("transform", "reference"),
    [
        ("identity", lambda v: v),
        ("log", np.log),
        ("exp", np.exp),
        ("sigmoid", special.expit),
        ("logit", special.logit),
    ],
)
def test_output_transform_matches_numpy(transform, reference) -> None:
    v = np.random.default_rng(1).uniform(0.01, 0.99, size=20)
    np.testing.assert_allclose(Output(transform=transform).apply(v), reference(v), rtol=1e-12)


@pytest.mark.parametrize("reduce", ["sum", "mean", "max"])
@pytest.mark.parametrize("window", [None, (3, 9), (0, 1)])
def test_output_reduce_over_window(reduce: str, window) -> None:
    raw = np.random.default_rng(2).normal(size=(5, 2, 12))
    a, b = (0, 12) if window is None else window
    expected = getattr(np, reduce)(raw[:, 1, a:b], axis=1)
    got = Output(index=1, reduce=reduce, window=window).apply(raw)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    # then transform
    got_exp = Output(index=1, reduce=reduce, window=window, transform="exp").apply(raw)
    np.testing.assert_allclose(got_exp, np.exp(expected), rtol=1e-12)


def test_output_through_model_matches_manual() -> None:
    def profile(x: np.ndarray) -> np.ndarray:  # (N, 2 tasks, L positions)
        return np.stack([x[:, 0, :], 0.5 * x[:, 2, :] + 0.1], axis=1)

    codes = _codes(7, 9)
    m = as_model(
        profile,
        layout="NCL",
        output={"index": 1, "reduce": "sum", "window": (2, 8), "transform": "log"},
    )
    x = one_hot(codes, "NCL").astype(np.float64)
    manual = np.log((0.5 * x[:, 2, 2:8] + 0.1).sum(axis=1))
    np.testing.assert_allclose(m.predict(codes), manual, rtol=1e-6)


def test_as_output_forms() -> None:
    assert as_output(None) == Output()
    assert as_output(2) == Output(index=2)
    assert as_output({"index": 0, "transform": "logit"}) == Output(index=0, transform="logit")
    o = Output(reduce="max")
    assert as_output(o) is o
    assert Output(reduce="sum", window=[1, 4]).window == (1, 4)


def test_output_option_errors_name_the_argument() -> None:
    with pytest.raises(OptionError, match="output transform='softmax'"):
        Output(transform="softmax")
    with pytest.raises(OptionError, match="output reduce='median'"):
        Output(reduce="median")
    with pytest.raises(OptionError, match="output index must be >= 0, got -1"):
        Output(index=-1)
    with pytest.raises(OptionError, match=r"unknown output keys \['tasks'\]"):
        as_output({"tasks": 1})
    with pytest.raises(OptionError, match="output must be >= 0, got -2"):
        as_output(-2)


def test_output_shape_errors() -> None:
    with pytest.raises(ModelOutputError, match=r"output index 3 requested .*shape \(5, 2\)"):
        Output(index=3).apply(np.zeros((5, 2)))
    with pytest.raises(ModelOutputError, match=r"output index 0 requested .*shape \(5,\)"):
        Output(index=0).apply(np.zeros(5))
    with pytest.raises(
        ModelOutputError, match=r"reduce='sum' needs a profile of shape \(N, P\), got \(5,\)"
    ):
        Output(reduce="sum").apply(np.zeros(5))
    with pytest.raises(ModelOutputError, match=r"model output has shape \(5, 3\); declare output="):
        Output().apply(np.zeros((5, 3)))


# ---------------------------------------------------------------- B8 wrong outputs
@pytest.mark.parametrize(
    ("fn", "pattern"),
    [
        (
            lambda x: x.sum(axis=(1, 2))[:-1],
            r"'bad' returned float32 of shape \(4,\) for a batch of 5 sequences; expected a "
            r"numeric array with 5 rows",
        ),
        (
            lambda x: np.array(["a"] * len(x)),
            r"'bad' returned <U1 of shape \(5,\) .*expected a numeric",
        ),
        (lambda x: np.array([None] * len(x)), r"'bad' returned object of shape \(5,\)"),
        (lambda x: np.float64(1.0), r"'bad' returned float64 of shape \(\) for a batch of 5"),
        (lambda x: np.ones(len(x), dtype=complex), r"returned complex128 of shape \(5,\)"),
        (lambda x: np.ones((len(x), 3)), r"model output has shape \(5, 3\)"),
        (lambda x: np.ones((len(x), 2, 4)), r"model output has shape \(5, 2, 4\)"),
    ],
)
def test_wrong_model_output_raises(fn, pattern: str) -> None:
    m = as_model(fn, layout="NCL", name="bad")
    with pytest.raises(ModelOutputError, match=pattern):
        m.predict(_codes(0, 5))


def test_bool_and_int_outputs_are_accepted() -> None:
    codes = _codes(3, 6)
    got = as_model(lambda x: x[:, 0, 0] > 0, layout="NCL").predict(codes)
    assert np.array_equal(got, (codes[:, 0] == 0).astype(np.float64))
    got = as_model(lambda x: x[:, 1, :].sum(axis=1).astype(np.int64), layout="NCL").predict(codes)
    assert np.array_equal(got, (codes == 1).sum(axis=1).astype(np.float64))


# ---------------------------------------------------------------- B7 non-finite outputs
@pytest.mark.parametrize("batch_size", [1, 3, 256])
def test_nonfinite_outputs_name_global_rows(batch_size: int) -> None:
    def fn(x: np.ndarray) -> np.ndarray:
        out = x[:, :, 1].sum(axis=1).astype(np.float64)  # NLC: count of C
        out[x[:, 0, 0] == 1] = np.nan  # first base A
        out[x[:, 0, 1] == 1] = np.inf  # first base C
        out[x[:, 0, 2] == 1] = -np.inf  # first base G
        return out

    codes = _codes(8, 23)
    expected = np.flatnonzero(codes[:, 0] <= 2)
    assert 0 < expected.size < 23
    m = as_model(fn, layout="NLC", batch_size=batch_size, name="nanny")
    with pytest.raises(
        ModelOutputError, match=r"'nanny' returned non-finite f for \d+ row"
    ) as info:
        m.predict(codes)
    assert np.array_equal(info.value.rows, expected)
    assert str(expected[:5].tolist()) in str(info.value)


def test_nonfinite_after_transform_is_caught() -> None:
    # log of a non-positive output is NaN / -inf: those rows are reported
    def fn(x: np.ndarray) -> np.ndarray:
        return x[:, 3, :].sum(axis=1) - 1.0  # count of T minus one

    codes = _codes(9, 30)
    m = as_model(fn, layout="NCL", output={"transform": "log"})
    with pytest.raises(ModelOutputError, match="non-finite") as info:
        m.predict(codes)
    assert np.array_equal(info.value.rows, np.flatnonzero((codes == 3).sum(axis=1) <= 1))


# ---------------------------------------------------------------- fingerprint
def _fp_model(weights, *, transform="identity", n_value=0.0, layout="NCL", batch_size=256):
    return as_model(
        _linear(weights, layout),
        layout=layout,
        name="lin",
        output=Output(transform=transform),
        n_value=n_value,
        batch_size=batch_size,
    )


def test_fingerprint_stable_and_sensitive() -> None:
    w = _weights(10, 20)
    base = _fp_model(w)
    fp = base.fingerprint(20)
    assert isinstance(fp, str) and len(fp) == 16
    assert fp == base.fingerprint(20) == _fp_model(w.copy()).fingerprint(20)
    assert fp == _fp_model(w, batch_size=3).fingerprint(20)  # batching is not part of f
    w2 = w.copy()
    w2[2, 7] += 0.5
    changed = {
        "weights": _fp_model(w2).fingerprint(20),
        "transform": _fp_model(w, transform="exp").fingerprint(20),
        "n_value": _fp_model(w, n_value=0.25).fingerprint(20),
        "layout": _fp_model(w, layout="NLC").fingerprint(20),
        "length": _fp_model(_weights(10, 21)).fingerprint(21),
    }
    for what, other in changed.items():
        assert other != fp, what
    assert len(set(changed.values())) == len(changed)


def test_model_is_frozen() -> None:
    m = as_model(lambda x: x.sum(axis=(1, 2)), layout="NCL")
    assert isinstance(m, Model)
    with pytest.raises(AttributeError):
        m.layout = "NLC"
