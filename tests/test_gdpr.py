"""GDPR-grade behaviour: deadlines (Art. 12(3)), redaction (Art. 15(4)), incremental
exports, and rate limits that fit Art. 12(5)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from reasonkit_export import (
    ExportConfig,
    ExportService,
    ExportStatus,
    InvalidRequest,
    NotificationEvent,
    RateLimit,
    RateLimitExceeded,
)
from reasonkit_export._about import CategoryDescription, ControllerInfo
from reasonkit_export._i18n import messages, register_catalogue
from reasonkit_export._models import add_months
from reasonkit_export.testing import FrozenClock, RecordingNotifier, StaticDataSource

Factory = Callable[..., ExportService]


def _document(service: ExportService, job_id: Any, user: str) -> dict[str, Any]:
    with service.open_download(job_id, user_id=user) as download:
        raw = download.read()
    if download.media_type == "application/gzip":
        raw = gzip.decompress(raw)
    result: dict[str, Any] = json.loads(raw)
    return result


# ----------------------------------------------------------------- deadlines


def test_add_months_clamps_to_month_end() -> None:
    """A month after 31 January is the last day of February."""
    assert add_months(datetime(2025, 1, 31, tzinfo=UTC), 1) == datetime(2025, 2, 28, tzinfo=UTC)
    assert add_months(datetime(2024, 1, 31, tzinfo=UTC), 1) == datetime(2024, 2, 29, tzinfo=UTC)
    assert add_months(datetime(2024, 11, 15, tzinfo=UTC), 3) == datetime(2025, 2, 15, tzinfo=UTC)


def test_every_job_records_its_due_date(service: ExportService, clock: FrozenClock) -> None:
    """due_at is one month after the request by default."""
    job = service.create_export("alice", "json", ["profile"])
    assert job.due_at == add_months(clock(), 1)


def test_response_months_is_configurable(make_service: Factory, clock: FrozenClock) -> None:
    """A shorter or longer response window is a config value."""
    service = make_service(config=ExportConfig(storage_backend="memory", response_months=2))
    assert service.create_export("alice", "json", ["profile"]).due_at == add_months(clock(), 2)


def test_extend_deadline_once_with_reason(
    service: ExportService, clock: FrozenClock, notifier: RecordingNotifier
) -> None:
    """The deadline may be extended once, by up to two further months, and the user is told."""
    job = service.create_export("alice", "json", ["profile"])
    assert job.due_at is not None
    until = add_months(job.due_at, 2)
    extended = service.extend_deadline(job.id, "complex request: 40 data sources", until)
    assert extended.due_at == until
    assert extended.deadline_extension_reason == "complex request: 40 data sources"
    assert notifier.events(job.id) == [NotificationEvent.DEADLINE_EXTENDED]
    assert extended.pending_notification is None
    with pytest.raises(InvalidRequest, match="already extended"):
        service.extend_deadline(job.id, "again", until)


@pytest.mark.parametrize(
    ("reason", "months", "message"),
    [("", 1, "reason"), ("busy", 3, "two further months"), ("busy", 0, "after the current")],
)
def test_extend_deadline_bounds(
    service: ExportService, reason: str, months: int, message: str
) -> None:
    """Blank reasons, extensions beyond two months and non-extensions are refused."""
    job = service.create_export("alice", "json", ["profile"])
    assert job.due_at is not None
    with pytest.raises(InvalidRequest, match=message):
        service.extend_deadline(job.id, reason, add_months(job.due_at, months))


def test_extending_does_not_disturb_a_running_worker(service: ExportService) -> None:
    """An extension granted while a worker runs does not supersede that worker."""
    holder: dict[str, Any] = {}

    class Extends:
        category = "slow"

        def records(self, user_id: str) -> Iterator[dict[str, int]]:
            job = holder["service"].get_job(holder["job"].id)
            holder["service"].extend_deadline(job.id, "busy", job.due_at + timedelta(days=10))
            yield {"n": 1}

    svc = ExportService(
        sources=[Extends()],
        repository=service.repository,
        storage=service.storage,
        config=service.config,
        clock=service._clock,
    )
    holder["service"] = svc
    holder["job"] = svc.create_export("bob", "json", ["slow"])
    done = svc.process_export(holder["job"].id)
    assert done.status is ExportStatus.COMPLETED
    assert done.deadline_extension_reason == "busy"


def test_completed_jobs_cannot_be_extended(service: ExportService) -> None:
    """Only open requests have a deadline to extend."""
    job = service.process_export(service.create_export("alice", "json", ["profile"]).id)
    assert job.due_at is not None
    with pytest.raises(InvalidRequest, match="completed"):
        service.extend_deadline(job.id, "late", job.due_at + timedelta(days=1))


def test_overdue_exports(make_service: Factory, clock: FrozenClock) -> None:
    """overdue_exports lists open or failed requests past due, not completed ones."""
    service = make_service(config=ExportConfig(storage_backend="memory", rate_limit=None))
    pending = service.create_export("alice", "json", ["profile"])
    done = service.process_export(service.create_export("bob", "json", ["profile"]).id)
    assert service.overdue_exports() == []
    clock.advance(days=32)
    assert [j.id for j in service.overdue_exports()] == [pending.id]
    assert done.id not in [j.id for j in service.overdue_exports()]


# ----------------------------------------------------------------- redaction


CONVERSATION = [
    {
        "id": 1,
        "participants": ["alice@example.org", "bob@example.org"],
        "messages": [
            {"from": "alice@example.org", "text": "Hi Bob, see you at 5?"},
            {"from": "bob@example.org", "text": "Yes! My number is +49 170 1234567."},
        ],
    },
    {"id": 2, "participants": ["alice@example.org"], "messages": []},
]


class Conversations:
    """A source whose records name a second user, with its own redaction hook."""

    category = "conversations"

    def records(self, user_id: str) -> Iterator[Mapping[str, Any]]:
        yield from CONVERSATION

    def redact(self, record: Mapping[str, Any], user_id: str) -> Mapping[str, Any]:
        """Replace other people's addresses and their message texts."""
        others = [p for p in record["participants"] if p != user_id]
        if not others:
            return record
        return {
            **record,
            "participants": [p if p == user_id else "another user" for p in record["participants"]],
            "messages": [
                m if m["from"] == user_id else {"from": "another user", "text": "[redacted]"}
                for m in record["messages"]
            ],
        }


