"""Building one export attempt: sources → writer → gzip → cap/hash → encrypt → storage.

The service claims a job and hands it here; this module streams every
category through the format writer into storage under a key that belongs to
this attempt alone, keeps the worker's lease alive, reports progress, and
turns every failure into a :class:`ProcessingError` that names what went
wrong without personal data.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

import attrs

from reasonkit_export._about import CategoryDescription, description_of
from reasonkit_export._models import (
    ArtifactPart,
    ExportConfig,
    ExportFormat,
    ExportJob,
    ExportStatus,
)
from reasonkit_export._pipeline import (
    BackgroundSink,
    BufferedSink,
    LimitedSink,
    MeteredSink,
    gzip_writer,
)
from reasonkit_export._sources import RegisteredSource
from reasonkit_export._version import __version__
from reasonkit_export.exceptions import (
    ConflictError,
    DatabaseError,
    ExportError,
    FileTooLarge,
    InvalidKey,
    InvalidRequest,
    ProcessingError,
    SourceError,
    StorageError,
)
from reasonkit_export.formats._base import ExportInfo, FormatWriter, Section, WriteResult
from reasonkit_export.formats._spool import spool_limit
from reasonkit_export.protocols import JobRepository, Storage

__all__ = [
    "Artifact",
    "Superseded",
    "TransientFailure",
    "WorkerLease",
    "artifact_key",
    "build_artifact",
    "describe_cause",
    "describe_failure",
    "part_key",
]

_PROGRESS_MASK = 1023  # check progress every 1,024 records inside a category
_PROGRESS_MIN_INTERVAL = 2.0  # seconds between progress writes to the repository
_CANCEL_CHECK_INTERVAL = 1.0  # seconds between looks at the job for a cancel


logger = logging.getLogger("reasonkit_export")


class Superseded(Exception):
    """The job changed underneath this worker (cancelled, or claimed anew)."""


class TransientFailure(Exception):
    """The infrastructure failed (storage, job database, temporary directory).

    Not the data's fault: the attempt is worth repeating later. ``message``
    names what failed and the class of failure in words a user can read,
    never a path or a host exception's text; the cause is chained.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _StorageFailed(Exception):
    """Raised by the guarded storage handle: the artifact store, not the build, failed.

    Deliberately not an ``OSError``, so a storage adapter passes it through
    unchanged instead of wrapping it as its own failure.
    """


class _TemporaryFailed(Exception):
    """An ``OSError`` raised while rendering: the local temporary directory failed."""


