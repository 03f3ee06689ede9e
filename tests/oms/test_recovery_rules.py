"""Issue 10's recovery rules, each proven against sigma9-sim over TCP (docs/reliability.md).

- A chain cut by a drop leaves nothing in limbo: buffered remains are cancelled, unknown
  orders are marked lost, the symbol is free again and the signal may be retried once.
- Protection follows the position as it grows: every partial fill of the entry ends up
  covered after a leg failed, and a second failure applies the rule again (escalating).
- Only a working stop or an active trail is protection.
- A refusal names its real cause.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from backend.broker.errors import NotConnected
from backend.core.exit_plan import build_exit_group
from backend.core.models import LegRole, OrderRecord, OrderStatus, OrderType, Side
from backend.core.signal import SignalRefused
from tests.helpers import eventually
from tests.oms.conftest import (
    CLIENT_ID,
    broker_orders,
    build_core,
    held,
    make_settings,
    signal,
)

pytestmark = pytest.mark.asyncio
FINAL = ("Filled", "Cancelled", "Inactive", "ApiCancelled")


def stop_cover(sim, symbol: str = "AAPL") -> int:
    """Shares covered by working SELL stops at the broker: per OCA group its largest
    remaining stop (ocaType 2 groups cover their shares once), summed over groups."""
    orders = broker_orders(sim)
    groups: dict[str, int] = {}
    for o in orders.values():
        if (o["symbol"] != symbol or o["action"] != "SELL" or o["order_type"] != "STP"
                or o["status"] in FINAL or o["buffered"]):
            continue
        parent = orders.get(str(o["parent_id"])) if o["parent_id"] else None
        if parent is not None and parent["filled"] == 0:
            continue
        key = o["oca_group"] or str(o["order_id"])
        groups[key] = max(groups.get(key, 0), int(o["remaining"]))
    return sum(groups.values())


def selling(sim, symbol: str = "AAPL") -> int:
    """Shares a working closing (market SELL without conditions) is about to sell."""
    return int(sum(o["remaining"] for o in broker_orders(sim).values()
                   if o["symbol"] == symbol and o["action"] == "SELL"
                   and o["order_type"] == "MKT" and not o["good_after_time"]
                   and o["status"] not in FINAL and not o["buffered"]))


async def _core(sim, tmp_path, **sections):
    trading = build_core(sim, make_settings(sim, tmp_path / "j.sqlite3", **sections))
    await trading.start()
    return trading


def _time_stop(spec) -> bool:
    return spec.order_type == "MKT" and spec.action == "SELL" and bool(spec.good_after_time)


# -- finding 2: protection follows the position as it grows --------------------------------
@pytest.mark.parametrize("rule", ["reprotect", "flatten"])
async def test_every_partial_entry_fill_ends_up_covered_after_a_rejected_leg(
        sim, tmp_path, rule):
    trading = await _core(sim, tmp_path, risk={"on_leg_rejected_after_fill": rule})
    manager = trading.manager
    try:
        sim.set_partial_fills(40)
        sim.reject_next_order(201, "Order rejected - reason:time stop refused", match=_time_stop)
        entry_id = await manager.execute_entry(signal())
        await eventually(lambda: manager.orders[entry_id].status.is_final, timeout=8,
                         what="the entry ended (filled, or its rest cancelled)")
        if rule == "reprotect":
            await eventually(lambda: held(sim) > 0 and stop_cover(sim) == held(sim),
                             timeout=8, what="every share held covered by a working stop")
        else:
            await eventually(lambda: held(sim) == 0 and selling(sim) == 0, timeout=8,
                             what="everything bought sold again")
        await eventually(lambda: not manager.pending_tasks, what="rules done")
        sim.match(3)
        assert stop_cover(sim) == held(sim), "no share left naked"
        assert held(sim) >= 0
    finally:
        await trading.stop()


class _EntryCancelLost:
    """The entry's cancel never reaches the broker (as when the connection drops at that
    moment): the entry keeps filling after its exit rule ran, which is finding 2's case."""

    def __init__(self, trading) -> None:
        self.manager, self.real = trading.manager, trading.connector.cancel_order
        trading.connector.cancel_order = self

    def __call__(self, order_id: str) -> None:
        record = self.manager.orders.get(order_id)
        if record is not None and record.role is LegRole.ENTRY:
            raise ConnectionError("the cancel was lost with the connection")
        self.real(order_id)


