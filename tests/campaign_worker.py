"""A worker process of the fault campaign: builds, cancels or sweeps, and may die at any step.

Usage: ``python -m tests.campaign_worker SPEC`` runs one step (``SPEC`` is a
JSON object, see :func:`run_step`); ``python -m tests.campaign_worker --serve``
is a fork server: it imports everything once, then for each spec line on its
standard input forks a child that runs the step, optionally SIGKILLs it after
``timer`` seconds, and answers ``exit CODE TIMER_KILLED`` (``CODE`` is minus
the signal number for a killed child). Forking a warm process keeps a step
at a few milliseconds of start-up, so a campaign reaches hundreds of kills.

A step counts every repository and storage operation (and every block
written) and sends itself SIGKILL when the count
reaches ``kill_at``: a random point in a claim, a build, a completion, a
cancel, a give-up or an expiry clean-up. Storage operations fail at random
(``EIO``, ``ENOSPC``) with probability ``storage_fault``. It appends what it
did to ``LOG`` (one line each, fsynced): ``claim JOB ATTEMPT PID``,
``complete JOB ATTEMPT``, ``kill ACTION PHASE OPERATION``, ``fault OPERATION``.

Exit codes: 0 done (library errors included: they are printed and counted),
3 an unexpected exception (a bug: not an ``ExportError``).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import random
import signal
import sys
import time
import traceback
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, BinaryIO
from uuid import UUID

from reasonkit_export import ExportConfig, ExportError, ExportService, ExportStatus, RateLimit
from reasonkit_export.protocols import JobRepository
from reasonkit_export.storage import FsspecStorage
from tests.crash_worker import FileNotifier, die, open_repository

RECORDS = 60


class Tripwire:
    """Counts operations; at ``kill_at`` logs where it is and dies; injects storage faults."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.count = 0
        self.kill_at: int | None = spec.get("kill_at")
        self.action: str = spec["action"]
        self.log: str = spec["log"]
        self.phase = "start"
        self.random = random.Random(spec["seed"])
        self.storage_fault: float = spec.get("storage_fault", 0.0)

    def write_log(self, line: str) -> None:
        with open(self.log, "a", encoding="utf-8") as log:
            log.write(line + "\n")
            log.flush()
            os.fsync(log.fileno())

    def tick(self, operation: str) -> None:
        self.count += 1
        if self.kill_at is not None and self.count == self.kill_at:
            self.write_log(f"kill {self.action} {self.phase} {operation}")
            die()

    def maybe_fail(self, operation: str) -> None:
        if self.storage_fault and self.random.random() < self.storage_fault:
            code = self.random.choice([errno.EIO, errno.ENOSPC])
            self.write_log(f"fault {operation} {errno.errorcode[code]}")
            raise OSError(code, os.strerror(code))


_PHASES = {
    ExportStatus.CANCELLED: "cancel-cleanup",
    ExportStatus.EXPIRED: "expire-cleanup",
    ExportStatus.COMPLETED: "complete",
    ExportStatus.PENDING: "requeue",
}


class TrippingRepository:
    """Delegates to a real repository, ticking the tripwire around every call."""

    def __init__(self, inner: JobRepository, wire: Tripwire) -> None:
        self.inner = inner
        self.wire = wire

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.inner, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            self.wire.tick(f"repository.{name}")
            return attribute(*args, **kwargs)

        return call

    def claim(self, job_id: UUID, *, now: Any, lease: timedelta) -> Any:
        self.wire.tick("repository.claim")
        claimed = self.inner.claim(job_id, now=now, lease=lease)
        if claimed is not None:
            self.wire.phase = "build"
            self.wire.write_log(f"claim {claimed.id} {claimed.attempt} {os.getpid()}")
        self.wire.tick("repository.claimed")
        return claimed

    def save(self, job: Any) -> Any:
        self.wire.tick("repository.save")
        saved = self.inner.save(job)
        if saved.status is ExportStatus.COMPLETED and self.wire.phase == "build":
            self.wire.write_log(f"complete {saved.id} {saved.attempt}")
        if saved.status is ExportStatus.FAILED:
            self.wire.phase = (
                "giveup-cleanup" if "gave up" in (saved.error or "") else "fail-cleanup"
            )
        elif saved.status in _PHASES:
            self.wire.phase = _PHASES[saved.status]
        self.wire.tick("repository.saved")
        return saved


class _FaultyFileSystem:
    """An fsspec file system whose removes, moves and look-ups tick and fail at random.

    The faults are raised below :class:`FsspecStorage`, so they reach the
    service the way a real disk's or network's would: translated by the adapter.
    """

    def __init__(self, inner: Any, wire: Tripwire) -> None:
        self.inner = inner
        self.wire = wire

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _step(self, operation: str) -> None:
        self.wire.tick(f"fs.{operation}")
        self.wire.maybe_fail(operation)

    def rm(self, path: Any, *args: Any, **kwargs: Any) -> Any:
        self._step("rm")
        return self.inner.rm(path, *args, **kwargs)

    def mv(self, path1: Any, path2: Any, *args: Any, **kwargs: Any) -> Any:
        self._step("mv")
        return self.inner.mv(path1, path2, *args, **kwargs)

    def isfile(self, path: Any) -> bool:
        self._step("isfile")
        return bool(self.inner.isfile(path))


