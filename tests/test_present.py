"""Human labels and formats: the Presenter shared by the HTML view and the PDF."""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from uuid import UUID

import pytest
from babel.numbers import format_decimal

from reasonkit_export import CategoryDescription, InvalidRequest
from reasonkit_export._about import describe
from reasonkit_export._present import Presenter, readable_key, validate_timezone
from reasonkit_export.exceptions import InvalidTimezone

SUMMER = datetime(2025, 7, 1, 12, 0, 37, tzinfo=UTC)
WINTER = datetime(2025, 1, 1, 0, 0, 37, tzinfo=UTC)


def _presenter(
    locale: str = "en", timezone: str = "UTC", **descriptions: CategoryDescription
) -> Presenter:
    return Presenter.for_export(locale=locale, timezone=timezone, descriptions=descriptions)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("created_at", "Created at"),
        ("tokenCount", "Token count"),
        ("userID", "User ID"),
        ("HTTPStatus", "HTTP status"),
        ("api-key", "Api key"),
        ("x", "X"),
        ("größe_in_mb", "Größe in mb"),
    ],
)
def test_readable_key(key: str, expected: str) -> None:
    """Unlabelled keys become readable words, acronyms kept."""
    assert readable_key(key) == expected


def test_labels_by_locale_and_dotted_path() -> None:
    """Titles and labels may be strings or locale mappings; dotted paths label nested fields."""
    description = CategoryDescription(
        title={"en": "Conversations", "de": "Unterhaltungen"},
        fields={
            "created_at": {"en": "Created", "de": "Erstellt"},
            "tokens.input": "Input tokens",
            "details.lines.sku": {"de": "Artikelnummer"},
        },
    )
    en = _presenter("en", chats=description)
    de = _presenter("de-AT", chats=description)
    assert en.category_title("chats") == "Conversations"
    assert de.category_title("chats") == "Unterhaltungen"
    assert en.field_label("chats", "created_at") == "Created"
    assert de.field_label("chats", "created_at") == "Erstellt"
    assert de.field_label("chats", "tokens.input") == "Input tokens"
    assert en.field_label("chats", "tokens.output") == "Output"
    # List positions do not matter; a German-only label is used for English too.
    assert en.field_label("chats", "details.lines[3].sku") == "Artikelnummer"
    assert en.field_label("chats", "updated_at") == "Updated at"


def test_category_title_fallbacks() -> None:
    """Without a description: the catalogue's title, else the readable category name."""
    assert _presenter("de").category_title("billing") == "Abonnement und Abrechnung"
    assert _presenter().category_title("support_tickets") == "Support tickets"


def test_description_validation() -> None:
    """Blank titles, non-string labels and bad locale tags are refused with InvalidRequest."""
    with pytest.raises(InvalidRequest, match="title"):
        CategoryDescription(title=" ")
    with pytest.raises(InvalidRequest, match="label"):
        CategoryDescription(fields={"a": 3})
    with pytest.raises(InvalidRequest, match="locale"):
        CategoryDescription(title={"not a tag!": "x"})
    with pytest.raises(InvalidRequest, match="fields"):
        CategoryDescription(fields=["a"])


def test_to_dict_resolves_title_and_leaves_labels_out() -> None:
    """The Art. 15 dict (JSON, manifest) has the title in the export's locale and no labels."""
    description = CategoryDescription(
        title={"en": "Chats", "de": "Chats (de)"}, description="d", fields={"a": "A"}
    )
    assert description.to_dict("de") == {"title": "Chats (de)", "description": "d"}
    assert CategoryDescription(title="T").to_dict() == {"title": "T"}

    class Source:
        def __init__(self) -> None:
            self.description = {"title": "Plain", "fields": {"a": "A"}}

    assert describe(Source(), "en") == {"title": "Plain"}


def test_datetimes_in_the_export_zone_with_the_zone_named() -> None:
    """Datetimes (and ISO strings) show in the job's zone, CLDR-formatted, zone named."""
    en = _presenter("en", "Europe/Berlin")
    de = _presenter("de", "Europe/Berlin")
    assert en.value(SUMMER) == "Jul 1, 2025, 2:00:37\u202fPM GMT+02:00" or en.value(SUMMER) == (
        "Jul 1, 2025, 2:00:37 PM GMT+02:00"
    )
    assert de.value(SUMMER) == "01.07.2025, 14:00:37 MESZ"
    assert de.value(WINTER) == "01.01.2025, 01:00:37 MEZ"
    assert de.value("2025-07-01T12:00:37+00:00") == "01.07.2025, 14:00:37 MESZ"
    assert de.value("2025-07-01T12:00:37.5Z") == "01.07.2025, 14:00:37 MESZ"
    assert _presenter("en").value(SUMMER.replace(tzinfo=None)).endswith("UTC")
    assert de.timestamp(SUMMER) == de.value(SUMMER)
    assert de.value("2024-05-01") == "01.05.2024"
    assert de.value(date(2024, 5, 1)) == "01.05.2024"
    assert de.value(time(9, 5, 0)) == "09:05:00"
    # Strings that merely look similar stay text.
    assert de.value("2024-05-01 is the day") == "2024-05-01 is the day"
    assert de.value("2024-13-45T99:00:00+00:00") == "2024-13-45T99:00:00+00:00"


