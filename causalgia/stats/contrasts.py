"""Contrasts between the effects of one paired design, with intervals and tests.

The science of a GIA study is mostly in contrasts: do two motifs interact (epistasis), does the
network count copies additively or saturate, does it penalise close spacing (steric
hindrance), does the effect oscillate with the spacing at the helical period (≈10.5 bp for
B-DNA), how does the effect change with position?

Every contrast here is computed **per background** from the ICE table of a paired design:
``c_i = Σ_l w_l · ICE_l(x_i)`` on the backgrounds shared by the arms involved. The arms share
their controls, so the contrast inherits the pairing (common random numbers) and its
uncertainty is that of a one-sample t on ``c_i`` — the same superpopulation (which
backgrounds were sampled) uncertainty as :func:`causalgia.stats.estimators.estimate_ace`. Curves are
tested by projecting every background's ICE curve on a fixed basis and testing the mean of
the coefficients with Hotelling's T² (``statsmodels.stats.multivariate.test_mvmean``).

The ICE table of a model with several declared outputs (an ``output`` column) is analysed
output by output, each output exactly as its own single-output study
(:mod:`causalgia.stats.outputs`): every result table gets an ``output`` column after its key
columns (``contrast``; ``label`` of a curve; ``parameter`` of a fit) and q-values are adjusted
within each output. Every output has every arm, so each contrast exists in every output.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import optimize, stats

from .._options import check_int, check_option, check_probability
from .._rng import RngLike, generator, root_seed, unit_keys
from ..errors import EstimationError, OptionError
from .display import html_block, html_table, repr_lines
from .estimators import (
    AceEstimates,
    Adjustment,
    Method,
    _HasTable,
    _resolve,
    adjust_pvalues,
    estimate_ace,
    paired_t,
)
from .outputs import OUTPUT, has_outputs, per_output, stack_outputs

COLUMNS = ["contrast", "estimate", "se", "ci_low", "ci_high", "n", "statistic", "p_value"]


@dataclass(frozen=True)
class ContrastResult:
    """Estimated contrasts, one row each.

    Attributes
    ----------
    table : pandas.DataFrame
        ``contrast, estimate, se, ci_low, ci_high, n, statistic, p_value, q_value, method``
        plus test-specific columns (e.g. ``period, phase`` for periodicity). ``q_value`` is
        the BH adjustment over the rows of the table. A table with several outputs has an
        ``output`` column after ``contrast`` and q-values adjusted within each output.
    ci : float
        Confidence level of the intervals.

    Examples
    --------
    >>> t = pd.DataFrame({"experiment": "e", "label": ["a"] * 3 + ["b"] * 3,
    ...                   "background_id": [0, 1, 2] * 2, "ice": [1.0, 2.0, 3.0, 2.0, 4.1, 6.0]})
    >>> r = contrast(t, {"b": 1.0, "a": -2.0})
    >>> round(float(r.table["estimate"].iloc[0]), 3)
    0.033
    """

    table: pd.DataFrame
    ci: float

    def __len__(self) -> int:
        return len(self.table)

    def to_frame(self) -> pd.DataFrame:
        """A copy of the contrast table.

        Returns
        -------
        pandas.DataFrame
            A copy of :attr:`table`, one row per contrast.
        """
        return self.table.copy()

    def summary(self) -> str:
        """One line per contrast: estimate [ci], p and q.

        Returns
        -------
        str
            A header line, then one line per contrast.
        """
        lines = [f"ContrastResult: {len(self)} contrast(s){_over(self.table)}, {self.ci:.0%} CI"]
        for row in self.table.itertuples(index=False):
            lines.append(
                f"  {_which(row._asdict())}{row.contrast}: {row.estimate:.4g} "
                f"[{row.ci_low:.4g}, {row.ci_high:.4g}]"
                f"  p={row.p_value:.3g}  q={row.q_value:.3g}  ({row.method})"
            )
        return "\n".join(lines)

    def __repr__(self) -> str:
        t = self.table
        head = f"ContrastResult: {len(self)} contrast(s){_over(t)}, {100 * self.ci:g}% CI"
        if "q_value" in t.columns and len(t):
            head += f"; {int((t['q_value'] < 0.05).sum())} with q < 0.05"
        est = pd.to_numeric(t["estimate"], errors="coerce").abs() if "estimate" in t else None
        if est is None or not est.notna().any():
            return repr_lines(head)
        row = t.iloc[int(np.nanargmax(est.to_numpy(dtype=float)))]
        top = (
            f"  largest |estimate|: {_which(row)}{row.get('contrast')} = {row['estimate']:+.4g}"
            f" [{row.get('ci_low', np.nan):+.4g}, {row.get('ci_high', np.nan):+.4g}]"
            f", p={row.get('p_value', np.nan):.3g}"
        )
        return repr_lines(head, top)

    def _repr_html_(self) -> str:
        return html_block(repr(self), html_table(self.table, bar="estimate"))


def _over(table: pd.DataFrame) -> str:
    """`` over 2 outputs`` for a table with an ``output`` column, else nothing."""
    return f" over {table[OUTPUT].nunique(dropna=False)} outputs" if has_outputs(table) else ""


def _which(row: Any) -> str:
    """``[HepG2] `` for a row of a table with an ``output`` column, else nothing."""
    return f"[{row[OUTPUT]}] " if OUTPUT in row else ""


def _stack_contrasts(parts: list[tuple[Any, ContrastResult]]) -> ContrastResult:
    """The contrasts of every output, an ``output`` column after ``contrast``."""
    table = stack_outputs([(name, r.table) for name, r in parts], after="contrast")
    return ContrastResult(table, parts[0][1].ci)


def _finish(rows: list[dict[str, Any]], ci: float, adjust: Adjustment = "fdr_bh") -> ContrastResult:
    frame = pd.DataFrame(rows)
    extra = [c for c in frame.columns if c not in [*COLUMNS, "method"]]
    frame = frame[[*COLUMNS, "method", *extra]]
    frame.insert(8, "q_value", adjust_pvalues(frame["p_value"].to_numpy(float), adjust))
    return ContrastResult(frame.reset_index(drop=True), ci)


def _paired_table(data: pd.DataFrame | _HasTable, experiment: str | None) -> pd.DataFrame:
    table, kind = _resolve(data)
    if kind != "paired":
        raise OptionError("contrasts need a paired ICE table (the arms must share backgrounds)")
    missing = [c for c in ("experiment", "label", "background_id", "ice") if c not in table]
    if missing:
        raise EstimationError(f"paired table is missing required column(s) {missing}")
    if experiment is not None:
        table = table[table["experiment"] == experiment]
        if table.empty:
            raise EstimationError(f"no rows with experiment {experiment!r}")
    bad = ~np.isfinite(pd.to_numeric(table["ice"], errors="coerce").to_numpy(float))
    if bad.any():
        row = table.iloc[int(np.argmax(bad))]
        raise EstimationError(
            f"non-finite ice in experiment {row['experiment']!r}, label {row['label']!r}, "
            f"background_id {row['background_id']}"
        )
    return table


def ice_matrix(
    data: pd.DataFrame | _HasTable,
    labels: Sequence[str],
    *,
    experiment: str | None = None,
    output: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Background ids and the ``(n, len(labels))`` matrix of ICEs, one row per background.

    Several rows of one (label, background) — e.g. several motif instances — are averaged.
    Every label must be observed on the same backgrounds; a label or background that is
    missing raises, naming it (nothing is dropped silently).

    Parameters
    ----------
    data : DataFrame or SimulationResult
        A paired ICE table (``experiment, label, background_id, ice``).
    labels : sequence of str
        The arms, one column each, in this order.
    experiment : str, optional
        Use only the rows of this experiment.
    output : str, optional
        The output whose ICEs to use; required for a table with an ``output`` column (the
        ICEs of different outputs are never averaged), refused for a table without one.

    Returns
    -------
    ids : ndarray
        Background ids, sorted.
    matrix : ndarray
        ICEs ``(len(ids), len(labels))``.

    Raises
    ------
    EstimationError
        On a missing column, label, background or output, or a non-finite ICE.
    OptionError
        On repeated labels, a randomized table, or ``output`` for a table without outputs.

    Examples
    --------
    >>> t = pd.DataFrame({"experiment": "e", "label": ["a", "a", "b", "b"],
    ...                   "background_id": [0, 1, 0, 1], "ice": [1.0, 2.0, 3.0, 4.0]})
    >>> ids, m = ice_matrix(t, ["b", "a"])
    >>> m.tolist()
    [[3.0, 1.0], [4.0, 2.0]]
    """
    table = _one_output(_paired_table(data, experiment), output)
    labels = list(labels)
    if len(set(labels)) != len(labels):
        raise OptionError(f"labels must be distinct, got {labels}")
    present = set(table["label"])
    absent = [lb for lb in labels if lb not in present]
    if absent:
        where = "" if experiment is None else f" in experiment {experiment!r}"
        raise EstimationError(
            f"label(s) {absent} not found{where}; labels are {sorted(map(str, present))}"
        )
    sub = table[table["label"].isin(labels)]
    wide = sub.pivot_table(index="background_id", columns="label", values="ice", aggfunc="mean")
    wide = wide[labels].sort_index()
    holes = wide.isna().to_numpy()
    if holes.any():
        i, j = np.argwhere(holes)[0]
        raise EstimationError(
            f"label {labels[j]!r} has no ICE for background_id {wide.index[i]}; contrasts "
            "need every arm on the same backgrounds"
        )
    return wide.index.to_numpy(), wide.to_numpy(dtype=float)


