"""Data sources over SQL tables, found by following foreign keys (extra ``sql``).

* :class:`TableSource` streams the rows of one table that belong to a user,
  through a server-side cursor, as plain mappings the encoder takes.
* :func:`discover_sources` reflects the schema and returns one
  :class:`TableSource` per table reachable from the user's row, each yielding
  only the rows that belong to that user; the joins run in the database.
* :func:`audit_coverage` lists the tables that reference the user (directly
  or through a chain of foreign keys) that no source covers.

Works on SQLite, PostgreSQL and MariaDB/MySQL through SQLAlchemy 2.

Which rows belong to a user (the rule :func:`discover_sources` applies, and why)
---------------------------------------------------------------------------------

1. The root table (``users``) yields the user's own row, nothing else. Its
   foreign keys to itself (``users.referred_by_id``) are not followed: the
   people a user referred are not the user's data.
2. **A row that names users directly belongs to the users it names.** A table
   with one or more foreign keys to the root table (``comments.author_id``,
   ``follows.follower_id`` and ``follows.followee_id``) is decided by those
   columns alone: a row belongs to every user one of them points to. Its
   other foreign keys are not followed, so Bob's comment on Alice's post is
   in Bob's export, not in Alice's, and a reply to Alice's comment belongs to
   whoever wrote the reply. Both sides of a follow (or a message with sender
   and recipient) get the row, since it is about both. A comment is its
   author's personal data; for the post's author it is someone else's
   (Art. 15(4)). Where a host decides otherwise (Alice should see the
   comments on her posts), ``follow=("comments.post_id",)`` adds that path.
3. **A row that names no user belongs to the owners of the rows it points to**
   (``order_items.order_id`` → the order's user; ``invoices`` → ``orders``
   → ``users``), through any of its foreign keys: a row reachable by several
   paths is the user's when one path leads to the user, and is yielded once
   (each source reads its table once, with the paths OR-ed in the ``WHERE``).
4. **Self-references** of such tables (a ``parent_id`` thread in a table
   without a user column) are followed recursively with a recursive CTE: a
   row whose parent (or grandparent, ...) belongs to the user belongs to the
   user. That is rule 3 applied transitively. Cycles in the data end it,
   because the CTE uses ``UNION``.
5. Paths are at most ``max_depth`` foreign keys long and never visit a table
   twice, so cycles in the schema end too.
6. Many-to-many link tables (``likes(user_id, post_id)``,
   ``post_tags(post_id, tag_id)``) are ordinary tables under rules 2 and 3.
   The rows they point to on the far side (the liked post, the tag) are not
   exported by that link: they belong to their own owners or to nobody.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import attrs
from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Engine,
    MetaData,
    Select,
    Table,
    and_,
    bindparam,
    false,
    func,
    or_,
    select,
    tuple_,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy import types as sa_types
from sqlalchemy.sql.expression import FromClause

from reasonkit_export._about import CategoryDescription
from reasonkit_export._models import coerce_category
from reasonkit_export.exceptions import DatabaseError, InvalidRequest
from reasonkit_export.sources._common import (
    Exclusions,
    declaring_description,
    is_secret_name,
    personal_data_kind,
    plain_value,
)

__all__ = [
    "CoverageReport",
    "Membership",
    "TableSource",
    "UncoveredTable",
    "audit_coverage",
    "discover_sources",
    "is_secret_name",
]

Membership = Callable[[FromClause, BindParameter[Any]], ColumnElement[bool]]
"""Builds the condition "this row belongs to the user" on a table for a bound user id."""

_USER_PARAM = "rk_user_id"
_SINCE_PARAM = "rk_since"

_SAFE_TYPES = (
    sa_types.String,
    sa_types.Integer,
    sa_types.Numeric,
    sa_types.Boolean,
    sa_types.DateTime,
    sa_types.Date,
    sa_types.Time,
    sa_types.Interval,
    sa_types.Uuid,
    sa_types.Enum,
)


def _converter(column_type: sa_types.TypeEngine[Any]) -> Callable[[Any], Any] | None:
    """The conversion a column's values need, or None when the driver's values are plain."""
    if isinstance(column_type, _SAFE_TYPES) and not isinstance(column_type, sa_types.ARRAY):
        return None
    return plain_value


def _python_type(column_type: sa_types.TypeEngine[Any]) -> Callable[[str], Any]:
    """How to turn the service's string user id into a value of a column's type."""
    if isinstance(column_type, sa_types.Integer):
        return int
    if isinstance(column_type, sa_types.Uuid):
        return UUID
    return str


def _naive_utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None)


def _reflect_table(engine: Engine, name: str, schema: str | None) -> Table:
    try:
        return Table(name, MetaData(), autoload_with=engine, schema=schema)
    except sa_exc.NoSuchTableError:
        raise InvalidRequest(f"table {name!r} does not exist") from None


class TableSource:
    """Streams the rows of one table that belong to a user.

    Each record is one row as a dict of the exported columns, in table order
    (every record has every column, so the CSV header is :attr:`fields`).
    Rows come through a server-side cursor (``stream_results``, ``yield_per``),
    ordered by ``order_by`` or else by the primary key.

    Args:
        engine: the SQLAlchemy engine of the host's database.
        table: a :class:`sqlalchemy.Table`, or a table name to reflect.
        user_column: the column holding the user id, or a :data:`Membership`
            callable ``(table, user_id) -> condition`` for ownership that is
            not one column (what :func:`discover_sources` builds).
        category: the category name; defaults to the table name.
        columns: the columns to export; default all but ``exclude_columns``
            and those named like credentials (:func:`is_secret_name`).
        exclude_columns: columns never to export.
        where: an extra SQL condition on the table.
        order_by: column names (or SQL expressions) to order by; default the
            primary key, ``()`` for no ``ORDER BY``.
        since_column: a timestamp column; when set, the source supports
            incremental exports and ``records(user_id, since=t)`` yields only
            rows with ``since_column >= t``.
        user_id_type: turns the service's string user id into the column's
            type; default from the column type (``int`` for integers,
            ``UUID`` for UUIDs, else ``str``).
        description: the category's Art. 15(1) description (or a mapping of
            its keys); :attr:`description` adds every exported column to its
            ``fields``, so a user with no rows still gets a CSV header.
        chunk_size: rows fetched per round trip.
        schema: the database schema of a table given by name.

    Raises:
        InvalidRequest: the table, a column or an option does not exist or is invalid.
    """

    def __init__(
        self,
        engine: Engine,
        table: Table | str,
        *,
        user_column: str | Membership,
        category: str | None = None,
        columns: Sequence[str] | None = None,
        exclude_columns: Collection[str] = (),
        where: ColumnElement[bool] | None = None,
        order_by: Sequence[str | ColumnElement[Any]] | None = None,
        since_column: str | None = None,
        user_id_type: Callable[[str], Any] | None = None,
        description: CategoryDescription | Mapping[str, Any] | None = None,
        chunk_size: int = 1000,
        schema: str | None = None,
    ) -> None:
        if isinstance(table, str):
            table = _reflect_table(engine, table, schema)
        if not isinstance(table, Table):
            raise InvalidRequest("table must be a sqlalchemy Table or a table name")
        if type(chunk_size) is not int or chunk_size < 1:
            raise InvalidRequest("chunk_size must be a positive integer")
        self.engine = engine
        self.table = table
        self.category: str = coerce_category(category if category is not None else table.name)
        self._chunk_size = chunk_size

        names = [column.name for column in table.columns]
        for name in [*(columns or ()), *exclude_columns]:
            _check_column(table, name)
        if isinstance(exclude_columns, str):
            raise InvalidRequest("exclude_columns must be a list of column names")
        if columns is not None:
            if isinstance(columns, str):
                raise InvalidRequest("columns must be a list of column names")
            chosen = [name for name in columns if name not in exclude_columns]
        else:
            chosen = [
                name for name in names if name not in exclude_columns and not is_secret_name(name)
            ]
        if not chosen:
            raise InvalidRequest(f"no column of table {table.name!r} is left to export")
        self.fields: tuple[str, ...] = tuple(chosen)
        """The exported column names, in record order."""
        self.excluded_fields: tuple[str, ...] = tuple(n for n in names if n not in chosen)
        """The table's columns this source leaves out (the manifest lists them)."""
        self.description: CategoryDescription = declaring_description(
            description, self.fields, what=f"table {table.name!r}"
        )
        """The category's description; its ``fields`` declare every exported column
        (the CSV header of a user with no rows here, the labels of the views)."""

        if isinstance(user_column, str):
            owner = _check_column(table, user_column)
            membership: Membership = lambda t, user: t.c[owner.name] == user  # noqa: E731
            self._to_user_id = user_id_type or _python_type(owner.type)
        elif callable(user_column):
            membership = user_column
            self._to_user_id = user_id_type or str
        else:
            raise InvalidRequest("user_column must be a column name or a callable")

        self.since_column = since_column
        self.supports_since: bool = since_column is not None
        naive_since = False
        if since_column is not None:
            stamp = _check_column(table, since_column)
            if not isinstance(stamp.type, sa_types.DateTime | sa_types.Date):
                raise InvalidRequest(f"since_column {since_column!r} is not a timestamp column")
            naive_since = not getattr(stamp.type, "timezone", False)
        self._naive_since = naive_since

        user: BindParameter[Any] = bindparam(_USER_PARAM)
        condition = membership(table, user)
        if where is not None:
            condition = condition & where
        self._condition = condition
        selected = [table.c[name] for name in self.fields]
        statement: Select[Any] = select(*selected).where(condition)
        ordering = _ordering(table, order_by)
        self._statement = statement.order_by(*ordering)
        if since_column is not None:
            bound = table.c[since_column] >= bindparam(_SINCE_PARAM)
            self._since_statement = statement.where(bound).order_by(*ordering)
        self._count_statement = select(func.count()).select_from(table).where(condition)
        self._converters = [
            (index, convert)
            for index, column in enumerate(selected)
            if (convert := _converter(column.type)) is not None
        ]

    def __repr__(self) -> str:
        return f"TableSource(category={self.category!r}, table={self.table.name!r})"

    def _params(self, user_id: str) -> dict[str, Any]:
        try:
            value = self._to_user_id(user_id)
        except (TypeError, ValueError):
            # The id is the user's identifier: name its expected type, never the value.
            raise InvalidRequest(
                f"the user id does not convert to the user column's type of {self.category!r}"
            ) from None
        return {_USER_PARAM: value}

    def count(self, user_id: str) -> int:
        """The number of rows ``records(user_id)`` yields (for progress)."""
        with self.engine.connect() as connection:
            return int(
                connection.execute(self._count_statement, self._params(user_id)).scalar_one()
            )

    def records(self, user_id: str, since: datetime | None = None) -> Iterator[dict[str, Any]]:
        """Yield the user's rows as dicts, streaming.

        Args:
            user_id: the service's user id.
            since: with a ``since_column``, only rows at or after this instant.
        """
        params = self._params(user_id)
        statement = self._statement
        if since is not None and self.since_column is not None:
            statement = self._since_statement
            params[_SINCE_PARAM] = _naive_utc(since) if self._naive_since else since
        keys = self.fields
        converters = self._converters
        with self.engine.connect() as connection:
            result = connection.execution_options(
                stream_results=True, yield_per=self._chunk_size
            ).execute(statement, params)
            # Closed explicitly, so a consumer that stops early closes the
            # server-side cursor before the connection goes back to the pool.
            with result:
                for rows in result.partitions(self._chunk_size):
                    if not converters:
                        for row in rows:
                            yield dict(zip(keys, row, strict=True))
                        continue
                    for row in rows:
                        values = list(row)
                        for index, convert in converters:
                            if values[index] is not None:
                                values[index] = convert(values[index])
                        yield dict(zip(keys, values, strict=True))


