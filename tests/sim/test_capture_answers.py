"""Answers the conformance replays showed the simulator giving differently from IB.

Each test reproduces one case of a live capture (ThomasMarcelis/ibkr-go
``testdata/transcripts``, stored in ``tests/conformance/captures``) through the official
``ibapi`` client over TCP, with prices rescaled so that an order far from or near the
market stays so (AAPL at 100.00, bid 99.99, ask 100.01; IB's price band 2.94%).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from ibapi.tag_value import TagValue

from backend.sim import SimThread
from tests.sim.conftest import quiet_config
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

TOO_LATE = "Order rejected - reason:Order has been cancelled already, too late to replace"


def why_held(api, order_id: int) -> list[str]:
    out: list[str] = []
    for row in status_rows(api, order_id):
        if not out or out[-1] != row[9]:
            out.append(row[9])
    return out


def bracket(api, parent_type: str, **parent_attrs) -> tuple[int, int, int]:
    """A BUY parent with a SELL LMT take-profit at 110 and a SELL STP at 90."""
    parent, take, stop = (first_id(api) + i for i in range(3))
    place(api, parent, "BUY", 10, parent_type, transmit=False, **parent_attrs)
    place(api, take, "SELL", 10, "LMT", lmtPrice=110.0, parentId=parent, transmit=False)
    place(api, stop, "SELL", 10, "STP", auxPrice=90.0, parentId=parent)
    return parent, take, stop


def test_a_stop_child_of_a_parent_filling_on_release_is_held_by_its_trigger_only(sim, api):
    """api_bracket_trigger_aapl (13 April 2026, regular hours): MKT parent, LMT and STP
    children; IB's first status of the STP child had whyHeld ``trigger``, the LMT
    child's ``child``."""
    parent, take, stop = bracket(api, "MKT")
    wait_status(api, parent, "Filled")
    barrier(api)
    assert why_held(api, stop) == ["trigger"]
    assert why_held(api, take)[0] == "child"
    assert (sim.order(stop)["status"], sim.order(stop)["why_held"]) == ("PreSubmitted",
                                                                        "trigger")


def test_a_stop_child_of_a_resting_parent_is_held_child_and_trigger(sim, api):
    """api_bracket_place_aapl.sv225 order 570: under an unfilled LMT parent the STP child
    is ``child,trigger`` (the rule above applies only to a parent that executes)."""
    _parent, take, stop = bracket(api, "LMT", lmtPrice=90.0)
    wait_status(api, stop, "PreSubmitted")
    barrier(api)
    assert why_held(api, stop) == ["child,trigger"]
    assert why_held(api, take) == ["child"]


def test_a_revision_through_the_price_band_cancels_the_order_and_refuses_the_replace(sim, api):
    """api_bracket_trigger_aapl order 48: the filled bracket's LMT child revised to a
    limit far through the market was cancelled by IB's price band (PendingCancel,
    Cancelled, 202 naming the band), then 201 for the replace; IB's last echo showed the
    old limit, and the STP sibling kept working (a system cancel, not a client's)."""
    parent, take, stop = bracket(api, "MKT")
    wait_status(api, parent, "Filled")
    wait_status(api, take, "Submitted")
    place(api, take, "SELL", 10, "LMT", lmtPrice=96.0, parentId=parent)  # band: 97.06
    wait_error(api, take, 201)
    barrier(api)
    assert statuses(api, take)[-2:] == ["PendingCancel", "Cancelled"]
    (code, text), too_late = errors(api, take)
    assert code == 202 and text.startswith(
        CANCELLED + "We cannot accept an order at a limit price at or more aggressive than "
        "97.06. Please submit your order <br>using a limit price that is closer to the "
        "current market price of 100.")
    assert too_late == (201, TOO_LATE)
    state = sim.order(take)
    assert (state["status"], state["lmt_price"]) == ("Cancelled", Decimal("110"))
    assert sim.order(stop)["status"] == "PreSubmitted"
    assert errors(api, stop) == []


def test_global_cancel_answers_161_for_filled_orders(sim, api):
    """api_order_fill_aapl (11 June 2026): after six MKT orders had filled, the global
    cancel answered 161 for each of them; a working order is cancelled as before."""
    buy = place(api, first_id(api), "BUY", 10, "MKT")
    sell = place(api, buy + 1, "SELL", 10, "MKT")
    rest = place(api, buy + 2, "BUY", 10, "LMT", lmtPrice=90.0)
    wait_status(api, sell, "Filled")
    wait_status(api, rest, "Submitted")
    global_cancel(api)
    wait_error(api, rest, 202)
    for oid in (buy, sell):
        perm = sim.order(oid)["perm_id"]
        assert wait_error(api, oid, 161) == ("Cancel attempted when order is not in a "
                                             f"cancellable state.  Order permId ={perm}")
    barrier(api)
    assert [c for c, _ in errors(api, rest)] == [202]
    assert statuses(api, buy)[-1] == statuses(api, sell)[-1] == "Filled"
    assert sim.order(rest)["status"] == "Cancelled"


