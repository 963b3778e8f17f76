"""AsyncExportService and AsyncDownload: the sync core, awaitable, never blocking the loop."""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import inspect
import itertools
import json
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, BinaryIO, TypeVar
from uuid import uuid4

import pytest

from reasonkit_export import (
    ExportConfig,
    ExportNotFound,
    ExportService,
    ExportStatus,
    InvalidRequest,
    NotificationEvent,
    RateLimit,
    RateLimitExceeded,
)
from reasonkit_export._async import AsyncDownload, AsyncExportService
from reasonkit_export.exceptions import ExportExpired, ScheduleNotFound
from reasonkit_export.testing import (
    ExportTestKit,
    MemoryStorage,
    RecordingNotifier,
    StaticDataSource,
    make_test_config,
    make_test_service,
)

T = TypeVar("T")


def run(main: Callable[[], Awaitable[T]]) -> T:
    """Run an async test body on a fresh event loop."""

    async def wrapped() -> T:
        return await main()

    return asyncio.run(wrapped())


@pytest.fixture
def kit() -> Iterator[ExportTestKit]:
    """A test kit on fakes; its storage is freed afterwards."""
    kit = make_test_service()
    yield kit
    kit.storage.clear()


async def _collect(download: AsyncDownload, chunk_size: int | None = None) -> bytes:
    chunks = download if chunk_size is None else download.aiter_chunks(chunk_size)
    return b"".join([chunk async for chunk in chunks])


def test_full_flow_create_process_status_history_download(kit: ExportTestKit) -> None:
    """An export created, built and streamed through the async API matches its recorded sha256."""

    async def main() -> None:
        async with AsyncExportService(kit.service) as service:
            job = await service.create_export("alice", "json", ["profile", "reasoning_history"])
            assert job.status is ExportStatus.PENDING
            done = await service.process_export(job.id)
            assert done.status is ExportStatus.COMPLETED
            status = await service.get_status(job.id, user_id="alice")
            assert status.status is ExportStatus.COMPLETED
            assert [j.id for j in await service.get_history("alice")] == [job.id]
            assert (await service.get_job(job.id)).id == job.id
            async with await service.open_download(job.id, user_id="alice") as download:
                assert (download.job_id, download.filename) == (job.id, done.filename)
                assert (download.media_type, download.size) == (done.media_type, done.file_size)
                assert download.sha256 == done.sha256
                raw = await _collect(download)
            assert download.closed
            assert hashlib.sha256(raw).hexdigest() == done.sha256
            assert len(raw) == done.file_size
            document = json.loads(raw)
            assert document["record_counts"] == {"profile": 1, "reasoning_history": 3}
            assert kit.notifier.events(job.id) == [NotificationEvent.COMPLETED]

    run(main)


def test_errors_propagate_with_their_types(kit: ExportTestKit) -> None:
    """ExportNotFound, InvalidRequest and RateLimitExceeded reach the awaiting caller unchanged."""
    limited = make_test_service(config=make_test_config(rate_limit=RateLimit(max_active=1)))

    async def main() -> None:
        async with (
            AsyncExportService(kit.service) as service,
            AsyncExportService(limited.service) as strict,
        ):
            with pytest.raises(ExportNotFound):
                await service.get_status(uuid4(), user_id="alice")
            job = await service.create_export("alice", "json", "profile")
            with pytest.raises(ExportNotFound):
                await service.get_status(job.id, user_id="mallory")
            with pytest.raises(InvalidRequest, match="unknown categories"):
                await service.create_export("alice", "json", ["nope"])
            await strict.create_export("bob", "json", "profile")
            with pytest.raises(RateLimitExceeded) as caught:
                await strict.create_export("bob", "csv", "profile")
            assert caught.value.reason == "active"

    run(main)
    limited.storage.clear()


