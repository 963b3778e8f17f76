"""The RQ side: the job function the web app enqueues, and the periodic maintenance.

Run a worker next to the web app, with the same environment::

    rq worker --url redis://127.0.0.1:6379/0 exports

RQ imports ``examples.fastapi_app.worker.process_export_job`` by name, so the
worker's ``PYTHONPATH`` must reach the repository root. The service is built
once per process from :meth:`Settings.from_env`.
"""

from __future__ import annotations

import functools
import logging

from examples.fastapi_app.settings import Settings, build_service
from redis import Redis
from rq import Queue

from reasonkit_export import ExportService

__all__ = ["enqueue_export", "get_service", "make_queue", "process_export_job", "run_maintenance"]

logger = logging.getLogger(__name__)


@functools.cache
def get_service() -> ExportService:
    """The worker's service, built on first use from the environment."""
    return build_service(Settings.from_env())


def process_export_job(job_id: str) -> str:
    """Build export ``job_id`` and return its final status.

    ``process_export`` is safe under at-least-once delivery: a job that is
    already finished, cancelled or held by another worker is left alone, and
    a failed build is recorded on the job (status ``failed``), not raised.
    """
    return get_service().process_export(job_id).status.value


def make_queue(settings: Settings) -> Queue:
    """The RQ queue the web app enqueues on (connecting happens on first use)."""
    return Queue(settings.queue_name, connection=Redis.from_url(settings.redis_url))


def enqueue_export(queue: Queue, job_id: str, *, job_timeout: int = 3600) -> None:
    """Enqueue :func:`process_export_job` for ``job_id``."""
    queue.enqueue(
        process_export_job,
        job_id,
        job_timeout=job_timeout,
        description=f"reasonkit export {job_id}",
    )


def run_maintenance(
    service: ExportService | None = None, queue: Queue | None = None
) -> dict[str, int]:
    """The periodic task (cron, rq-scheduler, ...): expire, recover and fire schedules.

    Expires exports past their download window (deleting their files),
    re-enqueues jobs whose worker died or whose enqueue was lost, and creates
    the jobs of due schedules. Returns how many jobs it expired and enqueued.
    """
    service = service or get_service()
    queue = queue or make_queue(Settings.from_env())
    expired = service.expire_exports()
    to_run = service.recover_stale() + service.run_due_schedules()
    for job in to_run:
        enqueue_export(queue, str(job.id))
    logger.info("maintenance: %d expired, %d enqueued", len(expired), len(to_run))
    return {"expired": len(expired), "enqueued": len(to_run)}
