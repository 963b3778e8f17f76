"""The ZIP writer: members, manifest, streaming to unseekable sinks, single reads."""

from __future__ import annotations

import csv
import gc
import io
import json
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, BinaryIO
from uuid import UUID

import pytest

from reasonkit_export._encoding import to_json_value
from reasonkit_export.exceptions import SourceError
from reasonkit_export.formats._base import (
    ArtifactPlan,
    ExportInfo,
    FormatWriter,
    Section,
    WriteResult,
)
from reasonkit_export.formats._csv import flatten_record
from reasonkit_export.formats._manifest import verify_archive
from reasonkit_export.formats._zip import ZipArchive, ZipWriter, member_stem
from tests.interop.walk import walk

PROFILE = [
    {
        "name": "Zoë Ångström-Øre",
        "greeting": "Γειά σου, Кириллица, 日本語, 🙂",
        "settings": {"theme": "dark", "languages": ["de", "el"]},
        "joined": datetime(2021, 3, 4, 5, 6, 7, tzinfo=UTC),
    }
]
HISTORY = [
    {"id": n, "prompt": f"question {n}, naïve café", "tokens": -n, "meta": {"model": "m1"}}
    for n in range(1, 6)
]
MakeInfo = Callable[..., ExportInfo]


class StubPdf:
    """A stand-in PDF writer: writes the records it is given and reports a warning."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}

    def plan(self, info: ExportInfo) -> ArtifactPlan:
        """A PDF."""
        return ArtifactPlan(extension="pdf", media_type="application/pdf", gzip_allowed=False)

    def write(self, info: ExportInfo, sections: Iterable[Section], sink: BinaryIO) -> WriteResult:
        """Write a fake PDF listing each section's record count."""
        sink.write(b"%PDF-stub\n")
        for section in sections:
            self.seen[section.category] = sum(1 for _ in section.records)
            sink.write(f"{section.category}: {self.seen[section.category]}\n".encode())
        return WriteResult(warnings=("report.pdf: 2 characters replaced",))


