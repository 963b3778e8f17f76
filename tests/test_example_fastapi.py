"""The FastAPI + RQ example end to end: HTTP client, real Redis, a real `rq worker` process."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("rq")
redis = pytest.importorskip("redis")

from examples.fastapi_app.app import content_disposition, create_app  # noqa: E402
from examples.fastapi_app.settings import Settings, build_service  # noqa: E402
from examples.fastapi_app.sources import example_sources  # noqa: E402
from examples.fastapi_app.worker import make_queue, run_maintenance  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from redis.backoff import NoBackoff  # noqa: E402
from redis.retry import Retry  # noqa: E402
from rq import Queue  # noqa: E402
from rq.job import Job  # noqa: E402

from reasonkit_export import DatabaseError, ExportConfig, ExportService, RateLimit  # noqa: E402
from reasonkit_export.testing import FrozenClock  # noqa: E402
from tests.redis_support import require_redis  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
ALICE = {"X-User": "alice"}
BOB = {"X-User": "bob"}
INTERNAL_FIELDS = {"storage_key", "version", "attempt", "lease_expires_at", "pending_notification"}


@pytest.fixture(scope="module")
def redis_url() -> str:
    """The test Redis; unreachable fails under CI and skips elsewhere."""
    return require_redis()


@pytest.fixture
def settings(tmp_path: Path, redis_url: str) -> Iterator[Settings]:
    """Settings with a private export dir and a unique queue, removed from Redis afterwards."""
    settings = Settings(
        export_dir=tmp_path / "exports",
        redis_url=redis_url,
        queue_name=f"test-exports-{uuid4().hex}",
    )
    yield settings
    purge_queue(redis_url, settings.queue_name)


def purge_queue(redis_url: str, queue_name: str) -> None:
    """Delete a test queue, its registries, its jobs and their results from Redis."""
    connection = redis.Redis.from_url(redis_url)
    try:
        queue = Queue(queue_name, connection=connection)
        job_ids = set(queue.job_ids)
        for registry in (
            queue.started_job_registry,
            queue.finished_job_registry,
            queue.failed_job_registry,
            queue.canceled_job_registry,
            queue.deferred_job_registry,
            queue.scheduled_job_registry,
        ):
            job_ids.update(registry.get_job_ids())
        for job in Job.fetch_many(sorted(job_ids), connection=connection):
            if job is not None:
                job.delete()
        queue.delete(delete_jobs=True)
        for key in connection.scan_iter(match=f"*{queue_name}*"):
            connection.delete(key)
    finally:
        connection.close()


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """An HTTP client for the example app built on ``settings``."""
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def worker(settings: Settings, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A real `rq worker` process on the test queue, with the app's environment."""
    env = {
        **os.environ,
        **settings.as_env(),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    log = (tmp_path / "worker.log").open("wb")
    name = f"test-worker-{uuid4().hex}"
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "rq.cli", "worker", "--url", settings.redis_url),
            *("--name", name, settings.queue_name),
        ],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        connection = redis.Redis.from_url(settings.redis_url)
        connection.delete(f"rq:worker:{name}")  # rq lets a stopped worker's key expire
        connection.close()


def wait_until_finished(
    client: TestClient, job_id: str, worker_log: Path, timeout: float = 30
) -> dict[str, Any]:
    """Poll the status route until the job leaves pending/processing."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.get(f"/exports/{job_id}", headers=ALICE)
        assert response.status_code == 200
        job: dict[str, Any] = response.json()
        if job["status"] not in ("pending", "processing"):
            return job
        time.sleep(0.1)
    log = worker_log.read_text(errors="replace") if worker_log.exists() else "(no log)"
    pytest.fail(f"export {job_id} did not finish within {timeout} s; worker log:\n{log}")


def expected_records(user: str) -> dict[str, list[Any]]:
    """What the example's sources yield for ``user``, as JSON values."""
    return {
        source.category: json.loads(json.dumps(list(source.records(user))))
        for source in example_sources()
    }


