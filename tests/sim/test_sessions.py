"""US-equity trading sessions (``SimConfig(sessions="us_equity")``), through ib_insync over TCP.

The simulator's clock is moved across the open and the close with ``SimThread.set_time``
(Monday 24 and Tuesday 25 August 2026, the days of the live captures these rules come
from); each test asserts what the client sees (warnings 399/2109, statuses) and the
simulator's own orders, executions and positions. Rules and evidence: docs/simulator.md,
"Trading sessions", and ``backend/sim/sessions.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from ib_insync import (
    IB,
    LimitOrder,
    MarketOrder,
    Order,
    PriceCondition,
    Stock,
    StopOrder,
    Trade,
)

from backend.sim import SimThread
from backend.sim.cli import build_parser, config_from_args
from tests.sim.conftest import connect, quiet_config, wait_until
from tests.sim.orderkit import dec, wait_status

ET = ZoneInfo("America/New_York")
ACCOUNT = "DU1234567"
IGNORED_2109 = ("Order Event Warning:Attribute 'Outside Regular Trading Hours' is ignored "
                "based on the order type and destination. PlaceOrder is now being processed.")


def et(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """A moment in August 2026, US/Eastern (the 24th is a Monday)."""
    return datetime(2026, 8, day, hour, minute, second, tzinfo=ET)


def held_399(action: str, qty: int, until: str) -> str:
    """IB's 399 text as ``api_bracket_place_aapl`` (24 Aug 2026, after hours) carries it."""
    return (f"Order Message:\n{action} {qty} AAPL NASDAQ.NMS\nWarning: Your order will not be "
            f"placed at the exchange until {until} US/Eastern.")


@pytest.fixture
def sim() -> Iterator[SimThread]:
    """Overrides conftest's: the same quiet market, with IB's session rules on."""
    with SimThread(quiet_config(sessions="us_equity")) as thread:
        thread.set_price("AAPL", "100.00")
        yield thread


class Warnings:
    """Every error/warning the client received, per order id."""

    def __init__(self, ib: IB) -> None:
        self.seen: list[tuple[int, int, str]] = []
        ib.errorEvent += lambda req_id, code, text, _contract: self.seen.append(
            (req_id, code, text))

    def of(self, trade: Trade) -> list[tuple[int, str]]:
        return [(code, text) for req_id, code, text in self.seen
                if req_id == trade.order.orderId]


@pytest.fixture
def warnings(ib: IB) -> Warnings:
    return Warnings(ib)


def place(ib: IB, contract, order) -> Trade:
    order.account = ACCOUNT
    return ib.placeOrder(contract, order)


def twice(sim: SimThread, price: str) -> None:
    """Two last prints at ``price`` of the same size: what IB's "Last" trigger counts."""
    sim.set_price("AAPL", price, size=100)
    sim.set_price("AAPL", price, size=100)


# -- MKT outside regular hours ---------------------------------------------------------------

def test_market_order_after_hours_is_held_with_399_and_fills_at_the_open(sim, ib, aapl,
                                                                          warnings):
    sim.set_time(et(24, 17, 6, 44))  # when api_bracket_place_aapl was captured
    assert sim.session() == "after hours"
    trade = place(ib, aapl, MarketOrder("BUY", 1, outsideRth=True))
    wait_until(ib, lambda: len(warnings.of(trade)) == 2, what="2109 and 399")
    assert warnings.of(trade) == [(2109, IGNORED_2109),
                                  (399, held_399("BUY", 1, "2026-08-25 09:30:00"))]
    assert trade.orderStatus.status == "PreSubmitted" and trade.orderStatus.whyHeld == ""
    [state] = sim.orders()
    assert (state["held_by"], state["filled"]) == ("session", 0)
    assert sim.executions() == [] and "AAPL" not in sim.positions()

    observer = connect(sim, 2)  # IB resets outsideRth on a MKT order (ib_insync #141)
    try:
        [echo] = [t for t in observer.reqAllOpenOrders() if t.order.orderId == state["order_id"]]
        assert echo.order.outsideRth is False
    finally:
        observer.disconnect()

    sim.set_time(et(25, 4, 0))  # the pre-market does not release a MKT order
    sim.set_time(et(25, 9, 29, 59))  # set_time evaluates every order before it returns
    assert sim.order(trade.order.orderId)["held_by"] == "session" and sim.executions() == []
    sim.set_time(et(25, 9, 30))
    wait_status(ib, trade, "Filled")
    assert trade.orderStatus.avgFillPrice == pytest.approx(100.01)  # the ask at the open
    assert sim.positions()["AAPL"]["qty"] == 1


