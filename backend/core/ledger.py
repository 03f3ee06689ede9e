"""Positions rebuilt from fills, the way IB books them.

Average cost includes the buying commission; realized P&L on a closing fill
is (price - average cost) x quantity - the closing commission. Over a round
trip that is exactly proceeds - cost - every commission paid, which is what
"P&L adds up to fills minus commissions" means. Pure and deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from backend.core.models import FillRecord, Side

ZERO = Decimal(0)


@dataclass(frozen=True)
class Book:
    symbol: str
    quantity: int = 0
    avg_cost: Decimal = ZERO
    realized: Decimal = ZERO
    commissions: Decimal = ZERO


def apply_fill(book: Book, fill: FillRecord) -> Book:
    signed = fill.quantity if fill.side is Side.BUY else -fill.quantity
    fee = fill.commission
    commissions = book.commissions + fee
    qty = book.quantity
    if qty == 0 or (qty > 0) == (signed > 0):
        new_qty = qty + signed
        cost = book.avg_cost * abs(qty) + fill.price * fill.quantity + fee
        return replace(book, quantity=new_qty, avg_cost=cost / abs(new_qty),
                       commissions=commissions)
    closing = min(fill.quantity, abs(qty))
    closing_fee = fee * closing / fill.quantity
    direction = 1 if qty > 0 else -1
    realized = book.realized + (fill.price - book.avg_cost) * closing * direction - closing_fee
    new_qty = qty + signed
    opening = fill.quantity - closing
    if new_qty == 0:
        avg = ZERO
    elif opening > 0:
        avg = (fill.price * opening + (fee - closing_fee)) / opening
    else:
        avg = book.avg_cost
    return replace(book, quantity=new_qty, avg_cost=avg, realized=realized,
                   commissions=commissions)


def books_from_fills(fills: list[FillRecord]) -> dict[str, Book]:
    books: dict[str, Book] = {}
    for fill in sorted(fills, key=lambda f: (f.time, f.exec_id)):
        books[fill.symbol] = apply_fill(books.get(fill.symbol, Book(fill.symbol)), fill)
    return books


def unrealized(book: Book, mark: Decimal | None) -> Decimal:
    if mark is None or book.quantity == 0:
        return ZERO
    return (mark - book.avg_cost) * book.quantity
