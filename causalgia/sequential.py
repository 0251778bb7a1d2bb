"""Sequential stopping: draw backgrounds in rounds until every effect is estimated precisely.

:func:`simulate_until` runs a paired design in rounds and stops evaluating each arm once its
interval is narrow enough. Looking at the data and stopping when an ordinary t interval is
narrow enough would break its coverage, so two valid rules are offered:

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

Either way the saving against a fixed design comes from arms that are precise early: a fixed
paired design must give every arm the n its noisiest arm needs.

Backgrounds of round r are the unit ids following those of round r − 1, drawn from the same
keyed streams as a fixed design with the same seed: the rows of every arm are exactly the
rows :func:`causalgia.simulator.simulate` would give for ``design(background, arms, n=N)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from scipy import stats

from ._options import check_int, check_probability
from ._rng import RngLike, root_seed
from .backgrounds import Background
from .designs import Arm, design
from .errors import OptionError
from .estimators import AceEstimates, adjust_pvalues
from .models import Model, as_model
from .simulator import simulate

Rule = Literal["two_stage", "mixture"]
RULES: tuple[str, ...] = ("two_stage", "mixture")


def mixture_rho2(alpha: float, t_star: float) -> float:
    """ρ² of the normal mixture that makes the confidence sequence narrowest at ``t_star``.

    Examples
    --------
    >>> round(mixture_rho2(0.05, 100), 5)
    0.07936
    """
    la = -2.0 * np.log(alpha)
    return float((la + np.log(la + 1.0)) / t_star)


def cs_radius(sd: np.ndarray | float, t: np.ndarray | float, *, alpha: float, rho2: float) -> Any:
    """Half-width of the normal-mixture confidence sequence after ``t`` observations.

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


@dataclass(frozen=True, eq=False)
class _ShiftedBackground(Background):
    """Units ``0..n-1`` of this background are units ``offset..offset+n-1`` of ``base``."""

    base: Background
    offset: int
    kind: ClassVar[str] = "shifted"

    def generate(self, ids: np.ndarray, seed: int) -> np.ndarray:
        return self.base.generate(np.asarray(ids, dtype=np.int64) + self.offset, seed)

    def _generate(self, ids: np.ndarray, keys: np.ndarray) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError("_ShiftedBackground delegates generate() to its base")

    def _params(self) -> dict[str, Any]:
        return self.base.describe()


@dataclass(frozen=True)
class _ShiftedArm(Arm):
    """An arm whose intervention streams are those of unit ``id + offset``."""

    offset: int = field(default=0)

    def keys(self, seed: int, ids: np.ndarray) -> np.ndarray:
        return super().keys(seed, np.asarray(ids, dtype=np.int64) + self.offset)


def simulate_range(
    model: Model | Any,
    background: Background,
    arms: Sequence[Arm],
    *,
    start: int,
    stop: int,
    rng: RngLike,
    batch_size: int | None = None,
) -> tuple[pd.DataFrame, int]:
    """The paired ICE table of background ids ``start..stop-1`` and its forward passes.

    The rows equal those of ``simulate(model, design(background, arms, n=stop, rng=rng))``
    for these ids (same keyed background and intervention streams) without evaluating ids
    below ``start``. Built on the public :func:`~causalgia.simulator.simulate` by shifting the
    unit ids of the background and arms.

    Examples
    --------
    >>> from causalgia.backgrounds import iid
    >>> from causalgia.interventions import Substitute
    >>> from causalgia.testing import AdditiveOracle
    >>> arms = [Arm("a", Substitute("GATA", 2))]
    >>> table, used = simulate_range(AdditiveOracle.from_motif("GATA", 20), iid(20), arms,
    ...                              start=10, stop=15, rng=1)
    >>> table["background_id"].tolist(), used
    ([10, 11, 12, 13, 14], 10)
    """
    start = check_int("start", start, minimum=0)
    stop = check_int("stop", stop, minimum=start + 2)
    shifted_bg = _ShiftedBackground(background.alphabet, background.length, background, start)
    shifted = [
        _ShiftedArm(a.label, a.intervention, a.experiment, a.params, offset=start) for a in arms
    ]
    d = design(shifted_bg, shifted, n=stop - start, rng=root_seed(rng))
    result = simulate(as_model(model), d, batch_size=batch_size, progress=False)
    table = result.table
    table["background_id"] = table["background_id"].to_numpy() + start
    return table, result.n_forward


