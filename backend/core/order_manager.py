"""OrderManager: turns Signals into protected positions and keeps the books.

Commands go out to a ``BrokerPort`` (the IBKRConnector in production); broker
events come back through the ``on_*`` handlers, which the composition root
wires to the connector's Qt signals. The manager never imports ib_insync or
Qt, so it is the same object in the terminal, headless mode and tests.

Safety rules it enforces (docs/oca.md):
- one Signal id -> at most one entry, across reconnects and restarts (journal
  first, then the broker's orderRefs, are consulted before anything is sent);
- no entry outside regular hours unless ``[entry] allow_outside_rth``;
- the entry and its exits go in one transmit chain (``place_chain``); with a
  market entry the trail follows the fill into the same OCA group;
- an entry not filled within ``[entry] timeout_s`` is cancelled;
- a position the broker reports without live exits is re-protected at once;
- an exit leg is never cancelled alone: IB cancels its whole OCA group (R4),
  so ``cancel`` refuses unless the group is confirmed (``cancels.py``).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from backend.core import ledger
from backend.core.cancels import CancelImpact, CloseRefused, ExitLegCancelRefused
from backend.core.entries import EntrySender, sent_records
from backend.core.events import (
    Alert,
    Event,
    Fanout,
    FillReceived,
    Listener,
    PositionsChanged,
    SignalRefusal,
    Slippage,
    Subscriber,
    event_from_legacy,
)
from backend.core.exit_plan import EntryParams, ExitParams, base_signal_id
from backend.core.journal import Journal
from backend.core.journal_tx import flush_soon
from backend.core.leg_activity import LegActivity
from backend.core.market_hours import calendar
from backend.core.models import (
    FillRecord,
    LegRole,
    OrderIntent,
    OrderRecord,
    OrderStatus,
    Position,
)
from backend.core.order_lifecycle import OrderLifecycle
from backend.core.portfolio import Portfolio
from backend.core.ports import BrokerPort, accepted_signals, leg_plans
from backend.core.protection import EXIT_ROLES, Protection
from backend.core.recovery import Recovery, unacknowledged_cancels
from backend.core.recovery_rules import LOST_OUTCOME, is_lost
from backend.core.signal import MalformedSignal, Signal, SignalRefused, parse_signal
from backend.core.state_machine import TRANSITIONS
from backend.core.tasks import StateWaiter, TaskSupervisor
from backend.core.trade_view import OmsActions
from backend.core.trader_desk import TraderDesk

log = logging.getLogger("sigma9.oms")
__all__ = ["BrokerPort", "CancelImpact", "CloseRefused", "ExitLegCancelRefused", "OrderManager",
           "SignalRefused"]


class OrderManager:
    def __init__(self, broker: BrokerPort, journal: Journal, settings: Any,
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.broker = broker
        self.journal = journal
        self.settings = settings
        self.exit_params = ExitParams.from_settings(settings.exits)
        self.entry_params = EntryParams.from_settings(settings.entry)
        self.now = now
        self.session_of = calendar(settings.entry.market_hours)
        """The session a moment falls in (``[entry] market_hours``): entries and leg activity."""
        self.orders: dict[str, OrderRecord] = {o.order_id: o for o in journal.orders()}
        self.fills: dict[str, FillRecord] = {f.exec_id: f for f in journal.fills()}
        self.portfolio = Portfolio(self.fills, lambda symbol: tuple(self.live_exit_roles(symbol)))
        """Marks, books and P&L: the one owner of those figures (``backend/core/portfolio``)."""
        self.fanout = Fanout()
        self.listeners: list[Listener] = self.fanout.listeners
        """Legacy ``fn(kind, payload)`` callbacks, kept for scripts; ``subscribe`` is the API."""
        self.signals: dict[str, Signal] = accepted_signals(journal)
        """Signals that produced entries, this session's and the journal's: their reference
        price and ATR price re-protection and the market entry's trail after a restart."""
        self.leg_plans: dict[str, dict[str, Any]] = leg_plans(journal)
        """What was sent per order id beyond OrderRecord: outsideRth, the activation level,
        goodAfterTime (journalled as ``legs_sent``); read by ``leg_activity``."""
        self.activated_trails: set[str] = set()
        self.tasks = TaskSupervisor(self._task_failed)
        self.waiter = StateWaiter()
        self.lifecycle = OrderLifecycle(self.orders, journal, self.publish, self.waiter.notify,
                                        self.tasks.spawn, getattr(broker, "reread_order", None))
        """The one path by which an order's record changes (``_store``): the state machine."""
        actions = OmsActions(
            publish=self.publish, spawn=self._spawn, remember_sent=self._remember_sent,
            store=lambda record: self._store(record, self.orders.get(record.order_id)),
            record_outcome=self._record_outcome, wait_for=self.waiter.wait_for,
            call_later=lambda delay, fn, name: self.tasks.call_later(delay, fn, name=name),
            note=journal.record_event,
            apply_fill=self.on_fill,
            apply_positions=self.on_positions)
        self.protection = Protection(self, broker, actions, self.exit_params,
                                     self.entry_params.timeout,
                                     settings.risk.on_leg_rejected_after_fill)
        """Leg failures, what counts as protection, the entry's timeout and trail."""
        self.protection.unacknowledged_cancels.update(unacknowledged_cancels(journal))
        self.recovery = Recovery(self, broker, actions, self.protection)
        """Reconciliation after a connect, a reconnect or a restart."""
        self.entries = EntrySender(self, broker, journal, settings, self.exit_params,
                                   self.entry_params)
        """Every check before an entry is sent, then its chain (``entries``)."""
        self.desk = TraderDesk(self)
        self.closed = False
        journal.schedule_flush = flush_soon


    @property
    def pending_tasks(self) -> set:
        return self.tasks.tasks

    def close(self) -> None:
        """Stop tasks and timeouts; broker events arriving later are dropped (the journal is
        about to close, and the next start reconciles with the broker anyway)."""
        self.closed = True
        self.tasks.cancel_all()
        self.protection.close()

    # -- events out -------------------------------------------------------------
    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        """Call ``fn(event)`` for every event (``backend.core.events``) from now on; returns
        the unsubscribe call."""
        return self.fanout.subscribe(fn)

    def unsubscribe(self, fn: Subscriber) -> None:
        self.fanout.unsubscribe(fn)

    def publish(self, event: Event | str, **payload: Any) -> None:
        """Publish ``event`` once: into the journal if its class is journalled, then to every
        subscriber, then to the legacy listeners as ``(kind, to_dict())``.

        The legacy form ``publish(kind, **payload)`` is accepted and turned into the declared
        event (``events.event_from_legacy``) for code not yet moved over.
        """
        if self.closed:
            return
        if isinstance(event, str):
            event = event_from_legacy(event, payload)
        if event.journalled:
            self.journal.record_event(event.kind, event.to_dict())
        self.fanout.deliver(event)

    def refuse(self, signal: Any, reason: str, code: str = "refused") -> SignalRefused:
        symbol = getattr(signal, "symbol", None) or (
            signal.get("symbol", "?") if isinstance(signal, dict) else "?")
        signal_id = getattr(signal, "id", None) or (
            signal.get("id", "") if isinstance(signal, dict) else "")
        log.warning("signal %s (%s) refused: %s", signal_id or "?", symbol, reason)
        if isinstance(signal, Signal):
            self.journal.record_signal(signal, code, reason)
        self.publish(SignalRefusal(signal_id=signal_id, symbol=symbol, reason=reason, code=code))
        return SignalRefused(reason, code)

    def _task_failed(self, name: str, exc: BaseException) -> None:
        self.publish(Alert(message=f"{name} failed: {exc}"))

    def _spawn(self, coro, name: str = "protection task") -> None:
        self.tasks.spawn(coro, name)

    # -- commands ---------------------------------------------------------------
    async def execute_entry(self, signal: Signal | dict) -> str:
        """Send the entry ``[entry] type`` asks for with its exits; returns the entry order id.

        ``signal`` may also be a Signal's plain data (a mapping): it is validated first and
        refused with a sentence naming the bad field (non-positive price, NaN ATR, ...).
        """
        try:
            signal = parse_signal(signal)
        except MalformedSignal as exc:  # exc carries the input's identity, made safe
            raise self.refuse(exc, str(exc), "malformed") from None
        return await self.entries.send(signal)

    def accepted(self, signal: Signal) -> None:
        """``signal`` passed every check: journalled as accepted before its chain is sent."""
        self.journal.record_signal(signal, "accepted")
        self.signals[signal.id] = signal

    def sent(self, intents: list[OrderIntent], ids: list[str], signal_id: str) -> None:
        """An entry's chain is at the broker: book it and arm its timeout."""
        self._remember_sent(intents, ids, signal_id)
        self.protection.arm_entry_timeout(ids[0])

    def _remember_sent(self, intents: list[OrderIntent], ids: list[str], signal_id: str) -> None:
        """Book orders just sent, and journal what was sent beyond the records (``legs_sent``:
        outsideRth, the activation level, goodAfterTime; read by ``leg_activity``)."""
        records, plans = sent_records(intents, ids, signal_id, self.orders, self.now())
        for record in records:
            if self.orders.get(record.order_id) is not record:
                # A record the broker's own report already stored (the connector's
                # order_placed) is the one kept: storing it again wrote it twice.
                self._store(record, None)
        self.leg_plans.update({plan["order_id"]: plan for plan in plans})
        self.journal.record_event("legs_sent", {"signal_id": signal_id, "legs": plans})

    # -- protection and recovery (composed: backend/core/protection.py, recovery.py) ------
    def is_protected(self, symbol: str) -> bool:
        """Working stops or active trails cover the whole position (Protection)."""
        return self.protection.is_protected(symbol)

    def live_exits(self, symbol: str) -> list[OrderRecord]:
        return self.protection.live_exits(symbol)

    def live_exit_roles(self, symbol: str) -> list[LegRole]:
        return self.protection.live_exit_roles(symbol)

    async def execute_oca_exit(self, order_id: str, entry_price: Decimal,
                               atr: Decimal | None = None, quantity: int | None = None,
                               group_suffix: str = "") -> list[str]:
        """Protect the position entry ``order_id`` opened with a group live at once."""
        return await self.protection.execute_oca_exit(order_id, entry_price, atr, quantity,
                                                      group_suffix)

    async def flatten_all(self) -> list[str]:
        """Cancel every order (whole groups), then close every position at market."""
        return await self.protection.flatten_all()

    async def reconcile(self) -> list[str]:
        """Rebuild from the journal and the broker, repair; the re-protected symbols."""
        return await self.recovery.reconcile()

    def _record_outcome(self, signal_id: str, outcome: str, reason: str) -> None:
        signal = self.signals.get(signal_id)
        if signal is not None:
            self.journal.record_signal(signal, outcome, reason)
        if outcome == LOST_OUTCOME:
            self.signals.pop(signal_id, None)

    # -- cancelling and closing (TraderDesk: what IB really does, said first) -------
    def cancel_impact(self, order_id: str) -> CancelImpact:
        """What cancelling ``order_id`` does at IB, as a sentence and the orders it ends."""
        return self.desk.cancel_impact(order_id)

    def cancel(self, order_id: str, confirm_group: bool = False) -> list[str]:
        """Cancel an order; an exit leg only with ``confirm_group`` (its whole group goes)."""
        return self.desk.cancel(order_id, confirm_group)

    def cancel_all(self) -> None:
        self.broker.cancel_all_orders()

    async def close_position(self, symbol: str) -> str:
        """Cancel the position's exit group, then sell what is held at market; the sell's id."""
        return await self.desk.close_position(symbol)

    async def place_manual(self, symbol: str, side: str, quantity: object, **ticket: Any
                           ) -> list[str]:
        """The order ticket: a manual order through the entry's checks (TraderDesk)."""
        return await self.desk.place_manual(symbol, side, quantity, **ticket)

    # -- queries ----------------------------------------------------------------
    def track_order(self, order_id: str) -> OrderStatus:
        record = self.orders.get(order_id)
        if record is None:
            raise KeyError(f"order {order_id} is unknown")
        return record.status

    def entry_of(self, signal_id: str) -> OrderRecord | None:
        """The signal's entry; after a lost entry was retried, the retry (not the lost one)."""
        entries = [r for r in self.lifecycle.of_signal(signal_id)
                   if r.signal_id == signal_id and r.role is LegRole.ENTRY]
        return next((r for r in reversed(entries) if not is_lost(r)),
                    entries[-1] if entries else None)

    def open_sells(self, symbol: str) -> list[OrderRecord]:
        """SELL orders of ``symbol`` still working (indexed by the order lifecycle)."""
        return list(self.lifecycle.open_sells.get(symbol, {}).values())

    def trade_orders(self, signal_id: str) -> list[OrderRecord]:
        """Every order of a trade: entry, exits of every group, closing orders."""
        return self.lifecycle.of_signal(signal_id)

    def legs_of(self, signal_id: str) -> list[OrderRecord]:
        """The exit legs of the trade whose base signal id is ``signal_id`` (any group)."""
        if base_signal_id(signal_id) != signal_id:
            return []  # as the scan it replaced: only a base id has legs
        return [r for r in self.lifecycle.of_signal(signal_id) if r.role in EXIT_ROLES]

    def leg_activity(self, symbol: str) -> list[LegActivity]:
        """Per live exit leg of ``symbol``: can it act now, in one sentence (leg_activity)."""
        return self.desk.leg_activity(symbol)

    # -- the portfolio (backend/core/portfolio.py owns marks, books and P&L) -------------
    @property
    def broker_positions(self) -> dict[str, Position]:
        return self.portfolio.broker_positions

    @property
    def marks(self) -> dict[str, Decimal]:
        return self.portfolio.marks

    def books(self) -> dict[str, ledger.Book]:
        """Positions from fills, rebuilt only after a fill (or its commission) arrives."""
        return self.portfolio.books()

    def position_quantity(self, symbol: str) -> int:
        return self.portfolio.position_quantity(symbol)

    def open_symbols(self) -> set[str]:
        return set(self.portfolio.open_symbols())

    def pending_entry_symbols(self) -> set[str]:
        """Entries still waiting for a fill; a symbol already held counts as open instead."""
        return self.lifecycle.pending_symbols() - self.portfolio.open_symbols()

    def get_active_positions(self) -> list[Position]:
        return self.portfolio.positions()

    # -- broker events in ----------------------------------------------------------
    def on_order_status(self, record: OrderRecord) -> None:
        known = self.orders.get(record.order_id)
        if known is not None and not record.signal_id:
            record = _merge_identity(record, known)
        if not self._store(record, known, echo=True):
            return
        if record.status is OrderStatus.INACTIVE and record.role is not LegRole.MANUAL:
            self.protection.leg_failed(record, record.message or "order inactive at the broker")
        if record.role is LegRole.ENTRY and record.filled > 0:
            self.protection.check_entry_legs(record)
            self.protection.request_trail(record)
        elif record.role is LegRole.ENTRY and record.status.is_final:
            self.protection.entry_ended(record)  # its untransmitted children go with it

    def on_order_error(self, order_id: str, message: str) -> None:
        known = self.orders.get(order_id)
        if known is None:
            log.warning("error for unknown order %s: %s", order_id, message)
            return
        if OrderStatus.ERROR not in TRANSITIONS[known.status]:
            # Only FILLED: nothing un-fills it, and IB does report errors for done orders (a
            # late cancel is answered with 10148); the table refuses the edge, quietly.
            log.warning("error for %s order %s ignored: %s", known.status.value, order_id,
                        message)
            return
        failed = dataclasses.replace(known, status=OrderStatus.ERROR, message=message,
                                     updated_at=self.now())
        if self._store(failed, known):
            self.protection.leg_failed(failed, message)

    def on_order_warning(self, order_id: str, code: int, text: str) -> None:
        """IB spoke about a working order without ending it (docs/ib-codes.md): noted only.

        The order, its OCA siblings and the position stay as they are; only a status from
        the broker changes them.
        """
        self._note_code(order_id, f"IB {code}: {text}")

    def on_unknown_code(self, order_id: str, code: int, text: str) -> None:
        """A code outside Sigma9's table: noted, never acted on by itself.

        The connector re-reads the order from the broker; that answer, through
        ``on_order_status``, decides anything (a leg really gone is then a failed leg).
        """
        log.warning("order %s: unknown IB code %s (%s); waiting for the broker's re-read",
                    order_id, code, text)
        self._note_code(order_id, f"IB {code} (not in Sigma9's code table): {text}")

    def _note_code(self, order_id: str, message: str) -> None:
        known = self.orders.get(order_id)
        if known is None:
            log.info("IB code for an order Sigma9 does not track (%s): %s", order_id, message)
            return
        self._store(dataclasses.replace(known, message=message, updated_at=self.now()), known,
                    echo=True)

    def on_fill(self, fill: FillRecord) -> None:
        if self.closed:
            log.debug("fill %s after close: left to the next reconciliation", fill.exec_id)
            return
        first = fill.exec_id not in self.fills
        self.fills[fill.exec_id] = fill
        self.portfolio.fills_changed()
        self.journal.record_fill(fill)
        record = self.orders.get(fill.order_id)
        if first and record is not None and record.role is LegRole.ENTRY:
            signal = self.signals.get(record.signal_id)
            if signal is not None:
                self.publish(Slippage(signal_id=signal.id, symbol=fill.symbol,
                                      reference=signal.reference_price, fill=fill.price,
                                      slippage=fill.price - signal.reference_price))
        self.publish(FillReceived(fill))

    def on_positions(self, positions: list[Position]) -> None:
        self.portfolio.apply_positions(positions)
        self.publish(PositionsChanged(tuple(self.get_active_positions())))

    def on_tick(self, quote) -> None:
        if quote.last is not None:
            self.portfolio.mark(quote.symbol, quote.last)
            self.desk.note_activation(quote.symbol, quote.last)

    def _store(self, record: OrderRecord, known: OrderRecord | None, echo: bool = False
               ) -> bool:
        """Apply an update of an order (``OrderLifecycle.apply``: checked by the state
        machine, then journalled and published); returns whether it was stored. ``echo``:
        the broker's report, journalled with the next group commit (``journal_tx``)."""
        if self.closed:
            log.debug("order %s after close: left to the next reconciliation",
                      record.order_id)
            return False
        return self.lifecycle.apply(record, known, echo)


def _merge_identity(record: OrderRecord, known: OrderRecord) -> OrderRecord:
    return dataclasses.replace(record, role=known.role, signal_id=known.signal_id)
