"""Byte-stream stages: background compression, caps, gzip implementations."""

from __future__ import annotations

import gzip
import io
import threading

import pytest

from reasonkit_export._pipeline import (
    BackgroundSink,
    BufferedSink,
    MeteredSink,
    gzip_writer,
    isal_level,
)
from reasonkit_export.exceptions import FileTooLarge


def test_background_sink_preserves_order_and_content() -> None:
    """Everything written reaches the target in order, from another thread."""
    target = io.BytesIO()
    seen: set[str] = set()

    class Recording:
        def write(self, data: bytes) -> int:
            seen.add(threading.current_thread().name)
            return target.write(data)

    sink = BackgroundSink(Recording(), depth=2)
    for n in range(1000):
        sink.write(f"{n},".encode())
    sink.close()
    assert target.getvalue() == "".join(f"{n}," for n in range(1000)).encode()
    assert seen == {"reasonkit-compress"}


def test_background_error_surfaces_in_the_writer() -> None:
    """A failure in the background thread is raised at the next write or at close."""
    metered = MeteredSink(io.BytesIO(), limit=10)
    sink = BackgroundSink(metered, depth=1)
    with pytest.raises(FileTooLarge):
        for _ in range(100):
            sink.write(b"x" * 4)
        sink.close()
    sink.abort()
    assert metered.size <= 10


def test_abort_stops_the_thread() -> None:
    """abort() ends the background thread without raising."""
    sink = BackgroundSink(io.BytesIO())
    sink.write(b"abc")
    sink.abort()
    assert not sink._thread.is_alive()


@pytest.mark.parametrize("level", [1, 6, 9])
def test_gzip_writer_is_standard_gzip(level: int) -> None:
    """Whichever implementation is installed, the output is plain gzip."""
    raw = io.BytesIO()
    compressor = gzip_writer(raw, level)
    payload = "naïve café 🙂 ".encode() * 10_000
    buffered = BufferedSink(compressor)
    buffered.write(payload)
    buffered.flush()
    compressor.close()
    assert gzip.decompress(raw.getvalue()) == payload
    assert len(raw.getvalue()) < len(payload) / 5


def test_isal_levels_cover_zlib_levels() -> None:
    """zlib levels map onto ISA-L's 1-3."""
    assert [isal_level(n) for n in range(1, 10)] == [1, 1, 2, 2, 2, 2, 3, 3, 3]


def test_metered_sink_refuses_before_writing() -> None:
    """A write that would pass the cap writes nothing."""
    target = io.BytesIO()
    sink = MeteredSink(target, limit=5)
    sink.write(b"123")
    with pytest.raises(FileTooLarge):
        sink.write(b"456")
    assert target.getvalue() == b"123"
