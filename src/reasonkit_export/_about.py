"""GDPR Art. 15(1) information that travels with the data.

A data source may describe its category with a :class:`CategoryDescription`
(as its ``description`` attribute); the service-wide facts about the
controller live in :class:`ControllerInfo` (``ExportConfig.controller``).
Both appear in the JSON document, ``manifest.json``, the ZIP's README and the
PDF. Absent fields are simply absent, never invented.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from reasonkit_export.exceptions import InvalidRequest

__all__ = ["CategoryDescription", "ControllerInfo", "describe"]


def _texts(value: Iterable[str] | str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _present(instance: Any) -> dict[str, Any]:
    """The fields that are set, as JSON values (tuples as lists, empty left out)."""
    result: dict[str, Any] = {}
    for field in attrs.fields(type(instance)):
        value = getattr(instance, field.name)
        if value is None or value == ():
            continue
        result[field.name] = list(value) if isinstance(value, tuple) else value
    return result


@attrs.frozen(kw_only=True)
class CategoryDescription:
    """What GDPR Art. 15(1) asks a controller to say about one category of data.

    Attributes:
        title: a human title ("Your reasoning history"); defaults to the
            message catalogue's title for well-known categories.
        description: what the data is.
        purposes: purposes of the processing (Art. 15(1)(a)).
        legal_basis: e.g. "Art. 6(1)(b) GDPR (contract)".
        recipients: recipients or categories of recipients (Art. 15(1)(c)).
        retention: how long it is kept, or the criteria (Art. 15(1)(d)).
        source: where the data came from when not from the user (Art. 15(1)(g)).
        automated_decision_making: whether and how automated decisions,
            including profiling, use it (Art. 15(1)(h)).
        fields: the category's record fields (CSV column names, dotted for
            nested values); an empty category's CSV table uses them as its
            header row.
    """

    title: str | None = None
    description: str | None = None
    purposes: tuple[str, ...] = attrs.field(default=(), converter=_texts)
    legal_basis: str | None = None
    recipients: tuple[str, ...] = attrs.field(default=(), converter=_texts)
    retention: str | None = None
    source: str | None = None
    automated_decision_making: str | None = None
    fields: tuple[str, ...] = attrs.field(default=(), converter=_texts)

    def to_dict(self) -> dict[str, Any]:
        """The fields that are set, as JSON values."""
        return _present(self)


@attrs.frozen(kw_only=True)
class ControllerInfo:
    """Service-wide Art. 15 facts: who the controller is and the user's rights.

    Attributes:
        name: the controller's name.
        contact: how to reach the controller.
        dpo_contact: the data protection officer's contact, if there is one.
        supervisory_authority: the authority the user may complain to
            (Art. 15(1)(f)), e.g. name and address or web site.
        rights: a short statement of the user's rights (rectification,
            erasure, restriction, objection); defaults to the catalogue's text.
    """

    name: str
    contact: str | None = None
    dpo_contact: str | None = None
    supervisory_authority: str | None = None
    rights: str | None = None

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise InvalidRequest("ControllerInfo.name must be a non-empty string")

    def to_dict(self) -> dict[str, Any]:
        """The fields that are set, as JSON values."""
        return _present(self)


def describe(source: object) -> dict[str, Any]:
    """The Art. 15 description a data source offers, as a dict (empty if none)."""
    description = getattr(source, "description", None)
    if description is None:
        return {}
    if isinstance(description, CategoryDescription):
        return description.to_dict()
    if isinstance(description, Mapping):
        return CategoryDescription(**dict(description)).to_dict()
    raise InvalidRequest(
        f"{type(source).__name__}.description must be a CategoryDescription or a mapping"
    )