@dataclass(frozen=True)
class SequentialResult:
    """Outcome of :func:`simulate_until`.

    Attributes
    ----------
    estimates : AceEstimates
        One row per arm: ``method`` (``"two_stage"`` or ``"confidence_sequence"``), ``ace``,
        ``se``, ``ci_low, ci_high`` (valid at the arm's stopping round), ``n``, ``p_value``
        (exact t with n0 − 1 df for two-stage; anytime-valid for the mixture), ``q_value`` (BH
        within experiment), ``half_width``, ``target`` and ``stopped`` (``"target"`` or
        ``"budget"``).
    table : pandas.DataFrame
        The paired ICE table of every evaluated unit (arms stopped early have fewer rows).
    rounds : pandas.DataFrame
        ``round, n_backgrounds, active_arms, n_forward, max_half_width`` after each round.
    n_forward : int
        Forward passes used.
    n_fixed : int
        Backgrounds a fixed-n paired design needs for every arm's t interval (at the same
        ``ci``) to reach its target, at the arms' final SD estimates.
    n_forward_fixed : int
        Forward passes of that fixed design.
    seed : int
        Root seed of the units.

    Examples
    --------
    >>> from causalgia.backgrounds import iid
    >>> from causalgia.interventions import Substitute
    >>> from causalgia.testing import AdditiveOracle
    >>> res = simulate_until(AdditiveOracle.from_motif("GATA", 20), iid(20),
    ...                      [Arm("a", Substitute("GATA", 2))], half_width=0.5, rng=1)
    >>> res.estimates.table["stopped"].tolist()
    ['target']
    """

    estimates: AceEstimates
    table: pd.DataFrame
    rounds: pd.DataFrame
    n_forward: int
    n_fixed: int
    n_forward_fixed: int
    seed: int

    @property
    def saved(self) -> int:
        """Forward passes saved against the fixed-n design of equal width (may be < 0)."""
        return self.n_forward_fixed - self.n_forward

    def to_frame(self) -> pd.DataFrame:
        """A copy of the estimates table."""
        return self.estimates.to_frame()

    def summary(self) -> str:
        """The estimates and the forward passes saved."""
        pct = 100.0 * self.saved / self.n_forward_fixed if self.n_forward_fixed else 0.0
        return (
            f"{self.estimates.summary()}\n"
            f"sequential: {len(self.rounds)} rounds, {self.n_forward:,} forward passes; a fixed "
            f"design of equal width needs n = {self.n_fixed:,} backgrounds = "
            f"{self.n_forward_fixed:,} forward passes: saved {self.saved:,} ({pct:.0f}%)"
        )


