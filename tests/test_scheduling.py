"""Tests for reasonkit_export.scheduling: validation, next fire, DST rules."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from reasonkit_export.exceptions import InvalidRequest, InvalidSchedule
from reasonkit_export.scheduling import (
    CronSchedule,
    next_fire,
    parse_timezone,
    validate_schedule,
)
from tests.conftest import MUTATION_RUN

# A generous bound that catches a pathologically slow search; off in mutation runs,
# where a loaded machine and cleared caches make timings meaningless.
_DEADLINE = None if MUTATION_RUN else timedelta(seconds=1)

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"
LORD_HOWE = "Australia/Lord_Howe"


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    """Build an aware UTC datetime."""
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def local(tz: str, year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """Build an aware datetime in ``tz`` (fold=0)."""
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(tz))


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "expression",
    [
        "0 0 * * *",
        "0 3 * * 1-5",
        "30 2 * * *",
        "0 9 * * mon",
        "0 9 1 jan-mar *",
        "0 0 29 2 *",
        "0 0 1 * mon",
        "0 12 */2 * *",
        "15 4 * * 7",
        " 0 0 * * * ",
        "0 0 * * *\n",
        "@yearly",
        "@annually",
        "@monthly",
        "@weekly",
        "@daily",
        "@midnight",
        "@DAILY",
    ],
)
def test_accepts_valid_daily_or_rarer_schedules(expression: str) -> None:
    """Standard 5-field expressions and macros firing at most daily are accepted."""
    validate_schedule(expression)
    validate_schedule(expression, BERLIN)


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("0 0 * *", "expected 5 fields"),
        ("0 0 * * * *", "seconds and year fields"),
        ("0 0 0 * * * 2030", "seconds and year fields"),
        ("0", "expected 5 fields"),
        ("H 3 * * *", "hashed/random"),
        ("H(0-29) 3 * * *", "hashed/random"),
        ("R 3 * * *", "hashed/random"),
        ("@reboot", "no fire times"),
        ("@often", "unknown macro"),
        ("0 0 L * *", "'L'"),
        ("0 0 15W * *", "not a valid day-of-month"),
        ("0 0 * * 1#2", "'#'"),
        ("0 0 ? * 1", "'?'"),
        ("60 0 * * *", "out of range"),
        ("0 24 * * *", "out of range"),
        ("0 0 0 * *", "out of range"),
        ("0 0 32 * *", "out of range"),
        ("0 0 * 13 *", "out of range"),
        ("0 0 * * 8", "out of range"),
        ("0 0 * * foo", "not a valid day-of-week"),
        ("0 mon * * *", "not a valid hour"),
        ("0 0 * * 1/0", "step 0"),
        ("0 22-2 * * *", "descends"),
        ("0 0 * * 1,,2", "not a valid day-of-week item"),
        ("0 0 * * 1\u00a02", "not a valid day-of-week item"),
        ("0 0 30 2 *", "never fires"),
        ("0 0 31 4 *", "never fires"),
        ("0 0 31 2,4,6,9,11 *", "never fires"),
        ("0 0 30,31 feb *", "never fires"),
    ],
)
def test_refuses_malformed_or_impossible_expressions(expression: str, reason: str) -> None:
    """Malformed, non-standard and never-firing expressions raise InvalidSchedule."""
    with pytest.raises(InvalidSchedule, match="cron expression") as info:
        validate_schedule(expression)
    assert reason.lower() in str(info.value).lower()


@pytest.mark.parametrize("value", [None, 5, b"0 0 * * *", ["0", "0", "*", "*", "*"]])
def test_refuses_non_string_expressions(value: object) -> None:
    """Non-str expressions raise InvalidSchedule, never TypeError."""
    with pytest.raises(InvalidSchedule, match="expected a string"):
        validate_schedule(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["", "   ", "\t"])
def test_refuses_empty_expressions(value: str) -> None:
    """Empty or blank expressions raise InvalidSchedule."""
    with pytest.raises(InvalidSchedule, match="empty"):
        validate_schedule(value)


def test_refuses_overlong_expressions() -> None:
    """Expressions longer than the cap are refused before any parsing."""
    with pytest.raises(InvalidSchedule, match="longer than"):
        validate_schedule("0 0 " + ",".join(["1"] * 200) + " * *")


@pytest.mark.parametrize(
    ("expression", "gap"),
    [
        ("*/30 * * * *", "30 minute"),
        ("* * * * *", "1 minute"),
        ("0 0,12 * * *", "12 hour"),
        ("0 * * * *", "1 hour"),
        ("@hourly", "1 hour"),
        ("30-30 * * * *", "1 hour"),
        ("0 23,1 * * *", "2 hour"),
    ],
)
def test_refuses_schedules_more_frequent_than_a_day(expression: str, gap: str | None) -> None:
    """Schedules with any fire gap below the default 1-day minimum are refused."""
    with pytest.raises(InvalidSchedule) as info:
        validate_schedule(expression)
    if gap is not None:
        assert "too often" in str(info.value)
        assert gap in str(info.value)


def test_min_interval_is_configurable() -> None:
    """A smaller min_interval admits hourly schedules; a larger one refuses daily ones."""
    validate_schedule("0 * * * *", min_interval=timedelta(hours=1))
    validate_schedule("*/15 * * * *", BERLIN, min_interval=timedelta(minutes=15))
    validate_schedule("0 3 * * mon", min_interval=timedelta(days=7))
    with pytest.raises(InvalidSchedule, match="too often"):
        validate_schedule("0 3 * * mon,thu", min_interval=timedelta(days=7))
    with pytest.raises(InvalidSchedule, match="too often"):
        validate_schedule("0 0 * * *", min_interval=timedelta(days=2))
    with pytest.raises(InvalidSchedule, match="too often"):
        validate_schedule("0 0 1 * *", min_interval=timedelta(days=31))
    validate_schedule("0 0 1 * *", min_interval=timedelta(days=28))
    with pytest.raises(InvalidSchedule, match="too often"):
        validate_schedule("@yearly", min_interval=timedelta(days=400))


def test_min_interval_crosses_day_boundaries() -> None:
    """The gap from a late fire to the next day's early fire counts."""
    with pytest.raises(InvalidSchedule, match="2 hour"):
        validate_schedule("0 1,23 * * *", min_interval=timedelta(hours=3))
    with pytest.raises(InvalidSchedule, match="1 day"):
        # The 1st and a Monday can be consecutive days.
        validate_schedule("0 0 1 * mon", min_interval=timedelta(days=2))


