"""What the SQL and Django sources share: name rules (secrets, exclusions, personal data),
the conversion of driver values into what the encoder takes, and the category
description that declares a source's fields.

Nothing here imports SQLAlchemy or Django.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import attrs

from reasonkit_export._about import CategoryDescription, LocalizedText, description_of
from reasonkit_export._present import readable_key
from reasonkit_export.exceptions import InvalidRequest

__all__ = [
    "Exclusions",
    "declaring_description",
    "is_secret_name",
    "personal_data_kind",
    "plain_value",
]

# Values of these types reach the encoder as they are; anything else a driver
# returns (ip addresses, ranges, geometry, ...) is turned into its text form.
_PLAIN = (str, int, float, bool, Decimal, datetime, date, time, timedelta, UUID, bytes)


def plain_value(value: Any) -> Any:
    """A database value as something the export encoder takes."""
    if value is None or isinstance(value, _PLAIN):
        return value
    if isinstance(value, memoryview | bytearray):
        return bytes(value)
    if isinstance(value, list | tuple):
        return [plain_value(item) for item in value]
    if isinstance(value, dict):
        return {str(key): plain_value(item) for key, item in value.items()}
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return value.compressed
    return str(value)


# Words that, as a part of a column name split at "_" (or camelCase), mark a
# secret. "token" alone, not "tokens": "input_tokens" is a count, "api_token"
# a credential. "hash" covers password_hash, key_hash, token_hash.
_SECRET_WORDS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "secret",
        "token",
        "hash",
        "hashed",
        "salt",
        "apikey",
        "credential",
        "credentials",
        "otp",
        "totp",
        "mfa",
        "recovery",
        "passphrase",
    }
)
# Names whose parts are two words ("api_key", "private_key", "secret_key").
_SECRET_PAIRS = (("api", "key"), ("private", "key"), ("signing", "key"), ("session", "key"))

_WORD_SPLIT = re.compile(r"[^a-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def _words(name: str) -> list[str]:
    return [w for w in _WORD_SPLIT.split(_CAMEL.sub("_", name).lower()) if w]


def is_secret_name(name: str) -> bool:
    """Whether a column name looks like a credential (password, secret, token, key, hash).

    These columns are left out of discovered sources unless listed explicitly.
    """
    words = _words(name)
    if any(word in _SECRET_WORDS for word in words):
        return True
    pairs = set(itertools.pairwise(words))
    return any(pair in pairs for pair in _SECRET_PAIRS)


# Personal-data heuristics for the coverage audit: (kind, words); a column
# whose name contains one of the words (as a part) is flagged with the kind.
_PERSONAL_WORDS: tuple[tuple[str, frozenset[str]], ...] = (
    ("e-mail", frozenset({"email", "mail", "e_mail"})),
    ("phone", frozenset({"phone", "mobile", "telephone", "tel", "fax", "msisdn"})),
    ("IP address", frozenset({"ip", "ipv4", "ipv6", "ipaddr", "remote_addr", "addr"})),
    (
        "postal address",
        frozenset({"address", "street", "city", "zip", "zipcode", "postcode", "postal", "country"}),
    ),
    (
        "name",
        frozenset(
            {
                "name",
                "firstname",
                "lastname",
                "surname",
                "fullname",
                "username",
                "nickname",
                "displayname",
            }
        ),
    ),
    ("birth date", frozenset({"birth", "birthday", "dob", "birthdate"})),
    (
        "free text",
        frozenset(
            {
                "body",
                "content",
                "text",
                "message",
                "note",
                "notes",
                "comment",
                "bio",
                "description",
            }
        ),
    ),
)


def personal_data_kind(name: str, *, free_text: bool = False) -> str | None:
    """The kind of personal data a column name suggests, or None.

    Args:
        name: the column name.
        free_text: the column is of an unbounded text type (flagged as "free
            text" when its name says nothing more specific).
    """
    words = _words(name)
    for kind, vocabulary in _PERSONAL_WORDS:
        if any(word in vocabulary for word in words):
            return kind
    return "free text" if free_text else None


class Exclusions:
    """Which tables and columns to leave out, from patterns like ``"users.password_hash"``.

    A pattern without a dot names whole tables (``"api_keys"``); one with a
    dot names columns (``"users.password_hash"``, ``"*.api_token"``).
    ``fnmatch`` wildcards work on both sides. Matching is case-insensitive.
    With ``defaults``, columns whose names look like credentials
    (:func:`is_secret_name`) are left out too.
    """

    def __init__(self, patterns: Iterable[str], *, defaults: bool = True) -> None:
        if isinstance(patterns, str):
            raise InvalidRequest("exclude must be a list of patterns, not one string")
        self._tables: list[str] = []
        self._columns: list[tuple[str, str]] = []
        for pattern in patterns:
            if not isinstance(pattern, str) or not pattern.strip():
                raise InvalidRequest(f"invalid exclusion pattern {pattern!r}")
            text = pattern.strip().lower()
            if "." in text:
                table, _, column = text.rpartition(".")
                if not table or not column:
                    raise InvalidRequest(f"invalid exclusion pattern {pattern!r}")
                self._columns.append((table, column))
            else:
                self._tables.append(text)
        self.defaults = defaults

    def table(self, table: str) -> bool:
        """Whether the whole table is excluded."""
        name = table.lower()
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self._tables)

    def column(self, table: str, column: str) -> bool:
        """Whether ``table.column`` is excluded (by a pattern or, with defaults, its name)."""
        table_name, column_name = table.lower(), column.lower()
        if any(
            fnmatch.fnmatchcase(table_name, t) and fnmatch.fnmatchcase(column_name, c)
            for t, c in self._columns
        ):
            return True
        return self.defaults and is_secret_name(column)


_PATH_ROOT = re.compile(r"[.\[]")


def declaring_description(
    description: CategoryDescription | Mapping[str, Any] | None,
    fields: Sequence[str],
    *,
    what: str,
) -> CategoryDescription:
    """The category description of a source that knows its fields, declaring every one.

    ``CategoryDescription.fields`` is what the CSV writer takes as the header
    of a table with no rows, and what the HTML view and the PDF take as
    labels. The result lists every exported field, in record order, with the
    caller's label or else the label the view would show anyway (its
    readable form, ``created_at`` -> "Created at"); labels the caller gave
    for nested paths (``data.city`` of a JSON column) follow unchanged.

    Args:
        description: the caller's description (or a mapping of its keys), or None.
        fields: the exported field names, in record order.
        what: the source, for error messages (``"table 'posts'"``).

    Raises:
        InvalidRequest: the description is invalid, or labels a field the
            source does not export.
    """
    try:
        given = description_of(_Described(description))
    except TypeError as exc:
        raise InvalidRequest(f"invalid description of {what}: {exc}") from None
    labels: Mapping[str, LocalizedText] = given.fields if given is not None else {}
    exported = set(fields)
    for path in labels:
        root = _PATH_ROOT.split(path, maxsplit=1)[0]
        if root not in exported:
            raise InvalidRequest(
                f"the description of {what} labels {path!r}, which is not an exported field"
            )
    declared: dict[str, LocalizedText] = {
        name: labels.get(name) or readable_key(name) for name in fields
    }
    declared.update((path, label) for path, label in labels.items() if path not in declared)
    if given is None:
        return CategoryDescription(fields=declared)
    return attrs.evolve(given, fields=declared)


class _Described:
    """Lets :func:`description_of` validate a description given on its own."""

    def __init__(self, description: object) -> None:
        self.description = description
