"""Calibration studies on oracles with known truth, rendered as docs/validation.md.

``causalgia validate`` (or :func:`validate`) runs simulated GIA studies on the oracle models
of :mod:`causalgia.testing`, whose true ACEs are known in closed form, and checks that the
intervals and tests mean what they say:

1. coverage of nominal 95% intervals — paired t, BCa bootstrap, cluster-robust (several
   positions per background) and the sequential confidence sequence — for n ∈ {10, 30, 100,
   300} backgrounds and homogeneous, heterogeneous and heavy-tailed ICE distributions, each
   with its Monte-Carlo SE (MCSE);
2. interval width relative to the oracle (known-variance) width 2·z·σ/√n;
3. type-I error at α = 0.05 of a negative control (shuffle ablation) and a placebo
   (resampling a window from P_B), with a Kolmogorov–Smirnov check of p-value uniformity;
4. power of the paired t test against analytic t power (``statsmodels.stats.power``);
5. realised FDR of Benjamini–Hochberg over mixed null / non-null panels;
6. forward passes of paired vs unpaired designs for the same interval width;
7. sequential stopping: coverage at the stopping time and forward passes saved;
8. rejection rates of the contrast tests on the planted and the null RBP oracle;
9. the hierarchical model's SBC section, when :mod:`causalgia.hierarchical` provides one.

Every study is a function of its own derived seed. Raw results are a JSON document whose
SHA-256 (of its canonical serialisation) is printed in the report; :func:`render_markdown`
renders the report from the raw results alone, so docs/validation.md is never hand-edited.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from ._rng import unit_keys
from ._validation_report import render_markdown
from .backgrounds import Background, iid
from .designs import Arm, design, sweep_counts, sweep_spacing
from .estimators import cluster_robust, paired_t, permutation_test
from .interventions import Ablate, Compose, Intervention, Mutate, Substitute
from .models import as_model
from .motifs import Motif
from .simulator import simulate
from .store import versions
from .testing import AdditiveOracle, HeavyTailOracle, PlantedRBPOracle

PWM = Motif.from_counts([[6, 2, 1, 1], [1, 1, 7, 1], [7, 1, 1, 1], [1, 1, 1, 7]], name="pwm")
Z95 = float(stats.norm.ppf(0.975))


@dataclass(frozen=True)
class ValidationConfig:
    """Replicate counts of every study. ``quick`` finishes in a few minutes on 2 cores.

    Examples
    --------
    >>> ValidationConfig.quick().reps, ValidationConfig.full().reps
    (200, 4000)
    """

    reps: int
    ns: tuple[int, ...] = (10, 30, 100, 300)
    n_boot: int = 1999
    n_perm: int = 1999
    power_reps: int = 4000
    fdr_reps: int = 1000
    seq_reps: int = 1000
    contrast_reps: int = 200
    pair_reps: int = 1000
    reference_n: int = 100_000
    seed: int = 20_250_301
    mode: str = "full"
    sbc: bool = True

    @classmethod
    def full(cls) -> ValidationConfig:
        """The published configuration: R = 4,000 coverage and type-I replicates."""
        return cls(reps=4000)

    @classmethod
    def quick(cls) -> ValidationConfig:
        """A few minutes: R = 200 and fewer replicates elsewhere."""
        return cls(
            reps=200,
            n_boot=999,
            n_perm=999,
            power_reps=400,
            fdr_reps=100,
            seq_reps=100,
            contrast_reps=20,
            pair_reps=100,
            reference_n=20_000,
            mode="quick",
        )


def _seed(config: ValidationConfig, *path: str | int) -> int:
    return int(unit_keys(config.seed, [0], "validation", *map(str, path))[0] >> np.uint64(1))


# --- regimes --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Regime:
    """An oracle, a background and arms whose true ACEs are known in closed form."""

    name: str
    description: str
    model: Any
    background: Background
    arms: tuple[Arm, ...]

    def truth(self) -> np.ndarray:
        """True ACE of every arm."""
        return np.array([self.model.true_ace(a.intervention, self.background) for a in self.arms])


def regimes() -> dict[str, Regime]:
    """The three ICE regimes of the coverage study (3 positions of a PWM-sampled motif each).

    Examples
    --------
    >>> sorted(regimes())
    ['heavy_tailed', 'heterogeneous', 'homogeneous']
    """

    def sweep(positions: tuple[int, ...]) -> tuple[Arm, ...]:
        return tuple(Arm(f"pwm@{p}", Substitute(PWM, p), "coverage") for p in positions)

    return {
        "homogeneous": Regime(
            "homogeneous",
            "linear PWM scanner, translation invariant: equal ACE at every position, "
            "near-normal ICEs; the three windows overlap, so a background's ICEs correlate",
            AdditiveOracle.from_motif(PWM, 40),
            iid(40),
            sweep((12, 14, 16)),
        ),
        "heterogeneous": Regime(
            "heterogeneous",
            "additive model with random position-specific weights: ACE and ICE spread differ "
            "across positions",
            AdditiveOracle(np.random.default_rng(0).normal(size=(30, 4))),
            iid(30),
            sweep((3, 12, 20)),
        ),
        "heavy_tailed": Regime(
            "heavy_tailed",
            "PWM scanner gated by exp(M), SD(M) = 1: lognormal-like ICEs (skewness ≈ 4, "
            "kurtosis ≈ 30)",
            HeavyTailOracle.from_motif(PWM, 40, modulated=(30, 40), sigma=1.0),
            iid(40),
            sweep((6, 14, 22)),
        ),
    }


def ice_blocks(regime: Regime, n: int, reps: int, seed: int, *, chunk: int = 120_000) -> np.ndarray:
    """ICEs of ``reps`` independent paired experiments of ``n`` backgrounds: ``(reps, n, arms)``.

    Replicate r is background ids ``r·n .. (r+1)·n − 1`` of one large keyed design (chunked),
    so replicates are independent draws from P_B and every ICE comes from
    :func:`~causalgia.simulator.simulate`.
    """
    model = as_model(regime.model)
    per = max(1, chunk // n)
    out = np.empty((reps, n, len(regime.arms)))
    for start in range(0, reps, per):
        r = min(per, reps - start)
        d = design(regime.background, regime.arms, n=r * n, rng=seed + start)
        table = simulate(model, d, progress=False).table
        for j, arm in enumerate(regime.arms):
            sub = table[table["label"] == arm.label].sort_values("background_id")
            out[start : start + r, :, j] = sub["ice"].to_numpy(float).reshape(r, n)
    return out


def _coverage_stats(hit: np.ndarray) -> dict[str, float]:
    """Coverage and its MCSE from a (reps, k) hit matrix (clustered by replicate)."""
    per_rep = hit.mean(axis=1)
    return {
        "coverage": float(per_rep.mean()),
        "mcse": float(per_rep.std(ddof=1) / np.sqrt(len(per_rep))) if len(per_rep) > 1 else 0.0,
        "intervals": int(hit.size),
    }


def _bca(x: np.ndarray, n_boot: int, gen: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """BCa 95% intervals of the mean of every row of ``x`` (scipy.stats.bootstrap).

    Rows are processed in chunks so that the bootstrap and jackknife arrays stay small.
    """
    n = x.shape[1]
    rows = max(1, 20_000_000 // (n * n))
    low, high = np.empty(len(x)), np.empty(len(x))
    for a in range(0, len(x), rows):
        part = x[a : a + rows]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = stats.bootstrap(
                (part,),
                np.mean,
                axis=-1,
                vectorized=True,
                n_resamples=n_boot,
                method="BCa",
                rng=gen,
                batch=max(1, 20_000_000 // part.size),
            )
        low[a : a + rows] = res.confidence_interval.low
        high[a : a + rows] = res.confidence_interval.high
    return low, high


def coverage_study(
    regime: Regime, n: int, reps: int, *, seed: int, n_boot: int, sd_true: np.ndarray
) -> list[dict[str, Any]]:
    """Coverage and relative width of paired t, BCa, cluster-robust and naive pooled intervals.

    ``sd_true``: true SD of every arm's ICE and, last, of the per-background mean over arms.
    """
    ice = ice_blocks(regime, n, reps, seed)
    truth = regime.truth()
    p = len(regime.arms)
    rows: list[dict[str, Any]] = []
    lo, hi = np.empty((reps, p)), np.empty((reps, p))
    for r in range(reps):
        for j in range(p):
            est = paired_t(ice[r, :, j])
            lo[r, j], hi[r, j] = est["ci_low"], est["ci_high"]
    oracle = 2 * Z95 * sd_true[:p] / np.sqrt(n)
    rows.append(_row("paired_t", lo, hi, truth, oracle))
    gen = np.random.default_rng(seed)
    flat = ice.transpose(0, 2, 1).reshape(reps * p, n)
    blo, bhi = _bca(flat, n_boot, gen)
    rows.append(_row("bootstrap_bca", blo.reshape(reps, p), bhi.reshape(reps, p), truth, oracle))
    pooled = float(truth.mean())
    clusters = np.repeat(np.arange(n), p)
    c_lo, c_hi, n_lo, n_hi = (np.empty((reps, 1)) for _ in range(4))
    for r in range(reps):
        units = ice[r].reshape(-1)
        est = cluster_robust(units, clusters)
        c_lo[r, 0], c_hi[r, 0] = est["ci_low"], est["ci_high"]
        naive = paired_t(units)
        n_lo[r, 0], n_hi[r, 0] = naive["ci_low"], naive["ci_high"]
    pooled_oracle = np.array([2 * Z95 * sd_true[p] / np.sqrt(n)])
    rows.append(_row("cluster_robust", c_lo, c_hi, np.array([pooled]), pooled_oracle))
    rows.append(_row("pooled_iid_wrong", n_lo, n_hi, np.array([pooled]), pooled_oracle))
    for row in rows:
        row.update(regime=regime.name, n=n, reps=reps)
    return rows


def _row(
    estimator: str, lo: np.ndarray, hi: np.ndarray, truth: np.ndarray, oracle: np.ndarray
) -> dict[str, Any]:
    ok = np.isfinite(lo) & np.isfinite(hi)
    hit = ok & (lo <= truth) & (truth <= hi)
    width = np.where(ok, hi - lo, np.nan)
    return {
        "estimator": estimator,
        **_coverage_stats(hit.astype(float)),
        "width_ratio": float(np.nanmean(width / oracle)),
        "failed": int((~ok).sum()),
    }


def reference_sd(regime: Regime, n: int, seed: int) -> np.ndarray:
    """True SD of each arm's ICE and of the per-background mean over arms (large sample)."""
    ice = ice_blocks(regime, n, 1, seed)[0]
    return np.r_[ice.std(axis=0, ddof=1), ice.mean(axis=1).std(ddof=1)]


