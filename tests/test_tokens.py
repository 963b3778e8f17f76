"""Signed download links: HMAC tokens bound to job, user, purpose and expiry."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from reasonkit_export import ExportConfig, ExportExpired, ExportService, InvalidRequest
from reasonkit_export._tokens import TokenSigner
from reasonkit_export.exceptions import ExportNotReady, InvalidToken
from reasonkit_export.testing import FrozenClock

Factory = Callable[..., ExportService]
KEY_A = "a" * 32
KEY_B = "b" * 40


def _config(*keys: str, template: str | None = None) -> ExportConfig:
    return ExportConfig(
        storage_backend="memory",
        signing_keys=list(keys),
        download_url_template=template,
        rate_limit=None,
    )


@pytest.fixture
def signed(make_service: Factory) -> ExportService:
    """A service whose download URLs carry signed tokens."""
    return make_service(config=_config(KEY_A, template="https://app.example/d/{job_id}?t={token}"))


def _completed(service: ExportService, user: str = "alice") -> str:
    job = service.create_export(user, "json", ["profile"])
    done = service.process_export(job.id)
    return str(done.id)


def test_download_url_carries_a_working_token(signed: ExportService) -> None:
    """The completed job's download_url holds a token that opens the export."""
    job_id = _completed(signed)
    job = signed.get_job(job_id)
    assert job.download_url is not None
    token = job.download_url.split("?t=", 1)[1]
    with signed.open_download_by_token(token) as download:
        assert download.sha256 == job.sha256
        assert len(download.read()) == job.file_size


def test_token_hides_the_user_id(signed: ExportService) -> None:
    """A token (which lands in logs) does not contain the user id in any form."""
    token = signed.create_download_token(
        _completed(signed, "alice@example.org"), user_id="alice@example.org"
    )
    payload = base64.urlsafe_b64decode(token.split(".")[0] + "==")
    assert b"alice" not in payload
    assert "alice" not in token


def test_create_token_is_owner_checked(signed: ExportService) -> None:
    """Only the owner can mint a token for their job."""
    from reasonkit_export import ExportNotFound

    job_id = _completed(signed)
    with pytest.raises(ExportNotFound):
        signed.create_download_token(job_id, user_id="mallory")


def test_tampered_tokens_are_rejected(signed: ExportService) -> None:
    """Any change to the payload or signature makes the token invalid."""
    token = signed.create_download_token(_completed(signed), user_id="alice")
    body, signature = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=="))
    payload["exp"] += 3600
    forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    for bad in (f"{forged}.{signature}", f"{body}.{flipped}", "garbage", "", "a.b.c", token + "x"):
        with pytest.raises(InvalidToken):
            signed.open_download_by_token(bad)


def test_expired_token_is_rejected(signed: ExportService, clock: FrozenClock) -> None:
    """A genuine token past the link expiry raises ExportExpired (410), not InvalidToken."""
    job_id = _completed(signed)
    token = signed.create_download_token(job_id, user_id="alice")
    clock.advance(hours=24)
    with pytest.raises(ExportExpired, match="expired") as info:
        signed.open_download_by_token(token)
    assert not isinstance(info.value, InvalidToken)
    assert str(info.value.job_id) == str(job_id)


def test_future_dated_token_is_rejected(signed: ExportService, clock: FrozenClock) -> None:
    """A token issued in the future (beyond clock skew) is refused."""
    job_id = _completed(signed)
    clock.advance(hours=1)
    token = signed.create_download_token(job_id, user_id="alice")
    clock.advance(hours=-1)
    with pytest.raises(InvalidToken, match="future"):
        signed.open_download_by_token(token)


def test_rotation_old_key_verifies_until_removed(
    make_service: Factory, signed: ExportService
) -> None:
    """After rotation tokens of the old key still verify; once it is removed they fail."""
    token = signed.create_download_token(_completed(signed), user_id="alice")
    rotated = make_service(
        config=_config(KEY_B, KEY_A), repository=signed.repository, storage=signed.storage
    )
    with rotated.open_download_by_token(token) as download:
        assert download.read()
    assert (
        rotated.create_download_token(signed.get_job(token_job(token)).id, user_id="alice") != token
    )
    removed = make_service(
        config=_config(KEY_B), repository=signed.repository, storage=signed.storage
    )
    with pytest.raises(InvalidToken, match="signature"):
        removed.open_download_by_token(token)


