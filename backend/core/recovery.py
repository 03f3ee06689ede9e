"""Start-up and reconnect: rebuild from the journal plus the broker, and repair.

Composed into ``OrderManager`` (``manager.recovery``) beside ``Protection``; reads the OMS
through the same :class:`~backend.core.trade_view.TradeView`. ``reconcile`` runs after every
connect (``TradingCore.start``) and reconnect (``runtime.wire``), when ib_insync has just
re-read open orders, completed orders, executions and positions from the broker.

What it repairs (docs/oca.md, docs/reliability.md "Recovery rules"):

- orders the journal holds as sent but the broker does not know (a drop in the middle of a
  chain, a crash): their remains at the broker are cancelled, they are marked lost, and a
  lost entry's signal is recorded as not executed, which frees its symbol and lets the
  signal be retried once the broker holds nothing of it (``recovery_rules.retry_refusal``);
- a finished market entry whose trail was never sent gets it;
- a position without protection for its full quantity (``Protection.is_protected``) is
  re-protected with a fresh group, after what is left of its old groups is cancelled.
"""

from __future__ import annotations

import dataclasses
import logging
from decimal import Decimal

from backend.core.events import Alert, OrderLost, Reprotected
from backend.core.exit_plan import REPROTECT_SEPARATOR, base_signal_id
from backend.core.journal import Journal
from backend.core.models import LegRole, OrderRecord, OrderStatus
from backend.core.ports import BrokerPort
from backend.core.protection import RESENT, UNACKNOWLEDGED, Protection
from backend.core.recovery_rules import (
    LOST_OUTCOME,
    LOST_PREFIX,
    is_broker_id,
    lost_orders,
)
from backend.core.trade_view import OmsActions, TradeView

log = logging.getLogger("sigma9.oms")
LOST_REASON = ("the broker does not know it after a reconnect or restart (a drop while it "
               "was being sent)")


def unacknowledged_cancels(journal: Journal) -> set[str]:
    """Cancels sent before IB acknowledged the order and not yet sent again (journal events):
    what a restart must send again, since the crash may have come before the cancel left."""
    resent = {e["payload"]["order_id"] for e in journal.events(RESENT)}
    return {e["payload"]["order_id"] for e in journal.events(UNACKNOWLEDGED)} - resent


