"""The ZIP writer: every format in one archive, with a verifiable manifest.

Members, in archive order::

    data.json             the whole JSON document (see formats._json)
    csv/<category>.csv    one CSV table per category (see formats._csv)
    report.pdf            the human-readable report (unless include_pdf=False)
    index.html, html/     the offline HTML view (unless include_html=False; formats._html)
    README.txt            notes for the person, in the export's locale (see formats._text)
    manifest.json         size, SHA-256 and media type of every other member

Each data source is read exactly once: every section is spooled to disk first
(as JSON lines for ``data.json`` and the PDF, and as finished CSV rows, counting
records and collecting CSV columns on the way), then each member is rendered
from the spools, which are removed at the end, also on errors. The archive is
written strictly as a stream, so the sink may be unseekable: members carry
data descriptors, use ZIP64 where they could exceed 4 GiB, and are deflated as
they are written, never buffered whole. Sizes and hashes for the manifest are
taken while writing. Members get the export's ``generated_at`` (UTC, to the
two seconds ZIP can store) as their time stamp, so the same input gives the
same bytes, whatever kind of sink receives them. If anything fails mid-way,
output to the sink stops at once (no central directory is appended later).

Member names are made by the library: category names pass through
:func:`member_stem` (no ``/``, no ``..``, no leading dot, no Windows device
name) and are made unique ignoring case.

The multi-category CSV artifact is built by the same code
(:func:`write_csv_archive`): ``<category>.csv`` per category, ``README.txt``
and ``manifest.json``.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar, cast

import attrs

from reasonkit_export._encoding import dumps_compact
from reasonkit_export._i18n import Messages, messages
from reasonkit_export._pipeline import BackgroundSink
from reasonkit_export.exceptions import FileTooLarge, ProcessingError
from reasonkit_export.formats._base import (
    ArtifactPlan,
    ExportInfo,
    FormatWriter,
    Section,
    WriteResult,
)
from reasonkit_export.formats._csv_table import CSV_MEDIA_TYPE, CsvTable, declared_fields
from reasonkit_export.formats._html import (
    INDEX_NAME,
    RECORDS_PER_PAGE,
    CategoryEnd,
    CategoryLayout,
    CategoryStart,
    HtmlSpool,
    HtmlView,
    HtmlWorker,
    PackedPage,
    _faithful,
    _RemoteSpool,
    category_directory,
)
from reasonkit_export.formats._json import JsonWriter
from reasonkit_export.formats._manifest import (
    MANIFEST_NAME,
    MemberInfo,
    build_manifest,
    encode_manifest,
)
from reasonkit_export.formats._spool import RecordSpool, SpoolFile, spool_limit
from reasonkit_export.formats._text import archive_readme, format_number
from reasonkit_export.formats._zipstream import MEMBER_BLOCK, Packed, ZipStream, pack

if TYPE_CHECKING:
    from reasonkit_export.formats._pdf import BackgroundReport

__all__ = ["ZipArchive", "ZipWriter", "member_stem", "write_csv_archive"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
_DOT_RUNS = re.compile(r"\.{2,}")
# Device names Windows refuses as file names, whatever the extension.
_WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL"}
    | {f"COM{n}" for n in range(1, 10)}
    | {f"LPT{n}" for n in range(1, 10)}
)
_TEXT = "text/plain; charset=utf-8"


def member_stem(category: str) -> str:
    """Turn a category name into a safe file name stem (no path, no leading dot).

    Categories are validated as ``[A-Za-z0-9_.-]{1,64}`` upstream; this is the
    second line of defence: any other character becomes ``_``, as do runs of
    dots and a leading or trailing dot, and Windows device names get a ``_``
    prefix.
    """
    stem = _UNSAFE.sub("_", category)[:64]
    stem = _DOT_RUNS.sub(lambda match: "_" * len(match.group()), stem)
    if stem.startswith("."):
        stem = "_" + stem[1:]
    if stem.endswith("."):
        stem = stem[:-1] + "_"
    if not stem:
        stem = "_"
    if stem.split(".", 1)[0].upper() in _WINDOWS_RESERVED:
        stem = "_" + stem
    return stem


def _naive_utc(value: datetime) -> datetime:
    """``value`` in UTC without tzinfo (the ZIP time stamp has no zone; 1980-2107)."""
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo is not None else value


class _DetachableSink:
    """The sink as zipfile sees it: write-only, and silenced once detached.

    It has no ``tell``/``seek``, so zipfile always streams (data descriptors)
    and the bytes do not depend on the sink's type. After a failure the
    archive is detached before zipfile's handles are closed, so nothing more
    reaches the caller's sink.
    """

    def __init__(self, sink: BinaryIO) -> None:
        self._sink: BinaryIO | None = sink

    def write(self, data: bytes) -> int:
        """Pass ``data`` on, unless detached."""
        if self._sink is not None:
            self._sink.write(data)
        return len(data)

    def flush(self) -> None:
        """Flush the sink if it can be flushed (a bare ``write`` sink need not)."""
        flush = getattr(self._sink, "flush", None)
        if flush is not None:
            flush()

    def detach(self) -> None:
        """Drop everything written from now on."""
        self._sink = None


class _MemberWriter:
    """Collects one member's bytes into blocks, counting and hashing them.

    Hashing, CRC and deflate run on a second thread (they release the GIL),
    overlapping with the encoding of the next block in the writer's thread.
    """

    def __init__(self, stream: Any, *, limit: int | None = None, cap: int | None = None) -> None:
        self._stream = stream
        self._buffer = bytearray()
        self._hash = hashlib.sha256()
        self.size = 0
        self._taken = 0
        self._limit = limit
        self._cap = cap
        self._background = BackgroundSink(_Consumer(self), depth=4)

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Take all of ``data`` (FileTooLarge past the member's uncompressed limit)."""
        if self._limit is not None:
            self._taken += len(data)
            if self._taken > self._limit:
                raise FileTooLarge(self._cap or self._limit, uncompressed=self._limit)
        if not self._buffer and len(data) >= MEMBER_BLOCK:
            # A whole block already (the JSON writer's): the same block as
            # gathering it would give, without copying it twice.
            self._background.write(data)
            return len(data)
        self._buffer += data
        if len(self._buffer) >= MEMBER_BLOCK:
            self._pass_on()
        return len(data)

    def _pass_on(self) -> None:
        self._background.write(bytes(self._buffer))
        self._buffer.clear()

    def consume(self, block: bytes) -> None:
        """Hash, count and compress one block (on the background thread)."""
        self._hash.update(block)
        self.size += len(block)
        self._stream.write(block)

    def flush(self) -> None:
        """Pass everything buffered into the member and wait until it is in."""
        if self._buffer:
            self._pass_on()
        self._background.drain()

    def finish(self) -> None:
        """Flush and stop the background thread."""
        if self._buffer:
            self._pass_on()
        self._background.close()

    def abort(self) -> None:
        """Stop the background thread after a failure, without raising."""
        self._background.abort()

    def sync(self) -> bool:
        """Push everything written so far through the compressor into the sink.

        A deflate sync flush, so that what a member has taken is known to have
        reached the sink (the split writer's size accounting needs that).
        False when the member is buffered until it is closed (see
        :meth:`ZipArchive.member`).
        """
        self.flush()
        synced: bool = self._stream.sync()
        return synced

    def writable(self) -> bool:
        """Always true (file-like protocol)."""
        return True

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of what has been passed on."""
        return self._hash.hexdigest()


class _Consumer:
    """The background thread's view of a member writer."""

    def __init__(self, writer: _MemberWriter) -> None:
        self._writer = writer

    def write(self, block: bytes) -> int:
        self._writer.consume(block)
        return len(block)


