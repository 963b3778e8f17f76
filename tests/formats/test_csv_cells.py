"""CSV cell encoding edge cases found by mutation testing: each test states one rule."""

from __future__ import annotations

import dataclasses
import enum
import io
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from reasonkit_export.formats._csv import encode_row, write_csv_table

BOM = b"\xef\xbb\xbf"


class Formula(enum.StrEnum):
    """A host enum whose value happens to look like a formula."""

    SUM = "=1+1"
    AT = "@SUM(A1)"


class Tag(str):
    """A plain ``str`` subclass, as ORMs and validation libraries return."""

    __slots__ = ()


def table(records: Sequence[Mapping[Any, Any]], **options: Any) -> bytes:
    """The bytes write_csv_table writes for ``records`` (without the BOM)."""
    sink = io.BytesIO()
    write_csv_table(iter(records), sink, **options)
    data = sink.getvalue()
    assert data.startswith(BOM)
    return data[len(BOM) :]


def lines(records: Sequence[Mapping[Any, Any]], **options: bool) -> list[str]:
    """The CRLF-separated lines of the table (no cell here holds a line break)."""
    return table(records, **options).decode().split("\r\n")[:-1]


# --- formula neutralisation of text that is not exactly ``str`` --------------------


def test_str_enum_holding_a_formula_is_neutralised() -> None:
    """A StrEnum member whose value starts a formula is written with a leading apostrophe."""
    assert lines([{"v": Formula.SUM, "w": Formula.AT}]) == ["v,w", "'=1+1,'@SUM(A1)"]


@pytest.mark.parametrize(
    "record",
    [
        {"v": Tag("=1+1")},
        {"v": {"x": Tag("=1+1"), "y": 1}},  # flattened into v.x, v.y
        {"v": [Tag("=1+1")]},  # JSON text of a list never starts a formula
    ],
    ids=["top-level", "nested", "in-list"],
)
def test_str_subclass_holding_a_formula_is_neutralised(record: dict[str, Any]) -> None:
    """A ``str`` subclass is text: a formula trigger gets the apostrophe wherever it sits."""
    body = table([record]).decode()
    assert "=1+1" in body
    assert ",=1+1" not in body
    assert "\n=1+1" not in body
    if isinstance(record["v"], list):
        assert body.endswith('"[""=1+1""]"\r\n')
    else:
        assert "'=1+1" in body


def test_str_subclass_is_quoted_like_text() -> None:
    """A ``str`` subclass with a comma or quote is quoted exactly as a plain string is."""
    assert lines([{"a": Tag('x,"y"'), "b": Tag("-2")}]) == ["a,b", '"x,""y""",\'-2']


def test_str_subclass_is_verbatim_without_neutralisation() -> None:
    """With neutralize_formulas=False a formula-like ``str`` subclass is written unchanged."""
    assert lines([{"v": Tag("=1+1")}], neutralize_formulas=False) == ["v", "=1+1"]
    assert lines([{"v": Formula.SUM}], neutralize_formulas=False) == ["v", "=1+1"]


# --- time stamps ------------------------------------------------------------------


def test_aware_datetime_keeps_its_offset() -> None:
    """An aware datetime is written in its own offset (+02:00 stays +02:00)."""
    cest = timezone(timedelta(hours=2))
    india = timezone(timedelta(hours=5, minutes=30))
    records = [
        {
            "t": datetime(2024, 5, 1, 12, 0, tzinfo=cest),
            "u": datetime(2024, 5, 1, 12, 0, 0, 250000, tzinfo=india),
            "z": datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        }
    ]
    assert lines(records) == [
        "t,u,z",
        "2024-05-01T12:00:00+02:00,2024-05-01T12:00:00.250000+05:30,2024-05-01T12:00:00+00:00",
    ]


def test_naive_datetime_is_taken_as_utc() -> None:
    """A naive datetime is written with +00:00, never as a bare local time."""
    assert lines([{"t": datetime(2024, 5, 1, 12, 30)}]) == ["t", "2024-05-01T12:30:00+00:00"]


# --- quoting ---------------------------------------------------------------------


@pytest.mark.parametrize("text", ["a\rb", "\r", "end\r"], ids=["inside", "alone", "at-end"])
def test_bare_carriage_return_is_quoted(text: str) -> None:
    """A cell holding a lone CR is quoted, so readers do not take it as a line end."""
    expected = b'v,w\r\n"' + text.encode() + b'",1\r\n'
    assert table([{"v": text, "w": 1}], neutralize_formulas=False) == expected
    assert encode_row([text, "1"]) == '"' + text + '",1'


def test_neutralised_carriage_return_is_quoted() -> None:
    """A cell starting with CR gets the apostrophe and the quotes."""
    assert table([{"v": "\rx"}]) == b'v\r\n"\'\rx"\r\n'


@pytest.mark.parametrize(
    ("row", "line"),
    [
        (["a", "b"], "a,b"),
        (["a,b"], '"a,b"'),
        (['a"b', "c"], '"a""b",c'),
        (["a\nb"], '"a\nb"'),
        ([""], '""'),
        (["", ""], ","),
        (["", "x"], ",x"),
    ],
    ids=["plain", "comma", "quote", "lf", "one-empty", "two-empty", "empty-first"],
)
def test_encode_row_quotes_only_what_rfc_4180_needs(row: list[str], line: str) -> None:
    """Fields are quoted (quotes doubled) only for comma, quote, CR or LF."""
    assert encode_row(row) == line


# --- nested mappings with non-text keys --------------------------------------------


def test_nested_mapping_with_non_text_key_keeps_every_column() -> None:
    """A non-text key in a nested mapping becomes its JSON text; no column is lost."""
    records = [{"m": {1: "one", "y": 2}, "after": "kept"}]
    assert lines(records) == ["m.1,m.y,after", "one,2,kept"]


