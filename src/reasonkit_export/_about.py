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

from reasonkit_export._i18n import normalize_locale
from reasonkit_export.exceptions import InvalidRequest

__all__ = [
    "CategoryDescription",
    "ControllerInfo",
    "LocalizedText",
    "describe",
    "description_of",
    "localized",
]

LocalizedText = str | Mapping[str, str]
"""A text in one language, or ``{locale: text}`` (``{"en": "Created", "de": "Erstellt"}``)."""

_MAX_PATH = 512


def localized(text: LocalizedText, locale: str) -> str:
    """Pick ``text`` for ``locale``: the exact tag, its language, English, then any.

    A plain string is the same in every locale.
    """
    if isinstance(text, str):
        return text
    language = locale.split("-", maxsplit=1)[0]
    for key in (locale, language, "en"):
        value = text.get(key)
        if value:
            return value
    return next((value for value in text.values() if value), "")


def _localized_text(value: object, what: str) -> LocalizedText:
    """Validate a text or a ``{locale: text}`` mapping (locale tags normalised)."""
    if isinstance(value, str):
        if not value.strip():
            raise InvalidRequest(f"{what} must not be blank")
        return value
    if isinstance(value, Mapping) and value:
        texts: dict[str, str] = {}
        for locale, text in value.items():
            if not isinstance(locale, str) or not isinstance(text, str) or not text.strip():
                raise InvalidRequest(f"{what} maps locale tags to non-blank strings")
            texts[normalize_locale(locale)] = text
        return texts
    raise InvalidRequest(f"{what} must be a string or a non-empty mapping of locale to string")


def _title(value: object) -> LocalizedText | None:
    return None if value is None else _localized_text(value, "CategoryDescription.title")


def _fields(value: object) -> Mapping[str, LocalizedText]:
    if not isinstance(value, Mapping):
        raise InvalidRequest("CategoryDescription.fields must map dotted field paths to labels")
    fields: dict[str, LocalizedText] = {}
    for path, label in value.items():
        if not isinstance(path, str) or not path or len(path) > _MAX_PATH:
            raise InvalidRequest("CategoryDescription.fields keys must be dotted field paths")
        fields[path] = _localized_text(label, "a field label")
    return fields


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

    ``title`` and the labels in ``fields`` are either one string or a mapping
    from locale to string (``{"en": "Created", "de": "Erstellt"}``); the
    export's locale picks one (exact tag, then language, then English).

    Attributes:
        title: a human title ("Your reasoning history"); defaults to the
            message catalogue's title for well-known categories, else a
            readable form of the category name.
        fields: human labels of record fields by dotted path
            (``{"created_at": "Created", "tokens.input": "Input tokens"}``),
            used by the HTML view and the PDF; unlabelled fields show a
            readable form of their key ("Created at"). Labels are for people
            and never change the JSON or CSV files.
        description: what the data is.
        purposes: purposes of the processing (Art. 15(1)(a)).
        legal_basis: e.g. "Art. 6(1)(b) GDPR (contract)".
        recipients: recipients or categories of recipients (Art. 15(1)(c)).
        retention: how long it is kept, or the criteria (Art. 15(1)(d)).
        source: where the data came from when not from the user (Art. 15(1)(g)).
        automated_decision_making: whether and how automated decisions,
            including profiling, use it (Art. 15(1)(h)).
    """

    title: LocalizedText | None = attrs.field(default=None, converter=_title)
    description: str | None = None
    purposes: tuple[str, ...] = attrs.field(default=(), converter=_texts)
    legal_basis: str | None = None
    recipients: tuple[str, ...] = attrs.field(default=(), converter=_texts)
    retention: str | None = None
    source: str | None = None
    automated_decision_making: str | None = None
    fields: Mapping[str, LocalizedText] = attrs.field(factory=dict, converter=_fields)

    def to_dict(self, locale: str = "en") -> dict[str, Any]:
        """The Art. 15 fields that are set, as JSON values, the title in ``locale``.

        Field labels are presentation, not Art. 15 information, and are left out.
        """
        result = _present(self)
        result.pop("fields", None)
        if self.title is not None:
            result["title"] = localized(self.title, locale)
        return result


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


def description_of(source: object) -> CategoryDescription | None:
    """The :class:`CategoryDescription` a data source offers, or None."""
    description = getattr(source, "description", None)
    if description is None:
        return None
    if isinstance(description, CategoryDescription):
        return description
    if isinstance(description, Mapping):
        return CategoryDescription(**dict(description))
    raise InvalidRequest(
        f"{type(source).__name__}.description must be a CategoryDescription or a mapping"
    )


def describe(source: object, locale: str = "en") -> dict[str, Any]:
    """The Art. 15 description a data source offers, as a dict (empty if none)."""
    description = description_of(source)
    return {} if description is None else description.to_dict(locale)
