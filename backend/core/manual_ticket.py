"""The order ticket's rules: what a manual order must satisfy before Sigma9 sends it.

Why a module of its own: a trader's typed order is the least checked input the OMS gets (a
strategy's Signal is validated at construction; a ticket is whatever was typed), so every
rule is written here as data, next to its sentence, and each is a one-line table test.
The rules are the ones a signal's entry obeys (``sizing.ENTRY_RULES``, ``session_refusal``)
plus those only a hand-typed order can break:

- whole shares only (Sigma9's orders carry an int quantity, as a signal's sizing does; a
  fraction typed here is a typo, not an intent: no IB behaviour is relied on);
- a limit price on the instrument's tick grid (IB rejects an off-grid price with error 110:
  ib-orders.md P6, docs/ib-codes.md; refusing says so before anything leaves);
- no market order outside regular hours (IB resets outsideRth on MKT orders, ib_insync #141,
  so it would sit until the open);
- no sell that opens a short, and no sell of shares the exit group protects (the group and
  the sell could both fill: use Close position, which ends the group first).

Pure: :class:`TraderDesk.place_manual` gathers the facts and asks.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from backend.core.market_hours import Session
from backend.core.models import OrderType, Side

ORDER_TYPES = {"MKT": OrderType.MARKET, "LMT": OrderType.LIMIT}


class ManualOrderRefused(Exception):
    """A ticket Sigma9 will not send; ``reason`` is one sentence, nothing was sent."""

    def __init__(self, reason: str, code: str = "refused") -> None:
        super().__init__(reason)
        self.reason, self.code = reason, code


@dataclass(frozen=True)
class Ticket:
    """A manual order as typed, normalised: upper-case symbol, enum side and type."""

    symbol: str
    side: Side
    quantity: int
    order_type: OrderType
    limit_price: Decimal | None
    attach_exits: bool

    @property
    def protected_entry(self) -> bool:
        """A BUY with the exit group attached: a trade like a signal's."""
        return self.side is Side.BUY and self.attach_exits


def parse_ticket(symbol: str, side: str, quantity: object, order_type: str,
                 limit_price: object = None, attach_exits: bool = True) -> Ticket:
    """Normalise the typed fields; raises ManualOrderRefused naming the bad field."""
    sym = str(symbol or "").strip().upper()
    if not sym:
        raise ManualOrderRefused("Type a symbol first.", "bad_symbol")
    if not sym.replace(".", "").replace(" ", "").isalnum() or len(sym) > 12:
        raise ManualOrderRefused(f"{sym!r} is not a ticker.", "bad_symbol")
    try:
        side_enum = Side(str(side).strip().upper())
    except ValueError:
        raise ManualOrderRefused(f"Side must be BUY or SELL, not {side!r}.", "bad_side") from None
    qty = _whole_shares(quantity)
    kind = ORDER_TYPES.get(str(order_type).strip().upper())
    if kind is None:
        raise ManualOrderRefused(f"Order type must be MKT or LMT, not {order_type!r}.",
                                 "bad_type")
    limit = None
    if kind is OrderType.LIMIT:
        limit = _price(limit_price)
    return Ticket(sym, side_enum, qty, kind, limit, bool(attach_exits))


def _whole_shares(quantity: object) -> int:
    try:
        value = Decimal(str(quantity).strip())
    except (InvalidOperation, ValueError):
        raise ManualOrderRefused(f"Quantity {quantity!r} is not a number of shares.",
                                 "bad_quantity") from None
    if not value.is_finite() or value != value.to_integral_value():
        raise ManualOrderRefused(f"Quantity must be a whole number of shares, not {quantity}.",
                                 "bad_quantity")
    if value <= 0:
        raise ManualOrderRefused(f"Quantity must be at least 1 share, not {quantity}.",
                                 "bad_quantity")
    return int(value)


def _price(limit_price: object) -> Decimal:
    if limit_price is None or str(limit_price).strip() == "":
        raise ManualOrderRefused("A limit order needs a limit price.", "bad_price")
    try:
        value = Decimal(str(limit_price).strip())
    except (InvalidOperation, ValueError):
        raise ManualOrderRefused(f"Limit price {limit_price!r} is not a number.",
                                 "bad_price") from None
    if not value.is_finite() or value <= 0:
        raise ManualOrderRefused(f"Limit price must be positive, not {limit_price}.",
                                 "bad_price")
    return value


def tick_refusal(ticket: Ticket, tick: Decimal) -> ManualOrderRefused | None:
    """A limit price off the tick grid, refused before IB's error 110 would say it."""
    if ticket.limit_price is None or tick <= 0:
        return None
    if ticket.limit_price % tick != 0:
        return ManualOrderRefused(
            f"Limit {ticket.limit_price} is not on {ticket.symbol}'s {tick.normalize()} tick "
            f"grid, so the order was not sent.", "off_tick")
    return None


def session_rule(ticket: Ticket, session: Session) -> ManualOrderRefused | None:
    """A market order outside regular hours: IB would hold it until the open (#141)."""
    if ticket.order_type is OrderType.MARKET and not session.is_regular:
        return ManualOrderRefused(
            f"It is {session.value} (US/Eastern): a market order would wait for the open, "
            f"so the {ticket.symbol} order was not sent; use a limit order.", "outside_rth")
    return None


def sell_refusal(ticket: Ticket, held: int, protected: int) -> ManualOrderRefused | None:
    """A SELL may close unprotected shares only: never a short, never under the exits."""
    if ticket.side is not Side.SELL:
        return None
    if protected > 0:
        return ManualOrderRefused(
            f"{protected} {ticket.symbol} shares are protected by their exit group, which "
            "would still sell them; use Close position, which ends the group first.",
            "protected")
    if ticket.quantity > held:
        return ManualOrderRefused(
            f"Selling {ticket.quantity} {ticket.symbol} with {held} held would open a short "
            "position, which Sigma9 does not do; nothing was sent.", "short")
    return None
