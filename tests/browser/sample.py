"""A sample export for the HTML view: every kind of value, several scripts, hostile text."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

from reasonkit_export import CategoryDescription
from reasonkit_export.formats import ExportInfo, Section, ZipWriter

GENERATED_AT = datetime(2025, 6, 1, 9, 30, 15, tzinfo=UTC)
ARABIC = "مرحبا بالعالم، هذه رسالتك"
HEBREW = "שלום עולם"
CHINESE = "你好，世界：这是你的数据"
JAPANESE = "こんにちは、データのエクスポートです"
KOREAN = "안녕하세요 데이터 내보내기"

DESCRIPTIONS = {
    "reasoning_history": CategoryDescription(
        title={"en": "Conversations", "de": "Unterhaltungen"},
        description="Questions you asked and the answers you received.",
        purposes=["Providing the service", "Showing your history"],
        legal_basis="Art. 6(1)(b) GDPR (contract)",
        retention="12 months after your last activity",
        fields={
            "created_at": {"en": "Asked on", "de": "Gefragt am"},
            "prompt": {"en": "Your question", "de": "Ihre Frage"},
            "answer": {"en": "Answer", "de": "Antwort"},
            "tokens.input": {"en": "Input tokens", "de": "Eingabe-Token"},
            "tokens.output": {"en": "Output tokens", "de": "Ausgabe-Token"},
            "details.lines.sku": {"en": "Article number", "de": "Artikelnummer"},
        },
    ),
    "profile": CategoryDescription(
        title={"en": "Profile", "de": "Profil"},
        fields={"display_name": {"en": "Name", "de": "Name"}},
    ),
}


def profile_records() -> list[dict[str, Any]]:
    """One profile with every scalar kind."""
    return [
        {
            "display_name": "Zoë Ångström",
            "email": "zoe@example.org",
            "homepage": "https://example.org/~zoe?a=1&b=2",
            "verified": True,
            "newsletter": False,
            "nickname": None,
            "balance": Decimal("1234.50"),
            "avatar": b"\x89PNG\r\n\x1a\n" + b"\x00" * 2040,
            "birthday": date(1990, 2, 28),
            "session_length": timedelta(minutes=12),
            "account_id": UUID("12345678-1234-5678-1234-567812345678"),
            "settings": {"theme": "dark", "locale": "de-DE", "notifications": {"email": True}},
            "tags": [],
            "extra": {},
            "bio": (
                "A long line of text without breaks that must wrap on a phone screen "
                + "verylongwordwithoutanyspacesatall" * 4
                + "\nSecond line.\n\nAfter a blank line."
            ),
        }
    ]


def history_records(count: int, hostile: Sequence[str] = ()) -> Iterator[dict[str, Any]]:
    """``count`` conversation records; then one record per hostile string."""
    scripts = [ARABIC, HEBREW, CHINESE, JAPANESE, KOREAN, "Ελληνικά", "Кириллица", "🙂🚀"]
    base = datetime(2025, 1, 1, 8, 0, tzinfo=UTC)
    for n in range(count):
        yield {
            "id": n + 1,
            "created_at": base + timedelta(hours=7 * n, seconds=37),
            "prompt": f"Question {n + 1}: {scripts[n % len(scripts)]}",
            "answer": "Answer in mixed text: " + scripts[(n + 3) % len(scripts)],
            "score": (n % 1000) / 7.0,
            "tokens": {"input": 40 + n, "output": 1200 + 37 * n},
            "meta": {"model": "reasoner-2", "ok": n % 3 != 0},
            "tags": ["gdpr", "demo"] if n % 2 else [],
            "details": {"lines": [{"sku": f"A-{n}", "qty": 2}, {"sku": f"B-{n}", "qty": 1}]},
        }
    for n, text in enumerate(hostile):
        yield {
            "id": count + n + 1,
            "payload": text,
            text[:40] or "empty": text,
            "nested": {"value": text, "list": [text]},
        }


def write_sample(
    path: Path,
    *,
    locale: str = "en",
    timezone: str = "Europe/Berlin",
    history: int = 7,
    hostile: Sequence[str] = (),
    per_page: int = 3,
    about: Mapping[str, Mapping[str, Any]] | None = None,
) -> Path:
    """Write the sample ZIP to ``path`` and unpack it next to it; return the folder."""
    info = ExportInfo(
        export_id=UUID("0f8fad5b-d9cb-469f-a165-70867728950e"),
        user_id="user-4711",
        generated_at=GENERATED_AT,
        format="zip",
        categories=("profile", "reasoning_history"),
        generator="reasonkit_export (test)",
        locale=locale,
        timezone=timezone,
        descriptions=DESCRIPTIONS,
        about=about
        if about is not None
        else {c: d.to_dict(locale) for c, d in DESCRIPTIONS.items()},
        controller={
            "name": "Example GmbH",
            "contact": "privacy@example.org",
            "supervisory_authority": "Berliner Beauftragte für Datenschutz",
        },
    )
    sections = [
        Section(category="profile", records=iter(profile_records())),
        Section(category="reasoning_history", records=history_records(history, hostile)),
    ]
    sink = io.BytesIO()
    ZipWriter(include_pdf=False, html_records_per_page=per_page).write(info, sections, sink)
    path.write_bytes(sink.getvalue())
    folder = path.with_suffix("")
    with zipfile.ZipFile(path) as archive:
        archive.extractall(folder)
    return folder
