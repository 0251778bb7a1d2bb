"""Randomized designs: which backgrounds, which arms, and the seed of every unit.

A *unit* is one background draw, identified by ``background_id`` (0..n-1). In the default
**paired** design every background is evaluated once as it is (the control, shared by all
arms) and once under each arm's intervention. In the **completely randomized** design each
background is assigned at random to the control or to exactly one arm, as a wet-lab library
would be.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd

from .._options import check_int, check_option
from .._rng import (
    RngLike,
    keyed,
    keyed_many,
    label_code,
    purpose_base,
    purpose_bases,
    root_seed,
    uniforms,
    unit_keys,
)
from ..errors import InterventionError, OptionError
from ..sequences.motifs import Motif, coerce_motif
from .backgrounds import Background
from .designtable import TablePart, table_blocks, table_parts
from .interventions import Compose, Edit, Intervention, Strand, Substitute

DesignKind = Literal["paired", "randomized"]
CONTROL = "control"


@dataclass(frozen=True)
class Arm:
    """One intervention of a study with its label, experiment and design parameters.

    Examples
    --------
    >>> arm = Arm("site@10", Substitute("TGCATG", 10), experiment="position",
    ...           params={"position": 10})
    >>> arm.params["position"]
    10
    """

    label: str
    intervention: Intervention
    experiment: str = "main"
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.label or self.label == CONTROL:
            raise OptionError(f"arm label {self.label!r} is empty or reserved")
        if not isinstance(self.intervention, Intervention):
            raise OptionError(f"arm {self.label!r}: intervention must be an Intervention")
        object.__setattr__(self, "params", dict(self.params))

    @cached_property
    def purpose_codes(self) -> tuple[int, int, int]:
        """Label codes of this arm's purpose path ``("arm", experiment, label)``, hashed once.

        Examples
        --------
        >>> len(Arm("a", Substitute("GATA", 3)).purpose_codes)
        3
        """
        return (_ARM_CODE, label_code(self.experiment), label_code(self.label))

    def keys(self, seed: int, ids: np.ndarray) -> np.ndarray:
        """The stream key of this arm's intervention for each background id.

        Equal to ``unit_keys(seed, ids, "arm", experiment, label)``; :func:`arm_keys` gives the
        keys of many arms in one vectorised call.

        Parameters
        ----------
        seed : int
            Root seed of the design.
        ids : ndarray of int
            Background ids.

        Returns
        -------
        ndarray of uint64
            One key per id.

        Examples
        --------
        >>> arm, ids = Arm("a", Substitute("GATA", 3)), np.arange(3)
        >>> bool((arm.keys(1, ids) == unit_keys(1, ids, "arm", "main", "a")).all())
        True
        """
        return keyed(purpose_base(seed, self.purpose_codes), ids)


_ARM_CODE = label_code("arm")


def arm_keys(arms: Sequence[Arm], seed: int, ids: np.ndarray) -> np.ndarray:
    """Stream keys of many arms, ``(len(arms), len(ids))``: row a is ``arms[a].keys(seed, ids)``.

    Arms of the plain :class:`Arm` class are keyed in one vectorised call; an arm of a subclass
    that overrides :meth:`Arm.keys` is asked for its own keys.

    Parameters
    ----------
    arms : sequence of Arm
        The arms.
    seed : int
        Root seed of the design.
    ids : ndarray of int
        Background ids.

    Returns
    -------
    ndarray of uint64
        Keys ``(len(arms), len(ids))``.

    Examples
    --------
    >>> arms = [Arm("a", Substitute("GATA", 3)), Arm("b", Substitute("GATA", 5))]
    >>> bool((arm_keys(arms, 1, np.arange(4))[1] == arms[1].keys(1, np.arange(4))).all())
    True
    """
    ids = np.asarray(ids, dtype=np.int64)
    out = np.empty((len(arms), ids.size), dtype=np.uint64)
    plain = [type(arm).keys is Arm.keys for arm in arms]
    rows = np.flatnonzero(plain)
    if rows.size:
        codes = np.array([arms[r].purpose_codes for r in rows], dtype=np.uint64)
        out[rows] = keyed_many(purpose_bases(seed, codes), ids)
    for r in np.flatnonzero(~np.asarray(plain, dtype=bool)):
        out[r] = arms[r].keys(seed, ids)
    return out


@dataclass(frozen=True)
class FixedGroup:
    """Arms whose interventions write fixed codes into windows of the same widths.

    ``arms`` are arm indices of the design; arm ``arms[g]`` writes window ``j`` (width
    ``widths[j]``) at ``starts[g, j]``, with the letters ``codes[g]`` (windows concatenated in
    order). Nothing is drawn at random, so no stream key is needed.
    """

    arms: np.ndarray
    widths: tuple[int, ...]
    starts: np.ndarray
    codes: np.ndarray

    def columns(self, window: int, rows: np.ndarray) -> np.ndarray:
        """Positions written by window ``window`` of group members ``rows``: ``(len(rows), w)``.

        Parameters
        ----------
        window : int
            Window index, into ``widths``.
        rows : ndarray of int
            Member rows (positions in ``arms``, not arm indices).

        Returns
        -------
        ndarray of int
            Positions ``(len(rows), widths[window])``.

        Examples
        --------
        >>> g = FixedGroup(np.array([4]), (2,), np.array([[3]]), np.array([[0, 1]], np.uint8))
        >>> g.columns(0, np.array([0])).tolist()
        [[3, 4]]
        """
        width = self.widths[window]
        return self.starts[rows, window][:, None] + np.arange(width)[None, :]

    def letters(self, window: int, rows: np.ndarray) -> np.ndarray:
        """Letters written by window ``window`` of group members ``rows``: ``(len(rows), w)``.

        Parameters
        ----------
        window : int
            Window index, into ``widths``.
        rows : ndarray of int
            Member rows (positions in ``arms``, not arm indices).

        Returns
        -------
        ndarray of uint8
            Codes ``(len(rows), widths[window])``.

        Examples
        --------
        >>> g = FixedGroup(np.array([4]), (2,), np.array([[3]]), np.array([[0, 1]], np.uint8))
        >>> g.letters(0, np.array([0])).tolist()
        [[0, 1]]
        """
        offset = sum(self.widths[:window])
        return self.codes[rows, offset : offset + self.widths[window]]


@dataclass(frozen=True)
class ArmPlan:
    """How a simulator applies the arms of a design (see :meth:`Design.arm_plan`).

    ``groups`` hold the arms whose edit is fixed (:meth:`Intervention.fixed_edits`), grouped by
    window widths so that a group is applied to a whole chunk in one vectorised write;
    ``group_of`` / ``row_of`` give each arm's group and row in it (-1 for the others);
    ``keyed`` lists, in order, the arms applied one by one with their stream keys.
    """

    groups: tuple[FixedGroup, ...]
    group_of: np.ndarray
    row_of: np.ndarray
    keyed: np.ndarray


def _plan(arms: Sequence[Arm], length: int) -> ArmPlan:
    by_widths: dict[tuple[int, ...], list[tuple[int, tuple[Edit, ...]]]] = {}
    keyed_arms = []
    for index, arm in enumerate(arms):
        edits = arm.intervention.fixed_edits(length)
        if edits is None:
            keyed_arms.append(index)
        else:
            by_widths.setdefault(tuple(len(row) for _, row in edits), []).append((index, edits))
    group_of = np.full(len(arms), -1, dtype=np.int64)
    row_of = np.full(len(arms), -1, dtype=np.int64)
    groups = []
    for number, (widths, members) in enumerate(by_widths.items()):
        indices = np.array([index for index, _ in members], dtype=np.int64)
        starts = np.array([[s for s, _ in edits] for _, edits in members], dtype=np.int64)
        codes = np.zeros((len(members), sum(widths)), dtype=np.uint8)
        for row, (_, edits) in enumerate(members):
            if widths:
                codes[row] = np.concatenate([np.asarray(w, dtype=np.uint8) for _, w in edits])
        group_of[indices] = number
        row_of[indices] = np.arange(len(members))
        groups.append(FixedGroup(indices, widths, starts.reshape(len(members), len(widths)), codes))
    return ArmPlan(tuple(groups), group_of, row_of, np.array(keyed_arms, dtype=np.int64))


@dataclass(frozen=True)
class Design:
    """A laid-out study: background population, arms, number of backgrounds, kind and seed.

    Build it with :func:`design`. ``to_frame()`` gives one row per unit with every parameter
    and the seed (stream key) of every unit.
    """

    background: Background
    arms: tuple[Arm, ...]
    n: int
    kind: DesignKind
    seed: int

    @property
    def background_ids(self) -> np.ndarray:
        """Background unit ids ``0..n-1``."""
        return np.arange(self.n, dtype=np.int64)

    @property
    def param_names(self) -> list[str]:
        """Union of the arms' parameter names, in first-seen order."""
        names: dict[str, None] = {}
        for arm in self.arms:
            names.update(dict.fromkeys(arm.params))
        return list(names)

    def assignment(self, ids: np.ndarray | None = None) -> np.ndarray:
        """Randomized design: arm index per background (-1 = control), keyed by background id.

        Each background goes to the control or one arm with equal probability.

        Parameters
        ----------
        ids : ndarray of int, optional
            Background ids; default all, ``0..n-1``.

        Returns
        -------
        ndarray of int64
            Arm index per id, -1 for the control.

        Raises
        ------
        OptionError
            When the design is not ``kind="randomized"``.

        Examples
        --------
        >>> from causalgia.experiment.backgrounds import iid
        >>> arms = [Arm("a", Substitute("GATA", 3)), Arm("b", Substitute("GATA", 9))]
        >>> design(iid(20), arms, n=6, kind="randomized", rng=1).assignment().tolist()
        [0, 1, -1, 1, 1, 1]
        """
        if self.kind != "randomized":
            raise OptionError("assignment() exists only for kind='randomized'")
        ids = self.background_ids if ids is None else np.asarray(ids)
        u = uniforms(unit_keys(self.seed, ids, "assign"), 1)[:, 0]
        return np.floor(u * (len(self.arms) + 1)).astype(np.int64) - 1

    def arm_plan(self) -> ArmPlan:
        """Arms grouped for batched application: fixed edits by window layout, the rest keyed.

        Computed once per design object (it does not depend on the seed).

        Returns
        -------
        ArmPlan
            Groups of fixed-edit arms (:class:`FixedGroup`) and the keyed arms.

        Examples
        --------
        >>> from causalgia.experiment.backgrounds import iid
        >>> arms = sweep_positions("GATA", [0, 5]) + [Arm("pwm", Substitute("GAYA", 9))]
        >>> plan = design(iid(20), arms, n=4, rng=1).arm_plan()
        >>> [g.arms.tolist() for g in plan.groups], plan.keyed.tolist()
        ([[0, 1]], [2])
        """
        return self._arm_plan

    @cached_property
    def _arm_plan(self) -> ArmPlan:
        return _plan(self.arms, self.background.length)

    def with_seed(self, rng: RngLike) -> Design:
        """The same design under another root seed.

        Parameters
        ----------
        rng : int, Generator or None
            The new root seed; None draws fresh entropy.

        Returns
        -------
        Design

        Raises
        ------
        OptionError
            On a bad ``rng``.

        Examples
        --------
        >>> from causalgia.experiment.backgrounds import iid
        >>> design(iid(20), [Arm("a", Substitute("GATA", 3))], n=4, rng=1).with_seed(7).seed
        7
        """
        return replace(self, seed=root_seed(rng))

    @property
    def n_forward(self) -> int:
        """Forward passes at most: n·(arms+1) when paired, n when randomized."""
        return self.n * (len(self.arms) + 1) if self.kind == "paired" else self.n

    def to_frame(self) -> pd.DataFrame:
        """One row per unit: experiment, label, parameters, background_id, arm, unit_seed.

        Built column by column (:mod:`causalgia.experiment.designtable`), in time linear in
        the number of rows and arms; :meth:`iter_frames` gives the same rows in blocks.

        Returns
        -------
        DataFrame
            Control rows first, then each arm's; ``arm`` is ``"control"`` or ``"do"`` and
            ``unit_seed`` the unit's stream key. A randomized design lists only assigned units.

        Examples
        --------
        >>> from causalgia.experiment.backgrounds import iid
        >>> d = design(iid(20), [Arm("a", Substitute("GATA", 3))], n=4, rng=1)
        >>> d.to_frame()["label"].tolist()
        ['control', 'control', 'control', 'control', 'a', 'a', 'a', 'a']
        """
        return next(table_blocks(self._table_parts(), self.param_names))

    def iter_frames(
        self, block_rows: int = 500_000, *, typed: bool = False
    ) -> Iterator[pd.DataFrame]:
        """The rows of :meth:`to_frame` in consecutive blocks of at most ``block_rows`` rows.

        Every block has the dtypes of the whole table, so writing the blocks one after the
        other (``design.csv``) gives the bytes of writing :meth:`to_frame` at once, while only
        one block is held in memory.

        Parameters
        ----------
        block_rows : int, default 500,000
            Rows per block (>= 1); an arm's rows may be split across blocks.
        typed : bool
            Give parameter columns that mix values and missing ones a nullable dtype (Int64,
            Float64, boolean or string), the same in every block, as a parquet file needs.

        Yields
        ------
        DataFrame

        Examples
        --------
        >>> from causalgia.experiment.backgrounds import iid
        >>> d = design(iid(20), [Arm("a", Substitute("GATA", 3))], n=4, rng=1)
        >>> [len(block) for block in d.iter_frames(3)]
        [3, 3, 2]
        """
        check_int("block_rows", block_rows, minimum=1)
        return table_blocks(
            self._table_parts(), self.param_names, block_rows=block_rows, typed=typed
        )

    def _table_parts(self) -> list[TablePart]:
        """The control and every arm as parts of the design table (ids and seed bases)."""
        plain = [type(arm).keys is Arm.keys for arm in self.arms]  # else: the arm's own keys
        assign = self.assignment() if self.kind == "randomized" else None
        return table_parts(self.arms, self.seed, self.n, assign, plain)


