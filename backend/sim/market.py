"""The simulated market: seeded price processes, scripted paths and bar history.

Each symbol walks on its own ``random.Random`` seeded from (seed, symbol), so
adding a symbol never changes another's path. A script overrides the walk
with data (times and prices), which is how tests make a stop trigger or a
trail activate at a known moment. Prices are ``Decimal`` on the tick grid.
"""

from __future__ import annotations

import math
import random
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from backend.sim.clock import SimClock
from backend.sim.config import SimConfig
from backend.sim.models import Instrument

BAR_SECONDS = 5
"""Resolution at which history is kept; coarser bars are aggregated from it."""

# symbol -> (conId, primary exchange, start price, long name): real conIds where known.
CATALOG: dict[str, tuple[int, str, str, str]] = {
    "AAPL": (265598, "NASDAQ", "190.00", "APPLE INC"),
    "MSFT": (272093, "NASDAQ", "420.00", "MICROSOFT CORP"),
    "TSLA": (76792991, "NASDAQ", "250.00", "TESLA INC"),
    "AMZN": (3691937, "NASDAQ", "180.00", "AMAZON.COM INC"),
    "NVDA": (4815747, "NASDAQ", "120.00", "NVIDIA CORP"),
    "SPY": (756733, "ARCA", "500.00", "SPDR S&P 500 ETF TRUST"),
    "AMD": (4391, "NASDAQ", "150.00", "ADVANCED MICRO DEVICES"),
    "META": (107113386, "NASDAQ", "480.00", "META PLATFORMS INC-CLASS A"),
}


def make_instrument(symbol: str) -> Instrument:
    symbol = symbol.upper()
    if symbol in CATALOG:
        con_id, primary, _, name = CATALOG[symbol]
    else:
        con_id = 900_000_000 + zlib.crc32(symbol.encode()) % 99_999_999
        primary, name = "NYSE", symbol
    return Instrument(symbol=symbol, con_id=con_id, primary_exchange=primary, long_name=name)


def default_start_price(symbol: str) -> Decimal:
    return Decimal(CATALOG[symbol][2]) if symbol in CATALOG else Decimal("100.00")


@dataclass
class Quote:
    bid: Decimal
    ask: Decimal
    last: Decimal
    bid_size: int = 100
    ask_size: int = 100
    last_size: int = 100
    volume: int = 0
    time: float = 0.0
    open_price: Decimal = Decimal(0)


@dataclass
class Bar:
    time: int  # epoch seconds at the bar's start
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int
    count: int

    def add(self, price: Decimal, size: int) -> None:
        self.high = max(self.high, price)
        self.low = min(self.low, price)
        self.close = price
        self.volume += size
        self.count += 1


@dataclass
class Script:
    """A scripted path: ``points`` are (seconds after ``start``, price); step-wise."""

    start: float
    points: list[tuple[float, Decimal]]
    then: str = "hold"  # "hold" the last price, or "walk" on from it

    def price_at(self, now: float) -> Decimal | None:
        elapsed = now - self.start
        current = None
        for offset, price in self.points:
            if offset <= elapsed:
                current = price
        return current

    def finished(self, now: float) -> bool:
        return now - self.start > self.points[-1][0]


@dataclass
class SymbolState:
    instrument: Instrument
    rng: random.Random
    quote: Quote
    bars: list[Bar] = field(default_factory=list)
    history_ready: bool = False
    script: Script | None = None


