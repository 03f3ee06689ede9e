"""The simulator answers as a paper IB Gateway did, capture by capture (issue 8, section 2).

Each test reproduces one difference the live captures of ThomasMarcelis/ibkr-go
(``testdata/transcripts``, MIT) showed between IB and sigma9-sim, through the official
``ibapi`` client over TCP, and asserts on what the client received and on the simulator's
own state. The capture is named in each test's docstring; prices are rescaled so that an
order far from or near the market in the capture stays so here (AAPL at 100.00).
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.sim.evidence_kit import (
    CANCELLED,
    barrier,
    cancel,
    errors,
    first_id,
    global_cancel,
    ibapi_client,
    open_orders,
    place,
    status_rows,
    statuses,
    wait_error,
    wait_status,
)

DISCARDED = "Order Canceled - reason:Order was discarded."


def not_cancellable(perm_id: int) -> str:
    return f"Cancel attempted when order is not in a cancellable state.  Order permId ={perm_id}"


# -- 328: a trailing child needs a LMT or STP LMT parent ----------------------------------------
def test_trail_under_a_market_parent_is_328_and_nothing_of_the_chain_is_released(sim, api):
    """api_bracket_trailing_stop_aapl: MKT parent + LMT child (transmit=false) + TRAIL child
    (transmit=true) -> 328 for the TRAIL; no order is echoed; nothing executes."""
    parent, take, trail = (first_id(api) + i for i in range(3))
    place(api, parent, "BUY", 100, "MKT", transmit=False)
    place(api, take, "SELL", 100, "LMT", lmtPrice=110.0, parentId=parent, transmit=False)
    place(api, trail, "SELL", 100, "TRAIL", auxPrice=1.0, trailStopPrice=99.0,
          parentId=parent, transmit=True)
    assert wait_error(api, trail, 328) == ("Trailing stop orders can be attached to limit or "
                                           "stop-limit orders only.")
    barrier(api)
    for oid in (parent, take, trail):
        assert open_orders(api, oid) == [] and statuses(api, oid) == []
    book = {o["order_id"]: o for o in sim.orders(client_id=1)}
    assert trail not in book
    assert (book[parent]["buffered"], book[take]["buffered"]) == (True, True)
    assert sim.executions() == [] and sim.positions() == {}


def test_global_cancel_of_the_refused_chain_reports_the_parent_discarded_then_161(sim, api):
    """api_bracket_trailing_stop_aapl: the global cancel answers the parent Cancelled, 202
    'Order was discarded.' and 161 with its permId; the LMT child hears nothing. A later
    global cancel (api_cross_client_cancel_aapl, leg 1) answers 161 for both."""
    parent, take, trail = (first_id(api) + i for i in range(3))
    place(api, parent, "BUY", 100, "MKT", transmit=False)
    place(api, take, "SELL", 100, "LMT", lmtPrice=110.0, parentId=parent, transmit=False)
    place(api, trail, "SELL", 100, "TRAIL", auxPrice=1.0, parentId=parent)
    wait_error(api, trail, 328)
    global_cancel(api)
    wait_error(api, parent, 161)
    barrier(api)
    perm = sim.order(parent)["perm_id"]
    assert statuses(api, parent) == ["Cancelled"]
    assert errors(api, parent) == [(202, DISCARDED), (161, not_cancellable(perm))]
    assert errors(api, take) == [] and statuses(api, take) == []
    assert sim.order(parent)["status"] == sim.order(take)["status"] == "Cancelled"

    global_cancel(api)
    wait_error(api, take, 161)
    assert errors(api, take) == [(161, not_cancellable(sim.order(take)["perm_id"]))]
    assert errors(api, parent)[-1] == (161, not_cancellable(perm))


def test_trail_under_a_limit_parent_is_accepted(sim, api):
    """328's own text: a TRAIL may hang under a LMT parent (the exit chain of issue 9)."""
    parent, trail = first_id(api), first_id(api) + 1
    place(api, parent, "BUY", 100, "LMT", lmtPrice=95.0, transmit=False)
    place(api, trail, "SELL", 100, "TRAIL", auxPrice=1.0, parentId=parent)
    wait_status(api, trail, "PreSubmitted")
    assert [c for c, _ in errors(api, trail)] == []
    assert sim.order(trail)["why_held"] == "child,trigger"


# -- whyHeld of held bracket children -------------------------------------------------------
def test_held_children_why_held_is_child_for_a_limit_and_child_trigger_for_a_stop(sim, api):
    """api_bracket_place_aapl: LMT parent, LMT child whyHeld 'child', STP child
    'child,trigger'; the children share an OCA group named after the parent's permId."""
    parent, take, stop = (first_id(api) + i for i in range(3))
    place(api, parent, "BUY", 100, "LMT", lmtPrice=95.0, transmit=False)
    place(api, take, "SELL", 100, "LMT", lmtPrice=110.0, parentId=parent, transmit=False)
    place(api, stop, "SELL", 100, "STP", auxPrice=90.0, parentId=parent)
    wait_status(api, stop, "PreSubmitted")
    assert status_rows(api, take)[-1][9] == "child"
    assert status_rows(api, stop)[-1][9] == "child,trigger"
    perm = sim.order(parent)["perm_id"]
    assert {open_orders(api, oid)[-1][2].ocaGroup for oid in (take, stop)} == {str(perm)}
    assert (sim.order(take)["why_held"], sim.order(stop)["why_held"]) == ("child",
                                                                          "child,trigger")


