"""Spool records to temporary files so a writer can read them more than once.

A data source is read exactly once per export (one consistent pass, no
second query); writers that need two passes (CSV column discovery, the PDF's
cover page counts, the ZIP's several members) spool the records here as JSON
lines and iterate the spool as often as they like. Memory stays bounded by
one record.

Open files: an export may have thousands of categories, and an open file per
category per spool would run into the process's open-files limit (1,024 by
default on Linux). So the spools of one kind share ONE anonymous temporary
file, a :class:`SpoolFile`: each spool is a :class:`Segment`, a file-like
view made of extents (offset, length) of that file. A segment buffers its
writes (up to 1 MiB) and appends them to the shared file as one extent;
consecutive extents of the same segment merge, so a category spooled while
no other segment writes is a single extent. Reads go straight to the shared
file at the extent's offset (``pread``), so any number of segments can be
read in any order. A writer thus holds a fixed number of open files (one per
kind of spool), whatever the number of categories, and the files vanish with
the process, also when it is killed.

Size: a :class:`SpoolFile` may be given a ``limit`` (bytes it may hold): a
write that would pass it raises
:class:`~reasonkit_export.exceptions.FileTooLarge` before anything of it is
stored. Writers set it to :data:`UNCOMPRESSED_FACTOR` times the export's size
cap (see :func:`spool_limit`); the archive compresses, so its spooled, not
yet compressed data may be larger than the cap, but not without bound. A
:class:`RecordSpool` also refuses a single record whose JSON is larger than
the cap (:class:`~reasonkit_export.exceptions.RecordTooLarge`), before any
writer renders it.
"""

from __future__ import annotations

import bisect
import io
import json
import os
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, BinaryIO

from reasonkit_export._closing import Closing
from reasonkit_export._encoding import dumps_compact
from reasonkit_export.exceptions import FileTooLarge, RecordTooLarge
from reasonkit_export.formats._holes import block_end, release

__all__ = [
    "UNCOMPRESSED_FACTOR",
    "RecordSpool",
    "Segment",
    "SpoolFile",
    "spool_limit",
]

UNCOMPRESSED_FACTOR = 8
"""How many times the size cap one temporary file (or uncompressed stream) may hold.

Deflate and gzip shrink the JSON, CSV and HTML of real exports 4-8 times;
data that would need more room than this before compression is refused as
too large, so that the work and the temporary files of an export stay
bounded by its cap.
"""

_CHUNK = 1024 * 1024
_HAS_PREAD = hasattr(os, "pread") and hasattr(os, "pwrite")


def spool_limit(cap: int | None) -> int | None:
    """The most bytes one temporary file may hold for an export capped at ``cap`` bytes."""
    return None if cap is None else cap * UNCOMPRESSED_FACTOR


class SpoolFile(Closing):
    """One temporary file shared by many :class:`Segment` spools.

    Args:
        cap: the export's size cap, in bytes (named in the error), or None.
        limit: the most bytes the file may hold (default: :func:`spool_limit`
            of ``cap``); None: no limit.
        file: an open, readable and writable binary file to use instead of an
            anonymous temporary file (it is closed with this object).
        aligned: store every write from a block boundary (4096 bytes) on. The
            rest of the block before it is never written, so a stored extent's
            last block holds nothing else, and :meth:`release` can free it
            too once the extent is read to its end (see :meth:`Segment.release`).
            Whole blocks freed as the data is read leave nothing for the kernel
            to free when the file is closed: closing a removed file holed page
            by page, its blocks between the pages left, took 30-330 ms on the
            development machine (ext4), at the end of an export.
    """

    def __init__(
        self,
        *,
        cap: int | None = None,
        limit: int | None = None,
        file: BinaryIO | None = None,
        aligned: bool = False,
    ) -> None:
        if file is None:
            file = tempfile.TemporaryFile(buffering=0)  # noqa: SIM115 - closed by close()
        self._file = file
        self._fd = file.fileno() if _HAS_PREAD else -1
        self._lock = threading.Lock()
        self.cap = cap
        self.limit = spool_limit(cap) if limit is None else limit
        self.taken = 0  # bytes handed to segments (stored or still buffered)
        self.size = 0  # bytes stored in the file
        self.aligned = aligned

    def charge(self, size: int) -> None:
        """Account for ``size`` more bytes; raise FileTooLarge past the limit."""
        limit = self.limit
        if limit is not None and self.taken + size > limit:
            raise FileTooLarge(self.cap if self.cap is not None else limit, uncompressed=limit)
        self.taken += size

    def append(self, data: bytes | bytearray | memoryview) -> int:
        """Store ``data`` at the end of the file; return its offset."""
        with self._lock:
            offset = self.size
            if self.aligned:
                offset = block_end(offset)
            view = memoryview(data)
            if _HAS_PREAD:
                done = 0
                while done < len(view):
                    done += os.pwrite(self._fd, view[done:], offset + done)
            else:
                self._file.seek(offset)
                self._file.write(view)
            self.size = offset + len(view)
            return offset

    def release(self, offset: int, size: int, *, to_block_end: bool = False) -> None:
        """Free the memory of ``size`` stored bytes from ``offset``: nothing reads them again.

        See :mod:`reasonkit_export.formats._holes`; a no-op where holes
        cannot be punched. With ``to_block_end`` (an :attr:`aligned` file,
        and the bytes end where a stored write ended), the rest of the last
        block goes too: nothing else is ever stored there.
        """
        if self._fd >= 0:
            end = offset + size
            release(self._fd, offset, block_end(end) if to_block_end and self.aligned else end)

    def read_at(self, offset: int, size: int) -> bytes:
        """``size`` stored bytes from ``offset`` (fewer only at the file's end)."""
        if _HAS_PREAD:
            data = os.pread(self._fd, size, offset)
            if len(data) == size or not data:
                return data
            parts = [data]
            got = len(data)
            while got < size:
                more = os.pread(self._fd, size - got, offset + got)
                if not more:
                    break
                parts.append(more)
                got += len(more)
            return b"".join(parts)
        with self._lock:
            self._file.seek(offset)
            return self._file.read(size)

    def segment(self, extents: Iterable[tuple[int, int]] = ()) -> Segment:
        """A new spool in this file (empty, or made of stored ``extents``)."""
        return Segment(self, extents)

    def close(self) -> None:
        """Close (and so remove) the file."""
        self._file.close()


