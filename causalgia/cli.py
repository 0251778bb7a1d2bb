"""The ``causalgia`` command line: ``demo``, ``run SPEC.toml``, ``resume DIR``, ``report DIR``
and ``export SPEC.toml`` (the designed library as FASTA + CSV).

Exit codes: 0 success, 2 bad input (a :class:`~causalgia.errors.CausalgiaError`, printed as
one line), 1 anything unexpected.

``run`` refuses a directory that holds another run unless ``--overwrite``; ``demo`` replaces an
earlier demo run in its directory by itself (anything else there needs ``--overwrite``).
``resume`` prints the code it imports, and may correct non-design options (``--ci``,
``--method``, ``--title``, ``--spec``) or first salvage a damaged ledger (``--salvage``).
``report`` refuses tables that fail their manifest checksum unless ``--force``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .errors import CausalgiaError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="causalgia",
        description="Causal global importance analysis of genomic neural networks.",
    )
    parser.add_argument("--version", action="version", version=f"causalgia {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the built-in study on an oracle with known effects")
    demo.add_argument("--out", default="causalgia-demo", help="run directory to write")
    demo.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    demo.add_argument(
        "--overwrite", action="store_true",
        help="replace any run in --out (an earlier demo run is replaced without it)",
    )  # fmt: skip
    run = sub.add_parser("run", help="run a study described in a TOML spec")
    run.add_argument("spec", help="path to SPEC.toml")
    run.add_argument("--out", help="run directory (default: runs/<spec name>)")
    run.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    run.add_argument(
        "--overwrite", action="store_true", help="replace a run already in the directory"
    )
    resume = sub.add_parser(
        "resume", help="finish an interrupted run: evaluate only the chunks its ledger lacks"
    )
    resume.add_argument("run_dir", help="a run directory written by run (holds ledger.sqlite)")
    resume.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    resume.add_argument("--ci", type=float, help="corrected interval level (reuses every pass)")
    resume.add_argument("--method", help="corrected ACE estimator (reuses every forward pass)")
    resume.add_argument("--title", help="corrected title of the report ([study] name)")
    resume.add_argument(
        "--spec", help="a corrected SPEC.toml (only non-design keys may differ; its folder "
        "resolves relative paths)",
    )  # fmt: skip
    resume.add_argument(
        "--salvage", action="store_true",
        help="first copy the chunks of a damaged ledger that still verify into a fresh one",
    )  # fmt: skip
    resume.add_argument(
        "--trust", action="store_true",
        help="accept a --spec that names other code (model.callable/factory) than the ledger",
    )  # fmt: skip
    report = sub.add_parser("report", help="re-render report.md and figures of a run directory")
    report.add_argument("run_dir", help="a run directory written by demo or run")
    report.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    report.add_argument(
        "--force", action="store_true",
        help="render even if tables fail their manifest checksums (flagged in the report)",
    )  # fmt: skip
    export = sub.add_parser(
        "export", help="write a spec's designed library (library.fa + library.csv) for synthesis"
    )
    export.add_argument("spec", help="path to SPEC.toml")
    export.add_argument("--out", help="folder to write (default: libraries/<spec name>)")
    validate = sub.add_parser(
        "validate", help="calibration studies on oracles -> docs/validation.md (generated)"
    )
    validate.add_argument("--quick", action="store_true", help="R = 200: a few minutes")
    validate.add_argument("--out", default="docs/validation.md", help="Markdown report to write")
    validate.add_argument("--reps", type=int, help="override R (coverage and type-I replicates)")
    validate.add_argument("--from-raw", help="re-render the report from a raw results JSON")
    validate.add_argument(
        "--no-sbc", action="store_true", help="skip the hierarchical model's SBC section"
    )
    for sub_parser in (demo, run, resume):
        sub_parser.add_argument(
            "-q", "--quiet", action="store_true",
            help="no progress bars or phase lines (results and errors are still printed)",
        )  # fmt: skip
    return parser


def _say(message: str) -> None:
    print(f"causalgia: {message}", file=sys.stderr)


def _run(
    spec_path: str | Path | None,
    out: str | Path,
    figures: bool,
    *,
    overwrite: bool = False,
    resume: argparse.Namespace | None = None,
    quiet: bool = False,
) -> int:
    from .studies.runner import resume_study, run_study
    from .studies.spec import load_spec

    start = time.perf_counter()
    progress = False if quiet else None  # None: bars on a terminal, log lines otherwise
    if resume is not None:
        outcome = resume_study(
            out, progress=progress, figures=figures, ci=resume.ci, method=resume.method,
            title=resume.title, spec=resume.spec, salvage=resume.salvage, trust=resume.trust,
            log=_say,
        )  # fmt: skip
    else:
        assert spec_path is not None
        outcome = run_study(
            load_spec(spec_path), out, progress=progress, figures=figures, overwrite=overwrite
        )
    print(outcome.summary())
    print(
        f"\n{outcome.result.n_forward:,} forward passes in {time.perf_counter() - start:.1f} s;"
        f" run directory: {outcome.run.path} (open {outcome.run.path / 'report.md'})"
    )
    return 0


def _validate(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from .validation.runner import ValidationConfig, print_to_stderr, validate

    config = ValidationConfig.quick() if args.quick else ValidationConfig.full()
    if args.reps is not None:
        config = replace(config, reps=args.reps)
    if args.no_sbc:
        config = replace(config, sbc=False)
    if args.from_raw is None:
        print(f"causalgia validate: mode {config.mode}, R = {config.reps:,}", file=sys.stderr)
    report = validate(out=args.out, config=config, from_raw=args.from_raw, log=print_to_stderr)
    print(report.summary())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``causalgia`` console script.

    Examples
    --------
    >>> main(["--version"])  # doctest: +SKIP
    causalgia 0.1.0
    """
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            from .studies.lifecycle import recorded_spec_hash
            from .studies.spec import DEMO_SPEC, load_spec

            print(
                "causalgia demo: a GIA study of an RNA-binding oracle whose true effects are "
                "known (positions, counts, spacing, GC control, scrambled motif, placebo)\n"
            )
            overwrite = args.overwrite or (
                recorded_spec_hash(args.out) == load_spec(DEMO_SPEC).spec_hash
            )
            return _run(
                DEMO_SPEC, args.out, not args.no_figures, overwrite=overwrite, quiet=args.quiet
            )
        if args.command == "run":
            out = args.out or Path("runs") / Path(args.spec).stem
            return _run(
                args.spec, out, not args.no_figures, overwrite=args.overwrite, quiet=args.quiet
            )
        if args.command == "resume":
            return _run(None, args.run_dir, not args.no_figures, resume=args, quiet=args.quiet)
        if args.command == "validate":
            return _validate(args)
        if args.command == "export":
            from .lab.export import export_library
            from .studies.build import design_from_spec

            lib = export_library(
                design_from_spec(args.spec),
                args.out or Path("libraries") / Path(args.spec).stem,
            )
            print(lib.summary())
            return 0
        from .studies.lifecycle import report_run

        run = report_run(args.run_dir, figures=not args.no_figures, force=args.force)
        print(f"re-rendered {run.path / 'report.md'}")
        return 0
    except CausalgiaError as err:
        print(f"causalgia: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:  # Ctrl-C: completed chunks are in the ledger
        notes = [n for n in getattr(err, "__notes__", []) if n.startswith("causalgia: ")]
        where = notes[0].removeprefix("causalgia: ") if notes else "completed chunks are kept"
        print(f"causalgia: interrupted: {where}", file=sys.stderr)
        return 130
