"""Webhooks follow Standard Webhooks; the verifier never raises; a whole attempt has a deadline."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from reasonkit_export.delivery import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    DeliveryError,
    DestinationPolicy,
    WebhookDelivery,
    sign_webhook,
    standard_webhooks_secret,
    verify_webhook_signature,
)
from tests.test_delivery import SECRET, Opener, Receiver, make_job
from tests.test_delivery import receiver as receiver  # noqa: PLC0414 - re-exported fixture

LOOPBACK = DestinationPolicy(
    hosts=["127.0.0.1"], protocols=["http"], address_allowed=lambda a: a.is_loopback
)


def test_standardwebhooks_verifies_our_requests(receiver: tuple[Receiver, str]) -> None:
    """The standardwebhooks package (PyPI) verifies our requests, raw key or whsec_ form."""
    state, url = receiver
    job = make_job()
    WebhookDelivery(url, SECRET, allow=LOOPBACK).deliver(job, Opener(job))
    (request,) = state.requests
    headers = dict(request["headers"])
    for secret in (SECRET.encode(), standard_webhooks_secret(SECRET)):
        payload = Webhook(secret).verify(request["body"], headers)
        assert payload["export"]["id"] == str(job.id)
        assert payload["id"] == headers[DELIVERY_HEADER]
    tampered = request["body"].replace(b"user-42", b"user-43")
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET.encode()).verify(tampered, headers)


def test_we_verify_standardwebhooks_signatures() -> None:
    """A request signed by the standardwebhooks package verifies with ours, and vice versa."""
    body = json.dumps({"type": "export.completed"})
    stamp = datetime.now(UTC).replace(microsecond=0)
    signature = Webhook(SECRET.encode()).sign("msg_2Kx", stamp, body)
    headers = {
        "Webhook-Id": "msg_2Kx",
        "Webhook-Timestamp": str(int(stamp.timestamp())),
        "Webhook-Signature": signature,
    }
    assert verify_webhook_signature(standard_webhooks_secret(SECRET), body, headers)
    ours = sign_webhook(SECRET, body, msg_id="msg_2Kx", timestamp=int(stamp.timestamp()))
    assert ours[SIGNATURE_HEADER] == signature
    assert ours[TIMESTAMP_HEADER] == headers["Webhook-Timestamp"]


header_values = st.one_of(
    st.text(max_size=80),
    st.from_regex(r"v1,[A-Za-z0-9+/=]{0,60}( v[0-9],[A-Za-z0-9+/=]{0,50})?", fullmatch=True),
    st.from_regex(r"[0-9]{1,40}", fullmatch=True),
    st.integers().map(str),
)
header_maps = st.dictionaries(
    st.sampled_from([DELIVERY_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER, "Webhook-Id", "x", ""]),
    header_values,
    max_size=4,
)


@settings(max_examples=1500, deadline=None)
@given(
    secret=st.one_of(st.binary(max_size=64), st.text(max_size=64), st.just("whsec_!!")),
    body=st.one_of(st.binary(max_size=200), st.text(max_size=200)),
    headers=st.one_of(st.none(), header_maps, st.text(max_size=20)),
    tolerance=st.one_of(st.floats(allow_nan=True), st.integers(), st.booleans()),
    now=st.one_of(
        st.none(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(min_value=-(10**30), max_value=10**30),
        st.datetimes(timezones=st.just(UTC)),
    ),
)
def test_verifier_never_raises(
    secret: Any, body: Any, headers: Any, tolerance: Any, now: Any
) -> None:
    """verify_webhook_signature returns a bool for any input, never raises."""
    result = verify_webhook_signature(secret, body, headers, tolerance=tolerance, now=now)
    assert result is False or result is True


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=300), stamp=st.integers(min_value=0, max_value=10**11))
def test_verifier_accepts_exactly_its_own_signatures(body: bytes, stamp: int) -> None:
    """A signature verifies for its own body and timestamp, and not for a changed body."""
    headers = sign_webhook(SECRET, body, msg_id="msg_x", timestamp=stamp)
    assert verify_webhook_signature(SECRET, body, headers, now=stamp)
    assert not verify_webhook_signature(SECRET, body + b" ", headers, now=stamp)


# ------------------------------------------------------------------ deadline


@pytest.fixture
def trickler() -> Iterator[Callable[[bytes, bytes], int]]:
    """A raw loopback server that sends a head at once, then the rest one byte at a time."""
    stop = threading.Event()
    threads: list[threading.Thread] = []
    sockets: list[socket.socket] = []

    def start(head: bytes, rest: bytes) -> int:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        sockets.append(listener)

        def serve() -> None:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(1)
                try:
                    conn.recv(65536)
                    conn.sendall(head)
                    for byte in rest:
                        if stop.wait(0.1):
                            return
                        conn.sendall(bytes([byte]))
                except OSError:
                    return

        thread = threading.Thread(target=serve)
        thread.start()
        threads.append(thread)
        return int(listener.getsockname()[1])

    yield start
    stop.set()
    for listener in sockets:
        listener.close()
    for thread in threads:
        thread.join(5)


def test_trickled_headers_cannot_hold_the_export(
    trickler: Callable[[bytes, bytes], int],
) -> None:
    """Headers sent one byte per 0.1 s (10 s in all) are cut off at the 1 s deadline."""
    port = trickler(b"HTTP/1.1 200 OK\r\n", b"X-Slow: " + b"a" * 100 + b"\r\n\r\n")
    delivery = WebhookDelivery(
        f"http://127.0.0.1:{port}/hook", SECRET, allow=LOOPBACK, timeout=1.0, attempts=1
    )
    job = make_job()
    started = time.monotonic()
    with pytest.raises(DeliveryError, match="failed after 1 attempt"):
        delivery.deliver(job, Opener(job))
    assert time.monotonic() - started < 5  # the trickle would take over 10 s


def test_trickled_body_after_success_is_cut_and_succeeds(
    trickler: Callable[[bytes, bytes], int],
) -> None:
    """A 200 whose body trickles counts as delivered, and the attempt still ends on time."""
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
    port = trickler(head, b"x" * 1000)
    delivery = WebhookDelivery(
        f"http://127.0.0.1:{port}/hook", SECRET, allow=LOOPBACK, timeout=1.0, attempts=1
    )
    job = make_job()
    started = time.monotonic()
    assert delivery.deliver(job, Opener(job)) == "HTTP 200"
    assert time.monotonic() - started < 5
