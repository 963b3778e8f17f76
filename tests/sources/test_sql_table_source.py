"""TableSource: one table's rows for a user, streamed, filtered, typed."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from reasonkit_export import CategoryDescription, ExportConfig, ExportService
from reasonkit_export.exceptions import InvalidRequest
from reasonkit_export.protocols import DataSource
from tests.sources.schema import ALICE, BOB, CAROL, build_metadata, populate

if TYPE_CHECKING:
    import sqlalchemy as sa
else:
    sa = pytest.importorskip("sqlalchemy")

from reasonkit_export.sources.sql import TableSource


@pytest.fixture
def app(engine: sa.Engine) -> tuple[sa.Engine, sa.MetaData]:
    """The schema with its data on the backend under test."""
    md = build_metadata()
    populate(engine, md)
    return engine, md


def test_streams_the_users_rows_in_key_order(app: tuple[sa.Engine, sa.MetaData]) -> None:
    """Only the user's rows, every declared field in every record, ordered by the key."""
    engine, _md = app
    source = TableSource(engine, "posts", user_column="author_id", chunk_size=1)
    assert isinstance(source, DataSource)
    assert source.category == "posts"
    assert source.fields == ("id", "author_id", "title", "body", "created_at")
    records = list(source.records(str(ALICE)))
    assert [r["id"] for r in records] == [1, 2]
    assert all(tuple(r) == source.fields for r in records)
    assert source.count(str(ALICE)) == 2
    assert source.count("99") == 0


def test_options_columns_where_order_and_category(app: tuple[sa.Engine, sa.MetaData]) -> None:
    """columns, exclude_columns, where, order_by and category shape the output."""
    engine, md = app
    posts = md.tables["posts"]
    source = TableSource(
        engine,
        posts,
        user_column="author_id",
        category="my_posts",
        columns=["id", "title", "body"],
        exclude_columns=["body"],
        where=posts.c.title.like("%second%") | posts.c.title.like("%first%"),
        order_by=[posts.c.id.desc()],
    )
    assert source.category == "my_posts"
    assert source.fields == ("id", "title")
    assert source.excluded_fields == ("author_id", "body", "created_at")
    assert [r["id"] for r in source.records(str(ALICE))] == [2, 1]
    by_title = TableSource(engine, posts, user_column="author_id", order_by="title")
    assert [r["title"] for r in by_title.records(str(ALICE))] == ["Alice's first", "Alice's second"]


def test_since_filters_on_the_named_timestamp(app: tuple[sa.Engine, sa.MetaData]) -> None:
    """With since_column, records(since=...) yields rows at or after the instant."""
    engine, _md = app
    plain = TableSource(engine, "posts", user_column="author_id")
    assert plain.supports_since is False
    source = TableSource(engine, "posts", user_column="author_id", since_column="created_at")
    assert source.supports_since is True
    since = datetime(2025, 1, 9, 12, 0, tzinfo=UTC)
    assert [r["id"] for r in source.records(str(ALICE), since=since)] == [2]
    later = since + timedelta(seconds=1)
    assert list(source.records(str(ALICE), since=later)) == []
    service = ExportService(sources=[source], config=ExportConfig(storage_backend="memory"))
    job = service.process_export(
        service.create_export(str(ALICE), "json", ["posts"], since=since).id
    )
    assert job.record_counts == {"posts": 1}
    assert job.since_applied == ("posts",)


def _csv_export(service: ExportService, user: str, categories: list[str]) -> bytes:
    job = service.process_export(service.create_export(user, "csv", categories).id)
    assert job.status == "completed", job.error
    with service.open_download(job.id, user_id=user) as download:
        return download.read()


def test_empty_table_still_has_its_columns_as_csv_header(
    app: tuple[sa.Engine, sa.MetaData], tmp_path: Path
) -> None:
    """A user with no rows in the table gets a CSV whose header is the exported columns."""
    pandas = pytest.importorskip("pandas")
    engine, _md = app
    posts = TableSource(engine, "posts", user_column="author_id", exclude_columns=["body"])
    users = TableSource(engine, "users", user_column="id")
    config = ExportConfig(storage_backend="memory", compression_enabled=False)
    service = ExportService(sources=[posts, users], config=config)
    assert posts.count(str(CAROL)) == 0
    single = tmp_path / "posts.csv"
    single.write_bytes(_csv_export(service, str(CAROL), ["posts"]))
    frame = pandas.read_csv(single, encoding="utf-8-sig")
    assert list(frame.columns) == ["id", "author_id", "title", "created_at"]
    assert len(frame) == 0
    archive = zipfile.ZipFile(io.BytesIO(_csv_export(service, str(CAROL), ["posts", "users"])))
    in_zip = pandas.read_csv(io.BytesIO(archive.read("posts.csv")), encoding="utf-8-sig")
    assert list(in_zip.columns) == ["id", "author_id", "title", "created_at"]
    assert len(in_zip) == 0
    with_rows = pandas.read_csv(io.BytesIO(archive.read("users.csv")), encoding="utf-8-sig")
    assert list(with_rows.columns) == list(users.fields)
    assert with_rows["id"].tolist() == [CAROL]


