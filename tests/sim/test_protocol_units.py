"""The protocol layer without a network: framing, unset values, and both directions of
the placeOrder/openOrder family against the real clients' own code.

Requests are captured from ib_insync's ``Client`` (v176) and ibapi's ``EClient`` (v178)
request methods, so the parser is judged by the bytes those clients really send. Replies
built by ``messages`` are fed to ib_insync's ``Decoder`` and ibapi's ``Decoder``, so the
layouts are judged by the code that will read them.
"""

from __future__ import annotations

import logging
import math
import struct
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from ib_insync import LimitOrder, MarketOrder, Order, PriceCondition, Stock, StopOrder
from ib_insync import TimeCondition as InsyncTimeCondition
from ib_insync.decoder import Decoder as InsyncDecoder
from ibapi import comm
from ibapi.contract import Contract as ApiContract
from ibapi.decoder import Decoder as ApiDecoder
from ibapi.order import Order as ApiOrder
from ibapi.order_condition import PriceCondition as ApiPriceCondition
from ibapi.order_condition import TimeCondition as ApiTimeCondition
from ibapi.wrapper import EWrapper

from backend.sim import messages
from backend.sim.market import make_instrument
from backend.sim.models import Condition, ContractRef, OrderSpec
from backend.sim.orders import ExecutionRecord, WorkingOrder
from backend.sim.requests import parse_place_order
from backend.sim.wire import (
    FrameReader,
    FramingError,
    ProtocolError,
    fmt,
    frame,
    frame_raw,
    is_unset,
    parse_bool,
    parse_decimal,
    parse_float,
    parse_int,
)
from tests.sim.encodings import ib_insync_requests, ibapi_requests

AAPL = make_instrument("AAPL")
ACCOUNT = "DU1234567"
GAT = "20261121 14:03:00 UTC"


# -- framing -------------------------------------------------------------------------------
def test_frame_is_length_prefixed_nul_terminated_ascii():
    data = frame([49, 1])
    assert data == struct.pack(">I", 5) + b"49\x001\x00"


def test_frame_reader_strips_the_api_prefix_once_and_splits_messages():
    stream = b"API\0" + frame_raw(b"v100..178") + frame([71, 2, 1, ""]) + frame([49, 1])
    assert FrameReader().feed(stream) == [["v100..178"], ["71", "2", "1", ""], ["49", "1"]]


def test_frame_reader_reassembles_byte_by_byte_delivery():
    stream = b"API\0" + frame_raw(b"v157..176") + frame([3, 7, "", "AAPL"])
    reader = FrameReader()
    got: list[list[str]] = []
    for i in range(len(stream)):
        got += reader.feed(stream[i:i + 1])
    assert got == [["v157..176"], ["3", "7", "", "AAPL"]]


def test_frame_reader_handles_a_split_length_prefix_and_several_frames_per_packet():
    stream = frame([1, 2]) + frame([3, 4]) + frame([5])
    reader = FrameReader(expect_api_prefix=False)
    assert reader.feed(stream[:2]) == []
    assert reader.feed(stream[2:9]) == [["1", "2"]]
    assert reader.feed(stream[9:]) == [["3", "4"], ["5"]]


def test_frame_reader_keeps_a_trailing_empty_field():
    assert FrameReader(expect_api_prefix=False).feed(frame([4, 2, ""])) == [["4", "2", ""]]


@pytest.mark.parametrize("junk", [b"GET / HTTP/1.1\r\n", b"APX\0", b"\x00\x00\x00\x05hello"])
def test_frame_reader_refuses_a_stream_without_the_api_prefix(junk):
    with pytest.raises(FramingError):
        FrameReader().feed(junk)


def test_frame_reader_waits_on_a_partial_prefix_and_refuses_an_absurd_length():
    reader = FrameReader()
    assert reader.feed(b"AP") == []
    assert reader.feed(b"I\0") == []
    with pytest.raises(FramingError):
        reader.feed(struct.pack(">I", 64 * 1024 * 1024))


# -- unset values and numbers ----------------------------------------------------------
@pytest.mark.parametrize("text", ["", "  ", "2147483647", "9223372036854775807",
                                  "1.7976931348623157E308", "1.7976931348623157e+308",
                                  "1.7976931348623157e308", "1.7976931348623157E+308",
                                  "1.79769313486232E+308",
                                  "170141183460469231731687303715884105727"])