def _one_output(table: pd.DataFrame, output: Any) -> pd.DataFrame:
    """The rows of ``output`` without the ``output`` column (``table`` if it has none)."""
    if not has_outputs(table):
        if output is not None:
            raise OptionError(f"output={output!r}: the table has no output column")
        return table
    names = table[OUTPUT].drop_duplicates().tolist()
    if output is None:
        raise EstimationError(
            f"the table holds the ICEs of {len(names)} outputs {names}; pick one with output="
        )
    if output not in names:
        raise EstimationError(f"output {output!r} not found; outputs are {names}")
    return table[table[OUTPUT] == output].drop(columns=OUTPUT)


def combine(m: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Per-background contrast ``m @ w``, with floating-point rounding set to exactly 0.

    A value smaller than 1e-12 of ``|m| @ |w|`` is rounding of terms that cancel (e.g. the
    interaction of two edits a model treats additively), not an effect.

    Examples
    --------
    >>> combine(np.array([[0.1, 0.2, 0.3]]), np.array([1.0, 1.0, -1.0])).tolist()
    [0.0]
    """
    values = m @ w
    values[np.abs(values) <= 1e-12 * (np.abs(m) @ np.abs(w))] = 0.0
    return values


def _t_row(
    name: str,
    values: np.ndarray,
    ci: float,
    method: str = "paired_t",
    alternative: Literal["two-sided", "less", "greater"] = "two-sided",
) -> dict[str, Any]:
    r = paired_t(values, ci)
    statistic = r["ace"] / r["se"] if r["se"] > 0 else (0.0 if r["ace"] == 0 else np.inf)
    if alternative != "two-sided" and r["se"] > 0:
        r["p_value"] = float(stats.ttest_1samp(values, 0.0, alternative=alternative).pvalue)
    elif alternative != "two-sided":
        r["p_value"] = float(r["ace"] >= 0) if alternative == "less" else float(r["ace"] <= 0)
    return {
        "contrast": name,
        "estimate": r["ace"],
        "se": r["se"],
        "ci_low": r["ci_low"],
        "ci_high": r["ci_high"],
        "n": r["n"],
        "statistic": float(statistic),
        "p_value": r["p_value"],
        "method": method,
    }


def contrast(
    data: pd.DataFrame | _HasTable,
    weights: Mapping[str, float],
    *,
    experiment: str | None = None,
    name: str | None = None,
    ci: float = 0.95,
) -> ContrastResult:
    """A linear contrast Σ_l w_l·ACE_l of arms that share backgrounds, by a paired t test.

    The per-background contrast ``c_i = Σ_l w_l·ICE_l(x_i)`` is tested with
    ``scipy.stats.ttest_1samp`` (mean, SE, interval and p-value agree with it exactly).

    Parameters
    ----------
    data : DataFrame or SimulationResult
        A paired ICE table (``experiment, label, background_id, ice``); one with an ``output``
        column gives one contrast per output.
    weights : mapping of str to float
        Weight of each arm label (at least one).
    experiment : str, optional
        Use only the rows of this experiment.
    name : str, optional
        Name of the contrast; default the weighted labels, e.g. ``"+1·b -1·a"``.
    ci : float, default 0.95
        Confidence level, in (0, 1).

    Returns
    -------
    ContrastResult
        One row (per output, an ``output`` column after ``contrast``).

    Raises
    ------
    EstimationError
        On a missing column, label or background, or a non-finite ICE.
    OptionError
        On no weights, a randomized table or a bad ``ci``.

    Examples
    --------
    >>> t = pd.DataFrame({"experiment": "e", "label": ["a"] * 3 + ["b"] * 3,
    ...                   "background_id": [0, 1, 2] * 2, "ice": [1.0, 2.0, 3.0, 1.5, 2.5, 3.0]})
    >>> round(float(contrast(t, {"b": 1, "a": -1}).table["estimate"].iloc[0]), 3)
    0.333
    """
    table, _ = _resolve(data)
    if has_outputs(table):  # several outputs: each its own study
        return _stack_contrasts(
            per_output(
                table, lambda part: contrast(part, weights, experiment=experiment, name=name, ci=ci)
            )
        )
    ci = check_probability("ci", ci)
    if not weights:
        raise OptionError("a contrast needs at least one weighted label")
    labels = list(weights)
    _, m = ice_matrix(data, labels, experiment=experiment)
    w = np.array([float(weights[lb]) for lb in labels])
    label = name or " ".join(f"{v:+g}·{lb}" for lb, v in zip(labels, w, strict=True))
    return _finish([_t_row(label, combine(m, w), ci)], ci)


def interaction(
    data: pd.DataFrame | _HasTable,
    a: str,
    b: str,
    ab: str,
    *,
    experiment: str | None = None,
    ci: float = 0.95,
) -> ContrastResult:
    """Interaction (epistasis) of a 2×2 factorial: ACE(A+B) − ACE(A) − ACE(B).

    Per background this is ``f(AB) − f(A) − f(B) + f(x)``; 0 for a model in which the two
    edits act additively. Negative: sub-additive (saturation, competition); positive:
    cooperative. Build the arms with :func:`causalgia.experiment.designs.factorial`.

    Parameters
    ----------
    data : DataFrame or SimulationResult
        A paired ICE table (``experiment, label, background_id, ice``); one with an ``output``
        column gives one interaction per output.
    a, b : str
        Labels of the single-edit arms.
    ab : str
        Label of the arm with both edits.
    experiment : str, optional
        Use only the rows of this experiment.
    ci : float, default 0.95
        Confidence level, in (0, 1).

    Returns
    -------
    ContrastResult
        One row (per output), named ``"<ab> − <a> − <b>"``.

    Raises
    ------
    EstimationError
        On a missing column, label or background, or a non-finite ICE.
    OptionError
        On a randomized table or a bad ``ci``.

    Examples
    --------
    >>> t = pd.DataFrame({"experiment": "e", "label": ["A"] * 3 + ["B"] * 3 + ["A+B"] * 3,
    ...                   "background_id": [0, 1, 2] * 3,
    ...                   "ice": [1.0, 1.1, 0.9, 2.0, 2.2, 1.8, 2.5, 2.9, 2.2]})
    >>> round(float(interaction(t, "A", "B", "A+B").table["estimate"].iloc[0]), 3)
    -0.467
    """
    return contrast(
        data, {ab: 1.0, a: -1.0, b: -1.0}, experiment=experiment, name=f"{ab} − {a} − {b}", ci=ci
    )


def _labels_by(table: pd.DataFrame, column: str, experiment: str) -> dict[Any, str]:
    if column not in table:
        raise EstimationError(f"experiment {experiment!r} has no {column!r} column")
    firsts = table.groupby("label", sort=False)[column].first()
    out: dict[Any, str] = {}
    for label, value in firsts.items():
        if pd.isna(value):
            continue
        key = value.item() if hasattr(value, "item") else value
        if key in out:
            raise EstimationError(
                f"experiment {experiment!r}: labels {out[key]!r} and {label!r} share "
                f"{column} = {key}; select one orientation/motif with experiment= first"
            )
        out[key] = str(label)
    return dict(sorted(out.items()))


@dataclass(frozen=True)
class AdditivityResult:
    """Count additivity: ``curve`` (ACE per count), ``contrasts`` (ACE(k) − k·ACE(1)) and
    ``fit`` (saturation model ``ACE(k) = amplitude·(1 − exp(−k/scale))`` with bootstrap
    percentile intervals over backgrounds). With several outputs each table has an ``output``
    column (after ``label``, ``contrast`` and ``parameter``): one curve, set of contrasts and
    fit per output.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> ice = {1: 1 + rng.normal(0, .1, 30), 2: 1.6 + rng.normal(0, .1, 30),
    ...        3: 1.9 + rng.normal(0, .1, 30)}
    >>> t = pd.concat([pd.DataFrame({"experiment": "count", "label": f"x{k}", "count": k,
    ...                              "background_id": range(30), "ice": v})
    ...                for k, v in ice.items()])
    >>> res = additivity(t, n_resamples=50, rng=1)
    >>> res.contrasts.table["contrast"].tolist()
    ['ACE(3) − 3·ACE(1)', 'ACE(2) − 2·ACE(1)']
    """

    curve: pd.DataFrame
    contrasts: ContrastResult
    fit: pd.DataFrame

    def to_frame(self) -> pd.DataFrame:
        """The contrast table (one row per k ≥ 2).

        Returns
        -------
        pandas.DataFrame
            A copy of ``contrasts.table``: ACE(k) − k·ACE(1) per count k ≥ 2.
        """
        return self.contrasts.to_frame()

    def summary(self) -> str:
        """The contrasts and the saturation fit.

        Returns
        -------
        str
            The contrasts' :meth:`ContrastResult.summary`, then one line with the fit (one per
            output).
        """
        fits = self._fit_lines(".3g")
        return "\n".join([self.contrasts.summary(), *(f"  saturation fit: {f}" for f in fits)])

    def _fit_lines(self, spec: str) -> list[str]:
        """One line of the saturation fit per output (one line without outputs)."""
        lines: dict[Any, list[str]] = {}
        for r in self.fit.to_dict("records"):
            lines.setdefault(r.get(OUTPUT), []).append(
                f"{r['parameter']}={r['estimate']:{spec}} "
                f"[{r['ci_low']:{spec}}, {r['ci_high']:{spec}}]"
            )
        return [
            ("" if name is None else f"[{name}] ") + ", ".join(parts)
            for name, parts in lines.items()
        ]

    def __repr__(self) -> str:
        counts = self.curve["count"].nunique() if "count" in self.curve else len(self.curve)
        head = (
            f"AdditivityResult: {counts} counts{_over(self.curve)}, {len(self.contrasts)} "
            f"contrast(s) ACE(k) − k·ACE(1), {100 * self.contrasts.ci:g}% CI"
        )
        worst = ""
        t = self.contrasts.table
        if len(t) and "p_value" in t.columns:
            worst = f"  smallest p: {t['p_value'].min():.3g}"
        fits = [f"  saturation fit: {f}" for f in self._fit_lines(".4g") if f]
        return repr_lines(head, worst, *fits)

    def _repr_html_(self) -> str:
        return html_block(
            repr(self),
            html_table(self.contrasts.table, caption="contrasts", bar="estimate"),
            html_table(self.fit, caption="saturation fit amplitude·(1 − exp(−k/scale))"),
            html_table(self.curve, caption="ACE per count", bar="ace"),
        )


def _saturation(k: np.ndarray, amplitude: float, scale: float) -> np.ndarray:
    return amplitude * (1.0 - np.exp(-k / scale))


def _fit_saturation(counts: np.ndarray, means: np.ndarray) -> np.ndarray:
    """Least-squares (amplitude, scale); NaN when the curve is not saturating (no finite fit)."""
    start = (float(means.max()) * 1.5, float(counts.max()))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optimize.OptimizeWarning)
            params, _ = optimize.curve_fit(
                _saturation, counts, means, p0=start, bounds=([-np.inf, 1e-3], [np.inf, 1e3])
            )
    except (RuntimeError, ValueError):
        return np.full(2, np.nan)
    return np.asarray(params, dtype=float)


def additivity(
    data: pd.DataFrame | _HasTable,
    *,
    experiment: str = "count",
    count: str = "count",
    ci: float = 0.95,
    n_resamples: int = 999,
    rng: RngLike = None,
) -> AdditivityResult:
    """Does the model count copies additively? ACE(k) against k·ACE(1), plus a saturation fit.

    ``contrasts``: for every k ≥ 2, ``ACE(k) − k·ACE(1)`` by a paired t test over the shared
    backgrounds (negative: sub-additive / saturating; BH q-values over the ks). ``fit``: the
    saturation curve ``ACE(k) = amplitude·(1 − exp(−k/scale))`` (ACE(0) = 0) fitted by least
    squares to the ACE means; its intervals are bootstrap percentiles over backgrounds
    (``n_resamples`` resamples of whole backgrounds, keyed by ``rng``). A scale at the upper
    bound (1000) means the curve is indistinguishable from a straight line.

    A table with an ``output`` column gets one analysis per output, all with the one root
    seed that ``rng`` resolves to (each output equals its single-output study with that seed).

    Parameters
    ----------
    data : DataFrame or SimulationResult
        A paired ICE table (``experiment, label, background_id, ice``).
    experiment : str, default "count"
        Experiment of the count arms.
    count : str, default "count"
        Column holding each arm's number of copies (count 1 is required).
    ci : float, default 0.95
        Confidence level, in (0, 1).
    n_resamples : int, default 999
        Bootstrap resamples of the saturation fit (>= 1).
    rng : int, Generator or None, default None
        Root seed of the bootstrap.

    Returns
    -------
    AdditivityResult

    Raises
    ------
    EstimationError
        On a missing column, label or background, two labels with one count, or no count 1
        and another count.
    OptionError
        On a randomized table, or a bad ``ci``, ``n_resamples`` or ``rng``.

    Examples
    --------
    >>> t = pd.DataFrame({"experiment": "count", "label": ["x1"] * 3 + ["x2"] * 3,
    ...                   "count": [1] * 3 + [2] * 3, "background_id": [0, 1, 2] * 2,
    ...                   "ice": [1.0, 1.2, 0.8, 1.5, 1.9, 1.3]})
    >>> r = additivity(t, n_resamples=20, rng=0)
    >>> round(float(r.contrasts.table["estimate"].iloc[0]), 3)
    -0.433
    """
    table, _ = _resolve(data)
    if has_outputs(table):  # several outputs: each its own study, one bootstrap seed
        seed = root_seed(rng)
        parts = per_output(
            table,
            lambda part: additivity(
                part, experiment=experiment, count=count, ci=ci, n_resamples=n_resamples, rng=seed
            ),
        )
        return AdditivityResult(
            stack_outputs([(name, r.curve) for name, r in parts], after="label"),
            _stack_contrasts([(name, r.contrasts) for name, r in parts]),
            stack_outputs([(name, r.fit) for name, r in parts], after="parameter"),
        )
    ci = check_probability("ci", ci)
    n_resamples = check_int("n_resamples", n_resamples, minimum=1)
    table = _paired_table(data, experiment)
    by_k = _labels_by(table, count, experiment)
    if 1 not in by_k or len(by_k) < 2:
        raise EstimationError(
            f"experiment {experiment!r}: additivity needs count 1 and at least one more count, "
            f"got counts {list(by_k)}"
        )
    ks = np.array(list(by_k), dtype=float)
    _, m = ice_matrix(table, list(by_k.values()))
    rows = [
        _t_row(f"ACE({k:g}) − {k:g}·ACE(1)", combine(m[:, [j, 0]], np.array([1.0, -k])), ci)
        for j, k in reversed(list(enumerate(ks)))
        if k != 1
    ]
    for row, k in zip(rows, [k for k in ks[::-1] if k != 1], strict=True):
        row["count"] = int(k)
        row["ratio"] = float(m[:, ks == k].mean() / (k * m[:, 0].mean()))
    curve = pd.DataFrame(
        [{"count": int(k), "label": by_k[k], **paired_t(m[:, j], ci)} for j, k in enumerate(ks)]
    )
    point = _fit_saturation(ks, m.mean(axis=0))
    gen = generator(unit_keys(root_seed(rng), [0], "bootstrap", experiment, "saturation")[0])
    draws = np.array(
        [
            _fit_saturation(ks, m[gen.integers(0, len(m), len(m))].mean(axis=0))
            for _ in range(n_resamples)
        ]
    )
    tail = (1.0 - ci) / 2.0 * 100.0
    fit = pd.DataFrame(
        {
            "parameter": ["amplitude", "scale"],
            "estimate": point,
            "ci_low": np.nanpercentile(draws, tail, axis=0) if np.isfinite(draws).any() else np.nan,
            "ci_high": (
                np.nanpercentile(draws, 100.0 - tail, axis=0)
                if np.isfinite(draws).any()
                else np.nan
            ),
            "failed_resamples": int(np.isnan(draws[:, 0]).sum()),
        }
    )
    return AdditivityResult(curve, _finish(rows, ci), fit)


def _spacing_matrix(
    data: pd.DataFrame | _HasTable, experiment: str, spacing: str
) -> tuple[np.ndarray, np.ndarray]:
    table = _paired_table(data, experiment)
    by_s = _labels_by(table, spacing, experiment)
    _, m = ice_matrix(table, list(by_s.values()))
    return np.array(list(by_s), dtype=float), m


def spacing_penalty(
    data: pd.DataFrame | _HasTable,
    *,
    close: int = 2,
    far: int | None = None,
    experiment: str = "spacing",
    spacing: str = "spacing",
    alternative: Literal["less", "two-sided"] = "less",
    ci: float = 0.95,
) -> ContrastResult:
    """Close-spacing penalty: mean ICE at spacings ≤ ``close`` minus mean ICE at spacings
    ≥ ``far`` (default: every spacing > ``close``), paired over backgrounds.

    Negative with a small p-value: two sites that close interfere (steric hindrance). The
    p-value is one-sided by default (``alternative="less"``: a *penalty*; a close-spacing
    bonus, e.g. from new sites created at the junction of two adjacent motifs, does not
    count); the interval is two-sided. A table with an ``output`` column gives one row per
    output.

    Examples
    --------
    >>> t = pd.DataFrame({"experiment": "spacing", "label": [f"g{s}" for s in range(4)] * 3,
    ...                   "spacing": list(range(4)) * 3, "background_id": np.repeat([0, 1, 2], 4),
    ...                   "ice": [0.5, 1.0, 1.1, 1.0, 0.6, 1.2, 1.0, 1.1, 0.4, 0.9, 1.0, 1.0]})
    >>> round(float(spacing_penalty(t, close=0).table["estimate"].iloc[0]), 3)
    -0.533
    """
    table, _ = _resolve(data)
    if has_outputs(table):  # several outputs: each its own study
        return _stack_contrasts(
            per_output(
                table,
                lambda part: spacing_penalty(
                    part, close=close, far=far, experiment=experiment, spacing=spacing,
                    alternative=alternative, ci=ci,
                ),
            )
        )  # fmt: skip
    ci = check_probability("ci", ci)
    s, m = _spacing_matrix(data, experiment, spacing)
    far = close + 1 if far is None else far
    near_cols, far_cols = s <= close, s >= far
    if not near_cols.any() or not far_cols.any():
        raise EstimationError(
            f"experiment {experiment!r}: spacings {s.astype(int).tolist()} have none <= {close} "
            f"or none >= {far}"
        )
    w = np.where(near_cols, 1.0 / near_cols.sum(), 0.0) - np.where(
        far_cols, 1.0 / far_cols.sum(), 0.0
    )
    values = combine(m, w)
    check_option("alternative", alternative, ("less", "two-sided"))
    name = f"close-spacing penalty (<= {close} vs >= {far})"
    row = _t_row(name, values, ci, alternative=alternative)
    return _finish([{**row, "close": close, "far": far}], ci)


def periodicity(
    data: pd.DataFrame | _HasTable,
    *,
    period: float = 10.5,
    experiment: str = "spacing",
    spacing: str = "spacing",
    min_spacing: int = 0,
    trend: int = 1,
    ci: float = 0.95,
) -> ContrastResult:
    """Helical periodicity of the ICE in the spacing, at a given period.

    Each background's ICE curve over spacings ``s ≥ min_spacing`` is regressed on a
    polynomial trend of degree ``trend`` plus ``cos(2πs/period)`` and ``sin(2πs/period)``
    (the same least-squares projection for every background). The mean (cos, sin)
    coefficient vector is tested against 0 with Hotelling's T²
    (``statsmodels.stats.multivariate.test_mvmean``; F with (2, n − 2) df). ``estimate`` is
    the amplitude of the mean sinusoid with a delta-method interval (approximate; biased
    upward near 0 — use the p-value to decide whether there is periodicity), ``phase`` its
    phase in radians. Exclude close spacings with ``min_spacing`` when a close-spacing penalty
    would otherwise leak into the sinusoid. A table with an ``output`` column gives one row per
    output.

    Examples
    --------
    >>> s = np.arange(0, 31)
    >>> rng = np.random.default_rng(0)
    >>> t = pd.DataFrame([{"experiment": "spacing", "label": f"g{k}", "spacing": k,
    ...                    "background_id": b,
    ...                    "ice": 1 + 0.3 * np.cos(2 * np.pi * k / 10.5) + rng.normal(0, 0.2)}
    ...                   for b in range(20) for k in s])
    >>> r = periodicity(t).table.iloc[0]
    >>> round(float(r["estimate"]), 1), bool(r["p_value"] < 1e-6)
    (0.3, True)
    """
    from statsmodels.stats.multivariate import test_mvmean

    table, _ = _resolve(data)
    if has_outputs(table):  # several outputs: each its own study
        return _stack_contrasts(
            per_output(
                table,
                lambda part: periodicity(
                    part, period=period, experiment=experiment, spacing=spacing,
                    min_spacing=min_spacing, trend=trend, ci=ci,
                ),
            )
        )  # fmt: skip
    ci = check_probability("ci", ci)
    trend = check_int("trend", trend, minimum=0)
    if not period > 0:
        raise OptionError(f"period must be > 0, got {period!r}")
    s, m = _spacing_matrix(data, experiment, spacing)
    keep = s >= min_spacing
    s, m = s[keep], m[:, keep]
    basis = [((s - s.mean()) / max(np.ptp(s), 1.0)) ** d for d in range(trend + 1)]
    x = np.column_stack([*basis, np.cos(2 * np.pi * s / period), np.sin(2 * np.pi * s / period)])
    if len(s) <= x.shape[1] or np.linalg.matrix_rank(x) < x.shape[1]:
        raise EstimationError(
            f"experiment {experiment!r}: {len(s)} spacings >= {min_spacing} cannot separate a "
            f"degree-{trend} trend from a sinusoid of period {period}"
        )
    n = m.shape[0]
    if n < 3:
        raise EstimationError(f"periodicity needs at least 3 backgrounds, got {n}")
    coef = m @ np.linalg.pinv(x).T
    cs = coef[:, -2:]
    mean = cs.mean(axis=0)
    amplitude = float(np.hypot(*mean))
    cov = np.cov(cs, rowvar=False, ddof=1) / n
    if np.allclose(cs, cs[0]):
        t2, p = 0.0 if amplitude == 0 else np.inf, float(amplitude == 0)
        se = 0.0
    else:
        res = test_mvmean(cs, np.zeros(2))
        t2, p = float(res.t2), float(res.pvalue)
        u = mean / amplitude if amplitude > 0 else np.array([1.0, 0.0])
        se = float(np.sqrt(u @ cov @ u))
    z = float(stats.norm.ppf(0.5 + ci / 2.0))
    row = {
        "contrast": f"periodicity at {period:g}",
        "estimate": amplitude,
        "se": se,
        "ci_low": max(amplitude - z * se, 0.0),
        "ci_high": amplitude + z * se,
        "n": n,
        "statistic": t2,
        "p_value": p,
        "method": "hotelling_t2",
        "period": float(period),
        "phase": float(np.arctan2(mean[1], mean[0])),
        "n_spacings": len(s),
    }
    return _finish([row], ci)


@dataclass(frozen=True)
class CurveResult:
    """An effect curve (ACE per value of a design parameter) and tests of its shape.

    With several outputs, ``curve`` has an ``output`` column after ``label`` (one curve per
    output, each sorted by ``x``) and ``tests`` one after ``contrast`` (q-values within output).

    Examples
    --------
    >>> t = pd.DataFrame({"experiment": "position", "label": ["p0"] * 3 + ["p5"] * 3,
    ...                   "position": [0] * 3 + [5] * 3, "background_id": [0, 1, 2] * 2,
    ...                   "ice": [1.0, 1.2, 0.8, 2.0, 2.1, 1.8]})
    >>> positional_curve(t).curve["position"].tolist()
    [0, 5]
    """

    curve: pd.DataFrame
    tests: ContrastResult
    x: str

    def to_frame(self) -> pd.DataFrame:
        """A copy of the curve table.

        Returns
        -------
        pandas.DataFrame
            A copy of :attr:`curve`: one ACE row per value of the parameter ``x``.
        """
        return self.curve.copy()

    def summary(self) -> str:
        """The curve's range and its tests.

        Returns
        -------
        str
            A line with the number of points and the ACE range, then the tests' summary.
        """
        head = (
            f"CurveResult over {self.x}: {self._points()} points{_over(self.curve)}, ACE from "
            f"{self.curve['ace'].min():.4g} to {self.curve['ace'].max():.4g}"
        )
        return f"{head}\n{self.tests.summary()}"

    def _points(self) -> int:
        """Points of one curve (the values of ``x``)."""
        if has_outputs(self.curve) and self.x in self.curve:
            return int(self.curve[self.x].nunique(dropna=False))
        return len(self.curve)

    def __repr__(self) -> str:
        ace = pd.to_numeric(self.curve["ace"], errors="coerce") if "ace" in self.curve else None
        head = f"CurveResult over {self.x}: {self._points()} points{_over(self.curve)}"
        if ace is not None and ace.notna().any():
            head += f", ACE from {ace.min():.4g} to {ace.max():.4g}"
        t = self.tests.table
        tests = "; ".join(
            f"{_which(r._asdict())}{r.contrast} p={r.p_value:.3g}"
            for r in t.itertuples(index=False)
        )
        return repr_lines(head, f"  tests ({len(t)}): {tests}" if len(t) else "")

    def _repr_html_(self) -> str:
        return html_block(
            repr(self),
            html_table(self.curve, caption=f"ACE per {self.x}", bar="ace"),
            html_table(self.tests.table, caption="tests of the curve's shape"),
        )


def _stack_curves(parts: list[tuple[Any, CurveResult]]) -> CurveResult:
    """The curves and tests of every output, each with an ``output`` column."""
    curve = stack_outputs([(name, r.curve) for name, r in parts], after="label")
    tests = _stack_contrasts([(name, r.tests) for name, r in parts])
    return CurveResult(curve, tests, parts[0][1].x)


def _curve(
    data: pd.DataFrame | _HasTable, experiment: str, x: str, method: Method, ci: float
) -> AceEstimates:
    table = _paired_table(data, experiment)
    est = estimate_ace(table, method=method, ci=ci)
    frame = est.table.sort_values(x, kind="stable").reset_index(drop=True)
    return AceEstimates(frame, est.method, est.ci)


def heterogeneity(
    data: pd.DataFrame | _HasTable,
    *,
    experiment: str,
    by: str,
    ci: float = 0.95,
) -> ContrastResult:
    """Do the ACEs differ across the values of ``by``? Hotelling's T² on the paired
    differences ICE_j − ICE_first (H0: every ACE equal); ``estimate`` is max − min ACE. A
    table with an ``output`` column gives one row per output.

    Examples
    --------
    >>> t = pd.DataFrame({"experiment": "position", "label": ["p0"] * 4 + ["p5"] * 4,
    ...                   "position": [0] * 4 + [5] * 4, "background_id": [0, 1, 2, 3] * 2,
    ...                   "ice": [1.0, 1.2, 0.8, 1.1, 2.0, 2.1, 1.8, 2.2]})
    >>> bool(heterogeneity(t, experiment="position", by="position").table["p_value"][0] < 0.01)
    True
    """
    from statsmodels.stats.multivariate import test_mvmean

    table, _ = _resolve(data)
    if has_outputs(table):  # several outputs: each its own study
        return _stack_contrasts(
            per_output(table, lambda part: heterogeneity(part, experiment=experiment, by=by, ci=ci))
        )
    ci = check_probability("ci", ci)
    table = _paired_table(data, experiment)
    by_x = _labels_by(table, by, experiment)
    _, m = ice_matrix(table, list(by_x.values()))
    n, k = m.shape
    if k < 2 or n <= k:
        raise EstimationError(
            f"experiment {experiment!r}: a heterogeneity test over {k} values of {by!r} needs "
            f"more than {k} backgrounds, got {n}"
        )
    diffs = m[:, 1:] - m[:, :1]
    means = m.mean(axis=0)
    if np.allclose(diffs, diffs[0]):
        stat, p = 0.0, float(np.allclose(diffs[0], 0.0))
    elif k == 2:  # Hotelling's T² with one dimension is the squared paired t
        r = paired_t(diffs[:, 0])
        stat, p = float((r["ace"] / r["se"]) ** 2), float(r["p_value"])
    else:
        res = test_mvmean(diffs, np.zeros(k - 1))
        stat, p = float(res.t2), float(res.pvalue)
    row = {
        "contrast": f"ACE differs across {by}",
        "estimate": float(means.max() - means.min()),
        "se": np.nan,
        "ci_low": np.nan,
        "ci_high": np.nan,
        "n": n,
        "statistic": stat,
        "p_value": p,
        "method": "hotelling_t2",
    }
    return _finish([row], ci)


def positional_curve(
    data: pd.DataFrame | _HasTable,
    *,
    experiment: str = "position",
    position: str = "position",
    method: Method = "paired_t",
    ci: float = 0.95,
) -> CurveResult:
    """ACE per position with intervals, and a test that the effect depends on position.

    The test is Hotelling's T² on the paired differences between positions (H0: every ACE
    equal). A table with an ``output`` column gives one curve and one test per output.

    Parameters
    ----------
    data : DataFrame or SimulationResult
        A paired ICE table (``experiment, label, background_id, ice``).
    experiment : str, default "position"
        Experiment of the position arms.
    position : str, default "position"
        Column holding each arm's position.
    method : str, default "paired_t"
        Estimator of the curve's ACEs, one of :func:`~causalgia.stats.estimate_ace`'s methods.
    ci : float, default 0.95
        Confidence level, in (0, 1).

    Returns
    -------
    CurveResult
        ``curve``: one ACE row per position, sorted; ``tests``: the heterogeneity test (per
        output, with an ``output`` column).

    Raises
    ------
    EstimationError
        On a missing column, label or background, two labels with one position, or no more
        backgrounds than positions.
    OptionError
        On a randomized table or a bad option.

    Examples
    --------
    >>> t = pd.DataFrame({"experiment": "position", "label": ["p0"] * 4 + ["p5"] * 4,
    ...                   "position": [0] * 4 + [5] * 4, "background_id": [0, 1, 2, 3] * 2,
    ...                   "ice": [1.0, 1.2, 0.8, 1.1, 2.0, 2.1, 1.8, 2.2]})
    >>> positional_curve(t).tests.table["contrast"].tolist()
    ['ACE differs across position']
    """
    table, _ = _resolve(data)
    if has_outputs(table):  # several outputs: each its own study
        return _stack_curves(
            per_output(
                table,
                lambda part: positional_curve(
                    part, experiment=experiment, position=position, method=method, ci=ci
                ),
            )
        )
    curve = _curve(data, experiment, position, method, ci)
    tests = heterogeneity(data, experiment=experiment, by=position, ci=ci)
    return CurveResult(curve.table, tests, position)


def spacing_curve(
    data: pd.DataFrame | _HasTable,
    *,
    experiment: str = "spacing",
    spacing: str = "spacing",
    close: int = 2,
    period: float = 10.5,
    min_spacing: int | None = None,
    method: Method = "paired_t",
    ci: float = 0.95,
) -> CurveResult:
    """ACE per spacing with intervals, a close-spacing-penalty test and a periodicity test.

    ``tests`` holds :func:`spacing_penalty` (spacings ≤ ``close`` against the rest) and
    :func:`periodicity` at ``period`` over spacings > ``close`` (or ≥ ``min_spacing``), with
    BH q-values over the two. A table with an ``output`` column gives one curve and two tests
    per output (q-values over the two of each output).

    Parameters
    ----------
    data : DataFrame or SimulationResult
        A paired ICE table (``experiment, label, background_id, ice``).
    experiment : str, default "spacing"
        Experiment of the spacing arms.
    spacing : str, default "spacing"
        Column holding each arm's spacing (nt).
    close : int, default 2
        Largest spacing counted as close.
    period : float, default 10.5
        Period of the periodicity test (nt, > 0).
    min_spacing : int, optional
        Smallest spacing in the periodicity test; default ``close + 1``.
    method : str, default "paired_t"
        Estimator of the curve's ACEs, one of :func:`~causalgia.stats.estimate_ace`'s methods.
    ci : float, default 0.95
        Confidence level, in (0, 1).

    Returns
    -------
    CurveResult
        ``curve``: one ACE row per spacing, sorted; ``tests``: the penalty and periodicity
        rows.

    Raises
    ------
    EstimationError
        On a missing column, label or background, two labels with one spacing, no spacing on
        one side of ``close``, or too few spacings or backgrounds for the periodicity fit.
    OptionError
        On a randomized table or a bad option.

    Examples
    --------
    >>> s = np.arange(0, 25)
    >>> t = pd.DataFrame([{"experiment": "spacing", "label": f"g{k}", "spacing": k,
    ...                    "background_id": b, "ice": 1.0 - (k < 2) + 0.01 * ((b * k) % 7)}
    ...                   for b in range(12) for k in s])
    >>> spacing_curve(t).tests.table["contrast"].tolist()
    ['close-spacing penalty (<= 2 vs >= 3)', 'periodicity at 10.5']
    """
    table, _ = _resolve(data)
    if has_outputs(table):  # several outputs: each its own study
        return _stack_curves(
            per_output(
                table,
                lambda part: spacing_curve(
                    part, experiment=experiment, spacing=spacing, close=close, period=period,
                    min_spacing=min_spacing, method=method, ci=ci,
                ),
            )
        )  # fmt: skip
    curve = _curve(data, experiment, spacing, method, ci)
    low = close + 1 if min_spacing is None else min_spacing
    rows = [
        spacing_penalty(data, close=close, experiment=experiment, spacing=spacing, ci=ci),
        periodicity(
            data, period=period, experiment=experiment, spacing=spacing, min_spacing=low, ci=ci
        ),
    ]
    frame = pd.concat([r.table.drop(columns="q_value") for r in rows], ignore_index=True)
    tests = _finish(frame.to_dict("records"), ci)
    return CurveResult(curve.table, tests, spacing)


def fit_factorial(
    data: pd.DataFrame | _HasTable,
    factors: Sequence[str],
    *,
    experiment: str = "factorial",
    interactions: bool = True,
    ci: float = 0.95,
) -> ContrastResult:
    """Main effects and two-way interactions of a (fractional) factorial by regression.

    Pooled OLS of every arm's ICE on its 0/1 factor columns (and their pairwise products),
    without intercept (the empty run, the control, has ICE 0), with standard errors
    clustered by background (statsmodels ``cov_type="cluster"``, t on G − 1 df): the arms of
    one background share its control. A main effect is the effect of adding the factor alone;
    an interaction ``A:B`` is ACE(A+B) − ACE(A) − ACE(B) when the other factors are absent.
    In a fraction, aliased terms are detected and named. A table with an ``output`` column
    gives one regression per output.

    Parameters
    ----------
    data : DataFrame or SimulationResult
        A paired ICE table (``experiment, label, background_id, ice``).
    factors : sequence of str
        Factor columns, holding 0/1 levels.
    experiment : str, default "factorial"
        Experiment of the factorial arms.
    interactions : bool, default True
        Also fit every two-way interaction.
    ci : float, default 0.95
        Confidence level, in (0, 1).

    Returns
    -------
    ContrastResult
        One row per term (factors, then ``"A:B"`` interactions), method ``"ols_cluster"``;
        with several outputs, the terms of each output, an ``output`` column after ``contrast``.

    Raises
    ------
    EstimationError
        On a missing column, a level other than 0/1, aliased terms, or a non-finite ICE.
    OptionError
        On a randomized table or a bad ``ci``.

    Examples
    --------
    >>> rows = []
    >>> for b in range(10):
    ...     for a_, b_ in [(1, 0), (0, 1), (1, 1)]:
    ...         rows.append({"experiment": "factorial", "label": f"{a_}{b_}", "A": a_, "B": b_,
    ...                      "background_id": b,
    ...                      "ice": 1.0 * a_ + 2.0 * b_ - 0.5 * a_ * b_ + 0.01 * b})
    >>> fit_factorial(pd.DataFrame(rows), ["A", "B"]).table["contrast"].tolist()
    ['A', 'B', 'A:B']
    """
    from statsmodels.regression.linear_model import OLS

    table, _ = _resolve(data)
    if has_outputs(table):  # several outputs: each its own study
        return _stack_contrasts(
            per_output(
                table,
                lambda part: fit_factorial(
                    part, factors, experiment=experiment, interactions=interactions, ci=ci
                ),
            )
        )
    ci = check_probability("ci", ci)
    table = _paired_table(data, experiment)
    factors = list(factors)
    missing = [f for f in factors if f not in table]
    if missing:
        raise EstimationError(f"experiment {experiment!r} has no factor column(s) {missing}")
    z = table[factors].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    if not np.isin(z, (0.0, 1.0)).all():
        raise EstimationError(f"factor columns {factors} must hold 0/1 levels")
    names, cols = list(factors), [z[:, j] for j in range(len(factors))]
    if interactions:
        for i in range(len(factors)):
            for j in range(i + 1, len(factors)):
                names.append(f"{factors[i]}:{factors[j]}")
                cols.append(z[:, i] * z[:, j])
    x = np.column_stack(cols)
    rank = np.linalg.matrix_rank(x)
    if rank < x.shape[1]:
        _, r = np.linalg.qr(x)
        weak = [names[j] for j in np.flatnonzero(np.abs(np.diag(r)) < 1e-9 * np.abs(r).max())]
        raise EstimationError(
            f"experiment {experiment!r}: terms are aliased in this design (rank {rank} < "
            f"{x.shape[1]}); e.g. {weak} — drop interactions or use a higher-resolution fraction"
        )
    groups = pd.factorize(table["background_id"])[0]
    y = table["ice"].to_numpy(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        fit = OLS(y, x).fit(cov_type="cluster", cov_kwds={"groups": groups}, use_t=True)
        bounds = fit.conf_int(1.0 - ci)
    tiny = 1e-12 * max(float(np.abs(y).max()), 1.0)
    rows = []
    for j, name in enumerate(names):
        est, se = float(fit.params[j]), float(fit.bse[j])
        row = {"contrast": name, "estimate": est, "se": se, "n": int(groups.max() + 1)}
        if not se > tiny:  # the model fits every background exactly: no sampling spread
            est = 0.0 if abs(est) <= tiny else est
            row.update(estimate=est, se=0.0, ci_low=est, ci_high=est)
            row.update(statistic=0.0 if est == 0 else np.inf, p_value=float(est == 0))
        else:
            row.update(ci_low=float(bounds[j, 0]), ci_high=float(bounds[j, 1]))
            row.update(statistic=float(fit.tvalues[j]), p_value=float(fit.pvalues[j]))
        rows.append({**row, "method": "ols_cluster"})
    return _finish(rows, ci)
