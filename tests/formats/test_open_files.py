"""An export of thousands of categories holds a bounded number of open files.

Each case runs in a child process whose open-files limit is lowered to 256
(``resource.setrlimit``), far below one file per category, and exports 2,000
categories through the service; the artifact must complete and verify.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("resource")

CATEGORIES = 2000

_CHILD = textwrap.dedent(
    """
    import io, json, resource, sys, zipfile
    from uuid import uuid4

    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

    from reasonkit_export import ExportConfig, ExportService, ExportStatus
    from reasonkit_export.formats import verify_archive
    from reasonkit_export.storage import FsspecStorage
    from reasonkit_export.testing import StaticDataSource

    fmt, split, categories = sys.argv[1], sys.argv[2] == "split", int(sys.argv[3])
    names = [f"cat{n:04d}" for n in range(categories)]
    sources = [
        StaticDataSource(name, [{"n": k, "text": f"{name} record {k} ü"} for k in range(3)])
        for name in names
    ]
    config = ExportConfig(
        storage_backend="memory",
        rate_limit=None,
        compression_enabled=False,
        split_archives=split,
        max_file_size_mb=64,
    )
    service = ExportService(
        sources=sources, config=config, storage=FsspecStorage(f"memory://fd-{uuid4().hex}")
    )
    job = service.process_export(service.create_export("alice", fmt, names).id)
    assert job.status is ExportStatus.COMPLETED, job.error
    parts = [p.number for p in job.parts] or [None]
    report = {"parts": len(parts), "problems": [], "counts": {}}
    for part in parts:
        with service.open_download(job.id, user_id="alice", part=part) as download:
            data = download.read()
        if fmt == "json":
            document = json.loads(data)
            report["counts"].update(document["record_counts"])
        elif fmt == "pdf":
            assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
            report["counts"] = dict(job.record_counts)
        else:
            report["problems"] += verify_archive(io.BytesIO(data))
            manifest = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("manifest.json"))
            for name, count in manifest["record_counts"].items():
                report["counts"][name] = report["counts"].get(name, 0) + count
            if fmt == "zip" and not split:
                members = zipfile.ZipFile(io.BytesIO(data)).namelist()
                report["html_pages"] = sum(
                    1 for m in members if m.startswith("html/") and m.endswith("page-1.html")
                )
    print(json.dumps(report))
    """
)


@pytest.mark.parametrize(
    ("fmt", "split"),
    [("json", False), ("csv", False), ("pdf", False), ("zip", False), ("zip", True)],
)
def test_thousands_of_categories_under_a_low_open_files_limit(fmt: str, split: bool) -> None:
    """2,000 categories export in every format with at most 256 open files, and verify."""
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, fmt, "split" if split else "one", str(CATEGORIES)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["problems"] == []
    assert len(report["counts"]) == CATEGORIES
    assert set(report["counts"].values()) == {3}
    if fmt == "zip" and not split:
        # The default ZIP carries the HTML view: one page per category.
        assert report["html_pages"] == CATEGORIES
