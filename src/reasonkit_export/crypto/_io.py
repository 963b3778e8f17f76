"""The minimal file-like shapes the age streams accept, and a read-ahead buffer."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["BufferedSource", "ByteSink", "ByteSource"]


@runtime_checkable
class ByteSink(Protocol):
    """Anything with ``write(bytes)``: a file opened ``"wb"``, ``BytesIO``, a socket wrapper."""

    def write(self, data: bytes, /) -> object:
        """Write all of ``data`` (short writes are not retried)."""
        ...


@runtime_checkable
class ByteSource(Protocol):
    """Anything with ``read(n)`` returning at most ``n`` bytes and ``b""`` at end of file.

    Short reads are fine (they are retried); non-blocking sources that return
    ``None`` are not supported and are treated as end of file.
    """

    def read(self, size: int, /) -> bytes | None:
        """Read up to ``size`` bytes."""
        ...


class BufferedSource:
    """A source with a push-back buffer, so that read-ahead bytes are not lost.

    Header parsing reads in blocks and may overshoot into the payload; the
    payload reader peeks one byte past each chunk. Both give the surplus back
    with :meth:`unread`.
    """

    __slots__ = ("_pending", "_source")

    def __init__(self, source: ByteSource) -> None:
        """Wrap ``source``."""
        self._source = source
        self._pending = b""

    def unread(self, data: bytes) -> None:
        """Push ``data`` back in front of the unread input."""
        self._pending = data + self._pending

    def read_upto(self, size: int) -> bytes:
        """Read exactly ``size`` bytes, or fewer only at end of input."""
        if len(self._pending) >= size:
            out, self._pending = self._pending[:size], self._pending[size:]
            return out
        parts = [self._pending] if self._pending else []
        have = len(self._pending)
        self._pending = b""
        while have < size:
            block = self._source.read(size - have)
            if not block:
                break
            if len(block) > size - have:
                # A misbehaving source returned more than asked: keep the rest.
                self._pending = bytes(block[size - have :])
                block = block[: size - have]
            parts.append(block)
            have += len(block)
        if len(parts) == 1:
            return bytes(parts[0])
        return b"".join(parts)

    def read_some(self, size: int) -> bytes:
        """Read between 1 and ``size`` bytes (one source call), ``b""`` at end of input."""
        if self._pending:
            out, self._pending = self._pending[:size], self._pending[size:]
            return out
        block = bytes(self._source.read(size) or b"")
        if len(block) > size:
            self._pending = block[size:]
            block = block[:size]
        return block
