"""Lab effects of an exported library, paired contrasts, and probe groups by motif context.

- :func:`lab_effects` estimates lab effects of an exported library (:mod:`causalgia.lab.export`)
  for the same contrasts with the same estimators as the in-silico ACEs.
- :func:`ice_contrast` is a paired contrast of arms on an ICE table.
- :func:`probe_contexts` folds probes (ViennaRNA) and classifies where a motif sits;
  :func:`compare_groups` contrasts two groups of measurements (Welch interval + Mann-Whitney).

The names that lived here before the lab stage was split stay importable from this module:
measurements (:mod:`.measurements`), concordance (:mod:`.agreement`), selection enrichment
(:mod:`.enrichment`), composition-controlled concordance (:mod:`.composition`) and the PyMC
calibration (:func:`~causalgia.pooling.labcalibration.calibrate`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from .._options import check_option
from .._rng import RngLike
from ..errors import EstimationError, OptionError
from ..pooling import Calibration, calibrate
from ..stats import (
    AceEstimates,
    Method,
    estimate_ace,
    html_block,
    html_table,
    paired_t,
    repr_lines,
    welch,
)
from .agreement import Concordance, concordance, deming_fit
from .measurements import Joined, MeasurementError, Measurements, join, read_measurements

__all__ = [
    "Calibration",
    "Concordance",
    "Joined",
    "LabEffects",
    "MeasurementError",
    "Measurements",
    "calibrate",
    "compare_groups",
    "concordance",
    "deming_fit",
    "ice_contrast",
    "join",
    "lab_effects",
    "probe_contexts",
    "read_measurements",
]

Missing = Literal["error", "drop"]


@dataclass(frozen=True)
class LabEffects:
    """Lab effects of an exported library, estimated like the in-silico ACEs.

    ``ace`` is the :class:`~causalgia.stats.estimators.AceEstimates` of the lab table; ``table`` the
    paired (``y_control, y_do, ice``) or randomized (``y``) lab table; ``unmeasured`` the
    construct ids left out (no measurement, or — paired libraries — no measured control for its
    background; only with ``missing="drop"``); ``unknown`` the measured ids not in the library.
    """

    ace: AceEstimates
    table: pd.DataFrame
    unmeasured: tuple[str, ...]
    unknown: tuple[str, ...] = field(default=())

    def to_frame(self) -> pd.DataFrame:
        """The effect table.

        Returns
        -------
        pandas.DataFrame
            A copy of the lab ACE table (``ace.table``), one row per (experiment, label).
        """
        return self.ace.to_frame()

    def summary(self) -> str:
        """The effects plus what could not be matched.

        Returns
        -------
        str
            The effects' :meth:`~causalgia.stats.estimators.AceEstimates.summary`, then the
            numbers of unmeasured constructs and unknown measured ids, when there are any.
        """
        lines = [self.ace.summary()]
        if self.unmeasured:
            lines.append(f"  {len(self.unmeasured)} library constructs had no measurement")
        if self.unknown:
            lines.append(f"  {len(self.unknown)} measured ids are not in the library")
        return "\n".join(lines)

    def __repr__(self) -> str:
        head, *rest = repr(self.ace).splitlines()
        head = head.replace("AceEstimates", "LabEffects", 1)
        unmatched = (
            f"  {len(self.unmeasured)} library constructs unmeasured, "
            f"{len(self.unknown)} measured ids not in the library"
        )
        return repr_lines(head, *rest, unmatched)

    def _repr_html_(self) -> str:
        return html_block(repr(self), html_table(self.ace.table, bar="ace"))


def lab_effects(
    measured: Measurements,
    library: pd.DataFrame | str | Path,
    *,
    method: Method | None = None,
    ci: float = 0.95,
    missing: Missing = "error",
    rng: RngLike = None,
) -> LabEffects:
    """Estimate lab effects of an exported library for the same contrasts as in silico.

    ``library`` is the table written by :func:`causalgia.lab.export.export_library` (or its CSV).
    Replicates are averaged per construct. A paired library (every background measured as control
    and under each arm) gives a paired ICE table estimated with ``method`` (default
    ``"paired_t"``); a randomized library gives an outcome table (default ``"welch"``).

    Parameters
    ----------
    measured : Measurements
        Measurements keyed by ``construct_id`` (:func:`read_measurements`).
    library : pandas.DataFrame, str or pathlib.Path
        The library table, or the path of its CSV: ``construct_id, experiment, label,
        background_id, arm`` and the design parameters.
    method : str, optional
        The estimator of :func:`~causalgia.stats.estimators.estimate_ace`; None (default)
        uses ``"paired_t"`` for a paired library and ``"welch"`` for a randomized one.
    ci : float, default 0.95
        Confidence level of the intervals.
    missing : {"error", "drop"}, default "error"
        What a library construct without a measurement does: raise, or leave it out (and,
        in a paired library, the constructs whose control it was).
    rng : int, numpy.random.Generator or None
        Seed of the resampling estimators (bootstrap, permutation).

    Returns
    -------
    LabEffects
        The lab ACEs, the lab ICE or outcome table, and the construct ids left unmeasured or
        not in the library.

    Examples
    --------
    >>> lib = pd.DataFrame({"construct_id": ["c0", "c1", "c2", "c3", "c4", "c5"],
    ...     "experiment": ["control"] * 3 + ["e"] * 3, "label": ["control"] * 3 + ["a"] * 3,
    ...     "background_id": [0, 1, 2] * 2, "arm": ["control"] * 3 + ["do"] * 3})
    >>> m = Measurements(pd.DataFrame({"construct_id": lib["construct_id"],
    ...     "value": [0.0, 1.0, 2.0, 1.0, 3.0, 3.0], "replicate": 0}), "construct_id", "-")
    >>> float(lab_effects(m, lib).to_frame()["ace"].iloc[0])
    1.3333333333333333
    """
    check_option("missing", missing, ("error", "drop"))
    if measured.key != "construct_id":
        raise OptionError("lab_effects needs measurements keyed by construct_id")
    lib = pd.read_csv(library) if isinstance(library, str | Path) else library.copy()
    need = ["construct_id", "experiment", "label", "background_id", "arm"]
    absent = [c for c in need if c not in lib.columns]
    if absent:
        raise OptionError(f"the library table lacks column(s) {absent}")
    lib["construct_id"] = lib["construct_id"].astype(str)
    per = measured.per_construct()[["construct_id", "value"]]
    merged = lib.merge(per, on="construct_id", how="left")
    no_value = merged["value"].isna().to_numpy()
    unmeasured = tuple(merged.loc[no_value, "construct_id"])
    unknown = tuple(sorted(set(per["construct_id"]) - set(lib["construct_id"])))
    if unmeasured and missing == "error":
        raise EstimationError(
            f"{len(unmeasured)} library construct(s) have no measurement, e.g. "
            f"{list(unmeasured[:3])}; pass missing='drop' to estimate from the rest"
        )
    params = [c for c in lib.columns if c not in (*need, "unit_seed", "design_seed", "sequence")]
    paired = _is_paired(lib[lib["arm"] == "control"], lib[lib["arm"] == "do"])
    merged = merged[~no_value]
    controls = merged[merged["arm"] == "control"]
    does = merged[merged["arm"] == "do"]
    if paired:
        has_control = does["background_id"].isin(controls["background_id"]).to_numpy()
        unmeasured += tuple(does.loc[~has_control, "construct_id"])  # control missing
        does = does[has_control]
        y0 = controls.set_index("background_id")["value"]
        table = does[["experiment", "label", *params, "background_id"]].copy()
        table["y_control"] = y0.loc[does["background_id"]].to_numpy()
        table["y_do"] = does["value"].to_numpy()
        table["ice"] = table["y_do"] - table["y_control"]
        method = method or "paired_t"
    else:
        table = merged[["experiment", "label", *params, "background_id"]].copy()
        table["y"] = merged["value"].to_numpy()
        method = method or "welch"
    table = table.reset_index(drop=True)
    ace = estimate_ace(table, method=method, ci=ci, rng=rng)
    return LabEffects(ace, table, unmeasured, unknown)


def _is_paired(controls: pd.DataFrame, does: pd.DataFrame) -> bool:
    """A paired library has one control per background and a control for every do construct's
    background; a randomized library has each background once."""
    if not len(does) or controls["background_id"].duplicated().any():
        return False
    return bool(does["background_id"].isin(controls["background_id"]).all())


def ice_contrast(
    table: pd.DataFrame,
    weights: Mapping[str, float],
    *,
    experiment: str | None = None,
    ci: float = 0.95,
    name: str | None = None,
) -> pd.DataFrame:
    """A paired contrast of arms, sum_a w_a·ICE_a(x) per background, with a paired t interval.

    Every background carries all the named arms (a paired ICE table), so the contrast is
    estimated on one value per background (:func:`causalgia.stats.estimators.paired_t`). Use it for
    additivity (``{"x2": 1, "x1": -2}``: ACE(2) - 2·ACE(1)) or context (``{"loop": 1,
    "unstructured": -1}``) tests.

    Parameters
    ----------
    table : pandas.DataFrame
        A paired ICE table (``label, background_id, ice``; ``experiment`` when selecting).
    weights : mapping of str to float
        The weight of each arm's ICE, by label; every background must carry every label.
    experiment : str, optional
        Use only the rows of this experiment (default: all rows).
    ci : float, default 0.95
        Confidence level of the paired t interval.
    name : str, optional
        The contrast's name; None (default) writes it from the weights (e.g. ``"a - b"``).

    Returns
    -------
    pandas.DataFrame
        One row: ``contrast, estimate, se, ci_low, ci_high, n, p_value``.

    Examples
    --------
    >>> t = pd.DataFrame({"experiment": "e", "label": ["a"] * 3 + ["b"] * 3,
    ...                   "background_id": [0, 1, 2] * 2, "ice": [2.0, 3.0, 4.0, 1.0, 1.0, 2.0]})
    >>> ice_contrast(t, {"a": 1, "b": -1})[["contrast", "estimate", "n"]].values.tolist()
    [['a - b', 1.6666666666666667, 3]]
    """
    for col in ("label", "background_id", "ice"):
        if col not in table.columns:
            raise OptionError(f"ice_contrast needs a paired ICE table with column {col!r}")
    sub = table if experiment is None else table[table["experiment"] == experiment]
    wide = sub[sub["label"].isin(list(weights))].pivot_table(
        index="background_id", columns="label", values="ice", aggfunc="first"
    )
    missing = [lab for lab in weights if lab not in wide.columns]
    if missing:
        raise OptionError(f"labels {missing} are not in the ICE table")
    if wide.isna().any().any():
        raise EstimationError("some backgrounds lack one of the contrasted arms (not paired)")
    values = sum(float(w) * wide[lab].to_numpy(dtype=float) for lab, w in weights.items())
    est = paired_t(np.asarray(values), ci)
    terms = [
        f"{'- ' if w < 0 else '+ '}{'' if abs(w) == 1 else f'{abs(w):g}*'}{lab}"
        for lab, w in weights.items()
    ]
    label = name or " ".join(terms).removeprefix("+ ")
    return pd.DataFrame(
        [
            {
                "contrast": label,
                "estimate": est["ace"],
                "se": est["se"],
                "ci_low": est["ci_low"],
                "ci_high": est["ci_high"],
                "n": est["n"],
                "p_value": est["p_value"],
            }
        ]
    )


def probe_contexts(
    sequences: Sequence[str],
    motif: str,
    *,
    exactly_one: bool = True,
) -> pd.DataFrame:
    """Fold probes with ViennaRNA and classify where ``motif`` sits in each MFE structure.

    Only probes holding the motif (exactly once when ``exactly_one``) are folded. Returns
    ``index`` (position in ``sequences``), ``sequence``, ``motif_start``, ``structure``, ``mfe``
    and ``context`` (see :func:`causalgia.experiment.hairpin.motif_context`).

    Parameters
    ----------
    sequences : sequence of str
        The probe sequences (DNA or RNA letters, any case).
    motif : str
        The motif to locate (T is read as U).
    exactly_one : bool, default True
        Skip probes holding the motif more than once (otherwise its first occurrence is used).

    Returns
    -------
    pandas.DataFrame
        One row per folded probe: ``index, sequence`` (upper-case RNA), ``motif_start``,
        ``structure`` (dot-bracket MFE structure), ``mfe`` and ``context``.

    Examples
    --------
    >>> probe_contexts(["GGGCGCUGGAAGCGCCC", "AAAA"], "GCUGG")["context"].tolist()  # doctest: +SKIP
    ['hairpin_loop']
    """
    from ..experiment.hairpin import fold, motif_context

    mot = motif.upper().replace("T", "U")
    keep, starts = [], []
    for i, s in enumerate(sequences):
        s = s.upper().replace("T", "U")
        first = s.find(mot)
        if first < 0:
            continue
        if exactly_one and s.find(mot, first + 1) >= 0:
            continue
        keep.append(i)
        starts.append(first)
    seqs = [sequences[i].upper().replace("T", "U") for i in keep]
    structures, mfe = fold(seqs)
    contexts = [motif_context(st, a, len(mot)) for st, a in zip(structures, starts, strict=True)]
    return pd.DataFrame(
        {
            "index": keep,
            "sequence": seqs,
            "motif_start": starts,
            "structure": structures,
            "mfe": mfe,
            "context": contexts,
        }
    )


def compare_groups(
    values: np.ndarray,
    groups: Sequence[str],
    *,
    a: str,
    b: str,
    ci: float = 0.95,
) -> pd.DataFrame:
    """Difference in mean ``values`` between groups ``a`` and ``b`` (a - b), with a Welch
    interval (:func:`causalgia.stats.estimators.welch`) and a two-sided Mann-Whitney p-value.

    Parameters
    ----------
    values : numpy.ndarray
        One value per item (e.g. a measurement per probe).
    groups : sequence of str
        The group of each item, same length as ``values``.
    a, b : str
        The two groups compared (at least 2 values each); other groups are ignored.
    ci : float, default 0.95
        Confidence level of the Welch interval.

    Returns
    -------
    pandas.DataFrame
        One row: ``a, b, n_a, n_b, mean_a, mean_b, difference, ci_low, ci_high, p_welch,
        p_mannwhitney``.

    Examples
    --------
    >>> r = compare_groups(np.array([3.0, 4.0, 5.0, 0.0, 1.0, 2.0]), list("aaabbb"), a="a", b="b")
    >>> float(r["difference"].iloc[0]), int(r["n_a"].iloc[0])
    (3.0, 3)
    """
    v = np.asarray(values, dtype=float)
    g = np.asarray(groups)
    va, vb = v[g == a], v[g == b]
    if va.size < 2 or vb.size < 2:
        raise EstimationError(f"groups {a!r} ({va.size}) and {b!r} ({vb.size}) need 2+ values each")
    w = welch(va, vb, ci)
    mw = stats.mannwhitneyu(va, vb, alternative="two-sided")
    return pd.DataFrame(
        [
            {
                "a": a,
                "b": b,
                "n_a": va.size,
                "n_b": vb.size,
                "mean_a": float(va.mean()),
                "mean_b": float(vb.mean()),
                "difference": w["ace"],
                "ci_low": w["ci_low"],
                "ci_high": w["ci_high"],
                "p_welch": w["p_value"],
                "p_mannwhitney": float(mw.pvalue),
            }
        ]
    )
