"""Decoding of ``raw client|server BASE64`` frames into (kind, order_id, fields).

A frame is a 4-byte big-endian length and the message. At server version 201 and
above (ibapi ``MIN_SERVER_VER_PROTOBUF``) a 4-byte big-endian message id follows;
an id above 200 is a protobuf message (classic id + 200), anything else a classic
NUL-separated text message. Below 201 the message id is the first text field.

Server messages are decoded by ibapi 10.51's own ``Decoder`` (text layouts and the
``ibapi/protobuf`` schemas alike), so what a capture says the server sent is read
exactly as the official client reads it. Client messages have no decoder in ibapi:
protobuf requests are parsed with ibapi's ``*_pb2`` schemas, text placeOrder frames
with the simulator's own field walker (``backend.sim.requests.parse_place_order``,
written for the layouts of server versions 170-178 that ibapi and ib_insync send).
"""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any

from ibapi.decoder import Decoder
from ibapi.protobuf.CancelOrderRequest_pb2 import CancelOrderRequest
from ibapi.protobuf.CompletedOrdersRequest_pb2 import CompletedOrdersRequest
from ibapi.protobuf.ExecutionRequest_pb2 import ExecutionRequest
from ibapi.protobuf.GlobalCancelRequest_pb2 import GlobalCancelRequest
from ibapi.protobuf.MarketDataRequest_pb2 import MarketDataRequest
from ibapi.protobuf.PlaceOrderRequest_pb2 import PlaceOrderRequest

from tests.conformance.recorder import Recorder, order_fields, proto_order_fields

PROTOBUF_OFFSET = 200
MIN_SERVER_VER_PROTOBUF = 201
MIN_SERVER_VER_CME_TAGGING = 192
"""ibapi ``MIN_SERVER_VER_CME_TAGGING_FIELDS``: text cancelOrder loses its version field."""

# Classic outgoing (client) message ids, from ibapi.message.OUT.
CLIENT_KINDS: dict[int, str] = {
    1: "req_mkt_data", 2: "cancel_mkt_data", 3: "place_order", 4: "cancel_order",
    5: "req_open_orders", 7: "req_executions", 8: "req_ids", 9: "req_contract_details",
    15: "req_auto_open_orders", 16: "req_all_open_orders", 49: "req_current_time",
    58: "global_cancel", 59: "req_market_data_type", 71: "start_api", 99: "req_completed_orders",
}


def split_frame(data: bytes, server_version: int) -> tuple[int, bool, bytes]:
    """(message id, is_protobuf, payload) of one length-prefixed frame."""
    length = int.from_bytes(data[:4], "big")
    body = data[4:]
    if length != len(body):
        raise ValueError(f"frame length {length} but {len(body)} bytes follow")
    if server_version >= MIN_SERVER_VER_PROTOBUF and not _looks_textual(body):
        msg_id = int.from_bytes(body[:4], "big")
        payload = body[4:]
        if msg_id > PROTOBUF_OFFSET:
            return msg_id - PROTOBUF_OFFSET, True, payload
        return msg_id, False, payload
    head, _, rest = body.partition(b"\0")
    return int(head), False, rest


def _looks_textual(body: bytes) -> bool:
    """A text-encoded frame at >= 201 still starts with a binary id; an ASCII id
    followed by NUL (as sigma9 paper-check writes at 176/178) never does."""
    head, sep, _ = body[:8].partition(b"\0")
    return bool(sep) and head.isdigit() and len(head) <= 3


def decode_server(data: bytes, server_version: int) -> list[tuple[str, int | None, dict]]:
    """Every callback ibapi's decoder makes for one server frame, normalised."""
    msg_id, is_proto, payload = split_frame(data, server_version)
    recorder = Recorder()
    decoder = Decoder(recorder, server_version)
    if is_proto:
        decoder.processProtoBuf(payload, msg_id)
    else:
        fields = tuple(payload.split(b"\0")[:-1])
        decoder.interpret(fields, msg_id)
    if not recorder.events:
        return [("server_msg", None, {"msg_id": msg_id})]
    return recorder.events


def decode_client(data: bytes, server_version: int) -> tuple[str, int | None, dict]:
    """One client request, normalised; unknown requests keep their message id."""
    msg_id, is_proto, payload = split_frame(data, server_version)
    kind = CLIENT_KINDS.get(msg_id, "client_msg")
    if is_proto:
        return _client_proto(kind, msg_id, payload)
    fields = [f.decode("utf-8", "replace") for f in payload.split(b"\0")[:-1]]
    return _client_text(kind, msg_id, fields, server_version)


def _client_proto(kind: str, msg_id: int, payload: bytes) -> tuple[str, int | None, dict]:
    if kind == "place_order":
        msg = PlaceOrderRequest.FromString(payload)
        return kind, msg.orderId, proto_order_fields(msg.contract, msg.order)
    if kind == "cancel_order":
        msg = CancelOrderRequest.FromString(payload)
        return kind, msg.orderId, {"manual_order_cancel_time":
                                   msg.orderCancel.manualOrderCancelTime}
    if kind == "global_cancel":
        GlobalCancelRequest.FromString(payload)
        return kind, None, {}
    if kind == "req_completed_orders":
        return kind, None, {"api_only": CompletedOrdersRequest.FromString(payload).apiOnly}
    if kind == "req_executions":
        return kind, None, {"req_id": ExecutionRequest.FromString(payload).reqId}
    if kind == "req_mkt_data":
        msg = MarketDataRequest.FromString(payload)
        return kind, None, {"req_id": msg.reqId, "symbol": msg.contract.symbol}
    return kind, None, {"msg_id": msg_id}


def _client_text(kind: str, msg_id: int, fields: list[str],
                 server_version: int) -> tuple[str, int | None, dict]:
    if kind == "place_order":
        from backend.sim.requests import parse_place_order  # the server's own reading

        spec = parse_place_order([str(msg_id), *fields], server_version)
        return kind, spec.order_id, order_fields(spec)
    if kind == "cancel_order":
        # ibapi drops the leading version field from server version 192
        # (MIN_SERVER_VER_CME_TAGGING_FIELDS): [version,] orderId[, manualOrderCancelTime...]
        return kind, int(fields[0 if server_version >= MIN_SERVER_VER_CME_TAGGING else 1]), {}
    if kind == "req_completed_orders":
        return kind, None, {"api_only": fields[0] == "1"}
    if kind == "req_executions":
        return kind, None, {"req_id": int(fields[1])}
    return kind, None, {"msg_id": msg_id}


def frame_bytes(b64: str) -> bytes:
    return base64.b64decode(b64, validate=True)


def as_decimal(value: Any) -> Decimal | None:
    """A price or quantity from any capture spelling; unset sentinels become None."""
    if value is None or value == "":
        return None
    number = Decimal(str(value))
    if not number.is_finite() or abs(number) >= Decimal("1e300") or number == 2147483647:
        return None
    return number
