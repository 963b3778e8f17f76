"""SQL job and schedule repositories on SQLAlchemy Core (extra ``sql``).

One implementation serves two backends:

* **SQLite** (``sqlite:///path/to/state.db``), the embedded default for several
  processes of one host: WAL journal mode, a busy timeout, and ``BEGIN
  IMMEDIATE`` for every write transaction, so writers queue instead of failing
  with "database is locked" halfway through a transaction.
* **PostgreSQL** (``postgresql+psycopg://…``), the path to many hosts: claims
  lock the row with ``SELECT … FOR UPDATE SKIP LOCKED``, so a worker never
  waits for another worker's claim.

Each record is one row: the columns the repository queries, plus a JSON
``document`` holding the whole model. Every write is fenced by ``version``.
Create the tables with :meth:`SqlJobRepository.migrate` or :func:`migrate`
(see ``docs/sql.md``)::

    from reasonkit_export.repositories.sql import SqlJobRepository, SqlScheduleRepository, migrate

    engine = sqlalchemy.create_engine("postgresql+psycopg://app@db/app", hide_parameters=True)
    migrate(engine)                      # at deploy time; idempotent
    jobs = SqlJobRepository(engine)
    schedules = SqlScheduleRepository(engine)
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Collection, Iterator
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import attrs
from sqlalchemy import (
    URL,
    ColumnElement,
    Connection,
    Engine,
    MetaData,
    Table,
    and_,
    create_engine,
    delete,
    event,
    exists,
    insert,
    make_url,
    or_,
    select,
    true,
    update,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.pool import ConnectionPoolEntry

from reasonkit_export._closing import Closing
from reasonkit_export._models import ExportJob, ExportStatus, ScheduledExport, ensure_utc
from reasonkit_export._redact import mask_url
from reasonkit_export._serialization import (
    job_from_dict,
    job_to_dict,
    schedule_from_dict,
    schedule_to_dict,
)
from reasonkit_export.exceptions import (
    ConflictError,
    DatabaseError,
    ExportNotFound,
    InvalidRequest,
    ScheduleNotFound,
)
from reasonkit_export.repositories._rules import claimed
from reasonkit_export.repositories._sql_schema import (
    SCHEMA_VERSION,
    Tables,
    build_tables,
    current_version,
    run_migrations,
)

__all__ = [
    "SCHEMA_VERSION",
    "SqlJobRepository",
    "SqlScheduleRepository",
    "migrate",
    "table_metadata",
]

_PREFIX = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,29}")
_SWEEP_BATCH = 500
# The execution option our "begin" listener reads to choose SQLite's BEGIN mode.
_SQLITE_BEGIN = "reasonkit_sqlite_begin"


# --------------------------------------------------------------------------- SQLite recipe


def _sqlite_on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    """Take transaction control from pysqlite and switch the file to WAL."""
    # pysqlite otherwise emits its own (deferred) BEGIN before DML only, which
    # rules out BEGIN IMMEDIATE; SQLAlchemy's recipe: disable it, emit our own.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        # WAL lets readers proceed while one writer writes; the mode is stored in
        # the file, so this is a no-op after the first connection.
        cursor.execute("PRAGMA journal_mode=WAL")
    finally:
        cursor.close()


def _sqlite_on_begin(connection: Connection) -> None:
    """Emit BEGIN (reads) or BEGIN IMMEDIATE (writes) ourselves."""
    # Connections pooled before our listeners were installed (a host's engine)
    # never saw _sqlite_on_connect; with no transaction open this is harmless.
    connection.connection.dbapi_connection.isolation_level = None  # type: ignore[union-attr]
    mode = connection.get_execution_options().get(_SQLITE_BEGIN, "DEFERRED")
    connection.exec_driver_sql(f"BEGIN {mode}")


def _install_sqlite_recipe(engine: Engine) -> None:
    # Repositories sharing one engine must not install the listeners twice
    # (two BEGINs would fail): the functions are module-level so contains() works.
    if not event.contains(engine, "connect", _sqlite_on_connect):
        event.listen(engine, "connect", _sqlite_on_connect)
    if not event.contains(engine, "begin", _sqlite_on_begin):
        event.listen(engine, "begin", _sqlite_on_begin)


# --------------------------------------------------------------------------- shared plumbing


def _make_engine(url: str | URL, *, sqlite_busy_timeout: float) -> Engine:
    try:
        parsed = make_url(url)
    except sa_exc.ArgumentError as exc:
        raise InvalidRequest("invalid database URL") from exc
    if parsed.drivername in ("postgres", "postgresql"):
        # The sql extra installs psycopg 3; SQLAlchemy 2.0 would pick psycopg2 for a
        # bare scheme, and "postgres://" (as many platforms hand it out) is no dialect.
        parsed = parsed.set(drivername="postgresql+psycopg")
    options: dict[str, Any] = {"hide_parameters": True}
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:") or parsed.query.get("mode") == "memory":
            raise InvalidRequest(
                "in-memory SQLite is private to each connection; use a database file"
            )
        # pysqlite's timeout is SQLite's busy timeout: how long a writer waits for the lock.
        options["connect_args"] = {"timeout": sqlite_busy_timeout}
    elif backend == "postgresql":
        # Survive server restarts and idle-connection reaping between calls.
        options["pool_pre_ping"] = True
    try:
        return create_engine(parsed, **options)
    except (sa_exc.ArgumentError, ImportError) as exc:
        raise InvalidRequest(f"cannot create a {backend} engine: {type(exc).__name__}") from exc


def _check_prefix(table_prefix: object) -> None:
    # The prefix is spliced into table and index names, which are not bound parameters.
    if not isinstance(table_prefix, str) or not _PREFIX.fullmatch(table_prefix):
        raise InvalidRequest(
            "table_prefix must be 1-30 letters, digits or '_', not starting with a digit"
        )


def _describe(exc: BaseException) -> str:
    """Name the driver error without its message (which may quote SQL or parameters)."""
    cause = exc.orig if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None else exc
    # PostgreSQL's SQLSTATE and SQLite's error name identify the failure without
    # quoting anything the statement carried.
    code = getattr(cause, "sqlstate", None) or getattr(cause, "sqlite_errorname", None)
    return type(cause).__name__ + (f" ({code})" if code else "")


_DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306}
# MySQL/MariaDB client errors meaning "no server there": can't connect (local,
# TCP), unknown host, server gone away, lost connection.
_MYSQL_CONNECT_ERRORS = frozenset({2002, 2003, 2005, 2006, 2013})


def _diagnose(exc: BaseException, url: URL) -> str:
    """A hint for the two first-run failures: no tables yet, or no server there.

    Names the host and port (never the user or password) and the command that
    creates the tables; empty for any other error.
    """
    cause = exc.orig if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None else exc
    sqlstate = getattr(cause, "sqlstate", None)
    errorname = getattr(cause, "sqlite_errorname", None)
    first_arg = cause.args[0] if cause.args else None
    text = str(cause) if isinstance(first_arg, str) else ""
    if sqlstate == "42P01" or text.startswith("no such table") or first_arg == 1146:
        return "; the tables do not exist yet: run `reasonkit-export migrate`"
    backend = url.get_backend_name()
    if backend == "sqlite":
        if errorname == "SQLITE_CANTOPEN":
            return f"; cannot open the SQLite database file {url.database!r}"
        return ""
    refused = isinstance(cause, OSError) or (
        isinstance(exc, sa_exc.OperationalError)
        and (
            (sqlstate is None and backend == "postgresql")
            or (isinstance(sqlstate, str) and sqlstate.startswith("08"))
            or first_arg in _MYSQL_CONNECT_ERRORS
        )
    )
    if not refused:
        return ""
    port = url.port or _DEFAULT_PORTS.get(backend)
    return (
        f"; cannot connect to {backend} at {url.host or 'localhost'}:{port} "
        f"(database {url.database!r}): is the server running and reachable?"
    )


class _Database:
    """An engine, its tables, and transactions that translate driver errors."""

    def __init__(
        self,
        bind: str | URL | Engine,
        *,
        schema: str | None,
        table_prefix: str,
        sqlite_busy_timeout: float,
    ) -> None:
        _check_prefix(table_prefix)
        if isinstance(bind, Engine):
            self.engine = bind
            self.owns_engine = False
        elif isinstance(bind, str | URL):
            self.engine = _make_engine(bind, sqlite_busy_timeout=sqlite_busy_timeout)
            self.owns_engine = True
        else:
            raise InvalidRequest("expected a database URL or a SQLAlchemy Engine")
        self.backend = self.engine.dialect.name
        if self.backend not in ("sqlite", "postgresql"):
            self.close()
            raise InvalidRequest(f"unsupported database backend {self.backend!r}")
        if self.backend == "sqlite":
            if schema is not None:
                self.close()
                raise InvalidRequest("schema= is for PostgreSQL; SQLite has one per file")
            _install_sqlite_recipe(self.engine)
        self.schema = schema
        self.tables: Tables = build_tables(MetaData(schema=schema), table_prefix)

    def describe(self) -> str:
        # hide_password covers user:password@ only; a ?password= query is masked too.
        url = mask_url(self.engine.url.render_as_string(hide_password=True))
        return f"{url!r}" + (f", schema={self.schema!r}" if self.schema else "")

    def close(self) -> None:
        if self.owns_engine:
            self.engine.dispose()

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction (BEGIN IMMEDIATE on SQLite); commits unless it raises."""
        with self.engine.connect() as connection:
            if self.backend == "sqlite":
                # Sets the option in place (Connection.execution_options returns self).
                connection.execution_options(**{_SQLITE_BEGIN: "IMMEDIATE"})
            with connection.begin():
                yield connection

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A transaction for reads (a deferred BEGIN on SQLite: never waits for writers)."""
        with self.engine.connect() as connection, connection.begin():
            yield connection

    @contextlib.contextmanager
    def translating(self, action: str) -> Iterator[None]:
        """Turn driver errors into DatabaseError, without SQL or personal data."""
        dbapi_error = getattr(self.engine.dialect.loaded_dbapi, "Error", None)
        errors: tuple[type[BaseException], ...] = (sa_exc.SQLAlchemyError,)
        if isinstance(dbapi_error, type) and issubclass(dbapi_error, BaseException):
            errors = (*errors, dbapi_error)
        try:
            yield
        except errors as exc:
            message = f"SQL repository could not {action}: {_describe(exc)}"
            raise DatabaseError(message + _diagnose(exc, self.engine.url)) from exc

    def migrate(self) -> int:
        with self.translating("migrate the schema"):
            return run_migrations(self.write, self.tables)

    def schema_version(self) -> int:
        with self.translating("read the schema version"), self.read() as connection:
            return current_version(connection, self.tables)


def _statuses(statuses: Collection[ExportStatus]) -> list[str]:
    return [ExportStatus(status).value for status in statuses]


class _SqlRepository(Closing):
    """Construction, lifetime and migration shared by both repositories."""

    def __init__(
        self,
        bind: str | URL | Engine,
        *,
        schema: str | None = None,
        table_prefix: str = "reasonkit_",
        sqlite_busy_timeout: float = 30.0,
    ) -> None:
        self._db = _Database(
            bind,
            schema=schema,
            table_prefix=table_prefix,
            sqlite_busy_timeout=sqlite_busy_timeout,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._db.describe()})"

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine in use."""
        return self._db.engine

    def close(self) -> None:
        """Dispose of the engine if this repository created it from a URL."""
        self._db.close()

    def migrate(self) -> int:
        """Create or upgrade every reasonkit table (jobs and schedules); idempotent.

        Returns:
            The schema version now recorded in the database.

        Raises:
            DatabaseError: the backend failed, or the database is newer than this library.
        """
        return self._db.migrate()

    def schema_version(self) -> int:
        """The schema version recorded in the database (0 before the first migration)."""
        return self._db.schema_version()


