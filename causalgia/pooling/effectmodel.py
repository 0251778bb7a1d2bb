"""The PyMC model of :func:`~causalgia.pooling.hierarchical.fit_hierarchical`, and its structure.

The model (see :mod:`causalgia.pooling.hierarchical` for the equations) is built from a
:class:`~causalgia.pooling.effectstats._Structure`. Everything that comes from the observed
numbers is a data container (``pm.Data``): the cell means ``ace_obs`` and their SEs
``se_obs``, the prior scale ``prior_scale`` (a function of the data by default), the GP
amplitude scale ``curve_scale``, and with ``likelihood="full"`` the ICE rows ``ice_obs`` and the
residual-SD scale ``sigma_scale`` (:func:`_model_data`). What is left in the graph is the
*structure* (options, which cell belongs to which condition, group and curve value, the curve
values themselves), summarised by :func:`_model_key`. Two fits with the same key can share one
compiled model (:mod:`causalgia.pooling.samplers`).

PyMC is imported only when a model is built.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from .effectstats import SeKind, _labels, _Structure, _structure
from .samplers import _pymc

if TYPE_CHECKING:
    import pymc as pm

__all__ = ["build_effect_model"]

Effects = Literal["normal", "student_t"]
CurvePrior = Literal["rw", "gp"]
Likelihood = Literal["summary", "full"]
Parameterization = Literal["auto", "noncentred", "marginal"]

#: settings that are data (containers), not structure
_DATA_SETTINGS = ("prior_scale", "curve_scale")


def _model_coords(s: _Structure) -> dict[str, list]:
    """The named dimensions of the model of ``s`` and their labels."""
    st = s.settings
    coords: dict[str, list] = {
        "condition": s.conditions["condition"].tolist(),
        "cell": _labels(s.cells, [*st["by"], *st["within"]], "cells"),
    }
    coords.update({name: list(levels) for name, levels, _ in s.groups})
    coords.update({f"condition:{name}": list(levels) for name, levels, _ in s.within})
    if s.curve is not None:
        name, values, _ = s.curve
        coords[name] = values.tolist()
        if st["curve_prior"] == "rw":
            coords[f"{name}_step"] = values[1:].tolist()
        else:
            coords[f"{name}_basis"] = list(range(st["gp_basis"]))
    return coords


def _model_data(s: _Structure) -> dict[str, np.ndarray]:
    """The values of the model's data containers for the data of ``s``."""
    st = s.settings
    data = {
        "ace_obs": s.cells["ace"].to_numpy(dtype=float),
        "se_obs": s.cells["se"].to_numpy(dtype=float),
        "prior_scale": np.asarray(st["prior_scale"], dtype=float),
    }
    if st["curve_scale"] is not None:
        data["curve_scale"] = np.asarray(st["curve_scale"], dtype=float)
    if s.rows is not None:
        ice = s.rows[1].astype(float)
        data["ice_obs"] = ice
        data["sigma_scale"] = np.asarray(2.5 * float(np.std(ice)) + 1e-12)
    return data


def _model_key(s: _Structure) -> str:
    """A hash of everything that shapes the model's graph, and nothing that is data.

    Two structures with the same key build the same graph: the same options, the same
    assignment of cells to conditions, groups, within levels and curve values, and the same
    curve values. Labels, observed means, SEs and data-derived prior scales do not enter it.
    """
    settings = {k: v for k, v in s.settings.items() if k not in _DATA_SETTINGS}
    h = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    arrays: list[np.ndarray] = [s.cell_condition, np.array([len(s.conditions)])]
    for _name, levels, index in (*s.groups, *s.within):
        arrays += [np.array([len(levels)]), index]
    if s.curve is not None:
        arrays += [s.curve[1], s.curve[2]]
    if s.rows is not None:
        arrays.append(s.rows[0])
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _eta(pm: Any, s: _Structure, scale: Any) -> Any:
    """Everything in theta_j except the condition's own deviation: mu + groups + curve."""
    eta = pm.Normal("mu", 0.0, scale)
    for name, _levels, index in s.groups:
        sd = pm.HalfNormal(f"sd_{name}", scale)
        z = pm.Normal(f"z_{name}", 0.0, 1.0, dims=name)
        eta = eta + sd * z[index]
    if s.curve is not None:
        eta = eta + _curve_term(pm, s, scale)[s.curve[2]]
    return eta


