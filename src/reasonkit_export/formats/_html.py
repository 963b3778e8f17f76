"""The offline HTML view inside a ZIP export: ``index.html`` and paged category pages.

Layout in the archive::

    index.html                      who, when, the controller, Art. 15 facts, categories
    html/<category>/index.html      the category's page index (record ranges)
    html/<category>/page-<n>.html   a bounded number of records per page

Every page is self-contained: one inline stylesheet allowed by its hash in a
strict Content-Security-Policy ``<meta>`` tag, no script, no image, no font,
no request of any kind. Every data value and label is escaped as element
text (never an attribute, never a URL: links in data are shown as text), and
every value carries ``dir="auto"`` so right-to-left text reads right inside
a left-to-right page. The document's ``lang`` is the export's locale.

Records are rendered while the ZIP's sections are spooled, from the source's
own values (so datetimes, decimals and bytes are known for what they are),
into a temporary file, one escaped fragment per line; pages are cut from it
afterwards by record count and size. Memory stays bounded by one record and
one page's offsets list. The ZIP writer has :class:`HtmlWorker` do the
rendering in a child process, in parallel with its other members: a record
whose ``data.json`` form renders the same travels as its JSON line (in
batches of lines), any other as a pickle of the original, and one the child
could not rebuild is rendered in the parent. The child also composes every
page and compresses it as the archive would (``_zipstream.pack``, on two
threads), publishing each as it is done; the parent copies the stored bytes
into the archive meanwhile (:meth:`HtmlWorker.events`). The archive is byte
for byte the one rendered in place.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import enum
import hashlib
import io
import json
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import textwrap
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from time import monotonic, sleep
from typing import Any, BinaryIO, cast
from urllib.parse import quote
from uuid import UUID
from zoneinfo import ZoneInfo

import attrs

from reasonkit_export._encoding import utf8
from reasonkit_export._present import Presenter
from reasonkit_export.exceptions import FileTooLarge, ProcessingError
from reasonkit_export.formats import _base
from reasonkit_export.formats._base import ExportInfo
from reasonkit_export.formats._claims import Claims
from reasonkit_export.formats._holes import release
from reasonkit_export.formats._spool import Segment, SpoolFile, spool_limit
from reasonkit_export.formats._text import about_lines, controller_lines, window_sentences
from reasonkit_export.formats._zipstream import Packed, pack

__all__ = [
    "CSP",
    "HTML_MEDIA_TYPE",
    "INDEX_NAME",
    "RECORDS_PER_PAGE",
    "CategoryEnd",
    "CategoryLayout",
    "CategoryStart",
    "HtmlSpool",
    "HtmlView",
    "HtmlWorker",
    "PackEvent",
    "PackedCategory",
    "PackedPage",
    "RecordRenderer",
    "materialised",
]

HTML_MEDIA_TYPE = "text/html; charset=utf-8"
INDEX_NAME = "index.html"
RECORDS_PER_PAGE = 200
PAGE_BYTES = 2 * 1024 * 1024
_LABEL_ROWS = 4096
_MAX_DEPTH = 32
_NAV_WINDOW = 2
# Compiled mapping shapes (see RecordRenderer): how many, how many keys each,
# and how many distinct shapes are remembered before compiling stops.
_SHAPES = 256
_SHAPE_KEYS = 64
_SHAPES_SEEN = 4096
# A shape's typed path (see _TypedPath): the most values it renders, nested
# ones included, and the depth of the nested mappings it renders inline.
_TYPED_VALUES = 128
_TYPED_LEVELS = 4

STYLE = """\
:root{color-scheme:light;--fg:#1a1a1a;--muted:#4a4a4a;--line:#c8c8c8;--soft:#f3f4f6;\
--accent:#0b57a4;--bg:#fff}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%;text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--fg);font:1rem/1.5 system-ui,-apple-system,\
"Segoe UI",Roboto,"Noto Sans","Helvetica Neue",Arial,sans-serif}
header,main,footer{max-width:70rem;margin:0 auto;padding:0 1rem}
header{padding-top:1rem}
footer{padding-bottom:2rem;color:var(--muted);font-size:.9rem}
h1{font-size:1.75rem;line-height:1.25;margin:.5rem 0 1rem}
h2{font-size:1.25rem;line-height:1.3;margin:1.75rem 0 .5rem}
h3{font-size:1.05rem;margin:1.25rem 0 .25rem}
a{color:var(--accent);text-underline-offset:.15em}
a:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
p,li{overflow-wrap:anywhere}
.crumbs{font-size:.95rem;margin:0}
.lead{color:var(--muted);margin:0 0 1rem}
.facts{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:0 0 1rem}
.facts dt{font-weight:600}.facts dd{margin:0;overflow-wrap:anywhere}
table{border-collapse:collapse;width:100%;margin:0 0 .5rem}
th,td{border:1px solid var(--line);padding:.4rem .6rem;text-align:start;vertical-align:top}
th{background:var(--soft);font-weight:600}
.rec th[scope=row]{width:12rem;max-width:40%}
td{white-space:break-spaces;overflow-wrap:anywhere;word-break:normal}
td table{margin:0}
td ul,td ol{margin:0;padding-inline-start:1.25rem}
td li+li{margin-top:.25rem}
.empty{color:var(--muted);font-style:italic}
.num{font-variant-numeric:tabular-nums}
.rec{margin:0 0 1.25rem}
.rec h2{font-size:1.05rem;margin:1.25rem 0 .35rem;color:var(--muted)}
.cats{width:auto;min-width:min(100%,28rem)}
.cats td:nth-child(2),.cats th:nth-child(2){text-align:end;white-space:nowrap}
.pager ul{list-style:none;display:flex;flex-wrap:wrap;gap:.35rem;padding:0;margin:1rem 0}
.pager a,.pager span{display:inline-block;min-width:2.5rem;padding:.35rem .6rem;\
border:1px solid var(--line);border-radius:.3rem;text-align:center;text-decoration:none}
.pager a[aria-current=page]{background:var(--accent);border-color:var(--accent);color:#fff}
.pager span{color:var(--muted)}
.pages{columns:16rem auto;padding-inline-start:1.25rem}
.vh{position:absolute!important;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);\
white-space:nowrap}
.note{background:var(--soft);border-inline-start:4px solid var(--accent);padding:.6rem .9rem;\
margin:0 0 1rem}
@media (max-width:40rem){
h1{font-size:1.4rem}
header,main,footer{padding:0 .6rem}
.rec table,.rec tbody,.rec tr,.rec th,.rec td{display:block;width:auto;max-width:none}
.rec th[scope=row]{width:auto;max-width:none;border-bottom:0;padding:.3rem .5rem}
.rec td{padding:.3rem .5rem}
.rec tr+tr>th{border-top:0}
.rec td table{margin:.2rem 0}
.rec td ul,.rec td ol{padding-inline-start:1rem}
.facts{grid-template-columns:1fr}.facts dd{margin-bottom:.5rem}
}
@media print{.pager{display:none}a{color:inherit}}
"""

_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
CSP = (
    "default-src 'none'; "
    f"style-src 'sha256-{_STYLE_HASH}'; "
    "img-src 'none'; font-src 'none'; script-src 'none'; connect-src 'none'; "
    "media-src 'none'; object-src 'none'; frame-src 'none'; "
    "base-uri 'none'; form-action 'none'"
)
"""The Content-Security-Policy of every page: nothing but its own inline style."""


def escape(text: str) -> str:
    """``text`` as HTML element content (``&``, ``<``, ``>``, quotes, line breaks)."""
    # Substring tests are several times faster than a regular expression
    # search over long non-ASCII text, and most values need no replacement.
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if '"' in text:
        text = text.replace('"', "&quot;")
    if "'" in text:
        text = text.replace("'", "&#39;")
    # One fragment per spool line: line breaks become character references,
    # which the browser turns back into the same characters.
    if "\n" in text:
        text = text.replace("\n", "&#10;")
    if "\r" in text:
        text = text.replace("\r", "&#13;")
    return text


def _escape_bytes(data: bytes) -> bytes:
    """:func:`escape` on UTF-8 text (its multi-byte sequences hold no ASCII byte)."""
    if 38 in data:  # &
        data = data.replace(b"&", b"&amp;")
    if 60 in data:  # <
        data = data.replace(b"<", b"&lt;")
    if 62 in data:  # >
        data = data.replace(b">", b"&gt;")
    if 34 in data:  # "
        data = data.replace(b'"', b"&quot;")
    if 39 in data:  # '
        data = data.replace(b"'", b"&#39;")
    if 10 in data:
        data = data.replace(b"\n", b"&#10;")
    if 13 in data:
        data = data.replace(b"\r", b"&#13;")
    return data


_SMALL = tuple(str(n).encode() for n in range(1000))

# Text ``{x}`` as the reader sees it: ``string`` (Presenter._string) formats an
# ISO date or date-time and returns other text as it is, so it is called only
# for text that may be one (a necessary condition, checked inline).
_READABLE = 'string({x}) if {x}[4:5] == "-" and (len({x}) == 10 or len({x}) >= 19) else {x}'

# The cell text of item ``{x}`` of a list of strings, escaped.
_LIST_ITEM = "escape(" + _READABLE + ")"

# The code turning text ``{x}`` into the UTF-8 ``{b}`` of its cell: dates and
# times formatted for the reader, then escaped (both shape paths use it).
_TEXT_CODE = (
    "{b} = "
    + _READABLE
    + """
try:
    {b} = {b}.encode()
except UnicodeEncodeError:
    {b} = utf8({b})