def test_market_order_during_regular_hours_fills_at_once_without_warnings(sim, ib, aapl,
                                                                            warnings):
    sim.set_time(et(25, 10, 0))
    trade = place(ib, aapl, MarketOrder("BUY", 5))
    wait_status(ib, trade, "Filled")  # any warning is sent before the fill, so it is here
    assert warnings.of(trade) == []
    assert sim.positions()["AAPL"]["qty"] == 5


# -- limits: outsideRth honoured ---------------------------------------------------------------

def test_marketable_limit_without_outside_rth_waits_in_the_pre_market_for_the_open(
        sim, ib, aapl, warnings):
    sim.set_time(et(25, 8, 0))
    assert sim.session() == "pre-market"
    trade = place(ib, aapl, LimitOrder("BUY", 10, 101.00))  # marketable: the ask is 100.01
    wait_until(ib, lambda: warnings.of(trade), what="399")
    assert warnings.of(trade) == [(399, held_399("BUY", 10, "2026-08-25 09:30:00"))]
    wait_status(ib, trade, "PreSubmitted")
    assert sim.order(trade.order.orderId)["held_by"] == "session"
    sim.set_time(et(25, 9, 30, 0))
    wait_status(ib, trade, "Filled")
    assert trade.orderStatus.avgFillPrice == pytest.approx(100.01)


@pytest.mark.parametrize("moment", [et(25, 7, 15), et(24, 17, 30)], ids=["pre", "after"])
def test_limit_with_outside_rth_trades_in_the_extended_sessions(sim, ib, aapl, warnings,
                                                                 moment):
    sim.set_time(moment)
    trade = place(ib, aapl, LimitOrder("BUY", 10, 101.00, outsideRth=True, tif="GTC"))
    wait_status(ib, trade, "Filled")  # warnings precede the fill on the wire
    assert warnings.of(trade) == []  # IB keeps outsideRth on a LMT: no 2109, no 399
    assert sim.positions()["AAPL"]["qty"] == 10


def test_nothing_trades_while_the_market_is_closed(sim, ib, aapl, warnings):
    sim.set_time(et(24, 21, 0))  # after 20:00
    assert sim.session() == "closed"
    trade = place(ib, aapl, LimitOrder("BUY", 10, 101.00, outsideRth=True, tif="GTC"))
    wait_until(ib, lambda: warnings.of(trade), what="399")
    # an order that keeps outsideRth is next placed when the pre-market opens (no public
    # evidence of this text's time: docs/simulator.md names it for paper-check)
    assert warnings.of(trade) == [(399, held_399("BUY", 10, "2026-08-25 04:00:00"))]
    sim.set_time(et(25, 4, 0))
    wait_status(ib, trade, "Filled")


def test_at_the_weekend_a_day_order_is_warned_399_and_a_gtc_order_is_held_quietly(
        sim, ib, aapl, warnings):
    """empty_tif_default_aapl (Saturday 29 August 2026, sv225): a DAY LMT echoed
    PreSubmitted, then 399 naming Monday 09:30. api_reconnect_recovered_cancel_status_aapl
    and api_open_orders_refresh_aapl (Saturday 4 July 2026): GTC LMTs PreSubmitted, no 399
    over several round trips (docs/simulator.md, "Trading sessions")."""
    sim.set_time(et(22, 10, 23))  # Saturday 22 August
    assert sim.session() == "closed"
    day = place(ib, aapl, LimitOrder("BUY", 10, 101.00, tif="DAY"))
    gtc = place(ib, aapl, LimitOrder("BUY", 10, 100.50, tif="GTC"))
    wait_until(ib, lambda: warnings.of(day), what="399")
    wait_status(ib, gtc, "PreSubmitted")
    ib.reqOpenOrders()  # a round trip: a 399 sent after the status has arrived by now
    assert warnings.of(day) == [(399, held_399("BUY", 10, "2026-08-24 09:30:00"))]
    assert warnings.of(gtc) == []
    assert [sim.order(t.order.orderId)["status"] for t in (day, gtc)] == ["PreSubmitted"] * 2
    sim.set_time(et(24, 9, 30))
    wait_status(ib, day, "Filled")
    wait_status(ib, gtc, "Filled")


