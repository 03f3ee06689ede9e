"""The last two last-sale prints of every symbol, which IB's "Last" trigger method counts.

IB's TWS guide ("Modify the Stop Trigger Method") triggers a stock's stop, and a price
condition with the default method, on two consecutive last prints at or through the
level, or on one such print whose size is an increase. A quote alone proves neither, so
the broker keeps this tape of prints. A print is a market step that traded: the market
re-sends its ticks on every step, so a scripted price held for two steps is two prints,
while a step with size 0 (quotes without a trade) adds none (the cumulative volume tells
which is which).
"""

from __future__ import annotations

from collections import deque

from backend.sim.market import Market
from backend.sim.matching import Print

DEPTH = 2


class PrintTape:
    """Listens to the market before the broker does, so each pass sees the newest print."""

    def __init__(self, market: Market) -> None:
        self.market = market
        self._prints: dict[str, deque[Print]] = {}
        self._volume: dict[str, int] = {}
        market.listeners.append(self.record)

    def record(self, symbol: str) -> None:
        quote = self.market.quote(symbol)
        if quote.volume == self._volume.get(symbol, 0):
            return  # quotes without a trade
        self._volume[symbol] = quote.volume
        self._prints.setdefault(symbol, deque(maxlen=DEPTH)).append(
            Print(quote.last, quote.last_size, quote.time))

    def recent(self, symbol: str) -> tuple[Print, ...]:
        """The last prints of ``symbol``, oldest first (at most two)."""
        return tuple(self._prints.get(symbol, ()))
