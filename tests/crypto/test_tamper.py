"""Tampering with an age file is always detected, with the right error kind.

The streaming reader must never release unauthenticated plaintext: whatever it
hands out before failing is a prefix of the true plaintext made of whole,
verified chunks.
"""

from __future__ import annotations

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reasonkit_export.crypto import (
    CHUNK_SIZE,
    X25519Identity,
    decrypt,
    decrypting_reader,
    encrypt,
    encrypting_writer,
)
from reasonkit_export.exceptions import (
    CryptoError,
    HeaderError,
    HeaderMacError,
    NoIdentityMatch,
    PayloadError,
)

from ._support import (
    ENC_CHUNK,
    NONCE_SIZE,
    TAG_SIZE,
    assert_whole_chunk_prefix,
    layout,
    random_bytes,
    stream_decrypt,
)

IDENTITY = X25519Identity.generate()
# Three full chunks and a short final one.
PLAINTEXT = random_bytes(3 * CHUNK_SIZE + 1000, seed=42)
CIPHERTEXT = encrypt(PLAINTEXT, IDENTITY.recipient)
LAYOUT = layout(CIPHERTEXT)
CHUNKS = LAYOUT.chunks(CIPHERTEXT)
PREFIX = CIPHERTEXT[: LAYOUT.payload_start]


def flip(data: bytes, offset: int, bit: int = 0) -> bytes:
    """Return ``data`` with one bit flipped."""
    out = bytearray(data)
    out[offset] ^= 1 << bit
    return bytes(out)


def expect_failure(
    data: bytes, *kinds: type[CryptoError], released_chunks: int | None = None
) -> CryptoError:
    """Assert that streaming and one-shot decryption fail with one of ``kinds``."""
    released, error = stream_decrypt(data, IDENTITY)
    assert isinstance(error, kinds), f"expected {kinds}, got {error!r}"
    assert_whole_chunk_prefix(released, PLAINTEXT)
    if released_chunks is not None:
        assert released == PLAINTEXT[: released_chunks * CHUNK_SIZE]
    with pytest.raises(kinds):
        decrypt(data, IDENTITY)
    return error


def test_layout_is_as_expected() -> None:
    """The fixture file has four chunks and decrypts intact (guards the tests below)."""
    assert LAYOUT.chunk_count == 4
    assert [len(c) for c in CHUNKS] == [ENC_CHUNK] * 3 + [1000 + TAG_SIZE]
    assert decrypt(CIPHERTEXT, IDENTITY) == PLAINTEXT


# --- header -------------------------------------------------------------------


def test_bit_flips_in_version_line() -> None:
    """Any bit flip in the version line is a HeaderError."""
    for offset in range(len(b"age-encryption.org/v1\n")):
        for bit in range(8):
            expect_failure(flip(CIPHERTEXT, offset, bit), HeaderError)


def test_bit_flips_in_stanza() -> None:
    """Any bit flip in the recipient stanza is a HeaderError or NoIdentityMatch."""
    start = len(b"age-encryption.org/v1\n")
    for offset in range(start, LAYOUT.mac_line_start):
        for bit in range(8):
            expect_failure(flip(CIPHERTEXT, offset, bit), HeaderError, NoIdentityMatch)


def test_bit_flips_in_mac_line() -> None:
    """Any bit flip in the ``--- MAC`` line is a HeaderError or HeaderMacError."""
    for offset in range(LAYOUT.mac_line_start, LAYOUT.header_end):
        for bit in range(8):
            expect_failure(flip(CIPHERTEXT, offset, bit), HeaderError, HeaderMacError)


def test_mac_with_another_valid_character_is_mac_error() -> None:
    """A MAC still canonically encoded but different fails as HeaderMacError."""
    first = LAYOUT.mac_line_start + len(b"--- ")
    replacement = b"B" if CIPHERTEXT[first : first + 1] != b"B" else b"C"
    tampered = CIPHERTEXT[:first] + replacement + CIPHERTEXT[first + 1 :]
    expect_failure(tampered, HeaderMacError)