class _StorageWrites:
    """The storage handle as the pipeline sees it: any failure is marked as storage's."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw

    def write(self, data: bytes | bytearray | memoryview) -> int:
        try:
            self._raw.write(data)
        except Exception as exc:
            raise _StorageFailed(type(exc).__name__) from exc
        return len(data)

    def flush(self) -> None:
        try:
            self._raw.flush()
        except Exception as exc:
            raise _StorageFailed(type(exc).__name__) from exc


@contextlib.contextmanager
def _storage_write(storage: Storage, key: str) -> Iterator[_StorageWrites]:
    """``storage.open_write(key)``, with failures sorted by where they happened.

    The storage's own failures (opening, writing, committing) come out as
    ``_StorageFailed``; an ``OSError`` of the rendering itself (a spool in a
    full temporary directory) as ``_TemporaryFailed``, so the store is not
    blamed for the local disk. Anything else passes through unchanged.
    """
    try:
        with storage.open_write(key) as raw:
            try:
                yield _StorageWrites(raw)
            except _StorageFailed:
                raise
            except OSError as exc:
                raise _TemporaryFailed(type(exc).__name__) from exc
    except (_StorageFailed, _TemporaryFailed, Superseded):
        raise
    except (StorageError, OSError) as exc:
        if isinstance(exc, InvalidKey):
            raise
        raise _StorageFailed(type(exc).__name__) from exc


def describe_failure(exc: BaseException) -> str:
    """What may be written on a job about ``exc``: our own text, or only its class.

    The library's errors (:class:`ExportError`) promise messages without
    secrets or personal data and keep them; any other exception (a host's
    notifier, delivery or storage) may quote an address, a path or a record,
    so only its class (and errno) is kept. The log has the full detail.
    """
    if isinstance(exc, ExportError) and not isinstance(exc, StorageError):
        return f"{type(exc).__name__}: {exc}"
    return describe_cause(exc)


def describe_cause(exc: BaseException) -> str:
    """The class of ``exc`` (and an errno's name and meaning), never its message.

    Follows the chain to the innermost cause, because that is what failed:
    ``OSError EIO (Input/output error)``, ``OperationalError``.
    """
    inner = exc
    seen = {id(inner)}
    while inner.__cause__ is not None and id(inner.__cause__) not in seen:
        inner = inner.__cause__
        seen.add(id(inner))
    name = type(inner).__name__
    code = getattr(inner, "errno", None)
    if isinstance(inner, OSError) and isinstance(code, int) and code in errno.errorcode:
        return f"{name} {errno.errorcode[code]} ({os.strerror(code)})"
    if isinstance(inner, TimeoutError):
        return f"{name} (timed out)"
    return name


def artifact_key(job_id: object, attempt: int) -> str:
    """The storage key of one attempt's artifact.

    Keys depend only on the job and the attempt, so any attempt's leftovers
    can be found and removed without listing the storage.
    """
    return f"{job_id}/attempt-{attempt}"


@attrs.frozen(kw_only=True)
class Artifact:
    """What a successful build produced."""

    key: str
    filename: str
    media_type: str
    size: int
    sha256: str | None  # None for several volumes: each part has its own
    record_counts: Mapping[str, int]
    warnings: tuple[str, ...]
    redacted_counts: Mapping[str, int]
    since_applied: tuple[str, ...]
    parts: tuple[ArtifactPart, ...] = ()


class WorkerLease:
    """The worker's hold on its job: fenced writes, progress, lease renewal.

    Every write goes through here under one lock, so the heartbeat thread and
    the building thread never race each other's versions. A write that loses
    the compare-and-set means another party owns the job now: the lease is
    marked superseded and the build stops at its next check.
    """

    def __init__(
        self,
        job: ExportJob,
        *,
        repository: JobRepository,
        config: ExportConfig,
        clock: Callable[[], datetime],
    ) -> None:
        self.job = job
        self._repository = repository
        self._config = config
        self._clock = clock
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.superseded = False
        self._last_write = time.monotonic()
        self._last_check = self._last_write

    def save(self, **changes: Any) -> ExportJob:
        """Save ``changes`` on top of the worker's current job, fenced by its attempt.

        When someone else changed the job meanwhile (a deadline extension,
        say) but it is still this attempt's processing job, the changes are
        applied again on the fresh copy. A cancel or a newer attempt
        supersedes this worker.
        """
        with self._lock:
            for _ in range(5):
                if self.superseded:
                    raise Superseded
                try:
                    self.job = self._repository.save(attrs.evolve(self.job, **changes))
                except ConflictError:
                    current = self._repository.get(self.job.id)
                    if (
                        current.attempt != self.job.attempt
                        or current.status is not ExportStatus.PROCESSING
                    ):
                        self.superseded = True
                        raise Superseded from None
                    self.job = current
                    continue
                self._last_write = time.monotonic()
                return self.job
            self.superseded = True
            raise Superseded

    def progress(self, percent: int, *, force: bool = False) -> None:
        """Record progress (throttled unless ``force``) and renew the lease."""
        if self.superseded:
            raise Superseded
        if not force and time.monotonic() - self._last_write < _PROGRESS_MIN_INTERVAL:
            return
        if percent <= self.job.progress and not force:
            return
        now = self._clock()
        self.save(
            progress=max(percent, self.job.progress),
            updated_at=now,
            lease_expires_at=now + self._config.lease,
        )

    def check(self) -> None:
        """Raise Superseded if the job was cancelled or claimed anew.

        Reads the job at most once a second (a progress write counts as a
        look), so a long stretch without progress writes, such as rendering
        a PDF, still notices a cancel within about a second.
        """
        if self.superseded:
            raise Superseded
        now = time.monotonic()
        if now - max(self._last_check, self._last_write) < _CANCEL_CHECK_INTERVAL:
            return
        self._last_check = now
        try:
            current = self._repository.get(self.job.id)
        except ExportError:
            return  # the heartbeat and the next write will tell
        if current.attempt != self.job.attempt or current.status is not ExportStatus.PROCESSING:
            self.superseded = True
            raise Superseded

    def renew(self) -> None:
        """Extend the lease (called by the heartbeat thread) while the job is processing."""
        if self.job.status is not ExportStatus.PROCESSING:
            return
        now = self._clock()
        with contextlib.suppress(Superseded, ExportError):
            self.save(updated_at=now, lease_expires_at=now + self._config.lease)

    def __enter__(self) -> WorkerLease:
        interval = self._config.lease_seconds / 3

        def beat() -> None:
            while not self._stop.wait(interval) and not self.superseded:
                self.renew()

        self._thread = threading.Thread(target=beat, name="reasonkit-lease", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


class _Progress:
    """Turns records and categories into a percentage on the lease.

    Reading the sources runs up to ``reading`` percent; a writer that renders
    afterwards (the PDF report; a ZIP's members, written from its spools)
    moves the rest up to 90 % through :meth:`render`. The last 10 % is
    finishing and storing.
    """

    def __init__(self, lease: WorkerLease, total: int, *, reading: int = 90) -> None:
        self._lease = lease
        self._total = max(total, 1)
        self._done = 0
        self._expected: int | None = None
        self._reading = reading
        self.current: str | None = None
        # The category read last, and whether the writer streams (its output
        # trails the reading by a few buffers, so the size cap may be reached
        # just after the category that crossed it has been read).
        self.last: str | None = None
        self.streams = False
        # The record last handed to the writer: when encoding it fails, the
        # failure path examines it to say why (never its content).
        self.record: Mapping[str, Any] | None = None

    def render(self, done: int, total: int) -> None:
        """A writer rendered ``done`` of ``total`` records; also notices a cancel."""
        share = min(done / total, 1.0) if total > 0 else 1.0
        self._lease.progress(self._reading + int((90 - self._reading) * share))
        self._lease.check()

    def start(self, category: str, source: RegisteredSource, user_id: str) -> None:
        self.current = self.last = category
        self._expected = None
        if source.counting is not None:
            with contextlib.suppress(Exception):
                value = source.counting.count(user_id)
                self._expected = value if isinstance(value, int) and value > 0 else None

    def tick(self, records: int) -> None:
        fraction = min(records / self._expected, 1.0) if self._expected else 0.0
        self._lease.progress(self._percent(self._done + fraction))
        self._lease.check()

    def finish(self) -> None:
        self._done += 1
        self.current = None
        self._lease.progress(self._percent(self._done), force=True)

    def _percent(self, categories_done: float) -> int:
        reading = self._reading
        return min(int(reading * categories_done / self._total), reading)


Redactor = Callable[[str, Mapping[str, Any], str], Mapping[str, Any]]
"""A service-wide redaction hook: ``(category, record, user_id) -> record``."""


def _guarded(
    source: RegisteredSource,
    category: str,
    info: ExportInfo,
    progress: _Progress,
    redactor: Redactor | None,
) -> Iterator[Mapping[str, Any]]:
    """Yield the source's records, redacted, naming the category in any failure."""
    user_id = info.user_id
    progress.start(category, source, user_id)
    source_redact = source.redacting.redact if source.redacting is not None else None
    redacted = 0
    try:
        if source.incremental is not None and category in info.since_applied:
            records = source.incremental.records(user_id, since=info.since)
        else:
            records = source.source.records(user_id)
        iterator = iter(records)
    except Exception as exc:
        raise SourceError(category, type(exc).__name__) from exc
    count = 0
    hooks = source_redact is not None or redactor is not None
    try:
        for record in iterator:
            if type(record) is not dict and not isinstance(record, Mapping):
                raise SourceError(
                    category, f"yielded a {type(record).__name__} where a mapping was expected"
                )
            if hooks:
                changed = _redact(
                    record,
                    category=category,
                    user_id=user_id,
                    count=count,
                    source_redact=source_redact,
                    redactor=redactor,
                )
                if changed is not None:
                    record = changed  # noqa: PLW2901 - the redacted record replaces it
                    redacted += 1
                    info.stats.redacted[category] = redacted
            count += 1
            if not count & _PROGRESS_MASK:
                progress.tick(count)
            progress.record = record
            yield record
    except (ExportError, Superseded):
        raise  # ours (a bad record, a redaction hook, a lost lease), already named
    except Exception as exc:
        raise SourceError(category, f"{type(exc).__name__} after {count} records") from exc
    progress.finish()


def _redact(
    record: Mapping[str, Any],
    *,
    category: str,
    user_id: str,
    count: int,
    source_redact: Callable[[Mapping[str, Any], str], Mapping[str, Any]] | None,
    redactor: Redactor | None,
) -> Mapping[str, Any] | None:
    """Apply the redaction hooks; return the new record, or None if nothing changed."""
    result = record
    try:
        if source_redact is not None:
            result = source_redact(result, user_id)
        if redactor is not None:
            result = redactor(category, result, user_id)
    except Exception as exc:
        raise SourceError(
            category, f"redaction hook raised {type(exc).__name__} at record {count + 1}"
        ) from exc
    if not isinstance(result, Mapping):
        raise SourceError(category, "redaction hook returned a non-mapping")
    if result is record or result == record:
        return None
    return result


def _sections(
    info: ExportInfo,
    sources: Mapping[str, RegisteredSource],
    progress: _Progress,
    redactor: Redactor | None,
) -> Iterator[Section]:
    for category in info.categories:
        source = sources.get(category)
        if source is None:
            raise SourceError(category, "no data source is registered for it any more")
        yield Section(
            category=category, records=_guarded(source, category, info, progress, redactor)
        )


def _describe_all(
    categories: tuple[str, ...], sources: Mapping[str, RegisteredSource]
) -> dict[str, CategoryDescription]:
    described: dict[str, CategoryDescription] = {}
    for category in categories:
        if category in sources:
            source = sources[category].described
            try:
                description = description_of(source) if source is not None else None
            except (InvalidRequest, TypeError) as exc:
                raise ProcessingError(
                    f"data source for category {category!r} has an invalid description: {exc}"
                ) from exc
            if description is not None:
                described[category] = description
    return described


def _excluded_all(
    categories: tuple[str, ...], sources: Mapping[str, RegisteredSource]
) -> dict[str, tuple[str, ...]]:
    """Per category, the fields its source declares it left out (``excluded_fields``)."""
    return {
        category: sources[category].excluded_fields
        for category in categories
        if category in sources and sources[category].excluded_fields
    }


def make_writer(
    fmt: ExportFormat,
    config: ExportConfig,
    *,
    render_progress: Callable[[int, int], None] | None = None,
) -> FormatWriter:
    """The format writer for ``fmt``, configured from ``config``.

    ``render_progress`` is called while a PDF report renders (records
    rendered, records in the report) and while a ZIP writes its members
    after reading the records (records written, in all members); it may
    raise to stop the build.
    """
    if fmt is ExportFormat.JSON:
        from reasonkit_export.formats._json import JsonWriter

        return JsonWriter()
    if fmt is ExportFormat.CSV:
        from reasonkit_export.formats._csv import CsvWriter

        return CsvWriter(
            bom=config.csv_bom,
            neutralize_formulas=config.csv_neutralize_formulas,
            compresslevel=config.compression_level,
            size_limit=config.max_file_size_bytes,
        )
    if fmt is ExportFormat.PDF:
        from reasonkit_export.formats._pdf import PdfWriter

        return PdfWriter(
            fonts=config.pdf_fonts,
            progress=render_progress,
            size_limit=config.max_file_size_bytes,
        )
    from reasonkit_export.formats._zip import ZipWriter

    return ZipWriter(
        csv_bom=config.csv_bom,
        neutralize_formulas=config.csv_neutralize_formulas,
        include_pdf=config.zip_include_pdf,
        include_csv=config.zip_include_csv,
        include_html=config.zip_include_html,
        compresslevel=config.compression_level,
        pdf_fonts=config.pdf_fonts,
        progress=render_progress,
        pdf_summary_above=config.zip_pdf_summary_above,
        pdf_summary_records=config.zip_pdf_summary_records,
        size_limit=config.max_file_size_bytes,
    )


Encryptor = Callable[[Any], Any]
"""Wraps a binary sink in an encrypting writer whose ``close()`` finishes the stream."""


def build_artifact(
    lease: WorkerLease,
    *,
    sources: Mapping[str, RegisteredSource],
    storage: Storage,
    config: ExportConfig,
    now: datetime,
    encryptor: Encryptor | None = None,
    redactor: Redactor | None = None,
) -> Artifact:
    """Stream the leased job's export into storage and describe the result.

    Raises:
        ProcessingError: a source failed, a value could not be encoded, the
            size cap was reached, or storage failed.
        Superseded: the job was cancelled or claimed by a newer attempt.
    """
    job = lease.job
    # A PDF report renders after the records are read, and a ZIP writes its
    # members from the spooled records: give that a share of the progress bar.
    renders = job.format is ExportFormat.PDF or (
        job.format is ExportFormat.ZIP
        and not config.split_archives
        and (config.zip_include_pdf or config.zip_include_csv or config.zip_include_html)
    )
    progress = (
        _Progress(
            lease, len(job.categories), reading=(45 if job.format is ExportFormat.PDF else 50)
        )
        if renders
        else _Progress(lease, len(job.categories))
    )
    writer = make_writer(job.format, config, render_progress=progress.render)
    descriptions = _describe_all(job.categories, sources)
    info = ExportInfo(
        export_id=job.id,
        user_id=job.user_id,
        generated_at=now,
        format=job.format.value,
        categories=job.categories,
        generator=f"reasonkit_export {__version__}",
        locale=job.locale,
        about={
            category: descriptions[category].to_dict(job.locale) if category in descriptions else {}
            for category in job.categories
            if category in sources
        },
        timezone=job.timezone,
        descriptions=descriptions,
        controller=config.controller.to_dict() if config.controller is not None else None,
        excluded_fields=_excluded_all(job.categories, sources),
        since=job.since,
        since_applied=tuple(
            category
            for category in job.categories
            if job.since is not None
            and category in sources
            and sources[category].incremental is not None
        ),
    )
    sections = _sections(info, sources, progress, redactor)
    stem = f"export-{now:%Y%m%d}-{str(job.id)[:8]}"
    with _translated_errors(progress):
        if job.format is ExportFormat.ZIP and config.split_archives:
            return _build_volumes(
                info,
                sections,
                job=job,
                storage=storage,
                config=config,
                encryptor=encryptor,
                stem=stem,
            )
        plan = writer.plan(info)
        # The writers whose output may be gzipped stream it as they read.
        progress.streams = plan.gzip_allowed
        gzip_on = config.compression_enabled and plan.gzip_allowed
        filename = f"{stem}.{plan.extension}"
        media_type = plan.media_type
        if gzip_on:
            filename += ".gz"
            media_type = "application/gzip"
        key = artifact_key(job.id, job.attempt)
        with _storage_write(storage, key) as raw:
            stored: Any = raw
            encrypting = encryptor(raw) if encryptor is not None else None
            if encrypting is not None:
                stored = encrypting
            artifact = MeteredSink(stored, limit=config.max_file_size_bytes)
            result = _render(writer, info, sections, artifact, gzip_on=gzip_on, config=config)
            if encrypting is not None:
                encrypting.close()
    return Artifact(
        key=key,
        filename=filename,
        media_type=media_type,
        size=artifact.size,
        sha256=artifact.sha256,
        record_counts=dict(result.record_counts),
        warnings=result.warnings,
        redacted_counts=dict(info.stats.redacted),
        since_applied=info.since_applied,
    )


@contextlib.contextmanager
def _translated_errors(progress: _Progress) -> Iterator[None]:
    """Sort any failure of a build into the data's fault or the infrastructure's.

    The data's (a source, an unencodable record, the size cap): a
    :class:`ProcessingError`, and the job fails. The infrastructure's (the
    artifact store, the job database, the temporary directory): a
    :class:`TransientFailure`, and the job is tried again later.
    """
    try:
        yield
    except FileTooLarge as exc:
        # Name the category being read when the cap was reached (for a
        # streaming writer, the one read last); a spooling writer's members
        # are written after all reading, when no one category is to blame.
        category = progress.current or (progress.last if progress.streams else None)
        if exc.category is None and category is not None:
            raise exc.in_category(category) from exc
        raise
    except (Superseded, ProcessingError):
        raise
    except _StorageFailed as exc:
        raise TransientFailure(
            f"the export could not be stored: the storage failed ({describe_cause(exc)})"
        ) from exc
    except _TemporaryFailed as exc:
        raise TransientFailure(
            f"the export could not be built: the temporary directory failed ({describe_cause(exc)})"
        ) from exc
    except DatabaseError as exc:
        raise TransientFailure(
            f"the export was interrupted: the job database failed ({describe_cause(exc)})"
        ) from exc
    except (StorageError, OSError) as exc:
        if isinstance(exc, InvalidKey):
            raise ProcessingError(f"the export could not be stored ({type(exc).__name__})") from exc
        raise TransientFailure(
            f"the export could not be built: a local file operation failed ({describe_cause(exc)})"
        ) from exc
    except (TypeError, ValueError, RecursionError, OverflowError) as exc:
        raise ProcessingError(_unencodable(exc, progress)) from exc
    except ExportError as exc:
        raise ProcessingError(f"{type(exc).__name__}: {exc}") from exc
    except Exception as exc:
        # A failure of no known kind would fail every attempt alike: fail once.
        raise ProcessingError(
            f"the export could not be built (unexpected {type(exc).__name__})"
        ) from exc


def _unencodable(exc: BaseException, progress: _Progress) -> str:
    """Say which category's record could not be encoded, and why (never its content)."""
    where = f"category {progress.current!r}" if progress.current else "the export"
    reason = why_unencodable(progress.record) if progress.record is not None else None
    if reason is None:
        text = str(exc)
        # The encoding's own TypeError names the type, never the value.
        reason = (
            text
            if text.startswith("cannot encode a value of type")
            else (f"it cannot be encoded ({type(exc).__name__})")
        )
    return f"a record of {where} cannot be exported: {reason}"


MAX_RECORD_DEPTH = 500
"""Records nested deeper than this (mappings and lists inside each other) are refused."""

_MAX_EXAMINED = 1_000_000


def why_unencodable(record: Any) -> str | None:
    """Why ``record`` cannot be encoded (cyclic, too deep, an integer too large), or None.

    Walks the record without recursion, so it works on exactly the records
    that made the encoder overflow its stack.
    """
    digits = sys.get_int_max_str_digits()
    too_large = 10**digits if digits else None
    on_path: set[int] = set()
    stack: list[tuple[Any, int, bool]] = [(record, 1, False)]
    examined = 0
    while stack and examined < _MAX_EXAMINED:
        value, depth, leaving = stack.pop()
        if leaving:
            on_path.discard(id(value))
            continue
        examined += 1
        if isinstance(value, int) and not isinstance(value, bool):
            if too_large is not None and abs(value) >= too_large:
                return f"it holds an integer too large to write ({digits} digits at most)"
            continue
        if isinstance(value, Mapping):
            children: Iterable[Any] = value.values()
        elif isinstance(value, list | tuple | set | frozenset):
            children = value
        else:
            continue
        if id(value) in on_path:
            return "it refers to itself (a cyclic record)"
        if depth > MAX_RECORD_DEPTH:
            return f"it is nested too deeply (more than {MAX_RECORD_DEPTH} levels)"
        on_path.add(id(value))
        stack.append((value, depth, True))
        stack.extend((child, depth + 1, False) for child in children)
    return None


def part_key(job_id: object, attempt: int, number: int) -> str:
    """The storage key of one volume of a split export."""
    return f"{artifact_key(job_id, attempt)}.part-{number}"


class _Volumes:
    """Opens each volume of a split ZIP as its own atomic, capped, encrypted artifact."""

    def __init__(
        self,
        *,
        job: ExportJob,
        storage: Storage,
        limit: int,
        max_volumes: int,
        encryptor: Encryptor | None,
    ) -> None:
        self.limit = limit
        self.max_volumes = max_volumes
        self._job = job
        self._storage = storage
        self._encryptor = encryptor
        self.written: list[tuple[int, str, int, str]] = []

    @contextlib.contextmanager
    def open(self, number: int) -> Iterator[MeteredSink]:
        if number > self.max_volumes:
            # The total bound: without it an endless source writes volumes without end.
            raise FileTooLarge(self.limit, volumes=self.max_volumes)
        key = part_key(self._job.id, self._job.attempt, number)
        with _storage_write(self._storage, key) as raw:
            encrypting = self._encryptor(raw) if self._encryptor is not None else None
            target: Any = encrypting if encrypting is not None else raw
            volume = MeteredSink(target, limit=self.limit)
            yield volume
            if encrypting is not None:
                encrypting.close()
        self.written.append((number, key, volume.size, volume.sha256))


def _build_volumes(
    info: ExportInfo,
    sections: Iterator[Section],
    *,
    job: ExportJob,
    storage: Storage,
    config: ExportConfig,
    encryptor: Encryptor | None,
    stem: str,
) -> Artifact:
    from reasonkit_export.formats._split import SplitZipWriter

    volumes = _Volumes(
        job=job,
        storage=storage,
        limit=config.max_file_size_bytes,
        max_volumes=config.max_split_volumes,
        encryptor=encryptor,
    )
    writer = SplitZipWriter(
        compresslevel=config.compression_level,
        neutralize_formulas=config.csv_neutralize_formulas,
        csv_bom=config.csv_bom,
    )
    try:
        result = writer.write_volumes(info, sections, volumes)
    except BaseException:
        # Finished volumes of a failed or superseded build must not linger.
        for _number, key, _size, _sha256 in volumes.written:
            try:
                storage.delete(key)
            except ExportError as exc:  # the next attempt's clean-up repeats it
                logger.warning("cannot delete volume of a failed build (%s)", describe_cause(exc))
        raise
    total = len(volumes.written)
    parts = tuple(
        ArtifactPart(
            number=number,
            key=key,
            filename=f"{stem}-part-{number}-of-{total}.zip",
            size=size,
            sha256=sha256,
        )
        for number, key, size, sha256 in volumes.written
    )
    return Artifact(
        key=parts[0].key,
        filename=f"{stem}.zip",
        media_type="application/zip",
        size=sum(part.size for part in parts),
        sha256=parts[0].sha256 if total == 1 else None,
        record_counts=dict(result.record_counts),
        warnings=result.warnings,
        redacted_counts=dict(info.stats.redacted),
        since_applied=info.since_applied,
        parts=parts,
    )


def _render(
    writer: FormatWriter,
    info: ExportInfo,
    sections: Iterator[Section],
    artifact: MeteredSink,
    *,
    gzip_on: bool,
    config: ExportConfig,
) -> WriteResult:
    compressor = gzip_writer(artifact, config.compression_level) if gzip_on else None
    # Encoding holds the GIL; compression, encryption and storage writes mostly
    # do not: a second thread runs them while the writer encodes the next block.
    background = BackgroundSink(compressor if compressor is not None else artifact)
    buffered = BufferedSink(background, size=1024 * 1024)
    target: Any = buffered
    if compressor is not None:
        # The cap counts compressed bytes; bound the uncompressed ones (the
        # work) too, or a very compressible source would run for a long time.
        cap = config.max_file_size_bytes
        target = LimitedSink(buffered, limit=spool_limit(cap) or cap, cap=cap)
    try:
        result = writer.write(info, sections, target)
        buffered.flush()
        background.close()
    finally:
        background.abort()
    if compressor is not None:
        compressor.close()
    return result