# -- cancel from another client -------------------------------------------------------------
@pytest.mark.parametrize("other", [2, 0])
def test_another_client_that_saw_the_order_in_all_open_orders_can_cancel_it(sim, api, other):
    """api_cross_client_cancel_aapl and api_client_id0_order_observation_aapl (April 2026):
    client 2 (and client 0) lists client 1's GTC order with reqAllOpenOrders, cancels it by
    that order id, and gets Cancelled, carrying its own clientId, then 202."""
    oid = place(api, first_id(api), "BUY", 10, "LMT", lmtPrice=13.27, tif="GTC")
    wait_status(api, oid, "Submitted")
    with ibapi_client(sim, other) as peer:
        peer.reqAllOpenOrders()
        peer.wait_event("openOrderEnd")
        assert [a[2].clientId for a in open_orders(peer, oid)] == [1]
        cancel(peer, oid)
        wait_error(peer, oid, 202)
        assert [(r[1], r[8]) for r in status_rows(peer, oid)][-1] == ("Cancelled", other)
        assert errors(peer, oid) == [(202, CANCELLED)]
    wait_status(api, oid, "Cancelled")
    assert status_rows(api, oid)[-1][8] == 1  # the owner hears it with its own id
    assert sim.order(oid)["status"] == "Cancelled"


def test_another_client_cannot_cancel_an_order_it_was_never_shown(sim, api):
    """Without the all-open-orders scope the id is the other client's own: 10147."""
    oid = place(api, first_id(api), "BUY", 10, "LMT", lmtPrice=13.27, tif="GTC")
    wait_status(api, oid, "Submitted")
    with ibapi_client(sim, 2) as peer:
        cancel(peer, oid)
        assert wait_error(peer, oid, 10147) == (f"OrderId {oid} that needs to be cancelled is "
                                                "not found.")
    assert sim.order(oid)["status"] == "Submitted"


# -- global cancel and the cancel text --------------------------------------------------------
def test_global_cancel_answers_161_for_an_order_already_cancelled(sim, api):
    """api_order_rest_cancel_161_aapl: a resting LMT cancelled by the API (Cancelled, then 202
    with an empty reason) draws 161 with its permId from the next global cancel."""
    oid = place(api, first_id(api), "BUY", 100, "LMT", lmtPrice=14.61)
    wait_status(api, oid, "Submitted")
    cancel(api, oid)
    wait_error(api, oid, 202)
    global_cancel(api)
    wait_error(api, oid, 161)
    assert statuses(api, oid) == ["PreSubmitted", "Submitted", "PendingCancel", "Cancelled"]
    assert errors(api, oid) == [(202, CANCELLED),
                                (161, not_cancellable(sim.order(oid)["perm_id"]))]


def test_global_cancel_answers_202_with_an_empty_reason(sim, api):
    """api_bracket_place_aapl: each working order Cancelled + 202 'Order Canceled - reason:'
    (no 'Global Cancel' in the text); the cause stays in the simulator's completed status."""
    a = place(api, first_id(api), "BUY", 100, "LMT", lmtPrice=90.0)
    b = place(api, a + 1, "SELL", 100, "LMT", lmtPrice=110.0)
    wait_status(api, b, "Submitted")
    global_cancel(api)
    wait_error(api, b, 202)
    barrier(api)
    for oid in (a, b):
        assert statuses(api, oid) == ["PreSubmitted", "Submitted", "Cancelled"]
        assert errors(api, oid) == [(202, CANCELLED)]
        assert sim.order(oid)["completed_status"] == "Cancelled by Global Cancel"


# -- FOK and IOC -------------------------------------------------------------------------------
@pytest.mark.parametrize("limit", [120.0, 5.0])
def test_fok_limits_are_refused_inactive(sim, api, limit):
    """api_ioc_fok_aapl (August 2026): a FOK through the market and one far below it both end
    Inactive with 201 'The time-in-force FOK is invalid for this combination of exchange and
    security type.'; nothing executes."""
    oid = place(api, first_id(api), "BUY", 1, "LMT", lmtPrice=limit, tif="FOK")
    text = wait_error(api, oid, 201)
    assert text == ("Order rejected - reason:The time-in-force FOK is invalid for this "
                    "combination of exchange and security type.")
    wait_status(api, oid, "Inactive")
    assert sim.order(oid)["status"] == "Inactive" and sim.executions() == []


