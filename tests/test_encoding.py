"""The one value encoding: fast paths agree with the documented rules."""

from __future__ import annotations

import enum
import json
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reasonkit_export._encoding import dumps_compact, stdlib_dumps, to_json_value


class Colour(enum.Enum):
    """A plain enum."""

    RED = "red"
    BLUE = 2


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),
    st.decimals(allow_nan=False, allow_infinity=False, places=3),
    st.uuids(),
    st.binary(max_size=20),
    st.sampled_from(list(Colour)),
    st.datetimes(timezones=st.sampled_from([None, UTC, timezone(timedelta(hours=5, minutes=30))])),
    st.dates(),
)
keys = st.one_of(st.text(max_size=8), st.integers(-5, 5), st.booleans(), st.none(), st.uuids())
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(keys, children, max_size=4),
        st.frozensets(st.integers(0, 9), max_size=4),
        st.tuples(children, children),
    ),
    max_leaves=15,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=8), values, max_size=6))
def test_every_path_parses_to_the_documented_value(record: dict[str, Any]) -> None:
    """dumps_compact (orjson when installed), the stdlib path and the rules all agree."""
    expected = json.loads(json.dumps(to_json_value(record), allow_nan=False, ensure_ascii=False))
    assert json.loads(stdlib_dumps(record)) == expected
    assert json.loads(dumps_compact(record)) == expected


def test_documented_examples() -> None:
    """A few values encode exactly as the module docstring says."""
    record = {
        "when": datetime(2024, 1, 2, 3, 4, 5),
        "day": date(2024, 2, 29),
        "money": Decimal("12.50"),
        "id": uuid.UUID(int=1),
        "blob": b"\x00\xff",
        "nan": float("nan"),
        "inf": float("-inf"),
        "set": {3, 1, 2},
        "colour": Colour.RED,
        "keys": {2: "a", True: "b", None: "c"},
        "big": 2**80,
    }
    assert json.loads(dumps_compact(record)) == {
        "when": "2024-01-02T03:04:05+00:00",
        "day": "2024-02-29",
        "money": "12.50",
        "id": "00000000-0000-0000-0000-000000000001",
        "blob": "AP8=",
        "nan": None,
        "inf": None,
        "set": [1, 2, 3],
        "colour": "red",
        "keys": {"2": "a", "true": "b", "null": "c"},
        "big": 2**80,
    }


def test_unsupported_types_name_the_type_only() -> None:
    """An unsupported value raises TypeError naming its type, never its content."""

    class Secret:
        def __repr__(self) -> str:
            return "alice@example.org"

    for dumps in (dumps_compact, stdlib_dumps):
        with pytest.raises(TypeError) as info:
            dumps({"x": Secret()})
        assert "Secret" in str(info.value)
        assert "alice" not in str(info.value)


@pytest.mark.parametrize("dumps", [dumps_compact, stdlib_dumps], ids=["fast", "stdlib"])
def test_line_separators_are_escaped(dumps: Callable[[Any], bytes]) -> None:
    """U+2028, U+2029 and U+0085 are escaped, so splitlines() sees one line per record."""
    value = {"text\u2028key": "a\u2028b\u2029c\x85d – é 🙂", "n": 1}
    encoded = dumps(value)
    assert b"\\u2028" in encoded
    assert b"\\u2029" in encoded
    assert b"\\u0085" in encoded
    assert len(encoded.decode("utf-8").splitlines()) == 1
    assert json.loads(encoded) == value


@pytest.mark.parametrize("dumps", [dumps_compact, stdlib_dumps], ids=["fast", "stdlib"])
@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85"])
@pytest.mark.parametrize("neighbours", ["", "\u2019\u00a0", "\u2027\u2030\x84\x86"])
def test_each_line_separator_is_escaped_alone(
    dumps: Callable[[Any], bytes], separator: str, neighbours: str
) -> None:
    """Each separator is found on its own, beside characters that share its lead byte."""
    value = {"text": f"{neighbours}a{separator}b{neighbours}"}
    encoded = dumps(value)
    assert f"\\u{ord(separator):04x}".encode() in encoded
    assert separator.encode() not in encoded
    assert neighbours.encode() in encoded
    assert len(encoded.decode("utf-8").splitlines()) == 1
    assert json.loads(encoded) == value


def test_keys_that_are_not_text_take_orjson_too() -> None:
    """Records with int, bool, None, UUID or enum keys are encoded by orjson, not the stdlib.

    orjson is tried with text keys first (faster) and then with
    OPT_NON_STR_KEYS; the stdlib spells 1e-7 as ``1e-07``, orjson as ``1e-7``.
    """
    pytest.importorskip("orjson")
    record = {2: 1e-7, True: "x\u2028y", None: 2, uuid.UUID(int=1): 3, Colour.RED: 4, "a": 1e-7}
    assert dumps_compact(record) == (
        b'{"2":1e-7,"true":"x\\u2028y","null":2,'
        b'"00000000-0000-0000-0000-000000000001":3,"red":4,"a":1e-7}'
    )
    assert stdlib_dumps({1: 1e-7}) == b'{"1":1e-07}'


@pytest.mark.parametrize("dumps", [dumps_compact, stdlib_dumps], ids=["fast", "stdlib"])
def test_large_integers_keep_every_digit(dumps: Callable[[Any], bytes]) -> None:
    """Integers beyond 2^53 (and beyond 64 bits) are written exactly, never as floats."""
    values = [2**53 + 1, -(2**53) - 1, 2**63 + 7, -(2**80) - 3]
    encoded = dumps(values)
    assert encoded == ("[" + ",".join(str(v) for v in values) + "]").encode()
