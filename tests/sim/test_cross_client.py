"""The official IB client, ``ibapi`` 10.51, trades against the simulator over TCP.

ibapi negotiates server version 178 (ib_insync 0.9.86 gets 176), sends unset values
literally and quantities as Decimal, and decodes replies with its own, stricter code:
every message here goes through that decoder. A decode problem shows up as an error
callback (BAD_MESSAGE, UNKNOWN_ID), an ERROR log line from ``ibapi``, or an exception
that kills the reader loop; the fixture fails the test on any of them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from ibapi.client import EClient
from ibapi.contract import Contract
from ibapi.execution import ExecutionFilter
from ibapi.order import Order
from ibapi.order_cancel import OrderCancel
from ibapi.wrapper import EWrapper

ACCOUNT = "DU1234567"
FARM_CODES = {2104, 2106, 2158}
Event = tuple[str, tuple[Any, ...]]


class ApiApp(EWrapper, EClient):
    """An ibapi application that records every callback it gets, thread-safely."""

    def __init__(self) -> None:
        EWrapper.__init__(self)
        EClient.__init__(self, wrapper=self)
        self.events: list[Event] = []
        self.crash: BaseException | None = None
        self._stopping = False
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    # -- plumbing ----------------------------------------------------------------------------
    def start(self, port: int, client_id: int) -> None:
        self.connect("127.0.0.1", port, client_id)
        assert self.isConnected(), "ibapi could not connect"
        self._thread = threading.Thread(target=self._run, name="ibapi-reader", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.run()
        except BaseException as exc:  # a decoder exception ends ibapi's loop: remember it
            # ...unless our own disconnect raced a message being decoded: disconnect() sets
            # serverVersion_ to None under the reader ("'>=' not supported between NoneType
            # and int"), which says nothing about the simulator's bytes (seen under load).
            if not self._stopping:
                self.crash = exc

    def stop(self) -> None:
        self._stopping = True
        self.disconnect()
        if self._thread is not None:
            self._thread.join(2)

    def record(self, name: str, *args: Any) -> None:
        with self._changed:
            self.events.append((name, args))
            self._changed.notify_all()

    def wait_for(self, predicate: Callable[[list[Event]], Any], timeout: float = 3.0,
                 what: str = "callback") -> Any:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                result = predicate(self.events)
                if result:
                    return result
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.crash is not None:
                    raise AssertionError(f"timed out waiting for {what}; crash={self.crash!r}; "
                                         f"last events {self.events[-8:]}")
                self._changed.wait(remaining)

    def wait_event(self, name: str, where: Callable[..., bool] = lambda *a: True,
                   timeout: float = 3.0) -> tuple[Any, ...]:
        def find(events: list[Event]) -> list[tuple[Any, ...]]:
            return [args for n, args in events if n == name and where(*args)][:1]
        return self.wait_for(find, timeout, what=name)[0]  # a list: () args are falsy

    def named(self, name: str) -> list[tuple[Any, ...]]:
        with self._changed:
            return [args for n, args in self.events if n == name]

    def unexpected_errors(self, allowed: set[int] = frozenset()) -> list[tuple[Any, ...]]:
        return [e for e in self.named("error") if e[1] not in FARM_CODES | set(allowed)]

    # -- EWrapper ----------------------------------------------------------------------------
    def error(self, reqId, errorTime, errorCode, errorString, advancedOrderRejectJson=""):  # noqa: N803
        self.record("error", reqId, errorCode, errorString)

    def nextValidId(self, orderId):  # noqa: N802, N803
        self.record("nextValidId", orderId)

    def managedAccounts(self, accountsList):  # noqa: N802, N803
        self.record("managedAccounts", accountsList)

    def contractDetails(self, reqId, contractDetails):  # noqa: N802, N803
        self.record("contractDetails", reqId, contractDetails)

    def contractDetailsEnd(self, reqId):  # noqa: N802, N803
        self.record("contractDetailsEnd", reqId)

    def openOrder(self, orderId, contract, order, orderState):  # noqa: N802, N803
        self.record("openOrder", orderId, contract, order, orderState)

    def openOrderEnd(self):  # noqa: N802
        self.record("openOrderEnd")

    def orderStatus(self, orderId, status, filled, remaining, avgFillPrice, permId,  # noqa: N802, N803
                    parentId, lastFillPrice, clientId, whyHeld, mktCapPrice):  # noqa: N803
        self.record("orderStatus", orderId, status, filled, remaining, avgFillPrice, permId,
                    parentId, lastFillPrice, clientId, whyHeld)

    def execDetails(self, reqId, contract, execution):  # noqa: N802, N803
        self.record("execDetails", reqId, contract, execution)

    def execDetailsEnd(self, reqId):  # noqa: N802, N803
        self.record("execDetailsEnd", reqId)

    def commissionAndFeesReport(self, commissionAndFeesReport):  # noqa: N802, N803
        self.record("commission", commissionAndFeesReport)

    def position(self, account, contract, position, avgCost):  # noqa: N803
        self.record("position", account, contract, position, avgCost)

    def positionEnd(self):  # noqa: N802
        self.record("positionEnd")

    def completedOrder(self, contract, order, orderState):  # noqa: N802, N803
        self.record("completedOrder", contract, order, orderState)

    def completedOrdersEnd(self):  # noqa: N802
        self.record("completedOrdersEnd")

    def historicalData(self, reqId, bar):  # noqa: N802, N803
        self.record("historicalData", reqId, bar)

    def historicalDataEnd(self, reqId, start, end):  # noqa: N802, N803
        self.record("historicalDataEnd", reqId, start, end)

    def tickPrice(self, reqId, tickType, price, attrib):  # noqa: N802, N803
        self.record("tickPrice", reqId, tickType, price)

    def tickSize(self, reqId, tickType, size):  # noqa: N802, N803
        self.record("tickSize", reqId, tickType, size)

    def updateAccountValue(self, key, val, currency, accountName):  # noqa: N802, N803
        self.record("accountValue", key, val, currency, accountName)

    def updatePortfolio(self, contract, position, marketPrice, marketValue, averageCost,  # noqa: N802, N803
                        unrealizedPNL, realizedPNL, accountName):  # noqa: N803
        self.record("portfolio", contract.symbol, position, marketPrice, averageCost)

    def accountDownloadEnd(self, accountName):  # noqa: N802, N803
        self.record("accountDownloadEnd", accountName)


class _Problems(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record.getMessage())


@pytest.fixture
def api(sim) -> Iterator[ApiApp]:
    """Client 7, greeted, and checked for decode problems at the end (evidence_kit)."""
    from tests.sim.evidence_kit import ibapi_client  # it builds on this module's ApiApp

    with ibapi_client(sim, 7) as app:
        yield app


def stock(symbol: str = "AAPL") -> Contract:
    contract = Contract()
    contract.symbol, contract.secType, contract.exchange, contract.currency = (
        symbol, "STK", "SMART", "USD")
    return contract


def order(action: str, qty: int, order_type: str, **attrs: Any) -> Order:
    o = Order()
    o.action, o.totalQuantity, o.orderType = action, Decimal(qty), order_type
    for name, value in attrs.items():
        setattr(o, name, value)
    return o


def next_id(api: ApiApp) -> int:
    return api.named("nextValidId")[-1][0]


def buy_market(api: ApiApp, qty: int = 100) -> int:
    order_id = next_id(api)
    api.placeOrder(order_id, stock(), order("BUY", qty, "MKT"))
    api.wait_event("orderStatus", lambda oid, status, *_: oid == order_id and status == "Filled")
    api.wait_event("commission")
    return order_id


# -- tests ------------------------------------------------------------------------------------
def test_ibapi_negotiates_178_and_is_greeted(api):
    assert api.serverVersion() == 178
    assert api.named("managedAccounts") == [(ACCOUNT,)]
    assert api.named("nextValidId") == [(1,)]
    assert {e[1] for e in api.named("error")} == FARM_CODES


def test_ibapi_contract_details(api):
    api.reqContractDetails(11, stock())
    api.wait_event("contractDetailsEnd")
    ((req_id, details),) = api.named("contractDetails")
    assert req_id == 11 and details.contract.conId == 265598
    assert details.minTick == 0.01 and details.contract.primaryExchange == "NASDAQ"
    assert details.contract.exchange == "SMART" and details.contract.currency == "USD"
    assert details.minSize == Decimal(1) and details.longName == "APPLE INC"
    assert api.unexpected_errors() == []


def test_ibapi_market_order_fills_with_open_order_status_execution_and_commission(sim, api):
    ask = sim.quote("AAPL")["ask"]
    order_id = buy_market(api, 100)

    opened = [a for a in api.named("openOrder") if a[0] == order_id]
    assert opened, "no openOrder"
    _, contract, placed, _ = opened[-1]
    assert contract.conId == 265598 and placed.totalQuantity == Decimal(100)
    assert placed.clientId == 7 and placed.permId > 0 and placed.orderType == "MKT"
    assert opened[-1][3].status == "Filled"

    (filled,) = [s for s in api.named("orderStatus") if s[1] == "Filled"]
    assert filled[2:6] == (Decimal(100), Decimal(0), float(ask), placed.permId)
    assert filled[8] == 7  # clientId

    ((req_id, _, execution),) = api.named("execDetails")
    broker = sim.executions()[0]
    assert req_id == -1 and execution.execId == broker["exec_id"]
    assert (execution.shares, execution.price, execution.side) == (Decimal(100), float(ask),
                                                                   "BOT")
    assert execution.permId == placed.permId and execution.orderId == order_id
    assert execution.pendingPriceRevision is False

    ((report,),) = api.named("commission")
    assert report.execId == execution.execId and report.commissionAndFees == 1.0
    assert report.currency == "USD"
    assert api.unexpected_errors() == []


def test_ibapi_limit_order_rests_then_cancels_with_202(sim, api):
    order_id = next_id(api)
    api.placeOrder(order_id, stock(), order("BUY", 10, "LMT", lmtPrice=150.0, tif="GTC"))
    api.wait_event("orderStatus", lambda oid, status, *_: oid == order_id
                   and status == "Submitted")
    api.cancelOrder(order_id, OrderCancel())
    api.wait_event("orderStatus", lambda oid, status, *_: oid == order_id
                   and status == "Cancelled")
    _, code, text = api.wait_event("error", lambda rid, code, _t: rid == order_id)
    assert code == 202 and text.startswith("Order Canceled")
    assert sim.order(order_id, client_id=7)["status"] == "Cancelled"
    assert api.unexpected_errors(allowed={202}) == []


def test_ibapi_positions_executions_open_and_completed_orders(sim, api):
    filled_id = buy_market(api, 100)
    resting_id = filled_id + 1
    api.placeOrder(resting_id, stock(), order("SELL", 50, "LMT", lmtPrice=250.0, tif="GTC"))
    api.wait_event("orderStatus", lambda oid, status, *_: oid == resting_id
                   and status == "Submitted")

    api.reqPositions()
    api.wait_event("positionEnd")
    ((account, contract, qty, avg_cost),) = api.named("position")
    assert (account, contract.conId, qty) == (ACCOUNT, 265598, Decimal(100))
    assert avg_cost == pytest.approx(float(sim.positions()["AAPL"]["avg_cost"]))

    api.reqExecutions(21, ExecutionFilter())
    api.wait_event("execDetailsEnd", lambda rid: rid == 21)
    requested = [e for e in api.named("execDetails") if e[0] == 21]
    assert [e[2].orderId for e in requested] == [filled_id]
    assert len(api.named("commission")) == 2  # live, then again with the request

    before = len(api.named("openOrder"))
    api.reqOpenOrders()
    api.wait_event("openOrderEnd")
    listed = api.named("openOrder")[before:]
    assert [(a[0], a[3].status, a[2].totalQuantity) for a in listed] == [
        (resting_id, "Submitted", Decimal(50))]

    api.reqCompletedOrders(False)
    api.wait_event("completedOrdersEnd")
    assert [(o.permId, s.status) for _, o, s in api.named("completedOrder")] == [
        (sim.order(filled_id, client_id=7)["perm_id"], "Filled")]
    assert api.unexpected_errors() == []


def test_ibapi_historical_data(sim, api):
    api.reqHistoricalData(31, stock(), "", "1800 S", "1 min", "TRADES", 0, 1, False, [])
    _, start, end = api.wait_event("historicalDataEnd")
    bars = [bar for rid, bar in api.named("historicalData") if rid == 31]
    assert 29 <= len(bars) <= 31
    assert all(b.low <= min(b.open, b.close) and max(b.open, b.close) <= b.high for b in bars)
    assert all(isinstance(b.volume, Decimal) and b.volume > 0 for b in bars)
    assert start < end and end.endswith(" UTC")
    assert api.unexpected_errors() == []


def test_ibapi_market_data_and_account_updates(sim, api):
    sim.set_price("AAPL", "190.50")
    api.reqMktData(41, stock(), "", False, False, [])
    api.wait_event("tickPrice", lambda rid, tick, price: rid == 41 and tick == 4
                   and price == 190.5)
    ticks = {tick: price for rid, tick, price in api.named("tickPrice") if rid == 41}
    assert ticks[1] == 190.49 and ticks[2] == 190.51
    _, _, volume = api.wait_event("tickSize", lambda rid, tick, size: rid == 41 and tick == 8)
    assert isinstance(volume, Decimal) and volume > 0
    api.cancelMktData(41)

    buy_market(api, 10)
    api.reqAccountUpdates(True, ACCOUNT)
    api.wait_event("accountDownloadEnd")
    values = {key: val for key, val, _cur, acct in api.named("accountValue")}
    assert float(values["NetLiquidation"]) > 0 and "BuyingPower" in values
    assert ("AAPL", Decimal(10)) in [(p[0], p[1]) for p in api.named("portfolio")]
    api.reqAccountUpdates(False, ACCOUNT)
    assert api.unexpected_errors() == []
