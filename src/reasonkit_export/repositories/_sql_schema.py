"""Tables and numbered migrations of the SQL repositories.

The database records its schema version in ``<prefix>schema_version`` (one
row). :func:`run_migrations` applies every step above that version, each in
its own transaction, under a lock (``BEGIN IMMEDIATE`` on SQLite, a
transaction-level advisory lock on PostgreSQL), so concurrent deploys are safe.

Steps are append-only: a released step never changes. When a later step alters
a table, freeze the current :func:`build_tables` into a copy for the step that
created it (``_v1_tables``), then change :func:`build_tables` to the new shape.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime

import attrs
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    TypeDecorator,
    Uuid,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateSchema

from reasonkit_export._models import ensure_utc
from reasonkit_export.exceptions import DatabaseError

__all__ = ["SCHEMA_VERSION", "Tables", "UtcDateTime", "build_tables", "run_migrations"]


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every backend.

    PostgreSQL stores ``timestamptz``. SQLite has no time-zone type, so values
    are converted to UTC and stored naive, as fixed-width ISO-8601 text
    (``YYYY-MM-DD HH:MM:SS.ffffff``), which compares correctly as text.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert to UTC; drop the offset where the backend cannot store it."""
        if value is None:
            return None
        value = ensure_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return an aware UTC datetime."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# JSONB on PostgreSQL so hosts can query and index documents; JSON text elsewhere.
_Document = JSON().with_variant(postgresql.JSONB(), "postgresql")


@attrs.frozen
class Tables:
    """The repository tables, bound to one schema and table prefix."""

    metadata: MetaData
    jobs: Table
    schedules: Table
    schema_version: Table


def build_tables(metadata: MetaData, prefix: str) -> Tables:
    """Define the current tables (and their indexes) in ``metadata``."""
    jobs = Table(
        f"{prefix}jobs",
        metadata,
        Column("id", Uuid(), primary_key=True),
        Column("user_id", String(), nullable=False),
        Column("status", String(16), nullable=False),
        Column("created_at", UtcDateTime(), nullable=False),
        Column("expires_at", UtcDateTime(), nullable=True),
        Column("lease_expires_at", UtcDateTime(), nullable=True),
        Column("version", Integer(), nullable=False),
        Column("document", _Document, nullable=False),
        Column("sweep_at", UtcDateTime(), nullable=True),
    )
    # One index per query shape: a user's history, the three sweep deadlines,
    # and the sweep's agenda (step 3).
    Index(f"ix_{prefix}jobs_user_created", jobs.c.user_id, jobs.c.created_at.desc())
    Index(f"ix_{prefix}jobs_status_expires", jobs.c.status, jobs.c.expires_at)
    Index(f"ix_{prefix}jobs_status_lease", jobs.c.status, jobs.c.lease_expires_at)
    Index(f"ix_{prefix}jobs_status_created", jobs.c.status, jobs.c.created_at)
    Index(f"ix_{prefix}jobs_sweep_at", jobs.c.sweep_at)

    schedules = Table(
        f"{prefix}schedules",
        metadata,
        Column("id", Uuid(), primary_key=True),
        Column("user_id", String(), nullable=False),
        Column("enabled", Boolean(), nullable=False),
        Column("next_run", UtcDateTime(), nullable=True),
        Column("created_at", UtcDateTime(), nullable=False),
        Column("version", Integer(), nullable=False),
        Column("document", _Document, nullable=False),
    )
    Index(f"ix_{prefix}schedules_user_created", schedules.c.user_id, schedules.c.created_at)
    Index(f"ix_{prefix}schedules_enabled_next_run", schedules.c.enabled, schedules.c.next_run)

    schema_version = Table(
        f"{prefix}schema_version",
        metadata,
        Column("id", Integer(), primary_key=True, autoincrement=False),
        Column("version", Integer(), nullable=False),
        Column("migrated_at", UtcDateTime(), nullable=False),
    )
    return Tables(metadata, jobs, schedules, schema_version)


def _v1_tables(metadata: MetaData, prefix: str) -> Tables:
    """The tables as step 1 created them (frozen: later steps alter them)."""
    jobs = Table(
        f"{prefix}jobs",
        metadata,
        Column("id", Uuid(), primary_key=True),
        Column("user_id", String(), nullable=False),
        Column("status", String(16), nullable=False),
        Column("created_at", UtcDateTime(), nullable=False),
        Column("expires_at", UtcDateTime(), nullable=True),
        Column("lease_expires_at", UtcDateTime(), nullable=True),
        Column("version", Integer(), nullable=False),
        Column("document", _Document, nullable=False),
    )
    # One index per query shape: a user's history, and the three sweep deadlines.
    Index(f"ix_{prefix}jobs_user_created", jobs.c.user_id, jobs.c.created_at.desc())
    Index(f"ix_{prefix}jobs_status_expires", jobs.c.status, jobs.c.expires_at)
    Index(f"ix_{prefix}jobs_status_lease", jobs.c.status, jobs.c.lease_expires_at)
    Index(f"ix_{prefix}jobs_status_created", jobs.c.status, jobs.c.created_at)

    schedules = Table(
        f"{prefix}schedules",
        metadata,
        Column("id", Uuid(), primary_key=True),
        Column("user_id", String(), nullable=False),
        Column("enabled", Boolean(), nullable=False),
        Column("next_run", UtcDateTime(), nullable=True),
        Column("created_at", UtcDateTime(), nullable=False),
        Column("version", Integer(), nullable=False),
        Column("document", _Document, nullable=False),
    )
    Index(f"ix_{prefix}schedules_user_created", schedules.c.user_id, schedules.c.created_at)
    Index(f"ix_{prefix}schedules_enabled_next_run", schedules.c.enabled, schedules.c.next_run)

    schema_version = Table(
        f"{prefix}schema_version",
        metadata,
        Column("id", Integer(), primary_key=True, autoincrement=False),
        Column("version", Integer(), nullable=False),
        Column("migrated_at", UtcDateTime(), nullable=False),
    )
    return Tables(metadata, jobs, schedules, schema_version)


