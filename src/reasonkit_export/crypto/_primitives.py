"""Small cryptographic building blocks shared by the age modules.

Everything here is a thin wrapper around ``cryptography`` so that the rest of
the package reads like the age specification.
"""

from __future__ import annotations

import base64
import binascii
import re

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "FILE_KEY_SIZE",
    "b64decode",
    "b64encode",
    "hkdf_sha256",
    "is_wrapped_file_key_size",
    "unwrap_file_key",
    "wrap_file_key",
]

FILE_KEY_SIZE = 16
_WRAPPED_FILE_KEY_SIZE = FILE_KEY_SIZE + 16
# Wrapping keys are single-use, so the all-zero nonce is what the spec mandates.
_ZERO_NONCE = bytes(12)
_B64_ALPHABET = re.compile(rb"[A-Za-z0-9+/]*")


def b64encode(data: bytes) -> str:
    """Encode ``data`` as standard base64 without padding, as age does."""
    return base64.b64encode(data).rstrip(b"=").decode("ascii")


def b64decode(text: str | bytes) -> bytes:
    """Decode canonical unpadded standard base64, rejecting anything else.

    Raises:
        ValueError: padding, a character outside the alphabet (including CR and
            LF, which the standard library would silently skip), an impossible
            length, or non-zero unused bits (a non-canonical encoding).
    """
    raw = text.encode("ascii", "replace") if isinstance(text, str) else text
    if _B64_ALPHABET.fullmatch(raw) is None:
        raise ValueError("invalid base64 character")
    if len(raw) % 4 == 1:
        raise ValueError("invalid base64 length")
    try:
        data = base64.b64decode(raw + b"=" * (-len(raw) % 4), validate=True)
    except binascii.Error as exc:  # pragma: no cover - the checks above cover it
        raise ValueError("invalid base64") from exc
    # Re-encoding catches non-zero trailing bits: one byte string, one encoding.
    if base64.b64encode(data).rstrip(b"=") != raw:
        raise ValueError("non-canonical base64")
    return data


def hkdf_sha256(ikm: bytes, salt: bytes, info: bytes, length: int = 32) -> bytes:
    """Derive ``length`` bytes with HKDF-SHA-256."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def wrap_file_key(wrapping_key: bytes, file_key: bytes) -> bytes:
    """Encrypt the file key under a single-use wrapping key (a stanza body)."""
    return ChaCha20Poly1305(wrapping_key).encrypt(_ZERO_NONCE, file_key, None)


def is_wrapped_file_key_size(body: bytes) -> bool:
    """Say whether a stanza body has the size of a wrapped 16-byte file key.

    The spec requires checking this before decrypting, so that a longer
    plaintext can never be accepted as a file key.
    """
    return len(body) == _WRAPPED_FILE_KEY_SIZE


def unwrap_file_key(wrapping_key: bytes, body: bytes) -> bytes | None:
    """Decrypt a stanza body; ``None`` when the tag does not verify (not ours)."""
    try:
        return ChaCha20Poly1305(wrapping_key).decrypt(_ZERO_NONCE, body, None)
    except InvalidTag:
        return None
