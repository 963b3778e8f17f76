"""Tell another controller's endpoint that an export is ready: a signed JSON POST.

The body describes the export and carries its download link, never the data
itself; the receiver fetches the artifact over the link. Each request is
signed with HMAC-SHA-256 over ``"<timestamp>.<body>"``::

    Reasonkit-Signature: t=1748770200,v1=5f0c…(64 hex digits)
    Reasonkit-Delivery: 0b6a…(the delivery id, the same on every retry)

The timestamp is signed with the body, so a captured request cannot be
replayed once it is older than the receiver's tolerance (5 minutes by
default in :func:`verify_webhook_signature`).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import math
import random
import ssl
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
    "WebhookDelivery",
    "sign_webhook",
    "verify_webhook_signature",
]

logger = logging.getLogger("reasonkit_export.delivery")

SIGNATURE_HEADER = "Reasonkit-Signature"
DELIVERY_HEADER = "Reasonkit-Delivery"
MIN_SECRET_BYTES = 32
EVENT_TYPE = "export.completed"

# Headers we set ourselves; letting ``headers=`` override them would break
# the signature, the idempotency key or the framing of the request.
_RESERVED = frozenset(
    {
        SIGNATURE_HEADER.lower(),
        DELIVERY_HEADER.lower(),
        "content-type",
        "content-length",
        "host",
        "transfer-encoding",
        "connection",
    }
)
_MAX_RESPONSE_BYTES = 64 * 1024  # read (and discard) at most this much of a reply
_JITTER = 0.1  # up to +10 % on each backoff delay, so retries do not synchronise


def _secret_bytes(secret: str | bytes) -> bytes:
    if not isinstance(secret, str | bytes):
        raise InvalidRequest("the webhook secret must be str or bytes")
    raw = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    if len(raw) < MIN_SECRET_BYTES:
        # Only the length is reported, never the value.
        raise InvalidRequest(
            f"the webhook secret is {len(raw)} bytes; at least {MIN_SECRET_BYTES} are needed"
        )
    return raw


def _body_bytes(body: str | bytes) -> bytes:
    return body.encode("utf-8") if isinstance(body, str) else bytes(body)


def _mac(secret: bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(secret, f"{timestamp}.".encode("ascii") + body, hashlib.sha256).hexdigest()


def sign_webhook(secret: str | bytes, body: str | bytes, *, timestamp: int | None = None) -> str:
    """Return the ``Reasonkit-Signature`` header value for ``body``.

    Args:
        secret: the shared secret (at least 32 bytes; str is UTF-8 encoded).
        body: the exact request body.
        timestamp: unix seconds to sign; now when omitted.
    """
    stamp = int(time.time()) if timestamp is None else int(timestamp)
    return f"t={stamp},v1={_mac(_secret_bytes(secret), stamp, _body_bytes(body))}"


def verify_webhook_signature(
    secret: str | bytes,
    body: str | bytes,
    header: str | None,
    *,
    tolerance: float = 300,
    now: float | datetime | None = None,
) -> bool:
    """Whether ``header`` is a valid, fresh signature of ``body`` under ``secret``.

    For receivers: pass the raw request body (before any JSON parsing) and the
    ``Reasonkit-Signature`` header. Signatures are compared in constant time;
    a timestamp more than ``tolerance`` seconds away from ``now`` (in either
    direction) is refused, which bounds replays. Several ``v1=`` entries are
    accepted (any one matching suffices), so senders can rotate secrets.

    Args:
        secret: the shared secret.
        body: the raw request body.
        header: the ``Reasonkit-Signature`` header value (None when missing).
        tolerance: the accepted clock difference, in seconds.
        now: the current time (unix seconds or an aware datetime); now when omitted.

    Returns:
        True when the signature verifies and is fresh, else False (also for a
        malformed header).
    """
    if not isinstance(header, str) or len(header) > 4096:
        return False
    timestamp: int | None = None
    candidates: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            return False
        if key == "t":
            if timestamp is not None or not value.isascii() or not value.isdigit():
                return False
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    current = (
        time.time() if now is None else now.timestamp() if isinstance(now, datetime) else float(now)
    )
    if abs(current - timestamp) > tolerance:
        return False
    expected = _mac(_secret_bytes(secret), timestamp, _body_bytes(body))
    matched = False
    for candidate in candidates:
        # Compare every candidate, so timing does not tell which one matched.
        matched |= hmac.compare_digest(expected, candidate.encode("ascii", "replace").decode())
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
        timeout: seconds for connecting and for each read from the socket.
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

    def _connection(self) -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection
        if self._scheme == "https":
            context = self._ssl_context or ssl.create_default_context()
            connection = http.client.HTTPSConnection(
                self._host, self._port, timeout=self.timeout, context=context
            )
        else:
            connection = http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)
        if not self._policy.trusted:
            # Resolve once and connect only to a vetted address; TLS still
            # checks the certificate against the URL's host name.
            connection._create_connection = self._policy.create_connection  # type: ignore[attr-defined]
        return connection

    def _post(self, body: bytes, delivery_id: str) -> _Attempt:
        # Signed per attempt: a retry after a long backoff must still be fresh
        # for the receiver's tolerance window. The body and id stay the same.
        headers = {
            "User-Agent": f"reasonkit-export/{__version__}",
            **self._headers,
            "Content-Type": "application/json",
            DELIVERY_HEADER: delivery_id,
            SIGNATURE_HEADER: sign_webhook(self._secret, body),
        }
        connection = self._connection()
        try:
            # http.client, not urllib: it never follows redirects, so a 3xx
            # cannot silently turn the POST into a GET somewhere else.
            connection.request("POST", self._target, body=body, headers=headers)
            response = connection.getresponse()
            response.read(_MAX_RESPONSE_BYTES)
            status = response.status
            retry_after = _retry_after(response.getheader("Retry-After"))
        except DestinationRefused as exc:
            return _Attempt(status=None, retryable=False, describe=_describe(exc), refused=True)
        except ssl.SSLCertVerificationError as exc:
            return _Attempt(status=None, retryable=False, describe=_describe(exc))
        except (OSError, http.client.HTTPException) as exc:
            return _Attempt(status=None, retryable=True, describe=_describe(exc))
        finally:
            connection.close()
        retryable = status == 429 or status >= 500
        return _Attempt(
            status=status,
            retryable=retryable,
            describe=f"HTTP {status}",
            retry_after=retry_after if retryable else None,
        )


def _describe(exc: BaseException) -> str:
    # The type and the OS reason help operators; neither carries the URL or secret.
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else None
    if isinstance(exc, TimeoutError):
        reason = "timed out"
    return type(exc).__name__ if reason is None else f"{type(exc).__name__}: {reason}"