def test_non_text_key_after_text_keys_keeps_earlier_columns() -> None:
    """Columns written before a non-text key in the same mapping are kept, in order."""
    records = [{"a": 1, "b": {"c": 2}, 3: "three", "d": "x"}]
    assert lines(records) == ["a,b.c,3,d", "1,2,three,x"]


def test_non_text_keys_that_merge_keep_the_later_value() -> None:
    """Keys 1 and "1" are one column, as in the JSON form (the later value wins)."""
    assert lines([{"m": {1: "int", "1": "text"}}]) == ["m.1", "text"]


def test_non_text_key_in_a_nested_mapping_keeps_the_columns_before_it() -> None:
    """Columns of the parent mapping written before a nested non-text key are kept."""
    records = [{"a": 1, "b": "two", "m": {"x": 0, 2: "two"}, "z": True}]
    assert lines(records) == ["a,b,m.x,m.2,z", "1,two,0,two,true"]


def test_str_enum_key_names_its_column_by_value() -> None:
    """A ``str`` subclass key (a StrEnum member) is text: its value names the column."""

    class Column(enum.StrEnum):
        NAME = "name"
        CALC = "=calc"

    assert lines([{Column.NAME: "x", Column.CALC: 1}]) == ["name,'=calc", "x,1"]
    assert lines([{"m": {Column.NAME: "y"}}]) == ["m.name", "y"]


# --- values that reach the generic path --------------------------------------------


def test_non_finite_floats_are_empty_cells() -> None:
    """NaN and both infinities are empty cells (JSON null), finite floats their repr."""
    records = [{"a": float("inf"), "b": float("-inf"), "c": float("nan"), "d": 0.5, "e": -0.0}]
    assert lines(records) == ["a,b,c,d,e", ",,,0.5,-0.0"]


class Flag(enum.Enum):
    """Enums whose values are the JSON scalars."""

    NOTHING = None
    YES = True
    NO = False
    THREE = 3
    HALF = 0.5
    HUGE = float("inf")
    LIST = ("a", "b,c")


def test_enum_values_are_written_as_their_json_scalars() -> None:
    """Enum members are written as their values: empty, true, false, numbers, JSON text."""
    record = {member.name.lower(): member for member in Flag}
    assert lines([record]) == [
        "nothing,yes,no,three,half,huge,list",
        ',true,false,3,0.5,,"[""a"",""b,c""]"',
    ]


class Count(int):
    """An ``int`` subclass with a repr of its own."""

    def __repr__(self) -> str:
        return f"Count({int(self)})"


class Ratio(float):
    """A ``float`` subclass with a repr of its own."""

    def __repr__(self) -> str:
        return f"Ratio({float(self)})"


def test_number_subclasses_are_written_as_plain_numbers() -> None:
    """int and float subclasses (IntEnum, custom types) are written as their numbers."""

    class Level(enum.IntEnum):
        HIGH = 7

    records = [{"c": Count(5), "r": Ratio(0.25), "level": Level.HIGH, "neg": Count(-5)}]
    assert lines(records) == ["c,r,level,neg", "5,0.25,7,-5"]


def test_records_that_are_mappings_but_not_dicts_are_written() -> None:
    """A record may be any Mapping (MappingProxyType, a custom Mapping) and reads the same."""
    from types import MappingProxyType

    class Row(Mapping[str, Any]):
        def __init__(self, data: dict[str, Any]) -> None:
            self._data = data

        def __getitem__(self, key: str) -> Any:
            return self._data[key]

        def __iter__(self) -> Any:
            return iter(self._data)

        def __len__(self) -> int:
            return len(self._data)

    records: list[Mapping[str, Any]] = [
        MappingProxyType({"a": 1, "b": {"c": "=x"}}),
        Row({"a": 2, "b": {"c": "y"}}),
    ]
    assert lines(records) == ["a,b.c", "1,'=x", "2,y"]


class Huge(enum.IntEnum):
    """An IntEnum member beyond the range spreadsheets keep exact."""

    ID = 2**60


@pytest.mark.parametrize(
    "value", [Count(2**60), Huge.ID, Count(-(2**60))], ids=["int-subclass", "int-enum", "negative"]
)
def test_int_subclass_beyond_safe_range_is_written_as_text(value: int) -> None:
    """An int subclass past 2**53 gets a plain int's leading ``'``, only when neutralising."""
    digits = int.__repr__(int(value))
    assert lines([{"v": value, "w": 2**60}]) == ["v,w", f"'{digits},'{2**60}"]
    assert lines([{"v": value}], neutralize_formulas=False) == ["v", digits]


# --- records that are not dicts, lists of values that are not plain -----------------


@dataclasses.dataclass
class Row:
    """A record that is not a mapping: written through its JSON form."""

    a: int
    b: str


def test_dataclass_record_is_written_from_its_json_form() -> None:
    """A dataclass record gives its fields as columns, formulas neutralised."""
    assert lines([Row(1, "=x"), {"a": 2, "b": "y"}]) == ["a,b", "1,'=x", "2,y"]  # type: ignore[list-item]


def test_list_of_values_that_are_not_plain_is_their_json_text() -> None:
    """A list of datetimes (naive meaning UTC) or decimals is its JSON text, like a lone value."""
    record = {
        "at": [datetime(2025, 1, 1), datetime(2025, 1, 2, tzinfo=UTC)],
        "amounts": [Decimal("1.50"), Decimal("-2")],
    }
    assert lines([record]) == [
        "at,amounts",
        '"[""2025-01-01T00:00:00+00:00"",""2025-01-02T00:00:00+00:00""]","[""1.50"",""-2""]"',
    ]
