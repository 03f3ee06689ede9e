"""No surprises (issue 11): quitting asks first, a sim session's memory stays in sim sessions,
a watchlist symbol is checked when added, shortcuts do what the menus say, the account strip
shows IB's numbers. Against the simulator where the broker is involved."""

from __future__ import annotations

from decimal import Decimal

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QKeySequence

from backend.runtime import TradingCore
from backend.settings import BrokerSettings, load_settings
from frontend.window_controls import CONTROLS, quit_question
from tests.frontend.conftest import open_terminal
from tests.frontend.test_terminal_sim import connect
from tests.frontend.test_trade_actions import trade
from tests.helpers import eventually
from tests.oms.conftest import held

LEFT = Qt.MouseButton.LeftButton


class Asked:
    def __init__(self, reply: bool) -> None:
        self.reply = reply
        self.questions: list[tuple[str, str]] = []

    def __call__(self, title: str, text: str) -> bool:
        self.questions.append((title, text))
        return self.reply


# -- quitting -----------------------------------------------------------------------------------
def test_quit_question_words():
    assert quit_question(False, []) is None
    assert quit_question(False, [("AAPL", 0)]) is None, "a closed position is nothing to lose"
    text = quit_question(True, [("AAPL", 100)])
    assert "armed" in text and "100 AAPL" in text
    assert "exit orders stay at the broker" in text


def test_closing_with_a_position_open_asks_and_no_keeps_the_window(
        run, sim, tmp_path, qsettings, qtbot):
    async def scenario():
        async with open_terminal(sim, tmp_path, qsettings) as (core, window):
            await trade(qtbot, window, core, sim)
            closed: list[bool] = []
            window.closed.connect(lambda: closed.append(True))
            window.confirm = no = Asked(False)
            assert window.close() is False, "the close waits for the answer"
            await eventually(lambda: any("quit cancelled" in m for m in window.log.messages()),
                             what="declined")
            [(title, text)] = no.questions
            assert title == "Quit Sigma9" and "1 position(s) are open (100 AAPL)" in text
            assert "stay at the broker" in text
            assert window.isVisible() and closed == []
            assert held(sim) == 100, "nothing was sold"

            window.confirm = yes = Asked(True)
            window.controls["Quit"].trigger()  # Ctrl+Q's action
            await eventually(lambda: closed == [True], what="closed after Yes")
            assert len(yes.questions) == 1 and not window.isVisible()
            assert held(sim) == 100, "quitting leaves the position and its exits at IB"

    run(scenario)
    assert run.reporter.reported == []


def test_closing_while_armed_asks(run, sim, tmp_path, qsettings, qtbot):
    async def scenario():
        async with open_terminal(sim, tmp_path, qsettings) as (core, window):
            await connect(qtbot, window, core)
            qtbot.mouseClick(window.strategy_panel.arm_button, LEFT)
            await eventually(lambda: core.runner.armed, what="armed")
            window.confirm = no = Asked(False)
            window.close()
            await eventually(lambda: no.questions, what="asked")
            assert "The strategy is armed" in no.questions[0][1]
            assert window.isVisible() and core.runner.armed
            # Ctrl+C / SIGTERM in the shell (gui_session) and app.quit() close without asking.
            assert window.close_now() is True
            assert len(no.questions) == 1 and not window.isVisible()

    run(scenario)
    assert run.reporter.reported == []


def test_flat_and_disarmed_closes_without_a_question(run, sim, tmp_path, qsettings, qtbot):
    async def scenario():
        async with open_terminal(sim, tmp_path, qsettings) as (core, window):
            await connect(qtbot, window, core)
            status = window.status.state_label.text()
            assert status.startswith(f"Connected to 127.0.0.1:{sim.port}"), status
            assert "Connected: connected" not in status
            window.confirm = asked = Asked(False)
            assert window.close() is True
            assert asked.questions == [] and not window.isVisible()

    run(scenario)
    assert run.reporter.reported == []


# -- shortcuts ----------------------------------------------------------------------------------
def test_shortcuts_are_in_the_menus_and_the_tooltips(run, sim, tmp_path, qsettings, qtbot):
    async def scenario():
        async with open_terminal(sim, tmp_path, qsettings) as (core, window):
            keys = {c.label.replace("&", ""): c.shortcut for c in CONTROLS}
            assert keys["Quit"] == "Ctrl+Q" and keys["Filter the table"] == "Ctrl+F"
            for label, key in keys.items():
                assert window.controls[label].shortcut() == QKeySequence(key), label
            assert "Ctrl+Shift+X" in window.flatten_button.toolTip()
            assert "Ctrl+Shift+C" in window.close_button.toolTip()

            window.positions_table.view.setFocus()
            window.controls["Filter the table"].trigger()
            assert window.focusWidget() is window.positions_table.filter_edit
            window.orders_table.view.setFocus()
            window.controls["Filter the table"].trigger()
            assert window.focusWidget() is window.orders_table.filter_edit
            window.controls["Order ticket"].trigger()
            assert window.focusWidget() is window.ticket.symbol_edit

            asked = Asked(False)
            window.confirm = asked
            await connect(qtbot, window, core)
            window.controls["Flatten all…"].trigger()
            await eventually(lambda: asked.questions, what="flatten asks first")
            assert asked.questions[0][0] == "Flatten all"

    run(scenario)
    assert run.reporter.reported == []


