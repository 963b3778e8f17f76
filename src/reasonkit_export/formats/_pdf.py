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
``key: value`` lines. Every record appears, every value in full: long text
wraps, nothing is cut off, and a record that fits on one page is never split
across two.

Record content is plain text. It is never parsed as markup, never followed
as a link and never loaded as a file or image.

Scripts: text is drawn with the packaged DejaVu Sans; characters it lacks
come from fallback fonts (:mod:`reasonkit_export.formats._pdf_fonts`:
``ExportConfig.pdf_fonts``, the ``pdf-fonts`` extra, installed system
fonts). Lines in scripts that need shaping (Arabic, Hebrew, the Indic
scripts, Thai, ...) or a fallback font are laid out by fpdf2 with HarfBuzz
(``set_text_shaping``), so Arabic is joined and right-to-left, Devanagari
and Thai are shaped; such paragraphs are right-aligned when they start
right-to-left. Characters no font has a glyph for, and control characters,
are shown as U+FFFD and counted (see
:mod:`reasonkit_export.formats._pdf_layout`); the count is in
:attr:`PdfWriteResult.replaced_characters` and in the warnings.

Memory: records are spooled to disk first (the cover needs the counts
before any record is drawn); pages are rendered by fpdf2 one at a time and
each finished page is written out at once by
:class:`~reasonkit_export.formats._pdf_file.PdfFile`, so memory stays flat
whatever the number of pages. "Page N of M" footers draw M from a form
XObject written at the end.

Speed comes from laying text out here rather than in fpdf2 for text that
needs no shaping: lines are measured and wrapped with
:class:`~reasonkit_export.formats._pdf_layout.TextMetrics` and written as PDF
text operators, one text object per stretch of a page, with glyphs
registered in fpdf2's font subset as fpdf2's ``text()`` does.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from importlib.resources import as_file, files
from typing import Any, BinaryIO

import attrs

from reasonkit_export._i18n import messages
from reasonkit_export._present import Presenter
from reasonkit_export.exceptions import ProcessingError
from reasonkit_export.formats._base import (
    ArtifactPlan,
    ExportInfo,
    Section,
    WriteResult,
    wait_for_child,
)
from reasonkit_export.formats._pdf_file import Bookmark, Link, PdfFile
from reasonkit_export.formats._pdf_fonts import FontFile, candidate_fonts, font_cmap
from reasonkit_export.formats._pdf_layout import (
    REPLACEMENT,
    TextCleaner,
    TextMetrics,
    record_fields,
    undrawable_pattern,
)
from reasonkit_export.formats._spool import RecordSpool, SpoolFile
from reasonkit_export.formats._text import (
    about_lines,
    controller_lines,
    format_number,
    records_text,
    window_sentences,
)

__all__ = ["BackgroundReport", "PdfWriteResult", "PdfWriter", "RenderProgress"]

RenderProgress = Callable[[int, int], None]
"""Called as ``(records rendered, records in the report)`` while a report renders.

It may raise (a cancelled job) to stop rendering; nothing is left behind.
"""

_FAMILY = "DejaVu"
_FONT_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}
_TABLE_CATEGORIES = frozenset({"profile"})
_PROGRESS_EVERY = 256  # records between progress calls

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
_TOTAL_FORM = "Tot"
_PLACEHOLDER = "\ue000"
_INDEX = re.compile(r"\[\d+\]")
_INDEX_NUMBER = re.compile(r"\[(\d+)\]")
_LABEL_CACHE = 4096

# Scripts that need shaping or bidi reordering: Hebrew, Arabic, Syriac,
# Thaana, N'Ko, Samaritan, Mandaic, the Indic scripts, Sinhala, Thai, Lao,
# Tibetan, Myanmar, Khmer, Mongolian, presentation forms, and the bidi and
# joiner controls.
_COMPLEX = (
    "\u0590-\u08ff\u0900-\u0dff\u0e00-\u0fff\u1000-\u109f\u1780-\u18af"
    "\ua8e0-\ua8ff\ua9e0-\ua9ff\uaa60-\uaa7f\ufb1d-\ufdff\ufe70-\ufeff"
    "\u200c-\u200f\u202a-\u202e\u2066-\u2069"
)
_RTL_STRONG = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff]")
_LTR_STRONG = re.compile(r"[^\W\d_\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff]")


@attrs.frozen(kw_only=True)
class PdfWriteResult(WriteResult):
    """What :class:`PdfWriter` reports: a :class:`WriteResult` plus PDF details.

    Attributes:
        replaced_characters: characters shown as U+FFFD because no font has
            a glyph for them or they are control characters.
        pages: pages in the report.
        summary: whether the report shows only the first records of each
            category (see :class:`PdfWriter`).
    """

    replaced_characters: int = 0
    pages: int = 0
    summary: bool = False


