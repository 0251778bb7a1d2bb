"""Contrast tests on the planted RBP oracle: detection of the planted interaction, saturation,
close-spacing penalty and helical periodicity, and false alarms on the oracle without them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..engine.declaration import as_model
from ..engine.simulator import simulate
from ..experiment.backgrounds import iid
from ..experiment.designs import Arm, design, sweep_counts, sweep_spacing
from ..experiment.interventions import Substitute
from ..testing import PlantedRBPOracle


def contrast_arms() -> list[Arm]:
    """2×2 factorial, 1–3 copies and spacings 0–40 of UGCAUG on 100-nt RNA backgrounds.

    Returns
    -------
    list of Arm
        Experiments ``"pair"`` (A, B, A+B), ``"count"`` and ``"spacing"``.

    Examples
    --------
    >>> arms = contrast_arms()
    >>> len(arms), [a.label for a in arms[:3]]
    (47, ['A', 'B', 'A+B'])
    """
    from ..experiment.designs import factorial

    arms = factorial(
        {"A": Substitute("UGCAUG", 15), "B": Substitute("UGCAUG", 70)}, experiment="pair"
    )
    arms += sweep_counts("UGCAUG", [1, 2, 3], positions=[30, 45, 60])
    arms += sweep_spacing("UGCAUG", list(range(41)), start=20)
    return arms


def contrast_study(reps: int, *, seed: int, n: int = 100) -> list[dict[str, Any]]:
    """Rejection rates at 0.05 of the four contrast tests on the planted and null oracles.

    Parameters
    ----------
    reps : int
        Replicates per oracle; replicate r uses root seed ``seed + r``.
    seed : int
        Root seed of the first replicate.
    n : int, default 100
        Backgrounds per replicate.

    Returns
    -------
    list of dict
        One row per oracle (``"planted"``, ``"null"``) and test (interaction, additivity,
        penalty, periodicity): ``oracle, test, reps, n, rejection_rate``.

    Examples
    --------
    >>> rows = contrast_study(1, seed=1, n=20)
    >>> [(r["oracle"], r["test"]) for r in rows][:2]
    [('planted', 'interaction'), ('planted', 'additivity')]
    """
    from ..stats import contrasts as C

    rows = []
    for label, oracle in (
        ("planted", PlantedRBPOracle(helical=0.15)),
        ("null", PlantedRBPOracle.without_mechanisms()),
    ):
        p: dict[str, list[float]] = {k: [] for k in ("interaction", "additivity", "penalty")}
        p["periodicity"] = []
        for r in range(reps):
            res = simulate(
                as_model(oracle),
                design(iid(100, alphabet="rna"), contrast_arms(), n=n, rng=seed + r),
                progress=False,
            )
            p["interaction"].append(
                float(C.interaction(res, "A", "B", "A+B", experiment="pair").table.p_value[0])
            )
            add = C.additivity(res, n_resamples=1, rng=r).contrasts.table
            p["additivity"].append(float(add.set_index("count").loc[2, "p_value"]))
            p["penalty"].append(float(C.spacing_penalty(res, close=2).table.p_value[0]))
            p["periodicity"].append(
                float(C.periodicity(res, period=10.5, min_spacing=6).table.p_value[0])
            )
        for test, values in p.items():
            rows.append(
                {
                    "oracle": label,
                    "test": test,
                    "reps": reps,
                    "n": n,
                    "rejection_rate": float(np.mean(np.array(values) < 0.05)),
                }
            )
    return rows
