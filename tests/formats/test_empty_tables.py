"""An empty category's CSV table has a header row: its declared fields or the placeholder."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable

import attrs

from reasonkit_export import CategoryDescription
from reasonkit_export.formats._base import ExportInfo, Section
from reasonkit_export.formats._csv import CsvWriter
from reasonkit_export.formats._zip import ZipWriter

MakeInfo = Callable[..., ExportInfo]
DESCRIBED = CategoryDescription(fields={"id": "ID", "payment.amount": "Amount"})


def test_single_csv_uses_the_declared_fields(make_info: MakeInfo) -> None:
    """The single-category CSV of an empty, described category has its field paths as header."""
    info = attrs.evolve(make_info("billing", fmt="csv"), descriptions={"billing": DESCRIBED})
    sink = io.BytesIO()
    CsvWriter(bom=False).write(info, [Section(category="billing", records=[])], sink)
    assert sink.getvalue() == b"id,payment.amount\r\n"


def test_zip_tables_use_fields_or_the_placeholder(make_info: MakeInfo) -> None:
    """In the ZIP, a described empty category lists its fields; an undescribed one no_records."""
    info = attrs.evolve(make_info("billing", "notes"), descriptions={"billing": DESCRIBED})
    sink = io.BytesIO()
    ZipWriter(include_pdf=False, csv_bom=False).write(
        info,
        [Section(category="billing", records=[]), Section(category="notes", records=[])],
        sink,
    )
    with zipfile.ZipFile(sink) as archive:
        assert archive.read("csv/billing.csv") == b"id,payment.amount\r\n"
        assert archive.read("csv/notes.csv") == b"no_records\r\n"
