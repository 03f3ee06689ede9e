"""Each order type executes as IB executes it, driven over TCP by a real ib_insync client.

The market is still unless a test scripts it; ``set_price(p)`` makes the last ``p``
with the bid one tick below and the ask one tick above, and runs a matching pass
at once. Every test checks the broker's own state (``sim.order``, executions,
positions) and what the client was told (orderStatus, fills, log).
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from ib_insync import LimitOrder, MarketOrder, Order, PriceCondition, StopLimitOrder, StopOrder

from tests.sim.conftest import wait_until
from tests.sim.orderkit import settle, wait_status


@pytest.fixture(autouse=True)
def at_100(sim):
    """Every test here starts with AAPL last 100.00, bid 99.99, ask 100.01."""
    sim.set_price("AAPL", "100.00")


def trail(action: str, qty: int, **fields) -> Order:
    return Order(action=action, totalQuantity=qty, orderType="TRAIL", **fields)


# -- market ------------------------------------------------------------------

def test_market_buy_takes_the_ask_and_sell_hits_the_bid(sim, ib, aapl):
    buy = ib.placeOrder(aapl, MarketOrder("BUY", 100))
    wait_status(ib, buy, "Filled")
    sell = ib.placeOrder(aapl, MarketOrder("SELL", 100))
    wait_status(ib, sell, "Filled")

    assert [(e["side"], e["shares"], e["price"]) for e in sim.executions()] == [
        ("BOT", 100, Decimal("100.01")), ("SLD", 100, Decimal("99.99"))]
    assert buy.orderStatus.avgFillPrice == 100.01 and buy.orderStatus.remaining == 0
    assert sell.fills[0].execution.price == 99.99 and sell.fills[0].execution.side == "SLD"
    assert sim.positions()["AAPL"]["qty"] == 0
    assert sim.order(buy.order.orderId)["status"] == "Filled"


# -- limit -------------------------------------------------------------------

def test_resting_limit_is_submitted_and_fills_when_the_market_reaches_it(sim, ib, aapl):
    trade = ib.placeOrder(aapl, LimitOrder("BUY", 100, 99.00))
    wait_status(ib, trade, "Submitted")
    sim.set_price("AAPL", "99.50")  # ask 99.51: still above the limit
    sim.match(3)
    settle(ib)
    assert sim.order(trade.order.orderId)["status"] == "Submitted"
    assert trade.fills == [] and sim.executions() == []

    sim.set_price("AAPL", "98.99")  # ask 99.00: the touch reaches the limit
    wait_status(ib, trade, "Filled")
    assert trade.fills[0].execution.price == 99.00
    assert sim.order(trade.order.orderId)["avg_fill_price"] == Decimal("99.00")
    assert sim.positions()["AAPL"]["qty"] == 100


def test_resting_limit_gapped_through_fills_at_its_limit_not_the_new_touch(sim, ib, aapl):
    """A resting order is on the book: sellers crossing it trade at its price."""
    trade = ib.placeOrder(aapl, LimitOrder("BUY", 100, 99.00))
    wait_status(ib, trade, "Submitted")
    sim.set_price("AAPL", "97.00")  # ask 97.01, far through the limit
    wait_status(ib, trade, "Filled")
    assert sim.executions()[0]["price"] == Decimal("99.00")
    assert trade.orderStatus.avgFillPrice == 99.00


def test_marketable_limit_fills_at_once_at_the_touch(sim, ib, aapl):
    buy = ib.placeOrder(aapl, LimitOrder("BUY", 100, 101.00))
    wait_status(ib, buy, "Filled")
    sell = ib.placeOrder(aapl, LimitOrder("SELL", 100, 99.00))
    wait_status(ib, sell, "Filled")
    assert [e["price"] for e in sim.executions()] == [Decimal("100.01"), Decimal("99.99")]
    assert buy.fills[0].execution.price == 100.01
    assert sim.order(buy.order.orderId)["resting"] is False


# -- stops -------------------------------------------------------------------

def test_sell_stop_waits_presubmitted_then_triggers_on_last_and_fills_at_bid(sim, ib, aapl):
    trade = ib.placeOrder(aapl, StopOrder("SELL", 100, 98.00))
    wait_status(ib, trade, "PreSubmitted")
    assert trade.orderStatus.whyHeld == "trigger"
    state = sim.order(trade.order.orderId)
    assert (state["status"], state["why_held"], state["triggered"]) == (
        "PreSubmitted", "trigger", False)

    sim.set_price("AAPL", "98.01")  # bid 98.00 is at the stop, but the last is not
    sim.match(2)
    settle(ib)
    assert sim.order(trade.order.orderId)["triggered"] is False
    assert trade.orderStatus.status == "PreSubmitted"

    sim.set_price("AAPL", "98.00")
    wait_status(ib, trade, "Filled")
    assert trade.fills[0].execution.price == 97.99
    assert sim.order(trade.order.orderId)["triggered"] is True
    assert sim.positions()["AAPL"]["qty"] == -100


def test_gap_through_a_stop_fills_at_the_market_not_at_the_stop(sim, ib, aapl):
    trade = ib.placeOrder(aapl, StopOrder("SELL", 100, 98.00))
    wait_status(ib, trade, "PreSubmitted")
    sim.set_price("AAPL", "95.00")
    wait_status(ib, trade, "Filled")
    assert sim.executions()[0]["price"] == Decimal("94.99")
    assert trade.orderStatus.avgFillPrice == 94.99


def test_buy_stop_triggers_when_last_rises_to_it_and_fills_at_ask(sim, ib, aapl):
    trade = ib.placeOrder(aapl, StopOrder("BUY", 100, 102.00))
    wait_status(ib, trade, "PreSubmitted")
    sim.set_price("AAPL", "101.99")
    sim.match(2)
    settle(ib)
    assert sim.order(trade.order.orderId)["status"] == "PreSubmitted"
    sim.set_price("AAPL", "102.00")
    wait_status(ib, trade, "Filled")
    assert trade.fills[0].execution.price == 102.01
    assert sim.positions()["AAPL"]["qty"] == 100


def test_stop_limit_triggers_then_fills_only_once_its_limit_is_reachable(sim, ib, aapl):
    trade = ib.placeOrder(aapl, StopLimitOrder("SELL", 100, 97.50, 98.00))
    wait_status(ib, trade, "PreSubmitted")
    sim.set_price("AAPL", "97.00")  # triggered, but bid 96.99 is below the 97.50 limit
    wait_status(ib, trade, "Submitted")
    sim.match(3)
    settle(ib)
    state = sim.order(trade.order.orderId)
    assert (state["triggered"], state["filled"], state["status"]) == (True, 0, "Submitted")
    assert trade.fills == []

    sim.set_price("AAPL", "97.51")  # bid 97.50: the limit is reachable
    wait_status(ib, trade, "Filled")
    assert trade.fills[0].execution.price == 97.50


# -- trailing stops --------------------------------------------------------------

def test_trail_by_amount_ratchets_up_never_down_and_fills_on_the_pullback(sim, ib, aapl):
    trade = ib.placeOrder(aapl, trail("SELL", 100, auxPrice=2.00))
    wait_status(ib, trade, "PreSubmitted")
    oid = trade.order.orderId
    assert trade.orderStatus.whyHeld == "trigger"
    assert sim.order(oid)["trail_stop"] == Decimal("98.00")

    for price, stop in (("101.00", "99.00"), ("103.50", "101.50"), ("102.00", "101.50"),
                        ("101.60", "101.50")):
        sim.set_price("AAPL", price)
        assert sim.order(oid)["trail_stop"] == Decimal(stop), f"at {price}"
        assert sim.order(oid)["status"] == "PreSubmitted"

    sim.set_price("AAPL", "101.50")
    wait_status(ib, trade, "Filled")
    assert trade.fills[0].execution.price == 101.49


def test_trail_by_percent_ratchets_and_fills(sim, ib, aapl):
    trade = ib.placeOrder(aapl, trail("SELL", 100, trailingPercent=2.0))
    wait_status(ib, trade, "PreSubmitted")
    oid = trade.order.orderId
    assert sim.order(oid)["trail_stop"] == Decimal("98.00")
    sim.set_price("AAPL", "110.00")
    assert sim.order(oid)["trail_stop"] == Decimal("107.80")
    sim.set_price("AAPL", "108.00")  # 2% below 108 is 105.84: the stop must not fall
    assert sim.order(oid)["trail_stop"] == Decimal("107.80")
    assert sim.order(oid)["triggered"] is False
    sim.set_price("AAPL", "107.70")
    wait_status(ib, trade, "Filled")
    assert trade.fills[0].execution.price == 107.69


def test_buy_trail_ratchets_down_and_fills_on_the_bounce(sim, ib, aapl):
    trade = ib.placeOrder(aapl, trail("BUY", 100, auxPrice=1.00))
    wait_status(ib, trade, "PreSubmitted")
    oid = trade.order.orderId
    assert sim.order(oid)["trail_stop"] == Decimal("101.00")
    sim.set_price("AAPL", "97.00")
    assert sim.order(oid)["trail_stop"] == Decimal("98.00")
    sim.set_price("AAPL", "97.90")
    assert sim.order(oid)["trail_stop"] == Decimal("98.00")
    sim.set_price("AAPL", "98.00")
    wait_status(ib, trade, "Filled")
    assert trade.fills[0].execution.price == 98.01


def test_trail_stop_price_is_the_initial_stop_when_tighter_than_the_trail(sim, ib, aapl):
    trade = ib.placeOrder(aapl, trail("SELL", 100, auxPrice=2.00, trailStopPrice=99.00))
    wait_status(ib, trade, "PreSubmitted")
    oid = trade.order.orderId
    assert sim.order(oid)["trail_stop"] == Decimal("99.00")
    sim.set_price("AAPL", "100.80")  # 100.80 - 2 = 98.80: below the initial stop, no move
    assert sim.order(oid)["trail_stop"] == Decimal("99.00")
    sim.set_price("AAPL", "101.50")
    assert sim.order(oid)["trail_stop"] == Decimal("99.50")
    sim.set_price("AAPL", "99.50")
    wait_status(ib, trade, "Filled")
    assert trade.fills[0].execution.price == 99.49


def test_trail_stop_price_looser_than_the_trail_is_discarded(sim, ib, aapl):
    """TWS: an initial stop below market - trailing amount is discarded on submission."""
    trade = ib.placeOrder(aapl, trail("SELL", 100, auxPrice=2.00, trailStopPrice=95.00))
    wait_status(ib, trade, "PreSubmitted")
    assert sim.order(trade.order.orderId)["trail_stop"] == Decimal("98.00")


# -- modification ----------------------------------------------------------------

def test_placing_the_same_order_id_again_modifies_the_working_order(sim, ib, aapl):
    order = LimitOrder("BUY", 100, 95.00)
    trade = ib.placeOrder(aapl, order)
    wait_status(ib, trade, "Submitted")
    perm_id = sim.order(order.orderId)["perm_id"]

    order.lmtPrice = 96.00
    same = ib.placeOrder(aapl, order)
    assert same is trade and trade.log[-1].message == "Modify"
    wait_until(ib, lambda: trade.log[-1].message == "Modified", what="the modify ack")
    assert sim.order(order.orderId)["lmt_price"] == Decimal("96.0")

    order.totalQuantity = 200
    ib.placeOrder(aapl, order)
    wait_until(ib, lambda: trade.orderStatus.remaining == 200, what="the new quantity")
    state = sim.order(order.orderId)
    assert (state["total_qty"], state["perm_id"], state["status"]) == (200, perm_id, "Submitted")
    assert len(sim.orders()) == 1 and sim.executions() == []

    order.lmtPrice = 100.05  # now marketable: the modification makes it trade
    ib.placeOrder(aapl, order)
    wait_status(ib, trade, "Filled")
    assert trade.orderStatus.filled == 200
    assert sim.executions()[0]["price"] == Decimal("100.01")


def test_modifying_a_stop_moves_its_trigger(sim, ib, aapl):
    order = StopOrder("SELL", 100, 95.00)
    trade = ib.placeOrder(aapl, order)
    wait_status(ib, trade, "PreSubmitted")
    sim.set_price("AAPL", "97.00")
    sim.match(2)
    assert sim.order(order.orderId)["triggered"] is False
    order.auxPrice = 97.50
    ib.placeOrder(aapl, order)
    wait_status(ib, trade, "Filled")
    assert sim.order(order.orderId)["aux_price"] == Decimal("97.5")
    assert trade.fills[0].execution.price == 96.99


# -- positions, P&L and commissions ----------------------------------------------

def test_round_trip_realized_pnl_is_net_of_both_commissions(sim, ib, aapl):
    buy = ib.placeOrder(aapl, MarketOrder("BUY", 100))
    wait_status(ib, buy, "Filled")
    sim.set_price("AAPL", "102.00")
    sell = ib.placeOrder(aapl, MarketOrder("SELL", 100))
    wait_status(ib, sell, "Filled")
    wait_until(ib, lambda: sell.fills and sell.fills[0].commissionReport.commission,
               what="commission report of the closing fill")

    expected = (Decimal("101.99") - Decimal("100.01")) * 100 - 2 * Decimal("1.00")
    assert expected == Decimal("196.00")
    pos = sim.positions()["AAPL"]
    assert (pos["qty"], pos["realized"]) == (0, expected)
    values = sim.account_values()
    assert values["RealizedPnL"] == expected
    assert values["TotalCashValue"] == Decimal("1000000") + expected
    assert [e["realized"] for e in sim.executions()] == [None, expected]
    assert buy.fills[0].commissionReport.commission == 1.0
    assert buy.fills[0].commissionReport.realizedPNL == 0.0
    assert sell.fills[0].commissionReport.commission == 1.0
    assert sell.fills[0].commissionReport.realizedPNL == pytest.approx(196.00)


def test_average_cost_includes_the_commission(sim, ib, aapl):
    trade = ib.placeOrder(aapl, MarketOrder("BUY", 1000))
    wait_status(ib, trade, "Filled")
    pos = sim.positions()["AAPL"]
    assert sim.executions()[0]["commission"] == Decimal("5.00")  # 1000 x $0.005
    assert pos["avg_cost"] == Decimal("100.01") + Decimal("5.00") / 1000
    wait_until(ib, lambda: ib.positions(), what="position message")
    assert ib.positions()[0].avgCost == pytest.approx(100.015)


@pytest.mark.parametrize(("qty", "price", "fee"), [
    (100, "100.00", "1.00"),    # 100 x $0.005 = $0.50: the $1.00 minimum applies
    (1000, "100.00", "5.00"),   # $0.005 per share
    (50, "1.00", "0.505"),      # bought at 1.01: 1% of the $50.50 value caps the minimum
])
def test_fixed_rate_commission(sim, ib, aapl, qty, price, fee):
    sim.set_price("AAPL", price)
    trade = ib.placeOrder(aapl, MarketOrder("BUY", qty))
    wait_status(ib, trade, "Filled")
    wait_until(ib, lambda: trade.fills[0].commissionReport.commission, what="commission")
    assert sim.executions()[0]["commission"] == Decimal(fee)
    assert trade.fills[0].commissionReport.commission == pytest.approx(float(fee))


def test_commission_minimum_is_charged_once_per_order_over_partial_fills(sim, ib, aapl):
    sim.set_partial_fills(30)
    trade = ib.placeOrder(aapl, MarketOrder("BUY", 100))
    wait_status(ib, trade, "Filled")
    wait_until(ib, lambda: len(trade.fills) == 4, what="four partial fills")
    assert [e["shares"] for e in sim.executions()] == [30, 30, 30, 10]
    assert [e["commission"] for e in sim.executions()] == [Decimal("1")] + [Decimal(0)] * 3
    assert sim.order(trade.order.orderId)["commission"] == Decimal("1.00")
    assert sim.account_values()["TotalCashValue"] == Decimal("1000000") - Decimal(
        "10001") - 1
    assert sum(f.commissionReport.commission for f in trade.fills) == pytest.approx(1.0)


def test_short_round_trip_realized_pnl_is_net_of_both_commissions(sim, ib, aapl):
    short = ib.placeOrder(aapl, MarketOrder("SELL", 100))
    wait_status(ib, short, "Filled")
    assert sim.positions()["AAPL"]["avg_cost"] == Decimal("99.98")  # proceeds less $1
    sim.set_price("AAPL", "98.00")
    cover = ib.placeOrder(aapl, MarketOrder("BUY", 100))
    wait_status(ib, cover, "Filled")
    wait_until(ib, lambda: cover.fills[0].commissionReport.commission, what="commission")
    expected = (Decimal("99.99") - Decimal("98.01")) * 100 - 2
    assert sim.positions()["AAPL"]["realized"] == expected == Decimal("196.00")
    assert cover.fills[0].commissionReport.realizedPNL == pytest.approx(196.00)
    assert sim.account_values()["TotalCashValue"] == Decimal("1000000") + expected


def test_modifying_a_trail_keeps_its_ratcheted_stop_unless_the_stop_is_rewritten(
        sim, ib, aapl):
    order = trail("SELL", 100, auxPrice=2.00, trailStopPrice=99.00)
    trade = ib.placeOrder(aapl, order)
    wait_status(ib, trade, "PreSubmitted")
    sim.set_price("AAPL", "105.00")
    sim.set_price("AAPL", "104.00")
    assert sim.order(order.orderId)["trail_stop"] == Decimal("103.00")

    order.totalQuantity = 50  # trailStopPrice is re-sent unchanged: the stop must not drop
    ib.placeOrder(aapl, order)
    wait_until(ib, lambda: trade.orderStatus.remaining == 50, what="the new quantity")
    assert sim.order(order.orderId)["trail_stop"] == Decimal("103.00")

    order.trailStopPrice = 103.50  # writing trailStopPrice is how a trail is moved
    ib.placeOrder(aapl, order)
    wait_until(ib, lambda: sim.order(order.orderId)["trail_stop"] == Decimal("103.50"),
               what="the moved stop")
    sim.set_price("AAPL", "103.50")
    wait_status(ib, trade, "Filled")
    assert trade.orderStatus.filled == 50


def test_modifying_an_order_conditioned_on_another_symbol(sim, ib, aapl):
    errors = []
    ib.errorEvent += lambda req_id, code, text, contract: errors.append(code)
    sim.set_price("MSFT", "400.00")
    cond = PriceCondition(price=410.0, conId=272093, exch="SMART", isMore=True)
    order = LimitOrder("BUY", 100, 95.00, conditions=[cond])
    trade = ib.placeOrder(aapl, order)
    wait_status(ib, trade, "PreSubmitted")
    order.lmtPrice = 96.00
    ib.placeOrder(aapl, order)
    wait_until(ib, lambda: sim.order(order.orderId)["lmt_price"] == Decimal("96.0"),
               what="the modification at the broker")
    settle(ib)
    assert trade.orderStatus.status == "PreSubmitted" and errors == []
    sim.set_price("MSFT", "410.00")
    wait_status(ib, trade, "Submitted")
