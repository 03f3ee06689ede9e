"""The trader's own actions on a protected position: cancel, close, "can it act now", and
the order ticket's manual orders.

Composed into ``OrderManager`` (``manager.desk``), which delegates its public
``cancel_impact``/``cancel``/``close_position``/``leg_activity``/``place_manual`` here.
Kept apart because these are the places where what the trader asks for and what IB does
differ: a client cancel of one OCA member cancels the whole group (R4), and outside regular
hours most legs cannot act (``leg_activity``); a typed order is the least checked input
(``manual_ticket``). The pure parts live in ``cancels`` and
``leg_activity``; this class gathers the facts from the manager's state and acts.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from backend.core import sizing
from backend.core.cancels import (
    EXIT_ROLES,
    CancelImpact,
    CloseRefused,
    ExitLegCancelRefused,
    exit_cancel_impact,
    other_cancel_impact,
)
from backend.core.exit_plan import base_signal_id, build_entry_chain, order_ref
from backend.core.leg_activity import LegActivity, LegFacts, describe_leg, leg_facts
from backend.core.manual_ticket import (
    ManualOrderRefused,
    Ticket,
    parse_ticket,
    sell_refusal,
    session_rule,
    tick_refusal,
)
from backend.core.market_trail import committed_sells
from backend.core.models import (
    EntryType,
    LegRole,
    OrderIntent,
    OrderRecord,
    OrderStatus,
    OrderType,
)
from backend.core.signal import Signal

if TYPE_CHECKING:
    from backend.core.order_manager import OrderManager

log = logging.getLogger("sigma9.oms")
CANCEL_CONFIRM_TIMEOUT_S = 5.0
"""How long ``close_position`` waits for IB to confirm the exits ended before selling."""
SLOT_RULES = frozenset({"position_open", "entry_pending", "max_positions", "zero_quantity"})
"""Entry rules about a trade's slot: they bind a protected entry, not a plain manual order."""
MANUAL_PREFIX = "manual-"
"""Signal ids of the ticket's orders: ``manual-<ticket id>`` (journal, orderRef, duplicates)."""


def new_ticket_id() -> str:
    """A fresh ticket id; the ticket keeps one per order, so a double send is a duplicate."""
    return uuid.uuid4().hex[:12]


