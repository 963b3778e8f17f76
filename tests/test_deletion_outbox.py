"""The deletion outbox: a crash between saving a job's new state and deleting its files.

Each test lets the service save a state that makes files garbage (expired,
cancelled, failed, given up, retried, superseded) and then "kills" the
process at the deletion: the storage raises :class:`Crash`, a
``BaseException`` nothing in the library catches, as a SIGKILL would stop it
there. A fresh service on the same repository and storage (the restarted
host) then runs ONE sweep, and storage must hold only the files of
completed, unexpired jobs. ``tests/test_crash_safety.py`` does the same with
real SIGKILLed processes.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO
from uuid import UUID, uuid4

import attrs
import pytest

from reasonkit_export import (
    ExportConfig,
    ExportJob,
    ExportService,
    ExportStatus,
)
from reasonkit_export._builder import artifact_key
from reasonkit_export.exceptions import StorageError
from reasonkit_export.protocols import JobRepository
from reasonkit_export.repositories import FileJobRepository, InMemoryJobRepository
from reasonkit_export.storage import FsspecStorage
from reasonkit_export.testing import FrozenClock, RecordingNotifier, StaticDataSource

LEASE = 60
CONFIG = ExportConfig(
    storage_backend="memory",
    rate_limit=None,
    compression_enabled=False,
    lease_seconds=LEASE,
    max_attempts=3,
)
SWEEPS = ["recover_stale", "expire_exports"]


class Crash(BaseException):
    """The process dies here (nothing in the library catches a BaseException)."""


class HookedStorage:
    """Local storage whose deletes and commits run a hook first (to fail or to crash)."""

    def __init__(self, inner: FsspecStorage) -> None:
        self.inner = inner
        self.on_delete: Callable[[str], None] = lambda key: None
        self.on_commit: Callable[[str], None] = lambda key: None
        self.fail_writes = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    @contextlib.contextmanager
    def open_write(self, key: str) -> Iterator[BinaryIO]:
        if self.fail_writes:
            raise StorageError(f"cannot open {key!r} for writing: EIO")
        with self.inner.open_write(key) as handle:
            yield handle
            self.on_commit(key)  # the bytes are written; the rename comes next

    def delete(self, key: str) -> None:
        self.on_delete(key)
        self.inner.delete(key)


class FailingSource:
    """A source that raises: the export itself fails."""

    category = "profile"

    def records(self, user_id: str) -> Iterator[dict[str, Any]]:
        raise RuntimeError("the source is broken")


@pytest.fixture(params=["memory", "file", "sqlite"])
def repository(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobRepository]:
    """A job repository of each built-in kind, shared by the crashed and the restarted host."""
    if request.param == "memory":
        yield InMemoryJobRepository()
    elif request.param == "file":
        yield FileJobRepository(tmp_path / "jobs")
    else:
        from reasonkit_export.repositories.sql import SqlJobRepository

        with SqlJobRepository(f"sqlite:///{tmp_path / 'jobs.db'}") as sql:
            sql.migrate()
            yield sql


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """The storage folder on the local disk."""
    return tmp_path / "files"


@pytest.fixture
def storage(root: Path) -> HookedStorage:
    """Local storage with hooks, for the process that crashes."""
    return HookedStorage(FsspecStorage(str(root)))


def _service(
    repository: JobRepository,
    storage: Any,
    clock: FrozenClock,
    *,
    sources: list[Any] | None = None,
) -> ExportService:
    return ExportService(
        sources=sources
        or [StaticDataSource("profile", [{"name": "Zoë", "n": n} for n in range(5)])],
        repository=repository,
        storage=storage,
        notifier=RecordingNotifier(),
        clock=clock,
        config=CONFIG,
    )


def _restart_and_sweep(
    repository: JobRepository, root: Path, clock: FrozenClock, sweep: str
) -> ExportService:
    """A fresh host on the same repository and storage runs one sweep."""
    host = _service(repository, FsspecStorage(str(root)), clock)
    getattr(host, sweep)()
    return host


def _files(root: Path) -> set[str]:
    """Every file under the storage root, temporaries included."""
    return {str(path.relative_to(root)) for path in root.rglob("*") if path.is_file()}


def _assert_no_orphans(host: ExportService, jobs: list[ExportJob], root: Path) -> None:
    """Storage holds exactly the files of completed, unexpired jobs; finished jobs no folder."""
    active = {str(job.id) for job in jobs if host.get_job(job.id).is_active}
    folders = [path for path in root.rglob("*") if path.is_dir() and path.name not in active]
    assert [path for path in folders if not any(path.iterdir())] == []
    live: set[str] = set()
    for job in jobs:
        current = host.get_job(job.id)
        if current.status is ExportStatus.COMPLETED:
            assert current.storage_key is not None
            live.add(current.storage_key)
            live.update(part.key for part in current.parts)
    assert _files(root) == live


def _dead_attempt(service: ExportService, job: ExportJob, clock: FrozenClock) -> ExportJob:
    """Attempt n claims the job, writes its whole artifact and dies before saving."""
    claimed = service.repository.claim(job.id, now=clock(), lease=CONFIG.lease)
    assert claimed is not None
    with service.storage.open_write(artifact_key(job.id, claimed.attempt)) as sink:
        sink.write(b"a complete export nobody will ever download")
    return claimed


def _crash_when(storage: HookedStorage, when: Callable[[], bool]) -> None:
    """Deletes fail (a storage error) until ``when()``; from then on the process dies."""

    def hook(key: str) -> None:
        if when():
            raise Crash(key)
        raise StorageError(f"cannot delete {key!r}: EIO")

    storage.on_delete = hook


@pytest.mark.parametrize("sweep", SWEEPS)
def test_crash_after_expiry_is_saved(
    repository: JobRepository, storage: HookedStorage, root: Path, clock: FrozenClock, sweep: str
) -> None:
    """An export expired but not yet deleted is deleted by the next sweep."""
    service = _service(repository, storage, clock)
    job = service.process_export(service.create_export("alice", "json", ["profile"]).id)
    assert job.status is ExportStatus.COMPLETED
    clock.advance(hours=CONFIG.link_expiry_hours + 1)
    storage.on_delete = lambda key: (_ for _ in ()).throw(Crash(key))
    with pytest.raises(Crash):
        service.expire_exports()
    assert service.get_job(job.id).status is ExportStatus.EXPIRED
    assert _files(root) == {job.storage_key}
    host = _restart_and_sweep(repository, root, clock, sweep)
    _assert_no_orphans(host, [job], root)


@pytest.mark.parametrize("sweep", SWEEPS)
def test_crash_after_cancel_is_saved(
    repository: JobRepository, storage: HookedStorage, root: Path, clock: FrozenClock, sweep: str
) -> None:
    """A cancel whose process died before deleting leaves nothing after the sweep."""
    service = _service(repository, storage, clock)
    job = service.create_export("alice", "json", ["profile"])
    _dead_attempt(service, job, clock)
    storage.on_delete = lambda key: (_ for _ in ()).throw(Crash(key))
    with pytest.raises(Crash):
        service.cancel_export(job.id, user_id="alice")
    assert service.get_job(job.id).status is ExportStatus.CANCELLED
    assert _files(root) == {artifact_key(job.id, 1)}
    # The attempt's worker may write until its lease ends: the sweep deletes then.
    clock.advance(seconds=LEASE)
    host = _restart_and_sweep(repository, root, clock, sweep)
    _assert_no_orphans(host, [job], root)
    assert host.get_job(job.id).sweep_at is None


@pytest.mark.parametrize("sweep", SWEEPS)
def test_crash_after_failure_is_saved(
    repository: JobRepository, storage: HookedStorage, root: Path, clock: FrozenClock, sweep: str
) -> None:
    """A job saved as failed whose worker died before deleting is cleaned by one sweep."""
    service = _service(repository, storage, clock, sources=[FailingSource()])
    job = service.create_export("alice", "json", ["profile"])
    _dead_attempt(service, job, clock)
    clock.advance(seconds=LEASE)
    _crash_when(storage, lambda: repository.get(job.id).status is ExportStatus.FAILED)
    with pytest.raises(Crash):
        service.process_export(job.id)
    failed = service.get_job(job.id)
    assert (failed.status, failed.attempt) == (ExportStatus.FAILED, 2)
    assert _files(root) == {artifact_key(job.id, 1)}
    host = _restart_and_sweep(repository, root, clock, sweep)
    _assert_no_orphans(host, [job], root)


@pytest.mark.parametrize("sweep", SWEEPS)
def test_crash_after_giving_up_is_saved(
    repository: JobRepository, storage: HookedStorage, root: Path, clock: FrozenClock, sweep: str
) -> None:
    """recover_stale gives up on an exhausted job and dies before deleting its file."""
    service = _service(repository, storage, clock)
    job = service.create_export("alice", "json", ["profile"])
    for _ in range(CONFIG.max_attempts):
        claimed = _dead_attempt(service, job, clock)
        clock.advance(seconds=LEASE)
    assert claimed.attempt == CONFIG.max_attempts
    clock.advance(seconds=1)  # the sweep takes leases that ended strictly before now
    _crash_when(storage, lambda: repository.get(job.id).status is ExportStatus.FAILED)
    with pytest.raises(Crash):
        service.recover_stale()
    assert service.get_job(job.id).status is ExportStatus.FAILED
    assert artifact_key(job.id, CONFIG.max_attempts) in _files(root)
    host = _restart_and_sweep(repository, root, clock, sweep)
    _assert_no_orphans(host, [job], root)


@pytest.mark.parametrize("sweep", SWEEPS)
def test_crash_after_transient_failure_is_saved(
    repository: JobRepository, storage: HookedStorage, root: Path, clock: FrozenClock, sweep: str
) -> None:
    """A job put back after a storage failure loses its dead attempts' files at the sweep."""
    service = _service(repository, storage, clock)
    job = service.create_export("alice", "json", ["profile"])
    _dead_attempt(service, job, clock)
    clock.advance(seconds=LEASE)
    storage.fail_writes = True
    _crash_when(storage, lambda: repository.get(job.id).status is ExportStatus.PENDING)
    with pytest.raises(Crash):
        service.process_export(job.id)
    pending = service.get_job(job.id)
    assert pending.status is ExportStatus.PENDING
    assert pending.retry_at is not None
    assert _files(root) == {artifact_key(job.id, 1)}
    clock.advance(pending.retry_at - clock())
    host = _restart_and_sweep(repository, root, clock, sweep)
    _assert_no_orphans(host, [job], root)
    if sweep == "recover_stale":
        assert host.get_job(job.id).sweep_at == clock() + CONFIG.lease  # handed back once


