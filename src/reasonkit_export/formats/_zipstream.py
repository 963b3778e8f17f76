"""A minimal streaming ZIP writer: conservative headers, ZIP64 only where needed.

:mod:`zipfile` can write to an unseekable sink, but it hard-wires zlib and a
per-member compressor with its own small writes. This writer produces
archives by APPNOTE 6.3 with deflate from ISA-L when the ``fast`` extra is
installed and zlib otherwise; nothing is ever seeked. It writes the most
widely readable form each member allows, because streaming readers (Java's
``ZipInputStream``, Node's ``unzipper``, ``bsdtar`` from a pipe) and
in-browser ones (JSZip) read the local headers, not the central directory:

* A deflated member whose size is bounded in advance (``size_bound``) below
  4 GiB is streamed: its local header has general-purpose bit 3 set and zero
  sizes, and a data descriptor (signature, CRC-32, 4-byte sizes) follows the
  data.
* Every other member (stored, unbounded, or possibly 4 GiB or more) is
  buffered in an anonymous temporary file (memory stays bounded) and written
  with its CRC-32 and sizes in the local header and no data descriptor,
  which streaming readers need for stored data and which spares them ZIP64
  data descriptors: Node's ``unzipper`` cannot read those at all, and Java's
  ``ZipInputStream`` before JDK 21 decides the descriptor's width by the
  sizes it inflated, not by the local header (JDK-8298530). A member that
  reaches 4 GiB gets the ZIP64 extra field with its real sizes.
* The central directory gives an entry the ZIP64 extra field only when its
  local header had one or its offset reaches 4 GiB; the ZIP64 end records
  are written only when the member count, the directory's size or its offset
  do not fit the classic end record.
* "Version needed" is the lowest that fits: 1.0 stored, 2.0 deflated, 4.5
  ZIP64. The UTF-8 flag (bit 11) is set only for names that are not ASCII.

Any ZIP reader (``zipfile``, Info-ZIP ``unzip``, 7-Zip, ``bsdtar``, Java's
``ZipFile`` and ``ZipInputStream``, JSZip, ``unzipper``, macOS, Windows)
reads the result; ``tests/interop`` runs the matrix.
"""

from __future__ import annotations

import hashlib
import struct
import tempfile
import zlib
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import IO, Any, Protocol

import attrs

__all__ = [
    "MEMBER_BLOCK",
    "Packed",
    "ZipStream",
    "deflate_bound",
    "deflate_engine",
    "pack",
]

_LOCAL = struct.Struct("<IHHHHHIIIHH")
_DESCRIPTOR = struct.Struct("<IIII")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_EXTRA_HEAD = struct.Struct("<HH")
_ZIP64_END = struct.Struct("<IQHHIIQQQQ")
_ZIP64_LOCATOR = struct.Struct("<IIQI")
_END = struct.Struct("<IHHHHIIH")
_STORED_VERSION = 10  # 1.0: stored data
_DEFLATE_VERSION = 20  # 2.0: deflate, data descriptors
_ZIP64_VERSION = 45  # 4.5: ZIP64 extensions
_MADE_BY = 3 << 8 | _ZIP64_VERSION  # Unix (so the permissions apply); this writer knows 4.5
_DESCRIPTOR_FLAG = 0x0008
_UTF8_FLAG = 0x0800
_MAX32 = 0xFFFFFFFF
_MAX16 = 0xFFFF
_COPY_CHUNK = 1024 * 1024
#: Members are compressed in blocks of at least this many bytes (the writes
#: gathered until they reach it), whether in the archive's writer or ahead of
#: time by :func:`pack`: the same writes give the same bytes.
MEMBER_BLOCK = 256 * 1024


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


def deflate_bound(size: int) -> int:
    """An upper bound for what deflate can emit for ``size`` bytes of input.

    Deflate falls back to stored blocks (5 bytes of overhead per block of at
    most 64 KiB) when data does not compress; 1/256 plus a constant covers
    that, the blocks that end sync flushes and the stream's end.
    """
    return size + (size >> 8) + 64


@attrs.frozen(kw_only=True)
class Packed:
    """A member compressed ahead of time (see :func:`pack`): what its header and manifest need.

    Attributes:
        method: 8 (deflated) or 0 (stored).
        crc: CRC-32 of the uncompressed bytes.
        size: uncompressed size.
        compressed: size of the bytes as stored in the archive.
        sha256: hex SHA-256 of the uncompressed bytes.
        offset: where the stored bytes start in the file they were written to.
    """

    method: int
    crc: int
    size: int
    compressed: int
    sha256: str
    offset: int


