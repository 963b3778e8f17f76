"""Destinations a user names are untrusted: allow-lists, address checks, no redirects, no oracle.

Every server here listens on loopback, which the default policy refuses: the
refusal cases run with the default, the positive cases opt in to loopback.
"""

from __future__ import annotations

import hashlib
import ipaddress
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from uuid import uuid4

import boto3
import pytest

from reasonkit_export import ExportConfig, ExportJob, ExportService, InvalidRequest
from reasonkit_export.delivery import (
    DeliveryError,
    DestinationPolicy,
    StorageCopyDelivery,
    WebhookDelivery,
    public_address,
)
from reasonkit_export.testing import StaticDataSource
from tests.moto_support import moto_server
from tests.test_delivery import DATA, SECRET, Opener, make_job

IP = ipaddress.ip_address


def loopback(address: Any) -> bool:
    """The tests' address check: loopback only."""
    return bool(address.is_loopback)


class Recorder(BaseHTTPRequestHandler):
    """Counts requests and answers with the server's ``answer`` callable."""

    server: Listener

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.hits += 1
        status, headers = self.server.answer()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST  # noqa: N815 - the name http.server looks up

    def log_message(self, *args: Any) -> None:
        """Keep test output quiet."""


class Listener(ThreadingHTTPServer):
    """A loopback HTTP listener that counts what reached it."""

    daemon_threads = False
    block_on_close = True

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, answer: Callable[[], Any] | None = None
    ) -> None:
        super().__init__((host, port), Recorder)
        self.hits = 0
        self.answer: Callable[[], Any] = answer or (lambda: (200, {}))


@pytest.fixture
def listen() -> Iterator[Callable[..., Listener]]:
    """Start loopback listeners; all are shut down afterwards."""
    started: list[tuple[Listener, threading.Thread]] = []

    def start(**kwargs: Any) -> Listener:
        server = Listener(**kwargs)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        started.append((server, thread))
        return server

    yield start
    for server, thread in started:
        server.shutdown()
        server.server_close()
        thread.join(5)


