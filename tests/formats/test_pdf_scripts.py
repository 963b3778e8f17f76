"""The PDF report in every script: shaping, fallback fonts, extraction and rendering."""

from __future__ import annotations

import functools
import io
import re
import shutil
import subprocess
import unicodedata
import uuid
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
from fontTools.ttLib import TTFont, TTLibError
from pypdf import PdfReader

from reasonkit_export import ExportConfig
from reasonkit_export.exceptions import InvalidRequest
from reasonkit_export.formats._base import ExportInfo, Section
from reasonkit_export.formats._pdf import PdfWriter
from reasonkit_export.formats._pdf_fonts import FontFile, candidate_fonts, system_fonts
from reasonkit_export.formats._pdf_layout import REPLACEMENT

CORPUS = {
    "latin": "Zoë Ångström façade naïve",
    "greek": "Καλημέρα κόσμε",
    "cyrillic": "Привет, мир",
    "arabic": "مرحبا بالعالم",
    "hebrew": "שלום עולם",
    "devanagari": "नमस्ते दुनिया",
    "thai": "สวัสดีชาวโลก",
    "chinese_simplified": "你好，世界。简体中文",
    "chinese_traditional": "你好，世界。繁體中文",
    "japanese": "こんにちは世界、カタカナ",
    "korean": "안녕하세요 세계",
    "emoji": "😀 👍 🎉",
}

needs_poppler = pytest.mark.skipif(
    shutil.which("pdftotext") is None or shutil.which("pdftoppm") is None,
    reason="poppler-utils (pdftotext, pdftoppm) not installed",
)


@functools.cache
def _cmap(font: FontFile) -> frozenset[int]:
    try:
        with TTFont(font.path, fontNumber=font.index, lazy=True) as ttfont:
            return frozenset(ttfont.getBestCmap() or {})
    except (OSError, TTLibError):
        return frozenset()


def _available(text: str) -> bool:
    """Whether DejaVu Sans or a fallback font the writer would find has every letter of ``text``."""
    fonts = [FontFile(path=str(files("reasonkit_export") / "fonts" / "DejaVuSans.ttf"))]
    fonts += list(candidate_fonts(()))
    return all(
        any(ord(char) in _cmap(font) for font in fonts)
        for char in text
        if not char.isspace() and unicodedata.category(char)[0] != "P"
    )


def _info() -> ExportInfo:
    return ExportInfo(
        export_id=uuid.uuid4(),
        user_id="user-42",
        generated_at=datetime(2025, 6, 1, 9, 30, tzinfo=UTC),
        format="pdf",
        categories=("scripts",),
        generator="tests",
    )


