"""The trading core (connector + journal + OrderManager) against sigma9-sim over TCP.

Real parts only: a SimThread serving the TWS protocol, a real ib_insync IB
inside IBKRConnector, a SQLite journal in tmp_path. Assertions read the
simulator's own order book, positions and executions.

``entry_type`` picks ``[entry] type`` for the ``core`` fixture ("limit" unless a module
overrides the fixture); modules that prove a behaviour for every entry type parametrize it.
The simulator's clock starts inside regular hours and the OMS reads that clock, so the
outside-regular-hours refusal never depends on when the suite runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest
import pytest_asyncio

from backend.core.models import LegRole
from backend.runtime import TradingCore
from backend.settings import load_settings
from backend.sim import SimThread
from backend.strategies.signal import Signal
from tests.helpers import eventually
from tests.sim.conftest import quiet_config

REFERENCE = Decimal("100.00")
ATR = Decimal("1.00")
# Priced from the reference (sent before the fill): stop 98.00; the time stop's ignition
# level 103.00. The limit entry: 100.00 x 1.005 = 100.50 (rounded up to the 0.01 tick).
# At 100.00 the simulator quotes 99.99 / 100.01, so every entry fills at the ask, 100.01.
# Trail, limit entry (attached, from the reference): activation 103.00, amount 1.50,
# initial stop 101.50. Trail, market entry (after the fill, from 100.01): activation
# 100.01 x 1.03 = 103.0103 -> 103.01, amount 1.50, initial stop 101.51.
FILL = Decimal("100.01")
TRAIL_LEVELS = {"limit": (Decimal("103.00"), Decimal("101.50")),
                "market": (Decimal("103.01"), Decimal("101.51"))}
EXITS = (LegRole.SAFETY_STOP, LegRole.TIME_STOP, LegRole.PROFIT_HARVESTER)
REGULAR_HOURS = datetime(2026, 12, 2, 15, 0, tzinfo=timezone.utc)
"""A Wednesday, 10:00 US/Eastern: where the simulator's clock (and so the OMS's) starts."""
CLIENT_ID = 7


def regular_hours_sim() -> Iterator[SimThread]:
    """A quiet simulator, its clock in regular hours, AAPL at 100.00 (the ``sim`` fixture)."""
    with SimThread(quiet_config()) as thread:
        thread.set_time(REGULAR_HOURS)
        thread.set_price("AAPL", "100.00")
        yield thread


@pytest.fixture
def sim() -> Iterator[SimThread]:
    yield from regular_hours_sim()


@pytest.fixture
def entry_type() -> str:
    return "limit"


def sim_clock(sim: SimThread) -> Callable[[], datetime]:
    """The OMS's ``now`` read from the simulator: goodAfterTime and sessions agree with it."""
    return lambda: datetime.fromtimestamp(sim.now(), timezone.utc)


def build_core(sim: SimThread, settings) -> TradingCore:
    return TradingCore.build(settings, now=sim_clock(sim))


def make_settings(sim: SimThread, journal: Path, **sections):
    base = {"broker": {"port": sim.port, "client_id": CLIENT_ID,
                       "reconnect_initial_delay_s": 0.2, "reconnect_max_delay_s": 1.0,
                       "connect_timeout_s": 4.0},
            "journal": {"path": str(journal)}}
    for name, values in sections.items():
        base[name] = {**base.get(name, {}), **values}
    return load_settings(**base)


@pytest_asyncio.fixture
async def core(sim, tmp_path, entry_type) -> AsyncIterator[TradingCore]:
    trading = build_core(sim, make_settings(sim, tmp_path / "journal.sqlite3",
                                            entry={"type": entry_type}))
    await trading.start()
    yield trading
    await trading.stop()


def signal(symbol: str = "AAPL", **overrides) -> Signal:
    values = dict(symbol=symbol, reference_price=REFERENCE, atr=ATR, reason="test")
    values.update(overrides)
    return Signal(**values)


def broker_orders(sim: SimThread, client_id: int = CLIENT_ID) -> dict[str, dict]:
    """The simulator's orders of our client, keyed by order id as Sigma9 spells it."""
    return {str(o["order_id"]): o for o in sim.orders(client_id)}


def live(orders: dict[str, dict]) -> dict[str, dict]:
    return {k: o for k, o in orders.items()
            if o["status"] not in ("Filled", "Cancelled", "Inactive") and not o["buffered"]}


def held(sim: SimThread, symbol: str = "AAPL") -> int:
    return int(sim.positions().get(symbol, {}).get("qty", 0))


def working(order: dict) -> bool:
    """A leg that can execute the moment its price is reached: released, not held by a
    parent, a goodAfterTime or conditions (a stop waiting for its trigger is working)."""
    return (not order["buffered"] and order["held_by"] is None
            and order["status"] in ("PreSubmitted", "Submitted"))


def legs_by_role(manager, entry_id: str) -> dict:
    return {r.role: r for r in manager.legs_of(manager.orders[entry_id].signal_id)}


async def enter(core, sim, quantity: int = 100, **signal_overrides) -> tuple[str, dict]:
    """Send a signal, wait for the fill and for all three exits working at the broker."""
    manager = core.manager
    entry_id = await manager.execute_entry(signal(**signal_overrides))
    await eventually(lambda: held(sim) == quantity, what="entry filled at the broker")
    await eventually(lambda: manager.orders[entry_id].filled == quantity,
                     what="the OMS knows the fill")
    await eventually(lambda: set(legs_by_role(manager, entry_id)) == set(EXITS),
                     what="three exit legs known (the market entry's trail follows the fill)")
    legs = legs_by_role(manager, entry_id)
    await eventually(lambda: all(broker_orders(sim).get(r.order_id, {}).get("status")
                                 == "PreSubmitted" for r in legs.values()),
                     what="legs working at the broker")
    return entry_id, legs
