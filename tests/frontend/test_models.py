"""Table models: keyed rows, one dataChanged per changed row, coalesced ticks, proxy, bounds.

No broker here: records are built by hand, and signals are counted with QSignalSpy.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from decimal import Decimal

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before pytest-qt creates the app

import pytest  # noqa: E402
from PyQt6.QtCore import Qt  # noqa: E402
from PyQt6.QtTest import QSignalSpy  # noqa: E402

from backend.core.ledger import books_from_fills  # noqa: E402
from backend.core.models import (  # noqa: E402
    FillRecord,
    LegRole,
    OrderRecord,
    OrderStatus,
    OrderType,
    Position,
    Quote,
    Side,
)
from frontend.models import (  # noqa: E402
    ExecutionsModel,
    Level,
    LogModel,
    OrdersModel,
    PositionsModel,
    TableProxy,
)
from frontend.models.columns import GREEN, GREY, RED  # noqa: E402
from frontend.models.log import is_alert  # noqa: E402
from frontend.models.orders import CHILD_MARKER, is_working  # noqa: E402
from frontend.models.positions import positions_snapshot  # noqa: E402

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=timezone.utc)
FG = Qt.ItemDataRole.ForegroundRole


def order(order_id: str, role: LegRole = LegRole.ENTRY, parent: str = "", signal: str = "s1",
          symbol: str = "AAPL", status: OrderStatus = OrderStatus.PENDING, **kw) -> OrderRecord:
    side = Side.BUY if role is LegRole.ENTRY else Side.SELL
    order_type = {LegRole.SAFETY_STOP: OrderType.STOP, LegRole.PROFIT_HARVESTER:
                  OrderType.TRAIL}.get(role, OrderType.MARKET)
    return OrderRecord(order_id=order_id, symbol=symbol, side=side, order_type=order_type,
                       quantity=100, status=status, role=role, parent_id=parent,
                       oca_group="" if role is LegRole.ENTRY else f"S9-{signal}",
                       signal_id=signal, updated_at=NOW, **kw)


def trade(entry: str = "10", signal: str = "s1", symbol: str = "AAPL") -> list[OrderRecord]:
    n = int(entry)
    return [order(entry, signal=signal, symbol=symbol),
            order(str(n + 1), LegRole.SAFETY_STOP, entry, signal, symbol,
                  stop_price=Decimal("98.00")),
            order(str(n + 2), LegRole.TIME_STOP, entry, signal, symbol),
            order(str(n + 3), LegRole.PROFIT_HARVESTER, entry, signal, symbol,
                  trail_amount=Decimal("1.50"), stop_price=Decimal("101.50"))]


def text(model, key, column: str) -> str:
    return model.data(model.index(model.index_of[key], model.column_index(column)))


# -- keyed rows and dataChanged ----------------------------------------------------------------
def test_new_keys_are_inserted_rows_and_changes_emit_one_data_changed_per_row(qapp):
    model = OrdersModel()
    inserted, changed = QSignalSpy(model.rowsInserted), QSignalSpy(model.dataChanged)
    resets = QSignalSpy(model.modelReset)
    for record in trade():
        model.update_order(record)
    assert len(inserted) == 4 and len(changed) == 0 and model.rowCount() == 4

    model.update_order(order("11", LegRole.SAFETY_STOP, "10", status=OrderStatus.FILLED,
                             filled=100, stop_price=Decimal("98.00")))
    assert len(changed) == 1, "status + filled changed: still ONE dataChanged for the row"
    top_left, bottom_right = changed[0][0], changed[0][1]
    assert top_left.row() == bottom_right.row() == model.index_of["11"]
    assert (top_left.column(), bottom_right.column()) == (0, model.columnCount() - 1)

    model.update_order(order("11", LegRole.SAFETY_STOP, "10", status=OrderStatus.FILLED,
                             filled=100, stop_price=Decimal("98.00")))
    assert len(changed) == 1, "an identical update repaints nothing"
    assert len(inserted) == 4 and len(resets) == 0


def test_removing_a_row_reindexes_the_rest(qapp):
    model = OrdersModel()
    for record in trade():
        model.update_order(record)
    removed = QSignalSpy(model.rowsRemoved)
    assert model.remove("11")
    assert len(removed) == 1 and model.keys == ["10", "12", "13"]
    assert model.index_of == {"10": 0, "12": 1, "13": 2}
    assert text(model, "13", "role") == "trail"


# -- grouping of exit legs under their entry ---------------------------------------------------
def test_exit_legs_sort_under_their_entry_with_a_child_marker(qapp):
    model = OrdersModel()
    # Arrival order mixed across two trades and a manual order.
    records = trade("20", "s2", "MSFT") + [order("5", LegRole.MANUAL, signal="")] + trade("10")
    for record in reversed(records):
        model.update_order(record)
    proxy = TableProxy(model)
    proxy.sort(0, Qt.SortOrder.AscendingOrder)
    keys = [proxy.key_at(r) for r in range(proxy.rowCount())]
    assert keys == ["5", "10", "11", "12", "13", "20", "21", "22", "23"]
    assert text(model, "10", "order_id") == "10"
    assert text(model, "11", "order_id") == f"{CHILD_MARKER}11"
    assert [text(model, k, "role") for k in keys[1:5]] == ["entry", "stop", "time stop", "trail"]
    assert model.legs_of("10") == ["11", "12", "13"]


def test_reprotection_legs_without_parent_group_under_the_entry_of_their_signal(qapp):
    model = OrdersModel()
    # Legs re-sent after a rejection carry no parentId, only the signal id "s1~r1".
    model.update_order(order("30", LegRole.SAFETY_STOP, "", "s1~r1"))
    assert model.rows["30"]["depth"] == 0, "entry unknown yet: the leg stands alone"
    model.update_order(order("10", signal="s1", status=OrderStatus.FILLED, filled=100))
    assert model.rows["30"]["group"] == 10 and model.rows["30"]["depth"] == 1
    assert model.legs_of("10") == ["30"]


# -- proxy: sorting by value, filtering --------------------------------------------------------
def test_proxy_sorts_numbers_as_numbers_and_filters_by_text_and_predicate(qapp):
    positions = PositionsModel()
    positions.update_positions([
        Position("AAPL", 100, Decimal("100"), unrealized_pnl=Decimal("-5")),
        Position("MSFT", 10, Decimal("400"), unrealized_pnl=Decimal("10")),
        Position("TSLA", 5, Decimal("200"), unrealized_pnl=Decimal("2"))])
    proxy = TableProxy(positions)
    proxy.sort(positions.column_index("unrealized"), Qt.SortOrder.AscendingOrder)
    assert [proxy.key_at(r) for r in range(3)] == ["AAPL", "TSLA", "MSFT"]  # text: 10 < 2
    proxy.set_text_filter("ms")
    assert [proxy.key_at(r) for r in range(proxy.rowCount())] == ["MSFT"]

    orders = OrdersModel()
    for record in trade():
        orders.update_order(record)
    orders.update_order(order("11", LegRole.SAFETY_STOP, "10", status=OrderStatus.FILLED))
    orders.update_order(order("12", LegRole.TIME_STOP, "10", status=OrderStatus.CANCELLED))
    working = TableProxy(orders)
    working.set_predicate(is_working)
    assert sorted(working.key_at(r) for r in range(working.rowCount())) == ["10", "13"]
    working.set_predicate(None)
    assert working.rowCount() == 4


def test_proxy_follows_updates_without_a_reset(qapp):
    orders = OrdersModel()
    for record in trade():
        orders.update_order(record)
    proxy = TableProxy(orders)
    proxy.set_predicate(is_working)
    assert proxy.rowCount() == 4
    orders.update_order(order("12", LegRole.TIME_STOP, "10", status=OrderStatus.CANCELLED))
    assert proxy.rowCount() == 3, "a cancelled leg leaves the working view at once"


# -- colours from the column table -------------------------------------------------------------
def test_side_status_and_pnl_colours(qapp):
    orders = OrdersModel()
    for record in trade():
        orders.update_order(record)
    orders.update_order(order("12", LegRole.TIME_STOP, "10", status=OrderStatus.CANCELLED))
    row = orders.index_of
    assert orders.data(orders.index(row["10"], orders.column_index("side")), FG) == GREEN
    assert orders.data(orders.index(row["11"], orders.column_index("side")), FG) == RED
    assert orders.data(orders.index(row["12"], orders.column_index("status")), FG) == GREY
    positions = PositionsModel()
    positions.update_positions([Position("AAPL", 0, Decimal(0), Decimal("-12.5"))])
    at = positions.index(0, positions.column_index("realized"))
    assert positions.data(at, FG) == RED and positions.data(at) == "-12.50"


# -- positions: protection state and coalesced ticks -------------------------------------------
def test_positions_show_which_legs_protect_them(qapp):
    model = PositionsModel()
    model.update_positions([
        Position("AAPL", 100, Decimal("100"), protected_by=(
            LegRole.TIME_STOP, LegRole.SAFETY_STOP, LegRole.PROFIT_HARVESTER)),
        Position("MSFT", 10, Decimal("400")),
        Position("TSLA", 0, Decimal(0), Decimal("31.40"))])
    assert text(model, "AAPL", "protection") == "stop\ntime stop\ntrail"  # a line a leg
    assert text(model, "MSFT", "protection") == "UNPROTECTED"
    assert text(model, "TSLA", "protection") == "closed"
    column = model.column_index("protection")
    assert model.data(model.index(model.index_of["MSFT"], column), FG) == RED


def test_tick_repaints_are_coalesced_into_one_data_changed_per_row(qapp, qtbot):
    model = PositionsModel(repaint_ms=40)
    model.update_positions([Position("AAPL", 100, Decimal("100.00")),
                            Position("MSFT", 10, Decimal("400.00"))])
    changed = QSignalSpy(model.dataChanged)
    for cents in range(20):
        model.on_quote(Quote("AAPL", None, None, Decimal("101.00") + Decimal(cents) / 100,
                             None, NOW))
    model.on_quote(Quote("MSFT", None, None, Decimal("399.00"), None, NOW))
    model.on_quote(Quote("NOPE", None, None, Decimal("1.00"), None, NOW))  # no row: ignored
    assert len(changed) == 0, "nothing is repainted per tick"
    qtbot.waitUntil(lambda: len(changed) == 2, timeout=1000)
    qtbot.wait(100)
    assert len(changed) == 2, "one dataChanged per symbol for 21 ticks"
    assert model.rows["AAPL"]["last"] == Decimal("101.19")
    assert model.rows["AAPL"]["unrealized"] == Decimal("119.00")
    assert model.rows["MSFT"]["unrealized"] == Decimal("-10.00")


# -- executions --------------------------------------------------------------------------------
def test_an_execution_reported_again_updates_its_row(qapp):
    model = ExecutionsModel()
    fill = FillRecord("e1", "10", "AAPL", Side.BUY, 100, Decimal("100.01"), NOW)
    model.update_fill(fill)
    model.update_fill(FillRecord("e1", "10", "AAPL", Side.BUY, 100, Decimal("100.01"), NOW,
                                 Decimal("1.00"), Decimal(0)))
    assert model.rowCount() == 1 and text(model, "e1", "commission") == "1.00"


# -- bounded log -------------------------------------------------------------------------------
def test_log_keeps_the_newest_lines_within_its_bound(qapp):
    log = LogModel(max_lines=3)
    removed, inserted = QSignalSpy(log.rowsRemoved), QSignalSpy(log.rowsInserted)
    resets = QSignalSpy(log.modelReset)
    for i in range(5):
        log.append(Level.INFO, "test", f"line {i}")
    assert log.rowCount() == 3 and log.messages() == ["line 2", "line 3", "line 4"]
    assert len(removed) == 2 and len(inserted) == 5 and len(resets) == 0
    assert log.data(log.index(0, 3)) == "line 2"


def test_log_alerts_filter(qapp):
    log = LogModel(max_lines=10)
    log.append(Level.INFO, "order", "order 1 FILLED")
    log.append(Level.WARNING, "oms", "signal x (AAPL) refused: one position per symbol")
    log.append(Level.ERROR, "broker", "order 2: IB error 201: rejected")
    proxy = TableProxy(log)
    proxy.set_predicate(is_alert)
    assert proxy.rowCount() == 2
    proxy.set_text_filter("refused")
    assert proxy.rowCount() == 1


def test_log_refuses_a_zero_bound():
    with pytest.raises(ValueError):
        LogModel(max_lines=0)


# -- positions: the session's realized P&L ------------------------------------------------------
class FakeManager:
    """The three things ``positions_snapshot`` reads of the OrderManager."""

    def __init__(self, fills: list[FillRecord], open_positions: list[Position]) -> None:
        self.fills = {f.exec_id: f for f in fills}
        self.marks: dict[str, Decimal] = {}
        self._open = open_positions

    def books(self):
        return books_from_fills(list(self.fills.values()))

    def get_active_positions(self) -> list[Position]:
        return self._open


def test_realized_pnl_counts_from_the_session_start_and_only_todays_closed_rows():
    yesterday, today = NOW - timedelta(days=1), NOW
    fills = [
        # MSFT: bought and sold yesterday: not today's business.
        FillRecord("m1", "1", "MSFT", Side.BUY, 10, Decimal("400"), yesterday, Decimal("1")),
        FillRecord("m2", "2", "MSFT", Side.SELL, 10, Decimal("410"), yesterday, Decimal("1")),
        # AAPL: bought yesterday, sold today: today's realized, exact.
        FillRecord("a1", "3", "AAPL", Side.BUY, 100, Decimal("100"), yesterday, Decimal("1")),
        FillRecord("a2", "4", "AAPL", Side.SELL, 100, Decimal("101"), today, Decimal("1")),
    ]
    start = NOW - timedelta(hours=1)
    rows = positions_snapshot(FakeManager(fills, []), since=start)
    assert [(p.symbol, p.quantity, p.realized_pnl) for p in rows] == [
        ("AAPL", 0, Decimal("98"))]  # (101 - 100.01) x 100 - 1
    everything = positions_snapshot(FakeManager(fills, []))
    assert {p.symbol: p.realized_pnl for p in everything} == {
        "AAPL": Decimal("98"), "MSFT": Decimal("98")}