def test_a_preview_is_checked_like_an_order(sim, api):
    """whatif_rejections (July 2026): a what-if DarkIce order carrying the display size on
    the order as well as in the algo's parameters drew 10255 and no preview; the same
    order without the order-level display size is previewed (an openOrder, no order kept)."""
    params = [TagValue("displaySize", "1"), TagValue("allowPastEndTime", "1")]
    refused = place(api, first_id(api), "BUY", 1, "LMT", lmtPrice=90.0, whatIf=True,
                    algoStrategy="DarkIce", algoParams=params, displaySize=1)
    assert wait_error(api, refused, 10255) == ("The 'Display Size' order attribute may not "
                                               "be specified for this order.")
    previewed = place(api, refused + 1, "BUY", 1, "LMT", lmtPrice=90.0, whatIf=True,
                      algoStrategy="DarkIce", algoParams=params)
    api.wait_event("openOrder", lambda oid, *_: oid == previewed)
    barrier(api)
    assert open_orders(api, refused) == [] and errors(api, previewed) == []
    assert sim.orders() == []


# -- algos after hours (api_algo_variants_aapl.sv225: Monday 24 August 2026, 16:31 ET) --------
ALGO_TIMES = [TagValue("startTime", "20260824 20:34:58 UTC"),
              TagValue("endTime", "20260824 20:51:58 UTC")]
RESCHEDULED = ("<html>The Start and/or End Time for algo order BUY 1 AAPL NASDAQ.NMS @ 90"
               "<br>was adjusted to use the next trading date.<br>To modify this setting, use "
               "the <i>Auto-adjust algo order date</i> item on the <b>Orders</b> "
               "configuration page</html>")


@pytest.fixture
def after_hours():
    """A simulator with IB's sessions, its clock at 16:31 ET on Monday 24 August."""
    with SimThread(quiet_config(sessions="us_equity")) as thread:
        thread.set_price("AAPL", "100.00")
        thread.set_time(datetime(2026, 8, 24, 16, 31, 57, tzinfo=ZoneInfo("America/New_York")))
        with ibapi_client(thread, 1) as app:
            yield thread, app


def test_a_timed_algo_starting_after_the_close_is_rescheduled_then_cancelled(after_hours):
    """Vwap after hours with start and end times after the close: 2111 twice, 399,
    PreSubmitted, Submitted, then IB's own cancel 202 'Vwap: start time is after close
    time'; the client's later cancel gets 10148."""
    sim, api = after_hours
    oid = place(api, first_id(api), "BUY", 1, "LMT", lmtPrice=90.0, algoStrategy="Vwap",
                algoParams=[TagValue("maxPctVol", "0.1"), *ALGO_TIMES])
    assert wait_error(api, oid, 202) == CANCELLED + "Vwap: start time is after close time"
    cancel(api, oid)
    wait_error(api, oid, 10148)
    assert [c for c, _ in errors(api, oid)] == [2111, 2111, 399, 202, 10148]
    assert errors(api, oid)[0][1] == RESCHEDULED
    assert statuses(api, oid) == ["PreSubmitted", "Submitted", "Cancelled"]
    assert sim.order(oid)["status"] == "Cancelled"


def test_darkice_is_rescheduled_before_its_display_size_is_refused(after_hours):
    """The same capture, order 460: one 2111 as the order is read, then 10255."""
    _sim, api = after_hours
    oid = place(api, first_id(api), "BUY", 1, "LMT", lmtPrice=90.0, algoStrategy="DarkIce",
                algoParams=ALGO_TIMES, displaySize=1)
    wait_error(api, oid, 10255)
    barrier(api)
    assert [c for c, _ in errors(api, oid)] == [2111, 10255] and statuses(api, oid) == []


def test_accumulate_distribute_is_held_quietly_and_unknown_algos_get_439(after_hours):
    """Order 461: AD accepted and held PreSubmitted with no 2111 and no 399; orders 462 and
    465-467: an algo IB does not know, 439 'Algorithm definition not found'."""
    sim, api = after_hours
    ad = place(api, first_id(api), "BUY", 1, "LMT", lmtPrice=90.0, algoStrategy="AD",
               algoParams=[TagValue("componentSize", "1"), *ALGO_TIMES])
    unknown = place(api, ad + 1, "BUY", 1, "LMT", lmtPrice=90.0, algoStrategy="Inline",
                    algoParams=ALGO_TIMES)
    assert wait_error(api, unknown, 439) == ("Order processing failed. Algorithm definition "
                                             "not found")
    barrier(api)
    assert errors(api, ad) == [] and statuses(api, ad) == ["PreSubmitted"]
    assert sim.order(ad)["status"] == "PreSubmitted"
