"""The download handle returned by :meth:`ExportService.open_download`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol
from uuid import UUID

from reasonkit_export._closing import Closing

__all__ = ["Download"]

CHUNK_SIZE = 64 * 1024


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


class Download(Closing):
    """A completed export, streamed from storage (decrypted when it was encrypted).

    Use it as a context manager, then ``read()`` or iterate over chunks::

        with service.open_download(job_id, user_id=user) as download:
            for chunk in download:
                response.write(chunk)

    Attributes:
        job_id: the export's id.
        filename: a suggested file name (for ``Content-Disposition``).
        media_type: the IANA media type (for ``Content-Type``).
        size: the artifact size in bytes, as streamed.
        sha256: hex SHA-256 of the artifact, as streamed.
    """

    def __init__(
        self,
        *,
        job_id: UUID,
        filename: str,
        media_type: str,
        size: int,
        sha256: str,
        stream: _Readable,
        closers: tuple[_Readable, ...] = (),
    ) -> None:
        self.job_id = job_id
        self.filename = filename
        self.media_type = media_type
        self.size = size
        self.sha256 = sha256
        self._stream = stream
        self._closers = closers
        self.closed = False

    def __repr__(self) -> str:
        return f"Download(job_id={self.job_id}, filename={self.filename!r}, size={self.size})"

    def read(self, size: int = -1) -> bytes:
        """Read up to ``size`` bytes (all remaining bytes when negative)."""
        return self._stream.read(size)

    def iter_chunks(self, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        """Yield the artifact in chunks of at most ``chunk_size`` bytes."""
        while chunk := self._stream.read(chunk_size):
            yield chunk

    def __iter__(self) -> Iterator[bytes]:
        return self.iter_chunks()

    def close(self) -> None:
        """Release the underlying storage stream."""
        if self.closed:
            return
        self.closed = True
        for closable in (self._stream, *self._closers):
            closable.close()
