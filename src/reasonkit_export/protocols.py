"""The ports: small protocols a host implements without inheriting from us.

Every adapter the library ships (repositories, storage, notifiers) implements
these, and :mod:`reasonkit_export.testing` ships contract suites that check
an implementation against the documented behaviour.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol, runtime_checkable
from uuid import UUID

if TYPE_CHECKING:
    # Annotations only: this module imports nothing of the package at run time,
    # so every other module (models, crypto, formats, delivery) may import it.
    from reasonkit_export._download import Download
    from reasonkit_export._models import (
        ExportJob,
        ExportStatus,
        NotificationEvent,
        ScheduledExport,
    )
    from reasonkit_export.crypto._header import Stanza
    from reasonkit_export.formats._base import ArtifactPlan, ExportInfo, Section, WriteResult

__all__ = [
    "Clock",
    "CountingSource",
    "DataSource",
    "Delivery",
    "DescribedSource",
    "ExcludingSource",
    "FormatWriter",
    "Identity",
    "IncrementalSource",
    "JobRepository",
    "LeftoverStorage",
    "Notifier",
    "Recipient",
    "RedactingSource",
    "ScheduleRepository",
    "Storage",
    "SweepableJobRepository",
]


@runtime_checkable
class DataSource(Protocol):
    """Serves one data category for one user.

    ``category`` is the name users ask for (``"profile"`` or any custom
    string). A source may offer optional features, each a protocol of its
    own below (:class:`CountingSource`, :class:`DescribedSource`,
    :class:`IncrementalSource`, :class:`RedactingSource`); the service checks
    which ones a source has once, when it is registered.
    """

    category: str

    def records(self, user_id: str) -> Iterable[Mapping[str, Any]]:
        """Yield every record of this category that belongs to ``user_id``.

        Called once per export. May be a generator, so that records stream;
        anything it raises fails the export with the category named.
        """
        ...


@runtime_checkable
class CountingSource(DataSource, Protocol):
    """A source that can say how many records it will yield, to feed progress."""

    def count(self, user_id: str) -> int | None:
        """The number of records :meth:`records` will yield (None: unknown).

        Only a hint: anything it raises, or a non-positive answer, is ignored.
        """
        ...


@runtime_checkable
class DescribedSource(DataSource, Protocol):
    """A source that describes its category for the Art. 15(1) information.

    ``description`` is a :class:`~reasonkit_export.CategoryDescription` or a
    mapping of its fields; it is read at every build, and an invalid one
    fails that export with the category named.
    """

    description: Any


@runtime_checkable
class IncrementalSource(DataSource, Protocol):
    """A source that can export only what changed since a moment.

    Used for ``since`` exports only when ``supports_since`` is ``True``; it
    is then called as ``records(user_id, since=...)``.
    """

    supports_since: bool

    def records(
        self, user_id: str, *, since: datetime | None = None
    ) -> Iterable[Mapping[str, Any]]:
        """Yield the user's records, only those changed after ``since`` when given."""
        ...


@runtime_checkable
class RedactingSource(DataSource, Protocol):
    """A source that protects other people's data in its own records (Art. 15(4)).

    ``redact`` is called on every record before the service-wide redactor;
    it returns the record unchanged (the same object) when there is nothing
    to redact.
    """

    def redact(self, record: Mapping[str, Any], user_id: str) -> Mapping[str, Any]:
        """The record as the user may see it."""
        ...


@runtime_checkable
class ExcludingSource(DataSource, Protocol):
    """A source that leaves some of its fields out on purpose (credentials, say).

    ``excluded_fields`` names them (dotted for nested values); the manifest
    lists them, so the person sees what was withheld and the host can check it.
    """

    excluded_fields: Sequence[str]


