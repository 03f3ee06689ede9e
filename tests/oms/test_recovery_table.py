"""The pure recovery rules (backend/core/recovery_rules.py), row by row.

What is lost after a drop or a restart, and when a lost signal may be sent again: the two
answers that either leave a symbol blocked or send a second entry.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from backend.core import coverage
from backend.core.models import LegRole, OrderRecord, OrderStatus, OrderType, Side
from backend.core.recovery_rules import (
    LOST_PREFIX,
    is_broker_id,
    is_lost,
    lost_orders,
    retry_refusal,
)

P, F, C, E, INACTIVE = (OrderStatus.PENDING, OrderStatus.FILLED, OrderStatus.CANCELLED,
                 OrderStatus.ERROR, OrderStatus.INACTIVE)


def rec(order_id: str = "5", status: OrderStatus = P, filled: int = 0,
        signal_id: str = "sig", role: LegRole = LegRole.ENTRY, message: str = "",
        broker_status: str = "") -> OrderRecord:
    return OrderRecord(order_id=order_id, symbol="AAPL", side=Side.BUY,
                       order_type=OrderType.LIMIT, quantity=100, status=status, role=role,
                       filled=filled, signal_id=signal_id, message=message,
                       broker_status=broker_status)


@pytest.mark.parametrize("order_id, expected", [
    ("5", True), ("1002", True), ("0", False), ("perm-123", False), ("pos-AAPL", False),
    ("", False),
])
def test_broker_ids(order_id, expected):
    assert is_broker_id(order_id) is expected


@pytest.mark.parametrize("record, known, executed, lost", [
    (rec(), set(), set(), True),                        # sent, working, unknown: lost
    (rec(), {"5"}, set(), False),                       # the broker knows it
    (rec(status=INACTIVE), set(), set(), True),                # parked, and now unknown
    (rec(status=C), set(), set(), False),               # already final
    (rec(status=F, filled=100), set(), set(), False),
    (rec(status=OrderStatus.PARTIAL_FILL, filled=40), set(), set(), False),  # has shares
    (rec(), set(), {"5"}, False),                       # an execution names it
    (rec(order_id="pos-AAPL"), set(), set(), False),    # not a broker order
    (rec(order_id="0"), set(), set(), False),
])
def test_lost_orders(record, known, executed, lost):
    assert (lost_orders([record], known, executed) == [record]) is lost


def test_lost_is_cancelled_with_the_prefix():
    assert is_lost(rec(status=C, message=LOST_PREFIX + "gone"))
    assert not is_lost(rec(status=C, message="cancelled by the trader"))
    assert not is_lost(rec(status=E, message=LOST_PREFIX + "gone"))


LOST_ENTRY = rec(status=C, message=LOST_PREFIX + "gone")


@pytest.mark.parametrize("outcome, trade, broker, allowed, words", [
    ("lost", [LOST_ENTRY], [], True, ""),
    ("lost", [LOST_ENTRY], [rec("9", status=C, broker_status="Cancelled")], True, ""),
    ("lost", [LOST_ENTRY], [rec("9", broker_status="Submitted")], False, "order 9"),
    ("lost", [LOST_ENTRY], [rec("9", status=F, filled=100)], False, "order 9"),
    ("lost", [LOST_ENTRY], [rec("9", signal_id="sig~r1", role=LegRole.SAFETY_STOP)], False,
     "order 9"),
    ("lost", [LOST_ENTRY], [rec("9", signal_id="other")], True, ""),
    ("lost", [LOST_ENTRY, rec("6", role=LegRole.SAFETY_STOP)], [], False, "order 6"),
    ("lost", [rec(status=C, filled=40)], [], False, "order 5"),
    ("accepted", [LOST_ENTRY], [], False, "not lost"),
    (None, [], [], False, "not lost"),
])
def test_a_lost_signal_is_retried_only_while_nothing_of_it_can_trade(outcome, trade, broker,
                                                                     allowed, words):
    why = retry_refusal("sig", outcome, trade, broker)
    assert (why is None) is allowed
    if not allowed:
        assert why is not None and words in why


# -- what counts as protection (backend/core/coverage.py) --------------------------------------
class Facts:
    def __init__(self, plans=None, activated=()):
        self.leg_plans = plans or {}
        self.activated_trails = set(activated)

    def now(self) -> datetime:
        return datetime(2026, 12, 2, 15, 0, tzinfo=timezone.utc)


def leg(order_id: str, order_type: OrderType, group: str = "S9-a", qty: int = 100,
        role: LegRole = LegRole.SAFETY_STOP, status: OrderStatus = P, **changes) -> OrderRecord:
    return OrderRecord(order_id=order_id, symbol="AAPL", side=Side.SELL, order_type=order_type,
                       quantity=qty, status=status, role=role, oca_group=group, **changes)


DORMANT = {"7": {"activation": "103.00"}}


@pytest.mark.parametrize("legs, facts, covered", [
    ([leg("5", OrderType.STOP)], Facts(), 100),
    ([leg("5", OrderType.STOP), leg("7", OrderType.TRAIL)], Facts(DORMANT), 100),  # one group
    ([leg("6", OrderType.MARKET, role=LegRole.TIME_STOP)], Facts(), 0),          # time stop
    ([leg("7", OrderType.TRAIL, role=LegRole.PROFIT_HARVESTER)], Facts(DORMANT), 0),  # dormant
    ([leg("7", OrderType.TRAIL, role=LegRole.PROFIT_HARVESTER)], Facts(DORMANT, {"7"}), 100),
    ([leg("7", OrderType.TRAIL, role=LegRole.PROFIT_HARVESTER)], Facts(), 100),  # no condition
    ([leg("5", OrderType.STOP, qty=40), leg("8", OrderType.STOP, "S9-a~r1", qty=60)], Facts(),
     100),                                                                        # two groups
    ([leg("5", OrderType.STOP, status=C)], Facts(), 0),
    ([leg("5", OrderType.STOP, status=INACTIVE)], Facts(), 0),
    ([leg("5", OrderType.STOP, filled=30)], Facts(), 70),
])
def test_only_working_stops_and_active_trails_cover(legs, facts, covered):
    assert coverage.group_cover(coverage.protecting(facts, coverage.live_exits(legs, "AAPL"))
                                ) == covered


def test_a_live_flatten_covers_what_it_sells():
    flatten = leg("9", OrderType.MARKET, "", qty=100, role=LegRole.FLATTEN, filled=40)
    assert coverage.closing([flatten], "AAPL") == 60
    assert coverage.closing([leg("9", OrderType.MARKET, "", role=LegRole.FLATTEN, status=F,
                                 filled=100)], "AAPL") == 0
