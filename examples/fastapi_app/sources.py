"""The example's data sources: one class per category, streaming its records.

A real application reads its own database here; these return fixed,
deterministic records (non-ASCII and nested on purpose) so that the tests can
compare a downloaded export with what the sources yield.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from reasonkit_export.protocols import DataSource

__all__ = ["BillingSource", "HistorySource", "ProfileSource", "example_sources"]

_BASE = datetime(2025, 1, 15, 9, 30, tzinfo=UTC)


class ProfileSource:
    """The account's profile: one record."""

    category = "profile"

    def records(self, user_id: str) -> Iterator[dict[str, Any]]:
        """Yield the user's profile."""
        yield {
            "user_id": user_id,
            "display_name": "Zoë Ångström-Øre",
            "email": "zoe@example.org",
            "joined": _BASE.isoformat(),
            "settings": {"theme": "dark", "locale": "de-DE", "notifications": {"email": True}},
        }


class HistorySource:
    """The user's reasoning history: many records, streamed one by one."""

    category = "reasoning_history"

    _PROMPTS = (
        "Erkläre die Datenschutz-Grundverordnung in zwei Sätzen.",
        "Résume l'article 20 du RGPD, s'il te plaît.",
        "Τι σημαίνει φορητότητα δεδομένων;",
        "Что такое право на доступ к данным?",
    )

    def __init__(self, count: int = 25) -> None:
        self._count = count

    def count(self, user_id: str) -> int:
        """How many records there are (feeds the job's progress)."""
        return self._count

    def records(self, user_id: str) -> Iterator[dict[str, Any]]:
        """Yield the history, oldest first."""
        for n in range(self._count):
            yield {
                "id": n + 1,
                "created_at": (_BASE + timedelta(minutes=7 * n)).isoformat(),
                "prompt": self._PROMPTS[n % len(self._PROMPTS)],
                "meta": {"model": "reasoner-2", "tokens": {"input": 40 + n, "output": 120 + n}},
            }


class BillingSource:
    """The user's invoices."""

    category = "billing"

    def records(self, user_id: str) -> Iterator[dict[str, Any]]:
        """Yield one invoice per month."""
        for month in range(1, 4):
            yield {
                "invoice": f"INV-2025-{month:04d}",
                "issued_at": datetime(2025, month, 1, tzinfo=UTC).isoformat(),
                "amount": "19.90",
                "currency": "EUR",
            }


def example_sources() -> list[DataSource]:
    """Return the example's data sources: profile, reasoning history and billing."""
    return [ProfileSource(), HistorySource(), BillingSource()]
