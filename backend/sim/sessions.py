"""US-equity trading sessions in the simulator: what IB does with an order in each session.

The calendar itself (pre-market 04:00-09:30, regular 09:30-16:00, after hours 16:00-20:00,
closed otherwise and at weekends, US/Eastern, holidays not modelled) is a fact shared with
the OMS: ``backend/core/market_hours.py``. This module holds IB's *rules* on top of it,
as pure functions of an order and the simulator's clock (epoch seconds), each with its
evidence (docs/simulator.md, "Trading sessions"):

- **399 outside regular hours.** An order that cannot work in the current session is
  accepted, held PreSubmitted, and warned with 399 "... will not be placed at the exchange
  until <next open> US/Eastern.", a DAY order at weekends too (``empty_tif_default_aapl``,
  Saturday 29 August 2026); a GTC order placed at a weekend is held without one
  (``held_quietly``: two captures of Saturday 4 July). Live captures
  ``api_bracket_place_aapl`` (LMT parent, LMT and STP children, after hours: each got 399
  naming 09:30 the next day) and
  ``api_conditions_matrix_aapl`` (conditioned LMT orders with conditionsIgnoreRth, after
  hours: 399 each); a MKT order in the latter held PreSubmitted with whyHeld "".
- **outsideRth honoured or ignored.** IB keeps outsideRth only on the order types and
  times in force it applies to: LMT (DAY/GTC/GTD), STP LMT, TRAIL LIMIT, LIT and REL on a
  US stock routed SMART. On MKT, STP, TRAIL and MIT it drops the flag and answers warning
  2109 (ib_insync #141: a MKT order's outsideRth came back False; a user's paper report of
  2109 for a GTC SMART STP in the pre-market, ib-orders.md R8; ten paper AAPL orders with
  outsideRth=True recorded by a public Rust IB client, its ib-agent#199: found by code
  search, repository not identified; TWS's order menu: stop-limit orders may trigger after
  hours). The 2109 text is the one users quote from live sessions (node-ib #121; IB's
  message-code list words the end "is now processed"). The TWS order ticket: "If unchecked, orders
  will only fill/trigger during regular trading hours ... Not available for IOC, OPG,
  FOK, MOC or LOC orders."
- **Conditions are evaluated in regular hours** unless ``conditionsIgnoreRth`` (IB's
  conditional-orders page; the TWS condition tab's "Allow condition to be satisfied and
  activate outside of regular trading hours").
- **A GTC conditional order** activated by its conditions but not executed that day waits
  for them to trigger again on a later day (IB's conditional-orders page: "unless the
  order is executed on the same day as the condition trigger, the condition has to be
  retriggered again on the following day(s)").
- **DAY orders expire at the close**: 16:00, or 20:00 for an order that keeps outsideRth
  (IB's time-in-force page: "canceled if it does not execute by the close of the trading
  day"; the 20:00 end for outsideRth orders is no public evidence: paper-check).

``always_open`` (the default: demos, ``--sim`` and the test suite) answers as a market that
never closes: every order may work, nothing is warned, DAY orders end only with
``end_session()``.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

from backend.core.market_hours import (
    EASTERN,
    REGULAR_CLOSE,
    SESSION_BOUNDS,
    Session,
    next_regular_open,
    regular_close,
    session_at,
)
from backend.sim.config import SESSION_MODES
from backend.sim.messages import trading_class
from backend.sim.models import Instrument, OrderSpec
from backend.sim.order_rules import TIMED_ALGOS, TWS_WORKED_ALGOS
from backend.sim.timefmt import TimeFormatError, parse_ib_time

MODES = SESSION_MODES

OUTSIDE_RTH_TYPES = frozenset({"LMT", "STP LMT", "TRAIL LIMIT", "LIT", "REL"})
"""Order types whose outsideRth IB keeps on a US stock (the ten paper orders cited above)."""
OUTSIDE_RTH_TIFS = frozenset({"DAY", "GTC", "GTD"})
"""Not IOC, FOK, OPG (TWS order ticket: "Not available for IOC, OPG (MOO and LOO), FOK...")."""

CODE_IGNORED, CODE_HELD, CODE_ALGO_RESCHEDULED = 2109, 399, 2111
OUTSIDE_RTH_IGNORED = ("Order Event Warning:Attribute 'Outside Regular Trading Hours' is "
                       "ignored based on the order type and destination. PlaceOrder is now "
                       "being processed.")

EXTENDED_OPEN = SESSION_BOUNDS[0][0]
"""04:00, the pre-market's start: the earliest an outsideRth order works."""
EXTENDED_CLOSE = SESSION_BOUNDS[-1][1]
"""20:00, the after-hours' end."""
REGULAR_OPEN = next(start for start, _end, s in SESSION_BOUNDS if s is Session.REGULAR)

OrderWarning = tuple[int, str]


