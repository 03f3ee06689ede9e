"""Translation between ib_insync's objects and Sigma9's models: tables as data, pure functions.

This is the only place where IB's vocabulary (status strings, "BOT"/"SLD", ``UNSET_DOUBLE``,
float prices) meets Sigma9's (enums, ``Decimal``, whole shares). Keeping it pure lets every row
be tested with real ib_insync objects and no TWS.

Decisions worth knowing (docs/ib-orders.md numbers in brackets):

- Every documented IB status is mapped explicitly. The working ones are refined by the fill
  counts: some filled and some remaining is PARTIAL_FILL; all filled is FILLED even before IB's
  own ``Filled`` status arrives, because orderStatus is not guaranteed for every step and the
  executions are the truth [P8].
- ``Cancelled``/``ApiCancelled`` stay CANCELLED even with shares filled: the record keeps
  ``filled``, so "cancelled after 40 of 100" is still visible.
- An unknown status string maps to ERROR rather than a guess: ERROR is final, so the
  OrderManager stops counting the order as protection and tells the trader, and the raw string
  stays in ``broker_status``. A later known status may still replace it (see state_machine).
- Prices go to IB as ``float(str(decimal))`` — the float nearest the exact decimal text — and
  come back as ``Decimal(str(float))``, the shortest text that round-trips.
- Every figure that comes back is checked against ``bounds`` first: a negative or absurd
  quantity, price, fill, commission or position refuses the whole report (``AbsurdValue``,
  one sentence), as does an action or order type Sigma9 does not trade. The connector logs
  and drops it; nothing downstream ever holds the figure.
- IB's completed orders carry orderId 0, whoever sent them, so they are keyed by their
  permanent id: ``perm-<permId>`` (:func:`order_key`); the record keeps ``perm_id`` too.
  Evidence: IB's completedOrder message has no orderId field at all (captures
  ``api_completed_orders_variants_aapl``, ``completed_orders_sv204_live``), so ib_insync's
  decoder leaves ``Order.orderId`` at its default 0. No capture shows IB sending an absurd
  figure: the bounds guard against a broken or hostile peer on the port, not a known IB habit.
"""

from __future__ import annotations

import math
import sys
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from backend.broker import bounds
from backend.broker.bounds import AbsurdValue
from backend.core.models import (
    FillRecord,
    LegRole,
    OrderIntent,
    OrderRecord,
    OrderStatus,
    OrderType,
    Position,
    Side,
)

if TYPE_CHECKING:  # ib_insync is imported where an order is built: not to build the window
    from ib_insync import CommissionReport, Fill, Order, Trade
    from ib_insync import Position as IbPosition

UNSET_DOUBLE = sys.float_info.max
"""IB's "no value" for a double, as ``ib_insync.util.UNSET_DOUBLE`` (the TWS API's
``Double.MAX_VALUE``); kept here so mapping reports needs no ib_insync import."""

IB_STATUS_TO_ORDER_STATUS: dict[str, OrderStatus] = {
    "PendingSubmit": OrderStatus.PENDING,   # sent, not yet acknowledged by TWS
    "ApiPending": OrderStatus.PENDING,      # held by the API, not yet sent on by TWS
    "PreSubmitted": OrderStatus.PENDING,    # accepted but held: bracket child, untriggered
                                            # stop, unmet condition, simulated order
    "Submitted": OrderStatus.PENDING,       # working at the exchange
    "PendingCancel": OrderStatus.PENDING,   # cancel requested, not confirmed: it can still fill
    "ApiCancelled": OrderStatus.CANCELLED,  # cancelled before TWS sent it on
    "Cancelled": OrderStatus.CANCELLED,     # confirmed by IB (or set locally by ib_insync
                                            # after an error, see state_machine)
    "Filled": OrderStatus.FILLED,
    "Inactive": OrderStatus.INACTIVE,       # rejected or parked; read whyHeld / the error
}

WORKING_IB_STATUSES: frozenset[str] = frozenset(
    status for status, ours in IB_STATUS_TO_ORDER_STATUS.items() if ours is OrderStatus.PENDING)
"""Statuses of a live order, refined to PARTIAL_FILL / FILLED by the fill counts."""

UNKNOWN_IB_STATUS = OrderStatus.ERROR

ORDER_TYPE_TO_IB: dict[OrderType, str] = {
    OrderType.MARKET: "MKT",
    OrderType.LIMIT: "LMT",
    OrderType.STOP: "STP",
    OrderType.STOP_LIMIT: "STP LMT",
    OrderType.TRAIL: "TRAIL",
}
IB_TO_ORDER_TYPE: dict[str, OrderType] = {ib: ours for ours, ib in ORDER_TYPE_TO_IB.items()}

