"""The web process: the seed's export endpoints on top of :class:`ExportService`.

Run it with ``uvicorn examples.fastapi_app.app:app`` next to an RQ worker
(see ``worker.py``). Routes are plain ``def`` functions: the service does
blocking file I/O, so FastAPI runs them in its thread pool.

The user comes from :func:`current_user`, a stand-in that trusts an ``X-User``
header. A real application replaces it with its own authentication (session,
OAuth2 bearer token, ...); the user id never comes from the request body.
"""

from __future__ import annotations

import base64
import logging
import math
import threading
from collections.abc import Iterator
from typing import Annotated, Any
from urllib.parse import quote

from examples.fastapi_app.settings import Settings, build_service
from examples.fastapi_app.worker import enqueue_export, make_queue
from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request, Response, status
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel
from redis.exceptions import RedisError
from rq import Queue
from starlette.background import BackgroundTask

from reasonkit_export import (
    Download,
    ExportError,
    ExportExpired,
    ExportNotReady,
    ExportService,
    ExportStatus,
    InvalidRequest,
    NotFound,
    RateLimitExceeded,
    job_view,
    schedule_view,
)

__all__ = ["app", "content_disposition", "create_app"]

logger = logging.getLogger(__name__)


def content_disposition(filename: str) -> str:
    """An RFC 6266 attachment header: an ASCII ``filename`` and a UTF-8 ``filename*``."""
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{fallback or 'export'}\"; filename*=UTF-8''{quote(filename)}"


class Runtime:
    """The app's service and queue, built on first use: importing the app connects nowhere."""

    def __init__(
        self, settings: Settings, service: ExportService | None, queue: Queue | None
    ) -> None:
        self.settings = settings
        self._service = service
        self._queue = queue
        self._lock = threading.Lock()

    @property
    def service(self) -> ExportService:
        """The export service (file repository and local storage under the export dir)."""
        with self._lock:
            if self._service is None:
                self._service = build_service(self.settings)
            return self._service

    @property
    def queue(self) -> Queue:
        """The RQ queue that :func:`~examples.fastapi_app.worker.process_export_job` runs on."""
        with self._lock:
            if self._queue is None:
                self._queue = make_queue(self.settings)
            return self._queue


def get_runtime(request: Request) -> Runtime:
    """The runtime of the app serving ``request``."""
    runtime: Runtime = request.app.state.runtime
    return runtime


def current_user(x_user: Annotated[str | None, Header()] = None) -> str:
    """Stand-in authentication: the ``X-User`` header names the user.

    Replace this with your application's own authentication dependency.
    """
    if x_user is None or not x_user.strip():
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="authentication required")
    return x_user.strip()


User = Annotated[str, Depends(current_user)]
Services = Annotated[Runtime, Depends(get_runtime)]


class CreateExportBody(BaseModel):
    """``POST /exports``: the format and the categories (``all`` for every one)."""

    format: str
    categories: list[str]


class ScheduleExportBody(BaseModel):
    """``POST /exports/schedules``: a recurring export."""

    cron_expression: str
    format: str
    categories: list[str]
    notify_email: bool = True
    timezone: str = "UTC"
    incremental: bool = False


# The one place where library errors become HTTP statuses, most specific first
# (InvalidSchedule is an InvalidRequest; NotFound covers jobs and schedules).
ERROR_STATUSES: tuple[tuple[type[ExportError], int, str], ...] = (
    (NotFound, 404, "not_found"),
    (ExportExpired, 410, "expired"),
    (ExportNotReady, 409, "not_ready"),
    (RateLimitExceeded, 429, "rate_limited"),
    (InvalidRequest, 422, "invalid_request"),
)


def export_error_response(exc: ExportError, retry_after_seconds: int) -> JSONResponse:
    """Map a library error to its HTTP response (500 with a generic message for the rest)."""
    match = next(((c, n) for kind, c, n in ERROR_STATUSES if isinstance(exc, kind)), None)
    if match is None:
        logger.error("export request failed", exc_info=exc)
        return JSONResponse(
            {"error": "internal_error", "detail": "the export service failed; try again later"},
            status_code=500,
        )
    code, name = match
    # Library messages name ids and limits, never secrets or personal data.
    body: dict[str, Any] = {"error": name, "detail": str(exc)}
    headers: dict[str, str] = {}
    if isinstance(exc, ExportNotReady):
        body["status"] = exc.status
    if isinstance(exc, RateLimitExceeded):
        seconds = (
            retry_after_seconds
            if exc.retry_after is None
            else max(1, math.ceil(exc.retry_after.total_seconds()))
        )
        headers["Retry-After"] = str(seconds)
        body["retry_after"] = seconds
    return JSONResponse(body, status_code=code, headers=headers)


