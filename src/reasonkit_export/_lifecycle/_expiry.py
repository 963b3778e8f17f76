"""Deadlines and expiry: the Art. 12(3) answer deadline and the download window.

Owns: extending a deadline once (:meth:`Expiry.extend_deadline`), listing
overdue requests, expiring one completed export (state first, then its files)
and the periodic expiry sweep.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from uuid import UUID

import attrs

from reasonkit_export._lifecycle._context import ServiceContext, parse_uuid
from reasonkit_export._lifecycle._outbox import Outbox
from reasonkit_export._lifecycle._retry import retry_on_conflict
from reasonkit_export._models import (
    ACTIVE_STATUSES,
    ExportJob,
    ExportStatus,
    NotificationEvent,
    add_months,
    ensure_utc,
)
from reasonkit_export.exceptions import ConflictError, ExportError, ExportNotFound, InvalidRequest

__all__ = ["Expiry"]

logger = logging.getLogger("reasonkit_export")


class Expiry:
    """Deadlines of open requests and the end of completed exports."""

    def __init__(self, ctx: ServiceContext, outbox: Outbox) -> None:
        self._ctx = ctx
        self._outbox = outbox

    def extend_deadline(self, job_id: UUID | str, reason: str, until: datetime) -> ExportJob:
        """See :meth:`reasonkit_export.ExportService.extend_deadline`."""
        if not isinstance(reason, str) or not reason.strip():
            raise InvalidRequest("an extension needs a reason (Art. 12(3))")
        until = ensure_utc(until)
        ctx = self._ctx

        def extend(job: ExportJob) -> ExportJob:
            if job.status not in ACTIVE_STATUSES and job.status is not ExportStatus.FAILED:
                raise InvalidRequest(f"export {job.id} is {job.status.value}; nothing to extend")
            if job.deadline_extension_reason is not None:
                raise InvalidRequest(f"the deadline of export {job.id} was already extended")
            original = add_months(job.created_at, ctx.config.response_months)
            if job.due_at is None or until <= job.due_at:
                raise InvalidRequest("until must lie after the current deadline")
            if until > add_months(original, 2):
                raise InvalidRequest("the deadline may be extended by two further months at most")
            # A conflict means a worker renewed its lease meanwhile: retried on the fresh copy.
            return ctx.repository.save(
                attrs.evolve(
                    job,
                    due_at=until,
                    deadline_extension_reason=reason.strip(),
                    updated_at=ctx.now(),
                    pending_notification=(
                        NotificationEvent.DEADLINE_EXTENDED
                        if job.pending_notification is None
                        else job.pending_notification
                    ),
                )
            )

        extended = retry_on_conflict(
            extend,
            load=lambda: ctx.repository.get(parse_uuid(job_id, ExportNotFound)),
            record_id=job_id,
        )
        logger.info("export %s deadline extended", extended.id)
        return self._outbox.deliver(extended)

    def overdue_exports(self, now: datetime | None = None) -> list[ExportJob]:
        """See :meth:`reasonkit_export.ExportService.overdue_exports`."""
        moment = ensure_utc(now) if now is not None else self._ctx.now()
        overdue = [
            job
            for job in self._ctx.repository.list_by_status(
                {ExportStatus.PENDING, ExportStatus.PROCESSING, ExportStatus.FAILED}
            )
            if job.due_at is not None and job.due_at < moment
        ]
        overdue.sort(key=lambda job: (job.due_at or job.created_at, str(job.id)))
        return overdue

    def expire(self, job: ExportJob) -> ExportJob:
        """Expire one completed job: save the state, delete its files, notify."""
        now = self._ctx.now()
        try:
            expired = self._ctx.transition(
                job,
                ExportStatus.EXPIRED,
                NotificationEvent.EXPIRED,
                download_url=None,
                sweep_at=now,
            )
        except ConflictError:
            return self._ctx.repository.get(job.id)
        # The state and the deletion (sweep_at) are saved first: a crash here
        # leaves files the next sweep deletes, never a completed job without
        # its file.
        self._ctx.discard_quietly(expired)
        logger.info("export %s expired", job.id)
        return self._outbox.deliver(expired)

    def expire_exports(self) -> list[ExportJob]:
        """See :meth:`reasonkit_export.ExportService.expire_exports`."""
        now = self._ctx.now()
        expired: list[ExportJob] = []
        # A download is refused from expires_at on, so sweep that instant too.
        due = now + timedelta(microseconds=1)
        for job in self._ctx.repository.list_by_status({ExportStatus.COMPLETED}, before=due):
            try:
                result = self.expire(job)
            except ExportError as exc:  # one bad file must not stop the sweep
                logger.warning("export %s: expiry failed (%s)", job.id, type(exc).__name__)
                continue
            if result.status is ExportStatus.EXPIRED and result.version > job.version:
                expired.append(result)
        return expired
