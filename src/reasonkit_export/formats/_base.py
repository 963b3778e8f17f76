"""What format writers are given and return.

The port itself, :class:`~reasonkit_export.protocols.FormatWriter`, lives in
:mod:`reasonkit_export.protocols` and is re-exported here.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

import attrs

from reasonkit_export._about import CategoryDescription
from reasonkit_export.protocols import FormatWriter

__all__ = [
    "ArtifactPlan",
    "ExportInfo",
    "ExportStats",
    "FormatWriter",
    "Section",
    "Sink",
    "WriteResult",
]

Record = Mapping[str, Any]


class Sink(Protocol):
    """Anything a writer can write bytes to (a file, a zip member, a gzip stream)."""

    def write(self, data: bytes, /) -> int | None:
        """Write all of ``data``."""


@attrs.define
class ExportStats:
    """Facts the service learns while records stream, for writers that finish last.

    ``redacted`` counts, per category, the records a redaction hook changed;
    it is complete once every section has been iterated (the ZIP manifest and
    the JSON document's tail are written after that).
    """

    redacted: dict[str, int] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ExportInfo:
    """What a writer knows about the export it renders (never a secret).

    Attributes:
        since: the lower bound of an incremental export, or None for a full one.
        since_applied: the categories whose sources honoured ``since``; the
            others were exported in full.
        stats: filled in while records stream (see :class:`ExportStats`).
        locale: the language of fixed texts (README, PDF headings).
        about: per category, its Art. 15(1) description (only fields set).
        controller: the controller's Art. 15 facts, if configured.
        timezone: the IANA zone people's views show times in (JSON and CSV
            keep UTC).
        descriptions: per category, the data source's
            :class:`~reasonkit_export.CategoryDescription` (titles and field
            labels for the views people read).
        html_index: the archive member of the HTML view's entry page, when
            the writer's output sits next to one (the PDF cover points to it).
        excluded_fields: per category, the fields its data source left out
            on purpose (credentials, for example); the manifest lists them.
    """

    export_id: UUID
    user_id: str
    generated_at: datetime
    format: str
    categories: tuple[str, ...]
    generator: str
    since: datetime | None = None
    since_applied: tuple[str, ...] = ()
    stats: ExportStats = attrs.field(factory=ExportStats)
    locale: str = "en"
    about: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict)
    controller: Mapping[str, Any] | None = None
    timezone: str = "UTC"
    descriptions: Mapping[str, CategoryDescription] = attrs.field(factory=dict)
    html_index: str | None = None
    excluded_fields: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class Section:
    """One category's records, in the order the data source yields them.

    ``records`` can be iterated ONCE; a writer that needs two passes spools
    them (see :mod:`reasonkit_export.formats._spool`). Iterating it may raise
    :class:`~reasonkit_export.exceptions.SourceError`, which writers let through.

    ``encoded``, when set, yields the same records already encoded as compact
    JSON (one ``bytes`` per record, as a :class:`RecordSpool` stores them);
    writers that emit JSON may copy these instead of encoding again, and must
    then not iterate ``records``.
    """

    category: str
    records: Iterable[Record]
    encoded: Iterable[bytes] | None = None


@attrs.frozen(kw_only=True)
class WriteResult:
    """What a writer reports after a successful write.

    Attributes:
        warnings: human-readable notes for the manifest (e.g. replaced glyphs).
        record_counts: records written per category.
    """

    warnings: tuple[str, ...] = ()
    record_counts: Mapping[str, int] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ArtifactPlan:
    """The shape of the artifact a writer will produce for an export.

    Attributes:
        extension: file name extension without the dot (``json``, ``zip``).
        media_type: the IANA media type of the uncompressed artifact.
        gzip_allowed: whether service-level gzip applies (not for ZIP or PDF,
            which compress inside).
    """

    extension: str
    media_type: str
    gzip_allowed: bool


#: How often a parent waiting for a rendering child process calls its heartbeat.
CHILD_HEARTBEAT = 0.25


def wait_for_child(
    process: subprocess.Popen[bytes], heartbeat: Callable[[], None] | None = None
) -> int:
    """Wait for a rendering child process and return its exit code.

    ``heartbeat`` is called every :data:`CHILD_HEARTBEAT` seconds while the
    child runs (progress, and a chance to notice a cancel: it may raise).
    """
    while True:
        try:
            return process.wait(timeout=CHILD_HEARTBEAT)
        except subprocess.TimeoutExpired:
            if heartbeat is not None:
                heartbeat()
