"""Host ergonomics: the public job view, integer user ids, case-insensitive names, key helpers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import pytest

from reasonkit_export import (
    ExportConfig,
    ExportService,
    InvalidRequest,
    generate_signing_key,
    job_view,
    load_identity,
    schedule_view,
)
from reasonkit_export._views import JOB_VIEW_FIELDS, SCHEDULE_VIEW_FIELDS
from reasonkit_export.crypto import generate_identity
from reasonkit_export.exceptions import KeyFormatError
from reasonkit_export.repositories import FileJobRepository
from reasonkit_export.testing import StaticDataSource

INTERNAL = ("storage_key", "version", "attempt", "lease_expires_at", "pending_notification")


def _service(tmp_path: Path | None = None, **config: Any) -> ExportService:
    sources = [
        StaticDataSource("profile", [{"name": "Ada"}]),
        StaticDataSource("billing", [{"invoice": 1}]),
    ]
    repository = FileJobRepository(tmp_path) if tmp_path is not None else None
    return ExportService(
        sources=sources,
        repository=repository,
        config=ExportConfig(storage_backend="memory", rate_limit=None, **config),
    )


def test_job_view_is_the_documented_allow_list() -> None:
    """job_view returns exactly the documented keys, JSON-ready, and no internal field."""
    service = _service(download_url_template="/exports/{job_id}/download")
    job = service.process_export(service.create_export("ada", "json", ["all"]).id)
    view = job_view(job)
    assert tuple(view) == JOB_VIEW_FIELDS
    assert json.loads(json.dumps(view)) == view
    for name in INTERNAL:
        assert name not in view
    assert view["id"] == str(job.id)
    assert view["status"] == "completed"
    assert view["download_url"] == f"/exports/{job.id}/download"
    assert view["filename"] == job.filename
    assert view["completed_at"] == job.completed_at.isoformat()  # type: ignore[union-attr]
    assert view["record_counts"] == {"profile": 1, "billing": 1}
    assert view["parts"] == []
    for name in JOB_VIEW_FIELDS:
        assert name in (job_view.__doc__ or ""), f"{name} is not documented"


def test_schedule_view_is_the_documented_allow_list() -> None:
    """schedule_view returns exactly the documented keys, JSON-ready, no version."""
    service = _service()
    schedule = service.schedule_export("ada", "0 3 * * *", "json", ["profile"])
    view = schedule_view(schedule)
    assert tuple(view) == SCHEDULE_VIEW_FIELDS
    assert json.loads(json.dumps(view)) == view
    assert "version" not in view
    assert "last_job_id" not in view


def test_integer_user_ids_are_their_decimal_string(tmp_path: Path) -> None:
    """42 and "42" are the same user, in the job, the history and the repository."""
    service = _service(tmp_path)
    job = service.create_export(42, "json", ["profile"])
    assert job.user_id == "42"
    assert [j.id for j in service.get_history("42")] == [job.id]
    assert [j.id for j in service.get_history(42)] == [job.id]
    assert service.get_status(job.id, user_id=42).id == job.id
    stored = json.loads((tmp_path / "jobs" / f"{job.id}.json").read_text("utf-8"))
    assert stored["user_id"] == "42"
    schedule = service.schedule_export(7, "0 3 * * *", "json", ["profile"])
    assert schedule.user_id == "7"
    with pytest.raises(InvalidRequest, match="user_id"):
        service.create_export(True, "json", ["profile"])


def test_format_and_category_names_are_case_insensitive() -> None:
    """format="JSON" and category "Profile" name the json format and the profile category."""
    service = _service()
    job = service.create_export("ada", "JSON", ["Profile", " BILLING "])
    assert job.format == "json"
    assert job.categories == ("profile", "billing")
    upper = ExportService(
        sources=[StaticDataSource("Orders", [{"id": 1}])],
        config=ExportConfig(storage_backend="memory"),
    )
    assert upper.categories == ("orders",)
    assert upper.create_export("ada", "Csv", ["ORDERS"]).categories == ("orders",)


def test_load_identity_reads_a_keygen_file(tmp_path: Path) -> None:
    """load_identity reads a keygen file (comments ignored) into a usable encryption_key."""
    identity = generate_identity()
    path = tmp_path / "key.txt"
    path.write_text(
        f"# created: today\n# public key: {identity.recipient}\n{identity}\n", encoding="utf-8"
    )
    assert load_identity(path) == str(identity)
    config = ExportConfig(storage_backend="memory", encryption_key=load_identity(path))
    assert config.encryption_enabled
    path.write_text("# nothing here\n", encoding="utf-8")
    with pytest.raises(InvalidRequest, match="exactly one identity, found 0"):
        load_identity(path)
    path.write_text("AGE-SECRET-KEY-1NOTAKEY\n", encoding="utf-8")
    with pytest.raises(KeyFormatError) as info:
        load_identity(path)
    assert "NOTAKEY" not in str(info.value)
    with pytest.raises(InvalidRequest, match="cannot read identity file"):
        load_identity(tmp_path / "absent.txt")


def test_generate_signing_key_signs_links() -> None:
    """generate_signing_key returns fresh keys that ExportConfig accepts and that sign tokens."""
    first, second = generate_signing_key(), generate_signing_key()
    assert first != second
    assert len(first) >= 43
    service = _service(signing_keys=[first])
    job = service.process_export(service.create_export("ada", "json", ["profile"]).id)
    token = service.create_download_token(job.id, user_id="ada")
    with service.open_download_by_token(token) as download:
        assert download.read()
    assert attrs.evolve(service.config, signing_keys=[second]).signing_keys == (second.encode(),)
