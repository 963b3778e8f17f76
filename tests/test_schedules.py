"""Recurring exports through the service: create, update, run exactly once per due time."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from reasonkit_export import (
    ExportConfig,
    ExportService,
    ExportStatus,
    InvalidRequest,
    InvalidSchedule,
    NotificationEvent,
    RateLimit,
)
from reasonkit_export.exceptions import ScheduleNotFound
from reasonkit_export.repositories import (
    FileJobRepository,
    FileScheduleRepository,
    InMemoryJobRepository,
    InMemoryScheduleRepository,
)
from reasonkit_export.testing import FrozenClock, RecordingNotifier, StaticDataSource

Factory = Callable[..., ExportService]
MONDAY = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FrozenClock:
    """A clock frozen on a Monday at noon UTC."""
    return FrozenClock(MONDAY)


@pytest.fixture
def unlimited(make_service: Factory) -> ExportService:
    """A service without rate limits, so schedules can fire freely."""
    return make_service(config=ExportConfig(storage_backend="memory", rate_limit=None))


def test_schedule_export_sets_next_run(unlimited: ExportService) -> None:
    """A new schedule stores the seed's fields and its first fire time."""
    schedule = unlimited.schedule_export("alice", "0 3 * * *", "json", ["profile"])
    assert schedule.user_id == "alice"
    assert schedule.enabled is True
    assert schedule.notify_email is True
    assert schedule.last_run is None
    assert schedule.timezone == "UTC"
    assert schedule.next_run == datetime(2025, 6, 3, 3, 0, tzinfo=UTC)
    assert unlimited.list_schedules("alice") == [schedule]


def test_schedule_in_a_timezone(unlimited: ExportService) -> None:
    """next_run is computed in the schedule's timezone."""
    schedule = unlimited.schedule_export(
        "alice", "0 9 * * *", "json", ["profile"], timezone="Europe/Berlin"
    )
    assert schedule.next_run == datetime(2025, 6, 3, 7, 0, tzinfo=UTC)  # 09:00 CEST


def test_scheduled_jobs_show_times_in_the_schedule_zone(
    unlimited: ExportService, clock: FrozenClock
) -> None:
    """A job a schedule creates carries the schedule's timezone for the views people read."""
    unlimited.schedule_export("alice", "0 9 * * *", "json", ["profile"], timezone="Europe/Berlin")
    clock.set(datetime(2025, 6, 3, 7, 0, tzinfo=UTC))
    (job,) = unlimited.run_due_schedules()
    assert job.timezone == "Europe/Berlin"


@pytest.mark.parametrize(
    ("expression", "timezone", "reason"),
    [
        ("not cron", "UTC", "not cron"),
        ("0 0 30 2 *", "UTC", "0 0 30 2"),
        ("*/5 * * * *", "UTC", "too often"),
        ("0 3 * * *", "Mars/Olympus", "Mars/Olympus"),
    ],
)
def test_invalid_schedules_are_refused(
    unlimited: ExportService, expression: str, timezone: str, reason: str
) -> None:
    """Malformed, impossible, too frequent and unknown-timezone schedules raise InvalidSchedule."""
    with pytest.raises(InvalidSchedule, match=reason):
        unlimited.schedule_export("alice", expression, "json", ["profile"], timezone=timezone)


def test_min_interval_is_configurable(make_service: Factory) -> None:
    """A smaller schedule_min_interval admits hourly schedules."""
    service = make_service(
        config=ExportConfig(storage_backend="memory", schedule_min_interval=timedelta(hours=1))
    )
    assert service.schedule_export("alice", "0 * * * *", "json", ["profile"]).enabled


def test_unknown_category_or_format_is_invalid_request(unlimited: ExportService) -> None:
    """Bad categories and formats are refused at creation."""
    with pytest.raises(InvalidRequest):
        unlimited.schedule_export("alice", "0 3 * * *", "json", ["nope"])
    with pytest.raises(InvalidRequest):
        unlimited.schedule_export("alice", "0 3 * * *", "xls", ["profile"])


def test_schedules_are_owner_checked(unlimited: ExportService) -> None:
    """Another user's schedule looks missing for get, update and delete."""
    schedule = unlimited.schedule_export("alice", "0 3 * * *", "json", ["profile"])
    with pytest.raises(ScheduleNotFound):
        unlimited.get_schedule(schedule.id, user_id="mallory")
    with pytest.raises(ScheduleNotFound):
        unlimited.update_schedule(schedule.id, user_id="mallory", enabled=False)
    with pytest.raises(ScheduleNotFound):
        unlimited.delete_schedule(schedule.id, user_id="mallory")
    with pytest.raises(ScheduleNotFound):
        unlimited.get_schedule("garbage", user_id="alice")
    assert unlimited.get_schedule(schedule.id, user_id="alice") == schedule