def design(
    background: Background,
    arms: Sequence[Arm],
    *,
    n: int,
    kind: DesignKind = "paired",
    rng: RngLike = None,
) -> Design:
    """Lay out arms over ``n`` backgrounds drawn from ``background``.

    Every arm is checked against the background length now, so a motif that does not fit
    fails here, naming the arm, rather than mid-run.

    Parameters
    ----------
    background : Background
        Population the backgrounds are drawn from.
    arms : sequence of Arm
        At least one; labels unique within an experiment.
    n : int
        Number of backgrounds (>= 2).
    kind : {"paired", "randomized"}, default "paired"
        Every background under every arm, or each background to one arm or the control.
    rng : int, Generator or None, default None
        Root seed; None draws fresh entropy (the resolved seed is kept as ``seed``).

    Returns
    -------
    Design

    Raises
    ------
    OptionError
        On a bad ``n``, ``kind`` or ``rng``, no arms, a non-Arm, or a repeated label.
    InterventionError
        When an arm does not fit the background length.

    Examples
    --------
    >>> from causalgia.experiment.backgrounds import iid
    >>> d = design(iid(30), sweep_positions("GATA", [0, 10, 20]), n=100, rng=0)
    >>> d.n_forward
    400
    """
    check_int("n", n, minimum=2)
    check_option("kind", kind, ("paired", "randomized"))
    arms = tuple(arms)
    if not arms:
        raise OptionError("a design needs at least one arm")
    seen: set[tuple[str, str]] = set()
    for arm in arms:
        if not isinstance(arm, Arm):
            raise OptionError(f"arms must be Arm objects, got {type(arm).__name__}")
        key = (arm.experiment, arm.label)
        if key in seen:
            raise OptionError(
                f"arm label {arm.label!r} appears twice in experiment {arm.experiment!r}"
            )
        seen.add(key)
        try:
            arm.intervention.spans(background.length)
        except InterventionError as err:
            raise InterventionError(f"arm {arm.label!r} ({arm.experiment}): {err}") from None
    return Design(background, arms, int(n), kind, root_seed(rng))


