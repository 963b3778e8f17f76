"""Streaming writer and reader behaviour, header encoding and argument handling."""

from __future__ import annotations

import hashlib
import io
import shutil
import tracemalloc
from collections.abc import Sequence
from pathlib import Path

import pytest

from reasonkit_export.crypto import (
    CHUNK_SIZE,
    DecryptingReader,
    EncryptingWriter,
    Identity,
    Recipient,
    ScryptIdentity,
    ScryptRecipient,
    Stanza,
    X25519Identity,
    decrypt,
    decrypting_reader,
    encrypt,
    encrypting_writer,
    generate_identity,
)
from reasonkit_export.exceptions import HeaderError, InvalidRequest, PayloadError

from ._support import (
    ENC_CHUNK,
    NONCE_SIZE,
    TAG_SIZE,
    expected_chunks,
    layout,
    random_bytes,
)

IDENTITY = X25519Identity.generate()
SIZES = [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 2 * CHUNK_SIZE, 2 * CHUNK_SIZE + 17]


class RecordingSink:
    """A sink that keeps what it is given and whether it was flushed or closed."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.flushed = 0
        self.closed = False

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        self.flushed += 1

    def close(self) -> None:
        self.closed = True

    @property
    def size(self) -> int:
        return sum(len(p) for p in self.parts)

    def getvalue(self) -> bytes:
        return b"".join(self.parts)


class TrickleSource:
    """A source that returns at most a few bytes per read, like a slow pipe."""

    def __init__(self, data: bytes, step: int = 7) -> None:
        self._io = io.BytesIO(data)
        self._step = step
        self.closed = False

    def read(self, size: int) -> bytes:
        return self._io.read(min(size, self._step))

    def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize("size", SIZES)
def test_round_trip_and_length(size: int) -> None:
    """Encryption round-trips and the payload has exactly one tag per 64 KiB chunk."""
    plaintext = random_bytes(size, seed=size)
    data = encrypt(plaintext, IDENTITY.recipient)
    where = layout(data)
    assert len(data) == where.payload_start + size + expected_chunks(size) * TAG_SIZE
    assert decrypt(data, IDENTITY) == plaintext


def test_empty_plaintext_is_one_empty_final_chunk() -> None:
    """An empty plaintext is encrypted as a single, empty, final chunk (a bare tag)."""
    data = encrypt(b"", IDENTITY.recipient)
    assert len(data) - layout(data).payload_start == TAG_SIZE
    assert decrypt(data, IDENTITY) == b""


def test_full_last_chunk_is_not_followed_by_empty_chunk() -> None:
    """A plaintext of exactly one chunk is one full final chunk, with no empty chunk after it."""
    data = encrypt(bytes(CHUNK_SIZE), IDENTITY.recipient)
    assert len(data) - layout(data).payload_start == ENC_CHUNK


def test_writer_emits_chunks_as_they_fill() -> None:
    """The writer hands each chunk to the sink once the next one has started (bounded memory)."""
    sink = RecordingSink()
    writer = encrypting_writer(sink, IDENTITY.recipient)
    header_size = sink.size
    writer.write(bytes(CHUNK_SIZE))
    assert sink.size == header_size  # may still be the final chunk
    writer.write(b"x")
    assert sink.size == header_size + ENC_CHUNK
    writer.write(bytes(5 * CHUNK_SIZE))
    # 6 full chunks are complete now; the 7th holds one byte and waits for close().
    assert sink.size == header_size + 6 * ENC_CHUNK
    writer.close()
    assert sink.size == header_size + 6 * ENC_CHUNK + 1 + TAG_SIZE
    assert decrypt(sink.getvalue(), IDENTITY) == bytes(CHUNK_SIZE) + b"x" + bytes(5 * CHUNK_SIZE)


def test_writer_accepts_bytes_like_objects() -> None:
    """write() takes bytes, bytearray and memoryviews (including non-byte formats)."""
    sink = io.BytesIO()
    with encrypting_writer(sink, IDENTITY.recipient) as writer:
        assert writer.write(b"ab") == 2
        assert writer.write(bytearray(b"cd")) == 2
        assert writer.write(memoryview(b"efgh")[1:3]) == 2
        assert writer.write(memoryview(bytearray(8)).cast("I")) == 8
    assert decrypt(sink.getvalue(), IDENTITY) == b"abcdfg" + bytes(8)


def test_close_does_not_close_sink_by_default() -> None:
    """close() seals the payload and flushes but leaves the sink open."""
    sink = RecordingSink()
    writer = encrypting_writer(sink, IDENTITY.recipient)
    writer.write(b"data")
    writer.close()
    assert writer.closed
    assert not sink.closed
    assert sink.flushed >= 1
    writer.close()  # idempotent
    assert decrypt(sink.getvalue(), IDENTITY) == b"data"


def test_close_sink_option() -> None:
    """With close_sink=True, closing the writer closes the sink after sealing."""
    sink = RecordingSink()
    with encrypting_writer(sink, IDENTITY.recipient, close_sink=True) as writer:
        writer.write(b"data")
    assert sink.closed
    assert decrypt(sink.getvalue(), IDENTITY) == b"data"


def test_write_after_close_fails() -> None:
    """Writing to a closed writer raises ValueError, like a closed file."""
    writer = encrypting_writer(io.BytesIO(), IDENTITY.recipient)
    writer.close()
    with pytest.raises(ValueError, match="closed"):
        writer.write(b"x")


def test_exception_in_with_block_leaves_payload_unsealed() -> None:
    """Leaving the with block by an exception does not write the final chunk."""
    sink = io.BytesIO()
    writer = encrypting_writer(sink, IDENTITY.recipient)

    def export() -> None:
        with writer:
            writer.write(bytes(3 * CHUNK_SIZE))
            raise RuntimeError("export failed half-way")

    with pytest.raises(RuntimeError):
        export()
    assert writer.closed
    with pytest.raises(PayloadError, match="truncated"):
        decrypt(sink.getvalue(), IDENTITY)


def test_exception_with_close_sink_still_closes_sink() -> None:
    """With close_sink=True an aborted writer closes the sink (no leak) without sealing."""
    sink = RecordingSink()
    writer = encrypting_writer(sink, IDENTITY.recipient, close_sink=True)

    def export() -> None:
        with writer:
            writer.write(b"partial")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        export()
    assert sink.closed
    with pytest.raises(PayloadError):
        decrypt(sink.getvalue(), IDENTITY)


def test_failed_sink_write_poisons_writer() -> None:
    """After the sink fails, the writer refuses to continue or to seal a partial file."""

    class FailingSink(RecordingSink):
        def write(self, data: bytes) -> int:
            if self.size > 0:
                raise OSError("disk full")
            return super().write(data)

    writer = encrypting_writer(FailingSink(), IDENTITY.recipient)
    with pytest.raises(OSError, match="disk full"):
        writer.write(bytes(2 * CHUNK_SIZE))
    with pytest.raises(PayloadError):
        writer.write(b"more")
    with pytest.raises(PayloadError):
        writer.close()


def test_writer_repr_shows_no_key() -> None:
    """The writer's repr says nothing about keys."""
    writer = encrypting_writer(io.BytesIO(), IDENTITY.recipient)
    assert repr(writer).startswith("<EncryptingWriter open")
    assert isinstance(writer, EncryptingWriter)


