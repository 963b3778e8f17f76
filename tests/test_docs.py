"""The documentation's code blocks run, and the site builds.

Fenced blocks with the info string ``python`` in ``docs/*.md`` and
``README.md`` are executed: the blocks of one file in order, in one shared
namespace, in a temporary working directory. Blocks marked ``py`` are
illustrations and are never run.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import textwrap
import traceback
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*)$")

DOC_FILES = [*sorted(DOCS.glob("*.md")), ROOT / "README.md"]


def python_blocks(path: Path) -> list[tuple[int, str]]:
    """Return ``(first code line, code)`` for every ``python`` block of a Markdown file."""
    blocks: list[tuple[int, str]] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        match = FENCE.match(lines[index])
        index += 1
        if match is None:
            continue
        fence, indent = match["fence"], len(match["indent"])
        info = match["info"].strip().split()
        start, body = index, []
        while index < len(lines):
            line = lines[index]
            index += 1
            if line.strip().startswith(fence[0] * len(fence)) and not line.strip().strip(fence[0]):
                break
            body.append(line[indent:] if not line[:indent].strip() else line.lstrip())
        if info and info[0] == "python":
            blocks.append((start + 1, textwrap.dedent("\n".join(body)) + "\n"))
    return blocks


def test_fence_parser_separates_python_from_py(tmp_path: Path) -> None:
    """Only ``python`` fences are collected, with the line number of their first line."""
    page = tmp_path / "page.md"
    page.write_text(
        "# t\n\n```python\nx = 1\n```\n\n```py\nnot_run()\n```\n\n"
        "- item\n\n    ```python\n    y = x + 1\n    ```\n",
        encoding="utf-8",
    )
    assert python_blocks(page) == [(4, "x = 1\n"), (14, "y = x + 1\n")]


def _failing_line(exc: BaseException, filename: str) -> int | None:
    """The line of ``filename`` (a Markdown page) deepest in the traceback of ``exc``."""
    line = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename == filename:
            line = lineno
    return line


PAGES_WITH_CODE = [p for p in DOC_FILES if p.exists() and python_blocks(p)]


def run_page(path: Path, name: str) -> None:
    """Execute the page's ``python`` blocks in order in one namespace; fail with page:line."""
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for start, code in python_blocks(path):
        # Pad with blank lines so that tracebacks show the page's own line numbers.
        compiled = compile("\n" * (start - 1) + code, str(path), "exec")
        try:
            exec(compiled, namespace)
        except Exception as exc:  # noqa: BLE001 - any failure is reported with its page and line
            line = _failing_line(exc, str(path)) or start
            pytest.fail(
                f"{name}:{line} (block starting at line {start}): {type(exc).__name__}: {exc}"
            )


def test_failing_block_reports_page_and_line(tmp_path: Path) -> None:
    """A failing block is reported with the page's own line number, after earlier blocks ran."""
    page = tmp_path / "page.md"
    page.write_text("```python\nx = 1\n```\n\n```python\ny = x\nz = 1 / 0\n```\n")
    with pytest.raises(pytest.fail.Exception, match=r"page\.md:7 \(block starting at line 6\)"):
        run_page(page, "page.md")


@pytest.mark.parametrize("path", PAGES_WITH_CODE, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_python_blocks_run(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every ``python`` block of the page runs, in order, in one namespace."""
    monkeypatch.chdir(tmp_path)
    run_page(path, path.relative_to(ROOT).as_posix())


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None, reason="mkdocs is not installed")
def test_site_builds_strictly(tmp_path: Path) -> None:
    """``mkdocs build --strict`` succeeds: every page in the nav, no broken links or anchors."""
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    api = (tmp_path / "site" / "api" / "index.html").read_text(encoding="utf-8")
    # Roles render as names, and the reference says nothing about where the code came from.
    for role in (":meth:", ":class:", ":func:", ":mod:", ":attr:", ":data:"):
        assert role not in api, role
    assert "seed" not in api


def test_api_reference_documents_every_model_field() -> None:
    """ExportConfig, ExportJob, ScheduledExport and CategoryDescription document every field."""
    import attrs

    from reasonkit_export import (
        CategoryDescription,
        ControllerInfo,
        ExportConfig,
        ExportJob,
        RateLimit,
        ScheduledExport,
    )
    from reasonkit_export.settings import _field_docs

    model: type[Any]
    for model in (ExportConfig, ExportJob, ScheduledExport, CategoryDescription):
        documented = _field_docs(model)
        for field in attrs.fields(model):
            assert documented.get(field.name), f"{model.__name__}.{field.name} is undocumented"
    for part in (RateLimit, ControllerInfo):
        assert set(_field_docs(part)) == {field.name for field in attrs.fields(part)}
