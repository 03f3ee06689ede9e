"""TrailWatch: while a trailing stop is live, re-read the open orders to follow its stop.

Why: the trail's stop moves at IB with the market, and the trader reads it in the Orders
table's Stop cell and the position's "trailing: stop 437.90". No public capture shows IB
pushing an ``openOrder`` each time a trail ratchets, but its answer to ``reqOpenOrders``
lists each open order with its current fields (``api_open_orders_refresh_aapl``), and
``backend.broker.trail_stops`` carries the new ``trailStopPrice`` from there into the
OrderManager's record. So every ``interval_ms``, and only while the OrderManager holds a
live TRAIL order, one re-read is sent (never two at once).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from PyQt6.QtCore import QObject, QTimer

from backend.core.models import OrderStatus, OrderType

log = logging.getLogger("sigma9.ui")
TRAIL_POLL_MS = 2000


def has_live_trail(orders: Any) -> bool:
    return any(r.order_type is OrderType.TRAIL and not r.status.is_final
               and r.status is not OrderStatus.INACTIVE for r in orders)


class TrailWatch(QObject):
    def __init__(self, core: Any, interval_ms: int = TRAIL_POLL_MS,
                 spawn: Callable[[Awaitable[Any]], Any] = asyncio.ensure_future,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.core = core
        self.spawn = spawn
        self._task: Any = None
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.poll)

    def start(self) -> None:
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()
        if self._task is not None and not self._task.done():
            self._task.cancel()

    def poll(self) -> None:
        connector = self.core.connector
        if not connector.is_connected() or not has_live_trail(
                list(self.core.manager.orders.values())):
            return
        if self._task is not None and not self._task.done():
            return
        self._task = self.spawn(self._reread())

    async def _reread(self) -> None:
        try:
            await self.core.connector.refresh_open_orders()
        except Exception as exc:  # a view refresh: the next poll tries again
            log.debug("re-reading open orders for the trail: %s", exc)