def test_due_schedule_creates_one_job(unlimited: ExportService, clock: FrozenClock) -> None:
    """At its due time a schedule creates one job and advances next_run."""
    schedule = unlimited.schedule_export("alice", "0 3 * * *", "json", ["profile"])
    assert unlimited.run_due_schedules() == []
    clock.set(datetime(2025, 6, 3, 3, 0, tzinfo=UTC))
    jobs = unlimited.run_due_schedules()
    assert len(jobs) == 1
    assert jobs[0].schedule_id == schedule.id
    assert jobs[0].categories == ("profile",)
    assert unlimited.run_due_schedules() == []
    stored = unlimited.get_schedule(schedule.id, user_id="alice")
    assert stored.last_run == clock()
    assert stored.next_run == datetime(2025, 6, 4, 3, 0, tzinfo=UTC)
    assert stored.last_job_id == jobs[0].id
    assert unlimited.process_export(jobs[0].id).status is ExportStatus.COMPLETED


def test_missed_runs_coalesce(unlimited: ExportService, clock: FrozenClock) -> None:
    """After ten days of downtime one job is created and next_run is in the future."""
    schedule = unlimited.schedule_export("alice", "0 3 * * *", "json", ["profile"])
    clock.advance(days=10)
    assert len(unlimited.run_due_schedules()) == 1
    stored = unlimited.get_schedule(schedule.id, user_id="alice")
    assert stored.next_run is not None
    assert clock() < stored.next_run <= clock() + timedelta(days=1)
    assert unlimited.run_due_schedules() == []


def test_disabled_schedule_never_fires_and_reenabling_skips_the_gap(
    unlimited: ExportService, clock: FrozenClock
) -> None:
    """A disabled schedule does not fire; re-enabling does not fire for the time it was off."""
    schedule = unlimited.schedule_export("alice", "0 3 * * *", "json", ["profile"])
    unlimited.update_schedule(schedule.id, user_id="alice", enabled=False)
    clock.advance(days=3)
    assert unlimited.run_due_schedules() == []
    enabled = unlimited.update_schedule(schedule.id, user_id="alice", enabled=True)
    assert enabled.next_run is not None
    assert enabled.next_run > clock()
    assert unlimited.run_due_schedules() == []


def test_update_changes_expression_and_validates(
    unlimited: ExportService, clock: FrozenClock
) -> None:
    """Updating the expression recomputes next_run; a bad one is refused and nothing changes."""
    schedule = unlimited.schedule_export("alice", "0 3 * * *", "json", ["profile"])
    updated = unlimited.update_schedule(
        schedule.id, user_id="alice", cron_expression="30 4 * * 1", format="csv"
    )
    assert updated.next_run == datetime(2025, 6, 9, 4, 30, tzinfo=UTC)
    assert updated.format == "csv"
    with pytest.raises(InvalidSchedule):
        unlimited.update_schedule(schedule.id, user_id="alice", cron_expression="* * * * *")
    with pytest.raises(InvalidSchedule):
        unlimited.update_schedule(schedule.id, user_id="alice", timezone="Nowhere/Land")
    assert unlimited.get_schedule(schedule.id, user_id="alice") == updated


def test_delete_schedule(unlimited: ExportService) -> None:
    """A deleted schedule is gone and never fires."""
    schedule = unlimited.schedule_export("alice", "0 3 * * *", "json", ["profile"])
    unlimited.delete_schedule(schedule.id, user_id="alice")
    assert unlimited.list_schedules("alice") == []


def test_rate_limited_schedule_records_why(make_service: Factory, clock: FrozenClock) -> None:
    """A schedule whose job hits the rate limit records the reason and the run goes on."""
    service = make_service(
        config=ExportConfig(
            storage_backend="memory", rate_limit=RateLimit(max_active=1, max_requests=1)
        )
    )
    blocked = service.schedule_export("alice", "0 3 * * *", "json", ["profile"])
    fine = service.schedule_export("bob", "0 3 * * *", "json", ["profile"])
    service.create_export("alice", "json", ["reasoning_history"])  # alice's active slot
    clock.set(datetime(2025, 6, 3, 3, 0, tzinfo=UTC))
    jobs = service.run_due_schedules()
    assert [job.user_id for job in jobs] == ["bob"]
    stored = service.get_schedule(blocked.id, user_id="alice")
    assert stored.last_error is not None
    assert "rate limit" in stored.last_error
    assert stored.next_run == datetime(2025, 6, 4, 3, 0, tzinfo=UTC)
    assert service.get_schedule(fine.id, user_id="bob").last_error is None


def test_removed_category_records_why(
    unlimited: ExportService, make_service: Factory, clock: FrozenClock
) -> None:
    """A schedule naming a category whose source is gone records the error."""
    schedule = unlimited.schedule_export("alice", "0 3 * * *", "json", ["reasoning_history"])
    other = make_service(
        sources=[StaticDataSource("profile", [{"a": 1}])],
        repository=unlimited.repository,
        schedules=unlimited.schedules,
        config=ExportConfig(storage_backend="memory", rate_limit=None),
    )
    clock.advance(days=1)
    assert other.run_due_schedules() == []
    assert "unknown categories" in (
        other.get_schedule(schedule.id, user_id="alice").last_error or ""
    )


