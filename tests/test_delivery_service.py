"""Deliveries wired into the service: run after completion, recorded, never fatal."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import pytest

from reasonkit_export import ExportConfig, ExportService, ExportStatus, InvalidRequest
from reasonkit_export._download import Download
from reasonkit_export.delivery import DestinationPolicy, StorageCopyDelivery
from reasonkit_export.testing import FrozenClock

Factory = Callable[..., ExportService]


class Recording:
    """A delivery that records what it was given, optionally failing."""

    def __init__(self, name: str, *, fail: bool = False) -> None:
        self.name = name
        self.fail = fail
        self.calls: list[tuple[Any, bytes]] = []

    def deliver(self, job: Any, open_artifact: Callable[[], Download]) -> str:
        """Read the artifact, then succeed or fail."""
        with open_artifact() as download:
            self.calls.append((job.id, download.read()))
        if self.fail:
            raise ConnectionError("receiver down")
        return "done"


def test_deliveries_run_and_are_recorded(make_service: Factory, tmp_path: Any) -> None:
    """Each delivery runs once after completion; results and failures are recorded."""
    good, bad = Recording("good"), Recording("bad", fail=True)
    copy = StorageCopyDelivery(
        str(tmp_path / "other-controller"), allow=DestinationPolicy.host_configured()
    )
    service = make_service(deliveries=[good, bad, copy])
    job = service.process_export(service.create_export("alice", "json", ["profile"]).id)
    assert job.status is ExportStatus.COMPLETED
    assert job.delivery_results["good"] == "ok: done"
    assert job.delivery_results["bad"] == "failed: ConnectionError"
    assert job.delivery_results["copy"].startswith("ok: copied")
    assert len(good.calls) == 1
    copied = list((tmp_path / "other-controller").iterdir())
    assert [p.name for p in copied] == [job.filename]
    with service.open_download(job.id, user_id="alice") as download:
        assert copied[0].read_bytes() == download.read()
    service.process_export(job.id)
    assert len(good.calls) == 1  # no second delivery for a finished job


def test_lost_delivery_runs_on_redelivery(make_service: Factory, clock: FrozenClock) -> None:
    """A delivery a crashed worker never ran is run by the next delivery of the job."""
    late = Recording("late")
    service = make_service()
    job = service.process_export(service.create_export("alice", "json", ["profile"]).id)
    worker = make_service(repository=service.repository, storage=service.storage, deliveries=[late])
    worker.process_export(job.id)
    assert late.calls == []  # too early: the first worker may still be delivering
    clock.advance(seconds=301)
    assert worker.process_export(job.id).delivery_results == {"late": "ok: done"}
    assert len(late.calls) == 1


def test_deliveries_are_validated(make_service: Factory) -> None:
    """Non-deliveries and duplicate names are refused."""
    with pytest.raises(InvalidRequest, match="not a Delivery"):
        make_service(deliveries=[object()])
    with pytest.raises(InvalidRequest, match="two deliveries"):
        make_service(deliveries=[Recording("x"), Recording("x")])


def test_failed_export_is_not_delivered(make_service: Factory) -> None:
    """Only completed exports are delivered."""
    from reasonkit_export.testing import FailingDataSource

    delivery = Recording("d")
    service = make_service(sources=[FailingDataSource("profile")], deliveries=[delivery])
    job = service.process_export(service.create_export("alice", "json", ["profile"]).id)
    assert job.status is ExportStatus.FAILED
    assert delivery.calls == []
    assert attrs.has(type(job))
    assert isinstance(service.config, ExportConfig)
