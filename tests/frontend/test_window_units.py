"""Pieces of the window that need no broker: badge, remembered endpoint, chart levels, errors."""

from __future__ import annotations

import os
from decimal import Decimal

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before pytest-qt creates the app

import pytest  # noqa: E402
from PyQt6.QtCore import Qt  # noqa: E402
from PyQt6.QtWidgets import QPushButton  # noqa: E402
from qasync import asyncSlot  # noqa: E402

from backend.core.exit_plan import ExitParams  # noqa: E402
from backend.core.models import LegRole, OrderStatus, Quote  # noqa: E402
from backend.settings import BrokerSettings, StrategySettings  # noqa: E402
from frontend.errors import ErrorReporter  # noqa: E402
from frontend.levels import ChartLevels, LevelTracker  # noqa: E402
from frontend.persistence import initial_endpoint, initial_watchlist  # noqa: E402
from frontend.widgets.connection_bar import trading_mode  # noqa: E402
from frontend.widgets.strategy_panel import parse_symbols  # noqa: E402
from tests.frontend.test_models import NOW, order, trade  # noqa: E402
from tests.helpers import eventually  # noqa: E402


@pytest.mark.parametrize(("mode", "account", "port", "badge"), [
    ("SIM", "", 4002, "SIM"),
    ("sim", "U123", 7496, "SIM"),  # the simulator is SIM whatever it calls its account
    ("AUTO", "DU1234567", 4002, "PAPER"),
    ("AUTO", "du999", 7497, "PAPER"),
    ("AUTO", "U7654321", 4001, "LIVE"),
    ("AUTO", "U7654321", 4002, "LIVE"),  # the account decides, not the port
    ("AUTO", "", 7497, "PAPER?"),
    ("AUTO", "", 7496, "LIVE?"),
    ("AUTO", "", 5555, "IB?"),  # always a mode: TWS or Gateway, account unknown
])
def test_badge(mode, account, port, badge):
    assert trading_mode(mode, account, port) == badge


def test_configured_endpoint_wins_unless_it_is_the_default():
    remembered = ("10.0.0.5", 7497, 3)
    default = BrokerSettings()
    assert initial_endpoint(default, remembered, "AUTO") == remembered
    assert initial_endpoint(default, None, "AUTO") == ("127.0.0.1", 4002, 1)
    custom = BrokerSettings(port=7496)
    assert initial_endpoint(custom, remembered, "AUTO") == ("127.0.0.1", 7496, 1)
    assert initial_endpoint(default, remembered, "SIM") == ("127.0.0.1", 4002, 1)
    assert initial_watchlist(StrategySettings().watchlist, ["NVDA"]) == ["NVDA"]
    assert initial_watchlist(("AMD",), ["NVDA"]) == ["AMD"]
    assert parse_symbols("aapl, msft  tsla,aapl") == ["AAPL", "MSFT", "TSLA"]


# -- chart levels ------------------------------------------------------------------------------
def tracker(records, reference=Decimal("100.00")):
    return LevelTracker(lambda: records, lambda signal_id: reference, ExitParams())


def test_levels_of_a_live_trade_and_the_live_trail():
    records = trade()
    records[0] = order("10", status=OrderStatus.FILLED, filled=100,
                       avg_fill_price=Decimal("100.02"))
    t = tracker(records)
    t.set_symbol("aapl")
    assert t.levels() == ChartLevels(Decimal("100.02"), Decimal("98.00"), Decimal("103.00"))
    t.on_quote(Quote("AAPL", None, None, Decimal("102.99"), None, NOW))
    assert t.levels().trail is None, "dormant below the activation level"
    t.on_quote(Quote("AAPL", None, None, Decimal("103.00"), None, NOW))
    assert t.levels().trail == Decimal("101.50"), "the broker's initial trailing stop"
    t.on_quote(Quote("AAPL", None, None, Decimal("106.00"), None, NOW))
    t.on_quote(Quote("AAPL", None, None, Decimal("105.00"), None, NOW))
    assert t.levels().trail == Decimal("104.50"), "ratchets with the high, never down"


def test_no_live_exit_means_no_levels():
    records = [order("10", status=OrderStatus.FILLED, filled=100)] + [
        order(str(n), role, "10", status=OrderStatus.CANCELLED)
        for n, role in ((11, LegRole.SAFETY_STOP), (12, LegRole.TIME_STOP))]
    t = tracker(records)
    t.set_symbol("AAPL")
    assert t.levels() == ChartLevels()


