"""One-way dependencies: backend.core stays free of ib_insync, Qt and the frontend.

Checked by parsing imports (not by importing), so a forbidden import inside a function or
behind TYPE_CHECKING is caught too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.layering import imported_modules

CORE = Path(__file__).resolve().parents[2] / "backend" / "core"
FORBIDDEN = ("ib_insync", "ib_async", "ibapi", "PyQt6", "qasync", "frontend")


@pytest.mark.parametrize("path", sorted(CORE.glob("*.py")), ids=lambda p: p.name)
def test_core_module_imports_nothing_forbidden(path):
    bad = {name for name in imported_modules(path)
           if name.split(".")[0] in FORBIDDEN}
    assert not bad, f"{path.name} imports {sorted(bad)}"
