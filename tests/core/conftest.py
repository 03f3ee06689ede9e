"""Fixtures shared by the core's unit tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture
def isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No SIGMA9_* variables and an empty HOME: only config/default.toml is read."""
    for name in list(os.environ):
        if name.upper().startswith("SIGMA9_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))


from tests.core.fakes import manager  # noqa: E402, F401  (an OrderManager over a fake port)
