"""In-memory repositories: the test default, safe across threads of one process."""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterator
from datetime import datetime, timedelta
from uuid import UUID

import attrs

from reasonkit_export._models import ExportJob, ExportStatus, ScheduledExport
from reasonkit_export.exceptions import ConflictError, ExportNotFound, ScheduleNotFound
from reasonkit_export.repositories._rules import (
    claimed,
    fenced,
    newest_first,
    sweep_due,
    sweep_matches,
)

__all__ = ["InMemoryJobRepository", "InMemoryScheduleRepository"]


class InMemoryJobRepository:
    """Jobs in a dict behind a lock. Inspect them with :attr:`jobs`."""

    def __init__(self) -> None:
        self._jobs: dict[UUID, ExportJob] = {}
        self._lock = threading.Lock()

    @property
    def jobs(self) -> dict[UUID, ExportJob]:
        """A snapshot of every stored job by id."""
        with self._lock:
            return dict(self._jobs)

    def add(self, job: ExportJob) -> ExportJob:
        """Store a new job."""
        with self._lock:
            if job.id in self._jobs:
                raise ConflictError(job.id)
            self._jobs[job.id] = job
            return job

    def get(self, job_id: UUID) -> ExportJob:
        """Return the job or raise ExportNotFound."""
        with self._lock:
            try:
                return self._jobs[job_id]
            except KeyError:
                raise ExportNotFound(job_id) from None

    def list_for_user(
        self,
        user_id: str,
        *,
        limit: int | None = None,
        statuses: Collection[ExportStatus] | None = None,
    ) -> list[ExportJob]:
        """Return a user's jobs, newest first."""
        with self._lock:
            mine = [job for job in self._jobs.values() if job.user_id == user_id]
        return newest_first(mine, limit=limit, statuses=statuses)

    def list_by_status(
        self, statuses: Collection[ExportStatus], *, before: datetime | None = None
    ) -> Iterator[ExportJob]:
        """Yield jobs for sweeps."""
        with self._lock:
            matching = [job for job in self._jobs.values() if sweep_matches(job, statuses, before)]
        return iter(matching)

    def list_to_sweep(self, now: datetime) -> Iterator[ExportJob]:
        """Yield the jobs whose ``sweep_at`` is at or before ``now``."""
        with self._lock:
            matching = [job for job in self._jobs.values() if sweep_due(job, now)]
        return iter(matching)

    def claim(self, job_id: UUID, *, now: datetime, lease: timedelta) -> ExportJob | None:
        """Atomically claim the job for one worker."""
        with self._lock:
            try:
                job = self._jobs[job_id]
            except KeyError:
                raise ExportNotFound(job_id) from None
            new = claimed(job, now=now, lease=lease)
            if new is not None:
                self._jobs[job_id] = new
            return new

    def save(self, job: ExportJob) -> ExportJob:
        """Compare-and-set on version."""
        with self._lock:
            try:
                stored = self._jobs[job.id]
            except KeyError:
                raise ExportNotFound(job.id) from None
            new = fenced(stored, job)
            self._jobs[job.id] = new
            return new


class InMemoryScheduleRepository:
    """Schedules in a dict behind a lock. Inspect them with :attr:`schedules`."""

    def __init__(self) -> None:
        self._schedules: dict[UUID, ScheduledExport] = {}
        self._lock = threading.Lock()

    @property
    def schedules(self) -> dict[UUID, ScheduledExport]:
        """A snapshot of every stored schedule by id."""
        with self._lock:
            return dict(self._schedules)

    def add(self, schedule: ScheduledExport) -> ScheduledExport:
        """Store a new schedule."""
        with self._lock:
            if schedule.id in self._schedules:
                raise ConflictError(schedule.id)
            self._schedules[schedule.id] = schedule
            return schedule

    def get(self, schedule_id: UUID) -> ScheduledExport:
        """Return the schedule or raise ScheduleNotFound."""
        with self._lock:
            try:
                return self._schedules[schedule_id]
            except KeyError:
                raise ScheduleNotFound(schedule_id) from None

    def list_for_user(self, user_id: str) -> list[ScheduledExport]:
        """Return a user's schedules, oldest first."""
        with self._lock:
            mine = [s for s in self._schedules.values() if s.user_id == user_id]
        return sorted(mine, key=lambda s: (s.created_at, str(s.id)))

    def list_due(self, now: datetime) -> list[ScheduledExport]:
        """Return enabled schedules with ``next_run <= now``."""
        with self._lock:
            return [
                s
                for s in self._schedules.values()
                if s.enabled and s.next_run is not None and s.next_run <= now
            ]

    def save(self, schedule: ScheduledExport) -> ScheduledExport:
        """Compare-and-set on version."""
        with self._lock:
            try:
                stored = self._schedules[schedule.id]
            except KeyError:
                raise ScheduleNotFound(schedule.id) from None
            if stored.version != schedule.version:
                raise ConflictError(schedule.id)
            new = attrs.evolve(schedule, version=schedule.version + 1)
            self._schedules[schedule.id] = new
            return new

    def delete(self, schedule_id: UUID) -> None:
        """Remove the schedule; idempotent."""
        with self._lock:
            self._schedules.pop(schedule_id, None)