@pytest.mark.parametrize("sweep", SWEEPS)
def test_superseded_worker_dies_before_removing_its_file(
    repository: JobRepository, storage: HookedStorage, root: Path, clock: FrozenClock, sweep: str
) -> None:
    """A cancel lands between a worker's write and its save; the worker dies deleting."""
    service = _service(repository, storage, clock)
    job = service.create_export("alice", "json", ["profile"])
    host = _service(repository, FsspecStorage(str(root)), clock)

    def cancel_now(key: str) -> None:
        storage.on_commit = lambda key: None
        host.cancel_export(job.id, user_id="alice")  # deletes nothing yet: not committed

    storage.on_commit = cancel_now
    storage.on_delete = lambda key: (_ for _ in ()).throw(Crash(key))
    with pytest.raises(Crash):
        service.process_export(job.id)
    assert service.get_job(job.id).status is ExportStatus.CANCELLED
    assert _files(root) == {artifact_key(job.id, 1)}
    clock.advance(seconds=LEASE)
    swept = _restart_and_sweep(repository, root, clock, sweep)
    _assert_no_orphans(swept, [job], root)


def test_completed_retry_leaves_only_its_own_file(
    repository: JobRepository, storage: HookedStorage, root: Path, clock: FrozenClock
) -> None:
    """A dead attempt's file survives a failed clean-up, then goes at the sweep after completion."""
    service = _service(repository, storage, clock)
    job = service.create_export("alice", "json", ["profile"])
    _dead_attempt(service, job, clock)
    clock.advance(seconds=LEASE)
    storage.on_delete = lambda key: (_ for _ in ()).throw(StorageError(f"cannot delete {key!r}"))
    done = service.process_export(job.id)
    assert (done.status, done.attempt) == (ExportStatus.COMPLETED, 2)
    assert _files(root) == {artifact_key(job.id, 1), artifact_key(job.id, 2)}
    storage.on_delete = lambda key: None
    service.recover_stale()
    assert artifact_key(job.id, 1) in _files(root)  # not yet: a lease after completion
    clock.advance(seconds=LEASE)
    service.recover_stale()
    _assert_no_orphans(service, [job], root)
    with service.open_download(job.id, user_id="alice") as download:
        assert b"Zo" in download.read()
    assert service.get_job(job.id).sweep_at is None


