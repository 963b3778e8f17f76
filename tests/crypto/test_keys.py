"""Key generation, parsing, printing and the secrecy of key material."""

from __future__ import annotations

import re

import pytest

from reasonkit_export.crypto import (
    Identity,
    Recipient,
    ScryptIdentity,
    ScryptRecipient,
    Stanza,
    X25519Identity,
    X25519Recipient,
    _bech32,
    _scrypt,
    decrypt,
    encrypt,
    generate_identity,
    parse_identity,
    parse_recipient,
)
from reasonkit_export.crypto._header import encode_header
from reasonkit_export.exceptions import (
    CryptoError,
    HeaderError,
    InvalidRequest,
    KeyFormatError,
    NoIdentityMatch,
)

# The identity used by the C2SP test vectors, and its recipient (as computed by age).
VECTOR_IDENTITY = "AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM0"


def _swap_last_char(text: str) -> str:
    """Change the final (checksum) character to another valid Bech32 character."""
    charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
    if text == text.upper():
        charset = charset.upper()
    return text[:-1] + (charset[0] if text[-1] != charset[0] else charset[1])


def test_generate_and_parse_round_trip() -> None:
    """A generated identity survives str() and parse(), and so does its recipient."""
    identity = generate_identity()
    secret = str(identity)
    assert secret.startswith("AGE-SECRET-KEY-1")
    assert secret == secret.upper()
    again = parse_identity(secret)
    assert str(again) == secret
    assert again.recipient == identity.recipient
    recipient = str(identity.recipient)
    assert recipient.startswith("age1")
    assert len(recipient) == 62
    assert parse_recipient(recipient) == identity.recipient
    assert X25519Recipient.parse(recipient) == identity.recipient
    assert X25519Identity.parse(secret).recipient == identity.recipient


def test_surrounding_whitespace_is_ignored() -> None:
    """Keys pasted with a trailing newline or spaces still parse."""
    identity = generate_identity()
    assert parse_identity(f"  {identity}\n").recipient == identity.recipient
    assert parse_recipient(f"{identity.recipient}\n") == identity.recipient


def test_lowercase_identity_is_accepted() -> None:
    """Bech32 is case-insensitive as long as the case is not mixed."""
    identity = parse_identity(VECTOR_IDENTITY.lower())
    assert str(identity) == VECTOR_IDENTITY


def test_keys_satisfy_protocols() -> None:
    """Key classes satisfy the runtime-checkable Recipient and Identity protocols."""
    identity = generate_identity()
    assert isinstance(identity, Identity)
    assert isinstance(identity.recipient, Recipient)
    assert isinstance(ScryptRecipient("pw", work_factor=10), Recipient)
    assert isinstance(ScryptIdentity("pw"), Identity)
    assert not isinstance("age1...", Recipient)


def test_fingerprint_is_short_stable_and_distinct() -> None:
    """The fingerprint is sha256:<16 hex>, equal for equal keys and different otherwise."""
    one, two = generate_identity(), generate_identity()
    fingerprint = one.recipient.fingerprint
    assert re.fullmatch(r"sha256:[0-9a-f]{16}", fingerprint)
    assert parse_recipient(str(one.recipient)).fingerprint == fingerprint
    assert two.recipient.fingerprint != fingerprint
    assert str(one) not in fingerprint


def test_bech32_round_trip_and_known_vector() -> None:
    """The Bech32 codec round-trips and accepts a BIP 173 reference string."""
    data = bytes(range(32))
    assert _bech32.decode(_bech32.encode("age", data)) == ("age", data)
    assert _bech32.decode("A12UEL5L") == ("a", b"")
    assert _bech32.decode("abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw")[0] == "abcdef"


