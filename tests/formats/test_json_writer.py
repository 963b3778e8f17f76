"""The JSON writer's loop: batches, and the GIL given to the sink's thread between them."""

from __future__ import annotations

import io
import json
from collections.abc import Callable

import pytest

from reasonkit_export.formats import _json
from reasonkit_export.formats._base import ExportInfo, Section
from reasonkit_export.formats._json import JsonWriter


@pytest.mark.parametrize("extra", [0, 1, 5])
def test_the_writer_lets_the_gil_go_after_every_batch(
    monkeypatch: pytest.MonkeyPatch, make_info: Callable[..., ExportInfo], extra: int
) -> None:
    """After each full batch the writer sleeps(0): a BackgroundSink's thread runs then.

    Without it, that thread waits up to the switch interval (5 ms) for the
    GIL after each compress, hash or write call, and a JSON export takes
    10-20 % longer (docs/performance.md).
    """
    calls: list[float] = []
    monkeypatch.setattr(_json, "sleep", calls.append)
    records = [{"n": index, "text": "é" * (index % 7)} for index in range(_json._BATCH * 3 + extra)]
    sink = io.BytesIO()
    JsonWriter().write(
        make_info("a", "b", fmt="json"),
        [Section(category="a", records=records), Section(category="b", records=records[:10])],
        sink,
    )
    assert calls == [0, 0, 0]
    document = json.loads(sink.getvalue())
    assert document["categories"]["a"]["records"] == records
    assert document["categories"]["b"]["records"] == records[:10]
    assert document["record_counts"] == {"a": len(records), "b": 10}
