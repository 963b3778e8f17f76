"""Transient versus permanent: infrastructure failures are retried, data failures fail."""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest

from reasonkit_export import ExportConfig, ExportService, ExportStatus
from reasonkit_export.storage import FsspecStorage
from reasonkit_export.testing import FrozenClock, StaticDataSource
from tests.fault_support import FailingFileSystem, SeverableProxy, failing_storage_url

Factory = Callable[..., ExportService]


def _config(**changes: Any) -> ExportConfig:
    options: dict[str, Any] = {
        "storage_backend": "memory",
        "rate_limit": None,
        "compression_enabled": False,
        "lease_seconds": 60,
        "max_attempts": 3,
        "retry_backoff": 10,
    }
    options.update(changes)
    return ExportConfig(**options)


@pytest.fixture
def failing(make_service: Factory) -> Iterator[ExportService]:
    """A service storing on a file system whose operations fail on demand."""
    storage = FsspecStorage(failing_storage_url(f"root-{uuid4().hex}"))
    yield make_service(storage=storage, config=_config())
    FailingFileSystem.faults.clear()


@pytest.mark.parametrize(
    ("operation", "code", "shown"),
    [
        ("write", errno.EIO, "EIO"),
        ("write", errno.ENOSPC, "ENOSPC"),
        ("open", errno.ETIMEDOUT, "TimeoutError"),
        ("mv", errno.ECONNRESET, "ConnectionResetError"),
    ],
)
def test_storage_error_puts_the_job_back_for_a_retry(
    failing: ExportService, clock: FrozenClock, operation: str, code: int, shown: str
) -> None:
    """A storage OSError leaves the job pending with a backoff, the attempt counted."""
    job = failing.create_export("alice", "json", ["profile"])
    FailingFileSystem.faults[operation] = code
    pending = failing.process_export(job.id)
    assert pending.status is ExportStatus.PENDING
    assert pending.attempt == 1
    assert pending.error is None
    assert pending.retry_at is not None
    # Exponential backoff with jitter: the first wait is 0.5-1.0 x retry_backoff.
    assert timedelta(seconds=5) <= pending.retry_at - clock() <= timedelta(seconds=10)
    message = pending.last_transient_error or ""
    assert "storage failed" in message
    assert shown in message
    assert "/srv" not in message
    assert "alice" not in message
    # Redelivered before the backoff is over: nothing happens.
    assert failing.process_export(job.id).status is ExportStatus.PENDING
    assert failing.recover_stale() == []
    FailingFileSystem.faults.clear()
    clock.advance(seconds=11)
    assert [j.id for j in failing.recover_stale()] == [job.id]
    done = failing.process_export(job.id)
    assert done.status is ExportStatus.COMPLETED
    assert done.attempt == 2
    with failing.open_download(job.id, user_id="alice") as download:
        assert download.read()


def test_backoff_grows_and_attempts_are_bounded(failing: ExportService, clock: FrozenClock) -> None:
    """Each transient retry waits about twice as long; after max_attempts the job fails."""
    job = failing.create_export("alice", "json", ["profile"])
    FailingFileSystem.faults["write"] = errno.EIO
    waits = []
    for attempt in (1, 2):
        pending = failing.process_export(job.id)
        assert pending.status is ExportStatus.PENDING
        assert pending.attempt == attempt
        assert pending.retry_at is not None
        waits.append(pending.retry_at - clock())
        clock.set(pending.retry_at)
    assert timedelta(seconds=10) <= waits[1] <= timedelta(seconds=20)
    failed = failing.process_export(job.id)
    assert failed.status is ExportStatus.FAILED
    assert failed.attempt == 3
    assert "storage failed" in (failed.error or "")
    assert "gave up after 3 attempts" in (failed.error or "")


def test_transient_failure_is_logged_with_its_cause(
    failing: ExportService, caplog: pytest.LogCaptureFixture
) -> None:
    """Operators get the detail at WARNING, with the original exception chained."""
    job = failing.create_export("alice", "json", ["profile"])
    FailingFileSystem.faults["write"] = errno.EIO
    with caplog.at_level(logging.WARNING, logger="reasonkit_export"):
        failing.process_export(job.id)
    (record,) = [r for r in caplog.records if r.exc_info and "attempt 1" in r.getMessage()]
    assert record.levelno == logging.WARNING
    chain = []
    error: BaseException | None = record.exc_info[1] if record.exc_info else None
    while error is not None:
        chain.append(error)
        error = error.__cause__
    assert any(isinstance(e, OSError) and e.errno == errno.EIO for e in chain)


