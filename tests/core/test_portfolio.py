"""The portfolio: one owner for marks, books and P&L (realized, unrealized, commissions)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from backend.core import ledger
from backend.core.models import LegRole, OrderStatus, Position, Side
from backend.core.portfolio import PnlTotals, Portfolio, unrealized_pnl
from tests.core.fakes import NOW, fill

D = Decimal


@pytest.mark.parametrize(("quantity", "avg", "mark", "expected"), [
    (100, "100.01", "101.01", "100.00"),   # a long gains as the mark rises
    (-100, "100.01", "99.01", "100.00"),   # a short gains as it falls
    (100, "100.01", None, "0"),            # no mark: no figure
    (0, "100.01", "101", "0"),             # nothing held
])
def test_unrealized_pnl_is_one_formula(quantity, avg, mark, expected):
    assert unrealized_pnl(quantity, D(avg), D(mark) if mark else None) == D(expected)


def test_the_ledger_uses_the_same_formula():
    book = ledger.books_from_fills([fill("e1", Side.BUY, 100, "100.00")])["AAPL"]
    assert ledger.unrealized(book, D("101")) == unrealized_pnl(100, book.avg_cost, D("101"))


def _portfolio(*fills, roles=()) -> Portfolio:
    return Portfolio({f.exec_id: f for f in fills}, protected_by=lambda s: tuple(roles))


def test_a_position_from_fills_is_marked_by_the_last_trade():
    p = _portfolio(fill("e1", Side.BUY, 100, "100.00", "1.00"), roles=[LegRole.SAFETY_STOP])
    p.mark("AAPL", D("101.00"))
    [pos] = p.positions()
    assert (pos.quantity, pos.avg_cost, pos.unrealized_pnl) == (100, D("100.01"), D("99.00"))
    assert pos.protected_by == (LegRole.SAFETY_STOP,) and pos.commissions == D("1.00")


def test_the_broker_report_wins_and_its_price_marks():
    p = _portfolio(fill("e1", Side.BUY, 100, "100.00", "1.00"))
    p.apply_positions([Position("AAPL", 60, D("100.02"), market_price=D("100.52"))])
    [pos] = p.positions()
    assert (pos.quantity, pos.avg_cost, pos.market_price) == (60, D("100.02"), D("100.52"))
    assert pos.unrealized_pnl == D("30.00") and p.position_quantity("AAPL") == 60


def test_open_symbols_are_kept_until_a_fill_or_a_report_changes_them():
    fills = {}
    p = Portfolio(fills)
    assert p.open_symbols() == frozenset()
    f = fill("e1", Side.BUY, 100, "100.00")
    fills[f.exec_id] = f
    assert p.open_symbols() == frozenset(), "cached until told"
    p.fills_changed()
    assert p.open_symbols() == {"AAPL"}
    p.apply_positions([Position("MSFT", 10, D("400"))])
    assert p.open_symbols() == {"AAPL", "MSFT"}


def test_totals_add_realized_unrealized_and_commissions_over_every_symbol():
    p = _portfolio(fill("a1", Side.BUY, 100, "100.00", "1.00"),
                   fill("a2", Side.SELL, 100, "101.00", "1.00", minute=5),
                   fill("m1", Side.BUY, 10, "400.00", "1.00", symbol="MSFT"))
    p.mark("MSFT", D("410.00"))
    totals = p.totals()
    assert totals == PnlTotals(realized=D("98.00"), unrealized=D("99.00"),
                               commissions=D("3.00"))
    assert totals.total == D("197.00")


def test_the_day_counts_from_its_start_and_shows_only_todays_closed_rows():
    yesterday, today = NOW - timedelta(days=1), NOW
    fills = [
        # MSFT: bought and sold yesterday: not today's business.
        fill("m1", Side.BUY, 10, "400", "1", symbol="MSFT"),
        fill("m2", Side.SELL, 10, "410", "1", symbol="MSFT"),
        # AAPL: bought yesterday, sold today: today's realized, exact.
        fill("a1", Side.BUY, 100, "100", "1"),
        fill("a2", Side.SELL, 100, "101", "1"),
    ]
    when = {"m1": yesterday, "m2": yesterday, "a1": yesterday, "a2": today}
    p = _portfolio(*[f.__class__(**{**f.__dict__, "time": when[f.exec_id]}) for f in fills])
    start = NOW - timedelta(hours=1)
    rows = p.day_positions(start)
    assert [(r.symbol, r.quantity, r.realized_pnl, r.commissions) for r in rows] == [
        ("AAPL", 0, D("98"), D("1"))]  # (101 - 100.01) x 100 - 1, today's one commission
    assert {r.symbol: r.realized_pnl for r in p.day_positions(None)} == {
        "AAPL": D("98"), "MSFT": D("98")}
    assert p.day_totals(start) == PnlTotals(realized=D("98"), commissions=D("1"))


# -- the OrderManager reads it ----------------------------------------------------------------
def test_the_order_manager_delegates_positions_to_its_portfolio(manager):
    from backend.core.models import Quote

    manager.on_fill(fill("e1", Side.BUY, 100, "100.00", "1.00"))
    manager.on_tick(Quote("AAPL", None, None, D("101.00"), None, NOW))
    assert manager.marks is manager.portfolio.marks
    assert manager.get_active_positions() == manager.portfolio.positions()
    [pos] = manager.get_active_positions()
    assert pos.unrealized_pnl == D("99.00") and manager.open_symbols() == {"AAPL"}
    assert manager.portfolio.totals() == PnlTotals(realized=D(0), unrealized=D("99.00"),
                                                   commissions=D("1.00"))


def test_pending_entries_are_indexed_as_their_records_change(manager):
    from tests.core.fakes import order

    entry = order("5", role=LegRole.ENTRY, side=Side.BUY)
    manager._store(entry, None)
    assert manager.pending_entry_symbols() == {"AAPL"}
    manager.on_order_status(order("5", OrderStatus.PARTIAL_FILL, 40, role=LegRole.ENTRY,
                                  side=Side.BUY))
    assert manager.pending_entry_symbols() == set(), "part filled: no longer waiting"
    manager.on_order_status(order("5", OrderStatus.FILLED, 100, role=LegRole.ENTRY,
                                  side=Side.BUY))
    manager._store(order("6", role=LegRole.ENTRY, side=Side.BUY), None)
    assert manager.pending_entry_symbols() == {"AAPL"}
    manager.on_order_status(order("6", OrderStatus.CANCELLED, role=LegRole.ENTRY,
                                  side=Side.BUY))
    assert manager.pending_entry_symbols() == set()