def test_description_declares_every_column_and_keeps_labels(
    app: tuple[sa.Engine, sa.MetaData],
) -> None:
    """The description lists the exported columns in order, keeping labels; bad labels fail."""
    engine, _md = app
    plain = TableSource(engine, "posts", user_column="author_id", columns=["id", "title"])
    assert plain.description == CategoryDescription(fields={"id": "Id", "title": "Title"})
    described = TableSource(
        engine,
        "posts",
        user_column="author_id",
        columns=["id", "title", "created_at"],
        description={"purposes": ["Publishing"], "fields": {"created_at": {"de": "Erstellt"}}},
    )
    assert described.description.purposes == ("Publishing",)
    assert dict(described.description.fields) == {
        "id": "Id",
        "title": "Title",
        "created_at": {"de": "Erstellt"},
    }
    with pytest.raises(InvalidRequest, match="labels 'body', which is not an exported field"):
        TableSource(
            engine,
            "posts",
            user_column="author_id",
            exclude_columns=["body"],
            description=CategoryDescription(fields={"body": "Text"}),
        )
    with pytest.raises(InvalidRequest, match="invalid description of table 'posts'"):
        TableSource(engine, "posts", user_column="author_id", description={"colour": "red"})


def test_secret_columns_are_left_out_by_default(app: tuple[sa.Engine, sa.MetaData]) -> None:
    """Columns named like credentials are excluded unless listed in columns."""
    engine, _md = app
    users = TableSource(engine, "users", user_column="id")
    assert "password_hash" not in users.fields
    assert users.excluded_fields == ("password_hash",)
    explicit = TableSource(engine, "users", user_column="id", columns=["id", "password_hash"])
    assert [r["password_hash"] for r in explicit.records(str(BOB))] == ["x2"]


def test_bad_arguments_are_named(app: tuple[sa.Engine, sa.MetaData]) -> None:
    """Unknown tables and columns, a non-timestamp since_column and a bad user id are refused."""
    engine, _md = app
    with pytest.raises(InvalidRequest, match="'nope' does not exist"):
        TableSource(engine, "nope", user_column="id")
    with pytest.raises(InvalidRequest, match="no column 'owner'"):
        TableSource(engine, "posts", user_column="owner")
    with pytest.raises(InvalidRequest, match="no column 'x'"):
        TableSource(engine, "posts", user_column="author_id", columns=["x"])
    with pytest.raises(InvalidRequest, match="not a timestamp"):
        TableSource(engine, "posts", user_column="author_id", since_column="title")
    with pytest.raises(InvalidRequest, match="left to export"):
        TableSource(engine, "posts", user_column="author_id", columns=[])
    with pytest.raises(InvalidRequest, match="chunk_size"):
        TableSource(engine, "posts", user_column="author_id", chunk_size=0)
    source = TableSource(engine, "posts", user_column="author_id")
    with pytest.raises(InvalidRequest, match="user id does not convert") as caught:
        list(source.records("alice@example.org"))
    assert "alice@example.org" not in str(caught.value)


def test_stops_early_without_leaking_the_connection(app: tuple[sa.Engine, sa.MetaData]) -> None:
    """Closing the generator half-way returns the connection to the pool."""
    engine, _md = app
    source = TableSource(engine, "comments", user_column="author_id", chunk_size=1)
    records = source.records(str(ALICE))
    next(records)
    records.close()  # type: ignore[attr-defined]  # it is a generator, closed on purpose
    pool: Any = engine.pool
    assert pool.checkedout() == 0


@pytest.mark.postgres
def test_driver_types_become_plain_values(postgres_url: str) -> None:
    """PostgreSQL inet, arrays, JSON, intervals and ranges come out encodable."""
    from uuid import uuid4

    from reasonkit_export._encoding import dumps_compact

    schema = f"rk_src_{uuid4().hex}"
    admin = sa.create_engine(postgres_url)
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine = sa.create_engine(postgres_url, connect_args={"options": f"-csearch_path={schema}"})
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "CREATE TABLE events (id serial primary key, user_id int, ip inet, "
                    "ips inet[], tags text[], data jsonb, took interval, span int4range, "
                    "raw bytea, uid uuid)"
                )
            )
            connection.execute(
                sa.text(
                    "INSERT INTO events (user_id, ip, ips, tags, data, took, span, raw, uid) "
                    "VALUES (7, '192.0.2.7', ARRAY['::1'::inet], ARRAY['a','b'], "
                    "'{\"k\": [1, 2]}', '90 seconds', '[1,5)', '\\x0102', "
                    "'6f1c7c2e-5a55-4d5e-9f65-9c54d4a0b0a1')"
                )
            )
        (record,) = TableSource(engine, "events", user_column="user_id").records("7")
        assert record["ip"] == "192.0.2.7"
        assert record["ips"] == ["::1"]
        assert record["tags"] == ["a", "b"]
        assert record["data"] == {"k": [1, 2]}
        assert record["took"] == timedelta(seconds=90)
        assert record["span"] == "[1,5)"
        assert record["raw"] == b"\x01\x02"
        dumps_compact(record)
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_importing_the_package_needs_no_sqlalchemy_or_django() -> None:
    """Importing the package loads neither SQLAlchemy nor Django; .django needs no SQLAlchemy."""
    import subprocess
    import sys

    code = (
        "import sys, reasonkit_export, reasonkit_export.sources;"
        "bad = [m for m in ('sqlalchemy', 'django') if m in sys.modules];"
        "sys.exit(1 if bad else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
    django_only = (
        "import sys, reasonkit_export.sources.django;"
        "sys.exit(1 if 'sqlalchemy' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", django_only], check=False).returncode == 0