def test_min_interval_ignores_dst_shortening() -> None:
    """A daily local schedule is not 'too frequent' although a spring-forward day has 23 h."""
    for tz in (BERLIN, NEW_YORK, LORD_HOWE):
        validate_schedule("30 2 * * *", tz)
        validate_schedule("0 3 * * *", tz)
    spring = next_fire("0 3 * * *", BERLIN, utc(2024, 3, 30, 12))
    assert next_fire("0 3 * * *", BERLIN, spring) - spring == timedelta(hours=24)
    before = next_fire("0 3 * * *", BERLIN, utc(2024, 3, 29, 12))
    assert spring - before == timedelta(hours=23)


def test_invalid_min_interval_is_a_request_error() -> None:
    """A negative or non-timedelta min_interval raises InvalidRequest."""
    with pytest.raises(InvalidRequest, match="min_interval"):
        validate_schedule("0 0 * * *", min_interval=timedelta(seconds=-1))
    with pytest.raises(InvalidRequest, match="min_interval"):
        validate_schedule("0 0 * * *", min_interval=3600)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- timezones


@pytest.mark.parametrize("name", ["UTC", BERLIN, NEW_YORK, LORD_HOWE, "Etc/GMT+5"])
def test_parse_timezone_accepts_iana_names(name: str) -> None:
    """Known IANA names load as ZoneInfo."""
    assert parse_timezone(name) == ZoneInfo(name)