def pack(parts: Sequence[bytes], *, level: int, compress: bool) -> tuple[Packed, bytes]:
    """Compress one member ahead of time from its writes (``parts``), all at hand.

    It deflates exactly as :class:`ZipStream` does for a member given the
    same writes through the archive's member writer (blocks of writes
    gathered until they reach :data:`MEMBER_BLOCK`, the same engine and
    level), so :meth:`ZipStream.add_packed` later copies the bytes unchanged
    and the archive is the one the member would have made. Another process
    may do the packing (the HTML view's child does). Returns the member
    (``offset`` 0: the caller sets where it stores the bytes) and its stored
    bytes. Deflate and SHA-256 release the GIL: threads can pack several
    members at once.
    """
    new_compressor, crc32 = deflate_engine(level)
    compressor = new_compressor() if compress else None
    digest = hashlib.sha256()
    crc = size = 0
    out: list[bytes] = []
    group: list[bytes] = []
    gathered = 0
    for index, part in enumerate(parts):
        group.append(part)
        gathered += len(part)
        if gathered < MEMBER_BLOCK and index + 1 < len(parts):
            continue
        block = group[0] if len(group) == 1 else b"".join(group)
        group, gathered = [], 0
        if not block:
            continue
        digest.update(block)
        crc = crc32(block, crc)
        size += len(block)
        out.append(compressor.compress(block) if compressor is not None else block)
    if compressor is not None:
        out.append(compressor.flush())
    data = b"".join(out)
    packed = Packed(
        method=8 if compress else 0,
        crc=crc & _MAX32,
        size=size,
        compressed=len(data),
        sha256=digest.hexdigest(),
        offset=0,
    )
    return packed, data


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
    flags: int
    zip64_local: bool = False  # the local header carries the ZIP64 extra field
    crc: int = 0
    compressed: int = 0
    size: int = 0

    @property
    def zip64(self) -> bool:
        """Whether the central directory entry needs the ZIP64 extra field."""
        return self.zip64_local or self.offset >= _MAX32

    @property
    def version(self) -> int:
        """The "version needed to extract" of this entry."""
        if self.zip64:
            return _ZIP64_VERSION
        return _DEFLATE_VERSION if self.method == 8 else _STORED_VERSION


