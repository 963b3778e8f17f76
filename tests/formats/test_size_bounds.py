"""Size bounds taken from the spools hold: the ZIP's headers depend on them."""

from __future__ import annotations

import io
from typing import Any

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from reasonkit_export.formats._base import ExportInfo, Section
from reasonkit_export.formats._csv import CsvTable
from reasonkit_export.formats._json import JsonWriter
from reasonkit_export.formats._spool import RecordSpool
from reasonkit_export.formats._zip import _json_bound, _Spooled
from tests.formats.conftest import EXPORT_ID, GENERATED_AT

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=20),
)
_records = st.lists(
    st.dictionaries(
        st.sampled_from(["a", "b", "c.d", "=e", "f g"]),
        st.one_of(
            _scalars,
            st.lists(_scalars, max_size=3),
            st.dictionaries(st.text(max_size=3), _scalars, max_size=2),
        ),
        max_size=4,
    ),
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(_records, st.booleans(), st.booleans())
def test_csv_bound_covers_the_table(
    records: list[dict[str, Any]], bom: bool, neutral: bool
) -> None:
    """CsvTable.size_bound is never below what write_csv writes (short rows padded included)."""
    with CsvTable(neutralize_formulas=neutral) as table:
        table.extend(records)
        bound = table.size_bound(bom=bom)
        sink = io.BytesIO()
        table.write_csv(sink, bom=bom)
    assert len(sink.getvalue()) <= bound


@settings(max_examples=40, deadline=None)
@given(st.lists(_records, min_size=0, max_size=3), st.booleans())
def test_json_bound_covers_data_json(sections: list[list[dict[str, Any]]], described: bool) -> None:
    """The data.json bound from the spools' sizes is never below the document's size."""
    categories = tuple(f"cat{index}" for index in range(len(sections)))
    info = ExportInfo(
        export_id=EXPORT_ID,
        user_id="u-1",
        generated_at=GENERATED_AT,
        format="zip",
        categories=categories,
        generator="test",
        since=GENERATED_AT if described else None,
        since_applied=categories[:1],
        about={c: {"description": "ä" * 50} for c in categories} if described else {},
    )
    info.stats.redacted.update(dict.fromkeys(categories, 123_456))
    spooled = []
    try:
        for category, records in zip(categories, sections, strict=True):
            item = _Spooled(category=category, table=None, records=RecordSpool())
            for record in records:
                item.add(record)
            spooled.append(item)
        bound = _json_bound(info, spooled)
        sink = io.BytesIO()
        JsonWriter().write(
            attrs.evolve(info),
            [
                Section(category=i.category, records=[], encoded=i.records.iter_encoded())  # type: ignore[union-attr]
                for i in spooled
            ],
            sink,
        )
    finally:
        for item in spooled:
            item.close()
    assert len(sink.getvalue()) <= bound