@pytest.mark.parametrize(
    "name",
    [
        "Mars/Olympus",
        "Europe",
        "Europe/Berlin ",
        "utc ",
        "",
        "../etc/passwd",
        "/etc/localtime",
        "localtime",
        "posixrules",
        "right/UTC",
        "a\x00b",
        "x" * 500,
    ],
)
def test_parse_timezone_refuses_unknown_names(name: str) -> None:
    """Unknown, path-like and host-specific names raise InvalidSchedule naming the zone."""
    with pytest.raises(InvalidSchedule, match="timezone"):
        parse_timezone(name)


def test_unknown_timezone_is_named_by_validate_and_next_fire() -> None:
    """validate_schedule and next_fire refuse unknown zones with the zone in the message."""
    with pytest.raises(InvalidSchedule, match="Mars/Olympus"):
        validate_schedule("0 0 * * *", "Mars/Olympus")
    with pytest.raises(InvalidSchedule, match="Mars/Olympus"):
        next_fire("0 0 * * *", "Mars/Olympus", utc(2024, 1, 1))
    with pytest.raises(InvalidSchedule, match="expected a string"):
        validate_schedule("0 0 * * *", None)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- next_fire basics


def test_next_fire_in_utc() -> None:
    """Daily, weekly, monthly and yearly schedules in UTC fire at the expected instants."""
    start = utc(2024, 1, 10, 12, 34, 56)
    assert next_fire("0 3 * * *", "UTC", start) == utc(2024, 1, 11, 3)
    assert next_fire("45 12 * * *", "UTC", start) == utc(2024, 1, 10, 12, 45)
    assert next_fire("0 9 * * mon", "UTC", start) == utc(2024, 1, 15, 9)  # 10th is a Wed
    assert next_fire("@monthly", "UTC", start) == utc(2024, 2, 1)
    assert next_fire("@yearly", "UTC", start) == utc(2025, 1, 1)
    assert next_fire("0 0 29 2 *", "UTC", utc(2024, 3, 1)) == utc(2028, 2, 29)
    assert next_fire("0 0 31 * *", "UTC", utc(2024, 4, 1)) == utc(2024, 5, 31)


def test_next_fire_returns_aware_utc() -> None:
    """The result's tzinfo is datetime.UTC whatever the input timezone."""
    result = next_fire("0 3 * * *", BERLIN, local(NEW_YORK, 2024, 6, 1, 12))
    assert result.tzinfo is UTC
    assert result == local(BERLIN, 2024, 6, 2, 3)


def test_next_fire_in_non_utc_zone() -> None:
    """Wall times are read in the schedule's zone (CET and CEST)."""
    assert next_fire("0 3 * * *", BERLIN, utc(2024, 1, 10)) == utc(2024, 1, 10, 2)
    assert next_fire("0 3 * * *", BERLIN, utc(2024, 7, 10)) == utc(2024, 7, 10, 1)
    assert next_fire("0 3 * * 1-5", NEW_YORK, utc(2024, 1, 13)) == utc(2024, 1, 15, 8)
    assert next_fire("0 9 * * *", LORD_HOWE, utc(2024, 1, 10)) == utc(2024, 1, 10, 22)


def test_next_fire_is_strictly_after() -> None:
    """When ``after`` is itself a fire time, the following fire is returned."""
    fire = next_fire("0 3 * * *", BERLIN, utc(2024, 5, 1))
    assert fire == local(BERLIN, 2024, 5, 1, 3)
    assert next_fire("0 3 * * *", BERLIN, fire) == local(BERLIN, 2024, 5, 2, 3)
    assert next_fire("0 3 * * *", BERLIN, fire - timedelta(microseconds=1)) == fire
    assert next_fire("0 3 * * *", BERLIN, fire + timedelta(microseconds=1)) > fire


