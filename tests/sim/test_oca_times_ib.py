"""OCA groups and order times as IB handles them (issue 8, section 2: OCA, goodAfterTime).

Evidence: IBKR Campus's OCA glossary entry and ib-orders R3/R4 (a client cancel of one
member cancels the group, a system cancel does not; names are single-use),
``api_hedge_order_aapl`` (cancelling one bracket child cancelled its sibling), ib_insync
#606 (a custom group on bracket children is shown as TWS's number until the parent fills),
``api_tif_attribute_matrix_aapl`` (goodAfterTime ``UTC`` accepted, echoed in US/Eastern).
AAPL at 100.00: bid 99.99, ask 100.01.
"""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from ibapi.order_condition import PriceCondition

from tests.sim.evidence_kit import (
    CANCELLED,
    barrier,
    cancel,
    errors,
    first_id,
    open_orders,
    place,
    statuses,
    wait_error,
    wait_status,
)
from tests.sim.orderkit import ib_time

ACCOUNT = "DU1234567"


def oca(group: str, oca_type: int = 1) -> dict:
    return dict(ocaGroup=group, ocaType=oca_type, account=ACCOUNT)


def price_above(level: float) -> PriceCondition:
    return PriceCondition(triggerMethod=0, conId=265598, exch="SMART", isMore=True,
                          price=level)


def test_client_cancel_of_one_member_cancels_the_whole_group(sim, api):
    """IBKR Campus OCA glossary; deepentropy/ibx #343 (a Gateway probe): cancelling one
    member cancelled its sibling. A member of another group is untouched."""
    a = place(api, first_id(api), "BUY", 10, "LMT", lmtPrice=95.0, **oca("G-cancel"))
    b = place(api, a + 1, "BUY", 10, "LMT", lmtPrice=94.0, **oca("G-cancel"))
    other = place(api, a + 2, "BUY", 10, "LMT", lmtPrice=93.0, **oca("G-other"))
    wait_status(api, other, "Submitted")
    cancel(api, a)
    wait_error(api, b, 202)
    barrier(api)
    for oid in (a, b):
        assert statuses(api, oid) == ["PreSubmitted", "Submitted", "PendingCancel",
                                      "Cancelled"]
        assert errors(api, oid) == [(202, CANCELLED)]
    assert sim.order(b)["completed_status"] == "Cancelled by OCA group: a member was cancelled"
    assert sim.order(other)["status"] == "Submitted"
    assert statuses(api, other) == ["PreSubmitted", "Submitted"]


def test_cancelling_one_bracket_child_cancels_its_sibling(sim, api):
    """api_hedge_order_aapl: the children of one parent share TWS's group; cancelling one
    answered Cancelled + 202 for both; the parent keeps working."""
    parent = place(api, first_id(api), "BUY", 10, "LMT", lmtPrice=95.0, transmit=False)
    take = place(api, parent + 1, "SELL", 10, "LMT", lmtPrice=110.0, parentId=parent,
                 transmit=False)
    stop = place(api, parent + 2, "SELL", 10, "STP", auxPrice=90.0, parentId=parent)
    wait_status(api, stop, "PreSubmitted")
    cancel(api, stop)
    wait_error(api, stop, 202)
    barrier(api)
    assert statuses(api, take)[-1] == statuses(api, stop)[-1] == "Cancelled"
    assert sim.order(parent)["status"] == "Submitted"


@pytest.mark.parametrize("how", ["condition", "good_till_date"])
def test_a_member_the_system_cancels_leaves_its_siblings_working(sim, api, how):
    """IBKR Campus OCA glossary (R4): only a client cancel cancels the group. The member
    ends here by its own cancelling condition, or by its goodTillDate."""
    if how == "condition":
        attrs = dict(conditions=[price_above(101.0)], conditionsCancelOrder=True)
    else:
        attrs = dict(tif="GTD", goodTillDate=ib_time(sim.now() + 60))
    a = place(api, first_id(api), "BUY", 10, "LMT", lmtPrice=95.0, **oca("G-system"), **attrs)
    b = place(api, a + 1, "BUY", 10, "LMT", lmtPrice=94.0, **oca("G-system"))
    wait_status(api, b, "Submitted")
    if how == "condition":
        sim.set_price("AAPL", "101.50")
    else:
        sim.advance_time(120)
    wait_error(api, a, 202)
    barrier(api)
    assert sim.order(a)["status"] == "Cancelled"
    assert sim.order(b)["status"] == "Submitted"
    assert statuses(api, b) == ["PreSubmitted", "Submitted"]


def test_an_execution_cancels_the_siblings_through_pending_cancel(sim, api):
    """ocaType 1: a member's fill cancels the others; a paper report shows the siblings
    PendingCancel -> Cancelled + 202 (ib-orders R4)."""
    a = place(api, first_id(api), "BUY", 10, "LMT", lmtPrice=99.0, **oca("G-fill"))
    b = place(api, a + 1, "BUY", 10, "LMT", lmtPrice=98.0, **oca("G-fill"))
    wait_status(api, b, "Submitted")
    sim.set_price("AAPL", "98.95")
    wait_status(api, b, "Cancelled")
    wait_error(api, b, 202)  # the 202 follows the status
    assert statuses(api, a)[-1] == "Filled"
    assert statuses(api, b)[-2:] == ["PendingCancel", "Cancelled"]
    assert errors(api, b) == [(202, CANCELLED)]


