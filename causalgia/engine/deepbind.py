"""DeepBind models: read the v0.1 parameter text files and score sequences fast.

A DeepBind model (Alipanahi et al., Nat Biotechnol 2015) is a single convolution with ``d``
detectors of length ``m``, a threshold and ReLU, max (and optionally mean) pooling over positions,
and an affine layer with an optional hidden ReLU layer. Sequences longer than the window
``w = int(1.5 m)`` are scored in every length-``w`` window and the maximum is returned; models with
``reverse_complement = 1`` also score the reverse complement and return the larger score.

The forward pass here is one numba kernel (parallel over sequences) that computes the convolution
once per sequence with prefix sums along the detector, so every window costs O(d) per position.
:func:`reference_scores` is a direct, slow numpy transcription of the forward pass used to check it.

A :class:`DeepBindModel` is a callable on one-hot arrays that declares its layout (``"NCL"``),
alphabet and output functional (the scalar DeepBind score, ``Output()``), so
``as_model(read_deepbind(path))`` needs no further arguments.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numba
import numpy as np
import pandas as pd

from .._options import check_option
from ..errors import InvalidSequenceError, LayoutError, OptionError
from ..sequences.alphabet import (
    LAYOUTS,
    N_CODE,
    Alphabet,
    Layout,
    as_codes,
    encode,
    from_one_hot,
    get_alphabet,
)
from .models import Output

Padding = Literal["n", "context"]
PADDINGS: tuple[str, ...] = ("n", "context")
_INT_KEYS = ("reverse_complement", "num_detectors", "detector_len", "has_avg_pooling", "num_hidden")
_ARRAY_KEYS = ("detectors", "thresholds", "weights1", "biases1", "weights2", "biases2")


class DeepBindFormatError(OptionError):
    """A DeepBind parameter file is malformed; the message names the file, line and key."""


@dataclass(frozen=True, eq=False)
class DeepBindModel:
    """One DeepBind model: parameters plus the declared layout, alphabet and output.

    Attributes
    ----------
    name : str
        Model id, e.g. ``"D00210.001"``.
    detectors : numpy.ndarray
        ``(m, 4, d)`` float64: detector ``k``'s weight for base ``b`` at motif position ``j``.
    thresholds : numpy.ndarray
        ``(d,)`` added to each detector's response before the ReLU.
    weights1, biases1 : numpy.ndarray
        ``(features, H)`` and ``(H,)``, with features = d (max pooling) or 2d (max and mean,
        interleaved) and H = num_hidden or 1.
    weights2, biases2 : numpy.ndarray
        ``(h,)`` and ``(1,)`` when there is a hidden layer, otherwise empty.
    reverse_complement : bool
        Score both strands and return the larger score.
    has_avg_pooling : bool
        Pool with max and mean (True) or max only.
    padding : {"n", "context"}
        ``"n"`` (DeepBind v0.11) pads every window with N; ``"context"`` (the kundajelab variant)
        pads a window with its real neighbouring bases (N only beyond the sequence ends).
    alphabet : Alphabet
        Letters used to encode and decode sequences for this model (RNA for RNAcompete models).
    layout : {"NCL", "NLC"}
        Layout of the one-hot arrays the callable accepts.
    protein, experiment : str
        From ``db.tsv`` when it was found beside the ``params`` folder, else empty.

    Examples
    --------
    >>> m = DeepBindModel.random(num_detectors=4, detector_len=6, rng=0)
    >>> m.window, m.score(["ACGUACGUAC"]).shape
    (9, (1,))
    """

    name: str
    detectors: np.ndarray
    thresholds: np.ndarray
    weights1: np.ndarray
    biases1: np.ndarray
    weights2: np.ndarray
    biases2: np.ndarray
    reverse_complement: bool
    has_avg_pooling: bool
    padding: Padding = "n"
    alphabet: Alphabet = field(default_factory=lambda: get_alphabet("dna"))
    layout: Layout = "NCL"
    protein: str = ""
    experiment: str = ""

    def __post_init__(self) -> None:
        check_option("padding", self.padding, PADDINGS)
        check_option("layout", self.layout, LAYOUTS)
        object.__setattr__(self, "alphabet", get_alphabet(self.alphabet))
        m, four, d = self.detectors.shape
        if four != 4:
            raise DeepBindFormatError(f"model {self.name}: detectors must be (m, 4, d)")
        features = 2 * d if self.has_avg_pooling else d
        hidden = len(self.weights2)
        width = hidden if hidden else 1
        shapes = {
            "thresholds": (self.thresholds.shape, (d,)),
            "weights1": (self.weights1.shape, (features, width)),
            "biases1": (self.biases1.shape, (width,)),
            "biases2": (self.biases2.shape, (1,) if hidden else (0,)),
        }
        for key, (got, want) in shapes.items():
            if got != want:
                raise DeepBindFormatError(f"model {self.name}: {key} has shape {got}, want {want}")
        for key in _ARRAY_KEYS:
            arr = np.ascontiguousarray(getattr(self, key), dtype=np.float64)
            arr.setflags(write=False)
            object.__setattr__(self, key, arr)

    @property
    def output(self) -> Output:
        """The declared output functional: the scalar DeepBind score, untransformed."""
        return Output()

    @property
    def detector_len(self) -> int:
        """Detector length m."""
        return int(self.detectors.shape[0])

    @property
    def num_detectors(self) -> int:
        """Number of detectors d."""
        return int(self.detectors.shape[2])

    @property
    def num_hidden(self) -> int:
        """Hidden units h (0 = no hidden layer)."""
        return len(self.weights2)

    @property
    def window(self) -> int:
        """Scanning window w = int(1.5 m)."""
        return int(1.5 * self.detector_len)

    def with_padding(self, padding: Padding) -> DeepBindModel:
        """The same weights with another window padding (``"n"`` or ``"context"``)."""
        return replace(self, padding=padding)

    def with_layout(self, layout: Layout) -> DeepBindModel:
        """The same model accepting one-hot arrays in another layout."""
        return replace(self, layout=layout)

    def score_codes(self, codes: np.ndarray) -> np.ndarray:
        """DeepBind scores of uint8 codes ``(N, L)`` (0-3 = A,C,G,T/U; 4 = N), float64 ``(N,)``.

        Examples
        --------
        >>> from causalgia.sequences.alphabet import encode
        >>> m = DeepBindModel.random(num_detectors=4, detector_len=6, rng=0)
        >>> y = m.score_codes(encode(["ACGTACGTAC", "ACGTACGTAC"]))
        >>> y.shape, bool(y[0] == m.score(["ACGUACGUAC"])[0])
        ((2,), True)
        """
        arr = as_codes(codes)
        if arr.shape[1] == 0:
            raise InvalidSequenceError("DeepBind cannot score empty sequences")
        table = _detector_table(self.detectors)
        return _score_kernel(
            np.ascontiguousarray(arr),
            table,
            self.thresholds,
            self.weights1,
            self.biases1,
            self.weights2,
            self.biases2,
            self.has_avg_pooling,
            self.window,
            self.padding == "context",
            self.reverse_complement,
            numba.get_num_threads(),
        )

    def score(self, sequences: str | Sequence[str]) -> np.ndarray:
        """DeepBind scores of strings (any lengths; T and U are the same letter, N allowed).

        Sequences are grouped by length and scored with :meth:`score_codes`; the result keeps the
        input order.

        Examples
        --------
        >>> m = DeepBindModel.random(num_detectors=4, detector_len=6, rng=0)
        >>> m.score(["ACGU", "ACGUACGUACGUNN"]).shape
        (2,)
        """
        seqs = [sequences] if isinstance(sequences, str) else list(sequences)
        out = np.empty(len(seqs), dtype=np.float64)
        by_len: dict[int, list[int]] = {}
        for i, s in enumerate(seqs):
            by_len.setdefault(len(s), []).append(i)
        for idx in by_len.values():
            texts = [seqs[i].upper().replace("U", "T") for i in idx]
            codes = encode(texts, "dna", ids=[str(i) for i in idx], n_policy="allow")
            out[idx] = self.score_codes(codes)
        return out

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Scores of a one-hot batch in ``self.layout``; an all-0 or all-0.25 column is N."""
        arr = np.asarray(x)
        axis = 1 if self.layout == "NCL" else 2
        if arr.ndim != 3 or arr.shape[axis] != 4:
            raise LayoutError(
                f"DeepBind model {self.name} takes one-hot arrays in layout {self.layout!r} "
                f"(4 channels on axis {axis}); got shape {arr.shape}"
            )
        return self.score_codes(from_one_hot(arr, self.layout))

    @classmethod
    def random(
        cls,
        *,
        num_detectors: int = 16,
        detector_len: int = 16,
        num_hidden: int = 0,
        has_avg_pooling: bool = True,
        reverse_complement: bool = False,
        rng: int = 0,
    ) -> DeepBindModel:
        """A DeepBind-shaped model with random weights (for tests and benchmarks).

        Examples
        --------
        >>> DeepBindModel.random(num_hidden=8).num_hidden
        8
        """
        gen = np.random.default_rng(rng)
        d, m = num_detectors, detector_len
        features = 2 * d if has_avg_pooling else d
        width = num_hidden if num_hidden else 1
        return cls(
            name=f"random{rng}",
            detectors=gen.normal(0, 0.5, (m, 4, d)),
            thresholds=gen.normal(-1.0, 0.5, d),
            weights1=gen.normal(0, 0.5, (features, width)),
            biases1=gen.normal(0, 0.1, width),
            weights2=gen.normal(0, 0.5, num_hidden),
            biases2=gen.normal(0, 0.1, 1 if num_hidden else 0),
            reverse_complement=reverse_complement,
            has_avg_pooling=has_avg_pooling,
        )


