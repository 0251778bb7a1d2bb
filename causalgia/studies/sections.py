"""The typed sections of a study spec: one frozen dataclass per TOML table.

Every spec key is a dataclass field, and its default is *the* default of that key: the runner,
the builders and docs/formats.md all read it from here. The field's metadata says what
:func:`~causalgia.studies.spec.parse_spec` checks (the TOML types it accepts, the allowed values
or range, the background kinds or experiment types that use it) and gives the key's meaning in
one line, from which :func:`spec_tables_markdown` renders the tables of docs/formats.md.

Sections are built by ``parse_spec``; building one by hand skips the checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any

from ..checks.randomization import MODES
from ..engine.models import Output
from ..engine.simulator import DEFAULT_CHUNK
from ..experiment.backgrounds import MAX_K, MAX_ORDER
from ..pooling.effectstats import CURVE_PRIORS, DIAGNOSTICS, EFFECTS
from ..sequences.alphabet import LAYOUTS
from ..stats.estimators import KINDS, METHODS

BACKGROUND_KINDS: tuple[str, ...] = ("iid", "profile", "kshuffle", "markov", "real")
EXPERIMENT_TYPES: tuple[str, ...] = (
    "positions",
    "counts",
    "spacing",
    "substitute",
    "scrambled",
    "mutate",
    "ablate",
    "identity",
    "random_kmers",
    "motif_screen",
)
REQUIRED: dict[str, tuple[str, ...]] = {
    "positions": ("motif", "positions"),
    "counts": ("motif", "counts", "positions"),
    "spacing": ("motif", "spacings", "start"),
    "substitute": ("motif", "position"),
    "scrambled": ("motif", "position"),
    "mutate": ("position", "base"),
    "ablate": ("start", "stop"),
    "identity": (),
    "random_kmers": ("motif", "position"),
    "motif_screen": ("motifs", "positions"),
}
ARMS: dict[str, str] = {
    "positions": "one per position",
    "counts": "k copies at the first k positions, one arm per k",
    "spacing": "one per (orientation, edge-to-edge gap)",
    "substitute": "one",
    "scrambled": "a composition-preserving scramble of the motif (negative control)",
    "mutate": "one",
    "ablate": "one",
    "identity": "the placebo",
    "random_kmers": "GC-matched random k-mers and motif scrambles at the position (null)",
    "motif_screen": "one per motif × position: every motif of a MEME/JASPAR file (or `names`) "
    "at every position, sharing the backgrounds",
}
MODEL_SOURCES: tuple[str, ...] = ("builtin", "callable", "factory", "deepbind")
BUILTINS: tuple[str, ...] = ("rbp_oracle", "additive_oracle")
DESIGN_TABLES: tuple[str, ...] = ("auto", "csv", "parquet", "none")
DESIGN_CSV_ROWS = 1_000_000
"""``design_table = "auto"`` writes design.csv up to this many rows, design.parquet above."""
CURVES: tuple[str, ...] = ("position", "count", "spacing", "start")
"""Numeric design parameters a pooled curve can run over."""
MOTIF_TYPES = ("positions", "counts", "spacing", "substitute", "scrambled", "random_kmers")
POSITION_TYPES = ("substitute", "scrambled", "mutate", "random_kmers")
LABEL_TYPES = ("substitute", "scrambled", "mutate", "ablate", "identity")


def spec_key(
    default: Any,
    doc: str,
    *,
    toml: tuple[type, ...],
    items: tuple[type, ...] = (),
    choices: tuple[Any, ...] = (),
    fold: str = "",
    minimum: float | None = None,
    maximum: float | None = None,
    above: float | None = None,
    interval: str = "",
    kinds: tuple[str, ...] = (),
    by: Mapping[str, Any] | None = None,
    default_doc: str = "",
    why: str = "",
    names: bool = False,
) -> Any:
    """A dataclass field for one spec key; the metadata is what parse_spec checks.

    ``toml`` are the accepted value types (``items``: of a list's elements); ``choices`` the
    allowed values (compared after ``str.upper``/``str.lower`` when ``fold`` names one);
    ``minimum``/``maximum`` inclusive and ``above`` exclusive bounds; ``interval`` "(0, 1)" or
    "[0, 1]"; ``kinds`` the background kinds / experiment types / model builtins that use the
    key; ``by`` a default that depends on the kind (or the design), filled in by parse_spec;
    ``why`` explains a range in its error; ``names`` marks a list of experiment names.

    Examples
    --------
    >>> spec_key(2, "k-let size", toml=(int,), minimum=1).metadata["minimum"]
    1
    """
    meta = {
        "doc": doc,
        "toml": toml,
        "items": items,
        "choices": choices,
        "fold": fold,
        "minimum": minimum,
        "maximum": maximum,
        "above": above,
        "interval": interval,
        "kinds": kinds,
        "by": dict(by or {}),
        "default_doc": default_doc,
        "why": why,
        "names": names,
    }
    return field(default=default, metadata=meta)


def spec_fields(cls: type) -> dict[str, Field[Any]]:
    """The fields of a section class that are spec keys (in declaration order).

    Examples
    --------
    >>> list(spec_fields(PoolingSection))[:2]
    ['experiments', 'curve']
    """
    return {f.name: f for f in fields(cls) if "doc" in f.metadata}


@dataclass(frozen=True)
class StudySection:
    """``[study]``: the run's size, design, estimator and execution settings."""

    name: str = spec_key("study", "title of the run (manifest and report)", toml=(str,))
    seed: int | None = spec_key(
        None, "root seed of every random draw", toml=(int,), minimum=0, maximum=2**63 - 1,
        default_doc="fresh entropy (recorded)",
    )  # fmt: skip
    n: int = spec_key(200, "number of backgrounds", toml=(int,), minimum=2)
    design: str = spec_key("paired", "see docs/concepts.md", toml=(str,), choices=KINDS)
    method: str | None = spec_key(
        None, "ACE estimator", toml=(str,), choices=METHODS,
        by={"paired": "paired_t", "randomized": "welch"},
        default_doc='`"paired_t"` (paired), `"welch"` (randomized)',
    )  # fmt: skip
    ci: float = spec_key(0.95, "interval level", toml=(float, int), interval="(0, 1)")
    truth: bool = spec_key(False, "also compute true ACEs (builtin oracles only)", toml=(bool,))
    truth_n: int = spec_key(
        50_000, "backgrounds of the reference run for true ACEs (when not exact)",
        toml=(int,), minimum=1,
    )  # fmt: skip
    batch_size: int | None = spec_key(
        None, "forward-pass batch size of this run (overrides the model's)", toml=(int,),
        minimum=1, default_doc="the model's",
    )  # fmt: skip
    chunk_size: int = spec_key(
        DEFAULT_CHUNK, "backgrounds per chunk (the unit of the ledger, retries and Dask)",
        toml=(int,), minimum=1,
    )  # fmt: skip
    retries: int = spec_key(
        0, "retries of a chunk whose forward pass failed", toml=(int,), minimum=0
    )
    on_nonfinite: str = spec_key(
        "raise", "a NaN/inf model output: stop, or drop the background and record it",
        toml=(str,), choices=("raise", "drop"),
    )  # fmt: skip
    cache: str | None = spec_key(
        None, "forward-pass cache file (SQLite), reused across runs", toml=(str,),
        default_doc="none",
    )  # fmt: skip
    dask: str | None = spec_key(
        None, 'Dask scheduler address, or `"local:N"` for N local worker processes',
        toml=(str,), default_doc="none (in process)",
    )  # fmt: skip
    design_table: str = spec_key(
        "auto", "the design table (one row per unit, with its seed), streamed to the run "
        'directory: `design.csv`, `design.parquet` or not written (`"none"`; `causalgia export` '
        'rebuilds it from the spec); `"auto"` writes csv up to '
        f"{DESIGN_CSV_ROWS:,} rows, parquet above", toml=(str,),
        choices=DESIGN_TABLES,
    )  # fmt: skip
    timeout: float | None = spec_key(
        None, "seconds one forward pass (a batch) may take; a pass that overruns stops the run "
        "with an error naming the chunk and batch, and `causalgia resume` continues from the "
        "completed chunks (docs/reliability.md)", toml=(float, int), above=0,
        default_doc="none (no limit)",
    )  # fmt: skip


@dataclass(frozen=True)
class ModelSection:
    """``[model]``: exactly one source (builtin, callable, factory or deepbind) and its
    declaration."""

    builtin: str | None = spec_key(
        None, "an oracle from `causalgia.testing` (`additive_oracle` also needs `motif` and "
        "`length`)", toml=(str,), choices=BUILTINS,
    )  # fmt: skip
    callable: str | None = spec_key(
        None, '`"package.module:function"` from a float32 one-hot array to outputs; the '
        "spec's folder is on the import path", toml=(str,),
    )  # fmt: skip
    factory: str | None = spec_key(
        None, '`"package.module:function"` returning the model (a torch module, an ONNX '
        "session, a callable or a Model); each Dask worker builds it once", toml=(str,),
    )  # fmt: skip
    deepbind: str | None = spec_key(
        None, "a DeepBind parameter file (it declares its own alphabet)", toml=(str,)
    )
    layout: str | None = spec_key(
        None, "one-hot layout; required for `callable`", toml=(str,), choices=LAYOUTS,
        by={"deepbind": "NCL"}, default_doc='the model\'s own; `"NCL"` for deepbind',
    )  # fmt: skip
    alphabet: str | None = spec_key(
        None, "the model's alphabet", toml=(str,), choices=("dna", "rna"), fold="lower",
        default_doc='the model\'s own, else `"dna"`',
    )  # fmt: skip
    also_accepts: str | None = spec_key(
        None, "the other alphabet, whose backgrounds the model also takes: `\"dna\"` for an "
        "RNA model given DNA-letter sequences (T read as U; a background FASTA is then read in "
        "DNA letters); recorded in the model's fingerprint", toml=(str,),
        choices=("dna", "rna"), fold="lower", default_doc="none: backgrounds of `alphabet` only",
    )  # fmt: skip
    output: Output | None = spec_key(
        None, "the output functional f: a task index, or `{index, transform, reduce, window, "
        "head, counts_head, task, task_names}` (`head` picks an output of a model returning "
        "several: a tuple index or a dict key; `task` picks a task by name from `task_names` "
        "or the model's own; transform `identity`, `log`, `logit`, `sigmoid` or `exp`; reduce "
        "`none`, `sum`, `mean` or `max` over a profile axis, or for profile logits "
        "`probability` (share in the window) or `expected_counts` (with `counts_head`), over "
        "the half-open `window = [a, b]` on the last axis)",
        toml=(int, dict), default_doc="the model's own, else the identity",
    )  # fmt: skip
    outputs: tuple[tuple[str, Output], ...] | str | None = spec_key(
        None, "several named output functionals instead of `output`, all computed from each "
        "forward pass: `{name = {head = 1}, other = {head = 0, counts_head = 1, reduce = "
        '"expected_counts", window = [450, 550]}}` (each value as `output`: a task index or a '
        'table of its keys), or `"tasks"` for every column of an (N, T) output, named by '
        "`task_names`; the unit, ACE, control and pooled tables then have an `output` column",
        toml=(str, dict), default_doc="one output functional (`output`)",
    )  # fmt: skip
    task_names: tuple[str, ...] | None = spec_key(
        None, 'names of the model\'s tasks, for `outputs = "tasks"` and for outputs that pick '
        "a `task` by name", toml=(list,), items=(str,), default_doc="the model's own",
    )  # fmt: skip
    batch_size: int | None = spec_key(
        None, "forward-pass batch size", toml=(int,), minimum=1,
        default_doc="picked by a probe (256 when it cannot be)",
    )  # fmt: skip
    n_value: float = spec_key(
        0.0, "value of an N column in the one-hot input (0 or 0.25)", toml=(float, int),
        interval="[0, 1]",
    )  # fmt: skip
    motif: str | None = spec_key(
        None, "the oracle's motif", toml=(str,), kinds=("additive_oracle",)
    )
    length: int | None = spec_key(
        None, "the oracle's sequence length", toml=(int,), minimum=1, kinds=("additive_oracle",)
    )

    @property
    def source(self) -> str:
        """Which of builtin, callable, factory or deepbind declares the model."""
        return next(key for key in MODEL_SOURCES if getattr(self, key) is not None)


@dataclass(frozen=True)
class BackgroundSection:
    """``[background]`` (and each ``controls.sensitivity_backgrounds`` entry)."""

    kind: str = spec_key(
        MISSING, "the background population", toml=(str,), choices=BACKGROUND_KINDS
    )
    length: int | None = spec_key(
        None, "sequence length (required for iid)", toml=(int,), minimum=1,
        kinds=("iid", "markov"), default_doc="the source length (markov)",
    )  # fmt: skip
    gc: float | None = spec_key(
        None, "GC fraction", toml=(float, int), interval="[0, 1]", kinds=("iid",),
        default_doc="uniform",
    )  # fmt: skip
    composition: tuple[float, ...] | None = spec_key(
        None, "4 probabilities (A, C, G, T/U); not with `gc`", toml=(list,),
        items=(float, int), minimum=0, kinds=("iid",), default_doc="uniform",
    )  # fmt: skip
    fasta: str | None = spec_key(
        None, "FASTA file of source sequences (plain or gzip; required)", toml=(str,),
        kinds=("profile", "kshuffle", "markov", "real"),
    )  # fmt: skip
    k: int = spec_key(
        2, "k-let size to preserve", toml=(int,), minimum=1, maximum=MAX_K, kinds=("kshuffle",)
    )
    order: int = spec_key(
        1, "chain order", toml=(int,), minimum=0, maximum=MAX_ORDER, kinds=("markov",)
    )
    replace: bool = spec_key(True, "draw with replacement", toml=(bool,), kinds=("real",))
    pseudocount: float | None = spec_key(
        None, "added to counts", toml=(float, int), minimum=0, kinds=("profile", "markov"),
        by={"profile": 0.0, "markov": 1.0}, default_doc="0.0 (profile), 1.0 (markov)",
    )  # fmt: skip
    given: tuple[tuple[str, Any], ...] = field(default=(), repr=False, compare=False)
    """The keys and values as written in the spec, in order (for labels)."""

    def label(self) -> str:
        """``"kind=iid gc=0.35"``: the keys given in the spec except ``length``.

        Returns
        -------
        str
            ``key=value`` pairs separated by spaces, in spec order.

        Examples
        --------
        >>> BackgroundSection("iid", 41, gc=0.35, given=(("kind", "iid"), ("length", 41),
        ...                                               ("gc", 0.35))).label()
        'kind=iid gc=0.35'
        """
        return " ".join(f"{k}={v}" for k, v in self.given if k != "length")


@dataclass(frozen=True)
class MotifFile:
    """A motif read from a MEME or JASPAR file: ``{ file = "motifs.jaspar", name = "MA0039.5" }``.
    ``file`` is relative to the spec's folder; ``name`` matches a motif's name or alt name."""

    file: str
    name: str


@dataclass(frozen=True)
class ExperimentSpec:
    """One ``[[experiment]]``: the union of every type's keys; ``kinds`` of a key's metadata
    are the types that use it, and :data:`REQUIRED` lists each type's required keys."""

    type: str = spec_key(MISSING, "the experiment type", toml=(str,), choices=EXPERIMENT_TYPES)
    name: str = spec_key(
        "", "name of the experiment (its rows in ace.csv; [controls] and [pooling] use it)",
        toml=(str,), kinds=EXPERIMENT_TYPES, default_doc="its `type`",
    )  # fmt: skip
    motif: str | MotifFile | None = spec_key(
        None, "IUPAC string over A/C/G/T/U, or a table `{ file, name }`", toml=(str, dict),
        kinds=MOTIF_TYPES,
    )  # fmt: skip
    motif_b: str | MotifFile | None = spec_key(
        None, "the second motif", toml=(str, dict), kinds=("spacing",), default_doc="`motif`"
    )
    positions: tuple[int, ...] = spec_key(
        (), "0-based start positions", toml=(list,), items=(int,), minimum=0,
        kinds=("positions", "counts", "motif_screen"),
    )  # fmt: skip
    position: int | None = spec_key(
        None, "0-based start position", toml=(int,), minimum=0, kinds=POSITION_TYPES
    )
    strand: str = spec_key(
        "+", "strand of the motif", toml=(str,), choices=("+", "-"),
        kinds=("positions", "substitute", "scrambled", "motif_screen"),
    )  # fmt: skip
    counts: tuple[int, ...] = spec_key(
        (), "numbers of copies", toml=(list,), items=(int,), minimum=1, kinds=("counts",)
    )
    spacings: tuple[int, ...] = spec_key(
        (), "edge-to-edge gaps (nt)", toml=(list,), items=(int,), minimum=0, kinds=("spacing",)
    )
    start: int | None = spec_key(
        None, "start of the first motif (spacing) or of the window (ablate)", toml=(int,),
        minimum=0, kinds=("spacing", "ablate"),
    )  # fmt: skip
    orientations: tuple[str, ...] = spec_key(
        ("+",), "strands of the second motif", toml=(list,), items=(str,), choices=("+", "-"),
        kinds=("spacing",),
    )  # fmt: skip
    label: str | None = spec_key(
        None, "the arm's label", toml=(str,), kinds=LABEL_TYPES, default_doc="its own"
    )
    base: str | None = spec_key(
        None, "the new base", toml=(str,), choices=("A", "C", "G", "T", "U"), fold="upper",
        kinds=("mutate",),
    )  # fmt: skip
    stop: int | None = spec_key(
        None, "end of the window (half-open)", toml=(int,), minimum=1, kinds=("ablate",)
    )
    fill: str = spec_key(
        "shuffle", "what fills the window", toml=(str,), choices=("shuffle", "random"),
        kinds=("ablate",),
    )  # fmt: skip
    k: int = spec_key(
        1, "k-let size a shuffle fill preserves", toml=(int,), minimum=1, maximum=MAX_K,
        kinds=("ablate",),
    )  # fmt: skip
    instance: str = spec_key(
        "sample", "a sampled instance per unit, or the consensus", toml=(str,),
        choices=("sample", "consensus"), kinds=("substitute", "scrambled", "motif_screen"),
    )  # fmt: skip
    n_kmers: int = spec_key(20, "random k-mers", toml=(int,), minimum=1, kinds=("random_kmers",))
    n_scrambles: int = spec_key(
        0, "motif scrambles", toml=(int,), minimum=0, kinds=("random_kmers",)
    )
    min_distance: int = spec_key(
        2, "mismatches a k-mer keeps from the motif and its reverse complement", toml=(int,),
        minimum=0, kinds=("random_kmers",),
    )  # fmt: skip
    motifs: str | None = spec_key(
        None, "a MEME or JASPAR file (plain or gzip) whose motifs are screened",
        toml=(str,), kinds=("motif_screen",),
    )  # fmt: skip
    names: tuple[str, ...] = spec_key(
        (), "motifs to screen, by name or alt name (a JASPAR ID or factor name), in this order",
        toml=(list,), items=(str,), kinds=("motif_screen",), default_doc="every motif of the file",
    )  # fmt: skip
    max_motifs: int | None = spec_key(
        None, "screen at most this many motifs (the first ones, after `names`)", toml=(int,),
        minimum=1, kinds=("motif_screen",), default_doc="no limit",
    )  # fmt: skip


_NAMES = {"toml": (list,), "items": (str,), "names": True}


def _names(doc: str, default_doc: str = "") -> Any:
    return spec_key((), doc, default_doc=default_doc or "none", **_NAMES)


@dataclass(frozen=True)
class ControlsSection:
    """``[controls]``: the experiments (by name) holding each kind of control, and the
    thresholds of :func:`~causalgia.checks.controls.evaluate_controls`."""

    positive: tuple[str, ...] = _names("experiments with a known effect (must be detected)")
    negative: tuple[str, ...] = _names("experiments that must show no effect")
    placebo: tuple[str, ...] = _names("identity experiments (ACE exactly 0)")
    gc: tuple[str, ...] = _names("GC-matched controls of a motif's effect")
    null: tuple[str, ...] = _names("random k-mer experiments forming the empirical null")
    calibrate: tuple[str, ...] = _names("experiments whose effects are compared with the null")
    alpha: float = spec_key(0.05, "test level of the checks", toml=(float,), interval="(0, 1)")
    power: float = spec_key(
        0.8, "power a positive control must reach", toml=(float,), interval="(0, 1)"
    )
    min_effect: float = spec_key(
        0.0, "the smallest effect that matters", toml=(float, int), minimum=0
    )
    sensitivity_backgrounds: tuple[BackgroundSection, ...] = spec_key(
        (), "other backgrounds (tables like [background]) to rerun experiments on",
        toml=(list,), items=(dict,), default_doc="none",
    )  # fmt: skip
    sensitivity_experiments: tuple[str, ...] = _names(
        "experiments rerun on the sensitivity backgrounds", "every experiment"
    )
    randomized_weights: int | None = spec_key(
        None, "copies of the model with randomized weights (a framework model only)",
        toml=(int,), minimum=1, default_doc="none",
        why="the number of copies of the model with randomized weights",
    )  # fmt: skip
    randomized_weights_mode: str = spec_key(
        "permute", "how the weights are randomized", toml=(str,), choices=MODES
    )
    randomized_weights_experiments: tuple[str, ...] = _names(
        "experiments compared with the randomized copies", "every experiment"
    )
    randomized_weights_max_retained: float = spec_key(
        0.5, "largest fraction of an effect a randomized copy may keep", toml=(float, int),
        interval="[0, 1]", why="the largest fraction of an effect a randomized copy may keep",
    )  # fmt: skip


@dataclass(frozen=True)
class PoolingSection:
    """``[pooling]``: a hierarchical model of some experiments' ICEs
    (:func:`~causalgia.pooling.hierarchical.fit_hierarchical`)."""

    experiments: tuple[str, ...] = spec_key(
        (), "experiments to pool (required)", default_doc="", **_NAMES
    )
    curve: str | None = spec_key(
        None, "design parameter of a random-walk (or GP) curve", toml=(str,), choices=CURVES,
        default_doc="none",
    )  # fmt: skip
    curve_prior: str = spec_key("rw", "prior of the curve", toml=(str,), choices=CURVE_PRIORS)
    periodic: float | None = spec_key(
        None, "period of a periodic term of the curve (units of `curve`)", toml=(float, int),
        above=0, default_doc="none",
    )  # fmt: skip
    groups: tuple[str | tuple[str, ...], ...] = spec_key(
        (), "design parameters (or lists of them) of extra random effects", toml=(list,),
        items=(str, list), default_doc="none",
    )  # fmt: skip
    effects: str = spec_key("normal", "distribution of condition effects", toml=(str,),
                            choices=EFFECTS)  # fmt: skip
    draws: int = spec_key(1000, "NUTS draws per chain", toml=(int,), minimum=1)
    tune: int = spec_key(1000, "NUTS tuning steps per chain", toml=(int,), minimum=0)
    chains: int = spec_key(2, "chains (R-hat needs >= 2)", toml=(int,), minimum=1)
    target_accept: float | None = spec_key(
        None, "NUTS target acceptance", toml=(float,), interval="(0, 1)",
        default_doc='0.95 (0.99 with curve_prior = "gp")',
    )  # fmt: skip
    hdi_prob: float = spec_key(0.95, "probability of the HDIs", toml=(float,), interval="(0, 1)")
    min_effect: float = spec_key(
        0.0, "P(|θ| > min_effect) is reported", toml=(float, int), minimum=0
    )
    diagnostics: str = spec_key(
        "warn", "what a failed convergence check does", toml=(str,), choices=DIAGNOSTICS
    )


# --- docs/formats.md: the key tables, rendered from the fields ------------------------------

SECTIONS: tuple[tuple[str, type, str], ...] = (
    ("[study]", StudySection, "Every key is optional."),
    (
        "[model]",
        ModelSection,
        "Give exactly one of `builtin`, `callable`, `factory` or `deepbind`.",
    ),
    (
        "[background]",
        BackgroundSection,
        "`kind` picks the population; a key that only other kinds use is an error. The entries "
        "of `[controls] sensitivity_backgrounds` take the same keys.",
    ),
    (
        "[[experiment]]",
        ExperimentSpec,
        "One table per experiment; repeat it. A key that the experiment's type does not use is "
        "an error.",
    ),
    (
        "[controls]",
        ControlsSection,
        "Optional: the experiments (by name) holding each kind of control, and the thresholds "
        "of the checks (`causalgia.checks.controls.evaluate_controls`).",
    ),
    (
        "[pooling]",
        PoolingSection,
        "Optional: a hierarchical model of some experiments' ICEs "
        "(`causalgia.pooling.hierarchical.fit_hierarchical`).",
    ),
)
_TYPE_NAMES = {int: "int", float: "float", str: "str", bool: "bool", dict: "table", list: "list"}
_PLURALS = {"int": "ints", "float": "floats", "str": "strings", "table": "tables", "list": "lists"}


def _type_text(meta: Mapping[str, Any]) -> str:
    if meta["names"]:
        return "list of experiment names"
    toml = [t for t in meta["toml"] if not (t is int and float in meta["toml"])]
    text = " or ".join(_TYPE_NAMES[t] for t in toml)
    if meta["items"]:
        items = [t for t in meta["items"] if not (t is int and float in meta["items"])]
        text = "list of " + " or ".join(_PLURALS[_TYPE_NAMES[t]] for t in items)
    if meta["choices"]:
        choices = " \\| ".join(f'`"{c}"`' for c in meta["choices"])
        return f"list of {choices}" if meta["items"] else choices
    if meta["interval"]:
        return f"{text} in {meta['interval']}"
    low, high = meta["minimum"], meta["maximum"]
    if low is not None and high is not None:
        return f"{text} in {low}..{'2**63-1' if high == 2**63 - 1 else high}"
    if low is not None:
        return f"{text} >= {low}"
    return f"{text} > {meta['above']}" if meta["above"] is not None else text


def _default_text(f: Field[Any]) -> str:
    if f.metadata["default_doc"]:
        return f.metadata["default_doc"]
    value = f.default
    if value is MISSING:
        return "required"
    if value is None:
        return "—"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, tuple):
        return "`[" + ", ".join(f'"{v}"' for v in value) + "]`"
    return f"`{value:_}`".replace("_", ",") if isinstance(value, int) else f"`{value}`"


