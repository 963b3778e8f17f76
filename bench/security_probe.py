"""Adversarial probes of the security hardening; prints the counts in docs/security.md.

Run ``python -m bench.security_probe`` (about a minute). Everything it talks
to listens on loopback. Each probe prints how many attempts were made and
how many got through; every "got through" count must be 0.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import ipaddress
import logging
import os
import random
import socket
import stat
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from reasonkit_export import ExportConfig, ExportJob, ExportService
from reasonkit_export._download import Download
from reasonkit_export._redact import mask_url
from reasonkit_export.delivery import (
    DeliveryError,
    DestinationPolicy,
    StorageCopyDelivery,
    WebhookDelivery,
    public_address,
    sign_webhook,
    verify_webhook_signature,
)
from reasonkit_export.formats import verify_archive
from reasonkit_export.testing import FrozenClock, StaticDataSource

SECRET = "probe-secret-0123456789abcdef0123456789"
T0 = datetime(2025, 6, 1, 9, 30, tzinfo=UTC)
RNG = random.Random(15)


def _job() -> ExportJob:
    data = b"{}"
    return ExportJob(
        user_id="user-1",
        format="json",
        categories=("profile",),
        status="completed",
        progress=100,
        created_at=T0,
        completed_at=T0,
        expires_at=T0 + timedelta(days=1),
        file_size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        filename="export.json",
        media_type="application/json",
        storage_key="x/y.json",
    )


def _opener(job: ExportJob) -> Callable[[], Download]:
    def open_artifact() -> Download:
        return Download(
            job_id=job.id,
            filename="export.json",
            media_type="application/json",
            size=2,
            sha256=job.sha256 or "",
            stream=io.BytesIO(b"{}"),
        )

    return open_artifact


def _random_internal_address() -> str:
    networks = [
        "127.0.0.0/8",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "169.254.0.0/16",
        "100.64.0.0/10",
        "0.0.0.0/8",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::1/128",
        "fc00::/7",
        "fe80::/10",
        "ff00::/8",
    ]
    net = ipaddress.ip_network(RNG.choice(networks))
    address = net[RNG.randrange(net.num_addresses)]
    form = RNG.randrange(3)
    if isinstance(address, ipaddress.IPv4Address) and form == 1:
        return f"::ffff:{address}"
    if isinstance(address, ipaddress.IPv4Address) and form == 2:
        return str(ipaddress.IPv6Address((0x2002 << 112) | (int(address) << 80)))
    return str(address)


def probe_addresses(count: int) -> tuple[int, int]:
    """Internal addresses (incl. mapped/6to4 forms) the default check admits."""
    admitted = sum(
        public_address(ipaddress.ip_address(_random_internal_address())) for _ in range(count)
    )
    return count, admitted


def probe_copy_destinations(listener_port: int) -> tuple[int, int, int]:
    """User-chosen copy destinations: (tried, refused, reached anything)."""
    bases = [
        "{tmp}/jobs",
        "file://{tmp}/jobs",
        "local://{tmp}/x",
        "memory://x",
        "ftp://127.0.0.1:{port}/x",
        "webhdfs://127.0.0.1:{port}/x",
        "http://127.0.0.1:{port}/x",
        "https://127.0.0.1:{port}/x",
        "sftp://127.0.0.1:{port}/x",
        "ssh://127.0.0.1:{port}/x",
        "hdfs://127.0.0.1:{port}/x",
        "smb://127.0.0.1/x",
        "gs://inbox/x",
        "az://inbox/x",
        "zip://x::file://{tmp}/a.zip",
        "simplecache::s3://inbox/x",
        "s3://other-bucket/x",
        "s3://inbox:{port}/x",
        "s3://k:s@inbox/x",
        "s3://inbox/x?endpoint_url=http://127.0.0.1:{port}",
        "s3://inbox/x#frag",
        "s3://inbox/../../x",
        "s3://inbox/x\n",
        "S3://OTHER/x",
    ]
    tmp = tempfile.mkdtemp()
    policy = DestinationPolicy(hosts=["inbox"])
    job = _job()
    tried = refused = 0
    for base in bases:
        for variant in range(40):
            url = base.format(tmp=tmp, port=listener_port)
            if variant % 2:
                url = url.upper() if variant % 4 == 1 else url.replace("/x", f"/x{variant}")
            tried += 1

            def destination(_job: Any, url: str = url) -> str:
                return url

            delivery = StorageCopyDelivery(
                destination, allow=policy, storage_options={"key": "HOST-KEY"}
            )
            try:
                delivery.deliver(job, _opener(job))
            except DeliveryError as exc:
                refused += "refused" in str(exc)
    reached = int(Path(tmp, "jobs").exists()) + len(list(Path(tmp).iterdir()))
    return tried, refused, reached


def probe_webhooks(listener: socket.socket, count: int) -> tuple[int, int, int]:
    """Webhooks to internal names/addresses under the default address check."""
    port = listener.getsockname()[1]
    hosts = ["127.0.0.1", "localhost", "127.1.2.3", "[::1]", "[::ffff:127.0.0.1]", "0.0.0.0"]
    job = _job()
    tried = refused = 0
    listener.settimeout(0)
    for index in range(count):
        host = hosts[index % len(hosts)]
        name = host.strip("[]")
        policy = DestinationPolicy(hosts=[name], protocols=["http"])
        delivery = WebhookDelivery(
            f"http://{host}:{port}/hook", SECRET, allow=policy, sleep=lambda _s: None
        )
        tried += 1
        try:
            delivery.deliver(job, _opener(job))
        except DeliveryError as exc:
            refused += "refused" in str(exc)
    accepted = 0
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            break
        conn.close()
        accepted += 1
    return tried, refused, accepted


def probe_oracle() -> tuple[int, int]:
    """Closed vs open ports: how many distinct messages the job could show."""
    open_socket = socket.socket()
    open_socket.bind(("127.0.0.1", 0))
    open_socket.listen(64)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    policy = DestinationPolicy(
        hosts=["127.0.0.1"], protocols=["http"], address_allowed=lambda a: a.is_loopback
    )
    job = _job()
    messages = set()
    tries = 0
    for port in [closed_port, open_socket.getsockname()[1]] * 10:
        delivery = WebhookDelivery(
            f"http://127.0.0.1:{port}/", SECRET, allow=policy, attempts=1, timeout=0.3
        )
        tries += 1
        try:
            delivery.deliver(job, _opener(job))
        except DeliveryError as exc:
            messages.add(str(exc).replace(str(port), "PORT"))
    open_socket.close()
    return tries, len(messages)


def probe_verifier(count: int) -> tuple[int, int, int, int]:
    """(random inputs, exceptions, forged or tampered tries, accepted forgeries)."""
    exceptions = 0
    alphabet = "v1,=+/ abcdefgh0123456789é\x00"
    for _ in range(count):
        headers: Any = {
            RNG.choice(["webhook-id", "Webhook-Id", "x"]): "".join(
                RNG.choices(alphabet, k=RNG.randrange(20))
            ),
            "webhook-timestamp": RNG.choice(
                [str(RNG.randrange(10**40)), "9" * RNG.randrange(1, 5000), "-1", "1e9", ""]
            ),
            "webhook-signature": "".join(RNG.choices(alphabet, k=RNG.randrange(80))),
        }
        now: Any = RNG.choice([None, float("nan"), float("inf"), 10**30, -(10**30), 0])
        tolerance: Any = RNG.choice([300, float("nan"), float("inf"), -1, True])
        body: Any = os.urandom(RNG.randrange(64)) if RNG.random() < 0.5 else "ü" * 3
        secret: Any = RNG.choice([SECRET, b"short", "whsec_!!!", "", 42, None])
        try:
            verify_webhook_signature(secret, body, headers, tolerance=tolerance, now=now)
        except Exception:  # noqa: BLE001 - counting is the point
            exceptions += 1
    forged = accepted = 0
    body = b'{"type":"export.completed","id":"x"}'
    good = sign_webhook(SECRET, body, msg_id="msg_1", timestamp=1000)
    for index in range(count // 4):
        forged += 1
        tampered = bytearray(body)
        tampered[index % len(body)] ^= 1 << (index % 8)
        accepted += verify_webhook_signature(SECRET, bytes(tampered), good, now=1000)
        forged += 1
        other_id = {**good, "webhook-id": f"msg_{index}x"}
        accepted += verify_webhook_signature(SECRET, body, other_id, now=1000)
        forged += 1
        random_sig = {**good, "webhook-signature": "v1," + os.urandom(32).hex()}
        accepted += verify_webhook_signature(SECRET, body, random_sig, now=1000)
    return count, exceptions, forged, accepted


def probe_file_modes() -> tuple[int, int]:
    """Files and folders of a real export under umask 022 not private (0600/0700)."""
    previous = os.umask(0o022)
    try:
        root = Path(tempfile.mkdtemp()) / "embedded"
        service = ExportService.from_config(
            ExportConfig(local_path=str(root), signing_keys=["k" * 40], rate_limit=None),
            sources=[StaticDataSource("profile", [{"n": i} for i in range(100)])],
            clock=FrozenClock(T0),
        )
        for user in range(20):
            job = service.create_export(f"user-{user}", "zip", ["profile"])
            service.process_export(job.id)
    finally:
        os.umask(previous)
    checked = wrong = 0
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            checked += 1
            wrong += stat.S_IMODE((Path(dirpath) / name).stat().st_mode) != 0o700
        for name in filenames:
            checked += 1
            wrong += stat.S_IMODE((Path(dirpath) / name).stat().st_mode) != 0o600
    return checked, wrong


def probe_masking(count: int) -> tuple[int, int]:
    """URLs with a secret in user info, a query parameter or a token: how many leak."""
    leaks = 0
    names = ["password", "PassWord", "token", "sig", "X-Amz-Signature", "X-Amz-Credential", "sas"]
    for index in range(count):
        secret = f"S3cr3t{index:06d}xyz"
        kind = index % 3
        if kind == 0:
            url = f"postgresql://user:{secret}@db.example:5432/app?sslmode=require"
        elif kind == 1:
            url = f"https://h.example/p?a=1&{RNG.choice(names)}={secret}&b=2"
        else:
            url = f"https://h.example/d/eyJ2IjoxfQ{secret}.c2lnbmF0dXJlLXZhbHVlLXZhbHVl?x=1"
            secret = f"eyJ2IjoxfQ{secret}"
        leaks += secret in mask_url(url)
    return count, leaks


def probe_manifest_bomb() -> tuple[int, float]:
    """(compressed bytes of a 256 MiB manifest bomb, seconds to refuse it)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("manifest.json", b'{"members": [' + b" " * (256 * 1024 * 1024) + b"]}")
    size = len(buffer.getvalue())
    buffer.seek(0)
    started = time.monotonic()
    problems = verify_archive(buffer)
    elapsed = time.monotonic() - started
    assert problems, "the bomb was not refused"
    assert "larger than" in problems[0], problems
    return size, elapsed