def test_next_fire_coalesces_missed_runs() -> None:
    """From a long-past next_run, one call with ``now`` gives the first fire after now."""
    stale_next_run = utc(2020, 1, 1, 3)
    now = utc(2024, 6, 15, 10, 17)
    assert stale_next_run <= now
    new_next_run = next_fire("0 3 * * *", "UTC", now)
    assert new_next_run == utc(2024, 6, 16, 3)
    assert new_next_run > now


def test_next_fire_refuses_naive_datetimes() -> None:
    """A naive ``after`` raises InvalidRequest (a caller bug, not a bad schedule)."""
    with pytest.raises(InvalidRequest, match="aware") as info:
        next_fire("0 3 * * *", "UTC", datetime(2024, 1, 1))
    assert not isinstance(info.value, InvalidSchedule)
    with pytest.raises(InvalidRequest, match="datetime"):
        next_fire("0 3 * * *", "UTC", date(2024, 1, 1))  # type: ignore[arg-type]


def test_next_fire_refuses_invalid_schedules() -> None:
    """next_fire validates the expression too (but not its frequency)."""
    with pytest.raises(InvalidSchedule, match="never fires"):
        next_fire("0 0 30 2 *", "UTC", utc(2024, 1, 1))
    with pytest.raises(InvalidSchedule, match="hashed"):
        next_fire("H * * * *", "UTC", utc(2024, 1, 1))
    assert next_fire("*/15 * * * *", "UTC", utc(2024, 1, 1, 0, 7)) == utc(2024, 1, 1, 0, 15)


def test_next_fire_near_the_end_of_time() -> None:
    """No representable fire time raises InvalidRequest instead of OverflowError."""
    with pytest.raises(InvalidRequest, match="no fire time"):
        next_fire("0 0 1 1 *", NEW_YORK, utc(9999, 6, 1))


def test_day_of_month_and_day_of_week_semantics() -> None:
    """Both day fields restricted: either matches; one starting with '*': both must."""
    # 1st of the month OR Monday.
    assert next_fire("0 0 1 * mon", "UTC", utc(2024, 1, 2)) == utc(2024, 1, 8)
    assert next_fire("0 0 1 * mon", "UTC", utc(2024, 1, 29, 1)) == utc(2024, 2, 1)
    # Odd day of the month AND Monday.
    assert next_fire("0 0 */2 * mon", "UTC", utc(2024, 1, 2)) == utc(2024, 1, 15)


def test_cron_schedule_helper() -> None:
    """CronSchedule is a frozen value that parses once and agrees with next_fire."""
    schedule = CronSchedule("30 2 * * *", BERLIN)
    assert schedule == CronSchedule("30 2 * * *", BERLIN)
    assert hash(schedule) == hash(CronSchedule("30 2 * * *", BERLIN))
    after = utc(2024, 3, 30, 12)
    assert schedule.next_after(after) == next_fire("30 2 * * *", BERLIN, after)
    assert schedule.min_wall_gap() == timedelta(days=1)
    assert CronSchedule("@yearly").min_wall_gap() == timedelta(days=365)
    with pytest.raises(AttributeError):
        schedule.expression = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    "expression",
    ["0 3 * * *", "*/7 1-5 * * *", "0 0 1,15 * *", "5 4 * jun-aug sat,sun", "0 12 13 * fri"],
)
def test_wall_clock_fires_agree_with_croniter_in_utc(expression: str) -> None:
    """In UTC (no DST) the fires match croniter's own iteration."""
    it = croniter(expression, datetime(2023, 12, 31, 23, 59))
    current = utc(2023, 12, 31, 23, 59)
    for _ in range(200):
        expected = it.get_next(datetime).replace(tzinfo=UTC)
        current = next_fire(expression, "UTC", current)
        assert current == expected


