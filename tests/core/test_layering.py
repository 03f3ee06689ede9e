"""One-way dependencies: backend.core imports no other layer, no broker library and no GUI.

Dependencies point inward (frontend -> core <- broker, strategies -> core): the OMS is the
same object in the terminal, headless mode and tests only if it knows none of them. Checked
by parsing imports (not by importing), so a forbidden import inside a function or behind
TYPE_CHECKING is caught too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import backend.core.signal
import backend.strategies.signal
from tests.layering import imported_modules

CORE = Path(__file__).resolve().parents[2] / "backend" / "core"
FORBIDDEN = ("backend.strategies", "backend.broker", "backend.sim", "backend.runtime",
             "frontend", "ib_insync", "ib_async", "ibapi", "PyQt6", "qasync")


def forbidden(name: str) -> bool:
    return any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN)


@pytest.mark.parametrize("path", sorted(CORE.glob("*.py")), ids=lambda p: p.name)
def test_core_module_imports_nothing_forbidden(path):
    bad = {name for name in imported_modules(path) if forbidden(name)}
    assert not bad, f"{path.name} imports {sorted(bad)}"


def test_the_check_catches_a_submodule_of_a_forbidden_package():
    assert forbidden("backend.strategies.signal") and forbidden("PyQt6.QtCore")
    assert not forbidden("backend.core.signal") and not forbidden("backend.strategiesx")


@pytest.mark.parametrize("name", ["Signal", "MalformedSignal", "SignalRefused",
                                  "parse_signal"])
def test_the_old_signal_import_path_gives_the_same_objects(name):
    assert getattr(backend.strategies.signal, name) is getattr(backend.core.signal, name)


def test_signal_refused_is_still_importable_from_the_order_manager():
    from backend.core.order_manager import SignalRefused

    assert SignalRefused is backend.core.signal.SignalRefused
