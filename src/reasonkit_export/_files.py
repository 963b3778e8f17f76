"""Private files on the local disk: exact modes, whatever the process umask.

Exports, job documents (user id, live download token) and their temporaries
are personal data. Under the common umask 022 a plain ``open()`` would make
them world-readable (0644 in 0755 folders). Everything the library creates
on the local disk goes through these helpers instead: files are created with
``FILE_MODE`` (0600) and folders with ``DIR_MODE`` (0700), and the mode is
set explicitly after creation, so the umask cannot widen (or narrow) it.
Hosts that share a group pass their own modes (for example 0o640 / 0o750).
Folders that already exist are left as they are: they belong to the host.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

from reasonkit_export.exceptions import InvalidRequest

__all__ = ["DIR_MODE", "FILE_MODE", "check_mode", "create_private", "make_dirs"]

FILE_MODE = 0o600
DIR_MODE = 0o700


def check_mode(mode: int, what: str) -> int:
    """Return ``mode`` if it is a permission mode (0..0o777), else raise InvalidRequest."""
    if not isinstance(mode, int) or isinstance(mode, bool) or not 0 <= mode <= 0o777:
        raise InvalidRequest(f"{what} must be a permission mode such as 0o600, got {mode!r}")
    return mode


def make_dirs(path: str | os.PathLike[str], mode: int = DIR_MODE) -> None:
    """``os.makedirs(path, exist_ok=True)``; every folder it creates gets ``mode`` exactly."""
    missing: list[Path] = []
    current = Path(path).absolute()
    while not current.is_dir():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode)
        except FileExistsError:
            if not folder.is_dir():
                raise
            continue  # another process created it first; its mode is its own
        folder.chmod(mode)


def create_private(
    path: str | os.PathLike[str], mode: int = FILE_MODE, *, buffering: int = -1
) -> BinaryIO:
    """Create a new file (never an existing one) with exactly ``mode``; open for writing."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), mode)
    try:
        os.fchmod(fd, mode)
        return os.fdopen(fd, "wb", buffering=buffering)
    except BaseException:
        os.close(fd)
        raise
