"""Garbage in, service continues: random requests must never take a session or the server down.

Kinds of input: well-framed messages with random ids and random fields on
a session that has completed the handshake (the server must answer each
with a reply or an error 320 and keep serving that very socket); orders
carrying absurd numbers (refused with 321, and every later reply still
reaches its end marker); random bytes on fresh connections that never
handshake (the server may close them or ignore them, but must never answer
them as a client, and other clients must not notice); frames cut short or
longer than any request (closed, the first after the deadline, the second
at its length prefix). After every example both a raw socket and a real
ib_insync client must still get an answer to reqCurrentTime. Last, 50 real
clients trade at once and the broker's state adds up.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import struct
from collections.abc import Iterator
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ib_insync import (
    IB,
    ExecutionFilter,
    LimitOrder,
    MarketOrder,
    Order,
    PriceCondition,
    Stock,
    StopOrder,
)
from ibapi.contract import Contract as ApiContract
from ibapi.execution import ExecutionFilter as ApiExecutionFilter
from ibapi.order import Order as ApiOrder
from ibapi.order_cancel import OrderCancel

from backend.sim import SimThread
from backend.sim.wire import is_unset
from tests.helpers import eventually
from tests.sim.conftest import quiet_config
from tests.sim.encodings import ib_insync_requests, ibapi_requests
from tests.sim.wireclient import WireClient

MAX_REQUEST = 64 * 1024
DEADLINE_S = 0.5
_client_ids = itertools.count(1000)
_order_ids = itertools.count(50_000)

KNOWN_IDS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 14, 15, 16, 17, 20, 25, 49, 58, 59, 61, 62, 63, 64,
             71, 76, 77, 92, 93, 99]
SENTINELS = ["", "2147483647", "9223372036854775807", "1.7976931348623157E308",
             "1.7976931348623157e+308", "Infinity", "-Infinity", "Infinite", "NaN", "nan",
             "1e999999999", "-1e999999999", "1e-999999999", "9" * 400, "-1", "0", "1",
             "170141183460469231731687303715884105727"]
VOCABULARY = ["AAPL", "MSFT", "STK", "SMART", "USD", "BUY", "SELL", "MKT", "LMT", "STP",
              "TRAIL", "STP LMT", "GTC", "DAY", "IOC", "GTD", "BAG", "DU1234567", "1 min",
              "5 secs", "1 day", "1800 S", "2 D", "TRADES", "20261121 14:03:00 UTC",
              "20261121-14:03:00", "v100..178", "a", "o", "$LEDGER:ALL", "265598"]

field = st.one_of(
    st.sampled_from(SENTINELS),
    st.sampled_from(VOCABULARY),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(st.characters(min_codepoint=1, max_codepoint=0x2FF), max_size=12),
)
message_id = st.one_of(st.sampled_from(KNOWN_IDS), st.integers(-3, 400),
                       st.text(max_size=4))
random_messages = st.tuples(message_id, st.lists(field, max_size=60)).map(
    lambda t: [str(t[0]), *t[1]])


def _templates() -> list[list[str]]:
    """Valid requests from both real clients, to be mutated into near-misses."""
    aapl = Stock("AAPL", "SMART", "USD", conId=265598)
    trail = Order(action="SELL", totalQuantity=100, orderType="TRAIL", trailingPercent=1.5)
    conditioned = LimitOrder("BUY", 10, 150.0, conditionsCancelOrder=True,
                             conditions=[PriceCondition(price=200.0, conId=265598,
                                                        exch="SMART")])
    insync = ib_insync_requests(lambda c: (
        c.placeOrder(1000, aapl, LimitOrder("BUY", 10, 150.0)),
        c.placeOrder(1001, aapl, StopOrder("SELL", 10, 120.0, parentId=1000)),
        c.placeOrder(1002, aapl, trail), c.placeOrder(1003, aapl, conditioned),
        c.cancelOrder(1000), c.reqMktData(7, aapl, "", True, False, []),
        c.reqHistoricalData(8, aapl, "", "1800 S", "1 min", "TRADES", 1, 1, False, []),
        c.reqContractDetails(9, aapl), c.reqExecutions(10, ExecutionFilter(symbol="AAPL")),
        c.reqAccountSummary(11, "All", "NetLiquidation,$LEDGER:ALL"),
        c.reqPnL(12, "DU1234567", ""), c.reqAccountUpdates(True, "DU1234567"),
        c.reqAccountUpdatesMulti(13, "DU1234567", "", False), c.reqPositions(),
        c.reqOpenOrders(), c.reqAllOpenOrders(), c.reqCompletedOrders(False), c.reqIds(1),
        c.reqMarketDataType(3), c.cancelMktData(7), c.cancelPnL(12)))
    contract = ApiContract()
    contract.symbol, contract.secType, contract.exchange, contract.currency = (
        "MSFT", "STK", "SMART", "USD")
    order = ApiOrder()
    order.action, order.totalQuantity, order.orderType, order.lmtPrice = (
        "BUY", Decimal(5), "LMT", 300.0)
    official = ibapi_requests(lambda c: (
        c.placeOrder(2000, contract, order), c.cancelOrder(2000, OrderCancel()),
        c.reqExecutions(14, ApiExecutionFilter()),
        c.reqHistoricalData(15, contract, "", "1 D", "5 mins", "MIDPOINT", 0, 2, False, []),
        c.reqContractDetails(16, contract)))
    return insync + official


TEMPLATES = _templates()


@st.composite
def mutated_templates(draw) -> list[str]:
    fields = list(draw(st.sampled_from(TEMPLATES)))
    for _ in range(draw(st.integers(0, 4))):
        index = draw(st.integers(1, len(fields) - 1)) if len(fields) > 1 else 0
        fields[index] = draw(field)
    if draw(st.booleans()):
        fields = fields[:draw(st.integers(1, len(fields)))]
    if draw(st.integers(0, 4)) == 0:
        fields += draw(st.lists(field, min_size=1, max_size=5))
    return fields


messages = st.lists(st.one_of(random_messages, mutated_templates()), min_size=1, max_size=4)


class _Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def fuzz_sim() -> Iterator[SimThread]:
    config = quiet_config(tick_interval_s=0.1, max_request_bytes=MAX_REQUEST,
                          handshake_timeout_s=DEADLINE_S, message_deadline_s=DEADLINE_S)
    with SimThread(config) as thread:
        yield thread


@pytest.fixture(scope="module")
def internal_errors() -> Iterator[list[logging.LogRecord]]:
    """Errors the simulator logs: an exception in a handler is a bug even if it answers 320."""
    recorder = _Recorder()
    logger = logging.getLogger("sigma9.sim")
    logger.addHandler(recorder)
    yield recorder.records
    logger.removeHandler(recorder)


@pytest.fixture(scope="module")
def session(fuzz_sim: SimThread) -> Iterator[WireClient]:
    client = WireClient(fuzz_sim.port)
    client.connect(90)
    yield client
    client.close()


@pytest.fixture(scope="module")
def bystander(fuzz_sim: SimThread) -> Iterator[IB]:
    """A real client on its own event loop, for the whole module."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    ib = IB()
    ib.connect("127.0.0.1", fuzz_sim.port, clientId=91, timeout=5)
    yield ib
    ib.disconnect()
    asyncio.set_event_loop(None)
    loop.close()