# --- type-I error, power, FDR ---------------------------------------------------------------

NULL_ORACLE = AdditiveOracle(np.random.default_rng(0).normal(size=(30, 4)))
CONTROLS: dict[str, tuple[str, Intervention]] = {
    "negative control": ("shuffle ablation of [8, 20): ACE 0 under iid", Ablate(8, 20)),
    "placebo": (
        "window [8, 20) resampled from P_B (uniform letters): ACE 0 exactly",
        Ablate(8, 20, fill="random"),
    ),
}


def type_one_study(
    control: str, n: int, reps: int, *, seed: int, n_perm: int
) -> list[dict[str, Any]]:
    """Rejection rate at α = 0.05 and KS uniformity of paired-t and sign-flip p-values."""
    _, intervention = CONTROLS[control]
    assert abs(NULL_ORACLE.true_ace(intervention, iid(30))) < 1e-12
    regime = Regime(control, "", NULL_ORACLE, iid(30), (Arm("null", intervention, "null"),))
    ice = ice_blocks(regime, n, reps, seed)[:, :, 0]
    gen = np.random.default_rng(seed)
    p_t = np.array([paired_t(x)["p_value"] for x in ice])
    p_perm = np.array([permutation_test(x, n_resamples=n_perm, rng=gen) for x in ice])
    rows = []
    for test, p in (("paired_t", p_t), ("sign_flip", p_perm)):
        rate = float(np.mean(p < 0.05))
        ks = stats.kstest(p, "uniform")
        rows.append(
            {
                "control": control,
                "test": test,
                "n": n,
                "reps": reps,
                "rejection_rate": rate,
                "mcse": float(np.sqrt(0.05 * 0.95 / reps)),
                "ks_statistic": float(ks.statistic),
                "ks_p": float(ks.pvalue),
            }
        )
    return rows


