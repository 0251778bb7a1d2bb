"""Controls that tell a user when an in-silico effect is an artefact.

Every check returns a :class:`CheckResult` (``check_name``, ``passed``: True / False / None for
"informational", a ``table`` and a one-line ``text``), following CausalPy's Check/CheckResult
pattern; :func:`evaluate_controls` gathers them in a :class:`ControlReport` that the run report
shows.

- **positive**: a known motif (or an effect planted in an oracle) must be detected, and its
  interval must cover the truth when the truth is known;
- **negative**: composition-preserving scrambles of the motif and random k-mers of equal length
  and GC (:func:`null_kmer_arms`) must not be detected after FDR control;
- **placebo**: the identity intervention must give ICE exactly 0 for every background;
- **gc**: a GC-rich pattern without the motif at the same place (:func:`gc_control_arm`)
  measures how much of an effect GC content alone explains;
- **background sensitivity** (:func:`causalgia.checks.sensitivity.background_sensitivity`): the same
  arms under several background populations, the spread of the ACE, a heterogeneity test
  across backgrounds, and how far each background is from the reference sequences (k-mer
  spectrum Jensen-Shannon divergence; two-sample Kolmogorov-Smirnov test of the model outputs);
- **empirical null** (:func:`empirical_null`): the distribution of negative-control effects
  gives calibrated p-values and a minimum detectable effect;
- **randomized weights** (:func:`check_randomized_weights`): the model-parameter
  randomization test of Adebayo et al. (NeurIPS 2018). The same design on copies of a torch,
  ONNX or DeepBind model whose weights were randomized
  (:func:`causalgia.checks.randomization.randomized_weights_ace`); an effect the copies keep comes
  from the architecture, the input encoding or the intervention, not from what the network
  learned.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.meta_analysis import combine_effects

from .._options import check_int, check_probability
from .._rng import RngLike, generator, root_seed, unit_keys
from ..errors import EstimationError, OptionError
from ..experiment.designs import Arm
from ..experiment.interventions import Identity, Substitute
from ..sequences.motifs import Motif, coerce_motif
from ..stats.display import html_block, html_table, repr_lines
from ..stats.estimators import adjust_pvalues

_GC, _AT = "GC", "AT"
_MARK = {True: "PASS", False: "FAIL", None: "INFO"}


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one control.

    Attributes
    ----------
    check_name : str
        E.g. ``"placebo"``, ``"negative"``, ``"empirical_null"``.
    passed : bool or None
        None when the check is informational (nothing to pass or fail).
    table : DataFrame
        The rows the verdict rests on.
    text : str
        One-line explanation, with the numbers.
    metadata : mapping
        Extra numbers (e.g. the null mean and SD, the minimum detectable effect).
    output : str or None
        The model output the check ran on, for a model with several declared outputs
        (:func:`evaluate_controls` runs each check per output); None for one output.

    Examples
    --------
    >>> CheckResult("placebo", True, pd.DataFrame(), "ICE exactly 0").passed
    True
    """

    check_name: str
    passed: bool | None
    table: pd.DataFrame
    text: str
    metadata: Mapping[str, Any] = field(default_factory=dict)
    output: str | None = None

    def __repr__(self) -> str:
        head = f"CheckResult {self.check_name}: {_MARK[self.passed]}"
        if self.output is not None:
            head += f" (output {self.output!r})"
        if isinstance(self.table, pd.DataFrame):
            head += f", {len(self.table)}-row table"
        return repr_lines(head, f"  {self.text}")

    def _repr_html_(self) -> str:
        tables = [html_table(self.table)] if isinstance(self.table, pd.DataFrame) else []
        return html_block(repr(self), *tables)


