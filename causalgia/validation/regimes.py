"""Oracle regimes with known truth and the keyed ICE blocks every validation study draws from.

A :class:`Regime` bundles an oracle of :mod:`causalgia.testing`, a background population and
arms whose true ACEs are exact closed forms. :func:`ice_blocks` turns a regime into ``reps``
independent paired experiments, all simulated by :func:`~causalgia.engine.simulate`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from ..engine.declaration import as_model
from ..engine.simulator import simulate
from ..experiment.backgrounds import Background, iid
from ..experiment.designs import Arm, design
from ..experiment.interventions import Substitute
from ..sequences.motifs import Motif
from ..testing import AdditiveOracle, HeavyTailOracle

PWM = Motif.from_counts([[6, 2, 1, 1], [1, 1, 7, 1], [7, 1, 1, 1], [1, 1, 1, 7]], name="pwm")
Z95 = float(stats.norm.ppf(0.975))


@dataclass(frozen=True)
class Regime:
    """An oracle, a background and arms whose true ACEs are known in closed form.

    Attributes
    ----------
    name, description : str
        Short name and one-line description (quoted in the report).
    model : object
        An oracle of :mod:`causalgia.testing` with a ``true_ace(intervention, background)``.
    background : Background
        The background population P_B.
    arms : tuple of Arm
        The interventions of one experiment (they share every control).

    Examples
    --------
    >>> regimes()["homogeneous"].truth().round(3).tolist()
    [0.5, 0.5, 0.5]
    """

    name: str
    description: str
    model: Any
    background: Background
    arms: tuple[Arm, ...]

    def truth(self) -> np.ndarray:
        """True ACE of every arm.

        Returns
        -------
        ndarray
            One closed-form true ACE per arm, in arm order.
        """
        return np.array([self.model.true_ace(a.intervention, self.background) for a in self.arms])


def regimes() -> dict[str, Regime]:
    """The three ICE regimes of the coverage study (3 positions of a PWM-sampled motif each).

    Returns
    -------
    dict of str to Regime
        ``homogeneous``, ``heterogeneous`` and ``heavy_tailed``.

    Examples
    --------
    >>> sorted(regimes())
    ['heavy_tailed', 'heterogeneous', 'homogeneous']
    """

    def sweep(positions: tuple[int, ...]) -> tuple[Arm, ...]:
        return tuple(Arm(f"pwm@{p}", Substitute(PWM, p), "coverage") for p in positions)

    return {
        "homogeneous": Regime(
            "homogeneous",
            "linear PWM scanner, translation invariant: equal ACE at every position, "
            "near-normal ICEs; the three windows overlap, so a background's ICEs correlate",
            AdditiveOracle.from_motif(PWM, 40),
            iid(40),
            sweep((12, 14, 16)),
        ),
        "heterogeneous": Regime(
            "heterogeneous",
            "additive model with random position-specific weights: ACE and ICE spread differ "
            "across positions",
            AdditiveOracle(np.random.default_rng(0).normal(size=(30, 4))),
            iid(30),
            sweep((3, 12, 20)),
        ),
        "heavy_tailed": Regime(
            "heavy_tailed",
            "PWM scanner gated by exp(M), SD(M) = 1: lognormal-like ICEs (skewness ≈ 4, "
            "kurtosis ≈ 30)",
            HeavyTailOracle.from_motif(PWM, 40, modulated=(30, 40), sigma=1.0),
            iid(40),
            sweep((6, 14, 22)),
        ),
    }


def ice_blocks(regime: Regime, n: int, reps: int, seed: int, *, chunk: int = 120_000) -> np.ndarray:
    """ICEs of ``reps`` independent paired experiments of ``n`` backgrounds: ``(reps, n, arms)``.

    Replicate r is background ids ``r·n .. (r+1)·n − 1`` of one large keyed design (chunked),
    so replicates are independent draws from P_B and every ICE comes from
    :func:`~causalgia.engine.simulate`.

    Parameters
    ----------
    regime : Regime
        Oracle, background and arms.
    n, reps : int
        Backgrounds per experiment and number of experiments.
    seed : int
        Seed of the keyed design.
    chunk : int
        Backgrounds simulated per call (memory bound).

    Returns
    -------
    numpy.ndarray
        ICEs of shape ``(reps, n, len(regime.arms))``.

    Examples
    --------
    >>> ice_blocks(regimes()["homogeneous"], 10, 2, seed=1).shape
    (2, 10, 3)
    """
    model = as_model(regime.model)
    per = max(1, chunk // n)
    out = np.empty((reps, n, len(regime.arms)))
    for start in range(0, reps, per):
        r = min(per, reps - start)
        d = design(regime.background, regime.arms, n=r * n, rng=seed + start)
        table = simulate(model, d, progress=False).table
        for j, arm in enumerate(regime.arms):
            sub = table[table["label"] == arm.label].sort_values("background_id")
            out[start : start + r, :, j] = sub["ice"].to_numpy(float).reshape(r, n)
    return out


def reference_sd(regime: Regime, n: int, seed: int) -> np.ndarray:
    """True SD of each arm's ICE and of the per-background mean over arms (large sample).

    Parameters
    ----------
    regime : Regime
        Oracle, background and arms.
    n : int
        Backgrounds of the reference run.
    seed : int
        Seed of its design.

    Returns
    -------
    numpy.ndarray
        ``len(regime.arms) + 1`` SDs.

    Examples
    --------
    >>> reference_sd(regimes()["homogeneous"], 2000, seed=1).shape
    (4,)
    """
    ice = ice_blocks(regime, n, 1, seed)[0]
    return np.r_[ice.std(axis=0, ddof=1), ice.mean(axis=1).std(ddof=1)]


def _coverage_stats(hit: np.ndarray) -> dict[str, float]:
    """Coverage and its MCSE from a (reps, k) hit matrix (clustered by replicate)."""
    per_rep = hit.mean(axis=1)
    return {
        "coverage": float(per_rep.mean()),
        "mcse": float(per_rep.std(ddof=1) / np.sqrt(len(per_rep))) if len(per_rep) > 1 else 0.0,
        "intervals": int(hit.size),
    }
