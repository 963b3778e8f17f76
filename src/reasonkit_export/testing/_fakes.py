"""Test doubles for host code: a clock, data sources, storage and a notifier you can inspect.

:func:`make_test_service` wires them all into an :class:`ExportService` and
returns an :class:`ExportTestKit` holding the service and every fake.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import attrs

from reasonkit_export._models import (
    Category,
    ExportConfig,
    ExportFormat,
    ExportJob,
    NotificationEvent,
    StorageBackend,
    ensure_utc,
)
from reasonkit_export._service import ExportService
from reasonkit_export.protocols import DataSource, JobRepository, ScheduleRepository
from reasonkit_export.repositories import InMemoryJobRepository, InMemoryScheduleRepository
from reasonkit_export.storage import FsspecStorage

__all__ = [
    "SAMPLE_RECORDS",
    "ExportTestKit",
    "FailingDataSource",
    "FrozenClock",
    "MemoryStorage",
    "RecordingNotifier",
    "SentNotification",
    "StaticDataSource",
    "make_test_config",
    "make_test_service",
]


class FrozenClock:
    """A clock that stands still until told to move.

    >>> clock = FrozenClock(datetime(2025, 1, 1, tzinfo=UTC))
    >>> clock.advance(hours=2)
    datetime.datetime(2025, 1, 1, 2, 0, tzinfo=datetime.timezone.utc)
    """

    def __init__(self, now: datetime | None = None) -> None:
        self._now = ensure_utc(now) if now is not None else datetime(2025, 1, 1, 12, tzinfo=UTC)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        """The frozen time."""
        with self._lock:
            return self._now

    def set(self, now: datetime) -> datetime:
        """Move the clock to ``now`` (aware)."""
        with self._lock:
            self._now = ensure_utc(now)
            return self._now

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        """Move the clock forward by ``delta`` or by timedelta keyword arguments."""
        step = delta if delta is not None else timedelta(**kwargs)
        with self._lock:
            self._now += step
            return self._now


class StaticDataSource:
    """Serves the same records to every user (or per user, given a mapping).

    Args:
        category: the category it serves.
        records: the records, or a mapping of user id to that user's records.
    """

    def __init__(
        self,
        category: str,
        records: Iterable[Mapping[str, Any]] | Mapping[str, Iterable[Mapping[str, Any]]] = (),
    ) -> None:
        self.category = category
        self._records = records
        self.calls: list[str] = []

    def records(self, user_id: str) -> Iterator[Mapping[str, Any]]:
        """Yield the configured records."""
        self.calls.append(user_id)
        records = self._records
        if isinstance(records, Mapping):
            yield from records.get(user_id, ())
        else:
            yield from records

    def count(self, user_id: str) -> int | None:
        """How many records :meth:`records` will yield, when known."""
        records = self._records
        if isinstance(records, Mapping):
            mine = records.get(user_id, ())
            return len(mine) if isinstance(mine, list | tuple) else None
        return len(records) if isinstance(records, list | tuple) else None

    def __repr__(self) -> str:
        return f"StaticDataSource({self.category!r})"


class FailingDataSource:
    """Yields ``fail_after`` records, then raises ``error`` (a data source outage)."""

    def __init__(
        self,
        category: str,
        *,
        fail_after: int = 0,
        error: Callable[[], BaseException] = lambda: ConnectionError("database unavailable"),
        record: Mapping[str, Any] | None = None,
    ) -> None:
        self.category = category
        self._fail_after = fail_after
        self._error = error
        self._record = dict(record or {"n": 0})

    def records(self, user_id: str) -> Iterator[Mapping[str, Any]]:
        """Yield some records, then fail."""
        for index in range(self._fail_after):
            yield {**self._record, "n": index}
        raise self._error()


@attrs.frozen
class SentNotification:
    """One notification a :class:`RecordingNotifier` received."""

    job: ExportJob
    event: NotificationEvent


class RecordingNotifier:
    """Records every notification in :attr:`sent`; can be told to fail."""

    def __init__(self, *, fail_with: BaseException | None = None) -> None:
        self.sent: list[SentNotification] = []
        self.fail_with = fail_with
        self._lock = threading.Lock()

    def notify(self, job: ExportJob, event: NotificationEvent) -> None:
        """Record the notification (then raise ``fail_with`` if set)."""
        with self._lock:
            self.sent.append(SentNotification(job, NotificationEvent(event)))
        if self.fail_with is not None:
            raise self.fail_with

    def events(self, job_id: object | None = None) -> list[NotificationEvent]:
        """The events sent, for one job or for all."""
        with self._lock:
            return [n.event for n in self.sent if job_id is None or n.job.id == job_id]


class MemoryStorage(FsspecStorage):
    """An :class:`~reasonkit_export.storage.FsspecStorage` on a private ``memory://`` root.

    Nothing touches the disk. fsspec's memory file system is shared by the
    whole process, so every instance gets its own random root; :meth:`clear`
    frees what it holds (the pytest fixtures do so after each test).

    >>> storage = MemoryStorage()
    >>> with storage.open_write("job/attempt-1") as sink:
    ...     _ = sink.write(b"{}")
    >>> storage.keys()
    ['job/attempt-1']
    >>> storage.clear()
    """

    def __init__(self) -> None:
        super().__init__(f"memory://reasonkit-test-{uuid4().hex}")

    def keys(self, *, include_partial: bool = False) -> list[str]:
        """The keys of every stored artifact, sorted.

        Args:
            include_partial: also list the hidden temporaries of writes that
                have not completed (``.<name>.<random>.part``), to assert that
                nothing was left behind.
        """
        prefix = f"{self._root}/"
        keys = [str(path).removeprefix(prefix) for path in self.fs.find(self._root)]
        if not include_partial:
            keys = [key for key in keys if not key.rpartition("/")[2].startswith(".")]
        return sorted(keys)

    def read(self, key: str) -> bytes:
        """The stored bytes of ``key`` (StorageError when absent)."""
        with self.open_read(key) as stream:
            return stream.read()

    def clear(self) -> None:
        """Delete everything this storage holds."""
        if self.fs.exists(self._root):
            self.fs.rm(self._root, recursive=True)


SAMPLE_RECORDS: Mapping[str, Sequence[Mapping[str, Any]]] = {
    Category.PROFILE.value: (
        {"name": "Zoë Example", "email": "zoe@example.org", "languages": ["de", "el"]},
    ),
    Category.REASONING_HISTORY.value: tuple(
        {"id": n, "prompt": f"question {n}", "tokens": n * 10} for n in range(1, 4)
    ),
}
"""The records :func:`make_test_service` serves when given neither sources nor records."""


def make_test_config(**changes: Any) -> ExportConfig:
    """An :class:`ExportConfig` for tests: in memory, no compression, no rate limit.

    Keyword arguments change any field, e.g. ``make_test_config(rate_limit=RateLimit())``.
    """
    fields: dict[str, Any] = {
        "storage_backend": StorageBackend.MEMORY,
        "compression_enabled": False,
        "rate_limit": None,
    }
    return ExportConfig(**{**fields, **changes})


@attrs.frozen
class ExportTestKit:
    """A service wired to fakes, with every fake at hand for assertions.

    Attributes:
        service: the service under test.
        notifier: records every notification the service sends.
        clock: the service's clock; move it to test expiry and schedules.
        storage: the artifacts, listable with ``storage.keys()``.
        repository: the jobs.
        schedules: the recurring-export schedules.
        sources: the registered data sources, by category.
    """

    service: ExportService
    notifier: RecordingNotifier
    clock: FrozenClock
    storage: MemoryStorage
    repository: JobRepository
    schedules: ScheduleRepository
    sources: Mapping[str, DataSource]

    def run_export(
        self,
        user_id: str | int | UUID,
        format: ExportFormat | str = ExportFormat.JSON,  # noqa: A002 - the service's name
        categories: Sequence[Category | str] | Category | str = Category.ALL,
        **options: Any,
    ) -> ExportJob:
        """Create an export and process it at once; returns the finished job.

        ``options`` go to :meth:`ExportService.create_export` (``since``,
        ``locale``, ...). A failed export is returned, not raised: check
        ``job.status``.
        """
        job = self.service.create_export(user_id, format, categories, **options)
        return self.service.process_export(job.id)

    def read_download(self, job_id: UUID | str, *, user_id: str | int | UUID) -> bytes:
        """Download the user's completed export and return all its bytes."""
        with self.service.open_download(job_id, user_id=user_id) as download:
            return download.read()


