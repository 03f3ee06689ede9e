"""Attached orders (brackets) and OCA groups, over TCP with a real ib_insync client.

OCA tests run with partial fills (``sim.set_partial_fills(30)``: at most 30 shares
per order per matching pass) and with the periodic ticks paused, so each
``set_price``/``match`` is exactly one matching pass and the state after one
partial fill can be inspected before the next pass fills more.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from ib_insync import (
    IB,
    Contract,
    LimitOrder,
    MarketOrder,
    Order,
    StopOrder,
    TimeCondition,
    Trade,
)

from tests.sim.conftest import wait_until
from tests.sim.orderkit import ib_time, log_statuses, settle, wait_status

ACCOUNT = "DU1234567"


@pytest.fixture(autouse=True)
def at_100(sim):
    sim.set_price("AAPL", "100.00")


def with_id(ib: IB, order: Order, **fields) -> Order:
    """Give ``order`` its id up front, as a chain needs its parent's id before sending."""
    order.orderId = ib.client.getReqId()
    order.account = ACCOUNT
    for name, value in fields.items():
        setattr(order, name, value)
    return order


def bracket(ib: IB, parent: Order, *children: Order) -> list[Order]:
    """parent + children, parentId set, only the last child transmitting the chain."""
    with_id(ib, parent, transmit=False)
    for i, child in enumerate(children):
        with_id(ib, child, parentId=parent.orderId, transmit=i == len(children) - 1)
    return [parent, *children]


def sold(sim) -> Decimal:
    return sum((e["shares"] for e in sim.executions() if e["side"] == "SLD"), Decimal(0))


def buy_position(sim, ib: IB, contract: Contract, qty: int = 100) -> None:
    trade = ib.placeOrder(contract, MarketOrder("BUY", qty))
    wait_status(ib, trade, "Filled")
    assert sim.positions()["AAPL"]["qty"] == qty


def wait_released(ib: IB, sim, count: int) -> None:
    """placeOrder only queues bytes: wait until the broker holds the transmitted chain."""
    wait_until(ib, lambda: len(sim.orders()) == count
               and not any(o["buffered"] for o in sim.orders()), what="the chain at the broker")


# -- brackets --------------------------------------------------------------------

def test_nothing_reaches_the_broker_until_the_last_child_transmits(sim, ib, aapl):
    parent, take, stop = bracket(ib, MarketOrder("BUY", 100), LimitOrder("SELL", 100, 105.00),
                                 StopOrder("SELL", 100, 95.00))
    t_parent = ib.placeOrder(aapl, parent)
    t_take = ib.placeOrder(aapl, take)
    wait_until(ib, lambda: len(sim.orders()) == 2, what="both orders at the broker")
    settle(ib)
    held = sim.orders()
    assert [(o["order_id"], o["buffered"], o["status"]) for o in held] == [
        (parent.orderId, True, "PendingSubmit"), (take.orderId, True, "PendingSubmit")]
    assert sim.executions() == [] and sim.positions() == {}
    for trade in (t_parent, t_take):  # the client was told nothing at all
        assert log_statuses(trade) == ["PendingSubmit"]
        assert trade.orderStatus.status == "PendingSubmit" and trade.orderStatus.permId == 0
    assert ib.reqAllOpenOrders() == []

    t_stop = ib.placeOrder(aapl, stop)
    wait_status(ib, t_parent, "Filled")
    wait_status(ib, t_take, "Submitted")
    wait_until(ib, lambda: t_stop.orderStatus.whyHeld == "trigger", what="stop armed")
    assert not any(o["buffered"] for o in sim.orders())
    assert sim.order(take.orderId)["status"] == "Submitted"
    assert sim.order(stop.orderId)["status"] == "PreSubmitted"
    assert sim.positions()["AAPL"]["qty"] == 100
    # the children were reported held before the parent filled and freed them
    assert log_statuses(t_take)[:3] == ["PendingSubmit", "PreSubmitted", "Submitted"]


