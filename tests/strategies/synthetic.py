"""Seeded synthetic bar series for the strategy tests.

Two families: a *setup* (an ordinary stretch, a quiet accumulation box, one ignition bar) whose
knobs are absolute prices and volume multiples, so each negative test can change exactly one
knob of a series that otherwise fires; and *random walks* with realistic intraday noise
(fat-tailed returns, a U-shaped volume profile, volume that rises with the size of the move,
and occasional block-print spikes) for measuring false positives.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from backend.core.models import Bar

START = datetime(2024, 3, 4, 14, 30, tzinfo=timezone.utc)  # 09:30 New York
CENT = Decimal("0.01")


def cents(value: float) -> Decimal:
    return Decimal(str(round(value, 2))).quantize(CENT)


def make_bar(symbol: str, index: int, o: float, h: float, lo: float, c: float, v: float,
             bar_size_s: int = 60, start: datetime = START) -> Bar:
    o_, c_ = cents(o), cents(c)
    high = max(cents(h), o_, c_)
    low = min(cents(lo), o_, c_)
    return Bar(symbol, start + timedelta(seconds=index * bar_size_s), o_, high, low, c_,
               Decimal(int(round(v))))


@dataclass(frozen=True)
class SetupShape:
    """An accumulation-then-ignition series, in absolute prices (scaled by ``scale``).

    The lead-in has bars of about 0.35 true range; the box is ``box`` high; the ignition bar
    closes ``breakout`` above the box high on ``ignition_volume`` x the box's mean volume.
    """

    lead_bars: int = 45
    acc_bars: int = 15
    price: float = 100.0
    scale: float = 1.0
    box: float = 0.50
    bar_range: float = 0.25
    shape: str = "flat"  # flat | ascending | building
    acc_volume: float = 1.0  # box volume as a multiple of the lead-in's mean volume
    breakout: float = 0.40
    ignition_volume: float = 4.0
    base_volume: float = 10_000.0
    seed: int = 1
    bar_size_s: int = 60


def setup_series(symbol: str = "AAPL", shape: SetupShape | None = None) -> list[Bar]:
    """Lead-in, box and ignition; the ignition bar is the last one."""
    s = shape or SetupShape()
    rng = random.Random(s.seed)
    k = s.scale
    bars: list[Bar] = []
    price = s.price

    def add(o: float, h: float, lo: float, c: float, v: float) -> None:
        bars.append(make_bar(symbol, len(bars), o, h, lo, c, v, s.bar_size_s))

    # Lead-in: a gentle random walk that ends near the box's centre.
    for _ in range(s.lead_bars):
        close = price + rng.gauss(0, 0.15) * k
        span = abs(close - price)
        add(price, max(price, close) + (0.10 + 0.05 * rng.random()) * k,
            min(price, close) - (0.10 + 0.05 * rng.random()) * k, close,
            s.base_volume * math.exp(rng.gauss(0, 0.2)) * (1 + span / k))
        price = close
    centre = price
    lead_mean = sum(float(b.volume) for b in bars) / len(bars)
    top = centre + s.box / 2 * k
    bottom = centre - s.box / 2 * k
    # Box: bars swing between the walls without touching beyond them.
    for i in range(s.acc_bars):
        frac = i / max(s.acc_bars - 1, 1)
        floor = bottom + (top - bottom) * 0.6 * frac if s.shape == "ascending" else bottom
        half = s.bar_range / 2 * k
        mid = floor + half + (top - floor - 2 * half) * (0.5 + 0.5 * math.sin(i * 1.3))
        swing = half * 0.4 if i % 2 else -half * 0.4
        o, c = mid - swing, mid + swing
        volume = lead_mean * s.acc_volume
        if s.shape == "building":
            volume *= 0.7 + 0.6 * frac
        add(o, mid + half, mid - half, c, volume * math.exp(rng.gauss(0, 0.1)))
        price = c
    acc_mean = sum(float(b.volume) for b in bars[-s.acc_bars:]) / s.acc_bars
    box_high = max(float(b.high) for b in bars[-s.acc_bars:])
    close = box_high + s.breakout * k
    add(price, close + 0.02 * k, price - 0.03 * k, close, acc_mean * s.ignition_volume)
    return bars


def follow_through(bars: list[Bar], count: int, step: float = 0.05,
                   volume: float = 30_000.0) -> list[Bar]:
    """``count`` more bars drifting up above the last close on heavy volume."""
    last = bars[-1]
    symbol = last.symbol
    size = int((bars[1].time - bars[0].time).total_seconds())
    price = float(last.close)
    out = []
    for i in range(count):
        close = price + step
        out.append(make_bar(symbol, 0, price, close + 0.1, price - 0.1, close, volume,
                            start=last.time + timedelta(seconds=(i + 1) * size)))
        price = close
    return out


def random_walk(rng: random.Random, symbol: str = "WALK", bars: int = 390,
                price: float = 100.0, sigma: float = 0.001,
                base_volume: float = 20_000.0) -> list[Bar]:
    """One trading day of one-minute bars with realistic price and volume noise."""
    out: list[Bar] = []
    for i in range(bars):
        shock = rng.gauss(0, 1) * (3.0 if rng.random() < 0.05 else 1.0)  # fat tails
        close = price * (1 + sigma * shock)
        wick = price * sigma * 0.5
        high = max(price, close) + abs(rng.gauss(0, 1)) * wick
        low = min(price, close) - abs(rng.gauss(0, 1)) * wick
        profile = 1 + 2.0 * math.exp(-i / 30) + 1.0 * math.exp(-(bars - 1 - i) / 30)
        volume = base_volume * profile * math.exp(rng.gauss(0, 0.5)) * (1 + 0.6 * abs(shock))
        if rng.random() < 0.01:
            volume *= rng.uniform(3, 8)  # block prints
        out.append(make_bar(symbol, i, price, high, low, close, volume))
        price = float(out[-1].close)
    return out
