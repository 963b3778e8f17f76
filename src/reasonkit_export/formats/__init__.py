"""Format writers: JSON, CSV, PDF and ZIP, all streaming, behind one interface."""

from __future__ import annotations

from typing import TYPE_CHECKING

from reasonkit_export._lazy import lazy_exports

if TYPE_CHECKING:
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

# Imported on first use, as in the package itself: the HTML view's child
# process needs formats._html, not fpdf2 and every other writer.
_EXPORTS: dict[str, str] = {
    "ArtifactPlan": "reasonkit_export.formats._base",
    "CsvWriter": "reasonkit_export.formats._csv",
    "ExportInfo": "reasonkit_export.formats._base",
    "ExportStats": "reasonkit_export.formats._base",
    "FormatWriter": "reasonkit_export.formats._base",
    "JSON_SCHEMA_VERSION": "reasonkit_export.formats._json",
    "JsonWriter": "reasonkit_export.formats._json",
    "MANIFEST_NAME": "reasonkit_export.formats._manifest",
    "MANIFEST_SCHEMA_VERSION": "reasonkit_export.formats._manifest",
    "PdfWriteResult": "reasonkit_export.formats._pdf",
    "PdfWriter": "reasonkit_export.formats._pdf",
    "RecordSpool": "reasonkit_export.formats._spool",
    "Section": "reasonkit_export.formats._base",
    "WriteResult": "reasonkit_export.formats._base",
    "ZipWriter": "reasonkit_export.formats._zip",
    "build_manifest": "reasonkit_export.formats._manifest",
    "flatten_record": "reasonkit_export.formats._csv",
    "verify_archive": "reasonkit_export.formats._manifest",
    "write_csv_table": "reasonkit_export.formats._csv",
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
