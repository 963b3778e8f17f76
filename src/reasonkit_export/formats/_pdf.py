"""The PDF writer: a human-readable report of the export, rendered with fpdf2.

The report has a cover page (who, when, which categories and how many
records each; the controller's Art. 15 facts when configured; the window of
an incremental export; how many records were redacted), then one chapter per
category starting on a new page, each with a PDF bookmark. A chapter is
titled with the category's human title (the source's own or the catalogue's)
and, when its data source describes itself, opens with an "About this data"
block of the Art. 15(1) fields that are set. Fixed texts come from the
message catalogue of ``ExportInfo.locale`` (:mod:`reasonkit_export._i18n`).
A category named ``profile``, and any category with exactly one record, is
shown as a key/value table; other categories list their records as blocks of
``key: value`` lines. Every record appears, every
value in full: long text wraps, nothing is cut off.

Record content is plain text. It is never parsed as markup, never followed
as a link and never loaded as a file or image. Characters the embedded font
(DejaVu Sans) has no glyph for, and control characters, are shown as U+FFFD
and counted (see :mod:`reasonkit_export.formats._pdf_layout`); the count is in
:attr:`PdfWriteResult.replaced_characters` and in the warnings.

fpdf2 keeps the whole document in memory until it is serialised, so the
records themselves are spooled to disk first (the cover needs the counts
before any record is drawn) and only the rendered page content is held:
about 2 MB per 1,000 chat-sized records (see ``bench/bench_pdf.py``).

Speed comes from laying text out here rather than in fpdf2: lines are
measured and wrapped with :class:`~reasonkit_export.formats._pdf_layout.TextMetrics`
and written as PDF text operators, one text object per stretch of a page,
with glyphs registered in fpdf2's font subset as fpdf2's ``text()`` does.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from importlib.resources import as_file, files
from typing import Any, BinaryIO

import attrs

from reasonkit_export._i18n import messages
from reasonkit_export.formats._base import ArtifactPlan, ExportInfo, Section, WriteResult
from reasonkit_export.formats._pdf_layout import (
    REPLACEMENT,
    TextCleaner,
    TextMetrics,
    display_pairs,
)
from reasonkit_export.formats._spool import RecordSpool
from reasonkit_export.formats._text import (
    about_lines,
    controller_lines,
    format_number,
    records_text,
    window_sentences,
)

__all__ = ["PdfWriteResult", "PdfWriter"]

_FAMILY = "DejaVu"
_FONT_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}
_OUTPUT_CHUNK = 1024 * 1024
_TABLE_CATEGORIES = frozenset({"profile"})

# Page geometry in millimetres (A4 portrait).
_PAGE_W = 210.0
_PAGE_H = 297.0
_LEFT = 18.0
_RIGHT = _PAGE_W - 18.0
_WIDTH = _RIGHT - _LEFT
_TOP = 24.0
_BOTTOM = _PAGE_H - 20.0
_HEADER_BASELINE = 13.0
_FOOTER_Y = _PAGE_H - 14.0

_BODY_PT = 9.0
_SMALL_PT = 8.0
_HEADING_PT = 16.0
_TITLE_PT = 24.0
_LINE_GAP = 1.35  # line height as a multiple of the font size
_INDENT = 5.0  # continuation lines of a value
_KEY_COLUMN = 55.0  # key column of key/value tables
_RECORD_GAP = 2.5
_RULE_GRAY = 190
_MUTED_GRAY = 90
_PT_PER_MM = 72 / 25.4
_GRAY_OP = f"{_MUTED_GRAY / 255:.3f} g"
_BLACK_OP = "0 g"


@attrs.frozen(kw_only=True)
class PdfWriteResult(WriteResult):
    """What :class:`PdfWriter` reports: a :class:`WriteResult` plus PDF details.

    Attributes:
        replaced_characters: characters shown as U+FFFD because the font has
            no glyph for them or they are control characters.
        pages: pages in the report.
    """

    replaced_characters: int = 0
    pages: int = 0


class PdfWriter:
    """Writes an export as a readable PDF report (see the module docstring)."""

    def plan(self, info: ExportInfo) -> ArtifactPlan:
        """A single ``.pdf``; the PDF compresses its own streams, so no gzip."""
        return ArtifactPlan(extension="pdf", media_type="application/pdf", gzip_allowed=False)

    def write(
        self, info: ExportInfo, sections: Iterable[Section], sink: BinaryIO
    ) -> PdfWriteResult:
        """Spool every section, render the report, then write the PDF to ``sink``."""
        with ExitStack() as stack:
            spooled: list[tuple[str, RecordSpool]] = []
            for section in sections:
                if isinstance(section.records, RecordSpool):
                    # Already on disk (the ZIP writer's spool): no second copy.
                    spooled.append((section.category, section.records))
                    continue
                spool = stack.enter_context(RecordSpool())
                spool.extend(section.records)
                spooled.append((section.category, spool))
            report = _Report(info, stack.enter_context(_font_paths()))
            try:
                report.render(spooled)
                data = report.output()
            finally:
                report.close()
        view = memoryview(data)
        for start in range(0, len(view), _OUTPUT_CHUNK):
            sink.write(view[start : start + _OUTPUT_CHUNK])
        counts = {category: spool.count for category, spool in spooled}
        replaced = report.cleaner.replaced_count
        warnings: tuple[str, ...] = ()
        if replaced:
            noun = "character" if replaced == 1 else "characters"
            warnings = (
                (
                    f"report.pdf: {replaced} {noun} not in the font (or control characters)"
                    f" shown as {REPLACEMENT}"
                ),
            )
        return PdfWriteResult(
            warnings=warnings,
            record_counts=counts,
            replaced_characters=replaced,
            pages=report.pages,
        )


@contextmanager
def _font_paths() -> Iterator[dict[str, str]]:
    """Yield style -> file system path of the packaged fonts.

    ``as_file`` extracts them to temporary files when the package is zipped;
    they must outlive the report because fontTools reads them lazily.
    """
    folder = files("reasonkit_export") / "fonts"
    with ExitStack() as stack:
        yield {
            style: str(stack.enter_context(as_file(folder / name)))
            for style, name in _FONT_FILES.items()
        }


def _utc(value: datetime) -> datetime:
    """Return ``value`` in UTC; naive values are taken as UTC, as in the JSON encoding."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _timestamp(value: datetime) -> str:
    return _utc(value).strftime("%Y-%m-%d %H:%M:%S UTC")


