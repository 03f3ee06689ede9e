"""IB codes that name one of Sigma9's orders: the connector's side of ``ib_codes``.

Split from ``connector`` because this is where ib_insync's own reading of a code is
corrected. ib_insync marks an order Cancelled locally on any code outside its short warning
set, and tells listeners before the code itself arrives (``wrapper.error``; ib_insync #328,
#502): 10349 "Order TIF was set to DAY based on order preset" would look like a lost stop
(ib_async #191, #217). Here only a rejection is allowed to end an order; every other code
leaves the order as IB last reported it, and an unknown code (or a refused cancel) is
followed by a re-read of the order from the broker, whose answer feeds the normal status
path. Nothing here flattens, cancels or re-protects: that is the OrderManager's, and it
decides from statuses only.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from backend.broker import ib_codes
from backend.core.models import OrderRecord

if TYPE_CHECKING:
    from ib_insync import Trade

    from backend.broker.connector import IBKRConnector

log = logging.getLogger("sigma9.broker")


class OrderCodes:
    def __init__(self, connector: IBKRConnector) -> None:
        self.connector = connector
        self.open_orders_lock = asyncio.Lock()
        """ib_insync keys reqOpenOrders/reqCompletedOrders by name, so a second request in
        flight orphans the first one's future: one such request at a time."""

    # -- ib_insync's local cancel ----------------------------------------------------------
    def undo_local_cancel(self, trade: Trade) -> bool:
        """True when ``trade`` was marked Cancelled by ib_insync for a code that does not end
        an order; its status goes back to what IB last said and nothing is emitted.

        The log keeps the code, so the order's record shows why it was touched.
        """
        last = trade.log[-1] if trade.log else None
        if (last is None or trade.orderStatus.status != "Cancelled" or last.status != "Cancelled"
                or not last.errorCode or ib_codes.ends_order(last.errorCode)):
            return False
        before = trade.log[-2].status if len(trade.log) > 1 else "PendingSubmit"
        trade.orderStatus.status = before
        from ib_insync import TradeLogEntry

        trade.log[-1] = TradeLogEntry(last.time, before,
                                      f"IB {last.errorCode}: the order keeps working",
                                      last.errorCode)
        log.info("order %s: IB %s does not end the order; ib_insync's local cancel undone",
                 trade.order.orderId, last.errorCode)
        return True

    # -- deciding by the table ---------------------------------------------------------------
    def on_order_code(self, trade: Trade, rule: ib_codes.CodeRule, text: str) -> None:
        c = self.connector
        order_id, code, action = str(trade.order.orderId), rule.code, rule.action
        if action is ib_codes.OrderAction.END:
            c.order_error.emit(order_id, f"IB error {code}: {text}")
            return
        c.broker_message.emit(code, f"order {order_id}: {text}")
        if rule.klass is ib_codes.CodeClass.UNKNOWN:
            log.warning("order %s: IB code %s is not in the code table (%s); re-reading the "
                        "order from the broker before anything is decided", order_id, code,
                        text)
            c.order_unknown_code.emit(order_id, code, text)
        elif action is not ib_codes.OrderAction.CONFIRM:
            c.order_warning.emit(order_id, code, text)
        if action is ib_codes.OrderAction.REREAD:
            c._spawn(self._reread_after(order_id, code))

    async def _reread_after(self, order_id: str, code: int) -> None:
        record = await self.reread(order_id)
        state = record.broker_status if record else "not found at the broker"
        self.connector.broker_message.emit(
            code, f"order {order_id} re-read from the broker after IB {code}: {state}")

    # -- the broker's word -------------------------------------------------------------------
    async def reread(self, order_id: str) -> OrderRecord | None:
        """Ask the broker for ``order_id``'s state; emit it on ``order_status`` and return it.

        Open orders are asked first; an order no longer open is looked up among the
        completed orders by permId (IB's completed orders carry no orderId). None when the
        broker knows neither (the local view is then left as it is, and logged).
        """
        c = self.connector
        c._require_connection()
        trade = c._trade(order_id)
        if trade is None:
            return None
        perm = trade.order.permId
        async with self.open_orders_lock:
            open_now = await asyncio.wait_for(c.ib.reqOpenOrdersAsync(), c.timeout)
            if not any(t is trade or (perm and t.order.permId == perm) for t in open_now):
                completed = await asyncio.wait_for(
                    c.ib.reqCompletedOrdersAsync(apiOnly=True), c.timeout)
                done = [t for t in completed if perm and t.order.permId == perm]
                if not done:
                    log.warning("order %s: the broker reports it neither open nor completed",
                                order_id)
                    return None
                trade.orderStatus.status = done[-1].orderStatus.status
        record = c._record(trade)
        c.order_status.emit(record)
        if trade.orderStatus.status in ("Cancelled", "ApiCancelled"):
            c.order_cancelled.emit(record)
        return record
