"""Real genomic backgrounds: windows of a genome FASTA at BED regions, optionally GC-matched.

:func:`genomic` is the seed paper's recipe of knocking motifs into real sequences (for example
the negative-class regions of a ChIP-seq model): it reads a genome FASTA with pyfaidx (random
access through the ``.fai`` index), takes windows of one length at the regions of a BED file,
drops the windows that hold an N and draws unit ``i`` as one of the remaining windows, either
uniformly or with weights that match the GC histogram of a reference set.

Every candidate window is read once, at construction, into a ``uint8`` array: generation is a
lookup, and the object pickles (to Dask workers) without a file handle. pyfaidx is optional
(``pip install 'causalgia[genome]'``) and imported only while the windows are read.

The module is not called ``genomic``: a module named like the function it exports would shadow
it in its package (ARCHITECTURE.md).
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd

from .._options import check_int, check_option, check_probability
from .._rng import uniforms, unit_keys
from ..errors import InputFileError, InvalidSequenceError, OptionError
from ..sequences.alphabet import N_CODE, Alphabet, as_codes, encode, get_alphabet
from ..sequences.alphabet import reverse_complement as _rc
from ..sequences.io import open_text
from .backgrounds import Background, _check_ids, _readonly, _sha256

__all__ = ["GCMatchWarning", "Genomic", "genomic"]

Placement = Literal["center", "tile"]
Strand = Literal["bed", "forward", "both"]
BeyondEnd = Literal["error", "exclude"]
PLACEMENTS: tuple[str, ...] = ("center", "tile")
STRANDS: tuple[str, ...] = ("bed", "forward", "both")
BEYOND_END: tuple[str, ...] = ("error", "exclude")
MAX_BYTES = 2**31  #: largest candidate array (windows x length bytes) read into memory
GC_REFERENCE_N = 10_000  #: sequences drawn from a reference Background (seed 0)
_BED_SKIP = ("#", "track ", "track\t", "browser ", "browser\t")
_EXAMPLES = 20  #: BED lines of excluded windows listed in describe()


class GCMatchWarning(UserWarning):
    """Part of the reference GC histogram lies in bins without any candidate window."""


def _letter_table() -> np.ndarray:
    """Byte -> code: A C G T/U (any case) -> 0..3; N and IUPAC ambiguity letters -> 4; else 255."""
    table = np.full(256, 255, dtype=np.uint8)
    for code, letters in enumerate(("A", "C", "G", "TU")):
        for letter in letters:
            table[ord(letter)] = table[ord(letter.lower())] = code
    for letter in "NRYSWKMBDHV":
        table[ord(letter)] = table[ord(letter.lower())] = N_CODE
    return table


_LETTERS = _letter_table()


def _import_pyfaidx() -> Any:
    try:
        import pyfaidx
    except ImportError:
        raise OptionError(
            "genomic backgrounds read the genome with pyfaidx: pip install 'causalgia[genome]'"
        ) from None
    return pyfaidx


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class _Region:
    line: int  # 1-based line of the BED file
    chrom: str
    start: int
    end: int
    strand: str


def _read_bed(path: Path) -> list[_Region]:
    """BED regions (chrom, start, end; 0-based half-open; optional strand in column 6)."""
    regions = []
    with open_text(path) as fh:
        for number, raw in enumerate(fh, start=1):
            line = raw.rstrip("\r\n")
            if not line.strip() or line.startswith(_BED_SKIP) or line in ("track", "browser"):
                continue
            fields = line.split("\t")
            if len(fields) < 3:
                fields = line.split()
            where = f"{path}, line {number}"
            if len(fields) < 3:
                raise InputFileError(
                    f"{where}: a BED line needs chrom, start and end (tab-separated), got {line!r}"
                )
            try:
                start, end = int(fields[1]), int(fields[2])
            except ValueError:
                raise InputFileError(
                    f"{where}: start and end must be integers, got {fields[1]!r} and {fields[2]!r}"
                ) from None
            if start < 0 or end < start:
                raise InputFileError(
                    f"{where}: needs 0 <= start <= end (0-based, half-open), got {start}, {end}"
                )
            strand = fields[5].strip() if len(fields) > 5 else "."
            if strand not in ("+", "-", "."):
                raise InputFileError(
                    f"{where}: strand (column 6) must be +, - or ., got {strand!r}"
                )
            regions.append(_Region(number, fields[0].strip(), start, end, strand))
    if not regions:
        raise InputFileError(f"{path}: no regions (only blank, comment, track or browser lines)")
    return regions


def _open_fasta(path: Path) -> Any:
    """A pyfaidx.Fasta of ``path`` (raw strings, strict bounds); errors name the file."""
    pyfaidx = _import_pyfaidx()
    if path.is_dir():
        raise InputFileError(f"{path} is a directory, not a FASTA file")
    if not path.is_file():
        raise InputFileError(f"{path}: no such file")
    try:
        return pyfaidx.Fasta(str(path), as_raw=True, strict_bounds=True)
    except pyfaidx.UnsupportedCompressionFormat as err:
        raise InputFileError(
            f"{path}: pyfaidx reads plain or bgzip-compressed FASTA only ({err}); "
            "decompress it or compress it with bgzip"
        ) from None
    except (OSError, ValueError, pyfaidx.FastaIndexingError) as err:
        raise InputFileError(f"{path}: cannot index the FASTA with pyfaidx: {err}") from None


def _unknown_chrom(region: _Region, names: list[str], bed: Path, fasta: Path) -> InputFileError:
    chrom = region.chrom
    alt = chrom[3:] if chrom.startswith("chr") else f"chr{chrom}"
    if alt in names:
        hint = f"it has {alt!r}: the BED and the FASTA name chromosomes differently"
    else:
        shown = ", ".join(repr(n) for n in names[:5]) + (", ..." if len(names) > 5 else "")
        hint = f"it has {len(names)} sequences: {shown}"
    return InputFileError(
        f"{bed}, line {region.line}: chromosome {chrom!r} is not in {fasta} ({hint})"
    )


def _encode_genome(text: str, fasta: Path, chrom: str, offset: int) -> np.ndarray:
    codes = _LETTERS[np.frombuffer(text.encode("latin-1", errors="replace"), dtype=np.uint8)]
    if (bad := np.flatnonzero(codes == 255)).size:
        pos = int(bad[0])
        raise InvalidSequenceError(
            f"{fasta}: {chrom} has {text[pos]!r} at position {offset + pos} (0-based), which is "
            "not a nucleotide letter (A, C, G, T/U, N or an IUPAC ambiguity code)"
        )
    return codes


def _windows(
    regions: list[_Region],
    lengths: dict[str, int],
    length: int,
    placement: str,
    stride: int,
    beyond_end: str,
    bed: Path,
    fasta: Path,
) -> tuple[list[tuple[int, str, int, str]], int]:
    """Window starts (region index, chrom, start or -1 when off the end, BED strand), and the
    number of regions too short for a tile."""
    out: list[tuple[int, str, int, str]] = []
    short = 0
    for i, r in enumerate(regions):
        size = lengths[r.chrom]
        if r.end > size:
            raise InputFileError(
                f"{bed}, line {r.line}: region {r.chrom}:{r.start}-{r.end} ends past the end of "
                f"{r.chrom} (length {size}) in {fasta}; is the BED from another assembly?"
            )
        if placement == "tile":
            starts = range(r.start, r.end - length + 1, stride)
            short += len(starts) == 0
            out += [(i, r.chrom, s, r.strand) for s in starts]
            continue
        start = (r.start + r.end) // 2 - length // 2
        if start < 0 or start + length > size:
            if beyond_end == "error":
                raise InputFileError(
                    f"{bed}, line {r.line}: the {length}-nt window centred on region "
                    f"{r.chrom}:{r.start}-{r.end} is [{start}, {start + length}), which runs off "
                    f"{r.chrom} (length {size}); pass beyond_end='exclude' to drop (and count) "
                    "such windows"
                )
            out.append((i, r.chrom, -1, r.strand))
        else:
            out.append((i, r.chrom, start, r.strand))
    return out, short


def _read_windows(
    fa: Any, starts: list[tuple[int, str, int, str]], length: int, fasta: Path
) -> np.ndarray:
    """Codes ``(len(starts), length)`` of the forward strand; a window off the end stays N."""
    codes = np.full((len(starts), length), N_CODE, dtype=np.uint8)
    j = 0
    while j < len(starts):  # the windows of one region are read as one span
        region, chrom = starts[j][0], starts[j][1]
        k = j
        while k < len(starts) and starts[k][0] == region:
            k += 1
        mine = [s for _, _, s, _ in starts[j:k] if s >= 0]
        if mine:
            lo, hi = min(mine), max(mine) + length
            span = _encode_genome(fa[chrom][lo:hi], fasta, chrom, lo)
            for row in range(j, k):
                if (s := starts[row][2]) >= 0:
                    codes[row] = span[s - lo : s - lo + length]
        j = k
    return codes


def _gc(codes: np.ndarray) -> np.ndarray:
    """GC fraction of each row over its A/C/G/T letters (N not counted); NaN for all-N rows."""
    gc = ((codes == 1) | (codes == 2)).sum(axis=1).astype(np.float64)
    valid = (codes < N_CODE).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(valid > 0, gc / np.maximum(valid, 1), np.nan)


def _gc_edges(gc_bins: Any) -> np.ndarray:
    if isinstance(gc_bins, int | np.integer) and not isinstance(gc_bins, bool):
        return np.linspace(0.0, 1.0, check_int("gc_bins", gc_bins, minimum=1) + 1)
    try:
        edges = np.asarray(gc_bins, dtype=np.float64)
    except (TypeError, ValueError):
        edges = np.array([np.nan])
    if (
        edges.ndim != 1
        or edges.size < 2
        or not np.isfinite(edges).all()
        or (np.diff(edges) <= 0).any()
        or edges[0] != 0.0
        or edges[-1] != 1.0
    ):
        raise OptionError(
            "gc_bins must be a number of equal bins (>= 1) or increasing bin edges from 0 to 1, "
            f"got {gc_bins!r}"
        )
    return edges


def _bin(gc: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of each GC fraction: [e_b, e_b+1), the last bin closed."""
    return np.clip(np.searchsorted(edges, gc, side="right") - 1, 0, len(edges) - 2)


