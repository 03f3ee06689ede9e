"""The simulator's own records of contracts, orders and conditions.

Kept free of any client library so that the simulator judges every TWS API
client by the same bytes. Prices and quantities are ``Decimal``: a stop at
``98.00`` must be exactly on the tick grid, not ``97.99999999``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

SUPPORTED_ORDER_TYPES = ("MKT", "LMT", "STP", "STP LMT", "TRAIL", "TRAIL LIMIT", "MIT", "LIT",
                         "MTL", "REL", "MOC", "LOC", "PEG MID")
"""Order types the simulator accepts and works; ``order_types`` says how each one executes
and which live capture shows IB accepting it."""


@dataclass(frozen=True)
class ContractRef:
    """The 12-field contract block of a request, as the client sent it."""

    con_id: int = 0
    symbol: str = ""
    sec_type: str = ""
    last_trade_date: str = ""
    strike: str = ""
    right: str = ""
    multiplier: str = ""
    exchange: str = ""
    primary_exchange: str = ""
    currency: str = ""
    local_symbol: str = ""
    trading_class: str = ""


@dataclass(frozen=True)
class Instrument:
    """A contract the simulated market lists."""

    symbol: str
    con_id: int
    min_tick: Decimal = Decimal("0.01")
    exchange: str = "SMART"
    primary_exchange: str = "NASDAQ"
    currency: str = "USD"
    long_name: str = ""
    sec_type: str = "STK"

    def round_to_tick(self, price: Decimal) -> Decimal:
        ticks = (price / self.min_tick).to_integral_value()
        return ticks * self.min_tick

    def on_grid(self, price: Decimal) -> bool:
        return (price / self.min_tick) == (price / self.min_tick).to_integral_value()


@dataclass(frozen=True)
class Condition:
    """One order condition; ``kind`` 1 price, 3 time, 4 margin, 5 execution, 6 volume, 7 %chg."""

    kind: int
    conjunction: str = "a"
    is_more: bool = True
    value: str = ""
    con_id: int = 0
    exchange: str = ""
    trigger_method: int = 0
    sec_type: str = ""
    symbol: str = ""


@dataclass
class OrderSpec:
    """Everything a placeOrder carried that the simulator acts on or echoes back."""

    order_id: int
    contract: ContractRef
    action: str
    total_qty: Decimal
    order_type: str
    lmt_price: Decimal | None = None
    aux_price: Decimal | None = None
    tif: str = "DAY"
    oca_group: str = ""
    oca_type: int = 0
    account: str = ""
    open_close: str = ""
    origin: int = 0
    order_ref: str = ""
    transmit: bool = True
    parent_id: int = 0
    block_order: bool = False
    sweep_to_fill: bool = False
    display_size: int = 0
    trigger_method: int = 0
    outside_rth: bool = False
    hidden: bool = False
    good_after_time: str = ""
    good_till_date: str = ""
    all_or_none: bool = False
    min_qty: int | None = None
    trail_stop_price: Decimal | None = None
    trailing_percent: Decimal | None = None
    what_if: bool = False
    conditions: list[Condition] = field(default_factory=list)
    conditions_ignore_rth: bool = False
    conditions_cancel_order: bool = False
    adjusted_order_type: str = ""
    trigger_price: Decimal | None = None
    lmt_price_offset: Decimal | None = None
    adjusted_stop_price: Decimal | None = None
    adjusted_trailing_amount: Decimal | None = None
    adjustable_trailing_unit: int = 0
    cash_qty: Decimal | None = None
    auto_cancel_parent: bool = False
    model_code: str = ""
    algo_strategy: str = ""
    algo_params: list[tuple[str, str]] = field(default_factory=list)
    hedge_type: str = ""
    """'D' delta, 'B' beta, 'F' FX, 'P' pair; a hedge child of ``parent_id``."""
    hedge_param: str = ""