@pytest.mark.parametrize("rule", ["reprotect", "flatten"])
async def test_fills_after_the_rule_ran_are_covered_too(sim, tmp_path, rule):
    """Finding 2: a rejected time stop, then the entry fills 40 at a time while its cancel is
    lost. Every share bought ends up covered by a working stop (or sold again)."""
    trading = await _core(sim, tmp_path, risk={"on_leg_rejected_after_fill": rule})
    manager = trading.manager
    try:
        sim.pause()
        sim.set_partial_fills(40)
        _EntryCancelLost(trading)
        sim.reject_next_order(201, "Order rejected - reason:time stop refused", match=_time_stop)
        entry_id = await manager.execute_entry(signal())
        await eventually(lambda: trading.journal.events("leg_rejected"), what="time stop failed")
        await eventually(lambda: sim.match() or manager.orders[entry_id].filled == 100,
                         what="the entry filled 40 at a time")
        sim.resume()
        await eventually(lambda: not manager.pending_tasks, what="rules sent")
        kind = "reprotected" if rule == "reprotect" else "flattened"
        assert len(trading.journal.events(kind)) >= 2, "later fills got the rule as well"
        if rule == "reprotect":
            await eventually(lambda: stop_cover(sim) == held(sim) == 100, timeout=8,
                             what="all 100 shares covered by working stops")
        else:
            await eventually(lambda: held(sim) == 0 and selling(sim) == 0, timeout=8,
                             what="all 100 shares sold again")
    finally:
        await trading.stop()


# -- finding 3: a second leg failure escalates ---------------------------------------------
async def test_a_failed_reprotection_escalates_to_flatten(sim, tmp_path):
    """The chain's stop is rejected after the fill (rule: reprotect), then the fresh group's
    stop is rejected too: the position must not sit with a time stop and a dormant trail."""
    trading = await _core(sim, tmp_path, risk={"on_leg_rejected_after_fill": "reprotect"})
    try:
        for _ in range(2):
            sim.reject_next_order(201, "Order rejected - reason:no stop today",
                                  match=lambda spec: spec.order_type == "STP")
        await trading.manager.execute_entry(signal())
        await eventually(lambda: trading.journal.events("reprotected"), what="re-protection")
        await eventually(lambda: trading.journal.events("flattened"), what="escalation")
        await eventually(lambda: held(sim) == 0 and selling(sim) == 0, timeout=8,
                         what="the position flattened")
        assert not [o for o in broker_orders(sim).values()
                    if o["status"] not in FINAL and not o["buffered"]], "nothing left working"
    finally:
        await trading.stop()


# -- finding 4: only a working stop or an active trail is protection -------------------------
async def test_a_time_stop_and_a_dormant_trail_are_not_protection(sim, tmp_path):
    trading = await _core(sim, tmp_path)
    manager = trading.manager
    try:
        buy = await trading.connector.place_market_order("AAPL", 100, "BUY")
        await eventually(lambda: held(sim) == 100, what="a manual position")
        # What execute_oca_exit sends, minus the stop: a time stop and a trail that waits for
        # its activation level (103.00, the market is at 100.00).
        legs = build_exit_group("AAPL", 100, Decimal("100.00"), Decimal("1.00"),
                                Decimal("0.01"), manager.exit_params, manager.now(),
                                f"manual-{buy}", attach_to_parent=False)[1:]
        ids = await trading.connector.place_chain(None, legs)
        manager._remember_sent(legs, ids, f"manual-{buy}")
        await eventually(lambda: all(broker_orders(sim)[i]["status"] == "PreSubmitted"
                                     for i in ids), what="time stop and trail working")
        assert not manager.is_protected("AAPL")
        await eventually(lambda: "AAPL" in manager.broker_positions, what="position known")
        assert await manager.reconcile() == ["AAPL"]
        await eventually(lambda: stop_cover(sim) == 100, what="a working stop for all 100")
        assert all(broker_orders(sim)[i]["status"] == "Cancelled" for i in ids), (
            "the old partial group went first, so two groups never sell the same shares")
        assert manager.is_protected("AAPL")
    finally:
        await trading.stop()


