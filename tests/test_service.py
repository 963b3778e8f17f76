"""End-to-end behaviour of ExportService, through the public API only."""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest

from reasonkit_export import (
    Category,
    ExportConfig,
    ExportError,
    ExportExpired,
    ExportFormat,
    ExportNotFound,
    ExportNotReady,
    ExportService,
    ExportStatus,
    InvalidRequest,
    NotificationEvent,
    RateLimit,
    RateLimitExceeded,
)
from reasonkit_export.storage import FsspecStorage
from reasonkit_export.testing import (
    FailingDataSource,
    FrozenClock,
    RecordingNotifier,
    StaticDataSource,
)
from tests.conftest import HISTORY, PROFILE, T0

Factory = Callable[..., ExportService]


def _download_json(service: ExportService, job_id: Any, user: str) -> dict[str, Any]:
    with service.open_download(job_id, user_id=user) as download:
        raw = download.read()
        assert hashlib.sha256(raw).hexdigest() == download.sha256
        assert len(raw) == download.size
    if download.media_type == "application/gzip":
        raw = gzip.decompress(raw)
    document: dict[str, Any] = json.loads(raw)
    return document


def _files_of(storage: FsspecStorage, job_id: Any) -> list[str]:
    """Every file (finished or temporary) the storage holds for a job."""
    return [path for path in storage.fs.find("/") if str(job_id) in path]


def test_json_export_end_to_end(service: ExportService, notifier: RecordingNotifier) -> None:
    """A JSON export goes pending → processing → completed and downloads intact."""
    job = service.create_export("alice", "json", ["profile", "reasoning_history"])
    assert job.status is ExportStatus.PENDING
    assert job.progress == 0
    done = service.process_export(job.id)
    assert done.status is ExportStatus.COMPLETED
    assert done.progress == 100
    assert done.attempt == 1
    assert done.completed_at == T0
    assert done.expires_at == T0 + timedelta(hours=24)
    assert done.record_counts == {"profile": 1, "reasoning_history": 5}
    assert done.filename is not None
    assert done.filename.endswith(".json")
    assert done.media_type == "application/json"
    document = _download_json(service, job.id, "alice")
    assert document["export"]["id"] == str(job.id)
    assert document["export"]["user_id"] == "alice"
    assert document["record_counts"] == {"profile": 1, "reasoning_history": 5}
    history = document["categories"]["reasoning_history"]["records"]
    assert history == [json.loads(json.dumps(r)) for r in HISTORY]
    profile = document["categories"]["profile"]["records"][0]
    assert profile["name"] == PROFILE[0]["name"]
    assert profile["greeting"] == PROFILE[0]["greeting"]
    assert profile["joined"] == "2021-03-04T05:06:07+00:00"
    assert notifier.events(job.id) == [NotificationEvent.COMPLETED]


def test_compressed_export_is_gzip_of_the_json(make_service: Factory) -> None:
    """With compression on, the artifact is a .json.gz whose content is the JSON."""
    service = make_service(config=ExportConfig(storage_backend="memory"))
    job = service.create_export("alice", ExportFormat.JSON, [Category.PROFILE])
    done = service.process_export(job.id)
    assert done.filename is not None
    assert done.filename.endswith(".json.gz")
    assert done.media_type == "application/gzip"
    document = _download_json(service, job.id, "alice")
    assert document["categories"]["profile"]["records"][0]["name"] == PROFILE[0]["name"]


def test_odd_values_round_trip_through_json(make_service: Factory) -> None:
    """Decimals, UUIDs, bytes, sets, enums, NaN and naive datetimes encode as documented."""
    from datetime import date, datetime

    ident = uuid4()
    record = {
        "price": Decimal("12.50"),
        "id": ident,
        "blob": b"\x00\xffbin",
        "tags": {"b", "a"},
        "status": ExportStatus.FAILED,
        "nan": float("nan"),
        "inf": float("-inf"),
        "naive": datetime(2024, 1, 2, 3, 4, 5),
        "day": date(2024, 2, 29),
        "tuple": (1, "two"),
        "nested": {1: {"deep": ["ü", None, True]}},
        'quote"key': "line\nbreak\u2028sep",
    }
    service = make_service(sources=[StaticDataSource("odd", [record])])
    job = service.create_export("bob", "json", ["odd"])
    assert service.process_export(job.id).status is ExportStatus.COMPLETED
    got = _download_json(service, job.id, "bob")["categories"]["odd"]["records"][0]
    assert got == {
        "price": "12.50",
        "id": str(ident),
        "blob": "AP9iaW4=",
        "tags": ["a", "b"],
        "status": "failed",
        "nan": None,
        "inf": None,
        "naive": "2024-01-02T03:04:05+00:00",
        "day": "2024-02-29",
        "tuple": [1, "two"],
        "nested": {"1": {"deep": ["ü", None, True]}},
        'quote"key': "line\nbreak\u2028sep",
    }