# --------------------------------------------------------------------------- jobs


def _job_columns(job: ExportJob) -> dict[str, Any]:
    return {
        "user_id": job.user_id,
        "status": job.status.value,
        "created_at": job.created_at,
        "expires_at": job.expires_at,
        "lease_expires_at": job.lease_expires_at,
        "version": job.version,
        "document": job_to_dict(job),
        "sweep_at": job.sweep_at,
    }


class SqlJobRepository(_SqlRepository):
    """Jobs in a SQL table; safe for many threads, processes and (PostgreSQL) hosts.

    Args:
        bind: a database URL (the repository creates and owns its engine; call
            :meth:`close`) or a SQLAlchemy :class:`~sqlalchemy.Engine` (shared,
            never disposed here).
        schema: the PostgreSQL schema holding the tables (default: the search path).
        table_prefix: prefix of every table and index name.
        sqlite_busy_timeout: seconds a SQLite writer waits for the write lock
            (only for engines created here from a URL).
    """

    @property
    def _t(self) -> Table:
        return self._db.tables.jobs

    def add(self, job: ExportJob) -> ExportJob:
        """Store a new job (ConflictError if the id exists)."""
        try:
            with self._db.translating("add a job"), self._db.write() as connection:
                connection.execute(insert(self._t).values(id=job.id, **_job_columns(job)))
        except DatabaseError as exc:
            if isinstance(exc.__cause__, sa_exc.IntegrityError):
                raise ConflictError(job.id) from exc.__cause__
            raise
        return job

    def get(self, job_id: UUID) -> ExportJob:
        """Return the job or raise ExportNotFound."""
        with self._db.translating("read a job"), self._db.read() as connection:
            document = connection.scalar(select(self._t.c.document).where(self._t.c.id == job_id))
        if document is None:
            raise ExportNotFound(job_id)
        return job_from_dict(document)

    def list_for_user(
        self,
        user_id: str,
        *,
        limit: int | None = None,
        statuses: Collection[ExportStatus] | None = None,
    ) -> list[ExportJob]:
        """Return a user's jobs, newest first (ties by id)."""
        if limit is not None and limit < 0:
            raise InvalidRequest("limit must not be negative")
        query = (
            select(self._t.c.document)
            .where(self._t.c.user_id == user_id)
            .order_by(self._t.c.created_at.desc(), self._t.c.id.desc())
            .limit(limit)
        )
        if statuses is not None:
            query = query.where(self._t.c.status.in_(_statuses(statuses)))
        with self._db.translating("list a user's jobs"), self._db.read() as connection:
            documents = connection.scalars(query).all()
        return [job_from_dict(document) for document in documents]

    def list_by_status(
        self, statuses: Collection[ExportStatus], *, before: datetime | None = None
    ) -> Iterator[ExportJob]:
        """Yield jobs for sweeps, read in batches so no connection stays open between them."""
        condition = self._sweep_condition(statuses, None if before is None else ensure_utc(before))
        first = self._sweep_batch(condition, after=None)  # errors surface here, not mid-loop
        return self._sweep_rest(condition, first)

    def list_to_sweep(self, now: datetime) -> Iterator[ExportJob]:
        """Yield jobs whose ``sweep_at`` is due (an index range scan), read in batches."""
        condition = self._t.c.sweep_at <= ensure_utc(now)
        first = self._sweep_batch(condition, after=None)
        return self._sweep_rest(condition, first)

    def _sweep_condition(
        self, statuses: Collection[ExportStatus], before: datetime | None
    ) -> ColumnElement[bool]:
        t = self._t
        condition = t.c.status.in_(_statuses(statuses))
        if before is None:
            return condition
        completed, processing = ExportStatus.COMPLETED.value, ExportStatus.PROCESSING.value
        # The same deadlines as _rules.sweep_matches; NULL deadlines never match.
        return and_(
            condition,
            or_(
                and_(t.c.status == completed, t.c.expires_at < before),
                and_(t.c.status == processing, t.c.lease_expires_at < before),
                and_(t.c.status.not_in([completed, processing]), t.c.created_at < before),
            ),
        )

    def _sweep_batch(
        self, condition: ColumnElement[bool], *, after: UUID | None
    ) -> list[ExportJob]:
        query = select(self._t.c.document).where(condition)
        if after is not None:
            query = query.where(self._t.c.id > after)
        query = query.order_by(self._t.c.id).limit(_SWEEP_BATCH)
        with self._db.translating("list jobs for a sweep"), self._db.read() as connection:
            documents = connection.scalars(query).all()
        return [job_from_dict(document) for document in documents]

    def _sweep_rest(
        self, condition: ColumnElement[bool], batch: list[ExportJob]
    ) -> Iterator[ExportJob]:
        while True:
            yield from batch
            if len(batch) < _SWEEP_BATCH:
                return
            batch = self._sweep_batch(condition, after=batch[-1].id)

    def claim(self, job_id: UUID, *, now: datetime, lease: timedelta) -> ExportJob | None:
        """Atomically claim the job for one worker (see the module docstring)."""
        now = ensure_utc(now)
        t = self._t
        query = select(t.c.document).where(t.c.id == job_id)
        if self._db.backend == "postgresql":
            # A row another claimer holds is skipped, not waited for: they are
            # claiming it, so this worker moves on.
            query = query.with_for_update(skip_locked=True)
        with self._db.translating("claim a job"), self._db.write() as connection:
            document = connection.scalar(query)
            if document is None:
                if connection.scalar(select(exists().where(t.c.id == job_id))):
                    return None  # locked by a concurrent claim
                raise ExportNotFound(job_id)
            new = claimed(job_from_dict(document), now=now, lease=lease)
            if new is None:
                return None
            # The row is locked (FOR UPDATE / BEGIN IMMEDIATE), so the fence is a
            # belt-and-braces check that costs nothing.
            result = connection.execute(
                update(t)
                .where(t.c.id == job_id, t.c.version == new.version - 1)
                .values(**_job_columns(new))
            )
            return new if result.rowcount == 1 else None

    def save(self, job: ExportJob) -> ExportJob:
        """Compare-and-set on version."""
        new = attrs.evolve(job, version=job.version + 1)
        t = self._t
        with self._db.translating("save a job"), self._db.write() as connection:
            result = connection.execute(
                update(t)
                .where(t.c.id == job.id, t.c.version == job.version)
                .values(**_job_columns(new))
            )
            if result.rowcount == 1:
                return new
            found = connection.scalar(select(exists().where(t.c.id == job.id)))
        raise ConflictError(job.id) if found else ExportNotFound(job.id)


