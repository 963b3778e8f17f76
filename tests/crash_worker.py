"""A worker process for the crash tests: runs process_export and can kill itself.

Usage: ``python -m tests.crash_worker REPO STORAGE LOG POINT LEASE TASK [TASK ...]``

``REPO`` is ``file:<dir>`` or ``sql:<url>`` (``#schema`` may follow the URL),
``STORAGE`` a local directory, ``LOG`` a file the notifier appends
``<job id> <event>`` lines to, ``POINT`` one of ``none``, ``after_claim``,
``mid_source``, ``mid_write``, ``before_commit``, ``mid_notify``, ``slow``
(a source that sleeps, and half-way stops itself with SIGSTOP while no
thread of the process is inside a repository call, so a paused worker never
holds a database or file lock the test's host then waits for),
``after_terminal_save`` (right
after a job is saved failed, cancelled or expired, before its files are
deleted) or ``cancel_race`` (the job is cancelled, by a host in the same
process, between the artifact's last byte and its commit; the worker then
dies deleting its superseded file). At the other named points the process sends
itself SIGKILL, as a crashing host would die: no cleanup, no finally.

A ``TASK`` is a job id (``process_export``), ``cancel:<job id>``
(``cancel_export`` as its owner) or ``recover`` (``recover_stale``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, BinaryIO
from uuid import UUID

from reasonkit_export import ExportConfig, ExportService, ExportStatus, NotificationEvent
from reasonkit_export.protocols import JobRepository
from reasonkit_export.repositories import FileJobRepository
from reasonkit_export.storage import FsspecStorage

RECORDS = 3000
_GARBAGE_STATES = frozenset({ExportStatus.FAILED, ExportStatus.CANCELLED, ExportStatus.EXPIRED})


def die() -> None:
    """Kill this process the hard way."""
    os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(10)  # never reached


#: Held around every repository call of the worker, and by the ``slow`` source
#: while it stops itself: the lease heartbeat thread cannot be half-way
#: through a transaction when the process is paused.
REPOSITORY_GATE = threading.Lock()


def open_repository(spec: str) -> JobRepository:
    """Build the repository named by ``spec``."""
    kind, _, rest = spec.partition(":")
    if kind == "file":
        return FileJobRepository(rest)
    from reasonkit_export.repositories.sql import SqlJobRepository

    url, _, schema = rest.partition("#")
    return SqlJobRepository(url, schema=schema or None)


class Source:
    """Records of ~100 bytes; dies or dawdles half-way when asked to."""

    category = "history"

    def __init__(self, point: str) -> None:
        self.point = point

    def records(self, user_id: str) -> Iterator[dict[str, Any]]:
        for n in range(RECORDS):
            if n == RECORDS // 2 and self.point == "mid_source":
                die()
            if self.point == "slow" and n % 100 == 0:
                time.sleep(0.05)
            if self.point == "slow" and n == RECORDS // 2:
                with REPOSITORY_GATE:
                    os.kill(os.getpid(), signal.SIGSTOP)
            yield {"n": n, "text": f"record {n} of {user_id}: naïve café ünïcode"}


class CrashingRepository:
    """Delegates to a real repository, dying after a claim or before the completing save."""

    def __init__(self, inner: JobRepository, point: str) -> None:
        self.inner = inner
        self.point = point

    def __getattr__(self, name: str) -> Any:
        value = getattr(self.inner, name)
        if not callable(value):
            return value

        def gated(*args: Any, **kwargs: Any) -> Any:
            with REPOSITORY_GATE:
                return value(*args, **kwargs)

        return gated

    def claim(self, job_id: UUID, *, now: Any, lease: timedelta) -> Any:
        with REPOSITORY_GATE:
            result = self.inner.claim(job_id, now=now, lease=lease)
        if result is not None and self.point == "after_claim":
            die()
        return result

    def save(self, job: Any) -> Any:
        if self.point == "before_commit" and job.status is ExportStatus.COMPLETED:
            die()
        with REPOSITORY_GATE:
            saved = self.inner.save(job)
        if self.point == "after_terminal_save" and job.status in _GARBAGE_STATES:
            die()  # the new state is stored; its files are not deleted yet
        return saved


class CrashingStorage(FsspecStorage):
    """Local storage that dies half-way through writing an artifact."""

    def __init__(self, root: str, point: str, repository: str = "") -> None:
        super().__init__(root)
        self.point = point
        self.root = root
        self.repository = repository

    def delete(self, key: str) -> None:
        if self.point == "cancel_race":
            die()  # the superseded worker dies before its file is gone
        super().delete(key)

    def _cancel_now(self, key: str) -> None:
        """Another host cancels the job whose artifact is about to be committed."""
        repository = open_repository(self.repository)
        job_id = UUID(key.partition("/")[0])
        host = ExportService(
            sources=[Source("none")],
            repository=repository,
            storage=FsspecStorage(self.root),
            config=ExportConfig(storage_backend="memory", rate_limit=None),
        )
        host.cancel_export(job_id, user_id=repository.get(job_id).user_id)
        close = getattr(repository, "close", None)
        if close is not None:
            close()

    @contextlib.contextmanager
    def open_write(self, key: str) -> Iterator[BinaryIO]:
        with super().open_write(key) as handle:
            if self.point == "cancel_race":
                yield handle
                self._cancel_now(key)  # every byte is written; the commit follows
                return
            if self.point != "mid_write":
                yield handle
                return
            real_write = handle.write

            def write(data: bytes) -> int:
                # Half of the first block reaches the disk, then the host dies.
                real_write(data[: len(data) // 2])
                handle.flush()
                die()
                return 0

            handle.write = write  # type: ignore[method-assign, assignment]
            yield handle


class FileNotifier:
    """Appends one line per notification to a log; dies after sending when asked to."""

    def __init__(self, path: str, point: str) -> None:
        self.path = path
        self.point = point

    def notify(self, job: Any, event: NotificationEvent) -> None:
        with open(self.path, "a", encoding="utf-8") as log:
            log.write(f"{job.id} {event.value}\n")
            log.flush()
            os.fsync(log.fileno())
        if self.point == "mid_notify":
            die()


def build_service(repo: str, storage: str, log: str, point: str, lease: float) -> ExportService:
    """The service a worker process runs, with the crash point wired in."""
    return ExportService(
        sources=[Source(point)],
        repository=CrashingRepository(open_repository(repo), point),
        storage=CrashingStorage(storage, point, repo),
        notifier=FileNotifier(log, point),
        config=ExportConfig(
            storage_backend="memory",
            rate_limit=None,
            lease_seconds=lease,
            max_attempts=5,
            compression_enabled=True,
        ),
    )


def main(argv: list[str]) -> int:
    """Run every task given, in order."""
    repo, storage, log, point, lease, *tasks = argv
    service = build_service(repo, storage, log, point, float(lease))
    for task in tasks:
        if task == "recover":
            service.recover_stale()
        elif task.startswith("cancel:"):
            job_id = UUID(task.removeprefix("cancel:"))
            service.cancel_export(job_id, user_id=service.repository.get(job_id).user_id)
        else:
            service.process_export(UUID(task))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
