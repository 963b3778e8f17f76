"""Our own adapters pass the same contract suites that hosts run on theirs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from uuid import uuid4

import pytest

from reasonkit_export.repositories import (
    FileJobRepository,
    FileScheduleRepository,
    InMemoryJobRepository,
    InMemoryScheduleRepository,
)
from reasonkit_export.storage import FsspecStorage
from reasonkit_export.testing import (
    JobRepositoryContract,
    ScheduleRepositoryContract,
    StorageContract,
)


class TestInMemoryJobRepository(JobRepositoryContract):
    """The in-memory job repository honours the contract."""

    @pytest.fixture
    def repository(self) -> InMemoryJobRepository:
        """A fresh in-memory repository."""
        return InMemoryJobRepository()


class TestFileJobRepository(JobRepositoryContract):
    """The file job repository honours the contract."""

    @pytest.fixture
    def repository(self, tmp_path: Path) -> FileJobRepository:
        """A fresh file repository in a temporary directory."""
        return FileJobRepository(tmp_path / "jobs")


class TestInMemoryScheduleRepository(ScheduleRepositoryContract):
    """The in-memory schedule repository honours the contract."""

    @pytest.fixture
    def schedules(self) -> InMemoryScheduleRepository:
        """A fresh in-memory schedule repository."""
        return InMemoryScheduleRepository()


class TestFileScheduleRepository(ScheduleRepositoryContract):
    """The file schedule repository honours the contract."""

    @pytest.fixture
    def schedules(self, tmp_path: Path) -> FileScheduleRepository:
        """A fresh file schedule repository in a temporary directory."""
        return FileScheduleRepository(tmp_path / "state")


class TestMemoryStorage(StorageContract):
    """fsspec's memory file system honours the storage contract."""

    @pytest.fixture
    def storage(self) -> FsspecStorage:
        """A private in-memory storage root."""
        return FsspecStorage(f"memory://contract-{uuid4().hex}")


class TestLocalStorage(StorageContract):
    """The local disk honours the storage contract."""

    @pytest.fixture
    def storage(self, tmp_path: Path) -> FsspecStorage:
        """A storage rooted in a temporary directory."""
        return FsspecStorage(str(tmp_path / "files"))

    def test_failed_write_leaves_no_temporary_file(self, tmp_path: Path) -> None:
        """After a failed write not even the hidden temporary remains on disk."""
        storage = FsspecStorage(str(tmp_path / "files"))
        with pytest.raises(RuntimeError), storage.open_write("a/b.json") as sink:
            sink.write(b"x")
            raise RuntimeError("boom")
        assert list((tmp_path / "files").rglob("*.*")) == []

    def test_file_url_is_accepted(self, tmp_path: Path) -> None:
        """A file:// URL works like a bare path."""
        storage = FsspecStorage(f"file://{tmp_path}/files")
        with storage.open_write("k.json") as sink:
            sink.write(b"1")
        assert (tmp_path / "files" / "k.json").read_bytes() == b"1"

    def test_a_killed_writes_temporary_and_folder_are_removed_once_old(
        self, tmp_path: Path
    ) -> None:
        """A process SIGKILLed mid-write leaves a .part; remove_leftovers takes it when old."""
        root = tmp_path / "files"
        script = (
            "import os, signal, sys\n"
            "from reasonkit_export.storage import FsspecStorage\n"
            "with FsspecStorage(sys.argv[1]).open_write('job-a/attempt-1') as sink:\n"
            "    sink.write(b'half an export' * 1000)\n"
            "    sink.flush()\n"
            "    os.kill(os.getpid(), signal.SIGKILL)\n"
        )
        killed = subprocess.run([sys.executable, "-c", script, str(root)], check=False)
        assert killed.returncode == -signal.SIGKILL
        (temporary,) = (root / "job-a").iterdir()
        assert temporary.name.startswith(".attempt-1.")
        assert temporary.name.endswith(".part")
        storage = FsspecStorage(str(root))
        with storage.open_write("job-b/attempt-1") as sink:
            sink.write(b"a complete export")
        assert storage.remove_leftovers("job-a", timedelta(hours=1)) == 0  # may still be written
        an_hour_ago = time.time() - 3601
        os.utime(temporary, (an_hour_ago, an_hour_ago))
        assert storage.remove_leftovers("job-a", timedelta(hours=1)) == 2  # the .part, the folder
        assert sorted(p.name for p in root.iterdir()) == ["job-b"]
        assert storage.exists("job-b/attempt-1")