def test_children_are_held_while_the_parent_rests_then_work_after_it_fills(sim, ib, aapl):
    parent, take, stop = ib.bracketOrder("BUY", 100, 99.00, 105.00, 95.00)
    trades = [ib.placeOrder(aapl, o) for o in (parent, take, stop)]
    t_parent, t_take, t_stop = trades
    wait_status(ib, t_parent, "Submitted")
    # api_bracket_place_aapl: a held LMT child is 'child', a held stop child 'child,trigger'
    wait_until(ib, lambda: t_take.orderStatus.whyHeld == "child"
               and t_stop.orderStatus.whyHeld == "child,trigger", what="children held")
    assert (t_take.orderStatus.status, t_stop.orderStatus.status) == ("PreSubmitted",) * 2
    for order, why in ((take, "child"), (stop, "child,trigger")):
        state = sim.order(order.orderId)
        assert (state["status"], state["held_by"], state["why_held"]) == (
            "PreSubmitted", "parent", why)

    sim.set_price("AAPL", "106.00")  # the take-profit is marketable but its parent unfilled
    sim.match(2)
    assert sim.executions() == [] and sim.order(take.orderId)["status"] == "PreSubmitted"
    sim.set_price("AAPL", "98.99")  # ask 99.00: the parent fills, its children start working
    wait_status(ib, t_parent, "Filled")
    assert sim.order(take.orderId)["status"] == "Submitted"
    assert sim.order(take.orderId)["held_by"] is None
    assert sim.order(stop.orderId)["why_held"] == "trigger"

    sim.set_price("AAPL", "105.01")  # bid 105.00 reaches the take-profit
    wait_status(ib, t_take, "Filled")
    wait_status(ib, t_stop, "Cancelled")
    assert sim.order(stop.orderId)["filled"] == 0
    assert sim.positions()["AAPL"]["qty"] == 0
    assert t_take.fills[0].execution.price == 105.00


def test_cancelling_an_unfilled_parent_cancels_its_children(sim, ib, aapl):
    parent, take, stop = ib.bracketOrder("BUY", 100, 99.00, 105.00, 95.00)
    trades = [ib.placeOrder(aapl, o) for o in (parent, take, stop)]
    wait_status(ib, trades[0], "Submitted")
    ib.cancelOrder(parent)
    for trade in trades:
        wait_status(ib, trade, "Cancelled")
    assert [o["status"] for o in sim.orders()] == ["Cancelled"] * 3
    sim.set_price("AAPL", "94.00")
    sim.match(2)
    assert sim.executions() == []


def test_bracket_children_without_oca_group_are_linked_one_fill_cancels_the_other(
        sim, ib, aapl):
    parent, take, stop = bracket(ib, MarketOrder("BUY", 100), LimitOrder("SELL", 100, 105.00),
                                 StopOrder("SELL", 100, 95.00))
    t_parent, t_take, t_stop = [ib.placeOrder(aapl, o) for o in (parent, take, stop)]
    wait_status(ib, t_parent, "Filled")
    perm = sim.order(parent.orderId)["perm_id"]
    for order in (take, stop):  # TWS gives bracket children an OCA group of its own
        state = sim.order(order.orderId)
        assert (state["oca_group"], state["oca_type"]) == (str(perm), 3)

    sim.set_price("AAPL", "94.00")  # gap through the stop
    wait_status(ib, t_stop, "Filled")
    wait_status(ib, t_take, "Cancelled")
    assert sim.order(take.orderId)["filled"] == 0
    assert sim.positions()["AAPL"]["qty"] == 0
    assert sold(sim) == 100


def test_bracket_child_partial_fill_reduces_the_other_child(sim, ib, aapl):
    parent, take, stop = bracket(ib, MarketOrder("BUY", 100), LimitOrder("SELL", 100, 105.00),
                                 StopOrder("SELL", 100, 95.00))
    t_parent, t_take, t_stop = [ib.placeOrder(aapl, o) for o in (parent, take, stop)]
    wait_status(ib, t_parent, "Filled")
    with sim.paused():
        sim.set_partial_fills(30)
        sim.set_price("AAPL", "105.01")
        assert sim.order(take.orderId)["filled"] == 30
        assert sim.order(stop.orderId)["total_qty"] == 70
        wait_until(ib, lambda: t_stop.order.totalQuantity == 70
                   and t_stop.orderStatus.remaining == 70, what="stop reduced at client")
        sim.match(3)
    wait_status(ib, t_take, "Filled")
    wait_status(ib, t_stop, "Cancelled")
    assert sold(sim) == 100 and sim.positions()["AAPL"]["qty"] == 0


# -- OCA groups ------------------------------------------------------------------

def oca_pair(ib: IB, contract: Contract, group: str, oca_type: int) -> tuple[Trade, Trade]:
    """Two sell limits above the market (101.00 and 101.50), one OCA group."""
    a = LimitOrder("SELL", 100, 101.00, account=ACCOUNT, ocaGroup=group, ocaType=oca_type)
    b = LimitOrder("SELL", 100, 101.50, account=ACCOUNT, ocaGroup=group, ocaType=oca_type)
    ta, tb = ib.placeOrder(contract, a), ib.placeOrder(contract, b)
    wait_status(ib, ta, "Submitted")
    wait_status(ib, tb, "Submitted")
    return ta, tb