def test_mac_covers_stanzas_the_identity_does_not_use() -> None:
    """Altering another recipient's stanza fails the header MAC for everyone."""
    other = X25519Identity.generate()
    data = encrypt(b"secret", [IDENTITY.recipient, other.recipient])
    # Replace the first character of the second stanza's share with another.
    second = data.index(b"-> X25519 ", data.index(b"-> X25519 ") + 1) + len(b"-> X25519 ")
    replacement = b"A" if data[second : second + 1] != b"A" else b"B"
    tampered = data[:second] + replacement + data[second + 1 :]
    with pytest.raises(HeaderMacError, match=r"^the age header MAC does not verify$"):
        decrypt(tampered, IDENTITY)


def test_stanza_body_with_another_valid_character_is_no_match() -> None:
    """A wrapped file key that no longer authenticates means the identity does not match."""
    body_line = CIPHERTEXT.index(b"\n", CIPHERTEXT.index(b"-> X25519 ")) + 1
    replacement = b"A" if CIPHERTEXT[body_line : body_line + 1] != b"A" else b"B"
    tampered = CIPHERTEXT[:body_line] + replacement + CIPHERTEXT[body_line + 1 :]
    expect_failure(tampered, NoIdentityMatch)


@pytest.mark.parametrize("cut", [0, 1, 10, 22, 30, 100], ids=lambda n: f"cut{n}")
def test_truncation_inside_header(cut: int) -> None:
    """A file cut inside the header is a HeaderError."""
    assert cut < LAYOUT.header_end
    expect_failure(CIPHERTEXT[:cut], HeaderError)


def test_truncation_inside_nonce() -> None:
    """A file cut inside (or right before) the payload nonce is a HeaderError."""
    for cut in range(LAYOUT.header_end, LAYOUT.payload_start):
        expect_failure(CIPHERTEXT[:cut], HeaderError)


# --- payload ------------------------------------------------------------------


def test_bit_flips_in_nonce() -> None:
    """Any bit flip in the payload nonce fails the first chunk; nothing is released."""
    for offset in range(LAYOUT.header_end, LAYOUT.payload_start):
        for bit in (0, 7):
            expect_failure(flip(CIPHERTEXT, offset, bit), PayloadError, released_chunks=0)


@pytest.mark.parametrize("index", range(4))
@pytest.mark.parametrize(
    "where", ["body_first", "body_middle", "body_last", "tag_first", "tag_last"]
)
def test_bit_flip_in_chunk(index: int, where: str) -> None:
    """A flipped bit in chunk i's body or tag releases exactly the chunks before i."""
    start, end = LAYOUT.chunk_start(index), LAYOUT.chunk_end(index)
    offset = {
        "body_first": start,
        "body_middle": (start + end - TAG_SIZE) // 2,
        "body_last": end - TAG_SIZE - 1,
        "tag_first": end - TAG_SIZE,
        "tag_last": end - 1,
    }[where]
    expect_failure(flip(CIPHERTEXT, offset, 3), PayloadError, released_chunks=index)


def test_every_tag_byte_is_checked() -> None:
    """Flipping any byte of the final chunk's tag is detected."""
    end = LAYOUT.chunk_end(3)
    for offset in range(end - TAG_SIZE, end):
        expect_failure(flip(CIPHERTEXT, offset, 0), PayloadError, released_chunks=3)


@pytest.mark.parametrize("index", range(4))
@pytest.mark.parametrize("delta", [0, 1, TAG_SIZE - 1, TAG_SIZE, TAG_SIZE + 1, -1])
def test_truncation_in_payload(index: int, delta: int) -> None:
    """Cutting the payload at or near any chunk boundary, or mid-chunk, is a PayloadError."""
    cut = LAYOUT.chunk_start(index) + delta if delta >= 0 else LAYOUT.chunk_end(index) + delta
    if cut >= len(CIPHERTEXT):
        pytest.skip("cut beyond the end of the file")
    # The cut chunk never verifies. A cut exactly at a boundary leaves the
    # previous full chunk intact and authentic: it is released, then the
    # missing final chunk is reported.
    expect_failure(CIPHERTEXT[:cut], PayloadError, released_chunks=index)


def test_truncation_mid_chunk_everywhere() -> None:
    """Cuts at many offsets inside each chunk all fail, releasing only earlier chunks."""
    for index in range(4):
        start, end = LAYOUT.chunk_start(index), LAYOUT.chunk_end(index)
        for cut in range(start + 1, end, 4099):
            expect_failure(CIPHERTEXT[:cut], PayloadError, released_chunks=index)