def _curve_term(pm: Any, s: _Structure, scale: Any) -> Any:
    """The centred curve over the sorted curve values: random walk or HSGP, plus periodic."""
    import pytensor.tensor as pt

    name, values, _index = s.curve  # type: ignore[misc]
    st = s.settings
    if st["curve_prior"] == "rw":
        step_scale = np.sqrt(np.diff(values) / np.median(np.diff(values)))
        sd = pm.HalfNormal("curve_sd", scale)
        if st["curve_parameterization"] == "centred":
            steps = pm.Normal("curve_steps", 0.0, sd * step_scale, dims=f"{name}_step")
        else:
            steps = sd * step_scale * pm.Normal("curve_steps", 0.0, 1.0, dims=f"{name}_step")
        smooth = pt.concatenate([pt.zeros(1), pt.cumsum(steps)])
    else:
        low, high = st["gp_lengthscale_bounds"]
        z975 = 1.959963984540054
        ls = pm.LogNormal(
            "curve_lengthscale",
            mu=0.5 * (np.log(low) + np.log(high)),
            sigma=(np.log(high) - np.log(low)) / (2 * z975),
        )
        amplitude = pm.HalfNormal("curve_amplitude", pm.Data("curve_scale", st["curve_scale"]))
        gp = pm.gp.HSGP(m=[st["gp_basis"]], c=st["gp_c"], cov_func=pm.gp.cov.Matern52(1, ls=ls))
        phi, sqrt_psd = gp.prior_linearized(values[:, None].astype(float))
        # the basis is fixed by the curve values: evaluated once and held as a contiguous data
        # container, so that the compiled log density can be cached on disk by PyTensor
        phi = pm.Data("curve_basis", np.ascontiguousarray(phi.eval(mode="FAST_COMPILE")))
        # non-centred always: most basis coefficients are prior-dominated, and centring them
        # gave R-hat 1.7 in trials (docs/hierarchical.md)
        z = pm.Normal("curve_coeffs", 0.0, 1.0, dims=f"{name}_basis")
        smooth = phi @ (amplitude * sqrt_psd * z)
    smooth = smooth - smooth.mean()
    if st["periodic"] is not None:
        basis = pm.Data("periodic_basis", np.ascontiguousarray(s.periodic_basis()))
        a = pm.Normal("periodic_cos", 0.0, scale)
        b = pm.Normal("periodic_sin", 0.0, scale)
        pm.Deterministic("periodic_amplitude", pm.math.sqrt(a**2 + b**2))
        pm.Deterministic("periodic_phase", pt.arctan2(b, a))
        smooth = smooth + a * basis[:, 0] + b * basis[:, 1]
    return pm.Deterministic("curve", smooth, dims=name)


def _model(s: _Structure) -> pm.Model:
    pm = _pymc()
    st = s.settings
    data = _model_data(s)
    with pm.Model(coords=_model_coords(s)) as model:
        ace = pm.Data("ace_obs", data["ace_obs"], dims="cell")
        se = pm.Data("se_obs", data["se_obs"], dims="cell")
        scale = pm.Data("prior_scale", data["prior_scale"])
        eta = _eta(pm, s, scale)
        tau = pm.HalfNormal("tau", scale) if st["tau"] is None else st["tau"]
        if st["parameterization"] == "marginal":
            eta_c = eta[s.cell_condition] if np.ndim(eta) else eta
            sigma = pm.math.sqrt(tau**2 + se**2)
            pm.Normal("likelihood", eta_c, sigma, observed=ace, dims="cell")
            return model
        if st["tau"] == 0:
            theta = pm.Deterministic(
                "theta", eta * pm.math.ones(len(s.conditions)), dims="condition"
            )
        elif st["effects"] == "student_t":
            z = pm.StudentT("z", nu=st["nu"], mu=0.0, sigma=1.0, dims="condition")
            theta = pm.Deterministic("theta", eta + tau * z, dims="condition")
        else:
            z = pm.Normal("z", 0.0, 1.0, dims="condition")
            theta = pm.Deterministic("theta", eta + tau * z, dims="condition")
        m = theta[s.cell_condition]
        for name, _levels, index in s.within:
            sd = pm.HalfNormal(f"sd_{name}", scale)
            zw = pm.Normal(f"z_{name}", 0.0, 1.0, dims=f"condition:{name}")
            m = m + sd * zw[index]
        if s.rows is None:
            pm.Normal("likelihood", m, se, observed=ace, dims="cell")
        else:
            cell = s.rows[0]
            ice = pm.Data("ice_obs", data["ice_obs"])
            sigma_scale = pm.Data("sigma_scale", data["sigma_scale"])
            resid = pm.HalfNormal("sigma", sigma_scale, dims="cell")
            pm.Normal("likelihood", m[cell], resid[cell], observed=ice)
    return model


