"""Set up the project on one database, fill it, discover, print what each user gets as JSON.

Usage: ``python -m tests.sources.django_project.run sqlite PATH``,
``... postgres SCHEMA`` (with the test PostgreSQL URL) or ``... mariadb
DATABASE`` (with the test MariaDB URL, through PyMySQL). Runs in its own
process because Django's settings are configured once per process.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any


def configure(backend: str, where: str) -> None:
    """Configure Django for the shop app on SQLite (a file), PostgreSQL (a schema) or MariaDB."""
    import django
    from django.conf import settings

    if backend == "sqlite":
        database: dict[str, Any] = {"ENGINE": "django.db.backends.sqlite3", "NAME": where}
    elif backend == "mariadb":
        from importlib import import_module

        from sqlalchemy import make_url

        from tests.sql_support import mariadb_test_url

        # Django's MySQL backend, on PyMySQL instead of mysqlclient (PyMySQL has no stubs).
        import_module("pymysql").install_as_MySQLdb()
        url = make_url(mariadb_test_url())
        database = {
            "ENGINE": "django.db.backends.mysql",
            "NAME": where,
            "USER": url.username or "",
            "PASSWORD": url.password or "",
            "HOST": url.host or "",
            "PORT": str(url.port or ""),
            "OPTIONS": {"charset": "utf8mb4"},
        }
    else:
        from sqlalchemy import make_url

        from tests.sql_support import postgres_test_url

        url = make_url(postgres_test_url())
        database = {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": url.database,
            "USER": url.username or "",
            "PASSWORD": url.password or "",
            "HOST": url.host or "",
            "PORT": str(url.port or ""),
            "OPTIONS": {"options": f"-c search_path={where}"},
        }
    settings.configure(
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "tests.sources.django_project.shop",
        ],
        DATABASES={"default": database},
        USE_TZ=True,
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
    )
    django.setup()


def populate() -> None:
    """Three users with overlapping relations (ids 1 Alice, 2 Bob, 3 Carol)."""
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command

    from tests.sources.django_project.shop import models as m

    call_command("migrate", "auth", verbosity=0)  # first: the shop's tables refer to auth_user
    call_command("migrate", run_syncdb=True, verbosity=0)
    at = datetime(2025, 1, 5, 12, 0, tzinfo=UTC)
    alice = User.objects.create(id=1, username="alice", email="alice@example.org", password="x")
    bob = User.objects.create(id=2, username="bob", email="bob@example.org", password="y")
    carol = User.objects.create(id=3, username="carol", email="carol@example.org", password="z")
    editors = Group.objects.create(name="editors")
    alice.groups.add(editors)
    m.Profile.objects.create(id=1, user=alice, bio="Hi", phone="+49 30 1234")
    news, fun = m.Tag.objects.create(id=1, label="news"), m.Tag.objects.create(id=2, label="fun")
    p1 = m.Post.objects.create(id=1, author=alice, title="Alice's", created_at=at)
    p2 = m.Post.objects.create(id=2, author=bob, title="Bob's", created_at=at.replace(day=9))
    p1.tags.add(news, fun)
    p2.tags.add(fun)
    c1 = m.Comment.objects.create(id=1, post=p1, author=bob, body="Bob on Alice's post")
    c2 = m.Comment.objects.create(id=2, post=p1, author=carol, parent=c1, body="Carol replies")
    m.Comment.objects.create(id=3, post=p2, author=alice, parent=c2, body="Alice on Bob's")
    m.Like.objects.create(id=1, user=bob, post=p1)
    m.Like.objects.create(id=2, user=alice, post=p1)
    m.Follow.objects.create(id=1, follower=alice, followee=bob)
    m.Follow.objects.create(id=2, follower=carol, followee=bob)
    o1 = m.Order.objects.create(id=1, user=alice, total=Decimal("29.80"), meta={"gift": True})
    o2 = m.Order.objects.create(id=2, user=bob, total=Decimal("9.90"))
    m.OrderItem.objects.create(id=1, order=o1, sku="MUG")
    m.OrderItem.objects.create(id=2, order=o1, sku="TEE")
    m.OrderItem.objects.create(id=3, order=o2, sku="MUG")
    m.Invoice.objects.create(id=1, order=o1, number="INV-1")
    m.Invoice.objects.create(id=2, order=None, number="INV-ORPHAN")
    w1 = m.Workspace.objects.create(id=1, owner=alice, title="Alice's space")
    f1 = m.Folder.objects.create(id=1, workspace=w1, title="root")
    f2 = m.Folder.objects.create(id=2, parent=f1, title="child")
    m.Folder.objects.create(id=3, parent=f2, title="grandchild")
    m.Folder.objects.create(id=4, title="stray")
    m.ApiKey.objects.create(id=1, user=alice, label="laptop", key_hash="h1")
    m.Country.objects.create(code="DE")


def report() -> dict[str, Any]:
    """What discovery finds and what each user's sources yield."""
    from django.contrib.auth import get_user_model

    from reasonkit_export import ExportConfig, ExportService
    from reasonkit_export._encoding import dumps_compact
    from reasonkit_export.sources.django import ModelSource, discover_model_sources
    from tests.sources.django_project.shop import models as m

    sources = discover_model_sources(get_user_model(), exclude=("shop_apikey",), chunk_size=2)
    from django.db import connection

    out: dict[str, Any] = {
        "vendor": connection.display_name,
        "categories": [s.category for s in sources],
        "fields": {s.category: list(s.fields) for s in sources},
        "excluded": {s.category: list(s.excluded_fields) for s in sources},
        "rows": {},
        "counts": {},
    }
    for user in ("1", "2", "3"):
        out["rows"][user] = {}
        for source in sources:
            records = list(source.records(user))
            for record in records:
                dumps_compact(record)
            pk = source.model._meta.pk.attname
            out["rows"][user][source.category] = [r[pk] for r in records]
            assert source.count(user) == len(records), source.category
    followed = {
        s.category: s
        for s in discover_model_sources(get_user_model(), follow=("shop_comment.post_id",))
    }
    out["followed_comments"] = [r["id"] for r in followed["shop.comment"].records("1")]
    posts = ModelSource(m.Post, user_field="author", since_field="created_at")
    since = datetime(2025, 1, 6, tzinfo=UTC)
    out["since"] = [r["id"] for r in posts.records("2", since=since)]
    out["since_alice"] = [r["id"] for r in posts.records("1", since=since)]
    service = ExportService(sources=sources, config=ExportConfig(storage_backend="memory"))
    job = service.process_export(service.create_export("1", "json", ["all"]).id)
    out["job"] = {"status": str(job.status), "counts": dict(job.record_counts)}
    return out


def main() -> None:
    """Entry point: configure, populate, report."""
    backend, where = sys.argv[1], sys.argv[2]
    configure(backend, where)
    populate()
    sys.stdout.write(json.dumps(report()) + "\n")


if __name__ == "__main__":
    main()
