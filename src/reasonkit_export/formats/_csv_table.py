"""CSV tables: one spreadsheet-safe table per category, below every writer.

The CSV writer (:mod:`reasonkit_export.formats._csv`) and the ZIP writer both
build their tables here, so neither imports the other for them.

Every table is UTF-8 (with a byte order mark by default, so spreadsheet
programs detect the encoding), RFC 4180 quoted exactly as :func:`csv.writer`
quotes with ``QUOTE_MINIMAL`` (see :func:`encode_row`), with CRLF line ends.
Rows are the category's records in source order; the header row is the union
of the records' columns in first-seen order. The data source is read once:
rows are spooled to a temporary file while the columns are collected, then
written out behind the header (see :class:`CsvTable`).

Cells (after :func:`reasonkit_export._encoding.to_json_value`, so datetimes are
already ISO 8601 strings, and so on; finite decimals are numbers here):

=========================  ====================================================
value                      cell
=========================  ====================================================
``None`` / missing key     empty (the two are indistinguishable in CSV; the JSON
                           format keeps the difference)
``True`` / ``False``       ``true`` / ``false``
int / float                the JSON number (``-5``, ``0.1``, ``1e+100``); NaN and
                           infinities are empty, as their JSON ``null`` is;
                           integers beyond ±(2^53 - 1) are text (``'`` first
                           when neutralising) so spreadsheets keep every digit
``Decimal`` (finite)       its exact digits as a number (``-12.50``); NaN and
                           infinities are their JSON text
text                       the text (neutralised, see below)
list, ``{}``               compact JSON (``["a",1]``, ``{}``); never a Python repr
non-empty mapping          flattened into dotted columns (see
                           :func:`flatten_record`)
=========================  ====================================================

Formula injection (OWASP "CSV Injection"): with ``neutralize_formulas`` (the
default) every *text* cell, header cells included, that starts with ``=``,
``+``, ``-``, ``@``, tab, carriage return or line feed gets a leading
apostrophe (``=1+1`` is written as ``'=1+1``), which spreadsheet programs show
as text instead of evaluating; so does text that starts with one of
``= + - @`` after leading whitespace (any Unicode space) or with their
full-width (``＝ ＋ － ＠``) or small-form (``﹦ ﹢ ﹣ ﹫``) look-alikes (see
:func:`is_formula`). Numbers are written as numbers and never altered, so
the int ``-5`` and the Decimal ``-12.50`` stay numbers a spreadsheet can sum,
while the *text* ``"-5"`` becomes ``'-5``. Lists and
mappings are JSON text starting with ``[`` or ``{``, never a trigger.
``neutralize_formulas=False`` writes every cell verbatim, for hosts whose
readers are programs, not spreadsheets.

A table without columns (no records, or only empty ones) still has a header
row: the category's declared fields or :data:`EMPTY_TABLE_COLUMN`.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, BinaryIO, cast

from reasonkit_export._closing import Closing
from reasonkit_export._encoding import to_json_value, utf8
from reasonkit_export.formats._base import ExportInfo

__all__ = [
    "CSV_MEDIA_TYPE",
    "EMPTY_TABLE_COLUMN",
    "CsvTable",
    "declared_fields",
    "encode_row",
    "flatten_record",
    "is_formula",
    "neutralize_cell",
    "write_csv_table",
]

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
_BOM = "\ufeff".encode()
# Pending rows are joined and encoded every 64K characters: text with any
# character beyond U+FFFF is held 4 bytes a character, and a join much larger
# than the CPU's cache costs 0.4-0.8 us a row more (``python -m bench.spool``).
_FLUSH_AT = 64 * 1024
_SPOOL_BUFFER = 1024 * 1024
_MAX_LAYOUTS = 1024
_COPY_CHUNK = 1024 * 1024
# OWASP's list of leading characters that make a spreadsheet treat a cell as a
# formula (or shift it into one), plus line feed.
_FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")
# Characters a spreadsheet evaluates like = + - @ once leading whitespace is
# skipped: the ASCII ones and their full-width and small-form look-alikes.
_FORMULA_STARTS = (
    "=", "+", "-", "@",
    "\uff1d", "\uff0b", "\uff0d", "\uff20",  # ＝ ＋ － ＠ (full width)
    "\ufe66", "\ufe62", "\ufe63", "\ufe6b",  # ﹦ ﹢ ﹣ ﹫ (small forms)
)  # fmt: skip
_WHITESPACE = tuple(c for c in map(chr, range(0x3001)) if c.isspace())
# A cheap first test for the hot loop: every text that may need the apostrophe
# (neutralize_cell decides)
# starts with one of these (a set lookup of the first character is cheaper
# than startswith over 41 prefixes).
_MAYBE_FORMULA = frozenset(_FORMULA_TRIGGERS + _FORMULA_STARTS + _WHITESPACE)
# Integers a spreadsheet (15 digits) or JavaScript (doubles) cannot hold
# exactly: beyond Number.MAX_SAFE_INTEGER they are written as text.
_MAX_SAFE_INTEGER = 2**53 - 1
EMPTY_TABLE_COLUMN = "no_records"
"""The header of an empty table whose category declares no fields."""


def _needs_quotes(text: str) -> bool:
    """Whether RFC 4180 needs the field quoted."""
    # Four substring scans run at memchr speed: 20x faster than one regex search.
    return "," in text or '"' in text or "\n" in text or "\r" in text


# Values whose JSON form is the value itself (floats aside: NaN and infinity are null).
_PLAIN = frozenset({str, int, bool, type(None)})
_json_compact = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def _plain_list_encoder() -> Callable[[Any], str]:
    """Compact JSON for lists of plain scalars (str, int, bool, None): orjson if installed.

    For those types orjson and the json module write the same text, and the
    lists of tags and ids that records carry are a hot spot of CSV exports.
    """
    try:
        import orjson
    except ImportError:
        return _json_compact
    dumps = orjson.dumps

    def encode(value: Any) -> str:
        try:
            text: str = dumps(value).decode()
        except (TypeError, orjson.JSONEncodeError):  # e.g. integers beyond 64 bits
            return _json_compact(value)
        return text

    return encode


_plain_list = _plain_list_encoder()


def flatten_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """Flatten nested mappings of one JSON-model record into dotted column names.

    ``{"meta": {"model": "m1"}}`` becomes ``{"meta.model": "m1"}``, recursively.
    Lists, empty mappings and scalars stay values of their column. A key that
    itself contains a dot is kept as it is.

    Collisions are resolved per mapping, deterministically and without losing
    data: a non-empty nested mapping under key ``k`` is expanded into
    ``k.<sub-column>`` columns only if none of them equals a key of the same
    mapping or a column already produced by an earlier key (in record order);
    otherwise the nested mapping is kept whole under ``k`` (and written as
    compact JSON). So ``{"a.b": 1, "a": {"b": 2}}`` flattens to
    ``{"a.b": 1, "a": {"b": 2}}`` (cells ``1`` and ``{"b":2}``), whatever the
    key order. The rule looks at one record only, so the same record always
    gives the same columns. Column order follows key order, expanded columns
    taking their key's place.

    This is the reference definition; the CSV writer computes the same in a
    single faster walk over the raw record.

    Args:
        record: a record already in the JSON data model (as returned by
            :func:`~reasonkit_export._encoding.to_json_value`).

    Returns:
        A new flat dict.
    """
    for value in record.values():
        if type(value) is dict and value:
            break
    else:
        return dict(record)
    flat: dict[str, Any] = {}
    for key, value in record.items():
        if type(value) is dict and value:
            sub = flatten_record(value)
            expanded = {f"{key}.{column}": cell for column, cell in sub.items()}
            # A key of this mapping always owns its own name, so falling back to
            # it can never clash; an expansion must avoid every name taken.
            if any(column in record or column in flat for column in expanded):
                flat[key] = value
            else:
                flat.update(expanded)
        else:
            flat[key] = value
    return flat


def is_formula(text: str) -> bool:
    """Whether a spreadsheet could evaluate ``text`` (or shift it into a formula).

    True when it starts with tab, CR or LF, or when, after any leading
    whitespace, it starts with ``=``, ``+``, ``-``, ``@`` or one of their
    full-width (``＝ ＋ － ＠``) or small-form look-alikes.
    """
    if text.startswith(_FORMULA_TRIGGERS):
        return True
    return text.lstrip().startswith(_FORMULA_STARTS)


def neutralize_cell(text: str) -> str:
    """Return ``text`` with a leading ``'`` if a spreadsheet could run it as a formula."""
    return "'" + text if text[:1] in _MAYBE_FORMULA and is_formula(text) else text


