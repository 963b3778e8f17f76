"""Text that is not valid Unicode (lone surrogates) is replaced, never fails an export."""

from __future__ import annotations

import io
from collections.abc import Callable

from reasonkit_export import ExportService, ExportStatus
from reasonkit_export.formats import write_csv_table
from reasonkit_export.testing import StaticDataSource

Factory = Callable[..., ExportService]


def test_csv_replaces_lone_surrogates_instead_of_failing(make_service: Factory) -> None:
    """A lone surrogate in a CSV value or key becomes U+FFFD; the export completes."""
    sink = io.BytesIO()
    write_csv_table([{"a": "x\ud800y", "\udc00": 1}], sink, bom=False)
    assert sink.getvalue().decode() == "a,\ufffd\r\nx\ufffdy,1\r\n"
    service = make_service(sources=[StaticDataSource("odd", [{"a": "x\ud800y"}])])
    for fmt in ("csv", "zip"):
        job = service.process_export(service.create_export(f"u-{fmt}", fmt, ["odd"]).id)
        assert job.status is ExportStatus.COMPLETED, job.error
