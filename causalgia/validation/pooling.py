"""Partial pooling: error of per-condition effects with and without pooling on a noisy oracle.

The oracle is a single-base mutation scan along 50 positions of an additive model whose
per-position effects follow a smooth bump (the 50-position table of performance-anchors.md §3,
also used by benchmarks/bench_hierarchical.py): true ACE
``θ_p = 0.1 + 0.4·exp(−((p − 24.5)/5)²)`` and ICE SD ≈ 2.5, so with n = 500 backgrounds each
raw estimate has SE ≈ 0.11, about the spread of the true effects. Each replicate simulates a
fresh paired design and fits :func:`causalgia.pooling.hierarchical.fit_hierarchical` twice: the
exchangeable model (default) and the random-walk curve over ``position``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

from ..engine.declaration import as_model
from ..engine.simulator import simulate
from ..experiment.backgrounds import iid
from ..experiment.designs import Arm, design
from ..experiment.interventions import Mutate
from ..testing import AdditiveOracle
from .regimes import Regime

MODELS: dict[str, dict[str, Any]] = {
    "exchangeable": {},
    "curve": {"curve": "position"},
}


def bump(positions: np.ndarray) -> np.ndarray:
    """The true per-position ACE of the pooling oracle: ``0.1 + 0.4·exp(−((p − 24.5)/5)²)``.

    Parameters
    ----------
    positions : numpy.ndarray
        Positions 0 .. 49.

    Returns
    -------
    numpy.ndarray
        θ at every position.

    Examples
    --------
    >>> bump(np.array([0, 24, 25])).round(3).tolist()
    [0.1, 0.496, 0.496]
    """
    p = np.asarray(positions, dtype=float)
    return 0.1 + 0.4 * np.exp(-(((p - 24.5) / 5.0) ** 2))


def pooling_regime(n_positions: int = 50, noise_sd: float = 2.5) -> Regime:
    """A mutation scan (``Mutate(p, "G")`` at every position) of an additive oracle with noisy ICEs.

    Weights ``W[p] = noise_sd·(√2, −√2, 0, 0) + (4/3)·θ_p·(e_G − 1/4)`` (letters A, C, G, T):
    under a uniform iid background the ACE of the mutation at p is exactly ``θ_p``
    (:func:`bump`) and its ICE has SD ≈ ``noise_sd``. Different positions read different
    letters of an iid background, so the per-position estimates are independent.

    Parameters
    ----------
    n_positions : int
        Sequence length = number of conditions.
    noise_sd : float
        SD of the ICEs (apart from the small contribution of θ).

    Returns
    -------
    Regime
        One arm per position, experiment ``"position"``, design parameter ``position``.

    Examples
    --------
    >>> r = pooling_regime()
    >>> np.allclose(r.truth(), bump(np.arange(50)))
    True
    """
    theta = bump(np.arange(n_positions))
    u = np.array([np.sqrt(2.0), -np.sqrt(2.0), 0.0, 0.0])
    w = noise_sd * u[None, :] + (4.0 / 3.0) * theta[:, None] * (np.eye(4)[2] - 0.25)[None, :]
    arms = tuple(
        Arm(f"mut@{p}", Mutate(p, "G"), "position", {"position": p}) for p in range(n_positions)
    )
    return Regime(
        "pooling",
        f"single-base mutation scan over {n_positions} positions; true ACE a bump "
        f"0.1 + 0.4·exp(−((p − 24.5)/5)²), ICE SD ≈ {noise_sd}",
        AdditiveOracle(w),
        iid(n_positions),
        arms,
    )


def pooling_study(
    reps: int, *, seed: int, draws: int, tune: int, chains: int, n: int = 500
) -> dict[str, Any]:
    """RMSE of raw per-condition estimates vs pooled posterior means, over replicate studies.

    Replicate r simulates the paired design of :func:`pooling_regime` on ``n`` backgrounds
    (seed ``seed + r``), takes the raw ACE (mean ICE) and its 95% t interval per position, and
    fits the exchangeable and the curve model (NUTS, ``chains`` × ``draws`` after ``tune``,
    ``random_seed = seed + r``, diagnostics recorded, not raised).

    Parameters
    ----------
    reps : int
        Replicate studies R.
    seed : int
        Seed of the first replicate.
    draws, tune, chains : int
        Sampler settings of every fit.
    n : int
        Backgrounds per study.

    Returns
    -------
    dict
        ``settings``; ``replicates`` (per replicate and estimate: RMSE, 95% interval coverage,
        diagnostics); ``summary`` (per estimate: mean RMSE and its MCSE over replicates,
        reduction against raw, share of replicates where it beats raw, coverage); ``example``
        (replicate 0 per position: truth, raw estimate and interval, posterior means and
        HDIs) for the figure.

    Examples
    --------
    >>> out = pooling_study(2, seed=1, draws=300, tune=300, chains=2)  # doctest: +SKIP
    >>> [r["estimate"] for r in out["summary"]]  # doctest: +SKIP
    ['raw', 'exchangeable', 'curve']
    """
    from ..pooling.hierarchical import fit_hierarchical

    regime = pooling_regime()
    truth = regime.truth()
    tq = float(stats.t.ppf(0.975, n - 1))
    replicates: list[dict[str, Any]] = []
    example: dict[str, Any] = {}
    for r in range(reps):
        d = design(regime.background, regime.arms, n=n, rng=seed + r)
        table = simulate(as_model(regime.model), d, progress=False).table
        fits = {
            name: fit_hierarchical(
                table,
                draws=draws,
                tune=tune,
                chains=chains,
                random_seed=seed + r,
                diagnostics="ignore",
                **options,
            )
            for name, options in MODELS.items()
        }
        frames = {k: f.to_frame().sort_values("position") for k, f in fits.items()}
        first = frames["exchangeable"]
        pos = first["position"].to_numpy(int)
        theta = truth[pos]
        ace, se = first["ace"].to_numpy(float), first["se"].to_numpy(float)
        estimates = {"raw": (ace, ace - tq * se, ace + tq * se)}
        for k, f in frames.items():
            estimates[k] = tuple(f[c].to_numpy(float) for c in ("post_mean", "hdi_low", "hdi_high"))
        for k, (mean, low, high) in estimates.items():
            diag = fits[k].diagnostics if k in fits else None
            replicates.append(
                {
                    "rep": r,
                    "estimate": k,
                    "rmse": float(np.sqrt(np.mean((mean - theta) ** 2))),
                    "coverage": float(np.mean((low <= theta) & (theta <= high))),
                    "diagnostics_passed": None if diag is None else bool(diag.passed),
                    "divergences": None if diag is None else int(diag.divergences),
                }
            )
        if r == 0:
            example = {"position": pos.tolist(), "truth": theta.tolist()}
            for k, (mean, low, high) in estimates.items():
                example[k] = {"mean": mean.tolist(), "low": low.tolist(), "high": high.tolist()}
    return {
        "available": True,
        "settings": {
            "reps": reps,
            "n": n,
            "conditions": len(regime.arms),
            "draws": draws,
            "tune": tune,
            "chains": chains,
            "seed": seed,
            "description": regime.description,
            "interval": "raw: t interval; pooled: highest-density interval",
            "level": 0.95,
        },
        "replicates": replicates,
        "summary": _summary(replicates),
        "example": example,
    }


def _summary(replicates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per estimate: mean RMSE ± MCSE over replicates, paired reduction against raw, wins."""

    def col(name: str, key: str) -> np.ndarray:
        return np.array([r[key] for r in replicates if r["estimate"] == name], dtype=float)

    def mcse(x: np.ndarray) -> float:
        return float(x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else float("nan")

    raw = col("raw", "rmse")
    rows = []
    for name in dict.fromkeys(r["estimate"] for r in replicates):
        rmse, cov = col(name, "rmse"), col(name, "coverage")
        ratio = 1.0 - rmse / raw
        rows.append(
            {
                "estimate": name,
                "rmse": float(rmse.mean()),
                "rmse_mcse": mcse(rmse),
                "reduction": float(ratio.mean()),
                "reduction_mcse": mcse(ratio),
                "beats_raw": float(np.mean(rmse < raw)),
                "coverage": float(cov.mean()),
                "coverage_mcse": mcse(cov),
                "diagnostics_passed": (
                    None if name == "raw" else float(col(name, "diagnostics_passed").mean())
                ),
            }
        )
    return rows
