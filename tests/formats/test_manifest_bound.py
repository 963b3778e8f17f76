"""verify_archive reads manifest.json with a size bound: a manifest bomb costs no memory."""

from __future__ import annotations

import io
import json
import tracemalloc
import zipfile

from reasonkit_export.formats import verify_archive
from reasonkit_export.formats._manifest import MAX_MANIFEST_BYTES

MIB = 1024 * 1024


def _archive(manifest: bytes, **members: bytes) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        zf.writestr("manifest.json", manifest)
    buffer.seek(0)
    return buffer


def test_manifest_bomb_is_refused_without_reading_it() -> None:
    """A 64 MiB manifest that deflates to well under 1 MiB is refused, using little memory."""
    bomb = b'{"members": [' + b" " * (64 * MIB) + b"]}"
    archive = _archive(bomb)
    assert len(archive.getvalue()) < MIB
    tracemalloc.start()
    try:
        problems = verify_archive(archive)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert problems == [f"manifest.json is larger than {MAX_MANIFEST_BYTES} bytes"]
    assert peak < 8 * MIB


def test_manifest_bound_is_counted_while_inflating() -> None:
    """The bound also holds when the manifest is only just over it (counted, not declared)."""
    manifest = json.dumps({"schema_version": 1, "members": []}).encode()
    archive = _archive(manifest + b" " * 100)
    assert verify_archive(archive, max_manifest_bytes=len(manifest) + 100) == []
    archive.seek(0)
    problems = verify_archive(archive, max_manifest_bytes=len(manifest) + 99)
    assert problems == [f"manifest.json is larger than {len(manifest) + 99} bytes"]