def test_oca_type1_first_partial_fill_cancels_the_others(sim, ib, aapl):
    ta, tb = oca_pair(ib, aapl, "T1", 1)
    a, b = ta.order.orderId, tb.order.orderId
    with sim.paused():
        sim.set_partial_fills(30)
        sim.set_price("AAPL", "102.00")  # both marketable in this pass
        assert (sim.order(a)["filled"], sim.order(a)["status"]) == (30, "Submitted")
        assert (sim.order(b)["filled"], sim.order(b)["status"]) == (0, "Cancelled")
        wait_status(ib, tb, "Cancelled")
        assert ta.orderStatus.filled == 30 and ta.orderStatus.status == "Submitted"
        sim.match(3)  # the filling member works off its own remainder
    wait_status(ib, ta, "Filled")
    assert [e["shares"] for e in sim.executions()] == [30, 30, 30, 10]
    assert {e["order_id"] for e in sim.executions()} == {a}
    assert sold(sim) == 100


def test_oca_type2_reduces_siblings_and_blocks_so_only_one_executes(sim, ib, aapl):
    ta, tb = oca_pair(ib, aapl, "T2", 2)
    a, b = ta.order.orderId, tb.order.orderId
    with sim.paused():
        sim.set_partial_fills(30)
        sim.set_price("AAPL", "102.00")  # both marketable in this pass: only one may trade
        assert sim.order(a)["filled"] == 30 and sim.order(b)["filled"] == 0
        state = sim.order(b)
        assert (state["total_qty"], state["remaining"], state["status"]) == (70, 70, "Submitted")
        wait_until(ib, lambda: tb.order.totalQuantity == 70 and tb.orderStatus.remaining == 70,
                   what="reduced quantity via openOrder and orderStatus")

        sim.match()
        assert (sim.order(a)["filled"], sim.order(b)["total_qty"]) == (60, 40)
        assert sim.order(b)["filled"] == 0
        sim.match(2)
    wait_status(ib, ta, "Filled")
    wait_status(ib, tb, "Cancelled")
    assert sim.order(b)["filled"] == 0
    assert sold(sim) == 100  # no overfill
    assert sim.order(b)["total_qty"] == 0


def test_oca_type2_partly_filled_member_does_not_block_the_protective_stop(sim, ib, aapl):
    """A take-profit fills 30 and the market turns: the stop must still protect the rest."""
    buy_position(sim, ib, aapl)
    take = ib.placeOrder(aapl, LimitOrder("SELL", 100, 105.00, account=ACCOUNT,
                                          ocaGroup="TPSL", ocaType=2))
    stop = ib.placeOrder(aapl, StopOrder("SELL", 100, 95.00, account=ACCOUNT,
                                         ocaGroup="TPSL", ocaType=2))
    wait_status(ib, stop, "PreSubmitted")
    tp, sl = take.order.orderId, stop.order.orderId
    with sim.paused():
        sim.set_partial_fills(30)
        sim.set_price("AAPL", "105.01")
        assert sim.order(tp)["filled"] == 30 and sim.order(sl)["total_qty"] == 70
        sim.set_price("AAPL", "100.00")
        # the stop triggers while the take-profit rests: one print at or through the stop
        # on a size increase is enough for IB's default "Last" trigger method (TWS guide,
        # "Modify the Stop Trigger Method"; a print without it needs a second one)
        sim.set_price("AAPL", "94.00", size=5000)
        assert sim.order(sl)["filled"] == 30
        assert sim.order(tp)["remaining"] == 40  # 100 - its own 30 - the stop's 30
        sim.match(2)
    wait_status(ib, stop, "Filled")
    wait_status(ib, take, "Filled")  # reduced to the 30 it had executed: complete
    assert take.orderStatus.filled == 30 and take.order.totalQuantity == 30
    assert stop.orderStatus.filled == 70
    assert sim.positions()["AAPL"]["qty"] == 0
    assert sold(sim) == 100


