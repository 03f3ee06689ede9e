"""The ``ignition`` scenario: accumulation-then-ignition episodes among ordinary movement.

Why it exists: the plain random walk never shows the pattern Sigma9's Seismograph trades (a
quiet, tight range on volume that holds, then a bar that closes far above it on a volume
surge), so a demo against the walk shows a terminal that never trades, and nothing but
hand-made bars can exercise the signal-to-exit path end to end. Here every symbol
periodically goes through one such episode, shaped so that the Seismograph fires on it when
its bars are ``bar_s`` seconds long (docs/strategy.md, docs/simulator.md "Scenarios"):

``accumulation`` (``accumulation_bars`` bars, more than the strategy's 15)
    the price mean-reverts inside a band of a fraction of a normal bar's movement around the
    level it had when the episode began. Each bar spans most of the band, so the window's
    range stays near its own bars' true range (measured 0.6-0.8 ATR; the rule allows 2.0)
    however the ATR was before; trade sizes build from 1.1x to 1.5x the walk's, so the
    window's volume holds against the baseline before it (measured 1.2-1.4x; rule 0.8x).
``ignition`` (one bar)
    within the first 40% of the bar the price climbs to ``BREAKOUT`` (1.2%, or 5 normal-bar
    sigmas if that is more) above the band's high and stays there, so the bar closes about
    9-10 ATR above the range (the rule asks 0.5); trade sizes are 5x the accumulation's final
    ones (measured 4.6-7x its mean; the rule asks 3x).
``rally`` (``RALLY_BARS`` bars)
    a noisy climb to ``RALLY_GAIN`` (+4.5%) over the breakout close, on sizes fading from 3x to
    1.2x: an entry at the next ask reaches the exit group's +3% trail activation about two
    thirds of the way in (40 s at 5-second bars), well before its 180 s time stop.
``walk``
    the ordinary random walk with a weak pull back towards the opening price (the log excess
    loses about 63% per walk phase), so hour-long demos stay near catalogue prices instead of
    compounding every rally. Ordinary sizes.

Scheduling, and the guarantee: episodes are laid out on the bar grid (``origin`` is the start
of the bar in which the market began, so bars line up with the strategy's epoch-aligned
bars) and staggered by symbol: symbol ``i`` of ``n`` starts its accumulations at bars
``(i * period) // n + k * period``. Its ignition bars therefore follow one another across
symbols at most ``ceil(period / n)`` bars apart, and the first one ends ``accumulation + 1``
bars after the start, so **from any moment, some symbol completes an ignition bar that began
after that moment's bar within** :attr:`EpisodePlan.max_wait_s` (105 s with the defaults:
5-second bars, a 60-bar period, three symbols; ``bar * (max(accumulation, ceil(period / n))
+ 1)`` in general), and a Seismograph that joins then, warmed up on the history, signals on
it one tick later. The symbol with offset 0 begins accumulating at once, so no episode starts
half-way through the seeded pre-history. Everything random comes from the symbol's own
seeded generator, so a seed and a start time give one path.
"""

from __future__ import annotations

import enum
import math
import random
from dataclasses import dataclass

RALLY_BARS = 12
"""Bars from the ignition to the rally's top."""
BREAKOUT = 0.012
"""Minimum log move of the ignition close above the accumulation high."""
BREAKOUT_SIGMAS = 5.0
"""... or this many normal 5-second-bar sigmas, when the walk is more volatile than that."""
RALLY_GAIN = math.log(1.045)
"""Log gain of the rally's top over the breakout: comfortably past a +3% trail activation."""
QUIET_FRACTION = 0.25
"""Half-width of the accumulation band, as a fraction of a normal bar's sigma."""
QUIET_MIN_TICKS = 2.5
"""... but at least this many ticks, or the band would collapse onto the grid."""
QUIET_REVERSION = 0.35
"""Share of the distance to the level taken back per tick (the band's mean reversion)."""
MIN_VOLATILITY = 0.0002
"""Per-tick sigma the episode shapes assume at least (a still walk still gets episodes)."""
ACC_SIZES = (1.1, 1.5)
IGNITION_SIZE = 5.0 * ACC_SIZES[1]
RALLY_SIZES = (3.0, 1.2)
IGNITION_RAMP = 0.4
"""Fraction of the ignition bar over which the price climbs; it then holds at the top."""


class Phase(enum.Enum):
    WALK = "walk"
    ACCUMULATION = "accumulation"
    IGNITION = "ignition"
    RALLY = "rally"


