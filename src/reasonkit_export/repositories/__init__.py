"""Job and schedule repositories: in memory, on the local file system, and SQL.

The SQL repositories live in :mod:`reasonkit_export.repositories.sql` and need
the ``sql`` extra; importing this package does not import SQLAlchemy.

``job_to_dict``/``job_from_dict`` (and the schedule pair) turn models into
JSON-ready dicts and back, for writing a repository of your own.
"""

from __future__ import annotations

from reasonkit_export._serialization import (
    job_from_dict,
    job_to_dict,
    schedule_from_dict,
    schedule_to_dict,
)
from reasonkit_export.repositories._file import FileJobRepository, FileScheduleRepository
from reasonkit_export.repositories._memory import (
    InMemoryJobRepository,
    InMemoryScheduleRepository,
)

__all__ = [
    "FileJobRepository",
    "FileScheduleRepository",
    "InMemoryJobRepository",
    "InMemoryScheduleRepository",
    "job_from_dict",
    "job_to_dict",
    "schedule_from_dict",
    "schedule_to_dict",
]