def test_oca_type3_reduces_without_block_so_same_pass_members_overfill(sim, ib, aapl):
    ta, tb = oca_pair(ib, aapl, "T3", 3)
    a, b = ta.order.orderId, tb.order.orderId
    with sim.paused():
        sim.set_partial_fills(30)
        sim.set_price("AAPL", "102.00")
        assert sim.order(a)["filled"] == 30 and sim.order(b)["filled"] == 30  # both traded
        assert sim.order(a)["total_qty"] == 70 and sim.order(b)["total_qty"] == 70
        sim.match()
    wait_status(ib, ta, "Filled")
    wait_status(ib, tb, "Filled")
    assert sim.order(a)["filled"] == 60 and sim.order(b)["filled"] == 60
    assert sold(sim) == 120  # the group was meant to sell 100: IB's documented overfill risk
    assert sim.positions()["AAPL"]["qty"] == -120


def test_oca_type3_full_fills_in_one_pass_overfill_completely(sim, ib, aapl):
    ta, tb = oca_pair(ib, aapl, "T3full", 3)
    sim.set_price("AAPL", "102.00")
    wait_status(ib, ta, "Filled")
    wait_status(ib, tb, "Filled")
    assert sold(sim) == 200


# -- the three-leg exit group ----------------------------------------------------

def exit_group(ib: IB, sim, contract: Contract, group: str,
               time_leg: str = "gat") -> dict[str, Trade]:
    """Entry BUY 100 with a marketable limit; exits STP 95, TRAIL 3.00 and a time-exit MKT
    due in 10 minutes (goodAfterTime, or a TimeCondition), all children of the entry in one
    ocaType 2 group. The entry is a LMT because IB refuses a TRAIL child under a MKT parent
    with 328 (api_bracket_trailing_stop_aapl); 100.05 takes the ask (100.01) at once."""
    entry = LimitOrder("BUY", 100, 100.05)
    due = ib_time(sim.now() + 600)
    if time_leg == "gat":
        time_exit = MarketOrder("SELL", 100, goodAfterTime=due)
    else:
        time_exit = MarketOrder("SELL", 100, conditions=[TimeCondition(isMore=True, time=due)])
    legs = {
        "stop": StopOrder("SELL", 100, 95.00),
        "trail": Order(action="SELL", totalQuantity=100, orderType="TRAIL", auxPrice=3.00),
        "time": time_exit,
    }
    for leg in legs.values():
        leg.ocaGroup, leg.ocaType, leg.tif = group, 2, "GTC"
    bracket(ib, entry, *legs.values())
    trades = {"entry": ib.placeOrder(contract, entry)}
    trades.update({name: ib.placeOrder(contract, leg) for name, leg in legs.items()})
    wait_status(ib, trades["entry"], "Filled")
    wait_until(ib, lambda: all(trades[n].orderStatus.status == "PreSubmitted" for n in legs),
               what="every exit leg working")
    return trades


def test_exit_group_partial_fill_of_one_leg_leaves_the_rest_protected(sim, ib, aapl):
    trades = exit_group(ib, sim, aapl, "EXIT1")
    ids = {name: t.order.orderId for name, t in trades.items()}
    assert sim.order(ids["trail"])["trail_stop"] == Decimal("97.00")
    assert sim.order(ids["time"])["held_by"] == "good_after_time"
    with sim.paused():
        sim.set_partial_fills(30)
        # the trail (97.00) triggers, the stop (95) does not: one print through the trail
        # on a size increase triggers it (IB's "Last" method)
        sim.set_price("AAPL", "96.50", size=5000)
        assert sim.order(ids["trail"])["filled"] == 30
        assert sim.positions()["AAPL"]["qty"] == 70
        for name in ("stop", "time"):  # the other legs now cover exactly what is left
            state = sim.order(ids[name])
            assert (state["total_qty"], state["remaining"], state["filled"]) == (70, 70, 0)
            assert state["status"] == "PreSubmitted"
        wait_until(ib, lambda: trades["stop"].order.totalQuantity == 70
                   and trades["time"].order.totalQuantity == 70, what="legs reduced at client")
        sim.match(3)
    wait_status(ib, trades["trail"], "Filled")
    wait_status(ib, trades["stop"], "Cancelled")
    wait_status(ib, trades["time"], "Cancelled")
    assert sim.positions()["AAPL"]["qty"] == 0
    assert sold(sim) == 100


