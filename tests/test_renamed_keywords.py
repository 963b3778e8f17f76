"""Old keyword names still work for one release, each with a DeprecationWarning."""

from __future__ import annotations

import asyncio

import pytest

from reasonkit_export._async import AsyncExportService
from reasonkit_export.testing import make_test_service


def test_schedule_export_accepts_notify_and_the_old_notify_email() -> None:
    """notify= sets the schedule's flag; notify_email= does the same and warns."""
    service = make_test_service().service
    new = service.schedule_export("alice", "0 3 * * *", "json", ["profile"], notify=False)
    assert new.notify_email is False
    with pytest.warns(DeprecationWarning, match=r"notify_email= is deprecated.*use notify="):
        old = service.schedule_export("bob", "0 3 * * *", "json", ["profile"], notify_email=False)
    assert old.notify_email is False
    assert service.schedule_export("carol", "0 3 * * *", "json", ["profile"]).notify_email


def test_update_schedule_accepts_notify_and_the_old_notify_email() -> None:
    """update_schedule(notify=...) changes the flag; notify_email= still does, with a warning."""
    service = make_test_service().service
    schedule = service.schedule_export("alice", "0 3 * * *", "json", ["profile"])
    changed = service.update_schedule(schedule.id, user_id="alice", notify=False)
    assert changed.notify_email is False
    with pytest.warns(DeprecationWarning, match="notify_email="):
        again = service.update_schedule(schedule.id, user_id="alice", notify_email=True)
    assert again.notify_email is True
    untouched = service.update_schedule(schedule.id, user_id="alice", incremental=True)
    assert untouched.notify_email is True


def test_async_facade_takes_the_same_names() -> None:
    """AsyncExportService takes notify= and warns on notify_email= too."""
    kit = make_test_service()

    async def scenario() -> tuple[bool, bool]:
        async with AsyncExportService(kit.service) as service:
            new = await service.schedule_export("alice", "0 3 * * *", "json", "all", notify=False)
            with pytest.warns(DeprecationWarning, match="notify_email="):
                old = await service.update_schedule(new.id, user_id="alice", notify_email=True)
            return new.notify_email, old.notify_email

    assert asyncio.run(scenario()) == (False, True)