@pytest.fixture(scope="module")
def corpus_pdf(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """The corpus rendered once: one record, one field per script."""
    path = tmp_path_factory.mktemp("scripts") / "scripts.pdf"
    with path.open("wb") as sink:
        result = PdfWriter().write(_info(), [Section(category="scripts", records=[CORPUS])], sink)
    return path, result


def _plain(text: str) -> str:
    """Text without whitespace, bidi embedding marks and the NULs pypdf puts before CID codes."""
    return re.sub(r"[\s\u202a-\u202e\u200e\u200f\x00-\x1f]", "", text)


@needs_poppler
@pytest.mark.parametrize("script", sorted(CORPUS))
def test_each_script_is_extractable_when_its_font_is_available(
    corpus_pdf: tuple[Path, Any], script: str
) -> None:
    """pdftotext and pypdf find each script's text, not U+FFFD, whenever a font covers it."""
    if not _available(CORPUS[script]):
        pytest.skip(f"no installed font covers {script}")
    path, _ = corpus_pdf
    poppler = subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert _plain(CORPUS[script]) in _plain(poppler)
    pypdf_text = "".join(page.extract_text() for page in PdfReader(path).pages)
    letters = [char for char in CORPUS[script] if unicodedata.category(char)[0] == "L"]
    assert all(char in pypdf_text for char in letters)


def test_nothing_is_replaced_when_every_script_has_a_font(corpus_pdf: tuple[Path, Any]) -> None:
    """With fonts for every script, the manifest counts no replaced characters."""
    _, result = corpus_pdf
    if not all(_available(text) for text in CORPUS.values()):
        pytest.skip("not every script has an installed font")
    assert result.replaced_characters == 0
    assert result.warnings == ()


@needs_poppler
def test_corpus_pages_render(corpus_pdf: tuple[Path, Any], tmp_path: Path) -> None:
    """pdftoppm renders every page of the corpus report to a non-blank image."""
    path, result = corpus_pdf
    subprocess.run(
        ["pdftoppm", "-r", "40", "-png", str(path), str(tmp_path / "page")],
        check=True,
        capture_output=True,
    )
    images = sorted(tmp_path.glob("page-*.png"))
    assert len(images) == result.pages
    assert all(image.stat().st_size > 1000 for image in images)


def test_arabic_is_joined_and_right_to_left() -> None:
    """Arabic is shaped (contextual forms, not the isolated letters) and drawn right-aligned."""
    sink = io.BytesIO()
    PdfWriter(system_fonts=False).write(
        _info(), [Section(category="scripts", records=[{"arabic": CORPUS["arabic"]}])], sink
    )
    reader = PdfReader(io.BytesIO(sink.getvalue()))
    page = reader.pages[1]
    positions: list[float] = []

    def visit(text: str, cm: Any, tm: Any, font: Any, size: Any) -> None:
        if any("\u0600" <= char <= "\u06ff" for char in text):
            positions.append(tm[4])

    page.extract_text(visitor_text=visit)
    assert positions
    # Right-aligned: the Arabic run starts in the right half of the value column.
    assert min(positions) > 105 * 72 / 25.4
    # Shaping picks the joined glyph forms (initial, medial, final: DejaVu's
    # uniFExx glyphs), never only the isolated letters (uni06xx).
    resources: Any = page["/Resources"]
    fonts: Any = resources["/Font"]
    names: list[str] = []
    for font in fonts.values():
        descendant = font.get_object()["/DescendantFonts"][0].get_object()
        data = descendant["/FontDescriptor"].get_object()["/FontFile2"].get_object().get_data()
        with TTFont(io.BytesIO(data)) as ttfont:
            names += ttfont.getGlyphOrder()
    assert any(name.startswith("uniFE") for name in names)


def test_hebrew_is_right_to_left_in_visual_order() -> None:
    """Hebrew comes out in reading order (pdftotext/pypdf logical text) and right-aligned."""
    sink = io.BytesIO()
    PdfWriter(system_fonts=False).write(
        _info(), [Section(category="scripts", records=[{"hebrew": CORPUS["hebrew"]}])], sink
    )
    text = PdfReader(io.BytesIO(sink.getvalue())).pages[1].extract_text()
    words = CORPUS["hebrew"].split()
    # The content stream draws the words right to left: the last word is drawn first.
    assert all(word in text or word[::-1] in text for word in words)


def test_configured_font_is_tried_first(tmp_path: Path) -> None:
    """ExportConfig.pdf_fonts reaches the writer and its fonts come before the others."""
    dejavu = str(files("reasonkit_export") / "fonts" / "DejaVuSans.ttf")
    config = ExportConfig(storage_backend="memory", pdf_fonts=[dejavu])
    assert config.pdf_fonts == (dejavu,)
    assert next(iter(candidate_fonts(config.pdf_fonts))) == FontFile(path=dejavu)


def test_missing_or_wrong_font_file_is_a_clear_error(tmp_path: Path) -> None:
    """pdf_fonts naming no file, or a file that is not a font, is refused at configuration."""
    with pytest.raises(InvalidRequest, match="no font file"):
        ExportConfig(storage_backend="memory", pdf_fonts=[str(tmp_path / "missing.ttf")])
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(InvalidRequest, match="not a TrueType"):
        ExportConfig(storage_backend="memory", pdf_fonts=[str(text)])


def test_system_fonts_skip_colour_only_emoji() -> None:
    """fontconfig discovery never picks a colour bitmap emoji font (fpdf2 caps those at 255)."""
    assert all("ColorEmoji" not in Path(font.path).name for font in system_fonts())


def test_unknown_characters_still_replaced_with_fallbacks() -> None:
    """A private-use character no font has is still shown as U+FFFD and counted."""
    sink = io.BytesIO()
    result = PdfWriter().write(
        _info(), [Section(category="scripts", records=[{"x": "a\U000f0000b नमस्ते"}])], sink
    )
    assert result.replaced_characters == 1
    text = PdfReader(io.BytesIO(sink.getvalue())).pages[1].extract_text()
    assert f"a{REPLACEMENT}b" in text
