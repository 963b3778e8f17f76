"""Giving back the memory of temporary data read for good (formats._holes)."""

from __future__ import annotations

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