def _table(cls: type) -> list[str]:
    kinds = {ExperimentSpec: "types", BackgroundSection: "kinds"}.get(cls)
    head = ["key", *([kinds] if kinds else []), "type", "default", "meaning"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, f in spec_fields(cls).items():
        row = [f"`{name}`"]
        if kinds:
            used = f.metadata["kinds"]
            row.append("all" if not used or len(used) == len(EXPERIMENT_TYPES) else ", ".join(used))
        cells = [_default_text(f), f.metadata["doc"]]
        row += [_type_text(f.metadata), *(c.replace("|", "\\|") for c in cells)]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def _experiment_types() -> list[str]:
    keys = spec_fields(ExperimentSpec)
    lines = ["| `type` | required keys | optional keys | arms |", "|---|---|---|---|"]
    for kind in EXPERIMENT_TYPES:
        takes = [k for k, f in keys.items() if kind in f.metadata["kinds"] and k != "name"]
        optional = [k for k in takes if k not in REQUIRED[kind]]
        cells = [", ".join(f"`{k}`" for k in ks) for ks in (REQUIRED[kind], optional)]
        lines.append(f"| `{kind}` | {cells[0]} | {cells[1]} | {ARMS[kind]} |")
    return lines


def spec_tables_markdown() -> str:
    """The key tables of docs/formats.md, rendered from the section dataclasses.

    Examples
    --------
    >>> spec_tables_markdown().splitlines()[0]
    '### `[study]`'
    """
    out: list[str] = []
    for title, cls, intro in SECTIONS:
        out += [f"### `{title}`", "", intro, ""]
        if cls is ExperimentSpec:
            out += [*_experiment_types(), ""]
        out += [*_table(cls), ""]
    return "\n".join(out)