def _check_column(table: Table, name: str) -> Any:
    if not isinstance(name, str) or name not in table.c:
        raise InvalidRequest(f"table {table.name!r} has no column {name!r}")
    return table.c[name]


def _ordering(
    table: Table, order_by: Sequence[str | ColumnElement[Any]] | None
) -> list[ColumnElement[Any]]:
    if order_by is None:
        return list(table.primary_key.columns)
    if isinstance(order_by, str):
        order_by = [order_by]
    return [table.c[_check_column(table, o).name] if isinstance(o, str) else o for o in order_by]


# ------------------------------------------------------------------ the graph


@attrs.frozen
class _Edge:
    """A foreign key: ``child.columns`` reference ``parent.referred``."""

    child: str
    columns: tuple[str, ...]
    parent: str
    referred: tuple[str, ...]

    def label(self) -> str:
        return f"{self.child}.{','.join(self.columns)} -> {self.parent}.{','.join(self.referred)}"


class _Graph:
    """The foreign keys of a reflected schema, walked outward from the root table."""

    def __init__(self, metadata: MetaData, root: str) -> None:
        self.tables: dict[str, Table] = {table.name: table for table in metadata.tables.values()}
        if root not in self.tables:
            raise InvalidRequest(f"table {root!r} does not exist")
        self.root = root
        self.parents: dict[str, list[_Edge]] = {name: [] for name in self.tables}
        self.children: dict[str, list[_Edge]] = {name: [] for name in self.tables}
        for name, table in sorted(self.tables.items()):
            for constraint in sorted(
                table.foreign_key_constraints, key=lambda c: tuple(c.column_keys)
            ):
                referred_table = constraint.referred_table.name
                if referred_table not in self.tables:
                    continue  # a table in another schema: not ours to walk
                edge = _Edge(
                    child=name,
                    columns=tuple(constraint.column_keys),
                    parent=referred_table,
                    referred=tuple(element.column.name for element in constraint.elements),
                )
                self.parents[name].append(edge)
                self.children[referred_table].append(edge)

    def reachable(self, max_depth: int | None) -> dict[str, tuple[_Edge, ...]]:
        """Each table reachable from the root (root included) with its shortest path."""
        paths: dict[str, tuple[_Edge, ...]] = {self.root: ()}
        queue = deque([self.root])
        while queue:
            name = queue.popleft()
            path = paths[name]
            if max_depth is not None and len(path) >= max_depth:
                continue
            for edge in self.children[name]:
                if edge.child not in paths:
                    paths[edge.child] = (*path, edge)
                    queue.append(edge.child)
        return paths

    def owner_edges(self, name: str) -> list[_Edge]:
        """The foreign keys of a table that point at the root table itself."""
        return [edge for edge in self.parents[name] if edge.parent == self.root]


