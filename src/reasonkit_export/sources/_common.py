"""What the SQL and Django sources share: name rules (secrets, exclusions, personal data)
and the conversion of driver values into what the encoder takes.

Nothing here imports SQLAlchemy or Django.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import itertools
import re
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from reasonkit_export.exceptions import InvalidRequest

__all__ = [
    "Exclusions",
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