def test_every_spelling_of_unset_is_unset(text):
    assert is_unset(text)
    assert parse_int(text, default=-5) == -5
    assert parse_decimal(text) is None
    assert parse_float(text) is None


@pytest.mark.parametrize("text", ["0", "1.7976931348623", "2147483646", "-1", "Infinity"])
def test_ordinary_values_are_not_unset(text):
    assert not is_unset(text)


@pytest.mark.parametrize("text", ["Infinity", "infinite", "INF"])
def test_infinity_is_a_float_but_never_a_price(text):
    assert parse_float(text) == math.inf
    with pytest.raises(ProtocolError):
        parse_decimal(text)


@pytest.mark.parametrize("text", ["NaN", "1e999999999", "-1e400", "1e-400", "abc", "1.2.3"])
def test_non_numbers_and_numbers_outside_a_double_are_refused(text):
    with pytest.raises(ProtocolError):
        parse_decimal(text)


@pytest.mark.parametrize(("text", "value"), [("100", 100), ("100.0", 100), (" 7 ", 7),
                                             ("-1", -1)])
def test_integers_in_both_clients_spellings(text, value):
    assert parse_int(text) == value


@pytest.mark.parametrize("text", ["1.5", "x", "9" * 60, str(2**64), "Infinity", "nan"])
def test_bad_integers_are_protocol_errors(text):
    with pytest.raises(ProtocolError):
        parse_int(text)


@pytest.mark.parametrize(("text", "value"), [("1", True), ("0", False), ("", False),
                                             ("true", True), ("False", False)])
def test_booleans(text, value):
    assert parse_bool(text) is value


def test_outgoing_decimals_and_floats_are_plain_text():
    assert fmt(Decimal("100.00")) == "100"
    assert fmt(Decimal("190.50")) == "190.5"
    assert fmt(Decimal("1E+2")) == "100"
    assert fmt(True) == "1" and fmt(None) == ""


# -- placeOrder as ib_insync 0.9.86 encodes it (v176) ---------------------------------------
def insync_place(order: Order, order_id: int = 41) -> list[str]:
    contract = Stock("AAPL", "SMART", "USD", conId=265598)
    (fields,) = ib_insync_requests(lambda c: c.placeOrder(order_id, contract, order))
    return fields


def test_insync_plain_limit_order():
    order = LimitOrder("BUY", 100, 190.5, tif="GTC", account=ACCOUNT, orderRef="entry-1",
                       outsideRth=True, goodAfterTime=GAT)
    fields = insync_place(order)
    assert len(fields) == 115  # 114 at 178, plus faProfile
    spec = parse_place_order(fields, 176)
    assert (spec.order_id, spec.action, spec.total_qty, spec.order_type) == (
        41, "BUY", Decimal(100), "LMT")
    assert spec.lmt_price == Decimal("190.5") and spec.aux_price is None
    assert spec.contract.con_id == 265598 and spec.contract.symbol == "AAPL"
    assert spec.tif == "GTC" and spec.account == ACCOUNT and spec.order_ref == "entry-1"
    assert spec.outside_rth and spec.transmit and spec.good_after_time == GAT
    assert spec.parent_id == 0 and spec.oca_group == "" and spec.conditions == []
    assert spec.min_qty is None and spec.trail_stop_price is None and spec.cash_qty is None


def test_insync_bracket_child_with_oca_group():
    order = StopOrder("SELL", 100, 185.25, parentId=40, transmit=False, ocaGroup="exit-40",
                      ocaType=2, tif="GTC")
    spec = parse_place_order(insync_place(order), 176)
    assert spec.order_type == "STP" and spec.aux_price == Decimal("185.25")
    assert spec.parent_id == 40 and not spec.transmit
    assert (spec.oca_group, spec.oca_type) == ("exit-40", 2)


def test_insync_trailing_stop_by_percent():
    order = Order(action="SELL", totalQuantity=100, orderType="TRAIL", trailingPercent=1.5,
                  trailStopPrice=187.0, tif="GTC")
    spec = parse_place_order(insync_place(order), 176)
    assert spec.order_type == "TRAIL" and spec.aux_price is None
    assert spec.trailing_percent == Decimal("1.5")
    assert spec.trail_stop_price == Decimal("187.0")