# --------------------------------------------------------------------------- DST


def walk(expression: str, tz: str, start: datetime, end: datetime) -> list[datetime]:
    """All fires in [start, end), by repeated next_fire."""
    fires: list[datetime] = []
    current = start - timedelta(microseconds=1)
    while True:
        current = next_fire(expression, tz, current)
        if current >= end:
            return fires
        fires.append(current)


# (zone, wall time in the spring-forward gap, wall time in the fall-back overlap, gap length)
DST_ZONES = [
    (BERLIN, (2, 30), (2, 30), timedelta(hours=1)),
    (NEW_YORK, (2, 30), (1, 30), timedelta(hours=1)),
    (LORD_HOWE, (2, 15), (1, 45), timedelta(minutes=30)),
]


def _exists(wall: datetime, zone: ZoneInfo) -> bool:
    aware = wall.replace(tzinfo=zone)
    return aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == wall


def _ambiguous(wall: datetime, zone: ZoneInfo) -> bool:
    return (
        wall.replace(tzinfo=zone, fold=0).utcoffset()
        != wall.replace(tzinfo=zone, fold=1).utcoffset()
    )


@pytest.mark.parametrize(("tz", "gap_time", "overlap_time", "gap_length"), DST_ZONES)
def test_daily_schedules_fire_once_per_local_day_2024_2030(
    tz: str, gap_time: tuple[int, int], overlap_time: tuple[int, int], gap_length: timedelta
) -> None:
    """Daily schedules in the gap, in the overlap and at a normal time fire once per local day."""
    zone = ZoneInfo(tz)
    start = local(tz, 2024, 1, 1)
    end = local(tz, 2031, 1, 1)
    days = (end.date() - start.date()).days
    for hour, minute in (gap_time, overlap_time, (9, 0)):
        fires = walk(f"{minute} {hour} * * *", tz, start, end)
        assert all(a < b for a, b in itertools.pairwise(fires)), "strictly increasing"
        local_days = [f.astimezone(zone).date() for f in fires]
        assert len(fires) == days
        assert len(set(local_days)) == days, "exactly one fire per local calendar day"
        shifted = ambiguous = 0
        for fire, day in zip(fires, local_days, strict=True):
            wall = datetime(day.year, day.month, day.day, hour, minute)
            if _exists(wall, zone):
                # Normal days, and overlap days at the first occurrence (fold=0).
                # (Compare in UTC: interzone == is always False for ambiguous times.)
                assert fire == wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
                ambiguous += _ambiguous(wall, zone)
            else:
                # Gap days: the wall time shifted forward by the gap length.
                assert fire.astimezone(zone).replace(tzinfo=None) == wall + gap_length
                shifted += 1
        if (hour, minute) == gap_time:
            assert shifted == 7, "one spring-forward day per year"
        if (hour, minute) == overlap_time:
            assert ambiguous == 7, "one fall-back day per year"
        if (hour, minute) == (9, 0):
            assert shifted == ambiguous == 0


@pytest.mark.parametrize(
    ("tz", "night_start", "night_end", "expected_walls"),
    [
        # Berlin 2024-10-27: 03:00 CEST -> 02:00 CET; 02:00 exists twice.
        (BERLIN, (2024, 10, 26, 22), (2024, 10, 27, 5), ["00", "01", "02", "03", "04", "05"]),
        # New York 2024-11-03: 02:00 EDT -> 01:00 EST; 01:00 exists twice.
        (NEW_YORK, (2024, 11, 3, 4), (2024, 11, 3, 11), ["00", "01", "02", "03", "04", "05"]),
    ],
)
def test_hourly_schedule_fires_once_per_wall_time_across_fall_back(
    tz: str,
    night_start: tuple[int, int, int, int],
    night_end: tuple[int, int, int, int],
    expected_walls: list[str],
) -> None:
    """An hourly schedule does not fire twice in the repeated hour."""
    zone = ZoneInfo(tz)
    fires = walk("0 * * * *", tz, utc(*night_start), utc(*night_end))
    walls = [f"{f.astimezone(zone).hour:02d}" for f in fires]
    assert walls == expected_walls
    # The repeated hour fires at its first occurrence; the next fire is 2 h later.
    gaps = [b - a for a, b in itertools.pairwise(fires)]
    assert sorted(gaps) == [timedelta(hours=1)] * 4 + [timedelta(hours=2)]


