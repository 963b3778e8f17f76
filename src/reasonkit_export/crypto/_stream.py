"""The age payload: STREAM over ChaCha20-Poly1305 in 64 KiB chunks.

Chunk ``i`` is sealed with the nonce ``i`` as an 11-byte big-endian counter
followed by a flag byte that is 1 only on the final chunk. A truncated,
extended or reordered payload therefore fails authentication.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Self

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from reasonkit_export.crypto._io import BufferedSource, ByteSink
from reasonkit_export.crypto._primitives import hkdf_sha256
from reasonkit_export.exceptions import PayloadError

if TYPE_CHECKING:
    from types import TracebackType

    from _typeshed import WriteableBuffer

__all__ = [
    "CHUNK_SIZE",
    "NONCE_SIZE",
    "DecryptingReader",
    "EncryptingWriter",
    "payload_key",
]

CHUNK_SIZE = 64 * 1024
TAG_SIZE = 16
ENCRYPTED_CHUNK_SIZE = CHUNK_SIZE + TAG_SIZE
NONCE_SIZE = 16
_MAX_COUNTER = (1 << 88) - 1


def payload_key(file_key: bytes, nonce: bytes) -> bytes:
    """Derive the payload key from the file key and the 16-byte payload nonce."""
    return hkdf_sha256(file_key, nonce, b"payload")


def _chunk_nonce(counter: int, *, last: bool) -> bytes:
    """Return the 12-byte STREAM nonce for chunk ``counter``."""
    if counter > _MAX_COUNTER:
        raise PayloadError("age payload exceeds the STREAM chunk counter")
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


class EncryptingWriter:
    """A binary writer that encrypts everything written to it into an age payload.

    Returned by :func:`~reasonkit_export.crypto.encrypting_writer`, which has
    already written the header and nonce. Data is buffered until a full 64 KiB
    chunk *and at least one more byte* exist, because only :meth:`close` can
    say which chunk is the last one; so at most one chunk is held in memory.

    :meth:`close` seals the final chunk; the file is invalid until it runs.
    Leaving a ``with`` block by an exception does **not** seal it, so that a
    half-written export can never decrypt as if it were complete. The sink is
    left open unless ``close_sink=True`` was given.
    """

    def __init__(self, sink: ByteSink, key: bytes, *, close_sink: bool = False) -> None:
        """Encrypt into ``sink`` under the 32-byte payload ``key``."""
        self._sink = sink
        self._aead = ChaCha20Poly1305(key)
        self._counter = 0
        self._buf = bytearray()
        self._close_sink = close_sink
        self._closed = False
        self._failed = False

    @property
    def closed(self) -> bool:
        """Whether the writer has been closed or aborted."""
        return self._closed

    def writable(self) -> bool:
        """Return ``True``: this is a writable stream."""
        return True

    def readable(self) -> bool:
        """Return ``False``: this stream cannot be read."""
        return False

    def seekable(self) -> bool:
        """Return ``False``: this stream cannot seek."""
        return False

    def _seal(self, data: bytes | bytearray | memoryview, *, last: bool) -> None:
        """Encrypt one chunk and hand it to the sink."""
        nonce = _chunk_nonce(self._counter, last=last)
        try:
            self._sink.write(self._aead.encrypt(nonce, data, None))
        except BaseException:
            # The sink may hold a partial chunk now; nothing after it is valid.
            self._failed = True
            raise
        self._counter += 1

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Encrypt ``data`` (buffered); return the number of bytes accepted."""
        self._check_open()
        view = memoryview(data).cast("B")
        size = len(view)
        buf = self._buf
        pos = 0
        while pos < size:
            if len(buf) == CHUNK_SIZE:
                # More data follows, so the buffered chunk is not the last one.
                self._seal(buf, last=False)
                buf.clear()
            if not buf and size - pos > CHUNK_SIZE:
                # Fast path: seal straight from the caller's buffer, no copy.
                self._seal(view[pos : pos + CHUNK_SIZE], last=False)
                pos += CHUNK_SIZE
                continue
            take = min(CHUNK_SIZE - len(buf), size - pos)
            buf += view[pos : pos + take]
            pos += take
        return size

    def flush(self) -> None:
        """Flush the sink if it can be flushed (a partial chunk stays buffered)."""
        self._check_open()
        flush = getattr(self._sink, "flush", None)
        if callable(flush):
            flush()

    def close(self) -> None:
        """Seal the final chunk, flush the sink, and close it if ``close_sink``.

        Idempotent. After a failed sink write the payload cannot be completed,
        so the final chunk is not written and :class:`PayloadError` is raised.
        """
        if self._closed:
            return
        self._closed = True
        if self._failed:
            raise PayloadError("age payload is incomplete: an earlier write to the sink failed")
        self._seal(self._buf, last=True)
        self._buf.clear()
        flush = getattr(self._sink, "flush", None)
        if callable(flush):
            flush()
        if self._close_sink:
            close = getattr(self._sink, "close", None)
            if callable(close):
                close()

    def abort(self) -> None:
        """Close without sealing the final chunk, leaving a payload that will not decrypt.

        The sink is still closed if ``close_sink=True`` was given, so that no
        file handle leaks; it is not flushed first.
        """
        if self._closed:
            return
        self._closed = True
        self._buf.clear()
        if self._close_sink:
            close = getattr(self._sink, "close", None)
            if callable(close):
                close()

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError("I/O operation on closed age writer")
        if self._failed:
            raise PayloadError("age payload is incomplete: an earlier write to the sink failed")

    def __enter__(self) -> Self:
        """Return the writer itself."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Seal the payload on success; :meth:`abort` (leave it unsealed) on an exception."""
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def __repr__(self) -> str:
        """Describe the writer without any key material."""
        state = "closed" if self._closed else "open"
        return f"<EncryptingWriter {state} chunks={self._counter}>"


