"""Signed download links: HMAC tokens bound to job, user, purpose and expiry."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import timedelta

import pytest

from reasonkit_export import ExportConfig, ExportExpired, ExportService, InvalidRequest
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


def _fields(job: object) -> dict[str, object]:
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
    clock.advance(hours=24) - timedelta(seconds=1)
    clock.advance(seconds=-1)
    with signed.open_download_by_token(token) as download:
        assert download.read()
