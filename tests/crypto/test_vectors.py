"""The C2SP/CCTV age v1 test vectors (tests/data/age), run against our decoder."""

from __future__ import annotations

import hashlib
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from reasonkit_export.crypto import (
    Identity,
    ScryptIdentity,
    decrypt,
    generate_identity,
    parse_identity,
)
from reasonkit_export.exceptions import (
    CryptoError,
    HeaderError,
    HeaderMacError,
    NoIdentityMatch,
    PayloadError,
)

from ._support import stream_decrypt

VECTOR_DIR = Path(__file__).resolve().parent.parent / "data" / "age"
VECTORS = sorted(p for p in VECTOR_DIR.iterdir() if p.name != "README.md")

EXPECTED_ERRORS: dict[str, type[CryptoError]] = {
    "no match": NoIdentityMatch,
    "HMAC failure": HeaderMacError,
    "header failure": HeaderError,
    "payload failure": PayloadError,
}

# Every feature we deliberately do not implement, and why its vectors are skipped.
SKIP_REASONS: dict[str, str] = {
    "armor": "ASCII armor (armored: yes) is not implemented; exports are binary .age files",
    "post-quantum": (
        "hybrid post-quantum mlkem768x25519 recipients (AGE-SECRET-KEY-PQ-) are not implemented"
    ),
    "plugin": "age plugins (AGE-PLUGIN-) are not implemented",
}
# How many vectors each rule skips; a change in the vector set must be looked at.
EXPECTED_SKIPS = {"armor": 33, "post-quantum": 18}


@dataclass
class Vector:
    """One parsed test vector."""

    name: str
    fields: dict[str, str]
    identities: list[str] = field(default_factory=list)
    passphrases: list[str] = field(default_factory=list)
    body: bytes = b""

    @property
    def unsupported_feature(self) -> str | None:
        """The SKIP_REASONS key for a feature this vector needs and we lack, if any."""
        if self.fields.get("armored") == "yes":
            return "armor"
        if any(i.startswith("AGE-SECRET-KEY-PQ-") for i in self.identities):
            return "post-quantum"
        if any(i.startswith("AGE-PLUGIN-") for i in self.identities):
            return "plugin"
        return None


def load(path: Path) -> Vector:
    """Parse the ``key: value`` header, blank line, then (maybe zlib-compressed) age file."""
    raw = path.read_bytes()
    head, sep, body = raw.partition(b"\n\n")
    assert sep, f"{path.name}: no blank line after the vector header"
    vector = Vector(path.name, {})
    for line in head.decode("utf-8").splitlines():
        key, _, value = line.partition(": ")
        if key == "identity":
            vector.identities.append(value)
        elif key == "passphrase":
            vector.passphrases.append(value)
        else:
            vector.fields[key] = value
    if vector.fields.get("compressed") == "zlib":
        body = zlib.decompress(body)
    vector.body = body
    return vector


def identities_for(vector: Vector) -> list[Identity]:
    """Identities the vector lists; a fresh unrelated one when it lists none."""
    found: list[Identity] = [parse_identity(i) for i in vector.identities]
    found += [ScryptIdentity(p) for p in vector.passphrases]
    # A vector with no keys (e.g. "empty") must fail before any key is used.
    return found or [generate_identity()]


@pytest.mark.parametrize("path", VECTORS, ids=[p.name for p in VECTORS])
def test_vector(path: Path) -> None:
    """Each age test vector decrypts, or fails with the error kind it names."""
    vector = load(path)
    feature = vector.unsupported_feature
    if feature is not None:
        pytest.skip(SKIP_REASONS[feature])
    identities = identities_for(vector)
    expect = vector.fields["expect"]
    released, error = stream_decrypt(vector.body, identities)
    if expect == "success":
        assert error is None
        assert hashlib.sha256(released).hexdigest() == vector.fields["payload"]
        assert (
            hashlib.sha256(decrypt(vector.body, identities)).hexdigest()
            == (vector.fields["payload"])
        )
        return
    expected = EXPECTED_ERRORS[expect]
    assert isinstance(error, expected), f"expected {expected.__name__}, got {error!r}"
    if expect == "payload failure":
        # The vectors pin exactly what a streaming decoder may release before failing.
        assert hashlib.sha256(released).hexdigest() == vector.fields["payload"]
    else:
        assert released == b""
    with pytest.raises(expected):
        decrypt(vector.body, identities)


def test_vector_inventory() -> None:
    """All 143 vectors are present and every skip comes from a listed rule with a known count."""
    assert len(VECTORS) == 143
    assert (VECTOR_DIR / "README.md").read_text().find("C2SP") >= 0
    skips = Counter(f for f in (load(p).unsupported_feature for p in VECTORS) if f is not None)
    assert dict(skips) == EXPECTED_SKIPS
    assert set(skips) <= set(SKIP_REASONS)
    expects = {load(p).fields["expect"] for p in VECTORS if load(p).unsupported_feature is None}
    assert expects <= {"success", *EXPECTED_ERRORS}
