"""Hostile signals, tried deliberately: refused in one sentence, nothing sent, nothing stored.

A signal from a script or another process reaches ``OrderManager.execute_entry`` as plain
data (a mapping) or as whatever object the caller had. Each one below must end in
``SignalRefused`` with code ``malformed``: one short sentence naming the field (never an echo
of a 10-MB input, never a pydantic traceback), no order at the broker, and the journal still
readable. Then a good signal goes through the same OrderManager, so the refusals left no
half-state behind. The table runs over the core's fake broker port; the last test runs a
batch over TCP against sigma9-sim and asserts on the simulator's own order book.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest
import pytest_asyncio

from backend.core.order_manager import OrderManager
from backend.runtime import TradingCore
from backend.sim import SimThread
from backend.strategies.signal import MalformedSignal, Signal, SignalRefused, parse_signal
from tests.core.fakes import NOW
from tests.helpers import eventually
from tests.oms.conftest import build_core, make_settings, regular_hours_sim

BASE = {"symbol": "AAPL", "reference_price": "100.00", "atr": "1.00"}
HUGE = 10_000_000


class Exploding:
    """An object whose every attribute and text form raises."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"no {name} here")

    def __str__(self) -> str:
        raise RuntimeError("no text either")

    __repr__ = __str__


class FloatSubclass(float):
    pass


HOSTILE: dict[str, Any] = {
    "a 10-MB symbol": {**BASE, "symbol": "A" * HUGE},
    "a 10-MB reason": {**BASE, "reason": "x" * HUGE},
    "a 10-MB id": {**BASE, "id": "a" * HUGE},
    "a non-ASCII symbol": {**BASE, "symbol": "ÄAPL"},
    "a full-width symbol": {**BASE, "symbol": "ＡＡＰＬ"},
    "a NUL in the symbol": {**BASE, "symbol": "AA\x00PL"},
    "control characters in the reason": {**BASE, "reason": "\u202eevil\x00\nsecond line"},
    "a NaN price string": {**BASE, "reference_price": "NaN"},
    "an Infinity price string": {**BASE, "reference_price": "Infinity"},
    "a signalling NaN ATR": {**BASE, "atr": "sNaN"},
    "a minus-infinity ATR": {**BASE, "atr": float("-inf")},
    "a negative price": {**BASE, "reference_price": "-5"},
    "a zero ATR": {**BASE, "atr": "0"},
    "a price of 1e1000000": {**BASE, "reference_price": "1e1000000"},
    "a price of 1e-1000000": {**BASE, "reference_price": "1e-1000000"},
    "a price with 5000 digits": {**BASE, "reference_price": "100." + "1" * 5000},
    "an ATR above the price ceiling": {**BASE, "atr": "1e9"},
    "a bool for the price": {**BASE, "reference_price": True},
    "a bool for the ATR": {**BASE, "atr": False},
    "a bool for the score": {**BASE, "score": True},
    "an infinite score": {**BASE, "score": float("inf")},
    "a score beyond floats": {**BASE, "score": 10**400},
    "an extra key": {**BASE, "quantity": 100},
    "a nested symbol": {**BASE, "symbol": {"symbol": "AAPL"}},
    "a list for the price": {**BASE, "reference_price": [100]},
    "an exploding reason": {**BASE, "reason": Exploding()},
    "a SELL": {**BASE, "action": "SELL"},
    "a naive timestamp": {**BASE, "timestamp": "2026-12-02T15:00:00"},
    "a timestamp in year 9999": {**BASE, "timestamp": "9999-12-31T23:59:59+00:00"},
    "a timestamp of 1e20 seconds": {**BASE, "timestamp": 10**20},
    "a non-string key": {**BASE, 1: 2},
    "a list": ["AAPL", "100.00", "1.00"],
    "None": None,
    "a string": "AAPL",
    "an exploding object": Exploding(),
}


def assert_one_short_sentence(text: str) -> None:
    assert text and text == text.strip()
    assert "\n" not in text and "\x00" not in text and "Traceback" not in text
    assert ". " not in text, f"more than one sentence: {text!r}"
    assert len(text) < 300, f"{len(text)} characters: the input was echoed"


@pytest.mark.parametrize("data", list(HOSTILE.values()), ids=list(HOSTILE))
def test_parse_signal_refuses_in_one_sentence(data):
    with pytest.raises(MalformedSignal) as refused:
        parse_signal(data)

    assert_one_short_sentence(str(refused.value))


@pytest.fixture
def oms(manager: OrderManager) -> Iterator[OrderManager]:
    yield manager


@pytest.mark.asyncio
@pytest.mark.parametrize("data", list(HOSTILE.values()), ids=list(HOSTILE))
async def test_execute_entry_refuses_hostile_input_and_sends_nothing(oms, data):
    events: list[Any] = []
    oms.listeners.append(lambda *event: events.append(event))

    with pytest.raises(SignalRefused) as refused:
        await oms.execute_entry(data)

    assert refused.value.code == "malformed"
    assert_one_short_sentence(refused.value.reason)
    assert oms.broker.sent == [], "nothing reached the broker"
    assert oms.orders == {}
    for event in events:  # what the terminal and headless mode print stays short too
        for value in _fields(event):
            assert len(str(value)) < 300, f"an event carries {len(str(value))} characters"
    assert oms.journal.orders() == []
    oms.journal.signals()  # still readable

    # No half-state: a good signal goes through the same OrderManager at once.
    good = Signal(symbol="AAPL", reference_price=Decimal("100.00"), atr=Decimal("1.00"),
                  timestamp=NOW)
    await oms.execute_entry(good)
    assert oms.broker.sent and oms.broker.sent[0].symbol == "AAPL"


def _fields(event: tuple) -> list[Any]:
    values: list[Any] = []
    for item in event:
        if dataclasses.is_dataclass(item):
            values.extend(getattr(item, f.name) for f in dataclasses.fields(item))
        elif isinstance(item, dict):
            values.extend(item.values())
        else:
            values.append(item)
    return values


# --------------------------------------------------------------------- over TCP, end to end

@pytest.fixture
def sim() -> Iterator[SimThread]:
    yield from regular_hours_sim()


@pytest_asyncio.fixture
async def core(sim, tmp_path) -> AsyncIterator[TradingCore]:
    trading = build_core(sim, make_settings(sim, tmp_path / "journal.sqlite3"))
    await trading.start()
    yield trading
    await trading.stop()


@pytest.mark.asyncio
async def test_a_batch_of_hostile_signals_leaves_the_broker_untouched(core, sim):
    for name, data in HOSTILE.items():
        with pytest.raises(SignalRefused) as refused:
            await core.manager.execute_entry(data)
        assert refused.value.code == "malformed", name
    await core.connector.server_time()  # a round trip: anything sent has been read
    assert sim.orders() == [], "not one order reached the broker"

    entry_id = await core.manager.execute_entry(
        Signal(symbol="AAPL", reference_price=Decimal("100.00"), atr=Decimal("1.00"),
               timestamp=datetime.fromtimestamp(sim.now(), timezone.utc)))
    await eventually(lambda: int(entry_id) in {o["order_id"] for o in sim.orders()},
                     what="the good signal's entry at the broker")