class _Report:
    """One report being rendered: the fpdf2 document plus the layout cursor."""

    def __init__(self, info: ExportInfo, font_paths: dict[str, str]) -> None:
        from fpdf import FPDF

        self.info = info
        self.msg = messages(info.locale)
        # Typed as Any: fpdf2's own annotations are partial (fonts are a union
        # of core and TrueType fonts); this module only uses TrueType fonts.
        pdf: Any = FPDF(orientation="portrait", unit="mm", format="A4")
        pdf.set_auto_page_break(auto=False)
        pdf.set_margins(_LEFT, _TOP, _PAGE_W - _RIGHT)
        # No total-pages alias: older fpdf2 releases substitute it anywhere in a
        # page, record text included. Footers are drawn once the total is known.
        pdf.alias_nb_pages(None)
        pdf.set_title(self.msg("report.title"))
        pdf.set_creator(info.generator)
        pdf.set_lang(self.msg.locale)
        # The export's own time rather than the rendering time, so the report's
        # metadata matches its cover page.
        pdf.set_creation_date(_utc(info.generated_at))
        for style, path in font_paths.items():
            pdf.add_font(_FAMILY, style, path)
        fonts: dict[str, Any] = {
            style: pdf.fonts[f"{_FAMILY.lower()}{style}"] for style in _FONT_FILES
        }
        common = set(fonts[""].cmap).intersection(fonts["B"].cmap)
        self.cleaner = TextCleaner(common)
        self.body = TextMetrics(self.cleaner, fonts[""].cw, _BODY_PT)
        self.key = TextMetrics(self.cleaner, fonts["B"].cw, _BODY_PT)
        self.small = TextMetrics(self.cleaner, fonts[""].cw, _SMALL_PT)
        self.small_bold = TextMetrics(self.cleaner, fonts["B"].cw, _SMALL_PT)
        self.heading = TextMetrics(self.cleaner, fonts["B"].cw, _HEADING_PT)
        self.title = TextMetrics(self.cleaner, fonts["B"].cw, _TITLE_PT)
        self._fonts = fonts
        encoders = {style: _Encoder(font) for style, font in fonts.items()}
        self._faces = {
            id(metrics): _Face(fonts[style], metrics.size_pt, encoders[style])
            for metrics, style in (
                (self.body, ""),
                (self.key, "B"),
                (self.small, ""),
                (self.small_bold, "B"),
                (self.heading, "B"),
                (self.title, "B"),
            )
        }
        self.pdf = pdf
        self.y = _TOP
        self.pages = 0
        self._chapter = ""
        # Text operators of the current page not yet handed to fpdf2, and the
        # font operator last emitted among them.
        self._ops: list[str] = []
        self._font_op = ""

    # -- primitives -------------------------------------------------------

    def _text(
        self, x: float, top: float, text: str, metrics: TextMetrics, *, gray: bool = False
    ) -> None:
        """Draw one cleaned, already wrapped line with its top edge at ``top`` (mm)."""
        if not text:
            return
        face = self._faces[id(metrics)]
        ops = self._ops
        if self._font_op is not face.font_op:
            ops.append(face.font_op)
            self._font_op = face.font_op
        if gray:
            ops.append(_GRAY_OP)
        ops.append(
            f"1 0 0 1 {x * _PT_PER_MM:.2f} {(_PAGE_H - top - metrics.size_mm) * _PT_PER_MM:.2f}"
            f" Tm ({face.encode(text)}) Tj"
        )
        if gray:
            ops.append(_BLACK_OP)

    def _flush(self) -> None:
        """Hand the buffered text of the current page to fpdf2 as one text object."""
        if self._ops:
            # fpdf2 has no public call for raw content; _out() appends to the
            # current page's content stream, which it compresses on output.
            self.pdf._out("BT " + " ".join(self._ops) + " ET")
            self._ops.clear()
            self._font_op = ""

    def _new_page(self, *, cover: bool = False) -> None:
        self._flush()
        pdf = self.pdf
        pdf.add_page()
        self.pages += 1
        # Register both fonts as resources of the new page through the public
        # API (an empty text() emits only the font selection): the buffered
        # operators refer to them by resource name.
        for style in _FONT_FILES:
            pdf.set_font(_FAMILY, style, _BODY_PT)
            pdf.text(0, 0, "")
        if not cover:
            self._draw_header()
        self.y = _TOP

    def _ensure(self, height: float) -> None:
        if self.y + height > _BOTTOM:
            self._new_page()

    def _rule(self) -> None:
        self.pdf.line(_LEFT, self.y, _RIGHT, self.y)

    def _draw_header(self) -> None:
        left = f"{self.msg('report.title')} · {self.info.export_id}"
        top = _HEADER_BASELINE - self.small.size_mm
        self._text(_LEFT, top, left, self.small, gray=True)
        if self._chapter:
            room = _WIDTH - self.small.width(left) - 10
            label = self.small.truncate(self._chapter, room)
            self._text(_RIGHT - self.small.width(label), top, label, self.small, gray=True)
        self.pdf.line(_LEFT, _HEADER_BASELINE + 2, _RIGHT, _HEADER_BASELINE + 2)

    def _draw_footers(self) -> None:
        """Write "Page N of M" on every page, now that M is known."""
        self._flush()
        pdf = self.pdf
        last = pdf.page
        small = self.small
        for number in range(1, self.pages + 1):
            # Going back to an earlier page is how fpdf2 itself fills in a table
            # of contents; _out() then appends to that page's content stream.
            pdf.page = number
            label = self.msg("report.page", page=number, pages=self.pages)
            self._text(
                _LEFT + (_WIDTH - small.width(label)) / 2, _FOOTER_Y, label, small, gray=True
            )
            self._flush()
        pdf.page = last

    # -- report -----------------------------------------------------------

    def render(self, sections: list[tuple[str, RecordSpool]]) -> None:
        """Render the cover and one chapter per spooled section."""
        self.pdf.set_draw_color(_RULE_GRAY)
        self.pdf.set_line_width(0.2)
        links = [self.pdf.add_link() for _ in sections]
        self._cover(sections, links)
        for (category, spool), link in zip(sections, links, strict=True):
            self._chapter_for(category, spool, link)

    def output(self) -> bytearray:
        """Serialise the document (fpdf2 compresses each page's content)."""
        self._draw_footers()
        data: bytearray = self.pdf.output()
        return data

    def close(self) -> None:
        """Release the document and close the font files fontTools reads lazily."""
        for font in self._fonts.values():
            font.ttfont.close()
        self._fonts = {}
        # Free the pages before the serialised bytes are copied to the sink.
        self.pdf = None

    def _lines(self, text: str, metrics: TextMetrics, *, gray: bool = False) -> None:
        height = metrics.size_mm * _LINE_GAP
        for line in metrics.wrap(text, _WIDTH, _WIDTH):
            self._ensure(height)
            self._text(_LEFT, self.y, line, metrics, gray=gray)
            self.y += height

    def _cover(self, sections: list[tuple[str, RecordSpool]], links: list[int]) -> None:
        info = self.info
        self._new_page(cover=True)
        self.y = 30.0
        msg = self.msg
        self._lines(msg("report.title"), self.title)
        self.y += 4
        total = sum(spool.count for _, spool in sections)
        facts = [
            (msg("report.user"), info.user_id),
            (msg("report.export_id"), str(info.export_id)),
            (msg("report.generated"), _timestamp(info.generated_at)),
            (msg("report.generator"), info.generator),
            (msg("report.records"), format_number(total, msg.locale)),
        ]
        for key, value in facts:
            self._table_row(key, value)
        notes = window_sentences(msg, info)
        redacted = sum(info.stats.redacted.values())
        if redacted:
            notes.append(msg("readme.redacted", count=format_number(redacted, msg.locale)))
        if notes:
            self.y += 4
            for note in notes:
                self._lines(note, self.body)
        if info.controller:
            self.y += 6
            self._lines(msg("report.controller"), self.heading)
            self.y += 2
            for key, value in controller_lines(msg, info.controller):
                self._table_row(key, value)
        self.y += 8
        self._ensure(self.heading.size_mm * _LINE_GAP * 3)
        self._lines(msg("report.contents"), self.heading)
        self.y += 2
        if not sections:
            self._lines(msg("report.no_categories"), self.body)
        line_height = self.body.size_mm * _LINE_GAP
        count_x = _RIGHT - 40
        for (category, spool), link in zip(sections, links, strict=True):
            title = msg.category_title(category, info.about.get(category))
            names = self.body.wrap(title, count_x - _LEFT - 4, count_x - _LEFT - 4)
            self._ensure(line_height * len(names) + 1)
            top = self.y
            count = records_text(msg, spool.count)
            for name in names:
                self._text(_LEFT, self.y + 0.5, name, self.body)
                self.y += line_height
            self._text(_RIGHT - self.body.width(count), top + 0.5, count, self.body)
            self.y += 1
            # The chapter's page is not known yet: point the link here for now;
            # set_link() later updates the same destination object in place.
            self.pdf.set_link(link, page=self.pdf.page_no())
            self.pdf.link(_LEFT, top, _WIDTH, self.y - top, link)
            self._rule()
        self.y += 8
        self._lines(msg("report.notes", replacement=REPLACEMENT), self.small, gray=True)

    def _chapter_for(self, category: str, spool: RecordSpool, link: int) -> None:
        msg = self.msg
        about = self.info.about.get(category) or {}
        title = msg.category_title(category, about)
        self._chapter = self.cleaner.clean_line(" ".join(title.split()))
        self._new_page()
        pdf = self.pdf
        pdf.set_link(link, page=pdf.page_no(), y=self.y)
        pdf.set_y(self.y)
        pdf.start_section(self._chapter or msg("report.unnamed"))
        self._lines(title, self.heading)
        count = records_text(msg, spool.count)
        # The category's own name too, when the title differs: it names the
        # files of the machine-readable formats.
        self._lines(count if title == category else f"{category} · {count}", self.body, gray=True)
        self.y += 3
        fields = about_lines(msg, about)
        if fields:
            self._lines(msg("report.about"), self.key)
            for key, value in fields:
                self._table_row(key, value)
            self.y += 6
        if spool.count == 0:
            self._lines(msg("report.no_records"), self.body)
            return
        as_table = spool.count == 1 or category.casefold() in _TABLE_CATEGORIES
        for number, record in enumerate(spool, start=1):
            if as_table:
                self._table_record(number, spool.count, record)
            else:
                self._block_record(number, record)

    def _record_heading(self, number: int) -> None:
        height = self.small_bold.size_mm * _LINE_GAP
        # Keep the heading with at least the record's first line.
        self._ensure(height + self.body.size_mm * _LINE_GAP)
        self._text(_LEFT, self.y, f"#{number}", self.small_bold, gray=True)
        self.y += height

    def _block_record(self, number: int, record: dict[str, Any]) -> None:
        self._record_heading(number)
        body = self.body
        key_metrics = self.key
        height = body.size_mm * _LINE_GAP
        rest = _WIDTH - _INDENT
        pairs = display_pairs(record)
        if not pairs:
            self._lines(self.msg("report.empty_record"), body, gray=True)
        for key, value in pairs:
            label = key_metrics.cleaner.clean_line(key) + ": "
            label_width = key_metrics.width(label)
            if label_width > _WIDTH / 2:
                # A very long key gets its own lines; the value follows indented.
                self._lines(label, key_metrics)
                first = rest
                first_x = _LEFT + _INDENT
            else:
                self._ensure(height)
                self._text(_LEFT, self.y, label, key_metrics)
                first = _WIDTH - label_width
                first_x = _LEFT + label_width
            lines = body.wrap(value, first, rest)
            self._ensure(height)
            self._text(first_x, self.y, lines[0], body)
            self.y += height
            for line in lines[1:]:
                self._ensure(height)
                self._text(_LEFT + _INDENT, self.y, line, body)
                self.y += height
        self.y += _RECORD_GAP / 2
        self._rule()
        self.y += _RECORD_GAP / 2

    def _table_record(self, number: int, total: int, record: dict[str, Any]) -> None:
        if total > 1:
            self._record_heading(number)
        pairs = display_pairs(record)
        if not pairs:
            self._lines(self.msg("report.empty_record"), self.body, gray=True)
        for key, value in pairs:
            self._table_row(key, value)
        self.y += _RECORD_GAP

    def _table_row(self, key: str, value: str) -> None:
        height = self.body.size_mm * _LINE_GAP
        key_width = _KEY_COLUMN - 3
        value_width = _WIDTH - _KEY_COLUMN
        keys = self.key.wrap(key, key_width, key_width)
        values = self.body.wrap(value, value_width, value_width)
        self.y += 0.8
        for index in range(max(len(keys), len(values))):
            self._ensure(height)
            if index < len(keys):
                self._text(_LEFT, self.y, keys[index], self.key)
            if index < len(values):
                self._text(_LEFT + _KEY_COLUMN, self.y, values[index], self.body)
            self.y += height
        self.y += 0.8
        self._rule()