def _integer(value: int, neutralize_formulas: bool) -> str:
    """An int's cell: its digits, as text (``'`` first) beyond the safe range if neutralising."""
    text = int.__repr__(value)
    if neutralize_formulas and not -_MAX_SAFE_INTEGER <= value <= _MAX_SAFE_INTEGER:
        return "'" + text
    return text


def encode_row(row: list[str]) -> str:
    """Encode one row as a CSV line (without its line end).

    The result is exactly what :func:`csv.writer` writes with ``QUOTE_MINIMAL``
    (RFC 4180): a field is quoted, with quotes doubled, when it holds a comma,
    a quote, CR or LF, and a row of one empty field is written as ``""``. It
    is done here because it is twice as fast as the :mod:`csv` module for
    typical rows (tests compare both byte for byte).
    """
    line = ",".join(row)
    if line.count(",") != len(row) - 1 or '"' in line or "\r" in line or "\n" in line:
        return ",".join(['"' + c.replace('"', '""') + '"' if _needs_quotes(c) else c for c in row])
    if not line and len(row) == 1:
        # How csv.writer tells a row of one empty field from a blank line.
        return '""'
    return line


def _make_flattener(neutralize_formulas: bool) -> Callable[[Mapping[str, Any]], dict[str, str]]:
    """Build the function turning one raw record into ``{column: CSV field}``.

    It computes ``flatten_record(to_json_value(record))`` and each cell's
    text, already quoted as :func:`encode_row` would quote it, in a single
    walk over the raw record (the hot loop of every CSV export): plain values
    are handled inline, only other types go through
    :func:`~reasonkit_export._encoding.to_json_value`, and nested mappings
    write straight into the result under their dotted prefix. The property
    tests hold it to the reference definition.
    """
    triggers = _MAYBE_FORMULA
    needs_quotes = _needs_quotes
    encode = _json_compact
    plain_list = _plain_list
    max_safe = _MAX_SAFE_INTEGER

    def field(text: str) -> str:
        """Quote ``text`` for a CSV line if it needs it (RFC 4180)."""
        if needs_quotes(text):
            return '"' + text.replace('"', '""') + '"'
        return text

    def scalar(value: Any) -> str:
        """Field of a flat value already in the JSON data model."""
        if isinstance(value, str):
            return field(neutralize_cell(value) if neutralize_formulas else value)
        if value is None:
            return ""
        if value is True:
            return "true"
        if value is False:
            return "false"
        if isinstance(value, int):
            return _integer(value, neutralize_formulas)
        if isinstance(value, float):
            return float.__repr__(value)
        # Lists and empty (or kept-whole) mappings; JSON text never starts
        # with a formula trigger.
        return field(encode(value))

    def expand(
        mapping: Mapping[Any, Any], prefix: str, key: str, value: Any, out: dict[str, str]
    ) -> None:
        """Flatten ``value`` under ``key`` unless a column would clash (see flatten_record)."""
        sub: dict[str, str] = {}
        walk(value, "", sub)
        local = key + "."
        for column in sub:
            if local + column in mapping or prefix + local + column in out:
                out[prefix + key] = field(encode(to_json_value(value)))
                return
        for column, cell in sub.items():
            out[prefix + local + column] = cell

    def walk(mapping: Mapping[Any, Any], prefix: str, out: dict[str, str]) -> None:
        """Add the cells of ``mapping`` to ``out``, columns prefixed with ``prefix``.

        Clashes are only possible when a key of ``mapping`` contains a dot
        (two different dot-free keys never yield the same dotted column), so
        only then do nested mappings take the checking path; ``out`` holds no
        column an ancestor could clash with (see :func:`flatten_record`).
        """
        start = len(out)
        dotted: bool | None = None
        for key, value in mapping.items():
            if type(key) is not str and not isinstance(key, str):
                # Non-text keys are converted (and may merge) exactly as the
                # JSON encoding does it: undo this mapping, redo its JSON form.
                for _ in range(len(out) - start):
                    out.popitem()
                walk(to_json_value(mapping), prefix, out)
                return
            kind = type(value)
            if kind is str:
                # Inline substring scans (no call) for the common, harmless text.
                if not (
                    (neutralize_formulas and value[:1] in triggers)
                    or "," in value
                    or '"' in value
                    or "\n" in value
                    or "\r" in value
                ):
                    out[prefix + key] = value
                else:
                    out[prefix + key] = field(
                        neutralize_cell(value) if neutralize_formulas else value
                    )
            elif value is None:
                out[prefix + key] = ""
            elif kind is int:
                if -max_safe <= value <= max_safe:
                    out[prefix + key] = int.__repr__(value)
                else:
                    out[prefix + key] = _integer(value, neutralize_formulas)
            elif kind is bool:
                out[prefix + key] = "true" if value else "false"
            elif kind is float and value - value == 0.0:  # finite
                out[prefix + key] = float.__repr__(value)
            elif kind is list and all(type(item) in _PLAIN for item in value):
                # A list of plain scalars is its own JSON form.
                out[prefix + key] = field(plain_list(value))
            elif kind is Decimal and value.is_finite():
                # A number: its exact digits, never prefixed (-12.50 stays -12.50).
                out[prefix + key] = str(value)
            elif kind is datetime:
                # Inlined from the JSON encoding (naive means UTC): most records
                # carry time stamps, and this loop is the CSV writer's hot path.
                aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
                out[prefix + key] = aware.isoformat()
            else:
                if kind is not dict:
                    value = to_json_value(value)  # noqa: PLW2901 - its JSON form from here on
                if type(value) is dict and value:
                    if dotted is None:
                        try:
                            dotted = "." in "".join(mapping)
                        except TypeError:  # a non-text key further on; the check path is safe
                            dotted = True
                    if dotted:
                        expand(mapping, prefix, key, value, out)
                    else:
                        walk(value, prefix + key + ".", out)
                else:
                    out[prefix + key] = scalar(value)

    def flatten(record: Mapping[str, Any]) -> dict[str, str]:
        out: dict[str, str] = {}
        if type(record) is not dict:
            # Any other mapping keeps its values (a Decimal stays a number).
            record = dict(record) if isinstance(record, Mapping) else to_json_value(record)
        walk(record, "", out)
        return out

    return flatten


