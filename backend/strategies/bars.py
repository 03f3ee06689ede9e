"""Live bars from quotes: the bridge between the tick stream and bar-driven strategies.

Why build bars ourselves instead of asking IB for real-time bars: IB's ``reqRealTimeBars`` only
does 5-second bars, counts against a separate pacing limit, and does not exist in every data
farm the simulator imitates. Quotes are already streaming for the watchlist, so one pure,
clock-free aggregator gives any bar size, live or in replay, with the same code.

Rules (docs/strategy.md restates them):

- **Price**: a quote is a *trade* when its ``last`` differs from the previous quote's ``last``
  or its cumulative ``volume`` grew. Sigma9 quotes are ticker snapshots, emitted on every bid or
  ask change too, so a snapshot that repeats the old last price with no new volume says
  nothing about trading and must not open or extend a bar. (Consequence: without a volume
  field, a second trade at an unchanged price is invisible; it could not change OHLC anyway.)
- **Volume**: the per-bar volume is the sum of increases of the cumulative ``volume`` field.
  The first quote of a symbol only sets the baseline (the day's volume so far is not this
  bar's). If the counter goes *down* (a new session, a resubscription, a correction), the new
  value becomes the baseline and nothing is counted: a spurious burst of volume would look
  exactly like an ignition, which is the worse error. After a market-data interruption the
  runtime should :meth:`BarBuilder.reset` the symbol so volume traded while disconnected does
  not land in one bar.
- **Alignment**: a bar covers ``[k*size, (k+1)*size)`` seconds since the Unix epoch (UTC), so
  60-second bars start on the minute; ``Bar.time`` is the start, as in IB's historical bars.
  Quotes must carry timezone-aware times.
- **Completion**: a bar is emitted when a quote of a later interval arrives (any quote, trade
  or not, proves the interval is over), or by :meth:`BarBuilder.flush` once the clock passes
  the interval's end with no quote at all.
- **Gaps**: an interval in which no trade arrived produces **no bar**. Flat zero-volume
  filler bars would be invented data: they would shrink the ATR and the accumulation range and
  dilute mean volumes, making a quiet symbol look like accumulation. Strategies therefore see
  consecutive bars whose times may skip intervals.
- **Late quotes** (an interval already emitted or older than the open bar) never change
  prices; their volume goes to the open bar if there is one, else it is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from backend.core.models import Bar, Quote

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

# reqHistoricalData barSizeSetting for each bar size Sigma9 can warm up with history. The
# warm-up must use the live bar size, or the strategy would mix two kinds of bar.
IB_BAR_SIZES: dict[int, str] = {
    1: "1 secs",
    5: "5 secs",
    10: "10 secs",
    15: "15 secs",
    30: "30 secs",
    60: "1 min",
    120: "2 mins",
    180: "3 mins",
    300: "5 mins",
    600: "10 mins",
    900: "15 mins",
    1200: "20 mins",
    1800: "30 mins",
    3600: "1 hour",
}


def ib_bar_size(seconds: int) -> str:
    """IB's barSizeSetting for ``seconds``; a size IB has no history for is an error."""
    try:
        return IB_BAR_SIZES[seconds]
    except KeyError:
        known = ", ".join(str(s) for s in IB_BAR_SIZES)
        raise ValueError(f"IB has no {seconds}-second historical bars (known: {known})") from None


def interval_start(moment: datetime, bar_size_s: int) -> datetime:
    """Start of the wall-clock interval of ``bar_size_s`` seconds that contains ``moment``."""
    if moment.tzinfo is None:
        raise ValueError("quote times must be timezone-aware to align bars")
    size = timedelta(seconds=bar_size_s)
    return EPOCH + ((moment - EPOCH) // size) * size


@dataclass
class _OpenBar:
    start: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal

    def add_trade(self, price: Decimal) -> None:
        self.high = max(self.high, price)
        self.low = min(self.low, price)
        self.close = price

    def to_bar(self, symbol: str) -> Bar:
        return Bar(symbol, self.start, self.open, self.high, self.low, self.close, self.volume)


@dataclass
class _SymbolTicks:
    """One symbol's partial bar and the previous quote's last price and volume counter."""

    bar: _OpenBar | None = None
    last_price: Decimal | None = None
    cum_volume: Decimal | None = None
    closed_until: datetime | None = None

    def volume_delta(self, volume: Decimal | None) -> Decimal:
        if volume is None:
            return Decimal(0)
        previous, self.cum_volume = self.cum_volume, volume
        if previous is None or volume < previous:
            return Decimal(0)
        return volume - previous


class BarBuilder:
    """Aggregates quotes into OHLCV bars of ``bar_size_s`` seconds, per symbol.

    Pure and clock-free: time comes only from quote times and the ``now`` given to
    :meth:`flush`, so a recorded session replays into identical bars.
    """

    def __init__(self, bar_size_s: int) -> None:
        if isinstance(bar_size_s, bool) or not isinstance(bar_size_s, int) or bar_size_s < 1:
            raise ValueError(f"bar size must be a positive whole number of seconds, "
                             f"got {bar_size_s!r}")
        self.bar_size_s = bar_size_s
        self._size = timedelta(seconds=bar_size_s)
        self._symbols: dict[str, _SymbolTicks] = {}

    def on_quote(self, quote: Quote) -> Bar | None:
        """Apply one quote; return the bar it completes, if any."""
        start = interval_start(quote.time, self.bar_size_s)
        st = self._symbols.setdefault(quote.symbol, _SymbolTicks())
        delta = st.volume_delta(quote.volume)
        price = quote.last if quote.last is not None and quote.last > 0 else None
        traded = price is not None and (price != st.last_price or delta > 0)
        if price is not None:
            st.last_price = price

        if _is_late(st, start):
            if st.bar is not None:
                st.bar.volume += delta
            return None

        completed = None
        if st.bar is not None and start > st.bar.start:
            completed = self._close(quote.symbol, st)
        if st.bar is None:
            if traded:
                assert price is not None
                st.bar = _OpenBar(start, price, price, price, price, delta)
            return completed
        if traded:
            assert price is not None
            st.bar.add_trade(price)
        st.bar.volume += delta
        return completed

    def flush(self, now: datetime) -> list[Bar]:
        """Emit every open bar whose interval has ended by ``now`` (call from a timer)."""
        if now.tzinfo is None:
            raise ValueError("flush time must be timezone-aware")
        done = [self._close(symbol, st) for symbol, st in self._symbols.items()
                if st.bar is not None and st.bar.start + self._size <= now]
        return sorted(done, key=lambda bar: (bar.time, bar.symbol))

    def open_bar(self, symbol: str) -> Bar | None:
        """The partial bar of ``symbol`` so far (for display; strategies wait for completion)."""
        st = self._symbols.get(symbol)
        return st.bar.to_bar(symbol) if st is not None and st.bar is not None else None

    def reset(self, symbol: str | None = None) -> None:
        """Forget the partial bar and the volume baseline of one symbol (or all).

        Call after a market-data interruption: the next quote then only re-baselines the
        cumulative volume instead of pouring the outage's volume into one bar.
        """
        if symbol is None:
            self._symbols.clear()
        else:
            self._symbols.pop(symbol, None)

    def _close(self, symbol: str, st: _SymbolTicks) -> Bar:
        assert st.bar is not None
        bar = st.bar.to_bar(symbol)
        st.closed_until = st.bar.start + self._size
        st.bar = None
        return bar


def _is_late(st: _SymbolTicks, start: datetime) -> bool:
    if st.bar is not None and start < st.bar.start:
        return True
    return st.closed_until is not None and start < st.closed_until