IB_ACTION_TO_SIDE: dict[str, Side] = {"BUY": Side.BUY, "SELL": Side.SELL}
IB_EXEC_SIDE_TO_SIDE: dict[str, Side] = {"BOT": Side.BUY, "SLD": Side.SELL}

_PRICE_FIELDS = ("limit_price", "stop_price", "trail_amount", "trail_stop_price")
REQUIRED_PRICES: dict[OrderType, frozenset[str]] = {
    OrderType.MARKET: frozenset(),
    OrderType.LIMIT: frozenset({"limit_price"}),
    OrderType.STOP: frozenset({"stop_price"}),
    OrderType.STOP_LIMIT: frozenset({"limit_price", "stop_price"}),
    OrderType.TRAIL: frozenset({"trail_amount"}),
}
ALLOWED_PRICES: dict[OrderType, frozenset[str]] = {
    **REQUIRED_PRICES,
    OrderType.TRAIL: frozenset({"trail_amount", "trail_stop_price"}),
}
"""Which intent prices each order type uses. A stray price means a builder bug, so it is
refused rather than silently dropped (or worse, sent and interpreted by IB)."""

CONDITION_EXCHANGE = "SMART"
CONDITION_TRIGGER_DEFAULT = 0  # IB's default method: double bid/ask for OTC, last otherwise


def order_status_from_ib(ib_status: str, filled: float, remaining: float) -> OrderStatus:
    """Sigma9's status for an IB status string and IB's cumulative fill counts."""
    status = IB_STATUS_TO_ORDER_STATUS.get(ib_status, UNKNOWN_IB_STATUS)
    if ib_status in WORKING_IB_STATUSES and filled > 0:
        return OrderStatus.FILLED if remaining <= 0 else OrderStatus.PARTIAL_FILL
    return status


def ib_price(value: Decimal | None) -> float:
    """IB's float for an exact Decimal price; ``UNSET_DOUBLE`` (IB's "no value") for None."""
    if value is None:
        return UNSET_DOUBLE
    if not value.is_finite():
        raise ValueError(f"price {value} is not a finite number")
    return float(str(value))


def decimal_price(value: float) -> Decimal | None:
    """The Decimal for an IB float price; None for IB's unset sentinel or a non-number."""
    if value is None or value == UNSET_DOUBLE or not math.isfinite(value):
        return None
    return Decimal(str(value))


def whole_shares(value: float, what: str = "quantity", signed: bool = False) -> int:
    """IB sends quantities as floats (fractional shares exist); Sigma9 trades whole shares,
    never negative ones (``signed``: a position, short below 0), never beyond the bounds."""
    return bounds.shares(value, what, signed=signed)


def broker_price(value: float, what: str) -> Decimal | None:
    """An order's price as IB reports it: None for IB's unset sentinel, else within bounds."""
    if value is None or value == UNSET_DOUBLE:
        return None
    return bounds.price(value, what)


def order_key(order_id: int, perm_id: int) -> str:
    """Sigma9's key of an order IB reports: its order id, or ``perm-<permId>`` when IB sends
    orderId 0 (completed orders, orders of other clients), which would all collide on "0"."""
    if order_id:
        return str(order_id)
    return f"perm-{perm_id}" if perm_id else "0"


def _looked_up(table: dict[str, Any], key: str, what: str, order_id: object) -> Any:
    if key not in table:
        raise AbsurdValue(f"{what} {key!r} of order {order_id} is not one Sigma9 trades")
    return table[key]


def _check_prices(intent: OrderIntent) -> None:
    present = {name for name in _PRICE_FIELDS if getattr(intent, name) is not None}
    missing = REQUIRED_PRICES[intent.order_type] - present
    stray = present - ALLOWED_PRICES[intent.order_type]
    kind = ORDER_TYPE_TO_IB[intent.order_type]
    if missing:
        raise ValueError(f"{kind} order for {intent.symbol} needs {', '.join(sorted(missing))}")
    if stray:
        raise ValueError(f"{kind} order for {intent.symbol} must not carry "
                         f"{', '.join(sorted(stray))}")


def _aux_price(intent: OrderIntent) -> Decimal | None:
    """IB's overloaded auxPrice: the stop for STP/STP LMT, the trailing AMOUNT for TRAIL."""
    if intent.order_type in (OrderType.STOP, OrderType.STOP_LIMIT):
        return intent.stop_price
    if intent.order_type is OrderType.TRAIL:
        return intent.trail_amount
    return None


