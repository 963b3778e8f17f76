"""ExportService: every rule of the export lifecycle lives here.

Adapters (repositories, storage, notifiers, writers) only translate; this
module decides: validation, rate limits, the state machine, claiming and
fencing, building the artifact, expiry and downloads.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import attrs

from reasonkit_export._download import Download
from reasonkit_export._models import (
    ACTIVE_STATUSES,
    Category,
    ExportConfig,
    ExportFormat,
    ExportJob,
    ExportStatus,
    NotificationEvent,
    StorageBackend,
    coerce_category,
    coerce_format,
)
from reasonkit_export._pipeline import BufferedSink, MeteredSink
from reasonkit_export._version import __version__
from reasonkit_export.exceptions import (
    ConflictError,
    ExportError,
    ExportExpired,
    ExportNotFound,
    ExportNotReady,
    InvalidRequest,
    ProcessingError,
    RateLimitExceeded,
    SourceError,
)
from reasonkit_export.formats._base import ExportInfo, FormatWriter, Section
from reasonkit_export.notifiers import LoggingNotifier
from reasonkit_export.protocols import DataSource, JobRepository, Notifier, Storage
from reasonkit_export.repositories import FileJobRepository, InMemoryJobRepository
from reasonkit_export.storage import FsspecStorage

__all__ = ["ExportService"]

logger = logging.getLogger("reasonkit_export")

_PROGRESS_EVERY = 1024  # records between progress checks inside a category
_PROGRESS_MIN_INTERVAL = 2.0  # seconds between progress writes to the repository


def _system_clock() -> datetime:
    return datetime.now(UTC)


class _Superseded(Exception):
    """The job changed underneath this worker (cancelled, or claimed anew)."""


def _user(user_id: str | UUID) -> str:
    if isinstance(user_id, UUID):
        return str(user_id)
    if not isinstance(user_id, str) or not user_id.strip():
        raise InvalidRequest("user_id must be a non-empty string or UUID")
    if len(user_id) > 256:
        raise InvalidRequest("user_id is longer than 256 characters")
    return user_id


def _job_id(job_id: UUID | str) -> UUID:
    if isinstance(job_id, UUID):
        return job_id
    try:
        return UUID(str(job_id))
    except ValueError:
        raise ExportNotFound(job_id) from None


class ExportService:
    """Creates, builds, tracks, serves and cleans up personal-data exports.

    Args:
        sources: one :class:`~reasonkit_export.protocols.DataSource` per category.
        repository: where jobs live (default: in memory).
        storage: where artifacts live (default: a private in-memory store).
        notifier: told about completed, failed, expired and cancelled exports
            (default: :class:`~reasonkit_export.notifiers.LoggingNotifier`).
        config: limits and options (default: :class:`ExportConfig()`).
        clock: returns the current aware UTC time (default: the system clock).

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
    ) -> None:
        self._sources = self._register(sources)
        self.repository: JobRepository = repository or InMemoryJobRepository()
        self.storage: Storage = storage or FsspecStorage(f"memory://reasonkit-{uuid4().hex}")
        self.notifier: Notifier = notifier or LoggingNotifier()
        self.config = config or ExportConfig()
        self._clock = clock or _system_clock

    @classmethod
    def from_config(
        cls,
        config: ExportConfig,
        *,
        sources: Iterable[DataSource],
        repository: JobRepository | None = None,
        notifier: Notifier | None = None,
        clock: Callable[[], datetime] | None = None,
        storage_options: Mapping[str, Any] | None = None,
    ) -> ExportService:
        """Build a service with the storage the config names.

        ``local``: artifacts in ``<local_path>/files`` and, unless a repository
        is given, jobs in a :class:`FileJobRepository` at ``<local_path>/jobs``
        (the embedded default: no server). ``s3``: ``s3://<s3_bucket>``
        through s3fs (extra ``s3``; ``storage_options`` carry credentials).
        ``memory``: a private in-memory store.
        """
        if config.storage_backend is StorageBackend.LOCAL:
            assert config.local_path is not None  # checked by ExportConfig
            root = Path(config.local_path)
            storage = FsspecStorage(os.fspath(root / "files"))
            repository = repository or FileJobRepository(root / "jobs")
        elif config.storage_backend is StorageBackend.S3:
            storage = FsspecStorage(f"s3://{config.s3_bucket}", storage_options=storage_options)
        else:
            storage = FsspecStorage(f"memory://reasonkit-{uuid4().hex}")
        return cls(
            sources=sources,
            repository=repository,
            storage=storage,
            notifier=notifier,
            config=config,
            clock=clock,
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

    @property
    def categories(self) -> tuple[str, ...]:
        """Every registered category, in registration order."""
        return tuple(self._sources)

    def _now(self) -> datetime:
        return self._clock().astimezone(UTC)

    # ----------------------------------------------------------------- requests

    def create_export(
        self,
        user_id: str | UUID,
        format: ExportFormat | str,  # noqa: A002 - the seed's name
        categories: Sequence[Category | str] | Category | str,
        *,
        notify: bool = True,
    ) -> ExportJob:
        """Request an export and return its pending job.

        ``categories`` may name custom categories and ``all`` (every registered
        category). When the user already has an unfinished export of the same
        format and categories, that job is returned instead of a duplicate.

        Raises:
            InvalidRequest: unknown format, unknown or no categories, bad user id.
            RateLimitExceeded: the user is over the configured rate limit.
        """
        user = _user(user_id)
        fmt = coerce_format(format)
        wanted = self._expand(categories)
        now = self._now()
        active = self.repository.list_for_user(user, statuses=ACTIVE_STATUSES)
        for job in active:
            if job.format is fmt and set(job.categories) == set(wanted):
                return job
        self._check_rate_limit(user, active, now)
        job = ExportJob(
            user_id=user,
            format=fmt,
            categories=wanted,
            created_at=now,
            updated_at=now,
            notify=notify,
        )
        stored = self.repository.add(job)
        logger.info("export %s created (format=%s)", stored.id, fmt.value)
        return stored

    def _expand(self, categories: Sequence[Category | str] | Category | str) -> tuple[str, ...]:
        if isinstance(categories, str):
            categories = [categories]
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
        job = self.repository.get(_job_id(job_id))
        if job.user_id != _user(user_id):
            raise ExportNotFound(job_id)
        return job

    def get_job(self, job_id: UUID | str) -> ExportJob:
        """Return any job, without an ownership check (for workers and admins)."""
        return self.repository.get(_job_id(job_id))

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

        A worker building the export notices at its next progress write and
        discards what it wrote.

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
            now = self._now()
            try:
                cancelled = self.repository.save(
                    attrs.evolve(
                        job,
                        status=ExportStatus.CANCELLED,
                        lease_expires_at=None,
                        updated_at=now,
                    )
                )
            except ConflictError:
                job = self.repository.get(job.id)
                continue
            logger.info("export %s cancelled", job.id)
            self._notify(cancelled, NotificationEvent.CANCELLED)
            return cancelled

    # ---------------------------------------------------------------- the worker

    def process_export(self, job_id: UUID | str) -> ExportJob:
        """Build the export: the function the host's queue calls.

        Claims the job (pending → processing, attempt + 1), streams every
        category into the format writer, compresses and stores the artifact
        atomically, records size, sha256, counts and expiry, and notifies.
        Idempotent: on a job that another worker holds or that is finished,
        it does nothing and returns the job as it is. Failures of the export
        itself are recorded on the job (status ``failed``), not raised.

        Raises:
            ExportNotFound: there is no such job.
        """
        uid = _job_id(job_id)
        job = self.repository.get(uid)
        if job.status not in ACTIVE_STATUSES:
            return job
        claimed = self.repository.claim(uid, now=self._now(), lease=self.config.lease)
        if claimed is None:
            return self.repository.get(uid)
        if claimed.attempt > self.config.max_attempts:
            return self._fail(
                claimed,
                f"gave up after {self.config.max_attempts} attempts "
                "(each worker stopped before finishing)",
            )
        logger.info("export %s processing (attempt %d)", uid, claimed.attempt)
        try:
            return self._build(claimed)
        except _Superseded:
            logger.info("export %s attempt %d superseded; result discarded", uid, claimed.attempt)
            return self.repository.get(uid)
        except ProcessingError as exc:
            logger.warning("export %s failed: %s", uid, exc)
            return self._fail(claimed, str(exc), fenced_from=uid)

    def _writer(self, fmt: ExportFormat) -> FormatWriter:
        config = self.config
        if fmt is ExportFormat.JSON:
            from reasonkit_export.formats._json import JsonWriter

            return JsonWriter()
        if fmt is ExportFormat.CSV:
            from reasonkit_export.formats._csv import CsvWriter

            return CsvWriter(bom=config.csv_bom, neutralize_formulas=config.csv_neutralize_formulas)
        if fmt is ExportFormat.PDF:
            from reasonkit_export.formats._pdf import PdfWriter

            return PdfWriter()
        from reasonkit_export.formats._zip import ZipWriter

        return ZipWriter(
            csv_bom=config.csv_bom,
            neutralize_formulas=config.csv_neutralize_formulas,
            include_pdf=config.zip_include_pdf,
            compresslevel=config.compression_level,
        )

    def _build(self, job: ExportJob) -> ExportJob:
        writer = self._writer(job.format)
        now = self._now()
        info = ExportInfo(
            export_id=job.id,
            user_id=job.user_id,
            generated_at=now,
            format=job.format.value,
            categories=job.categories,
            generator=f"reasonkit_export {__version__}",
        )
        plan = writer.plan(info)
        gzip_on = self.config.compression_enabled and plan.gzip_allowed
        filename = f"export-{now:%Y%m%d}-{str(job.id)[:8]}.{plan.extension}"
        media_type = plan.media_type
        if gzip_on:
            filename += ".gz"
            media_type = "application/gzip"
        key = f"{job.id}/{job.attempt}/{filename}"
        progress = _Progress(self, job)
        try:
            with self.storage.open_write(key) as raw:
                artifact = MeteredSink(raw, limit=self.config.max_file_size_bytes)
                result = self._render(writer, info, progress, artifact, gzip_on)
        except (_Superseded, ProcessingError):
            raise
        except TypeError as exc:
            # The encoding raises TypeError naming the type (never the value).
            category = progress.current or "?"
            raise ProcessingError(
                f"cannot encode a record of category {category!r}: {exc}"
            ) from exc
        except ExportError as exc:
            raise ProcessingError(f"{type(exc).__name__}: {exc}") from exc
        done = self._now()
        url = self._download_url(job, key)
        completed = attrs.evolve(
            progress.job,
            status=ExportStatus.COMPLETED,
            progress=100,
            completed_at=done,
            expires_at=done + self.config.link_expiry,
            updated_at=done,
            lease_expires_at=None,
            file_size=artifact.size,
            sha256=artifact.sha256,
            filename=filename,
            media_type=media_type,
            storage_key=key,
            record_counts=dict(result.record_counts),
            download_url=url,
            error=None,
        )
        try:
            stored = self.repository.save(completed)
        except ConflictError:
            # A newer attempt or a cancel won; this attempt's file must not linger.
            self.storage.delete(key)
            raise _Superseded from None
        logger.info("export %s completed (%d bytes)", job.id, artifact.size)
        return self._notify(stored, NotificationEvent.COMPLETED)

    def _render(
        self,
        writer: FormatWriter,
        info: ExportInfo,
        progress: _Progress,
        artifact: MeteredSink,
        gzip_on: bool,
    ) -> Any:
        sink: Any = artifact
        compressor: gzip.GzipFile | None = None
        if gzip_on:
            # mtime=0 and no file name keep the output reproducible and free of paths.
            compressor = gzip.GzipFile(
                filename="",
                fileobj=artifact,
                mode="wb",
                compresslevel=self.config.compression_level,
                mtime=0,
            )
            sink = compressor
        buffered = BufferedSink(sink)
        result = writer.write(info, self._sections(info, progress), buffered)  # type: ignore[arg-type]
        buffered.flush()
        if compressor is not None:
            compressor.close()
        return result

    def _sections(self, info: ExportInfo, progress: _Progress) -> Iterator[Section]:
        for category in info.categories:
            source = self._sources.get(category)
            if source is None:
                raise SourceError(category, "no data source is registered for it any more")
            yield Section(
                category=category, records=self._guarded(source, category, info.user_id, progress)
            )

    @staticmethod
    def _guarded(
        source: DataSource, category: str, user_id: str, progress: _Progress
    ) -> Iterator[Mapping[str, Any]]:
        """Yield the source's records, naming the category in any failure."""
        progress.start(category, source, user_id)
        try:
            iterator = iter(source.records(user_id))
        except Exception as exc:
            raise SourceError(category, type(exc).__name__) from exc
        count = 0
        while True:
            try:
                record = next(iterator)
            except StopIteration:
                break
            except Exception as exc:
                raise SourceError(category, f"{type(exc).__name__} after {count} records") from exc
            if not isinstance(record, Mapping):
                raise SourceError(
                    category, f"yielded a {type(record).__name__} where a mapping was expected"
                )
            count += 1
            if count % _PROGRESS_EVERY == 0:
                progress.tick(count)
            yield record
        progress.finish(category, count)

    def _download_url(self, job: ExportJob, key: str) -> str | None:
        template = self.config.download_url_template
        if template is not None:
            return template.format(job_id=job.id)
        return self.storage.signed_url(key, self.config.link_expiry)

    def _fail(self, job: ExportJob, message: str, *, fenced_from: UUID | None = None) -> ExportJob:
        current = job
        if fenced_from is not None:
            current = self.repository.get(fenced_from)
            if current.attempt != job.attempt or current.status is not ExportStatus.PROCESSING:
                return current  # a newer attempt or a cancel owns the job now
        now = self._now()
        try:
            failed = self.repository.save(
                attrs.evolve(
                    current,
                    status=ExportStatus.FAILED,
                    error=message,
                    lease_expires_at=None,
                    updated_at=now,
                )
            )
        except ConflictError:
            return self.repository.get(job.id)
        return self._notify(failed, NotificationEvent.FAILED)

    def _notify(self, job: ExportJob, event: NotificationEvent) -> ExportJob:
        if not job.notify:
            return job
        try:
            self.notifier.notify(job, event)
        except Exception as exc:  # noqa: BLE001 - a notifier must never fail an export
            logger.warning(
                "export %s: notifier failed on %s (%s)", job.id, event.value, type(exc).__name__
            )
            with contextlib.suppress(ExportError):
                return self.repository.save(
                    attrs.evolve(
                        job, notification_error=f"{event.value}: {type(exc).__name__}: {exc}"[:500]
                    )
                )
        return job

    # -------------------------------------------------------- downloads, expiry

    def open_download(self, job_id: UUID | str, *, user_id: str | UUID) -> Download:
        """Open the user's completed export for streaming.

        Raises:
            ExportNotFound: no such job, or it belongs to another user.
            ExportExpired: the download window closed (the job becomes expired).
            ExportNotReady: the job has not completed.
        """
        job = self._owned(job_id, user_id)
        if job.status is ExportStatus.EXPIRED or self._is_past_expiry(job, self._now()):
            if job.status is not ExportStatus.EXPIRED:
                self._expire(job)
            raise ExportExpired(job.id)
        if job.status is not ExportStatus.COMPLETED:
            raise ExportNotReady(job.id, job.status.value)
        assert job.storage_key is not None
        assert job.filename is not None
        assert job.media_type is not None
        assert job.sha256 is not None
        stream = self.storage.open_read(job.storage_key)
        return Download(
            job_id=job.id,
            filename=job.filename,
            media_type=job.media_type,
            size=job.file_size or 0,
            sha256=job.sha256,
            stream=stream,
        )

    @staticmethod
    def _is_past_expiry(job: ExportJob, now: datetime) -> bool:
        return (
            job.status is ExportStatus.COMPLETED
            and job.expires_at is not None
            and job.expires_at <= now
        )

    def _expire(self, job: ExportJob) -> ExportJob:
        now = self._now()
        try:
            expired = self.repository.save(
                attrs.evolve(job, status=ExportStatus.EXPIRED, download_url=None, updated_at=now)
            )
        except ConflictError:
            return self.repository.get(job.id)
        # The state is saved first: a crash here leaves an orphan file, never a
        # completed job without its file.
        if job.storage_key:
            self.storage.delete(job.storage_key)
        logger.info("export %s expired", job.id)
        return self._notify(expired, NotificationEvent.EXPIRED)

    def expire_exports(self) -> list[ExportJob]:
        """Expire every completed export past ``expires_at`` and delete its file.

        Returns the jobs it expired. Safe to run from several hosts at once.
        """
        now = self._now()
        expired: list[ExportJob] = []
        for job in self.repository.list_by_status({ExportStatus.COMPLETED}, before=now):
            result = self._expire(job)
            if result.status is ExportStatus.EXPIRED and result.version > job.version:
                expired.append(result)
        return expired


class _Progress:
    """Tracks a worker's progress and renews its lease, throttled."""

    def __init__(self, service: ExportService, job: ExportJob) -> None:
        self._service = service
        self.job = job
        self._total = len(job.categories)
        self._done = 0
        self._expected: int | None = None
        self._last_write = time.monotonic()
        self.current: str | None = None

    def start(self, category: str, source: DataSource, user_id: str) -> None:
        """A category begins; ask the source for a count if it offers one."""
        self.current = category
        self._expected = None
        count = getattr(source, "count", None)
        if callable(count):
            with contextlib.suppress(Exception):
                value = count(user_id)
                self._expected = value if isinstance(value, int) and value > 0 else None

    def tick(self, records: int) -> None:
        """Some records of the current category are done."""
        if time.monotonic() - self._last_write < _PROGRESS_MIN_INTERVAL:
            return
        fraction = min(records / self._expected, 1.0) if self._expected else 0.0
        self._write(self._percent(self._done + fraction))

    def finish(self, category: str, records: int) -> None:
        """A category is done."""
        self._done += 1
        self.current = None
        self._write(self._percent(self._done))

    def _percent(self, categories_done: float) -> int:
        # Sources are ~90% of the work; the last 10% is finishing and storing.
        return min(int(90 * categories_done / self._total), 90)

    def _write(self, percent: int) -> None:
        if percent <= self.job.progress and time.monotonic() - self._last_write < self._renew_every:
            return
        now = self._service._now()
        try:
            self.job = self._service.repository.save(
                attrs.evolve(
                    self.job,
                    progress=max(percent, self.job.progress),
                    updated_at=now,
                    lease_expires_at=now + self._service.config.lease,
                )
            )
        except ConflictError:
            raise _Superseded from None
        self._last_write = time.monotonic()

    @property
    def _renew_every(self) -> float:
        return self._service.config.lease_seconds / 3
