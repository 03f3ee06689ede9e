"""An OrderManager over a scripted broker port, for unit tests of the core's own rules.

The OMS's broker behaviour is proven over TCP against the simulator (tests/oms); what is
tested with this fake is bookkeeping that needs no broker answer: which events are
published, which status edges are stored, what the portfolio adds up to.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from backend.core.journal import Journal
from backend.core.models import (
    ContractInfo,
    FillRecord,
    LegRole,
    OrderIntent,
    OrderRecord,
    OrderStatus,
    OrderType,
    Position,
    Side,
)
from backend.core.order_manager import OrderManager
from backend.settings import load_settings

NOW = datetime(2026, 12, 2, 15, 0, tzinfo=timezone.utc)
"""A Wednesday, 10:00 US/Eastern: regular hours."""


class FakeBroker:
    """Takes every order, answers nothing by itself; records what the OMS asked."""

    account = "DU123456"

    def __init__(self) -> None:
        self.connected = True
        self.next_id = 100
        self.sent: list[OrderIntent] = []
        self.cancels: list[str] = []
        self.orders: list[OrderRecord] = []
        self.positions: list[Position] = []
        self.executions: list[FillRecord] = []

    def is_connected(self) -> bool:
        return self.connected

    async def contract_info(self, symbol: str) -> ContractInfo:
        return ContractInfo(symbol, 265598, Decimal("0.01"))

    async def place_chain(self, parent, children) -> list[str]:
        intents = ([parent] if parent is not None else []) + list(children)
        self.sent.extend(intents)
        ids = [str(self.next_id + i) for i in range(len(intents))]
        self.next_id += len(intents)
        return ids

    def cancel_order(self, order_id: str) -> None:
        self.cancels.append(order_id)

    def cancel_all_orders(self) -> None:
        self.cancels.append("*")

    def get_all_orders(self) -> list[OrderRecord]:
        return list(self.orders)

    def get_positions(self) -> list[Position]:
        return list(self.positions)

    def get_executions(self) -> list[FillRecord]:
        return list(self.executions)

    async def place_market_order(self, symbol, qty, action, order_ref="") -> str:
        self.next_id += 1
        return str(self.next_id - 1)


@pytest.fixture
def manager(tmp_path: Path, isolated_settings) -> Iterator[OrderManager]:
    settings = load_settings(journal={"path": str(tmp_path / "journal.sqlite3")})
    journal = Journal(settings.journal.path)
    oms = OrderManager(FakeBroker(), journal, settings, now=lambda: NOW)
    yield oms
    oms.close()
    journal.close()


def order(order_id: str = "1", status: OrderStatus = OrderStatus.PENDING, filled: int = 0,
          quantity: int = 100, role: LegRole = LegRole.SAFETY_STOP, side: Side = Side.SELL,
          **changes) -> OrderRecord:
    return OrderRecord(order_id=order_id, symbol="AAPL", side=side,
                       order_type=OrderType.STOP, quantity=quantity, status=status,
                       role=role, filled=filled, stop_price=Decimal("98.00"),
                       signal_id="sig1", updated_at=NOW, **changes)


def fill(exec_id: str, side: Side, quantity: int, price: str, commission: str = "1.00",
         symbol: str = "AAPL", order_id: str = "1", minute: int = 0) -> FillRecord:
    return FillRecord(exec_id=exec_id, order_id=order_id, symbol=symbol, side=side,
                      quantity=quantity, price=Decimal(price),
                      time=NOW.replace(minute=minute), commission=Decimal(commission))
