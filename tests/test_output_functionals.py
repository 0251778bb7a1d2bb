"""Output functionals of multi-output and profile models: heads of tuple/list/dict outputs,
tasks by name, windows that must fit, and the BPNet profile functionals (profile
probabilities, expected counts, Jensen-Shannon distance), each checked against numbers computed
by hand or by scipy, never by the code under test. Old Outputs keep their declaration string,
so model fingerprints do not change."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import textwrap
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.special import softmax

from causalgia.engine import (
    Output,
    as_model,
    expected_counts,
    js_distance,
    profile_probability,
)
from causalgia.engine.models import as_output
from causalgia.errors import ConfigError, ModelOutputError, OptionError
from causalgia.sequences.alphabet import one_hot
from causalgia.studies import load_spec, parse_spec
from causalgia.studies.build import build_model

FIXTURES = Path(__file__).resolve().parent / "fixtures"
RNG = np.random.default_rng(12)
# 1 sequence, 2 strands, 2 positions: exp(logits) = [[1, 3], [2, 2]], total 8
TINY = np.log([[[1.0, 3.0], [2.0, 2.0]]])


def _codes(n: int, length: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 4, size=(n, length), dtype=np.uint8)


def _joint(logits: np.ndarray) -> np.ndarray:
    """Independent reference: scipy's softmax over strands x positions, shape kept."""
    n = logits.shape[0]
    return softmax(logits.reshape(n, -1), axis=1).reshape(logits.shape)


# ---------------------------------------------------------------- profile_probability
def test_profile_probability_by_hand() -> None:
    np.testing.assert_allclose(profile_probability(TINY), [[3 / 8, 5 / 8]], rtol=1e-14)
    np.testing.assert_allclose(
        profile_probability(TINY, strands="each"), [[[1 / 4, 3 / 4], [1 / 2, 1 / 2]]], rtol=1e-14
    )
    # a one-strand profile (N, P): both choices are the softmax over positions
    one = np.log([[1.0, 1.0, 2.0]])
    for strands in ("sum", "each"):
        np.testing.assert_allclose(profile_probability(one, strands=strands), [[0.25, 0.25, 0.5]])


def test_profile_probability_matches_scipy_softmax() -> None:
    logits = RNG.normal(scale=3.0, size=(5, 2, 17)) + 500.0  # large logits do not overflow
    joint = _joint(logits)
    np.testing.assert_allclose(profile_probability(logits), joint.sum(axis=1), rtol=1e-12)
    np.testing.assert_allclose(
        profile_probability(logits, strands="each"), softmax(logits, axis=-1), rtol=1e-12
    )
    np.testing.assert_allclose(profile_probability(logits).sum(axis=1), 1.0, rtol=1e-12)
    with pytest.raises(OptionError, match="strands='both'"):
        profile_probability(logits, strands="both")
    with pytest.raises(ModelOutputError, match=r"got \(5, 2, 17, 1\)"):
        profile_probability(logits[..., None])


# ---------------------------------------------------------------- expected_counts
def test_expected_counts_by_hand() -> None:
    # 80 reads: 80 * (3/8 + 2/8) at position 1 of both strands; 80 over the whole profile
    np.testing.assert_allclose(expected_counts(TINY, np.log([[80.0]]), (1, 2)), [50.0])
    np.testing.assert_allclose(expected_counts(TINY, np.log([80.0]), None), [80.0])
    np.testing.assert_allclose(expected_counts(TINY, np.log([80.0]), (0, 1)), [30.0])


def test_expected_counts_matches_an_independent_formula() -> None:
    logits = RNG.normal(scale=2.0, size=(6, 2, 40))
    log_counts = RNG.normal(loc=5.0, size=(6, 1))
    reference = (_joint(logits) * np.exp(log_counts)[:, :, None])[:, :, 10:25].sum(axis=(1, 2))
    np.testing.assert_allclose(expected_counts(logits, log_counts, (10, 25)), reference, rtol=1e-12)
    big = expected_counts(logits + 800.0, log_counts, (10, 25))  # log-sum-exp: no overflow
    np.testing.assert_allclose(big, reference, rtol=1e-12)
    with pytest.raises(ModelOutputError, match=r"log counts of shape \(N,\) or \(N, 1\)"):
        expected_counts(logits, np.zeros((6, 2)), (10, 25))