def test_lord_howe_half_hourly_across_fall_back() -> None:
    """Lord Howe (30-minute shift): every distinct wall time in the overlap fires once."""
    zone = ZoneInfo(LORD_HOWE)
    # 2024-04-07 02:00 +11 -> 01:30 +10:30; 01:30-02:00 exists twice.
    fires = walk("*/15 1-2 * * *", LORD_HOWE, utc(2024, 4, 6, 13), utc(2024, 4, 6, 17))
    walls = [f.astimezone(zone).strftime("%H:%M") for f in fires]
    assert walls == [f"{h:02d}:{m:02d}" for h in (1, 2) for m in (0, 15, 30, 45)]


def test_gap_times_mapping_to_one_instant_fire_once() -> None:
    """Nonexistent and real wall times landing on the same instant fire once, in order."""
    zone = ZoneInfo(BERLIN)
    fires = walk("0,30 2,3 * * *", BERLIN, utc(2024, 3, 30, 12), utc(2024, 3, 31, 12))
    assert [f.astimezone(zone).strftime("%H:%M") for f in fires] == ["03:00", "03:30"]
    # Asking from just past 03:00 CEST still finds 02:30 (-> 03:30 CEST).
    assert next_fire("30 2 * * *", BERLIN, local(BERLIN, 2024, 3, 31, 3, 10)) == local(
        BERLIN, 2024, 3, 31, 3, 30
    )


def test_whole_skipped_day_fires_once() -> None:
    """Samoa skipped 2011-12-30 entirely: the daily fire of that day collapses into the next."""
    fires = walk("0 10 * * *", "Pacific/Apia", utc(2011, 12, 27), utc(2012, 1, 3))
    assert all(a < b for a, b in itertools.pairwise(fires))
    days = [f.astimezone(ZoneInfo("Pacific/Apia")).date() for f in fires]
    assert date(2011, 12, 30) not in days
    assert days == sorted(set(days))


@given(
    tz=st.sampled_from([BERLIN, NEW_YORK, LORD_HOWE, "UTC"]),
    expression=st.sampled_from(
        ["0 * * * *", "*/20 1-3 * * *", "0,30 2,3 * * *", "15 2 * * *", "45 1 * * 0"]
    ),
    after=st.datetimes(
        min_value=datetime(2024, 1, 1),
        max_value=datetime(2030, 12, 31),
        timezones=st.just(UTC),
    ),
)
@settings(max_examples=200, deadline=_DEADLINE)
def test_next_fire_is_the_minimal_later_instant(tz: str, expression: str, after: datetime) -> None:
    """next_fire(after) is the earliest fire-set instant > after, and chaining increases."""
    first = next_fire(expression, tz, after)
    second = next_fire(expression, tz, first)
    assert after < first < second
    # Brute force: the fire set is the fold=0 image of every matching wall time.
    zone = ZoneInfo(tz)
    naive_start = after.astimezone(zone).replace(tzinfo=None) - timedelta(hours=3)
    it = croniter(expression, naive_start)
    candidates = []
    for _ in range(500):
        wall = it.get_next(datetime)
        instant = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
        if instant > after:
            candidates.append(instant)
        if instant > first + timedelta(hours=3):
            break
    assert min(candidates) == first


# --------------------------------------------------------------------------- robustness

