"""manifest.json: its schema, and verify_archive finding every kind of tampering."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reasonkit_export.formats._base import ExportInfo, Section
from reasonkit_export.formats._manifest import (
    MANIFEST_NAME,
    MemberInfo,
    build_manifest,
    encode_manifest,
    verify_archive,
)
from reasonkit_export.formats._zip import ZipWriter

MakeInfo = Callable[..., ExportInfo]


def build_zip(members: dict[str, bytes], manifest: Any) -> bytes:
    """A plain ZIP with the given members and manifest (any JSON, or raw bytes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        if manifest is not None:
            raw = manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode()
            zf.writestr(MANIFEST_NAME, raw)
    return buffer.getvalue()


def listing(members: dict[str, bytes]) -> dict[str, Any]:
    """A minimal valid manifest for ``members``."""
    return {
        "schema_version": 1,
        "members": [
            {
                "name": name,
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
                "media_type": "application/octet-stream",
            }
            for name, data in members.items()
        ],
    }


MEMBERS = {"data.json": b'{"a": 1}', "csv/a.csv": b"a\r\n1\r\n"}


def test_build_manifest_schema(make_info: MakeInfo) -> None:
    """The manifest carries every documented field, JSON-ready, members in order."""
    info = make_info("profile", "history")
    members = [
        MemberInfo(name="data.json", size=3, sha256="ab" * 32, media_type="application/json"),
        MemberInfo(
            name="csv/profile.csv",
            size=5,
            sha256="cd" * 32,
            media_type="text/csv; charset=utf-8",
            category="profile",
        ),
    ]
    manifest = build_manifest(
        info, members=members, record_counts={"profile": 1, "history": 0}, warnings=["w"]
    )
    assert manifest == {
        "schema_version": 1,
        "generator": "reasonkit_export test",
        "export_id": "12345678-1234-5678-1234-567812345678",
        "user_id": "user-42",
        "generated_at": "2025-06-01T09:30:15+00:00",
        "format": "zip",
        "locale": "en",
        "categories": ["profile", "history"],
        "about": {},
        "record_counts": {"profile": 1, "history": 0},
        "redacted_counts": {},
        "members": [
            {
                "name": "data.json",
                "size": 3,
                "sha256": "ab" * 32,
                "media_type": "application/json",
            },
            {
                "name": "csv/profile.csv",
                "size": 5,
                "sha256": "cd" * 32,
                "media_type": "text/csv; charset=utf-8",
                "category": "profile",
            },
        ],
        "warnings": ["w"],
        "numbers": {
            "max_safe_integer": 2**53 - 1,
            "integers": "exact",
            "note": manifest["numbers"]["note"],
        },
    }
    assert "big-integer parser" in manifest["numbers"]["note"]
    assert json.loads(encode_manifest(manifest)) == manifest


def test_intact_archive_verifies_from_path_and_file(tmp_path: Path) -> None:
    """An untouched archive has no problems, given as a path or as a file object."""
    data = build_zip(MEMBERS, listing(MEMBERS))
    path = tmp_path / "export.zip"
    path.write_bytes(data)
    assert verify_archive(path) == []
    assert verify_archive(str(path)) == []
    with path.open("rb") as handle:
        assert verify_archive(handle) == []


def test_changed_member_is_detected() -> None:
    """A member whose bytes differ from the manifest is reported (hash and size)."""
    changed = {**MEMBERS, "data.json": b'{"a": 2, "b": 3}'}
    problems = verify_archive(io.BytesIO(build_zip(changed, listing(MEMBERS))))
    assert problems == [
        "data.json has 16 bytes, the manifest says 8",
        "data.json does not match its SHA-256 in the manifest",
    ]


def test_same_size_change_is_detected() -> None:
    """A same-length edit is caught by the SHA-256 alone."""
    changed = {**MEMBERS, "data.json": b'{"a": 9}'}
    problems = verify_archive(io.BytesIO(build_zip(changed, listing(MEMBERS))))
    assert problems == ["data.json does not match its SHA-256 in the manifest"]


def test_unlisted_member_is_detected() -> None:
    """A member the manifest does not list is reported."""
    extra = {**MEMBERS, "evil.exe": b"MZ"}
    problems = verify_archive(io.BytesIO(build_zip(extra, listing(MEMBERS))))
    assert problems == ["evil.exe is in the archive but not in the manifest"]


def test_missing_member_is_detected() -> None:
    """A listed member absent from the archive is reported."""
    fewer = {"data.json": MEMBERS["data.json"]}
    problems = verify_archive(io.BytesIO(build_zip(fewer, listing(MEMBERS))))
    assert problems == ["csv/a.csv is listed in the manifest but missing from the archive"]


def test_missing_or_broken_manifest_is_detected() -> None:
    """No manifest, unreadable JSON, a wrong schema or malformed entries are reported."""
    assert verify_archive(io.BytesIO(build_zip(MEMBERS, None))) == ["manifest.json is missing"]
    broken = verify_archive(io.BytesIO(build_zip(MEMBERS, b"{not json")))
    assert len(broken) == 1
    assert broken[0].startswith("manifest.json is unreadable")
    future = {**listing(MEMBERS), "schema_version": 2}
    assert verify_archive(io.BytesIO(build_zip(MEMBERS, future))) == [
        "manifest.json has unsupported schema_version 2"
    ]
    malformed = listing(MEMBERS)
    malformed["members"][0]["size"] = "8"
    assert "manifest.json member #0 is malformed" in verify_archive(
        io.BytesIO(build_zip(MEMBERS, malformed))
    )


def test_manifest_listing_itself_or_twice_is_detected() -> None:
    """Self-listing and duplicate entries in the manifest are reported."""
    manifest = listing(MEMBERS)
    manifest["members"].append(dict(manifest["members"][0]))
    manifest["members"].append({**manifest["members"][0], "name": MANIFEST_NAME})
    problems = verify_archive(io.BytesIO(build_zip(MEMBERS, manifest)))
    assert problems == [
        "data.json is listed more than once in manifest.json",
        "manifest.json lists itself",
    ]


def test_not_a_zip_is_reported() -> None:
    """Bytes that are not a ZIP give one problem, not an exception."""
    problems = verify_archive(io.BytesIO(b"not a zip at all"))
    assert len(problems) == 1
    assert problems[0].startswith("not a readable ZIP archive")


def test_corrupted_bytes_in_written_export_are_detected(make_info: MakeInfo) -> None:
    """Flipping one byte inside a compressed member of a real export is caught."""
    sink = io.BytesIO()
    records = [{"n": n, "text": f"record {n}"} for n in range(200)]
    ZipWriter(include_pdf=False).write(
        make_info("history"), [Section(category="history", records=records)], sink
    )
    data = bytearray(sink.getvalue())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        info = zf.getinfo("data.json")
    # Past the local header (30 bytes + name + extra) into the deflate stream.
    position = info.header_offset + 30 + len("data.json") + 20 + 10
    data[position] ^= 0xFF
    problems = verify_archive(io.BytesIO(bytes(data)))
    assert problems
    assert all(p.startswith("data.json") for p in problems)


@pytest.mark.parametrize("fmt", ["zip", "csv"])
def test_written_exports_verify(make_info: MakeInfo, fmt: str) -> None:
    """Both ZIP artifacts the library writes verify against their own manifests."""
    from reasonkit_export.formats._csv import CsvWriter

    writer = ZipWriter(include_pdf=False) if fmt == "zip" else CsvWriter()
    sink = io.BytesIO()
    sections = [Section(category=c, records=[{"c": c}]) for c in ("a", "b")]
    writer.write(make_info("a", "b", fmt=fmt), sections, sink)
    assert verify_archive(io.BytesIO(sink.getvalue())) == []
