"""The ZIP's report.pdf: complete up to a threshold, a summary above it, and the README says so."""

from __future__ import annotations

import io
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
from pypdf import PdfReader

from reasonkit_export import ExportConfig
from reasonkit_export._builder import make_writer
from reasonkit_export._models import ExportFormat
from reasonkit_export.exceptions import InvalidRequest
from reasonkit_export.formats._base import ExportInfo, Section
from reasonkit_export.formats._manifest import verify_archive
from reasonkit_export.formats._zip import ZipWriter

MakeInfo = Callable[..., ExportInfo]


def _archive(info: ExportInfo, count: int, **options: Any) -> zipfile.ZipFile:
    sink = io.BytesIO()
    ZipWriter(include_csv=False, **options).write(
        info,
        [
            Section(category="profile", records=[{"name": "Zoë"}]),
            Section(category="history", records=({"n": n} for n in range(count))),
        ],
        sink,
    )
    return zipfile.ZipFile(io.BytesIO(sink.getvalue()))


def _pdf_text(archive: zipfile.ZipFile) -> str:
    reader = PdfReader(io.BytesIO(archive.read("report.pdf")))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


def test_small_export_gets_the_complete_report(make_info: MakeInfo) -> None:
    """At or below the threshold every record is in report.pdf; the README states the rule."""
    archive = _archive(
        make_info("profile", "history"), 29, pdf_summary_above=30, pdf_summary_records=5
    )
    text = _pdf_text(archive)
    assert "#29" in text
    assert "summary" not in text
    readme = archive.read("README.txt").decode("utf-8")
    assert "at most 30 records" in " ".join(readme.split())


def test_large_export_gets_a_summary_pointing_at_the_full_data(make_info: MakeInfo) -> None:
    """Above the threshold report.pdf shows each category's first records and where the rest is."""
    archive = _archive(
        make_info("profile", "history"), 31, pdf_summary_above=30, pdf_summary_records=5
    )
    text = _pdf_text(archive)
    assert "#5" in text
    assert "#6" not in text
    assert "26 more records of this category are not shown" in text
    assert "index.html" in text
    readme = " ".join(archive.read("README.txt").decode("utf-8").split())
    assert "A readable summary: the first 5 records of each category" in readme
    assert "index.html" in readme


def test_readme_rule_in_german(make_info: MakeInfo) -> None:
    """The README's rule for report.pdf comes from the German catalogue for locale de."""
    info = attrs.evolve(make_info("profile", "history"), locale="de")
    archive = _archive(info, 31, pdf_summary_above=30, pdf_summary_records=5)
    readme = " ".join(archive.read("README.txt").decode("utf-8").split())
    assert "Eine lesbare Zusammenfassung: die ersten 5 Datensätze" in readme
    assert "höchstens 30 Datensätze" in readme
    assert "Zusammenfassung eines großen Exports" in _pdf_text(archive)


def test_config_reaches_the_zip_writer() -> None:
    """ExportConfig's threshold, summary size and fonts configure the default ZIP writer."""
    config = ExportConfig(
        storage_backend="memory", zip_pdf_summary_above=7, zip_pdf_summary_records=3
    )
    writer = make_writer(ExportFormat.ZIP, config)
    assert isinstance(writer, ZipWriter)
    assert (writer.pdf_summary_above, writer.pdf_summary_records) == (7, 3)
    assert ExportConfig(storage_backend="memory").zip_pdf_summary_above == 20_000
    unlimited = make_writer(
        ExportFormat.ZIP, ExportConfig(storage_backend="memory", zip_pdf_summary_above=None)
    )
    assert isinstance(unlimited, ZipWriter)
    assert unlimited.pdf_summary_above is None


@pytest.mark.parametrize("options", [{"zip_pdf_summary_above": -1}, {"zip_pdf_summary_records": 0}])
def test_bad_summary_options_are_refused(options: dict[str, Any]) -> None:
    """A negative threshold or an empty summary is a clear configuration error."""
    with pytest.raises(InvalidRequest, match="zip_pdf_summary"):
        ExportConfig(storage_backend="memory", **options)


@pytest.fixture
def spooled() -> Any:
    """Build one spooled category of n records; every spool is closed afterwards."""
    from reasonkit_export.formats._spool import RecordSpool

    spools: list[RecordSpool] = []

    def make(count: int) -> list[tuple[str, Any]]:
        spool = RecordSpool()
        spools.append(spool)
        spool.extend({"n": n} for n in range(count))
        return [("history", spool)]

    yield make
    for spool in spools:
        spool.close()


