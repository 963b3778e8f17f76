"""A worker for hosts without a queue: pending jobs straight from the repository.

:func:`run_worker` loops: build every pending export it can claim, run the
maintenance (expire and delete, recover stale jobs, fire due schedules) on an
interval, sleep, repeat. Claims go through the repository's atomic ``claim``
(on PostgreSQL ``SELECT ... FOR UPDATE SKIP LOCKED``), so any number of
workers on any number of machines share one database and each job is built
once. SIGTERM and SIGINT stop the loop after the current job has finished; a
worker killed outright leaves a lease that runs out, and the next
maintenance requeues its job.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

import attrs

from reasonkit_export._lifecycle._worker import CLAIMED
from reasonkit_export._models import ExportJob, ExportStatus, Range
from reasonkit_export._service import ExportService
from reasonkit_export.exceptions import ExportError

__all__ = ["MAINTENANCE_INTERVAL", "POLL_INTERVAL", "WorkerStats", "run_worker"]

POLL_INTERVAL = Range(low=0, high=3_600, unit="seconds")
"""The allowed ``poll_interval`` (``worker --poll``)."""
MAINTENANCE_INTERVAL = Range(low=0, high=86_400, unit="seconds", optional=True)
"""The allowed ``maintenance_interval`` (``worker --maintenance-interval``)."""

logger = logging.getLogger("reasonkit_export.worker")


@attrs.define(kw_only=True)
class WorkerStats:
    """What one :func:`run_worker` call did.

    Attributes:
        completed: exports it built.
        failed: exports that failed (their data, or attempts used up).
        skipped: candidates another worker claimed first.
        maintenance_runs: maintenance passes run.
    """

    completed: int = 0
    failed: int = 0
    skipped: int = 0
    maintenance_runs: int = 0


def _pending(service: ExportService) -> list[ExportJob]:
    """Pending jobs, oldest first (a fair order; claims decide who builds each)."""
    jobs = list(service.repository.list_by_status([ExportStatus.PENDING]))
    jobs.sort(key=lambda job: (job.created_at, str(job.id)))
    return jobs


def _build(service: ExportService, job: ExportJob, stats: WorkerStats) -> None:
    started = time.monotonic()
    token = CLAIMED.set(None)
    try:
        done = service.process_export(job.id)
        mine = CLAIMED.get() == job.id
    except ExportError as exc:  # infrastructure trouble: the lease runs out, it is retried
        logger.warning("export %s error %s (retried later)", job.id, type(exc).__name__)
        return
    finally:
        CLAIMED.reset(token)
    seconds = time.monotonic() - started
    if not mine:
        stats.skipped += 1
        logger.debug("export %s %s: claimed elsewhere", done.id, done.status.value)
        return
    if done.status is ExportStatus.COMPLETED:
        stats.completed += 1
        logger.info(
            "export %s completed in %.2fs (%s, %s bytes, attempt %d)",
            done.id,
            seconds,
            done.format.value,
            done.file_size,
            done.attempt,
        )
    else:
        stats.failed += 1
        logger.info(
            "export %s %s in %.2fs (attempt %d)", done.id, done.status.value, seconds, done.attempt
        )


def _maintain(service: ExportService, stats: WorkerStats) -> None:
    """Expire (and delete), recover stale jobs, fire due schedules; never raises."""
    for name, task in (
        ("expire", service.expire_exports),
        ("recover", service.recover_stale),
        ("run-due", service.run_due_schedules),
    ):
        try:
            jobs = task()
        except ExportError as exc:
            logger.warning("maintenance %s error %s", name, type(exc).__name__)
            continue
        if jobs:
            logger.info("maintenance %s: %d export(s)", name, len(jobs))
    stats.maintenance_runs += 1


@contextmanager
def _stop_on_signals(stop: threading.Event, install: bool) -> Iterator[None]:
    if not install or threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        logger.info("%s: stopping after the current job", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run_worker(
    service: ExportService,
    *,
    poll_interval: float = 2.0,
    maintenance_interval: float | None = 60.0,
    once: bool = False,
    stop: threading.Event | None = None,
    install_signal_handlers: bool = True,
    clock: Callable[[], float] = time.monotonic,
) -> WorkerStats:
    """Build pending exports and run maintenance until stopped.

    Args:
        service: the service (usually ``ExportService.from_settings()``).
        poll_interval: seconds to wait when there is nothing to build.
        maintenance_interval: seconds between maintenance passes (expire and
            delete, recover stale jobs, fire due schedules); ``None`` for none.
            The first pass runs at start.
        once: return when no pending job is left (after one maintenance pass)
            instead of waiting for more.
        stop: set it to stop the loop after the current job (another thread,
            or the signal handlers).
        install_signal_handlers: on the main thread, SIGTERM and SIGINT set
            ``stop`` (the current job finishes first).
        clock: monotonic seconds, for the maintenance interval (tests).

    Returns:
        What the worker did.

    Raises:
        InvalidRequest: an interval outside :data:`POLL_INTERVAL` or
            :data:`MAINTENANCE_INTERVAL` (NaN, infinite, negative, too long).
    """
    POLL_INTERVAL.check("poll_interval", poll_interval)
    MAINTENANCE_INTERVAL.check("maintenance_interval", maintenance_interval)
    stop = stop or threading.Event()
    stats = WorkerStats()
    next_maintenance = clock()
    logger.info("worker started")
    with _stop_on_signals(stop, install_signal_handlers):
        while not stop.is_set():
            if maintenance_interval is not None and clock() >= next_maintenance:
                _maintain(service, stats)
                next_maintenance = clock() + maintenance_interval
            built_any = False
            try:
                candidates = _pending(service)
            except ExportError as exc:
                logger.warning("cannot list pending exports: %s", exc)
                candidates = []
            for job in candidates:
                if stop.is_set():
                    break
                before = stats.completed + stats.failed
                _build(service, job, stats)
                built_any = built_any or stats.completed + stats.failed > before
            if once and not built_any:
                break
            if not built_any:
                stop.wait(poll_interval)
    logger.info(
        "worker stopped: %d completed, %d failed, %d skipped",
        stats.completed,
        stats.failed,
        stats.skipped,
    )
    return stats
