"""PositionsModel: each symbol's position, its P&L and which exit legs protect it.

Rows are keyed by symbol and survive the position closing: a closed trade stays on screen
with quantity 0 and its realized P&L, because "how did that trade end" is the first thing a
trader asks after an exit. The protection cell names the live legs, one line each
(the row as tall as its legs, so the column stays narrow next to the P&L)
and says ``UNPROTECTED`` in red when shares are held with no live exit.

Last price and unrealized P&L move with every tick; they go through ``stage`` and are
repainted together, at most once per ``ui.tick_repaint_ms``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from backend.core.ledger import Book, books_from_fills
from backend.core.models import FillRecord, LegRole, Position, Quote
from frontend import formatting
from frontend.models.columns import (
    AMBER,
    GREEN,
    LEFT,
    RED,
    RIGHT,
    ROLE_NAMES,
    Column,
    money,
    pnl_colour,
    price,
    quantity,
)
from frontend.models.table import KeyedTableModel

PROTECTION_ORDER = (LegRole.SAFETY_STOP, LegRole.TIME_STOP, LegRole.PROFIT_HARVESTER)
LEG_SEPARATOR = "\n"
"""One line per exit leg: stop, time stop, trail (the row is as tall as its legs)."""
ACTING_EXITS = frozenset({LegRole.SAFETY_STOP, LegRole.PROFIT_HARVESTER, LegRole.MANUAL})
"""Legs whose 'can act now' makes a position green: a stop or a trail that can fire."""


def protection_text(value: Any, row: Mapping[str, Any]) -> str:
    """The live legs in plain words, each saying whether it can act now (leg_activity)."""
    if not row.get("quantity"):
        return "closed" if row.get("realized") is not None else ""
    roles = tuple(value or ())
    if not roles:
        return "UNPROTECTED"
    activity = row.get("activity") or ()
    if activity:
        return LEG_SEPARATOR.join(a.sentence for a in activity)
    ordered = [r for r in PROTECTION_ORDER if r in roles] + [
        r for r in roles if r not in PROTECTION_ORDER]
    return LEG_SEPARATOR.join(ROLE_NAMES.get(r, r.value) for r in ordered)


def protection_colour(value: Any, row: Mapping[str, Any]):
    if not row.get("quantity"):
        return None
    roles = tuple(value or ())
    if LegRole.SAFETY_STOP not in roles:
        return RED
    activity = row.get("activity") or ()
    if activity and not any(a.can_act_now for a in activity if a.role in ACTING_EXITS):
        return AMBER  # protected at IB, but nothing that can fire right now (e.g. pre-market)
    return GREEN


POSITION_COLUMNS: tuple[Column, ...] = (
    Column("symbol", "Symbol", width=5),
    Column("quantity", "Qty", quantity, RIGHT, width=5),
    Column("unrealized", "Unrealized", money, RIGHT, pnl_colour, width=8),
    Column("protection", "Protection", protection_text, LEFT, protection_colour,
           sort=lambda v, r: len(v or ()), width=27, stretch=True,
           tooltip="exit legs live at the broker for this position, and whether each "
                   "can act now (amber: protected, but nothing can fire in this session)"),
    Column("avg_cost", "Avg w/ comm.", price, RIGHT, width=7,
           tooltip="average cost per share including the buying commission (IB's avgCost "
                   "and the ledger both fold it in), so it sits a little above the fill"),
    Column("last", "Last", price, RIGHT, width=7),
    Column("realized", "Realized", money, RIGHT, pnl_colour, width=8,
           tooltip="realized P&L, net of commissions"),
    Column("close", "", lambda _v, _r: "", LEFT, width=6,  # H6: the row's Close button
           tooltip="close this position: cancel its exit group, then sell at market"),
)
"""What a trader reads first, first: the shares, their P&L and what protects them; the
prices and the day's realized P&L after (the totals line sums both P&L columns)."""


def closed_position(symbol: str, realized: Decimal, commissions: Decimal,
                    mark: Decimal | None = None) -> Position:
    return Position(symbol, 0, Decimal(0), realized, Decimal(0), commissions, mark, ())