def token_job(token: str) -> str:
    """The job id a token names (test helper)."""
    payload = json.loads(base64.urlsafe_b64decode(token.split(".", maxsplit=1)[0] + "=="))
    return str(payload["j"])


def test_token_for_expired_job_is_refused(signed: ExportService) -> None:
    """A valid token for a job that is no longer completed does not download."""
    job_id = _completed(signed)
    token = signed.create_download_token(job_id, user_id="alice")
    job = signed.get_job(job_id)
    assert job.expires_at is not None
    signed.repository.save(job.__class__(**{**_fields(job), "expires_at": job.created_at}))
    with pytest.raises(ExportExpired):
        signed.open_download_by_token(token)


def _fields(job: object) -> dict[str, Any]:
    import attrs

    return attrs.asdict(job, recurse=False)  # type: ignore[arg-type]


def test_token_for_unfinished_job_cannot_be_minted(signed: ExportService) -> None:
    """Tokens are only minted for completed exports."""
    job = signed.create_export("alice", "json", ["profile"])
    with pytest.raises(ExportNotReady):
        signed.create_download_token(job.id, user_id="alice")


def test_short_keys_and_missing_keys_are_refused(make_service: Factory) -> None:
    """Keys under 32 bytes are refused, and tokens need keys."""
    with pytest.raises(InvalidRequest, match="at least 32"):
        ExportConfig(signing_keys=["short"])
    with pytest.raises(InvalidRequest, match="token"):
        ExportConfig(download_url_template="https://x/{job_id}/{token}")
    service = make_service()
    with pytest.raises(InvalidRequest):
        service.create_download_token(_completed(service), user_id="alice")
    with pytest.raises(InvalidToken):
        service.open_download_by_token("x.y")


def test_keys_never_in_repr() -> None:
    """Signing keys do not appear in the config's repr."""
    assert KEY_A not in repr(_config(KEY_A))
    assert "aaaa" not in repr(_config(KEY_A))


def test_link_expiry_bounds_the_token(signed: ExportService, clock: FrozenClock) -> None:
    """A token works just before the job's expiry."""
    token = signed.create_download_token(_completed(signed), user_id="alice")
    clock.advance(hours=24)
    clock.advance(seconds=-1)
    with signed.open_download_by_token(token) as download:
        assert download.read()
    clock.advance(seconds=1)
    with pytest.raises(ExportExpired, match="expired"):
        signed.open_download_by_token(token)


# --- TokenSigner on its own: format guard, strict decoding, one spelling ---

NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
MALFORMED = "malformed download token"
WRONG_KIND = "download token has the wrong version or purpose"
JOB = UUID("12345678-1234-5678-1234-567812345678")
SIGNER = TokenSigner([KEY_A.encode()])


def _token(**overrides: datetime) -> str:
    times = {"issued_at": NOW, "expires_at": NOW + timedelta(hours=1), **overrides}
    return SIGNER.sign(job_id=JOB, user_id="alice", **times)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _signed_payload(payload: object, key: str = KEY_A) -> str:
    """A token whose signature is correct for an arbitrary JSON payload."""
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    signature = hmac.new(key.encode(), body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(signature)}"


def _payload(**changes: object) -> dict[str, object]:
    payload: dict[str, object] = {
        "v": 1,
        "p": "download",
        "j": str(JOB),
        "u": SIGNER.user_digest("alice"),
        "iat": int(NOW.timestamp()),
        "exp": int(NOW.timestamp()) + 3600,
    }
    payload.update(changes)
    return payload


def test_signer_round_trip_states_the_claims() -> None:
    """A fresh token verifies to the job, issue time, expiry and user it was signed for."""
    claims = SIGNER.verify(_token(), now=NOW)
    assert claims.job_id == JOB
    assert claims.issued_at == NOW
    assert claims.expires_at == NOW + timedelta(hours=1)
    assert claims.user_digest == f"0:{SIGNER.user_digest('alice')}"
    assert SIGNER.matches_user(claims, "alice")
    assert not SIGNER.matches_user(claims, "bob")