# A row plan is compiled for records whose nesting is at most this deep and
# whose flattened columns are at most this many; others take the walk.
_PLAN_DEPTH = 8
_PLAN_COLUMNS = 256
# Once this many records of a table missed their plan, and more missed than
# hit, the table stops trying plans (its records are not plain).
_PLAN_GIVE_UP = 1024

RowPlan = Callable[[dict[str, Any]], "str | None"]
"""A compiled row: one plain record's CSV line (without padding), or None."""


def _plain_cell_code(name: str, neutralize_formulas: bool) -> list[str]:
    """Statements turning leaf variable ``name`` into its CSV field, or returning None.

    The same cells as the walk of :func:`_make_flattener` for the types it
    handles inline; any other value (a decimal, bytes, a non-finite float, a
    tuple, a list of anything but text, numbers, booleans and None, a
    non-empty mapping where the plan has a leaf) makes the row return None.
    """
    trigger = f"{name}[:1] in TRIGGERS or " if neutralize_formulas else ""
    scans = " or ".join(f"{char!r} in {name}" for char in (",", '"', "\n", "\r"))
    return [
        f"t = type({name})",
        "if t is str:",
        f"    if {trigger}{scans}:",
        f"        {name} = TEXT({name})",
        "elif t is int:",
        f"    {name} = INT({name}) if -MAX_SAFE <= {name} <= MAX_SAFE else INTEGER({name})",
        f"elif {name} is None:",
        f"    {name} = ''",
        "elif t is float:",
        f"    if {name} - {name} != 0.0:",
        "        return None",
        f"    {name} = FLOAT({name})",
        "elif t is bool:",
        f"    {name} = 'true' if {name} else 'false'",
        "elif t is datetime:",
        f"    {name} = UTC_TEXT({name}) if {name}.tzinfo in UTC_ZONES else {name}.isoformat()",
        "elif t is list:",
        f"    {name} = PLAIN_LIST({name})",
        f"    if {name} is None:",
        "        return None",
        f"elif t is dict and not {name}:",
        f"    {name} = '{{}}'",
        "else:",
        "    return None",
    ]


