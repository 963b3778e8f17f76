"""MkDocs hooks: render Sphinx-style roles left in docstrings.

Docstrings say :meth:`ExportService.from_config` (readable in ``help()`` and
IDEs); mkdocstrings renders that as the literal text ``:meth:`` followed by
code. This hook drops the role name and the ``~`` shortening marker, so the
API reference shows just the name, as code.
"""

from __future__ import annotations

import re
from typing import Any

_ROLE = re.compile(r":(?:py:)?(?:meth|class|func|mod|attr|data|exc|obj|const):(<code>)~?")


def on_page_content(html: str, **_kwargs: Any) -> str:
    """Strip role prefixes such as ``:meth:`` in front of inline code."""
    return _ROLE.sub(r"\1", html)
