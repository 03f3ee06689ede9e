"""Setup (issue 11): a missing Qt system library is one line with the install command, and
ib_insync's own log lines reach the log panel, not the terminal."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from frontend.qt_libs import (
    PACKAGES,
    install_hint,
    missing_from_ldd,
    qt_platform_problem,
    uses_xcb,
    xcb_plugin,
)
from frontend.terminal import run_terminal
from tests.frontend.conftest import terminal_settings
from tests.helpers import eventually

REPO = Path(__file__).resolve().parents[2]
LDD_DEBIAN_12 = """\
\tlinux-vdso.so.1 (0x00007fc9a5173000)
\tlibQt6XcbQpa.so.6 => /venv/PyQt6/Qt6/lib/libQt6XcbQpa.so.6 (0x00007fc9a50a5000)
\tlibxcb-cursor.so.0 => /lib/x86_64-linux-gnu/libxcb-cursor.so.0 (0x00007fc9a4fbb000)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxcb-icccm.so.4 => not found
"""


def test_ldd_output_names_what_is_missing_and_the_packages():
    missing = missing_from_ldd(LDD_DEBIAN_12)
    assert missing == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]
    hint = install_hint(missing)
    assert "\n" not in hint and hint.startswith("sigma9: ")
    assert "sudo apt-get install libxcb-icccm4 libxcb-keysyms1" in hint
    assert install_hint(["libfoo.so.9"]).count("libfoo.so.9") == 2, "unknown: named as is"


def test_the_issue_packages_are_in_the_table():
    for package in ("libxcb-cursor0", "libxcb-icccm4", "libxcb-keysyms1"):
        assert package in PACKAGES.values()


def test_xcb_is_judged_only_where_qt_would_use_it():
    assert uses_xcb({"DISPLAY": ":0"}, "linux")
    assert uses_xcb({"QT_QPA_PLATFORM": "xcb"}, "linux")
    assert not uses_xcb({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}, "linux")
    assert not uses_xcb({}, "linux") and not uses_xcb({"DISPLAY": ":0"}, "darwin")


def fake_ldd(tmp_path: Path, output: str) -> Path:
    script = tmp_path / "bin" / "ldd"
    script.parent.mkdir(exist_ok=True)
    script.write_text("#!/bin/sh\ncat <<'EOF'\n" + output + "EOF\n")
    script.chmod(0o755)
    return script


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="xcb is Linux's")
def test_problem_found_through_ldd(tmp_path):
    ldd = fake_ldd(tmp_path, LDD_DEBIAN_12)
    plugin = xcb_plugin()
    assert plugin is not None and plugin.name == "libqxcb.so"
    problem = qt_platform_problem({"DISPLAY": ":0"}, "linux", plugin, str(ldd))
    assert problem == install_hint(["libxcb-icccm.so.4", "libxcb-keysyms.so.1"])
    assert qt_platform_problem({"DISPLAY": ":0"}, "linux", plugin,
                               str(fake_ldd(tmp_path, "\tlibc.so.6 => /lib/libc.so.6\n"))) is None
    assert qt_platform_problem({"DISPLAY": ":0"}, "linux", plugin, "/no/such/ldd") is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="xcb is Linux's")
def test_sigma9_prints_one_line_instead_of_qt_aborting(tmp_path):
    fake_ldd(tmp_path, LDD_DEBIAN_12)
    env = {k: v for k, v in os.environ.items()
           if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY") and not k.startswith("SIGMA9_")}
    env.update(DISPLAY=":99", HOME=str(tmp_path), PYTHONPATH=str(REPO),
               PATH=f"{tmp_path / 'bin'}{os.pathsep}{env.get('PATH', '')}")
    done = subprocess.run([sys.executable, "-m", "frontend.main"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert done.stderr == install_hint(["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]) + "\n"
    assert done.stdout == ""


def test_ib_insync_log_lines_go_to_the_panel_not_the_terminal(run, sim, tmp_path, qsettings,
                                                              caplog):
    settings = terminal_settings(sim, tmp_path)
    windows: list = []

    async def scenario():
        session = asyncio.ensure_future(run_terminal(settings, "SIM", qsettings=qsettings,
                                                     on_window=windows.append))
        await eventually(lambda: windows, what="the window")
        caplog.clear()
        logging.getLogger("ib_insync.wrapper").error("Error 200, reqId 9: No security found")
        window = windows[0]
        assert any(e.source == "ib_insync" and "No security found" in e.message
                   for e in window.log.entries)
        # Not propagated to the root logger, where logging's last resort prints to stderr.
        assert not [r for r in caplog.records if r.name.startswith("ib_insync")]
        window.close()
        return await session

    assert run(scenario) == 0
    logger = logging.getLogger("ib_insync")
    assert logger.propagate and not logger.handlers, "restored after the session"
