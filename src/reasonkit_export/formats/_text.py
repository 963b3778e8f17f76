"""The words of an export: README text and the lines the PDF report shares with it.

Below every writer: the ZIP, split-ZIP and PDF writers all import from here,
and this module imports no writer, so the README and the report say the same
things in the same words without the writers importing one another.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from reasonkit_export._encoding import utf8
from reasonkit_export._i18n import Messages, messages
from reasonkit_export.formats._base import ExportInfo

__all__ = [
    "about_lines",
    "archive_readme",
    "controller_lines",
    "format_number",
    "records_text",
    "render_readme",
    "timestamp_text",
    "window_sentences",
]

_ABOUT_FIELDS = (
    "description",
    "purposes",
    "legal_basis",
    "recipients",
    "retention",
    "source",
    "automated_decision_making",
)
_CONTROLLER_FIELDS = ("name", "contact", "dpo_contact", "supervisory_authority")
_README_WIDTH = 78


def format_number(value: int, locale: str) -> str:
    """``value`` with thousands separators as the locale's readers expect."""
    text = f"{value:,}"
    # German (and most of continental Europe) groups with dots, not commas.
    return text.replace(",", ".") if locale.split("-", maxsplit=1)[0] == "de" else text


def records_text(msg: Messages, count: int) -> str:
    """ "1 record" / "5 records" in the catalogue's language."""
    key = "report.record_count.one" if count == 1 else "report.record_count.other"
    return msg(key, count=format_number(count, msg.locale))


def timestamp_text(value: datetime) -> str:
    """A time as the README and report show it: UTC, to the minute."""
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M UTC")


def about_lines(msg: Messages, about: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The set Art. 15(1) fields of a description as ``(label, text)``, in a fixed order.

    The title is the caller's heading, not a line; lists are joined with
    semicolons; fields that are not set give no line at all.
    """
    lines = []
    for field in _ABOUT_FIELDS:
        value = about.get(field)
        if isinstance(value, list | tuple):
            value = "; ".join(str(item) for item in value)
        if value:
            lines.append((msg(f"about.{field}"), str(value)))
    return lines


def controller_lines(msg: Messages, controller: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The controller's facts as ``(label, text)``, rights defaulting to the catalogue's."""
    lines = [
        (msg(f"controller.{field}"), str(controller[field]))
        for field in _CONTROLLER_FIELDS
        if controller.get(field)
    ]
    rights = controller.get("rights") or msg("controller.default_rights")
    lines.append((msg("controller.rights"), str(rights)))
    return lines


def window_sentences(msg: Messages, info: ExportInfo) -> list[str]:
    """The incremental window, and which categories came in full anyway (empty if full)."""
    if info.since is None:
        return []
    sentences = [msg("readme.window", since=timestamp_text(info.since))]
    in_full = [c for c in info.categories if c not in info.since_applied]
    if in_full:
        titles = ", ".join(msg.category_title(c, info.about.get(c)) for c in in_full)
        sentences.append(msg("readme.window_full", categories=titles))
    return sentences


def _fill(text: str, indent: str = "") -> str:
    return textwrap.fill(
        text,
        _README_WIDTH,
        initial_indent=indent,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )


def _label_block(pairs: list[tuple[str, str]], indent: str) -> list[str]:
    """``Label: text`` lines, continuation lines indented under the text."""
    return [
        textwrap.fill(
            text,
            _README_WIDTH,
            initial_indent=f"{indent}{label}: ",
            subsequent_indent=f"{indent}    ",
            break_long_words=False,
            break_on_hyphens=False,
        )
        for label, text in pairs
    ]


def render_readme(
    info: ExportInfo,
    listing: list[tuple[str, str]],
    *,
    counts: Mapping[str, int],
    redacted: int,
    neutralized: bool | None,
    part: int | None = None,
    parts: int | None = None,
) -> bytes:
    """The README for a person opening the archive, in ``info.locale``.

    Args:
        info: the export (locale, Art. 15 descriptions, controller, window).
        listing: ``(member name, what it is)`` for every member, in order.
        counts: records per category in this archive.
        redacted: how many of this archive's records a redaction hook changed.
        neutralized: whether CSV formulas were defused; None when the archive
            holds no CSV tables (the spreadsheet notes are left out).
        part: the volume number of a split archive.
        parts: how many volumes the split export has.
    """
    msg = messages(info.locale)
    title = msg("readme.title")
    out = [title, "=" * len(title), ""]
    if part is not None:
        out += [_fill(msg("readme.part", part=part, parts=parts)), ""]
        combine = "readme.part_combine_one" if parts == 1 else "readme.part_combine"
        out += [_fill(msg(combine, parts=parts)), ""]
        out += [_fill(msg("readme.part_json_only")), ""]
    when = timestamp_text(info.generated_at)
    out += [_fill(msg("readme.intro", generated=when, export_id=info.export_id)), ""]
    if any(name == "index.html" for name, _ in listing):
        out += [_fill(msg("readme.start_html")), ""]
    notes = window_sentences(msg, info)
    if redacted:
        notes.append(msg("readme.redacted", count=format_number(redacted, msg.locale)))
    out += [*(_fill(note) for note in notes), *([""] if notes else [])]
    width = max(len(name) for name, _ in listing) + 2
    out.append(msg("readme.files"))
    for name, text in listing:
        wrapped = textwrap.wrap(text, max(_README_WIDTH - width - 2, 30)) or [""]
        out.append(f"  {name.ljust(width)}{wrapped[0]}")
        out.extend(" " * (width + 2) + line for line in wrapped[1:])
    out += ["", msg("readme.part_categories" if part is not None else "readme.categories")]
    for category, count in counts.items():
        line = msg(
            "readme.category_line",
            title=msg.category_title(category, info.about.get(category)),
            category=category,
            records=records_text(msg, count),
        )
        out.append(_fill(line, "  "))
    described = [(c, a) for c, a in info.about.items() if a and c in counts]
    if described:
        out += ["", msg("readme.about")]
        for category, about in described:
            out.append(f"  {msg.category_title(category, about)} ({category})")
            out += _label_block(about_lines(msg, about), "    ")
    if info.controller:
        out += ["", msg("readme.controller")]
        out += _label_block(controller_lines(msg, info.controller), "  ")
    if neutralized is not None:
        heading = msg("readme.csv_heading")
        out += ["", heading, "-" * len(heading), _fill(msg("readme.csv_help"), "  ")]
        if neutralized:
            out += ["", _fill(msg("readme.csv_apostrophe"), "  ")]
    heading = msg("readme.numbers_heading")
    numbers = msg("readme.numbers")
    if neutralized:
        numbers += " " + msg("readme.numbers_csv")
    out += ["", heading, "-" * len(heading), _fill(numbers, "  ")]
    heading = msg("readme.checksums_heading")
    example = listing[0][0]
    out += ["", heading, "-" * len(heading), _fill(msg("readme.checksums"), "  ")]
    out += [
        f"    Linux:   sha256sum {example}",
        f"    macOS:   shasum -a 256 {example}",
        f"    Windows: certutil -hashfile {example} SHA256",
        "",
    ]
    # CRLF so that Windows Notepad shows the lines too.
    return utf8("\r\n".join(out))


def archive_readme(
    info: ExportInfo,
    listing: list[tuple[str, str]],
    counts: Mapping[str, int],
    *,
    neutralized: bool | None,
) -> bytes:
    """The README of a single archive: redactions counted over the whole export."""
    redacted = sum(info.stats.redacted.values())
    return render_readme(info, listing, counts=counts, redacted=redacted, neutralized=neutralized)
