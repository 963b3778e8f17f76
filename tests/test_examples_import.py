"""The examples import without connecting anywhere, and their few lines do what they say."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from reasonkit_export import ExportConfig, ExportService, ExportStatus


@pytest.fixture
def service() -> ExportService:
    """An in-memory service on the example's sources."""
    pytest.importorskip("fastapi")
    from examples.fastapi_app.sources import example_sources

    return ExportService(
        sources=example_sources(),
        config=ExportConfig(storage_backend="memory", compression_enabled=False),
    )


def fresh_import(name: str) -> Any:
    """Import ``name`` anew, so that its import-time behaviour is what gets tested."""
    sys.modules.pop(name, None)
    return importlib.import_module(name)


def test_fastapi_example_imports_without_side_effects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Importing the app and worker builds no service, makes no directory, opens no socket."""
    pytest.importorskip("fastapi")
    pytest.importorskip("rq")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REASONKIT_REDIS_URL", "redis://127.0.0.1:1/0")
    worker = fresh_import("examples.fastapi_app.worker")
    module = fresh_import("examples.fastapi_app.app")
    paths = {getattr(route, "path", None) for route in module.app.routes}
    assert {"/exports", "/exports/{job_id}", "/exports/{job_id}/download"} <= paths
    assert {"/exports/schedules", "/exports/schedules/{schedule_id}"} <= paths
    assert callable(worker.process_export_job)
    assert list(tmp_path.iterdir()) == []


def test_settings_read_the_environment() -> None:
    """Settings.from_env reads every variable that as_env writes."""
    pytest.importorskip("fastapi")
    from examples.fastapi_app.settings import Settings

    settings = Settings(
        export_dir=Path("/srv/exports"),
        redis_url="redis://127.0.0.1:6379/3",
        queue_name="q",
        link_expiry_hours=2.5,
    )
    assert Settings.from_env(settings.as_env()) == settings
    assert Settings.from_env({}) == Settings()


def test_celery_task_runs_process_export(
    service: ExportService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Celery example imports without a broker and its task builds the export."""
    pytest.importorskip("celery")
    module = fresh_import("examples.celery_task")
    monkeypatch.setattr(module, "get_service", lambda: service)
    job = service.create_export("alice", "json", ["profile"])
    result = module.process_export_task.apply(args=[str(job.id)])
    assert result.get() == "completed"
    assert service.get_job(job.id).status is ExportStatus.COMPLETED


def test_django_view_streams_the_download(
    service: ExportService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Django example streams the file with its headers, and maps 404/409."""
    pytest.importorskip("django")
    from django.conf import settings

    if not settings.configured:
        settings.configure(ALLOWED_HOSTS=["testserver"], DEFAULT_CHARSET="utf-8")
    from django.http import Http404
    from django.test import RequestFactory

    module = fresh_import("examples.django_view")
    monkeypatch.setattr(module, "get_service", lambda: service)
    job = service.create_export("alice", "json", ["profile"])
    request = RequestFactory().get(f"/exports/{job.id}/download")
    request.user = SimpleNamespace(pk="alice")  # what auth middleware sets
    assert module.download_export(request, str(job.id)).status_code == 409

    done = service.process_export(job.id)
    response = module.download_export(request, str(job.id))
    body = b"".join(response.streaming_content)
    response.close()
    assert len(body) == done.file_size == int(response["Content-Length"])
    assert response["Content-Type"] == "application/json"
    assert response["X-Content-SHA256"] == done.sha256
    assert response["Content-Disposition"].startswith("attachment; ")
    request.user = SimpleNamespace(pk="bob")
    with pytest.raises(Http404):
        module.download_export(request, str(job.id))