@pytest.mark.parametrize("cancel", [False, True])
def test_insync_price_and_time_conditions_in_both_modes(cancel):
    order = LimitOrder("BUY", 50, 189.0, conditionsIgnoreRth=True, conditionsCancelOrder=cancel,
                       conditions=[
                           PriceCondition(conjunction="o", isMore=True, price=195.5,
                                          conId=265598, exch="SMART", triggerMethod=2),
                           InsyncTimeCondition(isMore=False, time=GAT)],
                       adjustedOrderType="STP", triggerPrice=180.0, adjustedStopPrice=178.0,
                       autoCancelParent=True)
    spec = parse_place_order(insync_place(order), 176)
    price, when = spec.conditions
    assert (price.kind, price.conjunction, price.is_more, price.value, price.con_id,
            price.exchange, price.trigger_method) == (1, "o", True, "195.5", 265598, "SMART", 2)
    assert (when.kind, when.conjunction, when.is_more, when.value) == (3, "a", False, GAT)
    assert spec.conditions_ignore_rth and spec.conditions_cancel_order is cancel
    # The fields after the conditions are still where they belong.
    assert spec.adjusted_order_type == "STP" and spec.trigger_price == Decimal("180.0")
    assert spec.adjusted_stop_price == Decimal("178.0") and spec.auto_cancel_parent


def test_the_fa_profile_field_is_read_only_below_177():
    """Read as 178, ib_insync's 176 message is off by one from faProfile on."""
    fields = insync_place(Order(action="SELL", totalQuantity=1, orderType="MKT", ocaType=3,
                                ocaGroup="g"))
    assert parse_place_order(fields, 176).oca_type == 3
    assert parse_place_order(fields, 178).oca_type == -1  # exemptCode lands on ocaType


# -- placeOrder as ibapi 10.51 encodes it (v178) ---------------------------------------------
def api_contract() -> ApiContract:
    contract = ApiContract()
    contract.symbol, contract.secType, contract.exchange, contract.currency = (
        "AAPL", "STK", "SMART", "USD")
    return contract


def api_place(order: ApiOrder, order_id: int = 41) -> list[str]:
    (fields,) = ibapi_requests(lambda c: c.placeOrder(order_id, api_contract(), order))
    return fields


def api_order(action: str, qty: int, order_type: str, **attrs: object) -> ApiOrder:
    order = ApiOrder()
    order.action, order.totalQuantity, order.orderType = action, Decimal(qty), order_type
    for name, value in attrs.items():
        setattr(order, name, value)
    return order


def test_ibapi_plain_limit_order_with_literal_sentinels():
    fields = api_place(api_order("BUY", 100, "LMT", lmtPrice=190.5, tif="DAY", account=ACCOUNT))
    assert len(fields) == 114
    assert "2147483647" in fields and "1.7976931348623157e+308" in fields
    spec = parse_place_order(fields, 178)
    assert (spec.order_id, spec.action, spec.total_qty, spec.order_type, spec.lmt_price) == (
        41, "BUY", Decimal(100), "LMT", Decimal("190.5"))
    assert spec.contract.con_id == 0 and spec.contract.symbol == "AAPL"
    assert spec.open_close == "" and spec.transmit and spec.account == ACCOUNT
    assert spec.trigger_price is None and spec.cash_qty is None and spec.min_qty is None


def test_ibapi_bracket_child_and_trailing_percent():
    child = parse_place_order(api_place(api_order(
        "SELL", 100, "STP", auxPrice=185.25, parentId=40, transmit=False, ocaGroup="x",
        ocaType=1)), 178)
    assert (child.parent_id, child.transmit, child.aux_price, child.oca_type) == (
        40, False, Decimal("185.25"), 1)
    trail = parse_place_order(api_place(api_order(
        "SELL", 100, "TRAIL", trailingPercent=2.25, trailStopPrice=180.0)), 178)
    assert trail.trailing_percent == Decimal("2.25") and trail.aux_price is None
    assert trail.trail_stop_price == Decimal("180.0")


