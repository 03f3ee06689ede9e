"""ExecutionsModel: one row per execution, as the broker reported it.

Keyed by IB's execution id, so a fill reported twice (again after a reconnect, or once
without and once with its commission) updates its row instead of adding a second one.
"""

from __future__ import annotations

from backend.core.models import FillRecord
from frontend.models.columns import (
    CENTER,
    RIGHT,
    Column,
    clock,
    money,
    pnl_colour,
    price,
    quantity,
    side_colour,
)
from frontend.models.table import KeyedTableModel

EXECUTION_COLUMNS: tuple[Column, ...] = (
    Column("time", "Time", clock, CENTER, width=8),
    Column("symbol", "Symbol", width=5),
    Column("side", "Side", align=CENTER, color=side_colour, width=4),
    Column("quantity", "Qty", quantity, RIGHT, width=5),
    Column("price", "Price", price, RIGHT, width=7),
    Column("commission", "Commission", money, RIGHT, width=6),
    Column("realized_pnl", "Realized", money, RIGHT, pnl_colour, width=9,
           tooltip="IB's realized P&L for this execution, net of commissions"),
    Column("order_id", "Order", align=RIGHT, width=6,
           sort=lambda v, r: int(v) if str(v).isdigit() else str(v)),
    Column("exec_id", "Exec id", width=16, stretch=True),
)


class ExecutionsModel(KeyedTableModel):
    columns = EXECUTION_COLUMNS

    def update_fill(self, fill: FillRecord) -> bool:
        return self.upsert(fill.exec_id, {
            "time": fill.time, "symbol": fill.symbol, "side": fill.side,
            "quantity": fill.quantity, "price": fill.price, "commission": fill.commission,
            "realized_pnl": fill.realized_pnl, "order_id": fill.order_id,
            "exec_id": fill.exec_id})
