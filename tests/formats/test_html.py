"""The offline HTML view in the ZIP: pages, paging, escaping, manifest, labels."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

from reasonkit_export import ExportConfig, ExportService
from reasonkit_export._present import Presenter
from reasonkit_export.formats import verify_archive
from reasonkit_export.formats._html import CSP, HtmlSpool, RecordRenderer, escape
from tests.browser.sample import ARABIC, write_sample
from tests.formats.conftest import EXPORT_ID


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_pages_index_and_navigation(tmp_path: Path) -> None:
    """Eight records at three per page give three pages with first/prev/next/last and an index."""
    write_sample(tmp_path / "x.zip", history=8, per_page=3)
    members = _members(tmp_path / "x.zip")
    pages = sorted(n for n in members if n.startswith("html/reasoning_history/page-"))
    assert pages == [f"html/reasoning_history/page-{n}.html" for n in (1, 2, 3)]
    middle = members["html/reasoning_history/page-2.html"].decode()
    assert 'href="page-1.html" rel="prev"' in middle
    assert 'href="page-3.html" rel="next"' in middle
    assert '<a href="page-2.html" aria-current="page">2</a>' in middle
    assert "Records 4–6 of 8 · page 2 of 3" in middle
    assert middle.count('<article class="rec"') == 3
    first = members["html/reasoning_history/page-1.html"].decode()
    assert '<span aria-disabled="true">‹ Previous</span>' in first
    last = members["html/reasoning_history/page-3.html"].decode()
    assert last.count('<article class="rec"') == 2
    assert '<span aria-disabled="true">Next ›</span>' in last
    index = members["html/reasoning_history/index.html"].decode()
    assert '<a href="page-3.html">Records 7–8</a>' in index
    root = members["index.html"].decode()
    assert '<a href="html/reasoning_history/index.html">Conversations</a>' in root
    assert '<td class="num">8</td>' in root


def test_every_page_is_self_contained_with_a_strict_csp(tmp_path: Path) -> None:
    """Each page has lang, the CSP meta tag, one inline style and no script, image or URL load."""
    write_sample(tmp_path / "x.zip", locale="de")
    for name, data in _members(tmp_path / "x.zip").items():
        if not name.endswith(".html"):
            continue
        page = data.decode()
        assert page.startswith('<!DOCTYPE html>\n<html lang="de" dir="ltr">'), name
        assert f'<meta http-equiv="Content-Security-Policy" content="{CSP}">' in page
        assert page.count("<style>") == 1
        for forbidden in ("<script", "<img", "<link", "<iframe", "src=", "url(", "@import"):
            assert forbidden not in page, (name, forbidden)
        hrefs = re.findall(r'href="([^"]*)"', page)
        assert all(not re.match(r"[a-z]+:", href) for href in hrefs), (name, hrefs)
    assert "default-src 'none'" in CSP
    assert "script-src 'none'" in CSP


def test_values_are_escaped_and_directional(tmp_path: Path) -> None:
    """Hostile text is escaped as element text; values carry dir=auto; scripts survive."""
    hostile = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "a\nb & c"]
    write_sample(tmp_path / "x.zip", history=1, hostile=hostile, per_page=50)
    page = _members(tmp_path / "x.zip")["html/reasoning_history/page-1.html"].decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    assert "a&#10;b &amp; c" in page
    assert "<script>" not in page
    assert "<img" not in page
    assert f'<td dir="auto">Question 1: {ARABIC}</td>' in page
    assert escape("x'\r") == "x&#39;&#13;"


def test_labels_and_formats_for_people(tmp_path: Path) -> None:
    """Labels come from the description (German), values in the job's zone and notation."""
    write_sample(tmp_path / "x.zip", locale="de", history=2)
    members = _members(tmp_path / "x.zip")
    history = members["html/reasoning_history/page-1.html"].decode()
    assert '<th scope="row">Gefragt am</th><td dir="auto">01.01.2025, 09:00:37 MEZ</td>' in history
    assert '<th scope="row">Eingabe-Token</th><td dir="auto" class="num">40</td>' in history
    assert '<th scope="row">Ausgabe-Token</th><td dir="auto" class="num">1.200</td>' in history
    assert '<th scope="row">Artikelnummer</th><td dir="auto">A-0</td>' in history
    assert '<h1 dir="auto">Unterhaltungen</h1>' in history
    profile = members["html/profile/page-1.html"].decode()
    assert '<td dir="auto">Binärdaten, 2.048 Bytes</td>' in profile
    assert '<td dir="auto" class="num">1.234,50</td>' in profile
    assert '<th scope="row">Newsletter</th><td dir="auto">nein</td>' in profile
    assert '<span class="vh">nicht gesetzt</span>' in profile
    assert '<th scope="row">Tags</th><td class="empty">keine</td>' in profile
    index = members["index.html"].decode()
    assert "Europe/Berlin (Mitteleuropäische Sommerzeit)" in index
    assert "01.06.2025, 11:30:15 MESZ" in index
    readme = members["README.txt"].decode()
    assert "Beginnen Sie hier: Öffnen Sie index.html" in readme
    assert "html/" in readme


