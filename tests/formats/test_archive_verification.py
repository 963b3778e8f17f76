"""verify_archive reports members it cannot read (encrypted, unknown method) instead of raising."""

from __future__ import annotations

import io
import struct
import zipfile

import pytest

from reasonkit_export.formats import verify_archive


def _archive_with_flag(flag_bits: int = 0, method: int | None = None) -> bytes:
    sink = io.BytesIO()
    with zipfile.ZipFile(sink, "w") as archive:
        archive.writestr("a.txt", b"hello")
        archive.writestr("manifest.json", b'{"schema_version": 1, "members": []}')
    data = bytearray(sink.getvalue())
    central = data.find(b"PK\x01\x02")
    local = 0
    flags = struct.unpack_from("<H", data, central + 8)[0] | flag_bits
    struct.pack_into("<H", data, central + 8, flags)
    struct.pack_into("<H", data, local + 6, flags)
    if method is not None:
        struct.pack_into("<H", data, central + 10, method)
        struct.pack_into("<H", data, local + 8, method)
    return bytes(data)


@pytest.mark.parametrize(("bits", "method"), [(0x1, None), (0, 99)])
def test_verify_archive_reports_unreadable_members(bits: int, method: int | None) -> None:
    """Encrypted or unknown-method members are reported as problems, never raised."""
    problems = verify_archive(io.BytesIO(_archive_with_flag(bits, method)))
    assert problems
