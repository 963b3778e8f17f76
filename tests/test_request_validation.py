"""Requests the service refuses or limits: wrong argument types, naive clocks, the active limit."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

import pytest

from reasonkit_export import ExportService, InvalidRequest

Factory = Callable[..., ExportService]


def test_bad_argument_types_are_invalid_requests(service: ExportService) -> None:
    """Wrong types for categories, since and until raise InvalidRequest, not TypeError."""
    with pytest.raises(InvalidRequest):
        service.create_export("alice", "json", 123)  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest):
        service.create_export("alice", "json", ["profile"], since="2020-01-01")  # type: ignore[arg-type]
    job = service.create_export("alice", "json", ["profile"])
    with pytest.raises(InvalidRequest):
        service.extend_deadline(job.id, "busy", "2030-01-01")  # type: ignore[arg-type]


def test_naive_clock_is_refused(make_service: Factory) -> None:
    """A clock returning naive datetimes is an error, not silently local time."""
    service = make_service(clock=lambda: datetime(2025, 1, 1, 12))
    with pytest.raises(InvalidRequest, match="naive"):
        service.create_export("alice", "json", ["profile"])


def test_concurrent_requests_respect_the_active_limit(service: ExportService) -> None:
    """Eight threads asking at once for different exports get exactly one created."""
    from reasonkit_export import RateLimitExceeded

    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def ask(n: int) -> None:
        barrier.wait()
        try:
            service.create_export("alice", "json", ["profile"] if n % 2 else ["reasoning_history"])
            outcomes.append("created")
        except RateLimitExceeded:
            outcomes.append("limited")

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(service.get_history("alice")) == 1
    assert outcomes.count("limited") >= 4
