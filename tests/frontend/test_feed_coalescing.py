"""The window under a burst of order events: every update lands, the positions are rebuilt
once after the burst (CoreFeed coalesces them), and a new entry regroups its legs by index.

The feed is driven with the OMS's own event objects over a stand-in manager (what the
feed reads of it), so a burst of 1,000 events is one synchronous run with no loop turn in
between: exactly what a socket read full of order statuses does in the terminal.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from types import SimpleNamespace

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from backend.core.events import FillReceived, OrderUpdated, PositionsChanged  # noqa: E402
from backend.core.models import (  # noqa: E402
    FillRecord,
    LegRole,
    OrderRecord,
    OrderStatus,
    OrderType,
    Position,
    Side,
)
from frontend.feed import CoreFeed  # noqa: E402
from frontend.models import ExecutionsModel, LogModel, OrdersModel, PositionsModel  # noqa: E402

ROLES = (LegRole.ENTRY, LegRole.SAFETY_STOP, LegRole.TIME_STOP, LegRole.PROFIT_HARVESTER)
FINAL = (OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.CANCELLED, OrderStatus.CANCELLED)


class Portfolio:
    """``day_positions`` as the feed calls it; each call is counted and reads the live state
    (how many entries have filled so far), so a refresh that ran early shows a stale
    quantity."""

    def __init__(self, manager: StandInManager) -> None:
        self.manager = manager
        self.calls = 0

    def day_positions(self, since):
        self.calls += 1
        filled = sum(1 for r in self.manager.orders.values()
                     if r.role is LegRole.ENTRY and r.status is OrderStatus.FILLED)
        return [Position("AAPL", 100 * filled, Decimal("100.00"))]


class StandInManager:
    def __init__(self) -> None:
        self.orders: dict[str, OrderRecord] = {}
        self.fills: dict[str, FillRecord] = {}
        self.leg_plans: dict = {}
        self.portfolio = Portfolio(self)

    def leg_activity(self, symbol):
        return []

    def live_exits(self, symbol):
        return [r for r in self.orders.values() if r.symbol == symbol and r.side is Side.SELL
                and not r.status.is_final]

    def legs_of(self, signal_id):
        return []


def feed_over(manager: StandInManager, qtbot) -> CoreFeed:
    holder = OrdersModel()
    feed = CoreFeed(SimpleNamespace(manager=manager), holder, PositionsModel(),
                    ExecutionsModel(), LogModel(5000))
    for model in (feed.orders, feed.positions, feed.executions, feed.log):
        model.setParent(feed)
    return feed


def order(n: int, status: OrderStatus, broker_status: str = "") -> OrderRecord:
    trade, leg = divmod(n, 4)
    role = ROLES[leg]
    entry_id = str(trade * 4 + 1)
    return OrderRecord(str(n + 1), "AAPL", Side.BUY if role is LegRole.ENTRY else Side.SELL,
                       OrderType.LIMIT, 100, status, role, limit_price=Decimal("90.00"),
                       parent_id="" if role is LegRole.ENTRY else entry_id,
                       signal_id=f"sig{trade}", broker_status=broker_status,
                       updated_at=datetime.now(timezone.utc))


def publish(feed: CoreFeed, manager: StandInManager, record: OrderRecord) -> None:
    manager.orders[record.order_id] = record
    feed.on_manager_event(OrderUpdated(record))


def test_a_burst_of_1000_order_events_shows_every_final_state_and_one_refresh(qtbot):
    manager = StandInManager()
    feed = feed_over(manager, qtbot)
    # 250 orders (entries with their three legs), each through 4 statuses: 1,000 events.
    steps = ("PendingSubmit", "PreSubmitted", "Submitted")
    for n in range(250):
        for broker_status in steps:
            publish(feed, manager, order(n, OrderStatus.PENDING, broker_status))
        publish(feed, manager, order(n, FINAL[n % 4]))
    # Nothing ran between the events: every row already holds its order's last state...
    assert len(feed.orders.keys) == 250
    for n in range(250):
        assert feed.orders.row(str(n + 1))["status"] is FINAL[n % 4]
    # ...and the positions were not rebuilt once per event, but once, after the burst.
    assert manager.portfolio.calls == 0
    qtbot.waitUntil(lambda: manager.portfolio.calls >= 1)
    assert manager.portfolio.calls == 1
    filled_entries = len(range(0, 250, 4))  # every entry filled, its legs cancelled
    assert feed.positions.row("AAPL")["quantity"] == 100 * filled_entries


def test_an_event_after_a_refresh_is_not_lost(qtbot):
    manager = StandInManager()
    feed = feed_over(manager, qtbot)
    publish(feed, manager, order(0, OrderStatus.PENDING, "Submitted"))
    qtbot.waitUntil(lambda: manager.portfolio.calls == 1)
    assert feed.positions.row("AAPL")["quantity"] == 0
    publish(feed, manager, order(0, OrderStatus.FILLED))  # the entry fills after the refresh
    feed.on_manager_event(PositionsChanged(()))
    qtbot.waitUntil(lambda: manager.portfolio.calls == 2)
    assert feed.positions.row("AAPL")["quantity"] == 100


def test_a_fill_refreshes_the_positions_too(qtbot):
    manager = StandInManager()
    feed = feed_over(manager, qtbot)
    manager.orders["1"] = order(0, OrderStatus.FILLED)
    fill = FillRecord("e1", "1", "AAPL", Side.BUY, 100, Decimal("100.00"),
                      datetime.now(timezone.utc))
    manager.fills[fill.exec_id] = fill
    feed.on_manager_event(FillReceived(fill))
    qtbot.waitUntil(lambda: feed.positions.row("AAPL") is not None)
    assert feed.positions.row("AAPL")["quantity"] == 100
    assert feed.executions.row("e1") is not None


def test_an_entry_known_after_its_legs_takes_them_under_it(qtbot):
    """The legs wait under their own ids until their entry is known, then move under it
    (found by the signal id, not by a scan of every order)."""
    model = OrdersModel()
    for n in range(400):  # other trades in the table
        model.update_order(order(n + 8, OrderStatus.CANCELLED))
    legs = [OrderRecord(str(100 + i), "MSFT", Side.SELL, OrderType.STOP, 100,
                        OrderStatus.PENDING, role, signal_id="late~r1")
            for i, role in enumerate(ROLES[1:])]
    for leg in legs:
        model.update_order(leg)
    assert {model.row(leg.order_id)["depth"] for leg in legs} == {0}
    model.update_order(OrderRecord("99", "MSFT", Side.BUY, OrderType.LIMIT, 100,
                                   OrderStatus.FILLED, LegRole.ENTRY, signal_id="late"))
    assert model.legs_of("99") == [leg.order_id for leg in legs]
    assert {model.row(leg.order_id)["depth"] for leg in legs} == {1}


def test_history_in_one_set_shows_what_bar_by_bar_showed(qtbot):
    """ChartPanel loads history with ``add_bars`` (one redraw); the chart ends up exactly
    as bar-by-bar ``add_bar`` left it: time order, revisions replace, oldest trimmed."""
    from backend.core.models import Bar
    from frontend.widgets.chart import ChartWidget

    start = datetime(2026, 1, 5, 15, 0, tzinfo=timezone.utc)

    def bar(i: int, close: str = "100.50", symbol: str = "AAPL") -> Bar:
        return Bar(symbol, start + timedelta(minutes=i), Decimal("100"), Decimal("101"),
                   Decimal("99"), Decimal(close), Decimal(1000))

    bars = [bar(i) for i in (3, 1, 2, 7, 5)] + [bar(2, "100.90"), bar(4, symbol="MSFT")]
    one_by_one, at_once = ChartWidget(max_bars=4), ChartWidget(max_bars=4)
    for chart in (one_by_one, at_once):
        qtbot.addWidget(chart)
        chart.set_symbol("AAPL")
    for b in bars:
        one_by_one.add_bar(b)
    at_once.add_bars(bars)
    assert at_once._candles == one_by_one._candles
    assert [c.t for c in at_once._candles] == [bar(i).time.timestamp() for i in (2, 3, 5, 7)]
    assert at_once.bar_count() == 4 and at_once.empty_text() == one_by_one.empty_text()


def _roles():
    from PyQt6.QtCore import Qt

    return [int(r) for r in (Qt.ItemDataRole.FontRole, Qt.ItemDataRole.TextAlignmentRole,
                             Qt.ItemDataRole.ForegroundRole, Qt.ItemDataRole.CheckStateRole,
                             Qt.ItemDataRole.DecorationRole, Qt.ItemDataRole.DisplayRole,
                             Qt.ItemDataRole.BackgroundRole, Qt.ItemDataRole.ToolTipRole)]


def test_a_cell_answers_every_role_in_one_call_as_data_would(qtbot):
    """TableProxy.multiData (what painting a cell asks for) gives exactly what per-role
    ``data`` gives, for the keyed tables (one call per cell) and the log (per role)."""
    from PyQt6.QtCore import QModelRoleData, QModelRoleDataSpan

    from frontend.models.log import Level
    from frontend.models.proxy import TableProxy

    orders = OrdersModel()
    for n in range(12):
        orders.update_order(order(n, FINAL[n % 4] if n % 3 else OrderStatus.PENDING))
    log = LogModel(50)
    log.append(Level.ALERT, "oms", "flattened AAPL")
    log.append(Level.INFO, "order", "order 1 (AAPL entry BUY 100 LMT) FILLED")
    for source in (orders, log):
        proxy = TableProxy(source)
        proxy.sort(0)
        for row in range(proxy.rowCount()):
            for column in range(proxy.columnCount()):
                index = proxy.index(row, column)
                span = QModelRoleDataSpan([QModelRoleData(role) for role in _roles()])
                proxy.multiData(index, span)
                assert [item.data() for item in span] == [proxy.data(index, role)
                                                          for role in _roles()]


def test_a_repaint_asks_each_cell_once_not_once_per_role(qtbot, monkeypatch):
    from frontend.models.table import KeyedTableModel
    from frontend.widgets.table_view import FilteredTable

    model = OrdersModel()
    for n in range(40):
        model.update_order(order(n, OrderStatus.CANCELLED))
    table = FilteredTable(model)
    qtbot.addWidget(table)
    table.resize(900, 300)
    table.show()
    qtbot.waitExposed(table)
    qtbot.waitUntil(lambda: table.view.visualRect(table.proxy.index(0, 0)).height() > 0)
    asked: list[int] = []
    per_role: list[int] = []
    cell_roles, data = KeyedTableModel.cell_roles, KeyedTableModel.data
    monkeypatch.setattr(KeyedTableModel, "cell_roles",
                        lambda self, *args: asked.append(1) or cell_roles(self, *args))
    monkeypatch.setattr(KeyedTableModel, "data",
                        lambda self, *args: per_role.append(1) or data(self, *args))
    table.view.viewport().grab()  # paints every visible cell
    assert asked and not per_role

