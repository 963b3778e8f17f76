"""The CSV writer: flattening, cell encoding, quoting, BOM, formula neutralisation."""

from __future__ import annotations

import csv
import dataclasses
import enum
import io
import json
import types
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reasonkit_export._encoding import to_json_value
from reasonkit_export.exceptions import SourceError
from reasonkit_export.formats._base import ExportInfo, Section
from reasonkit_export.formats._csv import (
    CsvTable,
    CsvWriter,
    encode_row,
    flatten_record,
    neutralize_cell,
    write_csv_table,
)
from reasonkit_export.formats._json import JsonWriter
from reasonkit_export.formats._manifest import verify_archive

BOM = b"\xef\xbb\xbf"
TRIGGERS = ["=", "+", "-", "@", "\t", "\r", "\n"]
# After leading whitespace: the ASCII triggers and their full-width / small-form twins.
LOOK_ALIKES = ["=", "+", "-", "@", "＝", "＋", "－", "＠", "﹦", "﹢", "﹣", "﹫"]
MAX_SAFE = 2**53 - 1
ReadCsv = Callable[[bytes], list[list[str]]]


def expected_cell(value: Any, *, neutralize: bool = True) -> str:
    """The documented cell text of one flattened JSON-model value (test oracle)."""
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int) and neutralize and abs(value) > MAX_SAFE:
        return "'" + json.dumps(value)
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, str):
        if neutralize and (value[:1] in TRIGGERS or value.lstrip()[:1] in LOOK_ALIKES):
            return "'" + value
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def expected_table(
    records: Sequence[Mapping[str, Any]], *, neutralize: bool = True
) -> list[list[str]]:
    """Header and rows the documented flattening gives for ``records``."""
    flats = [flatten_record(to_json_value(r)) for r in records]
    columns = list(dict.fromkeys(c for flat in flats for c in flat))
    if not columns:
        return [["no_records"], *[[""] for _ in flats]]
    header = [expected_cell(c, neutralize=neutralize) for c in columns]
    rows = [[expected_cell(f.get(c), neutralize=neutralize) for c in columns] for f in flats]
    return [header, *rows]


def csv_bytes(records: Sequence[Mapping[str, Any]], **options: Any) -> bytes:
    """Write ``records`` with write_csv_table and return the bytes."""
    sink = io.BytesIO()
    write_csv_table(iter(records), sink, **options)
    return sink.getvalue()


SAMPLE = [
    {
        "id": 1,
        "name": "Zoë Ångström-Øre",
        "greeting": "Γειά σου, Кириллица, 日本語, 🙂",
        "joined": datetime(2021, 3, 4, 5, 6, 7, tzinfo=UTC),
        "birthday": date(1990, 2, 3),
        "balance": Decimal("12.50"),
        "score": -1.25,
        "active": True,
        "deleted": False,
        "parent": None,
        "tags": ["a", "b,c", 'd"e'],
        "meta": {"model": "m1", "usage": {"in": 12, "out": 34}, "empty": {}},
    },
    {"id": 2, "name": "naïve café", "meta": {"model": "m2"}, "late": "only here"},
]


# --- flattening ---------------------------------------------------------------


def test_flatten_nested_mappings_to_dotted_columns() -> None:
    """Nested mappings become dotted columns in key order; lists and {} stay values."""
    record = {"a": 1, "meta": {"model": "m1", "usage": {"in": 1}}, "l": [1, {"x": 2}], "e": {}}
    assert list(flatten_record(record).items()) == [
        ("a", 1),
        ("meta.model", "m1"),
        ("meta.usage.in", 1),
        ("l", [1, {"x": 2}]),
        ("e", {}),
    ]


def test_flatten_collision_keeps_nested_mapping_whole() -> None:
    """A nested mapping whose columns clash with a dotted key is kept whole, in either order."""
    assert flatten_record({"a.b": 1, "a": {"b": 2}}) == {"a.b": 1, "a": {"b": 2}}
    assert list(flatten_record({"a": {"b": 2}, "a.b": 1})) == ["a", "a.b"]
    # Two expansions clashing: the later one is kept whole, nothing is overwritten.
    assert flatten_record({"x": {"y.z": 1}, "x.y": {"z": 2}}) == {"x.y.z": 1, "x.y": {"z": 2}}


def test_flatten_collision_inside_nested_level() -> None:
    """Clashes are resolved at the level where they occur, deeper levels still flatten."""
    record = {"outer": {"k.v": 1, "k": {"v": 2}}, "other": {"deep": {"x": 3}}}
    assert flatten_record(record) == {
        "outer.k.v": 1,
        "outer.k": {"v": 2},
        "other.deep.x": 3,
    }


