"""The SQL repositories on SQLite and PostgreSQL: contracts, migrations, processes, errors.

PostgreSQL tests use ``REASONKIT_TEST_POSTGRES_URL`` (default: the local test
server) and a throwaway schema per test. Without a server they are skipped,
except under CI (``CI`` set), where they fail.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import attrs
import pytest

# SQLAlchemy is in the test extra: a missing one is an error here, not a skip.
import sqlalchemy
from sqlalchemy import Engine, create_engine, event, inspect, text

from reasonkit_export import ExportJob, ExportStatus, ScheduledExport
from reasonkit_export.exceptions import (
    ConflictError,
    DatabaseError,
    ExportNotFound,
    InvalidRequest,
)
from reasonkit_export.repositories import sql as sql_module
from reasonkit_export.repositories.sql import (
    SCHEMA_VERSION,
    SqlJobRepository,
    SqlScheduleRepository,
    migrate,
    table_metadata,
)
from reasonkit_export.testing import (
    JobRepositoryContract,
    ScheduleRepositoryContract,
)

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)


def _job(user: str = "user-1", **changes: Any) -> ExportJob:
    fields: dict[str, Any] = {
        "user_id": user,
        "format": "json",
        "categories": ("profile",),
        "created_at": T0,
    }
    return ExportJob(**{**fields, **changes})


def _schedule(**changes: Any) -> ScheduledExport:
    fields: dict[str, Any] = {
        "user_id": "user-1",
        "cron_expression": "0 3 * * *",
        "format": "json",
        "categories": ("profile",),
        "created_at": T0,
        "next_run": T0,
    }
    return ScheduledExport(**{**fields, **changes})


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def postgres_engine(postgres_url: str) -> Iterator[Engine]:
    """One shared engine for the PostgreSQL tests."""
    engine = create_engine(postgres_url, hide_parameters=True)
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_schema(postgres_engine: Engine) -> Iterator[str]:
    """A throwaway schema name (migrate creates it); dropped afterwards."""
    name = f"rk_test_{uuid4().hex}"
    yield name
    with postgres_engine.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))


@attrs.frozen
class Backend:
    """Where a test's tables live: a URL for new processes, an engine for this one."""

    name: str
    url: str
    engine: Engine
    schema: str | None


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """An empty database on each backend (SQLite file, or a fresh PostgreSQL schema)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.db'}"
        engine = create_engine(url, hide_parameters=True)
        yield Backend("sqlite", url, engine, None)
        engine.dispose()
    else:
        yield Backend(
            "postgres",
            request.getfixturevalue("postgres_url"),
            request.getfixturevalue("postgres_engine"),
            request.getfixturevalue("postgres_schema"),
        )


# --------------------------------------------------------------------------- contracts


class TestSqliteJobRepository(JobRepositoryContract):
    """The job repository on a SQLite file honours the contract."""

    @pytest.fixture
    def repository(self, tmp_path: Path) -> Iterator[SqlJobRepository]:
        """A migrated repository on a fresh SQLite file."""
        with SqlJobRepository(f"sqlite:///{tmp_path / 'state.db'}") as repository:
            repository.migrate()
            yield repository


class TestSqliteScheduleRepository(ScheduleRepositoryContract):
    """The schedule repository on a SQLite file honours the contract."""

    @pytest.fixture
    def schedules(self, tmp_path: Path) -> Iterator[SqlScheduleRepository]:
        """A migrated repository on a fresh SQLite file."""
        with SqlScheduleRepository(f"sqlite:///{tmp_path / 'state.db'}") as repository:
            repository.migrate()
            yield repository


@pytest.mark.postgres
class TestPostgresJobRepository(JobRepositoryContract):
    """The job repository on PostgreSQL honours the contract."""

    @pytest.fixture
    def repository(self, postgres_engine: Engine, postgres_schema: str) -> SqlJobRepository:
        """A migrated repository in a throwaway schema."""
        repository = SqlJobRepository(postgres_engine, schema=postgres_schema)
        repository.migrate()
        return repository


@pytest.mark.postgres
class TestPostgresScheduleRepository(ScheduleRepositoryContract):
    """The schedule repository on PostgreSQL honours the contract."""

    @pytest.fixture
    def schedules(self, postgres_engine: Engine, postgres_schema: str) -> SqlScheduleRepository:
        """A migrated repository in a throwaway schema."""
        repository = SqlScheduleRepository(postgres_engine, schema=postgres_schema)
        repository.migrate()
        return repository


# --------------------------------------------------------------------------- migrations


def _table_names(backend: Backend) -> set[str]:
    return set(inspect(backend.engine).get_table_names(schema=backend.schema))


def test_empty_database_upgrades_to_current_version(backend: Backend) -> None:
    """An empty database (v0) gets every table and the current version recorded."""
    repository = SqlJobRepository(backend.engine, schema=backend.schema)
    assert repository.schema_version() == 0
    assert repository.migrate() == SCHEMA_VERSION
    assert repository.schema_version() == SCHEMA_VERSION
    assert _table_names(backend) == {
        "reasonkit_jobs",
        "reasonkit_schedules",
        "reasonkit_schema_version",
    }
    indexes = {
        i["name"] for i in inspect(backend.engine).get_indexes("reasonkit_jobs", backend.schema)
    }
    assert indexes >= {
        "ix_reasonkit_jobs_user_created",
        "ix_reasonkit_jobs_status_expires",
        "ix_reasonkit_jobs_status_lease",
    }


def test_migrate_twice_is_a_noop(backend: Backend) -> None:
    """A second migrate changes nothing and keeps data and the single version row."""
    assert migrate(backend.engine, backend.schema) == SCHEMA_VERSION
    jobs = SqlJobRepository(backend.engine, schema=backend.schema)
    job = jobs.add(_job())
    assert migrate(backend.engine, backend.schema) == SCHEMA_VERSION
    assert jobs.get(job.id) == job
    table = (
        f'"{backend.schema}".reasonkit_schema_version'
        if backend.schema
        else "reasonkit_schema_version"
    )
    with backend.engine.connect() as connection:
        rows = connection.execute(text(f"SELECT id, version FROM {table}")).all()
    assert [tuple(row) for row in rows] == [(1, SCHEMA_VERSION)]


def test_database_recorded_at_v0_gets_every_step(backend: Backend) -> None:
    """A version table at 0 (tables missing) is upgraded by running step 1 again."""
    migrate(backend.engine, backend.schema)
    prefix = f'"{backend.schema}".' if backend.schema else ""
    with backend.engine.begin() as connection:
        connection.execute(text(f"DROP TABLE {prefix}reasonkit_jobs"))
        connection.execute(text(f"DROP TABLE {prefix}reasonkit_schedules"))
        connection.execute(text(f"UPDATE {prefix}reasonkit_schema_version SET version = 0"))
    assert migrate(backend.engine, backend.schema) == SCHEMA_VERSION
    assert "reasonkit_jobs" in _table_names(backend)


def test_newer_database_is_refused(backend: Backend) -> None:
    """A database migrated by a newer library version raises DatabaseError, untouched."""
    migrate(backend.engine, backend.schema)
    prefix = f'"{backend.schema}".' if backend.schema else ""
    with backend.engine.begin() as connection:
        connection.execute(text(f"UPDATE {prefix}reasonkit_schema_version SET version = 99"))
    with pytest.raises(DatabaseError, match="newer"):
        migrate(backend.engine, backend.schema)


def test_concurrent_migrations_all_succeed(backend: Backend) -> None:
    """Several deploys migrating the same empty database at once all succeed."""
    barrier = threading.Barrier(4)
    results: list[object] = []

    def run() -> None:
        barrier.wait()
        try:
            results.append(migrate(backend.engine, backend.schema))
        except DatabaseError as exc:  # collected, so the assertion shows it
            results.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [SCHEMA_VERSION] * 4


def test_host_managed_ddl_from_table_metadata_is_accepted(backend: Backend) -> None:
    """Tables created from table_metadata() plus a version row make migrate() a no-op."""
    metadata = table_metadata(backend.schema)
    with backend.engine.begin() as connection:
        if backend.schema:
            connection.execute(text(f'CREATE SCHEMA "{backend.schema}"'))
        metadata.create_all(connection)
        connection.execute(
            metadata.tables[
                f"{backend.schema + '.' if backend.schema else ''}reasonkit_schema_version"
            ]
            .insert()
            .values(id=1, version=SCHEMA_VERSION, migrated_at=T0)
        )
    assert migrate(backend.engine, backend.schema) == SCHEMA_VERSION
    job = SqlJobRepository(backend.engine, schema=backend.schema).add(_job())
    assert SqlJobRepository(backend.engine, schema=backend.schema).get(job.id) == job


def test_table_prefix_keeps_installations_apart(backend: Backend) -> None:
    """Two table prefixes in one database are independent repositories."""
    first = SqlJobRepository(backend.engine, schema=backend.schema, table_prefix="a_")
    second = SqlJobRepository(backend.engine, schema=backend.schema, table_prefix="b_")
    first.migrate()
    second.migrate()
    job = first.add(_job())
    with pytest.raises(ExportNotFound):
        second.get(job.id)
    assert {"a_jobs", "b_jobs", "a_schema_version"} <= _table_names(backend)


def test_unmigrated_database_raises_database_error(backend: Backend) -> None:
    """Using the repository before migrate() raises DatabaseError, not a driver error."""
    with pytest.raises(DatabaseError) as caught:
        SqlJobRepository(backend.engine, schema=backend.schema).get(uuid4())
    assert isinstance(caught.value.__cause__, sqlalchemy.exc.SQLAlchemyError)


# --------------------------------------------------------------------------- behaviour


def test_deadlines_compare_in_utc_whatever_the_offset(backend: Backend) -> None:
    """Arguments in other time zones compare as the same instants in UTC."""
    migrate(backend.engine, backend.schema)
    jobs = SqlJobRepository(backend.engine, schema=backend.schema)
    schedules = SqlScheduleRepository(backend.engine, schema=backend.schema)
    job = jobs.add(_job(status=ExportStatus.COMPLETED, expires_at=T0 + timedelta(hours=1)))
    schedule = schedules.add(_schedule(next_run=T0 + timedelta(hours=1)))
    plus_two = timezone(timedelta(hours=2))
    # 14:30+02:00 is 12:30 UTC: before the 13:00 UTC deadline, though "later" as local text.
    early = datetime(2025, 3, 1, 14, 30, tzinfo=plus_two)
    late = datetime(2025, 3, 1, 15, 30, tzinfo=plus_two)
    assert list(jobs.list_by_status({ExportStatus.COMPLETED}, before=early)) == []
    assert [j.id for j in jobs.list_by_status({ExportStatus.COMPLETED}, before=late)] == [job.id]
    assert schedules.list_due(early) == []
    assert [s.id for s in schedules.list_due(late)] == [schedule.id]


def test_naive_datetimes_are_refused(backend: Backend) -> None:
    """Naive datetimes raise InvalidRequest instead of comparing wrongly."""
    migrate(backend.engine, backend.schema)
    jobs = SqlJobRepository(backend.engine, schema=backend.schema)
    job = jobs.add(_job())
    with pytest.raises(InvalidRequest):
        jobs.claim(job.id, now=datetime(2025, 3, 1), lease=LEASE)
    with pytest.raises(InvalidRequest):
        SqlScheduleRepository(backend.engine, schema=backend.schema).list_due(datetime(2025, 3, 1))


def test_sweeps_page_through_large_results(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """list_by_status and list_to_sweep yield every match across batch boundaries, each once."""
    monkeypatch.setattr(sql_module, "_SWEEP_BATCH", 3)  # 7 matches: batches of 3, 3 and 1
    migrate(backend.engine, backend.schema)
    jobs = SqlJobRepository(backend.engine, schema=backend.schema)
    added = [jobs.add(_job(sweep_at=T0)).id for _ in range(7)]
    jobs.add(_job(status=ExportStatus.FAILED, sweep_at=T0 + LEASE))
    reads: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            reads.append(statement)

    event.listen(backend.engine, "before_cursor_execute", count)
    try:
        found = [job.id for job in jobs.list_by_status({ExportStatus.PENDING})]
        assert len(reads) == 3  # never more than one batch in memory
        due = [job.id for job in jobs.list_to_sweep(T0)]
        assert len(reads) == 6
    finally:
        event.remove(backend.engine, "before_cursor_execute", count)
    assert sorted(found) == sorted(added)
    assert sorted(due) == sorted(added)


def test_duplicate_add_chains_the_integrity_error(backend: Backend) -> None:
    """ConflictError from a duplicate id keeps the driver's IntegrityError as its cause."""
    migrate(backend.engine, backend.schema)
    jobs = SqlJobRepository(backend.engine, schema=backend.schema)
    job = jobs.add(_job())
    with pytest.raises(ConflictError) as caught:
        jobs.add(job)
    assert isinstance(caught.value.__cause__, sqlalchemy.exc.IntegrityError)


