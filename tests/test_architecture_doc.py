"""docs/architecture.md maps every module of the package, and nothing that is gone."""

from __future__ import annotations

import re
from pathlib import Path

import reasonkit_export

PACKAGE_ROOT = Path(reasonkit_export.__file__).parent
ARCHITECTURE = Path(__file__).parent.parent / "docs" / "architecture.md"
ROW = re.compile(r"^\| `([A-Za-z0-9_/]+\.py)` \| (.+) \|$")


def _module_map() -> dict[str, str]:
    text = ARCHITECTURE.read_text("utf-8")
    section = text.split("## Modules", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        match = ROW.match(line)
        if match:
            rows[match.group(1)] = match.group(2).strip()
    return rows


def test_every_module_is_in_the_module_map() -> None:
    """Each .py file of the package has a row saying what it owns."""
    listed = _module_map()
    modules = {path.relative_to(PACKAGE_ROOT).as_posix() for path in PACKAGE_ROOT.rglob("*.py")}
    assert sorted(modules - set(listed)) == []
    assert sorted(set(listed) - modules) == []
    assert all(len(owns) > 5 for owns in listed.values())


def test_the_doc_keeps_its_flow_and_decisions() -> None:
    """The data flow names the delivery step and the decisions page is still there."""
    text = ARCHITECTURE.read_text("utf-8")
    flow = text.split("## The flow", 1)[1].split("\n## ", 1)[0]
    assert "Delivery.deliver" in flow
    assert "## Where to change what" in text
    assert "## Decisions, and why" in text
