"""Test doubles for host code: a clock, data sources and a notifier you can inspect."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs

from reasonkit_export._models import ExportJob, NotificationEvent, ensure_utc

__all__ = [
    "FailingDataSource",
    "FrozenClock",
    "RecordingNotifier",
    "SentNotification",
    "StaticDataSource",
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
