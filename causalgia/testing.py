"""Public oracle models with known effects, and fault-injection models.

Oracles are callables on float32 one-hot arrays that declare their own ``layout``, ``alphabet``
and ``name``, so ``as_model(oracle)`` needs no further arguments. Their true ACEs are known:
exactly in closed form (:class:`AdditiveOracle` under site-independent backgrounds) or to
negligible Monte-Carlo error (:func:`reference_ace`, for :class:`RBPOracle`).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from ._rng import RngLike
from .errors import OptionError
from .experiment.backgrounds import Background
from .experiment.designs import Arm, design
from .experiment.interventions import Ablate, Compose, Identity, Intervention, Mutate, Substitute
from .sequences.alphabet import encode, from_one_hot
from .sequences.motifs import Motif, coerce_motif


def _codes_of(x: np.ndarray, layout: str) -> np.ndarray:
    return from_one_hot(np.asarray(x), layout)


@dataclass(frozen=True, eq=False)
class AdditiveOracle:
    """A linear (additive) sequence model f(x) = bias + Σ_i W[i, x_i]; N contributes 0.

    Under a site-independent background (``iid`` or ``profile``) the ACE of substitutions,
    mutations and random ablations is exact in closed form: :meth:`true_ace`.

    Examples
    --------
    >>> from causalgia.experiment.backgrounds import iid
    >>> oracle = AdditiveOracle.from_motif("GATA", length=20)
    >>> round(oracle.true_ace(Substitute("GATA", 8), iid(20)), 6)
    2.0
    """

    weights: np.ndarray
    bias: float = 0.0
    name: str = "additive_oracle"
    layout: str = "NCL"
    alphabet: str = "dna"

    def __post_init__(self) -> None:
        w = np.array(self.weights, dtype=np.float64)
        if w.ndim != 2 or w.shape[1] != 4:
            raise OptionError(f"weights must have shape (L, 4), got {w.shape}")
        w.setflags(write=False)
        object.__setattr__(self, "weights", w)

    @property
    def length(self) -> int:
        """The sequence length L the weights are for (declared to ``as_model``)."""
        return len(self.weights)

    @classmethod
    def from_motif(
        cls, motif: str | Motif, length: int, *, scale: float = 1.0, bias: float = 0.0
    ) -> AdditiveOracle:
        """Sum over every window of ``scale * (p_motif - 1/4)``: a linear PWM scanner.

        Parameters
        ----------
        motif : str or Motif
            The motif scanned.
        length : int
            Sequence length L.
        scale : float, default 1.0
            Weight multiplier.
        bias : float, default 0.0
            Constant added to f.

        Returns
        -------
        AdditiveOracle
            Weights ``(length, 4)``.

        Examples
        --------
        >>> AdditiveOracle.from_motif("GATA", 6).weights.shape
        (6, 4)
        """
        probs = coerce_motif(motif).probs
        width = len(probs)
        w = np.zeros((length, 4))
        for start in range(length - width + 1):
            w[start : start + width] += scale * (probs - 0.25)
        return cls(w, bias)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """f for a one-hot batch in NCL layout."""
        return self.predict_codes(_codes_of(x, self.layout))

    def predict_codes(self, codes: np.ndarray) -> np.ndarray:
        """f on codes ``(N, L)``.

        Parameters
        ----------
        codes : ndarray of uint8
            Codes ``(N, L)`` of the oracle's length and alphabet.

        Returns
        -------
        ndarray
            f per row, ``(N,)``.

        Examples
        --------
        >>> from causalgia.sequences.alphabet import encode
        >>> AdditiveOracle.from_motif("GATA", 6).predict_codes(encode(["GATAAA", "CCCCCC"]))
        array([ 4., -3.])
        """
        table = np.vstack([self.weights.T, np.zeros(len(self.weights))])  # (5, L)
        return table[codes, np.arange(codes.shape[1])].sum(axis=1) + self.bias

    def true_ace(self, intervention: Intervention, background: Background) -> float:
        """Exact ACE under a site-independent background (``iid`` or ``profile``).

        Supports Identity, Substitute (exact, IUPAC or PWM-sampled, either strand), Mutate,
        Ablate with a random fill (and a shuffle fill under ``iid``), and Compose of those.

        Parameters
        ----------
        intervention : Intervention
            The edit.
        background : Background
            An ``iid`` or ``profile`` background of the oracle's length.

        Returns
        -------
        float

        Raises
        ------
        OptionError
            For another background or an unsupported intervention.

        Examples
        --------
        >>> from causalgia.experiment.backgrounds import iid
        >>> AdditiveOracle.from_motif("GATA", 6).true_ace(Mutate(0, "G"), iid(6))
        0.75
        """
        expected = self._expected_letters(background)
        exchangeable = getattr(background, "probs", None) is None
        return float(
            sum(self._edit_gain(part, expected, exchangeable) for part in _parts(intervention))
        )

    def _expected_letters(self, background: Background) -> np.ndarray:
        length = len(self.weights)
        if getattr(background, "probs", None) is not None:
            return np.asarray(background.probs, dtype=np.float64)
        if getattr(background, "composition", None) is not None:
            return np.tile(np.asarray(background.composition, dtype=np.float64), (length, 1))
        raise OptionError(
            "the closed-form ACE needs a site-independent background (iid or profile)"
        )

    def _edit_gain(self, part: Intervention, expected: np.ndarray, exchangeable: bool) -> float:
        w = self.weights
        if isinstance(part, Identity):
            return 0.0
        if isinstance(part, Ablate) and part.fill == "shuffle" and exchangeable:
            # Under an iid background every sequence with the same composition is equally
            # likely, so a uniform k-let shuffle leaves the distribution, and E f, unchanged.
            return 0.0
        if isinstance(part, Mutate):
            i = part.position
            return float(w[i, part.code] - expected[i] @ w[i])
        if isinstance(part, Substitute):
            ((a, b),) = part.spans(len(w))
            probs = (
                part._pwm.probs
                if part.instance == "sample"
                else np.eye(4)[encode(part._pwm.consensus())]
            )
            if part.strand == "-":
                probs = probs[::-1, ::-1]
            return float(np.sum(probs * w[a:b]) - np.sum(expected[a:b] * w[a:b]))
        if isinstance(part, Ablate) and part.fill == "random":
            a, b = part.start, part.stop
            return float(np.sum(w[a:b].mean(axis=1)) - np.sum(expected[a:b] * w[a:b]))
        raise OptionError(f"no closed-form ACE for {part.label}")


def _parts(intervention: Intervention) -> Sequence[Intervention]:
    return intervention.parts if isinstance(intervention, Compose) else [intervention]


@dataclass(frozen=True, eq=False)
class RBPOracle:
    """A nonlinear RNA-binding-protein model with known mechanisms.

    Sites are exact (weight 1) or one-mismatch (weight ``partial``) matches of ``motif``; each
    site is damped near the sequence ends (positional edge effect); two sites closer than a few
    nt interfere (close-spacing penalty); total occupancy saturates
    (``amplitude·(1 − exp(−S/kappa))``: 2 copies give less than twice 1 copy); and GC content of
    the 3'-most ``gc_window`` nt adds ``gc_weight·GC`` (a 3' GC bias, as in the original GIA
    study of RBFOX1). True ACEs: :func:`reference_ace`.

    Examples
    --------
    >>> from causalgia.sequences.alphabet import encode, one_hot
    >>> oracle = RBPOracle()
    >>> x = one_hot(encode(["A" * 17 + "UGCAUG" + "A" * 18], "rna"))
    >>> bool(oracle(x)[0] > 0.5)
    True
    """

    motif: str = "UGCAUG"
    partial: float = 0.15
    edge_scale: float = 3.0
    interference: float = 0.7
    interference_decay: float = 2.0
    amplitude: float = 2.0
    kappa: float = 1.5
    gc_window: int = 12
    gc_weight: float = 0.6
    name: str = "rbp_oracle"
    layout: str = "NCL"
    alphabet: str = "rna"
    _codes: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_codes", encode(self.motif.replace("T", "U"), "rna"))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """f for a one-hot batch in NCL layout."""
        return self.predict_codes(_codes_of(x, self.layout))

    def site_strength(self, codes: np.ndarray) -> np.ndarray:
        """Occupancy of a site starting at each position, ``(N, L - W + 1)``.

        Parameters
        ----------
        codes : ndarray of uint8
            RNA codes ``(N, L)``.

        Returns
        -------
        ndarray
            Match weight (1, ``partial`` or 0) times the edge damping, per site start.

        Examples
        --------
        >>> from causalgia.sequences.alphabet import encode
        >>> x = encode(["A" * 17 + "UGCAUG" + "A" * 18], "rna")
        >>> s = RBPOracle().site_strength(x)
        >>> s.shape, int(s.argmax())
        ((1, 36), 17)
        """
        n, length = codes.shape
        width = len(self._codes)
        starts = length - width + 1
        mismatches = np.zeros((n, starts), dtype=np.int64)
        for j, letter in enumerate(self._codes):
            mismatches += codes[:, j : j + starts] != letter
        strength = np.where(mismatches == 0, 1.0, np.where(mismatches == 1, self.partial, 0.0))
        s = np.arange(starts)
        distance = np.minimum(s, starts - 1 - s)
        return strength * (1.0 - 0.6 * np.exp(-distance / self.edge_scale))

    def predict_codes(self, codes: np.ndarray) -> np.ndarray:
        """f on codes ``(N, L)``.

        Parameters
        ----------
        codes : ndarray of uint8
            Codes ``(N, L)`` of the oracle's length and alphabet.

        Returns
        -------
        ndarray
            f per row, ``(N,)``.

        Examples
        --------
        >>> from causalgia.sequences.alphabet import encode
        >>> x = encode(["A" * 17 + "UGCAUG" + "A" * 18], "rna")
        >>> RBPOracle().predict_codes(x).round(3).tolist()
        [0.972]
        """
        occ = self.site_strength(codes)
        width = len(self._codes)
        total = occ.sum(axis=1)
        for lag in range(1, min(width + 16, occ.shape[1])):
            gap = max(lag - width, 0)
            weight = self.interference * np.exp(-gap / self.interference_decay)
            total -= weight * np.minimum(occ[:, :-lag], occ[:, lag:]).sum(axis=1)
        binding = self.amplitude * (1.0 - np.exp(-np.maximum(total, 0.0) / self.kappa))
        tail = codes[:, -self.gc_window :]
        gc = ((tail == 1) | (tail == 2)).mean(axis=1)
        return binding + self.gc_weight * gc


@dataclass(frozen=True, eq=False)
class PlantedRBPOracle(RBPOracle):
    """:class:`RBPOracle` with switchable mechanisms, to check that contrast tests detect what
    is planted and nothing else.

    ``saturate=False`` makes binding linear in occupancy (``amplitude·S/kappa``): counts add
    and two distant sites do not interact. ``interference=0`` removes the close-spacing
    penalty. ``helical > 0`` plants helical periodicity: two sites whose start-to-start lag
    ``l`` lies in ``[W + 1, helical_max_lag]`` add ``helical·cos(2πl/period)·min(occ_i, occ_j)``
    to the occupancy, so the effect of a second site oscillates with the spacing.
    :meth:`without_mechanisms` switches off all three; the defaults equal :class:`RBPOracle`.

    Examples
    --------
    >>> from causalgia.sequences.alphabet import encode, one_hot
    >>> x = one_hot(encode(["A" * 20 + "UGCAUG" + "A" * 20], "rna"))
    >>> bool(PlantedRBPOracle()(x)[0] == RBPOracle()(x)[0])
    True
    """

    saturate: bool = True
    helical: float = 0.0
    period: float = 10.5
    helical_max_lag: int = 48
    name: str = "planted_rbp_oracle"

    @classmethod
    def without_mechanisms(cls) -> PlantedRBPOracle:
        """No saturation, no close-spacing penalty, no periodicity: interactions are exactly 0.

        Returns
        -------
        PlantedRBPOracle
            Named ``"rbp_null_oracle"``.

        Examples
        --------
        >>> o = PlantedRBPOracle.without_mechanisms()
        >>> o.saturate, o.interference, o.helical
        (False, 0.0, 0.0)
        """
        return cls(interference=0.0, saturate=False, helical=0.0, name="rbp_null_oracle")

    def predict_codes(self, codes: np.ndarray) -> np.ndarray:
        """f on codes ``(N, L)``.

        Parameters
        ----------
        codes : ndarray of uint8
            Codes ``(N, L)`` of the oracle's length and alphabet.

        Returns
        -------
        ndarray
            f per row, ``(N,)``.

        Examples
        --------
        >>> from causalgia.sequences.alphabet import encode
        >>> x = encode(["A" * 17 + "UGCAUG" + "A" * 18], "rna")
        >>> PlantedRBPOracle.without_mechanisms().predict_codes(x).round(3).tolist()
        [1.331]
        """
        occ = self.site_strength(codes)
        width = len(self._codes)
        total = occ.sum(axis=1)
        for lag in range(1, min(width + 16, occ.shape[1])):
            if self.interference:
                weight = self.interference * np.exp(-max(lag - width, 0) / self.interference_decay)
                total -= weight * np.minimum(occ[:, :-lag], occ[:, lag:]).sum(axis=1)
        if self.helical:
            for lag in range(width + 1, min(self.helical_max_lag + 1, occ.shape[1])):
                weight = self.helical * np.cos(2.0 * np.pi * lag / self.period)
                total += weight * np.minimum(occ[:, :-lag], occ[:, lag:]).sum(axis=1)
        if self.saturate:
            binding = self.amplitude * (1.0 - np.exp(-np.maximum(total, 0.0) / self.kappa))
        else:
            binding = self.amplitude * total / self.kappa
        tail = codes[:, -self.gc_window :]
        gc = ((tail == 1) | (tail == 2)).mean(axis=1)
        return binding + self.gc_weight * gc


@dataclass(frozen=True, eq=False)
class HeavyTailOracle:
    """f(x) = A(x)·exp(M(x)): an additive score A gated by a log-additive modulator M.

    ``A(x) = Σ_i additive[i, x_i]`` and ``M(x) = Σ_i modulator[i, x_i]``. The ICE of an edit
    of A's sites is ``(A(do x) − A(x))·exp(M(x))``: lognormal-like across backgrounds, with a
    heavy right tail that grows with the spread of M. Under a site-independent background,
    and for an intervention whose windows avoid M's sites, the ACE is exact:
    ``true_ace = ACE_A · Π_i E[exp(modulator[i, x_i])]``.

    Examples
    --------
    >>> from causalgia.experiment.backgrounds import iid
    >>> oracle = HeavyTailOracle.from_motif("GATA", 30, modulated=(20, 30), sigma=0.0)
    >>> round(oracle.true_ace(Substitute("GATA", 5), iid(30)), 6)
    2.0
    """

    additive: np.ndarray
    modulator: np.ndarray
    name: str = "heavy_tail_oracle"
    layout: str = "NCL"
    alphabet: str = "dna"

    def __post_init__(self) -> None:
        for label in ("additive", "modulator"):
            w = np.array(getattr(self, label), dtype=np.float64)
            if w.ndim != 2 or w.shape[1] != 4:
                raise OptionError(f"{label} must have shape (L, 4), got {w.shape}")
            w.setflags(write=False)
            object.__setattr__(self, label, w)
        if self.additive.shape != self.modulator.shape:
            raise OptionError("additive and modulator weights must have the same shape")

    @property
    def length(self) -> int:
        """The sequence length L the weights are for (declared to ``as_model``)."""
        return len(self.additive)

    @classmethod
    def from_motif(
        cls,
        motif: str | Motif,
        length: int,
        *,
        modulated: tuple[int, int],
        sigma: float = 1.0,
        rng: int = 0,
    ) -> HeavyTailOracle:
        """A linear scanner for ``motif`` (as :meth:`AdditiveOracle.from_motif`) times
        ``exp(M)``, M random weights on the sites ``modulated = (start, stop)`` with
        SD(M) ≈ ``sigma`` under a uniform background; the scanner ignores those sites.

        Parameters
        ----------
        motif : str or Motif
            The motif scanned.
        length : int
            Sequence length L.
        modulated : tuple of int
            Half-open window ``(start, stop)`` of the modulator's sites.
        sigma : float, default 1.0
            SD of M under a uniform background.
        rng : int, default 0
            Seed of the modulator weights.

        Returns
        -------
        HeavyTailOracle

        Examples
        --------
        >>> o = HeavyTailOracle.from_motif("GATA", 30, modulated=(20, 30), sigma=0.5)
        >>> bool((o.additive[20:] == 0).all() and (o.modulator[:20] == 0).all())
        True
        """
        a, b = modulated
        additive = np.array(AdditiveOracle.from_motif(motif, length).weights)
        additive[a:b] = 0.0
        mod = np.zeros((length, 4))
        raw = np.random.default_rng(rng).normal(size=(b - a, 4))
        raw -= raw.mean(axis=1, keepdims=True)
        scale = np.sqrt(np.sum(raw.var(axis=1)))
        mod[a:b] = raw * (sigma / scale if scale > 0 else 0.0)
        return cls(additive, mod)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """f for a one-hot batch in NCL layout."""
        return self.predict_codes(_codes_of(x, self.layout))

    def predict_codes(self, codes: np.ndarray) -> np.ndarray:
        """f on codes ``(N, L)``.

        Parameters
        ----------
        codes : ndarray of uint8
            Codes ``(N, L)`` of the oracle's length and alphabet.

        Returns
        -------
        ndarray
            f per row, ``(N,)``.

        Examples
        --------
        >>> from causalgia.sequences.alphabet import encode
        >>> o = HeavyTailOracle.from_motif("GATA", 30, modulated=(20, 30), sigma=0.0)
        >>> x = encode(["CCCCCGATAC" + "C" * 20])
        >>> bool(o.predict_codes(x)[0] == AdditiveOracle(o.additive).predict_codes(x)[0])
        True
        """
        pad = np.zeros((1, self.additive.shape[0]))
        cols = np.arange(codes.shape[1])
        a = np.vstack([self.additive.T, pad])[codes, cols].sum(axis=1)
        m = np.vstack([self.modulator.T, pad])[codes, cols].sum(axis=1)
        return a * np.exp(m)

    def true_ace(self, intervention: Intervention, background: Background) -> float:
        """Exact ACE under ``iid``/``profile`` for edits that avoid the modulated sites.

        Parameters
        ----------
        intervention : Intervention
            The edit; see :meth:`AdditiveOracle.true_ace` for the supported kinds.
        background : Background
            An ``iid`` or ``profile`` background of the oracle's length.

        Returns
        -------
        float

        Raises
        ------
        OptionError
            When the edit touches a modulated site, or for another background or an
            unsupported intervention.

        Examples
        --------
        >>> from causalgia.experiment.backgrounds import iid
        >>> o = HeavyTailOracle.from_motif("GATA", 30, modulated=(20, 30), sigma=0.5)
        >>> round(o.true_ace(Substitute("GATA", 5), iid(30)), 4)
        2.2659
        """
        inner = AdditiveOracle(self.additive)
        expected = inner._expected_letters(background)
        touched = np.flatnonzero(np.any(self.modulator != 0.0, axis=1))
        for a, b in intervention.spans(len(self.additive)):
            if np.any((touched >= a) & (touched < b)):
                raise OptionError(f"{intervention.label} edits modulated sites; no closed-form ACE")
        gate = float(np.prod(np.sum(expected * np.exp(self.modulator), axis=1)))
        return inner.true_ace(intervention, background) * gate


def reference_ace(
    model: object,
    background: Background,
    arms: Sequence[Arm],
    *,
    n: int = 50_000,
    rng: RngLike = 20_240_601,
    progress: bool | None = False,
) -> pd.DataFrame:
    """True ACEs to negligible Monte-Carlo error: a large paired run with its own seed.

    Parameters
    ----------
    model : object
        A Model, or a callable (e.g. an oracle) that :func:`~causalgia.engine.as_model` wraps.
    background : Background
        The background population.
    arms : sequence of Arm
        The arms.
    n : int, default 50000
        Backgrounds of the paired run (>= 2).
    rng : int, Generator or None, default 20240601
        Root seed, kept apart from the seeds of the runs checked against it.
    progress : bool or None, default False
        As for :func:`~causalgia.engine.simulate` (None: a bar on a terminal, log lines
        otherwise).

    Returns
    -------
    DataFrame
        ``experiment, label, true_ace`` and ``mc_se`` (the Monte-Carlo SE of the truth itself).

    Examples
    --------
    >>> from causalgia.experiment.backgrounds import iid
    >>> from causalgia.experiment.designs import sweep_positions
    >>> truth = reference_ace(RBPOracle(), iid(41, alphabet="rna"),
    ...                       sweep_positions("UGCAUG", [17]), n=2000)
    >>> list(truth.columns)
    ['experiment', 'label', 'true_ace', 'mc_se']
    """
    from .engine.declaration import as_model
    from .engine.simulator import simulate

    result = simulate(as_model(model), design(background, arms, n=n, rng=rng), progress=progress)
    grouped = result.table.groupby(["experiment", "label"], sort=False)["ice"]
    out = grouped.agg(true_ace="mean", sd="std", count="count").reset_index()
    out["mc_se"] = out["sd"] / np.sqrt(out["count"])
    return out[["experiment", "label", "true_ace", "mc_se"]]


@dataclass(frozen=True, eq=False)
class NaNModel:
    """Fault injection: wraps a model and returns NaN for every sequence starting ``prefix``.

    Examples
    --------
    >>> from causalgia.sequences.alphabet import encode, one_hot
    >>> m = NaNModel(AdditiveOracle(np.ones((4, 4))), prefix="AA")
    >>> np.isnan(m(one_hot(encode(["AACG", "CCCC"])))).tolist()
    [True, False]
    """

    base: object
    prefix: str = "AAA"
    name: str = "nan_model"

    @property
    def layout(self) -> str:
        """The wrapped model's layout."""
        return self.base.layout  # type: ignore[attr-defined]

    @property
    def alphabet(self) -> str:
        """The wrapped model's alphabet."""
        return self.base.alphabet  # type: ignore[attr-defined]

    @property
    def length(self) -> int | None:
        """The wrapped model's declared length (None: any)."""
        return getattr(self.base, "length", None)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """The base model's output with NaN on rows that start with the prefix."""
        y = np.asarray(self.base(x), dtype=np.float64)  # type: ignore[operator]
        codes = _codes_of(x, self.layout)
        pre = encode(self.prefix.replace("U", "T"))
        hit = np.all(codes[:, : len(pre)] == pre, axis=1)
        y[hit] = np.nan
        return y


