"""Export a designed library for synthesis (e.g. an MPRA or an RNA-binding array).

:func:`export_library` lays a :class:`~causalgia.experiment.Design` out as the concrete sequences
the simulator would evaluate — every background and, per arm, its intervened copy — and writes

- ``library.fa``: one record per construct (id = ``construct_id``);
- ``library.csv``: ``construct_id, experiment, label, <design parameters>, background_id, arm
  ("control" / "do"), unit_seed, design_seed, sequence``.

The sequences are bit-identical to those :func:`~causalgia.engine.simulate` scores (the same
keyed streams), so measurements of the synthesised library can be read back by
:func:`causalgia.lab.compare.lab_effects` and compared with the in-silico ACEs arm by arm.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .._files import atomic_path, ensure_dir
from ..experiment.designs import CONTROL, Design
from ..sequences.alphabet import Alphabet, decode, get_alphabet
from ..sequences.io import write_fasta

LIBRARY_COLUMNS = ("construct_id", "background_id", "arm", "unit_seed", "design_seed", "sequence")


@dataclass(frozen=True)
class LibraryExport:
    """A designed library: one row per construct, and where it was written (if anywhere).

    Examples
    --------
    >>> from causalgia.experiment.backgrounds import iid
    >>> from causalgia.experiment.designs import design, sweep_positions
    >>> lib = library_table(design(iid(12), sweep_positions("GATA", [2]), n=2, rng=0))
    >>> lib["arm"].tolist()
    ['control', 'control', 'do', 'do']
    """

    table: pd.DataFrame
    fasta: Path | None
    csv: Path | None

    def to_frame(self) -> pd.DataFrame:
        """A copy of the construct table.

        Returns
        -------
        pandas.DataFrame
            A copy of :attr:`table`, one row per construct.
        """
        return self.table.copy()

    def summary(self) -> str:
        """Counts of constructs per arm and the files written.

        Returns
        -------
        str
            A header line, one line per (experiment, label) with its number of constructs
            and, when the library was written, the two files.
        """
        counts = self.table.groupby(["experiment", "label"], sort=False).size()
        lines = [f"LibraryExport: {len(self.table)} constructs"]
        lines += [f"  {e} / {lab}: {k}" for (e, lab), k in counts.items()]
        if self.fasta is not None:
            lines.append(f"  written: {self.fasta}, {self.csv}")
        return "\n".join(lines)


def library_table(
    design: Design, *, alphabet: str | Alphabet | None = None, prefix: str = "c"
) -> pd.DataFrame:
    """The constructs of ``design`` as a table (see the module docstring for the columns).

    A paired design gives one control construct per background plus one per arm and background;
    a randomized design gives one construct per background (its assigned arm or the control).
    ``alphabet`` defaults to the background's. Construct ids are ``prefix`` + a 6-digit index.

    Parameters
    ----------
    design : Design
        The design (paired or randomized) whose constructs are listed.
    alphabet : str or Alphabet, optional
        The alphabet the sequences are written in; None (default) uses the background's.
    prefix : str, default "c"
        Prefix of the construct ids.

    Returns
    -------
    pandas.DataFrame
        One row per construct: ``construct_id``, the design table's columns (experiment,
        label, parameters, background_id, arm, unit_seed), ``design_seed`` and ``sequence``;
        control constructs have experiment and label ``"control"``.
    """
    alph = get_alphabet(alphabet if alphabet is not None else design.background.alphabet)
    ids = design.background_ids
    bg = design.background.generate(ids, design.seed)
    frame = design.to_frame()
    if design.kind == "paired":
        seqs = [bg] + [
            arm.intervention.apply_keyed(bg, arm.keys(design.seed, ids)) for arm in design.arms
        ]
        codes = np.concatenate(seqs)  # the order of design.to_frame(): controls, then each arm
    else:
        assign = design.assignment(ids)
        order = [ids[assign == -1]] + [ids[assign == i] for i in range(len(design.arms))]
        parts = [bg[assign == -1]]
        for index, arm in enumerate(design.arms):
            mine = ids[assign == index]
            parts.append(arm.intervention.apply_keyed(bg[mine], arm.keys(design.seed, mine)))
        codes = np.concatenate(parts)
        assert np.array_equal(np.concatenate(order), frame["background_id"].to_numpy())
    frame["design_seed"] = design.seed
    decoded = decode(codes, alph)
    frame["sequence"] = [decoded] if isinstance(decoded, str) else decoded
    frame.insert(0, "construct_id", [f"{prefix}{i:06d}" for i in range(len(frame))])
    frame["experiment"] = frame["experiment"].where(frame["label"] != CONTROL, CONTROL)
    frame["unit_seed"] = frame["unit_seed"].astype("uint64")
    return frame


def export_library(
    design: Design,
    out_dir: str | Path,
    *,
    alphabet: str | Alphabet | None = None,
    prefix: str = "c",
) -> LibraryExport:
    """Write ``library.fa`` and ``library.csv`` for ``design`` into ``out_dir``.

    Parameters
    ----------
    design : Design
        The design whose constructs are written (see :func:`library_table`).
    out_dir : str or pathlib.Path
        The folder (created if absent); existing library files in it are replaced.
    alphabet : str or Alphabet, optional
        The alphabet of the sequences; None (default) uses the background's.
    prefix : str, default "c"
        Prefix of the construct ids.

    Returns
    -------
    LibraryExport
        The construct table and the paths of the FASTA and CSV files.

    Examples
    --------
    >>> import tempfile
    >>> from causalgia.experiment.backgrounds import iid
    >>> from causalgia.experiment.designs import design, sweep_positions
    >>> d = design(iid(12, alphabet="rna"), sweep_positions("GAUA", [2, 6]), n=3, rng=0)
    >>> lib = export_library(d, tempfile.mkdtemp())
    >>> len(lib.table), lib.fasta.name, lib.csv.name
    (9, 'library.fa', 'library.csv')
    """
    table = library_table(design, alphabet=alphabet, prefix=prefix)
    out = ensure_dir(out_dir)  # a failure to write (a full disk) is a StoreError naming the file
    fasta = write_fasta(
        out / "library.fa", table["construct_id"].tolist(), table["sequence"].tolist()
    )
    csv = out / "library.csv"
    with atomic_path(csv) as tmp:
        table.to_csv(tmp, index=False)
    return LibraryExport(table, fasta, csv)
