"""StrategyRunner against the simulator: arming, warm-up, entries, disarming.

The bars of a setup are fed through ``runner.on_bar`` (bar building from ticks has
its own tests); everything downstream is real: the Seismograph, the OrderManager,
the connector and the simulated broker whose order book the assertions read.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest
import pytest_asyncio

from backend.core.events import SignalRefusal
from backend.runtime import TradingCore
from tests.helpers import eventually
from tests.oms.conftest import broker_orders, live, make_settings
from tests.oms.conftest import sim as sim  # noqa: F401  (fixture)
from tests.strategies.synthetic import SetupShape, setup_series

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def core(sim, tmp_path):  # noqa: F811
    settings = make_settings(sim, tmp_path / "j.sqlite3",
                             strategy={"bar_size_s": 60, "warmup_duration": "120 S"},
                             entry={"market_hours": "always_open"})  # an always-open sim
    trading = TradingCore.build(settings)
    await trading.start()
    events: list[tuple[str, dict]] = []
    trading.runner.listeners.append(lambda kind, payload: events.append((kind, payload)))
    trading.events = events
    yield trading
    await trading.stop()


def live_setup(symbol: str, minutes_ahead: int = 1, seed: int = 1, price: float = 100.0) -> list:
    """A setup whose bars start just after now, so they follow the warm-up history."""
    bars = setup_series(symbol, SetupShape(seed=seed, price=price))
    start = datetime.now(timezone.utc).replace(second=0, microsecond=0) + timedelta(
        minutes=minutes_ahead)
    offset = start - bars[0].time
    return [dataclasses.replace(b, time=b.time + offset) for b in bars]


async def _ask_known(core, symbol):
    await eventually(lambda: core.connector.market.quote(symbol) is not None
                     and core.connector.market.quote(symbol).ask is not None,
                     what=f"{symbol} quotes")


def kinds(core):
    return [kind for kind, _ in core.events]


async def test_armed_ignition_produces_a_protected_entry(core, sim):  # noqa: F811
    assert await core.runner.arm(["AAPL"]) == ["AAPL"]
    assert "warmed_up" in kinds(core)
    await _ask_known(core, "AAPL")
    for bar in live_setup("AAPL"):
        core.runner.on_bar(bar)
    await eventually(lambda: len(broker_orders(sim)) == 4, what="entry chain at the broker")
    await eventually(lambda: len(live(broker_orders(sim))) == 3, what="exits live")
    entry = next(o for o in broker_orders(sim).values() if o["parent_id"] == 0)
    assert entry["status"] == "Filled" and entry["order_ref"].startswith("s9:seis-AAPL-")
    assert sim.positions()["AAPL"]["qty"] == 100
    assert kinds(core).count("signal") == 1 and "entry" in kinds(core)


async def test_disarmed_runner_sends_nothing_and_leaves_protection(core, sim):  # noqa: F811
    await core.runner.arm(["AAPL", "MSFT"])
    await _ask_known(core, "AAPL")
    for bar in live_setup("AAPL"):
        core.runner.on_bar(bar)
    await eventually(lambda: len(live(broker_orders(sim))) == 3, what="first trade protected")
    protection = {k: o["status"] for k, o in live(broker_orders(sim)).items()}

    core.runner.disarm()
    for bar in live_setup("MSFT", price=420.0):  # the simulator's MSFT level
        core.runner.on_bar(bar)
    assert "signal_ignored" in kinds(core)
    await eventually(lambda: not core.runner.tasks, what="runner idle")
    assert len(broker_orders(sim)) == 4, "no order for the disarmed MSFT ignition"
    assert {k: o["status"] for k, o in live(broker_orders(sim)).items()} == protection
    assert sim.positions()["AAPL"]["qty"] == 100


async def test_refused_signals_are_reported_with_their_reason(core, sim):  # noqa: F811
    refusals: list[SignalRefusal] = []
    core.manager.subscribe(lambda e: refusals.append(e) if isinstance(e, SignalRefusal) else 0)
    await core.runner.arm(["AAPL"])
    await _ask_known(core, "AAPL")
    bars = live_setup("AAPL")
    for bar in bars:
        core.runner.on_bar(bar)
    await eventually(lambda: "entry" in kinds(core), what="first entry")
    # A second, later setup in the same symbol: the one-position-per-symbol check refuses it.
    for bar in live_setup("AAPL", minutes_ahead=len(bars) + 60, seed=2):
        core.runner.on_bar(bar)
    await eventually(lambda: refusals, what="refusal reported")
    assert refusals[0].symbol == "AAPL" and "AAPL" in refusals[0].reason
    assert len(broker_orders(sim)) == 4
    await eventually(lambda: not core.runner.tasks, what="runner idle")
    assert len(refusals) == 1, "published once, by the OrderManager"
    assert not {"refused", "entry_failed"} & set(kinds(core)), "the runner does not repeat it"


async def test_unknown_watchlist_symbol_is_reported_and_the_rest_armed(core, sim):  # noqa: F811
    assert await core.runner.arm(["AAPL", "NOPE"]) == ["AAPL"]
    error = next(p for k, p in core.events if k == "symbol_error")
    assert error["symbol"] == "NOPE" and "unknown symbol" in error["reason"]
    assert core.runner.armed
