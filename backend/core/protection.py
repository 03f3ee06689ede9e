"""Keeping positions protected: leg rejections, restarts, reconnects, flatten-all.

Split from ``order_manager`` because it is the part that must be right when
things go wrong, and reads best on its own. Mixed into ``OrderManager``.

Every cancel here ends a whole OCA group on purpose: a client cancel of one
member cancels all of them at IB (R4), so the OMS never cancels one leg and
expects its siblings to stay. ``_cancel_quietly`` is therefore always handed
every live member of the group (or the entry, whose children go with it).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from decimal import Decimal
from typing import TYPE_CHECKING

from backend.core import market_trail
from backend.core.cancels import EXIT_ROLES
from backend.core.exit_plan import (
    REPROTECT_SEPARATOR,
    base_signal_id,
    build_exit_group,
    build_trail_after_fill,
    order_ref,
)
from backend.core.models import LegRole, OrderRecord, OrderStatus, OrderType, Side

if TYPE_CHECKING:
    from backend.core.order_manager import OrderManager

log = logging.getLogger("sigma9.oms")
PROTECTIVE_TYPES = frozenset({OrderType.STOP, OrderType.STOP_LIMIT, OrderType.TRAIL})
__all__ = ["EXIT_ROLES", "PROTECTIVE_TYPES", "ProtectionMixin"]


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

    def _live_trade_exits(self: OrderManager, signal_id: str) -> list[OrderRecord]:
        """Every live exit of a trade, re-protection groups included: whole groups."""
        return [r for r in self.legs_of(signal_id) if not r.status.is_final]

    # -- a leg failed -------------------------------------------------------------------
    def _leg_failed(self: OrderManager, record: OrderRecord, message: str) -> None:
        """Apply the documented rule so nothing stays half-sent (docs/oca.md)."""
        if record.order_id in self.failed_legs:
            return
        self.failed_legs.add(record.order_id)
        self.publish("leg_rejected", order_id=record.order_id, role=record.role.value,
                     symbol=record.symbol, reason=message)
        if record.role is LegRole.ENTRY:
            self._cancel_quietly(self._live_trade_exits(record.signal_id))
            return
        if record.role not in EXIT_ROLES:
            return
        entry = self.entry_of(base_signal_id(record.signal_id))
        if entry is not None and entry.filled == 0 and not entry.status.is_final:
            # Cancelling the parent cancels every attached child at the broker.
            self._cancel_quietly([entry])
            return
        self._spawn(self._after_fill_failure(record), f"rule after {record.role.value} failed")

    def _check_entry_legs(self: OrderManager, entry: OrderRecord) -> None:
        """An entry filled although one of its legs failed (the cancel lost the race)."""
        failed = [r for r in self.legs_of(entry.signal_id) if r.order_id in self.failed_legs]
        if failed:
            self._spawn(self._after_fill_failure(failed[0]), "rule after a failed leg")

    async def _after_fill_failure(self: OrderManager, record: OrderRecord) -> None:
        signal_id = base_signal_id(record.signal_id)
        if signal_id in self.rescued_signals:
            return
        self.rescued_signals.add(signal_id)
        # IB leaves the siblings of a rejected member working (R4: a system cancel or
        # rejection does not cancel the group); the rule replaces the whole group.
        self._cancel_quietly([r for r in self._live_trade_exits(signal_id)
                              if r.order_id != record.order_id])
        entry = self.entry_of(signal_id)
        # The trade's own count (bought minus sold or being sold), not the broker's position
        # report, which may lag the entry's fill; a working exit's fills are counted.
        qty = (entry.filled - market_trail.committed_sells(self.trade_orders(signal_id))
               if entry else self.position_quantity(record.symbol))
        if qty <= 0:
            return
        rule = self.settings.risk.on_leg_rejected_after_fill
        if rule == "reprotect" and entry is not None:
            ids = await self.execute_oca_exit(entry.order_id, self._reference_for(entry),
                                              quantity=qty,
                                              group_suffix=self._fresh_suffix(signal_id))
            self.publish("reprotected", symbol=record.symbol, order_ids=ids, reason=str(
                record.message))
            return
        order_id = await self.broker.place_market_order(
            record.symbol, qty, "SELL", order_ref(record.signal_id, LegRole.FLATTEN))
        self.publish("flattened", symbol=record.symbol, quantity=qty, order_id=order_id,
                     reason=f"exit leg {record.order_id} failed: {record.message}")

    def _fresh_suffix(self: OrderManager, signal_id: str) -> str:
        """A group name never used before (OCA names are single-use, R4)."""
        groups = {r.signal_id for r in self.orders.values()
                  if base_signal_id(r.signal_id) == signal_id and r.signal_id != signal_id}
        return f"{REPROTECT_SEPARATOR}r{len(groups) + 1}"

    def _reference_for(self: OrderManager, entry: OrderRecord) -> Decimal:
        signal = self.signals.get(entry.signal_id)
        if signal is not None:
            return signal.reference_price
        return entry.avg_fill_price or self.marks.get(entry.symbol) or Decimal(0)

    def _cancel_quietly(self: OrderManager, records: list[OrderRecord]) -> None:
        """Send a cancel for each record: callers pass whole groups (module doc)."""
        for record in records:
            try:
                self.broker.cancel_order(record.order_id)
            except Exception as exc:
                log.warning("could not cancel %s: %s", record.order_id, exc)

    # -- the entry's own life: timeout, and the market entry's trail ------------------------
    def _arm_entry_timeout(self: OrderManager, entry_id: str) -> None:
        """Cancel the entry if it is still working after ``[entry] timeout_s`` (a timer, not a
        task: pending work stays distinguishable from an armed deadline)."""
        if entry_id in self.entry_timers:
            return
        loop = asyncio.get_event_loop()
        self.entry_timers[entry_id] = loop.call_later(
            self.entry_params.timeout.total_seconds(), self._entry_timed_out, entry_id)

    def _entry_timed_out(self: OrderManager, entry_id: str) -> None:
        """Unfilled children go with the entry at the broker; a partial fill keeps its exits
        for the shares bought (and a market entry's trail then follows for them)."""
        entry = self.orders.get(entry_id)
        if entry is None or entry.status.is_final:
            return
        log.warning("entry %s for %s not filled within %ss: cancelling", entry_id,
                    entry.symbol, self.entry_params.timeout.total_seconds())
        self.publish("entry_timeout", signal_id=entry.signal_id, order_id=entry_id,
                     symbol=entry.symbol, filled=entry.filled)
        self._cancel_quietly([entry])

    def _request_trail(self: OrderManager, entry: OrderRecord,
                       position: int | None = None) -> bool:
        """Start sending a finished market entry's trail, once; True if it was started."""
        if entry.signal_id in self.trail_requested:
            return False
        if not market_trail.needs_trail(entry, self.legs_of(entry.signal_id)):
            return False
        self.trail_requested.add(entry.signal_id)
        self._spawn(self._send_trail(entry.order_id, position), f"trail of {entry.symbol}")
        return True

    async def _send_trail(self: OrderManager, entry_id: str, position: int | None) -> None:
        entry = self.orders[entry_id]
        try:
            exits_filled = market_trail.committed_sells(self.trade_orders(entry.signal_id))
            qty = market_trail.trail_quantity(entry.filled, exits_filled, position)
            if qty <= 0:
                return
            signal = self.signals.get(entry.signal_id)
            avg = self._average_fill(entry) or self._reference_for(entry)
            atr = signal.atr if signal else self._fallback_atr(avg)
            info = await self.broker.contract_info(entry.symbol)
            trail = build_trail_after_fill(entry.symbol, qty, avg, atr, info.min_tick,
                                           self.exit_params, entry.signal_id)
            ids = await self.broker.place_chain(None, [trail])
        except Exception as exc:
            self.trail_requested.discard(entry.signal_id)
            message = (f"{entry.symbol}: the trail was not sent ({exc}); the stop still "
                       "protects the position and reconciliation retries on reconnect")
            log.error(message)
            self.publish("alert", message=message, symbol=entry.symbol)
            return
        self._remember_sent([trail], ids, entry.signal_id)
        self.publish("trail_sent", signal_id=entry.signal_id, symbol=entry.symbol,
                     order_id=ids[0], quantity=qty, avg_fill=str(avg))

    def _average_fill(self: OrderManager, entry: OrderRecord) -> Decimal | None:
        fills = [f for f in self.fills.values() if f.order_id == entry.order_id]
        shares = sum(f.quantity for f in fills)
        if shares:
            return sum((f.price * f.quantity for f in fills), Decimal(0)) / shares
        return entry.avg_fill_price

    def _latest_entry(self: OrderManager, symbol: str) -> OrderRecord | None:
        entries = [r for r in self.orders.values()
                   if r.symbol == symbol and r.role is LegRole.ENTRY and r.filled]
        return max(entries, key=lambda r: int(r.order_id) if r.order_id.isdigit() else -1,
                   default=None)

    # -- protecting an existing position ---------------------------------------------------
    async def execute_oca_exit(self: OrderManager, order_id: str, entry_price: Decimal,
                               atr: Decimal | None = None, quantity: int | None = None,
                               group_suffix: str = "") -> list[str]:
        """Protect the position that entry ``order_id`` opened, with legs live at once.

        ``group_suffix`` gives the group a fresh name: an OCA group name once used cannot be
        used again (R4), so a re-protection never reuses ``S9-<id>``.
        """
        entry = self.orders.get(order_id)
        if entry is None:
            raise KeyError(f"order {order_id} is unknown")
        signal = self.signals.get(entry.signal_id)
        atr = atr or (signal.atr if signal else None) or self._fallback_atr(entry_price)
        qty = quantity if quantity is not None else self.position_quantity(entry.symbol)
        if qty <= 0:
            raise ValueError(f"no open position in {entry.symbol} to protect")
        info = await self.broker.contract_info(entry.symbol)
        signal_id = (entry.signal_id or f"manual-{order_id}") + group_suffix
        entry_fills = [f.time for f in self.fills.values() if f.order_id == entry.order_id]
        entry_time = min(entry_fills) if entry_fills else self.now()
        legs = build_exit_group(entry.symbol, qty, Decimal(entry_price), atr, info.min_tick,
                                self.exit_params, entry_time, signal_id,
                                attach_to_parent=False)
        ids = await self.broker.place_chain(None, legs)
        self._remember_sent(legs, ids, signal_id)
        return ids

    def _fallback_atr(self: OrderManager, price: Decimal) -> Decimal:
        """No ATR known (manual entry): trail by the safety-stop distance, documented."""
        return Decimal(price) * self.exit_params.safety_stop_pct / 100

    # -- start-up and reconnect ------------------------------------------------------------
    async def reconcile(self: OrderManager) -> list[str]:
        """Rebuild from the journal plus the broker; repair what a crash left undone.

        A finished market entry whose trail was never sent gets it now, in its own group
        (the crash between the fill and the last leg). A naked position is re-protected with
        a fresh group name. Returns the symbols that were re-protected.
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
        for entry in list(self.orders.values()):
            if entry.role is LegRole.ENTRY and entry.symbol in self.broker_positions:
                if self._request_trail(entry, self.position_quantity(entry.symbol)):
                    log.warning("%s: entry %s filled without its trail; sending it now",
                                entry.symbol, entry.order_id)
            elif (entry.role is LegRole.ENTRY and not entry.status.is_final
                  and entry.order_id.isdigit()):
                self._arm_entry_timeout(entry.order_id)
        reprotected = []
        for position in self.broker_positions.values():
            if position.quantity > 0 and not self.is_protected(position.symbol):
                await self._reprotect(position.symbol, position.quantity, position.avg_cost)
                reprotected.append(position.symbol)
        return reprotected

    async def _reprotect(self: OrderManager, symbol: str, qty: int, avg_cost: Decimal) -> None:
        entry = self._latest_entry(symbol)
        if entry is None:
            entry = OrderRecord(order_id=f"pos-{symbol}", symbol=symbol, side=Side.BUY,
                                order_type=OrderType.MARKET, quantity=qty,
                                status=OrderStatus.FILLED, role=LegRole.ENTRY, filled=qty,
                                avg_fill_price=avg_cost, signal_id=f"pos-{symbol}",
                                updated_at=self.now())
            self.orders[entry.order_id] = entry
        # Whatever is left of an old group (a time stop alone) goes as a whole first, so two
        # groups never sell the same shares.
        self._cancel_quietly(self.live_exits(symbol))
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
        """Cancel every order (reqGlobalCancel: every group whole), then close at market."""
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
