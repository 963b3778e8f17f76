"""Downloads and download tokens: handing a completed export back out.

Owns: opening an artifact (or one volume of a split export) for streaming,
decrypting it on the way when it was encrypted, refusing jobs that are not
completed or whose window has closed (expiring them on the spot), and
signing and redeeming download tokens.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reasonkit_export._download import Download
from reasonkit_export._lifecycle._context import ServiceContext
from reasonkit_export._lifecycle._expiry import Expiry
from reasonkit_export._models import ExportJob, ExportStatus
from reasonkit_export.exceptions import (
    ExportError,
    ExportExpired,
    ExportNotFound,
    ExportNotReady,
    InvalidRequest,
    InvalidToken,
)

__all__ = ["Downloads"]


class Downloads:
    """Streams completed exports to their owners, directly or by signed token."""

    def __init__(self, ctx: ServiceContext, expiry: Expiry) -> None:
        self._ctx = ctx
        self._expiry = expiry

    def create_token(self, owned_job: Callable[[], ExportJob]) -> str:
        """A signed token for the job ``owned_job`` looks up (after the signing-key check).

        See :meth:`reasonkit_export.ExportService.create_download_token`.
        """
        signer = self._ctx.signer
        if signer is None:
            raise InvalidRequest("create_download_token needs ExportConfig.signing_keys")
        job = self.usable(owned_job())
        assert job.expires_at is not None
        return signer.sign(
            job_id=job.id, user_id=job.user_id, issued_at=self._ctx.now(), expires_at=job.expires_at
        )

    def open_by_token(self, token: str, *, part: int | None = None) -> Download:
        """See :meth:`reasonkit_export.ExportService.open_download_by_token`."""
        signer = self._ctx.signer
        if signer is None:
            raise InvalidToken("this service has no signing keys")
        claims = signer.verify(token, now=self._ctx.now())
        try:
            job = self._ctx.repository.get(claims.job_id)
        except ExportNotFound:
            raise InvalidToken("download token points at no export") from None
        if not signer.matches_user(claims, job.user_id):
            raise InvalidToken("download token was issued for another user")
        return self.open(job, part)

    def usable(self, job: ExportJob) -> ExportJob:
        """``job`` if it can be downloaded now; else expire it or say why not."""
        if job.status is ExportStatus.EXPIRED or self._ctx.is_past_expiry(job, self._ctx.now()):
            if job.status is not ExportStatus.EXPIRED:
                self._expiry.expire(job)
            raise ExportExpired(job.id)
        if job.status is not ExportStatus.COMPLETED:
            raise ExportNotReady(job.id, job.status.value)
        return job

    def open(self, job: ExportJob, part: int | None = None) -> Download:
        """Open ``job``'s artifact, or volume ``part`` of a split one, for reading."""
        job = self.usable(job)
        assert job.storage_key is not None
        assert job.filename is not None
        assert job.media_type is not None
        key, filename, size, sha256 = job.storage_key, job.filename, job.file_size, job.sha256
        if job.parts:
            if part is None or not 1 <= part <= len(job.parts):
                raise InvalidRequest(
                    f"export {job.id} is split into {len(job.parts)} parts; "
                    f"pass part=1..{len(job.parts)}"
                )
            chosen = job.parts[part - 1]
            key, filename, size, sha256 = chosen.key, chosen.filename, chosen.size, chosen.sha256
        elif part is not None:
            raise InvalidRequest(f"export {job.id} is not split into parts")
        assert sha256 is not None
        stream: Any = self._ctx.storage.open_read(key)
        closers: tuple[Any, ...] = ()
        if job.encrypted:
            stream, closers = self._decrypting(job, stream), (stream,)
        return Download(
            job_id=job.id,
            filename=filename,
            media_type=job.media_type,
            size=size or 0,
            sha256=sha256,
            stream=stream,
            closers=closers,
        )

    def _decrypting(self, job: ExportJob, stream: Any) -> Any:
        from reasonkit_export.crypto import decrypting_reader

        try:
            if not self._ctx.keys.identities:
                raise ExportError(
                    f"export {job.id} is encrypted and this service holds no identity to "
                    "decrypt it (configure encryption_key or decryption_identities)"
                )
            return decrypting_reader(stream, self._ctx.keys.identities)
        except BaseException:
            stream.close()
            raise
