"""The split ZIP writer: volumes under the cap, each complete, records whole and in order."""

from __future__ import annotations

import io
import json
import random
import zipfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import attrs
import pytest

from reasonkit_export._encoding import to_json_value
from reasonkit_export.exceptions import FileTooLarge, SourceError
from reasonkit_export.formats._base import ExportInfo, Section
from reasonkit_export.formats._manifest import verify_archive
from reasonkit_export.formats._split import SplitZipWriter, VolumeFactory

MakeInfo = Callable[..., ExportInfo]
KIB = 1024


class FakeVolume:
    """A volume in memory that refuses to grow past its limit, like MeteredSink."""

    def __init__(self, limit: int) -> None:
        self._buffer = io.BytesIO()
        self._limit = limit

    def write(self, data: bytes, /) -> int:
        """Take all of ``data`` or raise FileTooLarge."""
        if self.size + len(data) > self._limit:
            raise FileTooLarge(self._limit)
        return self._buffer.write(data)

    @property
    def size(self) -> int:
        """Bytes written so far."""
        return self._buffer.tell()

    def getvalue(self) -> bytes:
        """Everything written."""
        return self._buffer.getvalue()


class FakeFactory:
    """Keeps finished volumes; counts the ones left with an error (discarded)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.finished: list[bytes] = []
        self.discarded = 0
        self.opened = 0

    @contextmanager
    def open(self, number: int) -> Iterator[FakeVolume]:
        """Open volume ``number`` (numbers must come in order, and finish in order)."""
        assert number == self.opened + 1
        self.opened += 1
        volume = FakeVolume(self.limit)
        try:
            yield volume
        except BaseException:
            self.discarded += 1
            raise
        assert number == len(self.finished) + 1
        self.finished.append(volume.getvalue())


def chat_records(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """Chat-like records that compress only moderately (random words and hex)."""
    rng = random.Random(seed)
    words = ["gdpr", "naïve", "café", "Straße", "export", "model", "token", "reason", "Zoë"]
    return [
        {
            "id": n,
            "prompt": " ".join(rng.choice(words) for _ in range(30)),
            "answer": rng.randbytes(120).hex(),
            "meta": {"model": "m1", "tokens": rng.randint(1, 5000)},
        }
        for n in range(count)
    ]


def volumes_content(data: list[bytes]) -> list[dict[str, Any]]:
    """Per volume: its manifest, README and every data document, parsed."""
    out = []
    for raw in data:
        with zipfile.ZipFile(io.BytesIO(raw)) as zf:
            names = zf.namelist()
            out.append(
                {
                    "names": names,
                    "manifest": json.loads(zf.read("manifest.json")),
                    "readme": zf.read("README.txt").decode("utf-8"),
                    "docs": [json.loads(zf.read(n)) for n in names if n.startswith("data/")],
                }
            )
    return out


def write_split(info: ExportInfo, sections: list[Section], limit: int) -> tuple[FakeFactory, Any]:
    """Run the split writer into a fake factory with ``limit`` bytes per volume."""
    factory = FakeFactory(limit)
    volumes: VolumeFactory = factory
    result = SplitZipWriter().write_volumes(info, sections, volumes)
    return factory, result


def test_many_volumes_each_complete_under_the_cap(
    make_info: MakeInfo, once_only: Callable[..., Any]
) -> None:
    """~2 MB at 64 KiB per volume: many valid volumes, every record once, in order."""
    history = chat_records(4000)
    profile = [{"name": "Zoë", "email": "zoe@example.com"}]
    info = make_info("profile", "reasoning_history")
    limit = 64 * KIB
    factory, result = write_split(
        info,
        [
            Section(category="profile", records=once_only(profile)),
            Section(category="reasoning_history", records=once_only(history)),
        ],
        limit,
    )
    assert sum(len(json.dumps(r)) for r in history) > 2_000_000
    assert factory.discarded == 0
    assert result.parts == len(factory.finished) >= 3
    parts = volumes_content(factory.finished)
    for number, (raw, part) in enumerate(zip(factory.finished, parts, strict=True), start=1):
        assert len(raw) <= limit
        assert verify_archive(io.BytesIO(raw)) == []
        assert part["names"][-2:] == ["README.txt", "manifest.json"]
        assert part["manifest"]["part"] == number
        assert part["manifest"]["schema_version"] == 1
        assert part["manifest"]["record_counts"] == result.part_counts[number - 1]
        for doc in part["docs"]:
            assert doc["part"] == number
            assert len(doc["records"]) == part["manifest"]["record_counts"][doc["category"]]
    # The volumes are well used: none but the last is less than half full.
    assert all(len(raw) > limit // 2 for raw in factory.finished[:-1])
    seen: dict[str, list[Any]] = {"profile": [], "reasoning_history": []}
    for part in parts:
        for doc in part["docs"]:
            seen[doc["category"]].extend(doc["records"])
    assert seen == {"profile": to_json_value(profile), "reasoning_history": to_json_value(history)}
    assert result.record_counts == {"profile": 1, "reasoning_history": 4000}
    assert [sum(c.values()) for c in result.part_counts] == [
        sum(part["manifest"]["record_counts"].values()) for part in parts
    ]


def test_one_record_too_large_for_an_empty_volume(make_info: MakeInfo) -> None:
    """A record bigger than a whole volume raises FileTooLarge; every volume is discarded."""
    records = [
        {"id": 1, "text": "small"},
        {"id": 2, "text": random.Random(1).randbytes(40_000).hex()},
    ]
    factory = FakeFactory(32 * KIB)
    with pytest.raises(FileTooLarge):
        SplitZipWriter().write_volumes(
            make_info("notes"), [Section(category="notes", records=records)], factory
        )
    # Volumes are finished only once the part count is known: none is left.
    assert factory.discarded == 2
    assert factory.finished == []


def test_everything_fits_in_one_volume(make_info: MakeInfo) -> None:
    """With a generous cap the export is a single volume, part 1 of 1, and says so."""
    history = chat_records(200)
    factory, result = write_split(
        make_info("reasoning_history"),
        [Section(category="reasoning_history", records=history)],
        100 * 1024 * KIB,
    )
    assert result.parts == 1
    [part] = volumes_content(factory.finished)
    assert (part["manifest"]["part"], part["manifest"]["parts"]) == (1, 1)
    assert "part 1 of 1 of your data export" in part["readme"]
    assert "no other parts" in part["readme"]
    assert "split into" not in part["readme"]
    assert part["docs"] == [
        {"category": "reasoning_history", "part": 1, "records": to_json_value(history)}
    ]
    assert verify_archive(io.BytesIO(factory.finished[0])) == []


def test_empty_sections_give_empty_documents(make_info: MakeInfo) -> None:
    """Categories without records still appear, as empty documents with count 0."""
    factory, result = write_split(
        make_info("profile", "billing"),
        [Section(category="profile", records=[]), Section(category="billing", records=[])],
        64 * KIB,
    )
    [part] = volumes_content(factory.finished)
    assert part["names"] == [
        "data/profile.part-1.json",
        "data/billing.part-1.json",
        "README.txt",
        "manifest.json",
    ]
    assert [d["records"] for d in part["docs"]] == [[], []]
    assert part["manifest"]["record_counts"] == {"profile": 0, "billing": 0}
    assert result.record_counts == {"profile": 0, "billing": 0}
    assert verify_archive(io.BytesIO(factory.finished[0])) == []


def test_no_sections_still_make_one_volume(make_info: MakeInfo) -> None:
    """An export without categories is one volume with README and manifest."""
    factory, result = write_split(make_info(), [], 64 * KIB)
    assert result.parts == 1
    [part] = volumes_content(factory.finished)
    assert part["names"] == ["README.txt", "manifest.json"]
    assert verify_archive(io.BytesIO(factory.finished[0])) == []


def test_volume_too_small_for_readme_and_manifest(make_info: MakeInfo) -> None:
    """A cap too small for even the README and manifest raises FileTooLarge."""
    factory = FakeFactory(600)
    with pytest.raises(FileTooLarge):
        SplitZipWriter().write_volumes(
            make_info("profile"), [Section(category="profile", records=[])], factory
        )
    assert factory.finished == []


def test_source_error_discards_the_open_volume(make_info: MakeInfo) -> None:
    """A failing source propagates; every volume opened so far is discarded, none finished."""

    def failing() -> Iterator[Mapping[str, Any]]:
        yield from chat_records(300)
        raise SourceError("reasoning_history", "boom")

    factory = FakeFactory(64 * KIB)
    with pytest.raises(SourceError):
        SplitZipWriter().write_volumes(
            make_info("reasoning_history"),
            [Section(category="reasoning_history", records=failing())],
            factory,
        )
    assert factory.opened > 1
    assert factory.discarded == factory.opened
    assert factory.finished == []


def test_redactions_are_counted_in_the_volume_holding_them(make_info: MakeInfo) -> None:
    """Per-volume redacted_counts add up to the export's, each with its own records."""
    info = make_info("reasoning_history")
    records = chat_records(1500)

    def redacting() -> Iterator[Mapping[str, Any]]:
        # As the service does: count the redaction before yielding the record.
        for record in records:
            if record["id"] % 10 == 0:
                info.stats.redacted["reasoning_history"] = (
                    info.stats.redacted.get("reasoning_history", 0) + 1
                )
            yield record

    factory, _ = write_split(
        info, [Section(category="reasoning_history", records=redacting())], 64 * KIB
    )
    parts = volumes_content(factory.finished)
    assert len(parts) > 1
    for part in parts:
        ids = [r["id"] for doc in part["docs"] for r in doc["records"]]
        expected = sum(1 for i in ids if i % 10 == 0)
        assert part["manifest"]["redacted_counts"].get("reasoning_history", 0) == expected
    assert sum(p["manifest"]["redacted_counts"]["reasoning_history"] for p in parts) == 150