def test_history_limit_and_ties(backend: Backend) -> None:
    """History orders equal created_at by id (descending) and honours limit 0."""
    migrate(backend.engine, backend.schema)
    jobs = SqlJobRepository(backend.engine, schema=backend.schema)
    ids = [jobs.add(_job()).id for _ in range(3)]
    assert [j.id for j in jobs.list_for_user("user-1")] == sorted(ids, key=str, reverse=True)
    assert jobs.list_for_user("user-1", limit=0) == []
    with pytest.raises(InvalidRequest):
        jobs.list_for_user("user-1", limit=-1)


# --------------------------------------------------------------------------- SQLite specifics


def test_sqlite_uses_wal_and_begin_immediate_for_writes(tmp_path: Path) -> None:
    """SQLite files are in WAL mode; writes open BEGIN IMMEDIATE, reads a deferred BEGIN."""
    repository = SqlJobRepository(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        repository.migrate()
        statements: list[str] = []

        def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            statements.append(statement)

        event.listen(repository.engine, "before_cursor_execute", record)
        job = repository.add(_job())
        assert statements[0] == "BEGIN IMMEDIATE"
        statements.clear()
        repository.get(job.id)
        assert statements[0] == "BEGIN DEFERRED"
        with repository.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        repository.close()


def test_sqlite_engine_shared_by_both_repositories(tmp_path: Path) -> None:
    """Job and schedule repositories can share one host-made SQLite engine."""
    engine = create_engine(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        jobs = SqlJobRepository(engine)
        schedules = SqlScheduleRepository(engine)
        jobs.migrate()
        job = jobs.add(_job())
        schedule = schedules.add(_schedule())
        assert jobs.get(job.id) == job
        assert schedules.get(schedule.id) == schedule
        jobs.close()  # a shared engine is not disposed by the repository
        assert jobs.get(job.id) == job
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"bind": "sqlite://"}, "in-memory"),
        ({"bind": "sqlite:///:memory:"}, "in-memory"),
        ({"bind": "not a url"}, "invalid database URL"),
        ({"bind": 42}, "URL or a SQLAlchemy Engine"),
        ({"bind": "sqlite:///x.db", "schema": "s"}, "PostgreSQL"),
        ({"bind": "sqlite:///x.db", "table_prefix": "bad-prefix"}, "table_prefix"),
        ({"bind": "sqlite:///x.db", "table_prefix": ""}, "table_prefix"),
    ],
)
def test_bad_configuration_is_refused(arguments: dict[str, Any], message: str) -> None:
    """Unusable URLs and options raise InvalidRequest before touching a database."""
    with pytest.raises(InvalidRequest, match=message):
        SqlJobRepository(**arguments)


