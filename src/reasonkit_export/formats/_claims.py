"""Work shared by two processes: each item goes to whichever claims it first.

The HTML view's child and the archive's process both pack the view's pages
(see :class:`~reasonkit_export.formats._html.HtmlWorker`). A fixed split
(every other page) leaves one of them idle whenever the other is busier, as
the archive's process is while it writes ``data.json`` and the CSV tables;
with claims, the child packs every page it reaches first, and the parent
joins in as soon as it is free.

A claim is one byte per item in a file both processes opened, set under an
exclusive ``flock``: an item is claimed exactly once, and a process that
dies holding the lock gives it back with its descriptors. Where ``flock``
does not exist (Windows), the split is fixed: the child takes the even
items, the parent the odd ones.
"""

from __future__ import annotations

import os
from typing import Any, BinaryIO

_flock: Any
try:
    from fcntl import LOCK_EX, LOCK_UN
    from fcntl import flock as _flock
except ImportError:  # pragma: no cover - not on POSIX
    _flock = None

__all__ = ["Claims"]

_TAKEN = b"\x01"


class Claims:
    """Claims on numbered items in ``file``, for the child (``child=True``) or the parent."""

    def __init__(self, file: BinaryIO, *, child: bool) -> None:
        self._file = file
        self._child = child

    def claim(self, item: int) -> bool:
        """Whether this process takes ``item`` (True exactly once over both processes)."""
        if item < 0:
            raise ValueError(f"item numbers start at 0, got {item}")
        if _flock is None:  # pragma: no cover - not on POSIX
            return (item % 2 == 0) == self._child
        fd = self._file.fileno()
        _flock(fd, LOCK_EX)
        try:
            if os.pread(fd, 1, item) == _TAKEN:
                return False
            os.pwrite(fd, _TAKEN, item)
            return True
        finally:
            _flock(fd, LOCK_UN)

    def close(self) -> None:
        """Close the file (the claims stay in it for the other process)."""
        self._file.close()