def _name(motif: str | Motif) -> str:
    return motif.name if isinstance(motif, Motif) else str(motif)


def sweep_positions(
    motif: str | Motif,
    positions: Sequence[int],
    *,
    strand: Strand = "+",
    experiment: str = "position",
) -> list[Arm]:
    """One arm per position: the motif substituted at that position.

    Parameters
    ----------
    motif : str or Motif
        The motif (a string may use IUPAC codes).
    positions : sequence of int
        0-based start positions.
    strand : {"+", "-"}, default "+"
        Strand of every instance.
    experiment : str, default "position"
        Experiment name of the arms.

    Returns
    -------
    list of Arm
        Labelled ``"<motif>@<position><strand>"``, with params ``motif, position, strand``.

    Raises
    ------
    OptionError
        On a bad ``strand``.

    Examples
    --------
    >>> [a.label for a in sweep_positions("GATA", [0, 5])]
    ['GATA@0+', 'GATA@5+']
    """
    return [
        Arm(
            f"{_name(motif)}@{p}{strand}",
            Substitute(motif, int(p), strand),
            experiment,
            {"motif": _name(motif), "position": int(p), "strand": strand},
        )
        for p in positions
    ]


def sweep_counts(
    motif: str | Motif,
    counts: Sequence[int],
    *,
    positions: Sequence[int],
    experiment: str = "count",
) -> list[Arm]:
    """One arm per count k: k copies of the motif at the first k of ``positions``.

    Parameters
    ----------
    motif : str or Motif
        The motif, substituted on the + strand.
    counts : sequence of int
        Numbers of copies (each >= 1 and <= ``len(positions)``).
    positions : sequence of int
        Start positions, used in order.
    experiment : str, default "count"
        Experiment name of the arms.

    Returns
    -------
    list of Arm
        Labelled ``"<motif>x<k>"``, with params ``motif, count``.

    Raises
    ------
    OptionError
        On a bad count.

    Examples
    --------
    >>> [a.label for a in sweep_counts("GATA", [1, 2], positions=[2, 10])]
    ['GATAx1', 'GATAx2']
    """
    arms = []
    for k in counts:
        check_int("count", k, minimum=1)
        if k > len(positions):
            raise OptionError(f"count {k} needs at least {k} positions, got {len(positions)}")
        parts = tuple(Substitute(motif, int(p)) for p in positions[:k])
        arms.append(
            Arm(
                f"{_name(motif)}x{k}",
                Compose(parts),
                experiment,
                {"motif": _name(motif), "count": int(k)},
            )
        )
    return arms


