"""How values look to people: human labels, local times, local numbers.

The machine-readable files (JSON, CSV) keep the data exactly as encoded; the
views people read (the HTML view in the ZIP, the PDF) ask a :class:`Presenter`
for every title, label and value. A presenter is made once per export from
its locale, its IANA time zone and the data sources' descriptions
(:class:`~reasonkit_export.CategoryDescription`, whose ``title`` and
``fields`` may be plain strings or ``{locale: text}`` mappings).

Dates and numbers follow CLDR (via Babel). Babel formats one value in tens of
microseconds, too slow for a million records, so the patterns it gives are
compiled once per presenter into small formatters for the common shapes
(grouped decimals, numeric times with a day period); every compiled
formatter is checked against Babel on probe values when the presenter is
made and falls back to Babel itself for any locale where they differ.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal, localcontext
from functools import lru_cache
from typing import cast
from uuid import UUID
from zoneinfo import ZoneInfo

import attrs
from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime, format_time, tokenize_pattern
from babel.numbers import format_decimal

from reasonkit_export._about import CategoryDescription, localized
from reasonkit_export._i18n import Messages, messages, normalize_locale
from reasonkit_export.exceptions import InvalidSchedule, InvalidTimezone

__all__ = ["Presenter", "readable_key", "validate_timezone"]

DEFAULT_TIMEZONE = "UTC"
_LABEL_CACHE = 4096
_INDEX = re.compile(r"\[\d+\]")
_SEPARATORS = re.compile(r"[\W_]+")
# The encoder's datetime form (``2024-05-01T12:00:00+00:00``, optional
# fraction, ``Z`` accepted) and its date form; other strings stay text.
_ISO_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:[+-]\d{2}:\d{2}|Z)"
)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def validate_timezone(name: object) -> str:
    """Return ``name`` if it is an IANA time zone key, else raise InvalidTimezone.

    Host-specific keys (``localtime``, ``posix/...``) are refused, as for
    schedules.
    """
    from reasonkit_export.scheduling import parse_timezone

    if name is None:
        return DEFAULT_TIMEZONE
    if not isinstance(name, str):
        raise InvalidTimezone(f"timezone must be an IANA name string, got {type(name).__name__}")
    try:
        parse_timezone(name)
    except InvalidSchedule as exc:
        raise InvalidTimezone(
            f"unknown timezone {name[:64]!r}; use an IANA name such as 'Europe/Berlin'"
        ) from exc
    return name


def readable_key(key: str) -> str:
    """A field name as a person reads it: ``created_at`` → "Created at".

    Words are split at ``_``, ``-``, ``.``, spaces and camel case; acronyms
    written in capitals stay in capitals (``userID`` → "User ID").
    """
    words = [word for chunk in _SEPARATORS.split(key) for word in _camel_words(chunk)]
    if not words:
        return key
    out = [w if w.isupper() and len(w) > 1 else w.lower() for w in words]
    first = out[0]
    out[0] = first if first.isupper() else first[:1].upper() + first[1:]
    return " ".join(out)


def _camel_words(chunk: str) -> list[str]:
    """Split ``tokenCount``/``HTTPStatus``/``v2Name`` into words (any script's case)."""
    words: list[str] = []
    start = 0
    for i in range(1, len(chunk)):
        before, here = chunk[i - 1], chunk[i]
        after = chunk[i + 1] if i + 1 < len(chunk) else ""
        if (
            (before.islower() and here.isupper())
            or (before.isupper() and here.isupper() and after.islower())
            or (before.isdigit() != here.isdigit())
        ):
            words.append(chunk[start:i])
            start = i
    if chunk:
        words.append(chunk[start:])
    return words


def _babel_locale(tag: str) -> Locale:
    """The Babel locale for a BCP 47 tag, falling back to its language, then English."""
    for candidate in (tag.replace("-", "_"), tag.split("-", maxsplit=1)[0]):
        try:
            return Locale.parse(candidate)
        except (UnknownLocaleError, ValueError):
            continue
    return Locale.parse("en")


@attrs.frozen
class _NumberStyle:
    """A locale's decimal notation, when it is plain three-digit grouping."""

    group: str
    decimal: str
    minus: str
    min_grouping: int

    def integer(self, digits: str) -> str:
        """Group an unsigned string of digits."""
        if len(digits) < 4 or (self.min_grouping == 2 and len(digits) < 5):
            return digits
        head = len(digits) % 3 or 3
        parts = [digits[:head]]
        parts.extend(digits[i : i + 3] for i in range(head, len(digits), 3))
        return self.group.join(parts)

    def plain(self, text: str) -> str | None:
        """Format ``[-]digits[.digits]`` text, or None for anything else."""
        negative = text.startswith("-")
        body = text[1:] if negative else text
        whole, dot, fraction = body.partition(".")
        if not whole.isdigit() or (dot and not fraction.isdigit()):
            return None
        result = self.integer(whole)
        if dot:
            result += self.decimal + fraction
        return self.minus + result if negative else result


def _decimal_text(value: int | float | Decimal, locale: Locale, *, quantize: bool) -> str:
    """Babel's ``format_decimal`` with enough decimal precision for any finite value.

    Babel rounds through the current decimal context (28 digits by default),
    which cannot hold ``1e+25`` with its fraction; the context here can.
    """
    number = (
        value
        if isinstance(value, Decimal)
        else Decimal(repr(value) if isinstance(value, float) else value)
    )
    digits = len(number.as_tuple().digits) + abs(number.adjusted()) + 8
    with localcontext() as context:
        context.prec = max(context.prec, digits)
        return format_decimal(value, locale=locale, decimal_quantization=quantize)


_NUMBER_PROBES: tuple[int | float | Decimal, ...] = (
    0,
    7,
    -7,
    999,
    1234,
    -1234,
    12345,
    123456,
    1234567,
    -1234567890,
    0.5,
    -0.25,
    1234.5678,
    12345.125,
    Decimal("1234567.891"),
)


def _number_style(locale: Locale) -> _NumberStyle | None:
    """The fast notation for ``locale``, if it gives Babel's output on every probe."""
    symbols = locale.number_symbols.get("latn", locale.number_symbols)
    try:
        group, decimal, minus = symbols["group"], symbols["decimal"], symbols["minusSign"]
    except (KeyError, TypeError):
        return None
    for min_grouping in (1, 2):
        style = _NumberStyle(group=group, decimal=decimal, minus=minus, min_grouping=min_grouping)
        if all(
            style.plain(str(n)) == format_decimal(n, locale=locale, decimal_quantization=False)
            for n in _NUMBER_PROBES
        ):
            return style
    return None


# Time pattern fields the compiled formatter knows; any other falls back to Babel.
_TIME_FIELDS = frozenset({"h", "H", "K", "k", "m", "s", "a"})


def _compile_time(pattern: str, locale: Locale) -> Callable[[time | datetime], str] | None:
    """A fast formatter for a numeric time pattern (``h:mm:ss a``), or None.

    Every field of such a pattern depends on the hour, the minute or the
    second alone, so the pattern becomes a few lookup tables (each field's
    text for every hour, minute or second, with the literal text after it)
    and a time costs one table lookup per field. It reads ``hour``,
    ``minute`` and ``second`` only, so a local datetime works as well as its
    time.
    """
    periods = (format_time(time(9), "a", locale=locale), format_time(time(21), "a", locale=locale))
    head: list[str] = []
    # (the attribute the field reads, its text per value, then literal text)
    fields: list[tuple[str, list[str], list[str]]] = []
    for kind, value in tokenize_pattern(pattern):
        if kind == "chars":
            (fields[-1][2] if fields else head).append(str(value))
            continue
        letter, width = str(value[0]), int(value[1])
        if letter not in _TIME_FIELDS or width > 2:
            return None
        if letter in ("m", "s"):
            attribute = "minute" if letter == "m" else "second"
            texts = [f"{n:0{width}d}" for n in range(60)]
        else:
            attribute = "hour"
            texts = [_hour_field(letter, width, hour, periods) for hour in range(24)]
        fields.append((attribute, texts, []))
    if not fields:
        return None
    tables = []
    for index, (attribute, texts, tail) in enumerate(fields):
        prefix = "".join(head) if index == 0 else ""
        suffix = "".join(tail)
        tables.append((attribute, tuple(prefix + text + suffix for text in texts)))
    names = {f"_t{i}": table for i, (_, table) in enumerate(tables)}
    body = " + ".join(f"_t{i}[value.{attribute}]" for i, (attribute, _) in enumerate(tables))
    namespace: dict[str, object] = {}
    # The generated source holds attribute and table names only (no CLDR text).
    exec(f"def render(value):\n    return {body}\n", names, namespace)  # noqa: S102
    return cast(Callable[[time | datetime], str], namespace["render"])


def _hour_field(letter: str, width: int, hour: int, periods: tuple[str, str]) -> str:
    """The text of an hour field (``h``, ``H``, ``K``, ``k``) or the day period (``a``)."""
    if letter == "a":
        return periods[hour >= 12]
    number = {"H": hour, "h": hour % 12 or 12, "K": hour % 12, "k": hour or 24}[letter]
    return f"{number:0{width}d}"


# Every hour (day periods and 12-hour clocks), every minute and second digit.
_TIME_PROBES = (
    time(0, 0, 0),
    time(0, 5, 9),
    time(9, 30, 0),
    time(12, 0, 1),
    time(23, 59, 59),
    *(time(hour, (hour * 7) % 60, (hour * 13 + 1) % 60) for hour in range(24)),
)


class Presenter:
    """Titles, labels and values of one export, as its reader should see them.

    Build one with :meth:`for_export`; it is cheap to call per value and safe
    to share between threads (it only caches).
    """

    def __init__(
        self,
        *,
        locale: str,
        timezone: str,
        descriptions: Mapping[str, CategoryDescription],
    ) -> None:
        self.locale = normalize_locale(locale)
        self.timezone = validate_timezone(timezone)
        self.zone = ZoneInfo(self.timezone)
        self.messages: Messages = messages(self.locale)
        self._descriptions = dict(descriptions)
        self._babel = _babel_locale(self.locale)
        self._numbers = _number_style(self._babel)
        self._date_pattern = self._babel.date_formats["medium"].pattern
        time_pattern = self._babel.time_formats["medium"].pattern
        self._datetime_glue = str(self._babel.datetime_formats["medium"])
        compiled = _compile_time(time_pattern, self._babel)
        if compiled is not None and any(
            compiled(t) != format_time(t, "medium", locale=self._babel) for t in _TIME_PROBES
        ):
            compiled = None
        self._time = compiled
        self._glued = lru_cache(maxsize=4096)(self._date_glue)
        # A zone without transitions (UTC, Etc/GMT+5) is one fixed offset and
        # one name: convert with the offset alone, name it once.
        fixed = self.zone.utcoffset(None)
        self._fixed = dt_timezone(fixed) if fixed is not None else None
        self._fixed_name: str | None = None
        self._labels: dict[tuple[str, str], str] = {}
        self._zone_names: dict[tuple[timedelta | None, str | None], str] = {}
        self.yes = self.messages("present.yes")
        self.no = self.messages("present.no")
        self.not_set = self.messages("present.not_set")
        self.empty = self.messages("present.empty")
        self._dates = lru_cache(maxsize=4096)(self._format_date)

    @classmethod
    def for_export(
        cls,
        *,
        locale: str,
        timezone: str,
        descriptions: Mapping[str, CategoryDescription],
    ) -> Presenter:
        """The presenter for an export in ``locale`` and ``timezone`` (IANA name).

        Raises:
            InvalidRequest: a malformed locale tag.
            InvalidTimezone: an unknown time zone.
        """
        return cls(locale=locale, timezone=timezone, descriptions=descriptions)

    # ------------------------------------------------------------------ labels

    def category_title(self, category: str) -> str:
        """The category's title: the description's, the catalogue's, or its readable name."""
        description = self._descriptions.get(category)
        if description is not None and description.title is not None:
            title = localized(description.title, self.locale)
            if title:
                return title
        key = f"category.{category}"
        title = self.messages(key)
        return readable_key(category) if title == key else title

    def field_label(self, category: str, path: str) -> str:
        """The label of the field at dotted ``path`` (``tokens.input``) in ``category``.

        List positions in the path (``lines[0].sku``) are ignored when looking
        up a label, so one label serves every item. Unlabelled fields get a
        readable form of their last key.
        """
        cache_key = (category, path)
        label = self._labels.get(cache_key)
        if label is not None:
            return label
        plain = _INDEX.sub("", path)
        description = self._descriptions.get(category)
        label = None
        if description is not None:
            for candidate in (path, plain):
                text = description.fields.get(candidate)
                if text is not None:
                    label = localized(text, self.locale)
                    break
        if not label:
            label = readable_key(plain.rsplit(".", 1)[-1])
        if len(self._labels) < _LABEL_CACHE:
            self._labels[cache_key] = label
        return label

    # ------------------------------------------------------------------ values

    def value(self, value: object) -> str:
        """One scalar as text for a person, in the export's locale and time zone.

        ``None`` is an em dash; booleans are words; numbers use the locale's
        notation with every digit kept; datetimes (and strings in the JSON
        encoding's ISO 8601 form) appear in the export's zone with the zone
        named; bytes are described, not shown. Lists of scalars are joined
        with commas; empty containers are the catalogue's "none".
        """
        if value is None:
            return "—"
        kind = type(value)
        if kind is str:
            text: str = value  # type: ignore[assignment]
            return self._string(text)
        if kind is bool:
            return self.yes if value else self.no
        if kind is int:
            return self.integer(value)  # type: ignore[arg-type]
        if kind is float:
            return self.number(value)  # type: ignore[arg-type]
        return self._other(value)

    def _string(self, text: str) -> str:
        size = len(text)
        if 19 <= size <= 32 and text[4] == "-" and _ISO_DATETIME.fullmatch(text):
            try:
                return self.timestamp(datetime.fromisoformat(text))
            except ValueError:
                return text
        if size == 10 and text[4] == "-" and _ISO_DATE.fullmatch(text):
            try:
                return self._dates(date.fromisoformat(text))
            except ValueError:
                return text
        return text

    def _other(self, value: object) -> str:
        if isinstance(value, enum.Enum):
            return self.value(value.value)
        if isinstance(value, bool):
            return self.yes if value else self.no
        if isinstance(value, int):
            return self.integer(value)
        if isinstance(value, float | Decimal):
            return self.number(value)
        if isinstance(value, str):
            return self._string(value)
        if isinstance(value, datetime):
            return self.timestamp(value)
        if isinstance(value, date):
            return self._dates(value)
        if isinstance(value, time):
            return self._format_time(value)
        if isinstance(value, timedelta):
            return self.messages("present.seconds", seconds=self.number(value.total_seconds()))
        if isinstance(value, bytes | bytearray | memoryview):
            return self.binary(len(bytes(value)))
        if isinstance(value, UUID):
            return str(value)
        if isinstance(value, Mapping | list | tuple | set | frozenset):
            if not value:
                return self.empty
            if isinstance(value, Mapping):
                return "; ".join(
                    f"{readable_key(str(k))}: {self.value(v)}" for k, v in value.items()
                )
            return ", ".join(self.value(item) for item in value)
        return str(value)

    def binary(self, size: int) -> str:
        """The text shown for ``size`` bytes of binary data."""
        key = "present.binary.one" if size == 1 else "present.binary.other"
        return self.messages(key, size=self.integer(size))

    @property
    def integer_group(self) -> str | None:
        """The group separator when :meth:`integer` is Python's ``f"{value:,}"``
        with it in place of ``,`` (every number grouped by three from 1,000, an
        ASCII minus); None for any other notation."""
        style = self._numbers
        if style is None or style.min_grouping != 1 or style.minus != "-":
            return None
        return style.group

    def integer(self, value: int) -> str:
        """An integer in the locale's notation (``1,234,567`` / ``1.234.567``)."""
        style = self._numbers
        if style is None:
            return _decimal_text(value, self._babel, quantize=True)
        if 0 <= value < 1000:
            return str(value)
        magnitude = -value if value < 0 else value
        if style.min_grouping == 2 and magnitude < 10000:
            text = str(magnitude)
        else:
            text = f"{magnitude:,}"
            if style.group != ",":
                text = text.replace(",", style.group)
        return style.minus + text if value < 0 else text

    def number(self, value: float | Decimal) -> str:
        """A float or decimal in the locale's notation, with every digit it has."""
        style = self._numbers
        if type(value) is float and style is not None and 0 <= value < 1000:
            text = repr(value)
            if "e" not in text:  # the common case: no grouping, at most a decimal sign
                return text if style.decimal == "." else text.replace(".", style.decimal)
        if isinstance(value, float) and not math.isfinite(value):
            return "—" if math.isnan(value) else ("∞" if value > 0 else "-∞")
        if isinstance(value, Decimal) and not value.is_finite():
            return "—" if value.is_nan() else ("∞" if value > 0 else "-∞")
        if self._numbers is not None:
            text = repr(value) if isinstance(value, float) else str(value)
            formatted = self._numbers.plain(text)
            if formatted is not None:
                return formatted
        return _decimal_text(value, self._babel, quantize=False)

    def timestamp(self, dt: datetime) -> str:
        """A point in time in the export's zone, with the zone named.

        Naive datetimes are taken as UTC (as the JSON encoding does).
        """
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        if self._fixed is not None:
            local = dt.astimezone(self._fixed)
            zone = self._fixed_name
            if zone is None:
                zone = self._fixed_name = self._zone_name(dt.astimezone(self.zone))
        else:
            local = dt.astimezone(self.zone)
            zone = self._zone_name(local)
        before, after = self._glued(local.date())
        if after is None:
            return f"{before} {zone}"
        clock = self._time
        time_text = clock(local) if clock is not None else self._format_time(local.time())
        return f"{before}{time_text}{after} {zone}"

    def _date_glue(self, day: date) -> tuple[str, str | None]:
        """The datetime pattern with ``day`` in it, split where the time goes.

        ``glue.replace("{1}", date, 1).replace("{0}", time, 1)`` is
        ``before + time + after``; ``after`` is None when there is no ``{0}``.
        """
        text = self._datetime_glue.replace("{1}", self._dates(day), 1)
        before, found, after = text.partition("{0}")
        return (before, after) if found else (text, None)

    def zone_label(self, at: datetime | None = None) -> str:
        """The export's zone as a person reads it: its IANA name and long name at ``at``."""
        moment = datetime.now(UTC) if at is None else at
        long_name = format_datetime(moment, "zzzz", tzinfo=self.zone, locale=self._babel)
        return self.timezone if long_name == self.timezone else f"{self.timezone} ({long_name})"

    def _format_date(self, value: date) -> str:
        return format_date(value, "medium", locale=self._babel)

    def _format_time(self, value: time) -> str:
        if self._time is not None:
            return self._time(value)
        return format_time(value.replace(tzinfo=None), "medium", locale=self._babel)

    def _zone_name(self, local: datetime) -> str:
        key = (local.utcoffset(), local.tzname())
        name = self._zone_names.get(key)
        if name is None:
            name = format_datetime(local, "z", tzinfo=self.zone, locale=self._babel)
            if not name or name[0] in "+-":
                # CLDR has no abbreviation here: the localized GMT offset ("GMT+02:00").
                name = format_datetime(local, "ZZZZ", tzinfo=self.zone, locale=self._babel)
            self._zone_names[key] = name
        return name