BAD_KEY_CASES: dict[str, tuple[str, str]] = {
    # case id: (parser, reason the message must give)
    "identity-bad-checksum": ("identity", "bad checksum"),
    "recipient-bad-checksum": ("recipient", "bad checksum"),
    "identity-wrong-hrp": ("identity", "unexpected type prefix"),
    "recipient-wrong-hrp": ("recipient", "unexpected type prefix"),
    "identity-other-hrp": ("identity", "unexpected type prefix"),
    "identity-short": ("identity", "wrong key length"),
    "identity-long": ("identity", "wrong key length"),
    "recipient-short": ("recipient", "wrong key length"),
    "identity-mixed-case": ("identity", "mixed case"),
    "recipient-mixed-case": ("recipient", "mixed case"),
    "identity-invalid-char": ("identity", "invalid character"),
    "recipient-invalid-char": ("recipient", "invalid character"),
    "recipient-truncated": ("recipient", "bad checksum"),
    "identity-no-separator": ("identity", "missing separator"),
    "identity-empty": ("identity", "missing separator"),
    "recipient-empty": ("recipient", "missing separator"),
    "recipient-low-order": ("recipient", "low-order point"),
    "identity-pq": ("identity", "post-quantum"),
    "identity-plugin": ("identity", "plugin"),
    "recipient-pq": ("recipient", "post-quantum"),
    "recipient-ssh": ("recipient", "SSH"),
}


def _bad_key(case: str) -> str:
    """Build the malformed key for ``case`` from a freshly generated identity."""
    identity = generate_identity()
    secret, recipient = str(identity), str(identity.recipient)
    return {
        "identity-bad-checksum": _swap_last_char(secret),
        "recipient-bad-checksum": _swap_last_char(recipient),
        "identity-wrong-hrp": recipient,
        "recipient-wrong-hrp": secret,
        "identity-other-hrp": _bech32.encode("age-public-key-", bytes(32)).upper(),
        "identity-short": _bech32.encode("age-secret-key-", bytes(31)).upper(),
        "identity-long": _bech32.encode("age-secret-key-", bytes(33)).upper(),
        "recipient-short": _bech32.encode("age", bytes(range(1, 32))),
        "identity-mixed-case": secret[:20] + secret[20:].lower(),
        "recipient-mixed-case": recipient[:4] + recipient[4:].upper(),
        "identity-invalid-char": secret[:-5] + "B" + secret[-4:],
        "recipient-invalid-char": recipient[:-5] + "b" + recipient[-4:],
        "recipient-truncated": recipient[:-1],
        "identity-no-separator": "AGESECRETKEY",
        "identity-empty": "",
        "recipient-empty": "",
        "recipient-low-order": _bech32.encode("age", bytes(32)),
        "identity-pq": "AGE-SECRET-KEY-PQ-1" + secret[16:],
        "identity-plugin": "AGE-PLUGIN-YUBIKEY-1" + secret[16:],
        "recipient-pq": "age1pq1" + recipient[4:],
        "recipient-ssh": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI",
    }[case]


@pytest.mark.parametrize("case", sorted(BAD_KEY_CASES))
def test_malformed_keys_raise_key_format_error(case: str) -> None:
    """Malformed keys raise KeyFormatError naming the defect, never containing the key."""
    parser, reason = BAD_KEY_CASES[case]
    key = _bad_key(case)
    parse = parse_identity if parser == "identity" else parse_recipient
    with pytest.raises(KeyFormatError) as info:
        parse(key)
    message = str(info.value)
    assert reason in message
    assert f"age {parser}" in message
    assert message.startswith(("invalid age", "unsupported age"))
    if key:
        assert key not in message
        assert key.lower() not in message
        # Not even the data part (everything after the separator) leaks.
        assert key[-20:].lower() not in message.lower()
    assert isinstance(info.value, ValueError)
    assert info.value.__cause__ is None or key not in str(info.value.__cause__)


def test_bad_checksum_message() -> None:
    """A checksum error says so, in words that help an operator."""
    with pytest.raises(KeyFormatError, match="invalid age identity: bad checksum"):
        parse_identity(_swap_last_char(VECTOR_IDENTITY))


def test_non_string_keys_are_rejected() -> None:
    """Parsing something that is not a string is a KeyFormatError, not a crash."""
    with pytest.raises(KeyFormatError):
        parse_identity(42)  # type: ignore[arg-type]
    with pytest.raises(KeyFormatError):
        parse_recipient(None)  # type: ignore[arg-type]