@pytest.mark.parametrize("scheme", ["postgres", "postgresql"])
def test_bare_postgres_schemes_use_psycopg(scheme: str) -> None:
    """postgres:// and postgresql:// URLs use psycopg 3, the driver the sql extra installs."""
    with SqlJobRepository(f"{scheme}://app@127.0.0.1:1/app") as repository:
        assert repository.engine.dialect.driver == "psycopg"


def test_repr_hides_the_password() -> None:
    """repr() names the database but never its password."""
    repository = SqlJobRepository("postgresql+psycopg://app:s3cret@127.0.0.1:1/app", schema="rk")
    try:
        assert "s3cret" not in repr(repository)
        assert "127.0.0.1" in repr(repository)
    finally:
        repository.close()


# --------------------------------------------------------------------------- errors


def test_unreachable_server_raises_database_error() -> None:
    """A closed port becomes DatabaseError with the driver error chained."""
    with (
        SqlJobRepository("postgresql+psycopg://postgres@127.0.0.1:1/test") as repository,
        pytest.raises(DatabaseError) as caught,
    ):
        repository.get(uuid4())
    assert isinstance(caught.value.__cause__, sqlalchemy.exc.OperationalError)
    assert not isinstance(caught.value, ConflictError)


def test_unopenable_sqlite_file_raises_database_error(tmp_path: Path) -> None:
    """A SQLite path in a missing directory becomes DatabaseError."""
    with (
        SqlJobRepository(f"sqlite:///{tmp_path / 'missing' / 'state.db'}") as repository,
        pytest.raises(DatabaseError) as caught,
    ):
        repository.migrate()
    assert caught.value.__cause__ is not None