def sweep_spacing(
    motif: str | Motif,
    spacings: Sequence[int],
    *,
    start: int,
    motif_b: str | Motif | None = None,
    orientations: Sequence[Strand] = ("+",),
    experiment: str = "spacing",
) -> list[Arm]:
    """Two motifs at each edge-to-edge spacing (gap in nt) and orientation of the second.

    The first motif sits at ``start`` on the + strand; the second starts ``spacing`` nt after
    the end of the first, on the strand given by the orientation.

    Parameters
    ----------
    motif : str or Motif
        The first motif (and the second, unless ``motif_b`` is given).
    spacings : sequence of int
        Gaps in nt (>= 0).
    start : int
        Start of the first motif.
    motif_b : str or Motif, optional
        The second motif.
    orientations : sequence of {"+", "-"}, default ("+",)
        Strands of the second motif.
    experiment : str, default "spacing"
        Experiment name of the arms.

    Returns
    -------
    list of Arm
        Labelled ``"<motif>+<motif_b><orientation>gap<spacing>"``, with params ``motif,
        motif_b, spacing, orientation``.

    Raises
    ------
    OptionError
        On a bad orientation or a negative spacing.

    Examples
    --------
    >>> [a.label for a in sweep_spacing("GATA", [0, 3], start=2)]
    ['GATA+GATA+gap0', 'GATA+GATA+gap3']
    """
    second = motif if motif_b is None else motif_b
    width = coerce_motif(motif).width
    arms = []
    for orient in orientations:
        check_option("orientation", orient, ("+", "-"))
        for s in spacings:
            check_int("spacing", s, minimum=0)
            parts = (Substitute(motif, start), Substitute(second, start + width + int(s), orient))
            label = f"{_name(motif)}+{_name(second)}{orient}gap{int(s)}"
            arms.append(
                Arm(
                    label,
                    Compose(parts),
                    experiment,
                    {
                        "motif": _name(motif),
                        "motif_b": _name(second),
                        "spacing": int(s),
                        "orientation": orient,
                    },
                )
            )
    return arms


