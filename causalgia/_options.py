"""One place that checks ``Literal`` options and numeric ranges."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from .errors import OptionError


def check_option(name: str, value: Any, allowed: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``allowed``; otherwise raise naming the argument.

    Examples
    --------
    >>> check_option("layout", "NCL", ("NCL", "NLC"))
    'NCL'
    """
    allowed = tuple(allowed)
    if value not in allowed:
        raise OptionError(f"{name}={value!r} is not allowed; choose one of {allowed}")
    return value


def check_int(name: str, value: Any, *, minimum: int | None = None) -> int:
    """Return ``value`` as an int, raising if it is not an integer or is below ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise OptionError(f"{name} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise OptionError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_probability(name: str, value: Any, *, open_interval: bool = True) -> float:
    """Return ``value`` as a float in (0, 1) (or [0, 1] when ``open_interval`` is False)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise OptionError(f"{name} must be a number in (0, 1), got {value!r}") from None
    ok = 0.0 < v < 1.0 if open_interval else 0.0 <= v <= 1.0
    if not ok:
        bounds = "(0, 1)" if open_interval else "[0, 1]"
        raise OptionError(f"{name} must lie in {bounds}, got {value!r}")
    return v
