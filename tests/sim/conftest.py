"""Fixtures: a simulator in a background thread and a real ib_insync client over TCP.

The market is still (volatility 0) unless a test scripts it, and ticks fast
(50 ms) so time-driven behaviour is quick to observe.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Iterator

import pytest
from ib_insync import IB, Stock

from backend.sim import SimConfig, SimThread

_client_ids = itertools.count(1)


def quiet_config(**overrides) -> SimConfig:
    base = dict(port=0, volatility=0.0, tick_interval_s=0.05, seed=7)
    base.update(overrides)
    return SimConfig(**base)


@pytest.fixture
def sim() -> Iterator[SimThread]:
    with SimThread(quiet_config()) as thread:
        yield thread


@pytest.fixture
def event_loop_for_ib() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield loop
    asyncio.set_event_loop(None)
    loop.close()


def connect(sim: SimThread, client_id: int = 1) -> IB:
    ib = IB()
    ib.connect("127.0.0.1", sim.port, clientId=client_id, timeout=5)
    return ib


@pytest.fixture
def ib(sim: SimThread, event_loop_for_ib) -> Iterator[IB]:
    client = connect(sim, 1)
    yield client
    client.disconnect()


@pytest.fixture
def aapl(ib: IB) -> Stock:
    contract = Stock("AAPL", "SMART", "USD")
    ib.qualifyContracts(contract)
    return contract


def wait_until(ib: IB, predicate: Callable[[], object], timeout: float = 5.0,
               what: str = "condition") -> None:
    """Pump ib_insync's loop until ``predicate()`` is truthy; fail with ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        ib.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture
def api(sim):
    """The official ibapi client as client 1, AAPL at 100.00 (tests/sim/evidence_kit.py)."""
    from tests.sim.evidence_kit import ibapi_client

    sim.set_price("AAPL", "100.00")
    with ibapi_client(sim, 1) as app:
        yield app
