"""The state every collaborator of the service shares, and the two rules they all use.

Owns: the adapters (job and schedule repositories, storage, notifier), the
config, the clock, the registered sources, redactor and deliveries, the key
ring and token signer; the fenced state change (:meth:`ServiceContext.transition`)
and the removal of the files a job's state makes garbage
(:meth:`ServiceContext.discard_attempts`).
Also the checks on the ids callers pass in.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

import attrs

from reasonkit_export._builder import Redactor, artifact_key, describe_cause, part_key
from reasonkit_export._encryption import KeyRing
from reasonkit_export._models import (
    ACTIVE_STATUSES,
    ExportConfig,
    ExportJob,
    ExportStatus,
    NotificationEvent,
    ensure_utc,
)
from reasonkit_export._sources import RegisteredSource
from reasonkit_export._tokens import TokenSigner
from reasonkit_export.delivery._base import Delivery
from reasonkit_export.exceptions import ExportError, InvalidRequest
from reasonkit_export.protocols import (
    Clock,
    DataSource,
    JobRepository,
    LeftoverStorage,
    Notifier,
    ScheduleRepository,
    Storage,
)

__all__ = ["ServiceContext", "parse_uuid", "user_key"]

logger = logging.getLogger("reasonkit_export")

# A processing job's current attempt is its worker's; a completed job's is the download.
_KEEPS_CURRENT = frozenset({ExportStatus.PROCESSING, ExportStatus.COMPLETED})


def user_key(user_id: str | int | UUID) -> str:
    """The user id as stored: a UUID or an integer as text, a string checked and kept."""
    # Integer ids (most databases' primary keys) become their decimal string,
    # so 42 and "42" are one user everywhere, repository keys included.
    if isinstance(user_id, UUID) or (isinstance(user_id, int) and not isinstance(user_id, bool)):
        return str(user_id)
    if not isinstance(user_id, str) or not user_id.strip():
        raise InvalidRequest("user_id must be a non-empty string, an integer or a UUID")
    if len(user_id) > 256:
        raise InvalidRequest("user_id is longer than 256 characters")
    return user_id


def parse_uuid(value: UUID | str, missing: Callable[[Any], ExportError]) -> UUID:
    """``value`` as a UUID; text that is no UUID raises ``missing(value)``."""
    if isinstance(value, UUID):
        return value
    try:
        return UUID(str(value))
    except ValueError:
        raise missing(value) from None


class ServiceContext:
    """What one :class:`~reasonkit_export.ExportService` is built from.

    Mutable on purpose: ``ExportService.repository`` and its siblings are
    public attributes, and assigning one reaches every collaborator.
    """

    def __init__(
        self,
        *,
        sources: Mapping[str, DataSource],
        repository: JobRepository,
        schedules: ScheduleRepository,
        storage: Storage,
        notifier: Notifier,
        config: ExportConfig,
        clock: Clock,
        redactor: Redactor | None,
        deliveries: tuple[Delivery, ...],
    ) -> None:
        self.sources = sources
        # Optional source features, checked once here rather than probed per build.
        self.registered = {name: RegisteredSource.check(s) for name, s in sources.items()}
        self.repository = repository
        self.schedules = schedules
        self.storage = storage
        self.notifier = notifier
        self.config = config
        self.clock = clock
        self.redactor = redactor
        self.deliveries = deliveries
        # Serialises check-then-add of new jobs for the threads of one process
        # (several processes can still race; the limit is then approximate).
        self.create_lock = threading.Lock()
        self.signer = TokenSigner(config.signing_keys) if config.signing_keys else None
        self.keys = KeyRing.build(
            config.encryption_key,
            config.encryption_recipients,
            config.decryption_identities,
        )

    def now(self) -> datetime:
        """The clock's time, as an aware UTC datetime."""
        return ensure_utc(self.clock())

    def transition(
        self,
        job: ExportJob,
        status: ExportStatus,
        event: NotificationEvent,
        **changes: Any,
    ) -> ExportJob:
        """Save ``job`` in ``status`` with its notification queued (fenced)."""
        return self.repository.save(
            attrs.evolve(
                job,
                status=status,
                lease_expires_at=None,
                updated_at=self.now(),
                pending_notification=event if job.notify else None,
                **changes,
            )
        )

    def discard_attempts(self, job: ExportJob) -> None:
        """Delete the files of ``job`` that its current state makes garbage.

        Every attempt's artifact and volumes, except the current attempt of a
        processing job (its worker is writing it) or a completed one (the
        download); for a finished job also the storage's leftovers in its
        folder (:class:`~reasonkit_export.protocols.LeftoverStorage`).
        Idempotent; the deletion outbox (``ExportJob.sweep_at``) calls it
        again until it went through.

        Raises:
            StorageError: the storage failed; some files may remain.
        """
        keep = job.attempt if job.status in _KEEPS_CURRENT else None
        for attempt in range(job.attempt, 0, -1):
            if attempt == keep:
                continue
            self._delete_volumes(job, attempt)
            self.storage.delete(artifact_key(job.id, attempt))
        if keep is None:
            for part in job.parts:
                self.storage.delete(part.key)
        if job.status not in ACTIVE_STATUSES and isinstance(self.storage, LeftoverStorage):
            # Temporaries of writes killed half-way (older than a lease: a
            # younger one may be a stale worker's write still running), and
            # the job's folder once it is empty.
            self.storage.remove_leftovers(str(job.id), self.config.lease)

    def _delete_volumes(self, job: ExportJob, attempt: int) -> None:
        # Volumes are written in order, so the ones present are 1..n; deleting
        # from the last keeps that true when a crash interrupts the deletion.
        count = 0
        while self.storage.exists(part_key(job.id, attempt, count + 1)):
            count += 1
        for number in range(count, 0, -1):
            self.storage.delete(part_key(job.id, attempt, number))

    def discard_quietly(self, job: ExportJob) -> bool:
        """:meth:`discard_attempts`, with a storage failure logged instead of raised.

        Returns whether everything went. The caller recorded the deletion
        (``sweep_at``) first, so the sweep finishes what is left.
        """
        try:
            self.discard_attempts(job)
        except ExportError as exc:
            logger.warning(
                "export %s: leftover files not removed yet (%s)", job.id, describe_cause(exc)
            )
            return False
        return True

    @staticmethod
    def is_past_expiry(job: ExportJob, now: datetime) -> bool:
        """Whether a completed job's download window has closed at ``now``."""
        return (
            job.status is ExportStatus.COMPLETED
            and job.expires_at is not None
            and job.expires_at <= now
        )
