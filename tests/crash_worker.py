"""A worker process for the crash tests: runs process_export and can kill itself.

Usage: ``python -m tests.crash_worker REPO STORAGE LOG POINT LEASE JOB_ID [JOB_ID ...]``

``REPO`` is ``file:<dir>`` or ``sql:<url>`` (``#schema`` may follow the URL),
``STORAGE`` a local directory, ``LOG`` a file the notifier appends
``<job id> <event>`` lines to, ``POINT`` one of ``none``, ``after_claim``,
``mid_source``, ``mid_write``, ``before_commit``, ``mid_notify``, ``slow``
(a source that sleeps, and half-way stops itself with SIGSTOP while no
thread of the process is inside a repository call, so a paused worker never
holds a database or file lock the test's host then waits for). At the other
named points the process sends itself SIGKILL, as a crashing host would die:
no cleanup, no finally.
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
            return self.inner.save(job)


class CrashingStorage(FsspecStorage):
    """Local storage that dies half-way through writing an artifact."""

    def __init__(self, root: str, point: str) -> None:
        super().__init__(root)
        self.point = point

    @contextlib.contextmanager
    def open_write(self, key: str) -> Iterator[BinaryIO]:
        with super().open_write(key) as handle:
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
        storage=CrashingStorage(storage, point),
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
    """Process every job id given, in order."""
    repo, storage, log, point, lease, *job_ids = argv
    service = build_service(repo, storage, log, point, float(lease))
    for job_id in job_ids:
        service.process_export(UUID(job_id))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