def test_export_end_to_end_through_rq_worker(
    client: TestClient, worker: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    """Request → 202, an rq worker builds it, the download verifies and matches the sources."""
    created = client.post("/exports", json={"format": "json", "categories": ["all"]}, headers=ALICE)
    assert created.status_code == 202
    job = created.json()
    assert job["status"] == "pending"
    assert created.headers["Location"] == f"/exports/{job['id']}"
    assert not INTERNAL_FIELDS & set(job)

    done = wait_until_finished(client, job["id"], tmp_path / "worker.log")
    assert done["status"] == "completed", done
    assert done["progress"] == 100
    assert done["download_url"] == f"/exports/{job['id']}/download"
    assert not INTERNAL_FIELDS & set(done)

    response = client.get(done["download_url"], headers=ALICE)
    assert response.status_code == 200
    body = response.content
    digest = hashlib.sha256(body).hexdigest()
    assert digest == done["sha256"] == response.headers["X-Content-SHA256"]
    b64 = base64.b64encode(hashlib.sha256(body).digest()).decode()
    assert response.headers["Repr-Digest"] == f"sha-256=:{b64}:"
    assert int(response.headers["Content-Length"]) == len(body) == done["file_size"]
    assert response.headers["Content-Type"] == done["media_type"] == "application/gzip"
    assert response.headers["Content-Disposition"] == content_disposition(done["filename"])
    assert response.headers["Cache-Control"] == "no-store"

    document = json.loads(gzip.decompress(body))
    records = {name: part["records"] for name, part in document["categories"].items()}
    assert records == expected_records("alice")
    assert done["record_counts"] == {name: len(rows) for name, rows in records.items()}
    history = client.get("/exports", headers=ALICE).json()["exports"]
    assert [entry["id"] for entry in history] == [job["id"]]


def test_cancelled_job_is_left_alone_by_the_worker(
    client: TestClient, settings: Settings, worker: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    """DELETE cancels a job; the worker skips it and a later request is accepted."""
    service = build_service(settings)
    job = service.create_export("alice", "csv", ["profile"])  # stored, never enqueued
    cancelled = client.delete(f"/exports/{job.id}", headers=ALICE)
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert client.delete(f"/exports/{job.id}", headers=ALICE).json()["status"] == "cancelled"
    assert client.get(f"/exports/{job.id}/download", headers=ALICE).status_code == 409
    make_queue(settings).enqueue("examples.fastapi_app.worker.process_export_job", str(job.id))

    created = client.post(
        "/exports", json={"format": "csv", "categories": ["profile"]}, headers=ALICE
    )
    assert created.status_code == 202
    assert created.json()["id"] != str(job.id)
    assert (
        wait_until_finished(client, created.json()["id"], tmp_path / "worker.log")["status"]
        == "completed"
    )
    assert client.get(f"/exports/{job.id}", headers=ALICE).json()["status"] == "cancelled"


def test_other_users_job_is_not_found(client: TestClient) -> None:
    """Another user's job answers 404 on every route, exactly like a missing one."""
    job_id = client.post(
        "/exports", json={"format": "json", "categories": ["profile"]}, headers=ALICE
    ).json()["id"]
    missing = client.get(f"/exports/{uuid4()}", headers=BOB)
    assert missing.status_code == 404
    for method, path in [
        ("GET", f"/exports/{job_id}"),
        ("GET", f"/exports/{job_id}/download"),
        ("DELETE", f"/exports/{job_id}"),
    ]:
        response = client.request(method, path, headers=BOB)
        assert response.status_code == 404
        assert response.json()["error"] == "not_found"
    assert client.get("/exports/not-a-uuid", headers=ALICE).status_code == 404
    assert client.get("/exports", headers=BOB).json() == {"exports": []}
    assert client.get(f"/exports/{job_id}", headers=ALICE).status_code == 200


def test_missing_user_is_unauthorized(client: TestClient) -> None:
    """Without the stand-in X-User header every route answers 401."""
    assert client.get("/exports").status_code == 401
    assert (
        client.post("/exports", json={"format": "json", "categories": ["all"]}).status_code == 401
    )


def test_second_different_request_is_rate_limited(client: TestClient, settings: Settings) -> None:
    """A different request while one is pending is 429 with Retry-After; the same one is 202."""
    body = {"format": "json", "categories": ["all"]}
    first = client.post("/exports", json=body, headers=ALICE)
    assert first.status_code == 202
    again = client.post("/exports", json=body, headers=ALICE)
    assert again.status_code == 202
    assert again.json()["id"] == first.json()["id"]

    limited = client.post(
        "/exports", json={"format": "csv", "categories": ["billing"]}, headers=ALICE
    )
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == str(settings.retry_after_seconds)
    assert limited.json()["error"] == "rate_limited"
    assert (
        client.post(
            "/exports", json={"format": "csv", "categories": ["billing"]}, headers=BOB
        ).status_code
        == 202
    )


def test_bad_requests_are_unprocessable(client: TestClient) -> None:
    """Unknown categories or formats, and malformed bodies, are 422."""
    unknown = client.post(
        "/exports", json={"format": "json", "categories": ["dreams"]}, headers=ALICE
    )
    assert unknown.status_code == 422
    assert unknown.json()["error"] == "invalid_request"
    assert "dreams" in unknown.json()["detail"]
    bad_format = client.post(
        "/exports", json={"format": "docx", "categories": ["all"]}, headers=ALICE
    )
    assert bad_format.status_code == 422
    assert client.post("/exports", json={"format": "json"}, headers=ALICE).status_code == 422
    assert client.get("/exports?limit=0", headers=ALICE).status_code == 422


def test_schedule_is_created_listed_and_deleted(client: TestClient) -> None:
    """POST /exports/schedules is 201; too frequent is 422; list and delete work per user."""
    body = {
        "cron_expression": "0 3 * * 0",
        "format": "zip",
        "categories": ["all"],
        "timezone": "Europe/Berlin",
    }
    created = client.post("/exports/schedules", json=body, headers=ALICE)
    assert created.status_code == 201
    schedule = created.json()
    assert schedule["cron_expression"] == "0 3 * * 0"
    assert schedule["enabled"] is True
    assert schedule["next_run"] is not None
    assert "version" not in schedule
    too_often = client.post(
        "/exports/schedules", json={**body, "cron_expression": "*/5 * * * *"}, headers=ALICE
    )
    assert too_often.status_code == 422
    listed = client.get("/exports/schedules", headers=ALICE).json()["schedules"]
    assert [s["id"] for s in listed] == [schedule["id"]]
    assert client.delete(f"/exports/schedules/{schedule['id']}", headers=BOB).status_code == 404
    assert client.delete(f"/exports/schedules/{schedule['id']}", headers=ALICE).status_code == 204
    assert client.get("/exports/schedules", headers=ALICE).json() == {"schedules": []}


def test_download_of_pending_job_conflicts(client: TestClient) -> None:
    """Downloading an export that has not completed is 409 with its status."""
    job_id = client.post(
        "/exports", json={"format": "pdf", "categories": ["profile"]}, headers=ALICE
    ).json()["id"]
    response = client.get(f"/exports/{job_id}/download", headers=ALICE)
    assert response.status_code == 409
    assert response.json()["status"] == "pending"


def test_expired_download_is_gone(settings: Settings) -> None:
    """After the download window a download is 410 and the status says expired."""
    clock = FrozenClock()
    service = ExportService.from_config(
        ExportConfig(local_path=str(settings.export_dir)), sources=example_sources(), clock=clock
    )
    with TestClient(create_app(settings, service=service)) as client:
        job_id = client.post(
            "/exports", json={"format": "json", "categories": ["profile"]}, headers=ALICE
        ).json()["id"]
        service.process_export(job_id)
        assert client.get(f"/exports/{job_id}/download", headers=ALICE).status_code == 200
        clock.advance(timedelta(hours=25))
        gone = client.get(f"/exports/{job_id}/download", headers=ALICE)
        assert gone.status_code == 410
        assert gone.json()["error"] == "expired"
        assert client.get(f"/exports/{job_id}", headers=ALICE).json()["status"] == "expired"


def test_window_limit_hands_back_a_recent_export(settings: Settings) -> None:
    """Over the window limit the same request gets the recent export (200), another one 429."""
    clock = FrozenClock()
    config = ExportConfig(
        local_path=str(settings.export_dir),
        rate_limit=RateLimit(max_requests=1),
        rate_limit_fallback=True,
    )
    service = ExportService.from_config(config, sources=example_sources(), clock=clock)
    body = {"format": "json", "categories": ["profile"]}
    with TestClient(create_app(settings, service=service)) as client:
        job_id = client.post("/exports", json=body, headers=ALICE).json()["id"]
        service.process_export(job_id)
        clock.advance(timedelta(hours=1))
        again = client.post("/exports", json=body, headers=ALICE)
        assert again.status_code == 200
        assert again.json()["id"] == job_id
        assert again.json()["status"] == "completed"
        other = client.post("/exports", json={**body, "format": "csv"}, headers=ALICE)
    assert other.status_code == 429
    assert other.headers["Retry-After"] == str(23 * 3600) == str(other.json()["retry_after"])


def test_unexpected_library_error_is_a_generic_500(settings: Settings) -> None:
    """An ExportError without its own status is 500 and its message is not shown."""

    class BrokenService(ExportService):
        def get_history(self, user_id: Any, *, limit: int = 20) -> Any:
            raise DatabaseError("connection to db-7.internal refused")

    service = BrokenService(sources=example_sources())
    with TestClient(create_app(settings, service=service)) as client:
        response = client.get("/exports", headers=ALICE)
    assert response.status_code == 500
    assert response.json()["error"] == "internal_error"
    assert "db-7" not in response.text


def test_lost_enqueue_still_accepts_and_maintenance_requeues(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """With Redis down the job is still accepted; run_maintenance enqueues it after a lease."""
    clock = FrozenClock()
    service = ExportService.from_config(
        ExportConfig(local_path=str(settings.export_dir)), sources=example_sources(), clock=clock
    )
    down = Queue(
        "unreachable", connection=redis.Redis(host="127.0.0.1", port=1, retry=Retry(NoBackoff(), 0))
    )
    with TestClient(create_app(settings, service=service, queue=down)) as client:
        response = client.post(
            "/exports", json={"format": "json", "categories": ["all"]}, headers=ALICE
        )
    assert response.status_code == 202
    assert "not enqueued" in caplog.text
    queue = make_queue(settings)
    assert run_maintenance(service, queue) == {"expired": 0, "enqueued": 0}
    clock.advance(timedelta(minutes=10))
    assert run_maintenance(service, queue) == {"expired": 0, "enqueued": 1}
    assert queue.count == 1
    assert queue.jobs[0].args == (response.json()["id"],)


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        (
            "export-1.json.gz",
            "attachment; filename=\"export-1.json.gz\"; filename*=UTF-8''export-1.json.gz",
        ),
        (
            'Zoë "x".csv',
            "attachment; filename=\"Zo_ _x_.csv\"; filename*=UTF-8''Zo%C3%AB%20%22x%22.csv",
        ),
    ],
)
def test_content_disposition_has_ascii_and_utf8_names(filename: str, expected: str) -> None:
    """The header carries an ASCII fallback and the RFC 5987 UTF-8 name."""
    assert content_disposition(filename) == expected
