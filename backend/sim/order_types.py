"""How each accepted order type waits and executes, as a table, plus its pure price rules.

Every row names the live capture (ThomasMarcelis/ibkr-go ``testdata/transcripts``) in which
a paper IB Gateway accepted the type, and ``docs/simulator.md`` says which execution rules
are the simulator's own choice (IB documents the types; the captures show acceptance,
holding and cancelling, rarely an execution):

- ``api_order_type_matrix_aapl`` (June and August 2026): MKT, LMT, STP, STP LMT, TRAIL,
  TRAIL LIMIT, MIT, LIT, MTL, REL, MOC, LOC and PEG MID accepted; PEG MKT answered 387;
  PEG BEST answered 201 and ended Inactive; MOO, LOO, PEG PRI and made-up names 321.
- ``api_order_trailing_cancel_aapl``: TRAIL LIMIT with ``lmtPriceOffset`` held PreSubmitted,
  whyHeld ``trigger``, its limit echoed as the trail stop minus the offset.
- ``api_order_relative_cancel_aapl``: REL without an offset echoed ``auxPrice`` 0.01.

Waiting orders are PreSubmitted: stops with whyHeld ``trigger`` (STP, STP LMT and both
trails: the captures), touch orders (MIT, LIT) and close orders (MOC, LOC) with ``""``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from backend.sim import matching
from backend.sim.orders import WorkingOrder


@dataclass(frozen=True)
class OrderType:
    name: str
    waits_for: str
    """'' (works at once), 'stop' (trigger price), 'touch' (MIT/LIT) or 'close' (MOC/LOC)."""
    executes_as: str
    """'market', 'limit', 'trail_limit', 'mtl', 'peg_primary' (REL) or 'peg_mid'."""
    trails: bool = False


ORDER_TYPES: dict[str, OrderType] = {t.name: t for t in (
    OrderType("MKT", "", "market"),
    OrderType("LMT", "", "limit"),
    OrderType("STP", "stop", "market"),
    OrderType("STP LMT", "stop", "limit"),
    OrderType("TRAIL", "stop", "market", trails=True),
    OrderType("TRAIL LIMIT", "stop", "trail_limit", trails=True),
    OrderType("MIT", "touch", "market"),
    OrderType("LIT", "touch", "limit"),
    OrderType("MTL", "", "mtl"),
    OrderType("REL", "", "peg_primary"),
    OrderType("MOC", "close", "market"),
    OrderType("LOC", "close", "limit"),
    OrderType("PEG MID", "", "peg_mid"),
)}

DEFAULT_REL_OFFSET = Decimal("0.01")
"""TWS fills in a REL order's missing offset (``api_order_relative_cancel_aapl`` echo)."""

TRAILING_TYPES = frozenset(t.name for t in ORDER_TYPES.values() if t.trails)
STOP_WAITING = frozenset(t.name for t in ORDER_TYPES.values() if t.waits_for == "stop")


def kind(order_type: str) -> OrderType:
    return ORDER_TYPES[order_type]


def waiting(order: WorkingOrder) -> bool:
    """Accepted and working but held PreSubmitted: untouched MIT/LIT, MOC/LOC before the close."""
    waits = kind(order.spec.order_type).waits_for
    return (waits == "touch" and not order.triggered) or waits == "close"


def touch_trigger(order: WorkingOrder, touch: matching.Touch) -> bool:
    """MIT/LIT fire when the market trades at or beyond their trigger in the favourable
    direction (a buy below the market, a sell above it); True when it fired just now."""
    spec = order.spec
    if kind(spec.order_type).waits_for != "touch" or order.triggered or spec.aux_price is None:
        return False
    touched = (touch.last <= spec.aux_price if spec.action == "BUY"
               else touch.last >= spec.aux_price)
    order.triggered = touched
    return touched


def trail_limit(action: str, stop: Decimal, offset: Decimal) -> Decimal:
    """A TRAIL LIMIT's limit follows its stop by ``lmtPriceOffset``, on the far side."""
    return stop + offset if action == "BUY" else stop - offset


def peg_price(order: WorkingOrder, touch: matching.Touch) -> Decimal:
    """REL pegs to its own side of the quote plus an offset towards the market; PEG MID to
    the midpoint minus/plus its offset. Either is capped by a limit price when one is set."""
    spec = order.spec
    offset = spec.aux_price or Decimal(0)
    if kind(spec.order_type).executes_as == "peg_primary":
        price = touch.bid + offset if spec.action == "BUY" else touch.ask - offset
    else:
        mid = (touch.bid + touch.ask) / 2
        price = mid - offset if spec.action == "BUY" else mid + offset
    price = order.instrument.round_to_tick(price)
    cap = spec.lmt_price
    if cap is not None and cap > 0:
        price = min(price, cap) if spec.action == "BUY" else max(price, cap)
    return price


def execution_price(order: WorkingOrder, touch: matching.Touch) -> Decimal | None:
    """What this order executes at now, or None; MOC/LOC only execute in ``close_price``."""
    spec = order.spec
    row = kind(spec.order_type)
    if row.waits_for == "close":
        return None
    if row.waits_for == "touch":
        if not order.triggered:
            return None
        if row.executes_as == "market":
            return matching.market_price(spec.action, touch)
        assert spec.lmt_price is not None
        return matching.limit_fill_price(spec.action, spec.lmt_price, touch, order.resting)
    if row.executes_as == "trail_limit":
        if not order.triggered or spec.lmt_price is None:
            return None
        return matching.limit_fill_price(spec.action, spec.lmt_price, touch, order.resting)
    if row.executes_as == "mtl":
        if order.filled == 0:
            return matching.market_price(spec.action, touch)
        return matching.limit_fill_price(spec.action, order.last_fill_price, touch, True)
    if row.executes_as in ("peg_primary", "peg_mid"):
        return matching.limit_fill_price(spec.action, peg_price(order, touch), touch, True)
    return matching.execution_price(spec.order_type, spec.action, touch, spec.lmt_price,
                                    order.triggered, order.resting)


def close_price(order: WorkingOrder, last: Decimal) -> Decimal | None:
    """MOC executes at the closing price; LOC only if the close is within its limit."""
    spec = order.spec
    if spec.order_type == "MOC":
        return last
    limit = spec.lmt_price
    if limit is None:
        return None
    ok = last <= limit if spec.action == "BUY" else last >= limit
    return last if ok else None
