"""Giving back the memory of temporary data read for good (formats._holes)."""

from __future__ import annotations

import json
import os
import sys
import tempfile

import pytest

from reasonkit_export.formats._holes import release
from reasonkit_export.formats._spool import SpoolFile

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="hole punching is Linux's")


def _allocated(fd: int) -> int:
    return os.fstat(fd).st_blocks * 512


@linux
def test_release_frees_whole_blocks_inside_the_range_only() -> None:
    """The blocks inside are freed and read as zeros; the bytes around stay."""
    with tempfile.TemporaryFile(buffering=0) as handle:
        data = bytes(range(256)) * 4096  # 1 MiB
        handle.write(data)
        os.fsync(handle.fileno())
        before = _allocated(handle.fileno())
        # From the middle of a block to the middle of another: whole blocks between.
        assert release(handle.fileno(), 10_000, 500_000)
        assert _allocated(handle.fileno()) < before
        assert os.fstat(handle.fileno()).st_size == len(data)  # the size stays
        after = os.pread(handle.fileno(), len(data), 0)
        first, last = 12_288, 499_712  # 10,000 and 500,000 rounded inwards to 4 KiB
        assert after[:first] == data[:first]
        assert after[first:last] == bytes(last - first)
        assert after[last:] == data[last:]


def test_release_does_nothing_where_it_cannot() -> None:
    """Less than a block, a pipe, a read-only file: no error, nothing changed."""
    with tempfile.TemporaryFile(buffering=0) as handle:
        handle.write(b"x" * 10_000)
        assert not release(handle.fileno(), 100, 4000)  # no whole block
        assert not release(handle.fileno(), 5000, 5000)
        assert os.pread(handle.fileno(), 10_000, 0) == b"x" * 10_000
    read, write = os.pipe()
    try:
        assert not release(read, 0, 1 << 20)
    finally:
        os.close(read)
        os.close(write)


@linux
def test_a_segment_releases_only_its_own_bytes() -> None:
    """Two segments interleaved in one file: releasing one leaves the other whole."""
    with SpoolFile() as shared:
        first, second = shared.segment(), shared.segment()
        a = b"a" * 300_000
        b = b"b" * 300_000
        for _ in range(8):  # interleaved extents of about 1 MiB each
            first.write(a * 4)
            first.flush()
            second.write(b * 4)
            second.flush()
        first.release(0, first.length)
        second.seek(0)
        assert second.read() == b * 32
        first.seek(0)
        remains = first.read()
        assert len(remains) == len(a) * 32
        assert set(remains) <= {0, ord("a")}  # released blocks read as zeros
        assert remains.count(0) > len(remains) // 2


def _data_extents(fd: int) -> list[tuple[int, int]]:
    """The file's (start, end) runs of data, holes left out (SEEK_DATA/SEEK_HOLE)."""
    runs, position, size = [], 0, os.fstat(fd).st_size
    while position < size:
        try:
            start = os.lseek(fd, position, os.SEEK_DATA)
        except OSError:  # no data past position
            break
        end = os.lseek(fd, start, os.SEEK_HOLE)
        runs.append((start, end))
        position = end
    return runs


@linux
@pytest.mark.parametrize("aligned", [True, False])
def test_an_aligned_file_frees_every_block_of_what_is_read(aligned: bool) -> None:
    """Pages written apart and read for good leave no block; unaligned ones leave their edges."""
    with SpoolFile(aligned=aligned) as shared:
        first, second = shared.segment(), shared.segment()
        pages = [(first, bytes([65 + n]) * (5000 + 777 * n)) for n in range(6)]
        pages += [(second, b"z" * 7000)]
        spans = []
        for segment, page in pages:
            start = segment.length
            segment.write(page)
            segment.flush()  # each page a write of its own
            spans.append((segment, start, segment.length))
        if aligned:
            assert all(offset % 4096 == 0 for offset, _ in first.extents + second.extents)
        os.fsync(shared._fd)  # the blocks are allocated: freeing them is real
        for segment, start, end in spans[:-1]:
            segment.release(start, end)
        left = _data_extents(shared._fd)
        (last_offset, last_length), *_ = second.extents
        if aligned:
            # Only the page not read yet keeps its blocks (the file ends with it).
            assert left == [(last_offset, last_offset + last_length)]
        else:
            assert len(left) > 1  # the blocks shared by neighbouring pages stay
        second.seek(0)
        assert second.read() == b"z" * 7000
        second.release(0, second.length)
        if aligned:
            assert _data_extents(shared._fd) == []
            assert os.fstat(shared._fd).st_blocks == 0
        else:
            assert _data_extents(shared._fd)


@linux
@pytest.mark.parametrize("page_writes", [True, False])
def test_the_views_pages_read_for_good_free_every_block(page_writes: bool) -> None:
    """The child's spool of rendered records: each page a write of its own, freed whole."""
    from reasonkit_export._present import Presenter
    from reasonkit_export.formats._html import HtmlSpool, RecordRenderer

    presenter = Presenter.for_export(locale="en", timezone="UTC", descriptions={})
    with SpoolFile(aligned=True) as shared:
        spool = HtmlSpool(
            RecordRenderer(presenter, "c"),
            records_per_page=37,
            page_bytes=1 << 20,
            file=shared.segment(),  # type: ignore[arg-type]
            page_writes=page_writes,
        )
        lines = [b'{"n": %d, "text": "%s"}\n' % (n, b"x" * (n % 300)) for n in range(1000)]
        spool.add_lines(b"".join(lines[:333]), json.loads)
        for n in range(5):
            spool.add_fragment(b"<article>%d</article>" % n)
        spool.add_lines(b"".join(lines[333:]), json.loads)
        spool.seal()
        os.fsync(shared._fd)
        spool.release_pages = True
        pages = [list(spool.page_records(index)) for index in range(len(spool.pages))]
        assert sum(len(page) for page in pages) == spool.count == 1005
        assert pages[0][0].startswith(b'<article class="rec" id="r1">')
        left = os.fstat(shared._fd).st_blocks
        assert (left == 0) is page_writes