class PdfWriter:
    """Writes an export as a readable PDF report (see the module docstring).

    Args:
        fonts: extra font files tried in order for characters DejaVu Sans
            lacks, before the ``pdf-fonts`` extra and the system fonts.
        progress: called while pages render (see :data:`RenderProgress`).
        summary_records: when set, each chapter shows only its first
            ``summary_records`` records and says where the rest are
            (the ZIP's summary report).
        system_fonts: look for installed system fonts (fontconfig).
        size_limit: the export's size cap in bytes (None: none): it bounds
            the spooled records, and a record larger than it is refused
            before anything is drawn (see :mod:`reasonkit_export.formats._spool`).
    """

    def __init__(
        self,
        *,
        fonts: Sequence[str] = (),
        progress: RenderProgress | None = None,
        summary_records: int | None = None,
        system_fonts: bool = True,
        size_limit: int | None = None,
    ) -> None:
        self.size_limit = size_limit
        self.fonts = tuple(fonts)
        self.progress = progress
        self.summary_records = summary_records
        self.system_fonts = system_fonts

    def plan(self, info: ExportInfo) -> ArtifactPlan:
        """A single ``.pdf``; the PDF compresses its own streams, so no gzip."""
        return ArtifactPlan(extension="pdf", media_type="application/pdf", gzip_allowed=False)

    def write(
        self, info: ExportInfo, sections: Iterable[Section], sink: BinaryIO
    ) -> PdfWriteResult:
        """Spool every section, then render the report page by page into ``sink``."""
        with ExitStack() as stack:
            spooled: list[tuple[str, RecordSpool]] = []
            # One temporary file for every category's spool: open files stay few.
            shared: SpoolFile | None = None
            for section in sections:
                if isinstance(section.records, RecordSpool):
                    # Already on disk (the ZIP writer's spool): no second copy.
                    spooled.append((section.category, section.records))
                    continue
                if shared is None:
                    shared = stack.enter_context(SpoolFile(cap=self.size_limit))
                spool = stack.enter_context(RecordSpool(shared, category=section.category))
                spool.extend(section.records)
                spool.seal()
                spooled.append((section.category, spool))
            report = self._open_report(info, sink, stack)
            return self._finish_report(report, spooled)

    def _open_report(self, info: ExportInfo, sink: BinaryIO, stack: ExitStack) -> _Report:
        """Start a report into ``sink``: import fpdf2, parse the fonts (closed with ``stack``)."""
        candidates = (
            candidate_fonts(self.fonts)
            if self.system_fonts
            else iter([FontFile(path=path) for path in self.fonts])
        )
        report = _Report(
            info,
            stack.enter_context(_font_paths()),
            PdfFile(sink, width=_PAGE_W * _PT_PER_MM, height=_PAGE_H * _PT_PER_MM),
            fallbacks=candidates,
            progress=self.progress,
            summary_records=self.summary_records,
        )
        stack.callback(report.close)
        return report

    @staticmethod
    def _finish_report(report: _Report, spooled: list[tuple[str, RecordSpool]]) -> PdfWriteResult:
        """Render ``spooled`` into the started ``report``, finish it and say what it holds."""
        report.render(spooled)
        report.finish()
        counts = {category: spool.count for category, spool in spooled}
        replaced = report.cleaner.replaced_count
        warnings: tuple[str, ...] = ()
        if replaced:
            noun = "character" if replaced == 1 else "characters"
            warnings = (
                (
                    f"report.pdf: {replaced} {noun} not in any available font"
                    f" (or control characters) shown as {REPLACEMENT}"
                ),
            )
        return PdfWriteResult(
            warnings=warnings,
            record_counts=counts,
            replaced_characters=replaced,
            pages=report.pages,
            summary=report.summarised,
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


class _Fallbacks:
    """Fallback fonts, opened in order only when a character needs one.

    A candidate's character map is read first (cheaply, and once per process:
    :func:`~reasonkit_export.formats._pdf_fonts.font_cmap`); fpdf2 loads the
    font only when it has a character the report needs.
    """

    def __init__(self, pdf: Any, candidates: Iterator[FontFile]) -> None:
        self._pdf = pdf
        self._candidates = candidates
        self._checked: list[tuple[FontFile, frozenset[int]]] = []
        self._loaded: dict[FontFile, Any] = {}
        self.fonts: list[Any] = []
        self._families: list[str] = []
        self._owner: dict[int, Any] = {}

    def font_for(self, code: int) -> Any | None:
        """The first fallback font with a glyph for ``code`` (opening it if needed)."""
        if code in self._owner:
            return self._owner[code]
        found = None
        for candidate, cmap in self._known():
            if code in cmap:
                found = self._open(candidate)
                if found is not None:
                    break
        self._owner[code] = found
        return found

    def _known(self) -> Iterator[tuple[FontFile, frozenset[int]]]:
        yield from self._checked
        for candidate in self._candidates:
            entry = (candidate, font_cmap(candidate))
            self._checked.append(entry)
            yield entry

    def _open(self, candidate: FontFile) -> Any | None:
        if candidate in self._loaded:
            return self._loaded[candidate]
        family = f"fallback{len(self._loaded)}"
        try:
            self._pdf.add_font(family, "", candidate.path, collection_font_number=candidate.index)
        except Exception:  # noqa: BLE001 - an unreadable font is skipped, as a viewer would
            self._loaded[candidate] = None
            return None
        font = self._pdf.fonts[family]
        self._loaded[candidate] = font
        self.fonts.append(font)
        self._families.append(family)
        self._pdf.set_fallback_fonts(self._families, exact_match=False)
        return font


class _Advances(Mapping[int, float]):
    """Glyph advances of the main font, then of the fallback fonts."""

    def __init__(self, main: Any, fallbacks: _Fallbacks) -> None:
        self._main = main
        self._fallbacks = fallbacks

    def __getitem__(self, code: int) -> float:
        if code in self._main.cmap:
            return float(self._main.cw[code])
        font = self._fallbacks.font_for(code)
        return float(font.cw[code] if font is not None else self._main.cw[code])

    def __iter__(self) -> Iterator[int]:
        return iter(self._main.cmap)

    def __len__(self) -> int:
        return len(self._main.cmap)


class _Report:
    """One report being rendered: the fpdf2 renderer, the output file and the cursor."""

    def __init__(
        self,
        info: ExportInfo,
        font_paths: dict[str, str],
        out: PdfFile,
        *,
        fallbacks: Iterator[FontFile],
        progress: RenderProgress | None,
        summary_records: int | None,
    ) -> None:
        from fpdf import FPDF

        self.info = info
        self.msg = messages(info.locale)
        # Titles, field labels and values as the HTML view shows them: the
        # export's locale and time zone, the sources' descriptions.
        self.present = Presenter.for_export(
            locale=info.locale, timezone=info.timezone, descriptions=info.descriptions
        )
        self.out = out
        self._labels: dict[tuple[str, str], str] = {}
        self._progress = progress
        self._summary_records = summary_records
        self.summarised = False
        # Typed as Any: fpdf2's own annotations are partial (fonts are a union
        # of core and TrueType fonts); this module only uses TrueType fonts.
        pdf: Any = FPDF(orientation="portrait", unit="mm", format="A4")
        pdf.set_auto_page_break(auto=False)
        pdf.set_margins(_LEFT, _TOP, _PAGE_W - _RIGHT)
        # No total-pages alias: older fpdf2 releases substitute it anywhere in a
        # page, record text included. Footers draw the total from a form XObject.
        pdf.alias_nb_pages(None)
        for style, path in font_paths.items():
            pdf.add_font(_FAMILY, style, path)
        fonts: dict[str, Any] = {
            style: pdf.fonts[f"{_FAMILY.lower()}{style}"] for style in _FONT_FILES
        }
        self._fallbacks = _Fallbacks(pdf, fallbacks)
        common = set(fonts[""].cmap).intersection(fonts["B"].cmap)
        self.cleaner = TextCleaner(common, fallback=self._has_fallback)
        advances = {style: _Advances(font, self._fallbacks) for style, font in fonts.items()}
        self.body = TextMetrics(self.cleaner, advances[""], _BODY_PT)
        self.key = TextMetrics(self.cleaner, advances["B"], _BODY_PT)
        self.small = TextMetrics(self.cleaner, advances[""], _SMALL_PT)
        self.small_bold = TextMetrics(self.cleaner, advances["B"], _SMALL_PT)
        self.heading = TextMetrics(self.cleaner, advances["B"], _HEADING_PT)
        self.title = TextMetrics(self.cleaner, advances["B"], _TITLE_PT)
        self._fonts = fonts
        self._styles = {
            id(self.body): "",
            id(self.key): "B",
            id(self.small): "",
            id(self.small_bold): "B",
            id(self.heading): "B",
            id(self.title): "B",
        }
        encoders = {style: _Encoder(font) for style, font in fonts.items()}
        self._encoders = encoders
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
        # A line takes fpdf2's shaping path when it holds a character of a
        # script that needs shaping; one with characters DejaVu lacks is drawn
        # in runs of fallback fonts.
        self._common = common
        self._shaping = re.compile(f"[{_COMPLEX}]")
        self._foreign = undrawable_pattern(common)
        self._fallback_faces: dict[tuple[int, float], _Face] = {}
        self._fallback_encoders: dict[int, _Encoder] = {}
        self._shaping_on = False
        self.pdf = pdf
        self.y = _TOP
        self._chapter = ""
        # Text operators of the current page not yet handed to fpdf2, and the
        # font operator last emitted among them.
        self._ops: list[str] = []
        self._font_op = ""
        self._links: list[Link] = []
        self._bookmarks: list[Bookmark] = []
        self._destinations: dict[str, tuple[int, float]] = {}
        self._rendered = 0
        self._total = 0

    @property
    def pages(self) -> int:
        return self.out.pages

    def _has_fallback(self, char: str) -> bool:
        return self._fallbacks.font_for(ord(char)) is not None

    # -- primitives -------------------------------------------------------

    def _text(
        self,
        x: float,
        top: float,
        text: str,
        metrics: TextMetrics,
        *,
        gray: bool = False,
        width: float | None = None,
    ) -> None:
        """Draw one cleaned, already wrapped line with its top edge at ``top`` (mm).

        ``width`` is the room the line was wrapped to: a right-to-left line
        is right-aligned in it.
        """
        if not text:
            return
        if not text.isascii():
            if self._shaping.search(text) is not None:
                self._shaped(x, top, text, metrics, gray=gray, width=width)
                return
            if self._foreign.search(text) is not None:
                self._runs(x, top, text, metrics, gray=gray)
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

    def _runs(self, x: float, top: float, text: str, metrics: TextMetrics, *, gray: bool) -> None:
        """Draw a line needing no shaping in runs, each in the font that has its glyphs.

        CJK, emoji and symbols from fallback fonts are placed here, glyph by
        glyph advance, without fpdf2's (much slower) fragment machinery.
        """
        common = self._common
        fallbacks = self._fallbacks
        baseline = (_PAGE_H - top - metrics.size_mm) * _PT_PER_MM
        start = 0
        while start < len(text):
            font = None if ord(text[start]) in common else fallbacks.font_for(ord(text[start]))
            end = start + 1
            while end < len(text):
                code = ord(text[end])
                owner = None if code in common else fallbacks.font_for(code)
                if owner is not font:
                    break
                end += 1
            run = text[start:end]
            if font is None:
                face = self._faces[id(metrics)]
            else:
                face = self._fallback_face(font, metrics.size_pt)
            ops = self._ops
            if self._font_op != face.font_op:
                ops.append(face.font_op)
                self._font_op = face.font_op
            if gray:
                ops.append(_GRAY_OP)
            ops.append(f"1 0 0 1 {x * _PT_PER_MM:.2f} {baseline:.2f} Tm ({face.encode(run)}) Tj")
            if gray:
                ops.append(_BLACK_OP)
            x += metrics.width(run)
            start = end

    def _fallback_face(self, font: Any, size_pt: float) -> _Face:
        key = (font.i, size_pt)
        face = self._fallback_faces.get(key)
        if face is None:
            encoder = self._fallback_encoders.get(font.i)
            if encoder is None:
                encoder = self._fallback_encoders[font.i] = _Encoder(font)
            face = self._fallback_faces[key] = _Face(font, size_pt, encoder)
        return face

    def _shaped(
        self,
        x: float,
        top: float,
        text: str,
        metrics: TextMetrics,
        *,
        gray: bool,
        width: float | None,
    ) -> None:
        """Draw a line through fpdf2: HarfBuzz shaping, bidi order, fallback fonts."""
        self._flush()
        pdf = self.pdf
        if not self._shaping_on:
            pdf.set_text_shaping(True)
            self._shaping_on = True
        pdf.set_font(_FAMILY, self._styles[id(metrics)], metrics.size_pt)
        # fpdf2 skips the font operator when it believes the font is already
        # selected, but the fast path's text objects may have changed it since.
        pdf._out(f"BT {self._faces[id(metrics)].font_op} ET")
        pdf.set_text_color(_MUTED_GRAY if gray else 0)
        room = width if width is not None else _RIGHT - x
        align = "L"
        rtl = _RTL_STRONG.search(text)
        if rtl is not None:
            ltr = _LTR_STRONG.search(text)
            if ltr is None or rtl.start() < ltr.start():
                align = "R"
        # fpdf2 puts the baseline of a cell of height h at about top + h/2 +
        # 0.3 * size; this height matches the fast path's baseline (top + size).
        pdf.set_xy(x, top)
        pdf.cell(w=room, h=metrics.size_mm * 1.4, text=text, align=align)

    def _flush(self) -> None:
        """Hand the buffered text of the current page to fpdf2 as one text object."""
        if self._ops:
            # fpdf2 has no public call for raw content; _out() appends to the
            # current page's content stream.
            self.pdf._out("BT " + " ".join(self._ops) + " ET")
            self._ops.clear()
            self._font_op = ""

    def _new_page(self, *, cover: bool = False) -> None:
        pdf = self.pdf
        previous = pdf.page
        if previous:
            self._draw_footer()
            self._flush()
        links, self._links = self._links, []
        pdf.add_page()
        if previous:
            self._write_page(previous, links)
        # The page's own graphics state: fpdf2 sets the line width per page.
        pdf.set_draw_color(_RULE_GRAY)
        pdf.set_line_width(0.2)
        if not cover:
            self._draw_header()
        self.y = _TOP

    def _write_page(self, number: int, links: list[Link]) -> None:
        """Move a finished page out of fpdf2 into the file: its memory is freed."""
        page = self.pdf.pages.pop(number)
        self.out.add_page(bytes(page.contents), links)
        # fpdf2 remembers which resources each page used, for its own output;
        # every page here shares one resource dictionary, so forget them.
        catalog = getattr(self.pdf, "_resource_catalog", None)
        per_page = getattr(catalog, "resources_per_page", None)
        if per_page is not None:
            per_page.clear()

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
            self._text(
                _RIGHT - self.small.width(label), top, label, self.small, gray=True, width=room
            )
        self.pdf.line(_LEFT, _HEADER_BASELINE + 2, _RIGHT, _HEADER_BASELINE + 2)

    def _footer_parts(self) -> tuple[str, str]:
        """The footer's text before and after the total page count."""
        template = self.msg("report.page", page="{page}", pages=_PLACEHOLDER)
        before, _, after = template.partition(_PLACEHOLDER)
        return before, after

    def _draw_footer(self) -> None:
        """Write "Page N of M" on the current page; M is drawn by a form XObject."""
        before, _ = self._footer_parts()
        label = before.replace("{page}", format_number(self.pages + 1, self.msg.locale))
        small = self.small
        x = _LEFT + (_WIDTH - small.width(label)) / 2 - 4
        self._text(x, _FOOTER_Y, label, small, gray=True)
        self._flush()
        baseline = (_PAGE_H - _FOOTER_Y - small.size_mm) * _PT_PER_MM
        self.pdf._out(
            f"q 1 0 0 1 {(x + small.width(label)) * _PT_PER_MM:.2f} {baseline:.2f} cm"
            f" /{_TOTAL_FORM} Do Q"
        )

    # -- report -----------------------------------------------------------

    def render(self, sections: list[tuple[str, RecordSpool]]) -> None:
        """Render the cover and one chapter per spooled section."""
        limit = self._summary_records
        self._total = sum(
            spool.count if limit is None else min(spool.count, limit) for _, spool in sections
        )
        self._cover(sections)
        for index, (category, spool) in enumerate(sections):
            self._chapter_for(index, category, spool)

    def _tick(self) -> None:
        self._rendered += 1
        if self._progress is not None and not self._rendered % _PROGRESS_EVERY:
            self._progress(self._rendered, self._total)

    def finish(self) -> None:
        """Write the last page, the fonts, the total page count and the document's tail."""
        self._draw_footer()
        self._flush()
        links, self._links = self._links, []
        self._write_page(self.pdf.page, links)
        if self._progress is not None:
            self._progress(self._rendered, self._total)
        # The total page count, drawn by every footer.
        small = self.small
        _, after = self._footer_parts()
        total_text = small.cleaner.clean_line(format_number(self.pages, self.msg.locale) + after)
        face = self._faces[id(small)]
        form = self.out.reserve()
        content = f"BT {face.font_op} {_GRAY_OP} 0 0 Td ({face.encode(total_text)}) Tj ET"
        width = (small.width(total_text) + 2) * _PT_PER_MM
        self.out.write_stream(
            form,
            content.encode("latin-1"),
            b"/Type /XObject /Subtype /Form /BBox [0 -5 %.2f %.2f] /Resources %d 0 R"
            % (width, small.size_pt * 1.2, self.out.resources),
        )
        fonts = self._embed_fonts()
        font_entries = b" ".join(b"/%b %d 0 R" % (name.encode(), n) for name, n in fonts.items())
        self.out.finish(
            resources=b"<< /ProcSet [/PDF /Text] /Font << %b >> /XObject << /%b %d 0 R >> >>"
            % (font_entries, _TOTAL_FORM.encode(), form),
            bookmarks=self._bookmarks,
            destinations=self._destinations,
            title=self.msg("report.title"),
            creator=self.info.generator,
            created=_utc(self.info.generated_at),
            lang=self.msg.locale,
        )

    def _embed_fonts(self) -> dict[str, int]:
        """Have fpdf2 subset and serialise every font used, then copy them into the file."""
        from fpdf import FPDF

        scratch: Any = FPDF(unit="mm", format="A4")
        scratch.set_creation_date(_utc(self.info.generated_at))
        for key, font in self.pdf.fonts.items():
            scratch.fonts[key] = font
        scratch.add_page()
        names = []
        for key, font in self.pdf.fonts.items():
            style = key[len(key.rstrip("BI")) :]
            # An empty text() only selects the font, which makes it a page resource.
            scratch.set_font(key[: len(key) - len(style)], style, _BODY_PT)
            scratch.text(0, 0, "")
            names.append(f"F{font.i}")
        document = bytes(scratch.output())
        return self.out.copy_fonts(document, names)

    def close(self) -> None:
        """Release the renderer and close the font files fontTools reads lazily."""
        for font in self._fonts.values():
            font.ttfont.close()
        for font in self._fallbacks.fonts:
            font.ttfont.close()
        self._fonts = {}
        self.pdf = None

    def _lines(self, text: str, metrics: TextMetrics, *, gray: bool = False) -> None:
        height = metrics.size_mm * _LINE_GAP
        for line in metrics.wrap(text, _WIDTH, _WIDTH):
            self._ensure(height)
            self._text(_LEFT, self.y, line, metrics, gray=gray, width=_WIDTH)
            self.y += height

    def _cover(self, sections: list[tuple[str, RecordSpool]]) -> None:
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
            (msg("report.generated"), self.present.timestamp(info.generated_at)),
            (msg("report.generator"), info.generator),
            (msg("report.records"), format_number(total, msg.locale)),
        ]
        for key, value in facts:
            self._table_row(key, value)
        notes = window_sentences(msg, info)
        redacted = sum(info.stats.redacted.values())
        if redacted:
            notes.append(msg("readme.redacted", count=format_number(redacted, msg.locale)))
        limit = self._summary_records
        if limit is not None and any(spool.count > limit for _, spool in sections):
            notes.append(msg("report.summary", count=format_number(limit, msg.locale)))
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
        for index, (category, spool) in enumerate(sections):
            title = self._title(category)
            names = self.body.wrap(title, count_x - _LEFT - 4, count_x - _LEFT - 4)
            self._ensure(line_height * len(names) + 1)
            top = self.y
            count = records_text(msg, spool.count)
            for name in names:
                self._text(_LEFT, self.y + 0.5, name, self.body, width=count_x - _LEFT - 4)
                self.y += line_height
            self._text(_RIGHT - self.body.width(count), top + 0.5, count, self.body)
            self.y += 1
            self._links.append(
                Link(
                    rect=(
                        _LEFT * _PT_PER_MM,
                        (_PAGE_H - self.y) * _PT_PER_MM,
                        _RIGHT * _PT_PER_MM,
                        (_PAGE_H - top) * _PT_PER_MM,
                    ),
                    destination=_destination(index),
                )
            )
            self._rule()
        self.y += 8
        self._lines(msg("report.notes", replacement=REPLACEMENT), self.small, gray=True)
        if self.info.html_index:  # inside a ZIP with the HTML view: point people to it
            self._lines(msg("report.start_html"), self.small, gray=True)

    def _chapter_for(self, index: int, category: str, spool: RecordSpool) -> None:
        msg = self.msg
        about = self.info.about.get(category) or {}
        title = self._title(category)
        self._chapter = self.cleaner.clean_line(" ".join(title.split()))
        self._new_page()
        place = (self.pages, (_PAGE_H - self.y + 4) * _PT_PER_MM)
        self._destinations[_destination(index)] = place
        self._bookmarks.append(
            Bookmark(title=self._chapter or msg("report.unnamed"), page=place[0], top=place[1])
        )
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
        limit = self._summary_records
        for number, record in enumerate(spool, start=1):
            if limit is not None and number > limit:
                self.summarised = True
                self.y += 2
                self._lines(
                    msg(
                        "report.summary_more",
                        count=format_number(spool.count - limit, msg.locale),
                    ),
                    self.body,
                    gray=True,
                )
                break
            if as_table:
                self._table_record(category, number, spool.count, record)
            else:
                self._block_record(category, number, record)
            self._tick()

    # -- records ----------------------------------------------------------

    def _place(self, rows: list[_Row]) -> None:
        """Draw rows; start a new page first if they fit on one page but not on this one."""
        height = sum(row.height for row in rows)
        if self.y + height > _BOTTOM and height <= _BOTTOM - _TOP:
            self._new_page()
        for row in rows:
            if row.cells:
                self._ensure(row.height)
            for x, text, metrics, gray, width in row.cells:
                self._text(x, self.y, text, metrics, gray=gray, width=width)
            if row.rule:
                self._rule()
            self.y += row.height

    def _pairs(self, category: str, record: dict[str, Any]) -> list[tuple[str, str]]:
        """The record's fields as (human label, formatted value), in record order."""
        present = self.present
        return [
            (self._label(category, path), present.value(value))
            for path, value in record_fields(record)
        ]

    def _label(self, category: str, path: str) -> str:
        """A field's label; a nested field the source did not label keeps its context.

        ``address.geo.lat`` reads "Address › Geo › Lat", ``items[1].name``
        "Items 2 › Name", unless the source's description labels the path.
        """
        label = self._labels.get((category, path))
        if label is not None:
            return label
        description = self.info.descriptions.get(category)
        plain = _INDEX.sub("", path)
        if ("." not in path and "[" not in path) or (
            description is not None and (path in description.fields or plain in description.fields)
        ):
            label = self.present.field_label(category, path)
        else:
            parts = []
            prefix = ""
            for segment in path.split("."):
                prefix = f"{prefix}.{segment}" if prefix else segment
                name = self.present.field_label(category, prefix)
                numbers = [str(int(index) + 1) for index in _INDEX_NUMBER.findall(segment)]
                parts.append(" ".join([name, *numbers]))
            label = " › ".join(parts)
        if len(self._labels) < _LABEL_CACHE:
            self._labels[(category, path)] = label
        return label

    def _title(self, category: str) -> str:
        """The category's title: the source's (description or Art. 15 block) or the catalogue's."""
        about = self.info.about.get(category)
        if category not in self.info.descriptions and about and about.get("title"):
            return self.msg.category_title(category, about)
        return self.present.category_title(category)

    def _block_record(self, category: str, number: int, record: dict[str, Any]) -> None:
        body = self.body
        key_metrics = self.key
        height = body.size_mm * _LINE_GAP
        rest = _WIDTH - _INDENT
        rows = [
            _Row(
                self.small_bold.size_mm * _LINE_GAP,
                [(_LEFT, f"#{number}", self.small_bold, True, _WIDTH)],
            )
        ]
        pairs = self._pairs(category, record)
        if not pairs:
            for line in body.wrap(self.msg("report.empty_record"), _WIDTH, _WIDTH):
                rows.append(_Row(height, [(_LEFT, line, body, True, _WIDTH)]))
        for key, value in pairs:
            label = key_metrics.cleaner.clean_line(key) + ": "
            label_width = key_metrics.width(label)
            first_cells: list[_Cell] = []
            if label_width > _WIDTH / 2:
                # A very long key gets its own lines; the value follows indented.
                for line in key_metrics.wrap(label, _WIDTH, _WIDTH):
                    rows.append(_Row(height, [(_LEFT, line, key_metrics, False, _WIDTH)]))
                first = rest
                first_x = _LEFT + _INDENT
            else:
                first_cells.append((_LEFT, label, key_metrics, False, label_width))
                first = _WIDTH - label_width
                first_x = _LEFT + label_width
            lines = body.wrap(value, first, rest)
            first_cells.append((first_x, lines[0], body, False, first))
            rows.append(_Row(height, first_cells))
            rows.extend(
                _Row(height, [(_LEFT + _INDENT, line, body, False, rest)]) for line in lines[1:]
            )
        rows.append(_Row(_RECORD_GAP / 2, []))
        rows.append(_Row(_RECORD_GAP / 2, [], rule=True))
        self._place(rows)

    def _table_record(self, category: str, number: int, total: int, record: dict[str, Any]) -> None:
        rows: list[_Row] = []
        if total > 1:
            rows.append(
                _Row(
                    self.small_bold.size_mm * _LINE_GAP,
                    [(_LEFT, f"#{number}", self.small_bold, True, _WIDTH)],
                )
            )
        pairs = self._pairs(category, record)
        height = self.body.size_mm * _LINE_GAP
        if not pairs:
            for line in self.body.wrap(self.msg("report.empty_record"), _WIDTH, _WIDTH):
                rows.append(_Row(height, [(_LEFT, line, self.body, True, _WIDTH)]))
        for key, value in pairs:
            rows.extend(self._table_rows(key, value))
        rows.append(_Row(_RECORD_GAP, []))
        self._place(rows)

    def _table_rows(self, key: str, value: str) -> list[_Row]:
        height = self.body.size_mm * _LINE_GAP
        key_width = _KEY_COLUMN - 3
        value_width = _WIDTH - _KEY_COLUMN
        keys = self.key.wrap(key, key_width, key_width)
        values = self.body.wrap(value, value_width, value_width)
        rows = [_Row(0.8, [])]
        for index in range(max(len(keys), len(values))):
            cells: list[_Cell] = []
            if index < len(keys):
                cells.append((_LEFT, keys[index], self.key, False, key_width))
            if index < len(values):
                cells.append((_LEFT + _KEY_COLUMN, values[index], self.body, False, value_width))
            rows.append(_Row(height, cells))
        rows += [_Row(0.8, []), _Row(0.0, [], rule=True)]
        return rows

    def _table_row(self, key: str, value: str) -> None:
        self._place(self._table_rows(key, value))


