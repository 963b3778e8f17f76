"""discover_sources on a 23-table schema: every row of the user, no row of anyone else."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest

from reasonkit_export.exceptions import InvalidRequest
from tests.sources.schema import (
    ALICE,
    BOB,
    CAROL,
    TABLE_COUNT,
    USERS,
    build_metadata,
    expected,
    key_of,
    populate,
)

if TYPE_CHECKING:
    import sqlalchemy as sa
else:
    sa = pytest.importorskip("sqlalchemy")

from reasonkit_export.sources.sql import TableSource, discover_sources


@pytest.fixture
def app(engine: sa.Engine) -> tuple[sa.Engine, sa.MetaData]:
    """The schema with its data on the backend under test."""
    md = build_metadata()
    assert len(md.tables) == TABLE_COUNT
    populate(engine, md)
    return engine, md


def _keys(source: TableSource, md: sa.MetaData, user: int) -> list[tuple[Any, ...]]:
    table = md.tables[source.table.name]
    return [key_of(table, record) for record in source.records(str(user))]


def test_every_row_of_each_user_and_no_other(app: tuple[sa.Engine, sa.MetaData]) -> None:
    """Each discovered source yields exactly the rows the ownership rules give the user, once."""
    engine, md = app
    sources = discover_sources(engine, "users", exclude=("api_keys",))
    names = [s.category for s in sources]
    assert names[0] == "users"
    assert "api_keys" not in names
    for unrelated in ("tags", "products", "countries", "newsletter_signups"):
        assert unrelated not in names
    for user in USERS:
        want = expected(md, user)
        for source in sources:
            got = _keys(source, md, user)
            assert len(got) == len(set(got)), f"{source.category} yields a row twice"
            assert set(got) == want.get(source.category, set()), (source.category, user)
            assert source.count(str(user)) == len(got)
        missing = {t for t, rows in want.items() if rows} - set(names) - {"api_keys"}
        assert not missing


def test_overlapping_relations_follow_the_documented_rule(
    app: tuple[sa.Engine, sa.MetaData],
) -> None:
    """Bob's comment on Alice's post is Bob's; follows and messages go to both sides."""
    engine, _md = app
    by_name = {s.category: s for s in discover_sources(engine, "users")}
    comments = by_name["comments"]
    alice = {r["id"] for r in comments.records(str(ALICE))}
    bob = {r["id"] for r in comments.records(str(BOB))}
    assert 1 in bob
    assert 1 not in alice
    follows = by_name["follows"]
    assert len(list(follows.records(str(ALICE)))) == 2
    assert len(list(follows.records(str(BOB)))) == 3
    assert len(list(follows.records(str(CAROL)))) == 1


def test_follow_adds_a_path_through_a_table_that_names_its_user(
    app: tuple[sa.Engine, sa.MetaData],
) -> None:
    """follow=("comments.post_id",) gives each author the comments on their posts as well."""
    engine, _md = app
    by_name = {
        s.category: s for s in discover_sources(engine, "users", follow=("comments.post_id",))
    }
    alice = sorted(r["id"] for r in by_name["comments"].records(str(ALICE)))
    assert alice == [1, 2, 3, 4]
    # Alice's comment on Bob's post now reaches Bob too.
    assert sorted(r["id"] for r in by_name["comments"].records(str(BOB))) == [1, 4]


def test_secrets_are_left_out_and_named(app: tuple[sa.Engine, sa.MetaData]) -> None:
    """Default and explicit exclusions drop columns and list them in excluded_fields."""
    engine, _md = app
    by_name = {
        s.category: s
        for s in discover_sources(engine, "users", exclude=("users.email", "*.user_agent"))
    }
    users = by_name["users"]
    assert users.fields == ("id", "name", "referred_by_id", "created_at")
    assert users.excluded_fields == ("email", "password_hash")
    record = next(iter(users.records(str(ALICE))))
    assert set(record) == set(users.fields)
    assert by_name["api_keys"].excluded_fields == ("key_hash", "api_token")
    assert by_name["sessions"].excluded_fields == ("user_agent", "refresh_token")


def test_unordered_discovery_yields_the_same_rows(app: tuple[sa.Engine, sa.MetaData]) -> None:
    """ordered=False drops the ORDER BY but not a single row."""
    engine, md = app
    ordered = {s.category: s for s in discover_sources(engine, "users")}
    for source in discover_sources(engine, "users", ordered=False):
        assert "ORDER BY" not in str(source._statement)
        mine = ordered[source.category]
        assert "ORDER BY" in str(mine._statement)
        for user in USERS:
            assert sorted(_keys(source, md, user)) == _keys(mine, md, user)


def test_max_depth_limits_the_walk(app: tuple[sa.Engine, sa.MetaData]) -> None:
    """refunds sit four foreign keys from users: found at depth 4, not at depth 3."""
    engine, _md = app
    assert "refunds" in {s.category for s in discover_sources(engine, "users", max_depth=4)}
    shallow = {s.category for s in discover_sources(engine, "users", max_depth=3)}
    assert "refunds" not in shallow
    assert "payments" in shallow
    direct = {s.category for s in discover_sources(engine, "users", max_depth=1)}
    assert "order_items" not in direct
    assert "orders" in direct


