"""Scale-out on Dask: 2 workers give the serial table bit for bit, the model is built once per
worker from its import path, a worker with other weights is refused, and Dask runs resume."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("distributed")

from distributed import Client, LocalCluster  # noqa: E402

from causalgia.engine.declaration import as_model, from_import_path  # noqa: E402
from causalgia.engine.simulator import simulate  # noqa: E402
from causalgia.engine.store import RunStore  # noqa: E402
from causalgia.errors import SimulationError  # noqa: E402
from causalgia.experiment.backgrounds import iid  # noqa: E402
from causalgia.experiment.designs import design, sweep_positions  # noqa: E402
from causalgia.testing import AdditiveOracle, FlakyModel  # noqa: E402

FACTORY = '''
import os
from pathlib import Path
import numpy as np
from causalgia.testing import AdditiveOracle

HERE = Path(__file__).parent


def build():
    """Loads its 'weights' (a scale) from scale.txt and logs the build's pid."""
    with open(HERE / "builds.txt", "a") as fh:
        fh.write(f"{os.getpid()}\\n")
    scale = float((HERE / "scale.txt").read_text())
    base = AdditiveOracle.from_motif("GATAAG", length=40)
    return AdditiveOracle(base.weights * scale)
'''


@pytest.fixture(scope="module")
def client():
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as c,
    ):
        yield c


@pytest.fixture
def factory(tmp_path):
    """A fresh module per test (worker processes cache imported modules across tests)."""
    name = f"dask_factory_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(FACTORY)
    (tmp_path / "scale.txt").write_text("1.0")
    return tmp_path, f"{name}:build"


@pytest.fixture
def study():
    return design(iid(40), sweep_positions("GATAAG", [0, 11, 30]), n=900, rng=4)


def _serial(study):
    return simulate(as_model(AdditiveOracle.from_motif("GATAAG", length=40)), study).table


def test_two_workers_bit_identical_and_model_built_once_per_worker(client, factory, study):
    factory_dir, target = factory
    model = from_import_path(target, path=str(factory_dir), layout="NCL", name="additive_oracle")
    got = simulate(model, study, client=client, chunk_size=200, batch_size=64)
    serial = simulate(as_model(AdditiveOracle.from_motif("GATAAG", length=40)), study)
    pd.testing.assert_frame_equal(got.table, serial.table, check_exact=True)
    builds = (factory_dir / "builds.txt").read_text().split()
    workers = [pid for pid in builds if int(pid) != os.getpid()]
    assert len(set(workers)) == len(workers) <= 2  # once per worker process, not per task
    assert len(got.table) == 3 * 900 and got.n_forward == serial.n_forward
    # a second run reuses the workers' models: no new build
    simulate(model, study, client=client, chunk_size=150, batch_size=7)
    assert (factory_dir / "builds.txt").read_text().split() == builds


def test_worker_with_other_weights_is_refused(client, factory, study):
    factory_dir, target = factory
    model = from_import_path(target, path=str(factory_dir), layout="NCL")
    (factory_dir / "scale.txt").write_text("2.0")  # the workers will load other weights
    with pytest.raises(SimulationError, match="do not see the same code or weights"):
        simulate(model, study, client=client, batch_size=64)


def test_pickled_model_and_auto_batch_on_cluster(client, study, tmp_path):
    oracle = AdditiveOracle.from_motif("GATAAG", length=40)
    got = simulate(as_model(oracle), study, client=client, chunk_size=300, store=tmp_path)
    pd.testing.assert_frame_equal(got.table, _serial(study), check_exact=True)
    with RunStore(tmp_path, readonly=True) as store:
        assert store.check() == [] and len(store.completed()) == store.get("n_chunks") == 12
        assert store.get("batch_size") == got.batch_size


def test_failure_on_worker_keeps_work_and_dask_resume_matches_serial(client, study, tmp_path):
    oracle = AdditiveOracle.from_motif("GATAAG", length=40)
    flaky = as_model(FlakyModel(oracle, fail_on_call=3), batch_size=1000)
    with pytest.raises(SimulationError, match=r"chunk \d+ \(backgrounds .*injected") as info:
        simulate(flaky, study, store=tmp_path, chunk_size=100)  # serial: fails at chunk 2
    assert str(tmp_path) in str(info.value)
    named = as_model(oracle, batch_size=1000, name="flaky_model")  # same fingerprint
    got = simulate(named, study, client=client, store=tmp_path)
    pd.testing.assert_frame_equal(got.table, _serial(study), check_exact=True)
    with RunStore(tmp_path, readonly=True) as store:
        assert store.check() == [] and store.totals()["n_forward"] == got.n_forward


def test_spec_with_dask_address(client, tmp_path):
    from causalgia.studies.runner import run_study
    from causalgia.studies.spec import parse_spec

    raw = {
        "study": {"n": 120, "seed": 2, "chunk_size": 60, "batch_size": 50},
        "model": {"builtin": "additive_oracle", "motif": "GATA", "length": 30},
        "background": {"kind": "iid", "length": 30},
        "experiment": [{"type": "positions", "motif": "GATA", "positions": [0, 10]}],
    }
    serial = run_study(parse_spec(raw), tmp_path / "serial", figures=False)
    raw["study"]["dask"] = client.scheduler.address
    spread = run_study(parse_spec(raw), tmp_path / "dask", figures=False)
    pd.testing.assert_frame_equal(serial.result.table, spread.result.table, check_exact=True)
    assert Path(tmp_path / "dask" / "ledger.sqlite").is_file()


def test_spec_dask_value_errors():
    from causalgia.errors import ConfigError
    from causalgia.studies.runner import _dask_client

    with pytest.raises(ConfigError, match="local:N"), _dask_client("local:0"):
        pass


ULP_FACTORY = '''
from pathlib import Path
from causalgia.testing import AdditiveOracle, UlpModel

HERE = Path(__file__).parent


def build():
    """float32 outputs, moved by the number of ULPs in ulps.txt (a thread count, in effect)."""
    ulps = int((HERE / "ulps.txt").read_text())
    return UlpModel(AdditiveOracle.from_motif("GATAAG", length=40), ulps=ulps)
'''


def test_workers_whose_float32_outputs_differ_by_one_ulp_are_accepted(client, study, tmp_path):
    """As a float32 model under 1 and 2 BLAS threads: the probes differ in the last bit only."""
    name = f"ulp_factory_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(ULP_FACTORY)
    (tmp_path / "ulps.txt").write_text("0")
    model = from_import_path(f"{name}:build", path=str(tmp_path), layout="NCL")
    (tmp_path / "ulps.txt").write_text("1")  # the workers' copies round differently
    got = simulate(model, study, client=client, batch_size=64, store=tmp_path / "run")
    serial = simulate(model, study).table
    assert got.model_fingerprint == model.fingerprint(40)
    pd.testing.assert_frame_equal(got.table, serial, check_exact=False, rtol=1e-6, atol=1e-6)
    assert not got.table["y_do"].equals(serial["y_do"])  # the workers' bits did differ
