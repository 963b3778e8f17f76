"""Shared fixtures: a frozen clock, a recording notifier and a ready service."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import Phase, settings

from reasonkit_export import ExportConfig, ExportService
from reasonkit_export.storage import FsspecStorage
from reasonkit_export.testing import FrozenClock, RecordingNotifier, StaticDataSource

T0 = datetime(2025, 6, 1, 9, 30, tzinfo=UTC)

# scripts/mutation.py sets REASONKIT_MUTATION=1: property tests then run fewer,
# derandomised examples (an affordable run, reproducible verdicts) and do not shrink a
# failure (a mutant only needs the verdict; shrinking one took longer than mutmut's
# wall-clock timeout and turned killed mutants into timeouts), and test ids are
# plain ASCII so that mutmut can hand them back to pytest on the command line.
MUTATION_RUN = os.environ.get("REASONKIT_MUTATION") == "1"
settings.register_profile(
    "mutation",
    max_examples=30,
    derandomize=True,
    deadline=None,
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
)
if MUTATION_RUN:
    settings.load_profile("mutation")

    @pytest.fixture(autouse=True)
    def _no_parse_cache_from_the_parent() -> None:
        """Forget cron expressions parsed before this test.

        mutmut forks every mutant's tests from one warmed-up process; expressions
        parsed there sit in ``scheduling._parse``'s cache, so a mutant of the
        parser (``_expand_item``, ``_value``) never ran for them and survived.
        """
        from reasonkit_export import scheduling

        scheduling._parse.cache_clear()


def pytest_make_parametrize_id(config: pytest.Config, val: object, argname: str) -> str | None:
    """Under a mutation run, spell string parameters with safe characters only."""
    if MUTATION_RUN and isinstance(val, str | bytes):
        text = val.decode("latin-1") if isinstance(val, bytes) else val
        return re.sub(r"[^A-Za-z0-9_.-]", "_", text)[:40] or "empty"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the long fault campaign unless the marker expression asks for it (-m campaign)."""
    if "campaign" in (config.option.markexpr or ""):
        return
    skip = pytest.mark.skip(reason="the long fault campaign runs with -m campaign")
    for item in items:
        if item.get_closest_marker("campaign") is not None:
            item.add_marker(skip)


PROFILE = [
    {
        "name": "Zoë Ångström-Øre",
        "email": "zoe@example.org",
        "greeting": "Γειά σου, Кириллица, 日本語, 🙂",
        "settings": {"theme": "dark", "languages": ["de", "el"]},
        "joined": datetime(2021, 3, 4, 5, 6, 7, tzinfo=UTC),
    }
]
HISTORY = [
    {"id": n, "prompt": f"question {n} — naïve café", "tokens": n * 10, "meta": {"model": "m1"}}
    for n in range(1, 6)
]


@pytest.fixture
def clock() -> FrozenClock:
    """A clock frozen at T0."""
    return FrozenClock(T0)


@pytest.fixture
def notifier() -> RecordingNotifier:
    """A notifier that records what it is told."""
    return RecordingNotifier()


@pytest.fixture
def sources() -> list[Any]:
    """Profile and history sources with non-ASCII and nested values."""
    return [StaticDataSource("profile", PROFILE), StaticDataSource("reasoning_history", HISTORY)]


@pytest.fixture
def make_service(
    clock: FrozenClock, notifier: RecordingNotifier, sources: list[Any]
) -> Callable[..., ExportService]:
    """Build an in-memory service; keyword arguments override the defaults."""

    def make(**overrides: Any) -> ExportService:
        options: dict[str, Any] = {
            "sources": sources,
            "notifier": notifier,
            "clock": clock,
            "storage": FsspecStorage(f"memory://test-{uuid4().hex}"),
            "config": ExportConfig(storage_backend="memory", compression_enabled=False),
        }
        # A service built on another's repositories shares its schedules too.
        options.update(overrides)
        return ExportService(**options)

    return make


@pytest.fixture
def service(make_service: Callable[..., ExportService]) -> ExportService:
    """A ready in-memory service without compression."""
    return make_service()


@pytest.fixture
def sqlite_spec(tmp_path: Any) -> str:
    """A migrated SQLite database, as a crash-worker repository specification."""
    from reasonkit_export.repositories.sql import SqlJobRepository

    url = f"sqlite:///{tmp_path / 'jobs.sqlite3'}"
    with SqlJobRepository(url) as repository:
        repository.migrate()
    return f"sql:{url}"


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The PostgreSQL test URL; skips without a server, but fails under CI."""
    import os

    import sqlalchemy

    from tests.sql_support import postgres_test_url

    url = postgres_test_url()
    engine = sqlalchemy.create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text("SELECT 1"))
    except sqlalchemy.exc.SQLAlchemyError as exc:
        message = f"PostgreSQL is unreachable at the test URL ({type(exc).__name__})"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must run the postgres tests", pytrace=False)
        pytest.skip(f"{message}; set REASONKIT_TEST_POSTGRES_URL or start the server")
    finally:
        engine.dispose()
    return url


@pytest.fixture
def postgres_spec(postgres_url: str) -> Any:
    """A migrated throwaway PostgreSQL schema, as a crash-worker repository specification."""
    import sqlalchemy

    from reasonkit_export.repositories.sql import SqlJobRepository

    schema = f"rk_crash_{uuid4().hex}"
    with SqlJobRepository(postgres_url, schema=schema) as repository:
        repository.migrate()
    yield f"sql:{postgres_url}#{schema}"
    engine = sqlalchemy.create_engine(postgres_url)
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()
