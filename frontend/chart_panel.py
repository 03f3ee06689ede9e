"""ChartPanel: keeps the ChartWidget on the selected symbol, its bars and its trade levels.

On a new symbol it loads recent history (when connected) and subscribes to quotes, so the
chart is live even for a symbol that is not armed. Levels (``levels.LevelTracker``) are
recomputed on order changes and ticks, coalesced on a timer like the tables' tick repaints,
and pushed to the chart only when they change.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from PyQt6.QtCore import QObject, QTimer

from backend.core.models import Quote
from backend.strategies.bars import ib_bar_size
from frontend.levels import ChartLevels, LevelTracker
from frontend.widgets.chart import ChartWidget

log = logging.getLogger("sigma9.ui")
HISTORY_BARS = 120


class ChartPanel(QObject):
    def __init__(self, core: Any, chart: ChartWidget, repaint_ms: int = 150,
                 spawn: Callable[[Awaitable[Any]], asyncio.Task] = asyncio.ensure_future,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.core = core
        self.spawn = spawn
        self.chart = chart
        self.tracker = LevelTracker(lambda: core.manager.orders.values(), self.reference_of,
                                    core.manager.exit_params)
        self.shown = ChartLevels()
        self._history_task: asyncio.Task | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(repaint_ms)
        self._timer.timeout.connect(self.refresh_levels)

    @property
    def symbol(self) -> str:
        return self.chart.symbol

    def set_symbol(self, symbol: str) -> None:
        symbol = symbol.strip().upper()
        if not symbol or symbol == self.chart.symbol:
            return
        self.chart.set_symbol(symbol)
        self.tracker.set_symbol(symbol)
        self.shown = ChartLevels()
        self.refresh_levels()
        self.load()

    def load(self) -> None:
        """Subscribe and load history for the charted symbol, if connected."""
        if not self.chart.symbol or not self.core.connector.is_connected():
            return
        if self._history_task is not None and not self._history_task.done():
            self._history_task.cancel()
        self._history_task = self.spawn(self._load(self.chart.symbol))

    async def _load(self, symbol: str) -> None:
        market = self.core.connector.market
        bar_size_s = self.core.runner.bars.bar_size_s
        try:
            await market.subscribe(symbol)
            bars = await market.historical_bars(
                symbol, f"{bar_size_s * HISTORY_BARS} S", ib_bar_size(bar_size_s))
        except Exception as exc:  # the chart is a view: a failure is logged, not fatal
            log.warning("chart %s: %s", symbol, exc)
            return
        for bar in bars:
            self.chart.add_bar(bar)

    # -- feeds --------------------------------------------------------------------------------
    def on_bar(self, bar) -> None:
        self.chart.add_bar(bar)

    def on_quote(self, quote: Quote) -> None:
        if quote.symbol != self.chart.symbol:
            return
        self.chart.on_quote(quote)
        self.tracker.on_quote(quote)
        self.schedule()

    def schedule(self, *_args: object) -> None:
        if not self._timer.isActive():
            self._timer.start()

    def refresh_levels(self) -> None:
        levels = self.tracker.levels()
        if levels != self.shown:
            self.shown = levels
            self.chart.set_levels(**levels.as_kwargs())

    def reference_of(self, signal_id: str) -> Decimal | None:
        """The signal's reference price (the OrderManager also knows the journal's signals)."""
        signal = self.core.manager.signals.get(signal_id)
        return signal.reference_price if signal is not None else None

    def close(self) -> None:
        self._timer.stop()
        if self._history_task is not None:
            self._history_task.cancel()
