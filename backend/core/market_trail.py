"""When the market entry's trail is due, and for how many shares (pure rules).

A MKT parent cannot carry a TRAIL child (error 328, capture
``api_bracket_trailing_stop_aapl``), so with ``[entry] type = "market"`` the trail is
sent on its own into the entry's OCA group once the entry has finished filling. These
rules decide that moment and the size, for the live path (the entry's status update)
and for reconciliation after a crash between the fill and the trail.
"""

from __future__ import annotations

from collections.abc import Iterable

from backend.core.models import LegRole, OrderRecord, OrderStatus, OrderType, Side
from backend.core.recovery_rules import is_lost


def entry_finished(entry: OrderRecord) -> bool:
    """Filled, or ended after a partial fill (cancelled by the timeout or the trader)."""
    if entry.filled <= 0:
        return False
    return (entry.status is OrderStatus.FILLED or entry.status.is_final
            or entry.filled >= entry.quantity)


def committed_sells(trade_orders: Iterable[OrderRecord]) -> int:
    """Shares of a trade already sold, or being sold by a closing order still working.

    Exit legs count what they filled (a working stop only *may* sell); a FLATTEN order
    counts its whole quantity until it ends, so a second close never sells the same shares.
    """
    total = 0
    for r in trade_orders:
        if r.side is not Side.SELL:
            continue
        if r.role is LegRole.FLATTEN and not r.status.is_final:
            total += max(r.quantity, r.filled)
        else:
            total += r.filled
    return total


def trail_quantity(entry_filled: int, exits_filled: int, position: int | None) -> int:
    """The shares the trail must cover: bought minus already sold by the exits.

    ``position`` (the broker's, when it is current) caps it: the trail, live at once and
    unattached, must never be larger than the position, or it could open a short.
    """
    qty = entry_filled - exits_filled
    if position is not None:
        qty = min(qty, position)
    return max(qty, 0)


def needs_trail(entry: OrderRecord, legs: Iterable[OrderRecord]) -> bool:
    """A finished market entry whose group has a live stop and no trail yet.

    ``legs`` are every exit order of the trade (re-protection groups included); a trail lost
    with the connection (``recovery_rules``) is sent again. With no live
    stop of the entry's own group the position is either closed or naked; re-protection, not
    this rule, handles a naked one (with a fresh group name, R4).
    """
    if entry.role is not LegRole.ENTRY or entry.order_type is not OrderType.MARKET:
        return False
    if not entry_finished(entry):
        return False
    legs = list(legs)
    if any(r.role is LegRole.PROFIT_HARVESTER and not is_lost(r) for r in legs):
        return False
    return any(r.role is LegRole.SAFETY_STOP and r.signal_id == entry.signal_id
               and not r.status.is_final and r.status is not OrderStatus.INACTIVE
               for r in legs)
