"""Sequences: alphabets and integer codes, FASTA and table files, motifs (MEME/JASPAR).

The first stage: it imports no other stage.
"""

from __future__ import annotations

from .alphabet import (
    DNA,
    LAYOUTS,
    N_CODE,
    RNA,
    Alphabet,
    Layout,
    as_codes,
    decode,
    encode,
    from_one_hot,
    get_alphabet,
    one_hot,
    reverse_complement,
)
from .io import FastaRecords, open_text, read_fasta, read_table, write_fasta
from .motifs import Motif, as_motif, coerce_motif, read_motifs

__all__ = [
    "Alphabet",
    "DNA",
    "FastaRecords",
    "LAYOUTS",
    "Layout",
    "Motif",
    "N_CODE",
    "RNA",
    "as_codes",
    "as_motif",
    "coerce_motif",
    "decode",
    "encode",
    "from_one_hot",
    "get_alphabet",
    "one_hot",
    "open_text",
    "read_fasta",
    "read_motifs",
    "read_table",
    "reverse_complement",
    "write_fasta",
]
