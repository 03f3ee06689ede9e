"""What the server said about each order: statuses, whyHeld, codes and the echoed order.

Why not read ib_insync's ``Trade`` objects: ib_insync rewrites them locally. On any error
code it does not count as a warning (328 among them) it marks the order Cancelled itself,
although IB sent no such status (ib-orders P8, ib_insync #328/#502), and an ``openOrder``
echo only updates a few fields of the order it already holds. The paper check must report
what IB did, so it listens one step earlier: on the wrapper methods the decoder calls with
the server's fields (``orderStatus``, ``error``, ``openOrder``), and copies what it needs.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ib_insync import IB, Order

from backend.broker import ib_codes

FINAL_STATUSES = frozenset({"Cancelled", "ApiCancelled", "Filled", "Inactive"})
WORKING_STATUSES = frozenset({"PreSubmitted", "Submitted"})
GONE_CODES = frozenset({10147, 10148, 161})
"""Cancel answers for an order that is already gone or was never released."""


@dataclass
class OrderSeen:
    """One order id as the server reported it, in arrival order."""

    statuses: list[tuple[str, str]] = field(default_factory=list)  # (status, whyHeld)
    errors: list[tuple[int, str]] = field(default_factory=list)
    echo: Order | None = None  # the latest openOrder, as IB sent it
    filled: float = 0.0
    avg_fill_price: float = 0.0

    @property
    def status(self) -> str:
        return self.statuses[-1][0] if self.statuses else ""

    @property
    def why_held(self) -> str:
        return self.statuses[-1][1] if self.statuses else ""

    @property
    def codes(self) -> list[int]:
        return [code for code, _ in self.errors]

    def saw(self, status: str) -> bool:
        return any(s == status for s, _ in self.statuses)

    @property
    def working(self) -> bool:
        return self.status in WORKING_STATUSES

    @property
    def done(self) -> bool:
        """Ended at the broker, refused (a code Sigma9's table calls a rejection), or gone
        by the answer to a cancel."""
        return (self.status in FINAL_STATUSES or bool(set(self.codes) & GONE_CODES)
                or any(ib_codes.ends_order(code) for code in self.codes))

    def describe(self) -> str:
        """``PreSubmitted(child,trigger) -> Cancelled; 202`` for the evidence column."""
        steps = [f"{s}({why})" if why else s for s, why in self.statuses]
        text = " -> ".join(dict.fromkeys(steps)) or "no status"
        if self.errors:
            text += "; " + ", ".join(str(code) for code in dict.fromkeys(self.codes))
        return text


class ServerLog:
    """Per order id, what the server sent; attached to one IB client and its client id."""

    def __init__(self, client_id: int) -> None:
        self.client_id = client_id
        self.orders: dict[int, OrderSeen] = {}
        self.unattributed: list[tuple[int, int, str]] = []  # (reqId, code, text)

    @classmethod
    def attach(cls, ib: IB, client_id: int) -> ServerLog:
        log = cls(client_id)
        wrapper = ib.wrapper
        for name in ("orderStatus", "error", "openOrder"):
            original = getattr(wrapper, name)
            setattr(wrapper, name, log._tap(getattr(log, "_on_" + name), original))
        return log

    @staticmethod
    def _tap(record: Callable, original: Callable) -> Callable:
        def tapped(*args, **kwargs):
            record(*args, **kwargs)
            return original(*args, **kwargs)

        return tapped

    def seen(self, order_id: int) -> OrderSeen:
        return self.orders.setdefault(order_id, OrderSeen())

    def _on_orderStatus(self, orderId, status, filled, remaining, avgFillPrice, permId,  # noqa: N802
                        parentId, lastFillPrice, clientId, whyHeld, mktCapPrice=0.0) -> None:
        if clientId not in (self.client_id, 0):
            return
        seen = self.seen(orderId)
        seen.statuses.append((status, whyHeld))
        seen.filled, seen.avg_fill_price = filled, avgFillPrice

    def _on_error(self, reqId, errorCode, errorString, advancedOrderRejectJson="") -> None:  # noqa: N802
        if reqId > 0 and reqId in self.orders:
            self.orders[reqId].errors.append((errorCode, errorString))
        else:
            self.unattributed.append((reqId, errorCode, errorString))

    def _on_openOrder(self, orderId, contract, order, orderState) -> None:  # noqa: N802
        if order.clientId not in (self.client_id, 0) or order.whatIf:
            return
        self.seen(orderId).echo = copy.copy(order)

    def expect(self, order_ids) -> None:
        """Errors for these ids are attributed even before their first status."""
        for order_id in order_ids:
            self.seen(order_id)


async def wait_for(predicate: Callable[[], object], timeout: float) -> bool:
    """Poll ``predicate`` on the running loop (ib_insync's) until true; False on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.02)
