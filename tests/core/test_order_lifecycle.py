"""The OrderManager stores an order update only through the state machine.

Every (from, to) pair of statuses is walked through ``on_order_status``: an allowed edge is
stored, journalled and published; a refused one (FILLED -> anything else, PARTIAL_FILL ->
PENDING) is not stored, and the trader gets an Alert naming the order and the edge. The share
count is checked too: ``filled`` is IB's cumulative count (orderStatus ``filled``, the TWS API
reference), so it never goes down and never exceeds the order's quantity.
"""

from __future__ import annotations

import itertools

import pytest

from backend.core import events as ev
from backend.core.models import LegRole, OrderStatus
from backend.core.order_lifecycle import OrderLifecycle
from backend.core.state_machine import UpdateRefused, apply_update
from tests.core.fakes import order
from tests.core.test_state_machine import ALLOWED, IMPOSSIBLE

SHARES = {OrderStatus.PARTIAL_FILL: 40, OrderStatus.FILLED: 100}
"""Shares filled by a record in that status (the rest: none); an edge keeps the larger."""
PAIRS = list(itertools.product(OrderStatus, repeat=2))
REFUSED = set(IMPOSSIBLE)
assert REFUSED | {(a, b) for a, b, _ in ALLOWED} == set(PAIRS)


def _walk(manager, current: OrderStatus, new: OrderStatus):
    known = order("17", current, SHARES.get(current, 0), role=LegRole.MANUAL)
    assert manager._store(known, None)
    seen: list[ev.Event] = []
    manager.subscribe(seen.append)
    update = order("17", new, max(SHARES.get(current, 0), SHARES.get(new, 0)),
                   role=LegRole.MANUAL, broker_status="reported")
    manager.on_order_status(update)
    return known, update, seen


@pytest.mark.parametrize(("current", "new"), PAIRS, ids=[f"{a.value}->{b.value}"
                                                         for a, b in PAIRS])
def test_every_edge_is_stored_or_refused_as_the_table_says(manager, current, new):
    known, update, seen = _walk(manager, current, new)
    alerts = [e for e in seen if isinstance(e, ev.Alert)]
    stored = [e.order for e in seen if isinstance(e, ev.OrderUpdated)]
    if (current, new) in REFUSED:
        assert manager.orders["17"] == known, "a refused update is not stored"
        assert manager.journal.orders()[0] == known, "nor journalled"
        assert stored == []
        assert len(alerts) == 1 and alerts[0].order_id == "17"
        assert f"{current.value} to {new.value}" in alerts[0].message
        assert manager.journal.events("alert")[-1]["payload"]["order_id"] == "17"
    else:
        assert manager.orders["17"] == update
        assert stored == [update] and alerts == []


def test_a_refused_edge_alerts_once_though_ib_repeats_it(manager):
    _walk(manager, OrderStatus.FILLED, OrderStatus.CANCELLED)
    again: list[ev.Event] = []
    manager.subscribe(again.append)
    manager.on_order_status(order("17", OrderStatus.CANCELLED, 100, role=LegRole.MANUAL))
    assert again == [] and manager.orders["17"].status is OrderStatus.FILLED


@pytest.mark.parametrize(("known_filled", "update_filled", "quantity", "why"), [
    (40, 10, 100, "filled cannot go down from 40 to 10"),
    (0, 101, 100, "101 shares filled of an order for 100"),
    (0, -1, 100, "-1 shares filled"),
])
def test_an_impossible_share_count_is_refused(manager, known_filled, update_filled, quantity,
                                              why):
    status = OrderStatus.PARTIAL_FILL if known_filled else OrderStatus.PENDING
    manager._store(order("17", status, known_filled, quantity=quantity,
                         role=LegRole.MANUAL), None)
    seen: list[ev.Event] = []
    manager.subscribe(seen.append)
    manager.on_order_status(order("17", OrderStatus.PARTIAL_FILL, update_filled,
                                  quantity=quantity, role=LegRole.MANUAL))
    assert manager.orders["17"].filled == known_filled
    assert [e for e in seen if isinstance(e, ev.Alert) and why in e.message]


def test_a_first_report_with_more_shares_than_ordered_is_refused():
    refused = apply_update(None, order("9", OrderStatus.FILLED, 150))
    assert isinstance(refused, UpdateRefused) and refused.edge == "new -> FILLED"
    assert refused.reason == "order 9 (AAPL): 150 shares filled of an order for 100"


def test_an_error_goes_through_the_same_path(manager):
    manager._store(order("17", OrderStatus.CANCELLED, role=LegRole.MANUAL), None)
    manager.on_order_error("17", "IB 201: rejected")
    assert manager.orders["17"].status is OrderStatus.ERROR
    assert manager.orders["17"].message == "IB 201: rejected"


def test_an_error_for_a_filled_order_changes_nothing_and_is_not_escalated(manager):
    """IB answers a late cancel of a filled order with 10148 (docs/ib-codes.md)."""
    filled = order("17", OrderStatus.FILLED, 100, role=LegRole.MANUAL)
    manager._store(filled, None)
    seen: list[ev.Event] = []
    manager.subscribe(seen.append)
    manager.on_order_error("17", "IB 10148: cannot be cancelled")
    assert manager.orders["17"] == filled and seen == []


@pytest.mark.asyncio
async def test_a_refused_update_asks_the_broker_for_its_word_once(manager):
    asked: list[str] = []

    async def reread_order(order_id: str):
        asked.append(order_id)

    # What the manager builds when its port can re-read an order (IBKRConnector can).
    manager.lifecycle = OrderLifecycle(manager.orders, manager.journal, manager.publish,
                                       manager.waiter.notify, manager.tasks.spawn, reread_order)
    manager._store(order("17", OrderStatus.FILLED, 100, role=LegRole.MANUAL), None)
    for _ in range(3):
        manager.on_order_status(order("17", OrderStatus.PENDING, 100, role=LegRole.MANUAL))
    while manager.pending_tasks:
        await next(iter(manager.pending_tasks))
    assert asked == ["17"]


def test_the_manager_re_reads_through_its_port_when_the_port_can(tmp_path, isolated_settings):
    from backend.core.journal import Journal
    from backend.core.order_manager import OrderManager
    from backend.settings import load_settings
    from tests.core.fakes import FakeBroker

    class Rereading(FakeBroker):
        async def reread_order(self, order_id: str):
            return None

    settings = load_settings(journal={"path": str(tmp_path / "j.sqlite3")})
    journal = Journal(settings.journal.path)
    try:
        broker = Rereading()
        oms = OrderManager(broker, journal, settings)
        assert oms.lifecycle._reread == broker.reread_order
        assert OrderManager(FakeBroker(), journal, settings).lifecycle._reread is None
    finally:
        journal.close()
