"""Django: stream a finished export in a few lines.

Route it with ``path("exports/<str:job_id>/download", download_export)`` and
protect it with your authentication (``login_required``); the user always
comes from ``request.user``, never from the URL.
"""

from __future__ import annotations

import functools

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header
from examples.fastapi_app.settings import Settings, build_service

from reasonkit_export import ExportExpired, ExportNotFound, ExportNotReady, ExportService


@functools.cache
def get_service() -> ExportService:
    """The project's service (build it wherever your project keeps singletons)."""
    return build_service(Settings.from_env())


def download_export(request: HttpRequest, job_id: str) -> HttpResponse | StreamingHttpResponse:
    """Stream the user's completed export: 404 (missing or not theirs), 409, 410."""
    try:
        download = get_service().open_download(job_id, user_id=str(request.user.pk))
    except ExportNotFound:
        raise Http404("no such export") from None
    except ExportNotReady as exc:
        return JsonResponse({"error": "not_ready", "status": exc.status}, status=409)
    except ExportExpired:
        return JsonResponse({"error": "expired"}, status=410)
    # Django closes the Download (it has .close()) when the response is closed.
    response = StreamingHttpResponse(download, content_type=download.media_type)
    response["Content-Length"] = str(download.size)
    response["Content-Disposition"] = content_disposition_header(True, download.filename)
    response["X-Content-SHA256"] = download.sha256
    response["Cache-Control"] = "no-store"
    return response