# -- stops: outsideRth ignored, triggers in regular hours only --------------------------------

def hold_position(sim, ib, aapl, qty: int = 100) -> None:
    sim.set_time(et(24, 10, 0))
    trade = place(ib, aapl, MarketOrder("BUY", qty))
    wait_status(ib, trade, "Filled")


def test_stop_in_the_pre_market_ignores_outside_rth_and_triggers_only_after_the_open(
        sim, ib, aapl, warnings):
    hold_position(sim, ib, aapl)
    sim.set_time(et(25, 7, 0))
    stop = place(ib, aapl, StopOrder("SELL", 100, 95.00, outsideRth=True, tif="GTC"))
    wait_until(ib, lambda: len(warnings.of(stop)) == 2, what="2109 and 399")
    assert warnings.of(stop) == [(2109, IGNORED_2109),
                                 (399, held_399("SELL", 100, "2026-08-25 09:30:00"))]
    wait_status(ib, stop, "PreSubmitted")
    assert stop.orderStatus.whyHeld == "trigger"
    with sim.paused():
        twice(sim, "94.00")  # through the stop in the pre-market: it must not trigger
        sim.match()
        assert sim.order(stop.order.orderId)["triggered"] is False
        sim.set_time(et(25, 9, 30))  # yesterday's and the pre-market's prints do not count
        assert sim.order(stop.order.orderId)["triggered"] is False
        sim.set_price("AAPL", "94.00", size=100)  # one regular-hours print, no size increase
        assert sim.order(stop.order.orderId)["triggered"] is False
        sim.set_price("AAPL", "94.00", size=100)  # the second consecutive print
    wait_status(ib, stop, "Filled")
    assert sim.positions()["AAPL"]["qty"] == 0
    assert sim.executions()[-1]["price"] == dec("93.99")


def test_stop_limit_keeps_outside_rth_and_triggers_in_the_pre_market(sim, ib, aapl, warnings):
    hold_position(sim, ib, aapl)
    sim.set_time(et(25, 7, 0))
    order = StopOrder("SELL", 100, 95.00, outsideRth=True, tif="GTC")
    order.orderType, order.lmtPrice = "STP LMT", 94.50
    stop = place(ib, aapl, order)
    wait_status(ib, stop, "PreSubmitted")
    with sim.paused():
        twice(sim, "94.80")
    wait_status(ib, stop, "Filled")
    assert warnings.of(stop) == []
    assert sim.executions()[-1]["price"] == dec("94.79")  # the bid, above the 94.50 limit


def test_stop_placed_in_regular_hours_stops_triggering_after_the_close(sim, ib, aapl):
    hold_position(sim, ib, aapl)
    stop = place(ib, aapl, StopOrder("SELL", 100, 95.00, tif="GTC"))
    wait_status(ib, stop, "PreSubmitted")
    sim.set_time(et(24, 16, 0))
    with sim.paused():
        twice(sim, "94.00")
        assert sim.order(stop.order.orderId)["held_by"] == "session"
        assert sim.order(stop.order.orderId)["triggered"] is False
        sim.set_time(et(25, 9, 30))
        twice(sim, "94.00")
    wait_status(ib, stop, "Filled")


# -- IB's "Last" trigger method (also when always open) ---------------------------------------

