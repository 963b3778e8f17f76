"""The worker: building an export, finishing it, and repairing after crashes.

Owns: claiming a job (lease, attempt count, ``max_attempts``), running one
attempt through :func:`reasonkit_export._builder.build_artifact` under a
heartbeat, recording the completed or failed result (fenced: a superseded
attempt removes its own files), the download link, giving up, finishing the
notification and deliveries a dead worker left undone, and requeueing stale
jobs (:meth:`Worker.recover_stale`).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from contextvars import ContextVar
from datetime import datetime
from typing import Any
from uuid import UUID

import attrs

from reasonkit_export._builder import (
    Artifact,
    Superseded,
    TransientFailure,
    WorkerLease,
    build_artifact,
    describe_cause,
)
from reasonkit_export._lifecycle._cleanup import Sweeper
from reasonkit_export._lifecycle._context import ServiceContext, parse_uuid
from reasonkit_export._lifecycle._deliveries import DeliveryRunner
from reasonkit_export._lifecycle._outbox import Outbox
from reasonkit_export._models import ACTIVE_STATUSES, ExportJob, ExportStatus, NotificationEvent
from reasonkit_export.exceptions import (
    ConflictError,
    DatabaseError,
    ExportError,
    ExportNotFound,
    ProcessingError,
)

__all__ = ["CLAIMED", "Worker"]

logger = logging.getLogger("reasonkit_export")

# The job this thread last claimed: lets run_worker tell the exports it built
# from those another worker claimed first, without widening the public API.
CLAIMED: ContextVar[UUID | None] = ContextVar("reasonkit_export_claimed", default=None)
_JITTER = random.SystemRandom()


class Worker:
    """Turns pending jobs into stored artifacts, exactly once in effect."""

    def __init__(
        self,
        ctx: ServiceContext,
        outbox: Outbox,
        deliveries: DeliveryRunner,
        sweeper: Sweeper,
    ) -> None:
        self._ctx = ctx
        self._outbox = outbox
        self._deliveries = deliveries
        self._sweeper = sweeper

    def process_export(self, job_id: UUID | str) -> ExportJob:
        """See :meth:`reasonkit_export.ExportService.process_export`."""
        ctx = self._ctx
        uid = parse_uuid(job_id, ExportNotFound)
        job = ctx.repository.get(uid)
        if job.status not in ACTIVE_STATUSES:
            return self.redeliver_if_stuck(job)
        now = ctx.now()
        claimed = ctx.repository.claim(uid, now=now, lease=ctx.config.lease)
        if claimed is None:
            return ctx.repository.get(uid)
        CLAIMED.set(uid)
        if claimed.attempt > ctx.config.max_attempts:
            return self.give_up(claimed)
        logger.info("export %s processing (attempt %d)", uid, claimed.attempt)
        # Earlier attempts' files; if this fails, the result's save records it.
        ctx.discard_quietly(claimed)
        lease = WorkerLease(claimed, repository=ctx.repository, config=ctx.config, clock=ctx.now)
        failure: str | None = None
        transient: TransientFailure | None = None
        with lease:
            try:
                artifact = build_artifact(
                    lease,
                    sources=ctx.registered,
                    storage=ctx.storage,
                    config=ctx.config,
                    now=now,
                    encryptor=self._encryptor(),
                    redactor=ctx.redactor,
                )
            except Superseded:
                logger.info("export %s attempt %d superseded", uid, claimed.attempt)
                return ctx.repository.get(uid)
            except TransientFailure as exc:
                logger.warning("export %s attempt %d: %s", uid, claimed.attempt, exc, exc_info=exc)
                transient = exc
            except ProcessingError as exc:
                logger.warning("export %s failed: %s", uid, exc, exc_info=exc)
                failure = str(exc)
        # The heartbeat has stopped: nothing renews a lease on a finished job.
        if transient is not None:
            return self._retry_later(lease, transient.message)
        if failure is not None:
            return self._finish_failed(lease, failure)
        return self._finish_completed(lease, artifact)

    def _retry_later(self, lease: WorkerLease, message: str) -> ExportJob:
        """Put the job back to pending after an infrastructure failure, or give up.

        The attempt stays counted; the next claim waits for the backoff
        (``ExportConfig.retry_delay``, with jitter). After ``max_attempts``
        the job fails with the last error. If even this write fails, the
        database error is raised and the lease running out brings the job
        back through :meth:`recover_stale`.
        """
        ctx = self._ctx
        job = lease.job
        if job.attempt >= ctx.config.max_attempts:
            return self._finish_failed(
                lease, f"{message}; gave up after {ctx.config.max_attempts} attempts"
            )
        now = ctx.now()
        retry_at = now + ctx.config.retry_delay(job.attempt, jitter=_JITTER.uniform(0.5, 1.0))
        try:
            pending = lease.save(
                status=ExportStatus.PENDING,
                progress=0,
                lease_expires_at=None,
                updated_at=now,
                retry_at=retry_at,
                last_transient_error=message,
                # The attempt's files are garbage now; the sweep also hands
                # the job back once the backoff is over.
                sweep_at=retry_at,
            )
        except Superseded:
            return ctx.repository.get(job.id)
        logger.warning(
            "export %s: attempt %d failed transiently; retry at %s",
            job.id,
            job.attempt,
            retry_at.isoformat(),
        )
        ctx.discard_quietly(pending)
        return pending

    def _encryptor(self) -> Callable[[Any], Any] | None:
        keys = self._ctx.keys
        if not keys.encrypts:
            return None
        from reasonkit_export.crypto import encrypting_writer

        recipients = keys.recipients
        return lambda sink: encrypting_writer(sink, recipients)

    def _finish_completed(self, lease: WorkerLease, artifact: Artifact) -> ExportJob:
        ctx = self._ctx
        done = ctx.now()
        job = lease.job
        expires_at = done + ctx.config.link_expiry
        try:
            stored = lease.save(
                status=ExportStatus.COMPLETED,
                progress=100,
                completed_at=done,
                expires_at=expires_at,
                updated_at=done,
                lease_expires_at=None,
                file_size=artifact.size,
                sha256=artifact.sha256,
                parts=artifact.parts,
                filename=artifact.filename,
                media_type=artifact.media_type,
                storage_key=artifact.key,
                record_counts=dict(artifact.record_counts),
                redacted_counts=dict(artifact.redacted_counts),
                since_applied=artifact.since_applied,
                warnings=artifact.warnings,
                download_url=self._download_url(job, artifact, done, expires_at),
                encrypted=ctx.keys.encrypts,
                recipient_fingerprint=ctx.keys.fingerprint,
                error=None,
                pending_notification=NotificationEvent.COMPLETED if job.notify else None,
                sweep_at=self._sweep_after_completion(job, done),
            )
        except Superseded:
            # A newer attempt or a cancel won, and recorded the deletion of
            # this attempt's files; remove them now rather than at its sweep.
            try:
                for key in {artifact.key, *(part.key for part in artifact.parts)}:
                    ctx.storage.delete(key)
            except ExportError as exc:
                logger.warning(
                    "export %s: superseded files not removed yet (%s)", job.id, describe_cause(exc)
                )
            return ctx.repository.get(job.id)
        except DatabaseError as exc:
            # The result could not be recorded: try the attempt again later.
            logger.warning("export %s: result not saved", job.id, exc_info=exc)
            return self._retry_later(
                lease,
                "the export could not be recorded: the job database failed "
                f"({describe_cause(exc)})",
            )
        logger.info("export %s completed (%d bytes)", job.id, artifact.size)
        return self._deliveries.run(self._outbox.deliver(stored))

    def _sweep_after_completion(self, job: ExportJob, done: datetime) -> datetime | None:
        """When the sweep looks at a job completed at ``done``: once, a lease later.

        By then its notification and deliveries are sent (or a dead worker
        owes them) and any worker of an earlier attempt has stopped (its
        files are garbage). Nothing to check for a first attempt without
        notification or deliveries.
        """
        if job.attempt > 1 or job.notify or self._ctx.deliveries:
            return done + self._ctx.config.lease
        return None

    def _finish_failed(self, lease: WorkerLease, message: str) -> ExportJob:
        now = self._ctx.now()
        try:
            failed = lease.save(
                status=ExportStatus.FAILED,
                error=message,
                lease_expires_at=None,
                updated_at=now,
                pending_notification=NotificationEvent.FAILED if lease.job.notify else None,
                sweep_at=now,
            )
        except Superseded:
            return self._ctx.repository.get(lease.job.id)
        self._ctx.discard_quietly(failed)
        return self._outbox.deliver(failed)

    def give_up(self, job: ExportJob) -> ExportJob:
        """Fail a job that used up ``max_attempts`` without finishing."""
        message = (
            f"gave up after {self._ctx.config.max_attempts} attempts "
            "(each worker stopped before finishing)"
        )
        if job.last_transient_error is not None:
            message = f"{job.last_transient_error}; {message}"
        try:
            failed = self._ctx.transition(
                job,
                ExportStatus.FAILED,
                NotificationEvent.FAILED,
                error=message,
                sweep_at=self._ctx.now(),
            )
        except ConflictError:
            return self._ctx.repository.get(job.id)
        logger.warning("export %s failed: %s", job.id, message)
        self._ctx.discard_quietly(failed)
        return self._outbox.deliver(failed)

    def _download_url(
        self, job: ExportJob, artifact: Artifact, now: datetime, expires_at: datetime
    ) -> str | None:
        ctx = self._ctx
        template = ctx.config.download_url_template
        if template is not None:
            token = ""
            if ctx.signer is not None:
                token = ctx.signer.sign(
                    job_id=job.id, user_id=job.user_id, issued_at=now, expires_at=expires_at
                )
            return template.format(job_id=job.id, token=token)
        if ctx.keys.encrypts or len(artifact.parts) > 1:
            # A presigned URL would hand out ciphertext, or only the first volume.
            return None
        try:
            return ctx.storage.signed_url(artifact.key, ctx.config.link_expiry)
        except ExportError as exc:
            logger.warning("export %s: no presigned link (%s)", job.id, type(exc).__name__)
            return None

    def redeliver_if_stuck(self, job: ExportJob) -> ExportJob:
        """Finish what a dead worker left undone, once it has been quiet for a lease.

        Re-sends a queued notification and runs deliveries that never recorded
        a result (at least once, so a crash may repeat one).
        """
        if job.pending_notification is None and not self._deliveries.undelivered(job):
            return job
        stamp = job.updated_at or job.created_at
        if stamp + self._ctx.config.lease > self._ctx.now():
            return job  # its worker may still be at it
        return self._deliveries.run(self._outbox.deliver(job))

    def recover_stale(self) -> list[ExportJob]:
        """See :meth:`reasonkit_export.ExportService.recover_stale`."""
        ctx = self._ctx
        now = ctx.now()
        requeued: list[ExportJob] = []
        for job in ctx.repository.list_by_status({ExportStatus.PROCESSING}, before=now):
            if job.attempt >= ctx.config.max_attempts:
                self.give_up(job)
                continue
            try:
                requeued.append(
                    ctx.repository.save(
                        attrs.evolve(
                            job,
                            status=ExportStatus.PENDING,
                            lease_expires_at=None,
                            updated_at=now,
                            # The dead attempt's files are garbage: the pass below
                            # deletes them and hands the job back.
                            sweep_at=now,
                        )
                    )
                )
            except ConflictError:
                continue  # another host requeued or finished it
            logger.warning("export %s: worker lease ran out; requeued", job.id)
        handed = {job.id: job for job in requeued}
        for job in self._sweeper.run(now, hand_back=True):
            handed[job.id] = job
        return list(handed.values())
