"""A whole study from a spec: model, background, arms → simulate → estimate → run directory.

This is what ``causalgia run SPEC.toml`` and ``causalgia demo`` do; Python users can call
:func:`run_study` with a :class:`~causalgia.studies.spec.StudySpec` or compose the verbs themselves
(see examples/).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from .._rng import root_seed
from ..engine.models import Model
from ..engine.progress import Progress
from ..engine.salvage import salvage_ledger
from ..engine.simulator import SimulationResult, simulate
from ..engine.store import RunStore, versions
from ..errors import ConfigError, OptionError, StoreError
from ..experiment import backgrounds as bgs
from ..experiment.designs import Arm, Design, design
from ..reporting.report import RunDirectory, write_report
from ..sequences.motifs import Motif
from ..testing import AdditiveOracle, reference_ace
from .build import (
    build_arms,
    build_background,
    build_model,
    check_inputs,
    design_output,
)
from .lifecycle import begin_outputs, claim_directory, finish_outputs, open_for_run
from .resumption import plan_resume, spec_record
from .spec import StudySpec
from .spec_checks import dask_workers
from .units import UnitTable, streams

_SILENT = Progress(False)
INTERVAL_COVERS = "Monte-Carlo sampling of backgrounds and motif instances (deterministic model)"


@dataclass(frozen=True)
class StudyOutcome:
    """What a study produced: the run directory, the effect table and the raw simulation."""

    run: RunDirectory
    ace: pd.DataFrame
    result: SimulationResult
    manifest: Mapping[str, Any]
    controls: Any = None  # controls.ControlReport when the spec has [controls]
    pooled: Any = None  # hierarchical.HierarchicalFit when the spec has [pooling]

    def summary(self) -> str:
        """One line per effect: estimate, interval and (when known) the truth and coverage.

        Returns
        -------
        str
            The effect lines, then summaries of the controls and pooled fit when present.
        """
        lines = []
        has_truth = "true_ace" in self.ace
        level = f"{self.manifest['ci']:.0%}"
        outputs = "output" in self.ace.columns  # a model with several outputs
        for row in self.ace.itertuples(index=False):
            label = f"{row.label} [{row.output}]" if outputs else row.label
            line = (
                f"{row.experiment:>16}  {label:<32} ACE {row.ace:+.4f}  "
                f"{level} CI [{row.ci_low:+.4f}, {row.ci_high:+.4f}]"
            )
            if has_truth:
                inside = row.ci_low <= row.true_ace <= row.ci_high
                line += f"  true {row.true_ace:+.4f}  {'inside' if inside else 'OUTSIDE'}"
            lines.append(line)
        if has_truth:
            k = int(
                (
                    (self.ace.ci_low <= self.ace.true_ace) & (self.ace.true_ace <= self.ace.ci_high)
                ).sum()
            )
            lines.append(
                f"{k} of {len(self.ace)} known effects inside their {level} interval "
                f"(an honest {level} interval misses about {_misses(self.manifest['ci'])})"
            )
        if self.controls is not None:
            lines += ["", "controls:", self.controls.summary()]
        if self.pooled is not None:
            d = self.pooled.diagnostics
            lines += [
                "",
                f"pooled (hierarchical) estimates of {len(self.pooled.table)} conditions: max "
                f"R-hat {d.max_r_hat:.3f}, min bulk ESS {d.min_ess_bulk:.0f}, divergences "
                f"{d.divergences} ({'ok' if d.passed else 'FAILED'}); posterior.nc, pooled.csv",
            ]
        return "\n".join(lines)


def _truth(
    spec: StudySpec,
    model: Model,
    background: bgs.Background,
    arms: list[Arm],
    shown: Progress,
) -> pd.DataFrame | None:
    if not spec.study.truth:
        return None
    if model.outputs is not None:  # parse_spec refuses it too; a hand-built spec gets here
        raise ConfigError(
            "study.truth = true computes the true ACEs of one output functional; the model "
            f"declares {len(model.outputs)} outputs (model.outputs)"
        )
    oracle = model.fn
    if isinstance(oracle, AdditiveOracle) and hasattr(background, "composition"):
        values = [oracle.true_ace(arm.intervention, background) for arm in arms]
        return pd.DataFrame(
            {
                "experiment": [a.experiment for a in arms],
                "label": [a.label for a in arms],
                "true_ace": values,
                "mc_se": 0.0,
            }
        )
    with shown.phase(f"reference truth ({spec.study.truth_n:,} backgrounds x {len(arms)} arms)"):
        return reference_ace(
            oracle, background, arms, n=spec.study.truth_n, progress=shown.progress
        )


def _misses(ci: float) -> str:
    """How often an honest interval at level ``ci`` misses, in words ("1 in 20")."""
    miss = 1.0 - float(ci)
    return f"1 in {1 / miss:.0f}" if abs(1 / miss - round(1 / miss)) < 0.05 else f"{miss:.0%}"


def _truth_description(spec: StudySpec, truth: pd.DataFrame | None) -> str | None:
    """How the known effects were computed, with their own Monte-Carlo error."""
    if truth is None:
        return None
    if not truth["mc_se"].any():
        return "closed form of the additive oracle (exact)"
    return (
        f"a separate paired run of the oracle on {spec.study.truth_n:,} backgrounds; Monte-Carlo "
        f"SE of the true ACEs up to {truth['mc_se'].max():.2g} (median "
        f"{truth['mc_se'].median():.2g})"
    )


def run_study(
    spec: StudySpec,
    out_dir: str | Path,
    *,
    progress: bool | None = None,
    figures: bool = True,
    resume: bool = False,
    overwrite: bool = False,
) -> StudyOutcome:
    """Run a validated spec end to end and write its run directory.

    Every completed chunk is committed to the run directory's ledger (``ledger.sqlite``) as the
    run proceeds. ``resume=True`` (``causalgia resume DIR``) keeps the chunks an interrupted run
    of the same spec completed and evaluates only the rest. Otherwise the directory must not
    hold another run (finished, interrupted, or only its outputs) unless ``overwrite=True``,
    which starts the ledger afresh. ``[study] dask`` runs the chunks on a Dask cluster (an
    address, or ``"local:N"`` for N local worker processes).

    The run directory is locked (``ledger.lock``) from the first check to the last file
    written, so a second run into it is refused; the earlier outputs are deleted before the
    simulation starts, every file is written atomically, and the ledger records the run id of
    ``manifest.json`` as complete only once every output is written (see
    :mod:`causalgia.studies.lifecycle`).

    Parameters
    ----------
    spec : StudySpec
        The parsed study.
    out_dir : str or Path
        The run directory (created when missing).
    progress : bool, optional
        True: a progress bar; False: silence; None (default): a bar on a terminal, else log
        lines.
    figures : bool, default True
        Draw the report's figures (needs matplotlib).
    resume : bool, default False
        Keep the chunks an interrupted run of the same spec completed.
    overwrite : bool, default False
        Start afresh in a directory that holds another run.

    Returns
    -------
    StudyOutcome
        The run directory, effect table and simulation.

    Examples
    --------
    >>> from causalgia.studies.spec import parse_spec
    >>> spec = parse_spec({"study": {"n": 20, "seed": 1}, "model": {"builtin": "rbp_oracle"},
    ...                    "background": {"kind": "iid", "length": 41},
    ...                    "experiment": [{"type": "identity"}]})
    >>> import tempfile
    >>> out = run_study(spec, tempfile.mkdtemp(), figures=False)
    >>> float(out.ace["ace"].iloc[0])
    0.0
    """
    with open_for_run(out_dir, overwrite=overwrite and not resume) as ledger:
        if not resume:
            claim_directory(ledger, overwrite=overwrite)
        return _run_locked(spec, ledger, progress=progress, figures=figures)


def _run_locked(
    spec: StudySpec,
    ledger: RunStore,
    *,
    progress: bool | None,
    figures: bool,
    provenance: Mapping[str, Any] | None = None,
) -> StudyOutcome:
    """:func:`run_study` in a locked run directory; ``provenance`` (corrections, salvage) goes
    into the manifest, and corrections let the recorded spec be replaced."""
    st = spec.study
    out_dir = ledger.path
    recorded = ledger.get("spec")
    corrected = bool(provenance and "corrections" in provenance)
    if recorded is not None and recorded["spec_hash"] != spec.spec_hash and not corrected:
        raise StoreError(
            f"run directory {ledger.path} holds a run of another spec (hash "
            f"{recorded['spec_hash']}, this one {spec.spec_hash}); use a new directory"
        )
    seed = root_seed(st.seed) if recorded is None else int(recorded["seed"])
    model = build_model(spec)
    background = build_background(spec, model.alphabet.name)
    arms = build_arms(spec, seed)
    check_inputs(spec, model.alphabet.name)  # files read after the simulation, read now
    d = design(background, arms, n=st.n, kind=st.design, rng=seed)
    record = spec_record(spec, ledger.path, seed)
    if recorded is None:
        ledger.set("spec", record)
    run_id = begin_outputs(ledger)
    shown = Progress(progress)
    shown.say(f"{st.name}: {d.n:,} backgrounds x {len(arms)} arms into {ledger.path}")
    streamed = streams(d, model.outputs)  # several outputs: in memory
    with _dask_client(st.dask) as client:
        result = simulate(
            model,
            d,
            batch_size=st.batch_size,
            chunk_size=st.chunk_size,
            progress=progress,
            store=ledger,
            cache=None if st.cache is None else spec.resolve(st.cache),
            client=client,
            retries=st.retries,
            on_nonfinite=st.on_nonfinite,
            timeout=st.timeout,
            collect=not streamed,
        )
    units = UnitTable(result, ledger, streamed=streamed)
    if recorded is not None and recorded != record:  # corrected, or found in another folder
        ledger.record("spec", record, "spec", f"spec recorded again (hash {spec.spec_hash})")
    method = st.method
    assert method is not None  # parse_spec fills in the design's default
    ace = units.estimate(method=method, ci=st.ci, rng=seed).to_frame()
    truth = _truth(spec, model, background, arms, shown)
    with shown.phase("controls") if spec.controls is not None else nullcontext():
        controls = _controls(
            spec, model, background, arms, ace, units, truth, seed,
            study_design=d, method=method, batch_size=result.batch_size,
        )  # fmt: skip
    pooled = None
    if spec.pooling is not None:  # only the pooled experiments' rows are read
        pooled = _pooling(spec, units.of(spec.pooling.experiments), seed, shown)
    manifest = {
        "study": st.name,
        "run_id": run_id,
        "created": datetime.now(UTC).isoformat(),
        "versions": versions(),
        "seed": seed,
        "spec_hash": spec.spec_hash,
        "model": model.name,
        "output": repr(model.output if model.outputs is None else model.outputs),
        **_outputs_manifest(model),
        "layout": model.layout,
        "model_fingerprint": result.model_fingerprint,
        "background": background.describe(),
        "n_backgrounds": d.n,
        "design_kind": d.kind,
        "n_arms": len(arms),
        "n_forward": result.n_forward,
        "n_cached": result.n_cached,
        "batch_size": result.batch_size,
        "ledger": "ledger.sqlite",
        "on_nonfinite": st.on_nonfinite,
        "nonfinite_dropped": 0 if result.nonfinite is None else len(result.nonfinite),
        **({} if result.units is None else {"nonfinite_by_arm": result.dropped_summary()}),
        "method": method,
        "ci": st.ci,
        "interval_covers": INTERVAL_COVERS,
        "truth": _truth_description(spec, truth),
        **(provenance or {}),
    }
    if pooled is not None:
        manifest["pooling"] = _pooling_manifest(pooled)
    with shown.phase("report (tables, figures, report.md, report.html)"):
        run = write_report(
            out_dir,
            ace=ace,
            ice=units.for_report(),
            manifest=manifest,
            title=st.name,
            truth=truth,
            **design_output(d, st.design_table),
            figures=figures,
            controls=None if controls is None else controls.to_frame(),
            pooled=None if pooled is None else pooled.to_frame(),
            control_tables=None if controls is None else controls.tables(),
            attachments=None if pooled is None else {"posterior.nc": pooled.save},
            motifs=_arm_motifs(arms),
        )
    finish_outputs(ledger, run_id)
    if truth is not None:
        ace = ace.merge(
            truth[["experiment", "label", "true_ace"]], on=["experiment", "label"], how="left"
        )
    return StudyOutcome(run, ace, result, manifest, controls, pooled)


def _arm_motifs(arms: list[Arm]) -> list[Motif]:
    """The matrices the arms insert (a motif screen's), once each, for the report's logos."""
    found: dict[str, Motif] = {}
    for arm in arms:
        motif = getattr(arm.intervention, "motif", None)
        if isinstance(motif, Motif):
            found.setdefault(motif.name, motif)
    return list(found.values())


def _outputs_manifest(model: Model) -> dict[str, Any]:
    """``outputs`` (the names) and ``output_functionals`` (name: repr) of a model with several
    declared outputs; nothing for one output functional (its manifest stays as it was)."""
    if model.outputs is None:
        return {}
    pairs = zip(model.outputs.names, model.outputs.functionals, strict=True)
    return {
        "outputs": list(model.outputs.names),
        "output_functionals": {name: repr(f) for name, f in pairs},
    }


def _controls(
    spec: StudySpec,
    model: Model,
    background: bgs.Background,
    arms: list[Arm],
    ace: pd.DataFrame,
    units: UnitTable,
    truth: pd.DataFrame | None,
    seed: int,
    *,
    study_design: Design,
    method: str,
    batch_size: int | None,
) -> Any:
    """The controls named in ``[controls]`` (a ControlReport), or None.

    ``randomized_weights = m`` runs the study's design on m copies of the model with randomized
    weights (seeds from the study seed), estimates their ACEs with the same method and compares
    them with the trained model's (:func:`~causalgia.checks.controls.check_randomized_weights`).
    """
    c = spec.controls
    if c is None:
        return None
    from ..checks.controls import evaluate_controls
    from ..checks.sensitivity import background_sensitivity

    randomized = None
    if c.randomized_weights is not None:
        from ..checks.randomization import framework_of, randomized_weights_ace

        try:
            framework_of(model)
        except OptionError as err:
            raise ConfigError(f"controls.randomized_weights: {err}") from None
        randomized = randomized_weights_ace(
            model, study_design, copies=c.randomized_weights,
            mode=c.randomized_weights_mode, experiments=c.randomized_weights_experiments,
            method=method, ci=spec.study.ci, batch_size=batch_size,
            on_nonfinite=spec.study.on_nonfinite, rng=seed,
        )  # fmt: skip

    sensitivity = None
    if c.sensitivity_backgrounds:
        wanted = c.sensitivity_experiments or [e.name for e in spec.experiments]
        populations = {"study background": background}
        for b in c.sensitivity_backgrounds:
            populations[b.label()] = build_background(spec, model.alphabet.name, b)
        chosen = [a for a in arms if a.experiment in wanted]
        sensitivity = background_sensitivity(model, chosen, populations, n=spec.study.n, rng=seed)
    return evaluate_controls(
        ace, ice=units.of(c.placebo) if c.placebo else None, truth=truth, positive=c.positive,
        negative=c.negative, placebo=c.placebo,
        gc=c.gc, null=c.null, calibrate=c.calibrate, sensitivity=sensitivity,
        randomized=randomized, randomized_experiments=c.randomized_weights_experiments,
        max_retained=c.randomized_weights_max_retained, alpha=c.alpha, power=c.power,
        min_effect=c.min_effect,
    )  # fmt: skip


def _pooling(spec: StudySpec, ice: pd.DataFrame, seed: int, shown: Progress = _SILENT) -> Any:
    """A hierarchical fit of the experiments named in ``[pooling]`` (HierarchicalFit), or None."""
    p = spec.pooling
    if p is None:
        return None
    from ..pooling.hierarchical import fit_hierarchical

    sub = ice[ice["experiment"].isin(p.experiments)].dropna(axis=1, how="all")
    what = f"pooled fit of {', '.join(p.experiments)} ({p.chains} chains x {p.draws} draws)"
    with shown.phase(what):
        return fit_hierarchical(
            sub, curve=p.curve, curve_prior=p.curve_prior, periodic=p.periodic, groups=p.groups,
            effects=p.effects, draws=p.draws, tune=p.tune, chains=p.chains,
            target_accept=p.target_accept, random_seed=seed, hdi_prob=p.hdi_prob,
            min_effect=p.min_effect, diagnostics=p.diagnostics,
            progressbar=shown.mode == "bar",
        )  # fmt: skip


def _pooling_manifest(fit: Any) -> dict[str, Any]:
    st, d = fit.settings, fit.diagnostics
    if st["curve"] and st["tau"] == 0:
        shape = (
            f"a random-walk curve over {st['curve']} ({st['curve_parameterization']}; one "
            f"condition per {st['curve']} value, so the curve is the condition effect)"
        )
    else:
        shape = f"{st['effects']} condition effects ({st['parameterization']})" + (
            f" around a random-walk curve over {st['curve']}" if st["curve"] else ""
        )
    text = (
        f"Partially pooled effects of {', '.join(sorted(set(fit.table['experiment'])))}: "
        f"{shape}, fitted to the per-condition mean ICE and its SE ({st['chains']} chains x "
        f"{st['draws']} draws after {st['tune']} tuning steps). HDI = highest-density "
        f"interval. Diagnostics: max "
        f"R-hat {d.max_r_hat:.3f}, min bulk ESS {d.min_ess_bulk:.0f}, min tail ESS "
        f"{d.min_ess_tail:.0f}, {d.divergences} divergences "
        f"({'all thresholds met' if d.passed else 'FAILED: ' + '; '.join(d.failures())}). "
        "Draws: posterior.nc."
    )
    return {"description": text, "hdi_prob": st["hdi_prob"], "min_effect": st["min_effect"],
            "max_r_hat": d.max_r_hat, "min_ess_bulk": d.min_ess_bulk,
            "divergences": d.divergences, "parameterization": st["parameterization"]}  # fmt: skip


@contextmanager
def _dask_client(address: str | None) -> Iterator[Any]:
    """A Dask client for ``[study] dask``: a scheduler address, or ``"local:N"`` (N processes)."""
    if address is None:
        yield None
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ConfigError(
            "study.dask needs dask.distributed: python -m pip install 'causalgia[dask]'"
        ) from None
    workers = dask_workers(address)
    if workers is not None:
        with (
            LocalCluster(
                n_workers=workers, threads_per_worker=1, dashboard_address=None
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client
        return
    try:
        client = Client(address, timeout="30s")
    except OSError as err:
        raise ConfigError(f"study.dask = {address!r}: cannot reach the scheduler: {err}") from None
    with client:
        yield client


def resume_study(
    run_dir: str | Path,
    *,
    progress: bool | None = None,
    figures: bool = True,
    ci: float | None = None,
    method: str | None = None,
    title: str | None = None,
    spec: StudySpec | str | Path | None = None,
    salvage: bool = False,
    trust: bool = False,
    log: Callable[[str], None] | None = None,
) -> StudyOutcome:
    """Finish or redo a ``causalgia run``: evaluate only the chunks its ledger lacks.

    The spec, its folder and the seed are read from the run directory's ledger; the model,
    background and design are rebuilt and checked against the recorded fingerprints. Options
    that change no forward pass may be corrected (``ci``, ``method``, ``title``, or a corrected
    ``spec``; see :mod:`causalgia.studies.resumption`): every chunk in the ledger is reused. A
    correction of the design or the model raises :class:`~causalgia.errors.ConfigError`.

    Parameters
    ----------
    run_dir : str or Path
        A run directory written by ``causalgia run`` (it may have been moved or copied).
    progress, figures : bool
        As for :func:`run_study`.
    ci, method, title : optional
        Corrected ``[study] ci``, ``method`` and ``name`` (the report's title).
    spec : StudySpec, str or Path, optional
        A corrected spec (or its file) instead of the recorded one; its folder resolves its
        relative paths. If it names other code (``model.callable`` / ``factory``) than the
        ledger, the resume is refused unless ``trust``.
    salvage : bool
        First copy the chunks of a damaged ledger that still verify into a fresh ledger
        (:func:`~causalgia.engine.salvage_ledger`).
    trust : bool
        Accept a ``spec`` whose code differs from the ledger's.
    log : callable, optional
        Receives what the resume does: the code it imports, what salvage kept and dropped.

    Returns
    -------
    StudyOutcome
        The run directory, effect table and simulation.

    Examples
    --------
    >>> from causalgia.studies.spec import parse_spec
    >>> spec = parse_spec({"study": {"n": 20, "seed": 1}, "model": {"builtin": "rbp_oracle"},
    ...                    "background": {"kind": "iid", "length": 41},
    ...                    "experiment": [{"type": "identity"}]})
    >>> import tempfile
    >>> run_dir = tempfile.mkdtemp()
    >>> first = run_study(spec, run_dir, figures=False)
    >>> resume_study(run_dir, figures=False).ace.equals(first.ace)
    True
    >>> resume_study(run_dir, figures=False, ci=0.9).manifest["corrections"]
    {'study.ci': [None, 0.9]}
    """
    run_dir = Path(run_dir)
    say = log if log is not None else (lambda message: None)
    provenance: dict[str, Any] = {}
    if salvage:
        report = salvage_ledger(run_dir)
        say(report.summary())
        provenance["salvaged"] = {"kept": len(report.kept), "dropped": len(report.dropped)}
    with RunStore(run_dir, readonly=True) as ledger:
        recorded = ledger.get("spec")
    if recorded is None:
        raise StoreError(
            f"run directory {run_dir} was not started by `causalgia run`; resume a Python run "
            "by calling simulate(..., store=RUN_DIR) again"
        )
    plan = plan_resume(run_dir, recorded, spec=spec, ci=ci, method=method, title=title, trust=trust)
    for line in plan.code:
        say(line)
    if plan.changes:
        provenance["corrections"] = plan.corrections()
    with RunStore(run_dir) as ledger:
        return _run_locked(
            plan.spec, ledger, progress=progress, figures=figures, provenance=provenance
        )