def intent_to_ib_order(intent: OrderIntent, order_id: int, parent_id: int, account: str,
                       transmit: bool, con_id: int) -> Order:
    """The ib_insync Order for ``intent``, with every field Sigma9 relies on set explicitly.

    Refuses (ValueError) what IB would reject late or, worse, accept wrongly:
    a missing account (error 10224 inside an OCA group), an attached leg without a parent
    (it would be live at once and open a short [P1]), a parent on a leg not meant to have one,
    a condition without the contract id it watches, and prices that do not fit the order type.
    ``trailingPercent`` is never set: TRAIL uses the amount in ``auxPrice`` [P6].
    """
    if not account:
        raise ValueError(f"order {order_id} for {intent.symbol} needs an explicit account")
    if order_id <= 0:
        raise ValueError(f"order id must be positive, got {order_id}")
    if intent.attach_to_parent and parent_id <= 0:
        raise ValueError(f"{intent.role.value} leg for {intent.symbol} must ride on a parent "
                         "order; without one it would be live immediately")
    if not intent.attach_to_parent and parent_id != 0:
        raise ValueError(f"{intent.role.value} order for {intent.symbol} is not an attached leg "
                         f"but was given parent {parent_id}")
    if intent.conditions and con_id <= 0:
        raise ValueError(f"conditions on {intent.symbol} need the contract id they watch")
    if intent.quantity <= 0:
        raise ValueError(f"order quantity must be positive, got {intent.quantity}")
    _check_prices(intent)
    from ib_insync import Order
    from ib_insync import PriceCondition as IbPriceCondition

    return Order(
        orderId=order_id,
        action=intent.side.value,
        totalQuantity=float(intent.quantity),
        orderType=ORDER_TYPE_TO_IB[intent.order_type],
        lmtPrice=ib_price(intent.limit_price),
        auxPrice=ib_price(_aux_price(intent)),
        trailStopPrice=ib_price(intent.trail_stop_price),
        tif=intent.tif,
        outsideRth=intent.outside_rth,
        ocaGroup=intent.oca_group,
        ocaType=intent.oca_type,
        account=account,
        orderRef=intent.order_ref,
        transmit=transmit,
        parentId=parent_id,
        goodAfterTime=intent.good_after_time,
        conditions=[
            IbPriceCondition(price=ib_price(c.price), conId=con_id, exch=CONDITION_EXCHANGE,
                             isMore=c.is_more, triggerMethod=CONDITION_TRIGGER_DEFAULT,
                             conjunction="a")
            for c in intent.conditions
        ],
        conditionsCancelOrder=intent.conditions_cancel_order,
    )


def _filled_shares(trade: Trade) -> float:
    """The most advanced of IB's cumulative count, the executions seen, and ``filledQuantity``.

    orderStatus can lag the executions [P8], and a trade rebuilt by reqCompletedOrders carries
    only the status string (filled=0) with the count in ``order.filledQuantity``.
    """
    counts = [trade.orderStatus.filled, sum(f.execution.shares for f in trade.fills)]
    if trade.order.filledQuantity != UNSET_DOUBLE:
        counts.append(trade.order.filledQuantity)
    return max(counts)


def _avg_fill_price(trade: Trade) -> Decimal | None:
    """IB's average when its count is current; else the average of the executions seen."""
    executed = sum(f.execution.shares for f in trade.fills)
    if trade.fills and executed >= trade.orderStatus.filled:
        notional = sum(Decimal(str(f.execution.price)) * Decimal(str(f.execution.shares))
                       for f in trade.fills)
        return notional / Decimal(str(executed))
    if trade.orderStatus.avgFillPrice > 0:
        return decimal_price(trade.orderStatus.avgFillPrice)
    return None


def trade_to_record(trade: Trade, role: LegRole, signal_id: str) -> OrderRecord:
    """A snapshot of ``trade`` as an OrderRecord; ``role`` and ``signal_id`` are Sigma9's own.

    Raises AbsurdValue (one sentence) for a report outside ``bounds`` or of a kind Sigma9
    does not trade: the report is refused whole, never stored in part.
    """
    order, status = trade.order, trade.orderStatus
    key = order_key(order.orderId, order.permId)
    side = _looked_up(IB_ACTION_TO_SIDE, order.action, "action", key)
    order_type = _looked_up(IB_TO_ORDER_TYPE, order.orderType, "order type", key)
    quantity = whole_shares(order.totalQuantity, f"quantity of order {key}")
    for fill in trade.fills:
        _check_execution(fill, key)
    whole_shares(status.filled, f"filled quantity of order {key}")
    if order.filledQuantity != UNSET_DOUBLE:
        whole_shares(order.filledQuantity, f"filled quantity of order {key}")
    filled = whole_shares(_filled_shares(trade), f"filled quantity of order {key}")
    if status.avgFillPrice and status.avgFillPrice != UNSET_DOUBLE:
        bounds.price(status.avgFillPrice, f"average fill price of order {key}")
    is_trail = order.orderType == "TRAIL"
    aux = broker_price(order.auxPrice, f"stop price of order {key}")
    last = trade.log[-1] if trade.log else None
    return OrderRecord(
        order_id=key,
        symbol=trade.contract.symbol,
        side=side,
        order_type=order_type,
        quantity=quantity,
        status=order_status_from_ib(status.status, filled, quantity - filled),
        role=role,
        filled=filled,
        avg_fill_price=_avg_fill_price(trade) if filled else None,
        limit_price=broker_price(order.lmtPrice, f"limit price of order {key}"),
        # For TRAIL, the stop is the current trailing level; auxPrice is the distance.
        stop_price=(broker_price(order.trailStopPrice, f"trailing stop of order {key}")
                    if is_trail else aux),
        trail_amount=aux if is_trail else None,
        parent_id=str(order.parentId) if order.parentId else "",
        oca_group=order.ocaGroup,
        signal_id=signal_id,
        broker_status=status.status,
        message=last.message if last else "",
        updated_at=last.time if last else None,
        perm_id=order.permId or 0,
    )