class SlowSource:
    """A data source that blocks its thread for ``delay`` seconds before yielding."""

    def __init__(self, category: str, delay: float) -> None:
        self.category = category
        self.delay = delay
        self.threads: list[str] = []

    def records(self, user_id: str) -> Iterator[Mapping[str, Any]]:
        """Sleep (blocking), then yield one record."""
        self.threads.append(threading.current_thread().name)
        time.sleep(self.delay)
        yield {"user": user_id}


def test_event_loop_keeps_ticking_while_a_slow_source_blocks() -> None:
    """A source blocking 0.3 s runs in a worker thread: a 10 ms ticker on the loop keeps going."""
    source = SlowSource("profile", 0.3)
    kit = make_test_service(sources=[source])

    async def main() -> tuple[int, float]:
        ticks: list[float] = []
        stop = asyncio.Event()

        async def ticker() -> None:
            while not stop.is_set():
                ticks.append(time.perf_counter())
                await asyncio.sleep(0.01)

        async with AsyncExportService(kit.service) as service:
            job = await service.create_export("alice", "json", "profile")
            task = asyncio.create_task(ticker())
            await asyncio.sleep(0)
            done = await service.process_export(job.id)
            stop.set()
            await task
        assert done.status is ExportStatus.COMPLETED
        gaps = [b - a for a, b in itertools.pairwise(ticks)]
        return len(ticks), max(gaps, default=float("inf"))

    count, widest_gap = run(main)
    assert count >= 10, f"only {count} ticks in 0.3 s: the loop was blocked"
    assert widest_gap < 0.2, f"the loop stalled for {widest_gap:.3f} s"
    assert source.threads[0].startswith("reasonkit-export")
    kit.storage.clear()


def test_several_downloads_stream_concurrently(kit: ExportTestKit) -> None:
    """Downloads of several users read interleaved in chunks, each intact."""
    users = [f"user-{n}" for n in range(4)]

    async def main() -> None:
        async with AsyncExportService(kit.service, max_workers=4) as service:
            jobs = []
            for user in users:
                job = await service.create_export(user, "json", "all")
                jobs.append(await service.process_export(job.id))

            async def fetch(user: str, job_id: Any) -> bytes:
                async with await service.open_download(job_id, user_id=user) as download:
                    return await _collect(download, chunk_size=64)

            bodies = await asyncio.gather(
                *(fetch(user, job.id) for user, job in zip(users, jobs, strict=True))
            )
            for job, body in zip(jobs, bodies, strict=True):
                assert hashlib.sha256(body).hexdigest() == job.sha256
                assert json.loads(body)["export"]["user_id"] == job.user_id

    run(main)


def test_read_and_chunking(kit: ExportTestKit) -> None:
    """read(n) reads partially, aiter_chunks honours its size and refuses a non-positive one."""
    job = kit.run_export("alice", "csv", "profile")

    async def main() -> None:
        async with AsyncExportService(kit.service) as service:
            async with await service.open_download(job.id, user_id="alice") as download:
                head = await download.read(4)
                rest = await download.read()
                assert await download.read() == b""
            assert hashlib.sha256(head + rest).hexdigest() == job.sha256
            async with await service.open_download(job.id, user_id="alice") as download:
                sizes = [len(chunk) async for chunk in download.aiter_chunks(7)]
                with pytest.raises(InvalidRequest):
                    download.aiter_chunks(0)
            assert sum(sizes) == job.file_size
            assert max(sizes) == 7
            await download.aclose()  # idempotent

    run(main)


def test_async_download_wraps_a_sync_download_on_the_default_executor(
    kit: ExportTestKit,
) -> None:
    """AsyncDownload(download) works alone, reading through the loop's default executor."""
    job = kit.run_export("alice")

    async def main() -> bytes:
        async with AsyncDownload(kit.service.open_download(job.id, user_id="alice")) as download:
            assert download.sync.job_id == job.id
            assert "AsyncDownload(" in repr(download)
            return await _collect(download)

    assert hashlib.sha256(run(main)).hexdigest() == job.sha256


