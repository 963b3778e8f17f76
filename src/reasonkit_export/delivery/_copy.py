"""Copy the artifact itself to another controller's storage (any fsspec URL)."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import socket
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from reasonkit_export._download import Download
from reasonkit_export._models import ExportJob
from reasonkit_export.delivery._base import DeliveryError, check_name, redact_url
from reasonkit_export.delivery._policy import DestinationPolicy, DestinationRefused
from reasonkit_export.exceptions import InvalidRequest, StorageError
from reasonkit_export.storage._fsspec import FsspecStorage, validate_key

__all__ = ["StorageCopyDelivery", "sanitize_key"]

logger = logging.getLogger("reasonkit_export.delivery")

CHUNK_SIZE = 1024 * 1024  # bounded memory per copy, large enough for S3-sized writes
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_MAX_SEGMENT = 128

Destination = str | Callable[[ExportJob], str | None]

# Object stores reached over HTTP(S) whose connections the policy can check
# (s3fs lets us vet every socket before it connects). Every other fsspec
# protocol needs DestinationPolicy.host_configured().
CHECKED_PROTOCOLS = frozenset({"s3", "s3a"})


class _Refused(Exception):
    """The destination is not on the allow-list (the reason stays in the log)."""


class _SocketGuard:
    """aiohttp's ``socket_factory``: vets the address each socket connects to."""

    def __init__(self, policy: DestinationPolicy) -> None:
        self._policy = policy
        self.refused = False

    def __call__(self, addr_info: tuple[Any, ...]) -> socket.socket:
        family, kind, proto, _name, sockaddr = addr_info
        if not self._policy.allows_address(str(sockaddr[0])):
            self.refused = True
            raise DestinationRefused("the address is not allowed")
        return socket.socket(family, kind, proto)


def _check_destination(url: str, policy: DestinationPolicy) -> None:
    """Raise _Refused unless ``url`` is an allowed object-store prefix."""
    if policy.trusted:
        return
    if "::" in url or any(c.isspace() or ord(c) < 32 for c in url):
        raise _Refused("chained or malformed URL")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise _Refused("malformed URL") from None
    protocol = parts.scheme.lower()
    if protocol not in CHECKED_PROTOCOLS or not policy.allows_protocol(protocol):
        raise _Refused(f"protocol {protocol or 'local path'!r} is not allowed")
    if parts.username is not None or parts.password is not None or port is not None:
        raise _Refused("user info or a port in the URL")
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise _Refused("a query or fragment in the URL")
    bucket = parts.hostname or ""
    if not bucket or not policy.allows_host(bucket):
        raise _Refused("the bucket is not on the allow-list")
    prefix = parts.path.strip("/")
    if prefix:
        try:
            validate_key(prefix)
        except ValueError:
            raise _Refused("an unsafe prefix") from None


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
            (credentials, endpoint); never shown, and only ever sent to a
            destination that passed ``allow``.
        allow: which destinations may be reached (see
            :class:`~reasonkit_export.delivery.DestinationPolicy`). A callable
            destination may come from a user, so it needs an explicit policy;
            only ``s3``/``s3a`` buckets on its allow-list are reached, and
            every connection goes to a public address only (by default). A
            fixed ``s3://bucket/...`` destination defaults to a policy that
            allows that bucket. Any other fixed destination (a local path,
            ``memory://``, ``sftp://``, ...) needs
            ``allow=DestinationPolicy.host_configured()``: the host opts in
            for a destination it fixed itself.

    Raises:
        InvalidRequest: a bad or disallowed fixed destination, a callable
            without ``allow``, or ``host_configured()`` with a callable.

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
        allow: DestinationPolicy | None = None,
    ) -> None:
        self.name = check_name(name)
        if allow is not None and not isinstance(allow, DestinationPolicy):
            raise InvalidRequest("allow must be a DestinationPolicy")
        if isinstance(destination, str):
            if not destination.strip():
                raise InvalidRequest("the copy destination must be a non-empty URL")
            if allow is None:
                allow = self._default_policy(destination)
            try:
                _check_destination(destination, allow)
            except _Refused as exc:
                raise InvalidRequest(
                    f"copy {name!r}: the destination is not allowed ({exc}); for a "
                    "destination the host fixed itself, pass "
                    "allow=DestinationPolicy.host_configured()"
                ) from None
        elif not callable(destination):
            raise InvalidRequest("the copy destination must be a URL or a callable")
        elif allow is None:
            raise InvalidRequest(
                f"copy {name!r}: a per-job destination may come from a user; "
                "pass allow=DestinationPolicy(hosts=[...]) naming the allowed buckets"
            )
        elif allow.trusted:
            raise InvalidRequest(
                f"copy {name!r}: DestinationPolicy.host_configured() is for a fixed "
                "destination only, not a per-job one"
            )
        self._destination = destination
        self._policy = allow
        self._storage_options = dict(storage_options or {})

    @staticmethod
    def _default_policy(destination: str) -> DestinationPolicy:
        try:
            parts = urlsplit(destination)
        except ValueError:
            return DestinationPolicy(hosts=[])  # refused by the check that follows
        bucket = parts.hostname
        if parts.scheme.lower() in CHECKED_PROTOCOLS and bucket:
            return DestinationPolicy(hosts=[bucket])
        return DestinationPolicy(hosts=[])

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
        try:
            _check_destination(root, self._policy)
        except _Refused as exc:
            # The user sees "refused"; the reason is for the operator's log.
            logger.warning("delivery %s: destination refused (%s)", self.name, exc)
            raise DeliveryError(
                f"copy {self.name!r} refused: the destination is not allowed",
                delivery=self.name,
            ) from None
        shown = redact_url(root).rstrip("/")
        guard = None if self._policy.trusted else _SocketGuard(self._policy)
        try:
            storage = FsspecStorage(root, storage_options=self._options(guard))
        except (StorageError, OSError, ValueError) as exc:
            # The storage's own message quotes the URL, which may hold credentials.
            raise DeliveryError(
                f"copy {self.name!r}: cannot open destination {shown} ({type(exc).__name__})",
                delivery=self.name,
            ) from exc
        try:
            return self._copy_parts(job, open_artifact, storage, shown)
        except Exception as exc:
            if guard is None:
                raise
            if guard.refused:
                logger.warning("delivery %s: a connection was refused by the policy", self.name)
                raise DeliveryError(
                    f"copy {self.name!r} refused: the destination is not allowed",
                    delivery=self.name,
                ) from exc
            if isinstance(exc, DeliveryError) and exc.status is None and not exc.retryable:
                raise  # size or digest mismatch: our own words, no network detail
            # A user-chosen destination: the job says only "failed" (no port
            # oracle); the exception type goes to the operator's log.
            logger.warning("delivery %s: copy failed (%s)", self.name, type(exc).__name__)
            raise DeliveryError(
                f"copy {self.name!r} failed", delivery=self.name, retryable=True
            ) from exc

    def _options(self, guard: _SocketGuard | None) -> dict[str, Any]:
        if guard is None:
            return dict(self._storage_options)
        options = dict(self._storage_options)
        config = dict(options.get("config_kwargs") or {})
        connector = dict(config.get("connector_args") or {})
        # Every socket s3fs opens is vetted on the address it connects to.
        connector["socket_factory"] = guard
        config["connector_args"] = connector
        options["config_kwargs"] = config
        # A cached instance may have been built without the guard.
        options["skip_instance_cache"] = True
        return options

    def _copy_parts(
        self,
        job: ExportJob,
        open_artifact: Callable[[], Download],
        storage: FsspecStorage,
        shown: str,
    ) -> str:
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
