"""Sigma9's own order, fill and position models: immutable, serialisable, broker-neutral.

Nothing here knows ib_insync. The broker layer translates IB's objects into
these at its boundary, so the OrderManager, the journal and the terminal
all speak one vocabulary. Prices and quantities are ``Decimal``: a stop must
sit exactly on the tick grid and P&L must add up to fills minus commissions.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any


class OrderStatus(enum.Enum):
    """Lifecycle of one order. INACTIVE exists because IB parks rejected/held orders there."""

    PENDING = "PENDING"
    PARTIAL_FILL = "PARTIAL_FILL"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    ERROR = "ERROR"
    INACTIVE = "INACTIVE"

    @property
    def is_final(self) -> bool:
        return self in (OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.ERROR)


class OrderType(enum.Enum):
    MARKET = "MKT"
    LIMIT = "LMT"
    STOP = "STP"
    STOP_LIMIT = "STP LMT"
    TRAIL = "TRAIL"


class Side(enum.Enum):
    BUY = "BUY"
    SELL = "SELL"


class EntryType(enum.Enum):
    """How a signal's entry is sent (``[entry] type``, docs/oca.md).

    LIMIT: a marketable LMT BUY with all three exits attached in one transmit chain.
    MARKET: a MKT BUY with the stop and time stop attached; the trail follows the fill.
    """

    LIMIT = "limit"
    MARKET = "market"


class LegRole(enum.Enum):
    """What an order is for inside a Sigma9 trade."""

    ENTRY = "entry"
    SAFETY_STOP = "safety_stop"
    TIME_STOP = "time_stop"
    PROFIT_HARVESTER = "profit_harvester"
    MANUAL = "manual"
    FLATTEN = "flatten"


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


class Serialisable:
    """``to_dict`` gives JSON-ready plain data (Decimals as strings, enums as values)."""

    def to_dict(self) -> dict[str, Any]:
        return {name: _plain(getattr(self, name)) for name in _field_names(type(self))}


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    """A dataclass's field names, read once: ``dataclasses.fields`` rebuilds the tuple on
    every call, and every order stored is turned into a dict (issue 12's hot path)."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


@dataclass(frozen=True)
class PriceCondition(Serialisable):
    """Activate (or cancel) an order once the last price crosses ``price``."""

    price: Decimal
    is_more: bool = True


@dataclass(frozen=True)
class OrderIntent(Serialisable):
    """An order Sigma9 wants at the broker, before it has an id. Built by pure builders."""

    role: LegRole
    symbol: str
    side: Side
    quantity: int
    order_type: OrderType
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    trail_amount: Decimal | None = None
    trail_stop_price: Decimal | None = None
    tif: str = "DAY"
    outside_rth: bool = False
    oca_group: str = ""
    oca_type: int = 0
    good_after_time: str = ""
    conditions: tuple[PriceCondition, ...] = ()
    conditions_cancel_order: bool = False
    order_ref: str = ""
    attach_to_parent: bool = False
    """True for legs that ride on the entry (parentId set by the connector)."""


@dataclass(frozen=True)
class OrderRecord(Serialisable):
    """What Sigma9 knows about one order at the broker."""

    order_id: str
    symbol: str
    side: Side
    order_type: OrderType
    quantity: int
    status: OrderStatus = OrderStatus.PENDING
    role: LegRole = LegRole.MANUAL
    filled: int = 0
    avg_fill_price: Decimal | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    trail_amount: Decimal | None = None
    parent_id: str = ""
    oca_group: str = ""
    signal_id: str = ""
    broker_status: str = ""
    message: str = ""
    updated_at: datetime | None = None
    perm_id: int = 0
    """IB's permanent id (0 until IB assigns one). IB's completed orders carry orderId 0, so
    such an order is keyed ``perm-<perm_id>`` (``backend.broker.mapping.order_key``)."""

    @property
    def remaining(self) -> int:
        return max(self.quantity - self.filled, 0)


@dataclass(frozen=True)
class FillRecord(Serialisable):
    """One execution: price, quantity and its commission (once IB reports it)."""

    exec_id: str
    order_id: str
    symbol: str
    side: Side
    quantity: int
    price: Decimal
    time: datetime
    commission: Decimal = Decimal(0)
    realized_pnl: Decimal | None = None


@dataclass(frozen=True)
class Position(Serialisable):
    symbol: str
    quantity: int
    avg_cost: Decimal
    realized_pnl: Decimal = Decimal(0)
    unrealized_pnl: Decimal = Decimal(0)
    commissions: Decimal = Decimal(0)
    market_price: Decimal | None = None
    protected_by: tuple[LegRole, ...] = field(default_factory=tuple)
    """Exit legs live at the broker for this position; empty means unprotected."""


@dataclass(frozen=True)
class ContractInfo(Serialisable):
    """What Sigma9 needs of a qualified contract: its id and tick grid."""

    symbol: str
    con_id: int
    min_tick: Decimal
    exchange: str = "SMART"
    currency: str = "USD"


@dataclass(frozen=True)
class Quote(Serialisable):
    symbol: str
    bid: Decimal | None
    ask: Decimal | None
    last: Decimal | None
    volume: Decimal | None
    time: datetime


@dataclass(frozen=True)
class Bar(Serialisable):
    symbol: str
    time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


class ConnectionState(enum.Enum):
    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    BROKER_LOST = "broker_lost"
    """The socket to TWS is up but TWS lost IB's servers (code 1100)."""