# --- factorial designs, orientation x spacing grids, stratified backgrounds ----------------


def _intervention_of(component: object, name: str) -> Intervention:
    if isinstance(component, Intervention):
        return component
    raise OptionError(f"factor {name!r}: expected an Intervention, got {type(component).__name__}")


def factorial(
    components: Mapping[str, Intervention],
    *,
    generators: Mapping[str, Sequence[str]] | None = None,
    experiment: str = "factorial",
) -> list[Arm]:
    """Arms of a 2^k full or 2^(k−p) fractional factorial design over ``k`` interventions.

    Each run is a set of factors present; the empty run is the shared control of the paired
    design, so the arms are the non-empty runs, each the :class:`Compose` of its factors'
    interventions (their windows must not overlap), with one 0/1 parameter column per factor.
    ``generators`` makes a fractional design: ``{"E": "ABCD"}`` sets factor E from the base
    factors A–D (defining relation I = ±ABCDE, the sign chosen so that the fraction contains
    the empty run). Fit main effects and two-way interactions by regression with
    :func:`causalgia.stats.contrasts.fit_factorial`; a resolution-V fraction (e.g. 2^(5−1) with
    E = ABCD) estimates all of them from half the runs.

    Parameters
    ----------
    components : mapping of str to Intervention
        Factor name to its intervention, in factor order.
    generators : mapping of str to sequence of str, optional
        Generated factor to the base factors whose product sets it (e.g. ``{"E": "ABCD"}``).
    experiment : str, default "factorial"
        Experiment name of the arms.

    Returns
    -------
    list of Arm
        The non-empty runs, labelled by their factors joined with ``"+"``.

    Raises
    ------
    OptionError
        On no components, a non-Intervention, or a generator that is not a component or uses
        letters other than base factors.

    Examples
    --------
    >>> arms = factorial({"A": Substitute("GATA", 2), "B": Substitute("TTGC", 12)})
    >>> [a.label for a in arms], arms[2].params
    (['A', 'B', 'A+B'], {'A': 1, 'B': 1})
    >>> five = {f: Substitute("GG", 3 * i) for i, f in enumerate("ABCDE")}
    >>> len(factorial(five)), len(factorial(five, generators={"E": "ABCD"}))
    (31, 15)
    """
    names = list(components)
    if not names:
        raise OptionError("factorial needs at least one component")
    parts = {name: _intervention_of(components[name], name) for name in names}
    gens = {k: list(v) for k, v in (generators or {}).items()}
    for factor, word in gens.items():
        if factor not in parts:
            raise OptionError(f"generator {factor!r} is not a component; have {names}")
        bad = [w for w in word if w not in parts or w in gens]
        if bad or not word:
            raise OptionError(
                f"generator {factor}={''.join(word)!r}: letters {bad} are not base factors"
            )
    base = [n for n in names if n not in gens]
    arms = []
    for mask in range(1, 2 ** len(base)):
        level = {n: 1 if mask >> i & 1 else -1 for i, n in enumerate(base)}
        for factor, word in gens.items():
            sign = -((-1) ** len(word))  # the all-absent run satisfies the defining relation
            level[factor] = sign * int(np.prod([level[w] for w in word]))
        present = [n for n in names if level[n] == 1]
        if not present:
            continue
        do = parts[present[0]] if len(present) == 1 else Compose(tuple(parts[n] for n in present))
        arms.append(Arm("+".join(present), do, experiment, {n: int(level[n] == 1) for n in names}))
    return arms


