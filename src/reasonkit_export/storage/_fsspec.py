"""Storage on any fsspec file system: local disk, memory, S3, GCS, Azure, ...

Writes are atomic. On S3 (s3fs) the bytes go straight to the final key: an
object only appears when its upload completes (one PUT below the block size,
a multipart upload completed on close above it), and a failed write discards
the buffer and aborts the multipart upload, so nothing is left behind. Every
other backend writes to a hidden temporary name beside the final key
(``.<name>.<random>.part``) and moves it to the key only when the write
completed; a failed write removes the temporary. On the local disk the move
is a ``rename(2)`` on the same file system, after an ``fsync``.

Existence and size checks drop fsspec's listing cache for the key first, so a
stale listing can never make a half-written or deleted artifact look present.

A process killed in the middle of a write leaves its temporary behind, and
deleting artifacts leaves their folders on the local disk;
:meth:`FsspecStorage.remove_leftovers` removes both (the sweeps call it).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, cast
from urllib.parse import urlsplit, urlunsplit
from uuid import uuid4

import fsspec
from fsspec.implementations.local import LocalFileSystem
from fsspec.spec import AbstractFileSystem

from reasonkit_export._files import DIR_MODE, FILE_MODE, check_mode, create_private, make_dirs
from reasonkit_export._redact import install_aws_log_redaction
from reasonkit_export.exceptions import InvalidKey, InvalidRequest, StorageError

__all__ = ["FsspecStorage", "validate_key"]

_SEGMENT = r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}"
_KEY = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT}){{0,7}}")
# The hidden temporary _write_via_temporary writes beside the final key.
_TEMPORARY = re.compile(rf"\.{_SEGMENT}\.[0-9a-f]{{32}}\.part")

_S3_PROTOCOLS = frozenset({"s3", "s3a"})
_S3_MIN_PART = 5 * 1024 * 1024  # S3 refuses smaller multipart parts (s3fs checks it)
_S3_MAX_PRESIGN = timedelta(days=7)  # the SigV4 limit for presigned URLs


def _s3_options(options: dict[str, Any]) -> dict[str, Any]:
    """Default s3fs to SigV4 presigning: S3 refuses SigV2 URLs in most regions."""
    config = dict(options.get("config_kwargs") or {})
    config.setdefault("signature_version", "s3v4")
    return {**options, "config_kwargs": config}


def _shown(url: str) -> str:
    """``url`` without user info or query, which may carry credentials."""
    parts = urlsplit(url)
    if not parts.scheme or (parts.username is None and not parts.query):
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _relative(path: str, root: str) -> str:
    """``path`` below the storage root, as a key (never the server's path)."""
    return path[len(root) + 1 :] if path.startswith(root + "/") else path


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
            endpoint_url, ...). Never logged or shown in ``repr``. For S3,
            ``config_kwargs["signature_version"]`` defaults to ``"s3v4"``.
        block_size: the write buffer handed to fsspec; on S3 also the
            multipart part size (at least 5 MiB, S3's minimum).
        file_mode: on the local disk, the mode of every file written
            (temporaries included), whatever the umask; 0o600 by default.
        dir_mode: on the local disk, the mode of every folder created;
            0o700 by default. Existing folders keep their mode.
    """

    def __init__(
        self,
        url: str,
        *,
        storage_options: Mapping[str, Any] | None = None,
        block_size: int = 4 * 1024 * 1024,
        file_mode: int = FILE_MODE,
        dir_mode: int = DIR_MODE,
    ) -> None:
        self._file_mode = check_mode(file_mode, "file_mode")
        self._dir_mode = check_mode(dir_mode, "dir_mode")
        options = dict(storage_options or {})
        if fsspec.utils.get_protocol(url) in _S3_PROTOCOLS:
            options = _s3_options(options)
            # botocore logs request headers (Credential=<access key id>/...)
            # at DEBUG; mask them before any handler sees the record.
            install_aws_log_redaction()
        try:
            fs, root = fsspec.core.url_to_fs(url, **options)
        except (ImportError, ValueError) as exc:
            raise StorageError(
                f"cannot open storage {_shown(url)!r}: {type(exc).__name__}"
            ) from exc
        self._fs = fs
        self._root = str(root).rstrip("/")
        self._url = url
        self._block_size = block_size
        self._local = isinstance(fs, LocalFileSystem)
        protocols = {fs.protocol} if isinstance(fs.protocol, str) else set(fs.protocol)
        self._s3 = bool(protocols & _S3_PROTOCOLS)
        if self._local:
            try:
                make_dirs(self._root, self._dir_mode)
            except OSError as exc:
                raise StorageError(f"cannot create storage directory: {exc.strerror}") from exc

    def __repr__(self) -> str:
        return f"FsspecStorage({_shown(self._url)!r})"

    @property
    def fs(self) -> Any:
        """The underlying fsspec file system."""
        return self._fs

    def _path(self, key: str) -> str:
        return f"{self._root}/{validate_key(key)}"

    def open_write(self, key: str) -> contextlib.AbstractContextManager[BinaryIO]:
        """Write ``key`` atomically: visible only when the block completes."""
        path = self._path(key)
        if self._s3:
            return self._write_direct(key, path)
        return self._write_via_temporary(key, path)

    @contextlib.contextmanager
    def _write_direct(self, key: str, path: str) -> Iterator[BinaryIO]:
        # s3fs uploads on close (see module docstring), so the final key is
        # already atomic; a temporary + mv would be a server-side copy of
        # every artifact, doubling the write for nothing.
        try:
            handle = self._fs.open(path, "wb", block_size=max(self._block_size, _S3_MIN_PART))
        except OSError as exc:
            raise StorageError(f"cannot open {key!r} for writing: {exc}") from exc
        try:
            yield cast(BinaryIO, handle)
            handle.close()
        except BaseException as exc:
            with contextlib.suppress(Exception):
                handle.discard()  # aborts the multipart upload, drops the buffer
            # discard() leaves the file marked open; without this, garbage
            # collection would call close() and try to upload the dropped buffer.
            handle.closed = True
            if isinstance(exc, OSError) and not isinstance(exc, StorageError):
                raise StorageError(f"cannot write {key!r}: {exc}") from exc
            raise

    @contextlib.contextmanager
    def _write_via_temporary(self, key: str, final: str) -> Iterator[BinaryIO]:
        directory, _, name = final.rpartition("/")
        temporary = f"{directory}/.{name}.{uuid4().hex}.part"
        try:
            if self._local:
                # Personal data: exact modes, never the umask's 0644 / 0755.
                make_dirs(directory, self._dir_mode)
                handle: Any = create_private(temporary, self._file_mode, buffering=self._block_size)
            else:
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
            # s3fs pins reads to the cached size and ETag: refresh them first.
            self._fs.invalidate_cache(path)
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
            self._fs.invalidate_cache(path)
            return bool(self._fs.isfile(path))
        except OSError as exc:
            raise StorageError(f"cannot look up {key!r}: {exc}") from exc

    def size(self, key: str) -> int:
        """Stored size in bytes."""
        path = self._path(key)
        try:
            self._fs.invalidate_cache(path)
            return int(self._fs.size(path))
        except FileNotFoundError as exc:
            raise StorageError(f"no artifact stored at {key!r}") from exc
        except OSError as exc:
            raise StorageError(f"cannot stat {key!r}: {exc}") from exc

    def remove_leftovers(self, prefix: str, older_than: timedelta) -> int:
        """Remove write temporaries under ``prefix`` older than ``older_than``, then empty folders.

        On S3 writes go straight to the key and folders do not exist, so
        there is nothing to remove. On the local disk a temporary's age is
        its modification time, and every folder left empty below ``prefix``
        (``prefix`` included) is removed too. On other file systems only
        temporaries whose modification time the backend reports are removed.
        """
        top = self._path(prefix)
        if self._s3:
            return 0
        if self._local:
            return self._remove_local_leftovers(top, older_than)
        return self._remove_temporaries(top, older_than)

    def _remove_local_leftovers(self, top: str, older_than: timedelta) -> int:
        cutoff = time.time() - older_than.total_seconds()
        removed = 0
        try:
            # Bottom-up, so a folder is looked at after everything inside it.
            for walked, _folders, names in os.walk(top, topdown=False):
                directory = Path(walked)
                for name in names:
                    path = directory / name
                    if not _TEMPORARY.fullmatch(name):
                        continue
                    with contextlib.suppress(FileNotFoundError):
                        if path.lstat().st_mtime <= cutoff:
                            path.unlink()
                            removed += 1
                try:
                    directory.rmdir()
                    removed += 1
                except OSError as exc:
                    if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT):
                        raise
        except OSError as exc:
            raise StorageError(
                f"cannot remove leftovers under {_relative(top, self._root)!r}: {exc.strerror}"
            ) from exc
        return removed

    def _remove_temporaries(self, top: str, older_than: timedelta) -> int:
        cutoff = datetime.now(UTC) - older_than
        removed = 0
        try:
            paths = self._fs.find(top)
            for path in paths:
                if not _TEMPORARY.fullmatch(str(path).rpartition("/")[2]):
                    continue
                try:
                    modified = self._fs.modified(path)
                except (NotImplementedError, FileNotFoundError):
                    continue  # age unknown: it may be a write still running
                if modified.tzinfo is None:
                    modified = modified.replace(tzinfo=UTC)
                if modified <= cutoff:
                    with contextlib.suppress(FileNotFoundError):
                        self._fs.rm(path)
                        removed += 1
        except OSError as exc:
            where = _relative(top, self._root)
            raise StorageError(
                f"cannot remove leftovers under {where!r}: {type(exc).__name__}"
            ) from exc
        return removed

    def signed_url(self, key: str, expires_in: timedelta) -> str | None:
        """A presigned GET URL where the backend can make one, else None.

        Raises:
            InvalidRequest: ``expires_in`` is not positive, or (S3) longer
                than the 7 days a SigV4 presigned URL can last.
        """
        path = self._path(key)
        if expires_in <= timedelta(0):
            raise InvalidRequest(f"expires_in must be positive, got {expires_in}")
        if self._s3 and expires_in > _S3_MAX_PRESIGN:
            raise InvalidRequest(
                f"S3 presigned URLs last at most 7 days; {expires_in} was asked for"
            )
        if type(self._fs).sign is AbstractFileSystem.sign:
            return None  # the backend does not presign (local disk, memory, ...)
        try:
            return str(self._fs.sign(path, expiration=int(expires_in.total_seconds())))
        except Exception as exc:
            raise StorageError(f"cannot sign a URL for {key!r}: {type(exc).__name__}") from exc
