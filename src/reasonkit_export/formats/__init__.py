"""Format writers: JSON, CSV, PDF and ZIP, all streaming, behind one interface."""

from __future__ import annotations

from reasonkit_export.formats._base import (
    ArtifactPlan,
    ExportInfo,
    FormatWriter,
    Section,
    WriteResult,
)
from reasonkit_export.formats._json import JSON_SCHEMA_VERSION, JsonWriter
from reasonkit_export.formats._spool import RecordSpool

__all__ = [
    "JSON_SCHEMA_VERSION",
    "ArtifactPlan",
    "ExportInfo",
    "FormatWriter",
    "JsonWriter",
    "RecordSpool",
    "Section",
    "WriteResult",
]