# -- finding 5: a refusal names its real cause ----------------------------------------------
async def _never_answers(symbol):
    await asyncio.Event().wait()


@pytest.mark.parametrize("raised, code, words", [
    (NotConnected(), "disconnected", "connection to the broker was lost"),
    (ConnectionError("Socket disconnect"), "disconnected", "Socket disconnect"),
    (asyncio.TimeoutError(), "timeout", "did not answer"),
    (KeyError("conId"), "internal_error", "inside Sigma9"),
    (None, "timeout", "within 0.5 s"),
])
async def test_a_failed_contract_look_up_is_refused_with_its_cause(sim, tmp_path, raised, code,
                                                                   words):
    trading = await _core(sim, tmp_path, broker={"connect_timeout_s": 0.5})
    try:
        async def failing(symbol):
            raise raised
        trading.connector._contracts.clear()
        trading.connector.contract_info = _never_answers if raised is None else failing
        with pytest.raises(SignalRefused) as refused:
            await trading.manager.execute_entry(signal())
        assert refused.value.code == code, refused.value.reason
        assert words in refused.value.reason and "\n" not in refused.value.reason
        assert broker_orders(sim) == {}, "nothing reached the broker"
    finally:
        await trading.stop()


async def test_an_unknown_symbol_is_refused_as_unknown(core, sim):
    with pytest.raises(SignalRefused) as refused:
        await core.manager.execute_entry(signal(symbol="ZZZZ"))
    assert refused.value.code == "unknown_symbol"
    assert "ZZZZ" in refused.value.reason


# -- finding 6: the latest entry by order id as a number -----------------------------------
async def test_reprotection_uses_the_latest_entry_by_numeric_order_id(sim, tmp_path):
    trading = await _core(sim, tmp_path)
    manager = trading.manager
    try:
        for order_id, signal_id in (("998", "older"), ("1002", "newer")):
            manager._store(OrderRecord(order_id=order_id, symbol="AAPL", side=Side.BUY,
                                       order_type=OrderType.LIMIT, quantity=100,
                                       status=OrderStatus.FILLED, role=LegRole.ENTRY,
                                       filled=100, signal_id=signal_id), None)
        assert manager.protection.latest_entry("AAPL").order_id == "1002", "'998' > '1002' as text"
        await trading.connector.place_market_order("AAPL", 100, "BUY")
        await eventually(lambda: held(sim) == 100, what="a position")
        await eventually(lambda: "AAPL" in manager.broker_positions, what="position known")
        assert await manager.reconcile() == ["AAPL"]
        groups = {o["oca_group"] for o in broker_orders(sim).values() if o["action"] == "SELL"}
        assert len(groups) == 1 and groups.pop().startswith("S9-newer~r")
    finally:
        await trading.stop()


# -- finding 1: a drop in the middle of a chain leaves no limbo --------------------------------
def _ours(sim, ref: str) -> list[dict]:
    return [o for o in broker_orders(sim).values() if o["order_ref"] == ref]


async def _drop_mid_chain(trading, sim, after: int) -> tuple[str, object]:
    """Send a signal whose chain the connection drops after ``after`` placeOrder messages."""
    sim.drop_after_orders(after, client_id=CLIENT_ID)
    sig = signal()
    entry_id = await trading.manager.execute_entry(sig)
    await eventually(lambda: not trading.connector.is_connected(), what="the drop noticed")
    return entry_id, sig


def _assert_no_limbo(sim, manager, sig, entry_id: str) -> None:
    orders = broker_orders(sim)
    assert not any(o["buffered"] for o in orders.values()), "untransmitted remains cancelled"
    assert not [o for o in orders.values() if o["status"] not in FINAL], "nothing working"
    assert held(sim) == 0
    assert manager.orders[entry_id].status is OrderStatus.CANCELLED
    assert manager.orders[entry_id].message.startswith("lost: ")
    assert all(r.status.is_final for r in manager.trade_orders(sig.id)), "no order PENDING"
    assert manager.pending_entry_symbols() == set(), "the symbol is free again"
    assert manager.journal.signal_outcome(sig.id) == "lost"


