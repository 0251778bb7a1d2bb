"""Fast pooled fits (issue 14 item 5): the default sampler, the cache of compiled models, and
that neither changes the posterior.

No test here is timed: speed is measured by benchmarks/bench_hierarchical.py
(docs/performance.md). These tests check what the speed-up must not break: one compilation
per model structure, the same draws for the same seed whatever ran before, and agreement of
nutpie and PyMC within Monte-Carlo error.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from causalgia.errors import OptionError
from causalgia.pooling import samplers
from causalgia.pooling.effectmodel import _model, _model_data, _model_key
from causalgia.pooling.effectstats import _structure
from causalgia.pooling.hierarchical import fit_hierarchical

pytest.importorskip("pymc")
needs_nutpie = pytest.mark.skipif(
    not samplers.nutpie_installed(), reason="nutpie is not installed (pip install nutpie)"
)

QUICK = dict(draws=300, tune=300, chains=2, diagnostics="ignore")


def table(seed: int, n: int = 8, prefix: str = "c") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    se = rng.uniform(0.2, 0.5, n)
    return pd.DataFrame(
        {"experiment": "e", "label": [f"{prefix}{j}" for j in range(n)],
         "position": np.arange(n), "ace": rng.normal(0.3, 0.4, n) + se * rng.normal(size=n),
         "se": se}
    )  # fmt: skip


def curve_table(seed: int, n: int = 12, se: float = 0.05) -> pd.DataFrame:
    """A smooth bump over n positions plus N(0, se) noise."""
    rng = np.random.default_rng(seed)
    x = np.arange(n)
    truth = 0.1 + 0.4 * np.exp(-(((x - n / 2) / 2.5) ** 2))
    return pd.DataFrame({"experiment": "e", "label": [f"p{j}" for j in x], "position": x,
                         "ace": truth + rng.normal(0.0, se, n), "se": se})  # fmt: skip


def structure(data: pd.DataFrame, **options):
    kw = dict(by=("experiment", "label"), within=(), groups=(), curve=None, effects="normal",
              nu=4.0, prior_scale=None, tau=None, likelihood="summary",
              parameterization="auto", se="auto")  # fmt: skip
    return _structure(data, **{**kw, **options})


def draws_of(fit) -> dict[str, np.ndarray]:
    post = fit.idata.posterior
    return {name: post[name].to_numpy() for name in post.data_vars}


# -- which sampler runs ------------------------------------------------------------------------


def test_auto_is_nutpie_when_installed_and_pymc_otherwise(monkeypatch):
    assert samplers.resolve_sampler("auto") == ("nutpie" if samplers.nutpie_installed() else "pymc")
    monkeypatch.setattr(samplers, "nutpie_installed", lambda: False)
    assert samplers.resolve_sampler("auto") == "pymc"
    with pytest.raises(OptionError, match="sampler='nutpie' needs the nutpie package"):
        samplers.resolve_sampler("nutpie")
    with pytest.raises(OptionError, match="sampler='stan'"):
        samplers.resolve_sampler("stan")
    fit = fit_hierarchical(table(1), random_seed=1, draws=50, tune=50, chains=2,
                           diagnostics="ignore")  # fmt: skip
    assert fit.settings["sampler"] == "pymc"  # the fallback without nutpie


def test_cores_default_to_one_thread_per_chain_for_nutpie_and_one_process_for_pymc():
    cpus = samplers.usable_cpus()
    assert samplers.resolve_cores(None, 4, "nutpie") == min(4, cpus)
    assert samplers.resolve_cores(None, 4, "pymc") == 1
    assert samplers.resolve_cores(3, 4, "pymc") == 3
    with pytest.raises(OptionError, match="cores"):
        samplers.resolve_cores(0, 4, "nutpie")


# -- the structure key and the data containers -------------------------------------------------


def test_model_key_holds_the_structure_and_not_the_data():
    a, b = structure(table(1)), structure(table(2, prefix="x"))
    assert _model_key(a) == _model_key(b)  # other labels, means, SEs and prior scale
    assert a.settings["prior_scale"] != b.settings["prior_scale"]
    assert _model_key(structure(table(1, n=9))) != _model_key(a)
    assert _model_key(structure(table(1), tau=0.3)) != _model_key(a)
    curve = structure(table(1), curve="position")
    moved = structure(table(1).assign(position=np.arange(8) * 2), curve="position")
    assert _model_key(curve) != _model_key(a) and _model_key(moved) != _model_key(curve)
    data = _model_data(a)
    assert sorted(data) == ["ace_obs", "prior_scale", "se_obs"]
    model = _model(a)
    assert {"ace_obs", "se_obs", "prior_scale"} <= set(model.named_vars)


# -- the cache -----------------------------------------------------------------------------------


def test_a_second_fit_of_the_same_structure_does_not_recompile(monkeypatch):
    samplers.clear_model_cache()
    compiled = []
    real = samplers.compile_nutpie
    monkeypatch.setattr(samplers, "compile_nutpie", lambda m: compiled.append(m) or real(m))
    before = samplers.cache_info()
    first = fit_hierarchical(table(1), random_seed=1, **QUICK)
    second = fit_hierarchical(table(2, prefix="x"), random_seed=1, **QUICK)
    after = samplers.cache_info()
    assert after["builds"] - before["builds"] == 1 and after["hits"] - before["hits"] == 1
    nutpie = first.settings["sampler"] == "nutpie"
    assert len(compiled) == after["compilations"] - before["compilations"] == int(nutpie)
    # the reused model carries the second table's labels, means and prior scale
    frame = second.to_frame()
    assert frame["label"].tolist() == [f"x{j}" for j in range(8)]
    assert second.idata.posterior["theta"].coords["condition"].values[0] == "e / x0"
    assert second.settings["prior_scale"] == structure(table(2)).settings["prior_scale"]
    assert second.settings["prior_scale"] != first.settings["prior_scale"]
    assert not np.allclose(frame["post_mean"], first.to_frame()["post_mean"])
    samplers.clear_model_cache()  # the second table fitted by a model built for it alone
    alone = fit_hierarchical(table(2, prefix="x"), random_seed=1, **QUICK)
    for name, values in draws_of(alone).items():
        np.testing.assert_array_equal(draws_of(second)[name], values, err_msg=name)
    after = samplers.cache_info()
    other = structure(table(1, n=9))  # another structure: built anew
    samplers.model_entry(_model_key(other), lambda: _model(other))
    assert samplers.cache_info()["builds"] - after["builds"] == 1


def test_same_seed_same_draws_whatever_was_fitted_before():
    samplers.clear_model_cache()
    a1 = fit_hierarchical(table(1), random_seed=7, **QUICK)
    fit_hierarchical(table(2), random_seed=8, **QUICK)  # same structure, other data
    a2 = fit_hierarchical(table(1), random_seed=7, **QUICK)
    samplers.clear_model_cache()
    a3 = fit_hierarchical(table(1), random_seed=7, **QUICK)  # compiled afresh
    for other in (a2, a3):
        for name, values in draws_of(a1).items():
            np.testing.assert_array_equal(draws_of(other)[name], values, err_msg=name)
        pd.testing.assert_frame_equal(other.to_frame(), a1.to_frame())


@needs_nutpie
def test_nutpie_draws_do_not_depend_on_the_number_of_cores():
    one = fit_hierarchical(table(3), random_seed=2, cores=1, **QUICK)
    two = fit_hierarchical(table(3), random_seed=2, cores=2, **QUICK)
    assert one.settings["sampler"] == "nutpie"
    for name, values in draws_of(one).items():
        np.testing.assert_array_equal(draws_of(two)[name], values, err_msg=name)


@needs_nutpie
def test_light_nutpie_compile_gives_the_same_draws_as_nutpies_own():
    import nutpie

    if not nutpie.__version__.startswith(samplers.LIGHT_NUTPIE):
        pytest.skip(f"nutpie {nutpie.__version__}: compile_nutpie is nutpie's own compile")
    import pytensor

    model = _model(structure(table(4)))
    runs = []
    for compile_ in (samplers.compile_nutpie, nutpie.compile_pymc_model):
        with samplers._quiet(), pytensor.config.change_flags(numba__fastmath=False):
            compiled = compile_(model)
        runs.append(nutpie.sample(compiled, draws=200, tune=200, chains=2, seed=3, cores=1,
                                  progress_bar=False).posterior)  # fmt: skip
    assert set(runs[0].data_vars) == set(runs[1].data_vars)
    for name in runs[0].data_vars:
        np.testing.assert_array_equal(runs[0][name].to_numpy(), runs[1][name].to_numpy())


# -- posterior quality -------------------------------------------------------------------------


@needs_nutpie
@pytest.mark.parametrize("curve", [None, "position"], ids=["exchangeable", "rw"])
def test_nutpie_and_pymc_posteriors_agree_within_monte_carlo_error(curve):
    data = table(5, n=12) if curve is None else curve_table(5)
    kw = dict(draws=1000, tune=1000, chains=2, random_seed=4, diagnostics="raise", curve=curve)
    fits = {name: fit_hierarchical(data, sampler=name, **kw) for name in ("nutpie", "pymc")}
    a, b = fits["nutpie"].to_frame(), fits["pymc"].to_frame()
    mcse = np.sqrt(a["post_sd"] ** 2 / a["ess_bulk"] + b["post_sd"] ** 2 / b["ess_bulk"])
    assert (np.abs(a["post_mean"] - b["post_mean"]) < 5 * mcse).all()
    np.testing.assert_allclose(a["post_sd"], b["post_sd"], rtol=0.15)
    ha = fits["nutpie"].hyper.set_index("parameter")
    hb = fits["pymc"].hyper.set_index("parameter")
    assert list(ha.index) == list(hb.index)  # same summarised parameters (no ``*_log__``)
    d = abs(ha.loc["mu", "post_mean"] - hb.loc["mu", "post_mean"])
    assert d < 0.2 * hb.loc["mu", "post_sd"]


@needs_nutpie
@pytest.mark.slow
def test_draws_do_not_depend_on_the_state_of_the_compile_cache(tmp_path):
    """A fit compiled from an empty PyTensor cache draws what a fit loading the cache draws
    (with fast-math on, the random-walk model's draws differed between the two)."""
    import json
    import os
    import subprocess
    import sys

    script = (
        "import json, sys; sys.path.insert(0, 'tests')\n"
        "from test_pooling_speed import curve_table\n"
        "from causalgia.pooling.hierarchical import fit_hierarchical\n"
        "fit = fit_hierarchical(curve_table(2, n=20, se=0.1), curve='position', random_seed=3,\n"
        "                       draws=300, tune=300, chains=2, diagnostics='ignore')\n"
        "print(json.dumps(fit.to_frame()['post_mean'].tolist()))\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    means = []
    for cache in (tmp_path / "empty", None, tmp_path / "empty"):
        env = dict(os.environ)
        if cache is not None:
            env["PYTENSOR_FLAGS"] = f"base_compiledir={cache}"
        out = subprocess.run([sys.executable, "-c", script], env=env, cwd=root, check=True,
                             capture_output=True, text=True).stdout  # fmt: skip
        means.append(json.loads(out.strip().splitlines()[-1]))
    assert means[0] == means[1] == means[2]  # fresh compile, user's cache, then a warm one
