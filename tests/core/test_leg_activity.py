"""backend.core.leg_activity: "can this leg act now", one row per leg shape and session."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from backend.core.leg_activity import (
    ACTS_OUTSIDE_RTH,
    LegActivity,
    LegFacts,
    countdown,
    describe_leg,
    leg_facts,
    parse_ib_utc,
    skipped_time_stop,
)
from backend.core.market_hours import Session
from backend.core.models import LegRole, OrderRecord, OrderStatus, OrderType, Side

D = Decimal
GAT = datetime(2026, 12, 2, 15, 3, tzinfo=timezone.utc)
STOP = LegFacts("11", LegRole.SAFETY_STOP, OrderType.STOP, stop_price=D("98.00"))
TIME = LegFacts("12", LegRole.TIME_STOP, OrderType.MARKET, activation_price=D("103.00"),
                good_after=GAT, seconds_left=161.4)
TRAIL = LegFacts("13", LegRole.PROFIT_HARVESTER, OrderType.TRAIL, stop_price=D("101.50"),
                 activation_price=D("103.00"))
R, PRE, AFTER, CLOSED = (Session.REGULAR, Session.PRE_MARKET, Session.AFTER_HOURS,
                         Session.CLOSED)

ROWS = [
    # (leg, session, can act, sentence)
    (STOP, R, True, "stop 98.00"),
    (STOP, PRE, False, "stop: regular hours only"),
    (STOP, AFTER, False, "stop: regular hours only"),
    (STOP, CLOSED, False, "stop: market closed, acts from the regular open"),
    # outsideRth on a STP is ignored by IB (2109, R8): still regular hours only
    (LegFacts("11", LegRole.SAFETY_STOP, OrderType.STOP, outside_rth=True,
              stop_price=D("98.00")), PRE, False, "stop: regular hours only"),
    (LegFacts("11", LegRole.SAFETY_STOP, OrderType.STOP, waits_for_parent=True), R, False,
     "stop: waits for the entry to fill"),
    (TIME, R, False, "time stop in 2:41"),
    (dataclasses.replace(TIME, seconds_left=3723), R, False, "time stop in 1:02:03"),
    (dataclasses.replace(TIME, good_after=None, seconds_left=None), R, False,
     "time stop waits for its time"),
    (LegFacts("12", LegRole.TIME_STOP, OrderType.MARKET, activation_price=D("103.00"),
              good_after=GAT, due=True), R, True, "time stop due: sells at market"),
    (TIME, PRE, False, "time stop: regular hours only"),
    (TRAIL, R, False, "trail armed at 103.00"),
    (LegFacts("13", LegRole.PROFIT_HARVESTER, OrderType.TRAIL, stop_price=D("104.50"),
              activation_price=D("103.00"), activated=True), R, True,
     "trailing: stop 104.50"),
    (TRAIL, AFTER, False, "trail: regular hours only"),
    (LegFacts("13", LegRole.PROFIT_HARVESTER, OrderType.TRAIL, trail_amount=D("1.50"),
              activation_price=D("103.00"), activated=True), R, True,
     "trailing: 1.50 under the high"),
    # a manual working stop, and a LMT leg that IB lets act outside regular hours
    (LegFacts("20", LegRole.MANUAL, OrderType.STOP, stop_price=D("97.00")), R, True,
     "stop 97.00"),
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


def test_leg_facts_time_stop_counts_down():
    record = OrderRecord("12", "AAPL", Side.SELL, OrderType.MARKET, 100, role=LegRole.TIME_STOP)
    plan = {"activation": "103.00", "good_after_time": "20261202 15:03:00 UTC"}
    facts = leg_facts(record, plan, waits_for_parent=False, seen_activated=False,
                      now=GAT - timedelta(minutes=2, seconds=41))
    assert describe_leg(facts, R).sentence == "time stop in 2:41"


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0:00"), (-5, "0:00"), (59.9, "0:59"), (161, "2:41"), (3600, "1:00:00")])
def test_countdown(seconds, text):
    assert countdown(seconds) == text


def _leg(order_id: str, role: LegRole, status: OrderStatus) -> OrderRecord:
    return OrderRecord(order_id, "AAPL", Side.SELL, OrderType.MARKET, 100, role=role,
                       status=status, signal_id="s1")


@pytest.mark.parametrize(("time_status", "stop_status", "sentence"), [
    # Cancelled alone while the stop still works: a system cancel, its condition (R4).
    (OrderStatus.CANCELLED, OrderStatus.PENDING, "time stop skipped: ignited at 103.00"),
    # The whole group cancelled (the trader's cancel, or a fill): not "skipped".
    (OrderStatus.CANCELLED, OrderStatus.CANCELLED, None),
    (OrderStatus.PENDING, OrderStatus.PENDING, None),  # still live: describe_leg's job
])
def test_skipped_time_stop(time_status, stop_status, sentence):
    legs = [_leg("11", LegRole.SAFETY_STOP, stop_status), _leg("12", LegRole.TIME_STOP,
                                                                time_status)]
    activity = skipped_time_stop(legs, {"12": {"activation": "103.00"}})
    assert (activity.sentence if activity else None) == sentence
    if activity:
        assert activity.order_id == "12" and not activity.can_act_now
