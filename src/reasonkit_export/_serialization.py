"""The library's one cattrs converter: models to JSON-ready dicts and back."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

import cattrs

from reasonkit_export._models import ExportJob, ScheduledExport

__all__ = ["converter", "job_from_dict", "job_to_dict", "schedule_from_dict", "schedule_to_dict"]

T = TypeVar("T")

converter = cattrs.Converter(forbid_extra_keys=False)
converter.register_unstructure_hook(UUID, str)
converter.register_structure_hook(UUID, lambda value, _type: UUID(str(value)))
converter.register_unstructure_hook(datetime, lambda value: value.isoformat())
converter.register_structure_hook(
    datetime,
    lambda value, _type: value if isinstance(value, datetime) else datetime.fromisoformat(value),
)


def job_to_dict(job: ExportJob) -> dict[str, Any]:
    """Return ``job`` as a dict of JSON values."""
    data: dict[str, Any] = converter.unstructure(job)
    data["categories"] = list(job.categories)
    data["record_counts"] = dict(job.record_counts)
    return data


def job_from_dict(data: dict[str, Any]) -> ExportJob:
    """Rebuild an :class:`ExportJob` from :func:`job_to_dict` output.

    A document written before ``sweep_at`` existed comes back due since its
    creation (unless a worker holds it), so one sweep looks at every old job
    once and deletes whatever files an earlier version left behind.
    """
    if "sweep_at" not in data and data.get("status") != "processing":
        data = {**data, "sweep_at": data.get("created_at")}
    return converter.structure(data, ExportJob)


def schedule_to_dict(schedule: ScheduledExport) -> dict[str, Any]:
    """Return ``schedule`` as a dict of JSON values."""
    data: dict[str, Any] = converter.unstructure(schedule)
    data["categories"] = list(schedule.categories)
    return data


def schedule_from_dict(data: dict[str, Any]) -> ScheduledExport:
    """Rebuild a :class:`ScheduledExport` from :func:`schedule_to_dict` output."""
    return converter.structure(data, ScheduledExport)
