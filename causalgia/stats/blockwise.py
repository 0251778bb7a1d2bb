"""The ACE of a paired table too large for memory, estimated block by block of whole arms.

Every estimate of :func:`~causalgia.stats.estimate_ace` depends only on its own group's units
(the t tests row by row, bootstrap and permutation streams keyed by seed, experiment and
label), and the q-values are adjusted within each experiment once every p-value is known. So a
table read as consecutive blocks of whole arms (``RunStore.arm_frames``) gives the estimates
of the whole table, bit for bit, while memory holds one block.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from .._options import check_int, check_option, check_probability
from .._rng import RngLike
from .estimators import (
    ADJUSTMENTS,
    METHODS,
    RESERVED,
    AceEstimates,
    _ace_table,
    _check_finite,
    _effects,
    _fast_effects,
    _integer_params,
    _outcome_columns,
    _require,
)
from .status import too_few, with_status

__all__ = ["estimate_ace_blocks"]


def estimate_ace_blocks(
    blocks: Iterable[pd.DataFrame],
    arms: pd.DataFrame,
    *,
    method: str = "paired_t",
    ci: float = 0.95,
    rng: RngLike = None,
    n_resamples: int = 9999,
    multiple_testing: str = "fdr_bh",
    units: pd.DataFrame | None = None,
) -> AceEstimates:
    """:func:`~causalgia.stats.estimate_ace` of a paired table given as blocks of whole arms.

    Parameters
    ----------
    blocks : iterable of DataFrame
        The paired ICE table in consecutive blocks; every arm's rows lie in one block.
    arms : DataFrame
        One row per arm with its experiment, label and parameter columns, typed as in the
        whole table (it decides which parameters stay integers).
    method, ci, rng, n_resamples, multiple_testing
        As for :func:`~causalgia.stats.estimate_ace` (``method`` not ``welch`` on blocks
        without ``y_do``).
    units : DataFrame, optional
        Units and dropped units per arm (``SimulationResult.units``): every arm is kept as a
        row with a ``status`` column, as :func:`~causalgia.stats.estimate_ace` does.

    Returns
    -------
    AceEstimates
        The same table as :func:`~causalgia.stats.estimate_ace` of the concatenated blocks.

    Examples
    --------
    >>> t = pd.DataFrame({"experiment": "e", "label": ["a"] * 3 + ["b"] * 3,
    ...                   "background_id": [0, 1, 2] * 2, "y_control": 0.0,
    ...                   "y_do": [1.0, 2.0, 3.0, 0.0, 0.0, 0.0]})
    >>> t["ice"] = t["y_do"] - t["y_control"]
    >>> arms = t.drop_duplicates("label")[["experiment", "label"]]
    >>> whole = estimate_ace_blocks([t], arms).to_frame()
    >>> whole.equals(estimate_ace_blocks([t.iloc[:3], t.iloc[3:]], arms).to_frame())
    True
    """
    check_option("method", method, METHODS)
    check_option("multiple_testing", multiple_testing, ADJUSTMENTS)
    ci = check_probability("ci", ci)
    n_resamples = check_int("n_resamples", n_resamples, minimum=1)
    outcomes = _outcome_columns("paired", method)
    params: list[str] | None = None
    rows: list[dict] = []
    for block in blocks:
        _require(block, ["experiment", "label", "background_id", *outcomes], "paired")
        _check_finite(block, outcomes)
        params = [c for c in block.columns if c not in RESERVED]
        kept = block if units is None else too_few(block, "paired")
        if not kept.empty:
            rows += _block_rows(kept, params, method, ci, rng, n_resamples)
    params = params if params is not None else [c for c in arms.columns if c not in RESERVED]
    out = _integer_params(_ace_table(rows, params, "paired", method, ci, multiple_testing),
                          arms, params)  # fmt: skip
    if units is None:
        return out
    return AceEstimates(with_status(out.table, units, "paired", method, params), method, ci)


def _block_rows(
    table: pd.DataFrame, params: list[str], method: str, ci: float, rng: RngLike, n_res: int
) -> list[dict]:
    """One dict per arm of ``table``: experiment, label, parameters, method and estimate."""
    fast = _fast_effects(table, "paired", method, ci, rng, n_res)
    if fast is not None:
        firsts, ests = fast
        records = firsts[["experiment", "label", *params]].to_dict("records")
        return [{**rec, "method": method, **est} for rec, est in zip(records, ests, strict=True)]
    return [
        {
            "experiment": first["experiment"],
            "label": first["label"],
            **first[params].to_dict(),
            "method": method,
            **est,
        }
        for first, est in _effects(table, "paired", method, ci, rng, n_res)
    ]
