"""Evaluation of IB order conditions (pure functions over a market view).

Conditions chain left to right: each condition's conjunction joins it to the
*next* one (``a`` and, ``o`` or), without precedence, which is how TWS's
condition editor reads them. Unverified against TWS: see docs/simulator.md.
A price condition triggers by its triggerMethod exactly as a stop does
(``matching.level_triggered``: the default for stocks counts last prints).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from backend.sim import matching
from backend.sim.models import Condition
from backend.sim.timefmt import TimeFormatError, parse_ib_time

PRICE, TIME, MARGIN, EXECUTION, VOLUME, PERCENT_CHANGE = 1, 3, 4, 5, 6, 7


class MarketView(Protocol):
    def quote_by_con_id(self, con_id: int) -> QuoteView | None: ...
    def cushion_percent(self) -> Decimal: ...
    def executed_since(self, symbol: str, sec_type: str, since: float) -> bool: ...
    def now(self) -> float: ...


@dataclass(frozen=True)
class QuoteView:
    bid: Decimal
    ask: Decimal
    last: Decimal
    volume: int
    open_price: Decimal
    prints: tuple[matching.Print, ...] = ()
    """The contract's last prints, oldest first (``tape.PrintTape``)."""


def validate_condition(cond: Condition, known_con_ids: set[int]) -> str | None:
    """Return why a condition cannot be accepted, or None."""
    if cond.kind in (PRICE, VOLUME, PERCENT_CHANGE) and cond.con_id not in known_con_ids:
        return f"condition contract conId {cond.con_id} is not known"
    if cond.kind == TIME:
        try:
            parse_ib_time(cond.value)
        except TimeFormatError as exc:
            return f"time condition: {exc}"
    elif cond.kind in (PRICE, MARGIN, VOLUME, PERCENT_CHANGE):
        try:
            Decimal(cond.value)
        except Exception:
            return f"condition value {cond.value!r} is not a number"
    return None


def _compare(value: Decimal, threshold: Decimal, is_more: bool) -> bool:
    return value >= threshold if is_more else value <= threshold


def price_triggered(cond: Condition, quote: QuoteView, since: float) -> bool:
    """The level reached by the condition's trigger method, counting prints from ``since``."""
    touch = matching.Touch(quote.bid, quote.ask, quote.last, quote.prints)
    return matching.level_triggered(cond.trigger_method, cond.is_more, Decimal(cond.value),
                                    touch, since)


def condition_true(cond: Condition, view: MarketView, placed_at: float,
                   since: float | None = None) -> bool:
    """``placed_at`` bounds an execution condition; ``since`` (default ``placed_at``) the
    prints a price condition counts."""
    if cond.kind == TIME:
        moment = parse_ib_time(cond.value)[0].timestamp()
        return view.now() >= moment if cond.is_more else view.now() <= moment
    if cond.kind == MARGIN:
        return _compare(view.cushion_percent(), Decimal(cond.value), cond.is_more)
    if cond.kind == EXECUTION:
        return view.executed_since(cond.symbol, cond.sec_type, placed_at)
    quote = view.quote_by_con_id(cond.con_id)
    if quote is None:
        return False
    if cond.kind == PRICE:
        return price_triggered(cond, quote, placed_at if since is None else since)
    if cond.kind == VOLUME:
        return _compare(Decimal(quote.volume), Decimal(cond.value), cond.is_more)
    if cond.kind == PERCENT_CHANGE:
        if not quote.open_price:
            return False
        change = (quote.last - quote.open_price) / quote.open_price * 100
        return _compare(change, Decimal(cond.value), cond.is_more)
    return False


def conditions_met(conditions: list[Condition], view: MarketView, placed_at: float,
                   since: float | None = None) -> bool:
    if not conditions:
        return True
    result = condition_true(conditions[0], view, placed_at, since)
    for previous, cond in zip(conditions, conditions[1:], strict=False):
        value = condition_true(cond, view, placed_at, since)
        result = (result and value) if previous.conjunction == "a" else (result or value)
    return result