def keeps_outside_rth(spec: OrderSpec) -> bool:
    """Whether IB honours outsideRth on this order (else it drops it with 2109)."""
    return spec.order_type in OUTSIDE_RTH_TYPES and spec.tif in OUTSIDE_RTH_TIFS


def _moment(now: float) -> datetime:
    return datetime.fromtimestamp(now, timezone.utc)


def _on_day(day: date, at: time) -> datetime:
    return datetime(day.year, day.month, day.day, at.hour, at.minute, tzinfo=EASTERN)


def _next_weekday_at(now: float, at: time) -> datetime:
    """The first weekday ``at`` (US/Eastern) strictly after ``now``."""
    day = _moment(now).astimezone(EASTERN).date()
    candidate = _on_day(day, at)
    while candidate.weekday() >= 5 or candidate.timestamp() <= now:
        day += timedelta(days=1)
        candidate = _on_day(day, at)
    return candidate


def order_descriptor(inst: Instrument) -> str:
    """``NASDAQ.NMS`` as IB's 399 names AAPL (``api_bracket_place_aapl``); a listing whose
    trading class is its symbol is named by its exchange alone (no public evidence)."""
    cls = trading_class(inst)
    return f"{inst.primary_exchange}.{cls}" if cls != inst.symbol else inst.primary_exchange


def rescheduled_text(spec: OrderSpec, inst: Instrument) -> str:
    """Warning 2111's text, as ``api_algo_variants_aapl.sv225`` carries it."""
    qty = spec.total_qty
    shown = f"{int(qty)}" if qty == qty.to_integral_value() else f"{qty.normalize():f}"
    price = f" @ {spec.lmt_price.normalize():f}" if spec.lmt_price is not None else ""
    return (f"<html>The Start and/or End Time for algo order {spec.action} {shown} "
            f"{inst.symbol} {order_descriptor(inst)}{price}<br>was adjusted to use the next "
            "trading date.<br>To modify this setting, use the <i>Auto-adjust algo order "
            "date</i> item on the <b>Orders</b> configuration page</html>")


def held_text(spec: OrderSpec, inst: Instrument, until: datetime) -> str:
    """Warning 399's text, byte for byte as ``api_bracket_place_aapl`` carries it."""
    qty = spec.total_qty
    shown = f"{int(qty)}" if qty == qty.to_integral_value() else f"{qty.normalize():f}"
    stamp = until.astimezone(EASTERN).strftime("%Y-%m-%d %H:%M:%S")
    return (f"Order Message:\n{spec.action} {shown} {inst.symbol} "
            f"{order_descriptor(inst)}\n"
            f"Warning: Your order will not be placed at the exchange until {stamp} US/Eastern.")


