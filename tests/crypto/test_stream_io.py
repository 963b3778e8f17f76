"""The STREAM writer and reader as file objects: states, errors, sink handling."""

from __future__ import annotations

import io

import pytest

from reasonkit_export.crypto._io import BufferedSource
from reasonkit_export.crypto._stream import CHUNK_SIZE, DecryptingReader, EncryptingWriter
from reasonkit_export.exceptions import PayloadError

KEY = bytes(range(32))
INCOMPLETE = "age payload is incomplete: an earlier write to the sink failed"


class Sink(io.BytesIO):
    """A sink that counts flushes and closes, and can be made to fail."""

    def __init__(self, *, fail_after: int | None = None) -> None:
        super().__init__()
        self.flushes = 0
        self.closes = 0
        self.writes = 0
        self.fail_after = fail_after
        self.data = b""

    def write(self, data: object) -> int:
        """Take ``data``, or fail once ``fail_after`` writes were taken."""
        if self.fail_after is not None and self.writes >= self.fail_after:
            raise OSError("disk full")
        self.writes += 1
        chunk = bytes(data)  # type: ignore[call-overload]
        self.data += chunk
        return len(chunk)

    def flush(self) -> None:
        """Count the flush."""
        self.flushes += 1

    def close(self) -> None:
        """Count the close."""
        self.closes += 1


def decrypt(payload: bytes) -> bytes:
    """Decrypt a payload written under KEY."""
    return DecryptingReader(BufferedSource(io.BytesIO(payload)), KEY).read()


def test_writer_is_a_write_only_stream_with_a_safe_repr() -> None:
    """Writable, not readable or seekable; repr shows state and chunk count, never the key."""
    writer = EncryptingWriter(Sink(), KEY)
    assert (writer.writable(), writer.readable(), writer.seekable()) == (True, False, False)
    assert repr(writer) == "<EncryptingWriter open chunks=0>"
    assert writer.closed is False
    writer.write(b"x" * (CHUNK_SIZE + 1))
    assert repr(writer) == "<EncryptingWriter open chunks=1>"
    writer.close()
    assert repr(writer) == "<EncryptingWriter closed chunks=2>"
    assert bool(writer.closed) is True  # bool(): mypy still holds the earlier "is False"
    assert KEY.hex() not in repr(writer)


def test_flush_reaches_the_sink_but_keeps_a_partial_chunk() -> None:
    """flush() flushes the sink; a partial chunk stays buffered until close."""
    sink = Sink()
    writer = EncryptingWriter(sink, KEY)
    writer.write(b"hello")
    writer.flush()
    assert (sink.flushes, sink.data) == (1, b"")
    writer.close()
    assert sink.flushes == 2
    assert decrypt(sink.data) == b"hello"


def test_closed_writer_refuses_io() -> None:
    """write() and flush() after close raise ValueError like any closed file."""
    writer = EncryptingWriter(Sink(), KEY)
    writer.close()
    for call in (lambda: writer.write(b"x"), writer.flush):
        with pytest.raises(ValueError, match=r"^I/O operation on closed age writer$"):
            call()
    writer.close()  # idempotent


def test_failed_sink_write_poisons_the_writer() -> None:
    """After the sink fails, write, flush and close raise PayloadError; nothing is sealed."""
    sink = Sink(fail_after=0)
    writer = EncryptingWriter(sink, KEY)
    with pytest.raises(OSError, match="disk full"):
        writer.write(b"x" * (2 * CHUNK_SIZE + 1))
    for call in (lambda: writer.write(b"x"), writer.flush):
        with pytest.raises(PayloadError) as caught:
            call()
        assert str(caught.value) == INCOMPLETE
    with pytest.raises(PayloadError) as caught:
        writer.close()
    assert str(caught.value) == INCOMPLETE
    assert writer.closed is True
    writer.close()  # a second close is a no-op, not another error
    assert sink.data == b""


