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


def test_segments_of_one_file_interleave_and_read_back_exactly() -> None:
    """Spools sharing one file keep their own bytes, however their writes interleave."""
    import random

    from reasonkit_export.formats._spool import SpoolFile

    chance = random.Random(7)
    with SpoolFile() as shared:
        segments = [shared.segment() for _ in range(5)]
        expected = [bytearray() for _ in segments]
        for _ in range(400):
            index = chance.randrange(len(segments))
            data = chance.randbytes(chance.choice([1, 100, 70_000]))
            segments[index].write(data)
            expected[index] += data
        for segment, wanted in zip(segments, expected, strict=True):
            assert segment.length == len(wanted)
            segment.seek(0)
            assert segment.read() == bytes(wanted)
            segment.seek(12_345)
            assert segment.read(5000) == bytes(wanted[12_345:17_345])
            assert segment.tell() == 17_345
        # Reopened from its extents (as the HTML worker's parent does).
        copy = shared.segment(segments[2].extents)
        assert copy.read() == bytes(expected[2])


def test_csv_table_in_a_shared_file_pads_short_rows() -> None:
    """A CSV table spooled into a shared file re-reads rows through a text wrapper."""
    from typing import BinaryIO, cast

    from reasonkit_export.formats._csv_table import CsvTable
    from reasonkit_export.formats._spool import SpoolFile

    with SpoolFile() as shared:
        other = shared.segment()
        with CsvTable(file=cast(BinaryIO, shared.segment())) as table:
            table.add({"a": 1})
            other.write(b"x" * 10_000)
            table.add({"a": 2, "b": "two, quoted"})
            table.seal()
            sink = io.BytesIO()
            table.write_csv(sink, bom=False)
    assert sink.getvalue() == b'a,b\r\n1,\r\n2,"two, quoted"\r\n'


def test_a_full_spool_file_refuses_the_write_and_stores_nothing_of_it() -> None:
    """Past its limit a spool raises FileTooLarge naming the cap, before storing the bytes."""
    import pytest

    from reasonkit_export.exceptions import FileTooLarge, RecordTooLarge
    from reasonkit_export.formats._spool import UNCOMPRESSED_FACTOR, SpoolFile

    with SpoolFile(cap=100) as shared:
        assert shared.limit == 100 * UNCOMPRESSED_FACTOR
        spool = RecordSpool(shared, category="notes")
        spool.add({"text": "a" * 80})
        with pytest.raises(RecordTooLarge, match="category 'notes'"):
            spool.add({"text": "a" * 200})
        with pytest.raises(FileTooLarge) as raised:
            for _ in range(100):
                spool.add({"text": "b" * 80})
        assert raised.value.limit_bytes == 100
        assert raised.value.uncompressed == 800
        spool.seal()
        assert shared.size == spool.nbytes <= 800
        assert len(list(spool)) == spool.count
