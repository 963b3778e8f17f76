"""Crash safety with real processes: SIGKILL at named points, redelivery, SIGSTOP.

Workers run ``tests/crash_worker.py`` in subprocesses against a shared
repository (file, SQLite, PostgreSQL) and local storage. After the crashes,
once a lease has passed, ``recover_stale`` and a clean worker run; then the
invariants must hold: no job left processing, every completed job's file
exists and matches its sha256, no file at a final key without a completed
job pointing at it, and at most one extra notification per crash.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from reasonkit_export import ExportConfig, ExportJob, ExportService, ExportStatus
from reasonkit_export.storage import FsspecStorage
from tests import crash_worker
from tests.sql_support import sql_backends

LEASE = 1.0
POINTS = ["after_claim", "mid_source", "mid_write", "before_commit", "mid_notify"]
ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


@pytest.fixture(params=["file", *sql_backends()])
def repo_spec(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A repository specification for the worker processes, fresh per test."""
    if request.param == "file":
        yield f"file:{tmp_path / 'jobs'}"
        return
    backend = request.getfixturevalue(f"{request.param}_spec")
    yield backend


def _run(repo: str, storage: Path, log: Path, point: str, job_ids: list[UUID | str]) -> int:
    command = [
        sys.executable,
        "-m",
        "tests.crash_worker",
        repo,
        str(storage),
        str(log),
        point,
        str(LEASE),
        *map(str, job_ids),
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, timeout=120, check=False)
    if result.returncode not in (0, -signal.SIGKILL):
        raise AssertionError(result.stderr.decode(errors="replace"))
    return result.returncode


_HOSTS: list[ExportService] = []


def _host(repo: str, storage: Path, log: Path) -> ExportService:
    service = crash_worker.build_service(repo, str(storage), str(log), "none", LEASE)
    _HOSTS.append(service)
    return service


@pytest.fixture(autouse=True)
def _close_hosts() -> Iterator[None]:
    """Dispose of the hosts' database engines after each test."""
    yield
    while _HOSTS:
        close = getattr(_HOSTS.pop().repository, "close", None)
        if close is not None:
            close()


def _check_invariants(host: ExportService, jobs: list[ExportJob], storage: Path, log: Path) -> None:
    final = [host.get_job(job.id) for job in jobs]
    assert all(job.status is ExportStatus.COMPLETED for job in final), [j.status for j in final]
    keys = set()
    for job in final:
        assert job.storage_key is not None
        keys.add(job.storage_key)
        data = (storage / job.storage_key).read_bytes()
        assert hashlib.sha256(data).hexdigest() == job.sha256
        assert len(data) == job.file_size
    on_disk = {
        str(path.relative_to(storage))
        for path in storage.rglob("*")
        if path.is_file() and not path.name.startswith(".")
    }
    assert on_disk == keys, "a file sits at a final key without a completed job"
    sent = Counter(line.split()[0] for line in log.read_text().splitlines() if "completed" in line)
    for job in final:
        assert 1 <= sent[str(job.id)] <= 2, "more than one extra notification"


@pytest.mark.parametrize("point", POINTS)
def test_sigkill_at_named_point_recovers(repo_spec: str, tmp_path: Path, point: str) -> None:
    """Workers killed at a named point leave nothing that recovery cannot mend."""
    storage, log = tmp_path / "files", tmp_path / "notifications.log"
    host = _host(repo_spec, storage, log)
    jobs = [host.create_export(f"user-{n}", "json", ["history"]) for n in range(3)]
    for job in jobs:
        assert _run(repo_spec, storage, log, point, [job.id]) == -signal.SIGKILL
    time.sleep(LEASE + 0.2)
    host.recover_stale()
    for job in jobs:
        host.process_export(job.id)
    assert all(host.get_job(job.id).status is not ExportStatus.PROCESSING for job in jobs)
    _check_invariants(host, jobs, storage, log)