def test_dropped_table_error_hides_sql_and_personal_data(backend: Backend) -> None:
    """A driver failure mid-use says what failed, without SQL, parameters or user ids."""
    migrate(backend.engine, backend.schema)
    jobs = SqlJobRepository(backend.engine, schema=backend.schema)
    prefix = f'"{backend.schema}".' if backend.schema else ""
    with backend.engine.begin() as connection:
        connection.execute(text(f"DROP TABLE {prefix}reasonkit_jobs"))
    with pytest.raises(DatabaseError) as caught:
        jobs.add(_job("alice@example.org"))
    message = str(caught.value)
    assert "add a job" in message
    assert "alice" not in message
    assert "INSERT" not in message.upper()
    assert isinstance(caught.value.__cause__, sqlalchemy.exc.DBAPIError)
    with pytest.raises(DatabaseError):
        list(jobs.list_by_status({ExportStatus.PENDING}))
    # Every operation names itself, so the log says which step of a job failed.
    job = _job("alice@example.org")
    operations: dict[str, Any] = {
        "claim a job": lambda: jobs.claim(job.id, now=T0, lease=LEASE),
        "save a job": lambda: jobs.save(job),
        "read a job": lambda: jobs.get(job.id),
        "list jobs for a sweep": lambda: jobs.list_by_status({ExportStatus.PENDING}),
    }
    for action, operation in operations.items():
        with pytest.raises(DatabaseError) as failed:
            operation()
        assert str(failed.value).startswith(f"SQL repository could not {action}: ")
        assert "alice" not in str(failed.value)


