"""Spool records to a temporary file so a writer can read them more than once.

A data source is read exactly once per export (one consistent pass, no
second query); writers that need two passes (CSV column discovery, the PDF's
cover page counts, the ZIP's several members) spool the records here as JSON
lines and iterate the spool as often as they like. Memory stays bounded by
one record; the temporary file is anonymous and removed on close.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any

from reasonkit_export._encoding import dumps_compact

__all__ = ["RecordSpool"]

_BUFFER = 1024 * 1024


class RecordSpool:
    """Records on disk as JSON lines, already normalised to the JSON data model."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(buffering=_BUFFER)  # noqa: SIM115 - closed by close()
        self.count = 0

    def add(self, record: Mapping[str, Any]) -> bytes:
        """Append one record; return its compact JSON (without the line break)."""
        line = dumps_compact(record)
        self._file.write(line + b"\n")
        self.count += 1
        return line

    def extend(self, records: Iterable[Mapping[str, Any]]) -> int:
        """Append every record of ``records``; return how many were added."""
        before = self.count
        for record in records:
            self.add(record)
        return self.count - before

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """Yield the records in the order they were added, as plain JSON values."""
        self._file.flush()
        self._file.seek(0)
        try:
            for line in self._file:
                value: dict[str, Any] = json.loads(line)
                yield value
        finally:
            self._to_end()

    @property
    def nbytes(self) -> int:
        """Bytes stored so far: the records' compact JSON plus one newline each."""
        position: int = self._file.tell()
        return position

    def iter_encoded(self) -> Iterator[bytes]:
        """Yield the records as stored: compact JSON bytes, without the newline."""
        self._file.flush()
        self._file.seek(0)
        try:
            for line in self._file:
                yield line[:-1]
        finally:
            self._to_end()

    def _to_end(self) -> None:
        """Back to the end after reading, also when the reader stopped early.

        ``nbytes`` and :meth:`add` need it; a reader dropped after
        :meth:`close` (an export that failed mid-way) finds nothing to do.
        """
        if not self._file.closed:
            self._file.seek(0, 2)

    def close(self) -> None:
        """Remove the temporary file."""
        self._file.close()

    def __enter__(self) -> RecordSpool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
