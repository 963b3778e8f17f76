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


def unreachable(what: str, exc: Exception) -> None:
    """Fail in CI (where every server must run), else skip."""
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
        unreachable("PostgreSQL", exc)
    engine = sa.create_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def _mariadb() -> Iterator[sa.Engine]:
    from tests.sql_support import mariadb_test_url

    url = sa.make_url(mariadb_test_url())
    database = f"rk_src_{uuid4().hex[:16]}"
    admin = sa.create_engine(url)
    try:
        with admin.begin() as connection:
            connection.execute(sa.text(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4"))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        unreachable("MariaDB", exc)
    engine = sa.create_engine(url.set(database=database))
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(sa.text(f"DROP DATABASE IF EXISTS `{database}`"))
        admin.dispose()


BACKENDS = [
    "sqlite",
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("mariadb", marks=pytest.mark.mariadb),
]


def _open(backend: str, directory: Path) -> Iterator[sa.Engine]:
    if backend == "sqlite":
        sqlite = sa.create_engine(f"sqlite:///{directory / 'app.sqlite3'}")
        yield sqlite
        sqlite.dispose()
    elif backend == "postgres":
        from tests.sql_support import postgres_test_url

        yield from _postgres(postgres_test_url())
    else:
        yield from _mariadb()


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """An empty database on each backend."""
    yield from _open(request.param, tmp_path)


@pytest.fixture(scope="module", params=BACKENDS)
def module_engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[sa.Engine]:
    """An empty database on each backend, shared by a module's tests (for read-only tests)."""
    yield from _open(request.param, tmp_path_factory.mktemp("db"))
