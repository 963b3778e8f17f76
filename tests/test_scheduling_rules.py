"""Cron rules pinned by exact instants and exact errors (found by mutation testing)."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reasonkit_export.exceptions import InvalidSchedule
from reasonkit_export.scheduling import CronSchedule, next_fire, validate_schedule

LORD_HOWE = "Australia/Lord_Howe"
SPLIT = "split it into two ascending ranges"
MACROS = "@annually, @daily, @hourly, @midnight, @monthly, @weekly, @yearly"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """An aware UTC datetime."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def fires(expression: str, after: datetime, count: int, tz: str = "UTC") -> list[datetime]:
    """The next ``count`` fire instants after ``after``, chained."""
    result: list[datetime] = []
    for _ in range(count):
        after = next_fire(expression, tz, after)
        result.append(after)
    return result


# --- leap years and the month jump ----------------------------------------------


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("0 0 1 3 *", utc(2025, 2, 10), utc(2025, 3, 1)),  # February of a common year
        ("0 0 1 3 *", utc(2024, 2, 10), utc(2024, 3, 1)),  # ... and of a leap year
        ("0 0 1 3 *", utc(2100, 2, 10), utc(2100, 3, 1)),  # 2100 is not a leap year
        ("0 0 1 3 *", utc(2400, 2, 10), utc(2400, 3, 1)),  # 2400 is one
        ("0 0 1 3 *", utc(2000, 2, 10), utc(2000, 3, 1)),
        ("0 0 1 3 *", utc(1900, 2, 10), utc(1900, 3, 1)),
        ("0 0 1 2 *", utc(2025, 2, 10), utc(2026, 2, 1)),
        ("0 0 1 2 *", utc(2025, 1, 31, 1), utc(2025, 2, 1)),
        ("0 0 1 2 *", utc(2024, 1, 10), utc(2024, 2, 1)),
        ("0 0 1 4 *", utc(2025, 1, 10), utc(2025, 4, 1)),  # jumps over a common February
        ("0 0 1 4 *", utc(2024, 1, 10), utc(2024, 4, 1)),  # ... and a leap February
        ("0 0 1 4 *", utc(2100, 1, 10), utc(2100, 4, 1)),
        ("0 0 1 4 *", utc(2400, 1, 10), utc(2400, 4, 1)),
        ("0 0 * 3 *", utc(2100, 2, 27), utc(2100, 3, 1)),
        ("0 0 1 1 *", utc(2025, 5, 10), utc(2026, 1, 1)),  # jumps over the year end
    ],
)
def test_month_jump_lands_on_the_first_of_the_next_matching_month(
    expression: str, after: datetime, expected: datetime
) -> None:
    """Months that cannot match are skipped whole, landing exactly on the 1st."""
    assert next_fire(expression, "UTC", after) == expected


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (utc(2025, 3, 1), utc(2028, 2, 29)),
        (utc(2096, 3, 1), utc(2104, 2, 29)),  # no 29 February in 2100
        (utc(2396, 3, 1), utc(2400, 2, 29)),  # but in 2400
        (utc(1996, 3, 1), utc(2000, 2, 29)),
    ],
)
def test_29_february_follows_the_gregorian_century_rules(
    after: datetime, expected: datetime
) -> None:
    """A 29 February schedule fires on the next real leap day (2100 skipped, 2400 kept)."""
    assert next_fire("0 0 29 2 *", "UTC", after) == expected


def test_february_dates_across_2100() -> None:
    """In 2100 February has 28 days: "* * 28 2 *" fires, the next 29 February is 2104."""
    assert next_fire("0 12 28 2 *", "UTC", utc(2100, 1, 1)) == utc(2100, 2, 28, 12)
    assert next_fire("0 0 1,29 2 *", "UTC", utc(2100, 2, 1, 1)) == utc(2101, 2, 1)


# --- day-of-week -------------------------------------------------------------------


def test_day_of_week_7_is_sunday() -> None:
    """7 and 0 both mean Sunday; 5-7 is Friday to Sunday."""
    wednesday = utc(2025, 1, 1)
    assert next_fire("0 0 * * 7", "UTC", wednesday) == utc(2025, 1, 5)
    assert next_fire("0 0 * * 0", "UTC", wednesday) == utc(2025, 1, 5)
    assert [f.date() for f in fires("0 0 * * 5-7", wednesday, 4)] == [
        date(2025, 1, 3),
        date(2025, 1, 4),
        date(2025, 1, 5),
        date(2025, 1, 10),
    ]


