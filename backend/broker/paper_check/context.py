"""One paper-check run's handle on the broker: send, wait, cancel, flatten, within a budget.

Every order the check sends goes through :meth:`Context.send`, which remembers it, so the
end of the run can cancel whatever is still open and prove nothing of the check's own is
left. It never uses a global cancel: that would also cancel the trader's own orders.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from ib_insync import IB, Contract, Order

from backend.broker.paper_check import orders
from backend.broker.paper_check.observe import WORKING_STATUSES, OrderSeen, ServerLog, wait_for
from backend.core.market_hours import Session

BUDGET_S = 110.0
"""The whole run, connection to report: the issue asks for under two minutes."""
CLEANUP_RESERVE_S = 15.0
"""Kept back from the probes so the final cancel and flatten always get their time."""


@dataclass
class Context:
    ib: IB
    log: ServerLog
    contract: Contract
    pricing: orders.Pricing
    run_id: str
    now: Callable[[], datetime]
    session: Session
    timeout: float = 10.0
    """Longest wait for one answer from IB."""
    settle: float = 1.0
    """How long an absence is watched for ("nothing else happened")."""
    started: float = field(default_factory=time.monotonic)
    budget_s: float = BUDGET_S
    sent: dict[int, Order] = field(default_factory=dict)
    start_position: Decimal = Decimal(0)

    # -- time ----------------------------------------------------------------------------
    def left(self, reserve: float = CLEANUP_RESERVE_S) -> float:
        return self.budget_s - reserve - (time.monotonic() - self.started)

    def out_of_time(self) -> bool:
        return self.left() <= 0

    async def until(self, predicate: Callable[[], object], timeout: float | None = None,
                    reserve: float = CLEANUP_RESERVE_S) -> bool:
        limit = max(min(timeout if timeout is not None else self.timeout, self.left(reserve)), 0)
        return await wait_for(predicate, limit)

    async def watch(self, seconds: float | None = None) -> None:
        """Let IB answer for ``settle`` seconds (to see that nothing else arrives)."""
        await wait_for(lambda: False, min(seconds or self.settle, max(self.left(), 0)))

    # -- orders --------------------------------------------------------------------------
    def signal_id(self, probe: str) -> str:
        return f"{self.run_id}-{probe}"

    def ids(self, count: int) -> list[int]:
        return [self.ib.client.getReqId() for _ in range(count)]

    def send(self, order_list: Iterable[Order]) -> list[int]:
        order_list = list(order_list)
        ids = [o.orderId for o in order_list]
        self.log.expect(ids)
        for order in order_list:
            self.sent[order.orderId] = order
            self.ib.placeOrder(self.contract, order)
        return ids

    def seen(self, order_id: int) -> OrderSeen:
        return self.log.seen(order_id)

    def answered(self, ids: Iterable[int]) -> bool:
        """Every order has a status past PendingSubmit, or one of them got an error."""
        seen = [self.seen(i) for i in ids]
        return any(s.errors for s in seen) or all(
            s.status in WORKING_STATUSES or s.done for s in seen)

    async def settled(self, ids: list[int]) -> bool:
        return await self.until(lambda: self.answered(ids))

    async def cancel(self, ids: Iterable[int], reserve: float = CLEANUP_RESERVE_S) -> bool:
        """Cancel those not done yet and wait until IB confirms every one ended."""
        ids = list(ids)
        for order_id in ids:
            if not self.seen(order_id).done:
                self.ib.cancelOrder(self.sent[order_id])
        return await self.until(lambda: all(self.seen(i).done for i in ids), reserve=reserve)

    def open_ids(self) -> list[int]:
        return [i for i in self.sent if not self.seen(i).done]

    # -- position ------------------------------------------------------------------------
    def position(self) -> Decimal:
        return sum((Decimal(str(p.position)) for p in self.ib.positions(self.pricing.account)
                    if p.contract.conId == self.pricing.con_id), Decimal(0))

    def position_change(self) -> Decimal:
        return self.position() - self.start_position

    async def flatten(self, label: str = "flatten", reserve: float = 0.0) -> Decimal:
        """Trade the account back to its starting position; returns what is still off.

        A flatten order that has not filled in time is cancelled, never left working: the
        row then reports the position that is left.
        """
        change = self.position_change()
        if change == 0:
            return change
        intent = orders.flatten(self.pricing, int(change), self.signal_id(label),
                                regular_hours=self.session.is_regular)
        order_id = self.ids(1)[0]
        self.send([orders.single_order(self.pricing, intent, order_id)])
        await self.until(lambda: self.position_change() == 0 and self.seen(order_id).done,
                         timeout=max(self.timeout, 15.0), reserve=reserve)
        if not self.seen(order_id).done:
            await self.cancel([order_id], reserve=reserve)
        return self.position_change()