_TOKENS = st.sampled_from(
    [
        "*",
        "0",
        "1",
        "5",
        "7",
        "12",
        "23",
        "29",
        "30",
        "31",
        "59",
        "60",
        "99",
        "mon",
        "fri",
        "sun",
        "jan",
        "feb",
        "dec",
        "L",
        "W",
        "H",
        "R",
        "?",
        "#",
        "-",
        "/",
        ",",
        "%",
        "x",
        "@",
        "15W",
        "1#2",
        "H(0-7)",
    ]
)
_ITEMS = st.one_of(
    _TOKENS,
    st.builds("{}-{}".format, _TOKENS, _TOKENS),
    st.builds("{}/{}".format, _TOKENS, _TOKENS),
    st.builds("{}-{}/{}".format, _TOKENS, _TOKENS, _TOKENS),
    st.builds("*/{}".format, st.integers(min_value=0, max_value=100)),
)
_FIELDS = st.lists(_ITEMS, min_size=1, max_size=3).map(",".join)
# Mostly well-formed items, so that accepted expressions are exercised too.
_NUMBERS = st.integers(min_value=0, max_value=32).map(str)
_PLAUSIBLE_ITEMS = st.one_of(
    st.just("*"),
    _NUMBERS,
    st.builds("{}-{}".format, _NUMBERS, _NUMBERS),
    st.builds("*/{}".format, st.integers(min_value=1, max_value=40)),
    st.builds("{}/{}".format, _NUMBERS, st.integers(min_value=1, max_value=9)),
)
_PLAUSIBLE_FIELDS = st.lists(_PLAUSIBLE_ITEMS, min_size=1, max_size=3).map(",".join)
_MONTH_FIELDS = st.one_of(
    st.just("*"), st.sampled_from(["jan", "feb", "apr-jun", "2", "2,4", "*/3", "11-12"])
)
_DOW_FIELDS = st.one_of(st.just("*"), st.sampled_from(["mon", "mon-fri", "0", "7", "5-7", "*/2"]))
_EXPRESSIONS = st.one_of(
    st.text(max_size=40),
    st.lists(_FIELDS, min_size=5, max_size=5).map(" ".join),
    st.tuples(
        _PLAUSIBLE_FIELDS, _PLAUSIBLE_FIELDS, _PLAUSIBLE_FIELDS, _MONTH_FIELDS, _DOW_FIELDS
    ).map(" ".join),
    st.lists(_FIELDS, min_size=1, max_size=8).map(" ".join),
    st.sampled_from(["@daily", "@reboot", "@hourly", "@yearly", "@", "@@daily"]),
)


@given(expression=_EXPRESSIONS, tz=st.sampled_from(["UTC", BERLIN, LORD_HOWE]))
@settings(max_examples=300, deadline=_DEADLINE)
def test_validate_never_raises_anything_but_invalid_schedule(expression: str, tz: str) -> None:
    """Arbitrary strings and token soups either validate or raise InvalidSchedule, quickly."""
    try:
        validate_schedule(expression, tz, min_interval=timedelta(0))
    except InvalidSchedule:
        return
    # Accepted expressions must also be usable.
    fire = next_fire(expression, tz, utc(2024, 1, 1))
    assert next_fire(expression, tz, fire) > fire


def test_reading_a_time_zone_does_not_import_croniter() -> None:
    """croniter's import starts a subprocess (`file`, via platform.architecture()).

    The processes that render the HTML view and the report read the export's
    time zone and never a schedule: they must not pay for it.
    """
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from reasonkit_export._present import validate_timezone\n"
        "import reasonkit_export.formats._html, reasonkit_export.formats._pdf\n"
        "validate_timezone('Europe/Berlin')\n"
        "assert 'croniter' not in sys.modules, 'croniter imported'\n"
        "from reasonkit_export.scheduling import validate_schedule\n"
        "validate_schedule('0 3 * * *', 'UTC')\n"
        "assert 'croniter' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