def _reference_gc(
    reference: Any, n: int | None, alphabet: Alphabet
) -> tuple[np.ndarray, dict[str, Any]]:
    """GC fractions of the reference set, and its description for the manifest."""
    if isinstance(reference, Background):
        n = GC_REFERENCE_N if n is None else check_int("gc_match_n", n, minimum=1)
        codes = reference.sample(n, rng=0)
        rows = list(codes)
        described: dict[str, Any] = {"background": reference.describe(), "seed": 0}
    else:
        if n is not None:
            raise OptionError("gc_match_n is used only when gc_match is a Background")
        if isinstance(reference, np.ndarray):
            if reference.dtype.kind not in "iu":
                raise OptionError(
                    f"gc_match: an array must hold integer codes, got dtype {reference.dtype}"
                )
            rows = list(as_codes(reference))
        elif isinstance(reference, str):
            rows = [encode(reference, alphabet, n_policy="allow")]
        else:
            rows = []
            for idx, item in enumerate(reference):
                if isinstance(item, str):
                    rows.append(encode(item, alphabet, ids=[str(idx)], n_policy="allow"))
                elif (row := np.asarray(item)).ndim == 1 and row.dtype.kind in "iu":
                    rows.append(as_codes(row)[0])
                else:
                    raise OptionError(
                        f"gc_match: sequence {idx} must be a string or 1-D integer codes, "
                        f"got {type(item).__name__}"
                    )
        h = hashlib.sha256()
        for row in rows:
            h.update(np.ascontiguousarray(row, dtype=np.uint8).tobytes() + b"|")
        described = {"sequences_sha256": h.hexdigest()}
    if not rows:
        raise OptionError("gc_match needs at least one reference sequence, got none")
    gc = np.array([_gc(np.asarray(r, dtype=np.uint8)[None, :])[0] for r in rows])
    if (bad := np.flatnonzero(np.isnan(gc))).size:
        raise InvalidSequenceError(
            f"gc_match: reference sequence {int(bad[0])} has no A/C/G/T letter, so no GC content"
        )
    return gc, {"n_reference": len(rows), **described}