def test_download_by_signed_token() -> None:
    """create_download_token and open_download_by_token work awaited."""
    kit = make_test_service(config=make_test_config(signing_keys=["k" * 32]))
    job = kit.run_export("alice")

    async def main() -> bytes:
        async with AsyncExportService(kit.service) as service:
            token = await service.create_download_token(job.id, user_id="alice")
            async with await service.open_download_by_token(token) as download:
                return await download.read()

    assert hashlib.sha256(run(main)).hexdigest() == job.sha256
    kit.storage.clear()


def test_lifecycle_cancel_expire_recover_and_deadlines(kit: ExportTestKit) -> None:
    """cancel_export, expire_exports, recover_stale, extend_deadline and overdue_exports forward."""
    finished = kit.run_export("alice")

    async def main() -> None:
        async with AsyncExportService(kit.service) as service:
            pending = await service.create_export("bob", "json", "profile")
            cancelled = await service.cancel_export(pending.id, user_id="bob")
            assert cancelled.status is ExportStatus.CANCELLED
            waiting = await service.create_export("carol", "json", "profile")
            assert waiting.due_at is not None
            extended = await service.extend_deadline(
                waiting.id, "complex request", waiting.due_at + timedelta(days=30)
            )
            assert extended.deadline_extension_reason == "complex request"
            kit.clock.advance(days=100)
            assert [j.id for j in await service.overdue_exports()] == [waiting.id]
            assert [j.id for j in await service.recover_stale()] == [waiting.id]
            expired = await service.expire_exports()
            assert [j.id for j in expired] == [finished.id]
            with pytest.raises(ExportExpired):
                await service.open_download(finished.id, user_id="alice")

    run(main)


def test_schedules_round_trip(kit: ExportTestKit) -> None:
    """Schedules are created, listed, updated field by field, run when due and deleted."""

    async def main() -> None:
        async with AsyncExportService(kit.service) as service:
            schedule = await service.schedule_export("alice", "0 3 * * *", "json", "all")
            assert [s.id for s in await service.list_schedules("alice")] == [schedule.id]
            changed = await service.update_schedule(schedule.id, user_id="alice", format="csv")
            assert changed.cron_expression == "0 3 * * *"
            assert changed.format.value == "csv"
            got = await service.get_schedule(schedule.id, user_id="alice")
            assert got.version == changed.version
            kit.clock.advance(days=1)
            jobs = await service.run_due_schedules()
            assert [job.schedule_id for job in jobs] == [schedule.id]
            await service.delete_schedule(schedule.id, user_id="alice")
            with pytest.raises(ScheduleNotFound):
                await service.get_schedule(schedule.id, user_id="alice")

    run(main)


def test_every_public_sync_method_has_an_async_twin() -> None:
    """Each public ExportService method has a coroutine of the same name and parameters."""
    for name, method in inspect.getmembers(ExportService, inspect.isfunction):
        if name.startswith("_") or name == "from_config":
            continue
        twin = getattr(AsyncExportService, name, None)
        assert twin is not None, f"AsyncExportService lacks {name}"
        assert inspect.iscoroutinefunction(twin), f"AsyncExportService.{name} is not async"
        expected = [
            (p.name, p.kind, p.default) for p in inspect.signature(method).parameters.values()
        ]
        actual = [(p.name, p.kind, p.default) for p in inspect.signature(twin).parameters.values()]
        assert actual == expected, f"AsyncExportService.{name} differs from the sync signature"


def test_aclose_shuts_down_its_own_executor_only(kit: ExportTestKit) -> None:
    """aclose stops the dedicated pool and refuses calls, but leaves a caller's executor running."""

    async def main() -> None:
        own = AsyncExportService(kit.service)
        await own.get_history("alice")
        await own.aclose()
        await own.aclose()
        assert own.closed
        with pytest.raises(RuntimeError, match="closed"):
            await own.get_history("alice")
        with ThreadPoolExecutor(max_workers=1) as pool:
            async with AsyncExportService(kit.service, executor=pool) as borrowed:
                await borrowed.get_history("alice")
            assert pool.submit(lambda: 42).result() == 42

    run(main)
    with pytest.raises(InvalidRequest):
        AsyncExportService(kit.service, executor=ThreadPoolExecutor(), max_workers=2)
    with pytest.raises(InvalidRequest):
        AsyncExportService(object())  # type: ignore[arg-type]


