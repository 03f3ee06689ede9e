"""The official ibapi client that re-sends a capture's requests to the simulator.

It is the ``Recorder`` of ``recorder.py`` plus an ``EClient``, so the simulator's
answers are normalised by the same code that normalises the capture. Several legs
(connections) of one replay write into one shared event list, as a capture does.
Builders turn a capture's normalised order fields back into ibapi objects.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from ibapi.client import EClient
from ibapi.contract import Contract
from ibapi.execution import ExecutionFilter
from ibapi.order import Order
from ibapi.order_cancel import OrderCancel
from ibapi.order_condition import Create as create_condition
from ibapi.tag_value import TagValue

from tests.conformance.recorder import Recorder


class ReplayClient(Recorder, EClient):
    """An ibapi connection whose callbacks land in a shared, waitable event list."""

    def __init__(self, events: list, changed: threading.Condition, leg: int) -> None:
        Recorder.__init__(self)
        EClient.__init__(self, wrapper=self)
        self.events, self.changed, self.leg = events, changed, leg
        self.crash: BaseException | None = None
        self._reader: threading.Thread | None = None

    def add(self, kind: str, oid: int | None, **fields: Any) -> None:
        fields["leg"] = self.leg
        super().add(kind, oid, **fields)

    def start(self, port: int, client_id: int, timeout: float = 5.0) -> None:
        self.connect("127.0.0.1", port, client_id)
        if not self.isConnected():
            raise AssertionError(f"ibapi could not connect as client {client_id}")
        self._reader = threading.Thread(target=self._run, name=f"replay-leg{self.leg}",
                                        daemon=True)
        self._reader.start()
        ok = wait_for(self.changed, lambda: any(
            k == "next_valid_id" and f.get("leg") == self.leg for k, _, f in self.events),
            timeout)
        if not ok:
            raise AssertionError(f"no nextValidId for client {client_id}; crash={self.crash!r}")

    def _run(self) -> None:
        try:
            self.run()
        except BaseException as exc:  # a decoder exception ends ibapi's loop: keep it
            self.crash = exc

    def stop(self) -> None:
        self.disconnect()
        if self._reader is not None:
            self._reader.join(2)

    def send(self, kind: str, order_id: int | None, fields: dict[str, Any]) -> bool:
        """Re-send one capture request; False for requests a replay does not repeat
        (market data, ids, clock): they shape no order's life."""
        if kind == "place_order":
            self.placeOrder(order_id, build_contract(fields["contract"]), build_order(fields))
        elif kind == "cancel_order":
            self.cancelOrder(order_id, OrderCancel())
        elif kind == "global_cancel":
            self.reqGlobalCancel(OrderCancel())
        elif kind == "req_open_orders":
            self.reqOpenOrders()
        elif kind == "req_all_open_orders":
            self.reqAllOpenOrders()
        elif kind == "req_auto_open_orders":
            self.reqAutoOpenOrders(True)
        elif kind == "req_completed_orders":
            self.reqCompletedOrders(bool(fields.get("api_only")))
        elif kind == "req_executions":
            self.reqExecutions(int(fields.get("req_id") or 1), ExecutionFilter())
        else:
            return False
        return True


def wait_for(changed: threading.Condition, predicate: Callable[[], bool],
             timeout: float) -> bool:
    """Block until ``predicate()`` (checked under ``changed``) or the timeout."""
    deadline = time.monotonic() + timeout
    with changed:
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            changed.wait(remaining)
    return True


def build_contract(c: dict[str, Any]) -> Contract:
    contract = Contract()
    contract.symbol, contract.secType = c["symbol"], c["sec_type"]
    contract.exchange, contract.currency = c["exchange"], c["currency"]
    contract.conId = int(c.get("con_id") or 0)
    return contract


def _float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def build_order(f: dict[str, Any]) -> Order:
    """An ibapi Order from normalised capture fields; the account is left to the
    simulator's own (the captures' accounts are sanitised paper codes)."""
    order = Order()
    order.action, order.orderType = f["action"], f["order_type"]
    order.totalQuantity = f["total_quantity"] or Decimal(0)
    for attr, key in (("lmtPrice", "lmt_price"), ("auxPrice", "aux_price"),
                      ("trailStopPrice", "trail_stop_price"),
                      ("trailingPercent", "trailing_percent"),
                      ("lmtPriceOffset", "lmt_price_offset")):
        if f.get(key) is not None:
            setattr(order, attr, _float(f[key]))
    order.tif = f.get("tif") or "DAY"
    order.ocaGroup, order.ocaType = f.get("oca_group") or "", int(f.get("oca_type") or 0)
    order.orderRef = f.get("order_ref") or ""
    order.transmit = bool(f.get("transmit", True))
    order.parentId = int(f.get("parent_id") or 0)
    order.outsideRth = bool(f.get("outside_rth"))
    order.goodAfterTime = f.get("good_after_time") or ""
    order.goodTillDate = f.get("good_till_date") or ""
    order.allOrNone = bool(f.get("all_or_none"))
    if f.get("min_qty"):
        order.minQty = int(f["min_qty"])
    order.displaySize = int(f.get("display_size") or 0)
    order.whatIf = bool(f.get("what_if"))
    order.hedgeType, order.hedgeParam = f.get("hedge_type") or "", f.get("hedge_param") or ""
    order.algoStrategy = f.get("algo_strategy") or ""
    order.algoParams = [TagValue(k, v) for k, v in (f.get("algo_params") or {}).items()]
    order.conditions = [build_condition(c) for c in f.get("conditions") or []]
    order.conditionsIgnoreRth = bool(f.get("conditions_ignore_rth"))
    order.conditionsCancelOrder = bool(f.get("conditions_cancel_order"))
    return order


def build_condition(c: dict[str, Any]) -> Any:
    """ibapi's condition objects for types 1 price, 3 time, 4 margin, 5 execution,
    6 volume, 7 percent change; ``value`` carries each type's operand."""
    cond = create_condition(c["type"])
    cond.isConjunctionConnection = c.get("conjunction", "a") == "a"
    if c["type"] == 5:
        cond.secType, cond.exchange, cond.symbol = c["sec_type"], c["exchange"], c["symbol"]
        return cond
    cond.isMore = bool(c.get("is_more", True))
    value = c.get("value", "")
    if c["type"] == 1:
        cond.price, cond.triggerMethod = float(value), int(c.get("trigger_method") or 0)
    elif c["type"] == 3:
        cond.time = str(value)
    elif c["type"] == 4:
        cond.percent = int(Decimal(str(value)))
    elif c["type"] == 6:
        cond.volume = int(Decimal(str(value)))
    elif c["type"] == 7:
        cond.changePercent = float(value)
    if c["type"] in (1, 6, 7):
        cond.conId, cond.exchange = int(c.get("con_id") or 0), c.get("exchange") or "SMART"
    return cond
