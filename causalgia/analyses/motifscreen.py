"""Motif-database screens: every motif of a MEME/JASPAR file at a set of positions, ranked.

Basset's analysis (Kelley et al. 2016, *Genome Research*) inserts every known motif into
background sequences and measures the model's response. :func:`motif_screen` lays it out as
one paired design (one arm per motif × position, :func:`~causalgia.experiment.sweep_motifs`),
simulates it, estimates every arm with :func:`~causalgia.stats.estimate_ace` (BH q-values
within the experiment) and ranks the motifs by their mean ACE over positions with
:func:`~causalgia.analyses.rank_motifs` (the estimand is in :mod:`causalgia.analyses.motifranking`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from .._options import check_option
from .._rng import RngLike
from ..engine.declaration import as_model
from ..engine.models import Model
from ..engine.simulator import SimulationResult, simulate
from ..errors import OptionError
from ..experiment.backgrounds import Background
from ..experiment.designs import design
from ..experiment.screens import SCREEN_EXPERIMENT, Instance, select_motifs, sweep_motifs
from ..sequences.motifs import Motif
from ..stats.display import html_block, html_table, repr_lines
from ..stats.estimators import Adjustment, Method, estimate_ace
from .motifranking import GROUP_COLUMNS, Order, rank_motifs


@dataclass(frozen=True)
class MotifScreen:
    """A motif-database screen: the ranked motifs, every arm's ACE and the units behind them.

    Attributes
    ----------
    ranked : DataFrame
        One row per motif, best first (:func:`rank_motifs`).
    ace : DataFrame
        One row per motif × position arm (:func:`~causalgia.stats.estimate_ace`; BH q-values
        within the experiment).
    ice : DataFrame
        The unit table (one row per background and arm).
    method : str
        The estimator of the arms and of the summaries.
    ci : float
        Confidence level of every interval.
    result : SimulationResult, optional
        The simulation, when :func:`motif_screen` ran it.

    Examples
    --------
    >>> from causalgia.experiment.backgrounds import iid
    >>> from causalgia.testing import AdditiveOracle
    >>> screen = motif_screen(AdditiveOracle.from_motif("GATA", 20), iid(20),
    ...                       ["GATA", "CCCC"], [2, 10], n=30, rng=1)
    >>> screen.to_frame()["motif"].tolist()
    ['GATA', 'CCCC']
    """

    ranked: pd.DataFrame
    ace: pd.DataFrame
    ice: pd.DataFrame
    method: str
    ci: float
    result: SimulationResult | None = None

    def to_frame(self) -> pd.DataFrame:
        """The ranked table (a copy).

        Returns
        -------
        DataFrame
            See :func:`rank_motifs`.

        Examples
        --------
        >>> from causalgia.experiment.backgrounds import iid
        >>> from causalgia.testing import AdditiveOracle
        >>> screen = motif_screen(AdditiveOracle.from_motif("GATA", 20), iid(20),
        ...                       ["GATA", "CCCC"], [2, 10], n=30, rng=1)
        >>> list(screen.to_frame().columns[:4])
        ['rank', 'experiment', 'motif', 'method']
        """
        return self.ranked.copy()

    def matrix(self, column: str = "ace") -> pd.DataFrame:
        """A column of the arms' table as motif (rows, in rank order) × position (columns).

        Parameters
        ----------
        column : str, default "ace"
            A column of :attr:`ace` (e.g. ``se``, ``ci_low``, ``q_value``).

        Returns
        -------
        DataFrame
            Indexed by motif (ranked) and, for several screens, by experiment first.

        Examples
        --------
        >>> from causalgia.experiment.backgrounds import iid
        >>> from causalgia.testing import AdditiveOracle
        >>> screen = motif_screen(AdditiveOracle.from_motif("GATA", 20), iid(20),
        ...                       ["GATA", "CCCC"], [2, 10], n=30, rng=1)
        >>> screen.matrix().shape
        (2, 2)
        """
        if column not in self.ace.columns:
            raise OptionError(f"column {column!r} is not in the ACE table {list(self.ace.columns)}")
        keys = [c for c in GROUP_COLUMNS if c in self.ranked.columns]
        index = [*keys, "motif"] if self.ranked["experiment"].nunique() > 1 else ["motif"]
        rows = self.ace[self.ace["motif"].notna() & self.ace["position"].notna()]
        grid = rows.pivot_table(index=[*keys, "motif"], columns="position", values=column,
                                aggfunc="first", dropna=False)  # fmt: skip
        grid = grid.loc[pd.MultiIndex.from_frame(self.ranked[[*keys, "motif"]])]
        return grid.droplevel(list(range(len(keys)))) if index == ["motif"] else grid

    def summary(self) -> str:
        """The screen in a few lines: size, discoveries and the five top motifs.

        Returns
        -------
        str
            A header, then one line per top motif: mean ACE with its interval and q-value.

        Examples
        --------
        >>> from causalgia.experiment.backgrounds import iid
        >>> from causalgia.testing import AdditiveOracle
        >>> screen = motif_screen(AdditiveOracle.from_motif("GATA", 20), iid(20),
        ...                       ["GATA", "CCCC"], [2, 10], n=30, rng=1)
        >>> screen.summary().splitlines()[0]
        'MotifScreen: 2 motifs x 2 positions (paired_t, 95% CI); 2 motifs with q < 0.05'
        """
        t = self.ranked
        k = int(t["n_positions"].iloc[0]) if len(t) else 0
        hits = int((t["q_value"] < 0.05).sum())
        lines = [f"MotifScreen: {t['motif'].nunique()} motifs x {k} positions ({self.method}, "
                 f"{self.ci:.0%} CI); {hits} motifs with q < 0.05"]  # fmt: skip
        lines += [
            f"  {r.rank}. {r.motif}: mean ACE {r.mean_ace:+.4g} [{r.ci_low:+.4g}, {r.ci_high:+.4g}]"
            f"  q {r.q_value:.3g}  best at {r.best_position} ({r.best_ace:+.4g})"
            for r in t.head(5).itertuples()
        ]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return repr_lines(*self.summary().splitlines())

    def _repr_html_(self) -> str:
        shown = self.ranked.drop(columns=[c for c in self.ranked if c.startswith("ace_at_")])
        return html_block(repr(self), html_table(shown, caption="ranked motifs", bar="mean_ace"))


def _in_alphabet(motif: Motif, model: Model) -> Motif:
    """A DNA motif in an RNA model's alphabet (T and U share one code), or as it is."""
    return motif if motif.alphabet == model.alphabet else replace(motif, alphabet=model.alphabet)


