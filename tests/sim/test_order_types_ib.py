"""IB's order types as the paper Gateway answered them, and how the simulator works them.

Acceptance, holding and cancelling reproduce ``api_order_type_matrix_aapl`` (June and August
2026), ``api_order_trailing_cancel_aapl`` and ``api_order_relative_cancel_aapl``
(ThomasMarcelis/ibkr-go ``testdata/transcripts``); the execution tests pin the simulator's
documented choices (``docs/simulator.md``), which no public capture shows. AAPL at 100.00:
bid 99.99, ask 100.01.
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
    open_orders,
    place,
    status_rows,
    statuses,
    wait_error,
    wait_status,
)

RESTING = [
    # type, attributes, status while working, whyHeld
    ("TRAIL LIMIT", dict(auxPrice=1.0, trailStopPrice=90.0, lmtPriceOffset=0.05, action="SELL"),
     "PreSubmitted", "trigger"),
    ("MIT", dict(auxPrice=90.0), "PreSubmitted", ""),
    ("LIT", dict(auxPrice=90.0, lmtPrice=90.5), "PreSubmitted", ""),
    ("REL", dict(lmtPrice=95.0), "Submitted", ""),
    ("PEG MID", dict(lmtPrice=95.0, auxPrice=0.0), "Submitted", ""),
    ("MOC", dict(), "PreSubmitted", ""),
    ("LOC", dict(lmtPrice=95.0), "PreSubmitted", ""),
]


@pytest.mark.parametrize(("order_type", "attrs", "working", "why"), RESTING,
                         ids=[r[0] for r in RESTING])
def test_ib_order_type_is_accepted_rests_and_cancels_with_202(sim, api, order_type, attrs,
                                                              working, why):
    """api_order_type_matrix_aapl: each type accepted and working; a client cancel answers
    PendingCancel, Cancelled + 202 with an empty reason (IB sent the PendingCancel for MOC
    and LOC there, for a LMT in api_order_rest_cancel_aapl; docs/simulator.md)."""
    attrs = dict(attrs)
    action = attrs.pop("action", "BUY")
    oid = place(api, first_id(api), action, 100, order_type, **attrs)
    wait_status(api, oid, working)
    barrier(api)
    assert [c for c, _ in errors(api, oid)] == []
    assert status_rows(api, oid)[-1][9] == why
    state = sim.order(oid)
    assert (state["status"], state["why_held"], state["filled"]) == (working, why, Decimal(0))
    cancel(api, oid)
    assert wait_error(api, oid, 202) == CANCELLED
    assert statuses(api, oid)[-2:] == ["PendingCancel", "Cancelled"]
    assert "PendingCancel" not in statuses(api, oid)[:-2]
    assert sim.order(oid)["status"] == "Cancelled"


def test_rel_without_an_offset_is_echoed_with_one_cent(sim, api):
    """api_order_relative_cancel_aapl: TWS filled in auxPrice 0.01."""
    oid = place(api, first_id(api), "BUY", 1, "REL", lmtPrice=10.0)
    wait_status(api, oid, "Submitted")
    assert open_orders(api, oid)[-1][2].auxPrice == 0.01
    assert sim.order(oid)["aux_price"] == Decimal("0.01")


def test_trail_limit_echoes_its_limit_as_the_stop_less_the_offset(sim, api):
    """api_order_trailing_cancel_aapl: stop 2000, offset 0.05 -> lmtPrice 1999.95. Here the
    stop starts at last - 1 = 99.00 (a looser trailStopPrice gives way), the limit 98.95."""
    oid = place(api, first_id(api), "SELL", 100, "TRAIL LIMIT", auxPrice=1.0,
                trailStopPrice=90.0, lmtPriceOffset=0.05)
    wait_status(api, oid, "PreSubmitted")
    echoed = open_orders(api, oid)[-1][2]
    assert (echoed.trailStopPrice, echoed.lmtPrice) == (99.0, 98.95)
    assert sim.order(oid)["trail_stop"] == Decimal("99.00")


def test_peg_mkt_is_387_and_kept_unsubmitted_until_a_cancel_discards_it(sim, api):
    """api_order_type_matrix_aapl (June and August): 387 'Unsupported order type for this
    exchange and security type.', no echo; the final global cancel answered Cancelled,
    202 'Order was discarded.' and 161."""
    oid = place(api, first_id(api), "BUY", 100, "PEG MKT", lmtPrice=14.61)
    assert wait_error(api, oid, 387) == ("Unsupported order type for this exchange and "
                                         "security type.")
    barrier(api)
    assert open_orders(api, oid) == [] and statuses(api, oid) == []
    assert sim.order(oid)["discarded"] is True
    global_cancel(api)
    wait_error(api, oid, 161)
    assert statuses(api, oid) == ["Cancelled"]
    assert [c for c, _ in errors(api, oid)] == [387, 202, 161]
    assert errors(api, oid)[1] == (202, CANCELLED + "Order was discarded.")


def test_peg_best_without_post_to_ats_is_201_and_inactive(sim, api):
    """api_order_type_matrix_aapl (August 2026): Inactive and 201 'This order type is not
    allowed w/o PostToAts for specified destination'."""
    oid = place(api, first_id(api), "BUY", 1, "PEG BEST", lmtPrice=10.0)
    assert wait_error(api, oid, 201) == ("Order rejected - reason:This order type is not "
                                         "allowed w/o PostToAts for specified destination")
    wait_status(api, oid, "Inactive")
    assert sim.order(oid)["status"] == "Inactive"


