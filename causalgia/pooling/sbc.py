"""Simulation-based calibration (Talts et al. 2018) of the production hierarchical model.

It uses the model builder and sampler of :mod:`causalgia.pooling.hierarchical`, so PyMC is
imported only when it runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .._options import check_int
from .._rng import RngLike, generator, root_seed, unit_keys
from ..errors import OptionError
from .display import _html_block, _html_table, _repr_lines
from .effectmodel import Parameterization
from .effectstats import THRESHOLDS, Diagnostics, _structure
from .hierarchical import _convergence, _diagnostics, _draws
from .samplers import Sampler, _az, resolve_sampler

__all__ = ["SBC_PARAMETERS", "SbcResult", "sbc_fits", "sbc_section", "simulation_based_calibration"]

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
    sampler: Sampler = "auto",
) -> Iterator[tuple[dict[str, float], dict[str, np.ndarray], Diagnostics]]:
    """Yield (truth, posterior draws, diagnostics) per SBC replicate of the production model.

    Truths are drawn from the model's own prior (mu ~ N(0, s), tau ~ HalfNormal(s),
    theta_j = mu + tau z_j, ace_j ~ N(theta_j, se)) with a stream keyed by (seed, replicate).
    Every replicate has the same structure, so the model is built and compiled once and each
    replicate only swaps the data in (:mod:`causalgia.pooling.samplers`), exactly as repeated
    :func:`~causalgia.pooling.hierarchical.fit_hierarchical` calls do. Used by
    :func:`simulation_based_calibration`.
    """
    sampler = resolve_sampler(sampler)
    labels = [f"c{j}" for j in range(n_conditions)]
    for r in range(n_replicates):
        key = unit_keys(seed, [r], "sbc")[0]
        gen = generator(key)
        mu = gen.normal(0.0, prior_scale)
        tau = abs(gen.normal(0.0, prior_scale))
        theta = mu + tau * gen.standard_normal(n_conditions)
        y = theta + se * gen.standard_normal(n_conditions)
        table = pd.DataFrame({"experiment": "sbc", "label": labels, "ace": y, "se": se})
        s = _structure(
            table, by=("experiment", "label"), within=(), groups=(), curve=None,
            effects="normal", nu=4.0, prior_scale=prior_scale, tau=None, likelihood="summary",
            parameterization=parameterization, se="auto",
        )  # fmt: skip
        idata = _draws(s, draws, tune, chains, None, 0.95, int(key), sampler)
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

    ``quick=True`` runs R = 20 replicates of 250 draws x 2 chains (a smoke run, seconds);
    otherwise R = 200 of 500 draws x 2 chains (~25 s on 2 cores with nutpie, ~7 min with
    PyMC). Rank uniformity is a χ² test over 10 bins of 100 rank values. The text has no
    heading of its own (the caller's section heading introduces it).

    Parameters
    ----------
    quick : bool
        Run the short smoke configuration instead of the full one.

    Returns
    -------
    text : str
        Markdown: a paragraph on the set-up, a table of χ² and coverage per parameter and a
        line of diagnostics.
    numbers : dict
        The raw numbers: ``n_replicates``, ``chi2`` and ``chi2_p`` per parameter,
        ``min_chi2_p``, ``coverage_50``, ``coverage_90``, ``worst_r_hat``, ``min_ess_bulk``,
        ``min_ess_tail``, ``divergences``.

    Examples
    --------
    >>> text, numbers = sbc_section(quick=True)  # doctest: +SKIP
    >>> sorted(numbers)[:3]  # doctest: +SKIP
    ['coverage_50', 'coverage_90', 'divergences']
    """
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