@dataclass(frozen=True)
class ControlReport:
    """All control results of a study, in the order they were run.

    Examples
    --------
    >>> r = ControlReport((CheckResult("placebo", True, pd.DataFrame(), "ok"),))
    >>> r.to_frame()[["check_name", "passed"]].values.tolist(), r["placebo"].text
    ([['placebo', True]], 'ok')
    """

    results: tuple[CheckResult, ...]

    def __iter__(self) -> Iterator[CheckResult]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def __getitem__(self, name: str | tuple[str, str]) -> CheckResult:
        check, output = (name, None) if isinstance(name, str) else name
        for result in self.results:
            if result.check_name == check and (output is None or result.output == output):
                return result
        raise KeyError(f"no control named {name!r}; have {[r.check_name for r in self]}")

    @property
    def outputs(self) -> tuple[str, ...] | None:
        """The model outputs the checks ran on (several declared outputs), else None."""
        names = [r.output for r in self.results if r.output is not None]
        return tuple(dict.fromkeys(names)) if names else None

    @property
    def passed(self) -> bool | None:
        """False if any check failed, True if all decided checks passed, None if none decided."""
        decided = [r.passed for r in self.results if r.passed is not None]
        return None if not decided else all(decided)

    def to_frame(self) -> pd.DataFrame:
        """One row per check: ``check_name, passed, text``.

        Returns
        -------
        pandas.DataFrame
            One row per check, in the order run; ``passed`` is object dtype (True, False or
            None). Checks of a model with several outputs have an ``output`` column after
            ``check_name``: one verdict per check × output (empty for a check of all outputs).
        """
        frame = pd.DataFrame(
            {
                "check_name": [r.check_name for r in self.results],
                "passed": pd.Series([r.passed for r in self.results], dtype=object),
                "text": [r.text for r in self.results],
            }
        )
        if self.outputs is not None:
            frame.insert(1, "output", [r.output for r in self.results])
        return frame

    def tables(self) -> dict[str, pd.DataFrame]:
        """Each check's full table by check name (``controls/<name>.csv`` in a run).

        Returns
        -------
        dict of str to pandas.DataFrame
            The ``table`` of every check, keyed by ``check_name``; a check run per model
            output has one table of all outputs, with an ``output`` column after ``label``.
        """
        parts: dict[str, list[CheckResult]] = {}
        for r in self.results:
            parts.setdefault(r.check_name, []).append(r)
        return {name: _joined(results) for name, results in parts.items()}

    def summary(self) -> str:
        """One line per check: PASS / FAIL / INFO and its explanation.

        Returns
        -------
        str
            One line per check, in the order run.
        """
        return "\n".join(
            f"{_MARK[r.passed]:>4}  {r.check_name}{_where(r)}: {r.text}" for r in self.results
        )

    def __repr__(self) -> str:
        marks = [_MARK[r.passed] for r in self.results]
        overall = {True: "all decided checks pass", False: "FAILED", None: "none decided"}
        head = (
            f"ControlReport: {len(self)} checks, {marks.count('PASS')} PASS, "
            f"{marks.count('FAIL')} FAIL, {marks.count('INFO')} INFO -> {overall[self.passed]}"
        )
        each = ", ".join(
            f"{r.check_name}{_where(r)} {m}" for r, m in zip(self.results, marks, strict=True)
        )
        return repr_lines(head, f"  {each}" if each else "")

    def _repr_html_(self) -> str:
        frame = pd.DataFrame(
            {
                "check": [f"{r.check_name}{_where(r)}" for r in self.results],
                "verdict": [_MARK[r.passed] for r in self.results],
                "text": [r.text for r in self.results],
            }
        )
        return html_block(repr(self), html_table(frame, verdict="verdict"))


def _where(result: CheckResult) -> str:
    """`` [output]`` for a check of one of several model outputs."""
    return "" if result.output is None else f" [{result.output}]"


def _joined(results: list[CheckResult]) -> pd.DataFrame:
    """The tables of one check over the model outputs, an ``output`` column after ``label``."""
    if len(results) == 1 and results[0].output is None:
        return results[0].table
    frames = []
    for r in results:
        table = r.table.copy()
        if r.output is not None and "output" not in table.columns:
            at = list(table.columns).index("label") + 1 if "label" in table.columns else 0
            table.insert(at, "output", r.output)
        frames.append(table)
    return pd.concat(frames, ignore_index=True)


# -- control arms ---------------------------------------------------------------------------------


def _letters(motif: str | Motif) -> tuple[str, bool]:
    m = coerce_motif(motif)
    cons = m.consensus().upper()
    rna = "U" in cons or m.alphabet.name == "rna"
    return cons.replace("U", "T"), rna


def _distance(a: str, b: str) -> int:
    return sum(x != y for x, y in zip(a, b, strict=True))


def _revcomp(s: str) -> str:
    return s[::-1].translate(str.maketrans("ACGT", "TGCA"))


def random_kmers(
    motif: str | Motif, n: int, *, min_distance: int = 2, rng: RngLike = None
) -> list[str]:
    """``n`` distinct random k-mers with the motif's length and exact G+C count.

    K-mers closer than ``min_distance`` mismatches to the motif's consensus or its reverse
    complement are rejected, so that none is a partial site. RNA motifs give RNA letters.

    Examples
    --------
    >>> kmers = random_kmers("UGCAUG", 3, rng=1)
    >>> len(kmers), all(len(k) == 6 and k.count("G") + k.count("C") == 3 for k in kmers)
    (3, True)
    """
    n = check_int("n", n, minimum=1)
    cons, rna = _letters(motif)
    width, gc = len(cons), sum(c in _GC for c in cons)
    seed = root_seed(rng)
    out: list[str] = []
    for attempt in range(200 * n):
        gen = generator(unit_keys(seed, [attempt], "controls", "kmer")[0])
        is_gc = np.zeros(width, dtype=bool)
        is_gc[gen.permutation(width)[:gc]] = True
        pick = gen.integers(0, 2, width)
        kmer = "".join((_GC if g else _AT)[p] for g, p in zip(is_gc, pick, strict=True))
        near = min(_distance(kmer, cons), _distance(kmer, _revcomp(cons)))
        if near >= min_distance and kmer not in out:
            out.append(kmer)
            if len(out) == n:
                return [k.replace("T", "U") for k in out] if rna else out
    raise OptionError(
        f"found only {len(out)} of {n} k-mers of length {width} with {gc} G/C at least "
        f"{min_distance} mismatches from {cons}; lower n or min_distance"
    )