class _Face:
    """One embedded font at one size: its font operator and glyph encoder."""

    def __init__(self, font: Any, size_pt: float, encoder: _Encoder) -> None:
        self.font_op = f"/F{font.i} {size_pt:.2f} Tf"
        self.encode = encoder.encode


class _Encoder:
    """Turns cleaned text into the body of a PDF string for one embedded font.

    fpdf2 embeds only the glyphs its subset map has handed out, and the
    string must hold those subset codes (two bytes each), not code points.
    Codes come from ``subset.pick`` once per distinct character, exactly as
    fpdf2's own ``text()`` gets them; the map is then applied by the C
    charmap codec instead of a Python loop per character.
    """

    def __init__(self, font: Any) -> None:
        self._subset = font.subset
        self._codes: dict[int, bytes] = {}

    def encode(self, text: str) -> str:
        """Return cleaned ``text`` as the escaped body of a PDF literal string."""
        try:
            data = codecs.charmap_encode(text, "strict", self._codes)[0]
        except UnicodeEncodeError:
            for char in set(text):
                if ord(char) not in self._codes:
                    code = self._subset.pick(ord(char))
                    # Cleaning keeps only characters with a glyph, so pick() finds one.
                    assert code is not None, f"no glyph for U+{ord(char):04X}"
                    self._codes[ord(char)] = code.to_bytes(2, "big")
            data = codecs.charmap_encode(text, "strict", self._codes)[0]
        raw = data.decode("latin-1")
        if "\\" in raw or "(" in raw or ")" in raw or "\r" in raw:
            raw = raw.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            raw = raw.replace("\r", "\\r")
        return raw
