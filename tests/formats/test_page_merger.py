"""The archive's process and the HTML view's child pack pages in any split: one archive."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest

from reasonkit_export.formats import _zip
from reasonkit_export.formats._base import ExportInfo
from reasonkit_export.formats._html import CategoryEnd, HtmlSpool, HtmlView, PackedPage
from reasonkit_export.formats._zip import ZipArchive, _PageMerger
from reasonkit_export.formats._zipstream import Packed, pack

_WHEN = datetime(2025, 3, 1, 12, tzinfo=UTC)


_OPEN: list[HtmlSpool] = []


def _spool(view: HtmlView, count: int) -> HtmlSpool:
    spool = view.spool("history")
    for n in range(count):
        spool.add({"n": n, "text": f"record {n} " * 40})
    spool.seal()
    _OPEN.append(spool)
    return spool


@pytest.fixture(autouse=True)
def _close_spools() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


class _Collector:
    """Packs the members the child would (``only``), as its packer does."""

    def __init__(self) -> None:
        self.store = io.BytesIO()
        self.events: list[Any] = []

    @contextmanager
    def member(self, name: str, media_type: str, *, index: int = 0, **_: Any) -> Iterator[Any]:
        parts: list[bytes] = []

        class Sink:
            def write(self, data: bytes) -> int:
                parts.append(bytes(data))
                return len(data)

        yield Sink()
        packed, data = pack(parts, level=6, compress=True)
        packed = attrs.evolve(packed, offset=self.store.tell())
        self.store.write(data)
        self.events.append(
            PackedPage(name=name, media_type=media_type, packed=packed, number=index)
        )


class _Worker:
    """The child's packed bytes, as HtmlWorker.chunks reads them."""

    def __init__(self, store: bytes) -> None:
        self._store = store

    def chunks(self, packed: Packed) -> Iterator[bytes]:
        yield self._store[packed.offset : packed.offset + packed.compressed]


def _in_place(info: ExportInfo, count: int) -> bytes:
    view = HtmlView(info, records_per_page=10)
    sink = io.BytesIO()
    with ZipArchive(sink, date_time=_WHEN, compresslevel=6) as archive:
        view.write_category(archive, "history", _spool(view, count), "html/history/")
        archive.finish(info, record_counts={"history": count})
    return sink.getvalue()


def _merged(info: ExportInfo, count: int, mine: Callable[[int], bool]) -> bytes:
    view = HtmlView(info, records_per_page=10)
    child = _Collector()
    view.write_category(child, "history", _spool(view, count), "", only=lambda n: not mine(n))
    events = [*child.events, CategoryEnd(category="history", count=count)]
    sink = io.BytesIO()
    with ZipArchive(sink, date_time=_WHEN, compresslevel=6) as archive:
        merger = _PageMerger(archive, _Worker(child.store.getvalue()), iter(events))  # type: ignore[arg-type]
        merger.directory = "html/history/"
        merger.category = "history"
        view.write_category(merger, "history", _spool(view, count), "html/history/", only=mine)
        merger.expect(CategoryEnd, "history")
        archive.finish(info, record_counts={"history": count})
    return sink.getvalue()


@pytest.mark.parametrize("pending_bytes", [0, 1 << 30])
@pytest.mark.parametrize(
    "mine",
    [
        lambda n: n % 2 == 1,  # every other member
        lambda n: n in (1, 2, 3, 7),  # runs of members on both sides
        lambda n: n >= 5,  # the child packed the first half, this process the rest
        lambda n: n == 0,  # only the index page here
        lambda n: True,  # all here
        lambda n: False,  # all in the child
    ],
)
def test_any_split_gives_the_archive_made_in_place(
    make_info: Callable[..., ExportInfo],
    monkeypatch: pytest.MonkeyPatch,
    pending_bytes: int,
    mine: Callable[[int], bool],
) -> None:
    """Members packed here wait for the child's before them (bounded or not): same bytes."""
    monkeypatch.setattr(_zip, "_PENDING_BYTES", pending_bytes)
    info = make_info("history")
    assert _merged(info, 95, mine) == _in_place(info, 95)


def test_members_packed_here_wait_within_the_bound(
    make_info: Callable[..., ExportInfo], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With room for them, this process's pages are added only once the child's are in."""
    monkeypatch.setattr(_zip, "_PENDING_BYTES", 1 << 30)
    info = make_info("history")
    view = HtmlView(info, records_per_page=10)
    child = _Collector()
    view.write_category(child, "history", _spool(view, 95), "", only=lambda n: n == 0)
    read: list[str] = []

    def events() -> Iterator[Any]:
        for event in child.events:
            read.append(event.name)
            yield event
        yield CategoryEnd(category="history", count=95)

    with ZipArchive(io.BytesIO(), date_time=_WHEN, compresslevel=6) as archive:
        merger = _PageMerger(archive, _Worker(child.store.getvalue()), events())  # type: ignore[arg-type]
        merger.directory = "html/history/"
        merger.category = "history"
        view.write_category(merger, "history", _spool(view, 95), "html/history/", only=bool)
        # Every page here is packed, none added: the child's index page is not read yet.
        assert read == []
        assert len(merger._pending) == 10
        merger.expect(CategoryEnd, "history")
        assert read == ["index.html"]
        archive.finish(info, record_counts={"history": 95})