# --------------------------------------------------------------------------- PostgreSQL specifics


@pytest.mark.postgres
def test_claim_skips_a_row_another_claimer_holds(
    postgres_engine: Engine, postgres_schema: str
) -> None:
    """A row locked by a concurrent claim yields None at once; a missing row still raises."""
    jobs = SqlJobRepository(postgres_engine, schema=postgres_schema)
    jobs.migrate()
    job = jobs.add(_job())
    with postgres_engine.connect() as other, other.begin():
        other.execute(
            text(f'SELECT 1 FROM "{postgres_schema}".reasonkit_jobs WHERE id = :id FOR UPDATE'),
            {"id": job.id},
        )
        assert jobs.claim(job.id, now=T0, lease=LEASE) is None
        with pytest.raises(ExportNotFound):
            jobs.claim(uuid4(), now=T0, lease=LEASE)
    claimed = jobs.claim(job.id, now=T0, lease=LEASE)
    assert claimed is not None
    assert claimed.attempt == 1


# --------------------------------------------------------------------------- processes


def _claim_all(
    url: str, schema: str | None, ids: list[str], queue: multiprocessing.Queue[list[str]]
) -> None:
    won = []
    with SqlJobRepository(url, schema=schema) as repository:
        for job_id in ids:
            if repository.claim(UUID(job_id), now=T0, lease=LEASE) is not None:
                won.append(job_id)
    queue.put(won)


