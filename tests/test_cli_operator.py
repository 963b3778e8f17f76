"""Operator commands: cancel, extend-deadline, list, schedules, fetch, doctor, and quiet pipes."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import pytest

from reasonkit_export import ExportService
from reasonkit_export.cli import main
from reasonkit_export.crypto import encrypt, generate_identity
from reasonkit_export.settings import close_service

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No REASONKIT_EXPORT_* variables leak in, and ./reasonkit-export.toml is tmp_path's."""
    for name in list(os.environ):
        if name.startswith("REASONKIT_EXPORT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def _write_config(tmp_path: Path, extra: str = "", sources: str = "make_sources") -> Path:
    path = tmp_path / "reasonkit-export.toml"
    path.write_text(
        f'local_path = "{tmp_path / "store"}"\n'
        f'sources = ["tests.cli_sources:{sources}"]\n'
        "rate_limit = false\n" + extra,
        encoding="utf-8",
    )
    return path


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    """Settings with the test sources under tmp_path/store."""
    return _write_config(tmp_path)


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    """Run main() and return (exit code, stdout, stderr)."""

    def _run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return _run


@pytest.fixture
def service(config_file: Path) -> Iterator[ExportService]:
    """The service the CLI builds from config_file."""
    built = ExportService.from_settings(config_file, environ={})
    yield built
    close_service(built)


def test_cancel(run: Run, service: ExportService) -> None:
    """`cancel JOB` cancels a pending export whoever owns it."""
    job = service.create_export("alice", "json", ["profile"])
    code, out, _ = run("cancel", str(job.id))
    assert code == 0
    assert out == f"{job.id} cancelled\n"
    assert service.get_job(job.id).status == "cancelled"
    assert run("cancel", "00000000-0000-0000-0000-000000000000")[0] == 1


def test_extend_deadline(run: Run, service: ExportService) -> None:
    """`extend-deadline` records the new deadline and the reason."""
    job = service.create_export("alice", "json", ["profile"])
    assert job.due_at is not None
    until = job.due_at.replace(microsecond=0) + timedelta(days=30)
    code, out, err = run(
        "extend-deadline", str(job.id), "--reason", "complex request", "--until", until.isoformat()
    )
    assert code == 0, err
    extended = service.get_job(job.id)
    assert extended.due_at == until
    assert extended.deadline_extension_reason == "complex request"
    assert f"due {until.isoformat()}" in out
    with pytest.raises(SystemExit) as info:
        run("extend-deadline", str(job.id), "--reason", "x", "--until", "soon")
    assert info.value.code == 2


def test_list_by_status_user_and_overdue(run: Run, service: ExportService) -> None:
    """`list` filters by status and user, finds overdue requests, and prints JSON."""
    pending = service.create_export("alice", "json", ["profile"])
    done = service.process_export(service.create_export("bob", "json", ["profile"]).id)
    code, out, _ = run("list", "--status", "PENDING")
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()] == [str(pending.id)]
    code, out, _ = run("list", "--user", "bob", "--json")
    assert [job["id"] for job in json.loads(out)] == [str(done.id)]
    code, out, _ = run("list")
    assert {line.split()[0] for line in out.splitlines()} == {str(pending.id), str(done.id)}
    assert run("list", "--limit", "1")[1].count("\n") == 1
    assert run("list", "--overdue")[1] == ""
    overdue = attrs.evolve(pending, due_at=datetime(2000, 1, 1, tzinfo=UTC))
    service.repository.save(overdue)
    code, out, _ = run("list", "--overdue")
    assert [line.split()[0] for line in out.splitlines()] == [str(pending.id)]


def test_schedules_list_disable_enable_delete(run: Run, service: ExportService) -> None:
    """`schedules` lists, disables, re-enables and deletes a schedule."""
    schedule = service.schedule_export("alice", "0 3 * * *", "json", ["profile"])
    code, out, _ = run("schedules", "list")
    assert code == 0
    assert out.startswith(f"{schedule.id}  enabled  alice")
    assert run("schedules", "disable", str(schedule.id))[0] == 0
    assert service.schedules.get(schedule.id).enabled is False
    assert run("schedules", "list")[1] == ""  # only enabled ones without --user
    code, out, _ = run("schedules", "list", "--user", "alice", "--json")
    assert json.loads(out)[0]["enabled"] is False
    assert run("schedules", "enable", str(schedule.id))[0] == 0
    assert service.schedules.get(schedule.id).enabled is True
    assert run("schedules", "delete", str(schedule.id))[0] == 0
    assert run("schedules", "list", "--user", "alice")[1] == ""
    assert run("schedules", "delete", "not-a-uuid")[0] == 1