@pytest.mark.parametrize("cancel", [False, True])
def test_ibapi_conditions(cancel):
    price = ApiPriceCondition(ApiPriceCondition.TriggerMethodEnum.Last, 265598, "SMART", True,
                              195.5)
    price.isConjunctionConnection = False
    when = ApiTimeCondition(False, GAT)
    order = api_order("BUY", 50, "LMT", lmtPrice=189.0, conditions=[price, when],
                      conditionsCancelOrder=cancel, autoCancelParent=True)
    spec = parse_place_order(api_place(order), 178)
    first, second = spec.conditions
    assert (first.kind, first.conjunction, first.value, first.con_id, first.trigger_method) == (
        1, "o", "195.5", 265598, 2)
    assert (second.kind, second.is_more, second.value) == (3, False, GAT)
    assert spec.conditions_cancel_order is cancel and spec.auto_cancel_parent


# -- replies through ib_insync's decoder (v176) -------------------------------------------
class InsyncRecorder:
    """Stands in for ib_insync's Wrapper: records every callback the decoder makes."""

    ib = None

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple]] = []

    def __getattr__(self, name: str):
        def record(*args):
            self.calls.append((name, args))
        return record

    def only(self, name: str) -> tuple:
        matching = [args for called, args in self.calls if called == name]
        assert len(matching) == 1, f"{name}: {self.calls}"
        return matching[0]


def insync_decode(fields: list[object], caplog) -> InsyncRecorder:
    recorder = InsyncRecorder()
    decoder = InsyncDecoder(recorder, 176)
    text = [fmt(f) for f in fields]
    with caplog.at_level(logging.ERROR, logger="ib_insync"):
        decoder.handlers[int(text[0])](text)  # the handler itself: exceptions propagate
    assert not caplog.records, caplog.text
    return recorder


def working_order(**overrides: object) -> WorkingOrder:
    spec = OrderSpec(
        order_id=7, contract=ContractRef(con_id=265598, symbol="AAPL", sec_type="STK",
                                         exchange="SMART", currency="USD"),
        action="SELL", total_qty=Decimal(100), order_type="TRAIL",
        trailing_percent=Decimal("1.5"), tif="GTC", oca_group="exit-5", oca_type=2,
        parent_id=5, account=ACCOUNT, order_ref="exit", good_after_time=GAT,
        conditions=[Condition(1, "o", True, "195.5", 265598, "SMART", 2),
                    Condition(3, "a", False, "20261121 15:00:00 UTC")],
        conditions_ignore_rth=True, conditions_cancel_order=True, auto_cancel_parent=True)
    order = WorkingOrder(spec, client_id=3, perm_id=1007001, instrument=AAPL, seq=1,
                         placed_at=0.0, status="PreSubmitted", why_held="trigger")
    order.trail_stop = Decimal("187.15")
    for name, value in overrides.items():
        setattr(order, name, value)
    return order


def execution(**overrides: object) -> ExecutionRecord:
    values = dict(exec_id="000f5d99.00000001.01.01", client_id=3, order_id=7, perm_id=1007001,
                  instrument=AAPL, side="BOT", shares=Decimal(100), price=Decimal("190.01"),
                  time=datetime(2026, 11, 21, 14, 30, 5, tzinfo=timezone.utc).timestamp(),
                  cum_qty=Decimal(100), avg_price=Decimal("190.01"), order_ref="entry",
                  account=ACCOUNT, commission=Decimal("1.00"), realized=None)
    values.update(overrides)
    return ExecutionRecord(**values)


def test_open_order_decodes_in_ib_insync(caplog):
    _, contract, order, state = insync_decode(
        messages.open_order(working_order(), 176), caplog).only("openOrder")
    assert (order.orderId, order.permId, order.clientId, order.parentId) == (7, 1007001, 3, 5)
    assert (order.ocaGroup, order.ocaType, order.orderRef, order.account) == (
        "exit-5", 2, "exit", ACCOUNT)
    assert (order.action, order.totalQuantity, order.orderType, order.tif) == (
        "SELL", 100.0, "TRAIL", "GTC")
    assert order.trailStopPrice == 187.15 and order.trailingPercent == 1.5
    assert order.goodAfterTime == GAT and order.autoCancelParent is True
    assert [type(c).__name__ for c in order.conditions] == ["PriceCondition", "TimeCondition"]
    price, when = order.conditions
    assert (price.conjunction, price.price, price.conId, price.triggerMethod) == (
        "o", 195.5, 265598, 2)
    assert when.isMore is False and when.time == "20261121 15:00:00 UTC"
    assert order.conditionsCancelOrder is True and order.conditionsIgnoreRth is True
    assert state.status == "PreSubmitted"
    assert contract.conId == 265598 and contract.symbol == "AAPL"


