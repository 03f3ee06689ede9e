"""backend.core.market_trail: when the market entry's trail is due, and its size."""

from __future__ import annotations

import pytest

from backend.core.market_trail import entry_finished, needs_trail, trail_quantity
from backend.core.models import LegRole, OrderRecord, OrderStatus, OrderType, Side

P, PF, F, C = (OrderStatus.PENDING, OrderStatus.PARTIAL_FILL, OrderStatus.FILLED,
               OrderStatus.CANCELLED)


def entry(status=F, filled=100, order_type=OrderType.MARKET, role=LegRole.ENTRY):
    return OrderRecord("10", "AAPL", Side.BUY, order_type, 100, status=status, role=role,
                       filled=filled, signal_id="abc")


def leg(role, status=P, signal_id="abc", order_type=OrderType.STOP):
    return OrderRecord("11", "AAPL", Side.SELL, order_type, 100, status=status, role=role,
                       signal_id=signal_id)


@pytest.mark.parametrize(("status", "filled", "finished"), [
    (P, 0, False), (PF, 40, False), (F, 100, True), (C, 40, True), (C, 0, False),
    (P, 100, True),  # all shares executed before IB's Filled status arrived
    (OrderStatus.ERROR, 30, True),
])
def test_entry_finished(status, filled, finished):
    assert entry_finished(entry(status, filled)) is finished


@pytest.mark.parametrize(("filled", "exits", "position", "qty"), [
    (100, 0, None, 100), (100, 0, 100, 100), (40, 0, 40, 40),
    (100, 40, None, 60),       # the stop sold 40 before the trail went out
    (100, 0, 60, 60),          # never larger than the broker's position
    (100, 100, None, 0), (100, 0, 0, 0), (40, 60, None, 0),
])
def test_trail_quantity(filled, exits, position, qty):
    assert trail_quantity(filled, exits, position) == qty


STOP, TIME = leg(LegRole.SAFETY_STOP), leg(LegRole.TIME_STOP, order_type=OrderType.MARKET)


@pytest.mark.parametrize(("the_entry", "legs", "due"), [
    (entry(), [STOP, TIME], True),
    (entry(C, 40), [STOP, TIME], True),
    (entry(PF, 40), [STOP, TIME], False),                 # still filling
    (entry(order_type=OrderType.LIMIT), [STOP, TIME], False),  # its trail rode on it
    (entry(), [STOP, TIME, leg(LegRole.PROFIT_HARVESTER, order_type=OrderType.TRAIL)], False),
    (entry(), [leg(LegRole.PROFIT_HARVESTER, OrderStatus.ERROR, order_type=OrderType.TRAIL),
               STOP], False),                             # a failed trail is the rule's job
    (entry(), [leg(LegRole.SAFETY_STOP, F), leg(LegRole.TIME_STOP, C)], False),  # closed
    (entry(), [leg(LegRole.SAFETY_STOP, signal_id="abc~r1")], False),  # re-protected
    (entry(), [leg(LegRole.SAFETY_STOP, OrderStatus.INACTIVE)], False),
    (entry(role=LegRole.MANUAL), [STOP], False),
])
def test_needs_trail(the_entry, legs, due):
    assert needs_trail(the_entry, legs) is due