def scrambled_motifs(motif: str | Motif, n: int, *, rng: RngLike = None) -> list[Motif]:
    """Up to ``n`` distinct composition-preserving scrambles (column permutations) of a motif.

    Scrambles equal to the motif's consensus or its reverse complement are dropped.

    Examples
    --------
    >>> [m.consensus() != "UGCAUG" for m in scrambled_motifs("UGCAUG", 2, rng=0)]
    [True, True]
    """
    n = check_int("n", n, minimum=1)
    m = coerce_motif(motif)
    cons, _ = _letters(m)
    seed, seen, out = root_seed(rng), {cons, _revcomp(cons)}, []
    for attempt in range(50 * n):
        s = m.scramble(rng=int(unit_keys(seed, [attempt], "controls", "scramble")[0]) >> 1)
        key = s.consensus().upper().replace("U", "T")
        if key not in seen:
            seen.add(key)
            out.append(s)
            if len(out) == n:
                break
    return out


def null_kmer_arms(
    motif: str | Motif,
    position: int,
    *,
    n_kmers: int = 20,
    n_scrambles: int = 0,
    min_distance: int = 2,
    experiment: str = "null_kmers",
    rng: RngLike = None,
) -> list[Arm]:
    """Negative-control arms at the motif's position: GC-matched random k-mers and scrambles.

    Their effects form the empirical null of "embed a k-mer that is not the motif here".

    Parameters
    ----------
    motif : str or Motif
        The motif whose width, G+C count and alphabet the controls match.
    position : int
        0-based position of every control (>= 0).
    n_kmers : int, default 20
        Number of random k-mers (>= 1; see :func:`random_kmers`).
    n_scrambles : int, default 0
        Largest number of scrambles (see :func:`scrambled_motifs`); 0 for none.
    min_distance : int, default 2
        Fewest mismatches of a k-mer to the consensus and its reverse complement.
    experiment : str, default "null_kmers"
        Experiment name of the arms.
    rng : int, Generator or None, default None
        Root seed of the k-mers and scrambles.

    Returns
    -------
    list of Arm
        The k-mer arms (``"<kmer>@<position>"``, ``kind="kmer"``), then the scrambles
        (``"<consensus>@<position> (scrambled)"``, ``kind="scramble"``); params ``motif,
        position, kind``.

    Raises
    ------
    OptionError
        On a bad ``position``, ``n_kmers``, ``n_scrambles`` or ``rng``, or when fewer than
        ``n_kmers`` k-mers far enough from the motif are found.

    Examples
    --------
    >>> [a.params["kind"] for a in null_kmer_arms("UGCAUG", 10, n_kmers=2, n_scrambles=1,
    ...                                           rng=0)]
    ['kmer', 'kmer', 'scramble']
    """
    position = check_int("position", position, minimum=0)
    arms = []
    for kmer in random_kmers(motif, n_kmers, min_distance=min_distance, rng=rng):
        arms.append(
            Arm(f"{kmer}@{position}", Substitute(kmer, position), experiment,
                {"motif": kmer, "position": position, "kind": "kmer"})
        )  # fmt: skip
    for s in scrambled_motifs(motif, n_scrambles, rng=rng) if n_scrambles else []:
        label = f"{s.consensus()}@{position} (scrambled)"
        arms.append(
            Arm(label, Substitute(s, position), experiment,
                {"motif": s.consensus(), "position": position, "kind": "scramble"})
        )  # fmt: skip
    return arms


def gc_control_arm(motif: str | Motif, position: int, *, experiment: str = "gc_control") -> Arm:
    """A GC-rich pattern (GCGC...) of the motif's width at the motif's position.

    Examples
    --------
    >>> gc_control_arm("UGCAUG", 35).label
    'GCGCGC@35 (GC, no motif)'
    """
    width = coerce_motif(motif).width
    pattern = ("GC" * width)[:width]
    return Arm(
        f"{pattern}@{position} (GC, no motif)",
        Substitute(pattern, position),
        experiment,
        {"motif": pattern, "position": position},
    )


def placebo_arm(experiment: str = "placebo") -> Arm:
    """The identity intervention (its ICE is exactly 0).

    Examples
    --------
    >>> placebo_arm().label
    'identity'
    """
    return Arm("identity", Identity(), experiment)


# -- checks ---------------------------------------------------------------------------------------


def _select(ace: pd.DataFrame, experiments: Sequence[str], what: str) -> pd.DataFrame:
    missing = [e for e in experiments if e not in set(ace["experiment"])]
    if missing:
        raise OptionError(f"{what}: experiment(s) {missing} are not in the ACE table")
    return ace[ace["experiment"].isin(list(experiments))].reset_index(drop=True)


def _cols(frame: pd.DataFrame, extra: Sequence[str] = ()) -> list[str]:
    base = ["experiment", "label", "output", "ace", "se", "ci_low", "ci_high", "p_value", *extra]
    return [c for c in base if c in frame.columns]


