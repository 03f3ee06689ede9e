"""StrategyRunner: arms a strategy on a watchlist and hands its Signals to the OrderManager.

The runner owns the plumbing the strategy contract leaves out: market-data
subscriptions, the bar builder, the history warm-up and the flush timer. It
talks to the broker and the OrderManager through two small ports, so it never
imports ib_insync or Qt.

Arming warms each symbol up with history first, so the strategy can judge at
once. Disarming stops new signals only: it never touches open positions or
their protection, which live at the broker.

Its events are declared in ``backend.strategies.events``. A refused signal is the
OrderManager's event (``SignalRefusal``), published once there: the runner does not repeat it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, Protocol

from backend.core.events import Alert, Event, Fanout, Listener, Subscriber, event_from_legacy
from backend.core.models import Bar, Quote
from backend.core.signal import Signal, SignalRefused
from backend.core.tasks import TaskSupervisor
from backend.strategies.bars import BarBuilder, ib_bar_size
from backend.strategies.base import StrategyBase
from backend.strategies.events import (
    RUNNER_EVENTS,
    Armed,
    ArmFailed,
    BarClosed,
    Disarmed,
    EntryFailed,
    EntrySent,
    SignalEmitted,
    SignalIgnored,
    SymbolError,
    WarmedUp,
    WarmupFailed,
)

log = logging.getLogger("sigma9.runner")


class MarketPort(Protocol):
    async def subscribe(self, symbol: str) -> None: ...
    async def historical_bars(self, symbol: str, duration: str, bar_size: str) -> list[Bar]: ...


class EntryPort(Protocol):
    async def execute_entry(self, signal: Signal) -> str: ...



class StrategyRunner:
    def __init__(self, strategy: StrategyBase, market: MarketPort, entries: EntryPort,
                 bar_size_s: int, warmup_duration: str = "1 D",
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
                 supervisor: TaskSupervisor | None = None) -> None:
        self.strategy = strategy
        self.market = market
        self.entries = entries
        self.bars = BarBuilder(bar_size_s)
        self.warmup_duration = warmup_duration
        self.now = now
        self.armed = False
        self.watchlist: tuple[str, ...] = ()
        self.fanout = Fanout()
        self.listeners: list[Listener] = self.fanout.listeners
        """Legacy ``fn(kind, payload)`` callbacks, kept for scripts; ``subscribe`` is the API."""
        self.supervisor = supervisor or TaskSupervisor(self._task_failed)
        """Starts the runner's tasks (the OMS's, in TradingCore: a failure is an OMS Alert)."""
        self.tasks: set[asyncio.Task] = set()
        """The runner's own submissions still running (the supervisor may hold others')."""
        self._flusher: asyncio.Task | None = None

    @classmethod
    def from_settings(cls, strategy: StrategyBase, market: MarketPort, entries: EntryPort,
                      settings: Any, supervisor: TaskSupervisor | None = None
                      ) -> StrategyRunner:
        s = settings.strategy
        return cls(strategy, market, entries, s.bar_size_s, s.warmup_duration,
                   supervisor=supervisor)

    def _task_failed(self, name: str, exc: BaseException) -> None:
        self.publish(Alert(message=f"{name} failed: {exc}"))

    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        """Call ``fn(event)`` for every runner event from now on; returns the unsubscribe."""
        return self.fanout.subscribe(fn)

    def unsubscribe(self, fn: Subscriber) -> None:
        self.fanout.unsubscribe(fn)

    def publish(self, event: Event | str, **payload: Any) -> None:
        """Hand ``event`` to the subscribers, then the legacy listeners; ``publish(kind,
        **payload)`` is the legacy form, turned into the declared event."""
        if isinstance(event, str):
            event = event_from_legacy(event, payload, RUNNER_EVENTS)
        self.fanout.deliver(event)

    # -- arm / disarm ----------------------------------------------------------------
    async def arm(self, watchlist: tuple[str, ...] | list[str]) -> list[str]:
        """Subscribe, warm up and start judging; returns the symbols actually armed."""
        armed: list[str] = []
        for symbol in dict.fromkeys(s.strip().upper() for s in watchlist if s.strip()):
            try:
                await self.market.subscribe(symbol)
            except Exception as exc:
                self.publish(SymbolError(symbol, str(exc)))
                continue
            await self._warm_up(symbol)
            armed.append(symbol)
        self.watchlist = tuple(armed)
        self.armed = bool(armed)
        if self.armed and self._flusher is None:
            self._flusher = self.supervisor.spawn(self._flush_loop(), "bar flusher")
        self.publish(Armed(tuple(armed)) if self.armed else ArmFailed(tuple(armed)))
        return armed

    def disarm(self) -> None:
        """No new signals from now on; positions and their exits are left alone."""
        self.armed = False
        self.publish(Disarmed(self.watchlist))

    async def close(self) -> None:
        self.armed = False
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        for task in list(self.tasks):
            task.cancel()

    async def _warm_up(self, symbol: str) -> None:
        try:
            history = await self.market.historical_bars(
                symbol, self.warmup_duration, ib_bar_size(self.bars.bar_size_s))
        except Exception as exc:
            self.publish(WarmupFailed(symbol, str(exc)))
            return
        self.strategy.warm_up(symbol, history)
        self.publish(WarmedUp(symbol, len(history)))

    # -- market data in ------------------------------------------------------------
    def on_quote(self, quote: Quote) -> None:
        if quote.symbol not in self.watchlist:
            return
        self.strategy.on_quote(quote)
        bar = self.bars.on_quote(quote)
        if bar is not None:
            self.on_bar(bar)

    def on_reconnected(self) -> None:
        """Volume traded during an outage must not pour into one bar."""
        self.bars.reset()

    def flush(self, now: datetime | None = None) -> None:
        for bar in self.bars.flush(now or self.now()):
            self.on_bar(bar)

    async def _flush_loop(self) -> None:
        period = min(1.0, self.bars.bar_size_s / 4)
        while True:
            await asyncio.sleep(period)
            try:
                self.flush()
            except Exception:
                log.exception("bar flush failed")

    def on_bar(self, bar: Bar) -> None:
        self.publish(BarClosed(bar))
        signal = self.strategy.on_bar(bar)
        if signal is None:
            return
        if not self.armed:
            self.publish(SignalIgnored(signal, "strategy disarmed"))
            return
        self.publish(SignalEmitted(signal))
        task = self.supervisor.spawn(self._submit(signal), f"entry for signal {signal.id}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _submit(self, signal: Signal) -> None:
        try:
            order_id = await self.entries.execute_entry(signal)
        except SignalRefused:
            return  # the OrderManager has logged and published the refusal (once)
        except Exception as exc:
            log.warning("signal %s for %s made no entry: %s", signal.id, signal.symbol, exc)
            self.publish(EntryFailed(signal.id, signal.symbol, str(exc) or type(exc).__name__))
            return
        self.publish(EntrySent(signal.id, signal.symbol, order_id))