@pytest.mark.parametrize(
    ("name", "number"),
    [("sun", 0), ("mon", 1), ("tue", 2), ("wed", 3), ("thu", 4), ("fri", 5), ("sat", 6)],
)
def test_day_names_match_their_numbers(name: str, number: int) -> None:
    """Each weekday name fires on the same days as its number (Sunday = 0)."""
    after = utc(2025, 1, 1)
    by_name = fires(f"0 0 * * {name}", after, 2)
    assert by_name == fires(f"0 0 * * {number}", after, 2)
    assert by_name[0].isoweekday() % 7 == number


@pytest.mark.parametrize("number", range(1, 13))
def test_month_names_match_their_numbers(number: int) -> None:
    """Each month name fires in the same month as its number."""
    name = calendar.month_abbr[number].lower()
    assert next_fire(f"0 0 1 {name} *", "UTC", utc(2025, 1, 1, 1)) == next_fire(
        f"0 0 1 {number} *", "UTC", utc(2025, 1, 1, 1)
    )


def test_both_day_fields_restricted_fire_on_either() -> None:
    """ "0 0 13 * 5" fires on every 13th and every Friday; "*"-led fields need both."""
    assert [f.date() for f in fires("0 0 13 * 5", utc(2025, 6, 1), 4)] == [
        date(2025, 6, 6),
        date(2025, 6, 13),
        date(2025, 6, 20),
        date(2025, 6, 27),
    ]
    assert [f.date() for f in fires("0 0 13 * */6", utc(2025, 6, 1), 2)] == [
        date(2025, 7, 13),
        date(2025, 9, 13),
    ]


# --- steps ------------------------------------------------------------------------


def test_a_slash_n_runs_from_a_to_the_end_of_the_field() -> None:
    """ "5/15" in the minute field is 5,20,35,50; "3/8" in the hour field is 3,11,19."""
    assert [f.minute for f in fires("5/15 * * * *", utc(2025, 1, 1), 5)] == [5, 20, 35, 50, 5]
    assert [f.hour for f in fires("0 3/8 * * *", utc(2025, 1, 1), 4)] == [3, 11, 19, 3]
    assert [f.day for f in fires("0 0 20/5 * *", utc(2025, 1, 1), 3)] == [20, 25, 30]
    assert [f.month for f in fires("0 0 1 10/2 *", utc(2025, 1, 1), 2)] == [10, 12]


def test_range_with_step() -> None:
    """ "10-40/15" is 10, 25, 40 and nothing past the range's end."""
    assert [f.minute for f in fires("10-40/15 * * * *", utc(2025, 1, 1), 4)] == [10, 25, 40, 10]


# --- minimum interval ---------------------------------------------------------------


def test_min_wall_gap_is_the_smallest_gap_between_fires() -> None:
    """Two fires a day at 09:00 and 17:00 are 8 hours apart (not 16, not 26)."""
    assert CronSchedule("0 9,17 * * *").min_wall_gap() == timedelta(hours=8)
    assert CronSchedule("0 1,23 * * *").min_wall_gap() == timedelta(hours=2)  # over midnight
    assert CronSchedule("0 0 * * 1,3").min_wall_gap() == timedelta(days=2)
    assert CronSchedule("0 0 1 1 *").min_wall_gap() == timedelta(days=365)
    assert CronSchedule("0 0 29 2 *").min_wall_gap() == timedelta(days=4 * 365 + 1)
    assert CronSchedule("0 0 * * *").min_wall_gap() == timedelta(days=1)


def test_twice_daily_schedule_fails_a_ten_hour_minimum() -> None:
    """ "0 9,17 * * *" is refused at a 10-hour minimum and accepted at exactly 8 hours."""
    with pytest.raises(InvalidSchedule) as caught:
        validate_schedule("0 9,17 * * *", min_interval=timedelta(hours=10))
    assert str(caught.value) == (
        "cron expression '0 9,17 * * *' fires too often: consecutive fires can be "
        "8 hour(s) apart, the minimum interval is 10 hour(s)"
    )
    validate_schedule("0 9,17 * * *", min_interval=timedelta(hours=8))
    with pytest.raises(InvalidSchedule):
        validate_schedule("0 9,17 * * *", min_interval=timedelta(hours=8, minutes=1))