def test_all_expands_to_every_registered_category(service: ExportService) -> None:
    """'all' becomes every registered category, in registration order."""
    job = service.create_export("alice", "json", [Category.ALL])
    assert job.categories == ("profile", "reasoning_history")


@pytest.mark.parametrize(
    ("fmt", "categories", "message"),
    [
        ("xml", ["profile"], "unknown export format"),
        ("json", [], "no categories"),
        ("json", ["billing"], "unknown categories: billing"),
        ("json", ["../etc"], "invalid category"),
        ("json", [""], "invalid category"),
    ],
)
def test_bad_requests_raise_invalid_request(
    service: ExportService, fmt: str, categories: list[str], message: str
) -> None:
    """Unknown formats, empty or unknown categories are refused with a clear message."""
    with pytest.raises(InvalidRequest, match=message):
        service.create_export("alice", fmt, categories)


def test_bad_user_id_is_refused(service: ExportService) -> None:
    """An empty user id is an InvalidRequest, and UUID user ids are accepted."""
    with pytest.raises(InvalidRequest):
        service.create_export("  ", "json", ["profile"])
    user = uuid4()
    assert service.create_export(user, "json", ["profile"]).user_id == str(user)


def test_identical_active_request_returns_the_same_job(service: ExportService) -> None:
    """Asking twice for the same active export returns the existing job."""
    first = service.create_export("alice", "json", ["profile", "reasoning_history"])
    second = service.create_export("alice", "json", ["reasoning_history", "profile"])
    assert second.id == first.id
    assert len(service.get_history("alice")) == 1


def test_rate_limit_active_exports(service: ExportService) -> None:
    """A second, different export while one is active is refused."""
    service.create_export("alice", "json", ["profile"])
    with pytest.raises(RateLimitExceeded) as info:
        service.create_export("alice", "json", ["reasoning_history"])
    assert info.value.retry_after is None
    assert info.value.reason == "active"
    # Other users are unaffected.
    service.create_export("bob", "json", ["reasoning_history"])


def test_rate_limit_window_with_frozen_clock(make_service: Factory, clock: FrozenClock) -> None:
    """The window limit refuses the extra request and says when to retry."""
    limit = RateLimit(max_active=1, max_requests=2, window=timedelta(hours=10))
    service = make_service(
        config=ExportConfig(storage_backend="memory", rate_limit=limit, compression_enabled=False)
    )
    first = service.create_export("alice", "json", ["profile"])
    service.process_export(first.id)
    clock.advance(hours=1)
    second = service.create_export("alice", "json", ["profile"])
    service.process_export(second.id)
    clock.advance(hours=1)
    with pytest.raises(RateLimitExceeded) as info:
        service.create_export("alice", "json", ["profile"])
    assert info.value.retry_after == timedelta(hours=8)
    clock.advance(hours=8)
    assert service.create_export("alice", "json", ["profile"]).status is ExportStatus.PENDING


def test_rate_limit_none_disables_it(make_service: Factory) -> None:
    """rate_limit=None lets a user have many active exports."""
    service = make_service(config=ExportConfig(storage_backend="memory", rate_limit=None))
    for category in ("profile", "reasoning_history"):
        service.create_export("alice", "json", [category])
    service.create_export("alice", "json", ["profile", "reasoning_history"])
    assert len(service.get_history("alice")) == 3


def test_other_users_job_looks_missing(service: ExportService) -> None:
    """Another user's job raises ExportNotFound exactly like a missing one."""
    job = service.create_export("alice", "json", ["profile"])
    service.process_export(job.id)
    for call in (
        lambda: service.get_status(job.id, user_id="mallory"),
        lambda: service.open_download(job.id, user_id="mallory"),
        lambda: service.cancel_export(job.id, user_id="mallory"),
        lambda: service.get_status(uuid4(), user_id="alice"),
        lambda: service.get_status("not-a-uuid", user_id="alice"),
    ):
        with pytest.raises(ExportNotFound, match="not found"):
            call()
    assert service.get_job(job.id).user_id == "alice"