def compile_row_plan(
    record: dict[str, Any], *, neutralize_formulas: bool
) -> tuple[RowPlan, tuple[str, ...]] | None:
    """Compile a row function for records shaped like ``record``, with its columns.

    Records of one category mostly share their shape: the same keys in the
    same order, the same nested mappings. For such a shape the plan is one
    flat function (compiled once, as :mod:`dataclasses` compiles
    ``__init__``) that unpacks the values by position, checks each nested
    mapping's keys, and turns each leaf into its field with a short chain of
    exact type tests: no dotted column names are built, no intermediate dict.
    It is called only for records with ``record``'s top-level keys (the
    caller looks plans up by them) and returns None for a record it does not
    cover (another nested shape, or a value other than text, an int, a
    finite float, a boolean, None, a datetime, ``{}`` or a list of text,
    ints, booleans and None), which then takes the walk. The fields are
    those of :func:`_make_flattener` (the property tests compare them).

    No data reaches the generated source: keys are compared through
    constants, values are bound to numbered local names.

    A record whose values are all covered is also JSON-faithful: its
    ``data.json`` line decodes to the same values (datetimes as their ISO
    text), which the ZIP writer uses for the HTML view.

    Returns:
        The plan and the columns its rows fill, in order; None when
        ``record``'s shape is not planned (a key that is not text or holds a
        dot, nesting deeper than ``_PLAN_DEPTH``, more than ``_PLAN_COLUMNS``
        columns, an empty record).
    """
    body: list[str] = []
    constants: dict[str, Any] = {}
    leaves: list[tuple[str, str]] = []
    counter = iter(range(1 << 30))

    def unpack(mapping: dict[Any, Any], var: str, prefix: str, depth: int) -> bool:
        keys = tuple(mapping)
        if not keys or any(type(key) is not str or "." in key for key in keys):
            return False
        names = [f"v{next(counter)}" for _ in keys]
        if depth:
            constant = f"K{len(constants)}"
            constants[constant] = keys
            body.append(f"if type({var}) is not dict or tuple({var}) != {constant}:")
            body.append("    return None")
        body.append(f"{', '.join(names)}, = {var}.values()")
        for key, name in zip(keys, names, strict=True):
            value = mapping[key]
            if type(value) is dict and value:
                if depth >= _PLAN_DEPTH or not unpack(value, name, f"{prefix}{key}.", depth + 1):
                    return False
            else:
                leaves.append((name, prefix + key))
        return len(leaves) <= _PLAN_COLUMNS

    if type(record) is not dict or not unpack(record, "record", "", 0):
        return None
    for name, _column in leaves:
        body.extend(_plain_cell_code(name, neutralize_formulas))
    line = ",".join("{" + name + "}" for name, _column in leaves)
    body.append(f"return f{line!r}")
    source = "def row(record):\n" + "".join(f"    {statement}\n" for statement in body)
    cell = _Cells(neutralize_formulas)
    namespace: dict[str, Any] = {
        **constants,
        "TRIGGERS": _MAYBE_FORMULA,
        "TEXT": cell.text,
        "INT": int.__repr__,
        "INTEGER": cell.integer,
        "FLOAT": float.__repr__,
        "MAX_SAFE": _MAX_SAFE_INTEGER,
        "PLAIN_LIST": cell.plain_list,
        "UTC_TEXT": _utc_text,
        "UTC_ZONES": _UTC_ZONES,
        "datetime": datetime,
    }
    exec(compile(source, "<csv row plan>", "exec"), namespace)  # noqa: S102 - our own code, no data
    return namespace["row"], tuple(column for _name, column in leaves)


