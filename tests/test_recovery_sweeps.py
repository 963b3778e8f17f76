"""recover_stale: stuck notifications of any event, each job once per lease, quiet clean-up."""

from __future__ import annotations

import errno
from collections.abc import Callable, Iterator
from typing import Any
from uuid import uuid4

import attrs
import pytest

from reasonkit_export import ExportConfig, ExportService, ExportStatus, NotificationEvent
from reasonkit_export.storage import FsspecStorage
from reasonkit_export.testing import FrozenClock, RecordingNotifier
from tests.fault_support import FailingFileSystem, failing_storage_url

Factory = Callable[..., ExportService]


@pytest.fixture
def leased(make_service: Factory) -> ExportService:
    """A service with a 60 s lease."""
    return make_service(
        config=ExportConfig(storage_backend="memory", rate_limit=None, lease_seconds=60)
    )


@pytest.mark.parametrize(
    ("status", "event"),
    [
        (ExportStatus.FAILED, NotificationEvent.FAILED),
        (ExportStatus.CANCELLED, NotificationEvent.CANCELLED),
        (ExportStatus.EXPIRED, NotificationEvent.EXPIRED),
    ],
)
def test_stuck_notification_of_any_event_is_resent(
    leased: ExportService,
    clock: FrozenClock,
    notifier: RecordingNotifier,
    status: ExportStatus,
    event: NotificationEvent,
) -> None:
    """A queued event that a dead process never sent is sent once, a lease later."""
    job = leased.create_export("alice", "json", ["profile"])
    leased.repository.save(
        attrs.evolve(job, status=status, pending_notification=event, updated_at=clock())
    )
    leased.recover_stale()
    assert notifier.events(job.id) == []  # its process may still be sending
    clock.advance(seconds=61)
    leased.recover_stale()
    leased.recover_stale()
    assert notifier.events(job.id) == [event]
    assert leased.get_job(job.id).pending_notification is None


def test_pending_job_is_returned_once_per_lease(leased: ExportService, clock: FrozenClock) -> None:
    """A lost pending job comes back once, then not again until another lease has passed."""
    job = leased.create_export("alice", "json", ["profile"])
    clock.advance(seconds=61)
    assert [j.id for j in leased.recover_stale()] == [job.id]
    clock.advance(seconds=30)
    assert leased.recover_stale() == []
    clock.advance(seconds=31)
    assert [j.id for j in leased.recover_stale()] == [job.id]


def test_storage_error_while_cleaning_up_a_failed_job_does_not_escape(
    make_service: Factory, notifier: RecordingNotifier
) -> None:
    """The job is saved as failed and notified even though deleting its files fails."""

    class Broken:
        category = "profile"

        def records(self, user_id: str) -> Iterator[dict[str, Any]]:
            raise RuntimeError("down")

    service = make_service(
        sources=[Broken()],
        storage=FsspecStorage(failing_storage_url(f"sweep-{uuid4().hex}")),
        config=ExportConfig(storage_backend="memory", rate_limit=None),
    )
    job = service.create_export("alice", "json", ["profile"])
    FailingFileSystem.faults["rm"] = errno.EIO
    try:
        failed = service.process_export(job.id)
    finally:
        FailingFileSystem.faults.clear()
    assert failed.status is ExportStatus.FAILED
    assert notifier.events(job.id) == [NotificationEvent.FAILED]