class TrippingStorage(FsspecStorage):
    """Local storage whose operations tick the tripwire and whose disk fails at random."""

    def __init__(self, root: str, wire: Tripwire) -> None:
        super().__init__(root)
        self.wire = wire
        self._fs = _FaultyFileSystem(self._fs, wire)

    @contextlib.contextmanager
    def open_write(self, key: str) -> Iterator[BinaryIO]:
        self.wire.tick("storage.open_write")
        with super().open_write(key) as handle:
            real_write = handle.write

            def write(data: Any) -> int:
                self.wire.tick("storage.write")
                self.wire.maybe_fail("write")  # inside the adapter's block: translated
                return real_write(data)

            handle.write = write  # type: ignore[method-assign]
            yield handle
        self.wire.tick("storage.committed")

    def delete(self, key: str) -> None:
        self.wire.tick("storage.delete")
        super().delete(key)

    def exists(self, key: str) -> bool:
        self.wire.tick("storage.exists")
        return super().exists(key)


class Source:
    """``RECORDS`` small records per user."""

    category = "history"

    def records(self, user_id: str) -> Iterator[dict[str, Any]]:
        for n in range(RECORDS):
            yield {"n": n, "text": f"record {n} of {user_id}: naïve café"}


def config(spec: dict[str, Any]) -> ExportConfig:
    """The service options every process of one campaign shares (expiry may differ)."""
    return ExportConfig(
        storage_backend="memory",
        rate_limit=RateLimit(max_active=10_000, max_requests=1_000_000),
        lease_seconds=spec["lease"],
        max_attempts=spec["max_attempts"],
        retry_backoff=spec["retry_backoff"],
        link_expiry_hours=spec.get("link_expiry_hours", 24),
        encryption_key=spec["encryption_key"],
        zip_include_pdf=False,
        zip_include_html=False,
    )


def build_service(spec: dict[str, Any], wire: Tripwire | None) -> ExportService:
    """The service of one campaign process.

    ``wire=None`` is the harness's own service: it never dies and its storage
    never fails, but its claims are logged too (exactly-once covers recovery).
    """
    storage: FsspecStorage = FsspecStorage(spec["storage"])
    if wire is None:
        passive = Tripwire({**spec, "action": "host", "seed": 0, "storage_fault": 0.0})
        passive.kill_at = None
        repository: Any = TrippingRepository(open_repository(spec["repo"]), passive)
    else:
        repository = TrippingRepository(open_repository(spec["repo"]), wire)
        storage = TrippingStorage(spec["storage"], wire)
    return ExportService(
        sources=[Source()],
        repository=repository,
        storage=storage,
        notifier=FileNotifier(spec["notifications"], "none"),
        config=config(spec),
    )


def _act(service: ExportService, spec: dict[str, Any], wire: Tripwire) -> None:
    action = spec["action"]
    if action == "sweep":
        service.recover_stale()
        service.expire_exports()
        return
    for job_id, user_id in spec["jobs"]:
        wire.phase = "start"
        try:
            if action == "cancel":
                service.cancel_export(job_id, user_id=user_id)
            else:
                service.process_export(job_id)
        except ExportError as exc:
            print(f"{job_id} {type(exc).__name__}", file=sys.stderr)


def run_step(spec: dict[str, Any]) -> int:
    """Run one campaign step as the spec says; the exit code."""
    wire = Tripwire(spec)
    try:
        service = build_service(spec, wire)
        try:
            _act(service, spec, wire)
        finally:
            close = getattr(service.repository, "close", None)
            if close is not None:
                close()
    except ExportError as exc:
        print(f"step {type(exc).__name__}", file=sys.stderr)
    except Exception:  # noqa: BLE001 - anything else is a finding for the harness
        traceback.print_exc()
        return 3
    return 0


def _child(spec: dict[str, Any]) -> None:
    """In the forked child: quiet standard streams, run the step, leave without clean-up."""
    code = 3
    try:
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)
        errors = os.open(spec["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(errors, 2)
        code = run_step(spec)
        sys.stderr.flush()
    finally:
        os._exit(code)


def _wait(pid: int, timer: float | None) -> tuple[int, bool]:
    """Wait for the child; SIGKILL it once ``timer`` seconds have passed."""
    deadline = None if timer is None else time.monotonic() + timer
    killed = False
    while True:
        done, status = os.waitpid(pid, 0 if deadline is None or killed else os.WNOHANG)
        if done:
            break
        if deadline is not None and time.monotonic() >= deadline:
            os.kill(pid, signal.SIGKILL)
            killed = True
        else:
            time.sleep(0.005)
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status), killed
    return os.WEXITSTATUS(status), killed


def serve() -> int:
    """The fork server: one spec per input line, one ``exit`` line per step."""
    with contextlib.suppress(ImportError):  # warm the SQL drivers once, for every child
        import psycopg  # noqa: F401

        import reasonkit_export.repositories.sql  # noqa: F401
    for line in sys.stdin:
        spec = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(spec)
        code, killed = _wait(pid, spec.get("timer"))
        sys.stdout.write(f"exit {code} {int(killed)}\n")
        sys.stdout.flush()
    return 0


def main(argv: list[str]) -> int:
    """``--serve`` or one step."""
    if argv == ["--serve"]:
        return serve()
    return run_step(json.loads(argv[0]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