@dataclass(frozen=True)
class SbcResult:
    """Ranks, interval coverage and diagnostics of a simulation-based calibration run.

    ``ranks`` has one row per (replicate, parameter): ``truth``, ``rank`` (number of the
    ``n_draws`` thinned posterior draws below the truth, so 0..n_draws) and whether the central
    50% / 90% posterior intervals cover the truth. ``diagnostics`` has one row per replicate.

    Examples
    --------
    >>> r = SbcResult(pd.DataFrame({"replicate": [0, 1], "parameter": "mu", "truth": 0.0,
    ...                             "rank": [3, 97], "in_50": [False, False],
    ...                             "in_90": [True, False]}), pd.DataFrame(), 99, {})
    >>> r.coverage()["coverage"].tolist()
    [0.0, 0.5]
    """

    ranks: pd.DataFrame
    diagnostics: pd.DataFrame
    n_draws: int
    settings: dict

    def to_frame(self) -> pd.DataFrame:
        """A copy of the rank table.

        Returns
        -------
        pandas.DataFrame
            A copy of :attr:`ranks`, one row per (replicate, parameter).
        """
        return self.ranks.copy()

    def uniformity(self, bins: int = 10) -> pd.DataFrame:
        """χ² test (``scipy.stats.chisquare``) that each parameter's ranks are uniform.

        Ranks 0..n_draws are split into ``bins`` equal bins (n_draws + 1 should be a multiple).

        Parameters
        ----------
        bins : int, default 10
            Number of equal-width rank bins of the χ² test.

        Returns
        -------
        pandas.DataFrame
            One row per parameter: ``parameter, chi2, df`` (bins − 1), ``p_value, n``
            (replicates).
        """
        from scipy import stats

        rows = []
        edges = np.linspace(0, self.n_draws + 1, bins + 1)
        for name, sub in self.ranks.groupby("parameter", sort=False):
            counts, _ = np.histogram(sub["rank"].to_numpy(), bins=edges)
            res = stats.chisquare(counts)
            rows.append(
                {"parameter": name, "chi2": float(res.statistic), "df": bins - 1,
                 "p_value": float(res.pvalue), "n": int(counts.sum())}
            )  # fmt: skip
        return pd.DataFrame(rows)

    def coverage(self) -> pd.DataFrame:
        """Coverage of the central 50% and 90% intervals per parameter, with its MC SE.

        Returns
        -------
        pandas.DataFrame
            Two rows per parameter: ``parameter, level`` (0.5 or 0.9), ``coverage`` (fraction
            of replicates whose interval covers the truth) and ``mcse`` (its binomial Monte
            Carlo SE at the nominal level).
        """
        rows = []
        for name, sub in self.ranks.groupby("parameter", sort=False):
            for level, col in ((0.5, "in_50"), (0.9, "in_90")):
                p = float(sub[col].mean())
                mcse = float(np.sqrt(level * (1 - level) / len(sub)))
                rows.append({"parameter": name, "level": level, "coverage": p, "mcse": mcse})
        return pd.DataFrame(rows)

    def summary(self) -> str:
        """One line per parameter: χ² p-value and 50% / 90% coverage; then diagnostics.

        Returns
        -------
        str
            A header line, one line per parameter and, when there are diagnostics, a line
            with the worst R-hat, the smallest bulk ESS and the divergences.
        """
        unif, cov = self.uniformity(), self.coverage().set_index(["parameter", "level"])
        lines = [f"SBC: {self.ranks['replicate'].nunique()} replicates, {self.n_draws} draws"]
        for row in unif.itertuples(index=False):
            c50, c90 = cov.loc[(row.parameter, 0.5), "coverage"], cov.loc[(row.parameter, 0.9)]
            lines.append(
                f"  {row.parameter}: chi2 p={row.p_value:.3g}  50% {c50:.3f}  "
                f"90% {c90['coverage']:.3f}"
            )
        if not self.diagnostics.empty:
            d = self.diagnostics
            lines.append(
                f"  worst R-hat {d['max_r_hat'].max():.3f}, min bulk ESS "
                f"{d['min_ess_bulk'].min():.0f}, divergences {int(d['divergences'].sum())}"
            )
        return "\n".join(lines)

    def __repr__(self) -> str:
        r = self.ranks
        n_rep = r["replicate"].nunique() if "replicate" in r else 0
        n_par = r["parameter"].nunique() if "parameter" in r else 0
        head = f"SbcResult: {n_rep} replicates, {n_par} parameters, {self.n_draws} rank draws"
        if r.empty:
            return _repr_lines(head)
        unif = self.uniformity()
        worst = unif.iloc[int(np.argmin(unif["p_value"].to_numpy(dtype=float)))]
        cov = self.coverage()
        c90 = cov.loc[cov["level"] == 0.9, "coverage"]
        line = (
            f"  smallest uniformity p {worst['p_value']:.3g} ({worst['parameter']}); "
            f"90% coverage {c90.min():.3f}..{c90.max():.3f}"
        )
        diag = ""
        if not self.diagnostics.empty and "max_r_hat" in self.diagnostics:
            d = self.diagnostics
            diag = (
                f"  worst R-hat {d['max_r_hat'].max():.3f}, "
                f"{int(d['divergences'].sum())} divergences"
            )
        return _repr_lines(head, line, diag)

    def _repr_html_(self) -> str:
        return _html_block(
            repr(self),
            _html_table(self.uniformity(), caption="rank uniformity (χ² test) per parameter"),
            _html_table(self.coverage(), caption="coverage of the central intervals"),
        )