def test_redaction_hook_protects_the_other_person(make_service: Factory) -> None:
    """A conversation naming a second user exports with that user replaced, and is counted."""
    service = make_service(sources=[Conversations()])
    job = service.process_export(
        service.create_export("alice@example.org", "json", ["conversations"]).id
    )
    assert job.redacted_counts == {"conversations": 1}
    document = _document(service, job.id, "alice@example.org")
    text = json.dumps(document)
    assert "bob@example.org" not in text
    assert "1234567" not in text
    assert "Hi Bob, see you at 5?" in text
    assert document["redacted_counts"] == {"conversations": 1}


def test_service_wide_redactor(make_service: Factory) -> None:
    """A service-level redactor runs for every category and its failures fail the job cleanly."""

    def redactor(category: str, record: Mapping[str, Any], user_id: str) -> Mapping[str, Any]:
        if "email" in record:
            return {**record, "email": "[redacted]"}
        return record

    service = make_service(redactor=redactor)
    job = service.process_export(service.create_export("alice", "json", ["profile"]).id)
    assert job.redacted_counts == {"profile": 1}
    profile = _document(service, job.id, "alice")["categories"]["profile"]["records"][0]
    assert profile["email"] == "[redacted]"

    def broken(category: str, record: Mapping[str, Any], user_id: str) -> Mapping[str, Any]:
        raise KeyError(record["secret-field"])

    failing = make_service(redactor=broken)
    failed = failing.process_export(failing.create_export("alice", "json", ["profile"]).id)
    assert failed.status is ExportStatus.FAILED
    assert "redaction hook raised KeyError" in (failed.error or "")