def _span(edges: np.ndarray, b: int) -> str:
    close = "]" if b == len(edges) - 2 else ")"
    return f"[{edges[b]:g}, {edges[b + 1]:g}{close}"


def _gc_weights(
    cand_gc: np.ndarray, ref_gc: np.ndarray, edges: np.ndarray, max_unmatched: float
) -> tuple[np.ndarray, dict[str, Any]]:
    """Importance weights ref_frac[bin] / cand_count[bin] (summing to 1) and their summary."""
    nb = len(edges) - 1
    cand_bin, ref_bin = _bin(cand_gc, edges), _bin(ref_gc, edges)
    ref = np.bincount(ref_bin, minlength=nb) / ref_bin.size
    count = np.bincount(cand_bin, minlength=nb)
    missing = np.flatnonzero((ref > 0) & (count == 0))
    unmatched = float(ref[missing].sum())
    listed = ", ".join(f"{_span(edges, b)} ({ref[b]:.1%})" for b in missing)
    if missing.size and (unmatched > max_unmatched or unmatched >= 1.0):
        raise OptionError(
            f"gc_match: {unmatched:.1%} of the reference lies in GC bins without any candidate "
            f"window: {listed}; more than max_unmatched={max_unmatched:g}. Add regions, use "
            "wider gc_bins, or raise max_unmatched"
        )
    if missing.size:
        warnings.warn(
            f"gc_match: {unmatched:.1%} of the reference lies in GC bins without any candidate "
            f"window ({listed}); the drawn windows match the rest of the reference histogram",
            GCMatchWarning,
            stacklevel=3,
        )
    target = np.where(count > 0, ref, 0.0)
    target /= target.sum()
    weights = target[cand_bin] / count[cand_bin]
    weights /= weights.sum()
    achieved = np.bincount(cand_bin, weights=weights, minlength=nb)
    summary = {
        "bins": edges.tolist(),
        "reference_hist": ref.tolist(),
        "candidate_hist": (count / count.sum()).tolist(),
        "matched_hist": achieved.tolist(),
        "tv_before": float(0.5 * np.abs(count / count.sum() - ref).sum()),
        "tv_after": float(0.5 * np.abs(achieved - ref).sum()),
        "unmatched_mass": unmatched,
        "unmatched_bins": [_span(edges, b) for b in missing],
        "max_unmatched": max_unmatched,
        "effective_windows": float(1.0 / np.square(weights).sum()),
        "gc_mean_reference": float(ref_gc.mean()),
    }
    return weights, summary


