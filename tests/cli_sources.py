"""Data sources for the CLI tests, loaded through ``sources = ["tests.cli_sources:..."]``."""

from __future__ import annotations

from datetime import UTC, datetime

from reasonkit_export.testing import FailingDataSource, StaticDataSource

PROFILE = [
    {
        "name": "Zoë Ångström-Øre",
        "email": "zoe@example.org",
        "joined": datetime(2021, 3, 4, 5, 6, 7, tzinfo=UTC),
    }
]
HISTORY = [{"id": n, "prompt": f"question {n} — naïve café"} for n in range(1, 6)]


def make_sources() -> list[object]:
    """A profile and a reasoning history, plus a category whose source always fails."""
    return [
        StaticDataSource("profile", PROFILE),
        StaticDataSource("reasoning_history", HISTORY),
        FailingDataSource("broken"),
    ]


def single_source() -> StaticDataSource:
    """One DataSource on its own (not in a list)."""
    return StaticDataSource("profile", PROFILE)


def not_a_source() -> list[object]:
    """Something that is not a DataSource."""
    return [42]


def exploding() -> list[object]:
    """A factory that raises, with personal data in its message."""
    raise RuntimeError("cannot connect as zoe@example.org")
