"""The HTML view's fast paths give exactly what the straightforward definitions give.

The renderer compiles recurring mapping shapes, escapes with substring tests
and formats times through lookup tables; ``html_reference`` does each the
long way (Babel for every date and time, an unconditional escape, no caches).
Records are drawn so that shapes recur with changing value types, which
exercises both the compiled and the general path of one renderer.
"""

from __future__ import annotations

import enum
import json
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from typing import Any, cast
from uuid import UUID

import pytest
from babel.dates import format_time
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reasonkit_export import CategoryDescription
from reasonkit_export._encoding import dumps_compact, utf8
from reasonkit_export._present import Presenter
from reasonkit_export.formats._html import _SHAPES, RecordRenderer, escape
from tests.browser.xss import corpus
from tests.formats.html_reference import (
    reference_escape,
    reference_render,
    reference_timestamp,
)

LOCALES = ["en", "de", "de-CH", "fr", "ar", "hi", "ja", "ko", "he", "zh", "fa", "bn", "pt"]
ZONES = [
    "UTC",
    "Etc/GMT+5",
    "Europe/Berlin",
    "America/St_Johns",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
]
XSS = corpus()


class Colour(enum.Enum):
    """A caller's enum value."""

    RED = "red"
    BIG = 1234567


class Size(enum.IntEnum):
    """An integer enum: not an exact int."""

    LARGE = 123456


_PRESENTERS: dict[tuple[str, str], Presenter] = {}


def _presenter(locale: str, zone: str) -> Presenter:
    key = (locale, zone)
    if key not in _PRESENTERS:
        _PRESENTERS[key] = Presenter.for_export(
            locale=locale,
            timezone=zone,
            descriptions={
                "c": CategoryDescription(
                    title="C", fields={"a": "<b>A</b> & 'a'", "d.x": {"en": "X\n", "de": "Ex"}}
                )
            },
        )
    return _PRESENTERS[key]


_offsets = st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23))
_zones: st.SearchStrategy[tzinfo | None] = st.one_of(
    st.none(), st.just(UTC), st.builds(timezone, _offsets)
)
_datetimes = st.datetimes(
    min_value=datetime(1850, 1, 1), max_value=datetime(2100, 1, 1), timezones=cast(Any, _zones)
)
_text = (
    st.text(max_size=40)
    | st.sampled_from(XSS)
    | _datetimes.map(lambda d: d.isoformat())
    | st.dates().map(lambda d: d.isoformat())
    | st.sampled_from(
        ["2024-13-45T99:00:00+00:00", "2024-05-01 is the day", "x-y", "\r\n", "a\ud800<"]
    )
)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats()
    | _text
    | _datetimes
    | st.dates()
    | st.times()
    | st.decimals(allow_nan=True, places=3)
    | st.binary(max_size=8)
    | st.sampled_from([Colour.RED, Colour.BIG, Size.LARGE, UUID(int=7), timedelta(seconds=90)])
)
_keys = st.sampled_from(["a", "b", "d", "x", "<k>", "created_at", "tokens", "\udfff"]) | st.text(
    max_size=6
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(_text, min_size=1, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(_keys, inner, max_size=4)
    ),
    max_leaves=12,
)
_records = st.dictionaries(_keys, _values, max_size=6)


def _shared_shape(record: dict[str, Any], values: list[Any]) -> list[dict[str, Any]]:
    """Records with ``record``'s keys and other values: the same shape, other types."""
    out = [record]
    for value in values:
        out.append(dict.fromkeys(record, value))
        out.append(dict(zip(record, [value, *record.values()], strict=False)))
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    locale=st.sampled_from(LOCALES),
    zone=st.sampled_from(ZONES),
    records=st.lists(_records, max_size=6),
    values=st.lists(_values, max_size=3),
)
def test_fast_renderer_equals_the_reference(
    locale: str, zone: str, records: list[dict[str, Any]], values: list[Any]
) -> None:
    """Any records, rendered twice (so shapes compile), give the reference's fragments."""
    presenter = _presenter(locale, zone)
    renderer = RecordRenderer(presenter, "c")
    batch = [r for record in records for r in _shared_shape(record, values)]
    for _ in range(2):
        for number, record in enumerate(batch, start=995):
            expected = reference_render(presenter, "c", number, record)
            assert renderer.render_bytes(number, record) == utf8(expected)


def test_xss_corpus_renders_as_the_reference_in_every_position() -> None:
    """Every hostile string, as value, nested value, list item and key, compiled or not."""
    presenter = _presenter("en", "UTC")
    renderer = RecordRenderer(presenter, "c")
    for number, payload in enumerate(XSS * 3, start=1):
        record = {
            "a": payload,
            "d": {"x": payload, payload: [payload, payload]},
            "l": [payload, {"y": payload}],
            payload: payload,
        }
        text = renderer.render(number, record)
        assert text == reference_render(presenter, "c", number, record)
        assert renderer.render_bytes(number, record) == utf8(text)
        assert "<script" not in text.lower()
        assert "\n" not in text