@pytest.mark.parametrize("after", [1, 2, 3])
async def test_a_drop_mid_chain_is_resolved_on_reconnect(sim, tmp_path, after):
    trading = await _core(sim, tmp_path)
    manager = trading.manager
    try:
        entry_id, sig = await _drop_mid_chain(trading, sim, after)
        assert any(o["buffered"] for o in broker_orders(sim).values()), (
            "the broker holds the untransmitted part of the chain")
        await eventually(lambda: trading.connector.is_connected(), timeout=8,
                         what="automatic reconnect")
        await eventually(lambda: manager.journal.signal_outcome(sig.id) == "lost"
                         and not manager.pending_tasks, what="reconciliation resolved it")
        _assert_no_limbo(sim, manager, sig, entry_id)
        assert manager.journal.events("order_lost")

        # The signal was not executed: sent again with its id, it makes exactly one entry.
        retry_id = await manager.execute_entry(sig)
        await eventually(lambda: held(sim) == 100, what="the retry filled")
        entries = _ours(sim, f"s9:{sig.id}:entry")
        assert [o["filled"] for o in entries if o["filled"]] == [100], "one entry executed"
        assert retry_id != entry_id and manager.entry_of(sig.id).order_id == retry_id
        with pytest.raises(SignalRefused) as again:
            await manager.execute_entry(sig)
        assert again.value.code == "duplicate"
        assert len(_ours(sim, f"s9:{sig.id}:entry")) == len(entries)
    finally:
        await trading.stop()


async def test_a_drop_mid_chain_is_resolved_on_restart(sim, tmp_path):
    journal = tmp_path / "j.sqlite3"
    first = build_core(sim, make_settings(sim, journal))
    await first.start()
    entry_id, sig = await _drop_mid_chain(first, sim, 2)
    await first.stop()
    second = build_core(sim, make_settings(sim, journal))
    try:
        await second.start()
        _assert_no_limbo(sim, second.manager, sig, entry_id)
        await second.manager.execute_entry(sig)
        await eventually(lambda: held(sim) == 100, what="the retry filled")
    finally:
        await second.stop()


async def test_a_lost_signal_is_not_retried_while_the_broker_holds_an_order_of_it(sim, tmp_path):
    trading = await _core(sim, tmp_path)
    manager = trading.manager
    try:
        _entry_id, sig = await _drop_mid_chain(trading, sim, 2)
        await eventually(lambda: manager.journal.signal_outcome(sig.id) == "lost"
                         and not manager.pending_tasks, timeout=8, what="resolved")
        # Another session sent an order carrying the signal's orderRef and it is working.
        working = OrderRecord(order_id="77", symbol="AAPL", side=Side.BUY,
                              order_type=OrderType.LIMIT, quantity=100, role=LegRole.ENTRY,
                              signal_id=sig.id, broker_status="Submitted")
        real = trading.connector.get_all_orders
        trading.connector.get_all_orders = lambda: [*real(), working]
        with pytest.raises(SignalRefused) as refused:
            await manager.execute_entry(sig)
        assert refused.value.code == "duplicate" and "77" in refused.value.reason
    finally:
        await trading.stop()


def _ended(record) -> bool:
    """Not working: final, or parked Inactive as the broker reports the rejected leg."""
    return record.status.is_final or record.status is OrderStatus.INACTIVE


async def test_a_rejected_transmitting_leg_ends_the_whole_chain_in_the_journal(core, sim):
    """The trail (the transmit=True message) is refused, so nothing is released; IB discards
    the untransmitted children of the cancelled entry without a status for them."""
    sim.reject_next_order(201, "Order rejected - reason:TRAIL not allowed",
                          match=lambda spec: spec.order_type == "TRAIL")
    sig = signal()
    entry_id = await core.manager.execute_entry(sig)
    await eventually(lambda: all(_ended(r) for r in core.manager.trade_orders(sig.id)),
                     what="every order of the chain ended in the journal")
    assert core.manager.orders[entry_id].status is OrderStatus.CANCELLED
    assert not any(o["buffered"] for o in broker_orders(sim).values())


