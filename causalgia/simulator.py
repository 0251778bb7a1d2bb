"""Run a design on a model: the network as a simulator of potential outcomes.

Backgrounds are generated chunk by chunk from keyed streams, every arm's intervention is applied
with its own keyed stream, and the model is run in batches. In a paired design each background's
control prediction f(x) is computed once and shared by every arm, so P arms over n backgrounds
cost at most (P + 1)·n forward passes; an arm that leaves a sequence unchanged (the placebo, a
mutation to the base already there) reuses f(x) and costs nothing, so its ICE is exactly 0.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ._options import check_int
from ._rng import RngLike
from .designs import CONTROL, Design
from .errors import ModelOutputError, SimulationError
from .models import Model, as_model

DEFAULT_CHUNK = 2048


@dataclass(frozen=True)
class SimulationResult:
    """Outcomes of a design on a model.

    ``table`` is the paired ICE table (one row per arm × background: experiment, label,
    parameters, background_id, y_control, y_do, ice) or, for a randomized design, the outcome
    table (one row per background: experiment, label, parameters, background_id, y).
    """

    table: pd.DataFrame
    kind: Literal["paired", "randomized"]
    design: Design
    seed: int
    model_fingerprint: str
    n_forward: int

    def to_frame(self) -> pd.DataFrame:
        """A copy of the unit table."""
        return self.table.copy()


def _chunks(n: int, size: int) -> list[np.ndarray]:
    return [np.arange(a, min(a + size, n), dtype=np.int64) for a in range(0, n, size)]


def _predict(
    model: Model,
    codes: np.ndarray,
    batch_size: int | None,
    where: str,
    names: list[str],
    ids: np.ndarray,
) -> np.ndarray:
    """Predict, naming the arm and background of any non-finite output."""
    try:
        return model.predict(codes, batch_size=batch_size)
    except ModelOutputError as err:
        rows = getattr(err, "rows", None)
        if rows is None:
            raise ModelOutputError(f"{where}: {err}") from None
        units = [f"{names[r]} background {int(ids[r])}" for r in rows[:5]]
        raise ModelOutputError(
            f"{where}: non-finite model output for {len(rows)} unit(s): {'; '.join(units)}"
        ) from None
    except Exception as err:
        raise SimulationError(f"{where}: the model raised {type(err).__name__}: {err}") from err


def _paired_chunk(
    model: Model, design: Design, ids: np.ndarray, batch_size: int | None, where: str
) -> tuple[np.ndarray, list[np.ndarray], int]:
    """f(x) per background and f(do(x)) per arm for one chunk of background ids."""
    bg = design.background.generate(ids, design.seed)
    seqs, owners, rows = [bg], [CONTROL] * len(ids), [ids]
    changed = []
    for arm in design.arms:
        do = arm.intervention.apply_keyed(bg, arm.keys(design.seed, ids))
        diff = np.any(do != bg, axis=1)
        changed.append(diff)
        seqs.append(do[diff])
        owners += [arm.label] * int(diff.sum())
        rows.append(ids[diff])
    stacked = np.concatenate(seqs)
    y = _predict(model, stacked, batch_size, where, owners, np.concatenate(rows))
    y_control = y[: len(ids)]
    y_do, offset = [], len(ids)
    for diff in changed:
        arm_y = y_control.copy()
        k = int(diff.sum())
        arm_y[diff] = y[offset : offset + k]
        offset += k
        y_do.append(arm_y)
    return y_control, y_do, len(stacked)


def _randomized_chunk(
    model: Model, design: Design, ids: np.ndarray, batch_size: int | None, where: str
) -> tuple[np.ndarray, np.ndarray]:
    """Assigned arm index (-1 = control) and f of the assigned sequence per background."""
    bg = design.background.generate(ids, design.seed)
    assign = design.assignment(ids)
    seqs = bg.copy()
    for index, arm in enumerate(design.arms):
        mine = assign == index
        if mine.any():
            seqs[mine] = arm.intervention.apply_keyed(bg[mine], arm.keys(design.seed, ids[mine]))
    names = [CONTROL if a < 0 else design.arms[a].label for a in assign]
    return assign, _predict(model, seqs, batch_size, where, names, ids)


def _param_frame(design: Design, arm_index: np.ndarray) -> pd.DataFrame:
    """Experiment, label and parameter columns for rows given by arm index (-1 = control)."""
    rows = [{"experiment": CONTROL, "label": CONTROL}] + [
        {"experiment": arm.experiment, "label": arm.label, **arm.params} for arm in design.arms
    ]
    lookup = pd.DataFrame(rows, columns=["experiment", "label", *design.param_names])
    return lookup.iloc[np.asarray(arm_index) + 1].reset_index(drop=True)


def simulate(
    model: Model,
    design: Design,
    *,
    rng: RngLike = None,
    batch_size: int | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    progress: bool | None = None,
) -> SimulationResult:
    """Evaluate ``design`` on ``model`` and return the per-unit outcome table.

    ``rng`` re-seeds the design when given (otherwise the design's recorded seed is used).
    Results are identical for any ``batch_size`` and ``chunk_size``, because every random draw
    is keyed by the unit and the model sees each sequence exactly once. ``progress`` shows a
    tqdm bar (default: only on a terminal).

    Examples
    --------
    >>> from causalgia.backgrounds import iid
    >>> from causalgia.designs import design, sweep_positions
    >>> from causalgia.testing import AdditiveOracle
    >>> oracle = AdditiveOracle.from_motif("GATA", length=30)
    >>> d = design(iid(30), sweep_positions("GATA", [5, 20]), n=50, rng=1)
    >>> res = simulate(as_model(oracle), d)
    >>> res.table.shape[0], res.n_forward <= 150
    (100, True)
    """
    model = as_model(model)
    if rng is not None:
        design = design.with_seed(rng)
    check_int("chunk_size", chunk_size, minimum=1)
    per_chunk = (
        max(1, chunk_size // (len(design.arms) + 1)) if design.kind == "paired" else (chunk_size)
    )
    show = sys.stderr.isatty() if progress is None else progress
    chunks = _chunks(design.n, per_chunk)
    n_forward = 0
    y_control, y_do = [], [[] for _ in design.arms]
    assigned, y_rand = [], []
    with tqdm(total=design.n, unit="bg", disable=not show, desc="simulate") as bar:
        for number, ids in enumerate(chunks):
            where = f"chunk {number} (backgrounds {ids[0]}..{ids[-1]})"
            if design.kind == "paired":
                yc, yd, used = _paired_chunk(model, design, ids, batch_size, where)
                y_control.append(yc)
                for store, values in zip(y_do, yd, strict=True):
                    store.append(values)
                n_forward += used
            else:
                a, y = _randomized_chunk(model, design, ids, batch_size, where)
                assigned.append(a)
                y_rand.append(y)
                n_forward += len(ids)
            bar.update(len(ids))
    if design.kind == "paired":
        table = _paired_table(design, np.concatenate(y_control), [np.concatenate(v) for v in y_do])
    else:
        arm_index = np.concatenate(assigned)
        table = _param_frame(design, arm_index)
        table["background_id"] = design.background_ids
        table["y"] = np.concatenate(y_rand)
    return SimulationResult(
        table,
        design.kind,
        design,
        design.seed,
        model.fingerprint(design.background.length),
        n_forward,
    )


def _paired_table(design: Design, y_control: np.ndarray, y_do: list[np.ndarray]) -> pd.DataFrame:
    n_arms = len(design.arms)
    table = _param_frame(design, np.repeat(np.arange(n_arms), design.n))
    table["background_id"] = np.tile(design.background_ids, n_arms)
    table["y_control"] = np.tile(y_control, n_arms)
    table["y_do"] = np.concatenate(y_do)
    table["ice"] = table["y_do"].to_numpy() - table["y_control"].to_numpy()
    return table