def test_repr_hides_secrets() -> None:
    """repr() of identities shows the recipient only; passphrases never appear."""
    identity = parse_identity(VECTOR_IDENTITY)
    text = repr(identity)
    assert text == f"X25519Identity(recipient={str(identity.recipient)!r})"
    assert VECTOR_IDENTITY not in text
    assert VECTOR_IDENTITY.lower()[16:] not in text.lower()
    assert repr(identity.recipient) == f"X25519Recipient({str(identity.recipient)!r})"
    assert "hunter2" not in repr(ScryptRecipient("hunter2", work_factor=10))
    assert "hunter2" not in repr(ScryptIdentity("hunter2"))
    assert "work_factor=10" in repr(ScryptRecipient("hunter2", work_factor=10))
    assert "hunter2" not in repr([ScryptIdentity("hunter2")])


def test_errors_never_contain_secrets() -> None:
    """A failed decryption's message mentions neither passphrase nor identity."""
    data = encrypt(b"x", ScryptRecipient("right passphrase", work_factor=10))
    identity = generate_identity()
    with pytest.raises(NoIdentityMatch) as info:
        decrypt(data, [ScryptIdentity("wrong passphrase"), identity])
    assert "passphrase" not in str(info.value).replace("age identities", "")
    assert str(identity) not in str(info.value)


def test_scrypt_round_trip_with_small_work_factor() -> None:
    """A passphrase file decrypts with the passphrase and not with another."""
    data = encrypt(b"payload", ScryptRecipient("pw", work_factor=10))
    assert b"-> scrypt " in data
    assert b" 10\n" in data
    assert decrypt(data, ScryptIdentity("pw")) == b"payload"
    assert decrypt(data, ScryptIdentity(b"pw")) == b"payload"
    with pytest.raises(NoIdentityMatch):
        decrypt(data, ScryptIdentity("pW"))


def test_scrypt_default_work_factor_is_18() -> None:
    """The default encryption work factor is age's 18 and the decryption bound is 22."""
    assert ScryptRecipient("pw").work_factor == 18
    assert ScryptIdentity("pw").max_work_factor == 22


def test_scrypt_work_factor_above_max_refused_before_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A work factor above the identity's maximum is refused without running scrypt."""
    data = encrypt(b"payload", ScryptRecipient("pw", work_factor=10))

    def _no_scrypt(*_args: object) -> bytes:
        raise AssertionError("scrypt must not run")

    monkeypatch.setattr(_scrypt, "_derive", _no_scrypt)
    with pytest.raises(HeaderError, match="exceeds the maximum 9"):
        decrypt(data, ScryptIdentity("pw", max_work_factor=9))
    # An absurd work factor (2**40) in a crafted header is refused just as fast.
    file_key = bytes(16)
    header = encode_header(
        [Stanza("scrypt", ("AAAAAAAAAAAAAAAAAAAAAA", "40"), bytes(32))], file_key
    )
    with pytest.raises(HeaderError, match="exceeds the maximum 22"):
        decrypt(header + bytes(16 + 16), ScryptIdentity("pw"))


@pytest.mark.parametrize("work_factor", [0, -1, 31, True, 2.5])
def test_scrypt_work_factor_validated(work_factor: object) -> None:
    """Out-of-range or non-int work factors are refused as InvalidRequest."""
    with pytest.raises(InvalidRequest):
        ScryptRecipient("pw", work_factor=work_factor)  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest):
        ScryptIdentity("pw", max_work_factor=work_factor)  # type: ignore[arg-type]


def test_empty_passphrase_refused() -> None:
    """An empty passphrase is refused for encryption and decryption."""
    with pytest.raises(InvalidRequest):
        ScryptRecipient("")
    with pytest.raises(InvalidRequest):
        ScryptIdentity(b"")


def test_passphrase_type_checked() -> None:
    """A passphrase that is neither str nor bytes is a TypeError (not silently converted)."""
    with pytest.raises(TypeError):
        ScryptIdentity(16)  # type: ignore[arg-type]


def test_scrypt_must_be_alone_when_encrypting() -> None:
    """A passphrase recipient mixed with another recipient is refused."""
    with pytest.raises(InvalidRequest, match="only recipient"):
        encrypt(b"x", [ScryptRecipient("pw", work_factor=10), generate_identity().recipient])


def test_error_hierarchy() -> None:
    """Every crypto error is an ExportError via CryptoError; KeyFormatError is a ValueError."""
    assert issubclass(KeyFormatError, CryptoError)
    assert issubclass(KeyFormatError, ValueError)