def _chunks(download: Download) -> Iterator[bytes]:
    with download:
        yield from download


def create_app(
    settings: Settings | None = None,
    *,
    service: ExportService | None = None,
    queue: Queue | None = None,
) -> FastAPI:
    """Build the app; ``service`` and ``queue`` default to ones built from ``settings``."""
    settings = settings or Settings.from_env()
    application = FastAPI(title="reasonkit_export example", version="1")
    application.state.runtime = Runtime(settings, service, queue)

    async def handle_export_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ExportError)
        return export_error_response(exc, settings.retry_after_seconds)

    application.add_exception_handler(ExportError, handle_export_error)

    @application.post("/exports", status_code=status.HTTP_202_ACCEPTED)
    def create_export(
        body: CreateExportBody, user: User, rt: Services, response: Response
    ) -> dict[str, Any]:
        """Request an export: 202 with the pending job, built by the RQ worker."""
        job = rt.service.create_export(user, body.format, body.categories)
        if job.status is ExportStatus.PENDING:
            # Also for an identical request still pending: the service hands back
            # that job, and processing it twice is harmless.
            try:
                enqueue_export(rt.queue, str(job.id), job_timeout=settings.job_timeout_seconds)
            except RedisError:
                # The job is stored; run_maintenance() re-enqueues it after a lease.
                logger.exception("export %s stored but not enqueued", job.id)
        elif not job.is_active:
            response.status_code = status.HTTP_200_OK  # a recent export handed back
        response.headers["Location"] = f"/exports/{job.id}"
        return job_view(job)

    @application.get("/exports")
    def export_history(
        user: User, rt: Services, limit: Annotated[int, Query()] = 20
    ) -> dict[str, Any]:
        """The user's exports, newest first."""
        return {"exports": [job_view(job) for job in rt.service.get_history(user, limit=limit)]}

    @application.post("/exports/schedules", status_code=status.HTTP_201_CREATED)
    def schedule_export(body: ScheduleExportBody, user: User, rt: Services) -> dict[str, Any]:
        """Create a recurring export: 201 with the schedule."""
        schedule = rt.service.schedule_export(
            user,
            body.cron_expression,
            body.format,
            body.categories,
            notify=body.notify_email,
            timezone=body.timezone,
            incremental=body.incremental,
        )
        return schedule_view(schedule)

    @application.get("/exports/schedules")
    def list_schedules(user: User, rt: Services) -> dict[str, Any]:
        """The user's schedules, oldest first."""
        return {"schedules": [schedule_view(s) for s in rt.service.list_schedules(user)]}

    @application.delete("/exports/schedules/{schedule_id}", status_code=204)
    def delete_schedule(schedule_id: str, user: User, rt: Services) -> Response:
        """Delete one of the user's schedules."""
        rt.service.delete_schedule(schedule_id, user_id=user)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @application.get("/exports/{job_id}")
    def export_status(job_id: str, user: User, rt: Services) -> dict[str, Any]:
        """The job's status and progress (404 for a missing job and another user's)."""
        return job_view(rt.service.get_status(job_id, user_id=user))

    @application.delete("/exports/{job_id}")
    def cancel_export(job_id: str, user: User, rt: Services) -> dict[str, Any]:
        """Cancel a pending or processing export; the worker drops what it built."""
        return job_view(rt.service.cancel_export(job_id, user_id=user))

    @application.get("/exports/{job_id}/download", response_class=StreamingResponse)
    def download_export(job_id: str, user: User, rt: Services) -> StreamingResponse:
        """Stream the completed export (409 before it completes, 410 once expired)."""
        download = rt.service.open_download(job_id, user_id=user)
        digest = base64.b64encode(bytes.fromhex(download.sha256)).decode("ascii")
        headers = {
            "Content-Disposition": content_disposition(download.filename),
            "Content-Length": str(download.size),
            "Repr-Digest": f"sha-256=:{digest}:",
            "X-Content-SHA256": download.sha256,
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        }
        return StreamingResponse(
            _chunks(download),
            media_type=download.media_type,
            headers=headers,
            # Closes the file also when the client disconnects mid-stream.
            background=BackgroundTask(download.close),
        )

    return application


app = create_app()
