"""Can this exit leg act right now? One short sentence per leg, for the positions view.

Why: an exit that exists at IB is not always an exit that can fire. Outside regular hours
IB holds market orders until the open (it resets ``outsideRth`` on MKT, ib_insync #141;
orders get warning 399 "will not be placed at the exchange until ... 09:30"), and a GTC
SELL STP with ``outsideRth=True`` got warning 2109 "Outside Regular Trading Hours attribute
ignored" in the pre-market (a user's paper report; ib-orders R8). So in the pre-market the
trader must read "stop: regular hours only", not a reassuring "stop 98.00 working".

The sentences are what the positions view prints, so they use the leg names of
``cancels.LEG_NAMES`` and say the number that matters: "stop 418.33", "time stop in 2:41",
"trail armed at 440.21" (its activation level), "trailing: stop 437.90" (IB's live trailing
stop). A time stop that the ignition cancelled is gone from IB, so :func:`skipped_time_stop`
says what happened to it: "time stop skipped: ignited at 441.02".

Pure: the OrderManager gathers the facts of each leg and the session (market_hours) and
asks. :data:`ACTS_OUTSIDE_RTH` is the one place that says which order types IB lets act
outside regular hours; rows without public evidence are marked, and ``sigma9 paper-check``
is where they are confirmed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from backend.core.cancels import LEG_NAMES
from backend.core.market_hours import Session
from backend.core.models import LegRole, OrderRecord, OrderStatus, OrderType

ACTS_OUTSIDE_RTH: dict[OrderType, bool] = {
    OrderType.MARKET: False,      # IB resets outsideRth on MKT (ib_insync #141), 399
    OrderType.STOP: False,        # 2109 "attribute ignored" on a pre-market STP (R8 report)
    OrderType.TRAIL: False,       # no public evidence either way: paper-check must confirm
    OrderType.LIMIT: True,        # the order type IB's outsideRth is documented for
    OrderType.STOP_LIMIT: True,   # no public evidence: paper-check must confirm
}
"""Whether a leg of this type, sent with ``outsideRth=True``, can act in extended hours."""


@dataclass(frozen=True)
class LegFacts:
    """What the OMS knows about one live exit leg."""

    order_id: str
    role: LegRole
    order_type: OrderType
    outside_rth: bool = False
    waits_for_parent: bool = False
    """Attached to an entry that has not filled: IB holds it (whyHeld ``child``/``trigger``)."""
    stop_price: Decimal | None = None
    """STP: the stop; TRAIL: the trailing stop IB reported once it moved (None before)."""
    trail_amount: Decimal | None = None
    activation_price: Decimal | None = None
    """TRAIL: the level that activates it; time stop: the level that cancels it."""
    activated: bool = False
    """TRAIL: the activation level has traded (the OMS saw it, or IB moved the stop)."""
    good_after: datetime | None = None
    """Time stop: the goodAfterTime before which it is asleep."""
    due: bool = False
    """Time stop: the goodAfterTime has passed."""
    seconds_left: float | None = None
    """Time stop: seconds until the goodAfterTime (None when it is not known)."""


@dataclass(frozen=True)
class LegActivity:
    order_id: str
    role: LegRole
    can_act_now: bool
    sentence: str


def _name(leg: LegFacts) -> str:
    if leg.role is LegRole.MANUAL:
        return {OrderType.STOP: "stop", OrderType.TRAIL: "trail"}.get(leg.order_type, "order")
    return LEG_NAMES[leg.role]


def _price(value: Decimal | None) -> str:
    """On the US equity tick (a cent from $1.00 up): what the trader compares with the tape."""
    if value is None:
        return "?"
    places = 2 if abs(value) >= 1 else 4
    return f"{value:.{places}f}"


def countdown(seconds: float) -> str:
    """``2:41``, ``1:02:03``: time left as a clock reads, never negative."""
    whole = max(int(seconds), 0)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def describe_leg(leg: LegFacts, session: Session) -> LegActivity:
    """The sentence for ``leg`` in ``session``; checks in the order IB would hold the leg."""
    name = _name(leg)

    def said(can_act: bool, sentence: str) -> LegActivity:
        return LegActivity(leg.order_id, leg.role, can_act, sentence)

    if leg.waits_for_parent:
        return said(False, f"{name}: waits for the entry to fill")
    if session is Session.CLOSED:
        return said(False, f"{name}: market closed, acts from the regular open")
    if session.is_extended and not (leg.outside_rth and ACTS_OUTSIDE_RTH[leg.order_type]):
        return said(False, f"{name}: regular hours only")
    if leg.role is LegRole.TIME_STOP:
        if leg.due:
            return said(True, f"{name} due: sells at market")
        if leg.seconds_left is None:
            return said(False, f"{name} waits for its time")
        return said(False, f"{name} in {countdown(leg.seconds_left)}")
    if leg.order_type is OrderType.TRAIL:
        if leg.activation_price is not None and not leg.activated:
            return said(False, f"{name} armed at {_price(leg.activation_price)}")
        if leg.stop_price is None and leg.trail_amount is not None:
            return said(True, f"trailing: {_price(leg.trail_amount)} under the high")
        return said(True, f"trailing: stop {_price(leg.stop_price)}")
    if leg.order_type in (OrderType.STOP, OrderType.STOP_LIMIT):
        return said(True, f"{name} {_price(leg.stop_price)}")
    return said(True, f"{name} working")


def skipped_time_stop(legs: Sequence[OrderRecord],
                      plans: Mapping[str, Mapping[str, Any]]) -> LegActivity | None:
    """The sentence for a trade's time stop that its own condition cancelled, else None.

    ``legs`` are one trade's exit legs (every state). IB's 202 for a cancel carries an empty
    reason (``sim/cancels.py``: ``api_bracket_place_aapl``), so the cause is inferred: a
    client cancel of one OCA member cancels the whole group, a system cancel of one member
    does not (ib-orders R4), so a cancelled time stop whose siblings still work was
    cancelled by the system, and the only thing that cancels it is its price condition
    (``conditionsCancelOrder``): the ignition traded.
    """
    time_stops = [r for r in legs if r.role is LegRole.TIME_STOP
                  and r.status is OrderStatus.CANCELLED]
    siblings_live = any(r.role in (LegRole.SAFETY_STOP, LegRole.PROFIT_HARVESTER)
                        and not r.status.is_final and r.status is not OrderStatus.INACTIVE
                        for r in legs)
    if not time_stops or not siblings_live:
        return None
    leg = time_stops[-1]
    level = plans.get(leg.order_id, {}).get("activation")
    where = f" at {_price(Decimal(str(level)))}" if level else ""
    return LegActivity(leg.order_id, leg.role, False,
                       f"{LEG_NAMES[LegRole.TIME_STOP]} skipped: ignited{where}")


def parse_ib_utc(text: str) -> datetime | None:
    """``YYYYMMDD HH:MM:SS UTC`` (what ``exit_plan.ib_time`` sends) as an aware datetime."""
    if not text or not text.endswith(" UTC"):
        return None
    try:
        return datetime.strptime(text[:-4], "%Y%m%d %H:%M:%S").replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def leg_facts(record: OrderRecord, plan: Mapping[str, Any], waits_for_parent: bool,
              seen_activated: bool, now: datetime) -> LegFacts:
    """The facts of a live leg from its record and what was sent (``legs_sent`` plan).

    A trail counts as activated once the OMS saw its level trade, or once IB reports a
    trailing stop above the initial one (activation - amount): it only moves once active.
    Until IB reports it moving, the trail's stop is not shown (IB need not send an update
    each time it ratchets; no public evidence either way).
    """
    activation = Decimal(plan["activation"]) if plan.get("activation") else None
    good_after = parse_ib_utc(plan.get("good_after_time", ""))
    moved = (record.order_type is OrderType.TRAIL and activation is not None
             and record.stop_price is not None and record.trail_amount is not None
             and record.stop_price > activation - record.trail_amount)
    is_trail = record.order_type is OrderType.TRAIL
    stop = record.stop_price if not is_trail or moved or activation is None else None
    return LegFacts(order_id=record.order_id, role=record.role, order_type=record.order_type,
                    outside_rth=bool(plan.get("outside_rth", False)),
                    waits_for_parent=waits_for_parent, stop_price=stop,
                    trail_amount=record.trail_amount,
                    activation_price=activation, activated=seen_activated or moved,
                    good_after=good_after, due=good_after is not None and now >= good_after,
                    seconds_left=((good_after - now).total_seconds()
                                  if good_after is not None else None))
