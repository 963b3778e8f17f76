"""The notification outbox: send a job's queued event once, then clear it.

Owns :meth:`Outbox.deliver`. The event is queued on the job in the same
write as its state change (see ``ServiceContext.transition``), so a crash
between the two is repaired by the worker or ``recover_stale`` sending it
again: at most one extra notification per crash, never a lost one. A failing
notifier never fails an export; its error is recorded on the job.
"""

from __future__ import annotations

import logging
from typing import Any

import attrs

from reasonkit_export._builder import describe_failure
from reasonkit_export._lifecycle._context import ServiceContext
from reasonkit_export._lifecycle._retry import retry_on_conflict
from reasonkit_export._models import ExportJob

__all__ = ["Outbox"]

logger = logging.getLogger("reasonkit_export")


class Outbox:
    """Sends and settles the notification a job has queued."""

    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx

    def deliver(self, job: ExportJob) -> ExportJob:
        """Send the job's queued notification, then clear it (an outbox of one)."""
        event = job.pending_notification
        if event is None:
            return job
        error: str | None = None
        try:
            self._ctx.notifier.notify(job, event)
        except Exception as exc:
            logger.warning(
                "export %s: notifier failed on %s (%s)",
                job.id,
                event.value,
                type(exc).__name__,
                exc_info=exc,
            )
            error = f"{event.value}: {describe_failure(exc)}"[:500]
        changes: dict[str, Any] = {"pending_notification": None}
        if error is not None:
            changes["notification_error"] = error

        def settle(current: ExportJob) -> ExportJob:
            if current.pending_notification is not event:
                return current  # someone else settled (or replaced) it
            return self._ctx.repository.save(attrs.evolve(current, **changes))

        return retry_on_conflict(
            settle, load=lambda: self._ctx.repository.get(job.id), record_id=job.id, first=job
        )
