"""Planning: how many backgrounds a study needs, from a pilot run.

Two targets: a **half-width** of the 95% interval of every ACE (precision), or the
**minimal detectable effect** (MDE) at a given power (detection). Paired designs test the
ICEs with a one-sample t, so the required n follows from the SD of the ICEs alone
(``statsmodels.stats.power.TTestPower``); the completely randomized (unpaired) design needs
the SDs of both outcomes (``TTestIndPower``) and usually many more forward passes — the plan
reports both. With ``assurance`` the pilot SD is replaced by its one-sided upper confidence
bound, so the target is met with that probability despite the pilot's own noise.

A pilot of a model with several declared outputs (an ``output`` column) is planned output by
output; the recommended n is the largest over outputs (every output of one forward pass comes
at the cost of one, so the design with that n meets every output's targets).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .._options import check_probability
from ..errors import EstimationError, OptionError
from .estimators import _HasTable, _resolve
from .outputs import OUTPUT, has_outputs, per_output, stack_outputs
from .stopping import fixed_n_for_width


@dataclass(frozen=True)
class SamplePlan:
    """Backgrounds needed per effect and for the whole paired design.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per (experiment, label): ``n_pilot, ace_pilot, sd_ice, sd_plan, sd_y_do,
        sd_y_control, changes, n_paired, n_per_group_unpaired`` and the target columns
        (``half_width`` or ``mde`` and ``power``); ``changes`` is whether any pilot ICE is
        non-zero (the arm costs forward passes). With several outputs, one row per
        (experiment, label, output), an ``output`` column after ``label``.
    n : int
        Backgrounds for one paired design that meets every effect's target (the max; with
        several outputs the max over every arm and output).
    n_forward : int
        Forward passes of that design (control plus every arm that changes the sequence; with
        several outputs an arm that changes any output, once: one forward pass computes every
        output).
    n_forward_unpaired : int
        Forward passes of a completely randomized design meeting the same targets (control
        group plus one group per arm, equal allocation).
    outputs : tuple of str or None
        The outputs planned for (None for a model with one output).

    Examples
    --------
    >>> t = pd.DataFrame({"experiment": "e", "label": "a", "background_id": range(20),
    ...                   "y_control": np.linspace(0, 1, 20), "ice": np.tile([0.9, 1.1], 10)})
    >>> t["y_do"] = t["y_control"] + t["ice"]
    >>> plan = plan_sample_size(t, half_width=0.05)
    >>> plan.n
    19
    """

    table: pd.DataFrame
    n: int
    n_forward: int
    n_forward_unpaired: int
    outputs: tuple[str, ...] | None = None

    def to_frame(self) -> pd.DataFrame:
        """A copy of the per-effect table.

        Returns
        -------
        pandas.DataFrame
            A copy of :attr:`table`, one row per (experiment, label).
        """
        return self.table.copy()

    def summary(self) -> str:
        """The design size and the unpaired comparison.

        Returns
        -------
        str
            A line with the paired design's size and forward passes against the completely
            randomized design's, then one line per effect (SD of its ICEs and its n); with
            several outputs, a line with each output's n (the design's n is their max).
        """
        ratio = self.n_forward_unpaired / max(self.n_forward, 1)
        lines = [
            f"SamplePlan: n = {self.n:,} backgrounds ({self.n_forward:,} forward passes, paired);"
            f" a completely randomized design needs {self.n_forward_unpaired:,} "
            f"({ratio:.1f}x)"
        ]
        if self.outputs is not None:
            each = self.table.groupby(OUTPUT, sort=False)["n_paired"].max()
            lines.append(
                f"  n is the largest over {len(each)} outputs: "
                + ", ".join(f"{name} n={n:,}" for name, n in each.items())
            )
        for r in self.table.to_dict("records"):
            which = f" [{r[OUTPUT]}]" if OUTPUT in r else ""
            lines.append(
                f"  {r['experiment']} / {r['label']}{which}: sd(ICE)={r['sd_ice']:.3g} "
                f"-> n={r['n_paired']}"
            )
        return "\n".join(lines)


def sd_upper(sd: float, n: int, assurance: float) -> float:
    """One-sided ``assurance`` upper confidence bound of σ from a sample SD of ``n`` values.

    Examples
    --------
    >>> round(sd_upper(1.0, 30, 0.9), 3)
    1.211
    """
    return float(sd * np.sqrt((n - 1) / stats.chi2.ppf(1.0 - assurance, n - 1)))


def n_for_mde(sd: float, mde: float, *, power: float = 0.8, alpha: float = 0.05) -> int:
    """Backgrounds for a paired t test to detect ``mde`` with ``power`` at two-sided ``alpha``
    (``statsmodels.stats.power.TTestPower.solve_power``).

    Examples
    --------
    >>> n_for_mde(1.0, 0.5)
    34
    """
    from statsmodels.stats.power import TTestPower

    if sd <= 0:
        return 2
    n = TTestPower().solve_power(effect_size=abs(mde) / sd, alpha=alpha, power=power)
    return max(2, int(np.ceil(float(np.asarray(n).item()))))


def power_curve(sd: float, n: int, effects: np.ndarray, *, alpha: float = 0.05) -> pd.DataFrame:
    """Power of the paired t test with ``n`` backgrounds against each true ACE in ``effects``.

    Examples
    --------
    >>> power_curve(1.0, 34, np.array([0.0, 0.5]))["power"].round(2).tolist()
    [0.05, 0.81]
    """
    from statsmodels.stats.power import TTestPower

    effects = np.asarray(effects, dtype=float)
    d = np.abs(effects) / sd
    power = np.array([TTestPower().power(effect_size=v, nobs=n, alpha=alpha) for v in d])
    return pd.DataFrame({"effect": effects, "effect_size": d, "n": n, "power": power})


def mde_for_n(sd: float, n: int, *, power: float = 0.8, alpha: float = 0.05) -> float:
    """Minimal detectable ACE of a paired t test with ``n`` backgrounds.

    Examples
    --------
    >>> round(mde_for_n(1.0, 34), 3)
    0.495
    """
    from statsmodels.stats.power import TTestPower

    d = TTestPower().solve_power(effect_size=None, nobs=n, alpha=alpha, power=power)
    return float(np.asarray(d).item()) * sd


def _n_unpaired(
    sd1: float,
    sd0: float,
    *,
    half_width: float | None,
    mde: float | None,
    power: float,
    alpha: float,
    ci: float,
) -> int:
    from statsmodels.stats.power import TTestIndPower

    pooled = float(np.sqrt((sd1**2 + sd0**2) / 2.0))
    if half_width is not None:
        # equal groups: SE = sqrt((s1² + s0²)/m) = pooled·sqrt(2/m)
        return fixed_n_for_width(pooled * np.sqrt(2.0), half_width, ci)
    if pooled == 0:
        return 2
    assert mde is not None
    m = TTestIndPower().solve_power(effect_size=abs(mde) / pooled, alpha=alpha, power=power)
    return max(2, int(np.ceil(float(np.asarray(m).item()))))


def plan_sample_size(
    pilot: pd.DataFrame | _HasTable,
    *,
    half_width: float | None = None,
    mde: float | None = None,
    power: float = 0.8,
    alpha: float = 0.05,
    ci: float = 0.95,
    assurance: float | None = None,
) -> SamplePlan:
    """Backgrounds needed for every effect of a pilot run to reach a precision or power target.

    Give exactly one of ``half_width`` (the ``ci`` t interval of every ACE is at most this
    wide on each side: the smallest n with t_{n−1}·σ/√n ≤ half_width) or ``mde`` (the paired t
    test at two-sided ``alpha`` detects an ACE of this size with ``power``). σ is the pilot's
    SD of the ICEs, or with ``assurance`` (e.g. 0.9) its upper confidence bound.

    A pilot with an ``output`` column (a model with several declared outputs) is planned
    output by output, each exactly as its single-output pilot; the plan's table gets an
    ``output`` column after ``label`` and its ``n`` is the largest over outputs.

    Parameters
    ----------
    pilot : DataFrame or SimulationResult
        A paired ICE table (``experiment, label, y_control, y_do, ice`` per background) of a
        small run, at least 3 backgrounds per effect.
    half_width : float, optional
        Target half-width of every ACE's interval (> 0).
    mde : float, optional
        Minimal detectable ACE.
    power : float, default 0.8
        Power of the test at ``mde``, in (0, 1).
    alpha : float, default 0.05
        Two-sided level of the test at ``mde``, in (0, 1).
    ci : float, default 0.95
        Confidence level of the ``half_width`` interval, in (0, 1).
    assurance : float, optional
        Plan with this one-sided upper confidence bound of each SD, in (0, 1).

    Returns
    -------
    SamplePlan
        The per-effect table and the size of the design that meets every target.

    Raises
    ------
    OptionError
        When not exactly one of ``half_width`` and ``mde`` is given, a level is outside
        (0, 1), ``half_width <= 0``, or the pilot is not paired.
    EstimationError
        When an effect has fewer than 3 pilot backgrounds or the table's design is unclear.

    Examples
    --------
    >>> t = pd.DataFrame({"experiment": "e", "label": "a", "background_id": range(20),
    ...                   "y_control": np.linspace(0, 1, 20), "ice": np.tile([0.9, 1.1], 10)})
    >>> t["y_do"] = t["y_control"] + t["ice"]
    >>> plan_sample_size(t, mde=0.1, power=0.9).n
    14
    """
    if (half_width is None) == (mde is None):
        raise OptionError("give exactly one of half_width= or mde=")
    if half_width is not None and not half_width > 0:
        raise OptionError(f"half_width must be > 0, got {half_width!r}")
    power, alpha = check_probability("power", power), check_probability("alpha", alpha)
    ci = check_probability("ci", ci)
    if assurance is not None:
        assurance = check_probability("assurance", assurance)
    table, kind = _resolve(pilot)
    if kind != "paired":
        raise OptionError("plan_sample_size needs a paired pilot (y_control, y_do, ice)")
    if has_outputs(table):  # several outputs: each its own plan, n the largest
        return _per_output_plan(
            per_output(
                table,
                lambda part: plan_sample_size(
                    part, half_width=half_width, mde=mde, power=power, alpha=alpha, ci=ci,
                    assurance=assurance,
                ),
            )
        )  # fmt: skip
    rows: list[dict[str, Any]] = []
    for (experiment, label), sub in table.groupby(["experiment", "label"], sort=False):
        m = len(sub)
        if m < 3:
            raise EstimationError(
                f"experiment {experiment!r}, label {label!r}: a pilot needs >= 3 backgrounds, "
                f"got {m}"
            )
        ice = sub["ice"].to_numpy(dtype=float)
        sd = float(np.std(ice, ddof=1))
        sd_plan = sd if assurance is None else sd_upper(sd, m, assurance)
        sd1 = float(np.std(sub["y_do"].to_numpy(float), ddof=1))
        sd0 = float(np.std(sub["y_control"].to_numpy(float), ddof=1))
        if assurance is not None:
            sd1, sd0 = sd_upper(sd1, m, assurance), sd_upper(sd0, m, assurance)
        if half_width is not None:
            n = fixed_n_for_width(sd_plan, half_width, ci)
        else:
            assert mde is not None
            n = n_for_mde(sd_plan, mde, power=power, alpha=alpha)
        row = {
            "experiment": experiment,
            "label": label,
            "n_pilot": m,
            "ace_pilot": float(ice.mean()),
            "sd_ice": sd,
            "sd_plan": sd_plan,
            "sd_y_do": sd1,
            "sd_y_control": sd0,
            "changes": bool(np.any(ice != 0.0)),
            "n_paired": n,
            "n_per_group_unpaired": _n_unpaired(
                sd1, sd0, half_width=half_width, mde=mde, power=power, alpha=alpha, ci=ci
            ),
        }
        row.update({"half_width": half_width} if mde is None else {"mde": mde, "power": power})
        rows.append(row)
    frame = pd.DataFrame(rows)
    n = int(frame["n_paired"].max())
    n_forward = n * (1 + int(frame["changes"].sum()))
    n_unpaired = int(frame["n_per_group_unpaired"].max()) * (1 + len(frame))
    return SamplePlan(frame, n, n_forward, n_unpaired)


def _per_output_plan(parts: list[tuple[Any, SamplePlan]]) -> SamplePlan:
    """One plan for every output: its n the largest, forward passes counted once per sequence."""
    frame = stack_outputs([(name, plan.table) for name, plan in parts], after="label")
    n = max(plan.n for _, plan in parts)
    arms = frame.groupby(["experiment", "label"], sort=False)
    changes = int(arms["changes"].any().sum())
    n_unpaired = int(frame["n_per_group_unpaired"].max()) * (1 + arms.ngroups)
    names = tuple(str(name) for name, _ in parts)
    return SamplePlan(frame, n, n * (1 + changes), n_unpaired, names)