def test_stop_needs_two_prints_or_one_on_a_size_increase_when_always_open(
        event_loop_for_ib):
    with SimThread(quiet_config()) as always:
        ib = connect(always)
        try:
            assert always.session() == "regular hours"
            always.set_price("AAPL", "100.00", size=100)
            [aapl] = ib.qualifyContracts(Stock("AAPL", "SMART", "USD"))
            first = place(ib, aapl, StopOrder("SELL", 10, 98.00, tif="GTC"))
            second = place(ib, aapl, StopOrder("SELL", 10, 97.00, tif="GTC"))
            wait_status(ib, second, "PreSubmitted")
            with always.paused():
                always.set_price("AAPL", "96.00", size=100)  # one print, the same size
                assert [always.order(t.order.orderId)["triggered"] for t in (first, second)] \
                    == [False, False]
                always.set_price("AAPL", "96.00", size=100)  # the second consecutive print
                assert always.order(first.order.orderId)["triggered"]
            wait_status(ib, first, "Filled")
            wait_status(ib, second, "Filled")

            third = place(ib, aapl, StopOrder("SELL", 10, 95.00, tif="GTC"))
            wait_status(ib, third, "PreSubmitted")
            with always.paused():
                always.set_price("AAPL", "95.00", size=900)  # one print on a size increase
                assert always.order(third.order.orderId)["triggered"]
            wait_status(ib, third, "Filled")
        finally:
            ib.disconnect()


# -- conditions --------------------------------------------------------------------------------

def price_condition(aapl, price: float) -> PriceCondition:
    return PriceCondition(price=price, conId=aapl.conId, exch="SMART", isMore=True,
                          triggerMethod=0)


def test_conditions_are_evaluated_in_regular_hours_only(sim, ib, aapl, warnings):
    sim.set_time(et(24, 17, 0))
    sim.set_price("AAPL", "102.00")
    order = LimitOrder("BUY", 10, 90.00, tif="GTC", conditions=[price_condition(aapl, 101)])
    trade = place(ib, aapl, order)
    wait_until(ib, lambda: warnings.of(trade), what="399")
    with sim.paused():
        twice(sim, "102.00")
        assert sim.order(trade.order.orderId)["held_by"] == "conditions"
        sim.set_time(et(25, 8, 0))
        twice(sim, "102.00")  # the pre-market's prints neither activate it nor count later
        assert sim.order(trade.order.orderId)["held_by"] == "conditions"
        sim.set_time(et(25, 9, 30))
        assert sim.order(trade.order.orderId)["held_by"] == "conditions"
        twice(sim, "102.00")
        assert sim.order(trade.order.orderId)["held_by"] is None
    wait_status(ib, trade, "Submitted")


def test_conditions_ignore_rth_activate_outside_regular_hours(sim, ib, aapl, warnings):
    sim.set_time(et(24, 17, 0))
    order = LimitOrder("BUY", 10, 102.50, tif="GTC", outsideRth=True,
                       conditions=[price_condition(aapl, 101)], conditionsIgnoreRth=True)
    trade = place(ib, aapl, order)
    wait_status(ib, trade, "PreSubmitted")
    with sim.paused():
        twice(sim, "102.00")
    wait_status(ib, trade, "Filled")  # activated and executed after hours
    assert warnings.of(trade) == []
    assert sim.positions()["AAPL"]["qty"] == 10


def test_gtc_conditional_order_not_executed_that_day_waits_for_its_condition_again(
        sim, ib, aapl):
    sim.set_time(et(24, 10, 0))
    order = LimitOrder("BUY", 10, 90.00, tif="GTC", conditions=[price_condition(aapl, 101)])
    trade = place(ib, aapl, order)
    wait_status(ib, trade, "PreSubmitted")
    with sim.paused():
        twice(sim, "101.50")
    wait_status(ib, trade, "Submitted")  # activated; its limit is far below: no fill
    sim.set_price("AAPL", "100.00")
    sim.set_time(et(25, 9, 30))  # the next day: IB's conditional-orders page
    wait_status(ib, trade, "PreSubmitted")
    assert sim.order(trade.order.orderId)["held_by"] == "conditions"
    with sim.paused():
        twice(sim, "101.50")
    wait_status(ib, trade, "Submitted")
    assert not [e for e in sim.executions() if e["order_id"] == trade.order.orderId]


