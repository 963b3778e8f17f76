"""Byte-stream stages between a format writer and storage: buffer, cap, hash, count."""

from __future__ import annotations

import hashlib
from typing import BinaryIO

from reasonkit_export.exceptions import FileTooLarge

__all__ = ["BufferedSink", "MeteredSink"]


class MeteredSink:
    """Passes bytes through to ``sink`` while counting, hashing and enforcing a cap.

    The cap is checked before anything is written, so a write that would
    exceed it writes nothing and raises :class:`FileTooLarge`.
    """

    def __init__(self, sink: BinaryIO, *, limit: int | None = None) -> None:
        self._sink = sink
        self._limit = limit
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Write all of ``data``."""
        length = len(data)
        if self._limit is not None and self.size + length > self._limit:
            raise FileTooLarge(self._limit)
        self._hash.update(data)
        self._sink.write(data)
        self.size += length
        return length

    def flush(self) -> None:
        """Flush the underlying sink."""
        self._sink.flush()

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of everything written so far."""
        return self._hash.hexdigest()


class BufferedSink:
    """Collects small writes into large blocks (writers emit many small pieces)."""

    def __init__(self, sink: BinaryIO | MeteredSink, *, size: int = 256 * 1024) -> None:
        self._sink = sink
        self._size = size
        self._buffer = bytearray()

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Buffer ``data``; pass full blocks on."""
        self._buffer += data
        if len(self._buffer) >= self._size:
            self._sink.write(bytes(self._buffer))
            self._buffer.clear()
        return len(data)

    def flush(self) -> None:
        """Pass everything buffered on."""
        if self._buffer:
            self._sink.write(bytes(self._buffer))
            self._buffer.clear()
        self._sink.flush()

    def writable(self) -> bool:
        """Always true (file-like protocol, needed by zipfile and gzip)."""
        return True

    def close(self) -> None:
        """Flush; the underlying sink stays open."""
        self.flush()