def simulation_based_calibration(
    *,
    n_replicates: int = 200,
    n_conditions: int = 8,
    se: float = 0.5,
    prior_scale: float = 1.0,
    parameterization: str = "auto",
    draws: int = 500,
    tune: int = 500,
    chains: int = 2,
    n_rank_draws: int = 99,
    rng: RngLike = 2026,
    sampler: Sampler = "auto",
) -> SbcResult:
    """Simulation-based calibration (Talts et al. 2018) of the hierarchical effect model.

    Each replicate draws (mu, tau, theta) from the model's prior, simulates condition means
    with standard error ``se``, fits the same compiled model with its data swapped in and records
    the rank of each true value among ``n_rank_draws`` evenly thinned posterior draws. A
    calibrated sampler gives uniform ranks and nominal interval coverage. ``sampler`` is that
    of :func:`~causalgia.pooling.hierarchical.fit_hierarchical` (default: nutpie when
    installed), so the default calibrates the default fit.

    Parameters
    ----------
    n_replicates : int, default 200
        Number of simulated data sets (each one fit).
    n_conditions : int, default 8
        Conditions per data set (at least 3; the first three thetas are ranked).
    se : float, default 0.5
        Standard error of every simulated condition mean.
    prior_scale : float, default 1.0
        Scale ``s`` of the priors the truths are drawn from (and of the fitted model).
    parameterization : {"auto", "noncentred", "marginal"}, default "auto"
        Parameterization of the fitted model (see
        :func:`~causalgia.pooling.hierarchical.fit_hierarchical`).
    draws, tune, chains : int, default 500, 500, 2
        Posterior draws and tuning steps per chain, and the number of chains, of every fit.
    n_rank_draws : int, default 99
        Thinned posterior draws each truth is ranked among (``draws * chains`` must be at
        least this); ranks run 0..n_rank_draws.
    rng : int, numpy.random.Generator or None, default 2026
        Seed of the simulated truths and data and of the samplers.
    sampler : {"auto", "nutpie", "pymc"}, default "auto"
        The NUTS implementation (``"auto"``: nutpie when installed).

    Returns
    -------
    SbcResult
        Ranks and interval coverage per (replicate, parameter), diagnostics per replicate,
        ``n_draws = n_rank_draws`` and the settings.

    Examples
    --------
    >>> res = simulation_based_calibration(n_replicates=4, draws=100, tune=100)  # doctest: +SKIP
    >>> res.uniformity().columns.tolist()  # doctest: +SKIP
    ['parameter', 'chi2', 'df', 'p_value', 'n']
    """
    n_replicates = check_int("n_replicates", n_replicates, minimum=1)
    n_conditions = check_int("n_conditions", n_conditions, minimum=3)
    n_rank_draws = check_int("n_rank_draws", n_rank_draws, minimum=1)
    if draws * chains < n_rank_draws:
        raise OptionError(f"draws * chains = {draws * chains} < n_rank_draws = {n_rank_draws}")
    seed = root_seed(rng)
    rows, diag = [], []
    fits = sbc_fits(
        n_replicates=n_replicates, n_conditions=n_conditions, se=se, prior_scale=prior_scale,
        parameterization=parameterization, draws=draws, tune=tune, chains=chains, seed=seed,
        sampler=sampler,
    )  # fmt: skip
    for r, (truth, post, d) in enumerate(fits):
        for name, value in truth.items():
            x = post[name]
            thin = x[np.linspace(0, x.size - 1, n_rank_draws).round().astype(int)]
            q = np.quantile(x, [0.05, 0.25, 0.75, 0.95])
            rows.append(
                {"replicate": r, "parameter": name, "truth": float(value),
                 "rank": int((thin < value).sum()), "in_50": bool(q[1] <= value <= q[2]),
                 "in_90": bool(q[0] <= value <= q[3])}
            )  # fmt: skip
        diag.append(
            {"replicate": r, "max_r_hat": d.max_r_hat, "min_ess_bulk": d.min_ess_bulk,
             "min_ess_tail": d.min_ess_tail, "divergences": d.divergences}
        )  # fmt: skip
    settings = {
        "n_conditions": n_conditions, "se": se, "prior_scale": prior_scale,
        "parameterization": parameterization, "draws": draws, "tune": tune, "chains": chains,
        "seed": seed, "sampler": resolve_sampler(sampler),
    }  # fmt: skip
    return SbcResult(pd.DataFrame(rows), pd.DataFrame(diag), n_rank_draws, settings)