def test_values_reach_the_encoder_as_plain_types(app: tuple[sa.Engine, sa.MetaData]) -> None:
    """Decimals, dates and datetimes come out as Python values the encoder takes."""
    from reasonkit_export._encoding import dumps_compact

    engine, _md = app
    for source in discover_sources(engine, "users"):
        for record in source.records(str(ALICE)):
            dumps_compact(record)
    orders = TableSource(engine, "orders", user_column="user_id")
    (order,) = orders.records(str(ALICE))
    assert str(order["total"]) == "29.80"


def test_discovery_export_end_to_end(app: tuple[sa.Engine, sa.MetaData]) -> None:
    """The discovered sources run in ExportService; the manifest names the left-out columns."""
    import io
    import json
    import zipfile

    from reasonkit_export import ExportConfig, ExportService

    engine, _md = app
    service = ExportService(
        sources=discover_sources(engine, "users", exclude=("api_keys",)),
        config=ExportConfig(storage_backend="memory", compression_enabled=False),
    )
    job = service.process_export(service.create_export(str(BOB), "zip", ["all"]).id)
    assert job.status == "completed", job.error
    assert job.record_counts["comments"] == 1
    assert job.record_counts["follows"] == 3
    with service.open_download(job.id, user_id=str(BOB)) as download:
        archive = zipfile.ZipFile(io.BytesIO(b"".join(download)))
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["excluded_fields"]["users"] == ["password_hash"]
    assert "x2" not in archive.read("data.json").decode()


def test_bad_arguments_are_named(app: tuple[sa.Engine, sa.MetaData]) -> None:
    """A missing root table, root key, follow path or a bad depth is a clear InvalidRequest."""
    engine, _md = app
    with pytest.raises(InvalidRequest, match="'people'"):
        discover_sources(engine, "people")
    with pytest.raises(InvalidRequest, match="no column 'uuid'"):
        discover_sources(engine, "users", root_key="uuid")
    with pytest.raises(InvalidRequest, match="not a foreign key"):
        discover_sources(engine, "users", follow=("comments.body",))
    with pytest.raises(InvalidRequest, match="max_depth"):
        discover_sources(engine, "users", max_depth=0)
    with pytest.raises(InvalidRequest, match="exclude"):
        discover_sources(engine, "users", exclude="api_keys")


def test_each_table_is_read_in_one_statement(app: tuple[sa.Engine, sa.MetaData]) -> None:
    """No parent rows travel to Python: one SELECT per source, whatever the depth."""
    engine, _md = app
    statements: Counter[str] = Counter()

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements[
            "select" if statement.lstrip().upper().startswith(("SELECT", "WITH")) else "other"
        ] += 1

    sources = {s.category: s for s in discover_sources(engine, "users")}
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        list(sources["refunds"].records(str(ALICE)))
        list(sources["folders"].records(str(ALICE)))
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert statements["select"] == 2


def test_composite_foreign_keys_and_a_cycle_in_the_data(engine: sa.Engine) -> None:
    """A two-column foreign key is followed as a row value; a parent cycle ends the CTE."""
    md = sa.MetaData()
    sa.Table("users", md, sa.Column("id", sa.Integer, primary_key=True))
    sa.Table(
        "carts",
        md,
        sa.Column("owner", sa.Integer, sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("number", sa.Integer, primary_key=True),
    )
    sa.Table(
        "cart_lines",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("cart_owner", sa.Integer),
        sa.Column("cart_number", sa.Integer),
        sa.Column("parent_id", sa.Integer, sa.ForeignKey("cart_lines.id")),
        sa.ForeignKeyConstraint(["cart_owner", "cart_number"], ["carts.owner", "carts.number"]),
    )
    md.create_all(engine)
    lines = md.tables["cart_lines"]
    with engine.begin() as db:
        db.execute(md.tables["users"].insert(), [{"id": 1}, {"id": 2}])
        db.execute(
            md.tables["carts"].insert(),
            [{"owner": 1, "number": 1}, {"owner": 2, "number": 1}],
        )
        db.execute(
            lines.insert(),
            [
                {"id": 1, "cart_owner": 1, "cart_number": 1, "parent_id": None},
                {"id": 2, "cart_owner": 2, "cart_number": 1, "parent_id": None},
                {"id": 3, "cart_owner": None, "cart_number": None, "parent_id": None},
                {"id": 4, "cart_owner": None, "cart_number": None, "parent_id": 3},
            ],
        )
        # A cycle: 3 -> 4 -> 3, hanging under user 1's line 1 through 5.
        db.execute(
            lines.insert(), [{"id": 5, "cart_owner": None, "cart_number": None, "parent_id": 1}]
        )
        db.execute(lines.update().where(lines.c.id == 3).values(parent_id=5))
    by_name = {s.category: s for s in discover_sources(engine, "users")}
    assert [r["id"] for r in by_name["cart_lines"].records("1")] == [1, 3, 4, 5]
    assert [r["id"] for r in by_name["cart_lines"].records("2")] == [2]
    assert [r["number"] for r in by_name["carts"].records("2")] == [1]
