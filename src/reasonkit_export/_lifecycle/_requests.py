"""Requests and limits: asking for an export, looking it up, cancelling it.

Owns: validating a request (user, format, categories, ``since``, override
reason, locale), expanding ``all``, the duplicate check, the rate limit and
its Art. 12(5) fallback to a recent export, creating the pending job,
ownership checks, status, history and cancellation.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from uuid import UUID, uuid4

from reasonkit_export._i18n import normalize_locale
from reasonkit_export._lifecycle._context import ServiceContext, parse_uuid, user_key
from reasonkit_export._lifecycle._expiry import Expiry
from reasonkit_export._lifecycle._outbox import Outbox
from reasonkit_export._lifecycle._retry import retry_on_conflict
from reasonkit_export._models import (
    ACTIVE_STATUSES,
    Category,
    ExportFormat,
    ExportJob,
    ExportStatus,
    NotificationEvent,
    add_months,
    coerce_category,
    coerce_format,
    ensure_utc,
)
from reasonkit_export._present import validate_timezone
from reasonkit_export.exceptions import ExportNotFound, InvalidRequest, RateLimitExceeded

__all__ = ["Requests"]

logger = logging.getLogger("reasonkit_export")


class Requests:
    """Creates jobs within the limits and serves them back to their owners."""

    def __init__(self, ctx: ServiceContext, outbox: Outbox, expiry: Expiry) -> None:
        self._ctx = ctx
        self._outbox = outbox
        self._expiry = expiry

    @property
    def categories(self) -> tuple[str, ...]:
        """Every registered category, in registration order."""
        return tuple(self._ctx.sources)

    def create_export(
        self,
        user_id: str | int | UUID,
        format: ExportFormat | str,  # noqa: A002 - the public name
        categories: Sequence[Category | str] | Category | str,
        *,
        notify: bool,
        since: datetime | None,
        override_reason: str | None,
        locale: str | None,
        timezone: str | None,
    ) -> ExportJob:
        """See :meth:`reasonkit_export.ExportService.create_export`."""
        if since is not None:
            since = ensure_utc(since)
            if since > self._ctx.now():
                raise InvalidRequest("since lies in the future")
        if override_reason is not None and not str(override_reason).strip():
            raise InvalidRequest("override_reason must say why the rate limit is bypassed")
        return self.create(
            user_key(user_id),
            coerce_format(format),
            self.expand(categories),
            notify=notify,
            since=since,
            override_reason=override_reason,
            locale=normalize_locale(locale),
            timezone=validate_timezone(timezone),
        )

    def create(
        self,
        user: str,
        fmt: ExportFormat,
        wanted: tuple[str, ...],
        *,
        notify: bool,
        job_id: UUID | None = None,
        schedule_id: UUID | None = None,
        since: datetime | None = None,
        override_reason: str | None = None,
        locale: str = "en",
        timezone: str = "UTC",
    ) -> ExportJob:
        """Add a pending job for checked arguments, or hand back an equal one."""
        ctx = self._ctx
        now = ctx.now()
        with ctx.create_lock:  # check-then-add, atomic among this process's threads
            active = ctx.repository.list_for_user(user, statuses=ACTIVE_STATUSES)
            for job in active:
                if job.format is fmt and set(job.categories) == set(wanted) and job.since == since:
                    return job
            if override_reason is None:
                try:
                    self._check_rate_limit(user, active, now)
                except RateLimitExceeded:
                    recent = self._recent_export(user, fmt, wanted, now) if since is None else None
                    if recent is None:
                        raise
                    logger.info("export %s handed back instead of a new one", recent.id)
                    return recent
            stored = ctx.repository.add(
                ExportJob(
                    id=job_id or uuid4(),
                    user_id=user,
                    format=fmt,
                    categories=wanted,
                    created_at=now,
                    updated_at=now,
                    # Handed back by recover_stale if no worker took it for a lease.
                    sweep_at=now + ctx.config.lease,
                    notify=notify,
                    schedule_id=schedule_id,
                    due_at=add_months(now, ctx.config.response_months),
                    since=since,
                    rate_limit_override=override_reason,
                    locale=locale,
                    timezone=timezone,
                )
            )
        logger.info("export %s created (format=%s)", stored.id, fmt.value)
        return stored

    def _recent_export(
        self, user: str, fmt: ExportFormat, wanted: tuple[str, ...], now: datetime
    ) -> ExportJob | None:
        """The newest unexpired completed full export of the same kind (Art. 12(5))."""
        if not self._ctx.config.rate_limit_fallback:
            return None
        for job in self._ctx.repository.list_for_user(user, statuses={ExportStatus.COMPLETED}):
            if (
                job.format is fmt
                and set(job.categories) == set(wanted)
                and job.since is None
                and not self._ctx.is_past_expiry(job, now)
            ):
                return job
        return None

    def expand(self, categories: Sequence[Category | str] | Category | str) -> tuple[str, ...]:
        """Registered category names for a request; ``all`` is every one of them."""
        if isinstance(categories, str):
            categories = [categories]
        if not isinstance(categories, Iterable):
            raise InvalidRequest("categories must be a category name or a list of them")
        categories = list(categories)
        if not categories:
            raise InvalidRequest("no categories requested")
        names: list[str] = []
        for category in categories:
            name = coerce_category(category)
            expanded = self.categories if name == Category.ALL else (name,)
            names.extend(n for n in expanded if n not in names)
        unknown = [n for n in names if n not in self._ctx.sources]
        if unknown:
            known = ", ".join(self.categories) or "none"
            raise InvalidRequest(f"unknown categories: {', '.join(unknown)} (registered: {known})")
        if not names:
            raise InvalidRequest("no data sources are registered, so 'all' is empty")
        return tuple(names)

    def _check_rate_limit(self, user: str, active: list[ExportJob], now: datetime) -> None:
        limit = self._ctx.config.rate_limit
        if limit is None:
            return
        if len(active) >= limit.max_active:
            raise RateLimitExceeded(retry_after=None, reason="active")
        recent = self._ctx.repository.list_for_user(user, limit=limit.max_requests)
        in_window = [job for job in recent if job.created_at > now - limit.window]
        if len(in_window) >= limit.max_requests:
            oldest = min(job.created_at for job in in_window)
            raise RateLimitExceeded(retry_after=oldest + limit.window - now, reason="window")

    def owned(self, job_id: UUID | str, user_id: str | int | UUID) -> ExportJob:
        """The job, if it belongs to the user; ExportNotFound either way otherwise."""
        job = self._ctx.repository.get(parse_uuid(job_id, ExportNotFound))
        if job.user_id != user_key(user_id):
            raise ExportNotFound(job_id)
        return job

    def get_status(self, job_id: UUID | str, *, user_id: str | int | UUID) -> ExportJob:
        """See :meth:`reasonkit_export.ExportService.get_status`."""
        job = self.owned(job_id, user_id)
        if self._ctx.is_past_expiry(job, self._ctx.now()):
            job = self._expiry.expire(job)
        return job

    def get_history(self, user_id: str | int | UUID, *, limit: int) -> list[ExportJob]:
        """See :meth:`reasonkit_export.ExportService.get_history`."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise InvalidRequest(f"limit must be an integer within 1-1000, got {limit!r}")
        return self._ctx.repository.list_for_user(user_key(user_id), limit=limit)

    def cancel_export(self, job_id: UUID | str, *, user_id: str | int | UUID) -> ExportJob:
        """See :meth:`reasonkit_export.ExportService.cancel_export`."""
        ctx = self._ctx
        job = self.owned(job_id, user_id)

        def cancel(current: ExportJob) -> tuple[ExportJob, bool]:
            if current.status is ExportStatus.CANCELLED:
                return current, False
            if current.status not in ACTIVE_STATUSES:
                raise InvalidRequest(
                    f"export {current.id} is {current.status.value}; it cannot be cancelled"
                )
            # The deletion is recorded with the cancel. A worker may still be
            # writing until its lease ends, so the sweep deletes again then.
            now = ctx.now()
            lease_end = current.lease_expires_at
            if current.status is not ExportStatus.PROCESSING or lease_end is None:
                lease_end = now
            saved = ctx.transition(
                current,
                ExportStatus.CANCELLED,
                NotificationEvent.CANCELLED,
                sweep_at=max(now, lease_end),
            )
            return saved, True

        cancelled, changed = retry_on_conflict(
            cancel, load=lambda: ctx.repository.get(job.id), record_id=job.id, first=job
        )
        if not changed:
            return cancelled
        logger.info("export %s cancelled", job.id)
        ctx.discard_quietly(cancelled)
        return self._outbox.deliver(cancelled)