def test_shapes_compile_and_stay_bounded() -> None:
    """Recurring shapes compile; a stream of ever-new shapes stops at the budget."""
    presenter = _presenter("en", "UTC")
    renderer = RecordRenderer(presenter, "c")
    for number in range(3):
        renderer.render(number + 1, {"a": 1, "d": {"x": "y"}})
    # The record: its typed path renders the nested mapping inline.
    assert renderer._compiled == 1
    for number in range(3):
        renderer.render(number + 1, {"a": 1, "d": {"x": 2}})
    assert renderer._compiled == 2  # its general path compiles the nested mapping
    for number in range(3 * _SHAPES):
        record = {f"k{number}": 1}
        renderer.render(1, record)
        renderer.render(2, record)
        expected = utf8(reference_render(presenter, "c", 3, record))
        assert renderer.render_bytes(3, record) == expected
    assert renderer._compiled == _SHAPES


@settings(max_examples=300, deadline=None)
@given(text=st.text() | st.sampled_from(XSS))
def test_escape_equals_the_unconditional_escape(text: str) -> None:
    """Escaping only what is there is escaping everything."""
    assert escape(text) == reference_escape(text)


@settings(max_examples=300, deadline=None)
@given(
    locale=st.sampled_from(LOCALES),
    zone=st.sampled_from(ZONES),
    moment=_datetimes,
)
def test_timestamps_equal_babel(locale: str, zone: str, moment: datetime) -> None:
    """Compiled clock, cached date and glue and zone name: Babel's text, for any moment."""
    presenter = _presenter(locale, zone)
    assert presenter.timestamp(moment) == reference_timestamp(presenter, moment)
    offset = moment.utcoffset()
    if offset is not None and offset % timedelta(minutes=1):
        return  # JSON writes whole-minute offsets only: that text is another moment
    # The data.json form the HTML child reads: the same text.
    encoded = json.loads(dumps_compact({"at": moment}))["at"]
    assert presenter.value(encoded) == presenter.value(moment)


@pytest.mark.parametrize("locale", [*LOCALES, "en-IN", "sw", "my", "th", "es-MX", "id", "ru"])
def test_compiled_clock_equals_babel_every_second_of_some_minutes(locale: str) -> None:
    """Every hour, minute and second digit, against Babel's medium time format."""
    presenter = _presenter(locale, "UTC")
    for hour in range(24):
        for minute in (0, 1, 9, 10, 30, 59):
            moment = time(hour, minute, (hour * 7 + minute) % 60)
            expected = format_time(moment, "medium", locale=presenter._babel)
            assert presenter.value(moment) == expected
    assert presenter.value(date(2024, 5, 1)) == presenter.value("2024-05-01")


@pytest.mark.parametrize("depth", [28, 29, 30, 31, 32, 33, 36])
def test_typed_paths_near_the_depth_limit_equal_the_reference(depth: int) -> None:
    """A typed path renders nested mappings inline only where the general path would."""
    presenter = _presenter("en", "UTC")
    renderer = RecordRenderer(presenter, "c")
    for number in range(1, 5):
        value: dict[str, Any] = {"leaf": number, "ok": True, "none": None, "t": "x"}
        for level in range(depth):
            inner = [{"a": [level, {"b": level}]}, "t"]
            value = {"k": value, "n": level, "l": inner} if level % 2 else {"k": value}
        expected = reference_render(presenter, "c", number, value)
        assert renderer.render(number, value) == expected


def test_typed_paths_keep_percent_signs_and_every_type() -> None:
    """Labels with %, and every value type a typed path formats, render as the reference."""
    presenter = Presenter.for_export(
        locale="de",
        timezone="Europe/Berlin",
        descriptions={
            "c": CategoryDescription(
                title="C", fields={"rate": "Rate %", "n.a": "%s %d %b %%", "n.d": "100%<"}
            )
        },
    )
    renderer = RecordRenderer(presenter, "c")
    base: dict[str, Any] = {
        "rate": True,
        "stamp": "2025-03-01T10:00:00+00:00",
        "n": {"a": None, "b": 1.5, "c": {}, "d": ["x", "<y>"], "e": [1, {"f": 2}], "g": {1: 2}},
        "big": 12_345_678,
        "day": "2025-03-01",
        "when": datetime(2025, 3, 1, tzinfo=UTC),
        "nested": {"deeper": {"deepest": {"end": {"beyond": "<b>"}}}},
    }
    variants = [
        base,
        {**base, "rate": False, "big": -5},
        {**base, "n": {}},
        {**base, "day": 7},
        # Same key count, other keys: the typed path's key guard must miss.
        {**base, "n": {"z": None, "b": 1.5, "c": {}, "d": [], "e": [], "g": {1: 2}}},
        # A mapping past the inlined depth, empty this time.
        {**base, "nested": {"deeper": {"deepest": {"end": {}}}}},
        {**base, "n": {**base["n"], "g": {}}},
    ]
    for _ in range(3):
        for number, record in enumerate(variants, start=1):
            expected = reference_render(presenter, "c", number, record)
            assert renderer.render(number, record) == expected


@pytest.mark.parametrize("breaker", [24, 25, 26, 27, 28])
def test_typed_paths_starting_at_any_depth_equal_the_reference(breaker: int) -> None:
    """A mapping the typed path cannot inline (a key that is no string) starts a new one deeper."""
    presenter = _presenter("en", "UTC")
    renderer = RecordRenderer(presenter, "c")
    for number in range(1, 5):
        value: dict[Any, Any] = {"leaf": number, "more": {"x": 1}}
        for level in range(36, 0, -1):
            value = {1: "int key", "k": value} if level == breaker else {"k": value}
        expected = reference_render(presenter, "c", number, value)
        assert renderer.render(number, value) == expected
