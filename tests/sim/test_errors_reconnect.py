"""Errors as ib_insync sees them (errorEvent), and what survives a lost connection.

Each error test checks the code, the id it is attached to, and what else the server
sent or did not send for it (an openOrder, a status, an order in the broker).
"""

from __future__ import annotations

import time

import pytest
from ib_insync import IB, Contract, LimitOrder, MarketOrder, Order, Stock

from tests.sim.conftest import connect, wait_until
from tests.sim.orderkit import settle, wait_status
from tests.sim.wireclient import WireClient


class Errors:
    """Collects (reqId, code, text) from ib_insync's errorEvent."""

    def __init__(self, ib: IB) -> None:
        self.seen: list[tuple[int, int, str]] = []
        ib.errorEvent += self.on_error

    def on_error(self, req_id: int, code: int, text: str, _contract) -> None:
        self.seen.append((req_id, code, text))

    def codes(self, req_id: int | None = None) -> list[int]:
        return [code for rid, code, _ in self.seen if req_id is None or rid == req_id]

    def wait(self, ib: IB, code: int, req_id: int | None = None) -> str:
        wait_until(ib, lambda: code in self.codes(req_id), what=f"error {code}")
        return next(text for rid, c, text in self.seen
                    if c == code and (req_id is None or rid == req_id))


@pytest.fixture
def errors(ib) -> Errors:
    return Errors(ib)


@pytest.fixture
def open_orders_seen(ib) -> list[tuple[int, str]]:
    """(orderId, orderState.status) of every openOrder message the client decoded."""
    seen: list[tuple[int, str]] = []
    decoded = ib.wrapper.openOrder

    def open_order(order_id, contract, order, state) -> None:
        seen.append((order_id, state.status))
        decoded(order_id, contract, order, state)

    ib.wrapper.openOrder = open_order  # the decoder looks the method up on every message
    return seen


# -- unknown contracts -------------------------------------------------------------------
def test_unknown_symbol_order_is_error_200_and_never_an_order(sim, ib, errors, open_orders_seen):
    trade = ib.placeOrder(Stock("ZZZZ", "SMART", "USD"), LimitOrder("BUY", 1, 10))
    text = errors.wait(ib, 200, trade.order.orderId)
    assert text == "No security definition has been found for the request"
    settle(ib)
    assert sim.orders() == [] and open_orders_seen == []
    assert trade.orderStatus.status == "Cancelled"  # ib_insync's own reaction to the error


def test_unknown_symbol_contract_details_and_market_data_are_error_200(ib, errors):
    assert ib.reqContractDetails(Stock("ZZZZ", "SMART", "USD")) == []
    assert errors.codes() == [200]
    ticker = ib.reqMktData(Stock("QQQQ", "SMART", "USD"))
    wait_until(ib, lambda: len(errors.seen) == 2, what="a second error")
    assert errors.codes() == [200, 200] and errors.seen[1][0] != errors.seen[0][0]
    settle(ib)
    assert ticker.last != ticker.last  # NaN: nothing was ever ticked


def test_non_stock_contract_is_error_200(ib, errors):
    option = Contract(symbol="AAPL", secType="OPT", exchange="SMART", currency="USD",
                      strike=200.0, right="C", lastTradeDateOrContractMonth="20261218")
    assert ib.reqContractDetails(option) == []
    assert errors.codes() == [200]


# -- order validation --------------------------------------------------------------------
def test_invalid_order_type_is_321_without_open_order(sim, ib, aapl, errors, open_orders_seen):
    trade = ib.placeOrder(aapl, Order(action="BUY", totalQuantity=1, orderType="BOGUS"))
    text = errors.wait(ib, 321, trade.order.orderId)
    assert "Invalid order type" in text
    settle(ib)
    assert open_orders_seen == [] and sim.orders() == []


def test_price_off_the_tick_grid_is_110_then_inactive(sim, ib, aapl, errors, open_orders_seen):
    trade = ib.placeOrder(aapl, LimitOrder("BUY", 10, 150.005))
    text = errors.wait(ib, 110, trade.order.orderId)
    assert text.startswith("The price does not conform to the minimum price variation")
    wait_status(ib, trade, "Inactive")  # 110 is a warning to ib_insync: the status must come
    assert (trade.order.orderId, "Inactive") in open_orders_seen
    assert sim.order(trade.order.orderId)["status"] == "Inactive"


def test_cancel_of_an_unknown_order_is_10147(ib, errors):
    ib.client.cancelOrder(9999)
    text = errors.wait(ib, 10147, 9999)
    assert text == "OrderId 9999 that needs to be cancelled is not found."


def test_cancel_of_a_filled_order_is_10148(sim, ib, aapl, errors):
    trade = ib.placeOrder(aapl, MarketOrder("BUY", 10))
    wait_status(ib, trade, "Filled")
    ib.cancelOrder(trade.order)
    text = errors.wait(ib, 10148, trade.order.orderId)
    assert text.endswith("cannot be cancelled, state: Filled.")
    settle(ib)
    assert trade.orderStatus.status == "Filled"
    assert sim.order(trade.order.orderId)["status"] == "Filled"


