"""How each order type executes against a quote: pure functions, no state.

Stops trigger on the last trade price (IB's default trigger for US stocks
in the simulator; see docs/simulator.md) and then execute as market orders,
so a market that gaps through a stop fills at the market, not at the stop.
Market buys take the ask, market sells hit the bid. A limit that is
marketable when it starts working fills at the touch (it takes liquidity);
one that has rested on the book fills at its own limit when the market comes
to it or gaps through it, because a crossing order trades at the resting price.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal


@dataclass(frozen=True)
class Touch:
    bid: Decimal
    ask: Decimal
    last: Decimal


def round_to_tick(price: Decimal, tick: Decimal, rounding: str) -> Decimal:
    return (price / tick).to_integral_value(rounding=rounding) * tick


def trail_offset(last: Decimal, amount: Decimal | None, percent: Decimal | None) -> Decimal:
    if amount is not None:
        return amount
    assert percent is not None
    return last * percent / 100


def initial_trail_stop(action: str, touch: Touch, amount: Decimal | None,
                       percent: Decimal | None, trail_stop_price: Decimal | None,
                       tick: Decimal) -> Decimal:
    """The stop at activation: ``trailStopPrice`` if given, tightened to the market's trail."""
    stop = trail_stop_price
    return next_trail_stop(action, stop, touch, amount, percent, tick)


def next_trail_stop(action: str, stop: Decimal | None, touch: Touch, amount: Decimal | None,
                    percent: Decimal | None, tick: Decimal) -> Decimal:
    """A sell trail only ever rises, a buy trail only ever falls."""
    offset = trail_offset(touch.last, amount, percent)
    if action == "BUY":
        candidate = round_to_tick(touch.last + offset, tick, ROUND_CEILING)
        return candidate if stop is None else min(stop, candidate)
    candidate = round_to_tick(touch.last - offset, tick, ROUND_FLOOR)
    return candidate if stop is None else max(stop, candidate)


def stop_triggered(action: str, stop: Decimal, touch: Touch) -> bool:
    return touch.last <= stop if action != "BUY" else touch.last >= stop


def market_price(action: str, touch: Touch) -> Decimal:
    return touch.ask if action == "BUY" else touch.bid


def limit_price_if_marketable(action: str, limit: Decimal, touch: Touch) -> Decimal | None:
    if action == "BUY":
        return touch.ask if touch.ask <= limit else None
    return touch.bid if touch.bid >= limit else None


def limit_fill_price(action: str, limit: Decimal, touch: Touch,
                     resting: bool) -> Decimal | None:
    """The touch for a limit that takes liquidity, its own price for one that rested."""
    price = limit_price_if_marketable(action, limit, touch)
    if price is None or not resting:
        return price
    return limit


def execution_price(order_type: str, action: str, touch: Touch, limit: Decimal | None,
                    triggered: bool, resting: bool = False) -> Decimal | None:
    """Price this order would execute at now, or None. Stop types need ``triggered``;
    ``resting`` says a limit has been on the book unmarketable (see the module doc)."""
    if order_type == "MKT":
        return market_price(action, touch)
    if order_type == "LMT":
        assert limit is not None
        return limit_fill_price(action, limit, touch, resting)
    if not triggered:
        return None
    if order_type in ("STP", "TRAIL"):
        return market_price(action, touch)
    if order_type == "STP LMT":
        assert limit is not None
        return limit_fill_price(action, limit, touch, resting)
    return None


def commission(qty: Decimal, price: Decimal, per_share: Decimal, minimum: Decimal,
               max_pct: Decimal) -> Decimal:
    """IB fixed rate for one order: per share, at least ``minimum``, at most ``max_pct`` of
    the trade value."""
    return order_commission(qty, qty * price, per_share, minimum, max_pct)


def order_commission(qty: Decimal, value: Decimal, per_share: Decimal, minimum: Decimal,
                     max_pct: Decimal) -> Decimal:
    """The fixed-rate commission of an order that has executed ``qty`` for ``value`` in all.

    IB's minimum and maximum are per order, not per execution, so an order filled in
    pieces pays each execution the growth of this total (never negative: it only grows).
    """
    raw = qty * per_share
    cap = value * max_pct / 100
    amount = max(raw, minimum)
    if cap > 0:
        amount = min(amount, cap)
    return amount.quantize(Decimal("0.0001"))
