"""The Seismograph: buy the first bar that breaks out of a quiet, well-supplied range.

The idea it encodes: before a move, a stock often goes *quiet* (a tight range, measured in its
own ATR) while volume does *not* dry up, i.e. someone is absorbing supply. The tremor is the
accumulation; the quake is a bar that closes clearly above that range on a surge of volume.
Either half alone is common noise; together they are rare, which is the point.

Rules, judged on each completed bar ``t`` (``A`` = the ``accumulation_bars`` bars before ``t``,
``B`` = the ``baseline_bars`` bars before ``A``, ``ATR`` = Wilder ATR after bar ``t-1``, so the
breakout bar cannot widen the yardstick it is measured with):

1. tight range:   ``max(high in A) - min(low in A) <= range_atr_max * ATR``
2. volume holds:  ``mean(volume in A) >= volume_hold_ratio * mean(volume in B)``
3. breakout:      ``close_t - max(high in A) >= breakout_atr * ATR``
4. surge:         ``volume_t >= ignition_volume_ratio * mean(volume in A)`` and ``volume_t > 0``

Judging starts once ``A`` and ``B`` are full and the ATR has had ``atr_period + 1`` bars. One
setup, one signal: after a signal at bar ``s`` the next signal needs a bar ``j`` with
``j > s + cooldown_bars`` *and* ``j > s + accumulation_bars`` (its window ``A`` lies wholly
after ``s``), so the spent range can never signal again. The id is
``seis-<SYMBOL>-<epoch of the breakout bar>``: replaying the same bars yields the same id, and
the OrderManager/journal see a duplicate rather than a second entry.

Bar counts are counts of *bars received*; the bar builder makes no bars for intervals without
trades, so a window may span more wall-clock time than its bar count suggests.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from backend.core.models import Bar
from backend.strategies.base import StrategyBase
from backend.strategies.indicators import WilderATR
from backend.strategies.signal import Signal


def _dec(value: float | int | Decimal) -> Decimal:
    """Config floats become exact Decimals via their text (0.1 stays 0.1)."""
    return value if isinstance(value, Decimal) else Decimal(str(value))


@dataclass(frozen=True)
class SeismographParams:
    """The thresholds; field names are the ``[strategy]`` config keys (docs/strategy.md)."""

    bar_size_s: int = 60
    atr_period: int = 14
    accumulation_bars: int = 15
    baseline_bars: int = 30
    range_atr_max: Decimal = Decimal("2.0")
    volume_hold_ratio: Decimal = Decimal("0.8")
    breakout_atr: Decimal = Decimal("0.5")
    ignition_volume_ratio: Decimal = Decimal("3.0")
    cooldown_bars: int = 30

    def __post_init__(self) -> None:
        for name in ("bar_size_s", "atr_period", "accumulation_bars", "baseline_bars"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.cooldown_bars < 0:
            raise ValueError("cooldown_bars must not be negative")
        for name in ("range_atr_max", "volume_hold_ratio", "breakout_atr",
                     "ignition_volume_ratio"):
            object.__setattr__(self, name, _dec(getattr(self, name)))
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")

    @classmethod
    def from_settings(cls, strategy: Any) -> SeismographParams:
        """``strategy`` is ``Settings.strategy``."""
        return cls(**{name: getattr(strategy, name) for name in cls.__dataclass_fields__})

    @property
    def history_bars(self) -> int:
        return self.accumulation_bars + self.baseline_bars


@dataclass(frozen=True)
class _BarStats:
    """What the rules need of a past bar (kept instead of the Bar to stay small)."""

    high: Decimal
    low: Decimal
    volume: Decimal


@dataclass(frozen=True)
class _Setup:
    """The measurements of a bar that passed all four rules, kept for the Signal's reason."""

    range_low: Decimal
    range_high: Decimal
    atr: Decimal
    acc_mean: Decimal
    base_mean: Decimal


@dataclass
class SeismographState:
    """Everything the Seismograph remembers about one symbol."""

    atr: WilderATR
    history: deque[_BarStats]
    bars_seen: int = 0
    next_eligible: int = 0
    """Index of the first bar allowed to signal (moved past a signal's range and cooldown)."""
    last_signal_id: str | None = None


