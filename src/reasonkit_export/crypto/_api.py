"""The public age entry points: one-shot and streaming encryption and decryption."""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Sequence

from reasonkit_export.crypto._header import Stanza, encode_header, read_header, verify_header_mac
from reasonkit_export.crypto._io import BufferedSource, ByteSink, ByteSource
from reasonkit_export.crypto._primitives import FILE_KEY_SIZE
from reasonkit_export.crypto._protocols import Identity, Recipient
from reasonkit_export.crypto._stream import (
    NONCE_SIZE,
    DecryptingReader,
    EncryptingWriter,
    payload_key,
)
from reasonkit_export.crypto._x25519 import X25519Identity, X25519Recipient
from reasonkit_export.exceptions import (
    HeaderError,
    InvalidRequest,
    KeyFormatError,
    NoIdentityMatch,
)

__all__ = [
    "IdentitiesLike",
    "RecipientsLike",
    "decrypt",
    "decrypting_reader",
    "encrypt",
    "encrypting_writer",
    "parse_identity",
    "parse_recipient",
]

RecipientsLike = str | Recipient | Iterable[str | Recipient]
IdentitiesLike = str | Identity | Iterable[str | Identity]

_SCRYPT_TYPE = "scrypt"


def parse_recipient(text: str) -> X25519Recipient:
    """Parse a recipient string. Only native ``age1…`` X25519 recipients are supported.

    Raises:
        KeyFormatError: malformed or unsupported (post-quantum, plugin, SSH);
            the message never contains the string.
    """
    if not isinstance(text, str):
        raise KeyFormatError("invalid age recipient: expected a string")
    stripped = text.strip()
    if stripped.lower().startswith("age1pq1"):
        raise KeyFormatError("unsupported age recipient: post-quantum recipients")
    if stripped.startswith(("ssh-", "ecdsa-")):
        raise KeyFormatError("unsupported age recipient: SSH keys")
    return X25519Recipient.parse(stripped)


def parse_identity(text: str) -> X25519Identity:
    """Parse an identity string. Only native ``AGE-SECRET-KEY-1…`` identities are supported.

    Raises:
        KeyFormatError: malformed or unsupported (post-quantum, plugin); the
            message never contains the string.
    """
    if not isinstance(text, str):
        raise KeyFormatError("invalid age identity: expected a string")
    stripped = text.strip()
    upper = stripped.upper()
    if upper.startswith("AGE-SECRET-KEY-PQ-"):
        raise KeyFormatError("unsupported age identity: post-quantum identities")
    if upper.startswith("AGE-PLUGIN-"):
        raise KeyFormatError("unsupported age identity: plugin identities")
    return X25519Identity.parse(stripped)


def _recipients(recipients: RecipientsLike) -> list[Recipient]:
    """Normalise one or many recipients (strings are parsed) into a non-empty list."""
    items: Iterable[str | Recipient] = (
        [recipients] if isinstance(recipients, (str, Recipient)) else recipients
    )
    out: list[Recipient] = []
    for item in items:
        if isinstance(item, str):
            out.append(parse_recipient(item))
        elif isinstance(item, Recipient):
            out.append(item)
        else:
            raise TypeError(f"not an age recipient: {type(item).__name__}")
    if not out:
        raise InvalidRequest("at least one age recipient is required")
    return out


def _identities(identities: IdentitiesLike) -> list[Identity]:
    """Normalise one or many identities (strings are parsed) into a non-empty list."""
    items: Iterable[str | Identity] = (
        [identities] if isinstance(identities, (str, Identity)) else identities
    )
    out: list[Identity] = []
    for item in items:
        if isinstance(item, str):
            out.append(parse_identity(item))
        elif isinstance(item, Identity):
            out.append(item)
        else:
            raise TypeError(f"not an age identity: {type(item).__name__}")
    if not out:
        raise InvalidRequest("at least one age identity is required")
    return out