def check_placebo(ice: pd.DataFrame, experiments: Sequence[str]) -> CheckResult:
    """Every ICE of the placebo experiments must be exactly 0.

    Examples
    --------
    >>> ice = pd.DataFrame({"experiment": "placebo", "label": "identity", "ice": [0.0, 0.0]})
    >>> check_placebo(ice, ["placebo"]).passed
    True
    """
    sub = ice[ice["experiment"].isin(list(experiments))]
    if sub.empty:
        raise OptionError(f"placebo: no ICE rows for experiment(s) {list(experiments)}")
    keys = ["experiment", "label", *(["output"] if "output" in sub.columns else [])]
    table = (
        sub.assign(abs_ice=sub["ice"].abs())
        .groupby(keys, sort=False)
        .agg(n=("ice", "size"), max_abs_ice=("abs_ice", "max"), n_nonzero=("ice", np.count_nonzero))
        .reset_index()
    )
    passed = bool((table["n_nonzero"] == 0).all())
    worst = table.loc[table["max_abs_ice"].idxmax()]
    text = (
        f"ICE exactly 0 for all {int(table['n'].sum())} placebo units"
        if passed
        else f"{int(table['n_nonzero'].sum())} placebo units have ICE != 0 (max |ICE| "
        f"{worst['max_abs_ice']:.3g} in {worst['label']!r}): the pipeline changes sequences "
        "it should not"
    )
    return CheckResult("placebo", passed, table, text)


def check_positive(
    ace: pd.DataFrame, experiments: Sequence[str], *, truth: pd.DataFrame | None = None
) -> CheckResult:
    """Positive controls must be detected: their interval excludes 0.

    With a known truth (an oracle) the table also says whether each interval covers it; that
    is reported, not gated (an honest 95% interval misses 1 in 20: coverage is a calibration
    question, see docs/validation.md).

    Examples
    --------
    >>> ace = pd.DataFrame({"experiment": "pos", "label": ["m"], "ace": [1.0], "se": [0.1],
    ...                     "ci_low": [0.8], "ci_high": [1.2], "p_value": [1e-6]})
    >>> check_positive(ace, ["pos"]).passed
    True
    """
    table = _select(ace, experiments, "positive")[_cols(ace)]
    table["detected"] = (table["ci_low"] > 0) | (table["ci_high"] < 0)
    if truth is not None:
        table = table.merge(truth[["experiment", "label", "true_ace"]], how="left")
        table["covered"] = (table["ci_low"] <= table["true_ace"]) & (
            table["true_ace"] <= table["ci_high"]
        )
    passed = bool(table["detected"].all())
    text = f"{int(table['detected'].sum())} of {len(table)} positive controls detected"
    if "covered" in table:
        text += f"; {int(table['covered'].sum())} intervals cover the known effect"
    return CheckResult("positive", passed, table, text)


def check_negative(
    ace: pd.DataFrame, experiments: Sequence[str], *, alpha: float = 0.05, min_effect: float = 0.0
) -> CheckResult:
    """No negative control may exceed ``min_effect`` at FDR ``alpha`` (BH over the family).

    Each control gets ``p_margin = 2 * P(Z > (|ace| - min_effect) / se)`` (the normal test of
    |ACE| <= min_effect; with ``min_effect=0`` the usual two-sided test). A deterministic model
    evaluated on many backgrounds detects tiny real effects of random k-mers (they destroy or
    create weak sites), so set ``min_effect`` to the smallest effect that would matter.

    Examples
    --------
    >>> ace = pd.DataFrame({"experiment": "neg", "label": ["a", "b"], "ace": [0.01, -0.08],
    ...                     "se": 0.02, "ci_low": [-0.03, -0.12], "ci_high": [0.05, -0.04],
    ...                     "p_value": [0.6, 1e-4]})
    >>> check_negative(ace, ["neg"]).passed, check_negative(ace, ["neg"], min_effect=0.1).passed
    (False, True)
    """
    alpha = check_probability("alpha", alpha)
    if not (np.isfinite(min_effect) and min_effect >= 0):
        raise OptionError(f"min_effect must be a non-negative number, got {min_effect!r}")
    table = _select(ace, experiments, "negative")[_cols(ace)]
    excess = np.maximum(table["ace"].abs().to_numpy() - min_effect, 0.0)
    se = table["se"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, excess / se, np.where(excess > 0, np.inf, 0.0))
    table["p_margin"] = 2 * stats.norm.sf(z)
    table["q_family"] = adjust_pvalues(table["p_margin"].to_numpy(), "fdr_bh")
    hits = table[table["q_family"] < alpha]
    passed = hits.empty
    beyond = f"|ACE| > {min_effect:g}" if min_effect else "an effect"
    text = (
        f"none of {len(table)} negative controls shows {beyond} at FDR {alpha:g} "
        f"(max |ACE| {table['ace'].abs().max():.3g})"
        if passed
        else f"{len(hits)} of {len(table)} negative controls show {beyond} at FDR {alpha:g}, "
        f"e.g. {hits['label'].iloc[0]!r} ACE {hits['ace'].iloc[0]:+.3g}: effects of this size "
        "are not specific to the motif"
    )
    return CheckResult("negative", passed, table, text)


