"""What a host's API returns for a job or a schedule: allow-listed JSON.

Internal fields (``storage_key``, ``version``, ``attempt``, leases, pending
notifications, delivery details, recipient fingerprints) never appear, so a
new internal field cannot leak by accident.
"""

from __future__ import annotations

from typing import Any

from reasonkit_export._models import ExportJob, ScheduledExport

__all__ = ["JOB_VIEW_FIELDS", "SCHEDULE_VIEW_FIELDS", "job_view", "schedule_view"]

JOB_VIEW_FIELDS: tuple[str, ...] = (
    "id",
    "format",
    "categories",
    "status",
    "progress",
    "download_url",
    "file_size",
    "sha256",
    "filename",
    "media_type",
    "created_at",
    "completed_at",
    "expires_at",
    "due_at",
    "timezone",
    "deadline_extension_reason",
    "error",
    "record_counts",
    "warnings",
    "parts",
)
"""The keys of :func:`job_view`, in order."""

SCHEDULE_VIEW_FIELDS: tuple[str, ...] = (
    "id",
    "cron_expression",
    "timezone",
    "format",
    "categories",
    "notify_email",
    "enabled",
    "incremental",
    "created_at",
    "last_run",
    "next_run",
    "last_error",
)
"""The keys of :func:`schedule_view`, in order."""


def _time(value: Any) -> str | None:
    return None if value is None else str(value.isoformat())


def job_view(job: ExportJob) -> dict[str, Any]:
    """The JSON a host returns for a job from its API (``json.dumps``-ready).

    Every key is always present (``null`` when unknown):

    ====================== ===================================================
    key                    value
    ====================== ===================================================
    id                     the job id (UUID text)
    format                 ``json``, ``csv``, ``pdf`` or ``zip``
    categories             the exported category names
    status                 ``pending``, ``processing``, ``completed``,
                           ``failed``, ``expired`` or ``cancelled``
    progress               0-100
    download_url           the link from ``download_url_template`` (may carry
                           a signed token: return it only to the job's owner)
    file_size              bytes, as the user downloads the file
    sha256                 hex digest of that file
    filename               the file's real name, e.g. ``export-...json.gz``
    media_type             the IANA media type
    created_at             ISO 8601 UTC
    completed_at           ISO 8601 UTC
    expires_at             ISO 8601 UTC: the download window closes
    due_at                 ISO 8601 UTC: the GDPR Art. 12(3) deadline
    timezone               the IANA zone people-facing views use
    deadline_extension_reason
                           why the deadline was extended (Art. 12(3))
    error                  why the export failed (safe to show)
    record_counts          records per category
    warnings               things the user should know (safe to show)
    parts                  split volumes: ``number``, ``filename``, ``size``,
                           ``sha256`` each (empty unless split)
    ====================== ===================================================
    """
    return {
        "id": str(job.id),
        "format": job.format.value,
        "categories": list(job.categories),
        "status": job.status.value,
        "progress": job.progress,
        "download_url": job.download_url,
        "file_size": job.file_size,
        "sha256": job.sha256,
        "filename": job.filename,
        "media_type": job.media_type,
        "created_at": _time(job.created_at),
        "completed_at": _time(job.completed_at),
        "expires_at": _time(job.expires_at),
        "due_at": _time(job.due_at),
        "timezone": job.timezone,
        "deadline_extension_reason": job.deadline_extension_reason,
        "error": job.error,
        "record_counts": dict(job.record_counts),
        "warnings": list(job.warnings),
        "parts": [
            {"number": p.number, "filename": p.filename, "size": p.size, "sha256": p.sha256}
            for p in job.parts
        ],
    }


def schedule_view(schedule: ScheduledExport) -> dict[str, Any]:
    """The JSON a host returns for a schedule from its API (every key always present).

    Keys: ``id``, ``cron_expression``, ``timezone``, ``format``,
    ``categories``, ``notify_email``, ``enabled``, ``incremental``,
    ``created_at``, ``last_run``, ``next_run`` (ISO 8601 UTC or ``null``) and
    ``last_error``.
    """
    return {
        "id": str(schedule.id),
        "cron_expression": schedule.cron_expression,
        "timezone": schedule.timezone,
        "format": schedule.format.value,
        "categories": list(schedule.categories),
        "notify_email": schedule.notify_email,
        "enabled": schedule.enabled,
        "incremental": schedule.incremental,
        "created_at": _time(schedule.created_at),
        "last_run": _time(schedule.last_run),
        "next_run": _time(schedule.next_run),
        "last_error": schedule.last_error,
    }
