"""The README's five-minute snippet, run as written against a real Redis and a real `rq worker`."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from uuid import uuid4

import pytest

pytest.importorskip("rq")
redis = pytest.importorskip("redis")

from rq import Queue  # noqa: E402

from tests.redis_support import require_redis  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

# The snippet's "your code": a database the sources read from.
FAKE_DB = """
from datetime import UTC, datetime
from types import SimpleNamespace


class db:
    @staticmethod
    def fetch_profile(user_id):
        return SimpleNamespace(
            name="Zoë", email=f"{user_id}@example.org", created_at=datetime(2024, 1, 2, tzinfo=UTC)
        )

    @staticmethod
    def iter_history(user_id):
        for n in range(3):
            yield {"n": n, "prompt": f"question {n}"}
"""


def readme_snippet() -> str:
    """The first ``py`` block under "Five-minute integration" in README.md."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Five-minute integration", 1)[1]
    match = re.search(r"```py\n(.*?)```", section, re.DOTALL)
    assert match is not None
    return match.group(1)


@pytest.fixture
def redis_url() -> str:
    """The test Redis; unreachable fails under CI and skips elsewhere."""
    return require_redis()


@pytest.fixture
def snippet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The snippet as an importable module (plus the fake db), configured by the environment."""
    name = f"readme_exports_{uuid4().hex}"
    (tmp_path / "readme_fake_db.py").write_text(FAKE_DB, encoding="utf-8")
    (tmp_path / f"{name}.py").write_text(
        "from readme_fake_db import db\n" + readme_snippet(), encoding="utf-8"
    )
    for variable in list(os.environ):
        if variable.startswith("REASONKIT_EXPORT_"):
            monkeypatch.delenv(variable)
    monkeypatch.setenv("REASONKIT_EXPORT_LOCAL_PATH", str(tmp_path / "exports"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module(name)
    yield module
    sys.modules.pop(name, None)
    sys.modules.pop("readme_fake_db", None)


def test_readme_snippet_runs_with_rq(snippet: ModuleType, redis_url: str, tmp_path: Path) -> None:
    """The snippet's task enqueues on RQ, a real worker builds it, and the download streams."""
    connection = redis.Redis.from_url(redis_url)
    queue = Queue(f"readme-{uuid4().hex}", connection=connection)
    try:
        view = snippet.request_export("alice", queue)
        assert view["status"] == "pending"
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)]),
        }
        result = subprocess.run(
            [sys.executable, "-m", "rq.cli", "worker", "--burst", "--url", redis_url, queue.name],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
        deadline = time.monotonic() + 30
        status = snippet.export_status(view["id"], "alice")
        while status["status"] != "completed" and time.monotonic() < deadline:
            time.sleep(0.2)
            status = snippet.export_status(view["id"], "alice")
        assert status["status"] == "completed", status
        assert status["record_counts"] == {"profile": 1, "reasoning_history": 3}
        chunks: list[bytes] = []
        snippet.download(view["id"], "alice", chunks.append)
        assert sum(len(chunk) for chunk in chunks) == status["file_size"]
        assert snippet.maintenance() == []
    finally:
        queue.delete(delete_jobs=True)
        connection.close()
