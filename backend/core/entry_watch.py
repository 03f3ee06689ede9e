"""The entry's own life: its timeout, and the market entry's trail after the fill.

Composed into ``Protection`` (``protection.entry_watch``); split out because it is about time
and the fill, not about failures. Rules: an entry still working after ``[entry] timeout_s`` is
cancelled (its unfilled children go with it; after a partial fill they stay for the shares
bought); a finished market entry gets its trail once, sized by ``market_trail`` (docs/oca.md).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from decimal import Decimal
from typing import Protocol

from backend.core import market_trail
from backend.core.events import Alert, EntryTimedOut, TrailSent
from backend.core.exit_plan import ExitParams, build_trail_after_fill
from backend.core.models import OrderRecord
from backend.core.ports import BrokerPort
from backend.core.trade_view import OmsActions, TradeView

log = logging.getLogger("sigma9.oms")


class Pricing(Protocol):
    """What the watch asks of ``Protection``: prices for the trail, and whole-group cancels."""

    def reference_for(self, entry: OrderRecord) -> Decimal: ...
    def fallback_atr(self, price: Decimal) -> Decimal: ...
    def cancel_quietly(self, records: list[OrderRecord]) -> None: ...


class EntryWatch:
    def __init__(self, view: TradeView, broker: BrokerPort, actions: OmsActions,
                 exits: ExitParams, entry_timeout: timedelta, protection: Pricing) -> None:
        self.view, self.broker, self.act = view, broker, actions
        self.exits, self.entry_timeout, self.protection = exits, entry_timeout, protection
        self.trail_requested: set[str] = set()
        """Signals whose market-entry trail is being sent or was sent (never twice)."""
        self.entry_timers: dict[str, asyncio.TimerHandle] = {}
        """Armed entry timeouts (one per entry, across reconnects)."""

    def close(self) -> None:
        for timer in self.entry_timers.values():
            timer.cancel()

    def arm_timeout(self, entry_id: str) -> None:
        """Cancel the entry if it is still working after ``[entry] timeout_s`` (a timer of the
        OMS's task supervisor, not a task: pending work stays distinguishable from an armed
        deadline, and a failure of the timeout is shown like a task's)."""
        if entry_id in self.entry_timers:
            return
        self.entry_timers[entry_id] = self.act.call_later(
            self.entry_timeout.total_seconds(), lambda: self._entry_timed_out(entry_id),
            f"timeout of entry {entry_id}")

    def _entry_timed_out(self, entry_id: str) -> None:
        """Unfilled children go with the entry at the broker; a partial fill keeps its exits
        for the shares bought (and a market entry's trail then follows for them)."""
        entry = self.view.orders.get(entry_id)
        if entry is None or entry.status.is_final:
            return
        log.warning("entry %s for %s not filled within %ss: cancelling", entry_id,
                    entry.symbol, self.entry_timeout.total_seconds())
        self.act.publish(EntryTimedOut(signal_id=entry.signal_id, order_id=entry_id,
                                       symbol=entry.symbol, filled=entry.filled))
        self.protection.cancel_quietly([entry])

    def request_trail(self, entry: OrderRecord, position: int | None = None) -> bool:
        """Start sending a finished market entry's trail, once; True if it was started."""
        if entry.signal_id in self.trail_requested:
            return False
        if not market_trail.needs_trail(entry, self.view.legs_of(entry.signal_id)):
            return False
        self.trail_requested.add(entry.signal_id)
        self.act.spawn(self._send_trail(entry.order_id, position), f"trail of {entry.symbol}")
        return True

    async def _send_trail(self, entry_id: str, position: int | None) -> None:
        entry = self.view.orders[entry_id]
        try:
            exits_filled = market_trail.committed_sells(self.view.trade_orders(entry.signal_id))
            qty = market_trail.trail_quantity(entry.filled, exits_filled, position)
            if qty <= 0:
                return
            signal = self.view.signals.get(entry.signal_id)
            avg = self.average_fill(entry) or self.protection.reference_for(entry)
            atr = signal.atr if signal else self.protection.fallback_atr(avg)
            info = await self.broker.contract_info(entry.symbol)
            trail = build_trail_after_fill(entry.symbol, qty, avg, atr, info.min_tick,
                                           self.exits, entry.signal_id)
            ids = await self.broker.place_chain(None, [trail])
        except Exception as exc:
            self.trail_requested.discard(entry.signal_id)
            message = (f"{entry.symbol}: the trail was not sent ({exc}); the stop still "
                       "protects the position and reconciliation retries on reconnect")
            log.error(message)
            self.act.publish(Alert(message=message, symbol=entry.symbol))
            return
        self.act.remember_sent([trail], ids, entry.signal_id)
        self.act.publish(TrailSent(signal_id=entry.signal_id, symbol=entry.symbol,
                                   order_id=ids[0], quantity=qty, avg_fill=avg))

    def average_fill(self, entry: OrderRecord) -> Decimal | None:
        fills = [f for f in self.view.fills.values() if f.order_id == entry.order_id]
        shares = sum(f.quantity for f in fills)
        if shares:
            return sum((f.price * f.quantity for f in fills), Decimal(0)) / shares
        return entry.avg_fill_price
