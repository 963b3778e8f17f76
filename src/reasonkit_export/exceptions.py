"""Every error reasonkit_export raises.

The tree::

    ExportError
    ├── InvalidRequest (ValueError)         bad arguments, bad configuration
    │   ├── InvalidSchedule                 a cron expression or timezone we refuse
    │   ├── InvalidTimezone                 an export's timezone is not an IANA name
    │   └── ConfigError                     a CLI/TOML/environment setting we refuse
    ├── NotFound (LookupError)              no such job or schedule (or another user's)
    │   └── ExportNotFound                  no such job (or another user's job)
    │       └── ScheduleNotFound            no such schedule (or another user's); see below
    ├── ExportExpired                       the download window has closed
    ├── ExportNotReady                      the job has not completed (yet)
    ├── InvalidToken                        a download token is bad, expired or revoked
    ├── RateLimitExceeded                   too many requests; carries retry_after
    ├── ProcessingError                     an export could not be built
    │   ├── SourceError                     a data source raised; carries category
    │   └── FileTooLarge                    the artifact would exceed the size cap
    │       └── RecordTooLarge              one record alone is larger than the cap
    ├── StorageError (OSError)              a storage backend failed
    │   └── InvalidKey (also ValueError)    a storage key we refuse (e.g. traversal)
    ├── DatabaseError                       a job or schedule repository failed
    │   └── ConflictError                   a fenced write lost (stale version/attempt)
    │       └── ConflictRetriesExhausted    it kept losing for every bounded retry
    ├── DeliveryError                       a delivery step (webhook, copy) failed
    ├── DestinationRefused (OSError)        a delivery address the policy refuses
    ├── SmtpDeliveryError (SMTPException)   a notification e-mail could not be sent
    └── CryptoError                         age encryption / decryption failed
        ├── KeyFormatError (ValueError)     a malformed recipient or identity string
        ├── HeaderError                     malformed age header
        ├── NoIdentityMatch                 no configured identity opens the file
        ├── HeaderMacError                  the header MAC does not verify
        └── PayloadError                    tampered, truncated, reordered or trailing data

``ScheduleNotFound`` is not an export that was not found: catch
:class:`NotFound` for both, or each by name. **Deprecated:** it still
subclasses ``ExportNotFound`` for this release, so ``except ExportNotFound``
keeps catching a missing schedule; in the next release it moves up to sit
directly under ``NotFound``, next to ``ExportNotFound``.

Errors carry context as attributes (``job_id``, ``retry_after``, ``category``)
and their messages never contain secrets or personal data.
"""

from __future__ import annotations

import smtplib
from datetime import timedelta
from uuid import UUID

__all__ = [
    "ConfigError",
    "ConflictError",
    "ConflictRetriesExhausted",
    "CryptoError",
    "DatabaseError",
    "DeliveryError",
    "DestinationRefused",
    "ExportError",
    "ExportExpired",
    "ExportNotFound",
    "ExportNotReady",
    "FileTooLarge",
    "HeaderError",
    "HeaderMacError",
    "InvalidKey",
    "InvalidRequest",
    "InvalidSchedule",
    "InvalidTimezone",
    "InvalidToken",
    "KeyFormatError",
    "NoIdentityMatch",
    "NotFound",
    "PayloadError",
    "ProcessingError",
    "RateLimitExceeded",
    "RecordTooLarge",
    "ScheduleNotFound",
    "SmtpDeliveryError",
    "SourceError",
    "StorageError",
]


class ExportError(Exception):
    """Root of every error raised by reasonkit_export."""


class InvalidRequest(ExportError, ValueError):
    """An argument or configuration value is invalid; the message names it."""


class InvalidSchedule(InvalidRequest):
    """A schedule (cron expression, timezone, interval) is refused."""


class InvalidTimezone(InvalidRequest):
    """An export's ``timezone`` is not an IANA time zone name (``Europe/Berlin``)."""


class NotFound(ExportError, LookupError):
    """Something the caller named by id (a job, a schedule) is not visible to them.

    Raised identically for a missing record and for another user's, so that
    ids leak nothing. Map it to HTTP 404.
    """


class ExportNotFound(NotFound):
    """No job with this id is visible to the caller.

    Raised identically for a missing job and for another user's job, so that
    job ids leak nothing.
    """

    def __init__(self, job_id: UUID | str) -> None:
        super().__init__(f"export {job_id} not found")
        self.job_id = job_id