@pytest.mark.parametrize(
    ("expression", "minimum", "described"),
    [
        (
            "*/30 * * * *",
            timedelta(hours=1),
            "30 minute(s) apart, the minimum interval is 1 hour(s)",
        ),
        ("0 0 * * *", timedelta(days=2), "1 day(s) apart, the minimum interval is 2 day(s)"),
        (
            "0 0 * * *",
            timedelta(hours=25),
            "1 day(s) apart, the minimum interval is 25 hour(s)",
        ),
        (
            "0 0 * * *",
            timedelta(seconds=86401),
            "1 day(s) apart, the minimum interval is 1 day, 0:00:01",
        ),
    ],
)
def test_too_frequent_message_names_both_intervals(
    expression: str, minimum: timedelta, described: str
) -> None:
    """The refusal states the gap and the minimum in days, hours or minutes where exact."""
    with pytest.raises(InvalidSchedule) as caught:
        validate_schedule(expression, min_interval=minimum)
    assert str(caught.value).endswith(described)


# --- DST: the smallest instant wins -------------------------------------------------


def test_lord_howe_real_0240_fires_before_the_shifted_0215() -> None:
    """On Lord Howe's spring-forward day 02:40 is real and fires before 02:15 (-> 02:45)."""
    zone = ZoneInfo(LORD_HOWE)
    before = datetime(2024, 10, 6, 1, 59, tzinfo=zone)
    first, second, third = fires("15,40 2 * * *", before, 3, LORD_HOWE)
    assert first.astimezone(zone).timetz().replace(tzinfo=None) == time(2, 40)
    assert first == utc(2024, 10, 5, 15, 40)
    assert second == utc(2024, 10, 5, 15, 45)  # 02:15 did not exist: shifted by the 30-minute gap
    assert third == datetime(2024, 10, 7, 2, 15, tzinfo=zone).astimezone(UTC)


def test_lord_howe_gap_time_fires_after_a_start_inside_the_gap() -> None:
    """Asked just after the gap, a gap time that maps later still fires."""
    zone = ZoneInfo(LORD_HOWE)
    after = datetime(2024, 10, 6, 2, 31, tzinfo=zone)  # 02:31 LHDT, the gap is 02:00-02:30
    assert next_fire("15 2 * * *", LORD_HOWE, after) == utc(2024, 10, 5, 15, 45)


# --- precise outcomes for generated expressions ----------------------------------


@dataclass(frozen=True)
class Field:
    """One cron field of the test oracle."""

    name: str
    low: int
    high: int
    accepted_max: int
    names: tuple[str, ...] = ()
    name_base: int = 0


ORACLE_FIELDS = (
    Field("minute", 0, 59, 59),
    Field("hour", 0, 23, 23),
    Field("day-of-month", 1, 31, 31),
    Field("month", 1, 12, 12, tuple(m.lower() for m in calendar.month_abbr[1:]), 1),
    Field("day-of-week", 0, 6, 7, ("sun", "mon", "tue", "wed", "thu", "fri", "sat"), 0),
)


@st.composite
def field_items(draw: st.DrawFn, field: Field) -> tuple[str, set[int]]:
    """A valid item of ``field`` and the values it stands for (the oracle)."""
    top = field.accepted_max
    kind = draw(
        st.sampled_from(["star", "value", "name", "range", "star-step", "a-step", "range-step"])
    )
    if kind == "name" and field.names:
        index = draw(st.integers(0, len(field.names) - 1))
        return field.names[index].upper() if draw(st.booleans()) else field.names[index], {
            index + field.name_base
        }
    if kind == "star":
        return "*", set(range(field.low, field.high + 1))
    if kind == "star-step":
        step = draw(st.integers(1, field.high + 1))
        return f"*/{step}", set(range(field.low, field.high + 1, step))
    first = draw(st.integers(field.low, top))
    if kind == "a-step":
        step = draw(st.integers(1, 20))
        return f"{first}/{step}", set(range(first, max(first, field.high) + 1, step))
    if kind in {"range", "range-step"}:
        last = draw(st.integers(first, top))
        step = draw(st.integers(1, 10)) if kind == "range-step" else 1
        text = f"{first}-{last}" + (f"/{step}" if kind == "range-step" else "")
        return text, set(range(first, last + 1, step))
    return str(first), {first}


