"""age v1 file encryption (age-encryption.org/v1), streaming, on ``cryptography``.

Exports are encrypted to X25519 recipients (``age1…``) or a passphrase, and
the files interoperate with ``age``, ``rage`` and every other v1
implementation::

    identity = generate_identity()              # store str(identity) securely
    data = encrypt(b"hello", identity.recipient)
    assert decrypt(data, identity) == b"hello"

    with open("export.zip.age", "wb") as f, encrypting_writer(f, "age1…") as w:
        w.write(chunk)                          # streamed, 64 KiB at a time

Errors are :class:`~reasonkit_export.exceptions.CryptoError` subclasses:
``KeyFormatError`` (malformed key string), ``HeaderError`` (malformed header),
``NoIdentityMatch``, ``HeaderMacError`` and ``PayloadError`` (tampered,
truncated, reordered or trailing payload). Messages never contain secrets.

Not supported: ASCII armor, post-quantum (``mlkem768x25519``) recipients,
plugins and SSH keys.
"""

from __future__ import annotations

from reasonkit_export.crypto._api import (
    IdentitiesLike,
    RecipientsLike,
    decrypt,
    decrypting_reader,
    encrypt,
    encrypting_writer,
    parse_identity,
    parse_recipient,
)
from reasonkit_export.crypto._header import Stanza
from reasonkit_export.crypto._io import ByteSink, ByteSource
from reasonkit_export.crypto._protocols import Identity, Recipient
from reasonkit_export.crypto._scrypt import (
    DEFAULT_MAX_WORK_FACTOR,
    DEFAULT_WORK_FACTOR,
    ScryptIdentity,
    ScryptRecipient,
)
from reasonkit_export.crypto._stream import CHUNK_SIZE, DecryptingReader, EncryptingWriter
from reasonkit_export.crypto._x25519 import X25519Identity, X25519Recipient, generate_identity

__all__ = [
    "CHUNK_SIZE",
    "DEFAULT_MAX_WORK_FACTOR",
    "DEFAULT_WORK_FACTOR",
    "ByteSink",
    "ByteSource",
    "DecryptingReader",
    "EncryptingWriter",
    "IdentitiesLike",
    "Identity",
    "Recipient",
    "RecipientsLike",
    "ScryptIdentity",
    "ScryptRecipient",
    "Stanza",
    "X25519Identity",
    "X25519Recipient",
    "decrypt",
    "decrypting_reader",
    "encrypt",
    "encrypting_writer",
    "generate_identity",
    "parse_identity",
    "parse_recipient",
]
