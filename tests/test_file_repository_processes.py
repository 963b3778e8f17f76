"""The file job repository is safe across processes of one host."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

from reasonkit_export import ExportJob, ExportStatus
from reasonkit_export.repositories import FileJobRepository

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _claim_all(directory: str, ids: list[str], queue: multiprocessing.Queue[list[str]]) -> None:
    repository = FileJobRepository(directory)
    won = []
    for job_id in ids:
        if repository.claim(UUID(job_id), now=T0, lease=timedelta(minutes=5)) is not None:
            won.append(job_id)
    queue.put(won)


def test_claims_across_processes_have_one_winner_per_job(tmp_path: Path) -> None:
    """Four processes claiming the same 40 jobs win each job exactly once."""
    repository = FileJobRepository(tmp_path)
    jobs = [
        repository.add(ExportJob(user_id="u", format="json", categories=["a"], created_at=T0))
        for _ in range(40)
    ]
    ids = [str(job.id) for job in jobs]
    context = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue[list[str]] = context.Queue()
    processes = [
        context.Process(target=_claim_all, args=(str(tmp_path), ids, queue)) for _ in range(4)
    ]
    for process in processes:
        process.start()
    results = [queue.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    winners = [job_id for result in results for job_id in result]
    assert sorted(winners) == sorted(ids)
    assert all(repository.get(job.id).status is ExportStatus.PROCESSING for job in jobs)
    assert all(repository.get(job.id).attempt == 1 for job in jobs)


def test_history_file_names_hold_no_user_id(tmp_path: Path) -> None:
    """No file or directory name under the repository contains the user id."""
    repository = FileJobRepository(tmp_path)
    repository.add(
        ExportJob(user_id="alice@example.org", format="json", categories=["a"], created_at=T0)
    )
    assert all("alice" not in str(path) for path in tmp_path.rglob("*"))
    assert len(repository.list_for_user("alice@example.org")) == 1
