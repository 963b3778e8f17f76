"""Tests for the PDF report writer and its text layout helpers."""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from importlib.resources import files
from typing import Any
from uuid import UUID

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pypdf import PdfReader

from reasonkit_export.exceptions import SourceError
from reasonkit_export.formats._base import ExportInfo, FormatWriter, Section
from reasonkit_export.formats._pdf import PdfWriter, PdfWriteResult
from reasonkit_export.formats._pdf_layout import (
    REPLACEMENT,
    TextCleaner,
    TextMetrics,
    display_pairs,
)

EXPORT_ID = UUID("12345678-1234-5678-1234-567812345678")
T0 = datetime(2025, 6, 1, 9, 30, tzinfo=UTC)


def _info(*categories: str) -> ExportInfo:
    return ExportInfo(
        export_id=EXPORT_ID,
        user_id="user-42",
        generated_at=T0,
        format="pdf",
        categories=categories,
        generator="reasonkit_export tests",
    )


def _render(
    sections: dict[str, Iterable[dict[str, Any]]], writer: PdfWriter | None = None
) -> tuple[PdfWriteResult, PdfReader]:
    sink = io.BytesIO()
    result = (writer or PdfWriter()).write(
        _info(*sections),
        [Section(category=name, records=records) for name, records in sections.items()],
        sink,
    )
    return result, PdfReader(io.BytesIO(sink.getvalue()))