def _shift_model(noise: int, c: float, length: int, seed: int = 7) -> AdditiveOracle:
    """Weights: random on ``[0, noise)``, ``c·(onehot(GATA) − 1/4)`` at the last 4 sites."""
    w = np.zeros((length, 4))
    w[:noise] = np.random.default_rng(seed).normal(size=(noise, 4))
    w[-4:] = c * (np.eye(4)[[2, 0, 3, 0]] - 0.25)
    return AdditiveOracle(w)


def _shift_effect_size(model: AdditiveOracle, noise: tuple[int, int], c: float) -> float:
    """ACE / SD(ICE) of Compose(random ablation of ``noise``, GATA at the end), closed form."""
    a, b = noise
    var_noise = 2.0 * float(np.sum(model.weights[a:b].var(axis=1)))
    return 3.0 * c / np.sqrt(var_noise + 0.75 * c**2)


def power_study(
    n: int, reps: int, *, seed: int, effects_se: tuple[float, ...]
) -> list[dict[str, Any]]:
    """Empirical power of the paired t test against ``statsmodels`` analytic power."""
    from statsmodels.stats.power import TTestPower

    length, noise = 30, 12
    rows = []
    for k, delta in enumerate(effects_se):
        d_target = delta / np.sqrt(n)
        base = _shift_model(noise, 1.0, length)
        c = 0.0
        if delta > 0:
            c = _solve(_gap(base, (0, noise), d_target), 1e-6, 50.0)
        model = _shift_model(noise, c, length)
        arm = Arm(
            "shift",
            Compose((Ablate(0, noise, fill="random"), Substitute("GATA", length - 4))),
            "power",
        )
        truth = model.true_ace(arm.intervention, iid(length))
        regime = Regime("power", "", model, iid(length), (arm,))
        ice = ice_blocks(regime, n, reps, seed + k)[:, :, 0]
        p = np.array([paired_t(x)["p_value"] for x in ice])
        d = _shift_effect_size(model, (0, noise), c) if c > 0 else 0.0
        analytic = float(TTestPower().power(effect_size=d, nobs=n, alpha=0.05))
        emp = float(np.mean(p < 0.05))
        mcse = float(np.sqrt(max(analytic * (1 - analytic), 1e-12) / reps))
        rows.append(
            {
                "effect_se": delta,
                "effect_size": d,
                "true_ace": truth,
                "n": n,
                "reps": reps,
                "analytic_power": analytic,
                "empirical_power": emp,
                "mcse": mcse,
                "z": (emp - analytic) / mcse,
            }
        )
    return rows