class _Ownership:
    """Builds the SQL condition "this row belongs to the user" for every table."""

    def __init__(
        self,
        graph: _Graph,
        *,
        root_key: str,
        max_depth: int,
        follow: Collection[tuple[str, str]],
    ) -> None:
        self.graph = graph
        self.root_key = root_key
        self.max_depth = max_depth
        self.follow = follow
        self._ctes = 0

    def membership(self, name: str) -> Membership:
        """The :data:`Membership` of table ``name`` (for a :class:`TableSource`)."""

        def condition(table: FromClause, user: BindParameter[Any]) -> ColumnElement[bool]:
            built = self._condition(name, table, user, frozenset({name}), self.max_depth)
            return built if built is not None else false()

        return condition

    def _condition(
        self,
        name: str,
        table: FromClause,
        user: BindParameter[Any],
        visited: frozenset[str],
        depth_left: int,
    ) -> ColumnElement[bool] | None:
        if name == self.graph.root:
            return table.c[self.root_key] == user
        terms, self_edges, named = self._terms(name, table, user, visited, depth_left)
        if not terms:
            return None
        if self_edges and not named:
            return self._descendants(
                name, table, user, visited=visited, depth_left=depth_left, edges=self_edges
            )
        return or_(*terms)

    def _terms(
        self,
        name: str,
        table: FromClause,
        user: BindParameter[Any],
        visited: frozenset[str],
        depth_left: int,
    ) -> tuple[list[ColumnElement[bool]], list[_Edge], bool]:
        """The ways a row of ``name`` can belong to the user, and its self-references."""
        graph = self.graph
        terms: list[ColumnElement[bool]] = []
        owners = graph.owner_edges(name)
        for edge in owners:
            if edge.referred == (self.root_key,):
                terms.append(table.c[edge.columns[0]] == user)
            else:
                root = graph.tables[graph.root].alias()
                inner = select(*[root.c[c] for c in edge.referred]).where(
                    root.c[self.root_key] == user
                )
                terms.append(_in(table, edge.columns, inner))
        self_edges: list[_Edge] = []
        for edge in graph.parents[name]:
            if edge.parent == graph.root:
                continue
            if owners and (name, ",".join(edge.columns)) not in self.follow:
                continue  # rule 2: a row that names its users is decided by them
            if edge.parent == name:
                self_edges.append(edge)
                continue
            if edge.parent in visited or depth_left <= 1:
                continue
            parent = graph.tables[edge.parent].alias()
            inner_condition = self._condition(
                edge.parent, parent, user, visited | {edge.parent}, depth_left - 1
            )
            if inner_condition is None:
                continue
            inner = select(*[parent.c[c] for c in edge.referred]).where(inner_condition)
            terms.append(_in(table, edge.columns, inner))
        return terms, self_edges, bool(owners)

    def _descendants(
        self,
        name: str,
        table: FromClause,
        user: BindParameter[Any],
        *,
        visited: frozenset[str],
        depth_left: int,
        edges: list[_Edge],
    ) -> ColumnElement[bool]:
        """Rule 4: rows that belong to the user, plus their descendants along self-references."""
        source = self.graph.tables[name]
        key_names = [column.name for column in source.primary_key.columns]
        steps_edges = [e for e in edges if key_names and set(e.referred) <= set(key_names)]
        if not steps_edges:
            terms = self._terms(name, table, user, visited, depth_left)[0]
            return or_(*terms)
        seed_alias = source.alias()
        seed_terms = self._terms(name, seed_alias, user, visited, depth_left)[0]
        self._ctes += 1
        tree = (
            select(*[seed_alias.c[c] for c in key_names])
            .where(or_(*seed_terms))
            .cte(f"rk_tree_{self._ctes}", recursive=True)
        )
        # One join (a recursive reference may appear once, and not in a subquery).
        step_alias = source.alias()
        joined = or_(
            *[
                and_(
                    *[
                        step_alias.c[c] == tree.c[r]
                        for c, r in zip(edge.columns, edge.referred, strict=True)
                    ]
                )
                for edge in steps_edges
            ]
        )
        step = select(*[step_alias.c[c] for c in key_names]).select_from(
            step_alias.join(tree, joined)
        )
        tree = tree.union(step)
        return _in(table, tuple(key_names), select(*[tree.c[c] for c in key_names]))


