"""Contract test suites: the documented behaviour of every port, as pytest tests.

Subclass one in your test module and provide its fixture; pytest collects the
inherited tests::

    from reasonkit_export.testing import JobRepositoryContract

    class TestMyRepository(JobRepositoryContract):
        @pytest.fixture
        def repository(self):
            return MyRepository(...)   # a fresh, empty repository per test

Our own adapters run these same suites.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import uuid4

import attrs
import pytest

from reasonkit_export._models import ExportJob, ExportStatus, ScheduledExport
from reasonkit_export.exceptions import (
    ConflictError,
    ExportNotFound,
    InvalidKey,
    ScheduleNotFound,
    StorageError,
)
from reasonkit_export.protocols import (
    JobRepository,
    LeftoverStorage,
    ScheduleRepository,
    Storage,
    SweepableJobRepository,
)

__all__ = ["JobRepositoryContract", "ScheduleRepositoryContract", "StorageContract"]

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)
_TICK = timedelta(microseconds=1)


def _job(user: str = "user-1", *, minutes: int = 0, **changes: Any) -> ExportJob:
    fields: dict[str, Any] = {
        "user_id": user,
        "format": "json",
        "categories": ("profile",),
        "created_at": T0 + timedelta(minutes=minutes),
    }
    return ExportJob(**{**fields, **changes})


def _race(count: int, action: Callable[[], Any]) -> list[Any]:
    """Run ``action`` on ``count`` threads released at the same moment."""
    barrier = threading.Barrier(count)

    def run() -> Any:
        barrier.wait()
        try:
            return action()
        except ConflictError as exc:
            return exc

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda _: run(), range(count)))


class JobRepositoryContract:
    """The :class:`~reasonkit_export.protocols.JobRepository` contract.

    Provide a ``repository`` fixture returning a fresh, empty repository.
    """

    def test_is_a_job_repository(self, repository: JobRepository) -> None:
        """The adapter satisfies the runtime-checkable protocol."""
        assert isinstance(repository, JobRepository)

    def test_add_then_get_round_trips_every_field(self, repository: JobRepository) -> None:
        """A stored job comes back equal, field for field."""
        job = _job(
            record_counts={"profile": 3},
            sha256="ab" * 32,
            file_size=10,
            categories=("profile", "ünïcode-ok"),
            expires_at=T0 + timedelta(days=1),
            locale="de-AT",
            timezone="Europe/Berlin",
            retry_at=T0 + timedelta(minutes=2),
            sweep_at=T0 + timedelta(minutes=3),
        )
        repository.add(job)
        assert repository.get(job.id) == job

    def test_add_twice_conflicts(self, repository: JobRepository) -> None:
        """Adding a job whose id exists raises ConflictError."""
        job = repository.add(_job())
        with pytest.raises(ConflictError):
            repository.add(job)

    def test_get_missing_raises_not_found(self, repository: JobRepository) -> None:
        """An unknown id raises ExportNotFound."""
        with pytest.raises(ExportNotFound):
            repository.get(uuid4())

    def test_list_for_user_newest_first_and_only_theirs(self, repository: JobRepository) -> None:
        """History is the user's own jobs, newest first, capped by limit."""
        older = repository.add(_job(minutes=1))
        newer = repository.add(_job(minutes=2))
        repository.add(_job("someone-else", minutes=3))
        assert [j.id for j in repository.list_for_user("user-1")] == [newer.id, older.id]
        assert [j.id for j in repository.list_for_user("user-1", limit=1)] == [newer.id]
        assert repository.list_for_user("nobody") == []

    def test_list_for_user_filters_by_status(self, repository: JobRepository) -> None:
        """The statuses argument keeps only jobs in those statuses."""
        pending = repository.add(_job(minutes=1))
        repository.add(_job(minutes=2, status=ExportStatus.FAILED))
        found = repository.list_for_user("user-1", statuses={ExportStatus.PENDING})
        assert [j.id for j in found] == [pending.id]

    def test_claim_pending_starts_attempt(self, repository: JobRepository) -> None:
        """Claiming a pending job makes it processing with attempt 1 and a lease."""
        job = repository.add(_job())
        claimed = repository.claim(job.id, now=T0, lease=LEASE)
        assert claimed is not None
        assert claimed.status is ExportStatus.PROCESSING
        assert claimed.attempt == 1
        assert claimed.lease_expires_at == T0 + LEASE
        assert claimed.started_at == T0
        assert claimed.version == job.version + 1
        assert repository.get(job.id) == claimed

    def test_claim_held_job_returns_none(self, repository: JobRepository) -> None:
        """A job under a live lease cannot be claimed again."""
        job = repository.add(_job())
        first = repository.claim(job.id, now=T0, lease=LEASE)
        assert repository.claim(job.id, now=T0 + timedelta(minutes=1), lease=LEASE) is None
        assert repository.get(job.id) == first

    def test_claim_after_lease_expiry_takes_over(self, repository: JobRepository) -> None:
        """A job whose lease ran out is claimable again, with attempt + 1."""
        job = repository.add(_job())
        repository.claim(job.id, now=T0, lease=LEASE)
        again = repository.claim(job.id, now=T0 + LEASE, lease=LEASE)
        assert again is not None
        assert again.attempt == 2
        assert again.started_at == T0

    def test_claim_waits_for_retry_at(self, repository: JobRepository) -> None:
        """A pending job waiting out a retry backoff is claimable only from ``retry_at``."""
        job = repository.add(_job(retry_at=T0 + LEASE, last_transient_error="storage failed"))
        assert repository.claim(job.id, now=T0, lease=LEASE) is None
        claimed = repository.claim(job.id, now=T0 + LEASE, lease=LEASE)
        assert claimed is not None
        assert claimed.retry_at is None
        assert claimed.last_transient_error == "storage failed"
        assert repository.get(job.id) == claimed

    @pytest.mark.parametrize(
        "status", [ExportStatus.COMPLETED, ExportStatus.FAILED, ExportStatus.CANCELLED]
    )
    def test_claim_finished_job_returns_none(
        self, repository: JobRepository, status: ExportStatus
    ) -> None:
        """Finished jobs are never claimed."""
        job = repository.add(_job(status=status))
        assert repository.claim(job.id, now=T0, lease=LEASE) is None

    def test_claim_missing_raises_not_found(self, repository: JobRepository) -> None:
        """Claiming an unknown id raises ExportNotFound."""
        with pytest.raises(ExportNotFound):
            repository.claim(uuid4(), now=T0, lease=LEASE)

    def test_concurrent_claims_have_one_winner(self, repository: JobRepository) -> None:
        """Of many simultaneous claims exactly one succeeds."""
        job = repository.add(_job())
        results = _race(8, lambda: repository.claim(job.id, now=T0, lease=LEASE))
        winners = [r for r in results if isinstance(r, ExportJob)]
        assert len(winners) == 1
        assert repository.get(job.id).attempt == 1

    def test_save_bumps_version(self, repository: JobRepository) -> None:
        """A save with the current version stores the job with version + 1."""
        job = repository.add(_job())
        saved = repository.save(attrs.evolve(job, progress=50))
        assert saved.version == job.version + 1
        assert repository.get(job.id) == saved

    def test_stale_save_conflicts(self, repository: JobRepository) -> None:
        """A save based on an old version is rejected and changes nothing."""
        job = repository.add(_job())
        current = repository.save(attrs.evolve(job, progress=10))
        with pytest.raises(ConflictError) as caught:
            repository.save(attrs.evolve(job, progress=99))
        assert caught.value.record_id == job.id
        assert repository.get(job.id) == current

    def test_save_missing_raises_not_found(self, repository: JobRepository) -> None:
        """Saving a job that was never added raises ExportNotFound."""
        with pytest.raises(ExportNotFound):
            repository.save(_job())

    def test_concurrent_saves_of_one_version_have_one_winner(
        self, repository: JobRepository
    ) -> None:
        """Compare-and-set lets exactly one of many racing writers win."""
        job = repository.add(_job())
        results = _race(8, lambda: repository.save(attrs.evolve(job, progress=42)))
        assert sum(isinstance(r, ExportJob) for r in results) == 1
        assert repository.get(job.id).version == job.version + 1

    def test_list_by_status_for_sweeps(self, repository: JobRepository) -> None:
        """Sweeps see jobs by status, and 'before' compares the relevant deadline."""
        due = repository.add(
            _job(status=ExportStatus.COMPLETED, expires_at=T0 + timedelta(hours=1))
        )
        repository.add(_job(status=ExportStatus.COMPLETED, expires_at=T0 + timedelta(hours=5)))
        stale = repository.add(
            _job(status=ExportStatus.PROCESSING, lease_expires_at=T0 + timedelta(minutes=1))
        )
        repository.add(_job(status=ExportStatus.PENDING))
        completed = repository.list_by_status(
            {ExportStatus.COMPLETED}, before=T0 + timedelta(hours=2)
        )
        assert [j.id for j in completed] == [due.id]
        processing = repository.list_by_status(
            {ExportStatus.PROCESSING}, before=T0 + timedelta(minutes=2)
        )
        assert [j.id for j in processing] == [stale.id]
        everything = repository.list_by_status(set(ExportStatus))
        assert len(list(everything)) == 4

    def test_sweep_skips_a_live_lease_however_old_the_job(self, repository: JobRepository) -> None:
        """A processing job is swept by its lease, never by its age: a live lease is kept."""
        old_but_held = repository.add(
            _job(
                minutes=-3 * 24 * 60,
                status=ExportStatus.PROCESSING,
                lease_expires_at=T0 + timedelta(minutes=4),
            )
        )
        new_but_abandoned = repository.add(
            _job(
                minutes=-1,
                status=ExportStatus.PROCESSING,
                lease_expires_at=T0 - timedelta(hours=2),
            )
        )
        swept = repository.list_by_status({ExportStatus.PROCESSING}, before=T0)
        assert [j.id for j in swept] == [new_but_abandoned.id]
        later = repository.list_by_status({ExportStatus.PROCESSING}, before=T0 + LEASE)
        assert {j.id for j in later} == {old_but_held.id, new_but_abandoned.id}

    def test_sweep_deadlines_are_strictly_before(self, repository: JobRepository) -> None:
        """A deadline equal to 'before' is not yet due, for every kind of deadline."""
        moment = T0 + timedelta(hours=1)
        repository.add(_job(status=ExportStatus.COMPLETED, expires_at=moment))
        repository.add(_job(status=ExportStatus.PROCESSING, lease_expires_at=moment))
        repository.add(_job(status=ExportStatus.PENDING, created_at=moment))
        assert list(repository.list_by_status(set(ExportStatus), before=moment)) == []
        assert len(list(repository.list_by_status(set(ExportStatus), before=moment + _TICK))) == 3

    def test_sweep_of_completed_jobs_uses_expiry_not_age(self, repository: JobRepository) -> None:
        """A completed job created long ago is swept only once its expiry has passed."""
        kept = repository.add(
            _job(
                minutes=-30 * 24 * 60,
                status=ExportStatus.COMPLETED,
                expires_at=T0 + timedelta(days=1),
            )
        )
        due = repository.add(
            _job(minutes=-1, status=ExportStatus.COMPLETED, expires_at=T0 - timedelta(minutes=1))
        )
        swept = repository.list_by_status({ExportStatus.COMPLETED}, before=T0)
        assert [j.id for j in swept] == [due.id]
        assert kept.id in {j.id for j in repository.list_by_status({ExportStatus.COMPLETED})}

    def test_sweep_of_other_statuses_uses_creation_time(self, repository: JobRepository) -> None:
        """Pending, failed and cancelled jobs are swept by created_at; other statuses are not."""
        old = [
            repository.add(_job(minutes=-10, status=status))
            for status in (ExportStatus.PENDING, ExportStatus.FAILED, ExportStatus.CANCELLED)
        ]
        repository.add(_job(minutes=10, status=ExportStatus.PENDING))
        swept = repository.list_by_status(
            {ExportStatus.PENDING, ExportStatus.FAILED, ExportStatus.CANCELLED}, before=T0
        )
        assert {j.id for j in swept} == {job.id for job in old}
        only_failed = repository.list_by_status({ExportStatus.FAILED}, before=T0)
        assert [j.id for j in only_failed] == [old[1].id]

    def test_processing_job_without_lease_is_claimable(self, repository: JobRepository) -> None:
        """A processing job with no lease at all can be taken over (attempt + 1)."""
        job = repository.add(_job(status=ExportStatus.PROCESSING, attempt=1))
        claimed = repository.claim(job.id, now=T0, lease=LEASE)
        assert claimed is not None
        assert (claimed.attempt, claimed.lease_expires_at) == (2, T0 + LEASE)
        assert claimed.updated_at == T0

    def test_claim_a_moment_before_lease_expiry_returns_none(
        self, repository: JobRepository
    ) -> None:
        """Up to the instant its lease ends a job stays with its worker."""
        job = repository.add(_job())
        first = repository.claim(job.id, now=T0, lease=LEASE)
        assert repository.claim(job.id, now=T0 + LEASE - _TICK, lease=LEASE) is None
        assert repository.get(job.id) == first

    def test_claim_clears_sweep_at(self, repository: JobRepository) -> None:
        """A claimed job leaves the sweep's agenda: its worker's lease governs it now."""
        job = repository.add(_job(sweep_at=T0 - timedelta(minutes=1)))
        claimed = repository.claim(job.id, now=T0, lease=LEASE)
        assert claimed is not None
        assert claimed.sweep_at is None
        assert repository.get(job.id).sweep_at is None

    def _sweepable(self, repository: JobRepository) -> SweepableJobRepository:
        if not isinstance(repository, SweepableJobRepository):
            pytest.skip("no list_to_sweep: the sweeps read every job through list_by_status")
        return repository

    def test_list_to_sweep_yields_exactly_the_due_jobs(self, repository: JobRepository) -> None:
        """Jobs whose sweep_at is at or before now are yielded, whatever their status."""
        sweepable = self._sweepable(repository)
        due = {
            repository.add(_job(status=status, sweep_at=T0 - timedelta(minutes=n))).id
            for n, status in enumerate(ExportStatus)
        }
        due.add(repository.add(_job(sweep_at=T0)).id)
        repository.add(_job(sweep_at=T0 + _TICK))
        repository.add(_job(status=ExportStatus.FAILED, sweep_at=T0 + timedelta(days=1)))
        repository.add(_job(status=ExportStatus.COMPLETED, sweep_at=None))
        repository.add(_job(sweep_at=None))
        assert sorted(str(j.id) for j in sweepable.list_to_sweep(T0)) == sorted(map(str, due))
        assert list(sweepable.list_to_sweep(T0 - timedelta(days=1))) == []

    def test_list_to_sweep_follows_saves_and_claims(self, repository: JobRepository) -> None:
        """A save that sets sweep_at adds the job; clearing it or a claim removes it."""
        sweepable = self._sweepable(repository)
        job = repository.add(_job())
        assert list(sweepable.list_to_sweep(T0)) == []
        marked = repository.save(attrs.evolve(job, sweep_at=T0))
        assert list(sweepable.list_to_sweep(T0)) == [marked]
        cleared = repository.save(attrs.evolve(marked, sweep_at=None))
        assert list(sweepable.list_to_sweep(T0 + timedelta(days=1))) == []
        repository.save(attrs.evolve(cleared, sweep_at=T0))
        assert repository.claim(job.id, now=T0, lease=LEASE) is not None
        assert list(sweepable.list_to_sweep(T0 + timedelta(days=1))) == []

    def test_list_to_sweep_compares_instants_in_utc(self, repository: JobRepository) -> None:
        """A sweep_at in another time zone is due at the same instant in UTC."""
        sweepable = self._sweepable(repository)
        plus_two = timezone(timedelta(hours=2))
        job = repository.add(_job(sweep_at=T0 + timedelta(hours=1)))
        # 14:30+02:00 is 12:30 UTC, before the 13:00 UTC sweep_at.
        assert list(sweepable.list_to_sweep(datetime(2025, 3, 1, 14, 30, tzinfo=plus_two))) == []
        late = datetime(2025, 3, 1, 15, 0, tzinfo=plus_two)
        assert [j.id for j in sweepable.list_to_sweep(late)] == [job.id]

    def test_claim_changes_only_that_job(self, repository: JobRepository) -> None:
        """A claim writes the claimed job and no other, even one with the same version."""
        job = repository.add(_job())
        twin = repository.add(_job(minutes=1))  # same version, also claimable
        held = repository.add(_job(minutes=2, status=ExportStatus.PROCESSING))
        assert repository.claim(job.id, now=T0, lease=LEASE) is not None
        assert repository.get(twin.id) == twin
        assert repository.get(held.id) == held

    def test_save_changes_only_that_job(self, repository: JobRepository) -> None:
        """A save writes the saved job and no other, even one with the same version."""
        job = repository.add(_job())
        twin = repository.add(_job(minutes=1))
        saved = repository.save(attrs.evolve(job, progress=50))
        assert repository.get(twin.id) == twin
        assert repository.get(job.id) == saved

    def test_not_found_names_the_missing_job(self, repository: JobRepository) -> None:
        """ExportNotFound from get, claim and save carries the id that was asked for."""
        missing = _job()
        with pytest.raises(ExportNotFound) as from_get:
            repository.get(missing.id)
        with pytest.raises(ExportNotFound) as from_claim:
            repository.claim(missing.id, now=T0, lease=LEASE)
        with pytest.raises(ExportNotFound) as from_save:
            repository.save(missing)
        assert [from_get.value.job_id, from_claim.value.job_id, from_save.value.job_id] == [
            missing.id
        ] * 3

    def test_sweep_reads_only_the_deadline_of_the_jobs_status(
        self, repository: JobRepository
    ) -> None:
        """A deadline a job's status does not use never makes it due.

        A processing job is due by its lease alone (not an old ``expires_at``), a
        completed one by its expiry alone (not a stale lease), a pending one by
        its creation alone.
        """
        past, future = T0 - timedelta(hours=1), T0 + timedelta(hours=1)
        repository.add(
            _job(status=ExportStatus.PROCESSING, lease_expires_at=future, expires_at=past)
        )
        repository.add(
            _job(status=ExportStatus.COMPLETED, expires_at=future, lease_expires_at=past)
        )
        repository.add(
            _job(minutes=10, status=ExportStatus.PENDING, lease_expires_at=past, expires_at=past)
        )
        assert list(repository.list_by_status(set(ExportStatus), before=T0)) == []

    def test_list_for_user_breaks_ties_by_id(self, repository: JobRepository) -> None:
        """Jobs created at the same instant are listed by id, descending."""
        jobs = [repository.add(_job()) for _ in range(4)]
        expected = sorted((job.id for job in jobs), key=str, reverse=True)
        assert [j.id for j in repository.list_for_user("user-1")] == expected
        assert [j.id for j in repository.list_for_user("user-1", limit=2)] == expected[:2]
        assert repository.list_for_user("user-1", limit=0) == []