@pytest.mark.parametrize("close_sink", [False, True])
def test_close_seals_flushes_and_closes_the_sink_only_on_request(close_sink: bool) -> None:
    """close() seals and flushes; the sink is closed only with close_sink=True."""
    sink = Sink()
    writer = EncryptingWriter(sink, KEY, close_sink=close_sink)
    writer.write(b"data")
    writer.close()
    writer.close()
    assert (sink.flushes, sink.closes) == (1, int(close_sink))
    assert decrypt(sink.data) == b"data"


@pytest.mark.parametrize("close_sink", [False, True])
def test_abort_leaves_an_unsealed_payload(close_sink: bool) -> None:
    """abort() writes no final chunk, does not flush, closes the sink only on request."""
    sink = Sink()
    writer = EncryptingWriter(sink, KEY, close_sink=close_sink)
    writer.write(b"y" * (CHUNK_SIZE + 5))
    writer.abort()
    writer.abort()
    assert writer.closed is True
    assert (sink.flushes, sink.closes) == (0, int(close_sink))
    with pytest.raises(PayloadError):
        decrypt(sink.data)
    with pytest.raises(ValueError, match="closed age writer"):
        writer.write(b"z")


def test_exception_in_with_block_aborts() -> None:
    """Leaving the with block by an exception aborts: the payload never decrypts."""
    sink = Sink()
    with pytest.raises(RuntimeError), EncryptingWriter(sink, KEY) as writer:
        writer.write(b"partial")
        raise RuntimeError("boom")
    assert sink.data == b""
    assert writer.closed is True


def test_write_accepts_any_buffer_and_reports_its_size() -> None:
    """write() takes bytes, bytearray and memoryviews of any item size and returns byte counts."""
    import array

    sink = Sink()
    writer = EncryptingWriter(sink, KEY)
    numbers = array.array("I", [1, 2, 3])
    assert writer.write(numbers) == 12  # type: ignore[arg-type]  # any buffer, on purpose
    assert writer.write(bytearray(b"ab")) == 2
    assert writer.write(memoryview(b"c" * (2 * CHUNK_SIZE + 3))) == 2 * CHUNK_SIZE + 3
    writer.close()
    assert decrypt(sink.data) == numbers.tobytes() + b"ab" + b"c" * (2 * CHUNK_SIZE + 3)


def test_reader_failure_is_sticky_and_releases_nothing_more() -> None:
    """After a failed chunk every later read fails with the same message."""
    sink = Sink()
    with EncryptingWriter(sink, KEY) as writer:
        writer.write(b"a" * (2 * CHUNK_SIZE))
    broken = bytearray(sink.data)
    broken[CHUNK_SIZE + 16 + 5] ^= 1  # inside the second chunk
    reader = DecryptingReader(BufferedSource(io.BytesIO(bytes(broken))), KEY)
    assert reader.read(CHUNK_SIZE) == b"a" * CHUNK_SIZE
    for _ in range(2):
        with pytest.raises(PayloadError) as caught:
            reader.read(1)
        assert str(caught.value) == "age payload chunk 1 failed authentication"
    assert repr(reader) == "<DecryptingReader open chunks=1>"
    reader.close()
    assert repr(reader) == "<DecryptingReader closed chunks=1>"


class WriteOnly:
    """The smallest sink: write() and nothing else."""

    def __init__(self) -> None:
        self.data = b""

    def write(self, data: bytes) -> int:
        """Take ``data``."""
        self.data += bytes(data)
        return len(data)


def test_sink_needs_only_write() -> None:
    """A sink without flush or close works, even with close_sink=True."""
    sink = WriteOnly()
    writer = EncryptingWriter(sink, KEY, close_sink=True)
    writer.write(b"plain")
    writer.flush()
    writer.close()
    assert decrypt(sink.data) == b"plain"
    aborted = EncryptingWriter(WriteOnly(), KEY, close_sink=True)
    aborted.abort()
    assert aborted.closed is True


def test_sink_stays_open_by_default() -> None:
    """Without close_sink the writer never closes the sink."""
    sink = Sink()
    EncryptingWriter(sink, KEY).close()
    with EncryptingWriter(sink, KEY):
        pass
    assert sink.closes == 0


EMPTY_FINAL = "age payload's final chunk is empty (only allowed alone)"


def _two_chunks() -> bytes:
    """A full non-final chunk and a final chunk of one byte."""
    return _payload(CHUNK_SIZE + 1)


