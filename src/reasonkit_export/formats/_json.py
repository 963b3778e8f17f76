"""The JSON writer: one RFC 8259 document, streamed record by record.

Layout (``schema_version`` 1)::

    {"format": "reasonkit_export", "schema_version": 1, "generator": "...",
     "export": {"id": "...", "user_id": "...", "generated_at": "...",
                "categories": ["profile", ...]},
     "categories": {
       "profile": {"about": {...}, "records": [
         {...},
         {...}]},
       ...},
     "record_counts": {"profile": 2, ...},
     "redacted_counts": {"reasoning_history": 1}}

An incremental export (``since``) adds ``"window"`` to the head: ``since``,
``until`` (the generation time), and which categories were filtered or
exported in full because their source cannot filter.

``about`` (the category's Art. 15(1) description) appears only when its data
source describes itself; ``controller`` in the head only when configured.
Records appear one per line inside their array, so a reader can also stream
them. Values follow :mod:`reasonkit_export._encoding`.
"""

from __future__ import annotations

from collections.abc import Iterable
from time import sleep
from typing import BinaryIO

from reasonkit_export._encoding import dumps_compact
from reasonkit_export.formats._base import ArtifactPlan, ExportInfo, Section, WriteResult

__all__ = ["JSON_SCHEMA_VERSION", "JsonWriter"]

JSON_SCHEMA_VERSION = 1
_FLUSH_AT = 256 * 1024
_BATCH = 256  # records joined at once: one bytes join instead of many small appends


class JsonWriter:
    """Writes an export as one JSON document."""

    def plan(self, info: ExportInfo) -> ArtifactPlan:
        """A single ``.json`` document; gzip applies."""
        return ArtifactPlan(extension="json", media_type="application/json", gzip_allowed=True)

    def write(self, info: ExportInfo, sections: Iterable[Section], sink: BinaryIO) -> WriteResult:
        """Stream ``sections`` into ``sink`` as one JSON document."""
        head = {
            "format": "reasonkit_export",
            "schema_version": JSON_SCHEMA_VERSION,
            "generator": info.generator,
            "export": {
                "id": info.export_id,
                "user_id": info.user_id,
                "generated_at": info.generated_at,
                "categories": list(info.categories),
            },
        }
        if info.controller:
            head["controller"] = info.controller
        if info.since is not None:
            # An incremental export states its window and who honoured it.
            head["window"] = {
                "since": info.since,
                "until": info.generated_at,
                "categories_filtered": list(info.since_applied),
                "categories_in_full": [c for c in info.categories if c not in info.since_applied],
            }
        # Emit the head without its closing brace, then stream the categories.
        sink.write(dumps_compact(head)[:-1] + b',\n"categories":{')
        counts: dict[str, int] = {}
        buffer = bytearray()
        for index, section in enumerate(sections):
            prefix = b"" if index == 0 else b","
            buffer += prefix + dumps_compact(section.category) + b":{"
            about = info.about.get(section.category)
            if about:
                # Art. 15(1) information travels with the data it describes.
                buffer += b'"about":' + dumps_compact(about) + b","
            buffer += b'"records":['
            count = 0
            encoded = section.encoded
            if encoded is None:
                encoded = map(dumps_compact, section.records)
            batch: list[bytes] = []
            for line in encoded:
                batch.append(line)
                if len(batch) == _BATCH:
                    buffer += (b"\n" if count == 0 else b",\n") + b",\n".join(batch)
                    count += len(batch)
                    batch.clear()
                    if len(buffer) >= _FLUSH_AT:
                        sink.write(bytes(buffer))
                        buffer.clear()
                    # A batch is about half a millisecond of encoding. The sink
                    # is often a BackgroundSink, whose thread compresses, hashes
                    # and stores earlier blocks: it needs the GIL back after each
                    # of those calls, and this thread, running Python, would keep
                    # it for up to the switch interval (5 ms). sleep(0) lets it
                    # go now: a JSON export takes 10-20 % less time.
                    sleep(0)
            if batch:
                buffer += (b"\n" if count == 0 else b",\n") + b",\n".join(batch)
                count += len(batch)
            buffer += b"]}"
            counts[section.category] = count
        buffer += b'},\n"record_counts":' + dumps_compact(counts)
        buffer += b',\n"redacted_counts":' + dumps_compact(info.stats.redacted) + b"}\n"
        sink.write(bytes(buffer))
        return WriteResult(record_counts=counts)
