"""Cron schedules: validation and DST-correct next-fire computation.

A schedule is a standard 5-field cron expression (``minute hour day-of-month
month day-of-week``) or one of the macros ``@yearly``/``@annually``,
``@monthly``, ``@weekly``, ``@daily``/``@midnight`` and ``@hourly``, read in an
IANA timezone (default ``"UTC"``). Names (``jan``, ``mon``) are accepted in the
month and day-of-week fields, day-of-week ``7`` is Sunday, and ranges must
ascend (``22-2`` is refused), ``a/n`` means ``a-<field max>/n``, and names
and macros are case-insensitive. Non-standard extensions (seconds or year fields,
``H``/``R`` hashing, ``L``, ``W``, ``#``, ``?``, ``@reboot``) are refused. When
both day fields are restricted a day matches if *either* matches; when one of
them starts with ``*`` both must match (classic Vixie cron).

Croniter is used only as a parser gate (anything it rejects is refused). Fire
times are computed here, in the schedule's *local wall-clock time*, and each
wall-clock fire is then converted to UTC; croniter's own handling of aware
datetimes around DST transitions is not relied on.

DST rules (the contract of :func:`next_fire`):

* Every wall-clock time the expression matches is converted with ``fold=0``.
* Nonexistent times (spring-forward gap, e.g. 02:30 in Europe/Berlin on the
  last Sunday of March) fire at the wall time shifted forward by the gap
  length, i.e. the instant the clock would show had it not jumped (02:30 ->
  03:30 CEST; 02:15 on a Lord Howe spring-forward day -> 02:45, since the gap
  is 30 minutes). That is what ``zoneinfo`` gives for ``fold=0``.
* Ambiguous times (fall-back overlap) fire once, at their first occurrence
  (the pre-transition offset).
* Consequently each distinct matching wall-clock time fires at most once: a
  daily schedule fires exactly once per local calendar day across both
  transitions (a calendar day that does not exist at all, like 2011-12-30 in
  Pacific/Apia, has no fire of its own), and an hourly schedule does not fire
  again in the repeated hour.
* Fire instants are a *set*: when several wall times map to the same UTC
  instant (a gap time shifted onto a real time, e.g. ``0 2,3 * * *`` on a
  Berlin spring-forward day) that instant fires once. ``next_fire`` returns
  the smallest instant of that set strictly after ``after``, so successive
  calls are strictly increasing and never repeat an instant.

Minimum interval: :func:`validate_schedule` measures the gaps between
consecutive fires in *nominal local wall-clock time*, i.e. as if the clock
never changed. DST therefore never makes a schedule "too frequent" (a daily
03:00 schedule has a 24 h wall-clock gap even though only 23 h elapse across a
spring-forward night); the elapsed time between two fires can be shorter than
the nominal gap by at most the zone's DST shift (usually 1 h, 30 min on Lord
Howe Island).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from reasonkit_export.exceptions import InvalidRequest, InvalidSchedule

__all__ = [
    "DEFAULT_MIN_INTERVAL",
    "CronSchedule",
    "next_fire",
    "parse_timezone",
    "validate_schedule",
]

DEFAULT_MIN_INTERVAL = timedelta(days=1)
"""Default smallest allowed gap between two fires of a schedule."""

_MAX_EXPRESSION_LENGTH = 256
_MAX_TIMEZONE_LENGTH = 64
#: How far ahead the next fire is searched for (a possible schedule fires well within it).
_MAX_SEARCH_DAYS = 100 * 366
#: Reference window for the min-interval check: 28 years repeat every weekday/leap
#: combination of the Gregorian calendar between 1901 and 2099.
_WINDOW_START = date(2024, 1, 1)
_WINDOW_END = date(2052, 1, 1)
#: Offsets are compared this far back to find a spring-forward gap just before ``after``.
_GAP_LOOKBACK = timedelta(hours=26)

_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTH_NAMES = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}
_DOW_NAMES = {
    name: number for number, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))
}
_ITEM_RE = re.compile(r"(\*|([0-9]+|[a-z]+)(?:-([0-9]+|[a-z]+))?)(?:/([0-9]+))?", re.ASCII)
_HASH_RE = re.compile(r"[hr](\(.*\))?(/.*)?", re.ASCII)
_FIELD_SPLIT_RE = re.compile(r"[ \t]+", re.ASCII)
_ZONE_NAME_RE = re.compile(r"[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*", re.ASCII)
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # Feb: leap years


@dataclass(frozen=True, slots=True)
class _FieldSpec:
    name: str
    low: int
    high: int  # highest value reached by "*" and "a/n"
    names: dict[str, int]
    max_value: int  # highest value accepted literally (7 = Sunday in day-of-week)


_FIELDS = (
    _FieldSpec("minute", 0, 59, {}, 59),
    _FieldSpec("hour", 0, 23, {}, 23),
    _FieldSpec("day-of-month", 1, 31, {}, 31),
    _FieldSpec("month", 1, 12, _MONTH_NAMES, 12),
    _FieldSpec("day-of-week", 0, 6, _DOW_NAMES, 7),
)


@dataclass(frozen=True, slots=True)
class _Spec:
    """A parsed expression: the matching values of every field."""

    times: tuple[int, ...]  # minutes after local midnight, ascending
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    day_or: bool  # both day fields restricted: either may match

    def day_matches(self, day: date) -> bool:
        """Whether the expression fires on this local calendar day."""
        if day.month not in self.months:
            return False
        dom = day.day in self.days
        dow = day.isoweekday() % 7 in self.weekdays
        return (dom or dow) if self.day_or else (dom and dow)

    def next_wall(self, after: datetime) -> datetime:
        """The first matching naive wall-clock time strictly after naive ``after``."""
        day = after.date()
        if self.day_matches(day):
            index = bisect_right(self.times, after.hour * 60 + after.minute)
            if index < len(self.times):
                return _at(day, self.times[index])
        ordinal = day.toordinal() + 1
        limit = min(ordinal + _MAX_SEARCH_DAYS, date.max.toordinal())
        while ordinal <= limit:
            candidate = date.fromordinal(ordinal)
            if candidate.month not in self.months:
                # Jump to the first day of the next month.
                ordinal += _DAYS_IN_MONTH[candidate.month - 1] - candidate.day + 1
                if candidate.month == 2 and not _is_leap(candidate.year):
                    ordinal -= 1
                continue
            if self.day_matches(candidate):
                return _at(candidate, self.times[0])
            ordinal += 1
        raise InvalidRequest(f"no fire time found within 100 years after {after.isoformat()}")


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _at(day: date, minutes: int) -> datetime:
    return datetime.combine(day, time(minutes // 60, minutes % 60))


def _value(token: str, spec: _FieldSpec, expression: str) -> int:
    if token.isdigit():
        value = int(token)
        if not spec.low <= value <= spec.max_value:
            raise InvalidSchedule(
                f"invalid cron expression {expression!r}: {spec.name} value {value} "
                f"is out of range {spec.low}-{spec.max_value}"
            )
        return value
    if token in spec.names:
        return spec.names[token]
    if token in {"h", "r"}:
        raise InvalidSchedule(
            f"invalid cron expression {expression!r}: hashed/random values "
            f"({token.upper()}) are not supported"
        )
    if token in {"l", "w"}:
        raise InvalidSchedule(
            f"invalid cron expression {expression!r}: the non-standard {token.upper()!r} "
            "extension is not supported"
        )
    raise InvalidSchedule(
        f"invalid cron expression {expression!r}: {token!r} is not a valid {spec.name} value"
    )


def _expand_item(item: str, spec: _FieldSpec, expression: str) -> set[int]:
    match = _ITEM_RE.fullmatch(item)
    if match is None:
        if _HASH_RE.fullmatch(item):
            raise InvalidSchedule(
                f"invalid cron expression {expression!r}: hashed/random values "
                f"({item[0].upper()}) are not supported"
            )
        if any(char in item for char in "?#"):
            raise InvalidSchedule(
                f"invalid cron expression {expression!r}: the non-standard '?', 'L', 'W' "
                "and '#' extensions are not supported"
            )
        raise InvalidSchedule(
            f"invalid cron expression {expression!r}: {item!r} is not a valid {spec.name} item"
        )
    _, first, last, step_text = match.groups()
    step = 1
    if step_text is not None:
        step = int(step_text)
        if step == 0:
            raise InvalidSchedule(
                f"invalid cron expression {expression!r}: step 0 in the {spec.name} field"
            )
    if first is None:  # "*" or "*/n"
        values = set(range(spec.low, spec.high + 1, step))
    else:
        low = _value(first, spec, expression)
        if last is not None:
            high = _value(last, spec, expression)
            if high < low:
                raise InvalidSchedule(
                    f"invalid cron expression {expression!r}: {spec.name} range {item!r} "
                    "descends; split it into two ascending ranges"
                )
        elif step_text is not None:  # "a/n": from a to the end of the field
            high = max(low, spec.high)
        else:
            high = low
        values = set(range(low, high + 1, step))
    if spec.max_value == 7 and 7 in values:  # day-of-week 7 is Sunday
        values = (values - {7}) | {0}
    return values


def _field_count_hint(fields: list[str]) -> str:
    if len(fields) in (6, 7):
        return "seconds and year fields are not supported; use the 5-field form"
    return f"expected 5 fields (minute hour day-of-month month day-of-week), got {len(fields)}"


@lru_cache(maxsize=512)
def _parse(expression: str) -> _Spec:
    """Parse and check a cron expression (not its frequency)."""
    text = expression.strip(" \t\r\n")
    if not text:
        raise InvalidSchedule("invalid cron expression: it is empty")
    lowered = text.lower()
    if lowered.startswith("@"):
        if lowered == "@reboot":
            raise InvalidSchedule("invalid cron expression '@reboot': it has no fire times")
        if lowered not in _MACROS:
            raise InvalidSchedule(
                f"invalid cron expression {expression!r}: unknown macro; use one of "
                + ", ".join(sorted(_MACROS))
            )
        lowered = _MACROS[lowered]
    fields = _FIELD_SPLIT_RE.split(lowered)
    if len(fields) != len(_FIELDS):
        raise InvalidSchedule(
            f"invalid cron expression {expression!r}: {_field_count_hint(fields)}"
        )
    sets = [
        set().union(*(_expand_item(item, spec, expression) for item in text_field.split(",")))
        for text_field, spec in zip(fields, _FIELDS, strict=True)
    ]
    # Imported here: croniter's import runs `file` on the interpreter (through
    # platform.architecture()), a subprocess that every process reading a
    # time zone (the report and HTML view children) would otherwise pay.
    from croniter import croniter

    try:
        croniter.expand(lowered)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        raise InvalidSchedule(f"invalid cron expression {expression!r}: {exc}") from None
    minutes, hours, days, months, weekdays = sets
    day_or = not (fields[2].startswith("*") or fields[4].startswith("*"))
    spec = _Spec(
        times=tuple(sorted(h * 60 + m for h in hours for m in minutes)),
        days=frozenset(days),
        months=frozenset(months),
        weekdays=frozenset(weekdays),
        day_or=day_or,
    )
    # With OR semantics the weekday side fires in every month; otherwise some
    # (month, day) pair must exist -- every date recurs on every weekday.
    if not day_or and not any(d <= _DAYS_IN_MONTH[m - 1] for m in months for d in days):
        raise InvalidSchedule(
            f"invalid cron expression {expression!r}: it never fires "
            "(no month has that day of the month)"
        )
    return spec


def parse_timezone(name: str) -> ZoneInfo:
    """Load an IANA timezone.

    Args:
        name: an IANA key such as ``"Europe/Berlin"`` or ``"UTC"``.

    Raises:
        InvalidSchedule: the name is not a string or no such timezone exists.
            Host-specific keys (``localtime``, ``posixrules``, ``posix/...``,
            ``right/...``) are refused too.
    """
    if not isinstance(name, str):
        raise InvalidSchedule(f"invalid timezone: expected a string, got {type(name).__name__}")
    if (
        len(name) > _MAX_TIMEZONE_LENGTH
        or not _ZONE_NAME_RE.fullmatch(name)
        or name in {"localtime", "posixrules"}
        or name.startswith(("posix/", "right/"))
    ):
        raise InvalidSchedule(f"unknown timezone {name[:_MAX_TIMEZONE_LENGTH]!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise InvalidSchedule(f"unknown timezone {name!r}") from exc


def _check_expression_type(cron_expression: object) -> str:
    if not isinstance(cron_expression, str):
        raise InvalidSchedule(
            f"invalid cron expression: expected a string, got {type(cron_expression).__name__}"
        )
    if len(cron_expression) > _MAX_EXPRESSION_LENGTH:
        raise InvalidSchedule(
            f"invalid cron expression: longer than {_MAX_EXPRESSION_LENGTH} characters"
        )
    return cron_expression


def _wall_to_utc(wall: datetime, zone: tzinfo) -> datetime:
    """Convert a naive local wall time with ``fold=0`` (see the module docstring)."""
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def _offset(instant: datetime, zone: tzinfo) -> timedelta:
    offset = instant.astimezone(zone).utcoffset()
    assert offset is not None
    return offset


def _is_real(wall: datetime, instant: datetime, zone: tzinfo) -> bool:
    """Whether ``wall`` exists (is not in a spring-forward gap)."""
    return instant.astimezone(zone).replace(tzinfo=None) == wall


@dataclass(frozen=True, slots=True)
class CronSchedule:
    """A validated cron expression in an IANA timezone.

    Construction parses both and raises :class:`InvalidSchedule` if either is
    refused; it does not check the minimum interval (see
    :func:`validate_schedule`).
    """

    expression: str
    timezone: str = "UTC"
    _spec: _Spec = field(init=False, repr=False, compare=False)
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Parse the expression and the timezone."""
        object.__setattr__(self, "_spec", _parse(_check_expression_type(self.expression)))
        object.__setattr__(self, "_zone", parse_timezone(self.timezone))

    def next_after(self, after: datetime) -> datetime:
        """The first fire instant strictly after ``after``, as an aware UTC datetime.

        Raises:
            InvalidRequest: ``after`` is not an aware datetime, or no fire time
                is representable after it (around year 9999).
        """
        if not isinstance(after, datetime):
            raise InvalidRequest(f"after must be a datetime, got {type(after).__name__}")
        if after.utcoffset() is None:
            raise InvalidRequest("after must be an aware datetime, got a naive one")
        try:
            return self._next_after(after.astimezone(UTC))
        except OverflowError:
            raise InvalidRequest(f"no fire time representable after {after.isoformat()}") from None

    def _next_after(self, after: datetime) -> datetime:
        zone = self._zone
        local = after.astimezone(zone)
        start = local.replace(tzinfo=None, fold=0)
        # Wall times in a spring-forward gap map *forward* by the gap length, so
        # when ``after`` lies just past a gap those (earlier) wall times can still
        # fire after it: start the scan before the gap. Single transition per
        # lookback window assumed (true of every zone in the tz database).
        offset = _offset(after, zone)
        shift = offset - _offset(after - _GAP_LOOKBACK, zone)
        if shift > timedelta(0) and _offset(after - shift, zone) != offset:
            start = (after - shift).astimezone(zone).replace(tzinfo=None, fold=0)
        best: datetime | None = None
        wall = start
        while True:
            wall = self._spec.next_wall(wall)
            instant = _wall_to_utc(wall, zone)
            if instant > after:
                if best is None or instant < best:
                    best = instant
                # Real wall times map monotonically, and every later gap maps past
                # this instant: nothing further can be earlier.
                if _is_real(wall, instant, zone):
                    return best

    def min_wall_gap(self) -> timedelta | None:
        """The smallest nominal wall-clock gap between two consecutive fires.

        Computed exactly over a 28-year window (every weekday/leap-year
        combination); ``None`` if the schedule fires at most once in it.
        """
        spec = self._spec
        times = spec.times
        gaps = [timedelta(minutes=b - a) for a, b in pairwise(times)]
        span = timedelta(minutes=times[-1] - times[0])
        previous: date | None = None
        smallest_day_gap: int | None = None
        day = _WINDOW_START
        one_day = timedelta(days=1)
        while day < _WINDOW_END:
            if spec.day_matches(day):
                if previous is not None:
                    gap = (day - previous).days
                    if smallest_day_gap is None or gap < smallest_day_gap:
                        smallest_day_gap = gap
                        if gap == 1:
                            break
                previous = day
            day += one_day
        if smallest_day_gap is not None:
            gaps.append(timedelta(days=smallest_day_gap) - span)
        return min(gaps, default=None)