@runtime_checkable
class JobRepository(Protocol):
    """Stores export jobs.

    Every write is fenced by ``ExportJob.version``: :meth:`save` succeeds only
    when the stored version equals the given one, and stores the job with
    ``version + 1``. Implementations must be safe for concurrent use by the
    threads (and, where they say so, processes) that share them.
    """

    def add(self, job: ExportJob) -> ExportJob:
        """Store a new job and return it as stored.

        Raises:
            ConflictError: a job with this id exists already.
            DatabaseError: the backend failed.
        """
        ...

    def get(self, job_id: UUID) -> ExportJob:
        """Return the job with this id.

        Raises:
            ExportNotFound: there is no such job.
            DatabaseError: the backend failed.
        """
        ...

    def list_for_user(
        self,
        user_id: str,
        *,
        limit: int | None = None,
        statuses: Collection[ExportStatus] | None = None,
    ) -> list[ExportJob]:
        """Return a user's jobs, newest ``created_at`` first (ties: by id).

        ``statuses`` restricts the result to jobs in those statuses; ``limit``
        caps its length (``None``: no cap).
        """
        ...

    def list_by_status(
        self, statuses: Collection[ExportStatus], *, before: datetime | None = None
    ) -> Iterator[ExportJob]:
        """Yield every job in one of ``statuses``, for sweeps.

        With ``before``, only jobs whose ``expires_at`` (completed jobs) or
        ``lease_expires_at`` (processing jobs) or ``created_at`` (others) is
        earlier than it. Order is unspecified. The caller saves through
        :meth:`save`, so a job changed meanwhile is fenced out.
        """
        ...

    def claim(self, job_id: UUID, *, now: datetime, lease: timedelta) -> ExportJob | None:
        """Atomically hand the job to one worker.

        A job that is pending (with no ``retry_at`` or ``retry_at <= now``),
        or processing with ``lease_expires_at <= now``, becomes processing
        with ``attempt + 1``, ``lease_expires_at = now + lease``,
        ``started_at`` set (if unset), ``retry_at = None``, ``updated_at =
        now`` and ``version + 1``; the claimed job is returned
        (``repositories._rules.claimed`` implements exactly this; it also clears
        ``sweep_at``). Any other job is left
        untouched and ``None`` is returned. Of several concurrent claims, at
        most one succeeds.

        Raises:
            ExportNotFound: there is no such job.
        """
        ...

    def save(self, job: ExportJob) -> ExportJob:
        """Replace the stored job with ``job`` if nobody changed it meanwhile.

        Compare-and-set on ``version``: succeeds only when the stored job's
        version equals ``job.version``; stores and returns the job with
        ``version + 1``.

        Raises:
            ConflictError: the stored version differs (a newer write won).
            ExportNotFound: there is no such job.
        """
        ...


@runtime_checkable
class SweepableJobRepository(JobRepository, Protocol):
    """A job repository that can list the jobs the maintenance sweep has work on.

    Optional: without it, ``recover_stale`` and ``expire_exports`` read every
    job through :meth:`JobRepository.list_by_status` and pick the due ones
    themselves. Every repository the library ships has it (SQL: an index on
    ``sweep_at``).
    """

    def list_to_sweep(self, now: datetime) -> Iterator[ExportJob]:
        """Yield every job whose ``sweep_at`` is set and at or before ``now``.

        Jobs with ``sweep_at = None`` are never yielded. Order is unspecified;
        the caller saves through :meth:`JobRepository.save`, so a job changed
        meanwhile is fenced out.

        Raises:
            DatabaseError: the backend failed.
        """
        ...


@runtime_checkable
class ScheduleRepository(Protocol):
    """Stores recurring-export schedules; writes fenced by ``version`` like jobs."""

    def add(self, schedule: ScheduledExport) -> ScheduledExport:
        """Store a new schedule and return it as stored (ConflictError if the id exists)."""
        ...

    def get(self, schedule_id: UUID) -> ScheduledExport:
        """Return the schedule (ScheduleNotFound if there is none)."""
        ...

    def list_for_user(self, user_id: str) -> list[ScheduledExport]:
        """Return a user's schedules, oldest first."""
        ...

    def list_due(self, now: datetime) -> list[ScheduledExport]:
        """Return the enabled schedules whose ``next_run <= now``."""
        ...

    def save(self, schedule: ScheduledExport) -> ScheduledExport:
        """Compare-and-set on ``version``; returns it stored with ``version + 1``.

        Claiming a fire time is a save that advances ``next_run``: of several
        hosts racing for the same due schedule, exactly one save succeeds.

        Raises:
            ConflictError: the stored version differs.
            ScheduleNotFound: there is no such schedule.
        """
        ...

    def delete(self, schedule_id: UUID) -> None:
        """Remove the schedule; idempotent (no error when it is gone)."""
        ...