def test_open_order_of_a_plain_limit_decodes_without_conditions(caplog):
    order = working_order()
    order.spec.conditions, order.spec.order_type, order.spec.lmt_price = [], "LMT", Decimal(
        "190.5")
    _, _, decoded, _ = insync_decode(messages.open_order(order, 176), caplog).only("openOrder")
    assert decoded.conditions == [] and decoded.lmtPrice == 190.5
    assert decoded.auxPrice > 1e300  # unset travels as blank, read back as UNSET_DOUBLE


def test_completed_order_decodes_in_ib_insync(caplog):
    order = working_order(status="Filled", filled=Decimal(100), completed_time=1.8e9,
                          completed_status="Filled")
    _, order_out, state = insync_decode(messages.completed_order(order, 176), caplog).only(
        "completedOrder")
    assert order_out.permId == 1007001 and order_out.filledQuantity == 100.0
    assert (order_out.ocaGroup, order_out.ocaType) == ("exit-5", 2)
    assert state.status == "Filled" and state.completedStatus == "Filled"
    assert len(order_out.conditions) == 2


def test_order_status_decodes_in_ib_insync(caplog):
    order = working_order(filled=Decimal(40), avg_fill_price=Decimal("190.02"),
                          last_fill_price=Decimal("190.03"), status="Submitted")
    args = insync_decode(messages.order_status(order), caplog).only("orderStatus")
    assert args == (7, "Submitted", 40.0, 60.0, 190.02, 1007001, 5, 190.03, 3, "trigger", 0.0)


def test_exec_details_decodes_in_ib_insync_and_has_31_fields_at_176(caplog):
    fields = messages.exec_details(-1, execution(), 176)
    assert len(fields) == 31
    req_id, contract, ex = insync_decode(fields, caplog).only("execDetails")
    assert req_id == -1 and contract.conId == 265598
    assert (ex.execId, ex.orderId, ex.permId, ex.clientId, ex.side) == (
        "000f5d99.00000001.01.01", 7, 1007001, 3, "BOT")
    assert (ex.shares, ex.price, ex.cumQty, ex.avgPrice, ex.orderRef) == (
        100.0, 190.01, 100.0, 190.01, "entry")
    assert ex.time == datetime(2026, 11, 21, 14, 30, 5, tzinfo=timezone.utc)
    assert ex.acctNumber == ACCOUNT and ex.lastLiquidity == 2


def test_exec_details_layout_of_178_breaks_ib_insync_0_9_86(caplog):
    fields = messages.exec_details(-1, execution(), 178)
    assert len(fields) == 32
    with pytest.raises(ValueError):
        insync_decode(fields, caplog)


def test_fa_profile_is_present_only_below_177():
    order = working_order()
    at_176, at_177 = messages.open_order(order, 176), messages.open_order(order, 177)
    assert len(at_176) == len(at_177) + 1
    fa_profile = 36  # after faGroup, faMethod, faPercentage
    assert at_176[:fa_profile] == at_177[:fa_profile]
    assert at_176[fa_profile + 1:] == at_177[fa_profile:]
    done = working_order(status="Filled", completed_time=0.0)
    assert len(messages.completed_order(done, 176)) == len(messages.completed_order(done, 177)) + 1


def test_commission_report_decodes_in_ib_insync(caplog):
    (report,) = insync_decode(messages.commission_report(execution(realized=Decimal("-3.5"))),
                              caplog).only("commissionReport")
    assert (report.execId, report.commission, report.currency, report.realizedPNL) == (
        "000f5d99.00000001.01.01", 1.0, "USD", -3.5)