# ---------------------------------------------------------------- js_distance
def test_js_distance_by_hand() -> None:
    np.testing.assert_allclose(js_distance(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])), [1.0])
    np.testing.assert_allclose(js_distance(np.array([[0.5, 0.5]]), np.array([[0.5, 0.5]])), [0.0])
    # p = (1, 0), q = (1/2, 1/2), m = (3/4, 1/4):
    # JSD = (log2(4/3) + (1/2) log2(2/3) + (1/2) log2(2)) / 2
    jsd = (np.log2(4 / 3) + 0.5 * np.log2(2 / 3) + 0.5 * np.log2(2)) / 2
    got = js_distance(np.array([[1.0, 0.0]]), np.array([[0.5, 0.5]]))
    np.testing.assert_allclose(got, [np.sqrt(jsd)], rtol=1e-12)


def test_js_distance_matches_scipy() -> None:
    p = profile_probability(RNG.normal(size=(7, 2, 30)), strands="each")
    q = profile_probability(RNG.normal(size=(7, 2, 30)), strands="each")
    p[0, 0, :5] = 0.0  # zeros: 0 log 0 = 0
    summed = [
        jensenshannon(a.sum(axis=0), b.sum(axis=0), base=2) for a, b in zip(p, q, strict=True)
    ]
    np.testing.assert_allclose(js_distance(p, q), summed, rtol=1e-10)
    each = [
        np.mean([jensenshannon(a[s], b[s], base=2) for s in range(2)])
        for a, b in zip(p, q, strict=True)
    ]
    np.testing.assert_allclose(js_distance(p, q, strands="each"), each, rtol=1e-10)
    flat = [jensenshannon(a, b, base=2) for a, b in zip(p[:, 0], q[:, 1], strict=True)]
    np.testing.assert_allclose(js_distance(p[:, 0], q[:, 1]), flat, rtol=1e-10)
    with pytest.raises(ModelOutputError, match="not logits"):
        js_distance(p - 0.5, q)
    with pytest.raises(ModelOutputError, match="of one shape"):
        js_distance(p, q[:, 0])


# ---------------------------------------------------------------- Output reductions
def test_output_expected_counts_and_log_fold_change() -> None:
    f = Output(head=0, counts_head=1, reduce="expected_counts", window=(1, 2))
    np.testing.assert_allclose(f.apply((TINY, np.log([[80.0]]))), [50.0])
    # the ICE of transform="log": the log fold change of the window's counts
    do = np.log([[[1.0, 6.0], [2.0, 2.0]]])  # 80 * (6/11 + 2/11) = 640/11
    log_f = Output(head=0, counts_head=1, reduce="expected_counts", window=(1, 2), transform="log")
    ice = log_f.apply((do, np.log([[80.0]]))) - log_f.apply((TINY, np.log([[80.0]])))
    np.testing.assert_allclose(ice, [np.log((640 / 11) / 50)], rtol=1e-12)
    # dict heads, the order of the keys does not matter
    by_key = Output(head="profile", counts_head="counts", reduce="expected_counts")
    np.testing.assert_allclose(by_key.apply({"counts": np.log([[8.0]]), "profile": TINY}), [8.0])


def test_output_probability_is_the_share_in_the_window() -> None:
    f = Output(head=0, reduce="probability", window=(1, 2))
    np.testing.assert_allclose(f.apply((TINY, np.zeros((1, 1)))), [5 / 8], rtol=1e-14)
    logits = RNG.normal(size=(4, 2, 12))
    logit = Output(reduce="probability", window=(3, 7), transform="logit").apply(logits)
    share = _joint(logits)[:, :, 3:7].sum(axis=(1, 2))
    np.testing.assert_allclose(logit, np.log(share / (1 - share)), rtol=1e-10)


def test_output_declaration_errors() -> None:
    with pytest.raises(OptionError, match="needs a window"):
        Output(reduce="probability")
    with pytest.raises(OptionError, match="needs head= .* and counts_head="):
        Output(head=0, reduce="expected_counts")
    with pytest.raises(OptionError, match="needs head= .* and counts_head="):
        Output(head=1, counts_head=1, reduce="expected_counts")
    with pytest.raises(OptionError, match="counts_head is only used by"):
        Output(head=0, counts_head=1, reduce="sum")
    with pytest.raises(OptionError, match="axis 1 holds strands"):
        Output(index=0, reduce="probability", window=(0, 3))
    with pytest.raises(OptionError, match="output head must be >= 0"):
        Output(head=-1)
    with pytest.raises(OptionError, match=r"0 <= start < stop"):
        Output(reduce="sum", window=(-5, 3))
    with pytest.raises(OptionError, match=r"0 <= start < stop"):
        Output(reduce="sum", window=(4, 4))
    with pytest.raises(OptionError, match="must be \\(start, stop\\)"):
        Output(reduce="sum", window=(1, 2, 3))