def _wrap(file_key: bytes, recipients: Sequence[Recipient]) -> list[Stanza]:
    """Collect every recipient's stanzas, enforcing that scrypt stands alone."""
    stanzas = [stanza for recipient in recipients for stanza in recipient.wrap(file_key)]
    if len(stanzas) > 1 and any(s.type == _SCRYPT_TYPE for s in stanzas):
        # A passphrase file must not be openable by anyone else, so age refuses mixing.
        raise InvalidRequest("a passphrase (scrypt) recipient must be the only recipient")
    return stanzas


def _unwrap(stanzas: Sequence[Stanza], identities: Sequence[Identity]) -> bytes:
    """Return the file key from the first identity that opens a stanza."""
    if len(stanzas) > 1 and any(s.type == _SCRYPT_TYPE for s in stanzas):
        raise HeaderError("malformed age header: a scrypt stanza must be the only stanza")
    for identity in identities:
        file_key = identity.unwrap(stanzas)
        if file_key is None:
            continue
        if len(file_key) != FILE_KEY_SIZE:
            raise HeaderError("age identity returned a file key of the wrong length")
        return file_key
    raise NoIdentityMatch("none of the given age identities can open this file")


def encrypting_writer(
    sink: ByteSink, recipients: RecipientsLike, *, close_sink: bool = False
) -> EncryptingWriter:
    """Start an age file in ``sink`` and return a writer for its plaintext.

    The header and payload nonce are written immediately; call
    :meth:`EncryptingWriter.close` (or leave a ``with`` block normally) to seal
    the final chunk. Memory use is one 64 KiB chunk.

    Args:
        sink: any object with ``write(bytes)``.
        recipients: one or more recipients, as objects or ``age1…`` strings.
        close_sink: also close ``sink`` when the writer is closed.

    Raises:
        KeyFormatError: a recipient string is malformed.
        InvalidRequest: no recipients, or a passphrase mixed with other recipients.
    """
    targets = _recipients(recipients)
    file_key = os.urandom(FILE_KEY_SIZE)
    header = encode_header(_wrap(file_key, targets), file_key)
    nonce = os.urandom(NONCE_SIZE)
    sink.write(header + nonce)
    return EncryptingWriter(sink, payload_key(file_key, nonce), close_sink=close_sink)


def decrypting_reader(
    source: ByteSource, identities: IdentitiesLike, *, close_source: bool = False
) -> DecryptingReader:
    """Open the age file in ``source`` and return a reader of its authenticated plaintext.

    The header is read and authenticated before this returns; the payload is
    decrypted chunk by chunk as it is read.

    Args:
        source: any object with ``read(n)``.
        identities: one or more identities, as objects or ``AGE-SECRET-KEY-1…`` strings.
        close_source: also close ``source`` when the reader is closed.

    Raises:
        KeyFormatError: an identity string is malformed.
        HeaderError: the header is malformed (or the payload nonce is missing).
        NoIdentityMatch: no identity opens any stanza.
        HeaderMacError: the header MAC does not verify.
    """
    ids = _identities(identities)
    buffered = BufferedSource(source)
    header = read_header(buffered)
    file_key = _unwrap(header.stanzas, ids)
    verify_header_mac(header, file_key)
    nonce = buffered.read_upto(NONCE_SIZE)
    if len(nonce) != NONCE_SIZE:
        raise HeaderError("age file is truncated: missing payload nonce")
    return DecryptingReader(
        buffered, payload_key(file_key, nonce), close_source=source if close_source else None
    )


def encrypt(plaintext: bytes, recipients: RecipientsLike) -> bytes:
    """Encrypt ``plaintext`` to ``recipients`` and return the age file."""
    out = io.BytesIO()
    with encrypting_writer(out, recipients) as writer:
        writer.write(plaintext)
    return out.getvalue()


def decrypt(ciphertext: bytes, identities: IdentitiesLike) -> bytes:
    """Decrypt a complete age file and return its plaintext.

    Raises:
        HeaderError, NoIdentityMatch, HeaderMacError, PayloadError: see
            :func:`decrypting_reader`; nothing is returned unless the whole
            payload authenticates.
    """
    with decrypting_reader(io.BytesIO(ciphertext), identities) as reader:
        return reader.read()
