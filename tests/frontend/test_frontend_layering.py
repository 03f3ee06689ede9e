"""The frontend talks to the broker only through backend.core models and the connector's
signals: no module under frontend/ imports an IB client library (checked by parsing)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

FRONTEND = Path(__file__).resolve().parents[2] / "frontend"
FORBIDDEN = ("ib_insync", "ib_async", "ibapi")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", sorted(FRONTEND.rglob("*.py")),
                         ids=lambda p: str(p.relative_to(FRONTEND)))
def test_frontend_module_imports_no_ib_client(path):
    bad = {name for name in _imports(path) if name.split(".")[0] in FORBIDDEN}
    assert not bad, f"{path.name} imports {sorted(bad)}"