def test_triple_delivery_across_processes_completes_once(repo_spec: str, tmp_path: Path) -> None:
    """Many jobs, each delivered three times to four worker processes, complete exactly once."""
    storage, log = tmp_path / "files", tmp_path / "notifications.log"
    host = _host(repo_spec, storage, log)
    jobs = [host.create_export(f"user-{n}", "json", ["history"]) for n in range(12)]
    deliveries = [job.id for job in jobs for _ in range(3)]
    random.Random(7).shuffle(deliveries)
    command_base = [sys.executable, "-m", "tests.crash_worker", repo_spec, str(storage), str(log)]
    workers = [
        subprocess.Popen(
            [*command_base, "none", "30", *map(str, deliveries[n::4])],
            cwd=ROOT,
            stderr=subprocess.PIPE,
        )
        for n in range(4)
    ]
    for worker in workers:
        _, stderr = worker.communicate(timeout=180)
        assert worker.returncode == 0, stderr.decode(errors="replace")
    sent = Counter(line for line in log.read_text().splitlines())
    for job in jobs:
        final = host.get_job(job.id)
        assert final.status is ExportStatus.COMPLETED
        assert final.attempt == 1
        assert sent[f"{job.id} completed"] == 1
    _check_invariants(host, jobs, storage, log)


def _is_stopped(pid: int) -> bool:
    """Whether process ``pid`` is stopped by a signal (state ``T`` in /proc)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rpartition(")")[2].split()[0] == "T"


def test_paused_worker_cannot_overwrite_newer_attempt(repo_spec: str, tmp_path: Path) -> None:
    """A worker SIGSTOPped past its lease and resumed cannot replace the newer attempt."""
    storage, log = tmp_path / "files", tmp_path / "notifications.log"
    host = _host(repo_spec, storage, log)
    job = host.create_export("user-1", "json", ["history"])
    stale = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.crash_worker",
            repo_spec,
            str(storage),
            str(log),
            "slow",
            str(LEASE),
            str(job.id),
        ],
        cwd=ROOT,
        stderr=subprocess.PIPE,
    )
    try:
        # The worker stops itself half-way through its source, holding no
        # repository lock (tests/crash_worker.py); wait until it has.
        deadline = time.monotonic() + 120
        while not _is_stopped(stale.pid):
            assert stale.poll() is None, stale.communicate()[1].decode(errors="replace")
            assert time.monotonic() < deadline, "the worker never paused"
            time.sleep(0.05)
        assert host.get_job(job.id).status is ExportStatus.PROCESSING
        time.sleep(LEASE + 0.3)
        host.recover_stale()
        newer = host.process_export(job.id)
        assert newer.status is ExportStatus.COMPLETED
        assert newer.attempt == 2
    finally:
        os.kill(stale.pid, signal.SIGCONT)
    _, stderr = stale.communicate(timeout=120)
    assert stale.returncode == 0, stderr.decode(errors="replace")
    final = host.get_job(job.id)
    assert final.attempt == 2
    assert final.storage_key == newer.storage_key
    assert final.sha256 == newer.sha256
    _check_invariants(host, [final], storage, log)


def test_worker_module_builds_a_real_service(tmp_path: Path) -> None:
    """The crash worker's service is a plain ExportService over the given stores."""
    service: Any = _host(f"file:{tmp_path / 'jobs'}", tmp_path / "files", tmp_path / "log")
    assert isinstance(service, ExportService)
    assert isinstance(service.storage, FsspecStorage)
    assert isinstance(service.config, ExportConfig)


def _assert_only_completed_files(host: ExportService, jobs: list[ExportJob], storage: Path) -> None:
    """Storage holds the files of completed jobs and nothing else: no temporary, no empty folder."""
    keep = set()
    for job in jobs:
        current = host.get_job(job.id)
        if current.status is ExportStatus.COMPLETED:
            assert current.storage_key is not None
            keep.add(current.storage_key)
    files = {str(p.relative_to(storage)) for p in storage.rglob("*") if p.is_file()}
    assert files == keep, "an orphan file (or temporary) remains"
    empty = [p for p in storage.rglob("*") if p.is_dir() and not any(p.iterdir())]
    assert empty == [], "an empty job folder remains"