def test_position_and_portfolio_decode_in_ib_insync(caplog):
    fields = messages.position(ACCOUNT, AAPL, Decimal(100), Decimal("190.02"))
    assert len(fields) == 16
    account, contract, qty, avg = insync_decode(fields, caplog).only("position")
    assert (account, contract.conId, contract.symbol, qty, avg) == (
        ACCOUNT, 265598, "AAPL", 100.0, 190.02)
    fields = messages.portfolio(ACCOUNT, AAPL, Decimal(-50), Decimal("191.00"), Decimal("190.00"),
                                Decimal("12.5"))
    assert len(fields) == 20
    contract, qty, price, value, avg, unrealized, realized, account = insync_decode(
        fields, caplog).only("updatePortfolio")
    assert (contract.conId, qty, price, value, avg) == (265598, -50.0, 191.0, -9550.0, 190.0)
    assert (unrealized, realized, account) == (-50.0, 12.5, ACCOUNT)


def test_contract_details_decode_in_ib_insync(caplog):
    req_id, details = insync_decode(messages.contract_details(9, AAPL, "SMART"), caplog).only(
        "contractDetails")
    assert req_id == 9 and details.contract.conId == 265598
    assert details.minTick == 0.01 and details.contract.exchange == "SMART"
    assert details.contract.currency == "USD" and details.contract.primaryExchange == "NASDAQ"
    assert details.longName == "APPLE INC" and details.minSize == 1.0


# -- replies through ibapi's decoder (v178) ------------------------------------------------
class ApiRecorder(EWrapper):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, tuple]] = []

    def _record(self, name: str, *args: object) -> None:
        self.calls.append((name, args))

    def error(self, reqId, errorTime, errorCode, errorString, advancedOrderRejectJson=""):  # noqa: N803
        self._record("error", reqId, errorCode, errorString)

    def openOrder(self, orderId, contract, order, orderState):  # noqa: N802, N803
        self._record("openOrder", orderId, contract, order, orderState)

    def orderStatus(self, *args):  # noqa: N802
        self._record("orderStatus", *args)

    def completedOrder(self, contract, order, orderState):  # noqa: N802, N803
        self._record("completedOrder", contract, order, orderState)

    def execDetails(self, reqId, contract, execution):  # noqa: N802, N803
        self._record("execDetails", reqId, contract, execution)

    def commissionAndFeesReport(self, report):  # noqa: N802
        self._record("commissionAndFeesReport", report)

    def position(self, *args):
        self._record("position", *args)

    def updatePortfolio(self, *args):  # noqa: N802
        self._record("updatePortfolio", *args)

    def contractDetails(self, reqId, details):  # noqa: N802, N803
        self._record("contractDetails", reqId, details)

    def only(self, name: str) -> tuple:
        assert [c for c, _ in self.calls] == [name], self.calls
        return self.calls[0][1]


def api_decode(fields: list[object], caplog) -> ApiRecorder:
    """Decode one message exactly as ``EClient.run`` does: id split off, fields as bytes."""
    recorder = ApiRecorder()
    decoder = ApiDecoder(recorder, 178)
    payload = frame(fields)[4:]
    msg_id, _, rest = payload.partition(b"\0")
    with caplog.at_level(logging.WARNING, logger="ibapi"):
        decoder.interpret(comm.read_fields(rest), int(msg_id))
    assert not caplog.records, caplog.text
    return recorder


def test_open_order_decodes_in_ibapi(caplog):
    order_id, contract, order, state = api_decode(
        messages.open_order(working_order(), 178), caplog).only("openOrder")
    assert (order_id, order.permId, order.clientId, order.parentId) == (7, 1007001, 3, 5)
    assert (order.ocaGroup, order.ocaType, order.totalQuantity) == ("exit-5", 2, Decimal(100))
    assert order.trailStopPrice == 187.15 and order.trailingPercent == 1.5
    assert order.autoCancelParent is True and order.conditionsCancelOrder is True
    price, when = order.conditions
    assert (price.conId, price.price, price.isMore, price.isConjunctionConnection) == (
        265598, 195.5, True, False)
    assert when.time == "20261121 15:00:00 UTC" and when.isMore is False
    assert state.status == "PreSubmitted" and contract.symbol == "AAPL"


