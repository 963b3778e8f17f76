"""Value objects: formats, statuses, categories, jobs, schedules and configuration.

All models are frozen attrs classes with keyword-only fields; state changes go
through :func:`attrs.evolve`. Datetimes are timezone-aware UTC.
"""

from __future__ import annotations

import calendar
import enum
import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import attrs

from reasonkit_export._about import ControllerInfo
from reasonkit_export.exceptions import InvalidRequest

__all__ = [
    "ACTIVE_STATUSES",
    "RANGE",
    "TERMINAL_STATUSES",
    "ArtifactPart",
    "Category",
    "ExportConfig",
    "ExportFormat",
    "ExportJob",
    "ExportStatus",
    "NotificationEvent",
    "Range",
    "RateLimit",
    "ScheduledExport",
    "StorageBackend",
    "add_months",
    "coerce_category",
    "coerce_format",
    "ensure_utc",
    "ranges",
]


class ExportFormat(enum.StrEnum):
    """Output formats; the value is the lowercase name."""

    JSON = "json"
    CSV = "csv"
    PDF = "pdf"
    ZIP = "zip"


class ExportStatus(enum.StrEnum):
    """Where a job is in its lifecycle.

    pending → processing → completed → expired; processing → failed;
    pending/processing → cancelled. ``expired``, ``failed`` and ``cancelled``
    are terminal.
    """

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


ACTIVE_STATUSES = frozenset({ExportStatus.PENDING, ExportStatus.PROCESSING})
TERMINAL_STATUSES = frozenset({ExportStatus.FAILED, ExportStatus.EXPIRED, ExportStatus.CANCELLED})


class Category(enum.StrEnum):
    """The well-known data categories.

    Any other string is a custom category, served by a data source of that
    name. ``all`` expands to every registered category.
    """

    PROFILE = "profile"
    REASONING_HISTORY = "reasoning_history"
    API_USAGE = "api_usage"
    BILLING = "billing"
    ALL = "all"


class NotificationEvent(enum.StrEnum):
    """What a notifier is told about."""

    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    DEADLINE_EXTENDED = "deadline_extended"


class StorageBackend(enum.StrEnum):
    """Where :meth:`ExportService.from_config` puts artifacts."""

    LOCAL = "local"
    S3 = "s3"
    MEMORY = "memory"


def coerce_format(value: ExportFormat | str) -> ExportFormat:
    """Return ``value`` as an :class:`ExportFormat`, or raise InvalidRequest."""
    try:
        return ExportFormat(value.strip().lower() if isinstance(value, str) else value)
    except ValueError:
        allowed = ", ".join(f.value for f in ExportFormat)
        raise InvalidRequest(
            f"unknown export format {value!r}; expected one of {allowed}"
        ) from None


def coerce_category(value: Category | str) -> str:
    """Return a category name (the enum's value, or a custom category string)."""
    if isinstance(value, Category):
        return value.value
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"invalid category {value!r}: expected a non-empty string")
    # Case-insensitive: "Profile" and "profile" name one category.
    name = value.strip().lower()
    if len(name) > 64 or not all(c.isalnum() or c in "_-." for c in name):
        raise InvalidRequest(
            f"invalid category {value!r}: use at most 64 letters, digits, '_', '-' or '.'"
        )
    return name