def test_fetch_writes_the_decrypted_file_under_its_name(run: Run, tmp_path: Path) -> None:
    """`fetch JOB -o DIR` writes the user's file, decrypted, under its real filename."""
    identity = generate_identity()
    _write_config(tmp_path, f'encryption_key = "{identity}"\n')
    service = ExportService.from_settings(None, environ={})
    job = service.process_export(service.create_export("alice", "json", ["profile"]).id)
    assert job.encrypted
    assert job.filename is not None
    code, out, err = run("fetch", str(job.id), "-o", str(tmp_path / "out"))
    assert code == 0, err
    path = tmp_path / "out" / job.filename
    assert out == f"{path}\n"
    document = json.loads(gzip.decompress(path.read_bytes()))
    assert document["categories"]["profile"]["records"][0]["name"] == "Zoë Ångström-Øre"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    code, _, err = run("fetch", str(job.id), "-o", str(tmp_path / "out"))
    assert code == 2
    assert "--force" in err
    assert run("fetch", str(job.id), "-o", str(tmp_path / "out"), "--force")[0] == 0


def test_doctor_all_good(run: Run, tmp_path: Path) -> None:
    """`doctor` passes every check on a healthy setup and exits 0."""
    identity = generate_identity()
    _write_config(
        tmp_path,
        f'encryption_key = "{identity}"\nsigning_keys = ["{"k" * 40}"]\n',
        sources="single_source",
    )
    code, out, _ = run("doctor")
    assert code == 0, out
    assert "ok    repository" in out
    assert "ok    storage" in out
    assert "ok    keys: encryption round-trips" in out
    assert "ok    keys: 1 signing key(s)" in out
    assert "ok    sources: profile answers" in out
    assert str(identity) not in out


def test_doctor_failures_have_their_exit_codes(run: Run, tmp_path: Path) -> None:
    """A failing source, an unwritable storage and an unreachable mail server exit distinctly."""
    _write_config(tmp_path)  # make_sources includes a source that always fails
    code, out, _ = run("doctor")
    assert code == 14
    assert "FAIL  sources: broken: records() raised" in out

    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a directory", encoding="utf-8")
    _write_config(tmp_path, f'storage = "{blocker / "files"}"\n', sources="single_source")
    code, out, _ = run("doctor")
    assert code == 12
    assert "FAIL  storage" in out

    _write_config(
        tmp_path, 'notifier = "tests.cli_sources:unreachable_smtp"\n', sources="single_source"
    )
    code, out, _ = run("doctor")
    assert code == 15
    assert "FAIL  mail: cannot reach 127.0.0.1:1" in out


def test_doctor_unmigrated_sqlite(run: Run, tmp_path: Path) -> None:
    """`doctor` on an unmigrated database says to run migrate, with exit code 11."""
    pytest.importorskip("sqlalchemy")
    _write_config(
        tmp_path, f'repository = "sqlite:///{tmp_path / "state.db"}"\n', sources="single_source"
    )
    code, out, _ = run("doctor")
    assert code == 11, out
    assert "run `reasonkit-export migrate`" in out
    assert run("migrate")[0] == 0
    assert run("doctor")[0] == 0


def test_broken_pipe_exits_quietly(tmp_path: Path) -> None:
    """Output cut short by the reader (`| head`) ends quietly with exit code 0."""
    identity = generate_identity()
    key = tmp_path / "key.txt"
    key.write_text(f"{identity}\n", encoding="utf-8")
    sealed = tmp_path / "big.age"
    sealed.write_bytes(encrypt(os.urandom(4 * 1024 * 1024), [identity.recipient]))
    command = (
        f"{sys.executable} -m reasonkit_export decrypt {sealed} -i {key} | head -c 10 >/dev/null;"
        " echo ${PIPESTATUS[0]}"
    )
    result = subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.stdout.strip() == "0"
    assert result.stderr == ""