def _parse_values(text: str, key: str, path: Path, lineno: int) -> np.ndarray:
    text = text.strip()
    if not text:
        return np.empty(0)
    try:
        return np.array([float(v) for v in text.split(",")], dtype=np.float64)
    except ValueError:
        bad = next(v for v in text.split(",") if not _is_float(v))
        raise DeepBindFormatError(
            f"{path}: line {lineno}: {key} holds a non-number {bad.strip()[:20]!r}"
        ) from None


def _is_float(v: str) -> bool:
    try:
        float(v)
    except ValueError:
        return False
    return True


def _db_row(path: Path, model_id: str) -> dict[str, str]:
    """The row of db.tsv (beside the params folder) for ``model_id``, or {}."""
    for candidate in (path.parent / "db.tsv", path.parent.parent / "db.tsv"):
        if candidate.is_file():
            db = read_db(candidate)
            hit = db[db["ID"] == model_id]
            if len(hit):
                return hit.iloc[0].to_dict()
    return {}


def read_db(path: str | Path) -> pd.DataFrame:
    """Read the DeepBind model index ``db.tsv`` (comment lines start with ``#``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "db.tsv"
    >>> _ = p.write_text("# index\\nID\\tProtein\\tExperiment\\nD1\\tX\\tRNAcompete\\n")
    >>> read_db(p)["Protein"].tolist()
    ['X']
    """
    return pd.read_csv(path, sep="\t", comment="#", dtype=str, keep_default_na=False)


