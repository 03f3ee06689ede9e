"""What differs between the entry types, end to end against the simulator.

- The market entry's trail follows the fill into the same OCA group, priced from the fill.
- Partial fills: attached exits work for what the parent filled; the trail is sent for the
  filled quantity, never more than the position.
- The entry timeout: an entry not (fully) filled is cancelled; unfilled exits go with it.
- A crash between the market entry's fill and its trail is repaired by reconciliation.
- The old chain shape (MKT parent + TRAIL child) is refused by the simulator with 328, as by
  IB (capture ``api_bracket_trailing_stop_aapl``).

Tests that must see one matching pass at a time pause the simulator (``sim.paused()``):
then only client requests, ``set_price`` and ``match`` run passes.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from backend.core.exit_plan import ExitParams, build_entry, build_exit_group
from backend.core.models import LegRole, OrderStatus
from tests.helpers import eventually
from tests.oms.conftest import (
    CLIENT_ID,
    REGULAR_HOURS,
    broker_orders,
    build_core,
    held,
    legs_by_role,
    live,
    make_settings,
    signal,
    working,
)

pytestmark = pytest.mark.asyncio


def _sold(sim) -> int:
    return int(sum(e["shares"] for e in sim.executions()
                   if e["client_id"] == CLIENT_ID and e["side"] == "SLD"))


async def _core(sim, tmp_path, entry_type: str, **entry):
    trading = build_core(sim, make_settings(sim, tmp_path / "j.sqlite3",
                                            entry={"type": entry_type, **entry}))
    await trading.start()
    return trading


@pytest.mark.parametrize("entry_type", ["market"])
async def test_market_entry_trail_follows_the_fill_into_the_same_group(core, sim):
    entry_id = await core.manager.execute_entry(signal())
    await eventually(lambda: core.manager.journal.events("trail_sent"), what="trail sent")
    legs = legs_by_role(core.manager, entry_id)
    orders = broker_orders(sim)
    trail = orders[legs[LegRole.PROFIT_HARVESTER].order_id]
    group = f"S9-{core.manager.orders[entry_id].signal_id}"
    assert (trail["order_type"], trail["parent_id"], trail["oca_group"], trail["oca_type"]) == (
        "TRAIL", 0, group, 2)
    assert trail["total_qty"] == 100 == held(sim)
    assert trail["aux_price"] == Decimal("1.50") and trail["conditions"] == 1
    assert trail["order_ref"] == f"s9:{core.manager.orders[entry_id].signal_id}:profit_harvester"
    # priced from the fill 100.01: activation 103.01, initial stop 103.01 - 1.50 = 101.51
    assert core.manager.orders[str(trail["order_id"])].stop_price == Decimal("101.51")
    event = core.manager.journal.events("trail_sent")[-1]["payload"]
    assert event["avg_fill"] == "100.01" and event["quantity"] == 100
    stop = orders[legs[LegRole.SAFETY_STOP].order_id]
    assert stop["oca_group"] == group and stop["aux_price"] == Decimal("98.00"), (
        "the stop was sent before the fill: priced from the reference")


@pytest.mark.parametrize("entry_type", ["limit", "market"])
async def test_partial_entry_fill_is_covered_at_once_and_the_timeout_keeps_the_exits(
        sim, tmp_path, entry_type):
    trading = await _core(sim, tmp_path, entry_type, timeout_s=0.5)
    try:
        with sim.paused():
            sim.set_partial_fills(40)
            entry_id = await trading.manager.execute_entry(signal())
            await eventually(lambda: broker_orders(sim).get(entry_id, {}).get("filled") == 40,
                             what="first partial entry fill")
            assert held(sim) == 40
            stop = next(o for o in broker_orders(sim).values() if o["order_type"] == "STP")
            assert working(stop), "the stop covers the first 40 shares in the same pass"
            await eventually(lambda: broker_orders(sim)[entry_id]["status"] == "Cancelled",
                             what="the entry timeout cancelled the rest")
            assert broker_orders(sim)[entry_id]["filled"] == 40
            await eventually(lambda: trading.manager.legs_of(
                trading.manager.orders[entry_id].signal_id) and {
                r.role for r in trading.manager.legs_of(trading.manager.orders[
                    entry_id].signal_id)} == {LegRole.SAFETY_STOP, LegRole.TIME_STOP,
                                               LegRole.PROFIT_HARVESTER},
                what="every exit present")
            legs = legs_by_role(trading.manager, entry_id)
            await eventually(lambda: all(broker_orders(sim).get(r.order_id, {}).get(
                "total_qty") == 40 for r in legs.values()), what="every exit sized 40")
            assert all(broker_orders(sim)[r.order_id]["status"] == "PreSubmitted"
                       for r in legs.values())
        assert trading.journal.events("entry_timeout")
        sim.set_price("AAPL", "97.90")
        await eventually(lambda: held(sim) == 0, what="the stop sells the 40")
        await eventually(lambda: live(broker_orders(sim)) == {}, what="nothing left working")
        assert _sold(sim) == 40, "never more sold than bought"
    finally:
        await trading.stop()


@pytest.mark.parametrize("entry_type", ["limit", "market"])
async def test_partial_fills_of_entry_and_exit_keep_the_rest_protected(core, sim, entry_type):
    with sim.paused():
        sim.set_partial_fills(40)
        entry_id = await core.manager.execute_entry(signal())
        await eventually(lambda: held(sim) == 40, what="first piece")
        sim.match(2)
        assert [e["shares"] for e in sim.executions() if e["order_id"] == int(entry_id)] == [
            40, 40, 20]
        await eventually(lambda: core.manager.track_order(entry_id) is OrderStatus.FILLED,
                         what="entry FILLED locally after PARTIAL_FILL")
        await eventually(lambda: len(legs_by_role(core.manager, entry_id)) == 3,
                         what="three exits")
        legs = legs_by_role(core.manager, entry_id)
        trail_id = legs[LegRole.PROFIT_HARVESTER].order_id
        await eventually(lambda: broker_orders(sim).get(trail_id, {}).get("total_qty") == 100,
                         what="trail for the whole position")
        stop_id = legs[LegRole.SAFETY_STOP].order_id
        sim.set_price("AAPL", "97.90")
        sim.set_price("AAPL", "97.90")  # IB's "Last" trigger: two prints through the stop
        # The triggered stop fills 40 per matching pass. A pass also runs when the simulator
        # takes a message from the client, so under load a second piece may land before this
        # read (seen once: 80 filled, in a suite run beside another suite): what must hold is
        # that the stop is partly filled and its siblings shrank by exactly that.
        orders = broker_orders(sim)
        stop_filled = orders[stop_id]["filled"]
        assert 0 < stop_filled < 100 and stop_filled % 40 == 0, stop_filled
        for role in (LegRole.TIME_STOP, LegRole.PROFIT_HARVESTER):
            sibling = orders[legs[role].order_id]
            assert sibling["total_qty"] == 100 - stop_filled, \
                "ocaType 2 reduced the sibling by the fill"
            assert sibling["status"] != "Cancelled", "the rest is still protected by every leg"
        sim.match(3)
    await eventually(lambda: held(sim) == 0, what="stop completes")
    await eventually(lambda: live(broker_orders(sim)) == {}, what="nothing left working")
    assert _sold(sim) == 100, "no overfill"


@pytest.mark.parametrize("entry_type", ["limit", "market"])
async def test_unfilled_entry_is_cancelled_at_the_timeout_with_its_exits(sim, tmp_path,
                                                                        entry_type):
    trading = await _core(sim, tmp_path, entry_type, timeout_s=0.3)
    try:
        if entry_type == "limit":
            sim.set_price("AAPL", "101.00")  # ask 101.01 runs past the 100.50 cap
        else:
            sim.halt("AAPL")
        entry_id = await trading.manager.execute_entry(signal())
        await eventually(lambda: broker_orders(sim).get(entry_id, {}).get("status")
                         == "Cancelled", what="entry cancelled by the timeout")
        await eventually(lambda: live(broker_orders(sim)) == {}, what="children cancelled")
        assert held(sim) == 0 and broker_orders(sim)[entry_id]["filled"] == 0
        assert len(broker_orders(sim)) == (4 if entry_type == "limit" else 3)
        await eventually(lambda: trading.manager.track_order(entry_id) is OrderStatus.CANCELLED,
                         what="local state follows")
        assert trading.journal.events("entry_timeout")[-1]["payload"]["order_id"] == entry_id
        assert not trading.journal.events("trail_sent"), "no fill, no trail"
    finally:
        await trading.stop()


async def test_crash_between_the_fill_and_the_trail_is_repaired_by_reconciliation(sim,
                                                                                tmp_path):
    """The market entry fills while Sigma9 is down: the stop and time stop rode on it at the
    broker, the trail was never sent. The next start sends it into the same group."""
    journal = tmp_path / "j.sqlite3"
    sim.halt("AAPL")
    first = build_core(sim, make_settings(sim, journal, entry={"type": "market"}))
    await first.start()
    sig = signal()
    entry_id = await first.manager.execute_entry(sig)
    await eventually(lambda: len(live(broker_orders(sim))) == 3, what="chain at the broker")
    await first.stop()  # the crash: nothing of Sigma9 runs when the fill comes
    sim.resume_trading("AAPL")
    sim.match()
    assert held(sim) == 100
    stop = next(o for o in broker_orders(sim).values() if o["order_type"] == "STP")
    assert working(stop), "the position is protected by the attached stop meanwhile"
    assert not any(o["order_type"] == "TRAIL" for o in broker_orders(sim).values())

    second = build_core(sim, make_settings(sim, journal, entry={"type": "market"}))
    try:
        assert await second.start() == [], "not naked: the stop was there"
        await eventually(lambda: any(o["order_type"] == "TRAIL"
                                     for o in live(broker_orders(sim)).values()),
                         what="the missing trail sent by reconciliation")
        await eventually(lambda: not second.manager.pending_tasks, what="repair done")
        trails = [o for o in broker_orders(sim).values() if o["order_type"] == "TRAIL"]
        assert len(trails) == 1, "sent once"
        (trail,) = trails
        assert (trail["oca_group"], trail["order_ref"], trail["parent_id"]) == (
            f"S9-{sig.id}", f"s9:{sig.id}:profit_harvester", 0)
        assert trail["total_qty"] == 100 and trail["aux_price"] == Decimal("1.50")
        assert {o["oca_group"] for o in live(broker_orders(sim)).values()} == {f"S9-{sig.id}"}
        assert second.manager.orders[str(trail["order_id"])].role is LegRole.PROFIT_HARVESTER
        assert second.manager.track_order(entry_id) is OrderStatus.FILLED
        assert second.journal.events("trail_sent")
    finally:
        await second.stop()


async def test_old_chain_shape_mkt_parent_with_trail_child_is_refused_with_328(core, sim):
    """What the OMS sent before issue 9: IB answers 328 and releases nothing (R1)."""
    codes: list[tuple[int, int]] = []
    core.connector.ib.errorEvent += lambda req_id, code, text, contract: codes.append(
        (req_id, code))
    legs = build_exit_group("AAPL", 100, Decimal("100.00"), Decimal("1.00"), Decimal("0.01"),
                            ExitParams(), REGULAR_HOURS, "old-shape")
    ids = await core.connector.place_chain(build_entry("AAPL", 100, "old-shape"), legs)
    await eventually(lambda: (int(ids[-1]), 328) in codes, what="328 on the TRAIL child")
    sim.match()
    assert held(sim) == 0, "nothing was released, so nothing filled"
    assert live(broker_orders(sim)) == {}