def test_collision_cells_are_lossless_json(read_csv: ReadCsv) -> None:
    """The kept-whole mapping is written as compact JSON in its own column."""
    rows = read_csv(csv_bytes([{"a.b": 1, "a": {"b": 2, "c": [1]}}]))
    assert rows == [["a.b", "a"], ["1", '{"b":2,"c":[1]}']]


@pytest.mark.parametrize(
    "record",
    [
        {"a": {"b": 2}, "a.b": 1},
        {"x": {"y.z": 1}, "x.y": {"z": 2}},
        {"x": {"y": {"z": 1}}, "x.y": {"z": 2}},
        {"o": {"k.v": 1, "k": {"v": 2}}, "p": {"q": {"r": 3}}},
        {"1": {"x": 1}, 1: "non-text key replaces the nested value"},
        {"a": {"1": {"x": 1}, 1: "flat"}},
    ],
)
def test_writer_flattens_clashes_like_the_reference(
    record: dict[Any, Any], read_csv: ReadCsv
) -> None:
    """The writer's one-pass flattening equals flatten_record on clashing records."""
    assert read_csv(csv_bytes([record])) == expected_table([record])


# --- round trip -----------------------------------------------------------------


def test_round_trip_matches_documented_flattening(read_csv: ReadCsv) -> None:
    """The stdlib csv module reads back exactly the flattened, encoded records."""
    assert read_csv(csv_bytes(SAMPLE)) == expected_table(SAMPLE)


def test_cell_encoding_rules(read_csv: ReadCsv) -> None:
    """None is empty, booleans true/false, numbers JSON, lists compact JSON, dates ISO."""
    rows = read_csv(csv_bytes(SAMPLE))
    cells = dict(zip(rows[0], rows[1], strict=True))
    assert cells["parent"] == ""
    assert (cells["active"], cells["deleted"]) == ("true", "false")
    assert (cells["id"], cells["score"]) == ("1", "-1.25")
    assert cells["balance"] == "12.50"
    assert cells["joined"] == "2021-03-04T05:06:07+00:00"
    assert cells["birthday"] == "1990-02-03"
    assert cells["tags"] == '["a","b,c","d\\"e"]'
    assert cells["meta.empty"] == "{}"
    assert cells["meta.usage.in"] == "12"


def test_key_first_seen_in_late_record_is_kept(read_csv: ReadCsv) -> None:
    """Columns are the union of keys; a key first seen late gets a column, earlier rows pad."""
    records: list[Mapping[str, Any]] = [{"a": i} for i in range(2000)]
    records.append({"a": "x", "b": "late,\r\nmultiline"})
    records.append({"c": 3})
    rows = read_csv(csv_bytes(records))
    assert rows[0] == ["a", "b", "c"]
    assert rows[1] == ["0", "", ""]
    assert rows[2000] == ["1999", "", ""]
    assert rows[2001] == ["x", "late,\r\nmultiline", ""]
    assert rows[2002] == ["", "", "3"]
    assert rows == expected_table(records)


def test_late_column_with_multiline_cells_before_it(read_csv: ReadCsv) -> None:
    """Rows re-read for padding keep quoted line breaks, quotes and commas intact."""
    records: list[dict[str, Any]] = [
        {"t": 'a\r\nb "q", c'},
        {"t": "\n"},
        {"t": ""},
        {"t": "x", "u": 1},
    ]
    assert read_csv(csv_bytes(records, neutralize_formulas=False)) == expected_table(
        records, neutralize=False
    )


def test_normalises_unusual_values_like_the_json_encoding(read_csv: ReadCsv) -> None:
    """Non-text keys, enums, dataclasses, non-finite floats follow the shared encoding."""

    class Colour(enum.Enum):
        RED = "red"

    @dataclasses.dataclass
    class Point:
        x: int
        y: int

    # Host data may have non-text keys although the type says str.
    records: list[Mapping[Any, Any]] = [
        {
            1: "one",
            "1": "string one wins",
            "c": Colour.RED,
            "p": Point(1, 2),
            "f": float("-inf"),
            "n": float("nan"),
            "naive": datetime(2024, 5, 1, 12),  # naive on purpose: taken as UTC
            "s": {3, 1, 2},
            "b": b"\x00\xff",
            "nested": {2: {"deep": (1, 2)}},
        }
    ]
    rows = read_csv(csv_bytes(records))
    assert rows == expected_table(records)
    cells = dict(zip(rows[0], rows[1], strict=True))
    assert cells["naive"] == "2024-05-01T12:00:00+00:00"
    assert (cells["p.x"], cells["p.y"]) == ("1", "2")
    assert cells["f"] == ""  # -inf is null in JSON, an empty cell in CSV
    assert cells["nested.2.deep"] == "[1,2]"