def _check_execution(fill: Fill, order_key_: str) -> None:
    what = f"execution {fill.execution.execId} of order {order_key_}"
    bounds.shares(fill.execution.shares, f"size of {what}", positive=True)
    bounds.price(fill.execution.price, f"price of {what}", positive=True)


def _reported(report: CommissionReport) -> bool:
    """ib_insync attaches an empty CommissionReport until IB's report for the execution lands."""
    return bool(report.execId) and report.commission != UNSET_DOUBLE


def fill_to_record(fill: Fill) -> FillRecord:
    """One execution as a FillRecord.

    Before IB's commission report arrives, commission is 0 and ``realized_pnl`` is None
    ("not known yet"). Once reported, both are kept as IB sends them — including a realized
    P&L of 0 for an opening fill (ib_insync turns IB's unset value into 0.0), so the journal can
    simply add them up. IB's realized P&L is net of the commissions of both sides.
    """
    execution, report = fill.execution, fill.commissionReport
    what = f"execution {execution.execId}"
    side = _looked_up(IB_EXEC_SIDE_TO_SIDE, execution.side, "side", execution.orderId)
    quantity = bounds.shares(execution.shares, f"size of {what}", positive=True)
    price = bounds.price(execution.price, f"price of {what}", positive=True)
    reported = _reported(report)
    realized = None
    commission = Decimal(0)
    if reported:
        commission = bounds.money(report.commission, f"commission of {what}")
        unset = report.realizedPNL is None or report.realizedPNL == UNSET_DOUBLE
        realized = (Decimal(0) if unset
                    else bounds.money(report.realizedPNL, f"realized P&L of {what}"))
    return FillRecord(
        exec_id=execution.execId,
        order_id=str(execution.orderId),
        symbol=fill.contract.symbol,
        side=side,
        quantity=quantity,
        price=price,
        time=execution.time,
        commission=commission,
        realized_pnl=realized,
    )


def position_to_model(ib_position: IbPosition, market_price: Decimal | None = None) -> Position:
    """An IB position; with a market price, unrealized P&L is (price - avg cost) x quantity.

    IB's ``avgCost`` for stocks already includes the opening commission, so the unrealized
    figure is net of it. Realized P&L and commissions come from the journal, not from here.
    """
    symbol = ib_position.contract.symbol
    quantity = whole_shares(ib_position.position, f"position in {symbol}", signed=True)
    bounds.price(abs(ib_position.avgCost), f"average cost of {symbol}")  # either sign
    avg_cost = Decimal(str(ib_position.avgCost))
    unrealized = (market_price - avg_cost) * quantity if market_price is not None else Decimal(0)
    return Position(symbol=symbol, quantity=quantity, avg_cost=avg_cost,
                    unrealized_pnl=unrealized, market_price=market_price)



def chain_orders(parent: OrderIntent | None, children: list[OrderIntent], ids: list[int],
                 account: str, con_id: int) -> list[Order]:
    """The orders of one transmit chain, parent first, with parentId and transmit set [P1].

    With a parent: every order but the last goes with ``transmit=False`` and attached
    legs carry the parent's id, so the final ``transmit=True`` releases the set at once and
    the entry never reaches the broker without its stop. Without a parent (protecting a
    position that already exists) each order transmits itself.
    """
    intents = ([parent] if parent is not None else []) + list(children)
    if len(ids) != len(intents):
        raise ValueError(f"{len(intents)} orders need {len(intents)} reserved ids, got {len(ids)}")
    if len(set(ids)) != len(ids):
        raise ValueError("order ids in one chain must be distinct")
    parent_id = ids[0] if parent is not None else 0
    orders = []
    for index, (order_id, intent) in enumerate(zip(ids, intents, strict=True)):
        is_child = parent is not None and index > 0
        transmit = index == len(intents) - 1 if parent is not None else True
        attached_to = parent_id if is_child and intent.attach_to_parent else 0
        orders.append(intent_to_ib_order(intent, order_id, attached_to, account, transmit,
                                         con_id))
    return orders
