"""The wet lab: measurements, lab effects from libraries and from selection reads, concordance
(raw and controlled for composition), calibration, library export."""

from __future__ import annotations

from .agreement import Concordance, concordance, deming_fit
from .compare import LabEffects, compare_groups, ice_contrast, lab_effects, probe_contexts
from .composition import composition, gc_count, partial_spearman, stratified_spearman, top_k_overlap
from .controlled import ControlledConcordance, controlled_concordance
from .enrichment import Enrichment, kmer_names, read_codes, selection_enrichment
from .export import export_library, library_table
from .measurements import (
    Joined,
    MeasurementError,
    Measurements,
    join,
    missing_column_message,
    normalize_sequences,
    read_measurements,
)

__all__ = [
    "Concordance",
    "ControlledConcordance",
    "Enrichment",
    "Joined",
    "LabEffects",
    "MeasurementError",
    "Measurements",
    "compare_groups",
    "composition",
    "concordance",
    "controlled_concordance",
    "deming_fit",
    "export_library",
    "gc_count",
    "ice_contrast",
    "join",
    "kmer_names",
    "lab_effects",
    "library_table",
    "missing_column_message",
    "normalize_sequences",
    "partial_spearman",
    "probe_contexts",
    "read_codes",
    "read_measurements",
    "selection_enrichment",
    "stratified_spearman",
    "top_k_overlap",
]