def _in(table: FromClause, columns: tuple[str, ...], inner: Select[Any]) -> ColumnElement[bool]:
    if len(columns) == 1:
        return table.c[columns[0]].in_(inner)
    return tuple_(*[table.c[c] for c in columns]).in_(inner)


def _parse_follow(follow: Iterable[str]) -> set[tuple[str, str]]:
    if isinstance(follow, str):
        raise InvalidRequest("follow must be a list of 'table.column' names")
    parsed: set[tuple[str, str]] = set()
    for item in follow:
        table, _, column = str(item).partition(".")
        if not table or not column:
            raise InvalidRequest(f"follow entry {item!r} is not of the form 'table.column'")
        parsed.add((table, column))
    return parsed


def _reflect(engine: Engine, schema: str | None) -> MetaData:
    metadata = MetaData()
    try:
        metadata.reflect(bind=engine, schema=schema)
    except sa_exc.SQLAlchemyError as exc:
        raise DatabaseError(f"cannot reflect the schema: {type(exc).__name__}") from exc
    return metadata


def discover_sources(
    engine: Engine,
    root_table: str,
    *,
    root_key: str = "id",
    user_id_type: Callable[[str], Any] | None = None,
    exclude: Iterable[str] = (),
    max_depth: int = 4,
    follow: Iterable[str] = (),
    schema: str | None = None,
    default_exclusions: bool = True,
    chunk_size: int = 1000,
    ordered: bool = True,
) -> list[TableSource]:
    """One :class:`TableSource` per table reachable from the user's row.

    Reflects the schema and follows foreign keys outward from ``root_table``
    (``orders.user_id -> users.id``, then ``order_items.order_id ->
    orders.id``, ...). Each source yields only the rows that belong to the
    user under the rules in this module's docstring, with the joins done by
    the database (``IN`` semi-joins and, for self-references, a recursive
    CTE); no parent row is loaded into Python. Category names are table
    names; the root table comes first, then tables by distance and name.

    Args:
        engine: the host's database.
        root_table: the table with one row per user (``"users"``).
        root_key: the column of ``root_table`` that holds the service's user id.
        user_id_type: turns the string user id into ``root_key``'s type;
            default from the column type.
        exclude: tables (``"api_keys"``) and columns (``"users.password_hash"``,
            ``"*.api_token"``, fnmatch wildcards) to leave out. An excluded
            table is still walked through, so the tables below it are found.
        max_depth: the longest chain of foreign keys followed from the root.
        follow: foreign-key columns (``"comments.post_id"``) to follow even in
            tables that name their users directly (rule 2 of the module docstring).
        schema: the database schema to reflect (default: the connection's).
        default_exclusions: also leave out columns named like credentials.
        chunk_size: rows fetched per round trip.
        ordered: yield rows by primary key, so the same data gives the same
            export; ``False`` lets the database skip the sort (faster on
            large tables, see docs/performance.md).

    Raises:
        InvalidRequest: the root table or key does not exist, or an option is invalid.
    """
    if type(max_depth) is not int or max_depth < 1:
        raise InvalidRequest("max_depth must be a positive integer")
    exclusions = Exclusions(exclude, defaults=default_exclusions)
    followed = _parse_follow(follow)
    graph = _Graph(_reflect(engine, schema), root_table)
    root = graph.tables[root_table]
    key = _check_column(root, root_key)
    to_user_id = user_id_type or _python_type(key.type)
    for table_name, column in followed:
        if table_name not in graph.tables:
            raise InvalidRequest(f"follow: table {table_name!r} does not exist")
        if not any(",".join(e.columns) == column for e in graph.parents[table_name]):
            raise InvalidRequest(f"follow: {table_name}.{column} is not a foreign key")
    ownership = _Ownership(graph, root_key=root_key, max_depth=max_depth, follow=followed)
    paths = graph.reachable(max_depth)
    sources: list[TableSource] = []
    for name in sorted(paths, key=lambda n: (len(paths[n]), n)):
        if exclusions.table(name):
            continue
        table = graph.tables[name]
        excluded = [c.name for c in table.columns if exclusions.column(name, c.name)]
        sources.append(
            TableSource(
                engine,
                table,
                user_column=ownership.membership(name),
                exclude_columns=excluded,
                columns=[c.name for c in table.columns if c.name not in excluded],
                user_id_type=to_user_id,
                chunk_size=chunk_size,
                order_by=None if ordered else (),
            )
        )
    return sources


