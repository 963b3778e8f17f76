"""Storage on any fsspec file system: local disk, memory, S3, GCS, Azure, ...

Writes are atomic: the bytes go to a hidden temporary name beside the final
key (``.<name>.<random>.part``) and are moved to the key only when the write
completed; a failed write removes the temporary. On the local disk the move
is a ``rename(2)`` on the same file system, after an ``fsync``.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Any, BinaryIO, cast
from uuid import uuid4

import fsspec
from fsspec.implementations.local import LocalFileSystem

from reasonkit_export.exceptions import InvalidKey, StorageError

__all__ = ["FsspecStorage", "validate_key"]

_SEGMENT = r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}"
_KEY = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT}){{0,7}}")


def validate_key(key: str) -> str:
    """Return ``key`` if it is a safe storage key, else raise InvalidKey.

    A key is one to eight ``/``-separated segments of letters, digits, ``_``,
    ``-`` and ``.``, none starting with a dot (so no ``..``, no hidden names,
    no absolute paths, no traversal out of the root).
    """
    if not isinstance(key, str) or not _KEY.fullmatch(key) or ".." in key:
        raise InvalidKey(f"invalid storage key {key!r}")
    return key


class FsspecStorage:
    """Artifacts stored under ``url`` (``file:///srv/exports``, ``memory://x``, ``s3://b/p``).

    Args:
        url: the root; any fsspec URL. A bare path means the local disk.
        storage_options: passed to the fsspec file system (credentials,
            endpoint_url, ...). Never logged or shown in ``repr``.
        block_size: the write buffer handed to fsspec.
    """

    def __init__(
        self,
        url: str,
        *,
        storage_options: Mapping[str, Any] | None = None,
        block_size: int = 4 * 1024 * 1024,
    ) -> None:
        try:
            fs, root = fsspec.core.url_to_fs(url, **dict(storage_options or {}))
        except (ImportError, ValueError) as exc:
            raise StorageError(f"cannot open storage {url!r}: {exc}") from exc
        self._fs = fs
        self._root = str(root).rstrip("/")
        self._url = url
        self._block_size = block_size
        self._local = isinstance(fs, LocalFileSystem)
        if self._local:
            try:
                os.makedirs(self._root, exist_ok=True)
            except OSError as exc:
                raise StorageError(f"cannot create storage directory: {exc.strerror}") from exc

    def __repr__(self) -> str:
        return f"FsspecStorage({self._url!r})"

    @property
    def fs(self) -> Any:
        """The underlying fsspec file system."""
        return self._fs

    def _path(self, key: str) -> str:
        return f"{self._root}/{validate_key(key)}"

    @contextlib.contextmanager
    def open_write(self, key: str) -> Iterator[BinaryIO]:
        """Write ``key`` atomically: visible only when the block completes."""
        final = self._path(key)
        directory, _, name = final.rpartition("/")
        temporary = f"{directory}/.{name}.{uuid4().hex}.part"
        try:
            if self._local:
                os.makedirs(directory, exist_ok=True)
            handle = self._fs.open(temporary, "wb", block_size=self._block_size)
        except OSError as exc:
            raise StorageError(f"cannot open {key!r} for writing: {exc}") from exc
        try:
            yield cast(BinaryIO, handle)
            if self._local:
                handle.flush()
                os.fsync(handle.fileno())
            handle.close()
            self._fs.mv(temporary, final)
        except BaseException as exc:
            with contextlib.suppress(Exception):
                handle.close()
            with contextlib.suppress(Exception):
                self._fs.rm(temporary)
            if isinstance(exc, OSError) and not isinstance(exc, StorageError):
                raise StorageError(f"cannot write {key!r}: {exc}") from exc
            raise

    def open_read(self, key: str) -> BinaryIO:
        """Open ``key`` for streaming reads."""
        path = self._path(key)
        try:
            return cast(BinaryIO, self._fs.open(path, "rb"))
        except FileNotFoundError as exc:
            raise StorageError(f"no artifact stored at {key!r}") from exc
        except OSError as exc:
            raise StorageError(f"cannot read {key!r}: {exc}") from exc

    def delete(self, key: str) -> None:
        """Remove ``key``; no error when it is already gone."""
        path = self._path(key)
        try:
            self._fs.rm(path)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StorageError(f"cannot delete {key!r}: {exc}") from exc

    def exists(self, key: str) -> bool:
        """Whether a complete artifact is stored at ``key``."""
        path = self._path(key)
        try:
            return bool(self._fs.isfile(path))
        except OSError as exc:
            raise StorageError(f"cannot look up {key!r}: {exc}") from exc

    def size(self, key: str) -> int:
        """Stored size in bytes."""
        path = self._path(key)
        try:
            return int(self._fs.size(path))
        except FileNotFoundError as exc:
            raise StorageError(f"no artifact stored at {key!r}") from exc
        except OSError as exc:
            raise StorageError(f"cannot stat {key!r}: {exc}") from exc

    def signed_url(self, key: str, expires_in: timedelta) -> str | None:
        """A presigned GET URL where the backend can make one, else None."""
        path = self._path(key)
        try:
            return str(self._fs.sign(path, expiration=int(expires_in.total_seconds())))
        except NotImplementedError:
            return None
        except OSError as exc:
            raise StorageError(f"cannot sign a URL for {key!r}: {exc}") from exc