# --- bytes on the wire ----------------------------------------------------------


def test_bom_on_by_default_and_off_on_request() -> None:
    """UTF-8 BOM starts the file by default and is absent with bom=False."""
    assert csv_bytes([{"a": 1}]) == BOM + b"a\r\n1\r\n"
    assert csv_bytes([{"a": 1}], bom=False) == b"a\r\n1\r\n"


def test_crlf_line_ends() -> None:
    """Every row ends with CRLF, including the last; no bare LF between rows."""
    data = csv_bytes([{"a": 1, "b": "x"}, {"a": 2, "b": "y"}], bom=False)
    assert data == b"a,b\r\n1,x\r\n2,y\r\n"


def test_rfc4180_quoting() -> None:
    """Commas, quotes and line breaks are quoted with doubled quotes; nothing else is."""
    data = csv_bytes([{"a": "x,y", "b": 'say "hi"', "c": "two\nlines", "d": " plain "}], bom=False)
    assert data == b'a,b,c,d\r\n"x,y","say ""hi""","two\nlines", plain \r\n'


def test_single_empty_cell_row_is_not_a_blank_line(read_csv: ReadCsv) -> None:
    """A one-column row with an empty cell is written as "" so readers keep the row."""
    data = csv_bytes([{"a": None}, {"a": ""}], bom=False)
    assert data == b'a\r\n""\r\n""\r\n'
    assert read_csv(data) == [["a"], [""], [""]]


def test_non_ascii_is_utf8() -> None:
    """Non-ASCII text is written as UTF-8, never escaped."""
    data = csv_bytes([{"name": "Zoë 日本語 🙂"}], bom=False)
    assert data == "name\r\nZoë 日本語 🙂\r\n".encode()


def test_empty_table_has_a_placeholder_header() -> None:
    """No records (or only empty ones) give the no_records header (and one empty row each)."""
    assert csv_bytes([]) == BOM + b"no_records\r\n"
    assert csv_bytes([{}, {}], bom=False) == b'no_records\r\n""\r\n""\r\n'
    assert write_csv_table([{}, {}], io.BytesIO()) == 2  # records are still counted


def test_empty_table_uses_declared_fields() -> None:
    """An empty category's table has its declared fields as header, neutralised too."""
    sink = io.BytesIO()
    write_csv_table([], sink, bom=False, fields=("id", "amount", "=x"))
    assert sink.getvalue() == b"id,amount,'=x\r\n"


def test_pandas_reads_empty_tables(tmp_path: Path) -> None:
    """pandas.read_csv reads an empty table (placeholder or declared fields) as zero rows."""
    pandas = pytest.importorskip("pandas")
    for fields, columns in (((), ["no_records"]), (("id", "amount"), ["id", "amount"])):
        sink = io.BytesIO()
        write_csv_table([], sink, fields=fields)
        path = tmp_path / "empty.csv"
        path.write_bytes(sink.getvalue())
        frame = pandas.read_csv(path, encoding="utf-8-sig")
        assert list(frame.columns) == columns
        assert len(frame) == 0


def test_empty_records_before_first_column_become_rows(read_csv: ReadCsv) -> None:
    """Records without any column, spooled before one appears, still get their rows."""
    data = csv_bytes([{}, {"a": 1}, {}], bom=False)
    assert data == b'a\r\n""\r\n1\r\n""\r\n'
    assert read_csv(data) == [["a"], [""], ["1"], [""]]


