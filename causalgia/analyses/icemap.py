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
        """The ICEs as a ``(positions, 4)`` array (columns in alphabet order).

        Returns
        -------
        ndarray
            One row per mapped position, in the order mapped.

        Examples
        --------
        >>> from causalgia.testing import AdditiveOracle
        >>> m = ice_map(AdditiveOracle.from_motif("GATA", 8), "CCGATACC", positions=[2])
        >>> m.matrix().tolist()
        [[0.0, -1.0, 0.0, 0.0]]
        """
        return self.table["ice"].to_numpy(dtype=float).reshape(-1, 4)

    def to_frame(self) -> pd.DataFrame:
        """A copy of the map table.

        Returns
        -------
        DataFrame
            ``position, ref, base, y_ref, y_mut, ice``.

        Examples
        --------
        >>> from causalgia.testing import AdditiveOracle
        >>> m = ice_map(AdditiveOracle.from_motif("GATA", 8), "CCGATACC", positions=[2])
        >>> m.to_frame().shape
        (4, 6)
        """
        return self.table.copy()

    def summary(self) -> str:
        """The five mutations with the largest |ICE|.

        Returns
        -------
        str
            A header with f(x), then one line per mutation.

        Examples
        --------
        >>> from causalgia.testing import AdditiveOracle
        >>> m = ice_map(AdditiveOracle.from_motif("GATA", 8), "CCGATACC", positions=[2])
        >>> print(m.summary().splitlines()[1])
          2G>C: ICE = -1
        """
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

    One forward pass for the sequence plus four per position (the unchanged base included; its
    ICE is set to exactly 0). The sequence is encoded in the model's declared alphabet; N is
    rejected (its mutations are undefined).

    Parameters
    ----------
    model : Model or callable
        The model, or a callable that :func:`~causalgia.engine.as_model` can wrap.
    sequence : str
        The sequence, in the model's alphabet, any case.
    positions : sequence of int, optional
        0-based positions to mutate; default every position.
    batch_size : int, optional
        Forward-pass batch size; default the model's.

    Returns
    -------
    IceMap

    Raises
    ------
    InvalidSequenceError
        On an N or an invalid letter.
    OptionError
        On a position outside the sequence or a bad ``batch_size``.
    ModelOutputError
        When the model returns a non-finite value.

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
        """A column of the estimates as a ``(positions, 4)`` array.

        Parameters
        ----------
        column : str, default "ace"
            A numeric column of the estimates table (e.g. ``se``, ``ci_low``, ``q_value``).

        Returns
        -------
        ndarray
            One row per mapped position; columns in alphabet order.

        Examples
        --------
        >>> from causalgia.experiment.backgrounds import iid
        >>> from causalgia.testing import AdditiveOracle
        >>> g = global_ice_map(AdditiveOracle.from_motif("GATA", 10), iid(10), n=20,
        ...                    positions=[3], rng=1)
        >>> g.matrix("q_value").shape
        (1, 4)
        """
        return self.estimates.table[column].to_numpy(dtype=float).reshape(-1, 4)

    def to_frame(self) -> pd.DataFrame:
        """A copy of the estimates table.

        Returns
        -------
        DataFrame
            One row per mutation: ``experiment, label, position, base, method, ace, se,
            ci_low, ci_high, n, p_value, q_value``.

        Examples
        --------
        >>> from causalgia.experiment.backgrounds import iid
        >>> from causalgia.testing import AdditiveOracle
        >>> g = global_ice_map(AdditiveOracle.from_motif("GATA", 10), iid(10), n=20,
        ...                    positions=[3], rng=1)
        >>> g.to_frame()["label"].tolist()
        ['3A', '3C', '3G', '3T']
        """
        return self.estimates.to_frame()

    def summary(self) -> str:
        """How many mutations are significant, and the largest ones.

        Returns
        -------
        str
            A header with the number of mutations with q < 0.05, then the five largest |ACE|.

        Examples
        --------
        >>> from causalgia.experiment.backgrounds import iid
        >>> from causalgia.testing import AdditiveOracle
        >>> g = global_ice_map(AdditiveOracle.from_motif("GATA", 10), iid(10), n=20,
        ...                    positions=[3], rng=1)
        >>> g.summary().splitlines()[0]
        'GlobalIceMap: 4 mutations over 20 backgrounds; 2 with q < 0.05'
        """
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

    Parameters
    ----------
    model : Model or callable
        The model, or a callable that :func:`~causalgia.engine.as_model` can wrap.
    background : Background
        The background population P_B.
    n : int
        Number of backgrounds (>= 2).
    positions : sequence of int, optional
        0-based positions to mutate; default every position.
    method : str, default "paired_t"
        Estimator, one of :func:`~causalgia.stats.estimate_ace`'s methods.
    ci : float, default 0.95
        Confidence level, in (0, 1).
    rng : int, Generator or None, default None
        Root seed of the design and of the estimator's resampling.
    multiple_testing : {"fdr_bh", "fdr_by", "bonferroni", "holm", "none"}, default "fdr_bh"
        Adjustment of ``q_value`` over the whole map.
    batch_size : int, optional
        Forward-pass batch size; default the model's.

    Returns
    -------
    GlobalIceMap

    Raises
    ------
    OptionError
        On a position outside the sequence or another bad option.
    ModelOutputError
        When the model returns a non-finite value.

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
