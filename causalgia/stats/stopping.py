"""Stopping rules for sequential designs: how many backgrounds each arm needs.

Pure functions of the ICEs seen so far (no model calls); :func:`causalgia.analyses.simulate_until`
drives them. Looking at the data and stopping when an ordinary t interval is narrow enough would
break its coverage, so two valid rules are offered:

``rule="two_stage"`` (default): Stein's (1945) two-stage procedure ("A two-sample test for a
linear hypothesis whose power is independent of the variance", Ann. Math. Statist. 16(3)).
A first round of ``n0`` backgrounds estimates each arm's ICE SD ``s0``; the arm then gets
``n = max(n0, ⌈(t_{n0−1} s0 / h)²⌉)`` backgrounds in total and its interval is
``mean_n ± t_{n0−1} s0 / √n`` (half-width ≤ h). Because n depends on the first round only
through ``s0``, which is independent of every sample mean for normal ICEs, the interval has
exactly the nominal coverage for normal ICEs (the pivot is t with n0 − 1 df). Every arm reaches
its target with one look; it is the cheapest valid rule when the SDs are unknown.

``rule="mixture"``: an **anytime-valid confidence sequence** that covers the ACE simultaneously
at every round with probability ≥ 1 − α, so a user may keep adding rounds for as long as they
like (and stop for any reason). It is the two-sided normal-mixture boundary of Robbins (1970),
in the asymptotic form of Waudby-Smith, Arbour, Sinha, Kennedy & Ramdas (2024, "Time-uniform
central limit theory and asymptotic confidence sequences", Ann. Statist. 52(6)), which plugs in
the running sample SD σ̂_t::

    mean_t ± σ̂_t · sqrt( 2(tρ² + 1) / (t²ρ²) · log( sqrt(tρ² + 1) / α ) ),
    ρ² = (−2 log α + log(−2 log α + 1)) / t*,

tuned to be narrowest at ``t* = t_star`` backgrounds (the normal-mixture boundary is reviewed by
Howard, Ramdas, McAuliffe & Sekhon 2021, "Time-uniform, nonparametric, nonasymptotic confidence
sequences", Ann. Statist. 49(2)). Its validity is asymptotic in the first look (σ̂ must be a
good estimate by then), so the first round should have a few dozen backgrounds. The price of
anytime validity is a wider interval at a given n (≈1.5× the t interval near t*) and coverage
well above 1 − α at any single stopping time (docs/validation.md measures both rules).

The rules see ICE *streams* and decide per stream; "arm" below means one stream. For a model
with several declared outputs :func:`~causalgia.analyses.simulate_until` gives them one stream
per (arm, output), so the criterion is evaluated per (arm, output) and the run stops when it
holds for all of them (an arm is evaluated while any of its outputs runs; one forward pass
serves every output).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .._options import check_int, check_probability

__all__ = [
    "MixtureRule",
    "TwoStageRule",
    "confidence_sequence",
    "cs_radius",
    "fixed_n_for_width",
    "mixture_rho2",
    "stein_n",
    "t_star_of",
]


def mixture_rho2(alpha: float, t_star: float) -> float:
    """ρ² of the normal mixture that makes the confidence sequence narrowest at ``t_star``.

    Parameters
    ----------
    alpha : float
        Error rate, in (0, 1).
    t_star : float
        Number of observations at which the sequence is narrowest (> 0).

    Returns
    -------
    float

    See Also
    --------
    t_star_of : The inverse map.

    Examples
    --------
    >>> round(mixture_rho2(0.05, 100), 5)
    0.07936
    """
    la = -2.0 * np.log(alpha)
    return float((la + np.log(la + 1.0)) / t_star)


def cs_radius(sd: np.ndarray | float, t: np.ndarray | float, *, alpha: float, rho2: float) -> Any:
    """Half-width of the normal-mixture confidence sequence after ``t`` observations.

    Parameters
    ----------
    sd : float or ndarray
        Running sample SD.
    t : float or ndarray
        Number of observations.
    alpha : float
        Error rate, in (0, 1).
    rho2 : float
        Mixture ρ² (:func:`mixture_rho2`).

    Returns
    -------
    ndarray
        The half-width, broadcast over ``sd`` and ``t`` (0-d for scalars).

    Examples
    --------
    >>> round(float(cs_radius(1.0, 100, alpha=0.05, rho2=mixture_rho2(0.05, 100))), 4)
    0.3035
    """
    t = np.asarray(t, dtype=float)
    v = t * rho2 + 1.0
    return np.asarray(sd) * np.sqrt(2.0 * v / (t**2 * rho2) * np.log(np.sqrt(v) / alpha))


def confidence_sequence(
    x: np.ndarray, *, alpha: float = 0.05, t_star: float = 100.0, start: int = 2
) -> pd.DataFrame:
    """The running mean of ``x`` with its anytime-valid confidence sequence at every ``t``.

    Columns: ``t, mean, sd, radius, lower, upper, p_value`` where ``p_value`` is the
    anytime-valid p-value of mean = 0 (the running minimum of 1/M_t of the mixture
    martingale; valid at any stopping time). Rows start at ``t = start``.

    Parameters
    ----------
    x : ndarray
        Observations (e.g. ICEs) in the order seen.
    alpha : float, default 0.05
        Error rate, in (0, 1).
    t_star : float, default 100.0
        Number of observations at which the sequence is narrowest.
    start : int, default 2
        First ``t`` reported (>= 2).

    Returns
    -------
    DataFrame
        One row per ``t = start .. len(x)``.

    Raises
    ------
    OptionError
        On a bad ``alpha`` or ``start``.

    Examples
    --------
    >>> cs = confidence_sequence(np.random.default_rng(0).normal(1.0, 1.0, 400), t_star=200)
    >>> bool((cs["lower"] < 1.0).all() and (cs["upper"] > 1.0).all())
    True
    """
    alpha = check_probability("alpha", alpha)
    x = np.asarray(x, dtype=float)
    start = check_int("start", start, minimum=2)
    t = np.arange(1, x.size + 1, dtype=float)
    cum, cum2 = np.cumsum(x), np.cumsum(x**2)
    mean = cum / t
    with np.errstate(invalid="ignore", divide="ignore"):
        var = np.maximum(cum2 - t * mean**2, 0.0) / (t - 1.0)
    sd = np.sqrt(var)
    rho2 = mixture_rho2(alpha, t_star)
    radius = cs_radius(sd, t, alpha=alpha, rho2=rho2)
    p = _anytime_p(mean, sd, t, rho2)
    frame = pd.DataFrame(
        {
            "t": t.astype(int),
            "mean": mean,
            "sd": sd,
            "radius": radius,
            "lower": mean - radius,
            "upper": mean + radius,
            "p_value": np.minimum.accumulate(np.where(t >= start, p, 1.0)),
        }
    )
    return frame.iloc[start - 1 :].reset_index(drop=True)


def _anytime_p(mean: Any, sd: Any, t: Any, rho2: float) -> Any:
    """1 / M_t of the standardized normal-mixture martingale for H0: mean = 0, capped at 1."""
    mean, sd, t = (np.asarray(a, dtype=float) for a in (mean, sd, t))
    v = t * rho2 + 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(sd > 0, t * mean / sd, np.where(mean == 0, 0.0, np.inf))
        log_m = -0.5 * np.log(v) + rho2 * s**2 / (2.0 * v)
    return np.minimum(1.0, np.exp(-log_m))


def fixed_n_for_width(sd: float, half_width: float, ci: float = 0.95) -> int:
    """Smallest n whose t interval ``t_{n-1}·sd/√n`` has half-width ≤ ``half_width``.

    Parameters
    ----------
    sd : float
        SD of the ICEs.
    half_width : float
        Target half-width (> 0).
    ci : float, default 0.95
        Confidence level.

    Returns
    -------
    int
        At least 2 (2 when ``sd <= 0``).

    Examples
    --------
    >>> fixed_n_for_width(1.0, 0.2)
    99
    """
    if sd <= 0:
        return 2
    q = stats.norm.ppf(0.5 + ci / 2.0)
    n = max(2, int(np.ceil((q * sd / half_width) ** 2)))
    while stats.t.ppf(0.5 + ci / 2.0, n - 1) * sd / np.sqrt(n) > half_width:
        n += 1
    return n


def stein_n(sd: float, half_width: float, n0: int, ci: float = 0.95) -> int:
    """Total backgrounds of Stein's two-stage rule: ``max(n0, ⌈(t_{n0−1}·sd/h)²⌉)``.

    Parameters
    ----------
    sd : float
        First-round SD of the ICEs.
    half_width : float
        Target half-width h (> 0).
    n0 : int
        First-round size (>= 2).
    ci : float, default 0.95
        Confidence level.

    Returns
    -------
    int

    Examples
    --------
    >>> stein_n(1.0, 0.2, 50)
    101
    >>> stein_n(0.1, 0.2, 50)
    50
    """
    q = float(stats.t.ppf(0.5 + ci / 2.0, n0 - 1))
    return max(int(n0), int(np.ceil((q * sd / half_width) ** 2)))


class TwoStageRule:
    """Stein's rule: the first round fixes every arm's n; its SD sets every interval.

    Parameters
    ----------
    targets : ndarray
        Target half-width of each arm.
    ci : float
        Confidence level.
    n0 : int
        First-round size.
    max_n : int
        Budget of backgrounds per arm.

    Examples
    --------
    >>> rule = TwoStageRule(np.array([0.5]), ci=0.95, n0=10, max_n=1000)
    >>> x, active = np.random.default_rng(0).normal(1.0, 1.0, 10), np.array([True])
    >>> rule.update([[x]], active).round(3).tolist(), rule.need.tolist()
    ([0.559], [13])
    """

    method = "two_stage"

    def __init__(self, targets: np.ndarray, ci: float, n0: int, max_n: int) -> None:
        self.targets, self.ci, self.n0, self.max_n = targets, ci, n0, max_n
        self.q = float(stats.t.ppf(0.5 + ci / 2.0, n0 - 1))
        self.s0 = np.full(len(targets), np.nan)
        self.planned = np.zeros(len(targets), dtype=np.int64)  # Stein's n, after round 0

    @property
    def need(self) -> np.ndarray:
        """Backgrounds each arm gets: its planned n, capped by the budget."""
        return np.minimum(self.planned, self.max_n)

    def next_size(self, n: int, active: np.ndarray, batch: int) -> int:
        """Up to ``batch`` more, never past the next arm's planned n unless only one is missing.

        A round has at least two backgrounds (a design's minimum); an arm then gets one more
        background than planned, which keeps the interval exact (n still depends on the first
        round only) and narrower.

        Parameters
        ----------
        n : int
            Backgrounds drawn so far.
        active : ndarray of bool
            Arms still running.
        batch : int
            Largest round size.

        Returns
        -------
        int
            Size of the next round (>= 2).

        Examples
        --------
        >>> rule = TwoStageRule(np.array([0.5]), ci=0.95, n0=10, max_n=1000)
        >>> active = np.array([True])
        >>> _ = rule.update([[np.random.default_rng(0).normal(1.0, 1.0, 10)]], active)
        >>> rule.next_size(10, active, batch=50)  # planned n is 13
        3
        """
        return int(max(2, min(batch, self.need[active].min() - n)))

    def update(self, ice: list[list[np.ndarray]], active: np.ndarray) -> np.ndarray:
        """Plan every arm after round 0; stop the arms that reached their planned n.

        Parameters
        ----------
        ice : list of list of ndarray
            Per arm, its ICE arrays of every round so far (round 0 first).
        active : ndarray of bool
            Arms still running; updated in place (an arm that has stopped turns False).

        Returns
        -------
        ndarray
            Current half-width of each arm (NaN for arms inactive before the call).

        Examples
        --------
        >>> rule = TwoStageRule(np.array([0.5]), ci=0.95, n0=10, max_n=1000)
        >>> active = np.array([True])
        >>> x = np.random.default_rng(0).normal(1.0, 1.0, 10)
        >>> rule.update([[x]], active).round(3).tolist(), active.tolist()
        ([0.559], [True])
        """
        if not self.planned.any():  # the first round plans every arm
            for j, parts in enumerate(ice):
                self.s0[j] = float(np.std(parts[0], ddof=1))
                self.planned[j] = stein_n(self.s0[j], float(self.targets[j]), self.n0, self.ci)
        widths = np.full(len(ice), np.nan)
        for j in np.flatnonzero(active):
            n = sum(p.size for p in ice[j])
            widths[j] = self.q * self.s0[j] / np.sqrt(n)
            active[j] = n < self.need[j]
        return widths

    def estimate(self, j: int, x: np.ndarray) -> dict[str, Any]:
        """The ACE of arm ``j``: its mean ± ``t_{n0−1}·s0/√n``, with the exact t p-value.

        Parameters
        ----------
        j : int
            Arm index.
        x : ndarray
            All ICEs of arm ``j``, in round order.

        Returns
        -------
        dict
            ``ace, se, ci_low, ci_high, n, p_value, half_width`` and ``stopped``
            (``"target"`` or ``"budget"``).

        Examples
        --------
        >>> rule = TwoStageRule(np.array([0.5]), ci=0.95, n0=10, max_n=1000)
        >>> x = np.random.default_rng(0).normal(1.0, 1.0, 10)
        >>> _ = rule.update([[x]], np.array([True]))
        >>> row = rule.estimate(0, x)
        >>> round(row["ace"], 3), row["n"], row["stopped"]
        (1.085, 10, 'budget')
        """
        s0, n = float(self.s0[j]), x.size
        mean, se = float(x.mean()), s0 / np.sqrt(n)
        if se > 0:
            p = float(2.0 * stats.t.sf(abs(mean) / se, self.n0 - 1))
        else:
            p = 1.0 if mean == 0 else 0.0
        reached = n >= self.planned[j]
        return _row(mean, se, self.q * se, n, p, "target" if reached else "budget")


class MixtureRule:
    """The normal-mixture confidence sequence: stop at the first round it is narrow enough.

    Parameters
    ----------
    targets : ndarray
        Target half-width of each arm.
    ci : float
        Confidence level (α = 1 − ci).
    rho2 : float
        Mixture ρ² (:func:`mixture_rho2`).

    Examples
    --------
    >>> rule = MixtureRule(np.array([0.5]), ci=0.95, rho2=mixture_rho2(0.05, 100))
    >>> x, active = np.random.default_rng(0).normal(1.0, 1.0, 200), np.array([True])
    >>> rule.update([[x]], active).round(3).tolist(), active.tolist()
    ([0.209], [False])
    """

    method = "confidence_sequence"

    def __init__(self, targets: np.ndarray, ci: float, rho2: float) -> None:
        self.targets, self.alpha, self.rho2 = targets, 1.0 - ci, rho2
        self.stopped = np.zeros(len(targets), dtype=bool)

    def next_size(self, n: int, active: np.ndarray, batch: int) -> int:
        """Always ``batch``: the sequence is valid at every round.

        Parameters
        ----------
        n : int
            Backgrounds drawn so far.
        active : ndarray of bool
            Arms still running.
        batch : int
            Largest round size.

        Returns
        -------
        int
            ``batch``.

        Examples
        --------
        >>> rule = MixtureRule(np.array([0.5]), ci=0.95, rho2=mixture_rho2(0.05, 100))
        >>> rule.next_size(100, np.array([True]), batch=50)
        50
        """
        return batch

    def update(self, ice: list[list[np.ndarray]], active: np.ndarray) -> np.ndarray:
        """Stop the arms whose confidence-sequence half-width is now ≤ their target.

        Parameters
        ----------
        ice : list of list of ndarray
            Per arm, its ICE arrays of every round so far (round 0 first).
        active : ndarray of bool
            Arms still running; updated in place (an arm that has stopped turns False).

        Returns
        -------
        ndarray
            Current half-width of each arm (NaN for arms inactive before the call).

        Examples
        --------
        >>> rule = MixtureRule(np.array([0.5]), ci=0.95, rho2=mixture_rho2(0.05, 100))
        >>> active = np.array([True])
        >>> x = np.random.default_rng(0).normal(1.0, 1.0, 200)
        >>> rule.update([[x]], active).round(3).tolist(), active.tolist()
        ([0.209], [False])
        """
        widths = np.full(len(ice), np.nan)
        for j in np.flatnonzero(active):
            x = np.concatenate(ice[j])
            widths[j] = float(
                cs_radius(np.std(x, ddof=1), x.size, alpha=self.alpha, rho2=self.rho2)
            )
            if widths[j] <= self.targets[j]:
                active[j], self.stopped[j] = False, True
        return widths

    def estimate(self, j: int, x: np.ndarray) -> dict[str, Any]:
        """The ACE of arm ``j`` with the sequence's last interval and anytime-valid p-value.

        Parameters
        ----------
        j : int
            Arm index.
        x : ndarray
            All ICEs of arm ``j``, in round order.

        Returns
        -------
        dict
            ``ace, se, ci_low, ci_high, n, p_value, half_width`` and ``stopped``
            (``"target"`` or ``"budget"``).

        Examples
        --------
        >>> rule = MixtureRule(np.array([0.5]), ci=0.95, rho2=mixture_rho2(0.05, 100))
        >>> x = np.random.default_rng(0).normal(1.0, 1.0, 200)
        >>> _ = rule.update([[x]], np.array([True]))
        >>> row = rule.estimate(0, x)
        >>> round(row["ace"], 3), round(row["half_width"], 3), row["stopped"]
        (1.015, 0.209, 'target')
        """
        t_star = t_star_of(self.rho2, self.alpha)
        last = confidence_sequence(x, alpha=self.alpha, t_star=t_star).iloc[-1]
        se = float(np.std(x, ddof=1)) / np.sqrt(x.size)
        why = "target" if self.stopped[j] else "budget"
        return _row(
            float(last["mean"]), se, float(last["radius"]), x.size, float(last["p_value"]), why
        )


def _row(mean: float, se: float, half: float, n: int, p: float, why: str) -> dict[str, Any]:
    return {
        "ace": mean,
        "se": se,
        "ci_low": mean - half,
        "ci_high": mean + half,
        "n": int(n),
        "p_value": p,
        "half_width": half,
        "stopped": why,
    }


def t_star_of(rho2: float, alpha: float) -> float:
    """The ``t_star`` at which a mixture of ρ² ``rho2`` is narrowest (inverse of mixture_rho2).

    Parameters
    ----------
    rho2 : float
        Mixture ρ² (> 0).
    alpha : float
        Error rate, in (0, 1).

    Returns
    -------
    float

    See Also
    --------
    mixture_rho2 : The forward map.

    Examples
    --------
    >>> round(t_star_of(mixture_rho2(0.05, 100), 0.05), 6)
    100.0
    """
    la = -2.0 * np.log(alpha)
    return float((la + np.log(la + 1.0)) / rho2)