# -- per-mode memory ------------------------------------------------------------------------
def test_a_sim_session_never_leaks_its_port_or_watchlist_into_a_broker_session(
        run, sim, tmp_path, qsettings, qtbot, monkeypatch):
    """Regression (issue 11): a plain ``sigma9`` after ``--sim`` used the sim's random port."""
    monkeypatch.setenv("HOME", str(tmp_path))  # no user config file: the shipped defaults
    monkeypatch.delenv("SIGMA9_CONFIG", raising=False)

    async def sim_session():
        async with open_terminal(sim, tmp_path, qsettings, mode="sim") as (core, window):
            await connect(qtbot, window, core)
            window.strategy_panel.set_watchlist(["AAPL", "ZZZQX"])

    async def broker_session():
        settings = load_settings(journal={"path": str(tmp_path / "broker.sqlite3")})
        core = TradingCore.build(settings)
        from frontend.window import MainWindow

        window = MainWindow(core, settings, "AUTO", qsettings)
        try:
            return window.connection_bar.endpoint(), window.strategy_panel.watchlist()
        finally:
            window.close_now()
            await window.drain()
            await core.stop()

    run(sim_session)
    qsettings.sync()
    saved = {key: str(qsettings.value(key)) for key in qsettings.allKeys()}
    assert saved.get("sim/connection/port") == str(sim.port), "the sim session remembered"
    endpoint, watchlist = run(broker_session)
    defaults = BrokerSettings()
    assert endpoint == (defaults.host, defaults.port, defaults.client_id)
    assert "ZZZQX" not in watchlist and watchlist == ["AAPL", "MSFT", "TSLA"]
    broker_keys = {k: v for k, v in saved.items() if not k.startswith("sim/")}
    assert str(sim.port) not in broker_keys.values()
    assert not any("ZZZQX" in v for v in broker_keys.values())


# -- watchlist validation ---------------------------------------------------------------------
def test_an_unknown_watchlist_symbol_is_refused_with_a_sentence(
        run, sim, tmp_path, qsettings, qtbot):
    async def scenario():
        async with open_terminal(sim, tmp_path, qsettings) as (core, window):
            panel = window.strategy_panel
            await connect(qtbot, window, core)
            panel.symbol_edit.setText("zzzqx, tsla")
            qtbot.mouseClick(panel.add_button, LEFT)
            await eventually(lambda: panel.checking is not None and panel.checking.done(),
                             what="checked at the broker")
            assert panel.watchlist() == ["AAPL", "MSFT", "TSLA"], "the known one is added"
            note = panel.note_label.text()
            assert note == "ZZZQX is not a stock the broker knows, so it was not added."
            assert any(note in m for m in window.log.messages()), "and logged"

    run(scenario)
    assert run.reporter.reported == []


def test_a_symbol_added_while_disconnected_is_checked_on_connecting(
        run, sim, tmp_path, qsettings, qtbot):
    async def scenario():
        async with open_terminal(sim, tmp_path, qsettings) as (core, window):
            panel = window.strategy_panel
            panel.symbol_edit.setText("ZZZQX")
            qtbot.mouseClick(panel.add_button, LEFT)
            await eventually(lambda: "ZZZQX" in panel.watchlist(), what="added as typed")
            await connect(qtbot, window, core)
            sentence = ("ZZZQX is not a stock the broker knows: arming will skip it; remove "
                        "it from the watchlist.")
            await eventually(lambda: panel.note_label.text() == sentence, what="rechecked")
            item = panel.list.findItems("ZZZQX", Qt.MatchFlag.MatchExactly)[0]
            assert "not a stock the broker knows" in item.toolTip()
            assert any(sentence in m for m in window.log.messages())
            known = panel.list.findItems("AAPL", Qt.MatchFlag.MatchExactly)[0]
            assert known.toolTip() == ""

    run(scenario)
    assert run.reporter.reported == []


# -- the account strip --------------------------------------------------------------------------
def test_account_strip_shows_ib_values_and_the_days_pnl(run, sim, tmp_path, qsettings, qtbot):
    async def scenario():
        async with open_terminal(sim, tmp_path, qsettings) as (core, window):
            strip = window.account_strip
            strip.refresh()
            assert strip.text("net_liquidation") == "—", "nothing known while disconnected"
            await trade(qtbot, window, core, sim)
            expected = sim.account_values()

            def shown(key: str) -> Decimal | None:
                text = strip.text(key).replace(",", "")
                return None if text == "—" else Decimal(text)

            def matches() -> bool:
                strip.refresh()
                return shown("net_liquidation") == round(
                    sim.account_values()["NetLiquidation"], 2)

            await eventually(matches, what="net liquidation as IB reports it")
            assert shown("buying_power") == round(expected["BuyingPower"], 2)
            sim.set_price("AAPL", "97.50")  # the stop fills: a realized loss today
            await eventually(lambda: held(sim) == 0, what="stopped out")
            realized = sim.positions()["AAPL"]["realized"]

            def realized_shown() -> bool:
                strip.refresh()
                return shown("realized") == round(realized, 2)

            await eventually(realized_shown, what="the day's realized P&L")
            assert shown("realized") < 0

    run(scenario)
    assert run.reporter.reported == []
