"""What the library writes on a job names the failure in words, never a path or a host's text."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from uuid import uuid4

import pytest

from reasonkit_export import ExportConfig, ExportService, ExportStatus
from reasonkit_export.storage import FsspecStorage
from reasonkit_export.testing import RecordingNotifier
from tests.fault_support import FailingFileSystem, failing_storage_url

Factory = Callable[..., ExportService]


@pytest.fixture
def failing(make_service: Factory) -> Iterator[ExportService]:
    """A service storing on a file system whose operations fail on demand."""
    storage = FsspecStorage(failing_storage_url(f"texts-{uuid4().hex}"))
    yield make_service(
        storage=storage,
        config=ExportConfig(storage_backend="memory", rate_limit=None, max_attempts=1),
    )
    FailingFileSystem.faults.clear()


def test_storage_type_error_is_not_called_an_encoding_error(failing: ExportService) -> None:
    """A TypeError raised by the storage is reported as the storage's failure."""
    job = failing.create_export("alice", "json", ["profile"])
    FailingFileSystem.faults["write"] = 0
    failed = failing.process_export(job.id)
    assert failed.status is ExportStatus.FAILED
    error = failed.error or ""
    assert "storage failed (TypeError)" in error
    assert "encode" not in error
    assert "alice@example.com" not in error


def test_exhausted_storage_failure_names_no_path(failing: ExportService) -> None:
    """After the last attempt the job's error names the errno, not the server path."""
    job = failing.create_export("alice", "json", ["profile"])
    FailingFileSystem.faults["open"] = 28  # ENOSPC
    failed = failing.process_export(job.id)
    assert failed.status is ExportStatus.FAILED
    assert "ENOSPC" in (failed.error or "")
    assert "/srv" not in (failed.error or "")
    assert "gave up after 1 attempts" in (failed.error or "")


def test_notifier_failure_keeps_only_the_class_and_logs_the_cause(
    make_service: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    """A host notifier's message stays out of notification_error; the log has it, chained."""

    class Refused(Exception):
        pass

    try:
        try:
            raise OSError(111, "refused for alice@example.com")
        except OSError as inner:
            raise Refused("mail to alice@example.com refused") from inner
    except Refused as error:
        failure = error
    service = make_service(notifier=RecordingNotifier(fail_with=failure))
    job = service.create_export("alice", "json", ["profile"])
    with caplog.at_level(logging.WARNING, logger="reasonkit_export"):
        done = service.process_export(job.id)
    assert done.notification_error == (
        "completed: ConnectionRefusedError ECONNREFUSED (Connection refused)"
    )
    (record,) = [r for r in caplog.records if "notifier failed" in r.getMessage()]
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], Refused)
    assert isinstance(record.exc_info[1].__cause__, OSError)
