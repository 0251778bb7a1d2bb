"""Lab effects from selection reads: k-mer enrichment of bound over input reads.

Selection experiments (RBNS, RNAcompete-S, SELEX, HT-SELEX) sequence the reads a protein bound
and the input (pool) they were drawn from. The lab effect of a k-mer ``u`` is its log2
enrichment ``E(u) = log2 f_bound(u) / f_input(u)``, where ``f`` is its frequency in each read
population, counted one of three ways:

- ``counting="read"`` (default; any position): the fraction of reads that hold ``u`` at least
  once. A read with two copies counts once, so the counts are binomial over reads.
- ``counting="occurrence"`` (any position): occurrences of ``u`` per k-mer window, every
  occurrence counted (overlapping ones too).
- ``positional=True``: the fraction of reads with ``u`` starting at position ``j`` (0-based),
  one row per (k-mer, position); binomial over the reads that have a called window at ``j``.

Intervals (``interval=``): ``"count"`` is the delta-method (Katz) interval of a log ratio of two
binomial proportions, ``se(ln R) = sqrt(1/x_b - 1/n_b + 1/x_i - 1/n_i)`` with counts ``x`` out
of totals ``n`` (``scipy.stats.contingency.relative_risk`` computes the same with no
pseudocount). For occurrence counts the windows of one read are not independent, so the count
interval is optimistic there; ``"bootstrap"`` resamples whole reads of each set
(``scipy.stats.bootstrap``, percentile) and is valid for every counting. Both cover the
sampling of reads from the bound and input populations, not the selection experiment's own
variation (replicate selections) and not sequencing errors.

Reads may be in DNA or RNA letters (T and U are one base); N is allowed and a window holding N
is not counted. K-mers are written in ``letters`` (RNA by default), so the table joins an
in-silico k-mer screen whose arm labels are the k-mers: ``enrichment.join(ace)`` merges on the
ACE table's ``label`` (and ``position`` for positional counts).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd
from scipy import sparse, stats

from .._options import check_int, check_option, check_probability
from .._rng import RngLike, generator, root_seed, unit_keys
from ..errors import EstimationError, InvalidSequenceError, OptionError
from ..sequences import N_CODE, FastaRecords, read_fasta
from ..stats import Adjustment, adjust_pvalues
from .measurements import missing_column_message

Counting = Literal["read", "occurrence"]
Interval = Literal["count", "bootstrap"]
Letters = Literal["rna", "dna"]
Reads = str | Path | FastaRecords | Sequence[str] | np.ndarray
MAX_K = 12
_LOOKUP = np.full(256, 255, dtype=np.uint8)
for _code, _letters in enumerate(("Aa", "Cc", "Gg", "TtUu")):
    for _letter in _letters:
        _LOOKUP[ord(_letter)] = _code
_LOOKUP[ord("N")] = _LOOKUP[ord("n")] = N_CODE
_COLUMN_BLOCK = 4096  # k-mer columns per bootstrap block (memory: n_resamples x block)


@dataclass(frozen=True)
class Enrichment:
    """K-mer enrichment of bound over input reads, one row per k-mer (and position).

    ``table`` columns: ``kmer``, [``position``], ``bound_count``, ``input_count``,
    ``bound_total``, ``input_total`` (reads, or k-mer windows for occurrence counting),
    ``bound_freq``, ``input_freq`` (count / total), ``log2_enrichment`` (with the pseudocount),
    ``se`` (of the log2 enrichment), ``ci_low``, ``ci_high``, ``z``, ``p_value`` (two-sided,
    normal, H0: no enrichment) and ``q_value`` (``multiple_testing`` over all rows).

    Examples
    --------
    >>> e = selection_enrichment(["ACGU", "ACGA"], ["UUUU", "ACGG"], k=3)
    >>> e.to_frame().set_index("kmer").loc["ACG", ["bound_count", "input_count"]].tolist()
    [2, 1]
    """

    table: pd.DataFrame
    k: int
    counting: str
    positional: bool
    interval: str
    ci: float
    pseudocount: float
    n_bound: int
    n_input: int

    def to_frame(self) -> pd.DataFrame:
        """A copy of the enrichment table.

        Returns
        -------
        pandas.DataFrame
            A copy of :attr:`table`, one row per k-mer (and position).
        """
        return self.table.copy()

    def join(self, ace: pd.DataFrame, *, on: str = "label") -> pd.DataFrame:
        """This table merged with an in-silico ACE table of the same k-mers.

        ``ace[on]`` holds the k-mers in this table's letters (the ``label`` of a k-mer screen
        whose arms are ``Arm(kmer, Substitute(kmer, position))``); positional enrichment also
        merges on ``position``. Columns of the ACE table that clash get the suffix ``_ace``.
        Every k-mer of the ACE table must be in this table (else an error names the first
        missing one).

        Parameters
        ----------
        ace : pandas.DataFrame
            An in-silico ACE table (e.g. ``AceEstimates.to_frame()`` of a k-mer screen).
        on : str, default "label"
            The column of ``ace`` holding the k-mers.

        Returns
        -------
        pandas.DataFrame
            One row per row of ``ace`` (the k-mer column renamed ``kmer``), with this table's
            columns beside it.

        Examples
        --------
        >>> e = selection_enrichment(["ACGU", "ACGA"], ["UUUU", "ACGG"], k=3)
        >>> ace = pd.DataFrame({"label": ["ACG", "UUU"], "ace": [1.0, -1.0]})
        >>> e.join(ace)[["kmer", "log2_enrichment", "ace"]].round(2).values.tolist()
        [['ACG', 0.74, 1.0], ['UUU', -1.58, -1.0]]
        """
        if on not in ace.columns:
            raise OptionError(f"the ACE table: {missing_column_message(on, list(ace.columns))}")
        keys = ["kmer", "position"] if self.positional else ["kmer"]
        right = ace.rename(columns={on: "kmer"})
        if self.positional and "position" not in right.columns:
            raise OptionError("positional enrichment joins on position; the ACE table has none")
        known = set(map(tuple, self.table[keys].astype(object).to_numpy().tolist()))
        for row in right[keys].astype(object).to_numpy().tolist():
            if tuple(row) not in known:
                raise EstimationError(
                    f"the ACE table's {on} {row[0]!r}"
                    + (f" at position {row[1]}" if self.positional else "")
                    + f" is not a {self.k}-mer of this enrichment table (letters, length?)"
                )
        return right.merge(self.table, on=keys, how="left", suffixes=("_ace", ""))

    def summary(self, top: int = 5) -> str:
        """Reads, counting, interval and the ``top`` most enriched k-mers.

        Parameters
        ----------
        top : int, default 5
            Number of most enriched rows listed.

        Returns
        -------
        str
            A header line, one line per listed k-mer (log2 enrichment, interval,
            frequencies, q) and the number of rows with q < 0.05.
        """
        how = "at each position" if self.positional else f"any position, per {self.counting}"
        head = (
            f"Selection enrichment of {self.k}-mers ({how}): {self.n_bound} bound / "
            f"{self.n_input} input reads; {self.interval} {self.ci:.0%} intervals, "
            f"pseudocount {self.pseudocount:g}"
        )
        t = self.table.sort_values("log2_enrichment", ascending=False, kind="stable").head(top)
        lines = [head]
        for r in t.itertuples(index=False):
            where = f"@{r.position}" if self.positional else ""
            lines.append(
                f"  {r.kmer}{where}: log2 {r.log2_enrichment:+.3f} [{r.ci_low:+.3f}, "
                f"{r.ci_high:+.3f}]  {r.bound_freq:.4f} vs {r.input_freq:.4f}  q={r.q_value:.2g}"
            )
        lines.append(f"  {int((self.table['q_value'] < 0.05).sum())} rows with q < 0.05")
        return "\n".join(lines)


def read_codes(reads: Reads, *, name: str = "reads") -> np.ndarray:
    """Reads as uint8 codes ``(N, max length)``, T and U both code 3, short reads padded with N.

    ``reads`` is a FASTA path (plain or gzip; DNA or RNA letters), :class:`FastaRecords`, a
    list of strings (whitespace removed, case ignored) or a uint8 code array.

    Parameters
    ----------
    reads : str, pathlib.Path, FastaRecords, sequence of str or numpy.ndarray
        The reads, in one of the forms above; a uint8 array is checked and returned as is.
    name : str, default "reads"
        What the reads are called in error messages (e.g. ``"bound"``).

    Returns
    -------
    numpy.ndarray
        uint8 codes, shape (number of reads, longest read), 0..3 for A, C, G, T/U and 4 for
        N and padding.

    Examples
    --------
    >>> read_codes(["acgu", "GT"]).tolist()
    [[0, 1, 2, 3], [2, 3, 4, 4]]
    """
    if isinstance(reads, np.ndarray) and reads.dtype == np.uint8:
        if reads.ndim != 2 or reads.shape[0] == 0 or (reads > N_CODE).any():
            raise InvalidSequenceError(f"{name}: codes must be a non-empty (N, L) array of 0..4")
        return reads
    if isinstance(reads, str | Path):
        try:
            records = read_fasta(reads, alphabet="dna", n_policy="allow")
        except InvalidSequenceError:
            records = read_fasta(reads, alphabet="rna", n_policy="allow")
        ids, seqs = list(records.ids), list(records.sequences)
    elif isinstance(reads, FastaRecords):
        ids, seqs = list(reads.ids), list(reads.sequences)
    else:
        seqs = ["".join(str(s).split()) for s in reads]
        ids = [str(i) for i in range(len(seqs))]
    if not seqs:
        raise InvalidSequenceError(f"{name}: no reads")
    lengths = np.array([len(s) for s in seqs])
    if (lengths == 0).any():
        raise InvalidSequenceError(f"{name}: read {ids[int(np.argmin(lengths))]!r} is empty")
    width = int(lengths.max())
    text = "".join(s.ljust(width, "N") for s in seqs).encode("latin-1", errors="replace")
    codes = _LOOKUP[np.frombuffer(text, dtype=np.uint8)].reshape(len(seqs), width)
    bad = codes == 255
    if bad.any():
        row, pos = (int(v[0]) for v in np.nonzero(bad))
        raise InvalidSequenceError(
            f"{name}: read {ids[row]!r} has the invalid letter {seqs[row][pos]!r} at position {pos}"
        )
    return codes


def kmer_names(k: int, letters: Letters = "rna") -> np.ndarray:
    """All 4^k k-mers in lexicographic order of the code (A, C, G, T/U).

    Parameters
    ----------
    k : int
        The k-mer length.
    letters : {"rna", "dna"}, default "rna"
        Write the fourth base as U or as T.

    Returns
    -------
    numpy.ndarray
        The 4^k k-mers as strings (``[""]`` for k = 0).

    Examples
    --------
    >>> kmer_names(2)[:5].tolist()
    ['AA', 'AC', 'AG', 'AU', 'CA']
    """
    alphabet = "ACGU" if check_option("letters", letters, ("rna", "dna")) == "rna" else "ACGT"
    grid = np.indices((4,) * k).reshape(k, -1).T
    table = np.array(list(alphabet))
    return np.array(["".join(row) for row in table[grid]]) if k else np.array([""])


def _windows(codes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """K-mer index (N, W) of every window and whether it is called (no N)."""
    if codes.shape[1] < k:
        raise OptionError(f"k={k} is longer than the reads (length {codes.shape[1]})")
    win = np.lib.stride_tricks.sliding_window_view(codes, k, axis=1)
    valid = (win < N_CODE).all(axis=2)
    weights = 4 ** np.arange(k - 1, -1, -1, dtype=np.int64)
    index = (np.minimum(win, 3).astype(np.int64) * weights).sum(axis=2)
    return index, valid


def _incidence(codes: np.ndarray, k: int, counting: str, positional: bool) -> sparse.csr_matrix:
    """Per-read counts as a sparse (reads x columns) matrix, and the per-read totals.

    Columns are k-mers (any position) or position * 4^k + k-mer (positional); the last block
    of columns (4^k for any position, W for positional) holds the read's totals.
    """
    index, valid = _windows(codes, k)
    n, w = index.shape
    size = 4**k
    rows = np.broadcast_to(np.arange(n)[:, None], (n, w))[valid]
    if positional:
        cols = (np.arange(w)[None, :] * size + index)[valid]
        counts = sparse.csr_matrix(
            (np.ones(cols.size), (rows, cols)), shape=(n, w * size), dtype=np.float64
        )
        totals = sparse.csr_matrix(valid.astype(np.float64))
    else:
        cols = index[valid]
        counts = sparse.csr_matrix(
            (np.ones(cols.size), (rows, cols)), shape=(n, size), dtype=np.float64
        )
        counts.sum_duplicates()
        if counting == "read":
            counts.data[:] = 1.0
            totals = sparse.csr_matrix(np.ones((n, 1)))
        else:
            totals = sparse.csr_matrix(valid.sum(axis=1, dtype=np.float64)[:, None])
    return sparse.hstack([counts, totals], format="csr")


def _log2_ratio(
    xb: np.ndarray, nb: np.ndarray, xi: np.ndarray, ni: np.ndarray, a: float
) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log2((xb + a) / (nb + a)) - np.log2((xi + a) / (ni + a))


def selection_enrichment(
    bound: Reads,
    input: Reads,
    *,
    k: int = 5,
    counting: Counting = "read",
    positional: bool = False,
    interval: Interval = "count",
    ci: float = 0.95,
    pseudocount: float = 0.5,
    letters: Letters = "rna",
    n_resamples: int = 999,
    multiple_testing: Adjustment = "fdr_bh",
    rng: RngLike = None,
) -> Enrichment:
    """K-mer enrichment of bound over input reads with intervals (see the module docstring).

    Parameters
    ----------
    bound, input : FASTA path, FastaRecords, list of str or uint8 codes
        The selected reads and the reads they were selected from (DNA or RNA letters).
    k : int
        K-mer length (1..12).
    counting : {"read", "occurrence"}
        Any-position frequency: reads holding the k-mer (each read once), or occurrences per
        window (every occurrence). Ignored when ``positional``.
    positional : bool
        Count the k-mer at each start position separately (a ``position`` column).
    interval : {"count", "bootstrap"}
        Delta-method (Katz) interval from the counts, or a percentile bootstrap over reads
        (bound and input resampled separately; ``se`` is the bootstrap standard deviation).
    ci : float
        Interval level.
    pseudocount : float
        Added to every count and total before the log ratio (0 gives inf for absent k-mers).
    letters : {"rna", "dna"}
        Letters of the ``kmer`` column.
    n_resamples : int
        Bootstrap resamples (``interval="bootstrap"``).
    multiple_testing : str
        Adjustment of the p-values over all rows (``causalgia.stats.adjust_pvalues``).
    rng : int, Generator or None
        Seed of the bootstrap.

    Returns
    -------
    Enrichment

    Examples
    --------
    >>> bound = ["GCUGGA", "AGCUGG", "UUUUUU", "GCUGGC"]
    >>> pool = ["ACACAC", "GCUGGA", "UUUUUU", "CACACA"]
    >>> e = selection_enrichment(bound, pool, k=5, pseudocount=0)
    >>> row = e.to_frame().set_index("kmer").loc["GCUGG"]
    >>> int(row["bound_count"]), int(row["input_count"]), float(row["log2_enrichment"])
    (3, 1, 1.584962500721156)
    """
    k = check_int("k", k, minimum=1)
    if k > MAX_K:
        raise OptionError(f"k must be <= {MAX_K} (4^k rows), got {k}")
    check_option("counting", counting, ("read", "occurrence"))
    check_option("interval", interval, ("count", "bootstrap"))
    check_option("letters", letters, ("rna", "dna"))
    check_option("multiple_testing", multiple_testing, get_args(Adjustment))
    ci = check_probability("ci", ci)
    n_resamples = check_int("n_resamples", n_resamples, minimum=1)
    if not isinstance(positional, bool | np.bool_):
        raise OptionError(f"positional must be True or False, got {positional!r}")
    a = float(pseudocount)
    if not (np.isfinite(a) and a >= 0):
        raise OptionError(f"pseudocount must be a finite number >= 0, got {pseudocount!r}")
    codes_b = read_codes(bound, name="bound")
    codes_i = read_codes(input, name="input")
    if positional and codes_b.shape[1] != codes_i.shape[1]:
        raise OptionError(
            f"positional counting needs one read length; bound reads are {codes_b.shape[1]} "
            f"and input reads {codes_i.shape[1]} long"
        )
    mb = _incidence(codes_b, k, counting, positional)
    mi = _incidence(codes_i, k, counting, positional)
    size = 4**k
    n_cols = mb.shape[1] - (mb.shape[1] // (size + 1) if positional else 1)
    xb, xi = _column_sums(mb), _column_sums(mi)
    names = kmer_names(k, letters)
    if positional:
        w = n_cols // size
        tb, ti = np.repeat(xb[n_cols:], size), np.repeat(xi[n_cols:], size)
        table = pd.DataFrame({"kmer": np.tile(names, w), "position": np.repeat(np.arange(w), size)})
    else:
        tb, ti = np.full(size, xb[n_cols]), np.full(size, xi[n_cols])
        table = pd.DataFrame({"kmer": names})
    xb, xi = xb[:n_cols], xi[:n_cols]
    est = _log2_ratio(xb, tb, xi, ti, a)
    if interval == "count":
        with np.errstate(divide="ignore", invalid="ignore"):
            var = 1 / (xb + a) - 1 / (tb + a) + 1 / (xi + a) - 1 / (ti + a)
        se = np.sqrt(np.maximum(var, 0.0)) / np.log(2)
        half = stats.norm.ppf(0.5 + ci / 2) * se
        with np.errstate(invalid="ignore"):
            low, high = est - half, est + half
    else:
        low, high, se = _bootstrap(mb, mi, n_cols, positional, size, a, ci, n_resamples, rng)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, est / se, np.nan)
    p = 2 * stats.norm.sf(np.abs(z))
    table["bound_count"] = xb.round().astype(np.int64)
    table["input_count"] = xi.round().astype(np.int64)
    table["bound_total"] = tb.round().astype(np.int64)
    table["input_total"] = ti.round().astype(np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        table["bound_freq"] = xb / tb
        table["input_freq"] = xi / ti
    table["log2_enrichment"] = est
    table["se"], table["ci_low"], table["ci_high"] = se, low, high
    table["z"], table["p_value"] = z, p
    q = np.full(p.size, np.nan)
    finite = np.isfinite(p)
    q[finite] = adjust_pvalues(p[finite], multiple_testing)
    table["q_value"] = q
    return Enrichment(
        table=table,
        k=k,
        counting="position" if positional else counting,
        positional=bool(positional),
        interval=interval,
        ci=ci,
        pseudocount=a,
        n_bound=int(codes_b.shape[0]),
        n_input=int(codes_i.shape[0]),
    )


def _column_sums(m: sparse.csr_matrix) -> np.ndarray:
    return np.asarray(m.sum(axis=0)).ravel()


def _bootstrap(
    mb: sparse.csr_matrix,
    mi: sparse.csr_matrix,
    n_cols: int,
    positional: bool,
    size: int,
    a: float,
    ci: float,
    n_resamples: int,
    rng: RngLike,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Percentile interval and standard error of the log2 ratio, resampling whole reads.

    K-mer columns are handled in blocks (memory ``n_resamples x block``); every block uses the
    same seed, so the same resampled reads.
    """
    key = unit_keys(root_seed(rng), [0], "enrichment", "bootstrap")[0]
    low, high, se = (np.empty(n_cols) for _ in range(3))
    for start in range(0, n_cols, _COLUMN_BLOCK):
        cols = np.arange(start, min(n_cols, start + _COLUMN_BLOCK))
        tcols = n_cols + cols // size if positional else np.full(cols.size, n_cols)
        totals, where = np.unique(tcols, return_inverse=True)
        keep = np.r_[cols, totals]
        res = _bootstrap_block(
            mb[:, keep], mi[:, keep], cols.size + where, a, ci, n_resamples, generator(key)
        )
        low[cols] = res.confidence_interval.low
        high[cols] = res.confidence_interval.high
        se[cols] = res.standard_error
    return low, high, se


