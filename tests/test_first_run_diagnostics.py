"""First-run database errors say what to do: migrate, or which host and port did not answer."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

pytest.importorskip("sqlalchemy")

import sqlalchemy

from reasonkit_export import DatabaseError
from reasonkit_export.cli import main
from reasonkit_export.repositories.sql import SqlJobRepository

MIGRATE = "run `reasonkit-export migrate`"


def test_unmigrated_sqlite_says_migrate(tmp_path: Path) -> None:
    """A SQLite file without the tables names the migrate command."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    with SqlJobRepository(url) as repository, pytest.raises(DatabaseError) as info:
        repository.list_for_user("alice")
    assert MIGRATE in str(info.value)


@pytest.mark.postgres
def test_unmigrated_postgresql_says_migrate(postgres_url: str) -> None:
    """A PostgreSQL schema without the tables names the migrate command."""
    schema = f"rk_unmigrated_{uuid.uuid4().hex}"
    engine = sqlalchemy.create_engine(postgres_url)
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
    try:
        repository = SqlJobRepository(postgres_url, schema=schema)
        with repository, pytest.raises(DatabaseError) as info:
            repository.list_for_user("alice")
        assert MIGRATE in str(info.value)
    finally:
        with engine.begin() as connection:
            connection.execute(sqlalchemy.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


def test_unreachable_postgresql_names_host_and_port() -> None:
    """A refused connection names host, port and database, never the password."""
    pytest.importorskip("psycopg")
    url = "postgresql+psycopg://app:hunter2-secret@127.0.0.1:1/appdb?connect_timeout=3"
    with SqlJobRepository(url) as repository, pytest.raises(DatabaseError) as info:
        repository.list_for_user("alice")
    message = str(info.value)
    assert "cannot connect to postgresql at 127.0.0.1:1 (database 'appdb')" in message
    assert "hunter2" not in message


def test_cli_names_the_migrate_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CLI's one error line on an unmigrated database tells the operator to migrate."""
    for name in list(os.environ):
        if name.startswith("REASONKIT_EXPORT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "reasonkit-export.toml").write_text(
        f'repository = "sqlite:///{tmp_path / "state.db"}"\nlocal_path = "{tmp_path}"\n',
        encoding="utf-8",
    )
    assert main(["list"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert MIGRATE in err
