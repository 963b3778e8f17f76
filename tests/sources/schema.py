# ruff: noqa: E501 - the data table reads best one row per line
"""A realistic social/shop schema (23 tables) and its data, with who owns each row.

Every row is inserted with the set of users whose export must contain it,
written down by hand from the rules in ``reasonkit_export.sources.sql``; the
tests compare what discovery yields against these sets, never against a
second computation.

Users: 1 Alice, 2 Bob, 3 Carol. Overlaps on purpose: Bob comments on Alice's
post, Carol replies to Bob's comment, Bob likes Alice's post, Alice and Bob
follow each other, messages between users, an order of Bob's holding Alice's
product listing, a folder tree in Alice's workspace with sub-folders that
name no workspace.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

ALICE, BOB, CAROL = 1, 2, 3
USERS = (ALICE, BOB, CAROL)


def build_metadata() -> sa.MetaData:
    """The schema: users at the root, 22 more tables around them."""
    md = sa.MetaData()
    fk = sa.ForeignKey
    sa.Table(
        "users",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200)),
        sa.Column("password_hash", sa.String(200)),
        sa.Column("referred_by_id", sa.Integer, fk("users.id")),
        sa.Column("created_at", sa.DateTime),
    )
    sa.Table(
        "profiles",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, fk("users.id"), unique=True),
        sa.Column("bio", sa.Text),
        sa.Column("phone", sa.String(40)),
        sa.Column("birth_date", sa.Date),
    )
    sa.Table(
        "addresses",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, fk("users.id"), nullable=False),
        sa.Column("street", sa.String(200)),
        sa.Column("city", sa.String(100)),
        sa.Column("postal_code", sa.String(20)),
    )
    sa.Table(
        "posts",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("author_id", sa.Integer, fk("users.id"), nullable=False),
        sa.Column("title", sa.String(200)),
        sa.Column("body", sa.Text),
        sa.Column("created_at", sa.DateTime),
    )
    sa.Table(
        "comments",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("post_id", sa.Integer, fk("posts.id"), nullable=False),
        sa.Column("author_id", sa.Integer, fk("users.id"), nullable=False),
        sa.Column("parent_id", sa.Integer, fk("comments.id")),
        sa.Column("body", sa.Text),
        sa.Column("created_at", sa.DateTime),
    )
    sa.Table(
        "likes",
        md,
        sa.Column("user_id", sa.Integer, fk("users.id"), primary_key=True),
        sa.Column("post_id", sa.Integer, fk("posts.id"), primary_key=True),
        sa.Column("created_at", sa.DateTime),
    )
    sa.Table(
        "tags",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("label", sa.String(50)),
    )
    sa.Table(
        "post_tags",
        md,
        sa.Column("post_id", sa.Integer, fk("posts.id"), primary_key=True),
        sa.Column("tag_id", sa.Integer, fk("tags.id"), primary_key=True),
    )
    sa.Table(
        "follows",
        md,
        sa.Column("follower_id", sa.Integer, fk("users.id"), primary_key=True),
        sa.Column("followee_id", sa.Integer, fk("users.id"), primary_key=True),
        sa.Column("created_at", sa.DateTime),
    )
    sa.Table(
        "messages",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("sender_id", sa.Integer, fk("users.id"), nullable=False),
        sa.Column("recipient_id", sa.Integer, fk("users.id"), nullable=False),
        sa.Column("body", sa.Text),
    )
    sa.Table(
        "products",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("sku", sa.String(40)),
        sa.Column("price", sa.Numeric(10, 2)),
    )
    sa.Table(
        "orders",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, fk("users.id"), nullable=False),
        sa.Column("shipping_address_id", sa.Integer, fk("addresses.id")),
        sa.Column("total", sa.Numeric(10, 2)),
        sa.Column("placed_at", sa.DateTime),
    )
    sa.Table(
        "order_items",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("order_id", sa.Integer, fk("orders.id"), nullable=False),
        sa.Column("product_id", sa.Integer, fk("products.id"), nullable=False),
        sa.Column("quantity", sa.Integer),
    )
    sa.Table(
        "invoices",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("order_id", sa.Integer, fk("orders.id")),
        sa.Column("number", sa.String(40)),
        sa.Column(
            "last_payment_id",
            sa.Integer,
            fk("payments.id", use_alter=True, name="fk_invoices_last_payment"),
        ),
    )
    sa.Table(
        "payments",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("invoice_id", sa.Integer, fk("invoices.id"), nullable=False),
        sa.Column("amount", sa.Numeric(10, 2)),
        sa.Column("card_last4", sa.String(4)),
    )
    sa.Table(
        "refunds",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("payment_id", sa.Integer, fk("payments.id"), nullable=False),
        sa.Column("amount", sa.Numeric(10, 2)),
    )
    sa.Table(
        "api_keys",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, fk("users.id"), nullable=False),
        sa.Column("label", sa.String(100)),
        sa.Column("key_hash", sa.String(200)),
        sa.Column("api_token", sa.String(200)),
    )
    sa.Table(
        "sessions",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, fk("users.id"), nullable=False),
        sa.Column("ip_address", sa.String(45)),
        sa.Column("user_agent", sa.String(300)),
        sa.Column("refresh_token", sa.String(200)),
    )
    sa.Table(
        "audit_logs",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, fk("users.id")),
        sa.Column("action", sa.String(100)),
        sa.Column("ip_address", sa.String(45)),
        sa.Column("created_at", sa.DateTime),
    )
    sa.Table(
        "workspaces",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("owner_id", sa.Integer, fk("users.id"), nullable=False),
        sa.Column("title", sa.String(100)),
    )
    sa.Table(
        "folders",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("workspace_id", sa.Integer, fk("workspaces.id")),
        sa.Column("parent_id", sa.Integer, fk("folders.id")),
        sa.Column("title", sa.String(100)),
    )
    sa.Table(
        "countries",
        md,
        sa.Column("code", sa.String(2), primary_key=True),
        sa.Column("label", sa.String(100)),
    )
    sa.Table(
        "newsletter_signups",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(200)),
    )
    return md


TABLE_COUNT = 23

_T = datetime(2025, 1, 1, 12, 0, tzinfo=UTC).replace(tzinfo=None)


def _at(day: int) -> datetime:
    return _T.replace(day=day)


# (table, owners, row). Owners: whose export must contain the row.
A, B, C = frozenset({ALICE}), frozenset({BOB}), frozenset({CAROL})
NOBODY: frozenset[int] = frozenset()
# fmt: off
DATA: list[tuple[str, frozenset[int], dict[str, Any]]] = [
    # users: only one's own row; Bob was referred by Alice, which does not make him hers.
    ("users", A, {"id": 1, "email": "alice@example.org", "name": "Alice Ærø", "password_hash": "x1", "created_at": _at(1)}),
    ("users", B, {"id": 2, "email": "bob@example.org", "name": "Bob", "password_hash": "x2", "referred_by_id": 1, "created_at": _at(2)}),
    ("users", C, {"id": 3, "email": "carol@example.org", "name": "Carol", "password_hash": "x3", "referred_by_id": 2, "created_at": _at(3)}),
    ("profiles", A, {"id": 1, "user_id": 1, "bio": "Hi, I'm Alice", "phone": "+49 30 1234", "birth_date": date(1990, 5, 17)}),
    ("profiles", B, {"id": 2, "user_id": 2, "bio": "Bob here", "phone": None, "birth_date": None}),
    ("addresses", A, {"id": 1, "user_id": 1, "street": "Hauptstr. 1", "city": "Berlin", "postal_code": "10115"}),
    ("addresses", B, {"id": 2, "user_id": 2, "street": "Main St 5", "city": "Leeds", "postal_code": "LS1"}),
    ("posts", A, {"id": 1, "author_id": 1, "title": "Alice's first", "body": "hello", "created_at": _at(4)}),
    ("posts", A, {"id": 2, "author_id": 1, "title": "Alice's second", "body": "again", "created_at": _at(9)}),
    ("posts", B, {"id": 3, "author_id": 2, "title": "Bob's post", "body": "yo", "created_at": _at(5)}),
    # Bob comments on Alice's post: Bob's (rule 2), not Alice's.
    ("comments", B, {"id": 1, "post_id": 1, "author_id": 2, "parent_id": None, "body": "nice post", "created_at": _at(5)}),
    # Carol replies to Bob's comment: Carol's.
    ("comments", C, {"id": 2, "post_id": 1, "author_id": 3, "parent_id": 1, "body": "agreed", "created_at": _at(6)}),
    # Alice replies to Carol: Alice's.
    ("comments", A, {"id": 3, "post_id": 1, "author_id": 1, "parent_id": 2, "body": "thanks", "created_at": _at(7)}),
    ("comments", A, {"id": 4, "post_id": 3, "author_id": 1, "parent_id": None, "body": "on Bob's", "created_at": _at(8)}),
    # Likes: the liker's. Alice likes her own post: once in hers.
    ("likes", B, {"user_id": 2, "post_id": 1, "created_at": _at(5)}),
    ("likes", A, {"user_id": 1, "post_id": 1, "created_at": _at(5)}),
    ("likes", C, {"user_id": 3, "post_id": 3, "created_at": _at(6)}),
    ("tags", NOBODY, {"id": 1, "label": "news"}),
    ("tags", NOBODY, {"id": 2, "label": "fun"}),
    # post_tags names no user: the post's author's.
    ("post_tags", A, {"post_id": 1, "tag_id": 1}),
    ("post_tags", A, {"post_id": 1, "tag_id": 2}),
    ("post_tags", B, {"post_id": 3, "tag_id": 2}),
    # Follows name both users: both get the row.
    ("follows", A | B, {"follower_id": 1, "followee_id": 2, "created_at": _at(2)}),
    ("follows", A | B, {"follower_id": 2, "followee_id": 1, "created_at": _at(3)}),
    ("follows", B | C, {"follower_id": 3, "followee_id": 2, "created_at": _at(4)}),
    ("messages", A | B, {"id": 1, "sender_id": 1, "recipient_id": 2, "body": "hi Bob"}),
    ("messages", C | B, {"id": 2, "sender_id": 3, "recipient_id": 2, "body": "hi Bob, Carol here"}),
    ("messages", A, {"id": 3, "sender_id": 1, "recipient_id": 1, "body": "note to self"}),
    ("products", NOBODY, {"id": 1, "sku": "MUG", "price": Decimal("9.90")}),
    ("products", NOBODY, {"id": 2, "sku": "TEE", "price": Decimal("19.00")}),
    ("orders", A, {"id": 1, "user_id": 1, "shipping_address_id": 1, "total": Decimal("29.80"), "placed_at": _at(10)}),
    # Bob's order ships to Alice's address: still only Bob's (orders names its user).
    ("orders", B, {"id": 2, "user_id": 2, "shipping_address_id": 1, "total": Decimal("9.90"), "placed_at": _at(11)}),
    ("orders", C, {"id": 3, "user_id": 3, "shipping_address_id": None, "total": Decimal("0.00"), "placed_at": _at(12)}),
    ("order_items", A, {"id": 1, "order_id": 1, "product_id": 1, "quantity": 1}),
    ("order_items", A, {"id": 2, "order_id": 1, "product_id": 2, "quantity": 1}),
    ("order_items", B, {"id": 3, "order_id": 2, "product_id": 1, "quantity": 1}),
    ("invoices", A, {"id": 1, "order_id": 1, "number": "INV-1"}),
    ("invoices", B, {"id": 2, "order_id": 2, "number": "INV-2"}),
    ("invoices", NOBODY, {"id": 3, "order_id": None, "number": "INV-ORPHAN"}),
    ("payments", A, {"id": 1, "invoice_id": 1, "amount": Decimal("29.80"), "card_last4": "4242"}),
    ("payments", B, {"id": 2, "invoice_id": 2, "amount": Decimal("9.90"), "card_last4": "1881"}),
    ("refunds", A, {"id": 1, "payment_id": 1, "amount": Decimal("9.90")}),
    ("api_keys", A, {"id": 1, "user_id": 1, "label": "laptop", "key_hash": "h1", "api_token": "t1"}),
    ("api_keys", B, {"id": 2, "user_id": 2, "label": "ci", "key_hash": "h2", "api_token": "t2"}),
    ("sessions", A, {"id": 1, "user_id": 1, "ip_address": "192.0.2.1", "user_agent": "Firefox", "refresh_token": "r1"}),
    ("sessions", C, {"id": 2, "user_id": 3, "ip_address": "192.0.2.3", "user_agent": "Safari", "refresh_token": "r3"}),
    ("audit_logs", A, {"id": 1, "user_id": 1, "action": "login", "ip_address": "192.0.2.1", "created_at": _at(1)}),
    ("audit_logs", B, {"id": 2, "user_id": 2, "action": "login", "ip_address": "192.0.2.2", "created_at": _at(2)}),
    ("audit_logs", NOBODY, {"id": 3, "user_id": None, "action": "cron", "ip_address": None, "created_at": _at(3)}),
    ("workspaces", A, {"id": 1, "owner_id": 1, "title": "Alice's space"}),
    ("workspaces", B, {"id": 2, "owner_id": 2, "title": "Bob's space"}),
    # folders name no user: the workspace's owner's, and (rule 4) the
    # descendants of those, even where they name no workspace themselves.
    ("folders", A, {"id": 1, "workspace_id": 1, "parent_id": None, "title": "root"}),
    ("folders", A, {"id": 2, "workspace_id": None, "parent_id": 1, "title": "child"}),
    ("folders", A, {"id": 3, "workspace_id": None, "parent_id": 2, "title": "grandchild"}),
    ("folders", B, {"id": 4, "workspace_id": 2, "parent_id": None, "title": "bob root"}),
    ("folders", NOBODY, {"id": 5, "workspace_id": None, "parent_id": None, "title": "stray"}),
    ("countries", NOBODY, {"code": "DE", "label": "Germany"}),
    ("newsletter_signups", NOBODY, {"id": 1, "email": "someone@example.org"}),
]
# fmt: on

INSERT_ORDER = [
    "users", "profiles", "addresses", "posts", "comments", "likes", "tags", "post_tags",
    "follows", "messages", "products", "orders", "order_items", "invoices", "payments",
    "refunds", "api_keys", "sessions", "audit_logs", "workspaces", "folders", "countries",
    "newsletter_signups",
]  # fmt: skip


def populate(engine: sa.Engine, md: sa.MetaData) -> None:
    """Create the tables and insert :data:`DATA` (comments and folders parents first)."""
    md.create_all(engine)
    by_table: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for table, _owners, row in DATA:
        by_table[table].append(row)
    with engine.begin() as connection:
        for name in INSERT_ORDER:
            for row in by_table[name]:  # one at a time: parents before children
                connection.execute(md.tables[name].insert(), [row])


def key_of(table: sa.Table, row: Any) -> tuple[Any, ...]:
    """A row's primary key as a tuple."""
    return tuple(row[column.name] for column in table.primary_key.columns)


def expected(md: sa.MetaData, user: int) -> dict[str, set[tuple[Any, ...]]]:
    """For each table, the primary keys of the rows ``user``'s export must contain."""
    result: dict[str, set[tuple[Any, ...]]] = defaultdict(set)
    for table, owners, row in DATA:
        if user in owners:
            result[table].add(key_of(md.tables[table], row))
    return result
