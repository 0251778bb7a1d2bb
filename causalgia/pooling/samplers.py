"""NUTS for the pooled effect models: which sampler runs, and a cache of compiled models.

``sampler="auto"`` (the default of :func:`~causalgia.pooling.hierarchical.fit_hierarchical`)
runs nutpie's NUTS when nutpie is installed and PyMC's NUTS otherwise. nutpie compiles the log
density and its gradient with numba and samples the chains in parallel threads; PyMC's NUTS is
a Python loop over PyTensor calls (about 60 µs per leapfrog step here, against a few µs).

Compiling is the fixed cost of a fit (seconds on 2 cores). Models are therefore cached by their
*structure* (:func:`~causalgia.pooling.effectmodel.model_key`: the options, the index arrays and
the curve values, but not the observed numbers). A second fit of the same structure with other
data only swaps the data containers (``pm.set_data`` and nutpie's ``with_data``) and samples:
nothing is rebuilt or recompiled for nutpie; PyMC's sampler still compiles its functions on
every ``pm.sample`` call (from PyTensor's on-disk cache). The cache holds the
:data:`CACHE_SIZE` most recently used structures of this process.

The draws depend only on the model, the data and the seed: not on the cache, the number of
cores or what was fitted before (tests/test_pooling_speed.py).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from .._options import check_int, check_option
from ..errors import OptionError

__all__ = [
    "CACHE_SIZE",
    "SAMPLERS",
    "ModelEntry",
    "Sampler",
    "cache_info",
    "clear_model_cache",
    "model_entry",
    "resolve_cores",
    "resolve_sampler",
    "run_nuts",
]

Sampler = Literal["auto", "nutpie", "pymc"]
SAMPLERS: tuple[str, ...] = ("auto", "nutpie", "pymc")
CACHE_SIZE = 16


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence ArviZ's refactor FutureWarning and PyMC's INFO chatter."""
    logger = logging.getLogger("pymc")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning, module="arviz")
            warnings.filterwarnings("ignore", message=".*group is not defined in the Inference")
            warnings.filterwarnings("ignore", message=".*could not link to a BLAS")
            # early tuning steps can overflow the kinetic energy; NUTS rejects them, and any
            # such step after tuning is counted as a divergence in the diagnostics
            warnings.filterwarnings(
                "ignore", "overflow encountered", RuntimeWarning, "pymc.step_methods.hmc"
            )
            yield
    finally:
        logger.setLevel(level)


def _pymc() -> Any:
    with _quiet():
        import arviz  # noqa: F401
        import pymc

    return pymc


def _az() -> Any:
    with _quiet():
        import arviz

    return arviz


def nutpie_installed() -> bool:
    """True when nutpie can be imported (without importing it).

    Examples
    --------
    >>> isinstance(nutpie_installed(), bool)
    True
    """
    return importlib.util.find_spec("nutpie") is not None


def resolve_sampler(sampler: str) -> str:
    """The sampler that runs: ``"auto"`` is nutpie when installed, else PyMC.

    Raises
    ------
    OptionError
        An unknown name, or ``"nutpie"`` when nutpie is not installed.

    Examples
    --------
    >>> resolve_sampler("pymc")
    'pymc'
    >>> resolve_sampler("auto") in ("nutpie", "pymc")
    True
    """
    check_option("sampler", sampler, SAMPLERS)
    if sampler == "auto":
        return "nutpie" if nutpie_installed() else "pymc"
    if sampler == "nutpie" and not nutpie_installed():
        raise OptionError(
            "sampler='nutpie' needs the nutpie package: pip install nutpie "
            "(or pip install 'causalgia[nutpie]'); sampler='auto' falls back to PyMC"
        )
    return sampler


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one).

    Examples
    --------
    >>> usable_cpus() >= 1
    True
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