def test_requeue_deletes_the_dead_attempt_and_hands_back_once(
    repository: JobRepository, storage: HookedStorage, root: Path, clock: FrozenClock
) -> None:
    """A lost worker's job is requeued, its file deleted, and returned once per lease."""
    service = _service(repository, storage, clock)
    job = service.create_export("alice", "json", ["profile"])
    _dead_attempt(service, job, clock)
    clock.advance(seconds=LEASE + 1)
    assert [j.id for j in service.recover_stale()] == [job.id]
    assert _files(root) == set()
    assert service.recover_stale() == []
    clock.advance(seconds=LEASE)
    assert [j.id for j in service.recover_stale()] == [job.id]
    done = service.process_export(job.id)
    assert done.status is ExportStatus.COMPLETED
    _assert_no_orphans(service, [job], root)


class CountingRepository:
    """Counts the jobs each sweep query hands out."""

    def __init__(self, inner: JobRepository) -> None:
        self.inner = inner
        self.read: list[UUID] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def list_by_status(self, statuses: Any, *, before: Any = None) -> Iterator[ExportJob]:
        for job in self.inner.list_by_status(statuses, before=before):
            self.read.append(job.id)
            yield job

    def list_to_sweep(self, now: Any) -> Iterator[ExportJob]:
        for job in self.inner.list_to_sweep(now):  # type: ignore[attr-defined]
            self.read.append(job.id)
            yield job


