"""Data sources for the CLI tests, loaded through ``sources = ["tests.cli_sources:..."]``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from reasonkit_export.testing import FailingDataSource, RecordingNotifier, StaticDataSource

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


RECORDED = RecordingNotifier()


def make_notifier() -> RecordingNotifier:
    """The notifier named by ``notifier = "tests.cli_sources:make_notifier"``."""
    return RECORDED


def hide_emails(category: str, record: Mapping[str, Any], user_id: str) -> Mapping[str, Any]:
    """A redactor: blanks the ``email`` field."""
    if "email" not in record:
        return record
    return {**record, "email": "(redacted)"}


def unreachable_smtp() -> object:
    """An SMTP notifier pointing at a port nothing listens on."""
    from reasonkit_export.notifiers import SmtpNotifier

    return SmtpNotifier(
        host="127.0.0.1",
        port=1,
        sender="exports@example.org",
        recipient_resolver=lambda user_id: f"{user_id}@example.org",
    )


ENQUEUED: list[str] = []


def enqueue(job_id: str) -> None:
    """The host's queue for ``--enqueue tests.cli_sources:enqueue``: records the id."""
    assert isinstance(job_id, str)
    ENQUEUED.append(job_id)


class SlowSource:
    """A profile source that takes about two seconds (for stopping a worker mid-job)."""

    category = "profile"

    def records(self, user_id: str) -> Iterator[dict[str, Any]]:
        import time

        for n in range(8):
            time.sleep(0.25)
            yield {"n": n, "user": user_id}


def slow_sources() -> list[object]:
    """One slow source."""
    return [SlowSource()]
