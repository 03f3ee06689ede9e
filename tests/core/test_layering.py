"""One-way dependencies: backend.core stays free of ib_insync, Qt and the frontend.

Checked by parsing imports (not by importing), so a forbidden import inside a function or
behind TYPE_CHECKING is caught too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "backend" / "core"
FORBIDDEN = ("ib_insync", "ib_async", "ibapi", "PyQt6", "qasync", "frontend")


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", sorted(CORE.glob("*.py")), ids=lambda p: p.name)
def test_core_module_imports_nothing_forbidden(path):
    bad = {name for name in _imported_modules(path)
           if name.split(".")[0] in FORBIDDEN}
    assert not bad, f"{path.name} imports {sorted(bad)}"
