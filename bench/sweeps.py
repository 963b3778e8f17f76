"""``python -m bench.sweeps``: what one maintenance sweep reads, and how long it takes.

Fills a repository with finished jobs whose sweep is settled (nothing left to
do) and a few with work due, then times ``recover_stale()`` and
``expire_exports()`` and counts the jobs each reads, next to a full read of
every job (what ``recover_stale`` did before ``list_to_sweep``).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from reasonkit_export import ExportConfig, ExportJob, ExportService, ExportStatus
from reasonkit_export.protocols import JobRepository
from reasonkit_export.repositories import FileJobRepository, InMemoryJobRepository
from reasonkit_export.storage import FsspecStorage
from reasonkit_export.testing import FrozenClock, RecordingNotifier, StaticDataSource

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Counting:
    """Counts the jobs the sweep queries hand out."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.read = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _count(self, jobs: Iterator[ExportJob]) -> Iterator[ExportJob]:
        for job in jobs:
            self.read += 1
            yield job

    def list_by_status(self, statuses: Any, *, before: Any = None) -> Iterator[ExportJob]:
        return self._count(self.inner.list_by_status(statuses, before=before))

    def list_to_sweep(self, now: datetime) -> Iterator[ExportJob]:
        return self._count(self.inner.list_to_sweep(now))


def _repository(kind: str, folder: Path) -> Any:
    if kind == "memory":
        return InMemoryJobRepository()
    if kind == "file":
        return FileJobRepository(folder / "jobs")
    from reasonkit_export.repositories.sql import SqlJobRepository

    sql = SqlJobRepository(f"sqlite:///{folder / 'jobs.db'}")
    sql.migrate()
    return sql


def _fill(repository: JobRepository, settled: int, due: int) -> None:
    statuses = [ExportStatus.COMPLETED, ExportStatus.FAILED, ExportStatus.CANCELLED]
    for n in range(settled + due):
        repository.add(
            ExportJob(
                user_id=f"user-{n}",
                format="json",
                categories=("profile",),
                status=statuses[n % len(statuses)],
                created_at=T0,
                updated_at=T0,
                expires_at=T0 + timedelta(days=30),
                # The settled ones: nothing left to do. The due ones: a
                # deletion to finish (no files: the sweep just settles them).
                sweep_at=T0 if n >= settled else None,
            )
        )


def _timed(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    """Print one Markdown row per repository kind."""
    parser = argparse.ArgumentParser(prog="python -m bench.sweeps", description=__doc__)
    parser.add_argument("--jobs", type=int, default=10_000, help="settled finished jobs")
    parser.add_argument("--due", type=int, default=10, help="jobs with sweep work due")
    parser.add_argument("--kinds", nargs="+", default=["memory", "file", "sqlite"])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    print(
        "| repository | jobs | due | first recover_stale (jobs read, s) "
        "| next recover_stale (jobs read, s) | expire_exports (s) | full read of every job (s) |"
    )
    print("|---|---:|---:|---|---|---:|---:|")
    for kind in args.kinds:
        with tempfile.TemporaryDirectory() as folder:
            inner = _repository(kind, Path(folder))
            _fill(inner, args.jobs, args.due)
            counting = Counting(inner)
            clock = FrozenClock(T0 + timedelta(hours=1))
            service = ExportService(
                sources=[StaticDataSource("profile", [])],
                repository=counting,
                storage=FsspecStorage(str(Path(folder) / "files")),
                notifier=RecordingNotifier(),
                clock=clock,
                config=ExportConfig(storage_backend="memory", rate_limit=None),
            )
            start = time.perf_counter()
            service.recover_stale()
            first = (counting.read, time.perf_counter() - start)
            counting.read = 0
            later = _timed(service.recover_stale, args.repeat)
            later_read = counting.read // args.repeat
            expire = _timed(service.expire_exports, args.repeat)
            every = inner.list_by_status
            full = _timed(lambda: sum(1 for _ in every(set(ExportStatus))), 1)  # noqa: B023 - called at once
            close = getattr(inner, "close", None)
            if close is not None:
                close()
        print(
            f"| {kind} | {args.jobs + args.due} | {args.due} | {first[0]}, {first[1]:.4f} "
            f"| {later_read}, {later:.4f} | {expire:.4f} | {full:.4f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