def test_history_is_newest_first_and_limited(service: ExportService, clock: FrozenClock) -> None:
    """History lists the user's jobs newest first, capped by limit."""
    ids = []
    for _ in range(3):
        job = service.create_export("alice", "json", ["profile"])
        service.process_export(job.id)
        ids.append(job.id)
        clock.advance(minutes=1)
    assert [j.id for j in service.get_history("alice")] == ids[::-1]
    assert [j.id for j in service.get_history("alice", limit=2)] == ids[:0:-1]
    with pytest.raises(InvalidRequest):
        service.get_history("alice", limit=0)


def test_process_is_idempotent(service: ExportService, notifier: RecordingNotifier) -> None:
    """Processing a finished job again does no second export or notification."""
    job = service.create_export("alice", "json", ["profile"])
    first = service.process_export(job.id)
    again = service.process_export(job.id)
    assert again == first
    assert notifier.events(job.id) == [NotificationEvent.COMPLETED]


def test_process_missing_job_raises(service: ExportService) -> None:
    """process_export of an unknown id raises ExportNotFound."""
    with pytest.raises(ExportNotFound):
        service.process_export(uuid4())


def test_failing_source_fails_the_job_cleanly(
    make_service: Factory, notifier: RecordingNotifier
) -> None:
    """A source that raises fails the job, names the category, leaks nothing, stores nothing."""
    secret = "alice@example.org lives at 1 Secret Road"
    failing = FailingDataSource("billing", fail_after=3, error=lambda: ConnectionError(secret))
    storage = FsspecStorage(f"memory://t-{uuid4().hex}")
    service = make_service(sources=[StaticDataSource("profile", PROFILE), failing], storage=storage)
    job = service.create_export("alice", "json", ["profile", "billing"])
    failed = service.process_export(job.id)
    assert failed.status is ExportStatus.FAILED
    assert failed.error is not None
    assert "'billing'" in failed.error
    assert "ConnectionError" in failed.error
    assert "Secret" not in failed.error
    assert "Traceback" not in failed.error
    assert _files_of(storage, job.id) == []
    assert notifier.events(job.id) == [NotificationEvent.FAILED]
    with pytest.raises(ExportNotReady):
        service.open_download(job.id, user_id="alice")


def test_source_yielding_non_mappings_fails_the_job(make_service: Factory) -> None:
    """A source that yields something other than a mapping fails with a clear error."""

    class Bad:
        category = "bad"

        def records(self, user_id: str) -> Iterator[Any]:
            yield ["not", "a", "mapping"]

    service = make_service(sources=[Bad()])
    job = service.create_export("alice", "json", ["bad"])
    failed = service.process_export(job.id)
    assert failed.status is ExportStatus.FAILED
    assert "yielded a list" in (failed.error or "")


def test_unencodable_value_fails_the_job(make_service: Factory) -> None:
    """A record value of an unsupported type fails the job naming the type, not the value."""
    service = make_service(sources=[StaticDataSource("odd", [{"x": object()}])])
    job = service.create_export("alice", "json", ["odd"])
    failed = service.process_export(job.id)
    assert failed.status is ExportStatus.FAILED
    assert "'odd'" in (failed.error or "")
    assert "object" in (failed.error or "")


def test_size_cap_fails_without_writing_past_it(make_service: Factory) -> None:
    """An export larger than max_file_size_mb fails and leaves no artifact."""
    big = [{"n": n, "text": "x" * 1000} for n in range(2000)]  # ~2 MB of JSON
    storage = FsspecStorage(f"memory://t-{uuid4().hex}")
    service = make_service(
        sources=[StaticDataSource("big", big)],
        storage=storage,
        config=ExportConfig(
            storage_backend="memory", max_file_size_mb=1, compression_enabled=False
        ),
    )
    job = service.create_export("alice", "json", ["big"])
    failed = service.process_export(job.id)
    assert failed.status is ExportStatus.FAILED
    assert "size limit of 1048576 bytes" in (failed.error or "")
    assert _files_of(storage, job.id) == []


