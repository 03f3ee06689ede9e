"""Keeping positions protected: leg rejections, restarts, reconnects, flatten-all.

Split from ``order_manager`` because it is the part that must be right when
things go wrong, and reads best on its own. Mixed into ``OrderManager``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from decimal import Decimal
from typing import TYPE_CHECKING

from backend.core.exit_plan import REPROTECT_SEPARATOR, base_signal_id, order_ref
from backend.core.models import LegRole, OrderRecord, OrderStatus, OrderType, Side

if TYPE_CHECKING:
    from backend.core.order_manager import OrderManager

log = logging.getLogger("sigma9.oms")
EXIT_ROLES = frozenset({LegRole.SAFETY_STOP, LegRole.TIME_STOP, LegRole.PROFIT_HARVESTER})
PROTECTIVE_TYPES = frozenset({OrderType.STOP, OrderType.STOP_LIMIT, OrderType.TRAIL})


class ProtectionMixin:
    # -- what protects a position ------------------------------------------------
    def live_exit_roles(self: OrderManager, symbol: str) -> list[LegRole]:
        roles = [r.role for r in self.live_exits(symbol)]
        return sorted(set(roles), key=lambda role: role.value)

    def live_exits(self: OrderManager, symbol: str) -> list[OrderRecord]:
        """Live SELL orders that protect a long: Sigma9's exit legs or any working stop."""
        return [r for r in self.orders.values()
                if r.symbol == symbol and r.side is Side.SELL and not r.status.is_final
                and r.status is not OrderStatus.INACTIVE
                and (r.role in EXIT_ROLES or r.order_type in PROTECTIVE_TYPES)]

    def is_protected(self: OrderManager, symbol: str) -> bool:
        return any(r.order_type in PROTECTIVE_TYPES for r in self.live_exits(symbol))

    # -- a leg failed -------------------------------------------------------------------
    def _leg_failed(self: OrderManager, record: OrderRecord, message: str) -> None:
        """Apply the documented rule so nothing stays half-sent (docs/oca.md)."""
        if record.order_id in self.failed_legs:
            return
        self.failed_legs.add(record.order_id)
        self.publish("leg_rejected", order_id=record.order_id, role=record.role.value,
                     symbol=record.symbol, reason=message)
        if record.role is LegRole.ENTRY:
            self._cancel_quietly([r for r in self.legs_of(record.signal_id)
                                  if not r.status.is_final])
            return
        if record.role not in EXIT_ROLES:
            return
        entry = self.entry_of(base_signal_id(record.signal_id))
        if entry is not None and entry.filled == 0 and not entry.status.is_final:
            # Cancelling the parent cancels every attached child at the broker.
            self._cancel_quietly([entry])
            return
        self._spawn(self._after_fill_failure(record))

    def _check_entry_legs(self: OrderManager, entry: OrderRecord) -> None:
        """An entry filled although one of its legs failed (the cancel lost the race)."""
        failed = [r for r in self.legs_of(entry.signal_id) if r.order_id in self.failed_legs]
        if failed:
            self._spawn(self._after_fill_failure(failed[0]))

    async def _after_fill_failure(self: OrderManager, record: OrderRecord) -> None:
        signal_id = base_signal_id(record.signal_id)
        if signal_id in self.rescued_signals:
            return
        self.rescued_signals.add(signal_id)
        siblings = [r for r in self.legs_of(signal_id)
                    if r.order_id != record.order_id and not r.status.is_final]
        self._cancel_quietly(siblings)
        entry = self.entry_of(signal_id)
        # The position report may lag the entry's fill: the entry's own fills count too.
        qty = max(self.position_quantity(record.symbol), entry.filled if entry else 0)
        if qty <= 0:
            return
        rule = self.settings.risk.on_leg_rejected_after_fill
        if rule == "reprotect" and entry is not None:
            groups = {r.signal_id for r in self.orders.values()
                      if base_signal_id(r.signal_id) == signal_id and r.signal_id != signal_id}
            ids = await self.execute_oca_exit(entry.order_id, self._reference_for(entry),
                                              quantity=qty,
                                              group_suffix=f"{REPROTECT_SEPARATOR}r"
                                                           f"{len(groups) + 1}")
            self.publish("reprotected", symbol=record.symbol, order_ids=ids, reason=str(
                record.message))
            return
        order_id = await self.broker.place_market_order(
            record.symbol, qty, "SELL", order_ref(record.signal_id, LegRole.FLATTEN))
        self.publish("flattened", symbol=record.symbol, quantity=qty, order_id=order_id,
                     reason=f"exit leg {record.order_id} failed: {record.message}")

    def _reference_for(self: OrderManager, entry: OrderRecord) -> Decimal:
        signal = self.signals.get(entry.signal_id)
        if signal is not None:
            return signal.reference_price
        return entry.avg_fill_price or self.marks.get(entry.symbol) or Decimal(0)

    def _cancel_quietly(self: OrderManager, records: list[OrderRecord]) -> None:
        for record in records:
            try:
                self.broker.cancel_order(record.order_id)
            except Exception as exc:
                log.warning("could not cancel %s: %s", record.order_id, exc)

    def _spawn(self: OrderManager, coro) -> None:
        task = asyncio.get_event_loop().create_task(coro)

        def done(t: asyncio.Task) -> None:
            if not t.cancelled() and t.exception() is not None:
                log.error("protection task failed: %s", t.exception())
                self.publish("alert", message=f"protection task failed: {t.exception()}")

        task.add_done_callback(done)
        self.pending_tasks.add(task)
        task.add_done_callback(self.pending_tasks.discard)

    # -- start-up and reconnect ------------------------------------------------------------
    async def reconcile(self: OrderManager) -> list[str]:
        """Rebuild from the journal plus the broker; re-protect naked positions.

        Returns the symbols that were re-protected.
        """
        for record in self.broker.get_all_orders():
            if record.order_id == "0" and record.signal_id:
                # IB's completed orders carry no orderId: find ours by its orderRef.
                match = next((r for r in self.orders.values() if r.signal_id == record.signal_id
                              and r.role is record.role), None)
                if match is None:
                    continue
                record = dataclasses.replace(record, order_id=match.order_id,
                                             parent_id=match.parent_id)
            known = self.orders.get(record.order_id)
            if known is not None and not record.signal_id:
                record = dataclasses.replace(record, role=known.role,
                                             signal_id=known.signal_id)
            if known != record:
                self._store(record, known)
        for fill in self.broker.get_executions():
            if fill.exec_id not in self.fills:
                self.on_fill(fill)
        self.on_positions(self.broker.get_positions())
        reprotected = []
        for position in self.broker_positions.values():
            if position.quantity > 0 and not self.is_protected(position.symbol):
                await self._reprotect(position.symbol, position.quantity, position.avg_cost)
                reprotected.append(position.symbol)
        return reprotected

    async def _reprotect(self: OrderManager, symbol: str, qty: int, avg_cost: Decimal) -> None:
        entry = next((r for r in sorted(self.orders.values(), key=lambda r: r.order_id,
                                        reverse=True)
                      if r.symbol == symbol and r.role is LegRole.ENTRY and r.filled), None)
        if entry is None:
            entry = OrderRecord(order_id=f"pos-{symbol}", symbol=symbol, side=Side.BUY,
                                order_type=OrderType.MARKET, quantity=qty,
                                status=OrderStatus.FILLED, role=LegRole.ENTRY, filled=qty,
                                avg_fill_price=avg_cost, signal_id=f"pos-{symbol}",
                                updated_at=self.now())
            self.orders[entry.order_id] = entry
        reference = self._reference_for(entry) or avg_cost
        suffix = f"{REPROTECT_SEPARATOR}r{int(self.now().timestamp())}"
        ids = await self.execute_oca_exit(entry.order_id, reference, quantity=qty,
                                          group_suffix=suffix)
        message = f"{symbol}: {qty} shares had no live protection; exit group re-sent"
        log.warning(message)
        self.publish("alert", message=message, symbol=symbol)
        self.publish("reprotected", symbol=symbol, order_ids=ids, reason="unprotected position")

    # -- flatten ---------------------------------------------------------------------------
    async def flatten_all(self: OrderManager) -> list[str]:
        """Cancel every order, then close every position at market."""
        self.broker.cancel_all_orders()
        ids = []
        for position in list(self.broker_positions.values()):
            if position.quantity:
                side = "SELL" if position.quantity > 0 else "BUY"
                ids.append(await self.broker.place_market_order(
                    position.symbol, abs(position.quantity), side,
                    order_ref(f"flatten{int(self.now().timestamp())}", LegRole.FLATTEN)))
        self.publish("flattened", symbols=sorted(self.broker_positions), order_ids=ids,
                     reason="flatten all")
        return ids