def test_download_outliving_its_service_still_closes(kit: ExportTestKit) -> None:
    """A download closed after the service's pool shut down is closed in place."""
    job = kit.run_export("alice")

    async def main() -> AsyncDownload:
        service = AsyncExportService(kit.service)
        download = await service.open_download(job.id, user_id="alice")
        await service.aclose()
        await download.aclose()
        return download

    assert run(main).closed


class TrackedStream:
    """A read stream that remembers whether it was closed (fsspec memory files never close)."""

    def __init__(self, inner: BinaryIO) -> None:
        self.inner = inner
        self.closed = False

    def read(self, size: int = -1, /) -> bytes:
        """Read from the wrapped stream."""
        return self.inner.read(size)

    def close(self) -> None:
        """Mark closed and close the wrapped stream."""
        self.closed = True
        self.inner.close()


class GatedStorage(MemoryStorage):
    """A memory storage whose open_read waits for a gate and remembers what it opened."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.opened: list[TrackedStream] = []

    def open_read(self, key: str) -> BinaryIO:
        """Open ``key`` once the gate opens."""
        self.entered.set()
        self.gate.wait(5)
        stream = TrackedStream(super().open_read(key))
        self.opened.append(stream)
        return stream  # type: ignore[return-value]


def test_cancelled_open_download_closes_the_stream_it_opened() -> None:
    """A client that goes away while a download opens leaves no storage stream open."""
    storage = GatedStorage()
    storage.gate.set()
    kit = make_test_service(storage=storage)
    job = kit.run_export("alice")
    storage.gate.clear()
    storage.entered.clear()
    storage.opened.clear()

    async def main() -> None:
        async with AsyncExportService(kit.service) as service:
            task = asyncio.create_task(service.open_download(job.id, user_id="alice"))
            await asyncio.to_thread(storage.entered.wait, 5)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            storage.gate.set()
            for _ in range(200):
                if storage.opened and storage.opened[0].closed:
                    break
                await asyncio.sleep(0.01)

    run(main)
    assert len(storage.opened) == 1
    assert storage.opened[0].closed
    storage.clear()


def test_context_variables_reach_the_worker_thread(kit: ExportTestKit) -> None:
    """The caller's context variables (request ids for logging) are visible in the sync core."""
    request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id")
    seen: list[str] = []

    class Source(StaticDataSource):
        def records(self, user_id: str) -> Iterator[Mapping[str, Any]]:
            seen.append(request_id.get("unset"))
            yield from super().records(user_id)

    kit = make_test_service(sources=[Source("profile", [{"a": 1}])])

    async def main() -> None:
        request_id.set("req-42")
        async with AsyncExportService(kit.service) as service:
            job = await service.create_export("alice", "json", "profile")
            await service.process_export(job.id)

    run(main)
    assert seen == ["req-42"]
    kit.storage.clear()


def test_from_config_wraps_a_configured_service() -> None:
    """from_config builds the sync service from the config and exposes it as .sync."""
    config = ExportConfig(storage_backend="memory", rate_limit=None)
    notifier = RecordingNotifier()
    service = AsyncExportService.from_config(
        config, sources=[StaticDataSource("profile", [{"a": 1}])], max_workers=2, notifier=notifier
    )
    assert isinstance(service.sync, ExportService)
    assert service.sync.config is config
    assert service.categories == ("profile",)
    assert "AsyncExportService(" in repr(service)

    async def main() -> ExportStatus:
        async with service:
            job = await service.create_export("alice", "json", "profile")
            return (await service.process_export(job.id)).status

    assert run(main) is ExportStatus.COMPLETED
    assert notifier.events() == [NotificationEvent.COMPLETED]