@st.composite
def expressions(draw: st.DrawFn) -> tuple[str, list[set[int]], list[str]]:
    """A valid 5-field expression, the value set of each field and the field texts."""
    texts: list[str] = []
    values: list[set[int]] = []
    for field in ORACLE_FIELDS:
        items = draw(st.lists(field_items(field), min_size=1, max_size=3))
        texts.append(",".join(text for text, _ in items))
        merged = set().union(*(v for _, v in items))
        if field.name == "day-of-week" and 7 in merged:
            merged = (merged - {7}) | {0}
        values.append(merged)
    return " ".join(texts), values, texts


def oracle_next(values: list[set[int]], texts: list[str], after: datetime) -> datetime | None:
    """The first minute after ``after`` (UTC) that the expression matches, by brute force."""
    minutes, hours, days, months, weekdays = values
    either = not (texts[2].startswith("*") or texts[4].startswith("*"))
    names = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    day = after.date()
    for _ in range(100 * 366):
        weekday = ORACLE_FIELDS[4].names.index(names[day.weekday()])
        in_dom, in_dow = day.day in days, weekday in weekdays
        if day.month in months and ((in_dom or in_dow) if either else (in_dom and in_dow)):
            for hour in sorted(hours):
                for minute in sorted(minutes):
                    candidate = datetime.combine(day, time(hour, minute), tzinfo=UTC)
                    if candidate > after:
                        return candidate
        day += timedelta(days=1)
    return None


def never_fires(values: list[set[int]], texts: list[str]) -> bool:
    """Whether the module must refuse the expression as never firing (oracle)."""
    either = not (texts[2].startswith("*") or texts[4].startswith("*"))
    longest = {m: calendar.monthrange(2024, m)[1] for m in range(1, 13)}
    return not either and not any(d <= longest[m] for m in values[3] for d in values[2])


@given(case=expressions(), after=st.datetimes(datetime(2020, 1, 1), datetime(2040, 1, 1)))
@settings(max_examples=150, deadline=None)
def test_generated_expressions_fire_at_the_brute_force_instant(
    case: tuple[str, list[set[int]], list[str]], after: datetime
) -> None:
    """A valid expression fires exactly at the first matching minute (names, steps, 7=Sunday)."""
    expression, values, texts = case
    after = after.replace(tzinfo=UTC)
    if never_fires(values, texts):
        with pytest.raises(InvalidSchedule) as caught:
            next_fire(expression, "UTC", after)
        assert str(caught.value) == (
            f"invalid cron expression {expression!r}: it never fires "
            "(no month has that day of the month)"
        )
        return
    expected = oracle_next(values, texts, after)
    assert expected is not None
    assert next_fire(expression, "UTC", after) == expected


def _defects(field: Field) -> list[tuple[str, str]]:
    """(item, error detail) pairs that make ``field`` invalid, one defect each."""
    other = "mon" if field.name != "day-of-week" else "jan"
    high = field.accepted_max
    return [
        (str(high + 1), f"{field.name} value {high + 1} is out of range {field.low}-{high}"),
        (
            f"{field.low}-{high + 1}",
            f"{field.name} value {high + 1} is out of range {field.low}-{high}",
        ),
        (other, f"{other!r} is not a valid {field.name} value"),
        (
            f"{field.low + 1}-{field.low}",
            f"{field.name} range '{field.low + 1}-{field.low}' descends; {SPLIT}",
        ),
        ("*/0", f"step 0 in the {field.name} field"),
        ("L", "the non-standard 'L' extension is not supported"),
        ("W", "the non-standard 'W' extension is not supported"),
        ("H", "hashed/random values (H) are not supported"),
        ("?", "the non-standard '?', 'L', 'W' and '#' extensions are not supported"),
        ("1#2", "the non-standard '?', 'L', 'W' and '#' extensions are not supported"),
        ("1-", f"'1-' is not a valid {field.name} item"),
    ] + (
        []
        if field.low == 0
        else [
            (
                str(field.low - 1),
                f"{field.name} value {field.low - 1} is out of range {field.low}-{high}",
            )
        ]
    )


