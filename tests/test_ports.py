"""Every port lives in protocols.py; optional source features are named protocols."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from reasonkit_export import protocols
from reasonkit_export._sources import RegisteredSource
from reasonkit_export.protocols import (
    CountingSource,
    DescribedSource,
    IncrementalSource,
    RedactingSource,
)


class Plain:
    """Only the required part of a data source."""

    category = "plain"

    def records(self, user_id: str) -> Iterable[Mapping[str, Any]]:
        return [{"user": user_id}]


class Everything(Plain):
    """A source with every optional feature."""

    category = "everything"
    supports_since = True
    description: ClassVar[dict[str, str]] = {"description": "all of it"}

    def records(
        self, user_id: str, *, since: datetime | None = None
    ) -> Iterable[Mapping[str, Any]]:
        return [{"user": user_id, "since": since}]

    def count(self, user_id: str) -> int:
        return 1

    def redact(self, record: Mapping[str, Any], user_id: str) -> Mapping[str, Any]:
        return record


class Declines(Plain):
    """Has the attributes but declines the features (supports_since False, redact None)."""

    category = "declines"
    supports_since = False
    redact = None
    count = 3  # not callable: no progress hint


def test_ports_are_all_in_protocols() -> None:
    """The delivery, format-writer and crypto ports are the protocols.py classes."""
    from reasonkit_export.crypto import Identity, Recipient
    from reasonkit_export.delivery import Delivery
    from reasonkit_export.formats import FormatWriter

    assert Delivery is protocols.Delivery
    assert FormatWriter is protocols.FormatWriter
    assert Recipient is protocols.Recipient
    assert Identity is protocols.Identity
    for name in protocols.__all__:
        assert getattr(protocols, name).__module__ == "reasonkit_export.protocols", name


def test_protocols_import_no_adapter_package_at_runtime() -> None:
    """protocols.py imports nothing of the package at run time (type checking only)."""
    tree = ast.parse(Path(protocols.__file__).read_text("utf-8"))
    runtime = [
        node.module or ""
        for node in tree.body  # module level; the TYPE_CHECKING block is an If, not an import
        if isinstance(node, ast.ImportFrom)
    ]
    assert runtime
    assert not [m for m in runtime if m.startswith("reasonkit_export")]


def test_optional_features_are_found_once_at_registration() -> None:
    """RegisteredSource.check names each optional feature a source offers."""
    full = RegisteredSource.check(Everything())
    assert isinstance(full.source, Everything)
    assert isinstance(full.counting, CountingSource)
    assert isinstance(full.described, DescribedSource)
    assert isinstance(full.incremental, IncrementalSource)
    assert isinstance(full.redacting, RedactingSource)
    plain = RegisteredSource.check(Plain())
    assert (plain.counting, plain.described, plain.incremental, plain.redacting) == (None,) * 4


def test_declined_features_are_not_used() -> None:
    """supports_since other than True, redact None and a non-callable count mean no feature."""
    declined = RegisteredSource.check(Declines())
    assert declined.incremental is None
    assert declined.redacting is None
    assert declined.counting is None