def _schedule(user: str = "user-1", *, minutes: int = 0, **changes: Any) -> ScheduledExport:
    fields: dict[str, Any] = {
        "user_id": user,
        "cron_expression": "0 3 * * *",
        "format": "json",
        "categories": ("profile",),
        "created_at": T0 + timedelta(minutes=minutes),
        "next_run": T0 + timedelta(hours=1),
    }
    return ScheduledExport(**{**fields, **changes})


class ScheduleRepositoryContract:
    """The :class:`~reasonkit_export.protocols.ScheduleRepository` contract.

    Provide a ``schedules`` fixture returning a fresh, empty repository.
    """

    def test_is_a_schedule_repository(self, schedules: ScheduleRepository) -> None:
        """The adapter satisfies the runtime-checkable protocol."""
        assert isinstance(schedules, ScheduleRepository)

    def test_add_then_get_round_trips(self, schedules: ScheduleRepository) -> None:
        """A stored schedule comes back equal, field for field."""
        schedule = _schedule(timezone="Europe/Berlin", last_run=T0)
        schedules.add(schedule)
        assert schedules.get(schedule.id) == schedule

    def test_add_twice_conflicts(self, schedules: ScheduleRepository) -> None:
        """Adding a schedule whose id exists raises ConflictError."""
        schedule = schedules.add(_schedule())
        with pytest.raises(ConflictError):
            schedules.add(schedule)

    def test_get_missing_raises_not_found(self, schedules: ScheduleRepository) -> None:
        """An unknown id raises ScheduleNotFound."""
        with pytest.raises(ScheduleNotFound):
            schedules.get(uuid4())

    def test_list_for_user_oldest_first(self, schedules: ScheduleRepository) -> None:
        """A user's schedules come oldest first and only theirs."""
        first = schedules.add(_schedule(minutes=1))
        second = schedules.add(_schedule(minutes=2))
        schedules.add(_schedule("someone-else"))
        assert [s.id for s in schedules.list_for_user("user-1")] == [first.id, second.id]

    def test_list_due_only_enabled_and_due(self, schedules: ScheduleRepository) -> None:
        """Due means enabled with next_run at or before now."""
        due = schedules.add(_schedule())
        schedules.add(_schedule(enabled=False))
        schedules.add(_schedule(next_run=T0 + timedelta(days=1)))
        schedules.add(_schedule(next_run=None))
        found = schedules.list_due(T0 + timedelta(hours=1))
        assert [s.id for s in found] == [due.id]

    def test_save_is_compare_and_set(self, schedules: ScheduleRepository) -> None:
        """A save from an old version conflicts; a current one bumps the version."""
        schedule = schedules.add(_schedule())
        saved = schedules.save(attrs.evolve(schedule, enabled=False))
        assert saved.version == schedule.version + 1
        with pytest.raises(ConflictError):
            schedules.save(attrs.evolve(schedule, next_run=T0))
        assert schedules.get(schedule.id) == saved

    def test_racing_fire_time_claims_have_one_winner(self, schedules: ScheduleRepository) -> None:
        """Of many hosts advancing the same due schedule, exactly one succeeds."""
        schedule = schedules.add(_schedule())
        advanced = attrs.evolve(schedule, last_run=T0, next_run=T0 + timedelta(days=1))
        results = _race(8, lambda: schedules.save(advanced))
        assert sum(isinstance(r, ScheduledExport) for r in results) == 1

    def test_save_missing_raises_not_found(self, schedules: ScheduleRepository) -> None:
        """Saving a schedule that was never added raises ScheduleNotFound."""
        with pytest.raises(ScheduleNotFound):
            schedules.save(_schedule())

    def test_delete_is_idempotent(self, schedules: ScheduleRepository) -> None:
        """Deleting removes the schedule; deleting again is fine."""
        schedule = schedules.add(_schedule())
        schedules.delete(schedule.id)
        schedules.delete(schedule.id)
        with pytest.raises(ScheduleNotFound):
            schedules.get(schedule.id)


