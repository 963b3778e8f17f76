"""Compiled CSV rows (row plans): the same bytes as the general walk, for plain records only."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reasonkit_export.formats._csv_table import CsvTable, _utc_text, compile_row_plan
from reasonkit_export.formats._html import _faithful

DOT_FREE_KEYS = st.sampled_from(["a", "b", "c", "id", "=k", "", "ü", "x y"])
LEAVES: st.SearchStrategy[Any] = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=8)
    | st.sampled_from(["=1+1", "-5", " @x", 'a,"b"', "l\nm", "\r", "\uff1d1"])
    | st.datetimes(timezones=st.sampled_from([None, UTC, timezone(timedelta(hours=5))]))
    | st.dates()
    | st.decimals(allow_nan=True)
    | st.binary(max_size=3)
    | st.just({})
    | st.lists(st.none() | st.booleans() | st.integers() | st.text(max_size=3), max_size=3)
    | st.lists(st.floats() | st.just({"k": 1}), min_size=1, max_size=2)
    | st.tuples(st.integers())
)
SHAPES: st.SearchStrategy[Any] = st.recursive(
    st.just(None),
    lambda children: st.dictionaries(DOT_FREE_KEYS, children, min_size=1, max_size=4),
    max_leaves=10,
)


def _fill(shape: dict[str, Any], draw: Any) -> dict[str, Any]:
    """A record with ``shape``'s keys, each leaf drawn afresh."""
    return {
        key: _fill(value, draw) if isinstance(value, dict) else draw(LEAVES)
        for key, value in shape.items()
    }


@st.composite
def same_shape_records(draw: Any) -> list[dict[str, Any]]:
    """Records with the same keys, nested mappings and (mostly) the same nesting."""
    shape = draw(SHAPES.filter(lambda value: isinstance(value, dict)))
    return [_fill(shape, draw) for _ in range(draw(st.integers(2, 6)))]


def _table(records: list[dict[str, Any]], *, neutralize: bool, planning: bool) -> bytes:
    table = CsvTable(neutralize_formulas=neutralize)
    table._planning = planning
    for record in records:
        table.add(record)
    sink = io.BytesIO()
    table.write_csv(sink)
    table.close()
    return sink.getvalue()


@given(records=same_shape_records(), neutralize=st.booleans())
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_planned_rows_are_the_walked_rows(records: list[dict[str, Any]], neutralize: bool) -> None:
    """A table fed through row plans is byte for byte the table the walk writes."""
    assert _table(records, neutralize=neutralize, planning=True) == _table(
        records, neutralize=neutralize, planning=False
    )


@given(records=same_shape_records())
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_plain_rows_are_json_faithful(records: list[dict[str, Any]]) -> None:
    """A record a plan takes is one the HTML view may render from its data.json line."""
    with CsvTable() as table:
        table.add(records[0])
        for record in records[1:]:
            if table.add_plain(record):
                assert _faithful(record)


def test_plans_serve_records_of_a_known_shape() -> None:
    """The first record of a shape is walked and compiles the plan; the next ones use it."""
    with CsvTable() as table:
        record = {"id": 1, "at": datetime(2025, 1, 1, tzinfo=UTC), "meta": {"m": "x", "ok": True}}
        assert not table.add_plain(record)
        table.add(record)
        assert table.add_plain({"id": 2, "at": None, "meta": {"m": "=y", "ok": False}})
        # Another nested shape, or a value a plan does not cover: not taken.
        assert not table.add_plain({"id": 3, "at": None, "meta": {"m": "x"}})
        assert not table.add_plain({"id": 4, "at": Decimal("1.5"), "meta": {"m": "x", "ok": True}})
        assert not table.add_plain({"id": 5, "at": b"x", "meta": {"m": "x", "ok": True}})
        assert table.count == 2


def test_plans_give_up_on_records_that_are_not_plain() -> None:
    """A table whose records keep missing their plan stops trying plans."""
    with CsvTable() as table:
        for n in range(2100):
            table.add({"n": n, "amount": Decimal(n)})
        assert not table._planning
        assert not table._plans


def test_dotted_and_non_text_keys_are_not_planned() -> None:
    """Shapes where flattening may clash (a dot in a key) or keys convert are left to the walk."""
    assert compile_row_plan({"a.b": 1, "a": {"b": 2}}, neutralize_formulas=True) is None
    assert compile_row_plan({1: "x"}, neutralize_formulas=True) is None  # type: ignore[dict-item]
    assert compile_row_plan({}, neutralize_formulas=True) is None
    planned = compile_row_plan({"a": {"b": {"c": 1}}, "d": 2}, neutralize_formulas=True)
    assert planned is not None
    assert planned[1] == ("a.b.c", "d")


