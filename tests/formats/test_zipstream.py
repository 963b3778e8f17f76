"""The streaming ZIP writer produces archives every reader accepts."""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reasonkit_export.formats._zipstream import ZipStream
from tests.interop.walk import walk

WHEN = datetime(2025, 6, 1, 12, 30, 44, tzinfo=UTC)


class Unseekable(io.RawIOBase):
    """A sink that refuses seek and tell, like a network stream."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.buffer += data
        return len(data)

    def seekable(self) -> bool:
        return False


def _archive(members: dict[str, bytes], *, compress: bool = True) -> bytes:
    sink = Unseekable()
    stream = ZipStream(sink, level=1, date_time=WHEN)
    for name, data in members.items():
        with stream.open(name, compress=compress) as member:
            for start in range(0, len(data), 7777):
                member.write(data[start : start + 7777])
    stream.close()
    return bytes(sink.buffer)


@pytest.mark.parametrize("compress", [True, False])
def test_zipfile_reads_every_member(compress: bool) -> None:
    """zipfile lists and extracts every member with correct CRCs, sizes and dates."""
    members = {
        "data.json": b'{"a": "' + "naïve café 🙂".encode() * 5000 + b'"}',
        "csv/profile.csv": b"\xef\xbb\xbfname\r\nZo\xc3\xab\r\n",
        "empty.txt": b"",
        "manifest.json": b"{}",
    }
    archive = zipfile.ZipFile(io.BytesIO(_archive(members, compress=compress)))
    assert archive.testzip() is None
    assert archive.namelist() == list(members)
    for name, data in members.items():
        assert archive.read(name) == data
        assert archive.getinfo(name).date_time == (2025, 6, 1, 12, 30, 44)


def test_unzip_accepts_the_archive(tmp_path: Path) -> None:
    """Info-ZIP's unzip (when installed) tests the archive without complaint."""
    if shutil.which("unzip") is None:
        pytest.skip("unzip is not installed")
    path = tmp_path / "a.zip"
    path.write_bytes(_archive({"a.txt": b"hello " * 1000, "dir/b.txt": b"x"}))
    result = subprocess.run(["unzip", "-t", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_duplicate_and_overlapping_members_are_refused() -> None:
    """A member name may appear once, and members do not interleave."""
    stream = ZipStream(io.BytesIO(), level=1, date_time=WHEN)
    first = stream.open("a")
    with pytest.raises(ValueError, match="previous member"):
        stream.open("b")
    first.close()
    with pytest.raises(ValueError, match="duplicate"):
        stream.open("a")
    with pytest.raises(ValueError, match="bad"):
        stream.open("nul\x00name")


@settings(max_examples=40, deadline=None)
@given(
    st.dictionaries(
        st.text(min_size=1, max_size=12).filter(
            lambda s: not s.startswith("/") and all(ord(c) >= 32 for c in s)
        ),
        st.binary(max_size=3000),
        max_size=5,
    )
)
def test_round_trip_property(members: dict[str, bytes]) -> None:
    """Arbitrary names and contents round-trip through zipfile."""
    archive = zipfile.ZipFile(io.BytesIO(_archive(members)))
    assert {name: archive.read(name) for name in archive.namelist()} == members


def test_bounded_deflated_members_stream_without_zip64() -> None:
    """A deflated member with a small bound streams: bit 3, version 2.0, 16-byte descriptor."""
    sink = io.BytesIO()
    stream = ZipStream(sink, level=1, date_time=WHEN)
    with stream.open("a.json", size_bound=10_000) as member:
        member.write(b"x" * 10_000)
    stream.close()
    walked = walk(sink.getvalue())
    [entry] = walked["locals"]
    assert (entry["version"], entry["flags"], entry["zip64"], entry["descriptor"]) == (
        20,
        0x08,
        False,
        16,
    )
    assert walked["central"][0]["extra"] == {}
    assert not walked["zip64_end"]


def test_unbounded_and_stored_members_carry_their_sizes() -> None:
    """Without a bound, or stored, a member is buffered and its header holds CRC and sizes."""
    sink = io.BytesIO()
    stream = ZipStream(sink, level=1, date_time=WHEN)
    with stream.open("deflated.txt") as member:
        member.write(b"hello " * 1000)
    with stream.open("stored.txt", compress=False) as member:
        member.write(b"plain")
    stream.close()
    first, second = walk(sink.getvalue())["locals"]
    assert (first["method"], first["version"], first["descriptor"]) == (8, 20, 0)
    assert (second["method"], second["version"], second["descriptor"]) == (0, 10, 0)
    assert second["content"] == b"plain"


def test_a_bound_beyond_4_gib_buffers_the_member() -> None:
    """A bound that may reach 4 GiB buffers the member: sizes up front, no ZIP64 while small."""
    sink = io.BytesIO()
    stream = ZipStream(sink, level=1, date_time=WHEN)
    with stream.open("big.json", size_bound=5 << 30) as member:
        member.write(b"abc" * 100)
    with stream.open("small.json", size_bound=300) as member:
        member.write(b"abc" * 100)
    stream.close()
    data = sink.getvalue()
    big, small = walk(data)["locals"]
    assert (big["zip64"], big["version"], big["descriptor"]) == (False, 20, 0)
    assert (small["zip64"], small["version"], small["descriptor"]) == (False, 20, 16)
    assert zipfile.ZipFile(io.BytesIO(data)).read("big.json") == b"abc" * 100


def test_members_of_4_gib_carry_zip64_sizes_in_the_local_header() -> None:
    """A buffered member that reaches 4 GiB gets the ZIP64 extra (both sizes) in both headers."""
    sink = io.BytesIO()
    stream = ZipStream(sink, level=1, date_time=WHEN)
    member = stream.open("big.bin", compress=False)
    member.write(b"x")
    member._entry.size = member._entry.compressed = 0xFFFFFFFF  # as if 4 GiB were in
    member.close()
    stream.close()
    data = sink.getvalue()
    (version,) = struct.unpack("<H", data[4:6])
    sizes = struct.unpack("<II", data[18:26])
    extra = struct.unpack("<HHQQ", data[30 + 7 : 30 + 7 + 20])
    assert (version, sizes, extra) == (45, (0xFFFFFFFF, 0xFFFFFFFF), (1, 16, 2**32 - 1, 2**32 - 1))
    central = data.index(b"PK\x01\x02")
    assert struct.unpack("<HHQQ", data[central + 46 + 7 :][:20]) == extra


def test_exceeding_the_bound_is_refused() -> None:
    """Writing past 4 GiB into a member opened with a small bound raises instead of corrupting."""
    stream = ZipStream(io.BytesIO(), level=1, date_time=WHEN)
    member = stream.open("a", size_bound=10)
    member._entry.size = 0xFFFFFFFF - 1  # as if 4 GiB had been written
    with pytest.raises(ValueError, match="size bound"):
        member.write(b"xx")


def test_offsets_past_4_gib_use_zip64_only_in_the_directory() -> None:
    """A member starting beyond 4 GiB gets a ZIP64 offset in the directory and the end records."""
    sink = io.BytesIO()
    stream = ZipStream(sink, level=1, date_time=WHEN)
    stream._offset = 5 << 30  # as if 5 GiB had been written before
    with stream.open("late.txt", size_bound=10) as member:
        member.write(b"late")
    stream.close()
    data = sink.getvalue()
    (version,) = struct.unpack("<H", data[4:6])
    assert version == 45
    assert data[28:30] == b"\x00\x00"  # no extra field in the local header
    central = data.index(b"PK\x01\x02")
    (offset,) = struct.unpack("<I", data[central + 42 : central + 46])
    assert offset == 0xFFFFFFFF
    extra = data[central + 46 + len("late.txt") :][:12]
    assert struct.unpack("<HHQ", extra) == (1, 8, 5 << 30)
    assert b"PK\x06\x06" in data
    assert b"PK\x06\x07" in data


def test_many_members_get_the_zip64_end_record() -> None:
    """65,535 members or more need the ZIP64 end records; fewer do not."""
    for count, expected in ((65_534, False), (65_535, True)):
        sink = io.BytesIO()
        stream = ZipStream(sink, level=1, date_time=WHEN)
        for index in range(count):
            with stream.open(f"{index}", size_bound=0):
                pass
        stream.close()
        data = sink.getvalue()
        assert (b"PK\x06\x06" in data[-200:]) is expected
        assert len(zipfile.ZipFile(io.BytesIO(data)).namelist()) == count


def test_a_failed_buffered_member_writes_nothing() -> None:
    """A buffered member left with an error never reaches the sink; its temp file is closed."""
    sink = io.BytesIO()
    stream = ZipStream(sink, level=1, date_time=WHEN)
    with pytest.raises(RuntimeError), stream.open("a.txt") as member:
        member.write(b"secret")
        raise RuntimeError("boom")
    assert sink.getvalue() == b""
    stream.abort()
    assert stream.closed


def test_non_ascii_names_set_the_utf8_flag_only_then() -> None:
    """Bit 11 (UTF-8 names) is set for non-ASCII names and left clear for ASCII ones."""
    data = _archive({"plain.txt": b"a", "café.txt": b"b"})
    flags = [entry["flags"] & 0x800 for entry in walk(data)["locals"]]
    assert flags == [0, 0x800]