_Cell = tuple[float, str, TextMetrics, bool, float]
"""One line of text in a row: x, text, metrics, gray, the width it was wrapped to."""


@attrs.define
class _Row:
    """A stretch of a record: its height, the lines drawn at its top, a rule below."""

    height: float
    cells: list[_Cell]
    rule: bool = False


def _destination(index: int) -> str:
    return f"chapter-{index + 1:06d}"


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


class BackgroundReport:
    """Renders a summary report in a child process while the caller writes other members.

    A summary is small, but making any report has a fixed cost (importing
    fpdf2, parsing and subsetting fonts) of a second or more. A ZIP writer
    starts one here as soon as it knows the report will be a summary (while
    it is still spooling the records: the child imports fpdf2 and parses the
    fonts meanwhile), hands it the records the summary shows with
    :meth:`feed` once spooling is done, and copies the finished file in when
    it reaches the report's member, so that the cost runs on another core in
    parallel with spooling, ``data.json`` and the CSV tables. The child is
    ``python -m reasonkit_export.formats._pdf`` (a fresh interpreter: nothing
    of the caller's main module runs again), and gets only the records the
    summary shows, in a private temporary directory that :meth:`close`
    removes. Where the interpreter cannot be started (an embedded Python),
    the report is rendered in place instead.

    The summary draws with DejaVu Sans, the configured fonts and the
    ``pdf-fonts`` extra, not with system fonts: parsing and subsetting the
    CJK collection costs about 2 s and 100 MB per report, more than the rest
    of the archive. Characters only a system font has show as U+FFFD there
    (and are counted); the HTML view and the complete ``pdf`` export show them.

    Args:
        info: the export.
        summary_records: records per category in the summary.
        fonts: extra fallback font files.
    """

    def __init__(
        self,
        info: ExportInfo,
        *,
        summary_records: int,
        fonts: Sequence[str] = (),
    ) -> None:
        import os
        import pickle
        import subprocess
        import sys
        import tempfile
        from pathlib import Path

        self._info = info
        self._sections: list[tuple[str, RecordSpool]] = []
        self._summary_records = summary_records
        self._fonts = tuple(fonts)
        self._dir = tempfile.TemporaryDirectory(prefix="reasonkit-pdf-")
        self._folder = Path(self._dir.name)
        self._process: Any = None
        options = {"summary_records": summary_records, "fonts": self._fonts}
        with (self._folder / "job.pickle").open("wb") as handle:
            pickle.dump((info, options), handle)
        executable = sys.executable
        if executable and "python" in Path(executable).name.lower():
            try:
                self._process = subprocess.Popen(  # noqa: S603 - fixed arguments, no shell
                    [
                        executable,
                        "-m",
                        "reasonkit_export.formats._pdf",
                        str(self._folder),
                        str(os.getpid()),
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            except OSError:
                self._process = None

    def feed(self, sections: Sequence[tuple[str, RecordSpool]]) -> None:
        """Hand the child the spooled sections (it reads the records the summary shows)."""
        import json

        self._sections = list(sections)
        partial = self._folder / "records.part"
        with partial.open("wb") as handle:
            for category, spool in sections:
                handle.write(json.dumps({"category": category, "count": spool.count}).encode())
                handle.write(b"\n")
                for index, line in enumerate(spool.iter_encoded()):
                    if index > self._summary_records:
                        break
                    handle.write(line + b"\n")
        # Complete before the child sees it.
        partial.replace(self._folder / "records.jsonl")

    @property
    def in_child(self) -> bool:
        """Whether a child process renders the report (else :meth:`copy_to` renders
        it here, from the spools: they must still hold the records then)."""
        return self._process is not None

    def copy_to(
        self, sink: BinaryIO, *, heartbeat: Callable[[], None] | None = None
    ) -> PdfWriteResult:
        """Wait for the report, copy it into ``sink`` and return what the writer reported.

        ``heartbeat`` is called about every quarter second while the child
        still renders (progress; it may raise to stop waiting).
        """
        import json
        import shutil

        if self._process is None:
            return PdfWriter(
                fonts=self._fonts, summary_records=self._summary_records, system_fonts=False
            ).write(
                self._info,
                [Section(category=c, records=spool) for c, spool in self._sections],
                sink,
            )
        code = wait_for_child(self._process, heartbeat)
        result = self._folder / "result.json"
        if code != 0 or not result.exists():
            raise ProcessingError(f"the summary report could not be rendered (exit code {code})")
        reported = json.loads(result.read_text(encoding="utf-8"))
        with (self._folder / "report.pdf").open("rb") as report:
            shutil.copyfileobj(report, sink, 1024 * 1024)
        return PdfWriteResult(
            warnings=tuple(reported["warnings"]),
            record_counts=reported["record_counts"],
            replaced_characters=reported["replaced_characters"],
            pages=reported["pages"],
            summary=reported["summary"],
        )

    def close(self) -> None:
        """Stop the child if it still runs and remove its files."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._dir.cleanup()


_WAIT_POLL = 0.01


def _render_summary_folder(folder: str, parent: int) -> None:
    """The child process of :class:`BackgroundReport`: render ``folder``'s summary.

    The report is opened (fpdf2 imported, fonts parsed) before the records
    arrive, while the parent (process ``parent``) is still spooling them; if
    the parent is gone before they arrive, the child exits.
    """
    import json
    import os
    import pickle
    import time
    from pathlib import Path

    root = Path(folder)
    with (root / "job.pickle").open("rb") as handle:
        # Written by the parent into its own private temporary directory.
        info, options = pickle.load(handle)  # noqa: S301
    writer = PdfWriter(
        fonts=options["fonts"], summary_records=options["summary_records"], system_fonts=False
    )
    sections: list[tuple[str, RecordSpool]] = []
    with ExitStack() as stack:
        sink = stack.enter_context((root / "report.pdf").open("wb"))
        report = writer._open_report(info, sink, stack)
        records = root / "records.jsonl"
        while not records.exists():
            if os.getppid() != parent:
                raise SystemExit(3)  # the parent is gone: nobody will read the report
            time.sleep(_WAIT_POLL)
        with records.open("rb") as handle:
            spool: RecordSpool | None = None
            shared = stack.enter_context(SpoolFile())
            for line in handle:
                if line.startswith(b'{"category":'):
                    header = json.loads(line)
                    if spool is not None:
                        spool.seal()
                    spool = stack.enter_context(RecordSpool(shared))
                    sections.append((header["category"], spool))
                    # The spool holds only the records shown; the cover and the
                    # chapters state the category's real count.
                    spool.count = header["count"]
                    continue
                assert spool is not None
                spool.add(json.loads(line))
                spool.count -= 1
            if spool is not None:
                spool.seal()
        written = writer._finish_report(report, sections)
    (root / "result.json").write_text(
        json.dumps(
            {
                "warnings": list(written.warnings),
                "record_counts": dict(written.record_counts),
                "replaced_characters": written.replaced_characters,
                "pages": written.pages,
                "summary": written.summary,
            }
        ),
        encoding="utf-8",
    )


# Imports fpdf2 tries and a text-only report never uses (images, signatures):
# about half of the cost of importing fpdf2, paid by every summary's child.
_UNUSED_BY_TEXT = ("PIL", "numpy", "endesive", "cryptography.x509")


def _import_fpdf_for_text() -> None:
    """Import fpdf2 without the optional modules a text-only report never uses.

    Only in the summary's child process, which draws text alone. Should a
    release of fpdf2 need one of them to import at all, it is imported
    normally instead.
    """
    import sys
    import warnings

    blocked = [name for name in _UNUSED_BY_TEXT if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import fpdf
    except ImportError:
        for name in list(sys.modules):
            if name == "fpdf" or name.startswith("fpdf."):
                del sys.modules[name]
        for name in blocked:
            del sys.modules[name]
        import fpdf  # noqa: F401
    else:
        for name in blocked:
            del sys.modules[name]


if __name__ == "__main__":
    import os
    import sys

    _import_fpdf_for_text()
    _render_summary_folder(sys.argv[1], int(sys.argv[2]))
    # The report and its result are written and closed: skip the interpreter's
    # shutdown, which the exporting process would wait for.
    os._exit(0)