if 38 in {b} or 60 in {b} or 62 in {b} or 34 in {b} or 39 in {b} or 10 in {b} or 13 in {b}:
    {b} = escape_bytes({b})"""
)

# The code of one value of a compiled mapping shape (see RecordRenderer._compile),
# writing UTF-8: ``{i}`` is the value's position; ``_o{i}`` its row opening for
# text, ``_n{i}`` for numbers, ``_d{i}`` for a nested table, ``_e{i}`` for an
# empty mapping, ``_y{i}``/``_f{i}``/``_z{i}`` its whole row for true, false
# and None, ``_l{i}`` its opening for a list of strings, ``_r{i}`` its bare
# row, ``_p{i}`` its path and ``_s{i}`` the compiled shapes of a mapping under
# it; ``{text}`` is _TEXT_CODE for it, ``{integer}`` the expression of an
# integer's digits and ``{item}`` _LIST_ITEM for a list item ``x``. Text is
# encoded first, so the escape tests are byte searches (an int operand:
# memchr); ``utf8`` is the spool's encoding (lone surrogates become U+FFFD),
# and escaping commutes with it. ``_e{i}`` serves an empty list too: its cell
# is the empty mapping's.
_VALUE_CODE = """\
    t = type(v{i})
    if t is str:
{text}
        extend((_o{i}, b, _end))
    elif t is int:
        extend((_n{i}, {integer}, _end))
    elif t is dict:
        if v{i}:
            append(_d{i})
            if depth < max_depth:
                if len(v{i}) <= shape_keys and (shape := _s{i}.get(tuple(v{i}))) is not None:
                    shape(v{i}, out, depth + 1)
                else:
                    fields(v{i}, _p{i}, out, depth + 1)
            append(_close)
        else:
            append(_e{i})
    elif t is float:
        extend((_n{i}, number(v{i}).encode(), _end))
    elif t is bool:
        append(_y{i} if v{i} else _f{i})
    elif v{i} is None:
        append(_z{i})
    elif t is list and v{i} and all([type(x) is str for x in v{i}]):
        extend((_l{i}, utf8(li_join([{item} for x in v{i}])), _ul_end))
    elif t is list and not v{i}:
        append(_e{i})
    else:
        extend((_r{i}, utf8(cell(v{i}, _p{i}, depth)), b"</tr>"))
"""


_Shape = Callable[[dict[str, Any], list[bytes], int], None]

# The code of a typed path's list and not-inlined mapping values (see
# _TypedPath): ``{x}`` is the value, ``{b}`` the part it sets, ``{opening}``
# its row's opening and ``{where}`` its path (constants), ``{depth}`` the
# depth of the mapping holding it, ``{item}`` _LIST_ITEM for a list item ``i``.
_TYPED_LIST = """\
if {x} and all([type(i) is str for i in {x}]):
    {b} = {opening} + _list_open + utf8(li_join([{item} for i in {x}])) + _ul_end
elif not {x}:
    {b} = {opening} + _empty_cell + _row_end
else:
    {b} = {opening} + utf8(cell({x}, {where}, {depth})) + _row_end"""
_TYPED_TABLE = """\
{r} = [{opening}, _table_open]
if {depth} < max_depth:
    fields({x}, {where}, {r}, {depth} + 1)
{r}.append(_close)
{b} = _nothing.join({r})"""


class _TypedPath:
    """The source of a compiled shape's typed path, built from one sample mapping.

    Records of a category mostly share their value types as well as their
    keys, so a shape also gets a path for its sample's types: guards check
    every value's exact type (and each nested mapping's keys: those are
    rendered inline, to the depth ``_TYPED_LEVELS``), then every value is
    formatted with no dispatch and the mapping is one format of one template.
    A mapping whose types differ takes the shape's general path; both give
    the same bytes (``tests/formats/test_html_fast.py``). The generated source
    holds names and positions only: labels, paths and keys are constants.
    """

    def __init__(self, renderer: RecordRenderer, namespace: dict[str, Any], integer: str) -> None:
        self._renderer = renderer
        self._ns = namespace
        self._integer = integer  # the integer expression, {x} standing for the value
        self.guards: list[str] = []  # statements that ``break`` to the general path
        self.body: list[str] = []  # statements computing the template's parts
        self.template: list[bytes] = []
        self.parts: list[str] = []  # one expression per %b of the template
        self.levels = 0  # the deepest nested mapping rendered inline
        self._names = 0
        self._values = 0

    def _name(self, stem: str) -> str:
        self._names += 1
        return f"{stem}{self._names}"

    def _constant(self, value: Any) -> str:
        name = self._name("_q")
        self._ns[name] = value
        return name

    def _text(self, data: bytes) -> None:
        self.template.append(data.replace(b"%", b"%%"))

    def _part(self, expression: str) -> None:
        self.template.append(b"%b")
        self.parts.append(expression)

    def _inline(self, value: Any, level: int) -> bool:
        """Whether a nested mapping is rendered inline (its keys guarded)."""
        return (
            bool(value)
            and len(value) <= _SHAPE_KEYS
            and level + 1 < _TYPED_LEVELS
            and all(type(key) is str for key in value)
        )

    def mapping(self, prefix: str, sample: dict[str, Any], names: list[str], level: int) -> bool:
        """Add the guards and code of a mapping like ``sample``, its values in ``names``.

        False when the sample holds more values than a typed path may render
        (``_TYPED_VALUES``): the shape then has none.
        """
        self._values += len(names)
        if self._values > _TYPED_VALUES:
            return False
        checks = []
        for name, value in zip(names, sample.values(), strict=True):
            kind = type(value)
            if value is None:
                checks.append(f"{name} is None")
            elif kind is dict and not value:
                checks.append(f"(type({name}) is dict and not {name})")
            elif kind is dict:
                # Not empty: inlined (its keys are guarded below) or rendered as a table.
                checks.append(f"(type({name}) is dict and {name})")
            elif kind in (str, int, float, bool, list):
                checks.append(f"type({name}) is {kind.__name__}")
            else:
                checks.append(f"type({name}) is {self._constant(kind)}")
        self.guards.append(f"if not ({' and '.join(checks)}):\n    break")
        renderer = self._renderer
        depth = f"depth + {level}" if level else "depth"
        for key, name, value in zip(sample, names, sample.values(), strict=True):
            path, row = renderer._row(prefix, key)
            kind = type(value)
            if kind is str:
                part = self._name("b")
                self.body.append(_TEXT_CODE.format(x=name, b=part))
                self._text(utf8(f'{row}<td dir="auto">'))
                self._part(part)
                self._text(b"</td></tr>")
            elif kind is int:
                self._text(utf8(f'{row}<td dir="auto" class="num">'))
                self._part(f"({self._integer.format(x=name)})")
                self._text(b"</td></tr>")
            elif kind is float:
                self._text(utf8(f'{row}<td dir="auto" class="num">'))
                self._part(f"number({name}).encode()")
                self._text(b"</td></tr>")
            elif kind is bool:
                self._text(utf8(row))
                self._part(f"(_yes if {name} else _no)")
                self._text(b"</tr>")
            elif value is None:
                self._text(utf8(f'{row}<td class="empty">{renderer._not_set}</td></tr>'))
            elif kind is dict and not value:
                self._text(utf8(f'{row}<td class="empty">{renderer._empty}</td></tr>'))
            elif kind is dict and self._inline(value, level):
                values = [self._name("x") for _ in value]
                self.guards.append(
                    f"if tuple({name}) != {self._constant(tuple(value))}:\n    break"
                )
                unpack = ", ".join(values) + ("," if len(values) == 1 else "")
                self.guards.append(f"{unpack} = {name}.values()")
                self.levels = max(self.levels, level + 1)
                self._text(utf8(f"{row}<td><table><tbody>"))
                if not self.mapping(path, value, values, level + 1):
                    return False
                self._text(b"</tbody></table></td></tr>")
            else:
                # Lists, mappings not inlined, any other type: as the general path.
                part = self._name("b")
                opening = self._constant(utf8(row))
                where = self._constant(path)
                if kind is list:
                    self.body.append(
                        _TYPED_LIST.format(
                            x=name,
                            b=part,
                            opening=opening,
                            where=where,
                            depth=depth,
                            item=_LIST_ITEM.format(x="i"),
                        )
                    )
                elif kind is dict:
                    self.body.append(
                        _TYPED_TABLE.format(
                            x=name,
                            b=part,
                            r=self._name("r"),
                            opening=opening,
                            where=where,
                            depth=depth,
                        )
                    )
                else:
                    self.body.append(
                        f"{part} = {opening} + utf8(cell({name}, {where}, {depth})) + _row_end"
                    )
                self._part(part)
        return True

    def source(self) -> list[str]:
        """The typed path's statements, for the body of a ``while True:`` loop."""
        template = b"".join(self.template)
        # With no part to format, the template is the fragment itself (% undoubled).
        self._ns["_typed"] = template if self.parts else template % ()
        lines = []
        if self.levels:
            lines.append(f"if depth > max_depth - {self.levels}:\n    break")
        lines += self.guards + self.body
        if self.parts:
            lines.append(f"append(_typed % ({', '.join(self.parts)},))")
        else:
            lines.append("append(_typed)")
        lines.append("return")
        return lines


