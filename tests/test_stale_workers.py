"""A worker that is slow or dead: its lease, heartbeat and owed notification are settled."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import attrs

from reasonkit_export import ExportConfig, ExportService, ExportStatus, NotificationEvent
from reasonkit_export.testing import FrozenClock, RecordingNotifier

Factory = Callable[..., ExportService]


def test_heartbeat_does_not_touch_a_finished_job(make_service: Factory) -> None:
    """A slow notifier outliving the lease leaves no lease and no queued notification."""

    class Slow(RecordingNotifier):
        def notify(self, job: Any, event: NotificationEvent) -> None:
            time.sleep(0.25)
            super().notify(job, event)

    notifier = Slow()
    service = make_service(
        notifier=notifier,
        clock=None,
        config=ExportConfig(storage_backend="memory", lease_seconds=0.06, rate_limit=None),
    )
    job = service.process_export(service.create_export("alice", "json", ["profile"]).id)
    time.sleep(0.1)
    final = service.get_job(job.id)
    assert final.status is ExportStatus.COMPLETED
    assert final.lease_expires_at is None
    assert final.pending_notification is None
    service.process_export(job.id)
    assert notifier.events(job.id) == [NotificationEvent.COMPLETED]
    assert threading.active_count() < 20


def test_recover_stale_sends_a_notification_a_dead_worker_owed(
    make_service: Factory, clock: FrozenClock, notifier: RecordingNotifier
) -> None:
    """recover_stale finishes the outbox of a completed job after one lease."""
    service = make_service()
    job = service.process_export(service.create_export("alice", "json", ["profile"]).id)
    service.repository.save(
        attrs.evolve(service.get_job(job.id), pending_notification=NotificationEvent.COMPLETED)
    )
    notifier.sent.clear()
    clock.advance(seconds=301)
    service.recover_stale()
    assert notifier.events(job.id) == [NotificationEvent.COMPLETED]
    assert service.get_job(job.id).pending_notification is None
