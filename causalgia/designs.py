"""Randomized designs: which backgrounds, which arms, and the seed of every unit.

A *unit* is one background draw, identified by ``background_id`` (0..n-1). In the default
**paired** design every background is evaluated once as it is (the control, shared by all
arms) and once under each arm's intervention. In the **completely randomized** design each
background is assigned at random to the control or to exactly one arm, as a wet-lab library
would be.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from ._options import check_int, check_option
from ._rng import RngLike, root_seed, uniforms, unit_keys
from .backgrounds import Background
from .errors import InterventionError, OptionError
from .interventions import Compose, Intervention, Strand, Substitute, _motif
from .motifs import Motif

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

    def keys(self, seed: int, ids: np.ndarray) -> np.ndarray:
        """The stream key of this arm's intervention for each background id."""
        return unit_keys(seed, ids, "arm", self.experiment, self.label)


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
        """Randomized design: arm index per background (-1 = control), keyed by background id."""
        if self.kind != "randomized":
            raise OptionError("assignment() exists only for kind='randomized'")
        ids = self.background_ids if ids is None else np.asarray(ids)
        u = uniforms(unit_keys(self.seed, ids, "assign"), 1)[:, 0]
        return np.floor(u * (len(self.arms) + 1)).astype(np.int64) - 1

    def with_seed(self, rng: RngLike) -> Design:
        """The same design under another root seed."""
        return replace(self, seed=root_seed(rng))

    @property
    def n_forward(self) -> int:
        """Forward passes at most: n·(arms+1) when paired, n when randomized."""
        return self.n * (len(self.arms) + 1) if self.kind == "paired" else self.n

    def to_frame(self) -> pd.DataFrame:
        """One row per unit: experiment, label, parameters, background_id, arm, unit_seed.

        Examples
        --------
        >>> from causalgia.backgrounds import iid
        >>> d = design(iid(20), [Arm("a", Substitute("GATA", 3))], n=4, rng=1)
        >>> d.to_frame()["label"].tolist()
        ['control', 'control', 'control', 'control', 'a', 'a', 'a', 'a']
        """
        ids = self.background_ids
        bg_keys = unit_keys(self.seed, ids, "background")
        rows = [self._rows(CONTROL, CONTROL, {}, ids, bg_keys)]
        assign = self.assignment() if self.kind == "randomized" else None
        for index, arm in enumerate(self.arms):
            mine = ids if assign is None else ids[assign == index]
            rows.append(
                self._rows(arm.experiment, arm.label, arm.params, mine, arm.keys(self.seed, mine))
            )
        if assign is not None:
            rows[0] = self._rows(CONTROL, CONTROL, {}, ids[assign == -1], bg_keys[assign == -1])
        return pd.concat(rows, ignore_index=True)

    def _rows(
        self,
        experiment: str,
        label: str,
        params: Mapping[str, Any],
        ids: np.ndarray,
        keys: np.ndarray,
    ) -> pd.DataFrame:
        frame = pd.DataFrame({"experiment": experiment, "label": label}, index=range(len(ids)))
        for name in self.param_names:
            frame[name] = params.get(name)
        frame["background_id"] = ids
        frame["arm"] = "control" if label == CONTROL else "do"
        frame["unit_seed"] = keys
        return frame


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

    Examples
    --------
    >>> from causalgia.backgrounds import iid
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

    Examples
    --------
    >>> [a.label for a in sweep_spacing("GATA", [0, 3], start=2)]
    ['GATA+GATA+gap0', 'GATA+GATA+gap3']
    """
    second = motif if motif_b is None else motif_b
    width = _motif(motif).width
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
