"""The built-in worker: claims from the repository, maintenance, signals, several processes."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import attrs
import pytest

from reasonkit_export import ExportConfig, ExportService, run_worker
from reasonkit_export.cli import main
from reasonkit_export.settings import close_service
from reasonkit_export.testing import FailingDataSource, FrozenClock, StaticDataSource
from tests import cli_sources

REPO = Path(__file__).resolve().parents[1]


def _service(clock: FrozenClock | None = None) -> ExportService:
    return ExportService(
        sources=[
            StaticDataSource("profile", [{"name": "Ada"}]),
            FailingDataSource("broken"),
        ],
        config=ExportConfig(storage_backend="memory", rate_limit=None),
        clock=clock,
    )


def test_run_worker_builds_every_pending_export(caplog: pytest.LogCaptureFixture) -> None:
    """run_worker(once=True) builds each pending job and logs exactly one line per job."""
    service = _service()
    good = [service.create_export(f"user-{n}", "json", ["profile"]) for n in range(3)]
    bad = service.create_export("user-x", "json", ["broken"])
    with caplog.at_level(logging.INFO, logger="reasonkit_export.worker"):
        stats = run_worker(service, once=True, maintenance_interval=None, poll_interval=0)
    assert (stats.completed, stats.failed, stats.skipped) == (3, 1, 0)
    for job in good:
        assert service.get_job(job.id).status == "completed"
    assert service.get_job(bad.id).status == "failed"
    job_lines = [
        r.getMessage()
        for r in caplog.records
        if r.name == "reasonkit_export.worker" and r.getMessage().startswith("export ")
    ]
    assert len(job_lines) == 4
    for job in [*good, bad]:
        assert sum(str(job.id) in line for line in job_lines) == 1
    assert not any("user-" in line for line in job_lines)  # no user ids in the log


def test_maintenance_fires_schedules_and_expires(tmp_path: Path) -> None:
    """The maintenance pass expires old exports and fires due schedules, which are then built."""
    clock = FrozenClock()
    service = _service(clock)
    old = service.process_export(service.create_export("old", "json", ["profile"]).id)
    schedule = service.schedule_export("sam", "0 3 * * *", "json", ["profile"])
    service.schedules.save(attrs.evolve(schedule, next_run=clock()))
    clock.advance(hours=25)
    stats = run_worker(service, once=True, maintenance_interval=3600, poll_interval=0)
    assert stats.maintenance_runs == 1
    assert service.get_job(old.id).status == "expired"
    assert stats.completed == 1
    assert service.get_history("sam")[0].status == "completed"


def test_stop_event_ends_an_idle_worker() -> None:
    """Setting stop ends a waiting worker promptly."""
    stop = threading.Event()
    thread = threading.Thread(
        target=run_worker,
        args=(_service(),),
        kwargs={"stop": stop, "poll_interval": 30, "maintenance_interval": None},
    )
    thread.start()
    time.sleep(0.2)
    started = time.monotonic()
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert time.monotonic() - started < 5


def _config(tmp_path: Path, repository: str | None = None, sources: str = "single_source") -> Path:
    path = tmp_path / "reasonkit-export.toml"
    lines = [
        f'local_path = "{tmp_path / "store"}"',
        f'sources = ["tests.cli_sources:{sources}"]',
        "rate_limit = false",
    ]
    if repository is not None:
        lines.append(f'repository = "{repository}"')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REASONKIT_EXPORT_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return env


def test_cli_enqueue_hands_ids_to_the_host_queue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`recover --enqueue` and `run-due --enqueue` pass string job ids to the host's function."""
    for name in list(os.environ):
        if name.startswith("REASONKIT_EXPORT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    config = _config(tmp_path)
    service = ExportService.from_settings(config, environ={})
    schedule = service.schedule_export("sam", "0 3 * * *", "json", ["profile"])
    service.schedules.save(attrs.evolve(schedule, next_run=schedule.created_at))
    cli_sources.ENQUEUED.clear()
    assert main(["run-due", "--enqueue", "tests.cli_sources:enqueue"]) == 0
    assert len(cli_sources.ENQUEUED) == 1
    job_id = cli_sources.ENQUEUED[0]
    assert capsys.readouterr().out == f"{job_id} enqueued\n"
    assert service.get_job(job_id).status == "pending"  # the host's queue builds it
    assert main(["recover", "--enqueue", "tests.cli_sources:enqueue"]) == 0
    capsys.readouterr()
    assert main(["recover", "--enqueue", "tests.cli_sources:PROFILE"]) == 2
    assert "'tests.cli_sources:PROFILE' is not callable" in capsys.readouterr().err
    assert main(["run-due", "--enqueue", "tests.cli_sources:nope"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "has no 'nope'" in err


def test_cli_worker_once(tmp_path: Path) -> None:
    """`reasonkit-export worker --once` builds the pending exports and logs one line each."""
    config = _config(tmp_path)
    service = ExportService.from_settings(config, environ={})
    jobs = [service.create_export(f"u{n}", "json", ["profile"]) for n in range(2)]
    result = subprocess.run(
        [sys.executable, "-m", "reasonkit_export", "--config", str(config), "worker", "--once"],
        env=_env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for job in jobs:
        assert service.get_job(job.id).status == "completed"
        assert result.stderr.count(f"export {job.id} completed") == 1


def test_sigterm_finishes_the_current_export(tmp_path: Path) -> None:
    """SIGTERM stops the worker after its current export, which completes."""
    config = _config(tmp_path, sources="slow_sources")
    service = ExportService.from_settings(config, environ={})
    job = service.create_export("slow", "json", ["profile"])
    process = subprocess.Popen(
        [sys.executable, "-m", "reasonkit_export", "--config", str(config), "worker"],
        env=_env(),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while service.get_job(job.id).status != "processing":
            assert time.monotonic() < deadline, "the worker never claimed the job"
            assert process.poll() is None
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert "SIGTERM: stopping after the current job" in err
    assert service.get_job(job.id).status == "completed"
    assert f"export {job.id} completed" in err


@pytest.mark.postgres
def test_several_worker_processes_share_postgresql(tmp_path: Path, postgres_url: str) -> None:
    """Three worker processes on one PostgreSQL build every job exactly once."""
    import sqlalchemy

    from reasonkit_export.repositories.sql import SqlJobRepository

    schema = f"rk_workers_{uuid.uuid4().hex}"
    with SqlJobRepository(postgres_url, schema=schema) as repository:
        repository.migrate()
    try:
        config = _config(tmp_path, repository=postgres_url)
        with config.open("a", encoding="utf-8") as handle:
            handle.write(f'repository_schema = "{schema}"\n')
        service = ExportService.from_settings(config, environ={})
        jobs = [service.create_export(f"u{n}", "json", ["profile"]) for n in range(24)]
        command = [
            *(sys.executable, "-m", "reasonkit_export", "--config", str(config)),
            *("worker", "--once", "--no-maintenance", "--poll", "0.1"),
        ]
        processes = [
            subprocess.Popen(
                command,
                env=_env(),
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(3)
        ]
        logs = []
        for process in processes:
            _, err = process.communicate(timeout=300)
            assert process.returncode == 0, err
            logs.append(err)
        for job in jobs:
            stored = service.get_job(job.id)
            assert stored.status == "completed"
            assert stored.attempt == 1
            assert sum(log.count(f"export {job.id} completed") for log in logs) == 1
        close_service(service)
    finally:
        engine = sqlalchemy.create_engine(postgres_url)
        with engine.begin() as connection:
            connection.execute(sqlalchemy.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()