def _gap(base: AdditiveOracle, noise: tuple[int, int], d: float) -> Callable[[float], float]:
    return lambda c: _shift_effect_size(base, noise, c) - d


def _solve(f: Callable[[float], float], lo: float, hi: float) -> float:
    from scipy.optimize import brentq

    return float(brentq(f, lo, hi))


def fdr_study(
    reps: int, *, seed: int, n: int = 30, m: int = 50, nonnull: int = 10, d: float = 0.6
) -> list[dict[str, Any]]:
    """Realised FDR of BH (and BY) over panels of ``m`` effects, ``nonnull`` of them real."""
    from statsmodels.stats.multitest import multipletests

    length, noise = 60, 40
    base = _shift_model(noise, 1.0, length)
    windows = [(a, a + 8) for a in np.linspace(0, noise - 8, m).astype(int)]
    c = _solve(_gap(base, windows[0], d), 1e-6, 50.0)
    model = _shift_model(noise, c, length)
    arms = []
    for k, (a, b) in enumerate(windows):
        if k < nonnull:
            do: Intervention = Compose(
                (Ablate(a, b, fill="random"), Substitute("GATA", length - 4))
            )
        else:
            do = Ablate(a, b, fill="random")
        arms.append(Arm(f"arm{k}", do, "fdr"))
    regime = Regime("fdr", "", model, iid(length), tuple(arms))
    truth = regime.truth()
    null = np.isclose(truth, 0.0)
    ice = ice_blocks(regime, n, reps, seed)
    p = stats.ttest_1samp(ice, 0.0, axis=1).pvalue  # (reps, m): the paired t of each arm
    rows = []
    for method in ("fdr_bh", "fdr_by"):
        for q in (0.05, 0.10, 0.20):
            rej = np.array([multipletests(row, alpha=q, method=method)[0] for row in p])
            fdp = (rej & null).sum(axis=1) / np.maximum(rej.sum(axis=1), 1)
            rows.append(
                {
                    "method": method,
                    "q": q,
                    "reps": reps,
                    "m": m,
                    "nonnull": nonnull,
                    "effect_size": d,
                    "n": n,
                    "fdr": float(fdp.mean()),
                    "mcse": float(fdp.std(ddof=1) / np.sqrt(reps)),
                    "power": float((rej & ~null).sum(axis=1).mean() / nonnull),
                }
            )
    return rows