def test_utc_text_is_isoformat() -> None:
    """The fast UTC datetime text equals isoformat, naive values meaning UTC."""
    values = [
        datetime(2025, 1, 1, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2025, 6, 1, 12, 30, 5, 120),
    ]
    for value in values:
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        assert _utc_text(value) == aware.isoformat()


def test_other_zones_keep_their_offsets() -> None:
    """Datetimes in other zones are written with their own offset, as the walk writes them."""
    berlin = datetime(2025, 7, 1, 12, tzinfo=ZoneInfo("Europe/Berlin"))
    records: list[dict[str, Any]] = [
        {"at": berlin, "d": date(2025, 1, 1)},
        {"at": berlin, "d": None},
    ]
    planned = _table(records, neutralize=True, planning=True)
    assert planned == _table(records, neutralize=True, planning=False)
    assert b"2025-07-01T12:00:00+02:00" in planned


PLANNED_TEXTS = ["a,b", 'say "hi"', "l\nm", "l\rm", "=1+1", "+1", "-5", "@x", "\tx", "plain"]


def _planned_cells(neutralize: bool) -> list[list[str]]:
    """The data rows of a table whose rows after the first were all served by the plan."""
    table = CsvTable(neutralize_formulas=neutralize)
    table.add({"id": 0, "text": "first", "meta": {"n": 1.5, "tags": ["x"]}})
    for n, text in enumerate(PLANNED_TEXTS, start=1):
        assert table.add_plain({"id": n, "text": text, "meta": {"n": float(n), "tags": [text]}})
    sink = io.BytesIO()
    table.write_csv(sink, bom=False)
    table.close()
    data = sink.getvalue().decode("utf-8")
    # Every field as csv.writer quotes it (RFC 4180, QUOTE_MINIMAL), not just readable.
    expected = io.StringIO(newline="")
    csv.writer(expected, lineterminator="\r\n").writerows(csv.reader(io.StringIO(data, newline="")))
    assert data == expected.getvalue()
    rows = list(csv.reader(io.StringIO(data, newline="")))
    assert rows[0] == ["id", "text", "meta.n", "meta.tags"]
    return rows[2:]


def test_planned_rows_quote_every_separator_alone() -> None:
    """A text holding only a comma, a quote, LF or CR is one quoted field in a planned row."""
    rows = _planned_cells(neutralize=False)
    assert [row[1] for row in rows] == PLANNED_TEXTS
    assert [len(row) for row in rows] == [4] * len(PLANNED_TEXTS)
    assert [row[3] for row in rows] == [
        json.dumps([text], separators=(",", ":")) for text in PLANNED_TEXTS
    ]


def test_planned_rows_neutralise_formulas() -> None:
    """A planned row prefixes formula text with ``'``, exactly as the walk does, and only then."""
    rows = _planned_cells(neutralize=True)
    expected = ["a,b", 'say "hi"', "l\nm", "l\rm", "'=1+1", "'+1", "'-5", "'@x", "'\tx", "plain"]
    assert [row[1] for row in rows] == expected
    assert [row[2] for row in rows] == [repr(float(n)) for n in range(1, len(PLANNED_TEXTS) + 1)]


def _deep(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for level in range(levels):
        value = {f"l{level}": value}
    return value


def test_a_nested_mapping_the_plan_cannot_take_leaves_the_whole_record_to_the_walk() -> None:
    """A dotted or non-text key, or nesting past the plan's depth, inside a record:
    the keys after it are still written (the plan must not stop half way)."""
    for nested in ({"a.b": 1, "c": 2}, {1: "x", "c": 2}, _deep(12)):
        records = [{"id": n, "nested": nested, "after": f"v{n}", "last": n * 2} for n in range(3)]
        for neutralize in (True, False):
            planned = _table(records, neutralize=neutralize, planning=True)
            assert planned == _table(records, neutralize=neutralize, planning=False)
            header = planned.decode("utf-8-sig").splitlines()[0]
            assert "after" in header
            assert "last" in header


def test_compile_row_plan_declines_what_it_does_not_cover() -> None:
    """None for a nested dotted or non-text key; plans up to the depth and column limits."""
    for nested in ({"a.b": 1, "c": 2}, {1: "x", "c": 2}):
        assert (
            compile_row_plan({"id": 1, "nested": nested, "after": 2}, neutralize_formulas=True)
            is None
        )
    # Eight mappings below the record are planned, nine are not.
    assert compile_row_plan({"id": 1, "n": _deep(7)}, neutralize_formulas=True) is not None
    assert compile_row_plan({"id": 1, "n": _deep(8)}, neutralize_formulas=True) is None
    # At most 256 columns.
    wide = {f"c{n}": n for n in range(256)}
    planned = compile_row_plan(wide, neutralize_formulas=False)
    assert planned is not None
    assert len(planned[1]) == 256
    assert compile_row_plan({**wide, "one_more": 1}, neutralize_formulas=False) is None
