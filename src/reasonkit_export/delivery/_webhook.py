"""Tell another controller's endpoint that an export is ready: a signed JSON POST.

The body describes the export and carries its download link, never the data
itself; the receiver fetches the artifact over the link. Requests follow
`Standard Webhooks <https://www.standardwebhooks.com/>`_, so receivers verify
them with an off-the-shelf library in any language::

    webhook-id: 0b6a…                  (the delivery id, the same on every retry)
    webhook-timestamp: 1748770200       (unix seconds)
    webhook-signature: v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=

The signature is base64(HMAC-SHA-256(secret, "<id>.<timestamp>.<body>")).
The id and timestamp are signed with the body, so a captured request cannot
be replayed once it is older than the receiver's tolerance (5 minutes by
default in :func:`verify_webhook_signature`).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import http.client
import json
import logging
import math
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit
from uuid import NAMESPACE_URL, uuid5

from reasonkit_export._download import Download
from reasonkit_export._models import ExportJob
from reasonkit_export._version import __version__
from reasonkit_export.delivery._base import DeliveryError, check_name
from reasonkit_export.delivery._policy import DestinationPolicy, DestinationRefused
from reasonkit_export.exceptions import InvalidRequest

__all__ = [
    "DELIVERY_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "WebhookDelivery",
    "sign_webhook",
    "standard_webhooks_secret",
    "verify_webhook_signature",
]

logger = logging.getLogger("reasonkit_export.delivery")

SIGNATURE_HEADER = "webhook-signature"
DELIVERY_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
MIN_SECRET_BYTES = 32
EVENT_TYPE = "export.completed"
_SECRET_PREFIX = "whsec_"  # noqa: S105 - the Standard Webhooks prefix, not a secret

# Headers we set ourselves; letting ``headers=`` override them would break
# the signature, the idempotency key or the framing of the request.
_RESERVED = frozenset(
    {
        SIGNATURE_HEADER,
        DELIVERY_HEADER,
        TIMESTAMP_HEADER,
        "content-type",
        "content-length",
        "host",
        "transfer-encoding",
        "connection",
    }
)
_MAX_RESPONSE_BYTES = 64 * 1024  # read (and discard) at most this much of a reply
_JITTER = 0.1  # up to +10 % on each backoff delay, so retries do not synchronise
_MAX_HEADER = 4096  # longer signature headers are refused unread
_MAX_STAMP_DIGITS = 12  # unix seconds until the year 33658


def _secret_bytes(secret: str | bytes) -> bytes:
    """The HMAC key: raw bytes, a UTF-8 string, or a Standard Webhooks ``whsec_<base64>``."""
    if not isinstance(secret, str | bytes):
        raise InvalidRequest("the webhook secret must be str or bytes")
    if isinstance(secret, str) and secret.startswith(_SECRET_PREFIX):
        try:
            raw = base64.b64decode(secret[len(_SECRET_PREFIX) :] + "==", validate=False)
        except (binascii.Error, ValueError):
            raise InvalidRequest("the whsec_ webhook secret is not valid base64") from None
    else:
        raw = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    if len(raw) < MIN_SECRET_BYTES:
        # Only the length is reported, never the value.
        raise InvalidRequest(
            f"the webhook secret is {len(raw)} bytes; at least {MIN_SECRET_BYTES} are needed"
        )
    return raw


def standard_webhooks_secret(secret: str | bytes) -> str:
    """The secret as Standard Webhooks libraries take it: ``whsec_<base64 of the key>``.

    Give this to a receiver that verifies with, for example, the
    ``standardwebhooks`` package: ``Webhook(standard_webhooks_secret(secret))``.
    """
    return _SECRET_PREFIX + base64.b64encode(_secret_bytes(secret)).decode("ascii")


def _body_bytes(body: str | bytes) -> bytes:
    return body.encode("utf-8") if isinstance(body, str) else bytes(body)


def _mac(secret: bytes, msg_id: str, timestamp: int, body: bytes) -> bytes:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return hmac.new(secret, signed, hashlib.sha256).digest()


def sign_webhook(
    secret: str | bytes,
    body: str | bytes,
    *,
    msg_id: str,
    timestamp: int | None = None,
) -> dict[str, str]:
    """Return the three Standard Webhooks headers for ``body``.

    Args:
        secret: the shared secret (at least 32 bytes; str is UTF-8 encoded,
            or a ``whsec_<base64>`` Standard Webhooks secret).
        body: the exact request body.
        msg_id: the ``webhook-id`` (the delivery id).
        timestamp: unix seconds to sign; now when omitted.
    """
    stamp = int(time.time()) if timestamp is None else int(timestamp)
    signature = base64.b64encode(_mac(_secret_bytes(secret), msg_id, stamp, _body_bytes(body)))
    return {
        DELIVERY_HEADER: msg_id,
        TIMESTAMP_HEADER: str(stamp),
        SIGNATURE_HEADER: "v1," + signature.decode("ascii"),
    }


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == name:
            return value if isinstance(value, str) else None
    return None


def _now(now: float | datetime | None) -> float | None:
    if now is None:
        return time.time()
    if isinstance(now, datetime):
        return now.timestamp()
    if isinstance(now, int | float) and not isinstance(now, bool):
        value = float(now)
        return value if math.isfinite(value) else None
    return None


def verify_webhook_signature(
    secret: str | bytes,
    body: str | bytes,
    headers: Mapping[str, str] | None,
    *,
    tolerance: float = 300,
    now: float | datetime | None = None,
) -> bool:
    """Whether ``headers`` carry a valid, fresh signature of ``body`` under ``secret``.

    For receivers: pass the raw request body (before any JSON parsing) and the
    request's headers (any mapping; names are matched case-insensitively).
    Signatures are compared in constant time; a timestamp more than
    ``tolerance`` seconds away from ``now`` (in either direction) is refused,
    which bounds replays. Several space-separated ``v1,`` signatures are
    accepted (any one matching suffices), so senders can rotate secrets.

    Never raises: a missing or malformed header, a bad secret (shorter than
    32 bytes, wrong type), a non-finite ``now`` or ``tolerance``, or any other
    odd input gives False.

    Args:
        secret: the shared secret (str, bytes or ``whsec_<base64>``).
        body: the raw request body.
        headers: the request headers (``webhook-id``, ``webhook-timestamp``,
            ``webhook-signature``).
        tolerance: the accepted clock difference, in seconds.
        now: the current time (unix seconds or an aware datetime); now when omitted.

    Returns:
        True when the signature verifies and is fresh, else False.
    """
    try:
        return _verify(secret, body, headers, tolerance=tolerance, now=now)
    except Exception:  # noqa: BLE001 - documented never to raise; a receiver answers 401
        return False


def _verify(
    secret: str | bytes,
    body: str | bytes,
    headers: Mapping[str, str] | None,
    *,
    tolerance: float,
    now: float | datetime | None,
) -> bool:
    if not isinstance(headers, Mapping) or not isinstance(body, str | bytes):
        return False
    msg_id = _header(headers, DELIVERY_HEADER)
    stamp_text = _header(headers, TIMESTAMP_HEADER)
    signatures = _header(headers, SIGNATURE_HEADER)
    if not msg_id or not stamp_text or not signatures:
        return False
    if max(len(msg_id), len(signatures)) > _MAX_HEADER:
        return False
    if not stamp_text.isascii() or not stamp_text.isdigit() or len(stamp_text) > _MAX_STAMP_DIGITS:
        return False
    timestamp = int(stamp_text)
    current = _now(now)
    if (
        current is None
        or not isinstance(tolerance, int | float)
        or isinstance(tolerance, bool)
        or not math.isfinite(tolerance)
        or abs(current - timestamp) > tolerance
    ):
        return False
    try:
        key = _secret_bytes(secret)
    except InvalidRequest:
        return False
    expected = _mac(key, msg_id, timestamp, _body_bytes(body))
    matched = False
    for entry in signatures.split(" "):
        version, sep, value = entry.partition(",")
        if not sep or version != "v1":
            continue
        try:
            candidate = base64.b64decode(value.encode("ascii"), validate=True)
        except (binascii.Error, ValueError, UnicodeEncodeError):
            continue
        # Compare every candidate, so timing does not tell which one matched.
        matched |= hmac.compare_digest(expected, candidate)
    return matched


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def webhook_payload(job: ExportJob, *, delivery_id: str, created: datetime) -> dict[str, Any]:
    """The JSON document a webhook sends: metadata and the link, never record data."""
    return {
        "type": EVENT_TYPE,
        "id": delivery_id,
        "created": created.isoformat(),
        "export": {
            "id": str(job.id),
            "user_id": job.user_id,
            "format": job.format.value,
            "categories": list(job.categories),
            "file_size": job.file_size,
            "sha256": job.sha256,
            "media_type": job.media_type,
            "filename": job.filename,
            "completed_at": _iso(job.completed_at),
            "expires_at": _iso(job.expires_at),
            "download_url": job.download_url,
        },
    }


class _Attempt:
    """The outcome of one HTTP attempt."""

    __slots__ = ("describe", "refused", "retry_after", "retryable", "status")

    def __init__(
        self,
        *,
        status: int | None,
        retryable: bool,
        describe: str,
        retry_after: float | None = None,
        refused: bool = False,
    ) -> None:
        self.status = status
        self.retryable = retryable
        self.describe = describe  # for the operator's log
        self.retry_after = retry_after
        self.refused = refused

    @property
    def shown(self) -> str:
        """What the job record may say: an HTTP status, never a network reason."""
        return f"HTTP {self.status}" if self.status is not None else "no answer"


def _retry_after(value: str | None) -> float | None:
    # Only the delay-seconds form; an HTTP date would need the server's clock.
    if value is None:
        return None
    text = value.strip()
    if not text.isascii() or not text.isdigit():
        return None
    return float(text)


class WebhookDelivery:
    """POST a signed ``export.completed`` event to a URL (stdlib HTTP only).

    Args:
        url: the receiver's ``http://`` or ``https://`` URL. It is shown only
            as scheme, host and port (its path and query may be secret).
        secret: the shared HMAC secret, at least 32 bytes; never shown.
        name: the delivery's name on the job record.
        timeout: seconds for a whole attempt: connecting, TLS, sending the
            request and reading the reply (a receiver that trickles its
            reply is cut off when they have passed).
        attempts: total attempts, including the first.
        backoff: the first retry delay in seconds; each later one doubles.
        max_backoff: the longest delay, also the cap on ``Retry-After``.
        sleep: how to wait between attempts (injectable for tests).
        headers: extra request headers (for example ``Authorization``); they
            may not replace the signature, delivery, framing or host headers.
            Never shown.
        ssl_context: for ``https://``; the system's default trust store when omitted.
        allow: which destinations may be reached (see
            :class:`~reasonkit_export.delivery.DestinationPolicy`). By default
            only the URL's own host, over ``https``, at a public address:
            the name is resolved at connect time and private, loopback,
            link-local and metadata addresses are refused, on the address
            actually connected to. A receiver the host runs itself on an
            internal address needs ``allow=DestinationPolicy.host_configured()``.

    Raises:
        InvalidRequest: a bad or disallowed URL, a short secret, bad retry
            settings or a reserved header.
    """

    def __init__(
        self,
        url: str,
        secret: str | bytes,
        *,
        name: str = "webhook",
        timeout: float = 10.0,
        attempts: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        sleep: Callable[[float], None] = time.sleep,
        headers: Mapping[str, str] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        allow: DestinationPolicy | None = None,
    ) -> None:
        self.name = check_name(name)
        self._secret = _secret_bytes(secret)
        self._parse_url(url)
        if allow is None:
            allow = DestinationPolicy(hosts=[self._host])
        elif not isinstance(allow, DestinationPolicy):
            raise InvalidRequest("allow must be a DestinationPolicy")
        if not allow.allows_protocol(self._scheme):
            raise InvalidRequest(
                f"webhook {name!r}: {self._scheme!r} is not an allowed protocol "
                "(https only unless the policy lists http)"
            )
        if not allow.allows_host(self._host):
            raise InvalidRequest(f"webhook {name!r}: the URL's host is not on the allow-list")
        self._policy = allow
        if not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 1:
            raise InvalidRequest(f"attempts must be a positive integer, got {attempts!r}")
        for label, number in (
            ("timeout", timeout),
            ("backoff", backoff),
            ("max_backoff", max_backoff),
        ):
            if (
                not isinstance(number, int | float)
                or isinstance(number, bool)
                or not math.isfinite(number)
                or number < 0
            ):
                raise InvalidRequest(f"{label} must be a non-negative number, got {number!r}")
        if timeout <= 0:
            raise InvalidRequest(f"timeout must be positive, got {timeout!r}")
        if max_backoff < backoff:
            raise InvalidRequest("max_backoff must be no smaller than backoff")
        extra = dict(headers or {})
        for key, value in extra.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise InvalidRequest("webhook headers must map str to str")
            if key.strip().lower() in _RESERVED:
                raise InvalidRequest(f"the webhook header {key!r} is set by the library")
            if any(c in key + value for c in "\r\n"):
                raise InvalidRequest(f"the webhook header {key!r} contains a line break")
        self._headers = extra
        self.timeout = float(timeout)
        self.attempts = attempts
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self._sleep = sleep
        self._ssl_context = ssl_context

    def _parse_url(self, url: str) -> None:
        if not isinstance(url, str):
            raise InvalidRequest("the webhook URL must be a string")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise InvalidRequest("the webhook URL is malformed") from None
        scheme = parts.scheme.lower()
        if scheme not in {"http", "https"}:
            raise InvalidRequest(f"webhook URLs must be http or https, not {scheme or 'none'!r}")
        if not parts.hostname:
            raise InvalidRequest("the webhook URL has no host")
        if parts.username is not None or parts.password is not None:
            # Credentials in the URL would travel into reprs and error messages;
            # headers={"Authorization": ...} keeps them out of sight.
            raise InvalidRequest("put webhook credentials in headers=, not in the URL")
        if any(c.isspace() for c in url):
            raise InvalidRequest("the webhook URL contains whitespace")
        self._scheme = scheme
        self._host = parts.hostname
        self._port = port
        self._target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        self._origin = f"{scheme}://{host}" + ("" if port is None else f":{port}")

    def __repr__(self) -> str:
        return f"WebhookDelivery(name={self.name!r}, url={self._origin!r})"

    def deliver(self, job: ExportJob, open_artifact: Callable[[], Download]) -> str:
        """POST the signed event; return ``"HTTP <code>"``.

        ``open_artifact`` is not used: the receiver downloads over the link.

        Raises:
            DeliveryError: a non-retryable answer (4xx other than 429, 3xx),
                or every attempt failed.
        """
        del open_artifact  # the data itself never goes into the webhook
        # Stable per job and delivery, so a redelivery after a crash carries the
        # same id and the receiver can deduplicate it.
        delivery_id = str(uuid5(NAMESPACE_URL, f"reasonkit-export:{job.id}:{self.name}"))
        payload = webhook_payload(job, delivery_id=delivery_id, created=datetime.now(UTC))
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        last: _Attempt | None = None
        for attempt in range(1, self.attempts + 1):
            last = self._post(body, delivery_id)
            if last.status is not None and 200 <= last.status < 300:
                return f"HTTP {last.status}"
            if last.refused:
                # Our own policy refused the connection: say only that.
                raise DeliveryError(
                    f"webhook {self.name!r} to {self._origin} refused: the destination "
                    "is not allowed",
                    delivery=self.name,
                    attempts=attempt,
                )
            if not last.retryable:
                raise DeliveryError(
                    f"webhook {self.name!r} to {self._origin} failed ({last.shown}); not retried",
                    delivery=self.name,
                    attempts=attempt,
                    status=last.status,
                )
            if attempt < self.attempts:
                delay = self._delay(attempt, last.retry_after)
                logger.warning(
                    "delivery %s: attempt %d/%d failed (%s); retrying in %.2f s",
                    self.name,
                    attempt,
                    self.attempts,
                    last.describe,
                    delay,
                )
                self._sleep(delay)
        assert last is not None
        raise DeliveryError(
            f"webhook {self.name!r} to {self._origin} failed after {self.attempts} "
            f"attempt{'s' if self.attempts != 1 else ''} (last: {last.shown})",
            delivery=self.name,
            attempts=self.attempts,
            status=last.status,
            retryable=True,
        )

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_backoff)
        base = self.backoff * 2.0 ** (attempt - 1)
        jitter = random.uniform(0, _JITTER)  # noqa: S311 - spreads retries, not a secret
        return min(base * (1 + jitter), self.max_backoff)

    def _connection(self, deadline: _Deadline) -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection
        if self._scheme == "https":
            context = self._ssl_context or ssl.create_default_context()
            connection = http.client.HTTPSConnection(
                self._host, self._port, timeout=self.timeout, context=context
            )
        else:
            connection = http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)
        # Resolve once and connect only to a vetted address (TLS still checks
        # the certificate against the URL's host name); the deadline watches
        # the socket from then on.
        create = (
            socket.create_connection if self._policy.trusted else self._policy.create_connection
        )
        connection._create_connection = deadline.wrap(create)  # type: ignore[attr-defined]
        return connection

    def _post(self, body: bytes, delivery_id: str) -> _Attempt:
        # Signed per attempt: a retry after a long backoff must still be fresh
        # for the receiver's tolerance window. The body and id stay the same.
        headers = {
            "User-Agent": f"reasonkit-export/{__version__}",
            **self._headers,
            "Content-Type": "application/json",
            **sign_webhook(self._secret, body, msg_id=delivery_id),
        }
        # The whole attempt (connect, TLS, request, reply headers and body) has
        # one deadline: a receiver that trickles its reply cannot hold the export.
        deadline = _Deadline(self.timeout)
        connection = self._connection(deadline)
        try:
            # http.client, not urllib: it never follows redirects, so a 3xx
            # cannot silently turn the POST into a GET somewhere else.
            connection.request("POST", self._target, body=body, headers=headers)
            response = connection.getresponse()
            if deadline.expired:
                # Cut off inside the status line or headers: no complete answer.
                raise TimeoutError("deadline passed")
            status = response.status
            retry_after = _retry_after(response.getheader("Retry-After"))
            with contextlib.suppress(OSError, http.client.HTTPException):
                response.read(_MAX_RESPONSE_BYTES)  # the status is what counts
        except DestinationRefused as exc:
            return _Attempt(status=None, retryable=False, describe=_describe(exc), refused=True)
        except ssl.SSLCertVerificationError as exc:
            return _Attempt(status=None, retryable=False, describe=_describe(exc))
        except (OSError, http.client.HTTPException) as exc:
            describe = "TimeoutError: deadline passed" if deadline.expired else _describe(exc)
            return _Attempt(status=None, retryable=True, describe=describe)
        finally:
            deadline.cancel()
            connection.close()
        retryable = status == 429 or status >= 500
        return _Attempt(
            status=status,
            retryable=retryable,
            describe=f"HTTP {status}",
            retry_after=retry_after if retryable else None,
        )


class _Deadline:
    """Cuts the connection when ``seconds`` have passed, whatever it is waiting for.

    Socket timeouts bound each read, not the whole reply: a receiver sending
    one byte per second would never hit them. A timer shuts the socket down
    instead (through a duplicate descriptor, which also works once TLS has
    wrapped the original), so every blocked read returns at once.
    """

    def __init__(self, seconds: float) -> None:
        self._expires = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._duplicate: socket.socket | None = None
        self.expired = False
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def remaining(self) -> float:
        """Seconds left (never below a millisecond, so it stays a valid timeout)."""
        return max(self._expires - time.monotonic(), 0.001)

    def wrap(self, create: Callable[..., socket.socket]) -> Callable[..., socket.socket]:
        """A ``create_connection`` whose socket the deadline can cut."""

        def connect(
            address: tuple[str, int],
            timeout: float | None = None,
            source_address: tuple[str, int] | None = None,
        ) -> socket.socket:
            budget = self.remaining() if timeout is None else min(timeout, self.remaining())
            sock = create(address, budget, source_address)
            with self._lock:
                if self.expired:
                    sock.close()
                    raise TimeoutError("deadline passed")
                self._duplicate = sock.dup()
            return sock

        return connect

    def _fire(self) -> None:
        with self._lock:
            self.expired = True
            if self._duplicate is not None:
                with contextlib.suppress(OSError):
                    self._duplicate.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        """Stop the timer and release the duplicate descriptor."""
        self._timer.cancel()
        with self._lock:
            if self._duplicate is not None:
                self._duplicate.close()
                self._duplicate = None


def _describe(exc: BaseException) -> str:
    # The type and the OS reason help operators; neither carries the URL or secret.
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else None
    if isinstance(exc, TimeoutError):
        reason = "timed out"
    return type(exc).__name__ if reason is None else f"{type(exc).__name__}: {reason}"