def _utc_text_encoder() -> Callable[[datetime], str]:
    """ISO 8601 text of a UTC or naive (meaning UTC) datetime, as ``isoformat`` writes it.

    orjson writes the same text three times faster (tests compare them).
    """
    try:
        import orjson
    except ImportError:

        def isoformat(value: datetime) -> str:
            return (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).isoformat()

        return isoformat
    dumps = orjson.dumps
    naive_utc = orjson.OPT_NAIVE_UTC

    def encode(value: datetime) -> str:
        return dumps(value, option=naive_utc)[1:-1].decode()

    return encode


_utc_text = _utc_text_encoder()
_UTC_ZONES = (None, UTC)


class _Cells:
    """The cell helpers a row plan calls for the less common cases."""

    def __init__(self, neutralize_formulas: bool) -> None:
        self._neutralize = neutralize_formulas

    def text(self, value: str) -> str:
        """A text field that needs the apostrophe or quotes (or may: decided here)."""
        if self._neutralize:
            value = neutralize_cell(value)
        if _needs_quotes(value):
            return '"' + value.replace('"', '""') + '"'
        return value

    def integer(self, value: int) -> str:
        """An integer beyond the safe range."""
        return _integer(value, self._neutralize)

    @staticmethod
    def plain_list(value: list[Any]) -> str | None:
        """A list of text, ints, booleans and None as its JSON field; None for any other list."""
        for item in value:
            if type(item) not in _PLAIN:
                return None
        text = _plain_list(value)
        if _needs_quotes(text):
            return '"' + text.replace('"', '""') + '"'
        return text


