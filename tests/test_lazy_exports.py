"""The package and ``reasonkit_export.formats`` import their names on first use.

The table each keeps (``_EXPORTS``) must match its ``__all__`` and the
imports its ``TYPE_CHECKING`` block shows type checkers, and a child process
that needs one module (the HTML view's renderer) must not load the others.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGES = ["reasonkit_export", "reasonkit_export.formats"]


def _type_checking_imports(module_name: str) -> dict[str, str]:
    module = importlib.import_module(module_name)
    tree = ast.parse(Path(str(module.__file__)).read_text(encoding="utf-8"))
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for statement in node.body:
                assert isinstance(statement, ast.ImportFrom)
                for alias in statement.names:
                    found[alias.asname or alias.name] = str(statement.module)
    return found


@pytest.mark.parametrize("name", PACKAGES)
def test_table_matches_all_and_type_checking_imports(name: str) -> None:
    module = importlib.import_module(name)
    table = module._EXPORTS
    assert sorted(table) == sorted(module.__all__)
    assert _type_checking_imports(name) == table


@pytest.mark.parametrize("name", PACKAGES)
def test_every_name_resolves_to_its_module_object(name: str) -> None:
    module = importlib.import_module(name)
    for exported, source in module._EXPORTS.items():
        value = getattr(module, exported)
        assert value is getattr(importlib.import_module(source), exported)
        assert exported in dir(module)


@pytest.mark.parametrize("name", PACKAGES)
def test_unknown_name_is_an_attribute_error(name: str) -> None:
    module = importlib.import_module(name)
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = module.no_such_name
    with pytest.raises(ImportError):
        exec(f"from {name} import no_such_name", {})


def test_the_html_child_does_not_load_other_writers() -> None:
    code = (
        "import sys, reasonkit_export.formats._html\n"
        "heavy = ['fpdf', 'reasonkit_export._service', 'reasonkit_export.formats._pdf',"
        " 'reasonkit_export.formats._zip', 'sqlalchemy', 'fsspec']\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