class Market:
    """All listed symbols. ``step`` advances every symbol by one tick."""

    def __init__(self, config: SimConfig, clock: SimClock) -> None:
        self.config = config
        self.clock = clock
        self.symbols: dict[str, SymbolState] = {}
        self.listeners: list[Callable[[str], None]] = []
        self.paused = False
        """While True the periodic ``step`` does nothing: prices move only when scripted."""
        for symbol in config.symbols:
            self.list_symbol(symbol)

    # -- catalogue ---------------------------------------------------------
    def list_symbol(self, symbol: str, start: Decimal | None = None) -> Instrument:
        symbol = symbol.upper()
        if symbol in self.symbols:
            return self.symbols[symbol].instrument
        inst = make_instrument(symbol)
        price = start or self.config.start_prices.get(symbol) or default_start_price(symbol)
        price = inst.round_to_tick(Decimal(price))
        rng = random.Random(f"{self.config.seed}:{symbol}")
        state = SymbolState(inst, rng, self._quote_around(inst, price, rng))
        state.quote.open_price = price
        self.symbols[symbol] = state
        return inst

    def find(self, symbol: str = "", con_id: int = 0) -> Instrument | None:
        if con_id:
            for state in self.symbols.values():
                if state.instrument.con_id == con_id:
                    if symbol and symbol.upper() != state.instrument.symbol:
                        return None
                    return state.instrument
            return None
        state = self.symbols.get(symbol.upper())
        return state.instrument if state else None

    def quote(self, symbol: str) -> Quote:
        return self.symbols[symbol].quote

    # -- movement ----------------------------------------------------------
    def step(self) -> None:
        if self.paused:
            return
        now = self.clock.now()
        for symbol, state in self.symbols.items():
            price = self._next_price(state, now)
            self._apply(state, price, now)
            for listener in self.listeners:
                listener(symbol)

    def script(self, symbol: str, points: list[tuple[float, float | str | Decimal]],
               then: str = "hold") -> None:
        """Make ``symbol`` follow ``points`` from now on; the first point applies at once."""
        state = self.symbols[symbol.upper()]
        parsed = sorted((float(t), state.instrument.round_to_tick(Decimal(str(p))))
                        for t, p in points)
        if not parsed:
            raise ValueError("a script needs at least one point")
        if then not in ("hold", "walk"):
            raise ValueError("then must be 'hold' or 'walk'")
        now = self.clock.now()
        state.script = Script(now, parsed, then)
        first = state.script.price_at(now)
        if first is not None:
            self._apply(state, first, now)
            for listener in self.listeners:
                listener(state.instrument.symbol)

    def set_price(self, symbol: str, price: float | str | Decimal) -> None:
        self.script(symbol, [(0.0, price)], then="hold")

    def _next_price(self, state: SymbolState, now: float) -> Decimal:
        script = state.script
        if script is not None:
            scripted = script.price_at(now)
            if script.then == "walk" and script.finished(now):
                state.script = None
            elif scripted is not None:
                return scripted
        last = float(state.quote.last)
        shock = state.rng.gauss(self.config.drift, self.config.volatility)
        return state.instrument.round_to_tick(Decimal(str(last * math.exp(shock))))

    def _apply(self, state: SymbolState, price: Decimal, now: float) -> None:
        inst = state.instrument
        price = max(price, inst.min_tick * (self.config.half_spread_ticks + 1))
        fresh = self._quote_around(inst, price, state.rng)
        q = state.quote
        q.bid, q.ask, q.last = fresh.bid, fresh.ask, fresh.last
        q.bid_size, q.ask_size, q.last_size = fresh.bid_size, fresh.ask_size, fresh.last_size
        q.volume += q.last_size
        q.time = now
        self._record(state, price, q.last_size, now)

    def _quote_around(self, inst: Instrument, price: Decimal, rng: random.Random) -> Quote:
        half = inst.min_tick * self.config.half_spread_ticks
        return Quote(bid=price - half, ask=price + half, last=price,
                     bid_size=100 * rng.randint(1, 10), ask_size=100 * rng.randint(1, 10),
                     last_size=100 * rng.randint(1, 5), time=self.clock.now())

    # -- history -----------------------------------------------------------
    def _record(self, state: SymbolState, price: Decimal, size: int, now: float) -> None:
        start = int(now) - int(now) % BAR_SECONDS
        if state.bars and state.bars[-1].time == start:
            state.bars[-1].add(price, size)
        elif state.bars and state.bars[-1].time > start:
            state.bars[-1].add(price, size)  # clock moved backwards: keep the bar monotonic
        else:
            state.bars.append(Bar(start, price, price, price, price, size, 1))

    def history(self, symbol: str) -> list[Bar]:
        """Every 5-second bar: seeded pre-history (made on first use) then live ticks."""
        state = self.symbols[symbol]
        if not state.history_ready:
            state.bars = self._pre_history(state) + state.bars
            state.history_ready = True
        return state.bars

    def _pre_history(self, state: SymbolState) -> list[Bar]:
        """Walk backwards from the opening price so history joins the live market seamlessly."""
        inst = state.instrument
        rng = random.Random(f"{self.config.seed}:{inst.symbol}:history")
        count = self.config.history_days * 86400 // BAR_SECONDS
        first_live = state.bars[0].time if state.bars else int(self.clock.now())
        end = first_live - first_live % BAR_SECONDS
        vol = max(self.config.volatility, 0.0002) * math.sqrt(BAR_SECONDS / 0.25)
        close = float(state.quote.open_price)
        bars: list[Bar] = []
        for i in range(count):
            open_ = close * math.exp(rng.gauss(0.0, vol))
            hi = max(open_, close) * (1 + abs(rng.gauss(0.0, vol / 2)))
            lo = min(open_, close) * (1 - abs(rng.gauss(0.0, vol / 2)))
            to_tick = inst.round_to_tick
            bars.append(Bar(end - (i + 1) * BAR_SECONDS,
                            to_tick(Decimal(str(open_))), to_tick(Decimal(str(hi))),
                            to_tick(Decimal(str(lo))), to_tick(Decimal(str(close))),
                            100 * rng.randint(5, 60), rng.randint(5, 40)))
            close = open_
        bars.reverse()
        return bars