# --------------------------------------------------------------- incremental


class Changes:
    """A source that can filter by a lower bound on 'changed_at'."""

    category = "history"
    supports_since = True

    def __init__(self) -> None:
        base = datetime(2025, 5, 1, tzinfo=UTC)
        self.rows: list[dict[str, Any]] = [
            {"n": n, "changed_at": base + timedelta(days=n)} for n in range(10)
        ]
        self.seen: list[datetime | None] = []

    def records(self, user_id: str, *, since: datetime | None = None) -> Iterator[dict[str, Any]]:
        self.seen.append(since)
        yield from (r for r in self.rows if since is None or r["changed_at"] >= since)


def test_incremental_export_passes_since_and_states_window(make_service: Factory) -> None:
    """since reaches sources that support it; the others export in full, and the JSON says so."""
    changes = Changes()
    service = make_service(
        sources=[changes, StaticDataSource("profile", [{"name": "Zoë"}])],
        config=ExportConfig(storage_backend="memory", rate_limit=None),
    )
    since = datetime(2025, 5, 8, tzinfo=UTC)
    job = service.create_export("alice", "json", ["history", "profile"], since=since)
    done = service.process_export(job.id)
    assert changes.seen == [since]
    assert done.since == since
    assert done.since_applied == ("history",)
    assert done.record_counts == {"history": 3, "profile": 1}
    window = _document(service, job.id, "alice")["window"]
    assert window["since"] == since.isoformat()
    assert window["categories_filtered"] == ["history"]
    assert window["categories_in_full"] == ["profile"]


def test_since_in_the_future_is_refused(service: ExportService, clock: FrozenClock) -> None:
    """An incremental lower bound after now is an InvalidRequest."""
    with pytest.raises(InvalidRequest, match="future"):
        service.create_export("alice", "json", ["profile"], since=clock() + timedelta(days=1))


def test_incremental_schedule_uses_last_completed_export(
    make_service: Factory, clock: FrozenClock
) -> None:
    """An incremental schedule exports since its last completed export started."""
    changes = Changes()
    service = make_service(
        sources=[changes], config=ExportConfig(storage_backend="memory", rate_limit=None)
    )
    schedule = service.schedule_export("alice", "0 3 * * *", "json", ["history"], incremental=True)
    clock.advance(days=1)
    (first,) = service.run_due_schedules()
    assert first.since is None
    started = service.process_export(first.id).started_at
    clock.advance(days=1)
    (second,) = service.run_due_schedules()
    assert second.since == started
    assert service.get_schedule(schedule.id, user_id="alice").incremental is True


# ------------------------------------------------------------- rate limits


def test_over_limit_returns_recent_export_when_configured(
    make_service: Factory, clock: FrozenClock
) -> None:
    """With rate_limit_fallback, an over-limit request gets the latest unexpired export back."""
    config = ExportConfig(
        storage_backend="memory",
        rate_limit=RateLimit(max_active=1, max_requests=1),
        rate_limit_fallback=True,
    )
    service = make_service(config=config)
    first = service.process_export(service.create_export("alice", "json", ["profile"]).id)
    clock.advance(hours=1)
    again = service.create_export("alice", "json", ["profile"])
    assert again.id == first.id
    with pytest.raises(RateLimitExceeded) as info:
        service.create_export("alice", "csv", ["profile"])
    assert info.value.retry_after == timedelta(hours=23)


def test_admin_override_bypasses_the_limit_with_a_reason(service: ExportService) -> None:
    """An override with a recorded reason creates the export despite the limit."""
    service.create_export("alice", "json", ["profile"])
    with pytest.raises(RateLimitExceeded):
        service.create_export("alice", "json", ["reasoning_history"])
    job = service.create_export(
        "alice", "json", ["reasoning_history"], override_reason="support ticket 4711"
    )
    assert job.rate_limit_override == "support ticket 4711"
    with pytest.raises(InvalidRequest):
        service.create_export("alice", "csv", ["profile"], override_reason="  ")


