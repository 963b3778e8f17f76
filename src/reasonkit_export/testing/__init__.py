"""Public test helpers: fakes for every port, a wired test service and contract suites.

Host code tests its routes and data sources with these, without disk or
network::

    from reasonkit_export.testing import make_test_service

    kit = make_test_service(records={"profile": [{"name": "Zoë"}]})
    job = kit.run_export("alice", "json", "profile")
    assert kit.notifier.events(job.id) == ["completed"]

The fakes: :class:`FrozenClock`, :class:`StaticDataSource`,
:class:`FailingDataSource`, :class:`RecordingNotifier`, :class:`MemoryStorage`
and the in-memory job and schedule repositories. Under pytest, the plugin
:mod:`reasonkit_export.testing.pytest_plugin` offers them as fixtures.

The contract suites (``JobRepositoryContract``, ``StorageContract``,
``ScheduleRepositoryContract``, and for the ports data moves through
``DataSourceContract``, ``NotifierContract``, ``DeliveryContract``,
``FormatWriterContract``) need pytest and are imported on first use;
importing this package never imports pytest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reasonkit_export.repositories import InMemoryJobRepository, InMemoryScheduleRepository
from reasonkit_export.testing._fakes import (
    SAMPLE_RECORDS,
    ExportTestKit,
    FailingDataSource,
    FrozenClock,
    MemoryStorage,
    RecordingNotifier,
    SentNotification,
    StaticDataSource,
    make_test_config,
    make_test_service,
)

if TYPE_CHECKING:
    from reasonkit_export.testing._contracts import (
        JobRepositoryContract,
        ScheduleRepositoryContract,
        StorageContract,
    )
    from reasonkit_export.testing._port_contracts import (
        DataSourceContract,
        DeliveryContract,
        FormatWriterContract,
        NotifierContract,
    )

__all__ = [
    "SAMPLE_RECORDS",
    "DataSourceContract",
    "DeliveryContract",
    "ExportTestKit",
    "FailingDataSource",
    "FormatWriterContract",
    "FrozenClock",
    "InMemoryJobRepository",
    "InMemoryScheduleRepository",
    "JobRepositoryContract",
    "MemoryStorage",
    "NotifierContract",
    "RecordingNotifier",
    "ScheduleRepositoryContract",
    "SentNotification",
    "StaticDataSource",
    "StorageContract",
    "make_test_config",
    "make_test_service",
]

_CONTRACTS = {"JobRepositoryContract", "StorageContract", "ScheduleRepositoryContract"}
_PORT_CONTRACTS = {
    "DataSourceContract",
    "DeliveryContract",
    "FormatWriterContract",
    "NotifierContract",
}


def __getattr__(name: str) -> Any:
    # The contracts import pytest, which production installs do not have.
    if name in _CONTRACTS:
        from reasonkit_export.testing import _contracts

        return getattr(_contracts, name)
    if name in _PORT_CONTRACTS:
        from reasonkit_export.testing import _port_contracts

        return getattr(_port_contracts, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