def _bootstrap_block(
    mb: sparse.csr_matrix,
    mi: sparse.csr_matrix,
    where: np.ndarray,
    a: float,
    ci: float,
    n_resamples: int,
    gen: np.random.Generator,
) -> Any:
    """``scipy.stats.bootstrap`` over the read indices of each set (resampled separately).

    The statistic turns a batch of resampled indices into read weights and the weights into
    k-mer counts; ``where`` gives each k-mer column's totals column.
    """
    m = where.size

    def statistic(ib: np.ndarray, ii: np.ndarray, axis: int = -1) -> np.ndarray:
        cb, cin = _resampled(mb, ib), _resampled(mi, ii)
        return _log2_ratio(cb[:, :m], cb[:, where], cin[:, :m], cin[:, where], a).T

    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        return stats.bootstrap(
            (np.arange(mb.shape[0]), np.arange(mi.shape[0])),
            statistic,
            vectorized=True,
            paired=False,
            n_resamples=n_resamples,
            batch=max(1, min(n_resamples, 200)),
            confidence_level=ci,
            method="percentile",
            rng=gen,
        )


def _resampled(m: sparse.csr_matrix, index: np.ndarray) -> np.ndarray:
    """Column sums of ``m`` over each row of resampled read indices ``(batch, n)``."""
    index = np.atleast_2d(index)
    batch, n = index.shape
    weights = sparse.csr_matrix(
        (np.ones(index.size), (np.repeat(np.arange(batch), n), index.ravel())),
        shape=(batch, m.shape[0]),
    )
    return np.asarray((weights @ m).todense())