def resolve_cores(cores: int | None, chains: int, sampler: str) -> int:
    """Chains sampled at once: ``None`` is one per usable CPU (at most ``chains``) for nutpie,
    whose chains are threads, and 1 for PyMC, whose worker processes cost more to start than
    they save on the small pooled models.

    Examples
    --------
    >>> resolve_cores(None, 4, "pymc"), resolve_cores(3, 4, "nutpie")
    (1, 3)
    """
    if cores is not None:
        return check_int("cores", cores, minimum=1)
    return min(chains, usable_cpus()) if sampler == "nutpie" else 1


# -- the cache ------------------------------------------------------------------------------------


@dataclass(eq=False)
class ModelEntry:
    """A built PyMC model, its nutpie compilation (made on first use) and a lock that keeps
    two threads from swapping its data during each other's sampling."""

    model: Any
    compiled: Any = None
    lock: threading.Lock = field(default_factory=threading.Lock)


_CACHE: OrderedDict[str, ModelEntry] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_COUNTS = {"hits": 0, "builds": 0, "compilations": 0}


def _count(name: str) -> None:
    with _CACHE_LOCK:
        _COUNTS[name] += 1


def model_entry(key: str | None, build: Callable[[], Any]) -> ModelEntry:
    """The cached entry of a model structure, built with ``build()`` on a miss.

    ``key=None`` builds an entry that is not cached (a model whose constants hold data).

    Examples
    --------
    >>> entry = model_entry(None, lambda: "a model")
    >>> entry.model
    'a model'
    """
    if key is None:
        _count("builds")
        return ModelEntry(build())
    with _CACHE_LOCK:
        entry = _CACHE.get(key)
        if entry is not None:
            _CACHE.move_to_end(key)
            _COUNTS["hits"] += 1
            return entry
    entry = ModelEntry(build())
    with _CACHE_LOCK:
        entry = _CACHE.setdefault(key, entry)
        _COUNTS["builds"] += 1
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    return entry


def cache_info() -> dict[str, int]:
    """Counters of this process: cached ``models``, cache ``hits``, model ``builds`` and nutpie
    ``compilations``.

    Examples
    --------
    >>> sorted(cache_info())
    ['builds', 'compilations', 'hits', 'models']
    """
    with _CACHE_LOCK:
        return {"models": len(_CACHE), **_COUNTS}


def clear_model_cache() -> None:
    """Forget every cached model (the counters keep counting).

    Examples
    --------
    >>> clear_model_cache(); cache_info()["models"]
    0
    """
    with _CACHE_LOCK:
        _CACHE.clear()


# -- sampling -------------------------------------------------------------------------------------


def run_nuts(
    entry: ModelEntry,
    data: Mapping[str, np.ndarray] | None,
    *,
    draws: int,
    tune: int,
    chains: int,
    cores: int,
    target_accept: float,
    seed: int,
    sampler: str,
    progressbar: bool = False,
    coords: Mapping[str, list] | None = None,
) -> Any:
    """NUTS draws of ``entry.model`` with its data containers set to ``data``.

    ``sampler`` is ``"nutpie"`` (compiled once per entry, then reused with ``with_data``;
    chains in ``cores`` threads; warm-up draws not kept) or ``"pymc"`` (``pm.sample``, chains
    in ``cores`` processes). ``coords`` relabels the dimensions of the draws (a cached model
    keeps the labels of the fit that built it). Returns ArviZ InferenceData.

    Examples
    --------
    >>> idata = run_nuts(entry, {"ace_obs": y}, draws=500, tune=500, chains=2, cores=2,
    ...                  target_accept=0.95, seed=1, sampler="nutpie")  # doctest: +SKIP
    """
    pm = _pymc()
    data = dict(data or {})
    with entry.lock, _quiet():
        if data:
            # the initial-point function reads the model's containers, nutpie's logp its own
            pm.set_data(data, model=entry.model)
        if sampler == "nutpie":
            idata = _nutpie(entry, data, draws, tune, chains, cores, target_accept, seed,
                            progressbar)  # fmt: skip
        else:
            with entry.model:
                idata = pm.sample(
                    draws=draws, tune=tune, chains=chains, cores=cores,
                    target_accept=target_accept, random_seed=seed % 2**32,
                    progressbar=progressbar, compute_convergence_checks=False,
                )  # fmt: skip
    for group in idata.groups():
        ds = idata[group]
        # nutpie also stores the unconstrained values (``tau_log__``); PyMC does not
        ds = ds.drop_vars([v for v in ds.data_vars if str(v).endswith("__")])
        fresh = {k: list(v) for k, v in (coords or {}).items() if k in ds.dims}
        setattr(idata, group, ds.assign_coords(fresh) if fresh else ds)
    return idata