async def test_a_cancel_lost_with_the_connection_is_sent_again(sim, tmp_path):
    """A leg is rejected and the connection drops mid-chain: the entry's cancel goes to a dead
    socket while ib_insync marks the untransmitted entry Cancelled locally. On reconnect the
    cancel is sent again, so the broker holds nothing untransmitted."""
    trading = await _core(sim, tmp_path)
    manager = trading.manager
    try:
        sim.reject_next_order(201, "Order rejected - reason:no stop today",
                              match=lambda spec: spec.order_type == "STP")
        entry_id, sig = await _drop_mid_chain(trading, sim, 3)
        await eventually(lambda: trading.connector.is_connected(), timeout=8,
                         what="automatic reconnect")
        await eventually(lambda: not any(o["buffered"] for o in broker_orders(sim).values()),
                         what="no untransmitted remains at the broker")
        await eventually(lambda: all(_ended(r) for r in manager.trade_orders(sig.id)),
                         what="nothing of the chain PENDING in the journal")
        assert not [o for o in broker_orders(sim).values() if o["status"] not in FINAL]
        assert held(sim) == 0 and manager.pending_entry_symbols() == set()
        assert entry_id in manager.orders
    finally:
        await trading.stop()


class _StopCancelLost:
    """Cancels of the re-protection group's stop never reach the broker, so the stop (already
    through its level) executes while the escalation runs: soak finding F6's race, made sure."""

    def __init__(self, trading) -> None:
        self.manager, self.real = trading.manager, trading.connector.cancel_order
        trading.connector.cancel_order = self

    def __call__(self, order_id: str) -> None:
        record = self.manager.orders.get(order_id)
        if record is not None and "~r" in record.signal_id and (
                record.role is LegRole.SAFETY_STOP):
            raise ConnectionError("the cancel was lost with the connection")
        self.real(order_id)


async def test_the_escalation_never_sells_what_a_replaced_stop_already_sold(sim, tmp_path):
    trading = await _core(sim, tmp_path, risk={"on_leg_rejected_after_fill": "reprotect"},
                          exits={"safety_stop_pct": 0.5})
    try:
        sim.set_price("AAPL", "99.00")  # under 99.50, where every stop of the trade sits
        sim.reject_next_order(201, "Order rejected - reason:no stop today",
                              match=lambda spec: spec.order_type == "STP"
                              and "~r" not in spec.order_ref)
        sim.reject_next_order(201, "Order rejected - reason:no trail today",
                              match=lambda spec: spec.order_type == "TRAIL"
                              and "~r" in spec.order_ref)
        _StopCancelLost(trading)
        await trading.manager.execute_entry(signal())
        await eventually(lambda: len(trading.journal.events("leg_rejected")) == 2,
                         what="both failures seen")
        await eventually(lambda: held(sim) == 0 and not trading.manager.pending_tasks,
                         timeout=10, what="the position closed and the rules done")
        bought = sum(e["shares"] for e in sim.executions() if e["side"] == "BOT")
        sold = sum(e["shares"] for e in sim.executions() if e["side"] == "SLD")
        assert bought > 0 and sold == bought, "sold exactly what was bought: no short"
    finally:
        await trading.stop()


async def test_a_cancel_lost_with_the_connection_is_sent_again_after_a_restart(sim, tmp_path):
    journal = tmp_path / "j.sqlite3"
    first = build_core(sim, make_settings(sim, journal))
    await first.start()
    sim.reject_next_order(201, "Order rejected - reason:no stop today",
                          match=lambda spec: spec.order_type == "STP")
    _entry_id, sig = await _drop_mid_chain(first, sim, 3)
    await first.stop()  # the crash: nothing of the first process's memory survives
    assert any(o["buffered"] for o in broker_orders(sim).values())
    second = build_core(sim, make_settings(sim, journal))
    try:
        await second.start()
        await eventually(lambda: not any(o["buffered"] for o in broker_orders(sim).values()),
                         what="the journalled cancel sent again by the new process")
        assert all(_ended(r) for r in second.manager.trade_orders(sig.id))
        assert held(sim) == 0
    finally:
        await second.stop()