def test_reader_with_trickling_source() -> None:
    """The reader copes with sources that return only a few bytes per read()."""
    plaintext = random_bytes(2 * CHUNK_SIZE + 5, seed=1)
    data = encrypt(plaintext, IDENTITY.recipient)
    with decrypting_reader(TrickleSource(data, step=997), IDENTITY) as reader:
        assert reader.read() == plaintext


def test_reader_read_sizes_and_readinto() -> None:
    """read(n) returns at most n bytes, readinto fills buffers, and EOF reads return b''."""
    plaintext = random_bytes(CHUNK_SIZE + 300, seed=2)
    reader = decrypting_reader(io.BytesIO(encrypt(plaintext, IDENTITY.recipient)), IDENTITY)
    assert isinstance(reader, DecryptingReader)
    assert reader.readable()
    assert reader.read(0) == b""
    assert reader.read(10) == plaintext[:10]
    buf = bytearray(100)
    assert reader.readinto(buf) == 100
    assert bytes(buf) == plaintext[10:110]
    rest = reader.read()
    assert rest == plaintext[110:]
    assert reader.read(5) == b""
    assert reader.readinto(buf) == 0
    reader.close()
    assert reader.closed
    with pytest.raises(ValueError, match="closed"):
        reader.read(1)


def test_reader_works_with_standard_io_tools(tmp_path: Path) -> None:
    """The reader plugs into io.BufferedReader and shutil.copyfileobj."""
    plaintext = random_bytes(3 * CHUNK_SIZE + 11, seed=3)
    data = encrypt(plaintext, IDENTITY.recipient)
    buffered = io.BufferedReader(decrypting_reader(io.BytesIO(data), IDENTITY))
    assert buffered.read(5) == plaintext[:5]
    assert buffered.read() == plaintext[5:]
    target = tmp_path / "plain.bin"
    with target.open("wb") as out, decrypting_reader(io.BytesIO(data), IDENTITY) as reader:
        shutil.copyfileobj(reader, out)
    assert target.read_bytes() == plaintext


def test_reader_close_source_option() -> None:
    """Closing the reader leaves the source open unless close_source=True."""
    data = encrypt(b"x", IDENTITY.recipient)
    source = TrickleSource(data)
    with decrypting_reader(source, IDENTITY) as reader:
        reader.read()
    assert not source.closed
    source = TrickleSource(data)
    with decrypting_reader(source, IDENTITY, close_source=True) as reader:
        reader.read()
    assert source.closed


