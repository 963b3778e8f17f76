"""ModelSource and discover_model_sources on a real Django project (SQLite, PostgreSQL, MariaDB)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

pytest.importorskip("django")

BACKENDS = [
    "sqlite",
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("mariadb", marks=pytest.mark.mariadb),
]

ROOT = Path(__file__).resolve().parents[2]

# What each user's export must hold, by hand from the documented rules
# (users 1 Alice, 2 Bob, 3 Carol; see tests/sources/django_project/run.py).
EXPECTED = {
    "1": {
        "auth.user": [1],
        "auth.user_groups": [1],
        "shop.comment": [3],  # her own; Bob's comment on her post is Bob's
        "shop.follow": [1],
        "shop.like": [2],
        "shop.order": [1],
        "shop.post": [1],
        "shop.profile": [1],
        "shop.workspace": [1],
        "shop.folder": [1, 2, 3],  # the tree under her workspace's folder
        "shop.invoice": [1],
        "shop.orderitem": [1, 2],
        "shop.post_tags": [1, 2],
    },
    "2": {
        "auth.user": [2],
        "shop.comment": [1],
        "shop.follow": [1, 2],  # followed by Alice and Carol: both name Bob
        "shop.like": [1],
        "shop.order": [2],
        "shop.post": [2],
        "shop.orderitem": [3],
        "shop.post_tags": [3],
    },
    "3": {"auth.user": [3], "shop.comment": [2], "shop.follow": [2]},
}


def _child(args: list[str], backend: str, where: str) -> subprocess.CompletedProcess[str]:
    """Run ``python args`` in a fresh process (Django is configured once per process)."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "RK_DJANGO_BACKEND": backend,
        "RK_DJANGO_WHERE": where,
    }
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def _run(backend: str, where: str) -> dict[str, Any]:
    done = _child(["-m", "tests.sources.django_project.run", backend, where], backend, where)
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@contextmanager
def _database(backend: str, tmp_path: Path) -> Iterator[str]:
    """A fresh SQLite file, PostgreSQL schema or MariaDB database; yields its name."""
    if backend == "sqlite":
        yield str(tmp_path / "django.sqlite3")
        return
    import sqlalchemy as sa

    from tests.sources.conftest import unreachable
    from tests.sql_support import mariadb_test_url, postgres_test_url

    name = f"rk_dj_{uuid4().hex[:16]}"
    if backend == "postgres":
        url, create, drop = (
            postgres_test_url(),
            f'CREATE SCHEMA "{name}"',
            f'DROP SCHEMA IF EXISTS "{name}" CASCADE',
        )
    else:
        url, create, drop = (
            mariadb_test_url(),
            f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4",
            f"DROP DATABASE IF EXISTS `{name}`",
        )
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text(create))
    except sa.exc.OperationalError as exc:
        engine.dispose()
        unreachable(backend, exc)
    try:
        yield name
    finally:
        with engine.begin() as connection:
            connection.execute(sa.text(drop))
        engine.dispose()


VENDORS = {"sqlite": "SQLite", "postgres": "PostgreSQL", "mariadb": "MariaDB"}


def _check(report: dict[str, Any], backend: str) -> None:
    assert report["vendor"] == VENDORS[backend]  # the database asked for, not a fallback
    assert "shop.apikey" not in report["categories"]
    for unrelated in ("shop.tag", "shop.country", "auth.group", "auth.permission"):
        assert unrelated not in report["categories"]
    assert report["excluded"]["auth.user"] == ["password"]
    assert "password" not in report["fields"]["auth.user"]
    for user, want in EXPECTED.items():
        got = {category: rows for category, rows in report["rows"][user].items() if rows}
        assert got == want, user
    assert report["followed_comments"] == [1, 2, 3]
    assert report["since"] == [2]
    assert report["since_alice"] == []
    assert report["job"]["status"] == "completed"
    assert report["job"]["counts"]["shop.folder"] == 3


@pytest.mark.parametrize("backend", BACKENDS)
def test_django_discovery(backend: str, tmp_path: Path) -> None:
    """Every row of each user and no other, through ModelSource and the service."""
    with _database(backend, tmp_path) as where:
        _check(_run(backend, where), backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_model_sources_pass_the_data_source_contract(backend: str, tmp_path: Path) -> None:
    """ModelSource, plain, shaped and discovered, passes DataSourceContract on each database."""
    suite = "tests/sources/django_project/contract_suite.py"
    with _database(backend, tmp_path) as where:
        done = _child(["-m", "pytest", "-q", "-p", "no:cacheprovider", suite], backend, where)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    passed = re.search(r"(\d+) passed", done.stdout)
    assert passed is not None, done.stdout[-2000:]
    assert int(passed.group(1)) >= 45, done.stdout[-2000:]  # 7 suites of 9, a few skipped