class ScheduleNotFound(ExportNotFound):
    """No schedule with this id is visible to the caller.

    **Deprecated relationship:** it subclasses :class:`ExportNotFound` for
    this release only, so that ``except ExportNotFound`` keeps working; in
    the next release its parent becomes :class:`NotFound`. Catch
    ``NotFound`` (both) or ``ScheduleNotFound`` (schedules only). Its
    ``job_id`` attribute, a copy of ``schedule_id``, goes with it.
    """

    def __init__(self, schedule_id: UUID | str) -> None:
        ExportError.__init__(self, f"schedule {schedule_id} not found")
        self.job_id = schedule_id
        self.schedule_id = schedule_id


class ExportExpired(ExportError):
    """The export's download window has closed; its file is gone or going."""

    def __init__(self, job_id: UUID) -> None:
        super().__init__(f"export {job_id} has expired")
        self.job_id = job_id


class ExportNotReady(ExportError):
    """The export is not completed, so there is nothing to download."""

    def __init__(self, job_id: UUID, status: str) -> None:
        super().__init__(f"export {job_id} is {status}, not completed")
        self.job_id = job_id
        self.status = status


class InvalidToken(ExportError):
    """A download token is malformed, tampered, expired, future-dated or revoked."""


class RateLimitExceeded(ExportError):
    """The user asked for too many exports.

    Attributes:
        retry_after: how long until a new request can succeed, or ``None``
            when that depends on an active export finishing first.
        reason: ``"active"`` (too many unfinished exports), ``"window"``
            (too many requests in the rate-limit window) or ``"schedules"``
            (``ExportConfig.max_schedules_per_user`` reached).
    """

    def __init__(self, *, retry_after: timedelta | None, reason: str) -> None:
        if reason == "schedules":
            detail = "delete one of the user's schedules first"
        elif retry_after is not None:
            detail = f"retry after {int(retry_after.total_seconds())} s"
        else:
            detail = "retry when the active export has finished"
        super().__init__(f"rate limit exceeded ({reason}); {detail}")
        self.retry_after = retry_after
        self.reason = reason


class ProcessingError(ExportError):
    """An export could not be built."""


class SourceError(ProcessingError):
    """A data source raised while its category was being exported."""

    def __init__(self, category: str, detail: str) -> None:
        super().__init__(f"data source for category {category!r} failed: {detail}")
        self.category = category
        self.detail = detail


class FileTooLarge(ProcessingError):
    """The artifact would exceed the configured size cap.

    Also raised when the export's data, before compression, passes the bound
    the cap sets on temporary files and uncompressed streams (see
    ``docs/operations.md``, "Size cap"): the data is too large either way,
    and the job fails without a retry.

    Also raised when a split export would need more volumes than
    ``ExportConfig.max_split_volumes`` allows.

    Attributes:
        limit_bytes: the size cap, in bytes.
        category: the category being exported when the cap was reached, if known.
        uncompressed: the uncompressed bound that was passed, if that was it.
        volumes: the most volumes a split export may have, if that was the limit reached.
    """

    def __init__(
        self,
        limit_bytes: int,
        *,
        category: str | None = None,
        uncompressed: int | None = None,
        volumes: int | None = None,
    ) -> None:
        if volumes is not None:
            text = (
                f"export needs more than {volumes} volumes of at most {limit_bytes} bytes"
                " each (the limit max_split_volumes)"
            )
        else:
            text = f"export exceeds the size limit of {limit_bytes} bytes"
        if uncompressed is not None:
            text += f" (its data passed {uncompressed} bytes before compression)"
        if category is not None:
            text += f" while exporting category {category!r}"
        super().__init__(text)
        self.limit_bytes = limit_bytes
        self.category = category
        self.uncompressed = uncompressed
        self.volumes = volumes

    def in_category(self, category: str) -> FileTooLarge:
        """The same error, naming ``category`` (it is returned unchanged if it names one)."""
        if self.category is not None:
            return self
        return FileTooLarge(
            self.limit_bytes,
            category=category,
            uncompressed=self.uncompressed,
            volumes=self.volumes,
        )


class RecordTooLarge(FileTooLarge):
    """One record alone is larger than the size cap; refused before any writer renders it.

    Attributes:
        size: the record's size as compact JSON, in bytes.
    """

    def __init__(self, limit_bytes: int, *, category: str | None = None, size: int) -> None:
        where = f"category {category!r}" if category is not None else "the export"
        ProcessingError.__init__(
            self,
            f"a record of {where} is larger than the size limit of {limit_bytes} bytes"
            f" ({size} bytes as JSON)",
        )
        self.limit_bytes = limit_bytes
        self.category = category
        self.uncompressed = None
        self.volumes = None
        self.size = size

    def in_category(self, category: str) -> FileTooLarge:
        """The same error, naming ``category`` (it is returned unchanged if it names one)."""
        if self.category is not None:
            return self
        return RecordTooLarge(self.limit_bytes, category=category, size=self.size)