def test_all_is_kept_so_new_sources_join(
    unlimited: ExportService, make_service: Factory, clock: FrozenClock
) -> None:
    """A schedule for 'all' exports every source registered at run time."""
    schedule = unlimited.schedule_export("alice", "0 3 * * *", "json", ["all"])
    assert schedule.categories == ("all",)
    grown = make_service(
        sources=[*unlimited._sources.values(), StaticDataSource("billing", [{"x": 1}])],
        repository=unlimited.repository,
        schedules=unlimited.schedules,
        config=ExportConfig(storage_backend="memory", rate_limit=None),
    )
    clock.advance(days=1)
    (job,) = grown.run_due_schedules()
    assert job.categories == ("profile", "reasoning_history", "billing")


def test_notify_false_schedule_makes_silent_jobs(
    unlimited: ExportService, clock: FrozenClock, notifier: RecordingNotifier
) -> None:
    """A schedule with notify=False makes silent jobs; True makes notified ones."""
    unlimited.schedule_export("alice", "0 3 * * *", "json", ["profile"], notify=False)
    unlimited.schedule_export("bob", "0 3 * * *", "json", ["profile"])
    clock.advance(days=1)
    jobs = {job.user_id: job for job in unlimited.run_due_schedules()}
    assert jobs["alice"].notify is False
    for job in jobs.values():
        unlimited.process_export(job.id)
    assert notifier.events(jobs["alice"].id) == []
    assert notifier.events(jobs["bob"].id) == [NotificationEvent.COMPLETED]


def test_racing_hosts_create_one_job(sources: list[Any], clock: FrozenClock) -> None:
    """Eight hosts (threads) running due schedules at the same moment create one job each."""
    repository, schedules = InMemoryJobRepository(), InMemoryScheduleRepository()
    config = ExportConfig(storage_backend="memory", rate_limit=None)
    hosts = [
        ExportService(
            sources=sources, repository=repository, schedules=schedules, config=config, clock=clock
        )
        for _ in range(8)
    ]
    for user in ("alice", "bob", "carol"):
        hosts[0].schedule_export(user, "0 3 * * *", "json", ["profile"])
    clock.advance(days=1)
    barrier = threading.Barrier(len(hosts))
    results: list[list[Any]] = []

    def run(host: ExportService) -> None:
        barrier.wait()
        results.append(host.run_due_schedules())

    threads = [threading.Thread(target=run, args=(host,)) for host in hosts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    returned = [job.id for batch in results for job in batch]
    assert len(returned) == 3
    assert len(set(returned)) == 3
    assert sum(len(repository.list_for_user(u)) for u in ("alice", "bob", "carol")) == 3


def _host_process(directory: str, now: str, queue: multiprocessing.Queue[list[str]]) -> None:
    service = ExportService(
        sources=[StaticDataSource("profile", [{"a": 1}])],
        repository=FileJobRepository(directory),
        schedules=FileScheduleRepository(directory),
        config=ExportConfig(storage_backend="memory", rate_limit=None),
    )
    queue.put([str(job.id) for job in service.run_due_schedules(datetime.fromisoformat(now))])


def test_racing_host_processes_create_one_job(tmp_path: Path) -> None:
    """Four processes sharing the file repositories create exactly one job per due schedule."""
    service = ExportService(
        sources=[StaticDataSource("profile", [{"a": 1}])],
        repository=FileJobRepository(tmp_path),
        schedules=FileScheduleRepository(tmp_path),
        config=ExportConfig(storage_backend="memory", rate_limit=None),
        clock=FrozenClock(MONDAY),
    )
    users = [f"user-{n}" for n in range(6)]
    for user in users:
        service.schedule_export(user, "0 3 * * *", "json", ["profile"])
    context = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue[list[str]] = context.Queue()
    later = (MONDAY + timedelta(days=1)).isoformat()
    processes = [
        context.Process(target=_host_process, args=(str(tmp_path), later, queue)) for _ in range(4)
    ]
    for process in processes:
        process.start()
    returned = [job_id for _ in processes for job_id in queue.get(timeout=60)]
    for process in processes:
        process.join(timeout=60)
    assert len(returned) == len(users)
    assert len(set(returned)) == len(users)
    assert sum(len(service.repository.list_for_user(u)) for u in users) == len(users)


def test_crash_between_job_and_schedule_update_does_not_duplicate(
    unlimited: ExportService, clock: FrozenClock
) -> None:
    """A host that created the job but died before advancing the schedule causes no second job."""
    schedule = unlimited.schedule_export("alice", "0 3 * * *", "json", ["profile"])
    clock.advance(days=1)

    class Crash(Exception):
        pass

    real_save = unlimited.schedules.save

    def dying_save(value: Any) -> Any:
        raise Crash

    unlimited.schedules.save = dying_save  # type: ignore[method-assign, assignment]
    with pytest.raises(Crash):
        unlimited.run_due_schedules()
    unlimited.schedules.save = real_save  # type: ignore[method-assign]
    (job,) = unlimited.run_due_schedules()
    assert len(unlimited.get_history("alice")) == 1
    assert unlimited.get_schedule(schedule.id, user_id="alice").last_job_id == job.id
    assert uuid4() != job.id
