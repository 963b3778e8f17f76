"""How record values become JSON: the one documented encoding every format shares.

Data sources yield mappings of arbitrary Python values. Before any writer sees
them, values are mapped onto the JSON data model:

====================================  ==============================================
Python value                          JSON value
====================================  ==============================================
``str``, ``int``, ``bool``, ``None``  the same
``float``                             a number; NaN and ±infinity (not valid JSON)
                                      become ``null``, as JavaScript's
                                      ``JSON.stringify`` writes them
``decimal.Decimal``                   a string with the exact digits (``"12.50"``)
``datetime.datetime``                 ISO 8601 string with offset; naive values are
                                      taken as UTC (``"2024-05-01T12:00:00+00:00"``)
``datetime.date`` / ``time``          ISO 8601 string (``"2024-05-01"``)
``datetime.timedelta``                seconds as a number
``uuid.UUID``                         canonical string
``bytes`` / ``bytearray``             standard base64 string
``enum.Enum``                         its value, encoded by these rules
mapping                               object; keys become strings
list, tuple, generator                array
set, frozenset                        array, sorted when the items are comparable
dataclass / attrs instance            object of its fields
====================================  ==============================================

Strings with lone surrogates (not encodable as UTF-8) get U+FFFD in their
place. Anything else raises :class:`TypeError` naming the type (never the value).

The encoded text is UTF-8 with one exception: U+2028 and U+2029 (line and
paragraph separator) and U+0085 (next line) are written as ``\u2028``,
``\u2029`` and ``\u0085``, because ``str.splitlines()``, JavaScript before
ES2019 and many line-oriented tools treat them as line ends, which would
break the one-record-per-line layout. The value is the same JSON string.

Integers keep every digit, however large. Beyond ±(2^53 - 1)
(JavaScript's ``Number.MAX_SAFE_INTEGER``) a reader that parses numbers as
doubles (JavaScript's ``JSON.parse``, jq before 1.7) rounds them; the
README and ``manifest.json`` say so, and the CSV tables write them as text.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import math
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import attrs

__all__ = [
    "MAX_SAFE_INTEGER",
    "dumps_compact",
    "json_default",
    "stdlib_dumps",
    "to_json_value",
    "utf8",
]

JsonValue = Any

MAX_SAFE_INTEGER = 2**53 - 1
"""The largest integer a double holds exactly (JavaScript's ``Number.MAX_SAFE_INTEGER``)."""

# UTF-8 of U+2028, U+2029 and U+0085: line ends to splitlines() and old JavaScript.
_LS, _PS, _NEL = b"\xe2\x80\xa8", b"\xe2\x80\xa9", b"\xc2\x85"


def _escape_line_breaks(encoded: bytes) -> bytes:
    """Escape U+2028, U+2029 and U+0085 in encoded JSON (they occur only inside strings).

    JSON's structure is ASCII, so these bytes can only be inside a string,
    and UTF-8 never has them as part of another character. Each lead byte is
    looked for first, as an int: ``int in bytes`` is one ``memchr`` (about
    20 ns a record), ten times faster than a search for a bytes needle, even
    of one byte, through text that has none of them.
    """
    if 0xE2 in encoded:
        if _LS in encoded:
            encoded = encoded.replace(_LS, b"\\u2028")
        if _PS in encoded:
            encoded = encoded.replace(_PS, b"\\u2029")
    if 0xC2 in encoded and _NEL in encoded:
        encoded = encoded.replace(_NEL, b"\\u0085")
    return encoded


def _float(value: float) -> float | None:
    return value if math.isfinite(value) else None


def json_default(value: Any) -> JsonValue:
    """Encode one non-JSON value (the ``default=`` hook of a JSON encoder)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        if value.is_nan():
            return "NaN"
        if value.is_infinite():
            return "Infinity" if value > 0 else "-Infinity"
        return str(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, enum.Enum):
        return to_json_value(value.value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, set | frozenset):
        items = [to_json_value(v) for v in value]
        try:
            return sorted(items)
        except TypeError:
            return sorted(items, key=repr)
    if isinstance(value, Mapping):
        return {_key(k): to_json_value(v) for k, v in value.items()}
    if attrs.has(type(value)):
        return to_json_value(attrs.asdict(value, recurse=False))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_json_value({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    if isinstance(value, Iterable) and not isinstance(value, str | bytes):
        return [to_json_value(v) for v in value]
    raise TypeError(f"cannot encode a value of type {type(value).__name__} as JSON")


def _key(key: Any) -> str:
    # The same spelling the json module gives non-string keys.
    if isinstance(key, str):
        return key
    if key is True or key is False or key is None:
        return "true" if key is True else "false" if key is False else "null"
    if isinstance(key, int) and not isinstance(key, enum.Enum):
        return int.__repr__(key)
    if isinstance(key, float):
        return float.__repr__(key) if math.isfinite(key) else "null"
    value = to_json_value(key)
    return value if isinstance(value, str) else str(value)


def to_json_value(value: Any) -> JsonValue:
    """Return ``value`` mapped onto the JSON data model by the rules above."""
    kind = type(value)
    if value is None or kind is str or kind is int or kind is bool:
        return value
    if isinstance(value, enum.Enum):  # before str/int: StrEnum and IntEnum are both
        return to_json_value(value.value)
    if isinstance(value, str | int):
        return value
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, dict):
        return {_key(k): to_json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json_value(v) for v in value]
    return json_default(value)


def utf8(text: str) -> bytes:
    """``text`` as UTF-8, with lone surrogates replaced by U+FFFD."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates cannot be UTF-8; they become U+FFFD, as a decoder would show.
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace").encode()


def _stdlib_dumps() -> Callable[[Any], bytes]:
    import json

    # The C encoder handles the common types itself and calls json_default for
    # the rest, so most records never take the slow walk through to_json_value.
    fast = json.JSONEncoder(
        ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=json_default
    )
    plain = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)

    def dumps(value: Any) -> bytes:
        try:
            text = fast.encode(value)
        except (ValueError, TypeError):
            # NaN/Infinity (refused by allow_nan=False) or keys the C encoder
            # cannot spell: the full walk applies the documented rules.
            text = plain.encode(to_json_value(value))
        return _escape_line_breaks(utf8(text))

    return dumps


