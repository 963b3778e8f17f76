"""Deliveries: a signed webhook against a real loopback server, storage copies, notifiers."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import pickle
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from uuid import uuid4

import fsspec
import pytest

from reasonkit_export import ExportJob, InvalidRequest, NotificationEvent
from reasonkit_export._download import Download
from reasonkit_export.delivery import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Delivery,
    DeliveryError,
    DestinationPolicy,
    NotifierDelivery,
    StorageCopyDelivery,
    WebhookDelivery,
    sign_webhook,
    verify_webhook_signature,
)
from reasonkit_export.storage import FsspecStorage
from reasonkit_export.testing import RecordingNotifier

T0 = datetime(2025, 6, 1, 9, 30, tzinfo=UTC)
SECRET = "whsec-0123456789abcdef0123456789abcdef"
MARKER = "PERSONAL-DATA-MARKER-Zoë"
DATA = (json.dumps({"profile": {"name": MARKER}}) * 50).encode()
MIB = 1024 * 1024
# Tests only ever talk to loopback, which the default policy refuses: the
# positive cases opt in explicitly, the refusal tests use the default.
LOOPBACK = DestinationPolicy(
    hosts=["127.0.0.1"], protocols=["http", "https"], address_allowed=lambda a: a.is_loopback
)
HOST = DestinationPolicy.host_configured()

# ------------------------------------------------------------------ helpers


def make_job(data: bytes = DATA, **overrides: Any) -> ExportJob:
    """A completed job describing ``data``."""
    fields: dict[str, Any] = {
        "user_id": "user-42",
        "format": "json",
        "categories": ("profile", "reasoning_history"),
        "status": "completed",
        "progress": 100,
        "created_at": T0,
        "completed_at": T0 + timedelta(minutes=1),
        "expires_at": T0 + timedelta(days=1),
        "file_size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "filename": "export-20250601-0b6a1c2d.json",
        "media_type": "application/json",
        "storage_key": "exports/x.json",
        "download_url": "https://exports.example/d/abc?token=tok-123",
    }
    fields.update(overrides)
    return ExportJob(**fields)


class RecordingStream(io.BytesIO):
    """A BytesIO that records every read size."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.sizes: list[int] = []

    def read(self, size: int | None = -1, /) -> bytes:
        self.sizes.append(-1 if size is None else size)
        return super().read(size)


class Opener:
    """An ``open_artifact`` callable that counts calls and keeps the downloads."""

    def __init__(
        self,
        job: ExportJob,
        data: bytes = DATA,
        *,
        sha256: str | None = None,
        size: int | None = None,
    ) -> None:
        self.job = job
        self.data = data
        self.size = len(data) if size is None else size
        self.sha256 = sha256 or hashlib.sha256(data).hexdigest()
        self.downloads: list[Download] = []
        self.streams: list[RecordingStream] = []

    def __call__(self) -> Download:
        stream = RecordingStream(self.data)
        download = Download(
            job_id=self.job.id,
            filename=self.job.filename or "export.bin",
            media_type=self.job.media_type or "application/octet-stream",
            size=self.size,
            sha256=self.sha256,
            stream=stream,
        )
        self.streams.append(stream)
        self.downloads.append(download)
        return download


class Receiver:
    """What the loopback webhook server saw, and how it should answer."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        # Each entry answers one request: a status, (status, headers), or "hang".
        self.plan: list[Any] = []
        self.release = threading.Event()
        self.lock = threading.Lock()

    def next_answer(self) -> Any:
        with self.lock:
            return self.plan.pop(0) if self.plan else 200


class Handler(BaseHTTPRequestHandler):
    """Records each POST and answers as the receiver's plan says."""

    server: Server

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        receiver = self.server.receiver
        with receiver.lock:
            receiver.requests.append(
                {"path": self.path, "headers": dict(self.headers.items()), "body": body}
            )
        answer = receiver.next_answer()
        if answer == "hang":
            receiver.release.wait(10)
            self.close_connection = True
            return
        status, headers = answer if isinstance(answer, tuple) else (answer, {})
        reply = b'{"ok": true}'
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: Any) -> None:
        """Keep test output quiet."""


