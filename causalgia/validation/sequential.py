"""Sequential stopping: coverage of the final intervals at the stopping round, and forward
passes saved against the fixed design of equal width (:func:`causalgia.analyses.simulate_until`,
Stein's two-stage rule and the normal-mixture confidence sequence).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

from ..experiment.backgrounds import iid
from ..experiment.designs import Arm
from ..experiment.interventions import Mutate, Substitute
from ..testing import AdditiveOracle
from .regimes import PWM, Regime, _coverage_stats


def sequential_study(
    regime: Regime,
    reps: int,
    *,
    seed: int,
    sd_true: np.ndarray,
    rule: str = "two_stage",
    n_equiv: int = 100,
    first: int = 50,
    batch: int = 50,
) -> dict[str, Any]:
    """Coverage of ``simulate_until(rule=rule)``'s intervals at the stopping round, and the
    forward passes used against the fixed-n design of equal width computed with the *true* ICE
    SDs (the best a fixed design can do).

    The target half-width is the one a fixed-n t interval reaches at ``n_equiv`` backgrounds
    for the noisiest arm. Replicate r uses root seed ``seed + r``.

    Parameters
    ----------
    regime : Regime
        The oracle, background and arms.
    reps : int
        Replicates.
    seed : int
        Root seed of the first replicate.
    sd_true : ndarray
        True ICE SD of every arm (:func:`~causalgia.validation.regimes.reference_sd`).
    rule : str, default "two_stage"
        The stopping rule of ``simulate_until``.
    n_equiv : int, default 100
        Backgrounds at which a fixed-n interval reaches the target half-width.
    first : int, default 50
        Backgrounds of the first round.
    batch : int, default 50
        Backgrounds added per later round.

    Returns
    -------
    dict
        One row: the regime, rule and settings, coverage statistics, mean n and forward passes,
        the fixed design's forward passes and the fraction saved.

    Examples
    --------
    >>> from causalgia.validation.regimes import regimes, reference_sd
    >>> r = regimes()["homogeneous"]
    >>> row = sequential_study(r, 2, seed=1, sd_true=reference_sd(r, 2000, 1))
    >>> row["rule"], row["intervals"]
    ('two_stage', 6)
    """
    from ..analyses.sequential import simulate_until
    from ..stats.stopping import fixed_n_for_width

    p = len(regime.arms)
    sd = sd_true[:p]
    target = float(stats.t.ppf(0.975, n_equiv - 1) * sd.max() / np.sqrt(n_equiv))
    n_fixed = max(fixed_n_for_width(float(s), target) for s in sd)
    truth = regime.truth()
    hits, used, fixed, ns, widths = [], [], [], [], []
    for r in range(reps):
        res = simulate_until(
            regime.model,
            regime.background,
            regime.arms,
            half_width=target,
            rule=rule,
            first=first,
            batch=batch,
            max_n=20 * n_equiv,
            rng=seed + r,
        )
        t = res.estimates.table
        hits.append(((t["ci_low"] <= truth) & (truth <= t["ci_high"])).to_numpy(float))
        used.append(res.n_forward)
        per_background = res.rounds["n_forward"].iloc[0] / res.rounds["n_backgrounds"].iloc[0]
        fixed.append(n_fixed * per_background)
        ns.append(t["n"].to_numpy())
        widths.append((t["half_width"] / target).to_numpy())
    cov = _coverage_stats(np.array(hits))
    return {
        "regime": regime.name,
        "rule": rule,
        "first": first,
        "reps": reps,
        "arms": p,
        "target_half_width": target,
        "n_fixed": int(n_fixed),
        **cov,
        "mean_n": float(np.mean(ns)),
        "mean_forward": float(np.mean(used)),
        "fixed_forward": float(np.mean(fixed)),
        "saved_fraction": float(1.0 - np.mean(used) / np.mean(fixed)),
        "mean_width_over_target": float(np.mean(widths)),
    }


def mixed_panel() -> Regime:
    """A PWM insertion plus twelve single-base mutations: effects of very different variance.

    Returns
    -------
    Regime
        An additive oracle on 30-nt iid backgrounds, with 13 arms.

    Examples
    --------
    >>> r = mixed_panel()
    >>> r.name, len(r.arms)
    ('mixed_panel', 13)
    """
    model = AdditiveOracle(np.random.default_rng(0).normal(size=(30, 4)))
    arms = [Arm("pwm@12", Substitute(PWM, 12), "panel")]
    sites = (0, 2, 4, 6, 8, 10, 17, 20, 22, 24, 27, 29)
    arms += [Arm(f"mut{j}G", Mutate(j, "G"), "panel") for j in sites]
    return Regime(
        "mixed_panel",
        "one PWM insertion and twelve single-base mutations (a small global ICE map)",
        model,
        iid(30),
        tuple(arms),
    )
