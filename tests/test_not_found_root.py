"""Missing jobs and schedules share one NotFound root; old ExportNotFound catches still work."""

from __future__ import annotations

from uuid import uuid4

import pytest

from reasonkit_export import ExportError, ExportNotFound, NotFound
from reasonkit_export.exceptions import ScheduleNotFound
from reasonkit_export.testing import make_test_service


def test_jobs_and_schedules_not_found_share_one_root() -> None:
    """ExportNotFound and ScheduleNotFound are NotFound, an ExportError and a LookupError."""
    for error in (ExportNotFound(uuid4()), ScheduleNotFound(uuid4())):
        assert isinstance(error, NotFound)
        assert isinstance(error, ExportError)
        assert isinstance(error, LookupError)
    assert NotFound.__bases__ == (ExportError, LookupError)
    assert ExportNotFound.__bases__ == (NotFound,)


def test_the_service_raises_not_found_for_a_missing_job_or_schedule() -> None:
    """A host that catches NotFound gets both a missing job and a missing schedule."""
    service = make_test_service().service
    with pytest.raises(NotFound, match=r"export .* not found"):
        service.get_job(uuid4())
    with pytest.raises(NotFound, match=r"schedule .* not found"):
        service.get_schedule(uuid4(), user_id="alice")


def test_except_export_not_found_still_catches_a_missing_schedule() -> None:
    """Deprecated for one release: ScheduleNotFound is still an ExportNotFound."""
    service = make_test_service().service
    schedule = service.schedule_export("alice", "0 3 * * *", "json", ["profile"])
    with pytest.raises(ExportNotFound) as caught:
        service.get_schedule(schedule.id, user_id="mallory")
    assert isinstance(caught.value, ScheduleNotFound)
    assert caught.value.schedule_id == schedule.id
