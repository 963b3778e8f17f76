"""Interoperability with rage (via pyrage), in both directions."""

from __future__ import annotations

import io

import pyrage
import pytest

from reasonkit_export.crypto import (
    CHUNK_SIZE,
    ScryptIdentity,
    ScryptRecipient,
    X25519Identity,
    decrypt,
    decrypting_reader,
    encrypt,
    encrypting_writer,
    parse_identity,
    parse_recipient,
)

from ._support import random_bytes

SIZES = [0, 1, 65535, 65536, 65537, 131072, 3 * 1024 * 1024, 7, 100_003, 262_145, 1_000_000]
# pyrage always encrypts passphrases at work factor 18 (one to several seconds,
# then as long again for us to decrypt), so that direction uses two sizes: the
# scrypt stanza is size-independent and the payload sizes are covered above.
PYRAGE_PASSPHRASE_SIZES = [0, 65537]
PASSPHRASE = "correct horse battery staple"


@pytest.fixture(scope="module")
def rage_identity() -> pyrage.x25519.Identity:
    """A rage-generated X25519 identity."""
    return pyrage.x25519.Identity.generate()


@pytest.fixture(scope="module")
def our_identity() -> X25519Identity:
    """One of our X25519 identities."""
    return X25519Identity.generate()


@pytest.mark.parametrize("size", SIZES)
def test_ours_to_rage_x25519(size: int, rage_identity: pyrage.x25519.Identity) -> None:
    """Files we encrypt to an X25519 recipient decrypt in rage."""
    plaintext = random_bytes(size, seed=size)
    recipient = parse_recipient(str(rage_identity.to_public()))
    assert pyrage.decrypt(encrypt(plaintext, recipient), [rage_identity]) == plaintext


@pytest.mark.parametrize("size", SIZES)
def test_rage_to_ours_x25519(size: int, our_identity: X25519Identity) -> None:
    """Files rage encrypts to our X25519 recipient decrypt with us, one-shot and streaming."""
    plaintext = random_bytes(size, seed=size)
    recipient = pyrage.x25519.Recipient.from_str(str(our_identity.recipient))
    ciphertext = pyrage.encrypt(plaintext, [recipient])
    assert decrypt(ciphertext, our_identity) == plaintext
    with decrypting_reader(io.BytesIO(ciphertext), str(our_identity)) as reader:
        parts = []
        while part := reader.read(CHUNK_SIZE - 1):
            parts.append(part)
    assert b"".join(parts) == plaintext


@pytest.mark.parametrize("size", SIZES)
def test_ours_to_rage_passphrase(size: int) -> None:
    """Files we encrypt to a passphrase decrypt with rage's passphrase mode."""
    plaintext = random_bytes(size, seed=size)
    ciphertext = encrypt(plaintext, ScryptRecipient(PASSPHRASE, work_factor=10))
    assert pyrage.passphrase.decrypt(ciphertext, PASSPHRASE) == plaintext


@pytest.mark.slow
@pytest.mark.parametrize("size", PYRAGE_PASSPHRASE_SIZES)
def test_rage_to_ours_passphrase(size: int) -> None:
    """Files rage encrypts to a passphrase decrypt with our ScryptIdentity."""
    plaintext = random_bytes(size, seed=size)
    ciphertext = pyrage.passphrase.encrypt(plaintext, PASSPHRASE)
    assert decrypt(ciphertext, ScryptIdentity(PASSPHRASE)) == plaintext


def test_keys_match_rage(rage_identity: pyrage.x25519.Identity) -> None:
    """Our Bech32 codec parses rage's keys and derives the same recipient, and vice versa."""
    ours = parse_identity(str(rage_identity))
    assert str(ours) == str(rage_identity)
    assert str(ours.recipient) == str(rage_identity.to_public())
    generated = X25519Identity.generate()
    theirs = pyrage.x25519.Identity.from_str(str(generated))
    assert str(theirs.to_public()) == str(generated.recipient)


def test_multiple_recipients_mixed_implementations(rage_identity: pyrage.x25519.Identity) -> None:
    """A file we encrypt to several recipients opens with each identity, in either tool."""
    ours = X25519Identity.generate()
    plaintext = random_bytes(70_000, seed=3)
    sink = io.BytesIO()
    with encrypting_writer(sink, [ours.recipient, str(rage_identity.to_public())]) as writer:
        writer.write(plaintext)
    ciphertext = sink.getvalue()
    assert pyrage.decrypt(ciphertext, [rage_identity]) == plaintext
    assert decrypt(ciphertext, ours) == plaintext
    assert pyrage.decrypt(ciphertext, [pyrage.x25519.Identity.from_str(str(ours))]) == plaintext
