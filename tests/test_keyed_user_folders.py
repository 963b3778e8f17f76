"""User folders in the file repository are keyed (HMAC) with a signing key; old ones still read."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from pathlib import Path

from reasonkit_export import ExportConfig, ExportJob, ExportService
from reasonkit_export.repositories import FileJobRepository
from reasonkit_export.testing import FrozenClock, StaticDataSource

T0 = datetime(2025, 6, 1, 9, 30, tzinfo=UTC)
KEY_A = b"a" * 32
KEY_B = b"b" * 32


def job(user: str, minutes: int = 0) -> ExportJob:
    """A pending job of ``user`` created ``minutes`` after T0."""
    return ExportJob(
        user_id=user,
        format="json",
        categories=("profile",),
        created_at=T0 + timedelta(minutes=minutes),
    )


def folders(root: Path) -> set[str]:
    """The user folder names of a repository."""
    return {p.name for p in (root / "users").iterdir()}


def test_folder_names_are_keyed(tmp_path: Path) -> None:
    """With a key, the folder is an HMAC of the user id, not its plain SHA-256."""
    repo = FileJobRepository(tmp_path, signing_keys=[KEY_A])
    repo.add(job("alice"))
    (name,) = folders(tmp_path)
    assert name != hashlib.sha256(b"alice").hexdigest()[:32]
    assert len(name) == 32
    assert name not in {hmac.new(KEY_A, b"alice", hashlib.sha256).hexdigest()[:32]}
    other = tmp_path / "other"
    FileJobRepository(other, signing_keys=[KEY_B]).add(job("alice"))
    assert folders(other) != {name}  # a different key, a different name


def test_unkeyed_folders_stay_readable_and_migrate(tmp_path: Path) -> None:
    """Jobs written without a key are listed with a key; the next add moves them over."""
    old = FileJobRepository(tmp_path)
    first = old.add(job("alice", 0))
    legacy = folders(tmp_path)
    assert legacy == {hashlib.sha256(b"alice").hexdigest()[:32]}
    keyed = FileJobRepository(tmp_path, signing_keys=[KEY_A])
    assert [j.id for j in keyed.list_for_user("alice")] == [first.id]
    second = keyed.add(job("alice", 1))
    assert [j.id for j in keyed.list_for_user("alice")] == [second.id, first.id]
    assert len(folders(tmp_path)) == 1
    assert folders(tmp_path) != legacy


def test_rotated_keys_keep_history(tmp_path: Path) -> None:
    """After prepending a new key, jobs filed under the old key are still listed."""
    first = FileJobRepository(tmp_path, signing_keys=[KEY_A]).add(job("bob", 0))
    rotated = FileJobRepository(tmp_path, signing_keys=[KEY_B, KEY_A])
    assert [j.id for j in rotated.list_for_user("bob")] == [first.id]
    second = rotated.add(job("bob", 1))
    assert [j.id for j in rotated.list_for_user("bob")] == [second.id, first.id]
    assert [
        j.id for j in FileJobRepository(tmp_path, signing_keys=[KEY_B]).list_for_user("bob")
    ] == [
        second.id,
        first.id,
    ]


def test_embedded_default_keys_folders_with_the_signing_key(tmp_path: Path) -> None:
    """from_config passes ExportConfig.signing_keys, so no plain user hash is on disk."""
    service = ExportService.from_config(
        ExportConfig(local_path=str(tmp_path), signing_keys=[KEY_A], rate_limit=None),
        sources=[StaticDataSource("profile", [{"a": 1}])],
        clock=FrozenClock(T0),
    )
    created = service.create_export("carol", "json", ["profile"])
    assert hashlib.sha256(b"carol").hexdigest()[:32] not in folders(tmp_path / "jobs")
    assert [j.id for j in service.get_history("carol")] == [created.id]
