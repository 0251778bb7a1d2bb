"""ICE maps: saturation mutagenesis, local (one sequence) and global (a background population).

- :func:`ice_map` is the *local*, per-sequence causal effect of every single-base mutation:
  ``ICE(x; i→b) = f(x with base b at position i) − f(x)`` for every position × base of one
  sequence x (the classic in-silico mutagenesis map, here named for what it is: the ICE of a
  do-intervention on one background).
- :func:`global_ice_map` is its *global* counterpart: the ACE of "set position i to base b"
  averaged over a background population P_B, with intervals and q-values — which positions
  matter in general, rather than in one sequence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .._options import check_int
from .._rng import RngLike
from ..engine.declaration import as_model
from ..engine.models import Model
from ..engine.simulator import SimulationResult, simulate
from ..errors import InvalidSequenceError, OptionError
from ..experiment.backgrounds import Background
from ..experiment.designs import Arm, design
from ..experiment.interventions import Mutate
from ..sequences.alphabet import N_CODE, encode
from ..stats.estimators import AceEstimates, Adjustment, Method, estimate_ace


def _positions(positions: Sequence[int] | None, length: int) -> list[int]:
    if positions is None:
        return list(range(length))
    out = [check_int("position", p, minimum=0) for p in positions]
    bad = [p for p in out if p >= length]
    if bad:
        raise OptionError(f"positions {bad} are outside a sequence of length {length}")
    return out


@dataclass(frozen=True)
class IceMap:
    """Local ICE map of one sequence: one row per position × base.

    Attributes
    ----------
    table : pandas.DataFrame
        ``position, ref, base, y_ref, y_mut, ice`` (``ice = 0`` exactly where ``base`` is the
        reference base).
    sequence : str
        The sequence mutated.

    Examples
    --------
    >>> from causalgia.testing import AdditiveOracle
    >>> m = ice_map(AdditiveOracle.from_motif("GATA", 8), "CCGATACC")
    >>> m.matrix().shape
    (8, 4)
    """

    table: pd.DataFrame
    sequence: str

    def matrix(self) -> np.ndarray:
        """The ICEs as a ``(positions, 4)`` array (columns in alphabet order)."""
        return self.table["ice"].to_numpy(dtype=float).reshape(-1, 4)

    def to_frame(self) -> pd.DataFrame:
        """A copy of the map table."""
        return self.table.copy()

    def summary(self) -> str:
        """The five mutations with the largest |ICE|."""
        top = self.table.reindex(self.table["ice"].abs().sort_values(ascending=False).index)
        lines = [f"IceMap of a {len(self.sequence)}-nt sequence, f(x) = {self.table.y_ref[0]:.4g}"]
        lines += [
            f"  {r.position}{r.ref}>{r.base}: ICE = {r.ice:+.4g}" for r in top.head(5).itertuples()
        ]
        return "\n".join(lines)


def ice_map(
    model: Model | Any,
    sequence: str,
    *,
    positions: Sequence[int] | None = None,
    batch_size: int | None = None,
) -> IceMap:
    """Saturation mutagenesis of one sequence: the local ICE of every single-base mutation.

    One forward pass for the sequence plus three per position. The sequence is encoded in
    the model's declared alphabet; N is rejected (its mutations are undefined).

    Examples
    --------
    >>> from causalgia.testing import AdditiveOracle
    >>> m = ice_map(AdditiveOracle.from_motif("GATA", 8), "CCGATACC", positions=[2])
    >>> m.table[["position", "ref", "base", "ice"]].round(2).values.tolist()[:2]
    [[2, 'G', 'A', 0.0], [2, 'G', 'C', -1.0]]
    """
    model = as_model(model)
    letters = model.alphabet.letters
    codes = encode(sequence, model.alphabet)
    if np.any(codes == N_CODE):
        pos = int(np.argmax(codes == N_CODE))
        raise InvalidSequenceError(f"sequence has N at position {pos}; mutate A/C/G/T(U) only")
    where = _positions(positions, codes.size)
    variants = np.repeat(codes[None, :], 1 + 4 * len(where), axis=0)
    for k, p in enumerate(where):
        variants[1 + 4 * k : 5 + 4 * k, p] = np.arange(4)
    y = model.predict(variants, batch_size=batch_size)
    ref = np.repeat(codes[where], 4)
    base = np.tile(np.arange(4), len(where))
    y_mut = np.where(base == ref, y[0], y[1:])
    table = pd.DataFrame(
        {
            "position": np.repeat(where, 4),
            "ref": [letters[c] for c in ref],
            "base": [letters[c] for c in base],
            "y_ref": y[0],
            "y_mut": y_mut,
            "ice": y_mut - y[0],
        }
    )
    return IceMap(table, sequence.upper())


@dataclass(frozen=True)
class GlobalIceMap:
    """Global ICE map: the ACE of every position × base mutation over a background population.

    Attributes
    ----------
    estimates : AceEstimates
        Experiment ``"ice_map"``, labels like ``"12G"``, parameters ``position, base``; ACEs
        with intervals, p-values and BH (or other) q-values over the whole map.
    result : SimulationResult
        The paired run behind it (its ICE table holds every background's local map).

    Examples
    --------
    >>> from causalgia.experiment.backgrounds import iid
    >>> from causalgia.testing import AdditiveOracle
    >>> g = global_ice_map(AdditiveOracle.from_motif("GATA", 10), iid(10), n=20,
    ...                    positions=[3, 4], rng=1)
    >>> g.matrix().shape
    (2, 4)
    """

    estimates: AceEstimates
    result: SimulationResult

    def matrix(self, column: str = "ace") -> np.ndarray:
        """A column of the estimates as a ``(positions, 4)`` array."""
        return self.estimates.table[column].to_numpy(dtype=float).reshape(-1, 4)

    def to_frame(self) -> pd.DataFrame:
        """A copy of the estimates table."""
        return self.estimates.to_frame()

    def summary(self) -> str:
        """How many mutations are significant, and the largest ones."""
        t = self.estimates.table
        hits = t[t["q_value"] < 0.05]
        top = t.reindex(t["ace"].abs().sort_values(ascending=False).index).head(5)
        lines = [
            f"GlobalIceMap: {len(t)} mutations over {self.result.design.n} backgrounds; "
            f"{len(hits)} with q < 0.05"
        ]
        lines += [
            f"  {r.label}: ACE = {r.ace:+.4g} [{r.ci_low:.4g}, {r.ci_high:.4g}]"
            for r in top.itertuples()
        ]
        return "\n".join(lines)


def global_ice_map(
    model: Model | Any,
    background: Background,
    *,
    n: int,
    positions: Sequence[int] | None = None,
    method: Method = "paired_t",
    ci: float = 0.95,
    rng: RngLike = None,
    multiple_testing: Adjustment = "fdr_bh",
    batch_size: int | None = None,
) -> GlobalIceMap:
    """The average effect of every single-base mutation over ``n`` backgrounds from P_B.

    A paired design with one :class:`~causalgia.experiment.interventions.Mutate` arm per position ×
    base: for a background that already has base b at position i the ICE is exactly 0 (and
    costs no forward pass), so the ACE of "set i to b" averages over backgrounds with and
    without b there, as the do-operator prescribes.

    Examples
    --------
    >>> from causalgia.experiment.backgrounds import iid
    >>> from causalgia.testing import AdditiveOracle
    >>> g = global_ice_map(AdditiveOracle.from_motif("GATA", 10), iid(10), n=30, rng=1)
    >>> len(g.estimates)
    40
    """
    model = as_model(model)
    letters = background.alphabet.letters
    where = _positions(positions, background.length)
    arms = [
        Arm(f"{p}{b}", Mutate(p, b), "ice_map", {"position": p, "base": b})
        for p in where
        for b in letters
    ]
    result = simulate(
        model, design(background, arms, n=n, rng=rng), batch_size=batch_size, progress=False
    )
    est = estimate_ace(result, method=method, ci=ci, rng=rng, multiple_testing=multiple_testing)
    return GlobalIceMap(est, result)