def check_gc(
    ace: pd.DataFrame, experiments: Sequence[str], *, positive: Sequence[str] = ()
) -> CheckResult:
    """GC-bias control: passes when the GC-rich pattern without the motif has no detectable
    effect; otherwise reports its size relative to the positive controls.

    Examples
    --------
    >>> ace = pd.DataFrame({"experiment": "gc", "label": ["GCGCGC@35"], "ace": [0.15],
    ...                     "se": 0.01, "ci_low": [0.13], "ci_high": [0.17], "p_value": [1e-9]})
    >>> check_gc(ace, ["gc"]).passed
    False
    """
    table = _select(ace, experiments, "gc")[_cols(ace)]
    table["detected"] = (table["ci_low"] > 0) | (table["ci_high"] < 0)
    scale = np.nan
    if positive:
        scale = float(np.median(np.abs(_select(ace, positive, "positive")["ace"])))
        table["fraction_of_positive"] = table["ace"] / scale
    passed = not bool(table["detected"].any())
    worst = table.loc[table["ace"].abs().idxmax()]
    text = f"GC-rich pattern without the motif: ACE {worst['ace']:+.3g} " + (
        f"[{worst['ci_low']:+.3g}, {worst['ci_high']:+.3g}]"
    )
    if np.isfinite(scale):
        text += f" = {worst['ace'] / scale:.0%} of the median positive-control effect"
    text += (
        "; no detectable GC response"
        if passed
        else "; the model responds to GC content here, so part of a GC-rich motif's effect may "
        "be composition, not the motif"
    )
    return CheckResult("gc", passed, table, text)


def empirical_null(
    ace: pd.DataFrame,
    null: Sequence[str],
    *,
    targets: Sequence[str] = (),
    alpha: float = 0.05,
    power: float = 0.8,
) -> CheckResult:
    """Calibrate p-values against the distribution of negative-control effects.

    The null effects (e.g. GC-matched random k-mers at the motif's position) are pooled with a
    random-effects model (``statsmodels.stats.meta_analysis.combine_effects``, Paule-Mandel):
    null mean ``m0`` (SE ``s0``) and between-control variance ``tau2``. A target effect gets
    ``z = (ace - m0) / sqrt(tau2 + se^2 + s0^2)`` and a two-sided calibrated p-value (q by BH
    within the targets). The minimum detectable effect (MDE, distance from ``m0``) at level
    ``alpha`` and the given ``power`` is ``(z_{1-alpha/2} + z_power) * sqrt(tau2 + se_med^2 +
    s0^2)`` with ``se_med`` the median target SE (the null's own SE when there are no targets).
    ``passed`` is True when the negative controls agree with a null of exactly 0 (homogeneity
    test and ``|m0|/s0`` both at level ``alpha``): then the naive p-values are calibrated too.

    Examples
    --------
    >>> null = pd.DataFrame({"experiment": "null", "label": list("abcdef"),
    ...                      "ace": [0.30, 0.35, 0.25, 0.32, 0.28, 0.31], "se": 0.01})
    >>> res = empirical_null(null, ["null"])
    >>> res.passed, round(res.metadata["null_mean"], 3)
    (False, 0.302)
    """
    alpha, power = check_probability("alpha", alpha), check_probability("power", power)
    nul = _select(ace, null, "empirical null")
    if len(nul) < 3:
        raise EstimationError(
            f"the empirical null needs at least 3 control effects, got {len(nul)}"
        )
    se = nul["se"].to_numpy(dtype=float)
    if np.any(se <= 0):
        raise EstimationError(
            f"null control {nul.loc[int(np.argmax(se <= 0)), 'label']!r} has se = 0"
        )
    res = combine_effects(nul["ace"].to_numpy(dtype=float), se**2, method_re="pm")
    m0, s0, tau2 = float(res.mean_effect_re), float(res.sd_eff_w_re), float(res.tau2)
    het_p = float(res.test_homogeneity().pvalue)
    offset_p = float(2 * stats.norm.sf(abs(m0) / s0))
    tgt = _select(ace, targets, "targets")[_cols(ace)] if targets else pd.DataFrame()
    se_med = float(np.median(tgt["se"] if len(tgt) else se))
    z_a, z_b = stats.norm.ppf(1 - alpha / 2), stats.norm.ppf(power)
    mde = float((z_a + z_b) * np.sqrt(tau2 + se_med**2 + s0**2))
    if len(tgt):
        z = (tgt["ace"] - m0) / np.sqrt(tau2 + tgt["se"] ** 2 + s0**2)
        tgt["z_calibrated"] = z
        tgt["p_calibrated"] = 2 * stats.norm.sf(np.abs(z))
        tgt["q_calibrated"] = adjust_pvalues(tgt["p_calibrated"].to_numpy(), "fdr_bh")
    passed = het_p >= alpha and offset_p >= alpha
    n_sig = int((tgt["q_calibrated"] < alpha).sum()) if len(tgt) else 0
    text = (
        f"null of {len(nul)} controls: mean {m0:+.3g} ± {s0:.2g}, between-control SD "
        f"{np.sqrt(tau2):.3g}; MDE {mde:.3g} (alpha {alpha:g}, power {power:.0%})"
    )
    if len(tgt):
        text += f"; {n_sig} of {len(tgt)} target effects beyond the null at FDR {alpha:g}"
    text += (
        "; controls agree with a null of 0, naive p-values are calibrated"
        if passed
        else "; controls are shifted or spread beyond their SEs: use the calibrated p-values"
    )
    meta = {"null_mean": m0, "null_mean_se": s0, "null_tau2": tau2, "mde": mde,
            "heterogeneity_p": het_p, "offset_p": offset_p, "n_null": len(nul)}  # fmt: skip
    return CheckResult("empirical_null", passed, tgt, text, meta)


