"""Text measuring, cleaning and line wrapping for the PDF report.

fpdf2's ``multi_cell`` and ``table`` re-measure and re-parse every string
(fragments, markdown checks, text shaping hooks), which caps them at a few
hundred records per second. The report instead measures text from a glyph
advance table read once per font, wraps greedily on spaces itself, and hands
fpdf2 only finished lines. Widths are the sum of the glyphs' advances (of the
font that draws each character); lines in scripts that need shaping are drawn
by fpdf2 with HarfBuzz, whose shaped width is close to that sum.

Cleaning rules (what the reader sees instead of what the font cannot draw):

* Line breaks (``\\n``, ``\\r\\n``, ``\\r``, ``\\v``, ``\\f``, ``\\x1c``-``\\x1e``,
  ``\\x85``, U+2028, U+2029) start a new line, as :meth:`str.splitlines` does.
* A tab becomes four spaces.
* Every other control character (C0, DEL, C1) and every character without a
  glyph in the main fonts or a fallback font (private use, lone surrogates,
  scripts no installed font covers, ...) becomes U+FFFD (the font's
  replacement glyph), and is counted, so the manifest can say how many
  characters were not shown as written.
"""

from __future__ import annotations

import json
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Callable, Collection, Mapping
from itertools import accumulate
from typing import Any

__all__ = [
    "REPLACEMENT",
    "TextCleaner",
    "TextMetrics",
    "display_pairs",
    "display_value",
    "record_fields",
    "undrawable_pattern",
]

REPLACEMENT = "\ufffd"
_TAB = "    "
_PT_TO_MM = 25.4 / 72
# width() caches because every record repeats the same keys (labels); the cap
# bounds memory when records use a huge number of distinct keys.
_WORD_CACHE_LIMIT = 50_000
_EPSILON = 1e-6


class _CleanTable(dict[int, str]):
    """``str.translate`` table filled lazily: one decision per distinct character."""

    def __init__(self, cmap: Collection[int], fallback: Callable[[str], bool] | None) -> None:
        super().__init__()
        self._cmap = cmap
        self._fallback = fallback
        self.replaced: set[str] = set()

    def __missing__(self, code: int) -> str:
        char = chr(code)
        if char == "\t":
            result = _TAB
        elif unicodedata.category(char) == "Cc" or (
            code not in self._cmap
            and (self._fallback is None or 0xD800 <= code <= 0xDFFF or not self._fallback(char))
        ):
            result = REPLACEMENT
            self.replaced.add(char)
        else:
            result = char
        self[code] = result
        return result


class _WidthTable(dict[str, float]):
    """Character -> advance width in millimetres, filled lazily from the font."""

    def __init__(self, advances: Mapping[int, float], size_pt: float) -> None:
        super().__init__()
        self._advances = advances
        self._scale = size_pt * _PT_TO_MM / 1000

    def __missing__(self, char: str) -> float:
        width = self._advances[ord(char)] * self._scale
        self[char] = width
        return width


def undrawable_pattern(cmap: Collection[int]) -> re.Pattern[str]:
    """Compile a pattern matching any character that :class:`TextCleaner` must replace."""
    codes = sorted(code for code in cmap if unicodedata.category(chr(code)) != "Cc")
    ranges: list[str] = []
    index = 0
    while index < len(codes):
        end = index
        while end + 1 < len(codes) and codes[end + 1] == codes[end] + 1:
            end += 1
        first, last = re.escape(chr(codes[index])), re.escape(chr(codes[end]))
        ranges.append(first if index == end else f"{first}-{last}")
        index = end + 1
    # With nothing drawable the class would be empty (a syntax error), and
    # every character must be replaced: match anything.
    return re.compile(f"[^{''.join(ranges)}]" if ranges else "[\\s\\S]")


class TextCleaner:
    """Replaces what the fonts cannot draw, and counts the replacements.

    One cleaner serves every font of a report; it only keeps characters all
    of them have a glyph for, so a cleaned string can be drawn in any of them.

    Args:
        cmap: the code points every main font of the report has a glyph for.
        fallback: tells whether a fallback font can draw a character outside
            ``cmap``; such characters are kept.
    """

    def __init__(
        self, cmap: Collection[int], fallback: Callable[[str], bool] | None = None
    ) -> None:
        self.replaced_count = 0
        self._table = _CleanTable(cmap, fallback)
        self._ascii_ok = all(code in cmap for code in range(0x20, 0x7F))
        self._needs_cleaning = undrawable_pattern(cmap)

    def clean_line(self, text: str) -> str:
        """Return ``text`` (one line, no line breaks) with undrawable characters replaced."""
        # Fast paths first: almost all text needs no change, and both checks
        # run in C, unlike the per-character translation below.
        if self._ascii_ok and text.isascii() and text.isprintable():
            return text
        if self._needs_cleaning.search(text) is None:
            return text
        cleaned = text.translate(self._table)
        replaced = self._table.replaced
        if replaced and REPLACEMENT in cleaned:
            self.replaced_count += sum(text.count(char) for char in replaced.intersection(text))
        return cleaned

    def lines(self, text: str) -> list[str]:
        """Split ``text`` at line breaks and clean each line (at least one line)."""
        return [self.clean_line(line) for line in text.splitlines()] or [""]


