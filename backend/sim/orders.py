"""A working order inside the simulated broker, and the records it produces."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from backend.sim.models import Instrument, OrderSpec

DONE_STATUSES = frozenset({"Filled", "Cancelled", "ApiCancelled", "Inactive"})
STOP_TYPES = frozenset({"STP", "STP LMT", "TRAIL", "TRAIL LIMIT"})
"""Held with whyHeld ``trigger`` until their stop fires (``api_order_type_matrix_aapl``,
``api_order_trailing_cancel_aapl``); as untriggered bracket children ``child,trigger``
(``api_bracket_place_aapl``)."""


@dataclass
class WorkingOrder:
    spec: OrderSpec
    client_id: int
    perm_id: int
    instrument: Instrument
    seq: int
    placed_at: float
    status: str = "PendingSubmit"
    why_held: str = ""
    held_by: str | None = None
    """Why the order cannot execute yet: 'parent', 'good_after_time', 'conditions' or None."""
    buffered: bool = False
    """transmit=False: known to the server but not yet released."""
    discarded: bool = False
    """Known to TWS but never submitted: refused with 387, or the parent of a chain refused
    with 328. A later cancel reports it "Order was discarded." (``api_order_type_matrix_aapl``,
    ``api_bracket_trailing_stop_aapl``)."""
    observers: set[int] = field(default_factory=set)
    """Other clients that cancelled this order: they get its reports too, with their own
    clientId in orderStatus (``api_cross_client_cancel_aapl``, April 2026)."""
    entry_warnings: list[tuple[int, str]] = field(default_factory=list)
    """Warnings TWS adds to the accepted order, sent after its first echo (2174)."""
    fresh: bool = False
    """Released and echoed PreSubmitted, not yet through a matching pass (``Broker.evaluate``
    then reports Submitted, or the execution)."""
    oca_echo: str | None = None
    """The ocaGroup openOrder reports instead of the client's, while TWS shows its own
    bracket number for a custom group under an unfilled parent (ib_insync #606)."""
    filled: Decimal = Decimal(0)
    avg_fill_price: Decimal = Decimal(0)
    last_fill_price: Decimal = Decimal(0)
    commission: Decimal = Decimal(0)
    """Charged so far over all executions: IB's minimum applies once per order."""
    triggered: bool = False
    resting: bool = False
    """A limit (or triggered stop limit) was unmarketable on a pass: it is on the book, and
    from then on trades at its limit price (see ``matching``)."""
    trail_stop: Decimal | None = None
    conditions_done: bool = False
    """Activation conditions were met once; TWS does not re-hold the order afterwards."""
    conditions_met_at: float | None = None
    """When they were met: a GTC order not executed that day waits for them again
    (``sessions.SessionRules.conditions_lapsed``)."""
    completed_time: float | None = None
    completed_status: str = ""
    warning: str = ""

    @property
    def key(self) -> tuple[int, int]:
        return (self.client_id, self.spec.order_id)

    @property
    def order_id(self) -> int:
        return self.spec.order_id

    @property
    def remaining(self) -> Decimal:
        return max(self.spec.total_qty - self.filled, Decimal(0))

    @property
    def done(self) -> bool:
        return self.status in DONE_STATUSES

    @property
    def live(self) -> bool:
        return not self.done and not self.buffered and not self.discarded

    def apply_fill(self, qty: Decimal, price: Decimal) -> None:
        total = self.avg_fill_price * self.filled + price * qty
        self.filled += qty
        self.avg_fill_price = total / self.filled
        self.last_fill_price = price

    def snapshot(self) -> dict[str, object]:
        """Plain data for tests and the control API."""
        spec = self.spec
        return {
            "client_id": self.client_id, "order_id": spec.order_id, "perm_id": self.perm_id,
            "symbol": self.instrument.symbol, "action": spec.action, "order_type": spec.order_type,
            "total_qty": spec.total_qty, "filled": self.filled, "remaining": self.remaining,
            "lmt_price": spec.lmt_price, "aux_price": spec.aux_price,
            "trail_stop": self.trail_stop, "trailing_percent": spec.trailing_percent,
            "status": self.status, "why_held": self.why_held, "held_by": self.held_by,
            "parent_id": spec.parent_id, "oca_group": spec.oca_group, "oca_type": spec.oca_type,
            "tif": spec.tif, "good_after_time": spec.good_after_time,
            "conditions": len(spec.conditions), "triggered": self.triggered,
            "resting": self.resting,
            "avg_fill_price": self.avg_fill_price, "buffered": self.buffered,
            "commission": self.commission,
            "account": spec.account, "order_ref": spec.order_ref,
            "discarded": self.discarded, "completed_status": self.completed_status,
            "oca_echo": self.oca_echo, "hedge_type": spec.hedge_type,
            "algo_strategy": spec.algo_strategy,
        }


@dataclass(frozen=True)
class ExecutionRecord:
    exec_id: str
    client_id: int
    order_id: int
    perm_id: int
    instrument: Instrument
    side: str  # "BOT" / "SLD"
    shares: Decimal
    price: Decimal
    time: float
    cum_qty: Decimal
    avg_price: Decimal
    order_ref: str
    account: str
    commission: Decimal
    realized: Decimal | None
    extra: dict[str, object] = field(default_factory=dict, compare=False)

    def snapshot(self) -> dict[str, object]:
        return {
            "exec_id": self.exec_id, "client_id": self.client_id, "order_id": self.order_id,
            "perm_id": self.perm_id, "symbol": self.instrument.symbol, "side": self.side,
            "shares": self.shares, "price": self.price, "time": self.time,
            "commission": self.commission, "realized": self.realized,
        }
