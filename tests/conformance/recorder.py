"""One normal form for what a capture holds and what the simulator answers.

``Recorder`` is an ibapi ``EWrapper`` that turns callbacks into
``(kind, order_id, fields)`` triples: it records a capture's server frames (fed
through ibapi's decoder) and, in the replay, the simulator's live answers, so both
sides of a comparison pass through the same code. The ``*_fields`` functions map
the three spellings of an order a capture can carry (semantic JSON, protobuf, text
placeOrder) onto the same snake_case dict.
"""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

from ibapi.wrapper import EWrapper

UNSET_FLOAT = 1.7976931348623157e308
UNSET_INT = 2147483647
ORDER_KEYS = ("action", "total_quantity", "order_type", "lmt_price", "aux_price", "tif",
              "oca_group", "oca_type", "account", "order_ref", "transmit", "parent_id",
              "outside_rth", "good_after_time", "good_till_date", "trail_stop_price",
              "trailing_percent", "lmt_price_offset", "conditions_ignore_rth",
              "conditions_cancel_order", "algo_strategy", "what_if", "hedge_type",
              "hedge_param", "all_or_none", "min_qty", "display_size")


def _num(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    number = Decimal(str(value))
    if not number.is_finite() or abs(number) >= Decimal("1e300") or number == UNSET_INT:
        return None
    return number


def _contract(symbol: str, sec_type: str, exchange: str, currency: str,
              con_id: int) -> dict[str, Any]:
    return {"symbol": symbol, "sec_type": sec_type or "STK", "exchange": exchange or "SMART",
            "currency": currency or "USD", "con_id": int(con_id or 0)}


def json_order_fields(raw: dict[str, Any]) -> dict[str, Any]:
    """A semantic ``client place_order {...}`` line; a missing contract is AAPL (the
    April captures that omit it placed AAPL, as their open_order echoes show)."""
    c = raw.get("contract") or {}
    out: dict[str, Any] = {"contract": _contract(c.get("symbol", "AAPL"), c.get("sec_type", ""),
                                                 c.get("exchange", ""), c.get("currency", ""),
                                                 c.get("con_id") or 0)}
    for key in ORDER_KEYS:
        out[key] = raw.get(key)
    out["total_quantity"] = _num(raw.get("total_quantity"))
    for key in ("lmt_price", "aux_price", "trail_stop_price", "trailing_percent",
                "lmt_price_offset"):
        out[key] = _num(raw.get(key))
    out["transmit"] = raw.get("transmit", True) is not False
    out["parent_id"] = int(raw.get("parent_id") or 0)
    out["tif"] = raw.get("tif") or "DAY"
    out["conditions"] = [_json_condition(x) for x in raw.get("conditions") or []]
    return out


def _json_condition(raw: dict[str, Any]) -> dict[str, Any]:
    return {"type": int(raw["type"]), "conjunction": raw.get("conjunction", "a"),
            "is_more": bool(raw.get("operator", True)), "value": raw.get("value", ""),
            "con_id": int(raw.get("con_id") or 0), "exchange": raw.get("exchange", ""),
            "trigger_method": int(raw.get("trigger_method") or 0),
            "sec_type": raw.get("sec_type", ""), "symbol": raw.get("symbol", "")}


def proto_order_fields(contract: Any, order: Any) -> dict[str, Any]:
    """A protobuf PlaceOrderRequest's contract and order (ibapi 10.51 schemas)."""
    has = order.HasField
    out: dict[str, Any] = {"contract": _contract(contract.symbol, contract.secType,
                                                 contract.exchange, contract.currency,
                                                 contract.conId)}
    out.update(action=order.action, total_quantity=_num(order.totalQuantity or None),
               order_type=order.orderType, tif=order.tif or "DAY",
               oca_group=order.ocaGroup, oca_type=order.ocaType, account=order.account,
               order_ref=order.orderRef, transmit=order.transmit,  # absent: false (ibapi
               # client_utils sets it only when true)
               parent_id=order.parentId, outside_rth=order.outsideRth,
               good_after_time=order.goodAfterTime, good_till_date=order.goodTillDate,
               conditions_ignore_rth=order.conditionsIgnoreRth,
               conditions_cancel_order=order.conditionsCancelOrder,
               algo_strategy=order.algoStrategy, what_if=order.whatIf,
               hedge_type=order.hedgeType, hedge_param=order.hedgeParam,
               all_or_none=order.allOrNone, min_qty=order.minQty if has("minQty") else None,
               display_size=order.displaySize)
    for key, name in (("lmt_price", "lmtPrice"), ("aux_price", "auxPrice"),
                      ("trail_stop_price", "trailStopPrice"),
                      ("trailing_percent", "trailingPercent"),
                      ("lmt_price_offset", "lmtPriceOffset")):
        out[key] = _num(getattr(order, name)) if has(name) else None
    out["algo_params"] = dict(order.algoParams)
    out["conditions"] = [{"type": c.type, "conjunction": "a" if c.isConjunctionConnection
                          else "o", "is_more": c.isMore, "con_id": c.conId,
                          "exchange": c.exchange, "trigger_method": c.triggerMethod,
                          "value": str(c.price or c.time or c.volume or c.changePercent or ""),
                          "sec_type": c.secType, "symbol": c.symbol} for c in order.conditions]
    return out


def order_fields(spec: Any) -> dict[str, Any]:
    """A text placeOrder read by the simulator's parser (an ``OrderSpec``)."""
    c = spec.contract
    out: dict[str, Any] = {"contract": _contract(c.symbol, c.sec_type, c.exchange, c.currency,
                                                 c.con_id)}
    out.update(action=spec.action, total_quantity=spec.total_qty, order_type=spec.order_type)
    for key in ORDER_KEYS[3:]:
        out[key] = getattr(spec, key, None)
    out["conditions"] = [{"type": x.kind, "conjunction": x.conjunction,
                          "is_more": x.is_more, "value": x.value, "con_id": x.con_id,
                          "exchange": x.exchange, "trigger_method": x.trigger_method,
                          "sec_type": x.sec_type, "symbol": x.symbol}
                         for x in spec.conditions]
    return out


class Recorder(EWrapper):
    """Callbacks as ``(kind, order_id, fields)``, thread-safe, waitable."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[str, int | None, dict[str, Any]]] = []
        self.changed = threading.Condition()

    def add(self, kind: str, oid: int | None, **fields: Any) -> None:
        with self.changed:
            self.events.append((kind, oid, fields))
            self.changed.notify_all()

    def error(self, reqId, errorTime, errorCode, errorString, advancedOrderRejectJson=""):  # noqa: N802, N803
        self.add("error", int(reqId), code=int(errorCode), message=errorString)

    def orderStatus(self, orderId, status, filled, remaining, avgFillPrice, permId,  # noqa: N802, N803
                    parentId, lastFillPrice, clientId, whyHeld, mktCapPrice):  # noqa: N803
        self.add("order_status", int(orderId), status=status, filled=Decimal(str(filled)),
                 remaining=Decimal(str(remaining)), perm_id=int(permId),
                 parent_id=int(parentId), client_id=int(clientId), why_held=whyHeld or "")

    def openOrder(self, orderId, contract, order, orderState):  # noqa: N802, N803
        self.add("open_order", int(orderId), status=orderState.status,
                 order_type=order.orderType, oca_group=order.ocaGroup,
                 parent_id=int(order.parentId), client_id=int(order.clientId),
                 perm_id=int(order.permId), good_after_time=order.goodAfterTime,
                 symbol=contract.symbol)

    def openOrderEnd(self):  # noqa: N802
        self.add("open_order_end", None)

    def execDetails(self, reqId, contract, execution):  # noqa: N802, N803
        self.add("execution", int(execution.orderId), req_id=int(reqId), side=execution.side,
                 shares=Decimal(str(execution.shares)), price=Decimal(str(execution.price)),
                 exec_id=execution.execId, symbol=contract.symbol)

    def execDetailsEnd(self, reqId):  # noqa: N802, N803
        self.add("executions_end", None, req_id=int(reqId))

    def commissionAndFeesReport(self, commissionAndFeesReport):  # noqa: N802, N803
        self.add("commission", None, exec_id=commissionAndFeesReport.execId)

    def completedOrder(self, contract, order, orderState):  # noqa: N802, N803
        self.add("completed_order", int(order.orderId) if order.orderId else None,
                 status=orderState.status, action=order.action, order_type=order.orderType,
                 symbol=contract.symbol, perm_id=int(order.permId))

    def completedOrdersEnd(self):  # noqa: N802
        self.add("completed_orders_end", None)

    def nextValidId(self, orderId):  # noqa: N802, N803
        self.add("next_valid_id", None, order_id=int(orderId))

    def managedAccounts(self, accountsList):  # noqa: N802, N803
        self.add("managed_accounts", None, accounts=accountsList)

    def tickPrice(self, reqId, tickType, price, attrib):  # noqa: N802, N803
        self.add("tick_price", None, req_id=int(reqId), tick_type=int(tickType),
                 price=Decimal(str(price)))

    def currentTime(self, time):  # noqa: N802
        self.add("current_time", None, time=int(time))
