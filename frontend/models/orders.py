"""OrdersModel: every order of the session, exit legs grouped under their entry.

A Sigma9 trade is four orders: the entry and its three OCA exits (stop, time, trail). The
trader must see them as one thing, so each row carries a *group* (the entry's order id) and a
*rank* (entry 0, stop 1, time 2, trail 3). The "Order" column sorts by
``(group, rank, id)`` and shows a leg as ``└ 12`` under its entry, with a "Role" column saying
which leg it is. A leg belongs to the entry named by its ``parent_id``; legs sent later to
re-protect a position carry no parent (they go live at once), so they are grouped by their
signal id instead, which names the entry they protect (``abc~r1`` -> ``abc``).

The model stays flat (a table, not a tree): the proxy sorts and filters it like any other
table, and selections survive updates because rows are keyed by order id.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from backend.core.cancels import plain_reason
from backend.core.exit_plan import base_signal_id
from backend.core.models import LegRole, OrderRecord, OrderStatus
from frontend.models.columns import (
    CENTER,
    RIGHT,
    Column,
    amount,
    clock,
    price,
    quantity,
    role,
    side_colour,
    status_colour,
)
from frontend.models.table import KeyedTableModel

LEG_RANK: dict[LegRole, int] = {
    LegRole.ENTRY: 0,
    LegRole.SAFETY_STOP: 1,
    LegRole.TIME_STOP: 2,
    LegRole.PROFIT_HARVESTER: 3,
}
EXIT_LEGS = frozenset({LegRole.SAFETY_STOP, LegRole.TIME_STOP, LegRole.PROFIT_HARVESTER})
CHILD_MARKER = "└ "


def _number(order_id: str) -> int | str:
    return int(order_id) if order_id.isdigit() else order_id


def order_label(value: Any, row: Mapping[str, Any]) -> str:
    return (CHILD_MARKER if row.get("depth") else "") + str(value)


def order_sort(value: Any, row: Mapping[str, Any]) -> tuple:
    return (row["group"], row["rank"], _number(str(value)))


def status_text(value: Any, row: Mapping[str, Any]) -> str:
    """Sigma9's status, with IB's own word while working (PreSubmitted means 'held')."""
    if value is None:
        return ""
    broker = row.get("broker_status") or ""
    if value in (OrderStatus.PENDING, OrderStatus.PARTIAL_FILL) and broker:
        return f"{value.value} · {broker}"
    return value.value


ORDER_COLUMNS: tuple[Column, ...] = (
    Column("order_id", "Order", order_label, sort=order_sort, width=7,
           tooltip="order id; exit legs are shown as └ under their entry (the parent and "
                   "the OCA group are in each row's tooltip)"),
    Column("role", "Role", role, width=9,
           tooltip="entry, or which exit leg: stop / time stop / trail"),
    Column("symbol", "Symbol", width=5),
    Column("side", "Side", align=CENTER, color=side_colour, width=4),
    Column("order_type", "Type", align=CENTER, width=5),
    Column("quantity", "Qty", quantity, RIGHT, width=5),
    Column("filled", "Filled", quantity, RIGHT, width=5),
    Column("avg_fill_price", "Avg fill", price, RIGHT, width=7),
    Column("limit_price", "Limit", price, RIGHT, width=7),
    Column("stop_price", "Stop", price, RIGHT, width=7,
           tooltip="stop price; for a trail, the trailing stop IB holds now"),
    Column("trail_amount", "Trail", amount, RIGHT, tooltip="trailing amount", width=5),
    Column("status", "Status", status_text, color=status_colour, width=14, stretch=True),
    Column("updated_at", "Time", clock, CENTER, width=8),
)


class OrdersModel(KeyedTableModel):
    columns = ORDER_COLUMNS

    def __init__(self, parent=None, repaint_ms: int = 150) -> None:
        super().__init__(parent, repaint_ms)
        self._entry_by_signal: dict[str, str] = {}
        self._legs_by_signal: dict[str, dict[str, None]] = {}  # base signal id -> leg ids
        self.records: dict[str, OrderRecord] = {}

    def update_order(self, record: OrderRecord) -> bool:
        self.records[record.order_id] = record
        if record.role in EXIT_LEGS and record.signal_id:
            self._legs_by_signal.setdefault(base_signal_id(record.signal_id),
                                            {})[record.order_id] = None
        if record.role is LegRole.ENTRY and record.signal_id:
            known = self._entry_by_signal.get(record.signal_id)
            self._entry_by_signal[record.signal_id] = record.order_id
            if known != record.order_id:
                self._regroup(record.signal_id)
        return self.upsert(record.order_id, self._row(record))

    def _row(self, r: OrderRecord) -> dict[str, Any]:
        group = self._group_of(r)
        return {
            "order_id": r.order_id, "role": r.role, "parent_id": r.parent_id,
            "oca_group": r.oca_group, "symbol": r.symbol, "side": r.side,
            "order_type": r.order_type.value, "quantity": r.quantity, "filled": r.filled,
            "avg_fill_price": r.avg_fill_price, "limit_price": r.limit_price,
            "stop_price": r.stop_price, "trail_amount": r.trail_amount, "status": r.status,
            "broker_status": r.broker_status, "updated_at": r.updated_at,
            "signal_id": r.signal_id, "message": r.message,
            "group": _number(group), "depth": int(group != r.order_id),
            "rank": LEG_RANK.get(r.role, 4),
        }

    def _group_of(self, r: OrderRecord) -> str:
        if r.parent_id and r.parent_id != "0":
            return r.parent_id
        if r.role in EXIT_LEGS and r.signal_id:
            entry = self._entry_by_signal.get(base_signal_id(r.signal_id))
            if entry is not None:
                return entry
        return r.order_id

    def _regroup(self, signal_id: str) -> None:
        """An entry became known after its legs: move them under it (its legs are looked
        up by signal id, not found by a scan of every order: a new entry costs the same at
        10,000 rows as at 10)."""
        for order_id in self._legs_by_signal.get(signal_id, {}):
            record = self.records[order_id]
            if (record.role in EXIT_LEGS and order_id in self.index_of
                    and base_signal_id(record.signal_id) == signal_id):
                self.upsert(order_id, self._row(record))

    def legs_of(self, entry_id: str) -> list[str]:
        """Order ids grouped under ``entry_id`` (its exits), by leg rank."""
        group = _number(entry_id)
        legs = [k for k in self.keys if self.rows[k]["group"] == group and k != entry_id]
        return sorted(legs, key=lambda k: self.rows[k]["rank"])

    def tooltip(self, row: Mapping[str, Any], column: Column) -> str | None:
        """The broker's last word in plain words, and the ids the table leaves out."""
        return order_tooltip(row) or None


def order_tooltip(row: Mapping[str, Any]) -> str:
    lines = []
    reason = plain_reason(row.get("message") or "")
    if reason:
        lines.append(reason)
    if row.get("parent_id") and row.get("parent_id") != "0":
        lines.append(f"attached to order {row['parent_id']}")
    if row.get("oca_group"):
        lines.append(f"OCA group {row['oca_group']}")
    return "\n".join(lines)


def is_working(row: Mapping[str, Any]) -> bool:
    """Proxy predicate for "working orders only"."""
    status = row.get("status")
    return isinstance(status, OrderStatus) and not status.is_final \
        and status is not OrderStatus.INACTIVE
