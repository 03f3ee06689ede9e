"""The OMS's events, declared: one frozen dataclass per thing that happened.

Why declared types and not ``(kind, dict)`` pairs: a subscriber matches on a class, the type
checker knows every field, and one place (this module) documents what the OrderManager can
say. The terminal (``frontend/feed.py``), headless mode and the journal consume the same
objects; each is published ONCE (``OrderManager.publish``): journalled first if its class
says so, then handed to every subscriber.

Each class carries, as class attributes, its ``kind`` (the journal's event kind and the
legacy listener's first argument) and whether it is ``journalled``. ``to_dict()`` is the
journal payload and the legacy ``listeners`` payload: plain data (Decimals as strings, enums
as values), with optional fields left out when unset, exactly the dicts published before the
events were declared.

``event_from_legacy(kind, payload)`` builds the declared event from a legacy
``publish(kind, **payload)`` call, so code not yet moved over keeps working.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any, ClassVar

from backend.core.models import FillRecord, LegRole, OrderRecord, Position
from backend.core.models import _plain as plain

log = logging.getLogger("sigma9.events")
__all__ = [
    "OMS_EVENTS", "Alert", "EntryTimedOut", "Event", "Fanout", "FillReceived", "Flattened",
    "LegRejected", "Listener", "OrderLost", "OrderUpdated", "PositionsChanged", "Reprotected",
    "SignalRefusal", "Slippage", "Subscriber", "TrailSent", "event_from_legacy",
]


@dataclass(frozen=True)
class Event:
    """Base of every declared event: ``kind``, ``journalled`` and the plain ``to_dict``."""

    kind: ClassVar[str] = "event"
    journalled: ClassVar[bool] = False

    def to_dict(self) -> dict[str, Any]:
        """The payload as plain data; a field left at None is omitted (it was never said)."""
        return {f.name: plain(getattr(self, f.name)) for f in fields(self)
                if getattr(self, f.name) is not None}

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Event:
        """The event from a legacy payload (keyword arguments of ``publish(kind, ...)``)."""
        return cls(**payload)


# -- the books: not journalled (orders and fills have their own tables) ---------------------
@dataclass(frozen=True)
class OrderUpdated(Event):
    """An order's record was stored (a status change, a fill count, a note from IB)."""

    kind: ClassVar[str] = "order"
    order: OrderRecord

    def to_dict(self) -> dict[str, Any]:
        return {"order": self.order.to_dict()}


@dataclass(frozen=True)
class FillReceived(Event):
    """An execution (or its commission report) arrived and was journalled."""

    kind: ClassVar[str] = "fill"
    fill: FillRecord

    def to_dict(self) -> dict[str, Any]:
        return {"fill": self.fill.to_dict()}


@dataclass(frozen=True)
class PositionsChanged(Event):
    """The broker reported positions; ``positions`` is the OMS's view after applying them."""

    kind: ClassVar[str] = "positions"
    positions: tuple[Position, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"positions": [p.to_dict() for p in self.positions]}


# -- decisions and escalations: journalled ---------------------------------------------------
@dataclass(frozen=True)
class SignalRefusal(Event):
    """A signal made no entry (the event of ``SignalRefused``; published once, by the OMS)."""

    kind: ClassVar[str] = "refused"
    journalled: ClassVar[bool] = True
    signal_id: str
    symbol: str
    reason: str
    code: str = "refused"


@dataclass(frozen=True)
class Alert(Event):
    """Something the trader must see now (a naked position, a task failed, a refused edge)."""

    kind: ClassVar[str] = "alert"
    journalled: ClassVar[bool] = True
    message: str
    symbol: str | None = None
    order_id: str | None = None


@dataclass(frozen=True)
class LegRejected(Event):
    """An order of a trade failed at the broker (error or Inactive); the rule follows."""

    kind: ClassVar[str] = "leg_rejected"
    journalled: ClassVar[bool] = True
    order_id: str
    role: LegRole
    symbol: str
    reason: str

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Event:
        return cls(**{**payload, "role": LegRole(payload["role"])})


@dataclass(frozen=True)
class Reprotected(Event):
    """A position got a fresh exit group (after a failed leg, or found naked)."""

    kind: ClassVar[str] = "reprotected"
    journalled: ClassVar[bool] = True
    symbol: str
    order_ids: tuple[str, ...]
    reason: str

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Event:
        return cls(**{**payload, "order_ids": tuple(payload["order_ids"])})