def test_header_errors_raised_when_opening() -> None:
    """decrypting_reader() authenticates the header before returning."""
    with pytest.raises(HeaderError):
        decrypting_reader(io.BytesIO(b"not an age file\n"), IDENTITY)


def test_streaming_memory_is_bounded(tmp_path: Path) -> None:
    """Encrypting and decrypting a 16 MiB file streams with well under 1 MiB of peak memory."""
    path = tmp_path / "big.age"
    block = random_bytes(100_000, seed=4)
    digest = hashlib.sha256()
    tracemalloc.start()
    try:
        with path.open("wb") as sink, encrypting_writer(sink, IDENTITY.recipient) as writer:
            for _ in range(168):
                writer.write(block)
                digest.update(block)
        _, encrypt_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        check = hashlib.sha256()
        with path.open("rb") as source, decrypting_reader(source, IDENTITY) as reader:
            while data := reader.read(CHUNK_SIZE):
                check.update(data)
        _, decrypt_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert check.digest() == digest.digest()
    assert encrypt_peak < 1024 * 1024
    assert decrypt_peak < 1024 * 1024


def test_recipients_and_identities_as_strings_or_sequences() -> None:
    """Keys may be given as strings or objects, alone or in sequences."""
    other = generate_identity()
    data = encrypt(b"hi", str(IDENTITY.recipient))
    assert decrypt(data, str(IDENTITY)) == b"hi"
    data = encrypt(b"hi", (IDENTITY.recipient, str(other.recipient)))
    assert decrypt(data, [str(other)]) == b"hi"
    assert decrypt(data, [generate_identity(), IDENTITY]) == b"hi"
    assert data.count(b"-> X25519 ") == 2


def test_empty_key_lists_refused() -> None:
    """No recipients or no identities is an InvalidRequest, not a silent failure."""
    with pytest.raises(InvalidRequest):
        encrypt(b"x", [])
    with pytest.raises(InvalidRequest):
        decrypt(encrypt(b"x", IDENTITY.recipient), [])


def test_wrong_key_types_refused() -> None:
    """Objects that are neither strings nor recipients/identities raise TypeError."""
    with pytest.raises(TypeError):
        encrypt(b"x", [42])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        decrypt(encrypt(b"x", IDENTITY.recipient), [object()])  # type: ignore[list-item]


class _EchoRecipient:
    """A toy third-party recipient: stores the file key in a stanza with a 96-byte body."""

    def wrap(self, file_key: bytes) -> list[Stanza]:
        return [Stanza("x-echo", ("a", "b!"), file_key * 6)]


class _EchoIdentity:
    """The toy identity matching _EchoRecipient."""

    def __init__(self) -> None:
        self.seen: list[Stanza] = []

    def unwrap(self, stanzas: Sequence[Stanza]) -> bytes | None:
        self.seen.extend(stanzas)
        for stanza in stanzas:
            if stanza.type == "x-echo":
                return stanza.body[:16]
        return None


def test_custom_recipient_protocol_and_64_column_wrapping() -> None:
    """Third-party Recipient/Identity objects work; bodies wrap at 64 columns with a short end."""
    recipient, identity = _EchoRecipient(), _EchoIdentity()
    assert isinstance(recipient, Recipient)
    assert isinstance(identity, Identity)
    data = encrypt(b"custom", recipient)
    header = data[: layout(data).header_end].decode("ascii")
    lines = header.split("\n")
    assert lines[1] == "-> x-echo a b!"
    # 96 bytes = 128 base64 characters: two full lines, then the mandatory short (empty) line.
    assert [len(line) for line in lines[2:5]] == [64, 64, 0]
    assert decrypt(data, identity) == b"custom"
    assert identity.seen[0].type == "x-echo"
    assert identity.seen[0].args == ("a", "b!")
    assert len(identity.seen[0].body) == 96


def test_stanza_arguments_validated() -> None:
    """Stanzas refuse arguments that cannot be encoded (spaces, empty, non-ASCII)."""
    for bad in ("", "a b", "é", "tab\t"):
        with pytest.raises(HeaderError):
            Stanza("type", (bad,))


def test_scrypt_recipient_with_string_passphrase() -> None:
    """ScryptRecipient objects can be given alone (not wrapped in a list)."""
    data = encrypt(b"s", ScryptRecipient("pw", work_factor=10))
    assert decrypt(data, ScryptIdentity("pw")) == b"s"


def test_nonce_is_fresh_per_file() -> None:
    """Two encryptions of the same plaintext differ in file key, nonce and payload."""
    one, two = encrypt(b"same", IDENTITY.recipient), encrypt(b"same", IDENTITY.recipient)
    where_one, where_two = layout(one), layout(two)
    assert (
        one[where_one.header_end : where_one.header_end + NONCE_SIZE]
        != two[where_two.header_end : where_two.header_end + NONCE_SIZE]
    )
    assert one[where_one.payload_start :] != two[where_two.payload_start :]
