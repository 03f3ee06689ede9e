"""How each order type executes against a quote: pure functions, no state.

Stops trigger by the order's triggerMethod, IB's default for stocks being
"Last": two consecutive last prints at or through the stop, or one whose size
is an increase (``level_triggered``; TWS guide "Modify the Stop Trigger
Method"), and then execute as market orders, so a market that gaps through a
stop fills at the market, not at the stop.
Market buys take the ask, market sells hit the bid. A limit that is
marketable when it starts working fills at the touch (it takes liquidity);
one that has rested on the book fills at its own limit when the market comes
to it or gaps through it, because a crossing order trades at the resting price.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal


@dataclass(frozen=True)
class Print:
    """One last-sale print: price, size, and the simulator time it traded at."""

    price: Decimal
    size: int
    time: float


@dataclass(frozen=True)
class Touch:
    bid: Decimal
    ask: Decimal
    last: Decimal
    prints: tuple[Print, ...] = ()
    """The symbol's last prints, oldest first (``tape.PrintTape``): what "Last" counts."""


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


LAST_METHODS: dict[int, bool] = {0: False, 2: False, 3: True}
"""triggerMethod -> whether two prints are needed: 0 "Default" (= "Last" for stocks), 2
"Last", 3 "Double Last". The others are single observations (``observed_price``)."""


def _through(price: Decimal, level: Decimal, rising: bool) -> bool:
    return price >= level if rising else price <= level


def last_method_met(level: Decimal, rising: bool, prints: tuple[Print, ...], since: float,
                    need_two: bool = False) -> bool:
    """IB's "Last" method: "Two consecutive last price values must be greater than (less
    than) or equal to the trigger price; or the last price value must be ... and the last
    size must be an increase" (TWS guide, "Modify the Stop Trigger Method"). The increase
    is read as a larger size than the print before. Only prints at or after ``since`` (the
    order's trigger window, ``sessions.SessionRules.prints_since``) count as at or through.
    "Double Last" (``need_two``) takes the two prints only."""
    if len(prints) < 2:
        return False
    before, newest = prints[-2], prints[-1]
    if newest.time < since or not _through(newest.price, level, rising):
        return False
    if before.time >= since and _through(before.price, level, rising):
        return True
    return not need_two and newest.size > before.size


def observed_price(touch: Touch, method: int, rising: bool) -> Decimal:
    """Single-observation methods: 1 and 4 bid for a rise, ask for a fall (the "double"
    bid/ask is taken as single), 8 the midpoint, 7 and anything else the last."""
    if method in (1, 4):
        return touch.bid if rising else touch.ask
    if method == 8:
        return (touch.bid + touch.ask) / 2
    return touch.last


def level_triggered(method: int, rising: bool, level: Decimal, touch: Touch,
                    since: float = float("-inf")) -> bool:
    """Whether a rise to (``rising``) or a fall to ``level`` has triggered by ``method``."""
    if method in LAST_METHODS:
        return last_method_met(level, rising, touch.prints, since, LAST_METHODS[method])
    return _through(observed_price(touch, method, rising), level, rising)


def stop_triggered(action: str, stop: Decimal, touch: Touch, method: int = 0,
                   since: float = float("-inf")) -> bool:
    """A buy stop triggers on a rise to its stop, a sell stop on a fall to it."""
    return level_triggered(method, action == "BUY", stop, touch, since)


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
