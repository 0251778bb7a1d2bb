"""Motif logos: which motifs a run used, their letter matrices, and logomaker figures.

The motifs come from the run directory itself: the ``motif`` columns of the ACE table (``motif``,
``motif_b``, ...) name every motif an experiment inserted. A name with a matrix in the run
directory (``motifs.meme``, written by ``write_report(motifs=...)``, or any MEME/JASPAR file in
``motifs/``) is drawn from that matrix, in bits; otherwise a name that is a sequence (consensus or
IUPAC string) is drawn as its letter probabilities. Names that are neither are listed, not drawn.

logomaker (``pip install causalgia[plot]``) and matplotlib are imported only while drawing.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .._files import write_text
from ..errors import CausalgiaError, OptionError
from ..sequences import Motif, get_alphabet, read_motifs

if TYPE_CHECKING:
    from matplotlib.axes import Axes

MOTIF_FILE = "motifs.meme"
MOTIF_FOLDER = "motifs"


@dataclass(frozen=True)
class UsedMotif:
    """One motif a run used: its matrix, where the matrix came from, and who used it.

    ``source`` is the file the matrix was read from (``"motifs.meme"``, ``"motifs/x.jaspar"``)
    or ``"sequence"`` for a consensus/IUPAC string turned into letter probabilities.

    Examples
    --------
    >>> m = UsedMotif(Motif.from_string("GATA"), "sequence", ("position",))
    >>> m.name, m.from_matrix
    ('GATA', False)
    """

    motif: Motif
    source: str
    experiments: tuple[str, ...]

    @property
    def name(self) -> str:
        """The name the ACE table uses for this motif."""
        return self.motif.name

    @property
    def from_matrix(self) -> bool:
        """True when the matrix was read from a motif file (drawn in bits)."""
        return self.source != "sequence"


@dataclass(frozen=True)
class MotifsUsed:
    """Every motif named in a run's ACE table: the drawable ones and the rest with a reason.

    Examples
    --------
    >>> ace = pd.DataFrame({"experiment": ["a", "b"], "motif": ["GATA", "GATA"]})
    >>> used = motifs_used(ace)
    >>> used.to_frame()[["name", "width", "source", "experiments"]].values.tolist()
    [['GATA', 4, 'sequence', 'a, b']]
    """

    motifs: tuple[UsedMotif, ...]
    undrawable: tuple[tuple[str, str], ...] = ()
    problems: tuple[str, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        """One row per drawable motif: name, width, iupac, source, experiments."""
        rows = [
            (m.name, m.motif.width, m.motif.iupac(), m.source, ", ".join(m.experiments))
            for m in self.motifs
        ]
        return pd.DataFrame(rows, columns=["name", "width", "iupac", "source", "experiments"])

    def summary(self) -> str:
        """One line: how many motifs, from where, and how many could not be drawn."""
        k = sum(m.from_matrix for m in self.motifs)
        return (
            f"{len(self.motifs)} motifs ({k} from a matrix file, {len(self.motifs) - k} from "
            f"sequences); {len(self.undrawable)} not drawable"
        )


def motif_columns(ace: pd.DataFrame) -> list[str]:
    """The ACE table's motif columns: ``motif`` and every ``motif_*`` column, in table order.

    Examples
    --------
    >>> motif_columns(pd.DataFrame(columns=["label", "motif", "motif_b", "ace"]))
    ['motif', 'motif_b']
    """
    return [c for c in ace.columns if c == "motif" or str(c).startswith("motif_")]


def _names_by_use(ace: pd.DataFrame) -> dict[str, list[str]]:
    """Motif name -> experiments using it, both in order of first appearance."""
    found: dict[str, list[str]] = {}
    columns = motif_columns(ace)
    experiments = ace["experiment"] if "experiment" in ace.columns else pd.Series("", ace.index)
    for experiment, *names in zip(experiments, *(ace[c] for c in columns), strict=True):
        for name in names:
            if isinstance(name, str) and name.strip():
                users = found.setdefault(name, [])
                if str(experiment) not in users:
                    users.append(str(experiment))
    return found


def _guess_alphabet(names: Iterable[str]) -> str:
    return "rna" if any("U" in n.upper() for n in names) else "dna"


def _read_matrices(
    root: Path, alphabet: str, listed: Collection[str] | None
) -> tuple[dict[str, tuple[Motif, str]], list[str]]:
    """Motifs from ``motifs.meme`` and ``motifs/*`` keyed by name and alt name, and problems."""
    current = listed is None or MOTIF_FILE in listed
    files = [root / MOTIF_FILE] if current and (root / MOTIF_FILE).is_file() else []
    if (root / MOTIF_FOLDER).is_dir():
        files += sorted(p for p in (root / MOTIF_FOLDER).iterdir() if p.is_file())
    other = "dna" if alphabet == "rna" else "rna"
    found: dict[str, tuple[Motif, str]] = {}
    problems: list[str] = []
    for path in files:
        where = path.relative_to(root).as_posix()
        motifs, errors = None, []
        for alph in (alphabet, other):
            try:
                motifs = read_motifs(path, alphabet=alph)
                break
            except CausalgiaError as err:
                errors.append(str(err))
        if motifs is None:
            problems.append(f"{where} was not read: {errors[0]}")
            continue
        for motif in motifs:
            for key in (motif.name, motif.alt_name):
                if key and key not in found:
                    found[key] = (motif, where)
    return found, problems


def motifs_used(
    ace: pd.DataFrame,
    *,
    root: str | Path | None = None,
    alphabet: str | None = None,
    listed: Collection[str] | None = None,
) -> MotifsUsed:
    """The motifs named in an ACE table, with a matrix for each one that can be drawn.

    Parameters
    ----------
    ace : DataFrame
        ACE table; its ``motif`` and ``motif_*`` columns name the motifs.
    root : str or Path, optional
        Run directory whose motif files (``motifs.meme``, ``motifs/*``) take precedence over
        reading a name as a sequence.
    alphabet : {"dna", "rna"}, optional
        Alphabet of the sequences; guessed from the names (a ``U`` means RNA) when None.
    listed : collection of str, optional
        The files the manifest lists; when given, a ``motifs.meme`` it does not list (left by
        an earlier write) is ignored. Files in ``motifs/`` are always read.

    Returns
    -------
    MotifsUsed

    Examples
    --------
    >>> ace = pd.DataFrame({"experiment": ["pos", "ctl"], "motif": ["UGCAUG", "shuffle!"]})
    >>> used = motifs_used(ace)
    >>> [m.name for m in used.motifs], used.undrawable[0][0]
    (['UGCAUG'], 'shuffle!')
    """
    names = _names_by_use(ace)
    alph = get_alphabet(alphabet or _guess_alphabet(names)).name
    matrices, problems = ({}, []) if root is None else _read_matrices(Path(root), alph, listed)
    drawn: list[UsedMotif] = []
    undrawable: list[tuple[str, str]] = []
    for name, experiments in names.items():
        if name in matrices:
            motif, source = matrices[name]
            drawn.append(UsedMotif(_renamed(motif, name), source, tuple(experiments)))
            continue
        motif = _from_string(name, alph)
        if motif is None:
            why = "not a sequence, and no motif file in the run directory has a matrix of that name"
            undrawable.append((name, why))
        else:
            drawn.append(UsedMotif(motif, "sequence", tuple(experiments)))
    return MotifsUsed(tuple(drawn), tuple(undrawable), tuple(problems))


def _renamed(motif: Motif, name: str) -> Motif:
    if motif.name == name:
        return motif
    return Motif(name, motif.probs, motif.alphabet, motif.counts, motif.alt_name, motif.background)


def _from_string(name: str, alphabet: str) -> Motif | None:
    for alph in (alphabet, "dna" if alphabet == "rna" else "rna"):
        try:
            return Motif.from_string(name, alph)
        except CausalgiaError:
            continue
    return None


def logo_heights(motif: Motif, *, bits: bool) -> pd.DataFrame:
    """The letter heights of a logo: probabilities, or probabilities × information (bits).

    Examples
    --------
    >>> logo_heights(Motif.from_string("AN"), bits=True).round(3).values.tolist()
    [[2.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]
    """
    probs = np.asarray(motif.probs, dtype=float)
    if bits:
        probs = probs * motif.information_content()[:, None]
    return pd.DataFrame(probs, columns=list(motif.alphabet.letters))


def plot_motif_logo(used: UsedMotif | Motif, *, ax: Axes | None = None) -> Axes:
    """Draw one motif logo with logomaker: bits for a matrix, probabilities for a sequence.

    Parameters
    ----------
    used : UsedMotif or Motif
        The motif (a bare Motif is drawn in bits unless it is deterministic).
    ax : Axes, optional
        Axes to draw on; a new figure (without pyplot) is made when None.

    Returns
    -------
    Axes

    Examples
    --------
    >>> ax = plot_motif_logo(Motif.from_string("GATA"))  # doctest: +SKIP
    >>> ax.get_ylabel()  # doctest: +SKIP
    'probability'
    """
    try:
        import logomaker
    except ImportError:
        raise OptionError("motif logos need logomaker: pip install 'causalgia[plot]'") from None
    if isinstance(used, Motif):
        used = UsedMotif(used, "sequence" if used.is_deterministic else "matrix", ())
    if ax is None:
        from matplotlib.figure import Figure

        width = 0.42 * used.motif.width + 1.1  # fixed margins: no layout engine, it is slow
        fig = Figure(figsize=(width, 1.6))
        fig.subplots_adjust(left=0.75 / width, right=1 - 0.1 / width, bottom=0.17, top=0.93)
        ax = fig.add_subplot()
    heights = logo_heights(used.motif, bits=used.from_matrix)
    logomaker.Logo(heights, ax=ax, color_scheme="classic", vpad=0.05)
    ax.set_ylim(0, 2.0 if used.from_matrix else 1.0)
    ax.set_ylabel("bits" if used.from_matrix else "probability", fontsize="small")
    ax.set_xticks(range(used.motif.width), [str(i + 1) for i in range(used.motif.width)])
    ax.tick_params(labelsize="x-small")
    ax.spines[["top", "right"]].set_visible(False)
    return ax


def write_motifs(motifs: Iterable[Motif], path: str | Path) -> Path:
    """Write motifs as a MEME minimal file (read back by :func:`~causalgia.read_motifs`).

    All motifs must share one alphabet, and names must be single words (MEME's rule).

    Examples
    --------
    >>> import tempfile
    >>> m = Motif.from_probs([[0.7, 0.1, 0.1, 0.1], [0.1, 0.1, 0.1, 0.7]], name="AT")
    >>> p = write_motifs([m], Path(tempfile.mkdtemp()) / "m.meme")
    >>> read_motifs(p)[0].consensus()
    'AT'
    """
    motifs = list(motifs)
    if not motifs:
        raise OptionError("write_motifs: no motifs given")
    letters = {m.alphabet.letters for m in motifs}
    if len(letters) > 1:
        raise OptionError(f"write_motifs: motifs mix alphabets {sorted(letters)}; write one each")
    alph = letters.pop()
    lines = ["MEME version 4", "", f"ALPHABET= {alph}", "", "strands: + -", ""]
    background = motifs[0].background
    bg = np.full(4, 0.25) if background is None else background
    lines += ["Background letter frequencies"]
    lines += [" ".join(f"{a} {p:.17g}" for a, p in zip(alph, bg, strict=True)), ""]
    for m in motifs:
        if not m.name or len(m.name.split()) != 1:
            raise OptionError(f"write_motifs: motif name {m.name!r} must be one word for MEME")
        lines += [f"MOTIF {m.name} {m.alt_name}".rstrip()]
        lines += [f"letter-probability matrix: alength= 4 w= {m.width} nsites= 20 E= 0"]
        lines += [" ".join(f"{p:.17g}" for p in row) for row in m.probs]
        lines += [""]
    return write_text(path, "\n".join(lines))
