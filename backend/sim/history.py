"""reqHistoricalData: bar sizes, durations and aggregation of the 5-second history.

The simulator keeps history at 5-second resolution (seeded pre-history plus
the live ticks) and aggregates it into the requested bar size, so the bars a
strategy warms up on are the same market it then trades.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from backend.sim.market import BAR_SECONDS, Bar

BAR_SIZES = {
    "5 secs": 5, "10 secs": 10, "15 secs": 15, "30 secs": 30, "1 min": 60, "2 mins": 120,
    "3 mins": 180, "5 mins": 300, "10 mins": 600, "15 mins": 900, "20 mins": 1200,
    "30 mins": 1800, "1 hour": 3600, "2 hours": 7200, "3 hours": 10800, "4 hours": 14400,
    "8 hours": 28800, "1 day": 86400,
}
DURATION_UNITS = {"S": 1, "D": 86400, "W": 7 * 86400}
_DURATION = re.compile(r"^\s*(\d+)\s+([SDW])\s*$", re.IGNORECASE)


class HistoryRequestError(ValueError):
    """Becomes error 162 with the request id, as TWS's HMDS errors do."""


@dataclass(frozen=True)
class HistoryQuery:
    bar_seconds: int
    duration_seconds: int
    end: float


def parse_query(bar_size: str, duration: str, end: float) -> HistoryQuery:
    size = BAR_SIZES.get(" ".join(bar_size.split()).lower())
    if size is None:
        supported = ", ".join(BAR_SIZES)
        raise HistoryRequestError(
            f"bar size {bar_size!r} is not supported (use one of {supported})")
    match = _DURATION.match(duration)
    if not match:
        raise HistoryRequestError(f"duration {duration!r} is not '<n> S|D|W'")
    seconds = int(match.group(1)) * DURATION_UNITS[match.group(2).upper()]
    if seconds <= 0:
        raise HistoryRequestError("duration must be positive")
    return HistoryQuery(size, seconds, end)


def aggregate(bars: list[Bar], query: HistoryQuery) -> list[Bar]:
    start = query.end - query.duration_seconds
    out: list[Bar] = []
    for bar in bars:
        # A 5-second bar counts when its interval [t, t + 5) overlaps [start, end].
        if bar.time + BAR_SECONDS <= start or bar.time > query.end:
            continue
        bucket = bar.time - bar.time % query.bar_seconds
        if out and out[-1].time == bucket:
            agg = out[-1]
            agg.high, agg.low = max(agg.high, bar.high), min(agg.low, bar.low)
            agg.close = bar.close
            agg.volume += bar.volume
            agg.count += bar.count
        else:
            out.append(Bar(bucket, bar.open, bar.high, bar.low, bar.close, bar.volume, bar.count))
    return out


def wap(bar: Bar) -> Decimal:
    return ((bar.high + bar.low + bar.close) / 3).quantize(Decimal("0.0001"))
