"""Give back the memory of temporary data that has been read for the last time.

A temporary file keeps every page written to it in the page cache until the
file is removed, so a large export holds gigabytes of page cache at its
peak. On a virtual machine that returns free memory to its host, each of
those pages is a fresh page, which costs the kernel about ten times a page
freed a moment ago: measured on the 2-core development machine, streaming
2 GiB through a temporary file took 4.2-4.7 s of CPU, and 0.53 s when the
reader punched a hole behind itself, so that the writer got recycled pages.
:func:`release` punches such a hole (``fallocate(FALLOC_FL_PUNCH_HOLE)``,
Linux): the range reads as zeros afterwards and its pages are free at once.
Where that is not available (another system, a file system without it) it
does nothing; the data then simply stays until the file is removed.

Only data that nothing will read again may be released: the HTML view's
child releases its input as it reads it, and each rendered page once it is
packed; the exporting process releases each packed page once it is copied.
"""

from __future__ import annotations

import ctypes
import functools
import sys
from typing import Any

__all__ = ["block_end", "release"]

_BLOCK = 4096  # the page (and the usual file system block) size
_PUNCH_HOLE = 0x02  # FALLOC_FL_PUNCH_HOLE
_KEEP_SIZE = 0x01  # FALLOC_FL_KEEP_SIZE


@functools.cache
def _fallocate() -> Any:
    """libc's ``fallocate``, or None where there is none (loaded once)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        # The process's own symbols include the C library's.
        function = ctypes.CDLL(None, use_errno=True).fallocate
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong]
    function.restype = ctypes.c_int
    return function


def block_end(offset: int) -> int:
    """The first block boundary at or after byte ``offset``."""
    return -(-offset // _BLOCK) * _BLOCK


def release(fd: int, start: int, end: int) -> bool:
    """Free the whole blocks of file ``fd`` between byte ``start`` and ``end``; the size stays.

    Only blocks entirely inside the range are released, so the bytes just
    before and after it (another reader's data) are never touched. Returns
    whether anything was released (False: nothing to do, not available
    here, or the file system refused; nothing else happens then).
    """
    first = block_end(start)
    last = end // _BLOCK * _BLOCK
    if last <= first or first < 0:
        return False
    fallocate = _fallocate()
    if fallocate is None:
        return False
    return bool(fallocate(fd, _PUNCH_HOLE | _KEEP_SIZE, first, last - first) == 0)
