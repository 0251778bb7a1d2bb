"""Reading and writing sequences and tables: FASTA (plain or gzip) and CSV/TSV measurement tables.

Gzip input is recognised by its magic bytes (``1f 8b``), never by the file name. Every error
names the record id or the line number that caused it.
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

from .._options import check_int, check_option
from ..errors import CausalgiaError, InputFileError, InvalidSequenceError, OptionError
from .alphabet import Alphabet, NPolicy, encode, get_alphabet

_GZIP_MAGIC = b"\x1f\x8b"
_TABLE_SEPARATORS = {".csv": ",", ".tsv": "\t", ".txt": "\t"}


@dataclass(frozen=True)
class FastaRecords:
    """Records read from a FASTA file, in file order.

    ``descriptions`` hold the header text after the id (empty when there is none); ``sequences``
    are upper-cased with the letters as in the file.

    Examples
    --------
    >>> from causalgia.sequences.alphabet import DNA
    >>> recs = FastaRecords(("a", "b"), ("", "x"), ("ACGT", "TTAA"), DNA)
    >>> len(recs), recs.codes().shape
    (2, (2, 4))
    """

    ids: tuple[str, ...]
    descriptions: tuple[str, ...]
    sequences: tuple[str, ...]
    alphabet: Alphabet
    n_policy: NPolicy = "error"

    def __len__(self) -> int:
        return len(self.ids)

    def codes(self) -> np.ndarray:
        """Return uint8 codes ``(N, L)``; ragged lengths raise, naming the first odd record.

        Returns
        -------
        ndarray of uint8
            Codes ``(N, L)``, one row per record.

        Raises
        ------
        InvalidSequenceError
            When the records differ in length or hold a letter outside the alphabet.

        Examples
        --------
        >>> from causalgia.sequences.alphabet import DNA
        >>> FastaRecords(("a",), ("",), ("ACGT",), DNA).codes().tolist()
        [[0, 1, 2, 3]]
        """
        _check_fixed_length(self.ids, self.sequences)
        return encode(list(self.sequences), self.alphabet, ids=self.ids, n_policy=self.n_policy)

    def to_frame(self) -> pd.DataFrame:
        """Return a table with columns ``id``, ``description``, ``sequence``, ``length``.

        Returns
        -------
        DataFrame
            One row per record, in file order.

        Examples
        --------
        >>> from causalgia.sequences.alphabet import DNA
        >>> FastaRecords(("a",), ("x",), ("ACGT",), DNA).to_frame().columns.tolist()
        ['id', 'description', 'sequence', 'length']
        """
        return pd.DataFrame(
            {
                "id": list(self.ids),
                "description": list(self.descriptions),
                "sequence": list(self.sequences),
                "length": [len(s) for s in self.sequences],
            }
        )


def _check_fixed_length(ids: Sequence[str], sequences: Sequence[str]) -> None:
    for seq_id, seq in zip(ids, sequences, strict=True):
        if len(seq) != len(sequences[0]):
            raise InvalidSequenceError(
                f"record {seq_id!r} has length {len(seq)}, but record {ids[0]!r} has length "
                f"{len(sequences[0])}; all sequences must have one length"
            )


def open_text(path: str | Path) -> IO[str]:
    """Open a text file for reading, decompressing it when it starts with the gzip magic bytes.

    Parameters
    ----------
    path : str or Path
        The file, plain or gzip.

    Returns
    -------
    IO[str]
        An open UTF-8 text handle (undecodable bytes replaced); the caller closes it.

    Raises
    ------
    InputFileError
        When the file starts like gzip but is truncated or corrupt.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.fa"
    >>> _ = p.write_text(">a\\nAC\\n")
    >>> with open_text(p) as fh:
    ...     fh.readline()
    '>a\\n'
    """
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == _GZIP_MAGIC:
        try:  # a truncated or corrupt stream fails here, naming the file, not mid-parse
            with gzip.open(path, "rb") as check:
                while check.read(1 << 20):
                    pass
        except (OSError, EOFError, zlib.error) as err:
            raise InputFileError(f"{path}: not a readable gzip file: {err}") from None
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def _parse_fasta(lines: Iterator[str], path: Path) -> Iterator[tuple[str, str, str]]:
    header: tuple[str, str] | None = None
    chunks: list[str] = []
    for lineno, raw in enumerate(lines, start=1):
        line = raw.strip()
        if line.startswith(">"):
            if header is not None:
                yield header[0], header[1], "".join(chunks)
            fields = line[1:].split(maxsplit=1)
            if not fields:
                raise InvalidSequenceError(f"{path}: line {lineno}: header without an id")
            header, chunks = (fields[0], fields[1] if len(fields) > 1 else ""), []
        elif line:
            if header is None:
                raise InvalidSequenceError(
                    f"{path}: line {lineno}: text before the first '>' header: {line[:30]!r}"
                )
            chunks.append("".join(line.split()).upper())
    if header is not None:
        yield header[0], header[1], "".join(chunks)


def read_fasta(
    path: str | Path,
    *,
    alphabet: str | Alphabet = "dna",
    n_policy: NPolicy = "error",
    fixed_length: bool = False,
) -> FastaRecords:
    """Read a plain or gzip FASTA file, validating every letter.

    The id is the first whitespace-separated token after ``>``; the rest of the header is the
    description. Wrapped lines, CRLF line endings and blank lines are accepted. An empty file,
    text before the first header, an empty record, a duplicate id or an invalid letter raise
    :class:`~causalgia.errors.InvalidSequenceError` naming the line, record, position and letter.

    Parameters
    ----------
    path : str or Path
        The file; gzip is detected from its first two bytes.
    alphabet : {"dna", "rna"} or Alphabet
        Letters allowed besides N.
    n_policy : {"error", "allow"}
        Whether N is allowed.
    fixed_length : bool
        Require every record to have the length of the first.

    Returns
    -------
    FastaRecords

    Raises
    ------
    InvalidSequenceError
        On the problems listed above, or ragged lengths with ``fixed_length=True``.
    InputFileError
        When a gzip file is truncated or corrupt.
    OptionError
        On an unknown ``alphabet`` or ``n_policy``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.fa"
    >>> _ = p.write_text(">s1 first\\nACG\\nT\\n>s2\\nggcc\\n")
    >>> recs = read_fasta(p, fixed_length=True)
    >>> recs.ids, recs.descriptions, recs.sequences
    (('s1', 's2'), ('first', ''), ('ACGT', 'GGCC'))
    """
    alph = get_alphabet(alphabet)
    check_option("n_policy", n_policy, ("error", "allow"))
    path = Path(path)
    with open_text(path) as fh:
        records = list(_parse_fasta(fh, path))
    if not records:
        raise InvalidSequenceError(f"{path}: no FASTA records found")
    seen: set[str] = set()
    for seq_id, _, seq in records:
        if seq_id in seen:
            raise InvalidSequenceError(f"{path}: duplicate record id {seq_id!r}")
        seen.add(seq_id)
        if not seq:
            raise InvalidSequenceError(f"{path}: record {seq_id!r} has an empty sequence")
        encode(seq, alph, ids=[seq_id], n_policy=n_policy)
    ids, descriptions, sequences = (tuple(col) for col in zip(*records, strict=True))
    if fixed_length:
        _check_fixed_length(ids, sequences)
    return FastaRecords(ids, descriptions, sequences, alph, n_policy)


def write_fasta(
    path: str | Path, ids: Sequence[str], sequences: Sequence[str], *, width: int = 80
) -> Path:
    """Write sequences as FASTA, wrapped at ``width``; gzip when the path ends with ``.gz``.

    Gzip output is byte-reproducible (the header time stamp is zero).

    Parameters
    ----------
    path : str or Path
        Output file, overwritten.
    ids : sequence of str
        Record ids, non-empty and without whitespace.
    sequences : sequence of str
        One non-empty sequence per id, written as given.
    width : int, default 80
        Letters per line (>= 1).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    InvalidSequenceError
        When ``ids`` and ``sequences`` differ in length, or an id or a sequence is invalid.
    OptionError
        When ``width`` is not an integer >= 1.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = write_fasta(pathlib.Path(tempfile.mkdtemp()) / "x.fa.gz", ["a"], ["ACGTAC"], width=4)
    >>> read_fasta(p).sequences
    ('ACGTAC',)
    """
    width = check_int("width", width, minimum=1)
    if len(ids) != len(sequences):
        raise InvalidSequenceError(f"got {len(ids)} ids for {len(sequences)} sequences")
    lines: list[str] = []
    for seq_id, seq in zip(ids, sequences, strict=True):
        seq_id = str(seq_id)
        if not seq_id or seq_id != "".join(seq_id.split()):
            raise InvalidSequenceError(f"record id {seq_id!r} is empty or contains whitespace")
        if not seq:
            raise InvalidSequenceError(f"record {seq_id!r} has an empty sequence")
        lines.append(f">{seq_id}")
        lines.extend(seq[i : i + width] for i in range(0, len(seq), width))
    data = ("\n".join(lines) + "\n").encode()
    path = Path(path)
    if path.suffix == ".gz":
        with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
            gz.write(data)
    else:
        path.write_bytes(data)
    return path


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV (``.csv``) or tab-separated (``.tsv``, ``.txt``) table, optionally ``.gz``.

    The separator comes from the extension; gzip is detected from the content.

    Parameters
    ----------
    path : str or Path
        A ``.csv``, ``.tsv`` or ``.txt`` file, optionally with a further ``.gz``.

    Returns
    -------
    DataFrame

    Raises
    ------
    OptionError
        On another extension.
    CausalgiaError
        When the file is empty or cannot be parsed (:class:`InputFileError` for corrupt gzip).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "m.tsv"
    >>> _ = p.write_text("id\\tvalue\\na\\t1.5\\n")
    >>> read_table(p).to_dict("list")
    {'id': ['a'], 'value': [1.5]}
    """
    path = Path(path)
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    suffix = suffixes[-1] if suffixes else ""
    if suffix not in _TABLE_SEPARATORS:
        raise OptionError(
            f"{path}: unknown table extension {suffix!r}; use one of "
            f"{tuple(_TABLE_SEPARATORS)}, optionally followed by '.gz'"
        )
    try:
        with open_text(path) as fh:
            return pd.read_csv(fh, sep=_TABLE_SEPARATORS[suffix])
    except (pd.errors.EmptyDataError, pd.errors.ParserError) as exc:
        raise CausalgiaError(f"{path}: cannot read table: {exc}") from exc
