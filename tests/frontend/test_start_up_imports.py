"""Start-up (issue 12): the window is built and shown before ib_insync is imported, and the
``--sim`` launcher decides its scenario without importing the simulator.

Each check runs in a fresh interpreter, since this test process has long imported both.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SHOWN_WITHOUT_IB_INSYNC = """
import sys
from backend.settings import load_settings
from frontend.main import run_qt
from frontend.terminal import run_terminal
from PyQt6.QtCore import QSettings
from PyQt6.QtWidgets import QApplication

journal, ini = sys.argv[1], sys.argv[2]
settings = load_settings(journal={"path": journal},
                         broker={"port": 1, "connect_timeout_s": 1.0})
seen = []

def on_window(window):
    seen.append(("shown", window.isVisible(), "ib_insync" in sys.modules,
                 window.core.connector._ib is None))
    window.close()

app = QApplication([])
qsettings = QSettings(ini, QSettings.Format.IniFormat)
code = run_qt(lambda: run_terminal(settings, "AUTO", qsettings=qsettings, on_window=on_window),
              app)
print(seen, code)
"""


def _python(code: str, *args: str) -> str:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def test_the_window_is_shown_before_ib_insync_is_imported(tmp_path):
    """``run_terminal`` builds the core and the window and shows it with ib_insync not yet
    loaded (it and numpy under it are a third of a second); the connector makes its
    ib_insync client when it connects."""
    out = _python(SHOWN_WITHOUT_IB_INSYNC, str(tmp_path / "journal.sqlite3"),
                  str(tmp_path / "window.ini"))
    assert out == "[('shown', True, False, True)] 0", out


def test_the_connector_makes_its_ib_insync_client_on_first_use():
    """Built without ib_insync; the first use of ``connector.ib`` imports it, makes the
    client once and attaches the connector's handlers (order status, disconnects)."""
    code = ("import sys\n"
            "from backend.broker.connector import IBKRConnector\n"
            "c = IBKRConnector()\n"
            "print('ib_insync' in sys.modules, c.is_connected())\n"
            "ib = c.ib\n"
            "print('ib_insync' in sys.modules, c.ib is ib)\n"
            "print(len(ib.orderStatusEvent) > 0, len(ib.disconnectedEvent) > 0,"
            " len(ib.pendingTickersEvent) > 0)")
    assert _python(code).splitlines() == ["False False", "True True", "True True True"]


def test_the_sim_scenario_is_chosen_without_importing_the_simulator():
    """The launcher reads ``backend.sim_scenarios``, the table the simulator uses too."""
    code = ("import sys\n"
            "from frontend.main import scenario_args\n"
            "args = scenario_args(5)\n"
            "print(args, sorted(m for m in sys.modules if m.split('.')[:2] == ['backend', 'sim']))")
    assert _python(code) == "['--scenario', 'ignition', '--episode-bar-seconds', '5'] []"
