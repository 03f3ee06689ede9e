"""The soak's simulator faults (``backend/sim/faults.py``) over TCP with a real ib_insync client.

A drop after N placeOrder messages must leave exactly what a network dropping mid-send
leaves: the first N orders at the broker (untransmitted ones buffered), none of the rest, and
the client disconnected. The leg matchers must reject only the leg they name.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import pytest
from ib_insync import IB, LimitOrder, Order, Stock, StopOrder

from backend.sim import SimThread
from backend.sim.faults import leg
from tests.helpers import until
from tests.sim.conftest import connect, quiet_config, wait_until


@pytest.fixture
def sim() -> Iterator[SimThread]:
    with SimThread(quiet_config()) as thread:
        thread.set_price("AAPL", "100.00")
        yield thread


@pytest.fixture
def ib(sim: SimThread) -> Iterator[IB]:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    client = connect(sim, 1)
    yield client
    client.disconnect()
    asyncio.set_event_loop(None)
    loop.close()


def chain(ib: IB, ref: str = "s9:x") -> list[Order]:
    """A limit entry with a stop and a second stop attached, ids reserved up front."""
    parent = LimitOrder("BUY", 10, 100.50, orderId=ib.client.getReqId(), transmit=False,
                        orderRef=f"{ref}:entry")
    stop = StopOrder("SELL", 10, 98.0, orderId=ib.client.getReqId(), parentId=parent.orderId,
                     transmit=False, orderRef=f"{ref}:safety_stop", tif="GTC")
    last = StopOrder("SELL", 10, 97.0, orderId=ib.client.getReqId(), parentId=parent.orderId,
                     transmit=True, orderRef=f"{ref}:profit_harvester", tif="GTC")
    return [parent, stop, last]


def test_a_drop_after_two_place_orders_leaves_the_chain_half_sent(sim: SimThread,
                                                                  ib: IB) -> None:
    contract = Stock("AAPL", "SMART", "USD")
    ib.qualifyContracts(contract)
    sim.drop_after_orders(2, client_id=1)
    orders = chain(ib)
    for order in orders:
        ib.placeOrder(contract, order)
    until(lambda: 1 not in sim.connected_clients(), what="the session closed")
    with contextlib.suppress(ConnectionError):  # ib_insync raises once it sees the drop
        wait_until(ib, lambda: not ib.isConnected(), what="the client seeing the drop")
    assert not ib.isConnected()
    at_broker = {o["order_id"]: o for o in sim.orders(1)}
    assert sorted(at_broker) == [orders[0].orderId, orders[1].orderId]
    assert all(o["buffered"] for o in at_broker.values())
    assert sim.positions() == {}


def test_without_a_drop_the_same_chain_is_released(sim: SimThread, ib: IB) -> None:
    contract = Stock("AAPL", "SMART", "USD")
    ib.qualifyContracts(contract)
    for order in chain(ib):
        ib.placeOrder(contract, order)
    wait_until(ib, lambda: len(sim.orders(1)) == 3 and not any(
        o["buffered"] for o in sim.orders(1)), what="the chain released")
    assert ib.isConnected()


def test_leg_matchers_pick_one_role_of_one_signal() -> None:
    class Spec:
        def __init__(self, ref: str) -> None:
            self.order_ref = ref

    stop = leg("safety_stop", "abc")
    again = leg("safety_stop", "abc", reprotection=True)
    assert stop(Spec("s9:abc:safety_stop")) and stop(Spec("s9:abc~r1:safety_stop"))
    assert not stop(Spec("s9:abd:safety_stop")) and not stop(Spec("s9:abc:time_stop"))
    assert not stop(Spec("manual")) and not stop(Spec(""))
    assert again(Spec("s9:abc~r2:safety_stop")) and not again(Spec("s9:abc:safety_stop"))
