"""The streaming ZIP writer produces archives every reader accepts."""

from __future__ import annotations

import io
import shutil
import subprocess
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reasonkit_export.formats._zipstream import ZipStream

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