def test_reused_lower_order_id_is_103(sim, ib, aapl, errors):
    first = ib.placeOrder(aapl, LimitOrder("BUY", 1, 150))
    wait_status(ib, first, "Submitted")
    stale_id = first.order.orderId - 1  # handed out to a request, never used for an order
    stale = ib.placeOrder(aapl, LimitOrder("BUY", 1, 151, orderId=stale_id))
    errors.wait(ib, 103, stale_id)
    settle(ib)
    assert [o["order_id"] for o in sim.orders()] == [first.order.orderId]
    assert stale.orderStatus.status == "Cancelled"


def test_cancel_sends_cancelled_status_then_202(sim, ib, aapl, errors):
    trade = ib.placeOrder(aapl, LimitOrder("BUY", 10, 150))
    wait_status(ib, trade, "Submitted")
    ib.cancelOrder(trade.order)
    wait_status(ib, trade, "Cancelled")  # 202 is a warning to ib_insync: this is orderStatus
    text = errors.wait(ib, 202, trade.order.orderId)
    assert text.startswith("Order Canceled - reason:")
    assert sim.order(trade.order.orderId)["status"] == "Cancelled"


def test_rejection_201_is_followed_by_open_order_and_inactive(sim, ib, aapl, errors,
                                                             open_orders_seen):
    sim.reject_next_order(201, "Order rejected - reason:test says no")
    trade = ib.placeOrder(aapl, LimitOrder("BUY", 10, 150))
    assert errors.wait(ib, 201, trade.order.orderId) == "Order rejected - reason:test says no"
    wait_status(ib, trade, "Inactive")
    assert (trade.order.orderId, "Inactive") in open_orders_seen
    assert trade.order.permId > 0
    # The next order is not affected.
    after = ib.placeOrder(aapl, LimitOrder("BUY", 10, 150))
    wait_status(ib, after, "Submitted")


# -- client ids ----------------------------------------------------------------------------
def test_client_id_in_use_is_326_and_closed_while_the_first_keeps_working(sim, ib, aapl):
    with WireClient(sim.port) as second:
        assert second.hello("v100..178") is not None
        second.send(71, 2, 1, "")
        reply = second.read(2.0)
        assert reply is not None and reply[:4] == ["4", "2", "-1", "326"]
        assert reply[4].startswith("Unable to connect as the client id is already in use")
        assert second.wait_closed(1.0)
    trade = ib.placeOrder(aapl, MarketOrder("BUY", 1))
    wait_status(ib, trade, "Filled")
    assert sim.connected_clients() == [1]


def test_ib_insync_connect_with_a_used_client_id_fails(sim, ib):
    other = IB()
    errors = Errors(other)
    with pytest.raises((TimeoutError, ConnectionError)):
        other.connect("127.0.0.1", sim.port, clientId=1, timeout=0.5)
    assert errors.codes() == [326]
    assert ib.reqCurrentTime() is not None


# -- reconnecting ---------------------------------------------------------------------------
def place_book(ib: IB, aapl) -> tuple[list, object]:
    filled = ib.placeOrder(aapl, MarketOrder("BUY", 100))
    wait_status(ib, filled, "Filled")
    resting = [ib.placeOrder(aapl, LimitOrder("SELL", 50, price, tif="GTC"))
               for price in (200, 210)]
    for trade in resting:
        wait_status(ib, trade, "Submitted")
    return resting, filled


def assert_book_restored(ib: IB, resting, filled) -> None:
    expected = sorted((t.order.orderId, t.order.permId) for t in resting)
    assert sorted((t.order.orderId, t.order.permId) for t in ib.openTrades()) == expected
    assert sorted((t.order.orderId, t.order.permId) for t in ib.reqOpenOrders()) == expected
    assert {t.orderStatus.status for t in ib.openTrades()} == {"Submitted"}
    assert [(p.contract.conId, p.position) for p in ib.positions()] == [(265598, 100.0)]
    fills = ib.reqExecutions()
    assert [f.execution.execId for f in fills] == [filled.fills[0].execution.execId]
    assert fills[0].execution.permId == filled.order.permId
    assert ib.client.getReqId() > max(t.order.orderId for t in resting)


def test_reconnect_with_the_same_client_id_restores_orders_positions_executions(sim, ib, aapl):
    resting, filled = place_book(ib, aapl)
    ib.disconnect()
    wait_until(ib, lambda: sim.connected_clients() == [], what="the server to see the hang-up")
    ib.connect("127.0.0.1", sim.port, clientId=1, timeout=5)
    assert_book_restored(ib, resting, filled)
    again = ib.placeOrder(aapl, LimitOrder("BUY", 1, 150))
    wait_status(ib, again, "Submitted")  # the id counter continued: no 103


def test_server_dropping_connections_then_reconnect(sim, ib, aapl):
    resting, filled = place_book(ib, aapl)
    sim.drop_connections()
    deadline = time.monotonic() + 2
    while ib.isConnected() and time.monotonic() < deadline:
        try:
            ib.sleep(0.02)
        except ConnectionError:
            break
    assert not ib.isConnected()
    fresh = connect(sim, 1)
    try:
        assert_book_restored(fresh, resting, filled)
    finally:
        fresh.disconnect()


def test_freeze_holds_answers_then_delivers_them(sim, ib, aapl):
    sim.freeze(0.6)
    started = time.monotonic()
    answer = ib.reqCurrentTime()
    waited = time.monotonic() - started
    assert 0.5 <= waited < 1.5 and answer is not None
    trade = ib.placeOrder(aapl, LimitOrder("BUY", 1, 150))
    wait_status(ib, trade, "Submitted")