def _prefix(tables: Tables) -> str:
    return tables.schema_version.name.removesuffix("schema_version")


def _v1(connection: Connection, tables: Tables) -> None:
    """Initial tables and indexes."""
    first = _v1_tables(MetaData(schema=tables.metadata.schema), _prefix(tables))
    first.jobs.create(connection)
    first.schedules.create(connection)


_BATCH = 500


def _v2_job_timezone(connection: Connection, tables: Tables) -> None:
    """Jobs gain ``timezone`` (the zone people's views show times in): UTC for old jobs.

    The job document is the source of truth, so the key is written into every
    stored document that lacks it (in batches, keyed by id), keeping reads of
    old rows explicit rather than relying on a default.
    """
    jobs = tables.jobs
    last = None
    while True:
        query = select(jobs.c.id, jobs.c.document).order_by(jobs.c.id).limit(_BATCH)
        if last is not None:
            query = query.where(jobs.c.id > last)
        rows = connection.execute(query).all()
        if not rows:
            return
        for job_id, document in rows:
            if isinstance(document, dict) and "timezone" not in document:
                updated = {**document, "timezone": "UTC"}
                connection.execute(update(jobs).where(jobs.c.id == job_id).values(document=updated))
        last = rows[-1][0]


def _v3_job_sweep_at(connection: Connection, tables: Tables) -> None:
    """Jobs gain ``sweep_at`` (the sweep's agenda and deletion outbox), indexed.

    Documents keep no ``sweep_at`` key; reading one gives ``created_at``
    (``job_from_dict``) unless the job is processing, so the column gets the
    same value: one sweep then visits every old job once and deletes whatever
    files earlier versions left behind.
    """
    jobs = tables.jobs
    column = jobs.c.sweep_at
    preparer = connection.dialect.identifier_preparer
    kind = column.type.compile(dialect=connection.dialect)
    connection.execute(
        text(
            f"ALTER TABLE {preparer.format_table(jobs)} "
            f"ADD COLUMN {preparer.format_column(column)} {kind}"
        )
    )
    connection.execute(
        update(jobs).where(jobs.c.status != "processing").values(sweep_at=jobs.c.created_at)
    )
    for index in jobs.indexes:
        if index.name == f"ix_{_prefix(tables)}jobs_sweep_at":
            index.create(connection)


# Append-only: step n brings the schema from version n - 1 to n.
_STEPS: tuple[Callable[[Connection, Tables], None], ...] = (
    _v1,
    _v2_job_timezone,
    _v3_job_sweep_at,
)
SCHEMA_VERSION = len(_STEPS)


def _lock(connection: Connection, tables: Tables) -> None:
    """Serialise migrations on PostgreSQL (SQLite's BEGIN IMMEDIATE already does)."""
    if connection.dialect.name == "postgresql":
        name = f"reasonkit_export:{tables.metadata.schema or ''}:{tables.schema_version.name}"
        key = zlib.crc32(name.encode())
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def current_version(connection: Connection, tables: Tables) -> int:
    """The recorded schema version; 0 when nothing was migrated yet."""
    if not inspect(connection).has_table(tables.schema_version.name, schema=tables.metadata.schema):
        return 0
    version = connection.scalar(
        select(tables.schema_version.c.version).where(tables.schema_version.c.id == 1)
    )
    return int(version or 0)


def run_migrations(
    transaction: Callable[[], AbstractContextManager[Connection]], tables: Tables
) -> int:
    """Bring the database to :data:`SCHEMA_VERSION`; return the version reached.

    ``transaction`` opens a write transaction and yields its connection.

    Raises:
        DatabaseError: the database is newer than this library.
    """
    schema = tables.metadata.schema
    version_table = tables.schema_version
    with transaction() as connection:
        _lock(connection, tables)
        if (
            schema is not None
            and connection.dialect.name == "postgresql"
            and not inspect(connection).has_schema(schema)
        ):
            connection.execute(CreateSchema(schema))
        version_table.create(connection, checkfirst=True)
        found = connection.scalar(select(version_table.c.version).where(version_table.c.id == 1))
        if found is None:
            connection.execute(
                insert(version_table).values(id=1, version=0, migrated_at=datetime.now(UTC))
            )
        elif found > SCHEMA_VERSION:
            raise DatabaseError(
                f"database schema version {found} is newer than this library "
                f"supports ({SCHEMA_VERSION}); upgrade reasonkit-export"
            )
    for target, step in enumerate(_STEPS, start=1):
        with transaction() as connection:
            _lock(connection, tables)
            # Re-read under the lock: a concurrent deploy may have applied it meanwhile.
            if current_version(connection, tables) >= target:
                continue
            step(connection, tables)
            connection.execute(
                update(version_table)
                .where(version_table.c.id == 1)
                .values(version=target, migrated_at=datetime.now(UTC))
            )
    with transaction() as connection:
        return current_version(connection, tables)
