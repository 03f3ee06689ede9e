"""One portfolio view: marks, books and P&L, each figure computed in one place.

Why: unrealized P&L used to be computed in four places (the OrderManager's positions, the
broker mapping, the terminal's positions model and the ledger), and a figure computed twice
is a figure that can disagree with itself on screen. ``Portfolio`` owns

- the marks (the last trade per symbol, or the broker's market price),
- the broker's position report,
- the books, rebuilt from the fills by the ledger (``ledger.books_from_fills``) only after a
  fill or commission arrives,
- P&L: realized and commissions from the books, unrealized from ``ledger.unrealized_pnl``, over
  all time or for the day (:meth:`Portfolio.day_positions`, :meth:`Portfolio.day_totals`).

The OrderManager holds one and delegates its position queries to it; the terminal, headless
mode and the account strip read it through ``manager.portfolio``.

Quantity and average cost: the broker's report wins where it has one (it is the position at
IB, its ``avgCost`` includes the opening commission as the ledger's does); the books cover a
symbol the broker has not reported yet.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from decimal import Decimal

from backend.core import ledger
from backend.core.ledger import unrealized_pnl
from backend.core.models import FillRecord, LegRole, Position

ZERO = Decimal(0)
ProtectedBy = Callable[[str], tuple[LegRole, ...]]
"""Which exit legs protect a symbol now (the OMS's protection knows; the portfolio asks)."""
__all__ = ["PnlTotals", "Portfolio", "ProtectedBy", "aware", "unrealized_pnl"]


def aware(moment: datetime) -> datetime:
    """Naive times are UTC (as IB and the journal write them), so they compare with aware ones."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class PnlTotals:
    """P&L over every symbol: realized (after commissions), unrealized, commissions paid."""

    realized: Decimal = ZERO
    unrealized: Decimal = ZERO
    commissions: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return self.realized + self.unrealized

    @classmethod
    def of(cls, positions: Iterable[Position]) -> PnlTotals:
        rows = list(positions)
        return cls(realized=sum((p.realized_pnl for p in rows), ZERO),
                   unrealized=sum((p.unrealized_pnl for p in rows), ZERO),
                   commissions=sum((p.commissions for p in rows), ZERO))


def _no_protection(symbol: str) -> tuple[LegRole, ...]:
    return ()


class Portfolio:
    def __init__(self, fills: Mapping[str, FillRecord],
                 protected_by: ProtectedBy = _no_protection) -> None:
        self.fills = fills
        """The OMS's fills by exec id (the same mapping, not a copy)."""
        self.protected_by = protected_by
        self.broker_positions: dict[str, Position] = {}
        self.marks: dict[str, Decimal] = {}
        self._books: dict[str, ledger.Book] | None = None
        self._open: frozenset[str] | None = None
        self._baselines: dict[datetime, dict[str, ledger.Book]] = {}

    # -- what changes it ----------------------------------------------------------------------
    def fills_changed(self) -> None:
        """A fill or its commission arrived: the books are rebuilt when next read."""
        self._books = None
        self._open = None
        self._baselines.clear()  # a late fill may fall before a day's start

    def apply_positions(self, positions: Iterable[Position]) -> None:
        """The broker's position report replaces the last one; its market prices mark."""
        self.broker_positions = {p.symbol: p for p in positions}
        for p in self.broker_positions.values():
            if p.market_price is not None:
                self.marks[p.symbol] = p.market_price
        self._open = None

    def mark(self, symbol: str, price: Decimal) -> None:
        self.marks[symbol] = price

    # -- books and positions ------------------------------------------------------------------
    def books(self) -> dict[str, ledger.Book]:
        """Positions from fills (the ledger), rebuilt only after a fill arrives."""
        if self._books is None:
            self._books = ledger.books_from_fills(list(self.fills.values()))
        return self._books

    def position_quantity(self, symbol: str) -> int:
        if symbol in self.broker_positions:
            return self.broker_positions[symbol].quantity
        book = self.books().get(symbol)
        return book.quantity if book else 0

    def open_symbols(self) -> frozenset[str]:
        """Symbols held at the broker or in the books; kept until a fill or a report."""
        if self._open is None:
            held = {s for s, p in self.broker_positions.items() if p.quantity}
            self._open = frozenset(held | {s for s, b in self.books().items() if b.quantity})
        return self._open

    def position(self, symbol: str) -> Position:
        """One symbol as the portfolio sees it: quantity, cost, P&L, mark and protection."""
        book = self.books().get(symbol, ledger.Book(symbol))
        broker = self.broker_positions.get(symbol)
        qty = broker.quantity if broker else book.quantity
        avg = broker.avg_cost if broker else book.avg_cost
        mark = self.marks.get(symbol) or (broker.market_price if broker else None)
        return Position(symbol, qty, avg, book.realized, unrealized_pnl(qty, avg, mark),
                        book.commissions, mark, tuple(self.protected_by(symbol)))

    def positions(self) -> list[Position]:
        """Every open position, by symbol."""
        return [self.position(s) for s in sorted(self.open_symbols())]

    def totals(self) -> PnlTotals:
        """Realized and commissions over every symbol ever booked, unrealized over the open."""
        books = self.books().values()
        return PnlTotals(realized=sum((b.realized for b in books), ZERO),
                         unrealized=sum((p.unrealized_pnl for p in self.positions()), ZERO),
                         commissions=sum((b.commissions for b in books), ZERO))

    # -- the day ------------------------------------------------------------------------------
    def baseline(self, since: datetime) -> dict[str, ledger.Book]:
        """The books as they stood at ``since``: fixed for a day, so computed once."""
        if since not in self._baselines:
            self._baselines[since] = ledger.books_from_fills(
                [f for f in self.fills.values() if aware(f.time) < since])
        return self._baselines[since]

    def day_positions(self, since: datetime | None) -> list[Position]:
        """Open positions plus the symbols traded and closed since ``since`` (at quantity 0),
        with the realized P&L and commissions of the day (all time with ``since`` None).

        The day's figure is the books over all fills minus the books before ``since``:
        subtracting whole books keeps a position opened yesterday and closed today exact,
        which booking today's fills alone would not (the close would have no cost basis).
        """
        baseline = self.baseline(since) if since is not None else {}
        traded = {f.symbol for f in self.fills.values()
                  if since is None or aware(f.time) >= since}

        def day(p: Position) -> Position:
            old = baseline.get(p.symbol)
            if old is None:
                return p
            return replace(p, realized_pnl=p.realized_pnl - old.realized,
                           commissions=p.commissions - old.commissions)

        out = {p.symbol: day(p) for p in self.positions()}
        for symbol, book in self.books().items():
            if symbol not in out and symbol in traded:
                out[symbol] = day(Position(symbol, 0, ZERO, book.realized, ZERO,
                                           book.commissions, self.marks.get(symbol), ()))
        return [out[s] for s in sorted(out)]

    def day_totals(self, since: datetime | None) -> PnlTotals:
        """What the day adds up to: the sums of :meth:`day_positions`."""
        return PnlTotals.of(self.day_positions(since))