def ensure_utc(value: datetime) -> datetime:
    """Return an aware datetime converted to UTC; refuse naive ones."""
    if not isinstance(value, datetime):
        raise InvalidRequest(f"expected a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidRequest("naive datetime given; reasonkit_export needs timezone-aware times")
    return value.astimezone(UTC)


def add_months(moment: datetime, months: int) -> datetime:
    """``moment`` plus calendar months, clamped to the month's last day (31 Jan + 1 = 28/29 Feb)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    last_day = calendar.monthrange(year, month)[1]
    return moment.replace(year=year, month=month, day=min(moment.day, last_day))


def _utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else ensure_utc(value)


def _tuple_of_str(value: Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _counts(value: Mapping[str, int]) -> Mapping[str, int]:
    return dict(value)


def _texts_by_name(value: Mapping[str, str]) -> Mapping[str, str]:
    return dict(value)


@attrs.frozen(kw_only=True)
class ArtifactPart:
    """One volume of a split export (each a complete, independently readable ZIP).

    ``size`` and ``sha256`` describe the volume as the user downloads it.
    """

    number: int
    key: str
    filename: str
    size: int
    sha256: str


def _parts(value: Iterable[ArtifactPart]) -> tuple[ArtifactPart, ...]:
    return tuple(value)


def _percent(_inst: object, _attribute: attrs.Attribute[Any], value: int) -> None:
    if not 0 <= value <= 100:
        raise InvalidRequest(f"progress must be within 0-100, got {value}")


@attrs.frozen(kw_only=True)
class ExportJob:
    """One export request and everything known about it.

    ``file_size`` and ``sha256`` describe the artifact exactly as the user
    downloads it (after decryption, still compressed if compression is on).
    ``version`` increases on every stored change and fences concurrent writes.
    What a host shows its users is :func:`reasonkit_export.job_view`.

    Attributes:
        id: the job id.
        user_id: whose data it is (an integer id is stored as its decimal string).
        format: ``json``, ``csv``, ``pdf`` or ``zip``.
        categories: the category names exported (``all`` already expanded).
        status: where the job is in its lifecycle (see :class:`ExportStatus`).
        progress: 0-100, updated while the export is built.
        download_url: the link from ``ExportConfig.download_url_template`` once
            completed (may carry a signed token).
        file_size: bytes of the file as the user downloads it.
        created_at: when it was requested (UTC).
        completed_at: when it completed (UTC).
        expires_at: when the download window closes (UTC).
        error: why it failed, safe to show.
        attempt: how many times a worker has claimed it.
        version: increases on every stored change; fences concurrent writes.
        started_at: when the current attempt started (UTC).
        lease_expires_at: when the current worker's claim runs out (UTC).
        retry_at: after a transient (infrastructure) failure, the earliest
            time the pending job may be claimed again (UTC).
        last_transient_error: what the last transient failure was, in words
            without personal data or server paths (for operators).
        sweep_at: when the maintenance sweep (``recover_stale``,
            ``expire_exports``) next has work on this job (UTC): files of
            finished, failed, cancelled or superseded attempts to delete (the
            deletion outbox), a notification or delivery a dead process left
            undone, a pending job to hand back. ``None``: nothing left to do.
        updated_at: when it was last stored (UTC).
        sha256: hex digest of the file as the user downloads it.
        filename: the file's real name (``export-...json.gz``).
        media_type: the IANA media type of the file.
        storage_key: where the artifact is in the storage (internal).
        record_counts: records exported per category.
        encrypted: whether the stored artifact is age-encrypted.
        recipient_fingerprint: which key set encrypted it (internal).
        notify: whether the notifier is told about this job.
        pending_notification: a notification recorded but not yet sent (outbox).
        notification_error: why the last notification failed.
        schedule_id: the schedule that created it, if any.
        warnings: things the user should know about the export, safe to show.
        due_at: the GDPR Art. 12(3) deadline (UTC).
        deadline_extension_reason: why the deadline was extended, if it was.
        since: incremental exports: only records newer than this (UTC).
        since_applied: the categories that honoured ``since``.
        redacted_counts: records changed by redaction, per category.
        rate_limit_override: why an administrator bypassed the rate limit.
        locale: the language of the human-readable parts.
        timezone: the IANA time zone of the human-readable parts.
        delivery_results: outcome of each delivery step, by name.
        parts: the volumes of a split export (empty unless split).
    """

    id: UUID = attrs.field(factory=uuid4)
    user_id: str
    format: ExportFormat = attrs.field(converter=coerce_format)
    categories: tuple[str, ...] = attrs.field(converter=_tuple_of_str)
    status: ExportStatus = attrs.field(default=ExportStatus.PENDING, converter=ExportStatus)
    progress: int = attrs.field(default=0, validator=_percent)
    download_url: str | None = None
    file_size: int | None = None
    created_at: datetime = attrs.field(converter=ensure_utc)
    completed_at: datetime | None = attrs.field(default=None, converter=_utc_or_none)
    expires_at: datetime | None = attrs.field(default=None, converter=_utc_or_none)
    error: str | None = None
    # Lifecycle.
    attempt: int = 0
    version: int = 0
    started_at: datetime | None = attrs.field(default=None, converter=_utc_or_none)
    lease_expires_at: datetime | None = attrs.field(default=None, converter=_utc_or_none)
    updated_at: datetime | None = attrs.field(default=None, converter=_utc_or_none)
    sha256: str | None = None
    filename: str | None = None
    media_type: str | None = None
    storage_key: str | None = None
    record_counts: Mapping[str, int] = attrs.field(factory=dict, converter=_counts)
    encrypted: bool = False
    recipient_fingerprint: str | None = None
    notify: bool = True
    pending_notification: NotificationEvent | None = attrs.field(
        default=None, converter=attrs.converters.optional(NotificationEvent)
    )
    notification_error: str | None = None
    schedule_id: UUID | None = None
    warnings: tuple[str, ...] = attrs.field(default=(), converter=_tuple_of_str)
    # GDPR: the Art. 12(3) deadline, incremental windows, redaction, overrides.
    due_at: datetime | None = attrs.field(default=None, converter=_utc_or_none)
    deadline_extension_reason: str | None = None
    since: datetime | None = attrs.field(default=None, converter=_utc_or_none)
    since_applied: tuple[str, ...] = attrs.field(default=(), converter=_tuple_of_str)
    redacted_counts: Mapping[str, int] = attrs.field(factory=dict, converter=_counts)
    rate_limit_override: str | None = None
    locale: str = "en"
    timezone: str = "UTC"
    delivery_results: Mapping[str, str] = attrs.field(factory=dict, converter=_texts_by_name)
    parts: tuple[ArtifactPart, ...] = attrs.field(default=(), converter=_parts)
    # Transient failures: a pending job is not claimed before ``retry_at``;
    # ``last_transient_error`` says (without personal data) what went wrong
    # last time the infrastructure failed, for operators.
    retry_at: datetime | None = attrs.field(default=None, converter=_utc_or_none)
    last_transient_error: str | None = None
    # The deletion outbox and the sweep's agenda: set in the same fenced write
    # that makes files garbage (or leaves work a crash could interrupt).
    sweep_at: datetime | None = attrs.field(default=None, converter=_utc_or_none)

    @property
    def is_active(self) -> bool:
        """Whether the job is pending or processing."""
        return self.status in ACTIVE_STATUSES


@attrs.frozen(kw_only=True)
class ScheduledExport:
    """A recurring export: a cron expression evaluated in an IANA timezone.

    Attributes:
        id: the schedule id.
        user_id: whose data it exports.
        cron_expression: five-field cron expression (minute hour day month weekday).
        format: ``json``, ``csv``, ``pdf`` or ``zip``.
        categories: the category names to export.
        notify_email: whether the created exports notify the user.
        enabled: whether it fires.
        last_run: the due time it last fired for (UTC).
        next_run: the next due time (UTC).
        timezone: the IANA time zone the expression is evaluated in.
        created_at: when it was created (UTC).
        version: increases on every stored change; fences concurrent writes.
        last_job_id: the export its last run created.
        last_error: why its last run failed to create an export.
        incremental: export only what changed since the last run.
    """

    id: UUID = attrs.field(factory=uuid4)
    user_id: str
    cron_expression: str
    format: ExportFormat = attrs.field(converter=coerce_format)
    categories: tuple[str, ...] = attrs.field(converter=_tuple_of_str)
    notify_email: bool = True
    enabled: bool = True
    last_run: datetime | None = attrs.field(default=None, converter=_utc_or_none)
    next_run: datetime | None = attrs.field(default=None, converter=_utc_or_none)
    timezone: str = "UTC"
    created_at: datetime = attrs.field(converter=ensure_utc)
    version: int = 0
    last_job_id: UUID | None = None
    last_error: str | None = None
    incremental: bool = False


_MAX_RETRY_DELAY_SECONDS = 86_400.0

RANGE = "reasonkit_export.range"
"""The attrs metadata key under which a numeric field keeps its :class:`Range`."""


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _duration_text(value: timedelta) -> str:
    seconds = value.total_seconds()
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{_number_text(seconds)}s"


@attrs.frozen(kw_only=True)
class Range:
    """The allowed values of a numeric setting, both ends included.

    Every numeric field of :class:`ExportConfig` and :class:`RateLimit`
    validates against its range (kept in the field's metadata under
    :data:`RANGE`), so a value that would overflow a date, a timer or a
    counter later is refused up front: an :class:`InvalidRequest` naming the
    setting. NaN, infinities and booleans are never numbers here.

    Attributes:
        low: the smallest allowed value.
        high: the largest allowed value.
        integer: only ``int`` values (not ``bool``); else any finite real number.
        optional: ``None`` is allowed too.
        unit: how the number is read (``hours``, ``seconds``, ``MiB``), for messages and docs.
        prefix: put before the field's name in messages (``rate_limit.``).
    """

    low: float | timedelta
    high: float | timedelta
    integer: bool = False
    optional: bool = False
    unit: str = ""
    prefix: str = ""

    @property
    def is_duration(self) -> bool:
        """Whether the values are :class:`~datetime.timedelta`."""
        return isinstance(self.low, timedelta)

    def describe(self) -> str:
        """The range in words, as the docs and the error messages say it (``0.01-87600 hours``)."""
        if isinstance(self.low, timedelta) and isinstance(self.high, timedelta):
            text = f"{_duration_text(self.low)}-{_duration_text(self.high)}"
        else:
            assert not isinstance(self.low, timedelta)
            assert not isinstance(self.high, timedelta)
            text = f"{_number_text(self.low)}-{_number_text(self.high)}"
        text += f" {self.unit}" if self.unit else ""
        return f"{text}, or None" if self.optional else text

    def _noun(self) -> str:
        if self.is_duration:
            return "a duration"
        return "an integer" if self.integer else "a number"

    def check(self, name: str, value: object) -> None:
        """Raise InvalidRequest naming ``name`` unless ``value`` lies within the range."""
        if value is None and self.optional:
            return
        if self._fits(value):
            return
        shown = _duration_text(value) if isinstance(value, timedelta) else repr(value)
        raise InvalidRequest(
            f"{self.prefix}{name} must be {self._noun()} within {self.describe()}, got {shown}"
        )

    def _fits(self, value: object) -> bool:
        if isinstance(self.low, timedelta) and isinstance(self.high, timedelta):
            return isinstance(value, timedelta) and self.low <= value <= self.high
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.integer and not isinstance(value, int):
            return False
        if isinstance(value, float) and not math.isfinite(value):
            return False
        # int against float compares exactly in Python: no overflow for huge ints.
        return bool(self.low <= value <= self.high)  # type: ignore[operator]

    def __call__(self, _inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
        """Act as an attrs validator."""
        self.check(attribute.name, value)


def _ranged(default: Any, bounds: Range) -> Any:
    """An attrs field whose values must lie within ``bounds``."""
    return attrs.field(default=default, validator=bounds, metadata={RANGE: bounds})


def ranges(cls: type) -> dict[str, Range]:
    """The :class:`Range` of every bounded field of an attrs class, by field name."""
    return {
        field.name: field.metadata[RANGE] for field in attrs.fields(cls) if RANGE in field.metadata
    }


def _font_files(_inst: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    for path in value:
        if not Path(path).is_file():
            raise InvalidRequest(f"{attribute.name}: no font file at {path!r}")
        if not path.lower().endswith((".ttf", ".otf", ".ttc", ".otc")):
            raise InvalidRequest(
                f"{attribute.name}: {path!r} is not a TrueType/OpenType font (.ttf, .otf, .ttc)"
            )


@attrs.frozen(kw_only=True)
class RateLimit:
    """How many exports one user may request.

    Attributes:
        max_active: unfinished (pending or processing) exports at once.
        max_requests: new exports within ``window``.
        window: the sliding window for ``max_requests``.
    """

    max_active: int = _ranged(1, Range(low=1, high=10_000, integer=True, prefix="rate_limit."))
    max_requests: int = _ranged(5, Range(low=1, high=1_000_000, integer=True, prefix="rate_limit."))
    window: timedelta = _ranged(  # noqa: RUF009 - _ranged is attrs.field plus a Range
        timedelta(days=1),
        Range(low=timedelta(seconds=1), high=timedelta(days=366), prefix="rate_limit."),
    )


def _storage_backend(value: StorageBackend | str) -> StorageBackend:
    try:
        return StorageBackend(value)
    except ValueError:
        allowed = ", ".join(b.value for b in StorageBackend)
        raise InvalidRequest(
            f"unknown storage_backend {value!r}; expected one of {allowed}"
        ) from None


def _template(_inst: object, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is None:
        return
    if not isinstance(value, str) or "{job_id}" not in value:
        raise InvalidRequest(f"{attribute.name} must be a string containing '{{job_id}}'")
    try:
        value.format(job_id="x", token="y")  # noqa: S106 - a probe, not a secret
    except (KeyError, IndexError, ValueError) as exc:
        raise InvalidRequest(
            f"{attribute.name} may only use the fields {{job_id}} and {{token}}"
        ) from exc


def _signing_keys(value: Iterable[str | bytes] | str | bytes) -> tuple[bytes, ...]:
    from reasonkit_export._tokens import normalize_keys

    if isinstance(value, str | bytes):
        raise InvalidRequest("signing_keys must be a list of keys (the first signs, all verify)")
    return normalize_keys(list(value))


@attrs.frozen(kw_only=True)
class ExportConfig:
    """How the service builds, stores and hands out exports.

    Every field is also a setting of :func:`reasonkit_export.settings.load_settings`
    (the same name in a TOML file, ``REASONKIT_EXPORT_<NAME>`` in the
    environment). Secrets (``encryption_key``, ``signing_keys``,
    ``decryption_identities``) never appear in ``repr``.

    Attributes:
        storage_backend: where artifacts go when no storage is given: ``local``
            (``<local_path>/files``, jobs under ``<local_path>/jobs``), ``s3``
            (``s3://<s3_bucket>``) or ``memory``.
        s3_bucket: the bucket for ``storage_backend = "s3"``.
        local_path: the directory for ``storage_backend = "local"``.
        link_expiry_hours: hours a completed export stays downloadable.
        max_file_size_mb: size cap of one export file, in MiB.
        compression_enabled: gzip JSON and CSV exports.
        encryption_key: age identity (``AGE-SECRET-KEY-1...``) that encrypts new
            exports and decrypts them.
        rate_limit: per-user limits on new exports (Art. 12(5)); ``None``
            (``rate_limit = false``) turns them off.
        download_url_template: the download link of completed exports, with
            ``{job_id}`` and optionally ``{token}``.
        compression_level: gzip/deflate level, 0-9 (1: fast, about 10% larger).
        lease_seconds: how long a worker's claim on a job lasts before it must
            renew it.
        max_attempts: attempts before an export that keeps crashing fails.
        retry_backoff: seconds before the first retry after a transient
            (infrastructure) failure; doubled per attempt, with jitter, at
            most a day.
        csv_bom: start CSV files with a UTF-8 byte order mark (for spreadsheets).
        csv_neutralize_formulas: prefix CSV cells a spreadsheet would run as a
            formula.
        zip_include_pdf: put the PDF report into ZIP exports.
        zip_include_csv: put one CSV file per category into ZIP exports.
        zip_include_html: put the offline HTML view (``index.html`` and the
            paged category pages under ``html/``) into ZIP exports.
        pdf_fonts: extra font files (TTF/OTF), tried in order for characters
            the bundled DejaVu Sans lacks in PDF reports.
        zip_pdf_summary_above: above this many records, the ZIP's PDF is a
            summary (the first ``zip_pdf_summary_records`` of each category
            and a pointer to ``index.html``); ``None``: always the complete
            report. The ``pdf`` format is always complete.
        zip_pdf_summary_records: how many records of each category the ZIP's
            summary PDF shows.
        split_archives: write a ZIP export over ``max_file_size_mb`` as several
            volumes instead of failing.
        max_split_volumes: the most volumes one split export may have; an
            export that needs more fails (``FileTooLarge``), so the total is
            bounded by ``max_split_volumes`` x ``max_file_size_mb``.
        signing_keys: keys (32+ bytes each) that sign download tokens; the first
            signs, all verify.
        schedule_min_interval: the shortest gap allowed between two runs of a
            schedule.
        response_months: months until a request's Art. 12(3) deadline
            (``ExportJob.due_at``).
        controller: who the controller is and the user's rights, written into
            every export (Art. 15(1)); ``None`` leaves the block out.
        rate_limit_fallback: hand a user over the rate limit their newest
            unexpired export of the same kind instead of an error.
        encryption_recipients: extra age recipients (``age1...``) every new
            export is encrypted to.
        decryption_identities: extra age identities that only decrypt (e.g.
            rotated-out keys).
        max_schedules_per_user: how many schedules one user may have
            (``None``: no cap).
    """

    storage_backend: StorageBackend = attrs.field(
        default=StorageBackend.LOCAL, converter=_storage_backend
    )
    s3_bucket: str | None = None
    local_path: str | None = "/var/lib/reasonkit/exports"
    # Ranges: large enough for any real deployment, small enough that no date,
    # timer or counter derived from them overflows (docs/configuration.md#ranges).
    link_expiry_hours: float = _ranged(24, Range(low=0.01, high=87_600, unit="hours"))
    max_file_size_mb: int = _ranged(500, Range(low=1, high=1_048_576, integer=True, unit="MiB"))
    compression_enabled: bool = True
    encryption_key: str | None = attrs.field(default=None, repr=False)
    rate_limit: RateLimit | None = attrs.field(factory=RateLimit)
    download_url_template: str | None = attrs.field(default=None, validator=_template)
    compression_level: int = _ranged(1, Range(low=0, high=9, integer=True))
    lease_seconds: float = _ranged(300.0, Range(low=0.01, high=86_400, unit="seconds"))
    max_attempts: int = _ranged(3, Range(low=1, high=100, integer=True))
    csv_bom: bool = True
    csv_neutralize_formulas: bool = True
    zip_include_pdf: bool = True
    zip_include_csv: bool = True
    zip_include_html: bool = True
    split_archives: bool = False
    max_split_volumes: int = _ranged(100, Range(low=1, high=10_000, integer=True, unit="volumes"))
    signing_keys: tuple[bytes, ...] = attrs.field(default=(), converter=_signing_keys, repr=False)
    schedule_min_interval: timedelta = _ranged(  # noqa: RUF009 - as window
        timedelta(days=1), Range(low=timedelta(0), high=timedelta(days=366))
    )
    # At most this many schedules per user (RateLimitExceeded beyond); None: no limit.
    max_schedules_per_user: int | None = _ranged(
        10, Range(low=1, high=100_000, integer=True, optional=True)
    )
    response_months: int = _ranged(1, Range(low=1, high=12, integer=True, unit="months"))
    controller: ControllerInfo | None = None
    rate_limit_fallback: bool = False
    encryption_recipients: tuple[str, ...] = attrs.field(default=(), converter=_tuple_of_str)
    decryption_identities: tuple[str, ...] = attrs.field(
        default=(), converter=_tuple_of_str, repr=False
    )
    # PDF report: extra font files tried in order for characters DejaVu Sans
    # lacks; and above how many records the ZIP's report.pdf is a summary of
    # the first zip_pdf_summary_records records of each category (None: never).
    pdf_fonts: tuple[str, ...] = attrs.field(
        default=(), converter=_tuple_of_str, validator=_font_files
    )
    zip_pdf_summary_above: int | None = _ranged(
        20_000, Range(low=0, high=1_000_000_000, integer=True, optional=True, unit="records")
    )
    zip_pdf_summary_records: int = _ranged(
        100, Range(low=1, high=100_000, integer=True, unit="records")
    )
    # Seconds before the first retry after a transient (infrastructure)
    # failure; doubled per attempt, with jitter (see ``retry_delay``).
    retry_backoff: float = _ranged(30.0, Range(low=0.01, high=86_400, unit="seconds"))

    def __attrs_post_init__(self) -> None:
        if self.storage_backend is StorageBackend.S3 and not self.s3_bucket:
            raise InvalidRequest("storage_backend 's3' needs s3_bucket")
        if (
            self.storage_backend is StorageBackend.S3
            and self.download_url_template is None
            and self.link_expiry_hours > 168
        ):
            raise InvalidRequest(
                "link_expiry_hours above 168 needs a download_url_template: "
                "S3 presigned links last at most 7 days"
            )
        if self.storage_backend is StorageBackend.LOCAL and not self.local_path:
            raise InvalidRequest("storage_backend 'local' needs local_path")
        if self.rate_limit is not None and not isinstance(self.rate_limit, RateLimit):
            raise InvalidRequest("rate_limit must be a RateLimit or None")
        if self.controller is not None and not isinstance(self.controller, ControllerInfo):
            raise InvalidRequest("controller must be a ControllerInfo or None")
        self._check_keys()
        template = self.download_url_template
        if template is not None and "{token}" in template and not self.signing_keys:
            raise InvalidRequest("download_url_template uses {token} but no signing_keys are set")

    def _check_keys(self) -> None:
        from reasonkit_export._encryption import validate_identity, validate_recipient

        if self.encryption_key is not None:
            validate_identity(self.encryption_key, "encryption_key")
        for index, text in enumerate(self.encryption_recipients):
            validate_recipient(text, f"encryption_recipients[{index}]")
        for index, text in enumerate(self.decryption_identities):
            validate_identity(text, f"decryption_identities[{index}]")

    @property
    def encryption_enabled(self) -> bool:
        """Whether new exports are encrypted at rest."""
        return self.encryption_key is not None or bool(self.encryption_recipients)

    @property
    def link_expiry(self) -> timedelta:
        """How long a completed export stays downloadable."""
        return timedelta(hours=self.link_expiry_hours)

    @property
    def max_file_size_bytes(self) -> int:
        """The artifact size cap in bytes (MiB-based: 1 MB here is 1,048,576 bytes)."""
        return self.max_file_size_mb * 1024 * 1024

    @property
    def lease(self) -> timedelta:
        """How long a worker's claim on a job lasts before it must renew it."""
        return timedelta(seconds=self.lease_seconds)

    def retry_delay(self, attempt: int, *, jitter: float = 1.0) -> timedelta:
        """How long a job waits after transient failure number ``attempt`` (1-based).

        ``retry_backoff * 2 ** (attempt - 1)``, at most one day, scaled by
        ``jitter`` (the service draws it uniformly from 0.5-1.0 so that jobs
        failed by one outage do not all come back at the same moment).
        """
        exponent = min(max(attempt, 1) - 1, 32)
        seconds = min(self.retry_backoff * 2.0**exponent, _MAX_RETRY_DELAY_SECONDS)
        return timedelta(seconds=seconds * jitter)