def fixed_n_for_width(sd: float, half_width: float, ci: float = 0.95) -> int:
    """Smallest n whose t interval ``t_{n-1}·sd/√n`` has half-width ≤ ``half_width``.

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


def _targets(arms: Sequence[Arm], half_width: float | Mapping[str, float]) -> np.ndarray:
    if isinstance(half_width, Mapping):
        missing = [a.label for a in arms if a.label not in half_width]
        if missing:
            raise OptionError(f"half_width has no target for arm(s) {missing}")
        out = np.array([float(half_width[a.label]) for a in arms])
    else:
        out = np.full(len(arms), float(half_width))
    if not (out > 0).all():
        raise OptionError(f"half_width targets must be > 0, got {out.tolist()}")
    return out


def stein_n(sd: float, half_width: float, n0: int, ci: float = 0.95) -> int:
    """Total backgrounds of Stein's two-stage rule: ``max(n0, ⌈(t_{n0−1}·sd/h)²⌉)``.

    Examples
    --------
    >>> stein_n(1.0, 0.2, 50)
    101
    >>> stein_n(0.1, 0.2, 50)
    50
    """
    q = float(stats.t.ppf(0.5 + ci / 2.0, n0 - 1))
    return max(int(n0), int(np.ceil((q * sd / half_width) ** 2)))


def simulate_until(
    model: Model | Any,
    background: Background,
    arms: Sequence[Arm],
    *,
    half_width: float | Mapping[str, float],
    ci: float = 0.95,
    rule: Rule = "two_stage",
    batch: int = 50,
    first: int | None = None,
    max_n: int = 10_000,
    max_forward: int | None = None,
    t_star: float | None = None,
    rng: RngLike = None,
    batch_size: int | None = None,
) -> SequentialResult:
    """Run a paired design in rounds until every arm's interval is narrow enough.

    Round 0 draws ``first`` backgrounds (default ``batch``), each later round up to ``batch``
    more. With ``rule="two_stage"`` round 0 fixes each arm's total n (Stein's rule, see the
    module docstring) and later rounds only fill it up; with ``rule="mixture"`` an arm stops
    after the first round at which its confidence-sequence half-width is ≤ its target
    (``t_star``, default √(first·max_n), is the n at which the sequence is narrowest). Targets
    are one number or one per arm label. The run ends when every arm has stopped, ``max_n``
    backgrounds were drawn, or the next round would exceed ``max_forward`` forward passes
    (counting every arm as changing every sequence); arms cut short say ``"budget"`` and keep
    valid (wider) intervals.

    Returns
    -------
    SequentialResult
        Estimates with valid intervals at the stopping round, the ICE table, the rounds, and
        the forward passes used against a fixed-n design of equal width.

    Examples
    --------
    >>> from causalgia.backgrounds import iid
    >>> from causalgia.designs import sweep_positions
    >>> from causalgia.testing import AdditiveOracle
    >>> res = simulate_until(AdditiveOracle.from_motif("GATA", 30), iid(30),
    ...                      sweep_positions("GATA", [2, 20]), half_width=0.4, rng=3)
    >>> res.estimates.table["stopped"].tolist(), bool((res.to_frame()["half_width"] <= 0.4).all())
    (['target', 'target'], True)
    """
    ci = check_probability("ci", ci)
    if rule not in RULES:
        raise OptionError(f"rule must be one of {RULES}, got {rule!r}")
    batch = check_int("batch", batch, minimum=2)
    first = batch if first is None else check_int("first", first, minimum=2)
    max_n = check_int("max_n", max_n, minimum=first)
    arms = list(arms)
    if not arms:
        raise OptionError("simulate_until needs at least one arm")
    targets = _targets(arms, half_width)
    t_star = float(np.sqrt(first * max_n)) if t_star is None else float(t_star)
    if not t_star > 0:
        raise OptionError(f"t_star must be > 0, got {t_star}")
    stopper = (
        _TwoStage(targets, ci, first, max_n)
        if rule == "two_stage"
        else _Mixture(targets, ci, mixture_rho2(1.0 - ci, t_star))
    )
    seed = root_seed(rng)
    model = as_model(model)
    ice: list[list[np.ndarray]] = [[] for _ in arms]
    active = np.ones(len(arms), dtype=bool)
    tables: list[pd.DataFrame] = []
    rounds: list[dict[str, Any]] = []
    used, n = 0, 0
    while active.any() and n < max_n:
        size = first if n == 0 else stopper.next_size(n, active, batch)
        size = min(size, max_n - n)
        if size < 2:
            break
        if max_forward is not None and used + size * (1 + int(active.sum())) > max_forward:
            if n == 0:
                raise OptionError(
                    f"max_forward={max_forward} does not cover the first round "
                    f"({size} backgrounds x {1 + len(arms)} sequences)"
                )
            break
        live = [a for a, on in zip(arms, active, strict=True) if on]
        table, passes = simulate_range(
            model, background, live, start=n, stop=n + size, rng=seed, batch_size=batch_size
        )
        used, n = used + passes, n + size
        tables.append(table)
        for j in np.flatnonzero(active):
            mine = (table["experiment"] == arms[j].experiment) & (table["label"] == arms[j].label)
            ice[j].append(table.loc[mine, "ice"].to_numpy(dtype=float))
        widths = stopper.update(ice, active)
        rounds.append(
            {
                "round": len(rounds),
                "n_backgrounds": n,
                "active_arms": int(active.sum()),
                "n_forward": used,
                "max_half_width": float(np.nanmax(widths)),
            }
        )
    x = [np.concatenate(parts) for parts in ice]
    rows = [stopper.estimate(j, xj) for j, xj in enumerate(x)]
    sds = [float(np.std(xj, ddof=1)) for xj in x]
    fixed = max(fixed_n_for_width(sd, t, ci) for sd, t in zip(sds, targets, strict=True))
    return _result(arms, rows, targets, ci, stopper.method, tables, rounds, used, fixed, seed)


class _TwoStage:
    """Stein's rule: the first round fixes every arm's n; its SD sets every interval."""

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
        """
        return int(max(2, min(batch, self.need[active].min() - n)))

    def update(self, ice: list[list[np.ndarray]], active: np.ndarray) -> np.ndarray:
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
        s0, n = float(self.s0[j]), x.size
        mean, se = float(x.mean()), s0 / np.sqrt(n)
        if se > 0:
            p = float(2.0 * stats.t.sf(abs(mean) / se, self.n0 - 1))
        else:
            p = 1.0 if mean == 0 else 0.0
        reached = n >= self.planned[j]
        return _row(mean, se, self.q * se, n, p, "target" if reached else "budget")


