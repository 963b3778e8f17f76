"""Schedules: recurring exports, and turning due schedules into jobs.

Owns: validating and storing schedules (expression, timezone, minimum
interval, categories with ``all`` kept so later sources join in), looking
them up for their owner, changing and deleting them, and
:meth:`Scheduler.run_due_schedules`: exactly one job per due time, even with
hosts racing and crashing, since the job id derives from the schedule and its
due time and advancing the schedule is a fenced write.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import attrs

from reasonkit_export import scheduling
from reasonkit_export._lifecycle._context import ServiceContext, parse_uuid, user_key
from reasonkit_export._lifecycle._requests import Requests
from reasonkit_export._lifecycle._retry import retry_on_conflict
from reasonkit_export._models import (
    Category,
    ExportFormat,
    ExportJob,
    ExportStatus,
    ScheduledExport,
    coerce_category,
    coerce_format,
    ensure_utc,
)
from reasonkit_export.exceptions import (
    ConflictError,
    ExportNotFound,
    InvalidRequest,
    RateLimitExceeded,
    ScheduleNotFound,
)

__all__ = ["UNSET", "Scheduler"]

logger = logging.getLogger("reasonkit_export")

_SCHEDULE_NAMESPACE = uuid.UUID("9d7c2a0e-6f0b-4b8e-9a51-3c2f1e0d4b7a")
UNSET: Any = object()
"""The default of every field of ``update_schedule``: leave this field as it is."""


class Scheduler:
    """Keeps users' recurring exports and fires the due ones."""

    def __init__(self, ctx: ServiceContext, requests: Requests) -> None:
        self._ctx = ctx
        self._requests = requests

    def schedule_export(
        self,
        user_id: str | int | UUID,
        cron_expression: str,
        format: ExportFormat | str,  # noqa: A002 - the public name
        categories: Sequence[Category | str] | Category | str,
        *,
        notify_email: bool,
        timezone: str,
        incremental: bool,
    ) -> ScheduledExport:
        """See :meth:`reasonkit_export.ExportService.schedule_export`."""
        user = user_key(user_id)
        fmt = coerce_format(format)
        stored_categories = self._categories(categories)
        self._validate(cron_expression, timezone)
        limit = self._ctx.config.max_schedules_per_user
        if limit is not None and len(self._ctx.schedules.list_for_user(user)) >= limit:
            # Thousands of schedules made other users' listings and due runs slow.
            raise RateLimitExceeded(retry_after=None, reason="schedules")
        now = self._ctx.now()
        schedule = ScheduledExport(
            user_id=user,
            cron_expression=cron_expression,
            format=fmt,
            categories=stored_categories,
            notify_email=notify_email,
            timezone=timezone,
            created_at=now,
            next_run=scheduling.next_fire(cron_expression, timezone, now),
            incremental=incremental,
        )
        return self._ctx.schedules.add(schedule)

    def _categories(self, categories: Sequence[Category | str] | Category | str) -> tuple[str, ...]:
        """Validate categories now, but keep 'all' so later sources join in."""
        self._requests.expand(categories)
        if isinstance(categories, str):
            categories = [categories]
        return tuple(dict.fromkeys(coerce_category(c) for c in categories))

    def _validate(self, cron_expression: str, timezone: str) -> None:
        scheduling.validate_schedule(
            cron_expression, timezone, min_interval=self._ctx.config.schedule_min_interval
        )

    def list_schedules(self, user_id: str | int | UUID) -> list[ScheduledExport]:
        """See :meth:`reasonkit_export.ExportService.list_schedules`."""
        return self._ctx.schedules.list_for_user(user_key(user_id))

    def get_schedule(
        self, schedule_id: UUID | str, *, user_id: str | int | UUID
    ) -> ScheduledExport:
        """See :meth:`reasonkit_export.ExportService.get_schedule`."""
        schedule = self._ctx.schedules.get(parse_uuid(schedule_id, ScheduleNotFound))
        if schedule.user_id != user_key(user_id):
            raise ScheduleNotFound(schedule_id)
        return schedule

    def update_schedule(
        self,
        schedule_id: UUID | str,
        *,
        user_id: str | int | UUID,
        cron_expression: str,
        format: ExportFormat | str,  # noqa: A002 - the public name
        categories: Sequence[Category | str] | Category | str,
        timezone: str,
        enabled: bool,
        notify_email: bool,
        incremental: bool,
    ) -> ScheduledExport:
        """See :meth:`reasonkit_export.ExportService.update_schedule` (UNSET: unchanged)."""

        def update(schedule: ScheduledExport) -> ScheduledExport:
            changes: dict[str, Any] = {}
            if format is not UNSET:
                changes["format"] = coerce_format(format)
            if categories is not UNSET:
                changes["categories"] = self._categories(categories)
            if notify_email is not UNSET:
                changes["notify_email"] = bool(notify_email)
            if incremental is not UNSET:
                changes["incremental"] = bool(incremental)
            expression = schedule.cron_expression if cron_expression is UNSET else cron_expression
            zone = schedule.timezone if timezone is UNSET else timezone
            turning_on = enabled is not UNSET and bool(enabled) and not schedule.enabled
            if enabled is not UNSET:
                changes["enabled"] = bool(enabled)
            if cron_expression is not UNSET or timezone is not UNSET or turning_on:
                self._validate(expression, zone)
                changes.update(
                    cron_expression=expression,
                    timezone=zone,
                    next_run=scheduling.next_fire(expression, zone, self._ctx.now()),
                )
            # A conflict means a host ran it meanwhile: the change applies to the new version.
            return self._ctx.schedules.save(attrs.evolve(schedule, **changes))

        return retry_on_conflict(
            update,
            load=lambda: self.get_schedule(schedule_id, user_id=user_id),
            record_id=schedule_id,
        )

    def delete_schedule(self, schedule_id: UUID | str, *, user_id: str | int | UUID) -> None:
        """See :meth:`reasonkit_export.ExportService.delete_schedule`."""
        schedule = self.get_schedule(schedule_id, user_id=user_id)
        self._ctx.schedules.delete(schedule.id)

    def run_due_schedules(self, now: datetime | None = None) -> list[ExportJob]:
        """See :meth:`reasonkit_export.ExportService.run_due_schedules`."""
        now = ensure_utc(now) if now is not None else self._ctx.now()
        jobs: list[ExportJob] = []
        for schedule in self._ctx.schedules.list_due(now):
            job = self._fire(schedule, now)
            if job is not None:
                jobs.append(job)
        return jobs

    def _fire(self, schedule: ScheduledExport, now: datetime) -> ExportJob | None:
        assert schedule.next_run is not None
        job_id = uuid.uuid5(_SCHEDULE_NAMESPACE, f"{schedule.id}/{schedule.next_run.isoformat()}")
        job: ExportJob | None = None
        error: str | None = None
        try:
            job = self._ctx.repository.get(job_id)  # a host that crashed after creating it
        except ExportNotFound:
            try:
                job = self._requests.create(
                    schedule.user_id,
                    schedule.format,
                    self._requests.expand(schedule.categories),
                    notify=schedule.notify_email,
                    job_id=job_id,
                    schedule_id=schedule.id,
                    since=self._incremental_since(schedule),
                    timezone=schedule.timezone,
                )
            except ConflictError:
                return None  # another host created this very job a moment ago
            except (RateLimitExceeded, InvalidRequest) as exc:
                error = str(exc)
        try:
            next_run = scheduling.next_fire(schedule.cron_expression, schedule.timezone, now)
        except InvalidRequest as exc:  # InvalidSchedule included: e.g. no fire before 9999
            next_run, error = None, str(exc)
        try:
            self._ctx.schedules.save(
                attrs.evolve(
                    schedule,
                    last_run=now,
                    next_run=next_run,
                    last_job_id=job.id if job is not None else schedule.last_job_id,
                    last_error=error,
                )
            )
        except ConflictError:
            return None  # another host advanced it; that host reports the job
        if error is not None:
            logger.warning("schedule %s could not create its export: %s", schedule.id, error)
            return None
        return job

    def _incremental_since(self, schedule: ScheduledExport) -> datetime | None:
        """The lower bound for an incremental schedule's next export, if any."""
        if not schedule.incremental or schedule.last_job_id is None:
            return None
        try:
            last = self._ctx.repository.get(schedule.last_job_id)
        except ExportNotFound:
            return None
        if last.status in (ExportStatus.COMPLETED, ExportStatus.EXPIRED):
            # Reading began at started_at: changes after that are in the next window.
            return last.started_at
        return last.since  # that window never completed; keep its lower bound
