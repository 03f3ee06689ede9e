"""The OMS's hot path reads indexes, not the whole session (issue 12), and answers as before.

Over the fake port (tests/core/fakes.py), which counts what the OMS asks: the duplicate check
must not map the broker's every order on every entry, yet a duplicate is still refused after
a thousand other signals and a lost signal is still checked against the broker's orders; the
per-signal index agrees with a scan of every order, also rebuilt after a restart; and one
signal with its broker echoes costs at most two journal transactions, its sent records
committed when ``execute_entry`` returns.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from backend.core.exit_plan import REPROTECT_SEPARATOR, base_signal_id
from backend.core.journal import Journal
from backend.core.models import LegRole, OrderRecord, OrderStatus, OrderType, Side
from backend.core.order_manager import OrderManager
from backend.core.protection import EXIT_ROLES
from backend.core.signal import Signal, SignalRefused
from backend.settings import load_settings
from tests.core.fakes import NOW, FakeBroker
from tests.helpers import eventually

pytestmark = pytest.mark.asyncio


class CountingBroker(FakeBroker):
    def __init__(self) -> None:
        super().__init__()
        self.all_orders_asked = 0

    def get_all_orders(self) -> list[OrderRecord]:
        self.all_orders_asked += 1
        return super().get_all_orders()


def _oms(path: Path, broker: FakeBroker | None = None) -> OrderManager:
    settings = load_settings(journal={"path": str(path)}, risk={"max_open_positions": 1000})
    return OrderManager(broker or CountingBroker(), Journal(settings.journal.path), settings,
                        now=lambda: NOW)


@pytest.fixture
def oms(tmp_path: Path, isolated_settings) -> Iterator[OrderManager]:
    manager = _oms(tmp_path / "journal.sqlite3")
    yield manager
    manager.close()
    manager.journal.close()


def _signal(n: int | str, symbol: str = "AAPL") -> Signal:
    return Signal(id=f"sig-{n}", symbol=symbol, reference_price=Decimal("100.00"),
                  atr=Decimal("1.00"), timestamp=NOW)


def _echo(oms: OrderManager, order_id: str, status: OrderStatus, broker_status: str) -> None:
    """The broker's report of an order, as the connector hands it over."""
    known = oms.orders[order_id]
    oms.on_order_status(dataclasses.replace(known, status=status,
                                            broker_status=broker_status, updated_at=NOW))


def _end_chain(oms: OrderManager, entry_id: str) -> None:
    """The broker cancels the whole chain (exits first, then the entry)."""
    signal_id = oms.orders[entry_id].signal_id
    for record in reversed(oms.trade_orders(signal_id)):
        _echo(oms, record.order_id, OrderStatus.CANCELLED, "Cancelled")


async def test_a_duplicate_is_refused_after_a_thousand_other_signals_without_the_broker_list(
        oms):
    first = await oms.execute_entry(_signal("first"))
    _end_chain(oms, first)
    for n in range(1000):
        _end_chain(oms, await oms.execute_entry(_signal(n, symbol=f"S{n % 50}")))

    with pytest.raises(SignalRefused) as refused:
        await oms.execute_entry(_signal("first"))

    assert refused.value.code == "duplicate" and first in refused.value.reason
    assert oms.broker.all_orders_asked == 0, (
        "the duplicate check mapped the broker's every order on an entry")
    assert oms.entry_of("sig-first").order_id == first


async def test_a_lost_signal_is_still_checked_against_the_broker(oms):
    lost = _signal("lost")
    oms.journal.record_signal(lost, "lost", "its entry was lost with the connection")
    for n in range(20):  # a session with other signals in it
        _end_chain(oms, await oms.execute_entry(_signal(n, symbol=f"S{n}")))
    working = OrderRecord(order_id="77", symbol="AAPL", side=Side.BUY,
                          order_type=OrderType.LIMIT, quantity=100, role=LegRole.ENTRY,
                          signal_id=lost.id, broker_status="Submitted")
    oms.broker.orders = [working]

    with pytest.raises(SignalRefused) as refused:
        await oms.execute_entry(lost)

    assert refused.value.code == "duplicate" and "77" in refused.value.reason
    assert oms.broker.all_orders_asked == 1

    oms.broker.orders = [dataclasses.replace(working, status=OrderStatus.CANCELLED,
                                             broker_status="Cancelled")]
    entry_id = await oms.execute_entry(lost)  # nothing of it can trade: sent again, once
    assert oms.entry_of(lost.id).order_id == entry_id
    assert oms.broker.all_orders_asked == 2


