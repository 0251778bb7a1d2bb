"""Partially pooled (hierarchical) effect-size models with PyMC, with surfaced diagnostics.

GIA produces families of related effects (a motif at 50 positions, 16 spacings, 16,384 k-mers,
several model replicates). :func:`fit_hierarchical` pools them in one vectorised model and
returns posterior means, highest-density intervals and tail probabilities per condition.

Model (``likelihood="summary"``, the default). For cell c of condition j(c) with observed mean
ICE ``ace_c`` and standard error ``se_c`` (the exact per-cell sufficient statistics of the ICE
table; cluster-robust when units share backgrounds)::

    ace_c   ~ Normal(m_c, se_c)
    m_c     = theta_j(c) + sum_w sd_w * z_w[j(c), w_c]          (``within`` levels, e.g. replicate)
    theta_j = mu + sum_g sd_g * z_g[g_j] + curve[x_j] + tau * z_j  (non-centred)
    z_j     ~ Normal(0, 1)   or  StudentT(nu, 0, 1)   (``effects``)
    curve   = smooth(x) + a·cos(2πx/P) + b·sin(2πx/P) over the sorted values x of ``curve``,
              centred to mean 0; smooth = Gaussian random walk (``curve_prior="rw"``: steps
              scaled by sqrt(gap / median gap), step SD ``curve_sd``) or Hilbert-space GP
              (``"gp"``: pymc.gp.HSGP, Matern 5/2, ``curve_amplitude``,
              ``curve_lengthscale``); the periodic terms only with ``periodic=P``
    mu ~ Normal(0, s);  tau, sd_g, sd_w, curve_sd ~ HalfNormal(s);  a, b ~ Normal(0, s)
    curve_amplitude ~ HalfNormal(min(s, 2.5 · max(SD(ace_j), median se)))  (s = prior_scale)

With a curve and one condition per curve value the deviation ``tau * z_j`` is left out (it is
not identified apart from the curve; ``tau=0``). The random-walk steps are centred when the data
pin the curve down and non-centred otherwise (``settings["curve_parameterization"]``).
``likelihood="full"`` uses every ICE row with a per-cell residual SD instead (for checking).
``parameterization="marginal"`` (the default whenever it is exact) integrates ``tau * z_j`` out
analytically, samples the few remaining parameters with NUTS and then draws each theta_j exactly
from its conditional normal: the same posterior, fast enough for a 7-mer screen.

Sampling: nutpie's NUTS by default when nutpie is installed (``sampler="auto"``), PyMC's
otherwise; models are compiled once per structure and reused with new data
(:mod:`causalgia.pooling.samplers`). The PyMC model itself is built in
:mod:`causalgia.pooling.effectmodel`; the numpy/pandas half (sufficient statistics, structure,
thresholds) is :mod:`causalgia.pooling.effectstats`. PyMC and ArviZ are imported only inside
functions of the pooling stage, when a model is built, sampled or loaded: ``import causalgia``
stays light.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._options import check_int, check_option, check_probability
from .._rng import generator, root_seed, unit_keys
from ..errors import OptionError
from .display import _diagnostics_line, _html_block, _html_table, _repr_lines
from .effectmodel import (
    CurvePrior,
    Effects,
    Likelihood,
    Parameterization,
    _model,
    _model_coords,
    _model_data,
    _model_key,
    build_effect_model,
)
from .effectstats import (
    DIAGNOSTICS,
    THRESHOLDS,
    ConvergenceWarning,
    Diagnostics,
    DiagnosticsMode,
    SeKind,
    Thresholds,
    _decode_frame,
    _encode_frame,
    _Structure,
    _structure,
    check_diagnostics,
    effect_statistics,
    periodic_interval,
)
from .samplers import (
    SAMPLERS,
    Sampler,
    _az,
    _quiet,
    model_entry,
    resolve_cores,
    resolve_sampler,
    run_nuts,
)

__all__ = [
    "THRESHOLDS",
    "ConvergenceWarning",
    "Diagnostics",
    "HierarchicalFit",
    "Thresholds",
    "build_effect_model",
    "check_diagnostics",
    "effect_statistics",
    "fit_hierarchical",
]


def sampling_options(
    sampler: str,
    diagnostics: str,
    draws: int,
    tune: int,
    chains: int,
    cores: int | None,
    hdi: float,
) -> tuple[int, int, int, int | None, float]:
    """Check the sampling options shared by every fit; returns draws, tune, chains, cores, hdi.

    Examples
    --------
    >>> sampling_options("pymc", "warn", 1000, 1000, 4, None, 0.95)
    (1000, 1000, 4, None, 0.95)
    """
    check_option("sampler", sampler, SAMPLERS)
    check_option("diagnostics", diagnostics, DIAGNOSTICS)
    return (
        check_int("draws", draws, minimum=1),
        check_int("tune", tune, minimum=0),
        check_int("chains", chains, minimum=1),
        None if cores is None else check_int("cores", cores, minimum=1),
        check_probability("hdi_prob", hdi),
    )


HDI_PROB = 0.95


def _convergence(az: Any, post: Any, names: list[str]) -> dict[str, tuple]:
    """(R-hat, bulk ESS, tail ESS) arrays per variable, from ArviZ."""
    if not names:
        return {}
    with _quiet(), np.errstate(invalid="ignore", divide="ignore"):
        rhat = az.rhat(post[names])
        bulk = az.ess(post[names], method="bulk")
        tail = az.ess(post[names], method="tail")
    return {n: tuple(np.asarray(d[n]).ravel() for d in (rhat, bulk, tail)) for n in names}


def _diagnostics(idata: Any, stats: Mapping[str, tuple], thresholds: Thresholds) -> Diagnostics:
    worst, max_r, min_bulk, min_tail = "", np.nan, np.nan, np.nan  # NaN (e.g. 1 chain) fails
    for name, (rhat, bulk, tail) in stats.items():
        if not rhat.size or np.all(np.isnan(rhat)):
            continue
        if np.isnan(max_r) or np.nanmax(rhat) > max_r:
            max_r, worst = float(np.nanmax(rhat)), name
        min_bulk = float(np.nanmin([min_bulk, np.nanmin(bulk)]))
        min_tail = float(np.nanmin([min_tail, np.nanmin(tail)]))
    stats = getattr(idata, "sample_stats", None)
    div = int(stats["diverging"].sum()) if stats is not None and "diverging" in stats else 0
    return Diagnostics(max_r, min_bulk, min_tail, div, worst, thresholds)


# -- the fit -------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class HierarchicalFit:
    """A sampled hierarchical effect model: posterior summaries, diagnostics and the draws.

    Attributes
    ----------
    idata : arviz.InferenceData
        Posterior draws (``theta`` per ``condition``, ``mu``, ``tau``, group SDs, ``curve``),
        sample statistics and the observed data.
    conditions : DataFrame
        One row per condition: ``condition`` (its printed name), the ``by`` columns, design
        parameters, ``n_cells``, ``n``, and the no-pooling estimate ``ace`` with its ``se``.
    table : DataFrame
        ``conditions`` plus ``post_mean, post_sd, hdi_low, hdi_high, p_positive,
        p_meaningful, r_hat, ess_bulk, ess_tail`` (see :meth:`to_frame`).
    hyper : DataFrame
        The same summaries for the scalar parameters (mu, tau, SDs) and the curve.
    diagnostics : Diagnostics
        Worst R-hat, smallest bulk/tail ESS and divergences over all summarised quantities.
    settings : mapping
        Model options, sampler, seed, ``hdi_prob`` and ``min_effect``.

    Examples
    --------
    >>> fit = fit_hierarchical(table)  # doctest: +SKIP
    >>> fit.to_frame()[["condition", "post_mean", "hdi_low", "hdi_high"]]  # doctest: +SKIP
    """

    idata: Any
    conditions: pd.DataFrame
    table: pd.DataFrame
    hyper: pd.DataFrame
    diagnostics: Diagnostics
    settings: Mapping[str, Any] = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """Per-condition table (a copy).

        Columns: ``condition, <by>, <design parameters>, n_cells, n, ace, se`` (no-pooling
        estimate), ``post_mean, post_sd, hdi_low, hdi_high`` (HDI at ``settings["hdi_prob"]``),
        ``p_positive`` = P(theta > 0), ``p_meaningful`` = P(|theta| > min_effect), ``r_hat,
        ess_bulk, ess_tail``.

        Returns
        -------
        pandas.DataFrame
            A copy of :attr:`table`, one row per condition.
        """
        return self.table.copy()

    def summary(self) -> str:
        """Readable summary: settings, diagnostics, hyperparameters and one line per condition.

        Returns
        -------
        str
            Lines: the settings, the diagnostics (``ok`` or the failures), one per
            hyperparameter and one per condition (posterior mean ± SD, HDI, P>0 and
            P(|theta| > min_effect)).
        """
        st, d = self.settings, self.diagnostics
        level = f"{st['hdi_prob']:.0%} HDI"
        curve = ""
        if st.get("curve") is not None:
            periodic = st.get("periodic")
            curve = f"curve={st['curve']} ({st.get('curve_prior', 'rw')}"
            curve += f", periodic {periodic:g})" if periodic is not None else ")"
            curve += ", "
        lines = [
            f"HierarchicalFit: {len(self.table)} conditions, effects={st['effects']}, {curve}"
            f"parameterization={st['parameterization']}, sampler={st['sampler']}, "
            f"{st['chains']} chains x {st['draws']} draws (tune {st['tune']})",
            f"  diagnostics: max R-hat {d.max_r_hat:.3f}, min bulk ESS {d.min_ess_bulk:.0f}, "
            f"min tail ESS {d.min_ess_tail:.0f}, divergences {d.divergences} -> "
            + ("ok" if d.passed else "FAILED: " + "; ".join(d.failures())),
        ]
        for row in self.hyper.itertuples(index=False):
            lines.append(
                f"  {row.parameter}: {row.post_mean:.4g} ± {row.post_sd:.3g} "
                f"[{row.hdi_low:.4g}, {row.hdi_high:.4g}]"
            )
        lines.append(
            f"  conditions (posterior mean ± sd, {level}, P>0, P(|.|>{st['min_effect']})):"
        )
        for row in self.table.itertuples(index=False):
            lines.append(
                f"  {row.condition}: {row.post_mean:+.4g} ± {row.post_sd:.3g} "
                f"[{row.hdi_low:+.4g}, {row.hdi_high:+.4g}]  P>0 {row.p_positive:.3f}  "
                f"P(|.|>{st['min_effect']}) {row.p_meaningful:.3f}"
            )
        return "\n".join(lines)

    def __repr__(self) -> str:
        st, t = self.settings, self.table
        level = f", {100 * st['hdi_prob']:g}% HDI" if "hdi_prob" in st else ""
        head = (
            f"HierarchicalFit: {len(t)} conditions{level}, "
            f"parameterization={st.get('parameterization')}, sampler={st.get('sampler')}"
        )
        top = ""
        mean = pd.to_numeric(t["post_mean"], errors="coerce").abs() if "post_mean" in t else None
        if mean is not None and mean.notna().any():
            row = t.iloc[int(np.nanargmax(mean.to_numpy(dtype=float)))]
            top = (
                f"  largest |posterior mean|: {row.get('condition')} = {row['post_mean']:+.4g}"
                f" [{row.get('hdi_low', np.nan):+.4g}, {row.get('hdi_high', np.nan):+.4g}]"
            )
        return _repr_lines(head, _diagnostics_line(st, self.diagnostics), top)

    def _repr_html_(self) -> str:
        tables = [_html_table(self.table, caption="conditions", bar="post_mean")]
        if len(self.hyper):
            tables.append(_html_table(self.hyper, caption="hyperparameters"))
        return _html_block(repr(self), *tables)

    def save(self, path: str | Path) -> Path:
        """Write the draws, the condition table and the settings to one netCDF file.

        Parameters
        ----------
        path : str or pathlib.Path
            The file to write (conventionally ``posterior.nc``); an existing file is replaced.

        Returns
        -------
        pathlib.Path
            ``path``.

        Examples
        --------
        >>> fit.save("posterior.nc")  # doctest: +SKIP
        """
        import xarray as xr

        path = Path(path)
        frame, kinds = _encode_frame(self.conditions)
        groups = {"causalgia_conditions": xr.Dataset.from_dataframe(frame)}
        with _quiet():
            idata = self.idata.copy()
            idata.add_groups(groups)
            idata.posterior.attrs["causalgia"] = json.dumps(
                {**self.settings, "column_kinds": kinds}, default=str
            )
            idata.to_netcdf(str(path))
        return path

    @classmethod
    def load(cls, path: str | Path) -> HierarchicalFit:
        """Read a fit written by :meth:`save` (summaries are recomputed from the draws).

        Parameters
        ----------
        path : str or pathlib.Path
            A netCDF file written by :meth:`save`.

        Returns
        -------
        HierarchicalFit
            The fit, with its condition table, settings and convergence thresholds restored.

        Examples
        --------
        >>> HierarchicalFit.load("posterior.nc").to_frame()  # doctest: +SKIP
        """
        az = _az()
        with _quiet():
            idata = az.from_netcdf(str(path))
        settings = json.loads(idata.posterior.attrs["causalgia"])
        kinds = settings.pop("column_kinds")
        frame = idata["causalgia_conditions"].to_dataframe().reset_index(drop=True)
        conditions = _decode_frame(frame, kinds)
        with _quiet():
            del idata["causalgia_conditions"]
        thresholds = Thresholds(**settings["thresholds"])
        return _summarise(idata, conditions, settings, thresholds)


def _hdi(az: Any, draws: Any, prob: float, circular: bool = False) -> tuple[np.ndarray, np.ndarray]:
    with _quiet():
        hdi = az.hdi(draws, hdi_prob=prob, circular=circular)
    name = next(iter(hdi.data_vars))
    arr = np.asarray(hdi[name])
    return arr[..., 0], arr[..., 1]


def _summarise(
    idata: Any, conditions: pd.DataFrame, settings: Mapping[str, Any], thresholds: Thresholds
) -> HierarchicalFit:
    az = _az()
    post = idata.posterior
    prob, min_effect = settings["hdi_prob"], settings["min_effect"]
    theta = post["theta"].stack(sample=("chain", "draw")).transpose("condition", "sample")
    values = theta.to_numpy()
    table = conditions.copy()
    table["post_mean"] = values.mean(axis=1)
    table["post_sd"] = values.std(axis=1, ddof=1)
    table["hdi_low"], table["hdi_high"] = _hdi(az, post[["theta"]], prob)
    table["p_positive"] = (values > 0).mean(axis=1)
    table["p_meaningful"] = (np.abs(values) > min_effect).mean(axis=1)
    # the phase is circular (and arbitrary when the amplitude is ~0): its cos/sin are gated
    others = [n for n in post.data_vars if n not in ("theta", "z", "curve", "periodic_phase")]
    checked = ["theta", *others] if settings.get("condition_diagnostics", True) else others
    stats = _convergence(az, post, checked)
    nan = (np.full(len(table), np.nan),) * 3
    table["r_hat"], table["ess_bulk"], table["ess_tail"] = stats.get("theta", nan)
    hyper_names = [
        n
        for n in post.data_vars
        if n not in ("theta", "curve_steps", "curve_coeffs") and not n.startswith("z")
        and not (n == "sigma" and settings["likelihood"] == "full")
    ]  # fmt: skip
    hyper = _hyper_table(az, post, hyper_names, prob)
    diagnostics = _diagnostics(idata, stats, thresholds)
    return HierarchicalFit(idata, conditions, table, hyper, diagnostics, dict(settings))


def _hyper_table(az: Any, post: Any, names: list[str], prob: float) -> pd.DataFrame:
    """Posterior summaries of the scalar parameters and the curve. ``periodic_phase`` gets a
    circular mean, SD and HDI; ``periodic_amplitude`` the interval of
    :func:`~causalgia.pooling.effectstats.periodic_interval` (0 when the joint region holds 0)."""
    from scipy.stats import circmean, circstd

    rows = []
    for name in names:
        da = post[name]
        extra = [d for d in da.dims if d not in ("chain", "draw")]
        flat = da.stack(sample=("chain", "draw"))
        with _quiet(), np.errstate(invalid="ignore", divide="ignore"):
            rhat = np.atleast_1d(np.asarray(az.rhat(post[[name]])[name]))
            bulk = np.atleast_1d(np.asarray(az.ess(post[[name]], method="bulk")[name]))
        low, high = _hdi(az, post[[name]], prob, circular=name == "periodic_phase")
        if name == "periodic_amplitude":  # the amplitude range of the joint (a, b) region
            joint = periodic_interval(post["periodic_cos"], post["periodic_sin"], prob)
            low, high = (low, high) if joint is None else joint
        low, high = np.atleast_1d(low), np.atleast_1d(high)
        values = np.atleast_2d(flat.transpose(*extra, "sample").to_numpy())
        labels = [name] if not extra else [f"{name}[{v}]" for v in da[extra[0]].to_numpy()]
        circular = name == "periodic_phase"
        for i, label in enumerate(labels):
            v = values[i]
            rows.append(
                {
                    "parameter": label,
                    "post_mean": float(circmean(v, np.pi, -np.pi) if circular else v.mean()),
                    "post_sd": float(circstd(v, np.pi, -np.pi) if circular else v.std(ddof=1)),
                    "hdi_low": float(low[i]),
                    "hdi_high": float(high[i]),
                    "r_hat": float(rhat[i]),
                    "ess_bulk": float(bulk[i]),
                }
            )
    return pd.DataFrame(rows)


def _marginal_theta(idata: Any, s: _Structure, seed: int, y: np.ndarray | None = None) -> None:
    """Draw theta_j | (mu, tau, groups, curve, data) exactly, and add it to the posterior."""
    import xarray as xr

    post = idata.posterior
    eta = post["mu"].to_numpy()[..., None]
    for name, _levels, index in s.groups:
        eta = (
            eta
            + post[f"sd_{name}"].to_numpy()[..., None] * post[f"z_{name}"].to_numpy()[..., index]
        )
    if s.curve is not None:
        eta = eta + post["curve"].to_numpy()[..., s.curve[2]]
    tau2 = post["tau"].to_numpy()[..., None] ** 2
    y = s.cells["ace"].to_numpy() if y is None else y
    se2 = s.cells["se"].to_numpy() ** 2
    shrink = tau2 / (tau2 + se2)
    gen = generator(unit_keys(seed, [0], "hierarchical", "theta")[0])
    theta = gen.standard_normal(shrink.shape)
    theta *= np.sqrt(shrink * se2)
    theta += eta
    theta += shrink * (y - eta)
    coords = {
        "chain": post["chain"],
        "draw": post["draw"],
        "condition": s.conditions["condition"].tolist(),
    }
    post["theta"] = xr.DataArray(theta, dims=("chain", "draw", "condition"), coords=coords)


def fit_hierarchical(
    data: Any,
    *,
    by: Sequence[str] = ("experiment", "label"),
    within: Sequence[str] = (),
    groups: Sequence[str | Sequence[str]] = (),
    curve: str | None = None,
    curve_prior: CurvePrior = "rw",
    periodic: float | None = None,
    effects: Effects = "normal",
    nu: float = 4.0,
    prior_scale: float | None = None,
    tau: float | None = None,
    likelihood: Likelihood = "summary",
    parameterization: Parameterization = "auto",
    se: SeKind = "auto",
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    cores: int | None = None,
    target_accept: float | None = None,
    random_seed: int | None = None,
    sampler: Sampler = "auto",
    hdi_prob: float = HDI_PROB,
    min_effect: float = 0.0,
    diagnostics: DiagnosticsMode = "warn",
    thresholds: Thresholds = THRESHOLDS,
    condition_diagnostics: bool = True,
    progressbar: bool = False,
) -> HierarchicalFit:
    """Fit a partially pooled effect model with NUTS and summarise every condition.

    The model, its options and the sufficient statistics are those of
    :func:`build_effect_model` (same keyword arguments). ADVI is deliberately not offered:
    with PyMC's defaults it overestimated the between-condition SD 2.5-fold on a 50-position
    benchmark (docs/hierarchical.md).

    Parameters
    ----------
    data, by, within, groups, curve, curve_prior, periodic, effects, nu
        See :func:`build_effect_model`.
    prior_scale, tau, likelihood, parameterization, se
        See :func:`build_effect_model`.
    draws, tune, chains : int
        NUTS draws and tuning steps per chain, and the number of chains (R-hat needs >= 2).
    cores : int, optional
        Chains sampled at once. Default: one per usable CPU (at most ``chains``) with nutpie,
        whose chains are threads; 1 with PyMC (its chains would be worker processes). The
        draws do not depend on it.
    target_accept : float, optional
        NUTS target acceptance: default 0.95 (the curve models need it), 0.99 with
        ``curve_prior="gp"`` (its lengthscale–amplitude ridge gave divergent transitions in
        half of the 2-chain fits at 0.95, none at 0.99; docs/hierarchical.md); raise it to 0.99
        when divergences are reported.
    random_seed : int, optional
        Seed of the sampler and of the exact theta draws of the marginal parameterization.
        The same seed gives the same draws on the same machine, whatever was fitted before.
    sampler : {"auto", "nutpie", "pymc"}
        ``"auto"`` (default): nutpie when it is installed (``pip install 'causalgia[nutpie]'``),
        otherwise PyMC. ``"nutpie"``: nutpie's NUTS (numba-compiled log density, chains in
        threads; an error when nutpie is missing). ``"pymc"``: PyMC's NUTS (the previous default;
        several times slower on curve models). The model is compiled once per structure
        in a process (:mod:`causalgia.pooling.samplers`); ``settings["sampler"]`` records
        which sampler ran.
    hdi_prob : float
        Probability of the highest-density intervals.
    min_effect : float
        The smallest effect that matters to you: ``p_meaningful`` = P(|theta| > min_effect).
    diagnostics : {"warn", "raise", "ignore"}
        What a crossed threshold does: :class:`ConvergenceWarning`, EstimationError, nothing.
        The numbers are always in ``fit.diagnostics`` and :meth:`HierarchicalFit.summary`.
    thresholds : Thresholds
        Defaults to :data:`THRESHOLDS` (R-hat 1.01, bulk and tail ESS 400, no divergences).
    condition_diagnostics : bool
        Compute R-hat and ESS of every theta_j (ArviZ, about 4 ms per condition on 4,000
        draws). ``False`` leaves those columns NaN and gates on the other parameters only:
        sound for the marginal parameterization, whose theta draws are exact conditional draws
        given them; it saves about a minute on a 16,384-condition screen.
    progressbar : bool
        Show the sampler's progress bar.

    Returns
    -------
    HierarchicalFit

    Examples
    --------
    >>> t = pd.DataFrame({"experiment": "e", "label": list("abcdefgh"),
    ...                   "ace": [0.3, 0.1, 0.5, 0.2, 0.4, 0.0, 0.3, 0.2], "se": 0.1})
    >>> fit = fit_hierarchical(t, draws=500, tune=500, chains=2, random_seed=1)  # doctest: +SKIP
    >>> fit.to_frame()[["label", "ace", "post_mean", "hdi_low", "hdi_high"]]  # doctest: +SKIP
    """
    draws, tune, chains, cores, hdi_prob = sampling_options(
        sampler, diagnostics, draws, tune, chains, cores, hdi_prob
    )
    if target_accept is None:
        target_accept = 0.99 if curve_prior == "gp" else 0.95
    target_accept = check_probability("target_accept", target_accept)
    if not (np.isfinite(min_effect) and min_effect >= 0):
        raise OptionError(f"min_effect must be a non-negative number, got {min_effect!r}")
    s = _structure(
        data, by=by, within=within, groups=groups, curve=curve, effects=effects, nu=nu,
        prior_scale=prior_scale, tau=tau, likelihood=likelihood,
        parameterization=parameterization, se=se, curve_prior=curve_prior, periodic=periodic,
    )  # fmt: skip
    seed = root_seed(random_seed)
    sampler = resolve_sampler(sampler)
    idata = _draws(s, draws, tune, chains, cores, target_accept, seed, sampler, progressbar)
    settings = {
        **s.settings,
        "sampler": sampler,
        "draws": draws,
        "tune": tune,
        "chains": chains,
        "target_accept": target_accept,
        "random_seed": seed,
        "hdi_prob": hdi_prob,
        "min_effect": float(min_effect),
        "thresholds": asdict(thresholds),
        "condition_diagnostics": bool(condition_diagnostics),
    }
    fit = _summarise(idata, s.conditions, settings, thresholds)
    check_diagnostics(fit.diagnostics, diagnostics)
    return fit


def _draws(
    s: _Structure,
    draws: int,
    tune: int,
    chains: int,
    cores: int | None,
    target_accept: float,
    seed: int,
    sampler: str,
    progressbar: bool = False,
) -> Any:
    """Posterior draws of the model of ``s`` (theta included): the cached model of its
    structure with its data swapped in, sampled by ``sampler``."""
    entry = model_entry(_model_key(s), lambda: _model(s))
    idata = run_nuts(
        entry, _model_data(s), draws=draws, tune=tune, chains=chains,
        cores=resolve_cores(cores, chains, sampler), target_accept=target_accept, seed=seed,
        sampler=sampler, progressbar=progressbar, coords=_model_coords(s),
    )  # fmt: skip
    if s.settings["parameterization"] == "marginal":
        _marginal_theta(idata, s, seed)
    return idata