def test_activation_falls_back_to_the_entry_fill_without_a_reference():
    records = trade()
    records[0] = order("10", status=OrderStatus.FILLED, filled=100,
                       avg_fill_price=Decimal("50.00"))
    t = tracker(records, reference=None)
    t.set_symbol("AAPL")
    assert t.levels().activation == Decimal("51.50")


# -- errors reach the trader -------------------------------------------------------------------
def test_an_exception_in_a_slot_shows_a_dialog(qtbot, dialogs):
    reporter = ErrorReporter().install()
    try:
        button = QPushButton("boom")
        qtbot.addWidget(button)

        def explode() -> None:
            raise ValueError("the slot failed")

        button.clicked.connect(explode)
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    finally:
        reporter.uninstall()
    assert [(d.title, d.text) for d in dialogs] == [
        ("Sigma9: Unexpected error", "ValueError: the slot failed")]
    assert "explode" in dialogs[0].details, "the traceback is one click away"


def test_an_exception_in_an_async_slot_shows_a_dialog(run, qtbot, dialogs):
    logged: list[tuple[str, str]] = []

    class Target(QPushButton):
        @asyncSlot()
        async def act(self) -> None:
            raise RuntimeError("the broker call failed")

    async def scenario():
        reporter = ErrorReporter().install()
        reporter.listeners.append(lambda title, message: logged.append((title, message)))
        try:
            button = Target("go")
            qtbot.addWidget(button)
            button.clicked.connect(button.act)
            qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
            await eventually(lambda: dialogs, what="error dialog")
        finally:
            reporter.uninstall()

    run(scenario)
    assert dialogs[0].text == "RuntimeError: the broker call failed"
    assert logged == [("Unexpected error", "RuntimeError: the broker call failed")]


def test_a_failed_background_task_shows_a_dialog(run, dialogs):
    import asyncio

    async def fails() -> None:
        raise KeyError("lost")

    async def scenario():
        loop = asyncio.get_running_loop()
        reporter = ErrorReporter().install(loop)
        try:
            task = loop.create_task(fails())
            await asyncio.sleep(0.05)
            loop.call_exception_handler({"message": "Task exception was never retrieved",
                                         "exception": task.exception(), "task": task})
        finally:
            reporter.uninstall()

    run(scenario)
    assert dialogs and dialogs[0].title == "Sigma9: Background task failed"


def test_dialogs_are_capped_so_a_flood_cannot_bury_the_screen(dialogs):
    reporter = ErrorReporter(max_open=2)
    for i in range(5):
        reporter.report("Unexpected error", f"error {i}")
    assert len(dialogs) == 2 and len(reporter.reported) == 5


def test_the_log_panel_follows_new_lines_only_while_at_the_bottom(qtbot):
    from frontend.models.log import Level, LogModel
    from frontend.widgets.log_panel import LogPanel

    model = LogModel(max_lines=500)
    panel = LogPanel(model)
    qtbot.addWidget(panel)
    panel.resize(400, 200)
    panel.show()
    bar = panel.view.verticalScrollBar()
    for i in range(100):
        model.append(Level.INFO, "test", f"line {i}")
    qtbot.waitUntil(lambda: bar.maximum() > 0 and bar.value() == bar.maximum(), timeout=1000)
    bar.setValue(0)  # the trader scrolls up to read
    for i in range(20):
        model.append(Level.INFO, "test", f"more {i}")
    qtbot.wait(50)
    assert bar.value() == 0 and not panel.following


def test_badge_keeps_the_mode_while_disconnected(qtbot):
    from backend.core.models import ConnectionState
    from frontend.widgets.connection_bar import ConnectionBar

    bar = ConnectionBar("auto")
    qtbot.addWidget(bar)
    bar.set_endpoint("127.0.0.1", 5555, 1)
    assert bar.badge_text() == "IB?"  # never an empty or bare "?" badge
    bar.set_state(ConnectionState.CONNECTED, "connected to 127.0.0.1:5555")
    bar.set_account("U7654321")
    assert bar.badge_text() == "LIVE"
    bar.set_state(ConnectionState.DISCONNECTED, "")
    assert bar.badge_text() == "LIVE", "a disconnect must not hide that this is real money"
    assert "not connected" in bar.badge.toolTip()
    assert bar.account_label.text() == "account: — (last U7654321)"
    bar.port_spin.setValue(4002)  # another endpoint: the last account says nothing about it
    assert bar.badge_text() == "PAPER?"