def _pages(reader: PdfReader) -> list[str]:
    return [page.extract_text() for page in reader.pages]


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.fixture(scope="module")
def font_metrics() -> tuple[TextMetrics, TextMetrics]:
    """Body and bold metrics read from the packaged fonts, as the writer reads them."""
    from fpdf import FPDF

    pdf = FPDF()
    folder = files("reasonkit_export") / "fonts"
    pdf.add_font("DejaVu", "", str(folder / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(folder / "DejaVuSans-Bold.ttf"))
    regular: Any = pdf.fonts["dejavu"]
    bold: Any = pdf.fonts["dejavuB"]
    cleaner = TextCleaner(set(regular.cmap).intersection(bold.cmap))
    metrics = TextMetrics(cleaner, regular.cw, 9), TextMetrics(cleaner, bold.cw, 9)
    # fontTools keeps the files open for lazy loading; the widths are read already.
    regular.ttfont.close()
    bold.ttfont.close()
    return metrics


def test_plan_is_pdf_without_gzip() -> None:
    """plan() describes a .pdf that service-level gzip must not wrap."""
    plan = PdfWriter().plan(_info())
    assert (plan.extension, plan.media_type, plan.gzip_allowed) == ("pdf", "application/pdf", False)


def test_writer_satisfies_protocol() -> None:
    """PdfWriter is a FormatWriter."""
    assert isinstance(PdfWriter(), FormatWriter)


def test_fonts_and_licence_are_package_data() -> None:
    """The DejaVu fonts and their licence are found through importlib.resources."""
    folder = files("reasonkit_export") / "fonts"
    for name in ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"):
        assert (folder / name).read_bytes()[:4] == b"\x00\x01\x00\x00"
    assert "Bitstream Vera" in (folder / "LICENSE-DejaVu.txt").read_text(encoding="utf-8")


def test_every_record_of_every_category_appears() -> None:
    """Each record's id and a distinctive word of its text are in the extracted text."""
    history = [
        {"id": f"rec-{n:04d}", "prompt": f"question about topic{n:04d} and more " * 3}
        for n in range(400)
    ]
    likes = [{"id": f"like-{n:03d}", "target": f"post{n:03d}"} for n in range(30)]
    result, reader = _render({"history": history, "likes": likes})
    text = "\n".join(_pages(reader))
    for record in history:
        n = record["id"][4:]
        assert record["id"] in text
        assert f"topic{n}" in text
    for record in likes:
        assert record["id"] in text
        assert record["target"] in text
    assert result.record_counts == {"history": 400, "likes": 30}
    assert result.warnings == ()


def test_non_ascii_text_is_extractable() -> None:
    """Accents, Greek and Cyrillic print with real glyphs, not replacements."""
    result, reader = _render(
        {"profile": [{"name": "Zoë Ångström", "greek": "Ελληνικά", "cyrillic": "Кириллица"}]}
    )
    text = "\n".join(_pages(reader))
    for word in ("Zoë Ångström", "Ελληνικά", "Кириллица"):
        assert word in text
    assert result.replaced_characters == 0


def test_cover_lists_categories_and_counts() -> None:
    """The first page names the user, export and each category with its record count."""
    _, reader = _render(
        {
            "profile": [{"name": "A"}],
            "history": [{"id": n} for n in range(1234)],
            "empty": [],
        }
    )
    cover = _pages(reader)[0]
    assert "Your data export" in cover
    assert "user-42" in cover
    assert str(EXPORT_ID) in cover
    # The export's time zone (UTC here), formatted for the locale.
    assert "Jun 1, 2025, 9:30:00" in cover
    # Well-known categories get the catalogue's human title, others a readable name.
    assert re.search(r"Profile and settings\s*1 record\b", cover)
    assert re.search(r"History\s*1,234 records", cover)
    assert re.search(r"Empty\s*0 records", cover)


def test_outline_has_one_entry_per_category() -> None:
    """The PDF bookmarks list every category, pointing at its first page."""
    long_name = "category " * 300
    _, reader = _render(
        {"profile": [{"a": 1}], "history": [{"b": 2}], "Ελληνικά": [], long_name: [{"c": 3}]}
    )
    entries = [item for item in reader.outline if not isinstance(item, list)]
    assert [entry.title for entry in entries] == [
        "Profile and settings",
        "History",
        "Ελληνικά",
        "Category " + " ".join(["category"] * 299),
    ]
    pages = [reader.get_destination_page_number(entry) for entry in entries]
    # 0-based; the long name wraps over so many lines that the cover takes two pages.
    assert pages == [2, 3, 4, 5]


def test_pages_are_numbered_and_headed() -> None:
    """Every page says "Page N of M"; every page after the cover carries the running header."""
    _, reader = _render({"history": [{"text": "word " * 200} for _ in range(40)]})
    pages = _pages(reader)
    total = len(pages)
    assert total > 3
    for number, text in enumerate(pages, start=1):
        # The total is drawn by a form XObject written last, which text
        # extraction reports as a separate run.
        assert f"Page{number}of{total}" in _squash(text)
        if number > 1:
            assert f"Your data export · {EXPORT_ID}" in text
            assert "History" in text


def test_long_word_and_long_text_are_wrapped_not_lost() -> None:
    """A 500-character word and a 20,000-character text appear in full, across lines and pages."""
    word = "".join(chr(ord("a") + n % 26) for n in range(500))
    words = [f"w{n:05d}" for n in range(2900)]
    long_text = " ".join(words)
    assert len(long_text) > 20_000
    _, reader = _render({"notes": [{"word": word}, {"text": long_text}]})
    pages = _pages(reader)
    assert len(pages) > 3
    assert word in _squash("".join(pages))
    found = re.findall(r"w\d{5}", "\n".join(pages))
    assert found == words


def test_wrapped_lines_fit_the_width(font_metrics: tuple[TextMetrics, TextMetrics]) -> None:
    """wrap() never returns a line wider than its width, and keeps every character."""
    body, _ = font_metrics
    texts = [
        "x" * 500,
        "Zoë Ångström " * 60,
        "WWWWWWWWWW mmmmmmmmm " * 30 + "y" * 300,
        "short",
        "a\nb\n\nc " + "Ελληνικά Кириллица " * 40,
        "",
    ]
    for first, rest in ((60.0, 120.0), (10.0, 170.0), (3.0, 3.0)):
        for text in texts:
            lines = body.wrap(text, first, rest)
            assert lines
            for index, line in enumerate(lines):
                limit = first if index == 0 else rest
                # A single glyph may be wider than an absurdly narrow line.
                assert body.width(line) <= limit + 1e-6 or len(line) == 1
            assert _squash("".join(lines)) == _squash(text)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    text=st.text(alphabet=st.sampled_from(list("aiW mЖλ.-\n")), max_size=400),
    first=st.floats(min_value=1, max_value=180),
    rest=st.floats(min_value=1, max_value=180),
)
def test_wrap_property(
    font_metrics: tuple[TextMetrics, TextMetrics], text: str, first: float, rest: float
) -> None:
    """For any text and widths, lines fit (or hold one glyph) and no character is lost."""
    body, _ = font_metrics
    lines = body.wrap(text, first, rest)
    for index, line in enumerate(lines):
        assert body.width(line) <= (first if index == 0 else rest) + 1e-6 or len(line) == 1
    assert _squash("".join(lines)) == _squash(text)


