"""The HTML view rendered in a child process: same pages as in place, clean-up, failures."""

from __future__ import annotations

import enum
import io
import json
import os
import subprocess
import sys
import time as clock
import uuid
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import attrs
import pytest

from reasonkit_export.exceptions import ProcessingError
from reasonkit_export.formats._base import ExportInfo, Section
from reasonkit_export.formats._html import (
    _RELEASE_STEP,
    CategoryLayout,
    CategoryStart,
    HtmlView,
    HtmlWorker,
    PackedPage,
    _faithful,
)
from reasonkit_export.formats._zip import ZipWriter


class Colour(enum.Enum):
    """A caller's enum: the child cannot import it."""

    RED = "red"


@attrs.frozen
class Point:
    """A caller's attrs class."""

    x: int
    y: int


def _records() -> Iterator[dict[Any, Any]]:
    yield {"id": 1, "at": datetime(2025, 3, 1, 12, 30, tzinfo=UTC), "text": "plain"}
    yield {"naive": datetime(2025, 3, 1, 12, 30), "day": date(2025, 3, 1), "t": time(9, 5)}
    yield {"amount": Decimal("1234.50"), "blob": b"\x00\x01", "span": timedelta(seconds=90)}
    yield {"colour": Colour.RED, "point": Point(x=1, y=2), "tags": ("a", "b"), "set": {3, 1}}
    yield {"nan": float("nan"), "inf": float("inf"), 7: "int key", "id": uuid.UUID(int=5)}
    yield {"lines": [{"sku": "A-1", "qty": 2}, {"sku": "<script>x</script>", "qty": 10**20}]}
    yield {"gen": (n * n for n in range(4)), "nested": {"gen": iter(["x", "y"])}}
    yield {"xss": '"><img src=x onerror=alert(1)>', "rtl": "مرحبا", "cjk": "東京", "e": {}}
    yield {}
    for n in range(30):
        yield {"n": n, "big": 1234567 * n, "score": n / 7, "ok": n % 2 == 0, "none": None}


def _archive(info: ExportInfo, **options: Any) -> bytes:
    sink = io.BytesIO()
    options.setdefault("html_worker_above", 0)  # the child from the first record on
    writer = ZipWriter(include_pdf=False, html_records_per_page=7, **options)
    writer.write(info, [Section(category="history", records=_records())], sink)
    return sink.getvalue()


def test_child_renders_the_same_archive_as_in_place(
    make_info: Callable[..., ExportInfo],
) -> None:
    """Records of every kind give byte-identical archives from the child and in place."""
    info = make_info("history")
    assert _archive(info) == _archive(info, html_worker=False)