# Signed with KEY_A for JOB and "alice", issued at NOW, expiring an hour later.
KNOWN_TOKEN = (
    "eyJleHAiOjE3MzU3MzY0MDAsImlhdCI6MTczNTczMjgwMCwiaiI6IjEyMzQ1Njc4LTEyMzQtNTY3OC0xMjM0LTU2"
    "NzgxMjM0NTY3OCIsInAiOiJkb3dubG9hZCIsInUiOiJkNDM4YjcyMWVlYjI2NjZiZTE3ZDUxN2QzODk1ZjNhYSIs"
    "InYiOjF9.1eK5ySIGWlaLb1dRYIVlKpuUYTtZt2zHc_EXOVOKeUw"
)


def test_token_format_is_stable_across_releases() -> None:
    """A token minted by an earlier release still verifies, and signing gives the same text."""
    assert _token() == KNOWN_TOKEN
    claims = SIGNER.verify(KNOWN_TOKEN, now=NOW)
    assert claims.job_id == JOB
    assert claims.expires_at == NOW + timedelta(hours=1)
    assert SIGNER.matches_user(claims, "alice")


def test_user_digest_is_the_documented_keyed_hash() -> None:
    """The user digest is HMAC-SHA-256(key, "user\\0" + id), hex, truncated to 32 characters."""
    expected = hmac.new(KEY_A.encode(), b"user\x00alice", hashlib.sha256).hexdigest()[:32]
    assert SIGNER.user_digest("alice") == expected
    assert len(expected) == 32


def test_hand_built_payload_verifies() -> None:
    """The test's own signing helper builds tokens the signer accepts (guards the tests below)."""
    claims = SIGNER.verify(_signed_payload(_payload()), now=NOW)
    assert claims.job_id == JOB


@pytest.mark.parametrize(
    "bad",
    [None, b"a.b", 12, ["a", "b"], "a" * 2000 + "." + "b" * 48, "", "ab", "a.b.c", "..", "a..b"],
    ids=[
        "none",
        "bytes",
        "int",
        "list",
        "2049-chars",
        "empty",
        "no-dot",
        "two-dots",
        "only-dots",
        "adjacent-dots",
    ],
)
def test_format_guard_refuses_malformed_input_with_invalid_token(bad: object) -> None:
    """Non-strings, tokens over 2,048 characters and anything but exactly one dot are malformed."""
    with pytest.raises(InvalidToken, match=r"^malformed download token$"):
        SIGNER.verify(bad, now=NOW)  # type: ignore[arg-type]


def test_length_limit_is_2048_characters() -> None:
    """A correctly signed token of exactly 2,048 characters verifies; a longer one is malformed."""
    by_length = {len(_signed_payload(_payload(pad="x" * n))): n for n in range(1300, 1400)}
    exact = _signed_payload(_payload(pad="x" * by_length[2048]))
    assert len(exact) == 2048
    assert SIGNER.verify(exact, now=NOW).job_id == JOB
    longer = _signed_payload(_payload(pad="x" * (by_length[2048] + 1)))
    assert len(longer) > 2048
    with pytest.raises(InvalidToken, match=r"^malformed download token$"):
        SIGNER.verify(longer, now=NOW)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("!!!.x", "malformed"),
        ("e30.!!!", "malformed"),
        ("e30.AAAAA", "malformed"),  # five characters: no bytes have that length
        ("bm90IGpzb24.AAAA", "malformed"),  # "not json"
        ("_w.AAAA", "malformed"),  # b"\xff" is not UTF-8
    ],
    ids=["bad-body", "bad-signature", "impossible-length", "not-json", "not-utf8"],
)
def test_undecodable_parts_are_malformed(bad: str, message: str) -> None:
    """Bad base64, JSON or UTF-8 in either part is InvalidToken, never another exception."""
    with pytest.raises(InvalidToken, match=rf"^{message} download token$"):
        SIGNER.verify(bad, now=NOW)


@pytest.mark.parametrize(
    "suffix",
    ["=", "==", "!!!!", " ", "\n", "+", "/", "A"],
    ids=["pad", "pad2", "bangs", "space", "newline", "plus", "slash", "letter"],
)
def test_appended_characters_are_refused(suffix: str) -> None:
    """A valid token with padding, junk or an extra letter appended does not verify."""
    with pytest.raises(InvalidToken):
        SIGNER.verify(_token() + suffix, now=NOW)