# --- paired vs unpaired ---------------------------------------------------------------------


def paired_unpaired_study(reps: int, *, seed: int, n: int = 100) -> list[dict[str, Any]]:
    """Forward passes of paired vs completely randomized designs for equal interval width.

    Analytic ratio (var y + var y_do)/var(ICE) from a large paired run, and the empirical
    ratio of squared mean interval widths over ``reps`` replicate experiments of each design
    at equal cost (2n forward passes: n paired backgrounds, or 2n randomized ones).
    """
    rbp = PlantedRBPOracle()
    cases = [(name, r.model, r.background, r.arms[0]) for name, r in regimes().items()] + [
        ("rbp_oracle", rbp, iid(41, alphabet="rna"), Arm("site", Substitute("UGCAUG", 17)))
    ]
    rows = []
    for k, (name, model, background, arm) in enumerate(cases):
        big = simulate(
            as_model(model), design(background, [arm], n=20_000, rng=seed + k), progress=False
        ).table
        v0, v1, vi = (float(big[c].var(ddof=1)) for c in ("y_control", "y_do", "ice"))
        widths_p, widths_u = [], []
        for r in range(reps):
            rs = seed + 1000 * (k + 1) + r
            paired = simulate(
                as_model(model), design(background, [arm], n=n, rng=rs), progress=False
            ).table
            widths_p.append(np.diff([*_ci(paired["ice"].to_numpy())]))
            rand = simulate(
                as_model(model),
                design(background, [arm], n=2 * n, kind="randomized", rng=rs),
                progress=False,
            ).table
            y1 = rand.loc[rand["label"] != "control", "y"].to_numpy()
            y0 = rand.loc[rand["label"] == "control", "y"].to_numpy()
            res = stats.ttest_ind(y1, y0, equal_var=False).confidence_interval(0.95)
            widths_u.append(res.high - res.low)
        rows.append(
            {
                "oracle": name,
                "corr": float(big[["y_control", "y_do"]].corr().iloc[0, 1]),
                "analytic_ratio": (v0 + v1) / vi,
                "empirical_ratio": float((np.mean(widths_u) / np.mean(widths_p)) ** 2),
                "reps": reps,
                "n": n,
            }
        )
    return rows


def _ci(x: np.ndarray) -> tuple[float, float]:
    est = paired_t(x)
    return est["ci_low"], est["ci_high"]


# --- sequential -----------------------------------------------------------------------------