class FlakyModel:
    """Fault injection: wraps a model and fails on call number ``fail_on_call`` (0-based) for
    ``times`` calls, then recovers. It counts its calls in ``calls``.

    ``fault`` is how a call fails: ``"raise"`` a ``RuntimeError`` (a model that crashes),
    ``"interrupt"`` a ``KeyboardInterrupt`` (Ctrl-C during a forward pass), or ``"hang"``: the
    call blocks until ``release`` (a ``threading.Event``) is set or ``hang_seconds`` pass, then
    returns the base model's output (a model that never returns in time).

    Examples
    --------
    >>> m = FlakyModel(AdditiveOracle(np.ones((4, 4))), fail_on_call=0)
    >>> try:
    ...     m(np.zeros((1, 4, 4), dtype=np.float32))
    ... except RuntimeError as err:
    ...     print(err)
    injected failure on call 0
    """

    def __init__(
        self,
        base: object,
        *,
        fail_on_call: int,
        times: int = 1,
        fault: Literal["raise", "interrupt", "hang"] = "raise",
        hang_seconds: float = 600.0,
    ) -> None:
        if fault not in ("raise", "interrupt", "hang"):
            raise OptionError(f"fault must be 'raise', 'interrupt' or 'hang', got {fault!r}")
        self.base = base
        self.fail_on_call = fail_on_call
        self.times = times
        self.fault = fault
        self.hang_seconds = float(hang_seconds)
        self.release = threading.Event()
        self.calls = 0
        self.layout = base.layout  # type: ignore[attr-defined]
        self.alphabet = base.alphabet  # type: ignore[attr-defined]
        self.length = getattr(base, "length", None)
        self.name = "flaky_model"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """The base model's output, or an injected failure."""
        call = self.calls
        self.calls += 1
        if self.fail_on_call <= call < self.fail_on_call + self.times:
            if self.fault == "interrupt":
                raise KeyboardInterrupt(f"injected interrupt on call {call}")
            if self.fault == "hang":
                self.release.wait(self.hang_seconds)
            else:
                raise RuntimeError(f"injected failure on call {call}")
        return self.base(x)  # type: ignore[operator,no-any-return]