def orientation_spacing_grid(
    motif: str | Motif,
    spacings: Sequence[int],
    *,
    start: int,
    motif_b: str | Motif | None = None,
    orientations: Sequence[Strand] = ("+", "-"),
    experiment: str = "orientation_spacing",
) -> list[Arm]:
    """Two motifs at every (orientation of A, orientation of B, edge-to-edge gap) combination.

    Motif A sits at ``start``; motif B starts ``spacing`` nt after A ends. With both
    orientations this is the 4 × len(spacings) grid (++, +−, −+, −−) used to read
    orientation-dependent spacing rules (e.g. composite elements).

    Parameters
    ----------
    motif : str or Motif
        Motif A (and B, unless ``motif_b`` is given).
    spacings : sequence of int
        Gaps in nt (>= 0).
    start : int
        Start of motif A.
    motif_b : str or Motif, optional
        Motif B.
    orientations : sequence of {"+", "-"}, default ("+", "-")
        Strands tried for each motif.
    experiment : str, default "orientation_spacing"
        Experiment name of the arms.

    Returns
    -------
    list of Arm
        Labelled ``"<A><oa><B><ob>gap<spacing>"``, with params ``motif, motif_b,
        orientation_a, orientation_b, spacing``.

    Raises
    ------
    OptionError
        On a bad orientation or a negative spacing.

    Examples
    --------
    >>> arms = orientation_spacing_grid("GATA", [0, 5], start=2)
    >>> len(arms), arms[-1].label
    (8, 'GATA-GATA-gap5')
    """
    second = motif if motif_b is None else motif_b
    width = coerce_motif(motif).width
    arms = []
    for oa in orientations:
        check_option("orientation", oa, ("+", "-"))
        for ob in orientations:
            check_option("orientation", ob, ("+", "-"))
            for s in spacings:
                check_int("spacing", s, minimum=0)
                parts = (Substitute(motif, start, oa), Substitute(second, start + width + s, ob))
                params = {
                    "motif": _name(motif),
                    "motif_b": _name(second),
                    "orientation_a": oa,
                    "orientation_b": ob,
                    "spacing": int(s),
                }
                label = f"{_name(motif)}{oa}{_name(second)}{ob}gap{int(s)}"
                arms.append(Arm(label, Compose(parts), experiment, params))
    return arms


