"""The straightforward definitions the fast HTML renderer and presenter are held to.

No caches, no compiled shapes, no fast paths: every value goes through
:meth:`Presenter.value` (or Babel itself for datetimes) and every text
through an unconditional escape. The property tests in ``test_html_fast.py``
compare the library's output with these, byte for byte.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from babel.dates import format_date, format_datetime, format_time

from reasonkit_export._present import _ISO_DATE, _ISO_DATETIME, Presenter, readable_key
from reasonkit_export.formats._html import _MAX_DEPTH, _as_container, _key_text

__all__ = ["reference_escape", "reference_render", "reference_timestamp", "reference_value"]


def reference_escape(text: str) -> str:
    """Element text: every special character replaced, always."""
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#39;")
        .replace("\n", "&#10;")
        .replace("\r", "&#13;")
    )


def reference_timestamp(presenter: Presenter, dt: datetime) -> str:
    """A datetime as Babel formats it in the presenter's zone and locale, zone named."""
    locale = presenter._babel
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    local = dt.astimezone(presenter.zone)
    glue = str(locale.datetime_formats["medium"])
    text = glue.replace("{1}", format_date(local.date(), "medium", locale=locale), 1).replace(
        "{0}", format_time(local.time(), "medium", locale=locale), 1
    )
    zone = format_datetime(local, "z", tzinfo=presenter.zone, locale=locale)
    if not zone or zone[0] in "+-":
        zone = format_datetime(local, "ZZZZ", tzinfo=presenter.zone, locale=locale)
    return f"{text} {zone}"


def reference_value(presenter: Presenter, value: object) -> str:
    """:meth:`Presenter.value` with datetimes, times and ISO strings formatted by Babel itself."""
    locale = presenter._babel
    if isinstance(value, enum.Enum):
        return reference_value(presenter, value.value)
    if isinstance(value, datetime):
        return reference_timestamp(presenter, value)
    if isinstance(value, time):
        return format_time(value.replace(tzinfo=None), "medium", locale=locale)
    if isinstance(value, str):
        if 19 <= len(value) <= 32 and _ISO_DATETIME.fullmatch(value):
            try:
                return reference_timestamp(presenter, datetime.fromisoformat(value))
            except ValueError:
                return value
        if len(value) == 10 and _ISO_DATE.fullmatch(value):
            try:
                return format_date(date.fromisoformat(value), "medium", locale=locale)
            except ValueError:
                return value
        return value
    if isinstance(value, Mapping | list | tuple | set | frozenset):
        if not value:
            return presenter.empty
        if isinstance(value, Mapping):
            return "; ".join(
                f"{readable_key(str(k))}: {reference_value(presenter, v)}" for k, v in value.items()
            )
        return ", ".join(reference_value(presenter, item) for item in value)
    return presenter.value(value)


def reference_render(
    presenter: Presenter, category: str, number: int, record: Mapping[str, Any]
) -> str:
    """One record's fragment, the long way."""
    esc = reference_escape
    pre, _, post = presenter.messages("report.record", number="{number}").partition("{number}")
    heading = f"{esc(pre)}{presenter.integer(number)}{esc(post)}"
    head = f'<article class="rec" id="r{number}"><h2>{heading}</h2>'
    if not record:
        empty = esc(presenter.messages("report.empty_record"))
        return f'{head}<p class="empty">{empty}</p></article>'
    rows = _fields(presenter, category, record, "", 0)
    return f"{head}<table><tbody>{rows}</tbody></table></article>"


def _not_set(presenter: Presenter) -> str:
    text = reference_escape(presenter.not_set)
    return f'<span aria-hidden="true">—</span><span class="vh">{text}</span>'


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _fields(
    presenter: Presenter, category: str, mapping: Mapping[Any, Any], prefix: str, depth: int
) -> str:
    esc = reference_escape
    out = []
    for key, value in mapping.items():
        text = _key_text(key)
        path = f"{prefix}.{text}" if prefix else text
        label = esc(presenter.field_label(category, path))
        kind = type(value)
        if kind is str:
            cell = f'<td dir="auto">{esc(reference_value(presenter, value))}</td>'
        elif kind is int:
            # Exact integers are not escaped (their text is digits and group signs).
            cell = f'<td dir="auto" class="num">{presenter.integer(value)}</td>'
        elif kind is dict:
            if not value:
                cell = f'<td class="empty">{esc(presenter.empty)}</td>'
            else:
                inner = (
                    _fields(presenter, category, value, path, depth + 1)
                    if depth < _MAX_DEPTH
                    else ""
                )
                cell = f"<td><table><tbody>{inner}</tbody></table></td>"
        else:
            cell = _cell(presenter, category, value, path, depth)
        out.append(f'<tr><th scope="row">{label}</th>{cell}</tr>')
    return "".join(out)


def _cell(presenter: Presenter, category: str, value: Any, path: str, depth: int) -> str:
    esc = reference_escape
    kind = type(value)
    if kind is float:
        # Exact floats are not escaped either (digits, signs, "—", "∞").
        return f'<td dir="auto" class="num">{presenter.number(value)}</td>'
    if kind is bool:
        return f'<td dir="auto">{esc(presenter.yes if value else presenter.no)}</td>'
    if value is None:
        return f'<td class="empty">{_not_set(presenter)}</td>'
    if kind is list and value and all(type(v) is str for v in value):
        # Lists of strings are lists at any depth.
        items = "".join(f'<li dir="auto">{esc(reference_value(presenter, v))}</li>' for v in value)
        return f"<td><ul>{items}</ul></td>"
    if isinstance(value, enum.Enum):
        return _cell(presenter, category, value.value, path, depth)
    nested = _as_container(value)
    if nested is None:
        css = ' class="num"' if _is_number(value) else ""
        return f'<td dir="auto"{css}>{esc(reference_value(presenter, value))}</td>'
    if not nested:
        return f'<td class="empty">{esc(presenter.empty)}</td>'
    if depth >= _MAX_DEPTH:
        return f'<td dir="auto">{esc(reference_value(presenter, value))}</td>'
    return f"<td>{_nested(presenter, category, nested, path, depth + 1)}</td>"


def _nested(
    presenter: Presenter, category: str, value: Mapping[Any, Any] | list[Any], path: str, depth: int
) -> str:
    esc = reference_escape
    if isinstance(value, Mapping):
        return f"<table><tbody>{_fields(presenter, category, value, path, depth)}</tbody></table>"
    items = []
    for item in value:
        inner = _as_container(item) if not isinstance(item, str | int | float) else None
        if inner is None:
            if item is None:
                items.append(f'<li class="empty">{_not_set(presenter)}</li>')
            else:
                items.append(f'<li dir="auto">{esc(reference_value(presenter, item))}</li>')
        elif not inner:
            items.append(f'<li class="empty">{esc(presenter.empty)}</li>')
        elif depth >= _MAX_DEPTH:
            items.append(f'<li dir="auto">{esc(reference_value(presenter, item))}</li>')
        else:
            items.append(f"<li>{_nested(presenter, category, inner, path, depth + 1)}</li>")
    return f"<ul>{''.join(items)}</ul>"
