"""Cancelling an exit leg, closing a position, entries outside regular hours, leg activity.

IB: a client cancel of one OCA member cancels the whole group (R4); the simulator enforces
it. So the OMS refuses a single-leg cancel unless the whole group is confirmed, says what
it would do, and offers closing the position instead.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from backend.core.cancels import CloseRefused, ExitLegCancelRefused
from backend.core.models import LegRole, OrderStatus
from backend.core.order_manager import SignalRefused
from tests.helpers import eventually
from tests.oms.conftest import CLIENT_ID, broker_orders, enter, held, live, signal, sim_clock

pytestmark = pytest.mark.asyncio


@pytest.fixture(params=["limit", "market"])
def entry_type(request) -> str:
    return request.param


async def test_cancelling_one_exit_leg_is_refused_and_says_what_ib_would_do(core, sim):
    entry_id, legs = await enter(core, sim)
    before = broker_orders(sim)
    time_stop = legs[LegRole.TIME_STOP].order_id
    impact = core.manager.cancel_impact(time_stop)
    assert impact.is_exit_leg and impact.offer_close_position
    assert (impact.symbol, impact.shares) == ("AAPL", 100)
    assert "cancels all protection of 100 AAPL" in impact.sentence
    assert set(impact.cancels) == {r.order_id for r in legs.values()}
    assert impact.group == f"S9-{core.manager.orders[entry_id].signal_id}"
    with pytest.raises(ExitLegCancelRefused) as refused:
        core.manager.cancel(time_stop)
    assert refused.value.impact == impact and "close the position" in str(refused.value)
    sim.match()
    assert broker_orders(sim) == before, "nothing was sent"
    assert len(live(broker_orders(sim))) == 3 and held(sim) == 100


async def test_confirmed_cancel_ends_the_whole_group_at_the_broker(core, sim):
    _entry_id, legs = await enter(core, sim)
    sent = core.manager.cancel(legs[LegRole.SAFETY_STOP].order_id, confirm_group=True)
    assert set(sent) == {r.order_id for r in legs.values()}
    await eventually(lambda: live(broker_orders(sim)) == {}, what="the whole group cancelled")
    assert all(broker_orders(sim)[r.order_id]["status"] == "Cancelled" for r in legs.values())
    assert held(sim) == 100, "the position stays, now unprotected: what the trader confirmed"
    await eventually(lambda: all(core.manager.track_order(r.order_id) is OrderStatus.CANCELLED
                                 for r in legs.values()), what="local state follows")
    assert core.manager.leg_activity("AAPL") == []


async def test_confirmed_cancel_of_a_pending_entrys_leg_cancels_the_entry_too(core, sim):
    sim.halt("AAPL")
    entry_id = await core.manager.execute_entry(signal())
    await eventually(lambda: len(live(broker_orders(sim))) >= 3, what="chain at the broker")
    stop_id = next(r.order_id for r in core.manager.legs_of(core.manager.orders[
        entry_id].signal_id) if r.role is LegRole.SAFETY_STOP)
    impact = core.manager.cancel_impact(stop_id)
    assert impact.shares == 0 and not impact.offer_close_position
    assert impact.cancels[0] == entry_id, "the entry first: it must not fill unprotected"
    core.manager.cancel(stop_id, confirm_group=True)
    await eventually(lambda: live(broker_orders(sim)) == {}, what="entry and exits cancelled")
    sim.resume_trading("AAPL")
    sim.match()
    assert held(sim) == 0


async def test_close_position_cancels_the_group_then_sells_at_market(core, sim):
    entry_id, legs = await enter(core, sim)
    order_id = await core.manager.close_position("AAPL")
    await eventually(lambda: held(sim) == 0, what="position sold")
    orders = broker_orders(sim)
    assert all(orders[r.order_id]["status"] == "Cancelled" and orders[r.order_id]["filled"] == 0
               for r in legs.values())
    close = orders[order_id]
    assert (close["order_type"], close["action"], close["total_qty"]) == ("MKT", "SELL", 100)
    assert close["order_ref"] == f"s9:{core.manager.orders[entry_id].signal_id}:flatten"
    sold = sum(e["shares"] for e in sim.executions()
               if e["client_id"] == CLIENT_ID and e["side"] == "SLD")
    assert sold == 100 and live(broker_orders(sim)) == {}
    with pytest.raises(CloseRefused, match="no open AAPL position"):
        await core.manager.close_position("AAPL")


async def test_other_orders_cancel_as_before(core, sim):
    sim.halt("AAPL")
    entry_id = await core.manager.execute_entry(signal())
    await eventually(lambda: len(live(broker_orders(sim))) >= 3, what="chain at the broker")
    impact = core.manager.cancel_impact(entry_id)
    assert not impact.is_exit_leg and "attached exits" in impact.sentence
    assert core.manager.cancel(entry_id) == [entry_id]
    await eventually(lambda: live(broker_orders(sim)) == {}, what="children went with it")


@pytest.mark.parametrize("entry_type", ["limit"])
async def test_leg_activity_follows_the_session(core, sim):
    _entry_id, legs = await enter(core, sim)
    by_role = {a.role: a for a in core.manager.leg_activity("AAPL")}
    assert by_role[LegRole.SAFETY_STOP].sentence == "stop 98.00"
    assert by_role[LegRole.SAFETY_STOP].can_act_now
    assert by_role[LegRole.PROFIT_HARVESTER].sentence == "trail armed at 103.00"
    assert re.fullmatch(r"time stop in \d+:\d\d", by_role[LegRole.TIME_STOP].sentence)
    pre_market = datetime(2026, 12, 3, 13, 0, tzinfo=timezone.utc)  # 08:00 US/Eastern
    core.manager.now = lambda: pre_market
    sentences = {a.role: a.sentence for a in core.manager.leg_activity("AAPL")}
    assert sentences == {LegRole.SAFETY_STOP: "stop: regular hours only",
                         LegRole.TIME_STOP: "time stop: regular hours only",
                         LegRole.PROFIT_HARVESTER: "trail: regular hours only"}
    assert not any(a.can_act_now for a in core.manager.leg_activity("AAPL"))
    core.manager.now = sim_clock(sim)
    await core.connector.market.subscribe("AAPL")  # the OMS sees the ticks
    sim.set_price("AAPL", "103.20")  # ignition: the time stop goes, the trail trails
    await eventually(lambda: [a.sentence for a in core.manager.leg_activity("AAPL")] == [
        "stop 98.00", "trailing: 1.50 under the high"],
        what="the trail shown working")


OUTSIDE_RTH_ROWS = [
    # (moment UTC, words): December, so US/Eastern = UTC - 5
    (datetime(2026, 12, 3, 13, 0, tzinfo=timezone.utc), "the pre-market"),     # Thu 08:00
    (datetime(2026, 12, 3, 21, 30, tzinfo=timezone.utc), "after hours"),       # Thu 16:30
    (datetime(2026, 12, 4, 2, 0, tzinfo=timezone.utc), "outside trading hours"),  # 21:00
    (datetime(2026, 12, 5, 15, 0, tzinfo=timezone.utc), "outside trading hours"),  # Sat
]


@pytest.mark.parametrize("entry_type", ["limit"])
async def test_entries_outside_regular_hours_are_refused_with_a_sentence(core, sim):
    for moment, words in OUTSIDE_RTH_ROWS:
        core.manager.now = lambda moment=moment: moment
        with pytest.raises(SignalRefused) as refused:
            await core.manager.execute_entry(signal())
        assert refused.value.code == "outside_rth"
        assert words in refused.value.reason and "AAPL" in refused.value.reason
        if words != "outside trading hours":
            assert "allow_outside_rth" in refused.value.reason
    assert broker_orders(sim) == {}, "nothing reached the broker"
    assert len(core.journal.events("refused")) == len(OUTSIDE_RTH_ROWS)