def port_of(server: Listener) -> int:
    """The listener's port."""
    return int(server.server_address[1])


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# ------------------------------------------------------------------ addresses


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "169.254.170.2",
        "100.64.0.1",
        "100.100.100.200",
        "0.0.0.0",
        "224.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd00:ec2::254",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "2002:7f00:1::1",
        "ff02::1",
    ],
)
def test_public_address_refuses_internal(address: str) -> None:
    """Private, loopback, link-local, shared, multicast and metadata addresses are refused."""
    assert not public_address(IP(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_address_admits_public(address: str) -> None:
    """Public unicast addresses pass the default check."""
    assert public_address(IP(address))


def test_policy_host_patterns() -> None:
    """Exact names, subdomain wildcards and protocols are matched case-insensitively."""
    policy = DestinationPolicy(hosts=["Partner.example", "*.inbox.example"])
    assert policy.allows_host("partner.example.")
    assert policy.allows_host("eu.inbox.example")
    assert not policy.allows_host("inbox.example")
    assert not policy.allows_host("evilinbox.example")
    assert not policy.allows_host("partner.example.evil")
    assert policy.allows_protocol("HTTPS")
    assert not policy.allows_protocol("http")
    assert not policy.allows_address("not-an-ip")
    with pytest.raises(InvalidRequest):
        DestinationPolicy(hosts="partner.example")


# ------------------------------------------------------------------ webhook


def test_webhook_default_policy_refuses_http_and_other_hosts() -> None:
    """By default a webhook reaches its own host over https only."""
    with pytest.raises(InvalidRequest, match="not an allowed protocol"):
        WebhookDelivery("http://partner.example/hook", SECRET)
    policy = DestinationPolicy(hosts=["partner.example"])
    with pytest.raises(InvalidRequest, match="allow-list"):
        WebhookDelivery("https://internal.example/hook", SECRET, allow=policy)
    assert WebhookDelivery("https://partner.example/hook", SECRET, allow=policy).name


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_webhook_refuses_loopback_by_default(host: str, listen: Callable[..., Listener]) -> None:
    """A name or literal resolving to loopback is refused at connect time, not retried."""
    server = listen()
    delivery = WebhookDelivery(
        f"http://{host}:{port_of(server)}/hook",
        SECRET,
        allow=DestinationPolicy(hosts=[host], protocols=["http"]),
        sleep=lambda _s: None,
    )
    job = make_job()
    with pytest.raises(DeliveryError, match="refused: the destination is not allowed") as caught:
        delivery.deliver(job, Opener(job))
    assert server.hits == 0
    assert caught.value.attempts == 1


def test_webhook_connects_to_the_checked_address(
    listen: Callable[..., Listener], monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the second answer for the name is never used, so never connected to."""
    public = listen(host="127.0.0.1")
    port = port_of(public)
    internal = listen(host="127.0.0.2", port=port)
    answers = iter(["127.0.0.1", "127.0.0.2", "127.0.0.2"])
    real = socket.getaddrinfo

    def rebinding(host: str, *args: Any, **kwargs: Any) -> Any:
        if host == "rebind.example":
            return real(next(answers), *args, **kwargs)
        return real(host, *args, **kwargs)

    monkeypatch.setattr("reasonkit_export.delivery._policy.socket.getaddrinfo", rebinding)
    delivery = WebhookDelivery(
        f"http://rebind.example:{port}/hook",
        SECRET,
        allow=DestinationPolicy(
            hosts=["rebind.example"],
            protocols=["http"],
            address_allowed=lambda a: a == IP("127.0.0.1"),
        ),
    )
    job = make_job()
    assert delivery.deliver(job, Opener(job)) == "HTTP 200"
    assert (public.hits, internal.hits) == (1, 0)


def test_webhook_never_follows_redirects(listen: Callable[..., Listener]) -> None:
    """A 3xx to an internal URL fails at once; the target is never contacted."""
    internal = listen()
    target = f"http://127.0.0.1:{port_of(internal)}/admin?token=x"
    redirector = listen(answer=lambda: (307, {"Location": target}))
    delivery = WebhookDelivery(
        f"http://127.0.0.1:{port_of(redirector)}/hook",
        SECRET,
        allow=DestinationPolicy(hosts=["127.0.0.1"], protocols=["http"], address_allowed=loopback),
        sleep=lambda _s: None,
    )
    job = make_job()
    with pytest.raises(DeliveryError, match="failed") as caught:
        delivery.deliver(job, Opener(job))
    assert caught.value.status == 307
    assert caught.value.attempts == 1
    assert "admin" not in str(caught.value)
    assert (redirector.hits, internal.hits) == (1, 0)


def test_webhook_error_is_no_port_oracle(listen: Callable[..., Listener]) -> None:
    """A closed port and an open non-HTTP port read the same on the job."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)

    def swallow() -> None:
        for _ in range(2):
            try:
                conn, _addr = silent.accept()
            except OSError:
                return
            conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
            conn.close()

    thread = threading.Thread(target=swallow)
    thread.start()
    policy = DestinationPolicy(hosts=["127.0.0.1"], protocols=["http"], address_allowed=loopback)
    messages = []
    job = make_job()
    try:
        for port in (closed_port(), int(silent.getsockname()[1])):
            delivery = WebhookDelivery(
                f"http://127.0.0.1:{port}/hook",
                SECRET,
                allow=policy,
                attempts=2,
                timeout=2,
                sleep=lambda _s: None,
            )
            with pytest.raises(DeliveryError) as caught:
                delivery.deliver(job, Opener(job))
            messages.append(str(caught.value).replace(str(port), "PORT"))
    finally:
        silent.close()
        thread.join(5)
    assert messages[0] == messages[1]
    assert "failed after 2 attempts" in messages[0]


def test_host_configured_webhook_reaches_internal_receiver(listen: Callable[..., Listener]) -> None:
    """A receiver the host fixed itself may be internal, when the host opts in."""
    server = listen()
    delivery = WebhookDelivery(
        f"http://127.0.0.1:{port_of(server)}/hook",
        SECRET,
        allow=DestinationPolicy.host_configured(),
    )
    job = make_job()
    assert delivery.deliver(job, Opener(job)) == "HTTP 200"
    assert server.hits == 1


# ------------------------------------------------------------------ storage copy


def test_copy_needs_a_policy_for_user_destinations(tmp_path: Any) -> None:
    """A callable needs an explicit allow-list; host_configured is for fixed ones only."""
    with pytest.raises(InvalidRequest, match="allow=DestinationPolicy"):
        StorageCopyDelivery(lambda _job: "s3://inbox/x")
    with pytest.raises(InvalidRequest, match="fixed destination only"):
        StorageCopyDelivery(lambda _job: "s3://inbox/x", allow=DestinationPolicy.host_configured())
    fixed_ones = (
        str(tmp_path),
        "file:///tmp/x",
        "memory://x",
        "ftp://h/x",
        "webhdfs://h/x",
        "s3://[x",
    )
    for fixed in fixed_ones:
        with pytest.raises(InvalidRequest, match="host_configured"):
            StorageCopyDelivery(fixed)
    assert not (tmp_path / "x").exists()
    assert StorageCopyDelivery("s3://partner-inbox/exports").name == "copy"


def test_copy_refuses_disallowed_user_destinations(
    tmp_path: Any, listen: Callable[..., Listener]
) -> None:
    """Local paths, other protocols, unlisted buckets and URL tricks are refused unopened."""
    server = listen()
    port = port_of(server)
    jobs_dir = tmp_path / "jobs"
    candidates = [
        str(jobs_dir),
        f"file://{jobs_dir}",
        "memory://anything",
        f"ftp://127.0.0.1:{port}/x",
        f"webhdfs://127.0.0.1:{port}/x",
        f"http://127.0.0.1:{port}/x",
        "sftp://127.0.0.1/x",
        "s3://other-bucket/x",
        "s3://key:secret@partner-inbox/x",
        "s3://partner-inbox:9000/x",
        "s3://partner-inbox/x?endpoint_url=http://127.0.0.1",
        "simplecache::s3://partner-inbox/x",
        "s3://partner-inbox/../x",
    ]
    policy = DestinationPolicy(hosts=["partner-inbox"])
    job = make_job()
    for url in candidates:
        opener = Opener(job)
        delivery = StorageCopyDelivery(
            lambda _job, url=url: url,  # type: ignore[misc]  # a default binds each url
            allow=policy,
            storage_options={"key": "HOST-KEY"},
        )
        with pytest.raises(DeliveryError, match="refused: the destination is not allowed") as err:
            delivery.deliver(job, opener)
        assert "127.0.0.1" not in str(err.value)
        assert opener.downloads == []
    assert not jobs_dir.exists()
    assert server.hits == 0


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1 for this module."""
    yield from moto_server()


def s3_setup(endpoint: str) -> tuple[Any, str, dict[str, Any]]:
    """A boto3 client, a fresh bucket and the host's storage options for moto."""
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    bucket = f"inbox-{uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    options = {
        "key": "testing",
        "secret": "testing",
        "client_kwargs": {"endpoint_url": endpoint, "region_name": "us-east-1"},
        "config_kwargs": {"retries": {"max_attempts": 1}},
    }
    return client, bucket, options


def per_user(bucket: str) -> Callable[[ExportJob], str | None]:
    """A destination from the user's settings: their folder in a bucket, or None."""
    return lambda job: f"s3://{bucket}/{job.user_id}" if job.user_id == "user-42" else None


def test_copy_to_user_bucket_is_checked_at_connect_time(moto_endpoint: str) -> None:
    """An allowed bucket behind a loopback endpoint is refused by the default address check."""
    client, bucket, options = s3_setup(moto_endpoint)
    delivery = StorageCopyDelivery(
        per_user(bucket), allow=DestinationPolicy(hosts=[bucket]), storage_options=options
    )
    job = make_job()
    with pytest.raises(DeliveryError, match="refused: the destination is not allowed"):
        delivery.deliver(job, Opener(job))
    assert client.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0


def test_copy_to_allowed_user_bucket(moto_endpoint: str) -> None:
    """With loopback allowed explicitly, the per-user copy lands and matches; None skips."""
    client, bucket, options = s3_setup(moto_endpoint)
    delivery = StorageCopyDelivery(
        per_user(bucket),
        name="copy:per-user",
        allow=DestinationPolicy(hosts=[bucket], address_allowed=loopback),
        storage_options=options,
    )
    job = make_job()
    result = delivery.deliver(job, Opener(job))
    assert result == f"copied {len(DATA)} bytes to s3://{bucket}/user-42/{job.filename}"
    body = client.get_object(Bucket=bucket, Key=f"user-42/{job.filename}")["Body"].read()
    assert hashlib.sha256(body).hexdigest() == job.sha256
    other = make_job(user_id="user-7")
    opener = Opener(other)
    assert delivery.deliver(other, opener) == "skipped"
    assert opener.downloads == []


def test_copy_failure_says_only_failed(moto_endpoint: str) -> None:
    """A missing bucket behind an allowed endpoint reads "failed", with no backend detail."""
    _client, _bucket, options = s3_setup(moto_endpoint)
    delivery = StorageCopyDelivery(
        lambda _job: "s3://no-such-bucket-here/x",
        allow=DestinationPolicy(hosts=["no-such-bucket-here"], address_allowed=loopback),
        storage_options=options,
    )
    job = make_job()
    with pytest.raises(DeliveryError) as caught:
        delivery.deliver(job, Opener(job))
    assert str(caught.value) == "copy 'copy' failed"


def test_service_records_refusal_and_keeps_its_folders(tmp_path: Any) -> None:
    """The review's reproducer: a user copy target inside the embedded default's job folder."""
    root = tmp_path / "reasonkit"
    target = f"file://{root / 'jobs' / 'jobs'}"
    service = ExportService.from_config(
        ExportConfig(local_path=str(root), rate_limit=None),
        sources=[StaticDataSource("profile", [{"name": "Zoë"}])],
        deliveries=[
            StorageCopyDelivery(
                lambda _job: target,
                name="copy:user",
                allow=DestinationPolicy(hosts=["partner-inbox"]),
            )
        ],
    )
    before = sorted(p.name for p in (root / "jobs" / "jobs").iterdir())
    job = service.process_export(service.create_export("alice", "json", ["profile"]).id)
    assert job.delivery_results["copy:user"] == (
        "failed: DeliveryError: copy 'copy:user' refused: the destination is not allowed"
    )
    after = sorted(p.name for p in (root / "jobs" / "jobs").iterdir())
    assert after == sorted({*before, f"{job.id}.json"})  # only the job's own document