def motif_screen(
    model: Model | Any,
    background: Background,
    motifs: str | Path | Sequence[Motif | str],
    positions: Sequence[int],
    *,
    n: int,
    names: Sequence[str] | None = None,
    max_motifs: int | None = None,
    strand: Literal["+", "-"] = "+",
    instance: Instance = "sample",
    kind: Literal["paired", "randomized"] = "paired",
    method: Method | None = None,
    ci: float = 0.95,
    order: Order = "decreasing",
    experiment: str = SCREEN_EXPERIMENT,
    multiple_testing: Adjustment = "fdr_bh",
    rng: RngLike = None,
    batch_size: int | None = None,
    progress: bool | None = False,
) -> MotifScreen:
    """Screen every motif of a database at every position, in one design, and rank them.

    One arm per motif × position over the same ``n`` backgrounds (paired by default), so a
    screen of M motifs at K positions costs (M·K + 1)·n forward passes.

    Parameters
    ----------
    model : Model or callable
        The model, or a callable that :func:`~causalgia.engine.as_model` can wrap.
    background : Background
        The background population P_B.
    motifs : str, Path or sequence of Motif or str
        A MEME or JASPAR file, or the motifs (see :func:`~causalgia.experiment.select_motifs`).
        Motifs are used in the model's alphabet (T and U share one code).
    positions : sequence of int
        0-based start positions; every motif must fit at each.
    n : int
        Number of backgrounds (>= 2).
    names : sequence of str, optional
        Motifs to screen, by name or alt name; default every motif of the file.
    max_motifs : int, optional
        Screen at most this many motifs (the first ones, after ``names``).
    strand : {"+", "-"}, default "+"
        Strand of every instance.
    instance : {"sample", "consensus"}, default "sample"
        A PWM-sampled instance per unit and arm, or the consensus.
    kind : {"paired", "randomized"}, default "paired"
        The design.
    method : str, optional
        Estimator (:func:`~causalgia.stats.estimate_ace`); default ``"paired_t"`` (paired) or
        ``"welch"`` (randomized).
    ci : float, default 0.95
        Confidence level.
    order : {"decreasing", "increasing", "magnitude"}, default "decreasing"
        How motifs are ranked (:func:`rank_motifs`).
    experiment : str, default "motif_screen"
        Experiment name of the arms.
    multiple_testing : {"fdr_bh", "fdr_by", "bonferroni", "holm", "none"}, default "fdr_bh"
        Adjustment of the q-values (arms within the experiment; summaries over motifs).
    rng : int, Generator or None
        Root seed of the design (backgrounds and motif instances) and of resampling.
    batch_size : int, optional
        Forward-pass batch size; default the model's.
    progress : bool or None, default False
        Progress display of the simulation (None: a bar on a terminal).

    Returns
    -------
    MotifScreen

    Raises
    ------
    MotifError
        On an unreadable motif file or an unknown motif name (with close names).
    InterventionError
        When a motif does not fit at a position (naming both).

    Examples
    --------
    >>> from causalgia.experiment.backgrounds import iid
    >>> from causalgia.testing import AdditiveOracle
    >>> screen = motif_screen(AdditiveOracle.from_motif("GATA", 20), iid(20),
    ...                       ["GATA", "CCCC", "TTTT"], [2, 10], n=40, rng=1)
    >>> screen.ranked["motif"].iloc[0]
    'GATA'
    """
    model = as_model(model)
    check_option("kind", kind, ("paired", "randomized"))
    method = method or ("paired_t" if kind == "paired" else "welch")
    chosen = [_in_alphabet(m, model) for m in
              select_motifs(motifs, names=names, max_motifs=max_motifs)]  # fmt: skip
    arms = sweep_motifs(chosen, positions, strand=strand, instance=instance,
                        experiment=experiment, length=background.length)  # fmt: skip
    result = simulate(model, design(background, arms, n=n, kind=kind, rng=rng),
                      batch_size=batch_size, progress=progress)  # fmt: skip
    est = estimate_ace(result, method=method, ci=ci, rng=rng, multiple_testing=multiple_testing)
    ranked = rank_motifs(est, result, method=method, ci=ci, order=order, rng=rng,
                         multiple_testing=multiple_testing)  # fmt: skip
    return MotifScreen(ranked, est.table, result.table, method, est.ci, result)
