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


class _Wide:
    """A data source of ``count`` records with a nested mapping, a time stamp and prose."""

    category = "rows"

    def __init__(self, count: int) -> None:
        self.count_ = count

    def records(self, user_id: str) -> Iterator[dict[str, Any]]:
        start = datetime(2025, 1, 1, tzinfo=UTC)
        for n in range(self.count_):
            yield {
                "n": n,
                "at": start,
                "text": f"record number {n} with a little prose to wrap " * 3,
                "meta": {"model": "m1", "ok": n % 3 == 0},
            }


def _zip_config(**options: Any) -> ExportConfig:
    return ExportConfig(
        storage_backend="memory",
        compression_enabled=False,
        zip_pdf_summary_above=1_000,
        **options,
    )


def test_zip_progress_moves_while_every_member_is_written(
    make_service: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A default ZIP's progress climbs from the reading share to 90 % in many steps, in order."""
    monkeypatch.setattr(builder, "_PROGRESS_MIN_INTERVAL", 0.0)
    steps: list[tuple[int, int]] = []
    from reasonkit_export.formats import _zip

    original = _zip._RenderProgress.report
    parent_done: list[int] = []  # per step: the records the parent itself counted
    child_counted: list[bool] = []  # per step: whether the child's count was added

    def record(self: Any) -> None:
        rendered = self.rendered() if self.rendered is not None else 0
        steps.append((self.done + rendered, self.total))
        parent_done.append(self.done)
        child_counted.append(self.rendered is not None)
        original(self)

    monkeypatch.setattr(_zip._RenderProgress, "report", record)
    repository = _Recording()
    service = make_service(sources=[_Wide(30_000)], repository=repository, config=_zip_config())
    job = service.create_export("alice", "zip", ["rows"])
    assert service.process_export(job.id).status is ExportStatus.COMPLETED
    values = repository.progress
    assert values == sorted(values)
    writing = [value for value in values if 50 < value < 90]
    # data.json, the CSV table and the HTML pages each move it, not one jump at the end.
    assert len(set(writing)) >= 8
    done = [d for d, _ in steps]
    assert done == sorted(done)
    total = steps[-1][1]
    # data.json + CSV + rendering and pages of the HTML view + the summary's 100 records.
    assert total == 30_000 * 4 + 100
    assert done[-1] == total
    # The steps the parent takes (data.json, the CSV table, the pages) are small:
    # none over a tenth of the work. The HTML child's count is added to each
    # report as it stands: the child renders and packs pages while the parent
    # writes data.json and the table, and a fast child gets through any number
    # of records between two of the parent's reports (or a quarter second's
    # heartbeat while the parent waits, see
    # test_waiting_for_a_child_keeps_the_heartbeat). Once the child is done,
    # its count moves into the parent's in one step: not a step of work.
    own = [
        (a, b)
        for (a, b), (counted, still) in zip(
            itertools.pairwise(parent_done), itertools.pairwise(child_counted), strict=True
        )
        if b != a and counted == still
    ]
    assert len(own) > 8
    assert all(b - a <= total // 10 for a, b in own)


def test_zip_without_the_html_view_reports_its_members_too(
    make_service: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """JSON and CSV alone (no PDF, no HTML view) still move progress past the reading share."""
    monkeypatch.setattr(builder, "_PROGRESS_MIN_INTERVAL", 0.0)
    repository = _Recording()
    config = _zip_config(zip_include_pdf=False, zip_include_html=False)
    service = make_service(sources=[_Wide(20_000)], repository=repository, config=config)
    job = service.create_export("alice", "zip", ["rows"])
    assert service.process_export(job.id).status is ExportStatus.COMPLETED
    values = repository.progress
    assert values == sorted(values)
    assert len({value for value in values if 50 < value < 90}) >= 4


def test_cancel_while_zip_members_are_written_stops_soon(
    make_service: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cancel after reading, while the ZIP's members are written, ends the build promptly."""
    monkeypatch.setattr(builder, "_CANCEL_CHECK_INTERVAL", 0.0)
    monkeypatch.setattr(builder, "_PROGRESS_MIN_INTERVAL", 0.0)
    storage = FsspecStorage(f"memory://t-{uuid.uuid4().hex}")
    repository = _Recording()
    service = make_service(
        sources=[_Wide(30_000)], repository=repository, storage=storage, config=_zip_config()
    )
    job = service.create_export("alice", "zip", ["rows"])
    cancelled = threading.Event()
    trigger: list[int] = []

    def cancel_once_writing(saved: Any) -> None:
        if saved.progress > 50 and not cancelled.is_set():
            trigger.append(saved.progress)
            cancelled.set()
            thread = threading.Thread(
                target=service.cancel_export, args=(job.id,), kwargs={"user_id": "alice"}
            )
            thread.start()
            thread.join()

    repository.on_save = cancel_once_writing
    result = service.process_export(job.id)
    assert cancelled.is_set()
    assert result.status is ExportStatus.CANCELLED
    # The first step past reading may be large (the HTML child renders while
    # the records are read); after the cancel, progress moves no further.
    assert max(repository.progress) <= trigger[0] + 3
    assert [path for path in storage.fs.find("/") if str(job.id) in path] == []


def test_waiting_for_a_child_keeps_the_heartbeat(monkeypatch: pytest.MonkeyPatch) -> None:
    """While the HTML child still renders, the parent calls the heartbeat (cancel, progress)."""
    from reasonkit_export.formats import _base
    from reasonkit_export.formats._html import HtmlView, HtmlWorker

    monkeypatch.setattr(_base, "CHILD_HEARTBEAT", 0.01)
    view = HtmlView(attrs.evolve(_info(), format="zip"))
    worker = HtmlWorker.start(view)
    assert worker is not None
    beats: list[int] = []
    try:
        spool = worker.spool("a")
        for n in range(20_000):
            spool.add_json(f'{{"n":{n},"text":"some words to render"}}'.encode())
        packed = worker.finish(heartbeat=lambda: beats.append(worker.rendered()))
        assert packed[0].count == 20_000
    finally:
        worker.close()
    assert beats
    assert beats == sorted(beats)