def test_wrap_moves_a_word_off_a_short_first_line(
    font_metrics: tuple[TextMetrics, TextMetrics],
) -> None:
    """A word too wide for the first line but not for the others is not broken."""
    body, _ = font_metrics
    word = "internationalisation"
    width = body.width(word)
    assert body.wrap(f"{word} ok", width / 2, width * 2) == ["", f"{word} ok"]
    assert body.wrap("a " + word, width, width) == ["a", word]
    assert body.wrap(word * 3, width / 2, width / 2)[0] != ""


def test_truncate_fits_the_width(font_metrics: tuple[TextMetrics, TextMetrics]) -> None:
    """truncate() (running header only) shortens with an ellipsis and never overflows."""
    body, _ = font_metrics
    assert body.truncate("short", 100) == "short"
    cut = body.truncate("Ελληνικά " * 200, 50)
    assert cut.endswith("…")
    assert body.width(cut) <= 50
    assert body.truncate("W" * 10, 0.1) == ""


def test_text_is_placed_inside_the_page_margins() -> None:
    """No text starts outside the printable area, even for long words and wide glyphs."""
    _, reader = _render(
        {
            "profile": [{"k" * 120: "W" * 400, "name": "Zoë"}],
            "history": [{"id": n, "text": "W" * 700 + " mmm" * 100} for n in range(3)],
        }
    )
    positions: list[tuple[float, float]] = []

    def visit(text: str, cm: Any, tm: Any, font: Any, size: Any) -> None:
        # The footer's total page count is a form XObject, which pypdf reports
        # in the form's own coordinates: it is checked by the footer test.
        if text.strip() and not text.strip().isdigit():
            positions.append((tm[4], tm[5]))

    for page in reader.pages:
        page.extract_text(visitor_text=visit)
    assert positions
    mm = 72 / 25.4
    for x, y in positions:
        assert 18 * mm - 0.5 <= x < (210 - 18) * mm
        assert 0 < y < 297 * mm


def test_cjk_and_emoji_are_replaced_and_counted() -> None:
    """Characters without a glyph become U+FFFD, are counted and reported, and don't crash."""
    # Without system fonts, no font of the report has CJK or emoji glyphs.
    result, reader = _render(
        {"profile": [{"greeting": "Hi 日本語 🙂!", "ok": "Zoë"}]}, PdfWriter(system_fonts=False)
    )
    text = "\n".join(_pages(reader))
    assert f"Hi {REPLACEMENT * 3} {REPLACEMENT}!" in text
    assert result.replaced_characters == 4
    assert len(result.warnings) == 1
    assert "4 characters" in result.warnings[0]


def test_control_characters_are_replaced() -> None:
    """Control characters show as U+FFFD and are counted; tabs become spaces; newlines break."""
    result, reader = _render({"notes": [{"text": "a\x00b\x07c\td\x85e\r\nsecond line"}]})
    text = "\n".join(_pages(reader))
    assert f"a{REPLACEMENT}b{REPLACEMENT}c    d" in text
    assert re.search(r"d\s*\ne\s*\nsecond line", text)
    assert result.replaced_characters == 2


def test_cleaner_replaces_lone_surrogates(
    font_metrics: tuple[TextMetrics, TextMetrics],
) -> None:
    """A lone surrogate (not encodable, no glyph) becomes U+FFFD and is counted."""
    cleaner = font_metrics[0].cleaner
    before = cleaner.replaced_count
    assert cleaner.clean_line("x\ud800y\x7f") == f"x{REPLACEMENT}y{REPLACEMENT}"
    assert cleaner.replaced_count - before == 2


def test_markup_is_shown_literally() -> None:
    """Markdown, HTML, links and page-number aliases in records are plain text."""
    values = [
        "**bold** and __under__",
        "<b>x</b>",
        '<a href="file:///etc/passwd">click</a>',
        "{nb} {nbpg} {} (parens) back\\slash",
    ]
    _, reader = _render({"notes": [{"text": value} for value in values]})
    text = "\n".join(_pages(reader))
    for value in values:
        assert value in text
    for page in reader.pages:
        for annotation in page.get("/Annots") or []:
            assert "/URI" not in annotation.get_object().get("/A", {})