def validate_schedule(
    cron_expression: str,
    timezone: str = "UTC",
    *,
    min_interval: timedelta = DEFAULT_MIN_INTERVAL,
) -> None:
    """Refuse a schedule that is malformed, never fires, or fires too often.

    Args:
        cron_expression: 5-field cron expression or macro (see module docstring).
        timezone: IANA timezone the expression is read in.
        min_interval: smallest allowed nominal wall-clock gap between two
            consecutive fires (DST shifts do not count, see module docstring).

    Raises:
        InvalidSchedule: with the reason in the message.
        InvalidRequest: ``min_interval`` is not a non-negative timedelta.
    """
    if not isinstance(min_interval, timedelta) or min_interval < timedelta(0):
        raise InvalidRequest("min_interval must be a non-negative timedelta")
    schedule = CronSchedule(_check_expression_type(cron_expression), timezone)
    gap = schedule.min_wall_gap()
    if gap is not None and gap < min_interval:
        raise InvalidSchedule(
            f"cron expression {cron_expression!r} fires too often: consecutive fires can be "
            f"{_describe(gap)} apart, the minimum interval is {_describe(min_interval)}"
        )


def _describe(interval: timedelta) -> str:
    """Whole days, hours or minutes when exact; otherwise the timedelta's own text."""
    seconds = int(interval.total_seconds())
    if seconds != interval.total_seconds() or seconds % 60:
        return str(interval)
    minutes = seconds // 60
    if minutes and minutes % 1440 == 0:
        return f"{minutes // 1440} day(s)"
    if minutes and minutes % 60 == 0:
        return f"{minutes // 60} hour(s)"
    return f"{minutes} minute(s)"


def next_fire(cron_expression: str, timezone: str, after: datetime) -> datetime:
    """The first fire instant of a schedule strictly after ``after``.

    Callers coalescing missed runs pass ``now``: the result is the first fire
    after it, however far in the past the previous one was.

    Args:
        cron_expression: 5-field cron expression or macro.
        timezone: IANA timezone the expression is read in.
        after: an aware datetime (any timezone).

    Returns:
        An aware datetime with ``tzinfo=datetime.UTC``.

    Raises:
        InvalidSchedule: the expression or timezone is refused.
        InvalidRequest: ``after`` is naive or not a datetime (a caller bug,
            not a schedule problem, hence not InvalidSchedule).
    """
    return CronSchedule(cron_expression, timezone).next_after(after)
