"""Several named outputs in one simulation (issue 12): one forward pass per sequence whatever
the number of outputs, an ``output`` column in the unit and ACE tables, and per-output estimates
that recover planted effects known in closed form."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from causalgia.engine import Output, OutputSet, RunStore, as_model, simulate
from causalgia.errors import OptionError
from causalgia.experiment.backgrounds import iid
from causalgia.experiment.designs import design, sweep_positions
from causalgia.sequences.alphabet import encode
from causalgia.stats import estimate_ace

LENGTH = 30
TASKS = ["HepG2", "K562", "GM12878"]
MOTIFS = {"HepG2": ("GATA", [3, 12]), "K562": ("CACGTG", [8]), "GM12878": ("TTTT", [20])}


def _weights() -> np.ndarray:
    """Per task a position-specific weight matrix (4, L) with its motif planted at its sites."""
    rng = np.random.default_rng(5)
    w = rng.normal(0.0, 0.05, size=(len(TASKS), 4, LENGTH))
    for t, task in enumerate(TASKS):
        motif, sites = MOTIFS[task]
        codes = encode([motif])[0]
        for site in sites:
            w[t, codes, site + np.arange(len(motif))] += 1.0 + t
    return w


def _network(w: np.ndarray):
    """A multi-task torch network: f_t(x) = sum over bases and positions of W_t * x."""
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4 * LENGTH, len(TASKS)))
    with torch.no_grad():
        net[1].weight.copy_(torch.from_numpy(w.reshape(len(TASKS), -1)))
        net[1].bias.zero_()
    return net.double()


def _true_ace(w: np.ndarray, motif: str, position: int) -> np.ndarray:
    """Exact ACE per task of writing ``motif`` at ``position`` into uniform iid backgrounds."""
    codes = encode([motif])[0]
    sites = position + np.arange(len(motif))
    return (w[:, codes, sites] - w[:, :, sites].mean(axis=1)).sum(axis=1)


@pytest.fixture(scope="module")
def study():
    w = _weights()
    arms = [a for task in TASKS for a in sweep_positions(MOTIFS[task][0], MOTIFS[task][1])]
    d = design(iid(LENGTH), arms, n=400, rng=11)
    model = as_model(_network(w), layout="NCL", outputs="tasks", task_names=TASKS)
    return w, d, model, simulate(model, d, progress=False)


def test_outputs_cost_the_forward_passes_of_one(study):
    _, d, _, result = study
    one = simulate(as_model(_network(_weights()), layout="NCL", output=0), d, progress=False)
    assert result.n_forward == one.n_forward  # T = 3 outputs, the passes of one
    # every control, and every arm that edits its background (not one that finds its motif
    # already in place, which reuses f(x)): within 1% of (arms + 1) * n here
    assert 0.99 * (len(d.arms) + 1) * d.n < result.n_forward <= (len(d.arms) + 1) * d.n
    assert result.outputs == tuple(TASKS)


def test_unit_table_has_an_output_column_block_by_block(study):
    _, d, _, result = study
    table = result.table
    assert list(table.columns[:3]) == ["experiment", "label", "output"]
    assert len(table) == len(TASKS) * len(d.arms) * d.n
    assert table["output"].drop_duplicates().tolist() == TASKS


def test_planted_effects_are_recovered_per_output(study):
    w, _, _, result = study
    ace = estimate_ace(result).to_frame()
    assert list(ace.columns[:3]) == ["experiment", "label", "output"]
    truth = np.array([
        _true_ace(w, r.motif, r.position)[TASKS.index(r.output)] for r in ace.itertuples()
    ])  # fmt: skip
    inside = (ace["ci_low"] <= truth) & (truth <= ace["ci_high"])
    # 12 intervals at 95% from one set of backgrounds: at most 2 misses (P(>= 3) < 2%)
    assert inside.sum() >= len(ace) - 2, ace.assign(truth=truth)
    assert (np.abs(ace["ace"] - truth) < 4 * ace["se"]).all()
    planted = ace[ace.apply(lambda r: MOTIFS[r["output"]][0] == r["motif"], axis=1)]
    assert (planted["ace"] > 0.9).all() and (planted["q_value"] < 1e-6).all()


def test_each_output_equals_its_own_single_output_study(study):
    _, d, _, result = study
    multi = estimate_ace(result).to_frame()
    for t, task in enumerate(TASKS):
        alone = simulate(as_model(_network(_weights()), layout="NCL", output=t), d, progress=False)
        mine = multi[multi["output"] == task].drop(columns="output").reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, estimate_ace(alone).to_frame(), check_exact=True)


def test_a_multi_output_run_resumes_from_its_ledger(tmp_path):
    w = _weights()
    d = design(iid(LENGTH), sweep_positions("GATA", [3, 12]), n=60, rng=2)
    model = as_model(_network(w), layout="NCL", outputs={"a": 0, "b": Output(index=2)})
    first = simulate(model, d, progress=False, store=tmp_path, chunk_size=50)
    again = simulate(model, d, progress=False, store=tmp_path, chunk_size=50)
    pd.testing.assert_frame_equal(first.table, again.table, check_exact=True)
    with RunStore(tmp_path) as ledger:
        assert ledger.outputs() == ("a", "b") and ledger.check() == []
        streamed = pd.concat(list(ledger.iter_frames(d)))
    assert len(streamed) == len(first.table) and set(streamed["output"]) == {"a", "b"}


def test_declarations_and_what_is_not_supported_yet_are_clear_errors(tmp_path):
    net = _network(_weights())
    with pytest.raises(OptionError, match="output= .* or outputs= .*not both"):
        as_model(net, layout="NCL", output=0, outputs="tasks", task_names=TASKS)
    with pytest.raises(OptionError, match="needs the task names"):
        as_model(net, layout="NCL", outputs="tasks")
    with pytest.raises(OptionError, match="unique"):
        OutputSet(("a", "a"), (Output(), Output()))
    model = as_model(net, layout="NCL", outputs="tasks", task_names=TASKS)
    d = design(iid(LENGTH), sweep_positions("GATA", [3]), n=20, rng=1)
    with pytest.raises(OptionError, match="3 outputs.*forward cache"):
        simulate(model, d, cache=tmp_path)
    with pytest.raises(OptionError, match="on_nonfinite"):
        simulate(model, d, on_nonfinite="drop")
    randomized = design(iid(LENGTH), sweep_positions("GATA", [3]), n=20, rng=1, kind="randomized")
    with pytest.raises(OptionError, match="randomized"):
        simulate(model, randomized)


def test_the_fingerprint_of_one_output_is_unchanged_and_outputs_change_it():
    net = _network(_weights())
    single = as_model(net, layout="NCL", output=0)
    multi = as_model(net, layout="NCL", outputs={"HepG2": 0})
    assert single.fingerprint(LENGTH) != multi.fingerprint(LENGTH)
    assert multi.predict(encode(["A" * LENGTH])).shape == (1, 1)


def _profile_model(x: np.ndarray):
    """A two-head profile model on NCL one-hot: strand-shifted G peaks and a G count."""
    g = x[:, 2, :].astype(np.float64)
    logits = np.stack([np.roll(g, -2, axis=1) * 2.0, np.roll(g, 2, axis=1) * 2.0], axis=1)
    return logits, g.sum(axis=1, keepdims=True)


def test_shape_change_is_the_js_distance_of_each_edit_to_its_own_control():
    from scipy.spatial.distance import jensenshannon
    from scipy.special import softmax

    from causalgia.engine.outputs import ShapeChange
    from causalgia.sequences.alphabet import one_hot

    model = as_model(_profile_model, layout="NCL", outputs={
        "counts": {"head": 1}, "shape": ShapeChange(head=0, window=(5, 35))})  # fmt: skip
    d = design(iid(40), sweep_positions("GGGG", [10, 20]), n=25, rng=3)
    result = simulate(model, d, progress=False)
    shape = result.table[result.table["output"] == "shape"]
    assert (shape["y_control"] == 0.0).all()
    for arm in d.arms:
        rows = shape[shape["label"] == arm.label].sort_values("background_id")
        ids = rows["background_id"].to_numpy()
        control = d.background.generate(ids, d.seed)
        edited = arm.intervention.apply_keyed(control, arm.keys(d.seed, ids))
        expected = []
        for a, b in zip(edited, control, strict=True):
            p, q = (softmax(_profile_model(one_hot(s[None], "NCL"))[0][0].ravel()).reshape(2, 40)
                    .sum(axis=0)[5:35] for s in (a, b))  # fmt: skip
            expected.append(jensenshannon(p, q, base=2))
        np.testing.assert_allclose(rows["ice"].to_numpy(), expected, rtol=1e-9, atol=1e-12)
    ace = estimate_ace(result).to_frame()
    assert set(ace["output"]) == {"counts", "shape"} and (ace["ace"] > 0).all()


def test_shape_change_needs_a_window():
    from causalgia.engine.outputs import ShapeChange

    with pytest.raises(OptionError, match="window"):
        ShapeChange(head=0)
    with pytest.raises(OptionError, match="head and window"):
        as_model(_profile_model, layout="NCL",
                 outputs={"s": {"reduce": "shape_change", "head": 0, "transform": "log"}})


def test_summary_and_repr_name_the_output(study):
    _, _, _, result = study
    ace = estimate_ace(result)
    assert "position / GATA@3+ [K562]: ace=" in ace.summary()
    assert "largest |ACE|: position / " in repr(ace) and "] = +" in repr(ace)


def test_an_onnx_graph_with_two_outputs_gives_named_outputs_from_one_pass(tmp_path):
    import warnings

    from causalgia.engine.adapters import onnx_model

    class TwoHeads(torch.nn.Module):
        def forward(self, x):
            g = x[:, 2, :]
            return torch.stack([torch.roll(g, -2, 1), torch.roll(g, 2, 1)], 1) * 2.0, g.sum(
                1, keepdim=True)

    path = tmp_path / "two.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(TwoHeads().eval(), torch.zeros(2, 4, 40), str(path), dynamo=False,
                          input_names=["x"], output_names=["profile", "counts"],
                          dynamic_axes={"x": {0: "n"}, "profile": {0: "n"}, "counts": {0: "n"}})
    with pytest.raises(OptionError, match='output_name="all"'):
        onnx_model(path, layout="NCL")
    graph = onnx_model(path, layout="NCL", output_name="all")
    model = as_model(graph, outputs={"counts": Output(head="counts"),
                                     "centre": Output(head="profile", counts_head="counts",
                                                      reduce="expected_counts", window=(15, 25))})
    reference = as_model(_profile_model, layout="NCL", outputs={
        "counts": Output(head=1),
        "centre": Output(head=0, counts_head=1, reduce="expected_counts", window=(15, 25))})
    d = design(iid(40), sweep_positions("GGGG", [10, 20]), n=20, rng=3)
    got, want = simulate(model, d, progress=False), simulate(reference, d, progress=False)
    assert got.n_forward == want.n_forward
    np.testing.assert_allclose(got.table["ice"], want.table["ice"], rtol=1e-5, atol=1e-5)


def test_a_torch_module_names_its_tasks_for_outputs_tasks():
    net = _network(_weights())
    net.task_names = TASKS  # the names on the network, as Output(task=...) reads them
    model = as_model(net, layout="NCL", outputs="tasks")
    assert model.outputs.names == tuple(TASKS)
