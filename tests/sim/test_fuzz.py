"""Garbage in, service continues: random requests must never take a session or the server down.

Two kinds of input: well-framed messages with random ids and random fields on
a session that has completed the handshake (the server must answer each
with a reply or an error 320 and keep serving that very socket), and random
bytes on fresh connections that never handshake (the server may close them
or ignore them, but must never answer them as a client, and other clients
must not notice). After every example both a raw socket and a real
ib_insync client must still get an answer to reqCurrentTime.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ib_insync import IB, ExecutionFilter, LimitOrder, Order, PriceCondition, Stock, StopOrder
from ibapi.contract import Contract as ApiContract
from ibapi.execution import ExecutionFilter as ApiExecutionFilter
from ibapi.order import Order as ApiOrder
from ibapi.order_cancel import OrderCancel

from backend.sim import SimThread
from tests.sim.conftest import quiet_config
from tests.sim.encodings import ib_insync_requests, ibapi_requests
from tests.sim.wireclient import WireClient

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
    with SimThread(quiet_config(tick_interval_s=0.1)) as thread:
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