@dataclass(frozen=True)
class Flattened(Event):
    """Shares were sold at market: one position (``symbol``, ``quantity``, ``order_id``) or
    every position at once (``symbols``, ``order_ids``: flatten all)."""

    kind: ClassVar[str] = "flattened"
    journalled: ClassVar[bool] = True
    symbol: str | None = None
    quantity: int | None = None
    order_id: str | None = None
    symbols: tuple[str, ...] | None = None
    order_ids: tuple[str, ...] | None = None
    reason: str = ""

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Event:
        tuples = {k: tuple(payload[k]) for k in ("symbols", "order_ids")
                  if payload.get(k) is not None}
        return cls(**{**payload, **tuples})


@dataclass(frozen=True)
class Slippage(Event):
    """An entry's first fill against the signal's reference price."""

    kind: ClassVar[str] = "slippage"
    journalled: ClassVar[bool] = True
    signal_id: str
    symbol: str
    reference: Decimal
    fill: Decimal
    slippage: Decimal

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Event:
        money = {k: Decimal(str(payload[k])) for k in ("reference", "fill", "slippage")}
        return cls(**{**payload, **money})


@dataclass(frozen=True)
class TrailSent(Event):
    """A market entry's trail, sent after its fill (docs/oca.md)."""

    kind: ClassVar[str] = "trail_sent"
    journalled: ClassVar[bool] = True
    signal_id: str
    symbol: str
    order_id: str
    quantity: int
    avg_fill: Decimal

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Event:
        return cls(**{**payload, "avg_fill": Decimal(str(payload["avg_fill"]))})


@dataclass(frozen=True)
class EntryTimedOut(Event):
    """An entry not filled within ``[entry] timeout_s``: its cancel was sent."""

    kind: ClassVar[str] = "entry_timeout"
    journalled: ClassVar[bool] = True
    signal_id: str
    order_id: str
    symbol: str
    filled: int


@dataclass(frozen=True)
class OrderLost(Event):
    """An order the journal holds as sent but the broker does not know after recovery: marked
    lost, its symbol unblocked (issue 10, recovery rules)."""

    kind: ClassVar[str] = "order_lost"
    journalled: ClassVar[bool] = True
    order_id: str
    symbol: str
    signal_id: str
    reason: str


OMS_EVENTS: dict[str, type[Event]] = {cls.kind: cls for cls in (
    OrderUpdated, FillReceived, PositionsChanged, SignalRefusal, Alert, LegRejected,
    Reprotected, Flattened, Slippage, TrailSent, EntryTimedOut, OrderLost)}
"""Every OMS event class by its kind: the table ``event_from_legacy`` reads."""


def event_from_legacy(kind: str, payload: dict[str, Any],
                      table: dict[str, type[Event]] = OMS_EVENTS) -> Event:
    """The declared event for a legacy ``publish(kind, **payload)``; unknown kinds raise
    ValueError naming the kind (a typo must not become a silent new event)."""
    cls = table.get(kind)
    if cls is None:
        raise ValueError(f"unknown event kind {kind!r} (declared: {', '.join(sorted(table))})")
    return cls.from_payload(payload)


Subscriber = Callable[[Event], None]
Listener = Callable[[str, dict[str, Any]], None]
"""The legacy listener, ``fn(kind, payload)``: the event's ``kind`` and ``to_dict()``."""


class Fanout:
    """Hands each event to the subscribers, then to the legacy listeners; one failing
    callback is logged and never keeps the event from the others (or from the caller)."""

    def __init__(self) -> None:
        self.subscribers: list[Subscriber] = []
        self.listeners: list[Listener] = []

    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        """Call ``fn(event)`` for every event from now on; returns the unsubscribe call."""
        self.subscribers.append(fn)
        return lambda: self.unsubscribe(fn)

    def unsubscribe(self, fn: Subscriber) -> None:
        if fn in self.subscribers:
            self.subscribers.remove(fn)

    def deliver(self, event: Event) -> None:
        for fn in list(self.subscribers):
            try:
                fn(event)
            except Exception:
                log.exception("subscriber failed on %s", event.kind)
        if not self.listeners:
            return
        legacy = event.to_dict()
        for listener in list(self.listeners):
            try:
                listener(event.kind, legacy)
            except Exception:
                log.exception("listener failed on %s", event.kind)
