"""The frontend talks to the broker only through backend.core models and the connector's
signals: no module under frontend/ imports an IB client library (checked by parsing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.layering import imported_modules

FRONTEND = Path(__file__).resolve().parents[2] / "frontend"
FORBIDDEN = ("ib_insync", "ib_async", "ibapi")


@pytest.mark.parametrize("path", sorted(FRONTEND.rglob("*.py")),
                         ids=lambda p: str(p.relative_to(FRONTEND)))
def test_frontend_module_imports_no_ib_client(path):
    bad = {name for name in imported_modules(path) if name.split(".")[0] in FORBIDDEN}
    assert not bad, f"{path.name} imports {sorted(bad)}"
