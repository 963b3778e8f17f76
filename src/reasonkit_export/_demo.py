"""Sample data sources for the ``demo`` command: non-ASCII, nested, timestamped."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

__all__ = ["demo_sources"]

_BASE = datetime(2025, 1, 15, 9, 30, tzinfo=UTC)


class _Profile:
    category = "profile"

    def records(self, user_id: str) -> Iterator[dict[str, Any]]:
        yield {
            "user_id": user_id,
            "display_name": "Zoë Ångström-Øre",
            "native_name": "Ζωή Ангстрем",
            "email": "zoe@example.org",
            "created_at": _BASE,
            "settings": {"theme": "dark", "locale": "de-DE", "notifications": {"email": True}},
        }


class _History:
    category = "reasoning_history"

    def __init__(self, count: int) -> None:
        self._count = count

    def count(self, user_id: str) -> int:
        return self._count

    def records(self, user_id: str) -> Iterator[dict[str, Any]]:
        prompts = [
            "Erkläre die Datenschutz-Grundverordnung in zwei Sätzen.",
            "Résume l'article 20 du RGPD, s'il te plaît.",
            "Τι σημαίνει φορητότητα δεδομένων;",
            "Что такое право на доступ к данным?",
        ]
        for n in range(self._count):
            yield {
                "id": n + 1,
                "created_at": _BASE + timedelta(minutes=7 * n),
                "prompt": prompts[n % len(prompts)],
                "meta": {"model": "reasoner-2", "tokens": {"input": 40 + n, "output": 120 + n}},
                "tags": ["gdpr", "demo"],
            }


class _Billing:
    category = "billing"

    def records(self, user_id: str) -> Iterator[dict[str, Any]]:
        for month in range(1, 4):
            yield {
                "invoice": f"INV-2025-{month:04d}",
                "issued_at": datetime(2025, month, 1, tzinfo=UTC),
                "amount": Decimal("19.90"),
                "currency": "EUR",
            }


def demo_sources(history_records: int = 25) -> list[Any]:
    """Return the demo's data sources: profile, reasoning history and billing."""
    return [_Profile(), _History(history_records), _Billing()]