# -- DAY orders expire at the close ------------------------------------------------------------

def test_day_orders_expire_at_the_close_or_at_20_with_outside_rth_and_gtc_carries_over(
        sim, ib, aapl):
    sim.set_time(et(24, 15, 0))
    day = place(ib, aapl, LimitOrder("BUY", 10, 90.00))
    extended = place(ib, aapl, LimitOrder("BUY", 10, 90.00, outsideRth=True))
    gtc = place(ib, aapl, LimitOrder("BUY", 10, 90.00, tif="GTC"))
    for trade in (day, extended, gtc):
        wait_status(ib, trade, "Submitted")
    sim.set_time(et(24, 15, 59, 59))
    assert sim.order(day.order.orderId)["status"] == "Submitted"
    sim.set_time(et(24, 16, 0))
    wait_status(ib, day, "Cancelled")
    assert extended.orderStatus.status == "Submitted"  # works on in the after hours
    sim.set_time(et(24, 20, 0))
    wait_status(ib, extended, "Cancelled")
    assert sim.order(gtc.order.orderId)["status"] == "PreSubmitted"  # held overnight
    sim.set_time(et(25, 9, 30))
    wait_status(ib, gtc, "Submitted")
    assert [o["status"] for o in sim.orders()] == ["Cancelled", "Cancelled", "Submitted"]


def test_crossing_the_close_runs_the_closing_auction_before_day_orders_expire(sim, ib, aapl):
    sim.set_time(et(24, 15, 0))
    moc = place(ib, aapl, Order(action="BUY", totalQuantity=10, orderType="MOC"))
    loc = place(ib, aapl, Order(action="BUY", totalQuantity=10, orderType="LOC", lmtPrice=99.0))
    wait_status(ib, moc, "PreSubmitted")
    wait_status(ib, loc, "PreSubmitted")
    sim.set_time(et(24, 15, 59, 59))
    assert sim.executions() == []
    sim.set_time(et(24, 16, 0))
    wait_status(ib, moc, "Filled")  # at the last, 100.00
    wait_status(ib, loc, "Cancelled")  # the close is above its 99.00 limit: it expires
    assert [(e["order_id"], e["price"]) for e in sim.executions()] == [
        (moc.order.orderId, dec("100.00"))]
    assert sim.positions()["AAPL"]["qty"] == 10


def test_day_order_placed_after_the_close_lives_until_the_next_close(sim, ib, aapl):
    sim.set_time(et(24, 17, 6))
    trade = place(ib, aapl, LimitOrder("BUY", 10, 90.00))
    wait_status(ib, trade, "PreSubmitted")
    sim.set_time(et(25, 9, 30))
    wait_status(ib, trade, "Submitted")
    sim.set_time(et(25, 16, 0))
    wait_status(ib, trade, "Cancelled")


# -- configuration -----------------------------------------------------------------------------

def test_sessions_flag_and_setting():
    args = build_parser().parse_args(["--sessions", "us_equity"])
    assert config_from_args(args).sessions == "us_equity"
    assert config_from_args(build_parser().parse_args([])).sessions == "always_open"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--sessions", "nyse"])
    with pytest.raises(ValueError, match="sessions"):
        quiet_config(sessions="nyse")


def test_set_time_needs_an_aware_moment(sim):
    with pytest.raises(ValueError, match="timezone-aware"):
        sim.set_time(datetime(2026, 8, 25, 9, 30))
    sim.set_time(et(25, 9, 30))
    assert abs(sim.now() - et(25, 9, 30).timestamp()) < 5


def test_quantities_in_399_are_whole_numbers():
    from backend.sim.models import ContractRef, Instrument, OrderSpec
    from backend.sim.sessions import held_text

    spec = OrderSpec(1, ContractRef(symbol="AAPL"), "SELL", Decimal("300"), "LMT")
    text = held_text(spec, Instrument("AAPL", 265598), et(25, 9, 30))
    assert text == held_399("SELL", 300, "2026-08-25 09:30:00")
