"""ChartPanel: keeps the ChartWidget on the selected symbol, its bars and its trade levels.

On a new symbol it loads recent history (when connected) and subscribes to quotes, so the
chart is live even for a symbol that is not armed; a symbol the broker has nothing for says
so on the chart ("no data for SYM: why"). Levels (``levels.LevelTracker``) and the fill
markers are recomputed on order changes and ticks, coalesced on a timer like the tables'
tick repaints, and pushed to the chart only when they change.

A new entry brings its symbol to the chart (``ui.chart_follows_entries``, on by default):
the trade just opened is the one the trader must watch, wherever the chart was.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from PyQt6.QtCore import QObject, QTimer, pyqtSignal

from backend.core.exit_plan import base_signal_id
from backend.core.models import LegRole, OrderRecord, Quote, Side
from backend.strategies.bars import ib_bar_size
from frontend.chart_slot import is_pending
from frontend.levels import ChartLevels, LevelTracker

if TYPE_CHECKING:  # the chart (pyqtgraph) is imported once the window is shown: chart_slot
    from frontend.widgets.chart import ChartWidget
    from frontend.widgets.chart_parts import FillMark

log = logging.getLogger("sigma9.ui")
HISTORY_BARS = 120
MAX_FILL_MARKS = 200
FILL_LOOKBACK_S = 24 * 3600
"""Before any bar is shown, fills of the last day are marked (the journal keeps them all)."""


def fill_marks(fills: Any, symbol: str, since: float | None = None) -> list[FillMark]:
    """``symbol``'s executions as chart marks, oldest first, from ``since`` (epoch s) on."""
    from frontend.widgets.chart_parts import FillMark

    marks = [FillMark(f.time.timestamp(), f.price, f.side is Side.BUY) for f in fills
             if f.symbol == symbol]
    marks = sorted((m for m in marks if since is None or m.t >= since), key=lambda m: m.t)
    return marks[-MAX_FILL_MARKS:]


class ChartPanel(QObject):
    symbol_changed = pyqtSignal(str)  # the chart moved to another symbol by itself

    def __init__(self, core: Any, chart: ChartWidget | Any, repaint_ms: int = 150,
                 spawn: Callable[[Awaitable[Any]], asyncio.Task] = asyncio.ensure_future,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.core = core
        self.spawn = spawn
        self.chart = chart
        ui = getattr(getattr(core, "settings", None), "ui", None)
        self.follows_entries = bool(getattr(ui, "chart_follows_entries", True))
        # Entries already known when the window opens are not "new": no jump for them.
        self._entries_seen = {r.order_id for r in core.manager.orders.values()
                              if r.role is LegRole.ENTRY}
        self._marks: list[FillMark] = []
        self.tracker = LevelTracker(self._trade_records, self.reference_of,
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
        self._marks = []
        self.refresh_levels()
        self.load()

    def attach(self, chart: ChartWidget) -> None:
        """The real chart, in place of the start-up placeholder (``chart_slot``): it takes
        the symbol, the levels and the fills, and the history is loaded into it."""
        symbol, self.chart = self.chart.symbol, chart
        if symbol:
            chart.set_symbol(symbol)
        self.shown = ChartLevels()
        self._marks = []
        self.refresh_levels()
        self.load()

    def load(self) -> None:
        """Subscribe and load history for the charted symbol, if connected (and the chart
        is there: a placeholder gets its history when the real chart is attached)."""
        if is_pending(self.chart):
            return
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
            if symbol == self.chart.symbol:
                self.chart.set_no_data(str(exc) or type(exc).__name__)
            return
        if symbol != self.chart.symbol:
            return
        if not bars:
            self.chart.set_no_data("the broker sent no history")
        self.chart.add_bars(bars)  # one redraw for the whole history, not one per bar
        self.refresh_levels()

    # -- feeds --------------------------------------------------------------------------------
    def on_bar(self, bar) -> None:
        self.chart.add_bar(bar)

    def on_quote(self, quote: Quote) -> None:
        if quote.symbol != self.chart.symbol:
            return
        self.chart.on_quote(quote)
        self.tracker.on_quote(quote)
        self.schedule()

    def schedule(self, *args: object) -> None:
        """A repaint soon; given an order (``CoreFeed.order_changed``), a new entry first
        brings its symbol to the chart."""
        if args and isinstance(args[0], OrderRecord):
            self.on_order(args[0])
        if not self._timer.isActive():
            self._timer.start()

    def on_order(self, record: OrderRecord) -> None:
        if record.role is not LegRole.ENTRY or record.order_id in self._entries_seen:
            return
        self._entries_seen.add(record.order_id)
        if self.follows_entries and record.symbol != self.chart.symbol:
            self.set_symbol(record.symbol)
            self.symbol_changed.emit(self.chart.symbol)

    def refresh_levels(self) -> None:
        if is_pending(self.chart):
            return
        levels = self.tracker.levels()
        if levels != self.shown:
            self.shown = levels
            self.chart.set_levels(**levels.as_kwargs())
        first = self.chart.first_bar_time()  # older fills would stretch the time axis
        since = first if first is not None else time.time() - FILL_LOOKBACK_S
        marks = fill_marks(self.core.manager.fills.values(), self.chart.symbol, since)
        if marks != self._marks:
            self._marks = marks
            self.chart.set_fills(marks)

    def _trade_records(self) -> list[OrderRecord]:
        """What the levels read: the charted symbol's live exits and their trades' entries,
        from the OMS's indexes (every order of the session was scanned on each repaint)."""
        manager = self.core.manager
        legs = manager.live_exits(self.tracker.symbol)
        signals = dict.fromkeys(base_signal_id(r.signal_id) for r in legs)
        entries = [r for s in signals for r in manager.trade_orders(s) if r.role is LegRole.ENTRY]
        return [*legs, *entries]

    def reference_of(self, signal_id: str) -> Decimal | None:
        """The signal's reference price (the OrderManager also knows the journal's signals)."""
        signal = self.core.manager.signals.get(signal_id)
        return signal.reference_price if signal is not None else None

    def close(self) -> None:
        self._timer.stop()
        if self._history_task is not None:
            self._history_task.cancel()
