"""Split archives unpacked together, as each part's README says, lose nothing."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from reasonkit_export.formats._base import Section
from reasonkit_export.formats._split import SplitZipWriter
from tests.interop.readers import require
from tests.interop.test_readers import _info


class _FileVolume:
    def __init__(self, path: Path) -> None:
        self._file = path.open("wb")
        self.size = 0

    def write(self, data: bytes, /) -> int:
        self.size += len(data)
        return self._file.write(data)

    def close(self) -> None:
        self._file.close()


class _Folder:
    """Volumes as files part-<n>.zip in a folder."""

    def __init__(self, folder: Path, limit: int) -> None:
        self.folder = folder
        self.limit = limit

    @contextmanager
    def open(self, number: int) -> Iterator[_FileVolume]:
        volume = _FileVolume(self.folder / f"part-{number}.zip")
        try:
            yield volume
        finally:
            volume.close()


def _chat(count: int, seed: int) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    for n in range(count):
        yield {"id": n, "prompt": rng.randbytes(60).hex(), "tokens": rng.randint(1, 9999)}


def test_unzip_o_of_all_parts_keeps_every_record(tmp_path: Path) -> None:
    """unzip -o of every part into one folder leaves all records of every category."""
    require("unzip", shutil.which("unzip") is not None)
    counts = {"reasoning_history": 3000, "billing": 1200}
    folder = tmp_path / "parts"
    folder.mkdir()
    result = SplitZipWriter(compresslevel=1).write_volumes(
        _info(tuple(counts)),
        [Section(category=c, records=_chat(n, len(c))) for c, n in counts.items()],
        _Folder(folder, 96 * 1024),
    )
    assert result.parts >= 3
    target = tmp_path / "unpacked"
    for number in range(1, result.parts + 1):
        part = folder / f"part-{number}.zip"
        readme = subprocess.run(
            ["unzip", "-p", str(part), "README.txt"], capture_output=True, check=True
        ).stdout.decode()
        assert f"part {number} of {result.parts} of your data export" in readme
        assert f"split into {result.parts} archives" in readme
        subprocess.run(["unzip", "-o", "-q", str(part), "-d", str(target)], check=True)
    documents = [json.loads(path.read_bytes()) for path in (target / "data").iterdir()]
    documents.sort(key=lambda document: document["part"])  # part order, as the README says
    found: dict[str, list[int]] = {}
    for document in documents:
        found.setdefault(document["category"], []).extend(r["id"] for r in document["records"])
    assert found == {c: list(range(n)) for c, n in counts.items()}
    manifest = json.loads((target / "manifest.json").read_bytes())
    assert (manifest["part"], manifest["parts"]) == (result.parts, result.parts)
