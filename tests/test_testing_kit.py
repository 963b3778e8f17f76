"""reasonkit_export.testing: the fakes, make_test_service and the pytest plugin hosts use."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta, timezone
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import attrs
import pytest

import reasonkit_export.testing as testing
from reasonkit_export import (
    ExportConfig,
    ExportExpired,
    ExportService,
    ExportStatus,
    InvalidRequest,
    NotificationEvent,
    RateLimit,
    RateLimitExceeded,
)
from reasonkit_export.repositories import InMemoryJobRepository, InMemoryScheduleRepository
from reasonkit_export.testing import (
    SAMPLE_RECORDS,
    ExportTestKit,
    FailingDataSource,
    FrozenClock,
    MemoryStorage,
    RecordingNotifier,
    StaticDataSource,
    StorageContract,
    make_test_config,
    make_test_service,
)

# Installed with its entry point, the plugin is already active; loading it a
# second time under its module name would make pytest refuse to start.
if not entry_points(group="pytest11", name="reasonkit_export"):
    pytest_plugins = ["reasonkit_export.testing.pytest_plugin"]

SRC = Path(__file__).resolve().parents[1] / "src"


def test_host_style_flow_with_the_fixtures(
    export_service: ExportService,
    recording_notifier: RecordingNotifier,
    memory_storage: MemoryStorage,
) -> None:
    """The fixtures let a host test create → process → download → notify in a few lines."""
    job = export_service.create_export("alice", "json", "all")
    export_service.process_export(job.id)
    with export_service.open_download(job.id, user_id="alice") as download:
        document = json.loads(download.read())
    assert document["record_counts"] == {"profile": 1, "reasoning_history": 3}
    assert recording_notifier.events(job.id) == [NotificationEvent.COMPLETED]
    assert memory_storage.keys() == [f"{job.id}/attempt-1"]


def test_fixtures_share_one_fresh_kit(
    export_kit: ExportTestKit,
    export_service: ExportService,
    frozen_clock: FrozenClock,
    recording_notifier: RecordingNotifier,
    memory_storage: MemoryStorage,
) -> None:
    """Every fixture is a part of the same per-test kit, which starts empty."""
    assert export_kit.service is export_service
    assert export_kit.clock is frozen_clock
    assert export_kit.notifier is recording_notifier
    assert export_kit.storage is memory_storage
    assert memory_storage.keys() == []
    assert recording_notifier.sent == []


def test_memory_storage_lists_reads_and_clears() -> None:
    """keys() lists artifacts (temporaries on request), read() returns bytes, clear() empties."""
    storage, other = MemoryStorage(), MemoryStorage()
    with storage.open_write("b/attempt-1") as sink:
        sink.write(b"second")
        assert storage.keys() == []
        [partial] = storage.keys(include_partial=True)
        assert partial.startswith("b/.attempt-1.")
        assert partial.endswith(".part")
    with storage.open_write("a/attempt-1") as sink:
        sink.write(b"first")
    with pytest.raises(RuntimeError), storage.open_write("c/attempt-1") as sink:
        sink.write(b"half")
        raise RuntimeError("crash")
    assert storage.keys() == ["a/attempt-1", "b/attempt-1"]
    assert storage.keys(include_partial=True) == ["a/attempt-1", "b/attempt-1"]
    assert storage.read("b/attempt-1") == b"second"
    assert other.keys() == []
    storage.clear()
    storage.clear()
    assert storage.keys() == []


class TestMemoryStorageContract(StorageContract):
    """MemoryStorage honours the storage contract (and shows hosts how to run one)."""

    @pytest.fixture
    def storage(self) -> Any:
        """A fresh memory storage, cleared afterwards."""
        storage = MemoryStorage()
        yield storage
        storage.clear()


def test_make_test_service_defaults() -> None:
    """By default: sample records, no rate limit, no compression, in-memory fakes."""
    kit = make_test_service()
    assert kit.service.categories == tuple(SAMPLE_RECORDS)
    assert kit.service.config.rate_limit is None
    assert kit.service.config.compression_enabled is False
    assert isinstance(kit.repository, InMemoryJobRepository)
    assert isinstance(kit.schedules, InMemoryScheduleRepository)
    assert kit.clock() == datetime(2025, 1, 1, 12, tzinfo=UTC)
    jobs = [kit.run_export("alice", "json", "profile", since=None) for _ in range(3)]
    assert {job.status for job in jobs} == {ExportStatus.COMPLETED}
    assert all(job.filename and job.filename.endswith(".json") for job in jobs)
    assert json.loads(kit.read_download(jobs[0].id, user_id="alice"))["export"]["id"] == str(
        jobs[0].id
    )
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        kit.clock = FrozenClock()  # type: ignore[misc]
    kit.storage.clear()


def test_make_test_service_records_and_sources() -> None:
    """records= adds one StaticDataSource per category after the given sources."""
    billing = StaticDataSource("billing", [{"invoice": 1}])
    kit = make_test_service(sources=[billing], records={"profile": [{"name": "Zoë"}]})
    assert kit.service.categories == ("billing", "profile")
    assert kit.sources["billing"] is billing
    job = kit.run_export("alice")
    assert job.record_counts == {"billing": 1, "profile": 1}
    assert billing.calls == ["alice"]
    assert make_test_service(sources=[]).service.categories == ()
    kit.storage.clear()


def test_make_test_service_takes_every_part_and_overrides() -> None:
    """Given clock, notifier, storage, repositories, config and ExportService overrides are used."""
    clock, notifier, storage = (
        FrozenClock(datetime(2030, 5, 5, tzinfo=UTC)),
        RecordingNotifier(),
        MemoryStorage(),
    )
    repository, schedules = InMemoryJobRepository(), InMemoryScheduleRepository()
    redacted: list[str] = []

    def redactor(category: str, record: Any, user_id: str) -> Any:
        redacted.append(category)
        return record

    kit = make_test_service(
        clock=clock,
        notifier=notifier,
        storage=storage,
        repository=repository,
        schedules=schedules,
        config=make_test_config(rate_limit=RateLimit(max_active=1)),
        redactor=redactor,
    )
    assert (kit.clock, kit.notifier, kit.storage) == (clock, notifier, storage)
    assert (kit.service.repository, kit.service.schedules) == (repository, schedules)
    job = kit.service.create_export("alice", "json", "profile")
    assert job.created_at == datetime(2030, 5, 5, tzinfo=UTC)
    with pytest.raises(RateLimitExceeded):
        kit.service.create_export("alice", "csv", "profile")
    kit.service.process_export(job.id)
    assert redacted == ["profile"]
    assert storage.keys() == [f"{job.id}/attempt-1"]
    storage.clear()


def test_make_test_config_changes_fields() -> None:
    """make_test_config keeps the test defaults and applies the given changes."""
    config = make_test_config(link_expiry_hours=2)
    assert isinstance(config, ExportConfig)
    assert (config.rate_limit, config.compression_enabled) == (None, False)
    assert config.link_expiry == timedelta(hours=2)
    assert make_test_config(compression_enabled=True).compression_enabled


def test_frozen_clock_stands_still_until_moved(export_kit: ExportTestKit) -> None:
    """FrozenClock only moves when told, refuses naive times, and drives expiry."""
    clock = FrozenClock(datetime(2025, 1, 1, 14, tzinfo=timezone(timedelta(hours=2))))
    assert clock() == clock() == datetime(2025, 1, 1, 12, tzinfo=UTC)
    assert clock.advance(timedelta(minutes=5)) == datetime(2025, 1, 1, 12, 5, tzinfo=UTC)
    assert clock.advance(hours=1) == datetime(2025, 1, 1, 13, 5, tzinfo=UTC)
    assert clock.set(datetime(2026, 1, 1, tzinfo=UTC)) == clock()
    with pytest.raises(InvalidRequest):
        clock.set(datetime(2026, 1, 1))  # naive on purpose
    job = export_kit.run_export("alice")
    export_kit.clock.advance(hours=24)
    with pytest.raises(ExportExpired):
        export_kit.service.open_download(job.id, user_id="alice")


def test_failing_data_source_fails_the_export() -> None:
    """FailingDataSource yields fail_after records, then raises; the job fails, nothing is kept."""
    source = FailingDataSource("profile", fail_after=2)
    assert [r["n"] for r in _take(source.records("alice"), 2)] == [0, 1]
    kit = make_test_service(sources=[source])
    job = kit.run_export("alice")
    assert job.status is ExportStatus.FAILED
    assert job.error is not None
    assert "profile" in job.error
    assert "ConnectionError" in job.error or "database unavailable" in job.error
    assert kit.notifier.events(job.id) == [NotificationEvent.FAILED]
    assert kit.storage.keys(include_partial=True) == []
    custom = FailingDataSource("billing", error=lambda: TimeoutError("slow"))
    with pytest.raises(TimeoutError):
        next(iter(custom.records("alice")))


def _take(records: Any, count: int) -> list[Any]:
    iterator = iter(records)
    return [next(iterator) for _ in range(count)]


def test_static_data_source_serves_per_user_records() -> None:
    """A mapping gives each user their own records; count() reports them."""
    source = StaticDataSource("profile", {"alice": [{"a": 1}, {"a": 2}]})
    assert list(source.records("alice")) == [{"a": 1}, {"a": 2}]
    assert list(source.records("bob")) == []
    assert (source.count("alice"), source.count("bob")) == (2, 0)
    assert source.calls == ["alice", "bob"]


def test_recording_notifier_can_fail_without_failing_the_export() -> None:
    """A notifier told to fail still records; the export completes with the failure noted."""
    kit = make_test_service(notifier=RecordingNotifier(fail_with=OSError("smtp down")))
    job = kit.run_export("alice")
    assert job.status is ExportStatus.COMPLETED
    # A host exception's text may hold personal data: only its class is kept.
    assert job.notification_error == "completed: OSError"
    assert [sent.event for sent in kit.notifier.sent] == [NotificationEvent.COMPLETED]
    kit.storage.clear()


def test_contracts_are_lazy_and_unknown_names_raise() -> None:
    """The contract suites resolve on first use; unknown attributes raise AttributeError."""
    assert testing.JobRepositoryContract.__name__ == "JobRepositoryContract"
    with pytest.raises(AttributeError):
        _ = testing.NoSuchHelper


def _python_env() -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop("PYTEST_ADDOPTS", None)
    return env


def test_importing_testing_does_not_import_pytest() -> None:
    """Production code may import reasonkit_export.testing without pytest being loaded."""
    code = "import reasonkit_export.testing, sys; assert 'pytest' not in sys.modules, 'pytest'"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_python_env(), check=False
    )
    assert result.returncode == 0, result.stderr


def test_plugin_serves_a_host_project(tmp_path: Path) -> None:
    """In a host project the fixtures work, and export_kit_options plugs in the host's sources."""
    (tmp_path / "pytest.ini").write_text("[pytest]\nfilterwarnings = error\n")
    (tmp_path / "conftest.py").write_text(
        textwrap.dedent(
            """
            import pytest
            from reasonkit_export.testing import StaticDataSource

            @pytest.fixture
            def export_kit_options():
                return {"sources": [StaticDataSource("orders", [{"order": 7}])]}
            """
        )
    )
    (tmp_path / "test_host.py").write_text(
        textwrap.dedent(
            """
            def test_orders_export(export_service, recording_notifier, memory_storage):
                job = export_service.create_export("alice", "json", "all")
                done = export_service.process_export(job.id)
                assert done.record_counts == {"orders": 1}
                assert [n.event for n in recording_notifier.sent] == ["completed"]
                assert len(memory_storage.keys()) == 1
            """
        )
    )
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)]
    if not entry_points(group="pytest11", name="reasonkit_export"):
        command[3:3] = ["-p", "reasonkit_export.testing.pytest_plugin"]
    result = subprocess.run(
        command, capture_output=True, text=True, cwd=tmp_path, env=_python_env(), check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
