"""goodAfterTime, order conditions (both modes, and/or), and time in force, over TCP.

Time-driven behaviour is tested by moving the simulator's clock
(``sim.advance_time``), never by sleeping: an order "10 minutes from now" is
10 minutes ahead of ``sim.now()``.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from ib_insync import LimitOrder, MarketOrder, PriceCondition, StopOrder, TimeCondition

from tests.sim.orderkit import ib_time, settle, wait_status

AAPL_CONID = 265598
MSFT_CONID = 272093


@pytest.fixture(autouse=True)
def at_100(sim):
    sim.set_price("AAPL", "100.00")


def price_above(level: float, con_id: int = AAPL_CONID, conjunction: str = "a"):
    return PriceCondition(price=level, conId=con_id, exch="SMART", isMore=True,
                          conjunction=conjunction)


# -- goodAfterTime ----------------------------------------------------------------

@pytest.mark.parametrize("spelling", ["utc", "dashed", "zone"])
def test_good_after_time_holds_the_order_until_it_comes_due(sim, ib, aapl, spelling):
    due = sim.now() + 600
    gat = {"utc": ib_time(due), "dashed": ib_time(due, dashed=True),
           "zone": _in_new_york(due)}[spelling]
    trade = ib.placeOrder(aapl, MarketOrder("BUY", 100, goodAfterTime=gat))
    wait_status(ib, trade, "PreSubmitted")
    oid = trade.order.orderId
    assert sim.order(oid)["held_by"] == "good_after_time"
    sim.advance_time(590)
    sim.match(2)
    settle(ib)
    assert sim.executions() == [] and trade.orderStatus.status == "PreSubmitted"

    sim.advance_time(11)
    wait_status(ib, trade, "Filled")
    assert trade.fills[0].execution.price == 100.01
    assert sim.order(oid)["held_by"] is None


def _in_new_york(epoch: float) -> str:
    from datetime import datetime
    from zoneinfo import ZoneInfo
    return datetime.fromtimestamp(epoch, ZoneInfo("US/Eastern")).strftime(
        "%Y%m%d %H:%M:%S US/Eastern")


def test_good_after_time_in_the_past_works_at_once(sim, ib, aapl):
    trade = ib.placeOrder(aapl, MarketOrder("BUY", 100, goodAfterTime=ib_time(sim.now() - 60)))
    wait_status(ib, trade, "Filled")
    assert sim.order(trade.order.orderId)["held_by"] is None
    assert sim.positions()["AAPL"]["qty"] == 100


# -- price conditions -------------------------------------------------------------

def test_price_condition_activates_the_order_when_met(sim, ib, aapl):
    order = MarketOrder("BUY", 100, conditions=[price_above(101.0)],
                        conditionsCancelOrder=False)
    trade = ib.placeOrder(aapl, order)
    wait_status(ib, trade, "PreSubmitted")
    assert sim.order(order.orderId)["held_by"] == "conditions"
    sim.set_price("AAPL", "100.99")
    sim.match(2)
    settle(ib)
    assert sim.executions() == []

    sim.set_price("AAPL", "101.00")
    wait_status(ib, trade, "Filled")
    assert trade.fills[0].execution.price == 101.01


def test_activated_order_stays_active_when_the_condition_turns_false(sim, ib, aapl):
    order = LimitOrder("BUY", 100, 99.00, conditions=[price_above(101.0)])
    trade = ib.placeOrder(aapl, order)
    wait_status(ib, trade, "PreSubmitted")
    sim.set_price("AAPL", "101.00")
    wait_status(ib, trade, "Submitted")  # activated: a working limit at 99, not marketable
    sim.set_price("AAPL", "98.99")       # the condition is false again, the order still works
    wait_status(ib, trade, "Filled")
    assert sim.executions()[0]["price"] == Decimal("99.00")


def test_price_condition_cancel_mode_cancels_a_working_order(sim, ib, aapl):
    order = LimitOrder("BUY", 100, 95.00, conditions=[price_above(101.0)],
                       conditionsCancelOrder=True)
    trade = ib.placeOrder(aapl, order)
    wait_status(ib, trade, "Submitted")  # it works from the start
    assert sim.order(order.orderId)["held_by"] is None
    sim.set_price("AAPL", "100.99")
    sim.match(2)
    assert sim.order(order.orderId)["status"] == "Submitted"
    sim.set_price("AAPL", "101.00")
    wait_status(ib, trade, "Cancelled")
    assert sim.order(order.orderId)["status"] == "Cancelled"
    assert trade.fills == [] and trade.log[-1].status == "Cancelled"


def test_cancel_mode_order_can_fill_before_its_condition(sim, ib, aapl):
    order = StopOrder("SELL", 100, 98.00, conditions=[price_above(105.0)],
                      conditionsCancelOrder=True)
    trade = ib.placeOrder(aapl, order)
    wait_status(ib, trade, "PreSubmitted")
    assert trade.orderStatus.whyHeld == "trigger"
    sim.set_price("AAPL", "97.50")
    wait_status(ib, trade, "Filled")


def test_condition_on_another_symbol(sim, ib, aapl):
    sim.set_price("MSFT", "400.00")
    order = MarketOrder("BUY", 100, conditions=[price_above(410.0, MSFT_CONID)])
    trade = ib.placeOrder(aapl, order)
    wait_status(ib, trade, "PreSubmitted")
    sim.set_price("MSFT", "409.99")
    settle(ib)
    assert sim.executions() == []
    sim.set_price("MSFT", "410.00")  # only MSFT moved; the AAPL order must notice
    wait_status(ib, trade, "Filled")
    assert sim.executions()[0]["symbol"] == "AAPL"


# -- time conditions --------------------------------------------------------------

def test_time_condition_activates_the_order_when_due(sim, ib, aapl):
    when = ib_time(sim.now() + 300)
    order = MarketOrder("BUY", 100, conditions=[TimeCondition(isMore=True, time=when)])
    trade = ib.placeOrder(aapl, order)
    wait_status(ib, trade, "PreSubmitted")
    assert sim.order(order.orderId)["held_by"] == "conditions"
    sim.advance_time(290)
    settle(ib)
    assert sim.executions() == []
    sim.advance_time(11)
    wait_status(ib, trade, "Filled")


def test_time_condition_cancel_mode_cancels_when_due(sim, ib, aapl):
    when = ib_time(sim.now() + 300)
    order = LimitOrder("BUY", 100, 95.00, conditions=[TimeCondition(isMore=True, time=when)],
                       conditionsCancelOrder=True)
    trade = ib.placeOrder(aapl, order)
    wait_status(ib, trade, "Submitted")
    sim.advance_time(290)
    sim.match()
    assert sim.order(order.orderId)["status"] == "Submitted"
    sim.advance_time(11)
    wait_status(ib, trade, "Cancelled")


# -- conjunctions -----------------------------------------------------------------

def _two_conditions(sim, conjunction: str):
    when = ib_time(sim.now() + 300)
    return [price_above(101.0, conjunction=conjunction), TimeCondition(isMore=True, time=when)]


def test_and_conjunction_needs_both_conditions(sim, ib, aapl):
    order = MarketOrder("BUY", 100, conditions=_two_conditions(sim, "a"))
    trade = ib.placeOrder(aapl, order)
    wait_status(ib, trade, "PreSubmitted")
    sim.set_price("AAPL", "101.00")  # price met, time not yet
    sim.match(2)
    settle(ib)
    assert sim.executions() == [] and sim.order(order.orderId)["held_by"] == "conditions"
    sim.advance_time(301)
    wait_status(ib, trade, "Filled")


def test_or_conjunction_needs_either_condition(sim, ib, aapl):
    order = MarketOrder("BUY", 100, conditions=_two_conditions(sim, "o"))
    trade = ib.placeOrder(aapl, order)
    wait_status(ib, trade, "PreSubmitted")
    sim.set_price("AAPL", "101.00")  # price met, time not: enough for "or"
    wait_status(ib, trade, "Filled")
    assert sim.order(order.orderId)["status"] == "Filled"
    assert sim.positions()["AAPL"]["qty"] == 100


def test_or_conjunction_time_alone_suffices(sim, ib, aapl):
    order = MarketOrder("BUY", 100, conditions=_two_conditions(sim, "o"))
    trade = ib.placeOrder(aapl, order)
    wait_status(ib, trade, "PreSubmitted")
    sim.advance_time(301)
    wait_status(ib, trade, "Filled")
    assert trade.fills[0].execution.price == 100.01


# -- time in force ----------------------------------------------------------------

def test_end_of_session_cancels_day_orders_and_keeps_gtc(sim, ib, aapl):
    day = ib.placeOrder(aapl, LimitOrder("BUY", 100, 95.00, tif="DAY"))
    gtc = ib.placeOrder(aapl, LimitOrder("BUY", 100, 94.00, tif="GTC"))
    held = ib.placeOrder(aapl, StopOrder("SELL", 100, 90.00, tif="DAY"))
    wait_status(ib, gtc, "Submitted")
    wait_status(ib, held, "PreSubmitted")
    sim.end_session()
    wait_status(ib, day, "Cancelled")
    wait_status(ib, held, "Cancelled")
    settle(ib)
    assert gtc.orderStatus.status == "Submitted"
    assert sim.order(gtc.order.orderId)["status"] == "Submitted"
    sim.set_price("AAPL", "93.99")  # the GTC order still works the next session
    wait_status(ib, gtc, "Filled")
    assert sim.order(day.order.orderId)["filled"] == 0


def test_ioc_fills_what_it_can_and_cancels_the_remainder(sim, ib, aapl):
    sim.set_partial_fills(30)
    trade = ib.placeOrder(aapl, LimitOrder("BUY", 100, 101.00, tif="IOC"))
    wait_status(ib, trade, "Cancelled")
    state = sim.order(trade.order.orderId)
    assert (state["filled"], state["remaining"], state["status"]) == (30, 70, "Cancelled")
    assert trade.orderStatus.filled == 30
    assert sum(f.execution.shares for f in trade.fills) == 30
    assert sim.positions()["AAPL"]["qty"] == 30


def test_ioc_that_cannot_trade_is_cancelled_at_once(sim, ib, aapl):
    trade = ib.placeOrder(aapl, LimitOrder("BUY", 100, 99.00, tif="IOC"))
    wait_status(ib, trade, "Cancelled")
    assert sim.executions() == []
    sim.set_price("AAPL", "98.00")
    sim.match()
    assert sim.executions() == []


def test_gtd_order_expires_at_its_date(sim, ib, aapl):
    until = ib_time(sim.now() + 3600)
    trade = ib.placeOrder(aapl, LimitOrder("BUY", 100, 95.00, tif="GTD", goodTillDate=until))
    wait_status(ib, trade, "Submitted")
    sim.advance_time(3590)
    sim.match()
    assert sim.order(trade.order.orderId)["status"] == "Submitted"
    sim.advance_time(11)
    wait_status(ib, trade, "Cancelled")
