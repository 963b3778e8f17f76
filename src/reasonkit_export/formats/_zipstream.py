"""A minimal streaming ZIP writer: ZIP64, data descriptors, any deflate engine.

:mod:`zipfile` can write to an unseekable sink, but it hard-wires zlib and a
per-member compressor with its own small writes. This writer produces the
same kind of archive (APPNOTE 6.3: a local header with a ZIP64 extra field
and bit 3 set, the data, a ZIP64 data descriptor, then the central directory
and the ZIP64 end records) with deflate from ISA-L when the ``fast`` extra is
installed and zlib otherwise, so a 4 GiB+ member or archive works, nothing is
ever seeked, and compression is several times faster with ISA-L. Any ZIP
reader (``zipfile``, Info-ZIP ``unzip``, 7-Zip, macOS, Windows) reads it.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

import attrs

__all__ = ["ZipStream", "deflate_engine"]

_LOCAL = struct.Struct("<IHHHHHIIIHH")
_ZIP64_LOCAL_EXTRA = struct.Struct("<HHQQ")
_DESCRIPTOR = struct.Struct("<IIQQ")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_ZIP64_CENTRAL_EXTRA = struct.Struct("<HHQQQ")
_ZIP64_END = struct.Struct("<IQHHIIQQQQ")
_ZIP64_LOCATOR = struct.Struct("<IIQI")
_END = struct.Struct("<IHHHHIIH")
_VERSION = 45  # ZIP64
_FLAGS = 0x0008 | 0x0800  # sizes in a data descriptor; UTF-8 names
_MAX32 = 0xFFFFFFFF
_MAX16 = 0xFFFF


class _Sink(Protocol):
    def write(self, data: bytes, /) -> Any: ...


def deflate_engine(level: int) -> tuple[Callable[[], Any], Callable[[Any, int], int]]:
    """Return (raw-deflate compressor factory, crc32) for a zlib ``level`` (1-9).

    ISA-L (the ``fast`` extra) when installed, else zlib; both produce
    standard raw deflate streams.
    """
    try:
        from isal import isal_zlib
    except ImportError:
        return (lambda: zlib.compressobj(level, zlib.DEFLATED, -15)), zlib.crc32
    from reasonkit_export._pipeline import isal_level

    isal: Any = isal_zlib
    isal_at = isal_level(level)
    return (lambda: isal.compressobj(isal_at, isal.DEFLATED, -15)), isal.crc32


def _dos_time(moment: datetime) -> tuple[int, int]:
    year = min(max(moment.year, 1980), 2107)
    date = (year - 1980) << 9 | moment.month << 5 | moment.day
    time = moment.hour << 11 | moment.minute << 5 | moment.second // 2
    return time, date


@attrs.define
class _Entry:
    name: bytes
    method: int
    offset: int
    crc: int = 0
    compressed: int = 0
    size: int = 0


class _Member:
    """A member being written; ``write`` compresses, ``close`` writes the descriptor."""

    def __init__(self, stream: ZipStream, entry: _Entry, compressor: Any | None) -> None:
        self._stream = stream
        self._entry = entry
        self._compressor = compressor
        self._crc32 = stream.crc32
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Add uncompressed bytes to the member."""
        length = len(data)
        if not length:
            return 0
        entry = self._entry
        entry.crc = self._crc32(data, entry.crc)
        entry.size += length
        out = self._compressor.compress(data) if self._compressor is not None else bytes(data)
        if out:
            self._stream._emit(out)
            entry.compressed += len(out)
        return length

    def sync(self) -> None:
        """Push everything written so far through the compressor into the sink.

        A deflate sync flush: afterwards the sink holds every byte written to
        this member (the split writer's size accounting relies on it).
        """
        if self._compressor is None:
            return
        out = self._compressor.flush(zlib.Z_SYNC_FLUSH)
        if out:
            self._stream._emit(out)
            self._entry.compressed += len(out)

    def close(self) -> None:
        """Finish the member: flush the compressor, write the data descriptor."""
        if self.closed:
            return
        self.closed = True
        entry = self._entry
        if self._compressor is not None:
            tail = self._compressor.flush()
            if tail:
                self._stream._emit(tail)
                entry.compressed += len(tail)
        self._stream._emit(
            _DESCRIPTOR.pack(0x08074B50, entry.crc & _MAX32, entry.compressed, entry.size)
        )
        self._stream._member = None

    def __enter__(self) -> _Member:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        if exc_type is None:
            self.close()


