"""A per-user schedule limit: ExportConfig.max_schedules_per_user (default 10)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from reasonkit_export import ExportConfig, ExportService, InvalidRequest
from reasonkit_export.exceptions import RateLimitExceeded

Factory = Callable[..., ExportService]


def test_default_allows_ten_schedules_per_user(make_service: Factory) -> None:
    """The eleventh schedule of one user is refused; other users are unaffected."""
    service = make_service(config=ExportConfig(storage_backend="memory"))
    assert service.config.max_schedules_per_user == 10
    for _ in range(10):
        service.schedule_export("alice", "0 3 * * *", "json", ["profile"])
    with pytest.raises(RateLimitExceeded, match="delete one of the user's schedules") as caught:
        service.schedule_export("alice", "0 3 * * *", "json", ["profile"])
    assert caught.value.reason == "schedules"
    assert caught.value.retry_after is None
    assert len(service.list_schedules("alice")) == 10
    service.schedule_export("bob", "0 3 * * *", "json", ["profile"])
    schedule = service.list_schedules("alice")[0]
    service.delete_schedule(schedule.id, user_id="alice")
    service.schedule_export("alice", "0 4 * * *", "json", ["profile"])


def test_limit_is_configurable(make_service: Factory) -> None:
    """A host may lower, raise or lift the limit; a bad value is refused."""
    service = make_service(config=ExportConfig(storage_backend="memory", max_schedules_per_user=1))
    service.schedule_export("alice", "0 3 * * *", "json", ["profile"])
    with pytest.raises(RateLimitExceeded):
        service.schedule_export("alice", "0 3 * * *", "json", ["profile"])
    lifted = make_service(
        config=ExportConfig(storage_backend="memory", max_schedules_per_user=None)
    )
    for _ in range(12):
        lifted.schedule_export("alice", "0 3 * * *", "json", ["profile"])
    for bad in (0, -1, True, 2.5):
        with pytest.raises(InvalidRequest):
            ExportConfig(storage_backend="memory", max_schedules_per_user=bad)  # type: ignore[arg-type]