@dataclass(frozen=True, eq=False)
class Genomic(Background):
    """Windows of a genome at BED regions, drawn per unit; see :func:`genomic`.

    ``windows`` lists every window considered, one row per window and strand: ``bed_line``
    (1-based), ``chrom``, ``start``, ``end`` (0-based, half-open, on the forward strand),
    ``strand`` (``"-"``: the reverse complement), ``status`` (``"used"``, ``"n"``: holds N or
    another ambiguous letter, ``"off_end"``: runs off the chromosome), ``gc`` and ``weight`` (the
    probability that a unit draws it; 0 unless used). ``source`` holds the codes of the used
    windows, in the order of their rows.

    Examples
    --------
    >>> Genomic.kind
    'genomic'
    """

    fasta: str
    bed: str
    placement: str
    stride: int | None
    strand: str
    beyond_end: str
    source: np.ndarray = field(repr=False)
    windows: pd.DataFrame = field(repr=False)
    cumulative: np.ndarray | None = field(repr=False)
    info: dict[str, Any] = field(repr=False)
    kind: ClassVar[str] = "genomic"

    @property
    def excluded(self) -> dict[str, int]:
        """Number of windows left out, by reason: ``{"n": ..., "off_end": ...}``."""
        status = self.windows["status"]
        return {"n": int((status == "n").sum()), "off_end": int((status == "off_end").sum())}

    def _draw(self, keys: np.ndarray) -> np.ndarray:
        m = self.source.shape[0]
        u = uniforms(keys, 1)[:, 0]
        if self.cumulative is None:
            return np.minimum((u * m).astype(np.int64), m - 1)
        return np.minimum(np.searchsorted(self.cumulative, u, side="right"), m - 1)

    def _generate(self, ids: np.ndarray, keys: np.ndarray) -> np.ndarray:
        return self.source[self._draw(keys)].copy()

    def locate(self, ids: np.ndarray, seed: int) -> pd.DataFrame:
        """Where the backgrounds ``generate(ids, seed)`` come from in the genome.

        Parameters
        ----------
        ids : ndarray of int
            Non-negative unit ids, 1-D.
        seed : int
            Root seed, as given to :meth:`generate`.

        Returns
        -------
        DataFrame
            One row per id: ``background_id``, ``bed_line``, ``chrom``, ``start``, ``end``,
            ``strand``, ``gc``.

        Examples
        --------
        >>> import pathlib, tempfile
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (d / "g.fa").write_text(">chr1\\nACGTACGTAAGGCCTTACGT\\n")
        >>> _ = (d / "r.bed").write_text("chr1\\t4\\t12\\n")
        >>> genomic(d / "g.fa", d / "r.bed", length=6).locate(np.array([7]), 0)["start"].item()
        5
        """
        ids = _check_ids(ids)
        seed = check_int("seed", seed, minimum=0)
        if seed >= 2**64:
            raise OptionError(f"seed must be < 2**64, got {seed}")
        used = self.windows[self.windows["status"] == "used"]
        rows = used.iloc[self._draw(unit_keys(seed, ids, "background"))]
        cols = ["bed_line", "chrom", "start", "end", "strand", "gc"]
        out = rows[cols].reset_index(drop=True)
        out.insert(0, "background_id", ids)
        return out

    def _params(self) -> dict[str, Any]:
        return {
            **self.info,
            "placement": self.placement,
            "stride": self.stride,
            "strand": self.strand,
            "beyond_end": self.beyond_end,
        }


