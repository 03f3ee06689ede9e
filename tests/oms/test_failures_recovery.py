"""Rejections, dropped connections, restarts and refusals, end to end (limit entries).

Partial fills, the market entry's trail and its crash repair are in test_entry_types.py;
cancelling and closing in test_cancel_close.py.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from backend.core.models import LegRole, OrderStatus
from backend.core.order_manager import SignalRefused
from backend.sim import SimThread
from tests.helpers import eventually
from tests.oms.conftest import (
    EXITS,
    REGULAR_HOURS,
    broker_orders,
    build_core,
    legs_by_role,
    live,
    make_settings,
    signal,
)
from tests.sim.conftest import quiet_config

pytestmark = pytest.mark.asyncio


async def _enter_with_rejected_stop(core, sim) -> str:
    """Send a signal whose safety-stop leg the broker rejects; wait until it is marked failed."""
    sim.reject_next_order(201, "Order rejected - reason:STP not allowed for this contract",
                          match=lambda spec: spec.order_type == "STP")
    entry_id = await core.manager.execute_entry(signal())
    stop_id = legs_by_role(core.manager, entry_id)[LegRole.SAFETY_STOP].order_id
    await eventually(lambda: core.manager.track_order(stop_id) in (
        OrderStatus.ERROR, OrderStatus.INACTIVE), what="stop leg marked failed")
    return entry_id


async def test_rejected_leg_before_entry_fill_cancels_the_chain(core, sim):
    sim.halt("AAPL")  # a trading halt: orders rest, nothing executes
    entry_id = await _enter_with_rejected_stop(core, sim)
    await eventually(lambda: broker_orders(sim)[entry_id]["status"] == "Cancelled",
                     what="entry cancelled at the broker")
    sim.resume_trading("AAPL")
    sim.match()
    orders = broker_orders(sim)
    assert live(orders) == {}, "nothing of the chain is left working"
    assert not sim.positions().get("AAPL", {}).get("qty"), "no position was opened"
    assert orders[entry_id]["filled"] == 0


async def test_rejected_last_leg_leaves_nothing_half_sent(core, sim):
    """The transmit=True leg is refused, so the chain is never released: cancel the rest."""
    sim.reject_next_order(201, "Order rejected - reason:TRAIL not allowed for this contract",
                          match=lambda spec: spec.order_type == "TRAIL")
    entry_id = await core.manager.execute_entry(signal())
    await eventually(lambda: broker_orders(sim)[entry_id]["status"] == "Cancelled",
                     what="the untransmitted entry cancelled")
    await eventually(lambda: core.manager.track_order(entry_id) is OrderStatus.CANCELLED,
                     what="local state follows")
    assert live(broker_orders(sim)) == {} and not sim.positions().get("AAPL")
    assert not any(o["buffered"] for o in broker_orders(sim).values())


async def test_rejected_leg_after_entry_fill_flattens(core, sim):
    # The market entry fills the moment the chain is released, so the rejection lands
    # after the fill and the configured rule ("flatten", the default) must apply.
    entry_id = await _enter_with_rejected_stop(core, sim)
    assert broker_orders(sim)[entry_id]["status"] == "Filled", "the entry won the race"
    await eventually(lambda: not sim.positions().get("AAPL", {}).get("qty"),
                     what="position flattened after the leg rejection")
    await eventually(lambda: live(broker_orders(sim)) == {}, what="nothing left working")
    events = core.journal.events("flattened")
    assert events and "failed" in events[-1]["payload"]["reason"]


async def test_rejected_leg_with_reprotect_rule_resends_protection(sim, tmp_path):
    settings = make_settings(sim, tmp_path / "j.sqlite3",
                             risk={"on_leg_rejected_after_fill": "reprotect"})
    trading = build_core(sim, settings)
    await trading.start()
    try:
        sim.reject_next_order(201, "Order rejected - reason:no stop today",
                              match=lambda spec: spec.order_type == "STP")
        sig = signal()
        await trading.manager.execute_entry(sig)
        await eventually(lambda: trading.journal.events("reprotected"), what="re-protection")
        await eventually(lambda: len([o for o in live(broker_orders(sim)).values()
                                      if o["parent_id"] == 0]) == 3, what="fresh legs live")
        fresh = [o for o in live(broker_orders(sim)).values()]
        assert {o["order_type"] for o in fresh} == {"STP", "MKT", "TRAIL"}
        assert {o["oca_group"] for o in fresh} == {f"S9-{sig.id}~r1"}
        assert all(o["total_qty"] == 100 for o in fresh)
        assert sim.positions()["AAPL"]["qty"] == 100
    finally:
        await trading.stop()


async def test_dropped_connection_reconnects_without_duplicates(core, sim):
    entry_id = await core.manager.execute_entry(signal())
    await eventually(lambda: len(live(broker_orders(sim))) == 3, what="legs live")
    before = broker_orders(sim)
    sim.drop_connections()
    await eventually(lambda: not core.connector.is_connected(), what="drop noticed")
    await eventually(lambda: core.connector.is_connected() and 7 in sim.connected_clients(),
                     timeout=8, what="automatic reconnect")
    await eventually(lambda: not core.manager.pending_tasks, what="reconciliation done")
    after = broker_orders(sim)
    assert after.keys() == before.keys(), "no order was sent twice"
    assert len(live(after)) == 3, "protection intact"
    with pytest.raises(SignalRefused):
        await core.manager.execute_entry(signal(id=core.manager.orders[entry_id].signal_id))
    assert broker_orders(sim).keys() == before.keys()


async def test_restart_recovers_from_the_journal(sim, tmp_path):
    journal = tmp_path / "j.sqlite3"
    first = build_core(sim, make_settings(sim, journal))
    await first.start()
    sig = signal()
    entry_id = await first.manager.execute_entry(sig)
    await eventually(lambda: len(live(broker_orders(sim))) == 3, what="legs live")
    await first.stop()

    second = build_core(sim, make_settings(sim, journal))
    try:
        reprotected = await second.start()
        assert reprotected == [], "the legs are still live at the broker"
        manager = second.manager
        assert manager.track_order(entry_id) is OrderStatus.FILLED
        assert {r.role for r in manager.legs_of(sig.id)} == set(EXITS)
        assert manager.signals[sig.id] == sig, "the journal's signal prices re-protection"
        position = manager.get_active_positions()[0]
        assert position.quantity == 100 and set(position.protected_by) == set(EXITS)
        with pytest.raises(SignalRefused) as refused:
            await manager.execute_entry(sig)
        assert refused.value.code == "duplicate"
        assert len(broker_orders(sim)) == 4
    finally:
        await second.stop()


async def test_restart_reprotects_a_naked_position(sim, tmp_path):
    first = build_core(sim, make_settings(sim, tmp_path / "j.sqlite3"))
    await first.start()
    await first.connector.place_market_order("AAPL", 50, "BUY")  # a manual entry
    await eventually(lambda: sim.positions().get("AAPL", {}).get("qty") == 50, what="fill")
    await first.stop()
    second = build_core(sim, make_settings(sim, tmp_path / "j.sqlite3"))
    try:
        assert await second.start() == ["AAPL"]
        legs = live(broker_orders(sim))
        assert sorted(o["order_type"] for o in legs.values()) == ["MKT", "STP", "TRAIL"]
        assert all(o["total_qty"] == 50 and o["parent_id"] == 0 for o in legs.values())
        groups = {o["oca_group"] for o in legs.values()}
        assert len(groups) == 1 and groups.pop().startswith("S9-pos-AAPL~r"), (
            "one fresh group name (OCA names are single-use, R4)")
        stop = next(o for o in legs.values() if o["order_type"] == "STP")
        # 2% under the 100.03 average cost (ask 100.01 + $1.00 commission / 50 shares)
        assert stop["aux_price"] == Decimal("98.03")
        assert second.journal.events("alert")
    finally:
        await second.stop()


@pytest.mark.parametrize("bad, code, words", [
    ({"symbol": "ZZZZ"}, "unknown_symbol", "unknown symbol"),
    ({"reference_price": "0"}, "malformed", "reference_price"),
    ({"reference_price": "-5"}, "malformed", "positive"),
    ({"atr": "NaN"}, "malformed", "atr"),
    ({"atr": "-1"}, "malformed", "ATR must be a positive number"),
    ({"atr": None}, "malformed", "atr"),
    ({"reference_price": "30000"}, "zero_quantity", "No whole AAPL share fits"),
])
async def test_bad_signals_are_refused_with_a_reason(core, sim, bad, code, words):
    data = {"symbol": "AAPL", "reference_price": "100.00", "atr": "1.00", **bad}
    with pytest.raises(SignalRefused) as refused:
        await core.manager.execute_entry(data)
    assert refused.value.code == code, refused.value.reason
    assert words in refused.value.reason and "\n" not in refused.value.reason
    assert broker_orders(sim) == {}, "nothing reached the broker"
    assert core.journal.events("refused")[-1]["payload"]["reason"] == refused.value.reason


async def test_a_live_account_is_refused_unless_live_trading_is_enabled(tmp_path):
    with SimThread(quiet_config(account="U7654321")) as live_sim:
        live_sim.set_time(REGULAR_HOURS)
        trading = build_core(live_sim, make_settings(live_sim, tmp_path / "j.sqlite3"))
        await trading.start()
        try:
            with pytest.raises(SignalRefused) as refused:
                await trading.manager.execute_entry(signal())
            assert "paper" in refused.value.reason.lower()
            assert live_sim.orders() == []
        finally:
            await trading.stop()
        enabled = build_core(live_sim, make_settings(live_sim, tmp_path / "k.sqlite3",
                                                     broker={"live_trading_enabled": True}))
        await enabled.start()
        try:
            await enabled.manager.execute_entry(signal())
            await eventually(lambda: len(live_sim.orders()) == 4, what="entry sent when enabled")
        finally:
            await enabled.stop()


async def test_one_position_per_symbol_and_no_entry_while_disconnected(core, sim):
    await core.manager.execute_entry(signal())
    with pytest.raises(SignalRefused) as second:
        await core.manager.execute_entry(signal())
    assert "AAPL" in second.value.reason
    await core.connector.disconnect()
    with pytest.raises(SignalRefused) as offline:
        await core.manager.execute_entry(signal(symbol="MSFT"))
    assert offline.value.code == "disconnected"
    assert len(broker_orders(sim)) == 4


async def test_overlapping_sends_of_one_signal_make_one_entry_at_the_broker(core, sim):
    """Soak F8 (seed 219): two execute_entry calls for one id, the second started while the
    first waits for the contract look-up, both passed the duplicate check and both entries
    filled. The id is claimed before the first await, so the second is refused."""
    sim.halt("AAPL")  # nothing executes: the broker's orders show what was sent
    same = signal(id="f8-overlap")
    results = await asyncio.gather(core.manager.execute_entry(same),
                                   core.manager.execute_entry(same), return_exceptions=True)
    refused = [r for r in results if isinstance(r, SignalRefused)]
    sent = [r for r in results if isinstance(r, str)]
    assert len(sent) == 1 and len(refused) == 1, results
    assert refused[0].code == "duplicate"
    await eventually(lambda: sent[0] in broker_orders(sim), what="the entry at the broker")
    entries = [o for o in broker_orders(sim).values()
               if o["action"] == "BUY" and "f8-overlap" in o.get("order_ref", "")]
    assert len(entries) == 1, entries
    # The claim ends with the send: a later copy is refused by the journal's outcome.
    with pytest.raises(SignalRefused) as later:
        await core.manager.execute_entry(same)
    assert later.value.code == "duplicate"
