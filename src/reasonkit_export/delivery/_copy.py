"""Copy the artifact itself to another controller's storage (any fsspec URL)."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from typing import Any

from reasonkit_export._download import Download
from reasonkit_export._models import ExportJob
from reasonkit_export.delivery._base import DeliveryError, check_name, redact_url
from reasonkit_export.exceptions import InvalidRequest, StorageError
from reasonkit_export.storage._fsspec import FsspecStorage, validate_key

__all__ = ["StorageCopyDelivery", "sanitize_key"]

CHUNK_SIZE = 1024 * 1024  # bounded memory per copy, large enough for S3-sized writes
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_MAX_SEGMENT = 128

Destination = str | Callable[[ExportJob], str | None]


def sanitize_key(filename: str, fallback: str) -> str:
    """Turn a file name into one storage-key segment (see ``validate_key``).

    Unsafe characters become ``_``, runs of dots collapse (no ``..``), a
    leading dot or other punctuation is dropped, and long names keep their end
    (the extension). ``fallback`` is used when nothing usable is left.
    """
    name = _UNSAFE.sub("_", filename.rpartition("/")[2])
    name = re.sub(r"\.{2,}", ".", name).lstrip("._-")
    if len(name) > _MAX_SEGMENT:
        name = name[-_MAX_SEGMENT:].lstrip("._-")
    try:
        return validate_key(name)
    except ValueError:
        return validate_key(fallback)


class StorageCopyDelivery:
    """Stream the artifact to a destination fsspec URL, atomically and verified.

    Args:
        destination: a directory or prefix URL (``s3://partner-inbox/exports``,
            ``/mnt/transfer``), or a callable ``(job) -> str | None`` resolving
            one per job; ``None`` skips the job (the result is ``"skipped"``).
        name: the delivery's name on the job record.
        storage_options: passed to the destination's fsspec file system
            (credentials, endpoint); never shown.

    The file is named after the job's file name (sanitised to a storage key)
    and written through :meth:`FsspecStorage.open_write`, so it appears only
    once complete. The bytes are hashed while they are copied; if the size or
    SHA-256 differ from the export's, the write is abandoned and nothing is
    left at the destination.
    """

    def __init__(
        self,
        destination: Destination,
        *,
        name: str = "copy",
        storage_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.name = check_name(name)
        if isinstance(destination, str):
            if not destination.strip():
                raise InvalidRequest("the copy destination must be a non-empty URL")
        elif not callable(destination):
            raise InvalidRequest("the copy destination must be a URL or a callable")
        self._destination = destination
        self._storage_options = dict(storage_options or {})

    def __repr__(self) -> str:
        target = (
            redact_url(self._destination)
            if isinstance(self._destination, str)
            else "<per-job callable>"
        )
        return f"StorageCopyDelivery(name={self.name!r}, destination={target!r})"

    def _resolve(self, job: ExportJob) -> str | None:
        if isinstance(self._destination, str):
            return self._destination
        resolved = self._destination(job)
        if resolved is not None and (not isinstance(resolved, str) or not resolved.strip()):
            raise DeliveryError(
                f"copy {self.name!r}: the destination callable returned "
                f"{type(resolved).__name__}, not a URL or None",
                delivery=self.name,
            )
        return resolved

    def deliver(self, job: ExportJob, open_artifact: Callable[[], Download]) -> str:
        """Copy the artifact; return ``"copied <n> bytes to <destination>/<key>"``.

        Raises:
            DeliveryError: the destination could not be opened or written, or
                the copy's size or SHA-256 does not match the export.
        """
        root = self._resolve(job)
        if root is None:
            return "skipped"
        shown = redact_url(root).rstrip("/")
        try:
            storage = FsspecStorage(root, storage_options=self._storage_options)
        except (StorageError, OSError, ValueError) as exc:
            # The storage's own message quotes the URL, which may hold credentials.
            raise DeliveryError(
                f"copy {self.name!r}: cannot open destination {shown} ({type(exc).__name__})",
                delivery=self.name,
            ) from exc
        parts: list[int | None] = [part.number for part in job.parts] or [None]
        copied_total = 0
        keys: list[str] = []
        for number in parts:
            # A split export is copied volume by volume, under each volume's name.
            opener: Any = open_artifact
            with opener(number) if number is not None else open_artifact() as download:
                fallback = f"export-{job.id}" if number is None else f"export-{job.id}-{number}"
                name = download.filename if number is not None else job.filename
                key = sanitize_key(name or download.filename, fallback)
                try:
                    copied_total += self._copy(download, storage, key)
                except DeliveryError:
                    raise
                except (StorageError, OSError) as exc:
                    raise DeliveryError(
                        f"copy {self.name!r} to {shown}/{key} failed ({type(exc).__name__})",
                        delivery=self.name,
                        retryable=True,
                    ) from exc
                keys.append(key)
        where = keys[0] if len(keys) == 1 else f"{{{','.join(keys)}}}"
        return f"copied {copied_total} bytes to {shown}/{where}"

    def _copy(self, download: Download, storage: FsspecStorage, key: str) -> int:
        digest = hashlib.sha256()
        copied = 0
        with storage.open_write(key) as out:
            for chunk in download.iter_chunks(CHUNK_SIZE):
                digest.update(chunk)
                copied += len(chunk)
                out.write(chunk)
            # Raising inside the block makes open_write discard the partial file.
            if copied != download.size:
                raise DeliveryError(
                    f"copy {self.name!r}: copied {copied} bytes but the export has "
                    f"{download.size}; the copy was discarded",
                    delivery=self.name,
                )
            if not hmac.compare_digest(digest.hexdigest(), download.sha256.lower()):
                raise DeliveryError(
                    f"copy {self.name!r}: the SHA-256 of the copy does not match the "
                    "export; the copy was discarded",
                    delivery=self.name,
                )
        return copied
