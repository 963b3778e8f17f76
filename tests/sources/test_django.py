"""ModelSource and discover_model_sources on a real Django project (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

pytest.importorskip("django")

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


def _run(backend: str, where: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "tests.sources.django_project.run", backend, where],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _check(report: dict[str, Any]) -> None:
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


def test_django_discovery_on_sqlite(tmp_path: Path) -> None:
    """Every row of each user and no other, on SQLite, through ModelSource and the service."""
    _check(_run("sqlite", str(tmp_path / "django.sqlite3")))


@pytest.mark.postgres
def test_django_discovery_on_postgres(postgres_url: str) -> None:
    """The same on PostgreSQL."""
    import sqlalchemy as sa

    schema = f"rk_dj_{uuid4().hex}"
    engine = sa.create_engine(postgres_url)
    with engine.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        _check(_run("postgres", schema))
    finally:
        with engine.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()
