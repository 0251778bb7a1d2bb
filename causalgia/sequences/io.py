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

from .._files import atomic_path
from .._options import check_int, check_option
from ..errors import CausalgiaError, InputFileError, InvalidSequenceError, OptionError
from .alphabet import Alphabet, NPolicy, encode, get_alphabet

_GZIP_MAGIC = b"\x1f\x8b"
_TABLE_SEPARATORS = {".csv": ",", ".tsv": "\t", ".txt": "\t"}
_CONTROL_BYTES = bytes(b for b in range(32) if b not in b"\t\n\r\f\v") + b"\x7f"


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
        When the file is missing, a directory or unreadable, when it starts like gzip but is
        truncated or corrupt, or when it holds binary data (a NUL byte in its first 64 KiB).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.fa"
    >>> _ = p.write_text(">a\\nAC\\n")
    >>> with open_text(p) as fh:
    ...     fh.readline()
    '>a\\n'
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(1 << 16)
    except IsADirectoryError:
        raise InputFileError(f"{path} is a directory, not a file") from None
    except FileNotFoundError:
        raise InputFileError(f"{path}: no such file") from None
    except OSError as err:
        raise InputFileError(f"{path} cannot be read: {err.strerror or err}") from None
    zipped = head[:2] == _GZIP_MAGIC
    if zipped:
        try:  # a truncated or corrupt stream fails here, naming the file, not mid-parse
            with gzip.open(path, "rb") as check:
                head = check.read(1 << 16)
                while check.read(1 << 20):
                    pass
        except (OSError, EOFError, zlib.error) as err:
            raise InputFileError(f"{path}: not a readable gzip file: {err}") from None
    binary = _binary(head)
    if binary:
        where = " (decompressed)" if zipped else ""
        raise InputFileError(f"{path}{where}: binary data ({binary}), not a text file")
    if zipped:
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def _binary(head: bytes) -> str:
    """Why the first bytes of a file are not text (a NUL byte, or mostly control bytes and
    invalid UTF-8), or "" when they look like text."""
    nul = head.find(0)
    if nul >= 0:
        return f"a NUL byte at offset {nul}"
    text = head.decode("utf-8", errors="replace")
    controls = len(head) - len(head.translate(None, _CONTROL_BYTES))
    odd = text.count("\ufffd") + controls
    if len(head) >= 32 and odd > 0.3 * len(text):
        return f"{odd} of the first {len(text)} characters are control bytes or invalid UTF-8"
    return ""


@dataclass
class _Record:
    """A FASTA record while it is parsed: id, description, sequence lines and where they are."""

    seq_id: str
    description: str
    header_line: int
    chunks: list[str]
    lines: list[int]  # the file line of each chunk

    def line_of(self, position: int) -> int:
        """The file line that holds letter ``position`` (0-based) of the sequence."""
        for chunk, line in zip(self.chunks, self.lines, strict=True):
            if position < len(chunk):
                return line
            position -= len(chunk)
        return self.header_line


def _parse_fasta(lines: Iterator[str], path: Path) -> Iterator[_Record]:
    record: _Record | None = None
    for lineno, raw in enumerate(lines, start=1):
        line = raw.strip()
        if line.startswith(">"):
            if record is not None:
                yield record
            fields = line[1:].split(maxsplit=1)
            if not fields:
                raise InvalidSequenceError(f"{path}: line {lineno}: header without an id")
            record = _Record(fields[0], fields[1] if len(fields) > 1 else "", lineno, [], [])
        elif line:
            if record is None:
                raise InvalidSequenceError(
                    f"{path}: line {lineno}: text before the first '>' header: {line[:30]!r}"
                )
            record.chunks.append("".join(line.split()).upper())
            record.lines.append(lineno)
    if record is not None:
        yield record


def read_fasta(
    path: str | Path,
    *,
    alphabet: str | Alphabet = "dna",
    n_policy: NPolicy = "error",
    fixed_length: bool = False,
) -> FastaRecords:
    """Read a plain or gzip FASTA file, validating every letter.

    The id is the first whitespace-separated token after ``>``; the rest of the header is the
    description. Wrapped lines, CRLF line endings and blank lines are accepted. Lower-case
    (soft-masked) letters are read as upper case. N is an error unless ``n_policy="allow"``.
    An empty file, text before the first header, an empty record, a duplicate id or an invalid
    letter raise :class:`~causalgia.errors.InvalidSequenceError` naming the file, the line, the
    record, the position and the letter.

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
        When the file is missing or unreadable, a gzip file is truncated or corrupt, or the
        file holds binary data.
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
        raise InvalidSequenceError(f"{path}: no FASTA records found (the file is empty)")
    seen: dict[str, int] = {}
    for rec in records:
        if rec.seq_id in seen:
            raise InvalidSequenceError(
                f"{path}: line {rec.header_line}: duplicate record id {rec.seq_id!r} (first "
                f"at line {seen[rec.seq_id]}); record ids must be unique"
            )
        seen[rec.seq_id] = rec.header_line
        seq = "".join(rec.chunks)
        if not seq:
            raise InvalidSequenceError(
                f"{path}: line {rec.header_line}: record {rec.seq_id!r} has an empty sequence"
            )
        try:
            encode(seq, alph, ids=[rec.seq_id], n_policy=n_policy)
        except InvalidSequenceError as err:
            position = getattr(err, "position", None)
            line = rec.header_line if position is None else rec.line_of(position)
            raise InvalidSequenceError(
                f"{path}: line {line}: {err}{_letter_hint(seq, position, alph)}"
            ) from None
    ids = tuple(rec.seq_id for rec in records)
    sequences = tuple("".join(rec.chunks) for rec in records)
    if fixed_length:
        try:
            _check_fixed_length(ids, sequences)
        except InvalidSequenceError as err:
            raise InvalidSequenceError(f"{path}: {err}") from None
    descriptions = tuple(rec.description for rec in records)
    return FastaRecords(ids, descriptions, sequences, alph, n_policy)


def _letter_hint(seq: str, position: int | None, alph: Alphabet) -> str:
    letter = seq[position] if position is not None and position < len(seq) else ""
    other = {"U": "rna", "T": "dna"}.get(letter)
    if other is not None and other != alph.name:
        return f" ({letter} is a letter of the {other} alphabet, not of {alph.name})"
    return ""


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
    StoreError
        When the file cannot be written (a missing folder, permissions, a full disk).

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
    with atomic_path(path) as tmp:  # whole or absent; a full disk is a StoreError naming it
        if path.suffix == ".gz":
            with (
                open(tmp, "wb") as raw,  # the header names the final file, not the temporary
                gzip.GzipFile(filename=str(path), fileobj=raw, mode="wb", mtime=0) as gz,
            ):
                gz.write(data)
        else:
            tmp.write_bytes(data)
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