_PHI = 0.6180339887498949


@dataclass(frozen=True, eq=False)
class StratifiedBackground(Background):
    """Backgrounds drawn stratum by stratum: unit ``i`` belongs to one stratum, fixed by its id.

    Stratum of id ``i``: the stratum whose cumulative-weight interval holds
    ``frac((i + 1)·φ)`` (φ the golden ratio), a low-discrepancy sequence, so every prefix
    ``0..n-1`` of ids is allocated close to proportionally (blocked allocation) and any id's
    stratum is known without the others. Build it with :func:`stratified` or
    :func:`gc_strata`; estimate with :func:`causalgia.stats.adjustment.estimate_stratified`.

    Examples
    --------
    >>> bg = gc_strata(20, gc_levels=(0.3, 0.7))
    >>> bg.strata(np.arange(6)).tolist()
    ['gc0.7', 'gc0.3', 'gc0.7', 'gc0.3', 'gc0.3', 'gc0.7']
    """

    names: tuple[str, ...]
    members: tuple[Background, ...]
    weights: np.ndarray
    kind: ClassVar[str] = "stratified"

    def stratum_index(self, ids: np.ndarray) -> np.ndarray:
        """Index into ``names`` of the stratum of every id."""
        u = np.mod((np.asarray(ids, dtype=np.float64) + 1.0) * _PHI, 1.0)
        index = np.searchsorted(np.cumsum(self.weights), u, side="right")
        return np.minimum(index, len(self.names) - 1)

    def strata(self, ids: np.ndarray) -> np.ndarray:
        """Stratum name of every id."""
        return np.asarray(self.names, dtype=object)[self.stratum_index(ids)]

    def _generate(self, ids: np.ndarray, keys: np.ndarray) -> np.ndarray:
        out = np.empty((ids.size, self.length), dtype=np.uint8)
        index = self.stratum_index(ids)
        for k, member in enumerate(self.members):
            mine = index == k
            if mine.any():
                out[mine] = member._generate(ids[mine], keys[mine])
        return out

    def _params(self) -> dict[str, Any]:
        return {
            "strata": {
                n: {**m.describe(), "weight": float(w)}
                for n, m, w in zip(self.names, self.members, self.weights, strict=True)
            }
        }


def stratified(
    strata: Mapping[str, Background], *, weights: Mapping[str, float] | None = None
) -> StratifiedBackground:
    """A background population made of strata with population shares ``weights``.

    Every stratum must have the same length and alphabet. Default weights are equal.

    Examples
    --------
    >>> from causalgia.experiment.backgrounds import iid
    >>> bg = stratified({"low": iid(10, gc=0.3), "high": iid(10, gc=0.6)},
    ...                 weights={"low": 0.25, "high": 0.75})
    >>> bg.sample(4, rng=0).shape
    (4, 10)
    """
    names = tuple(strata)
    if not names:
        raise OptionError("stratified needs at least one stratum")
    members = tuple(strata[n] for n in names)
    first = members[0]
    for name, member in zip(names, members, strict=True):
        if not isinstance(member, Background):
            raise OptionError(f"stratum {name!r} is not a Background")
        if member.length != first.length or member.alphabet != first.alphabet:
            raise OptionError(
                f"stratum {name!r} has length {member.length} / alphabet {member.alphabet.name};"
                f" stratum {names[0]!r} has {first.length} / {first.alphabet.name}"
            )
    if weights is None:
        w = np.full(len(names), 1.0 / len(names))
    else:
        unknown = sorted(set(weights) - set(names))
        if unknown or set(weights) != set(names):
            raise OptionError(f"weights must name exactly the strata {list(names)}")
        w = np.array([float(weights[n]) for n in names])
        if (w < 0).any() or abs(w.sum() - 1.0) > 1e-9:
            raise OptionError(f"stratum weights must be >= 0 and sum to 1, got {w.tolist()}")
    w.setflags(write=False)
    return StratifiedBackground(first.alphabet, first.length, names, members, w)


