"""The trading core (connector + journal + OrderManager) against sigma9-sim over TCP.

Real parts only: a SimThread serving the TWS protocol, a real ib_insync IB
inside IBKRConnector, a SQLite journal in tmp_path. Assertions read the
simulator's own order book, positions and executions.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest
import pytest_asyncio

from backend.runtime import TradingCore
from backend.settings import load_settings
from backend.sim import SimThread
from backend.strategies.signal import Signal
from tests.sim.conftest import quiet_config

REFERENCE = Decimal("100.00")
ATR = Decimal("1.00")
# With the default exits: stop 98.00, activation 103.00, trail amount 1.50 (initial 101.50).
# The default limit entry: 100.00 x 1.005 = 100.50 (a tick grid of 0.01, rounded up).
REGULAR_HOURS = datetime(2026, 12, 2, 15, 0, tzinfo=timezone.utc)
"""A Wednesday, 10:00 US/Eastern: the simulator's clock (and so the OMS's) starts here, so
entries are inside regular hours whenever the suite runs (docs/oca.md)."""


@pytest.fixture
def sim() -> Iterator[SimThread]:
    with SimThread(quiet_config()) as thread:
        thread.set_time(REGULAR_HOURS)
        thread.set_price("AAPL", "100.00")
        yield thread


def sim_clock(sim: SimThread) -> Callable[[], datetime]:
    """The OMS's ``now`` read from the simulator: goodAfterTime and sessions agree with it."""
    return lambda: datetime.fromtimestamp(sim.now(), timezone.utc)


def build_core(sim: SimThread, settings) -> TradingCore:
    return TradingCore.build(settings, now=sim_clock(sim))


def make_settings(sim: SimThread, journal: Path, **sections):
    base = {"broker": {"port": sim.port, "client_id": 7, "reconnect_initial_delay_s": 0.2,
                       "reconnect_max_delay_s": 1.0, "connect_timeout_s": 4.0},
            "journal": {"path": str(journal)}}
    for name, values in sections.items():
        base[name] = {**base.get(name, {}), **values}
    return load_settings(**base)


@pytest_asyncio.fixture
async def core(sim, tmp_path) -> AsyncIterator[TradingCore]:
    trading = build_core(sim, make_settings(sim, tmp_path / "journal.sqlite3"))
    await trading.start()
    yield trading
    await trading.stop()


def signal(symbol: str = "AAPL", **overrides) -> Signal:
    values = dict(symbol=symbol, reference_price=REFERENCE, atr=ATR, reason="test")
    values.update(overrides)
    return Signal(**values)




def broker_orders(sim: SimThread, client_id: int = 7) -> dict[str, dict]:
    """The simulator's orders of our client, keyed by order id as Sigma9 spells it."""
    return {str(o["order_id"]): o for o in sim.orders(client_id)}


def live(orders: dict[str, dict]) -> dict[str, dict]:
    return {k: o for k, o in orders.items()
            if o["status"] not in ("Filled", "Cancelled", "Inactive") and not o["buffered"]}
