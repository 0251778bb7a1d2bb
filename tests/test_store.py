"""The run store and the forward cache: ledger contents, identity checks, faults, non-finite
outputs, retries, streaming (collect=False) and bit-identity with the in-memory run."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from causalgia.engine.chunks import PROBE_SIZES
from causalgia.engine.declaration import as_model
from causalgia.engine.simulator import design_fingerprint, simulate
from causalgia.engine.store import STORE_FILE, ChunkRecord, ForwardCache, RunStore, sequence_digests
from causalgia.errors import ModelOutputError, OptionError, SimulationError, StoreError
from causalgia.experiment.backgrounds import iid
from causalgia.experiment.designs import Arm, design, sweep_positions
from causalgia.experiment.interventions import Identity, Substitute
from causalgia.stats.estimators import estimate_ace
from causalgia.testing import AdditiveOracle, FlakyModel, NaNModel


class Counting:
    """Wraps an oracle and counts the sequences it scores."""

    def __init__(self, base):
        self.base, self.rows, self.calls = base, 0, 0
        self.layout, self.alphabet, self.name = base.layout, base.alphabet, base.name

    def __call__(self, x):
        self.rows += len(x)
        self.calls += 1
        return self.base(x)


@pytest.fixture
def oracle():
    return AdditiveOracle.from_motif("GATAAG", length=40)


@pytest.fixture
def study():
    arms = sweep_positions("GATAAG", [0, 17, 30]) + [
        Arm("rc", Substitute("GATAAG", 8, "-"), "strand"),
        Arm("placebo", Identity(), "placebo"),
    ]
    return design(iid(40, gc=0.45), arms, n=230, rng=7)


def test_ledger_records_run_and_every_chunk(tmp_path, oracle, study):
    res = simulate(as_model(oracle), study, store=tmp_path, chunk_size=60)
    ref = simulate(as_model(oracle), study)
    pd.testing.assert_frame_equal(res.table, ref.table, check_exact=True)
    assert res.store == tmp_path and res.n_forward == ref.n_forward
    with RunStore(tmp_path, readonly=True) as store:
        identity = store.get("identity")
        assert identity["seed"] == 7 and identity["n"] == 230
        assert identity["model_fingerprint"] == res.model_fingerprint
        assert identity["design_fingerprint"] == design_fingerprint(study)
        assert set(store.get("versions")) >= {"causalgia", "numpy", "pandas", "python"}
        per = store.get("per_chunk")
        assert per == 10 and len(store.completed()) == 23 == store.get("n_chunks")
        assert store.totals()["n_forward"] == res.n_forward
        assert store.check() == []
        assert store.get("status") == "complete"
        assert list(store.events().kind) == ["start", "complete"]


def test_store_table_equals_memory_table_for_randomized_design(tmp_path, oracle):
    d = design(iid(40), sweep_positions("GATAAG", [3, 20]), n=500, kind="randomized", rng=2)
    ref = simulate(as_model(oracle), d)
    got = simulate(as_model(oracle), d, store=tmp_path, chunk_size=64)
    pd.testing.assert_frame_equal(ref.table, got.table, check_exact=True)
    again = simulate(as_model(oracle), d, store=tmp_path)  # everything from the ledger
    pd.testing.assert_frame_equal(ref.table, again.table, check_exact=True)


@pytest.mark.parametrize("batch_size", [1, 7, 1000])
def test_batch_sizes_bit_identical_with_store(tmp_path, oracle, study, batch_size):
    ref = simulate(as_model(oracle, batch_size=256), study).table
    got = simulate(as_model(oracle), study, batch_size=batch_size, store=tmp_path, chunk_size=99)
    pd.testing.assert_frame_equal(ref, got.table, check_exact=True)
    assert got.batch_size == batch_size


def test_auto_batch_size_probe_costs_no_extra_forward_pass(tmp_path, oracle):
    d = design(iid(40), sweep_positions("GATAAG", [3]), n=3000, rng=1)
    counting = Counting(oracle)
    res = simulate(as_model(counting), d, store=tmp_path)
    assert res.batch_size in PROBE_SIZES
    assert counting.rows == res.n_forward + 16  # 16 fingerprint probes, nothing else
    with RunStore(tmp_path, readonly=True) as store:
        assert store.get("batch_size") == res.batch_size
        assert "probe" in set(store.events().kind)
    declared = simulate(as_model(oracle, batch_size=33), d)
    assert declared.batch_size == 33
    pd.testing.assert_frame_equal(res.table, declared.table, check_exact=True)


def test_model_raising_names_run_directory_chunk_and_batch_and_keeps_work(tmp_path, oracle, study):
    counting = Counting(oracle)
    flaky = FlakyModel(counting, fail_on_call=4)
    model = as_model(flaky, batch_size=1000)
    with pytest.raises(SimulationError) as info:
        simulate(model, study, store=tmp_path, chunk_size=60)
    message = str(info.value)
    assert "chunk 3 (backgrounds 30..39) batch 0" in message and "injected" in message
    assert str(tmp_path) in message and "3 of 23 chunk(s)" in message
    with RunStore(tmp_path, readonly=True) as store:
        assert sorted(store.completed()) == [0, 1, 2]
        assert store.get("status") == "failed"
        assert "injected failure" in store.events().message.iloc[-1]
    res = simulate(model, study, store=tmp_path, chunk_size=60)
    ref = simulate(as_model(oracle), study)
    pd.testing.assert_frame_equal(res.table, ref.table, check_exact=True)
    # the failed call scored nothing; every unit was scored exactly once over both sessions
    # (plus the 16 fingerprint probes, computed once per Model object)
    assert counting.rows == ref.n_forward + 16 and res.n_forward == ref.n_forward


def test_retries_by_policy_are_logged_and_change_nothing(tmp_path, oracle, study):
    ref = simulate(as_model(oracle), study).table
    flaky = FlakyModel(oracle, fail_on_call=3, times=2)
    res = simulate(as_model(flaky, batch_size=64), study, store=tmp_path, retries=2, chunk_size=60)
    pd.testing.assert_frame_equal(ref, res.table, check_exact=True)
    with RunStore(tmp_path, readonly=True) as store:
        retries = store.events().query("kind == 'retry'")
        assert len(retries) == 2 and "retry 2 of 2" in retries.message.iloc[-1]
    with pytest.raises(SimulationError, match=r"after 1 retry"):
        simulate(as_model(FlakyModel(oracle, fail_on_call=3, times=2)), study, retries=1)


def test_changed_model_or_design_cannot_reuse_a_run_directory(tmp_path, oracle, study):
    simulate(as_model(oracle), study, store=tmp_path, chunk_size=500)
    other = AdditiveOracle.from_motif("GATAAT", length=40)
    with pytest.raises(StoreError, match=r"model_fingerprint.*the model changed"):
        simulate(as_model(other), study, store=tmp_path)
    with pytest.raises(StoreError, match=r"holds a run with seed = 7, but this run has 8"):
        simulate(as_model(oracle), study, rng=8, store=tmp_path)
    moved = design(iid(40, gc=0.45), sweep_positions("GATAAG", [1]), n=230, rng=7)
    with pytest.raises(StoreError, match=str(tmp_path) + r".*design_fingerprint"):
        simulate(as_model(oracle), moved, store=tmp_path)
    with pytest.raises(StoreError, match="n = 230"):
        simulate(
            as_model(oracle), design(iid(40, gc=0.45), study.arms, n=231, rng=7), store=tmp_path
        )


def test_a_run_directory_is_locked_while_in_use(tmp_path):
    with (
        RunStore(tmp_path),
        pytest.raises(StoreError, match=r"in use by another process \(pid \d+\)"),
    ):
        RunStore(tmp_path)
    RunStore(tmp_path).close()  # released on close
    with pytest.raises(StoreError, match="has no ledger"):
        RunStore(tmp_path / "nothing", readonly=True)


def test_damaged_chunk_is_detected(tmp_path, oracle, study):
    simulate(as_model(oracle), study, store=tmp_path, chunk_size=500)
    db = sqlite3.connect(tmp_path / STORE_FILE)
    db.execute("UPDATE chunks SET data = substr(data, 1, 200) || x'00' WHERE number = 0")
    db.commit()
    db.close()
    with RunStore(tmp_path) as store:
        assert store.check() == ["chunk 0: sha256 mismatch"]
        with pytest.raises(StoreError, match="chunk 0 fails its sha256 check"):
            store.chunk_values(0)


def test_put_chunk_is_all_or_nothing(tmp_path):
    with RunStore(tmp_path) as store:
        store.put_chunk(ChunkRecord(0, 0, 2, np.ones((2, 2)), n_forward=4))
        with pytest.raises(StoreError, match="chunk 0 is already in the ledger"):
            store.put_chunk(
                ChunkRecord(0, 0, 2, np.ones((2, 2)), n_forward=4, nonfinite=((0, 1, np.nan),)),
                [("main", "a")],
            )
        assert store.totals()["chunks"] == 1 and len(store.nonfinite()) == 0


def test_nonfinite_raise_names_units_run_directory_and_keeps_earlier_chunks(tmp_path, oracle):
    d = design(iid(40), sweep_positions("GATAAG", [10]), n=400, rng=1)
    model = as_model(NaNModel(oracle, prefix="AAA"))
    with pytest.raises(ModelOutputError) as info:
        simulate(model, d, store=tmp_path, chunk_size=20)
    message = str(info.value)
    assert "non-finite model output" in message and "background" in message
    assert str(tmp_path) in message
    with RunStore(tmp_path, readonly=True) as store:
        kept = sorted(store.completed())
        assert store.get("status") == "failed"
    first_bad = int(message.split("chunk ")[1].split(" ")[0])
    assert kept == list(range(first_bad))


def test_nonfinite_drop_records_counts_and_ids(tmp_path, oracle):
    d = design(iid(40), sweep_positions("GATAAG", [10]) + [Arm("p", Identity())], n=400, rng=1)
    model = as_model(NaNModel(oracle, prefix="AAA"))
    res = simulate(model, d, on_nonfinite="drop", store=tmp_path, chunk_size=100)
    mem = simulate(model, d, on_nonfinite="drop")
    pd.testing.assert_frame_equal(res.table, mem.table, check_exact=True)
    pd.testing.assert_frame_equal(res.nonfinite, mem.nonfinite, check_exact=True)
    bad = res.nonfinite
    assert len(bad) > 0 and set(bad.columns) == {"experiment", "label", "background_id", "value"}
    assert bad.value.isna().all()
    full = simulate(as_model(oracle), d).table
    dropped_bg = set(bad.loc[bad.label == "control", "background_id"])
    expect = full[~full.background_id.isin(dropped_bg)]
    do_bad = bad[bad.label != "control"]
    for row in do_bad.itertuples():
        expect = expect[
            ~((expect.label == row.label) & (expect.background_id == row.background_id))
        ]
    assert len(res.table) == len(expect) == len(full) - (len(full) - len(expect))
    assert np.isfinite(res.table[["y_control", "y_do", "ice"]].to_numpy()).all()
    with RunStore(tmp_path, readonly=True) as store:
        assert store.totals()["n_nonfinite"] == len(bad)
        assert sorted(store.nonfinite().background_id) == sorted(bad.background_id)
    ace = estimate_ace(res).to_frame().set_index("label")
    assert ace.loc["GATAAG@10+", "n"] == (res.table.label == "GATAAG@10+").sum()


def test_resume_after_nonfinite_failure_with_drop(tmp_path, oracle):
    d = design(iid(40), sweep_positions("GATAAG", [10]), n=400, rng=1)
    model = as_model(NaNModel(oracle, prefix="AAA"))
    with pytest.raises(ModelOutputError):
        simulate(model, d, store=tmp_path, chunk_size=20)
    res = simulate(model, d, store=tmp_path, on_nonfinite="drop")
    ref = simulate(model, d, on_nonfinite="drop")
    pd.testing.assert_frame_equal(res.table, ref.table, check_exact=True)
    with pytest.raises(ModelOutputError, match="dropped for non-finite outputs in an earlier"):
        simulate(model, d, store=tmp_path)  # raise policy never hides earlier drops


def test_collect_false_streams_the_table_from_the_store(tmp_path, oracle, study):
    ref = simulate(as_model(oracle), study).table
    res = simulate(as_model(oracle), study, store=tmp_path, collect=False, chunk_size=120)
    assert len(res.table) == 0 and list(res.table.columns) == list(ref.columns)
    with RunStore(tmp_path) as store:
        frames = list(store.iter_frames(study))
        assert len(frames) == len(store.completed())
        streamed = pd.concat(frames, ignore_index=True)
        key = ["experiment", "label", "background_id"]
        a = streamed.sort_values(key).reset_index(drop=True)
        b = ref.sort_values(key).reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b, check_exact=True)
        path = store.write_parquet(tmp_path / "ice.parquet", study)
    back = pd.read_parquet(path).sort_values(key).reset_index(drop=True)
    np.testing.assert_array_equal(back.ice.to_numpy(), b.ice.to_numpy())
    with pytest.raises(OptionError, match="collect=False"):
        simulate(as_model(oracle), study, collect=False)


def test_cache_skips_forward_passes_and_is_keyed_by_fingerprint(tmp_path, oracle, study):
    ref = simulate(as_model(oracle), study).table
    first_model = Counting(oracle)
    first = simulate(as_model(first_model), study, cache=tmp_path)
    assert first.n_cached == 0 and first_model.rows == first.n_forward + 16
    with ForwardCache(tmp_path) as cache:
        assert cache.count(first.model_fingerprint) == first.n_forward
    again_model = Counting(oracle)
    again = simulate(as_model(again_model), study, cache=tmp_path, batch_size=5)
    assert again.n_forward == 0 and again.n_cached == first.n_forward
    assert again_model.rows == 16  # only the fingerprint probes
    pd.testing.assert_frame_equal(again.table, ref, check_exact=True)
    # a second experiment on the same backgrounds: every control f(x) comes from the cache
    other = design(study.background, sweep_positions("GATAAG", [5]), n=study.n, rng=study.seed)
    second = simulate(as_model(oracle), other, cache=tmp_path)
    assert second.n_cached == study.n and second.n_forward == study.n
    pd.testing.assert_frame_equal(second.table, simulate(as_model(oracle), other).table)
    # a changed model (other weights) has another fingerprint: no stale hit
    changed = AdditiveOracle(oracle.weights * 1.5)
    fresh = simulate(as_model(changed), study, cache=tmp_path)
    assert fresh.n_cached == 0
    pd.testing.assert_frame_equal(fresh.table, simulate(as_model(changed), study).table)
    assert not np.array_equal(fresh.table.ice, ref.ice)
    # the same weights declared with another N value or layout are other models, too
    assert as_model(oracle, n_value=0.25).fingerprint(40) != as_model(oracle).fingerprint(40)
    with ForwardCache(tmp_path) as cache:
        assert cache.prune(keep=first.model_fingerprint) == fresh.n_forward
        assert cache.count() == cache.count(first.model_fingerprint)


def test_cache_never_stores_nonfinite_outputs(tmp_path, oracle):
    d = design(iid(40), sweep_positions("GATAAG", [10]), n=300, rng=1)
    model = as_model(NaNModel(oracle, prefix="AAA"))
    res = simulate(model, d, cache=tmp_path, on_nonfinite="drop")
    again = simulate(model, d, cache=tmp_path, on_nonfinite="drop")
    assert again.n_forward == len(res.nonfinite) > 0
    pd.testing.assert_frame_equal(res.table, again.table, check_exact=True)


def test_sequence_digests_depend_on_every_byte():
    codes = np.zeros((3, 50), dtype=np.uint8)
    codes[1, 49] = 1
    digests = sequence_digests(codes)
    assert digests[0] != digests[1] and digests[0] == digests[2]
    assert sequence_digests(np.zeros((1, 51), dtype=np.uint8))[0] != digests[0]


def test_importing_the_store_and_simulator_does_not_import_dask():
    code = (
        "import sys, causalgia, causalgia.engine, causalgia.studies; "
        "print([m for m in ('dask', 'distributed') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_model_from_import_path(tmp_path):
    from causalgia.engine.declaration import from_import_path
    from causalgia.engine.models import ModelSource
    from causalgia.errors import ConfigError
    from causalgia.studies.runner import build_model
    from causalgia.studies.spec import parse_spec
    from causalgia.testing import RBPOracle

    model = from_import_path("causalgia.testing:RBPOracle")
    assert model.source == ModelSource("causalgia.testing:RBPOracle")
    assert model.fingerprint(41) == as_model(RBPOracle()).fingerprint(41) and model.auto_batch
    with pytest.raises(OptionError, match="must look like 'package.module:attr'"):
        from_import_path("causalgia.testing")
    with pytest.raises(OptionError, match="cannot import 'no_such_module_xyz'"):
        from_import_path("no_such_module_xyz:build")
    (tmp_path / "mk_model.py").write_text(
        "from causalgia import as_model\nfrom causalgia.testing import RBPOracle\n"
        "def build():\n    return as_model(RBPOracle(), batch_size=9)\n"
    )
    built = from_import_path("mk_model:build", path=str(tmp_path))
    assert built.batch_size == 9 and not built.auto_batch and built.source.path == str(tmp_path)
    with pytest.raises(OptionError, match="existing Model"):
        from_import_path("mk_model:build", path=str(tmp_path), layout="NLC")
    raw = {
        "model": {"factory": "mk_model:build"},
        "background": {"kind": "iid", "length": 41},
        "experiment": [{"type": "identity"}],
    }
    spec = parse_spec(raw, tmp_path)
    assert build_model(spec).source.target == "mk_model:build"
    raw["model"] = {"factory": "mk_model:nothing"}
    with pytest.raises(ConfigError, match="model.factory: .*has no 'nothing'"):
        build_model(parse_spec(raw, tmp_path))
    raw["model"] = {"factory": "mk_model:build", "builtin": "rbp_oracle"}
    with pytest.raises(ConfigError, match="exactly one of"):
        parse_spec(raw, tmp_path)


@pytest.mark.parametrize(
    "study,message",
    [
        ({"on_nonfinite": "ignore"}, "choose 'raise' or 'drop'"),
        ({"retries": -1}, r"study.retries = -1 is out of range"),
        ({"chunk_size": 0}, r"study.chunk_size = 0 is out of range"),
        ({"dask": 3}, "study.dask = 3 must be str"),
    ],
)
def test_spec_scale_keys_are_checked(study, message):
    from causalgia.errors import ConfigError
    from causalgia.studies.spec import parse_spec

    raw = {
        "study": study,
        "model": {"builtin": "rbp_oracle"},
        "background": {"kind": "iid", "length": 41},
        "experiment": [{"type": "identity"}],
    }
    with pytest.raises(ConfigError, match=message):
        parse_spec(raw)


def test_a_damaged_forward_cache_is_a_store_error_naming_the_file(tmp_path, oracle, study):
    simulate(as_model(oracle), study, cache=tmp_path)
    path = tmp_path / "forward_cache.sqlite"
    with ForwardCache(tmp_path) as cache:  # checkpoint the write-ahead log into the file
        cache.count()
    data = bytearray(path.read_bytes())
    assert len(data) > 8192
    data[4096:8192] = bytes(range(256)) * 16  # garbage over the table's pages
    path.write_bytes(bytes(data))
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"forward_cache.sqlite{suffix}").unlink(missing_ok=True)
    with pytest.raises(StoreError, match=r"forward cache .*forward_cache\.sqlite"):
        simulate(as_model(oracle), study, cache=tmp_path)
