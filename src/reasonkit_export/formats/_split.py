"""Split ZIP exports: several complete, independently readable volumes.

When a ZIP export would exceed the size cap (``max_file_size_mb``) and
splitting is enabled, the service hands :class:`SplitZipWriter` a
:class:`VolumeFactory` instead of one sink. Records stream into the current
volume until the next one would not fit; then that volume is finished (README
and manifest) and the next is opened. Every record is whole in exactly one
volume, and reading the volumes in order gives every category's records in
source order.

Each volume is a ZIP of its own (deflate, streamed; see
:mod:`reasonkit_export.formats._zip`) holding, in archive order::

    data/<category>.part-<n>.json   this volume's records of the category
    README.txt                      localised notes: "part n of N", how to combine
    manifest.json                   as in formats._manifest, plus "part" and "parts"

Member names carry the volume number, so unpacking every volume into one
folder (as the README says) overwrites nothing but the README and the
manifest: ``data/`` then holds every part of every category side by side.
A ``data/<category>.part-<n>.json`` member is one JSON document, one record
per line so it can also be streamed::

    {"category":"reasoning_history","part":2,"records":[
    {...},
    {...}]}

A category appears in a volume only if some of its records are in it; a
category without any records gets an empty document in the volume that was
current when it was read. The manifest's ``record_counts`` and
``redacted_counts`` count this volume's records (every category is listed,
with 0 where the volume has none of its records); the Art. 15 information
(``about``, ``controller``, ``window``) is in every volume.

The total number of volumes is known only once the last record is placed,
and every README and manifest states it; so a volume whose records are all
written stays open (its data streamed, its README, manifest and central
directory not yet written) until the last volume is full, then all are
finished in order. The service names the files ``...-part-1-of-3.zip``.

Volumes hold JSON only: a CSV table needs all of a category's columns before
its first row, and its size is known only once written, which would defeat
the size accounting. The README says so.

Size accounting: before a record is written, the writer checks that the
volume's bytes so far, plus an upper bound for everything still inside the
compressor (uncompressed bytes since the last deflate sync flush, plus deflate's
worst-case overhead), plus the record, plus a reserve for closing the members,
the README, the manifest and the central directory, stay within
``VolumeFactory.limit``. The reserve is computed once per export by rendering
the README and the manifest with every category present and oversized
numbers, so it always covers the real ones.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager, ExitStack
from typing import Any, BinaryIO, Protocol, cast

import attrs

from reasonkit_export._encoding import dumps_compact
from reasonkit_export._i18n import messages
from reasonkit_export.exceptions import FileTooLarge
from reasonkit_export.formats._base import ExportInfo, Section, WriteResult
from reasonkit_export.formats._manifest import (
    MANIFEST_NAME,
    MemberInfo,
    build_manifest,
    encode_manifest,
)
from reasonkit_export.formats._text import render_readme
from reasonkit_export.formats._zip import (
    ZipArchive,
    _MemberWriter,
    member_stem,
)
from reasonkit_export.formats._zipstream import deflate_bound

__all__ = ["SplitResult", "SplitZipWriter", "Volume", "VolumeFactory", "deflate_bound"]

_README_NAME = "README.txt"
_DATA_DIR = "data/"
_JSON = "application/json"
_TEXT = "text/plain; charset=utf-8"
# ZIP structure sizes (bytes), taken at their largest (ZIP64 forms).
_LOCAL_HEADER = 30 + 20  # fixed part + ZIP64 extra field
_DESCRIPTOR = 24  # data descriptor with 8-byte sizes
_CENTRAL_ENTRY = 46 + 28  # fixed part + ZIP64 extra (sizes and offset)
_END_RECORDS = 56 + 20 + 22  # ZIP64 end record, its locator, end record
_MARGIN = 64
# Placeholders for the reserve: wider than any real count, size or part number.
_HUGE = 10**15
_TAIL = b"]}\n"
# Deflate sync flushes: at most every 256 KiB, at least every 1 KiB of input.
_SYNC_MAX = 256 * 1024
_SYNC_MIN = 1024


class Volume(Protocol):
    """One volume being written; the factory's context finishes it."""

    def write(self, data: bytes, /) -> int:
        """Write all of ``data`` (raises FileTooLarge past the factory's limit)."""
        ...

    @property
    def size(self) -> int:
        """Bytes written to this volume so far (encryption overhead left out)."""
        ...


