"""Which SQL backends the tests can use, and the PostgreSQL test URL."""

from __future__ import annotations

import importlib.util
import os

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_MARIADB_URL = "mysql+pymysql://root@127.0.0.1:3306/test"


def postgres_test_url() -> str:
    """The PostgreSQL URL tests use (override with REASONKIT_TEST_POSTGRES_URL)."""
    return os.environ.get("REASONKIT_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def mariadb_test_url() -> str:
    """The MariaDB URL tests use (override with REASONKIT_TEST_MARIADB_URL)."""
    return os.environ.get("REASONKIT_TEST_MARIADB_URL", DEFAULT_MARIADB_URL)


def sql_backends() -> list[object]:
    """The SQL backends to parametrize over: SQLite and PostgreSQL when SQLAlchemy is there."""
    import pytest

    if importlib.util.find_spec("sqlalchemy") is None:
        return []
    return ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