class StorageContract:
    """The :class:`~reasonkit_export.protocols.Storage` contract.

    Provide a ``storage`` fixture returning a fresh, empty storage.
    """

    def test_is_a_storage(self, storage: Storage) -> None:
        """The adapter satisfies the runtime-checkable protocol."""
        assert isinstance(storage, Storage)

    def test_write_then_read(self, storage: Storage) -> None:
        """Bytes written under a key read back identically, with their size."""
        with storage.open_write("job/1/export.json") as sink:
            sink.write(b"hello ")
            sink.write("wörld".encode())
        assert storage.exists("job/1/export.json")
        assert storage.size("job/1/export.json") == len("hello wörld".encode())
        with storage.open_read("job/1/export.json") as source:
            assert source.read() == "hello wörld".encode()

    def test_nothing_visible_until_complete(self, storage: Storage) -> None:
        """During a write the key does not exist yet."""
        with storage.open_write("job/2/export.json") as sink:
            sink.write(b"partial")
            assert not storage.exists("job/2/export.json")
        assert storage.exists("job/2/export.json")

    def test_failed_write_leaves_nothing(self, storage: Storage) -> None:
        """An exception inside the write block leaves no artifact behind."""
        with pytest.raises(RuntimeError), storage.open_write("job/3/export.json") as sink:  # noqa: PT012
            sink.write(b"x" * 100_000)
            raise RuntimeError("boom")
        assert not storage.exists("job/3/export.json")

    def test_failed_rewrite_keeps_old_content(self, storage: Storage) -> None:
        """A failed write over an existing key leaves the old content intact."""
        with storage.open_write("job/4/export.json") as sink:
            sink.write(b"old")
        with pytest.raises(RuntimeError), storage.open_write("job/4/export.json") as sink:  # noqa: PT012
            sink.write(b"new but broken")
            raise RuntimeError("boom")
        with storage.open_read("job/4/export.json") as source:
            assert source.read() == b"old"

    def test_large_streamed_write(self, storage: Storage) -> None:
        """Several MiB written in pieces read back identically in chunks."""
        piece = bytes(range(256)) * 4096  # 1 MiB
        with storage.open_write("job/5/big.bin") as sink:
            for _ in range(5):
                sink.write(piece)
        assert storage.size("job/5/big.bin") == 5 * len(piece)
        with storage.open_read("job/5/big.bin") as source:
            total = 0
            while chunk := source.read(65536):
                assert chunk == piece[total % len(piece) :][: len(chunk)]
                total += len(chunk)
        assert total == 5 * len(piece)

    def test_delete_is_idempotent(self, storage: Storage) -> None:
        """Deleting removes the artifact; deleting a missing key is fine."""
        with storage.open_write("job/6/export.json") as sink:
            sink.write(b"x")
        storage.delete("job/6/export.json")
        storage.delete("job/6/export.json")
        assert not storage.exists("job/6/export.json")

    def test_missing_key_read_and_size_raise(self, storage: Storage) -> None:
        """Reading or sizing a missing key raises StorageError."""
        with pytest.raises(StorageError):
            storage.open_read("job/7/missing.json")
        with pytest.raises(StorageError):
            storage.size("job/7/missing.json")

    @pytest.mark.parametrize(
        "key",
        ["../escape", "/etc/passwd", "a/../../b", "", ".hidden", "a//b", "a/./b", "a\\b", "a b"],
    )
    def test_unsafe_keys_are_refused(self, storage: Storage, key: str) -> None:
        """Keys that could escape the root or hide files raise InvalidKey."""
        with pytest.raises(InvalidKey), storage.open_write(key) as sink:
            sink.write(b"x")
        with pytest.raises(InvalidKey):
            storage.exists(key)

    def test_signed_url_is_string_or_none(self, storage: Storage) -> None:
        """signed_url answers a URL string, or None where presigning is unsupported."""
        with storage.open_write("job/8/export.json") as sink:
            sink.write(b"x")
        url = storage.signed_url("job/8/export.json", timedelta(hours=1))
        assert url is None or isinstance(url, str)

    def _leftovers(self, storage: Storage) -> LeftoverStorage:
        if not isinstance(storage, LeftoverStorage):
            pytest.skip("no remove_leftovers: the storage cannot clean up interrupted writes")
        return storage

    def test_remove_leftovers_never_touches_an_artifact(self, storage: Storage) -> None:
        """Complete artifacts survive a leftover sweep of their folder, however old."""
        cleaner = self._leftovers(storage)
        keys = ["lo/1/attempt-1", "lo/1/attempt-1.part-1", "lo/1/deep/x.json", "lo/2/x"]
        for key in keys:
            with cleaner.open_write(key) as sink:
                sink.write(key.encode())
        cleaner.remove_leftovers("lo", timedelta(0))
        for key in keys:
            with cleaner.open_read(key) as source:
                assert source.read() == key.encode()

    def test_interrupted_write_leaves_nothing_after_removal(self, storage: Storage) -> None:
        """A write whose process died (its temporary stays) is gone after remove_leftovers."""
        cleaner = self._leftovers(storage)
        writing = cleaner.open_write("lo/3/attempt-1")
        sink = writing.__enter__()
        sink.write(b"half an export " * 1000)
        try:
            cleaner.remove_leftovers("lo", timedelta(0))
            assert cleaner.remove_leftovers("lo", timedelta(0)) == 0  # nothing is left
            assert not cleaner.exists("lo/3/attempt-1")
        finally:
            with contextlib.suppress(Exception):
                writing.__exit__(RuntimeError, RuntimeError("the process died"), None)
        assert not cleaner.exists("lo/3/attempt-1")

    def test_young_temporaries_are_left_alone(self, storage: Storage) -> None:
        """A write still running (its temporary younger than older_than) completes intact."""
        cleaner = self._leftovers(storage)
        with cleaner.open_write("lo/4/attempt-1") as sink:
            sink.write(b"first half, ")
            cleaner.remove_leftovers("lo", timedelta(hours=1))
            sink.write(b"second half")
        with cleaner.open_read("lo/4/attempt-1") as source:
            assert source.read() == b"first half, second half"

    def test_emptied_folders_do_not_block_new_writes(self, storage: Storage) -> None:
        """After its files are deleted and leftovers removed, a folder is usable again."""
        cleaner = self._leftovers(storage)
        with cleaner.open_write("lo/5/attempt-1") as sink:
            sink.write(b"x")
        cleaner.delete("lo/5/attempt-1")
        cleaner.remove_leftovers("lo/5", timedelta(hours=1))
        assert cleaner.remove_leftovers("lo/5", timedelta(0)) == 0
        with cleaner.open_write("lo/5/attempt-2") as sink:
            sink.write(b"y")
        assert cleaner.exists("lo/5/attempt-2")

    def test_remove_leftovers_of_a_missing_folder_is_a_noop(self, storage: Storage) -> None:
        """A prefix with nothing under it removes nothing and raises nothing."""
        assert self._leftovers(storage).remove_leftovers("nothing/here", timedelta(0)) == 0

    @pytest.mark.parametrize("prefix", ["../escape", "/etc", "", ".hidden", "a/../b"])
    def test_remove_leftovers_refuses_unsafe_prefixes(self, storage: Storage, prefix: str) -> None:
        """A prefix that could leave the root raises InvalidKey."""
        with pytest.raises(InvalidKey):
            self._leftovers(storage).remove_leftovers(prefix, timedelta(0))