class RecordRenderer:
    """Turns one record into an escaped HTML fragment with human labels and values.

    Records of a category mostly share their keys, so each mapping shape
    (its parent path and its keys, in order) that recurs is compiled once
    into a function with every field's label row a constant and the common
    value types (``str``, ``int``, ``dict``, ``float``, ``bool``, ``None``)
    handled inline, writing UTF-8; any other value,
    and mappings beyond the compiled budget, take the general path. Both give
    the same bytes: the property tests hold them to the straightforward
    definition in ``tests/formats/html_reference.py``.
    """

    def __init__(self, presenter: Presenter, category: str) -> None:
        self._present = presenter
        self._category = category
        # Label rows by parent path, then key: (the field's path, its row opening).
        self._rows: dict[str, dict[str, tuple[str, str]]] = {}
        self._cached = 0
        # Compiled shapes by parent path, then keys; None: seen once so far.
        self._shapes: dict[str, dict[tuple[str, ...], _Shape | None]] = {}
        self._shape_count = 0
        self._compiled = 0
        msg = presenter.messages
        self._record_heading = msg("report.record", number="{number}")
        self._not_set = (
            f'<span aria-hidden="true">—</span><span class="vh">{escape(presenter.not_set)}</span>'
        )
        self._empty = escape(presenter.empty)
        self._empty_record = f'<p class="empty">{escape(msg("report.empty_record"))}</p>'
        self._yes = f'<td dir="auto">{escape(presenter.yes)}</td>'
        self._no = f'<td dir="auto">{escape(presenter.no)}</td>'
        self._string = presenter._string
        self._integer = presenter.integer
        self._comma_groups = presenter.integer_group == ","
        self._timestamp = presenter.timestamp
        self._number = presenter.number
        pre, _, post = self._record_heading.partition("{number}")
        self._heading = (
            utf8(f"<h2>{escape(pre)}"),
            utf8(f"{escape(post)}</h2><table><tbody>"),
            utf8(f"{escape(post)}</h2>{self._empty_record}</article>"),
        )

    def render(self, number: int, record: Mapping[str, Any]) -> str:
        """The fragment for record ``number`` (1-based), one line, no raw line breaks."""
        return self.render_bytes(number, record).decode("utf-8")

    def render_bytes(self, number: int, record: Mapping[str, Any]) -> bytes:
        """:meth:`render` as the spool stores it: UTF-8, lone surrogates as U+FFFD."""
        pre, post, empty = self._heading
        if 0 <= number < 1000:
            number_text = _SMALL[number]
        elif self._comma_groups:
            number_text = f"{number:,}".encode()
        else:
            number_text = self._integer(number).encode()
        head = b'<article class="rec" id="r%d">%b%b' % (number, pre, number_text)
        if not record:
            return head + empty
        out = [head, post]
        self._fields(record, "", out, 0)
        out.append(b"</tbody></table></article>")
        return b"".join(out)

    def _row(self, prefix: str, key: object) -> tuple[str, str]:
        text = key if type(key) is str else _key_text(key)
        path = f"{prefix}.{text}" if prefix else text
        label = self._present.field_label(self._category, path)
        row = (path, f'<tr><th scope="row">{escape(label)}</th>')
        if self._cached < _LABEL_ROWS and type(key) is str:
            self._rows.setdefault(prefix, {})[key] = row
            self._cached += 1
        return row

    def _fields(
        self, mapping: Mapping[Any, Any], prefix: str, out: list[bytes], depth: int
    ) -> None:
        if type(mapping) is dict and len(mapping) <= _SHAPE_KEYS:
            keys = tuple(mapping)
            shapes = self._shapes.get(prefix)
            shape = shapes.get(keys) if shapes is not None else None
            if shape is None:
                shape = self._shape(prefix, keys, mapping)
            if shape is not None:
                shape(mapping, out, depth)
                return
        self._walk(mapping, prefix, out, depth)

    def _shape(self, prefix: str, keys: tuple[str, ...], sample: dict[str, Any]) -> _Shape | None:
        """The compiled function for this shape once it is seen a second time (as ``sample``)."""
        shapes = self._shapes.get(prefix)
        if shapes is None or keys not in shapes:
            if self._shape_count < _SHAPES_SEEN and all(type(key) is str for key in keys):
                self._shapes.setdefault(prefix, {})[keys] = None
                self._shape_count += 1
            return None
        if self._compiled >= _SHAPES:
            return None
        self._compiled += 1
        shape = shapes[keys] = self._compile(prefix, keys, sample)
        return shape

    def _compile(self, prefix: str, keys: tuple[str, ...], sample: dict[str, Any]) -> _Shape:
        """A function rendering a dict with exactly ``keys`` (in that order) under ``prefix``.

        The function first tries the typed path of the value types of
        ``sample``, the mapping being rendered (see :class:`_TypedPath`). The
        generated source holds names and positions only; every label and
        path is a constant in its namespace, never text in the code.
        """
        namespace: dict[str, Any] = {
            "escape_bytes": _escape_bytes,
            "utf8": utf8,
            "small": _SMALL,
            "string": self._string,
            "integer": self._integer,
            "fields": self._fields,
            "cell": self._cell,
            "number": self._number,
            "max_depth": _MAX_DEPTH,
            "shape_keys": _SHAPE_KEYS,
            "_end": b"</td></tr>",
            "_close": b"</tbody></table></td></tr>",
            "escape": escape,
            "li_join": '</li><li dir="auto">'.join,
            "_ul_end": b"</li></ul></td></tr>",
            "_yes": utf8(self._yes),
            "_no": utf8(self._no),
            "_list_open": b'<td><ul><li dir="auto">',
            "_empty_cell": utf8(f'<td class="empty">{self._empty}</td>'),
            "_table_open": b"<td><table><tbody>",
            "_row_end": b"</tr>",
            "_nothing": b"",
        }
        # Integers: inline where the locale groups as Python's "," format does.
        group = self._present.integer_group
        if group == ",":
            grouped = 'f"{{{x}:,}}".encode()'
        elif group is not None:
            namespace["group"] = group
            grouped = 'f"{{{x}:,}}".replace(",", group).encode()'
        else:
            grouped = "integer({x}).encode()"
        integer = "small[{x}] if 0 <= {x} < 1000 else " + grouped
        lines = [
            "def shape(mapping, out, depth):",
            "    append = out.append",
            "    extend = out.extend",
        ]
        if len(keys) == 1:
            lines.append("    v0, = mapping.values()")
        elif keys:
            names = ", ".join(f"v{i}" for i in range(len(keys)))
            lines.append(f"    {names} = mapping.values()")
        typed = _TypedPath(self, namespace, integer)
        values = [f"v{i}" for i in range(len(keys))]
        if keys and typed.mapping(prefix, sample, values, 0):
            # The typed path first; a guard that fails breaks to the general one.
            lines.append("    while True:")
            lines += ["        " + line for step in typed.source() for line in step.split("\n")]
        for i, key in enumerate(keys):
            path, row = self._row(prefix, key)
            namespace.update(
                {
                    f"_p{i}": path,
                    f"_r{i}": utf8(row),
                    f"_o{i}": utf8(f'{row}<td dir="auto">'),
                    f"_n{i}": utf8(f'{row}<td dir="auto" class="num">'),
                    f"_l{i}": utf8(f'{row}<td><ul><li dir="auto">'),
                    f"_d{i}": utf8(f"{row}<td><table><tbody>"),
                    f"_e{i}": utf8(f'{row}<td class="empty">{self._empty}</td></tr>'),
                    f"_y{i}": utf8(f"{row}{self._yes}</tr>"),
                    f"_f{i}": utf8(f"{row}{self._no}</tr>"),
                    f"_z{i}": utf8(f'{row}<td class="empty">{self._not_set}</td></tr>'),
                    # Compiled shapes of a nested mapping here (filled in by _fields).
                    f"_s{i}": self._shapes.setdefault(path, {}),
                }
            )
            text = textwrap.indent(_TEXT_CODE.format(x=f"v{i}", b="b"), " " * 8)
            code = _VALUE_CODE.format(
                i=i, text=text, integer=integer.format(x=f"v{i}"), item=_LIST_ITEM.format(x="x")
            )
            lines.append(code.rstrip("\n"))
        source = "\n".join(lines) + "\n"
        exec(source, namespace)  # noqa: S102 - generated from positions only, see above
        return cast(_Shape, namespace["shape"])

    def _walk(self, mapping: Mapping[Any, Any], prefix: str, out: list[bytes], depth: int) -> None:
        """The general path of :meth:`_fields`: any mapping, any keys."""
        rows = self._rows.get(prefix) or {}
        append = out.append
        for key, value in mapping.items():
            found = rows.get(key) if type(key) is str else None
            path, row = found if found is not None else self._row(prefix, key)
            kind = type(value)
            if kind is dict:
                if value:
                    append(utf8(f"{row}<td><table><tbody>"))
                    if depth < _MAX_DEPTH:
                        self._fields(value, path, out, depth + 1)
                    append(b"</tbody></table></td></tr>")
                else:
                    append(utf8(f'{row}<td class="empty">{self._empty}</td></tr>'))
                continue
            if kind is str:
                text = value
                if text[4:5] == "-" and (len(text) == 10 or len(text) >= 19):
                    text = self._string(text)
                cell = f'<td dir="auto">{escape(text)}</td>'
            elif kind is int:
                number = value if 0 <= value < 1000 else self._integer(value)
                cell = f'<td dir="auto" class="num">{number}</td>'
            else:
                cell = self._cell(value, path, depth)
            append(utf8(f"{row}{cell}</tr>"))

    def _cell(self, value: Any, path: str, depth: int) -> str:
        kind = type(value)
        if kind is float:
            return f'<td dir="auto" class="num">{self._number(value)}</td>'
        if kind is bool:
            return self._yes if value else self._no
        if value is None:
            return f'<td class="empty">{self._not_set}</td>'
        if kind is datetime:
            return f'<td dir="auto">{escape(self._timestamp(value))}</td>'
        if kind is list and value and all(type(v) is str for v in value):
            string = self._string
            inner = '</li><li dir="auto">'.join([escape(string(v)) for v in value])
            return f'<td><ul><li dir="auto">{inner}</li></ul></td>'
        if isinstance(value, enum.Enum):
            return self._cell(value.value, path, depth)
        nested = _as_container(value)
        if nested is None:
            if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
                return f'<td dir="auto" class="num">{escape(self._present.value(value))}</td>'
            return f'<td dir="auto">{escape(self._present.value(value))}</td>'
        if not nested:
            return f'<td class="empty">{self._empty}</td>'
        if depth >= _MAX_DEPTH:
            return f'<td dir="auto">{escape(self._present.value(value))}</td>'
        out = ["<td>"]
        self._nested(nested, path, out, depth + 1)
        out.append("</td>")
        return "".join(out)

    def _nested(
        self, value: Mapping[Any, Any] | list[Any], path: str, out: list[str], depth: int
    ) -> None:
        if isinstance(value, Mapping):
            rows: list[bytes] = []
            self._fields(value, path, rows, depth)
            # Valid UTF-8 (surrogates already replaced): decoding is exact.
            out.append(f"<table><tbody>{b''.join(rows).decode('utf-8')}</tbody></table>")
            return
        out.append("<ul>")
        for item in value:
            inner = _as_container(item) if not isinstance(item, str | int | float) else None
            if inner is None:
                if item is None:
                    out.append(f'<li class="empty">{self._not_set}</li>')
                else:
                    out.append(f'<li dir="auto">{escape(self._present.value(item))}</li>')
            elif not inner:
                out.append(f'<li class="empty">{self._empty}</li>')
            elif depth >= _MAX_DEPTH:
                out.append(f'<li dir="auto">{escape(self._present.value(item))}</li>')
            else:
                out.append("<li>")
                self._nested(inner, path, out, depth + 1)
                out.append("</li>")
        out.append("</ul>")


