"""backend.core.cancels: what a cancel ends at IB, and the sentence the trader reads first.

IB: a client cancel of one OCA member cancels the whole group (ib-orders R4).
"""

from __future__ import annotations

import pytest

from backend.core.cancels import (
    CancelImpact,
    ExitLegCancelRefused,
    exit_cancel_impact,
    other_cancel_impact,
)
from backend.core.models import LegRole, OrderRecord, OrderStatus, OrderType, Side


def rec(order_id: str, role: LegRole, order_type: OrderType = OrderType.STOP,
        status: OrderStatus = OrderStatus.PENDING, filled: int = 0, side: Side = Side.SELL,
        parent: str = "") -> OrderRecord:
    return OrderRecord(order_id, "AAPL", side, order_type, 100, status=status, role=role,
                       filled=filled, parent_id=parent, oca_group="S9-abc", signal_id="abc")


FILLED_ENTRY = rec("10", LegRole.ENTRY, OrderType.LIMIT, OrderStatus.FILLED, 100, Side.BUY)
PENDING_ENTRY = rec("10", LegRole.ENTRY, OrderType.LIMIT, side=Side.BUY)
STOP = rec("11", LegRole.SAFETY_STOP)
TIME = rec("12", LegRole.TIME_STOP, OrderType.MARKET)
TRAIL = rec("13", LegRole.PROFIT_HARVESTER, OrderType.TRAIL)
GROUP = [STOP, TIME, TRAIL]


def test_cancelling_a_leg_of_a_held_position_names_all_its_protection():
    impact = exit_cancel_impact(TIME, GROUP, FILLED_ENTRY, shares=100)
    assert impact == CancelImpact(
        order_id="12", is_exit_leg=True, symbol="AAPL", shares=100, group="S9-abc",
        cancels=("11", "12", "13"),
        sentence="Cancelling time stop 12 cancels all protection of 100 AAPL: IB cancels "
                 "every order of OCA group S9-abc (3 orders).",
        offer_close_position=True)
    assert "cancels all protection of 100 AAPL" in impact.sentence


def test_a_done_member_is_not_cancelled_again():
    done = rec("11", LegRole.SAFETY_STOP, status=OrderStatus.CANCELLED)
    impact = exit_cancel_impact(TRAIL, [done, TIME, TRAIL], FILLED_ENTRY, shares=60)
    assert impact.cancels == ("12", "13") and impact.shares == 60
    assert "all protection of 60 AAPL" in impact.sentence and "(2 orders)" in impact.sentence


def test_cancelling_a_leg_of_a_pending_entry_cancels_the_entry_first():
    impact = exit_cancel_impact(STOP, GROUP, PENDING_ENTRY, shares=0)
    assert impact.cancels == ("10", "11", "12", "13")
    assert impact.shares == 0 and not impact.offer_close_position
    assert "pending AAPL entry" in impact.sentence and "entry 10 is cancelled too" in (
        impact.sentence)


def test_refusal_is_one_sentence_offering_the_close():
    exc = ExitLegCancelRefused(exit_cancel_impact(STOP, GROUP, FILLED_ENTRY, shares=100))
    text = str(exc)
    assert text.startswith("Cancelling stop 11 cancels all protection of 100 AAPL")
    assert text.endswith("confirm to cancel the whole group, or close the position instead.")
    assert ". " not in text and exc.impact.is_exit_leg


@pytest.mark.parametrize(("record", "attached", "cancels", "words"), [
    (PENDING_ENTRY, GROUP, ("10", "11", "12", "13"), "also cancels its 3 attached exits"),
    (rec("10", LegRole.ENTRY, OrderType.LIMIT, OrderStatus.PARTIAL_FILL, 40, Side.BUY), GROUP,
     ("10",), "the 40 shares bought keep their exits"),
    (rec("30", LegRole.MANUAL, OrderType.LIMIT, side=Side.BUY), [], ("30",),
     "Cancelling order 30 for AAPL ends that order."),
])
def test_other_cancels(record, attached, cancels, words):
    impact = other_cancel_impact(record, attached)
    assert impact.cancels == cancels and words in impact.sentence
    assert not impact.is_exit_leg and not impact.offer_close_position and impact.group == ""
