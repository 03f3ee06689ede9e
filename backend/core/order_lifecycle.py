"""Sigma9's record of every order, changed along one path: :meth:`OrderLifecycle.apply`.

Why one path: the state machine (``state_machine.apply_update``) is only a specification if
nothing can go around it. Every order update the OMS hears of (a status from the broker, an
error, a code noted on a working order, an order just sent, a reconciliation) reaches the
records through ``apply``, which

1. asks the state machine; a refused update is not stored. It is logged, the trader gets an
   :class:`~backend.core.events.Alert` naming the order and the edge (once per order and
   edge: IB repeats statuses), and the broker is asked for its word on the order once, when
   the port can re-read one (``IBKRConnector.reread_order``);
2. stores an accepted one, journals it (the record and, on a status change, the edge),
   publishes :class:`~backend.core.events.OrderUpdated` and wakes the state waiters.

It also keeps the indexes the hot paths read instead of scanning every order ever made
(issue 12: each order event must cost the same at 10,000 orders as at 10): entries still
waiting for their first fill ("one pending entry per symbol"), working SELL orders per symbol
(protection, on every tick), and every order per base signal id (a trade's entry, legs and
closing orders: the duplicate check, leg failures, fills).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from backend.core.events import Alert, Event, OrderUpdated
from backend.core.exit_plan import base_signal_id
from backend.core.journal import Journal
from backend.core.models import LegRole, OrderRecord, OrderStatus, Side
from backend.core.state_machine import UpdateRefused, apply_update, surprise

log = logging.getLogger("sigma9.oms")
Reread = Callable[[str], Coroutine[Any, Any, Any]]


class OrderLifecycle:
    def __init__(self, records: dict[str, OrderRecord], journal: Journal,
                 publish: Callable[[Event], None], notify: Callable[[], None],
                 spawn: Callable[[Coroutine[Any, Any, Any], str], Any],
                 reread: Reread | None = None) -> None:
        self.orders = records
        """Order id -> record: the OMS's ``orders`` (the same dict, read everywhere)."""
        self._journal, self._publish, self._notify = journal, publish, notify
        self._spawn, self._reread = spawn, reread
        self.refused: set[tuple[str, str]] = set()
        """(order id, edge) of updates refused so far: alerted and re-read once each."""
        self.pending_entries: dict[str, str] = {}
        """Entry order id -> symbol, for entries working with nothing filled yet."""
        self.open_sells: dict[str, dict[str, OrderRecord]] = {}
        """Symbol -> order id -> record of SELL orders still working (not final, not parked
        Inactive): what protection reads on every tick, without scanning every order."""
        self.by_signal: dict[str, dict[str, OrderRecord]] = {}
        """Base signal id -> order id -> record, in the order first stored (as ``orders``):
        a trade's orders without a scan. Orders never leave ``orders``, so nor do they here."""
        for record in records.values():
            self._index(record)

    def apply(self, record: OrderRecord, known: OrderRecord | None, echo: bool = False
              ) -> bool:
        """Store ``record`` as the next state of ``known`` (None: first seen), if the state
        machine accepts it; returns whether it was stored. ``echo``: the broker's report of
        the order, whose journal writes may wait for the next group commit (the broker
        holds it too: ``journal_tx``)."""
        checked = apply_update(known, record)
        if isinstance(checked, UpdateRefused):
            self._refuse(checked)
            return False
        if known is not None and (why := surprise(known.status, record.status)):
            log.info("order %s: %s -> %s: %s", record.order_id, known.status.value,
                     record.status.value, why)
        self.orders[record.order_id] = record
        self._index(record)
        with self._journal.deferred() if echo else contextlib.nullcontext():
            self._journal.upsert_order(record)
            if known is None or known.status is not record.status:
                self._journal.record_status_change(
                    record.order_id, known.status if known else None, record.status,
                    record.broker_status, record.message)
        self._publish(OrderUpdated(record))
        self._notify()
        return True

    def pending_symbols(self) -> set[str]:
        """Symbols with an entry working and nothing filled."""
        return set(self.pending_entries.values())

    def of_signal(self, signal_id: str) -> list[OrderRecord]:
        """Every order whose base signal id is ``signal_id``'s, oldest first."""
        return list(self.by_signal.get(base_signal_id(signal_id), {}).values())

    def _index(self, record: OrderRecord) -> None:
        self.by_signal.setdefault(base_signal_id(record.signal_id), {})[record.order_id] = record
        if record.role is LegRole.ENTRY and not record.status.is_final and record.filled == 0:
            self.pending_entries[record.order_id] = record.symbol
        else:
            self.pending_entries.pop(record.order_id, None)
        sells = self.open_sells.setdefault(record.symbol, {})
        if (record.side is Side.SELL and not record.status.is_final
                and record.status is not OrderStatus.INACTIVE):
            sells[record.order_id] = record
        else:
            sells.pop(record.order_id, None)

    def _refuse(self, refused: UpdateRefused) -> None:
        key = (refused.order_id, refused.edge)
        first = key not in self.refused
        self.refused.add(key)
        message = f"{refused.reason}; not stored" + (
            ", re-reading the order from the broker" if first and self._reread else "")
        log.warning(message)
        if not first:
            return
        self._publish(Alert(message=message, symbol=refused.symbol, order_id=refused.order_id))
        if self._reread is not None:
            self._spawn(self._reread(refused.order_id), f"re-read of order {refused.order_id}")
