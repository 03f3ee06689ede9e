"""Requests exactly as real clients encode them, captured without a network.

ib_insync's ``Client`` and ibapi's ``EClient`` are driven with their own
request methods; only the socket is replaced by a capture, so the bytes are
the clients' own (ib_insync: blanks for unset values, floats; ibapi: literal
sentinels, Decimal quantities). The captured frames are split with the
simulator's FrameReader, as the server would.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ib_insync import IB
from ib_insync.client import Client
from ibapi.client import EClient
from ibapi.wrapper import EWrapper

from backend.sim.wire import FrameReader


def _split(frames: list[bytes]) -> list[list[str]]:
    return FrameReader(expect_api_prefix=False).feed(b"".join(frames))


def ib_insync_requests(call: Callable[[Client], Any], version: int = 176) -> list[list[str]]:
    """Field lists of every message ``call(client)`` makes ib_insync send at ``version``."""
    client = IB().client
    client._serverVersion = version
    client.connState = Client.CONNECTED
    sent: list[bytes] = []
    # Client.sendMsg only throttles (on an event loop) and then frames with its own _prefix.
    client.sendMsg = lambda msg: sent.append(client._prefix(msg.encode()))
    try:
        call(client)
    finally:
        client.connState = Client.DISCONNECTED  # so IB.__del__ does not try to hang up
    return _split(sent)


class _CaptureConnection:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def isConnected(self) -> bool:  # noqa: N802 - ibapi's name
        return True

    def sendMsg(self, msg: bytes) -> None:  # noqa: N802 - ibapi's name
        self.sent.append(msg)


class _ErrorsWrapper(EWrapper):
    def __init__(self) -> None:
        super().__init__()
        self.errors: list[tuple[int, int, str]] = []

    def error(self, reqId, errorTime, errorCode, errorString,  # noqa: N803 - ibapi's names
              advancedOrderRejectJson=""):
        self.errors.append((reqId, errorCode, errorString))


def ibapi_requests(call: Callable[[EClient], Any], version: int = 178) -> list[list[str]]:
    """Field lists of every message ``call(client)`` makes ibapi send at ``version``."""
    wrapper = _ErrorsWrapper()
    client = EClient(wrapper)
    client.serverVersion_ = version
    client.setConnState(EClient.CONNECTED)
    conn = _CaptureConnection()
    client.conn = conn
    try:
        call(client)
    finally:
        client.setConnState(EClient.DISCONNECTED)
    assert not wrapper.errors, f"ibapi refused to encode: {wrapper.errors}"
    return _split(conn.sent)