def test_recover_stale_reads_only_jobs_with_work_due(
    repository: JobRepository, storage: HookedStorage, clock: FrozenClock
) -> None:
    """Once settled, finished and freshly handed-back jobs cost a sweep nothing."""
    counting = CountingRepository(repository)
    service = _service(counting, storage, clock)
    finished = [service.create_export(f"user-{n}", "json", ["profile"]) for n in range(6)]
    for job in finished:
        service.process_export(job.id)
    service.cancel_export(
        service.create_export("someone", "json", ["profile"]).id, user_id="someone"
    )
    waiting = [service.create_export(f"waiting-{n}", "json", ["profile"]) for n in range(4)]
    clock.advance(seconds=LEASE)
    handed = service.recover_stale()
    assert {j.id for j in handed} == {j.id for j in waiting}
    counting.read.clear()
    for _ in range(3):
        assert service.recover_stale() == []
    assert counting.read == []
    clock.advance(seconds=LEASE)
    assert {j.id for j in service.recover_stale()} == {j.id for j in waiting}
    assert sorted(map(str, counting.read)) == sorted(str(j.id) for j in waiting)


def test_old_documents_without_sweep_at_are_swept_once(clock: FrozenClock, root: Path) -> None:
    """A job stored by an earlier version (no sweep_at) loses its leftovers at the first sweep."""
    repository = InMemoryJobRepository()
    service = _service(repository, FsspecStorage(str(root)), clock)
    job = service.create_export("alice", "json", ["profile"])
    _dead_attempt(service, job, clock)
    current = repository.get(job.id)
    repository.save(attrs.evolve(current, status=ExportStatus.CANCELLED, lease_expires_at=None))
    from reasonkit_export._serialization import job_from_dict, job_to_dict

    document = job_to_dict(repository.get(job.id))
    del document["sweep_at"]
    assert job_from_dict(document).sweep_at == job.created_at
    repository._jobs[job.id] = job_from_dict(document)  # as an old version left it
    service.expire_exports()
    _assert_no_orphans(service, [job], root)
    assert repository.get(job.id).sweep_at is None


def test_a_killed_writes_temporary_goes_at_the_sweep_after_completion(
    repository: JobRepository, storage: HookedStorage, root: Path, clock: FrozenClock
) -> None:
    """The .part a worker killed mid-write left is removed once it is a lease old."""
    service = _service(repository, storage, clock)
    job = service.create_export("alice", "json", ["profile"])
    service.repository.claim(job.id, now=clock(), lease=CONFIG.lease)
    folder = root / str(job.id)
    folder.mkdir(parents=True)
    temporary = folder / f".attempt-1.{uuid4().hex}.part"
    temporary.write_bytes(b"half an export")
    written = time.time() - 2 * LEASE  # the worker died two leases ago
    os.utime(temporary, (written, written))
    clock.advance(seconds=LEASE + 1)
    assert [j.id for j in service.recover_stale()] == [job.id]
    assert temporary.exists()  # a pending job's folder is left to its next attempt
    done = service.process_export(job.id)
    assert (done.status, done.attempt) == (ExportStatus.COMPLETED, 2)
    clock.advance(seconds=LEASE)
    service.recover_stale()
    assert not temporary.exists()
    _assert_no_orphans(service, [job], root)


def test_finished_jobs_leave_no_folder(
    repository: JobRepository, storage: HookedStorage, root: Path, clock: FrozenClock
) -> None:
    """Failing, cancelling and expiring remove the job's folder with its files."""
    service = _service(repository, storage, clock)
    cancelled = service.create_export("alice", "json", ["profile"])
    _dead_attempt(service, cancelled, clock)
    service.cancel_export(cancelled.id, user_id="alice")
    expired = service.process_export(service.create_export("bob", "json", ["profile"]).id)
    clock.advance(hours=CONFIG.link_expiry_hours + 1)
    service.expire_exports()
    assert sorted(path.name for path in root.iterdir()) == []
    _assert_no_orphans(service, [cancelled, expired], root)
