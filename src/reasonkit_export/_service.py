"""ExportService: every rule of the export lifecycle lives here.

Adapters (repositories, storage, notifiers, writers) only translate; this
module decides: validation, rate limits, the state machine, claiming and
fencing, expiry, downloads, signed links, schedules and crash recovery. The
streaming build of one attempt lives in :mod:`reasonkit_export._builder`.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

import attrs

from reasonkit_export import scheduling
from reasonkit_export._builder import (
    Artifact,
    Redactor,
    Superseded,
    WorkerLease,
    artifact_key,
    build_artifact,
    part_key,
)
from reasonkit_export._download import Download
from reasonkit_export._encryption import KeyRing
from reasonkit_export._i18n import normalize_locale
from reasonkit_export._models import (
    ACTIVE_STATUSES,
    Category,
    ExportConfig,
    ExportFormat,
    ExportJob,
    ExportStatus,
    NotificationEvent,
    ScheduledExport,
    StorageBackend,
    add_months,
    coerce_category,
    coerce_format,
    ensure_utc,
)
from reasonkit_export._present import validate_timezone
from reasonkit_export._tokens import TokenSigner
from reasonkit_export.delivery._base import Delivery
from reasonkit_export.exceptions import (
    ConflictError,
    ExportError,
    ExportExpired,
    ExportNotFound,
    ExportNotReady,
    InvalidRequest,
    InvalidToken,
    ProcessingError,
    RateLimitExceeded,
    ScheduleNotFound,
)
from reasonkit_export.notifiers import LoggingNotifier
from reasonkit_export.protocols import (
    DataSource,
    JobRepository,
    Notifier,
    ScheduleRepository,
    Storage,
)
from reasonkit_export.repositories import (
    FileJobRepository,
    FileScheduleRepository,
    InMemoryJobRepository,
    InMemoryScheduleRepository,
)
from reasonkit_export.storage import FsspecStorage

__all__ = ["ExportService"]

if TYPE_CHECKING:
    from reasonkit_export.settings import Settings

logger = logging.getLogger("reasonkit_export")

_SCHEDULE_NAMESPACE = uuid.UUID("9d7c2a0e-6f0b-4b8e-9a51-3c2f1e0d4b7a")
_UNSET: Any = object()


def _system_clock() -> datetime:
    return datetime.now(UTC)


def _user(user_id: str | int | UUID) -> str:
    # Integer ids (most databases' primary keys) become their decimal string,
    # so 42 and "42" are one user everywhere, repository keys included.
    if isinstance(user_id, UUID) or (isinstance(user_id, int) and not isinstance(user_id, bool)):
        return str(user_id)
    if not isinstance(user_id, str) or not user_id.strip():
        raise InvalidRequest("user_id must be a non-empty string, an integer or a UUID")
    if len(user_id) > 256:
        raise InvalidRequest("user_id is longer than 256 characters")
    return user_id


def _uuid(value: UUID | str, missing: Callable[[Any], ExportError]) -> UUID:
    if isinstance(value, UUID):
        return value
    try:
        return UUID(str(value))
    except ValueError:
        raise missing(value) from None


class ExportService:
    """Creates, builds, tracks, serves, schedules and cleans up personal-data exports.

    Args:
        sources: one :class:`~reasonkit_export.protocols.DataSource` per category.
        repository: where jobs live (default: in memory).
        storage: where artifacts live (default: a private in-memory store).
        notifier: told about completed, failed, expired and cancelled exports
            (default: :class:`~reasonkit_export.notifiers.LoggingNotifier`).
        config: limits and options (default: :class:`ExportConfig()`).
        clock: returns the current aware UTC time (default: the system clock).
        schedules: where recurring-export schedules live (default: in memory).
        redactor: a hook ``(category, record, user_id) -> record`` applied to
            every record, to protect other people's data (GDPR Art. 15(4),
            20(4)); return the record unchanged (the same object) when there
            is nothing to redact. Sources may also define ``redact(record,
            user_id)`` for their own category.
        deliveries: steps run after every completed export (webhook, copy to
            another storage, an extra e-mail; see :mod:`reasonkit_export.delivery`);
            results and failures are recorded in ``ExportJob.delivery_results``.

    The defaults keep everything in memory, which suits tests; for the
    embedded default on disk use :meth:`from_config`.
    """

    def __init__(
        self,
        *,
        sources: Iterable[DataSource],
        repository: JobRepository | None = None,
        storage: Storage | None = None,
        notifier: Notifier | None = None,
        config: ExportConfig | None = None,
        clock: Callable[[], datetime] | None = None,
        schedules: ScheduleRepository | None = None,
        redactor: Redactor | None = None,
        deliveries: Sequence[Delivery] = (),
    ) -> None:
        self._sources = self._register(sources)
        self._redactor = redactor
        self._deliveries = self._check_deliveries(deliveries)
        self.repository: JobRepository = repository or InMemoryJobRepository()
        self.schedules: ScheduleRepository = schedules or InMemoryScheduleRepository()
        self.storage: Storage = storage or FsspecStorage(f"memory://reasonkit-{uuid4().hex}")
        self.notifier: Notifier = notifier or LoggingNotifier()
        self.config = config or ExportConfig()
        self._clock = clock or _system_clock
        # Serialises check-then-add in _create for the threads of one process
        # (several processes can still race; the limit is then approximate).
        self._create_lock = threading.Lock()
        self._signer = TokenSigner(self.config.signing_keys) if self.config.signing_keys else None
        self._keys = KeyRing.build(
            self.config.encryption_key,
            self.config.encryption_recipients,
            self.config.decryption_identities,
        )

    @classmethod
    def from_config(
        cls,
        config: ExportConfig,
        *,
        sources: Iterable[DataSource],
        repository: JobRepository | None = None,
        schedules: ScheduleRepository | None = None,
        notifier: Notifier | None = None,
        clock: Callable[[], datetime] | None = None,
        storage_options: Mapping[str, Any] | None = None,
        redactor: Redactor | None = None,
        deliveries: Sequence[Delivery] = (),
    ) -> ExportService:
        """Build a service with the storage the config names.

        ``local``: artifacts in ``<local_path>/files`` and, unless given, jobs
        and schedules in file repositories under ``<local_path>/jobs`` (the
        embedded default: no server). ``s3``: ``s3://<s3_bucket>`` through
        s3fs (extra ``s3``; ``storage_options`` carry credentials and the
        endpoint). ``memory``: a private in-memory store.
        """
        if config.storage_backend is StorageBackend.LOCAL:
            assert config.local_path is not None  # checked by ExportConfig
            root = Path(config.local_path)
            storage = FsspecStorage(os.fspath(root / "files"))
            repository = repository or FileJobRepository(root / "jobs")
            schedules = schedules or FileScheduleRepository(root / "jobs")
        elif config.storage_backend is StorageBackend.S3:
            storage = FsspecStorage(f"s3://{config.s3_bucket}", storage_options=storage_options)
        else:
            storage = FsspecStorage(f"memory://reasonkit-{uuid4().hex}")
        return cls(
            sources=sources,
            repository=repository,
            schedules=schedules,
            storage=storage,
            notifier=notifier,
            config=config,
            clock=clock,
            redactor=redactor,
            deliveries=deliveries,
        )

    @classmethod
    def from_settings(
        cls,
        path_or_mapping: str | os.PathLike[str] | Mapping[str, Any] | Settings | None = None,
        **overrides: Any,
    ) -> ExportService:
        """Build the service a settings file or mapping plus the environment describe.

        The one entry point the CLI, the worker and the examples share; see
        :mod:`reasonkit_export.settings` for every setting.

        Args:
            path_or_mapping: a TOML file, a mapping of the same shape, or
                :class:`~reasonkit_export.settings.Settings` already loaded;
                ``None`` reads ``$REASONKIT_EXPORT_CONFIG``, else
                ``./reasonkit-export.toml`` if it exists, else defaults only.
                ``REASONKIT_EXPORT_*`` environment variables override it.
            **overrides: ``environ`` (instead of ``os.environ``),
                ``with_sources=False`` (skip importing the sources), and
                Python objects replacing wiring settings: ``sources``,
                ``repository``, ``schedules``, ``storage``, ``notifier``,
                ``deliveries``, ``redactor``, ``clock``.

        Raises:
            ConfigError: the settings are invalid (the message names the setting).
        """
        from reasonkit_export.settings import Settings, load_settings, resolve_wiring

        environ = overrides.pop("environ", None)
        if isinstance(path_or_mapping, Settings):
            settings = path_or_mapping
        else:
            settings = load_settings(path_or_mapping, environ=environ)
        wiring = resolve_wiring(settings, **overrides)
        if wiring.storage is None:
            return cls.from_config(
                settings.config,
                sources=wiring.sources,
                repository=wiring.repository,
                schedules=wiring.schedules,
                notifier=wiring.notifier,
                clock=wiring.clock,
                redactor=wiring.redactor,
                deliveries=wiring.deliveries,
            )
        return cls(
            sources=wiring.sources,
            repository=wiring.repository,
            schedules=wiring.schedules,
            storage=wiring.storage,
            notifier=wiring.notifier,
            config=settings.config,
            clock=wiring.clock,
            redactor=wiring.redactor,
            deliveries=wiring.deliveries,
        )

    @staticmethod
    def _register(sources: Iterable[DataSource]) -> dict[str, DataSource]:
        registered: dict[str, DataSource] = {}
        for source in sources:
            if not isinstance(source, DataSource):
                raise InvalidRequest(
                    f"{type(source).__name__} is not a DataSource (needs .category and .records)"
                )
            name = coerce_category(source.category)
            if name == Category.ALL:
                raise InvalidRequest("'all' is reserved and cannot name a data source")
            if name in registered:
                raise InvalidRequest(f"two data sources serve category {name!r}")
            registered[name] = source
        return registered

    @staticmethod
    def _check_deliveries(deliveries: Sequence[Delivery]) -> tuple[Delivery, ...]:
        names: set[str] = set()
        for delivery in deliveries:
            if not isinstance(delivery, Delivery):
                raise InvalidRequest(f"{type(delivery).__name__} is not a Delivery")
            if delivery.name in names:
                raise InvalidRequest(f"two deliveries are named {delivery.name!r}")
            names.add(delivery.name)
        return tuple(deliveries)

    @property
    def categories(self) -> tuple[str, ...]:
        """Every registered category, in registration order."""
        return tuple(self._sources)

    def _now(self) -> datetime:
        return ensure_utc(self._clock())

    # ----------------------------------------------------------------- requests

    def create_export(
        self,
        user_id: str | UUID,
        format: ExportFormat | str,  # noqa: A002 - the seed's name
        categories: Sequence[Category | str] | Category | str,
        *,
        notify: bool = True,
        since: datetime | None = None,
        override_reason: str | None = None,
        locale: str | None = None,
        timezone: str | None = None,
    ) -> ExportJob:
        """Request an export and return its pending job.

        ``categories`` may name custom categories and ``all`` (every registered
        category). When the user already has an unfinished export of the same
        format and categories, that job is returned instead of a duplicate.

        Args:
            user_id: the data subject.
            format: ``json``, ``csv``, ``pdf`` or ``zip``.
            categories: what to export.
            notify: whether the notifier hears about this job.
            since: export only what changed since then, from sources that
                declare ``supports_since``; the others export everything,
                and the export says which did which.
            override_reason: an administrator's recorded reason to bypass the
                rate limit (kept on the job).
            locale: the language of the README and PDF texts (``en``, ``de``,
                or any registered catalogue; falls back to English).
            timezone: the IANA time zone (``Europe/Berlin``) in which the
                views people read (HTML, PDF, README) show times; default
                UTC. JSON and CSV keep UTC.

        Raises:
            InvalidTimezone: ``timezone`` is not an IANA time zone name.
            InvalidRequest: unknown format, unknown or no categories, bad user
                id, ``since`` in the future, or a blank override reason.
            RateLimitExceeded: the user is over the configured rate limit (and
                ``rate_limit_fallback`` found no recent export to hand back).
        """
        if since is not None:
            since = ensure_utc(since)
            if since > self._now():
                raise InvalidRequest("since lies in the future")
        if override_reason is not None and not str(override_reason).strip():
            raise InvalidRequest("override_reason must say why the rate limit is bypassed")
        return self._create(
            _user(user_id),
            coerce_format(format),
            self._expand(categories),
            notify=notify,
            since=since,
            override_reason=override_reason,
            locale=normalize_locale(locale),
            timezone=validate_timezone(timezone),
        )

    def _create(
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
        now = self._now()
        with self._create_lock:  # check-then-add, atomic among this process's threads
            active = self.repository.list_for_user(user, statuses=ACTIVE_STATUSES)
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
            stored = self.repository.add(
                ExportJob(
                    id=job_id or uuid4(),
                    user_id=user,
                    format=fmt,
                    categories=wanted,
                    created_at=now,
                    updated_at=now,
                    notify=notify,
                    schedule_id=schedule_id,
                    due_at=add_months(now, self.config.response_months),
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
        if not self.config.rate_limit_fallback:
            return None
        for job in self.repository.list_for_user(user, statuses={ExportStatus.COMPLETED}):
            if (
                job.format is fmt
                and set(job.categories) == set(wanted)
                and job.since is None
                and not self._is_past_expiry(job, now)
            ):
                return job
        return None

    def _expand(self, categories: Sequence[Category | str] | Category | str) -> tuple[str, ...]:
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
        unknown = [n for n in names if n not in self._sources]
        if unknown:
            known = ", ".join(self.categories) or "none"
            raise InvalidRequest(f"unknown categories: {', '.join(unknown)} (registered: {known})")
        if not names:
            raise InvalidRequest("no data sources are registered, so 'all' is empty")
        return tuple(names)

    def _check_rate_limit(self, user: str, active: list[ExportJob], now: datetime) -> None:
        limit = self.config.rate_limit
        if limit is None:
            return
        if len(active) >= limit.max_active:
            raise RateLimitExceeded(retry_after=None, reason="active")
        recent = self.repository.list_for_user(user, limit=limit.max_requests)
        in_window = [job for job in recent if job.created_at > now - limit.window]
        if len(in_window) >= limit.max_requests:
            oldest = min(job.created_at for job in in_window)
            raise RateLimitExceeded(retry_after=oldest + limit.window - now, reason="window")

    def _owned(self, job_id: UUID | str, user_id: str | UUID) -> ExportJob:
        job = self.repository.get(_uuid(job_id, ExportNotFound))
        if job.user_id != _user(user_id):
            raise ExportNotFound(job_id)
        return job

    def get_job(self, job_id: UUID | str) -> ExportJob:
        """Return any job, without an ownership check (for workers and admins)."""
        return self.repository.get(_uuid(job_id, ExportNotFound))

    def get_status(self, job_id: UUID | str, *, user_id: str | UUID) -> ExportJob:
        """Return the user's job; a completed job past its expiry is expired first.

        Raises:
            ExportNotFound: no such job, or it belongs to another user.
        """
        job = self._owned(job_id, user_id)
        if self._is_past_expiry(job, self._now()):
            job = self._expire(job)
        return job

    def get_history(self, user_id: str | UUID, *, limit: int = 20) -> list[ExportJob]:
        """Return the user's jobs, newest first, at most ``limit`` (1-1000)."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise InvalidRequest(f"limit must be an integer within 1-1000, got {limit!r}")
        return self.repository.list_for_user(_user(user_id), limit=limit)

    def cancel_export(self, job_id: UUID | str, *, user_id: str | UUID) -> ExportJob:
        """Cancel the user's pending or processing export; idempotent once cancelled.

        A worker building the export notices at its next progress write or
        lease renewal and discards what it wrote.

        Raises:
            ExportNotFound: no such job, or it belongs to another user.
            InvalidRequest: the job already completed, failed or expired.
        """
        job = self._owned(job_id, user_id)
        while True:
            if job.status is ExportStatus.CANCELLED:
                return job
            if job.status not in ACTIVE_STATUSES:
                raise InvalidRequest(
                    f"export {job.id} is {job.status.value}; it cannot be cancelled"
                )
            try:
                cancelled = self._transition(
                    job, ExportStatus.CANCELLED, NotificationEvent.CANCELLED
                )
            except ConflictError:
                job = self.repository.get(job.id)
                continue
            logger.info("export %s cancelled", job.id)
            self._discard_attempts(cancelled)
            return self._deliver_notification(cancelled)

    # ---------------------------------------------------------------- deadlines

    def extend_deadline(self, job_id: UUID | str, reason: str, until: datetime) -> ExportJob:
        """Extend an export's Art. 12(3) deadline once, by up to two further months.

        For the controller (no owner check). The reason is recorded on the
        job and the notifier is told, since the user must be informed.

        Raises:
            ExportNotFound: no such job.
            InvalidRequest: blank reason, ``until`` not after the current
                deadline or beyond two further months, an extension already
                granted, or the job is no longer open.
        """
        if not isinstance(reason, str) or not reason.strip():
            raise InvalidRequest("an extension needs a reason (Art. 12(3))")
        until = ensure_utc(until)
        while True:
            job = self.get_job(job_id)
            if job.status not in ACTIVE_STATUSES and job.status is not ExportStatus.FAILED:
                raise InvalidRequest(f"export {job.id} is {job.status.value}; nothing to extend")
            if job.deadline_extension_reason is not None:
                raise InvalidRequest(f"the deadline of export {job.id} was already extended")
            original = add_months(job.created_at, self.config.response_months)
            if job.due_at is None or until <= job.due_at:
                raise InvalidRequest("until must lie after the current deadline")
            if until > add_months(original, 2):
                raise InvalidRequest("the deadline may be extended by two further months at most")
            try:
                extended = self.repository.save(
                    attrs.evolve(
                        job,
                        due_at=until,
                        deadline_extension_reason=reason.strip(),
                        updated_at=self._now(),
                        pending_notification=(
                            NotificationEvent.DEADLINE_EXTENDED
                            if job.pending_notification is None
                            else job.pending_notification
                        ),
                    )
                )
            except ConflictError:
                continue  # a worker renewed its lease meanwhile; try on the fresh copy
            logger.info("export %s deadline extended", job.id)
            return self._deliver_notification(extended)

    def overdue_exports(self, now: datetime | None = None) -> list[ExportJob]:
        """Jobs past their ``due_at`` that have not completed (pending, processing, failed)."""
        moment = ensure_utc(now) if now is not None else self._now()
        overdue = [
            job
            for job in self.repository.list_by_status(
                {ExportStatus.PENDING, ExportStatus.PROCESSING, ExportStatus.FAILED}
            )
            if job.due_at is not None and job.due_at < moment
        ]
        overdue.sort(key=lambda job: (job.due_at or job.created_at, str(job.id)))
        return overdue

    # ---------------------------------------------------------------- the worker

    def process_export(self, job_id: UUID | str) -> ExportJob:
        """Build the export: the function the host's queue calls.

        Claims the job (pending → processing, attempt + 1, lease), streams
        every category into the format writer, compresses, encrypts and stores
        the artifact atomically, records size, sha256, counts and expiry, and
        notifies. Safe under at-least-once delivery: on a job another worker
        holds, or a finished one, it does nothing and returns the job as it
        is (re-sending a notification that a crashed worker never delivered).
        Failures of the export itself are recorded on the job (status
        ``failed``), not raised.

        Raises:
            ExportNotFound: there is no such job.
        """
        uid = _uuid(job_id, ExportNotFound)
        job = self.repository.get(uid)
        if job.status not in ACTIVE_STATUSES:
            return self._redeliver_if_stuck(job)
        now = self._now()
        claimed = self.repository.claim(uid, now=now, lease=self.config.lease)
        if claimed is None:
            return self.repository.get(uid)
        if claimed.attempt > self.config.max_attempts:
            return self._give_up(claimed)
        logger.info("export %s processing (attempt %d)", uid, claimed.attempt)
        self._discard_attempts(claimed, keep=claimed.attempt)
        lease = WorkerLease(
            claimed, repository=self.repository, config=self.config, clock=self._now
        )
        failure: str | None = None
        with lease:
            try:
                artifact = build_artifact(
                    lease,
                    sources=self._sources,
                    storage=self.storage,
                    config=self.config,
                    now=now,
                    encryptor=self._encryptor(),
                    redactor=self._redactor,
                )
            except Superseded:
                logger.info("export %s attempt %d superseded", uid, claimed.attempt)
                return self.repository.get(uid)
            except ProcessingError as exc:
                logger.warning("export %s failed: %s", uid, exc)
                failure = str(exc)
        # The heartbeat has stopped: nothing renews a lease on a finished job.
        if failure is not None:
            return self._finish_failed(lease, failure)
        return self._finish_completed(lease, artifact)

    def _encryptor(self) -> Callable[[Any], Any] | None:
        if not self._keys.encrypts:
            return None
        from reasonkit_export.crypto import encrypting_writer

        recipients = self._keys.recipients
        return lambda sink: encrypting_writer(sink, recipients)

    def _finish_completed(self, lease: WorkerLease, artifact: Artifact) -> ExportJob:
        done = self._now()
        job = lease.job
        expires_at = done + self.config.link_expiry
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
                encrypted=self._keys.encrypts,
                recipient_fingerprint=self._keys.fingerprint,
                error=None,
                pending_notification=NotificationEvent.COMPLETED if job.notify else None,
            )
        except Superseded:
            # A newer attempt or a cancel won; this attempt's files must not linger.
            for key in {artifact.key, *(part.key for part in artifact.parts)}:
                self.storage.delete(key)
            return self.repository.get(job.id)
        logger.info("export %s completed (%d bytes)", job.id, artifact.size)
        return self._run_deliveries(self._deliver_notification(stored))

    def _finish_failed(self, lease: WorkerLease, message: str) -> ExportJob:
        now = self._now()
        try:
            failed = lease.save(
                status=ExportStatus.FAILED,
                error=message,
                lease_expires_at=None,
                updated_at=now,
                pending_notification=NotificationEvent.FAILED if lease.job.notify else None,
            )
        except Superseded:
            return self.repository.get(lease.job.id)
        self._discard_attempts(failed)
        return self._deliver_notification(failed)

    def _give_up(self, job: ExportJob) -> ExportJob:
        message = (
            f"gave up after {self.config.max_attempts} attempts "
            "(each worker stopped before finishing)"
        )
        try:
            failed = self._transition(
                job, ExportStatus.FAILED, NotificationEvent.FAILED, error=message
            )
        except ConflictError:
            return self.repository.get(job.id)
        logger.warning("export %s failed: %s", job.id, message)
        self._discard_attempts(failed)
        return self._deliver_notification(failed)

    def _transition(
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
                updated_at=self._now(),
                pending_notification=event if job.notify else None,
                **changes,
            )
        )

    def _discard_attempts(self, job: ExportJob, *, keep: int | None = None) -> None:
        """Delete the artifacts (and volumes) of every attempt of ``job`` except ``keep``."""
        for attempt in range(1, job.attempt + 1):
            if attempt == keep:
                continue
            self.storage.delete(artifact_key(job.id, attempt))
            # Volumes are written in order and a superseded worker removes its
            # own, so the first missing one ends the run.
            number = 1
            while self.storage.exists(part_key(job.id, attempt, number)):
                self.storage.delete(part_key(job.id, attempt, number))
                number += 1
        for part in job.parts:
            self.storage.delete(part.key)

    def _download_url(
        self, job: ExportJob, artifact: Artifact, now: datetime, expires_at: datetime
    ) -> str | None:
        template = self.config.download_url_template
        if template is not None:
            token = ""
            if self._signer is not None:
                token = self._signer.sign(
                    job_id=job.id, user_id=job.user_id, issued_at=now, expires_at=expires_at
                )
            return template.format(job_id=job.id, token=token)
        if self._keys.encrypts or len(artifact.parts) > 1:
            # A presigned URL would hand out ciphertext, or only the first volume.
            return None
        try:
            return self.storage.signed_url(artifact.key, self.config.link_expiry)
        except ExportError as exc:
            logger.warning("export %s: no presigned link (%s)", job.id, type(exc).__name__)
            return None

    # ------------------------------------------------------------- notification

    def _deliver_notification(self, job: ExportJob) -> ExportJob:
        """Send the job's queued notification, then clear it (an outbox of one).

        The event is queued in the same write as the state change, so a crash
        between the two is repaired by :meth:`process_export` or
        :meth:`recover_stale` re-sending it: at most one extra notification
        per crash, never a lost one.
        """
        event = job.pending_notification
        if event is None:
            return job
        error: str | None = None
        try:
            self.notifier.notify(job, event)
        except Exception as exc:  # noqa: BLE001 - a notifier must never fail an export
            logger.warning(
                "export %s: notifier failed on %s (%s)", job.id, event.value, type(exc).__name__
            )
            error = f"{event.value}: {type(exc).__name__}: {exc}"[:500]
        changes: dict[str, Any] = {"pending_notification": None}
        if error is not None:
            changes["notification_error"] = error
        while True:
            try:
                return self.repository.save(attrs.evolve(job, **changes))
            except ConflictError:
                job = self.repository.get(job.id)
                if job.pending_notification is not event:
                    return job  # someone else settled (or replaced) it

    def _redeliver_if_stuck(self, job: ExportJob) -> ExportJob:
        """Finish what a dead worker left undone, once it has been quiet for a lease.

        Re-sends a queued notification and runs deliveries that never recorded
        a result (at least once, so a crash may repeat one).
        """
        undelivered = job.status is ExportStatus.COMPLETED and any(
            d.name not in job.delivery_results for d in self._deliveries
        )
        if job.pending_notification is None and not undelivered:
            return job
        stamp = job.updated_at or job.created_at
        if stamp + self.config.lease > self._now():
            return job  # its worker may still be at it
        return self._run_deliveries(self._deliver_notification(job))

    def _run_deliveries(self, job: ExportJob) -> ExportJob:
        """Run every delivery without a recorded result; record each outcome.

        A failing delivery never fails or loses the export: its failure is
        recorded (type and message) under its name, and the others still run.
        """
        if job.status is not ExportStatus.COMPLETED:
            return job
        results: dict[str, str] = {}
        for delivery in self._deliveries:
            if delivery.name in job.delivery_results:
                continue
            try:
                detail = delivery.deliver(
                    job,
                    lambda part=None: self._open(job, part),  # type: ignore[misc]
                )
                results[delivery.name] = f"ok: {detail}"[:500]
            except Exception as exc:  # noqa: BLE001 - recorded, never fatal to the export
                logger.warning(
                    "export %s: delivery %s failed (%s)", job.id, delivery.name, type(exc).__name__
                )
                results[delivery.name] = f"failed: {type(exc).__name__}: {exc}"[:500]
        if not results:
            return job
        while True:
            try:
                return self.repository.save(
                    attrs.evolve(job, delivery_results={**job.delivery_results, **results})
                )
            except ConflictError:
                job = self.repository.get(job.id)

    # -------------------------------------------------------- downloads, expiry

    def open_download(
        self, job_id: UUID | str, *, user_id: str | UUID, part: int | None = None
    ) -> Download:
        """Open the user's completed export for streaming (decrypted if encrypted).

        A split export (``ExportJob.parts``) is downloaded one volume at a
        time: pass ``part`` (1 to the number of parts).

        Raises:
            InvalidRequest: ``part`` is missing for a split export, out of
                range, or given for an export that is not split.
            ExportNotFound: no such job, or it belongs to another user.
            ExportExpired: the download window closed (the job becomes expired).
            ExportNotReady: the job has not completed.
        """
        return self._open(self._owned(job_id, user_id), part)

    def create_download_token(self, job_id: UUID | str, *, user_id: str | UUID) -> str:
        """Return a signed token that downloads the user's completed export.

        The token is bound to the job, the user, the purpose and the job's
        expiry; hand it out as a link and redeem it with
        :meth:`open_download_by_token`.

        Raises:
            InvalidRequest: no ``signing_keys`` are configured.
            ExportNotFound, ExportExpired, ExportNotReady: as for downloads.
        """
        if self._signer is None:
            raise InvalidRequest("create_download_token needs ExportConfig.signing_keys")
        job = self._usable(self._owned(job_id, user_id))
        assert job.expires_at is not None
        return self._signer.sign(
            job_id=job.id, user_id=job.user_id, issued_at=self._now(), expires_at=job.expires_at
        )

    def open_download_by_token(self, token: str, *, part: int | None = None) -> Download:
        """Open the export a signed token points at.

        Raises:
            InvalidToken: malformed, tampered, future-dated, or signed by a
                key that is no longer configured.
            ExportExpired: the token (or the export's download window) has
                expired: the user should see "expired" (HTTP 410).
            ExportNotReady: the job is not completed.
        """
        if self._signer is None:
            raise InvalidToken("this service has no signing keys")
        claims = self._signer.verify(token, now=self._now())
        try:
            job = self.repository.get(claims.job_id)
        except ExportNotFound:
            raise InvalidToken("download token points at no export") from None
        if not self._signer.matches_user(claims, job.user_id):
            raise InvalidToken("download token was issued for another user")
        return self._open(job, part)

    def _usable(self, job: ExportJob) -> ExportJob:
        if job.status is ExportStatus.EXPIRED or self._is_past_expiry(job, self._now()):
            if job.status is not ExportStatus.EXPIRED:
                self._expire(job)
            raise ExportExpired(job.id)
        if job.status is not ExportStatus.COMPLETED:
            raise ExportNotReady(job.id, job.status.value)
        return job

    def _open(self, job: ExportJob, part: int | None = None) -> Download:
        job = self._usable(job)
        assert job.storage_key is not None
        assert job.filename is not None
        assert job.media_type is not None
        key, filename, size, sha256 = job.storage_key, job.filename, job.file_size, job.sha256
        if job.parts:
            if part is None or not 1 <= part <= len(job.parts):
                raise InvalidRequest(
                    f"export {job.id} is split into {len(job.parts)} parts; "
                    f"pass part=1..{len(job.parts)}"
                )
            chosen = job.parts[part - 1]
            key, filename, size, sha256 = chosen.key, chosen.filename, chosen.size, chosen.sha256
        elif part is not None:
            raise InvalidRequest(f"export {job.id} is not split into parts")
        assert sha256 is not None
        stream: Any = self.storage.open_read(key)
        closers: tuple[Any, ...] = ()
        if job.encrypted:
            stream, closers = self._decrypting(job, stream), (stream,)
        return Download(
            job_id=job.id,
            filename=filename,
            media_type=job.media_type,
            size=size or 0,
            sha256=sha256,
            stream=stream,
            closers=closers,
        )

    def _decrypting(self, job: ExportJob, stream: Any) -> Any:
        from reasonkit_export.crypto import decrypting_reader

        try:
            if not self._keys.identities:
                raise ExportError(
                    f"export {job.id} is encrypted and this service holds no identity to "
                    "decrypt it (configure encryption_key or decryption_identities)"
                )
            return decrypting_reader(stream, self._keys.identities)
        except BaseException:
            stream.close()
            raise

    @staticmethod
    def _is_past_expiry(job: ExportJob, now: datetime) -> bool:
        return (
            job.status is ExportStatus.COMPLETED
            and job.expires_at is not None
            and job.expires_at <= now
        )

    def _expire(self, job: ExportJob) -> ExportJob:
        try:
            expired = self._transition(
                job, ExportStatus.EXPIRED, NotificationEvent.EXPIRED, download_url=None
            )
        except ConflictError:
            return self.repository.get(job.id)
        # The state is saved first: a crash here leaves an orphan file, never a
        # completed job without its file.
        self._discard_attempts(expired)
        logger.info("export %s expired", job.id)
        return self._deliver_notification(expired)

    def expire_exports(self) -> list[ExportJob]:
        """Expire every completed export past ``expires_at`` and delete its file.

        Returns the jobs it expired. Safe to run from several hosts at once.
        """
        now = self._now()
        expired: list[ExportJob] = []
        # A download is refused from expires_at on, so sweep that instant too.
        due = now + timedelta(microseconds=1)
        for job in self.repository.list_by_status({ExportStatus.COMPLETED}, before=due):
            try:
                result = self._expire(job)
            except ExportError as exc:  # one bad file must not stop the sweep
                logger.warning("export %s: expiry failed (%s)", job.id, type(exc).__name__)
                continue
            if result.status is ExportStatus.EXPIRED and result.version > job.version:
                expired.append(result)
        return expired

    def recover_stale(self) -> list[ExportJob]:
        """Repair what crashed or stalled workers left; for the host's periodic task.

        A processing job whose lease ran out goes back to pending (or fails
        when it has used ``max_attempts``); a pending job that no worker took
        for a whole lease is returned too. Returns the pending jobs the host
        should enqueue again for :meth:`process_export`. Completed exports
        whose worker died before notifying or delivering are finished here
        (after a lease), so nothing depends on the queue delivering again.
        """
        now = self._now()
        requeue: list[ExportJob] = []
        for job in self.repository.list_by_status({ExportStatus.PROCESSING}, before=now):
            if job.attempt >= self.config.max_attempts:
                self._give_up(job)
                continue
            try:
                requeue.append(
                    self.repository.save(
                        attrs.evolve(
                            job,
                            status=ExportStatus.PENDING,
                            lease_expires_at=None,
                            updated_at=now,
                        )
                    )
                )
            except ConflictError:
                continue
            logger.warning("export %s: worker lease ran out; requeued", job.id)
        # Completed jobs (as many as there are live downloads) whose worker died
        # before notifying or delivering: finish that now.
        for job in self.repository.list_by_status({ExportStatus.COMPLETED}):
            try:
                self._redeliver_if_stuck(job)
            except ExportError as exc:
                logger.warning("export %s: redelivery failed (%s)", job.id, type(exc).__name__)
        seen = {job.id for job in requeue}
        for job in self.repository.list_by_status(
            {ExportStatus.PENDING}, before=now - self.config.lease
        ):
            if job.id not in seen and (job.updated_at or job.created_at) <= now - self.config.lease:
                requeue.append(job)
        return requeue

    # --------------------------------------------------------------- schedules

    def schedule_export(
        self,
        user_id: str | UUID,
        cron_expression: str,
        format: ExportFormat | str,  # noqa: A002 - the seed's name
        categories: Sequence[Category | str] | Category | str,
        *,
        notify_email: bool = True,
        timezone: str = "UTC",
        incremental: bool = False,
    ) -> ScheduledExport:
        """Create a recurring export, evaluated in ``timezone`` (IANA name).

        With ``incremental``, each run exports only what changed since the
        schedule's last completed export (from sources that support it).

        Raises:
            InvalidSchedule: malformed, impossible or too frequent expression,
                or an unknown timezone.
            InvalidRequest: unknown format or categories.
        """
        user = _user(user_id)
        fmt = coerce_format(format)
        stored_categories = self._schedule_categories(categories)
        self._validate_schedule(cron_expression, timezone)
        now = self._now()
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
        return self.schedules.add(schedule)

    def _schedule_categories(
        self, categories: Sequence[Category | str] | Category | str
    ) -> tuple[str, ...]:
        """Validate categories now, but keep 'all' so later sources join in."""
        self._expand(categories)
        if isinstance(categories, str):
            categories = [categories]
        return tuple(dict.fromkeys(coerce_category(c) for c in categories))

    def _validate_schedule(self, cron_expression: str, timezone: str) -> None:
        scheduling.validate_schedule(
            cron_expression, timezone, min_interval=self.config.schedule_min_interval
        )

    def list_schedules(self, user_id: str | UUID) -> list[ScheduledExport]:
        """Return the user's schedules, oldest first."""
        return self.schedules.list_for_user(_user(user_id))

    def get_schedule(self, schedule_id: UUID | str, *, user_id: str | UUID) -> ScheduledExport:
        """Return the user's schedule.

        Raises:
            ScheduleNotFound: no such schedule, or it belongs to another user.
        """
        schedule = self.schedules.get(_uuid(schedule_id, ScheduleNotFound))
        if schedule.user_id != _user(user_id):
            raise ScheduleNotFound(schedule_id)
        return schedule

    def update_schedule(
        self,
        schedule_id: UUID | str,
        *,
        user_id: str | UUID,
        cron_expression: str = _UNSET,
        format: ExportFormat | str = _UNSET,  # noqa: A002 - the seed's name
        categories: Sequence[Category | str] | Category | str = _UNSET,
        timezone: str = _UNSET,
        enabled: bool = _UNSET,
        notify_email: bool = _UNSET,
        incremental: bool = _UNSET,
    ) -> ScheduledExport:
        """Change a schedule; only the given fields change.

        A new expression or timezone, or re-enabling, recomputes ``next_run``
        from now: the time a schedule was off never fires.

        Raises:
            ScheduleNotFound: no such schedule, or it belongs to another user.
            InvalidSchedule: the new expression or timezone is refused.
        """
        while True:
            schedule = self.get_schedule(schedule_id, user_id=user_id)
            changes: dict[str, Any] = {}
            if format is not _UNSET:
                changes["format"] = coerce_format(format)
            if categories is not _UNSET:
                changes["categories"] = self._schedule_categories(categories)
            if notify_email is not _UNSET:
                changes["notify_email"] = bool(notify_email)
            if incremental is not _UNSET:
                changes["incremental"] = bool(incremental)
            expression = schedule.cron_expression if cron_expression is _UNSET else cron_expression
            zone = schedule.timezone if timezone is _UNSET else timezone
            turning_on = enabled is not _UNSET and bool(enabled) and not schedule.enabled
            if enabled is not _UNSET:
                changes["enabled"] = bool(enabled)
            if cron_expression is not _UNSET or timezone is not _UNSET or turning_on:
                self._validate_schedule(expression, zone)
                changes.update(
                    cron_expression=expression,
                    timezone=zone,
                    next_run=scheduling.next_fire(expression, zone, self._now()),
                )
            try:
                return self.schedules.save(attrs.evolve(schedule, **changes))
            except ConflictError:
                continue  # a host ran it meanwhile; apply the change on the new version

    def delete_schedule(self, schedule_id: UUID | str, *, user_id: str | UUID) -> None:
        """Delete the user's schedule (jobs it already made stay).

        Raises:
            ScheduleNotFound: no such schedule, or it belongs to another user.
        """
        schedule = self.get_schedule(schedule_id, user_id=user_id)
        self.schedules.delete(schedule.id)

    def run_due_schedules(self, now: datetime | None = None) -> list[ExportJob]:
        """Create one job for every schedule that is due; for the host's periodic task.

        Missed fire times (downtime) coalesce into one job and ``next_run``
        moves to the first time after ``now``. Exactly once per due time, even
        with several hosts racing and crashes in between: the job id is
        derived from the schedule and its due time, so only one job can exist
        for it, and advancing the schedule is a fenced write. A schedule whose
        job cannot be created (rate limit, a removed category) records why in
        ``last_error`` and moves on. Returns the jobs to enqueue for
        :meth:`process_export`.
        """
        now = ensure_utc(now) if now is not None else self._now()
        jobs: list[ExportJob] = []
        for schedule in self.schedules.list_due(now):
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
            job = self.repository.get(job_id)  # a host that crashed after creating it
        except ExportNotFound:
            try:
                job = self._create(
                    schedule.user_id,
                    schedule.format,
                    self._expand(schedule.categories),
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
            self.schedules.save(
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
            last = self.repository.get(schedule.last_job_id)
        except ExportNotFound:
            return None
        if last.status in (ExportStatus.COMPLETED, ExportStatus.EXPIRED):
            # Reading began at started_at: changes after that are in the next window.
            return last.started_at
        return last.since  # that window never completed; keep its lower bound

    # ------------------------------------------------------------------- misc

    def __repr__(self) -> str:
        return (
            f"ExportService(categories={list(self.categories)}, "
            f"repository={self.repository!r}, storage={self.storage!r})"
        )