# --------------------------------------------------------------------------- schedules


def _schedule_columns(schedule: ScheduledExport) -> dict[str, Any]:
    return {
        "user_id": schedule.user_id,
        "enabled": schedule.enabled,
        "next_run": schedule.next_run,
        "created_at": schedule.created_at,
        "version": schedule.version,
        "document": schedule_to_dict(schedule),
    }


class SqlScheduleRepository(_SqlRepository):
    """Schedules in a SQL table; arguments as for :class:`SqlJobRepository`."""

    @property
    def _t(self) -> Table:
        return self._db.tables.schedules

    def add(self, schedule: ScheduledExport) -> ScheduledExport:
        """Store a new schedule (ConflictError if the id exists)."""
        try:
            with self._db.translating("add a schedule"), self._db.write() as connection:
                connection.execute(
                    insert(self._t).values(id=schedule.id, **_schedule_columns(schedule))
                )
        except DatabaseError as exc:
            if isinstance(exc.__cause__, sa_exc.IntegrityError):
                raise ConflictError(schedule.id) from exc.__cause__
            raise
        return schedule

    def get(self, schedule_id: UUID) -> ScheduledExport:
        """Return the schedule or raise ScheduleNotFound."""
        with self._db.translating("read a schedule"), self._db.read() as connection:
            document = connection.scalar(
                select(self._t.c.document).where(self._t.c.id == schedule_id)
            )
        if document is None:
            raise ScheduleNotFound(schedule_id)
        return schedule_from_dict(document)

    def list_for_user(self, user_id: str) -> list[ScheduledExport]:
        """Return a user's schedules, oldest first (ties by id)."""
        query = (
            select(self._t.c.document)
            .where(self._t.c.user_id == user_id)
            .order_by(self._t.c.created_at, self._t.c.id)
        )
        with self._db.translating("list a user's schedules"), self._db.read() as connection:
            documents = connection.scalars(query).all()
        return [schedule_from_dict(document) for document in documents]

    def list_due(self, now: datetime) -> list[ScheduledExport]:
        """Return enabled schedules with ``next_run <= now``, earliest first."""
        t = self._t
        query = (
            select(t.c.document)
            .where(t.c.enabled == true(), t.c.next_run <= ensure_utc(now))
            .order_by(t.c.next_run, t.c.id)
        )
        with self._db.translating("list due schedules"), self._db.read() as connection:
            documents = connection.scalars(query).all()
        return [schedule_from_dict(document) for document in documents]

    def save(self, schedule: ScheduledExport) -> ScheduledExport:
        """Compare-and-set on version."""
        new = attrs.evolve(schedule, version=schedule.version + 1)
        t = self._t
        with self._db.translating("save a schedule"), self._db.write() as connection:
            result = connection.execute(
                update(t)
                .where(t.c.id == schedule.id, t.c.version == schedule.version)
                .values(**_schedule_columns(new))
            )
            if result.rowcount == 1:
                return new
            found = connection.scalar(select(exists().where(t.c.id == schedule.id)))
        raise ConflictError(schedule.id) if found else ScheduleNotFound(schedule.id)

    def delete(self, schedule_id: UUID) -> None:
        """Remove the schedule; idempotent."""
        with self._db.translating("delete a schedule"), self._db.write() as connection:
            connection.execute(delete(self._t).where(self._t.c.id == schedule_id))


# --------------------------------------------------------------------------- module API


def migrate(
    engine_or_url: str | URL | Engine,
    schema: str | None = None,
    *,
    table_prefix: str = "reasonkit_",
) -> int:
    """Create or upgrade the job and schedule tables; idempotent.

    Safe to run from several processes at once (deploys). An engine passed in
    stays open; one created from a URL is disposed before returning.

    Returns:
        The schema version now recorded (:data:`SCHEMA_VERSION`).

    Raises:
        DatabaseError: the backend failed, or the database is newer than this library.
    """
    database = _Database(
        engine_or_url, schema=schema, table_prefix=table_prefix, sqlite_busy_timeout=30.0
    )
    try:
        return database.migrate()
    finally:
        database.close()


def table_metadata(schema: str | None = None, *, table_prefix: str = "reasonkit_") -> MetaData:
    """The tables and indexes of :data:`SCHEMA_VERSION`, for hosts that manage DDL themselves.

    Render them with :class:`sqlalchemy.schema.CreateTable` (e.g. in an Alembic
    revision), or use the table names to exclude them from autogenerate.
    """
    _check_prefix(table_prefix)
    return build_tables(MetaData(schema=schema), table_prefix).metadata