def _drain(client: WireClient) -> None:
    while client.read(0.0) is not None:
        pass


@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(batch=messages)
def test_random_requests_keep_the_session_serving(session, bystander, internal_errors,
                                                  batch):
    for fields in batch:
        session.send(*fields)
    assert session.current_time() > 0, "the fuzzed socket stopped answering"
    assert not session.closed
    assert bystander.reqCurrentTime() is not None
    assert not internal_errors, [r.getMessage() for r in internal_errors]
    _drain(session)


@settings(max_examples=60, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.binary(min_size=1, max_size=300))
def test_random_bytes_without_handshake_are_never_answered(fuzz_sim, session, bystander,
                                                           data):
    with WireClient(fuzz_sim.port) as stranger:
        stranger.send_bytes(data)
        reply = stranger.read(0.05)
        # No handshake happened, so no server version may ever come back: at most an
        # error message before the server closes the connection.
        assert reply is None or reply[:1] == ["4"], f"answered garbage with {reply}"
    assert session.current_time() > 0
    assert bystander.reqCurrentTime() is not None
    _drain(session)


def test_a_broken_handshake_is_closed_not_served(fuzz_sim, bystander):
    """A valid prefix with a nonsense version string gets the connection closed."""
    with WireClient(fuzz_sim.port) as stranger:
        assert stranger.hello("hello there") is None
        assert stranger.wait_closed(1.0)
    assert bystander.reqCurrentTime() is not None


# -- absurd numbers ----------------------------------------------------------------------------
ABSURD = st.one_of(
    st.integers(min_value=10**12, max_value=10**60).map(str),
    st.integers(min_value=10**12, max_value=10**60).map(lambda n: f"-{n}"),
    st.floats(min_value=1e12, max_value=1e300).map(repr),
    st.builds("{}e{}".format, st.integers(1, 9), st.integers(12, 308)),
    st.builds("{}E+{}".format, st.integers(1, 9), st.integers(12, 308)),
    st.sampled_from(["1e28", "1E+28", "-1e28", "1" + "0" * 28, "9.99e27", "1e-400"]),
).filter(lambda text: not is_unset(text))  # 2**63 - 1 and 2**127 - 1 spell "unset"
PLACE_TEMPLATE = ib_insync_requests(lambda c: c.placeOrder(
    1, Stock("AAPL", "SMART", "USD", conId=265598), LimitOrder("SELL", 10, 150.0)))[0]
NUMBER_FIELDS = {"totalQuantity": 17, "lmtPrice": 19}
assert [PLACE_TEMPLATE[i] for i in NUMBER_FIELDS.values()] == ["10", "150.0"], PLACE_TEMPLATE


