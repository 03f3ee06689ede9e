"""Positions rebuilt from fills, the way IB books them.

Average cost includes commissions (a long's cost plus the buying commission,
a short's proceeds less the selling one); realized P&L on a closing fill is
(price - average cost) x quantity - the closing commission. Over a round
trip that is exactly proceeds - cost - every commission paid, which is what
"P&L adds up to fills minus commissions" means. Pure and deterministic.

Exactness: the book carries the open shares' cost basis as an exact Decimal
(sums and products only, done at unbounded precision). ``avg_cost`` is that
basis divided by the shares, for display and unrealized P&L; a partial close
takes a rounded share of the basis, and the close that flattens takes what is
left, so the rounding never survives a round trip (1517 / 150 = 10.11333...
would otherwise leave 132.0000000000000000000000005 instead of 132).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal, Inexact

from backend.core.models import FillRecord, Side

ZERO = Decimal(0)
_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=[Inexact])
"""Additions, subtractions and products of finite Decimals are exact here (and would raise
if not); divisions are never done in it (a non-terminating quotient would not end)."""


@dataclass(frozen=True)
class Book:
    symbol: str
    quantity: int = 0
    avg_cost: Decimal = ZERO
    realized: Decimal = ZERO
    commissions: Decimal = ZERO
    cost_basis: Decimal = ZERO
    """The open shares' cost (long: price + commission; short: proceeds - commission), exact."""


def _opening_basis(side: Side, quantity: int, price: Decimal, fee: Decimal) -> Decimal:
    """A long's cost includes the commission, a short's proceeds are net of it: either way the
    commission counts against the trade when the position is closed."""
    notional = _EXACT.multiply(price, Decimal(quantity))
    return _EXACT.add(notional, fee) if side is Side.BUY else _EXACT.subtract(notional, fee)


def _with_basis(book: Book, quantity: int, basis: Decimal, **changes) -> Book:
    avg = basis / abs(quantity) if quantity else ZERO
    return replace(book, quantity=quantity, cost_basis=basis if quantity else ZERO,
                   avg_cost=avg, **changes)


def apply_fill(book: Book, fill: FillRecord) -> Book:
    signed = fill.quantity if fill.side is Side.BUY else -fill.quantity
    fee = fill.commission
    commissions = _EXACT.add(book.commissions, fee)
    qty = book.quantity
    if qty == 0 or (qty > 0) == (signed > 0):
        basis = _EXACT.add(book.cost_basis, _opening_basis(fill.side, fill.quantity,
                                                           fill.price, fee))
        return _with_basis(book, qty + signed, basis, commissions=commissions)
    closing = min(fill.quantity, abs(qty))
    opening = fill.quantity - closing
    closing_fee = fee if opening == 0 else fee * closing / fill.quantity
    removed = book.cost_basis if closing == abs(qty) else book.cost_basis * closing / abs(qty)
    direction = 1 if qty > 0 else -1
    gross = _EXACT.subtract(_EXACT.multiply(fill.price, Decimal(closing)), removed)
    realized = _EXACT.subtract(_EXACT.add(book.realized, _EXACT.multiply(gross, direction)),
                               closing_fee)
    if opening > 0:  # flipped through zero: the rest opens a new position
        basis = _opening_basis(fill.side, opening, fill.price, _EXACT.subtract(fee, closing_fee))
    else:
        basis = _EXACT.subtract(book.cost_basis, removed)
    return _with_basis(book, qty + signed, basis, realized=realized, commissions=commissions)


def books_from_fills(fills: list[FillRecord]) -> dict[str, Book]:
    books: dict[str, Book] = {}
    for fill in sorted(fills, key=lambda f: (f.time, f.exec_id)):
        books[fill.symbol] = apply_fill(books.get(fill.symbol, Book(fill.symbol)), fill)
    return books


def unrealized_pnl(quantity: int, avg_cost: Decimal, mark: Decimal | None) -> Decimal:
    """(mark - average cost) x signed quantity; zero without a mark or a position.

    The one formula for unrealized P&L (``portfolio`` and everything showing the figure use
    it): a long gains as the mark rises, a short as it falls. Average cost includes the
    opening commission (IB's ``avgCost`` and the books alike), so the figure is net of it.
    """
    if mark is None or quantity == 0:
        return ZERO
    return (mark - avg_cost) * quantity


def unrealized(book: Book, mark: Decimal | None) -> Decimal:
    return unrealized_pnl(book.quantity, book.avg_cost, mark)