def sequential_study(
    regime: Regime,
    reps: int,
    *,
    seed: int,
    sd_true: np.ndarray,
    n_equiv: int = 100,
    batch: int = 20,
) -> dict[str, Any]:
    """Coverage of the confidence sequence at the stopping round, and forward passes used
    against the fixed-n design of equal width computed with the *true* ICE SDs."""
    from .sequential import fixed_n_for_width, simulate_until

    p = len(regime.arms)
    sd = sd_true[:p]
    target = float(stats.t.ppf(0.975, n_equiv - 1) * sd.max() / np.sqrt(n_equiv))
    n_fixed = max(fixed_n_for_width(float(s), target) for s in sd)
    truth = regime.truth()
    hits, used, fixed, ns, widths = [], [], [], [], []
    for r in range(reps):
        res = simulate_until(
            regime.model,
            regime.background,
            regime.arms,
            half_width=target,
            batch=batch,
            max_n=20 * n_equiv,
            rng=seed + r,
        )
        t = res.estimates.table
        hits.append(((t["ci_low"] <= truth) & (truth <= t["ci_high"])).to_numpy(float))
        used.append(res.n_forward)
        per_background = res.rounds["n_forward"].iloc[0] / res.rounds["n_backgrounds"].iloc[0]
        fixed.append(n_fixed * per_background)
        ns.append(t["n"].to_numpy())
        widths.append((t["half_width"] / target).to_numpy())
    cov = _coverage_stats(np.array(hits))
    return {
        "regime": regime.name,
        "reps": reps,
        "arms": p,
        "target_half_width": target,
        "n_fixed": int(n_fixed),
        **cov,
        "mean_n": float(np.mean(ns)),
        "mean_forward": float(np.mean(used)),
        "fixed_forward": float(np.mean(fixed)),
        "saved_fraction": float(1.0 - np.mean(used) / np.mean(fixed)),
        "mean_width_over_target": float(np.mean(widths)),
    }


def mixed_panel() -> Regime:
    """A PWM insertion plus twelve single-base mutations: effects of very different variance."""
    model = AdditiveOracle(np.random.default_rng(0).normal(size=(30, 4)))
    arms = [Arm("pwm@12", Substitute(PWM, 12), "panel")]
    sites = (0, 2, 4, 6, 8, 10, 17, 20, 22, 24, 27, 29)
    arms += [Arm(f"mut{j}G", Mutate(j, "G"), "panel") for j in sites]
    return Regime(
        "mixed_panel",
        "one PWM insertion and twelve single-base mutations (a small global ICE map)",
        model,
        iid(30),
        tuple(arms),
    )


# --- contrasts ------------------------------------------------------------------------------


def contrast_arms() -> list[Arm]:
    """2×2 factorial, 1–3 copies and spacings 0–40 of UGCAUG on 100-nt RNA backgrounds."""
    from .designs import factorial

    arms = factorial(
        {"A": Substitute("UGCAUG", 15), "B": Substitute("UGCAUG", 70)}, experiment="pair"
    )
    arms += sweep_counts("UGCAUG", [1, 2, 3], positions=[30, 45, 60])
    arms += sweep_spacing("UGCAUG", list(range(41)), start=20)
    return arms


def contrast_study(reps: int, *, seed: int, n: int = 100) -> list[dict[str, Any]]:
    """Rejection rates at 0.05 of the four contrast tests on the planted and null oracles."""
    from . import contrasts as C

    rows = []
    for label, oracle in (
        ("planted", PlantedRBPOracle(helical=0.15)),
        ("null", PlantedRBPOracle.without_mechanisms()),
    ):
        p: dict[str, list[float]] = {k: [] for k in ("interaction", "additivity", "penalty")}
        p["periodicity"] = []
        for r in range(reps):
            res = simulate(
                as_model(oracle),
                design(iid(100, alphabet="rna"), contrast_arms(), n=n, rng=seed + r),
                progress=False,
            )
            p["interaction"].append(
                float(C.interaction(res, "A", "B", "A+B", experiment="pair").table.p_value[0])
            )
            add = C.additivity(res, n_resamples=1, rng=r).contrasts.table
            p["additivity"].append(float(add.set_index("count").loc[2, "p_value"]))
            p["penalty"].append(float(C.spacing_penalty(res, close=2).table.p_value[0]))
            p["periodicity"].append(
                float(C.periodicity(res, period=10.5, min_spacing=6).table.p_value[0])
            )
        for test, values in p.items():
            rows.append(
                {
                    "oracle": label,
                    "test": test,
                    "reps": reps,
                    "n": n,
                    "rejection_rate": float(np.mean(np.array(values) < 0.05)),
                }
            )
    return rows


# --- driver ---------------------------------------------------------------------------------