class TextMetrics:
    """Measures and wraps text for one font at one size.

    Args:
        cleaner: cleans text before it is measured (shared by all fonts).
        advances: code point -> advance width in 1/1000 em (fpdf2's ``cw``).
        size_pt: the font size in points.
    """

    def __init__(self, cleaner: TextCleaner, advances: Mapping[int, float], size_pt: float):
        self.size_pt = size_pt
        self.size_mm = size_pt * _PT_TO_MM
        self.cleaner = cleaner
        self._widths = _WidthTable(advances, size_pt)
        self._words: dict[str, float] = {}

    def width(self, text: str) -> float:
        """Return the width of cleaned ``text`` in millimetres."""
        cached = self._words.get(text)
        if cached is None:
            cached = sum(map(self._widths.__getitem__, text))
            if len(self._words) >= _WORD_CACHE_LIMIT:
                self._words.clear()
            self._words[text] = cached
        return cached

    def truncate(self, text: str, width: float) -> str:
        """Return cleaned ``text``, shortened with an ellipsis if wider than ``width`` mm."""
        if self.width(text) <= width:
            return text
        room = width - self._widths["…"]
        used = 0.0
        for index, char in enumerate(text):
            used += self._widths[char]
            if used > room:
                return text[:index] + "…" if index else ""
        return text

    def wrap(self, text: str, first_width: float, width: float) -> list[str]:
        """Wrap ``text`` into lines: the first fits ``first_width`` mm, the rest ``width``.

        Lines break at spaces (the space at a break is dropped) and at the
        text's own line breaks; a word longer than a line is broken between
        characters. When the first word only fits a full-width line, the first
        line is left empty. Text is cleaned first (see the module docstring),
        so every character of the input is accounted for in the output.
        """
        out: list[str] = []
        for line in self.cleaner.lines(text):
            self._wrap_line(line, first_width if not out else width, width, out)
        return out

    def _wrap_line(self, line: str, avail: float, width: float, out: list[str]) -> None:
        # Prefix sums of the glyph widths (computed in C) let each output line
        # be found with one bisection and one rfind, instead of a Python loop
        # over every word.
        widths = self._widths
        offsets = list(accumulate(map(widths.__getitem__, line), initial=0.0))
        size = len(line)
        if offsets[-1] <= avail + _EPSILON:
            out.append(line)
            return
        start = 0
        while start < size:
            # The longest prefix of line[start:] that fits is line[start:end].
            end = bisect_right(offsets, offsets[start] + avail + _EPSILON) - 1
            if end >= size:
                out.append(line[start:])
                return
            space = line.rfind(" ", start, end + 1)
            if space > start:
                out.append(line[start:space])
                start = space + 1  # the space at a break is dropped
            elif avail < width and self._word_fits(line, start, offsets, width):
                # Only the (shorter) first line is too narrow for this word:
                # leave it empty rather than break a word that fits a full line.
                out.append("")
            else:
                # A word longer than a line: break between characters, at least
                # one per line so a line narrower than one glyph cannot loop.
                end = max(end, start + 1)
                out.append(line[start:end])
                start = end
            avail = width

    @staticmethod
    def _word_fits(line: str, start: int, offsets: list[float], width: float) -> bool:
        stop = line.find(" ", start + 1)
        stop = len(line) if stop == -1 else stop
        return offsets[stop] - offsets[start] <= width + _EPSILON


def display_value(value: Any) -> str:
    """Return a JSON scalar as a reader sees it (strings unquoted, ``null`` as is)."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def display_pairs(record: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Flatten one JSON record into ``(key, text)`` lines for the report.

    Nested objects become dotted keys (``address.city``); lists of scalars are
    shown as compact JSON (``["a", "b"]``) so their boundaries stay visible;
    lists holding objects or lists are indexed (``items[0].name``). Empty
    objects and lists show as ``{}`` and ``[]``.
    """
    pairs: list[tuple[str, str]] = []
    _flatten("", record, pairs)
    return pairs


def _flatten(prefix: str, value: Any, pairs: list[tuple[str, str]]) -> None:
    if isinstance(value, dict):
        if not value and prefix:
            pairs.append((prefix, "{}"))
        for key, item in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), item, pairs)
    elif isinstance(value, list):
        if all(not isinstance(item, dict | list) for item in value):
            pairs.append((prefix, display_value(value)))
        else:
            for index, item in enumerate(value):
                _flatten(f"{prefix}[{index}]", item, pairs)
    else:
        pairs.append((prefix, display_value(value)))


def record_fields(record: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """Flatten one JSON record into ``(path, value)`` for a presenter to label and format.

    Paths as in :func:`display_pairs` (``address.city``, ``items[0].name``);
    values are the scalars, lists of scalars, or empty containers themselves.
    """
    fields: list[tuple[str, Any]] = []
    _walk("", record, fields)
    return fields


def _walk(prefix: str, value: Any, fields: list[tuple[str, Any]]) -> None:
    if isinstance(value, dict):
        if not value and prefix:
            fields.append((prefix, value))
        for key, item in value.items():
            _walk(f"{prefix}.{key}" if prefix else str(key), item, fields)
    elif isinstance(value, list) and any(isinstance(item, dict | list) for item in value):
        for index, item in enumerate(value):
            _walk(f"{prefix}[{index}]", item, fields)
    else:
        fields.append((prefix, value))
