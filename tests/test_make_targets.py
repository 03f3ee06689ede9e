"""``make test`` (what CI runs, ``.ci/run``) and ``make lint`` type-check backend/ with mypy.

Read from the Makefile with ``make -n`` (print, run nothing), so a target that stops
calling mypy, or calls it after the tests, fails here rather than silently in CI.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not installed")
@pytest.mark.parametrize("target, then", [("test", "pytest"), ("lint", "ruff check")])
def test_make_target_runs_mypy_before_its_own_tool(target, then):
    lines = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.splitlines()
    mypy = [i for i, line in enumerate(lines) if line.split()[:1] == [".venv/bin/mypy"]]
    tool = [i for i, line in enumerate(lines) if then in line]
    assert mypy and tool and mypy[0] < tool[0], lines


def test_mypy_is_a_dev_tool_and_checks_backend():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert any(dep.split(">")[0].strip() == "mypy"
               for dep in project["project"]["optional-dependencies"]["dev"])
    config = project["tool"]["mypy"]
    assert config["files"] == ["backend"]
    assert "disable_error_code" not in config  # errors are fixed, not switched off
    assert "make test" in (ROOT / ".ci" / "run").read_text()
