"""Each exit path of the entry + OCA group, end to end against the simulator.

Every test asserts on the broker's state (the simulator's orders, positions and
executions), not only on what the OrderManager believes.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from backend.core.models import LegRole, OrderStatus
from tests.helpers import eventually
from tests.oms.conftest import broker_orders, live, signal

pytestmark = pytest.mark.asyncio


async def _enter(core, sim, **signal_overrides):
    manager = core.manager
    entry_id = await manager.execute_entry(signal(**signal_overrides))
    await eventually(lambda: sim.positions().get("AAPL", {}).get("qty") == 100,
                     what="entry filled at the broker")
    legs = {r.role: r for r in manager.legs_of(manager.orders[entry_id].signal_id)}
    await eventually(lambda: all(broker_orders(sim)[r.order_id]["status"] == "PreSubmitted"
                                 for r in legs.values()), what="legs working at the broker")
    return entry_id, legs


async def test_chain_reaches_broker_as_bracket_with_one_oca_group(core, sim):
    entry_id, legs = await _enter(core, sim)
    orders = broker_orders(sim)
    assert orders[entry_id]["status"] == "Filled"
    stop = orders[legs[LegRole.SAFETY_STOP].order_id]
    time_stop = orders[legs[LegRole.TIME_STOP].order_id]
    trail = orders[legs[LegRole.PROFIT_HARVESTER].order_id]
    for leg in (stop, time_stop, trail):
        assert leg["parent_id"] == int(entry_id)
        assert leg["oca_type"] == 2
        assert leg["total_qty"] == 100 and leg["action"] == "SELL"
        assert leg["tif"] == "GTC"
    assert len({stop["oca_group"], time_stop["oca_group"], trail["oca_group"]}) == 1
    assert stop["order_type"] == "STP" and stop["aux_price"] == Decimal("98.00")
    assert time_stop["held_by"] == "good_after_time"
    assert trail["held_by"] == "conditions" and trail["aux_price"] == Decimal("1.50")
    await eventually(lambda: core.manager.get_active_positions(), what="position reported")
    assert set(core.manager.get_active_positions()[0].protected_by) == {
        LegRole.SAFETY_STOP, LegRole.TIME_STOP, LegRole.PROFIT_HARVESTER}


async def test_safety_stop_hit_cancels_siblings_server_side(core, sim):
    entry_id, legs = await _enter(core, sim)
    sim.set_price("AAPL", "97.90")
    await eventually(lambda: "AAPL" not in _open(sim), what="position closed by the stop")
    orders = broker_orders(sim)
    assert orders[legs[LegRole.SAFETY_STOP].order_id]["status"] == "Filled"
    assert orders[legs[LegRole.SAFETY_STOP].order_id]["avg_fill_price"] == Decimal("97.89")
    for role in (LegRole.TIME_STOP, LegRole.PROFIT_HARVESTER):
        assert orders[legs[role].order_id]["status"] == "Cancelled"
    assert live(orders) == {}
    await eventually(lambda: core.manager.track_order(
        legs[LegRole.TIME_STOP].order_id) is OrderStatus.CANCELLED, what="local cancel")


async def test_gap_through_the_stop_fills_at_the_market(core, sim):
    _entry_id, legs = await _enter(core, sim)
    sim.set_price("AAPL", "95.00")
    await eventually(lambda: "AAPL" not in _open(sim), what="stop fill")
    fill = broker_orders(sim)[legs[LegRole.SAFETY_STOP].order_id]["avg_fill_price"]
    assert fill == Decimal("94.99"), "a gap through the stop fills at the bid, not at 98.00"


async def test_time_stop_fires_after_the_configured_time(core, sim):
    _entry_id, legs = await _enter(core, sim)
    sim.advance_time(60)
    assert broker_orders(sim)[legs[LegRole.TIME_STOP].order_id]["status"] == "PreSubmitted"
    sim.advance_time(125)  # past the 180 s goodAfterTime
    await eventually(lambda: "AAPL" not in _open(sim), what="time stop exit")
    orders = broker_orders(sim)
    assert orders[legs[LegRole.TIME_STOP].order_id]["status"] == "Filled"
    assert orders[legs[LegRole.SAFETY_STOP].order_id]["status"] == "Cancelled"
    assert orders[legs[LegRole.PROFIT_HARVESTER].order_id]["status"] == "Cancelled"


async def test_time_stop_does_not_fire_after_ignition(core, sim):
    _entry_id, legs = await _enter(core, sim)
    sim.set_price("AAPL", "103.20")  # ignition: above the 103.00 activation level
    time_leg = legs[LegRole.TIME_STOP].order_id
    await eventually(lambda: broker_orders(sim)[time_leg]["status"] == "Cancelled",
                     what="time stop cancelled by its condition at the broker")
    sim.advance_time(600)
    await eventually(lambda: broker_orders(sim)[legs[LegRole.PROFIT_HARVESTER].order_id][
        "held_by"] is None, what="trail active")
    assert sim.positions()["AAPL"]["qty"] == 100, "no time exit after ignition"
    assert broker_orders(sim)[legs[LegRole.SAFETY_STOP].order_id]["status"] == "PreSubmitted"


async def test_trail_activates_at_three_percent_and_exits_on_pullback(core, sim):
    _entry_id, legs = await _enter(core, sim)
    trail_id = legs[LegRole.PROFIT_HARVESTER].order_id
    sim.set_price("AAPL", "102.90")
    await eventually(lambda: broker_orders(sim)[trail_id]["held_by"] == "conditions",
                     what="trail still dormant below activation")
    sim.set_price("AAPL", "103.00")
    await eventually(lambda: broker_orders(sim)[trail_id]["held_by"] is None,
                     what="trail activated")
    assert broker_orders(sim)[trail_id]["trail_stop"] == Decimal("101.50")
    sim.set_price("AAPL", "106.00")
    await eventually(lambda: broker_orders(sim)[trail_id]["trail_stop"] == Decimal("104.50"),
                     what="trail ratchets up with the price")
    sim.set_price("AAPL", "104.40")  # pullback through 104.50
    await eventually(lambda: "AAPL" not in _open(sim), what="trail exit")
    orders = broker_orders(sim)
    assert orders[trail_id]["status"] == "Filled"
    assert orders[trail_id]["avg_fill_price"] == Decimal("104.39")
    assert orders[legs[LegRole.SAFETY_STOP].order_id]["status"] == "Cancelled"
    executions = [e for e in sim.executions() if e["client_id"] == 7]
    gross = sum((e["price"] * e["shares"] * (1 if e["side"] == "SLD" else -1)
                 for e in executions), Decimal(0))
    fees = sum((e["commission"] for e in executions), Decimal(0))
    await eventually(lambda: core.manager.books().get("AAPL") is not None and core.manager.books()[
        "AAPL"].commissions == fees, what="commissions reported")
    position = core.manager.books()["AAPL"]
    assert position.realized == gross - fees, "P&L adds up to fills minus commissions"
    assert sim.positions()["AAPL"]["realized"] == position.realized


def _open(sim) -> dict:
    return {s: p for s, p in sim.positions().items() if p["qty"]}
