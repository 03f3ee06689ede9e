"""The trader's own actions on a protected position: cancel, close, "can it act now".

Composed into ``OrderManager`` (``manager.desk``), which delegates its public
``cancel_impact``/``cancel``/``close_position``/``leg_activity`` here. Kept apart because
these are the places where what the trader asks for and what IB does differ: a client
cancel of one OCA member cancels the whole group (R4), and outside regular hours most
legs cannot act (``leg_activity``). The pure parts live in ``cancels`` and
``leg_activity``; this class gathers the facts from the manager's state and acts.
"""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from backend.core.cancels import (
    EXIT_ROLES,
    CancelImpact,
    CloseRefused,
    ExitLegCancelRefused,
    exit_cancel_impact,
    other_cancel_impact,
)
from backend.core.exit_plan import base_signal_id, order_ref
from backend.core.leg_activity import LegActivity, LegFacts, describe_leg, leg_facts
from backend.core.market_trail import committed_sells
from backend.core.models import LegRole, OrderRecord, OrderStatus, OrderType

if TYPE_CHECKING:
    from backend.core.order_manager import OrderManager

log = logging.getLogger("sigma9.oms")
CANCEL_CONFIRM_TIMEOUT_S = 5.0
"""How long ``close_position`` waits for IB to confirm the exits ended before selling."""


class TraderDesk:
    def __init__(self, manager: OrderManager) -> None:
        self.m = manager

    # -- cancelling -----------------------------------------------------------------
    def cancel_impact(self, order_id: str) -> CancelImpact:
        m = self.m
        record = m.orders.get(order_id)
        if record is None:
            raise KeyError(f"order {order_id} is unknown")
        if record.role in EXIT_ROLES:
            group = [r for r in m.orders.values()
                     if r.signal_id == record.signal_id and r.role in EXIT_ROLES]
            entry = m.entry_of(base_signal_id(record.signal_id))
            held = m.position_quantity(record.symbol)
            # Either view of the fill counts: the broker's position or the entry's own status.
            shares = held if entry is None or entry.filled > 0 or held > 0 else 0
            return exit_cancel_impact(record, group, entry, shares)
        attached = [r for r in m.orders.values() if r.parent_id == record.order_id]
        return other_cancel_impact(record, attached)

    def cancel(self, order_id: str, confirm_group: bool = False) -> list[str]:
        """Raises ExitLegCancelRefused (nothing sent) for an unconfirmed exit leg.

        Returns the order ids a cancel was sent for: for an exit leg, the unfilled entry
        first (so it cannot fill unprotected), then every live member of the group; for
        any other order, that order (an entry's attached exits go with it at IB).
        """
        m = self.m
        if order_id not in m.orders:
            m.broker.cancel_order(order_id)
            return [order_id]
        impact = self.cancel_impact(order_id)
        if not impact.is_exit_leg:
            m.broker.cancel_order(order_id)
            return [order_id]
        if not confirm_group:
            raise ExitLegCancelRefused(impact)
        log.warning("cancelling OCA group %s at the trader's request: %s", impact.group,
                    impact.sentence)
        m._cancel_quietly([m.orders[i] for i in impact.cancels])
        return list(impact.cancels)

    # -- closing --------------------------------------------------------------------
    async def close_position(self, symbol: str) -> str:
        """Cancel the exits (whole groups) and any working entry, wait for IB to confirm,
        then sell the remaining shares at market.

        The sell waits because a stop that fills while its cancel is pending plus the market
        sell would sell twice and open a short. Raises CloseRefused (one sentence) when there
        is nothing to close or IB does not confirm in time; nothing is sold then.
        """
        m = self.m
        symbol = symbol.strip().upper()
        if self.closable(symbol) <= 0:
            raise CloseRefused(f"There is no open {symbol} position to close.")
        ending = m.live_exits(symbol) + [
            r for r in m.orders.values() if r.symbol == symbol and r.role is LegRole.ENTRY
            and not r.status.is_final]
        m._cancel_quietly(ending)
        ended = await m.waiter.wait_for(lambda: all(_ended(m.orders[r.order_id])
                                                    for r in ending),
                                        CANCEL_CONFIRM_TIMEOUT_S)
        if not ended:
            raise CloseRefused(f"IB did not confirm the {symbol} exits cancelled within "
                               f"{CANCEL_CONFIRM_TIMEOUT_S:g} s, so nothing was sold.")
        trade = m._latest_entry(symbol)
        qty = self.closable(symbol)
        if qty <= 0:
            raise CloseRefused(f"The {symbol} position was closed by its exits meanwhile; "
                               "nothing was sold.")
        ref = order_ref(trade.signal_id if trade else f"close-{symbol}", LegRole.FLATTEN)
        order_id = await m.broker.place_market_order(symbol, qty, "SELL", ref)
        m.publish("flattened", symbol=symbol, quantity=qty, order_id=order_id,
                  reason="closed by the trader")
        return order_id

    def closable(self, symbol: str) -> int:
        """The shares a close may sell: the broker's position, capped by the trade's own
        count (bought minus sold or being sold), because either report may lag the other."""
        m = self.m
        qty = m.position_quantity(symbol)
        trade = m._latest_entry(symbol)
        if trade is not None:
            qty = min(qty, trade.filled - committed_sells(m.trade_orders(trade.signal_id)))
        return max(qty, 0)

    # -- can each leg act now ------------------------------------------------------------
    def leg_activity(self, symbol: str) -> list[LegActivity]:
        m = self.m
        now = m.now()
        session = m.session_of(now)
        legs = sorted(m.live_exits(symbol.strip().upper()),
                      key=lambda r: int(r.order_id) if r.order_id.isdigit() else 0)
        return [describe_leg(self.leg_facts(r, now), session) for r in legs]

    def note_activation(self, symbol: str, last: Decimal) -> None:
        """Remember trails whose activation level traded: IB does not re-hold them."""
        m = self.m
        for record in m.live_exits(symbol):
            level = m.leg_plans.get(record.order_id, {}).get("activation")
            if record.order_type is OrderType.TRAIL and level and last >= Decimal(level):
                m.activated_trails.add(record.order_id)

    def leg_facts(self, record: OrderRecord, now: datetime) -> LegFacts:
        m = self.m
        parent = m.orders.get(record.parent_id) if record.parent_id else None
        return leg_facts(record, m.leg_plans.get(record.order_id, {}),
                         waits_for_parent=parent is not None and parent.filled == 0,
                         seen_activated=record.order_id in m.activated_trails, now=now)


def _ended(record: OrderRecord) -> bool:
    return record.status.is_final or record.status is OrderStatus.INACTIVE
