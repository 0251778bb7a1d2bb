"""Functionals of profile models (BPNet, ChromBPNet): profile probabilities, expected counts in
a window, and the Jensen-Shannon distance between two predicted profiles.

A BPNet-like network returns a pair: profile *logits* of shape ``(N, S, P)`` (S strands, P
positions; ``(N, P)`` for one strand) and *log counts* of shape ``(N, 1)``. The logits are
unnormalised: their sum over a window means nothing, which is why :class:`~causalgia.engine.Output`
offers ``reduce="probability"`` and ``reduce="expected_counts"``, computed here.

How bpnet-lite (``jmschrei/bpnet-lite`` v1.0.0, read for this module) uses the two heads:

- ``BPNet.forward`` returns ``(y_profile, y_counts)``: logits ``(N, n_outputs, out_window)`` and
  log counts ``(N, 1)``; the tutorials note that the logits "have not been normalized" and apply
  ``torch.softmax(profiles, dim=-1)`` themselves.
- Training (``losses._mixture_loss``) flattens the strands: ``log_softmax`` over the
  concatenation of both strands' positions, one multinomial over strands x positions, and the
  count head is fitted to ``log(1 + total reads over both strands)`` (``log1pMSELoss``). The
  ``BPNet`` docstring: "A single log softmax is applied across both strands ... The count
  prediction task is predicting the total counts across both strands. The counts are then
  distributed across strands according to the single log softmax".
- Evaluation (``performance.calculate_performance_measures``) applies ``log_softmax`` per strand
  (``dim=-1``) and reports each profile measure per strand; its tutorial concatenates the strands
  to get one value over both. ``performance.jensen_shannon_distance`` returns, despite its name,
  the JS *divergence* in nats (no square root).

So :func:`expected_counts` distributes ``exp(log counts)`` over strands and positions by the
joint softmax (``strands="sum"`` of :func:`profile_probability`), as the model was trained, and
:func:`js_distance` is the distance (the square root of the divergence, base 2), as in
:func:`scipy.spatial.distance.jensenshannon`.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy.spatial.distance import jensenshannon
from scipy.special import logsumexp, softmax

from .._options import check_option
from ..errors import ModelOutputError, OptionError

Strands = Literal["sum", "each"]


def check_window(window: tuple[int, int] | None, length: int) -> tuple[int, int]:
    """The half-open window ``[start, stop)`` on a profile of ``length`` positions, checked.

    A window past the end of the profile is an error, never clipped.

    Parameters
    ----------
    window : (int, int) or None
        ``(start, stop)`` with ``0 <= start < stop``; None is the whole profile.
    length : int
        Number of positions of the profile (its last axis).

    Returns
    -------
    (int, int)
        ``(start, stop)``.

    Raises
    ------
    OptionError
        For a negative start or ``stop <= start``.
    ModelOutputError
        When ``stop`` is past the end of the profile.

    Examples
    --------
    >>> check_window(None, 1000), check_window((450, 550), 1000)
    ((0, 1000), (450, 550))
    >>> check_window((950, 1050), 1000)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    causalgia.errors.ModelOutputError: output window [950, 1050) ends past the profile's end: ...
    """
    if window is None:
        return 0, int(length)
    start, stop = (int(w) for w in window)
    if start < 0 or stop <= start:
        raise OptionError(
            f"output window [{start}, {stop}) must be (start, stop) with 0 <= start < stop"
        )
    if stop > length:
        raise ModelOutputError(
            f"output window [{start}, {stop}) ends past the profile's end: the profile has "
            f"{length} positions (last axis), so stop <= {length}"
        )
    return start, stop


def _stranded(logits: np.ndarray, what: str) -> np.ndarray:
    """``(N, S, P)`` logits (a profile ``(N, P)`` is one strand)."""
    arr = np.asarray(logits, dtype=np.float64)
    if arr.ndim == 2:
        return arr[:, None, :]
    if arr.ndim != 3:
        raise ModelOutputError(
            f"{what} needs profile logits of shape (N, strands, positions) or (N, positions), "
            f"got {arr.shape}"
        )
    return arr


def profile_probability(logits: np.ndarray, *, strands: Strands = "sum") -> np.ndarray:
    """Profile probabilities from profile logits: a softmax over positions.

    ``strands="sum"``: one softmax jointly over strands and positions (the single multinomial
    over both strands that bpnet-lite trains), then the strands summed: ``(N, P)``, each row
    summing to 1. ``strands="each"``: a softmax over positions within each strand, as
    bpnet-lite's tutorials and per-strand performance measures compute it: ``(N, S, P)``, each
    strand summing to 1. A profile ``(N, P)`` is one strand; both choices then agree.

    Parameters
    ----------
    logits : array_like
        Profile logits ``(N, S, P)`` or ``(N, P)``.
    strands : {"sum", "each"}, default "sum"
        Joint softmax with the strands summed, or a softmax per strand.

    Returns
    -------
    ndarray
        float64 probabilities, ``(N, P)`` for ``"sum"`` and for a one-strand profile, else
        ``(N, S, P)``.

    Examples
    --------
    >>> logits = np.log([[[1.0, 3.0], [2.0, 2.0]]])  # 1 sequence, 2 strands, 2 positions
    >>> profile_probability(logits).round(3).tolist()
    [[0.375, 0.625]]
    >>> profile_probability(logits, strands="each").round(3).tolist()
    [[[0.25, 0.75], [0.5, 0.5]]]
    """
    check_option("strands", strands, ("sum", "each"))
    flat = np.asarray(logits).ndim == 2
    arr = _stranded(logits, "profile_probability")
    probs = softmax(arr, axis=(1, 2) if strands == "sum" else 2)
    return probs.sum(axis=1) if strands == "sum" or flat else probs


def expected_counts(
    profile_logits: np.ndarray,
    log_counts: np.ndarray,
    window: tuple[int, int] | None = None,
) -> np.ndarray:
    """Predicted counts in a window: joint profile softmax times ``exp(log counts)``, summed.

    ``exp(log_counts) * sum over strands and positions in window of softmax(profile)``, the
    softmax taken jointly over strands and positions (:func:`profile_probability` with
    ``strands="sum"``), as bpnet-lite distributes its total-count prediction over both strands.
    Computed in log space (log-sum-exp), so large logits do not overflow. bpnet-lite fits the
    count head to ``log(1 + reads)``, so over the whole profile this is the predicted reads
    plus one; the log of a ratio of two expected counts (the ICE of ``transform="log"``) is the
    predicted log fold change of the window's counts.

    Parameters
    ----------
    profile_logits : array_like
        Profile logits ``(N, S, P)`` or ``(N, P)``.
    log_counts : array_like
        Natural-log total counts, ``(N,)`` or ``(N, 1)``.
    window : (int, int) or None, optional
        Half-open ``[start, stop)`` on the position axis (the last axis); None is every
        position. A window past the end of the profile raises, never clips.

    Returns
    -------
    ndarray
        Expected counts in the window, float64, ``(N,)``.

    Examples
    --------
    >>> logits = np.log([[[1.0, 3.0], [2.0, 2.0]]])  # probabilities 1/8, 3/8, 2/8, 2/8
    >>> expected_counts(logits, np.log([[80.0]]), window=(1, 2)).round(6).tolist()
    [50.0]
    """
    arr = _stranded(profile_logits, "expected_counts")
    counts = np.asarray(log_counts, dtype=np.float64)
    if counts.ndim == 2 and counts.shape[1] == 1:
        counts = counts[:, 0]
    if counts.ndim != 1 or counts.shape[0] != arr.shape[0]:
        raise ModelOutputError(
            f"expected_counts needs log counts of shape (N,) or (N, 1) for the {arr.shape[0]} "
            f"profiles, got {np.shape(log_counts)}"
        )
    start, stop = check_window(window, arr.shape[-1])
    share = logsumexp(arr[:, :, start:stop], axis=(1, 2)) - logsumexp(arr, axis=(1, 2))
    return np.exp(counts + share)


def js_distance(p: np.ndarray, q: np.ndarray, *, strands: Strands = "sum") -> np.ndarray:
    """Jensen-Shannon distance (base 2) between two probability profiles, per sequence.

    ``sqrt(JSD)`` with ``JSD = (KL(p || m) + KL(q || m)) / 2``, ``m = (p + q) / 2`` and
    logarithms base 2, so the distance lies in ``[0, 1]``, computed by
    :func:`scipy.spatial.distance.jensenshannon` (base 2: each profile is first divided by its
    sum over positions, and ``0 log 0 = 0``). With ``strands="sum"`` the strands (axis 1 of a
    ``(N, S, P)`` profile) are added first, one distance over both strands; with ``"each"`` the
    distance is computed per strand and averaged over strands. It compares the do and control
    profiles of one background (a per-background ICE of the profile shape), so it is not an
    output reduction: pass it :func:`profile_probability` of both arms.

    Parameters
    ----------
    p, q : array_like
        Probability profiles of the same shape, ``(N, S, P)`` or ``(N, P)`` (non-negative).
    strands : {"sum", "each"}, default "sum"
        Add the strands before one distance, or average the per-strand distances.

    Returns
    -------
    ndarray
        The distance for each sequence, float64, ``(N,)``, in ``[0, 1]``.

    Examples
    --------
    >>> js_distance(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])).tolist()
    [1.0]
    >>> float(js_distance(np.array([[0.5, 0.5]]), np.array([[0.5, 0.5]]))[0])
    0.0
    """
    check_option("strands", strands, ("sum", "each"))
    a = np.asarray(p, dtype=np.float64)
    b = np.asarray(q, dtype=np.float64)
    if a.shape != b.shape or a.ndim not in (2, 3):
        raise ModelOutputError(
            "js_distance needs two profiles of one shape, (N, strands, positions) or "
            f"(N, positions); got {a.shape} and {b.shape}"
        )
    if (a < 0).any() or (b < 0).any():
        raise ModelOutputError("js_distance needs probabilities (>= 0), not logits")
    if a.ndim == 3 and strands == "sum":
        a, b = a.sum(axis=1), b.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        distance = jensenshannon(a, b, base=2, axis=-1)
    return distance.mean(axis=1) if distance.ndim == 2 else distance