# ------------------------------------------------------- Art. 15(1) and i18n


class DescribedHistory:
    """A source that describes its category for Art. 15(1)."""

    category = "reasoning_history"
    description = CategoryDescription(
        title="Your conversations",
        purposes=["providing the service", "abuse prevention"],
        legal_basis="Art. 6(1)(b) GDPR",
        recipients=["hosting provider (processor)"],
        retention="12 months after the last activity",
    )

    def records(self, user_id: str) -> Iterator[dict[str, int]]:
        yield {"n": 1}


def test_art15_information_travels_in_json(make_service: Factory) -> None:
    """Source descriptions and controller facts appear in the JSON; absent ones stay absent."""
    controller = ControllerInfo(
        name="Example GmbH",
        contact="privacy@example.org",
        supervisory_authority="BfDI, Bonn",
    )
    service = make_service(
        sources=[DescribedHistory(), StaticDataSource("profile", [{"a": 1}])],
        config=ExportConfig(storage_backend="memory", controller=controller),
    )
    job = service.process_export(
        service.create_export("alice", "json", ["reasoning_history", "profile"]).id
    )
    document = _document(service, job.id, "alice")
    about = document["categories"]["reasoning_history"]["about"]
    assert about == {
        "title": "Your conversations",
        "purposes": ["providing the service", "abuse prevention"],
        "legal_basis": "Art. 6(1)(b) GDPR",
        "recipients": ["hosting provider (processor)"],
        "retention": "12 months after the last activity",
    }
    assert "about" not in document["categories"]["profile"]
    assert document["controller"] == {
        "name": "Example GmbH",
        "contact": "privacy@example.org",
        "supervisory_authority": "BfDI, Bonn",
    }


def test_bad_description_fails_the_job_clearly(make_service: Factory) -> None:
    """A description of the wrong type is refused with a clear error."""

    class Odd:
        category = "odd"
        description = 42

        def records(self, user_id: str) -> Iterator[dict[str, int]]:
            yield {"n": 1}

    service = make_service(sources=[Odd()])
    failed = service.process_export(service.create_export("alice", "json", ["odd"]).id)
    assert failed.status is ExportStatus.FAILED
    assert "invalid description" in (failed.error or "")


def test_locale_is_recorded_and_normalised(service: ExportService) -> None:
    """create_export takes a locale, normalises it, and refuses garbage."""
    assert service.create_export("alice", "json", ["profile"], locale="de_at").locale == "de-AT"
    with pytest.raises(InvalidRequest, match="locale"):
        service.create_export("bob", "json", ["profile"], locale="../../x")


def test_catalogues_fall_back_key_by_key() -> None:
    """German texts come from the German catalogue, missing keys from English, hosts add theirs."""
    german = messages("de-AT")
    assert german("report.title") == "Ihr Datenexport"
    assert german.category_title("billing") == "Abonnement und Abrechnung"
    assert german.category_title("custom_stuff") == "custom_stuff"
    assert german.category_title("billing", {"title": "Rechnungen"}) == "Rechnungen"
    register_catalogue("fr", {"report.title": "Votre export de données"})
    french = messages("fr")
    assert french("report.title") == "Votre export de données"
    assert french("report.records") == "Records"
    assert messages("xx")("report.page", page=2, pages=3) == "Page 2 of 3"


def test_timezone_is_recorded_and_validated(service: ExportService) -> None:
    """create_export stores an IANA timezone (default UTC) and refuses unknown ones."""
    from reasonkit_export.exceptions import InvalidTimezone

    assert service.create_export("alice", "json", ["profile"]).timezone == "UTC"
    job = service.create_export("carol", "json", ["profile"], timezone="Europe/Berlin")
    assert service.get_job(job.id).timezone == "Europe/Berlin"
    with pytest.raises(InvalidTimezone, match="timezone"):
        service.create_export("bob", "json", ["profile"], timezone="Mars/Base")