class SessionRules:
    """The session rules the broker asks, for one mode (``MODES``)."""

    def __init__(self, mode: str = "always_open") -> None:
        if mode not in MODES:
            raise ValueError(f"unknown sessions mode {mode!r} (one of {', '.join(MODES)})")
        self.mode = mode
        self.enabled = mode == "us_equity"

    def session(self, now: float) -> Session:
        return session_at(_moment(now)) if self.enabled else Session.REGULAR

    def extended(self, spec: OrderSpec) -> bool:
        """The order may work in the pre-market and after hours (outsideRth kept)."""
        return spec.outside_rth and keeps_outside_rth(spec)

    def may_work(self, spec: OrderSpec, now: float) -> bool:
        """Whether the order may trigger or execute now: regular hours, or the extended
        sessions for an order that keeps outsideRth; nothing while the market is closed
        (overnight venues are not modelled)."""
        session = self.session(now)
        return session.is_regular or (session.is_extended and self.extended(spec))

    def conditions_open(self, spec: OrderSpec, now: float) -> bool:
        """Conditions are evaluated in regular hours, at any time with conditionsIgnoreRth."""
        return spec.conditions_ignore_rth or self.session(now).is_regular

    def prints_since(self, spec: OrderSpec, placed_at: float, now: float,
                     conditions: bool = False) -> float:
        """The moment from which last-sale prints count towards a trigger: the order's
        placement, and with sessions the start of the window it may trigger in now (so a
        print of yesterday, or of the pre-market for a regular-hours stop, never counts)."""
        if not self.enabled:
            return placed_at
        day = _moment(now).astimezone(EASTERN).date()
        if conditions:
            start = time(0, 0) if spec.conditions_ignore_rth else REGULAR_OPEN
        else:
            start = EXTENDED_OPEN if self.extended(spec) else REGULAR_OPEN
        return max(placed_at, _on_day(day, start).timestamp())

    def expires_at(self, spec: OrderSpec, placed_at: float) -> float | None:
        """When a DAY order expires: the first close after it was placed, 16:00, or 20:00
        for an order that keeps outsideRth. None without sessions or for other tifs."""
        if not self.enabled or spec.tif != "DAY":
            return None
        if self.extended(spec):
            return _next_weekday_at(placed_at, EXTENDED_CLOSE).timestamp()
        return regular_close(_moment(placed_at)).timestamp()

    def next_working_moment(self, spec: OrderSpec, now: float) -> datetime:
        if self.extended(spec):
            return _next_weekday_at(now, EXTENDED_OPEN)
        return next_regular_open(_moment(now))

    def admit(self, spec: OrderSpec, inst: Instrument, now: float) -> list[OrderWarning]:
        """What IB answers when it accepts an order now: it drops an outsideRth it ignores
        (the echoed openOrder shows False) with 2109, and warns 399 when the order cannot
        work in the current session. Call before the order is echoed; send the warnings
        after its first openOrder/orderStatus, as ``api_bracket_place_aapl`` orders them."""
        if not self.enabled:
            return []
        warnings: list[OrderWarning] = []
        if spec.outside_rth and not keeps_outside_rth(spec):
            spec.outside_rth = False
            warnings.append((CODE_IGNORED, OUTSIDE_RTH_IGNORED))
        warnings += self.algo_warnings(spec, inst, now)
        if not self.may_work(spec, now) and not held_quietly(spec, now):
            until = self.next_working_moment(spec, now)
            warnings.append((CODE_HELD, held_text(spec, inst, until)))
        return warnings

    def algo_warnings(self, spec: OrderSpec, inst: Instrument,
                      now: float) -> list[OrderWarning]:
        """2111 for a timed algo (``TIMED_ALGOS``) with a startTime or endTime placed outside
        regular hours: IB moved its times to the next trading date. IB sent it twice, once
        as the order arrived (before even a 10255 for the same order) and once as it was
        accepted (``api_algo_variants_aapl.sv225``, after hours): the broker sends this at
        both points. Inside regular hours: no public evidence (nothing sent)."""
        tags = {tag for tag, _value in spec.algo_params}
        if (not self.enabled or spec.algo_strategy not in TIMED_ALGOS
                or not tags & {"startTime", "endTime"} or self.session(now).is_regular):
            return []
        return [(CODE_ALGO_RESCHEDULED, rescheduled_text(spec, inst))]

    def algo_starts_after_close(self, spec: OrderSpec) -> bool:
        """A timed algo whose startTime falls at or after 16:00 US/Eastern: IB accepted it,
        reported it Submitted and cancelled it with 202 "<algo>: start time is after close
        time" (``api_algo_variants_aapl.sv225``: Vwap, ArrivalPx, ClosePx and PctVol
        starting 16:34:58)."""
        start = dict(spec.algo_params).get("startTime")
        if not self.enabled or spec.algo_strategy not in TIMED_ALGOS or not start:
            return False
        try:
            moment = parse_ib_time(start)[0]
        except TimeFormatError:
            return False
        return moment.astimezone(EASTERN).time() >= REGULAR_CLOSE

    def revise(self, spec: OrderSpec) -> None:
        """A modification carries no ignored outsideRth either (the same record: "a
        replace has no outside-RTH tag"); IB sends no second 2109 for it."""
        if self.enabled and spec.outside_rth and not keeps_outside_rth(spec):
            spec.outside_rth = False

    def close_between(self, before: float, now: float) -> bool:
        """Whether a regular-hours close (16:00 on a weekday) lies in (``before``, ``now``]:
        the moment the closing auction runs (MOC/LOC) before DAY orders expire."""
        return (self.enabled and before < now
                and regular_close(_moment(before)).timestamp() <= now)

    def conditions_lapsed(self, spec: OrderSpec, met_at: float | None, filled: Decimal,
                          now: float) -> bool:
        """A GTC (or GTD) order activated by its conditions on an earlier trading day and not
        executed since goes back to waiting for them (IB's conditional-orders page)."""
        if not self.enabled or met_at is None or filled > 0 or spec.tif == "DAY":
            return False
        return _day(now) > _day(met_at)


def held_quietly(spec: OrderSpec, now: float) -> bool:
    """Orders IB held outside regular hours without a 399: a GTC order placed at a weekend
    (``api_reconnect_recovered_cancel_status_aapl`` and ``api_open_orders_refresh_aapl``,
    Saturday 4 July 2026: GTC LMTs echoed PreSubmitted, no 399 over several round trips),
    while a DAY order placed on a Saturday got one (``empty_tif_default_aapl``, 29 August)
    and every DAY order after hours did; and Accumulate/Distribute, which TWS works itself
    (``TWS_WORKED_ALGOS``). The evidence cannot tell GTC-at-weekends from GTC generally or
    from 4 July being a US holiday: paper-check (docs/simulator.md, "Trading sessions")."""
    weekend = _moment(now).astimezone(EASTERN).weekday() >= 5
    return (spec.tif == "GTC" and weekend) or spec.algo_strategy in TWS_WORKED_ALGOS


def _day(moment: float) -> date:
    return _moment(moment).astimezone(EASTERN).date()


ALWAYS_OPEN = SessionRules("always_open")
