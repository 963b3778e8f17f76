"""Private files by default: 0600 files and 0700 folders on the local disk, whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from reasonkit_export import ExportConfig, ExportJob, ExportService, InvalidRequest
from reasonkit_export._models import ScheduledExport
from reasonkit_export.repositories import FileJobRepository, FileScheduleRepository
from reasonkit_export.storage import FsspecStorage
from reasonkit_export.testing import FrozenClock, StaticDataSource

T0 = datetime(2025, 6, 1, 9, 30, tzinfo=UTC)


@pytest.fixture(params=[0o022, 0o002, 0o000])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """Run under a permissive umask (022 is the common default), restored afterwards."""
    previous = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    """The permission bits of ``path``."""
    return stat.S_IMODE(path.stat().st_mode)


def modes_below(root: Path) -> tuple[set[int], set[int]]:
    """The file modes and folder modes of everything below ``root``."""
    files: set[int] = set()
    folders: set[int] = set()
    for dirpath, dirnames, filenames in os.walk(root):
        folders.update(mode(Path(dirpath) / name) for name in dirnames)
        files.update(mode(Path(dirpath) / name) for name in filenames)
    return files, folders


def test_local_storage_is_private(umask: int, tmp_path: Path) -> None:
    """Artifacts, their .part temporaries and created folders are 0600 / 0700."""
    del umask
    root = tmp_path / "exports" / "files"
    storage = FsspecStorage(str(root))
    with storage.open_write("job-1/export.json") as sink:
        sink.write(b"personal data")
        parts = list((root / "job-1").iterdir())
        assert [p.name.endswith(".part") for p in parts] == [True]
        assert mode(parts[0]) == 0o600
    assert mode(root / "job-1" / "export.json") == 0o600
    for folder in (tmp_path / "exports", root, root / "job-1"):
        assert mode(folder) == 0o700


def test_existing_folders_keep_their_mode(tmp_path: Path) -> None:
    """A folder the host created keeps its mode; only new folders are made private."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o755)
    with FsspecStorage(str(shared)).open_write("a/b.bin") as sink:
        sink.write(b"")
    assert mode(shared) == 0o755
    assert mode(shared / "a") == 0o700


def test_file_repositories_are_private(umask: int, tmp_path: Path) -> None:
    """Job documents, user markers, schedules and the lock file are 0600 in 0700 folders."""
    del umask
    root = tmp_path / "repo"
    jobs = FileJobRepository(root)
    schedules = FileScheduleRepository(root)
    job = ExportJob(user_id="alice", format="json", categories=("profile",), created_at=T0)
    jobs.add(job)
    jobs.save(job)
    schedules.add(
        ScheduledExport(
            user_id="alice",
            format="json",
            categories=("profile",),
            cron_expression="0 3 * * *",
            next_run=T0 + timedelta(hours=1),
            created_at=T0,
        )
    )
    files, folders = modes_below(root)
    assert files == {0o600}
    assert folders == {0o700}
    assert mode(root) == 0o700
    assert (root / ".lock").exists()


def test_embedded_default_is_private(umask: int, tmp_path: Path) -> None:
    """The embedded default (from_config, local) leaves nothing readable by others."""
    del umask
    root = tmp_path / "reasonkit"
    service = ExportService.from_config(
        ExportConfig(local_path=str(root), compression_enabled=False),
        sources=[StaticDataSource("profile", [{"name": "Zoë"}])],
        clock=FrozenClock(T0),
    )
    job = service.process_export(service.create_export("alice", "json", ["profile"]).id)
    assert job.storage_key is not None
    files, folders = modes_below(root)
    assert files == {0o600}
    assert folders == {0o700}


def test_modes_are_configurable(tmp_path: Path) -> None:
    """Hosts sharing a group choose 0640 / 0750, honoured even under umask 077."""
    previous = os.umask(0o077)
    try:
        storage = FsspecStorage(str(tmp_path / "s"), file_mode=0o640, dir_mode=0o750)
        with storage.open_write("x/y.bin") as sink:
            sink.write(b"1")
        repo = FileJobRepository(tmp_path / "r", file_mode=0o640, dir_mode=0o750)
        repo.add(ExportJob(user_id="bob", format="json", categories=("profile",), created_at=T0))
    finally:
        os.umask(previous)
    assert mode(tmp_path / "s" / "x" / "y.bin") == 0o640
    assert mode(tmp_path / "s" / "x") == 0o750
    files, folders = modes_below(tmp_path / "r")
    assert files == {0o640}
    assert folders == {0o750}


@pytest.mark.parametrize("bad", [-1, 0o1000, "0600", True, 1.5])
def test_bad_modes_are_refused(bad: Any, tmp_path: Path) -> None:
    """A mode outside 0..0o777 is a clear InvalidRequest."""
    with pytest.raises(InvalidRequest, match="file_mode"):
        FsspecStorage(str(tmp_path), file_mode=bad)
    with pytest.raises(InvalidRequest, match="dir_mode"):
        FileJobRepository(tmp_path, dir_mode=bad)
