"""Signed download tokens: HMAC-SHA-256 over job, user, purpose and expiry.

A token is ``<payload>.<signature>``, both base64url without padding. The
payload is compact JSON::

    {"v": 1, "p": "download", "j": "<job id>", "u": "<user digest>",
     "iat": <issued, unix seconds>, "exp": <expires, unix seconds>}

``u`` is a keyed digest of the user id (HMAC-SHA-256 with the signing key,
truncated), so a token that lands in a proxy log does not reveal who the user
is. The first configured key signs; every configured key verifies, so keys
rotate by prepending a new key and removing the old one once its tokens have
expired. Signatures are compared in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import attrs

from reasonkit_export.exceptions import ExportExpired, InvalidRequest, InvalidToken

__all__ = ["MIN_KEY_BYTES", "TokenClaims", "TokenSigner", "normalize_keys"]

MIN_KEY_BYTES = 32
_VERSION = 1
_CLOCK_SKEW = timedelta(minutes=2)


def normalize_keys(keys: Sequence[str | bytes]) -> tuple[bytes, ...]:
    """Return signing keys as bytes, refusing ones shorter than 32 bytes."""
    result: list[bytes] = []
    for index, key in enumerate(keys):
        raw = key.encode() if isinstance(key, str) else bytes(key)
        if len(raw) < MIN_KEY_BYTES:
            raise InvalidRequest(
                f"signing_keys[{index}] is {len(raw)} bytes; at least {MIN_KEY_BYTES} are needed"
            )
        result.append(raw)
    return tuple(result)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes | None:
    """The bytes whose unpadded base64url spelling is exactly ``text``, else ``None``.

    Strict on purpose: padding, whitespace, characters outside the URL-safe
    alphabet (which the lenient decoder would drop) and non-zero unused trailing
    bits all fail the round trip, so every token has exactly one spelling.
    """
    try:
        raw = base64.urlsafe_b64decode(text + "==")
    except ValueError:  # non-ASCII text or an impossible length
        return None
    return raw if _b64(raw) == text else None


@attrs.frozen(kw_only=True)
class TokenClaims:
    """What a verified token says."""

    job_id: UUID
    user_digest: str
    issued_at: datetime
    expires_at: datetime


class TokenSigner:
    """Signs and verifies download tokens with rotating keys."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise InvalidRequest("signed download links need at least one signing key")
        self._keys = tuple(keys)

    def __repr__(self) -> str:
        return f"TokenSigner(<{len(self._keys)} keys>)"

    def user_digest(self, user_id: str, key: bytes | None = None) -> str:
        """A keyed, non-reversible digest of the user id."""
        mac = hmac.new(key or self._keys[0], b"user\x00" + user_id.encode(), hashlib.sha256)
        return mac.hexdigest()[:32]

    def sign(self, *, job_id: UUID, user_id: str, issued_at: datetime, expires_at: datetime) -> str:
        """Return a token for downloading ``job_id`` as ``user_id`` until ``expires_at``."""
        payload = {
            "v": _VERSION,
            "p": "download",
            "j": str(job_id),
            "u": self.user_digest(user_id),
            "iat": int(issued_at.timestamp()),
            "exp": int(expires_at.timestamp()),
        }
        body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
        signature = hmac.new(self._keys[0], body.encode(), hashlib.sha256).digest()
        return f"{body}.{_b64(signature)}"

    def verify(self, token: str, *, now: datetime) -> TokenClaims:
        """Return the claims of a valid token.

        Raises:
            InvalidToken: malformed, tampered, signed by an unknown key, or
                issued in the future.
            ExportExpired: a genuine token past its expiry.
        """
        if not isinstance(token, str) or len(token) > 2048 or token.count(".") != 1:
            raise InvalidToken("malformed download token")
        body, _, signature_text = token.partition(".")
        signature = _unb64(signature_text)
        body_bytes = _unb64(body)
        if signature is None or body_bytes is None:
            raise InvalidToken("malformed download token")
        try:
            payload: dict[str, Any] = json.loads(body_bytes)
        except ValueError as exc:  # not JSON, or not UTF-8
            raise InvalidToken("malformed download token") from exc
        key = self._matching_key(body, signature)
        if key is None:
            raise InvalidToken("download token signature does not verify")
        try:
            if payload["v"] != _VERSION or payload["p"] != "download":
                raise InvalidToken("download token has the wrong version or purpose")
            claims = TokenClaims(
                job_id=UUID(payload["j"]),
                user_digest=str(payload["u"]),
                issued_at=datetime.fromtimestamp(int(payload["iat"]), UTC),
                expires_at=datetime.fromtimestamp(int(payload["exp"]), UTC),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidToken("malformed download token") from exc
        if claims.issued_at > now + _CLOCK_SKEW:
            raise InvalidToken("download token is dated in the future")
        if claims.expires_at <= now:
            # Genuine but too old: the user should hear "expired" (410), not "invalid".
            raise ExportExpired(claims.job_id)
        # Keep the digest comparable with the key that signed.
        return attrs.evolve(claims, user_digest=f"{self._keys.index(key)}:{claims.user_digest}")

    def matches_user(self, claims: TokenClaims, user_id: str) -> bool:
        """Whether the verified claims were issued for ``user_id`` (constant time)."""
        index_text, _, digest = claims.user_digest.partition(":")
        expected = self.user_digest(user_id, self._keys[int(index_text)])
        return hmac.compare_digest(expected, digest)

    def _matching_key(self, body: str, signature: bytes) -> bytes | None:
        found: bytes | None = None
        for key in self._keys:
            expected = hmac.new(key, body.encode(), hashlib.sha256).digest()
            # Check every key, so timing does not tell which one matched.
            if hmac.compare_digest(expected, signature) and found is None:
                found = key
        return found
