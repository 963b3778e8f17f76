"""Job and schedule repositories: in memory, on the local file system, and SQL.

The SQL repositories live in :mod:`reasonkit_export.repositories.sql` and need
the ``sql`` extra; importing this package does not import SQLAlchemy.
"""

from __future__ import annotations

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
]
