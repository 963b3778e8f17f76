"""Native X25519 recipients (``age1…``) and identities (``AGE-SECRET-KEY-1…``)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from reasonkit_export.crypto import _bech32
from reasonkit_export.crypto._header import Stanza
from reasonkit_export.crypto._primitives import (
    b64decode,
    b64encode,
    hkdf_sha256,
    is_wrapped_file_key_size,
    unwrap_file_key,
    wrap_file_key,
)
from reasonkit_export.exceptions import HeaderError, KeyFormatError

__all__ = ["X25519Identity", "X25519Recipient", "generate_identity"]

_RECIPIENT_HRP = "age"
_IDENTITY_HRP = "age-secret-key-"
_LABEL = b"age-encryption.org/v1/X25519"
_STANZA_TYPE = "X25519"
_KEY_SIZE = 32
# Any scalar works: after clamping every scalar is a multiple of the cofactor,
# so a low-order point always yields the all-zero secret, which OpenSSL refuses.
_PROBE = X25519PrivateKey.from_private_bytes(bytes(range(1, 33)))


def _decode_key(text: str, hrp: str, kind: str) -> bytes:
    """Decode a Bech32 key of the expected kind; errors never include ``text``."""
    if not isinstance(text, str):
        raise KeyFormatError(f"invalid {kind}: expected a string")
    try:
        found_hrp, data = _bech32.decode(text.strip())
    except ValueError as exc:
        raise KeyFormatError(f"invalid {kind}: {exc}") from None
    if found_hrp != hrp:
        raise KeyFormatError(f"invalid {kind}: unexpected type prefix")
    if len(data) != _KEY_SIZE:
        raise KeyFormatError(f"invalid {kind}: wrong key length")
    return data


class X25519Recipient:
    """An age X25519 public key, written ``age1…``."""

    __slots__ = ("_bytes", "_key")

    def __init__(self, public_key: bytes) -> None:
        """Wrap a raw 32-byte X25519 public key.

        Raises:
            KeyFormatError: not 32 bytes, or a low-order point (which would make
                every file encrypted to it readable by anyone).
        """
        if len(public_key) != _KEY_SIZE:
            raise KeyFormatError("invalid age recipient: wrong key length")
        key = X25519PublicKey.from_public_bytes(bytes(public_key))
        try:
            _PROBE.exchange(key)
        except ValueError:
            raise KeyFormatError("invalid age recipient: low-order point") from None
        self._bytes = bytes(public_key)
        self._key = key

    @classmethod
    def parse(cls, text: str) -> X25519Recipient:
        """Parse an ``age1…`` string (surrounding whitespace is ignored).

        Raises:
            KeyFormatError: the string is not a valid X25519 recipient.
        """
        return cls(_decode_key(text, _RECIPIENT_HRP, "age recipient"))

    @property
    def public_bytes(self) -> bytes:
        """The raw 32-byte public key."""
        return self._bytes

    @property
    def fingerprint(self) -> str:
        """A short, stable, non-secret identifier: ``sha256:`` + 16 hex digits."""
        digest = hashlib.sha256(str(self).encode("ascii")).hexdigest()
        return f"sha256:{digest[:16]}"

    def wrap(self, file_key: bytes) -> list[Stanza]:
        """Wrap ``file_key`` to this key with a fresh ephemeral share."""
        ephemeral = X25519PrivateKey.generate()
        share = ephemeral.public_key().public_bytes_raw()
        shared_secret = ephemeral.exchange(self._key)
        wrapping_key = hkdf_sha256(shared_secret, share + self._bytes, _LABEL)
        body = wrap_file_key(wrapping_key, file_key)
        return [Stanza(_STANZA_TYPE, (b64encode(share),), body)]

    def __str__(self) -> str:
        """Return the ``age1…`` encoding."""
        return _bech32.encode(_RECIPIENT_HRP, self._bytes)

    def __repr__(self) -> str:
        """Return ``X25519Recipient('age1…')``."""
        return f"X25519Recipient({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        """Compare by public key."""
        if not isinstance(other, X25519Recipient):
            return NotImplemented
        return self._bytes == other._bytes

    def __hash__(self) -> int:
        """Hash by public key."""
        return hash((X25519Recipient, self._bytes))


class X25519Identity:
    """An age X25519 secret key, written ``AGE-SECRET-KEY-1…``.

    ``str()`` returns the secret key string (that is how an operator stores
    it); ``repr()`` shows only the public recipient.
    """

    __slots__ = ("_key", "_recipient", "_secret")

    def __init__(self, secret_key: bytes) -> None:
        """Wrap a raw 32-byte X25519 secret scalar.

        Raises:
            KeyFormatError: not 32 bytes.
        """
        if len(secret_key) != _KEY_SIZE:
            raise KeyFormatError("invalid age identity: wrong key length")
        self._secret = bytes(secret_key)
        self._key = X25519PrivateKey.from_private_bytes(self._secret)
        self._recipient = X25519Recipient(self._key.public_key().public_bytes_raw())

    @classmethod
    def generate(cls) -> X25519Identity:
        """Return a new random identity."""
        return cls(X25519PrivateKey.generate().private_bytes_raw())

    @classmethod
    def parse(cls, text: str) -> X25519Identity:
        """Parse an ``AGE-SECRET-KEY-1…`` string (surrounding whitespace is ignored).

        Raises:
            KeyFormatError: the string is not a valid X25519 identity; the
                message never contains the string.
        """
        return cls(_decode_key(text, _IDENTITY_HRP, "age identity"))

    @property
    def recipient(self) -> X25519Recipient:
        """The public recipient that files for this identity are encrypted to."""
        return self._recipient

    def unwrap(self, stanzas: Sequence[Stanza]) -> bytes | None:
        """Return the file key from the first X25519 stanza addressed to us, else ``None``.

        Raises:
            HeaderError: an X25519 stanza is malformed (argument count, share
                encoding or length, a low-order share, or body size).
        """
        for stanza in stanzas:
            if stanza.type != _STANZA_TYPE:
                continue
            if len(stanza.args) != 1:
                raise HeaderError("malformed X25519 stanza: wrong number of arguments")
            try:
                share = b64decode(stanza.args[0])
            except ValueError as exc:
                raise HeaderError(f"malformed X25519 stanza: share: {exc}") from exc
            if len(share) != _KEY_SIZE:
                raise HeaderError("malformed X25519 stanza: share has the wrong length")
            if not is_wrapped_file_key_size(stanza.body):
                raise HeaderError("malformed X25519 stanza: body has the wrong length")
            try:
                shared_secret = self._key.exchange(X25519PublicKey.from_public_bytes(share))
            except ValueError as exc:
                raise HeaderError("malformed X25519 stanza: low-order share") from exc
            salt = share + self._recipient.public_bytes
            file_key = unwrap_file_key(hkdf_sha256(shared_secret, salt, _LABEL), stanza.body)
            if file_key is not None:
                return file_key
        return None

    def __str__(self) -> str:
        """Return the secret ``AGE-SECRET-KEY-1…`` encoding. Handle with care."""
        return _bech32.encode(_IDENTITY_HRP, self._secret).upper()

    def __repr__(self) -> str:
        """Show the public recipient only, never the secret."""
        return f"X25519Identity(recipient={str(self._recipient)!r})"


def generate_identity() -> X25519Identity:
    """Return a new random X25519 identity."""
    return X25519Identity.generate()
