"""Encryption at rest, as configured: which recipients encrypt, which identities decrypt.

``ExportConfig.encryption_key`` is an age identity (``AGE-SECRET-KEY-1…``):
exports are encrypted to its recipient and decrypted with it.
``encryption_recipients`` adds recipients (``age1…``); a worker configured with
recipients only can encrypt but never decrypt. ``decryption_identities`` adds
identities that only decrypt, so exports made under a rotated-out key stay
readable.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from reasonkit_export.exceptions import InvalidRequest, KeyFormatError

__all__ = ["KeyRing", "validate_identity", "validate_recipient"]


def _validate(text: str, field: str, kind: str) -> str:
    from reasonkit_export.crypto import parse_identity, parse_recipient

    parse = parse_identity if kind == "identity" else parse_recipient
    try:
        parse(text)
    except (KeyFormatError, TypeError) as exc:
        raise InvalidRequest(f"{field} is not a valid age {kind} ({exc})") from None
    return text


def validate_identity(text: str, field: str) -> str:
    """Return ``text`` if it parses as an age identity, else raise InvalidRequest."""
    return _validate(text, field, "identity")


def validate_recipient(text: str, field: str) -> str:
    """Return ``text`` if it parses as an age recipient, else raise InvalidRequest."""
    return _validate(text, field, "recipient")


@attrs.frozen
class KeyRing:
    """Parsed keys: recipients to encrypt to, identities to decrypt with."""

    recipients: tuple[Any, ...] = ()
    identities: tuple[Any, ...] = attrs.field(default=(), repr=False)

    @classmethod
    def build(
        cls,
        encryption_key: str | None,
        recipients: Iterable[str],
        identities: Iterable[str],
    ) -> KeyRing:
        """Parse the configured key strings."""
        from reasonkit_export.crypto import parse_identity, parse_recipient

        parsed_identities = [parse_identity(text) for text in identities]
        parsed_recipients = [parse_recipient(text) for text in recipients]
        if encryption_key is not None:
            primary = parse_identity(encryption_key)
            parsed_identities.insert(0, primary)
            parsed_recipients.insert(0, primary.recipient)
        return cls(tuple(dict.fromkeys(parsed_recipients)), tuple(parsed_identities))

    @property
    def encrypts(self) -> bool:
        """Whether new exports are encrypted."""
        return bool(self.recipients)

    @property
    def fingerprint(self) -> str | None:
        """The recipients' fingerprints, comma-separated (never a secret)."""
        if not self.recipients:
            return None
        return ",".join(recipient.fingerprint for recipient in self.recipients)