@settings(max_examples=40, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(field_name=st.sampled_from(sorted(NUMBER_FIELDS)), text=ABSURD)
def test_absurd_numbers_are_refused_and_every_later_reply_still_ends(session, bystander,
                                                                     internal_errors,
                                                                     field_name, text):
    """A 1e28 quantity used to be stored; formatting it later broke every reply listing it."""
    fields = list(PLACE_TEMPLATE)
    order_id = next(_order_ids)
    fields[1], fields[NUMBER_FIELDS[field_name]] = str(order_id), text
    session.send(*fields)
    answer = session.read_until(lambda f: f[:1] == ["4"] and f[2] == str(order_id))[-1]
    assert answer[3] == "321" and field_name in answer[4], answer
    session.send(99, 0)
    session.read_until(lambda f: f == ["102"])
    session.send(16, 1)
    session.read_until(lambda f: f == ["53", "1"])
    assert bystander.reqCurrentTime() is not None
    assert not internal_errors, [r.getMessage() for r in internal_errors]
    _drain(session)


# -- partial and oversized frames ----------------------------------------------------------------
def _stranger(port: int, handshaken: bool) -> WireClient:
    client = WireClient(port)
    if handshaken:
        client.connect(next(_client_ids))
    else:
        client.send_bytes(b"API\0")
    return client


@settings(max_examples=12, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(declared=st.integers(1, MAX_REQUEST), fraction=st.floats(0, 0.999),
       handshaken=st.booleans())
def test_a_frame_cut_short_is_closed_after_the_deadline(fuzz_sim, bystander, declared, fraction,
                                                        handshaken):
    with _stranger(fuzz_sim.port, handshaken) as stranger:
        body = min(int(declared * fraction), declared - 1)
        stranger.send_bytes(struct.pack(">I", declared) + b"x" * body)
        assert stranger.wait_closed(DEADLINE_S + 3), "a partial frame was held"
    assert bystander.reqCurrentTime() is not None


@settings(max_examples=20, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(declared=st.integers(MAX_REQUEST + 1, 2**32 - 1), handshaken=st.booleans(),
       body=st.binary(max_size=64))
def test_a_frame_longer_than_any_request_is_refused_at_its_prefix(fuzz_sim, bystander,
                                                                  declared, handshaken, body):
    with _stranger(fuzz_sim.port, handshaken) as stranger:
        stranger.send_bytes(struct.pack(">I", declared) + body)
        seen = []
        while (msg := stranger.read(DEADLINE_S + 3)) is not None:
            seen.append(msg)
        assert stranger.closed
        if handshaken:  # refused with a reason, not left to time out
            assert seen and seen[-1][3] == "320" and "exceeds" in seen[-1][4], seen
    assert bystander.reqCurrentTime() is not None


# -- many clients at once ----------------------------------------------------------------------
TRADERS = 50


def test_fifty_clients_trade_at_once_and_the_books_add_up(event_loop_for_ib):
    config = quiet_config(max_clients=TRADERS + 5)
    aapl = Stock("AAPL", "SMART", "USD", conId=265598)
    with SimThread(config) as sim:
        async def trader(i: int) -> tuple[IB, int, int]:
            ib = IB()
            await ib.connectAsync("127.0.0.1", sim.port, clientId=100 + i, timeout=30)
            resting = ib.placeOrder(aapl, LimitOrder("BUY", 1, 100.0 + i / 100))
            filled = ib.placeOrder(aapl, MarketOrder("BUY", i % 3 + 1))
            await eventually(lambda: resting.orderStatus.status == "Submitted", 30,
                             f"client {i}'s resting order")
            ib.cancelOrder(resting.order)
            await eventually(lambda: resting.orderStatus.status == "Cancelled"
                             and filled.orderStatus.status == "Filled" and filled.fills, 30,
                             f"client {i}'s cancel and fill")
            assert [f.execution.orderId for f in ib.fills()] == [filled.order.orderId]
            return ib, resting.order.orderId, filled.order.orderId

        loop = event_loop_for_ib
        results = loop.run_until_complete(asyncio.gather(*(trader(i) for i in range(TRADERS))))
        orders = {(o["client_id"], o["order_id"]): o for o in sim.orders()}
        assert len(orders) == 2 * TRADERS
        for i, (_ib, resting_id, filled_id) in enumerate(results):
            assert orders[(100 + i, resting_id)]["status"] == "Cancelled"
            filled = orders[(100 + i, filled_id)]
            assert (filled["status"], filled["filled"]) == ("Filled", i % 3 + 1)
        executions = sim.executions()
        assert sorted(e["client_id"] for e in executions) == [100 + i for i in range(TRADERS)]
        bought = sum(i % 3 + 1 for i in range(TRADERS))
        assert sim.positions()["AAPL"]["qty"] == bought == sum(e["shares"] for e in executions)
        assert sorted(sim.connected_clients()) == [100 + i for i in range(TRADERS)]
        for ib, _, _ in results:
            ib.disconnect()