class Recovery:
    def __init__(self, view: TradeView, broker: BrokerPort, actions: OmsActions,
                 protection: Protection) -> None:
        self.view, self.broker, self.act, self.protection = view, broker, actions, protection

    async def reconcile(self) -> list[str]:
        """Rebuild from the journal plus the broker; repair what a drop or crash left undone.

        Returns the symbols that were re-protected.
        """
        known = self._sync_orders()
        for fill in self.broker.get_executions():
            if fill.exec_id not in self.view.fills:
                self.act.apply_fill(fill)
        self.act.apply_positions(self.broker.get_positions())
        if self.broker.is_connected():
            self._resolve_lost(known)
            self._cancel_again(known)
        for entry in list(self.view.orders.values()):
            if entry.role is LegRole.ENTRY and entry.symbol in self.view.broker_positions:
                if self.protection.request_trail(entry,
                                                 self.view.position_quantity(entry.symbol)):
                    log.warning("%s: entry %s filled without its trail; sending it now",
                                entry.symbol, entry.order_id)
            elif (entry.role is LegRole.ENTRY and not entry.status.is_final
                  and is_broker_id(entry.order_id)):
                self.protection.arm_entry_timeout(entry.order_id)
        reprotected = []
        for position in list(self.view.broker_positions.values()):
            if position.quantity > 0 and not self.protection.is_protected(position.symbol):
                await self._reprotect(position.symbol, position.quantity, position.avg_cost)
                reprotected.append(position.symbol)
        return reprotected

    # -- the broker's orders into the book ----------------------------------------------------
    def _sync_orders(self) -> set[str]:
        """Store what the broker reports; returns the ids of ours it knows.

        ib_insync reports a completed order without its order id (the broker layer keys it
        ``perm-<permId>``): ours is found by its permId if the journal has it, else by its
        orderRef (signal and role), preferring the order in the same state, then one still
        open, and never one already matched.
        """
        known: set[str] = set()
        for record in self.broker.get_all_orders():
            if not is_broker_id(record.order_id):
                if not record.signal_id:
                    continue
                match = self._match_by_ref(record, known)
                if match is None:
                    continue
                record = dataclasses.replace(record, order_id=match.order_id,
                                             parent_id=match.parent_id)
            current = self.view.orders.get(record.order_id)
            if current is not None and not record.signal_id:
                record = dataclasses.replace(record, role=current.role,
                                             signal_id=current.signal_id)
            known.add(record.order_id)
            if current != record:
                self.act.store(record)
        return known

    def _match_by_ref(self, record: OrderRecord, taken: set[str]) -> OrderRecord | None:
        perm = getattr(record, "perm_id", 0)
        if perm:
            same = next((r for r in self.view.orders.values()
                         if getattr(r, "perm_id", 0) == perm and r.order_id not in taken), None)
            if same is not None:
                return same
        candidates = [r for r in self.view.orders.values()
                      if r.signal_id == record.signal_id and r.role is record.role
                      and r.order_id not in taken]
        for good in (lambda r: r.status is record.status and r.quantity == record.quantity,
                     lambda r: r.status is record.status,
                     lambda r: not r.status.is_final):
            found = next((r for r in candidates if good(r)), None)
            if found is not None:
                return found
        return candidates[0] if candidates else None

    # -- orders the broker does not know -----------------------------------------------------
    def _resolve_lost(self, known: set[str]) -> None:
        executed = {f.order_id for f in self.view.fills.values()}
        lost = lost_orders(list(self.view.orders.values()), known, executed)
        if not lost:
            return
        now = self.view.now()
        for record in lost:
            if self._may_be_untransmitted(record):
                try:
                    # Untransmitted remains stay at TWS after a drop (ib_insync #71) and are
                    # invisible to the API (api_transmit_false_then_transmit_aapl): cancel by
                    # id.
                    self.broker.cancel_order_id(record.order_id)
                except Exception as exc:
                    log.warning("could not cancel lost order %s: %s", record.order_id, exc)
            self.act.store(dataclasses.replace(
                record, status=OrderStatus.CANCELLED, broker_status="",
                message=LOST_PREFIX + LOST_REASON, updated_at=now))
            self.act.publish(OrderLost(order_id=record.order_id, symbol=record.symbol,
                                       signal_id=record.signal_id, reason=LOST_REASON))
        for signal_id in sorted({base_signal_id(r.signal_id) for r in lost if r.signal_id}):
            self._signal_lost(signal_id, [r for r in lost
                                          if base_signal_id(r.signal_id) == signal_id])
        lost_ids = ", ".join(sorted(r.order_id for r in lost))
        self.act.publish(Alert(message=f"orders {lost_ids} were lost with the connection; "
                                       "their remains at the broker were cancelled"))

    def _may_be_untransmitted(self, record: OrderRecord) -> bool:
        """Only a chain whose entry never filled can have left untransmitted orders at TWS:
        exits sent without a parent are each transmitted at once (``place_chain``). So an
        unknown exit of a trade that holds shares is marked lost without a cancel, which could
        only hit a live stop the broker's report happened to miss."""
        entry = self.view.entry_of(base_signal_id(record.signal_id)) if record.signal_id else None
        return entry is None or entry.filled == 0

    def _cancel_again(self, known: set[str]) -> None:
        """Cancels sent to orders the broker had not acknowledged, and that it does not report
        now, are sent again by id: ib_insync marked them Cancelled locally, but the cancel may
        have died with the socket while TWS keeps the order untransmitted."""
        pending = self.protection.unacknowledged_cancels
        for order_id in sorted(pending - known):
            record = self.view.orders.get(order_id)
            if record is not None and record.filled:  # it reached the market: nothing to end
                pending.discard(order_id)
                continue
            try:
                self.broker.cancel_order_id(order_id)
            except Exception as exc:
                log.warning("could not cancel %s again: %s", order_id, exc)
                continue
            pending.discard(order_id)
            self.act.note(RESENT, {"order_id": order_id})
        pending.difference_update(known)

    def _signal_lost(self, signal_id: str, lost: list[OrderRecord]) -> None:
        entry_lost = any(r.role is LegRole.ENTRY for r in lost)
        if entry_lost:
            # Nothing of a chain whose entry is gone may stay: an unattached exit with no
            # position would open a short.
            self.protection.cancel_quietly(self.protection.live_trade_exits(signal_id))
            reason = (f"the entry ({', '.join(r.order_id for r in lost)}) was lost with the "
                      "connection before it reached the market; it may be sent again")
            self.act.record_outcome(signal_id, LOST_OUTCOME, reason)
            log.warning("signal %s: %s", signal_id, reason)
        elif any(r.role is LegRole.PROFIT_HARVESTER and REPROTECT_SEPARATOR not in r.signal_id
                 for r in lost):
            # a market trail: send it again
            self.protection.entry_watch.trail_requested.discard(signal_id)

    # -- a position without protection -------------------------------------------------------
    async def _reprotect(self, symbol: str, qty: int, avg_cost: Decimal) -> None:
        entry = self.protection.latest_entry(symbol)
        # Whatever is left of old groups (a time stop, a dormant trail) goes as a whole first,
        # so two groups never sell the same shares.
        self.protection.cancel_quietly(self.protection.live_exits(symbol))
        suffix = f"{REPROTECT_SEPARATOR}r{int(self.view.now().timestamp())}"
        if entry is not None:
            reference = self.protection.reference_for(entry) or avg_cost
            ids = await self.protection.execute_oca_exit(entry.order_id, reference,
                                                         quantity=qty, group_suffix=suffix)
        else:  # a position Sigma9 did not open (or whose entry it never saw)
            ids = await self.protection.send_group(
                symbol, qty, avg_cost, self.protection.fallback_atr(avg_cost),
                f"pos-{symbol}{suffix}", self.view.now())
        message = f"{symbol}: {qty} shares had no live protection; exit group re-sent"
        log.warning(message)
        self.act.publish(Alert(message=message, symbol=symbol))
        self.act.publish(Reprotected(symbol=symbol, order_ids=tuple(ids),
                                     reason="unprotected position"))