def _nutpie(
    entry: ModelEntry,
    data: dict[str, np.ndarray],
    draws: int,
    tune: int,
    chains: int,
    cores: int,
    target_accept: float,
    seed: int,
    progressbar: bool,
) -> Any:
    import nutpie

    if entry.compiled is None:
        entry.compiled = compile_nutpie(entry.model)
        _count("compilations")
    compiled = entry.compiled
    known = {k: v for k, v in data.items() if k in compiled.shared_data}
    if known:
        compiled = compiled.with_data(**known)
    return nutpie.sample(
        compiled, draws=draws, tune=tune, chains=chains, cores=cores, seed=seed,
        target_accept=target_accept, progress_bar=progressbar, save_warmup=False,
    )  # fmt: skip


# -- compiling for nutpie -------------------------------------------------------------------------

#: nutpie releases whose compile internals :func:`compile_nutpie` mirrors (others: public API)
LIGHT_NUTPIE = ("0.16.",)


def compile_nutpie(model: Any) -> Any:
    """``nutpie.compile_pymc_model(model)`` with lighter numba entry points.

    nutpie wraps PyTensor's numba-compiled log density (and the function that maps a draw to
    the stored variables) in two C callbacks. Those wrappers are not cacheable and are
    compiled anew in every process; with their whole-array copy, ``np.all(np.isfinite(...))``
    and the error messages these pull in, compiling them was ~5.7 s of a ~7 s compilation
    on 2 busy cores. The wrappers here do the same with element loops (same return codes,
    same exception handling), which halves that, and give bit-identical draws
    (tests/test_pooling_speed.py). Everything else is nutpie's own code. For a nutpie
    release other than :data:`LIGHT_NUTPIE`, or if its internals moved, this is
    ``nutpie.compile_pymc_model(model)``. Either way PyTensor compiles without fast-math, so
    the draws do not depend on whether its on-disk compile cache was warm.

    Examples
    --------
    >>> compiled = compile_nutpie(build_effect_model(table))  # doctest: +SKIP
    >>> nutpie.sample(compiled, seed=1)  # doctest: +SKIP
    """
    import nutpie
    import pytensor

    # Without fast-math the compiled code gives bit-identical results whether PyTensor compiles
    # it afresh or loads it from its on-disk cache (with fast-math, LLVM may reassociate
    # differently in the two cases, and the first fit on a machine drew other numbers than
    # every later one); the gradient cost was the same in the benchmarks.
    with pytensor.config.change_flags(numba__fastmath=False):
        if not nutpie.__version__.startswith(LIGHT_NUTPIE):
            return nutpie.compile_pymc_model(model)
        try:
            from nutpie import compile_pymc as npc

            parts = (
                npc._make_functions, npc.make_extraction_fn, npc.make_user_data,
                npc._prepare_dims_and_coords, npc._wrap_with_lock, npc.CompiledPyMCModel,
            )  # fmt: skip
        except (ImportError, AttributeError):  # pragma: no cover - internals moved
            return nutpie.compile_pymc_model(model)
        return _compile_light(model, *parts)