@runtime_checkable
class Storage(Protocol):
    """Stores artifacts under keys the library generates.

    Keys are relative, ``/``-separated, and never contain ``..`` segments;
    implementations must refuse keys that would escape their root
    (:class:`~reasonkit_export.exceptions.InvalidKey`).
    """

    def open_write(self, key: str) -> AbstractContextManager[BinaryIO]:
        """Open ``key`` for writing, atomically.

        Nothing is visible at ``key`` until the context exits without an
        exception; then the complete content appears at once, replacing any
        earlier content. If the block raises, nothing is left behind.

        Raises:
            StorageError: the backend failed.
        """
        ...

    def open_read(self, key: str) -> BinaryIO:
        """Open ``key`` for streaming reads; the caller closes it.

        Raises:
            StorageError: there is no such key, or the backend failed.
        """
        ...

    def delete(self, key: str) -> None:
        """Remove ``key``; idempotent (no error when it is gone)."""
        ...

    def exists(self, key: str) -> bool:
        """Whether a complete artifact is stored at ``key``."""
        ...

    def size(self, key: str) -> int:
        """The stored size of ``key`` in bytes (StorageError when absent)."""
        ...

    def signed_url(self, key: str, expires_in: timedelta) -> str | None:
        """A URL granting a time-limited GET of ``key``, or None if unsupported."""
        ...


@runtime_checkable
class LeftoverStorage(Storage, Protocol):
    """A storage whose interrupted writes can leave debris, and that can remove it.

    Optional. A process killed while writing leaves its write temporary
    behind where the backend has one (``.<name>.<random>.part`` on the local
    disk), and deleting a job's files can leave its folder empty. The sweeps
    call :meth:`remove_leftovers` for each finished job's folder;
    :class:`~reasonkit_export.storage.FsspecStorage` has it.
    """

    def remove_leftovers(self, prefix: str, older_than: timedelta) -> int:
        """Remove the debris under the folder ``prefix``; return how many entries went.

        Removes write temporaries not written to for ``older_than`` (a
        younger one may belong to a write still running), then the folders
        left empty, ``prefix`` itself included. Never touches a complete
        artifact. Idempotent; a missing ``prefix`` removes nothing.

        Raises:
            InvalidKey: ``prefix`` is not a valid key.
            StorageError: the backend failed.
        """
        ...


@runtime_checkable
class Notifier(Protocol):
    """Tells someone that an export changed state."""

    def notify(self, job: ExportJob, event: NotificationEvent) -> None:
        """Deliver one notification.

        May raise; the service records the failure on the job and never fails
        or repeats the export because of it. Must not log personal data.
        """
        ...


@runtime_checkable
class Clock(Protocol):
    """Returns the current time as an aware UTC datetime."""

    def __call__(self) -> datetime:
        """The current time."""
        ...


@runtime_checkable
class Delivery(Protocol):
    """Hands a completed export to someone else (GDPR Art. 20(2) direct transfer).

    The service calls every configured delivery after an export completed and
    its notification went out, records each result or failure on the job,
    and never fails or loses the export because a delivery failed.

    Attributes:
        name: unique per service, e.g. ``"webhook:partner-x"``; it labels the
            result on the job record.
    """

    name: str

    def deliver(self, job: ExportJob, open_artifact: Callable[[], Download]) -> str:
        """Deliver the completed export.

        Args:
            job: the completed job.
            open_artifact: opens the plaintext artifact for streaming; call it
                only if the data itself has to move, and close what it returns.

        Returns:
            A short, non-secret detail for the job record (``"HTTP 200"``).

        Raises:
            Exception: the delivery failed, after the adapter's own retries.
                The message must not contain secrets or personal data.
        """
        ...


@runtime_checkable
class FormatWriter(Protocol):
    """Renders an export's sections as one stream of bytes."""

    def plan(self, info: ExportInfo) -> ArtifactPlan:
        """Describe the artifact :meth:`write` will produce for ``info``."""
        ...

    def write(self, info: ExportInfo, sections: Iterable[Section], sink: BinaryIO) -> WriteResult:
        """Write every section to ``sink`` in order, streaming.

        Must not hold a whole section in memory, must not close ``sink``, and
        must let exceptions from the sections' record iterators propagate.
        """
        ...


@runtime_checkable
class Recipient(Protocol):
    """Something a file can be encrypted to (an ``age1…`` key, a passphrase)."""

    def wrap(self, file_key: bytes) -> list[Stanza]:
        """Return the stanzas that let the matching identity recover ``file_key``."""
        ...


@runtime_checkable
class Identity(Protocol):
    """Something that can open files (an ``AGE-SECRET-KEY-1…`` key, a passphrase)."""

    def unwrap(self, stanzas: Sequence[Stanza]) -> bytes | None:
        """Return the 16-byte file key, or ``None`` when no stanza is for this identity.

        Raises:
            HeaderError: a stanza of this identity's type is malformed.
        """
        ...