class CsvTable(Closing):
    """One category's table: rows spooled to disk, columns found on the way.

    Feeding the records (:meth:`add`, :meth:`extend`) is the single pass over
    the data source: each record is normalised and flattened once and its row
    is spooled, already CSV-encoded, to an anonymous temporary file.
    :meth:`write_csv` then writes the header (the union of all columns, in
    first-seen order) and the rows. Rows spooled before the last new column
    appeared are re-read and padded to full width; all later rows (usually
    all but the first few) are copied as they are. Memory stays bounded by
    one record plus the column list.

    Args:
        neutralize_formulas: defuse text cells a spreadsheet could run as a
            formula (see the module documentation).
        file: where the rows are spooled (a seekable binary file the table
            then owns, e.g. a :class:`~reasonkit_export.formats._spool.Segment`
            of a file shared by many tables); default: an anonymous
            temporary file.
    """

    def __init__(self, *, neutralize_formulas: bool = True, file: BinaryIO | None = None) -> None:
        self.neutralize_formulas = neutralize_formulas
        self._flatten = _make_flattener(neutralize_formulas)
        self._file: BinaryIO = (
            file
            if file is not None
            else cast(BinaryIO, tempfile.TemporaryFile(buffering=_SPOOL_BUFFER))  # noqa: SIM115 - closed by close()
        )
        self._lines: list[str] = []
        self._chars = 0
        self._columns: dict[str, int] = {}
        # Records of a category mostly share their shape: remember, per tuple
        # of columns, where each goes (None: already in header order).
        self._layouts: dict[tuple[str, ...], list[int] | None] = {}
        self._short_rows = 0  # rows spooled before the newest column appeared
        self._short_end = 0  # where those rows end in the spool file
        # Compiled rows by top-level keys (see compile_row_plan): the plan and
        # its number of columns, or None where the shape is not planned.
        self._plans: dict[tuple[Any, ...], tuple[RowPlan, int] | None] = {}
        self._plan_hits = 0
        self._plan_misses = 0
        self._planning = True
        self.count = 0

    @property
    def columns(self) -> list[str]:
        """The union of the records' flattened columns, in first-seen order."""
        return list(self._columns)

    def _layout(self, keys: tuple[str, ...]) -> list[int] | None:
        columns = self._columns
        positions = []
        for key in keys:
            position = columns.get(key)
            if position is None:
                if self.count > self._short_rows:
                    # Every row so far lacks this column: note where they end.
                    self._spill()
                    self._short_rows = self.count
                    self._short_end = self._file.tell()
                position = columns[key] = len(columns)
            positions.append(position)
        layout = None if positions == list(range(len(positions))) else positions
        if len(self._layouts) >= _MAX_LAYOUTS:
            self._layouts.clear()
        self._layouts[keys] = layout
        return layout

    def add(self, record: Mapping[str, Any]) -> None:
        """Spool one record's row and note its columns."""
        if not self.add_plain(record):
            self._add_walked(record)

    def add_plain(self, record: Mapping[str, Any]) -> bool:
        """Spool the row of a record of plain values through its shape's compiled plan.

        Returns:
            True when the row was spooled; the record then holds only text,
            ints, finite floats, booleans, None, datetimes, ``{}``, lists of
            text, ints, booleans and None, and dicts of these with text keys
            (so its ``data.json`` line decodes to the same values). False
            when nothing was done: the record is not plain, or its shape has
            no plan yet (:meth:`add` takes any record and compiles plans).
        """
        if type(record) is not dict:
            return False
        plan = self._plans.get(tuple(record))
        if plan is None:
            return False
        row, width = plan
        line = row(record)
        if line is None:
            self._plan_misses += 1
            if self._plan_misses >= _PLAN_GIVE_UP and self._plan_misses > self._plan_hits:
                # Mostly not plain records: stop trying plans for this table.
                self._plans = {}
                self._planning = False
            return False
        self._plan_hits += 1
        missing = len(self._columns) - width
        if missing:
            line += "," * missing
        self._lines.append(line)
        self.count += 1
        self._chars += len(line)
        if self._chars >= _FLUSH_AT:
            self._spill()
        return True

    def _plan(self, record: dict[str, Any], columns: tuple[str, ...]) -> None:
        """Compile the plan of ``record``'s shape once its row is spooled with ``columns``."""
        top = tuple(record)
        if top in self._plans or len(self._plans) >= _MAX_LAYOUTS:
            return
        compiled = compile_row_plan(record, neutralize_formulas=self.neutralize_formulas)
        plan = None
        if compiled is not None:
            row, planned = compiled
            positions = self._columns
            # The plan writes its fields first, in header order: only then is
            # padding with empty fields at the end the whole layout.
            if (
                planned == columns
                and len(planned) > 1
                and all(positions[column] == index for index, column in enumerate(planned))
            ):
                plan = (row, len(planned))
        self._plans[top] = plan

    def _add_walked(self, record: Mapping[str, Any]) -> None:
        """Spool one record's row through the general walk."""
        cells = self._flatten(record)
        keys = tuple(cells)
        try:
            layout = self._layouts[keys]
        except KeyError:
            layout = self._layout(keys)
        width = len(self._columns)
        if layout is None:
            row = list(cells.values())
            if len(row) < width:
                row += [""] * (width - len(row))
        else:
            row = [""] * width
            for position, cell in zip(layout, cells.values(), strict=True):
                row[position] = cell
        # Fields come quoted from the flattener; only this corner needs care.
        line = ",".join(row) if width != 1 or row[0] else '""'
        self._lines.append(line)
        self.count += 1
        self._chars += len(line)
        if self._chars >= _FLUSH_AT:
            self._spill()
        if self._planning and type(record) is dict:
            self._plan(record, keys)

    def _spill(self) -> None:
        """Move the pending rows into the spool file."""
        if self._lines:
            self._lines.append("")  # for the last line end
            self._file.write(utf8("\r\n".join(self._lines)))
            self._lines.clear()
            self._chars = 0

    def seal(self) -> None:
        """Every record is in: store the pending rows, keeping no buffer in memory."""
        self._spill()
        self._file.flush()

    def extend(self, records: Iterable[Mapping[str, Any]]) -> int:
        """Spool every record of ``records``; return how many were added."""
        before = self.count
        add = self.add
        for record in records:
            add(record)
        return self.count - before

    def size_bound(self, *, bom: bool = True, fields: Sequence[str] = ()) -> int:
        """An upper bound of the bytes :meth:`write_csv` will write (for the ZIP's headers)."""
        self._spill()
        header = self.columns
        if self.neutralize_formulas:
            header = [neutralize_cell(column) for column in header]
        # Short rows are padded with one comma per missing column; a padded
        # empty row may lose its two quotes, never gain more than that.
        padding = self._short_rows * (len(self._columns) + 2)
        if not self._columns:
            # The declared fields or the placeholder, and empty rows (write_csv).
            padding = 4096 + sum(len(utf8(f)) + 4 for f in fields) * (self.count + 2)
        return len(_BOM) * bom + len(utf8(encode_row(header))) + 2 + self._file.tell() + padding

    def release(self) -> None:
        """Nothing reads the rows again: give their memory back (see ``formats._holes``).

        Only rows spooled in a shared spool file (a segment of one) are released.
        """
        release = getattr(self._file, "release", None)
        if release is not None:
            release(0, self._file.seek(0, io.SEEK_END))

    def write_csv(self, sink: BinaryIO, *, bom: bool = True, fields: Sequence[str] = ()) -> int:
        """Write the table (header and one row per record) to ``sink``.

        A table without any column (no records, or only empty ones) still has
        a header row, so that every CSV reader (pandas too) reads it: the
        category's declared ``fields`` or, if none, the single column
        :data:`EMPTY_TABLE_COLUMN`, and one row of empty cells per record.
        Can be called more than once.

        Args:
            sink: where the table goes.
            bom: start with a UTF-8 byte order mark.
            fields: the category's declared columns, used only when no record
                had any (see :func:`declared_fields`).

        Returns:
            The number of rows written, not counting the header.
        """
        if bom:
            sink.write(_BOM)
        width = len(self._columns)
        if not width:
            header = list(fields) or [EMPTY_TABLE_COLUMN]
            if self.neutralize_formulas:
                header = [neutralize_cell(column) for column in header]
            empty = encode_row([""] * len(header))
            sink.write(utf8("".join([encode_row(header), "\r\n", *[empty + "\r\n"] * self.count])))
            return self.count
        self._spill()
        spool = self._file
        spool.flush()
        header = self.columns
        if self.neutralize_formulas:
            header = [neutralize_cell(column) for column in header]
        lines = [encode_row(header)]
        chars = 0
        try:
            if self._short_rows:
                spool.seek(0)
                reader = io.TextIOWrapper(spool, encoding="utf-8", newline="")
                try:
                    for index, row in enumerate(csv.reader(reader, strict=True)):
                        if index == self._short_rows:
                            break
                        lines.append(encode_row(row + [""] * (width - len(row))))
                        chars += len(lines[-1])
                        if chars >= _FLUSH_AT:
                            lines.append("")
                            sink.write(utf8("\r\n".join(lines)))
                            lines.clear()
                            chars = 0
                finally:
                    # Detach so that the wrapper never closes the spool file.
                    reader.detach()
            lines.append("")
            sink.write(utf8("\r\n".join(lines)))
            # The remaining rows are complete: copy them as they are.
            spool.seek(self._short_end)
            while chunk := spool.read(_COPY_CHUNK):
                sink.write(chunk)
        finally:
            spool.seek(0, io.SEEK_END)
        return self.count

    def close(self) -> None:
        """Remove the spooled rows."""
        self._file.close()


def declared_fields(info: ExportInfo, category: str) -> tuple[str, ...]:
    """The columns ``category``'s data source declares: the dotted paths of its
    ``CategoryDescription.fields``, in their order (empty if it declares none)."""
    description = info.descriptions.get(category)
    return tuple(description.fields) if description is not None else ()


def write_csv_table(
    records: Iterable[Mapping[str, Any]],
    sink: BinaryIO,
    *,
    bom: bool = True,
    neutralize_formulas: bool = True,
    fields: Sequence[str] = (),
) -> int:
    """Write one category's records to ``sink`` as one CSV table.

    ``records`` is iterated exactly once (spooled to a temporary file while the
    columns are collected, then written from the spool).

    Returns:
        The number of records read (one row each, unless no record had any
        column at all, when the table is empty).
    """
    with CsvTable(neutralize_formulas=neutralize_formulas) as table:
        table.extend(records)
        table.write_csv(sink, bom=bom, fields=fields)
        return table.count