def test_expiry_on_download_marks_job_expired(
    service: ExportService, clock: FrozenClock, notifier: RecordingNotifier
) -> None:
    """Past expires_at, a download raises ExportExpired, the job expires and its file goes."""
    job = service.create_export("alice", "json", ["profile"])
    done = service.process_export(job.id)
    assert done.storage_key is not None
    clock.set(done.expires_at)  # type: ignore[arg-type]
    with pytest.raises(ExportExpired):
        service.open_download(job.id, user_id="alice")
    assert service.get_status(job.id, user_id="alice").status is ExportStatus.EXPIRED
    assert not service.storage.exists(done.storage_key)
    with pytest.raises(ExportExpired):
        service.open_download(job.id, user_id="alice")
    assert notifier.events(job.id) == [NotificationEvent.COMPLETED, NotificationEvent.EXPIRED]


def test_expire_exports_sweeps_only_past_due(service: ExportService, clock: FrozenClock) -> None:
    """expire_exports expires exactly the completed jobs past their expiry."""
    old = service.create_export("alice", "json", ["profile"])
    old_done = service.process_export(old.id)
    clock.advance(hours=12)
    new = service.create_export("bob", "json", ["profile"])
    new_done = service.process_export(new.id)
    clock.advance(hours=12, seconds=1)
    expired = service.expire_exports()
    assert [j.id for j in expired] == [old.id]
    assert service.get_job(old.id).status is ExportStatus.EXPIRED
    assert service.get_job(new.id).status is ExportStatus.COMPLETED
    assert old_done.storage_key is not None
    assert new_done.storage_key is not None
    assert not service.storage.exists(old_done.storage_key)
    assert service.storage.exists(new_done.storage_key)
    assert service.expire_exports() == []


def test_get_status_expires_lazily(service: ExportService, clock: FrozenClock) -> None:
    """get_status reports a completed job past its expiry as expired."""
    job = service.create_export("alice", "json", ["profile"])
    service.process_export(job.id)
    clock.advance(hours=25)
    assert service.get_status(job.id, user_id="alice").status is ExportStatus.EXPIRED


def test_download_before_completion_is_not_ready(service: ExportService) -> None:
    """Downloading a pending export raises ExportNotReady, an ExportError."""
    job = service.create_export("alice", "json", ["profile"])
    with pytest.raises(ExportNotReady, match="pending") as info:
        service.open_download(job.id, user_id="alice")
    assert isinstance(info.value, ExportError)


def test_download_streams_in_chunks(make_service: Factory) -> None:
    """A download iterates in bounded chunks that add up to the artifact."""
    rows = [{"n": n, "text": "ü" * 200} for n in range(2000)]
    service = make_service(sources=[StaticDataSource("rows", rows)])
    job = service.create_export("alice", "json", ["rows"])
    done = service.process_export(job.id)
    with service.open_download(job.id, user_id="alice") as download:
        chunks = list(download)
    assert all(len(c) <= 64 * 1024 for c in chunks)
    assert len(chunks) > 1
    assert hashlib.sha256(b"".join(chunks)).hexdigest() == done.sha256
    assert download.closed


def test_cancel_pending_export(service: ExportService, notifier: RecordingNotifier) -> None:
    """A pending export can be cancelled; processing it afterwards does nothing."""
    job = service.create_export("alice", "json", ["profile"])
    cancelled = service.cancel_export(job.id, user_id="alice")
    assert cancelled.status is ExportStatus.CANCELLED
    assert service.cancel_export(job.id, user_id="alice").status is ExportStatus.CANCELLED
    assert service.process_export(job.id).status is ExportStatus.CANCELLED
    assert notifier.events(job.id) == [NotificationEvent.CANCELLED]
    # A cancelled job frees the active slot.
    service.create_export("alice", "json", ["reasoning_history"])


def test_cancel_completed_export_is_refused(service: ExportService) -> None:
    """A completed export cannot be cancelled."""
    job = service.create_export("alice", "json", ["profile"])
    service.process_export(job.id)
    with pytest.raises(InvalidRequest, match="completed"):
        service.cancel_export(job.id, user_id="alice")


def test_cancel_during_processing_discards_the_artifact(make_service: Factory) -> None:
    """A cancel while the worker runs wins; the worker's file is removed."""
    storage = FsspecStorage(f"memory://t-{uuid4().hex}")
    holder: dict[str, Any] = {}

    class CancelsMidway:
        category = "slow"

        def records(self, user_id: str) -> Iterator[dict[str, int]]:
            yield {"n": 1}
            holder["service"].cancel_export(holder["job"].id, user_id=user_id)
            yield {"n": 2}

    service = make_service(sources=[CancelsMidway()], storage=storage)
    holder["service"] = service
    holder["job"] = service.create_export("alice", "json", ["slow"])
    result = service.process_export(holder["job"].id)
    assert result.status is ExportStatus.CANCELLED
    assert _files_of(storage, holder["job"].id) == []


