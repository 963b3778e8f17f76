"""ExportService: the one public front door of the export lifecycle.

Adapters (repositories, storage, notifiers, writers) only translate; the rules
live behind this class in :mod:`reasonkit_export._lifecycle`, one collaborator
per concern (requests and limits, the worker, the notification outbox,
deliveries, downloads and tokens, deadlines and expiry, schedules). This
module builds them from the constructor's arguments and delegates every
call; the streaming build of one attempt lives in
:mod:`reasonkit_export._builder`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

from reasonkit_export._builder import Redactor
from reasonkit_export._compat import renamed_keyword
from reasonkit_export._download import Download
from reasonkit_export._lifecycle._cleanup import Sweeper
from reasonkit_export._lifecycle._context import ServiceContext
from reasonkit_export._lifecycle._context import parse_uuid as _uuid
from reasonkit_export._lifecycle._deliveries import DeliveryRunner, check_deliveries
from reasonkit_export._lifecycle._downloads import Downloads
from reasonkit_export._lifecycle._expiry import Expiry
from reasonkit_export._lifecycle._outbox import Outbox
from reasonkit_export._lifecycle._requests import Requests
from reasonkit_export._lifecycle._schedules import UNSET, Scheduler
from reasonkit_export._lifecycle._worker import Worker
from reasonkit_export._models import (
    Category,
    ExportConfig,
    ExportFormat,
    ExportJob,
    ScheduledExport,
    StorageBackend,
    coerce_category,
    ensure_utc,
)
from reasonkit_export.delivery._base import Delivery
from reasonkit_export.exceptions import ExportNotFound, InvalidRequest
from reasonkit_export.notifiers import LoggingNotifier
from reasonkit_export.protocols import (
    Clock,
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

_UNSET: Any = UNSET


def _system_clock() -> datetime:
    return datetime.now(UTC)


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
        clock: Clock | None = None,
        schedules: ScheduleRepository | None = None,
        redactor: Redactor | None = None,
        deliveries: Sequence[Delivery] = (),
    ) -> None:
        self._ctx = ServiceContext(
            sources=self._register(sources),
            redactor=redactor,
            deliveries=check_deliveries(deliveries),
            repository=repository or InMemoryJobRepository(),
            schedules=schedules or InMemoryScheduleRepository(),
            storage=storage or FsspecStorage(f"memory://reasonkit-{uuid4().hex}"),
            notifier=notifier or LoggingNotifier(),
            config=config or ExportConfig(),
            clock=clock or _system_clock,
        )
        outbox = Outbox(self._ctx)
        self._expiry = Expiry(self._ctx, outbox)
        self._downloads = Downloads(self._ctx, self._expiry)
        self._requests = Requests(self._ctx, outbox, self._expiry)
        runner = DeliveryRunner(self._ctx, self._downloads)
        self._sweeper = Sweeper(self._ctx, outbox, runner)
        self._worker = Worker(self._ctx, outbox, runner, self._sweeper)
        self._scheduler = Scheduler(self._ctx, self._requests)

    @classmethod
    def from_config(
        cls,
        config: ExportConfig,
        *,
        sources: Iterable[DataSource],
        repository: JobRepository | None = None,
        schedules: ScheduleRepository | None = None,
        notifier: Notifier | None = None,
        clock: Clock | None = None,
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
            repository = repository or FileJobRepository(
                root / "jobs", signing_keys=config.signing_keys
            )
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

    # The adapters and config are public attributes; they live in the shared
    # context so that every collaborator sees a reassignment.

    @property
    def repository(self) -> JobRepository:
        """Where jobs live."""
        return self._ctx.repository

    @repository.setter
    def repository(self, value: JobRepository) -> None:
        self._ctx.repository = value

    @property
    def schedules(self) -> ScheduleRepository:
        """Where schedules live."""
        return self._ctx.schedules

    @schedules.setter
    def schedules(self, value: ScheduleRepository) -> None:
        self._ctx.schedules = value

    @property
    def storage(self) -> Storage:
        """Where artifacts live."""
        return self._ctx.storage

    @storage.setter
    def storage(self, value: Storage) -> None:
        self._ctx.storage = value

    @property
    def notifier(self) -> Notifier:
        """Who hears about completed, failed, expired and cancelled exports."""
        return self._ctx.notifier

    @notifier.setter
    def notifier(self, value: Notifier) -> None:
        self._ctx.notifier = value

    @property
    def config(self) -> ExportConfig:
        """Limits and options."""
        return self._ctx.config

    @config.setter
    def config(self, value: ExportConfig) -> None:
        self._ctx.config = value

    @property
    def _sources(self) -> Mapping[str, DataSource]:
        return self._ctx.sources

    @property
    def _clock(self) -> Clock:
        return self._ctx.clock

    @property
    def categories(self) -> tuple[str, ...]:
        """Every registered category, in registration order."""
        return tuple(self._ctx.sources)

    def _now(self) -> datetime:
        return ensure_utc(self._ctx.clock())

    # -------- requests and limits (_lifecycle._requests)

    def create_export(
        self,
        user_id: str | int | UUID,
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
        return self._requests.create_export(
            user_id,
            format,
            categories,
            notify=notify,
            since=since,
            override_reason=override_reason,
            locale=locale,
            timezone=timezone,
        )

    def get_job(self, job_id: UUID | str) -> ExportJob:
        """Return any job, without an ownership check (for workers and admins)."""
        return self._ctx.repository.get(_uuid(job_id, ExportNotFound))

    def get_status(self, job_id: UUID | str, *, user_id: str | int | UUID) -> ExportJob:
        """Return the user's job; a completed job past its expiry is expired first.

        Raises:
            ExportNotFound: no such job, or it belongs to another user.
        """
        return self._requests.get_status(job_id, user_id=user_id)

    def get_history(self, user_id: str | int | UUID, *, limit: int = 20) -> list[ExportJob]:
        """Return the user's jobs, newest first, at most ``limit`` (1-1000)."""
        return self._requests.get_history(user_id, limit=limit)

    def cancel_export(self, job_id: UUID | str, *, user_id: str | int | UUID) -> ExportJob:
        """Cancel the user's pending or processing export; idempotent once cancelled.

        A worker building the export notices at its next progress write or
        lease renewal and discards what it wrote.

        Raises:
            ExportNotFound: no such job, or it belongs to another user.
            InvalidRequest: the job already completed, failed or expired.
        """
        return self._requests.cancel_export(job_id, user_id=user_id)

    # -------- deadlines and expiry (_lifecycle._expiry)

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
        return self._expiry.extend_deadline(job_id, reason, until)

    def overdue_exports(self, now: datetime | None = None) -> list[ExportJob]:
        """Jobs past their ``due_at`` that have not completed (pending, processing, failed)."""
        return self._expiry.overdue_exports(now)

    def expire_exports(self) -> list[ExportJob]:
        """Expire every completed export past ``expires_at`` and delete its file.

        Also finishes every deletion a crash interrupted (the deletion outbox,
        ``ExportJob.sweep_at``): files of failed, cancelled, expired and
        superseded attempts. Returns the jobs it expired. Safe to run from
        several hosts at once.
        """
        expired = self._expiry.expire_exports()
        self._sweeper.run(self._ctx.now(), hand_back=False)
        return expired

    # -------- the worker (_lifecycle._worker)

    def process_export(self, job_id: UUID | str) -> ExportJob:
        """Build the export: the function the host's queue calls.

        Claims the job (pending → processing, attempt + 1, lease), streams
        every category into the format writer, compresses, encrypts and stores
        the artifact atomically, records size, sha256, counts and expiry, and
        notifies. Safe under at-least-once delivery: on a job another worker
        holds, or a finished one, it does nothing and returns the job as it
        is (re-sending a notification that a crashed worker never delivered).
        Failures of the export itself (a source raising, a record that cannot
        be encoded, the size cap) are recorded on the job (status ``failed``),
        not raised. Failures of the infrastructure (storage, the job database,
        the temporary directory) put the job back to ``pending`` with
        ``retry_at`` after a backoff (``ExportConfig.retry_backoff``) and the
        reason in ``last_transient_error``; the attempt counts towards
        ``max_attempts``. A job waiting for its ``retry_at`` is left alone.

        Raises:
            ExportNotFound: there is no such job.
            DatabaseError: the job database failed so that not even the
                retry could be recorded; the lease running out brings the
                job back through :meth:`recover_stale`.
        """
        return self._worker.process_export(job_id)

    def recover_stale(self) -> list[ExportJob]:
        """Repair what crashed or stalled workers left; for the host's periodic task.

        A processing job whose lease ran out goes back to pending (or fails
        when it has used ``max_attempts``); a pending job that no worker took
        for a whole lease, and one whose retry backoff is over, is returned
        too, each at most once per lease (a returned job is stamped).
        Returns the pending jobs the host should enqueue again for
        :meth:`process_export`. Finished exports whose worker or caller died
        before sending the queued notification (any event: completed,
        failed, cancelled, expired) or, for completed ones, before
        delivering are finished here (after a lease), so nothing depends on
        the queue delivering again. Every deletion a crash interrupted is
        finished too (see :meth:`expire_exports`). Reads only the jobs with
        work due (``ExportJob.sweep_at``), not every job.
        """
        return self._worker.recover_stale()

    # -------- downloads and tokens (_lifecycle._downloads)

    def open_download(
        self, job_id: UUID | str, *, user_id: str | int | UUID, part: int | None = None
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
        return self._downloads.open(self._requests.owned(job_id, user_id), part)

    def create_download_token(self, job_id: UUID | str, *, user_id: str | int | UUID) -> str:
        """Return a signed token that downloads the user's completed export.

        The token is bound to the job, the user, the purpose and the job's
        expiry; hand it out as a link and redeem it with
        :meth:`open_download_by_token`.

        Raises:
            InvalidRequest: no ``signing_keys`` are configured.
            ExportNotFound, ExportExpired, ExportNotReady: as for downloads.
        """
        return self._downloads.create_token(lambda: self._requests.owned(job_id, user_id))

    def open_download_by_token(self, token: str, *, part: int | None = None) -> Download:
        """Open the export a signed token points at.

        Raises:
            InvalidToken: malformed, tampered, future-dated, or signed by a
                key that is no longer configured.
            ExportExpired: the token (or the export's download window) has
                expired: the user should see "expired" (HTTP 410).
            ExportNotReady: the job is not completed.
        """
        return self._downloads.open_by_token(token, part=part)

    # -------- schedules (_lifecycle._schedules)

    def schedule_export(
        self,
        user_id: str | int | UUID,
        cron_expression: str,
        format: ExportFormat | str,  # noqa: A002 - the seed's name
        categories: Sequence[Category | str] | Category | str,
        *,
        notify: bool = True,
        timezone: str = "UTC",
        incremental: bool = False,
        notify_email: bool = _UNSET,
    ) -> ScheduledExport:
        """Create a recurring export, evaluated in ``timezone`` (IANA name).

        With ``incremental``, each run exports only what changed since the
        schedule's last completed export (from sources that support it).
        ``notify``: whether the notifier hears about the jobs it makes (as
        for :meth:`create_export`; stored as ``ScheduledExport.notify_email``).
        ``notify_email=`` is the deprecated old name of ``notify=`` (one
        release, with a DeprecationWarning).

        Raises:
            InvalidSchedule: malformed, impossible or too frequent expression,
                or an unknown timezone.
            InvalidRequest: unknown format or categories.
            RateLimitExceeded: the user already has
                ``ExportConfig.max_schedules_per_user`` schedules.
        """
        return self._scheduler.schedule_export(
            user_id,
            cron_expression,
            format,
            categories,
            notify_email=renamed_keyword("notify_email", notify_email, notify, unset=_UNSET),
            timezone=timezone,
            incremental=incremental,
        )

    def list_schedules(self, user_id: str | int | UUID) -> list[ScheduledExport]:
        """Return the user's schedules, oldest first."""
        return self._scheduler.list_schedules(user_id)

    def get_schedule(
        self, schedule_id: UUID | str, *, user_id: str | int | UUID
    ) -> ScheduledExport:
        """Return the user's schedule.

        Raises:
            ScheduleNotFound: no such schedule, or it belongs to another user.
        """
        return self._scheduler.get_schedule(schedule_id, user_id=user_id)

    def update_schedule(
        self,
        schedule_id: UUID | str,
        *,
        user_id: str | int | UUID,
        cron_expression: str = _UNSET,
        format: ExportFormat | str = _UNSET,  # noqa: A002 - the seed's name
        categories: Sequence[Category | str] | Category | str = _UNSET,
        timezone: str = _UNSET,
        enabled: bool = _UNSET,
        notify: bool = _UNSET,
        incremental: bool = _UNSET,
        notify_email: bool = _UNSET,
    ) -> ScheduledExport:
        """Change a schedule; only the given fields change.

        ``notify_email=`` is the deprecated old name of ``notify=``.

        A new expression or timezone, or re-enabling, recomputes ``next_run``
        from now: the time a schedule was off never fires.

        Raises:
            ScheduleNotFound: no such schedule, or it belongs to another user.
            InvalidSchedule: the new expression or timezone is refused.
        """
        return self._scheduler.update_schedule(
            schedule_id,
            user_id=user_id,
            cron_expression=cron_expression,
            format=format,
            categories=categories,
            timezone=timezone,
            enabled=enabled,
            notify_email=renamed_keyword("notify_email", notify_email, notify, unset=_UNSET),
            incremental=incremental,
        )

    def delete_schedule(self, schedule_id: UUID | str, *, user_id: str | int | UUID) -> None:
        """Delete the user's schedule (jobs it already made stay).

        Raises:
            ScheduleNotFound: no such schedule, or it belongs to another user.
        """
        self._scheduler.delete_schedule(schedule_id, user_id=user_id)

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
        return self._scheduler.run_due_schedules(now)

    def __repr__(self) -> str:
        return (
            f"ExportService(categories={list(self.categories)}, "
            f"repository={self.repository!r}, storage={self.storage!r})"
        )
