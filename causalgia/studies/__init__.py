"""Studies: the TOML spec, parsed once into typed sections, and the study runner."""

from __future__ import annotations

from .build import build_arms, build_background, build_model, design_from_spec
from .lifecycle import report_run
from .resumption import ResumePlan, plan_resume
from .runner import StudyOutcome, resume_study, run_study
from .sections import (
    BackgroundSection,
    ControlsSection,
    ExperimentSpec,
    ModelSection,
    PoolingSection,
    StudySection,
)
from .spec import DEMO_SPEC, StudySpec, load_spec, parse_spec

__all__ = [
    "DEMO_SPEC",
    "BackgroundSection",
    "ControlsSection",
    "ExperimentSpec",
    "ModelSection",
    "PoolingSection",
    "ResumePlan",
    "StudyOutcome",
    "StudySection",
    "StudySpec",
    "build_arms",
    "build_background",
    "build_model",
    "design_from_spec",
    "load_spec",
    "parse_spec",
    "plan_resume",
    "report_run",
    "resume_study",
    "run_study",
]
