"""The simulated market: seeded price processes, scripted paths and bar history.

Each symbol walks on its own ``random.Random`` seeded from (seed, symbol), so
adding a symbol never changes another's path. A script overrides the walk
with data (times, prices and optionally trade sizes), which is how tests make
a stop trigger or a trail activate at a known moment. With ``scenario =
"ignition"`` each symbol also goes through accumulation-then-ignition episodes
(``episodes.py``). Prices are ``Decimal`` on the tick grid.
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
from backend.sim.episodes import EpisodePlan, EpisodeTrack
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


ScriptPoint = tuple[float, Decimal, "int | None"]
"""(seconds after the script's start, price, trade size or None for a random size)."""


@dataclass
class Script:
    """A scripted path: ``points`` are (seconds after ``start``, price, size); step-wise.

    A point's size, like its price, holds for every tick until the next point, so a
    scripted surge lasts as long as the point does; None keeps the random sizes.
    """

    start: float
    points: list[ScriptPoint]
    then: str = "hold"  # "hold" the last price, or "walk" on from it

    def point_at(self, now: float) -> tuple[Decimal, int | None] | None:
        elapsed = now - self.start
        current = None
        for offset, price, size in self.points:
            if offset <= elapsed:
                current = (price, size)
        return current

    def price_at(self, now: float) -> Decimal | None:
        point = self.point_at(now)
        return point[0] if point is not None else None

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
    episodes: EpisodeTrack | None = None


class Market:
    """All listed symbols. ``step`` advances every symbol by one tick."""

    def __init__(self, config: SimConfig, clock: SimClock) -> None:
        self.config = config
        self.clock = clock
        self.symbols: dict[str, SymbolState] = {}
        self.listeners: list[Callable[[str], None]] = []
        self.paused = False
        """While True the periodic ``step`` does nothing: prices move only when scripted."""
        self.episodes: EpisodePlan | None = None
        if config.scenario == "ignition":
            self.episodes = EpisodePlan.starting(
                clock.now(), config.episode_bar_seconds, config.episode_period_bars,
                config.episode_accumulation_bars, len(config.symbols), config.tick_interval_s)
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
        if self.episodes is not None:
            state.episodes = EpisodeTrack(self.episodes, len(self.symbols), float(price),
                                          float(inst.min_tick), self.config.volatility,
                                          self.config.drift)
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
        found = self.symbols.get(symbol.upper())
        return found.instrument if found else None

    def quote(self, symbol: str) -> Quote:
        return self.symbols[symbol].quote

    # -- movement ----------------------------------------------------------
    def step(self) -> None:
        if self.paused:
            return
        now = self.clock.now()
        for symbol, state in self.symbols.items():
            price, size = self._next_price(state, now)
            self._apply(state, price, now, size)
            for listener in self.listeners:
                listener(symbol)

    def script(self, symbol: str, points: list[tuple], then: str = "hold") -> None:
        """Make ``symbol`` follow ``points`` from now on; the first point applies at once.

        A point is ``(seconds, price)`` or ``(seconds, price, size)``: with a size, every
        tick while that point is in effect trades that many shares (0: quotes, no trade).
        """
        state = self.symbols[symbol.upper()]
        parsed = sorted((_script_point(state.instrument, point) for point in points),
                        key=lambda point: point[:2])
        if not parsed:
            raise ValueError("a script needs at least one point")
        if then not in ("hold", "walk"):
            raise ValueError("then must be 'hold' or 'walk'")
        now = self.clock.now()
        state.script = Script(now, parsed, then)
        first = state.script.point_at(now)
        if first is not None:
            self._apply(state, first[0], now, first[1])
            for listener in self.listeners:
                listener(state.instrument.symbol)

    def set_price(self, symbol: str, price: float | str | Decimal,
                  size: int | None = None) -> None:
        """Hold ``symbol`` at ``price``; ``size`` (if given) is every later tick's trade size."""
        self.script(symbol, [(0.0, price, size)], then="hold")

    def _next_price(self, state: SymbolState, now: float) -> tuple[Decimal, int | None]:
        """The next price and trade size (None: a random size): script, episode or walk."""
        script = state.script
        if script is not None:
            scripted = script.point_at(now)
            if script.then == "walk" and script.finished(now):
                state.script = None
            elif scripted is not None:
                return scripted
        last = float(state.quote.last)
        if state.episodes is not None:
            price, size = state.episodes.next(now, last, state.rng)
            return state.instrument.round_to_tick(Decimal(str(price))), size
        shock = state.rng.gauss(self.config.drift, self.config.volatility)
        return state.instrument.round_to_tick(Decimal(str(last * math.exp(shock)))), None

    def _apply(self, state: SymbolState, price: Decimal, now: float,
               size: int | None = None) -> None:
        inst = state.instrument
        price = max(price, inst.min_tick * (self.config.half_spread_ticks + 1))
        fresh = self._quote_around(inst, price, state.rng)
        q = state.quote
        q.bid, q.ask, q.last = fresh.bid, fresh.ask, fresh.last
        q.bid_size, q.ask_size = fresh.bid_size, fresh.ask_size
        q.last_size = fresh.last_size if size is None else size
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
                            self._history_volume(rng), rng.randint(5, 40)))
            close = open_
        bars.reverse()
        return bars

    def _history_volume(self, rng: random.Random) -> int:
        """A pre-history bar's volume. With episodes it matches the live ticks' scale (a bar's
        worth of 100-500 share prints), so the strategy's baseline volume, which may reach
        back into pre-history, is comparable with the live accumulation it judges."""
        if self.episodes is None:
            return 100 * rng.randint(5, 60)
        ticks = max(1, round(BAR_SECONDS / self.config.tick_interval_s))
        return 100 * rng.randint(2 * ticks, 4 * ticks)


def _script_point(inst: Instrument, point: tuple) -> ScriptPoint:
    """``(t, price)`` or ``(t, price, size)`` as (seconds, price on the grid, size or None)."""
    if len(point) not in (2, 3):
        raise ValueError(f"script point {point!r} is not (seconds, price[, size])")
    size = point[2] if len(point) == 3 else None
    if size is not None and (isinstance(size, bool) or int(size) != size or size < 0):
        raise ValueError(f"script point {point!r}: size must be a whole number >= 0")
    price = inst.round_to_tick(Decimal(str(point[1])))
    return float(point[0]), price, None if size is None else int(size)