def build_effect_model(
    data: Any,
    *,
    by: Sequence[str] = ("experiment", "label"),
    within: Sequence[str] = (),
    groups: Sequence[str | Sequence[str]] = (),
    curve: str | None = None,
    curve_prior: CurvePrior = "rw",
    periodic: float | None = None,
    effects: Effects = "normal",
    nu: float = 4.0,
    prior_scale: float | None = None,
    tau: float | None = None,
    likelihood: Likelihood = "summary",
    parameterization: Parameterization = "auto",
    se: SeKind = "auto",
) -> pm.Model:
    """Build (never sample) the hierarchical effect model of an ICE or ACE table.

    Parameters
    ----------
    data : DataFrame, AceEstimates or SimulationResult
        A paired ICE table or an ACE table with ``ace`` and ``se`` (see
        :func:`~causalgia.pooling.effectstats.effect_statistics`).
    by : sequence of str
        Columns defining a condition (one pooled effect theta_j each). A table of a model
        with several outputs (an ``output`` column) gets ``output`` added to ``by`` (unless
        ``by`` or ``within`` names it): one condition per arm × output, so that
        ``groups=["output"]`` (or crossed, ``["motif", "output"]``) pools effects by output.
    within : sequence of str
        Cell levels below a condition, each with its own SD: e.g. ``("replicate",)`` separates
        model-to-model variation from Monte-Carlo error.
    groups : sequence of str or tuple of str
        Crossed condition-level groupings, each with its own SD (``"motif"``, ``"task"``); a
        tuple nests columns (``("experiment", "motif")`` = motif within experiment).
    curve : str, optional
        A numeric column of ordered conditions (``"position"``, ``"spacing"``) with a smooth
        curve prior (``curve_prior``).
    curve_prior : {"rw", "gp"}
        ``"rw"``: Gaussian random walk (steps scaled by sqrt(gap / median gap), step SD
        ``curve_sd``). ``"gp"``: Hilbert-space approximate Gaussian process
        (``pymc.gp.HSGP``, Matern 5/2; Ruitort-Mayol et al. 2022) with amplitude
        ``curve_amplitude ~ HalfNormal(curve_scale)``, ``curve_scale = min(prior_scale, 2.5 ·
        max(SD of the condition ACEs, median se))`` (the curve is centred, so its scale is the
        spread of the effects, not their RMS), and lengthscale ``curve_lengthscale ~
        LogNormal`` whose central 95% lies between ``min(2 · median gap, range / 4)`` and half
        the range of the curve values (``settings["gp_lengthscale_bounds"]``).
    periodic : float, optional
        A period in units of the curve column (``10.5`` for the helical period of B-DNA in
        bp): adds ``a·cos(2πx/P) + b·sin(2πx/P)`` to the curve, ``a, b ~ Normal(0,
        prior_scale)``, reported as ``periodic_amplitude`` sqrt(a² + b²) and
        ``periodic_phase`` atan2(b, a) (radians; the effect peaks at x = phase·P/2π mod P).
    effects : {"normal", "student_t"}
        Distribution of the condition deviations z_j (Student-t with ``nu`` degrees of freedom
        for families with a few outlying conditions).
    nu : float
        Degrees of freedom of the Student-t deviations.
    prior_scale : float, optional
        Scale ``s`` of every prior; default ``2.5 * max(RMS(ace), median(se))``.
    tau : float, optional
        Fix the between-condition SD instead of learning it (conjugate checks, sensitivity).
    likelihood : {"summary", "full"}
        Per-cell mean ICE with its SE taken as known (default), or every ICE row with a
        per-cell residual SD. With the hundreds of units per cell of a GIA design the two give
        the same posterior within Monte-Carlo error (tests/test_hierarchical.py, slow tier);
        the summary is about 90 times faster.
    parameterization : {"auto", "noncentred", "marginal"}
        See :mod:`causalgia.pooling.hierarchical`. ``auto`` integrates the condition deviations
        out whenever that is exact (normal effects, summary likelihood, no ``within``, free
        ``tau``): the posterior is the same and NUTS meets no tau-funnel; otherwise
        ``noncentred``.
    se : {"auto", "iid", "cluster"}
        How the per-cell SE is computed from an ICE table.

    Returns
    -------
    pymc.Model
        Data containers (``ace_obs``, ``se_obs``, ``prior_scale``, ...; ``model_data``)
        can be replaced with ``pm.set_data`` to refit the same compiled structure.

    Examples
    --------
    >>> t = pd.DataFrame({"experiment": "e", "label": ["a", "b", "c"], "ace": [0.1, 0.3, 0.2],
    ...                   "se": [0.1, 0.1, 0.1]})
    >>> model = build_effect_model(t)  # doctest: +SKIP
    >>> sorted(model.named_vars)  # doctest: +SKIP
    ['ace_obs', 'likelihood', 'mu', 'prior_scale', 'se_obs', 'tau']
    """
    s = _structure(
        data, by=by, within=within, groups=groups, curve=curve, effects=effects, nu=nu,
        prior_scale=prior_scale, tau=tau, likelihood=likelihood,
        parameterization=parameterization, se=se, curve_prior=curve_prior, periodic=periodic,
    )  # fmt: skip
    return _model(s)
