"""Split archives through the service: volumes stored, recorded, downloaded, cleaned up."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from typing import Any

import pytest

from reasonkit_export import ExportConfig, ExportService, ExportStatus, InvalidRequest
from reasonkit_export.crypto import generate_identity
from reasonkit_export.delivery import DestinationPolicy, StorageCopyDelivery
from reasonkit_export.formats import verify_archive
from reasonkit_export.testing import FrozenClock, StaticDataSource

Factory = Callable[..., ExportService]
RECORDS = [
    {
        "n": n,
        "text": "ü " + "".join(hashlib.sha256(f"{n}/{k}".encode()).hexdigest() for k in range(8)),
    }
    for n in range(6000)
]  # ~3 MB of JSON that deflates to about half: several 1 MiB volumes


def _config(**changes: Any) -> ExportConfig:
    options: dict[str, Any] = {
        "storage_backend": "memory",
        "rate_limit": None,
        "max_file_size_mb": 1,
        "split_archives": True,
        "compression_level": 1,
    }
    options.update(changes)
    return ExportConfig(**options)


def _records_in(data: bytes, part: int) -> list[dict[str, Any]]:
    archive = zipfile.ZipFile(io.BytesIO(data))
    document = json.loads(archive.read(f"data/history.part-{part}.json"))
    records: list[dict[str, Any]] = document["records"]
    return records


@pytest.mark.parametrize("encrypted", [False, True])
def test_large_zip_is_split_into_downloadable_volumes(
    make_service: Factory, encrypted: bool
) -> None:
    """Over the size cap, a ZIP export becomes several complete volumes, each downloadable."""
    keys = {"encryption_key": str(generate_identity())} if encrypted else {}
    service = make_service(sources=[StaticDataSource("history", RECORDS)], config=_config(**keys))
    job = service.process_export(service.create_export("alice", "zip", ["history"]).id)
    assert job.status is ExportStatus.COMPLETED, job.error
    assert len(job.parts) >= 2
    assert job.sha256 is None
    assert job.file_size == sum(part.size for part in job.parts)
    seen: list[dict[str, Any]] = []
    for part in job.parts:
        assert part.filename.endswith(f"-part-{part.number}-of-{len(job.parts)}.zip")
        with service.open_download(job.id, user_id="alice", part=part.number) as download:
            data = download.read()
        assert len(data) == part.size <= 1024 * 1024
        assert download.sha256 == part.sha256
        assert verify_archive(io.BytesIO(data)) == []
        seen.extend(_records_in(data, part.number))
    assert [r["n"] for r in seen] == [r["n"] for r in RECORDS]
    with pytest.raises(InvalidRequest, match="pass part"):
        service.open_download(job.id, user_id="alice")
    with pytest.raises(InvalidRequest):
        service.open_download(job.id, user_id="alice", part=len(job.parts) + 1)


def test_small_export_is_one_volume(make_service: Factory) -> None:
    """An export under the cap is a single volume with its own checksum."""
    service = make_service(sources=[StaticDataSource("history", RECORDS[:10])], config=_config())
    job = service.process_export(service.create_export("alice", "zip", ["history"]).id)
    assert len(job.parts) == 1
    assert job.sha256 == job.parts[0].sha256


def test_expiry_deletes_every_volume(make_service: Factory, clock: FrozenClock) -> None:
    """Expiring a split export removes all of its volumes."""
    service = make_service(sources=[StaticDataSource("history", RECORDS)], config=_config())
    job = service.process_export(service.create_export("alice", "zip", ["history"]).id)
    assert all(service.storage.exists(part.key) for part in job.parts)
    clock.advance(hours=25)
    assert [j.id for j in service.expire_exports()] == [job.id]
    assert not any(service.storage.exists(part.key) for part in job.parts)


def test_part_on_an_unsplit_export_is_refused(make_service: Factory) -> None:
    """Asking for a part of an ordinary export is an InvalidRequest."""
    service = make_service()
    job = service.process_export(service.create_export("alice", "json", ["profile"]).id)
    with pytest.raises(InvalidRequest, match="not split"):
        service.open_download(job.id, user_id="alice", part=1)


def test_split_exports_are_delivered_volume_by_volume(make_service: Factory, tmp_path: Any) -> None:
    """A copy delivery of a split export copies every volume."""
    import hashlib

    records = [
        {"n": n, "x": "".join(hashlib.sha256(f"{n}/{k}".encode()).hexdigest() for k in range(8))}
        for n in range(6000)
    ]
    service = make_service(
        sources=[StaticDataSource("history", records)],
        deliveries=[
            StorageCopyDelivery(str(tmp_path / "dest"), allow=DestinationPolicy.host_configured())
        ],
        config=ExportConfig(
            storage_backend="memory", max_file_size_mb=1, split_archives=True, rate_limit=None
        ),
    )
    job = service.process_export(service.create_export("alice", "zip", ["history"]).id)
    assert len(job.parts) >= 2
    assert job.delivery_results["copy"].startswith("ok: copied")
    copied = sorted(p.name for p in (tmp_path / "dest").iterdir())
    assert copied == sorted(part.filename for part in job.parts)
    assert job.download_url is None
