"""Start-up (issue 12): the window comes up before pyqtgraph is loaded, and the chart
follows once the connection is up, with the charted symbol's history in it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from frontend.chart_slot import PendingChart, install_chart, is_pending
from frontend.terminal import run_terminal
from frontend.window import MainWindow
from tests.frontend.conftest import terminal_settings
from tests.helpers import eventually

REPO = Path(__file__).resolve().parents[2]


def test_the_window_modules_do_not_import_pyqtgraph():
    """What the first frame needs (the launcher, run_terminal, MainWindow) leaves the chart
    library out; ``install_chart`` brings it in."""
    code = ("import sys, frontend.main, frontend.terminal, frontend.window; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'pyqtgraph'))")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]", done.stdout


def test_the_chart_appears_once_connected_with_the_symbols_history(run, sim, tmp_path,
                                                                  qsettings):
    settings = terminal_settings(sim, tmp_path)
    windows: list[MainWindow] = []
    first_chart: list[object] = []

    def on_window(window: MainWindow) -> None:
        windows.append(window)
        first_chart.append(window.chart)  # what the first frame shows

    async def scenario():
        session = asyncio.ensure_future(run_terminal(settings, "SIM", qsettings=qsettings,
                                                     on_window=on_window))
        await eventually(lambda: windows and not is_pending(windows[0].chart),
                         what="the real chart in the window")
        window = windows[0]
        assert isinstance(first_chart[0], PendingChart)
        assert window.centralWidget() is window.chart
        assert window.chart.symbol == "AAPL" == window.chart_panel.symbol
        await eventually(lambda: window.chart.bar_count() > 0, what="AAPL's history charted")
        assert install_chart(window) is window.chart  # once only
        window.close()
        return await session

    assert run(scenario) == 0


def test_the_chart_appears_when_the_connection_is_refused_too(run, sim, tmp_path, qsettings):
    settings = terminal_settings(sim, tmp_path, broker={"port": 1, "connect_timeout_s": 1.0})
    windows: list[MainWindow] = []

    async def scenario():
        session = asyncio.ensure_future(run_terminal(settings, "AUTO", qsettings=qsettings,
                                                     on_window=windows.append))
        await eventually(lambda: windows and not is_pending(windows[0].chart),
                         what="the chart, with no connection")
        window = windows[0]
        assert window.chart.symbol == "AAPL" and window.chart.bar_count() == 0
        assert any("could not connect" in m for m in window.log.messages())
        window.close()
        return await session

    assert run(scenario) == 0