class Server(ThreadingHTTPServer):
    """A loopback server whose handler threads are joined on close."""

    daemon_threads = False
    block_on_close = True

    def __init__(self, receiver: Receiver) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.receiver = receiver


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    """A real HTTP server on 127.0.0.1 and its URL."""
    state = Receiver()
    server = Server(state)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    port = server.server_address[1]
    try:
        yield state, f"http://127.0.0.1:{port}/hooks/exports?key=path-secret"
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def sleeps() -> list[float]:
    """Delays a fake sleep was asked for."""
    return []


def webhook(url: str, sleeps: list[float], **options: Any) -> WebhookDelivery:
    """A webhook delivery that records its sleeps instead of sleeping."""
    options.setdefault("allow", LOOPBACK)
    return WebhookDelivery(url, SECRET, sleep=sleeps.append, **options)


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# ------------------------------------------------------------------ webhook


def test_webhook_posts_signed_event(receiver: tuple[Receiver, str], sleeps: list[float]) -> None:
    """A 200 answer returns 'HTTP 200' and the signature verifies."""
    state, url = receiver
    job = make_job()
    result = webhook(url, sleeps).deliver(job, Opener(job))
    assert result == "HTTP 200"
    assert sleeps == []
    (request,) = state.requests
    assert request["path"] == "/hooks/exports?key=path-secret"
    assert verify_webhook_signature(SECRET, request["body"], request["headers"])
    assert request["headers"][SIGNATURE_HEADER].startswith("v1,")


def test_webhook_payload_describes_job(receiver: tuple[Receiver, str], sleeps: list[float]) -> None:
    """The body is the documented export.completed document with the download link."""
    state, url = receiver
    job = make_job()
    webhook(url, sleeps, headers={"Authorization": "Bearer partner-token"}).deliver(
        job, Opener(job)
    )
    (request,) = state.requests
    payload = json.loads(request["body"])
    assert set(payload) == {"type", "id", "created", "export"}
    assert payload["type"] == "export.completed"
    assert request["headers"][DELIVERY_HEADER] == payload["id"]
    assert datetime.fromisoformat(payload["created"]).tzinfo is not None
    assert payload["export"] == {
        "id": str(job.id),
        "user_id": "user-42",
        "format": "json",
        "categories": ["profile", "reasoning_history"],
        "file_size": len(DATA),
        "sha256": hashlib.sha256(DATA).hexdigest(),
        "media_type": "application/json",
        "filename": "export-20250601-0b6a1c2d.json",
        "completed_at": "2025-06-01T09:31:00+00:00",
        "expires_at": "2025-06-02T09:30:00+00:00",
        "download_url": "https://exports.example/d/abc?token=tok-123",
    }
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["headers"]["Authorization"] == "Bearer partner-token"
    assert request["headers"]["User-Agent"].startswith("reasonkit-export/")


def test_webhook_never_sends_record_data(
    receiver: tuple[Receiver, str], sleeps: list[float]
) -> None:
    """The artifact is never opened and its content never reaches the body."""
    state, url = receiver
    job = make_job()
    opener = Opener(job)
    webhook(url, sleeps).deliver(job, opener)
    assert opener.downloads == []
    assert MARKER.encode() not in state.requests[0]["body"]
    assert b"PERSONAL-DATA-MARKER" not in state.requests[0]["body"]


def test_signature_rejects_tampering_wrong_secret_and_age(
    receiver: tuple[Receiver, str], sleeps: list[float]
) -> None:
    """Tampered body or id, wrong secret, old or future timestamp all fail verification."""
    state, url = receiver
    job = make_job()
    webhook(url, sleeps).deliver(job, Opener(job))
    body: bytes = state.requests[0]["body"]
    headers: dict[str, str] = state.requests[0]["headers"]
    stamp = int(headers[TIMESTAMP_HEADER])
    assert verify_webhook_signature(SECRET, body, headers)
    upper = {name.upper(): value for name, value in headers.items()}
    assert verify_webhook_signature(SECRET.encode(), body.decode(), upper, now=stamp + 299)
    assert not verify_webhook_signature(SECRET, body.replace(b"user-42", b"user-43"), headers)
    assert not verify_webhook_signature(SECRET, body, {**headers, DELIVERY_HEADER: "other-id"})
    assert not verify_webhook_signature("x" * 40, body, headers)
    assert not verify_webhook_signature(SECRET, body, headers, now=stamp + 301)
    assert not verify_webhook_signature(SECRET, body, headers, now=stamp - 301)
    old = datetime.fromtimestamp(stamp, UTC) + timedelta(hours=1)
    assert not verify_webhook_signature(SECRET, body, headers, now=old)