def test_no_interpreter_renders_in_place(
    make_info: Callable[..., ExportInfo], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where no Python can be started the view is rendered in place, with the same bytes."""
    info = make_info("history")
    expected = _archive(info, html_worker=False)
    monkeypatch.setattr(sys, "executable", "")
    assert HtmlWorker.start(HtmlView(info)) is None
    assert _archive(info) == expected


@pytest.mark.parametrize("worker", [True, False])
def test_generator_values_show_their_items_everywhere(
    make_info: Callable[..., ExportInfo], worker: bool
) -> None:
    """A generator value is read once and shown with all its items in JSON and HTML alike."""
    archive = zipfile.ZipFile(io.BytesIO(_archive(make_info("history"), html_worker=worker)))
    data = json.loads(archive.read("data.json"))
    record = data["categories"]["history"]["records"][6]
    assert record == {"gen": [0, 1, 4, 9], "nested": {"gen": ["x", "y"]}}
    page = archive.read("html/history/page-1.html").decode()
    article = page.split('id="r7"', 1)[1].split("</article>", 1)[0]
    assert '<li dir="auto">x</li><li dir="auto">y</li>' in article
    for square in ("0", "1", "4", "9"):
        assert f'<li dir="auto">{square}</li>' in article
    assert "generator" not in article


def test_failed_child_is_an_error_and_close_cleans_up(
    make_info: Callable[..., ExportInfo],
) -> None:
    """A child that dies gives ProcessingError; close() stops it and removes its folder."""
    worker = HtmlWorker.start(HtmlView(make_info("history")))
    assert worker is not None
    folder = worker._folder
    worker.spool("history").add({"a": 1})
    worker._process.kill()
    with pytest.raises(ProcessingError, match="HTML view could not be rendered"):
        worker.finish()
    worker.close()
    assert not folder.exists()


def test_close_stops_a_running_child(make_info: Callable[..., ExportInfo]) -> None:
    """Closing before the input ends (a cancelled export) stops the child and removes its files."""
    worker = HtmlWorker.start(HtmlView(make_info("history")))
    assert worker is not None
    worker.spool("history").add({"a": 1})
    worker.close()
    assert worker._process.poll() is not None
    assert not worker._folder.exists()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"a": 1, "b": "x", "c": [1.5, None, True], "d": {"e": date(2025, 1, 1)}}, True),
        ({"at": datetime(2025, 1, 1)}, True),
        ({"a": float("nan")}, False),
        ({"a": b"bytes"}, False),
        ({"a": Decimal("1")}, False),
        ({"a": (1, 2)}, False),
        ({1: "key"}, False),
        ({"a": [Colour.RED]}, False),
    ],
)
def test_only_json_faithful_records_travel_as_json(value: Any, expected: bool) -> None:
    """Records whose JSON form renders differently are sent as the original values."""
    assert _faithful(value) is expected


def _many(category: str, count: int) -> Iterator[dict[Any, Any]]:
    for n in range(count):
        if n % 997 == 5:
            yield {"colour": Colour.RED, "n": n}  # rendered in the parent
        elif n % 991 == 7:
            yield {"at": datetime(2025, 3, 1, tzinfo=UTC), "amount": Decimal(n)}  # pickled
        else:
            yield {"n": n, "text": f"{category} record {n} " + "words " * 20, "ok": n % 3 == 0}


def _categories_archive(info: ExportInfo, **options: Any) -> bytes:
    sink = io.BytesIO()
    options.setdefault("html_worker_above", 0)
    writer = ZipWriter(include_pdf=False, html_records_per_page=50, **options)
    sections = [
        Section(category="big", records=_many("big", 6000)),
        Section(category="empty", records=iter(())),
        Section(category="small", records=_many("small", 3)),
    ]
    writer.write(info, sections, sink)
    return sink.getvalue()


def test_pages_stream_from_the_child_for_every_category(
    make_info: Callable[..., ExportInfo],
) -> None:
    """Several categories, batches of JSON lines with other frames between: same archive."""
    info = make_info("big", "empty", "small")
    archive = _categories_archive(info)
    assert archive == _categories_archive(info, html_worker=False)
    names = zipfile.ZipFile(io.BytesIO(archive)).namelist()
    assert "html/big/page-120.html" in names
    assert "html/empty/page-1.html" in names
    assert "html/small/index.html" in names


def test_child_frees_its_files_as_it_goes(make_info: Callable[..., ExportInfo]) -> None:
    """Input and fragments are removed by the child; close() removes the rest."""
    worker = HtmlWorker.start(HtmlView(make_info("history")))
    assert worker is not None
    folder = worker._folder
    spool = worker.spool("history")
    for n in range(3000):
        spool.add_json(f'{{"n":{n}}}'.encode())
    packed = worker.finish()
    assert [(p.category, p.count) for p in packed] == [("history", 3000)]
    assert [name for name, _, _ in packed[0].members][:2] == ["index.html", "page-1.html"]
    worker.close()
    assert worker._process.returncode == 0  # it finished by itself, it was not killed
    assert not folder.exists()


def _render_and_wait(worker: HtmlWorker, count: int) -> None:
    """Send ``count`` small records of category ``history``, end the input, let the child finish."""
    spool = worker.spool("history")
    for n in range(count):
        spool.add_json(f'{{"n":{n}}}'.encode())
    worker.send(b"E", b"")
    worker._out.close()
    assert worker._process.wait() == 0


def test_child_that_dies_while_packing_is_an_error(
    make_info: Callable[..., ExportInfo],
) -> None:
    """Pages published, then the child is gone without saying it is done: ProcessingError."""
    worker = HtmlWorker.start(HtmlView(make_info("history")))
    assert worker is not None
    _render_and_wait(worker, 500)
    # Cut what it published after its first page: as if it ended without "E".
    events_file = worker._folder / "events.jsonl"
    lines = events_file.read_bytes().splitlines(keepends=True)
    events_file.write_bytes(b"".join(lines[:2]))
    seen: list[Any] = []
    try:
        with pytest.raises(ProcessingError, match="could not be rendered"):
            seen.extend(worker.events())
    finally:
        worker.close()
    assert seen[0] == CategoryStart(category="history")
    assert len(seen) == 2


def test_shared_pages_can_be_read_after_the_child_is_gone(
    make_info: Callable[..., ExportInfo],
) -> None:
    """The parent reads its share of the pages even when the child has exited and cleaned up."""
    view = HtmlView(make_info("history"), records_per_page=10)
    worker = HtmlWorker.start(view, share=True)
    assert worker is not None
    # This process claims the odd members (the category's claims start at 0)
    # before the child packs: the child packs the others.
    claim = worker.claimer(
        CategoryLayout(category="history", count=0, offset=0, pages=[], extents=[])
    )
    assert [claim(number) for number in (1, 3, 5, 7, 9)] == [True] * 5
    try:
        _render_and_wait(worker, 95)
        assert not (worker._folder / "fragments.bin").exists()  # removed by the child
        events = list(worker.events())
        layout = events[1]
        assert isinstance(layout, CategoryLayout)
        attached = worker.attach(layout)
        assert attached.count == 95
        assert len(attached.pages) == 10
        # The child packed the index and the even pages; the odd ones are left here.
        assert layout.base == 0
        numbers = [event.number for event in events if isinstance(event, PackedPage)]
        assert numbers == [0, 2, 4, 6, 8, 10]
        page = attached.page_bytes(2).decode()
        assert page.count("<article") == 10
        assert 'id="r21"' in page
    finally:
        worker.close()


def test_child_stops_packing_when_its_parent_is_gone(tmp_path: Any) -> None:
    """A parent killed while the child packs pages leaves no child working for nobody."""
    script = """
import os, sys, time
from datetime import UTC, datetime
from uuid import uuid4
from reasonkit_export.formats._base import ExportInfo
from reasonkit_export.formats._html import HtmlView, HtmlWorker
info = ExportInfo(export_id=uuid4(), user_id="u", generated_at=datetime.now(UTC),
                  format="zip", categories=("c",), generator="test")
worker = HtmlWorker.start(HtmlView(info, records_per_page=1))
spool = worker.spool("c")
for n in range(60000):
    spool.add_json(('{"n":%d,"text":"%s"}' % (n, "words " * 50)).encode())
worker.send(b"E", b"")
worker._out.close()
events = worker._folder / "events.jsonl"
while b'"M"' not in events.read_bytes():  # it is packing pages
    time.sleep(0.01)
print(worker._process.pid, flush=True)
os._exit(0)  # gone, without closing anything
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    pid = int(result.stdout.strip())
    deadline = clock.monotonic() + 3
    while clock.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return  # ended
        with open(f"/proc/{pid}/stat") as stat:
            if stat.read().split()[2] == "Z":
                return  # ended, waiting to be reaped by init
        clock.sleep(0.05)
    os.kill(pid, 9)
    pytest.fail("the child kept packing pages for a parent that is gone")


def test_child_packs_every_page_it_claims_first_once_the_input_ends(
    make_info: Callable[..., ExportInfo],
) -> None:
    """Ended early, the child packs all the pages while this process is still busy elsewhere."""
    view = HtmlView(make_info("history", "notes"), records_per_page=10)
    worker = HtmlWorker.start(view, share=True)
    assert worker is not None
    try:
        for category, count in (("history", 35), ("notes", 12)):
            spool = worker.spool(category)
            for n in range(count):
                spool.add_json(f'{{"n":{n}}}'.encode())
        worker.end_input()
        assert worker._process.wait(timeout=60) == 0  # done without this process reading events
        events = list(worker.events())
    finally:
        worker.close()
    layouts = [event for event in events if isinstance(event, CategoryLayout)]
    # Claim numbers: history's index and 4 pages are 0-4, notes' index and 2 pages 5-7.
    assert [layout.base for layout in layouts] == [0, 5]
    packed = [(event.name, event.number) for event in events if isinstance(event, PackedPage)]
    assert packed == [
        ("index.html", 0),
        ("page-1.html", 1),
        ("page-2.html", 2),
        ("page-3.html", 3),
        ("page-4.html", 4),
        ("index.html", 0),
        ("page-1.html", 1),
        ("page-2.html", 2),
    ]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="hole punching is Linux's")