def cell(value: Any) -> str:
    """Cell text of a flat value without formula triggers (the fixtures have none)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def sections_of(once_only: Callable[..., Any]) -> tuple[list[Section], list[Any]]:
    """The profile and history sections over once-only sources (and the sources)."""
    sources = [once_only(PROFILE), once_only(HISTORY)]
    sections = [
        Section(category="profile", records=sources[0]),
        Section(category="reasoning_history", records=sources[1]),
    ]
    return sections, sources


def write_zip(
    make_info: MakeInfo, once_only: Callable[..., Any], sink: Any = None, **options: Any
) -> tuple[bytes, WriteResult, list[Any]]:
    """Write the two-category export as a ZIP; return bytes, result and sources."""
    options.setdefault("pdf_writer_factory", StubPdf)
    sink = io.BytesIO() if sink is None else sink
    sections, sources = sections_of(once_only)
    result = ZipWriter(**options).write(make_info("profile", "reasoning_history"), sections, sink)
    return sink.getvalue(), result, sources


def test_members_in_order_and_manifest_verifies(
    make_info: MakeInfo, once_only: Callable[..., Any]
) -> None:
    """Members are data.json, csv/*, report.pdf, the HTML view, README.txt, manifest.json."""
    data, result, _ = write_zip(make_info, once_only)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.namelist() == [
            "data.json",
            "csv/profile.csv",
            "csv/reasoning_history.csv",
            "report.pdf",
            "html/profile/index.html",
            "html/profile/page-1.html",
            "html/reasoning_history/index.html",
            "html/reasoning_history/page-1.html",
            "index.html",
            "README.txt",
            "manifest.json",
        ]
        assert zf.testzip() is None
        manifest = json.loads(zf.read("manifest.json"))
    assert verify_archive(io.BytesIO(data)) == []
    assert result.record_counts == {"profile": 1, "reasoning_history": 5}
    assert manifest["record_counts"] == {"profile": 1, "reasoning_history": 5}
    assert manifest["categories"] == ["profile", "reasoning_history"]
    assert manifest["generated_at"] == "2025-06-01T09:30:15+00:00"
    assert manifest["schema_version"] == 1
    media = {m["name"]: m["media_type"] for m in manifest["members"]}
    assert media["data.json"] == "application/json"
    assert media["csv/profile.csv"] == "text/csv; charset=utf-8"
    assert media["report.pdf"] == "application/pdf"
    assert media["README.txt"] == "text/plain; charset=utf-8"
    tables = {m["name"]: m.get("category") for m in manifest["members"]}
    assert tables["csv/reasoning_history.csv"] == "reasoning_history"


def test_tampered_export_is_detected(make_info: MakeInfo, once_only: Callable[..., Any]) -> None:
    """Rewriting one CSV member (keeping the manifest) makes verification fail."""
    data, _, _ = write_zip(make_info, once_only)
    tampered = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(tampered, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            content = source.read(info)
            if info.filename == "csv/profile.csv":
                content = content.replace("Zoë".encode(), b"Zoe")
            target.writestr(info, content)
    with zipfile.ZipFile(io.BytesIO(data)) as original:
        size = original.getinfo("csv/profile.csv").file_size
    problems = verify_archive(io.BytesIO(tampered.getvalue()))
    assert problems == [
        f"csv/profile.csv has {size - 1} bytes, the manifest says {size}",
        "csv/profile.csv does not match its SHA-256 in the manifest",
    ]


def test_records_read_back_from_json_and_csv(
    make_info: MakeInfo, once_only: Callable[..., Any]
) -> None:
    """data.json and csv/*.csv hold exactly the input records (after the shared encoding)."""
    data, _, _ = write_zip(make_info, once_only)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        document = json.loads(zf.read("data.json"))
        tables = {
            name: list(
                csv.reader(io.StringIO(zf.read(f"csv/{name}.csv").decode("utf-8-sig"), newline=""))
            )
            for name in ("profile", "reasoning_history")
        }
    for category, records in (("profile", PROFILE), ("reasoning_history", HISTORY)):
        assert document["categories"][category]["records"] == to_json_value(records)
        header, *rows = tables[category]
        flats = [flatten_record(to_json_value(r)) for r in records]
        assert [dict(zip(header, row, strict=True)) for row in rows] == [
            {k: cell(v) for k, v in flat.items()} for flat in flats
        ]


def test_each_source_is_iterated_once(make_info: MakeInfo, once_only: Callable[..., Any]) -> None:
    """Every data source is read exactly once, though JSON, CSV and PDF all use it."""
    pdf = StubPdf()
    _, _, sources = write_zip(make_info, once_only, pdf_writer_factory=lambda: pdf)
    assert [s.iterations for s in sources] == [1, 1]
    assert pdf.seen == {"profile": 1, "reasoning_history": 5}


def test_unseekable_sink_gives_identical_archive(
    make_info: MakeInfo, once_only: Callable[..., Any], unseekable: Callable[[], Any]
) -> None:
    """A sink without seek/tell works and gets the same bytes as a seekable one."""
    sink = unseekable()
    streamed, _, _ = write_zip(make_info, once_only, sink=sink)
    seekable, _, _ = write_zip(make_info, once_only)
    assert streamed == seekable
    assert verify_archive(io.BytesIO(streamed)) == []


def test_output_is_deterministic(make_info: MakeInfo, once_only: Callable[..., Any]) -> None:
    """Same input, same bytes; members carry the export's time, not the clock's."""
    first, _, _ = write_zip(make_info, once_only)
    second, _, _ = write_zip(make_info, once_only)
    assert first == second
    with zipfile.ZipFile(io.BytesIO(first)) as zf:
        assert {i.date_time for i in zf.infolist()} == {(2025, 6, 1, 9, 30, 14)}


def test_members_are_conservative_zip(make_info: MakeInfo, once_only: Callable[..., Any]) -> None:
    """Small exports use no ZIP64 at all; spooled members stream, others carry their sizes."""
    data, _, _ = write_zip(make_info, once_only)
    walked = walk(data)
    assert not walked["zip64_end"]
    kinds = {entry["name"]: entry for entry in walked["locals"]}
    for name, entry in kinds.items():
        assert not entry["zip64"], name
        assert entry["version"] == 20, name  # deflate, nothing newer
        assert entry["method"] == 8, name
        # data.json and the CSV tables are bounded by their spools: streamed
        # with a 16-byte descriptor; the PDF, README and manifest carry sizes.
        streamed = name == "data.json" or name.startswith("csv/")
        assert entry["descriptor"] == (16 if streamed else 0), name
    for entry in walked["central"]:
        assert entry["extra"] == {}


def test_stored_members_have_sizes_in_the_local_header(
    make_info: MakeInfo, once_only: Callable[..., Any]
) -> None:
    """compresslevel=0 stores members with CRC and sizes up front: version 1.0, no descriptor."""
    data, _, _ = write_zip(make_info, once_only, compresslevel=0)
    walked = walk(data)
    for entry in walked["locals"]:
        assert (entry["method"], entry["version"], entry["descriptor"]) == (0, 10, 0)
        assert entry["flags"] & 0x08 == 0


def test_pdf_warnings_go_into_manifest(make_info: MakeInfo, once_only: Callable[..., Any]) -> None:
    """Warnings reported by the PDF writer appear in the manifest and the result."""
    data, result, _ = write_zip(make_info, once_only)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    assert manifest["warnings"] == ["report.pdf: 2 characters replaced"]
    assert result.warnings == ("report.pdf: 2 characters replaced",)


def test_include_pdf_false_leaves_out_report(
    make_info: MakeInfo, once_only: Callable[..., Any]
) -> None:
    """include_pdf=False makes no report.pdf and never builds a PDF writer."""

    def refuse() -> FormatWriter:
        raise AssertionError("no PDF writer should be built")

    data, _, _ = write_zip(make_info, once_only, include_pdf=False, pdf_writer_factory=refuse)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert "report.pdf" not in zf.namelist()
        assert "report.pdf" not in zf.read("README.txt").decode()
    assert verify_archive(io.BytesIO(data)) == []


def test_real_pdf_writer_is_used_by_default(
    make_info: MakeInfo, once_only: Callable[..., Any]
) -> None:
    """Without a factory the ZIP embeds the library's own PDF report."""
    pytest.importorskip("fpdf")
    data, _, _ = write_zip(make_info, once_only, pdf_writer_factory=None)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.read("report.pdf").startswith(b"%PDF-")
    assert verify_archive(io.BytesIO(data)) == []


def test_readme_explains_the_files(make_info: MakeInfo, once_only: Callable[..., Any]) -> None:
    """README.txt names every member, how to open CSV, and the SHA-256 sums."""
    data, _, _ = write_zip(make_info, once_only)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        readme = zf.read("README.txt").decode("utf-8")
        names = zf.namelist()
    for name in names:
        assert name in readme or name.startswith("html/")
    assert "html/ " in readme
    assert "Start here: open index.html" in readme
    assert "spreadsheet" in readme
    assert "SHA-256" in readme
    assert "\r\n" in readme  # readable in Windows Notepad too


def test_plan_is_zip(make_info: MakeInfo) -> None:
    """The ZIP plan is application/zip without service-level gzip."""
    plan = ZipWriter().plan(make_info("profile"))
    assert (plan.extension, plan.media_type, plan.gzip_allowed) == (
        "zip",
        "application/zip",
        False,
    )


def test_source_error_propagates_before_any_output(make_info: MakeInfo) -> None:
    """A failing source surfaces unchanged, and the sink receives nothing at all."""

    def failing() -> Iterator[Mapping[str, Any]]:
        yield {"a": 1}
        raise SourceError("history", "RuntimeError after 1 records")

    sink = io.BytesIO()
    with pytest.raises(SourceError):
        ZipWriter(include_pdf=False).write(
            make_info("history"), [Section(category="history", records=failing())], sink
        )
    assert sink.getvalue() == b""


def test_failure_mid_archive_stops_output(make_info: MakeInfo) -> None:
    """A writer failing inside a member propagates; nothing more reaches the sink afterwards."""

    class BrokenPdf(StubPdf):
        def write(
            self, info: ExportInfo, sections: Iterable[Section], sink: BinaryIO
        ) -> WriteResult:
            sink.write(b"%PDF-partial")
            raise RuntimeError("renderer crashed")

    sink = io.BytesIO()
    with pytest.raises(RuntimeError, match="renderer crashed"):
        ZipWriter(pdf_writer_factory=BrokenPdf).write(
            make_info("profile"), [Section(category="profile", records=PROFILE)], sink
        )
    size = sink.tell()
    gc.collect()  # zipfile's finalisers must not write a central directory later
    assert sink.tell() == size
    assert verify_archive(io.BytesIO(sink.getvalue())) != []


@pytest.mark.parametrize(
    ("category", "stem"),
    [
        ("profile", "profile"),
        ("chat.history", "chat.history"),
        ("../etc/passwd", "___etc_passwd"),
        (".hidden", "_hidden"),
        ("a..b", "a__b"),
        ("trailing.", "trailing_"),
        ("CON", "_CON"),
        ("nul.txt", "_nul.txt"),
        ("", "_"),
        ("x" * 80, "x" * 64),
    ],
)
def test_member_names_are_sanitised(category: str, stem: str) -> None:
    """Category names become safe file stems: no slash, no .., no leading dot, no device."""
    assert member_stem(category) == stem


def test_member_names_are_unique_ignoring_case() -> None:
    """Names clashing (also by case) get -2, -3 so no member shadows another on unpack."""
    archive = ZipArchive(io.BytesIO(), date_time=datetime(2025, 1, 1, tzinfo=UTC))
    with archive:
        names = [archive.unique_name("csv/", s, ".csv") for s in ("Profile", "profile", "PROFILE")]
        assert names == ["csv/Profile.csv", "csv/profile-2.csv", "csv/PROFILE-3.csv"]
        assert archive.unique_name("", "manifest", ".json") == "manifest-2.json"
        archive.abort()


def test_duplicate_category_names_get_distinct_members(make_info: MakeInfo) -> None:
    """Two sections with the same category still give two verifiable CSV members."""
    sections = [Section(category="a", records=[{"x": 1}]), Section(category="A", records=[])]
    sink = io.BytesIO()
    ZipWriter(include_pdf=False).write(make_info("a", "A"), sections, sink)
    with zipfile.ZipFile(io.BytesIO(sink.getvalue())) as zf:
        assert [n for n in zf.namelist() if n.startswith("csv/")] == ["csv/a.csv", "csv/A-2.csv"]
    assert verify_archive(io.BytesIO(sink.getvalue())) == []


def test_old_generated_at_is_clamped_to_zip_epoch(once_only: Callable[..., Any]) -> None:
    """A time before 1980 (ZIP's epoch) is stored as 1980-01-01 rather than failing."""
    info = ExportInfo(
        export_id=UUID(int=7),
        user_id="u",
        generated_at=datetime(1970, 1, 1, tzinfo=UTC),
        format="zip",
        categories=("a",),
        generator="g",
    )
    sink = io.BytesIO()
    ZipWriter(include_pdf=False).write(info, [Section(category="a", records=[{"x": 1}])], sink)
    with zipfile.ZipFile(io.BytesIO(sink.getvalue())) as zf:
        assert zf.infolist()[0].date_time == (1980, 1, 1, 0, 0, 0)


def test_zip_without_csv_tables() -> None:
    """include_csv=False leaves the csv/ tables out and the manifest agrees."""
    import io as _io
    import uuid as _uuid
    import zipfile as _zipfile
    from datetime import UTC as _UTC
    from datetime import datetime as _datetime

    from reasonkit_export.formats import ExportInfo, Section, ZipWriter, verify_archive

    info = ExportInfo(
        export_id=_uuid.uuid4(),
        user_id="u",
        generated_at=_datetime(2025, 1, 1, tzinfo=_UTC),
        format="zip",
        categories=("a",),
        generator="test",
    )
    sink = _io.BytesIO()
    result = ZipWriter(include_pdf=False, include_csv=False, include_html=False).write(
        info, [Section(category="a", records=iter([{"n": 1}, {"n": 2}]))], sink
    )
    assert result.record_counts == {"a": 2}
    names = _zipfile.ZipFile(_io.BytesIO(sink.getvalue())).namelist()
    assert names == ["data.json", "README.txt", "manifest.json"]
    sink.seek(0)
    assert verify_archive(sink) == []