def test_completed_order_decodes_in_ibapi(caplog):
    order = working_order(status="Cancelled", completed_time=1.8e9,
                          completed_status="Cancelled by Trader")
    _, order_out, state = api_decode(messages.completed_order(order, 178), caplog).only(
        "completedOrder")
    assert order_out.permId == 1007001 and order_out.filledQuantity == Decimal(0)
    assert state.status == "Cancelled" and state.completedStatus == "Cancelled by Trader"
    assert order_out.ocaGroup == "exit-5" and len(order_out.conditions) == 2


def test_order_status_decodes_in_ibapi(caplog):
    order = working_order(filled=Decimal(100), avg_fill_price=Decimal("190.02"),
                          last_fill_price=Decimal("190.02"), status="Filled", why_held="")
    args = api_decode(messages.order_status(order), caplog).only("orderStatus")
    assert args[:9] == (7, "Filled", Decimal(100), Decimal(0), 190.02, 1007001, 5, 190.02, 3)


def test_exec_details_decodes_in_ibapi_with_pending_price_revision(caplog):
    req_id, contract, ex = api_decode(messages.exec_details(12, execution(), 178), caplog).only(
        "execDetails")
    assert req_id == 12 and contract.conId == 265598 and contract.tradingClass == "NMS"
    assert (ex.execId, ex.orderId, ex.permId, ex.clientId, ex.side) == (
        "000f5d99.00000001.01.01", 7, 1007001, 3, "BOT")
    assert (ex.shares, ex.price, ex.cumQty) == (Decimal(100), 190.01, Decimal(100))
    assert ex.pendingPriceRevision is False and ex.lastLiquidity == 2


def test_commission_position_portfolio_and_details_decode_in_ibapi(caplog):
    (report,) = api_decode(messages.commission_report(execution()), caplog).only(
        "commissionAndFeesReport")
    assert report.commissionAndFees == 1.0 and report.execId == "000f5d99.00000001.01.01"
    account, contract, qty, avg = api_decode(
        messages.position(ACCOUNT, AAPL, Decimal(100), Decimal("190.02")), caplog).only(
        "position")
    assert (account, contract.conId, qty, avg) == (ACCOUNT, 265598, Decimal(100), 190.02)
    portfolio = api_decode(messages.portfolio(
        ACCOUNT, AAPL, Decimal(10), Decimal("191"), Decimal("190"), Decimal(0)), caplog).only(
        "updatePortfolio")
    assert portfolio[0].conId == 265598 and portfolio[1:5] == (Decimal(10), 191.0, 1910.0,
                                                              190.0)
    req_id, details = api_decode(messages.contract_details(9, AAPL, "SMART"), caplog).only(
        "contractDetails")
    assert (req_id, details.contract.conId, details.minTick) == (9, 265598, 0.01)
    assert details.contract.exchange == "SMART" and details.sizeIncrement == Decimal(1)


def test_market_order_round_trips_from_ib_insync_request_to_its_own_decoder(caplog):
    """What ib_insync sends comes back to it as the same order."""
    spec = parse_place_order(insync_place(MarketOrder("BUY", 25, orderRef="r")), 176)
    order = WorkingOrder(spec, 1, 1007009, AAPL, 1, 0.0, status="Submitted")
    _, _, decoded, _ = insync_decode(messages.open_order(order, 176), caplog).only("openOrder")
    assert (decoded.orderId, decoded.action, decoded.totalQuantity, decoded.orderType) == (
        41, "BUY", 25.0, "MKT")
    assert decoded.orderRef == "r" and decoded.permId == 1007009 and decoded.clientId == 1


@pytest.mark.parametrize("end", [1500, 1501, 1502, 1650, 1799])
def test_history_window_counts_bars_that_overlap_it(end):
    """600 s of 5-min bars touch three buckets however the end aligns (it once gave four)."""
    from backend.sim.history import HistoryQuery, aggregate
    from backend.sim.market import Bar

    one = Decimal(1)
    bars = [Bar(t, one, one, one, one, 1, 1) for t in range(0, 3000, 5)]
    selected = aggregate(bars, HistoryQuery(300, 600, end))
    assert len(selected) == 3
    assert selected[0].time == (end - 600) - (end - 600) % 300