@given(case=expressions(), data=st.data())
@settings(max_examples=150, deadline=None)
def test_one_defect_is_refused_with_its_own_message(
    case: tuple[str, list[set[int]], list[str]], data: st.DataObject
) -> None:
    """An expression with exactly one bad item is refused naming that item's field and fault."""
    _, _, texts = case
    position = data.draw(st.integers(0, 4), label="field")
    item, detail = data.draw(st.sampled_from(_defects(ORACLE_FIELDS[position])), label="defect")
    texts = list(texts)
    texts[position] = data.draw(st.sampled_from([item, f"{item},{texts[position]}"]), label="text")
    expression = " ".join(texts)
    with pytest.raises(InvalidSchedule) as caught:
        validate_schedule(expression, min_interval=timedelta(0))
    assert str(caught.value) == f"invalid cron expression {expression!r}: {detail}"


@pytest.mark.parametrize(
    ("expression", "detail"),
    [
        ("0 0 * *", "expected 5 fields (minute hour day-of-month month day-of-week), got 4"),
        ("0", "expected 5 fields (minute hour day-of-month month day-of-week), got 1"),
        ("0 0 0 * * *", "seconds and year fields are not supported; use the 5-field form"),
        ("0 0 0 * * * 2025", "seconds and year fields are not supported; use the 5-field form"),
        (
            "0 0 * * * * * *",
            "expected 5 fields (minute hour day-of-month month day-of-week), got 8",
        ),
        (
            "@every",
            f"unknown macro; use one of {MACROS}",
        ),
    ],
)
def test_wrong_shape_is_refused_with_its_own_message(expression: str, detail: str) -> None:
    """Field counts and unknown macros are refused with the exact reason."""
    with pytest.raises(InvalidSchedule) as caught:
        validate_schedule(expression)
    assert str(caught.value) == f"invalid cron expression {expression!r}: {detail}"


