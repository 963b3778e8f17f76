"""Throwaway databases for the source tests: SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import uuid4

import pytest

if TYPE_CHECKING:
    import sqlalchemy as sa
else:
    sa = pytest.importorskip("sqlalchemy")

DEFAULT_MARIADB_URL = "mysql+pymysql://root@127.0.0.1:3306/test"


def _unreachable(what: str, exc: Exception) -> None:
    message = f"{what} is unreachable ({type(exc).__name__})"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI must run these tests", pytrace=False)
    pytest.skip(message)


def _postgres(url: str) -> Iterator[sa.Engine]:
    schema = f"rk_src_{uuid4().hex}"
    admin = sa.create_engine(url)
    try:
        with admin.begin() as connection:
            connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        _unreachable("PostgreSQL", exc)
    engine = sa.create_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def _mariadb() -> Iterator[sa.Engine]:
    url = sa.make_url(os.environ.get("REASONKIT_TEST_MARIADB_URL", DEFAULT_MARIADB_URL))
    database = f"rk_src_{uuid4().hex[:16]}"
    admin = sa.create_engine(url)
    try:
        with admin.begin() as connection:
            connection.execute(sa.text(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4"))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        _unreachable("MariaDB", exc)
    engine = sa.create_engine(url.set(database=database))
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(sa.text(f"DROP DATABASE IF EXISTS `{database}`"))
        admin.dispose()


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ]
)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """An empty database on each backend."""
    if request.param == "sqlite":
        sqlite = sa.create_engine(f"sqlite:///{tmp_path / 'app.sqlite3'}")
        yield sqlite
        sqlite.dispose()
    elif request.param == "postgres":
        from tests.sql_support import postgres_test_url

        yield from _postgres(postgres_test_url())
    else:
        yield from _mariadb()
