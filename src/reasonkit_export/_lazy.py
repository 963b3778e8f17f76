"""Module attributes imported on first use (PEP 562), for the package's ``__init__`` files."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    module_name: str, exports: Mapping[str, str], public: Iterable[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of a module whose names load on first use.

    ``exports`` maps each name to the module it comes from; a name, once
    imported, is stored in the module, so the next access is a plain one.
    """
    names = tuple(public)

    def getattr_(name: str) -> Any:
        source = exports.get(name)
        if source is None:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(source), name)
        setattr(sys.modules[module_name], name, value)
        return value

    def dir_() -> list[str]:
        return sorted({*vars(sys.modules[module_name]), *names})

    return getattr_, dir_
