"""The reader matrix: ZIP readers nobody here wrote open our archives, member by member.

Readers: Python ``zipfile`` (central directory), ``bsdtar`` reading from a
pipe and Java's ``ZipInputStream`` (both front to back, from the local
headers), JSZip (in-browser reader, central directory) and ``unzipper``
(Node, streaming). Each reports every member's size and SHA-256, which must
equal what :func:`tests.interop.walk.walk` finds in the bytes we wrote.

Archives: a whole export (JSON, CSV tables, PDF, README, manifest) deflated
and stored, and a JSON-only export (its ``data.json`` has no size bound, so
it is buffered). Members over 4 GiB (deflated and stored, followed by a
member whose offset is past 4 GiB) take minutes per reader, more than CI
affords: ``python -m bench.zip_readers`` runs that matrix (results in
``docs/performance.md``).

A missing reader skips its tests locally; ``.ci/run`` installs every reader
and sets ``REASONKIT_INTEROP_REQUIRED=1``, which turns a missing one into a
failure.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from reasonkit_export.formats._base import ExportInfo, Section
from reasonkit_export.formats._zip import ZipWriter
from tests.interop.readers import Reader, compile_java, expected, reader_named
from tests.interop.walk import walk

WHEN = datetime(2025, 6, 1, 9, 30, 15, tzinfo=UTC)


def _records(count: int) -> Iterator[dict[str, object]]:
    for n in range(count):
        yield {
            "id": n,
            "prompt": f"Frage {n}: naïve café – 🙂 {'x' * (n % 40)}",
            "amount": Decimal(f"-{n}.50"),
            "big": 2**60 + n,
            "tags": ["a", "b"],
            "meta": {"model": "m1", "tokens": n * 7},
        }


def _info(categories: tuple[str, ...]) -> ExportInfo:
    return ExportInfo(
        export_id=UUID("12345678-1234-5678-1234-567812345678"),
        user_id="user-42",
        generated_at=WHEN,
        format="zip",
        categories=categories,
        generator="reasonkit_export interop test",
    )


def _export(path: Path, **options: object) -> None:
    categories = ("profile", "reasoning_history")
    sections = [
        Section(category="profile", records=[{"name": "Zoë", "email": "z@example.org"}]),
        Section(category="reasoning_history", records=_records(2000)),
    ]
    with path.open("wb") as sink:
        ZipWriter(**options).write(_info(categories), sections, sink)  # type: ignore[arg-type]


SMALL: dict[str, dict[str, Any]] = {
    "deflated": {"compresslevel": 6},
    "stored": {"compresslevel": 0},
    "json_only": {"include_csv": False, "include_pdf": False},
}


@pytest.fixture(scope="session")
def small_archives(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The small archives, written once per session."""
    folder = tmp_path_factory.mktemp("small-archives")
    paths = {}
    for name, options in SMALL.items():
        path = folder / f"{name}.zip"
        _export(path, **options)
        paths[name] = path
    return paths


@pytest.fixture(scope="session")
def java_classes(tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    """ReadZip.java compiled once per session (None when there is no JDK)."""
    return compile_java(tmp_path_factory.mktemp("java"))


READERS = ["zipfile", "bsdtar-pipe", "java-ZipInputStream", "jszip", "unzipper"]


@pytest.fixture
def reader(request: pytest.FixtureRequest, java_classes: Path | None) -> Reader:
    """One reader of the matrix, by name."""
    return reader_named(request.param, java_classes)


# -- the matrix ----------------------------------------------------------------


@pytest.mark.parametrize("reader", READERS, indirect=True)
@pytest.mark.parametrize("archive", list(SMALL))
def test_reader_opens_every_member(
    reader: Reader, archive: str, small_archives: dict[str, Path]
) -> None:
    """Every reader lists every member of the export with the bytes we wrote."""
    path = small_archives[archive]
    wanted = expected(path)
    assert "manifest.json" in wanted
    assert reader(path) == wanted


def test_zip64_only_where_needed(small_archives: dict[str, Path]) -> None:
    """Small exports carry no ZIP64 structure at all, and the lowest version needed."""
    for name, path in small_archives.items():
        walked = walk(path.read_bytes())
        assert not walked["zip64_end"], name
        versions = {entry["version"] for entry in walked["locals"]}
        assert versions == ({10} if name == "stored" else {20}), name