class ZipStream:
    """Writes a ZIP archive to ``sink`` front to back, one member at a time.

    Args:
        sink: anything with ``write(bytes)``; never seeked.
        level: the zlib deflate level (1-9) for compressed members.
        date_time: the timestamp every member carries (reproducible output).
    """

    def __init__(self, sink: _Sink, *, level: int, date_time: datetime) -> None:
        self._sink = sink
        self._offset = 0
        self._entries: list[_Entry] = []
        self._names: set[bytes] = set()
        self._member: _Member | None = None
        self._time, self._date = _dos_time(date_time)
        self._new_compressor, self.crc32 = deflate_engine(level)
        self.closed = False

    def _emit(self, data: bytes) -> None:
        self._sink.write(data)
        self._offset += len(data)

    @property
    def offset(self) -> int:
        """Bytes written to the sink so far."""
        return self._offset

    def open(self, name: str, *, compress: bool = True) -> _Member:
        """Start a member called ``name`` (a relative, ``/``-separated path)."""
        if self._member is not None or self.closed:
            raise ValueError("finish the previous member (or reopen the archive) first")
        encoded = name.encode("utf-8")
        if (
            not encoded
            or encoded.startswith(b"/")
            or encoded in self._names
            or any(ord(c) < 32 for c in name)
        ):
            raise ValueError(f"bad or duplicate member name {name!r}")
        self._names.add(encoded)
        method = 8 if compress else 0
        entry = _Entry(name=encoded, method=method, offset=self._offset)
        self._entries.append(entry)
        extra = _ZIP64_LOCAL_EXTRA.pack(0x0001, 16, 0, 0)
        self._emit(
            _LOCAL.pack(
                0x04034B50,
                _VERSION,
                _FLAGS,
                method,
                self._time,
                self._date,
                0,
                _MAX32,
                _MAX32,
                len(encoded),
                len(extra),
            )
            + encoded
            + extra
        )
        self._member = _Member(self, entry, self._new_compressor() if compress else None)
        return self._member

    def close(self) -> None:
        """Write the central directory and the end records; the sink stays open."""
        if self.closed:
            return
        if self._member is not None:
            raise ValueError("a member is still open")
        self.closed = True
        start = self._offset
        for entry in self._entries:
            extra = _ZIP64_CENTRAL_EXTRA.pack(
                0x0001, 24, entry.size, entry.compressed, entry.offset
            )
            self._emit(
                _CENTRAL.pack(
                    0x02014B50,
                    _VERSION | 3 << 8,  # made by: Unix, so the permissions below apply
                    _VERSION,
                    _FLAGS,
                    entry.method,
                    self._time,
                    self._date,
                    entry.crc & _MAX32,
                    _MAX32,
                    _MAX32,
                    len(entry.name),
                    len(extra),
                    0,
                    0,
                    0,
                    0o100644 << 16,
                    _MAX32,
                )
                + entry.name
                + extra
            )
        size = self._offset - start
        end64 = self._offset
        count = len(self._entries)
        self._emit(
            _ZIP64_END.pack(0x06064B50, 44, _VERSION, _VERSION, 0, 0, count, count, size, start)
        )
        self._emit(_ZIP64_LOCATOR.pack(0x07064B50, 0, end64, 1))
        self._emit(
            _END.pack(
                0x06054B50,
                0,
                0,
                min(count, _MAX16),
                min(count, _MAX16),
                min(size, _MAX32),
                min(start, _MAX32),
                0,
            )
        )