def run_validation(
    config: ValidationConfig | None = None,
    *,
    log: Callable[[str], None] | None = None,
    checkpoint: str | Path | None = None,
) -> dict[str, Any]:
    """Run every study and return the raw results (JSON-safe).

    With ``checkpoint``, the results so far are written there after every study, and a run
    with the same configuration picks up the studies already done (each study depends only on
    its own seed, so the results are those of an uninterrupted run).

    Examples
    --------
    >>> cfg = ValidationConfig(reps=3, ns=(10,), power_reps=3, fdr_reps=2, seq_reps=1,
    ...                        contrast_reps=1, pair_reps=1, reference_n=500, mode="test")
    >>> raw = run_validation(cfg)  # doctest: +SKIP
    """
    config = ValidationConfig.quick() if config is None else config
    say = log or (lambda msg: None)
    raw: dict[str, Any] = {"config": _jsonable(asdict(config)), "versions": versions()}
    path = None if checkpoint is None else Path(checkpoint)
    if path is not None and path.is_file():
        saved = json.loads(path.read_text())
        same = {k: v for k, v in saved.get("config", {}).items() if k != "sbc"}
        if same == {k: v for k, v in raw["config"].items() if k != "sbc"}:
            keep = (
                ("config", "versions")
                if config.sbc == saved["config"].get("sbc")
                else ("config", "versions", "sbc")
            )
            raw.update({k: v for k, v in saved.items() if k not in keep})
            say(f"resuming from {path}: {', '.join(k for k in saved if k in _STEPS)} done")
    elapsed = float(raw.get("runtime_s", 0.0))
    for key in _STEPS:
        if key in raw:
            continue
        start = time.perf_counter()
        raw[key] = _STEPS[key](config, raw, say)
        elapsed += time.perf_counter() - start
        raw["runtime_s"] = round(elapsed, 1)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(raw, sort_keys=True))
    return raw


def _sds(raw: dict[str, Any]) -> dict[str, np.ndarray]:
    return {r["regime"]: np.asarray(r["sd_ice"], dtype=float) for r in raw["regimes"]}


def _step_regimes(config: ValidationConfig, raw: dict[str, Any], say: Any) -> list[Any]:
    say("reference runs")
    out = []
    for name, r in regimes().items():
        sd = reference_sd(r, config.reference_n, _seed(config, "reference", name))
        out.append(
            {
                "regime": name,
                "description": r.description,
                "true_ace": r.truth().tolist(),
                "sd_ice": sd.tolist(),
            }
        )
    return out


def _step_coverage(config: ValidationConfig, raw: dict[str, Any], say: Any) -> list[Any]:
    sds, rows = _sds(raw), []
    for name, regime in regimes().items():
        for n in config.ns:
            say(f"coverage: {name}, n = {n}, R = {config.reps}")
            seed = _seed(config, "coverage", name, n)
            rows += coverage_study(
                regime, n, config.reps, seed=seed, n_boot=config.n_boot, sd_true=sds[name]
            )
    return rows


def _step_type_one(config: ValidationConfig, raw: dict[str, Any], say: Any) -> list[Any]:
    rows = []
    for control in CONTROLS:
        for n in config.ns:
            say(f"type-I: {control}, n = {n}")
            seed = _seed(config, "null", control, n)
            rows += type_one_study(control, n, config.reps, seed=seed, n_perm=config.n_perm)
    return rows


def _step_sequential(config: ValidationConfig, raw: dict[str, Any], say: Any) -> list[Any]:
    say("sequential")
    sds = _sds(raw)
    rows = [
        sequential_study(r, config.seq_reps, seed=_seed(config, "seq", name), sd_true=sds[name])
        for name, r in regimes().items()
    ]
    panel = mixed_panel()
    panel_sd = reference_sd(panel, config.reference_n, _seed(config, "reference", "panel"))
    seed = _seed(config, "seq", "panel")
    rows.append(sequential_study(panel, config.seq_reps, seed=seed, sd_true=panel_sd))
    return rows


def _step_power(config: ValidationConfig, raw: dict[str, Any], say: Any) -> list[Any]:
    say("power")
    effects = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0)
    return power_study(30, config.power_reps, seed=_seed(config, "power"), effects_se=effects)


def _step_fdr(config: ValidationConfig, raw: dict[str, Any], say: Any) -> list[Any]:
    say("FDR")
    return fdr_study(config.fdr_reps, seed=_seed(config, "fdr"))


def _step_pair(config: ValidationConfig, raw: dict[str, Any], say: Any) -> list[Any]:
    say("paired vs unpaired")
    return paired_unpaired_study(config.pair_reps, seed=_seed(config, "pair"))


