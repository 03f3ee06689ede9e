"""backend.broker.mapping against real ib_insync objects: every table row, every order field."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from ib_insync import (
    CommissionReport,
    Execution,
    Fill,
    Order,
    Stock,
    Trade,
    TradeLogEntry,
)
from ib_insync import OrderStatus as IbOrderStatus
from ib_insync import Position as IbPosition
from ib_insync import PriceCondition as IbPriceCondition
from ib_insync.util import UNSET_DOUBLE

from backend.broker.mapping import (
    IB_STATUS_TO_ORDER_STATUS,
    IB_TO_ORDER_TYPE,
    ORDER_TYPE_TO_IB,
    fill_to_record,
    intent_to_ib_order,
    order_status_from_ib,
    position_to_model,
    trade_to_record,
)
from backend.core.exit_plan import ExitParams, build_entry, build_exit_group
from backend.core.models import (
    LegRole,
    OrderIntent,
    OrderStatus,
    OrderType,
    PriceCondition,
    Side,
)

ACCOUNT = "DU1234567"
CON_ID = 265598
ENTRY_TIME = datetime(2026, 1, 5, 14, 30, 0, tzinfo=timezone.utc)
T0 = datetime(2026, 1, 5, 14, 30, 1, tzinfo=timezone.utc)

# ---------------------------------------------------------------- status table

STATUS_ROWS = [
    # (IB status, filled, remaining, expected)
    ("PendingSubmit", 0, 100, OrderStatus.PENDING),
    ("ApiPending", 0, 100, OrderStatus.PENDING),
    ("PreSubmitted", 0, 100, OrderStatus.PENDING),
    ("Submitted", 0, 100, OrderStatus.PENDING),
    ("PendingCancel", 0, 100, OrderStatus.PENDING),
    ("ApiCancelled", 0, 100, OrderStatus.CANCELLED),
    ("Cancelled", 0, 100, OrderStatus.CANCELLED),
    ("Filled", 100, 0, OrderStatus.FILLED),
    ("Inactive", 0, 100, OrderStatus.INACTIVE),
]

REFINED_ROWS = [
    ("Submitted", 40, 60, OrderStatus.PARTIAL_FILL),
    ("PreSubmitted", 40, 60, OrderStatus.PARTIAL_FILL),
    ("PendingCancel", 40, 60, OrderStatus.PARTIAL_FILL),  # cancel not confirmed yet
    ("PendingSubmit", 40, 60, OrderStatus.PARTIAL_FILL),
    ("ApiPending", 40, 60, OrderStatus.PARTIAL_FILL),
    ("Submitted", 100, 0, OrderStatus.FILLED),            # executions ahead of "Filled"
    ("PendingCancel", 100, 0, OrderStatus.FILLED),        # the cancel lost the race
    ("Submitted", 0, 0, OrderStatus.PENDING),             # openOrder-built status: no counts
    ("Cancelled", 40, 60, OrderStatus.CANCELLED),         # rest cancelled; record keeps filled
    ("ApiCancelled", 40, 60, OrderStatus.CANCELLED),
    ("Inactive", 40, 60, OrderStatus.INACTIVE),
    ("Filled", 0, 0, OrderStatus.FILLED),                 # completed order: status only
    ("ValidationError", 0, 100, OrderStatus.ERROR),       # ib_async-only status
    ("", 0, 100, OrderStatus.ERROR),
    ("submitted", 0, 100, OrderStatus.ERROR),             # IB's strings are case-exact
]


@pytest.mark.parametrize(("ib_status", "filled", "remaining", "expected"), STATUS_ROWS,
                         ids=[r[0] for r in STATUS_ROWS])
def test_every_ib_status_has_its_row(ib_status, filled, remaining, expected):
    assert IB_STATUS_TO_ORDER_STATUS[ib_status] is expected
    assert order_status_from_ib(ib_status, filled, remaining) is expected


@pytest.mark.parametrize(("ib_status", "filled", "remaining", "expected"), REFINED_ROWS,
                         ids=[f"{r[0] or 'empty'}-{r[1]}/{r[1] + r[2]}" for r in REFINED_ROWS])
def test_fill_counts_refine_working_statuses_only(ib_status, filled, remaining, expected):
    assert order_status_from_ib(ib_status, filled, remaining) is expected


def test_status_table_is_exactly_ib_insyncs_status_vocabulary():
    ib_statuses = {name for name, value in vars(IbOrderStatus).items()
                   if isinstance(value, str) and name == value}
    assert set(IB_STATUS_TO_ORDER_STATUS) == ib_statuses
    assert {r[0] for r in STATUS_ROWS} == ib_statuses


# ---------------------------------------------------------------- order type table

TYPE_ROWS = [
    (OrderType.MARKET, "MKT"),
    (OrderType.LIMIT, "LMT"),
    (OrderType.STOP, "STP"),
    (OrderType.STOP_LIMIT, "STP LMT"),
    (OrderType.TRAIL, "TRAIL"),
]


@pytest.mark.parametrize(("ours", "ib"), TYPE_ROWS, ids=[r[1] for r in TYPE_ROWS])
def test_order_type_row_maps_both_ways(ours, ib):
    assert ORDER_TYPE_TO_IB[ours] == ib
    assert IB_TO_ORDER_TYPE[ib] is ours


def test_order_type_tables_cover_every_order_type():
    assert set(ORDER_TYPE_TO_IB) == set(OrderType)
    assert len(IB_TO_ORDER_TYPE) == len(OrderType)


# ---------------------------------------------------------------- intent -> ib Order

def _legs():
    """Entry + exits for reference 187.37, ATR 0.433, tick 0.01, default exit params.

    Hand-computed: stop 187.37 x 0.98 = 183.6226 -> 183.62; activation 187.37 x 1.03 =
    192.9911 -> 192.99; trail amount 0.433 x 1.5 = 0.6495 -> 0.65; trail stop 192.34.
    """
    entry = build_entry("AAPL", 100, "sig42")
    exits = build_exit_group("AAPL", 100, Decimal("187.37"), Decimal("0.433"), Decimal("0.01"),
                             ExitParams(), ENTRY_TIME, "sig42")
    return [entry, *exits]


# How the connector sends the chain: entry 101 untransmitted, children on it, last transmits.
CHAIN = [(101, 0, False), (102, 101, False), (103, 101, False), (104, 101, True)]

COMMON_EXIT = dict(action="SELL", totalQuantity=100.0, tif="GTC", outsideRth=False,
                   ocaGroup="S9-sig42", ocaType=2, account=ACCOUNT, parentId=101,
                   trailingPercent=UNSET_DOUBLE)

EXPECTED_LEGS = [
    ("entry", dict(orderId=101, action="BUY", totalQuantity=100.0, orderType="MKT",
                   lmtPrice=UNSET_DOUBLE, auxPrice=UNSET_DOUBLE, trailStopPrice=UNSET_DOUBLE,
                   trailingPercent=UNSET_DOUBLE, tif="DAY", outsideRth=False, ocaGroup="",
                   ocaType=0, account=ACCOUNT, orderRef="s9:sig42:entry", transmit=False,
                   parentId=0, goodAfterTime="", conditionsCancelOrder=False), []),
    ("safety_stop", dict(COMMON_EXIT, orderId=102, orderType="STP", lmtPrice=UNSET_DOUBLE,
                         auxPrice=183.62, trailStopPrice=UNSET_DOUBLE,
                         orderRef="s9:sig42:safety_stop", transmit=False, goodAfterTime="",
                         conditionsCancelOrder=False), []),
    ("time_stop", dict(COMMON_EXIT, orderId=103, orderType="MKT", lmtPrice=UNSET_DOUBLE,
                       auxPrice=UNSET_DOUBLE, trailStopPrice=UNSET_DOUBLE,
                       orderRef="s9:sig42:time_stop", transmit=False,
                       goodAfterTime="20260105 14:33:00 UTC", conditionsCancelOrder=True),
     [192.99]),
    ("profit_harvester", dict(COMMON_EXIT, orderId=104, orderType="TRAIL",
                              lmtPrice=UNSET_DOUBLE, auxPrice=0.65, trailStopPrice=192.34,
                              orderRef="s9:sig42:profit_harvester", transmit=True,
                              goodAfterTime="", conditionsCancelOrder=False), [192.99]),
]


@pytest.mark.parametrize("index", range(4), ids=[leg[0] for leg in EXPECTED_LEGS])
def test_intent_to_ib_order_sets_every_field(index):
    # Arrange
    intent = _legs()[index]
    order_id, parent_id, transmit = CHAIN[index]
    _, expected, condition_prices = EXPECTED_LEGS[index]

    # Act
    order = intent_to_ib_order(intent, order_id, parent_id, ACCOUNT, transmit, CON_ID)

    # Assert
    assert isinstance(order, Order)
    actual = {name: getattr(order, name) for name in expected}
    assert actual == expected
    assert len(order.conditions) == len(condition_prices)
    for condition, price in zip(order.conditions, condition_prices, strict=True):
        assert isinstance(condition, IbPriceCondition)
        assert (condition.price, condition.conId, condition.exch, condition.isMore,
                condition.triggerMethod, condition.conjunction, condition.condType) == (
                    price, CON_ID, "SMART", True, 0, "a", 1)


def test_prices_are_the_floats_of_the_exact_decimal_text():
    stop, _, harvester = _legs()[1:]
    stop_order = intent_to_ib_order(stop, 102, 101, ACCOUNT, False, CON_ID)
    trail_order = intent_to_ib_order(harvester, 104, 101, ACCOUNT, True, CON_ID)

    assert repr(stop_order.auxPrice) == "183.62"
    assert repr(trail_order.auxPrice) == "0.65"
    assert repr(trail_order.trailStopPrice) == "192.34"
    assert repr(trail_order.conditions[0].price) == "192.99"


def _intent(**kw) -> OrderIntent:
    base = dict(role=LegRole.MANUAL, symbol="AAPL", side=Side.BUY, quantity=10,
                order_type=OrderType.LIMIT, limit_price=Decimal("187.05"))
    base.update(kw)
    return OrderIntent(**base)


@pytest.mark.parametrize(("kind", "prices", "lmt", "aux"), [
    (OrderType.LIMIT, dict(limit_price=Decimal("187.05")), 187.05, UNSET_DOUBLE),
    (OrderType.STOP_LIMIT, dict(limit_price=Decimal("183.50"), stop_price=Decimal("183.62")),
     183.5, 183.62),
])
def test_limit_prices_are_mapped(kind, prices, lmt, aux):
    intent = _intent(**{"limit_price": None, **prices, "order_type": kind})

    order = intent_to_ib_order(intent, 7, 0, ACCOUNT, True, CON_ID)

    assert (order.orderType, order.lmtPrice, order.auxPrice) == (ORDER_TYPE_TO_IB[kind], lmt, aux)
    assert order.conditions == []


@pytest.mark.parametrize(("changes", "args", "fragment"), [
    ({}, dict(account=""), "explicit account"),
    ({}, dict(order_id=0), "order id"),
    (dict(attach_to_parent=True), dict(parent_id=0), "parent"),
    ({}, dict(parent_id=101), "not an attached leg"),
    (dict(conditions=(PriceCondition(Decimal("190")),)), dict(con_id=0), "contract id"),
    (dict(limit_price=None), {}, "needs limit_price"),
    (dict(order_type=OrderType.STOP, limit_price=None), {}, "needs stop_price"),
    (dict(order_type=OrderType.TRAIL, limit_price=None), {}, "needs trail_amount"),
    (dict(order_type=OrderType.MARKET), {}, "must not carry limit_price"),
    (dict(order_type=OrderType.STOP, limit_price=None, stop_price=Decimal("1"),
          trail_stop_price=Decimal("2")), {}, "must not carry trail_stop_price"),
    (dict(quantity=0), {}, "quantity"),
    (dict(limit_price=Decimal("NaN")), {}, "finite"),
])
def test_intent_to_ib_order_refuses_what_ib_would_get_wrong(changes, args, fragment):
    call = dict(order_id=7, parent_id=0, account=ACCOUNT, transmit=True, con_id=CON_ID)
    call.update(args)

    with pytest.raises(ValueError, match=fragment):
        intent_to_ib_order(_intent(**changes), **call)


# ---------------------------------------------------------------- trade -> record

def _trade(order: Order, status: str, filled: float = 0.0, remaining: float = 0.0,
           avg: float = 0.0, fills=(), log=None) -> Trade:
    return Trade(contract=Stock("AAPL", "SMART", "USD", conId=CON_ID), order=order,
                 orderStatus=IbOrderStatus(orderId=order.orderId, status=status, filled=filled,
                                           remaining=remaining, avgFillPrice=avg),
                 fills=list(fills),
                 log=[TradeLogEntry(T0, status, "")] if log is None else log)


def _fill(shares: float, price: float, exec_id: str = "0001.01", side: str = "SLD",
          order_id: int = 102, report: CommissionReport | None = None,
          time: datetime = T0) -> Fill:
    execution = Execution(execId=exec_id, time=time, acctNumber=ACCOUNT, exchange="ISLAND",
                          side=side, shares=shares, price=price, orderId=order_id,
                          cumQty=shares, avgPrice=price, orderRef="s9:sig42:safety_stop")
    return Fill(Stock("AAPL", "SMART", "USD", conId=CON_ID), execution,
                report or CommissionReport(), time)


def _stop_order(**kw) -> Order:
    base = dict(orderId=102, action="SELL", totalQuantity=100.0, orderType="STP",
                auxPrice=183.62, parentId=101, ocaGroup="S9-sig42", ocaType=2,
                account=ACCOUNT, orderRef="s9:sig42:safety_stop")
    base.update(kw)
    return Order(**base)


def test_trade_to_record_working_child():
    # Arrange
    log = [TradeLogEntry(T0, "PendingSubmit", ""),
           TradeLogEntry(T0 + timedelta(seconds=1), "PreSubmitted", "held: parent not filled")]
    trade = _trade(_stop_order(), "PreSubmitted", 0, 100, log=log)

    # Act
    record = trade_to_record(trade, LegRole.SAFETY_STOP, "sig42")

    # Assert
    assert record.order_id == "102"
    assert record.symbol == "AAPL"
    assert record.side is Side.SELL
    assert record.order_type is OrderType.STOP
    assert record.quantity == 100
    assert record.status is OrderStatus.PENDING
    assert record.role is LegRole.SAFETY_STOP
    assert record.filled == 0 and record.avg_fill_price is None
    assert record.limit_price is None
    assert record.stop_price == Decimal("183.62")
    assert record.trail_amount is None
    assert record.parent_id == "101"
    assert record.oca_group == "S9-sig42"
    assert record.signal_id == "sig42"
    assert record.broker_status == "PreSubmitted"
    assert record.message == "held: parent not filled"
    assert record.updated_at == T0 + timedelta(seconds=1)


def test_trade_to_record_partial_fill_keeps_counts_and_average():
    trade = _trade(_stop_order(), "Submitted", 40, 60, avg=183.58,
                   fills=[_fill(40.0, 183.58)])

    record = trade_to_record(trade, LegRole.SAFETY_STOP, "sig42")

    assert record.status is OrderStatus.PARTIAL_FILL
    assert record.filled == 40 and record.remaining == 60
    assert record.avg_fill_price == Decimal("183.58")


def test_trade_to_record_cancelled_rest_keeps_filled():
    trade = _trade(_stop_order(), "Cancelled", 40, 60, avg=183.58,
                   fills=[_fill(40.0, 183.58)])

    record = trade_to_record(trade, LegRole.SAFETY_STOP, "sig42")

    assert record.status is OrderStatus.CANCELLED
    assert record.filled == 40


def test_trade_to_record_trusts_executions_ahead_of_order_status():
    # Arrange: both executions arrived, orderStatus still says nothing filled
    fills = [_fill(60.0, 183.60, "e1"), _fill(40.0, 183.55, "e2")]
    trade = _trade(_stop_order(), "Submitted", 0, 100, fills=fills)

    # Act
    record = trade_to_record(trade, LegRole.SAFETY_STOP, "sig42")

    # Assert: (60 x 183.60 + 40 x 183.55) / 100 = 183.58
    assert record.status is OrderStatus.FILLED
    assert record.filled == 100
    assert record.avg_fill_price == Decimal("183.58")


def test_trade_to_record_completed_order_uses_filled_quantity():
    # reqCompletedOrders: status only, counts in order.filledQuantity
    trade = _trade(_stop_order(filledQuantity=100.0), "Filled", log=[])

    record = trade_to_record(trade, LegRole.SAFETY_STOP, "sig42")

    assert record.status is OrderStatus.FILLED
    assert record.filled == 100
    assert record.avg_fill_price is None
    assert record.message == "" and record.updated_at is None


def test_trade_to_record_trail_splits_distance_and_level():
    order = Order(orderId=104, action="SELL", totalQuantity=100.0, orderType="TRAIL",
                  auxPrice=0.65, trailStopPrice=192.34, parentId=101, ocaGroup="S9-sig42")

    record = trade_to_record(_trade(order, "PreSubmitted", 0, 100), LegRole.PROFIT_HARVESTER,
                             "sig42")

    assert record.order_type is OrderType.TRAIL
    assert record.trail_amount == Decimal("0.65")
    assert record.stop_price == Decimal("192.34")
    assert record.role is LegRole.PROFIT_HARVESTER


def test_trade_to_record_limit_entry_without_parent():
    order = Order(orderId=101, action="BUY", totalQuantity=100.0, orderType="LMT",
                  lmtPrice=187.4)

    record = trade_to_record(_trade(order, "Filled", 100, 0, avg=187.39), LegRole.ENTRY, "sig42")

    assert record.side is Side.BUY
    assert record.limit_price == Decimal("187.4")
    assert record.stop_price is None
    assert record.parent_id == ""
    assert record.status is OrderStatus.FILLED
    assert record.avg_fill_price == Decimal("187.39")


def test_trade_to_record_unknown_status_is_error_with_raw_text():
    record = trade_to_record(_trade(_stop_order(), "Bogus", 0, 100), LegRole.SAFETY_STOP, "s")

    assert record.status is OrderStatus.ERROR
    assert record.broker_status == "Bogus"


def test_trade_to_record_refuses_fractional_quantity():
    with pytest.raises(ValueError, match="whole number"):
        trade_to_record(_trade(_stop_order(totalQuantity=10.5), "Submitted"), LegRole.MANUAL, "")


# ---------------------------------------------------------------- fill -> record

def test_fill_before_commission_report_has_unknown_realized():
    # Act
    record = fill_to_record(_fill(100.0, 187.41, "0000e1.01", side="BOT", order_id=101))

    # Assert
    assert record.exec_id == "0000e1.01"
    assert record.order_id == "101"
    assert record.symbol == "AAPL"
    assert record.side is Side.BUY
    assert record.quantity == 100
    assert record.price == Decimal("187.41")
    assert record.time == T0
    assert record.commission == Decimal(0)
    assert record.realized_pnl is None


def test_opening_fill_keeps_reported_zero_realized():
    report = CommissionReport(execId="0000e1.01", commission=1.0, currency="USD",
                              realizedPNL=0.0)

    record = fill_to_record(_fill(100.0, 187.41, "0000e1.01", "BOT", 101, report))

    assert record.commission == Decimal("1.0")
    assert record.realized_pnl == Decimal(0)


def test_closing_fill_carries_commission_and_realized():
    report = CommissionReport(execId="0000e2.01", commission=1.02, currency="USD",
                              realizedPNL=-380.02)

    record = fill_to_record(_fill(100.0, 183.62, "0000e2.01", "SLD", 102, report))

    assert record.side is Side.SELL
    assert record.price == Decimal("183.62")
    assert record.commission == Decimal("1.02")
    assert record.realized_pnl == Decimal("-380.02")


def test_unset_realized_from_a_raw_report_counts_as_zero():
    report = CommissionReport(execId="e", commission=1.0, realizedPNL=UNSET_DOUBLE)

    assert fill_to_record(_fill(1.0, 10.0, "e", report=report)).realized_pnl == Decimal(0)


# ---------------------------------------------------------------- positions

@pytest.mark.parametrize(("qty", "avg", "market", "unrealized"), [
    (100.0, 187.3912, None, Decimal(0)),
    (100.0, 187.3912, Decimal("190.00"), Decimal("260.8800")),
    (-50.0, 20.5, Decimal("20.00"), Decimal("25.0")),
])
def test_position_to_model(qty, avg, market, unrealized):
    ib_position = IbPosition(ACCOUNT, Stock("AAPL", "SMART", "USD", conId=CON_ID), qty, avg)

    position = position_to_model(ib_position, market)

    assert position.symbol == "AAPL"
    assert position.quantity == int(qty)
    assert position.avg_cost == Decimal(str(avg))
    assert position.market_price == market
    assert position.unrealized_pnl == unrealized
    assert position.protected_by == ()


def test_condition_direction_and_price_are_carried():
    intent = _intent(conditions=(PriceCondition(Decimal("180.55"), is_more=False),
                                 PriceCondition(Decimal("195.10"), is_more=True)),
                     conditions_cancel_order=True)

    order = intent_to_ib_order(intent, 7, 0, ACCOUNT, True, CON_ID)

    assert [(c.price, c.isMore, c.conId) for c in order.conditions] == [
        (180.55, False, CON_ID), (195.10, True, CON_ID)]
    assert order.conditionsCancelOrder is True


# ---------------------------------------------------------------- absurd reports, refused whole
# What the broker reports is checked at this boundary: a figure no real order, fill or
# position has is refused with one sentence naming it, before any model holds it. Before,
# a quantity of 1e30 passed (finite and whole) and crashed the journal; -100 became "BUY -100".

def _refused(call, fragment: str) -> str:
    from backend.broker.bounds import AbsurdValue

    with pytest.raises(AbsurdValue) as info:
        call()
    message = str(info.value)
    assert "\n" not in message and ". " not in message and len(message) < 200
    assert fragment in message, message
    return message


@pytest.mark.parametrize(("changes", "fragment"), [
    ({"totalQuantity": 1e30}, "quantity of order 102 1e+30 from the broker is outside"),
    ({"totalQuantity": -100.0}, "quantity of order 102 -100 from the broker is outside 0.."),
    ({"totalQuantity": float("nan")}, "not a finite number"),
    ({"totalQuantity": float("inf")}, "not a finite number"),
    ({"auxPrice": -5.0}, "stop price of order 102 -5 from the broker is outside"),
    ({"auxPrice": 1e12}, "stop price of order 102 1e+12"),
    ({"orderType": "STP", "lmtPrice": 1e200}, "limit price of order 102"),
    ({"action": "SSHORT"}, "action 'SSHORT' of order 102 is not one Sigma9 trades"),
    ({"orderType": "LOC"}, "order type 'LOC' of order 102 is not one Sigma9 trades"),
], ids=["1e30-shares", "negative-shares", "nan-shares", "inf-shares", "negative-stop",
        "huge-stop", "huge-limit", "unknown-action", "unknown-type"])
def test_trade_to_record_refuses_absurd_orders(changes, fragment):
    trade = _trade(_stop_order(**changes), "Submitted", 0, 100)

    _refused(lambda: trade_to_record(trade, LegRole.MANUAL, ""), fragment)


@pytest.mark.parametrize(("status", "filled", "avg", "fragment"), [
    ("Filled", 1e30, 187.0, "filled quantity of order 102"),
    ("Filled", -100.0, 187.0, "filled quantity of order 102 -100"),
    ("Filled", 100.0, -187.0, "average fill price of order 102 -187"),
])
def test_trade_to_record_refuses_absurd_fill_counts(status, filled, avg, fragment):
    trade = _trade(_stop_order(), status, filled, 0, avg=avg)

    _refused(lambda: trade_to_record(trade, LegRole.MANUAL, ""), fragment)


def test_trade_to_record_refuses_an_absurd_execution_inside_the_trade():
    trade = _trade(_stop_order(), "Submitted", 0, 100, fills=[_fill(1e30, 183.62)])

    _refused(lambda: trade_to_record(trade, LegRole.MANUAL, ""),
             "size of execution 0001.01 of order 102 1e+30")


@pytest.mark.parametrize(("shares", "price", "report", "fragment"), [
    (1e30, 10.0, None, "size of execution e 1e+30"),
    (-100.0, 10.0, None, "size of execution e -100 from the broker is outside 1.."),
    (0.0, 10.0, None, "size of execution e 0 from the broker is outside 1.."),
    (100.0, 0.0, None, "price of execution e 0 from the broker is outside above 0.."),
    (100.0, -3.0, None, "price of execution e -3"),
    (100.0, float("nan"), None, "price of execution e nan from the broker is not a finite"),
    (100.0, 10.0, CommissionReport(execId="e", commission=1e20, realizedPNL=0.0),
     "commission of execution e 1e+20"),
    (100.0, 10.0, CommissionReport(execId="e", commission=1.0, realizedPNL=-1e15),
     "realized P&L of execution e -1e+15"),
    (100.0, 10.0, CommissionReport(execId="e", commission=float("inf")),
     "commission of execution e inf from the broker is not a finite number"),
])
def test_fill_to_record_refuses_absurd_executions(shares, price, report, fragment):
    _refused(lambda: fill_to_record(_fill(shares, price, "e", report=report)), fragment)


def test_fill_to_record_refuses_an_unknown_side():
    _refused(lambda: fill_to_record(_fill(100.0, 10.0, "e", side="XXX")),
             "side 'XXX' of order 102 is not one Sigma9 trades")


@pytest.mark.parametrize(("qty", "avg", "fragment"), [
    (1e30, 10.0, "position in AAPL 1e+30"),
    (-1e30, 10.0, "position in AAPL -1e+30"),
    (100.0, 1e300, "average cost of AAPL 1e+300"),
    (100.0, float("nan"), "average cost of AAPL nan"),
])
def test_position_to_model_refuses_absurd_positions(qty, avg, fragment):
    ib_position = IbPosition(ACCOUNT, Stock("AAPL", "SMART", "USD", conId=CON_ID), qty, avg)

    _refused(lambda: position_to_model(ib_position), fragment)


def test_the_widest_sane_figures_still_map():
    order = _stop_order(totalQuantity=1e9, auxPrice=9_999_999.99)
    record = trade_to_record(_trade(order, "Submitted", 0, 1e9), LegRole.MANUAL, "")
    assert record.quantity == 10**9 and record.stop_price == Decimal("9999999.99")
    short = position_to_model(IbPosition(ACCOUNT, Stock("AAPL", "SMART", "USD"), -1e9, 5.0))
    assert short.quantity == -10**9


# ---------------------------------------------------------------- keyed by permId

def test_orders_reported_without_an_order_id_are_keyed_by_perm_id():
    # IB's completed orders carry orderId 0 whoever sent them: keyed "0", they collided.
    first = trade_to_record(_trade(_stop_order(orderId=0, permId=1_234_567), "Cancelled"),
                            LegRole.MANUAL, "")
    second = trade_to_record(_trade(_stop_order(orderId=0, permId=7_654_321), "Filled", 100,
                                    0, avg=183.62), LegRole.MANUAL, "")

    assert (first.order_id, first.perm_id) == ("perm-1234567", 1_234_567)
    assert (second.order_id, second.perm_id) == ("perm-7654321", 7_654_321)


def test_an_order_with_an_id_keeps_it_and_records_its_perm_id():
    record = trade_to_record(_trade(_stop_order(permId=99), "Submitted", 0, 100),
                             LegRole.SAFETY_STOP, "sig42")

    assert (record.order_id, record.perm_id) == ("102", 99)
