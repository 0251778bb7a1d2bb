"""Simulation-based calibration (Talts et al. 2018) of the production hierarchical model.

Split from :mod:`causalgia.hierarchical` (which re-exports ``sbc_fits`` and ``sbc_section``);
it uses the model builder and sampler there, so PyMC is imported only when it runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from ._rng import generator, unit_keys
from .effectstats import THRESHOLDS, Diagnostics, _structure
from .hierarchical import (
    Parameterization,
    _az,
    _convergence,
    _diagnostics,
    _marginal_theta,
    _model,
    _pymc,
    _sample,
)

__all__ = ["SBC_PARAMETERS", "sbc_fits", "sbc_section"]

SBC_PARAMETERS: tuple[str, ...] = ("mu", "tau", "theta[0]", "theta[1]", "theta[2]")


def sbc_fits(
    *,
    n_replicates: int,
    n_conditions: int,
    se: float,
    prior_scale: float,
    parameterization: Parameterization,
    draws: int,
    tune: int,
    chains: int,
    seed: int,
) -> Iterator[tuple[dict[str, float], dict[str, np.ndarray], Diagnostics]]:
    """Yield (truth, posterior draws, diagnostics) per SBC replicate of the production model.

    Truths are drawn from the model's own prior (mu ~ N(0, s), tau ~ HalfNormal(s),
    theta_j = mu + tau z_j, ace_j ~ N(theta_j, se)) with a stream keyed by (seed, replicate).
    One model is built and compiled; each replicate only replaces ``ace_obs`` with
    ``pm.set_data``. Used by :func:`causalgia.testing.simulation_based_calibration`.
    """
    pm = _pymc()
    labels = [f"c{j}" for j in range(n_conditions)]
    placeholder = pd.DataFrame({"experiment": "sbc", "label": labels, "ace": 0.0, "se": se})
    s = _structure(
        placeholder, by=("experiment", "label"), within=(), groups=(), curve=None,
        effects="normal", nu=4.0, prior_scale=prior_scale, tau=None, likelihood="summary",
        parameterization=parameterization, se="auto",
    )  # fmt: skip
    model = _model(s)
    for r in range(n_replicates):
        key = unit_keys(seed, [r], "sbc")[0]
        gen = generator(key)
        mu = gen.normal(0.0, prior_scale)
        tau = abs(gen.normal(0.0, prior_scale))
        theta = mu + tau * gen.standard_normal(n_conditions)
        y = theta + se * gen.standard_normal(n_conditions)
        pm.set_data({"ace_obs": y}, model=model)
        idata = _sample(model, draws, tune, chains, 1, 0.95, int(key) % 2**32, "pymc", False)
        if s.settings["parameterization"] == "marginal":
            _marginal_theta(idata, s, int(key), y)
        post = idata.posterior
        draws_ = {
            "mu": post["mu"].to_numpy().ravel(),
            "tau": post["tau"].to_numpy().ravel(),
            **{f"theta[{j}]": post["theta"].to_numpy()[..., j].ravel() for j in range(3)},
        }
        truth = {"mu": mu, "tau": tau, **{f"theta[{j}]": theta[j] for j in range(3)}}
        names = ["theta", *[n for n in post.data_vars if n not in ("theta", "z")]]
        yield truth, draws_, _diagnostics(idata, _convergence(_az(), post, names), THRESHOLDS)


def sbc_section(quick: bool) -> tuple[str, dict[str, Any]]:
    """The SBC section of docs/validation.md: markdown text and the raw numbers.

    ``quick=True`` runs R = 20 replicates of 250 draws x 2 chains (a smoke run, ~20 s);
    otherwise R = 200 of 500 draws x 2 chains (~7 min on 2 cores). Rank uniformity is a χ²
    test over 10 bins of 100 rank values. The text has no heading of its own (the caller's
    section heading introduces it).

    Examples
    --------
    >>> text, numbers = sbc_section(quick=True)  # doctest: +SKIP
    >>> sorted(numbers)[:3]  # doctest: +SKIP
    ['coverage_50', 'coverage_90', 'divergences']
    """
    from .testing import simulation_based_calibration

    n, draws = (20, 250) if quick else (200, 500)
    res = simulation_based_calibration(
        n_replicates=n, draws=draws, tune=draws, parameterization="marginal", rng=2026
    )
    unif, cov = res.uniformity(), res.coverage()
    diag = res.diagnostics
    numbers: dict[str, Any] = {
        "n_replicates": n,
        "chi2": dict(zip(unif["parameter"], unif["chi2"].round(3), strict=True)),
        "chi2_p": dict(zip(unif["parameter"], unif["p_value"].round(4), strict=True)),
        "min_chi2_p": float(unif["p_value"].min()),
        "coverage_50": float(cov.loc[cov["level"] == 0.5, "coverage"].mean()),
        "coverage_90": float(cov.loc[cov["level"] == 0.9, "coverage"].mean()),
        "worst_r_hat": float(diag["max_r_hat"].max()),
        "min_ess_bulk": float(diag["min_ess_bulk"].min()),
        "min_ess_tail": float(diag["min_ess_tail"].min()),
        "divergences": int(diag["divergences"].sum()),
    }
    st = res.settings
    lines = [
        f"R = {n} replicates drawn from the prior of the production model ({st['n_conditions']} "
        f"conditions, SE {st['se']}, prior scale {st['prior_scale']}, parameterization "
        f"{st['parameterization']}, {st['chains']} chains x {st['draws']} draws after "
        f"{st['tune']} tuning steps); ranks of the truth among {res.n_draws} thinned draws, "
        "χ² over 10 bins (Talts et al. 2018). Gate: every p ≥ 0.001 and 90% coverage in "
        f"0.825–0.960{' (applies to R = 200; this quick run is a smoke test)' if quick else ''}.",
        "",
        "| parameter | χ² | p | 50% coverage | 90% coverage |",
        "|---|---|---|---|---|",
    ]
    for row in unif.itertuples(index=False):
        c = cov[cov["parameter"] == row.parameter].set_index("level")["coverage"]
        lines.append(
            f"| {row.parameter} | {row.chi2:.2f} | {row.p_value:.3g} | {c[0.5]:.3f} | "
            f"{c[0.9]:.3f} |"
        )
    lines += [
        "",
        f"Worst R-hat {numbers['worst_r_hat']:.3f}, smallest bulk ESS "
        f"{numbers['min_ess_bulk']:.0f}, smallest tail ESS {numbers['min_ess_tail']:.0f}, "
        f"{numbers['divergences']} divergent transitions over all replicates.",
        "",
    ]
    return "\n".join(lines), numbers
