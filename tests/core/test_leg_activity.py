"""backend.core.leg_activity: "can this leg act now", one row per leg shape and session."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from backend.core.leg_activity import (
    ACTS_OUTSIDE_RTH,
    LegActivity,
    LegFacts,
    describe_leg,
    leg_facts,
    parse_ib_utc,
)
from backend.core.market_hours import Session
from backend.core.models import LegRole, OrderRecord, OrderType, Side

D = Decimal
GAT = datetime(2026, 12, 2, 15, 3, tzinfo=timezone.utc)
STOP = LegFacts("11", LegRole.SAFETY_STOP, OrderType.STOP, stop_price=D("98.00"))
TIME = LegFacts("12", LegRole.TIME_STOP, OrderType.MARKET, activation_price=D("103.00"),
                good_after=GAT)
TRAIL = LegFacts("13", LegRole.PROFIT_HARVESTER, OrderType.TRAIL, stop_price=D("101.50"),
                 activation_price=D("103.00"))
R, PRE, AFTER, CLOSED = (Session.REGULAR, Session.PRE_MARKET, Session.AFTER_HOURS,
                         Session.CLOSED)

ROWS = [
    # (leg, session, can act, sentence)
    (STOP, R, True, "stop 98.00 working"),
    (STOP, PRE, False, "stop: regular hours only"),
    (STOP, AFTER, False, "stop: regular hours only"),
    (STOP, CLOSED, False, "stop: market closed, acts from the regular open"),
    # outsideRth on a STP is ignored by IB (2109, R8): still regular hours only
    (LegFacts("11", LegRole.SAFETY_STOP, OrderType.STOP, outside_rth=True,
              stop_price=D("98.00")), PRE, False, "stop: regular hours only"),
    (LegFacts("11", LegRole.SAFETY_STOP, OrderType.STOP, waits_for_parent=True), R, False,
     "stop: waits for the entry to fill"),
    (TIME, R, False, "time stop at 15:03:00 UTC unless 103.00 trades"),
    (LegFacts("12", LegRole.TIME_STOP, OrderType.MARKET, activation_price=D("103.00"),
              good_after=GAT, due=True), R, True, "time stop: due, sells at market"),
    (TIME, PRE, False, "time stop: regular hours only"),
    (TRAIL, R, False, "trail waits for 103.00"),
    (LegFacts("13", LegRole.PROFIT_HARVESTER, OrderType.TRAIL, stop_price=D("104.50"),
              activation_price=D("103.00"), activated=True), R, True, "trail 104.50 working"),
    (TRAIL, AFTER, False, "trail: regular hours only"),
    (LegFacts("13", LegRole.PROFIT_HARVESTER, OrderType.TRAIL, trail_amount=D("1.50"),
              activation_price=D("103.00"), activated=True), R, True,
     "trail working, 1.50 under the high"),
    # a manual working stop, and a LMT leg that IB lets act outside regular hours
    (LegFacts("20", LegRole.MANUAL, OrderType.STOP, stop_price=D("97.00")), R, True,
     "stop 97.00 working"),
    (LegFacts("21", LegRole.MANUAL, OrderType.LIMIT, outside_rth=True), PRE, True,
     "order working"),
    (LegFacts("21", LegRole.MANUAL, OrderType.LIMIT, outside_rth=False), PRE, False,
     "order: regular hours only"),
]


@pytest.mark.parametrize(("leg", "session", "can_act", "sentence"), ROWS)
def test_describe_leg(leg, session, can_act, sentence):
    assert describe_leg(leg, session) == LegActivity(leg.order_id, leg.role, can_act, sentence)


def test_every_order_type_has_an_outside_rth_row():
    assert set(ACTS_OUTSIDE_RTH) == set(OrderType)
    assert not any(ACTS_OUTSIDE_RTH[t] for t in (OrderType.MARKET, OrderType.STOP,
                                                 OrderType.TRAIL))


@pytest.mark.parametrize(("text", "expected"), [
    ("20261202 15:03:00 UTC", GAT),
    ("20261202 10:03:00 US/Eastern", None),  # only what Sigma9 sends is read back
    ("", None), ("garbage UTC", None),
])
def test_parse_ib_utc(text, expected):
    assert parse_ib_utc(text) == expected


def _trail_record(stop: str) -> OrderRecord:
    return OrderRecord("13", "AAPL", Side.SELL, OrderType.TRAIL, 100,
                       role=LegRole.PROFIT_HARVESTER, stop_price=D(stop),
                       trail_amount=D("1.50"))


PLAN = {"activation": "103.00", "outside_rth": False, "good_after_time": ""}


@pytest.mark.parametrize(("stop", "seen", "activated", "shown"), [
    ("101.50", False, False, None),     # the initial stop: activation 103.00 - 1.50
    ("101.50", True, True, None),       # the OMS saw 103.00 trade; IB has not moved it yet
    ("102.10", False, True, "102.10"),  # IB moved the stop above the initial one: trailing
])
def test_leg_facts_trail_activation(stop, seen, activated, shown):
    facts = leg_facts(_trail_record(stop), PLAN, waits_for_parent=False, seen_activated=seen,
                      now=GAT)
    assert facts.activated is activated and facts.activation_price == D("103.00")
    assert facts.stop_price == (None if shown is None else D(shown))
    assert facts.trail_amount == D("1.50")


@pytest.mark.parametrize(("now", "due"), [
    (datetime(2026, 12, 2, 15, 2, 59, tzinfo=timezone.utc), False), (GAT, True)])
def test_leg_facts_time_stop_due(now, due):
    record = OrderRecord("12", "AAPL", Side.SELL, OrderType.MARKET, 100, role=LegRole.TIME_STOP)
    plan = {"activation": "103.00", "good_after_time": "20261202 15:03:00 UTC"}
    facts = leg_facts(record, plan, waits_for_parent=False, seen_activated=False, now=now)
    assert (facts.good_after, facts.due) == (GAT, due)
