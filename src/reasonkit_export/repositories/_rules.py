"""Rules every job repository applies identically (kept here so adapters stay dumb)."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime, timedelta

import attrs

from reasonkit_export._models import ExportJob, ExportStatus
from reasonkit_export.exceptions import ConflictError

__all__ = ["claimed", "fenced", "newest_first", "sweep_due", "sweep_matches"]


def claimed(job: ExportJob, *, now: datetime, lease: timedelta) -> ExportJob | None:
    """Return ``job`` as claimed by a new worker, or None if it cannot be claimed."""
    lease_over = job.lease_expires_at is None or job.lease_expires_at <= now
    retry_due = job.retry_at is None or job.retry_at <= now
    if (job.status is ExportStatus.PENDING and retry_due) or (
        job.status is ExportStatus.PROCESSING and lease_over
    ):
        return attrs.evolve(
            job,
            status=ExportStatus.PROCESSING,
            attempt=job.attempt + 1,
            lease_expires_at=now + lease,
            started_at=job.started_at or now,
            updated_at=now,
            retry_at=None,
            # A claimed job is its worker's: the lease, not the sweep agenda, governs it.
            sweep_at=None,
            version=job.version + 1,
        )
    return None


def fenced(stored: ExportJob, new: ExportJob) -> ExportJob:
    """Return ``new`` with its version bumped, or raise if ``stored`` moved on."""
    if stored.version != new.version:
        raise ConflictError(new.id)
    return attrs.evolve(new, version=new.version + 1)


def sweep_matches(
    job: ExportJob, statuses: Collection[ExportStatus], before: datetime | None
) -> bool:
    """Whether ``job`` belongs in a :meth:`list_by_status` answer."""
    if job.status not in statuses:
        return False
    if before is None:
        return True
    if job.status is ExportStatus.COMPLETED:
        moment = job.expires_at
    elif job.status is ExportStatus.PROCESSING:
        moment = job.lease_expires_at
    else:
        moment = job.created_at
    return moment is not None and moment < before


def sweep_due(job: ExportJob, now: datetime) -> bool:
    """Whether ``job`` belongs in a ``list_to_sweep(now)`` answer."""
    return job.sweep_at is not None and job.sweep_at <= now


def newest_first(
    jobs: Iterable[ExportJob],
    *,
    limit: int | None,
    statuses: Collection[ExportStatus] | None,
) -> list[ExportJob]:
    """Filter by status, order newest first (ties by id), and cap at ``limit``."""
    selected = [job for job in jobs if statuses is None or job.status in statuses]
    selected.sort(key=lambda job: (job.created_at, str(job.id)), reverse=True)
    return selected if limit is None else selected[:limit]