def test_dropping_the_final_chunk() -> None:
    """A file without its final chunk releases the full chunks, then fails as truncated."""
    data = PREFIX + b"".join(CHUNKS[:3])
    error = expect_failure(data, PayloadError, released_chunks=3)
    assert "truncated" in str(error)


@pytest.mark.parametrize(("first", "second"), [(0, 1), (1, 2), (2, 3), (0, 3)])
def test_chunk_reordering(first: int, second: int) -> None:
    """Swapping two chunks fails at the first swapped position."""
    chunks = list(CHUNKS)
    chunks[first], chunks[second] = chunks[second], chunks[first]
    expect_failure(PREFIX + b"".join(chunks), PayloadError, released_chunks=first)


@pytest.mark.parametrize("index", range(3))
def test_duplicated_chunk(index: int) -> None:
    """Repeating a chunk fails where the copy sits."""
    chunks = [*CHUNKS[: index + 1], CHUNKS[index], *CHUNKS[index + 1 :]]
    expect_failure(PREFIX + b"".join(chunks), PayloadError, released_chunks=index + 1)


@pytest.mark.parametrize("index", range(3))
def test_dropped_chunk(index: int) -> None:
    """Removing a non-final chunk fails at its position."""
    chunks = [c for i, c in enumerate(CHUNKS) if i != index]
    expect_failure(PREFIX + b"".join(chunks), PayloadError, released_chunks=index)


def test_chunk_from_another_file() -> None:
    """A chunk spliced in from another file under the same key fails."""
    other = encrypt(PLAINTEXT, IDENTITY.recipient)
    foreign = layout(other).chunks(other)[1]
    chunks = [CHUNKS[0], foreign, *CHUNKS[2:]]
    expect_failure(PREFIX + b"".join(chunks), PayloadError, released_chunks=1)


@pytest.mark.parametrize("extra", [b"\x00", b"x" * TAG_SIZE, b"y" * (ENC_CHUNK + 5)])
def test_appended_bytes_after_short_final_chunk(extra: bytes) -> None:
    """Bytes after a short final chunk are a PayloadError."""
    expect_failure(CIPHERTEXT + extra, PayloadError)


@pytest.mark.parametrize("extra", [b"\x00", b"z" * 100])
def test_appended_bytes_after_full_final_chunk(extra: bytes) -> None:
    """Bytes after a full final chunk are a PayloadError (the authentic chunk may be released)."""
    plaintext = random_bytes(2 * CHUNK_SIZE, seed=7)
    data = encrypt(plaintext, IDENTITY.recipient)
    released, error = stream_decrypt(data + extra, IDENTITY)
    assert isinstance(error, PayloadError)
    assert "trailing" in str(error)
    assert plaintext.startswith(released)
    assert len(released) % CHUNK_SIZE == 0
    with pytest.raises(PayloadError):
        decrypt(data + extra, IDENTITY)


def test_final_flag_cannot_be_moved() -> None:
    """A full non-final chunk presented as the end of the file is refused."""
    plaintext = random_bytes(2 * CHUNK_SIZE, seed=8)
    data = encrypt(plaintext, IDENTITY.recipient)
    first_chunk_only = data[: layout(data).chunk_end(0)]
    released, error = stream_decrypt(first_chunk_only, IDENTITY)
    assert isinstance(error, PayloadError)
    assert released == plaintext[:CHUNK_SIZE]


def test_errors_are_sticky() -> None:
    """After a PayloadError every later read fails too, releasing nothing more."""
    reader = decrypting_reader(io.BytesIO(flip(CIPHERTEXT, LAYOUT.chunk_start(1))), IDENTITY)
    assert reader.read(CHUNK_SIZE) == PLAINTEXT[:CHUNK_SIZE]
    for _ in range(3):
        with pytest.raises(PayloadError):
            reader.read(10)


class _TrackingSource:
    """A source that records how far it has been read."""

    def __init__(self, data: bytes) -> None:
        self._io = io.BytesIO(data)
        self.largest_request = 0

    def read(self, size: int) -> bytes:
        self.largest_request = max(self.largest_request, size)
        return self._io.read(size)

    @property
    def position(self) -> int:
        return self._io.tell()


