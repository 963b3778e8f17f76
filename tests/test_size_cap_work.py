"""The size cap bounds the work of an export, not only its output.

With a 1 MiB cap: the temporary files stop at the documented bound, an
endless and very compressible source is abandoned after a bounded number of
records, and a single record larger than the cap fails the job before any
writer renders it. Work is measured in counts (records pulled, bytes on
disk), never in seconds.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from reasonkit_export import ExportConfig, ExportService, ExportStatus
from reasonkit_export.formats._spool import UNCOMPRESSED_FACTOR

Factory = Callable[..., ExportService]
CAP = 1024 * 1024
RECORD_TEXT = "All work and no play makes Jack a dull boy. " * 23  # ~1 KB, compresses ~100x
# Per temporary file at most UNCOMPRESSED_FACTOR x the cap; at most five such
# files at once (records, CSV rows, the HTML view's input and pages, one
# buffered ZIP member), each with up to 1 MiB of write buffer on top.
TEMP_BOUND = 5 * (UNCOMPRESSED_FACTOR * CAP + CAP)
# Each record spooled or streamed takes more than 1,000 bytes uncompressed,
# so no stream reaches UNCOMPRESSED_FACTOR x the cap after more records than this.
PULL_BOUND = UNCOMPRESSED_FACTOR * CAP // 1000 + 100


def temporary_bytes(root: Path) -> int:
    """Bytes in ``root``'s files, named or anonymous (open but already unlinked)."""
    total = 0
    for folder, _dirs, names in os.walk(root):
        for name in names:
            with contextlib.suppress(FileNotFoundError):
                total += (Path(folder) / name).stat().st_size
    prefix = str(root)
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = str(Path(f"/proc/self/fd/{fd}").readlink())
            if target.startswith(prefix) and target.endswith("(deleted)"):
                total += os.fstat(int(fd)).st_size
        except OSError:
            pass
    return total


class EndlessSource:
    """A source that never ends: very compressible records, counting each one pulled."""

    def __init__(self, category: str, root: Path) -> None:
        self.category = category
        self.root = root
        self.pulled = 0
        self.peak_temporary = 0

    def records(self, user_id: str) -> Iterator[Mapping[str, Any]]:
        """Yield records forever, noting the temporary files' size every 256 records."""
        while True:
            self.pulled += 1
            if not self.pulled % 256:
                self.peak_temporary = max(self.peak_temporary, temporary_bytes(self.root))
            yield {"n": self.pulled, "text": RECORD_TEXT, "user": user_id}


