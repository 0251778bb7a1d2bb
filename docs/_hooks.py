"""mkdocs hook: render the Sphinx roles of causalgia's numpydoc docstrings as plain code.

Docstrings cross-reference with ``:func:`name```-style roles (numpydoc/Sphinx); mkdocstrings
renders the role's name literally, so drop it and keep the code span.
"""

from __future__ import annotations

import re

_ROLE = re.compile(r":(?:func|mod|class|meth|attr|data|exc|obj):(?=<code)")


def on_post_page(output: str, **_: object) -> str:
    """Strip ``:role:`` prefixes left in front of code spans of the rendered page."""
    return _ROLE.sub("", output)