# ---------------------------------------------------------------- windows never clip
@pytest.mark.parametrize(
    "output",
    [
        Output(reduce="sum", window=(8, 13)),
        Output(index=1, reduce="mean", window=(0, 13)),
        Output(reduce="probability", window=(10, 13)),
        Output(head=0, counts_head=1, reduce="expected_counts", window=(5, 13)),
    ],
    ids=["sum", "mean-index", "probability", "expected_counts"],
)
def test_window_past_the_profile_end_is_an_error(output: Output) -> None:
    profile = np.zeros((3, 2, 12)) if output.reduce != "sum" else np.zeros((3, 12))
    raw = (profile, np.zeros((3, 1))) if output.head is not None else profile
    with pytest.raises(ModelOutputError, match=r"window \[\d+, 13\) ends past .* has 12 positions"):
        output.apply(raw)


def test_window_inside_the_profile_is_unchanged() -> None:
    raw = RNG.normal(size=(3, 12))
    np.testing.assert_array_equal(Output(reduce="sum", window=(0, 12)).apply(raw), raw.sum(axis=1))


# ---------------------------------------------------------------- heads through as_model
def _bpnet_like(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(profile logits (N, 2, L), log counts (N, 1)) of a one-hot NCL batch."""
    profile = np.stack([2.0 * x[:, 0, :], x[:, 3, :] - 1.0], axis=1)
    return profile, np.log1p(x[:, 2, :].sum(axis=1, keepdims=True))


def _reference(codes: np.ndarray, window: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    x = one_hot(codes, "NCL").astype(np.float64)
    logits = np.stack([2.0 * x[:, 0, :], x[:, 3, :] - 1.0], axis=1)
    log_counts = np.log1p(x[:, 2, :].sum(axis=1))
    share = _joint(logits)[:, :, window[0] : window[1]].sum(axis=(1, 2))
    return log_counts, np.exp(log_counts) * share


@pytest.mark.parametrize("container", ["tuple", "list", "dict"])
def test_plain_callable_heads_through_predict(container: str) -> None:
    codes = _codes(9, 30)
    log_counts, counts = _reference(codes, (10, 20))
    if container == "dict":
        fn = lambda x: dict(zip(("profile", "counts"), _bpnet_like(x), strict=True))  # noqa: E731
        heads: tuple[int | str, int | str] = ("profile", "counts")
    else:
        fn = lambda x: {"tuple": tuple, "list": list}[container](_bpnet_like(x))  # noqa: E731
        heads = (0, 1)
    count_head = as_model(fn, layout="NCL", output=Output(head=heads[1]))
    np.testing.assert_allclose(count_head.predict(codes), log_counts, rtol=1e-6)
    window = as_model(
        fn,
        layout="NCL",
        output={"head": heads[0], "counts_head": heads[1], "reduce": "expected_counts",
                "window": (10, 20)},
    )  # fmt: skip
    np.testing.assert_allclose(window.predict(codes), counts, rtol=1e-6)


def test_several_outputs_without_a_head_name_model_count_and_shapes() -> None:
    m = as_model(_bpnet_like, layout="NCL", name="bpnet")
    pattern = (
        r"model 'bpnet' returned a tuple of 2 outputs with shapes \(5, 2, 8\), \(5, 1\); "
        r"declare output=Output\(head=\.\.\.\)"
    )
    with pytest.raises(ModelOutputError, match=pattern):
        m.predict(_codes(5, 8))
    as_dict = as_model(lambda x: {"p": _bpnet_like(x)[0]}, layout="NCL", name="d")
    with pytest.raises(ModelOutputError, match=r"a dict of 1 outputs: 'p' \(5, 2, 8\)"):
        as_dict.predict(_codes(5, 8))
    arrays = as_model(lambda x: [x.sum(axis=(1, 2))] * 3, layout="NCL", name="l")
    with pytest.raises(ModelOutputError, match=r"a list of 3 outputs with shapes \(5,\)"):
        arrays.predict(_codes(5, 8))
    # a list of numbers stays one output, as before heads existed
    numbers = as_model(lambda x: [float(v) for v in x.sum(axis=(1, 2))], layout="NCL")
    np.testing.assert_allclose(numbers.predict(_codes(5, 8)), 8.0)


def test_head_errors_name_what_the_model_returned() -> None:
    codes = _codes(4, 8)
    with pytest.raises(ModelOutputError, match=r"head=2 is past the end: model 'b' returned a "):
        as_model(_bpnet_like, layout="NCL", name="b", output=Output(head=2)).predict(codes)
    with pytest.raises(ModelOutputError, match=r"head='counts' names a dict key"):
        as_model(_bpnet_like, layout="NCL", output=Output(head="counts")).predict(codes)
    as_dict = lambda x: dict(zip(("profile", "counts"), _bpnet_like(x), strict=True))  # noqa: E731
    with pytest.raises(ModelOutputError, match=r"'count' is not a key .*close: \['counts'\]"):
        as_model(as_dict, layout="NCL", output=Output(head="count")).predict(codes)
    with pytest.raises(ModelOutputError, match=r"head=0 is declared but model 'one' returned one"):
        one = as_model(lambda x: x.sum(axis=(1, 2)), layout="NCL", name="one", output={"head": 0})
        one.predict(codes)
    short = lambda x: (_bpnet_like(x)[0][:-1], _bpnet_like(x)[1])  # noqa: E731
    cut = as_model(short, layout="NCL", output=Output(head=0, reduce="sum", window=(0, 2)))
    with pytest.raises(ModelOutputError, match=r"shape \(3, 2, 8\) as head 0 for a batch of 4"):
        cut.predict(codes)


def test_torch_tuple_reaches_the_output_once() -> None:
    torch = pytest.importorskip("torch")
    from causalgia.engine import torch_model

    class TwoHeads(torch.nn.Module):
        def forward(self, x):
            return 2.0 * x[:, :2, :], x[:, 2, :].sum(dim=1, keepdim=True)

    codes = _codes(6, 16)
    x = one_hot(codes, "NCL").astype(np.float64)
    counts = as_model(TwoHeads(), layout="NCL", output=Output(head=1)).predict(codes)
    np.testing.assert_allclose(counts, x[:, 2, :].sum(axis=1))
    f = Output(head=0, counts_head=1, reduce="expected_counts", window=(4, 12), transform="log")
    got = as_model(TwoHeads(), layout="NCL", output=f).predict(codes)
    share = _joint(2.0 * x[:, :2, :])[:, :, 4:12].sum(axis=(1, 2))
    np.testing.assert_allclose(got, x[:, 2, :].sum(axis=1) + np.log(share), rtol=1e-6)
    # the adapter's own head picks first; a second head is refused, never applied twice
    picked = torch_model(TwoHeads(), layout="NCL", head=1)
    np.testing.assert_allclose(picked.predict(codes), x[:, 2, :].sum(axis=1))
    twice = torch_model(TwoHeads(), layout="NCL", head=1, output=Output(head=1))
    with pytest.raises(ModelOutputError, match=r"torch_model\(head=\) has already picked"):
        twice.predict(codes)


# ---------------------------------------------------------------- tasks by name
TASKS = ("K562", "HepG2", "GM12878")


def test_task_by_name() -> None:
    raw = RNG.normal(size=(5, 3))
    got = Output(task="HepG2", task_names=TASKS).apply(raw)
    np.testing.assert_array_equal(got, raw[:, 1])
    profile = RNG.normal(size=(5, 3, 10))
    got = Output(task="GM12878", task_names=list(TASKS), reduce="max", window=(2, 6)).apply(profile)
    np.testing.assert_array_equal(got, profile[:, 2, 2:6].max(axis=1))


def test_task_names_from_the_model_attribute() -> None:
    def basset(x: np.ndarray) -> np.ndarray:
        return np.stack([x[:, 0].sum(axis=1), x[:, 1].sum(axis=1), x[:, 2].sum(axis=1)], axis=1)

    basset.task_names = TASKS  # type: ignore[attr-defined]
    codes = _codes(6, 12)
    m = as_model(basset, layout="NCL", output={"task": "GM12878"})
    np.testing.assert_array_equal(m.predict(codes), (codes == 2).sum(axis=1))
    assert m.output.task_names == TASKS
    with pytest.raises(OptionError, match="needs the task names"):
        as_model(lambda x: x, layout="NCL", output=Output(task="K562"))


def test_unknown_task_lists_close_names() -> None:
    with pytest.raises(
        OptionError, match=r"'HepG3' is not one of the 3 .*close names: \['HepG2'\]"
    ):
        Output(task="HepG3", task_names=TASKS)
    with pytest.raises(OptionError, match=r"close names: \['HepG2'\]"):
        Output(task="hepg2", task_names=TASKS)
    with pytest.raises(OptionError, match="the first names are"):
        Output(task="liver", task_names=TASKS)
    with pytest.raises(OptionError, match="index or task, not both"):
        Output(index=0, task="K562", task_names=TASKS)
    with pytest.raises(OptionError, match=r"repeat \['K562'\]"):
        Output(task="K562", task_names=("K562", "K562"))
    with pytest.raises(ModelOutputError, match=r"task_names has 3 names but .*shape \(5, 4\)"):
        Output(task="K562", task_names=TASKS).apply(np.zeros((5, 4)))


# ---------------------------------------------------------------- unchanged declarations
def _old_run_output_repr() -> str:
    with sqlite3.connect(FIXTURES / "old_run" / "ledger.sqlite") as db:
        (value,) = db.execute("SELECT value FROM meta WHERE key = 'model'").fetchone()
    return json.loads(value)["output"]


def test_old_outputs_keep_their_repr() -> None:
    written = "Output(index=None, transform='identity', reduce='none', window=None)"
    assert _old_run_output_repr() == written  # what the old run's manifest recorded
    assert repr(Output()) == written
    assert repr(as_output({"index": 1, "reduce": "sum", "window": [3, 9], "transform": "exp"})) == (
        "Output(index=1, transform='exp', reduce='sum', window=(3, 9))"
    )
    assert repr(Output(head=1)) == (
        "Output(index=None, transform='identity', reduce='none', window=None, head=1)"
    )
    assert repr(Output(task="K562", task_names=TASKS)) == (
        "Output(index=None, transform='identity', reduce='none', window=None, task='K562', "
        "task_names=('K562', 'HepG2', 'GM12878'))"
    )


def test_old_output_declaration_hash_is_unchanged() -> None:
    m = as_model(
        lambda x: x[:, :2, :],
        layout="NCL",
        name="profile",
        output=Output(index=1, reduce="sum", window=(0, 3), transform="exp"),
    )
    declared = (
        "('profile', 'NCL', 'dna', Output(index=1, transform='exp', reduce='sum', "
        "window=(0, 3)), 0.0)"
    )
    assert m.probe(8).declaration == hashlib.sha256(declared.encode()).hexdigest()[:16]


# ---------------------------------------------------------------- the spec's [model] output
BASE = {
    "model": {"builtin": "rbp_oracle"},
    "background": {"kind": "iid", "length": 41},
    "experiment": [{"type": "identity"}],
}


def _spec_output(output: object) -> Output:
    raw = {**BASE, "model": {"callable": "bp:fn", "layout": "NCL", "output": output}}
    return parse_spec(raw).model.output


def test_spec_parses_the_new_output_keys() -> None:
    got = _spec_output(
        {"head": 0, "counts_head": 1, "reduce": "expected_counts", "window": [450, 550],
         "transform": "log"}
    )  # fmt: skip
    assert got == Output(
        head=0, counts_head=1, reduce="expected_counts", window=(450, 550), transform="log"
    )
    assert _spec_output({"head": "counts"}) == Output(head="counts")
    named = _spec_output({"task": "HepG2", "task_names": list(TASKS)})
    assert named == Output(task="HepG2", task_names=TASKS)


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ({"head": 1.5}, r"model\.output\.head = 1\.5 must be int or str"),
        ({"heads": 1}, r"unknown key model\.output\.heads; did you mean 'head'"),
        ({"task_names": ["a", 2]}, r"model\.output\.task_names = \['a', 2\] must be a list"),
        ({"task": "HepG3", "task_names": list(TASKS)}, r"model\.output: .*close names"),
        ({"reduce": "expected_counts", "head": 0}, r"model\.output: .*counts_head="),
        ({"window": [-1, 5], "reduce": "sum"}, r"model\.output\.window = \[-1, 5\]"),
    ],
)
def test_spec_output_errors_name_the_key(output: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _spec_output(output)


def test_spec_with_a_tuple_model_builds_and_predicts(tmp_path: Path) -> None:
    (tmp_path / "bp.py").write_text(
        textwrap.dedent(
            """
            import numpy as np

            def fn(x):
                profile = np.stack([2.0 * x[:, 0, :], x[:, 3, :] - 1.0], axis=1)
                return profile, np.log1p(x[:, 2, :].sum(axis=1, keepdims=True))
            """
        )
    )
    (tmp_path / "study.toml").write_text(
        textwrap.dedent(
            """
            [model]
            callable = "bp:fn"
            layout = "NCL"
            output = {head = 0, counts_head = 1, reduce = "expected_counts", window = [10, 20]}

            [background]
            kind = "iid"
            length = 30

            [[experiment]]
            type = "identity"
            """
        )
    )
    model = build_model(load_spec(tmp_path / "study.toml"))
    codes = _codes(7, 30)
    np.testing.assert_allclose(model.predict(codes), _reference(codes, (10, 20))[1], rtol=1e-6)
