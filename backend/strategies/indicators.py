"""Average True Range with Wilder smoothing, in exact Decimal arithmetic.

This is the ATR every consumer shares: the Seismograph measures its ranges and breakouts in it,
and the Signal carries it to the exit group, whose trailing amount is ``ATR x multiplier``. One
definition, two shapes: :func:`wilder_atr` for a whole series (history, tests) and
:class:`WilderATR` for one bar at a time (live). Both run the same :func:`_wilder_step`, so a
strategy fed live bars gets exactly the numbers a batch recomputation would.

Definitions (``n`` = period):

- true range ``TR_t = max(h_t - l_t, |h_t - c_{t-1}|, |l_t - c_{t-1}|)``; the first bar has no
  previous close, so ``TR_0 = h_0 - l_0``;
- the first ATR is the simple mean of the first ``n`` true ranges (available after ``n`` bars);
- afterwards ``ATR_t = (ATR_{t-1} * (n - 1) + TR_t) / n``.

Division is done in a private 28-digit context rather than the caller's thread-local one, so
the result cannot change because some other code adjusted ``decimal.getcontext()``.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Protocol

_CTX = Context(prec=28, rounding=ROUND_HALF_EVEN)


class HighLowClose(Protocol):
    """Anything with a high, a low and a close (``backend.core.models.Bar`` qualifies)."""

    @property
    def high(self) -> Decimal: ...

    @property
    def low(self) -> Decimal: ...

    @property
    def close(self) -> Decimal: ...


def true_range(high: Decimal, low: Decimal, prev_close: Decimal | None) -> Decimal:
    """Wilder's true range; without a previous close it is simply ``high - low``."""
    if high < low:
        raise ValueError(f"bar high {high} is below its low {low}")
    span = _CTX.subtract(high, low)
    if prev_close is None:
        return span
    return max(span, _CTX.abs(_CTX.subtract(high, prev_close)),
               _CTX.abs(_CTX.subtract(low, prev_close)))


def _check_period(period: int) -> int:
    if isinstance(period, bool) or not isinstance(period, int) or period < 1:
        raise ValueError(f"ATR period must be a positive integer, got {period!r}")
    return period


def _wilder_step(previous: Decimal, tr: Decimal, period: int) -> Decimal:
    """``(ATR_{t-1} * (n - 1) + TR_t) / n`` in the private context."""
    weighted = _CTX.multiply(previous, Decimal(period - 1))
    return _CTX.divide(_CTX.add(weighted, tr), Decimal(period))


class WilderATR:
    """Incremental Wilder ATR: feed bars in time order with :meth:`update`.

    ``value`` is None until ``period`` bars have been seen; ``count`` says how many have.
    """

    __slots__ = ("period", "count", "value", "_prev_close", "_seed_sum")

    def __init__(self, period: int) -> None:
        self.period = _check_period(period)
        self.count = 0
        self.value: Decimal | None = None
        self._prev_close: Decimal | None = None
        self._seed_sum = Decimal(0)

    @property
    def ready(self) -> bool:
        return self.value is not None

    def update(self, bar: HighLowClose) -> Decimal | None:
        """Add one bar; return the ATR after it (None while still seeding)."""
        tr = true_range(bar.high, bar.low, self._prev_close)
        self._prev_close = bar.close
        self.count += 1
        if self.value is not None:
            self.value = _wilder_step(self.value, tr, self.period)
        else:
            self._seed_sum = _CTX.add(self._seed_sum, tr)
            if self.count == self.period:
                self.value = _CTX.divide(self._seed_sum, Decimal(self.period))
        return self.value


def wilder_atr(bars: Iterable[HighLowClose], period: int) -> list[Decimal | None]:
    """The ATR after each bar, aligned with ``bars``; None for the first ``period - 1``.

    Written from the true-range series rather than by looping :class:`WilderATR`, so the two
    are independent implementations of one definition and a test can hold them equal.
    """
    _check_period(period)
    trs = true_ranges(bars)
    out: list[Decimal | None] = [None] * len(trs)
    if len(trs) < period:
        return out
    seed = Decimal(0)
    for tr in trs[:period]:
        seed = _CTX.add(seed, tr)
    atr = _CTX.divide(seed, Decimal(period))
    out[period - 1] = atr
    for i in range(period, len(trs)):
        atr = _wilder_step(atr, trs[i], period)
        out[i] = atr
    return out


def true_ranges(bars: Iterable[HighLowClose]) -> list[Decimal]:
    """The true range of each bar (the first uses ``high - low``)."""
    out: list[Decimal] = []
    prev_close: Decimal | None = None
    for bar in bars:
        out.append(true_range(bar.high, bar.low, prev_close))
        prev_close = bar.close
    return out