@given(st.lists(st.lists(st.text(max_size=6), max_size=4), max_size=5))
@settings(max_examples=100, deadline=None)
def test_encode_row_equals_csv_module(rows: list[list[str]]) -> None:
    """The row encoder writes byte for byte what csv.writer(QUOTE_MINIMAL) writes."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL).writerows(rows)
    assert "".join(encode_row(row) + "\r\n" for row in rows) == buffer.getvalue()


# --- formula neutralisation -----------------------------------------------------


def test_calc_payload_is_neutralised(read_csv: ReadCsv) -> None:
    """The classic DDE payload comes out with a leading apostrophe."""
    payload = "=cmd|' /C calc'!A0"
    data = csv_bytes([{"x": payload}], bom=False)
    assert data == b"x\r\n'=cmd|' /C calc'!A0\r\n"
    assert read_csv(data)[1] == ["'" + payload]


@pytest.mark.parametrize("trigger", TRIGGERS)
def test_every_trigger_character_is_neutralised(trigger: str, read_csv: ReadCsv) -> None:
    """Text starting with = + - @ TAB CR LF gets a leading apostrophe, header cells too."""
    text = trigger + "1+1"
    rows = read_csv(csv_bytes([{text: text, "nested": {"v": text}}]))
    assert rows == [["'" + text, "nested.v"], ["'" + text, "'" + text]]
    assert neutralize_cell(text) == "'" + text


def test_neutralisation_can_be_turned_off(read_csv: ReadCsv) -> None:
    """With neutralize_formulas=False every text cell is written verbatim."""
    payload = "=cmd|' /C calc'!A0"
    records = [{"=h": payload, "b": "-2", "c": "@SUM(A1)", "d": "\tx", "e": "+1"}]
    rows = read_csv(csv_bytes(records, neutralize_formulas=False))
    assert rows == [["=h", "b", "c", "d", "e"], [payload, "-2", "@SUM(A1)", "\tx", "+1"]]


def test_numbers_are_not_neutralised(read_csv: ReadCsv) -> None:
    """Negative ints, floats and Decimals stay numbers; only text that looks like one is not."""
    record = {
        "i": -5,
        "f": -0.5,
        "refund": Decimal("-12.50"),
        "tiny": Decimal("-1E-7"),
        "nested": {"amount": Decimal("-3.10")},
        "text": "-5",
    }
    rows = read_csv(csv_bytes([record]))
    assert rows[0] == ["i", "f", "refund", "tiny", "nested.amount", "text"]
    assert rows[1] == ["-5", "-0.5", "-12.50", "-1E-7", "-3.10", "'-5"]


def test_decimals_in_non_dict_mappings_stay_numbers(read_csv: ReadCsv) -> None:
    """A record that is another Mapping type keeps its Decimal values as numbers."""
    record = types.MappingProxyType({"refund": Decimal("-12.50")})
    assert read_csv(csv_bytes([record]))[1] == ["-12.50"]


def test_special_decimals_are_text(read_csv: ReadCsv) -> None:
    """Decimal NaN and infinities are not numbers: they are written as their JSON text."""
    rows = read_csv(csv_bytes([{"a": Decimal("NaN"), "b": Decimal("-Infinity")}]))
    assert rows[1] == ["NaN", "'-Infinity"]


def test_unsafe_integers_are_text(read_csv: ReadCsv) -> None:
    """Integers beyond ±(2^53 - 1) are text (a spreadsheet would round them); others numbers."""
    values = {"a": 2**53 - 1, "b": 2**53, "c": -(2**53), "d": -(10**20)}
    rows = read_csv(csv_bytes([values]))
    assert rows[1] == [
        "9007199254740991",
        "'9007199254740992",
        "'-9007199254740992",
        "'-" + "1" + "0" * 20,
    ]
    rows = read_csv(csv_bytes([values], neutralize_formulas=False))
    assert rows[1] == [str(v) for v in values.values()]


@pytest.mark.parametrize(
    "text",
    [" =1+1", "\u3000=1+1", "\u00a0+1", "  -2", "＝1+1", "＋1", "－1", "＠SUM(A1)", " ＝1", "﹦1"],
)
def test_leading_whitespace_and_look_alikes_are_neutralised(text: str, read_csv: ReadCsv) -> None:
    """Formulas behind whitespace, and full-width or small-form =+-@, get the apostrophe."""
    assert read_csv(csv_bytes([{"a": text}]))[1] == ["'" + text]


def test_harmless_text_is_untouched(read_csv: ReadCsv) -> None:
    """Text with a trigger character later in the cell, or an apostrophe, is left alone."""
    rows = read_csv(csv_bytes([{"a": "1+1=2", "b": "'quoted", "c": " x=1", "d": "　日本"}]))
    assert rows[1] == ["1+1=2", "'quoted", " x=1", "　日本"]


# --- the writer -----------------------------------------------------------------


def test_plan_single_category_is_csv(make_info: Callable[..., ExportInfo]) -> None:
    """One category plans a gzip-able text/csv artifact."""
    plan = CsvWriter().plan(make_info("profile", fmt="csv"))
    assert (plan.extension, plan.media_type, plan.gzip_allowed) == (
        "csv",
        "text/csv; charset=utf-8",
        True,
    )


def test_plan_several_categories_is_zip(make_info: Callable[..., ExportInfo]) -> None:
    """Several categories plan a ZIP, which is not gzipped again."""
    plan = CsvWriter().plan(make_info("a", "b", fmt="csv"))
    assert (plan.extension, plan.media_type, plan.gzip_allowed) == (
        "zip",
        "application/zip",
        False,
    )


def test_single_category_write(make_info: Callable[..., ExportInfo], read_csv: ReadCsv) -> None:
    """The single-category artifact is one CSV table and reports its record count."""
    sink = io.BytesIO()
    result = CsvWriter(bom=False).write(
        make_info("profile", fmt="csv"), [Section(category="profile", records=SAMPLE)], sink
    )
    assert result.record_counts == {"profile": 2}
    assert read_csv(sink.getvalue()) == expected_table(SAMPLE)


def test_single_category_refuses_extra_sections(make_info: Callable[..., ExportInfo]) -> None:
    """A writer planned for one category refuses a second section instead of dropping it."""
    sections = [Section(category="a", records=[]), Section(category="b", records=[])]
    with pytest.raises(ValueError, match="more than one section"):
        CsvWriter().write(make_info("a", fmt="csv"), sections, io.BytesIO())


def test_several_categories_make_a_verified_zip(
    make_info: Callable[..., ExportInfo], read_csv: ReadCsv, once_only: Callable[..., Any]
) -> None:
    """Several categories give <category>.csv each, README.txt and a manifest that verifies."""
    sources = {"profile": once_only(SAMPLE[:1]), "history": once_only(SAMPLE)}
    sections = [Section(category=c, records=s) for c, s in sources.items()]
    sink = io.BytesIO()
    result = CsvWriter().write(make_info("profile", "history", fmt="csv"), sections, sink)
    assert result.record_counts == {"profile": 1, "history": 2}
    with zipfile.ZipFile(io.BytesIO(sink.getvalue())) as zf:
        assert zf.namelist() == ["profile.csv", "history.csv", "README.txt", "manifest.json"]
        assert read_csv(zf.read("history.csv")) == expected_table(SAMPLE)
        manifest = json.loads(zf.read("manifest.json"))
    assert manifest["format"] == "csv"
    assert verify_archive(io.BytesIO(sink.getvalue())) == []


def test_source_read_once_and_errors_propagate() -> None:
    """Records are iterated once; a source error mid-way reaches the caller unchanged."""

    def failing() -> Iterator[Mapping[str, Any]]:
        yield {"a": 1}
        raise SourceError("history", "RuntimeError after 1 records")

    with pytest.raises(SourceError):
        write_csv_table(failing(), io.BytesIO())


def test_table_can_be_written_twice() -> None:
    """A spooled table writes the same bytes each time (the ZIP relies on it)."""
    with CsvTable() as table:
        table.extend(SAMPLE)
        first, second = io.BytesIO(), io.BytesIO()
        assert table.write_csv(first) == table.write_csv(second) == 2
        assert first.getvalue() == second.getvalue()
        assert table.columns[0] == "id"


# --- properties -----------------------------------------------------------------

# Mostly a few short keys, dotted and not, so that flattening clashes are common.
CLASHING = st.sampled_from(["a", "b", "a.b", "b.a", "a.a", "a.b.a", ".", "", "=k"])
KEYS = st.one_of(CLASHING, CLASHING, CLASHING, st.text(max_size=6))
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=12)
)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=12,
)
RECORDS = st.lists(st.dictionaries(KEYS, VALUES, max_size=5), max_size=4)
PROPERTY_SETTINGS = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@given(records=RECORDS, neutralize=st.booleans())
@PROPERTY_SETTINGS
def test_property_csv_reads_back_documented_flattening(
    records: list[dict[str, Any]], neutralize: bool
) -> None:
    """Arbitrary nested records read back from CSV equal the documented flattening."""
    data = csv_bytes(records, neutralize_formulas=neutralize)
    text = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="")
    assert list(csv.reader(text, strict=True)) == expected_table(records, neutralize=neutralize)


@given(records=RECORDS)
@PROPERTY_SETTINGS
def test_property_json_reads_back_json_model(records: list[dict[str, Any]]) -> None:
    """Arbitrary nested records read back from the JSON document equal to_json_value of them."""
    info = ExportInfo(
        export_id=UUID(int=1),
        user_id="u",
        generated_at=datetime(2025, 1, 1, tzinfo=UTC),
        format="json",
        categories=("c",),
        generator="test",
    )
    sink = io.BytesIO()
    JsonWriter().write(info, [Section(category="c", records=records)], sink)
    document = json.loads(sink.getvalue())
    assert document["categories"]["c"]["records"] == to_json_value(records)
    assert document["record_counts"] == {"c": len(records)}