def test_full_temporary_directory_is_transient_and_not_blamed_on_storage(
    make_service: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A spool failing with ENOSPC retries the job and names the temporary directory."""
    from reasonkit_export.formats import _spool

    def full(*_args: Any, **_kwargs: Any) -> Any:
        raise OSError(errno.ENOSPC, "No space left on device", "/tmp/secret-path")

    monkeypatch.setattr(_spool.tempfile, "TemporaryFile", full)  # type: ignore[attr-defined]
    service = make_service(config=_config())
    job = service.create_export("alice", "csv", ["profile", "reasoning_history"])
    pending = service.process_export(job.id)
    assert pending.status is ExportStatus.PENDING
    message = pending.last_transient_error or ""
    assert "temporary directory" in message
    assert "ENOSPC" in message
    assert "storage" not in message
    assert "/tmp" not in message


def test_source_error_still_fails_at_once(make_service: Factory) -> None:
    """A data source raising is the data's fault: the job fails on its first attempt."""

    class Broken:
        category = "profile"

        def records(self, user_id: str) -> Iterator[dict[str, Any]]:
            yield {"a": 1}
            raise RuntimeError("boom with alice@example.com")

    service = make_service(sources=[Broken()], config=_config())
    job = service.create_export("alice", "json", ["profile"])
    failed = service.process_export(job.id)
    assert failed.status is ExportStatus.FAILED
    assert failed.attempt == 1
    assert failed.retry_at is None
    assert "alice@example.com" not in (failed.error or "")


@pytest.mark.postgres
def test_database_cut_during_progress_write_is_retried(
    postgres_url: str, clock: FrozenClock, notifier: Any
) -> None:
    """A PostgreSQL connection cut mid-build puts the job back; the next attempt completes."""
    import sqlalchemy
    from sqlalchemy.engine import make_url

    from reasonkit_export.repositories.sql import SqlJobRepository

    target = make_url(postgres_url)
    proxy = SeverableProxy((target.host or "127.0.0.1", target.port or 5432))
    schema = f"rk_fault_{uuid4().hex}"
    proxied = target.set(host="127.0.0.1", port=proxy.port)
    cut = {"armed": True}

    class Cutting:
        """Yields records; severs the database connection once, at the end of the first."""

        category = "profile"

        def records(self, user_id: str) -> Iterator[dict[str, Any]]:
            yield from ({"n": n} for n in range(10))
            if cut["armed"]:
                cut["armed"] = False
                # The pool's pre-ping finds the cut and reconnects: the
                # database is still unreachable for that one reconnect.
                proxy.sever(refuse_next=1)

    repository = SqlJobRepository(proxied.render_as_string(hide_password=False), schema=schema)
    try:
        repository.migrate()
        service = ExportService(
            sources=[Cutting(), StaticDataSource("billing", [{"x": 1}])],
            repository=repository,
            storage=FsspecStorage(f"memory://pg-{uuid4().hex}"),
            notifier=notifier,
            clock=clock,
            config=_config(),
        )
        job = service.create_export("alice", "json", ["profile", "billing"])
        pending = service.process_export(job.id)
        assert proxy.cuts == 1
        assert pending.status is ExportStatus.PENDING
        assert pending.attempt == 1
        assert "job database failed" in (pending.last_transient_error or "")
        assert service.get_job(job.id).status is ExportStatus.PENDING
        clock.advance(seconds=11)
        done = service.process_export(job.id)
        assert done.status is ExportStatus.COMPLETED
        assert done.attempt == 2
        assert done.record_counts == {"profile": 10, "billing": 1}
    finally:
        repository.close()
        proxy.close()
        engine = sqlalchemy.create_engine(postgres_url)
        with engine.begin() as connection:
            connection.execute(sqlalchemy.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


def test_retry_backoff_is_validated() -> None:
    """retry_backoff must be a positive, finite number of seconds."""
    from reasonkit_export import InvalidRequest

    for bad in (0, -1, float("inf"), float("nan")):
        with pytest.raises(InvalidRequest, match="retry_backoff"):
            ExportConfig(retry_backoff=bad)


def test_retry_delay_doubles_and_is_capped() -> None:
    """retry_delay doubles per attempt, scales by jitter and stops at one day."""
    config = ExportConfig(retry_backoff=30)
    assert config.retry_delay(1) == timedelta(seconds=30)
    assert config.retry_delay(3) == timedelta(seconds=120)
    assert config.retry_delay(2, jitter=0.5) == timedelta(seconds=30)
    assert config.retry_delay(1000) == timedelta(days=1)