class DecryptingReader(io.RawIOBase):
    """A binary reader that releases only authenticated age plaintext.

    Returned by :func:`~reasonkit_export.crypto.decrypting_reader`, which has
    already parsed the header, found the file key and checked the header MAC.
    Each chunk is read in full together with one byte of look-ahead (the only
    way to know whether it is the last chunk), authenticated, and only then
    handed out. Memory use is about two chunks whatever the file size.

    Plaintext released before a :class:`PayloadError` is authentic but may be
    incomplete: treat the file as invalid when any read raises. Short reads are
    possible (at most the rest of the current chunk is returned per call).
    Closing the reader leaves the source open unless ``close_source=True``.
    """

    def __init__(
        self, source: BufferedSource, key: bytes, *, close_source: object | None = None
    ) -> None:
        """Decrypt the payload in ``source`` (positioned after the nonce) under ``key``.

        ``close_source`` is the object whose ``close()`` to call on close, if any.
        """
        super().__init__()
        self._source = source
        self._aead = ChaCha20Poly1305(key)
        self._counter = 0
        self._chunk = b""
        self._offset = 0
        self._done = False
        self._error: str | None = None
        self._close_source = close_source

    def readable(self) -> bool:
        """Return ``True``: this is a readable stream."""
        return True

    def _fail(self, message: str) -> PayloadError:
        """Remember that the payload is bad, so later reads fail the same way."""
        self._error = message
        self._chunk = b""
        self._offset = 0
        return PayloadError(message)

    def _open(self, data: bytes | memoryview, *, last: bool) -> bytes | None:
        """Authenticate and decrypt one chunk; ``None`` when the tag does not verify."""
        try:
            return self._aead.decrypt(_chunk_nonce(self._counter, last=last), data, None)
        except InvalidTag:
            return None

    def _next_chunk(self) -> None:
        """Read, authenticate and stage the next chunk, or mark the end of the payload."""
        data = self._source.read_upto(ENCRYPTED_CHUNK_SIZE + 1)
        index = self._counter
        if len(data) > ENCRYPTED_CHUNK_SIZE:
            # More follows, so this must be a full, non-final chunk.
            self._source.unread(data[ENCRYPTED_CHUNK_SIZE:])
            chunk = memoryview(data)[:ENCRYPTED_CHUNK_SIZE]
            plain = self._open(chunk, last=False)
            if plain is None:
                plain = self._open(chunk, last=True)
                if plain is None:
                    raise self._fail(f"age payload chunk {index} failed authentication")
                # An authentic final chunk followed by more data: release the
                # authentic plaintext, then fail (as the reference reader does).
                self._error = "age payload has trailing data after the final chunk"
            self._counter += 1
        else:
            if not data:
                raise self._fail("age payload is truncated (no final chunk)")
            if len(data) < TAG_SIZE:
                raise self._fail(f"age payload chunk {index} is truncated")
            if len(data) == TAG_SIZE and index > 0:
                raise self._fail("age payload's final chunk is empty (only allowed alone)")
            plain = self._open(data, last=True)
            if plain is None:
                if len(data) == ENCRYPTED_CHUNK_SIZE:
                    plain = self._open(data, last=False)
                if plain is None:
                    raise self._fail(f"age payload chunk {index} failed authentication")
                # An authentic non-final chunk at end of input: release it, then
                # report the truncation (the missing chunks cannot be recovered).
                self._error = "age payload is truncated (no final chunk)"
            self._counter += 1
            self._done = True
        self._chunk = plain
        self._offset = 0

    def _ensure_chunk(self) -> bool:
        """Make unread plaintext available; ``False`` at the authenticated end."""
        if self.closed:
            raise ValueError("I/O operation on closed age reader")
        while self._offset >= len(self._chunk):
            if self._error is not None:
                raise PayloadError(self._error)
            if self._done:
                return False
            self._next_chunk()
        return True

    def read(self, size: int | None = -1, /) -> bytes:
        """Return up to ``size`` bytes of authenticated plaintext (all when negative).

        Raises:
            PayloadError: the payload is tampered, truncated, reordered or has
                trailing data.
        """
        if size is None or size < 0:
            return self.readall()
        if size == 0 or not self._ensure_chunk():
            return b""
        start = self._offset
        if start == 0 and size >= len(self._chunk):
            out = self._chunk
        else:
            out = self._chunk[start : start + size]
        self._offset = start + len(out)
        return out

    def readall(self) -> bytes:
        """Return all remaining plaintext (which must fit in memory)."""
        parts: list[bytes] = []
        while self._ensure_chunk():
            parts.append(self._chunk[self._offset :] if self._offset else self._chunk)
            self._offset = len(self._chunk)
        return b"".join(parts)

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        """Fill ``buffer`` with up to ``len(buffer)`` bytes of plaintext; 0 at the end."""
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        """Close the reader (and the source, if ``close_source=True`` was given)."""
        if self.closed:
            return
        self._chunk = b""
        super().close()
        close = getattr(self._close_source, "close", None)
        if callable(close):
            close()

    def __repr__(self) -> str:
        """Describe the reader without any key material."""
        state = "closed" if self.closed else "open"
        return f"<DecryptingReader {state} chunks={self._counter}>"