def probe_trickle() -> float:
    """Seconds a webhook with timeout=1 waits for a reply trickled over 12 s."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    stop = threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\n")
            for _ in range(120):
                if stop.wait(0.1):
                    return
                try:
                    conn.sendall(b"a")
                except OSError:
                    return

    thread = threading.Thread(target=serve)
    thread.start()
    policy = DestinationPolicy(
        hosts=["127.0.0.1"], protocols=["http"], address_allowed=lambda a: a.is_loopback
    )
    delivery = WebhookDelivery(
        f"http://127.0.0.1:{listener.getsockname()[1]}/",
        SECRET,
        allow=policy,
        attempts=1,
        timeout=1.0,
    )
    job = _job()
    started = time.monotonic()
    with contextlib.suppress(DeliveryError):
        delivery.deliver(job, _opener(job))
    elapsed = time.monotonic() - started
    stop.set()
    thread.join(5)
    listener.close()
    return elapsed


def main() -> None:
    """Run every probe and print its counts."""
    logging.getLogger("reasonkit_export").setLevel(logging.ERROR)  # refusals log warnings
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    port = listener.getsockname()[1]
    print("addresses (internal admitted):", probe_addresses(100_000))
    print("copy destinations (tried, refused, reached):", probe_copy_destinations(port))
    print("webhooks to internal (tried, refused, connections):", probe_webhooks(listener, 600))
    listener.close()
    print("port oracle (tries, distinct messages):", probe_oracle())
    print("verifier (inputs, exceptions, forgeries, accepted):", probe_verifier(100_000))
    print("file modes under umask 022 (checked, not private):", probe_file_modes())
    print("masking (urls, leaks):", probe_masking(30_000))
    print("manifest bomb (zip bytes, seconds to refuse):", probe_manifest_bomb())
    print("trickled reply, timeout=1 (seconds held):", round(probe_trickle(), 2))


if __name__ == "__main__":
    main()