def _scan(oms: OrderManager, signal_id: str) -> tuple[list[OrderRecord], list[OrderRecord]]:
    """What the indexes replaced: a scan of every order (the records, as they are now)."""
    base = base_signal_id(signal_id)
    trade = [r for r in oms.orders.values() if base_signal_id(r.signal_id) == base]
    legs = [r for r in oms.orders.values()
            if base_signal_id(r.signal_id) == signal_id and r.role in EXIT_ROLES]
    return trade, legs


def _indexed(oms: OrderManager, signal_id: str
             ) -> tuple[list[OrderRecord], list[OrderRecord], OrderRecord | None]:
    return oms.trade_orders(signal_id), oms.legs_of(signal_id), oms.entry_of(signal_id)


async def test_the_per_signal_index_agrees_with_a_scan_also_after_a_restart(tmp_path,
                                                                           isolated_settings):
    path = tmp_path / "journal.sqlite3"
    oms = _oms(path)
    ids = []
    for n in range(30):
        entry_id = await oms.execute_entry(_signal(n, symbol=f"S{n}"))
        ids.append(entry_id)
        if n % 3 == 0:  # a re-protection group of the same trade
            await oms.execute_oca_exit(entry_id, Decimal("100.00"), Decimal("1.00"),
                                       quantity=100, group_suffix=f"{REPROTECT_SEPARATOR}r1")
        elif n % 3 == 1:
            _end_chain(oms, entry_id)
    signal_ids = {r.signal_id for r in oms.orders.values()}
    assert any(REPROTECT_SEPARATOR in s for s in signal_ids)
    probes = sorted(signal_ids) + ["sig-none", f"sig-0{REPROTECT_SEPARATOR}r9"]
    for signal_id in probes:
        trade, legs, _entry = _indexed(oms, signal_id)
        assert (trade, legs) == _scan(oms, signal_id), signal_id  # the latest records too
    assert any(r.status is OrderStatus.CANCELLED for r in oms.trade_orders("sig-1"))
    for n, entry_id in enumerate(ids):
        assert oms.entry_of(f"sig-{n}").order_id == entry_id
    before = {s: _indexed(oms, s) for s in probes}
    oms.close()
    oms.journal.close()

    restarted = _oms(path)
    try:
        assert {s: _indexed(restarted, s) for s in probes} == before, "rebuilt from the journal"
    finally:
        restarted.close()
        restarted.journal.close()


def _committed(path: Path, sql: str) -> list[tuple]:
    other = sqlite3.connect(str(path))
    try:
        return other.execute(sql).fetchall()
    finally:
        other.close()


async def test_a_signal_and_its_echoes_cost_two_journal_transactions(oms, tmp_path):
    path = tmp_path / "journal.sqlite3"
    begins: list[str] = []
    oms.journal._conn.set_trace_callback(
        lambda sql: begins.append(sql) if sql.startswith("BEGIN") else None)

    entry_id = await oms.execute_entry(_signal("one"))

    assert len(begins) == 1
    assert _committed(path, "SELECT outcome FROM signals") == [("accepted",)]
    chain = [r.order_id for r in oms.trade_orders("sig-one")]
    assert len(chain) == 4 and entry_id in chain
    assert sorted(r[0] for r in _committed(path, "SELECT order_id FROM orders")) == sorted(
        chain), "the sent records are durable when execute_entry returns"
    assert _committed(path, "SELECT count(*) FROM events WHERE kind = 'legs_sent'") == [(1,)]

    for order_id in chain:  # the broker's echoes, arriving together
        _echo(oms, order_id, OrderStatus.PENDING, "PreSubmitted")
    _end_chain(oms, entry_id)
    await eventually(lambda: not oms.journal._conn.in_transaction, what="the group commit")

    assert len(begins) == 2
    assert sorted(r[0] for r in _committed(path, "SELECT status FROM orders")) == [
        "CANCELLED"] * 4, "the echoes are durable after the group commit"