def test_volume_readme_is_localised_and_names_the_part(make_info: MakeInfo) -> None:
    """A German export's volumes say "Teil n von N" and explain how to combine them."""
    info = attrs.evolve(make_info("reasoning_history"), locale="de")
    factory, _ = write_split(
        info, [Section(category="reasoning_history", records=chat_records(800))], 64 * KIB
    )
    parts = volumes_content(factory.finished)
    assert len(parts) > 1
    for number, part in enumerate(parts, start=1):
        assert f"Teil {number} von {len(parts)} Ihres Datenexports" in part["readme"]
        assert f"auf {len(parts)} Archive" in part["readme"]
        assert f"data/reasoning_history.part-{number}.json" in part["readme"]
        assert part["manifest"]["part"] == number
        assert part["manifest"]["parts"] == len(parts)
        assert part["manifest"]["locale"] == "de"


def test_category_names_are_sanitised_and_unique(make_info: MakeInfo) -> None:
    """Category names become safe member names, unique ignoring case, stable across parts."""
    factory, _ = write_split(
        make_info("Notes", "notes", "../evil"),
        [
            Section(category="Notes", records=[{"a": 1}]),
            Section(category="notes", records=[{"a": 2}]),
            Section(category="../evil", records=[{"a": 3}]),
        ],
        64 * KIB,
    )
    [part] = volumes_content(factory.finished)
    assert part["names"][:3] == [
        "data/Notes.part-1.json",
        "data/notes-2.part-1.json",
        "data/___evil.part-1.json",
    ]
    assert [d["category"] for d in part["docs"]] == ["Notes", "notes", "../evil"]
