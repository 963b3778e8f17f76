"""Helpers shared by the crypto tests: ciphertext layout and streaming reads."""

from __future__ import annotations

import io
import random
from dataclasses import dataclass

from reasonkit_export.crypto import CHUNK_SIZE, decrypting_reader
from reasonkit_export.crypto._protocols import Identity
from reasonkit_export.exceptions import CryptoError

TAG_SIZE = 16
ENC_CHUNK = CHUNK_SIZE + TAG_SIZE
NONCE_SIZE = 16


def random_bytes(size: int, seed: int = 0) -> bytes:
    """Return ``size`` deterministic pseudo-random bytes."""
    return random.Random(seed).randbytes(size)


@dataclass(frozen=True)
class Layout:
    """Where the parts of an age file start."""

    header_end: int  # offset just past the header's final newline
    mac_line_start: int  # offset of "---"
    chunk_count: int
    size: int

    @property
    def payload_start(self) -> int:
        """Offset of the first chunk (after the nonce)."""
        return self.header_end + NONCE_SIZE

    def chunk_start(self, index: int) -> int:
        """Offset of chunk ``index``."""
        return self.payload_start + index * ENC_CHUNK

    def chunk_end(self, index: int) -> int:
        """Offset just past chunk ``index`` (its tag included)."""
        return min(self.chunk_start(index) + ENC_CHUNK, self.size)

    def chunks(self, data: bytes) -> list[bytes]:
        """Split the payload into encrypted chunks."""
        return [data[self.chunk_start(i) : self.chunk_end(i)] for i in range(self.chunk_count)]


def layout(data: bytes) -> Layout:
    """Locate header, nonce and chunks in a valid age file."""
    mac_line = data.index(b"\n---") + 1
    header_end = data.index(b"\n", mac_line) + 1
    payload = len(data) - header_end - NONCE_SIZE
    return Layout(header_end, mac_line, -(-payload // ENC_CHUNK), len(data))


def expected_chunks(size: int) -> int:
    """Number of STREAM chunks for a plaintext of ``size`` bytes."""
    return max(1, -(-size // CHUNK_SIZE))


def stream_decrypt(
    data: bytes, identities: Identity | list[Identity], read_size: int = 10_000
) -> tuple[bytes, CryptoError | None]:
    """Decrypt with the streaming reader; return what it released and the error, if any."""
    released = bytearray()
    try:
        reader = decrypting_reader(io.BytesIO(data), identities)
        while chunk := reader.read(read_size):
            released += chunk
    except CryptoError as exc:
        return bytes(released), exc
    return bytes(released), None


def assert_whole_chunk_prefix(released: bytes, plaintext: bytes) -> None:
    """Check that ``released`` is a prefix of ``plaintext`` made of whole chunks."""
    assert plaintext.startswith(released), "released bytes are not the true plaintext"
    assert len(released) % CHUNK_SIZE == 0 or len(released) == len(plaintext)