class VolumeFactory(Protocol):
    """Opens the volumes of one split export, numbered from 1.

    Attributes:
        limit: the hard cap in bytes per volume; writing past it raises
            :class:`~reasonkit_export.exceptions.FileTooLarge`.
    """

    limit: int

    def open(self, number: int) -> AbstractContextManager[Volume]:
        """Open volume ``number``; leaving the context finishes it atomically.

        Leaving it with an exception must discard the volume. Volumes are
        opened in order, and earlier ones stay open (unwritten to) until the
        last one is full, so several are open at once; they are left in
        order, all with the same exception on failure. Opening may raise
        :class:`~reasonkit_export.exceptions.FileTooLarge` when the export
        needs more volumes than the factory allows (the service's
        ``max_split_volumes``); every open volume is then discarded.
        """
        ...


@attrs.frozen(kw_only=True)
class SplitResult(WriteResult):
    """What :class:`SplitZipWriter` reports: a :class:`WriteResult` plus the parts.

    Attributes:
        parts: how many volumes were written.
        part_counts: per volume, in order, the records per category it holds.
    """

    parts: int = 1
    part_counts: tuple[Mapping[str, int], ...] = ()


class SplitZipWriter:
    """Writes an export as numbered ZIP volumes, each within the factory's limit.

    Args:
        compresslevel: deflate level, 0-9.
        neutralize_formulas: accepted for symmetry with the ZIP writer; the
            volumes hold no CSV tables (see the module docstring).
        csv_bom: likewise.
    """

    def __init__(
        self, *, compresslevel: int = 6, neutralize_formulas: bool = True, csv_bom: bool = True
    ) -> None:
        self.compresslevel = compresslevel
        self.neutralize_formulas = neutralize_formulas
        self.csv_bom = csv_bom

    def write_volumes(
        self, info: ExportInfo, sections: Iterable[Section], volumes: VolumeFactory
    ) -> SplitResult:
        """Stream every section into as many volumes as needed; read each source once.

        Raises:
            FileTooLarge: one record (with the volume's README and manifest)
                does not fit into an empty volume.
        """
        run = _Run(info, volumes, self.compresslevel)
        try:
            for section in sections:
                run.section(section)
            run.finish()
        except BaseException:
            run.abort(*sys.exc_info())
            raise
        return SplitResult(
            record_counts=run.totals,
            parts=len(run.part_counts),
            part_counts=tuple(run.part_counts),
        )


@attrs.define
class _FullVolume:
    """A volume whose records are all written; README, manifest and end still to come."""

    number: int
    stack: ExitStack
    archive: ZipArchive
    redacted: dict[str, int]