def test_copied_pages_give_their_memory_back_in_steps(
    make_info: Callable[..., ExportInfo],
) -> None:
    """Pages copied out of the child's file are released behind the reader, a step at a time."""
    view = HtmlView(make_info("history"), records_per_page=50)
    worker = HtmlWorker.start(view)
    assert worker is not None
    try:
        spool = worker.spool("history")
        for n in range(25_000):  # hex text deflates about 2:1: some 14 MB of packed pages
            spool.add_json(json.dumps({"n": n, "hex": os.urandom(500).hex()}).encode())
        worker.end_input()
        copied = 0
        pages = 0
        for event in worker.events():
            if isinstance(event, PackedPage):
                data = b"".join(worker.chunks(event.packed))
                assert len(data) == event.packed.compressed
                copied += len(data)
                pages += 1
        assert worker._packed is not None
        held = os.fstat(worker._packed.fileno()).st_blocks * 512
    finally:
        worker.close()
    assert pages > 100
    assert copied > 3 * _RELEASE_STEP
    # What is still held is less than one step (plus a block), not the whole file.
    assert held < _RELEASE_STEP + 8192


def test_zip_writer_ends_the_childs_input_before_writing_data_json(
    make_info: Callable[..., ExportInfo], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The child packs pages while data.json and the tables are written, not after."""
    from reasonkit_export.formats._json import JsonWriter

    calls: list[str] = []
    end_input = HtmlWorker.end_input
    json_write = JsonWriter.write

    def ending(self: HtmlWorker) -> None:
        calls.append("end_input")
        end_input(self)

    def writing(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append("data.json")
        return json_write(self, *args, **kwargs)

    monkeypatch.setattr(HtmlWorker, "end_input", ending)
    monkeypatch.setattr(JsonWriter, "write", writing)
    archive = _archive(make_info("history"))
    assert calls[:2] == ["end_input", "data.json"]
    with zipfile.ZipFile(io.BytesIO(archive)) as read:
        assert "html/history/page-1.html" in read.namelist()


def _handed_over(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The categories the child is given (each once the records rendered here are sent)."""
    given: list[str] = []
    spool = HtmlWorker.spool

    def counting(self: HtmlWorker, category: str) -> Any:
        given.append(category)
        return spool(self, category)

    monkeypatch.setattr(HtmlWorker, "spool", counting)
    return given


@pytest.mark.parametrize("above", [0, 5, 2999, 6000, 6001, 6002])
def test_records_rendered_here_are_handed_over_to_the_child(
    make_info: Callable[..., ExportInfo], monkeypatch: pytest.MonkeyPatch, above: int
) -> None:
    """The child starts past the threshold, mid-category or between categories: same archive.

    6,000 records in "big", none in "empty", 3 in "small": the hand-over
    comes inside the first category, after it (6,000: at the first record of
    "small"), or inside the last.
    """
    info = make_info("big", "empty", "small")
    expected = _categories_archive(info, html_worker=False)
    given = _handed_over(monkeypatch)
    assert _categories_archive(info, html_worker_above=above) == expected
    assert given == ["big", "empty", "small"]


@pytest.mark.parametrize("above", [6003, 10_000])
def test_a_small_export_is_rendered_here(
    make_info: Callable[..., ExportInfo], monkeypatch: pytest.MonkeyPatch, above: int
) -> None:
    """At or below the threshold the view is rendered here; the unused child is stopped."""
    info = make_info("big", "empty", "small")
    expected = _categories_archive(info, html_worker=False)
    given = _handed_over(monkeypatch)
    closed: list[bool] = []
    close = HtmlWorker.close

    def closing(self: HtmlWorker) -> None:
        close(self)
        closed.append(self._process.poll() is not None and not self._folder.exists())

    monkeypatch.setattr(HtmlWorker, "close", closing)
    assert _categories_archive(info, html_worker_above=above) == expected
    assert given == []
    assert closed == [True]  # started at once, stopped, its files gone


def test_no_interpreter_at_the_hand_over_keeps_rendering_here(
    make_info: Callable[..., ExportInfo], monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the child cannot start at the threshold, the rest is rendered here too."""
    info = make_info("big", "empty", "small")
    expected = _categories_archive(info, html_worker=False)
    monkeypatch.setattr(HtmlWorker, "start", classmethod(lambda cls, *a, **k: None))
    assert _categories_archive(info, html_worker_above=100) == expected


def test_thresholds_are_called_once_each_as_soon_as_they_are_passed() -> None:
    """Two limits, passed inside a section and at a section's start: each call comes in time."""
    from reasonkit_export.formats._zip import _spool_sections, _Spooled, _SpoolFiles

    spooled: list[_Spooled] = []
    seen: list[tuple[str, int]] = []

    def at(name: str) -> Callable[[], None]:
        return lambda: seen.append((name, sum(item.count for item in spooled)))

    files = _SpoolFiles(None)
    sections = [
        Section(category=name, records=iter([{"n": n} for n in range(count)]))
        for name, count in (("a", 2), ("b", 4), ("c", 0), ("d", 10))
    ]
    try:
        _spool_sections(
            sections,
            spooled,
            files,
            neutralize_formulas=True,
            keep_records=False,
            beyond=[(5, at("later")), (3, at("sooner")), (40, at("never"))],
        )
    finally:
        for item in spooled:
            item.close()
        files.close()
    assert seen == [("sooner", 4), ("later", 6)]
    assert [item.count for item in spooled] == [2, 4, 0, 10]
