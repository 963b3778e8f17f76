"""Encryption at rest through the service: stored ciphertext, transparent downloads, rotation."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Callable
from typing import Any

import pyrage
import pytest

from reasonkit_export import ExportConfig, ExportError, ExportService, ExportStatus
from reasonkit_export.crypto import decrypt, generate_identity
from reasonkit_export.exceptions import NoIdentityMatch
from reasonkit_export.testing import StaticDataSource

Factory = Callable[..., ExportService]
MARKER = "Zoë-unique-plaintext-marker-Ω"


def _config(**kwargs: Any) -> ExportConfig:
    return ExportConfig(storage_backend="memory", rate_limit=None, **kwargs)


@pytest.fixture
def marked_sources() -> list[Any]:
    """A source whose records carry an unmistakable plaintext marker."""
    return [StaticDataSource("profile", [{"name": MARKER, "n": n} for n in range(200)])]


def _stored_bytes(service: ExportService, key: str) -> bytes:
    with service.storage.open_read(key) as handle:
        return handle.read()


def test_stored_artifact_is_ciphertext(make_service: Factory, marked_sources: list[Any]) -> None:
    """With an encryption key the stored file is age ciphertext without the plaintext."""
    identity = generate_identity()
    service = make_service(
        sources=marked_sources,
        config=_config(encryption_key=str(identity), compression_enabled=False),
    )
    job = service.process_export(service.create_export("alice", "json", ["profile"]).id)
    assert job.status is ExportStatus.COMPLETED
    assert job.encrypted is True
    assert job.recipient_fingerprint == identity.recipient.fingerprint
    assert str(identity) not in json.dumps(str(job))
    assert job.storage_key is not None
    stored = _stored_bytes(service, job.storage_key)
    assert stored.startswith(b"age-encryption.org/v1\n")
    assert MARKER.encode() not in stored
    # Operators can decrypt the stored file with standard age tooling.
    plaintext = pyrage.decrypt(stored, [pyrage.x25519.Identity.from_str(str(identity))])
    assert hashlib.sha256(plaintext).hexdigest() == job.sha256
    assert decrypt(stored, identity) == plaintext


def test_download_is_transparent_plaintext(
    make_service: Factory, marked_sources: list[Any]
) -> None:
    """open_download streams the decrypted artifact whose sha256 and size the job reports."""
    identity = generate_identity()
    service = make_service(sources=marked_sources, config=_config(encryption_key=str(identity)))
    job = service.process_export(service.create_export("alice", "json", ["profile"]).id)
    with service.open_download(job.id, user_id="alice") as download:
        data = download.read()
    assert len(data) == job.file_size == download.size
    assert hashlib.sha256(data).hexdigest() == job.sha256
    document = json.loads(gzip.decompress(data))
    assert document["categories"]["profile"]["records"][0]["name"] == MARKER


def test_encrypt_only_worker_and_decrypting_web(
    make_service: Factory, marked_sources: list[Any]
) -> None:
    """A worker with only the recipient encrypts; it cannot decrypt; the web tier can."""
    identity = generate_identity()
    worker = make_service(
        sources=marked_sources,
        config=_config(encryption_recipients=[str(identity.recipient)]),
    )
    job = worker.process_export(worker.create_export("alice", "json", ["profile"]).id)
    assert job.encrypted
    with pytest.raises(ExportError, match="holds no identity"):
        worker.open_download(job.id, user_id="alice")
    web = make_service(
        sources=marked_sources,
        repository=worker.repository,
        storage=worker.storage,
        config=_config(decryption_identities=[str(identity)]),
    )
    with web.open_download(job.id, user_id="alice") as download:
        assert hashlib.sha256(download.read()).hexdigest() == job.sha256


def test_rotation_keeps_old_exports_readable(
    make_service: Factory, marked_sources: list[Any]
) -> None:
    """After rotating the key, exports made under the old key still download."""
    old, new = generate_identity(), generate_identity()
    before = make_service(sources=marked_sources, config=_config(encryption_key=str(old)))
    old_job = before.process_export(before.create_export("alice", "json", ["profile"]).id)
    after = make_service(
        sources=marked_sources,
        repository=before.repository,
        storage=before.storage,
        config=_config(encryption_key=str(new), decryption_identities=[str(old)]),
    )
    new_job = after.process_export(after.create_export("bob", "json", ["profile"]).id)
    assert new_job.recipient_fingerprint == new.recipient.fingerprint
    for job, user in ((old_job, "alice"), (new_job, "bob")):
        with after.open_download(job.id, user_id=user) as download:
            assert hashlib.sha256(download.read()).hexdigest() == job.sha256


def test_wrong_identity_fails_clearly(make_service: Factory, marked_sources: list[Any]) -> None:
    """A service with a non-matching identity raises NoIdentityMatch, not garbage."""
    service = make_service(
        sources=marked_sources, config=_config(encryption_key=str(generate_identity()))
    )
    job = service.process_export(service.create_export("alice", "json", ["profile"]).id)
    stranger = make_service(
        sources=marked_sources,
        repository=service.repository,
        storage=service.storage,
        config=_config(encryption_key=str(generate_identity())),
    )
    with pytest.raises(NoIdentityMatch):
        stranger.open_download(job.id, user_id="alice")


def test_failed_encrypted_export_leaves_nothing(make_service: Factory) -> None:
    """An encrypted export whose source fails leaves no ciphertext behind."""
    from reasonkit_export.testing import FailingDataSource

    service = make_service(
        sources=[FailingDataSource("profile", fail_after=5000)],
        config=_config(encryption_key=str(generate_identity())),
    )
    job = service.process_export(service.create_export("alice", "json", ["profile"]).id)
    assert job.status is ExportStatus.FAILED
    assert [p for p in service.storage.fs.find("/") if str(job.id) in p] == []  # type: ignore[attr-defined]
