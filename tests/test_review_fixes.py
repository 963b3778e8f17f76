"""Regression tests for problems found in review (each named after the behaviour it guards)."""

from __future__ import annotations

import io
import struct
import threading
import time
import zipfile
from collections.abc import Callable
from datetime import datetime
from typing import Any

import attrs
import pytest

from reasonkit_export import (
    ExportConfig,
    ExportService,
    ExportStatus,
    InvalidRequest,
    NotificationEvent,
)
from reasonkit_export.delivery import DestinationPolicy, StorageCopyDelivery
from reasonkit_export.formats import verify_archive, write_csv_table
from reasonkit_export.storage import FsspecStorage
from reasonkit_export.testing import FrozenClock, RecordingNotifier, StaticDataSource

Factory = Callable[..., ExportService]


def test_csv_replaces_lone_surrogates_instead_of_failing(make_service: Factory) -> None:
    """A lone surrogate in a CSV value or key becomes U+FFFD; the export completes."""
    sink = io.BytesIO()
    write_csv_table([{"a": "x\ud800y", "\udc00": 1}], sink, bom=False)
    assert sink.getvalue().decode() == "a,\ufffd\r\nx\ufffdy,1\r\n"
    service = make_service(sources=[StaticDataSource("odd", [{"a": "x\ud800y"}])])
    for fmt in ("csv", "zip"):
        job = service.process_export(service.create_export(f"u-{fmt}", fmt, ["odd"]).id)
        assert job.status is ExportStatus.COMPLETED, job.error


def _archive_with_flag(flag_bits: int = 0, method: int | None = None) -> bytes:
    sink = io.BytesIO()
    with zipfile.ZipFile(sink, "w") as archive:
        archive.writestr("a.txt", b"hello")
        archive.writestr("manifest.json", b'{"schema_version": 1, "members": []}')
    data = bytearray(sink.getvalue())
    central = data.find(b"PK\x01\x02")
    local = 0
    flags = struct.unpack_from("<H", data, central + 8)[0] | flag_bits
    struct.pack_into("<H", data, central + 8, flags)
    struct.pack_into("<H", data, local + 6, flags)
    if method is not None:
        struct.pack_into("<H", data, central + 10, method)
        struct.pack_into("<H", data, local + 8, method)
    return bytes(data)


@pytest.mark.parametrize(("bits", "method"), [(0x1, None), (0, 99)])
def test_verify_archive_reports_unreadable_members(bits: int, method: int | None) -> None:
    """Encrypted or unknown-method members are reported as problems, never raised."""
    problems = verify_archive(io.BytesIO(_archive_with_flag(bits, method)))
    assert problems


def test_heartbeat_does_not_touch_a_finished_job(make_service: Factory) -> None:
    """A slow notifier outliving the lease leaves no lease and no queued notification."""

    class Slow(RecordingNotifier):
        def notify(self, job: Any, event: NotificationEvent) -> None:
            time.sleep(0.25)
            super().notify(job, event)

    notifier = Slow()
    service = make_service(
        notifier=notifier,
        clock=None,
        config=ExportConfig(storage_backend="memory", lease_seconds=0.06, rate_limit=None),
    )
    job = service.process_export(service.create_export("alice", "json", ["profile"]).id)
    time.sleep(0.1)
    final = service.get_job(job.id)
    assert final.status is ExportStatus.COMPLETED
    assert final.lease_expires_at is None
    assert final.pending_notification is None
    service.process_export(job.id)
    assert notifier.events(job.id) == [NotificationEvent.COMPLETED]
    assert threading.active_count() < 20


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


def test_recover_stale_sends_a_notification_a_dead_worker_owed(
    make_service: Factory, clock: FrozenClock, notifier: RecordingNotifier
) -> None:
    """recover_stale finishes the outbox of a completed job after one lease."""
    service = make_service()
    job = service.process_export(service.create_export("alice", "json", ["profile"]).id)
    service.repository.save(
        attrs.evolve(service.get_job(job.id), pending_notification=NotificationEvent.COMPLETED)
    )
    notifier.sent.clear()
    clock.advance(seconds=301)
    service.recover_stale()
    assert notifier.events(job.id) == [NotificationEvent.COMPLETED]
    assert service.get_job(job.id).pending_notification is None


def test_bad_argument_types_are_invalid_requests(service: ExportService) -> None:
    """Wrong types for categories, since and until raise InvalidRequest, not TypeError."""
    with pytest.raises(InvalidRequest):
        service.create_export("alice", "json", 123)  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest):
        service.create_export("alice", "json", ["profile"], since="2020-01-01")  # type: ignore[arg-type]
    job = service.create_export("alice", "json", ["profile"])
    with pytest.raises(InvalidRequest):
        service.extend_deadline(job.id, "busy", "2030-01-01")  # type: ignore[arg-type]


def test_naive_clock_is_refused(make_service: Factory) -> None:
    """A clock returning naive datetimes is an error, not silently local time."""
    service = make_service(clock=lambda: datetime(2025, 1, 1, 12))
    with pytest.raises(InvalidRequest, match="naive"):
        service.create_export("alice", "json", ["profile"])


def test_s3_links_longer_than_a_week_need_a_template() -> None:
    """Presigned S3 links last at most 7 days, so longer expiry needs a template."""
    with pytest.raises(InvalidRequest, match="168"):
        ExportConfig(storage_backend="s3", s3_bucket="b", link_expiry_hours=200)
    ExportConfig(
        storage_backend="s3",
        s3_bucket="b",
        link_expiry_hours=200,
        download_url_template="https://app.example/e/{job_id}",
    )


def test_storage_repr_hides_credentials() -> None:
    """User info and query strings of a storage URL never appear in repr."""
    storage = FsspecStorage("memory://user:secret@root/x?token=abc")
    assert "secret" not in repr(storage)
    assert "abc" not in repr(storage)


def test_concurrent_requests_respect_the_active_limit(service: ExportService) -> None:
    """Eight threads asking at once for different exports get exactly one created."""
    from reasonkit_export import RateLimitExceeded

    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def ask(n: int) -> None:
        barrier.wait()
        try:
            service.create_export("alice", "json", ["profile"] if n % 2 else ["reasoning_history"])
            outcomes.append("created")
        except RateLimitExceeded:
            outcomes.append("limited")

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(service.get_history("alice")) == 1
    assert outcomes.count("limited") >= 4
