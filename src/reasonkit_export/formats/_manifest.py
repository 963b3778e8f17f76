"""``manifest.json``: what a ZIP export contains, and how to check it.

The manifest is the archive's last member. It lists every other member with
its uncompressed size and SHA-256, so a reader can verify the archive from the
manifest alone (:func:`verify_archive` does exactly that). Layout
(``schema_version`` 1)::

    {
      "schema_version": 1,
      "generator": "reasonkit_export 1.0.0",
      "export_id": "0b7e...",
      "user_id": "user-42",
      "generated_at": "2025-06-01T09:30:00+00:00",
      "format": "zip",
      "locale": "de",
      "categories": ["profile", "reasoning_history"],
      "window": {"since": "...", "until": "...", "categories_filtered": [...],
                 "categories_in_full": [...]},
      "controller": {"name": "Example GmbH", "contact": "privacy@example.com"},
      "about": {"reasoning_history": {"description": "...", "purposes": ["..."]}},
      "excluded_fields": {"profile": ["password_hash"]},
      "record_counts": {"profile": 1, "reasoning_history": 5},
      "redacted_counts": {"reasoning_history": 1},
      "members": [
        {"name": "data.json", "size": 1234, "sha256": "9f86...",
         "media_type": "application/json"},
        {"name": "csv/profile.csv", "size": 321, "sha256": "...",
         "media_type": "text/csv; charset=utf-8", "category": "profile"},
        ...
      ],
      "warnings": ["report.pdf: ..."],
      "numbers": {"max_safe_integer": 9007199254740991, "integers": "exact",
                  "note": "..."}
    }

``members`` is in archive order and never lists ``manifest.json`` itself. A
member holding one category's table carries that category in ``category``
(member names are sanitised, so they need not equal the category name).

GDPR Art. 15(1) information travels with the data: ``about`` maps each
category whose data source describes itself to that description (only the
fields that are set; categories without one are left out), ``controller``
appears only when configured, ``window`` only for an incremental export
(``since``; ``until`` is the generation time), and ``redacted_counts`` says per
category how many records a redaction hook changed. ``locale`` is the
language of the README and the report. A volume of a split archive adds
``part`` (1, 2, ...); its ``record_counts`` and ``redacted_counts`` count that
volume's records only, and ``parts`` says how many volumes there are.
``numbers`` says how to read integers: they are exact in JSON however large,
and beyond ``max_safe_integer`` (±(2^53 - 1)) a reader parsing numbers as
doubles (JavaScript, jq before 1.7) would round them. ``excluded_fields``
lists, per category, the fields its data source left out on purpose (present
only when a source declares some). All of these were added without changing
the meaning of any earlier field, so ``schema_version`` stays 1: readers
ignore keys they do not know.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Iterable, Mapping
from typing import IO, Any

import attrs

from reasonkit_export._encoding import MAX_SAFE_INTEGER, to_json_value
from reasonkit_export.formats._base import ExportInfo

__all__ = [
    "MANIFEST_NAME",
    "MANIFEST_SCHEMA_VERSION",
    "MemberInfo",
    "build_manifest",
    "encode_manifest",
    "verify_archive",
]

MANIFEST_NAME = "manifest.json"
# verify_archive reads at most this much of manifest.json: a ZIP of a few
# hundred KiB can inflate a "manifest" to gigabytes. 16 MiB lists well over
# 50,000 members.
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
MANIFEST_SCHEMA_VERSION = 1
_NUMBERS_NOTE = (
    "Integers are written with every digit, however large. Beyond ±max_safe_integer, "
    "readers that parse JSON numbers as doubles (JavaScript's JSON.parse, jq before 1.7) "
    "round them: read such values with a big-integer parser (Python's json module, "
    "JSON.parse with a reviver in JavaScript). CSV tables write them as text "
    "(with a leading apostrophe when formulas are neutralised)."
)
_READ_CHUNK = 1024 * 1024


@attrs.frozen(kw_only=True)
class MemberInfo:
    """One archive member as the manifest lists it.

    Attributes:
        name: the member's path inside the archive.
        size: uncompressed size in bytes.
        sha256: hex SHA-256 of the uncompressed bytes.
        media_type: the IANA media type of the member.
        category: the category whose records the member holds, if just one.
    """

    name: str
    size: int
    sha256: str
    media_type: str
    category: str | None = None


def build_manifest(
    info: ExportInfo,
    *,
    members: Iterable[MemberInfo],
    record_counts: Mapping[str, int],
    warnings: Iterable[str] = (),
    redacted_counts: Mapping[str, int] | None = None,
    part: int | None = None,
    parts: int | None = None,
) -> dict[str, Any]:
    """Build the manifest dict (schema version 1) for an archive's members.

    Args:
        info: the export; its ``about``, ``controller``, ``since`` and
            ``stats`` fill the Art. 15 fields.
        members: every member but the manifest, in archive order.
        record_counts: records per category in this archive.
        warnings: notes for the reader.
        redacted_counts: redacted records per category; defaults to
            ``info.stats.redacted`` (complete once every section was read).
        part: the volume number of a split archive.
        parts: how many volumes the split export has (with ``part``).
    """
    listed: list[dict[str, Any]] = []
    for member in members:
        entry: dict[str, Any] = {
            "name": member.name,
            "size": member.size,
            "sha256": member.sha256,
            "media_type": member.media_type,
        }
        if member.category is not None:
            entry["category"] = member.category
        listed.append(entry)
    manifest: dict[str, Any] = {
        "schema_version": MANIFEST_SCHEMA_VERSION,
        "generator": info.generator,
        "export_id": str(info.export_id),
        "user_id": info.user_id,
        "generated_at": to_json_value(info.generated_at),
        "format": info.format,
        "locale": info.locale,
        "categories": list(info.categories),
    }
    if part is not None:
        manifest["part"] = part
        if parts is not None:
            manifest["parts"] = parts
    if info.since is not None:
        # The same window the JSON document states, so both artifacts agree.
        manifest["window"] = {
            "since": to_json_value(info.since),
            "until": to_json_value(info.generated_at),
            "categories_filtered": list(info.since_applied),
            "categories_in_full": [c for c in info.categories if c not in info.since_applied],
        }
    if info.controller:
        manifest["controller"] = to_json_value(dict(info.controller))
    manifest["about"] = {
        category: to_json_value(dict(about)) for category, about in info.about.items() if about
    }
    if info.excluded_fields:
        manifest["excluded_fields"] = {
            category: list(names) for category, names in info.excluded_fields.items()
        }
    manifest["record_counts"] = dict(record_counts)
    redacted = info.stats.redacted if redacted_counts is None else redacted_counts
    manifest["redacted_counts"] = dict(redacted)
    manifest["members"] = listed
    manifest["warnings"] = list(warnings)
    manifest["numbers"] = {
        "max_safe_integer": MAX_SAFE_INTEGER,
        "integers": "exact",
        "note": _NUMBERS_NOTE,
    }
    return manifest


def encode_manifest(manifest: Mapping[str, Any]) -> bytes:
    """Encode a manifest as indented UTF-8 JSON (people read it too)."""
    return (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def verify_archive(
    archive: str | os.PathLike[str] | IO[bytes], *, max_manifest_bytes: int = MAX_MANIFEST_BYTES
) -> list[str]:
    """Check a ZIP export against its ``manifest.json``.

    Every listed member must exist once with the listed size and SHA-256, and
    no member may exist that the manifest does not list (``manifest.json``
    itself aside). Members are streamed; ``manifest.json`` is read in chunks
    and refused once it passes ``max_manifest_bytes``, so a crafted archive
    cannot make the check use more memory than that.

    Args:
        archive: a path or a seekable binary file holding the archive.
        max_manifest_bytes: the largest ``manifest.json`` accepted (16 MiB).

    Returns:
        The problems found, one sentence each; empty when the archive is intact.
    """
    try:
        zf = zipfile.ZipFile(archive)
    except Exception as exc:  # noqa: BLE001 - damage makes zipfile raise many kinds; all are findings
        return [f"not a readable ZIP archive: {exc}"]
    with zf:
        names = [entry.filename for entry in zf.infolist()]
        problems = [
            f"{name} appears more than once in the archive"
            for name in sorted({n for n in names if names.count(n) > 1})
        ]
        if MANIFEST_NAME not in names:
            return [*problems, f"{MANIFEST_NAME} is missing"]
        try:
            raw = _read_bounded(zf, MANIFEST_NAME, max_manifest_bytes)
            if raw is None:
                return [*problems, f"{MANIFEST_NAME} is larger than {max_manifest_bytes} bytes"]
            manifest = json.loads(raw)
        except Exception as exc:  # noqa: BLE001 - as above: report, never raise
            return [*problems, f"{MANIFEST_NAME} is unreadable: {exc}"]
        listed = _listed_members(manifest, problems)
        if listed is None:
            return problems  # nothing to compare against
        for entry in listed:
            problems.extend(_check_member(zf, entry, set(names)))
        listed_names = {entry["name"] for entry in listed}
        problems.extend(
            f"{name} is in the archive but not in the manifest"
            for name in dict.fromkeys(names)
            if name != MANIFEST_NAME and name not in listed_names
        )
    return problems


def _read_bounded(zf: zipfile.ZipFile, name: str, limit: int) -> bytes | None:
    """The member's bytes, or None once more than ``limit`` would be needed.

    The declared size is checked first, but never trusted: the bytes are
    counted while they are inflated.
    """
    if zf.getinfo(name).file_size > limit:
        return None
    chunks: list[bytes] = []
    total = 0
    with zf.open(name) as member:
        while chunk := member.read(min(_READ_CHUNK, limit + 1 - total)):
            total += len(chunk)
            if total > limit:
                return None
            chunks.append(chunk)
    return b"".join(chunks)


def _listed_members(manifest: Any, problems: list[str]) -> list[dict[str, Any]] | None:
    """Return the manifest's well-formed member entries, noting every defect.

    Returns ``None`` when the manifest as a whole cannot be understood.
    """
    if not isinstance(manifest, dict):
        problems.append(f"{MANIFEST_NAME} is not a JSON object")
        return None
    version = manifest.get("schema_version")
    if type(version) is not int or version != MANIFEST_SCHEMA_VERSION:
        problems.append(
            f"{MANIFEST_NAME} has unsupported schema_version {manifest.get('schema_version')!r}"
        )
        return None
    members = manifest.get("members")
    if not isinstance(members, list):
        problems.append(f"{MANIFEST_NAME} has no members list")
        return None
    listed: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, entry in enumerate(members):
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("name"), str)
            and type(entry.get("size")) is int
            and isinstance(entry.get("sha256"), str)
        ):
            problems.append(f"{MANIFEST_NAME} member #{index} is malformed")
            continue
        name = entry["name"]
        if name == MANIFEST_NAME:
            problems.append(f"{MANIFEST_NAME} lists itself")
            continue
        if name in seen:
            problems.append(f"{name} is listed more than once in {MANIFEST_NAME}")
            continue
        seen.add(name)
        listed.append(entry)
    return listed


def _check_member(zf: zipfile.ZipFile, entry: Mapping[str, Any], names: set[str]) -> list[str]:
    """Compare one member's bytes with its manifest entry."""
    name: str = entry["name"]
    if name not in names:
        return [f"{name} is listed in the manifest but missing from the archive"]
    digest = hashlib.sha256()
    size = 0
    try:
        with zf.open(name) as member:
            while chunk := member.read(_READ_CHUNK):
                digest.update(chunk)
                size += len(chunk)
    except Exception as exc:  # noqa: BLE001 - encrypted, unknown method, bad CRC, inflate errors
        # The CRC check and inflate failures land here for damaged members.
        return [f"{name} cannot be read: {exc}"]
    problems = []
    if size != entry["size"]:
        problems.append(f"{name} has {size} bytes, the manifest says {entry['size']}")
    if digest.hexdigest() != entry["sha256"].lower():
        problems.append(f"{name} does not match its SHA-256 in the manifest")
    return problems