def make_test_service(
    *,
    sources: Iterable[DataSource] | None = None,
    records: Mapping[str, Iterable[Mapping[str, Any]]] | None = None,
    config: ExportConfig | None = None,
    clock: FrozenClock | None = None,
    notifier: RecordingNotifier | None = None,
    storage: MemoryStorage | None = None,
    repository: JobRepository | None = None,
    schedules: ScheduleRepository | None = None,
    **overrides: Any,
) -> ExportTestKit:
    """Build an :class:`ExportService` on fakes only (no disk, no network).

    Args:
        sources: the data sources to register (your own, to test them).
        records: a shortcut: one :class:`StaticDataSource` per category, e.g.
            ``{"profile": [{"name": "Zoë"}]}``; registered after ``sources``.
            With neither, :data:`SAMPLE_RECORDS` is served.
        config: default :func:`make_test_config`: **rate limits off and
            compression off** (artifacts are plain ``.json``/``.csv``/...).
            A config given here is used as is.
        clock: default ``FrozenClock()`` (2025-01-01 12:00 UTC).
        notifier: default a fresh :class:`RecordingNotifier`.
        storage: default a fresh :class:`MemoryStorage`.
        repository: default a fresh in-memory job repository (pass your own
            to test the service against it).
        schedules: default a fresh in-memory schedule repository.
        **overrides: further :class:`ExportService` arguments (``redactor``).
    """
    registered = list(sources) if sources is not None else []
    if records is not None:
        registered.extend(StaticDataSource(name, list(rows)) for name, rows in records.items())
    elif sources is None:
        registered = [StaticDataSource(name, rows) for name, rows in SAMPLE_RECORDS.items()]
    kit_clock = clock if clock is not None else FrozenClock()
    kit_notifier = notifier if notifier is not None else RecordingNotifier()
    kit_storage = storage if storage is not None else MemoryStorage()
    kit_repository = repository if repository is not None else InMemoryJobRepository()
    kit_schedules = schedules if schedules is not None else InMemoryScheduleRepository()
    service = ExportService(
        sources=registered,
        repository=kit_repository,
        schedules=kit_schedules,
        storage=kit_storage,
        notifier=kit_notifier,
        config=config if config is not None else make_test_config(),
        clock=kit_clock,
        **overrides,
    )
    return ExportTestKit(
        service=service,
        notifier=kit_notifier,
        clock=kit_clock,
        storage=kit_storage,
        repository=kit_repository,
        schedules=kit_schedules,
        sources={source.category: source for source in registered},
    )