def genomic(
    fasta: str | os.PathLike[str],
    bed: str | os.PathLike[str],
    *,
    length: int,
    placement: Placement = "center",
    stride: int | None = None,
    strand: Strand = "bed",
    beyond_end: BeyondEnd = "error",
    gc_match: Background | np.ndarray | Sequence[str] | Sequence[np.ndarray] | None = None,
    gc_bins: int | Sequence[float] = 20,
    gc_match_n: int | None = None,
    max_unmatched: float = 0.05,
    alphabet: str | Alphabet = "dna",
) -> Genomic:
    """Windows of a genome FASTA at the regions of a BED file, as a background population.

    **Windows.** The BED file gives ``chrom, start, end`` (0-based, half-open) and optionally
    ``name, score, strand``; blank, ``#``, ``track`` and ``browser`` lines are skipped.
    ``placement="center"`` takes one window per region, centred on its midpoint:
    ``[m - length // 2, m - length // 2 + length)`` with ``m = (start + end) // 2`` (the usual
    recipe for peaks; the window may reach beyond the region). ``placement="tile"`` takes every
    window that fits inside a region, starting at ``start`` and every ``stride`` bases after
    (default ``stride = length``: non-overlapping tiles); a region shorter than ``length`` gives
    none, and such regions are counted. A window that holds N (or another IUPAC ambiguity
    letter) is left out of the candidate set, and counted. Soft-masked (lower-case) bases read
    as their upper-case letters; T and U are both code 3.

    **Strand.** ``strand="bed"``: a region with ``-`` in column 6 gives the reverse complement
    of its window, ``+``, ``.`` or no column the forward strand; ``"forward"`` ignores the
    column; ``"both"`` takes every window on both strands (two candidates).

    **Draws.** Unit ``i`` is candidate ``floor(u_i * M)`` of the ``M`` usable windows (a
    uniform draw with replacement; ``u_i`` is the unit's keyed uniform, so a row depends on
    ``(seed, i)`` only). With ``gc_match``, candidate ``j`` in GC bin ``b`` is drawn with
    probability ``ref_frac[b] / cand_count[b]``: the GC histogram of the drawn windows is then,
    in expectation, the reference's over the bins. Reference mass in bins without any candidate
    cannot be matched: up to ``max_unmatched`` of it gives a :class:`GCMatchWarning` naming the
    bins (the rest of the histogram is matched), more is an error. ``describe()`` reports the
    total-variation distance of the candidate and matched histograms from the reference
    (``tv_before``, ``tv_after``; ``tv_after`` equals the unmatched mass) and the effective
    number of windows ``1 / sum(w**2)``. GC is matched bin by bin, not within bins.

    **Errors.** A chromosome missing from the FASTA, a region that ends past its chromosome,
    a malformed line, or an empty BED raise :class:`~causalgia.errors.InputFileError` naming
    the file and line. A centred window that runs off a chromosome end is an error too, unless
    ``beyond_end="exclude"`` (then it is left out and counted); a window is never clipped.

    Parameters
    ----------
    fasta : str or path
        Genome FASTA, plain or bgzip-compressed; pyfaidx writes its ``.fai`` index beside it.
        Chromosomes are named by the first word of their header line.
    bed : str or path
        BED file of regions, plain or gzip.
    length : int
        Window length (>= 1).
    placement : {"center", "tile"}, default "center"
        One centred window per region, or tiles inside each region.
    stride : int, optional
        Step between tiles (>= 1; ``placement="tile"`` only); default ``length``.
    strand : {"bed", "forward", "both"}, default "bed"
        Strand of each window (see above).
    beyond_end : {"error", "exclude"}, default "error"
        A centred window that runs off its chromosome: raise, or leave it out and count it.
    gc_match : Background, ndarray, or sequence of str or of 1-D codes, optional
        Reference set whose GC histogram the draws match: sequences of any lengths (codes or
        text; N letters are not counted), or a Background, of which ``gc_match_n`` sequences
        are drawn with seed 0.
    gc_bins : int or sequence of float, default 20
        Equal-width GC bins on [0, 1], or the bin edges (increasing, from 0 to 1). Bins
        narrower than ``1 / length`` leave some bins without windows.
    gc_match_n : int, optional
        Sequences drawn from a Background ``gc_match``; default 10,000.
    max_unmatched : float, default 0.05
        Largest share of the reference, in [0, 1], that may lie in bins without candidates.
    alphabet : {"dna", "rna"} or Alphabet, default "dna"
        Alphabet of the generated sequences.

    Returns
    -------
    Genomic
        Its ``windows`` table lists every window considered (see :class:`Genomic`);
        ``excluded`` counts the windows left out; ``locate(ids, seed)`` maps units to regions.

    Raises
    ------
    InputFileError
        On a missing, unreadable or unindexable FASTA or BED file, a malformed or empty BED, an
        unknown chromosome, a region past its chromosome's end, or (``beyond_end="error"``) a
        window that runs off a chromosome.
    InvalidSequenceError
        When no window is usable, or the genome holds a letter that is not a nucleotide.
    OptionError
        On a bad option, GC bins that miss more than ``max_unmatched`` of the reference, a
        candidate set larger than 2 GiB, or when pyfaidx is not installed.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from causalgia.sequences.alphabet import decode
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "g.fa").write_text(">chr1 a toy genome\\nACGTACGTAAGGCCTTACGT\\n")
    >>> _ = (d / "r.bed").write_text("chr1\\t4\\t12\\tp1\\t0\\t+\\nchr1\\t10\\t18\\tp2\\t0\\t-\\n")
    >>> bg = genomic(d / "g.fa", d / "r.bed", length=6)
    >>> bg.windows[["chrom", "start", "end", "strand", "status"]]
      chrom  start  end strand status
    0  chr1      5   11      +   used
    1  chr1     11   17      -   used
    >>> sorted(set(decode(bg.sample(20, rng=0))))  # chr1[11:17] is GCCTTA
    ['CGTAAG', 'TAAGGC']
    >>> bg.describe()["n_sources"], bg.excluded
    (2, {'n': 0, 'off_end': 0})
    """
    length = check_int("length", length, minimum=1)
    check_option("placement", placement, PLACEMENTS)
    check_option("strand", strand, STRANDS)
    check_option("beyond_end", beyond_end, BEYOND_END)
    if stride is not None and placement != "tile":
        raise OptionError("stride is used only with placement='tile'")
    step = length if stride is None else check_int("stride", stride, minimum=1)
    max_unmatched = check_probability("max_unmatched", max_unmatched, open_interval=False)
    edges = _gc_edges(gc_bins)
    alph = get_alphabet(alphabet)
    if gc_match is None and gc_match_n is not None:
        raise OptionError("gc_match_n is used only with gc_match")
    reference = None if gc_match is None else _reference_gc(gc_match, gc_match_n, alph)
    fasta_path, bed_path = Path(fasta), Path(bed)
    regions = _read_bed(bed_path)
    fa = _open_fasta(fasta_path)
    try:
        names = list(fa.keys())
        lengths = {n: len(fa[n]) for n in names}
        for r in regions:
            if r.chrom not in lengths:
                raise _unknown_chrom(r, names, bed_path, fasta_path)
        starts, n_short = _windows(
            regions, lengths, length, placement, step, beyond_end, bed_path, fasta_path
        )
        n_rows = len(starts) * (2 if strand == "both" else 1)
        if n_rows * length > MAX_BYTES:
            raise OptionError(
                f"genomic: {n_rows:,} windows of {length} nt would take "
                f"{n_rows * length / 2**30:.1f} GiB (limit {MAX_BYTES / 2**30:g} GiB); use "
                "fewer regions or a larger stride"
            )
        forward = _read_windows(fa, starts, length, fasta_path)
        index_path = Path(fa.faidx.indexname)
    finally:
        fa.close()
    bed_strand = np.array([s for _, _, _, s in starts], dtype=object)
    if strand == "both":
        codes = np.stack([forward, _rc(forward)], axis=1).reshape(-1, length)
        rows = np.repeat(np.arange(len(starts)), 2)
        minus = np.tile([False, True], len(starts))
    else:
        minus = bed_strand == "-" if strand == "bed" else np.zeros(len(starts), dtype=bool)
        codes = np.where(minus[:, None], _rc(forward), forward) if len(starts) else forward
        rows = np.arange(len(starts))
    begin = np.array([s for _, _, s, _ in starts], dtype=np.int64)[rows]
    region = [regions[starts[i][0]] for i in rows]
    status = np.where(begin < 0, "off_end", np.where((codes >= N_CODE).any(axis=1), "n", "used"))
    used = status == "used"
    if not used.any():
        raise InvalidSequenceError(
            f"genomic: no usable window of {length} nt in {bed_path}: of {len(status)} windows, "
            f"{int((status == 'n').sum())} hold N and {int((status == 'off_end').sum())} run off "
            f"a chromosome; regions shorter than the window (placement='tile'): {n_short}"
        )
    gc = np.where(begin < 0, np.nan, _gc(codes))
    table = pd.DataFrame(
        {
            "bed_line": np.array([r.line for r in region], dtype=np.int64),
            "chrom": [r.chrom for r in region],
            "start": np.where(begin < 0, -1, begin),
            "end": np.where(begin < 0, -1, begin + length),
            "strand": np.where(minus, "-", "+"),
            "status": status,
            "gc": gc,
        }
    )
    summary: dict[str, Any] | None = None
    weights = np.full(int(used.sum()), 1.0 / used.sum())
    if reference is not None:
        weights, summary = _gc_weights(gc[used], reference[0], edges, max_unmatched)
        summary = {**reference[1], **summary}
    table["weight"] = 0.0
    table.loc[used, "weight"] = weights
    cumulative = None
    if summary is not None:
        cumulative = np.cumsum(weights)
        cumulative /= cumulative[-1]
    excluded_lines = table.loc[~used, "bed_line"].drop_duplicates()
    info = {
        "fasta": fasta_path.name,
        "fasta_bytes": fasta_path.stat().st_size,
        "fasta_index_sha256": _file_sha256(index_path),
        "bed": bed_path.name,
        "bed_sha256": _file_sha256(bed_path),
        "n_regions": len(regions),
        "n_windows": len(table),
        "n_excluded_n": int((status == "n").sum()),
        "n_excluded_off_end": int((status == "off_end").sum()),
        "excluded_bed_lines": excluded_lines.head(_EXAMPLES).tolist(),
        "n_short_regions": int(n_short),
        "gc_mean": float(np.dot(weights, gc[used])),
        "gc_match": summary,
        "weights_sha256": _sha256(weights),
    }
    return Genomic(
        alph,
        length,
        str(fasta_path.absolute()),
        str(bed_path.absolute()),
        placement,
        step if placement == "tile" else None,
        strand,
        beyond_end,
        _readonly(codes[used]),
        table,
        None if cumulative is None else _readonly(cumulative),
        info,
    )
