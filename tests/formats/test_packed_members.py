"""Members compressed ahead of time (pack) and copied in (add_packed).

The HTML view's child packs its pages into a file and the parent copies the
stored bytes; the archive must be the one writing the member normally makes.
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Callable
from datetime import datetime

import pytest

from reasonkit_export.exceptions import FileTooLarge
from reasonkit_export.formats._base import ExportInfo
from reasonkit_export.formats._manifest import verify_archive
from reasonkit_export.formats._zip import ZipArchive
from reasonkit_export.formats._zipstream import MEMBER_BLOCK, Packed, ZipStream, pack

WHEN = datetime(2025, 6, 1, 9, 30, 16)

# Write patterns: none, small, exactly one block, across blocks, incompressible.
PATTERNS: list[list[bytes]] = [
    [],
    [b"<p>hello</p>\n"],
    [b"a" * MEMBER_BLOCK],
    [b"<tr><td>x</td></tr>" * 5000, b"tail", b"z" * (MEMBER_BLOCK + 17)],
    [os.urandom(300_000), os.urandom(10)],
]


def _normal(parts: list[bytes], *, level: int, compress: bool) -> bytes:
    sink = io.BytesIO()
    stream = ZipStream(sink, level=level, date_time=WHEN)
    with stream.open("page.html", compress=compress) as member:
        buffer = bytearray()
        # As ZipArchive's member writer passes its writes on: blocks of MEMBER_BLOCK.
        for part in parts:
            buffer += part
            if len(buffer) >= MEMBER_BLOCK:
                member.write(bytes(buffer))
                buffer.clear()
        if buffer:
            member.write(bytes(buffer))
    stream.close()
    return sink.getvalue()


def _packed(parts: list[bytes], *, level: int, compress: bool) -> bytes:
    packed, data = pack(parts, level=level, compress=compress)
    assert packed.offset == 0
    assert len(data) == packed.compressed
    sink = io.BytesIO()
    stream = ZipStream(sink, level=level, date_time=WHEN)
    # Copied in chunks of any size.
    stream.add_packed("page.html", packed, [data[i : i + 4096] for i in range(0, len(data), 4096)])
    stream.close()
    return sink.getvalue()


@pytest.mark.parametrize("parts", PATTERNS, ids=["empty", "small", "block", "blocks", "random"])
@pytest.mark.parametrize(("level", "compress"), [(6, True), (1, True), (9, True), (6, False)])
def test_packed_member_gives_the_same_archive(
    parts: list[bytes], level: int, compress: bool
) -> None:
    """Packing ahead of time and copying gives byte-identical archives that readers accept."""
    packed = _packed(parts, level=level, compress=compress)
    normal = _normal(parts, level=level, compress=compress)
    archive = zipfile.ZipFile(io.BytesIO(packed))
    assert archive.testzip() is None
    assert archive.read("page.html") == b"".join(parts)
    # Same local header layout as a buffered member (sizes in it, no descriptor).
    info = archive.getinfo("page.html")
    assert not info.flag_bits & 0x08
    assert info.compress_type == (zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED)
    assert packed == normal


def test_wrong_number_of_packed_bytes_is_refused() -> None:
    """Chunks that do not add up to the recorded size stop the archive."""
    packed, data = pack([b"hello " * 1000], level=6, compress=True)
    for chunks in ([data[:-1]], [data, b"!"]):
        stream = ZipStream(io.BytesIO(), level=6, date_time=WHEN)
        with pytest.raises(ValueError, match="not the size recorded"):
            stream.add_packed("page.html", packed, chunks)
        with pytest.raises(ValueError, match="finish the previous member"):
            stream.open("next.txt")


def _packed_member(data: bytes, *, compress: bool = True) -> tuple[Packed, bytes]:
    return pack([data], level=6, compress=compress)


def test_archive_lists_packed_members_in_its_manifest(
    make_info: Callable[..., ExportInfo],
) -> None:
    """A packed member is in the manifest with its size and SHA-256, and verifies."""
    sink = io.BytesIO()
    packed, data = _packed_member(b"<html>page</html>" * 100)
    with ZipArchive(sink, date_time=WHEN) as archive:
        archive.add_packed("html/a/page-1.html", "text/html", packed, [data], category="a")
        archive.finish(make_info("a"), record_counts={"a": 0})
    assert verify_archive(io.BytesIO(sink.getvalue())) == []
    manifest = zipfile.ZipFile(io.BytesIO(sink.getvalue())).read("manifest.json").decode()
    assert "html/a/page-1.html" in manifest


def test_archive_refuses_a_packed_member_it_cannot_take() -> None:
    """Another compression setting, a duplicate name, or more than the cap allows."""
    packed, data = _packed_member(b"x" * 5000)
    stored, stored_data = _packed_member(b"x" * 5000, compress=False)
    with ZipArchive(io.BytesIO(), date_time=WHEN) as archive:
        with pytest.raises(ValueError, match="another compression setting"):
            archive.add_packed("a.html", "text/html", stored, [stored_data])
        archive.add_packed("a.html", "text/html", packed, [data])
        with pytest.raises(ValueError, match="already in the archive"):
            archive.add_packed("A.html", "text/html", packed, [data])
    with (
        ZipArchive(io.BytesIO(), date_time=WHEN, compresslevel=0) as archive,
        pytest.raises(ValueError, match="another compression setting"),
    ):
        archive.add_packed("a.html", "text/html", packed, [data])
    # A cap of 500 bytes allows 8 x 500 uncompressed bytes per member.
    with ZipArchive(io.BytesIO(), date_time=WHEN, cap=500) as archive, pytest.raises(FileTooLarge):
        archive.add_packed("a.html", "text/html", packed, [data])


def _member_bytes(archive: bytes, name: str) -> bytes:
    """The stored (compressed) bytes of member ``name``."""
    info = zipfile.ZipFile(io.BytesIO(archive)).getinfo(name)
    header = archive[info.header_offset : info.header_offset + 30]
    start = info.header_offset + 30 + int.from_bytes(header[26:28], "little")
    start += int.from_bytes(header[28:30], "little")
    return archive[start : start + info.compress_size]


@pytest.mark.parametrize(
    "parts",
    [*PATTERNS, [b"x" * 10, b"y" * MEMBER_BLOCK, b"z" * 5], [b"y" * (MEMBER_BLOCK + 3), b"q"]],
    ids=["empty", "small", "block", "blocks", "random", "small-then-block", "block-then-small"],
)
def test_the_member_writer_deflates_the_blocks_pack_does(
    parts: list[bytes], make_info: Callable[..., ExportInfo]
) -> None:
    """ZipArchive's member writer passes on the blocks pack() gathers, in order.

    A write of a whole block into an empty buffer goes on without a copy;
    one after buffered bytes must not overtake them.
    """
    sink = io.BytesIO()
    with ZipArchive(sink, date_time=WHEN, compresslevel=6) as archive:
        with archive.member("page.html", "text/html") as member:
            for part in parts:
                member.write(part)
        archive.finish(make_info("a"), record_counts={"a": 0})
    data = sink.getvalue()
    assert zipfile.ZipFile(io.BytesIO(data)).read("page.html") == b"".join(parts)
    assert _member_bytes(data, "page.html") == pack(parts, level=6, compress=True)[1]