def test_chunk_released_only_after_its_tag_is_read() -> None:
    """Plaintext of chunk i is released only once all of chunk i (tag included) was read."""
    source = _TrackingSource(CIPHERTEXT)
    reader = decrypting_reader(source, IDENTITY)
    released = 0
    while data := reader.read(1000):
        chunk_index = released // CHUNK_SIZE
        assert source.position >= LAYOUT.chunk_end(chunk_index)
        released += len(data)
    assert released == len(PLAINTEXT)
    # Bounded look-ahead: never more than one encrypted chunk plus one byte per request.
    assert source.largest_request <= ENC_CHUNK + 1


# --- property-based -----------------------------------------------------------

_SMALL_IDENTITY = X25519Identity.generate()
# Chunk-boundary sizes on top of arbitrary ones up to 200 KiB.
SIZES = st.one_of(
    st.sampled_from(
        [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 2 * CHUNK_SIZE, 3 * CHUNK_SIZE]
    ),
    st.integers(0, 200 * 1024),
)


@st.composite
def _mutations(draw: st.DrawFn, size: int) -> tuple[str, int, int]:
    """A random mutation of a file of ``size`` bytes: (kind, offset, amount)."""
    kind = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "duplicate"]))
    offset = draw(st.integers(0, size - 1))
    amount = draw(st.integers(1, 70_000))
    return kind, offset, amount


def _mutate(data: bytes, kind: str, offset: int, amount: int, fill: int) -> bytes:
    """Apply one mutation; the result always differs from ``data``."""
    if kind == "flip":
        return flip(data, offset, amount % 8)
    if kind == "truncate":
        return data[:offset]
    if kind == "insert":
        return data[:offset] + bytes([fill]) * (amount % 200 + 1) + data[offset:]
    if kind == "delete":
        return data[:offset] + data[offset + amount :]
    # duplicate a span
    return data[: offset + amount] + data[offset : offset + amount] + data[offset + amount :]


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    size=SIZES,
    seed=st.integers(0, 2**32 - 1),
    data=st.data(),
)
def test_random_mutations_are_rejected(size: int, seed: int, data: st.DataObject) -> None:
    """Any single random mutation of a valid file is rejected; only verified chunks leak."""
    plaintext = random_bytes(size, seed)
    ciphertext = encrypt(plaintext, _SMALL_IDENTITY.recipient)
    kind, offset, amount = data.draw(_mutations(len(ciphertext)))
    fill = data.draw(st.integers(0, 255))
    mutated = _mutate(ciphertext, kind, offset, amount, fill)
    if mutated == ciphertext:  # e.g. duplicating an empty span at the very end
        return
    released, error = stream_decrypt(
        mutated, _SMALL_IDENTITY, read_size=data.draw(st.integers(1, 3 * CHUNK_SIZE))
    )
    assert error is not None, f"{kind} at {offset} ({amount}) was not detected"
    assert_whole_chunk_prefix(released, plaintext)
    where = layout(ciphertext)
    if offset >= where.payload_start:
        assert isinstance(error, PayloadError)
    elif offset < where.header_end and kind in ("flip", "truncate", "insert"):
        # The header itself changed (duplicating a span may instead leave it intact).
        assert not isinstance(error, PayloadError)


@settings(max_examples=50, deadline=None)
@given(
    size=SIZES,
    seed=st.integers(0, 2**32 - 1),
    cuts=st.lists(st.integers(0, 200 * 1024), max_size=8),
)
def test_random_write_splits_round_trip(size: int, seed: int, cuts: list[int]) -> None:
    """However the plaintext is split across write() calls, it decrypts to the same bytes."""
    plaintext = random_bytes(size, seed)
    sink = io.BytesIO()
    with encrypting_writer(sink, _SMALL_IDENTITY.recipient) as writer:
        previous = 0
        for cut in sorted(c for c in cuts if c <= size):
            writer.write(plaintext[previous:cut])
            previous = cut
        writer.write(memoryview(plaintext)[previous:])
    ciphertext = sink.getvalue()
    chunks = max(1, -(-size // CHUNK_SIZE))
    assert len(ciphertext) == layout(ciphertext).header_end + NONCE_SIZE + size + chunks * TAG_SIZE
    assert decrypt(ciphertext, _SMALL_IDENTITY) == plaintext
