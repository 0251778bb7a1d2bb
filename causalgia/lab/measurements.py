"""Wet-lab measurements from anywhere: a file or a DataFrame, any column names, one key.

- :func:`read_measurements` reads a CSV/TSV file (optionally gzip) or takes a DataFrame, maps
  its key, value and replicate columns, normalises sequence keys (whitespace, case, T/U per a
  declared alphabet) and validates every row.
- :func:`join` matches per-construct means with predictions and reports what did not match.

A missing column is named together with the closest column names of the table
(:func:`difflib.get_close_matches`), never with a dump of every column.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from .._options import check_option
from ..errors import CausalgiaError, OptionError
from ..sequences import open_text

KeyType = Literal["construct_id", "sequence"]
SequenceLetters = Literal["rna", "dna", "keep"]
_SEPARATORS = {".csv": ",", ".tsv": "\t", ".txt": "\t"}
_SHOWN = 6  # a table with at most this many columns is listed in a missing-column message


class MeasurementError(CausalgiaError, ValueError):
    """A measurement table is malformed; the message names the file, line and column."""


def missing_column_message(name: str, columns: Sequence[object]) -> str:
    """``"missing column 'x'"`` with the likely candidates, for an error message.

    Candidates are the column equal to ``name`` up to case, then the closest names by
    :func:`difflib.get_close_matches`. A table of more than six columns is never listed in full.

    Parameters
    ----------
    name : str
        The column that was asked for.
    columns : sequence
        The columns the table has.

    Returns
    -------
    str
        ``"missing column '<name>'"`` followed by up to three candidates, or by the table's
        columns when there are at most six and none is similar.

    Examples
    --------
    >>> missing_column_message("intensity", ["id", "Intensity_1", "intensity_2", "seq"])
    "missing column 'intensity'; did you mean 'intensity_2' or 'Intensity_1'?"
    >>> missing_column_message("utr", [f"c{i}" for i in range(60)])
    "missing column 'utr' (none of the table's 60 columns has a similar name)"
    """
    names = [str(c) for c in columns]
    folded = {c.lower(): c for c in names}
    candidates = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    candidates += difflib.get_close_matches(name.lower(), list(folded), n=3, cutoff=0.6)
    seen: dict[str, None] = {}
    for c in ([folded[name.lower()]] if name.lower() in folded else []) + candidates:
        seen.setdefault(folded.get(c, c), None)
    found = list(seen)[:3]
    head = f"missing column {name!r}"
    if found:
        return f"{head}; did you mean {' or '.join(repr(c) for c in found)}?"
    if len(names) <= _SHOWN:
        return f"{head}; the table's columns are {names}"
    return f"{head} (none of the table's {len(names)} columns has a similar name)"


@dataclass(frozen=True)
class Measurements:
    """Measured values, one row per (construct, replicate).

    ``table`` columns: the key (``construct_id`` or ``sequence``, whatever the source column
    was called), ``value``, ``replicate`` (0 when the source has none), then any design columns.
    ``source`` names the file read (``"<DataFrame>"`` for a frame).

    Examples
    --------
    >>> m = Measurements(pd.DataFrame({"construct_id": ["a", "a"], "value": [1.0, 3.0],
    ...                                "replicate": [0, 1]}), "construct_id", "x.csv")
    >>> m.per_construct()[["construct_id", "value", "n_replicates"]].values.tolist()
    [['a', 2.0, 2]]
    """

    table: pd.DataFrame
    key: KeyType
    source: str

    def __len__(self) -> int:
        return len(self.table)

    def to_frame(self) -> pd.DataFrame:
        """A copy of the measurement table.

        Returns
        -------
        pandas.DataFrame
            A copy of :attr:`table`, one row per (construct, replicate).
        """
        return self.table.copy()

    def per_construct(self) -> pd.DataFrame:
        """Replicates averaged: key, value (mean), value_sd, n_replicates, design columns.

        Returns
        -------
        pandas.DataFrame
            One row per construct, in order of first appearance: the key, ``value`` (mean
            over replicates), ``value_sd`` (NaN for one replicate), ``n_replicates`` and the
            design columns (their first value).
        """
        extra = [c for c in self.table.columns if c not in (self.key, "value", "replicate")]
        grouped = self.table.groupby(self.key, sort=False)
        out = grouped["value"].agg(value="mean", value_sd="std", n_replicates="size")
        for col in extra:
            out[col] = grouped[col].first()
        return out.reset_index()

    def summary(self) -> str:
        """Rows, constructs and replicates.

        Returns
        -------
        str
            One line: the source, the number of rows and of distinct constructs, and the key.
        """
        n = self.table[self.key].nunique()
        return f"Measurements from {self.source}: {len(self)} rows, {n} constructs (key {self.key})"


def _separator(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    suffix = suffixes[-1] if suffixes else ""
    if suffix not in _SEPARATORS:
        raise OptionError(
            f"{path}: unknown table extension {suffix!r}; use .csv, .tsv or .txt (optionally .gz)"
        )
    return _SEPARATORS[suffix]


def _read_file(path: Path, columns: Sequence[str] | None) -> pd.DataFrame:
    sep = _separator(path)
    try:
        with open_text(path) as fh:
            return pd.read_csv(
                fh,
                sep=sep,
                header=None if columns is not None else "infer",
                names=list(columns) if columns is not None else None,
                dtype=str,
                keep_default_na=False,
            )
    except (pd.errors.EmptyDataError, pd.errors.ParserError) as exc:
        raise MeasurementError(f"{path}: cannot read table: {exc}") from exc


def normalize_sequences(
    sequences: pd.Series | Sequence[str], *, letters: SequenceLetters = "rna"
) -> pd.Series:
    """Sequences without whitespace, upper-cased, T/U written in the declared alphabet.

    ``letters="rna"`` writes T as U, ``"dna"`` writes U as T, ``"keep"`` changes no letter.

    Parameters
    ----------
    sequences : pandas.Series or sequence of str
        The sequences as given.
    letters : {"rna", "dna", "keep"}, default "rna"
        The alphabet T/U is written in.

    Returns
    -------
    pandas.Series
        The normalised sequences (object dtype), in the order given. Letters are not
        checked here.

    Examples
    --------
    >>> normalize_sequences([" acgt ", "GG UU"], letters="dna").tolist()
    ['ACGT', 'GGTT']
    """
    check_option("letters", letters, ("rna", "dna", "keep"))
    out = pd.Series(sequences, dtype=object).astype(str).str.replace(r"\s+", "", regex=True)
    out = out.str.upper()
    if letters == "rna":
        out = out.str.replace("T", "U")
    elif letters == "dna":
        out = out.str.replace("U", "T")
    return out


def read_measurements(
    source: str | Path | pd.DataFrame,
    *,
    key: str = "construct_id",
    value: str = "value",
    replicate: str | None = None,
    design: Sequence[str] = (),
    columns: Sequence[str] | None = None,
    key_type: KeyType | None = None,
    letters: SequenceLetters = "rna",
) -> Measurements:
    """Read measurements from a CSV/TSV file (optionally gzip) or a DataFrame.

    Parameters
    ----------
    source : str, Path or DataFrame
        A ``.csv`` or tab-separated ``.tsv``/``.txt`` file (gzip recognised by its content),
        or a table already in memory.
    key : str
        The column identifying constructs: an id or a sequence (e.g. ``"utr"``).
    value : str
        The column holding the measured value (numeric and finite in every row).
    replicate : str or None
        Optional replicate column.
    design : sequence of str
        Extra columns to keep (e.g. arm, background_id).
    columns : sequence of str or None
        Column names of a file without a header line (e.g. ``["value", "sequence"]``).
    key_type : {"construct_id", "sequence"} or None
        What the key holds; the output names the key column after it. None: ``"sequence"``
        when ``key == "sequence"``, else ``"construct_id"``.
    letters : {"rna", "dna", "keep"}
        Sequence keys lose whitespace and are upper-cased; ``"rna"`` writes T as U (so DNA
        probe files match RNA designs), ``"dna"`` writes U as T, ``"keep"`` changes no letter.
        Any letter other than A, C, G, T/U and N is an error.

    Returns
    -------
    Measurements
        One row per input row: the key (named ``construct_id`` or ``sequence``), ``value``
        (float), ``replicate`` (0 without a replicate column) and the ``design`` columns;
        ``source`` is the file name or ``"<DataFrame>"``.

    Raises
    ------
    MeasurementError
        A missing column (named, with the likely candidates), an empty key, an invalid
        sequence letter or a non-numeric / non-finite value; the message names the file and
        line (or the DataFrame row) and the offending text.

    Examples
    --------
    >>> df = pd.DataFrame({"utr": ["acgt ", "GGTT"], "log2fc": [1.5, -0.2]})
    >>> m = read_measurements(df, key="utr", value="log2fc", key_type="sequence")
    >>> m.table["sequence"].tolist(), m.key
    (['ACGU', 'GGUU'], 'sequence')
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "probes.txt"
    >>> _ = p.write_text("1.5\\tACGT\\n-0.2\\tGGTT\\n")
    >>> read_measurements(p, key="sequence", columns=["value", "sequence"]).table["value"].tolist()
    [1.5, -0.2]
    """
    check_option("letters", letters, ("rna", "dna", "keep"))
    kind: KeyType = check_option(
        "key_type",
        key_type if key_type is not None else ("sequence" if key == "sequence" else "construct_id"),
        ("construct_id", "sequence"),
    )
    if isinstance(source, pd.DataFrame):
        if columns is not None:
            raise OptionError("columns= names the columns of a file without a header line")
        table, name, offset = source.reset_index(drop=True), "<DataFrame>", 0
        where = "row"
    else:
        path = Path(source)
        table, name = _read_file(path, columns), str(path)
        offset, where = (0 if columns is not None else 1), "line"
        offset += 1  # lines count from 1
    wanted = [key, value, *([replicate] if replicate else []), *design]
    for col in wanted:
        if col not in table.columns:
            raise MeasurementError(f"{name}: {missing_column_message(col, list(table.columns))}")

    def place(row: int) -> str:
        return f"{name}: {where} {row + offset}"

    values = pd.to_numeric(table[value], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.argmax(bad))
        raise MeasurementError(
            f"{place(row)}: {value} = {_shown(table[value].iloc[row])} is not a finite number"
        )
    raw = table[key]
    keys = raw.astype(object).where(raw.notna(), "").astype(str).str.strip()
    empty = (keys == "").to_numpy()
    if empty.any():
        raise MeasurementError(f"{place(int(np.argmax(empty)))}: empty {key}")
    if kind == "sequence":
        normalized = normalize_sequences(keys, letters=letters)
        _check_letters(normalized, keys, place)
        keys = normalized
    out = pd.DataFrame({kind: keys.to_numpy(), "value": values})
    out["replicate"] = table[replicate].to_numpy() if replicate else 0
    for col in design:
        out[col] = table[col].to_numpy()
    return Measurements(out, kind, name)


def _shown(v: object) -> str:
    """A cell as text: strings quoted, numbers plain (``inf``, not ``np.float64(inf)``)."""
    return repr(v) if isinstance(v, str) else str(v)


def _check_letters(keys: pd.Series, given: pd.Series, place: Callable[[int], str]) -> None:
    """Raise naming the first sequence (as given) with a letter outside A, C, G, T, U, N."""
    bad = keys.str.contains(r"[^ACGTUN]", regex=True).to_numpy()
    if bad.any():
        row = int(np.argmax(bad))
        text = keys.iloc[row]
        pos = next(i for i, c in enumerate(text) if c not in "ACGTUN")
        raise MeasurementError(
            f"{place(row)}: sequence {given.iloc[row]!r} has the invalid letter {text[pos]!r} "
            f"at position {pos} (whitespace removed)"
        )


@dataclass(frozen=True)
class Joined:
    """Measurements matched with predictions by key.

    ``table`` columns: key, ``measured`` (replicate mean), ``measured_sd``, ``n_replicates``,
    ``predicted``. ``unmatched_measured`` / ``unmatched_predicted`` list the keys found on only
    one side.
    """

    table: pd.DataFrame
    key: str
    unmatched_measured: tuple[str, ...]
    unmatched_predicted: tuple[str, ...]

    def to_frame(self) -> pd.DataFrame:
        """A copy of the matched table.

        Returns
        -------
        pandas.DataFrame
            A copy of :attr:`table`, one row per matched key.
        """
        return self.table.copy()

    def summary(self) -> str:
        """Matched and unmatched counts, with the first unmatched keys.

        Returns
        -------
        str
            A line with the number matched, then one line per side with unmatched keys.
        """
        lines = [f"Joined on {self.key}: {len(self.table)} matched"]
        for side, keys in (
            ("measured", self.unmatched_measured),
            ("predicted", self.unmatched_predicted),
        ):
            if keys:
                lines.append(f"  {len(keys)} {side} only, e.g. {list(keys[:3])}")
        return "\n".join(lines)


def join(
    measured: Measurements,
    predicted: pd.DataFrame,
    *,
    predicted_value: str = "predicted",
    on: str | None = None,
) -> Joined:
    """Match per-construct measurement means with predictions on the measurements' key.

    ``predicted`` must have the key column (``on``, default the measurements' key:
    ``construct_id`` or ``sequence``; e.g. ``on="label"`` for a k-mer screen's ACE table) and
    ``predicted_value``; duplicated keys in it raise. Unmatched keys are reported, not dropped
    silently.

    Parameters
    ----------
    measured : Measurements
        The measurements; replicates are averaged per construct
        (:meth:`Measurements.per_construct`).
    predicted : pandas.DataFrame
        Predictions with a key column and a value column, one row per key.
    predicted_value : str, default "predicted"
        The column of ``predicted`` holding the predicted values.
    on : str, optional
        The key column of ``predicted``; None (default) uses the measurements' key.

    Returns
    -------
    Joined
        The matched rows (key, ``measured``, ``measured_sd``, ``n_replicates``,
        ``predicted``) and the keys found only among the measurements or the predictions.

    Examples
    --------
    >>> m = Measurements(pd.DataFrame({"construct_id": ["a", "b"], "value": [1.0, 2.0],
    ...                                "replicate": 0}), "construct_id", "-")
    >>> j = join(m, pd.DataFrame({"construct_id": ["a", "c"], "predicted": [0.5, 0.1]}))
    >>> len(j.table), j.unmatched_measured, j.unmatched_predicted
    (1, ('b',), ('c',))
    """
    key = measured.key
    column = key if on is None else on
    for col in (column, predicted_value):
        if col not in predicted.columns:
            raise OptionError(
                f"predictions: {missing_column_message(col, list(predicted.columns))}"
            )
    pred = predicted[[column, predicted_value]].rename(
        columns={column: key, predicted_value: "predicted"}
    )
    dup = pred[key].duplicated()
    if dup.any():
        raise OptionError(f"predictions hold {column} {pred[key][dup].iloc[0]!r} more than once")
    meas = measured.per_construct().rename(columns={"value": "measured", "value_sd": "measured_sd"})
    merged = meas.merge(pred, on=key, how="outer", indicator=True)
    both = merged[merged["_merge"] == "both"].drop(columns="_merge").reset_index(drop=True)
    left = tuple(merged.loc[merged["_merge"] == "left_only", key].astype(str))
    right = tuple(merged.loc[merged["_merge"] == "right_only", key].astype(str))
    return Joined(both, key, left, right)