def test_junk_spliced_into_the_signature_is_refused() -> None:
    """Characters outside base64url inside the signature make the token malformed."""
    token = _token()
    body, signature = token.split(".")
    for junk in ("!", "=", " ", "*", "+", "/", "\u00e9"):
        spliced = f"{body}.{signature[:10]}{junk}{signature[10:]}"
        with pytest.raises(InvalidToken, match="malformed"):
            SIGNER.verify(spliced, now=NOW)


def test_signature_has_one_spelling() -> None:
    """The unused low bits of the signature's last character cannot be set."""
    token = _token()
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    others = [token[:-1] + c for c in alphabet if c != token[-1]]
    for other in others:
        with pytest.raises(InvalidToken):
            SIGNER.verify(other, now=NOW)


_EDIT_TEXT = st.text(
    st.sampled_from(list("Aa0-_=.+/ !\n")) | st.characters(codec="utf-8"), min_size=1, max_size=8
)


@given(
    kind=st.sampled_from(["replace", "insert", "delete", "append", "prepend"]),
    where=st.integers(0, 10**6),
    text=_EDIT_TEXT,
)
@example(kind="append", where=0, text="=")
@example(kind="append", where=0, text="!!!!")
@example(kind="insert", where=10**6, text="!")  # junk spliced near the end of the signature
@example(kind="replace", where=10**6, text="A")  # unused trailing bits of the signature
@example(kind="replace", where=10**6, text="B")
def test_any_change_to_a_valid_token_is_rejected(kind: str, where: int, text: str) -> None:
    """Every text other than the token itself is refused, as malformed or as a bad signature."""
    token = _token()
    position = where % len(token)
    if where == 10**6:
        position = len(token) - 1
    if kind == "replace":
        mutated = token[:position] + text + token[position + 1 :]
    elif kind == "insert":
        mutated = token[:position] + text + token[position:]
    elif kind == "delete":
        mutated = token[:position] + token[position + len(text) :]
    elif kind == "append":
        mutated = token + text
    else:
        mutated = text + token
    if mutated == token:
        return
    with pytest.raises(InvalidToken) as caught:
        SIGNER.verify(mutated, now=NOW)
    assert str(caught.value) == _expected_refusal(mutated)


def _canonical_b64url(part: str) -> bool:
    """Whether ``part`` is the one unpadded base64url spelling of some bytes (test oracle)."""
    if re.fullmatch(r"[A-Za-z0-9_-]*", part) is None or len(part) % 4 == 1:
        return False
    return _b64(base64.urlsafe_b64decode(part + "==")) == part


def _expected_refusal(text: str) -> str:
    """The error a changed token must get: malformed unless it is well formed (test oracle)."""
    malformed = "malformed download token"
    if len(text) > 2048 or text.count(".") != 1:
        return malformed
    body, signature = text.split(".")
    if not (_canonical_b64url(body) and _canonical_b64url(signature)):
        return malformed
    try:
        json.loads(base64.urlsafe_b64decode(body + "=="))
    except ValueError:
        return malformed
    return "download token signature does not verify"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"v": 2}, WRONG_KIND),
        ({"v": 0}, WRONG_KIND),
        ({"p": "upload"}, WRONG_KIND),
        ({"p": "Download"}, WRONG_KIND),
        ({"j": "not-a-uuid"}, MALFORMED),
        ({"iat": "soon"}, MALFORMED),
        ({"exp": None}, MALFORMED),
    ],
    ids=["v2", "v0", "upload", "capitalised", "bad-job", "bad-iat", "null-exp"],
)
def test_correctly_signed_token_of_another_purpose_or_version_is_refused(
    changes: dict[str, object], message: str
) -> None:
    """A token with a valid signature but the wrong version, purpose or claims is refused."""
    with pytest.raises(InvalidToken) as caught:
        SIGNER.verify(_signed_payload(_payload(**changes)), now=NOW)
    assert str(caught.value) == message