class _Run:
    """One split export being written: the open volume, member and accounting."""

    def __init__(self, info: ExportInfo, volumes: VolumeFactory, compresslevel: int) -> None:
        self.info = info
        self.msg = messages(info.locale)
        self.volumes = volumes
        self.limit = volumes.limit
        self.compresslevel = compresslevel
        self.totals: dict[str, int] = {}
        self.part_counts: list[dict[str, int]] = []
        self._names: dict[str, str] = {}
        self._taken: set[str] = set()
        self._reserve = 0
        self._reserve_stale = False
        self._max_name = 0
        for category in info.categories:
            self._name(category)
        self._sync_every = max(_SYNC_MIN, min(_SYNC_MAX, self.limit // 32))
        # Volumes whose records are all written, waiting for the part count.
        self._full: list[_FullVolume] = []
        # The open volume.
        self._stack: ExitStack | None = None
        self._volume: Volume | None = None
        self._archive: ZipArchive | None = None
        self._counts: dict[str, int] = {}
        self._redacted: dict[str, int] = {}
        self._records = 0
        self._members = 0
        # The open member.
        self._member_cm: AbstractContextManager[_MemberWriter] | None = None
        self._member: _MemberWriter | None = None
        self._category: str | None = None
        self._member_records = 0
        self._pending = 0
        self.open_volume()

    # -- names and the reserve ---------------------------------------------

    def _name(self, category: str, part: int | None = None) -> str:
        """The member name of ``category`` in volume ``part`` (default: the open one).

        ``data/<stem>.part-<n>.json``: stems are unique ignoring case, and a
        name ends in its part number, so names are unique across volumes.
        """
        stem = self._names.get(category)
        if stem is None:
            base = member_stem(category)
            stem = base
            number = 1
            while stem.casefold() in self._taken:
                number += 1
                stem = f"{base}-{number}"
            self._taken.add(stem.casefold())
            self._names[category] = stem
            longest = f"{_DATA_DIR}{stem}.part-{_HUGE}.json"
            self._max_name = max(self._max_name, len(longest.encode("utf-8")))
            # Computed when next needed: rendering it per new category would
            # cost quadratic time in the number of categories.
            self._reserve_stale = True
        part = len(self.part_counts) if part is None else part
        return f"{_DATA_DIR}{stem}.part-{part}.json"

    def _categories(self) -> list[str]:
        """Every category known so far: the export's, then any others met, in order."""
        return list(self._names)

    def _fixed_reserve(self) -> int:
        """Bytes a volume must keep free for its README, manifest and end records.

        Both are rendered as they would be with every category in the volume
        and with numbers wider than any real one, so the real ones are smaller.
        """
        categories = self._categories()
        huge = dict.fromkeys(categories, _HUGE)
        listing = [
            (self._name(c, _HUGE), self.msg("readme.file.part_json", category=c))
            for c in categories
        ]
        listing += [
            (_README_NAME, self.msg("readme.file.readme")),
            (MANIFEST_NAME, self.msg("readme.file.manifest")),
        ]
        readme = render_readme(
            self.info,
            listing,
            counts=huge,
            redacted=_HUGE,
            neutralized=None,
            part=_HUGE,
            parts=_HUGE,
        )
        members = [
            MemberInfo(name=name, size=_HUGE, sha256="f" * 64, media_type=media, category=c)
            for name, media, c in [
                *((self._name(c, _HUGE), _JSON, c) for c in categories),
                (_README_NAME, _TEXT, None),
            ]
        ]
        manifest = encode_manifest(
            build_manifest(
                self.info,
                members=members,
                record_counts=huge,
                redacted_counts=huge,
                part=_HUGE,
                parts=_HUGE,
            )
        )
        small = 0
        for name, data in ((_README_NAME, readme), (MANIFEST_NAME, manifest)):
            encoded = len(name.encode("utf-8"))
            small += _LOCAL_HEADER + encoded + deflate_bound(len(data)) + _DESCRIPTOR
            small += _CENTRAL_ENTRY + encoded
        return small + _END_RECORDS + _MARGIN

    def _member_close_cost(self) -> int:
        """Bytes a data member still needs after its records: tail, descriptor, directory."""
        return deflate_bound(len(_TAIL)) + _DESCRIPTOR + _CENTRAL_ENTRY + self._max_name

    # -- volumes -------------------------------------------------------------

    def open_volume(self) -> None:
        """Open the next volume and a streaming ZIP on it."""
        number = len(self.part_counts) + 1
        stack = ExitStack()
        self._stack = stack
        self._volume = stack.enter_context(self.volumes.open(number))
        self._archive = stack.enter_context(
            ZipArchive(
                cast(BinaryIO, self._volume),
                date_time=self.info.generated_at,
                compresslevel=self.compresslevel,
            )
        )
        self.part_counts.append({})
        self._counts = self.part_counts[-1]
        self._redacted = {}
        self._records = 0
        self._members = 0

    def finish_volume(self) -> None:
        """Close the open member; the volume waits (open) for the part count."""
        assert self._archive is not None
        assert self._stack is not None
        self.close_member()
        self._full.append(
            _FullVolume(
                number=len(self.part_counts),
                stack=self._stack,
                archive=self._archive,
                redacted=self._redacted,
            )
        )
        self._stack = None
        self._archive = None
        self._volume = None

    def finish(self) -> None:
        """Fill the last volume, then write every volume's README, manifest and end."""
        self.finish_volume()
        total = len(self._full)
        while self._full:
            volume = self._full[0]
            counts = {c: self.part_counts[volume.number - 1].get(c, 0) for c in self._categories()}
            self.part_counts[volume.number - 1] = counts
            archive = volume.archive
            listing = [
                (member.name, self.msg("readme.file.part_json", category=member.category))
                for member in archive.members
            ]
            listing += [
                (_README_NAME, self.msg("readme.file.readme")),
                (MANIFEST_NAME, self.msg("readme.file.manifest")),
            ]
            readme = render_readme(
                self.info,
                listing,
                counts=counts,
                redacted=sum(volume.redacted.values()),
                neutralized=None,
                part=volume.number,
                parts=total,
            )
            archive.add(_README_NAME, readme, _TEXT)
            archive.finish(
                self.info,
                record_counts=counts,
                redacted_counts=volume.redacted,
                part=volume.number,
                parts=total,
            )
            self._full.pop(0)
            volume.stack.close()

    def abort(self, *exc_info: Any) -> None:
        """Leave every open volume with the error, so each is discarded, not finished."""
        stacks = [volume.stack for volume in self._full]
        self._full.clear()
        stack, self._stack = self._stack, None
        if stack is not None:
            stacks.append(stack)
        for stack in stacks:
            stack.__exit__(*exc_info)

    # -- members and records -------------------------------------------------

    def open_member(self, category: str) -> None:
        """Start ``category``'s document in the open volume."""
        assert self._archive is not None
        self._member_cm = self._archive.member(
            self._name(category), _JSON, category=category, size_bound=self.limit
        )
        self._member = self._member_cm.__enter__()
        self._category = category
        self._member_records = 0
        self._members += 1
        head = self._head(category)
        self._member.write(head)
        self._pending = len(head)

    def _head(self, category: str) -> bytes:
        number = len(self.part_counts)
        return b'{"category":' + dumps_compact(category) + b',"part":%d,"records":[' % number

    def close_member(self) -> None:
        """End the open document, if any."""
        if self._member is None or self._member_cm is None:
            return
        self._member.write(_TAIL)
        self._member_cm.__exit__(None, None, None)
        self._member_cm = None
        self._member = None
        self._category = None
        self._pending = 0

    def _fits(self, category: str, size: int) -> bool:
        """Whether a record of ``size`` bytes still fits into the open volume."""
        assert self._volume is not None
        members = self._members
        if self._category == category:
            pending = deflate_bound(self._pending + size + 2)
        else:
            # A new member: its local header now; the open one's end is in the
            # per-member close cost below, its compressor's content here.
            members += 1
            pending = deflate_bound(self._pending) + _LOCAL_HEADER + self._max_name
            pending += deflate_bound(len(self._head(category)) + size + 2)
        if self._reserve_stale:
            self._reserve = self._fixed_reserve()
            self._reserve_stale = False
        need = self._volume.size + pending + members * self._member_close_cost() + self._reserve
        return need <= self.limit

    def section(self, section: Section) -> None:
        """Stream one section's records into the volumes."""
        category = section.category
        self._name(category)
        redacted = self.info.stats.redacted
        seen_redacted = redacted.get(category, 0)
        count = 0
        for record in section.records:
            data = dumps_compact(record)
            # The redaction hook counts a record as it is yielded; the change
            # belongs to the volume the record lands in.
            now = redacted.get(category, 0)
            delta, seen_redacted = now - seen_redacted, now
            self._place(category, data, delta)
            count += 1
        self.totals[category] = self.totals.get(category, 0) + count
        if count == 0:
            # An empty category still gets its (empty) document, so a reader
            # sees it was exported.
            self.close_member()
            if not self._fits(category, 0):
                self.finish_volume()
                self.open_volume()
            self.open_member(category)
            self._counts.setdefault(category, 0)
        self.close_member()

    def _place(self, category: str, data: bytes, redacted: int) -> None:
        if not self._fits(category, len(data)):
            if self._records == 0:
                raise FileTooLarge(self.limit)
            self.finish_volume()
            self.open_volume()
            if not self._fits(category, len(data)):
                raise FileTooLarge(self.limit)
        if self._category != category:
            self.close_member()
            self.open_member(category)
        member = self._member
        assert member is not None
        member.write((b",\n" if self._member_records else b"\n") + data)
        self._member_records += 1
        self._records += 1
        self._pending += len(data) + 2
        self._counts[category] = self._counts.get(category, 0) + 1
        if redacted:
            self._redacted[category] = self._redacted.get(category, 0) + redacted
        if self._pending >= self._sync_every and member.sync():
            self._pending = 0
