"""Fallback fonts for the PDF report: where to find glyphs DejaVu Sans lacks.

The report draws with the packaged DejaVu Sans (Latin, Greek, Cyrillic,
Hebrew, Arabic and many symbols). A character it has no glyph for is looked
up, in this order, in:

1. the font files of ``ExportConfig.pdf_fonts``, in the order given;
2. the Noto fonts of the ``pdf-fonts`` extra (Devanagari, Thai, Arabic,
   Tamil, Telugu, Khmer), when installed;
3. on Linux and other fontconfig systems, installed system fonts for
   Chinese, Japanese, Korean and emoji (``fc-list``), e.g. Debian's
   ``fonts-noto-cjk`` and ``fonts-symbola``.

Colour-only emoji fonts (Noto Color Emoji: bitmaps, no outlines) are
skipped: fpdf2 can only embed colour glyphs as a Type 3 font of at most 255
glyphs, which a long history exceeds. A monochrome emoji font (Symbola,
Noto Emoji) is used instead when one is installed or configured.

Candidates are only opened when a character needs them, so an export in a
script DejaVu covers never parses a 20 MB CJK collection.
"""

from __future__ import annotations

import functools
import importlib.util
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from importlib.resources import files
from pathlib import Path

import attrs

__all__ = ["PACKAGED_FONTS", "FontFile", "candidate_fonts", "font_cmap", "system_fonts"]

# Modules of the ``pdf-fonts`` extra, each shipping one family under files/.
PACKAGED_FONTS = (
    "fontpkg_noto_sans_devanagari",
    "fontpkg_noto_sans_thai",
    "fontpkg_noto_sans_arabic",
    "fontpkg_noto_sans_tamil",
    "fontpkg_noto_sans_telugu",
    "fontpkg_noto_sans_khmer",
)

# fontconfig patterns for scripts DejaVu lacks and no Python package ships in
# a reasonable size; the first font found for each is used.
_SYSTEM_QUERIES = (
    ":lang=zh-cn",
    ":lang=zh-tw",
    ":lang=ja",
    ":lang=ko",
    ":charset=1f600",  # emoji
)
_FC_TIMEOUT = 10.0
_FONT_SUFFIXES = (".ttf", ".otf", ".ttc", ".otc")


@attrs.frozen(kw_only=True)
class FontFile:
    """One font to try: a file and, for a collection (.ttc), the face index."""

    path: str
    index: int = 0


@functools.lru_cache(maxsize=64)
def font_cmap(font: FontFile) -> frozenset[int]:
    """The code points ``font`` has glyphs for (empty if it cannot be read); cached."""
    from fontTools.ttLib import TTFont, TTLibError

    try:
        with TTFont(font.path, fontNumber=font.index, lazy=True) as ttfont:
            return frozenset(ttfont.getBestCmap() or {})
    except (OSError, TTLibError, ValueError, KeyError):
        return frozenset()


def _packaged(module: str) -> list[FontFile]:
    if importlib.util.find_spec(module) is None:
        return []
    folder = files(module) / "files"
    if not folder.is_dir():
        return []
    fonts = sorted(
        str(item)
        for item in folder.iterdir()
        if item.name.lower().endswith(_FONT_SUFFIXES) and "italic" not in item.name.lower()
    )
    return [FontFile(path=path) for path in fonts[:1]]


@functools.cache
def system_fonts() -> tuple[FontFile, ...]:
    """Installed fonts for CJK and emoji, found with fontconfig (empty without it).

    Looked up once per process. Colour-only fonts are left out (see the
    module docstring).
    """
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return ()
    found: list[FontFile] = []
    for query in _SYSTEM_QUERIES:
        try:
            output = subprocess.run(  # noqa: S603 - a fixed argument list, no shell
                [fc_list, "--format", "%{file}|%{index}|%{color}|%{style}\n", query],
                capture_output=True,
                text=True,
                timeout=_FC_TIMEOUT,
                check=False,
            ).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        choices = []
        for line in output.splitlines():
            path, _, rest = line.partition("|")
            index, _, rest = rest.partition("|")
            color, _, style = rest.partition("|")
            if not path.lower().endswith(_FONT_SUFFIXES) or color.strip() == "True":
                continue
            if not Path(path).is_file():
                continue
            # Prefer regular sans faces: "Regular"/"Book" styles, sans before serif.
            rank = (
                "regular" not in style.lower() and "book" not in style.lower(),
                "serif" in Path(path).name.lower() and "sans" not in Path(path).name.lower(),
                "mono" in Path(path).name.lower(),
                path,
            )
            choices.append((rank, FontFile(path=path, index=int(index or 0))))
        if choices:
            best = min(choices, key=lambda choice: choice[0])[1]
            if best not in found:
                found.append(best)
    return tuple(found)


def candidate_fonts(configured: Sequence[str]) -> Iterator[FontFile]:
    """Yield the fallback fonts in the order they are tried (see the module docstring)."""
    for path in configured:
        yield FontFile(path=path)
    for module in PACKAGED_FONTS:
        yield from _packaged(module)
    yield from system_fonts()
