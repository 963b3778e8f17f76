"""The CSV writer: one spreadsheet-safe table per category.

Artifact shape:

* exactly one category: a single ``.csv`` file (``text/csv; charset=utf-8``;
  service-level gzip applies);
* several categories (or none): a ``.zip`` holding ``<category>.csv`` per
  category, ``README.txt`` and ``manifest.json`` (sizes and SHA-256 sums of the
  other members), built by the same code as :class:`~reasonkit_export.formats._zip.ZipWriter`.

The tables themselves (cells, quoting, formula neutralisation) are made by
:mod:`reasonkit_export.formats._csv_table`, whose names are re-exported here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import BinaryIO, cast

from reasonkit_export.formats._base import ArtifactPlan, ExportInfo, Section, WriteResult
from reasonkit_export.formats._csv_table import (
    CSV_MEDIA_TYPE,
    EMPTY_TABLE_COLUMN,
    CsvTable,
    declared_fields,
    encode_row,
    flatten_record,
    is_formula,
    neutralize_cell,
    write_csv_table,
)
from reasonkit_export.formats._spool import SpoolFile
from reasonkit_export.formats._zip import write_csv_archive

__all__ = [
    "CSV_MEDIA_TYPE",
    "EMPTY_TABLE_COLUMN",
    "CsvTable",
    "CsvWriter",
    "declared_fields",
    "encode_row",
    "flatten_record",
    "is_formula",
    "neutralize_cell",
    "write_csv_table",
]


class CsvWriter:
    """Writes an export as CSV: one table, or a ZIP of tables for several categories.

    Args:
        bom: start every table with a UTF-8 byte order mark (spreadsheet
            programs need it to detect UTF-8).
        neutralize_formulas: prefix text cells that a spreadsheet could run as
            a formula with ``'`` (see the module documentation).
        compresslevel: deflate level of the ZIP used for several categories.
        size_limit: the export's size cap in bytes (None: none); it bounds the
            spooled rows (see :mod:`reasonkit_export.formats._spool`).
    """

    def __init__(
        self,
        *,
        bom: bool = True,
        neutralize_formulas: bool = True,
        compresslevel: int = 6,
        size_limit: int | None = None,
    ) -> None:
        self.size_limit = size_limit
        self.bom = bom
        self.neutralize_formulas = neutralize_formulas
        self.compresslevel = compresslevel

    def plan(self, info: ExportInfo) -> ArtifactPlan:
        """One ``.csv`` for a single category (gzip applies), else a ``.zip``."""
        if len(info.categories) == 1:
            return ArtifactPlan(extension="csv", media_type=CSV_MEDIA_TYPE, gzip_allowed=True)
        return ArtifactPlan(extension="zip", media_type="application/zip", gzip_allowed=False)

    def write(self, info: ExportInfo, sections: Iterable[Section], sink: BinaryIO) -> WriteResult:
        """Write the artifact :meth:`plan` describes to ``sink``."""
        if len(info.categories) != 1:
            return write_csv_archive(
                info,
                sections,
                sink,
                bom=self.bom,
                neutralize_formulas=self.neutralize_formulas,
                compresslevel=self.compresslevel,
                size_limit=self.size_limit,
            )
        iterator = iter(sections)
        section = next(iterator, None)
        if section is None:
            raise ValueError("a single-category CSV export needs exactly one section")
        with (
            SpoolFile(cap=self.size_limit) as spool,
            CsvTable(
                neutralize_formulas=self.neutralize_formulas,
                file=cast(BinaryIO, spool.segment()),
            ) as table,
        ):
            table.extend(section.records)
            table.write_csv(sink, bom=self.bom, fields=declared_fields(info, section.category))
            count = table.count
        if next(iterator, None) is not None:
            raise ValueError("a single-category CSV export got more than one section")
        return WriteResult(record_counts={section.category: count})
