"""The StrategyBase contract, exercised by a second, test-only strategy written against it.

``ThreeUpCloses`` knows nothing of the Seismograph: it signals when a symbol closes higher three
bars running. If the contract is usable, this is all a strategy needs to write.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from backend.core.models import Bar, Quote
from backend.strategies.base import StrategyBase
from backend.strategies.signal import Signal
from tests.layering import imported_modules

T0 = datetime(2024, 3, 4, 14, 30, tzinfo=timezone.utc)


@dataclass
class UpRun:
    last_close: Decimal | None = None
    run: int = 0
    quotes: int = 0


class ThreeUpCloses(StrategyBase[UpRun]):
    name = "three-up"

    def new_state(self, symbol: str) -> UpRun:
        return UpRun()

    def step(self, state: UpRun, bar: Bar, ask: Decimal | None) -> Signal | None:
        up = state.last_close is not None and bar.close > state.last_close
        state.run = state.run + 1 if up else 0
        state.last_close = bar.close
        if state.run != 3:
            return None
        return Signal(id=f"{self.name}-{bar.symbol}-{int(bar.time.timestamp())}",
                      symbol=bar.symbol, reference_price=ask or bar.close, atr=Decimal("0.1"),
                      timestamp=bar.time, reason="three higher closes")

    def observe_quote(self, state: UpRun, quote: Quote) -> None:
        state.quotes += 1


def b(symbol: str, minute: int, close: str) -> Bar:
    c = Decimal(close)
    return Bar(symbol, T0 + timedelta(minutes=minute), c, c, c, c, Decimal(100))


def closes(symbol: str, values: list[str], first_minute: int = 0) -> list[Bar]:
    return [b(symbol, first_minute + i, v) for i, v in enumerate(values)]


def run(strategy: StrategyBase, bars: list[Bar]) -> list[Signal]:
    return [s for s in (strategy.on_bar(x) for x in bars) if s is not None]


def test_second_strategy_signals_through_the_contract():
    signals = run(ThreeUpCloses(), closes("AAPL", ["10", "11", "12", "13", "12"]))
    fourth_bar = T0 + timedelta(minutes=3)
    assert [s.id for s in signals] == [f"three-up-AAPL-{int(fourth_bar.timestamp())}"]
    assert signals[0].reference_price == Decimal("13")  # no quote: falls back to the close


def test_state_is_per_symbol_and_created_lazily():
    strategy = ThreeUpCloses()
    assert strategy.symbols == ()
    aapl = closes("AAPL", ["10", "11", "12", "13"])
    msft = closes("MSFT", ["50", "49", "48", "47"])
    interleaved = [x for pair in zip(aapl, msft, strict=True) for x in pair]
    signals = run(strategy, interleaved)
    assert [s.symbol for s in signals] == ["AAPL"]
    assert strategy.symbols == ("AAPL", "MSFT")
    assert strategy.state_of("MSFT").run == 0 and strategy.state_of("AAPL").run == 3
    assert strategy.state_of("TSLA") is None


def test_ask_is_per_symbol_and_must_not_predate_the_bar():
    strategy = ThreeUpCloses()
    bars = closes("AAPL", ["10", "11", "12", "13"])
    strategy.on_quote(Quote("AAPL", None, Decimal("9.99"), None, None, T0))  # stale by then
    strategy.on_quote(Quote("MSFT", None, Decimal("77.00"), None, None, T0 + timedelta(hours=1)))
    assert run(strategy, bars)[0].reference_price == Decimal("13")
    strategy.reset()
    run(strategy, bars[:3])
    strategy.on_quote(Quote("AAPL", None, Decimal("13.02"), None, None, bars[3].time))
    assert strategy.on_bar(bars[3]).reference_price == Decimal("13.02")
    assert strategy.state_of("AAPL").quotes == 1  # the optional tick hook saw it


def test_warm_up_feeds_state_without_emitting():
    strategy = ThreeUpCloses()
    assert strategy.warm_up("AAPL", closes("AAPL", ["10", "11", "12", "13"])) is None
    assert strategy.state_of("AAPL").run == 3  # the history's setup happened, silently
    assert strategy.on_bar(b("AAPL", 4, "14")) is None  # run 4: not a fresh setup
    strategy.reset("AAPL")
    strategy.warm_up("AAPL", closes("AAPL", ["10", "11", "12"]))
    assert strategy.on_bar(b("AAPL", 3, "13")) is not None  # live bar completes it


def test_warm_up_refuses_another_symbols_bars():
    with pytest.raises(ValueError, match="MSFT"):
        ThreeUpCloses().warm_up("AAPL", closes("MSFT", ["1"]))


def test_bars_not_newer_than_the_last_are_dropped():
    strategy = ThreeUpCloses()
    history = closes("AAPL", ["10", "11", "12"])
    strategy.warm_up("AAPL", history)
    # The live builder repeats the last historical minute, then an older bar arrives.
    assert strategy.on_bar(b("AAPL", 2, "50")) is None
    assert strategy.on_bar(b("AAPL", 1, "60")) is None
    assert strategy.state_of("AAPL").last_close == Decimal("12")
    assert strategy.on_bar(b("AAPL", 3, "13")) is not None


def test_reset_one_symbol_or_all():
    strategy = ThreeUpCloses()
    run(strategy, closes("AAPL", ["1", "2"]) + closes("MSFT", ["1", "2"]))
    strategy.reset("aapl")  # same spelling rules as Signal.symbol
    assert strategy.symbols == ("MSFT",)
    strategy.reset()
    assert strategy.symbols == ()
    # After reset the same bars are accepted again (the time guard is per state too).
    assert run(strategy, closes("AAPL", ["1", "2", "3", "4"]))


def test_replay_after_reset_repeats_the_same_signal():
    strategy = ThreeUpCloses()
    bars = closes("AAPL", ["10", "11", "12", "13"])
    first = run(strategy, bars)
    strategy.reset("AAPL")
    assert run(strategy, bars) == first


def test_abstract_methods_are_required():
    class Incomplete(StrategyBase[int]):
        name = "incomplete"

    with pytest.raises(TypeError):
        Incomplete()  # type: ignore[abstract]


# --- layering -----------------------------------------------------------------------------

STRATEGIES = Path(__file__).resolve().parents[2] / "backend" / "strategies"
FORBIDDEN = ("ib_insync", "ib_async", "ibapi", "PyQt6", "qasync", "frontend")


@pytest.mark.parametrize("path", sorted(STRATEGIES.glob("*.py")), ids=lambda p: p.name)
def test_strategies_import_no_broker_api_qt_or_frontend(path):
    bad = {n for n in imported_modules(path)
           if n.split(".")[0] in FORBIDDEN or n.startswith("backend.broker")}
    assert not bad, f"{path.name} imports {sorted(bad)}"