def test_background_report_renders_in_a_child_and_cleans_up(
    make_info: MakeInfo, spooled: Any
) -> None:
    """The summary renders in a child process; close() removes its private folder."""
    from reasonkit_export.formats._pdf import BackgroundReport

    background = BackgroundReport(make_info("history"), summary_records=5)
    assert background._process is not None
    background.feed(spooled(40))
    sink = io.BytesIO()
    result = background.copy_to(sink)
    folder = background._folder
    background.close()
    assert not folder.exists()
    assert result.summary
    assert result.record_counts == {"history": 40}
    text = " ".join(PdfReader(io.BytesIO(sink.getvalue())).pages[1].extract_text().split())
    assert "35 more records of this category are not shown" in text


def test_background_report_renders_in_place_without_an_interpreter(
    make_info: MakeInfo, monkeypatch: pytest.MonkeyPatch, spooled: Any
) -> None:
    """Where no Python interpreter can be started (embedded), the summary renders in place."""
    import sys

    from reasonkit_export.formats._pdf import BackgroundReport

    monkeypatch.setattr(sys, "executable", "")
    background = BackgroundReport(make_info("history"), summary_records=5)
    assert background._process is None
    background.feed(spooled(12))
    sink = io.BytesIO()
    try:
        assert background.copy_to(sink).summary
    finally:
        background.close()
    assert sink.getvalue().startswith(b"%PDF-")


def test_background_report_child_ends_when_its_parent_is_gone(
    tmp_path: Path,
) -> None:
    """A child whose parent died before handing over the records exits instead of waiting."""
    import os
    import subprocess
    import sys

    script = (
        "import os, uuid\n"
        "from datetime import UTC, datetime\n"
        "from reasonkit_export.formats._base import ExportInfo\n"
        "from reasonkit_export.formats._pdf import BackgroundReport\n"
        "info = ExportInfo(export_id=uuid.UUID(int=1), user_id='u',\n"
        "    generated_at=datetime(2025, 1, 1, tzinfo=UTC), format='zip',\n"
        "    categories=('history',), generator='tests')\n"
        "background = BackgroundReport(info, summary_records=5)\n"
        "print(background._process.pid, flush=True)\n"
        "os._exit(0)\n"
    )
    parent = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    child = int(parent.stdout.split()[0])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        # A zombie is gone too (reaped by init once it exits).
        status = Path(f"/proc/{child}/stat")
        if status.exists() and status.read_text().split(")")[-1].split()[0] == "Z":
            break
        time.sleep(0.1)
    else:
        pytest.fail("the summary child kept waiting after its parent was gone")


def test_background_report_failure_is_a_processing_error(make_info: MakeInfo, spooled: Any) -> None:
    """A child that fails gives a ProcessingError naming no record content."""
    from reasonkit_export.exceptions import ProcessingError
    from reasonkit_export.formats._pdf import BackgroundReport

    background = BackgroundReport(make_info("history"), summary_records=5)
    background.feed(spooled(3))
    background._process.wait()
    (background._folder / "result.json").unlink(missing_ok=True)
    try:
        with pytest.raises(ProcessingError, match="summary report could not be rendered"):
            background.copy_to(io.BytesIO())
    finally:
        background.close()


def _child_imports(unused: tuple[str, ...] | None = None) -> list[str]:
    code = (
        "import sys\n"
        "from reasonkit_export.formats import _pdf\n"
        + (f"_pdf._UNUSED_BY_TEXT = {unused!r}\n" if unused is not None else "")
        + "_pdf._import_fpdf_for_text()\n"
        "import fpdf\n"
        "names = ('PIL', 'numpy', 'fpdf', 'fontTools')\n"
        "print(','.join(sorted(m for m in names if sys.modules.get(m))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return result.stdout.strip().split(",")


def test_summary_child_imports_fpdf_without_images() -> None:
    """The summary's child loads fpdf2 without Pillow and NumPy (a text-only report)."""
    assert _child_imports() == ["fontTools", "fpdf"]


def test_summary_child_falls_back_when_fpdf_needs_a_blocked_module() -> None:
    """Should fpdf2 need one of the skipped modules to import, it is imported normally."""
    assert {"PIL", "fontTools", "fpdf"} <= set(_child_imports(("fontTools", "PIL")))


def test_summary_without_an_interpreter_reads_records_kept_after_data_json(
    make_info: MakeInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rendered in place, the summary reads the spooled records after data.json: they are kept.

    (With a child, the records the summary shows are handed over before
    data.json and the spools' memory is given back after it.)
    """
    monkeypatch.setattr(sys, "executable", "")
    sink = io.BytesIO()
    ZipWriter(include_csv=False, pdf_summary_above=30, pdf_summary_records=5).write(
        make_info("history"),
        [Section(category="history", records=({"n": n, "text": "x" * 200} for n in range(3000)))],
        sink,
    )
    archive = zipfile.ZipFile(io.BytesIO(sink.getvalue()))
    text = _pdf_text(archive)
    assert "#5" in text
    assert "2,995 more records of this category are not shown" in text
    assert verify_archive(io.BytesIO(sink.getvalue())) == []