@pytest.mark.parametrize(
    ("macro", "expression"),
    [
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
        ("@monthly", "0 0 1 * *"),
        ("@weekly", "0 0 * * 0"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@hourly", "0 * * * *"),
    ],
)
def test_macros_fire_like_their_expansion(macro: str, expression: str) -> None:
    """Each macro fires at exactly the instants of its five-field expansion."""
    after = utc(2025, 3, 14, 15, 9)
    assert fires(macro, after, 3) == fires(expression, after, 3)
    assert fires(macro.upper(), after, 1) == fires(expression, after, 1)


def test_schedule_firing_once_in_28_years_has_no_gap() -> None:
    """29 February on a Sunday fires once per 28-year cycle: no gap, so it is accepted."""
    schedule = CronSchedule("0 0 29 2 */7")  # "*/7" is Sunday only, so both day fields must match
    assert schedule.min_wall_gap() is None
    validate_schedule("0 0 29 2 */7")
    assert next_fire("0 0 29 2 */7", "UTC", utc(2025, 1, 1)) == utc(2032, 2, 29)
    assert next_fire("0 0 29 2 */7", "UTC", utc(2032, 2, 29)) == utc(2060, 2, 29)


@pytest.mark.parametrize(
    "minimum", [timedelta(seconds=-1), 3600, None], ids=["negative", "int", "none"]
)
def test_bad_min_interval_is_a_request_error_with_its_message(minimum: object) -> None:
    """A negative or non-timedelta min_interval is InvalidRequest, saying what is expected."""
    from reasonkit_export.exceptions import InvalidRequest

    with pytest.raises(InvalidRequest) as caught:
        validate_schedule("0 0 * * *", min_interval=minimum)  # type: ignore[arg-type]
    assert str(caught.value) == "min_interval must be a non-negative timedelta"
    assert not isinstance(caught.value, InvalidSchedule)


def test_last_representable_day_still_fires() -> None:
    """The search reaches 9999-12-31 itself: a fire on the last day is found."""
    after = datetime(9999, 12, 30, 12, tzinfo=UTC)
    assert next_fire("0 0 31 12 *", "UTC", after) == datetime(9999, 12, 31, tzinfo=UTC)
    assert next_fire("30 23 * * *", "UTC", after) == datetime(9999, 12, 30, 23, 30, tzinfo=UTC)


@pytest.mark.parametrize("host_zone", ["Pacific/Kiritimati", "Pacific/Pago_Pago", "UTC"])
def test_fire_times_do_not_depend_on_the_host_timezone(
    host_zone: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The host's local zone (TZ) never changes a fire instant, around a gap or not."""
    import time as clock

    zone = ZoneInfo(LORD_HOWE)
    monkeypatch.setenv("TZ", host_zone)
    clock.tzset()
    try:
        after_gap = datetime(2024, 10, 6, 2, 31, tzinfo=zone)
        assert next_fire("15 2 * * *", LORD_HOWE, after_gap) == utc(2024, 10, 5, 15, 45)
        before = datetime(2024, 10, 6, 1, 59, tzinfo=zone)
        assert fires("15,40 2 * * *", before, 2, LORD_HOWE) == [
            utc(2024, 10, 5, 15, 40),
            utc(2024, 10, 5, 15, 45),
        ]
    finally:
        monkeypatch.undo()
        clock.tzset()


def test_timezone_refusals_name_the_problem() -> None:
    """Non-strings name their type; host-specific and overlong names are unknown, shortened."""
    from reasonkit_export.scheduling import parse_timezone

    with pytest.raises(InvalidSchedule) as caught:
        parse_timezone(5)  # type: ignore[arg-type]
    assert str(caught.value) == "invalid timezone: expected a string, got int"
    for name in ("posix/Europe/Berlin", "right/Europe/Berlin"):
        with pytest.raises(InvalidSchedule) as caught:
            parse_timezone(name)
        assert str(caught.value) == f"unknown timezone {name!r}"
    long_name = "Europe/" + "A" * 60
    with pytest.raises(InvalidSchedule) as caught:
        parse_timezone(long_name)
    assert str(caught.value) == f"unknown timezone {long_name[:64]!r}"


def test_naive_after_is_refused_with_its_message() -> None:
    """A naive 'after' is a request error that says so."""
    from reasonkit_export.exceptions import InvalidRequest

    with pytest.raises(InvalidRequest) as caught:
        next_fire("0 0 * * *", "UTC", datetime(2025, 1, 1))
    assert str(caught.value) == "after must be an aware datetime, got a naive one"


def test_expression_length_cap_is_256_characters() -> None:
    """An expression of exactly 256 characters is read; one more is refused unparsed."""
    padded = "0 0 * * *" + " " * (256 - len("0 0 * * *"))
    validate_schedule(padded)
    with pytest.raises(InvalidSchedule) as caught:
        validate_schedule(padded + " ")
    assert str(caught.value) == "invalid cron expression: longer than 256 characters"


def test_non_string_expression_is_refused_naming_its_type() -> None:
    """A cron expression that is not a string is refused, naming what was passed."""
    with pytest.raises(InvalidSchedule) as caught:
        validate_schedule(5)  # type: ignore[arg-type]
    assert str(caught.value) == "invalid cron expression: expected a string, got int"


def test_non_datetime_after_is_refused_naming_its_type() -> None:
    """An 'after' that is not a datetime is a request error naming what was passed."""
    from reasonkit_export.exceptions import InvalidRequest

    with pytest.raises(InvalidRequest) as caught:
        next_fire("0 0 * * *", "UTC", "2025-01-01")  # type: ignore[arg-type]
    assert str(caught.value) == "after must be a datetime, got str"


def test_instant_past_the_last_representable_local_day_names_it() -> None:
    """When even the local time of 'after' is past year 9999 the error names the instant."""
    from reasonkit_export.exceptions import InvalidRequest

    after = datetime(9999, 12, 31, 20, tzinfo=UTC)  # already 10000-01-01 at UTC+14
    with pytest.raises(InvalidRequest) as caught:
        next_fire("0 0 * * *", "Pacific/Kiritimati", after)
    assert str(caught.value) == "no fire time representable after 9999-12-31T20:00:00+00:00"


def test_end_of_time_and_hashed_items_have_exact_messages() -> None:
    """Past the last representable fire, and for H(...) items, the errors say exactly that."""
    from reasonkit_export.exceptions import InvalidRequest

    with pytest.raises(InvalidRequest) as caught:
        next_fire("0 0 1 1 *", "America/New_York", utc(9999, 6, 1))
    assert str(caught.value) == "no fire time found within 100 years after 9999-05-31T20:00:00"
    with pytest.raises(InvalidSchedule) as refused:
        validate_schedule("h(0-7) 0 * * *")
    assert str(refused.value) == (
        "invalid cron expression 'h(0-7) 0 * * *': hashed/random values (H) are not supported"
    )