def test_claims_across_processes_have_one_winner_per_job(backend: Backend) -> None:
    """Four processes claiming the same 30 jobs win each job exactly once."""
    migrate(backend.engine, backend.schema)
    repository = SqlJobRepository(backend.engine, schema=backend.schema)
    jobs = [repository.add(_job()) for _ in range(30)]
    ids = [str(job.id) for job in jobs]
    context = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue[list[str]] = context.Queue()
    processes = [
        context.Process(target=_claim_all, args=(backend.url, backend.schema, ids, queue))
        for _ in range(4)
    ]
    for process in processes:
        process.start()
    results = [queue.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    assert all(process.exitcode == 0 for process in processes)
    winners = [job_id for result in results for job_id in result]
    assert sorted(winners) == sorted(ids)
    stored = [repository.get(job.id) for job in jobs]
    assert all(job.status is ExportStatus.PROCESSING and job.attempt == 1 for job in stored)


def test_stale_save_through_another_engine_conflicts(backend: Backend) -> None:
    """A save based on a version another engine already replaced raises ConflictError."""
    migrate(backend.engine, backend.schema)
    first = SqlJobRepository(backend.engine, schema=backend.schema)
    with SqlJobRepository(backend.url, schema=backend.schema) as second:
        job = first.add(_job())
        second.save(attrs.evolve(job, progress=10))
        with pytest.raises(ConflictError):
            first.save(attrs.evolve(job, progress=20))
        assert first.get(job.id).progress == 10


def _rewind_to_v2(backend: Backend, connection: sqlalchemy.Connection) -> None:
    """Undo migration 3 (sweep_at) so a test can apply it, or an earlier one, again."""
    prefix = f'"{backend.schema}".' if backend.schema else ""
    if backend.name == "sqlite":
        connection.execute(text("DROP INDEX ix_reasonkit_jobs_sweep_at"))
    connection.execute(text(f"ALTER TABLE {prefix}reasonkit_jobs DROP COLUMN sweep_at"))
    connection.execute(text(f"UPDATE {prefix}reasonkit_schema_version SET version = 2"))


def test_v2_gives_old_jobs_the_utc_timezone(backend: Backend) -> None:
    """Migration 2 writes timezone UTC into job documents stored before it existed."""
    migrate(backend.engine, backend.schema)
    jobs = SqlJobRepository(backend.engine, schema=backend.schema)
    old = [jobs.add(_job(user=f"user-{n}")) for n in range(3)]
    berlin = jobs.add(_job(user="user-b", timezone="Europe/Berlin"))
    table = table_metadata(backend.schema).tables[
        f"{backend.schema}.reasonkit_jobs" if backend.schema else "reasonkit_jobs"
    ]
    prefix = f'"{backend.schema}".' if backend.schema else ""
    with backend.engine.begin() as connection:
        for job in old:
            document = connection.scalar(
                sqlalchemy.select(table.c.document).where(table.c.id == job.id)
            )
            assert document is not None
            del document["timezone"]
            connection.execute(
                sqlalchemy.update(table).where(table.c.id == job.id).values(document=document)
            )
        _rewind_to_v2(backend, connection)
        connection.execute(text(f"UPDATE {prefix}reasonkit_schema_version SET version = 1"))
    assert migrate(backend.engine, backend.schema) == SCHEMA_VERSION
    with backend.engine.connect() as connection:
        documents = connection.execute(sqlalchemy.select(table.c.document)).scalars().all()
    assert sorted(d["timezone"] for d in documents) == ["Europe/Berlin", "UTC", "UTC", "UTC"]
    assert jobs.get(berlin.id).timezone == "Europe/Berlin"
    assert all(jobs.get(job.id).timezone == "UTC" for job in old)


def test_v3_puts_every_old_job_on_the_sweep_agenda_once(backend: Backend) -> None:
    """Migration 3 adds sweep_at: old jobs (not processing) are due from their creation."""
    migrate(backend.engine, backend.schema)
    jobs = SqlJobRepository(backend.engine, schema=backend.schema)
    old = [
        jobs.add(_job(user=f"user-{n}", status=status, created_at=T0 + timedelta(minutes=n)))
        for n, status in enumerate(ExportStatus)
    ]
    table = table_metadata(backend.schema).tables[
        f"{backend.schema}.reasonkit_jobs" if backend.schema else "reasonkit_jobs"
    ]
    with backend.engine.begin() as connection:
        _rewind_to_v2(backend, connection)
        for job in old:  # documents as an earlier version wrote them: no sweep_at key
            document = connection.scalar(
                sqlalchemy.select(table.c.document).where(table.c.id == job.id)
            )
            assert document is not None
            del document["sweep_at"]
            connection.execute(
                sqlalchemy.update(table).where(table.c.id == job.id).values(document=document)
            )
    assert migrate(backend.engine, backend.schema) == SCHEMA_VERSION
    later = T0 + timedelta(days=1)
    due = {job.id for job in jobs.list_to_sweep(later)}
    assert due == {job.id for job in old if job.status is not ExportStatus.PROCESSING}
    for job in old:
        stored = jobs.get(job.id)
        expected = None if job.status is ExportStatus.PROCESSING else job.created_at
        assert stored.sweep_at == expected
    first = min(old, key=lambda job: job.created_at)
    assert [j.id for j in jobs.list_to_sweep(first.created_at)] == [first.id]
    indexes = {
        index["name"]
        for index in inspect(backend.engine).get_indexes("reasonkit_jobs", schema=backend.schema)
    }
    assert "ix_reasonkit_jobs_sweep_at" in indexes
