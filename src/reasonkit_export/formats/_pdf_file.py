"""A PDF file written page by page: bounded memory for any number of pages.

fpdf2 renders each page's content stream (see :mod:`reasonkit_export.formats._pdf`),
but fpdf2's own ``output()`` keeps every page of the document in memory
until the end. :class:`PdfFile` instead writes each finished page to the
sink at once (its content stream, compressed, and its page object), and
keeps per page only two integers: the byte offset for the cross-reference
table and the page's object number. Everything that can only be known at the
end — the page tree's counts, the outline, the named destinations of the
cover's links, the total page count printed in every footer (a form
XObject each footer draws), and the embedded font subsets — is written
after the last page; PDF allows forward references, so pages point at
object numbers reserved up front.

The font subsets are the fpdf2 fonts the pages used (one subset per font for
the whole document): fpdf2 serialises them in a one-page document at the
end, whose font objects are copied here with :mod:`pypdf`.
"""

from __future__ import annotations

import io
import zlib
from array import array
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import attrs

__all__ = ["Bookmark", "Link", "PdfFile"]

_HEADER = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
_GROUP = 256  # pages per intermediate node of the page tree
_COMPRESS_LEVEL = 6


@attrs.frozen(kw_only=True)
class Link:
    """A clickable area of a page (points, PDF coordinates) that jumps to a named destination."""

    rect: tuple[float, float, float, float]
    destination: str


@attrs.frozen(kw_only=True)
class Bookmark:
    """An outline entry: a title, the page index it opens (0-based) and the height (points)."""

    title: str
    page: int
    top: float


def text_string(text: str) -> bytes:
    """A PDF text string: UTF-16BE with a byte order mark, hex-encoded (any script)."""
    return b"<FEFF" + text.encode("utf-16-be").hex().upper().encode("ascii") + b">"


def _pdf_date(value: datetime) -> bytes:
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return f"(D:{value:%Y%m%d%H%M%S}Z)".encode("ascii")


