"""The unit (ICE) table of a study: in memory, or read from the ledger in blocks of whole arms.

A paired study with more than :data:`STREAM_ROWS` unit rows (backgrounds × arms) is simulated
with ``collect=False``: its rows stay in ``ledger.sqlite`` and every consumer reads only what
it needs. The estimates read the table one block of arms at a time
(:func:`~causalgia.stats.blockwise.estimate_ace_blocks`: the same numbers, bit for bit),
placebo controls and pooled fits read the arms of their experiments, ``ice.parquet`` is
written block by block, and the ICE maps see 40 evenly spaced backgrounds. Memory is then
bounded by one block of :data:`~causalgia.engine.store.ARM_BLOCK_ROWS` rows instead of
growing with n (a pooled fit still holds its own experiments' rows).

Streaming is for models of one output functional only: a study of a model with several
declared outputs (``[model] outputs``) keeps its unit table in memory, T blocks of
backgrounds × arms rows (T outputs), because the ledger's arm blocks
(:meth:`~causalgia.engine.store.RunStore.arm_frames`) hold one value per unit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..engine.simulator import SimulationResult
from ..engine.store import ARM_BLOCK_ROWS, RunStore
from ..engine.tables import arm_table, arm_units
from ..experiment.designs import Design
from ..reporting.report import IceBlocks
from ..stats.blockwise import estimate_ace_blocks
from ..stats.estimators import AceEstimates, estimate_ace

__all__ = ["STREAM_ROWS", "UnitTable", "streams"]

STREAM_ROWS = ARM_BLOCK_ROWS  #: more unit rows: read in arm blocks of at most this many rows


def streams(design: Design, outputs: object = None) -> bool:
    """Whether a study of ``design`` keeps its unit table in the ledger, not in memory.

    Parameters
    ----------
    design : Design
        The study's design.
    outputs : OutputSet, optional
        The model's declared outputs (``Model.outputs``); a model with several outputs never
        streams (its table stays in memory).

    Returns
    -------
    bool
        True for a paired design with more than :data:`STREAM_ROWS` unit rows and a model of
        one output functional.

    Examples
    --------
    >>> from causalgia.experiment.backgrounds import iid
    >>> from causalgia.experiment.designs import design, sweep_positions
    >>> streams(design(iid(20), sweep_positions("GATA", [3]), n=10, rng=1))
    False
    """
    if outputs is not None:  # arm blocks hold one value per unit: one output functional
        return False
    return design.kind == "paired" and design.n * len(design.arms) > STREAM_ROWS


@dataclass(frozen=True)
class UnitTable:
    """A study's unit table: ``result.table``, or the ledger's arm blocks when streamed.

    Parameters
    ----------
    result : SimulationResult
        The simulation (its table is empty when the study streams).
    ledger : RunStore
        The run's ledger.
    streamed : bool
        Read the rows from ``ledger`` (see :func:`streams`).
    """

    result: SimulationResult
    ledger: RunStore
    streamed: bool

    @property
    def design(self) -> Design:
        """The simulated design."""
        return self.result.design

    def estimate(self, *, method: str, ci: float, rng: int) -> AceEstimates:
        """The ACE of every arm, as :func:`~causalgia.stats.estimate_ace` of the whole table.

        Parameters
        ----------
        method : str
            The estimator.
        ci : float
            Interval level.
        rng : int
            Seed of bootstraps and permutations.

        Returns
        -------
        AceEstimates
            One row per arm.
        """
        if not self.streamed:
            return estimate_ace(self.result, method=method, ci=ci, rng=rng)  # type: ignore[arg-type]
        return estimate_ace_blocks(
            self.ledger.arm_frames(self.design, STREAM_ROWS), arm_units(self.design, []),
            method=method, ci=ci, rng=rng, units=self.result.units,
        )  # fmt: skip

    def of(self, experiments: Sequence[str]) -> pd.DataFrame:
        """The rows of the arms of ``experiments``.

        Parameters
        ----------
        experiments : sequence of str
            Experiment names.

        Returns
        -------
        DataFrame
            Their rows of the unit table.
        """
        if not self.streamed:
            table = self.result.table
            return table[table["experiment"].isin(list(experiments))]
        wanted = [i for i, arm in enumerate(self.design.arms) if arm.experiment in experiments]
        return self.ledger.arm_frame(self.design, wanted)

    def for_report(self) -> pd.DataFrame | IceBlocks:
        """What :func:`~causalgia.reporting.write_report` writes as ``ice.parquet``.

        Returns
        -------
        DataFrame or IceBlocks
            The table, or its arm blocks read from the ledger.
        """
        if not self.streamed:
            return self.result.table
        d = self.design
        every = np.arange(len(d.arms))
        like = arm_table(d, every, np.zeros(1), np.zeros((len(every), 1)), np.zeros(1, np.int64))
        return IceBlocks(lambda: self.ledger.arm_frames(d, STREAM_ROWS), like)
