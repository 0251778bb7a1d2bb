"""Background sensitivity: does an effect depend on the background population chosen?

The same arms run under several background populations (profile, k-let shuffles, Markov, real
sequences). The spread of each ACE across them is tested with Cochran's Q (statsmodels'
``combine_effects``), and each population's distance from the data it stands in for is reported
two ways: the Jensen–Shannon divergence of k-mer spectra and a two-sample KS test of the model's
outputs. The result is a :class:`~causalgia.checks.controls.CheckResult` that
:func:`~causalgia.checks.controls.evaluate_controls` shows with the other controls.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial.distance import jensenshannon
from statsmodels.stats.meta_analysis import combine_effects

from .._options import check_int, check_probability
from .._rng import RngLike, root_seed
from ..errors import OptionError
from ..experiment.backgrounds import Background
from ..experiment.designs import Arm, design
from ..stats.estimators import estimate_ace
from .controls import CheckResult


def kmer_spectrum(codes: np.ndarray, k: int = 3) -> np.ndarray:
    """Frequencies of the 4**k k-mers in codes ``(N, L)`` (windows containing N are skipped).

    Examples
    --------
    >>> from causalgia.sequences.alphabet import encode
    >>> float(kmer_spectrum(encode(["AAAA"]), k=2)[0])
    1.0
    """
    k = check_int("k", k, minimum=1)
    arr = np.asarray(codes, dtype=np.int64)
    win = np.lib.stride_tricks.sliding_window_view(arr, k, axis=1)
    ok = (win < 4).all(axis=-1)
    index = (win * 4 ** np.arange(k - 1, -1, -1)).sum(axis=-1)[ok]
    counts = np.bincount(index, minlength=4**k).astype(float)
    return counts / max(counts.sum(), 1.0)


def background_sensitivity(
    model: Any,
    arms: Sequence[Arm],
    backgrounds: Mapping[str, Background],
    *,
    n: int = 300,
    reference: np.ndarray | Background | None = None,
    k: int = 3,
    alpha: float = 0.05,
    rng: RngLike = None,
) -> CheckResult:
    """Run the same arms under several background populations and compare.

    Parameters
    ----------
    model : Model or callable
        Passed to :func:`~causalgia.engine.models.as_model`.
    arms : sequence of Arm
        The experiments to repeat.
    backgrounds : mapping of name to Background
        E.g. ``{"iid": iid(41), "dinuc shuffle": kshuffle(seqs), "real": real(seqs)}``.
    n : int
        Backgrounds per population.
    reference : codes (N, L) or Background, optional
        The data the backgrounds stand in for (real sequences). Default: the first background.
    k : int
        k of the k-mer spectrum divergence.
    alpha : float
        Level of the heterogeneity test.
    rng : int, Generator or None
        Root seed (each population's design uses it).

    Returns
    -------
    CheckResult
        ``table``: one row per (background, arm): ACE, SE, the arm's ACE range and
        heterogeneity p-value across backgrounds (Cochran's Q via ``combine_effects``), and the
        background's k-mer Jensen-Shannon divergence (bits) and KS statistic / p-value of model
        outputs against the reference. ``passed``: no arm's ACE differs across backgrounds
        (Bonferroni over arms at ``alpha``).

    Examples
    --------
    >>> from causalgia.experiment.backgrounds import iid
    >>> from causalgia.testing import RBPOracle
    >>> from causalgia.experiment.designs import sweep_positions
    >>> res = background_sensitivity(RBPOracle(), sweep_positions("UGCAUG", [18]),
    ...     {"gc 0.4": iid(41, gc=0.4, alphabet="rna"), "gc 0.6": iid(41, gc=0.6, alphabet="rna")},
    ...     n=100, rng=1)
    >>> sorted(res.table["background"].unique())
    ['gc 0.4', 'gc 0.6']
    """
    from ..engine.declaration import as_model
    from ..engine.simulator import simulate

    if len(backgrounds) < 2:
        raise OptionError("background_sensitivity needs at least 2 backgrounds")
    alpha = check_probability("alpha", alpha)
    m = as_model(model)
    seed = root_seed(rng)
    names = list(backgrounds)
    if reference is None:
        reference = backgrounds[names[0]]
    ref_codes = reference.sample(n, rng=seed) if isinstance(reference, Background) else reference
    ref_codes = np.asarray(ref_codes)
    ref_spec, ref_out = kmer_spectrum(ref_codes, k), m.predict(ref_codes)
    frames = []
    for name, bg in backgrounds.items():
        result = simulate(m, design(bg, arms, n=n, rng=seed), progress=False)
        est = estimate_ace(result).to_frame()
        codes = bg.generate(np.arange(n), seed)
        ks = stats.ks_2samp(m.predict(codes), ref_out)
        est.insert(0, "background", name)
        est["js_divergence"] = float(jensenshannon(kmer_spectrum(codes, k), ref_spec, base=2) ** 2)
        est["ks_statistic"], est["ks_p_value"] = float(ks.statistic), float(ks.pvalue)
        frames.append(est)
    table = pd.concat(frames, ignore_index=True)
    spread = []
    for (_e, _l), sub in table.groupby(["experiment", "label"], sort=False):
        het = np.nan
        if (sub["se"] > 0).all():
            res = combine_effects(sub["ace"].to_numpy(), sub["se"].to_numpy() ** 2)
            het = float(res.test_homogeneity().pvalue)
        ace_range = float(sub["ace"].max() - sub["ace"].min())
        spread.append(
            {"experiment": _e, "label": _l, "ace_range": ace_range, "heterogeneity_p": het}
        )
    spread_df = pd.DataFrame(spread)
    table = table.merge(spread_df, on=["experiment", "label"], how="left")
    keep = ["background", "experiment", "label", "ace", "se", "ci_low", "ci_high", "ace_range",
            "heterogeneity_p", "js_divergence", "ks_statistic", "ks_p_value"]  # fmt: skip
    table = table[keep]
    het_p = spread_df["heterogeneity_p"].to_numpy(dtype=float)
    passed = bool(np.all(np.nan_to_num(het_p, nan=1.0) >= alpha / len(spread_df)))
    worst = spread_df.loc[spread_df["ace_range"].idxmax()]
    far = table.groupby("background", sort=False)["js_divergence"].first()
    text = (
        f"{len(names)} backgrounds: largest ACE range {worst['ace_range']:.3g} "
        f"({worst['label']}); k-mer JS divergence from the reference up to "
        f"{far.max():.3g} bits ({far.idxmax()}); "
        + ("no arm's ACE depends on the background" if passed
           else "the ACE depends on the background choice: report it per background")
    )  # fmt: skip
    return CheckResult("background_sensitivity", passed, table, text)
