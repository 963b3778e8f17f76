"""ZIP readers nobody here wrote, each reporting ``{name: (size, sha256)}`` per member.

Used by the reader matrix (``tests/interop/test_readers.py``) and by the
large-member benchmark (``python -m bench.zip_readers``). A missing reader
skips locally; with ``REASONKIT_INTEROP_REQUIRED=1`` (set by ``.ci/run``)
it fails instead.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import pytest

from reasonkit_export.formats._zipstream import ZipStream
from tests.interop.walk import walk

HERE = Path(__file__).parent
Listing = dict[str, tuple[int, str]]
Reader = Callable[[Path], Listing]
GIB = 1 << 30
WHEN = datetime(2025, 6, 1, 9, 30, 15, tzinfo=UTC)


def require(tool: str, ready: bool) -> None:
    """Skip when ``tool`` is missing, unless CI demands every reader."""
    if ready:
        return
    message = f"{tool} is not available (.ci/run installs it)"
    if os.environ.get("REASONKIT_INTEROP_REQUIRED") == "1":
        pytest.fail(message)
    pytest.skip(message)


def expected(path: Path) -> Listing:
    """Every member's size and SHA-256 as our own strict walk finds them."""
    walked = walk(path.read_bytes())
    return {
        entry["name"]: (entry["size"], hashlib.sha256(entry["content"]).hexdigest())
        for entry in walked["locals"]
    }


# -- readers -----------------------------------------------------------------


def _hash_stream(stream: io.BufferedIOBase | IO[bytes]) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    while chunk := stream.read(1 << 20):
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


def read_zipfile(path: Path) -> Listing:
    """Python's zipfile: central directory, CRC checked while reading."""
    out = {}
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            with archive.open(info) as member:
                out[info.filename] = _hash_stream(member)
    return out


def read_bsdtar(path: Path) -> Listing:
    """libarchive's bsdtar, reading the archive from a pipe (no seeking possible)."""
    require("bsdtar", shutil.which("bsdtar") is not None)
    target = path.parent / f"{path.stem}-bsdtar"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir()
    with subprocess.Popen(["cat", str(path)], stdout=subprocess.PIPE) as cat:
        result = subprocess.run(
            ["bsdtar", "-xf", "-", "-C", str(target)],
            stdin=cat.stdout,
            capture_output=True,
            check=False,
        )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    out = {}
    for file in sorted(target.rglob("*")):
        if file.is_file():
            with file.open("rb") as handle:
                out[file.relative_to(target).as_posix()] = _hash_stream(handle)
    shutil.rmtree(target)
    return out


def _parse_lines(lines: str) -> Listing:
    out = {}
    for line in lines.splitlines():
        name, size, sha256 = line.rsplit(" ", 2)
        out[name] = (int(size), sha256)
    return out


def java_reader(classes: Path | None) -> Reader:
    def read(path: Path) -> Listing:
        """Java's ZipInputStream reading standard input: local headers only."""
        require("java/javac", classes is not None)
        with path.open("rb") as stdin:
            result = subprocess.run(
                ["java", "-cp", str(classes), "ReadZip"],
                stdin=stdin,
                capture_output=True,
                check=False,
            )
        assert result.returncode == 0, result.stderr.decode(errors="replace")
        return _parse_lines(result.stdout.decode())

    return read


def node_reader(library: str) -> Reader:
    def read(path: Path) -> Listing:
        """JSZip or unzipper under Node."""
        ready = shutil.which("node") is not None and (HERE / "node_modules" / library).is_dir()
        require(f"node with {library}", ready)
        result = subprocess.run(
            ["node", str(HERE / "read_zip.js"), library, str(path)],
            capture_output=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr.decode(errors="replace")
        out = {}
        for line in result.stdout.decode().splitlines():
            member = json.loads(line)
            out[member["name"]] = (member["size"], member["sha256"])
        return out

    return read


def compile_java(folder: Path) -> Path | None:
    """ReadZip.java compiled into ``folder`` (None when there is no JDK)."""
    if shutil.which("javac") is None or shutil.which("java") is None:
        return None
    shutil.copy(HERE / "ReadZip.java", folder / "ReadZip.java")
    subprocess.run(["javac", "-d", str(folder), str(folder / "ReadZip.java")], check=True)
    return folder


def reader_named(name: str, java_classes: Path | None) -> Reader:
    """One reader of the matrix, by name."""
    if name == "zipfile":
        return read_zipfile
    if name == "bsdtar-pipe":
        return read_bsdtar
    if name == "java-ZipInputStream":
        return java_reader(java_classes)
    return node_reader(name)


# -- members over 4 GiB ----------------------------------------------------------

_BLOCK = b"".join(
    b'{"id":%d,"prompt":"how do I export my data? %s","tokens":%d}\n'
    % (n, b"lorem ipsum " * (n % 7), n * 13)
    for n in range(16_000)
)
_LARGE = 4 * GIB + 5 * (1 << 20)  # past 4 GiB, uncompressed and (stored) compressed


def large_archive(path: Path, *, compress: bool) -> Listing:
    """An archive with a member over 4 GiB, then a small one starting past 4 GiB (stored)."""
    digest = hashlib.sha256()
    with path.open("wb") as sink:
        stream = ZipStream(sink, level=1, date_time=WHEN)
        with stream.open("big.jsonl", compress=compress, size_bound=_LARGE) as member:
            left = _LARGE
            while left:
                block = _BLOCK[:left]
                member.write(block)
                digest.update(block)
                left -= len(block)
        with stream.open("after.txt", compress=compress, size_bound=5) as member:
            member.write(b"after")
        stream.close()
    return {
        "big.jsonl": (_LARGE, digest.hexdigest()),
        "after.txt": (5, hashlib.sha256(b"after").hexdigest()),
    }