def _key_text(key: object) -> str:
    if isinstance(key, enum.Enum):
        key = key.value
    return key if isinstance(key, str) else str(key)


def _as_container(value: Any) -> Mapping[Any, Any] | list[Any] | None:
    """Nested values as a mapping or list; None for scalars (shown as text)."""
    if isinstance(value, Mapping):
        return value
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, set | frozenset):
        try:
            return sorted(value)
        except TypeError:
            return sorted(value, key=repr)
    if isinstance(
        value, str | bytes | bytearray | memoryview | int | float | Decimal | date | time | datetime
    ):
        return None
    if attrs.has(type(value)):
        return attrs.asdict(value, recurse=False)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, Iterator):
        # Reading it here would leave nothing for data.json: see HtmlSpool.add.
        raise _OneShot
    return None


class _OneShot(Exception):
    """A record holds an iterator that can be read only once."""


def materialised(value: Any) -> Any:
    """``value`` with every one-shot iterator inside mappings and lists made a list.

    The JSON encoding writes any iterable as a list, so the JSON of the
    result is the JSON the original would have given.
    """
    if isinstance(value, Mapping):
        return {key: materialised(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [materialised(item) for item in value]
    if isinstance(value, Iterator) and not isinstance(value, str | bytes):
        return [materialised(item) for item in value]
    return value


class HtmlSpool:
    """One category's rendered records on disk, with where each page starts.

    Args:
        renderer: renders the records given to :meth:`add` (None: only
            :meth:`add_fragment` is used).
        records_per_page: the most records a page holds.
        page_bytes: a page also ends before its records pass this size.
        file: where the fragments go (default: an anonymous temporary file);
            the spool owns it and closes it.
        page_writes: store what the file buffers before each page's first
            record (``flush``), so that every page starts a write of its own:
            in an aligned :class:`~reasonkit_export.formats._spool.SpoolFile`,
            each page read (with ``release_pages``) then frees its blocks whole.
    """

    def __init__(
        self,
        renderer: RecordRenderer | None,
        *,
        records_per_page: int,
        page_bytes: int,
        file: BinaryIO | None = None,
        page_writes: bool = False,
    ) -> None:
        self._renderer = renderer
        if file is None:
            file = cast(BinaryIO, tempfile.TemporaryFile(buffering=1024 * 1024))  # noqa: SIM115 - closed by close()
        self._file = file
        self._per_page = records_per_page
        self._page_bytes = page_bytes
        self._page_writes = page_writes
        self.count = 0
        self._offset = 0
        self._page_size = 0
        self._page_count = 0
        # Pages read once, from a shared spool file (see page_bytes).
        self.release_pages = False
        # (byte offset, first record number) of every page.
        self.pages: list[tuple[int, int]] = []

    @classmethod
    def attach(
        cls, file: BinaryIO, *, count: int, offset: int, pages: list[tuple[int, int]]
    ) -> HtmlSpool:
        """A finished spool written elsewhere (by :class:`HtmlWorker`'s child)."""
        spool = cls(None, records_per_page=RECORDS_PER_PAGE, page_bytes=PAGE_BYTES, file=file)
        spool.count = count
        spool._offset = offset
        spool.pages = pages
        return spool

    def add(self, record: Mapping[str, Any]) -> Mapping[str, Any]:
        """Render and store one record; return it as the other members must see it.

        A record holding a one-shot iterator (a generator) is rendered and
        returned with every iterator turned into a list, so the JSON and CSV
        members show the same items as the HTML view.
        """
        assert self._renderer is not None
        number = self.count + 1
        try:
            fragment = self._renderer.render_bytes(number, record)
        except _OneShot:
            record = materialised(record)
            fragment = self._renderer.render_bytes(number, record)
        self.add_fragment(fragment)
        return record

    def add_lines(self, lines: bytes, loads: Callable[[bytes], Any]) -> int:
        """Render records given as JSON lines, each ended by a line break; return how many.

        The same as :meth:`add` for each record, with the page bookkeeping of
        :meth:`add_fragment` inline and one write for the batch.
        """
        assert self._renderer is not None
        render = self._renderer.render_bytes
        records = lines.split(b"\n")
        records.pop()  # after the last line break
        pages, per_page, page_bytes = self.pages, self._per_page, self._page_bytes
        number, offset = self.count, self._offset
        page_count, page_size = self._page_count, self._page_size
        fragments: list[bytes] = []
        for line in records:
            number += 1
            fragment = render(number, loads(line))
            size = len(fragment) + 1  # and its line break
            if (
                not pages
                or page_count >= per_page
                or (page_size + size > page_bytes and page_count)
            ):
                if self._page_writes:
                    self._page_break(fragments)
                pages.append((offset, number))
                page_count = page_size = 0
            fragments.append(fragment)
            offset += size
            page_count += 1
            page_size += size
        fragments.append(b"")
        self._file.write(b"\n".join(fragments))
        self.count, self._offset = number, offset
        self._page_count, self._page_size = page_count, page_size
        return len(records)

    def add_fragment(self, fragment: bytes) -> None:
        """Store one record's rendered fragment (record number ``count + 1``), UTF-8."""
        self.count += 1
        size = len(fragment) + 1  # and its line break
        if (
            not self.pages
            or self._page_count >= self._per_page
            or (self._page_size + size > self._page_bytes and self._page_count)
        ):
            if self._page_writes:
                self._page_break([])
            self.pages.append((self._offset, self.count))
            self._page_count = 0
            self._page_size = 0
        self._file.write(fragment + b"\n")
        self._offset += size
        self._page_count += 1
        self._page_size += size

    def _page_break(self, fragments: list[bytes]) -> None:
        """Store the previous page's last ``fragments`` and whatever the file buffers."""
        if fragments:
            fragments.append(b"")
            self._file.write(b"\n".join(fragments))
            fragments.clear()
        self._file.flush()

    def seal(self) -> None:
        """Every record is in: store what the file still buffers."""
        self._file.flush()

    def state(self) -> dict[str, Any]:
        """What :meth:`attach` needs to read this spool's file in another process."""
        self._file.flush()
        return {"count": self.count, "offset": self._offset, "pages": self.pages}

    def page_records(self, index: int) -> Iterator[bytes]:
        """The stored fragments of page ``index`` (0-based)."""
        yield from self.page_bytes(index).split(b"\n")[:-1]

    def page_bytes(self, index: int) -> bytes:
        """Page ``index``'s fragments as stored: each followed by a line break.

        With ``release_pages`` set, each page is read once: its memory is then
        given back (see :mod:`reasonkit_export.formats._holes`).
        """
        start = self.pages[index][0]
        end = self.pages[index + 1][0] if index + 1 < len(self.pages) else self._offset
        self._file.flush()
        self._file.seek(start)
        data = self._file.read(end - start)
        self._file.seek(0, 2)
        if self.release_pages:
            cast(Segment, self._file).release(start, end)
        return data

    @property
    def nbytes(self) -> int:
        """The bytes of the stored fragments."""
        return self._offset

    def page_span(self, index: int) -> tuple[int, int]:
        """The first and last record number on page ``index``."""
        first = self.pages[index][1]
        last = self.pages[index + 1][1] - 1 if index + 1 < len(self.pages) else self.count
        return first, last

    def close(self) -> None:
        """Remove the temporary file."""
        self._file.close()


# Value types a record may hold to be rendered in the child process: they
# pickle by value and unpickle there. Exact dict/list/str/int/float/... never
# reach the check; anything else (enums, attrs and dataclass objects, the
# caller's own classes) has the record rendered in the parent instead.
_PORTABLE = frozenset(
    {datetime, date, time, timedelta, timezone, Decimal, UUID, ZoneInfo, bytearray, complex}
)
# What those pickle by reference (their classes, and ZoneInfo's reduce helpers).
_PORTABLE_GLOBALS = frozenset({*_PORTABLE, getattr, ZoneInfo._unpickle})  # type: ignore[attr-defined]
_FRAME = struct.Struct(">cI")
# JSON lines are sent to the child in frames of about this many bytes.
_LINES_BATCH = 256 * 1024
_POLL = 0.005
# The child's counts of records rendered and records whose pages are packed,
# rewritten in place (see HtmlWorker.rendered).
_PROGRESS_FILE = "rendered.bin"
#: The child reports its count at least every this many records (a backlog read
#: in one chunk may hold many thousands), so the parent's progress moves smoothly.
_REPORT_EVERY = 512
_COUNT = struct.Struct("<QQ")
# The child's packed pages, one after another, and its events (see HtmlWorker.events).
_MEMBERS_FILE = "members.bin"
_EVENTS_FILE = "events.jsonl"
_FRAGMENTS_FILE = "fragments.bin"
# Which process packs which page (see formats._claims): one byte per member.
_CLAIMS_FILE = "claims.bin"
# How long a child that has published everything may take to clean up and exit.
_EXIT_GRACE = 10.0
_COPY_BLOCK = 1024 * 1024
# The child gives back its input's memory in steps of this many bytes.
_RELEASE_STEP = 4 * 1024 * 1024
# Threads that compress and hash the child's pages (see _Packer).
_PACK_THREADS = 2
_BUILTIN = type(getattr)


@attrs.frozen(kw_only=True)
class CategoryStart:
    """The child starts publishing a category's pages (see :meth:`HtmlWorker.events`)."""

    category: str


@attrs.frozen(kw_only=True)
class CategoryLayout:
    """Where a category's rendered records are in the child's fragments file.

    Published before the category's pages when the parent packs a share of
    them (see :meth:`HtmlWorker.start`); :meth:`HtmlWorker.attach` turns it
    into a spool to compose pages from. ``base`` is the claim number of the
    category's index page (see :meth:`HtmlWorker.claimer`).
    """

    category: str
    count: int
    offset: int
    pages: list[tuple[int, int]]
    extents: list[tuple[int, int]]
    base: int = 0


@attrs.frozen(kw_only=True)
class PackedPage:
    """One page (or a category's index page) packed by the child.

    ``name`` is relative to the category's folder; ``number`` is 0 for the
    index page and ``n`` for page ``n``.
    """

    name: str
    media_type: str
    packed: Packed
    number: int


@attrs.frozen(kw_only=True)
class CategoryEnd:
    """Every page of a category is published; ``count`` is its number of records."""

    category: str
    count: int


PackEvent = CategoryStart | CategoryLayout | PackedPage | CategoryEnd


@attrs.frozen(kw_only=True)
class PackedCategory:
    """One category of the HTML view as :class:`HtmlWorker`'s child packed it.

    Attributes:
        category: the category.
        count: its records.
        members: its index and pages, in order, as ``(name within the
            category's folder, media type, packed bytes)``.
    """

    category: str
    count: int
    members: list[tuple[str, str, Packed]]


class _Unportable(Exception):
    """A record holds a value the child process may not be able to rebuild."""


class _RecordPickler(pickle.Pickler):
    """Pickles plain records only (see ``_PORTABLE``)."""

    def reducer_override(self, obj: Any) -> Any:
        kind = type(obj)
        if kind in _PORTABLE or ((kind is type or kind is _BUILTIN) and obj in _PORTABLE_GLOBALS):
            return NotImplemented
        raise _Unportable


_FAITHFUL = frozenset({str, int, bool, type(None), datetime, date})
"""Types whose JSON spool form renders exactly as they do (see ``_faithful``)."""


def _faithful(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` renders the same from its ``data.json`` form.

    True for exact dicts with string keys and lists holding strings, integers,
    booleans, None, finite floats and dates (a datetime's ISO form, with
    naive ones written as UTC, is formatted as the datetime itself is). Bytes,
    decimals, tuples, enums, objects and anything else need the original.
    """
    if depth > _MAX_DEPTH:
        return False
    kind = type(value)
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                return False
            kind = type(item)
            if kind in _FAITHFUL:
                continue
            if kind is float:
                if item - item != 0:  # NaN and infinities are null in JSON
                    return False
            elif not _faithful(item, depth + 1):
                return False
        return True
    if kind is list:
        for item in value:
            kind = type(item)
            if kind in _FAITHFUL:
                continue
            if kind is float:
                if item - item != 0:
                    return False
            elif not _faithful(item, depth + 1):
                return False
        return True
    return False


class _RemoteSpool:
    """The parent's end of one category rendered by :class:`HtmlWorker`."""

    def __init__(self, worker: HtmlWorker, renderer: RecordRenderer) -> None:
        self._worker = worker
        self._renderer = renderer
        self.count = 0

    def faithful(self, record: Mapping[str, Any]) -> bool:
        """Whether the child may render ``record`` from its JSON spool line."""
        return _faithful(record)

    def add_json(self, line: bytes) -> None:
        """Send one record as its JSON spool line (``faithful`` said it may)."""
        self.count += 1
        self._worker.send_line(line)

    def add_rendered(self, fragment: bytes) -> None:
        """Send one record rendered here (as :meth:`HtmlSpool.page_records` gives it)."""
        self.count += 1
        self._worker.send(b"F", fragment)

    def add(self, record: Mapping[str, Any]) -> Mapping[str, Any]:
        """Send one record to the child; return it as the other members must see it."""
        self.count += 1
        worker = self._worker
        try:
            worker.send(b"R", worker.pickled(record))
            return record
        except (_Unportable, pickle.PicklingError, TypeError, AttributeError, ValueError):
            pass
        # Rendered here, in order with the records the child renders.
        try:
            fragment = self._renderer.render_bytes(self.count, record)
        except _OneShot:
            record = materialised(record)
            fragment = self._renderer.render_bytes(self.count, record)
        worker.send(b"F", fragment)
        return record

    def close(self) -> None:
        """Nothing to remove: the worker owns the files."""


class HtmlWorker:
    """Renders the HTML view's records in a child process while the caller spools.

    Rendering a record costs more than encoding it for ``data.json`` and the
    CSV table together, so the ZIP writer hands the records to
    ``python -m reasonkit_export.formats._html`` (a fresh interpreter) as it
    reads them: each goes into a file in a private temporary directory that
    the child follows (as its JSON line, in batches, or pickled), and the
    child renders each category's fragments there. The parent goes on with
    ``data.json``, the CSV tables and the PDF; the child then packs every
    page as the archive compresses it, and the parent copies each page in as
    it is published (:meth:`events`). Records holding a
    value the child cannot rebuild (an enum, an object of the caller's own
    classes) are rendered in the parent and sent as finished fragments, so the
    pages are the same either way. :meth:`start` returns None when no
    interpreter can be started (an embedded Python): render in place then.
    """

    def __init__(
        self,
        view: HtmlView,
        process: Any,
        folder: Path,
        directory: Any,
        *,
        cap: int | None = None,
    ) -> None:
        self._view = view
        self._process = process
        self._folder = folder
        self._dir = directory
        self._cap = cap
        # The child's input is a temporary file too: it is bounded like the spools.
        self._limit = spool_limit(cap)
        self._sent = 0
        self._lines = bytearray()  # JSON lines not sent yet (see send_line)
        # The child's progress (see rendered).
        self._progress = (folder / _PROGRESS_FILE).open("rb", buffering=0)
        # What the child has packed, one JSON line per event (see events).
        self._events = (folder / _EVENTS_FILE).open("rb", buffering=0)
        self._complete = False
        # Opened before the child starts (see start): the child writes the same
        # file and may remove its name once it is done; the pages are read here.
        self._fragments = SpoolFile(
            file=(folder / _FRAGMENTS_FILE).open("r+b", buffering=0), limit=None, aligned=True
        )
        self._claims = Claims((folder / _CLAIMS_FILE).open("r+b", buffering=0), child=False)
        self._packed: BinaryIO | None = None
        self._released = 0  # the packed members' memory is given back up to here
        self._out = (folder / "records.bin").open("wb", buffering=1024 * 1024)
        self._buffer = io.BytesIO()
        self._pickler = _RecordPickler(self._buffer, protocol=pickle.HIGHEST_PROTOCOL)
        self._categories = 0

    @classmethod
    def start(
        cls,
        view: HtmlView,
        *,
        cap: int | None = None,
        compresslevel: int = 6,
        share: bool = False,
    ) -> HtmlWorker | None:
        """Start the child for ``view``; None where no interpreter can be started.

        ``cap`` is the export's size cap: the child's input, its rendered
        fragments and each page are bounded by
        :func:`~reasonkit_export.formats._spool.spool_limit` of it.
        ``compresslevel`` is the archive's (0: stored): the child packs the
        pages as the archive would compress them. With ``share``, the
        child and this process both pack each category's members (its index
        page and pages): each member goes to whichever claims it first
        (:meth:`claimer`, :mod:`~reasonkit_export.formats._claims`). The
        child starts as soon as the input ends (:meth:`end_input`), while
        this process still writes the archive's other members; this process
        joins in when it is free, composing pages from the published
        :class:`CategoryLayout` while the child packs the next.
        """
        executable = sys.executable
        if not executable or "python" not in Path(executable).name.lower():
            return None
        directory = tempfile.TemporaryDirectory(prefix="reasonkit-html-")
        folder = Path(directory.name)
        with (folder / "job.pickle").open("wb") as handle:
            pickle.dump(
                (view.info, view._per_page, view._page_bytes, cap, compresslevel, share), handle
            )
        (folder / "records.bin").touch()
        (folder / _PROGRESS_FILE).touch()
        (folder / _EVENTS_FILE).touch()
        (folder / _FRAGMENTS_FILE).touch()
        (folder / _CLAIMS_FILE).touch()
        # Every file this process reads is open before the child starts (the
        # child may remove some once it is done with them).
        worker = cls(view, None, folder, directory, cap=cap)
        try:
            worker._process = subprocess.Popen(  # noqa: S603 - fixed arguments, no shell
                [executable, "-m", "reasonkit_export.formats._html", str(folder)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        except OSError:
            worker._close_files()
            return None
        return worker

    def spool(self, category: str) -> _RemoteSpool:
        """The spool of the next category."""
        self._categories += 1
        self.send(b"C", utf8(category))
        return _RemoteSpool(self, RecordRenderer(self._view.presenter, category))

    def pickled(self, record: Mapping[str, Any]) -> bytes:
        """``record`` pickled for the child (raises when it holds anything else)."""
        buffer = self._buffer
        try:
            self._pickler.dump(record)
            return buffer.getvalue()
        except BaseException:
            self._pickler = _RecordPickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
            raise
        finally:
            self._pickler.clear_memo()
            buffer.seek(0)
            buffer.truncate()

    def send(self, kind: bytes, payload: bytes) -> None:
        """Append one frame to the child's input (after the JSON lines gathered so far).

        Raises:
            FileTooLarge: the input would pass its bound (see :meth:`start`).
        """
        self._send_lines()
        self._charge(_FRAME.size + len(payload))
        self._out.write(_FRAME.pack(kind, len(payload)) + payload)

    def _progress_count(self) -> tuple[int, int]:
        try:
            data = os.pread(self._progress.fileno(), _COUNT.size, 0)
        except (OSError, ValueError):
            return (0, 0)
        return _COUNT.unpack(data) if len(data) == _COUNT.size else (0, 0)

    def send_line(self, line: bytes) -> None:
        """Send one record as its JSON line (no raw line break in it, as spools store them).

        Lines travel in batches (one ``B`` frame of lines, each ended by a
        line break), so the child handles one frame per few hundred records.

        Raises:
            FileTooLarge: the input would pass its bound (see :meth:`start`).
        """
        lines = self._lines
        self._charge(len(line) + 1 + (0 if lines else _FRAME.size))
        lines += line
        lines += b"\n"
        if len(lines) >= _LINES_BATCH:
            self._send_lines()

    def _send_lines(self) -> None:
        lines = self._lines
        if lines:
            self._out.write(_FRAME.pack(b"B", len(lines)) + lines)
            lines.clear()

    def _charge(self, size: int) -> None:
        if self._limit is not None and self._sent + size > self._limit:
            raise FileTooLarge(self._cap or self._limit, uncompressed=self._limit)
        self._sent += size

    def rendered(self) -> int:
        """Records the child has rendered plus records whose pages it has packed.

        Each record counts twice when the child is done: once rendered, once
        on a packed page (it reports every 512 records and every page).
        """
        return sum(self._progress_count())

    def end_input(self) -> None:
        """Tell the child every record is sent, so it packs the pages while this process works on.

        :meth:`events` does it too; calling it as soon as the last record is
        sent lets the child pack while this process writes the other members.
        """
        if not self._out.closed:
            self.send(b"E", b"")
            self._out.close()

    def events(self, *, heartbeat: Callable[[], None] | None = None) -> Iterator[PackEvent]:
        """End the input and follow the child's packed pages as it publishes them.

        Yields, in order, per category a :class:`CategoryStart`, with a
        share of the pages to pack here (see :meth:`start`) a
        :class:`CategoryLayout`, the members the child packed
        (:class:`PackedPage`: read their bytes with :meth:`chunks` at once,
        while the child packs the next) and a :class:`CategoryEnd`. Copying
        a page into the archive so overlaps with packing the next.

        Args:
            heartbeat: called about every quarter second while the child
                still works (progress; it may raise to stop waiting).

        Raises:
            ProcessingError: the child failed.
            FileTooLarge: the rendered records or a page passed their bound.
        """
        self.end_input()
        fd = self._events.fileno()
        offset = 0
        pending = b""
        beat = monotonic()
        while True:
            if heartbeat is not None and monotonic() - beat >= _base.CHILD_HEARTBEAT:
                heartbeat()
                beat = monotonic()
            data = os.pread(fd, 1 << 16, offset)
            if not data:
                code = self._process.poll()
                if code is not None and not os.pread(fd, 1, offset):
                    raise ProcessingError(f"the HTML view could not be rendered (exit code {code})")
                if code is None:
                    sleep(_POLL)
                continue
            offset += len(data)
            *lines, pending = (pending + data).split(b"\n")
            for line in lines:
                event = json.loads(line)
                kind = event[0]
                if kind == "M":
                    if self._packed is None:
                        self._packed = (self._folder / _MEMBERS_FILE).open("r+b", buffering=0)
                    yield PackedPage(
                        name=event[1],
                        media_type=event[2],
                        packed=Packed(**event[3]),
                        number=event[4],
                    )
                elif kind == "L":
                    state = event[2]
                    yield CategoryLayout(
                        category=event[1],
                        count=state["count"],
                        offset=state["offset"],
                        pages=[(offset, first) for offset, first in state["pages"]],
                        extents=[(offset, length) for offset, length in state["extents"]],
                        base=state["base"],
                    )
                elif kind == "C":
                    yield CategoryStart(category=event[1])
                elif kind == "D":
                    yield CategoryEnd(category=event[1], count=event[2])
                elif kind == "X":
                    # The child stopped at the bound of its fragments file or of a page.
                    raise FileTooLarge(self._cap or event[1], uncompressed=event[1])
                else:
                    self._complete = True
                    return

    def finish(self, *, heartbeat: Callable[[], None] | None = None) -> list[PackedCategory]:
        """:meth:`events` gathered: every category's packed pages, in category order."""
        categories: list[PackedCategory] = []
        members: list[tuple[str, str, Packed]] = []
        for event in self.events(heartbeat=heartbeat):
            if isinstance(event, PackedPage):
                members.append((event.name, event.media_type, event.packed))
            elif isinstance(event, CategoryEnd):
                categories.append(
                    PackedCategory(category=event.category, count=event.count, members=members)
                )
                members = []
        return categories

    def attach(self, layout: CategoryLayout) -> HtmlSpool:
        """A spool over a category's rendered records in the child's fragments file.

        Each of its pages may be read once (its memory is given back after).
        """
        spool = HtmlSpool.attach(
            cast(BinaryIO, self._fragments.segment(layout.extents)),
            count=layout.count,
            offset=layout.offset,
            pages=layout.pages,
        )
        spool.release_pages = True
        return spool

    def claimer(self, layout: CategoryLayout) -> Callable[[int], bool]:
        """Whether this process packs member ``number`` of the category (claimed here)."""
        return _claimer(self._claims, layout.base)

    def chunks(self, packed: Packed) -> Iterator[bytes]:
        """The stored bytes of one packed member (from :meth:`events`), in blocks."""
        assert self._packed is not None
        fd = self._packed.fileno()
        position, end = packed.offset, packed.offset + packed.compressed
        while position < end:
            chunk = os.pread(fd, min(_COPY_BLOCK, end - position), position)
            if not chunk:
                raise ProcessingError("the HTML view's packed pages are incomplete")
            position += len(chunk)
            yield chunk
        # Copied: read for good. The members are copied in the order they are
        # stored, so everything before ``end`` is; its memory is given back
        # in steps (one call per small page cost more than the copy itself).
        if end - self._released >= _RELEASE_STEP:
            release(fd, self._released, end)
            self._released = end - end % 4096  # the block holding ``end`` next time

    def close(self) -> None:
        """Stop the child if it still runs and remove its files."""
        if self._complete:
            # Done: it only removes its temporary files before it exits.
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=_EXIT_GRACE)
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._close_files()

    def _close_files(self) -> None:
        """Close this process's files of the child's folder and remove the folder."""
        if not self._out.closed:
            self._out.close()
        if self._packed is not None:
            self._packed.close()
        self._fragments.close()
        self._claims.close()
        self._progress.close()
        self._events.close()
        self._dir.cleanup()


def _render_folder(folder: str) -> None:
    """The child process of :class:`HtmlWorker`: render ``folder``'s records, pack the pages."""
    root = Path(folder)
    parent = os.getppid()
    with (root / "job.pickle").open("rb") as handle:
        # Written by the parent into its own private temporary directory.
        info, per_page, page_bytes, cap, level, share = pickle.load(handle)  # noqa: S301
    view = HtmlView(info, records_per_page=per_page, page_bytes=page_bytes)
    loads: Callable[[bytes], Any]
    try:
        from orjson import loads
    except ImportError:
        loads = json.loads

    spools: list[HtmlSpool] = []
    categories: list[str] = []
    # Every category's fragments go into one file (see formats._spool), so the
    # child, like the parent, holds a fixed number of open files.
    fragments = SpoolFile(
        cap=cap, file=(root / _FRAGMENTS_FILE).open("w+b", buffering=0), aligned=True
    )
    with (root / _EVENTS_FILE).open("ab", buffering=0) as events:

        def publish(*event: Any) -> None:
            events.write(json.dumps(event).encode() + b"\n")

        try:
            rendered = _follow(
                root,
                parent=parent,
                view=view,
                fragments=fragments,
                spools=spools,
                categories=categories,
                per_page=per_page,
                page_bytes=page_bytes,
                loads=loads,
            )
            # Read in full: its disk space is freed while the pages are packed.
            (root / "records.bin").unlink(missing_ok=True)
            _pack(
                root,
                view,
                spools,
                categories,
                rendered=rendered,
                cap=cap,
                level=level,
                share=share,
                parent=parent,
                publish=publish,
            )
        except FileTooLarge as exc:
            publish("X", exc.uncompressed)
        finally:
            for spool in spools:
                spool.close()
            fragments.close()
            (root / _FRAGMENTS_FILE).unlink(missing_ok=True)


def _pack(
    root: Path,
    view: HtmlView,
    spools: list[HtmlSpool],
    categories: list[str],
    *,
    rendered: int,
    cap: int | None,
    level: int,
    share: bool,
    parent: int,
    publish: Callable[..., None],
) -> None:
    """Pack every category's index and pages, compressed as the archive would, into one file.

    Each is published (see :meth:`HtmlWorker.events`) as soon as its bytes are
    in the file; the last event, ``E``, says everything is. With ``share``,
    the category's layout is published first, and only the members this
    process claims are packed here; the parent packs the others.
    """
    paged = 0
    base = 0  # the claim number of the category's index page
    with (
        ExitStack() as stack,
        (root / _MEMBERS_FILE).open("wb", buffering=1024 * 1024) as out,
        (root / _PROGRESS_FILE).open("r+b", buffering=0) as progress,
    ):
        packer = _Packer(out, cap=cap, level=level, publish=publish)
        stack.callback(packer.close)
        claims = None
        if share:
            claims = Claims((root / _CLAIMS_FILE).open("r+b", buffering=0), child=True)
            stack.callback(claims.close)
        for category, spool in zip(categories, spools, strict=True):

            def on_page(last: int, done: int = paged) -> None:
                os.pwrite(progress.fileno(), _COUNT.pack(rendered, done + last), 0)
                if os.getppid() != parent:
                    raise SystemExit(3)  # the parent is gone: nobody will copy the pages

            publish("C", category)
            spool.release_pages = True
            only = None
            if claims is not None:
                segment = cast(Any, spool._file)
                state = {**spool.state(), "extents": segment.extents, "base": base}
                publish("L", category, state)
                only = _claimer(claims, base)
                base += max(len(spool.pages), 1) + 1  # the index page and every page
            view.write_category(packer, category, spool, "", on_page=on_page, only=only)
            packer.drain()
            paged += spool.count
            publish("D", category, spool.count)
    publish("E")


def _claimer(claims: Claims, base: int) -> Callable[[int], bool]:
    return lambda number: claims.claim(base + number)


class _Packer:
    """The child's stand-in for the archive: members are packed into a file (see ``pack``).

    A page is gathered in memory (it is bounded by the page size), then
    compressed and hashed on a pool of threads (deflate and SHA-256 release
    the GIL: the parent only waits now, so the second core is free) while
    the next page is composed; members reach the file in order.
    """

    def __init__(
        self, out: BinaryIO, *, cap: int | None, level: int, publish: Callable[..., None]
    ) -> None:
        self._out = out
        self._publish = publish
        self._offset = 0
        self._cap = cap
        self._limit = spool_limit(cap)
        self._level = max(level, 1)
        self._compress = level > 0
        self._pool = ThreadPoolExecutor(max_workers=_PACK_THREADS)
        self._pending: deque[tuple[str, str, int, Future[tuple[Packed, bytes]]]] = deque()

    @contextmanager
    def member(self, name: str, media_type: str, *, index: int = 0, **_: Any) -> Iterator[Any]:
        """Pack member number ``index`` of its category; it is published when done."""
        writes = _Bounded(self._limit, self._cap)
        yield writes
        future = self._pool.submit(self._pack, writes.parts)
        self._pending.append((name, media_type, index, future))
        while len(self._pending) > _PACK_THREADS:
            self._store()

    def _pack(self, parts: list[bytes]) -> tuple[Packed, bytes]:
        return pack(parts, level=self._level, compress=self._compress)

    def _store(self) -> None:
        name, media_type, index, future = self._pending.popleft()
        packed, data = future.result()
        self._out.write(data)
        self._out.flush()  # in the file before the parent hears of it
        stored = attrs.asdict(attrs.evolve(packed, offset=self._offset))
        self._publish("M", name, media_type, stored, index)
        self._offset += len(data)

    def drain(self) -> None:
        """Store and publish every member still being packed."""
        while self._pending:
            self._store()

    def close(self) -> None:
        """Stop the threads (after :meth:`take`, or after a failure)."""
        self._pool.shutdown(wait=True, cancel_futures=True)


class _Bounded:
    """A packed member's writes, bounded like an archive member (FileTooLarge past the limit)."""

    def __init__(self, limit: int | None, cap: int | None) -> None:
        self.parts: list[bytes] = []
        self._limit = limit
        self._cap = cap
        self._taken = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Take all of ``data``."""
        if self._limit is not None:
            self._taken += len(data)
            if self._taken > self._limit:
                raise FileTooLarge(self._cap or self._limit, uncompressed=self._limit)
        self.parts.append(bytes(data))
        return len(data)


def _follow(
    root: Path,
    *,
    parent: int,
    view: HtmlView,
    fragments: SpoolFile,
    spools: list[HtmlSpool],
    categories: list[str],
    per_page: int,
    page_bytes: int,
    loads: Callable[[bytes], Any],
) -> int:
    """Read the parent's frames as they arrive and render them into ``fragments``.

    Returns the number of records rendered.
    """
    spool: HtmlSpool | None = None
    pending = bytearray()
    done = False
    rendered = 0  # records rendered so far, reported to the parent's progress
    consumed = released = 0  # bytes of the input read, and given back (see formats._holes)
    with (
        (root / "records.bin").open("r+b", buffering=0) as source,
        (root / _PROGRESS_FILE).open("wb", buffering=0) as progress,
    ):

        def report() -> None:
            os.pwrite(progress.fileno(), _COUNT.pack(rendered, 0), 0)

        while not done:
            chunk = source.read(1024 * 1024)
            report()  # once per chunk read, and every _REPORT_EVERY records below
            if not chunk:
                if os.getppid() != parent:
                    raise SystemExit(3)  # the parent is gone: nobody will read the result
                sleep(_POLL)
                continue
            pending += chunk
            consumed += len(chunk)
            if consumed - released >= _RELEASE_STEP:
                # Copied into ``pending``: the file's pages can go.
                release(source.fileno(), released, consumed)
                released = consumed
            position = 0
            while len(pending) - position >= _FRAME.size:
                kind, size = _FRAME.unpack_from(pending, position)
                end = position + _FRAME.size + size
                if end > len(pending):
                    break
                payload = memoryview(pending)[position + _FRAME.size : end]
                added = 1
                if kind == b"B":
                    assert spool is not None
                    added = spool.add_lines(bytes(payload), loads)
                elif kind == b"R":
                    assert spool is not None
                    spool.add(pickle.loads(payload))  # noqa: S301 - written by the parent
                elif kind == b"F":
                    assert spool is not None
                    spool.add_fragment(bytes(payload))
                elif kind == b"C":
                    if spool is not None:
                        spool.seal()
                    category = bytes(payload).decode("utf-8")
                    categories.append(category)
                    spool = HtmlSpool(
                        RecordRenderer(view.presenter, category),
                        records_per_page=per_page,
                        page_bytes=page_bytes,
                        file=cast(BinaryIO, fragments.segment()),
                        page_writes=True,
                    )
                    spools.append(spool)
                else:
                    done = True
                payload.release()
                position = end
                if kind in b"BRF":
                    before = rendered
                    rendered += added
                    if rendered // _REPORT_EVERY != before // _REPORT_EVERY:
                        report()
                if done:
                    break
            del pending[:position]
        if spool is not None:
            spool.seal()
        report()
    return rendered


class HtmlView:
    """Renders an export's offline HTML view into ZIP members.

    Args:
        info: the export.
        records_per_page: the most records a page file holds.
        page_bytes: a page also ends before its records pass this size.
    """

    def __init__(
        self,
        info: ExportInfo,
        *,
        records_per_page: int = RECORDS_PER_PAGE,
        page_bytes: int = PAGE_BYTES,
    ) -> None:
        self.info = info
        self.presenter = Presenter.for_export(
            locale=info.locale, timezone=info.timezone, descriptions=info.descriptions
        )
        self.msg = self.presenter.messages
        self._per_page = records_per_page
        self._page_bytes = page_bytes

    def spool(self, category: str, *, file: Any = None) -> HtmlSpool:
        """A new spool for ``category``'s records (the caller closes it).

        ``file`` is where its fragments go (see :class:`HtmlSpool`).
        """
        return HtmlSpool(
            RecordRenderer(self.presenter, category),
            records_per_page=self._per_page,
            page_bytes=self._page_bytes,
            file=file,
        )

    # ------------------------------------------------------------------ pages

    def _page(self, title: str, body: Iterable[str | bytes], sink: BinaryIO) -> None:
        lang = escape(self.presenter.locale)
        head = (
            f'<!DOCTYPE html>\n<html lang="{lang}" dir="ltr">\n<head>\n<meta charset="utf-8">\n'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
            '<meta name="referrer" content="no-referrer">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        )
        sink.write(utf8(head))
        for part in body:
            sink.write(part if isinstance(part, bytes) else utf8(part))
        sink.write(b"\n</body>\n</html>\n")

    def write_category(
        self,
        archive: Any,
        category: str,
        spool: HtmlSpool,
        directory: str,
        *,
        media_type: str = HTML_MEDIA_TYPE,
        on_page: Callable[[int], None] | None = None,
        only: Callable[[int], bool] | None = None,
    ) -> list[str]:
        """Write a category's page index and pages; return the member names.

        ``on_page`` is called after each page with the number of its last
        record. With ``only``, just the members whose number (0 the index,
        ``n`` page ``n``) it accepts are written, each opened with that
        number as ``index`` (see :class:`HtmlWorker`: two processes share
        the pages).
        """
        title = self.presenter.category_title(category)
        export_title = self.msg("report.title")
        pages = max(len(spool.pages), 1)
        names = []

        def member(name: str, number: int) -> Any:
            if only is None:
                return archive.member(name, media_type, category=category)
            return archive.member(name, media_type, category=category, index=number)

        index_name = f"{directory}index.html"
        if only is None or only(0):
            with member(index_name, 0) as sink:
                self._page(
                    f"{title} – {export_title}",
                    self._category_index(title, category, spool, pages),
                    sink,
                )
        names.append(index_name)
        for page in range(pages):
            name = f"{directory}page-{page + 1}.html"
            if only is None or only(page + 1):
                with member(name, page + 1) as sink:
                    heading = self.msg("report.page", page=page + 1, pages=pages)
                    self._page(
                        f"{title} – {heading} – {export_title}",
                        self._category_page(title, category, spool, page, pages),
                        sink,
                    )
            names.append(name)
            if on_page is not None:
                on_page(spool.page_span(page)[1] if spool.count else 0)
        return names

    def _crumbs(self, *trail: tuple[str, str | None]) -> str:
        items = []
        for text, href in trail:
            if href is None:
                items.append(f'<span aria-current="page">{escape(text)}</span>')
            else:
                items.append(f'<a href="{href}">{escape(text)}</a>')
        label = escape(self.msg("html.breadcrumbs"))
        return (
            f'<header><nav aria-label="{label}"><p class="crumbs">'
            + " › ".join(items)
            + "</p></nav></header>\n"
        )

    def _records_text(self, count: int) -> str:
        key = "report.record_count.one" if count == 1 else "report.record_count.other"
        return self.msg(key, count=self.presenter.integer(count))

    def _category_index(
        self, title: str, category: str, spool: HtmlSpool, pages: int
    ) -> Iterator[str]:
        yield self._crumbs(
            (self.msg("report.title"), "../../index.html"),
            (title, None),
        )
        yield f'<main id="main">\n<h1 dir="auto">{escape(title)}</h1>\n'
        count_text = self._records_text(spool.count)
        yield f'<p class="lead">{escape(count_text)}</p>\n'
        yield from self._about(category, level=2)
        yield f"<h2>{escape(self.msg('html.pages'))}</h2>\n"
        if not spool.count:
            yield f'<p class="empty">{escape(self.msg("report.no_records"))}</p>\n'
            yield f'<p><a href="page-1.html">{escape(self.msg("html.open_page", page=1))}</a></p>\n'
        else:
            yield '<ol class="pages">\n'
            for page in range(pages):
                first, last = spool.page_span(page)
                text = self.msg(
                    "html.page_range",
                    first=self.presenter.integer(first),
                    last=self.presenter.integer(last),
                )
                yield f'<li><a href="page-{page + 1}.html">{escape(text)}</a></li>\n'
            yield "</ol>\n"
        yield "</main>\n"

    def _pager(self, page: int, pages: int) -> str:
        """First/previous, a window of page numbers, next/last, and the page index."""
        msg = self.msg
        label = escape(msg("html.pagination"))

        def link(target: int, text: str, rel: str = "") -> str:
            current = ' aria-current="page"' if target == page else ""
            rel_attr = f' rel="{rel}"' if rel else ""
            return (
                f'<li><a href="page-{target + 1}.html"{rel_attr}{current}>{escape(text)}</a></li>'
            )

        def disabled(text: str) -> str:
            return f'<li><span aria-disabled="true">{escape(text)}</span></li>'

        items = []
        if page > 0:
            items += [link(0, msg("html.first")), link(page - 1, msg("html.previous"), "prev")]
        else:
            items += [disabled(msg("html.first")), disabled(msg("html.previous"))]
        low, high = max(0, page - _NAV_WINDOW), min(pages - 1, page + _NAV_WINDOW)
        for target in range(low, high + 1):
            items.append(link(target, self.presenter.integer(target + 1)))
        if page < pages - 1:
            items += [link(page + 1, msg("html.next"), "next"), link(pages - 1, msg("html.last"))]
        else:
            items += [disabled(msg("html.next")), disabled(msg("html.last"))]
        items.append(f'<li><a href="index.html">{escape(msg("html.all_pages"))}</a></li>')
        return f'<nav class="pager" aria-label="{label}"><ul>' + "".join(items) + "</ul></nav>\n"

    def _category_page(
        self, title: str, category: str, spool: HtmlSpool, page: int, pages: int
    ) -> Iterator[str | bytes]:
        heading = self.msg(
            "report.page",
            page=self.presenter.integer(page + 1),
            pages=self.presenter.integer(pages),
        )
        yield self._crumbs(
            (self.msg("report.title"), "../../index.html"),
            (title, "index.html"),
            (heading, None),
        )
        yield f'<main id="main">\n<h1 dir="auto">{escape(title)}</h1>\n'
        if not spool.count:
            yield f'<p class="empty">{escape(self.msg("report.no_records"))}</p>\n</main>\n'
            return
        first, last = spool.page_span(page)
        lead = self.msg(
            "html.showing",
            first=self.presenter.integer(first),
            last=self.presenter.integer(last),
            count=self.presenter.integer(spool.count),
            page=self.presenter.integer(page + 1),
            pages=self.presenter.integer(pages),
        )
        if pages == 1:
            lead = self._records_text(spool.count)
        yield f'<p class="lead">{escape(lead)}</p>\n'
        pager = self._pager(page, pages) if pages > 1 else ""
        yield pager
        yield spool.page_bytes(page)
        yield pager
        yield "</main>\n"

    # ------------------------------------------------------------------ index

    def write_index(
        self,
        archive: Any,
        name: str,
        categories: list[tuple[str, str, int]],
        files: list[tuple[str, str]],
    ) -> None:
        """Write ``index.html``: ``categories`` as (category, directory, count)."""
        with archive.member(name, HTML_MEDIA_TYPE) as member:
            self._page(self.msg("report.title"), self._index(categories, files), member)

    def _index(
        self, categories: list[tuple[str, str, int]], files: list[tuple[str, str]]
    ) -> Iterator[str]:
        info, msg, present = self.info, self.msg, self.presenter
        yield f'<main id="main">\n<h1>{escape(msg("report.title"))}</h1>\n'
        yield f'<p class="lead">{escape(msg("html.intro"))}</p>\n'
        facts = [
            (msg("report.user"), info.user_id),
            (msg("report.generated"), present.timestamp(info.generated_at)),
            (msg("html.timezone"), present.zone_label(info.generated_at)),
            (msg("report.export_id"), str(info.export_id)),
        ]
        yield '<dl class="facts">\n'
        for label, text in facts:
            yield f'<dt>{escape(label)}</dt><dd dir="auto">{escape(text)}</dd>\n'
        yield "</dl>\n"
        for sentence in window_sentences(msg, info):
            yield f'<p class="note">{escape(sentence)}</p>\n'
        redacted = sum(info.stats.redacted.values())
        if redacted:
            text = msg("readme.redacted", count=present.integer(redacted))
            yield f'<p class="note">{escape(text)}</p>\n'
        yield f"<h2>{escape(msg('report.categories'))}</h2>\n"
        if not categories:
            yield f'<p class="empty">{escape(msg("report.no_categories"))}</p>\n'
        else:
            yield (
                f'<table class="cats"><thead><tr><th scope="col">{escape(msg("html.category"))}'
                f'</th><th scope="col">{escape(msg("report.records"))}</th></tr></thead><tbody>\n'
            )
            for category, directory, count in categories:
                title = present.category_title(category)
                href = quote(f"{directory}index.html")
                yield (
                    f'<tr><td dir="auto"><a href="{href}">{escape(title)}</a></td>'
                    f'<td class="num">{escape(present.integer(count))}</td></tr>\n'
                )
            yield "</tbody></table>\n"
        described = [c for c, _, _ in categories if about_lines(msg, info.about.get(c) or {})]
        if described:
            yield f"<h2>{escape(msg('report.about'))}</h2>\n"
            for category in described:
                yield f'<h3 dir="auto">{escape(present.category_title(category))}</h3>\n'
                yield from self._about_list(category)
        if info.controller:
            yield f"<h2>{escape(msg('readme.controller').rstrip(':'))}</h2>\n"
            yield '<dl class="facts">\n'
            for label, text in controller_lines(msg, info.controller):
                yield f'<dt>{escape(label)}</dt><dd dir="auto">{escape(text)}</dd>\n'
            yield "</dl>\n"
        yield f"<h2>{escape(msg('html.files'))}</h2>\n"
        yield f"<p>{escape(msg('html.files_intro'))}</p>\n<ul>\n"
        for file_name, text in files:
            yield f"<li><code>{escape(file_name)}</code> – {escape(text)}</li>\n"
        yield "</ul>\n</main>\n"
        yield f"<footer><p>{escape(info.generator)}</p></footer>\n"

    def _about(self, category: str, *, level: int) -> Iterator[str]:
        if about_lines(self.msg, self.info.about.get(category) or {}):
            yield f"<h{level}>{escape(self.msg('report.about'))}</h{level}>\n"
            yield from self._about_list(category)

    def _about_list(self, category: str) -> Iterator[str]:
        about = self.info.about.get(category) or {}
        lines = about_lines(self.msg, about)
        if lines:
            yield '<dl class="facts">\n'
            for label, text in lines:
                yield f'<dt>{escape(label)}</dt><dd dir="auto">{escape(text)}</dd>\n'
            yield "</dl>\n"


def category_directory(archive: Any, stem: str) -> str:
    """A directory ``html/<stem>/`` not used by another category (ignoring case)."""
    return str(archive.unique_name("html/", stem, "/"))


if __name__ == "__main__":
    _render_folder(sys.argv[1])
    # Everything is published and every file closed: skip the interpreter's
    # shutdown, tens of milliseconds that the exporting process waits for.
    os._exit(0)