@pytest.fixture
def temp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """TMPDIR for this test (and the child processes it starts) points at a fresh folder."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setenv("TMPDIR", str(root))
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


def _config(**changes: Any) -> ExportConfig:
    options: dict[str, Any] = {
        "storage_backend": "memory",
        "rate_limit": None,
        "max_file_size_mb": 1,
        "compression_enabled": True,
        "compression_level": 1,
        "max_attempts": 3,
    }
    options.update(changes)
    return ExportConfig(**options)


pytestmark = pytest.mark.skipif(
    not Path("/proc/self/fd").is_dir(), reason="counts open temporary files through /proc"
)

CASES = {
    "json": ("json", {}),
    "csv": ("csv", {}),
    "csv-several": ("csv", {}),
    "pdf": ("pdf", {}),
    "zip": ("zip", {}),
    "zip-json-only": (
        "zip",
        {"zip_include_pdf": False, "zip_include_csv": False, "zip_include_html": False},
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_an_endless_source_stops_at_the_cap(
    make_service: Factory, temp_root: Path, case: str
) -> None:
    """An endless compressible source fails the job after a bounded number of records."""
    fmt, changes = CASES[case]
    endless = EndlessSource("activity", temp_root)
    sources: list[Any] = [endless]
    categories = ["activity"]
    if case == "csv-several":
        from reasonkit_export.testing import StaticDataSource

        sources.append(StaticDataSource("profile", [{"name": "Alice"}]))
        categories = ["profile", "activity"]
    service = make_service(sources=sources, config=_config(**changes))
    job = service.process_export(service.create_export("alice", fmt, categories).id)
    assert job.status is ExportStatus.FAILED
    assert job.attempt == 1  # a data error: no retry
    assert job.error is not None
    assert "size limit of 1048576 bytes" in job.error
    assert "'activity'" in job.error
    assert str(temp_root) not in job.error
    assert 0 < endless.pulled <= PULL_BOUND
    assert endless.peak_temporary <= TEMP_BOUND
    assert temporary_bytes(temp_root) == 0  # everything removed after the failure


class HugeValueSource:
    """One ordinary record, then one whose text alone is larger than the cap."""

    category = "notes"

    def __init__(self, size: int) -> None:
        self.size = size

    def records(self, user_id: str) -> Iterator[Mapping[str, Any]]:
        """Yield the two records."""
        yield {"title": "short", "user": user_id}
        yield {"title": "long", "body": "z" * self.size}


@pytest.mark.parametrize("fmt", ["pdf", "zip", "csv", "json"])
def test_a_record_larger_than_the_cap_fails_before_it_is_rendered(
    make_service: Factory, temp_root: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    """A single value over the cap fails the job at once, naming the category, unrendered."""
    from reasonkit_export.formats import _pdf

    def no_rendering(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the PDF report was rendered")

    monkeypatch.setattr(_pdf._Report, "render", no_rendering)
    service = make_service(
        sources=[HugeValueSource(20 * CAP)],
        config=_config(zip_pdf_summary_above=None, compression_enabled=False),
    )
    job = service.process_export(service.create_export("alice", fmt, ["notes"]).id)
    assert job.status is ExportStatus.FAILED
    assert job.attempt == 1
    assert job.error is not None
    if fmt in {"pdf", "zip"}:
        # Spooled writers measure each record as they spool it.
        assert "a record of category 'notes' is larger than the size limit" in job.error
    else:
        assert "size limit of 1048576 bytes" in job.error
        assert "'notes'" in job.error
    assert temporary_bytes(temp_root) == 0


def test_an_export_under_the_cap_is_unaffected(make_service: Factory, temp_root: Path) -> None:
    """Data that compresses to well under the cap still exports in every member."""
    from reasonkit_export.testing import StaticDataSource

    records = [{"n": n, "text": RECORD_TEXT} for n in range(2000)]  # ~2 MB, twice the cap
    service = make_service(
        sources=[StaticDataSource("activity", records)], config=_config(zip_pdf_summary_above=10)
    )
    for fmt in ("json", "csv", "zip"):
        job = service.process_export(service.create_export("alice", fmt, ["activity"]).id)
        assert job.status is ExportStatus.COMPLETED, job.error
        assert job.file_size is not None
        assert job.file_size <= CAP


def _memory_files(root: str) -> list[str]:
    """Every file stored under the fsspec memory folder ``root`` (``memory://...``)."""
    import fsspec

    fs = fsspec.filesystem("memory")
    path = root.removeprefix("memory://")
    return list(fs.find(path)) if fs.exists(path) else []


def _records_per_volume_bound() -> int:
    """The most records of EndlessSource's kind that fit into one volume of CAP bytes.

    Measured by deflating a run of such records with the writer's level and
    no flushes at all: the writer's periodic sync flushes, headers and
    reserve only make each record cost more, so no volume holds more.
    """
    import json
    import zlib

    sample = 20_000
    deflate = zlib.compressobj(1, zlib.DEFLATED, -15)
    size = 0
    for n in range(1, sample + 1):
        line = json.dumps({"n": n, "text": RECORD_TEXT, "user": "alice"}, separators=(",", ":"))
        size += len(deflate.compress(b",\n" + line.encode()))
    size += len(deflate.flush())
    return CAP * sample // size + 1


def test_an_endless_source_stops_at_the_volume_limit(
    make_service: Factory, temp_root: Path
) -> None:
    """A split export of an endless source fails after max_split_volumes, leaving nothing."""
    from reasonkit_export.storage import FsspecStorage

    class Bounded(EndlessSource):
        """EndlessSource that gives up far past the bound, so a regression fails, not hangs."""

        def records(self, user_id: str) -> Iterator[Mapping[str, Any]]:
            for record in super().records(user_id):
                if self.pulled > 2 * bound:
                    raise RuntimeError("the export did not stop at max_split_volumes")
                yield record

    volumes = 3
    bound = volumes * _records_per_volume_bound() + 100
    root = f"memory://volumes-{os.getpid()}-{id(temp_root)}"
    endless = Bounded("activity", temp_root)
    service = make_service(
        sources=[endless],
        storage=FsspecStorage(root),
        config=_config(split_archives=True, max_split_volumes=volumes),
    )
    job = service.process_export(service.create_export("alice", "zip", ["activity"]).id)
    assert job.status is ExportStatus.FAILED
    assert job.attempt == 1  # a data error: no retry
    assert job.error is not None
    assert "more than 3 volumes of at most 1048576 bytes each" in job.error
    assert "max_split_volumes" in job.error
    assert "'activity'" in job.error
    assert str(temp_root) not in job.error
    assert 0 < endless.pulled <= bound
    assert _memory_files(root) == []  # no volume of the failed export stays
    assert temporary_bytes(temp_root) == 0


def test_a_split_export_within_the_volume_limit_completes(
    make_service: Factory, temp_root: Path
) -> None:
    """Exactly max_split_volumes volumes complete; one fewer allowed fails the same data."""
    import hashlib

    from reasonkit_export.testing import StaticDataSource

    # ~2.7 MB of hex that deflates to about half: a few 1 MiB volumes.
    records = [
        {"n": n, "text": "".join(hashlib.sha256(f"{n}/{k}".encode()).hexdigest() for k in range(8))}
        for n in range(5000)
    ]
    source = StaticDataSource("activity", records)
    service = make_service(sources=[source], config=_config(split_archives=True))
    job = service.process_export(service.create_export("alice", "zip", ["activity"]).id)
    assert job.status is ExportStatus.COMPLETED, job.error
    needed = len(job.parts)
    assert needed >= 2

    exact = make_service(
        sources=[source], config=_config(split_archives=True, max_split_volumes=needed)
    )
    job = exact.process_export(exact.create_export("alice", "zip", ["activity"]).id)
    assert job.status is ExportStatus.COMPLETED, job.error
    assert len(job.parts) == needed
    assert all(exact.storage.exists(part.key) for part in job.parts)

    short = make_service(
        sources=[source], config=_config(split_archives=True, max_split_volumes=needed - 1)
    )
    job = short.process_export(short.create_export("alice", "zip", ["activity"]).id)
    assert job.status is ExportStatus.FAILED
    assert job.error is not None
    assert f"more than {needed - 1} volumes" in job.error
    assert job.parts == ()