def gc_strata(
    length: int,
    *,
    gc_levels: Sequence[float] = (0.35, 0.5, 0.65),
    weights: Sequence[float] | None = None,
    alphabet: str = "dna",
) -> StratifiedBackground:
    """iid backgrounds stratified by GC content: one stratum ``"gc<level>"`` per level.

    Parameters
    ----------
    length : int
        Sequence length (>= 1).
    gc_levels : sequence of float, default (0.35, 0.5, 0.65)
        GC fraction of each stratum, in [0, 1].
    weights : sequence of float, optional
        Population share of each level (>= 0, summing to 1); default equal.
    alphabet : {"dna", "rna"}, default "dna"
        Alphabet of the sequences.

    Returns
    -------
    StratifiedBackground

    Raises
    ------
    OptionError
        On a bad ``length``, GC level or weights.

    Examples
    --------
    >>> gc_strata(30).names
    ('gc0.35', 'gc0.5', 'gc0.65')
    """
    from .backgrounds import iid

    strata = {f"gc{g:g}": iid(length, gc=g, alphabet=alphabet) for g in gc_levels}
    w = None if weights is None else dict(zip(strata, weights, strict=True))
    return stratified(strata, weights=w)


def _gc_of(codes: np.ndarray) -> np.ndarray:
    return ((codes == 1) | (codes == 2)).mean(axis=1)


def background_gc(
    design: Design, ids: np.ndarray | None = None, *, window: tuple[int, int] | None = None
) -> pd.DataFrame:
    """GC fraction of every background of a design (regenerated from its keyed streams).

    A covariate table for :func:`causalgia.stats.adjustment.estimate_adjusted`: columns
    ``background_id, gc`` (and ``stratum`` for a stratified background). ``window`` restricts
    GC to ``[start, stop)``.

    Examples
    --------
    >>> from causalgia.experiment.backgrounds import iid
    >>> d = design(iid(40, gc=0.6), [Arm("a", Substitute("GATA", 3))], n=3, rng=1)
    >>> list(background_gc(d).columns)
    ['background_id', 'gc']
    """
    ids = design.background_ids if ids is None else np.asarray(ids, dtype=np.int64)
    codes = design.background.generate(ids, design.seed)
    if window is not None:
        codes = codes[:, window[0] : window[1]]
    out = pd.DataFrame({"background_id": ids, "gc": _gc_of(codes)})
    if isinstance(design.background, StratifiedBackground):
        out["stratum"] = design.background.strata(ids)
    return out


def expected_gc(background: Background, *, window: tuple[int, int] | None = None) -> float:
    """Population mean GC fraction of a site-independent or stratified background.

    Examples
    --------
    >>> from causalgia.experiment.backgrounds import iid
    >>> round(expected_gc(iid(10, gc=0.42)), 12)
    0.42
    """
    a, b = (0, background.length) if window is None else window
    if isinstance(background, StratifiedBackground):
        parts = [expected_gc(m, window=window) for m in background.members]
        return float(np.dot(background.weights, parts))
    probs = getattr(background, "probs", None)
    if probs is None and getattr(background, "composition", None) is not None:
        probs = np.tile(background.composition, (background.length, 1))  # type: ignore[attr-defined]
    if probs is None:
        raise OptionError(
            f"the population GC of a {background.kind} background is not known in closed form; "
            "estimate it from a large sample with background_gc"
        )
    return float(np.mean(np.asarray(probs)[a:b, 1] + np.asarray(probs)[a:b, 2]))
