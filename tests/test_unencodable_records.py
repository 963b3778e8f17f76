"""Records the encoder cannot take fail the job on the first attempt, naming the category."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from reasonkit_export import ExportConfig, ExportService, ExportStatus
from reasonkit_export.testing import StaticDataSource

Factory = Callable[..., ExportService]


def _deep(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(levels):
        value = {"child": value}
    return value


def _cyclic() -> dict[str, Any]:
    value: dict[str, Any] = {"name": "loop"}
    value["self"] = value
    return value


def _cyclic_list() -> dict[str, Any]:
    items: list[Any] = [1]
    items.append(items)
    return {"items": items}


BAD = {
    "deep": (lambda: _deep(5000), "nested too deeply"),
    "cyclic": (_cyclic, "refers to itself"),
    "cyclic-list": (_cyclic_list, "refers to itself"),
    "huge-integer": (lambda: {"n": 10**5000}, "integer too large"),
}


@pytest.mark.parametrize("fmt", ["json", "csv", "pdf", "zip"])
@pytest.mark.parametrize("kind", sorted(BAD))
def test_unencodable_record_fails_the_first_attempt(
    make_service: Factory, fmt: str, kind: str
) -> None:
    """A too deep, cyclic or oversized-integer record fails the job at once, naming why."""
    make, words = BAD[kind]
    service = make_service(
        sources=[
            StaticDataSource("profile", [{"ok": 1}]),
            StaticDataSource("odd_things", [{"ok": 2}, make()]),
        ],
        config=ExportConfig(storage_backend="memory", rate_limit=None, max_attempts=3),
    )
    job = service.create_export("alice", fmt, ["profile", "odd_things"])
    failed = service.process_export(job.id)
    assert failed.status is ExportStatus.FAILED
    assert failed.attempt == 1
    message = failed.error or ""
    assert "'odd_things'" in message
    assert words in message
    assert "loop" not in message


def test_unexpected_writer_error_fails_once_without_its_text(
    make_service: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exception of no known kind fails the job on attempt 1, naming only its class."""
    from reasonkit_export.formats._json import JsonWriter

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise KeyError("alice@example.com")

    monkeypatch.setattr(JsonWriter, "write", broken)
    service = make_service(
        config=ExportConfig(storage_backend="memory", rate_limit=None, max_attempts=3)
    )
    job = service.create_export("alice", "json", ["profile"])
    failed = service.process_export(job.id)
    assert failed.status is ExportStatus.FAILED
    assert failed.attempt == 1
    assert "unexpected KeyError" in (failed.error or "")
    assert "alice@example.com" not in (failed.error or "")


def test_why_unencodable_accepts_shared_values() -> None:
    """A value referenced twice (not a cycle) and moderate depth are fine."""
    from reasonkit_export._builder import why_unencodable

    shared = {"x": [1, 2]}
    assert why_unencodable({"a": shared, "b": shared, "c": _deep(100)}) is None
    assert why_unencodable({"n": 10**100}) is None