class PdfFile:
    """Writes one PDF to ``sink`` page by page (see the module docstring).

    Args:
        sink: where the bytes go; written sequentially, never seeked.
        width: page width in points.
        height: page height in points.
    """

    def __init__(self, sink: Any, *, width: float, height: float) -> None:
        self._sink = sink
        self._pos = 0
        self._offsets = array("Q", [0])
        self._media_box = f"[0 0 {width:.2f} {height:.2f}]".encode("ascii")
        self._write(_HEADER)
        self._catalog = self.reserve()
        self._root = self.reserve()
        self.resources = self.reserve()
        self._page_objects = array("I")
        self._groups = array("I")
        self._group_sizes = array("I")

    @property
    def pages(self) -> int:
        """How many pages have been written."""
        return len(self._page_objects)

    def reserve(self) -> int:
        """Reserve an object number, to be written later."""
        self._offsets.append(0)
        return len(self._offsets) - 1

    def _write(self, data: bytes) -> None:
        self._sink.write(data)
        self._pos += len(data)

    def write_object(self, number: int, body: bytes) -> None:
        """Write object ``number`` (reserved earlier) with the serialised ``body``."""
        self._offsets[number] = self._pos
        self._write(b"%d 0 obj\n%b\nendobj\n" % (number, body))

    def write_stream(self, number: int, data: bytes, entries: bytes = b"") -> None:
        """Write a compressed stream object; ``entries`` are extra dictionary entries."""
        packed = zlib.compress(data, _COMPRESS_LEVEL)
        self._offsets[number] = self._pos
        self._write(
            b"%d 0 obj\n<< /Length %d /Filter /FlateDecode %b >>\nstream\n"
            % (number, len(packed), entries)
        )
        self._write(packed)
        self._write(b"\nendstream\nendobj\n")

    def add_page(self, content: bytes, links: Sequence[Link] = ()) -> int:
        """Write one finished page; return its 0-based index."""
        index = len(self._page_objects)
        if index % _GROUP == 0:
            self._groups.append(self.reserve())
            self._group_sizes.append(0)
        self._group_sizes[-1] += 1
        contents = self.reserve()
        self.write_stream(contents, content)
        annots = b""
        if links:
            numbers = []
            for link in links:
                number = self.reserve()
                rect = " ".join(f"{value:.2f}" for value in link.rect)
                self.write_object(
                    number,
                    b"<< /Type /Annot /Subtype /Link /Rect [%b] /Border [0 0 0] /Dest %b >>"
                    % (rect.encode("ascii"), text_string(link.destination)),
                )
                numbers.append(b"%d 0 R" % number)
            annots = b" /Annots [" + b" ".join(numbers) + b"]"
        page = self.reserve()
        self.write_object(
            page,
            b"<< /Type /Page /Parent %d 0 R /MediaBox %b /Resources %d 0 R /Contents %d 0 R%b >>"
            % (self._groups[-1], self._media_box, self.resources, contents, annots),
        )
        self._page_objects.append(page)
        return index

    def _destination(self, page: int, top: float) -> bytes:
        return b"[%d 0 R /XYZ 0 %.2f null]" % (self._page_objects[page], top)

    def finish(
        self,
        *,
        resources: bytes,
        bookmarks: Sequence[Bookmark],
        destinations: Mapping[str, tuple[int, float]],
        title: str,
        creator: str,
        created: datetime,
        lang: str,
    ) -> int:
        """Write the document's tail (page tree, outline, names, catalog, xref).

        Args:
            resources: the resource dictionary every page uses.
            bookmarks: the outline, in order.
            destinations: name -> (page index, top in points), for links.
            title: the document title (metadata).
            creator: the producing application (metadata).
            created: the creation date (metadata).
            lang: the document's language tag.

        Returns:
            The size of the file in bytes.
        """
        self.write_object(self.resources, resources)
        start = 0
        for group, size in zip(self._groups, self._group_sizes, strict=True):
            kids = b" ".join(b"%d 0 R" % n for n in self._page_objects[start : start + size])
            self.write_object(
                group,
                b"<< /Type /Pages /Parent %d 0 R /Kids [%b] /Count %d >>"
                % (self._root, kids, size),
            )
            start += size
        kids = b" ".join(b"%d 0 R" % n for n in self._groups)
        self.write_object(
            self._root, b"<< /Type /Pages /Kids [%b] /Count %d >>" % (kids, self.pages)
        )
        extra = b""
        if bookmarks:
            extra += b" /Outlines %d 0 R /PageMode /UseOutlines" % self._outline(bookmarks)
        if destinations:
            names = self.reserve()
            pairs = b" ".join(
                text_string(name) + b" " + self._destination(*destinations[name])
                for name in sorted(destinations)
            )
            self.write_object(names, b"<< /Names [%b] >>" % pairs)
            extra += b" /Names << /Dests %d 0 R >>" % names
        self.write_object(
            self._catalog,
            b"<< /Type /Catalog /Pages %d 0 R /Lang %b%b >>"
            % (self._root, text_string(lang), extra),
        )
        info = self.reserve()
        self.write_object(
            info,
            b"<< /Title %b /Creator %b /Producer %b /CreationDate %b >>"
            % (
                text_string(title),
                text_string(creator),
                text_string("reasonkit_export with fpdf2"),
                _pdf_date(created),
            ),
        )
        xref = self._pos
        count = len(self._offsets)
        self._write(b"xref\n0 %d\n0000000000 65535 f \n" % count)
        batch: list[bytes] = []
        for number in range(1, count):
            batch.append(b"%010d 00000 n \n" % self._offsets[number])
            if len(batch) >= 4096:
                self._write(b"".join(batch))
                batch.clear()
        self._write(b"".join(batch))
        self._write(
            b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n"
            % (count, self._catalog, info, xref)
        )
        return self._pos

    def _outline(self, bookmarks: Sequence[Bookmark]) -> int:
        root = self.reserve()
        numbers = [self.reserve() for _ in bookmarks]
        for index, (number, mark) in enumerate(zip(numbers, bookmarks, strict=True)):
            links = b""
            if index:
                links += b" /Prev %d 0 R" % numbers[index - 1]
            if index + 1 < len(numbers):
                links += b" /Next %d 0 R" % numbers[index + 1]
            self.write_object(
                number,
                b"<< /Title %b /Parent %d 0 R /Dest %b%b >>"
                % (text_string(mark.title), root, self._destination(mark.page, mark.top), links),
            )
        self.write_object(
            root,
            b"<< /Type /Outlines /First %d 0 R /Last %d 0 R /Count %d >>"
            % (numbers[0], numbers[-1], len(numbers)),
        )
        return root

    def copy_fonts(self, document: bytes, names: Iterable[str]) -> dict[str, int]:
        """Copy the named fonts of a small PDF's first page here; return name -> object number.

        ``document`` is fpdf2's serialisation of a one-page document that uses
        every font (so its page resources name them all); their objects (the
        composite font, descendant font, descriptor, widths, ToUnicode map
        and the font file) are copied with fresh object numbers.
        """
        from pypdf import PdfReader
        from pypdf.generic import IndirectObject

        reader = PdfReader(io.BytesIO(document))
        fonts: Any = reader.pages[0]["/Resources"]["/Font"]  # type: ignore[index]
        copied: dict[tuple[int, int], int] = {}
        result: dict[str, int] = {}
        for name in names:
            reference = fonts.raw_get(f"/{name}")
            assert isinstance(reference, IndirectObject)
            result[name] = self._copy(reference, copied)
        return result

    def _copy(self, reference: Any, copied: dict[tuple[int, int], int]) -> int:
        """Copy one indirect object (and what it refers to); return its new number."""
        from pypdf.generic import StreamObject

        key = (reference.idnum, reference.generation)
        if key in copied:
            return copied[key]
        number = self.reserve()
        copied[key] = number
        value = reference.get_object()
        if isinstance(value, StreamObject):
            entries = {
                k: v for k, v in value.items() if k not in ("/Length", "/Filter", "/DecodeParms")
            }
            body = self._serialise(entries, copied)[2:-2]  # without "<<" and ">>"
            self.write_stream(number, value.get_data(), body)
        else:
            self.write_object(number, self._serialise(value, copied))
        return number

    def _serialise(self, value: Any, copied: dict[tuple[int, int], int]) -> bytes:
        from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject

        if isinstance(value, IndirectObject):
            return b"%d 0 R" % self._copy(value, copied)
        if isinstance(value, dict | DictionaryObject):
            items = b" ".join(
                self._serialise_leaf(key) + b" " + self._serialise(item, copied)
                for key, item in value.items()
            )
            return b"<< " + items + b" >>"
        if isinstance(value, list | ArrayObject):
            return b"[" + b" ".join(self._serialise(item, copied) for item in value) + b"]"
        return self._serialise_leaf(value)

    @staticmethod
    def _serialise_leaf(value: Any) -> bytes:
        out = io.BytesIO()
        value.write_to_stream(out)
        return out.getvalue()
