"""``causalgia validate``: the calibration studies behind docs/validation.md.

Validation tooling, not part of a user's pipeline: the last stage, it may import every other.
"""

from __future__ import annotations

from .runner import *  # noqa: F403 (the runner's __all__ is the stage's public surface)
from .runner import __all__ as __all__