class StorageError(ExportError, OSError):
    """A storage backend failed; the cause is chained."""


class InvalidKey(StorageError, ValueError):
    """A storage key is malformed or escapes the storage root."""


class DatabaseError(ExportError):
    """A job or schedule repository failed; the cause is chained."""


class ConflictError(DatabaseError):
    """A fenced write was rejected: the record changed underneath the writer."""

    def __init__(self, record_id: UUID | str) -> None:
        super().__init__(f"record {record_id} was changed by another writer")
        self.record_id = record_id


class ConflictRetriesExhausted(ConflictError):
    """A read-modify-write lost to concurrent writers on every one of its attempts."""

    def __init__(self, record_id: UUID | str, attempts: int) -> None:
        DatabaseError.__init__(
            self, f"record {record_id} kept changing underneath; gave up after {attempts} tries"
        )
        self.record_id = record_id
        self.attempts = attempts


class CryptoError(ExportError):
    """age encryption or decryption failed."""


class KeyFormatError(CryptoError, ValueError):
    """A recipient or identity string is malformed (the key itself is never shown)."""


class HeaderError(CryptoError):
    """The age header is malformed."""


class NoIdentityMatch(CryptoError):
    """None of the given identities can open this file."""


class HeaderMacError(CryptoError):
    """The age header's MAC does not verify: the header was altered."""


class PayloadError(CryptoError):
    """The age payload is tampered, truncated, reordered or has trailing data."""


class ConfigError(InvalidRequest):
    """The configuration is invalid; the message names the setting, never a secret."""


class DeliveryError(ExportError):
    """A delivery failed; the message names the delivery, never a secret.

    Attributes:
        delivery: the delivery's ``name``.
        attempts: how many attempts were made.
        status: the last HTTP status code, when there was one.
        retryable: whether the last failure was of a kind worth retrying later.
    """

    def __init__(
        self,
        message: str,
        *,
        delivery: str,
        attempts: int = 1,
        status: int | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message)
        self.delivery = delivery
        self.attempts = attempts
        self.status = status
        self.retryable = retryable

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only arguments do not survive the default pickling.
        state = {
            "delivery": self.delivery,
            "attempts": self.attempts,
            "status": self.status,
            "retryable": self.retryable,
        }
        return (_rebuild_error, (str(self), state))


def _rebuild_error(message: str, state: dict[str, object]) -> DeliveryError:
    error = DeliveryError(message, delivery=str(state["delivery"]))
    error.__dict__.update(state)
    return error


class SmtpDeliveryError(ExportError, smtplib.SMTPException):
    """Sending a notification e-mail failed.

    The message names the stage (``connect``, ``starttls``, ``login``,
    ``send``), the underlying error type and the SMTP reply code, and never
    the password, the recipient's address or the server's reply text (which
    often quotes the address).

    Attributes:
        stage: where the conversation with the server broke off.
        smtp_code: the server's reply code, when it sent one.
    """

    def __init__(self, message: str, stage: str = "send", smtp_code: int | None = None) -> None:
        super().__init__(message)
        self.stage = stage
        self.smtp_code = smtp_code

    def __reduce__(self) -> tuple[type[SmtpDeliveryError], tuple[str, str, int | None]]:
        return type(self), (str(self), self.stage, self.smtp_code)

    @classmethod
    def from_cause(cls, stage: str, cause: BaseException) -> SmtpDeliveryError:
        """Describe ``cause`` without its text, which may quote the recipient."""
        code = _reply_code(cause)
        detail = type(cause).__name__ if code is None else f"{type(cause).__name__} {code}"
        if not isinstance(cause, smtplib.SMTPException) and isinstance(cause, OSError):
            # Socket and TLS errors (refused, timed out, certificate) carry no
            # secrets and are what an operator needs to see.
            detail = f"{detail}: {cause.strerror or cause}"
        return cls(f"notification e-mail not sent ({stage} failed: {detail})", stage, code)


def _reply_code(exc: BaseException) -> int | None:
    if isinstance(exc, smtplib.SMTPResponseException):
        return int(exc.smtp_code)
    if isinstance(exc, smtplib.SMTPRecipientsRefused) and exc.recipients:
        return int(next(iter(exc.recipients.values()))[0])
    return None


class DestinationRefused(ExportError, OSError):
    """A connection was refused by the policy (raised below the HTTP layer).

    It is an :class:`OSError` so HTTP clients treat it like any failed
    connection; deliveries turn it into a ``DeliveryError`` that says only
    "refused".
    """