def test_concurrent_processing_makes_one_artifact(
    make_service: Factory, notifier: RecordingNotifier
) -> None:
    """Several threads processing one job produce exactly one artifact and one completion."""
    storage = FsspecStorage(f"memory://t-{uuid4().hex}")
    rows = [{"n": n} for n in range(5000)]
    service = make_service(sources=[StaticDataSource("rows", rows)], storage=storage)
    job = service.create_export("alice", "json", ["rows"])
    barrier = threading.Barrier(6)
    results: list[Any] = []

    def worker() -> None:
        barrier.wait()
        results.append(service.process_export(job.id))

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    final = service.get_job(job.id)
    assert final.status is ExportStatus.COMPLETED
    assert final.attempt == 1
    assert len(_files_of(storage, job.id)) == 1
    assert notifier.events(job.id) == [NotificationEvent.COMPLETED]


def test_notifier_failure_is_recorded_not_fatal(make_service: Factory) -> None:
    """A failing notifier never fails the export; the failure is recorded on the job."""
    service = make_service(notifier=RecordingNotifier(fail_with=RuntimeError("smtp down")))
    job = service.create_export("alice", "json", ["profile"])
    done = service.process_export(job.id)
    assert done.status is ExportStatus.COMPLETED
    assert done.notification_error == "completed: RuntimeError"
    assert service.process_export(job.id).status is ExportStatus.COMPLETED


def test_notify_false_sends_nothing(service: ExportService, notifier: RecordingNotifier) -> None:
    """A job created with notify=False completes silently."""
    job = service.create_export("alice", "json", ["profile"], notify=False)
    service.process_export(job.id)
    assert notifier.sent == []


def test_download_url_from_template(make_service: Factory) -> None:
    """download_url is built from the configured template."""
    config = ExportConfig(
        storage_backend="memory", download_url_template="https://app.example/exports/{job_id}"
    )
    service = make_service(config=config)
    job = service.create_export("alice", "json", ["profile"])
    assert service.process_export(job.id).download_url == f"https://app.example/exports/{job.id}"


def test_duplicate_and_reserved_sources_are_refused() -> None:
    """Two sources for one category, or a source named 'all', are refused."""
    with pytest.raises(InvalidRequest, match="two data sources"):
        ExportService(sources=[StaticDataSource("a"), StaticDataSource("a")])
    with pytest.raises(InvalidRequest, match="reserved"):
        ExportService(sources=[StaticDataSource("all")])
    with pytest.raises(InvalidRequest, match="not a DataSource"):
        ExportService(sources=[object()])  # type: ignore[list-item]


def test_custom_category_removed_after_request_fails_clearly(
    make_service: Factory, sources: list[Any]
) -> None:
    """A job naming a category whose source is gone fails with a clear error."""
    service = make_service()
    job = service.create_export("alice", "json", ["profile"])
    other = make_service(sources=sources[1:], repository=service.repository)
    failed = other.process_export(job.id)
    assert failed.status is ExportStatus.FAILED
    assert "no data source is registered" in (failed.error or "")


def test_progress_is_recorded_per_category(make_service: Factory) -> None:
    """Progress is saved as categories finish (seen from inside a later source)."""
    seen: list[int] = []
    holder: dict[str, Any] = {}

    class Watcher:
        category = "watch"

        def records(self, user_id: str) -> Iterator[dict[str, int]]:
            seen.append(holder["service"].get_job(holder["job"].id).progress)
            yield {"n": 1}

    service = make_service(sources=[StaticDataSource("profile", PROFILE), Watcher()])
    holder["service"] = service
    holder["job"] = service.create_export("alice", "json", ["profile", "watch"])
    service.process_export(holder["job"].id)
    assert seen == [45]


def test_lone_surrogates_become_replacement_characters(make_service: Factory) -> None:
    """A string that is not valid Unicode exports with U+FFFD instead of failing."""
    service = make_service(sources=[StaticDataSource("odd", [{"text": "a\ud800b"}])])
    job = service.process_export(service.create_export("alice", "json", ["odd"]).id)
    assert job.status is ExportStatus.COMPLETED
    record = _download_json(service, job.id, "alice")["categories"]["odd"]["records"][0]
    assert record == {"text": "a\ufffdb"}