# -- randomized weights (Adebayo et al. 2018) ---------------------------------------------------


def _stack_copies(randomized: Any) -> pd.DataFrame:
    if isinstance(randomized, pd.DataFrame):
        if "copy" not in randomized.columns:
            raise OptionError(
                "randomized weights: the randomized ACE table needs a 'copy' column (as from "
                "randomization.randomized_weights_ace), or pass a list of ACE tables, one per copy"
            )
        return randomized
    frames = [r if isinstance(r, pd.DataFrame) else r.to_frame() for r in randomized]
    if not frames:
        raise OptionError("randomized weights: no randomized-weights ACE tables given")
    return pd.concat([f.assign(copy=j) for j, f in enumerate(frames)], ignore_index=True)


def check_randomized_weights(
    trained: pd.DataFrame | Any,
    randomized: pd.DataFrame | Sequence[pd.DataFrame | Any],
    *,
    experiments: Sequence[str] = (),
    max_retained: float = 0.5,
    alpha: float = 0.05,
) -> CheckResult:
    """Is each effect learned, or does it survive randomizing the weights?

    The rule, for each tested effect (experiment, label) with trained ACE ``a`` (SE ``s``,
    interval ``[ci_low, ci_high]`` from the trained table) and, for each randomized copy
    ``j = 1..m``, ACE ``a_j`` (SE ``s_j``), with ``f = max_retained`` and
    ``z = z_{1-alpha}`` (one-sided):

    1. the trained effect must be *detected* (its interval excludes 0); an undetected effect
       gets the verdict ``"not detected"`` and does not decide the check;
    2. copy ``j`` retains the fraction ``r_j = |a_j| / |a|`` of the effect's size (either
       sign: a random network's effects have an arbitrary sign);
    3. copy ``j`` is *clearly below* when the one-sided ``1 - alpha`` lower bound of the margin
       ``D_j = f |a| - |a_j|`` is positive: ``D_j - z sqrt(f^2 s^2 + s_j^2) > 0``, i.e. the copy
       detectably keeps less than ``f`` of the trained effect;
    4. a detected effect is ``"learned"`` when every copy is clearly below, otherwise
       ``"survives randomization"``. The check passes when every detected effect is learned
       (None when no tested effect is detected).

    Steps 3-4 are intersection-union tests (every copy, every effect must pass), so the level
    is ``alpha`` without a multiplicity correction. The two ACEs share backgrounds and are not
    independent; ``sqrt(f^2 s^2 + s_j^2)`` is exact for independent estimates and conservative
    whenever ``sign(a) sign(a_j) cov(a, a_j) >= 0`` (e.g. the copy's ICEs move with the trained
    ICEs and both effects have the same sign).

    Parameters
    ----------
    trained : DataFrame or AceEstimates
        The trained model's ACE table.
    randomized : DataFrame or sequence of DataFrame / AceEstimates
        The copies' ACEs: a table with a ``copy`` column
        (:func:`~causalgia.checks.randomization.randomized_weights_ace`), or
        one ACE table per copy.
    experiments : sequence of str
        Experiments to test; default every experiment the copies ran.
    max_retained : float
        f in [0, 1]: the largest fraction of an effect's size a randomized copy may keep.
    alpha : float
        One-sided level of step 3.

    Returns
    -------
    CheckResult
        ``table``: one row per effect: ``experiment, label, ace, se, ci_low, ci_high,
        n_copies, randomized_mean, randomized_min, randomized_max`` (the copies' ACEs),
        ``retained_max`` (max r_j), ``margin_lower`` (min over copies of the lower bound of
        step 3) and ``verdict``. ``metadata["per_copy"]``: one row per (effect, copy).

    Examples
    --------
    >>> trained = pd.DataFrame({"experiment": "motif", "label": ["m", "gc"], "ace": [2.0, 0.4],
    ...     "se": 0.05, "ci_low": [1.9, 0.3], "ci_high": [2.1, 0.5]})
    >>> copies = [pd.DataFrame({"experiment": "motif", "label": ["m", "gc"],
    ...                         "ace": [0.1 * k, 0.38], "se": 0.05}) for k in (1, -1, 2)]
    >>> res = check_randomized_weights(trained, copies)
    >>> res.passed, res.table["verdict"].tolist()
    (False, ['learned', 'survives randomization'])
    """
    f = check_probability("max_retained", max_retained, open_interval=False)
    alpha = check_probability("alpha", alpha)
    table = trained if isinstance(trained, pd.DataFrame) else trained.to_frame()
    copies = _stack_copies(randomized)
    keys = ["experiment", "label"]
    for name, frame in (("trained", table), ("randomized", copies)):
        absent = [c for c in (*keys, "ace", "se") if c not in frame.columns]
        if absent:
            raise OptionError(f"randomized weights: the {name} ACE table lacks {absent}")
    if experiments:
        tested = _select(table, experiments, "randomized weights")
    else:
        tested = table[table["experiment"].isin(set(copies["experiment"]))]
        if tested.empty:
            raise OptionError(
                "randomized weights: the randomized copies ran none of the trained table's "
                "experiments"
            )
    tested = tested[[c for c in (*keys, "ace", "se", "ci_low", "ci_high") if c in tested]]
    tested = tested.reset_index(drop=True)
    n_copies = int(copies["copy"].nunique())
    per = tested[[*keys, "ace", "se"]].merge(
        copies[["copy", *keys, "ace", "se"]], on=keys, how="left", suffixes=("", "_randomized")
    )
    have = per.dropna(subset=["copy"]).groupby(keys, sort=False)["copy"].nunique()
    for row in tested.itertuples(index=False):
        got = int(have.get((row.experiment, row.label), 0))
        if got < n_copies:
            raise OptionError(
                f"randomized weights: arm {row.label!r} of experiment {row.experiment!r} has "
                f"ACEs from {got} of the {n_copies} randomized copies"
            )
    size = per["ace"].abs().to_numpy(dtype=float)
    rand = per["ace_randomized"].abs().to_numpy(dtype=float)
    se_margin = np.sqrt((f * per["se"]) ** 2 + per["se_randomized"] ** 2).to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        per["retained"] = rand / size
    per["margin_lower"] = f * size - rand - stats.norm.ppf(1 - alpha) * se_margin
    per["clearly_below"] = per["margin_lower"] > 0
    grouped = per.groupby(keys, sort=False)
    agg = grouped.agg(
        n_copies=("copy", "nunique"),
        randomized_mean=("ace_randomized", "mean"),
        randomized_min=("ace_randomized", "min"),
        randomized_max=("ace_randomized", "max"),
        retained_max=("retained", "max"),
        margin_lower=("margin_lower", "min"),
        all_below=("clearly_below", "all"),
    ).reset_index()
    out = tested.merge(agg, on=keys, how="left")
    if {"ci_low", "ci_high"} <= set(out.columns):
        detected = (out["ci_low"] > 0) | (out["ci_high"] < 0)
    else:  # no interval given: a normal interval at the two-sided 1 - alpha level
        half = stats.norm.ppf(1 - alpha / 2) * out["se"]
        detected = (out["ace"] - half > 0) | (out["ace"] + half < 0)
    out["verdict"] = np.where(
        ~detected, "not detected",
        np.where(out["all_below"], "learned", "survives randomization"),
    )  # fmt: skip
    out = out.drop(columns="all_below")
    n_detected = int(detected.sum())
    survivors = out[out["verdict"] == "survives randomization"]
    modes = sorted(set(copies["mode"])) if "mode" in copies.columns else []
    how = f"{n_copies} {'/'.join(modes) + ' ' if modes else ''}randomized-weights copies"
    undetected = len(out) - n_detected
    aside = f"; {undetected} of {len(out)} tested effects not detected" if undetected else ""
    if n_detected == 0:
        passed: bool | None = None
        text = f"none of {len(out)} tested effects is detected: nothing to attribute ({how})"
    elif survivors.empty:
        passed = True
        text = (
            f"{n_detected} of {n_detected} detected effects are learned: each of {how} keeps "
            f"detectably < {f:.0%} of the effect (at most "
            f"{out.loc[detected, 'retained_max'].max():.0%}){aside}"
        )
    else:
        passed = False
        worst = survivors.loc[survivors["retained_max"].idxmax()]
        text = (
            f"{len(survivors)} of {n_detected} detected effects survive weight randomization "
            f"({how}), e.g. {worst['label']!r}: trained ACE {worst['ace']:+.3g}, randomized "
            f"{worst['randomized_mean']:+.3g} (range {worst['randomized_min']:+.3g} to "
            f"{worst['randomized_max']:+.3g}, up to {worst['retained_max']:.0%} kept): it comes "
            "from the architecture, the input encoding or the intervention, not from training"
            + aside
        )
    meta = {"max_retained": f, "alpha": alpha, "n_copies": n_copies, "modes": modes,
            "per_copy": per}  # fmt: skip
    return CheckResult("randomized_weights", passed, out, text, meta)