GOOD = sign_webhook(SECRET, b"{}", msg_id="msg_1", timestamp=1)


@pytest.mark.parametrize(
    "headers",
    [
        None,
        {},
        {**GOOD, SIGNATURE_HEADER: ""},
        {**GOOD, TIMESTAMP_HEADER: "abc"},
        {**GOOD, TIMESTAMP_HEADER: "9" * 5000},
        {**GOOD, TIMESTAMP_HEADER: "1e3"},
        {**GOOD, SIGNATURE_HEADER: "v1"},
        {**GOOD, SIGNATURE_HEADER: "v1,é"},
        {**GOOD, SIGNATURE_HEADER: "v2," + GOOD[SIGNATURE_HEADER][3:]},
        {DELIVERY_HEADER: "msg_1", SIGNATURE_HEADER: GOOD[SIGNATURE_HEADER]},
        "webhook-signature: v1,abc",
    ],
)
def test_signature_rejects_malformed_headers(headers: Any) -> None:
    """Missing or malformed signature headers verify as False, never raise."""
    assert verify_webhook_signature(SECRET, b"{}", GOOD, now=1)
    assert not verify_webhook_signature(SECRET, b"{}", headers, now=1)


def test_signature_accepts_any_matching_v1() -> None:
    """With several space-separated v1 signatures (secret rotation), one match suffices."""
    good = sign_webhook(SECRET, b"{}", msg_id="msg_1", timestamp=1000)
    wrong = "v1," + "A" * 44
    rotated = {**good, SIGNATURE_HEADER: f"{wrong} {good[SIGNATURE_HEADER]}"}
    assert verify_webhook_signature(SECRET, b"{}", rotated, now=1000)
    assert not verify_webhook_signature(SECRET, b"{}", {**good, SIGNATURE_HEADER: wrong}, now=1000)


def test_webhook_retries_5xx_with_backoff_and_same_id(
    receiver: tuple[Receiver, str], sleeps: list[float]
) -> None:
    """500 twice then 200: two growing delays, one delivery id, identical bodies."""
    state, url = receiver
    state.plan = [500, 503]
    job = make_job()
    assert webhook(url, sleeps).deliver(job, Opener(job)) == "HTTP 200"
    assert len(state.requests) == 3
    assert len(sleeps) == 2
    assert 0.5 <= sleeps[0] <= 0.55
    assert 1.0 <= sleeps[1] <= 1.1
    ids = {r["headers"][DELIVERY_HEADER] for r in state.requests}
    assert len(ids) == 1
    assert len({r["body"] for r in state.requests}) == 1
    for request in state.requests:
        assert verify_webhook_signature(SECRET, request["body"], request["headers"])


def test_webhook_backoff_is_capped(receiver: tuple[Receiver, str], sleeps: list[float]) -> None:
    """Delays double up to max_backoff and never beyond it."""
    state, url = receiver
    state.plan = [500] * 5
    job = make_job()
    delivery = webhook(url, sleeps, attempts=6, backoff=1.0, max_backoff=3.0)
    assert delivery.deliver(job, Opener(job)) == "HTTP 200"
    assert 1.0 <= sleeps[0] <= 1.1
    assert 2.0 <= sleeps[1] <= 2.2
    assert sleeps[2:] == [3.0, 3.0, 3.0]


def test_webhook_honours_retry_after(receiver: tuple[Receiver, str], sleeps: list[float]) -> None:
    """429 with a numeric Retry-After waits that long, capped at max_backoff."""
    state, url = receiver
    state.plan = [(429, {"Retry-After": "3"}), (503, {"Retry-After": "120"}), 204]
    job = make_job()
    assert webhook(url, sleeps).deliver(job, Opener(job)) == "HTTP 204"
    assert sleeps == [3.0, 8.0]


