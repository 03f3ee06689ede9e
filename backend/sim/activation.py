"""Whether an accepted order may execute now, when it expires, and when a stop fires.

TWS holds an accepted order PreSubmitted for several reasons: its parent has
not filled, its goodAfterTime has not come, its activation conditions are
unmet, or it is a stop waiting for its trigger. These rules are functions of
the order and of what it depends on (its parent, the clock, a market view),
kept apart from the broker, which owns the lifecycle and reports changes.
"""

from __future__ import annotations

from decimal import Decimal

from backend.sim import matching, order_types
from backend.sim.account import Account
from backend.sim.clock import SimClock
from backend.sim.conditions import MarketView, QuoteView, conditions_met
from backend.sim.market import Market
from backend.sim.orders import STOP_TYPES, ExecutionRecord, WorkingOrder
from backend.sim.sessions import ALWAYS_OPEN, SessionRules
from backend.sim.tape import PrintTape
from backend.sim.timefmt import parse_ib_time

TRAILS = order_types.TRAILING_TYPES
"""TRAIL and TRAIL LIMIT trail the market the same way; only their execution differs."""


class BrokerView:
    """The ``MarketView`` order conditions read, over the broker's market, account,
    execution list and clock (all live references, never copies)."""

    def __init__(self, market: Market, account: Account, executions: list[ExecutionRecord],
                 clock: SimClock, tape: PrintTape | None = None) -> None:
        self.market = market
        self.account = account
        self.executions = executions
        self.clock = clock
        self.tape = tape

    def quote_by_con_id(self, con_id: int) -> QuoteView | None:
        inst = self.market.find(con_id=con_id)
        if inst is None:
            return None
        q = self.market.quote(inst.symbol)
        prints = self.tape.recent(inst.symbol) if self.tape is not None else ()
        return QuoteView(q.bid, q.ask, q.last, q.volume, q.open_price, prints)

    def cushion_percent(self) -> Decimal:
        marks = {s.instrument.con_id: s.quote.last for s in self.market.symbols.values()}
        return self.account.cushion_percent(marks)

    def executed_since(self, symbol: str, sec_type: str, since: float) -> bool:
        return any(e.instrument.symbol == symbol.upper() and e.time >= since
                   for e in self.executions)

    def now(self) -> float:
        return self.clock.now()


def epoch(ib_time: str) -> float:
    return parse_ib_time(ib_time)[0].timestamp()


def hold_reason(order: WorkingOrder, parent: WorkingOrder | None, now: float,
                view: MarketView, rules: SessionRules = ALWAYS_OPEN) -> tuple[str | None, str]:
    """(held_by, whyHeld): held_by is 'parent', 'good_after_time', 'conditions', 'session'
    or None; whyHeld is what TWS reports: under an unfilled parent ``child`` for a limit,
    ``child,trigger`` for a stop type (``api_bracket_place_aapl``); ``trigger`` for a working
    stop. Activation conditions, once met, stay met
    (``conditions_done``) until, with sessions, a later trading day finds the order still
    unexecuted (``sessions``); they are evaluated only while ``rules`` allow. An order the
    current session does not allow to work is held 'session' (IB's 399)."""
    spec = order.spec
    if parent is not None and parent.filled == 0:
        return "parent", "child,trigger" if spec.order_type in STOP_TYPES else "child"
    if spec.good_after_time and now < epoch(spec.good_after_time):
        return "good_after_time", ""
    if spec.conditions and not spec.conditions_cancel_order:
        if order.conditions_done and rules.conditions_lapsed(
                spec, order.conditions_met_at, order.filled, now):
            order.conditions_done = False
        if not order.conditions_done:
            since = rules.prints_since(spec, order.placed_at, now, conditions=True)
            if not (rules.conditions_open(spec, now)
                    and conditions_met(spec.conditions, view, order.placed_at, since)):
                return "conditions", ""
            order.conditions_done, order.conditions_met_at = True, now
    waits = "trigger" if spec.order_type in STOP_TYPES and not order.triggered else ""
    return ("session" if not rules.may_work(spec, now) else None), waits


def status_for(held_by: str | None, why_held: str, waiting: bool = False) -> str:
    """``waiting``: a touch or close order not yet due (``order_types.waiting``)."""
    return "PreSubmitted" if held_by or why_held == "trigger" or waiting else "Submitted"


def cancel_reason(order: WorkingOrder, now: float, view: MarketView,
                  rules: SessionRules = ALWAYS_OPEN) -> str | None:
    """Why a working order ends without executing now: GTD reached, a DAY order past its
    session's close (with sessions), or its conditions met in ``conditionsCancelOrder``
    mode (evaluated only while ``rules`` allow)."""
    spec = order.spec
    if spec.tif == "GTD" and spec.good_till_date and now >= epoch(spec.good_till_date):
        return "good till date reached"
    expiry = rules.expires_at(spec, order.placed_at)
    if expiry is not None and now >= expiry:
        return "end of day"
    if spec.conditions and spec.conditions_cancel_order and rules.conditions_open(
            spec, now) and conditions_met(spec.conditions, view, order.placed_at,
                                          rules.prints_since(spec, order.placed_at, now,
                                                             conditions=True)):
        return "conditions met"
    return None


def start_trail(order: WorkingOrder, touch: matching.Touch) -> None:
    """A trailing stop starts trailing when it becomes active, from the market then."""
    spec = order.spec
    if spec.order_type not in TRAILS or order.held_by or order.trail_stop is not None:
        return
    order.trail_stop = matching.initial_trail_stop(
        spec.action, touch, spec.aux_price, spec.trailing_percent, spec.trail_stop_price,
        order.instrument.min_tick)
    follow_trail_limit(order)


def follow_trail_limit(order: WorkingOrder) -> None:
    """A TRAIL LIMIT's limit is its stop minus (sell) or plus (buy) ``lmtPriceOffset``, and
    openOrder echoes it (``api_order_trailing_cancel_aapl``: stop 2000, offset 0.05, limit
    1999.95). Without an offset the client's own limit stands."""
    spec = order.spec
    if spec.order_type == "TRAIL LIMIT" and spec.lmt_price_offset is not None \
            and order.trail_stop is not None:
        spec.lmt_price = order_types.trail_limit(spec.action, order.trail_stop,
                                                 spec.lmt_price_offset)


def ratchet_and_trigger(order: WorkingOrder, touch: matching.Touch,
                        since: float = float("-inf")) -> bool:
    """Move a trail's stop with the market, then trigger a stop type whose stop was
    reached by its triggerMethod, counting prints from ``since``; True when it triggered
    just now."""
    spec = order.spec
    if spec.order_type in TRAILS and order.trail_stop is not None and not order.triggered:
        order.trail_stop = matching.next_trail_stop(
            spec.action, order.trail_stop, touch, spec.aux_price, spec.trailing_percent,
            order.instrument.min_tick)
        follow_trail_limit(order)
    stop = order.trail_stop if spec.order_type in TRAILS else spec.aux_price
    if (spec.order_type in STOP_TYPES and not order.triggered and stop is not None
            and matching.stop_triggered(spec.action, stop, touch, spec.trigger_method,
                                        since)):
        order.triggered = True
        return True
    return False
