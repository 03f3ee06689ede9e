"""Which live orders protect a long position, and how many shares they cover (pure).

Why its own module: "is this position protected?" decides reconciliation and the rules after
a failed leg, and the answer must not count what cannot act (issue 10, finding 4). Only a
working stop, or a trail whose activation level has traded, protects; a time stop and a
dormant trail do not. The members of one OCA group cover the same shares (ocaType 2 reduces
the others as one fills, ib-orders.md P3), so a group counts its largest member once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from datetime import datetime
from typing import Any, Protocol

from backend.core.cancels import EXIT_ROLES
from backend.core.leg_activity import leg_facts
from backend.core.models import LegRole, OrderRecord, OrderStatus, OrderType, Side

PROTECTIVE_TYPES = frozenset({OrderType.STOP, OrderType.STOP_LIMIT, OrderType.TRAIL})
STOP_TYPES = frozenset({OrderType.STOP, OrderType.STOP_LIMIT})


class TrailFacts(Protocol):
    """What deciding a trail's activation reads (``TradeView`` has it)."""

    @property
    def leg_plans(self) -> Mapping[str, Mapping[str, Any]]: ...
    @property
    def activated_trails(self) -> Set[str]: ...

    def now(self) -> datetime: ...


def ended(record: OrderRecord) -> bool:
    """Not working any more as far as the broker said: final, or parked Inactive."""
    return record.status.is_final or record.status is OrderStatus.INACTIVE


def live_exits(orders: Iterable[OrderRecord], symbol: str) -> list[OrderRecord]:
    """Live SELL orders that close a long: Sigma9's exit legs or any working stop."""
    return [r for r in orders
            if r.symbol == symbol and r.side is Side.SELL and not ended(r)
            and (r.role in EXIT_ROLES or r.order_type in PROTECTIVE_TYPES)]


def trail_active(facts: TrailFacts, record: OrderRecord) -> bool:
    """A trail trails once its activation level traded (seen by the OMS, or IB moved its
    stop); one sent without an activation condition trails at once."""
    plan = facts.leg_plans.get(record.order_id, {})
    if not plan.get("activation"):
        return True
    return leg_facts(record, plan, waits_for_parent=False,
                     seen_activated=record.order_id in facts.activated_trails,
                     now=facts.now()).activated


def protecting(facts: TrailFacts, exits: Iterable[OrderRecord]) -> list[OrderRecord]:
    """Of live exits, those that protect now: working stops and active trails."""
    return [r for r in exits if r.order_type in STOP_TYPES
            or (r.order_type is OrderType.TRAIL and trail_active(facts, r))]


def group_cover(orders: Iterable[OrderRecord]) -> int:
    """Shares ``orders`` may sell: per OCA group its largest remaining, summed over groups."""
    groups: dict[str, int] = {}
    for r in orders:
        key = r.oca_group or r.order_id
        groups[key] = max(groups.get(key, 0), r.remaining)
    return sum(groups.values())


def closing(orders: Iterable[OrderRecord], symbol: str) -> int:
    """Shares that live closing orders (a flatten, a close) of ``symbol`` are selling now."""
    return sum(r.remaining for r in orders
               if r.symbol == symbol and r.side is Side.SELL and r.role is LegRole.FLATTEN
               and not ended(r))
