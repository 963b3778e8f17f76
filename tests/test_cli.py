"""The command line: the demo runs on the embedded default and prints what it made."""

from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from reasonkit_export.cli import main


def test_demo_exports_to_disk(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`demo` writes a real gzip JSON export and prints its path, size and sha256."""
    assert main(["demo", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    lines = {line.split(":", 1)[0]: line.split(":", 1)[1].strip() for line in out.splitlines()[-3:]}
    path = Path(lines["file"])
    data = path.read_bytes()
    assert lines["size"] == f"{len(data)} bytes"
    assert lines["sha256"] == hashlib.sha256(data).hexdigest()
    document = json.loads(gzip.decompress(data))
    assert document["categories"]["profile"]["records"][0]["display_name"] == "Zoë Ångström-Øre"
    assert document["record_counts"]["reasoning_history"] == 25
    assert (tmp_path / "jobs").is_dir()


def test_python_dash_m_runs_the_cli(tmp_path: Path) -> None:
    """`python -m reasonkit_export demo` works as a subprocess."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "reasonkit_export",
            "demo",
            "--dir",
            str(tmp_path),
            "--no-compression",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "sha256:" in result.stdout


def test_bad_usage_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown command is a usage error with exit code 2."""
    with pytest.raises(SystemExit) as info:
        main(["nonsense"])
    assert info.value.code == 2
