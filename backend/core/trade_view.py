"""What protection and recovery may read of the OMS, and what they may ask it to do.

Why a narrow interface: protection used to be a mixin reaching into about fifteen attributes
of ``OrderManager`` through a circular import (issue 10). ``Protection`` and ``Recovery`` are
now objects handed a :class:`TradeView` (a read model: orders, fills, a signal's entry and
legs, the position) plus the broker port and :class:`OmsActions` (the few changes they may
make, each going through the OMS's own path: the journal, the status table, the listeners).
``OrderManager`` satisfies ``TradeView`` itself; tests may hand in anything that does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Set
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from backend.core.events import Event
from backend.core.models import FillRecord, OrderIntent, OrderRecord, Position
from backend.core.signal import Signal


class TradeView(Protocol):
    """The OMS's state as protection reads it (never writes it)."""

    @property
    def orders(self) -> Mapping[str, OrderRecord]: ...
    @property
    def fills(self) -> Mapping[str, FillRecord]: ...
    @property
    def signals(self) -> Mapping[str, Signal]: ...
    @property
    def leg_plans(self) -> Mapping[str, Mapping[str, Any]]: ...
    @property
    def activated_trails(self) -> Set[str]: ...
    @property
    def broker_positions(self) -> Mapping[str, Position]: ...
    @property
    def marks(self) -> Mapping[str, Decimal]: ...

    def now(self) -> datetime: ...
    def entry_of(self, signal_id: str) -> OrderRecord | None: ...
    def legs_of(self, signal_id: str) -> list[OrderRecord]: ...
    def trade_orders(self, signal_id: str) -> list[OrderRecord]: ...
    def position_quantity(self, symbol: str) -> int: ...
    def open_sells(self, symbol: str) -> Iterable[OrderRecord]: ...


@dataclass(frozen=True)
class OmsActions:
    """The changes protection may make to the OMS, each through the OMS's own path."""

    publish: Callable[[Event], None]
    """A declared event (``events``): journalled and shown like any OMS event."""
    spawn: Callable[[Coroutine[Any, Any, Any], str], None]
    """Run a coroutine under the OMS's task supervisor (named, failures shown)."""
    remember_sent: Callable[[list[OrderIntent], list[str], str], None]
    """Book orders just sent (records and ``legs_sent`` plans)."""
    store: Callable[[OrderRecord], object]
    """Apply a status change of a known order (checked by the transition table)."""
    record_outcome: Callable[[str, str, str], None]
    """``(signal_id, outcome, reason)`` into the journal's signals table."""
    call_later: Callable[[float, Callable[[], None], str], asyncio.TimerHandle]
    """``call_later(delay, fn, name)``: a named timer of the OMS's task supervisor."""
    wait_for: Callable[[Callable[[], bool], float], Awaitable[bool]]
    """``wait_for(predicate, timeout)``: True once the OMS's state satisfies it (checked on
    every stored change), False after ``timeout`` seconds."""
    note: Callable[[str, dict[str, Any]], None]
    """``note(kind, payload)``: a journal record of OMS bookkeeping (not an event shown)."""
    apply_fill: Callable[[FillRecord], None]
    apply_positions: Callable[[list[Position]], None]
