"""What the OrderManager reads from outside itself: the broker port, and the journal at start.

Kept apart from ``order_manager`` so the manager's own module holds its rules, not its
plumbing. ``BrokerPort`` is the narrow interface the connector implements (and the only one
the OMS may call); the two readers rebuild what the journal remembers across restarts.
"""

from __future__ import annotations

from typing import Any, Protocol

from backend.core.journal import Journal
from backend.core.models import ContractInfo, FillRecord, OrderIntent, OrderRecord, Position
from backend.core.signal import Signal


class BrokerPort(Protocol):
    account: str

    def is_connected(self) -> bool: ...
    async def contract_info(self, symbol: str) -> ContractInfo: ...
    async def place_chain(self, parent: OrderIntent | None,
                          children: list[OrderIntent]) -> list[str]: ...
    def cancel_order(self, order_id: str) -> None: ...
    def cancel_order_id(self, order_id: str) -> None: ...  # one this session may not know
    def cancel_all_orders(self) -> None: ...
    def get_all_orders(self) -> list[OrderRecord]: ...
    def get_positions(self) -> list[Position]: ...
    def get_executions(self) -> list[FillRecord]: ...
    async def place_market_order(self, symbol: str, qty: int, action: str,
                                 order_ref: str = "") -> str: ...



def accepted_signals(journal: Journal) -> dict[str, Signal]:
    """Signals that produced entries: their reference and ATR price re-protection and the
    market entry's trail after a restart."""
    signals = {}
    for row in journal.signals():
        if row["outcome"] == "accepted":
            signals[row["signal_id"]] = Signal(
                id=row["signal_id"], symbol=row["symbol"], action=row["action"],
                reference_price=row["reference_price"], atr=row["atr"],
                timestamp=row["timestamp"], reason=row["reason"], score=row["score"])
    return signals


def leg_plans(journal: Journal) -> dict[str, dict[str, Any]]:
    """Per order id, what was sent beyond the OrderRecord (journal events ``legs_sent``)."""
    return {leg["order_id"]: leg for event in journal.events("legs_sent")
            for leg in event["payload"]["legs"]}
