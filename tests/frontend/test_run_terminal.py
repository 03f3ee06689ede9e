"""run_terminal's lifetime and what the window remembers, against the simulator."""

from __future__ import annotations

import asyncio

from backend.core.models import ConnectionState
from backend.runtime import TradingCore
from backend.settings import load_settings
from frontend.terminal import run_terminal
from frontend.window import MainWindow
from tests.frontend.conftest import open_terminal, terminal_settings
from tests.frontend.test_terminal_sim import connect
from tests.helpers import eventually


def test_run_terminal_connects_at_start_and_stops_cleanly_when_closed(run, sim, tmp_path,
                                                                       qsettings):
    settings = terminal_settings(sim, tmp_path)
    windows: list[MainWindow] = []
    closed_with: list[ConnectionState] = []

    async def on_close() -> None:  # runs after the core has stopped
        closed_with.append(windows[0].core.connector.state)

    async def scenario():
        session = asyncio.ensure_future(run_terminal(
            settings, "SIM", on_close=on_close, qsettings=qsettings, on_window=windows.append))
        await eventually(lambda: windows and windows[0].connection_bar.state
                         is ConnectionState.CONNECTED, what="connected at start")
        window = windows[0]
        assert window.isVisible() and window.connection_bar.badge_text() == "SIM"
        assert sim.connected_clients() == [7]
        window.close()
        code = await session
        await eventually(lambda: sim.connected_clients() == [], what="broker sees the logout")
        return code

    assert run(scenario) == 0
    assert closed_with == [ConnectionState.DISCONNECTED]


def test_a_refused_connection_keeps_the_window_up_with_the_reason(run, sim, tmp_path,
                                                                  qsettings):
    settings = terminal_settings(sim, tmp_path, broker={"port": 1, "connect_timeout_s": 1.0})
    windows: list[MainWindow] = []

    async def scenario():
        session = asyncio.ensure_future(run_terminal(settings, "AUTO", qsettings=qsettings,
                                                     on_window=windows.append))
        await eventually(lambda: windows and any(
            "could not connect" in m for m in windows[0].log.messages()), what="reason shown")
        assert windows[0].connection_bar.state is ConnectionState.DISCONNECTED
        assert windows[0].isVisible()
        windows[0].close()
        return await session

    assert run(scenario) == 0


def test_layout_last_connection_and_watchlist_are_remembered(run, sim, tmp_path, qsettings,
                                                             qtbot, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # no user config file: the shipped defaults
    monkeypatch.delenv("SIGMA9_CONFIG", raising=False)

    async def first_session():
        # A broker session (not --sim): what it remembers is for the next broker session.
        async with open_terminal(sim, tmp_path, qsettings, mode="AUTO") as (core, window):
            await connect(qtbot, window, core)
            window.docks["executions"].hide()
            panel = window.strategy_panel
            panel.list.setCurrentRow(panel.watchlist().index("MSFT"))
            panel.list.currentItem().setSelected(True)
            panel.remove_selected()
            panel.symbol_edit.setText("TSLA")  # checked at the broker: the simulator has it
            panel.add_from_edit()
            await eventually(lambda: panel.checking.done(), what="TSLA checked")

    async def second_session():
        # The shipped defaults in the config: the remembered connection and watchlist apply.
        settings = load_settings(journal={"path": str(tmp_path / "second.sqlite3")})
        core = TradingCore.build(settings)
        window = MainWindow(core, settings, "AUTO", qsettings)
        window.show()
        try:
            return (window.connection_bar.endpoint(), window.docks["executions"].isHidden(),
                    window.docks["orders"].isHidden(), window.strategy_panel.watchlist())
        finally:
            window.close()
            await window.drain()
            await core.stop()

    run(first_session)
    endpoint, executions_hidden, orders_hidden, watchlist = run(second_session)
    assert endpoint == ("127.0.0.1", sim.port, 7)
    assert executions_hidden and not orders_hidden
    assert watchlist == ["AAPL", "TSLA"]