@pytest.mark.parametrize("locale", ["en", "de", "fr", "es", "ja", "ar", "hi", "de-CH", "pl", "sv"])
def test_numbers_match_babel(locale: str) -> None:
    """Fast number paths give exactly Babel's (CLDR) output, every digit kept."""
    presenter = _presenter(locale)
    number: float
    for number in (0, 5, -5, 999, 1000, 1234, -1234, 12345, 9876543210, -1234567):
        assert presenter.value(number) == format_decimal(number, locale=locale.replace("-", "_"))
    for number in (0.5, -0.25, 1234.5678, 142.857142857, 1e-7, 12345678.125):
        expected = format_decimal(
            number, locale=locale.replace("-", "_"), decimal_quantization=False
        )
        assert presenter.value(number) == expected


def test_scalars_for_people() -> None:
    """Booleans are words, None a dash, bytes described, decimals keep their digits."""
    en, de = _presenter("en"), _presenter("de")

    class Colour(enum.Enum):
        RED = "red"

    assert (en.value(True), en.value(False), de.value(True), de.value(False)) == (
        "yes",
        "no",
        "ja",
        "nein",
    )
    assert en.value(None) == "—"
    assert en.not_set == "not set"
    assert en.value(b"\x00" * 2048) == "binary data, 2,048 bytes"
    assert de.value(b"x") == "Binärdaten, 1 Byte"
    assert de.value(Decimal("1234.50")) == "1.234,50"
    assert en.value(Decimal("NaN")) == "—"
    assert en.value(float("inf")) == "∞"
    assert en.value(Colour.RED) == "red"
    assert en.value(UUID(int=1)) == "00000000-0000-0000-0000-000000000001"
    assert en.value(timedelta(seconds=90)) == "90.0 s"
    assert en.value([]) == "none"
    assert en.value({}) == "none"
    assert de.value([1, 2000, True]) == "1, 2.000, ja"
    assert en.value({"a_b": 1}) == "A b: 1"
    assert en.value("<b>text</b>") == "<b>text</b>"  # escaping is the view's job


def test_timezone_validation() -> None:
    """Unknown or host-specific zones raise InvalidTimezone (an InvalidRequest)."""
    assert validate_timezone("Europe/Berlin") == "Europe/Berlin"
    assert validate_timezone(None) == "UTC"
    for bad in ("Mars/Olympus", "localtime", "../etc/passwd", "", 5):
        with pytest.raises(InvalidTimezone):
            validate_timezone(bad)
    assert issubclass(InvalidTimezone, InvalidRequest)
    with pytest.raises(InvalidTimezone):
        _presenter("en", "Nowhere/Town")


def test_zone_label_names_the_zone() -> None:
    """The zone label gives the IANA name and CLDR's long name."""
    assert _presenter("en", "Europe/Berlin").zone_label().startswith("Europe/Berlin (Central Eu")
    assert _presenter("en", "UTC").zone_label().startswith("UTC")


@pytest.mark.parametrize(
    "locale", ["en", "de", "fr", "es", "pl", "ar", "hi", "ja", "pt", "ru", "sv", "it", "nl"]
)
def test_integer_group_says_when_integers_are_python_grouping(locale: str) -> None:
    """Where ``integer_group`` is set, ``integer`` is ``f"{v:,}"`` with that separator."""
    presenter = _presenter(locale)
    group = presenter.integer_group
    values = [0, 7, 999, 1000, 1234, 99999, 1234567, -1, -1000, -1234567, 10**30, -(10**25)]
    if group is None:
        return  # another notation, or not known to be one: the renderer calls integer()
    for value in values:
        assert presenter.integer(value) == f"{value:,}".replace(",", group)


def test_integer_group_of_some_locales() -> None:
    """English groups with a comma, German with a dot, Hindi not by threes."""
    assert _presenter("en").integer_group == ","
    assert _presenter("de").integer_group == "."
    assert _presenter("hi").integer_group is None
