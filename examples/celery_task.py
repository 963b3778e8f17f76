"""Celery instead of RQ: the worker side of an export in a few lines.

The web side calls ``process_export_task.delay(str(job.id))`` right after
``service.create_export(...)``. Creating the Celery app connects nowhere: the
broker is only contacted when a task is sent or a worker starts
(``celery -A examples.celery_task worker``).
"""

from __future__ import annotations

import functools
import os

from celery import Celery
from examples.fastapi_app.settings import Settings, build_service

from reasonkit_export import ExportService

app = Celery("reasonkit_exports")
app.conf.broker_url = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
app.conf.task_acks_late = True  # redeliver when a worker dies; process_export is idempotent


@functools.cache
def get_service() -> ExportService:
    """One service per worker process, from the same settings as the web app."""
    return build_service(Settings.from_env())


@app.task(name="reasonkit_exports.process_export")
def process_export_task(job_id: str) -> str:
    """Build the export and return its final status (failures are recorded on the job)."""
    return get_service().process_export(job_id).status.value