def aware(moment: datetime) -> datetime:
    """Naive times are UTC (as IB and the journal write them), so they compare with aware ones."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def session_baseline(fills: list[FillRecord], since: datetime | None) -> dict[str, Book]:
    """The books as they stood at ``since``: fixed for a session, so compute it once."""
    if since is None:
        return {}
    return books_from_fills([f for f in fills if aware(f.time) < since])


def positions_snapshot(manager: Any, since: datetime | None = None,
                       baseline: dict[str, Book] | None = None) -> list[Position]:
    """Open positions, plus the symbols traded and closed since ``since``, at quantity 0.

    ``manager`` is the OrderManager: open positions come from ``get_active_positions`` (with
    the live protecting roles), closed ones from its fill books. The journal keeps every fill
    ever made, so with ``since`` (the session's start) realized P&L is the session's: the
    books over all fills minus the books over the fills before ``since``. Subtracting whole
    books keeps a position opened yesterday and closed today exact, which booking today's
    fills alone would not (the closing fill would have no cost basis).
    """
    fills = list(manager.fills.values())
    if baseline is None:
        baseline = session_baseline(fills, since)
    traded = {f.symbol for f in fills if since is None or aware(f.time) >= since}

    def session(symbol: str, realized: Decimal) -> Decimal:
        old = baseline.get(symbol)
        return realized - old.realized if old is not None else realized

    out = {p.symbol: dataclasses.replace(p, realized_pnl=session(p.symbol, p.realized_pnl))
           for p in manager.get_active_positions()}
    for symbol, book in manager.books().items():
        if symbol not in out and symbol in traded:
            out[symbol] = closed_position(symbol, session(symbol, book.realized),
                                          book.commissions, manager.marks.get(symbol))
    return [out[s] for s in sorted(out)]


@dataclass(frozen=True)
class Totals:
    """The line under the positions: what the trader's day adds up to."""

    open_positions: int
    shares: int
    unrealized: Decimal
    realized: Decimal

    @property
    def total(self) -> Decimal:
        return self.unrealized + self.realized

    def text(self) -> str:
        return (f"Total  {self.open_positions} open ({formatting.quantity(self.shares)} sh)"
                f"   unrealized {formatting.money(self.unrealized)}"
                f"   realized {formatting.money(self.realized)}"
                f"   P&L {formatting.money(self.total, signed=True)}")


def totals_of(rows: Iterable[Mapping[str, Any]]) -> Totals:
    """Sums over the rows shown (open and closed today): P&L is exact Decimal arithmetic."""
    rows = list(rows)
    held = [r for r in rows if r.get("quantity")]
    return Totals(open_positions=len(held),
                  shares=sum(abs(int(r["quantity"])) for r in held),
                  unrealized=sum((Decimal(r.get("unrealized") or 0) for r in held), Decimal(0)),
                  realized=sum((Decimal(r.get("realized") or 0) for r in rows), Decimal(0)))


class PositionsModel(KeyedTableModel):
    columns = POSITION_COLUMNS

    @staticmethod
    def lines_of(row: Mapping[str, Any]) -> int:
        """Lines a row needs: one per exit leg while shares are held (``FilteredTable``)."""
        if not row.get("quantity"):
            return 1
        return max(len(row.get("activity") or ()), len(row.get("protection") or ()), 1)

    def tooltip(self, row: Mapping[str, Any], column: Column) -> str | None:
        """The protection cell's sentences one per line (the cell may be cut at 1024 px)."""
        if column.key == "protection" and row.get("activity"):
            return "\n".join(a.sentence for a in row["activity"])
        return None

    def totals(self) -> Totals:
        """The totals row's figures (``FilteredTable`` shows them under the table)."""
        return totals_of(self.rows[k] for k in self.keys)

    def update_positions(self, positions: list[Position],
                         activity: Mapping[str, Sequence[Any]] | None = None) -> None:
        """``activity``: per symbol, the OMS's ``leg_activity`` (one sentence per live leg)."""
        activity = activity or {}
        for p in positions:
            self.upsert(p.symbol, {
                "activity": tuple(activity.get(p.symbol, ())),
                "symbol": p.symbol, "quantity": p.quantity,
                "avg_cost": p.avg_cost if p.quantity else None,  # a closed trade has none
                "last": p.market_price, "unrealized": p.unrealized_pnl if p.quantity else None,
                "realized": p.realized_pnl, "commissions": p.commissions,
                "protection": tuple(p.protected_by)})

    def on_quote(self, quote: Quote) -> None:
        """A tick: restage last and unrealized P&L for the next coalesced repaint."""
        row = self.rows.get(quote.symbol)
        if row is None or quote.last is None:
            return
        values: dict[str, Any] = {"last": quote.last}
        if row.get("quantity"):
            values["unrealized"] = (quote.last - row["avg_cost"]) * row["quantity"]
        self.stage(quote.symbol, values)
