"""The deletion outbox and the sweep's agenda: ``ExportJob.sweep_at``.

Owns: which jobs the periodic sweep has work on (``list_to_sweep`` where the
repository has it, else every job read and filtered here), what it does with
each (delete the files the job's state makes garbage, hand a pending job
back, finish a notification or delivery a dead process left undone), when it
looks again, and the leftovers of interrupted writes in storage.

Whatever must be deleted is recorded before it is deleted: the fenced write
that makes files garbage (failed, cancelled, expired, handed back after a
transient failure or a lost worker, a later attempt completed) also sets
``sweep_at``, and only the sweep clears it, after the deletion went through.
A crash between the write and the deletion leaves the record, so the next
sweep (``recover_stale`` or ``expire_exports``) deletes the files. Which
files those are follows from the job (``ServiceContext.discard_attempts``):
every attempt's artifact and volumes except the download of a completed job.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime

import attrs

from reasonkit_export._lifecycle._context import ServiceContext
from reasonkit_export._lifecycle._deliveries import DeliveryRunner
from reasonkit_export._lifecycle._outbox import Outbox
from reasonkit_export._models import ExportJob, ExportStatus
from reasonkit_export.exceptions import ConflictError, ExportError
from reasonkit_export.protocols import SweepableJobRepository

__all__ = ["Sweeper"]

logger = logging.getLogger("reasonkit_export")


class Sweeper:
    """Works through the jobs whose ``sweep_at`` has come."""

    def __init__(self, ctx: ServiceContext, outbox: Outbox, deliveries: DeliveryRunner) -> None:
        self._ctx = ctx
        self._outbox = outbox
        self._deliveries = deliveries

    def due(self, now: datetime) -> Iterator[ExportJob]:
        """The jobs whose ``sweep_at`` is at or before ``now``."""
        repository = self._ctx.repository
        if isinstance(repository, SweepableJobRepository):
            return repository.list_to_sweep(now)
        # A host repository without the query: read every job (slower, same result).
        every = repository.list_by_status(set(ExportStatus))
        return (job for job in every if job.sweep_at is not None and job.sweep_at <= now)

    def run(self, now: datetime, *, hand_back: bool) -> list[ExportJob]:
        """One pass over the due jobs; returns the pending jobs handed back.

        With ``hand_back`` false (the expiry sweep, whose caller enqueues
        nothing), pending jobs only lose their garbage files and stay due
        for ``recover_stale``.
        """
        handed: list[ExportJob] = []
        for job in self.due(now):
            try:
                back = self._visit(job, now, hand_back=hand_back)
            except ExportError as exc:  # one job must not stop the sweep
                logger.warning("export %s: sweep failed (%s)", job.id, type(exc).__name__)
                continue
            if back is not None:
                handed.append(back)
        return handed

    def _visit(self, job: ExportJob, now: datetime, *, hand_back: bool) -> ExportJob | None:
        ctx = self._ctx
        lease = ctx.config.lease
        deleted = ctx.discard_quietly(job)
        if job.status is ExportStatus.PENDING:
            if job.retry_at is not None and job.retry_at > now:
                self._settle(job, job.retry_at)
                return None
            if not hand_back:
                return None
            # Stamp the job so the next sweeps leave it alone for a lease.
            return self._settle(job, now + lease, updated_at=now)
        following: datetime | None = None
        if job.status is not ExportStatus.PROCESSING and self._owes(job):
            stamp = job.updated_at or job.created_at
            if stamp + lease > now:
                following = stamp + lease  # its process may still be at it
            else:
                job = self._deliveries.run(self._outbox.deliver(job))
                following = now + lease if self._owes(job) else None
        if not deleted:
            following = now + lease if following is None else min(following, now + lease)
        self._settle(job, following)
        return None

    def _owes(self, job: ExportJob) -> bool:
        """Whether a notification or (completed jobs) a delivery is still to go out."""
        return job.pending_notification is not None or self._deliveries.undelivered(job)

    def _settle(
        self, job: ExportJob, sweep_at: datetime | None, *, updated_at: datetime | None = None
    ) -> ExportJob | None:
        """Save the next ``sweep_at`` (fenced); None when the job changed meanwhile.

        A job changed meanwhile keeps its own ``sweep_at``: whoever changed
        it set what its new state needs, and the next sweep sees that.
        """
        if sweep_at == job.sweep_at and updated_at is None:
            return job
        stamped = attrs.evolve(job, sweep_at=sweep_at, updated_at=updated_at or job.updated_at)
        try:
            return self._ctx.repository.save(stamped)
        except ConflictError:
            return None