class _Mixture:
    """The normal-mixture confidence sequence: stop at the first round it is narrow enough."""

    method = "confidence_sequence"

    def __init__(self, targets: np.ndarray, ci: float, rho2: float) -> None:
        self.targets, self.alpha, self.rho2 = targets, 1.0 - ci, rho2
        self.stopped = np.zeros(len(targets), dtype=bool)

    def next_size(self, n: int, active: np.ndarray, batch: int) -> int:
        return batch

    def update(self, ice: list[list[np.ndarray]], active: np.ndarray) -> np.ndarray:
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
        t_star = _t_star_of(self.rho2, self.alpha)
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


def _result(
    arms: list[Arm],
    rows: list[dict[str, Any]],
    targets: np.ndarray,
    ci: float,
    method: str,
    tables: list[pd.DataFrame],
    rounds: list[dict[str, Any]],
    used: int,
    n_fixed: int,
    seed: int,
) -> SequentialResult:
    frame_rows = []
    for arm, row, target in zip(arms, rows, targets, strict=True):
        head = {"experiment": arm.experiment, "label": arm.label, **arm.params, "method": method}
        estimate = {k: v for k, v in row.items() if k != "stopped"}
        frame_rows.append(head | estimate | {"target": float(target), "stopped": row["stopped"]})
    frame = pd.DataFrame(frame_rows)
    q = np.empty(len(frame))
    for idx in frame.groupby("experiment", sort=False).indices.values():
        q[idx] = adjust_pvalues(frame["p_value"].to_numpy()[idx], "fdr_bh")
    frame.insert(frame.columns.get_loc("p_value") + 1, "q_value", q)
    per_background = rounds[0]["n_forward"] / rounds[0]["n_backgrounds"]
    return SequentialResult(
        AceEstimates(frame, method, ci),
        pd.concat(tables, ignore_index=True),
        pd.DataFrame(rounds),
        int(used),
        int(n_fixed),
        int(round(n_fixed * per_background)),
        seed,
    )


def _t_star_of(rho2: float, alpha: float) -> float:
    la = -2.0 * np.log(alpha)
    return float((la + np.log(la + 1.0)) / rho2)