@pytest.mark.parametrize("missing", ["v", "p", "j", "u", "iat", "exp"])
def test_correctly_signed_token_missing_a_claim_is_malformed(missing: str) -> None:
    """Every claim is required; a signed payload without one is malformed."""
    payload = _payload()
    del payload[missing]
    with pytest.raises(InvalidToken, match=r"^malformed download token$"):
        SIGNER.verify(_signed_payload(payload), now=NOW)


def test_signed_non_object_payload_is_malformed() -> None:
    """A correctly signed JSON array is malformed, not a crash."""
    with pytest.raises(InvalidToken, match=r"^malformed download token$"):
        SIGNER.verify(_signed_payload([1, 2]), now=NOW)


def test_token_of_another_key_does_not_verify() -> None:
    """A well-formed token signed with an unconfigured key fails on its signature."""
    with pytest.raises(InvalidToken, match=r"^download token signature does not verify$"):
        SIGNER.verify(_signed_payload(_payload(), key=KEY_B), now=NOW)


def test_expiry_and_clock_skew_boundaries() -> None:
    """Valid until the instant before expiry; issue times up to two minutes ahead are tolerated."""
    token = _token()
    assert SIGNER.verify(token, now=NOW + timedelta(hours=1, seconds=-1))
    with pytest.raises(ExportExpired, match=r"^export [0-9a-f-]{36} has expired$"):
        SIGNER.verify(token, now=NOW + timedelta(hours=1))
    assert SIGNER.verify(token, now=NOW - timedelta(minutes=2))
    with pytest.raises(InvalidToken, match=r"^download token is dated in the future$"):
        SIGNER.verify(token, now=NOW - timedelta(minutes=2, seconds=1))


def test_rotated_signer_reports_the_verifying_key_and_user() -> None:
    """With two keys, tokens of either verify, and the user check uses the key that signed."""
    old = TokenSigner([KEY_A.encode()])
    new = TokenSigner([KEY_B.encode(), KEY_A.encode()])
    old_claims = new.verify(
        old.sign(job_id=JOB, user_id="alice", issued_at=NOW, expires_at=NOW + timedelta(hours=1)),
        now=NOW,
    )
    new_claims = new.verify(
        new.sign(job_id=JOB, user_id="alice", issued_at=NOW, expires_at=NOW + timedelta(hours=1)),
        now=NOW,
    )
    assert old_claims.user_digest.startswith("1:")
    assert new_claims.user_digest.startswith("0:")
    assert new.matches_user(old_claims, "alice")
    assert new.matches_user(new_claims, "alice")
    assert not new.matches_user(old_claims, "bob")
    assert old.user_digest("alice") != new.user_digest("alice")
    assert new.user_digest("alice", KEY_A.encode()) == old.user_digest("alice")


def test_signer_needs_a_key_and_hides_it() -> None:
    """No keys is InvalidRequest; repr shows how many keys, never the keys."""
    with pytest.raises(
        InvalidRequest, match=r"^signed download links need at least one signing key$"
    ):
        TokenSigner([])
    assert repr(TokenSigner([KEY_A.encode(), KEY_B.encode()])) == "TokenSigner(<2 keys>)"


def test_token_is_compact_json_without_padding() -> None:
    """A token is two unpadded base64url parts; the payload holds exactly the documented claims."""
    token = _token()
    body, signature = token.split(".")
    assert "=" not in token
    assert len(signature) == 43
    payload = json.loads(base64.urlsafe_b64decode(body + "=="))
    assert payload == _payload()
    assert (
        base64.urlsafe_b64decode(body + "==")
        == json.dumps(_payload(), separators=(",", ":"), sort_keys=True).encode()
    )


def test_normalize_keys_checks_each_key_length() -> None:
    """Keys are bytes of at least 32; the error names the short key's index and size."""
    from reasonkit_export._tokens import normalize_keys

    assert normalize_keys(["k" * 32, b"b" * 33]) == (b"k" * 32, b"b" * 33)
    with pytest.raises(InvalidRequest, match=r"signing_keys\[1\] is 31 bytes; at least 32"):
        normalize_keys(["k" * 32, "s" * 31])
    # The limit counts bytes, not characters.
    assert normalize_keys(["é" * 16]) == (("é" * 16).encode(),)
    with pytest.raises(InvalidRequest, match=r"signing_keys\[0\] is 31 bytes"):
        normalize_keys(["é" * 15 + "a"])
