"""audit_coverage and ``reasonkit-export audit``: tables linked to the user that nothing exports."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.sources.schema import build_metadata, populate

if TYPE_CHECKING:
    import sqlalchemy as sa
else:
    sa = pytest.importorskip("sqlalchemy")

from reasonkit_export.cli import main
from reasonkit_export.sources.sql import (
    TableSource,
    audit_coverage,
    discover_sources,
)


@pytest.fixture
def app(engine: sa.Engine) -> sa.Engine:
    """The schema with its data on the backend under test."""
    populate(engine, build_metadata())
    return engine


def test_discovery_covers_everything_it_can_reach(app: sa.Engine) -> None:
    """With every discovered source, nothing linked to the user is uncovered."""
    report = audit_coverage(app, discover_sources(app, "users"), root_table="users")
    assert report.ok
    assert report.uncovered == ()
    assert "refunds" in report.covered
    assert report.lines()[-1].startswith("ok:")


def test_a_forgotten_table_is_reported_with_its_path_and_personal_columns(app: sa.Engine) -> None:
    """Dropping sessions and refunds makes the audit fail and say why, column kinds included."""
    sources = [
        s for s in discover_sources(app, "users") if s.category not in ("sessions", "refunds")
    ]
    report = audit_coverage(app, sources, root_table="users")
    assert not report.ok
    by_table = {item.table: item for item in report.uncovered}
    assert set(by_table) == {"sessions", "refunds"}
    assert by_table["sessions"].path == ("sessions.user_id -> users.id",)
    assert ("ip_address", "IP address") in by_table["sessions"].personal_columns
    assert by_table["refunds"].path == (
        "refunds.payment_id -> payments.id",
        "payments.invoice_id -> invoices.id",
        "invoices.order_id -> orders.id",
        "orders.user_id -> users.id",
    )
    text = "\n".join(report.lines())
    assert "UNCOVERED sessions" in text
    assert "192.0.2" not in text  # names only, never values


def test_depth_limited_discovery_leaves_deep_tables_uncovered(app: sa.Engine) -> None:
    """The audit walks without a depth limit, so max_depth=3 misses refunds."""
    report = audit_coverage(app, discover_sources(app, "users", max_depth=3), root_table="users")
    assert [item.table for item in report.uncovered] == ["refunds"]


def test_ignore_and_covers_acknowledge_tables(app: sa.Engine) -> None:
    """ignore= marks tables left out on purpose; a source's covers names its tables."""

    class Hand:
        category = "sessions_by_hand"
        covers = ("sessions",)

        def records(self, user_id: str) -> list[dict[str, Any]]:
            return []

    sources: list[object] = [
        s for s in discover_sources(app, "users", exclude=("api_keys",)) if s.category != "sessions"
    ]
    report = audit_coverage(app, [*sources, Hand()], root_table="users")
    assert [item.table for item in report.uncovered] == ["api_keys"]
    report = audit_coverage(app, [*sources, Hand()], root_table="users", ignore=("api_*",))
    assert report.ok
    assert report.ignored == ("api_keys",)


def test_unlinked_tables_with_personal_columns_are_noted(app: sa.Engine) -> None:
    """A table with e-mail addresses and no foreign key to users is a note, not a failure."""
    report = audit_coverage(app, discover_sources(app, "users"), root_table="users")
    notes = {item.table: item.personal_columns for item in report.unlinked}
    assert notes["newsletter_signups"] == (("email", "e-mail"),)
    assert "tags" not in notes


def test_cli_audit_exit_codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    """reasonkit-export audit exits 0 when covered, 1 with the uncovered tables listed."""
    url = f"sqlite:///{tmp_path / 'app.sqlite3'}"
    engine = sa.create_engine(url)
    populate(engine, build_metadata())
    engine.dispose()
    monkeypatch.setenv("RK_TEST_AUDIT_URL", url)
    monkeypatch.chdir(tmp_path)
    base = ["audit", url, "--root-table", "users", "--ignore", "api_keys"]
    assert main([*base, "--source", "tests.sources.audit_factories:everything"]) == 0
    assert "ok: every table" in capsys.readouterr().out
    assert main([*base, "--source", "tests.sources.audit_factories:without_sessions"]) == 1
    out = capsys.readouterr().out
    assert "UNCOVERED sessions: sessions.user_id -> users.id" in out
    people = ["audit", url, "--root-table", "people"]
    assert main([*people, "--source", "tests.sources.audit_factories:everything"]) == 2
    assert "table 'people' does not exist" in capsys.readouterr().err


def test_table_source_covers_its_table(app: sa.Engine) -> None:
    """A hand-made TableSource counts as covering its table."""
    sources = [s for s in discover_sources(app, "users") if s.category != "sessions"]
    sessions = TableSource(app, "sessions", user_column="user_id", category="logins")
    assert audit_coverage(app, [*sources, sessions], root_table="users").ok