# ------------------------------------------------------------------ the audit


@attrs.frozen(kw_only=True)
class UncoveredTable:
    """A table that references the user but that no source covers.

    Attributes:
        table: the table name.
        path: the foreign keys from it to the root table, nearest first
            (``"order_items.order_id -> orders.id"``, ``"orders.user_id -> users.id"``).
        personal_columns: its columns that look like personal data, with the
            kind (``("email", "e-mail")``).
    """

    table: str
    path: tuple[str, ...]
    personal_columns: tuple[tuple[str, str], ...] = ()


@attrs.frozen(kw_only=True)
class CoverageReport:
    """What :func:`audit_coverage` found.

    Attributes:
        root_table: the table of users.
        covered: the tables some source reads.
        uncovered: tables that reference the user that no source covers.
        unlinked: tables not linked to the user by foreign keys, covered by
            no source, whose columns look like personal data (a note, not a
            failure: e.g. a newsletter list keyed by e-mail address).
        ignored: tables the caller said to ignore.
    """

    root_table: str
    covered: tuple[str, ...]
    uncovered: tuple[UncoveredTable, ...]
    unlinked: tuple[UncoveredTable, ...] = ()
    ignored: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether every table that references the user is covered."""
        return not self.uncovered

    def lines(self) -> list[str]:
        """The report as human-readable lines (table and column names only)."""
        out = [f"{len(self.covered)} table(s) covered: {', '.join(self.covered) or '-'}"]
        for item in self.uncovered:
            out.append(f"UNCOVERED {item.table}: {' ; '.join(item.path)}")
            out.extend(f"  {column}: looks like {kind}" for column, kind in item.personal_columns)
        for item in self.unlinked:
            out.append(f"note: {item.table} is not linked to {self.root_table} but has")
            out.extend(f"  {column}: looks like {kind}" for column, kind in item.personal_columns)
        if self.ignored:
            out.append(f"ignored: {', '.join(self.ignored)}")
        out.append("ok: every table that references the user is covered" if self.ok else "")
        return [line for line in out if line]


def _covered_tables(sources: Iterable[object]) -> set[str]:
    covered: set[str] = set()
    for source in sources:
        table = getattr(source, "table", None)
        if isinstance(table, Table):
            covered.add(table.name)
        covers = getattr(source, "covers", ())
        if isinstance(covers, str):
            covers = (covers,)
        covered.update(str(name) for name in covers)
    return covered


def _personal_columns(table: Table) -> tuple[tuple[str, str], ...]:
    found: list[tuple[str, str]] = []
    for column in table.columns:
        if column.primary_key or column.foreign_keys:
            continue
        free_text = isinstance(column.type, sa_types.Text) or (
            isinstance(column.type, sa_types.String) and column.type.length is None
        )
        kind = personal_data_kind(column.name, free_text=free_text)
        if kind is not None:
            found.append((column.name, kind))
    return tuple(found)


def audit_coverage(
    engine: Engine,
    sources: Iterable[object],
    *,
    root_table: str,
    ignore: Iterable[str] = (),
    schema: str | None = None,
) -> CoverageReport:
    """Which tables that reference the user no source covers.

    Follows foreign keys from ``root_table`` outward without a depth limit:
    every table linked to the user by a chain of foreign keys must be covered
    by a source. A source covers the table of a :class:`TableSource` (and of
    a Django ``ModelSource``), and the tables it lists in an optional
    ``covers`` attribute (for hand-written sources).

    Args:
        engine: the host's database.
        sources: the data sources the service is built with.
        root_table: the table with one row per user.
        ignore: tables deliberately not exported (fnmatch patterns).
        schema: the database schema to reflect.

    Returns:
        The report; ``report.ok`` is false when a table is uncovered.
    """
    graph = _Graph(_reflect(engine, schema), root_table)
    exclusions = Exclusions(ignore, defaults=False)
    covered = _covered_tables(sources)
    paths = graph.reachable(None)
    uncovered: list[UncoveredTable] = []
    ignored: list[str] = []
    for name in sorted(paths, key=lambda n: (len(paths[n]), n)):
        if name in covered:
            continue
        if exclusions.table(name):
            ignored.append(name)
            continue
        path = tuple(edge.label() for edge in reversed(paths[name]))
        uncovered.append(
            UncoveredTable(
                table=name,
                path=path or (f"{name} is the root table",),
                personal_columns=_personal_columns(graph.tables[name]),
            )
        )
    unlinked: list[UncoveredTable] = []
    for name in sorted(graph.tables):
        if name in paths or name in covered or exclusions.table(name):
            continue
        personal = _personal_columns(graph.tables[name])
        if personal:
            unlinked.append(UncoveredTable(table=name, path=(), personal_columns=personal))
    return CoverageReport(
        root_table=root_table,
        covered=tuple(sorted(covered & set(graph.tables))),
        uncovered=tuple(uncovered),
        unlinked=tuple(unlinked),
        ignored=tuple(ignored),
    )
