"""The capture reader on known frames: protobuf (server version 225), text and JSON."""

from __future__ import annotations

import base64
from decimal import Decimal
from pathlib import Path

import pytest
from ibapi.client import EClient
from ibapi.contract import Contract
from ibapi.order import Order
from ibapi.wrapper import EWrapper

from tests.conformance.allowances import relative_band, tolerated_statuses
from tests.conformance.capture import OrderStory, collapse, load_capture, parse_capture
from tests.conformance.frames import decode_client, decode_server
from tests.conformance.replay import compare, normalise_text

CAPTURES = Path(__file__).parent / "captures"
ERROR_328 = ("AAAAWwAAAMwI3AMQuvqJrIM0GMgCIkhUcmFpbGluZyBzdG9wIG9yZGVycyBjYW4gYmUgYXR0YWNoZWQgdG8g"
             "bGltaXQgb3Igc3RvcC1saW1pdCBvcmRlcnMgb25seS4=")


def test_the_328_frame_decodes_to_its_code_order_and_text():
    ((kind, order_id, fields),) = decode_server(base64.b64decode(ERROR_328), 225)
    assert (kind, order_id, fields["code"]) == ("error", 476, 328)
    assert fields["message"] == ("Trailing stop orders can be attached to limit or stop-limit "
                                 "orders only.")


def test_the_trailing_bracket_capture_reads_as_ib_sent_it():
    cap = load_capture(CAPTURES / "api_bracket_trailing_stop_aapl.sv225.txt")
    assert cap.server_version == 225 and cap.live
    places = [e for e in cap.client_requests() if e.kind == "place_order"]
    assert [(e.order_id, e.fields["order_type"], e.fields["parent_id"], e.fields["transmit"])
            for e in places] == [(474, "MKT", 0, False), (475, "LMT", 474, False),
                                 (476, "TRAIL", 474, True)]
    trail = places[2].fields
    assert (trail["aux_price"], trail["trail_stop_price"]) == (Decimal("1"), Decimal("15.53"))
    assert [e.kind for e in cap.client_requests()][-2:] == ["global_cancel", "req_executions"]
    parent = cap.orders()[474]
    assert parent.statuses == ["Cancelled"]
    assert parent.errors[0] == (202, "Order Canceled - reason:Order was discarded.")
    assert parent.errors[1][0] == 161 and cap.orders()[476].errors[0][0] == 328


def test_held_children_and_session_warnings_in_the_bracket_capture():
    orders = load_capture(CAPTURES / "api_bracket_place_aapl.sv225.txt").orders()
    assert orders[569].why_held == ["child", ""] and orders[570].why_held == ["child,trigger", ""]
    assert all(o.statuses == ["PreSubmitted", "Cancelled"] for o in orders.values())
    assert [c for c, _ in orders[568].errors] == [399, 202]
    assert orders[568].errors[0][1].endswith(
        "will not be placed at the exchange until 2026-08-25 09:30:00 US/Eastern.")


def test_semantic_lines_and_legs():
    cap = parse_capture("\n".join([
        "# Grounded by live API capture captures/x.",
        'handshake {"server_version":200,"connection_time":"20260415 18:28:58 CET"}',
        'client place_order {"order_id":"7","action":"BUY","total_quantity":"10",'
        '"order_type":"LMT","lmt_price":"13.27","tif":"GTC"}',
        'server order_status {"order_id":7,"status":"Submitted","filled":"0",'
        '"client_id":"1","why_held":""}',
        "disconnect",
        'client cancel_order {"order_id":"7"}',
        'server order_status {"order_id":7,"status":"Cancelled","filled":"0","client_id":"2"}',
        'server api_error {"req_id":7,"code":202,"message":"Order Canceled - reason:"}',
    ]), name="x")
    assert cap.live and cap.server_version == 200 and cap.legs() == [1, 2]
    place = cap.client_requests()[0]
    assert place.fields["contract"]["symbol"] == "AAPL"  # omitted contracts were AAPL
    assert place.fields["lmt_price"] == Decimal("13.27") and place.fields["transmit"] is True
    story = cap.orders()[7]
    assert story.statuses == ["Submitted", "Cancelled"]
    assert story.errors == [(202, "Order Canceled - reason:")]