@pytest.mark.parametrize("time_leg", ["gat", "condition"])
def test_exit_group_time_leg_partially_fills_then_the_stop_takes_over(sim, ib, aapl, time_leg):
    trades = exit_group(ib, sim, aapl, f"EXIT2{time_leg}", time_leg)
    ids = {name: t.order.orderId for name, t in trades.items()}
    held_by = {"gat": "good_after_time", "condition": "conditions"}[time_leg]
    assert sim.order(ids["time"])["held_by"] == held_by
    with sim.paused():
        sim.set_partial_fills(30)
        sim.advance_time(601)  # the time exit comes due: one pass, 30 shares
        assert sim.order(ids["time"])["filled"] == 30
        assert sim.order(ids["stop"])["remaining"] == 70
        assert sim.order(ids["trail"])["remaining"] == 70
        # a crash on volume: stop and trail trigger on this one print (a size increase, IB's
        # "Last" method); one leg executes
        sim.set_price("AAPL", "94.00", size=5000)
        fills = {n: sim.order(ids[n])["filled"] for n in ("stop", "trail", "time")}
        assert fills == {"stop": 30, "trail": 0, "time": 30}
        sim.match(4)
    wait_until(ib, lambda: all(trades[n].isDone() for n in ("stop", "trail", "time")),
               what="the exit group to finish")
    assert sim.positions()["AAPL"]["qty"] == 0
    assert sold(sim) == 100
    assert sim.order(ids["trail"])["filled"] == 0


def test_cancelled_partly_filled_parent_cuts_children_to_the_shares_still_held(sim, ib, aapl):
    """Entry fills 60 of 100, the time exit sells 30, the entry is cancelled: the stop must
    protect the 30 still held, not the 60 the entry bought."""
    entry = LimitOrder("BUY", 100, 100.05)
    stop = StopOrder("SELL", 100, 95.00)
    time_exit = MarketOrder("SELL", 100, goodAfterTime=ib_time(sim.now() + 600))
    for leg in (stop, time_exit):
        leg.ocaGroup, leg.ocaType = "CUT", 2
    bracket(ib, entry, stop, time_exit)
    with sim.paused():
        sim.set_partial_fills(30)
        _, t_stop, t_time = [ib.placeOrder(aapl, o) for o in (entry, stop, time_exit)]
        wait_released(ib, sim, 3)
        sim.match()
        assert sim.order(entry.orderId)["filled"] == 60
        sim.set_price("AAPL", "101.00")  # the entry stops filling
        sim.advance_time(601)            # the time exit sells 30 of the 60
        assert sim.order(time_exit.orderId)["filled"] == 30
        assert sim.positions()["AAPL"]["qty"] == 30

        ib.cancelOrder(entry)  # (ib_insync may call a transmit=False order Cancelled at once)
        wait_until(ib, lambda: sim.order(entry.orderId)["status"] == "Cancelled",
                   what="the entry cancelled at the broker")
        assert sim.order(entry.orderId)["filled"] == 60
        assert sim.order(stop.orderId)["remaining"] == 30
        wait_until(ib, lambda: t_stop.order.totalQuantity == 30, what="stop cut at client")

        sim.set_partial_fills(None)
        sim.set_price("AAPL", "94.00")  # the stop triggers: it may sell only what is held
        sim.match(2)
    wait_until(ib, lambda: t_stop.isDone() and t_time.isDone(), what="exits done")
    assert sim.positions()["AAPL"]["qty"] == 0
    assert sold(sim) == 60


def test_oca_children_of_a_partly_filled_parent_share_its_filled_quantity(sim, ib, aapl):
    """While the entry is still working, an exit may sell only what the entry bought and
    the other exits have not already sold."""
    entry = LimitOrder("BUY", 100, 100.05)
    stop = StopOrder("SELL", 100, 95.00)
    time_exit = MarketOrder("SELL", 100, goodAfterTime=ib_time(sim.now() + 600))
    for leg in (stop, time_exit):
        leg.ocaGroup, leg.ocaType = "SHARE", 3  # no block: both may trade in one pass
    bracket(ib, entry, stop, time_exit)
    with sim.paused():
        sim.set_partial_fills(30)
        for order in (entry, stop, time_exit):
            ib.placeOrder(aapl, order)
        wait_released(ib, sim, 3)
        sim.match()
        sim.set_price("AAPL", "101.00")
        assert sim.order(entry.orderId)["filled"] == 60
        sim.set_partial_fills(None)
        sim.advance_time(601)  # the time exit alone may sell the 60 held
        assert sim.order(time_exit.orderId)["filled"] == 60
        sim.set_price("AAPL", "94.00")  # the entry fills its last 40 at its limit...
        sim.match()
    # ... and the stop may sell those 40, not 100 - 0 of its own
    assert sim.order(entry.orderId)["filled"] == 100
    assert sim.positions()["AAPL"]["qty"] == 0
    assert sold(sim) == 100
