"""Byte-stream stages between a format writer and storage: buffer, cap, hash, count."""

from __future__ import annotations

import gzip
import hashlib
import queue
import threading
from typing import Any, BinaryIO

from reasonkit_export.exceptions import FileTooLarge

__all__ = [
    "BackgroundSink",
    "BufferedSink",
    "LimitedSink",
    "MeteredSink",
    "gzip_writer",
    "isal_level",
]


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


class LimitedSink:
    """Passes bytes on, refusing more than ``limit`` bytes in all.

    Stands before a compressor: the cap (``MeteredSink``) sees compressed
    bytes, so data that compresses very well (an endless, repetitive source)
    would be encoded for a long time before reaching it. This bounds the
    uncompressed bytes, and so the work, as well. A write that would pass
    ``limit`` writes nothing and raises :class:`FileTooLarge` naming ``cap``.
    """

    def __init__(self, sink: Any, *, limit: int, cap: int) -> None:
        self._sink = sink
        self._limit = limit
        self._cap = cap
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Write all of ``data``."""
        length = len(data)
        if self.size + length > self._limit:
            raise FileTooLarge(self._cap, uncompressed=self._limit)
        self._sink.write(data)
        self.size += length
        return length

    def flush(self) -> None:
        """Flush the underlying sink."""
        self._sink.flush()

    def writable(self) -> bool:
        """Always true (file-like protocol)."""
        return True


class BufferedSink:
    """Collects small writes into large blocks (writers emit many small pieces)."""

    def __init__(self, sink: Any, *, size: int = 256 * 1024) -> None:
        self._sink = sink
        self._size = size
        self._buffer = bytearray()

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Buffer ``data``; pass full blocks on (large writes go straight through)."""
        length = len(data)
        if not self._buffer and length >= self._size:
            self._sink.write(bytes(data))
            return length
        self._buffer += data
        if len(self._buffer) >= self._size:
            self._sink.write(bytes(self._buffer))
            self._buffer.clear()
        return length

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


def isal_level(level: int) -> int:
    """The ISA-L level (0-3) that stands in for a zlib level (1-9).

    zlib 1-2 → 1, 3-6 → 2, 7-9 → 3. Level 0 (no compression) has no ISA-L
    counterpart and stays with zlib.
    """
    return 1 if level <= 2 else 2 if level <= 6 else 3


def gzip_writer(sink: Any, level: int) -> Any:
    """A gzip stream into ``sink``: ISA-L when the ``fast`` extra is installed, else zlib.

    Both produce standard gzip (RFC 1952) without a file name and with mtime
    0, so the output is reproducible for a given implementation and level.
    """
    if level > 0:
        try:
            from isal import igzip
        except ImportError:
            pass
        else:
            factory: Any = igzip.IGzipFile  # isal's class is untyped
            return factory(
                filename="", fileobj=sink, mode="wb", compresslevel=isal_level(level), mtime=0
            )
    return gzip.GzipFile(filename="", fileobj=sink, mode="wb", compresslevel=level, mtime=0)


class BackgroundSink:
    """Hands writes to a second thread, so compression overlaps with encoding.

    zlib, ISA-L and file writes release the GIL, so while the writer thread
    encodes the next block of records the background thread compresses,
    encrypts and stores the previous one. A bounded queue keeps memory at
    ``depth`` blocks. An error in the background surfaces at the next
    :meth:`write` or at :meth:`close`.
    """

    def __init__(self, target: Any, *, depth: int = 4) -> None:
        self._target = target
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="reasonkit-compress", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                if self._error is None:
                    try:
                        self._target.write(item)
                    except BaseException as exc:  # noqa: BLE001 - re-raised in the writer thread
                        self._error = exc
            finally:
                self._queue.task_done()

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Queue ``data`` for the background thread."""
        if self._error is not None:
            raise self._error
        self._queue.put(bytes(data))
        return len(data)

    def flush(self) -> None:
        """Nothing to do: :meth:`drain` or :meth:`close` wait for the queue."""

    def drain(self) -> None:
        """Wait until everything queued so far was written; re-raise a background error."""
        self._queue.join()
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        """Wait until everything queued was written; re-raise a background error."""
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error

    def abort(self) -> None:
        """Stop the background thread without raising (the build failed anyway)."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