class _RenderProgress:
    """How far the members are written, in records, reported as ``(done, total)``.

    After spooling, every member the ZIP writer renders counts the records it
    holds: ``data.json`` and each CSV table one unit per record, the report
    one per record it shows, the HTML view one per record rendered (by the
    child process, which reports its count) and one per record whose page is
    written into the archive. Members whose bytes stream from a spool advance
    in proportion to the bytes written (see :class:`_Metered`), so progress
    moves within a member of a million records too. Each report also lets
    the callback notice a cancel (it may raise).
    """

    def __init__(self, callback: Callable[[int, int], None] | None, total: int) -> None:
        self._callback = callback
        self.total = max(total, 1)
        self.done = 0
        self.rendered: Callable[[], int] | None = None  # the HTML child's count

    def advance(self, units: int) -> None:
        """Count ``units`` more and report."""
        self.done += units
        self.report()

    def report(self) -> None:
        """Tell the callback where the members stand (a heartbeat while waiting, too)."""
        if self._callback is None:
            return
        done = self.done + (self.rendered() if self.rendered is not None else 0)
        self._callback(min(done, self.total), self.total)

    def stage(self, units: int) -> Callable[[int, int], None]:
        """A ``(done, total)`` callback for a writer that renders ``units`` of the total."""
        base = self.done

        def report(done: int, total: int) -> None:
            self.done = base + (units * done // total if total else units)
            self.report()

        return report


class _Metered:
    """Advances progress in proportion to the bytes of a member written.

    ``units`` records are spread over ``size`` bytes (an estimate or an upper
    bound); :meth:`finish` counts whatever the estimate left out. With a
    ``sink`` it is itself the member's sink.
    """

    def __init__(
        self, progress: _RenderProgress, *, units: int, size: int, sink: Any = None
    ) -> None:
        self._sink = sink
        self._progress = progress
        self._units = units
        self._size = max(size, 1)
        self._written = 0
        self._counted = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Write ``data`` to the sink and count it."""
        self._sink.write(data)
        self.count(len(data))
        return len(data)

    def count(self, size: int) -> None:
        """Count ``size`` bytes written: the records they hold, about."""
        self._written += size
        counted = min(self._units * self._written // self._size, self._units)
        if counted > self._counted:
            self._progress.advance(counted - self._counted)
            self._counted = counted

    def finish(self) -> None:
        """Count the records not counted yet."""
        if self._counted < self._units:
            self._progress.advance(self._units - self._counted)
            self._counted = self._units


class _Counting:
    """A member's sink that also counts the bytes on a meter."""

    def __init__(self, member: Any, meter: _Metered) -> None:
        self._member = member
        self._meter = meter

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Write ``data`` into the member and count it."""
        self._member.write(data)
        self._meter.count(len(data))
        return len(data)


class _MeteredArchive:
    """The archive as the HTML view writes into it, counting each category's records."""

    def __init__(self, archive: ZipArchive) -> None:
        self._archive = archive
        self.meter: _Metered | None = None

    def unique_name(self, directory: str, stem: str, suffix: str) -> str:
        """As :meth:`ZipArchive.unique_name`."""
        return self._archive.unique_name(directory, stem, suffix)

    @contextmanager
    def member(self, name: str, media_type: str, **options: Any) -> Iterator[Any]:
        """As :meth:`ZipArchive.member`, the bytes counted by the current meter."""
        with self._archive.member(name, media_type, **options) as member:
            yield member if self.meter is None else _Counting(member, self.meter)


class ZipArchive:
    """A ZIP being streamed to a sink, remembering each member for the manifest.

    Use as a context manager; call :meth:`finish` to write the manifest and
    the central directory. Leaving the block without :meth:`finish` (an
    error) stops all output to the sink at once.

    Args:
        sink: where the archive goes; only ``write`` (and ``flush``) are used.
        date_time: the time stamp every member gets.
        compresslevel: deflate level, 0-9.
        cap: the export's size cap in bytes, if any: no member may take more
            than :func:`~reasonkit_export.formats._spool.spool_limit` of it
            uncompressed (which also bounds a member buffered in a
            temporary file, and the work of compressing).
    """

    def __init__(
        self,
        sink: BinaryIO,
        *,
        date_time: datetime,
        compresslevel: int = 6,
        cap: int | None = None,
    ) -> None:
        self._cap = cap
        self._sink = _DetachableSink(sink)
        # Streamed front to back by our own writer: ISA-L deflate when
        # installed, ZIP64 sizes, never a seek (see formats/_zipstream.py).
        self._zip = ZipStream(
            self._sink, level=max(compresslevel, 1), date_time=_naive_utc(date_time)
        )
        self._compress = compresslevel > 0
        self._level = max(compresslevel, 1)
        self._open: Any = None
        self._taken: set[str] = {MANIFEST_NAME.casefold()}
        self._written: set[str] = set()
        self._done = False
        self.members: list[MemberInfo] = []

    def unique_name(self, directory: str, stem: str, suffix: str) -> str:
        """A member name ``directory + stem + suffix`` not yet used (ignoring case).

        Case is ignored because archives are often unpacked onto file systems
        that ignore it; a clash gets ``-2``, ``-3``, ... appended to the stem.
        """
        name = f"{directory}{stem}{suffix}"
        number = 1
        while name.casefold() in self._taken:
            number += 1
            name = f"{directory}{stem}-{number}{suffix}"
        self._taken.add(name.casefold())
        return name

    @contextmanager
    def member(
        self,
        name: str,
        media_type: str,
        *,
        category: str | None = None,
        size_bound: int | None = None,
    ) -> Iterator[_MemberWriter]:
        """Open member ``name`` for writing; it is complete when the block ends.

        Args:
            name: the member name, from :meth:`unique_name`.
            media_type: recorded in the manifest.
            category: the category whose records the member holds, if one.
            size_bound: an upper bound of the member's size, if known: a
                deflated member is then streamed with a data descriptor
                (ZIP64 only if the bound needs it); otherwise, and when
                stored, it is buffered in a temporary file and written with
                its sizes in the local header (see formats/_zipstream.py).
        """
        if name.casefold() in self._written:
            raise ValueError(f"member {name!r} is already in the archive")
        self._written.add(name.casefold())
        stream = self._zip.open(name, compress=self._compress, size_bound=size_bound)
        self._open = stream
        writer = _MemberWriter(stream, limit=spool_limit(self._cap), cap=self._cap)
        try:
            yield writer
            writer.finish()
        finally:
            writer.abort()
        self._open = None
        stream.close()
        self._listed(name, writer.size, writer.sha256, media_type, category)

    def _listed(
        self, name: str, size: int, sha256: str, media_type: str, category: str | None
    ) -> None:
        """Remember a written member for the manifest."""
        self.members.append(
            MemberInfo(
                name=name, size=size, sha256=sha256, media_type=media_type, category=category
            )
        )

    def pack(self, parts: Sequence[bytes]) -> tuple[Packed, bytes]:
        """A member's writes packed as this archive compresses them (see ``add_packed``)."""
        return pack(parts, level=self._level, compress=self._compress)

    def add_packed(
        self,
        name: str,
        media_type: str,
        packed: Packed,
        chunks: Iterable[bytes],
        *,
        category: str | None = None,
    ) -> None:
        """Add a member compressed ahead of time (see :func:`~._zipstream.pack`).

        Raises:
            FileTooLarge: it is larger than a member may be (see the class).
            ValueError: it was packed for another compression setting.
        """
        if packed.method != (8 if self._compress else 0):
            raise ValueError(f"member {name!r} was packed for another compression setting")
        limit = spool_limit(self._cap)
        if limit is not None and packed.size > limit:
            raise FileTooLarge(self._cap or limit, uncompressed=limit)
        if name.casefold() in self._written:
            raise ValueError(f"member {name!r} is already in the archive")
        self._zip.add_packed(name, packed, chunks)
        self._written.add(name.casefold())
        self._listed(name, packed.size, packed.sha256, media_type, category)

    def add(self, name: str, data: bytes, media_type: str) -> None:
        """Add a small member whose bytes are at hand."""
        with self.member(name, media_type) as writer:
            writer.write(data)

    def finish(
        self,
        info: ExportInfo,
        *,
        record_counts: Mapping[str, int],
        warnings: Iterable[str] = (),
        redacted_counts: Mapping[str, int] | None = None,
        part: int | None = None,
        parts: int | None = None,
    ) -> None:
        """Write ``manifest.json`` as the last member and close the archive.

        ``redacted_counts``, ``part`` and ``parts`` are as in
        :func:`~reasonkit_export.formats._manifest.build_manifest`.
        """
        manifest = build_manifest(
            info,
            members=self.members,
            record_counts=record_counts,
            warnings=warnings,
            redacted_counts=redacted_counts,
            part=part,
            parts=parts,
        )
        self.add(MANIFEST_NAME, encode_manifest(manifest), "application/json")
        self._zip.close()
        self._done = True

    def abort(self) -> None:
        """Stop writing to the sink and release zipfile's handles quietly."""
        self._sink.detach()
        self._zip.abort()
        self._done = True
        self._open = None

    def __enter__(self) -> ZipArchive:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._done:
            self.abort()


@attrs.define
class _Spooled:
    """One section read from its source: records for JSON/PDF, rows for CSV."""

    category: str
    table: CsvTable | None
    records: RecordSpool | None = None
    count: int = 0
    html: HtmlSpool | _RemoteSpool | None = None

    def add(self, record: Mapping[str, Any]) -> None:
        """Spool one record wherever it is needed.

        Most records hold plain values only: the CSV table's compiled row
        takes those first and says so (:meth:`CsvTable.add_plain`), and the
        HTML view's child then renders the record from its JSON line with no
        further check. Any other record takes the general path, where the HTML
        view goes first when the record may hold a one-shot iterator: it hands
        back the record with every such iterator made a list, so every member
        shows the same items.
        """
        html = self.html
        table = self.table
        if table is not None and table.add_plain(record):
            records = self.records
            if records is None:
                if html is not None:
                    html.add(record)
            elif type(html) is _RemoteSpool:
                html.add_json(records.add(record))
            else:
                records.add(record)
                if html is not None:
                    html.add(record)
            self.count += 1
            return
        if type(html) is _RemoteSpool and self.records is not None and html.faithful(record):
            # The child renders it from the JSON line: nothing more to encode.
            html.add_json(self.records.add(record))
        elif type(html) is HtmlSpool and self.records is not None and _faithful(record):
            # Nothing one-shot in it: spooled (and measured: a record over the
            # size cap fails here) before it is rendered.
            self.records.add(record)
            html.add(record)
        else:
            if html is not None:
                record = html.add(record)
            if self.records is not None:
                self.records.add(record)
        if self.table is not None:
            self.table.add(record)
        self.count += 1

    def seal(self) -> None:
        """The section is complete: store what the spools still buffer."""
        if type(self.html) is HtmlSpool:
            self.html.seal()
        if self.table is not None:
            self.table.seal()
        if self.records is not None:
            self.records.seal()

    def close(self) -> None:
        """Remove the spools."""
        if self.html is not None:
            self.html.close()
        if self.table is not None:
            self.table.close()
        if self.records is not None:
            self.records.close()


class _SpoolFiles:
    """The shared temporary files every category's spools live in (see formats._spool).

    One file per kind of spool (records, CSV rows, HTML fragments), so the
    number of open files does not grow with the number of categories. Each
    holds at most :func:`~reasonkit_export.formats._spool.spool_limit` of
    ``cap`` bytes.
    """

    def __init__(self, cap: int | None) -> None:
        self.cap = cap
        self._files: dict[str, SpoolFile] = {}

    def get(self, kind: str) -> SpoolFile:
        """The shared file of ``kind``, opened on first use."""
        file = self._files.get(kind)
        if file is None:
            file = self._files[kind] = SpoolFile(cap=self.cap)
        return file

    def close(self) -> None:
        """Close (and so remove) every file."""
        for file in self._files.values():
            file.close()
        self._files.clear()


def _json_bound(info: ExportInfo, spooled: list[_Spooled]) -> int:
    """An upper bound of ``data.json``'s size, from the spools' sizes (see JsonWriter).

    Each record takes its spooled line plus one byte (``,\n`` for ``\n``);
    the head, the category keys and ``about`` texts, and the closing counts
    are bounded by their JSON with generous room for numbers and punctuation.
    """
    records = sum(cast(RecordSpool, item.records).nbytes + item.count for item in spooled)
    meta = dumps_compact(
        [info.user_id, info.generator, info.categories, info.controller, info.about]
    )
    names = sum(len(dumps_compact(item.category)) for item in spooled)
    return records + 3 * (len(meta) + names) + 64 * len(spooled) + 4096


class _HtmlRendering:
    """Where the HTML view's records are rendered: here, then in a child once it pays.

    A child process (:class:`HtmlWorker`) costs a fraction of a second from
    its start to its last page, more than rendering a small export here. The
    child is started at once (it imports its modules while records are
    read), but records are rendered in this process until :meth:`hand_over`;
    then the child is sent every fragment rendered so far (each category in
    turn: the page layout follows from them) and renders the rest. An export
    that never gets there stops the unused child (:meth:`close`). Where no
    child can be started, everything stays here.
    """

    def __init__(
        self,
        view: HtmlView,
        files: _SpoolFiles,
        spooled: list[_Spooled],
        start: Callable[[], HtmlWorker | None],
    ) -> None:
        self._view = view
        self._files = files
        self._spooled = spooled
        self._started = start()
        self.worker: HtmlWorker | None = None

    def spool(self, category: str) -> HtmlSpool | _RemoteSpool:
        """The next category's spool: in the child once it runs, else here."""
        if self.worker is not None:
            return self.worker.spool(category)
        return self._view.spool(category, file=self._files.get("html").segment())

    def hand_over(self) -> None:
        """Send the child everything rendered here; it renders the rest (if it started)."""
        worker = self._started
        if worker is None:
            return
        try:
            for item in self._spooled:
                here = cast(HtmlSpool, item.html)
                there = worker.spool(item.category)
                here.seal()
                for index in range(len(here.pages)):
                    for fragment in here.page_records(index):
                        there.add_rendered(fragment)
                item.html = there
                here.close()
        except BaseException:
            self.close()
            raise
        self.worker = worker

    def close(self) -> None:
        """Stop the child and remove its files (the caller has read its pages, or none)."""
        if self._started is not None:
            self._started.close()


def _spool_sections(
    sections: Iterable[Section],
    spooled: list[_Spooled],
    files: _SpoolFiles,
    *,
    neutralize_formulas: bool,
    keep_records: bool,
    tables: bool = True,
    html: HtmlView | _HtmlRendering | None = None,
    beyond: Sequence[tuple[int, Callable[[], None]]] = (),
) -> None:
    """Read every section's records once into ``spooled`` (which the caller closes).

    ``beyond`` holds ``(limit, call)`` pairs: each ``call()`` runs once, as
    soon as more than ``limit`` records have been read in all.
    """
    waiting = sorted(beyond, key=lambda pair: pair[0])
    total = 0
    for section in sections:
        category = section.category
        item = _Spooled(
            category=category,
            table=(
                CsvTable(
                    neutralize_formulas=neutralize_formulas,
                    file=cast(BinaryIO, files.get("csv").segment()),
                )
                if tables
                else None
            ),
            records=RecordSpool(files.get("records"), category=category) if keep_records else None,
            html=(
                None
                if html is None
                else html.spool(category)
                if isinstance(html, _HtmlRendering)
                else html.spool(category, file=files.get("html").segment())
            ),
        )
        spooled.append(item)
        add = item.add
        records = iter(section.records)
        while waiting:
            limit, call = waiting[0]
            # Up to the limit in a loop of its own: the main loop stays bare.
            for record in itertools.islice(records, max(limit + 1 - total - item.count, 0)):
                add(record)
            if total + item.count <= limit:
                break  # the section ended first
            del waiting[0]
            call()
        for record in records:
            add(record)
        item.seal()
        total += item.count


def write_csv_archive(
    info: ExportInfo,
    sections: Iterable[Section],
    sink: BinaryIO,
    *,
    bom: bool = True,
    neutralize_formulas: bool = True,
    compresslevel: int = 6,
    size_limit: int | None = None,
) -> WriteResult:
    """Write the multi-category CSV artifact: ``<category>.csv`` each, README, manifest.

    ``size_limit`` is the export's size cap: it bounds the spooled rows (see
    :mod:`reasonkit_export.formats._spool`).
    """
    spooled: list[_Spooled] = []
    files = _SpoolFiles(size_limit)
    try:
        _spool_sections(
            sections,
            spooled,
            files,
            neutralize_formulas=neutralize_formulas,
            keep_records=False,
        )
        counts = {item.category: item.count for item in spooled}
        with ZipArchive(
            sink, date_time=info.generated_at, compresslevel=compresslevel, cap=size_limit
        ) as archive:
            readme_name = archive.unique_name("", "README", ".txt")
            msg = messages(info.locale)
            listing = _write_tables(archive, spooled, "", bom=bom, msg=msg, info=info)
            listing += [
                (readme_name, msg("readme.file.readme")),
                (MANIFEST_NAME, msg("readme.file.manifest")),
            ]
            readme = archive_readme(info, listing, counts, neutralized=neutralize_formulas)
            archive.add(readme_name, readme, _TEXT)
            archive.finish(info, record_counts=counts)
    finally:
        for item in spooled:
            item.close()
        files.close()
    return WriteResult(record_counts=counts)


_Event = TypeVar("_Event", CategoryStart, CategoryLayout, CategoryEnd)


#: Records of the HTML view rendered in the exporting process before its child
#: takes over (see ZipWriter and _HtmlRendering): a smaller export is written
#: faster without waiting for a child.
HTML_WORKER_ABOVE = 2_000

# The most bytes of packed pages the exporting process keeps waiting for the
# child's pages before them (see _PageMerger).
_PENDING_BYTES = 8 * 1024 * 1024


class _PageMerger:
    """The archive as the HTML view writes its share of the pages into it.

    Members the view writes here (the ones this process claims, see
    :meth:`HtmlWorker.claimer`) are packed in this process; with each, the
    child's members that precede it are copied in from the child's events,
    so the archive holds every category's index and pages in order.

    A member packed here waits (compressed, in memory, up to
    :data:`_PENDING_BYTES`) for the child's members before it, so this
    process goes on packing instead of waiting for the child.
    """

    def __init__(self, archive: ZipArchive, worker: HtmlWorker, events: Iterator[Any]) -> None:
        self._archive = archive
        self._worker = worker
        self._events = events
        self._pending: deque[tuple[int, str, str, Packed, bytes, str | None]] = deque()
        self._pending_bytes = 0
        self._next: Any = None
        self.directory = ""
        self.category = ""

    def _peek(self) -> Any:
        if self._next is None:
            event = next(self._events, None)
            if event is None:
                raise ProcessingError("the HTML view's pages ended early")
            self._next = event
        return self._next

    def _copy_before(self, number: int | None) -> None:
        """Copy the child's pages of this category numbered below ``number`` (None: all)."""
        while isinstance(self._peek(), PackedPage) and (
            number is None or self._next.number < number
        ):
            page, self._next = self._next, None
            self._archive.add_packed(
                f"{self.directory}{page.name}",
                page.media_type,
                page.packed,
                self._worker.chunks(page.packed),
                category=self.category,
            )

    def _add_pending(self, *, every: bool) -> None:
        """Add the members packed here, oldest first, while over the bound (``every``: all)."""
        while self._pending and (every or self._pending_bytes > _PENDING_BYTES):
            index, name, media_type, packed, data, category = self._pending.popleft()
            self._pending_bytes -= len(data)
            self._copy_before(index)
            self._archive.add_packed(name, media_type, packed, [data], category=category)

    def expect(self, kind: type[_Event], category: str) -> _Event:
        """The next event, which must be a ``kind`` for ``category`` (after the child's pages)."""
        self._add_pending(every=True)
        self._copy_before(None)
        event = self._peek()
        if not isinstance(event, kind) or event.category != category:
            raise ProcessingError("the HTML view's pages came for another category")
        self._next = None
        return event

    def finish(self) -> None:
        """Read the child's last event: it has published everything."""
        if next(self._events, None) is not None:
            raise ProcessingError("the HTML view had more pages than categories")

    @contextmanager
    def member(
        self, name: str, media_type: str, *, category: str | None = None, index: int = 0
    ) -> Iterator[Any]:
        """Member number ``index`` of the category: packed here, added in order later."""
        parts = _Parts()
        yield parts
        packed, data = self._archive.pack(parts.parts)
        self._pending.append((index, name, media_type, packed, data, category))
        self._pending_bytes += len(data)
        self._add_pending(every=False)


class _Parts:
    """A member's writes, gathered (a page is bounded: it fits in memory)."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Take all of ``data``."""
        self.parts.append(bytes(data))
        return len(data)


def _write_html(
    archive: ZipArchive,
    html: HtmlView,
    spooled: list[_Spooled],
    listing: list[tuple[str, str]],
    *,
    readme_name: str,
    index_name: str,
    worker: HtmlWorker | None = None,
    progress: _RenderProgress | None = None,
) -> list[tuple[str, str]]:
    """Write the HTML view's pages and ``index.html``; return README lines for them."""
    msg = html.msg
    categories = []
    if worker is not None:
        # The child renders the records and packs pages as this archive
        # compresses them, from the end of the input on; this process packs
        # the pages it claims first from the child's fragments once it gets
        # here, and copies the child's in between.
        merger = _PageMerger(
            archive,
            worker,
            worker.events(heartbeat=progress.report if progress is not None else None),
        )
        for item in spooled:
            merger.expect(CategoryStart, item.category)
            directory = category_directory(archive, member_stem(item.category))
            layout = merger.expect(CategoryLayout, item.category)
            merger.directory = directory
            merger.category = item.category
            html.write_category(
                merger,
                item.category,
                worker.attach(layout),
                directory,
                only=worker.claimer(layout),
            )
            end = merger.expect(CategoryEnd, item.category)
            if end.count != item.count:
                raise ProcessingError("the HTML view's pages do not match the records read")
            categories.append((item.category, directory, item.count))
        merger.finish()
        if progress is not None:
            progress.report()  # the child's last count: every record rendered and paged
            progress.rendered = None
            progress.advance(2 * sum(item.count for item in spooled))  # the same, counted here
    else:
        metered = _MeteredArchive(archive)
        for item in spooled:
            spool = cast(HtmlSpool, item.html)
            directory = category_directory(archive, member_stem(item.category))
            if progress is not None:
                metered.meter = _Metered(progress, units=2 * item.count, size=spool.nbytes)
            html.write_category(metered, item.category, spool, directory)
            if metered.meter is not None:
                metered.meter.finish()
            categories.append((item.category, directory, item.count))
    files = [
        *listing,
        (readme_name, msg("html.file.readme")),
        (MANIFEST_NAME, msg("readme.file.manifest")),
    ]
    html.write_index(archive, index_name, categories, files)
    return [(index_name, msg("readme.file.index_html")), ("html/", msg("readme.file.html_dir"))]


def _write_tables(
    archive: ZipArchive,
    spooled: list[_Spooled],
    directory: str,
    *,
    bom: bool,
    msg: Messages,
    info: ExportInfo,
    progress: _RenderProgress | None = None,
) -> list[tuple[str, str]]:
    """Write one CSV member per category; return README lines for them."""
    listing = []
    for item in spooled:
        name = archive.unique_name(directory, member_stem(item.category), ".csv")
        assert item.table is not None
        fields = declared_fields(info, item.category)
        bound = item.table.size_bound(bom=bom, fields=fields)
        with archive.member(
            name, CSV_MEDIA_TYPE, category=item.category, size_bound=bound
        ) as member:
            if progress is None:
                item.table.write_csv(cast(BinaryIO, member), bom=bom, fields=fields)
            else:
                meter = _Metered(progress, units=item.count, size=bound, sink=member)
                item.table.write_csv(cast(BinaryIO, meter), bom=bom, fields=fields)
                meter.finish()
        item.table.release()  # each table is read once
        listing.append((name, msg("readme.file.csv", category=item.category)))
    return listing


class ZipWriter:
    """Writes an export as one ZIP: JSON, CSV tables, PDF report, README, manifest.

    Args:
        csv_bom: start each CSV table with a UTF-8 byte order mark.
        neutralize_formulas: defuse spreadsheet formulas in CSV text cells.
        include_pdf: add ``report.pdf``.
        include_csv: add one CSV table per category (``csv/``).
        compresslevel: deflate level, 0-9.
        pdf_writer_factory: builds the PDF writer; defaults to
            :class:`~reasonkit_export.formats._pdf.PdfWriter`.
        include_html: add the offline HTML view (``index.html`` and ``html/``).
        html_records_per_page: the most records one HTML page holds.
        pdf_fonts: extra fallback font files for the PDF report.
        progress: called as ``(done, total)`` while the members are written
            after the records are read (records written into ``data.json``,
            the CSV tables, the report and the HTML view; see
            :class:`_RenderProgress`); it may raise to stop the export.
        pdf_summary_above: above this many records in the export, the report
            is a summary of each category's first ``pdf_summary_records``
            records (None: always the complete report).
        pdf_summary_records: records per category in a summary report.
        html_worker: render the HTML view's records in a child process
            (``python -m reasonkit_export.formats._html``) in parallel with
            the other members; False renders them in this process.
        html_worker_above: the child takes over once the export passes this
            many records (those rendered so far are handed to it); a smaller
            export is rendered in this process, faster than waiting for a
            child, which is then stopped.
        size_limit: the export's size cap in bytes (None: none); it bounds
            the spools and the uncompressed data (see
            :mod:`reasonkit_export.formats._spool`), and no record may be
            larger.
    """

    def __init__(
        self,
        *,
        csv_bom: bool = True,
        neutralize_formulas: bool = True,
        include_pdf: bool = True,
        compresslevel: int = 6,
        pdf_writer_factory: Callable[[], FormatWriter] | None = None,
        include_csv: bool = True,
        include_html: bool = True,
        html_records_per_page: int = RECORDS_PER_PAGE,
        pdf_fonts: Sequence[str] = (),
        progress: Callable[[int, int], None] | None = None,
        pdf_summary_above: int | None = None,
        pdf_summary_records: int = 100,
        html_worker: bool = True,
        html_worker_above: int = HTML_WORKER_ABOVE,
        size_limit: int | None = None,
    ) -> None:
        self.size_limit = size_limit
        self.include_html = include_html
        self.html_worker = html_worker
        self.html_worker_above = html_worker_above
        self.html_records_per_page = html_records_per_page
        self.csv_bom = csv_bom
        self.neutralize_formulas = neutralize_formulas
        self.include_pdf = include_pdf
        self.include_csv = include_csv
        self.compresslevel = compresslevel
        self.pdf_writer_factory = pdf_writer_factory
        self.pdf_fonts = tuple(pdf_fonts)
        self.progress = progress
        self.pdf_summary_above = pdf_summary_above
        self.pdf_summary_records = pdf_summary_records

    def plan(self, info: ExportInfo) -> ArtifactPlan:
        """A ``.zip``; it compresses inside, so no service-level gzip."""
        return ArtifactPlan(extension="zip", media_type="application/zip", gzip_allowed=False)

    def _pdf_summarised(self, total: int) -> bool:
        """Whether the report of an export of ``total`` records is a summary."""
        return self.pdf_summary_above is not None and total > self.pdf_summary_above

    def _pdf_writer(
        self, total: int, progress: Callable[[int, int], None] | None = None
    ) -> FormatWriter:
        if self.pdf_writer_factory is not None:
            return self.pdf_writer_factory()
        # Imported lazily: fpdf2 is only loaded when a PDF is actually made.
        from reasonkit_export.formats._pdf import PdfWriter

        return PdfWriter(
            fonts=self.pdf_fonts,
            progress=progress,
            summary_records=self.pdf_summary_records if self._pdf_summarised(total) else None,
            size_limit=self.size_limit,
        )

    def _pdf_listing(self, msg: Messages, total: int) -> str:
        """The README's line for report.pdf: what it holds, and the rule when one applies."""
        if self.pdf_writer_factory is not None or self.pdf_summary_above is None:
            return msg("readme.file.pdf")
        count = format_number(self.pdf_summary_records, msg.locale)
        rule = msg(
            "readme.pdf_rule",
            limit=format_number(self.pdf_summary_above, msg.locale),
            count=count,
        )
        if self._pdf_summarised(total):
            return f"{msg('readme.file.pdf_summary', count=count)} {rule}"
        return f"{msg('readme.file.pdf')} {rule}"

    def write(self, info: ExportInfo, sections: Iterable[Section], sink: BinaryIO) -> WriteResult:
        """Spool every section once, then stream the archive's members into ``sink``."""
        if not self.include_csv and not self.include_pdf and not self.include_html:
            return self._write_json_only(info, sections, sink)
        spooled: list[_Spooled] = []
        warnings: list[str] = []
        html = (
            HtmlView(info, records_per_page=self.html_records_per_page)
            if self.include_html
            else None
        )
        # The PDF cover points to the HTML view when the archive has one.
        pdf_info = attrs.evolve(info, html_index=INDEX_NAME if html is not None else None)
        background: BackgroundReport | None = None

        def start_summary() -> None:
            # The report is a summary: its child imports fpdf2 and parses
            # the fonts while this process still reads the records.
            nonlocal background
            background = self._start_summary(pdf_info)

        files = _SpoolFiles(self.size_limit)
        rendering: _HtmlRendering | None = None
        thresholds: list[tuple[int, Callable[[], None]]] = []
        worker: HtmlWorker | None = None
        try:
            # A large export's records are rendered in another process while
            # this one spools and writes the other members; a small one's here
            # (and any where no child can be started).
            if html is not None and self.html_worker:
                view = html
                rendering = _HtmlRendering(
                    view,
                    files,
                    spooled,
                    lambda: HtmlWorker.start(
                        view, cap=self.size_limit, compresslevel=self.compresslevel, share=True
                    ),
                )
                thresholds.append((self.html_worker_above, rendering.hand_over))
            if self.pdf_summary_above is not None and self._summary_in_background():
                thresholds.append((self.pdf_summary_above, start_summary))
            _spool_sections(
                sections,
                spooled,
                files,
                neutralize_formulas=self.neutralize_formulas,
                keep_records=True,
                tables=self.include_csv,
                html=rendering if rendering is not None else html,
                beyond=thresholds,
            )
            worker = rendering.worker if rendering is not None else None
            if worker is not None:
                worker.end_input()  # the child packs the pages while data.json is written
            counts = {item.category: item.count for item in spooled}
            total = sum(counts.values())
            if background is not None:
                background.feed(
                    [(item.category, cast(RecordSpool, item.records)) for item in spooled]
                )
            progress = _RenderProgress(self.progress, self._units(counts, html=html is not None))
            if worker is not None:
                progress.rendered = worker.rendered

            def replay(*, encoded: bool = False) -> list[Section]:
                # data.json copies the spooled JSON bytes instead of re-encoding.
                return [
                    Section(
                        category=item.category,
                        records=cast(RecordSpool, item.records),
                        encoded=cast(RecordSpool, item.records).iter_encoded() if encoded else None,
                    )
                    for item in spooled
                ]

            with ZipArchive(
                sink,
                date_time=info.generated_at,
                compresslevel=self.compresslevel,
                cap=self.size_limit,
            ) as archive:
                json_name = archive.unique_name("", "data", ".json")
                pdf_name = archive.unique_name("", "report", ".pdf")
                readme_name = archive.unique_name("", "README", ".txt")
                json_bound = _json_bound(info, spooled)
                with archive.member(json_name, "application/json", size_bound=json_bound) as member:
                    meter = _Metered(progress, units=total, size=json_bound, sink=member)
                    JsonWriter().write(info, replay(encoded=True), cast(BinaryIO, meter))
                    meter.finish()
                if not self.include_pdf or (background is not None and background.in_child):
                    # Only a report rendered here reads the records again.
                    for item in spooled:
                        cast(RecordSpool, item.records).release()
                msg = messages(info.locale)
                listing = [(json_name, msg("readme.file.data_json"))]
                if self.include_csv:
                    listing += _write_tables(
                        archive,
                        spooled,
                        "csv/",
                        bom=self.csv_bom,
                        msg=msg,
                        info=info,
                        progress=progress,
                    )
                index_name = archive.unique_name("", "index", ".html") if html else None
                if self.include_pdf:
                    units = self._pdf_units(counts)
                    with archive.member(pdf_name, "application/pdf") as member:
                        result: WriteResult
                        if background is not None:
                            result = background.copy_to(
                                cast(BinaryIO, member), heartbeat=progress.report
                            )
                            progress.advance(units)
                        else:
                            pdf = self._pdf_writer(total, progress.stage(units))
                            result = pdf.write(pdf_info, replay(), cast(BinaryIO, member))
                    warnings.extend(result.warnings)
                    listing.append((pdf_name, self._pdf_listing(msg, total)))
                if html is not None and index_name is not None:
                    listing = (
                        _write_html(
                            archive,
                            html,
                            spooled,
                            listing,
                            readme_name=readme_name,
                            index_name=index_name,
                            worker=worker,
                            progress=progress,
                        )
                        + listing
                    )
                listing += [
                    (readme_name, msg("readme.file.readme")),
                    (MANIFEST_NAME, msg("readme.file.manifest")),
                ]
                readme = archive_readme(info, listing, counts, neutralized=self.neutralize_formulas)
                archive.add(readme_name, readme, _TEXT)
                archive.finish(info, record_counts=counts, warnings=warnings)
        finally:
            if rendering is not None:
                rendering.close()
            if background is not None:
                background.close()
            for item in spooled:
                item.close()
            files.close()
        return WriteResult(record_counts=counts, warnings=tuple(warnings))

    def _pdf_units(self, counts: Mapping[str, int]) -> int:
        """The records the report shows (see :class:`_RenderProgress`)."""
        if not self.include_pdf:
            return 0
        if self._pdf_summarised(sum(counts.values())):
            return sum(min(count, self.pdf_summary_records) for count in counts.values())
        return sum(counts.values())

    def _units(self, counts: Mapping[str, int], *, html: bool) -> int:
        """Everything :class:`_RenderProgress` counts for an archive of ``counts``."""
        records = sum(counts.values())
        # data.json, the CSV tables, and the HTML view's rendering and pages.
        return records * (1 + self.include_csv + 2 * html) + self._pdf_units(counts)

    def _summary_in_background(self) -> bool:
        """Whether a summary report would be rendered by :class:`BackgroundReport`."""
        return (
            self.include_pdf
            and self.pdf_writer_factory is None
            and self.pdf_summary_above is not None
        )

    def _start_summary(self, info: ExportInfo) -> BackgroundReport:
        """Start the child process of a summary report (see :class:`BackgroundReport`)."""
        from reasonkit_export.formats._pdf import BackgroundReport

        return BackgroundReport(
            info, summary_records=self.pdf_summary_records, fonts=self.pdf_fonts
        )

    def _write_json_only(
        self, info: ExportInfo, sections: Iterable[Section], sink: BinaryIO
    ) -> WriteResult:
        """Stream data.json straight from the sources: nothing else needs the records twice."""
        with ZipArchive(
            sink,
            date_time=info.generated_at,
            compresslevel=self.compresslevel,
            cap=self.size_limit,
        ) as archive:
            json_name = archive.unique_name("", "data", ".json")
            readme_name = archive.unique_name("", "README", ".txt")
            with archive.member(json_name, "application/json") as member:
                # Nothing is spooled: the member's uncompressed bound stops an endless source.
                result = JsonWriter().write(info, sections, cast(BinaryIO, member))
            counts = dict(result.record_counts)
            msg = messages(info.locale)
            listing = [
                (json_name, msg("readme.file.data_json")),
                (readme_name, msg("readme.file.readme")),
                (MANIFEST_NAME, msg("readme.file.manifest")),
            ]
            readme = archive_readme(info, listing, counts, neutralized=None)
            archive.add(readme_name, readme, _TEXT)
            archive.finish(info, record_counts=counts)
        return WriteResult(record_counts=counts)
