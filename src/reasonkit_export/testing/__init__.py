"""Public test helpers: fakes for every port and contract suites for adapters.

Host code tests its routes and data sources with these, without disk or
network::

    from reasonkit_export import ExportService
    from reasonkit_export.testing import FrozenClock, RecordingNotifier, StaticDataSource

    service = ExportService(
        sources=[StaticDataSource("profile", [{"name": "Zoë"}])],
        notifier=(notifier := RecordingNotifier()),
        clock=FrozenClock(),
    )

The contract suites (``JobRepositoryContract``, ``StorageContract``,
``ScheduleRepositoryContract``) need pytest and are imported on first use.
"""

from __future__ import annotations

from typing import Any

from reasonkit_export.repositories import InMemoryJobRepository, InMemoryScheduleRepository
from reasonkit_export.testing._fakes import (
    FailingDataSource,
    FrozenClock,
    RecordingNotifier,
    SentNotification,
    StaticDataSource,
)

__all__ = [
    "FailingDataSource",
    "FrozenClock",
    "InMemoryJobRepository",
    "InMemoryScheduleRepository",
    "JobRepositoryContract",
    "RecordingNotifier",
    "ScheduleRepositoryContract",
    "SentNotification",
    "StaticDataSource",
    "StorageContract",
]

_CONTRACTS = {"JobRepositoryContract", "StorageContract", "ScheduleRepositoryContract"}


def __getattr__(name: str) -> Any:
    # The contracts import pytest, which production installs do not have.
    if name in _CONTRACTS:
        from reasonkit_export.testing import _contracts

        return getattr(_contracts, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
