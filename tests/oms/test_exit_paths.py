"""Each exit path of the entry + OCA group, end to end, for EVERY entry type.

``limit``: a marketable LMT entry with stop, time stop and trail attached in one chain.
``market``: a MKT entry with stop and time stop attached; the trail follows the fill into
the same OCA group. Every test asserts on the broker's state (the simulator's orders,
positions and executions), not only on what the OrderManager believes.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from backend.core.models import LegRole, OrderStatus
from tests.helpers import eventually
from tests.oms.conftest import (
    CLIENT_ID,
    FILL,
    TRAIL_LEVELS,
    broker_orders,
    enter,
    held,
    live,
    signal,
    working,
)

pytestmark = pytest.mark.asyncio


@pytest.fixture(params=["limit", "market"])
def entry_type(request) -> str:
    return request.param


async def test_chain_reaches_broker_as_one_oca_group(core, sim, entry_type):
    entry_id, legs = await enter(core, sim)
    orders = broker_orders(sim)
    entry = orders[entry_id]
    assert entry["status"] == "Filled" and entry["avg_fill_price"] == FILL
    stop = orders[legs[LegRole.SAFETY_STOP].order_id]
    time_stop = orders[legs[LegRole.TIME_STOP].order_id]
    trail = orders[legs[LegRole.PROFIT_HARVESTER].order_id]
    if entry_type == "limit":
        # 100.00 x 1.005 = 100.50: the cap; the marketable limit took the ask, 100.01.
        assert (entry["order_type"], entry["lmt_price"]) == ("LMT", Decimal("100.50"))
        assert trail["parent_id"] == int(entry_id), "the trail rides on the LMT parent"
    else:
        assert entry["order_type"] == "MKT"
        assert trail["parent_id"] == 0, "no TRAIL child under a MKT parent (error 328)"
    for leg in (stop, time_stop):
        assert leg["parent_id"] == int(entry_id)
    for leg in (stop, time_stop, trail):
        assert leg["oca_type"] == 2 and leg["tif"] == "GTC"
        assert leg["total_qty"] == 100 and leg["action"] == "SELL"
    assert {stop["oca_group"], time_stop["oca_group"], trail["oca_group"]} == {
        f"S9-{core.manager.orders[entry_id].signal_id}"}
    assert stop["order_type"] == "STP" and stop["aux_price"] == Decimal("98.00")
    assert time_stop["held_by"] == "good_after_time"
    activation, initial = TRAIL_LEVELS[entry_type]
    assert trail["held_by"] == "conditions" and trail["aux_price"] == Decimal("1.50")
    assert trail["order_ref"].endswith(":profit_harvester")
    await eventually(lambda: core.manager.get_active_positions(), what="position reported")
    assert set(core.manager.get_active_positions()[0].protected_by) == {
        LegRole.SAFETY_STOP, LegRole.TIME_STOP, LegRole.PROFIT_HARVESTER}


async def test_the_fill_is_covered_by_a_working_stop_with_no_gap(core, sim):
    """With matching paused, the pass that fills the entry is the only one: the stop must
    be working in that very state, not one message later."""
    with sim.paused():
        entry_id = await core.manager.execute_entry(signal())
        await eventually(lambda: broker_orders(sim).get(entry_id, {}).get("status") == "Filled",
                         what="entry filled by the release pass")
        assert held(sim) == 100
        stop = next(o for o in broker_orders(sim).values() if o["order_type"] == "STP")
        assert working(stop), stop
        assert stop["parent_id"] == int(entry_id) and stop["why_held"] == "trigger"
        assert len([e for e in sim.executions() if e["client_id"] == CLIENT_ID]) == 1


async def test_safety_stop_hit_cancels_siblings_server_side(core, sim):
    _entry_id, legs = await enter(core, sim)
    sim.set_price("AAPL", "97.90")
    await eventually(lambda: held(sim) == 0, what="position closed by the stop")
    orders = broker_orders(sim)
    assert orders[legs[LegRole.SAFETY_STOP].order_id]["status"] == "Filled"
    assert orders[legs[LegRole.SAFETY_STOP].order_id]["avg_fill_price"] == Decimal("97.89")
    for role in (LegRole.TIME_STOP, LegRole.PROFIT_HARVESTER):
        assert orders[legs[role].order_id]["status"] == "Cancelled"
        assert orders[legs[role].order_id]["filled"] == 0
    assert live(orders) == {}
    await eventually(lambda: core.manager.track_order(
        legs[LegRole.TIME_STOP].order_id) is OrderStatus.CANCELLED, what="local cancel")


async def test_gap_through_the_stop_fills_at_the_market(core, sim):
    _entry_id, legs = await enter(core, sim)
    sim.set_price("AAPL", "95.00")
    await eventually(lambda: held(sim) == 0, what="stop fill")
    fill = broker_orders(sim)[legs[LegRole.SAFETY_STOP].order_id]["avg_fill_price"]
    assert fill == Decimal("94.99"), "a gap through the stop fills at the bid, not at 98.00"


async def test_time_stop_fires_before_ignition(core, sim):
    _entry_id, legs = await enter(core, sim)
    sim.advance_time(60)
    assert broker_orders(sim)[legs[LegRole.TIME_STOP].order_id]["status"] == "PreSubmitted"
    assert held(sim) == 100
    sim.advance_time(125)  # past the 180 s goodAfterTime
    await eventually(lambda: held(sim) == 0, what="time stop exit")
    orders = broker_orders(sim)
    assert orders[legs[LegRole.TIME_STOP].order_id]["status"] == "Filled"
    assert orders[legs[LegRole.SAFETY_STOP].order_id]["status"] == "Cancelled"
    assert orders[legs[LegRole.PROFIT_HARVESTER].order_id]["status"] == "Cancelled"
    assert live(orders) == {}


async def test_time_stop_does_not_fire_after_ignition(core, sim, entry_type):
    _entry_id, legs = await enter(core, sim)
    sim.set_price("AAPL", "103.20")  # ignition: above both activation levels
    time_leg = legs[LegRole.TIME_STOP].order_id
    await eventually(lambda: broker_orders(sim)[time_leg]["status"] == "Cancelled",
                     what="time stop cancelled by its condition at the broker")
    trail_id = legs[LegRole.PROFIT_HARVESTER].order_id
    await eventually(lambda: broker_orders(sim)[trail_id]["held_by"] is None,
                     what="trail active")
    sim.advance_time(600)
    sim.match()
    assert held(sim) == 100, "no time exit after ignition"
    orders = broker_orders(sim)
    assert working(orders[legs[LegRole.SAFETY_STOP].order_id]), (
        "the condition's own cancel is not a client cancel: the siblings stay (R4)")
    assert working(orders[trail_id])


async def test_trail_activates_at_three_percent_and_exits_on_pullback(core, sim, entry_type):
    _entry_id, legs = await enter(core, sim)
    activation, initial = TRAIL_LEVELS[entry_type]
    trail_id = legs[LegRole.PROFIT_HARVESTER].order_id
    sim.set_price("AAPL", str(activation - Decimal("0.10")))
    sim.match()
    assert broker_orders(sim)[trail_id]["held_by"] == "conditions", "dormant below activation"
    sim.set_price("AAPL", str(activation))
    await eventually(lambda: broker_orders(sim)[trail_id]["held_by"] is None,
                     what="trail activated")
    assert broker_orders(sim)[trail_id]["trail_stop"] == initial
    sim.set_price("AAPL", "106.00")
    await eventually(lambda: broker_orders(sim)[trail_id]["trail_stop"] == Decimal("104.50"),
                     what="trail ratchets up with the price")
    sim.set_price("AAPL", "104.40")  # pullback through 104.50
    await eventually(lambda: held(sim) == 0, what="trail exit")
    orders = broker_orders(sim)
    assert orders[trail_id]["status"] == "Filled"
    assert orders[trail_id]["avg_fill_price"] == Decimal("104.39")
    assert orders[legs[LegRole.SAFETY_STOP].order_id]["status"] == "Cancelled"
    assert live(orders) == {}
    executions = [e for e in sim.executions() if e["client_id"] == CLIENT_ID]
    gross = sum((e["price"] * e["shares"] * (1 if e["side"] == "SLD" else -1)
                 for e in executions), Decimal(0))
    fees = sum((e["commission"] for e in executions), Decimal(0))
    await eventually(lambda: core.manager.books().get("AAPL") is not None and core.manager.books()[
        "AAPL"].commissions == fees, what="commissions reported")
    position = core.manager.books()["AAPL"]
    assert position.realized == gross - fees, "P&L adds up to fills minus commissions"
    assert sim.positions()["AAPL"]["realized"] == position.realized