class TraderDesk:
    def __init__(self, manager: OrderManager) -> None:
        self.m = manager
        self._sending: set[str] = set()

    # -- the order ticket -----------------------------------------------------------
    async def place_manual(self, symbol: str, side: str, quantity: object,
                           order_type: str = "MKT", limit_price: object = None,
                           attach_exits: bool = True, reference_price: Decimal | None = None,
                           atr: Decimal | None = None, ticket_id: str | None = None
                           ) -> list[str]:
        """Send a typed order after the checks a signal's entry passes; the order ids.

        A BUY with ``attach_exits`` is a trade like a signal's: a Signal ``manual-<ticket>``
        is journalled (so a second send of the same ticket is a duplicate and a restart
        re-protects from its reference and ATR) and ``build_entry_chain`` builds the entry
        and its OCA exit group: a LMT entry carries all three legs, a MKT entry the stop
        and time stop with the trail following the fill. The exits are priced from the limit,
        or for MKT from ``reference_price`` (the ask the ticket saw) or the last trade.
        Without ``atr`` the trail uses the safety-stop distance, as re-protection does.
        Anything else is one plain DAY order (role MANUAL). A manual LMT entry rests until
        the trader cancels it (no entry timeout: the trader chose the price); a MKT one has
        the timeout. Raises ManualOrderRefused (one sentence, nothing sent).
        """
        m = self.m
        ticket = parse_ticket(symbol, side, quantity, order_type, limit_price, attach_exits)
        signal_id = MANUAL_PREFIX + (ticket_id or new_ticket_id())
        what = f"the {ticket.symbol} order"
        if (signal_id in self._sending or any(r.signal_id == signal_id
                                              for r in m.orders.values())
                or m.journal.signal_outcome(signal_id) == "accepted"):
            raise ManualOrderRefused(f"This ticket ({signal_id}) was already sent; nothing "
                                     "was sent again.", "duplicate")
        outside = (sizing.session_refusal(ticket.symbol, m.session_of(m.now()),
                                          m.entry_params.allow_outside_rth)
                   or session_rule(ticket, m.session_of(m.now())))
        if outside is not None:
            raise ManualOrderRefused(outside.reason.replace(" entry was", " order was"),
                                     outside.code)
        if not m.broker.is_connected():
            raise ManualOrderRefused(f"Not connected to the broker, so {what} was not sent.",
                                     "not_connected")
        self._sending.add(signal_id)
        try:
            return await self._send_manual(ticket, signal_id, reference_price, atr)
        finally:
            self._sending.discard(signal_id)

    async def _send_manual(self, ticket: Ticket, signal_id: str,
                           reference_price: Decimal | None, atr: Decimal | None) -> list[str]:
        m = self.m
        try:
            info = await m.broker.contract_info(ticket.symbol)
        except Exception as exc:
            raise ManualOrderRefused(f"{ticket.symbol} is not a symbol the broker knows "
                                     f"({exc}); nothing was sent.", "unknown_symbol") from None
        refusal = sizing.check_entry(
            symbol=ticket.symbol, known_symbols={info.symbol},
            connected=m.broker.is_connected(), account_code=m.broker.account,
            live_trading_enabled=m.settings.broker.live_trading_enabled,
            open_symbols=m.open_symbols(), pending_symbols=m.pending_entry_symbols(),
            open_count=len(m.open_symbols() | m.pending_entry_symbols()),
            max_open_positions=m.settings.risk.max_open_positions, quantity=ticket.quantity)
        if refusal is not None and (ticket.protected_entry or refusal.code not in SLOT_RULES):
            raise ManualOrderRefused(refusal.reason.replace(" entry was", " order was"),
                                     refusal.code)
        held = m.position_quantity(ticket.symbol)
        problem = tick_refusal(ticket, info.min_tick) or sell_refusal(
            ticket, held, held if m.live_exits(ticket.symbol) else 0)
        if problem is not None:
            raise problem
        if ticket.protected_entry:
            return await self._send_protected(ticket, signal_id, info.min_tick,
                                              reference_price, atr)
        intent = OrderIntent(
            role=LegRole.MANUAL, symbol=ticket.symbol, side=ticket.side,
            quantity=ticket.quantity, order_type=ticket.order_type,
            limit_price=ticket.limit_price, tif="DAY",
            outside_rth=m.entry_params.allow_outside_rth and ticket.limit_price is not None,
            order_ref=order_ref(signal_id, LegRole.MANUAL))
        ids = await self._place(ticket, None, [intent])
        m._remember_sent([intent], ids, signal_id)
        log.info("manual %s %s %s %s: order %s", ticket.side.value, ticket.quantity,
                 ticket.symbol, ticket.order_type.value, ids[0])
        return ids

    async def _send_protected(self, ticket: Ticket, signal_id: str, tick: Decimal,
                              reference_price: Decimal | None, atr: Decimal | None
                              ) -> list[str]:
        m = self.m
        reference = ticket.limit_price or reference_price or m.marks.get(ticket.symbol)
        if reference is None or reference <= 0:
            raise ManualOrderRefused(
                f"No {ticket.symbol} price is known yet, so its exits cannot be priced; wait "
                "for a quote or use a limit order.", "no_price")
        reference = Decimal(reference)
        atr = atr or reference * m.exit_params.safety_stop_pct / 100
        market = ticket.order_type is OrderType.MARKET
        params = dataclasses.replace(
            m.entry_params, entry_type=EntryType.MARKET if market else EntryType.LIMIT,
            max_slippage_pct=Decimal(0))  # the trader's limit is the limit
        chain = build_entry_chain(ticket.symbol, ticket.quantity, reference, atr, tick,
                                  m.exit_params, params, m.now(), signal_id)
        signal = Signal(id=signal_id, symbol=ticket.symbol, reference_price=reference,
                        atr=atr, reason="manual order ticket")
        m.journal.record_signal(signal, "accepted")
        m.signals[signal_id] = signal
        try:
            ids = await self._place(ticket, chain.entry, list(chain.legs))
        except ManualOrderRefused as exc:
            m.journal.record_signal(signal, "failed", exc.reason)
            raise
        m._remember_sent([chain.entry, *chain.legs], ids, signal_id)
        if market:
            m.protection.arm_entry_timeout(ids[0])
        log.info("manual entry %s: %s %s with exits %s", signal_id, ids[0], ticket.symbol,
                 ids[1:])
        return ids

    async def _place(self, ticket: Ticket, parent: OrderIntent | None,
                     children: list[OrderIntent]) -> list[str]:
        try:
            return await self.m.broker.place_chain(parent, children)
        except Exception as exc:
            raise ManualOrderRefused(f"The broker did not take the {ticket.symbol} order: "
                                     f"{exc}", "send_failed") from None

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
        m.protection.cancel_quietly([m.orders[i] for i in impact.cancels])
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
        m.protection.cancel_quietly(ending)
        ended = await m.waiter.wait_for(lambda: all(_ended(m.orders[r.order_id])
                                                    for r in ending),
                                        CANCEL_CONFIRM_TIMEOUT_S)
        if not ended:
            raise CloseRefused(f"IB did not confirm the {symbol} exits cancelled within "
                               f"{CANCEL_CONFIRM_TIMEOUT_S:g} s, so nothing was sold.")
        trade = m.protection.latest_entry(symbol)
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
        trade = m.protection.latest_entry(symbol)
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
