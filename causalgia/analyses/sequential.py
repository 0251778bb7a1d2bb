"""Sequential stopping: draw backgrounds in rounds until every effect is estimated precisely.

:func:`simulate_until` runs a paired design in rounds and stops evaluating each arm once its
interval is narrow enough, by one of the valid stopping rules of :mod:`causalgia.stats.stopping`
(``rule="two_stage"``, Stein's rule, by default; ``rule="mixture"``, an anytime-valid
confidence sequence).

Either way the saving against a fixed design comes from arms that are precise early: a fixed
paired design must give every arm the n its noisiest arm needs.

Backgrounds of round r are the unit ids following those of round r − 1, drawn from the same
keyed streams as a fixed design with the same seed: the rows of every arm are exactly the
rows :func:`causalgia.engine.simulate` would give for ``design(background, arms, n=N)``.

A model with several declared outputs (``as_model(..., outputs=...)``) is run once per round
(T outputs cost the forward passes of one) and the rule watches one ICE stream per
(arm, output): each stream stops on its own criterion, exactly as the stream of a
single-output run would, and an arm is evaluated until every one of its outputs has stopped.
The run ends when every (arm, output) interval is narrow enough (or the budget is spent).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd

from .._options import check_int, check_probability
from .._rng import RngLike, root_seed
from ..engine.declaration import as_model
from ..engine.models import Model
from ..engine.simulator import simulate
from ..errors import OptionError
from ..experiment.backgrounds import Background
from ..experiment.designs import Arm, design
from ..stats.estimators import AceEstimates, adjust_pvalues
from ..stats.outputs import OUTPUT
from ..stats.stopping import (
    MixtureRule,
    TwoStageRule,
    fixed_n_for_width,
    mixture_rho2,
)

Rule = Literal["two_stage", "mixture"]
RULES: tuple[str, ...] = ("two_stage", "mixture")


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
    below ``start``. Built on the public :func:`~causalgia.engine.simulate` by shifting the
    unit ids of the background and arms.

    Parameters
    ----------
    model : Model or callable
        The model, or a callable that :func:`~causalgia.engine.as_model` can wrap.
    background : Background
        The background population P_B.
    arms : sequence of Arm
        The arms of the paired design.
    start : int
        First background id (>= 0).
    stop : int
        One past the last background id (>= ``start + 2``).
    rng : int, Generator or None
        Root seed of the design; give the same int for every range of one study.
    batch_size : int, optional
        Forward-pass batch size; default the model's.

    Returns
    -------
    table : DataFrame
        The paired ICE table of ids ``start..stop-1`` (with an ``output`` column for a model
        with several declared outputs).
    n_forward : int
        Forward passes used (once per sequence, whatever the number of outputs).

    Raises
    ------
    OptionError
        On a bad ``start``, ``stop`` or ``rng``, or another bad option.
    InterventionError
        When an arm does not fit the background length.

    Examples
    --------
    >>> from causalgia.experiment.backgrounds import iid
    >>> from causalgia.experiment.interventions import Substitute
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
        ``"budget"``). With several outputs, one row per (arm, output), output by output, an
        ``output`` column after ``label``, each row from the first ``n`` ICEs of its arm and
        output (those up to its own stopping round), q-values within output and experiment.
    table : pandas.DataFrame
        The paired ICE table of every evaluated unit (arms stopped early have fewer rows);
        with several outputs, output by output, every output of every evaluated unit (an arm
        runs until its last output stops).
    rounds : pandas.DataFrame
        ``round, n_backgrounds, active_arms, n_forward, max_half_width`` after each round
        (``max_half_width`` over the (arm, output) streams still running before the round).
    n_forward : int
        Forward passes used (once per sequence, whatever the number of outputs).
    n_fixed : int
        Backgrounds a fixed-n paired design needs for every arm's (and output's) t interval
        (at the same ``ci``) to reach its target, at the final SD estimates.
    n_forward_fixed : int
        Forward passes of that fixed design.
    seed : int
        Root seed of the units.

    Examples
    --------
    >>> from causalgia.experiment.backgrounds import iid
    >>> from causalgia.experiment.interventions import Substitute
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
        """A copy of the estimates table.

        Returns
        -------
        DataFrame
            One row per arm (columns as in ``estimates`` above).

        Examples
        --------
        >>> from causalgia.experiment.backgrounds import iid
        >>> from causalgia.experiment.interventions import Substitute
        >>> from causalgia.testing import AdditiveOracle
        >>> res = simulate_until(AdditiveOracle.from_motif("GATA", 20), iid(20),
        ...                      [Arm("a", Substitute("GATA", 2))], half_width=0.5, rng=1)
        >>> res.to_frame()["stopped"].tolist()
        ['target']
        """
        return self.estimates.to_frame()

    def summary(self) -> str:
        """The estimates and the forward passes saved.

        Returns
        -------
        str
            The estimates' summary, then one line comparing with the fixed-n design.

        Examples
        --------
        >>> from causalgia.experiment.backgrounds import iid
        >>> from causalgia.experiment.interventions import Substitute
        >>> from causalgia.testing import AdditiveOracle
        >>> res = simulate_until(AdditiveOracle.from_motif("GATA", 20), iid(20),
        ...                      [Arm("a", Substitute("GATA", 2))], half_width=0.5, rng=1)
        >>> res.summary().splitlines()[-1].startswith("sequential: 1 rounds")
        True
        """
        pct = 100.0 * self.saved / self.n_forward_fixed if self.n_forward_fixed else 0.0
        return (
            f"{self.estimates.summary()}\n"
            f"sequential: {len(self.rounds)} rounds, {self.n_forward:,} forward passes; a fixed "
            f"design of equal width needs n = {self.n_fixed:,} backgrounds = "
            f"{self.n_forward_fixed:,} forward passes: saved {self.saved:,} ({pct:.0f}%)"
        )


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
    """Run a paired design in rounds until every arm's (and output's) interval is narrow enough.

    Round 0 draws ``first`` backgrounds (default ``batch``), each later round up to ``batch``
    more. With ``rule="two_stage"`` round 0 fixes each arm's total n (Stein's rule, see the
    module docstring) and later rounds only fill it up; with ``rule="mixture"`` an arm stops
    after the first round at which its confidence-sequence half-width is ≤ its target
    (``t_star``, default √(first·max_n), is the n at which the sequence is narrowest). Targets
    are one number or one per arm label. The run ends when every arm has stopped, ``max_n``
    backgrounds were drawn, or the next round would exceed ``max_forward`` forward passes
    (counting every arm as changing every sequence); arms cut short say ``"budget"`` and keep
    valid (wider) intervals.

    For a model with several declared outputs the rule is applied to every (arm, output)
    stream with the arm's target: an arm is evaluated (one forward pass for all outputs) until
    each of its outputs has stopped, and the run ends when all have. Each output's estimates
    use the ICEs up to its own stopping round, as a single-output run of that output would.

    Parameters
    ----------
    model : Model or callable
        The model, or a callable that :func:`~causalgia.engine.as_model` can wrap.
    background : Background
        The background population P_B.
    arms : sequence of Arm
        The arms of the paired design.
    half_width : float or mapping of str to float
        Target half-width (> 0), one for all arms or one per arm label.
    ci : float, default 0.95
        Confidence level, in (0, 1).
    rule : {"two_stage", "mixture"}, default "two_stage"
        Stopping rule.
    batch : int, default 50
        Largest number of backgrounds per later round (>= 2).
    first : int, optional
        Backgrounds of round 0 (>= 2); default ``batch``.
    max_n : int, default 10000
        Largest number of backgrounds (>= ``first``).
    max_forward : int, optional
        Budget of forward passes; default none.
    t_star : float, optional
        Number of backgrounds at which the mixture sequence is narrowest (> 0).
    rng : int, Generator or None, default None
        Root seed of the units.
    batch_size : int, optional
        Forward-pass batch size; default the model's.

    Returns
    -------
    SequentialResult
        Estimates with valid intervals at the stopping round (one per arm and output), the
        ICE table, the rounds, and the forward passes used against a fixed-n design of equal
        width.

    Raises
    ------
    OptionError
        On a bad option, no arms, a label without a target, or a ``max_forward`` that does
        not cover round 0.

    Examples
    --------
    >>> from causalgia.experiment.backgrounds import iid
    >>> from causalgia.experiment.designs import sweep_positions
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
    seed = root_seed(rng)
    model = as_model(model)
    outputs = None if model.outputs is None else model.outputs.names
    streams = _Streams(arms, outputs)  # one ICE stream per (arm, output), output-major
    goals = np.tile(targets, streams.n_outputs)
    stopper = (
        TwoStageRule(goals, ci, first, max_n)
        if rule == "two_stage"
        else MixtureRule(goals, ci, mixture_rho2(1.0 - ci, t_star))
    )
    ice: list[list[np.ndarray]] = [[] for _ in goals]
    active = np.ones(len(goals), dtype=bool)  # per stream
    tables: list[pd.DataFrame] = []
    rounds: list[dict[str, Any]] = []
    used, n = 0, 0
    while active.any() and n < max_n:
        size = first if n == 0 else stopper.next_size(n, active, batch)
        size = min(size, max_n - n)
        if size < 2:
            break
        running = streams.arms_running(active)
        if max_forward is not None and used + size * (1 + int(running.sum())) > max_forward:
            if n == 0:
                raise OptionError(
                    f"max_forward={max_forward} does not cover the first round "
                    f"({size} backgrounds x {1 + len(arms)} sequences)"
                )
            break
        live = [a for a, on in zip(arms, running, strict=True) if on]
        table, passes = simulate_range(
            model, background, live, start=n, stop=n + size, rng=seed, batch_size=batch_size
        )
        used, n = used + passes, n + size
        tables.append(table)
        for k in np.flatnonzero(active):
            ice[k].append(table.loc[streams.rows(table, k), "ice"].to_numpy(dtype=float))
        widths = stopper.update(ice, active)
        rounds.append(
            {
                "round": len(rounds),
                "n_backgrounds": n,
                "active_arms": int(streams.arms_running(active).sum()),
                "n_forward": used,
                "max_half_width": float(np.nanmax(widths)),
            }
        )
    x = [np.concatenate(parts) for parts in ice]
    rows = [stopper.estimate(k, xk) for k, xk in enumerate(x)]
    sds = [float(np.std(xk, ddof=1)) for xk in x]
    fixed = max(fixed_n_for_width(sd, t, ci) for sd, t in zip(sds, goals, strict=True))
    return _result(
        streams, rows, goals, ci, stopper.method, streams.order(tables), rounds, used, fixed, seed
    )