# -- all together ---------------------------------------------------------------------------------


def evaluate_controls(
    ace: pd.DataFrame | Any,
    *,
    ice: pd.DataFrame | None = None,
    truth: pd.DataFrame | None = None,
    positive: Sequence[str] = (),
    negative: Sequence[str] = (),
    placebo: Sequence[str] = (),
    gc: Sequence[str] = (),
    null: Sequence[str] = (),
    calibrate: Sequence[str] = (),
    sensitivity: CheckResult | None = None,
    randomized: pd.DataFrame | Sequence[pd.DataFrame | Any] | None = None,
    randomized_experiments: Sequence[str] = (),
    max_retained: float = 0.5,
    alpha: float = 0.05,
    power: float = 0.8,
    min_effect: float = 0.0,
) -> ControlReport:
    """Run every control whose experiments are named, in a fixed order.

    Parameters
    ----------
    ace : DataFrame or AceEstimates
        The study's ACE table.
    ice : DataFrame, optional
        The ICE table (needed for the placebo check).
    truth : DataFrame, optional
        Known effects (``experiment, label, true_ace``) of an oracle, for positive controls.
    positive, negative, placebo, gc : sequence of str
        Experiment names holding each kind of control.
    null : sequence of str
        Experiments whose effects form the empirical null (e.g. :func:`null_kmer_arms`).
    calibrate : sequence of str
        Experiments that get null-calibrated p-values.
    sensitivity : CheckResult, optional
        A :func:`background_sensitivity` result to include.
    randomized : DataFrame or sequence of DataFrame, optional
        ACEs of randomized-weights copies of the model on the same design
        (:func:`causalgia.checks.randomization.randomized_weights_ace`): runs
        :func:`check_randomized_weights`.
    randomized_experiments : sequence of str
        Experiments the randomized-weights check tests (default: all the copies ran).
    max_retained : float
        Largest fraction of an effect's size a randomized copy may keep
        (:func:`check_randomized_weights`).
    alpha, power : float
        Error rate of the checks, and the power of the minimum detectable effect.
    min_effect : float
        Negative controls pass while no |ACE| detectably exceeds this (see
        :func:`check_negative`).

    Returns
    -------
    ControlReport
        For an ACE table with an ``output`` column (a model with several declared outputs),
        every check runs on each output's rows of ``ace`` and ``ice`` (and ``truth`` when it
        has an ``output`` column): one :class:`CheckResult` per check × output, grouped by
        check, its ``output`` set. ``sensitivity`` is included once; ``randomized`` is
        refused (not supported per output yet).

    Examples
    --------
    >>> ace = pd.DataFrame({"experiment": ["pos", "neg"], "label": ["m", "s"],
    ...                     "ace": [1.0, 0.01], "se": [0.1, 0.02], "ci_low": [0.8, -0.03],
    ...                     "ci_high": [1.2, 0.05], "p_value": [1e-6, 0.6]})
    >>> evaluate_controls(ace, positive=["pos"], negative=["neg"]).passed
    True
    """
    table = ace if isinstance(ace, pd.DataFrame) else ace.to_frame()
    if "output" in table.columns:  # a model with several outputs: every check per output
        if randomized is not None:
            raise OptionError(
                "randomized weights: not supported yet for an ACE table of several model "
                "outputs (an output column)"
            )
        return _per_output(
            table, ice=ice, truth=truth, positive=positive, negative=negative,
            placebo=placebo, gc=gc, null=null, calibrate=calibrate, sensitivity=sensitivity,
            alpha=alpha, power=power, min_effect=min_effect,
        )  # fmt: skip
    results = []
    if positive:
        results.append(check_positive(table, positive, truth=truth))
    if negative:
        results.append(check_negative(table, negative, alpha=alpha, min_effect=min_effect))
    if placebo:
        if ice is None:
            raise OptionError("placebo controls need the ICE table: pass ice=")
        results.append(check_placebo(ice, placebo))
    if gc:
        results.append(check_gc(table, gc, positive=positive))
    if null:
        results.append(empirical_null(table, null, targets=calibrate, alpha=alpha, power=power))
    if randomized is not None:
        results.append(
            check_randomized_weights(
                table, randomized, experiments=randomized_experiments,
                max_retained=max_retained, alpha=alpha,
            )
        )  # fmt: skip
    if sensitivity is not None:
        results.append(sensitivity)
    if not results:
        raise OptionError("evaluate_controls: name at least one control experiment")
    return ControlReport(tuple(results))


def _per_output(
    table: pd.DataFrame,
    *,
    ice: pd.DataFrame | None,
    truth: pd.DataFrame | None,
    sensitivity: CheckResult | None,
    **checks: Any,
) -> ControlReport:
    """:func:`evaluate_controls` of each model output's rows: one result per check × output,
    grouped by check (in the order run), the outputs in the order of the table."""

    def rows(frame: pd.DataFrame | None, name: Any) -> pd.DataFrame | None:
        if frame is None or "output" not in frame.columns:
            return frame
        return frame[frame["output"] == name].reset_index(drop=True)

    runs = []
    for name, sub in table.groupby("output", sort=False):
        report = evaluate_controls(
            sub.drop(columns="output").reset_index(drop=True), ice=rows(ice, name),
            truth=rows(truth, name), **checks,
        )  # fmt: skip
        runs.append([replace(r, output=str(name)) for r in report])
    order = [r.check_name for r in runs[0]]
    results = [r for check in order for run in runs for r in run if r.check_name == check]
    return ControlReport((*results, *([sensitivity] if sensitivity is not None else [])))