def test_manifest_lists_every_html_file_and_verify_checks_them(tmp_path: Path) -> None:
    """Every HTML member is in the manifest with its sha256; tampering with one is detected."""
    path = write_sample(tmp_path / "x.zip", history=5, per_page=2).with_suffix(".zip")
    data = path.read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        import json

        manifest = json.loads(archive.read("manifest.json"))
        html_names = {n for n in archive.namelist() if n.endswith(".html")}
    listed = {m["name"]: m for m in manifest["members"]}
    assert html_names <= set(listed)
    assert all(len(listed[n]["sha256"]) == 64 for n in html_names)
    assert listed["html/reasoning_history/page-2.html"]["category"] == "reasoning_history"
    assert verify_archive(io.BytesIO(data)) == []
    tampered = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(tampered, "w") as target,
    ):
        for item in source.infolist():
            content = source.read(item)
            if item.filename == "html/reasoning_history/page-2.html":
                content = content.replace(b"Record", b"Recxrd")
            target.writestr(item, content)
    problems = verify_archive(io.BytesIO(tampered.getvalue()))
    assert any("html/reasoning_history/page-2.html" in p for p in problems)


def test_json_and_csv_are_unchanged_by_the_html_view(tmp_path: Path) -> None:
    """data.json and the CSV tables are byte-identical with and without the HTML view."""
    from tests.browser import sample

    with_html = write_sample(tmp_path / "a.zip", history=4)
    original: Any = sample.ZipWriter  # type: ignore[attr-defined]

    class NoHtml(original):
        def __init__(self, **options: object) -> None:
            super().__init__(include_html=False, **options)

    sample.ZipWriter = NoHtml  # type: ignore[attr-defined]
    try:
        without = write_sample(tmp_path / "b.zip", history=4)
    finally:
        sample.ZipWriter = original  # type: ignore[attr-defined]
    a, b = _members(with_html.with_suffix(".zip")), _members(without.with_suffix(".zip"))
    assert not any(n.endswith(".html") for n in b)
    for name in ("data.json", "csv/profile.csv", "csv/reasoning_history.csv"):
        assert a[name] == b[name]


def test_empty_category_has_one_page_saying_so(tmp_path: Path) -> None:
    """A category without records still gets a page that says there are none."""
    write_sample(tmp_path / "x.zip", history=0)
    members = _members(tmp_path / "x.zip")
    page = members["html/reasoning_history/page-1.html"].decode()
    assert "No records in this category." in page
    assert '<td class="num">0</td>' in members["index.html"].decode()


def test_pages_are_cut_by_size_too() -> None:
    """A page ends early once its records pass the byte bound, so huge records stay paged."""
    presenter = Presenter.for_export(locale="en", timezone="UTC", descriptions={})
    spool = HtmlSpool(RecordRenderer(presenter, "c"), records_per_page=100, page_bytes=5000)
    try:
        for _ in range(10):
            spool.add({"text": "x" * 2000})
        assert len(spool.pages) == 5
        assert [spool.page_span(i) for i in range(5)] == [(1, 2), (3, 4), (5, 6), (7, 8), (9, 10)]
        assert len(list(spool.page_records(4))) == 2
    finally:
        spool.close()


@pytest.mark.parametrize("depth", [40])
def test_deep_nesting_is_bounded(depth: int) -> None:
    """Very deep values are shown as text past a depth limit instead of recursing on."""
    presenter = Presenter.for_export(locale="en", timezone="UTC", descriptions={})
    value: dict[str, object] = {"leaf": 1}
    for _ in range(depth):
        value = {"k": value}
    fragment = RecordRenderer(presenter, "c").render(1, value)
    assert fragment.count("<table>") <= 34
    assert "\n" not in fragment


def test_service_zip_has_the_view_in_the_job_zone_unless_turned_off(
    make_service: Callable[..., ExportService],
) -> None:
    """A service ZIP carries index.html in the job's zone; zip_include_html=False leaves it out."""
    config = ExportConfig(storage_backend="memory", compression_enabled=False)
    for include in (True, False):
        service = make_service(config=attrs.evolve(config, zip_include_html=include))
        job = service.create_export("alice", "zip", ["all"], timezone="Asia/Tokyo", locale="de")
        service.process_export(job.id)
        with service.open_download(job.id, user_id="alice") as download:
            data = download.read()
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            if not include:
                assert not any(n.endswith(".html") for n in names)
                continue
            assert "index.html" in names
            index = archive.read("index.html").decode()
            profile = archive.read("html/profile/page-1.html").decode()
        assert "01.06.2025, 18:30:00 GMT+09:00" in index  # T0 is 09:30 UTC
        assert "Asia/Tokyo (Japanische Normalzeit)" in index
        assert "04.03.2021, 14:06:07 GMT+09:00" in profile
        assert verify_archive(io.BytesIO(data)) == []


def test_pdf_cover_points_to_index_html_inside_the_zip_only(tmp_path: Path) -> None:
    """The PDF in a ZIP with the HTML view tells people to open index.html; alone it does not."""
    from pypdf import PdfReader

    from reasonkit_export.formats import ExportInfo, PdfWriter, Section, ZipWriter
    from tests.browser.sample import GENERATED_AT

    def info() -> ExportInfo:
        return ExportInfo(
            export_id=EXPORT_ID,
            user_id="u",
            generated_at=GENERATED_AT,
            format="zip",
            categories=("a",),
            generator="test",
            locale="de",
        )

    sink = io.BytesIO()
    ZipWriter().write(info(), [Section(category="a", records=iter([{"n": 1}]))], sink)
    with zipfile.ZipFile(sink) as archive:
        cover = PdfReader(io.BytesIO(archive.read("report.pdf"))).pages[0].extract_text()
    assert "index.html" in " ".join(cover.split())
    alone = io.BytesIO()
    PdfWriter().write(info(), [Section(category="a", records=iter([{"n": 1}]))], alone)
    assert "index.html" not in PdfReader(alone).pages[0].extract_text()
