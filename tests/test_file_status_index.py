"""The file repository's ``status/`` index: sweeps read only the jobs they ask for."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from reasonkit_export import ExportJob, ExportStatus
from reasonkit_export.repositories import FileJobRepository

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


def _job(n: int, status: ExportStatus = ExportStatus.PENDING) -> ExportJob:
    return ExportJob(
        user_id=f"user-{n % 3}",
        format="json",
        categories=["profile"],
        status=status,
        created_at=NOW - timedelta(minutes=n),
    )


def _reads(repository: FileJobRepository, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    store: Any = repository._store
    original = store.read

    def read(path: Path) -> Any:
        seen.append(path.name)
        return original(path)

    monkeypatch.setattr(store, "read", read)
    return seen


def test_list_by_status_reads_only_the_statuses_asked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sweeps over a repository of many finished jobs read only the few they need."""
    repository = FileJobRepository(tmp_path)
    processing = []
    for n in range(60):
        job = repository.add(_job(n))
        if n % 20 == 0:
            claimed = repository.claim(job.id, now=NOW, lease=timedelta(seconds=30))
            assert claimed is not None
            processing.append(claimed.id)
        else:
            repository.save(attrs.evolve(job, status=ExportStatus.COMPLETED))
    reads = _reads(repository, monkeypatch)
    found = list(repository.list_by_status({ExportStatus.PROCESSING}))
    assert sorted(job.id for job in found) == sorted(processing)
    assert len(reads) == len(processing)
    assert list(repository.list_by_status({ExportStatus.PENDING})) == []


def test_a_stale_marker_is_checked_against_the_document(tmp_path: Path) -> None:
    """A crash between marker and document leaves an extra marker, never a wrong answer."""
    repository = FileJobRepository(tmp_path)
    job = repository.add(_job(1))
    # As if the process died after marking the job processing, before writing it.
    (tmp_path / "status" / "processing" / str(job.id)).touch()
    assert list(repository.list_by_status({ExportStatus.PROCESSING})) == []
    assert [j.id for j in repository.list_by_status({ExportStatus.PENDING})] == [job.id]


def test_status_changes_move_the_marker(tmp_path: Path) -> None:
    """Each status change leaves the job under its new status only."""
    repository = FileJobRepository(tmp_path)
    job = repository.add(_job(1))
    claimed = repository.claim(job.id, now=NOW, lease=timedelta(seconds=30))
    assert claimed is not None
    repository.save(attrs.evolve(claimed, status=ExportStatus.FAILED))
    marked = sorted(path.parent.name for path in (tmp_path / "status").glob("*/*"))
    assert marked == ["failed"]


def test_an_older_repository_is_indexed_when_opened(tmp_path: Path) -> None:
    """A folder written before ``status/`` existed is indexed once, then answers as before."""
    repository = FileJobRepository(tmp_path)
    jobs = [repository.add(_job(n)) for n in range(5)]
    repository.save(attrs.evolve(jobs[0], status=ExportStatus.COMPLETED))
    shutil.rmtree(tmp_path / "status")
    (tmp_path / ".status-building" / "pending").mkdir(parents=True)  # a build that died
    (tmp_path / ".status-building" / "pending" / "junk").touch()
    reopened = FileJobRepository(tmp_path)
    assert not (tmp_path / ".status-building").exists()
    pending = {job.id for job in reopened.list_by_status({ExportStatus.PENDING})}
    assert pending == {job.id for job in jobs[1:]}
    assert [j.id for j in reopened.list_by_status({ExportStatus.COMPLETED})] == [jobs[0].id]