class _Streams:
    """The ICE streams of a sequential run: one per arm, or per (arm, output), output-major
    (stream ``k`` is arm ``k % len(arms)`` of output ``k // len(arms)``)."""

    def __init__(self, arms: list[Arm], outputs: tuple[str, ...] | None) -> None:
        self.arms, self.outputs = arms, outputs
        self.n_outputs = 1 if outputs is None else len(outputs)

    def arm(self, k: int) -> Arm:
        return self.arms[k % len(self.arms)]

    def output(self, k: int) -> str | None:
        return None if self.outputs is None else self.outputs[k // len(self.arms)]

    def arms_running(self, active: np.ndarray) -> np.ndarray:
        """Arms with at least one output still running (evaluated in the next round)."""
        return active.reshape(self.n_outputs, len(self.arms)).any(axis=0)

    def rows(self, table: pd.DataFrame, k: int) -> pd.Series:
        """The rows of stream ``k`` in a round's unit table."""
        arm, output = self.arm(k), self.output(k)
        mine = (table["experiment"] == arm.experiment) & (table["label"] == arm.label)
        return mine if output is None else mine & (table[OUTPUT] == output)

    def order(self, tables: list[pd.DataFrame]) -> pd.DataFrame:
        """The rounds' unit tables, output by output (each output's rounds in order)."""
        if self.outputs is None:
            return pd.concat(tables, ignore_index=True)
        return pd.concat(
            [t[t[OUTPUT] == name] for name in self.outputs for t in tables], ignore_index=True
        )


def _result(
    streams: _Streams,
    rows: list[dict[str, Any]],
    targets: np.ndarray,
    ci: float,
    method: str,
    table: pd.DataFrame,
    rounds: list[dict[str, Any]],
    used: int,
    n_fixed: int,
    seed: int,
) -> SequentialResult:
    frame_rows = []
    for k, (row, target) in enumerate(zip(rows, targets, strict=True)):
        arm, output = streams.arm(k), streams.output(k)
        head = {"experiment": arm.experiment, "label": arm.label}
        head |= {} if output is None else {OUTPUT: output}
        head |= {**arm.params, "method": method}
        estimate = {key: v for key, v in row.items() if key != "stopped"}
        frame_rows.append(head | estimate | {"target": float(target), "stopped": row["stopped"]})
    frame = pd.DataFrame(frame_rows)
    q = np.empty(len(frame))
    within = ["experiment"] if streams.outputs is None else [OUTPUT, "experiment"]
    for idx in frame.groupby(within, sort=False).indices.values():
        q[idx] = adjust_pvalues(frame["p_value"].to_numpy()[idx], "fdr_bh")
    frame.insert(frame.columns.get_loc("p_value") + 1, "q_value", q)
    per_background = rounds[0]["n_forward"] / rounds[0]["n_backgrounds"]
    return SequentialResult(
        AceEstimates(frame, method, ci),
        table,
        pd.DataFrame(rounds),
        int(used),
        int(n_fixed),
        int(round(n_fixed * per_background)),
        seed,
    )
