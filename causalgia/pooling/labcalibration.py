"""Bayesian calibration of in-silico effects against wet-lab effects of the same designs.

:func:`calibrate` fits lab = offset + slope·in_silico + noise with errors in variables (PyMC,
imported inside the function): the slope says how the network's effect scale maps onto the
lab's, and ``extra_sd`` how much the lab varies beyond both measurement errors. R-hat is ArviZ's
rank-normalised split R-hat.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._options import check_probability
from .._rng import RngLike, root_seed
from ..errors import EstimationError
from .display import _html_block, _html_table, _repr_lines


@dataclass(frozen=True)
class Calibration:
    """Posterior of lab = offset + slope·in_silico + noise (sd = sqrt(se² + extra²)).

    ``table`` columns: ``parameter`` (offset, slope, extra_sd), ``mean``, ``sd``, ``hdi_low``,
    ``hdi_high`` (equal-tailed credible interval at ``prob``), ``r_hat``.
    """

    table: pd.DataFrame
    prob: float
    samples: dict[str, np.ndarray]

    def to_frame(self) -> pd.DataFrame:
        """A copy of the posterior summary.

        Returns
        -------
        pandas.DataFrame
            A copy of :attr:`table`, one row per parameter (offset, slope, extra_sd).
        """
        return self.table.copy()

    def summary(self) -> str:
        """One line per parameter.

        Returns
        -------
        str
            A header line, then each parameter's posterior mean, credible interval and R-hat.
        """
        lines = [f"Calibration (posterior mean, {self.prob:.0%} credible interval)"]
        for r in self.table.itertuples(index=False):
            lines.append(
                f"  {r.parameter:>8}: {r.mean:+.4f} [{r.hdi_low:+.4f}, {r.hdi_high:+.4f}]"
                f"  r_hat={r.r_hat:.3f}"
            )
        return "\n".join(lines)

    def __repr__(self) -> str:
        draws = len(next(iter(self.samples.values()))) if self.samples else 0
        head = (
            f"Calibration: lab = offset + slope·in_silico, {100 * self.prob:g}% credible "
            f"intervals, {draws} draws"
        )
        t = self.table.set_index("parameter") if "parameter" in self.table else None
        if t is None or t.empty:
            return _repr_lines(head)
        parts = [
            f"{name} {t.loc[name, 'mean']:+.4g} [{t.loc[name, 'hdi_low']:+.4g}, "
            f"{t.loc[name, 'hdi_high']:+.4g}]"
            for name in ("slope", "offset")
            if name in t.index
        ]
        if "extra_sd" in t.index:
            parts.append(f"extra_sd {t.loc['extra_sd', 'mean']:.4g}")
        r_hat = f"max R-hat {t['r_hat'].max():.3f}" if "r_hat" in t else ""
        return _repr_lines(head, "  " + "; ".join(parts), f"  {r_hat}" if r_hat else "")

    def _repr_html_(self) -> str:
        return _html_block(repr(self), _html_table(self.table))


def calibrate(
    in_silico: np.ndarray,
    lab: np.ndarray,
    *,
    in_silico_se: np.ndarray | None = None,
    lab_se: np.ndarray | None = None,
    prob: float = 0.95,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 2,
    rng: RngLike = None,
) -> Calibration:
    """Bayesian calibration of in-silico effects to lab effects (PyMC, imported here).

    Model: ``x_true ~ Normal(in_silico, in_silico_se)`` (errors in variables; fixed at the
    estimates when no SE is given), ``lab ~ Normal(offset + slope * x_true,
    sqrt(lab_se² + extra_sd²))`` with weakly informative priors on the standardised scale
    (offset, slope ~ Normal(0, 2.5 sd(lab)/sd(x)), extra_sd ~ HalfNormal(sd(lab))).

    Parameters
    ----------
    in_silico : numpy.ndarray
        In-silico effects (e.g. ACEs), one per design; at least 3.
    lab : numpy.ndarray
        Lab effects of the same designs, in the same order and of the same shape.
    in_silico_se : numpy.ndarray, optional
        Standard errors of ``in_silico``; None (default) treats the in-silico effects as
        exact.
    lab_se : numpy.ndarray, optional
        Standard errors of ``lab``; None (default) leaves all lab noise to ``extra_sd``.
    prob : float, default 0.95
        Probability of the equal-tailed credible intervals.
    draws, tune : int, default 1000
        Posterior draws and tuning steps per chain (PyMC's NUTS).
    chains : int, default 2
        Number of chains (run one after another, on one core).
    rng : int, numpy.random.Generator or None
        Seed of the sampler (None: a fresh seed).

    Returns
    -------
    Calibration
        The posterior summary table, ``prob`` and the pooled draws of offset, slope and
        extra_sd.

    Examples
    --------
    >>> x = np.linspace(0, 1, 20)
    >>> cal = calibrate(x, 1 + 2 * x, draws=200, tune=200, chains=1, rng=0)  # doctest: +SKIP
    >>> round(cal.to_frame().set_index("parameter").loc["slope", "mean"])  # doctest: +SKIP
    2
    """
    import arviz as az
    import pymc as pm

    x = np.asarray(in_silico, dtype=float)
    y = np.asarray(lab, dtype=float)
    if x.shape != y.shape or x.size < 3:
        raise EstimationError("calibrate needs two 1-D arrays of one length >= 3")
    prob = check_probability("prob", prob)
    sx, sy = float(np.std(x)) or 1.0, float(np.std(y)) or 1.0
    with pm.Model():
        offset = pm.Normal("offset", float(np.mean(y)), 2.5 * sy)
        slope = pm.Normal("slope", 0.0, 2.5 * sy / sx)
        extra = pm.HalfNormal("extra_sd", sy)
        if in_silico_se is not None:
            x_true = pm.Normal("x_true", x, np.asarray(in_silico_se, dtype=float), shape=x.shape)
        else:
            x_true = x
        sd = extra if lab_se is None else pm.math.sqrt(np.asarray(lab_se, float) ** 2 + extra**2)
        pm.Normal("lab", offset + slope * x_true, sd, observed=y)
        idata = pm.sample(
            draws=draws,
            tune=tune,
            chains=chains,
            cores=1,
            random_seed=root_seed(rng) % (2**32),
            progressbar=False,
            compute_convergence_checks=False,
        )
    post = idata.posterior
    rhat = az.rhat(post[["offset", "slope", "extra_sd"]])
    rows, samples = [], {}
    for name in ("offset", "slope", "extra_sd"):
        arr = post[name].values  # (chains, draws)
        samples[name] = arr.reshape(-1)
        lo, hi = np.quantile(samples[name], [(1 - prob) / 2, (1 + prob) / 2])
        rows.append(
            {
                "parameter": name,
                "mean": float(arr.mean()),
                "sd": float(arr.std()),
                "hdi_low": float(lo),
                "hdi_high": float(hi),
                "r_hat": float(rhat[name]),
            }
        )
    return Calibration(pd.DataFrame(rows), prob, samples)
