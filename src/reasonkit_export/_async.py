"""AsyncExportService: the export service for asyncio hosts (FastAPI, Starlette, aiohttp, arq).

The sync :class:`~reasonkit_export.ExportService` does blocking I/O (repository,
storage, data sources). This wrapper runs every call in worker threads, so the
event loop never waits on it. Each method forwards to the sync method of the
same name through :meth:`AsyncExportService._call`; adding one is three lines::

    async def get_job(self, job_id: UUID | str) -> ExportJob:
        \"\"\"...\"\"\"
        return await self._call(self._sync.get_job, job_id)
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from datetime import datetime
from types import TracebackType
from typing import Any, ParamSpec, TypeAlias, TypeVar
from uuid import UUID

from reasonkit_export._compat import renamed_keyword
from reasonkit_export._download import CHUNK_SIZE, Download
from reasonkit_export._models import (
    Category,
    ExportConfig,
    ExportFormat,
    ExportJob,
    ScheduledExport,
)
from reasonkit_export._service import _UNSET, ExportService
from reasonkit_export.exceptions import InvalidRequest
from reasonkit_export.protocols import DataSource

__all__ = ["AsyncDownload", "AsyncExportService"]

_T = TypeVar("_T")
_P = ParamSpec("_P")
_Categories: TypeAlias = Sequence[Category | str] | Category | str


class _Offload:
    """Runs blocking calls in an executor (None: the loop's default), off the event loop."""

    def __init__(self, executor: Executor | None, *, owned: bool) -> None:
        self.executor = executor
        self.owned = owned
        self.closed = False

    def submit(
        self, func: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs
    ) -> asyncio.Future[_T]:
        """Start ``func`` in the executor, with the caller's context variables."""
        if self.closed:
            raise RuntimeError("this AsyncExportService is closed")
        context = contextvars.copy_context()
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(self.executor, lambda: context.run(func, *args, **kwargs))

    async def __call__(self, func: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        return await self.submit(func, *args, **kwargs)

    def close_soon(self, download: Download) -> None:
        """Close ``download`` in the executor, or here if the executor is gone."""
        if not self.closed and self.executor is not None:
            try:
                self.executor.submit(download.close)
            except RuntimeError:  # shut down by someone else meanwhile
                pass
            else:
                return
        download.close()


class AsyncDownload:
    """A completed export streamed without blocking the event loop.

    Reads run in the service's worker threads::

        async with await service.open_download(job_id, user_id=user) as download:
            async for chunk in download:
                await send(chunk)

    Attributes:
        job_id: the export's id.
        filename: a suggested file name (for ``Content-Disposition``).
        media_type: the IANA media type (for ``Content-Type``).
        size: the artifact size in bytes, as streamed.
        sha256: hex SHA-256 of the artifact, as streamed.

    Args:
        download: the sync handle to wrap (it is closed with this one).
        executor: where reads run (default: the event loop's default executor).
    """

    def __init__(self, download: Download, *, executor: Executor | None = None) -> None:
        self._download = download
        self._offload = _Offload(executor, owned=False)
        # A thread lock, not an asyncio one: a read whose awaiting task was
        # cancelled keeps running in its thread, and the next read must wait.
        self._lock = threading.Lock()
        self.job_id: UUID = download.job_id
        self.filename: str = download.filename
        self.media_type: str = download.media_type
        self.size: int = download.size
        self.sha256: str = download.sha256

    @classmethod
    def _wrap(cls, download: Download, offload: _Offload) -> AsyncDownload:
        """Wrap ``download`` to read through a service's (shared) offload."""
        wrapper = cls(download)
        wrapper._offload = offload
        return wrapper

    @property
    def sync(self) -> Download:
        """The wrapped sync :class:`~reasonkit_export.Download`."""
        return self._download

    @property
    def closed(self) -> bool:
        """Whether the storage stream has been released."""
        return self._download.closed

    def __repr__(self) -> str:
        return f"AsyncDownload(job_id={self.job_id}, filename={self.filename!r}, size={self.size})"

    def _read(self, size: int) -> bytes:
        with self._lock:
            return self._download.read(size)

    async def read(self, n: int = -1) -> bytes:
        """Read up to ``n`` bytes (all remaining bytes when negative)."""
        return await self._offload(self._read, n)

    def aiter_chunks(self, chunk_size: int = CHUNK_SIZE) -> AsyncIterator[bytes]:
        """Iterate over the artifact in chunks of at most ``chunk_size`` bytes.

        Raises:
            InvalidRequest: ``chunk_size`` is not a positive integer.
        """
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise InvalidRequest(f"chunk_size must be a positive integer, got {chunk_size!r}")
        return _Chunks(self, chunk_size)

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self.aiter_chunks()

    async def aclose(self) -> None:
        """Release the underlying storage stream; idempotent."""
        if self._download.closed:
            return
        if self._offload.closed:
            self._download.close()  # the service's threads are gone; closing is quick
            return
        await self._offload(self._download.close)

    async def __aenter__(self) -> AsyncDownload:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class _Chunks:
    """The iterator behind :meth:`AsyncDownload.aiter_chunks` (no async generator to finalise)."""

    def __init__(self, download: AsyncDownload, chunk_size: int) -> None:
        self._download = download
        self._chunk_size = chunk_size
        self._done = False

    def __aiter__(self) -> _Chunks:
        return self

    async def __anext__(self) -> bytes:
        if self._done:
            raise StopAsyncIteration
        chunk = await self._download.read(self._chunk_size)
        if not chunk:
            self._done = True
            raise StopAsyncIteration
        return chunk


class AsyncExportService:
    """The :class:`~reasonkit_export.ExportService` API, awaitable, for asyncio hosts.

    Every method runs the sync method of the same name in a worker thread and
    has its signature, return value, exceptions and documentation; the event
    loop is never blocked. Build one at start-up (no running loop is needed)
    and close it on shutdown::

        service = AsyncExportService(ExportService(sources=[...]), max_workers=8)
        job = await service.create_export(user_id, "json", "all")
        ...
        await service.aclose()

    A call whose awaiting task is cancelled still finishes in its thread (the
    sync core keeps the job consistent); only its result is dropped. A
    download opened by a cancelled call is closed.

    Args:
        service: the sync service to run (see :attr:`sync`).
        executor: where calls run; it stays the caller's, :meth:`aclose`
            leaves it running. Default: a dedicated thread pool.
        max_workers: the size of the dedicated pool (default: Python's
            ``ThreadPoolExecutor`` default). Not with ``executor``.
    """

    def __init__(
        self,
        service: ExportService,
        *,
        executor: Executor | None = None,
        max_workers: int | None = None,
    ) -> None:
        if not isinstance(service, ExportService):
            raise InvalidRequest(f"expected an ExportService, got {type(service).__name__}")
        if executor is not None and max_workers is not None:
            raise InvalidRequest("give either executor or max_workers, not both")
        owned = executor is None
        if executor is None:
            executor = ThreadPoolExecutor(
                max_workers=max_workers, thread_name_prefix="reasonkit-export"
            )
        self._sync = service
        self._offload = _Offload(executor, owned=owned)

    @classmethod
    def from_config(
        cls,
        config: ExportConfig,
        *,
        sources: Iterable[DataSource],
        executor: Executor | None = None,
        max_workers: int | None = None,
        **options: Any,
    ) -> AsyncExportService:
        """Build the sync service with :meth:`ExportService.from_config` and wrap it.

        ``options`` are the other arguments of :meth:`ExportService.from_config`
        (``repository``, ``notifier``, ``storage_options``, ...). Runs
        synchronously (it may create the local storage directory): call it at
        start-up, not from a request handler.
        """
        service = ExportService.from_config(config, sources=sources, **options)
        return cls(service, executor=executor, max_workers=max_workers)

    @property
    def sync(self) -> ExportService:
        """The wrapped sync service (for its repositories, storage and config)."""
        return self._sync

    @property
    def categories(self) -> tuple[str, ...]:
        """Every registered category, in registration order."""
        return self._sync.categories

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._offload.closed

    def __repr__(self) -> str:
        return f"AsyncExportService({self._sync!r})"

    async def _call(self, func: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        """Run ``func(*args, **kwargs)`` in a worker thread and await its result."""
        return await self._offload(func, *args, **kwargs)

    async def _open(
        self, func: Callable[_P, Download], /, *args: _P.args, **kwargs: _P.kwargs
    ) -> AsyncDownload:
        """Open a download in a worker thread; close it if the caller is cancelled meanwhile."""
        future = self._offload.submit(func, *args, **kwargs)
        try:
            download = await asyncio.shield(future)
        except asyncio.CancelledError:
            future.add_done_callback(self._close_orphan)
            raise
        return AsyncDownload._wrap(download, self._offload)

    def _close_orphan(self, future: asyncio.Future[Download]) -> None:
        if not future.cancelled() and future.exception() is None:
            self._offload.close_soon(future.result())

    # ----------------------------------------------------------------- requests

    async def create_export(
        self,
        user_id: str | int | UUID,
        format: ExportFormat | str,  # noqa: A002 - the sync API's name
        categories: _Categories,
        *,
        notify: bool = True,
        since: datetime | None = None,
        override_reason: str | None = None,
        locale: str | None = None,
        timezone: str | None = None,
    ) -> ExportJob:
        """Request an export and return its pending job (:meth:`ExportService.create_export`)."""
        return await self._call(
            self._sync.create_export,
            user_id,
            format,
            categories,
            notify=notify,
            since=since,
            override_reason=override_reason,
            locale=locale,
            timezone=timezone,
        )

    async def get_job(self, job_id: UUID | str) -> ExportJob:
        """Return any job, without an ownership check (:meth:`ExportService.get_job`)."""
        return await self._call(self._sync.get_job, job_id)

    async def get_status(self, job_id: UUID | str, *, user_id: str | int | UUID) -> ExportJob:
        """Return the user's job (:meth:`ExportService.get_status`)."""
        return await self._call(self._sync.get_status, job_id, user_id=user_id)

    async def get_history(self, user_id: str | int | UUID, *, limit: int = 20) -> list[ExportJob]:
        """Return the user's jobs, newest first (:meth:`ExportService.get_history`)."""
        return await self._call(self._sync.get_history, user_id, limit=limit)

    async def cancel_export(self, job_id: UUID | str, *, user_id: str | int | UUID) -> ExportJob:
        """Cancel the user's unfinished export (:meth:`ExportService.cancel_export`)."""
        return await self._call(self._sync.cancel_export, job_id, user_id=user_id)

    # ---------------------------------------------------------------- deadlines

    async def extend_deadline(self, job_id: UUID | str, reason: str, until: datetime) -> ExportJob:
        """Extend an export's Art. 12(3) deadline once (:meth:`ExportService.extend_deadline`)."""
        return await self._call(self._sync.extend_deadline, job_id, reason, until)

    async def overdue_exports(self, now: datetime | None = None) -> list[ExportJob]:
        """Jobs past their deadline, not completed (:meth:`ExportService.overdue_exports`)."""
        return await self._call(self._sync.overdue_exports, now)

    # ---------------------------------------------------------------- the worker

    async def process_export(self, job_id: UUID | str) -> ExportJob:
        """Build the export (:meth:`ExportService.process_export`); for arq-style async workers."""
        return await self._call(self._sync.process_export, job_id)

    # -------------------------------------------------------- downloads, expiry

    async def open_download(
        self, job_id: UUID | str, *, user_id: str | int | UUID, part: int | None = None
    ) -> AsyncDownload:
        """Open the user's completed export for streaming (:meth:`ExportService.open_download`)."""
        return await self._open(self._sync.open_download, job_id, user_id=user_id, part=part)

    async def create_download_token(self, job_id: UUID | str, *, user_id: str | int | UUID) -> str:
        """Return a signed download token (:meth:`ExportService.create_download_token`)."""
        return await self._call(self._sync.create_download_token, job_id, user_id=user_id)

    async def open_download_by_token(self, token: str, *, part: int | None = None) -> AsyncDownload:
        """Open the export a signed token names (:meth:`ExportService.open_download_by_token`)."""
        return await self._open(self._sync.open_download_by_token, token, part=part)

    async def expire_exports(self) -> list[ExportJob]:
        """Expire completed exports past their expiry (:meth:`ExportService.expire_exports`)."""
        return await self._call(self._sync.expire_exports)

    async def recover_stale(self) -> list[ExportJob]:
        """Repair what crashed workers left (:meth:`ExportService.recover_stale`)."""
        return await self._call(self._sync.recover_stale)

    # --------------------------------------------------------------- schedules

    async def schedule_export(
        self,
        user_id: str | int | UUID,
        cron_expression: str,
        format: ExportFormat | str,  # noqa: A002 - the sync API's name
        categories: _Categories,
        *,
        notify: bool = True,
        timezone: str = "UTC",
        incremental: bool = False,
        notify_email: bool = _UNSET,
    ) -> ScheduledExport:
        """Create a recurring export (:meth:`ExportService.schedule_export`)."""
        return await self._call(
            self._sync.schedule_export,
            user_id,
            cron_expression,
            format,
            categories,
            notify=renamed_keyword("notify_email", notify_email, notify, unset=_UNSET),
            timezone=timezone,
            incremental=incremental,
        )

    async def list_schedules(self, user_id: str | int | UUID) -> list[ScheduledExport]:
        """Return the user's schedules, oldest first (:meth:`ExportService.list_schedules`)."""
        return await self._call(self._sync.list_schedules, user_id)

    async def get_schedule(
        self, schedule_id: UUID | str, *, user_id: str | int | UUID
    ) -> ScheduledExport:
        """Return the user's schedule (:meth:`ExportService.get_schedule`)."""
        return await self._call(self._sync.get_schedule, schedule_id, user_id=user_id)

    async def update_schedule(
        self,
        schedule_id: UUID | str,
        *,
        user_id: str | int | UUID,
        cron_expression: str = _UNSET,
        format: ExportFormat | str = _UNSET,  # noqa: A002 - the sync API's name
        categories: _Categories = _UNSET,
        timezone: str = _UNSET,
        enabled: bool = _UNSET,
        notify: bool = _UNSET,
        incremental: bool = _UNSET,
        notify_email: bool = _UNSET,
    ) -> ScheduledExport:
        """Change the given fields of a schedule (:meth:`ExportService.update_schedule`)."""
        return await self._call(
            self._sync.update_schedule,
            schedule_id,
            user_id=user_id,
            cron_expression=cron_expression,
            format=format,
            categories=categories,
            timezone=timezone,
            enabled=enabled,
            notify=renamed_keyword("notify_email", notify_email, notify, unset=_UNSET),
            incremental=incremental,
        )

    async def delete_schedule(self, schedule_id: UUID | str, *, user_id: str | int | UUID) -> None:
        """Delete the user's schedule (:meth:`ExportService.delete_schedule`)."""
        await self._call(self._sync.delete_schedule, schedule_id, user_id=user_id)

    async def run_due_schedules(self, now: datetime | None = None) -> list[ExportJob]:
        """Create one job per due schedule (:meth:`ExportService.run_due_schedules`)."""
        return await self._call(self._sync.run_due_schedules, now)

    # ----------------------------------------------------------------- lifecycle

    async def aclose(self) -> None:
        """Refuse further calls and shut down the thread pool this service created.

        Waits for calls already running (an export being built finishes).
        A caller-supplied executor is left running. Idempotent.
        """
        if self._offload.closed:
            return
        self._offload.closed = True
        executor = self._offload.executor
        if self._offload.owned and executor is not None:
            await asyncio.to_thread(executor.shutdown, wait=True)

    async def __aenter__(self) -> AsyncExportService:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
