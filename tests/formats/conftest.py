"""Shared fixtures for the format writers: export info, sinks and once-only sources."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest

from reasonkit_export.formats._base import ExportInfo

GENERATED_AT = datetime(2025, 6, 1, 9, 30, 15, tzinfo=UTC)
EXPORT_ID = UUID("12345678-1234-5678-1234-567812345678")


class UnseekableSink:
    """A write-only sink: like a socket or an HTTP body, it cannot seek or tell."""

    def __init__(self) -> None:
        self._buffer = io.BytesIO()
        self.writes = 0

    def write(self, data: bytes) -> int:
        """Take all of ``data``."""
        self.writes += 1
        return self._buffer.write(data)

    def flush(self) -> None:
        """Nothing to flush."""

    def seek(self, *args: Any) -> int:
        """Refuse, as a pipe does."""
        raise OSError("unseekable sink")

    def tell(self) -> int:
        """Refuse, as a pipe does."""
        raise OSError("unseekable sink")

    def getvalue(self) -> bytes:
        """Everything written so far."""
        return self._buffer.getvalue()


class OnceOnly:
    """An iterable of records that fails if iterated a second time."""

    def __init__(self, records: Iterable[Mapping[str, Any]]) -> None:
        self._records = list(records)
        self.iterations = 0

    def __iter__(self) -> Iterator[Mapping[str, Any]]:
        self.iterations += 1
        if self.iterations > 1:
            raise AssertionError("the data source was iterated twice")
        return iter(self._records)


@pytest.fixture
def make_info() -> Callable[..., ExportInfo]:
    """Build an ExportInfo for the given categories and format."""

    def make(*categories: str, fmt: str = "zip") -> ExportInfo:
        return ExportInfo(
            export_id=EXPORT_ID,
            user_id="user-42",
            generated_at=GENERATED_AT,
            format=fmt,
            categories=tuple(categories),
            generator="reasonkit_export test",
        )

    return make


@pytest.fixture
def read_csv() -> Callable[[bytes], list[list[str]]]:
    """Parse CSV bytes (UTF-8, optional BOM) with the stdlib csv module."""

    def read(data: bytes) -> list[list[str]]:
        text = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="")
        return list(csv.reader(text, strict=True))

    return read


@pytest.fixture
def unseekable() -> Callable[[], UnseekableSink]:
    """Make a sink that raises on seek and tell."""
    return UnseekableSink


@pytest.fixture
def once_only() -> Callable[[Iterable[Mapping[str, Any]]], OnceOnly]:
    """Wrap records in an iterable that refuses a second pass."""
    return OnceOnly
