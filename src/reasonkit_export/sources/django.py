"""Data sources over Django models, found through the model graph (needs Django).

* :class:`ModelSource` streams one model's rows that belong to a user with
  ``QuerySet.values(...).iterator(chunk_size=...)``.
* :func:`discover_model_sources` walks the model graph outward from the user
  model (``_meta.related_objects``, including the hidden relations of
  ``ManyToManyField`` through tables) and returns one :class:`ModelSource`
  per model reachable from the user.

The ownership rules are those of :mod:`reasonkit_export.sources.sql`: a
model with foreign keys to the user model belongs to the users they name; a
model without belongs to the owners of the rows it points to (``__in``
subqueries, so the database does the joins); a self-reference in such a
model is followed ``max_depth`` levels deep (the ORM has no recursive
query; the SQL sources use a recursive CTE). The user model itself yields
the user's own row.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from django.db import models

from reasonkit_export._about import CategoryDescription
from reasonkit_export._models import coerce_category
from reasonkit_export.exceptions import InvalidRequest
from reasonkit_export.sources._common import (
    Exclusions,
    declaring_description,
    is_secret_name,
    plain_value,
)

__all__ = ["ModelSource", "discover_model_sources"]

UserFilter = Callable[[str], models.Q]
"""Builds the condition "this row belongs to the user" for a user id."""

_SAFE_TYPES = frozenset(
    {
        "AutoField",
        "BigAutoField",
        "SmallAutoField",
        "BigIntegerField",
        "IntegerField",
        "SmallIntegerField",
        "PositiveIntegerField",
        "PositiveBigIntegerField",
        "PositiveSmallIntegerField",
        "CharField",
        "TextField",
        "EmailField",
        "SlugField",
        "URLField",
        "BooleanField",
        "DateField",
        "DateTimeField",
        "TimeField",
        "DurationField",
        "DecimalField",
        "FloatField",
        "UUIDField",
        "BinaryField",
        "GenericIPAddressField",
        "ForeignKey",
        "OneToOneField",
        "FileField",
    }
)


def _converter(field: models.Field[Any, Any]) -> Callable[[Any], Any] | None:
    if field.get_internal_type() in _SAFE_TYPES:
        return None
    return plain_value


class ModelSource:
    """Streams the rows of one Django model that belong to a user.

    Each record is a dict of the model's concrete fields (foreign keys by
    their ``_id`` attribute names), in field order, every record with every
    field, ordered by ``order_by`` or else by the primary key.

    Rows stream in chunks on SQLite and PostgreSQL. Django's MySQL/MariaDB
    backend has no server-side cursors: there the driver reads each query's
    whole result (one user's rows of one model) before the first row.

    Args:
        model: the model class.
        user_field: the lookup path to the user id (``"user"``,
            ``"order__user"``), or a callable ``user_id -> Q``.
        category: the category name; defaults to the model's ``label_lower``.
        fields: the field attribute names to export; default every concrete
            field but ``exclude_fields`` and those named like credentials.
        exclude_fields: fields never to export.
        filter: an extra ``Q`` condition.
        order_by: field names to order by.
        since_field: a date/time field; when set the source supports
            incremental exports (``records(user_id, since=t)``: ``>= t``).
        description: the category's Art. 15(1) description (or a mapping of
            its keys); :attr:`description` adds every exported field to its
            ``fields``, so a user with no rows still gets a CSV header.
        chunk_size: rows per database round trip (``iterator(chunk_size=...)``).
        using: the database alias (default: the model's router choice).

    Raises:
        InvalidRequest: a field does not exist or an option is invalid.
    """

    def __init__(
        self,
        model: type[models.Model],
        *,
        user_field: str | UserFilter,
        category: str | None = None,
        fields: Sequence[str] | None = None,
        exclude_fields: Collection[str] = (),
        filter: models.Q | None = None,  # noqa: A002 - Django's own word
        order_by: Sequence[str] | None = None,
        since_field: str | None = None,
        description: CategoryDescription | Mapping[str, Any] | None = None,
        chunk_size: int = 2000,
        using: str | None = None,
    ) -> None:
        if not (isinstance(model, type) and issubclass(model, models.Model)):
            raise InvalidRequest("model must be a Django model class")
        if type(chunk_size) is not int or chunk_size < 1:
            raise InvalidRequest("chunk_size must be a positive integer")
        meta = model._meta
        self.model = model
        self.category: str = coerce_category(category or meta.label_lower)
        self.covers: tuple[str, ...] = (meta.db_table,)
        """The table this source reads (for the coverage audit)."""
        concrete = {field.attname: field for field in meta.concrete_fields}
        names = list(concrete)
        for name in [*(fields or ()), *exclude_fields]:
            if name not in concrete:
                raise InvalidRequest(f"model {meta.label!r} has no field {name!r}")
        if fields is not None:
            chosen = [name for name in fields if name not in exclude_fields]
        else:
            chosen = [n for n in names if n not in exclude_fields and not is_secret_name(n)]
        if not chosen:
            raise InvalidRequest(f"no field of model {meta.label!r} is left to export")
        self.fields: tuple[str, ...] = tuple(chosen)
        """The exported field names, in record order."""
        self.excluded_fields: tuple[str, ...] = tuple(n for n in names if n not in chosen)
        """The model's fields this source leaves out (the manifest lists them)."""
        self.description: CategoryDescription = declaring_description(
            description, self.fields, what=f"model {meta.label!r}"
        )
        """The category's description; its ``fields`` declare every exported field
        (the CSV header of a user with no rows here, the labels of the views)."""
        if isinstance(user_field, str):
            lookup = user_field
            self._user_filter: UserFilter = lambda user_id: models.Q(**{lookup: user_id})
        elif callable(user_field):
            self._user_filter = user_field
        else:
            raise InvalidRequest("user_field must be a lookup path or a callable")
        if since_field is not None:
            stamp = concrete.get(since_field)
            if not isinstance(stamp, models.DateField):  # DateTimeField is a DateField
                raise InvalidRequest(f"since_field {since_field!r} is not a date or time field")
        self.since_field = since_field
        self.supports_since: bool = since_field is not None
        self._filter = filter
        self._order_by = tuple(order_by) if order_by is not None else (meta.pk.attname,)
        self._chunk_size = chunk_size
        self._using = using
        self._converters = [
            (index, convert)
            for index, name in enumerate(self.fields)
            if (convert := _converter(concrete[name])) is not None
        ]

    def __repr__(self) -> str:
        return f"ModelSource(category={self.category!r})"

    def _queryset(self, user_id: str) -> models.QuerySet[Any]:
        manager = self.model._default_manager
        queryset = manager.using(self._using) if self._using else manager.all()
        queryset = queryset.filter(self._user_filter(user_id))
        if self._filter is not None:
            queryset = queryset.filter(self._filter)
        return queryset

    def count(self, user_id: str) -> int:
        """The number of rows ``records(user_id)`` yields (for progress)."""
        return int(self._queryset(user_id).count())

    def records(self, user_id: str, since: datetime | None = None) -> Iterator[dict[str, Any]]:
        """Yield the user's rows as dicts, streaming in chunks."""
        queryset = self._queryset(user_id)
        if since is not None and self.since_field is not None:
            queryset = queryset.filter(**{f"{self.since_field}__gte": since})
        rows = queryset.order_by(*self._order_by).values_list(*self.fields)
        keys = self.fields
        converters = self._converters
        for row in rows.iterator(chunk_size=self._chunk_size):
            if converters:
                values = list(row)
                for index, convert in converters:
                    if values[index] is not None:
                        values[index] = convert(values[index])
                yield dict(zip(keys, values, strict=True))
            else:
                yield dict(zip(keys, row, strict=True))


def _foreign_keys(model: type[models.Model]) -> list[models.ForeignKey[Any, Any]]:
    return [
        field
        for field in model._meta.concrete_fields
        if isinstance(field, models.ForeignKey) and field.related_model is not None
    ]


def _reachable(root: type[models.Model], max_depth: int) -> dict[type[models.Model], int]:
    """Models reachable from ``root`` through reverse relations, with their distance."""
    depth: dict[type[models.Model], int] = {root: 0}
    queue = deque([root])
    while queue:
        model = queue.popleft()
        if depth[model] >= max_depth:
            continue
        # Reverse relations, hidden ones too: the auto-created through model
        # of a ManyToManyField points at both sides with foreign keys.
        for relation in model._meta.get_fields(include_hidden=True):
            if not (relation.auto_created and not relation.concrete):
                continue
            if not (relation.one_to_many or relation.one_to_one):
                continue
            child: Any = relation.related_model
            if isinstance(child, type) and child not in depth and not cast(Any, child)._meta.proxy:
                depth[child] = depth[model] + 1
                queue.append(child)
    return depth


class _Ownership:
    """Builds the ``Q`` "this row belongs to the user" for every reachable model."""

    def __init__(
        self,
        root: type[models.Model],
        reachable: Collection[type[models.Model]],
        *,
        max_depth: int,
        follow: Collection[tuple[str, str]],
        using: str | None,
    ) -> None:
        self.using = using
        self.root = root
        self.reachable = reachable
        self.max_depth = max_depth
        self.follow = follow

    def _manager(self, model: type[models.Model]) -> Any:
        manager = model._default_manager
        return manager.db_manager(self.using) if self.using else manager

    def filter_for(self, model: type[models.Model]) -> UserFilter:
        def build(user_id: str) -> models.Q:
            q = self._q(model, user_id, frozenset({model}), self.max_depth)
            return q if q is not None else models.Q(pk__in=[])

        return build

    def _q(
        self,
        model: type[models.Model],
        user_id: str,
        visited: frozenset[type[models.Model]],
        depth_left: int,
    ) -> models.Q | None:
        if model is self.root:
            return models.Q(pk=user_id)
        keys = _foreign_keys(model)
        owners = [f for f in keys if f.related_model is self.root]
        terms = [models.Q(**{f"{f.name}__pk": user_id}) for f in owners]
        self_keys = []
        for field in keys:
            parent = field.related_model
            if parent is self.root:
                continue
            if owners and (model._meta.db_table, field.attname) not in self.follow:
                continue
            if parent is model:
                self_keys.append(field)
                continue
            if parent not in self.reachable or parent in visited or depth_left <= 1:
                continue
            assert isinstance(parent, type)
            inner = self._q(parent, user_id, visited | {parent}, depth_left - 1)
            if inner is None:
                continue
            target = field.target_field.attname
            subquery = self._manager(parent).filter(inner).values(target)
            terms.append(models.Q(**{f"{field.attname}__in": subquery}))
        if not terms:
            return None
        q = _any(terms)
        if self_keys and not owners:
            seed = q
            for _ in range(self.max_depth):
                inner_rows = self._manager(model).filter(q).values(model._meta.pk.attname)
                q = seed | _any([models.Q(**{f"{f.attname}__in": inner_rows}) for f in self_keys])
        return q


def _any(terms: Sequence[models.Q]) -> models.Q:
    result = terms[0]
    for term in terms[1:]:
        result |= term
    return result


def discover_model_sources(
    user_model: type[models.Model],
    *,
    exclude: Iterable[str] = (),
    max_depth: int = 4,
    follow: Iterable[str] = (),
    default_exclusions: bool = True,
    chunk_size: int = 2000,
    using: str | None = None,
) -> list[ModelSource]:
    """One :class:`ModelSource` per model reachable from the user model.

    Args:
        user_model: the user model (``django.contrib.auth.get_user_model()``).
        exclude: tables by ``db_table`` (``"shop_apikey"``) and their fields
            (``"auth_user.email"``, ``"*.api_token"``; fnmatch wildcards) to
            leave out.
        max_depth: the longest chain of foreign keys followed.
        follow: foreign keys as ``"db_table.column"`` (``"shop_comment.post_id"``)
            to follow even in models that name their users directly.
        default_exclusions: also leave out fields named like credentials.
        chunk_size: rows per round trip.
        using: the database alias.

    Raises:
        InvalidRequest: an option is invalid.
    """
    if not (isinstance(user_model, type) and issubclass(user_model, models.Model)):
        raise InvalidRequest("user_model must be a Django model class")
    if type(max_depth) is not int or max_depth < 1:
        raise InvalidRequest("max_depth must be a positive integer")
    exclusions = Exclusions(exclude, defaults=default_exclusions)
    if isinstance(follow, str):
        raise InvalidRequest("follow must be a list of 'table.column' names")
    followed = set()
    for item in follow:
        table, _, column = str(item).partition(".")
        if not table or not column:
            raise InvalidRequest(f"follow entry {item!r} is not of the form 'table.column'")
        followed.add((table, column))
    depth = _reachable(user_model, max_depth)
    ownership = _Ownership(user_model, depth, max_depth=max_depth, follow=followed, using=using)
    sources = []
    ordered: list[Any] = sorted(depth, key=lambda m: (depth[m], m._meta.label_lower))
    for model in ordered:
        meta = model._meta
        if exclusions.table(meta.db_table):
            continue
        excluded = [
            field.attname
            for field in meta.concrete_fields
            if exclusions.column(meta.db_table, field.attname)
        ]
        sources.append(
            ModelSource(
                model,
                user_field=ownership.filter_for(model),
                fields=[f.attname for f in meta.concrete_fields if f.attname not in excluded],
                exclude_fields=excluded,
                chunk_size=chunk_size,
                using=using,
            )
        )
    return sources