class Segment(io.BufferedIOBase):
    """One spool inside a :class:`SpoolFile`: a seekable file of its own to its user.

    Writes always append (whatever the position), as every spool does;
    reads and seeks work anywhere. :meth:`flush` stores the buffered writes
    and frees the buffer (call it when the spool is complete).
    """

    def __init__(self, backing: SpoolFile, extents: Iterable[tuple[int, int]] = ()) -> None:
        super().__init__()
        self._backing = backing
        self._offsets: list[int] = []  # where each extent is in the shared file
        self._lengths: list[int] = []
        self._starts: list[int] = []  # where each extent starts in this segment
        self._size = 0  # stored bytes
        self._pending = bytearray()
        self._pos = 0
        for offset, length in extents:
            self._add_extent(offset, length)

    @property
    def extents(self) -> list[tuple[int, int]]:
        """The stored extents, (offset in the shared file, length), in order."""
        self.flush()
        return list(zip(self._offsets, self._lengths, strict=True))

    def _add_extent(self, offset: int, length: int) -> None:
        if self._offsets and self._offsets[-1] + self._lengths[-1] == offset:
            self._lengths[-1] += length
        else:
            self._offsets.append(offset)
            self._lengths.append(length)
            self._starts.append(self._size)
        self._size += length

    def readable(self) -> bool:
        """Always true."""
        return True

    def writable(self) -> bool:
        """Always true."""
        return True

    def seekable(self) -> bool:
        """Always true."""
        return True

    def write(self, data: Any) -> int:
        """Append ``data`` (bytes-like); it counts against the shared file's limit."""
        # The hot path of every spool (once per record): kept to a few operations.
        length = len(data)
        backing = self._backing
        taken = backing.taken + length
        if backing.limit is not None and taken > backing.limit:
            backing.charge(length)  # raises
        backing.taken = taken
        pending = self._pending
        pending += data
        if len(pending) >= _CHUNK:
            self._spill()
        self._pos = -1  # at the end, wherever that is
        return length

    def _spill(self) -> None:
        if self._pending:
            length = len(self._pending)
            self._add_extent(self._backing.append(self._pending), length)
            # A new buffer, not clear(): the old one may still be referenced
            # by a memoryview during the write; this also frees its memory.
            self._pending = bytearray()

    def flush(self) -> None:
        """Store the buffered writes in the shared file."""
        if not self.closed:
            self._spill()

    def tell(self) -> int:
        """The current position."""
        return self._position()

    def _position(self) -> int:
        return self._size + len(self._pending) if self._pos < 0 else self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Move the position (``whence`` as for files); return it."""
        if whence == io.SEEK_SET:
            position = offset
        elif whence == io.SEEK_CUR:
            position = self._position() + offset
        elif whence == io.SEEK_END:
            position = self._size + len(self._pending) + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if position < 0:
            raise ValueError("negative seek position")
        self._pos = position
        return position

    @property
    def length(self) -> int:
        """Bytes in the segment (stored and buffered)."""
        return self._size + len(self._pending)

    def read(self, size: int | None = -1) -> bytes:
        """Read up to ``size`` bytes from the position (all to the end if negative)."""
        position = self._position()
        data = self._read_at(position, -1 if size is None else size)
        self._pos = position + len(data)
        return data

    def _read_at(self, position: int, size: int) -> bytes:
        self.flush()
        end = self._size
        if size < 0 or position + size > end:
            size = max(end - position, 0)
        if size == 0:
            return b""
        parts = []
        left = size
        index = bisect.bisect_right(self._starts, position) - 1
        while left > 0:
            skip = position - self._starts[index]
            take = min(left, self._lengths[index] - skip)
            parts.append(self._backing.read_at(self._offsets[index] + skip, take))
            position += take
            left -= take
            index += 1
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def release(self, start: int, end: int) -> None:
        """Free the memory of this segment's stored bytes ``start`` to ``end`` (read for good).

        In an aligned file (see :class:`SpoolFile`), bytes read to the end of
        an extent free its last block whole.
        """
        self.flush()
        end = min(end, self._size)
        index = bisect.bisect_right(self._starts, start) - 1
        while start < end and index < len(self._starts):
            skip = start - self._starts[index]
            take = min(end - start, self._lengths[index] - skip)
            self._backing.release(
                self._offsets[index] + skip, take, to_block_end=skip + take == self._lengths[index]
            )
            start += take
            index += 1

    def read1(self, size: int = -1) -> bytes:
        """As :meth:`read` (io.TextIOWrapper reads through it)."""
        return self.read(size if size >= 0 else _CHUNK)

    def readinto(self, buffer: Any) -> int:
        """Read into ``buffer``; return the number of bytes read."""
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def readline(self, size: int | None = -1) -> bytes:
        """One line, with its line break (fewer bytes at the end or at ``size``)."""
        limit = -1 if size is None else size
        out = bytearray()
        while limit < 0 or len(out) < limit:
            want = 64 * 1024 if limit < 0 else min(64 * 1024, limit - len(out))
            chunk = self.read(want)
            if not chunk:
                break
            end = chunk.find(b"\n")
            if end >= 0:
                out += chunk[: end + 1]
                self._pos -= len(chunk) - end - 1
                break
            out += chunk
        return bytes(out)

    def lines(self) -> Iterator[bytes]:
        """Yield every line from the start, without its line break.

        Reads at a position of its own: the segment's position is not moved,
        so several of these may run at once.
        """
        position = 0
        rest = b""
        while chunk := self._read_at(position, _CHUNK):
            position += len(chunk)
            if rest:
                chunk = rest + chunk
            pieces = chunk.split(b"\n")
            rest = pieces.pop()
            yield from pieces
        if rest:
            yield rest

    def close(self) -> None:
        """Forget the buffered writes; the shared file keeps the stored bytes."""
        self._pending = bytearray()
        super().close()


class RecordSpool(Closing):
    """Records on disk as JSON lines, already normalised to the JSON data model.

    Args:
        file: the :class:`SpoolFile` to spool into (shared with other spools);
            default: a private one, closed with this spool.
        cap: the export's size cap: a record whose JSON is larger is refused
            (default: the shared file's cap).
        category: the records' category, named in errors.
    """

    def __init__(
        self,
        file: SpoolFile | None = None,
        *,
        cap: int | None = None,
        category: str | None = None,
    ) -> None:
        self._owned = file is None
        self._backing = SpoolFile() if file is None else file
        self._file = self._backing.segment()
        self._cap = cap if cap is not None else self._backing.cap
        self.category = category
        self.count = 0

    def add(self, record: Mapping[str, Any]) -> bytes:
        """Append one record; return its compact JSON (without the line break).

        Raises:
            RecordTooLarge: the record's JSON alone is larger than the cap.
            FileTooLarge: the shared file would pass its limit.
        """
        line = dumps_compact(record)
        if self._cap is not None and len(line) > self._cap:
            raise RecordTooLarge(self._cap, category=self.category, size=len(line))
        self._file.write(line + b"\n")
        self.count += 1
        return line

    def extend(self, records: Iterable[Mapping[str, Any]]) -> int:
        """Append every record of ``records``; return how many were added."""
        before = self.count
        for record in records:
            self.add(record)
        return self.count - before

    def seal(self) -> None:
        """Store what is buffered (the spool is complete; frees its buffer)."""
        self._file.flush()

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """Yield the records in the order they were added, as plain JSON values."""
        loads = json.loads
        for line in self._file.lines():
            value: dict[str, Any] = loads(line)
            yield value

    @property
    def nbytes(self) -> int:
        """Bytes stored so far: the records' compact JSON plus one newline each."""
        return self._file.length

    def iter_encoded(self) -> Iterator[bytes]:
        """Yield the records as stored: compact JSON bytes, without the newline."""
        return self._file.lines()

    def release(self) -> None:
        """Nothing reads these records again: give their memory back (see ``formats._holes``)."""
        self._file.release(0, self._file.length)

    def close(self) -> None:
        """Release the spool (and the file, if it is private to this spool)."""
        self._file.close()
        if self._owned:
            self._backing.close()