def test_ioc_limit_far_through_the_market_is_cancelled_by_the_price_constraint(sim, api):
    """api_ioc_fok_aapl (April 2026: IOC BUY about 20% above the market ended PendingCancel
    -> Cancelled, no fill), api_order_type_matrix_aapl order 381 (the same with its 202
    text), api_oca_trigger_aapl and api_order_rejects_aapl (PreSubmitted first): IB refuses a
    limit 2.94% or more through the market (the three captures' caps are all x 1.0294)."""
    oid = place(api, first_id(api), "BUY", 1, "LMT", lmtPrice=120.0, tif="IOC")
    text = wait_error(api, oid, 202)
    assert statuses(api, oid) == ["PreSubmitted", "PendingCancel", "Cancelled"]
    assert [o[3].status for o in open_orders(api, oid)] == ["PreSubmitted", "PendingCancel"]
    assert text == (CANCELLED + "We cannot accept an order at a limit price at or more "
                    "aggressive than 102.94. Please submit your order <br>using a limit price "
                    "that is closer to the current market price of 100. or convert your order "
                    "to an <br>algorithmic Order (IBALGO)")
    assert sim.executions() == [] and sim.order(oid)["status"] == "Cancelled"


def test_ioc_that_cannot_execute_ends_pending_cancel_then_cancelled(sim, api):
    """api_ioc_fok_aapl (August 2026): Submitted, PendingCancel, Cancelled, 202 with an empty
    reason, no fill."""
    oid = place(api, first_id(api), "BUY", 1, "LMT", lmtPrice=99.0, tif="IOC")
    wait_error(api, oid, 202)
    assert statuses(api, oid) == ["PreSubmitted", "Submitted", "PendingCancel", "Cancelled"]
    assert errors(api, oid) == [(202, CANCELLED)]
    assert sim.executions() == []


def test_marketable_limit_inside_the_band_fills(sim, api):
    """The band does not touch the marketable entry of issue 9 (ask + slippage < 2.94%)."""
    oid = place(api, first_id(api), "BUY", 10, "LMT", lmtPrice=101.0)
    wait_status(api, oid, "Filled")
    assert sim.order(oid)["avg_fill_price"] == Decimal("100.01")  # took the ask


# -- hedge and algo orders ----------------------------------------------------------------------
def test_hedge_children_as_ib_answered_them(sim, api):
    """api_hedge_order_aapl: under a stock parent a delta hedge is 320, an FX hedge 10063;
    beta and pair hedges sent without a quantity are accepted and held 'child', the beta
    one sized from its parent."""
    parent = place(api, first_id(api), "BUY", 1, "LMT", lmtPrice=15.53)
    wait_status(api, parent, "Submitted")
    delta, beta, fx, pair = (parent + i for i in range(1, 5))
    place(api, delta, "SELL", 1, "LMT", lmtPrice=310.5, parentId=parent, hedgeType="D",
          hedgeParam="0.5")
    place(api, beta, "SELL", 0, "LMT", lmtPrice=310.5, parentId=parent, hedgeType="B",
          hedgeParam="1.0")
    place(api, fx, "SELL", 0, "LMT", lmtPrice=310.5, parentId=parent, hedgeType="F")
    place(api, pair, "SELL", 0, "LMT", lmtPrice=310.5, parentId=parent, hedgeType="P",
          hedgeParam="0.8")
    assert wait_error(api, delta, 320).startswith(
        "Error reading request. Invalid delta hedge order. The parent order has to be option "
        "order")
    assert wait_error(api, fx, 10063).startswith("Invalid FX hedge order.")
    wait_status(api, pair, "PreSubmitted")
    for oid, qty in ((beta, 1), (pair, 0)):
        assert status_rows(api, oid)[-1][9] == "child"
        echoed = open_orders(api, oid)[-1][2]
        assert (echoed.hedgeType, echoed.totalQuantity) == (sim.order(oid)["hedge_type"],
                                                            Decimal(qty))
    book = {o["order_id"] for o in sim.orders(client_id=1)}
    assert delta not in book and fx not in book


def test_twap_with_an_unknown_attribute_is_443(sim, api):
    """api_algo_variants_aapl: Twap with strategyType -> 443; Adaptive is accepted, echoed
    with its parameters, and cancels with 202."""
    from ibapi.tag_value import TagValue

    twap = place(api, first_id(api), "BUY", 1, "LMT", lmtPrice=15.53, algoStrategy="Twap",
                 algoParams=[TagValue("strategyType", "Marketable"),
                             TagValue("allowPastEndTime", "1")])
    assert wait_error(api, twap, 443) == ("Order processing failed. Unknown algo "
                                          "attribute:strategyType")
    adaptive = place(api, twap + 1, "BUY", 1, "LMT", lmtPrice=15.53, algoStrategy="Adaptive",
                     algoParams=[TagValue("adaptivePriority", "Urgent")])
    wait_status(api, adaptive, "Submitted")
    echoed = open_orders(api, adaptive)[-1][2]
    assert echoed.algoStrategy == "Adaptive"
    assert [(t.tag, t.value) for t in echoed.algoParams] == [("adaptivePriority", "Urgent")]
    cancel(api, adaptive)
    assert wait_error(api, adaptive, 202) == CANCELLED
    assert sim.order(adaptive)["algo_strategy"] == "Adaptive"
