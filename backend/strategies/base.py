"""The contract every Sigma9 strategy is written against.

A strategy turns one symbol's bars into at most one BUY :class:`Signal` per bar. The runtime owns
the plumbing (market data, bar building, history requests, the OrderManager); a strategy owns
only its decision and the state that decision needs, kept **per symbol**. That separation is
what lets the same class run live, replay a recorded session, or be driven by a unit test.

The contract (what a subclass implements, and what it may rely on)
-----------------------------------------------------------------

``name``
    A class attribute: a short, stable identifier shown to the trader and usable as a prefix
    of signal ids.

``new_state(symbol) -> S``
    Build a fresh state object for one symbol. Called lazily, the first time a bar (or quote)
    of that symbol arrives, and again after :meth:`StrategyBase.reset`. Everything the
    decision remembers lives in this object: nothing on ``self`` may change after ``__init__``
    (parameters only), so no symbol can ever see another symbol's history.

``step(state, bar, ask) -> Signal | None``
    Consume one completed bar of ``state``'s symbol, update ``state`` and decide. ``ask`` is
    the latest ask seen for the symbol at or after the bar's start (None if there is none: no
    quotes, a stale one, or warm-up), the price a BUY would pay. ``step`` must be
    deterministic (same states and bars -> same signals, ids included; take times from the
    bar, never the wall clock) and must not perform I/O, so replays are exact and a replayed
    setup carries the id the journal already knows.

``observe_quote(state, quote)`` (optional)
    Per-tick hook for strategies that want ticks as well as bars; the default ignores them.

What the base class guarantees to a subclass
--------------------------------------------

- Bars reach ``step`` per symbol in strictly increasing time: a bar not newer than the last
  one seen for its symbol is dropped (e.g. the last historical bar repeated by the live bar
  builder after a warm-up, or a duplicate delivery).
- :meth:`warm_up` runs history through the very same ``step`` and discards its signals, so the
  state after warm-up equals the state after live-feeding those bars: a setup that already
  happened in the history counts as spent (its cooldown applies) but is never traded.
- :meth:`reset` forgets one symbol, or all of them; nothing else is kept between calls.

Bars and quotes are ``backend.core.models`` objects; strategies never import a broker API.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import ClassVar, Generic, TypeVar

from backend.core.models import Bar, Quote
from backend.strategies.signal import Signal

S = TypeVar("S")


@dataclass
class SymbolFeed(Generic[S]):
    """The base class's bookkeeping for one symbol, around the strategy's own ``state``."""

    symbol: str
    state: S
    last_bar_time: datetime | None = None
    ask: Decimal | None = None
    ask_time: datetime | None = None

    def ask_for(self, bar: Bar) -> Decimal | None:
        """The latest ask, unless it predates the bar (then it says nothing about its close)."""
        if self.ask is None or self.ask_time is None or self.ask_time < bar.time:
            return None
        return self.ask


class StrategyBase(ABC, Generic[S]):
    """Base class of a per-symbol, bar-driven strategy (contract in the module docstring)."""

    name: ClassVar[str] = ""

    def __init__(self) -> None:
        self._feeds: dict[str, SymbolFeed[S]] = {}

    # --- what a strategy implements --------------------------------------------------------

    @abstractmethod
    def new_state(self, symbol: str) -> S:
        """A fresh per-symbol state object."""

    @abstractmethod
    def step(self, state: S, bar: Bar, ask: Decimal | None) -> Signal | None:
        """Consume one bar of ``state``'s symbol; return a Signal or None."""

    def observe_quote(self, state: S, quote: Quote) -> None:  # noqa: B027 - optional hook
        """Optional per-tick hook; by default ticks only feed the reference ask."""

    # --- what the runtime calls ------------------------------------------------------------

    def on_bar(self, bar: Bar) -> Signal | None:
        """Feed one completed bar; return the signal it triggers, if any."""
        feed = self._feed(bar.symbol)
        if not self._accept(feed, bar):
            return None
        return self.step(feed.state, bar, feed.ask_for(bar))

    def on_quote(self, quote: Quote) -> None:
        """Remember the latest ask (the price a BUY would pay) and pass the tick on."""
        feed = self._feed(quote.symbol)
        if quote.ask is not None and quote.ask > 0:
            feed.ask, feed.ask_time = quote.ask, quote.time
        self.observe_quote(feed.state, quote)

    def warm_up(self, symbol: str, bars: Iterable[Bar]) -> None:
        """Feed history for ``symbol`` through the normal path, emitting nothing."""
        feed = self._feed(symbol)
        for bar in bars:
            if _key(bar.symbol) != feed.symbol:
                raise ValueError(f"warm_up({feed.symbol!r}) got a bar of {bar.symbol!r}")
            if self._accept(feed, bar):
                self.step(feed.state, bar, None)

    def reset(self, symbol: str | None = None) -> None:
        """Forget one symbol's state (or every symbol's); it is rebuilt on its next bar."""
        if symbol is None:
            self._feeds.clear()
        else:
            self._feeds.pop(_key(symbol), None)

    # --- inspection ------------------------------------------------------------------------

    @property
    def symbols(self) -> tuple[str, ...]:
        """Symbols that currently have state."""
        return tuple(self._feeds)

    def state_of(self, symbol: str) -> S | None:
        """The state object for ``symbol`` if it exists (for tests and diagnostics)."""
        feed = self._feeds.get(_key(symbol))
        return feed.state if feed is not None else None

    # --- internals -------------------------------------------------------------------------

    def _feed(self, symbol: str) -> SymbolFeed[S]:
        key = _key(symbol)
        feed = self._feeds.get(key)
        if feed is None:
            feed = self._feeds[key] = SymbolFeed(key, self.new_state(key))
        return feed

    @staticmethod
    def _accept(feed: SymbolFeed[S], bar: Bar) -> bool:
        if feed.last_bar_time is not None and bar.time <= feed.last_bar_time:
            return False
        feed.last_bar_time = bar.time
        return True


def _key(symbol: str) -> str:
    """Symbols are keyed the way Signal spells them (stripped, upper case)."""
    return symbol.strip().upper()
