"""The one bounded retry-on-conflict loop, alone and inside the service."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from reasonkit_export import (
    ConflictError,
    ConflictRetriesExhausted,
    ExportError,
    ExportJob,
    ExportStatus,
    InvalidRequest,
)
from reasonkit_export._lifecycle._retry import CONFLICT_ATTEMPTS, retry_on_conflict
from reasonkit_export.repositories import InMemoryJobRepository
from reasonkit_export.testing import make_test_service


def test_retry_reloads_after_each_conflict() -> None:
    """A lost write reloads the record and tries again on the fresh copy."""
    seen: list[int] = []
    versions = iter(range(2, 10))

    def step(state: int) -> str:
        seen.append(state)
        if state < 3:
            raise ConflictError("r")
        return f"saved {state}"

    result = retry_on_conflict(step, load=lambda: next(versions), record_id="r", first=1)
    assert result == "saved 3"
    assert seen == [1, 2, 3]


def test_retry_loads_first_when_no_record_is_given() -> None:
    """Without ``first`` the record is read once before the first try."""
    loads: list[int] = []

    def load() -> int:
        loads.append(1)
        return 7

    assert retry_on_conflict(lambda state: state * 2, load=load, record_id="r") == 14
    assert loads == [1]


def test_retry_gives_up_with_a_typed_error_after_the_bound() -> None:
    """Losing every attempt raises ConflictRetriesExhausted naming record and count."""
    calls: list[int] = []

    def step(state: int) -> None:
        calls.append(state)
        raise ConflictError("r")

    with pytest.raises(ConflictRetriesExhausted) as info:
        retry_on_conflict(step, load=lambda: 0, record_id="job-1", first=0, attempts=4)
    assert len(calls) == 4
    assert info.value.record_id == "job-1"
    assert info.value.attempts == 4
    assert "4 tries" in str(info.value)
    assert isinstance(info.value, ConflictError)
    assert isinstance(info.value, ExportError)


def test_retry_passes_other_errors_through_at_once() -> None:
    """An error that is no conflict ends the loop on the first try."""
    calls: list[int] = []

    def step(state: int) -> None:
        calls.append(state)
        raise InvalidRequest("no")

    with pytest.raises(InvalidRequest):
        retry_on_conflict(step, load=lambda: 0, record_id="r", first=0)
    assert calls == [0]


def test_retry_does_not_retry_an_inner_exhaustion() -> None:
    """A nested loop that gave up is not retried again by the outer one."""
    calls: list[int] = []

    def step(state: int) -> None:
        calls.append(state)
        raise ConflictRetriesExhausted("inner", 3)

    with pytest.raises(ConflictRetriesExhausted) as info:
        retry_on_conflict(step, load=lambda: 0, record_id="outer", first=0)
    assert calls == [0]
    assert info.value.record_id == "inner"


class _AlwaysConflicting(InMemoryJobRepository):
    """A repository in which every save after ``armed`` loses to another writer."""

    armed = False
    saves = 0

    def save(self, job: ExportJob) -> ExportJob:
        if self.armed:
            self.saves += 1
            raise ConflictError(job.id)
        return super().save(job)


def test_service_write_under_endless_conflicts_ends_with_a_clear_error() -> None:
    """cancel_export stops after the bound instead of looping forever."""
    repository = _AlwaysConflicting()
    kit = make_test_service(repository=repository)
    job = kit.service.create_export("u1", "json", "all")
    repository.armed = True
    with pytest.raises(ConflictRetriesExhausted):
        kit.service.cancel_export(job.id, user_id="u1")
    assert repository.saves == CONFLICT_ATTEMPTS
    repository.armed = False
    assert kit.service.get_job(job.id).status is ExportStatus.PENDING


def test_service_deadline_extension_retries_on_the_fresh_copy() -> None:
    """A concurrent write between read and save is absorbed by one retry."""
    kit = make_test_service()
    job = kit.service.create_export("u1", "json", "all")
    original_save = kit.repository.save
    raced: list[Any] = []

    def racing_save(candidate: ExportJob) -> ExportJob:
        if not raced:
            raced.append(candidate)
            original_save(kit.repository.get(candidate.id))  # another writer bumps the version
        return original_save(candidate)

    kit.repository.save = racing_save  # type: ignore[method-assign, assignment]
    assert job.due_at is not None
    extended = kit.service.extend_deadline(
        job.id, "complex request", job.due_at + timedelta(days=7)
    )
    assert extended.deadline_extension_reason == "complex request"
    assert len(raced) == 1