def test_an_oca_name_is_single_use(sim, api):
    """A name once used cannot be used again, even after its orders are done (TWS's
    order-ticket guide as quoted by users, R4). IB's answer is not captured: the simulator
    refuses with 201 and Inactive, the strict reading (paper-check)."""
    a = place(api, first_id(api), "BUY", 10, "LMT", lmtPrice=95.0, **oca("G-once"))
    wait_status(api, a, "Submitted")
    cancel(api, a)
    wait_error(api, a, 202)
    again = place(api, a + 1, "BUY", 10, "LMT", lmtPrice=95.0, **oca("G-once"))
    assert "G-once" in wait_error(api, again, 201)
    wait_status(api, again, "Inactive")
    fresh = place(api, a + 2, "BUY", 10, "LMT", lmtPrice=95.0, **oca("G-once-2"))
    wait_status(api, fresh, "Submitted")


def test_custom_group_of_bracket_children_is_echoed_as_tws_number_until_the_parent_fills(
        sim, api):
    """ib_insync #606: while the parent is unfilled the children report TWS's own group
    number (the parent's permId here); after the fill, the client's name again. The group
    the children work in is the client's all along."""
    parent = place(api, first_id(api), "BUY", 10, "LMT", lmtPrice=95.0, transmit=False)
    take = place(api, parent + 1, "SELL", 10, "LMT", lmtPrice=110.0, parentId=parent,
                 transmit=False, **oca("MINE", 3))
    stop = place(api, parent + 2, "SELL", 10, "STP", auxPrice=90.0, parentId=parent,
                 **oca("MINE", 3))
    wait_status(api, stop, "PreSubmitted")
    perm = str(sim.order(parent)["perm_id"])
    assert [open_orders(api, oid)[-1][2].ocaGroup for oid in (take, stop)] == [perm, perm]
    assert sim.order(take)["oca_group"] == "MINE"
    sim.set_price("AAPL", "94.90")
    wait_status(api, parent, "Filled")
    api.wait_for(lambda _e: open_orders(api, stop)[-1][2].ocaGroup == "MINE",
                 what="the client's group name echoed after the fill")
    assert open_orders(api, take)[-1][2].ocaGroup == "MINE"


# -- goodAfterTime ---------------------------------------------------------------------------
def eastern(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, timezone.utc).astimezone(ZoneInfo("US/Eastern"))
    return moment.strftime("%Y%m%d %H:%M:%S") + " US/Eastern"


def test_good_after_time_in_utc_is_accepted_without_2174_and_echoed_in_us_eastern(sim, api):
    """api_tif_attribute_matrix_aapl (August 2026): '20260824 22:46:45 UTC' held PreSubmitted
    with whyHeld '' and echoed '20260824 18:46:45 US/Eastern'; no 2174."""
    when = int(sim.now()) + 3600
    oid = place(api, first_id(api), "BUY", 1, "LMT", lmtPrice=95.0, goodAfterTime=ib_time(when))
    wait_status(api, oid, "PreSubmitted")
    barrier(api)
    assert open_orders(api, oid)[-1][2].goodAfterTime == eastern(when)
    assert errors(api, oid) == []
    assert sim.order(oid)["held_by"] == "good_after_time"


def test_zone_less_good_after_time_draws_warning_2174_and_still_works(sim, api):
    """ib-orders P5: without a zone TWS warns 2174 and reads the time in its login zone
    (UTC for the simulator); the order is accepted."""
    when = int(sim.now()) + 3600
    zoneless = ib_time(when).removesuffix(" UTC")
    oid = place(api, first_id(api), "BUY", 1, "LMT", lmtPrice=95.0, goodAfterTime=zoneless)
    assert "without explicit time zone" in wait_error(api, oid, 2174)
    assert open_orders(api, oid)[-1][2].goodAfterTime == eastern(when)
    assert statuses(api, oid) == ["PreSubmitted"]


def test_a_modified_good_after_time_is_echoed_in_us_eastern_too(sim, api):
    """The same echo for a revision: the client's new UTC time comes back in US/Eastern."""
    when = int(sim.now()) + 3600
    oid = place(api, first_id(api), "BUY", 1, "LMT", lmtPrice=95.0, goodAfterTime=ib_time(when))
    wait_status(api, oid, "PreSubmitted")
    later = when + 600
    place(api, oid, "BUY", 1, "LMT", lmtPrice=95.0, goodAfterTime=ib_time(later))
    api.wait_for(lambda _e: open_orders(api, oid)[-1][2].goodAfterTime == eastern(later),
                 what="the revised goodAfterTime echoed")
    barrier(api)
    assert errors(api, oid) == []