def test_empty_category_and_empty_export_render() -> None:
    """Empty categories, empty records and an export without categories render fine."""
    result, reader = _render({"empty": [], "blank": [{}, {}]})
    assert result.record_counts == {"empty": 0, "blank": 2}
    assert "No records in this category." in _pages(reader)[1]
    assert _pages(reader)[2].count("(empty record)") == 2
    result, reader = _render({})
    assert result.record_counts == {}
    assert len(reader.pages) == 1
    assert "This export contains no categories." in _pages(reader)[0]


def test_nested_and_python_values_are_flattened() -> None:
    """Nested fields are labelled with their context; values are formatted by the presenter."""
    record = {
        "address": {"city": "Αθήνα", "geo": {"lat": 1.5}},
        "tags": ["a", "b"],
        "items": [{"name": "first"}, {"name": "second"}],
        "empty": {},
        "when": datetime(2021, 3, 4, 5, 6, 7, tzinfo=UTC),
        "price": Decimal("12.50"),
        "flag": None,
    }
    _, reader = _render({"profile": [record]})
    text = "\n".join(_pages(reader))
    for expected in (
        "Address › City",
        "Αθήνα",
        "Address › Geo › Lat",
        "a, b",
        "Items 2 › Name",
        "second",
        "Mar 4, 2021, 5:06:07",
        "12.50",
        "—",
    ):
        assert expected in text


def test_display_pairs_flattens_json() -> None:
    """display_pairs() turns nested JSON into dotted keys and readable scalars."""
    pairs = display_pairs(
        {"a": {"b": 1, "c": [True, None]}, "d": [], "e": {}, "f": [{"g": "x"}], "h": 2.5}
    )
    assert pairs == [
        ("a.b", "1"),
        ("a.c", "[true, null]"),
        ("d", "[]"),
        ("e", "{}"),
        ("f[0].g", "x"),
        ("h", "2.5"),
    ]


def test_source_errors_propagate_and_nothing_is_written() -> None:
    """A failing data source raises through write() before any byte reaches the sink."""

    def failing() -> Iterator[dict[str, Any]]:
        yield {"id": 1}
        raise SourceError("history", "database went away")

    sink = io.BytesIO()
    with pytest.raises(SourceError):
        PdfWriter().write(_info("history"), [Section(category="history", records=failing())], sink)
    assert sink.getvalue() == b""


def test_sink_is_left_open() -> None:
    """write() does not close the sink it was given."""
    sink = io.BytesIO()
    PdfWriter().write(_info("a"), [Section(category="a", records=[{"x": 1}])], sink)
    assert not sink.closed
    assert sink.getvalue().startswith(b"%PDF-")


def test_labels_and_times_follow_the_presenter() -> None:
    """Described fields get their labels; times appear in the export's zone and locale."""
    from reasonkit_export import CategoryDescription

    info = attrs.evolve(
        _info("chats"),
        locale="de",
        timezone="Europe/Berlin",
        descriptions={
            "chats": CategoryDescription(title="Ihre Chats", fields={"created_at": "Erstellt am"})
        },
    )
    sink = io.BytesIO()
    PdfWriter().write(
        info,
        [Section(category="chats", records=[{"created_at": "2025-06-01T09:30:00+00:00"}])],
        sink,
    )
    pages = _pages(PdfReader(io.BytesIO(sink.getvalue())))
    # 09:30 UTC is 11:30 in Berlin (CEST), on the cover and in the record.
    assert "11:30:00" in pages[0]
    assert "Ihre Chats" in pages[1]
    assert "Erstellt am" in pages[1]
    assert "11:30:00" in pages[1]


def test_a_record_that_fits_a_page_is_not_split() -> None:
    """A record that would straddle a page break starts on the next page instead."""
    records = [{"n": n, "text": "word " * (40 + 37 * (n % 5))} for n in range(120)]
    _, reader = _render({"history": records})
    for text in _pages(reader)[1:]:
        numbers = [int(number) for number in re.findall(r"^N: (\d+)$", text, re.MULTILINE)]
        headings = [int(number) for number in re.findall(r"^#(\d+)$", text, re.MULTILINE)]
        # Every record whose heading is on this page has its "N:" field here too,
        # and each page after the chapter's first opens with a record's heading,
        # not the tail of a record begun on the page before.
        assert [h - 1 for h in headings] == numbers
        lines = text.splitlines()
        if "1 record" not in text and "120 records" not in text:
            assert re.fullmatch(r"#\d+", lines[1]), lines[:3]