class _Member:
    """A member being written; ``write`` compresses, ``close`` ends it.

    A streamed member passes its (compressed) bytes to the sink as they come
    and ends with a data descriptor; a buffered one keeps them in a temporary
    file and writes header and data at :meth:`close`.
    """

    def __init__(
        self,
        stream: ZipStream,
        entry: _Entry,
        compressor: Any | None,
        buffer: IO[bytes] | None,
    ) -> None:
        self._stream = stream
        self._entry = entry
        self._compressor = compressor
        self._buffer = buffer
        self._crc32 = stream.crc32
        self.closed = False

    @property
    def streamed(self) -> bool:
        """Whether the member's bytes reach the sink while it is written."""
        return self._buffer is None

    def _out(self, data: bytes) -> None:
        entry = self._entry
        entry.compressed += len(data)
        if self._buffer is not None:
            self._buffer.write(data)
            return
        if entry.compressed >= _MAX32:
            raise ValueError("a ZIP member outgrew the size bound it was opened with")
        self._stream._emit(data)

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Add uncompressed bytes to the member."""
        length = len(data)
        if not length:
            return 0
        entry = self._entry
        entry.crc = self._crc32(data, entry.crc)
        entry.size += length
        if self._buffer is None and entry.size >= _MAX32:
            raise ValueError("a ZIP member outgrew the size bound it was opened with")
        out = self._compressor.compress(data) if self._compressor is not None else bytes(data)
        if out:
            self._out(out)
        return length

    def sync(self) -> bool:
        """Push everything written so far through the compressor into the sink.

        A deflate sync flush: afterwards the sink holds every byte written to
        this member (the split writer's size accounting relies on it).

        Returns:
            False for a buffered member, whose bytes reach the sink only when
            it is closed.
        """
        if self._buffer is not None:
            return False
        if self._compressor is not None:
            out = self._compressor.flush(zlib.Z_SYNC_FLUSH)
            if out:
                self._out(out)
        return True

    def close(self) -> None:
        """Finish the member: flush the compressor, write the descriptor or the buffer."""
        if self.closed:
            return
        entry = self._entry
        if self._compressor is not None:
            tail = self._compressor.flush()
            if tail:
                self._out(tail)
        self.closed = True
        stream = self._stream
        if self._buffer is None:
            stream._emit(
                _DESCRIPTOR.pack(0x08074B50, entry.crc & _MAX32, entry.compressed, entry.size)
            )
        else:
            buffer, self._buffer = self._buffer, None
            try:
                entry.zip64_local = entry.size >= _MAX32 or entry.compressed >= _MAX32
                stream._local_header(entry)
                buffer.seek(0)
                while chunk := buffer.read(_COPY_CHUNK):
                    stream._emit(chunk)
            finally:
                buffer.close()
        stream._member = None

    def discard(self) -> None:
        """Drop a buffered member's bytes after a failure (nothing more is written)."""
        self.closed = True
        if self._buffer is not None:
            self._buffer.close()
            self._buffer = None

    def __enter__(self) -> _Member:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.discard()


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

    def open(self, name: str, *, compress: bool = True, size_bound: int | None = None) -> _Member:
        """Start a member called ``name`` (a relative, ``/``-separated path).

        Args:
            name: the member name.
            compress: deflate the member (else it is stored).
            size_bound: an upper bound of the member's uncompressed size, if
                known. A deflated member whose bound keeps it below 4 GiB is
                streamed; any other is buffered in a temporary file first, so
                that its local header carries the real sizes. Writing past
                4 GiB into a streamed member raises :class:`ValueError`.
        """
        entry = self._entry(name, method=8 if compress else 0)
        compressor = self._new_compressor() if compress else None
        buffer: IO[bytes] | None = None
        if compress and size_bound is not None and deflate_bound(size_bound) < _MAX32:
            entry.flags |= _DESCRIPTOR_FLAG
            self._local_header(entry)
        else:
            buffer = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the member
        self._member = _Member(self, entry, compressor, buffer)
        return self._member

    def _entry(self, name: str, *, method: int) -> _Entry:
        """Register a new member's name and entry (ValueError: bad, duplicate, or one open)."""
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
        flags = 0 if encoded.isascii() else _UTF8_FLAG
        entry = _Entry(name=encoded, method=method, offset=self._offset, flags=flags)
        self._entries.append(entry)
        return entry

    def add_packed(self, name: str, packed: Packed, chunks: Iterable[bytes]) -> None:
        """Add a member compressed ahead of time (see :func:`pack`).

        ``chunks`` yield its stored bytes, ``packed.compressed`` of them in
        all. It is written as a buffered member is: CRC-32 and sizes in the
        local header, no data descriptor, ZIP64 fields from 4 GiB.

        Raises:
            ValueError: a bad or duplicate name, or ``chunks`` held another
                number of bytes than ``packed`` says (the archive is then
                unusable: abort it).
        """
        entry = self._entry(name, method=packed.method)
        entry.crc, entry.size, entry.compressed = packed.crc, packed.size, packed.compressed
        entry.zip64_local = entry.size >= _MAX32 or entry.compressed >= _MAX32
        self._local_header(entry)
        copied = 0
        for chunk in chunks:
            copied += len(chunk)
            if copied > packed.compressed:
                break
            self._emit(chunk)
        if copied != packed.compressed:
            self.closed = True
            raise ValueError(f"member {name!r}: its packed bytes are not the size recorded")

    def _local_header(self, entry: _Entry) -> None:
        """Write ``entry``'s local header: real sizes unless they follow in a descriptor."""
        if entry.flags & _DESCRIPTOR_FLAG:
            crc = compressed = size = 0
        else:
            crc, compressed, size = entry.crc & _MAX32, entry.compressed, entry.size
        extra = b""
        if entry.zip64_local:
            # Both sizes, always, in the local header (APPNOTE 4.5.3).
            extra = _EXTRA_HEAD.pack(0x0001, 16) + struct.pack("<QQ", size, compressed)
            compressed = size = _MAX32
        self._emit(
            _LOCAL.pack(
                0x04034B50,
                entry.version,
                entry.flags,
                entry.method,
                self._time,
                self._date,
                crc,
                compressed,
                size,
                len(entry.name),
                len(extra),
            )
            + entry.name
            + extra
        )

    def abort(self) -> None:
        """Give up the archive after a failure: drop a buffered member, write nothing more."""
        member, self._member = self._member, None
        if member is not None:
            member.discard()
        self.closed = True

    def close(self) -> None:
        """Write the central directory and the end records; the sink stays open."""
        if self.closed:
            return
        if self._member is not None:
            raise ValueError("a member is still open")
        self.closed = True
        start = self._offset
        for entry in self._entries:
            self._emit(self._central(entry))
        size = self._offset - start
        count = len(self._entries)
        if count >= _MAX16 or size >= _MAX32 or start >= _MAX32:
            end64 = self._offset
            self._emit(
                _ZIP64_END.pack(
                    0x06064B50,
                    44,
                    _MADE_BY,
                    _ZIP64_VERSION,
                    0,
                    0,
                    count,
                    count,
                    size,
                    start,
                )
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

    def _central(self, entry: _Entry) -> bytes:
        """The central directory record of ``entry``."""
        compressed, size, offset = entry.compressed, entry.size, entry.offset
        fields: list[int] = []
        if entry.zip64_local:
            # The entry is ZIP64 in its local header: say so here too, with
            # both sizes, as zipfile and Info-ZIP write it.
            fields += [size, compressed]
            compressed = size = _MAX32
        if offset >= _MAX32:
            fields.append(offset)
            offset = _MAX32
        extra = b""
        if fields:
            extra = _EXTRA_HEAD.pack(0x0001, 8 * len(fields)) + struct.pack(
                f"<{len(fields)}Q", *fields
            )
        return (
            _CENTRAL.pack(
                0x02014B50,
                _MADE_BY,
                entry.version,
                entry.flags,
                entry.method,
                self._time,
                self._date,
                entry.crc & _MAX32,
                compressed,
                size,
                len(entry.name),
                len(extra),
                0,
                0,
                0,
                0o100644 << 16,
                offset,
            )
            + entry.name
            + extra
        )
