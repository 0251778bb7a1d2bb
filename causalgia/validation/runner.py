"""Calibration studies on oracles with known truth, rendered as docs/validation.md.

``causalgia validate`` (or :func:`validate`) runs simulated GIA studies on the oracle models
of :mod:`causalgia.testing`, whose true ACEs are known in closed form, and checks that the
intervals and tests mean what they say:

1. coverage of nominal 95% intervals — paired t, BCa bootstrap, cluster-robust (several
   positions per background) and the sequential confidence sequence — for n ∈ {10, 30, 100,
   300} backgrounds and homogeneous, heterogeneous and heavy-tailed ICE distributions, each
   with its Monte-Carlo SE (MCSE);
2. interval width relative to the oracle (known-variance) width 2·z·σ/√n;
3. type-I error at α = 0.05 of a negative control (shuffle ablation) and a placebo
   (resampling a window from P_B), with p-value uniformity checked by a Kolmogorov–Smirnov
   test and the simultaneous 95% DKW band of the p-values' ECDF (with a figure);
4. power of the paired t test against analytic t power (``statsmodels.stats.power``);
5. realised FDR of Benjamini–Hochberg over mixed null / non-null panels;
6. forward passes of paired vs unpaired designs for the same interval width;
7. sequential stopping: coverage at the stopping time and forward passes saved;
8. rejection rates of the contrast tests on the planted and the null RBP oracle;
9. the hierarchical model's SBC section, when :mod:`causalgia.pooling.hierarchical` provides one;
10. partial pooling: RMSE of raw vs pooled per-condition effects on a noisy oracle (figure).

The studies live in private modules, one concept each, and are re-exported here:
:mod:`~causalgia.validation.regimes` (oracle regimes, keyed ICE blocks),
:mod:`~causalgia.validation.intervals` (studies 1–6), :mod:`~causalgia.validation.sequential`
(7), :mod:`~causalgia.validation.contrasts` (8), :mod:`~causalgia.validation.pooling` (10),
:mod:`~causalgia.validation.figures` and :mod:`~causalgia.validation.report` (rendering).

Every study is a function of its own derived seed. Raw results are a JSON document whose
SHA-256 (of its canonical serialisation) is printed in the report; :func:`render_markdown`
renders the report from the raw results alone (and the figures are drawn from them too), so
docs/validation.md is never hand-edited.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._rng import unit_keys
from ..engine.store import versions
from .contrasts import contrast_arms, contrast_study
from .intervals import (
    CONTROLS,
    NULL_ORACLE,
    coverage_study,
    dkw_epsilon,
    fdr_study,
    paired_unpaired_study,
    power_study,
    pvalue_uniformity,
    type_one_study,
)
from .pooling import bump, pooling_regime, pooling_study
from .regimes import PWM, Z95, Regime, ice_blocks, reference_sd, regimes
from .report import render_markdown
from .sequential import mixed_panel, sequential_study

__all__ = [
    "CONTROLS",
    "NULL_ORACLE",
    "PWM",
    "Z95",
    "Regime",
    "ValidationConfig",
    "ValidationReport",
    "bump",
    "contrast_arms",
    "contrast_study",
    "coverage_study",
    "dkw_epsilon",
    "fdr_study",
    "ice_blocks",
    "mixed_panel",
    "paired_unpaired_study",
    "pooling_regime",
    "pooling_study",
    "power_study",
    "pvalue_uniformity",
    "reference_sd",
    "regimes",
    "render_markdown",
    "results_hash",
    "run_validation",
    "sequential_study",
    "type_one_study",
    "validate",
]


@dataclass(frozen=True)
class ValidationConfig:
    """Replicate counts of every study. ``quick`` finishes in a few minutes on 2 cores.

    ``pooling_reps`` replicate studies of the partial-pooling section, each fitted twice with
    ``pooling_chains`` × ``pooling_draws`` NUTS draws after ``pooling_tune`` tuning steps
    (0 replicates skips the section).

    Examples
    --------
    >>> ValidationConfig.quick().reps, ValidationConfig.full().reps
    (200, 4000)
    """

    reps: int
    ns: tuple[int, ...] = (10, 30, 100, 300)
    n_boot: int = 1999
    n_perm: int = 1999
    power_reps: int = 4000
    fdr_reps: int = 1000
    seq_reps: int = 1000
    contrast_reps: int = 200
    pair_reps: int = 1000
    reference_n: int = 100_000
    seed: int = 20_250_301
    mode: str = "full"
    sbc: bool = True
    pooling_reps: int = 16
    pooling_draws: int = 1000
    pooling_tune: int = 1000
    pooling_chains: int = 2

    @classmethod
    def full(cls) -> ValidationConfig:
        """The published configuration: R = 4,000 coverage and type-I replicates.

        Returns
        -------
        ValidationConfig
        """
        return cls(reps=4000)

    @classmethod
    def quick(cls) -> ValidationConfig:
        """A few minutes: R = 200 and fewer replicates elsewhere.

        Returns
        -------
        ValidationConfig
            With ``mode="quick"``.
        """
        return cls(
            reps=200,
            n_boot=999,
            n_perm=999,
            power_reps=400,
            fdr_reps=100,
            seq_reps=100,
            contrast_reps=20,
            pair_reps=100,
            reference_n=20_000,
            pooling_reps=4,
            pooling_draws=250,
            pooling_tune=250,
            mode="quick",
        )


def _seed(config: ValidationConfig, *path: str | int) -> int:
    return int(unit_keys(config.seed, [0], "validation", *map(str, path))[0] >> np.uint64(1))


# --- driver ---------------------------------------------------------------------------------


def run_validation(
    config: ValidationConfig | None = None,
    *,
    log: Callable[[str], None] | None = None,
    checkpoint: str | Path | None = None,
) -> dict[str, Any]:
    """Run every study and return the raw results (JSON-safe).

    With ``checkpoint``, the results so far are written there after every study, and a run
    with the same configuration picks up the studies already done (each study depends only on
    its own seed, so the results are those of an uninterrupted run).

    Parameters
    ----------
    config : ValidationConfig, optional
        Replicate counts and seed (default: :meth:`ValidationConfig.quick`).
    log : callable, optional
        Receives one progress message per study.
    checkpoint : str or Path, optional
        JSON file of the results so far, read on start and rewritten after every study.

    Returns
    -------
    dict
        The raw results: ``config``, ``versions``, ``runtime_s`` and one entry per study.

    Examples
    --------
    >>> cfg = ValidationConfig(reps=3, ns=(10,), power_reps=3, fdr_reps=2, seq_reps=1,
    ...                        contrast_reps=1, pair_reps=1, reference_n=500, mode="test")
    >>> raw = run_validation(cfg)  # doctest: +SKIP
    """
    config = ValidationConfig.quick() if config is None else config
    say = log or (lambda msg: None)
    raw: dict[str, Any] = {"config": _jsonable(asdict(config)), "versions": versions()}
    path = None if checkpoint is None else Path(checkpoint)
    if path is not None and path.is_file():
        saved = json.loads(path.read_text())
        same = {k: v for k, v in saved.get("config", {}).items() if k != "sbc"}
        if same == {k: v for k, v in raw["config"].items() if k != "sbc"}:
            keep = (
                ("config", "versions")
                if config.sbc == saved["config"].get("sbc")
                else ("config", "versions", "sbc")
            )
            raw.update({k: v for k, v in saved.items() if k not in keep})
            say(f"resuming from {path}: {', '.join(k for k in saved if k in _STEPS)} done")
    elapsed = float(raw.get("runtime_s", 0.0))
    for key in _STEPS:
        if key in raw:
            continue
        start = time.perf_counter()
        raw[key] = _STEPS[key](config, raw, say)
        elapsed += time.perf_counter() - start
        raw["runtime_s"] = round(elapsed, 1)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(raw, sort_keys=True))
    return raw


def _sds(raw: dict[str, Any]) -> dict[str, np.ndarray]:
    return {r["regime"]: np.asarray(r["sd_ice"], dtype=float) for r in raw["regimes"]}


def _step_regimes(config: ValidationConfig, raw: dict[str, Any], say: Any) -> list[Any]:
    say("reference runs")
    out = []
    for name, r in regimes().items():
        sd = reference_sd(r, config.reference_n, _seed(config, "reference", name))
        out.append(
            {
                "regime": name,
                "description": r.description,
                "true_ace": r.truth().tolist(),
                "sd_ice": sd.tolist(),
            }
        )
    return out


def _step_coverage(config: ValidationConfig, raw: dict[str, Any], say: Any) -> list[Any]:
    sds, rows = _sds(raw), []
    for name, regime in regimes().items():
        for n in config.ns:
            say(f"coverage: {name}, n = {n}, R = {config.reps}")
            seed = _seed(config, "coverage", name, n)
            rows += coverage_study(
                regime, n, config.reps, seed=seed, n_boot=config.n_boot, sd_true=sds[name]
            )
    return rows


def _step_type_one(config: ValidationConfig, raw: dict[str, Any], say: Any) -> list[Any]:
    rows = []
    for control in CONTROLS:
        for n in config.ns:
            say(f"type-I: {control}, n = {n}")
            seed = _seed(config, "null", control, n)
            rows += type_one_study(control, n, config.reps, seed=seed, n_perm=config.n_perm)
    return rows


def _step_sequential(config: ValidationConfig, raw: dict[str, Any], say: Any) -> list[Any]:
    """Both rules on the three regimes and the mixed panel: the two-stage rule at ``reps``
    replicates, the (slower, conservative) confidence sequence at ``seq_reps``."""
    sds = _sds(raw)
    panel = mixed_panel()
    sds["mixed_panel"] = reference_sd(
        panel, config.reference_n, _seed(config, "reference", "panel")
    )
    studies = [*regimes().values(), panel]
    rows = []
    for rule, reps in (("two_stage", config.reps), ("mixture", config.seq_reps)):
        for r in studies:
            say(f"sequential: {rule}, {r.name}")
            seed = _seed(config, "seq", rule, r.name)
            rows.append(sequential_study(r, reps, seed=seed, sd_true=sds[r.name], rule=rule))
    return rows


def _step_power(config: ValidationConfig, raw: dict[str, Any], say: Any) -> list[Any]:
    say("power")
    effects = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0)
    return power_study(30, config.power_reps, seed=_seed(config, "power"), effects_se=effects)


def _step_fdr(config: ValidationConfig, raw: dict[str, Any], say: Any) -> list[Any]:
    say("FDR")
    return fdr_study(config.fdr_reps, seed=_seed(config, "fdr"))


def _step_pair(config: ValidationConfig, raw: dict[str, Any], say: Any) -> list[Any]:
    say("paired vs unpaired")
    return paired_unpaired_study(config.pair_reps, seed=_seed(config, "pair"))


def _step_contrasts(config: ValidationConfig, raw: dict[str, Any], say: Any) -> list[Any]:
    say("contrasts")
    return contrast_study(config.contrast_reps, seed=_seed(config, "contrast"))


def _step_sbc(config: ValidationConfig, raw: dict[str, Any], say: Any) -> dict[str, Any]:
    return _sbc(config, say)


def _step_pooling(config: ValidationConfig, raw: dict[str, Any], say: Any) -> dict[str, Any]:
    if config.pooling_reps < 1:
        return {"available": False, "note": "skipped (ValidationConfig.pooling_reps is 0)"}
    say(f"partial pooling, R = {config.pooling_reps}")
    try:
        return _jsonable(
            pooling_study(
                config.pooling_reps,
                seed=_seed(config, "pooling"),
                draws=config.pooling_draws,
                tune=config.pooling_tune,
                chains=config.pooling_chains,
            )
        )
    except Exception as err:  # a broken hierarchical module must not lose the other studies
        return {"available": False, "note": f"pooling_study raised {type(err).__name__}: {err}"}


_STEPS: dict[str, Callable[[ValidationConfig, dict[str, Any], Any], Any]] = {
    "regimes": _step_regimes,
    "coverage": _step_coverage,
    "type_one": _step_type_one,
    "power": _step_power,
    "fdr": _step_fdr,
    "paired_unpaired": _step_pair,
    "sequential": _step_sequential,
    "contrasts": _step_contrasts,
    "sbc": _step_sbc,
    "pooling": _step_pooling,
}


def _sbc(config: ValidationConfig, say: Callable[[str], None]) -> dict[str, Any]:
    if not config.sbc:
        return {"available": False, "note": "skipped (ValidationConfig.sbc is False)"}
    try:
        sbc = importlib.import_module("causalgia.pooling.sbc")
    except ImportError:
        return {"available": False, "note": "causalgia.pooling.sbc is not available"}
    section = getattr(sbc, "sbc_section", None)
    if section is None:
        return {"available": False, "note": "causalgia.pooling.sbc has no sbc_section"}
    say("hierarchical SBC")
    try:
        markdown, data = section(config.mode != "full")
    except Exception as err:  # an unfinished section must not lose the other studies
        return {"available": False, "note": f"sbc_section raised {type(err).__name__}: {err}"}
    return {"available": True, "markdown": str(markdown), "raw": _jsonable(data)}


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=lambda v: np.asarray(v).tolist()))


def results_hash(raw: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON serialisation of the raw results.

    Parameters
    ----------
    raw : dict
        The raw results (:func:`run_validation`).

    Returns
    -------
    str
        64 hex digits.

    Examples
    --------
    >>> len(results_hash({"a": 1}))
    64
    """
    text = json.dumps(raw, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class ValidationReport:
    """Paths written by :func:`validate`, the raw results and their hash.

    ``figures`` maps each PNG's link in the report (relative to it) to its path; it is empty
    when matplotlib is not installed (the report then says so).
    """

    markdown: Path
    raw_path: Path
    sha256: str
    raw: dict[str, Any]
    figures: dict[str, Path] = field(default_factory=dict)

    def summary(self) -> str:
        """Where the report went and how long it took.

        Returns
        -------
        str
            One line: the files written, the hash prefix, the figure count and the runtime.
        """
        figures = f", {len(self.figures)} figures" if self.figures else ""
        return (
            f"wrote {self.markdown} and {self.raw_path} (sha256 {self.sha256[:16]}…){figures} "
            f"in {self.raw.get('runtime_s', 0):.0f} s"
        )


def validate(
    *,
    quick: bool = False,
    out: str | Path = "docs/validation.md",
    raw_path: str | Path | None = None,
    config: ValidationConfig | None = None,
    from_raw: str | Path | None = None,
    log: Callable[[str], None] | None = None,
) -> ValidationReport:
    """Run (or re-render from ``from_raw``) the validation studies and write the report.

    Writes the raw results as JSON (``raw_path``, default ``out`` with suffix ``.json``) and
    the Markdown report that quotes the raw results' SHA-256. While running, finished studies
    are kept in ``<raw_path stem>.partial.json``; an interrupted run started again with the
    same configuration resumes from there (the file is removed on success). Figures are drawn
    from the raw results into the folder ``out`` without its suffix (docs/validation.md:
    docs/validation/*.png) and linked from the report; without matplotlib the report is
    written without them and says so.

    Parameters
    ----------
    quick : bool, default False
        Use :meth:`ValidationConfig.quick` instead of :meth:`ValidationConfig.full`
        (ignored when ``config`` is given).
    out : str or Path, default "docs/validation.md"
        The Markdown report.
    raw_path : str or Path, optional
        The raw results' JSON file (default: ``out`` with suffix ``.json``).
    config : ValidationConfig, optional
        Replicate counts and seed, instead of ``quick``'s choice.
    from_raw : str or Path, optional
        Raw results to re-render instead of running the studies.
    log : callable, optional
        Receives one progress message per study.

    Returns
    -------
    ValidationReport
        The paths written, the raw results and their hash.

    Examples
    --------
    >>> validate(quick=True, out="/tmp/validation.md")  # doctest: +SKIP
    """
    out = Path(out)
    raw_file = Path(raw_path) if raw_path is not None else out.with_suffix(".json")
    if from_raw is not None:
        raw = json.loads(Path(from_raw).read_text())
    else:
        cfg = config or (ValidationConfig.quick() if quick else ValidationConfig.full())
        partial = raw_file.with_suffix(".partial.json")
        raw = run_validation(cfg, log=log, checkpoint=partial)
    raw = json.loads(json.dumps(raw, sort_keys=True))  # render exactly what is stored
    digest = results_hash(raw)
    out.parent.mkdir(parents=True, exist_ok=True)
    raw_file.parent.mkdir(parents=True, exist_ok=True)
    raw_file.write_text(json.dumps(raw, sort_keys=True, indent=1) + "\n")
    figures, note = _figures(raw, out)
    links = {name: f"{out.stem}/{name}" for name in figures}
    out.write_text(
        render_markdown(raw, digest, raw_name=raw_file.name, figures=links, figure_note=note)
    )
    if from_raw is None:
        raw_file.with_suffix(".partial.json").unlink(missing_ok=True)
    return ValidationReport(out, raw_file, digest, raw, {links[k]: v for k, v in figures.items()})


def _figures(raw: dict[str, Any], out: Path) -> tuple[dict[str, Path], str | None]:
    """Figures drawn next to ``out`` (name to path), or none and the reason."""
    try:
        from .figures import write_figures

        return write_figures(raw, out.parent / out.stem), None
    except ImportError as err:
        return {}, f"matplotlib is not installed ({err}); `pip install causalgia[plot]` draws them"


def print_to_stderr(msg: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)
