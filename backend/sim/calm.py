"""When a tick cannot change anything: the price levels a symbol's working orders wait for.

A market step ticks every symbol, and a pass over a symbol's orders is a dozen checks per
order (expiry, holds, trails, triggers, marketability). Most working orders only wait for a
price: a resting limit for the touch to reach it, a stop for a print through its level, a
bracket child for its parent. After a full pass, ``calm_of`` sums such a symbol up as four
levels; while no tick reaches them (``Calm.woken_by``), a pass would change nothing and is
skipped. Any order that can change for another reason makes the symbol not calm, so it is
evaluated on every pass exactly as before:

- anything time can change: goodAfterTime, a GTD or other non-DAY/GTC tif, conditions (time,
  margin and execution conditions change without a tick), modelled trading sessions;
- trails (they ratchet on every tick), touch, close, pegged and market-type orders, a
  triggered stop, an order still fresh from its release, or buffered (a chain not yet sent).

A child held by an unfilled parent is calm whatever its type: its parent's fill re-reads it
and ``Broker`` then stirs its symbol (``book.OrderBook.stir``). The levels are conservative:
a stop counts bid, ask, last and the newest print, whatever its triggerMethod reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from backend.sim.conditions import PERCENT_CHANGE, PRICE, VOLUME
from backend.sim.matching import Touch
from backend.sim.orders import STOP_TYPES, WorkingOrder

CALM_TIFS = frozenset({"DAY", "GTC"})
PRICE_WAITS = frozenset({"LMT", "STP", "STP LMT"})


@dataclass(frozen=True)
class Calm:
    """The levels that wake a symbol: None where no order waits on that side."""

    buy_limit: Decimal | None = None
    """The highest resting buy limit: an ask at or below it may fill."""
    sell_limit: Decimal | None = None
    """The lowest resting sell limit: a bid at or above it may fill."""
    buy_stop: Decimal | None = None
    """The lowest untriggered buy stop: any price at or above it may trigger."""
    sell_stop: Decimal | None = None
    """The highest untriggered sell stop: any price at or below it may trigger."""

    def woken_by(self, touch: Touch) -> bool:
        if self.buy_limit is not None and touch.ask <= self.buy_limit:
            return True
        if self.sell_limit is not None and touch.bid >= self.sell_limit:
            return True
        if self.buy_stop is None and self.sell_stop is None:
            return False
        prices = [touch.bid, touch.ask, touch.last, *(p.price for p in touch.prints[-1:])]
        return ((self.buy_stop is not None and max(prices) >= self.buy_stop)
                or (self.sell_stop is not None and min(prices) <= self.sell_stop))


def _time_free(order: WorkingOrder) -> bool:
    spec = order.spec
    return (not spec.conditions and not spec.good_after_time and not spec.good_till_date
            and spec.tif in CALM_TIFS)


def _parent_hold_settled(order: WorkingOrder) -> bool:
    """Held by its parent and already reported so (``activation.hold_reason``)."""
    why = "child,trigger" if order.spec.order_type in STOP_TYPES else "child"
    return order.held_by == "parent" and order.why_held == why and order.status == "PreSubmitted"


def _waiting_settled(order: WorkingOrder) -> bool:
    """Working, waiting only for a price, and reported so: a resting limit Submitted, an
    untriggered stop PreSubmitted with whyHeld ``trigger``."""
    spec = order.spec
    if order.held_by is not None or spec.order_type not in PRICE_WAITS:
        return False
    if spec.order_type == "LMT":
        return (order.resting and spec.lmt_price is not None and order.why_held == ""
                and order.status == "Submitted")
    return (not order.triggered and spec.aux_price is not None and order.why_held == "trigger"
            and order.status == "PreSubmitted")


def idle(order: WorkingOrder, parent: WorkingOrder | None, touch: Touch) -> bool:
    """Whether a matching pass at ``touch`` would leave this live order exactly as it is
    (no report, no state change), so the pass may step over it (sessions not modelled)."""
    if order.fresh or not _time_free(order):
        return False
    if order.held_by == "parent":
        return parent is not None and parent.filled == 0 and _parent_hold_settled(order)
    if not _waiting_settled(order):
        return False
    spec = order.spec
    if spec.order_type == "LMT":
        assert spec.lmt_price is not None
        return (touch.ask > spec.lmt_price if spec.action == "BUY"
                else touch.bid < spec.lmt_price)
    level = Calm(buy_stop=spec.aux_price) if spec.action == "BUY" else Calm(
        sell_stop=spec.aux_price)
    return not level.woken_by(touch)


def calm_of(orders: Iterable[WorkingOrder]) -> Calm | None:
    """The levels ``orders`` (one symbol's, after a full pass) wait for, or None when one
    of them can change without a tick reaching a level (see the module doc)."""
    buy_limit = sell_limit = buy_stop = sell_stop = None
    for order in orders:
        if order.done or order.discarded:
            continue
        if order.buffered or order.fresh or not _time_free(order):
            return None
        if order.held_by == "parent" and _parent_hold_settled(order):
            continue
        if not _waiting_settled(order):
            return None
        spec = order.spec
        if spec.order_type == "LMT":
            assert spec.lmt_price is not None
            if spec.action == "BUY":
                buy_limit = spec.lmt_price if buy_limit is None else max(buy_limit,
                                                                         spec.lmt_price)
            else:
                sell_limit = spec.lmt_price if sell_limit is None else min(sell_limit,
                                                                           spec.lmt_price)
            continue
        assert spec.aux_price is not None
        if spec.action == "BUY":
            buy_stop = spec.aux_price if buy_stop is None else min(buy_stop, spec.aux_price)
        else:
            sell_stop = spec.aux_price if sell_stop is None else max(sell_stop, spec.aux_price)
    return Calm(buy_limit, sell_limit, buy_stop, sell_stop)


MARKET_KINDS = frozenset({PRICE, VOLUME, PERCENT_CHANGE})
"""Condition kinds that read one contract's market; the others (time, margin, execution)
can change on any tick, as they always could."""


def watchers(conditioned: Iterable[WorkingOrder], symbol: str, con_id: int) -> list[str]:
    """The other symbols whose live conditioned orders a tick of ``symbol`` (``con_id``)
    can change: a price, volume or percent-change condition on it, or any other kind."""
    out = {order.instrument.symbol for order in conditioned
           if order.live and any(c.kind not in MARKET_KINDS or c.con_id == con_id
                                 for c in order.spec.conditions)}
    out.discard(symbol)
    return sorted(out)
