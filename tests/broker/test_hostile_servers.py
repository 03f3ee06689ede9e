"""Ports that are not TWS, tried deliberately: one sentence, no traceback, no hang.

Each server here is a raw asyncio server in the test, speaking (or not) the TWS framing of
``backend.sim.wire``: 4-byte big-endian length, NUL-terminated fields. The connector is the
real one with a real ib_insync IB inside.

Before (issue 10): a server that answered garbage left ib_insync logging a traceback from
its socket handler and then waiting out the whole timeout, and the sentence blamed the API
settings ("no API handshake"). Now the first unreadable reply ends the attempt at once,
naming what came back. The connector's timeout is set to an hour in those tests, so only an
answer to the garbage itself can end ``connect()`` before the test's guard does.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import AsyncIterator, Callable

import pytest
import pytest_asyncio

from backend.broker.connector import IBKRConnector
from backend.broker.errors import ConnectFailed
from backend.core.models import ConnectionState
from tests.helpers import eventually

pytestmark = pytest.mark.asyncio

HOUR = 3600.0
GUARD_S = 20.0
"""Only a hang guard: each attempt below ends on an event long before."""


def frame(*fields: object) -> bytes:
    body = b"".join(str(f).encode() + b"\0" for f in fields)
    return struct.pack(">I", len(body)) + body


HANDSHAKE = frame("176", "20261203 14:00:00 UTC")
"""A TWS server-version reply (server version 176, its connection time)."""


async def serve(reply: bytes, close: bool = False) -> tuple[asyncio.AbstractServer, int,
                                                           asyncio.Event]:
    """A server that reads the client's greeting, sends ``reply`` and keeps the socket open
    (or closes it); the event is set once the client hangs up."""
    hung_up = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(64)
        if reply:
            writer.write(reply)
            await writer.drain()
        if close:
            writer.close()
            return
        while await reader.read(1024):
            pass
        hung_up.set()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], hung_up


@pytest_asyncio.fixture
async def hostile() -> AsyncIterator[Callable]:
    servers: list[asyncio.AbstractServer] = []

    async def start(reply: bytes, close: bool = False):
        server, port, hung_up = await serve(reply, close)
        servers.append(server)
        return port, hung_up

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


def assert_one_sentence(message: str) -> None:
    assert message and message == message.strip()
    assert "\n" not in message and "Traceback" not in message
    assert ". " not in message, f"more than one sentence: {message!r}"
    assert len(message) < 300


def no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    """Nothing Sigma9 or ib_insync logged carries a traceback (eventkit's handler error)."""
    dumped = [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
    assert dumped == [], [r.getMessage()[:200] for r in dumped]


GARBAGE = {
    "a framed message too short to be a handshake": frame("hello"),
    "a server version that is not a number": frame("notanumber", "20261203 14:00:00 UTC"),
    "a handshake, then a message id that is not a number": HANDSHAKE + frame("garbage", "x"),
    "a handshake, then a nextValidId that is not a number":
        HANDSHAKE + frame("15", "1", "DU1234567") + frame("9", "1", "abc"),
}


@pytest.mark.parametrize("reply", list(GARBAGE.values()), ids=list(GARBAGE))
async def test_a_server_that_answers_garbage_is_named_at_once(hostile, caplog, reply):
    caplog.set_level(logging.DEBUG)
    port, hung_up = await hostile(reply)
    connector = IBKRConnector("127.0.0.1", port, 21, timeout=HOUR)

    with pytest.raises(ConnectFailed) as failure:
        await asyncio.wait_for(connector.connect(), GUARD_S)

    message = str(failure.value)
    assert_one_sentence(message)
    assert message.startswith(f"127.0.0.1:{port} answered with something that is not the TWS "
                              "API (")
    assert message.endswith("is this port TWS or IB Gateway?")
    assert connector.state is ConnectionState.DISCONNECTED and not connector.is_connected()
    assert connector.link.reconnect_task is None, "a failed first connect never retries"
    await asyncio.wait_for(hung_up.wait(), GUARD_S)  # the socket was closed, not left open
    no_tracebacks(caplog)


async def test_a_reply_that_claims_gigabytes_times_out_in_one_sentence(hostile, caplog):
    # The length prefix of b"GARB..." asks for ~1.2 GB: ib_insync waits for the bytes, so
    # the attempt ends on its timeout, with the timeout's sentence.
    caplog.set_level(logging.DEBUG)
    port, hung_up = await hostile(b"GARBAGE" * 20)
    connector = IBKRConnector("127.0.0.1", port, 21, timeout=0.3)

    with pytest.raises(ConnectFailed) as failure:
        await asyncio.wait_for(connector.connect(), GUARD_S)

    message = str(failure.value)
    assert_one_sentence(message)
    assert message.startswith(f"no API handshake from 127.0.0.1:{port} within 0.3s")
    await asyncio.wait_for(hung_up.wait(), GUARD_S)
    no_tracebacks(caplog)


async def test_a_server_that_hangs_up_after_the_greeting(hostile, caplog):
    caplog.set_level(logging.DEBUG)
    port, _ = await hostile(b"", close=True)
    connector = IBKRConnector("127.0.0.1", port, 21, timeout=0.5)

    with pytest.raises(ConnectFailed) as failure:
        await asyncio.wait_for(connector.connect(), GUARD_S)

    assert_one_sentence(str(failure.value))
    assert f"127.0.0.1:{port}" in str(failure.value)
    assert connector.state is ConnectionState.DISCONNECTED
    no_tracebacks(caplog)


# ------------------------------------------------------------------- garbage once connected

@pytest.fixture
def sim():
    from backend.sim import SimThread
    from tests.sim.conftest import quiet_config

    with SimThread(quiet_config()) as thread:
        thread.set_price("AAPL", "100.00")
        yield thread


GARBLED_FRAMES = {
    "a message id that is not a number": ["garbage", "x"],
    "an unknown message id": [9999, 1, "x"],
    "an openOrder cut short": [5, 1],
    "an orderStatus with words for numbers": [3, 1, "Submitted", "lots", "many", "pricey"],
    "an empty message": [""],
}


async def test_garbage_from_a_connected_server_is_dropped_and_the_session_carries_on(
        sim, caplog, monkeypatch):
    import sys
    from decimal import Decimal

    escaped: list[tuple] = []
    monkeypatch.setattr(sys, "excepthook", lambda *exc: escaped.append(exc))
    caplog.set_level(logging.INFO)
    connector = IBKRConnector("127.0.0.1", sim.port, 22, timeout=4.0)
    await connector.connect()
    try:
        def send(server) -> None:
            session = next(s for s in server.sessions if s.client_id == 22 and not s.closed)
            for fields in GARBLED_FRAMES.values():
                session.send(fields)

        sim.call(send)
        await connector.server_time()  # the garbage came first: it has been read by now

        order_id = await connector.place_stop_order("AAPL", 100, Decimal("95.00"))
        await eventually(lambda: str(order_id) in {str(o["order_id"]) for o in sim.orders(22)},
                         what="the order at the broker")
        assert connector.is_connected() and escaped == []
    finally:
        await connector.disconnect()