def read_deepbind(
    path: str | Path,
    *,
    alphabet: str | Alphabet | None = None,
    padding: Padding = "n",
    layout: Layout = "NCL",
) -> DeepBindModel:
    """Parse a DeepBind v0.1 parameter text file into a :class:`DeepBindModel`.

    Parameters
    ----------
    path : str or Path
        ``<ID>.txt`` with one ``key = value`` per line after ``# deepbind 0.1`` (CRLF accepted).
    alphabet : {"dna", "rna"} or None
        Declared alphabet. None takes ``"rna"`` when the model's ``db.tsv`` row (looked up beside
        the file or its folder) says the experiment is RNAcompete, else ``"dna"``.
    padding : {"n", "context"}
        Window padding (see :class:`DeepBindModel`).
    layout : {"NCL", "NLC"}
        One-hot layout accepted by the model's ``__call__``.

    Returns
    -------
    DeepBindModel
        The parsed model, a callable with a declared layout and alphabet.

    Raises
    ------
    DeepBindFormatError
        Missing or unknown keys, non-numbers, or array sizes that do not match the header; the
        message names the file, the line and the key.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "D0.txt"
    >>> _ = p.write_text("# deepbind 0.1\\nreverse_complement = 0\\nnum_detectors = 1\\n"
    ...   "detector_len = 2\\nhas_avg_pooling = 0\\nnum_hidden = 0\\n"
    ...   "detectors = 1,0,0,0,0,0,0,1\\nthresholds = 0\\nweights1 = 1\\nbiases1 = 0\\n"
    ...   "weights2 = \\nbiases2 = \\n")
    >>> read_deepbind(p).score(["AT", "TA"]).tolist()
    [2.0, 1.25]
    """
    path = Path(path)
    check_option("padding", padding, PADDINGS)
    ints: dict[str, int] = {}
    arrays: dict[str, tuple[np.ndarray, int]] = {}
    with open(path, encoding="utf-8", errors="replace") as fh:
        for lineno, raw in enumerate(fh, start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            key, sep, value = line.partition("=")
            key = key.strip()
            if not sep:
                raise DeepBindFormatError(f"{path}: line {lineno}: expected 'key = value'")
            if key in _INT_KEYS:
                try:
                    ints[key] = int(value.strip())
                except ValueError:
                    raise DeepBindFormatError(
                        f"{path}: line {lineno}: {key} = {value.strip()!r} is not an integer"
                    ) from None
            elif key in _ARRAY_KEYS:
                arrays[key] = (_parse_values(value, key, path, lineno), lineno)
            else:
                raise DeepBindFormatError(f"{path}: line {lineno}: unknown key {key!r}")
    missing = [k for k in (*_INT_KEYS, *_ARRAY_KEYS) if k not in ints and k not in arrays]
    if missing:
        raise DeepBindFormatError(f"{path}: missing key(s) {missing}")
    d, m, h = ints["num_detectors"], ints["detector_len"], ints["num_hidden"]
    avg = bool(ints["has_avg_pooling"])
    features = 2 * d if avg else d
    width = h if h else 1
    want = {
        "detectors": d * m * 4,
        "thresholds": d,
        "weights1": features * width,
        "biases1": width,
        "weights2": h,
        "biases2": 1 if h else 0,
    }
    for key, size in want.items():
        values, lineno = arrays[key]
        if values.size != size:
            raise DeepBindFormatError(
                f"{path}: line {lineno}: {key} has {values.size} values, expected {size} "
                f"(num_detectors={d}, detector_len={m}, num_hidden={h}, has_avg_pooling={int(avg)})"
            )
    model_id = path.name.removesuffix(".txt")
    row = _db_row(path, model_id)
    if alphabet is None:
        alphabet = "rna" if row.get("Experiment", "") == "RNAcompete" else "dna"
    return DeepBindModel(
        name=model_id,
        detectors=arrays["detectors"][0].reshape(m, 4, d),
        thresholds=arrays["thresholds"][0],
        weights1=arrays["weights1"][0].reshape(features, width),
        biases1=arrays["biases1"][0],
        weights2=arrays["weights2"][0],
        biases2=arrays["biases2"][0],
        reverse_complement=bool(ints["reverse_complement"]),
        has_avg_pooling=avg,
        padding=padding,
        alphabet=get_alphabet(alphabet),
        layout=layout,
        protein=str(row.get("Protein", "")),
        experiment=str(row.get("Experiment", "")),
    )


def _detector_table(detectors: np.ndarray) -> np.ndarray:
    """(m, 5, d): the weight of code c (0-3, and N = mean of the four) at each position."""
    n_row = detectors.mean(axis=1, keepdims=True)
    return np.ascontiguousarray(np.concatenate([detectors, n_row], axis=1))


@numba.njit(cache=True, nogil=True, fastmath={"reassoc", "contract", "nsz"}, error_model="numpy")
def _score_one(
    seq: np.ndarray,
    table: np.ndarray,
    thr: np.ndarray,
    w1: np.ndarray,
    b1: np.ndarray,
    w2: np.ndarray,
    b2: np.ndarray,
    avg: bool,
    window: int,
    context: bool,
    prefix: np.ndarray,
    feats: np.ndarray,
    zbuf: np.ndarray,
) -> float:  # pragma: no cover - compiled
    m, _, d = table.shape
    n_out = w1.shape[1]
    length = seq.shape[0]
    n_align = length + m - 1
    # prefix[a, j, k]: sum over j' < j of table[j', code(a - m + 1 + j'), k]; N outside the sequence
    for a in range(n_align):
        start = a - m + 1
        for k in range(d):
            prefix[a, 0, k] = 0.0
        for j in range(m):
            pos = start + j
            code = seq[pos] if 0 <= pos < length else N_CODE
            for k in range(d):
                prefix[a, j + 1, k] = prefix[a, j, k] + table[j, code, k]
    # N-only prefix sums live in row n_align
    for k in range(d):
        prefix[n_align, 0, k] = 0.0
    for j in range(m):
        for k in range(d):
            prefix[n_align, j + 1, k] = prefix[n_align, j, k] + table[j, N_CODE, k]
    width = window if length > window else length
    n_windows = length - width + 1
    hidden = w2.shape[0]
    best = -np.inf
    for s in range(n_windows):
        for k in range(d):
            feats[k] = 0.0  # max of ReLU outputs (>= 0)
            feats[d + k] = 0.0  # their sum
        for a in range(s, s + width + m - 1):
            start = a - m + 1
            lo = 0
            hi = m
            if not context:
                if s - start > 0:
                    lo = s - start
                if s + width - start < m:
                    hi = s + width - start
            if lo == 0 and hi == m:
                for k in range(d):
                    v = max(prefix[a, m, k] + thr[k], 0.0)
                    feats[k] = max(feats[k], v)
                    feats[d + k] += v
            else:
                for k in range(d):
                    v = (
                        prefix[n_align, lo, k]
                        + prefix[a, hi, k]
                        - prefix[a, lo, k]
                        + prefix[n_align, m, k]
                        - prefix[n_align, hi, k]
                        + thr[k]
                    )
                    v = max(v, 0.0)
                    feats[k] = max(feats[k], v)
                    feats[d + k] += v
        inv = 1.0 / (width + m - 1)
        for u in range(n_out):
            zbuf[u] = b1[u]
        for k in range(d):
            fmax = feats[k]
            if fmax > 0.0:  # a zero max of ReLU outputs means a zero mean too: skip exactly
                if avg:
                    fmean = feats[d + k] * inv
                    for u in range(n_out):
                        zbuf[u] += fmax * w1[2 * k, u] + fmean * w1[2 * k + 1, u]
                else:
                    for u in range(n_out):
                        zbuf[u] += fmax * w1[k, u]
        if hidden == 0:
            out = zbuf[0]
        else:
            out = b2[0]
            for u in range(hidden):
                if zbuf[u] > 0.0:
                    out += zbuf[u] * w2[u]
        if out > best:
            best = out
    return best


@numba.njit(cache=True, parallel=True)
def _score_kernel(
    codes: np.ndarray,
    table: np.ndarray,
    thr: np.ndarray,
    w1: np.ndarray,
    b1: np.ndarray,
    w2: np.ndarray,
    b2: np.ndarray,
    avg: bool,
    window: int,
    context: bool,
    rc: bool,
    n_threads: int,
) -> np.ndarray:  # pragma: no cover - compiled
    n, length = codes.shape
    m, _, d = table.shape
    out = np.empty(n, dtype=np.float64)
    per = (n + n_threads - 1) // n_threads
    for t in numba.prange(n_threads):
        prefix = np.empty((length + m, m + 1, d), dtype=np.float64)
        feats = np.empty(2 * d, dtype=np.float64)
        zbuf = np.empty(w1.shape[1], dtype=np.float64)
        rev = np.empty(length, dtype=np.uint8)
        for i in range(t * per, min(n, (t + 1) * per)):
            seq = codes[i]
            score = _score_one(
                seq, table, thr, w1, b1, w2, b2, avg, window, context, prefix, feats, zbuf
            )
            if rc:
                for p in range(length):
                    c = seq[length - 1 - p]
                    rev[p] = 3 - c if c < N_CODE else N_CODE
                other = _score_one(
                    rev, table, thr, w1, b1, w2, b2, avg, window, context, prefix, feats, zbuf
                )
                if other > score:
                    score = other
            out[i] = score
    return out


def _reference_one(model: DeepBindModel, codes: np.ndarray) -> float:
    """Transcription of the forward pass in words, one sequence (slow; for tests)."""
    m, w = model.detector_len, model.window
    onehot = np.vstack([np.eye(4), np.full((1, 4), 0.25)])

    def window_score(padded: np.ndarray) -> float:
        x = onehot[padded]  # (n + 2(m-1), 4)
        n_pos = len(padded) - m + 1
        conv = np.array(
            [np.einsum("jb,jbk->k", x[p : p + m], model.detectors) for p in range(n_pos)]
        )
        act = np.maximum(conv + model.thresholds, 0.0)
        feats = act.max(axis=0)
        if model.has_avg_pooling:
            feats = np.stack([act.max(axis=0), act.mean(axis=0)], axis=1).ravel()
        z = feats @ model.weights1 + model.biases1
        if model.num_hidden:
            return float(np.maximum(z, 0.0) @ model.weights2 + model.biases2[0])
        return float(z[0])

    def scan(seq: np.ndarray) -> float:
        n = len(seq)
        pad = np.full(m - 1, N_CODE, dtype=np.intp)
        if n <= w:
            return window_score(np.concatenate([pad, seq, pad]))
        scores = []
        ext = np.concatenate([pad, seq, pad])
        for s in range(n - w + 1):
            if model.padding == "n":
                scores.append(window_score(np.concatenate([pad, seq[s : s + w], pad])))
            else:
                scores.append(window_score(ext[s : s + w + 2 * (m - 1)]))
        return max(scores)

    seq = np.asarray(codes, dtype=np.intp)
    best = scan(seq)
    if model.reverse_complement:
        rc = np.where(seq < N_CODE, 3 - seq, N_CODE)[::-1]
        best = max(best, scan(rc))
    return best


def reference_scores(model: DeepBindModel, sequences: Sequence[str]) -> np.ndarray:
    """Slow, direct numpy transcription of the DeepBind forward pass (to check the kernel).

    Examples
    --------
    >>> m = DeepBindModel.random(num_detectors=3, detector_len=5, rng=1)
    >>> seqs = ["ACGTTGCAACGT", "GGN"]
    >>> bool(np.allclose(reference_scores(m, seqs), m.score(seqs)))
    True
    """
    out = []
    for i, s in enumerate(sequences):
        codes = encode(s.upper().replace("U", "T"), "dna", ids=[str(i)], n_policy="allow")
        out.append(_reference_one(model, codes))
    return np.array(out, dtype=np.float64)


def to_torch(model: DeepBindModel) -> Any:
    """The same DeepBind model as a ``torch.nn.Module`` (NCL one-hot in, scores ``(N,)`` out).

    Useful for gradients, for the torch adapter and for ONNX export. All-zero input columns are
    read as N (0.25 per channel), as in :meth:`DeepBindModel.__call__`. torch is imported here.

    Examples
    --------
    >>> import torch  # doctest: +SKIP
    >>> m = DeepBindModel.random(num_detectors=4, detector_len=6, rng=0)
    >>> net = to_torch(m)  # doctest: +SKIP
    >>> x = torch.zeros(2, 4, 12); x[:, 0] = 1  # doctest: +SKIP
    >>> bool(abs(net(x)[0].item() - m.score(["A" * 12])[0]) < 1e-5)  # doctest: +SKIP
    True
    """
    import torch
    import torch.nn.functional as F  # noqa: N812

    class DeepBindTorch(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            as_t = lambda a: torch.tensor(np.asarray(a), dtype=torch.float32)  # noqa: E731
            self.weight = torch.nn.Parameter(as_t(model.detectors.transpose(2, 1, 0)))
            self.thresholds = torch.nn.Parameter(as_t(model.thresholds))
            self.w1 = torch.nn.Parameter(as_t(model.weights1))
            self.b1 = torch.nn.Parameter(as_t(model.biases1))
            self.w2 = torch.nn.Parameter(as_t(model.weights2))
            self.b2 = torch.nn.Parameter(as_t(model.biases2))
            self.m, self.window = model.detector_len, model.window
            self.avg, self.rc = model.has_avg_pooling, model.reverse_complement
            self.context = model.padding == "context"
            self.hidden = model.num_hidden

        def _strand(self, x: Any) -> Any:
            n, _, length = x.shape
            m, w = self.m, self.window
            width = w if length > w else length
            if self.context:
                padded = F.pad(x, (m - 1, m - 1), value=0.25)
                wins = padded.unfold(2, width + 2 * (m - 1), 1)
            else:
                wins = F.pad(x.unfold(2, width, 1), (m - 1, m - 1), value=0.25)
            nw = wins.shape[2]
            xw = wins.permute(0, 2, 1, 3).reshape(n * nw, 4, wins.shape[3])
            act = F.relu(F.conv1d(xw, self.weight, self.thresholds))
            if self.avg:
                feats = torch.stack([act.amax(2), act.mean(2)], dim=2).reshape(n * nw, -1)
            else:
                feats = act.amax(2)
            z = feats @ self.w1 + self.b1
            z = F.relu(z) @ self.w2 + self.b2 if self.hidden else z[:, 0]
            return z.reshape(n, nw).amax(1)

        def forward(self, x: Any) -> Any:
            is_n = x.sum(dim=1, keepdim=True) == 0
            x = torch.where(is_n, torch.full_like(x, 0.25), x)
            score = self._strand(x)
            if self.rc:
                score = torch.maximum(score, self._strand(x.flip(1, 2)))
            return score

    return DeepBindTorch()