@pytest.mark.parametrize("sweep", ["recover_stale", "expire_exports"])
def test_sigkill_between_saving_a_cancel_and_deleting(
    repo_spec: str, tmp_path: Path, sweep: str
) -> None:
    """A host killed right after saving a cancel leaves files that one sweep deletes."""
    storage, log = tmp_path / "files", tmp_path / "notifications.log"
    host = _host(repo_spec, storage, log)
    job = host.create_export("user-1", "json", ["history"])
    # A worker writes the whole artifact and dies before recording it.
    assert _run(repo_spec, storage, log, "before_commit", [job.id]) == -signal.SIGKILL
    assert _run(repo_spec, storage, log, "after_terminal_save", [f"cancel:{job.id}"]) == (
        -signal.SIGKILL
    )
    assert host.get_job(job.id).status is ExportStatus.CANCELLED
    assert (storage / str(job.id) / "attempt-1").exists()
    time.sleep(LEASE + 0.2)  # the cancelled worker's lease: it might still have written
    getattr(host, sweep)()
    _assert_only_completed_files(host, [job], storage)


def test_sigkill_between_giving_up_and_deleting(repo_spec: str, tmp_path: Path) -> None:
    """recover_stale killed right after failing an exhausted job: the next sweep deletes."""
    storage, log = tmp_path / "files", tmp_path / "notifications.log"
    host = _host(repo_spec, storage, log)
    job = host.create_export("user-1", "json", ["history"])
    attempts = host.config.max_attempts
    for _ in range(attempts):
        assert _run(repo_spec, storage, log, "before_commit", [job.id]) == -signal.SIGKILL
        time.sleep(LEASE + 0.1)
    assert host.get_job(job.id).attempt == attempts
    assert _run(repo_spec, storage, log, "after_terminal_save", ["recover"]) == -signal.SIGKILL
    assert host.get_job(job.id).status is ExportStatus.FAILED
    assert (storage / str(job.id) / f"attempt-{attempts}").exists()
    host.recover_stale()
    _assert_only_completed_files(host, [job], storage)


def test_sigkill_of_a_worker_whose_commit_raced_a_cancel(repo_spec: str, tmp_path: Path) -> None:
    """A cancel lands between a worker's last byte and its commit; the worker dies deleting."""
    storage, log = tmp_path / "files", tmp_path / "notifications.log"
    host = _host(repo_spec, storage, log)
    job = host.create_export("user-1", "json", ["history"])
    assert _run(repo_spec, storage, log, "cancel_race", [job.id]) == -signal.SIGKILL
    assert host.get_job(job.id).status is ExportStatus.CANCELLED
    assert (storage / str(job.id) / "attempt-1").exists(), "the race window was not hit"
    time.sleep(LEASE + 0.2)
    host.expire_exports()
    _assert_only_completed_files(host, [job], storage)


def test_sigkill_mid_write_leaves_no_temporary_after_the_sweeps(
    repo_spec: str, tmp_path: Path
) -> None:
    """The .part of a worker killed mid-write is gone after recovery and one later sweep."""
    storage, log = tmp_path / "files", tmp_path / "notifications.log"
    host = _host(repo_spec, storage, log)
    jobs = [host.create_export(f"user-{n}", "json", ["history"]) for n in range(2)]
    for job in jobs:
        assert _run(repo_spec, storage, log, "mid_write", [job.id]) == -signal.SIGKILL
    assert len(list(storage.rglob("*.part"))) == len(jobs)
    time.sleep(LEASE + 0.2)
    host.recover_stale()
    for job in jobs:
        assert host.process_export(job.id).status is ExportStatus.COMPLETED
    time.sleep(LEASE + 0.2)
    host.recover_stale()  # a lease after completion: earlier attempts' debris goes
    _assert_only_completed_files(host, jobs, storage)
    _check_invariants(host, jobs, storage, log)