@pytest.mark.parametrize("status", [400, 401, 404, 410, 302])
def test_webhook_does_not_retry_client_errors(
    receiver: tuple[Receiver, str], sleeps: list[float], status: int
) -> None:
    """4xx (other than 429) and redirects fail at once, without retrying."""
    state, url = receiver
    state.plan = [(status, {"Location": "http://127.0.0.1:1/elsewhere"})]
    job = make_job()
    with pytest.raises(DeliveryError, match=f"HTTP {status}") as caught:
        webhook(url, sleeps).deliver(job, Opener(job))
    assert len(state.requests) == 1
    assert sleeps == []
    assert caught.value.status == status
    assert caught.value.attempts == 1
    assert not caught.value.retryable


def test_webhook_gives_up_after_attempts(
    receiver: tuple[Receiver, str], sleeps: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    """Always 500: exactly `attempts` requests, then a clear error without secrets."""
    state, url = receiver
    state.plan = [500] * 10
    job = make_job()
    delivery = webhook(
        url, sleeps, name="webhook:partner-x", attempts=3, headers={"Authorization": "Bearer hdr"}
    )
    with caplog.at_level(logging.DEBUG), pytest.raises(DeliveryError) as caught:
        delivery.deliver(job, Opener(job))
    assert len(state.requests) == 3
    assert len(sleeps) == 2
    error = caught.value
    message = str(error)
    assert "webhook:partner-x" in message
    assert "failed after 3 attempts" in message
    assert "HTTP 500" in message
    assert (error.delivery, error.attempts, error.status) == ("webhook:partner-x", 3, 500)
    for text in (message, repr(error), caplog.text):
        assert SECRET not in text
        assert "path-secret" not in text
        assert "/hooks" not in text
        assert "Bearer hdr" not in text
        assert "tok-123" not in text


def test_webhook_retries_timeouts(receiver: tuple[Receiver, str], sleeps: list[float]) -> None:
    """A receiver that hangs past the timeout is retried; the next answer counts."""
    state, url = receiver
    state.plan = ["hang", 200]
    job = make_job()
    started = time.monotonic()
    assert webhook(url, sleeps, timeout=0.3).deliver(job, Opener(job)) == "HTTP 200"
    assert time.monotonic() - started < 5
    assert len(state.requests) == 2
    assert len(sleeps) == 1


def test_webhook_timeout_exhausts_attempts(
    receiver: tuple[Receiver, str], sleeps: list[float]
) -> None:
    """When every attempt times out, the error says so."""
    state, url = receiver
    state.plan = ["hang", "hang"]
    job = make_job()
    with pytest.raises(DeliveryError, match="failed after 2 attempts") as caught:
        webhook(url, sleeps, timeout=0.2, attempts=2).deliver(job, Opener(job))
    assert "timed out" not in str(caught.value)  # no network detail on the job
    assert caught.value.status is None
    assert caught.value.retryable


def test_webhook_retries_connection_errors(sleeps: list[float]) -> None:
    """A refused connection is retried, then reported as failed without the OS reason."""
    url = f"http://127.0.0.1:{free_port()}/hook"
    job = make_job()
    with pytest.raises(DeliveryError, match="failed after 2 attempts") as caught:
        webhook(url, sleeps, attempts=2).deliver(job, Opener(job))
    assert "Refused" not in str(caught.value)  # no port oracle
    assert caught.value.attempts == 2
    assert len(sleeps) == 1


def test_webhook_refuses_bad_configuration() -> None:
    """Short secrets, non-HTTP URLs, URL credentials and reserved headers are refused."""
    with pytest.raises(InvalidRequest, match="at least 32") as short:
        WebhookDelivery("https://partner.example/hook", "short-secret")
    assert "short-secret" not in str(short.value)
    for url in ("ftp://partner.example/x", "file:///etc/passwd", "partner.example/x", "https://"):
        with pytest.raises(InvalidRequest):
            WebhookDelivery(url, SECRET)
    with pytest.raises(InvalidRequest, match="headers="):
        WebhookDelivery("https://user:pw@partner.example/hook", SECRET)
    with pytest.raises(InvalidRequest, match="set by the library"):
        WebhookDelivery("https://partner.example/hook", SECRET, headers={"Webhook-Id": "x"})
    with pytest.raises(InvalidRequest):
        WebhookDelivery("https://partner.example/hook", SECRET, attempts=0)
    with pytest.raises(InvalidRequest):
        WebhookDelivery("https://partner.example/hook", SECRET, backoff=4, max_backoff=1)
    with pytest.raises(InvalidRequest):
        WebhookDelivery("https://partner.example/hook", SECRET, timeout=0)


def test_webhook_repr_hides_secret_and_path() -> None:
    """The repr shows the origin only: no secret, path, query or headers."""
    delivery = WebhookDelivery(
        "https://partner.example:8443/hooks/T0/B1/s3cr3t?sig=abc",
        SECRET.encode(),
        name="webhook:partner-x",
        headers={"Authorization": "Bearer hdr"},
    )
    text = repr(delivery)
    assert text == "WebhookDelivery(name='webhook:partner-x', url='https://partner.example:8443')"


# ------------------------------------------------------------------ storage copy


@pytest.fixture
def memory_root() -> Iterator[str]:
    """A fresh memory:// root, removed afterwards."""
    root = f"memory://delivery-{uuid4().hex}"
    yield root
    fs = fsspec.filesystem("memory")
    if fs.exists(root):
        fs.rm(root, recursive=True)


def read_back(root: str, key: str) -> bytes:
    """The bytes stored at ``root``/``key``."""
    with FsspecStorage(root).open_read(key) as handle:
        return handle.read()


@pytest.mark.parametrize("where", ["memory", "local"])
def test_copy_to_second_storage(where: str, memory_root: str, tmp_path: Any) -> None:
    """The copy matches the export byte for byte and by SHA-256."""
    root = memory_root if where == "memory" else str(tmp_path / "inbox")
    job = make_job()
    opener = Opener(job)
    result = StorageCopyDelivery(root, allow=HOST).deliver(job, opener)
    key = "export-20250601-0b6a1c2d.json"
    assert result == f"copied {len(DATA)} bytes to {root}/{key}"
    copied = read_back(root, key)
    assert copied == DATA
    assert hashlib.sha256(copied).hexdigest() == job.sha256
    assert opener.downloads[0].closed


def test_copy_streams_in_bounded_chunks(memory_root: str) -> None:
    """The artifact is read in chunks of at most 1 MiB, never whole."""
    data = os.urandom(3 * MIB + 5)
    job = make_job(data)
    opener = Opener(job, data)
    assert (
        StorageCopyDelivery(memory_root, allow=HOST)
        .deliver(job, opener)
        .startswith(f"copied {len(data)} ")
    )
    sizes = opener.streams[0].sizes
    assert len(sizes) >= 4
    assert all(0 < size <= MIB for size in sizes)
    assert read_back(memory_root, job.filename or "") == data


@pytest.mark.parametrize("where", ["memory", "local"])
def test_copy_sha256_mismatch_leaves_nothing(where: str, memory_root: str, tmp_path: Any) -> None:
    """A wrong SHA-256 raises and leaves neither the file nor a temporary behind."""
    root = memory_root if where == "memory" else str(tmp_path / "inbox")
    job = make_job()
    opener = Opener(job, sha256="0" * 64)
    with pytest.raises(DeliveryError, match="SHA-256"):
        StorageCopyDelivery(root, allow=HOST).deliver(job, opener)
    fs, path = fsspec.core.url_to_fs(root)
    assert not fs.exists(path) or fs.find(path, withdirs=False) == []
    assert opener.downloads[0].closed


def test_copy_size_mismatch_leaves_nothing(tmp_path: Any) -> None:
    """A stream shorter than the recorded size raises and leaves nothing."""
    job = make_job()
    opener = Opener(job, DATA[:-10], sha256=hashlib.sha256(DATA).hexdigest(), size=len(DATA))
    with pytest.raises(DeliveryError, match="bytes but the export has"):
        StorageCopyDelivery(str(tmp_path / "inbox"), allow=HOST).deliver(job, opener)
    assert list((tmp_path / "inbox").iterdir()) == []


def test_copy_sanitises_file_name(tmp_path: Any) -> None:
    """Traversal and unsafe characters in the file name cannot escape the root."""
    job = make_job(filename="../../etc/ évil name..json")
    result = StorageCopyDelivery(str(tmp_path / "inbox"), allow=HOST).deliver(job, Opener(job))
    assert result.endswith("/vil_name.json")
    assert [p.name for p in (tmp_path / "inbox").iterdir()] == ["vil_name.json"]


def test_copy_hides_credentials(tmp_path: Any) -> None:
    """Neither repr nor errors show user info or query strings of the destination."""
    delivery = StorageCopyDelivery(
        "nosuchproto://key:hunter2@bucket/inbox?sas=sig-secret",
        storage_options={"x": "opt-s"},
        allow=HOST,
    )
    assert "hunter2" not in repr(delivery)
    assert "sig-secret" not in repr(delivery)
    job = make_job()
    with pytest.raises(DeliveryError, match="cannot open destination") as caught:
        delivery.deliver(job, Opener(job))
    for secret in ("hunter2", "sig-secret", "opt-s"):
        assert secret not in str(caught.value)


def test_copy_refuses_bad_destinations() -> None:
    """Empty or non-URL destinations are refused; a bad callable result raises."""
    with pytest.raises(InvalidRequest):
        StorageCopyDelivery("  ")
    with pytest.raises(InvalidRequest):
        StorageCopyDelivery(42)  # type: ignore[arg-type]
    job = make_job()
    with pytest.raises(DeliveryError, match="returned int"):
        StorageCopyDelivery(
            lambda _job: 42,  # type: ignore[arg-type,return-value]
            allow=DestinationPolicy(hosts=["inbox"]),
        ).deliver(job, Opener(job))


# ------------------------------------------------------------------ notifier, protocol


def test_notifier_delivery_sends_completed() -> None:
    """NotifierDelivery sends one COMPLETED notification and returns 'notified'."""
    notifier = RecordingNotifier()
    job = make_job()
    opener = Opener(job)
    assert NotifierDelivery(notifier).deliver(job, opener) == "notified"
    assert notifier.events(job.id) == [NotificationEvent.COMPLETED]
    assert opener.downloads == []


def test_notifier_delivery_propagates_failure() -> None:
    """A failing notifier's error reaches the caller, who records it."""
    notifier = RecordingNotifier(fail_with=ConnectionError("smtp down"))
    job = make_job()
    with pytest.raises(ConnectionError):
        NotifierDelivery(notifier, name="notify:dpo").deliver(job, Opener(job))
    with pytest.raises(InvalidRequest):
        NotifierDelivery(object())  # type: ignore[arg-type]


def test_adapters_satisfy_protocol(tmp_path: Any) -> None:
    """Every adapter is a Delivery with the name it was given."""
    deliveries: list[Any] = [
        WebhookDelivery("https://partner.example/hook", SECRET, name="webhook:p"),
        StorageCopyDelivery(str(tmp_path), name="copy:p", allow=HOST),
        NotifierDelivery(RecordingNotifier(), name="notify:p"),
    ]
    for delivery in deliveries:
        assert isinstance(delivery, Delivery)
    assert [d.name for d in deliveries] == ["webhook:p", "copy:p", "notify:p"]
    with pytest.raises(InvalidRequest):
        NotifierDelivery(RecordingNotifier(), name="")


def test_delivery_error_pickles() -> None:
    """DeliveryError survives pickling with its attributes (for process workers)."""
    error = DeliveryError("boom", delivery="webhook:p", attempts=3, status=503, retryable=True)
    clone = pickle.loads(pickle.dumps(error))
    assert str(clone) == "boom"
    assert (clone.delivery, clone.attempts, clone.status, clone.retryable) == (
        "webhook:p",
        3,
        503,
        True,
    )