def _step_contrasts(config: ValidationConfig, raw: dict[str, Any], say: Any) -> list[Any]:
    say("contrasts")
    return contrast_study(config.contrast_reps, seed=_seed(config, "contrast"))


def _step_sbc(config: ValidationConfig, raw: dict[str, Any], say: Any) -> dict[str, Any]:
    return _sbc(config, say)


_STEPS: dict[str, Callable[[ValidationConfig, dict[str, Any], Any], Any]] = {
    "regimes": _step_regimes,
    "coverage": _step_coverage,
    "type_one": _step_type_one,
    "power": _step_power,
    "fdr": _step_fdr,
    "paired_unpaired": _step_pair,
    "sequential": _step_sequential,
    "contrasts": _step_contrasts,
    "sbc": _step_sbc,
}


def _sbc(config: ValidationConfig, say: Callable[[str], None]) -> dict[str, Any]:
    if not config.sbc:
        return {"available": False, "note": "skipped (ValidationConfig.sbc is False)"}
    try:
        hierarchical = importlib.import_module("causalgia.hierarchical")
    except ImportError:
        return {"available": False, "note": "causalgia.hierarchical is not available"}
    section = getattr(hierarchical, "sbc_section", None)
    if section is None:
        return {"available": False, "note": "causalgia.hierarchical has no sbc_section yet"}
    say("hierarchical SBC")
    try:
        markdown, data = section(config.mode != "full")
    except Exception as err:  # an unfinished section must not lose the other studies
        return {"available": False, "note": f"sbc_section raised {type(err).__name__}: {err}"}
    return {"available": True, "markdown": str(markdown), "raw": _jsonable(data)}


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=lambda v: np.asarray(v).tolist()))


def results_hash(raw: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON serialisation of the raw results.

    Examples
    --------
    >>> len(results_hash({"a": 1}))
    64
    """
    text = json.dumps(raw, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class ValidationReport:
    """Paths written by :func:`validate`, the raw results and their hash."""

    markdown: Path
    raw_path: Path
    sha256: str
    raw: dict[str, Any]

    def summary(self) -> str:
        """Where the report went and how long it took."""
        return (
            f"wrote {self.markdown} and {self.raw_path} (sha256 {self.sha256[:16]}…) in "
            f"{self.raw.get('runtime_s', 0):.0f} s"
        )


def validate(
    *,
    quick: bool = False,
    out: str | Path = "docs/validation.md",
    raw_path: str | Path | None = None,
    config: ValidationConfig | None = None,
    from_raw: str | Path | None = None,
    log: Callable[[str], None] | None = None,
) -> ValidationReport:
    """Run (or re-render from ``from_raw``) the validation studies and write the report.

    Writes the raw results as JSON (``raw_path``, default ``out`` with suffix ``.json``) and
    the Markdown report that quotes the raw results' SHA-256. While running, finished studies
    are kept in ``<raw_path stem>.partial.json``; an interrupted run started again with the
    same configuration resumes from there (the file is removed on success).

    Examples
    --------
    >>> validate(quick=True, out="/tmp/validation.md")  # doctest: +SKIP
    """
    out = Path(out)
    raw_file = Path(raw_path) if raw_path is not None else out.with_suffix(".json")
    if from_raw is not None:
        raw = json.loads(Path(from_raw).read_text())
    else:
        cfg = config or (ValidationConfig.quick() if quick else ValidationConfig.full())
        partial = raw_file.with_suffix(".partial.json")
        raw = run_validation(cfg, log=log, checkpoint=partial)
    raw = json.loads(json.dumps(raw, sort_keys=True))  # render exactly what is stored
    digest = results_hash(raw)
    out.parent.mkdir(parents=True, exist_ok=True)
    raw_file.parent.mkdir(parents=True, exist_ok=True)
    raw_file.write_text(json.dumps(raw, sort_keys=True, indent=1) + "\n")
    out.write_text(render_markdown(raw, digest, raw_name=raw_file.name))
    if from_raw is None:
        raw_file.with_suffix(".partial.json").unlink(missing_ok=True)
    return ValidationReport(out, raw_file, digest, raw)


def _stderr(msg: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)