def _compile_light(model: Any, make_functions: Any, make_extraction: Any,
                   make_user_data: Any, dims_and_coords: Any, with_lock: Any,
                   compiled_cls: Any) -> Any:  # fmt: skip
    """nutpie 0.16's ``_compile_pymc_model_numba`` with :func:`_logp_wrapper` and
    :func:`_expand_wrapper` as the C entry points."""
    import numba
    from pymc.initial_point import make_initial_point_fn

    initial_point_fn = with_lock(
        make_initial_point_fn(
            model=model, overrides=None, default_strategy="support_point",
            jitter_rvs=set(model.free_RVs), return_transformed=True,
        )
    )  # fmt: skip
    n_dim, n_expanded, logp_pt, expand_pt, initial_point, shape_info = make_functions(
        model, mode="NUMBA", compute_grad=True, join_expanded=True,
        pymc_initial_point_fn=initial_point_fn, var_names=None,
    )  # fmt: skip
    shared_data: dict[str, np.ndarray] = {}
    shared_vars: dict[str, Any] = {}
    for var in [*logp_pt.get_shared(), *expand_pt.get_shared()]:
        if var.name in shared_data and shared_vars[var.name] is not var:
            raise ValueError(f"Shared variables must have unique names: {var.name}")
        shared_data[var.name] = np.array(var.get_value(), order="C", copy=True)
        shared_vars[var.name] = var
    for value in shared_data.values():
        value.flags.writeable = False
    user_data = make_user_data(shared_vars, shared_data)
    logp_names = [var.name for var in logp_pt.get_shared()]
    expand_names = [var.name for var in expand_pt.get_shared()]
    logp_extract = make_extraction(logp_pt.vm.jit_fn, shared_data, logp_names, user_data.dtype)
    expand_extract = make_extraction(
        expand_pt.vm.jit_fn, shared_data, expand_names, user_data.dtype
    )
    double_ptr = numba.types.CPointer(numba.types.double)
    u64, i64, voidptr = numba.types.uint64, numba.types.int64, numba.types.voidptr
    logp_sig = i64(u64, double_ptr, double_ptr, double_ptr, voidptr)
    expand_sig = i64(u64, u64, double_ptr, double_ptr, voidptr)
    logp = numba.cfunc(logp_sig)(_logp_wrapper(n_dim, logp_extract))
    expand = numba.cfunc(expand_sig)(_expand_wrapper(n_dim, n_expanded, expand_extract))
    dims, coords = dims_and_coords(model, shape_info)
    return compiled_cls(
        _n_dim=n_dim, dims=dims, _coords=coords,
        _shapes={name: tuple(shape) for name, _, shape in zip(*shape_info, strict=True)},
        compiled_logp_func=logp, compiled_expand_func=expand, initial_point_func=initial_point,
        shared_data=shared_data, user_data=user_data, n_expanded=n_expanded,
        shape_info=shape_info, logp_func=logp_pt, expand_func=expand_pt,
    )  # fmt: skip


def _logp_wrapper(n_dim: int, extract: Any) -> Any:
    """nutpie's log-density entry point (return codes 0 ok, 1 exception, 3 non-finite
    gradient, 4 non-finite log density, -1 wrong size), with element loops."""
    import numba

    def logp_numba(dim, x_, out_, logp_, user_data_):  # type: ignore[no-untyped-def]
        if dim != n_dim:
            return -1
        try:
            x = numba.carray(x_, (n_dim,))
            logp_val, grad = extract(x, user_data_)
            logp_[0] = logp_val
            finite = True
            for i in range(n_dim):
                out_[i] = grad[i]
                if not np.isfinite(grad[i]):
                    finite = False
            if not finite:
                return 3
            if not np.isfinite(logp_val):
                return 4
        except Exception:  # noqa: BLE001
            return 1
        return 0

    return logp_numba


def _expand_wrapper(n_dim: int, n_expanded: int, extract: Any) -> Any:
    """nutpie's entry point from a draw to the stored values (0 ok, -2 exception, -1 wrong
    size), with an element loop."""
    import numba

    def expand_numba(dim, expanded, x_, out_, user_data_):  # type: ignore[no-untyped-def]
        if dim != n_dim or expanded != n_expanded:
            return -1
        try:
            x = numba.carray(x_, (n_dim,))
            (values,) = extract(x, user_data_)
            for i in range(n_expanded):
                out_[i] = values[i]
        except Exception:  # noqa: BLE001
            return -2
        return 0

    return expand_numba