@pytest.mark.parametrize("name", ["MOO", "LOO", "PEG PRI", "FEELINGS"])
def test_names_ib_does_not_know_are_321(sim, api, name):
    """api_order_type_matrix_aapl: 321 "Error validating request.-'bC' : cause - Invalid
    order type was entered" (June, server version 200, the text protocol the sim speaks)."""
    oid = place(api, first_id(api), "BUY", 1, name, lmtPrice=10.0)
    assert wait_error(api, oid, 321) == ("Error validating request.-'bC' : cause - Invalid "
                                         "order type was entered")


# -- execution (the simulator's choices: docs/simulator.md) ---------------------------------
def test_mit_buy_waits_below_the_market_and_executes_at_market_when_touched(sim, api):
    oid = place(api, first_id(api), "BUY", 10, "MIT", auxPrice=99.0)
    wait_status(api, oid, "PreSubmitted")
    sim.set_price("AAPL", "98.90")
    wait_status(api, oid, "Filled")
    assert statuses(api, oid)[:2] == ["PreSubmitted", "Submitted"]
    assert sim.order(oid)["avg_fill_price"] == Decimal("98.91")


def test_lit_sell_touched_becomes_a_limit(sim, api):
    oid = place(api, first_id(api), "SELL", 10, "LIT", auxPrice=101.0, lmtPrice=101.5)
    wait_status(api, oid, "PreSubmitted")
    sim.set_price("AAPL", "101.10")  # touched; the bid 101.09 is below the limit: it rests
    wait_status(api, oid, "Submitted")
    assert sim.order(oid)["filled"] == 0
    sim.set_price("AAPL", "101.60")
    wait_status(api, oid, "Filled")
    assert sim.order(oid)["avg_fill_price"] == Decimal("101.50")


def test_mtl_takes_the_market_then_its_remainder_is_a_limit_at_the_first_fill(sim, api):
    sim.set_partial_fills(40)
    oid = place(api, first_id(api), "BUY", 100, "MTL")
    api.wait_event("orderStatus", lambda o, st, filled, *_: o == oid and filled == 40)
    sim.set_price("AAPL", "100.50")
    sim.set_partial_fills(None)
    barrier(api)
    assert sim.order(oid)["filled"] == Decimal(40)  # 100.51 is above the 100.01 limit now
    sim.set_price("AAPL", "99.00")
    wait_status(api, oid, "Filled")
    prices = {e["price"] for e in sim.executions() if e["order_id"] == oid}
    assert prices == {Decimal("100.01")}


def test_trail_limit_trails_triggers_and_rests_at_its_limit(sim, api):
    oid = place(api, first_id(api), "SELL", 100, "TRAIL LIMIT", auxPrice=1.0,
                lmtPriceOffset=0.05)
    wait_status(api, oid, "PreSubmitted")
    sim.set_price("AAPL", "102.00")
    api.wait_for(lambda _e: open_orders(api, oid) and sim.order(oid)["trail_stop"]
                 == Decimal("101.00"), what="trail ratcheted to 101")
    sim.set_price("AAPL", "100.90")  # through the stop; the limit 100.95 is above the bid
    wait_status(api, oid, "Submitted")
    assert sim.order(oid)["lmt_price"] == Decimal("100.95") and sim.order(oid)["filled"] == 0
    sim.set_price("AAPL", "101.50")
    wait_status(api, oid, "Filled")
    assert sim.order(oid)["avg_fill_price"] == Decimal("100.95")


def test_moc_and_loc_execute_in_the_closing_auction(sim, api):
    moc = place(api, first_id(api), "BUY", 10, "MOC")
    loc_in = place(api, moc + 1, "BUY", 10, "LOC", lmtPrice=101.0)
    loc_out = place(api, moc + 2, "BUY", 10, "LOC", lmtPrice=99.0)
    wait_status(api, loc_out, "PreSubmitted")
    sim.set_price("AAPL", "100.40")
    barrier(api)
    assert sim.executions() == []
    sim.end_session()
    wait_status(api, loc_in, "Filled")
    wait_status(api, loc_out, "Cancelled")
    assert sim.order(moc)["avg_fill_price"] == sim.order(loc_in)["avg_fill_price"] == Decimal(
        "100.40")
    assert sim.order(loc_out)["filled"] == 0


# -- status sequences (R11, as the captures show them in regular hours) ----------------------
def test_market_order_and_resting_limit_report_the_fullest_sequences_ib_sent(sim, api):
    """IB's status sequences in regular hours, in their fullest form: a MKT order
    PreSubmitted -> Submitted -> Filled (api_order_fill_aapl.sv225 order 601,
    api_order_type_matrix_aapl 391), a resting LMT PreSubmitted -> Submitted, its client
    cancel PendingCancel -> Cancelled (api_order_rest_cancel_aapl). IB often leaves the
    first PreSubmitted, a Submitted before Filled or the PendingCancel out (e.g.
    api_pairs_trading_aapl_msft 278 vs 279, api_order_rest_cancel_161_aapl): the
    conformance comparison allows exactly that (docs/simulator.md)."""
    mkt = place(api, first_id(api), "BUY", 10, "MKT")
    wait_status(api, mkt, "Filled")
    assert statuses(api, mkt) == ["PreSubmitted", "Submitted", "Filled"]
    lmt = place(api, mkt + 1, "BUY", 10, "LMT", lmtPrice=14.61)
    wait_status(api, lmt, "Submitted")
    cancel(api, lmt)
    wait_error(api, lmt, 202)
    assert statuses(api, lmt) == ["PreSubmitted", "Submitted", "PendingCancel", "Cancelled"]