class Seismograph(StrategyBase[SeismographState]):
    """Accumulation-then-ignition breakout detector; one BUY per setup, per symbol."""

    name = "seismograph"

    def __init__(self, params: SeismographParams | None = None) -> None:
        super().__init__()
        self.params = params or SeismographParams()
        self._bar_length = timedelta(seconds=self.params.bar_size_s)

    def new_state(self, symbol: str) -> SeismographState:
        return SeismographState(WilderATR(self.params.atr_period),
                                deque(maxlen=self.params.history_bars))

    def step(self, state: SeismographState, bar: Bar, ask: Decimal | None) -> Signal | None:
        p = self.params
        index = state.bars_seen
        atr_before = state.atr.value
        setup = None
        if (atr_before is not None and atr_before > 0
                and index >= state.next_eligible
                and state.atr.count >= p.atr_period + 1
                and len(state.history) == p.history_bars):
            setup = self._judge(list(state.history), bar, atr_before)
        state.atr.update(bar)
        state.history.append(_BarStats(bar.high, bar.low, bar.volume))
        state.bars_seen += 1
        if setup is None:
            return None
        state.next_eligible = index + max(p.cooldown_bars, p.accumulation_bars) + 1
        assert state.atr.value is not None
        signal = self._signal(bar, ask, setup, state.atr.value)
        state.last_signal_id = signal.id
        return signal

    def _judge(self, bars: list[_BarStats], bar: Bar, atr: Decimal) -> _Setup | None:
        """Apply the four rules; the cheap, rarely-true breakout test goes first."""
        p = self.params
        base, acc = bars[:p.baseline_bars], bars[p.baseline_bars:]
        range_high = max(b.high for b in acc)
        if bar.close - range_high < p.breakout_atr * atr:
            return None
        range_low = min(b.low for b in acc)
        if range_high - range_low > p.range_atr_max * atr:
            return None
        acc_volume = sum((b.volume for b in acc), Decimal(0))
        base_volume = sum((b.volume for b in base), Decimal(0))
        # Means compared by cross-multiplying: exact, and no division by a zero mean.
        if acc_volume * len(base) < p.volume_hold_ratio * base_volume * len(acc):
            return None
        if bar.volume <= 0 or bar.volume * len(acc) < p.ignition_volume_ratio * acc_volume:
            return None
        return _Setup(range_low, range_high, atr, acc_volume / len(acc),
                      base_volume / len(base))

    def _signal(self, bar: Bar, ask: Decimal | None, setup: _Setup,
                current_atr: Decimal) -> Signal:
        """The BUY for a confirmed setup; every field derives from the bars, never the clock."""
        p = self.params
        strength = (bar.close - setup.range_high) / setup.atr
        width = (setup.range_high - setup.range_low) / setup.atr
        hold = _safe_ratio(setup.acc_mean, setup.base_mean)
        surge = _safe_ratio(bar.volume, setup.acc_mean)
        reason = (
            f"accumulation: {p.accumulation_bars} bars in {setup.range_low}-{setup.range_high} "
            f"(range {width:.2f} ATR, volume {_show(hold)} the prior {p.baseline_bars} bars'); "
            f"ignition: close {bar.close} broke {setup.range_high} by {strength:.2f} ATR "
            f"on {_show(surge)} the accumulation volume"
        )
        symbol = bar.symbol.strip().upper()
        score = float(strength) * (float(surge) if surge is not None else 1.0)
        return Signal(
            id=f"seis-{symbol.replace(' ', '_')}-{int(bar.time.timestamp())}",
            symbol=symbol,
            reference_price=ask if ask is not None else bar.close,
            atr=current_atr,
            timestamp=bar.time + self._bar_length,
            reason=reason,
            score=round(score, 4),
        )


def _safe_ratio(num: Decimal, den: Decimal) -> Decimal | None:
    return num / den if den > 0 else None


def _show(ratio: Decimal | None) -> str:
    return f"{ratio:.2f}x" if ratio is not None else "∞x"