def _payload(size: int) -> bytes:
    sink = Sink()
    with EncryptingWriter(sink, KEY) as writer:
        writer.write(b"p" * size)
    return sink.data


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: b"", "age payload is truncated (no final chunk)"),
        (lambda: _payload(5)[:10], "age payload chunk 0 is truncated"),
        (
            lambda: _two_chunks()[: CHUNK_SIZE + 16],
            "age payload is truncated (no final chunk)",
        ),
        (lambda: _two_chunks()[: CHUNK_SIZE + 16] + _payload(0), EMPTY_FINAL),
        (lambda: _payload(5) + b"x", "age payload chunk 0 failed authentication"),
        (lambda: _payload(5)[:-1] + b"\x00", "age payload chunk 0 failed authentication"),
        (
            lambda: _two_chunks()[: CHUNK_SIZE + 16] + b"\x00" * 17,
            "age payload chunk 1 failed authentication",
        ),
    ],
    ids=[
        "empty",
        "short-chunk",
        "no-final-chunk",
        "final-chunk-replaced",
        "trailing-byte",
        "bad-tag",
        "fake-empty-final",
    ],
)
def test_reader_errors_name_the_fault(make: object, message: str) -> None:
    """Each broken payload fails with its own PayloadError message."""
    data = make()  # type: ignore[operator]
    reader = DecryptingReader(BufferedSource(io.BytesIO(data)), KEY)
    with pytest.raises(PayloadError) as caught:
        reader.read()
    assert str(caught.value) == message


def test_trailing_data_after_the_final_chunk_is_refused_after_the_plaintext() -> None:
    """An authentic final chunk followed by more bytes releases its plaintext, then fails."""
    data = _payload(CHUNK_SIZE) + b"\x00" * 40
    reader = DecryptingReader(BufferedSource(io.BytesIO(data)), KEY)
    assert reader.read(CHUNK_SIZE) == b"p" * CHUNK_SIZE
    with pytest.raises(PayloadError) as caught:
        reader.read(1)
    assert str(caught.value) == "age payload has trailing data after the final chunk"


def test_closed_reader_refuses_reads() -> None:
    """Reading a closed reader raises ValueError like any closed file."""
    reader = DecryptingReader(BufferedSource(io.BytesIO(_payload(3))), KEY)
    reader.close()
    with pytest.raises(ValueError, match=r"^I/O operation on closed age reader$"):
        reader.read(1)


def test_chunk_counter_limit() -> None:
    """The 88-bit chunk counter's last value is usable; one more is refused."""
    from reasonkit_export.crypto._stream import _MAX_COUNTER, _chunk_nonce

    assert _chunk_nonce(_MAX_COUNTER, last=True) == b"\xff" * 11 + b"\x01"
    assert _chunk_nonce(1, last=False) == b"\x00" * 10 + b"\x01\x00"
    with pytest.raises(PayloadError) as caught:
        _chunk_nonce(_MAX_COUNTER + 1, last=False)
    assert str(caught.value) == "age payload exceeds the STREAM chunk counter"


def test_corrupt_non_final_chunk_is_named() -> None:
    """A damaged first chunk of two fails as chunk 0 and releases nothing."""
    broken = bytearray(_two_chunks())
    broken[5] ^= 1
    reader = DecryptingReader(BufferedSource(io.BytesIO(bytes(broken))), KEY)
    with pytest.raises(PayloadError) as caught:
        reader.read(1)
    assert str(caught.value) == "age payload chunk 0 failed authentication"


def test_partial_reads_return_each_byte_once_and_count_chunks() -> None:
    """Short reads continue where the last one stopped; repr counts the chunks read."""
    reader = DecryptingReader(BufferedSource(io.BytesIO(_payload(CHUNK_SIZE + 10))), KEY)
    assert reader.read(3) == b"ppp"
    assert len(reader.read(CHUNK_SIZE * 2)) == CHUNK_SIZE - 3  # the rest of chunk 0 only
    assert reader.read(100) == b"p" * 10
    assert reader.read(1) == b""
    assert repr(reader) == "<DecryptingReader open chunks=2>"