class UlpModel:
    """Fault injection: the base model's outputs as float32, moved by ``ulps`` units in the last
    place (towards +inf; away from it when negative), as another BLAS thread count moves the
    low bits of a float32 network's outputs.

    Examples
    --------
    >>> base = AdditiveOracle(np.ones((4, 4)))
    >>> x = np.ones((1, 4, 4), dtype=np.float32)
    >>> float(UlpModel(base, ulps=1)(x)[0] - UlpModel(base, ulps=0)(x)[0])
    4.76837158203125e-07
    """

    def __init__(self, base: object, *, ulps: int = 1) -> None:
        self.base = base
        self.ulps = int(ulps)
        self.layout = base.layout  # type: ignore[attr-defined]
        self.alphabet = base.alphabet  # type: ignore[attr-defined]
        self.length = getattr(base, "length", None)
        self.name = getattr(base, "name", "ulp_model")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """The base model's output in float32, ``ulps`` steps away."""
        y = np.asarray(self.base(x), dtype=np.float32)  # type: ignore[operator]
        towards = np.float32(np.inf if self.ulps > 0 else -np.inf)
        for _ in range(abs(self.ulps)):
            y = np.nextafter(y, towards)
        return y


# -- simulation-based calibration (SBC) of the hierarchical effect model ------------------------
