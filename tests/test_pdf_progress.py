"""Progress and cancel while a PDF report renders (after the sources are read)."""

from __future__ import annotations

import io
import itertools
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest

from reasonkit_export import ExportConfig, ExportService, ExportStatus
from reasonkit_export import _builder as builder
from reasonkit_export.formats._base import ExportInfo, Section
from reasonkit_export.formats._pdf import PdfWriter
from reasonkit_export.repositories import InMemoryJobRepository
from reasonkit_export.storage import FsspecStorage

Factory = Callable[..., ExportService]


class _Rows:
    """A data source of ``count`` small records."""

    category = "rows"

    def __init__(self, count: int) -> None:
        self.count_ = count

    def records(self, user_id: str) -> Iterator[dict[str, Any]]:
        for n in range(self.count_):
            yield {"n": n, "text": f"record number {n} with a little prose to wrap"}


class _Recording(InMemoryJobRepository):
    """Remembers every progress value saved while a job processes."""

    def __init__(self) -> None:
        super().__init__()
        self.progress: list[int] = []
        self.on_save: Callable[[Any], None] | None = None

    def save(self, job: Any) -> Any:
        saved = super().save(job)
        if saved.status is ExportStatus.PROCESSING:
            self.progress.append(saved.progress)
            if self.on_save is not None:
                self.on_save(saved)
        return saved


def _info() -> ExportInfo:
    return ExportInfo(
        export_id=uuid.uuid4(),
        user_id="u",
        generated_at=datetime(2025, 1, 1, tzinfo=UTC),
        format="pdf",
        categories=("a", "b"),
        generator="tests",
    )


def test_writer_reports_rendered_records_in_small_steps() -> None:
    """The render callback sees done/total rise in steps of at most 256 records, ending at total."""
    calls: list[tuple[int, int]] = []
    PdfWriter(progress=lambda done, total: calls.append((done, total))).write(
        _info(),
        [
            Section(category="a", records=[{"n": n} for n in range(700)]),
            Section(category="b", records=[{"n": n} for n in range(500)]),
        ],
        io.BytesIO(),
    )
    assert calls[-1] == (1200, 1200)
    done = [0] + [d for d, _ in calls]
    assert all(0 <= b - a <= 256 for a, b in itertools.pairwise(done))
    assert {total for _, total in calls} == {1200}


def test_summary_report_counts_only_the_records_it_shows() -> None:
    """A summary's progress total is the shown records, and its pages say how many are left out."""
    calls: list[tuple[int, int]] = []
    sink = io.BytesIO()
    result = PdfWriter(progress=lambda d, t: calls.append((d, t)), summary_records=10).write(
        _info(),
        [
            Section(category="a", records=[{"n": n} for n in range(700)]),
            Section(category="b", records=[{"n": n} for n in range(5)]),
        ],
        sink,
    )
    assert calls[-1] == (15, 15)
    assert result.summary
    assert result.record_counts == {"a": 700, "b": 5}
    from pypdf import PdfReader

    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(sink.getvalue())).pages)
    assert "690 more records of this category are not shown" in " ".join(text.split())
    assert "index.html" in text


def test_progress_moves_while_the_pdf_renders(
    make_service: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Progress written during rendering climbs past the reading share towards 90 %."""
    monkeypatch.setattr(builder, "_PROGRESS_MIN_INTERVAL", 0.0)
    repository = _Recording()
    service = make_service(sources=[_Rows(3000)], repository=repository)
    job = service.create_export("alice", "pdf", ["rows"])
    assert service.process_export(job.id).status is ExportStatus.COMPLETED
    values = repository.progress
    assert values == sorted(values)
    rendering = [value for value in values if 45 < value < 90]
    # One write per 256 records rendered: many distinct steps, not one jump.
    assert len(set(rendering)) >= 8


def test_cancel_while_rendering_stops_and_leaves_nothing(
    make_service: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cancel during rendering is noticed at the next render step; no artifact remains."""
    monkeypatch.setattr(builder, "_CANCEL_CHECK_INTERVAL", 0.0)
    storage = FsspecStorage(f"memory://t-{uuid.uuid4().hex}")
    repository = _Recording()
    service = make_service(sources=[_Rows(20_000)], repository=repository, storage=storage)
    job = service.create_export("alice", "pdf", ["rows"])
    cancelled = threading.Event()

    def cancel_once_rendering(saved: Any) -> None:
        if saved.progress > 50 and not cancelled.is_set():
            cancelled.set()
            # Another process cancels: run it on its own thread, as a request would.
            thread = threading.Thread(
                target=service.cancel_export, args=(job.id,), kwargs={"user_id": "alice"}
            )
            thread.start()
            thread.join()

    monkeypatch.setattr(builder, "_PROGRESS_MIN_INTERVAL", 0.0)
    repository.on_save = cancel_once_rendering
    result = service.process_export(job.id)
    assert cancelled.is_set()
    assert result.status is ExportStatus.CANCELLED
    # The build stopped right after the cancel rather than rendering on.
    assert max(repository.progress) <= 53
    assert [path for path in storage.fs.find("/") if str(job.id) in path] == []


def test_lease_check_notices_a_cancel(make_service: Factory) -> None:
    """WorkerLease.check() raises Superseded once the job is no longer this attempt's."""
    service = make_service(sources=[_Rows(1)])
    job = service.create_export("alice", "json", ["rows"])
    claimed = service.repository.save(
        attrs.evolve(job, status=ExportStatus.PROCESSING, attempt=job.attempt + 1)
    )
    lease = builder.WorkerLease(
        claimed,
        repository=service.repository,
        config=ExportConfig(storage_backend="memory"),
        clock=lambda: datetime.now(UTC),
    )
    lease._last_write = lease._last_check = 0.0  # long ago: the next check reads the job
    lease.check()  # still ours
    service.cancel_export(job.id, user_id="alice")
    lease._last_write = lease._last_check = 0.0
    with pytest.raises(builder.Superseded):
        lease.check()
    assert lease.superseded
