"""The causalgia exception hierarchy.

Every error a user can cause by bad input is a :class:`CausalgiaError`, and its message names
the offending sequence id, position, row, key or argument.
"""

from __future__ import annotations


class CausalgiaError(Exception):
    """Base class of every error raised deliberately by causalgia."""


class OptionError(CausalgiaError, ValueError):
    """An argument took a value outside its allowed set or range."""


class InvalidSequenceError(CausalgiaError, ValueError):
    """A sequence holds a letter outside its alphabet, is empty, or has the wrong length."""


class MotifError(CausalgiaError, ValueError):
    """A motif is malformed (bad counts, bad letters, unreadable file)."""


class InterventionError(CausalgiaError, ValueError):
    """An intervention does not fit the sequences (out of range, overlapping, too long)."""


class LayoutError(CausalgiaError, ValueError):
    """A one-hot array does not have the declared layout."""


class ModelOutputError(CausalgiaError, ValueError):
    """A model returned outputs of the wrong shape or type, or non-finite values."""


class SimulationError(CausalgiaError, RuntimeError):
    """Evaluating a design on a model failed; the message names the batch."""


class ModelCallError(CausalgiaError, RuntimeError):
    """The model's own code raised (or called ``sys.exit``) on a batch; the message names the
    model, the exception and the input it was given (shape, layout, alphabet). The original
    exception is chained as ``__cause__``."""


class DegenerateStudyError(SimulationError):
    """No intervention changed the model's output: every ICE is exactly 0, which a wrong
    layout, alphabet or output functional gives; the message names all three."""


class ConfigError(CausalgiaError, ValueError):
    """A TOML study specification has an unknown key or a bad value; the message names the key."""


class EstimationError(CausalgiaError, ValueError):
    """An effect cannot be estimated from a table (too few units, non-finite outcomes)."""


class StoreError(CausalgiaError, RuntimeError):
    """A run store cannot be used: it belongs to another run, is locked or is damaged; the
    message names the run directory."""


class LedgerError(StoreError):
    """A run directory's ``ledger.sqlite`` is damaged, truncated, not a ledger or of another
    schema version; the message names the run directory and what to do (often
    ``causalgia resume --salvage DIR``)."""


class InputFileError(CausalgiaError, ValueError):
    """An input file cannot be read (truncated or corrupt gzip); the message names the file."""
