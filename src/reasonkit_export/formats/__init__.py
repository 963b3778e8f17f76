"""Format writers: JSON, CSV, PDF and ZIP, all streaming, behind one interface."""

from __future__ import annotations

from reasonkit_export.formats._base import (
    ArtifactPlan,
    ExportInfo,
    ExportStats,
    FormatWriter,
    Section,
    WriteResult,
)
from reasonkit_export.formats._csv import CsvWriter, flatten_record, write_csv_table
from reasonkit_export.formats._json import JSON_SCHEMA_VERSION, JsonWriter
from reasonkit_export.formats._manifest import (
    MANIFEST_NAME,
    MANIFEST_SCHEMA_VERSION,
    build_manifest,
    verify_archive,
)
from reasonkit_export.formats._pdf import PdfWriter, PdfWriteResult
from reasonkit_export.formats._spool import RecordSpool
from reasonkit_export.formats._zip import ZipWriter

__all__ = [
    "JSON_SCHEMA_VERSION",
    "MANIFEST_NAME",
    "MANIFEST_SCHEMA_VERSION",
    "ArtifactPlan",
    "CsvWriter",
    "ExportInfo",
    "ExportStats",
    "FormatWriter",
    "JsonWriter",
    "PdfWriteResult",
    "PdfWriter",
    "RecordSpool",
    "Section",
    "WriteResult",
    "ZipWriter",
    "build_manifest",
    "flatten_record",
    "verify_archive",
    "write_csv_table",
]