@dataclass(frozen=True)
class EpisodePlan:
    """Where every symbol's episodes fall in time; pure arithmetic on the bar grid."""

    bar_s: int
    period_bars: int
    accumulation_bars: int
    symbols: int
    origin: float
    tick_interval_s: float

    def __post_init__(self) -> None:
        if self.bar_s < 1:
            raise ValueError("episode bar seconds must be at least 1")
        if self.tick_interval_s * 4 > self.bar_s:
            raise ValueError(f"episodes need at least 4 ticks per {self.bar_s}-second bar; "
                             f"the tick interval is {self.tick_interval_s} s")
        if self.accumulation_bars < 2:
            raise ValueError("episode accumulation must last at least 2 bars")
        shortest = self.accumulation_bars + 1 + RALLY_BARS + 1
        if self.period_bars < shortest:
            raise ValueError(f"an episode period of {self.period_bars} bars leaves no walk "
                             f"(needs at least {shortest} with {self.accumulation_bars} "
                             f"accumulation bars)")

    @classmethod
    def starting(cls, now: float, bar_s: int, period_bars: int, accumulation_bars: int,
                 symbols: int, tick_interval_s: float) -> EpisodePlan:
        """A plan whose grid starts at the bar containing ``now`` (epoch-aligned)."""
        origin = math.floor(now / bar_s) * bar_s
        return cls(bar_s, period_bars, accumulation_bars, max(1, symbols), float(origin),
                   tick_interval_s)

    @property
    def walk_bars(self) -> int:
        return self.period_bars - self.accumulation_bars - 1 - RALLY_BARS

    @property
    def ticks_per_bar(self) -> float:
        return self.bar_s / self.tick_interval_s

    @property
    def max_wait_s(self) -> float:
        """Longest time from any moment to the end of an ignition bar begun after its bar.

        That is the whole bar a strategy joining at that moment can judge (the bar it joins
        in is part of its warm-up history): at the start the first ignition ends
        ``accumulation + 1`` bars in; later, ignitions are at most ``ceil(period / n)`` bars
        apart, so the worst join (during an ignition bar) waits one gap plus one bar.
        """
        spacing = -(-self.period_bars // self.symbols)
        return float(self.bar_s * (max(self.accumulation_bars, spacing) + 1))

    def offset_bars(self, index: int) -> int:
        """Bar of symbol ``index``'s first accumulation: the symbols share out the period."""
        return ((index % self.symbols) * self.period_bars) // self.symbols

    def locate(self, index: int, now: float) -> tuple[Phase, int, float]:
        """(phase, episode number, progress 0..1 through the phase) of symbol ``index``."""
        position = (now - self.origin) / self.bar_s
        bar = math.floor(position)
        rel = bar - self.offset_bars(index)
        if rel < 0:
            return Phase.WALK, -1, 0.0
        episode, m = divmod(rel, self.period_bars)
        within = position - bar
        acc = self.accumulation_bars
        if m < acc:
            return Phase.ACCUMULATION, episode, (m + within) / acc
        if m == acc:
            return Phase.IGNITION, episode, within
        if m <= acc + RALLY_BARS:
            return Phase.RALLY, episode, (m - acc - 1 + within) / RALLY_BARS
        return Phase.WALK, episode, 0.0

    def ignition_starts(self, index: int, start: float, end: float) -> list[float]:
        """Epoch starts of symbol ``index``'s ignition bars that begin in ``[start, end)``."""
        first = self.origin + (self.offset_bars(index) + self.accumulation_bars) * self.bar_s
        step = self.period_bars * self.bar_s
        k = max(0, math.ceil((start - first) / step))
        out = []
        while first + k * step < end:
            out.append(first + k * step)
            k += 1
        return out


class EpisodeTrack:
    """One symbol's path through its episodes: the anchors each phase measures from."""

    def __init__(self, plan: EpisodePlan, index: int, anchor: float, tick: float,
                 volatility: float, drift: float) -> None:
        self.plan = plan
        self.index = index
        self.anchor = anchor
        self.tick = tick
        self.volatility = volatility
        self.drift = drift
        sigma = max(volatility, MIN_VOLATILITY)
        self.sigma = sigma
        bar_sigma = sigma * math.sqrt(plan.ticks_per_bar)
        self.band = QUIET_FRACTION * bar_sigma
        self.breakout_log = max(BREAKOUT, BREAKOUT_SIGMAS * bar_sigma)
        self.pull = 1.0 / max(1.0, plan.walk_bars * plan.ticks_per_bar)
        self.episode = -1
        self.level = self.high = self.start = 0.0
        self.breakout: float | None = None
        self.x = 0.0

    def next(self, now: float, last: float, rng: random.Random) -> tuple[float, int]:
        """The next (price, trade size) for this symbol at ``now``, from the last price."""
        phase, episode, progress = self.plan.locate(self.index, now)
        if phase is not Phase.WALK and episode != self.episode:
            self._begin(episode, last)  # also after a clock jump into the middle of one
        if phase is Phase.ACCUMULATION:
            price, factor = self._accumulate(rng), _between(ACC_SIZES, progress)
        elif phase is Phase.IGNITION:
            price, factor = self._ignite(last, progress, rng), IGNITION_SIZE
        elif phase is Phase.RALLY:
            price, factor = self._rally(last, progress, rng), _between(RALLY_SIZES, progress)
        else:
            pull = self.pull * math.log(last / self.anchor) if last > 0 else 0.0
            price = last * math.exp(rng.gauss(self.drift, self.volatility) - pull)
            factor = 1.0
        return price, 100 * max(1, round(rng.randint(1, 5) * factor))

    def _begin(self, episode: int, last: float) -> None:
        self.episode = episode
        self.level = self.high = last
        self.breakout = None
        self.x = 0.0

    def _accumulate(self, rng: random.Random) -> float:
        width = max(self.band, QUIET_MIN_TICKS * self.tick / self.level)
        step = (1 - QUIET_REVERSION) * self.x + rng.gauss(0.0, 0.6 * width)
        self.x = min(width, max(-width, step))
        price = self.level * math.exp(self.x)
        self.high = max(self.high, price)
        return price

    def _ignite(self, last: float, progress: float, rng: random.Random) -> float:
        if self.breakout is None:
            self.start = last
            self.breakout = max(self.high, last) * math.exp(self.breakout_log)
        climb = math.log(self.breakout / self.start) * min(1.0, progress / IGNITION_RAMP)
        return self.start * math.exp(climb + abs(rng.gauss(0.0, 0.2 * self.sigma)))

    def _rally(self, last: float, progress: float, rng: random.Random) -> float:
        if self.breakout is None:
            self.breakout = last
        return self.breakout * math.exp(RALLY_GAIN * progress + rng.gauss(0.0, 0.5 * self.sigma))


def _between(span: tuple[float, float], progress: float) -> float:
    return span[0] + (span[1] - span[0]) * min(1.0, max(0.0, progress))