def test_repeated_statuses_collapse_but_returns_stay():
    assert collapse(["PreSubmitted", "PreSubmitted", "Submitted", "PreSubmitted"]) == [
        "PreSubmitted", "Submitted", "PreSubmitted"]


class _Wire:
    """Stands in for ibapi's socket connection: keeps the bytes it is given."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def sendMsg(self, msg: bytes) -> int:  # noqa: N802 - ibapi's connection interface
        self.frames.append(msg)
        return len(msg)

    def isConnected(self) -> bool:  # noqa: N802
        return True


class _Sent(EWrapper, EClient):
    """ibapi writing requests at a given server version, into a list (no socket)."""

    def __init__(self, server_version: int) -> None:
        EWrapper.__init__(self)
        EClient.__init__(self, wrapper=self)
        self.conn = _Wire()
        self.frames = self.conn.frames
        self.connState, self.serverVersion_ = EClient.CONNECTED, server_version


def test_text_frames_at_178_as_ibapi_writes_them():
    """A sigma9 paper-check capture holds text frames at 176/178: ibapi's own bytes
    for a TRAIL child read back with every field the replay needs."""
    sent = _Sent(178)
    contract = Contract()
    contract.symbol, contract.secType, contract.exchange, contract.currency = (
        "AAPL", "STK", "SMART", "USD")
    order = Order()
    order.action, order.orderType, order.totalQuantity = "SELL", "TRAIL", Decimal(10)
    order.auxPrice, order.trailStopPrice, order.parentId, order.transmit = 1.0, 13.25, 286, True
    sent.placeOrder(288, contract, order)
    kind, order_id, fields = decode_client(sent.frames[-1], 178)
    assert (kind, order_id, fields["order_type"], fields["parent_id"]) == (
        "place_order", 288, "TRAIL", 286)
    assert fields["aux_price"] == Decimal("1") and fields["trail_stop_price"] == Decimal("13.25")
    status = b"\0".join([b"3", b"288", b"PreSubmitted", b"0", b"10", b"0", b"9", b"286", b"0",
                         b"1", b"child,trigger", b"0", b""])
    ((kind, oid, st),) = decode_server(len(status).to_bytes(4, "big") + status, 178)
    assert (kind, oid, st["status"], st["why_held"]) == (
        "order_status", 288, "PreSubmitted", "child,trigger")


def test_every_stored_capture_decodes_and_is_live():
    for path in sorted(CAPTURES.glob("*.txt")):
        cap = load_capture(path)
        assert cap.live, f"{path.name}: header does not say it is a live capture"
        assert cap.server_version is not None and 200 <= cap.server_version <= 225, path.name


def test_text_cancel_at_200_as_ibapi_writes_it():
    """From server version 192 ibapi's text cancelOrder has no version field (the
    order type matrix capture at 200 cancels so); before it, the version comes first."""
    from ibapi.order_cancel import OrderCancel

    for version in (178, 200):
        sent = _Sent(version)
        sent.cancelOrder(382, OrderCancel())
        assert decode_client(sent.frames[-1], version)[:2] == ("cancel_order", 382)


# -- the comparison: IB's own variations allowed, nothing else -------------------------------
def _story(statuses: list[str], why: list[str] | None = None, errors=(), filled=0) -> OrderStory:
    return OrderStory(1, list(statuses), list(why or [""]), list(errors), Decimal(filled))


TOLERATED = [
    # IB's sequence, the simulator's fullest one (captures: allowances.OPTIONAL_TRANSIENTS)
    (["Submitted", "Cancelled"], ["PreSubmitted", "Submitted", "PendingCancel", "Cancelled"]),
    (["PreSubmitted", "Filled"], ["PreSubmitted", "Submitted", "Filled"]),
    (["Submitted", "Filled"], ["PreSubmitted", "Submitted", "Filled"]),
    (["PendingCancel", "Cancelled"], ["PreSubmitted", "PendingCancel", "Cancelled"]),
    (["PreSubmitted", "PendingCancel", "Cancelled"],
     ["PreSubmitted", "Submitted", "PendingCancel", "Cancelled"]),
]


@pytest.mark.parametrize(("ib", "sim"), TOLERATED)
def test_a_transient_status_ib_left_out_is_not_a_difference(ib, sim):
    assert compare(_story(ib), _story(sim)) == []


CAUGHT = [
    # what is wrong, IB's story, the simulator's story
    ("final state", _story(["Submitted", "Cancelled"]),
     _story(["PreSubmitted", "Submitted"])),
    ("a missing Filled", _story(["Submitted", "Filled"], filled=10),
     _story(["PreSubmitted", "Submitted"], filled=10)),
    ("an extra Cancelled", _story(["PreSubmitted", "Submitted"]),
     _story(["PreSubmitted", "Submitted", "Cancelled"])),
    ("a status IB sent that the simulator left out",
     _story(["PreSubmitted", "Submitted", "PendingCancel", "Cancelled"]),
     _story(["PreSubmitted", "Submitted", "Cancelled"])),
    ("a transient where IB has none before that status",
     _story(["PreSubmitted", "Cancelled"]), _story(["PreSubmitted", "Submitted", "Cancelled"])),
    ("a wrong whyHeld", _story(["PreSubmitted"], ["trigger"]),
     _story(["PreSubmitted"], ["child,trigger", "trigger"])),
    ("a wrong code", _story(["Cancelled"], errors=[(202, "Order Canceled - reason:")]),
     _story(["Cancelled"], errors=[(201, "Order Canceled - reason:")])),
    ("a wrong text", _story(["Cancelled"], errors=[(202, "Order Canceled - reason:")]),
     _story(["Cancelled"], errors=[(202, "Order Canceled - reason:Order was discarded.")])),
]


@pytest.mark.parametrize(("what", "ib", "sim"), CAUGHT, ids=[c[0] for c in CAUGHT])
def test_the_comparison_still_catches(what, ib, sim):
    assert compare(ib, sim), what


def test_without_recorded_errors_only_the_codes_are_excused():
    ib = _story(["PendingCancel", "Cancelled"])
    sim = _story(["PreSubmitted", "PendingCancel", "Cancelled"],
                 errors=[(202, "Order Canceled - reason:")])
    assert compare(ib, sim, errors_recorded=False) == []
    assert compare(ib, sim) == ["order 1: error codes IB [] sim [202]"]
    wrong = _story(["PreSubmitted", "Submitted"])
    assert compare(ib, wrong, errors_recorded=False)


APRIL_BAND = ("Order Canceled - reason:We cannot accept an order at a limit price at or more "
              "aggressive than 265.255792. Please submit your order using a limit price that "
              "is closer to the current market price of 257.68.")
JUNE_BAND = ("Order Canceled - reason:We cannot accept an order at a limit price at or more "
             "aggressive than 301.449496. Please submit your order <br>using a limit price "
             "that is closer to the current market price of 292.84. or convert your order to "
             "an <br>algorithmic Order (IBALGO)")


def test_the_price_band_text_is_compared_by_its_stable_part_and_its_band():
    """api_oca_trigger_aapl (April) and api_order_type_matrix_aapl (June), both a BUY limit
    through the market: two wordings, one band (2.94%)."""
    assert normalise_text(APRIL_BAND) == normalise_text(JUNE_BAND)
    other_band = JUNE_BAND.replace("301.449496", "298.696800")  # 2% through
    assert normalise_text(other_band) != normalise_text(JUNE_BAND)
    changed = APRIL_BAND.replace("We cannot accept", "We do not accept")
    assert normalise_text(changed) != normalise_text(APRIL_BAND)
    assert relative_band("Order Canceled - reason:") == "Order Canceled - reason:"


def test_sim_sequence_shown_as_sent_when_it_differs():
    assert tolerated_statuses(["Submitted", "Cancelled"], ["PreSubmitted", "Cancelled"]) == [
        "PreSubmitted", "Cancelled"]