def _orjson_dumps(fallback: Callable[[Any], bytes]) -> Callable[[Any], bytes] | None:
    try:
        import orjson
    except ImportError:
        return None
    # Keys that are not exactly str need OPT_NON_STR_KEYS, which costs about
    # 0.2 us a record even when every key is text: it is tried second.
    text_keys = orjson.OPT_NAIVE_UTC
    any_keys = orjson.OPT_NAIVE_UTC | orjson.OPT_NON_STR_KEYS
    orjson_dumps = orjson.dumps
    orjson_error = orjson.JSONEncodeError

    def dumps(value: Any) -> bytes:
        try:
            encoded: bytes = orjson_dumps(value, default=json_default, option=text_keys)
        except (orjson_error, TypeError):
            try:
                encoded = orjson_dumps(value, default=json_default, option=any_keys)
            except (orjson_error, TypeError):
                return fallback(value)  # e.g. integers beyond 64 bits, lone surrogates
        # NaN and infinities come out as null, exactly as the documented rule says.
        # Most records have neither lead byte of a line separator: no call then.
        if 0xE2 in encoded or 0xC2 in encoded:
            return _escape_line_breaks(encoded)
        return encoded

    return dumps


stdlib_dumps: Callable[[Any], bytes] = _stdlib_dumps()
"""Encode one value as compact UTF-8 JSON with the standard library only."""

dumps_compact: Callable[[Any], bytes] = _orjson_dumps(stdlib_dumps) or stdlib_dumps
"""Encode one value as compact UTF-8 JSON bytes under the rules above.

With orjson installed (the ``fast`` extra) records are encoded by it; the
result parses to the same value as :data:`stdlib_dumps` gives (number
spelling may differ, e.g. ``1e16`` and ``1e+16``).
"""
