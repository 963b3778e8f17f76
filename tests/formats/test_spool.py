"""The record spool: one pass over a source, many passes for writers."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime

from reasonkit_export._encoding import dumps_compact
from reasonkit_export.formats import ExportInfo, JsonWriter, RecordSpool, Section


def test_spool_iterates_decoded_and_encoded_many_times() -> None:
    """Records come back decoded or as their exact JSON bytes, as often as asked."""
    records = [{"n": n, "when": datetime(2025, 1, n + 1, tzinfo=UTC)} for n in range(5)]
    with RecordSpool() as spool:
        assert spool.extend(records) == 5
        for _ in range(2):
            assert list(spool) == [json.loads(dumps_compact(r)) for r in records]
            assert list(spool.iter_encoded()) == [dumps_compact(r) for r in records]


def test_json_writer_output_is_the_same_from_encoded_records() -> None:
    """The JSON writer copies pre-encoded records to exactly the bytes it would encode."""
    info = ExportInfo(
        export_id=uuid.uuid4(),
        user_id="u",
        generated_at=datetime(2025, 1, 1, tzinfo=UTC),
        format="json",
        categories=("a",),
        generator="test",
    )
    records = [{"n": n, "text": "ü" * n} for n in range(50)]
    direct, copied = io.BytesIO(), io.BytesIO()
    JsonWriter().write(info, [Section(category="a", records=iter(records))], direct)
    with RecordSpool() as spool:
        spool.extend(records)
        section = Section(category="a", records=iter(()), encoded=spool.iter_encoded())
        JsonWriter().write(info, [section], copied)
    assert copied.getvalue() == direct.getvalue()


def test_stopping_early_leaves_the_spool_at_its_end() -> None:
    """A reader that stops early (the summary report) leaves nbytes and add() intact."""
    with RecordSpool() as spool:
        spool.extend({"n": n} for n in range(100))
        size = spool.nbytes
        for index, _line in enumerate(spool.iter_encoded()):
            if index == 3:
                break
        assert spool.nbytes == size
        for index, _record in enumerate(spool):
            if index == 3:
                break
        assert spool.nbytes == size
        spool.add({"n": 100})
        assert [record["n"] for record in spool] == list(range(101))
