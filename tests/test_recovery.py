"""Leases, fencing and recovery: crashed and stalled workers never corrupt a job."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import attrs
import pytest

from reasonkit_export import ExportConfig, ExportService, ExportStatus, NotificationEvent
from reasonkit_export.testing import FrozenClock, RecordingNotifier, StaticDataSource

Factory = Callable[..., ExportService]


@pytest.fixture
def leased(make_service: Factory) -> ExportService:
    """A service with a 60 s lease and three attempts."""
    return make_service(
        config=ExportConfig(
            storage_backend="memory", rate_limit=None, lease_seconds=60, max_attempts=3
        )
    )


def _crash_after_claim(service: ExportService, job_id: Any) -> Any:
    """Simulate a worker that claimed the job and died at once."""
    return service.repository.claim(job_id, now=service._now(), lease=service.config.lease)


def test_expired_lease_is_requeued(leased: ExportService, clock: FrozenClock) -> None:
    """recover_stale puts a job whose worker died back to pending for re-enqueueing."""
    job = leased.create_export("alice", "json", ["profile"])
    _crash_after_claim(leased, job.id)
    assert leased.recover_stale() == []  # the lease is still live
    clock.advance(seconds=61)
    (requeued,) = leased.recover_stale()
    assert requeued.id == job.id
    assert requeued.status is ExportStatus.PENDING
    done = leased.process_export(job.id)
    assert done.status is ExportStatus.COMPLETED
    assert done.attempt == 2


def test_attempts_are_bounded(
    leased: ExportService, clock: FrozenClock, notifier: RecordingNotifier
) -> None:
    """After max_attempts dead workers the job fails with a clear error."""
    job = leased.create_export("alice", "json", ["profile"])
    for _ in range(3):
        _crash_after_claim(leased, job.id)
        clock.advance(seconds=61)
    failed = leased.process_export(job.id)
    assert failed.status is ExportStatus.FAILED
    assert "gave up after 3 attempts" in (failed.error or "")
    assert notifier.events(job.id) == [NotificationEvent.FAILED]


def test_recover_stale_fails_exhausted_jobs(leased: ExportService, clock: FrozenClock) -> None:
    """recover_stale fails a stale job that has used every attempt."""
    job = leased.create_export("alice", "json", ["profile"])
    for _ in range(3):
        _crash_after_claim(leased, job.id)
        clock.advance(seconds=61)
        leased.recover_stale()
    assert leased.get_job(job.id).status is ExportStatus.FAILED


def test_lost_pending_job_is_returned_for_requeue(
    leased: ExportService, clock: FrozenClock
) -> None:
    """A pending job that no worker took for a whole lease is returned to re-enqueue."""
    job = leased.create_export("alice", "json", ["profile"])
    assert leased.recover_stale() == []
    clock.advance(seconds=61)
    assert [j.id for j in leased.recover_stale()] == [job.id]


def test_stale_worker_cannot_overwrite_newer_attempt(
    leased: ExportService, clock: FrozenClock, notifier: RecordingNotifier
) -> None:
    """A worker that stalls past its lease loses: its result is discarded, the newer stands."""
    holder: dict[str, Any] = {}

    class Stalls:
        category = "slow"

        def records(self, user_id: str) -> Iterator[dict[str, int]]:
            yield {"n": 1}
            if not holder.get("stalled"):
                holder["stalled"] = True
                # While this worker "sleeps", its lease runs out and another finishes.
                clock.advance(seconds=120)
                holder["newer"] = holder["service"].process_export(holder["job"].id)
            yield {"n": 2}

    service = ExportService(
        sources=[Stalls()],
        repository=leased.repository,
        storage=leased.storage,
        notifier=notifier,
        config=leased.config,
        clock=clock,
    )
    holder["service"] = service
    holder["job"] = service.create_export("alice", "json", ["slow"])
    stale_result = service.process_export(holder["job"].id)
    newer = holder["newer"]
    assert newer.status is ExportStatus.COMPLETED
    assert newer.attempt == 2
    final = service.get_job(holder["job"].id)
    assert final == stale_result
    assert final.attempt == 2
    assert final.storage_key == newer.storage_key
    assert final.storage_key is not None
    assert service.storage.exists(final.storage_key)
    assert not service.storage.exists(f"{holder['job'].id}/attempt-1")
    assert notifier.events(holder["job"].id) == [NotificationEvent.COMPLETED]


def test_unsent_notification_is_redelivered_once(
    leased: ExportService, clock: FrozenClock, notifier: RecordingNotifier
) -> None:
    """A notification lost to a crash is sent by the next delivery after a lease, once."""
    job = leased.create_export("alice", "json", ["profile"])
    done = leased.process_export(job.id)
    # Simulate a crash after the completed state was saved but before notifying.
    leased.repository.save(
        attrs.evolve(leased.get_job(job.id), pending_notification=NotificationEvent.COMPLETED)
    )
    notifier.sent.clear()
    assert leased.process_export(job.id).pending_notification is NotificationEvent.COMPLETED
    assert notifier.sent == []  # too early: the original sender may still be at it
    clock.advance(seconds=61)
    assert leased.process_export(job.id).pending_notification is None
    assert leased.process_export(job.id).status is ExportStatus.COMPLETED
    assert notifier.events(job.id) == [NotificationEvent.COMPLETED]
    assert done.status is ExportStatus.COMPLETED


def test_heartbeat_renews_the_lease(make_service: Factory) -> None:
    """A worker's lease is renewed in the background while it builds."""
    import threading

    renewed = threading.Event()
    holder: dict[str, Any] = {}

    class Waits:
        category = "wait"

        def records(self, user_id: str) -> Iterator[dict[str, int]]:
            job = holder["service"].get_job(holder["job"].id)
            start = job.version
            for _ in range(200):  # up to 4 s for two heartbeats at 0.03 s each
                if holder["service"].get_job(holder["job"].id).version >= start + 2:
                    renewed.set()
                    break
                threading.Event().wait(0.02)
            yield {"n": 1}

    service = make_service(
        sources=[Waits()],
        config=ExportConfig(storage_backend="memory", lease_seconds=0.09, rate_limit=None),
        clock=None,
    )
    holder["service"] = service
    holder["job"] = service.create_export("alice", "json", ["wait"])
    assert service.process_export(holder["job"].id).status is ExportStatus.COMPLETED
    assert renewed.is_set()


def test_cancel_mid_build_is_noticed_by_heartbeat(make_service: Factory) -> None:
    """A cancel while a source is slow stops the worker and leaves no artifact."""
    holder: dict[str, Any] = {}

    class Slow:
        category = "slow"

        def records(self, user_id: str) -> Iterator[dict[str, int]]:
            holder["service"].cancel_export(holder["job"].id, user_id=user_id)
            for n in range(3000):
                yield {"n": n}

    service = make_service(sources=[Slow(), StaticDataSource("other", [{"a": 1}])])
    holder["service"] = service
    holder["job"] = service.create_export("alice", "json", ["slow", "other"])
    result = service.process_export(holder["job"].id)
    assert result.status is ExportStatus.CANCELLED
    fs = service.storage.fs  # type: ignore[attr-defined]
    assert [p for p in fs.find("/") if str(holder["job"].id) in p] == []


def test_lease_config_is_validated() -> None:
    """Lease and attempt settings must be positive."""
    from reasonkit_export import InvalidRequest

    with pytest.raises(InvalidRequest):
        ExportConfig(lease_seconds=0)
    with pytest.raises(InvalidRequest):
        ExportConfig(max_attempts=0)
    assert ExportConfig(lease_seconds=30).lease == timedelta(seconds=30)
